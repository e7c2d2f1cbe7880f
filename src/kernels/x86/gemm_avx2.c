/* gemm_avx2.c: the 6x16 AVX2+FMA float micro-kernel of the GEMM core (contract in
 * gemm/gemm_ukr.h): 12 ymm accumulators, two B vectors and a broadcast per row of A. */
#include <immintrin.h>

#include "kernels/gemm/gemm_ukr.h"

#define ROW(i)                                                                                 \
    do {                                                                                       \
        const __m256 av = _mm256_broadcast_ss(a + (i));                                        \
        c##i##0 = _mm256_fmadd_ps(av, b0, c##i##0);                                            \
        c##i##1 = _mm256_fmadd_ps(av, b1, c##i##1);                                            \
    } while (0)

#define STEP()                                                                                 \
    do {                                                                                       \
        const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);                       \
        ROW(0);                                                                                \
        ROW(1);                                                                                \
        ROW(2);                                                                                \
        ROW(3);                                                                                \
        ROW(4);                                                                                \
        ROW(5);                                                                                \
        a += 6;                                                                                \
        b += 16;                                                                               \
    } while (0)

#define OUT(i)                                                                                 \
    do {                                                                                       \
        float *cr = c + (i) * ldc;                                                             \
        if (zero_beta) {                                                                       \
            _mm256_storeu_ps(cr, _mm256_mul_ps(va, c##i##0));                                  \
            _mm256_storeu_ps(cr + 8, _mm256_mul_ps(va, c##i##1));                              \
        } else {                                                                               \
            _mm256_storeu_ps(cr, _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr),                      \
                                                 _mm256_mul_ps(va, c##i##0)));                 \
            _mm256_storeu_ps(cr + 8, _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8),              \
                                                     _mm256_mul_ps(va, c##i##1)));             \
        }                                                                                      \
    } while (0)

void kiln__f32_gemm_6x16__avx2(int64_t k, const float *a, const float *b, float *c,
                               int64_t ldc, float alpha, float beta) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    for (int i = 0; i < 6; i++) _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    int64_t p = 0;
    for (; p + 4 <= k; p += 4) {
        _mm_prefetch((const char *)(b + 256), _MM_HINT_T0);
        STEP();
        STEP();
        _mm_prefetch((const char *)(b + 256), _MM_HINT_T0);
        STEP();
        STEP();
    }
    for (; p < k; p++) STEP();
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    const int zero_beta = beta == 0.0f;
    OUT(0);
    OUT(1);
    OUT(2);
    OUT(3);
    OUT(4);
    OUT(5);
}
