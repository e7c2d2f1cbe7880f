/* gemm.c: the float GEMM core shared by inference and training (BLIS/GotoBLAS scheme: pack B
 * panels and A blocks, cache-block K/M/N, run an MR x NR micro-kernel chosen by CPU features).
 * Deterministic: the K blocking depends only on K, and threads split M or N, never K. */
#include "kernels/gemm/gemm.h"

#include <string.h>

#include "kernels/gemm/gemm_ukr.h"
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/cpu.h"
#endif

typedef struct variant {
    const char *name;
    int mr, nr;
    int kc, mc, nc; /* cache blocks: kc*nr floats in L1, mc*kc in L2, kc*nc in L3 */
    uint32_t need;  /* KILN_CPU_* bits the variant needs */
    kiln__sgemm_ukr_fn ukr;
    kiln__sgemm_pack_fn pack_a;    /* for full panels of a row-major A, or NULL */
    kiln__sgemm_pack_fn pack_bt;   /* for full panels of a transposed B, or NULL */
    kiln__sgemv_fn gemv_t, gemv_n; /* rows of small products, or NULL */
} variant;

/* Packing buffers are on the stack, sized for the largest blocks of the variants built. */
#if defined(__x86_64__) || defined(__i386__)
#define KC_MAX 256
#define MC_MAX 144
#define NC_MAX 1024
#else
#define KC_MAX 128
#define MC_MAX 64
#define NC_MAX 256
#endif
#define MR_MAX 12
#define NR_MAX 32

/* Blocks for Zen 3 / Skylake-class caches (32-48 KB L1, 512 KB-1 MB L2), as BLIS uses. */
static const variant variants[] = {
#if defined(__x86_64__) || defined(__i386__)
    {"f32_gemm_12x32__avx512", 12, 32, 256, 144, 1024, KILN_CPU_AVX512,
     kiln__f32_gemm_12x32__avx512, NULL, NULL, kiln__f32_gemv_t__avx2, kiln__f32_gemv_n__avx2},
    {"f32_gemm_6x16__avx2", 6, 16, 256, 144, 1024, KILN_CPU_AVX2, kiln__f32_gemm_6x16__avx2,
     kiln__f32_gemm_pack_a6__avx2, kiln__f32_gemm_pack_bt16__avx2, kiln__f32_gemv_t__avx2,
     kiln__f32_gemv_n__avx2},
#endif
    {"f32_gemm_4x8__scalar", 4, 8, 128, 64, 256, 0, kiln__f32_gemm_4x8__scalar, NULL, NULL, NULL,
     NULL},
};
#define NVARIANTS ((int)(sizeof variants / sizeof variants[0]))

static uint32_t cpu_features(void) {
#if defined(__x86_64__) || defined(__i386__)
    return kiln__cpu_features();
#else
    return 0;
#endif
}

static int supported(int v) {
    return (variants[v].need & ~cpu_features()) == 0;
}

static const variant *best_variant(void) {
    for (int v = 0; v < NVARIANTS; v++)
        if (supported(v)) return &variants[v];
    return &variants[NVARIANTS - 1];
}

/* The portable micro-kernel: plain C the compiler may vectorise. */
void kiln__f32_gemm_4x8__scalar(int64_t k, const float *a, const float *b, float *c, int64_t ldc,
                                float alpha, float beta) {
    float acc[4][8];
    memset(acc, 0, sizeof acc);
    for (int64_t p = 0; p < k; p++) {
        for (int i = 0; i < 4; i++) {
            const float av = a[i];
            for (int j = 0; j < 8; j++)
                acc[i][j] += av * b[j];
        }
        a += 4;
        b += 8;
    }
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++) {
            float *cp = c + i * ldc + j;
            *cp = beta == 0.0f ? alpha * acc[i][j] : beta * *cp + alpha * acc[i][j];
        }
}

/* ---- packing ------------------------------------------------------------------------------ */

/* Packs op(A)[i0.., p0..] (mb x kb) into MR-row panels, each kb steps of MR values; rows past
 * mb are zero so edge tiles run the same micro-kernel. */
static void pack_a(const variant *v, int ta, const float *a, int64_t lda, int64_t i0, int64_t mb,
                   int64_t p0, int64_t kb, float *dst) {
    const int mr = v->mr;
    for (int64_t r = 0; r < mb; r += mr) {
        const int rows = (int)(mb - r < mr ? mb - r : mr);
        float *d = dst + r * kb;
        if (!ta && rows == mr && v->pack_a) {
            v->pack_a(a + (i0 + r) * lda + p0, lda, kb, d);
        } else if (!ta) {
            const float *src[MR_MAX];
            for (int i = 0; i < rows; i++)
                src[i] = a + (i0 + r + i) * lda + p0;
            for (int64_t p = 0; p < kb; p++) {
                for (int i = 0; i < rows; i++)
                    d[i] = src[i][p];
                for (int i = rows; i < mr; i++)
                    d[i] = 0.0f;
                d += mr;
            }
        } else {
            const float *s = a + p0 * lda + i0 + r;
            for (int64_t p = 0; p < kb; p++) {
                for (int i = 0; i < rows; i++)
                    d[i] = s[i];
                for (int i = rows; i < mr; i++)
                    d[i] = 0.0f;
                d += mr;
                s += lda;
            }
        }
    }
}

/* Packs op(B)[p0.., j0..] (kb x nb) into NR-column panels, each kb rows of NR values; columns
 * past nb are zero. */
static void pack_b(const variant *v, int tb, const float *b, int64_t ldb, int64_t p0, int64_t kb,
                   int64_t j0, int64_t nb, float *dst) {
    const int nr = v->nr;
    for (int64_t s = 0; s < nb; s += nr) {
        const int cols = (int)(nb - s < nr ? nb - s : nr);
        float *d = dst + s * kb;
        if (!tb) {
            const float *src = b + p0 * ldb + j0 + s;
            if (cols == 16 && nr == 16) {
                /* The common case, with a copy of constant size the compiler inlines. */
                for (int64_t p = 0; p < kb; p++, d += 16, src += ldb)
                    memcpy(d, src, 16 * sizeof(float));
                continue;
            }
            for (int64_t p = 0; p < kb; p++) {
                memcpy(d, src, (size_t)cols * sizeof(float));
                for (int j = cols; j < nr; j++)
                    d[j] = 0.0f;
                d += nr;
                src += ldb;
            }
        } else if (cols == nr && v->pack_bt) {
            v->pack_bt(b + (j0 + s) * ldb + p0, ldb, kb, d);
        } else {
            if (cols < nr)
                for (int64_t p = 0; p < kb; p++)
                    for (int j = cols; j < nr; j++)
                        d[p * nr + j] = 0.0f;
            for (int j = 0; j < cols; j++) {
                const float *src = b + (j0 + s + j) * ldb + p0;
                for (int64_t p = 0; p < kb; p++)
                    d[p * nr + j] = src[p];
            }
        }
    }
}

/* ---- blocked path ------------------------------------------------------------------------- */

static void macro_kernel(const variant *v, int64_t mb, int64_t nb, int64_t kb, const float *ap,
                         const float *bp, float *c, int64_t ldc, float alpha, float beta) {
    const int mr = v->mr, nr = v->nr;
    _Alignas(64) float tile[MR_MAX * NR_MAX];
    for (int64_t jr = 0; jr < nb; jr += nr) {
        const int cols = (int)(nb - jr < nr ? nb - jr : nr);
        for (int64_t ir = 0; ir < mb; ir += mr) {
            const int rows = (int)(mb - ir < mr ? mb - ir : mr);
            float *cp = c + ir * ldc + jr;
            if (rows == mr && cols == nr) {
                v->ukr(kb, ap + ir * kb, bp + jr * kb, cp, ldc, alpha, beta);
                continue;
            }
            /* Edge tile: the same micro-kernel on a copy, so every element of C sees the same
             * arithmetic wherever the tile boundaries fall. */
            memset(tile, 0, sizeof tile);
            if (beta != 0.0f)
                for (int i = 0; i < rows; i++)
                    memcpy(tile + i * nr, cp + i * ldc, (size_t)cols * sizeof(float));
            v->ukr(kb, ap + ir * kb, bp + jr * kb, tile, nr, alpha, beta);
            for (int i = 0; i < rows; i++)
                memcpy(cp + i * ldc, tile + i * nr, (size_t)cols * sizeof(float));
        }
    }
}

/* K is cut into equal blocks of at most kc: the cut depends on K only (determinism). */
static int64_t k_block(const variant *v, int64_t k) {
    const int64_t nblocks = (k + v->kc - 1) / v->kc;
    return (k + nblocks - 1) / nblocks;
}

/* M blocks of at most mc rows, as equal as whole micro-panels allow (balances threads; M
 * blocking does not change any element's arithmetic). */
static int64_t m_block(const variant *v, int64_t m) {
    const int64_t nblocks = (m + v->mc - 1) / v->mc;
    const int64_t rows = (m + nblocks - 1) / nblocks;
    return (rows + v->mr - 1) / v->mr * v->mr;
}

static void gemm_blocked(const variant *v, int ta, int tb, int64_t m, int64_t n, int64_t k,
                         float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                         float beta, float *c, int64_t ldc) {
    /* Packing buffers live on the stack (1.2 MB on x86, 160 KB elsewhere): the core
     * allocates nothing. libkiln's pool gives its threads 8 MB stacks. */
    _Alignas(64) float abuf[MC_MAX * KC_MAX];
    _Alignas(64) float bbuf[KC_MAX * NC_MAX];
    const int64_t kcb = k_block(v, k), mcb = m_block(v, m);
    for (int64_t jc = 0; jc < n; jc += v->nc) {
        const int64_t nb = n - jc < v->nc ? n - jc : v->nc;
        for (int64_t pc = 0; pc < k; pc += kcb) {
            const int64_t kb = k - pc < kcb ? k - pc : kcb;
            pack_b(v, tb, b, ldb, pc, kb, jc, nb, bbuf);
            const float beta_k = pc == 0 ? beta : 1.0f;
            for (int64_t ic = 0; ic < m; ic += mcb) {
                const int64_t mb = m - ic < mcb ? m - ic : mcb;
                pack_a(v, ta, a, lda, ic, mb, pc, kb, abuf);
                macro_kernel(v, mb, nb, kb, abuf, bbuf, c + ic * ldc + jc, ldc, alpha, beta_k);
            }
        }
    }
}

/* ---- small shapes: no packing ------------------------------------------------------------- */

#define DIRECT_NB 256

static void gemm_direct(const variant *v, int ta, int tb, int64_t m, int64_t n, int64_t k,
                        float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                        float beta, float *c, int64_t ldc) {
    const int64_t sa = ta ? lda : 1; /* stride of op(A) along k */
    for (int64_t i = 0; i < m; i++) {
        const float *ar = ta ? a + i : a + i * lda;
        float *cr = c + i * ldc;
        if (sa == 1 && tb && v->gemv_t) {
            v->gemv_t(n, k, alpha, ar, b, ldb, beta, cr);
        } else if (sa == 1 && !tb && v->gemv_n) {
            v->gemv_n(n, k, alpha, ar, b, ldb, beta, cr);
        } else if (tb) {
            /* op(B) columns are rows of B: dot products with 8 partial sums. */
            for (int64_t j = 0; j < n; j++) {
                const float *br = b + j * ldb;
                float s8[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                int64_t p = 0;
                for (; p + 8 <= k; p += 8)
                    for (int q = 0; q < 8; q++)
                        s8[q] += ar[(p + q) * sa] * br[p + q];
                float s = ((s8[0] + s8[1]) + (s8[2] + s8[3])) + ((s8[4] + s8[5]) + (s8[6] + s8[7]));
                for (; p < k; p++)
                    s += ar[p * sa] * br[p];
                cr[j] = beta == 0.0f ? alpha * s : beta * cr[j] + alpha * s;
            }
        } else {
            /* Rows of B are contiguous: accumulate a block of C's row. */
            for (int64_t j0 = 0; j0 < n; j0 += DIRECT_NB) {
                const int64_t nb = n - j0 < DIRECT_NB ? n - j0 : DIRECT_NB;
                float acc[DIRECT_NB];
                for (int64_t j = 0; j < nb; j++)
                    acc[j] = 0.0f;
                for (int64_t p = 0; p < k; p++) {
                    const float av = ar[p * sa];
                    const float *br = b + p * ldb + j0;
                    for (int64_t j = 0; j < nb; j++)
                        acc[j] += av * br[j];
                }
                for (int64_t j = 0; j < nb; j++)
                    cr[j0 + j] = beta == 0.0f ? alpha * acc[j] : beta * cr[j0 + j] + alpha * acc[j];
            }
        }
    }
}

/* ---- dispatch and threads ----------------------------------------------------------------- */

/* The threaded path: for each (N block, K block) the threads pack B's panels together into
 * one shared buffer, then take (M block, column range) tasks, each packing its own A block.
 * Every element of C gets the same operations in the same order as in gemm_blocked. */
typedef struct pjob {
    const variant *v;
    int ta, tb;
    int64_t m, n, k;
    float alpha, beta;
    const float *a, *b;
    float *c;
    int64_t lda, ldb, ldc;
    float *bbuf;                 /* the shared packed B block */
    int64_t jc, nb, pc, kb, mcb; /* the current block */
    float beta_k;
    int64_t panels, pack_per_task; /* B panels of the block; panels packed per pack task */
    int64_t nparts, per_part;      /* column ranges per M block; panels per range */
} pjob;

static void pack_task(void *arg, int32_t t) {
    const pjob *j = (const pjob *)arg;
    const int64_t p0 = (int64_t)t * j->pack_per_task;
    if (p0 >= j->panels) return;
    const int64_t p1 = p0 + j->pack_per_task < j->panels ? p0 + j->pack_per_task : j->panels;
    const int64_t s0 = p0 * j->v->nr, s1 = p1 * j->v->nr < j->nb ? p1 * j->v->nr : j->nb;
    pack_b(j->v, j->tb, j->b, j->ldb, j->pc, j->kb, j->jc + s0, s1 - s0, j->bbuf + s0 * j->kb);
}

static void macro_task(void *arg, int32_t t) {
    const pjob *j = (const pjob *)arg;
    const variant *v = j->v;
    const int64_t ic = (int64_t)(t / j->nparts) * j->mcb, part = t % j->nparts;
    const int64_t s0 = part * j->per_part * v->nr;
    if (ic >= j->m || s0 >= j->nb) return;
    const int64_t mb = j->m - ic < j->mcb ? j->m - ic : j->mcb;
    const int64_t s1 = s0 + j->per_part * v->nr < j->nb ? s0 + j->per_part * v->nr : j->nb;
    _Alignas(64) float abuf[MC_MAX * KC_MAX];
    pack_a(v, j->ta, j->a, j->lda, ic, mb, j->pc, j->kb, abuf);
    macro_kernel(v, mb, s1 - s0, j->kb, abuf, j->bbuf + s0 * j->kb, j->c + ic * j->ldc + j->jc + s0,
                 j->ldc, j->alpha, j->beta_k);
}

static void gemm_parallel(const variant *v, const kiln_parallel *par, int ta, int tb, int64_t m,
                          int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                          const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    _Alignas(64) float bbuf[KC_MAX * NC_MAX];
    const int32_t threads = par->threads;
    pjob j = {.v = v,
              .ta = ta,
              .tb = tb,
              .m = m,
              .n = n,
              .k = k,
              .alpha = alpha,
              .beta = beta,
              .a = a,
              .b = b,
              .c = c,
              .lda = lda,
              .ldb = ldb,
              .ldc = ldc,
              .bbuf = bbuf};
    j.mcb = m_block(v, m);
    const int64_t kcb = k_block(v, k), mblocks = (m + j.mcb - 1) / j.mcb;
    for (j.jc = 0; j.jc < n; j.jc += v->nc) {
        j.nb = n - j.jc < v->nc ? n - j.jc : v->nc;
        j.panels = (j.nb + v->nr - 1) / v->nr;
        int64_t ptasks = threads < j.panels ? threads : j.panels;
        j.pack_per_task = (j.panels + ptasks - 1) / ptasks;
        ptasks = (j.panels + j.pack_per_task - 1) / j.pack_per_task;
        /* At least two tasks per thread, so a thread that gets preempted or a short last
         * block does not leave the others idle; column ranges only when M is short. */
        j.nparts = (2 * threads + mblocks - 1) / mblocks;
        if (j.nparts > j.panels) j.nparts = j.panels;
        j.per_part = (j.panels + j.nparts - 1) / j.nparts;
        j.nparts = (j.panels + j.per_part - 1) / j.per_part;
        for (j.pc = 0; j.pc < k; j.pc += kcb) {
            j.kb = k - j.pc < kcb ? k - j.pc : kcb;
            j.beta_k = j.pc == 0 ? beta : 1.0f;
            par->run(par->ud, (int32_t)ptasks, pack_task, &j);
            par->run(par->ud, (int32_t)(mblocks * j.nparts), macro_task, &j);
        }
    }
}

/* Shapes this small (or a single row/column: GEMV) skip packing. */
static int use_direct(int64_t m, int64_t n, int64_t k) {
    return m == 1 || n == 1 || (double)m * (double)n * (double)k <= 16384.0;
}

static void scale_c(int64_t m, int64_t n, float beta, float *c, int64_t ldc) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
}

static void run(const variant *v, int path, const kiln_parallel *par, int ta, int tb, int64_t m,
                int64_t n, int64_t k, float alpha, const float *a, int64_t lda, const float *b,
                int64_t ldb, float beta, float *c, int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0 || alpha == 0.0f) {
        scale_c(m, n, beta, c, ldc);
        return;
    }
    if (path == 2 || (path == 0 && use_direct(m, n, k))) {
        gemm_direct(v, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    const int32_t threads = par && par->run ? par->threads : 1;
    const double flops = 2.0 * (double)m * (double)n * (double)k;
    /* Below ~4 MFLOP (tens of microseconds) waking threads costs more than it saves. */
    if (threads <= 1 || flops < 4e6) {
        gemm_blocked(v, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    gemm_parallel(v, par, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void kiln_sgemm(const kiln_parallel *par, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                float alpha, const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                float *c, int64_t ldc) {
    run(best_variant(), 0, par, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void kiln_sgemm_ref(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                    int64_t ldc) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            float s = 0.0f;
            for (int64_t p = 0; p < k; p++) {
                const float av = trans_a ? a[p * lda + i] : a[i * lda + p];
                const float bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
                s += av * bv;
            }
            c[i * ldc + j] = alpha * s + (beta == 0.0f ? 0.0f : beta * c[i * ldc + j]);
        }
}

const char *kiln_sgemm_kernel_name(void) {
    return best_variant()->name;
}

int kiln__sgemm_num_variants(void) {
    return NVARIANTS;
}

const char *kiln__sgemm_variant_name(int v) {
    return v >= 0 && v < NVARIANTS ? variants[v].name : "";
}

int kiln__sgemm_variant_supported(int v) {
    return v >= 0 && v < NVARIANTS && supported(v);
}

void kiln__sgemm_variant(int v, int path, const kiln_parallel *par, int trans_a, int trans_b,
                         int64_t m, int64_t n, int64_t k, float alpha, const float *a, int64_t lda,
                         const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
    const variant *var = v >= 0 && v < NVARIANTS && supported(v) ? &variants[v] : best_variant();
    run(var, path, par, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
