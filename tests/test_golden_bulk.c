/* test_golden_bulk.c: the packed single-op goldens of tests/golden/bulk/ (README.md there).
 * Rebuilds every model of each <set>.txt with `kiln opmodel` ($KILN_BIN), checks the sha256 of
 * its inputs against <set>.gold, runs it in both integer dialects through libkiln-rt and
 * compares with TFLite Micro (KILN_ARITH_TFLM) and the official runtime (KILN_ARITH_LITERT):
 * integers exact, floats within 1e-5 x max(1, max|expected|). Open mismatches listed in
 * known_failures.lst print XFAIL and do not fail the test.
 * Usage: test_golden_bulk [CASE_PREFIX]. Env KILN_GOLDEN_BULK_STRIDE=N checks every Nth case
 * only; under ASan the default is 4 (KILN_GOLDEN_BULK_STRIDE=1 checks all). */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "kiln/kiln_rt.h"
#include "kiln/sha256.h"
#include "test.h"

#define MAX_IO 8

#if defined(__SANITIZE_ADDRESS__)
#define DEFAULT_STRIDE 4
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DEFAULT_STRIDE 4
#endif
#endif
#ifndef DEFAULT_STRIDE
#define DEFAULT_STRIDE 1
#endif

typedef struct out_t {
    int32_t dtype, rank;
    int32_t dims[KILN_MAX_RANK];
    uint32_t bytes;
    const uint8_t *data;
} out_t;

typedef struct block_t {
    int n;
    out_t o[MAX_IO];
} block_t;

/* A cursor over the unpacked .gold bytes; every read is bounds-checked. */
typedef struct cur_t {
    const uint8_t *p, *end;
    int bad;
} cur_t;

static const uint8_t *take(cur_t *c, size_t n) {
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = 1;
        return NULL;
    }
    const uint8_t *r = c->p;
    c->p += n;
    return r;
}

static uint32_t u8(cur_t *c) {
    const uint8_t *p = take(c, 1);
    return p ? p[0] : 0;
}

static uint32_t u32(cur_t *c) {
    const uint8_t *p = take(c, 4);
    return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
             : 0;
}

static int read_block(cur_t *c, block_t *b) {
    b->n = (int)u8(c);
    if (b->n > MAX_IO) return 0;
    for (int k = 0; k < b->n; k++) {
        out_t *o = &b->o[k];
        o->dtype = (int32_t)u8(c);
        o->rank = (int32_t)u8(c);
        if (o->rank > KILN_MAX_RANK) return 0;
        for (int32_t i = 0; i < o->rank; i++)
            o->dims[i] = (int32_t)u32(c);
        o->bytes = u32(c);
        o->data = take(c, o->bytes);
    }
    return !c->bad;
}

/* The whole gzip file, unpacked into memory. */
static uint8_t *gunzip_file(const char *path, size_t *len) {
    gzFile g = gzopen(path, "rb");
    if (!g) return NULL;
    size_t cap = 1 << 20, n = 0;
    uint8_t *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        int r = gzread(g, buf + n, (unsigned)(cap - n > (1u << 30) ? (1u << 30) : cap - n));
        if (r < 0) {
            free(buf);
            buf = NULL;
            break;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    gzclose(g);
    *len = n;
    return buf;
}

/* Appends a whole file to a growing buffer (64-byte aligned start, for the loader). */
static int append_file(const char *path, uint8_t **buf, size_t *len, size_t *cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int ok = fseek(f, 0, SEEK_END) == 0;
    long n = ok ? ftell(f) : -1;
    ok = n >= 0 && fseek(f, 0, SEEK_SET) == 0;
    if (ok && *len + (size_t)n + 64 > *cap) {
        size_t nc = (*len + (size_t)n + 64) * 2;
        uint8_t *nb = aligned_alloc(64, (nc + 63) & ~(size_t)63);
        if (!nb) ok = 0;
        if (ok) {
            if (*len) memcpy(nb, *buf, *len);
            free(*buf);
            *buf = nb;
            *cap = nc;
        }
    }
    if (ok) ok = fread(*buf + *len, 1, (size_t)n, f) == (size_t)n;
    if (ok) *len += (size_t)n;
    fclose(f);
    return ok;
}

static double elem_f(const uint8_t *p, int32_t dtype, size_t i) {
    float f;
    double d;
    if (dtype == KILN_FLOAT64) {
        memcpy(&d, p + i * 8, 8);
        return d;
    }
    memcpy(&f, p + i * 4, 4);
    return f;
}

static int64_t elem_i(const uint8_t *p, int32_t dtype, size_t i) {
    switch (dtype) {
    case KILN_INT8:
        return (int8_t)p[i];
    case KILN_UINT8:
    case KILN_BOOL:
        return p[i];
    case KILN_INT16: {
        int16_t x;
        memcpy(&x, p + i * 2, 2);
        return x;
    }
    case KILN_UINT16: {
        uint16_t x;
        memcpy(&x, p + i * 2, 2);
        return x;
    }
    case KILN_INT32: {
        int32_t x;
        memcpy(&x, p + i * 4, 4);
        return x;
    }
    case KILN_UINT32: {
        uint32_t x;
        memcpy(&x, p + i * 4, 4);
        return x;
    }
    default: {
        int64_t x;
        memcpy(&x, p + i * 8, 8);
        return x;
    }
    }
}

static int compare(const kiln_tensor_info *got, const out_t *e, char *why, size_t cap) {
    if (got->dtype != e->dtype) {
        snprintf(why, cap, "dtype %s, expected %s", kiln_dtype_name(got->dtype),
                 kiln_dtype_name(e->dtype));
        return 0;
    }
    int same = got->rank == e->rank;
    for (int32_t i = 0; same && i < e->rank; i++)
        same = got->dims[i] == e->dims[i];
    size_t es = kiln_dtype_size(e->dtype);
    if (!same || !es || got->bytes != e->bytes || !got->data) {
        snprintf(why, cap, "shape/bytes differ (%zu bytes, expected %u)", got->bytes, e->bytes);
        return 0;
    }
    size_t n = e->bytes / es;
    const uint8_t *g = got->data;
    int bad = 0;
    size_t wi = 0;
    if (e->dtype == KILN_FLOAT32 || e->dtype == KILN_FLOAT64) {
        double maxabs = 1.0, worst = 0;
        for (size_t i = 0; i < n; i++)
            if (fabs(elem_f(e->data, e->dtype, i)) > maxabs)
                maxabs = fabs(elem_f(e->data, e->dtype, i));
        for (size_t i = 0; i < n; i++) {
            double a = elem_f(g, e->dtype, i), b = elem_f(e->data, e->dtype, i);
            if (isnan(a) && isnan(b)) continue;
            double diff = fabs(a - b);
            if (!(diff <= 1e-5 * maxabs) && a != b) {
                if (!bad || diff > worst) worst = diff, wi = i;
                bad++;
            }
        }
        if (bad)
            snprintf(why, cap, "%d of %zu values off; at %zu got %.9g, expected %.9g", bad, n, wi,
                     elem_f(g, e->dtype, wi), elem_f(e->data, e->dtype, wi));
        return !bad;
    }
    if (e->dtype == KILN_FLOAT16) return memcmp(g, e->data, e->bytes) == 0;
    int64_t worst = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t a = elem_i(g, e->dtype, i), b = elem_i(e->data, e->dtype, i);
        if (a != b) {
            int64_t d = a > b ? a - b : b - a;
            if (!bad || d > worst) worst = d, wi = i;
            bad++;
        }
    }
    if (bad)
        snprintf(why, cap, "%d of %zu values differ; largest |diff| %lld at %zu (got %lld, "
                 "expected %lld)", bad, n, (long long)worst, wi, (long long)elem_i(g, e->dtype, wi),
                 (long long)elem_i(e->data, e->dtype, wi));
    return !bad;
}

/* One case in one dialect: 1 pass, 0 fail (one FAIL line). */
static int run_dialect(const char *name, const kiln_model *m, kiln_arith arith,
                       const uint8_t *const *in_data, const size_t *in_bytes, int n_in,
                       const block_t *exp, const char *tag) {
    const char *dn = arith == KILN_ARITH_TFLM ? "tflm" : "litert";
    char err[KILN_ERRLEN], why[512];
    kiln_interp_options opt;
    kiln_interp_options_init(&opt);
    opt.arith = arith;
    kiln_interp *it = NULL;
    if (kiln_interp_create(m, &opt, &it, err, sizeof err) != KILN_OK) {
        printf("%s %s [%s]: create: %s\n", tag, name, dn, err);
        return 0;
    }
    int ok = kiln_interp_num_inputs(it) == n_in && kiln_interp_num_outputs(it) == exp->n;
    if (!ok)
        printf("%s %s [%s]: %d inputs/%d outputs, expected %d/%d\n", tag, name, dn,
               kiln_interp_num_inputs(it), kiln_interp_num_outputs(it), n_in, exp->n);
    for (int i = 0; ok && i < n_in; i++) {
        kiln_tensor_info ti;
        if (kiln_interp_input(it, i, &ti) != KILN_OK || ti.bytes != in_bytes[i] || !ti.data) {
            printf("%s %s [%s]: input %d has %zu bytes, input_%d.npy %zu\n", tag, name, dn, i,
                   ti.bytes, i, in_bytes[i]);
            ok = 0;
        } else {
            memcpy(ti.data, in_data[i], ti.bytes);
        }
    }
    if (ok && kiln_interp_invoke(it) != KILN_OK) {
        printf("%s %s [%s]: invoke: %s\n", tag, name, dn, kiln_interp_error(it));
        ok = 0;
    }
    for (int k = 0; ok && k < exp->n; k++) {
        kiln_tensor_info to;
        if (kiln_interp_output(it, k, &to) != KILN_OK) {
            printf("%s %s [%s]: output %d: %s\n", tag, name, dn, k, kiln_interp_error(it));
            ok = 0;
        } else if (!compare(&to, &exp->o[k], why, sizeof why)) {
            printf("%s %s [%s]: output %d: %s\n", tag, name, dn, k, why);
            ok = 0;
        }
    }
    kiln_interp_destroy(it);
    return ok;
}

/* The data of a .npy file in memory (header skipped); NULL when malformed. */
static const uint8_t *npy_data(const uint8_t *p, size_t len, size_t *bytes) {
    if (len < 10 || memcmp(p, "\x93NUMPY", 6)) return NULL;
    size_t hl, hs;
    if (p[6] == 1) {
        hl = (size_t)p[8] | (size_t)p[9] << 8;
        hs = 10;
    } else {
        if (len < 12) return NULL;
        hl = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
        hs = 12;
    }
    if (hs + hl > len) return NULL;
    *bytes = len - hs - hl;
    return p + hs + hl;
}

/* known_failures.lst: "CASE DIALECT  # why" lines for mismatches still open (each one a kernel
 * bug to fix, listed so that the rest of the suite stays green); they print XFAIL. */
typedef struct known_t {
    char (*key)[300];
    int n;
    int xfail, xpass;
} known_t;

static void known_load(known_t *k, const char *root) {
    char path[4200], line[1024];
    snprintf(path, sizeof path, "%s/known_failures.lst", root);
    FILE *f = fopen(path, "r");
    k->key = NULL;
    k->n = k->xfail = k->xpass = 0;
    if (!f) return;
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        char name[256], dn[32];
        if (line[0] == '#' || sscanf(line, "%255s %31s", name, dn) != 2) continue;
        if (k->n == cap) {
            cap = cap ? cap * 2 : 32;
            char(*nk)[300] = realloc(k->key, (size_t)cap * sizeof *k->key);
            if (!nk) break;
            k->key = nk;
        }
        snprintf(k->key[k->n++], 300, "%s %s", name, dn);
    }
    fclose(f);
}

static int known_has(const known_t *k, const char *name, const char *dn) {
    char key[300];
    snprintf(key, sizeof key, "%s %s", name, dn);
    for (int i = 0; i < k->n; i++)
        if (!strcmp(k->key[i], key)) return 1;
    return 0;
}

/* Runs one dialect of one case and counts the result. */
static void check(known_t *k, const char *name, const kiln_model *m, kiln_arith arith,
                  const uint8_t *const *in_data, const size_t *in_bytes, int n_in,
                  const block_t *exp) {
    const char *dn = arith == KILN_ARITH_TFLM ? "tflm" : "litert";
    const int known = known_has(k, name, dn);
    const int ok = run_dialect(name, m, arith, in_data, in_bytes, n_in, exp,
                               known ? "XFAIL" : "FAIL");
    if (ok) {
        t_pass++;
        if (known) {
            printf("XPASS %s [%s]: passes now; remove it from known_failures.lst\n", name, dn);
            k->xpass++;
        }
    } else if (known) {
        k->xfail++;
    } else {
        t_fail++;
    }
}

static int same_sha(const uint8_t *p, size_t n, const uint8_t *want) {
    char hex[65], w[65];
    kiln_sha256_hex(p, n, hex);
    for (int i = 0; i < 32; i++)
        snprintf(w + 2 * i, 3, "%02x", want[i]);
    return strcmp(hex, w) == 0;
}

static void run_set(const char *gold, const char *built, const char *prefix, int stride,
                    known_t *known, int *n_cases, int *n_checked, int *n_relaid) {
    size_t glen = 0;
    uint8_t *g = gunzip_file(gold, &glen);
    cur_t c = {g, g + glen, 0};
    const uint8_t *magic = g ? take(&c, 8) : NULL;
    if (!magic || memcmp(magic, "KGOLD2\0\0", 8)) {
        printf("FAIL %s: not a KGOLD2 golden file (tests/golden/gen/pack.py)\n", gold);
        t_fail++;
        free(g);
        return;
    }
    uint32_t count = u32(&c);
    for (uint32_t ci = 0; ci < count && !c.bad; ci++) {
        char name[256];
        uint32_t nl = u8(&c);
        const uint8_t *np = take(&c, nl);
        const uint8_t *sha_model = take(&c, 32), *sha_in = take(&c, 32);
        uint32_t flags = u8(&c);
        block_t tfl = {0}, lit = {0};
        if (((flags & 1) && !read_block(&c, &tfl)) ||
            ((flags & 2) && !(flags & 4) && !read_block(&c, &lit))) {
            c.bad = 1;
            break;
        }
        if (flags & 4) lit = tfl;
        if (c.bad) break;
        memcpy(name, np, nl);
        name[nl] = 0;
        if (strncmp(name, prefix, strlen(prefix))) continue;
        (*n_cases)++;
        if (stride > 1 && (*n_cases - 1) % stride) continue;
        (*n_checked)++;
        /* model.tflite then input_K.npy in one buffer: model bytes, then the inputs. */
        char path[4096];
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0, starts[MAX_IO + 2];
        snprintf(path, sizeof path, "%.3000s/%s/model.tflite", built, name);
        if (!append_file(path, &buf, &len, &cap)) {
            printf("FAIL %s: kiln opmodel did not build it (%s)\n", name, path);
            t_fail++;
            free(buf);
            continue;
        }
        int n_in = 0;
        starts[0] = len;
        for (; n_in < MAX_IO; n_in++) {
            snprintf(path, sizeof path, "%.3000s/%s/input_%d.npy", built, name, n_in);
            if (access(path, R_OK) || !append_file(path, &buf, &len, &cap)) break;
            starts[n_in + 1] = len;
        }
        /* Other inputs make the golden stale; another byte layout of the same model (say,
         * a writer that shares more buffers) is only counted, and matters if results change. */
        if (!same_sha(buf + starts[0], len - starts[0], sha_in)) {
            printf("FAIL %s: stale golden: kiln opmodel now makes other inputs (rerun "
                   "tests/golden/regen.sh --bulk)\n", name);
            t_fail++;
            free(buf);
            continue;
        }
        if (!same_sha(buf, starts[0], sha_model)) (*n_relaid)++;
        const uint8_t *in_data[MAX_IO];
        size_t in_bytes[MAX_IO];
        int bad = 0;
        for (int i = 0; i < n_in; i++) {
            in_data[i] = npy_data(buf + starts[i], starts[i + 1] - starts[i], &in_bytes[i]);
            if (!in_data[i]) bad = 1;
        }
        kiln_model *m = NULL;
        char err[KILN_ERRLEN];
        if (bad) {
            printf("FAIL %s: bad input .npy\n", name);
            t_fail++;
        } else if (kiln_model_load(buf, starts[0], name, NULL, &m, err, sizeof err) != KILN_OK) {
            printf("FAIL %s: load: %s\n", name, err);
            t_fail++;
        } else {
            if (flags & 1) check(known, name, m, KILN_ARITH_TFLM, in_data, in_bytes, n_in, &tfl);
            if (flags & 2) check(known, name, m, KILN_ARITH_LITERT, in_data, in_bytes, n_in, &lit);
        }
        kiln_model_destroy(m);
        free(buf);
    }
    if (c.bad) {
        printf("FAIL %s: truncated or malformed golden file\n", gold);
        t_fail++;
    }
    free(g);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv) {
    const char *prefix = argc > 1 ? argv[1] : "";
    const char *tests = getenv("KILN_TESTS"), *bin = getenv("KILN_BIN");
    const char *st = getenv("KILN_GOLDEN_BULK_STRIDE");
    int stride = st && atoi(st) > 0 ? atoi(st) : DEFAULT_STRIDE;
    char root[4096];
    snprintf(root, sizeof root, "%.2000s/golden/bulk", tests ? tests : "tests");
    if (!bin || access(bin, X_OK)) {
        printf("SKIP: KILN_BIN (the kiln CLI, which rebuilds the models) is not set\n");
        return 77;
    }
    DIR *d = opendir(root);
    if (!d) {
        printf("SKIP: %s: %s (set KILN_TESTS to the tests folder)\n", root, strerror(errno));
        return 77;
    }
    char *sets[256];
    int n_sets = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n_sets < 256) {
        size_t l = strlen(de->d_name);
        if (l > 5 && !strcmp(de->d_name + l - 5, ".gold")) sets[n_sets++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(sets, (size_t)n_sets, sizeof *sets, cmp_str);
    /* Thousands of small files: a memory file system when there is one. */
    const char *tdir = getenv("TMPDIR");
    if (!tdir || !*tdir) tdir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    char tmpl[1100];
    snprintf(tmpl, sizeof tmpl, "%.1000s/kiln-bulk.XXXXXX", tdir);
    const char *tmp = mkdtemp(tmpl);
    if (!tmp) {
        printf("FAIL: mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    int n_cases = 0, n_checked = 0, n_relaid = 0;
    known_t known;
    known_load(&known, root);
    for (int s = 0; s < n_sets; s++) {
        char base[1024], cmd[8192], built[2048], gold[4200];
        snprintf(base, sizeof base, "%.1000s", sets[s]);
        base[strlen(base) - 5] = 0;
        snprintf(built, sizeof built, "%s/%.1000s", tmp, base);
        snprintf(gold, sizeof gold, "%s/%s", root, sets[s]);
        snprintf(cmd, sizeof cmd,
                 "'%.2000s' opmodel '%.2000s/%.1000s.txt' --out '%.2000s' > /dev/null", bin, root,
                 base, built);
        if (system(cmd) != 0) {
            printf("FAIL %s.txt: kiln opmodel failed (%s)\n", base, cmd);
            t_fail++;
        }
        run_set(gold, built, prefix, stride, &known, &n_cases, &n_checked, &n_relaid);
        free(sets[s]);
    }
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) printf("warning: could not remove %s\n", tmp);
    if (n_cases == 0) {
        printf("SKIP: no bulk golden cases under %s%s%s\n", root, *prefix ? " matching " : "",
               prefix);
        return 77;
    }
    printf("%d cases, %d checked (every %d%s); %d known failures (XFAIL), %d XPASS\n", n_cases,
           n_checked, stride, stride > 1 ? "; KILN_GOLDEN_BULK_STRIDE=1 checks all" : "",
           known.xfail, known.xpass);
    free(known.key);
    if (n_relaid)
        printf("note: %d models differ in bytes from those the goldens were made with (same "
               "inputs): rerun tests/golden/regen.sh --bulk to refresh their sha256\n",
               n_relaid);
    return test_done();
}
