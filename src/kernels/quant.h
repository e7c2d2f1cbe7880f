/* quant.h: the one definition of TFLite's integer arithmetic, used by every integer kernel,
 * the quantizer and QAT. Semantics: TFLite's reference kernels (gemmlowp fixed point:
 * SaturatingRoundingDoublingHighMul followed by RoundingDivideByPOT, i.e. two roundings), the
 * single-rounding variants (TFLITE_SINGLE_ROUNDING, ruy) and, for the litert dialect, XNNPACK's
 * fp32 requantization (one rounding, to nearest even).
 *
 * Overflow: TFLite's C++ relies on two's complement wrapping in a few places (x << left_shift,
 * int32 accumulators, the final int64 -> int32 cast). Those are undefined or unspecified in C,
 * so the helpers below wrap explicitly through unsigned arithmetic: the same bits TFLite gives
 * on every compiler, and no undefined behaviour. */
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

/* Two's complement truncation of an int64 to int32 (what a C++ static_cast does on every
 * platform TFLite runs on). */
static inline int32_t kiln_wrap_i32(int64_t x) {
    const uint32_t u = (uint32_t)(uint64_t)x;
    return u <= (uint32_t)INT32_MAX ? (int32_t)u : (int32_t)(u - 0x80000000u) + INT32_MIN;
}

/* Wrapping int32 addition (TFLite's int32 accumulators). */
static inline int32_t kiln_add_wrap_i32(int32_t a, int32_t b) {
    return kiln_wrap_i32((int64_t)a + (int64_t)b);
}

/* Wrapping int64 helpers (TFLite's int64 accumulators of int16x8 kernels). */
static inline int64_t kiln_wrap_i64(uint64_t u) {
    return u <= (uint64_t)INT64_MAX ? (int64_t)u : (int64_t)(u - 0x8000000000000000ull) + INT64_MIN;
}

/* Arithmetic shift right of a signed value (floor division by 2^e), e in 0..63. Written
 * without relying on the implementation-defined >> of negative numbers. */
static inline int64_t kiln_asr_i64(int64_t x, int e) {
    if (x >= 0) return x >> e;
    return -(int64_t)((((uint64_t)(-(x + 1))) >> e)) - 1;
}

static inline int32_t kiln_asr_i32(int32_t x, int e) {
    return (int32_t)kiln_asr_i64(x, e);
}

/* gemmlowp SaturatingRoundingDoublingHighMul: (a*b*2 + 2^31 rounding) >> 32, saturating the
 * single overflow case INT32_MIN * INT32_MIN. Rounds half away from zero. */
static inline int32_t kiln_srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? (1ll << 30) : (1 - (1ll << 30));
    /* C division truncates toward zero, as gemmlowp's does. */
    return (int32_t)((ab + nudge) / (1ll << 31));
}

/* gemmlowp RoundingDivideByPOT: x / 2^e rounded to nearest, ties away from zero. e in 0..31. */
static inline int32_t kiln_rdbpot(int32_t x, int e) {
    const int32_t mask = (int32_t)((1ll << e) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return kiln_asr_i32(x, e) + (remainder > threshold ? 1 : 0);
}

/* x * 2^left with int32 wrapping (TFLite writes x * (1 << left_shift)). left in 0..31. */
static inline int32_t kiln_shl_wrap_i32(int32_t x, int left) {
    return kiln_wrap_i32((int64_t)((uint64_t)(uint32_t)x << left));
}

/* TFLite's MultiplyByQuantizedMultiplier (reference, double rounding): x * m * 2^shift where
 * m is a Q31 multiplier in [2^30, 2^31) and shift in -31..30 (positive: left). */
static inline int32_t kiln_mbqm(int32_t x, int32_t m, int shift) {
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    return kiln_rdbpot(kiln_srdhm(kiln_shl_wrap_i32(x, left > 31 ? 31 : left), m),
                       right > 31 ? 31 : right);
}

/* TFLite's MultiplyByQuantizedMultiplierSmallerThanOneExp (left_shift <= 0). */
static inline int32_t kiln_mbqm_smaller_than_one(int32_t x, int32_t m, int left_shift) {
    return kiln_rdbpot(kiln_srdhm(x, m), -left_shift);
}

/* TFLite's MultiplyByQuantizedMultiplierGreaterThanOne (left_shift >= 0). */
static inline int32_t kiln_mbqm_greater_than_one(int32_t x, int32_t m, int left_shift) {
    return kiln_srdhm(kiln_shl_wrap_i32(x, left_shift), m);
}

/* The single-rounding MultiplyByQuantizedMultiplier (TFLITE_SINGLE_ROUNDING builds, and ruy's
 * apply_multiplier): (x * m + 2^(30 - shift)) >> (31 - shift), shift in -31..30. The result is
 * truncated to int32 as TFLite's cast does. */
static inline int32_t kiln_mbqm_single(int32_t x, int32_t m, int shift) {
    if (shift > 30) shift = 30;
    if (shift < -32) shift = -32;
    const int total = 31 - shift;                 /* 1..63 */
    const int64_t prod = (int64_t)x * (int64_t)m; /* |x*m| < 2^62: no overflow */
    const int64_t r = kiln_wrap_i64((uint64_t)prod + ((uint64_t)1 << (total - 1)));
    return kiln_wrap_i32(kiln_asr_i64(r, total));
}

/* TFLite's MultiplyByQuantizedMultiplier for int64 inputs (int16x8 kernels with int64
 * accumulators, both rounding builds): the multiplier is first reduced to 16 bits
 * ((m + 2^15) >> 16, or 0x7FFF near the top), then one rounding shift by 15 - shift. TFLite
 * assumes |x| < 2^47; beyond that its int64 arithmetic wraps, and so does this. */
static inline int32_t kiln_mbqm64(int64_t x, int32_t m, int shift) {
    const int32_t reduced = m < 0x7FFF0000 ? kiln_asr_i32(m + (1 << 15), 16) : 0x7FFF;
    if (shift > 14) shift = 14;
    if (shift < -48) shift = -48;
    const int total = 15 - shift; /* 1..63 */
    const uint64_t prod = (uint64_t)x * (uint64_t)(int64_t)reduced;
    const int64_t r = kiln_wrap_i64(prod + ((uint64_t)1 << (total - 1)));
    return kiln_wrap_i32(kiln_asr_i64(r, total));
}

/* TFLite's QuantizeMultiplier: represent a real multiplier as m * 2^shift with m a Q31 value
 * in [2^30, 2^31). Zero gives m = 0, shift = 0; multipliers below about 2^-31 flush to zero
 * (shift < -31 -> m = 0, shift = 0), as TFLite does. */
static inline void kiln_quantize_multiplier(double real, int32_t *m, int *shift) {
    if (real == 0.0) {
        *m = 0;
        *shift = 0;
        return;
    }
    int e = 0;
    const double q = frexp(real, &e);
    /* TfLiteRound is round-half-away-from-zero, as llround. */
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

/* The single-rounding build of QuantizeMultiplier also saturates shifts above 30. */
static inline void kiln_quantize_multiplier_single(double real, int32_t *m, int *shift) {
    kiln_quantize_multiplier(real, m, shift);
    if (*shift > 30) {
        *shift = 30;
        *m = INT32_MAX;
    }
}

/* TFLite's QuantizeMultiplierSmallerThanOneExp: for 0 < real < 1; left_shift <= 0. */
static inline void kiln_quantize_multiplier_smaller_than_one(double real, int32_t *m,
                                                             int *left_shift) {
    kiln_quantize_multiplier(real, m, left_shift);
    if (*left_shift > 0) *left_shift = 0; /* TFLite asserts real < 1; keep it in range */
}

/* TFLite's QuantizeMultiplierGreaterThanOne: for real > 1; left_shift >= 0. */
static inline void kiln_quantize_multiplier_greater_than_one(double real, int32_t *m,
                                                             int *left_shift) {
    kiln_quantize_multiplier(real, m, left_shift);
    if (*left_shift < 0) *left_shift = 0;
}

/* TfLiteRound for float: round half away from zero. */
static inline float kiln_round_away_f(float x) {
    return roundf(x);
}

/* XNNPACK fp32 requantization (the litert dialect): acc converted to float, multiplied by the
 * float scale, clamped to [lo - zp, hi - zp] in float, rounded to nearest even (lrintf; the
 * SIMD kernels' magic-bias trick gives the same), then the zero point is added. Clamping
 * before rounding equals clamping after since the bounds are integers. */
static inline int32_t kiln_requant_fp32(int32_t acc, float scale, int32_t zp, int32_t lo,
                                        int32_t hi) {
    float f = (float)acc * scale;
    const float flo = (float)(lo - zp), fhi = (float)(hi - zp);
    f = f < flo ? flo : (f > fhi ? fhi : f);
    if (f != f) f = flo; /* NaN cannot arise from finite inputs; be safe */
    return (int32_t)lrintf(f) + zp;
}

/* XNNPACK's requantization scale: computed in float, in this order. */
static inline float kiln_xnn_scale(float input_scale, float filter_scale, float output_scale) {
    return input_scale * filter_scale / output_scale;
}

/* XNNPACK's xnn_qs8_quantize / xnn_qu8_quantize of an activation bound: val / scale + zp in
 * float, clamped to [qmin, qmax], rounded to nearest even. Infinite bounds clamp. */
static inline int32_t kiln_xnn_quantize(float val, float scale, int32_t zp, int32_t qmin,
                                        int32_t qmax) {
    float f = val / scale + (float)zp;
    f = f < (float)qmin ? (float)qmin : (f > (float)qmax ? (float)qmax : f);
    if (f != f) f = (float)qmin;
    return (int32_t)lrintf(f);
}

/* zp + TfLiteRound(f / scale) in float, as TFLite's activation-range lambda; kept finite. */
static inline int64_t kiln_quantize_bound(float f, float scale, int32_t zp) {
    float r = roundf(f / scale);
    if (!(r > -1e12f)) r = -1e12f; /* also catches NaN */
    if (r > 1e12f) r = 1e12f;
    return (int64_t)zp + (int64_t)r;
}

/* TFLite's CalculateActivationRangeQuantized for a fused activation (0 NONE, 1 RELU,
 * 2 RELU_N1_TO_1, 3 RELU6; anything else leaves the type's range): each bound is
 * zp + round_away(bound / scale) computed in float, intersected with [qmin, qmax]. */
static inline void kiln_act_range_q(int act, float scale, int32_t zp, int32_t qmin, int32_t qmax,
                                    int32_t *lo, int32_t *hi) {
    int64_t a = qmin, b = qmax;
    if (act == 1) {
        a = kiln_quantize_bound(0.0f, scale, zp);
    } else if (act == 3) {
        a = kiln_quantize_bound(0.0f, scale, zp);
        b = kiln_quantize_bound(6.0f, scale, zp);
    } else if (act == 2) {
        a = kiln_quantize_bound(-1.0f, scale, zp);
        b = kiln_quantize_bound(1.0f, scale, zp);
    }
    *lo = (int32_t)(a < qmin ? qmin : (a > qmax ? qmax : a));
    *hi = (int32_t)(b > qmax ? qmax : (b < qmin ? qmin : b));
}

/* The XNNPACK delegate's range for a fused activation: float bounds (RELU [0, inf), RELU6
 * [0, 6], RELU_N1_TO_1 [-1, 1], none (-inf, inf)) quantized with kiln_xnn_quantize. */
static inline void kiln_act_range_xnn(int act, float scale, int32_t zp, int32_t qmin, int32_t qmax,
                                      int32_t *lo, int32_t *hi) {
    float fl = -INFINITY, fh = INFINITY;
    if (act == 1)
        fl = 0.0f;
    else if (act == 3)
        fl = 0.0f, fh = 6.0f;
    else if (act == 2)
        fl = -1.0f, fh = 1.0f;
    *lo = kiln_xnn_quantize(fl, scale, zp, qmin, qmax);
    *hi = kiln_xnn_quantize(fh, scale, zp, qmin, qmax);
}

#ifdef __cplusplus
}
#endif
#endif
