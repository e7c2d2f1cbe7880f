/* cmd_bench.c: kiln bench: invoke-time statistics of a .tflite model with the flags and figures
 * of TFLite's benchmark_model (tools/benchmark), plus --compare, --json/--csv and --report. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli.h"
#include "cli_util.h"
#include "kiln/html.h"
#include "kiln/json.h"
#include "kiln/npy.h"

static const char help[] =
    "usage: kiln bench MODEL [options]\n"
    "\n"
    "Times invocations of a .tflite model as TFLite's benchmark_model does: load + prepare\n"
    "time, first inference, warm-up, then steady-state runs, with count, min, max, mean, std,\n"
    "p5, median and p95 of the invoke time in microseconds, and memory (arena, process RSS).\n"
    "Flags may be written --flag VALUE or --flag=VALUE (benchmark_model's spelling).\n"
    "\n"
    "options:\n"
    "  --num_runs N         minimum number of timed runs (default 50)\n"
    "  --min_secs S         minimum seconds of timed runs: runs continue until both N runs\n"
    "                       and S seconds are done (default 1.0; 0 when --num_runs is given,\n"
    "                       so that count == N unless --max_secs stops it first)\n"
    "  --max_secs S         stop the timed runs after S seconds (default 150)\n"
    "  --warmup_runs N      untimed-for-statistics runs after the first (default 1)\n"
    "  --num_threads N      kernel threads (default 1); also spelled --threads\n"
    "  --input_layer_value_range NAME,LO,HI[:NAME,LO,HI...]\n"
    "                       random input values of input NAME uniform in [LO, HI] (integers\n"
    "                       for integer inputs). Default: float in [-0.5, 0.5), int8/uint8/\n"
    "                       int16 over their full range, int32/int64 in [0, 99], bool 0/1\n"
    "  --random SEED        seed of the random inputs (default 0)\n"
    "  --input_layer_value_files NAME:FILE.npy[,NAME:FILE.npy...]\n"
    "                       take input NAME (tensor name, signature name or input index)\n"
    "                       from a .npy file of the input's dtype and element count\n"
    "  --enable_op_profiling\n"
    "                       time every operator: a table of op, node, average time, share of\n"
    "                       the total, MACs and GMAC/s, in run order and sorted by cost\n"
    "  --arith tflm|litert  integer arithmetic dialect (default tflm)\n"
    "  --compare OTHER      also load OTHER.tflite and run the two in alternation (ABBA\n"
    "                       order) for --num_runs rounds; reports the ratio MODEL/OTHER of\n"
    "                       the per-round times (median) with a 95% confidence interval and\n"
    "                       says when the difference is not significant\n"
    "  --json               print one JSON object instead of the text\n"
    "  --csv                print CSV instead of the text (a statistics row; with op\n"
    "                       profiling, then a blank line and the per-operator rows)\n"
    "  --report FILE.html   write a self-contained HTML report (latency histogram, per-op\n"
    "                       time chart, model facts)\n"
    "  -h, --help           this text\n"
    "\n"
    "Every input not named in --input_layer_value_files gets random values.\n"
    "JSON fields: model, threads, arith, model_bytes, ops, init_us, first_us, warmup_count,\n"
    "warmup_mean_us, count, min_us, max_us, mean_us, std_us, p5_us, median_us, p95_us,\n"
    "arena_bytes, persistent_bytes, peak_rss_bytes; op_profile (node, op, kernel, avg_us,\n"
    "share, macs, gmacs) and op_profile_by_cost (node indices) with --enable_op_profiling;\n"
    "compare {other, rounds, median_us, other_median_us, ratio, ratio_lo, ratio_hi,\n"
    "significant} with --compare. Times are microseconds of kiln_interp_invoke only.\n"
    "Exit status: 0 ok; 1 error (one line naming the file); 2 usage error.\n";

#define CMD "bench"
#define MAX_RANGES 32

typedef struct value_range {
    const char *name;
    size_t name_len;
    double lo, hi;
} value_range;

typedef struct bench_opts {
    const char *model, *other, *report, *value_files;
    long long num_runs, warmup_runs;
    double min_secs, max_secs;
    int32_t threads;
    kiln_arith arith;
    uint32_t seed;
    int op_prof, json, csv;
    int32_t num_ranges;
    value_range ranges[MAX_RANGES];
} bench_opts;

typedef struct stats {
    int64_t count;
    double min, max, mean, std, p5, median, p95;
} stats;

/* Per-operator accumulated time, filled through the interpreter's op hook. */
typedef struct op_prof {
    int32_t nops;
    double *acc_us;
    double t0;
    int on;
} op_prof;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void op_hook(void *ud, int32_t op, int after) {
    op_prof *p = ud;
    if (!p->on || op < 0 || op >= p->nops) return;
    if (!after)
        p->t0 = now_us();
    else
        p->acc_us[op] += now_us() - p->t0;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v (as TFLite's Stat reports p5/p95). */
static double percentile(const double *v, int64_t n, double p) {
    if (n <= 0) return 0;
    int64_t k = (int64_t)ceil(p / 100.0 * (double)n) - 1;
    if (k < 0) k = 0;
    if (k >= n) k = n - 1;
    return v[k];
}

static double median_sorted(const double *v, int64_t n) {
    if (n <= 0) return 0;
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int compute_stats(const double *t, int64_t n, stats *s) {
    memset(s, 0, sizeof *s);
    s->count = n;
    if (n == 0) return 0;
    double *v = malloc((size_t)n * sizeof *v);
    if (!v) return -1;
    memcpy(v, t, (size_t)n * sizeof *v);
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double sum = 0;
    for (int64_t i = 0; i < n; i++)
        sum += v[i];
    s->mean = sum / (double)n;
    double ss = 0;
    for (int64_t i = 0; i < n; i++)
        ss += (v[i] - s->mean) * (v[i] - s->mean);
    s->std = sqrt(ss / (double)n);
    s->min = v[0];
    s->max = v[n - 1];
    s->p5 = percentile(v, n, 5);
    s->median = median_sorted(v, n);
    s->p95 = percentile(v, n, 95);
    free(v);
    return 0;
}

static int64_t numel(const kiln_tensor_info *t) {
    int64_t n = 1;
    for (int32_t i = 0; i < t->rank; i++)
        n *= t->dims[i] > 0 ? t->dims[i] : 1;
    return n;
}

/* mulberry32: a small seeded generator (the one tflite-run uses for its inputs). */
static uint32_t mulberry32(uint32_t *a) {
    *a += 0x6d2b79f5u;
    uint32_t t = *a;
    t = (t ^ (t >> 15)) * (t | 1u);
    t ^= t + (t ^ (t >> 7)) * (t | 61u);
    return t ^ (t >> 14);
}

/* Fills every input with random values (benchmark_model's default ranges, or the user's). */
static int fill_inputs(kiln_interp *it, const bench_opts *o, const char *path) {
    uint32_t st = o->seed * 2654435761u + 1;
    for (int32_t k = 0; k < kiln_interp_num_inputs(it); k++) {
        kiln_tensor_info t;
        if (kiln_interp_input(it, k, &t) != KILN_OK || !t.data) continue;
        double lo, hi;
        int is_float = 0;
        switch (t.dtype) {
        case KILN_FLOAT32:
        case KILN_FLOAT64:
        case KILN_FLOAT16:
            lo = -0.5, hi = 0.5, is_float = 1;
            break;
        case KILN_INT8:
            lo = -128, hi = 127;
            break;
        case KILN_UINT8:
            lo = 0, hi = 255;
            break;
        case KILN_INT16:
            lo = -32768, hi = 32767;
            break;
        case KILN_BOOL:
            lo = 0, hi = 1;
            break;
        default:
            lo = 0, hi = 99;
            break;
        }
        const char *nm = kiln_interp_input_alias(it, k);
        for (int32_t r = 0; r < o->num_ranges; r++) {
            const value_range *vr = &o->ranges[r];
            if ((t.name && strlen(t.name) == vr->name_len &&
                 !strncmp(t.name, vr->name, vr->name_len)) ||
                (nm && strlen(nm) == vr->name_len && !strncmp(nm, vr->name, vr->name_len))) {
                lo = vr->lo, hi = vr->hi;
            }
        }
        const int64_t n = numel(&t);
        const size_t es = kiln_dtype_size(t.dtype);
        if (es == 0 || (size_t)n * es > t.bytes) {
            fprintf(stderr, "kiln bench: %s: input %d (%s) has dtype %s, which bench cannot fill\n",
                    path, (int)k, t.name ? t.name : "?", kiln_dtype_name(t.dtype));
            return -1;
        }
        uint8_t *d = t.data;
        for (int64_t i = 0; i < n; i++) {
            const double u = (double)(mulberry32(&st) >> 8) / 16777216.0;
            const double fv = lo + u * (hi - lo);
            const int64_t iv = (int64_t)floor(lo + u * (hi - lo + 1));
            switch (t.dtype) {
            case KILN_FLOAT32: {
                float f = (float)fv;
                memcpy(d + 4 * i, &f, 4);
                break;
            }
            case KILN_FLOAT64:
                memcpy(d + 8 * i, &fv, 8);
                break;
            case KILN_INT8:
            case KILN_UINT8:
            case KILN_BOOL:
                d[i] = (uint8_t)(is_float ? 0 : iv);
                break;
            case KILN_INT16:
            case KILN_UINT16:
            case KILN_FLOAT16: {
                uint16_t x = (uint16_t)(is_float ? 0 : iv);
                memcpy(d + 2 * i, &x, 2);
                break;
            }
            case KILN_INT32:
            case KILN_UINT32: {
                int32_t x = (int32_t)iv;
                memcpy(d + 4 * i, &x, 4);
                break;
            }
            default: {
                int64_t x = iv;
                memcpy(d + 8 * i, &x, 8);
                break;
            }
            }
        }
    }
    return 0;
}

/* --input_layer_value_files: "name:file,name:file" (benchmark_model's syntax). */
static int load_value_files(kiln_interp *it, const char *spec, const char *path) {
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        const size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[4096];
        if (len == 0 || len >= sizeof item) goto bad;
        memcpy(item, p, len);
        item[len] = 0;
        char *colon = strrchr(item, ':');
        if (!colon || colon == item || !colon[1]) goto bad;
        *colon = 0;
        const char *file = colon + 1;
        int32_t k = -1;
        for (int32_t i = 0; i < kiln_interp_num_inputs(it) && k < 0; i++) {
            kiln_tensor_info t;
            const char *alias = kiln_interp_input_alias(it, i);
            if (kiln_interp_input(it, i, &t) == KILN_OK &&
                ((t.name && !strcmp(t.name, item)) || (alias && !strcmp(alias, item))))
                k = i;
        }
        long long idx;
        if (k < 0 && kcli_parse_int(item, 0, kiln_interp_num_inputs(it) - 1, &idx) == 0)
            k = (int32_t)idx;
        if (k < 0) {
            fprintf(stderr, "kiln bench: %s: no input named '%s'\n", path, item);
            return -1;
        }
        kiln_tensor_info t;
        kiln_interp_input(it, k, &t);
        kiln_npy a;
        char err[KILN_ERRLEN];
        if (kiln_npy_read(file, &a, err, sizeof err) != KILN_OK) {
            fprintf(stderr, "kiln bench: %s\n", err);
            return -1;
        }
        if (a.dtype != t.dtype || a.bytes != t.bytes || !t.data) {
            fprintf(stderr, "kiln bench: %s: %s %zu bytes, input %d wants %s %zu bytes\n", file,
                    kiln_dtype_name(a.dtype), a.bytes, (int)k, kiln_dtype_name(t.dtype),
                    t.bytes);
            kiln_npy_free(&a);
            return -1;
        }
        memcpy(t.data, a.data, t.bytes);
        kiln_npy_free(&a);
        p += len;
        if (*p == ',') p++;
    }
    return 0;
bad:
    fprintf(stderr, "kiln bench: --input_layer_value_files needs NAME:FILE[,NAME:FILE], got %s\n",
            spec);
    return -1;
}

static int invoke(kcli_model *km) {
    kiln_status s = kiln_interp_invoke(km->interp);
    if (s != KILN_OK) {
        const char *e = kiln_interp_error(km->interp);
        fprintf(stderr, "kiln bench: %s: invoke failed: %s\n", km->path,
                e && *e ? e : kiln_status_str(s));
        return -1;
    }
    return 0;
}

static int64_t peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (int64_t)ru.ru_maxrss * 1024;
}

static int64_t tensor_numel(const kiln_interp *it, int32_t idx) {
    kiln_tensor_info t;
    if (idx < 0 || kiln_interp_tensor(it, idx, &t) != KILN_OK) return 0;
    return numel(&t);
}

static int32_t tensor_dim(const kiln_interp *it, int32_t idx, int32_t d) {
    kiln_tensor_info t;
    if (idx < 0 || kiln_interp_tensor(it, idx, &t) != KILN_OK) return 0;
    if (d < 0) d += t.rank;
    if (d < 0 || d >= t.rank) return 0;
    return t.dims[d];
}

/* Multiply-accumulates of one operator (the ops that do matrix work; 0 for the rest). */
static int64_t op_macs(const kiln_interp *it, const kiln_op_info *op) {
    if (op->num_inputs < 2 || op->num_outputs < 1) return 0;
    const int64_t out = tensor_numel(it, op->outputs[0]);
    switch (op->builtin_code) {
    case 3: /* CONV_2D: out * KH * KW * Cin (filter OHWI) */
        return out * tensor_dim(it, op->inputs[1], 1) * tensor_dim(it, op->inputs[1], 2) *
               tensor_dim(it, op->inputs[1], 3);
    case 4: /* DEPTHWISE_CONV_2D: out * KH * KW */
        return out * tensor_dim(it, op->inputs[1], 1) * tensor_dim(it, op->inputs[1], 2);
    case 9: /* FULLY_CONNECTED: out * input depth */
        return out * tensor_dim(it, op->inputs[1], -1);
    case 67: /* TRANSPOSE_CONV: input elements * O * KH * KW (weights OHWI, input 3rd) */
        if (op->num_inputs < 3) return 0;
        return tensor_numel(it, op->inputs[2]) * tensor_dim(it, op->inputs[1], 0) *
               tensor_dim(it, op->inputs[1], 1) * tensor_dim(it, op->inputs[1], 2);
    case 126: /* BATCH_MATMUL: out * K */
        return out * tensor_dim(it, op->inputs[0], -1);
    case 97: /* CONV_3D: out * KD * KH * KW * Cin (filter DHWIO) */
        return out * tensor_dim(it, op->inputs[1], 0) * tensor_dim(it, op->inputs[1], 1) *
               tensor_dim(it, op->inputs[1], 2) * tensor_dim(it, op->inputs[1], 3);
    default:
        return 0;
    }
}

static int parse_double(const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return -1;
    char *end = NULL;
    double v = strtod(s, &end);
    if (!end || *end || !(v >= lo && v <= hi)) return -1;
    *out = v;
    return 0;
}

/* "name,lo,hi:name2,lo,hi" as benchmark_model's --input_layer_value_range. */
static int parse_ranges(const char *s, bench_opts *o) {
    const char *p = s;
    while (*p) {
        if (o->num_ranges >= MAX_RANGES) return -1;
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char buf[512];
        if (len == 0 || len >= sizeof buf) return -1;
        memcpy(buf, p, len);
        buf[len] = 0;
        char *c2 = strrchr(buf, ',');
        if (!c2) return -1;
        *c2 = 0;
        char *c1 = strrchr(buf, ',');
        if (!c1) return -1;
        *c1 = 0;
        value_range *vr = &o->ranges[o->num_ranges];
        if (parse_double(c1 + 1, -1e300, 1e300, &vr->lo) ||
            parse_double(c2 + 1, -1e300, 1e300, &vr->hi) || vr->lo > vr->hi || !buf[0])
            return -1;
        vr->name = p;
        vr->name_len = strlen(buf);
        o->num_ranges++;
        p += len;
        if (*p == ':') p++;
    }
    return o->num_ranges > 0 ? 0 : -1;
}

static int usage(const char *msg, const char *arg) {
    fprintf(stderr, "kiln bench: %s%s%s (see kiln bench --help)\n", msg, arg ? " " : "",
            arg ? arg : "");
    return 2;
}

/* Splits "--flag=value" (returns value) or takes the next argument. */
static const char *flag_value(int argc, char **argv, int *i, const char *eq) {
    if (eq) return eq + 1;
    if (*i + 1 >= argc) return NULL;
    return argv[++*i];
}

static int parse_args(int argc, char **argv, bench_opts *o) {
    int have_runs = 0, have_min = 0;
    memset(o, 0, sizeof *o);
    o->num_runs = 50;
    o->warmup_runs = 1;
    o->min_secs = 1.0;
    o->max_secs = 150.0;
    o->threads = 1;
    o->arith = KILN_ARITH_TFLM;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1]) {
            if (o->model) return usage("more than one model given:", a);
            o->model = a;
            continue;
        }
        char name[64];
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof name) return usage("unknown option", a);
        memcpy(name, a, nl);
        name[nl] = 0;
#define VAL()                                                                                  \
    const char *v = flag_value(argc, argv, &i, eq);                                            \
    if (!v) return usage("missing value after", name)
        if (!strcmp(name, "--json")) {
            o->json = 1;
        } else if (!strcmp(name, "--csv")) {
            o->csv = 1;
        } else if (!strcmp(name, "--enable_op_profiling")) {
            if (eq && strcmp(eq + 1, "true") && strcmp(eq + 1, "1")) continue;
            o->op_prof = 1;
        } else if (!strcmp(name, "--num_runs")) {
            VAL();
            if (kcli_parse_int(v, 1, 100000000, &o->num_runs))
                return usage("--num_runs needs an integer >= 1, got", v);
            have_runs = 1;
        } else if (!strcmp(name, "--warmup_runs")) {
            VAL();
            if (kcli_parse_int(v, 0, 100000000, &o->warmup_runs))
                return usage("--warmup_runs needs an integer >= 0, got", v);
        } else if (!strcmp(name, "--min_secs")) {
            VAL();
            if (parse_double(v, 0, 1e7, &o->min_secs))
                return usage("--min_secs needs a number >= 0, got", v);
            have_min = 1;
        } else if (!strcmp(name, "--max_secs")) {
            VAL();
            if (parse_double(v, 0, 1e7, &o->max_secs) || o->max_secs <= 0)
                return usage("--max_secs needs a number > 0, got", v);
        } else if (!strcmp(name, "--num_threads") || !strcmp(name, "--threads")) {
            VAL();
            if (kcli_parse_threads(CMD, v, &o->threads)) return 2;
        } else if (!strcmp(name, "--input_layer_value_range")) {
            VAL();
            if (parse_ranges(v, o))
                return usage("--input_layer_value_range needs NAME,LO,HI[:NAME,LO,HI], got", v);
        } else if (!strcmp(name, "--input_layer_value_files")) {
            VAL();
            o->value_files = v;
        } else if (!strcmp(name, "--random")) {
            VAL();
            long long s;
            if (kcli_parse_int(v, 0, 4294967295LL, &s))
                return usage("--random needs a seed in [0, 2^32), got", v);
            o->seed = (uint32_t)s;
        } else if (!strcmp(name, "--arith")) {
            VAL();
            if (!strcmp(v, "tflm"))
                o->arith = KILN_ARITH_TFLM;
            else if (!strcmp(v, "litert"))
                o->arith = KILN_ARITH_LITERT;
            else
                return usage("--arith must be tflm or litert, got", v);
        } else if (!strcmp(name, "--compare")) {
            VAL();
            o->other = v;
        } else if (!strcmp(name, "--report")) {
            VAL();
            o->report = v;
        } else if (!strcmp(name, "-h") || !strcmp(name, "--help")) {
            return -1;
        } else {
            return usage("unknown option", a);
        }
#undef VAL
    }
    if (!o->model) return usage("no model given", NULL);
    if (o->json && o->csv) return usage("--json and --csv exclude each other", NULL);
    if (have_runs && !have_min) o->min_secs = 0;
    return 0;
}

/* Distribution-free 95% interval of the median of sorted v: the order statistics at
 * n/2 -+ 1.96 sqrt(n)/2 (normal approximation of the binomial). */
static void median_ci(const double *v, int64_t n, double *lo, double *hi) {
    const double h = 1.96 * sqrt((double)n) / 2.0;
    int64_t j = (int64_t)floor((double)n / 2.0 - h), k = (int64_t)ceil((double)n / 2.0 + h);
    if (j < 0) j = 0;
    if (k > n - 1) k = n - 1;
    *lo = v[j];
    *hi = v[k];
}

typedef struct compare_result {
    int64_t rounds;
    double median_a, median_b, ratio, lo, hi;
    int significant;
} compare_result;

static int run_compare(kcli_model *a, kcli_model *b, const bench_opts *o, compare_result *cr) {
    const int64_t n = o->num_runs;
    double *ta = malloc((size_t)n * sizeof *ta), *tb = malloc((size_t)n * sizeof *tb);
    double *r = malloc((size_t)n * sizeof *r);
    if (!ta || !tb || !r) {
        free(ta), free(tb), free(r);
        fprintf(stderr, "kiln bench: out of memory\n");
        return -1;
    }
    int rc = 0;
    const double start = now_us();
    int64_t i = 0;
    for (; i < n; i++) {
        /* ABBA: alternate which model goes first so drift and cache effects cancel */
        kcli_model *first = (i % 2) ? b : a, *second = (i % 2) ? a : b;
        double t0 = now_us();
        if (invoke(first)) {
            rc = -1;
            break;
        }
        double t1 = now_us();
        if (invoke(second)) {
            rc = -1;
            break;
        }
        double t2 = now_us();
        ta[i] = (i % 2) ? t2 - t1 : t1 - t0;
        tb[i] = (i % 2) ? t1 - t0 : t2 - t1;
        r[i] = tb[i] > 0 ? ta[i] / tb[i] : 1.0;
        if (t2 - start > o->max_secs * 1e6) {
            i++;
            break;
        }
    }
    if (rc == 0) {
        cr->rounds = i;
        qsort(ta, (size_t)i, sizeof *ta, cmp_double);
        qsort(tb, (size_t)i, sizeof *tb, cmp_double);
        qsort(r, (size_t)i, sizeof *r, cmp_double);
        cr->median_a = median_sorted(ta, i);
        cr->median_b = median_sorted(tb, i);
        cr->ratio = median_sorted(r, i);
        median_ci(r, i, &cr->lo, &cr->hi);
        cr->significant = i >= 6 && (cr->lo > 1.0 || cr->hi < 1.0);
    }
    free(ta), free(tb), free(r);
    return rc;
}

typedef struct op_row {
    kiln_op_info info;
    double avg_us, share, gmacs;
    int64_t macs;
} op_row;

static int cmp_cost(const void *a, const void *b) {
    const op_row *x = *(const op_row *const *)a, *y = *(const op_row *const *)b;
    if (x->avg_us != y->avg_us) return x->avg_us < y->avg_us ? 1 : -1;
    return 0;
}

static void write_report(const bench_opts *o, const kcli_model *km, const double *times,
                         int64_t n, const stats *st, double init_us, double first_us,
                         const op_row *rows, int32_t nops, const compare_result *cr) {
    char err[KILN_ERRLEN], buf[128];
    kiln_html *h = kiln_html_begin("kiln bench report");
    if (!h) {
        fprintf(stderr, "kiln bench: out of memory writing the report\n");
        return;
    }
    snprintf(buf, sizeof buf, "kiln bench: %s", o->model);
    kiln_html_heading(h, 1, buf);
    const char *keys[] = {"model", "file bytes", "operators", "threads", "arith", "arena bytes",
                          "persistent bytes", "peak RSS bytes", "init", "first inference",
                          "runs", "median", "mean ± std", "min / max", "p5 / p95"};
    char vals[15][96];
    snprintf(vals[0], 96, "%s", o->model);
    snprintf(vals[1], 96, "%zu", km->file.len);
    snprintf(vals[2], 96, "%d", (int)kiln_interp_num_ops(km->interp));
    snprintf(vals[3], 96, "%d", (int)o->threads);
    snprintf(vals[4], 96, "%s", o->arith == KILN_ARITH_LITERT ? "litert" : "tflm");
    snprintf(vals[5], 96, "%zu", kiln_rt_arena_size(km->interp));
    snprintf(vals[6], 96, "%zu", kiln_rt_persistent_size(km->interp));
    snprintf(vals[7], 96, "%lld", (long long)peak_rss_bytes());
    snprintf(vals[8], 96, "%.1f µs", init_us);
    snprintf(vals[9], 96, "%.1f µs", first_us);
    snprintf(vals[10], 96, "%lld", (long long)st->count);
    snprintf(vals[11], 96, "%.2f µs", st->median);
    snprintf(vals[12], 96, "%.2f ± %.2f µs", st->mean, st->std);
    snprintf(vals[13], 96, "%.2f / %.2f µs", st->min, st->max);
    snprintf(vals[14], 96, "%.2f / %.2f µs", st->p5, st->p95);
    const char *vp[15];
    for (int i = 0; i < 15; i++)
        vp[i] = vals[i];
    kiln_html_facts(h, "Model and timing", 15, keys, vp);
    kiln_html_histogram(h, "Invoke time histogram", times, n, 30, "invoke time (µs)");
    if (cr) {
        snprintf(buf, sizeof buf,
                 "Compared with %s over %lld alternating rounds: ratio %.3f (95%% CI %.3f - "
                 "%.3f), %s.",
                 o->other, (long long)cr->rounds, cr->ratio, cr->lo, cr->hi,
                 cr->significant ? "significant" : "not significant");
        kiln_html_paragraph(h, buf);
        const char *lab[] = {o->model, o->other};
        const double v[] = {cr->median_a, cr->median_b};
        kiln_html_hbars(h, "Median invoke time (µs)", 2, lab, v, "µs");
    }
    if (rows && nops > 0) {
        const char **lab = calloc((size_t)nops, sizeof *lab);
        double *v = calloc((size_t)nops, sizeof *v);
        char(*names)[80] = calloc((size_t)nops, sizeof *names);
        if (lab && v && names) {
            for (int32_t i = 0; i < nops; i++) {
                snprintf(names[i], 80, "%d %s", (int)i, rows[i].info.name);
                lab[i] = names[i];
                v[i] = rows[i].avg_us;
            }
            kiln_html_hbars(h, "Per-operator time, run order (µs per run)", nops, lab, v, "µs");
        }
        free(lab), free(v), free(names);
        /* the same rows as a table sorted by cost */
        const int32_t cols = 6;
        const char **cells = calloc((size_t)(nops + 1) * (size_t)cols, sizeof *cells);
        char(*txt)[5][32] = calloc((size_t)nops, sizeof *txt);
        int32_t *order = malloc((size_t)nops * sizeof *order);
        if (cells && txt && order) {
            for (int32_t i = 0; i < nops; i++)
                order[i] = i;
            for (int32_t i = 1; i < nops; i++) /* insertion sort: stable, by time descending */
                for (int32_t j = i; j > 0 && rows[order[j]].avg_us > rows[order[j - 1]].avg_us;
                     j--) {
                    int32_t t = order[j];
                    order[j] = order[j - 1], order[j - 1] = t;
                }
            const char *hdr[] = {"op", "node", "µs per run", "share", "MACs", "GMAC/s"};
            for (int32_t c = 0; c < cols; c++)
                cells[c] = hdr[c];
            for (int32_t r = 0; r < nops; r++) {
                const op_row *row = &rows[order[r]];
                snprintf(txt[r][0], 32, "%d", (int)order[r]);
                snprintf(txt[r][1], 32, "%.2f", row->avg_us);
                snprintf(txt[r][2], 32, "%.2f%%", 100 * row->share);
                snprintf(txt[r][3], 32, "%lld", (long long)row->macs);
                snprintf(txt[r][4], 32, "%.3f", row->gmacs);
                const char **rc = cells + (size_t)(r + 1) * (size_t)cols;
                rc[0] = row->info.name;
                for (int32_t c = 1; c < cols; c++)
                    rc[c] = txt[r][c - 1];
            }
            kiln_html_table(h, "Operators sorted by cost", nops + 1, cols, cells);
        }
        free(cells), free(txt), free(order);
    }
    if (kiln_html_save(h, o->report, err, sizeof err) != KILN_OK)
        fprintf(stderr, "kiln bench: %s\n", err);
    kiln_html_free(h);
}

int kiln_cmd_bench(int argc, char **argv) {
    bench_opts o;
    int pr = parse_args(argc, argv, &o);
    if (pr < 0) return kcli_help(help);
    if (pr > 0) return pr;

    kcli_model km, ko;
    memset(&ko, 0, sizeof ko);
    kiln_interp_options io;
    kiln_interp_options_init(&io);
    io.arith = o.arith;
    const double t_init0 = now_us();
    if (kcli_model_load(CMD, o.model, &km)) return 1;
    if (kcli_model_interp(CMD, &km, &io, o.threads)) {
        kcli_model_free(&km);
        return 1;
    }
    const double init_us = now_us() - t_init0;
    int rc = 1;
    double *times = NULL;
    op_row *rows = NULL;
    op_prof prof = {0};
    if (fill_inputs(km.interp, &o, o.model)) goto done;
    if (o.value_files && load_value_files(km.interp, o.value_files, o.model)) goto done;
    if (o.other) {
        if (kcli_model_load(CMD, o.other, &ko)) goto done;
        if (kcli_model_interp(CMD, &ko, &io, o.threads)) goto done;
        if (fill_inputs(ko.interp, &o, o.other)) goto done;
    }

    const int32_t nops = kiln_interp_num_ops(km.interp);
    if (o.op_prof && nops > 0) {
        prof.nops = nops;
        prof.acc_us = calloc((size_t)nops, sizeof *prof.acc_us);
        if (!prof.acc_us) goto oom;
        kiln_interp_set_op_hook(km.interp, op_hook, &prof);
    }

    double t0 = now_us();
    if (invoke(&km)) goto done;
    const double first_us = now_us() - t0;

    double warm_sum = 0;
    for (long long i = 0; i < o.warmup_runs; i++) {
        t0 = now_us();
        if (invoke(&km)) goto done;
        warm_sum += now_us() - t0;
    }

    /* Timed runs: at least num_runs and min_secs, at most max_secs (benchmark_model's rule). */
    int64_t cap = o.num_runs > 1024 ? o.num_runs : 1024, n = 0;
    times = malloc((size_t)cap * sizeof *times);
    if (!times) goto oom;
    prof.on = 1;
    const double start = now_us();
    for (;;) {
        const double el = now_us() - start;
        if (!((n < o.num_runs || el < o.min_secs * 1e6) && el <= o.max_secs * 1e6)) break;
        if (n == cap) {
            double *nt = realloc(times, (size_t)cap * 2 * sizeof *times);
            if (!nt) goto oom;
            times = nt, cap *= 2;
        }
        t0 = now_us();
        if (invoke(&km)) goto done;
        times[n++] = now_us() - t0;
    }
    prof.on = 0;
    stats st;
    if (compute_stats(times, n, &st)) goto oom;

    if (prof.acc_us) {
        rows = calloc((size_t)nops, sizeof *rows);
        if (!rows) goto oom;
        double total = 0;
        for (int32_t i = 0; i < nops; i++)
            total += prof.acc_us[i];
        for (int32_t i = 0; i < nops; i++) {
            kiln_interp_op(km.interp, i, &rows[i].info);
            rows[i].avg_us = n ? prof.acc_us[i] / (double)n : 0;
            rows[i].share = total > 0 ? prof.acc_us[i] / total : 0;
            rows[i].macs = op_macs(km.interp, &rows[i].info);
            rows[i].gmacs = rows[i].avg_us > 0 ? (double)rows[i].macs / rows[i].avg_us / 1e3 : 0;
        }
    }
    const op_row **by_cost = NULL;
    if (rows) {
        by_cost = malloc((size_t)nops * sizeof *by_cost);
        if (!by_cost) goto oom;
        for (int32_t i = 0; i < nops; i++)
            by_cost[i] = &rows[i];
        qsort(by_cost, (size_t)nops, sizeof *by_cost, cmp_cost);
    }

    compare_result cr = {0};
    if (o.other) {
        if (prof.acc_us) kiln_interp_set_op_hook(km.interp, NULL, NULL);
        if (run_compare(&km, &ko, &o, &cr)) {
            free(by_cost);
            goto done;
        }
    }

    const int64_t rss = peak_rss_bytes();
    const size_t arena = kiln_rt_arena_size(km.interp);
    const size_t persistent = kiln_rt_persistent_size(km.interp);
    const double warm_mean = o.warmup_runs ? warm_sum / (double)o.warmup_runs : 0;
    const char *arith = o.arith == KILN_ARITH_LITERT ? "litert" : "tflm";
    if (o.json) {
        kiln_json w;
        kiln_json_init_file(&w, stdout, 0);
        kiln_json_obj_begin(&w);
        kiln_json_kv_str(&w, "model", o.model);
        kiln_json_kv_int(&w, "threads", o.threads);
        kiln_json_kv_str(&w, "arith", arith);
        kiln_json_kv_int(&w, "model_bytes", (int64_t)km.file.len);
        kiln_json_kv_int(&w, "ops", nops);
        kiln_json_kv_num(&w, "init_us", init_us);
        kiln_json_kv_num(&w, "first_us", first_us);
        kiln_json_kv_int(&w, "warmup_count", o.warmup_runs);
        kiln_json_kv_num(&w, "warmup_mean_us", warm_mean);
        kiln_json_kv_int(&w, "count", st.count);
        kiln_json_kv_num(&w, "min_us", st.min);
        kiln_json_kv_num(&w, "max_us", st.max);
        kiln_json_kv_num(&w, "mean_us", st.mean);
        kiln_json_kv_num(&w, "std_us", st.std);
        kiln_json_kv_num(&w, "p5_us", st.p5);
        kiln_json_kv_num(&w, "median_us", st.median);
        kiln_json_kv_num(&w, "p95_us", st.p95);
        kiln_json_kv_int(&w, "arena_bytes", (int64_t)arena);
        kiln_json_kv_int(&w, "persistent_bytes", (int64_t)persistent);
        kiln_json_kv_int(&w, "peak_rss_bytes", rss);
        if (rows) {
            kiln_json_key(&w, "op_profile");
            kiln_json_arr_begin(&w);
            for (int32_t i = 0; i < nops; i++) {
                kiln_json_obj_begin(&w);
                kiln_json_kv_int(&w, "node", i);
                kiln_json_kv_str(&w, "op", rows[i].info.name);
                kiln_json_kv_str(&w, "kernel", rows[i].info.kernel ? rows[i].info.kernel : "");
                kiln_json_kv_num(&w, "avg_us", rows[i].avg_us);
                kiln_json_kv_num(&w, "share", rows[i].share);
                kiln_json_kv_int(&w, "macs", rows[i].macs);
                kiln_json_kv_num(&w, "gmacs", rows[i].gmacs);
                kiln_json_obj_end(&w);
            }
            kiln_json_arr_end(&w);
            kiln_json_key(&w, "op_profile_by_cost");
            kiln_json_arr_begin(&w);
            for (int32_t i = 0; i < nops; i++)
                kiln_json_int(&w, by_cost[i] - rows);
            kiln_json_arr_end(&w);
        }
        if (o.other) {
            kiln_json_key(&w, "compare");
            kiln_json_obj_begin(&w);
            kiln_json_kv_str(&w, "other", o.other);
            kiln_json_kv_int(&w, "rounds", cr.rounds);
            kiln_json_kv_num(&w, "median_us", cr.median_a);
            kiln_json_kv_num(&w, "other_median_us", cr.median_b);
            kiln_json_kv_num(&w, "ratio", cr.ratio);
            kiln_json_kv_num(&w, "ratio_lo", cr.lo);
            kiln_json_kv_num(&w, "ratio_hi", cr.hi);
            kiln_json_kv_bool(&w, "significant", cr.significant);
            kiln_json_obj_end(&w);
        }
        kiln_json_obj_end(&w);
        fputc('\n', stdout);
        if (kiln_json_finish(&w) != KILN_OK) {
            fprintf(stderr, "kiln bench: cannot write JSON to stdout\n");
            free(by_cost);
            goto done;
        }
    } else if (o.csv) {
        printf("model,threads,arith,init_us,first_us,count,min_us,max_us,mean_us,std_us,p5_us,"
               "median_us,p95_us,arena_bytes,peak_rss_bytes\n");
        printf("%s,%d,%s,%.3f,%.3f,%lld,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%zu,%lld\n", o.model,
               (int)o.threads, arith, init_us, first_us, (long long)st.count, st.min, st.max,
               st.mean, st.std, st.p5, st.median, st.p95, arena, (long long)rss);
        if (rows) {
            printf("\nnode,op,kernel,avg_us,share,macs,gmacs\n");
            for (int32_t i = 0; i < nops; i++)
                printf("%d,%s,%s,%.3f,%.5f,%lld,%.3f\n", (int)i, rows[i].info.name,
                       rows[i].info.kernel ? rows[i].info.kernel : "", rows[i].avg_us,
                       rows[i].share, (long long)rows[i].macs, rows[i].gmacs);
        }
        if (o.other)
            printf("\nother,rounds,median_us,other_median_us,ratio,ratio_lo,ratio_hi,"
                   "significant\n%s,%lld,%.3f,%.3f,%.4f,%.4f,%.4f,%d\n",
                   o.other, (long long)cr.rounds, cr.median_a, cr.median_b, cr.ratio, cr.lo,
                   cr.hi, cr.significant);
    } else {
        printf("Model: %s (%zu bytes, %d operators), threads %d, arith %s\n", o.model,
               km.file.len, (int)nops, (int)o.threads, arith);
        printf("Initialized (load + prepare) in %.3f ms\n", init_us / 1e3);
        printf("First inference: %.1f us\n", first_us);
        printf("Warmup: count=%lld avg=%.1f us\n", o.warmup_runs, warm_mean);
        printf("Timing: count=%lld min=%.1f max=%.1f avg=%.1f std=%.1f p5=%.1f median=%.1f "
               "p95=%.1f (us)\n",
               (long long)st.count, st.min, st.max, st.mean, st.std, st.p5, st.median, st.p95);
        printf("Memory: arena %zu bytes, persistent %zu bytes, peak RSS %.3f MB\n", arena,
               persistent, (double)rss / 1048576.0);
        if (rows) {
            for (int pass = 0; pass < 2; pass++) {
                printf("\n============ Operator profile, %s ============\n",
                       pass ? "sorted by cost" : "run order");
                printf("%-6s %-24s %-10s %12s %8s %14s %9s\n", "node", "op", "kernel",
                       "avg us", "share", "MACs", "GMAC/s");
                for (int32_t i = 0; i < nops; i++) {
                    const op_row *r = pass ? by_cost[i] : &rows[i];
                    printf("%-6d %-24s %-10s %12.2f %7.2f%% %14lld %9.3f\n", (int)(r - rows),
                           r->info.name, r->info.kernel ? r->info.kernel : "", r->avg_us,
                           100 * r->share, (long long)r->macs, r->gmacs);
                }
            }
        }
        if (o.other) {
            printf("\nCompare (%lld alternating rounds): %s median %.1f us, %s median %.1f us\n",
                   (long long)cr.rounds, o.model, cr.median_a, o.other, cr.median_b);
            printf("Ratio %s / %s = %.3f (95%% CI %.3f - %.3f): %s\n", o.model, o.other,
                   cr.ratio, cr.lo, cr.hi,
                   cr.significant ? "significant" : "not significant (CI includes 1)");
        }
    }
    if (o.report)
        write_report(&o, &km, times, n, &st, init_us, first_us, rows, rows ? nops : 0,
                     o.other ? &cr : NULL);
    free(by_cost);
    rc = 0;
    goto done;
oom:
    fprintf(stderr, "kiln bench: out of memory\n");
done:
    free(times);
    free(rows);
    free(prof.acc_us);
    kcli_model_free(&ko);
    kcli_model_free(&km);
    return rc;
}
