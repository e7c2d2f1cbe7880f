/* cmd_run.c: kiln run: one inference of a .tflite model on .npy inputs, outputs written as .npy
 * (the interface ../shared/models/check.sh drives); --arith both compares the two dialects. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_util.h"
#include "kiln/npy.h"

static const char help[] =
    "usage: kiln run MODEL [INPUT.npy...] [--out DIR] [options]\n"
    "\n"
    "Runs a .tflite model once on NumPy inputs and writes its outputs as .npy files.\n"
    "\n"
    "  MODEL              the .tflite file\n"
    "  INPUT.npy...       one file per model input, in the model's input order (see kiln\n"
    "                     inspect). The dtype must equal the input's dtype and the element\n"
    "                     count must equal the input's; an array of another shape with the\n"
    "                     same count is reshaped (as ../shared/oracle/tflite-run does).\n"
    "\n"
    "options:\n"
    "  --out DIR          write output K as DIR/KKK_<name>.npy: KKK is the output index padded\n"
    "                     to 3 digits (sorted names follow output order), <name> the tensor\n"
    "                     name with characters outside [A-Za-z0-9._-] replaced by '_', cut to\n"
    "                     64 characters. DIR is created when missing. Without --out the\n"
    "                     outputs are only summarised on stdout.\n"
    "  --signature NAME   run the subgraph of signature NAME (default: subgraph 0)\n"
    "  --random SEED      make the inputs when no INPUT.npy is given: float in [-1, 1),\n"
    "                     int8/uint8/int16/uint16/bool over their full range, wider integers\n"
    "                     in [0, 10). Same generator and seeds as tflite-run --random-seed\n"
    "                     SEED (mulberry32), so the inputs are the same bytes.\n"
    "  --save-inputs DIR  also write the inputs used as DIR/input_K.npy\n"
    "  --arith D          integer arithmetic dialect: tflm (default; TFLite's reference\n"
    "                     kernels, as TFLite Micro computes), litert (the official desktop\n"
    "                     runtime), or both: runs both and prints, for each operator output\n"
    "                     tensor, where they part (largest difference and how many elements\n"
    "                     differ); the tflm outputs are written\n"
    "  --invokes N        invoke N times on the same inputs (state carried across, e.g.\n"
    "                     LSTM or SVDF variables) and write the last outputs (default 1)\n"
    "  --threads N        threads for the kernels (default 1); results do not depend on it\n"
    "                     beyond float summation order\n"
    "  -h, --help         this text\n"
    "\n"
    "Prints one line per output (dtype, shape, first values, file) and the load+prepare and\n"
    "invoke times. Exit status: 0 ok; 1 error (one line naming the file); 2 usage error.\n";

#define MAX_INPUTS 256

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int64_t info_numel(const kiln_tensor_info *t) {
    int64_t n = 1;
    for (int32_t i = 0; i < t->rank; i++)
        n *= t->dims[i];
    return n;
}

/* mulberry32, as ../shared/oracle/tflite-run generates inputs. */
static uint32_t mulberry32(uint32_t *a) {
    *a += 0x6d2b79f5u;
    uint32_t t = *a;
    t = (t ^ (t >> 15)) * (t | 1u);
    t ^= t + (t ^ (t >> 7)) * (t | 61u);
    return t ^ (t >> 14);
}

static int random_fill(const kiln_tensor_info *t, uint32_t seed, char *err, size_t errlen) {
    uint32_t st = seed;
    const int64_t n = info_numel(t);
    uint8_t *d = t->data;
    double lo, hi;
    switch (t->dtype) {
    case KILN_INT8:
        lo = -128, hi = 127;
        break;
    case KILN_UINT8:
        lo = 0, hi = 255;
        break;
    case KILN_INT16:
        lo = -32768, hi = 32767;
        break;
    case KILN_UINT16:
        lo = 0, hi = 65535;
        break;
    case KILN_BOOL:
        lo = 0, hi = 1;
        break;
    default:
        lo = 0, hi = 9;
        break;
    }
    for (int64_t i = 0; i < n; i++) {
        if (t->dtype == KILN_FLOAT32 || t->dtype == KILN_FLOAT64) {
            const double u = (double)(mulberry32(&st) >> 8) / 16777216.0;
            const double v = -1.0 + u * 2.0;
            if (t->dtype == KILN_FLOAT32) {
                float f = (float)v;
                memcpy(d + 4 * i, &f, 4);
            } else {
                memcpy(d + 8 * i, &v, 8);
            }
            continue;
        }
        const double span = hi - lo + 1;
        const double r1 = mulberry32(&st), r2 = mulberry32(&st);
        const int64_t v =
            (int64_t)lo +
            (int64_t)floor(((r1 * 4294967296.0 + r2) / 18446744073709551616.0) * span);
        switch (t->dtype) {
        case KILN_INT8:
            d[i] = (uint8_t)(int8_t)v;
            break;
        case KILN_UINT8:
        case KILN_BOOL:
            d[i] = (uint8_t)v;
            break;
        case KILN_INT16: {
            int16_t x = (int16_t)v;
            memcpy(d + 2 * i, &x, 2);
            break;
        }
        case KILN_UINT16: {
            uint16_t x = (uint16_t)v;
            memcpy(d + 2 * i, &x, 2);
            break;
        }
        case KILN_INT32:
        case KILN_UINT32: {
            int32_t x = (int32_t)v;
            memcpy(d + 4 * i, &x, 4);
            break;
        }
        case KILN_INT64:
        case KILN_UINT64:
            memcpy(d + 8 * i, &v, 8);
            break;
        default:
            snprintf(err, errlen, "cannot generate random data for dtype %s; pass an .npy",
                     kiln_dtype_name(t->dtype));
            return -1;
        }
    }
    return 0;
}

static void sanitize(const char *name, char *out, size_t cap) {
    size_t n = 0;
    for (const char *p = name; *p && n < 64 && n + 1 < cap; p++) {
        const char c = *p;
        const int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '.' || c == '_' || c == '-';
        out[n++] = ok ? c : '_';
    }
    out[n] = 0;
    if (n == 0) snprintf(out, cap, "output");
}

/* Value i of a tensor as double (for summaries and comparisons); NAN for unsupported types. */
static double value_at(int32_t dtype, const void *data, int64_t i) {
    const uint8_t *p = data;
    switch (dtype) {
    case KILN_FLOAT32: {
        float f;
        memcpy(&f, p + 4 * i, 4);
        return f;
    }
    case KILN_FLOAT64: {
        double f;
        memcpy(&f, p + 8 * i, 8);
        return f;
    }
    case KILN_INT8:
        return (int8_t)p[i];
    case KILN_UINT8:
    case KILN_BOOL:
        return p[i];
    case KILN_INT16: {
        int16_t v;
        memcpy(&v, p + 2 * i, 2);
        return v;
    }
    case KILN_UINT16:
    case KILN_FLOAT16: {
        uint16_t v;
        memcpy(&v, p + 2 * i, 2);
        if (dtype == KILN_UINT16) return v;
        const int e = (v >> 10) & 31, m = v & 1023;
        double r = e == 0    ? ldexp(m, -24)
                   : e == 31 ? (m ? NAN : INFINITY)
                             : ldexp(m + 1024, e - 25);
        return (v & 0x8000) ? -r : r;
    }
    case KILN_INT32: {
        int32_t v;
        memcpy(&v, p + 4 * i, 4);
        return v;
    }
    case KILN_UINT32: {
        uint32_t v;
        memcpy(&v, p + 4 * i, 4);
        return v;
    }
    case KILN_INT64: {
        int64_t v;
        memcpy(&v, p + 8 * i, 8);
        return (double)v;
    }
    case KILN_UINT64: {
        uint64_t v;
        memcpy(&v, p + 8 * i, 8);
        return (double)v;
    }
    default:
        return NAN;
    }
}

static void print_output(int32_t k, const kiln_tensor_info *t, const char *path) {
    char shape[160];
    printf("output %d '%s' %s%s:", (int)k, t->name, kiln_dtype_name(t->dtype),
           kcli_shape_str(shape, sizeof shape, t->rank, t->dims));
    const int64_t n = info_numel(t);
    for (int64_t i = 0; i < n && i < 6 && t->data; i++) {
        const double v = value_at(t->dtype, t->data, i);
        if (isnan(v) && t->dtype != KILN_FLOAT32 && t->dtype != KILN_FLOAT64) break;
        printf(" %.7g", v);
    }
    if (n > 6) printf(" ...");
    if (path) printf(" -> %s", path);
    printf("\n");
}

/* --arith both: per-operator capture of the tflm run, compared during the litert run. */
typedef struct both_ctx {
    kiln_interp *it;
    int compare;
    int32_t nt;
    void **saved;     /* per tensor: copy of the tflm values */
    double *maxdiff;  /* per tensor */
    int64_t *ndiff;   /* per tensor */
    uint8_t *checked; /* per tensor */
} both_ctx;

static void both_hook(void *ud, int32_t op, int after) {
    both_ctx *c = ud;
    kiln_op_info oi;
    if (!after || kiln_interp_op(c->it, op, &oi) != KILN_OK) return;
    for (int32_t k = 0; k < oi.num_outputs; k++) {
        const int32_t ti = oi.outputs[k];
        kiln_tensor_info t;
        if (ti < 0 || ti >= c->nt || kiln_interp_tensor(c->it, ti, &t) != KILN_OK || !t.data)
            continue;
        if (!c->compare) {
            free(c->saved[ti]);
            c->saved[ti] = malloc(t.bytes ? t.bytes : 1);
            if (c->saved[ti]) memcpy(c->saved[ti], t.data, t.bytes);
            continue;
        }
        if (!c->saved[ti]) continue;
        const int64_t n = info_numel(&t);
        double md = 0;
        int64_t nd = 0;
        for (int64_t i = 0; i < n; i++) {
            const double a = value_at(t.dtype, c->saved[ti], i), b = value_at(t.dtype, t.data, i);
            double d = fabs(a - b);
            if (isnan(a) || isnan(b)) d = (isnan(a) && isnan(b)) ? 0 : INFINITY;
            if (d > 0) nd++;
            if (d > md) md = d;
        }
        if (isnan(value_at(t.dtype, t.data, 0)) && t.dtype != KILN_FLOAT32 &&
            t.dtype != KILN_FLOAT64) {
            nd = 0; /* other types: compare bytes */
            for (size_t i = 0; i < t.bytes; i++)
                nd += ((uint8_t *)c->saved[ti])[i] != ((uint8_t *)t.data)[i];
            md = nd ? 1 : 0;
        }
        c->maxdiff[ti] = md;
        c->ndiff[ti] = nd;
        c->checked[ti] = 1;
    }
}

typedef struct run_args {
    const char *model, *out, *signature, *save_inputs;
    const char *inputs[MAX_INPUTS];
    int ninputs;
    int have_seed;
    uint32_t seed;
    int arith; /* 0 tflm, 1 litert, 2 both */
    int32_t threads;
    int32_t invokes;
} run_args;

static int parse_args(int argc, char **argv, run_args *a) {
    memset(a, 0, sizeof *a);
    a->threads = 1;
    a->invokes = 1;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const int has_val = i + 1 < argc;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            kcli_help(help);
            return 0;
        } else if (!strcmp(s, "--out") || !strcmp(s, "--signature") || !strcmp(s, "--random") ||
                   !strcmp(s, "--arith") || !strcmp(s, "--threads") ||
                   !strcmp(s, "--save-inputs") || !strcmp(s, "--invokes")) {
            if (!has_val) {
                fprintf(stderr, "kiln run: %s needs a value (see kiln run --help)\n", s);
                return 2;
            }
            const char *v = argv[++i];
            if (!strcmp(s, "--out")) {
                a->out = v;
            } else if (!strcmp(s, "--signature")) {
                a->signature = v;
            } else if (!strcmp(s, "--invokes")) {
                long long n;
                if (kcli_parse_int(v, 1, 1000000, &n) != 0) {
                    fprintf(stderr,
                            "kiln run: --invokes needs a number from 1 to 1000000, got "
                            "'%s'\n",
                            v);
                    return 2;
                }
                a->invokes = (int32_t)n;
            } else if (!strcmp(s, "--save-inputs")) {
                a->save_inputs = v;
            } else if (!strcmp(s, "--random")) {
                long long seed;
                if (kcli_parse_int(v, 0, 4294967295ll, &seed) != 0) {
                    fprintf(stderr,
                            "kiln run: --random needs a seed from 0 to 4294967295, got "
                            "'%s'\n",
                            v);
                    return 2;
                }
                a->have_seed = 1;
                a->seed = (uint32_t)seed;
            } else if (!strcmp(s, "--arith")) {
                if (!strcmp(v, "tflm"))
                    a->arith = 0;
                else if (!strcmp(v, "litert"))
                    a->arith = 1;
                else if (!strcmp(v, "both"))
                    a->arith = 2;
                else {
                    fprintf(stderr, "kiln run: --arith must be tflm, litert or both, got '%s'\n",
                            v);
                    return 2;
                }
            } else if (kcli_parse_threads("run", v, &a->threads) != 0) {
                return 2;
            }
        } else if (s[0] == '-' && s[1] == '-') {
            fprintf(stderr, "kiln run: unknown option %s (see kiln run --help)\n", s);
            return 2;
        } else if (!a->model) {
            a->model = s;
        } else {
            if (a->ninputs == MAX_INPUTS) {
                fprintf(stderr, "kiln run: more than %d inputs\n", MAX_INPUTS);
                return 2;
            }
            a->inputs[a->ninputs++] = s;
        }
    }
    if (a->arith == 2 && a->invokes > 1) {
        fprintf(stderr, "kiln run: --invokes cannot be combined with --arith both\n");
        return 2;
    }
    if (!a->model) {
        fprintf(stderr, "kiln run: no model given (usage: kiln run MODEL [INPUT.npy...] --out "
                        "DIR; see --help)\n");
        return 2;
    }
    return -1;
}

/* Fills the interpreter's inputs from the files or the generator. Returns the exit code or -1. */
static int set_inputs(const run_args *a, kcli_model *km) {
    kiln_interp *it = km->interp;
    const int32_t nin = kiln_interp_num_inputs(it);
    char err[512];
    if (a->ninputs == 0 && nin > 0 && !a->have_seed) {
        fprintf(stderr,
                "kiln run: %s has %d input%s: give one .npy file per input or "
                "--random SEED\n",
                a->model, (int)nin, nin == 1 ? "" : "s");
        return 2;
    }
    if (a->ninputs != 0 && a->ninputs != nin) {
        fprintf(stderr, "kiln run: %s has %d input%s, %d .npy file%s given\n", a->model, (int)nin,
                nin == 1 ? "" : "s", a->ninputs, a->ninputs == 1 ? "" : "s");
        return 2;
    }
    for (int32_t i = 0; i < nin; i++) {
        kiln_tensor_info t;
        kiln_interp_input(it, i, &t);
        if (!t.data && t.bytes) {
            fprintf(stderr, "kiln run: %s: input %d ('%s') has no storage\n", a->model, (int)i,
                    t.name);
            return 1;
        }
        if (a->ninputs == 0) {
            const uint32_t seed = a->seed + (uint32_t)(i + 1) * 0x9e3779b1u;
            if (random_fill(&t, seed, err, sizeof err) != 0) {
                fprintf(stderr, "kiln run: %s: input %d ('%s'): %s\n", a->model, (int)i, t.name,
                        err);
                return 1;
            }
            continue;
        }
        kiln_npy arr;
        if (kiln_npy_read(a->inputs[i], &arr, err, sizeof err) != KILN_OK) {
            fprintf(stderr, "kiln run: %s\n", err);
            return 1;
        }
        int64_t n = 1;
        for (int32_t k = 0; k < arr.rank; k++)
            n *= arr.dims[k];
        char shape[160];
        if (arr.dtype != t.dtype) {
            fprintf(stderr, "kiln run: %s: dtype %s, but input %d ('%s') of %s is %s%s\n",
                    a->inputs[i], kiln_dtype_name(arr.dtype), (int)i, t.name, a->model,
                    kiln_dtype_name(t.dtype), kcli_shape_str(shape, sizeof shape, t.rank, t.dims));
            kiln_npy_free(&arr);
            return 1;
        }
        if (n != info_numel(&t) || arr.bytes != t.bytes) {
            fprintf(stderr,
                    "kiln run: %s: %lld elements, but input %d ('%s') of %s is %s%s "
                    "(%lld elements)\n",
                    a->inputs[i], (long long)n, (int)i, t.name, a->model, kiln_dtype_name(t.dtype),
                    kcli_shape_str(shape, sizeof shape, t.rank, t.dims), (long long)info_numel(&t));
            kiln_npy_free(&arr);
            return 1;
        }
        if (t.bytes) memcpy(t.data, arr.data, t.bytes);
        kiln_npy_free(&arr);
    }
    return -1;
}

static int copy_inputs(kiln_interp *from, kiln_interp *to) {
    for (int32_t i = 0; i < kiln_interp_num_inputs(from); i++) {
        kiln_tensor_info a, b;
        if (kiln_interp_input(from, i, &a) != KILN_OK || kiln_interp_input(to, i, &b) != KILN_OK)
            return -1;
        if (a.bytes != b.bytes) return -1;
        if (a.bytes) memcpy(b.data, a.data, a.bytes);
    }
    return 0;
}

static int save_inputs(const run_args *a, kiln_interp *it) {
    char err[512], path[4096];
    if (kcli_mkdirs(a->save_inputs) != 0) {
        fprintf(stderr, "kiln run: %s: cannot create directory\n", a->save_inputs);
        return 1;
    }
    for (int32_t i = 0; i < kiln_interp_num_inputs(it); i++) {
        kiln_tensor_info t;
        kiln_interp_input(it, i, &t);
        int64_t dims[KILN_MAX_RANK];
        for (int32_t k = 0; k < t.rank; k++)
            dims[k] = t.dims[k];
        snprintf(path, sizeof path, "%s/input_%d.npy", a->save_inputs, (int)i);
        if (kiln_npy_write(path, t.dtype, t.rank, dims, t.data, err, sizeof err) != KILN_OK) {
            fprintf(stderr, "kiln run: %s\n", err);
            return 1;
        }
    }
    return 0;
}

static int write_outputs(const run_args *a, kiln_interp *it) {
    char err[512], path[4096], name[80];
    if (a->out && kcli_mkdirs(a->out) != 0) {
        fprintf(stderr, "kiln run: %s: cannot create the output directory\n", a->out);
        return 1;
    }
    for (int32_t k = 0; k < kiln_interp_num_outputs(it); k++) {
        kiln_tensor_info t;
        kiln_interp_output(it, k, &t);
        if (a->out) {
            sanitize(t.name, name, sizeof name);
            snprintf(path, sizeof path, "%s/%03d_%s.npy", a->out, (int)k, name);
            int64_t dims[KILN_MAX_RANK];
            for (int32_t i = 0; i < t.rank; i++)
                dims[i] = t.dims[i];
            if (kiln_npy_write(path, t.dtype, t.rank, dims, t.data, err, sizeof err) != KILN_OK) {
                fprintf(stderr, "kiln run: %s\n", err);
                return 1;
            }
        }
        print_output(k, &t, a->out ? path : NULL);
    }
    return 0;
}

static int run_both(const run_args *a, kcli_model *km) {
    kcli_model kb = *km; /* same model, a second interpreter (single-threaded) */
    kiln_interp_options o;
    kiln_interp_options_init(&o);
    o.arith = KILN_ARITH_LITERT;
    o.signature = a->signature;
    kb.interp = NULL;
    kb.pool = NULL;
    if (kcli_model_interp("run", &kb, &o, 1) != 0) return 1;
    kiln_interp *ia = km->interp, *ib = kb.interp;
    int rc = 0;
    const int32_t nt = kiln_interp_num_tensors(ia);
    both_ctx c = {0};
    c.nt = nt;
    c.saved = calloc((size_t)nt + 1, sizeof(void *));
    c.maxdiff = calloc((size_t)nt + 1, sizeof(double));
    c.ndiff = calloc((size_t)nt + 1, sizeof(int64_t));
    c.checked = calloc((size_t)nt + 1, 1);
    if (!c.saved || !c.maxdiff || !c.ndiff || !c.checked) {
        fprintf(stderr, "kiln run: out of memory\n");
        rc = 1;
        goto done;
    }
    if (copy_inputs(ia, ib) != 0) {
        fprintf(stderr, "kiln run: %s: the two dialects' inputs differ\n", a->model);
        rc = 1;
        goto done;
    }
    c.it = ia;
    kiln_interp_set_op_hook(ia, both_hook, &c);
    if (kiln_interp_invoke(ia) != KILN_OK) {
        fprintf(stderr, "kiln run: %s\n", kiln_interp_error(ia));
        rc = 1;
        goto done;
    }
    kiln_interp_set_op_hook(ia, NULL, NULL);
    c.it = ib;
    c.compare = 1;
    kiln_interp_set_op_hook(ib, both_hook, &c);
    if (kiln_interp_invoke(ib) != KILN_OK) {
        fprintf(stderr, "kiln run: %s (litert dialect)\n", kiln_interp_error(ib));
        rc = 1;
        goto done;
    }
    printf("arith both: tflm vs litert, per operator output where they part\n");
    int32_t first = -1, nparts = 0;
    for (int32_t i = 0; i < kiln_interp_num_ops(ia); i++) {
        kiln_op_info oi;
        kiln_interp_op(ia, i, &oi);
        for (int32_t k = 0; k < oi.num_outputs; k++) {
            const int32_t ti = oi.outputs[k];
            if (ti < 0 || ti >= nt || !c.checked[ti] || c.ndiff[ti] == 0) continue;
            kiln_tensor_info t;
            char shape[160];
            kiln_interp_tensor(ia, ti, &t);
            printf("  operator %d %s -> tensor %d '%s' %s%s: max |diff| %g, %lld of %lld "
                   "elements differ\n",
                   (int)i, oi.name, (int)ti, t.name, kiln_dtype_name(t.dtype),
                   kcli_shape_str(shape, sizeof shape, t.rank, t.dims), c.maxdiff[ti],
                   (long long)c.ndiff[ti], (long long)info_numel(&t));
            if (first < 0) first = i;
            nparts++;
        }
    }
    if (first < 0)
        printf("  none: the dialects agree on every operator output\n");
    else
        printf("  first part at operator %d; %d operator output%s differ\n", (int)first,
               (int)nparts, nparts == 1 ? "" : "s");
done:
    if (c.saved)
        for (int32_t i = 0; i < nt; i++)
            free(c.saved[i]);
    free(c.saved);
    free(c.maxdiff);
    free(c.ndiff);
    free(c.checked);
    kiln_interp_destroy(kb.interp);
    return rc;
}

int kiln_cmd_run(int argc, char **argv) {
    run_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) return rc;
    kcli_model km;
    const double t0 = now_us();
    if (kcli_model_load("run", a.model, &km) != 0) return 1;
    kiln_interp_options o;
    kiln_interp_options_init(&o);
    o.arith = a.arith == 1 ? KILN_ARITH_LITERT : KILN_ARITH_TFLM;
    o.signature = a.signature;
    if (kcli_model_interp("run", &km, &o, a.threads) != 0) {
        kcli_model_free(&km);
        return 1;
    }
    const double t1 = now_us();
    rc = set_inputs(&a, &km);
    if (rc < 0 && a.save_inputs) rc = save_inputs(&a, km.interp) ? 1 : -1;
    if (rc < 0 && a.arith == 2) rc = run_both(&a, &km) ? 1 : -1;
    double t2 = 0, t3 = 0;
    if (rc < 0 && a.arith != 2) { /* --arith both already ran the tflm interpreter */
        /* An input's bytes may be reused once its last consumer ran (TFLite Micro's arena
         * rule), so repeated invokes restore the inputs from a copy each time. */
        const int32_t nin = kiln_interp_num_inputs(km.interp);
        void **saved = a.invokes > 1 ? calloc((size_t)nin + 1, sizeof(void *)) : NULL;
        for (int32_t i = 0; saved && i < nin; i++) {
            kiln_tensor_info t;
            kiln_interp_input(km.interp, i, &t);
            saved[i] = malloc(t.bytes ? t.bytes : 1);
            if (saved[i]) memcpy(saved[i], t.data, t.bytes);
        }
        for (int32_t k = 0; k < a.invokes && rc < 0; k++) {
            for (int32_t i = 0; k > 0 && saved && i < nin; i++) {
                kiln_tensor_info t;
                kiln_interp_input(km.interp, i, &t);
                if (saved[i]) memcpy(t.data, saved[i], t.bytes);
            }
            t2 = now_us();
            if (kiln_interp_invoke(km.interp) != KILN_OK) {
                if (a.invokes > 1)
                    fprintf(stderr, "kiln run: %s (invoke %d of %d)\n",
                            kiln_interp_error(km.interp), (int)k + 1, (int)a.invokes);
                else
                    fprintf(stderr, "kiln run: %s\n", kiln_interp_error(km.interp));
                rc = 1;
            }
            t3 = now_us();
        }
        for (int32_t i = 0; saved && i < nin; i++)
            free(saved[i]);
        free(saved);
    }
    if (rc < 0) rc = write_outputs(&a, km.interp);
    if (rc == 0 && a.arith == 2)
        printf("load+prepare %.0f us, arena %zu bytes (lower bound %zu), persistent %zu bytes\n",
               t1 - t0, kiln_rt_arena_size(km.interp), kiln_rt_arena_lower_bound(km.interp),
               kiln_rt_persistent_size(km.interp));
    else if (rc == 0)
        printf("load+prepare %.0f us, invoke %.1f us, arena %zu bytes (lower bound %zu), "
               "persistent %zu bytes\n",
               t1 - t0, t3 - t2, kiln_rt_arena_size(km.interp),
               kiln_rt_arena_lower_bound(km.interp), kiln_rt_persistent_size(km.interp));
    kcli_model_free(&km);
    return rc;
}
