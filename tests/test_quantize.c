/* test_quantize.c: the post-training quantizer (src/quant): goldens from the official runtime and
 * TFLite Micro (tests/golden/quant, regen.sh), TFLite's parameter rules checked on the written
 * model, hello_world tracking its float model, and the error paths. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/ops.h"
#include "kiln/kiln_rt.h"
#include "kiln/npy.h"
#include "kiln/quantize.h"
#include "rt/model.h"
#include "test.h"

static char gdir[1024];

/* Runs the model on one input .npy; returns a malloc'd copy of output 0 (and its info). */
static void *run1(const void *buf, size_t len, kiln_arith arith, const kiln_npy *in,
                  kiln_tensor_info *oinfo) {
    kiln_model *m = NULL;
    kiln_interp *it = NULL;
    char err[256];
    if (kiln_model_load(buf, len, "m", NULL, &m, err, sizeof err) != KILN_OK) {
        fprintf(stderr, "load: %s\n", err);
        return NULL;
    }
    kiln_interp_options o;
    kiln_interp_options_init(&o);
    o.arith = arith;
    void *res = NULL;
    if (kiln_interp_create(m, &o, &it, err, sizeof err) == KILN_OK) {
        kiln_tensor_info ti;
        kiln_interp_input(it, 0, &ti);
        if (ti.bytes == in->bytes && ti.dtype == in->dtype) {
            memcpy(ti.data, in->data, in->bytes);
            if (kiln_interp_invoke(it) == KILN_OK && kiln_interp_output(it, 0, oinfo) == KILN_OK) {
                res = malloc(oinfo->bytes);
                if (res) memcpy(res, oinfo->data, oinfo->bytes);
            }
        } else {
            fprintf(stderr, "input mismatch: %zu bytes %d vs %zu %d\n", ti.bytes, ti.dtype,
                    in->bytes, in->dtype);
        }
        kiln_interp_destroy(it);
    } else {
        fprintf(stderr, "create: %s\n", err);
    }
    kiln_model_destroy(m);
    return res;
}

/* Compares an output with an expected .npy: exact for integers and for integer-mode float
 * outputs (dequantized: same ints give the same floats), 1e-5 relative otherwise. */
static int same_output(const void *out, const kiln_tensor_info *oi, const char *path, int exact) {
    kiln_npy e;
    char err[256];
    if (kiln_npy_read(path, &e, err, sizeof err) != KILN_OK) {
        fprintf(stderr, "%s\n", err);
        return 0;
    }
    int ok = e.bytes == oi->bytes && e.dtype == oi->dtype;
    if (ok && (exact || e.dtype != KILN_FLOAT32)) {
        ok = memcmp(out, e.data, e.bytes) == 0;
    } else if (ok) {
        const float *a = (const float *)out, *b = (const float *)e.data;
        for (size_t i = 0; i < e.bytes / 4; i++)
            if (fabsf(a[i] - b[i]) > 1e-5f * fmaxf(1.0f, fabsf(b[i]))) ok = 0;
    }
    if (!ok) fprintf(stderr, "%s: output differs\n", path);
    kiln_npy_free(&e);
    return ok;
}

/* Every golden case: the committed model equals a fresh quantization (byte for byte), and
 * Kiln's interpreter gives TFLite Micro's outputs (default dialect) and the official runtime's
 * (litert dialect). */
static void test_goldens(void) {
    char path[8192];
    snprintf(path, sizeof path, "%s/cases.txt", gdir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    const char *bin = getenv("KILN_BIN");
    char line[1024];
    int ncases = 0;
    while (fgets(line, sizeof line, f)) {
        char *name, *src, *args;
        if (!test_case_fields(line, &name, &src, &args)) continue;
        ncases++;
        char mpath[8192];
        snprintf(mpath, sizeof mpath, "%s/%s/model.tflite", gdir, name);
        size_t len = 0;
        void *buf = test_read_file(mpath, &len);
        CHECK_MSG(buf != NULL, "%s", mpath);
        if (!buf) continue;
        const int exact = strstr(args, "dynamic") == NULL && strstr(args, "float16") == NULL;
        /* determinism + regression: a fresh run writes the same bytes */
        if (bin) {
            char cmd[8192], tmp[1400];
            snprintf(tmp, sizeof tmp, "/tmp/kiln_test_quant_%d_%s.tflite", (int)getpid(), name);
            snprintf(cmd, sizeof cmd, "cd '%s' && '%s' quantize '%s' -o '%s' %s -q --no-report",
                     gdir, bin, src, tmp, args);
            CHECK_MSG(system(cmd) == 0, "%s", cmd);
            size_t l2 = 0;
            void *b2 = test_read_file(tmp, &l2);
            CHECK_MSG(b2 && l2 == len && memcmp(b2, buf, len) == 0,
                      "%s: a fresh quantization differs from the committed model", name);
            free(b2);
            remove(tmp);
        }
        /* input_K.npy with expected_<dialect>_K.npy: K = 0 (random), then real samples */
        for (int k = 0;; k++) {
            kiln_npy in;
            char err[256];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s/input_%d.npy", gdir, name, k);
            if (k > 0 && stat(path, &st) != 0) break;
            if (kiln_npy_read(path, &in, err, sizeof err) != KILN_OK) {
                CHECK_MSG(0, "%s", err);
                break;
            }
            for (int d = 0; d < 2; d++) {
                snprintf(path, sizeof path, "%s/%s/expected_%s_%d.npy", gdir, name,
                         d ? "litert" : "tflm", k);
                if (stat(path, &st) != 0) continue;
                kiln_tensor_info oi;
                void *out = run1(buf, len, d ? KILN_ARITH_LITERT : KILN_ARITH_TFLM, &in, &oi);
                CHECK_MSG(out && same_output(out, &oi, path, exact), "%s input %d (%s dialect)",
                          name, k, d ? "litert" : "tflm");
                free(out);
            }
            kiln_npy_free(&in);
        }
        free(buf);
    }
    fclose(f);
    CHECK(ncases >= 10);
}

static const kiln__tensor_def *find_tensor(const kiln_model *m, const char *name, int32_t type) {
    const kiln__subgraph_def *sg = &m->subgraphs[0];
    for (int32_t i = 0; i < sg->n_tensors; i++)
        if (!strcmp(sg->tensors[i].name, name) && sg->tensors[i].type == type)
            return &sg->tensors[i];
    return NULL;
}

/* TFLite's rules, read back from the written int8 model. */
static void test_int8_rules(void) {
    char path[8192];
    snprintf(path, sizeof path, "%s/qtiny_int8/model.tflite", gdir);
    size_t len;
    void *buf = test_read_file(path, &len);
    CHECK(buf != NULL);
    if (!buf) return;
    kiln_model *m = NULL;
    char err[256];
    CHECK(kiln_model_load(buf, len, "q", NULL, &m, err, sizeof err) == KILN_OK);
    if (!m) {
        free(buf);
        return;
    }
    const kiln__subgraph_def *sg = &m->subgraphs[0];
    int conv = 0, dw = 0, fc = 0, sm = 0, mp = 0;
    for (int32_t i = 0; i < sg->n_ops; i++) {
        const kiln__op_def *op = &sg->ops[i];
        const kiln__tensor_def *x = &sg->tensors[op->inputs[0]];
        const kiln__tensor_def *y = &sg->tensors[op->outputs[0]];
        if (op->builtin == KILN_OP_CONV_2D || op->builtin == KILN_OP_DEPTHWISE_CONV_2D ||
            op->builtin == KILN_OP_FULLY_CONNECTED) {
            const kiln__tensor_def *w = &sg->tensors[op->inputs[1]];
            const kiln__tensor_def *b = &sg->tensors[op->inputs[2]];
            const int isdw = op->builtin == KILN_OP_DEPTHWISE_CONV_2D;
            const int isfc = op->builtin == KILN_OP_FULLY_CONNECTED;
            conv += op->builtin == KILN_OP_CONV_2D;
            dw += isdw;
            fc += isfc;
            CHECK_EQ_INT(op->version, isfc ? 4 : 3);
            CHECK_EQ_INT(w->type, KILN_INT8);
            CHECK_EQ_INT(b->type, KILN_INT32);
            CHECK_EQ_INT(x->type, KILN_INT8);
            CHECK_EQ_INT(w->q.n, isfc ? 1 : w->dims[isdw ? 3 : 0]);
            if (!isfc) CHECK_EQ_INT(w->q.dim, isdw ? 3 : 0);
            CHECK_EQ_INT(b->q.n, w->q.n);
            for (int32_t c = 0; c < w->q.n; c++) {
                CHECK_EQ_INT(w->q.zero_point[c], 0);
                CHECK_EQ_INT(b->q.zero_point[c], 0);
                CHECK_NEAR(b->q.scale[c], x->q.scale[0] * w->q.scale[c], 1e-12);
            }
            /* symmetric weights: the largest magnitude of each channel is 127 */
            const int8_t *wd = (const int8_t *)w->data;
            int64_t n = 1;
            for (int32_t k = 0; k < w->rank; k++)
                n *= w->dims[k];
            int maxq = 0;
            for (int64_t k = 0; k < n; k++) {
                CHECK(wd[k] >= -127);
                if (abs(wd[k]) > maxq) maxq = abs(wd[k]);
            }
            CHECK_EQ_INT(maxq, 127);
        }
        if (op->builtin == KILN_OP_SOFTMAX) {
            sm++;
            CHECK_NEAR(y->q.scale[0], 1.0 / 256, 0);
            CHECK_EQ_INT(y->q.zero_point[0], -128);
            CHECK_EQ_INT(op->version, 2);
        }
        if (op->builtin == KILN_OP_MAX_POOL_2D) {
            mp++;
            CHECK(y->q.scale[0] == x->q.scale[0] && y->q.zero_point[0] == x->q.zero_point[0]);
            CHECK_EQ_INT(op->version, 2);
        }
        if (y->type == KILN_INT8 && y->q.n == 1) {
            /* asymmetric activations: the range includes 0, zero point an integer in range */
            const double lo = (-128 - y->q.zero_point[0]) * (double)y->q.scale[0];
            const double hi = (127 - y->q.zero_point[0]) * (double)y->q.scale[0];
            CHECK(lo <= 0 && hi >= 0);
        }
    }
    CHECK_EQ_INT(conv, 2);
    CHECK_EQ_INT(dw, 1);
    CHECK_EQ_INT(fc, 1);
    CHECK_EQ_INT(sm, 1);
    CHECK_EQ_INT(mp, 1);
    /* float I/O with QUANTIZE / DEQUANTIZE at the edges */
    CHECK_EQ_INT(sg->tensors[sg->inputs[0]].type, KILN_FLOAT32);
    CHECK_EQ_INT(sg->tensors[sg->outputs[0]].type, KILN_FLOAT32);
    CHECK_EQ_INT(sg->ops[0].builtin, KILN_OP_QUANTIZE);
    CHECK_EQ_INT(sg->ops[sg->n_ops - 1].builtin, KILN_OP_DEQUANTIZE);
    CHECK(find_tensor(m, "c1", KILN_INT8) != NULL);
    kiln_model_destroy(m);
    free(buf);

    /* int16x8: symmetric int16 activations, int64 bias */
    snprintf(path, sizeof path, "%s/qtiny_int16x8/model.tflite", gdir);
    buf = test_read_file(path, &len);
    CHECK(buf && kiln_model_load(buf, len, "q", NULL, &m, err, sizeof err) == KILN_OK);
    if (buf && m) {
        sg = &m->subgraphs[0];
        int n16 = 0, n64 = 0;
        for (int32_t i = 0; i < sg->n_tensors; i++) {
            const kiln__tensor_def *t = &sg->tensors[i];
            if (t->type == KILN_INT16) {
                n16++;
                CHECK_EQ_INT(t->q.zero_point[0], 0);
            }
            n64 += t->type == KILN_INT64;
        }
        CHECK(n16 >= 8);
        CHECK_EQ_INT(n64, 4);
        kiln_model_destroy(m);
    }
    free(buf);

    /* keep-float: c2 stays a float CONV_2D, with DEQUANTIZE before and QUANTIZE after */
    snprintf(path, sizeof path, "%s/qtiny_keep/model.tflite", gdir);
    buf = test_read_file(path, &len);
    m = NULL;
    CHECK(buf && kiln_model_load(buf, len, "q", NULL, &m, err, sizeof err) == KILN_OK);
    if (buf && m) {
        CHECK(find_tensor(m, "c2", KILN_FLOAT32) != NULL);
        CHECK(find_tensor(m, "c2", KILN_INT8) != NULL); /* its quantized copy for ADD */
        CHECK(find_tensor(m, "c1", KILN_INT8) != NULL);
        kiln_model_destroy(m);
    }
    free(buf);
}

static kiln_model *load_case(const char *name, void **buf) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s/model.tflite", gdir, name);
    size_t len;
    *buf = test_read_file(path, &len);
    CHECK_MSG(*buf != NULL, "%s", path);
    if (!*buf) return NULL;
    kiln_model *m = NULL;
    char err[256];
    CHECK_MSG(kiln_model_load(*buf, len, name, NULL, &m, err, sizeof err) == KILN_OK, "%s", err);
    if (!m) free(*buf);
    return m;
}

static const kiln__op_def *find_op(const kiln_model *m, int32_t builtin) {
    const kiln__subgraph_def *sg = &m->subgraphs[0];
    for (int32_t i = 0; i < sg->n_ops; i++)
        if (sg->ops[i].builtin == builtin) return &sg->ops[i];
    return NULL;
}

/* Issue #7's rewrites, read back from the opsrc_* goldens: a fused TANH becomes its own TANH op
 * with TFLite's fixed output parameters, a fused SIGN_BIT keeps the op float, CONCATENATION's
 * activation becomes a RELU/RELU6 op and its inputs carry the output's parameters,
 * TRANSPOSE_CONV gets per-channel weights on dim 0 and an int32 (int64) bias, BATCH_MATMUL
 * per-tensor operands. */
static void test_split_rules(void) {
    static const char *tanh_cases[] = {"conv_tanh", "dw_tanh", "fc_tanh", "mul_tanh", "add_tanh"};
    static const int32_t tanh_ops[] = {KILN_OP_CONV_2D, KILN_OP_DEPTHWISE_CONV_2D,
                                       KILN_OP_FULLY_CONNECTED, KILN_OP_MUL, KILN_OP_ADD};
    char name[128];
    void *buf;
    for (int mode = 0; mode < 2; mode++) {
        const int i16 = mode == 1;
        const int32_t qt = i16 ? KILN_INT16 : KILN_INT8;
        for (int c = 0; c < 5; c++) {
            snprintf(name, sizeof name, "opsrc_%s_%s", tanh_cases[c], i16 ? "int16x8" : "int8");
            kiln_model *m = load_case(name, &buf);
            if (!m) continue;
            const kiln__subgraph_def *sg = &m->subgraphs[0];
            const kiln__op_def *op = find_op(m, tanh_ops[c]);
            const kiln__op_def *th = find_op(m, KILN_OP_TANH);
            CHECK_MSG(op && th, "%s: op and TANH", name);
            if (op && th) {
                CHECK_EQ_INT(sg->tensors[op->outputs[0]].type, qt);
                CHECK_EQ_INT(th->inputs[0], op->outputs[0]);
                const kiln__tensor_def *y = &sg->tensors[th->outputs[0]];
                CHECK_EQ_INT(y->type, qt);
                CHECK_NEAR(y->q.scale[0], i16 ? 1.0 / 32768 : 1.0 / 128, 1e-12);
                CHECK_EQ_INT(y->q.zero_point[0], 0);
            }
            kiln_model_destroy(m);
            free(buf);
        }
        /* SIGN_BIT: the ADD stays float */
        snprintf(name, sizeof name, "opsrc_add_signbit_%s", i16 ? "int16x8" : "int8");
        kiln_model *m = load_case(name, &buf);
        if (m) {
            const kiln__op_def *op = find_op(m, KILN_OP_ADD);
            CHECK(op != NULL && m->subgraphs[0].tensors[op->outputs[0]].type == KILN_FLOAT32);
            kiln_model_destroy(m);
            free(buf);
        }
        /* CONCATENATION + activation op; all inputs share the output's parameters */
        for (int c = 0; c < 2; c++) {
            snprintf(name, sizeof name, "opsrc_concat_%s_%s", c ? "relu" : "relu6",
                     i16 ? "int16x8" : "int8");
            m = load_case(name, &buf);
            if (!m) continue;
            const kiln__subgraph_def *sg = &m->subgraphs[0];
            const kiln__op_def *op = find_op(m, KILN_OP_CONCATENATION);
            const kiln__op_def *act = find_op(m, c ? KILN_OP_RELU : KILN_OP_RELU6);
            CHECK_MSG(op && act, "%s: CONCATENATION and activation", name);
            if (op && act) {
                const kiln__tensor_def *y = &sg->tensors[op->outputs[0]];
                CHECK_EQ_INT(y->type, qt);
                CHECK_EQ_INT(act->inputs[0], op->outputs[0]);
                for (int32_t k = 0; k < op->n_in; k++) {
                    const kiln__tensor_def *x = &sg->tensors[op->inputs[k]];
                    CHECK_EQ_INT(x->type, qt);
                    CHECK(x->q.n == 1 && x->q.scale[0] == y->q.scale[0] &&
                          x->q.zero_point[0] == y->q.zero_point[0]);
                }
            }
            kiln_model_destroy(m);
            free(buf);
        }
        /* TRANSPOSE_CONV: per-channel symmetric weights on dim 0, bias at in * w scale */
        snprintf(name, sizeof name, "opsrc_tconv_bias_%s", i16 ? "int16x8" : "int8");
        m = load_case(name, &buf);
        if (m) {
            const kiln__subgraph_def *sg = &m->subgraphs[0];
            const kiln__op_def *op = find_op(m, KILN_OP_TRANSPOSE_CONV);
            CHECK(op != NULL && op->n_in == 4);
            if (op && op->n_in == 4) {
                const kiln__tensor_def *w = &sg->tensors[op->inputs[1]];
                const kiln__tensor_def *x = &sg->tensors[op->inputs[2]];
                const kiln__tensor_def *b = &sg->tensors[op->inputs[3]];
                CHECK_EQ_INT(op->version, 3);
                CHECK_EQ_INT(x->type, qt);
                CHECK_EQ_INT(w->type, KILN_INT8);
                CHECK_EQ_INT(w->q.n, w->dims[0]);
                CHECK_EQ_INT(w->q.dim, 0);
                CHECK_EQ_INT(b->type, i16 ? KILN_INT64 : KILN_INT32);
                CHECK_EQ_INT(b->q.n, w->q.n);
                for (int32_t k = 0; k < w->q.n && k < b->q.n; k++) {
                    CHECK_EQ_INT(w->q.zero_point[k], 0);
                    CHECK_NEAR(b->q.scale[k], x->q.scale[0] * w->q.scale[k], 1e-12);
                }
            }
            kiln_model_destroy(m);
            free(buf);
        }
        /* BATCH_MATMUL: both operands per-tensor (zero point 0 in int16) */
        snprintf(name, sizeof name, "opsrc_bmm_const_%s", i16 ? "int16x8" : "int8");
        m = load_case(name, &buf);
        if (m) {
            const kiln__subgraph_def *sg = &m->subgraphs[0];
            const kiln__op_def *op = find_op(m, KILN_OP_BATCH_MATMUL);
            CHECK(op != NULL);
            if (op) {
                CHECK_EQ_INT(op->version, i16 ? 3 : 2);
                for (int32_t k = 0; k < 2; k++) {
                    const kiln__tensor_def *x = &sg->tensors[op->inputs[k]];
                    CHECK_EQ_INT(x->type, qt);
                    CHECK_EQ_INT(x->q.n, 1);
                    if (i16) CHECK_EQ_INT(x->q.zero_point[0], 0);
                }
            }
            kiln_model_destroy(m);
            free(buf);
        }
    }
}

/* A float model with EXP (no int8 kernel in our list): the quantizer lists it; --keep-float. */
static void test_errors(void) {
    char path[8192];
    snprintf(path, sizeof path, "%s/hw_float.tflite", gdir);
    size_t len;
    void *fbuf = test_read_file(path, &len);
    CHECK(fbuf != NULL);
    if (!fbuf) return;
    kiln_quantize_options o;
    kiln_quantize_options_init(&o);
    uint8_t *q = NULL;
    size_t qlen = 0;
    char err[512];
    /* no calibration data */
    CHECK(kiln_quantize_model(fbuf, len, &o, &q, &qlen, NULL, err, sizeof err) == KILN_ERR_ARG);
    CHECK_MSG(strstr(err, "calibration data") != NULL, "%s", err);
    CHECK(q == NULL);
    /* an empty set */
    float one = 1;
    o.calib = &one;
    o.calib_n = 0;
    CHECK(kiln_quantize_model(fbuf, len, &o, &q, &qlen, NULL, err, sizeof err) != KILN_OK);
    CHECK_MSG(strstr(err, "empty") != NULL, "%s", err);
    /* overflow: non-finite activations */
    float bad[4] = {0.5f, INFINITY, 1.0f, 2.0f};
    o.calib = bad;
    o.calib_n = 4;
    o.calib_sample_size = 1;
    CHECK(kiln_quantize_model(fbuf, len, &o, &q, &qlen, NULL, err, sizeof err) != KILN_OK);
    CHECK_MSG(strstr(err, "overflow") != NULL, "%s", err);
    /* wrong sample size */
    o.calib = bad;
    o.calib_n = 2;
    o.calib_sample_size = 2;
    CHECK(kiln_quantize_model(fbuf, len, &o, &q, &qlen, NULL, err, sizeof err) != KILN_OK);
    CHECK_MSG(strstr(err, "values each") != NULL, "%s", err);
    /* unknown keep-float layer */
    const char *keep[1] = {"no_such_layer"};
    o.calib = NULL;
    o.calib_random = 1;
    o.keep_float = keep;
    o.n_keep_float = 1;
    CHECK(kiln_quantize_model(fbuf, len, &o, &q, &qlen, NULL, err, sizeof err) == KILN_ERR_ARG);
    CHECK_MSG(strstr(err, "no_such_layer") != NULL, "%s", err);
    /* random calibration works; the whole float model kept float is fine too */
    o.n_keep_float = 0;
    CHECK(kiln_quantize_model(fbuf, len, &o, &q, &qlen, NULL, err, sizeof err) == KILN_OK);
    free(q);
    q = NULL;
    /* garbage in */
    CHECK(kiln_quantize_model("not a model", 11, &o, &q, &qlen, NULL, err, sizeof err) != KILN_OK);
    free(fbuf);

    /* the CLI writes nothing on error */
    const char *bin = getenv("KILN_BIN");
    if (bin) {
        char cmd[6000], out[256];
        snprintf(out, sizeof out, "/tmp/kiln_test_quant_err_%d.tflite", (int)getpid());
        remove(out);
        snprintf(cmd, sizeof cmd,
                 "'%s' quantize '%s/hw_float.tflite' -o '%s' --mode int8 2>/dev/null", bin, gdir,
                 out);
        CHECK(system(cmd) != 0);
        struct stat st;
        CHECK(stat(out, &st) != 0);
        snprintf(cmd, sizeof cmd, "'%s' quantize --help | grep -q calib-method", bin);
        CHECK(system(cmd) == 0);
    }
}

/* An unsupported op: a float model with EXP built by hand is refused in int8, listing the op,
 * and quantizes with that layer kept float. */
static void test_unsupported(void) {
    char path[8192];
    snprintf(path, sizeof path, "%s/exp_float.tflite", gdir);
    size_t len;
    void *fbuf = test_read_file(path, &len);
    if (!fbuf) return; /* optional fixture */
    kiln_quantize_options o;
    kiln_quantize_options_init(&o);
    o.calib_random = 1;
    o.calib_random_n = 8;
    uint8_t *q = NULL;
    size_t qlen = 0;
    char err[512];
    CHECK(kiln_quantize_model(fbuf, len, &o, &q, &qlen, NULL, err, sizeof err) ==
          KILN_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err, "EXP") != NULL, "%s", err);
    free(fbuf);
}

int main(void) {
    const char *t = getenv("KILN_TESTS");
    snprintf(gdir, sizeof gdir, "%s/golden/quant", t ? t : "tests");
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/cases.txt", gdir);
    struct stat st;
    if (stat(probe, &st) != 0) TEST_SKIP("tests/golden/quant not found (set KILN_TESTS)");
    test_goldens();
    test_int8_rules();
    test_split_rules();
    /* hello_world's int8 error bounds: tests/test_quantize_hello.c */
    test_errors();
    test_unsupported();
    return test_done();
}
