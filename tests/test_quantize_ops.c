/* test_quantize_ops.c: `kiln quantize` on single-op float models of the ops TFLite's converter
 * quantizes with shared scales, several outputs or non-activation inputs (SPLIT, SPLIT_V, PACK,
 * UNPACK, PADV2, TILE, SELECT_V2, REVERSE_V2, ...): goldens from the official runtime and TFLite
 * Micro (tests/golden/quant_ops, regen.sh), TFLite's parameter rules and op versions read back, and
 * the refusals (no int16 form in TFLite's property table). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kernels/ops.h"
#include "kiln/kiln_rt.h"
#include "kiln/npy.h"
#include "kiln/quantize.h"
#include "rt/model.h"
#include "test.h"

static char gdir[1024];

static kiln_status quantize(const void *src, size_t len, kiln_quant_mode mode, uint8_t **q,
                            size_t *qlen, char *err, size_t errlen) {
    kiln_quantize_options o;
    kiln_quantize_options_init(&o);
    o.mode = mode;
    o.calib_random = 1;
    o.calib_random_n = 20; /* = --calib-random --calib-samples 20 (regen.sh) */
    o.report = 0;
    return kiln_quantize_model(src, len, &o, q, qlen, NULL, err, errlen);
}

/* Runs the model on input_0.npy in one dialect and compares every output with
 * expected_<dialect>_K.npy (bit-exact). Returns the number of outputs compared, -1 on failure. */
static int run_compare(const char *name, const void *buf, size_t len, kiln_arith arith) {
    const char *dn = arith == KILN_ARITH_LITERT ? "litert" : "tflm";
    char path[4096], err[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s/expected_%s_0.npy", gdir, name, dn);
    if (stat(path, &st) != 0) return 0; /* that oracle has no kernel for it */
    kiln_model *m = NULL;
    kiln_interp *it = NULL;
    kiln_npy in;
    if (kiln_model_load(buf, len, name, NULL, &m, err, sizeof err) != KILN_OK) {
        CHECK_MSG(0, "%s: load: %s", name, err);
        return -1;
    }
    kiln_interp_options o;
    kiln_interp_options_init(&o);
    o.arith = arith;
    int n = -1;
    snprintf(path, sizeof path, "%s/%s/input_0.npy", gdir, name);
    if (kiln_npy_read(path, &in, err, sizeof err) != KILN_OK) {
        CHECK_MSG(0, "%s", err);
        kiln_model_destroy(m);
        return -1;
    }
    kiln_tensor_info ti;
    if (kiln_interp_create(m, &o, &it, err, sizeof err) == KILN_OK &&
        kiln_interp_input(it, 0, &ti) == KILN_OK && ti.bytes == in.bytes && ti.dtype == in.dtype) {
        memcpy(ti.data, in.data, in.bytes);
        if (kiln_interp_invoke(it) == KILN_OK) {
            n = 0;
            for (int32_t k = 0; k < kiln_interp_num_outputs(it); k++) {
                kiln_npy e;
                snprintf(path, sizeof path, "%s/%s/expected_%s_%d.npy", gdir, name, dn, k);
                if (kiln_npy_read(path, &e, err, sizeof err) != KILN_OK) {
                    CHECK_MSG(0, "%s", err);
                    n = -1;
                    break;
                }
                kiln_tensor_info oi;
                const int ok = kiln_interp_output(it, k, &oi) == KILN_OK && oi.bytes == e.bytes &&
                               oi.dtype == e.dtype && memcmp(oi.data, e.data, e.bytes) == 0;
                CHECK_MSG(ok, "%s output %d (%s dialect) differs from the oracle", name, k, dn);
                kiln_npy_free(&e);
                n++;
            }
        } else {
            CHECK_MSG(0, "%s (%s): invoke: %s", name, dn, kiln_interp_error(it));
        }
    } else {
        CHECK_MSG(0, "%s (%s): cannot create / input mismatch: %s", name, dn, err);
    }
    kiln_interp_destroy(it);
    kiln_npy_free(&in);
    kiln_model_destroy(m);
    return n;
}

/* The operator of a quantized single-op model that is neither QUANTIZE nor DEQUANTIZE. */
static const kiln__op_def *main_op(const kiln_model *m) {
    const kiln__subgraph_def *sg = &m->subgraphs[0];
    for (int32_t i = 0; i < sg->n_ops; i++)
        if (sg->ops[i].builtin != KILN_OP_QUANTIZE && sg->ops[i].builtin != KILN_OP_DEQUANTIZE)
            return &sg->ops[i];
    return NULL;
}

static int same_q(const kiln__tensor_def *a, const kiln__tensor_def *b) {
    return a->q.n == 1 && b->q.n == 1 && a->q.scale[0] == b->q.scale[0] &&
           a->q.zero_point[0] == b->q.zero_point[0];
}

/* TFLite's rules on the written model: the op is integer, its version is op_version.cc's, and
 * ops with restrict_same_input_output_scale share the input's parameters. */
static void check_rules(const char *name, const void *buf, size_t len, int i16) {
    kiln_model *m = NULL;
    char err[256];
    if (kiln_model_load(buf, len, name, NULL, &m, err, sizeof err) != KILN_OK) return;
    const kiln__subgraph_def *sg = &m->subgraphs[0];
    const kiln__op_def *op = main_op(m);
    CHECK_MSG(op != NULL, "%s: no operator", name);
    if (!op) {
        kiln_model_destroy(m);
        return;
    }
    const int32_t qt = i16 ? KILN_INT16 : KILN_INT8;
    const int32_t b = op->builtin;
    const int32_t xi = b == KILN_OP_SPLIT ? 1 : (b == KILN_OP_SELECT_V2 ? 1 : 0);
    const kiln__tensor_def *x = &sg->tensors[op->inputs[xi]];
    const kiln__tensor_def *y = &sg->tensors[op->outputs[0]];
    const int int_out = b == KILN_OP_ARG_MAX || b == KILN_OP_ARG_MIN;
    /* ARG_MAX / ARG_MIN have no int16 form in TFLite's table: they stay float in int16x8 */
    const int32_t want_in = int_out && i16 ? KILN_FLOAT32 : qt;
    CHECK_MSG(x->type == want_in, "%s: input is %s", name, kiln_dtype_name(x->type));
    if (!int_out) CHECK_MSG(y->type == qt, "%s: output is %s", name, kiln_dtype_name(y->type));
    int32_t want = -1;
    switch (b) {
    case KILN_OP_SPLIT:
        want = i16 ? 4 : 2;
        break;
    case KILN_OP_SPLIT_V:
    case KILN_OP_DEPTH_TO_SPACE:
    case KILN_OP_SPACE_TO_DEPTH:
    case KILN_OP_ARG_MIN:
    case KILN_OP_ARG_MAX:
        want = i16 ? 1 : 2;
        break;
    case KILN_OP_PACK:
    case KILN_OP_PADV2:
    case KILN_OP_MIRROR_PAD:
        want = i16 ? 3 : 2;
        break;
    case KILN_OP_UNPACK:
    case KILN_OP_GATHER:
        want = i16 ? 4 : 2;
        break;
    case KILN_OP_TILE:
    case KILN_OP_REVERSE_V2:
        want = i16 ? 1 : 3;
        break;
    case KILN_OP_LEAKY_RELU:
        want = i16 ? 2 : 1;
        break;
    case KILN_OP_BROADCAST_TO:
        want = 3;
        break;
    case KILN_OP_SELECT_V2:
        want = 1;
        break;
    default:
        break;
    }
    if (want > 0)
        CHECK_MSG(op->version == want, "%s: version %d, want %d", name, op->version, want);
    /* shared parameters */
    switch (b) {
    case KILN_OP_SPLIT:
    case KILN_OP_SPLIT_V:
    case KILN_OP_UNPACK:
        CHECK_MSG(op->n_out >= 2, "%s: outputs", name);
        for (int32_t k = 0; k < op->n_out; k++)
            CHECK_MSG(same_q(x, &sg->tensors[op->outputs[k]]), "%s: output %d params", name, k);
        break;
    case KILN_OP_PACK:
    case KILN_OP_SELECT_V2:
        for (int32_t k = b == KILN_OP_SELECT_V2 ? 1 : 0; k < op->n_in; k++) {
            const kiln__tensor_def *t = &sg->tensors[op->inputs[k]];
            CHECK_MSG(same_q(t, y), "%s: input %d params", name, k);
            /* the constant operand (the last one) is quantized directly, no QUANTIZE op */
            if (k == op->n_in - 1) CHECK_MSG(t->data != NULL, "%s: input %d const", name, k);
        }
        break;
    case KILN_OP_PADV2: {
        const kiln__tensor_def *v = &sg->tensors[op->inputs[2]];
        CHECK_MSG(same_q(x, y) && same_q(v, y) && v->data != NULL && v->type == qt,
                  "%s: pad value params", name);
        break;
    }
    case KILN_OP_TILE:
    case KILN_OP_REVERSE_V2:
    case KILN_OP_BROADCAST_TO:
    case KILN_OP_DEPTH_TO_SPACE:
    case KILN_OP_MIRROR_PAD:
    case KILN_OP_GATHER:
        CHECK_MSG(same_q(x, y), "%s: output params differ from input", name);
        break;
    default:
        break;
    }
    kiln_model_destroy(m);
}

static void test_goldens(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cases.txt", gdir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    char line[1024];
    int ncases = 0, nlit = 0, ntflm = 0;
    while (fgets(line, sizeof line, f)) {
        char name[256], src[512], mode[32];
        if (line[0] == '#' || sscanf(line, "%255s %511s %31s", name, src, mode) != 3) continue;
        ncases++;
        const int i16 = strcmp(mode, "int16x8") == 0;
        size_t slen = 0, glen = 0;
        snprintf(path, sizeof path, "%s/%s", gdir, src);
        void *sbuf = test_read_file(path, &slen);
        snprintf(path, sizeof path, "%s/%s/model.tflite", gdir, name);
        void *gbuf = test_read_file(path, &glen);
        CHECK_MSG(sbuf && gbuf, "%s: missing files", name);
        if (sbuf && gbuf) {
            uint8_t *q = NULL;
            size_t qlen = 0;
            char err[512];
            const kiln_status s = quantize(sbuf, slen, i16 ? KILN_QUANT_INT16X8 : KILN_QUANT_INT8,
                                           &q, &qlen, err, sizeof err);
            CHECK_MSG(s == KILN_OK, "%s: %s", name, err);
            CHECK_MSG(s != KILN_OK || (qlen == glen && memcmp(q, gbuf, glen) == 0),
                      "%s: a fresh quantization differs from the committed model", name);
            free(q);
            const int a = run_compare(name, gbuf, glen, KILN_ARITH_LITERT);
            const int t = run_compare(name, gbuf, glen, KILN_ARITH_TFLM);
            CHECK_MSG(a > 0, "%s: no official-runtime golden", name);
            nlit += a > 0 ? a : 0;
            ntflm += t > 0 ? t : 0;
            check_rules(name, gbuf, glen, i16);
        }
        free(sbuf);
        free(gbuf);
    }
    fclose(f);
    printf("quant_ops: %d cases, %d outputs vs the official runtime, %d vs TFLite Micro\n", ncases,
           nlit, ntflm);
    CHECK(ncases >= 40);
    CHECK(ntflm >= 30);
}

/* TFLite's property table has no int16 form of these: int16x8 refuses them with the op named
 * (one line, no output), int8 takes them. */
static void test_refusals(void) {
    static const char *const srcs[] = {"qo_space_to_depth", "qo_depth_to_space", "qo_resize_nn",
                                       "qo_hard_swish", "qo_sum"};
    static const char *const opn[] = {"SPACE_TO_DEPTH", "DEPTH_TO_SPACE", "RESIZE_NEAREST_NEIGHBOR",
                                      "HARD_SWISH", "SUM"};
    for (size_t i = 0; i < sizeof srcs / sizeof srcs[0]; i++) {
        char path[4096], err[512];
        snprintf(path, sizeof path, "%s/opsrc/%s.tflite", gdir, srcs[i]);
        size_t len = 0;
        void *buf = test_read_file(path, &len);
        CHECK_MSG(buf != NULL, "%s", path);
        if (!buf) continue;
        uint8_t *q = (uint8_t *)1;
        size_t qlen = 0;
        CHECK(quantize(buf, len, KILN_QUANT_INT16X8, &q, &qlen, err, sizeof err) ==
              KILN_ERR_UNSUPPORTED);
        CHECK(q == NULL && qlen == 0);
        CHECK_MSG(strstr(err, opn[i]) != NULL && strchr(err, '\n') == NULL, "%s", err);
        CHECK(quantize(buf, len, KILN_QUANT_INT8, &q, &qlen, err, sizeof err) == KILN_OK);
        free(q);
        free(buf);
    }
}

int main(void) {
    const char *t = getenv("KILN_TESTS");
    snprintf(gdir, sizeof gdir, "%s/golden/quant_ops", t ? t : "tests");
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/cases.txt", gdir);
    struct stat st;
    if (stat(probe, &st) != 0) TEST_SKIP("tests/golden/quant_ops not found (set KILN_TESTS)");
    test_goldens();
    test_refusals();
    return test_done();
}
