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

/* ---- qconv_avx2.c ---- */

/* Requantizes n int32 accumulators to 8-bit outputs (uint8 when u8, else int8):
 * out[c] = rule(acc[c] + bias[c]) with int32 wrapping of the sum (bias may be NULL), clamped to
 * [lo, hi], which must lie in the output type's range.
 * fp32: XNNPACK's rule, as kiln_requant_fp32 with scale[c].
 * q31: TFLite's reference rule, kiln_mbqm(acc, mult[c], shift[c]) + zp, clamped. */
void kiln__qrq_fp32_avx2(const int32_t *acc, const int32_t *bias, const float *scale, int32_t n,
                         int32_t zp, int32_t lo, int32_t hi, void *out, int u8);
void kiln__qrq_q31_avx2(const int32_t *acc, const int32_t *bias, const int32_t *mult,
                        const int32_t *shift, int32_t n, int32_t zp, int32_t lo, int32_t hi,
                        void *out, int u8);
/* y[c] = kiln_mbqm(x[c], mult[c], shift[c]) (mult a Q31 multiplier in [2^30, 2^31) or 0). */
void kiln__qmbqm_avx2(const int32_t *x, const int32_t *mult, const int32_t *shift, int32_t n,
                      int32_t *y);

/* Four pixels at once: acc[j * acc_stride + r] = sum_i w'[r * w_stride + i] * p[j][i] for
 * j < 4, r < n_rows, i < k (stores, does not accumulate); w' = w (int8) or w + w_off (uint8).
 * Same limits as the row helpers above (|p| <= 255, k <= 2048). */
void kiln__qdot_px4_i8_avx2(const int8_t *w, int64_t w_stride, int32_t k, int32_t n_rows,
                            const int16_t *const *p, int32_t *acc, int32_t acc_stride);
void kiln__qdot_px4_u8_avx2(const uint8_t *w, int32_t w_off, int64_t w_stride, int32_t k,
                            int32_t n_rows, const int16_t *const *p, int32_t *acc,
                            int32_t acc_stride);

/* out[i] = x[i] + off as int16 for i < n; x int8, or uint8 when u8; |x + off| <= 32767. */
void kiln__qwiden_avx2(const void *x, int u8, int32_t off, int32_t n, int16_t *out);

/* Depthwise over a list of taps: acc[c] = sum_t w'[t][c] * (x[t][c] + x_off) for c < n
 * (stores); x[t], w[t] point to int8 (i8) or uint8 (u8) rows, w' = w + w_off for uint8.
 * Offsets in [-255, 255] with every factor within +-255; ntaps <= 64. */
void kiln__qdw_taps_i8_avx2(const void *const *x, const void *const *w, int32_t ntaps,
                            int32_t x_off, int32_t n, int32_t *acc);
void kiln__qdw_taps_u8_avx2(const void *const *x, const void *const *w, int32_t ntaps,
                            int32_t w_off, int32_t x_off, int32_t n, int32_t *acc);
/* The same for two pixels at once: acc0 from x[t], acc1 from x[t] + x_step (elements). */
void kiln__qdw_taps2_i8_avx2(const void *const *x, const void *const *w, int32_t ntaps,
                             int32_t x_off, int64_t x_step, int32_t n, int32_t *acc0,
                             int32_t *acc1);
void kiln__qdw_taps2_u8_avx2(const void *const *x, const void *const *w, int32_t ntaps,
                             int32_t w_off, int32_t x_off, int64_t x_step, int32_t n, int32_t *acc0,
                             int32_t *acc1);

#ifdef __cplusplus
}
#endif
#endif
