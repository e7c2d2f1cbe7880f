/* cpu.h: x86 CPU feature detection (cpuid + xgetbv), computed once and cached atomically.
 * Used to pick SIMD micro-kernels at run time; answers 0 on other architectures. */
#ifndef KILN_KERNELS_X86_CPU_H
#define KILN_KERNELS_X86_CPU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_CPU_AVX2 (1u << 0)   /* AVX2 + FMA3, with OS support for YMM state */
#define KILN_CPU_AVX512 (1u << 1) /* AVX-512 F/BW/DQ/VL, with OS support for ZMM state */
#define KILN_CPU_VNNI (1u << 2)   /* AVX-512 VNNI */
#define KILN_CPU_F16C (1u << 3)
#define KILN_CPU_VALID (1u << 31) /* internal: the cached word has been computed */

/* The feature bits (KILN_CPU_*) of the running CPU. Cheap after the first call. */
uint32_t kiln__cpu_features(void);

#ifdef __cplusplus
}
#endif
#endif
