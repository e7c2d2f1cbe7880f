/* interp_bench.c: libkiln-rt timings: load + prepare of each model given (median over runs, with
 * the model's weight bytes, to show load time does not grow with them: weights are used in
 * place), and invoke time of one model on one input. Built and driven by interp_bench.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln/kiln_rt.h"
#include "kiln/npy.h"
#include "rt/model.h"

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = aligned_alloc(64, ((size_t)n + 64) & ~(size_t)63);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

static size_t weight_bytes(const kiln_model *m) {
    size_t w = 0;
    for (int32_t s = 0; s < m->n_subgraphs; s++)
        for (int32_t i = 0; i < m->subgraphs[s].n_tensors; i++)
            if (m->subgraphs[s].tensors[i].data) w += m->subgraphs[s].tensors[i].data_len;
    return w;
}

/* load MODEL... : one line per model: name, file bytes, weight bytes, load us, load+prepare us */
static int bench_load(int argc, char **argv) {
    enum { RUNS = 201 };
    static double tl[RUNS], tp[RUNS];
    int rc = 0;
    printf("%-34s %10s %10s %9s %14s %8s  %s\n", "model", "bytes", "weights", "load_us",
           "load+prep_us", "tensors", "status");
    for (int a = 0; a < argc; a++) {
        size_t len = 0;
        void *buf = read_file(argv[a], &len);
        if (!buf) {
            printf("%-34s cannot read\n", argv[a]);
            rc = 1;
            continue;
        }
        char err[KILN_ERRLEN] = "";
        kiln_model *m = NULL;
        size_t wb = 0;
        int32_t ntensors = 0;
        int ok = 1;
        int nprep = 0;
        for (int r = 0; r < RUNS && ok; r++) {
            const double t0 = now_us();
            if (kiln_model_load(buf, len, argv[a], NULL, &m, err, sizeof err) != KILN_OK) {
                ok = 0;
                break;
            }
            const double t1 = now_us();
            kiln_interp *it = NULL;
            const kiln_status s = kiln_interp_create(m, NULL, &it, err, sizeof err);
            const double t2 = now_us();
            if (s == KILN_OK) tp[nprep++] = t2 - t0;
            wb = weight_bytes(m);
            ntensors = 0;
            for (int32_t k = 0; k < m->n_subgraphs; k++)
                ntensors += m->subgraphs[k].n_tensors;
            kiln_interp_destroy(it);
            kiln_model_destroy(m);
            tl[r] = t1 - t0;
        }
        /* name: the model's folder when the file is .../NAME/model.tflite */
        char name[256];
        snprintf(name, sizeof name, "%s", argv[a]);
        char *slash = strrchr(name, '/');
        if (slash && !strcmp(slash, "/model.tflite")) {
            *slash = 0;
            char *p = strrchr(name, '/');
            memmove(name, p ? p + 1 : name, strlen(p ? p + 1 : name) + 1);
        }
        if (ok && nprep)
            printf("%-34s %10zu %10zu %9.1f %14.1f %8d  ok\n", name, len, wb, median(tl, RUNS),
                   median(tp, nprep), (int)ntensors);
        else if (ok)
            printf("%-34s %10zu %10zu %9.1f %14s %8d  no kernel yet\n", name, len, wb,
                   median(tl, RUNS), "-", (int)ntensors);
        else
            printf("%-34s %10zu %10s %9s %14s  %s\n", name, len, "-", "-", "-", err);
        free(buf);
    }
    return rc;
}

/* invoke MODEL INPUT.npy RUNS : median invoke time in microseconds (last line: the number) */
static int bench_invoke(const char *path, const char *input, int runs) {
    size_t len = 0;
    void *buf = read_file(path, &len);
    char err[KILN_ERRLEN];
    kiln_model *m = NULL;
    kiln_interp *it = NULL;
    if (!buf || kiln_model_load(buf, len, path, NULL, &m, err, sizeof err) != KILN_OK ||
        kiln_interp_create(m, NULL, &it, err, sizeof err) != KILN_OK) {
        fprintf(stderr, "interp_bench: %s: %s\n", path, buf ? err : "cannot read");
        return 1;
    }
    kiln_npy x;
    kiln_tensor_info ti;
    if (kiln_npy_read(input, &x, err, sizeof err) != KILN_OK) {
        fprintf(stderr, "interp_bench: %s\n", err);
        return 1;
    }
    kiln_interp_input(it, 0, &ti);
    if (x.bytes != ti.bytes) {
        fprintf(stderr, "interp_bench: %s: %zu bytes, input needs %zu\n", input, x.bytes, ti.bytes);
        return 1;
    }
    memcpy(ti.data, x.data, x.bytes);
    /* Each sample times a batch of invokes: one hello_world invoke is far below the clock's
     * resolution and call overhead. */
    const int batch = 100;
    double *t = malloc(sizeof(double) * (size_t)runs);
    for (int w = 0; w < 1000; w++) {
        memcpy(ti.data, x.data, x.bytes);
        kiln_interp_invoke(it);
    }
    for (int r = 0; r < runs; r++) {
        const double t0 = now_us();
        for (int b = 0; b < batch; b++) {
            /* inputs may be overwritten by invoke (TFLite Micro's arena rule): set each time */
            memcpy(ti.data, x.data, x.bytes);
            kiln_interp_invoke(it);
        }
        t[r] = (now_us() - t0) / batch;
    }
    kiln_tensor_info o;
    kiln_interp_output(it, 0, &o);
    const double med = median(t, runs);
    printf("kiln invoke: median %.4f us, min %.4f us over %d x %d invokes; output[0] = %.7g\n", med,
           t[0], runs, batch, o.dtype == KILN_FLOAT32 ? (double)((float *)o.data)[0] : NAN);
    printf("%.6f\n", med);
    free(t);
    kiln_npy_free(&x);
    kiln_interp_destroy(it);
    kiln_model_destroy(m);
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "load")) return bench_load(argc - 2, argv + 2);
    if (argc == 5 && !strcmp(argv[1], "invoke"))
        return bench_invoke(argv[2], argv[3], atoi(argv[4]) > 0 ? atoi(argv[4]) : 100);
    fprintf(stderr, "usage: interp_bench load MODEL... | invoke MODEL INPUT.npy RUNS\n");
    return 2;
}
