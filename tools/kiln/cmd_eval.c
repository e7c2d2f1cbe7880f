/* cmd_eval.c: kiln eval: accuracy, top-k, per-class precision/recall/F1 and the confusion
 * matrix (or MSE/MAE) of a .tflite model on a data set, optionally against a second model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cli_util.h"
#include "kiln/data.h"
#include "kiln/html.h"
#include "kiln/json.h"
#include "kiln/npy.h"
#include "kiln/report.h"

static const char help[] =
    "usage: kiln eval MODEL --data PATH [options]\n"
    "\n"
    "Runs a .tflite model on every sample of a data set and reports, for classification,\n"
    "accuracy (with a 95% Wilson interval), top-k accuracy, per-class precision, recall and\n"
    "F1, and the confusion matrix (rows: true class, columns: predicted); for regression\n"
    "(--regression, or a data set with float targets), MSE and MAE.\n"
    "\n"
    "  --data PATH          the data set, read as kiln train reads it: a directory of IDX\n"
    "                       files (MNIST / Fashion-MNIST layout), a directory of class\n"
    "                       folders of images, .csv, .npz, or an images IDX file\n"
    "  --subset NAME        which part of an IDX directory / .npz: test (default) or train\n"
    "  --limit N            evaluate only the first N samples\n"
    "  --scale S            pixel scale: x = raw * S (default: 1/255 for 8-bit data, else 1)\n"
    "  --mean M[,M...]      then x = (x - mean[c]) / std[c] per channel (last sample dim);\n"
    "  --std S[,S...]       one value applies to every channel (defaults 0 and 1)\n"
    "  --regression         treat the label column as a float target (MSE / MAE)\n"
    "  --top-k K            also report top-K accuracy (default 5; capped at the class count)\n"
    "  --compare OTHER      also evaluate OTHER.tflite on the same samples: agreement rate\n"
    "                       (same top-1 class) and the accuracy difference MODEL - OTHER with\n"
    "                       a paired 95% confidence interval\n"
    "  --threads N          evaluate N samples at a time on N interpreters (default 1); the\n"
    "                       figures are identical for every N\n"
    "  --arith tflm|litert  integer arithmetic dialect (default tflm)\n"
    "  --class-names A,B,.. names of the classes for the text and the report (Fashion-MNIST's\n"
    "                       are used when the path contains \"fashion\")\n"
    "  --predictions FILE   write one CSV line per sample: index,label,predicted[,other]\n"
    "  --save-inputs DIR    write each model input as fed (after scaling and quantization) as\n"
    "                       DIR/sample_NNNNN.npy, e.g. to run the same inputs elsewhere\n"
    "  --report FILE.html   write a self-contained HTML report (confusion heat map,\n"
    "                       per-class bars, latency histogram, model facts)\n"
    "  --json               print one JSON object instead of the text\n"
    "  --quiet              no progress bar\n"
    "  -h, --help           this text\n"
    "\n"
    "Inputs: the model must have one input whose element count equals the sample's. Float\n"
    "inputs take the preprocessed value; int8/uint8/int16 inputs are quantized with the\n"
    "input's scale and zero point: q = round(x / scale) + zero_point, saturated. The predicted\n"
    "class is the argmax of output 0 (dequantized; ties go to the lower index).\n"
    "\n"
    "JSON fields: model, data, samples, threads, accuracy, accuracy_lo, accuracy_hi, top_k,\n"
    "top_k_accuracy, num_classes, per_class [{class, name, precision, recall, f1, support}],\n"
    "macro_precision, macro_recall, macro_f1, confusion (rows true, columns predicted),\n"
    "mean_invoke_us, seconds; regression: mse, mae; --compare: compare {other, accuracy,\n"
    "agreement, accuracy_diff, diff_lo, diff_hi, significant}.\n"
    "Progress goes to stderr. Exit status: 0 ok; 1 error (one line naming the file); 2 usage.\n";

#define CMD "eval"
#define MAX_CH 64
#define BLOCK 256

static const char *const fashion_names[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                              "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                              "Bag",         "Ankle boot"};

typedef struct eval_opts {
    const char *model, *other, *data, *subset, *report, *pred_path, *save_dir, *names_arg;
    long long limit, top_k;
    float scale;
    int32_t nmean, nstd;
    float mean[MAX_CH], std[MAX_CH];
    int regression, json, quiet;
    int32_t threads;
    kiln_arith arith;
} eval_opts;

/* One model evaluated by `threads` interpreters (one per task, so tasks never share state). */
typedef struct evmodel {
    kcli_model km;
    kiln_interp **it; /* threads entries; it[0] == km.interp */
    int32_t n_out;    /* elements of output 0 */
} evmodel;

/* Per-sample results, written by the tasks at the sample's index only. */
typedef struct results {
    int32_t *pred;  /* argmax */
    int32_t *rank;  /* rank of the true class (0 = top-1) */
    float *out;     /* regression: n * n_out outputs */
    double *inv_us; /* invoke time */
} results;

typedef struct task_ctx {
    const eval_opts *o;
    const kiln_dataset *ds;
    evmodel *m;
    results *r;
    int64_t begin, end; /* the block */
    int32_t ntasks;
    int failed[256];
    char err[256][KILN_ERRLEN];
} task_ctx;

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int64_t numel(const kiln_tensor_info *t) {
    int64_t n = 1;
    for (int32_t i = 0; i < t->rank; i++)
        n *= t->dims[i];
    return n;
}

static int usage(const char *msg, const char *arg) {
    fprintf(stderr, "kiln eval: %s%s%s (see kiln eval --help)\n", msg, arg ? " " : "",
            arg ? arg : "");
    return 2;
}

static int parse_floats(const char *s, float *out, int32_t *n) {
    *n = 0;
    const char *p = s;
    while (*p) {
        if (*n >= MAX_CH) return -1;
        char *end = NULL;
        double v = strtod(p, &end);
        if (end == p || !isfinite(v)) return -1;
        out[(*n)++] = (float)v;
        p = end;
        if (*p == ',')
            p++;
        else if (*p)
            return -1;
    }
    return *n > 0 ? 0 : -1;
}

static int parse_args(int argc, char **argv, eval_opts *o) {
    memset(o, 0, sizeof *o);
    o->top_k = 5;
    o->threads = 1;
    o->subset = "test";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1]) {
            if (o->model) return usage("more than one model given:", a);
            o->model = a;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return -1;
        if (!strcmp(a, "--json")) {
            o->json = 1;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            o->quiet = 1;
            continue;
        }
        if (!strcmp(a, "--regression")) {
            o->regression = 1;
            continue;
        }
        static const char *const with_value[] = {
            "--data",    "--subset", "--limit",       "--scale",       "--mean",
            "--std",     "--top-k",  "--compare",     "--threads",     "--arith",
            "--report",  "--class-names", "--predictions", "--save-inputs", NULL};
        int known = 0;
        for (int k = 0; with_value[k]; k++)
            if (!strcmp(a, with_value[k])) known = 1;
        if (!known) return usage("unknown option", a);
        if (i + 1 >= argc) return usage("missing value after", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--data")) {
            o->data = v;
        } else if (!strcmp(a, "--subset")) {
            if (strcmp(v, "test") && strcmp(v, "train") && strcmp(v, "t10k"))
                return usage("--subset must be test or train, got", v);
            o->subset = v;
        } else if (!strcmp(a, "--limit")) {
            if (kcli_parse_int(v, 1, (long long)1 << 40, &o->limit))
                return usage("--limit needs an integer >= 1, got", v);
        } else if (!strcmp(a, "--scale")) {
            char *end = NULL;
            double s = strtod(v, &end);
            if (!end || *end || !isfinite(s) || s == 0)
                return usage("--scale needs a non-zero number, got", v);
            o->scale = (float)s;
        } else if (!strcmp(a, "--mean")) {
            if (parse_floats(v, o->mean, &o->nmean))
                return usage("--mean needs numbers separated by commas, got", v);
        } else if (!strcmp(a, "--std")) {
            if (parse_floats(v, o->std, &o->nstd))
                return usage("--std needs numbers separated by commas, got", v);
            for (int32_t k = 0; k < o->nstd; k++)
                if (!(o->std[k] > 0)) return usage("--std values must be > 0, got", v);
        } else if (!strcmp(a, "--top-k")) {
            if (kcli_parse_int(v, 1, 1000000, &o->top_k))
                return usage("--top-k needs an integer >= 1, got", v);
        } else if (!strcmp(a, "--compare")) {
            o->other = v;
        } else if (!strcmp(a, "--threads")) {
            if (kcli_parse_threads(CMD, v, &o->threads)) return 2;
        } else if (!strcmp(a, "--arith")) {
            if (!strcmp(v, "tflm"))
                o->arith = KILN_ARITH_TFLM;
            else if (!strcmp(v, "litert"))
                o->arith = KILN_ARITH_LITERT;
            else
                return usage("--arith must be tflm or litert, got", v);
        } else if (!strcmp(a, "--report")) {
            o->report = v;
        } else if (!strcmp(a, "--class-names")) {
            o->names_arg = v;
        } else if (!strcmp(a, "--predictions")) {
            o->pred_path = v;
        } else if (!strcmp(a, "--save-inputs")) {
            o->save_dir = v;
        }
    }
    if (!o->model) return usage("no model given", NULL);
    if (!o->data) return usage("--data PATH is required", NULL);
    return 0;
}

/* Loads the model and one interpreter per thread; checks its input against the samples. */
static int load_model(const char *path, const eval_opts *o, const kiln_dataset *ds,
                      evmodel *m) {
    memset(m, 0, sizeof *m);
    if (kcli_model_load(CMD, path, &m->km)) return -1;
    kiln_interp_options io;
    kiln_interp_options_init(&io);
    io.arith = o->arith;
    if (kcli_model_interp(CMD, &m->km, &io, 1)) return -1;
    m->it = calloc((size_t)o->threads, sizeof *m->it);
    if (!m->it) {
        fprintf(stderr, "kiln eval: out of memory\n");
        return -1;
    }
    m->it[0] = m->km.interp;
    for (int32_t t = 1; t < o->threads; t++) {
        char err[KILN_ERRLEN];
        if (kiln_interp_create(m->km.model, &io, &m->it[t], err, sizeof err) != KILN_OK) {
            fprintf(stderr, "kiln eval: %s\n", err);
            return -1;
        }
    }
    kiln_interp *it = m->km.interp;
    if (kiln_interp_num_inputs(it) != 1) {
        fprintf(stderr, "kiln eval: %s: the model has %d inputs; eval takes models with one\n",
                path, (int)kiln_interp_num_inputs(it));
        return -1;
    }
    kiln_tensor_info ti, to;
    kiln_interp_input(it, 0, &ti);
    char sb[128], sd[128];
    if (numel(&ti) != ds->sample_size) {
        fprintf(stderr,
                "kiln eval: %s: input %s has %lld values but the samples of %s have %lld %s\n",
                path, kcli_shape_str(sb, sizeof sb, ti.rank, ti.dims), (long long)numel(&ti),
                o->data, (long long)ds->sample_size,
                kcli_shape_str(sd, sizeof sd, ds->rank, ds->dims));
        return -1;
    }
    if (ti.dtype != KILN_FLOAT32 && ti.dtype != KILN_INT8 && ti.dtype != KILN_UINT8 &&
        ti.dtype != KILN_INT16) {
        fprintf(stderr, "kiln eval: %s: input dtype %s is not supported (float32, int8, uint8, "
                        "int16)\n", path, kiln_dtype_name(ti.dtype));
        return -1;
    }
    if (ti.dtype != KILN_FLOAT32 && (ti.num_quant < 1 || !(ti.scale[0] > 0))) {
        fprintf(stderr, "kiln eval: %s: the %s input has no quantization scale\n", path,
                kiln_dtype_name(ti.dtype));
        return -1;
    }
    if (kiln_interp_num_outputs(it) < 1 || kiln_interp_output(it, 0, &to) != KILN_OK) {
        fprintf(stderr, "kiln eval: %s: the model has no output\n", path);
        return -1;
    }
    if (to.dtype != KILN_FLOAT32 && to.dtype != KILN_INT8 && to.dtype != KILN_UINT8 &&
        to.dtype != KILN_INT16) {
        fprintf(stderr, "kiln eval: %s: output dtype %s is not supported\n", path,
                kiln_dtype_name(to.dtype));
        return -1;
    }
    m->n_out = (int32_t)numel(&to);
    if (m->n_out < 1) {
        fprintf(stderr, "kiln eval: %s: output 0 is empty\n", path);
        return -1;
    }
    if (ds->labels && !o->regression && m->n_out < ds->num_classes) {
        fprintf(stderr, "kiln eval: %s: output 0 has %d values but %s has %d classes\n", path,
                (int)m->n_out, o->data, (int)ds->num_classes);
        return -1;
    }
    if (ds->targets && m->n_out != ds->target_size) {
        fprintf(stderr, "kiln eval: %s: output 0 has %d values but the targets have %lld\n",
                path, (int)m->n_out, (long long)ds->target_size);
        return -1;
    }
    return 0;
}

static void free_model(evmodel *m, int32_t threads) {
    if (m->it)
        for (int32_t t = 1; t < threads; t++)
            kiln_interp_destroy(m->it[t]);
    free(m->it);
    kcli_model_free(&m->km);
}

/* Writes sample x into the model input, quantizing for integer inputs. */
static void set_input(kiln_interp *it, const float *x, int64_t n) {
    kiln_tensor_info t;
    kiln_interp_input(it, 0, &t);
    if (t.dtype == KILN_FLOAT32) {
        memcpy(t.data, x, (size_t)n * sizeof(float));
        return;
    }
    const float s = t.scale[0];
    const int32_t zp = t.num_quant > 0 ? t.zero_point[0] : 0;
    const int32_t lo = t.dtype == KILN_INT8 ? -128 : t.dtype == KILN_UINT8 ? 0 : -32768;
    const int32_t hi = t.dtype == KILN_INT8 ? 127 : t.dtype == KILN_UINT8 ? 255 : 32767;
    for (int64_t i = 0; i < n; i++) {
        float q = roundf(x[i] / s) + (float)zp;
        int32_t v = isnan(q) ? zp : q < (float)lo ? lo : q > (float)hi ? hi : (int32_t)q;
        if (t.dtype == KILN_INT8)
            ((int8_t *)t.data)[i] = (int8_t)v;
        else if (t.dtype == KILN_UINT8)
            ((uint8_t *)t.data)[i] = (uint8_t)v;
        else {
            int16_t h = (int16_t)v;
            memcpy((int16_t *)t.data + i, &h, 2);
        }
    }
}

static float out_value(const kiln_tensor_info *t, int64_t i) {
    switch (t->dtype) {
    case KILN_FLOAT32:
        return ((const float *)t->data)[i];
    case KILN_INT8:
        return (float)(((const int8_t *)t->data)[i] - t->zero_point[0]) * t->scale[0];
    case KILN_UINT8:
        return (float)(((const uint8_t *)t->data)[i] - t->zero_point[0]) * t->scale[0];
    default: {
        int16_t h;
        memcpy(&h, (const int16_t *)t->data + i, 2);
        return (float)(h - t->zero_point[0]) * t->scale[0];
    }
    }
}

static void run_task(void *arg, int32_t task) {
    task_ctx *c = arg;
    const int64_t len = c->end - c->begin;
    const int64_t per = (len + c->ntasks - 1) / c->ntasks;
    const int64_t b = c->begin + per * task, e = b + per < c->end ? b + per : c->end;
    kiln_interp *it = c->m->it[task];
    for (int64_t i = b; i < e; i++) {
        /* Samples are independent: clear LSTM/variable state, so results do not depend on the
         * order or on --threads. */
        kiln_interp_reset(it);
        set_input(it, c->ds->x + i * c->ds->sample_size, c->ds->sample_size);
        const double t0 = now_us();
        kiln_status s = kiln_interp_invoke(it);
        c->r->inv_us[i] = now_us() - t0;
        if (s != KILN_OK) {
            c->failed[task] = 1;
            snprintf(c->err[task], KILN_ERRLEN, "sample %lld: %s", (long long)i,
                     kiln_interp_error(it));
            return;
        }
        kiln_tensor_info to;
        kiln_interp_output(it, 0, &to);
        const int32_t n = c->m->n_out;
        if (c->r->out)
            for (int32_t k = 0; k < n; k++)
                c->r->out[i * n + k] = out_value(&to, k);
        int32_t best = 0;
        float bv = out_value(&to, 0);
        for (int32_t k = 1; k < n; k++) {
            const float v = out_value(&to, k);
            if (v > bv) bv = v, best = k;
        }
        c->r->pred[i] = best;
        if (c->ds->labels) {
            const int32_t lab = c->ds->labels[i];
            const float lv = lab < n ? out_value(&to, lab) : -INFINITY;
            int32_t rank = 0;
            for (int32_t k = 0; k < n; k++) {
                const float v = out_value(&to, k);
                if (v > lv || (v == lv && k < lab)) rank++;
            }
            c->r->rank[i] = rank;
        }
    }
}

static int alloc_results(results *r, int64_t n, int32_t n_out, int regression) {
    memset(r, 0, sizeof *r);
    r->pred = calloc((size_t)n, sizeof *r->pred);
    r->rank = calloc((size_t)n, sizeof *r->rank);
    r->inv_us = calloc((size_t)n, sizeof *r->inv_us);
    if (regression) r->out = calloc((size_t)n * (size_t)n_out, sizeof *r->out);
    return r->pred && r->rank && r->inv_us && (!regression || r->out) ? 0 : -1;
}

static void free_results(results *r) {
    free(r->pred), free(r->rank), free(r->out), free(r->inv_us);
}

/* Runs model m over all samples, block by block; tasks of a block run in parallel. */
static int evaluate(const eval_opts *o, const kiln_dataset *ds, evmodel *m, results *r,
                    kiln_pool *pool, kiln_progress *pg, int64_t done0, const char *path) {
    task_ctx *c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->o = o, c->ds = ds, c->m = m, c->r = r, c->ntasks = o->threads;
    for (int64_t b = 0; b < ds->n; b += BLOCK) {
        c->begin = b;
        c->end = b + BLOCK < ds->n ? b + BLOCK : ds->n;
        if (pool && o->threads > 1) {
            const kiln_parallel *par = kiln_pool_parallel(pool);
            par->run(par->ud, o->threads, run_task, c);
        } else {
            for (int32_t t = 0; t < o->threads; t++)
                run_task(c, t);
        }
        for (int32_t t = 0; t < o->threads; t++)
            if (c->failed[t]) {
                fprintf(stderr, "\nkiln eval: %s: %s\n", path, c->err[t]);
                free(c);
                return -1;
            }
        if (pg) kiln_progress_update(pg, done0 + c->end);
    }
    free(c);
    return 0;
}

/* 95% Wilson score interval of a proportion. */
static void wilson(double k, double n, double *lo, double *hi) {
    if (n <= 0) {
        *lo = *hi = 0;
        return;
    }
    const double z = 1.959963984540054, p = k / n, z2 = z * z;
    const double d = 1 + z2 / n, c = (p + z2 / (2 * n)) / d;
    const double h = z * sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / d;
    *lo = c - h < 0 ? 0 : c - h;
    *hi = c + h > 1 ? 1 : c + h;
}

static int save_inputs(const eval_opts *o, const kiln_dataset *ds, evmodel *m) {
    if (kcli_mkdirs(o->save_dir) != 0) {
        fprintf(stderr, "kiln eval: %s: cannot create the directory\n", o->save_dir);
        return -1;
    }
    kiln_interp *it = m->km.interp;
    kiln_tensor_info t;
    kiln_interp_input(it, 0, &t);
    for (int64_t i = 0; i < ds->n; i++) {
        set_input(it, ds->x + i * ds->sample_size, ds->sample_size);
        int64_t dims[KILN_MAX_RANK];
        for (int32_t d = 0; d < t.rank; d++)
            dims[d] = t.dims[d];
        char path[4096], err[KILN_ERRLEN];
        snprintf(path, sizeof path, "%s/sample_%05lld.npy", o->save_dir, (long long)i);
        if (kiln_npy_write(path, t.dtype, t.rank, dims, t.data, err, sizeof err) != KILN_OK) {
            fprintf(stderr, "kiln eval: %s\n", err);
            return -1;
        }
    }
    return 0;
}

int kiln_cmd_eval(int argc, char **argv) {
    eval_opts o;
    int pr = parse_args(argc, argv, &o);
    if (pr < 0) return kcli_help(help);
    if (pr > 0) return pr;

    char err[KILN_ERRLEN + 256];
    kiln_dataset ds;
    memset(&ds, 0, sizeof ds);
    kiln_load_options lo;
    kiln_load_options_init(&lo);
    lo.subset = !strcmp(o.subset, "train") ? "train" : "t10k";
    lo.as_targets = o.regression;
    if (o.scale != 0) lo.scale = o.scale;
    kiln_status s = kiln_dataset_load(o.data, &lo, &ds, err, sizeof err);
    if (s != KILN_OK && !strcmp(lo.subset, "t10k")) {
        /* .npz files name the test split "test" rather than "t10k" */
        char err2[KILN_ERRLEN + 256];
        lo.subset = "test";
        if (kiln_dataset_load(o.data, &lo, &ds, err2, sizeof err2) == KILN_OK) s = KILN_OK;
    }
    if (s != KILN_OK) {
        fprintf(stderr, "kiln eval: %s\n", err);
        return 1;
    }
    if (!ds.labels && !ds.targets) {
        fprintf(stderr, "kiln eval: %s: the data set has no labels or targets\n", o.data);
        kiln_dataset_free(&ds);
        return 1;
    }
    if (ds.n <= 0) {
        fprintf(stderr, "kiln eval: %s: the data set is empty\n", o.data);
        kiln_dataset_free(&ds);
        return 1;
    }
    if (o.limit > 0 && o.limit < ds.n) ds.n = o.limit;
    if (o.nmean || o.nstd) {
        const int32_t ch = ds.rank > 0 ? ds.dims[ds.rank - 1] : 1;
        if ((o.nmean > 1 && o.nmean != ch) || (o.nstd > 1 && o.nstd != ch) || ch > MAX_CH) {
            fprintf(stderr, "kiln eval: --mean/--std give %d/%d values but the samples have %d "
                            "channels\n", (int)o.nmean, (int)o.nstd, (int)ch);
            kiln_dataset_free(&ds);
            return 2;
        }
        float mean[MAX_CH], std[MAX_CH];
        for (int32_t c = 0; c < ch; c++) {
            mean[c] = o.nmean ? o.mean[o.nmean > 1 ? c : 0] : 0.f;
            std[c] = o.nstd ? o.std[o.nstd > 1 ? c : 0] : 1.f;
        }
        kiln_dataset_normalize(&ds, mean, std);
    }

    int rc = 1;
    evmodel ma, mb;
    memset(&ma, 0, sizeof ma);
    memset(&mb, 0, sizeof mb);
    results ra, rb;
    memset(&ra, 0, sizeof ra);
    memset(&rb, 0, sizeof rb);
    kiln_pool *pool = NULL;
    int64_t *conf = NULL;
    FILE *pf = NULL;
    const char **names = NULL;
    char *names_buf = NULL;
    const int regression = ds.targets != NULL;

    if (load_model(o.model, &o, &ds, &ma)) goto done;
    if (o.other && load_model(o.other, &o, &ds, &mb)) goto done;
    if (o.other && mb.n_out != ma.n_out) {
        fprintf(stderr, "kiln eval: %s has %d outputs but %s has %d\n", o.model, (int)ma.n_out,
                o.other, (int)mb.n_out);
        goto done;
    }
    if (o.save_dir && save_inputs(&o, &ds, &ma)) goto done;
    if (alloc_results(&ra, ds.n, ma.n_out, regression) ||
        (o.other && alloc_results(&rb, ds.n, mb.n_out, regression)))
        goto oom;
    if (o.threads > 1) {
        pool = kiln_pool_create(o.threads);
        if (!pool) {
            fprintf(stderr, "kiln eval: cannot start %d threads\n", (int)o.threads);
            goto done;
        }
    }

    kiln_progress pg;
    const int64_t total = ds.n * (o.other ? 2 : 1);
    kiln_progress_begin(&pg, o.quiet ? NULL : stderr, "eval", total);
    const double t_start = now_us();
    if (evaluate(&o, &ds, &ma, &ra, pool, &pg, 0, o.model)) goto done;
    if (o.other && evaluate(&o, &ds, &mb, &rb, pool, &pg, ds.n, o.other)) goto done;
    const double seconds = (now_us() - t_start) / 1e6;
    kiln_progress_end(&pg);

    /* Every figure below is computed serially from the per-sample arrays, so it does not
     * depend on the thread count. */
    double inv_sum = 0;
    for (int64_t i = 0; i < ds.n; i++)
        inv_sum += ra.inv_us[i];
    const double mean_inv = inv_sum / (double)ds.n;

    const int32_t nc = regression ? 0 : (ds.num_classes > ma.n_out ? ds.num_classes : ma.n_out);
    int64_t correct = 0, topk_hits = 0, correct_b = 0, agree = 0;
    double diff_sum = 0, diff_ss = 0, mse = 0, mae = 0;
    const int64_t k = o.top_k < nc ? o.top_k : (nc > 0 ? nc : 1);
    if (!regression) {
        conf = calloc((size_t)nc * (size_t)nc, sizeof *conf);
        if (!conf) goto oom;
        for (int64_t i = 0; i < ds.n; i++) {
            const int32_t lab = ds.labels[i], p = ra.pred[i];
            conf[(size_t)lab * (size_t)nc + (size_t)p]++;
            correct += p == lab;
            topk_hits += ra.rank[i] < k;
            if (o.other) {
                const int cb = rb.pred[i] == lab;
                correct_b += cb;
                agree += rb.pred[i] == p;
                const double d = (double)(p == lab) - cb;
                diff_sum += d;
                diff_ss += d * d;
            }
        }
    } else {
        const int64_t m = ds.n * ma.n_out;
        for (int64_t i = 0; i < m; i++) {
            const double d = (double)ra.out[i] - ds.targets[i];
            mse += d * d;
            mae += fabs(d);
        }
        mse /= (double)m;
        mae /= (double)m;
        if (o.other) {
            for (int64_t i = 0; i < ds.n; i++) {
                int same = 1;
                for (int32_t j = 0; j < ma.n_out; j++)
                    same &= ra.out[i * ma.n_out + j] == rb.out[i * ma.n_out + j];
                agree += same;
            }
        }
    }
    const double n = (double)ds.n;
    const double acc = (double)correct / n, acc_b = (double)correct_b / n;
    double acc_lo, acc_hi;
    wilson((double)correct, n, &acc_lo, &acc_hi);
    /* paired difference of per-sample correctness: mean +- 1.96 * sd / sqrt(n) */
    const double dmean = diff_sum / n;
    const double dvar = n > 1 ? (diff_ss - n * dmean * dmean) / (n - 1) : 0;
    const double dhalf = 1.959963984540054 * sqrt(dvar > 0 ? dvar / n : 0);
    const int significant = (dmean - dhalf > 0) || (dmean + dhalf < 0);

    /* class names */
    if (nc > 0) {
        names = calloc((size_t)nc, sizeof *names);
        if (!names) goto oom;
        char(*gen)[16] = NULL;
        if (o.names_arg) {
            names_buf = strdup(o.names_arg);
            if (!names_buf) goto oom;
            int32_t c = 0;
            for (char *tok = strtok(names_buf, ","); tok && c < nc; tok = strtok(NULL, ","))
                names[c++] = tok;
        } else if (nc == 10 && strstr(o.data, "fashion")) {
            for (int32_t c = 0; c < 10; c++)
                names[c] = fashion_names[c];
        }
        int need = 0;
        for (int32_t c = 0; c < nc; c++)
            need |= names[c] == NULL;
        if (need) {
            gen = calloc((size_t)nc, sizeof *gen);
            if (!gen) goto oom;
            free(names_buf);
            names_buf = (char *)gen;
            for (int32_t c = 0; c < nc; c++) {
                snprintf(gen[c], 16, "%d", (int)c);
                if (!names[c] || o.names_arg) names[c] = gen[c];
            }
        }
    }

    double *prec = NULL, *rec = NULL, *f1 = NULL;
    int64_t *support = NULL;
    double mprec = 0, mrec = 0, mf1 = 0;
    if (nc > 0) {
        prec = calloc((size_t)nc * 3, sizeof *prec);
        support = calloc((size_t)nc, sizeof *support);
        if (!prec || !support) {
            free(prec), free(support);
            goto oom;
        }
        rec = prec + nc, f1 = prec + 2 * nc;
        for (int32_t c = 0; c < nc; c++) {
            int64_t tp = conf[(size_t)c * (size_t)nc + (size_t)c], col = 0, row = 0;
            for (int32_t j = 0; j < nc; j++) {
                col += conf[(size_t)j * (size_t)nc + (size_t)c];
                row += conf[(size_t)c * (size_t)nc + (size_t)j];
            }
            support[c] = row;
            prec[c] = col ? (double)tp / (double)col : 0;
            rec[c] = row ? (double)tp / (double)row : 0;
            f1[c] = prec[c] + rec[c] > 0 ? 2 * prec[c] * rec[c] / (prec[c] + rec[c]) : 0;
            mprec += prec[c], mrec += rec[c], mf1 += f1[c];
        }
        mprec /= nc, mrec /= nc, mf1 /= nc;
    }

    if (o.json) {
        kiln_json w;
        kiln_json_init_file(&w, stdout, 0);
        kiln_json_obj_begin(&w);
        kiln_json_kv_str(&w, "model", o.model);
        kiln_json_kv_str(&w, "data", o.data);
        kiln_json_kv_int(&w, "samples", ds.n);
        kiln_json_kv_int(&w, "threads", o.threads);
        kiln_json_kv_str(&w, "arith", o.arith == KILN_ARITH_LITERT ? "litert" : "tflm");
        if (!regression) {
            kiln_json_kv_num(&w, "accuracy", acc);
            kiln_json_kv_num(&w, "accuracy_lo", acc_lo);
            kiln_json_kv_num(&w, "accuracy_hi", acc_hi);
            kiln_json_kv_int(&w, "correct", correct);
            kiln_json_kv_int(&w, "top_k", k);
            kiln_json_kv_num(&w, "top_k_accuracy", (double)topk_hits / n);
            kiln_json_kv_int(&w, "num_classes", nc);
            kiln_json_key(&w, "per_class");
            kiln_json_arr_begin(&w);
            for (int32_t c = 0; c < nc; c++) {
                kiln_json_obj_begin(&w);
                kiln_json_kv_int(&w, "class", c);
                kiln_json_kv_str(&w, "name", names[c]);
                kiln_json_kv_num(&w, "precision", prec[c]);
                kiln_json_kv_num(&w, "recall", rec[c]);
                kiln_json_kv_num(&w, "f1", f1[c]);
                kiln_json_kv_int(&w, "support", support[c]);
                kiln_json_obj_end(&w);
            }
            kiln_json_arr_end(&w);
            kiln_json_kv_num(&w, "macro_precision", mprec);
            kiln_json_kv_num(&w, "macro_recall", mrec);
            kiln_json_kv_num(&w, "macro_f1", mf1);
            kiln_json_key(&w, "confusion");
            kiln_json_arr_begin(&w);
            for (int32_t r = 0; r < nc; r++) {
                kiln_json_arr_begin(&w);
                for (int32_t c = 0; c < nc; c++)
                    kiln_json_int(&w, conf[(size_t)r * (size_t)nc + (size_t)c]);
                kiln_json_arr_end(&w);
            }
            kiln_json_arr_end(&w);
        } else {
            kiln_json_kv_num(&w, "mse", mse);
            kiln_json_kv_num(&w, "mae", mae);
        }
        kiln_json_kv_num(&w, "mean_invoke_us", mean_inv);
        kiln_json_kv_num(&w, "seconds", seconds);
        if (o.other) {
            kiln_json_key(&w, "compare");
            kiln_json_obj_begin(&w);
            kiln_json_kv_str(&w, "other", o.other);
            kiln_json_kv_num(&w, "agreement", (double)agree / n);
            if (!regression) {
                kiln_json_kv_num(&w, "accuracy", acc_b);
                kiln_json_kv_num(&w, "accuracy_diff", dmean);
                kiln_json_kv_num(&w, "diff_lo", dmean - dhalf);
                kiln_json_kv_num(&w, "diff_hi", dmean + dhalf);
                kiln_json_kv_bool(&w, "significant", significant);
            }
            kiln_json_obj_end(&w);
        }
        kiln_json_obj_end(&w);
        fputc('\n', stdout);
        if (kiln_json_finish(&w) != KILN_OK) {
            fprintf(stderr, "kiln eval: cannot write JSON to stdout\n");
            goto done_metrics;
        }
    } else {
        printf("Model: %s on %s (%lld samples, %d thread%s)\n", o.model, o.data,
               (long long)ds.n, (int)o.threads, o.threads > 1 ? "s" : "");
        if (!regression) {
            printf("Accuracy: %.4f (%lld/%lld; 95%% CI %.4f - %.4f)   top-%lld: %.4f\n", acc,
                   (long long)correct, (long long)ds.n, acc_lo, acc_hi, (long long)k,
                   (double)topk_hits / n);
            printf("\n%-14s %9s %9s %9s %8s\n", "class", "precision", "recall", "F1",
                   "support");
            for (int32_t c = 0; c < nc; c++)
                printf("%-14s %9.4f %9.4f %9.4f %8lld\n", names[c], prec[c], rec[c], f1[c],
                       (long long)support[c]);
            printf("%-14s %9.4f %9.4f %9.4f %8lld\n", "macro avg", mprec, mrec, mf1,
                   (long long)ds.n);
            printf("\nConfusion matrix (rows: true, columns: predicted)\n      ");
            for (int32_t c = 0; c < nc; c++)
                printf(" %5d", (int)c);
            printf("\n");
            for (int32_t r = 0; r < nc; r++) {
                printf("%5d ", (int)r);
                for (int32_t c = 0; c < nc; c++)
                    printf(" %5lld", (long long)conf[(size_t)r * (size_t)nc + (size_t)c]);
                printf("\n");
            }
        } else {
            printf("MSE: %.6g   MAE: %.6g\n", mse, mae);
        }
        printf("Mean invoke: %.1f us; %.2f s in all\n", mean_inv, seconds);
        if (o.other) {
            printf("\nCompared with %s: agreement %.4f", o.other, (double)agree / n);
            if (!regression)
                printf(", accuracy %.4f, difference %+.4f (95%% CI %+.4f to %+.4f): %s", acc_b,
                       dmean, dmean - dhalf, dmean + dhalf,
                       significant ? "significant" : "not significant");
            printf("\n");
        }
    }

    if (o.pred_path) {
        pf = fopen(o.pred_path, "w");
        if (!pf) {
            fprintf(stderr, "kiln eval: %s: cannot create the file\n", o.pred_path);
            goto done_metrics;
        }
        for (int64_t i = 0; i < ds.n; i++) {
            fprintf(pf, "%lld,%d,%d", (long long)i, ds.labels ? (int)ds.labels[i] : -1,
                    (int)ra.pred[i]);
            if (o.other) fprintf(pf, ",%d", (int)rb.pred[i]);
            fputc('\n', pf);
        }
        if (fclose(pf) != 0) {
            pf = NULL;
            fprintf(stderr, "kiln eval: %s: write failed\n", o.pred_path);
            goto done_metrics;
        }
        pf = NULL;
    }

    if (o.report) {
        kiln_html *h = kiln_html_begin("kiln eval report");
        if (!h) goto done_metrics;
        char buf[512];
        snprintf(buf, sizeof buf, "kiln eval: %s", o.model);
        kiln_html_heading(h, 1, buf);
        char v[12][128];
        const char *keys[12];
        const char *vals[12];
        int nf = 0;
#define FACT(key, ...) (keys[nf] = key, snprintf(v[nf], 128, __VA_ARGS__), vals[nf] = v[nf], nf++)
        FACT("model", "%s", o.model);
        FACT("file bytes", "%zu", ma.km.file.len);
        FACT("operators", "%d", (int)kiln_interp_num_ops(ma.km.interp));
        FACT("arena bytes", "%zu", kiln_rt_arena_size(ma.km.interp));
        FACT("data", "%s (%s)", o.data, o.subset);
        FACT("samples", "%lld", (long long)ds.n);
        if (!regression) {
            FACT("accuracy", "%.4f (95%% CI %.4f - %.4f)", acc, acc_lo, acc_hi);
            FACT("top-k accuracy", "top-%lld: %.4f", (long long)k, (double)topk_hits / n);
            FACT("macro F1", "%.4f", mf1);
        } else {
            FACT("MSE", "%.6g", mse);
            FACT("MAE", "%.6g", mae);
        }
        FACT("mean invoke", "%.1f µs", mean_inv);
        if (o.other)
            FACT("compared with", "%s: agreement %.4f, accuracy diff %+.4f (CI %+.4f .. %+.4f)",
                 o.other, (double)agree / n, dmean, dmean - dhalf, dmean + dhalf);
#undef FACT
        kiln_html_facts(h, "Summary", nf, keys, vals);
        /* operator counts by type */
        {
            const int32_t nops = kiln_interp_num_ops(ma.km.interp);
            const char *on[64];
            int cnt[64];
            int nu = 0;
            for (int32_t i = 0; i < nops; i++) {
                kiln_op_info oi;
                if (kiln_interp_op(ma.km.interp, i, &oi) != KILN_OK) continue;
                int j = 0;
                while (j < nu && strcmp(on[j], oi.name)) j++;
                if (j == nu && nu < 64) on[nu] = oi.name, cnt[nu] = 0, nu++;
                if (j < nu) cnt[j]++;
            }
            char cb[64][16];
            const char *cells[2 * 65];
            cells[0] = "operator", cells[1] = "count";
            for (int j = 0; j < nu; j++) {
                snprintf(cb[j], 16, "%d", cnt[j]);
                cells[2 + 2 * j] = on[j];
                cells[3 + 2 * j] = cb[j];
            }
            kiln_html_table(h, "Operators", nu + 1, 2, cells);
        }
        if (!regression) {
            kiln_html_heatmap(h, "Confusion matrix", nc, nc, conf, names, names, "true class",
                              "predicted class");
            double *pv = malloc((size_t)nc * 3 * sizeof *pv);
            if (pv) {
                for (int32_t c = 0; c < nc; c++)
                    pv[3 * c] = prec[c], pv[3 * c + 1] = rec[c], pv[3 * c + 2] = f1[c];
                const char *sn[] = {"precision", "recall", "F1"};
                kiln_html_bars(h, "Per-class precision, recall and F1", nc, names, 3, sn, pv,
                               1.0);
                free(pv);
            }
        }
        kiln_html_histogram(h, "Invoke latency per sample", ra.inv_us, ds.n, 30,
                            "invoke time (µs)");
        if (kiln_html_save(h, o.report, err, sizeof err) != KILN_OK) {
            fprintf(stderr, "kiln eval: %s\n", err);
            kiln_html_free(h);
            goto done_metrics;
        }
        kiln_html_free(h);
    }
    rc = 0;
done_metrics:
    free(prec);
    free(support);
    goto done;
oom:
    fprintf(stderr, "kiln eval: out of memory\n");
done:
    if (pf) fclose(pf);
    free(names);
    free(names_buf);
    free(conf);
    free_results(&ra);
    free_results(&rb);
    kiln_pool_destroy(pool);
    free_model(&mb, o.threads);
    free_model(&ma, o.threads);
    kiln_dataset_free(&ds);
    return rc;
}
