/* test_qdot.c: the AVX2 8-bit dot products of the conv / depthwise / fully connected kernels
 * (src/kernels/x86/qdot_avx2.c) against plain C loops: random sizes, every K tail, extreme
 * values; the sums must be equal exactly. */
#include <stdint.h>

#include "test.h"

#if defined(__x86_64__) || defined(__i386__)
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
