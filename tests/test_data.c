/* test_data.c: dataset readers (IDX, truncated copies, CSV errors, NPZ round trips, PGM/PNG
 * folders, random corruptions), PCG32 vectors, shuffling, splits, batching, augmentation.
 * The real Fashion-MNIST checks are in test_data_fmnist.c. */
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

static void write_text(const char *path, const char *text) {
    write_bytes(path, text, strlen(text));
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

/* ---- RNG ---------------------------------------------------------------------------------- */

static void test_rng(void) {
    /* pcg32-demo's published output for pcg32_srandom_r(&rng, 42, 54). */
    static const uint32_t want[6] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u,
                                     0x83d2f293u, 0xbfa4784bu, 0xcbed606eu};
    kiln_rng r;
    kiln_rng_seed(&r, 42, 54);
    for (int i = 0; i < 6; i++)
        CHECK_EQ_INT(kiln_rng_u32(&r), want[i]);
    /* splitmix64 reference: the first output of a generator seeded with 0. */
    CHECK(kiln_splitmix64(0) == 0xe220a8397b1dcdafull);

    /* below(n) is unbiased enough to pass a chi-square test, and in range. */
    kiln_rng_seed(&r, 7, 0);
    int hist[10] = {0}, inrange = 1;
    for (int i = 0; i < 100000; i++) {
        uint32_t v = kiln_rng_below(&r, 10);
        if (v >= 10)
            inrange = 0;
        else
            hist[v]++;
    }
    CHECK(inrange);
    double chi = 0;
    for (int i = 0; i < 10; i++)
        chi += (hist[i] - 10000.0) * (hist[i] - 10000.0) / 10000.0;
    CHECK_MSG(chi < 27.9, "chi-square %g (p < 0.001 at 9 dof)", chi);
    float fmin = 1, fmax = 0;
    double nsum = 0, nsq = 0;
    for (int i = 0; i < 100000; i++) {
        float u = kiln_rng_uniform(&r);
        if (u < fmin) fmin = u;
        if (u > fmax) fmax = u;
        double g = kiln_rng_normal(&r);
        nsum += g;
        nsq += g * g;
    }
    CHECK(fmin >= 0.0f && fmax < 1.0f && fmin < 0.001f && fmax > 0.999f);
    CHECK_NEAR(nsum / 1e5, 0.0, 0.02);
    CHECK_NEAR(nsq / 1e5, 1.0, 0.02);

    /* Permutations: valid, reproducible, seed- and stream-dependent. */
    int64_t a[1000], b[1000], c[1000];
    kiln_permutation(1000, 5, 0, a);
    kiln_permutation(1000, 5, 0, b);
    kiln_permutation(1000, 5, 1, c);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    char seen[1000] = {0};
    int valid = 1;
    for (int i = 0; i < 1000; i++) {
        if (a[i] < 0 || a[i] >= 1000 || seen[a[i]])
            valid = 0;
        else
            seen[a[i]] = 1;
    }
    CHECK(valid);
    /* Fisher-Yates over PCG32: the first draw picks a[999] = below(1000) of the stream. */
    kiln_rng_seed(&r, 5, 0);
    CHECK_EQ_INT(a[999], kiln_rng_below(&r, 1000));
}

/* ---- IDX ---------------------------------------------------------------------------------- */

static int have_fmnist(void) {
    struct stat sb;
    return stat(FMNIST "/train-images-idx3-ubyte.gz", &sb) == 0 &&
           stat(FMNIST "/t10k-labels-idx1-ubyte.gz", &sb) == 0;
}

/* Writes a small synthetic IDX images file (plain) and returns its bytes. */
static void test_idx_synthetic(void) {
    /* Round trip every IDX dtype, plain and gzip. */
    int16_t s16[6] = {-300, 2, 3, 4, 5, 32767};
    float f32[6] = {0.5f, -1.25f, 3e10f, 0, 1, 2};
    double f64[6] = {0.1, -2, 3, 4, 5, 6};
    int32_t i32[6] = {-7, 100000, 3, 4, 5, 6};
    const void *data[4] = {s16, f32, f64, i32};
    int32_t dts[4] = {KILN_INT16, KILN_FLOAT32, KILN_FLOAT64, KILN_INT32};
    int64_t dims[2] = {2, 3};
    for (int k = 0; k < 4; k++)
        for (int gz = 0; gz < 2; gz++) {
            const char *p = tpath(gz ? "rt.idx.gz" : "rt.idx");
            CHECK_EQ_INT(kiln_idx_write(p, dts[k], 2, dims, data[k], err, sizeof err), KILN_OK);
            kiln_npy a;
            kiln_status st = kiln_idx_read(p, &a, err, sizeof err);
            CHECK_MSG(st == KILN_OK, "%s", err);
            if (st != KILN_OK) continue;
            CHECK_EQ_INT(a.dtype, dts[k]);
            CHECK_EQ_INT(a.rank, 2);
            CHECK(a.dims[0] == 2 && a.dims[1] == 3);
            CHECK(a.bytes == 6 * kiln_dtype_size(dts[k]) && !memcmp(a.data, data[k], a.bytes));
            kiln_npy_free(&a);
        }
    /* Big-endian on disk: the int16 file's first element -300 = 0xfed4. */
    kiln_idx_write(tpath("be.idx"), KILN_INT16, 2, dims, s16, err, sizeof err);
    size_t blen;
    uint8_t *bb = slurp(tpath("be.idx"), &blen);
    CHECK(blen == 4 + 8 + 12 && bb[2] == 0x0B && bb[3] == 2 && bb[7] == 2 && bb[11] == 3 &&
          bb[12] == 0xfe && bb[13] == 0xd4);
    free(bb);

    /* A small image/label pair: 5 images of 3x2, labels 0..4 */
    uint8_t img[5 * 6];
    for (int i = 0; i < 30; i++)
        img[i] = (uint8_t)(i * 8);
    uint8_t lab[5] = {0, 1, 2, 3, 4};
    int64_t idims[3] = {5, 3, 2}, ldims[1] = {5};
    kiln_idx_write(tpath("s-images-idx3-ubyte"), KILN_UINT8, 3, idims, img, err, sizeof err);
    kiln_idx_write(tpath("s-labels-idx1-ubyte"), KILN_UINT8, 1, ldims, lab, err, sizeof err);
    kiln_dataset d;
    kiln_status st = kiln_dataset_load_idx(tpath("s-images-idx3-ubyte"),
                                           tpath("s-labels-idx1-ubyte"), NULL, &d, err, sizeof err);
    CHECK_MSG(st == KILN_OK, "%s", err);
    if (st == KILN_OK) {
        CHECK(d.n == 5 && d.rank == 3 && d.dims[0] == 3 && d.dims[1] == 2 && d.dims[2] == 1);
        CHECK(d.x[7] == (float)(56.0 / 255.0) && d.num_classes == 5 && d.labels[4] == 4);
    }
    kiln_dataset_free(&d);
    /* Labels out of range for the asked number of classes. */
    kiln_load_options o;
    kiln_load_options_init(&o);
    o.num_classes = 4;
    st = kiln_dataset_load_idx(tpath("s-images-idx3-ubyte"), tpath("s-labels-idx1-ubyte"), &o, &d,
                               err, sizeof err);
    CHECK_EQ_INT(st, KILN_ERR_SHAPE);
    CHECK_MSG(strstr(err, "s-labels-idx1-ubyte: label 4 of sample 4 is out of range [0, 4)"), "%s",
              err);
    CHECK(d.x == NULL && d.n == 0);
    /* Count mismatch. */
    int64_t l4[1] = {4};
    kiln_idx_write(tpath("l4.idx"), KILN_UINT8, 1, l4, lab, err, sizeof err);
    st = kiln_dataset_load_idx(tpath("s-images-idx3-ubyte"), tpath("l4.idx"), NULL, &d, err,
                               sizeof err);
    CHECK_EQ_INT(st, KILN_ERR_SHAPE);
    CHECK_MSG(strstr(err, "l4.idx: 4 labels, but s-images-idx3-ubyte has 5 samples"), "%s", err);

    /* Header errors. */
    static const struct {
        uint8_t bytes[12];
        size_t n;
        const char *msg;
    } bad[] = {
        {{1, 0, 8, 1, 0, 0, 0, 1, 7}, 9, "not an IDX file (magic 01 00 08 01"},
        {{0, 0, 7, 1, 0, 0, 0, 1, 7}, 9, "unknown IDX type code 0x07"},
        {{0, 0, 8, 0}, 4, "IDX rank 0"},
        {{0, 0, 8, 9}, 4, "IDX rank 9"},
        {{0, 0, 8, 1, 0, 0, 0, 1, 7, 7}, 10, "continues after the 1 bytes the header announces"},
        {{0, 0, 8, 1, 0, 0, 0, 3, 7}, 9, "truncated: header says 3 bytes of data, file has 1"},
        {{0, 0, 8, 2, 0, 0, 0}, 7, "truncated: header of rank 2 needs 12 bytes, file has 7"},
        {{0, 0, 0x0c, 1, 0, 0, 0, 2, 0, 0, 0, 1},
         12,
         "truncated: header says 8 bytes of data, file has 4"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_bytes(tpath("bad.idx"), bad[i].bytes, bad[i].n);
        kiln_npy a;
        st = kiln_idx_read(tpath("bad.idx"), &a, err, sizeof err);
        CHECK(st != KILN_OK && a.data == NULL);
        CHECK_MSG(strstr(err, "bad.idx: ") && strstr(err, bad[i].msg), "case %zu: %s", i, err);
    }
    kiln_npy a;
    CHECK_EQ_INT(kiln_idx_read(tpath("missing.idx"), &a, err, sizeof err), KILN_ERR_IO);
    CHECK_MSG(strstr(err, "missing.idx: No such file"), "%s", err);
}

/* Truncates copies of real files at many lengths; each must fail with a message naming the
 * file, never crash or succeed. */
static void test_truncation(void) {
    size_t glen, plen;
    uint8_t *gz = NULL, *plain = NULL;
    if (have_fmnist()) {
        gz = slurp(FMNIST "/t10k-labels-idx1-ubyte.gz", &glen);
    } else {
        /* Without the data set, a synthetic gzip file of the same kind. */
        uint8_t lab[2000];
        for (int i = 0; i < 2000; i++)
            lab[i] = (uint8_t)(i * 7 % 10);
        int64_t dims[1] = {2000};
        kiln_idx_write(tpath("syn-labels.gz"), KILN_UINT8, 1, dims, lab, err, sizeof err);
        gz = slurp(tpath("syn-labels.gz"), &glen);
    }
    /* Plain version through our own reader/writer. */
    write_bytes(tpath("full.gz"), gz, glen);
    kiln_npy full;
    CHECK_EQ_INT(kiln_idx_read(tpath("full.gz"), &full, err, sizeof err), KILN_OK);
    kiln_idx_write(tpath("full.idx"), full.dtype, full.rank, full.dims, full.data, err, sizeof err);
    plain = slurp(tpath("full.idx"), &plen);
    int tried = 0, failed_right = 0;
    for (size_t cut = 0; cut < plen; cut += cut < 64 ? 1 : 97) {
        write_bytes(tpath("cut.idx"), plain, cut);
        kiln_npy a;
        kiln_status st = kiln_idx_read(tpath("cut.idx"), &a, err, sizeof err);
        tried++;
        if (st == KILN_ERR_IO && strstr(err, "cut.idx: truncated") && a.data == NULL)
            failed_right++;
        else
            fprintf(stderr, "plain cut at %zu: status %d: %s\n", cut, (int)st, err);
        if (cut == 100)
            CHECK_MSG(strstr(err, "header says 10000 bytes of data") || full.dims[0] != 10000, "%s",
                      err);
    }
    CHECK_EQ_INT(failed_right, tried);
    tried = failed_right = 0;
    for (size_t cut = 0; cut < glen; cut += cut < 64 ? 1 : 41) {
        write_bytes(tpath("cut.gz"), gz, cut);
        kiln_npy a;
        kiln_status st = kiln_idx_read(tpath("cut.gz"), &a, err, sizeof err);
        tried++;
        /* A cut gzip stream is reported as truncated (or, when the cut lands inside the gzip
         * header itself, as not an IDX/gzip file): always an error naming the file. */
        if (st != KILN_OK && strstr(err, "cut.gz: ") && a.data == NULL &&
            (strstr(err, "truncated") || strstr(err, "not an IDX") || strstr(err, "corrupt")))
            failed_right++;
        else
            fprintf(stderr, "gzip cut at %zu: status %d: %s\n", cut, (int)st, err);
    }
    CHECK_EQ_INT(failed_right, tried);
    printf("truncation: %d gzip cuts, plain cuts every byte of the header and every 97 bytes\n",
           tried);
    /* A corrupted byte inside the deflate data is an error too, never garbage. */
    uint8_t *bad = malloc(glen);
    memcpy(bad, gz, glen);
    bad[glen / 2] ^= 0x55;
    write_bytes(tpath("flip.gz"), bad, glen);
    kiln_npy a;
    kiln_status st = kiln_idx_read(tpath("flip.gz"), &a, err, sizeof err);
    CHECK_MSG(st == KILN_ERR_IO && strstr(err, "flip.gz"), "status %d %s", (int)st, err);
    if (st == KILN_OK) kiln_npy_free(&a);
    free(bad);
    kiln_npy_free(&full);
    free(gz);
    free(plain);
}

/* ---- CSV ---------------------------------------------------------------------------------- */

static void test_csv(void) {
    kiln_dataset d;
    kiln_load_options o;
    kiln_load_options_init(&o);
    /* Header auto-detected, label last, CRLF, a blank line, quoted numbers. */
    write_text(tpath("a.csv"), "f1,f2,\"f,3\",label\r\n1,2,3,0\r\n\r\n4.5, -5 ,\"6e1\",2\r\n");
    kiln_status st = kiln_dataset_load_csv(tpath("a.csv"), &o, &d, err, sizeof err);
    CHECK_MSG(st == KILN_OK, "%s", err);
    if (st == KILN_OK) {
        CHECK(d.n == 2 && d.rank == 1 && d.dims[0] == 3 && d.num_classes == 3);
        CHECK(d.x[0] == 1 && d.x[3] == 4.5f && d.x[4] == -5 && d.x[5] == 60);
        CHECK(d.labels[0] == 0 && d.labels[1] == 2);
    }
    kiln_dataset_free(&d);
    /* Label by name, first column; no header; semicolons; targets. */
    write_text(tpath("b.csv"), "label,x,y\n3,0.5,1\n1,2,3\n");
    o.csv_label_name = "label";
    st = kiln_dataset_load(tpath("b.csv"), &o, &d, err, sizeof err);
    CHECK_MSG(st == KILN_OK && d.n == 2 && d.labels[0] == 3 && d.x[0] == 0.5f && d.x[3] == 3, "%s",
              err);
    kiln_dataset_free(&d);
    o.csv_label_name = "nope";
    st = kiln_dataset_load_csv(tpath("b.csv"), &o, &d, err, sizeof err);
    CHECK_MSG(st == KILN_ERR_ARG && strstr(err, "b.csv:1: no column named 'nope'"), "%s", err);
    kiln_load_options_init(&o);
    o.csv_header = 0;
    o.csv_label_column = -2;
    o.csv_delimiter = ';';
    write_text(tpath("c.csv"), "1;2\n3;4\n5;6");
    st = kiln_dataset_load_csv(tpath("c.csv"), &o, &d, err, sizeof err);
    CHECK_MSG(st == KILN_OK && d.n == 3 && d.labels == NULL && d.x[5] == 6, "%s", err);
    kiln_dataset_free(&d);
    kiln_load_options_init(&o);
    o.as_targets = 1;
    write_text(tpath("t.csv"), "1,2,0.25\n3,4,-1.5\n");
    st = kiln_dataset_load_csv(tpath("t.csv"), &o, &d, err, sizeof err);
    CHECK_MSG(st == KILN_OK && d.targets && d.target_size == 1 && d.targets[1] == -1.5f &&
                  !d.labels,
              "%s", err);
    kiln_dataset_free(&d);

    /* Errors name file:line. */
    static const struct {
        const char *text, *msg;
        int32_t num_classes;
    } bad[] = {
        {"a,b,c,l\n1,2,3,0\n4,5,6,1\n7,8,1\n", "e.csv:4: 3 columns, expected 4 (as the first row)",
         0},
        {"1,2,3,0\n1,2,3,4,1\n", "e.csv:2: 5 columns, expected 4", 0},
        {"1,2,0\n1,abc,1\n", "e.csv:2: column 2: 'abc' is not a number", 0},
        {"1,2,0\n1,,1\n", "e.csv:2: column 2 is empty", 0},
        {"1,2,0\n1,2,2.5\n", "e.csv:2: label '2.5' is not a class index", 0},
        {"1,2,0\n1,2,-1\n", "e.csv:2: label '-1' is not a class index", 0},
        {"1,2,0\n\n1,2,10\n", "e.csv:3: label 10 is out of range [0, 10)", 10},
        {"\n\n", "e.csv: no data rows", 0},
        {"x,y,label\n", "e.csv: no data rows", 0},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(tpath("e.csv"), bad[i].text);
        kiln_load_options_init(&o);
        o.num_classes = bad[i].num_classes;
        st = kiln_dataset_load_csv(tpath("e.csv"), &o, &d, err, sizeof err);
        CHECK(st != KILN_OK && d.x == NULL);
        CHECK_MSG(strstr(err, bad[i].msg) != NULL, "case %zu: got '%s', want '%s'", i, err,
                  bad[i].msg);
    }
    st = kiln_dataset_load_csv(tpath("none.csv"), NULL, &d, err, sizeof err);
    CHECK_MSG(st == KILN_ERR_IO && strstr(err, "none.csv"), "%s", err);
}

/* ---- NPZ ---------------------------------------------------------------------------------- */

static void test_npz(void) {
    uint8_t x[4 * 3 * 2];
    for (int i = 0; i < 24; i++)
        x[i] = (uint8_t)(i * 10);
    int64_t y[4] = {1, 0, 3, 2};
    float t[8] = {0.5f, 1, 2, 3, 4, 5, 6, -7};
    kiln_npy arr[3] = {
        {.dtype = KILN_UINT8, .rank = 3, .dims = {4, 3, 2}, .data = x, .bytes = sizeof x},
        {.dtype = KILN_INT64, .rank = 1, .dims = {4}, .data = y, .bytes = sizeof y},
        {.dtype = KILN_FLOAT32, .rank = 2, .dims = {4, 2}, .data = t, .bytes = sizeof t},
    };
    const char *names[3] = {"x", "y", "t"};
    for (int comp = 0; comp < 2; comp++) {
        const char *p = tpath(comp ? "d.npz" : "s.npz");
        CHECK_EQ_INT(kiln_npz_write(p, 3, names, arr, comp, err, sizeof err), KILN_OK);
        kiln_npz z;
        kiln_status st = kiln_npz_read(p, &z, err, sizeof err);
        CHECK_MSG(st == KILN_OK, "%s", err);
        if (st != KILN_OK) continue;
        CHECK_EQ_INT(z.count, 3);
        for (int i = 0; i < 3; i++) {
            const kiln_npy *g = kiln_npz_get(&z, names[i]);
            CHECK(g && g->dtype == arr[i].dtype && g->rank == arr[i].rank &&
                  g->dims[0] == arr[i].dims[0] && g->bytes == arr[i].bytes &&
                  !memcmp(g->data, arr[i].data, arr[i].bytes));
        }
        CHECK(kiln_npz_get(&z, "q") == NULL);
        kiln_npz_free(&z);
        /* As a dataset: x (N,H,W) uint8 gets a channel and 1/255; y int64 labels. */
        kiln_dataset d;
        st = kiln_dataset_load(p, NULL, &d, err, sizeof err);
        CHECK_MSG(st == KILN_OK, "%s", err);
        if (st == KILN_OK) {
            CHECK(d.n == 4 && d.rank == 3 && d.dims[2] == 1 && d.num_classes == 4);
            CHECK(d.x[23] == (float)(230.0 / 255.0) && d.labels[2] == 3);
        }
        kiln_dataset_free(&d);
        kiln_load_options o;
        kiln_load_options_init(&o);
        o.y_key = "t";
        st = kiln_dataset_load_npz(p, &o, &d, err, sizeof err);
        CHECK_MSG(st == KILN_OK && d.targets && d.target_size == 2 && d.targets[7] == -7.0f, "%s",
                  err);
        kiln_dataset_free(&d);
        o.x_key = "nope";
        st = kiln_dataset_load_npz(p, &o, &d, err, sizeof err);
        CHECK_MSG(st == KILN_ERR_ARG && strstr(err, "no array 'nope' (the archive holds: x, y, t)"),
                  "%s", err);
        /* Truncations and a flipped byte: errors, never a crash. */
        size_t len;
        uint8_t *b = slurp(p, &len);
        int ok = 1;
        for (size_t cut = 0; cut < len; cut += 7) {
            write_bytes(tpath("cut.npz"), b, cut);
            kiln_npz zz;
            if (kiln_npz_read(tpath("cut.npz"), &zz, err, sizeof err) == KILN_OK) {
                ok = 0;
                kiln_npz_free(&zz);
            } else if (!strstr(err, "cut.npz")) {
                ok = 0;
            }
        }
        CHECK(ok);
        b[70] ^= 0x20; /* inside the first member's data */
        write_bytes(tpath("flip.npz"), b, len);
        st = kiln_npz_read(tpath("flip.npz"), &z, err, sizeof err);
        CHECK_MSG(st != KILN_OK && strstr(err, "flip.npz"), "%s", err);
        if (st == KILN_OK) kiln_npz_free(&z);
        free(b);
    }
    /* The same arrays give the same bytes (fixed timestamps). */
    kiln_npz_write(tpath("d2.npz"), 3, names, arr, 1, err, sizeof err);
    size_t l1, l2;
    uint8_t *b1 = slurp(tpath("d.npz"), &l1), *b2 = slurp(tpath("d2.npz"), &l2);
    CHECK(l1 == l2 && !memcmp(b1, b2, l1));
    free(b1);
    free(b2);
    /* Unnamed arrays (np.savez(f, x, y)) are arr_0 and arr_1. */
    const char *unnamed[2] = {"arr_0", "arr_1"};
    kiln_npz_write(tpath("un.npz"), 2, unnamed, arr, 1, err, sizeof err);
    kiln_dataset du;
    kiln_status su = kiln_dataset_load(tpath("un.npz"), NULL, &du, err, sizeof err);
    CHECK_MSG(su == KILN_OK && du.n == 4 && du.labels && du.labels[0] == 1, "%s", err);
    kiln_dataset_free(&du);
    /* Labels that are not class indices. */
    int64_t yb[4] = {1, -3, 0, 0};
    kiln_npy arr2[2] = {
        arr[0], {.dtype = KILN_INT64, .rank = 1, .dims = {4}, .data = yb, .bytes = sizeof yb}};
    kiln_npz_write(tpath("neg.npz"), 2, names, arr2, 0, err, sizeof err);
    kiln_dataset d;
    kiln_status st = kiln_dataset_load(tpath("neg.npz"), NULL, &d, err, sizeof err);
    CHECK_MSG(st == KILN_ERR_SHAPE && strstr(err, "label -3 of sample 1 is not a class index"),
              "%s", err);
}

/* A zip made the way numpy's savez does it (Python zipfile, force_zip64=True): the local
 * header's sizes are 0xffffffff with a zip64 extra field; the central directory has the real
 * sizes. Built here byte by byte, following APPNOTE 4.5.3. */
static void test_npz_zip64_local(void) {
    float v[3] = {1.5f, 2.5f, -3};
    kiln_npy a = {.dtype = KILN_FLOAT32, .rank = 1, .dims = {3}, .data = v, .bytes = sizeof v};
    const char *nm[1] = {"x"};
    kiln_npz_write(tpath("plain.npz"), 1, nm, &a, 0, err, sizeof err);
    size_t len;
    uint8_t *b = slurp(tpath("plain.npz"), &len);
    /* Layout: local(30 + 5 name) + data + central(46 + 5) + eocd(22). */
    size_t dlen = len - 30 - 5 - 46 - 5 - 22;
    uint8_t *o = calloc(1, len + 64);
    size_t n = 0;
    memcpy(o, b, 30);
    o[18] = o[19] = o[20] = o[21] = 0xff; /* compressed size */
    o[22] = o[23] = o[24] = o[25] = 0xff; /* uncompressed size */
    o[28] = 20;                           /* extra length */
    n = 30;
    memcpy(o + n, b + 30, 5);
    n += 5;
    uint8_t extra[20] = {1, 0, 16, 0};
    for (int i = 0; i < 8; i++)
        extra[4 + i] = extra[12 + i] = (uint8_t)(dlen >> (8 * i));
    memcpy(o + n, extra, 20);
    n += 20;
    memcpy(o + n, b + 35, dlen);
    n += dlen;
    size_t cd = n;
    memcpy(o + n, b + 35 + dlen, 51);
    n += 51;
    memcpy(o + n, b + 35 + dlen + 51, 22);
    o[n + 16] = (uint8_t)cd; /* the central directory moved by 20 bytes */
    o[n + 17] = (uint8_t)(cd >> 8);
    n += 22;
    write_bytes(tpath("z64.npz"), o, n);
    kiln_npz z;
    kiln_status st = kiln_npz_read(tpath("z64.npz"), &z, err, sizeof err);
    CHECK_MSG(st == KILN_OK, "%s", err);
    if (st == KILN_OK) {
        CHECK(z.count == 1 && !strcmp(z.names[0], "x") && z.arrays[0].dims[0] == 3 &&
              ((float *)z.arrays[0].data)[2] == -3.0f);
        kiln_npz_free(&z);
    }
    free(b);
    free(o);
}

/* ---- images ------------------------------------------------------------------------------- */

static void be32w(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static int paeth_t(int a, int b, int c) {
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/* Minimal PNG encoder for tests: 8-bit, color type ct, row y uses filter y % 5. */
static void write_png(const char *path, const uint8_t *px, int w, int h, int ct) {
    int bpp = ct == 0 ? 1 : ct == 2 ? 3 : ct == 4 ? 2 : 4;
    size_t stride = (size_t)w * bpp, rawlen = (stride + 1) * h;
    uint8_t *raw = malloc(rawlen);
    for (int y = 0; y < h; y++) {
        int ft = y % 5;
        uint8_t *o = raw + y * (stride + 1);
        const uint8_t *r = px + y * stride, *u = y ? r - stride : NULL;
        o[0] = (uint8_t)ft;
        for (size_t i = 0; i < stride; i++) {
            int a = i >= (size_t)bpp ? r[i - bpp] : 0, b = u ? u[i] : 0,
                c = u && i >= (size_t)bpp ? u[i - bpp] : 0;
            int pred = ft == 0   ? 0
                       : ft == 1 ? a
                       : ft == 2 ? b
                       : ft == 3 ? (a + b) / 2
                                 : paeth_t(a, b, c);
            o[1 + i] = (uint8_t)(r[i] - pred);
        }
    }
    uLongf zl = compressBound(rawlen);
    uint8_t *z = malloc(zl);
    compress(z, &zl, raw, rawlen);
    FILE *f = fopen(path, "wb");
    fwrite("\x89PNG\r\n\x1a\n", 1, 8, f);
    uint8_t ihdr[13];
    be32w(ihdr, (uint32_t)w);
    be32w(ihdr + 4, (uint32_t)h);
    ihdr[8] = 8;
    ihdr[9] = (uint8_t)ct;
    ihdr[10] = ihdr[11] = ihdr[12] = 0;
    const struct {
        const char *type;
        const uint8_t *data;
        size_t n;
    } ch[3] = {{"IHDR", ihdr, 13}, {"IDAT", z, zl}, {"IEND", NULL, 0}};
    for (int i = 0; i < 3; i++) {
        uint8_t hd[8];
        be32w(hd, (uint32_t)ch[i].n);
        memcpy(hd + 4, ch[i].type, 4);
        uLong crc = crc32(0, (const Bytef *)ch[i].type, 4);
        if (ch[i].n) crc = crc32(crc, ch[i].data, (uInt)ch[i].n);
        uint8_t cb[4];
        be32w(cb, (uint32_t)crc);
        fwrite(hd, 1, 8, f);
        if (ch[i].n) fwrite(ch[i].data, 1, ch[i].n, f);
        fwrite(cb, 1, 4, f);
    }
    fclose(f);
    free(raw);
    free(z);
}

static void test_images(void) {
    /* PNG: every color type, all five filters, pixels that make the predictors matter. */
    uint8_t px[7 * 9 * 4];
    for (int i = 0; i < 7 * 9 * 4; i++)
        px[i] = (uint8_t)((i * 37) ^ (i >> 3) * 11);
    const int cts[4] = {0, 2, 4, 6}, outc[4] = {1, 3, 1, 3}, bpp[4] = {1, 3, 2, 4};
    for (int k = 0; k < 4; k++) {
        write_png(tpath("p.png"), px, 9, 7, cts[k]);
        uint8_t *img = NULL;
        int32_t h, w, c;
        kiln_status st = kiln_image_read(tpath("p.png"), &img, &h, &w, &c, err, sizeof err);
        CHECK_MSG(st == KILN_OK, "%s", err);
        if (st != KILN_OK) continue;
        CHECK(h == 7 && w == 9 && c == outc[k]);
        int same = 1;
        for (int p = 0; p < 63; p++)
            for (int ch = 0; ch < c; ch++)
                if (img[p * c + ch] != px[p * bpp[k] + ch]) same = 0;
        CHECK_MSG(same, "color type %d", cts[k]);
        free(img);
    }
    /* PNG corruption: a bad CRC, a cut file. */
    write_png(tpath("p.png"), px, 9, 7, 0);
    size_t len;
    uint8_t *b = slurp(tpath("p.png"), &len);
    b[20] ^= 1;
    write_bytes(tpath("bad.png"), b, len);
    uint8_t *img = NULL;
    int32_t h, w, c;
    CHECK(kiln_image_read(tpath("bad.png"), &img, &h, &w, &c, err, sizeof err) == KILN_ERR_IO);
    CHECK_MSG(strstr(err, "bad.png: PNG chunk IHDR at byte 8: bad CRC"), "%s", err);
    b[20] ^= 1;
    int ok = 1;
    for (size_t cut = 0; cut < len; cut++) {
        write_bytes(tpath("cut.png"), b, cut);
        if (kiln_image_read(tpath("cut.png"), &img, &h, &w, &c, err, sizeof err) == KILN_OK) {
            ok = 0;
            free(img);
        }
    }
    CHECK(ok);
    free(b);

    /* A class-folder dataset: PGM (binary, ASCII with comments) and PNG, 2 classes. */
    mkdir(tpath("imgs"), 0777);
    mkdir(tpath("imgs/b_shirt"), 0777);
    mkdir(tpath("imgs/a_boot"), 0777);
    uint8_t g[6] = {0, 51, 102, 153, 204, 255};
    write_png(tpath("imgs/b_shirt/1.png"), g, 3, 2, 0);
    FILE *f = fopen(tpath("imgs/a_boot/x.pgm"), "wb");
    fprintf(f, "P5\n# comment\n3 2\n255\n");
    fwrite(g, 1, 6, f);
    fclose(f);
    write_text(tpath("imgs/a_boot/y.pgm"), "P2 3 2 # dims\n 15\n0 1 2\n3 4 15\n");
    write_text(tpath("imgs/a_boot/notes.txt"), "ignored");
    kiln_dataset d;
    kiln_status st = kiln_dataset_load(tpath("imgs"), NULL, &d, err, sizeof err);
    CHECK_MSG(st == KILN_OK, "%s", err);
    if (st == KILN_OK) {
        CHECK(d.n == 3 && d.rank == 3 && d.dims[0] == 2 && d.dims[1] == 3 && d.dims[2] == 1);
        CHECK(d.num_classes == 2 && d.labels[0] == 0 && d.labels[1] == 0 && d.labels[2] == 1);
        CHECK(d.x[1] == (float)(51.0 / 255.0) && d.x[6 + 5] == 1.0f &&
              d.x[6 + 1] == (float)(17.0 / 255.0));
        CHECK(d.x[12 + 4] == (float)(204.0 / 255.0));
    }
    kiln_dataset_free(&d);
    write_png(tpath("imgs/b_shirt/2.png"), g, 2, 3, 0);
    st = kiln_dataset_load(tpath("imgs"), NULL, &d, err, sizeof err);
    CHECK_MSG(st == KILN_ERR_SHAPE && strstr(err, "b_shirt/2.png: 3x2x1 image, but "
                                                  "a_boot/x.pgm is 2x3x1"),
              "%s", err);
    write_text(tpath("imgs/b_shirt/2.png"), "hello");
    st = kiln_dataset_load(tpath("imgs"), NULL, &d, err, sizeof err);
    CHECK_MSG(st == KILN_ERR_UNSUPPORTED && strstr(err, "2.png: not a PNG"), "%s", err);
    unlink(tpath("imgs/b_shirt/2.png"));
    write_text(tpath("imgs/b_shirt/3.pgm"), "P5 3 2 255\n12");
    st = kiln_dataset_load(tpath("imgs"), NULL, &d, err, sizeof err);
    CHECK_MSG(st == KILN_ERR_IO && strstr(err, "3.pgm: truncated: 6 bytes of pixels expected, "
                                               "file has 2"),
              "%s", err);
    st = kiln_dataset_load(tpath("imgs/a_boot"), NULL, &d, err, sizeof err);
    CHECK_MSG(st == KILN_ERR_IO && strstr(err, "no class sub-folders"), "%s", err);
}

/* Random byte flips and cuts in valid files of every format: each read must either succeed or
 * fail with a message; under ASan/UBSan this finds out-of-bounds reads. */
static void mutate_and_read(const char *src, const char *name, int rounds, uint64_t seed) {
    size_t len;
    uint8_t *orig = slurp(src, &len);
    if (!orig || len == 0) {
        CHECK_MSG(0, "cannot read %s", src);
        free(orig);
        return;
    }
    uint8_t *b = malloc(len);
    kiln_rng r;
    kiln_rng_seed(&r, seed, 0);
    int ok = 1;
    for (int i = 0; i < rounds; i++) {
        memcpy(b, orig, len);
        int flips = 1 + (int)kiln_rng_below(&r, 4);
        for (int k = 0; k < flips; k++)
            b[kiln_rng_below(&r, (uint32_t)len)] = (uint8_t)kiln_rng_u32(&r);
        size_t n = kiln_rng_below(&r, 4) == 0 ? kiln_rng_below(&r, (uint32_t)len) : len;
        write_bytes(tpath(name), b, n);
        kiln_dataset d;
        err[0] = 0;
        kiln_status st = kiln_dataset_load(tpath(name), NULL, &d, err, sizeof err);
        if (st == KILN_OK)
            kiln_dataset_free(&d);
        else if (!err[0])
            ok = 0;
    }
    CHECK_MSG(ok, "%s: an error without a message", name);
    free(b);
    free(orig);
}

static void test_mutations(void) {
    mutate_and_read(tpath("d.npz"), "m.npz", 300, 1);
    mutate_and_read(tpath("s.npz"), "m.npz", 300, 2);
    mutate_and_read(tpath("s-images-idx3-ubyte"), "m-images-idx3-ubyte", 300, 3);
    kiln_idx_write(tpath("g-images-idx3-ubyte.gz"), KILN_UINT8, 3, (int64_t[3]){5, 3, 2},
                   (uint8_t[30]){1, 2, 3}, err, sizeof err);
    mutate_and_read(tpath("g-images-idx3-ubyte.gz"), "m-images-idx3-ubyte.gz", 300, 4);
    write_text(tpath("f.csv"), "a,b,label\n1,2,0\n\"3\",4.5e1,1\n");
    mutate_and_read(tpath("f.csv"), "m.csv", 300, 5);
    mkdir(tpath("mimg"), 0777);
    mkdir(tpath("mimg/c"), 0777);
    uint8_t px[5 * 4 * 3];
    for (int i = 0; i < 60; i++)
        px[i] = (uint8_t)(i * 13);
    write_png(tpath("src.png"), px, 5, 4, 2);
    size_t len;
    uint8_t *orig = slurp(tpath("src.png"), &len);
    kiln_rng r;
    kiln_rng_seed(&r, 6, 0);
    uint8_t *b = malloc(len);
    for (int i = 0; i < 300; i++) {
        memcpy(b, orig, len);
        b[kiln_rng_below(&r, (uint32_t)len)] = (uint8_t)kiln_rng_u32(&r);
        write_bytes(tpath("mimg/c/x.png"), b, len);
        kiln_dataset d;
        if (kiln_dataset_load(tpath("mimg"), NULL, &d, err, sizeof err) == KILN_OK)
            kiln_dataset_free(&d);
    }
    free(b);
    free(orig);
    CHECK(1);
}

/* ---- dataset operations, batching, augmentation ----------------------------------------- */

/* n samples of 4x4x1 where x[0] holds the sample index, label = index % 3. */
static void make_indexed(kiln_dataset *d, int64_t n) {
    int32_t dims[3] = {4, 4, 1};
    kiln_dataset_alloc(d, n, 3, dims, 1, 0, err, sizeof err);
    for (int64_t i = 0; i < n; i++) {
        for (int k = 0; k < 16; k++)
            d->x[i * 16 + k] = (float)(i * 100 + k);
        d->labels[i] = (int32_t)(i % 3);
    }
    d->num_classes = 3;
}

static void test_ops(void) {
    kiln_dataset a, b;
    make_indexed(&a, 100);
    make_indexed(&b, 100);
    CHECK_EQ_INT(kiln_dataset_shuffle(&a, 9, err, sizeof err), KILN_OK);
    CHECK_EQ_INT(kiln_dataset_shuffle(&b, 9, err, sizeof err), KILN_OK);
    CHECK(memcmp(a.x, b.x, 100 * 16 * sizeof(float)) == 0);
    CHECK(memcmp(a.labels, b.labels, 100 * sizeof(int32_t)) == 0);
    int moved = 0, aligned = 1;
    for (int i = 0; i < 100; i++) {
        int64_t id = (int64_t)a.x[i * 16] / 100;
        if (id != i) moved++;
        if (a.labels[i] != id % 3 || a.x[i * 16 + 15] != (float)(id * 100 + 15)) aligned = 0;
    }
    CHECK(moved > 90 && aligned);
    kiln_dataset c;
    make_indexed(&c, 100);
    kiln_dataset_shuffle(&c, 10, err, sizeof err);
    CHECK(memcmp(a.x, c.x, 100 * 16 * sizeof(float)) != 0);
    kiln_dataset_free(&c);
    /* Split errors and sizes. */
    kiln_dataset v;
    CHECK_EQ_INT(kiln_dataset_split(&b, 0.0, &v, err, sizeof err), KILN_ERR_ARG);
    CHECK_EQ_INT(kiln_dataset_split(&b, 1.0, &v, err, sizeof err), KILN_ERR_ARG);
    CHECK_EQ_INT(kiln_dataset_split(&b, 0.001, &v, err, sizeof err), KILN_ERR_ARG);
    CHECK_MSG(strstr(err, "leaves an empty part"), "%s", err);
    CHECK_EQ_INT(kiln_dataset_split(&b, 0.25, &v, err, sizeof err), KILN_OK);
    CHECK(b.n == 75 && v.n == 25 && memcmp(v.x, a.x + 75 * 16, 25 * 16 * sizeof(float)) == 0);
    kiln_dataset_free(&v);
    /* Reshape and labels check. */
    int32_t flat[1] = {16}, wrong[1] = {15};
    CHECK_EQ_INT(kiln_dataset_reshape(&b, 1, flat, err, sizeof err), KILN_OK);
    CHECK(b.rank == 1 && b.dims[0] == 16);
    CHECK_EQ_INT(kiln_dataset_reshape(&b, 1, wrong, err, sizeof err), KILN_ERR_SHAPE);
    CHECK_EQ_INT(kiln_dataset_check_labels(&b, 2, "train", err, sizeof err), KILN_ERR_SHAPE);
    CHECK_MSG(strstr(err, "train: label 2 of sample"), "%s", err);
    kiln_dataset_scale(&b, 0.5f, 1.0f);
    CHECK(b.x[1] == a.x[1] * 0.5f + 1.0f);
    kiln_dataset_free(&b);

    /* Batching: every sample once per epoch; drop_last; reproducible epochs; seek. */
    kiln_dataset_free(&a);
    make_indexed(&a, 10);
    kiln_batch_options bo = {.batch_size = 4, .shuffle = 1, .seed = 77};
    kiln_batcher *bt = NULL;
    CHECK_EQ_INT(kiln_batcher_create(&a, &bo, &bt, err, sizeof err), KILN_OK);
    CHECK_EQ_INT(kiln_batcher_num_batches(bt), 3);
    float xb[4 * 16], first_epoch2[10 * 16];
    int32_t lb[4];
    int64_t n, total = 0;
    int seen[10] = {0}, labels_ok = 1;
    int64_t sizes[4], nb = 0;
    while ((n = kiln_batcher_next(bt, xb, lb, NULL)) > 0) {
        sizes[nb++] = n;
        for (int64_t i = 0; i < n; i++) {
            int id = (int)(xb[i * 16] / 100);
            seen[id]++;
            if (lb[i] != id % 3) labels_ok = 0;
        }
        total += n;
    }
    CHECK(total == 10 && nb == 3 && sizes[0] == 4 && sizes[2] == 2 && labels_ok);
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT(seen[i], 1);
    int64_t order1[10];
    memcpy(order1, kiln_batcher_order(bt), sizeof order1);
    kiln_batcher_seek(bt, 1, 0);
    CHECK(memcmp(order1, kiln_batcher_order(bt), sizeof order1) != 0);
    int64_t o2[10];
    kiln_permutation(10, 77, 1, o2);
    CHECK(memcmp(o2, kiln_batcher_order(bt), sizeof o2) == 0);
    for (int k = 0; (n = kiln_batcher_next(bt, first_epoch2 + k * 4 * 16, NULL, NULL)) > 0; k++) {
    }
    kiln_batcher_seek(bt, 1, 2); /* resume epoch 1 at its third batch */
    n = kiln_batcher_next(bt, xb, NULL, NULL);
    CHECK(n == 2 && memcmp(xb, first_epoch2 + 8 * 16, 2 * 16 * sizeof(float)) == 0);
    kiln_batcher_destroy(bt);
    bo.drop_last = 1;
    bo.shuffle = 0;
    kiln_batcher_create(&a, &bo, &bt, err, sizeof err);
    CHECK_EQ_INT(kiln_batcher_num_batches(bt), 2);
    CHECK(kiln_batcher_next(bt, xb, NULL, NULL) == 4 && xb[16] == 100.0f);
    CHECK(kiln_batcher_next(bt, xb, NULL, NULL) == 4 && kiln_batcher_next(bt, xb, NULL, NULL) == 0);
    kiln_batcher_destroy(bt);
    bo.batch_size = 0;
    CHECK_EQ_INT(kiln_batcher_create(&a, &bo, &bt, err, sizeof err), KILN_ERR_ARG);

    /* Augmentation: deterministic per (seed, epoch, position), and survives a seek. */
    kiln_augment aug = {.flip_horizontal = 1, .shift = 1, .crop_pad = 1};
    bo = (kiln_batch_options){.batch_size = 5, .shuffle = 1, .seed = 3, .augment = &aug};
    CHECK_EQ_INT(kiln_batcher_create(&a, &bo, &bt, err, sizeof err), KILN_OK);
    float e0[10 * 16], again[5 * 16];
    kiln_batcher_seek(bt, 4, 0);
    kiln_batcher_next(bt, e0, NULL, NULL);
    kiln_batcher_next(bt, e0 + 5 * 16, NULL, NULL);
    kiln_batcher_seek(bt, 0, 0);
    kiln_batcher_seek(bt, 4, 1);
    kiln_batcher_next(bt, again, NULL, NULL);
    CHECK(memcmp(again, e0 + 5 * 16, sizeof again) == 0);
    int changed = 0;
    for (int i = 0; i < 10; i++) {
        int id = -1;
        for (int k = 0; k < 16 && id < 0; k++)
            if (e0[i * 16 + k] != 0.0f) id = (int)e0[i * 16 + k] / 100;
        (void)id;
        if (memcmp(e0 + i * 16, a.x + kiln_batcher_order(bt)[i] * 16, 16 * sizeof(float)))
            changed++;
    }
    CHECK(changed >= 5);
    kiln_batcher_destroy(bt);

    /* The augmentation primitives on a 2x3x2 image. */
    float img[12], scratch[64];
    for (int i = 0; i < 12; i++)
        img[i] = (float)i;
    kiln_augment flip = {.flip_horizontal = 1};
    kiln_rng r;
    int flipped = 0, kept = 0;
    for (int t = 0; t < 40; t++) {
        float im[12];
        memcpy(im, img, sizeof im);
        kiln_rng_seed(&r, (uint64_t)t, 0);
        kiln_augment_apply(&flip, 2, 3, 2, im, scratch, &r);
        /* row 0 mirrored = pixels (2,1,0) -> values 4,5,2,3,0,1 */
        if (im[0] == 4 && im[1] == 5 && im[2] == 2 && im[4] == 0 && im[6] == 10)
            flipped++;
        else if (!memcmp(im, img, sizeof im))
            kept++;
    }
    CHECK(flipped + kept == 40 && flipped > 5 && kept > 5);
    kiln_augment sh = {.shift = 1, .fill = -1};
    int shifted_ok = 1, any_shift = 0;
    for (int t = 0; t < 40; t++) {
        float im[12];
        memcpy(im, img, sizeof im);
        kiln_rng_seed(&r, (uint64_t)t, 1);
        kiln_augment_apply(&sh, 2, 3, 2, im, scratch, &r);
        /* Each output pixel is either fill or an input pixel at a consistent offset. */
        int dy = 99, dx = 99;
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 3; x++) {
                float v0 = im[(y * 3 + x) * 2], v1 = im[(y * 3 + x) * 2 + 1];
                if (v0 == -1) {
                    if (v1 != -1) shifted_ok = 0;
                    continue;
                }
                int src = (int)v0 / 2, sy = src / 3, sx = src % 3;
                if (v1 != v0 + 1) shifted_ok = 0;
                if (dy == 99)
                    dy = y - sy, dx = x - sx;
                else if (dy != y - sy || dx != x - sx)
                    shifted_ok = 0;
            }
        if (dy != 0 || dx != 0) any_shift = 1;
        if (dy != 99 && (dy < -1 || dy > 1 || dx < -1 || dx > 1)) shifted_ok = 0;
    }
    CHECK(shifted_ok && any_shift);
    kiln_augment vf = {.flip_vertical = 1};
    int vflipped = 0;
    for (int t = 0; t < 20; t++) {
        float im[12];
        memcpy(im, img, sizeof im);
        kiln_rng_seed(&r, (uint64_t)t, 2);
        kiln_augment_apply(&vf, 2, 3, 2, im, scratch, &r);
        if (im[0] == 6 && im[6] == 0) vflipped++;
    }
    CHECK(vflipped > 2);
    kiln_dataset_free(&a);
}

int main(void) {
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/kiln_data_XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_rng();
    test_idx_synthetic();
    test_truncation();
    test_csv();
    test_npz();
    test_npz_zip64_local();
    test_images();
    test_mutations();
    test_ops();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_done();
}
