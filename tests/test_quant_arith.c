/* test_quant_arith.c: unit tests of src/kernels/quant.h, TFLite's integer arithmetic in both
 * dialects, at boundary values (INT32_MIN/MAX, shifts of +-31, multipliers 2^30 and 2^31-1,
 * exact ties both ways, zero points at their limits) and against independent 128-bit
 * formulations of the same definitions on random inputs. */
#include <stdint.h>

#include "kernels/quant.h"
#include "test.h"

typedef __int128 i128; /* gcc/clang: exact products for the reference formulas */

/* floor(v / 2^e) on 128 bits (arithmetic shift: gcc defines >> on negatives as floor). */
static i128 fdiv_pot(i128 v, int e) {
    const i128 p = (i128)1 << e;
    i128 q = v / p;
    if (v % p != 0 && v < 0) q -= 1;
    return q;
}

static int32_t wrap32(i128 v) {
    return (int32_t)(uint32_t)(uint64_t)v;
}

/* gemmlowp SaturatingRoundingDoublingHighMul = floor(a*b / 2^31 + 1/2), except MIN*MIN. */
static int32_t ref_srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    return (int32_t)fdiv_pot((i128)a * b + ((i128)1 << 30), 31);
}

/* gemmlowp RoundingDivideByPOT: x / 2^e rounded half away from zero. */
static int32_t ref_rdbpot(int32_t x, int e) {
    if (e == 0) return x;
    const i128 h = (i128)1 << (e - 1);
    if (x >= 0) return (int32_t)fdiv_pot((i128)x + h, e);
    return (int32_t)-fdiv_pot(-(i128)x + h, e);
}

static int32_t ref_mbqm(int32_t x, int32_t m, int shift) {
    const int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    return ref_rdbpot(ref_srdhm(wrap32((i128)x * ((i128)1 << left)), m), right);
}

/* One rounding, ties up: floor(x*m / 2^(31-shift) + 1/2), truncated to int32. */
static int32_t ref_mbqm_single(int32_t x, int32_t m, int shift) {
    const int t = 31 - shift;
    return wrap32(fdiv_pot((i128)x * m + ((i128)1 << (t - 1)), t));
}

static int32_t ref_mbqm64(int64_t x, int32_t m, int shift) {
    const int64_t red = m < 0x7FFF0000 ? ((int64_t)m + 32768) / 65536 : 0x7FFF;
    const int t = 15 - shift;
    /* TFLite's int64 arithmetic wraps beyond 2^63: emulate that before the shift. */
    const i128 p = (i128)x * red + ((i128)1 << (t - 1));
    const int64_t w = (int64_t)(uint64_t)p;
    return wrap32(fdiv_pot(w, t));
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static int32_t rnd_i32(void) {
    /* Mix of edge values and uniform values. */
    static const int32_t edge[] = {INT32_MIN,
                                   INT32_MIN + 1,
                                   -65536,
                                   -32769,
                                   -32768,
                                   -256,
                                   -129,
                                   -128,
                                   -2,
                                   -1,
                                   0,
                                   1,
                                   2,
                                   127,
                                   128,
                                   255,
                                   32767,
                                   65536,
                                   INT32_MAX - 1,
                                   INT32_MAX};
    const uint64_t r = rnd();
    if ((r & 7) == 0) return edge[(r >> 8) % (sizeof edge / sizeof edge[0])];
    if ((r & 7) == 1) return (int32_t)((int64_t)(r >> 40) - (1 << 23)); /* small */
    return (int32_t)(uint32_t)(r >> 16);
}

static void test_wrap_and_shift(void) {
    CHECK_EQ_INT(kiln_wrap_i32(((int64_t)1 << 31)), INT32_MIN);
    CHECK_EQ_INT(kiln_wrap_i32(-((int64_t)1 << 31) - 1), INT32_MAX);
    CHECK_EQ_INT(kiln_wrap_i32(((int64_t)1 << 32) + 5), 5);
    CHECK_EQ_INT(kiln_wrap_i32(INT64_MIN), 0);
    CHECK_EQ_INT(kiln_add_wrap_i32(INT32_MAX, 1), INT32_MIN);
    CHECK_EQ_INT(kiln_add_wrap_i32(INT32_MIN, -1), INT32_MAX);
    CHECK_EQ_INT(kiln_shl_wrap_i32(1, 31), INT32_MIN);
    CHECK_EQ_INT(kiln_shl_wrap_i32(-1, 31), INT32_MIN);
    CHECK_EQ_INT(kiln_shl_wrap_i32(INT32_MAX, 1), -2);
    CHECK_EQ_INT(kiln_asr_i64(-1, 1), -1);
    CHECK_EQ_INT(kiln_asr_i64(-3, 1), -2);
    CHECK_EQ_INT(kiln_asr_i64(INT64_MIN, 63), -1);
    CHECK_EQ_INT(kiln_asr_i64(INT64_MAX, 63), 0);
    CHECK_EQ_INT(kiln_asr_i32(INT32_MIN, 31), -1);
    CHECK_EQ_INT(kiln_wrap_i64(UINT64_MAX), -1);
    CHECK_EQ_INT(kiln_sat_i32((int64_t)INT32_MAX + 7), INT32_MAX);
    CHECK_EQ_INT(kiln_sat_i32((int64_t)INT32_MIN - 7), INT32_MIN);
    CHECK_EQ_INT(kiln_clamp_i32(200, -128, 127), 127);
    CHECK_EQ_INT(kiln_clamp_i32(INT32_MIN, -128, 127), -128);
}

static void test_srdhm(void) {
    /* The one saturating case. */
    CHECK_EQ_INT(kiln_srdhm(INT32_MIN, INT32_MIN), INT32_MAX);
    CHECK_EQ_INT(kiln_srdhm(INT32_MIN, INT32_MAX), -INT32_MAX);
    CHECK_EQ_INT(kiln_srdhm(INT32_MAX, INT32_MAX), INT32_MAX - 1);
    CHECK_EQ_INT(kiln_srdhm(INT32_MAX, 1 << 30), 1 << 30); /* 2^30 - 0.5: tie, up */
    CHECK_EQ_INT(kiln_srdhm(1 << 30, 1 << 30), 1 << 29);
    /* Ties: +0.5 goes up, -0.5 goes up too (gemmlowp's nudge then truncation). */
    CHECK_EQ_INT(kiln_srdhm(1, 1 << 30), 1);
    CHECK_EQ_INT(kiln_srdhm(-1, 1 << 30), 0);
    CHECK_EQ_INT(kiln_srdhm(3, 1 << 30), 2);
    CHECK_EQ_INT(kiln_srdhm(-3, 1 << 30), -1);
    CHECK_EQ_INT(kiln_srdhm(0, INT32_MIN), 0);
    for (int i = 0; i < 200000; i++) {
        const int32_t a = rnd_i32(), b = rnd_i32();
        if (kiln_srdhm(a, b) != ref_srdhm(a, b)) {
            CHECK_MSG(0, "srdhm(%d, %d) = %d, expected %d", a, b, kiln_srdhm(a, b),
                      ref_srdhm(a, b));
            break;
        }
    }
    t_pass++;
}

static void test_rdbpot(void) {
    CHECK_EQ_INT(kiln_rdbpot(5, 1), 3);   /* 2.5 -> 3 */
    CHECK_EQ_INT(kiln_rdbpot(-5, 1), -3); /* -2.5 -> -3: away from zero */
    CHECK_EQ_INT(kiln_rdbpot(7, 2), 2);   /* 1.75 */
    CHECK_EQ_INT(kiln_rdbpot(-6, 2), -2); /* -1.5 -> -2 */
    CHECK_EQ_INT(kiln_rdbpot(6, 2), 2);   /* 1.5 -> 2 */
    CHECK_EQ_INT(kiln_rdbpot(INT32_MAX, 31), 1);
    CHECK_EQ_INT(kiln_rdbpot(INT32_MIN, 31), -1);
    CHECK_EQ_INT(kiln_rdbpot(INT32_MIN + 1, 31), -1);
    CHECK_EQ_INT(kiln_rdbpot(1 << 30, 31), 1);     /* exactly 0.5 */
    CHECK_EQ_INT(kiln_rdbpot(-(1 << 30), 31), -1); /* exactly -0.5 */
    CHECK_EQ_INT(kiln_rdbpot((1 << 30) - 1, 31), 0);
    CHECK_EQ_INT(kiln_rdbpot(INT32_MIN, 0), INT32_MIN);
    CHECK_EQ_INT(kiln_rdbpot(INT32_MAX, 0), INT32_MAX);
    for (int i = 0; i < 200000; i++) {
        const int32_t x = rnd_i32();
        const int e = (int)(rnd() % 32);
        if (kiln_rdbpot(x, e) != ref_rdbpot(x, e)) {
            CHECK_MSG(0, "rdbpot(%d, %d) = %d, expected %d", x, e, kiln_rdbpot(x, e),
                      ref_rdbpot(x, e));
            break;
        }
    }
    t_pass++;
}

static void test_mbqm(void) {
    /* Multiplier 2^30 with shift 0 is x/2: ties away from zero after the high mul. */
    CHECK_EQ_INT(kiln_mbqm(3, 1 << 30, 0), 2);
    CHECK_EQ_INT(kiln_mbqm(-3, 1 << 30, 0), -1); /* srdhm's own rounding: -1.5 -> -1 */
    /* 2^30 with shift -3 is x/16, rounded twice: -8/16 -> srdhm -4 -> rdbpot -1. */
    CHECK_EQ_INT(kiln_mbqm(-8, 1 << 30, -3), -1);
    CHECK_EQ_INT(kiln_mbqm(8, 1 << 30, -3), 1);
    CHECK_EQ_INT(kiln_mbqm(24, 1 << 30, -3), 2);
    CHECK_EQ_INT(kiln_mbqm(-24, 1 << 30, -3), -2);
    CHECK_EQ_INT(kiln_mbqm(INT32_MAX, INT32_MAX, 0), INT32_MAX - 1);
    CHECK_EQ_INT(kiln_mbqm(INT32_MIN, INT32_MAX, 0), -INT32_MAX);
    CHECK_EQ_INT(kiln_mbqm(INT32_MIN, 1 << 30, -31), -1);
    CHECK_EQ_INT(kiln_mbqm(INT32_MAX, 1 << 30, -31), 1); /* 2^30 / 2^31: tie, away */
    CHECK_EQ_INT(kiln_mbqm(INT32_MAX, INT32_MAX, -31), 1);
    CHECK_EQ_INT(kiln_mbqm(INT32_MIN, INT32_MAX, -31), -1);
    /* Left shifts wrap like TFLite's x * (1 << shift). */
    CHECK_EQ_INT(kiln_mbqm(1 << 20, 1 << 30, 12), ref_mbqm(1 << 20, 1 << 30, 12));
    CHECK_EQ_INT(kiln_mbqm(1, 1 << 30, 31), ref_mbqm(1, 1 << 30, 31));
    CHECK_EQ_INT(kiln_mbqm(0, INT32_MAX, 31), 0);
    CHECK_EQ_INT(kiln_mbqm_smaller_than_one(-8, 1 << 30, -3), -1);
    CHECK_EQ_INT(kiln_mbqm_greater_than_one(3, 1 << 30, 2), 6);
    for (int i = 0; i < 300000; i++) {
        const int32_t x = rnd_i32();
        const int32_t m = (int32_t)((1u << 30) + (uint32_t)(rnd() % (1u << 30)));
        const int s = (int)(rnd() % 63) - 31; /* -31..31 */
        if (kiln_mbqm(x, m, s) != ref_mbqm(x, m, s)) {
            CHECK_MSG(0, "mbqm(%d, %d, %d) = %d, expected %d", x, m, s, kiln_mbqm(x, m, s),
                      ref_mbqm(x, m, s));
            break;
        }
    }
    t_pass++;
}

static void test_mbqm_single(void) {
    /* One rounding, ties toward +infinity. */
    CHECK_EQ_INT(kiln_mbqm_single(8, 1 << 30, -3), 1);
    CHECK_EQ_INT(kiln_mbqm_single(-8, 1 << 30, -3), 0);
    CHECK_EQ_INT(kiln_mbqm_single(-24, 1 << 30, -3), -1);
    CHECK_EQ_INT(kiln_mbqm_single(40, 1 << 30, -3), 3);
    CHECK_EQ_INT(kiln_mbqm_single(INT32_MIN, INT32_MAX, 0), INT32_MIN + 1);
    CHECK_EQ_INT(kiln_mbqm_single(INT32_MAX, INT32_MAX, 0), INT32_MAX - 1);
    CHECK_EQ_INT(kiln_mbqm_single(INT32_MIN, 1 << 30, -31), 0); /* -0.5: tie, up */
    CHECK_EQ_INT(kiln_mbqm_single(INT32_MAX, 1 << 30, -31), 0);
    CHECK_EQ_INT(kiln_mbqm_single(INT32_MAX, INT32_MAX, 30),
                 ref_mbqm_single(INT32_MAX, INT32_MAX, 30));
    for (int i = 0; i < 300000; i++) {
        const int32_t x = rnd_i32();
        const int32_t m = (int32_t)((1u << 30) + (uint32_t)(rnd() % (1u << 30)));
        const int s = (int)(rnd() % 62) - 31; /* -31..30 */
        if (kiln_mbqm_single(x, m, s) != ref_mbqm_single(x, m, s)) {
            CHECK_MSG(0, "mbqm_single(%d, %d, %d) = %d, expected %d", x, m, s,
                      kiln_mbqm_single(x, m, s), ref_mbqm_single(x, m, s));
            break;
        }
    }
    t_pass++;
}

static void test_mbqm64(void) {
    /* The multiplier is cut to 16 bits: 2^31-1 and anything >= 0x7FFF0000 become 0x7FFF. */
    CHECK_EQ_INT(kiln_mbqm64(1 << 16, INT32_MAX, 0), ref_mbqm64(1 << 16, INT32_MAX, 0));
    CHECK_EQ_INT(kiln_mbqm64(1 << 16, INT32_MAX, 0), 65534); /* 2^16 * 0x7FFF / 2^15 */
    CHECK_EQ_INT(kiln_mbqm64(-8, 1 << 30, -3), 0);           /* -0.5 -> 0: ties up */
    CHECK_EQ_INT(kiln_mbqm64(8, 1 << 30, -3), 1);
    CHECK_EQ_INT(kiln_mbqm64(-24, 1 << 30, -3), -1);
    CHECK_EQ_INT(kiln_mbqm64((int64_t)1 << 47, 1 << 30, -31), 32768);
    CHECK_EQ_INT(kiln_mbqm64(-((int64_t)1 << 47), 1 << 30, -31), -32768);
    CHECK_EQ_INT(kiln_mbqm64(INT32_MIN, 1 << 30, 0), INT32_MIN / 2);
    CHECK_EQ_INT(kiln_mbqm64(INT32_MAX, 1 << 30, -31), 0);
    /* 0x7FFF0000 - 1 rounds to 0x7FFF as well: (m + 2^15) >> 16. */
    CHECK_EQ_INT(kiln_mbqm64(1 << 20, 0x7FFEFFFF, 0), (1 << 20) / 32768 * 0x7FFF);
    /* Beyond TFLite's assumed |x| < 2^47 the int64 arithmetic wraps; no UB here. */
    CHECK_EQ_INT(kiln_mbqm64(INT64_MAX, INT32_MAX, 7), ref_mbqm64(INT64_MAX, INT32_MAX, 7));
    CHECK_EQ_INT(kiln_mbqm64(INT64_MIN, INT32_MAX, -31), ref_mbqm64(INT64_MIN, INT32_MAX, -31));
    for (int i = 0; i < 300000; i++) {
        const int64_t x = (int64_t)(rnd() >> 16) - ((int64_t)1 << 47);
        const int32_t m = (int32_t)((1u << 30) + (uint32_t)(rnd() % (1u << 30)));
        const int s = (int)(rnd() % 39) - 31; /* -31..7 */
        if (kiln_mbqm64(x, m, s) != ref_mbqm64(x, m, s)) {
            CHECK_MSG(0, "mbqm64(%lld, %d, %d) = %d, expected %d", (long long)x, m, s,
                      kiln_mbqm64(x, m, s), ref_mbqm64(x, m, s));
            break;
        }
    }
    t_pass++;
}

static void test_quantize_multiplier(void) {
    int32_t m;
    int s;
    kiln_quantize_multiplier(0.0, &m, &s);
    CHECK(m == 0 && s == 0);
    kiln_quantize_multiplier(1.0, &m, &s);
    CHECK(m == (1 << 30) && s == 1);
    kiln_quantize_multiplier(0.5, &m, &s);
    CHECK(m == (1 << 30) && s == 0);
    kiln_quantize_multiplier(0.75, &m, &s);
    CHECK(m == (3 << 29) && s == 0);
    /* q rounds up to 2^31: halve and bump the shift. */
    kiln_quantize_multiplier(1.0 - 1e-12, &m, &s);
    CHECK(m == (1 << 30) && s == 1);
    /* Largest mantissa that does not round up. */
    kiln_quantize_multiplier((double)INT32_MAX / 4294967296.0, &m, &s);
    CHECK(m == INT32_MAX && s == -1);
    /* Flush below 2^-32 to zero (shift < -31). */
    kiln_quantize_multiplier(1e-12, &m, &s);
    CHECK(m == 0 && s == 0);
    kiln_quantize_multiplier(0x1p-32, &m, &s);
    CHECK(m == (1 << 30) && s == -31);
    kiln_quantize_multiplier(0x1p-33, &m, &s);
    CHECK(m == 0 && s == 0);
    kiln_quantize_multiplier(0x1p-31, &m, &s);
    CHECK(m == (1 << 30) && s == -30);
    kiln_quantize_multiplier(3.0, &m, &s);
    CHECK(m == (3 << 29) && s == 2);
    kiln_quantize_multiplier(0x1p40, &m, &s);
    CHECK(m == (1 << 30) && s == 41);
    kiln_quantize_multiplier_single(0x1p40, &m, &s);
    CHECK(m == INT32_MAX && s == 30);
    kiln_quantize_multiplier_smaller_than_one(0.3, &m, &s);
    CHECK(s <= 0 && m >= (1 << 30));
    kiln_quantize_multiplier_greater_than_one(3.0, &m, &s);
    CHECK(s == 2 && m == (3 << 29));
    /* Round half away from zero of q * 2^31: 0.5 + 2^-32 exactly at a tie -> rounds up. */
    kiln_quantize_multiplier(0.5 + 0x1p-32, &m, &s);
    CHECK(m == (1 << 30) + 1 && s == 0);
    /* Random: m * 2^(s-31) within half an ulp of the Q31 mantissa. */
    for (int i = 0; i < 20000; i++) {
        const double real =
            ldexp((double)(rnd() % 1000000 + 1) / 1000000.0, (int)(rnd() % 40) - 30);
        if (real < 0x1p-32) continue;
        kiln_quantize_multiplier(real, &m, &s);
        const double back = ldexp((double)m, s - 31);
        if (!(m >= (1 << 30) && fabs(back - real) <= ldexp(real, -31))) {
            CHECK_MSG(0, "quantize_multiplier(%.17g) = %d, %d", real, m, s);
            break;
        }
    }
    t_pass++;
}

static void test_fp32_requant(void) {
    /* Ties to even (XNNPACK's lrintf / magic bias), both directions. */
    CHECK_EQ_INT(kiln_requant_fp32(5, 0.5f, 0, -128, 127), 2);   /* 2.5 -> 2 */
    CHECK_EQ_INT(kiln_requant_fp32(7, 0.5f, 0, -128, 127), 4);   /* 3.5 -> 4 */
    CHECK_EQ_INT(kiln_requant_fp32(-5, 0.5f, 0, -128, 127), -2); /* -2.5 -> -2 */
    CHECK_EQ_INT(kiln_requant_fp32(-7, 0.5f, 0, -128, 127), -4);
    CHECK_EQ_INT(kiln_requant_fp32(1, 0.5f, 0, -128, 127), 0);
    /* Zero points at their limits: the clamp happens before adding the zero point. */
    CHECK_EQ_INT(kiln_requant_fp32(INT32_MAX, 1.0f, 127, -128, 127), 127);
    CHECK_EQ_INT(kiln_requant_fp32(INT32_MIN, 1.0f, 127, -128, 127), -128);
    CHECK_EQ_INT(kiln_requant_fp32(INT32_MIN, 1.0f, -128, -128, 127), -128);
    CHECK_EQ_INT(kiln_requant_fp32(INT32_MAX, 255.9f, -128, -128, 127), 127);
    CHECK_EQ_INT(kiln_requant_fp32(INT32_MIN, 0x1p-32f, -128, -128, 127), -128);
    CHECK_EQ_INT(kiln_requant_fp32(INT32_MIN, 0x1p-32f, 0, -128, 127), 0); /* -0.5 -> -0 */
    CHECK_EQ_INT(kiln_requant_fp32(255, 1.0f, 0, 0, 255), 255);
    CHECK_EQ_INT(kiln_requant_fp32(-1, 1.0f, 0, 0, 255), 0);
    CHECK_EQ_INT(kiln_requant_fp32(100, 1.0f, 200, 0, 255), 255);
    /* The float conversion of a large accumulator rounds first (2^24 + 1 -> 2^24). */
    CHECK_EQ_INT(kiln_requant_fp32((1 << 24) + 1, 0x1p-24f, 0, -128, 127), 1);
    CHECK_EQ_INT(kiln_xnn_scale(0.5f, 0.25f, 0.125f), 1);
    /* XNNPACK's activation bounds: val / scale + zp, ties to even. */
    CHECK_EQ_INT(kiln_xnn_quantize(6.0f, 4.0f, 1, -128, 127), 2); /* 2.5 -> 2 */
    CHECK_EQ_INT(kiln_xnn_quantize(6.0f, 4.0f, 0, -128, 127), 2); /* 1.5 -> 2 */
    CHECK_EQ_INT(kiln_xnn_quantize(INFINITY, 0.1f, 5, -128, 127), 127);
    CHECK_EQ_INT(kiln_xnn_quantize(-INFINITY, 0.1f, 5, -128, 127), -128);
    CHECK_EQ_INT(kiln_xnn_quantize(0.0f, 0.1f, -128, -128, 127), -128);
    CHECK_EQ_INT(kiln_xnn_quantize(0.0f, 0.1f, 255, 0, 255), 255);
}

static void test_act_ranges(void) {
    int32_t lo, hi;
    /* TFLite: zp + round_away(bound / scale). RELU6 with 6 / 4 = 1.5: TFLite 1 + 2 = 3, the
     * XNNPACK delegate lrintf(1.5 + 1) = 2. */
    kiln_act_range_q(3, 4.0f, 1, -128, 127, &lo, &hi);
    CHECK(lo == 1 && hi == 3);
    kiln_act_range_xnn(3, 4.0f, 1, -128, 127, &lo, &hi);
    CHECK(lo == 1 && hi == 2);
    kiln_act_range_q(0, 0.1f, 3, -128, 127, &lo, &hi);
    CHECK(lo == -128 && hi == 127);
    kiln_act_range_xnn(0, 0.1f, 3, -128, 127, &lo, &hi);
    CHECK(lo == -128 && hi == 127);
    kiln_act_range_q(1, 0.1f, 127, -128, 127, &lo, &hi);
    CHECK(lo == 127 && hi == 127);
    kiln_act_range_q(1, 0.1f, -128, -128, 127, &lo, &hi);
    CHECK(lo == -128 && hi == 127);
    kiln_act_range_q(2, 0.001f, 0, -32768, 32767, &lo, &hi);
    CHECK(lo == -1000 && hi == 1000);
    kiln_act_range_xnn(2, 0.001f, 0, -128, 127, &lo, &hi);
    CHECK(lo == -128 && hi == 127);
    kiln_act_range_q(2, 0.5f, 0, -128, 127, &lo, &hi);
    CHECK(lo == -2 && hi == 2);
    /* RELU6 beyond the type: clamped; a tiny scale does not overflow. */
    kiln_act_range_q(3, 1e-30f, 0, 0, 255, &lo, &hi);
    CHECK(lo == 0 && hi == 255);
    kiln_act_range_q(3, 1.0f, 250, 0, 255, &lo, &hi);
    CHECK(lo == 250 && hi == 255);
    /* Negative tie: RELU_N1_TO_1 with scale 2/3: -1.5 -> -2 (away) vs -2 (even). */
    kiln_act_range_q(2, 2.0f / 3.0f, 0, -128, 127, &lo, &hi);
    CHECK(lo == -2 && hi == 2);
    kiln_act_range_q(4, 0.1f, 0, -128, 127, &lo, &hi); /* TANH: no clamp */
    CHECK(lo == -128 && hi == 127);
}

int main(void) {
    test_wrap_and_shift();
    test_srdhm();
    test_rdbpot();
    test_mbqm();
    test_mbqm_single();
    test_mbqm64();
    test_quantize_multiplier();
    test_fp32_requant();
    test_act_ranges();
    return test_done();
}
