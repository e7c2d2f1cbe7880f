/* tables.h: constant tables shared by several kernel files (one copy in the binary). */
#ifndef KILN_KERNELS_REF_TABLES_H
#define KILN_KERNELS_REF_TABLES_H
#include <stdint.h>

/* sigmoid(i / 24) in unsigned Q0.16 for i = 0..255: the table TFLite's int16 logistic and tanh
 * kernels interpolate (reference_integer_ops::Logistic / Tanh; TFLite Micro's LSTM calls them
 * too). Its values are part of the arithmetic, not a plain rounding of the function. */
extern const uint16_t kiln__sigmoid_q16[256];

/* The 24 inputs of UNIDIRECTIONAL_SEQUENCE_LSTM in schema order, for error messages. */
extern const char *const kiln__lstm_input_names[24];
#endif
