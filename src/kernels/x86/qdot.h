/* qdot.h: AVX2 inner loops of the 8-bit CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED kernels
 * (src/kernels/ref/conv_q.c). Integer sums only, bit-exact with the scalar loops they replace. */
#ifndef KILN_KERNELS_X86_QDOT_H
#define KILN_KERNELS_X86_QDOT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* acc[r] += sum_i w[r * w_stride + i] * p[i] for r < n_rows, i < k.
 * Needs |p[i]| <= 255 (an 8-bit value plus its offset) and k <= 2048 so no int32 sum overflows. */
void kiln__qdot_rows_i8i16_avx2(const int8_t *w, int64_t w_stride, int32_t k, int32_t n_rows,
                                const int16_t *p, int32_t *acc);

/* acc[r] += sum_i (w[r * w_stride + i] + w_off) * p[i]; w_off in [-255, 255] with
 * |w + w_off| <= 255, |p[i]| <= 255, k <= 2048. */
void kiln__qdot_rows_u8i16_avx2(const uint8_t *w, int32_t w_off, int64_t w_stride, int32_t k,
                                int32_t n_rows, const int16_t *p, int32_t *acc);

/* Depthwise taps: acc[c] += w[c] * (x[c] + x_off) for c < n; x_off in [-128, 128]. */
void kiln__qdw_i8_avx2(const int8_t *w, const int8_t *x, int32_t x_off, int32_t n, int32_t *acc);

/* acc[c] += w[c] * xs[c] for c < n (xs: inputs already offset, |xs[c]| <= 255). */
void kiln__qdw_i8i16_avx2(const int8_t *w, const int16_t *xs, int32_t n, int32_t *acc);

/* acc[c] += (w[c] + w_off) * (x[c] + x_off) for c < n; offsets in [-255, 255]. */
void kiln__qdw_u8_avx2(const uint8_t *w, int32_t w_off, const uint8_t *x, int32_t x_off, int32_t n,
                       int32_t *acc);

#ifdef __cplusplus
}
#endif
#endif
