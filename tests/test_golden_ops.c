/* test_golden_ops.c: runs every single-op golden of tests/golden/ops/<case>/ through libkiln-rt
 * in both integer dialects and compares with the official runtimes' outputs (README there).
 * Usage: test_golden_ops [CASE_PREFIX]. Floats: within 1e-5 x max(1, max|expected|); integers:
 * exact. One FAIL line per mismatching case and dialect, then "N passed, N failed". */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kiln/kiln_rt.h"
#include "kiln/npy.h"
#include "test.h"

#define MAX_IO 32

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Reads a whole file into a 64-byte aligned buffer (the loader wants 16-byte aligned data). */
static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static uint32_t f16_to_bits32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0x1f) return sign | 0x7f800000u | (man << 13);
    if (exp == 0) {
        if (!man) return sign;
        exp = 127 - 15 + 1;
        while (!(man & 0x400u)) {
            man <<= 1;
            exp--;
        }
        man &= 0x3ffu;
        return sign | (exp << 23) | (man << 13);
    }
    return sign | ((exp + 127 - 15) << 23) | (man << 13);
}

/* Element i of a typed array as double (floats) or int64 (integers); returns 1 for floats. */
static int elem(const void *data, int32_t dtype, size_t i, double *d, int64_t *v) {
    const uint8_t *p = data;
    switch (dtype) {
    case KILN_FLOAT32: {
        float f;
        memcpy(&f, p + i * 4, 4);
        *d = f;
        return 1;
    }
    case KILN_FLOAT64:
        memcpy(d, p + i * 8, 8);
        return 1;
    case KILN_FLOAT16: {
        uint16_t h;
        memcpy(&h, p + i * 2, 2);
        uint32_t b = f16_to_bits32(h);
        float f;
        memcpy(&f, &b, 4);
        *d = f;
        return 1;
    }
    case KILN_INT8:
        *v = ((const int8_t *)p)[i];
        return 0;
    case KILN_UINT8:
    case KILN_BOOL:
        *v = p[i];
        return 0;
    case KILN_INT16: {
        int16_t x;
        memcpy(&x, p + i * 2, 2);
        *v = x;
        return 0;
    }
    case KILN_UINT16: {
        uint16_t x;
        memcpy(&x, p + i * 2, 2);
        *v = x;
        return 0;
    }
    case KILN_INT32: {
        int32_t x;
        memcpy(&x, p + i * 4, 4);
        *v = x;
        return 0;
    }
    case KILN_UINT32: {
        uint32_t x;
        memcpy(&x, p + i * 4, 4);
        *v = x;
        return 0;
    }
    default: {
        int64_t x;
        memcpy(&x, p + i * 8, 8);
        *v = x;
        return 0;
    }
    }
}

/* Compares one output with its expected array; on mismatch writes a reason into why. */
static int compare_output(const kiln_tensor_info *got, const kiln_npy *exp, char *why, size_t cap) {
    if (got->dtype != exp->dtype) {
        snprintf(why, cap, "dtype %s, expected %s", kiln_dtype_name(got->dtype),
                 kiln_dtype_name(exp->dtype));
        return 0;
    }
    int same_shape = got->rank == exp->rank;
    for (int32_t i = 0; same_shape && i < got->rank; i++)
        same_shape = got->dims[i] == exp->dims[i];
    if (!same_shape) {
        char a[128] = "", b[128] = "";
        size_t la = 0, lb = 0;
        for (int32_t i = 0; i < got->rank && la < 100; i++)
            la += (size_t)snprintf(a + la, sizeof a - la, "%s%d", i ? "," : "", got->dims[i]);
        for (int32_t i = 0; i < exp->rank && lb < 100; i++)
            lb += (size_t)snprintf(b + lb, sizeof b - lb, "%s%lld", i ? "," : "",
                                   (long long)exp->dims[i]);
        snprintf(why, cap, "shape [%s], expected [%s]", a, b);
        return 0;
    }
    size_t esize = kiln_dtype_size(exp->dtype);
    if (!esize || got->bytes != exp->bytes || !got->data) {
        snprintf(why, cap, "%zu bytes, expected %zu", got->bytes, exp->bytes);
        return 0;
    }
    size_t n = exp->bytes / esize;
    double d, e;
    int64_t v, w;
    if (elem(exp->data, exp->dtype, 0, &d, &v) || n == 0) {
        double maxabs = 1.0;
        for (size_t i = 0; i < n; i++) {
            elem(exp->data, exp->dtype, i, &e, &w);
            if (fabs(e) > maxabs) maxabs = fabs(e);
        }
        double tol = 1e-5 * maxabs, worst = 0;
        size_t wi = 0;
        int bad = 0;
        for (size_t i = 0; i < n; i++) {
            elem(got->data, got->dtype, i, &d, &v);
            elem(exp->data, exp->dtype, i, &e, &w);
            if (isnan(d) && isnan(e)) continue;
            double diff = fabs(d - e);
            if (isnan(diff) || isinf(diff)) diff = INFINITY;
            if (diff > tol && !(d == e)) {
                if (!bad || diff > worst) {
                    worst = diff;
                    wi = i;
                }
                bad++;
            }
        }
        if (bad) {
            elem(got->data, got->dtype, wi, &d, &v);
            elem(exp->data, exp->dtype, wi, &e, &w);
            snprintf(why, cap,
                     "%d of %zu values off; largest |diff| %.4g at %zu (got %.9g, "
                     "expected %.9g; tol %.3g)",
                     bad, n, worst, wi, d, e, tol);
            return 0;
        }
        return 1;
    }
    uint64_t worst = 0;
    size_t wi = 0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        elem(got->data, got->dtype, i, &d, &v);
        elem(exp->data, exp->dtype, i, &e, &w);
        if (v != w) {
            uint64_t diff = v > w ? (uint64_t)v - (uint64_t)w : (uint64_t)w - (uint64_t)v;
            if (!bad || diff > worst) {
                worst = diff;
                wi = i;
            }
            bad++;
        }
    }
    if (bad) {
        elem(got->data, got->dtype, wi, &d, &v);
        elem(exp->data, exp->dtype, wi, &e, &w);
        snprintf(why, cap,
                 "%d of %zu values differ; largest |diff| %llu at %zu (got %lld, "
                 "expected %lld)",
                 bad, n, (unsigned long long)worst, wi, (long long)v, (long long)w);
        return 0;
    }
    return 1;
}

/* Runs one case in one dialect; returns 1 pass, 0 fail (one FAIL line printed), -1 skipped. */
static int run_dialect(const char *dir, const char *name, const kiln_model *m, kiln_arith arith,
                       const kiln_npy *inputs, int n_inputs) {
    const char *dn = arith == KILN_ARITH_TFLM ? "tflm" : "litert";
    char path[4096], err[KILN_ERRLEN], why[512];
    snprintf(path, sizeof path, "%.3000s/expected_%s_0.npy", dir, dn);
    if (!file_exists(path)) return -1;
    kiln_interp_options opt;
    kiln_interp_options_init(&opt);
    opt.arith = arith;
    kiln_interp *it = NULL;
    if (kiln_interp_create(m, &opt, &it, err, sizeof err) != KILN_OK) {
        printf("FAIL %s [%s]: create: %s\n", name, dn, err);
        return 0;
    }
    int ok = 1;
    if (kiln_interp_num_inputs(it) != n_inputs) {
        printf("FAIL %s [%s]: model has %d inputs, case has %d input files\n", name, dn,
               kiln_interp_num_inputs(it), n_inputs);
        ok = 0;
    }
    for (int i = 0; ok && i < n_inputs; i++) {
        kiln_tensor_info ti;
        if (kiln_interp_input(it, i, &ti) != KILN_OK || ti.bytes != inputs[i].bytes ||
            ti.dtype != inputs[i].dtype || !ti.data) {
            printf("FAIL %s [%s]: input %d does not match input_%d.npy (%zu bytes %s vs %zu %s)\n",
                   name, dn, i, i, ti.bytes, kiln_dtype_name(ti.dtype), inputs[i].bytes,
                   kiln_dtype_name(inputs[i].dtype));
            ok = 0;
            break;
        }
        memcpy(ti.data, inputs[i].data, ti.bytes);
    }
    if (ok && kiln_interp_invoke(it) != KILN_OK) {
        printf("FAIL %s [%s]: invoke: %s\n", name, dn, kiln_interp_error(it));
        ok = 0;
    }
    int n_out = ok ? kiln_interp_num_outputs(it) : 0;
    for (int k = 0; ok && k < n_out; k++) {
        snprintf(path, sizeof path, "%.3000s/expected_%s_%d.npy", dir, dn, k);
        kiln_npy exp;
        if (kiln_npy_read(path, &exp, err, sizeof err) != KILN_OK) {
            printf("FAIL %s [%s]: %s\n", name, dn, err);
            ok = 0;
            break;
        }
        kiln_tensor_info to;
        if (kiln_interp_output(it, k, &to) != KILN_OK) {
            printf("FAIL %s [%s]: output %d: %s\n", name, dn, k, kiln_interp_error(it));
            ok = 0;
        } else if (!compare_output(&to, &exp, why, sizeof why)) {
            printf("FAIL %s [%s]: output %d: %s\n", name, dn, k, why);
            ok = 0;
        }
        kiln_npy_free(&exp);
    }
    if (ok) {
        snprintf(path, sizeof path, "%.3000s/expected_%s_%d.npy", dir, dn, n_out);
        if (file_exists(path)) {
            printf("FAIL %s [%s]: model has %d outputs, case has more expected files\n", name, dn,
                   n_out);
            ok = 0;
        }
    }
    kiln_interp_destroy(it);
    return ok;
}

int main(int argc, char **argv) {
    const char *prefix = argc > 1 ? argv[1] : "";
    const char *tests = getenv("KILN_TESTS");
    char root[4096];
    snprintf(root, sizeof root, "%.2000s/golden/ops", tests ? tests : "tests");
    DIR *d = opendir(root);
    if (!d) {
        printf("SKIP: %s: %s (set KILN_TESTS to the tests folder)\n", root, strerror(errno));
        return 77;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || strncmp(de->d_name, prefix, strlen(prefix))) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn) return 1;
            names = nn;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_str);
    int skipped = 0, cases = 0;
    for (size_t c = 0; c < n; c++) {
        char dir[4096], path[4200], err[KILN_ERRLEN];
        snprintf(dir, sizeof dir, "%.2100s/%.1000s", root, names[c]);
        snprintf(path, sizeof path, "%s/model.tflite", dir);
        size_t len = 0;
        void *buf = test_read_file(path, &len);
        if (!buf) continue; /* not a case folder */
        cases++;
        kiln_npy inputs[MAX_IO];
        int n_inputs = 0, bad_input = 0;
        for (; n_inputs < MAX_IO; n_inputs++) {
            snprintf(path, sizeof path, "%s/input_%d.npy", dir, n_inputs);
            if (!file_exists(path)) break;
            if (kiln_npy_read(path, &inputs[n_inputs], err, sizeof err) != KILN_OK) {
                printf("FAIL %s: %s\n", names[c], err);
                bad_input = 1;
                break;
            }
        }
        kiln_model *m = NULL;
        if (bad_input) {
            t_fail++;
        } else if (kiln_model_load(buf, len, names[c], NULL, &m, err, sizeof err) != KILN_OK) {
            printf("FAIL %s: load: %s\n", names[c], err);
            t_fail++;
        } else {
            const kiln_arith dialects[2] = {KILN_ARITH_TFLM, KILN_ARITH_LITERT};
            for (int k = 0; k < 2; k++) {
                int r = run_dialect(dir, names[c], m, dialects[k], inputs, n_inputs);
                if (r < 0)
                    skipped++;
                else if (r)
                    t_pass++;
                else
                    t_fail++;
            }
        }
        for (int i = 0; i < n_inputs; i++)
            kiln_npy_free(&inputs[i]);
        kiln_model_destroy(m);
        free(buf);
    }
    for (size_t c = 0; c < n; c++)
        free(names[c]);
    free(names);
    if (cases == 0) {
        printf("SKIP: no golden cases under %s%s%s\n", root, *prefix ? " matching " : "", prefix);
        return 77;
    }
    printf("%d cases; %d dialect runs without a golden (skipped)\n", cases, skipped);
    return test_done();
}
