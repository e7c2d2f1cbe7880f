/* families.h: the op family files (src/kernels/ref/<family>.c), one resolver array each. */
#ifndef KILN_KERNELS_FAMILIES_H
#define KILN_KERNELS_FAMILIES_H
#include "kernels/kernel.h"

#define KILN_FAMILIES                                                                          \
    KILN_FAMILY(elementwise)                                                                   \
    KILN_FAMILY(reduce)                                                                        \
    KILN_FAMILY(conv)                                                                          \
    KILN_FAMILY(shape)                                                                         \
    KILN_FAMILY(conv_q)                                                                        \
    KILN_FAMILY(elementwise_q)                                                                 \
    KILN_FAMILY(rnn)                                                                           \
    KILN_FAMILY(rnn_q)                                                                         \
    KILN_FAMILY(control)                                                                       \
    KILN_FAMILY(misc_q)

#define KILN_FAMILY(name) extern const kiln_kernel_reg kiln__k_##name[];
KILN_FAMILIES
#undef KILN_FAMILY
#endif
