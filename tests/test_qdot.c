/* test_qdot.c: the AVX2 8-bit dot products and requantization of the conv / depthwise / fully
 * connected kernels (src/kernels/x86/qdot_avx2.c, qconv_avx2.c) against plain C loops and the
 * scalar rules of kernels/quant.h: random sizes, every tail, extreme values, edge multipliers,
 * shifts and zero points; results must be equal exactly. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "test.h"

#if defined(__x86_64__) || defined(__i386__)
#include "kernels/quant.h"
#include "kernels/x86/cpu.h"
#include "kernels/x86/qdot.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static int32_t rnd_in(int32_t lo, int32_t hi) { /* inclusive */
    return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1));
}
/* An 8-bit value: often one of the extremes, which make the largest products. */
static int32_t rnd8(int32_t lo, int32_t hi, int extreme) {
    if (extreme || rnd() % 4 == 0) return rnd() % 2 ? lo : hi;
    return rnd_in(lo, hi);
}

enum { MAXK = 2048, MAXR = 11, MAXN = 300 };

static void test_rows(int u8, int32_t k, int32_t n_rows, int extreme) {
    static int8_t w[MAXR * (MAXK + 40)];
    static int16_t p[MAXK];
    int32_t got[MAXR], want[MAXR];
    const int64_t stride = k + rnd_in(0, 37);
    const int32_t w_off = u8 ? -rnd8(0, 255, extreme) : 0;
    const int32_t in_off = u8 ? -rnd8(0, 255, extreme) : -rnd8(-128, 127, extreme);
    for (int64_t i = 0; i < stride * n_rows; i++)
        w[i] = (int8_t)(u8 ? rnd8(0, 255, extreme) : rnd8(-128, 127, extreme));
    for (int32_t i = 0; i < k; i++)
        p[i] = (int16_t)((u8 ? rnd8(0, 255, extreme) : rnd8(-128, 127, extreme)) + in_off);
    for (int32_t r = 0; r < n_rows; r++) {
        got[r] = want[r] = rnd_in(-1000, 1000); /* the helpers accumulate */
        for (int32_t i = 0; i < k; i++) {
            const int32_t wv = u8 ? (int32_t)((const uint8_t *)w)[r * stride + i] + w_off
                                  : (int32_t)w[r * stride + i];
            want[r] += wv * p[i];
        }
    }
    if (u8)
        kiln__qdot_rows_u8i16_avx2((const uint8_t *)w, w_off, stride, k, n_rows, p, got);
    else
        kiln__qdot_rows_i8i16_avx2(w, stride, k, n_rows, p, got);
    int ok = 1;
    for (int32_t r = 0; r < n_rows; r++)
        ok &= got[r] == want[r];
    CHECK_MSG(ok, "%s rows: k %d rows %d stride %lld extreme %d", u8 ? "u8" : "i8", k, n_rows,
              (long long)stride, extreme);
}

static void test_dw(int u8, int32_t n, int extreme) {
    uint8_t w[MAXN], x[MAXN];
    int32_t got[MAXN], want[MAXN];
    const int32_t w_off = u8 ? -rnd8(0, 255, extreme) : 0;
    const int32_t x_off = u8 ? -rnd8(0, 255, extreme) : -rnd8(-128, 127, extreme);
    for (int32_t c = 0; c < n; c++) {
        w[c] = (uint8_t)(u8 ? rnd8(0, 255, extreme) : rnd8(-128, 127, extreme));
        x[c] = (uint8_t)(u8 ? rnd8(0, 255, extreme) : rnd8(-128, 127, extreme));
        got[c] = want[c] = rnd_in(-100000, 100000);
        want[c] += u8 ? ((int32_t)w[c] + w_off) * ((int32_t)x[c] + x_off)
                      : (int32_t)(int8_t)w[c] * ((int32_t)(int8_t)x[c] + x_off);
    }
    /* the depth-multiplier form: inputs widened and offset beforehand */
    int16_t xs[MAXN];
    int32_t got2[MAXN];
    for (int32_t c = 0; c < n; c++) {
        xs[c] = (int16_t)((int32_t)(int8_t)x[c] + x_off);
        got2[c] = got[c];
    }
    if (!u8) {
        kiln__qdw_i8i16_avx2((const int8_t *)w, xs, n, got2);
        int ok2 = 1;
        for (int32_t c = 0; c < n; c++)
            ok2 &= got2[c] == want[c];
        CHECK_MSG(ok2, "i8 depthwise (int16 inputs): n %d extreme %d", n, extreme);
    }
    if (u8)
        kiln__qdw_u8_avx2(w, w_off, x, x_off, n, got);
    else
        kiln__qdw_i8_avx2((const int8_t *)w, (const int8_t *)x, x_off, n, got);
    int ok = 1;
    for (int32_t c = 0; c < n; c++)
        ok &= got[c] == want[c];
    CHECK_MSG(ok, "%s depthwise: n %d extreme %d", u8 ? "u8" : "i8", n, extreme);
}

/* ---- qconv_avx2.c ---- */

/* An int32 accumulator: small, large, or one of the extremes. */
static int32_t rnd_acc(void) {
    switch (rnd() % 8) {
    case 0:
        return INT32_MIN + (int32_t)(rnd() % 3);
    case 1:
        return INT32_MAX - (int32_t)(rnd() % 3);
    case 2:
        return (int32_t)(((uint32_t)rnd() << 16) ^ rnd());
    case 3:
        return rnd_in(-1000, 1000);
    default:
        return rnd_in(-2000000, 2000000);
    }
}

/* A multiplier as kiln_quantize_multiplier makes them, with the edges. */
static void rnd_mult(int32_t *m, int32_t *sh) {
    switch (rnd() % 6) {
    case 0:
        *m = 0, *sh = 0;
        return;
    case 1:
        *m = 1 << 30;
        break;
    case 2:
        *m = INT32_MAX;
        break;
    default:
        *m = (1 << 30) + (int32_t)(rnd() % (1u << 30));
    }
    switch (rnd() % 5) {
    case 0:
        *sh = rnd() % 2 ? -31 : 30 + rnd_in(0, 3);
        break;
    case 1:
        *sh = rnd_in(0, 8);
        break;
    default:
        *sh = rnd_in(-20, 0);
    }
}

/* An x whose product with the odd multiplier m is `r` modulo 2^31: the rounding of the doubling
 * high multiply then sits on, or next to, a tie. */
static int32_t x_for_residue(int32_t m, uint32_t r) {
    uint32_t inv = (uint32_t)m; /* Newton's iteration for the inverse of m modulo 2^32 */
    for (int i = 0; i < 5; i++)
        inv *= 2u - (uint32_t)m * inv;
    uint32_t x = (r * inv) & 0x7FFFFFFFu;
    if (rnd() % 2) x |= 0x80000000u; /* the same residue, negative x */
    return (int32_t)x;
}

static void test_mbqm(int32_t n) {
    int32_t x[64], m[64], s[64], got[64];
    static const uint32_t ties[] = {0x3FFFFFFFu, 0x40000000u, 0x40000001u, 0x7FFFFFFFu, 0u, 1u};
    for (int32_t i = 0; i < n; i++) {
        x[i] = rnd_acc();
        rnd_mult(&m[i], &s[i]);
        if (rnd() % 2 && m[i] != 0) {
            m[i] |= 1;
            s[i] = s[i] > 0 ? 0 : s[i]; /* no left shift: x is what gets multiplied */
            x[i] = x_for_residue(m[i], ties[rnd() % 6]);
        }
    }
    kiln__qmbqm_avx2(x, m, s, n, got);
    int ok = 1;
    for (int32_t i = 0; i < n; i++)
        if (got[i] != kiln_mbqm(x[i], m[i], s[i])) {
            ok = 0;
            CHECK_MSG(0, "mbqm x %d m %d shift %d: got %d want %d", x[i], m[i], s[i], got[i],
                      kiln_mbqm(x[i], m[i], s[i]));
            break;
        }
    CHECK(ok);
}

/* Both 8-bit requantizations against quant.h, per-channel parameters, zero points and
 * activation ranges, with and without a bias, every length tail. */
static void test_requant(int u8, int32_t n) {
    int32_t acc[80], bias[80], m[80], sh[80];
    float fs[80];
    uint8_t got[88], want[80];
    const int32_t qmin = u8 ? 0 : -128, qmax = u8 ? 255 : 127;
    const int32_t zp = rnd8(qmin, qmax, 0);
    int32_t lo = rnd() % 2 ? qmin : rnd_in(qmin, qmax), hi = rnd() % 2 ? qmax : rnd_in(lo, qmax);
    const int use_bias = rnd() % 3 != 0;
    for (int32_t i = 0; i < n; i++) {
        acc[i] = rnd_acc();
        bias[i] = rnd() % 4 ? rnd_in(-100000, 100000) : rnd_acc();
        rnd_mult(&m[i], &sh[i]);
        /* XNNPACK's accepted scales [2^-32, 256), often tiny or close to a tie */
        const int e = rnd_in(-32, 7);
        fs[i] = ldexpf(1.0f + (float)(rnd() % 8388608u) / 8388608.0f, e);
        if (rnd() % 8 == 0) fs[i] = ldexpf(1.0f, e);
        if (e == 7) fs[i] = fminf(fs[i], 255.99998f);
    }
    for (int rule = 0; rule < 2; rule++) {
        memset(got, 0xA5, sizeof got);
        for (int32_t i = 0; i < n; i++) {
            const int32_t a = kiln_add_wrap_i32(acc[i], use_bias ? bias[i] : 0);
            int32_t v;
            if (rule == 0)
                v = kiln_requant_fp32(a, fs[i], zp, lo, hi);
            else
                v = kiln_clamp_i32(kiln_add_wrap_i32(kiln_mbqm(a, m[i], sh[i]), zp), lo, hi);
            want[i] = (uint8_t)v;
        }
        if (rule == 0)
            kiln__qrq_fp32_avx2(acc, use_bias ? bias : NULL, fs, n, zp, lo, hi, got, u8);
        else
            kiln__qrq_q31_avx2(acc, use_bias ? bias : NULL, m, sh, n, zp, lo, hi, got, u8);
        int ok = memcmp(got, want, (size_t)n) == 0;
        for (int32_t i = n; i < n + 8; i++)
            ok &= got[i] == 0xA5; /* nothing written past n */
        CHECK_MSG(ok, "%s requant rule %s: n %d zp %d range [%d, %d] bias %d", u8 ? "u8" : "i8",
                  rule ? "q31" : "fp32", n, zp, lo, hi, use_bias);
    }
}

/* Exact ties of the fp32 rule: acc * scale landing on k + 0.5 must round to even. */
static void test_requant_ties(void) {
    int32_t acc[16];
    float fs[16];
    uint8_t got[16];
    for (int i = 0; i < 16; i++) {
        acc[i] = 2 * i + 1 - 16; /* odd: times 0.5 is a tie */
        fs[i] = 0.5f;
    }
    kiln__qrq_fp32_avx2(acc, NULL, fs, 16, 0, -128, 127, got, 0);
    for (int i = 0; i < 16; i++)
        CHECK_EQ_INT((int8_t)got[i], (int32_t)lrintf((float)acc[i] * 0.5f));
}

/* wide: int16x8 patches (any int16, as the int16 conv passes them) with k <= 511. */
static void test_px4w(int u8, int32_t k, int32_t n_rows, int extreme, int wide) {
    static int8_t w[MAXR * (MAXK + 40)];
    static int16_t pb[4][MAXK];
    int32_t got[4 * (MAXR + 3)], want[4 * (MAXR + 3)];
    const int64_t stride = k + rnd_in(0, 37);
    const int32_t w_off = u8 ? -rnd8(0, 255, extreme) : 0;
    const int32_t in_off = u8 ? -rnd8(0, 255, extreme) : -rnd8(-128, 127, extreme);
    const int32_t acc_stride = n_rows + rnd_in(0, 3);
    for (int64_t i = 0; i < stride * n_rows; i++)
        w[i] = (int8_t)(u8 ? rnd8(0, 255, extreme) : rnd8(-128, 127, extreme));
    const int16_t *pp[4];
    for (int j = 0; j < 4; j++) {
        for (int32_t i = 0; i < k; i++)
            pb[j][i] =
                (int16_t)(wide ? rnd8(-32768, 32767, extreme)
                               : (u8 ? rnd8(0, 255, extreme) : rnd8(-128, 127, extreme)) + in_off);
        pp[j] = pb[j];
    }
    if (rnd() % 4 == 0) pp[3] = pp[0]; /* the kernel repeats a pixel at the end */
    for (int j = 0; j < 4; j++)
        for (int32_t r = 0; r < n_rows; r++) {
            int32_t s = 0;
            for (int32_t i = 0; i < k; i++) {
                const int32_t wv = u8 ? (int32_t)((const uint8_t *)w)[r * stride + i] + w_off
                                      : (int32_t)w[r * stride + i];
                s += wv * pp[j][i];
            }
            want[j * acc_stride + r] = s;
            got[j * acc_stride + r] = 12345;
        }
    if (u8)
        kiln__qdot_px4_u8_avx2((const uint8_t *)w, w_off, stride, k, n_rows, pp, got, acc_stride);
    else
        kiln__qdot_px4_i8_avx2(w, stride, k, n_rows, pp, got, acc_stride);
    int ok = 1;
    for (int j = 0; j < 4; j++)
        for (int32_t r = 0; r < n_rows; r++)
            ok &= got[j * acc_stride + r] == want[j * acc_stride + r];
    CHECK_MSG(ok, "%s px4: k %d rows %d stride %lld extreme %d wide %d", u8 ? "u8" : "i8", k,
              n_rows, (long long)stride, extreme, wide);
}

static void test_px4(int u8, int32_t k, int32_t n_rows, int extreme) {
    test_px4w(u8, k, n_rows, extreme, 0);
}

static void test_dw_taps(int u8, int32_t n, int32_t ntaps, int extreme) {
    static uint8_t xb[64][MAXN + 48], wb[64][MAXN];
    int32_t got[MAXN], want[MAXN], got1[MAXN], want1[MAXN];
    const void *xp[64], *wp[64];
    const int32_t w_off = u8 ? -rnd8(0, 255, extreme) : 0;
    const int32_t x_off = u8 ? -rnd8(0, 255, extreme) : -rnd8(-128, 127, extreme);
    const int32_t step = rnd_in(0, 48); /* the second pixel of the two-pixel form */
    for (int32_t t = 0; t < ntaps; t++) {
        for (int32_t c = 0; c < n + step; c++)
            xb[t][c] = (uint8_t)(u8 ? rnd8(0, 255, extreme) : rnd8(-128, 127, extreme));
        for (int32_t c = 0; c < n; c++)
            wb[t][c] = (uint8_t)(u8 ? rnd8(0, 255, extreme) : rnd8(-128, 127, extreme));
        xp[t] = xb[t];
        wp[t] = wb[t];
    }
    for (int32_t c = 0; c < n; c++) {
        int32_t s = 0, s1 = 0;
        for (int32_t t = 0; t < ntaps; t++) {
            const int32_t wv = u8 ? (int32_t)wb[t][c] + w_off : (int32_t)(int8_t)wb[t][c];
            const int32_t x0 = u8 ? (int32_t)xb[t][c] : (int32_t)(int8_t)xb[t][c];
            const int32_t x1 = u8 ? (int32_t)xb[t][c + step] : (int32_t)(int8_t)xb[t][c + step];
            s += wv * (x0 + x_off);
            s1 += wv * (x1 + x_off);
        }
        want[c] = s;
        want1[c] = s1;
        got[c] = got1[c] = -7;
    }
    if (u8)
        kiln__qdw_taps_u8_avx2(xp, wp, ntaps, w_off, x_off, n, got);
    else
        kiln__qdw_taps_i8_avx2(xp, wp, ntaps, x_off, n, got);
    int ok = 1;
    for (int32_t c = 0; c < n; c++)
        ok &= got[c] == want[c];
    CHECK_MSG(ok, "%s depthwise taps: n %d taps %d extreme %d", u8 ? "u8" : "i8", n, ntaps,
              extreme);
    for (int32_t c = 0; c < n; c++)
        got[c] = -7;
    if (u8)
        kiln__qdw_taps2_u8_avx2(xp, wp, ntaps, w_off, x_off, step, n, got, got1);
    else
        kiln__qdw_taps2_i8_avx2(xp, wp, ntaps, x_off, step, n, got, got1);
    ok = 1;
    for (int32_t c = 0; c < n; c++)
        ok &= got[c] == want[c] && got1[c] == want1[c];
    CHECK_MSG(ok, "%s depthwise taps, two pixels: n %d taps %d step %d extreme %d",
              u8 ? "u8" : "i8", n, ntaps, step, extreme);
}

int main(void) {
    if (!(kiln__cpu_features() & KILN_CPU_AVX2)) TEST_SKIP("the CPU has no AVX2");
    for (int u8 = 0; u8 < 2; u8++)
        for (int extreme = 0; extreme < 2; extreme++) {
            /* every K tail (0..31 past a multiple of 16 or 32) and every row tail */
            for (int32_t k = 0; k < 72; k++)
                for (int32_t rows = 0; rows <= 9; rows++)
                    test_rows(u8, k, rows, extreme);
            for (int it = 0; it < 60; it++)
                test_rows(u8, rnd_in(0, MAXK), rnd_in(1, MAXR), extreme);
            test_rows(u8, MAXK, MAXR, extreme);
            for (int32_t n = 0; n < MAXN; n += (n < 40 ? 1 : 17))
                test_dw(u8, n, extreme);
            for (int32_t k = 0; k < 72; k++)
                for (int32_t rows = 0; rows <= 5; rows++)
                    test_px4(u8, k, rows, extreme);
            for (int it = 0; it < 40; it++)
                test_px4(u8, rnd_in(0, MAXK), rnd_in(1, MAXR), extreme);
            test_px4(u8, MAXK, MAXR, extreme);
            for (int32_t n = 0; n < MAXN; n += (n < 40 ? 1 : 17))
                for (int32_t t = 0; t <= 10; t++)
                    test_dw_taps(u8, n, t, extreme);
            test_dw_taps(u8, MAXN, 64, extreme);
            for (int32_t n = 0; n <= 80; n++)
                for (int it = 0; it < 20; it++)
                    test_requant(u8, n);
        }
    for (int32_t n = 0; n <= 64; n++)
        for (int it = 0; it < 200; it++)
            test_mbqm(n);
    test_requant_ties();
    for (int extreme = 0; extreme < 2; extreme++) {
        for (int it = 0; it < 100; it++)
            test_px4w(0, rnd_in(0, 511), rnd_in(1, MAXR), extreme, 1);
        test_px4w(0, 511, MAXR, 1, 1);
    }
    /* the largest products: all weights and inputs at the ends of their ranges */
    {
        static int8_t w[4 * MAXK];
        static int16_t p[MAXK];
        int32_t got[4] = {0, 0, 0, 0};
        for (int32_t i = 0; i < 4 * MAXK; i++)
            w[i] = -128;
        for (int32_t i = 0; i < MAXK; i++)
            p[i] = -255;
        kiln__qdot_rows_i8i16_avx2(w, MAXK, MAXK, 4, p, got);
        CHECK_EQ_INT(got[0], 128 * 255 * MAXK);
        CHECK_EQ_INT(got[3], 128 * 255 * MAXK);
        int32_t acc[16] = {0};
        int8_t x[16];
        for (int i = 0; i < 16; i++)
            x[i] = 127;
        kiln__qdw_i8_avx2(w, x, 128, 16, acc);
        CHECK_EQ_INT(acc[7], -128 * 255);
        uint8_t wu[16], xu[16];
        int32_t accu[16] = {0};
        for (int i = 0; i < 16; i++)
            wu[i] = 0, xu[i] = 255;
        kiln__qdw_u8_avx2(wu, -255, xu, 0, 16, accu);
        CHECK_EQ_INT(accu[15], -255 * 255);
    }
    return test_done();
}
#else
int main(void) {
    TEST_SKIP("AVX2 kernels are x86 only");
}
#endif
