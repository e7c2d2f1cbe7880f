/* test_data_fmnist.c: the IDX reader on the real Fashion-MNIST (Debian's dataset-fashion-mnist
 * at /usr/share/datasets/fashion-mnist): shapes, label facts, pixel sums, speed, splits,
 * normalisation. Skips (77) when the data set is absent. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "kiln/data.h"
#include "kiln/report.h"
#include "test.h"

#define FMNIST "/usr/share/datasets/fashion-mnist"

static char tmpdir[256];
static char err[KILN_ERRLEN];

static const char *tpath(const char *name) {
    static char buf[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

static uint8_t *slurp(const char *path, size_t *len) {
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 20, n = 0;
    uint8_t *b = malloc(cap);
    for (;;) {
        if (n == cap) b = realloc(b, cap *= 2);
        size_t got = fread(b + n, 1, cap - n, f);
        if (!got) break;
        n += got;
    }
    fclose(f);
    *len = n;
    return b;
}

/* ---- Fashion-MNIST ---- */

static int have_fmnist(void) {
    struct stat sb;
    return stat(FMNIST "/train-images-idx3-ubyte.gz", &sb) == 0 &&
           stat(FMNIST "/t10k-labels-idx1-ubyte.gz", &sb) == 0;
}

static void test_fmnist(void) {
    kiln_dataset train, test;
    double t0 = kiln_now_seconds();
    clock_t c0 = clock();
    kiln_status st = kiln_dataset_load_fashion_mnist(FMNIST, &train, &test, err, sizeof err);
    double dt = kiln_now_seconds() - t0, cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
    CHECK_MSG(st == KILN_OK, "%s", err);
    if (st != KILN_OK) return;
    printf("fashion-mnist: train %lld + test %lld samples loaded in %.3f s (%.3f s CPU)\n",
           (long long)train.n, (long long)test.n, dt, cpu);
    /* CPU time, since the wall clock depends on the machine's load; the limit leaves room for
     * sanitizer builds (an optimised build takes about 0.4 s). */
    CHECK_MSG(cpu < 3.0, "loading took %.2f s of CPU", cpu);
    CHECK_EQ_INT(train.n, 60000);
    CHECK_EQ_INT(test.n, 10000);
    CHECK_EQ_INT(train.rank, 3);
    CHECK_EQ_INT(train.dims[0], 28);
    CHECK_EQ_INT(train.dims[1], 28);
    CHECK_EQ_INT(train.dims[2], 1);
    CHECK_EQ_INT(train.sample_size, 784);
    CHECK_EQ_INT(train.num_classes, 10);
    CHECK(train.labels && !train.targets);
    /* First labels, read from the file with od: 9 (ankle boot) 0 0 3 0 2 7 2 5 5 0 9; the
     * test set starts 9 2 1 1. */
    static const int32_t first[12] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9};
    for (int i = 0; i < 12; i++)
        CHECK_EQ_INT(train.labels[i], first[i]);
    CHECK_EQ_INT(test.labels[0], 9);
    CHECK_EQ_INT(test.labels[1], 2);
    CHECK_EQ_INT(test.labels[3], 1);
    int64_t htr[10] = {0}, hte[10] = {0};
    for (int64_t i = 0; i < train.n; i++)
        htr[train.labels[i]]++;
    for (int64_t i = 0; i < test.n; i++)
        hte[test.labels[i]]++;
    for (int k = 0; k < 10; k++) {
        CHECK_EQ_INT(htr[k], 6000);
        CHECK_EQ_INT(hte[k], 1000);
    }
    /* Pixel sums of the first and last training images (raw bytes summed with od: 76247 and
     * 16684), scaled by 1/255. */
    double s0 = 0, s1 = 0, mn = 1e9, mx = -1e9;
    for (int i = 0; i < 784; i++) {
        s0 += train.x[i];
        s1 += train.x[(size_t)59999 * 784 + (size_t)i];
    }
    for (size_t i = 0; i < (size_t)train.n * 784; i++) {
        if (train.x[i] < mn) mn = train.x[i];
        if (train.x[i] > mx) mx = train.x[i];
    }
    CHECK_NEAR(s0, 76247.0 / 255.0, 1e-3);
    CHECK_NEAR(s1, 16684.0 / 255.0, 1e-3);
    CHECK(mn == 0.0 && mx == 1.0);
    CHECK(train.x[399] == 0.0f && train.x[404] == (float)(237.0 / 255.0) &&
          train.x[405] == (float)(226.0 / 255.0));

    /* kiln_dataset_load on the directory, both subsets, raw scale by option. */
    kiln_load_options o;
    kiln_load_options_init(&o);
    o.subset = "test";
    o.scale = 1.0f;
    kiln_dataset t2;
    st = kiln_dataset_load(FMNIST, &o, &t2, err, sizeof err);
    CHECK_MSG(st == KILN_OK, "%s", err);
    if (st == KILN_OK) {
        CHECK_EQ_INT(t2.n, 10000);
        CHECK(t2.x[1000] == test.x[1000] * 255.0f);
        CHECK(memcmp(t2.labels, test.labels, 10000 * sizeof(int32_t)) == 0);
    }
    kiln_dataset_free(&t2);
    /* An images file alone finds its labels beside it. */
    st = kiln_dataset_load(FMNIST "/t10k-images-idx3-ubyte.gz", NULL, &t2, err, sizeof err);
    CHECK_MSG(st == KILN_OK, "%s", err);
    CHECK(st == KILN_OK && t2.labels && t2.labels[0] == 9 && t2.num_classes == 10);
    kiln_dataset_free(&t2);

    /* A cut copy of the real training images: the streaming reader names what is short. */
    {
        size_t glen = 0;
        uint8_t *g = slurp(FMNIST "/train-images-idx3-ubyte.gz", &glen);
        write_bytes(tpath("cut-images-idx3-ubyte.gz"), g, glen / 3);
        free(g);
        st =
            kiln_dataset_load_idx(tpath("cut-images-idx3-ubyte.gz"),
                                  FMNIST "/train-labels-idx1-ubyte.gz", NULL, &t2, err, sizeof err);
        CHECK_MSG(st == KILN_ERR_IO &&
                      strstr(err, "cut-images-idx3-ubyte.gz: truncated: header says 47040000 "
                                  "bytes of data (uint8), decompressed data has "),
                  "%s", err);
        CHECK(t2.x == NULL);
    }

    /* Split 10%: the last 6000 samples, as Keras' validation_split. */
    kiln_dataset val;
    CHECK_EQ_INT(kiln_dataset_split(&train, 0.1, &val, err, sizeof err), KILN_OK);
    CHECK_EQ_INT(train.n, 54000);
    CHECK_EQ_INT(val.n, 6000);
    CHECK_EQ_INT(val.num_classes, 10);
    CHECK_NEAR(({
                   double s = 0;
                   for (int i = 0; i < 784; i++)
                       s += val.x[(size_t)5999 * 784 + (size_t)i];
                   s;
               }),
               16684.0 / 255.0, 1e-3);
    kiln_dataset_free(&val);

    /* Statistics and normalisation. */
    float mean, sd;
    kiln_dataset_stats(&test, &mean, &sd);
    CHECK(mean > 0.25f && mean < 0.35f && sd > 0.3f && sd < 0.4f);
    kiln_dataset_normalize(&test, &mean, &sd);
    float m2, s2;
    kiln_dataset_stats(&test, &m2, &s2);
    CHECK_NEAR(m2, 0.0, 1e-4);
    CHECK_NEAR(s2, 1.0, 1e-4);
    kiln_dataset_free(&train);
    kiln_dataset_free(&test);
}

int main(void) {
    if (!have_fmnist()) TEST_SKIP(FMNIST " is absent (install Debian's dataset-fashion-mnist)");
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/kiln_fmnist_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_fmnist();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_done();
}
