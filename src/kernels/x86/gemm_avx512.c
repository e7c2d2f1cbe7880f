/* gemm_avx512.c: the 12x32 AVX-512F float micro-kernel of the GEMM core (contract in
 * gemm/gemm_ukr.h): 24 zmm accumulators, two B vectors and a broadcast per row of A. */
#include <immintrin.h>

#include "kernels/gemm/gemm_ukr.h"

void kiln__f32_gemm_12x32__avx512(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                                  float alpha, float beta) {
    __m512 acc[12][2];
    for (int i = 0; i < 12; i++) {
        acc[i][0] = _mm512_setzero_ps();
        acc[i][1] = _mm512_setzero_ps();
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    }
    for (int64_t p = 0; p < k; p++) {
        const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        _mm_prefetch((const char *)(b + 512), _MM_HINT_T0);
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) {
            const __m512 av = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
        }
        a += 12;
        b += 32;
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int i = 0; i < 12; i++) {
        float *cr = c + i * ldc;
        if (beta == 0.0f) {
            _mm512_storeu_ps(cr, _mm512_mul_ps(va, acc[i][0]));
            _mm512_storeu_ps(cr + 16, _mm512_mul_ps(va, acc[i][1]));
        } else {
            _mm512_storeu_ps(
                cr, _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr), _mm512_mul_ps(va, acc[i][0])));
            _mm512_storeu_ps(cr + 16, _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr + 16),
                                                      _mm512_mul_ps(va, acc[i][1])));
        }
    }
}
