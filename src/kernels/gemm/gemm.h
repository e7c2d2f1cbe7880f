/* gemm.h: the one GEMM core shared by inference kernels and training (packing, micro-kernels
 * chosen by CPU features at run time, optional parallel-for). Row-major throughout. */
#ifndef KILN_KERNELS_GEMM_GEMM_H
#define KILN_KERNELS_GEMM_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, row-major, op(X) = X or X^T.
 * lda/ldb/ldc are row strides in elements. par may be NULL (serial). beta == 0 ignores C's
 * prior contents (NaNs included); alpha == 0 or K == 0 reads neither A nor B. Results do not
 * depend on the thread count (threads split M or N, never K). Allocates nothing: packing
 * buffers are on the calling (and pool) threads' stacks, up to 1.2 MB on x86. */
void kiln_sgemm(const kiln_parallel *par, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                float *c, int64_t ldc);

/* The plain triple loop the optimized paths are tested against. */
void kiln_sgemm_ref(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                    int64_t ldc);

/* Name of the micro-kernel kiln_sgemm uses on this CPU (e.g. "f32_gemm_6x16__avx2"). */
const char *kiln_sgemm_kernel_name(void);

/* Internal, for tests and benchmarks: the micro-kernel variants compiled in (best first),
 * their names, whether this CPU runs them, and kiln_sgemm forced onto variant v (an
 * unsupported v falls back to the best one). path: 0 = automatic, 1 = always the packed
 * blocked path, 2 = always the small-shape direct path. */
int kiln__sgemm_num_variants(void);
const char *kiln__sgemm_variant_name(int v);
int kiln__sgemm_variant_supported(int v);
void kiln__sgemm_variant(int v, int path, const kiln_parallel *par, int trans_a, int trans_b,
                         int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                         const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

#ifdef __cplusplus
}
#endif
#endif
