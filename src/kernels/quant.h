/* quant.h: the one definition of TFLite's integer arithmetic, used by every integer kernel,
 * the quantizer and QAT. Semantics: TFLite's reference kernels (gemmlowp fixed point:
 * SaturatingRoundingDoublingHighMul followed by RoundingDivideByPOT, i.e. two roundings) and,
 * for the litert dialect, XNNPACK's fp32 requantization (one rounding). */
#ifndef KILN_KERNELS_QUANT_H
#define KILN_KERNELS_QUANT_H

#include <math.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

static inline int32_t kiln_sat_i32(int64_t x) {
    return x > INT32_MAX ? INT32_MAX : (x < INT32_MIN ? INT32_MIN : (int32_t)x);
}

static inline int32_t kiln_clamp_i32(int32_t x, int32_t lo, int32_t hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

/* gemmlowp SaturatingRoundingDoublingHighMul: (a*b*2 + 2^31 rounding) >> 32, saturating the
 * single overflow case INT32_MIN * INT32_MIN. Rounds half away from zero. */
static inline int32_t kiln_srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1ll << 30) : (1 - (1ll << 30));
    return (int32_t)((ab + nudge) / (1ll << 31));
}

/* gemmlowp RoundingDivideByPOT: x / 2^e rounded to nearest, ties away from zero. e in 0..31. */
static inline int32_t kiln_rdbpot(int32_t x, int e) {
    const int32_t mask = (int32_t)((1ll << e) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (remainder > threshold ? 1 : 0);
}

/* TFLite's MultiplyByQuantizedMultiplier (reference, double rounding): x * m * 2^shift where
 * m is a Q31 multiplier in [2^30, 2^31) and shift may be positive (left) or negative (right). */
static inline int32_t kiln_mbqm(int32_t x, int32_t m, int shift) {
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    /* The left shift is done in 64 bits and saturated, as x * (1 << left) may overflow int32
     * (undefined in C; TFLite relies on wrapping, which real models never reach). */
    return kiln_rdbpot(kiln_srdhm(kiln_sat_i32((int64_t)x * ((int64_t)1 << left)), m), right);
}

/* TFLite's MultiplyByQuantizedMultiplier for int64 inputs (int16x8 kernels with int64 bias):
 * the reference rounds once: (x * m + round) >> (31 - shift), with m reduced to 16 bits
 * precision as TFLite does ((m + 2^15) >> 16 when used with int64 accumulators). */
static inline int32_t kiln_mbqm64(int64_t x, int32_t m, int shift) {
    /* Semantics of tflite::MultiplyByQuantizedMultiplier(int64_t, int32_t, int). */
    const int32_t reduced = m < 0x7FFF0000 ? ((m + (1 << 15)) >> 16) : 0x7FFF;
    const int total_shift = 15 - shift;
    const int64_t round = (int64_t)1 << (total_shift - 1);
    int64_t r = x * (int64_t)reduced + round;
    r = r >> total_shift;
    return kiln_sat_i32(r);
}

/* TFLite's QuantizeMultiplier: represent a positive real multiplier as m * 2^shift with m a
 * Q31 value in [2^30, 2^31). A zero multiplier gives m = 0, shift = 0. */
static inline void kiln_quantize_multiplier(double real, int32_t *m, int *shift) {
    if (real == 0.0) {
        *m = 0;
        *shift = 0;
        return;
    }
    int e = 0;
    const double q = frexp(real, &e);
    int64_t qf = (int64_t)llround(q * (double)(1ll << 31));
    if (qf == (1ll << 31)) {
        qf /= 2;
        e++;
    }
    if (e < -31) {
        e = 0;
        qf = 0;
    }
    *m = (int32_t)qf;
    *shift = e;
}

/* XNNPACK-style fp32 requantization (the litert dialect): round(acc * scale) to nearest even
 * in float, then add the zero point and clamp. */
static inline int32_t kiln_requant_fp32(int32_t acc, float scale, int32_t zp, int32_t lo,
                                        int32_t hi) {
    float f = (float)acc * scale;
    /* Clamp in float first so the conversion cannot overflow (XNNPACK clamps likewise). */
    const float flo = (float)(lo - zp), fhi = (float)(hi - zp);
    f = f < flo ? flo : (f > fhi ? fhi : f);
    return (int32_t)lrintf(f) + zp;
}

#ifdef __cplusplus
}
#endif
#endif
