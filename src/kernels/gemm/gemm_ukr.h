/* gemm_ukr.h: the micro-kernel contract of the GEMM core (internal). A micro-kernel computes
 * one MR x NR tile from packed panels: acc[i][j] = sum_p a[p*MR + i] * b[p*NR + j] over
 * p = 0..k-1 in order, then c[i*ldc + j] = alpha*acc (beta == 0, C not read) or
 * beta*c + alpha*acc. Panels are 64-byte aligned; c has no alignment. */
#ifndef KILN_KERNELS_GEMM_GEMM_UKR_H
#define KILN_KERNELS_GEMM_GEMM_UKR_H

#include <stdint.h>

typedef void (*kiln__sgemm_ukr_fn)(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                                   float alpha, float beta);

/* Packs one full panel from a matrix with row stride ld into d, kb steps of MR (or NR)
 * values: an MR-row panel of a row-major A, or an NR-column panel of op(B) = B^T (B
 * row-major, NR rows). d is 64-byte aligned. */
typedef void (*kiln__sgemm_pack_fn)(const float *src, int64_t ld, int64_t kb, float *d);

/* One row of a small product: y[j] = alpha * sum_p x[p] * op(B)[p][j] + beta * y[j] (beta 0:
 * y not read); x contiguous. gemv_t reads B^T (B is n x k), gemv_n a row-major k x n B. */
typedef void (*kiln__sgemv_fn)(int64_t n, int64_t k, float alpha, const float *x, const float *b,
                               int64_t ldb, float beta, float *y);

void kiln__f32_gemm_4x8__scalar(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                                float alpha, float beta);

#if defined(__x86_64__) || defined(__i386__)
void kiln__f32_gemm_6x16__avx2(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                               float alpha, float beta);
void kiln__f32_gemm_pack_a6__avx2(const float *a, int64_t lda, int64_t kb, float *d);
void kiln__f32_gemm_pack_bt16__avx2(const float *b, int64_t ldb, int64_t kb, float *d);
void kiln__f32_gemv_t__avx2(int64_t n, int64_t k, float alpha, const float *x, const float *b,
                            int64_t ldb, float beta, float *y);
void kiln__f32_gemv_n__avx2(int64_t n, int64_t k, float alpha, const float *x, const float *b,
                            int64_t ldb, float beta, float *y);
void kiln__f32_gemm_12x32__avx512(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                                  float alpha, float beta);
#endif

#endif
