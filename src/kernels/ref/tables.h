/* tables.h: constant tables shared by several kernel files (one copy in the binary), and the
 * int16 sigmoid/tanh arithmetic that both the activations and the integer LSTM run. */
#ifndef KILN_KERNELS_REF_TABLES_H
#define KILN_KERNELS_REF_TABLES_H
#include <stdint.h>

/* sigmoid(i / 24) in unsigned Q0.16 for i = 0..255: the table TFLite's int16 logistic and tanh
 * kernels interpolate (reference_integer_ops::Logistic / Tanh; TFLite Micro's LSTM calls them
 * too). Its values are part of the arithmetic, not a plain rounding of the function. */
extern const uint16_t kiln__sigmoid_q16[256];

/* reference_integer_ops::Logistic / Tanh on one int16 value: x * mult (rounding right shift by
 * ls; mult 0 is the power-of-two case, 3 << ls unshifted), then kiln__sigmoid_q16 interpolated.
 * Returns the int32 TFLite then stores into int16 without clamping: each caller narrows it the
 * way its TFLite kernel stores (the LSTM wraps, as an int16 store does). */
int32_t kiln__logistic16_lut(int16_t x, int32_t mult, int32_t ls);
int32_t kiln__tanh16_lut(int16_t x, int32_t mult, int32_t ls);

/* gemmlowp's FixedPoint<int16_t> logistic and tanh of a raw value with ib integer bits, as
 * TFLite's optimized int16 LOGISTIC/TANH and its LSTM (PortableApplySigmoid/Tanh) run them, and
 * x * 2^e with gemmlowp's int16 saturation (e > 0) or rounding (e < 0). */
int16_t kiln__g16_logistic(int16_t a, int ib);
int16_t kiln__g16_tanh(int16_t a, int ib);
int16_t kiln__g16_mulpot(int16_t x, int e);

/* The 24 inputs of UNIDIRECTIONAL_SEQUENCE_LSTM in schema order, for error messages. */
extern const char *const kiln__lstm_input_names[24];
#endif
