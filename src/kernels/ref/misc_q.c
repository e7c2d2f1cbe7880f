/* misc_q.c: the remaining integer kernels of TFLite's op list (int8/int16/uint8), following TFLite's kernels. */
#include "kernels/kernel.h"
#include "kernels/ops.h"

#include <stddef.h>

const kiln_kernel_reg kiln__k_misc_q[] = {
    {-1, 0, 0, 0, 0, NULL, NULL},
};
