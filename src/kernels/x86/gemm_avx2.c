/* gemm_avx2.c: the 6x16 AVX2+FMA float micro-kernel of the GEMM core (contract in
 * gemm/gemm_ukr.h): 12 ymm accumulators, two B vectors and a broadcast per row of A. */
#include <immintrin.h>

#include "kernels/gemm/gemm_ukr.h"

#define ROW(i)                                                                                     \
    do {                                                                                           \
        const __m256 av = _mm256_broadcast_ss(a + (i));                                            \
        c##i##0 = _mm256_fmadd_ps(av, b0, c##i##0);                                                \
        c##i##1 = _mm256_fmadd_ps(av, b1, c##i##1);                                                \
    } while (0)

#define STEP()                                                                                     \
    do {                                                                                           \
        const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);                           \
        ROW(0);                                                                                    \
        ROW(1);                                                                                    \
        ROW(2);                                                                                    \
        ROW(3);                                                                                    \
        ROW(4);                                                                                    \
        ROW(5);                                                                                    \
        a += 6;                                                                                    \
        b += 16;                                                                                   \
    } while (0)

#define OUT(i)                                                                                     \
    do {                                                                                           \
        float *cr = c + (i)*ldc;                                                                   \
        if (zero_beta) {                                                                           \
            _mm256_storeu_ps(cr, _mm256_mul_ps(va, c##i##0));                                      \
            _mm256_storeu_ps(cr + 8, _mm256_mul_ps(va, c##i##1));                                  \
        } else {                                                                                   \
            _mm256_storeu_ps(                                                                      \
                cr, _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr), _mm256_mul_ps(va, c##i##0)));         \
            _mm256_storeu_ps(                                                                      \
                cr + 8, _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8), _mm256_mul_ps(va, c##i##1))); \
        }                                                                                          \
    } while (0)

void kiln__f32_gemm_6x16__avx2(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                               float alpha, float beta) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (int i = 0; i < 6; i++)
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    int64_t p = 0;
    for (; p + 4 <= k; p += 4) {
        _mm_prefetch((const char *)(b + 256), _MM_HINT_T0);
        STEP();
        STEP();
        _mm_prefetch((const char *)(b + 256), _MM_HINT_T0);
        STEP();
        STEP();
    }
    for (; p < k; p++)
        STEP();
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const int zero_beta = beta == 0.0f;
    OUT(0);
    OUT(1);
    OUT(2);
    OUT(3);
    OUT(4);
    OUT(5);
}

/* Packs a full 6-row panel of a row-major A (6 rows x kb, row stride lda) into the layout of
 * the 6x16 kernel (kb steps of 6 values): 8x8 transposes of 8 columns at a time. */
void kiln__f32_gemm_pack_a6__avx2(const float *a, int64_t lda, int64_t kb, float *d) {
    const float *r0 = a, *r1 = a + lda, *r2 = a + 2 * lda, *r3 = a + 3 * lda;
    const float *r4 = a + 4 * lda, *r5 = a + 5 * lda;
    int64_t p = 0;
    for (; p + 8 <= kb; p += 8, d += 48) {
        const __m256 x0 = _mm256_loadu_ps(r0 + p), x1 = _mm256_loadu_ps(r1 + p);
        const __m256 x2 = _mm256_loadu_ps(r2 + p), x3 = _mm256_loadu_ps(r3 + p);
        const __m256 x4 = _mm256_loadu_ps(r4 + p), x5 = _mm256_loadu_ps(r5 + p);
        const __m256 t0 = _mm256_unpacklo_ps(x0, x1), t1 = _mm256_unpackhi_ps(x0, x1);
        const __m256 t2 = _mm256_unpacklo_ps(x2, x3), t3 = _mm256_unpackhi_ps(x2, x3);
        const __m256 t4 = _mm256_unpacklo_ps(x4, x5), t5 = _mm256_unpackhi_ps(x4, x5);
        /* s0 = rows 0-3 of columns 0 (low half) and 4 (high half); s1: 1 and 5; ... */
        const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
        const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
        /* Rows 4-5: t4 holds columns 0,1 (low) and 4,5 (high), t5 columns 2,3 and 6,7. */
        const __m128 e01 = _mm256_castps256_ps128(t4), e45 = _mm256_extractf128_ps(t4, 1);
        const __m128 e23 = _mm256_castps256_ps128(t5), e67 = _mm256_extractf128_ps(t5, 1);
        _mm_storeu_ps(d + 0, _mm256_castps256_ps128(s0));
        _mm_storel_pi((__m64 *)(d + 4), e01);
        _mm_storeu_ps(d + 6, _mm256_castps256_ps128(s1));
        _mm_storeh_pi((__m64 *)(d + 10), e01);
        _mm_storeu_ps(d + 12, _mm256_castps256_ps128(s2));
        _mm_storel_pi((__m64 *)(d + 16), e23);
        _mm_storeu_ps(d + 18, _mm256_castps256_ps128(s3));
        _mm_storeh_pi((__m64 *)(d + 22), e23);
        _mm_storeu_ps(d + 24, _mm256_extractf128_ps(s0, 1));
        _mm_storel_pi((__m64 *)(d + 28), e45);
        _mm_storeu_ps(d + 30, _mm256_extractf128_ps(s1, 1));
        _mm_storeh_pi((__m64 *)(d + 34), e45);
        _mm_storeu_ps(d + 36, _mm256_extractf128_ps(s2, 1));
        _mm_storel_pi((__m64 *)(d + 40), e67);
        _mm_storeu_ps(d + 42, _mm256_extractf128_ps(s3, 1));
        _mm_storeh_pi((__m64 *)(d + 46), e67);
    }
    for (; p < kb; p++, d += 6) {
        d[0] = r0[p];
        d[1] = r1[p];
        d[2] = r2[p];
        d[3] = r3[p];
        d[4] = r4[p];
        d[5] = r5[p];
    }
}

/* 8x8 transpose of r[0..7] in place. */
static inline void transpose8(__m256 r[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* Packs a full 16-column panel of op(B) = B^T (B row-major, 16 rows x kb, row stride ldb)
 * into the layout of the 6x16 kernel (kb rows of 16 values). */
void kiln__f32_gemm_pack_bt16__avx2(const float *b, int64_t ldb, int64_t kb, float *d) {
    int64_t p = 0;
    for (; p + 8 <= kb; p += 8, d += 128) {
        for (int h = 0; h < 2; h++) {
            __m256 r[8];
            for (int j = 0; j < 8; j++)
                r[j] = _mm256_loadu_ps(b + (h * 8 + j) * ldb + p);
            transpose8(r);
            for (int q = 0; q < 8; q++)
                _mm256_store_ps(d + q * 16 + h * 8, r[q]);
        }
    }
    for (; p < kb; p++, d += 16)
        for (int j = 0; j < 16; j++)
            d[j] = b[j * ldb + p];
}

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float out1(float alpha, float acc, float beta, const float *y) {
    return beta == 0.0f ? alpha * acc : beta * *y + alpha * acc;
}

/* y[j] = alpha * sum_p x[p] * b[j*ldb + p] + beta * y[j], j < n: one row of A times B^T
 * (FULLY_CONNECTED at batch 1), four rows of B at a time. */
void kiln__f32_gemv_t__avx2(int64_t n, int64_t k, float alpha, const float *x, const float *b,
                            int64_t ldb, float beta, float *y) {
    int64_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *b0 = b + j * ldb, *b1 = b0 + ldb, *b2 = b1 + ldb, *b3 = b2 + ldb;
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
        __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
        int64_t p = 0;
        for (; p + 8 <= k; p += 8) {
            const __m256 xv = _mm256_loadu_ps(x + p);
            s0 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(b0 + p), s0);
            s1 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(b1 + p), s1);
            s2 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(b2 + p), s2);
            s3 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(b3 + p), s3);
        }
        float r0 = hsum8(s0), r1 = hsum8(s1), r2 = hsum8(s2), r3 = hsum8(s3);
        for (; p < k; p++) {
            r0 += x[p] * b0[p];
            r1 += x[p] * b1[p];
            r2 += x[p] * b2[p];
            r3 += x[p] * b3[p];
        }
        y[j] = out1(alpha, r0, beta, y + j);
        y[j + 1] = out1(alpha, r1, beta, y + j + 1);
        y[j + 2] = out1(alpha, r2, beta, y + j + 2);
        y[j + 3] = out1(alpha, r3, beta, y + j + 3);
    }
    for (; j < n; j++) {
        const float *b0 = b + j * ldb;
        __m256 s0 = _mm256_setzero_ps();
        int64_t p = 0;
        for (; p + 8 <= k; p += 8)
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p), _mm256_loadu_ps(b0 + p), s0);
        float r0 = hsum8(s0);
        for (; p < k; p++)
            r0 += x[p] * b0[p];
        y[j] = out1(alpha, r0, beta, y + j);
    }
}

/* y[j] = alpha * sum_p x[p] * b[p*ldb + j] + beta * y[j], j < n: one row of A times a
 * row-major B, 32 columns at a time. */
void kiln__f32_gemv_n__avx2(int64_t n, int64_t k, float alpha, const float *x, const float *b,
                            int64_t ldb, float beta, float *y) {
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    int64_t j = 0;
    for (; j + 8 <= n;) {
        const int w = j + 32 <= n ? 4 : 1;
        __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                       _mm256_setzero_ps()};
        const float *bp = b + j;
        if (w == 4) {
            for (int64_t p = 0; p < k; p++, bp += ldb) {
                const __m256 xv = _mm256_broadcast_ss(x + p);
                s[0] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(bp), s[0]);
                s[1] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(bp + 8), s[1]);
                s[2] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(bp + 16), s[2]);
                s[3] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(bp + 24), s[3]);
            }
        } else {
            for (int64_t p = 0; p < k; p++, bp += ldb)
                s[0] = _mm256_fmadd_ps(_mm256_broadcast_ss(x + p), _mm256_loadu_ps(bp), s[0]);
        }
        for (int q = 0; q < w; q++, j += 8) {
            const __m256 r = _mm256_mul_ps(va, s[q]);
            _mm256_storeu_ps(y + j,
                             beta == 0.0f ? r : _mm256_fmadd_ps(vb, _mm256_loadu_ps(y + j), r));
        }
    }
    for (; j < n; j++) {
        float r = 0.0f;
        for (int64_t p = 0; p < k; p++)
            r += x[p] * b[p * ldb + j];
        y[j] = out1(alpha, r, beta, y + j);
    }
}
