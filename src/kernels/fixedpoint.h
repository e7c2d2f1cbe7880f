/* fixedpoint.h: int32 fixed-point transcendental functions as TFLite's reference kernels compute
 * them (the gemmlowp algorithms: exp on negative values by a Taylor polynomial around -1/8 and a
 * barrel of constant multipliers, 1/(1+x) and (1-x)/(1+x) by Newton-Raphson). A value with
 * `ib` integer bits is raw / 2^(31 - ib). Bit-exactness with TFLite depends on every rounding
 * step here, so each follows the published algorithm step by step. */
#ifndef KILN_KERNELS_FIXEDPOINT_H
#define KILN_KERNELS_FIXEDPOINT_H

#include <stdint.h>

#include "kernels/quant.h"

/* Saturating multiply by 2^e (e > 0: saturating left shift; e < 0: rounding right shift). */
static inline int32_t kiln_fp_mulpot(int32_t x, int e) {
    if (e == 0) return x;
    if (e < 0) return kiln_rdbpot(x, -e);
    const int32_t threshold = (int32_t)((1u << (31 - e)) - 1);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return (int32_t)((uint32_t)x << e);
}

/* Changes the number of integer bits from src to dst. */
static inline int32_t kiln_fp_rescale(int32_t x, int src_ib, int dst_ib) {
    return kiln_fp_mulpot(x, src_ib - dst_ib);
}

/* (a + b) / 2 rounded half away from zero. */
static inline int32_t kiln_fp_rhalfsum(int32_t a, int32_t b) {
    const int64_t s = (int64_t)a + b;
    return (int32_t)((s + (s >= 0 ? 1 : -1)) / 2);
}

/* Wrapping add/sub, as gemmlowp's raw int32 arithmetic. */
static inline int32_t kiln_fp_add(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}
static inline int32_t kiln_fp_sub(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* The constant c given as a Q0.31 raw value of the 32-bit format. */
#define KILN_FP_ONE_Q0 INT32_MAX

/* exp(a) for a in [-1/4, 0), a and result with 0 integer bits. */
static inline int32_t kiln_fp_exp_quarter(int32_t a) {
    const int32_t c_exp_m1_8 = 1895147668;     /* exp(-1/8) */
    const int32_t c_1_3 = 715827883;           /* 1/3 */
    const int32_t x = kiln_fp_add(a, 1 << 28); /* a + 1/8 */
    const int32_t x2 = kiln_srdhm(x, x);
    const int32_t x3 = kiln_srdhm(x2, x);
    const int32_t x4 = kiln_srdhm(x2, x2);
    const int32_t x4_4 = kiln_fp_mulpot(x4, -2);
    const int32_t poly =
        kiln_fp_mulpot(kiln_fp_add(kiln_srdhm(kiln_fp_add(x4_4, x3), c_1_3), x2), -1);
    return kiln_fp_add(c_exp_m1_8, kiln_srdhm(c_exp_m1_8, kiln_fp_add(x, poly)));
}

/* exp(a) for a <= 0 with `ib` integer bits; result with 0 integer bits. */
static inline int32_t kiln_fp_exp_neg(int32_t a, int ib) {
    const int fb = 31 - ib;
    const int32_t quarter = (int32_t)1 << (fb - 2);
    const int32_t mask = quarter - 1;
    const int32_t a_mod = kiln_fp_sub(a & mask, quarter);
    int32_t result = kiln_fp_exp_quarter(kiln_fp_rescale(a_mod, ib, 0));
    const int32_t remainder = kiln_fp_sub(a_mod, a);
    /* exp(-2^k) multipliers for k = -2..4, applied where that bit of the remainder is set. */
    static const int32_t mult[7] = {1672461947, 1302514674, 790015084, 290630308,
                                    39332535,   720401,     242};
    for (int k = -2; k <= 4; k++) {
        if (ib > k) {
            const int shift = fb + k;
            if (remainder & ((int32_t)1 << shift)) result = kiln_srdhm(result, mult[k + 2]);
        }
    }
    if (ib > 5) {
        const int32_t clamp = -((int32_t)1 << (36 - ib)); /* -32 */
        if (a < clamp) result = 0;
    }
    if (a == 0) result = KILN_FP_ONE_Q0;
    return result;
}

/* 1 / (1 + a) for a in (0, 1), both with 0 integer bits (Newton-Raphson in Q2.29). */
static inline int32_t kiln_fp_one_over_one_plus(int32_t a) {
    const int32_t half_den = kiln_fp_rhalfsum(a, KILN_FP_ONE_Q0);
    const int32_t c48_17 = 1515870810, cm32_17 = -1010580540;
    const int32_t one_q2 = (int32_t)1 << 29;
    int32_t x = kiln_fp_add(c48_17, kiln_srdhm(half_den, cm32_17));
    for (int i = 0; i < 3; i++) {
        const int32_t hdx = kiln_srdhm(half_den, x);
        const int32_t one_minus = kiln_fp_sub(one_q2, hdx);
        x = kiln_fp_add(x, kiln_fp_rescale(kiln_srdhm(x, one_minus), 4, 2));
    }
    /* ExactMulByPot<-1> turns Q2 into Q1 at the same raw value; then rescale Q1 -> Q0. */
    return kiln_fp_rescale(x, 1, 0);
}

/* (1 - a) / (1 + a) for a in (0, 1), 0 integer bits. */
static inline int32_t kiln_fp_one_minus_over_one_plus(int32_t a) {
    const int32_t half_den = kiln_fp_rhalfsum(a, KILN_FP_ONE_Q0);
    const int32_t c48_17 = 1515870810, cm32_17 = -1010580540;
    const int32_t one_q2 = (int32_t)1 << 29;
    int32_t x = kiln_fp_add(c48_17, kiln_srdhm(half_den, cm32_17));
    for (int i = 0; i < 3; i++) {
        const int32_t hdx = kiln_srdhm(half_den, x);
        const int32_t one_minus = kiln_fp_sub(one_q2, hdx);
        x = kiln_fp_add(x, kiln_fp_rescale(kiln_srdhm(x, one_minus), 4, 2));
    }
    return kiln_fp_rescale(kiln_fp_sub(x, one_q2), 2, 0);
}

/* logistic(a) with `ib` integer bits in; 0 integer bits out. */
static inline int32_t kiln_fp_logistic(int32_t a, int ib) {
    if (a == 0) return 1 << 30;
    const int pos = a > 0;
    const int32_t abs_a = pos ? a : (int32_t)(0u - (uint32_t)a);
    const int32_t r =
        kiln_fp_one_over_one_plus(kiln_fp_exp_neg((int32_t)(0u - (uint32_t)abs_a), ib));
    return pos ? r : kiln_fp_sub(KILN_FP_ONE_Q0, r);
}

/* tanh(a) with `ib` integer bits in; 0 integer bits out. */
static inline int32_t kiln_fp_tanh(int32_t a, int ib) {
    if (a == 0) return 0;
    const int neg = a < 0;
    const int32_t n = neg ? a : (int32_t)(0u - (uint32_t)a); /* n <= 0 */
    /* ExactMulByPot<1>: the same raw value read with ib + 1 integer bits, i.e. 2n. */
    const int32_t t = kiln_fp_one_minus_over_one_plus(kiln_fp_exp_neg(n, ib + 1));
    return neg ? (int32_t)(0u - (uint32_t)t) : t;
}

/* Count of leading zero bits of a 32-bit value (32 for 0). */
static inline int kiln_clz32(uint32_t x) {
    if (!x) return 32;
    int n = 0;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
}

/* TFLite's GetReciprocal: 1/x for x with `ib` integer bits, as a Q0.31 value and the number of
 * bits of x above one. */
static inline int32_t kiln_fp_reciprocal(int32_t x, int ib, int *bits_over_unit) {
    const int headroom_plus_one = kiln_clz32((uint32_t)x);
    *bits_over_unit = ib - headroom_plus_one;
    const int32_t shifted_minus_one =
        (int32_t)(((uint32_t)x << headroom_plus_one) - ((uint32_t)1 << 31));
    return kiln_fp_one_over_one_plus(shifted_minus_one);
}

#endif
