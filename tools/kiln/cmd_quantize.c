/* cmd_quantize.c: kiln quantize: post-training quantization (src/quant, TFLite converter's
 * rules) of a float .tflite or a Kiln checkpoint, with the per-layer error report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_util.h"
#include "kiln/convert.h"
#include "kiln/data.h"
#include "kiln/json.h"
#include "kiln/quantize.h"

static const char help[] =
    "usage: kiln quantize IN.tflite|DIR/model.kckpt -o OUT.tflite --mode MODE [options]\n"
    "\n"
    "Post-training quantization, producing what TFLite's converter produces for the same\n"
    "setting (see docs/quantize.md):\n"
    "  int8     full integer: per-channel symmetric int8 weights (conv dim 0, depthwise dim 3;\n"
    "           FULLY_CONNECTED: see --fc-weights), int32 bias, asymmetric int8 activations\n"
    "           from calibration; needs --calib (or --calib-random for shape-only tests);\n"
    "           small models (<= 4096 weights) get their integer weights and biases refined\n"
    "           against the float model on the calibration data; a scalar-input chain of\n"
    "           FULLY_CONNECTED layers (hello_world) first gets its ReLU units scaled to one\n"
    "           range (the float function is unchanged) and per-channel weights, and is\n"
    "           fitted on all 256 input codes\n"
    "  dynamic  dynamic range: int8 weights (>= 1024 elements) with hybrid kernels, float\n"
    "           activations\n"
    "  float16  float16 weights, DEQUANTIZE to float32 at load\n"
    "  int16x8  int16 activations (symmetric, zero point 0), int8 weights, int64 bias;\n"
    "           needs --calib\n"
    "A .kckpt input is converted to float first (as kiln convert does).\n"
    "\n"
    "options:\n"
    "  -o, --output PATH        the .tflite to write (through PATH.tmp, then renamed: nothing\n"
    "                           is written on error)\n"
    "  --mode MODE              int8 (default), dynamic, float16, int16x8\n"
    "  --calib DIR|FILE         representative data: an IDX directory (train-* files, e.g.\n"
    "                           /usr/share/datasets/fashion-mnist), .npy, .npz, .csv, or an\n"
    "                           image folder; uint8 pixels are scaled to [0, 1]. For\n"
    "                           non-image inputs, a .npy of [N, ...] input values covering\n"
    "                           the range the model will see (e.g. hello_world: x in 0..2pi)\n"
    "  --calib-samples N        use the first N samples (default 500)\n"
    "  --calib-random           random inputs in [0, 1) instead (shape-only tests)\n"
    "  --calib-method M         minmax (default, TFLite's), moving-average, percentile, mse\n"
    "  --percentile P           for --calib-method percentile (default 99.99)\n"
    "  --io TYPE                model input/output type: float (default: QUANTIZE/DEQUANTIZE\n"
    "                           at the edges), int8, uint8 (int8 mode), int16 (int16x8)\n"
    "  --fc-weights W           FULLY_CONNECTED weights in int8/int16x8: auto (default:\n"
    "                           per-tensor, as TFLite's converter before 2024 and every\n"
    "                           TFLite Micro; per-channel for a scalar-input chain),\n"
    "                           per-tensor, per-channel (TFLite's converter since 2024)\n"
    "  --keep-float LAYER...    keep these layers (operator output names, as kiln inspect\n"
    "                           shows them) in float, with QUANTIZE/DEQUANTIZE around them\n"
    "  --report-json PATH       write the per-layer report as JSON\n"
    "  --report-samples N       samples used for the report (default: all calibration\n"
    "                           samples; 200 for dynamic/float16)\n"
    "  --no-report              skip the float-vs-quantized comparison\n"
    "  --seed S                 seed of --calib-random (default 1)\n"
    "  -q, --quiet              no report table on stdout\n"
    "  -h, --help               this help\n"
    "\n"
    "The report gives, per layer, the output's scale and zero point, the RMSE between the\n"
    "float model's output and the quantized model's (dequantized) output over the samples,\n"
    "RMSE/scale (about 0.289 is pure rounding noise), the max abs error, and flags the layers\n"
    "that add most of the error with a suggestion (--keep-float or int16x8).\n";

static int ends_with(const char *s, const char *suf) {
    const size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static void print_report(FILE *f, const kiln_quant_report *r) {
    fprintf(f, "%-4s %-22s %-28s %-7s %12s %5s %11s %9s %11s %9s\n", "op", "type", "layer", "dtype",
            "scale", "zp", "rmse", "rmse/sc", "max_abs", "rel_rmse");
    for (int32_t i = 0; i < r->n_layers; i++) {
        const kiln_quant_layer *l = &r->layers[i];
        char name[29];
        const size_t nl = strlen(l->name);
        memcpy(name, nl > 28 ? l->name + nl - 28 : l->name, (nl > 28 ? 28 : nl) + 1);
        fprintf(f, "%-4d %-22s %-28s %-7s %12.6g %5d %11.4g %9.3f %11.4g %9.4f%s\n", l->op_index,
                l->op, name, kiln_dtype_name(l->dtype), (double)l->scale, l->zero_point, l->rmse,
                l->rmse_scale, l->max_abs, l->rel_rmse, l->dominant ? "  <-- dominant" : "");
    }
    int any = 0;
    for (int32_t i = 0; i < r->n_layers; i++) {
        if (!r->layers[i].dominant) continue;
        if (!any) fprintf(f, "layers that add most of the error:\n");
        any = 1;
        fprintf(f, "  %s (%s): relative error +%.4f: %s\n", r->layers[i].name, r->layers[i].op,
                r->layers[i].added, r->layers[i].suggestion);
    }
    if (!any) fprintf(f, "no layer stands out: the error is spread evenly\n");
    fprintf(f,
            "output 0: rmse %.4g, argmax agreement %.2f%% over %lld samples; size %zu -> %zu "
            "bytes (%.1f%%)\n",
            r->output_rmse, 100.0 * r->output_agreement, (long long)r->report_samples,
            r->float_bytes, r->quant_bytes,
            r->float_bytes ? 100.0 * (double)r->quant_bytes / (double)r->float_bytes : 0.0);
}

static int write_report_json(const char *path, const kiln_quant_report *r, const char *in,
                             const char *out) {
    kiln_json w;
    kiln_json_init_buffer(&w, 2);
    kiln_json_obj_begin(&w);
    kiln_json_kv_str(&w, "input", in);
    kiln_json_kv_str(&w, "output", out);
    kiln_json_kv_str(&w, "mode", kiln_quant_mode_name(r->mode));
    kiln_json_kv_int(&w, "calibration_samples", r->calib_samples);
    kiln_json_kv_int(&w, "report_samples", r->report_samples);
    kiln_json_kv_int(&w, "float_bytes", (int64_t)r->float_bytes);
    kiln_json_kv_int(&w, "quantized_bytes", (int64_t)r->quant_bytes);
    kiln_json_kv_num(&w, "size_ratio",
                     r->float_bytes ? (double)r->quant_bytes / (double)r->float_bytes : 0);
    kiln_json_kv_num(&w, "output_rmse", r->output_rmse);
    kiln_json_kv_num(&w, "output_argmax_agreement", r->output_agreement);
    kiln_json_key(&w, "layers");
    kiln_json_arr_begin(&w);
    for (int32_t i = 0; i < r->n_layers; i++) {
        const kiln_quant_layer *l = &r->layers[i];
        kiln_json_obj_begin(&w);
        kiln_json_kv_int(&w, "op_index", l->op_index);
        kiln_json_kv_str(&w, "op", l->op);
        kiln_json_kv_str(&w, "name", l->name);
        kiln_json_kv_str(&w, "dtype", kiln_dtype_name(l->dtype));
        kiln_json_kv_bool(&w, "quantized", l->quantized);
        kiln_json_kv_float(&w, "scale", l->scale);
        kiln_json_kv_int(&w, "zero_point", l->zero_point);
        kiln_json_kv_float(&w, "calib_min", l->min);
        kiln_json_kv_float(&w, "calib_max", l->max);
        kiln_json_kv_num(&w, "rmse", l->rmse);
        kiln_json_kv_num(&w, "rmse_over_scale", l->rmse_scale);
        kiln_json_kv_num(&w, "max_abs_error", l->max_abs);
        kiln_json_kv_num(&w, "relative_rmse", l->rel_rmse);
        kiln_json_kv_num(&w, "added_relative_error", l->added);
        kiln_json_kv_bool(&w, "dominant", l->dominant);
        if (l->dominant) kiln_json_kv_str(&w, "suggestion", l->suggestion);
        kiln_json_obj_end(&w);
    }
    kiln_json_arr_end(&w);
    kiln_json_obj_end(&w);
    char err[256];
    kiln_status s = kiln_json_finish(&w);
    if (s == KILN_OK)
        s = kiln_json_save(&w, path, err, sizeof err);
    else
        snprintf(err, sizeof err, "%s: cannot build the JSON report", path);
    kiln_json_free(&w);
    if (s != KILN_OK) {
        fprintf(stderr, "kiln quantize: %s\n", err);
        return -1;
    }
    return 0;
}

/* Reads a whole file into malloc'd memory (64-byte aligned, as the loader wants 16). */
static void *read_all(const char *path, size_t *len, char *err, size_t errlen) {
    kcli_file f;
    if (kcli_file_read(path, &f, err, errlen)) return NULL;
    void *b = NULL;
    if (posix_memalign(&b, 64, f.len ? f.len : 1) != 0) {
        kcli_file_free(&f);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    memcpy(b, f.data, f.len);
    *len = f.len;
    kcli_file_free(&f);
    return b;
}

static int write_atomic(const char *path, const void *data, size_t len) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        fprintf(stderr, "kiln quantize: %s: cannot write\n", tmp);
        return -1;
    }
    const int ok = fwrite(data, 1, len, f) == len;
    if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
        remove(tmp);
        fprintf(stderr, "kiln quantize: %s: write failed\n", path);
        return -1;
    }
    return 0;
}

int kiln_cmd_quantize(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *calib = NULL, *report_json = NULL;
    long long calib_samples = 500;
    int quiet = 0;
    kiln_quantize_options o;
    kiln_quantize_options_init(&o);
    const char **keep = (const char **)calloc((size_t)argc + 1, sizeof(char *));
    int32_t nkeep = 0;
    if (!keep) return 1;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const int has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            free(keep);
            return kcli_help(help);
        }
        if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && has) {
            out = argv[++i];
        } else if (!strcmp(a, "--mode") && has) {
            const char *m = argv[++i];
            if (!strcmp(m, "int8"))
                o.mode = KILN_QUANT_INT8;
            else if (!strcmp(m, "dynamic"))
                o.mode = KILN_QUANT_DYNAMIC;
            else if (!strcmp(m, "float16"))
                o.mode = KILN_QUANT_FLOAT16;
            else if (!strcmp(m, "int16x8") || !strcmp(m, "16x8"))
                o.mode = KILN_QUANT_INT16X8;
            else {
                fprintf(stderr,
                        "kiln quantize: --mode must be int8, dynamic, float16 or int16x8\n");
                goto out;
            }
        } else if (!strcmp(a, "--calib") && has) {
            calib = argv[++i];
        } else if (!strcmp(a, "--calib-samples") && has) {
            if (kcli_parse_int(argv[++i], 1, 100000000, &calib_samples)) {
                fprintf(stderr, "kiln quantize: --calib-samples takes a positive number\n");
                goto out;
            }
        } else if (!strcmp(a, "--calib-random")) {
            o.calib_random = 1;
        } else if (!strcmp(a, "--calib-method") && has) {
            const char *m = argv[++i];
            if (!strcmp(m, "minmax"))
                o.method = KILN_CALIB_MINMAX;
            else if (!strcmp(m, "moving-average"))
                o.method = KILN_CALIB_MOVING_AVERAGE;
            else if (!strcmp(m, "percentile"))
                o.method = KILN_CALIB_PERCENTILE;
            else if (!strcmp(m, "mse"))
                o.method = KILN_CALIB_MSE;
            else {
                fprintf(stderr, "kiln quantize: --calib-method must be minmax, moving-average, "
                                "percentile or mse\n");
                goto out;
            }
        } else if (!strcmp(a, "--percentile") && has) {
            char *end;
            o.percentile = strtof(argv[++i], &end);
            if (*end || !(o.percentile > 50 && o.percentile <= 100)) {
                fprintf(stderr, "kiln quantize: --percentile takes a number in (50, 100]\n");
                goto out;
            }
        } else if (!strcmp(a, "--io") && has) {
            const char *t = argv[++i];
            if (!strcmp(t, "float") || !strcmp(t, "float32"))
                o.io_type = KILN_FLOAT32;
            else if (!strcmp(t, "int8"))
                o.io_type = KILN_INT8;
            else if (!strcmp(t, "uint8"))
                o.io_type = KILN_UINT8;
            else if (!strcmp(t, "int16"))
                o.io_type = KILN_INT16;
            else {
                fprintf(stderr, "kiln quantize: --io must be float, int8, uint8 or int16\n");
                goto out;
            }
        } else if (!strcmp(a, "--fc-weights") && has) {
            const char *t = argv[++i];
            if (!strcmp(t, "auto"))
                o.fc_weights = KILN_FC_AUTO;
            else if (!strcmp(t, "per-tensor"))
                o.fc_weights = KILN_FC_PER_TENSOR;
            else if (!strcmp(t, "per-channel"))
                o.fc_weights = KILN_FC_PER_CHANNEL;
            else {
                fprintf(stderr, "kiln quantize: --fc-weights must be auto, per-tensor or "
                                "per-channel\n");
                goto out;
            }
        } else if (!strcmp(a, "--keep-float") && has) {
            while (i + 1 < argc && argv[i + 1][0] != '-')
                keep[nkeep++] = argv[++i];
        } else if (!strcmp(a, "--report-json") && has) {
            report_json = argv[++i];
        } else if (!strcmp(a, "--report-samples") && has) {
            long long n;
            if (kcli_parse_int(argv[++i], 1, 100000000, &n)) {
                fprintf(stderr, "kiln quantize: --report-samples takes a positive number\n");
                goto out;
            }
            o.report_samples = n;
        } else if (!strcmp(a, "--no-report")) {
            o.report = 0;
        } else if (!strcmp(a, "--seed") && has) {
            long long n;
            if (kcli_parse_int(argv[++i], 0, (long long)1 << 62, &n)) {
                fprintf(stderr, "kiln quantize: --seed takes a whole number\n");
                goto out;
            }
            o.seed = (uint64_t)n;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-') {
            fprintf(stderr, "kiln quantize: unknown option %s (see kiln quantize --help)\n", a);
            goto out;
        } else if (!in) {
            in = a;
        } else {
            fprintf(stderr, "kiln quantize: one input model only (got %s and %s)\n", in, a);
            goto out;
        }
    }
    if (!in || !out) {
        fprintf(stderr, "kiln quantize: need an input model and -o OUT.tflite (see --help)\n");
        goto out;
    }
    o.keep_float = keep;
    o.n_keep_float = nkeep;
    o.calib_random_n = calib_samples;
    rc = 1;
    char err[512] = "";
    /* the float model */
    void *fbuf = NULL;
    size_t flen = 0;
    if (ends_with(in, ".kckpt")) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.float.tmp", out);
        kiln_convert_options co;
        kiln_convert_options_init(&co);
        if (kiln_convert_file(in, 1, &co, tmp, err, sizeof err) != KILN_OK) {
            fprintf(stderr, "kiln quantize: %s\n", err);
            goto out;
        }
        fbuf = read_all(tmp, &flen, err, sizeof err);
        remove(tmp);
    } else {
        fbuf = read_all(in, &flen, err, sizeof err);
    }
    if (!fbuf) {
        fprintf(stderr, "kiln quantize: %s\n", err);
        goto out;
    }
    kiln_dataset ds;
    memset(&ds, 0, sizeof ds);
    if (calib) {
        kiln_load_options lo;
        kiln_load_options_init(&lo);
        if (kiln_dataset_load(calib, &lo, &ds, err, sizeof err) != KILN_OK) {
            fprintf(stderr, "kiln quantize: --calib %s: %s\n", calib, err);
            free(fbuf);
            goto out;
        }
        if (ds.n == 0) {
            fprintf(stderr, "kiln quantize: --calib %s: the representative data set is empty\n",
                    calib);
            kiln_dataset_free(&ds);
            free(fbuf);
            goto out;
        }
        o.calib = ds.x;
        o.calib_n = ds.n < calib_samples ? ds.n : calib_samples;
        o.calib_sample_size = ds.sample_size;
    }
    uint8_t *qbuf = NULL;
    size_t qlen = 0;
    kiln_quant_report rep;
    kiln_status s = kiln_quantize_model(fbuf, flen, &o, &qbuf, &qlen, &rep, err, sizeof err);
    kiln_dataset_free(&ds);
    free(fbuf);
    if (s != KILN_OK) {
        fprintf(stderr, "kiln quantize: %s: %s\n", in, err);
        goto out;
    }
    if (write_atomic(out, qbuf, qlen)) {
        free(qbuf);
        kiln_quant_report_free(&rep);
        goto out;
    }
    free(qbuf);
    if (!quiet) {
        printf("kiln quantize: %s -> %s (%s", in, out, kiln_quant_mode_name(o.mode));
        if (o.mode == KILN_QUANT_INT8 || o.mode == KILN_QUANT_INT16X8)
            printf(", %lld calibration samples", (long long)rep.calib_samples);
        printf(")\n");
        if (o.report)
            print_report(stdout, &rep);
        else
            printf("size %zu -> %zu bytes\n", rep.float_bytes, rep.quant_bytes);
    }
    rc = 0;
    if (report_json && write_report_json(report_json, &rep, in, out)) rc = 1;
    kiln_quant_report_free(&rep);
out:
    free(keep);
    return rc;
}
