/* elementwise_q.c: placeholder family table (filled in by its owner). */
#include "kernels/kernel.h"
#include "kernels/ops.h"

const kiln_kernel_reg kiln__k_elementwise_q[] = {
    {-1, 0, 0, 0, 0, NULL, NULL},
};
