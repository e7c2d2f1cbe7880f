/* gemm_ukr.h: the micro-kernel contract of the GEMM core (internal). A micro-kernel computes
 * one MR x NR tile from packed panels: acc[i][j] = sum_p a[p*MR + i] * b[p*NR + j] over
 * p = 0..k-1 in order, then c[i*ldc + j] = alpha*acc (beta == 0, C not read) or
 * beta*c + alpha*acc. Panels are 64-byte aligned; c has no alignment. */
#ifndef KILN_KERNELS_GEMM_GEMM_UKR_H
#define KILN_KERNELS_GEMM_GEMM_UKR_H

#include <stdint.h>

typedef void (*kiln__sgemm_ukr_fn)(int64_t k, const float *a, const float *b, float *c,
                                   int64_t ldc, float alpha, float beta);

void kiln__f32_gemm_4x8__scalar(int64_t k, const float *a, const float *b, float *c,
                                int64_t ldc, float alpha, float beta);
#if defined(__x86_64__) || defined(__i386__)
void kiln__f32_gemm_6x16__avx2(int64_t k, const float *a, const float *b, float *c,
                               int64_t ldc, float alpha, float beta);
void kiln__f32_gemm_12x32__avx512(int64_t k, const float *a, const float *b, float *c,
                                  int64_t ldc, float alpha, float beta);
#endif

#endif
