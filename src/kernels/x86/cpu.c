/* cpu.c: x86 CPU feature detection with cpuid and xgetbv (the OS must enable the register
 * state, not only the CPU support it). The answer is cached in one atomic word: computing it
 * twice is harmless, so relaxed ordering is enough. */
#include "kernels/x86/cpu.h"

#include <stdatomic.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static uint32_t detect(void) {
    uint32_t a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    const int f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return 0;
    const uint64_t xcr0 = xgetbv0();
    const int ymm_ok = (xcr0 & 0x6) == 0x6;   /* XMM and YMM state */
    const int zmm_ok = (xcr0 & 0xe6) == 0xe6; /* plus opmask, ZMM_Hi256, Hi16_ZMM */
    if (!ymm_ok) return 0;
    if (f16c) f |= KILN_CPU_F16C;
    if (__get_cpuid_max(0, 0) < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    const int avx2 = (b >> 5) & 1;
    const int a512f = (b >> 16) & 1, a512dq = (b >> 17) & 1, a512bw = (b >> 30) & 1;
    const int a512vl = (b >> 31) & 1, vnni = (c >> 11) & 1;
    if (avx2 && fma) f |= KILN_CPU_AVX2;
    if ((f & KILN_CPU_AVX2) && zmm_ok && a512f && a512dq && a512bw && a512vl) {
        f |= KILN_CPU_AVX512;
        if (vnni) f |= KILN_CPU_VNNI;
    }
    return f;
}
#else
static uint32_t detect(void) {
    return 0;
}
#endif

uint32_t kiln__cpu_features(void) {
    /* The one piece of process-wide state in the kernels: a cache of a constant fact. */
    static _Atomic uint32_t cached;
    uint32_t f = atomic_load_explicit(&cached, memory_order_relaxed);
    if (f & KILN_CPU_VALID) return f & ~(uint32_t)KILN_CPU_VALID;
    f = detect();
    atomic_store_explicit(&cached, f | KILN_CPU_VALID, memory_order_relaxed);
    return f;
}
