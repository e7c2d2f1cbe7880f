/* control.c: resource variables (VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE) and control flow (CALL_ONCE, IF, WHILE), following TFLite's kernels. */
#include "kernels/kernel.h"
#include "kernels/ops.h"

#include <stddef.h>

const kiln_kernel_reg kiln__k_control[] = {
    {-1, 0, 0, 0, 0, NULL, NULL},
};
