/* gemm_bench.c: kiln_sgemm against OpenBLAS's cblas_sgemm (Debian libopenblas-dev) on square
 * row-major products, same thread count, interleaved runs; prints GFLOP/s and the ratio. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/gemm/gemm.h"
#include "kiln/pool.h"

void openblas_set_num_threads(int num_threads);

/* --cpu-time measures process CPU time instead of wall time: a tuning aid on a loaded machine
 * (time spent descheduled is not counted; with 2 threads it gives work per CPU-second). */
static int use_cpu_time;

static double now(void) {
    struct timespec ts;
    clock_gettime(use_cpu_time ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct bench_case {
    int n, ta, tb;
} bench_case;

/* Best time of `reps` runs of one product. */
static double time_kiln(const kiln_parallel *par, const bench_case *bc, const float *a,
                        const float *b, float *c, int reps) {
    double best = 1e30;
    const int n = bc->n;
    for (int r = 0; r < reps; r++) {
        const double t0 = now();
        kiln_sgemm(par, bc->ta, bc->tb, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        const double t = now() - t0;
        if (t < best) best = t;
    }
    return best;
}

static double time_blas(const bench_case *bc, const float *a, const float *b, float *c, int reps) {
    double best = 1e30;
    const int n = bc->n;
    for (int r = 0; r < reps; r++) {
        const double t0 = now();
        cblas_sgemm(CblasRowMajor, bc->ta ? CblasTrans : CblasNoTrans,
                    bc->tb ? CblasTrans : CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        const double t = now() - t0;
        if (t < best) best = t;
    }
    return best;
}

/* Products of the training issue's models at batch 64 (Dense forward and both gradients, and
 * convolutions as im2col products), one thread. */
static void train_shapes(void) {
    static const struct {
        const char *what;
        int m, n, k, ta, tb;
    } sh[] = {
        {"dense 784->256 fwd", 64, 256, 784, 0, 1},
        {"dense 784->256 dW", 256, 784, 64, 1, 0},
        {"dense 784->256 dX", 64, 784, 256, 0, 0},
        {"dense 256->128 fwd", 64, 128, 256, 0, 1},
        {"dense 128->10 fwd", 64, 10, 128, 0, 1},
        {"conv 3x3 1->32 28x28", 50176, 32, 9, 0, 1},
        {"conv 3x3 32->64 14x14", 12544, 64, 288, 0, 1},
        {"conv dW 32->64", 64, 288, 12544, 1, 0},
        {"conv dX 32->64", 12544, 288, 64, 0, 0},
    };
    printf("\n%-24s %6s %6s %6s %3s %10s %10s %7s\n", "shape (1 thread)", "M", "N", "K", "op",
           "kiln GF/s", "blas GF/s", "ratio");
    openblas_set_num_threads(1);
    for (size_t i = 0; i < sizeof sh / sizeof sh[0]; i++) {
        const int m = sh[i].m, n = sh[i].n, k = sh[i].k, ta = sh[i].ta, tb = sh[i].tb;
        float *a = aligned_alloc(64, (size_t)m * k * 4), *b = aligned_alloc(64, (size_t)k * n * 4);
        float *c = aligned_alloc(64, (size_t)m * n * 4);
        for (size_t q = 0; q < (size_t)m * k; q++)
            a[q] = (float)(q % 17) * 0.01f;
        for (size_t q = 0; q < (size_t)k * n; q++)
            b[q] = (float)(q % 13) * 0.01f;
        const int lda = ta ? m : k, ldb = tb ? k : n;
        const double flop = 2.0 * m * n * k;
        const int reps = (int)(2e9 / flop) + 5;
        double tk = 1e30, tbl = 1e30;
        for (int r = 0; r < reps + 2; r++) {
            double t0 = now();
            kiln_sgemm(NULL, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
            double t = now() - t0;
            if (r >= 2 && t < tk) tk = t;
            t0 = now();
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                        tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
            t = now() - t0;
            if (r >= 2 && t < tbl) tbl = t;
        }
        static const char *ops[] = {"NN", "TN", "NT", "TT"};
        printf("%-24s %6d %6d %6d %3s %10.1f %10.1f %7.2f\n", sh[i].what, m, n, k, ops[ta + 2 * tb],
               flop / tk * 1e-9, flop / tbl * 1e-9, tbl / tk);
        free(a);
        free(b);
        free(c);
    }
}

int main(int argc, char **argv) {
    int sizes[] = {256, 512, 768, 1024};
    int all_transposes = 0, shapes = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--all") == 0) all_transposes = 1;
        if (strcmp(argv[i], "--cpu-time") == 0) use_cpu_time = 1;
        if (strcmp(argv[i], "--shapes") == 0) shapes = 1;
    }
    printf("kiln micro-kernel: %s\n", kiln_sgemm_kernel_name());
    printf("%-6s %-3s %-7s %12s %12s %7s\n", "size", "op", "threads", "kiln GF/s", "openblas GF/s",
           "ratio");
    double worst = 1e30;
    for (int threads = 1; threads <= 2; threads++) {
        kiln_pool *pool = kiln_pool_create(threads);
        const kiln_parallel *par = threads > 1 ? kiln_pool_parallel(pool) : NULL;
        openblas_set_num_threads(threads);
        for (int si = 0; si < 4; si++) {
            for (int op = 0; op < (all_transposes ? 4 : 1); op++) {
                bench_case bc = {sizes[si], op & 1, (op >> 1) & 1};
                const size_t nn = (size_t)bc.n * (size_t)bc.n;
                float *a = aligned_alloc(64, nn * 4), *b = aligned_alloc(64, nn * 4);
                float *c = aligned_alloc(64, nn * 4);
                srand(1);
                for (size_t i = 0; i < nn; i++) {
                    a[i] = (float)rand() / (float)RAND_MAX - 0.5f;
                    b[i] = (float)rand() / (float)RAND_MAX - 0.5f;
                }
                const double flop = 2.0 * bc.n * (double)bc.n * bc.n;
                const int reps = (int)(4e9 / flop) + 5;
                /* Warm up both, then alternate single calls so that load from elsewhere and
                 * clock changes hit both alike; keep the best time of each. */
                time_kiln(par, &bc, a, b, c, 2);
                time_blas(&bc, a, b, c, 2);
                double tk = 1e30, tb = 1e30;
                for (int round = 0; round < reps; round++) {
                    double t = time_kiln(par, &bc, a, b, c, 1);
                    if (t < tk) tk = t;
                    t = time_blas(&bc, a, b, c, 1);
                    if (t < tb) tb = t;
                }
                const double gk = flop / tk * 1e-9, gb = flop / tb * 1e-9;
                static const char *ops[] = {"NN", "TN", "NT", "TT"};
                printf("%-6d %-3s %-7d %12.1f %12.1f %7.2f\n", bc.n, ops[op], threads, gk, gb,
                       gk / gb);
                if (gk / gb < worst) worst = gk / gb;
                free(a);
                free(b);
                free(c);
            }
        }
        kiln_pool_destroy(pool);
    }
    printf("worst ratio kiln/openblas (square): %.2f\n", worst);
    if (shapes) train_shapes();
    return 0;
}
