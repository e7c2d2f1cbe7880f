/* test_gemm.c: the GEMM core (every micro-kernel variant this CPU runs, both the packed and the
 * direct path) against kiln_sgemm_ref, and the thread pool: same bits at 1 and 2 threads. */
#include <stdint.h>

#include "kernels/gemm/gemm.h"
#include "kiln/pool.h"
#include "test.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float next_f(void) {
    return (float)(next_u32() % 20001) / 10000.0f - 1.0f;
}
static int64_t next_in(int64_t lo, int64_t hi) {
    return lo + (int64_t)(next_u32() % (hi - lo + 1));
}

typedef struct shape {
    int ta, tb;
    int64_t m, n, k, lda, ldb, ldc;
    float alpha, beta;
} shape;

typedef struct bufs {
    float *a, *b, *c0, *c, *ref;
    size_t na, nb, nc;
} bufs;

static void make(const shape *s, bufs *x) {
    const int64_t arows = s->ta ? s->k : s->m, brows = s->tb ? s->n : s->k;
    x->na = (size_t)(arows * s->lda);
    x->nb = (size_t)(brows * s->ldb);
    x->nc = (size_t)(s->m * s->ldc);
    x->a = malloc(x->na * sizeof(float) + 4);
    x->b = malloc(x->nb * sizeof(float) + 4);
    x->c0 = malloc(x->nc * sizeof(float) + 4);
    x->c = malloc(x->nc * sizeof(float) + 4);
    x->ref = malloc(x->nc * sizeof(float) + 4);
    for (size_t i = 0; i < x->na; i++)
        x->a[i] = next_f();
    for (size_t i = 0; i < x->nb; i++)
        x->b[i] = next_f();
    for (size_t i = 0; i < x->nc; i++)
        x->c0[i] = s->beta == 0.0f ? NAN : next_f();
}

static void drop(bufs *x) {
    free(x->a);
    free(x->b);
    free(x->c0);
    free(x->c);
    free(x->ref);
}

/* Checks c against the reference with a bound on float rounding: 1e-5 of the sum of the
 * magnitudes of the terms. Elements outside the m x n window (ldc padding) must be untouched. */
static int compare(const shape *s, const bufs *x, const char *what) {
    int bad = 0;
    for (int64_t i = 0; i < s->m; i++)
        for (int64_t j = 0; j < s->ldc; j++) {
            const size_t idx = (size_t)(i * s->ldc + j);
            if (j >= s->n) {
                if (memcmp(&x->c[idx], &x->c0[idx], sizeof(float)) != 0) bad++;
                continue;
            }
            double mag = 0;
            for (int64_t p = 0; p < s->k; p++) {
                const float av = s->ta ? x->a[p * s->lda + i] : x->a[i * s->lda + p];
                const float bv = s->tb ? x->b[j * s->ldb + p] : x->b[p * s->ldb + j];
                mag += fabs((double)av * bv);
            }
            mag = mag * fabs(s->alpha) + (s->beta != 0.0f ? fabs(s->beta * x->c0[idx]) : 0.0);
            const double tol = 1e-5 * mag + 1e-30;
            if (!(fabs((double)x->c[idx] - (double)x->ref[idx]) <= tol)) {
                if (bad < 3)
                    fprintf(stderr,
                            "%s m=%lld n=%lld k=%lld ta=%d tb=%d: C[%lld,%lld] %.9g vs %.9g\n",
                            what, (long long)s->m, (long long)s->n, (long long)s->k, s->ta, s->tb,
                            (long long)i, (long long)j, x->c[idx], x->ref[idx]);
                bad++;
            }
        }
    return bad;
}

static void random_shape(shape *s, int64_t maxdim) {
    s->ta = (int)(next_u32() & 1);
    s->tb = (int)(next_u32() & 1);
    s->m = next_in(1, maxdim);
    s->n = next_in(1, maxdim);
    s->k = next_in(1, maxdim);
    const int64_t acols = s->ta ? s->m : s->k, bcols = s->tb ? s->k : s->n;
    s->lda = acols + next_in(0, 3);
    s->ldb = bcols + next_in(0, 3);
    s->ldc = s->n + next_in(0, 3);
    static const float alphas[] = {1.0f, 0.5f, -2.0f};
    static const float betas[] = {0.0f, 1.0f, 0.25f};
    s->alpha = alphas[next_u32() % 3];
    s->beta = betas[next_u32() % 3];
}

/* A kiln_parallel that counts the parallel runs it forwards to the pool. */
typedef struct counting_par {
    const kiln_parallel *inner;
    int runs;
} counting_par;

static void counting_run(void *ud, int32_t ntasks, kiln_task_fn fn, void *arg) {
    counting_par *cp = (counting_par *)ud;
    if (ntasks > 1) cp->runs++;
    cp->inner->run(cp->inner->ud, ntasks, fn, arg);
}

static void test_variant(int v, const kiln_parallel *pool_par) {
    counting_par cp = {pool_par, 0};
    const kiln_parallel par2_s = {counting_run, &cp, pool_par->threads};
    const kiln_parallel *par2 = &par2_s;
    const char *name = kiln__sgemm_variant_name(v);
    int cases = 0, bad = 0, diff_threads = 0;
    for (int it = 0; it < 131; it++) { /* it >= 128: fixed shapes below */
        shape s;
        random_shape(&s, it < 100 ? 40 : 160);
        if (it == 128) { /* short M, two N blocks: threads split column ranges */
            s.m = 30, s.n = 1100, s.k = 130, s.ta = 0, s.tb = 1;
            s.lda = s.k, s.ldb = s.k + 2, s.ldc = s.n;
        }
        if (it == 129) { /* big enough to be split between threads */
            s.m = 200, s.n = 90, s.k = 260, s.ta = 0, s.tb = 1;
            s.lda = s.k + 1, s.ldb = s.k, s.ldc = s.n;
        }
        if (it == 130) { /* several K, M and N blocks at once */
            s.m = 151, s.n = 530, s.k = 300, s.ta = 1, s.tb = 0;
            s.lda = s.ta ? s.m : s.k, s.ldb = s.n, s.ldc = s.n + 1;
        }
        bufs x;
        make(&s, &x);
        memcpy(x.ref, x.c0, x.nc * sizeof(float));
        kiln_sgemm_ref(s.ta, s.tb, s.m, s.n, s.k, s.alpha, x.a, s.lda, x.b, s.ldb, s.beta, x.ref,
                       s.ldc);
        for (int path = 0; path <= 2; path++) {
            if (path == 2 && s.m * s.n * s.k > 2000000) continue;
            memcpy(x.c, x.c0, x.nc * sizeof(float));
            kiln__sgemm_variant(v, path, NULL, s.ta, s.tb, s.m, s.n, s.k, s.alpha, x.a, s.lda, x.b,
                                s.ldb, s.beta, x.c, s.ldc);
            bad += compare(&s, &x, name) != 0;
            cases++;
            if (path == 2) continue;
            /* Two threads must give the same bits as one. */
            float *c1 = malloc(x.nc * sizeof(float) + 4);
            memcpy(c1, x.c0, x.nc * sizeof(float));
            kiln__sgemm_variant(v, path, par2, s.ta, s.tb, s.m, s.n, s.k, s.alpha, x.a, s.lda, x.b,
                                s.ldb, s.beta, c1, s.ldc);
            diff_threads += memcmp(c1, x.c, x.nc * sizeof(float)) != 0;
            free(c1);
        }
        drop(&x);
    }
    CHECK_MSG(bad == 0, "%s: %d of %d cases differ from the reference", name, bad, cases);
    CHECK_MSG(diff_threads == 0, "%s: %d cases differ between 1 and 2 threads", name, diff_threads);
    CHECK_MSG(cp.runs >= 2, "%s: only %d products were split between threads", name, cp.runs);
}

/* Edge cases: k = 0, alpha = 0 (A and B not read: NaNs there are ignored), beta = 0 with NaN
 * in C, empty M or N. */
static void test_edges(void) {
    float a[6] = {NAN, NAN, NAN, NAN, NAN, NAN}, b[6] = {NAN, NAN, NAN, NAN, NAN, NAN};
    float c[4] = {1, 2, 3, 4};
    kiln_sgemm(NULL, 0, 0, 2, 2, 0, 1.0f, a, 1, b, 2, 0.5f, c, 2);
    CHECK(c[0] == 0.5f && c[3] == 2.0f);
    kiln_sgemm(NULL, 0, 0, 2, 2, 3, 0.0f, a, 3, b, 2, 0.0f, c, 2);
    CHECK(c[0] == 0.0f && c[1] == 0.0f && c[2] == 0.0f && c[3] == 0.0f);
    float a2[6] = {1, 2, 3, 4, 5, 6}, b2[6] = {1, 0, 0, 1, 1, 1};
    float c2[4] = {NAN, NAN, NAN, NAN};
    kiln_sgemm(NULL, 0, 0, 2, 2, 3, 1.0f, a2, 3, b2, 2, 0.0f, c2, 2);
    CHECK(c2[0] == 4.0f && c2[1] == 5.0f && c2[2] == 10.0f && c2[3] == 11.0f);
    float c3[1] = {7};
    kiln_sgemm(NULL, 0, 0, 0, 1, 3, 1.0f, a2, 3, b2, 1, 0.0f, c3, 1);
    kiln_sgemm(NULL, 0, 0, 1, 0, 3, 1.0f, a2, 3, b2, 1, 0.0f, c3, 1);
    CHECK(c3[0] == 7.0f);
}

typedef struct count_arg {
    int hits[64];
    const kiln_parallel *par;
    int nested_ok;
} count_arg;

static void inner_task(void *arg, int32_t t) {
    ((int *)arg)[t]++;
}

static void count_task(void *arg, int32_t t) {
    count_arg *c = (count_arg *)arg;
    c->hits[t]++;
    if (t == 5) { /* a run() from inside a task runs serially instead of deadlocking */
        int in[3] = {0, 0, 0};
        c->par->run(c->par->ud, 3, inner_task, in);
        c->nested_ok = in[0] == 1 && in[1] == 1 && in[2] == 1;
    }
}

static void test_pool(void) {
    for (int threads = 1; threads <= 3; threads++) {
        kiln_pool *p = kiln_pool_create(threads);
        CHECK(p != NULL);
        if (!p) continue;
        const kiln_parallel *par = kiln_pool_parallel(p);
        CHECK_EQ_INT(par->threads, threads);
        int ok = 1;
        for (int rep = 0; rep < 200; rep++) {
            count_arg c;
            memset(&c, 0, sizeof c);
            c.par = par;
            const int n = 1 + rep % 40;
            par->run(par->ud, n, count_task, &c);
            for (int t = 0; t < 64; t++)
                ok &= c.hits[t] == (t < n ? 1 : 0);
            if (n > 5) ok &= c.nested_ok;
        }
        CHECK_MSG(ok, "pool with %d threads: a task ran not exactly once", threads);
        kiln_pool_destroy(p);
    }
    kiln_pool_destroy(NULL);
}

int main(void) {
    test_pool();
    test_edges();
    kiln_pool *pool = kiln_pool_create(2);
    CHECK(pool != NULL);
    if (!pool) return test_done();
    int ran = 0;
    for (int v = 0; v < kiln__sgemm_num_variants(); v++) {
        if (!kiln__sgemm_variant_supported(v)) {
            printf("variant %s: not supported by this CPU, skipped\n", kiln__sgemm_variant_name(v));
            continue;
        }
        printf("variant %s\n", kiln__sgemm_variant_name(v));
        test_variant(v, kiln_pool_parallel(pool));
        ran++;
    }
    CHECK(ran >= 1);
    printf("kiln_sgemm uses %s\n", kiln_sgemm_kernel_name());
    kiln_pool_destroy(pool);
    return test_done();
}
