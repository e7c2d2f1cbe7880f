/* test_kernels_elementwise.c: edge cases and error paths of the float/int elementwise and reduce
 * kernels (src/kernels/ref/elementwise.c, reduce.c) and the broadcast helper, through the real
 * interpreter on single-op models built with tfl_writer. The random-shape comparisons with the
 * official runtime are the goldens (test_golden_ops ew_ red_). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/tfl_writer.h"
#include "kernels/ops.h"
#include "kernels/ref/act.h"
#include "kernels/ref/broadcast.h"
#include "kiln/kiln_rt.h"
#include "test.h"

/* ------------------------------------------------------------------------------------------ */
/* A one-op model: tensors (inputs, constants, outputs), run once. */

typedef struct tdesc {
    int kind; /* 0 input, 1 const, 2 output */
    int32_t type;
    int32_t rank;
    int32_t dims[6];
    const void *data; /* inputs and constants */
    float scale;      /* > 0: per-tensor quantization */
    int64_t zp;
} tdesc;

enum { IN, CONST, OUT };

typedef struct run_result {
    kiln_status create, invoke;
    char err[512];
    void *out[2];
    int32_t out_rank[2];
    int32_t out_dims[2][8];
} run_result;

static size_t tbytes(const tdesc *t) {
    size_t n = 1;
    for (int32_t i = 0; i < t->rank; i++)
        n *= (size_t)t->dims[i];
    return n * kiln_dtype_size(t->type);
}

static void run_op(int32_t op, int32_t version, int32_t opts_type, const kiln_tfl_opt *opts,
                   int32_t n_opts, const tdesc *ts, int nt, run_result *r) {
    memset(r, 0, sizeof *r);
    kiln_tfl_writer *w = NULL;
    kiln_tfl_writer_create(&w);
    const int32_t sg = kiln_tfl_add_subgraph(w, "main");
    int32_t idx[8], ins[8], outs[8], op_in[8], n_in = 0, n_out = 0, n_opin = 0;
    for (int i = 0; i < nt; i++) {
        const tdesc *t = &ts[i];
        int32_t buf = 0;
        if (t->kind == CONST) buf = kiln_tfl_add_buffer(w, t->data, tbytes(t));
        float sc = t->scale;
        int64_t zp = t->zp;
        kiln_tfl_tensor d = {.name = NULL,
                             .type = t->type,
                             .rank = t->rank,
                             .shape = t->dims,
                             .buffer = buf,
                             .num_quant = t->scale > 0 ? 1 : 0,
                             .scale = &sc,
                             .zero_point = &zp};
        idx[i] = kiln_tfl_add_tensor(w, sg, &d);
        if (t->kind == IN) ins[n_in++] = idx[i];
        if (t->kind == OUT)
            outs[n_out++] = idx[i];
        else
            op_in[n_opin++] = idx[i];
    }
    const int32_t oc = kiln_tfl_add_opcode(w, op, version, NULL);
    kiln_tfl_op o = {.opcode = oc,
                     .inputs = op_in,
                     .n_inputs = n_opin,
                     .outputs = outs,
                     .n_outputs = n_out,
                     .opts_type = opts_type,
                     .opts = opts,
                     .n_opts = n_opts};
    kiln_tfl_add_operator(w, sg, &o);
    kiln_tfl_set_subgraph_io(w, sg, ins, n_in, outs, n_out);
    uint8_t *bytes = NULL;
    size_t len = 0;
    kiln_status s = kiln_tfl_writer_finish(w, &bytes, &len);
    kiln_tfl_writer_destroy(w);
    if (s) {
        r->create = s;
        snprintf(r->err, sizeof r->err, "writer failed");
        return;
    }
    void *buf = aligned_alloc(64, (len + 63) & ~(size_t)63);
    memcpy(buf, bytes, len);
    free(bytes);
    kiln_model *m = NULL;
    kiln_interp *it = NULL;
    r->create = kiln_model_load(buf, len, "t.tflite", NULL, &m, r->err, sizeof r->err);
    if (!r->create) {
        kiln_interp_options io;
        kiln_interp_options_init(&io);
        r->create = kiln_interp_create(m, &io, &it, r->err, sizeof r->err);
    }
    if (!r->create) {
        int k = 0;
        for (int i = 0; i < nt; i++) {
            if (ts[i].kind != IN) continue;
            kiln_tensor_info ti;
            kiln_interp_input(it, k++, &ti);
            memcpy(ti.data, ts[i].data, ti.bytes);
        }
        r->invoke = kiln_interp_invoke(it);
        if (r->invoke) snprintf(r->err, sizeof r->err, "%s", kiln_interp_error(it));
        for (int i = 0; i < n_out && i < 2; i++) {
            kiln_tensor_info ti;
            kiln_interp_output(it, i, &ti);
            r->out[i] = malloc(ti.bytes + 8);
            memcpy(r->out[i], ti.data, ti.bytes);
            r->out_rank[i] = ti.rank;
            memcpy(r->out_dims[i], ti.dims, sizeof r->out_dims[i]);
        }
    }
    kiln_interp_destroy(it);
    kiln_model_destroy(m);
    free(buf);
}

static void free_result(run_result *r) {
    free(r->out[0]);
    free(r->out[1]);
}

#define CHECK_ERR(r, status, text)                                                                 \
    CHECK_MSG((r).create == (status) && strstr((r).err, text), "status %d, message '%s'",          \
              (int)(r).create, (r).err)

static kiln_tfl_opt opt_i(int32_t id, int32_t type, int64_t v) {
    kiln_tfl_opt o = {.id = id, .type = type, .i = v};
    return o;
}
static kiln_tfl_opt opt_f(int32_t id, float v) {
    kiln_tfl_opt o = {.id = id, .type = KILN_TFL_OPT_F32, .f = v};
    return o;
}

/* ------------------------------------------------------------------------------------------ */
/* broadcast.h against a naive index computation */

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void test_broadcast_helper(void) {
    for (int iter = 0; iter < 500; iter++) {
        int32_t r[3], d[3][6], rank = 1 + (int32_t)rnd(6), full[6];
        for (int i = 0; i < rank; i++)
            full[i] = 1 + (int32_t)rnd(4);
        for (int k = 0; k < 3; k++) {
            r[k] = (int32_t)rnd((uint32_t)rank + 1);
            for (int i = 0; i < r[k]; i++)
                d[k][i] = rnd(3) == 0 ? 1 : full[rank - r[k] + i];
        }
        const int32_t *dp[3] = {d[0], d[1], d[2]};
        int32_t orank = 0, od[KILN_MAX_RANK] = {0};
        CHECK(kiln_bcast_shape(3, r, dp, &orank, od) == 0);
        kiln_bcast b;
        kiln_bcast_init(&b, 3, r, dp, orank, od);
        int64_t n = 1;
        for (int i = 0; i < orank; i++)
            n *= od[i];
        CHECK_EQ_INT(b.n, n);
        kiln_bcast_it it;
        kiln_bcast_begin(&it);
        int bad = 0;
        for (int64_t row = 0; row < b.rows; row++) {
            for (int64_t j = 0; j < b.len; j++) {
                const int64_t flat = row * b.len + j;
                /* naive: unravel flat over od, then ravel into each operand */
                int32_t idxv[6];
                int64_t rem = flat;
                for (int i = orank - 1; i >= 0; i--) {
                    idxv[i] = (int32_t)(rem % od[i]);
                    rem /= od[i];
                }
                for (int k = 0; k < 3; k++) {
                    int64_t off = 0;
                    for (int i = 0; i < r[k]; i++) {
                        const int32_t oi = idxv[orank - r[k] + i];
                        off = off * d[k][i] + (d[k][i] == 1 ? 0 : oi);
                    }
                    if (it.off[k] + j * b.stride[k][b.rank - 1] != off) bad++;
                }
            }
            kiln_bcast_next(&b, &it);
        }
        CHECK_MSG(bad == 0, "iteration %d: %d wrong offsets", iter, bad);
    }
    int32_t ra = 2, rb = 2, o, od[8];
    const int32_t da[2] = {2, 3}, db[2] = {4, 3}, dz[2] = {0, 1}, d1[2] = {1, 3};
    CHECK(kiln_bcast_shape2(ra, da, rb, db, &o, od) == -1);
    CHECK(kiln_bcast_shape2(ra, dz, rb, d1, &o, od) == 0 && od[0] == 0 && od[1] == 3);
}

static void test_act_helpers(void) {
    float lo, hi;
    kiln_act_range_f32(KILN_ACT_RELU6, &lo, &hi);
    CHECK(lo == 0.0f && hi == 6.0f);
    kiln_act_range_f32(KILN_ACT_TANH, &lo, &hi);
    CHECK(lo == -FLT_MAX && hi == FLT_MAX);
    CHECK(isnan(kiln_act_clamp_f32(NAN, 0.0f, 6.0f)));
    CHECK(kiln_act_apply_f32(KILN_ACT_SIGN_BIT, -0.0f) == 1.0f);
    CHECK(kiln_act_apply_f32(KILN_ACT_SIGN_BIT, 2.0f) == 0.0f);
    CHECK(kiln_act_apply_f32(KILN_ACT_RELU, NAN) == 0.0f);
    CHECK(!kiln_act_valid(6) && kiln_act_valid(5));
}

/* ------------------------------------------------------------------------------------------ */

static void test_errors(void) {
    run_result r;
    const float f6[6] = {0};
    const float f8[8] = {0};
    /* shapes that do not broadcast */
    tdesc t1[] = {{IN, KILN_FLOAT32, 2, {2, 3}, f6, 0, 0},
                  {IN, KILN_FLOAT32, 2, {4, 2}, f8, 0, 0},
                  {OUT, KILN_FLOAT32, 2, {2, 3}, NULL, 0, 0}};
    run_op(KILN_OP_ADD, 1, KILN_OPTS_AddOptions, NULL, 0, t1, 3, &r);
    CHECK_ERR(r, KILN_ERR_SHAPE, "not broadcastable");
    free_result(&r);
    /* invalid fused activation */
    tdesc t2[] = {{IN, KILN_FLOAT32, 1, {6}, f6, 0, 0},
                  {IN, KILN_FLOAT32, 1, {6}, f6, 0, 0},
                  {OUT, KILN_FLOAT32, 1, {6}, NULL, 0, 0}};
    kiln_tfl_opt act = opt_i(0, KILN_TFL_OPT_I8, 9);
    run_op(KILN_OP_MUL, 1, KILN_OPTS_MulOptions, &act, 1, t2, 3, &r);
    CHECK_ERR(r, KILN_ERR_MODEL, "fused activation 9");
    free_result(&r);
    /* mixed input types */
    const int32_t i6[6] = {1, 2, 3, 4, 5, 6};
    tdesc t3[] = {{IN, KILN_FLOAT32, 1, {6}, f6, 0, 0},
                  {IN, KILN_INT32, 1, {6}, i6, 0, 0},
                  {OUT, KILN_FLOAT32, 1, {6}, NULL, 0, 0}};
    run_op(KILN_OP_SUB, 1, KILN_OPTS_SubOptions, NULL, 0, t3, 3, &r);
    CHECK_ERR(r, KILN_ERR_SHAPE, "different types");
    free_result(&r);
    /* reduction axis out of range, and an axis that is not a constant */
    const int32_t ax3[1] = {3}, axm4[1] = {-4};
    tdesc t4[] = {{IN, KILN_FLOAT32, 3, {1, 2, 3}, f6, 0, 0},
                  {CONST, KILN_INT32, 1, {1}, ax3, 0, 0},
                  {OUT, KILN_FLOAT32, 2, {1, 2}, NULL, 0, 0}};
    run_op(KILN_OP_SUM, 1, KILN_OPTS_ReducerOptions, NULL, 0, t4, 3, &r);
    CHECK_ERR(r, KILN_ERR_SHAPE, "axis 3 is out of range");
    free_result(&r);
    t4[1].data = axm4;
    run_op(KILN_OP_REDUCE_MAX, 1, KILN_OPTS_ReducerOptions, NULL, 0, t4, 3, &r);
    CHECK_ERR(r, KILN_ERR_SHAPE, "axis -4 is out of range");
    free_result(&r);
    t4[1].kind = IN;
    t4[1].data = ax3;
    run_op(KILN_OP_MEAN, 1, KILN_OPTS_ReducerOptions, NULL, 0, t4, 3, &r);
    CHECK_ERR(r, KILN_ERR_UNSUPPORTED, "axis must be a constant");
    free_result(&r);
    /* ARG_MAX axis out of range */
    tdesc t5[] = {{IN, KILN_FLOAT32, 2, {2, 3}, f6, 0, 0},
                  {CONST, KILN_INT32, 0, {0}, ax3, 0, 0},
                  {OUT, KILN_INT32, 1, {2}, NULL, 0, 0}};
    run_op(KILN_OP_ARG_MAX, 1, KILN_OPTS_ArgMaxOptions, NULL, 0, t5, 3, &r);
    CHECK_ERR(r, KILN_ERR_SHAPE, "out of range");
    free_result(&r);
    /* TOPK_V2 with k larger than the last dimension */
    const int32_t k9[1] = {9};
    tdesc t6[] = {{IN, KILN_FLOAT32, 2, {2, 3}, f6, 0, 0},
                  {CONST, KILN_INT32, 0, {0}, k9, 0, 0},
                  {OUT, KILN_FLOAT32, 2, {2, 3}, NULL, 0, 0},
                  {OUT, KILN_INT32, 2, {2, 3}, NULL, 0, 0}};
    run_op(KILN_OP_TOPK_V2, 1, 0, NULL, 0, t6, 4, &r);
    CHECK_ERR(r, KILN_ERR_SHAPE, "k = 9 is out of range");
    free_result(&r);
    /* SELECT (v1) with a condition of the wrong rank-1 size */
    const uint8_t c2[2] = {1, 0};
    tdesc t7[] = {{IN, KILN_BOOL, 1, {2}, c2, 0, 0},
                  {IN, KILN_FLOAT32, 2, {3, 2}, f6, 0, 0},
                  {IN, KILN_FLOAT32, 2, {3, 2}, f6, 0, 0},
                  {OUT, KILN_FLOAT32, 2, {3, 2}, NULL, 0, 0}};
    run_op(KILN_OP_SELECT, 1, 0, NULL, 0, t7, 4, &r);
    CHECK_ERR(r, KILN_ERR_SHAPE, "condition must have");
    free_result(&r);
    /* int32 division by zero is a clean invoke error, not a crash */
    const int32_t den[6] = {1, 2, 0, 4, 5, 6};
    tdesc t8[] = {{IN, KILN_INT32, 1, {6}, i6, 0, 0},
                  {IN, KILN_INT32, 1, {6}, den, 0, 0},
                  {OUT, KILN_INT32, 1, {6}, NULL, 0, 0}};
    const int32_t divops[3] = {KILN_OP_DIV, KILN_OP_FLOOR_DIV, KILN_OP_FLOOR_MOD};
    for (int i = 0; i < 3; i++) {
        run_op(divops[i], 1, 0, NULL, 0, t8, 3, &r);
        CHECK_MSG(r.create == KILN_OK && r.invoke == KILN_ERR_RUNTIME &&
                      strstr(r.err, "division by zero"),
                  "op %d: %d/%d '%s'", (int)divops[i], (int)r.create, (int)r.invoke, r.err);
        free_result(&r);
    }
    /* quantized comparison with a scale TFLite cannot handle (it aborts) */
    const int8_t q6[6] = {0};
    tdesc tq[] = {{IN, KILN_INT8, 1, {6}, q6, 1.5f, 0},
                  {IN, KILN_INT8, 1, {6}, q6, 0.5f, 0},
                  {OUT, KILN_BOOL, 1, {6}, NULL, 0, 0}};
    run_op(KILN_OP_LESS, 1, 0, NULL, 0, tq, 3, &r);
    CHECK_ERR(r, KILN_ERR_MODEL, "not in (0, 1)");
    free_result(&r);
    /* LOGISTIC on int32 is not one of ours */
    tdesc t9[] = {{IN, KILN_INT32, 1, {6}, i6, 0, 0}, {OUT, KILN_INT32, 1, {6}, NULL, 0, 0}};
    run_op(KILN_OP_LOGISTIC, 1, 0, NULL, 0, t9, 2, &r);
    CHECK(r.create != KILN_OK);
    free_result(&r);
}

static void test_int_edges(void) {
    run_result r;
    /* wrapping add and INT32_MIN edge cases must run clean under UBSan */
    const int32_t a[4] = {INT32_MAX, INT32_MIN, -7, 7}, b[4] = {1, -1, 2, -2};
    tdesc t[] = {{IN, KILN_INT32, 1, {4}, a, 0, 0},
                 {IN, KILN_INT32, 1, {4}, b, 0, 0},
                 {OUT, KILN_INT32, 1, {4}, NULL, 0, 0}};
    run_op(KILN_OP_ADD, 1, KILN_OPTS_AddOptions, NULL, 0, t, 3, &r);
    CHECK(r.create == KILN_OK && r.invoke == KILN_OK);
    if (r.out[0]) {
        const int32_t *o = r.out[0];
        CHECK(o[0] == INT32_MIN && o[1] == INT32_MAX && o[2] == -5 && o[3] == 5);
    }
    free_result(&r);
    run_op(KILN_OP_FLOOR_DIV, 1, 0, NULL, 0, t, 3, &r);
    if (r.out[0]) {
        const int32_t *o = r.out[0];
        CHECK(o[0] == INT32_MAX && o[2] == -4 && o[3] == -4);
    }
    free_result(&r);
    run_op(KILN_OP_FLOOR_MOD, 1, 0, NULL, 0, t, 3, &r);
    if (r.out[0]) {
        const int32_t *o = r.out[0];
        CHECK(o[0] == 0 && o[1] == 0 && o[2] == 1 && o[3] == -1);
    }
    free_result(&r);
    tdesc tu[] = {{IN, KILN_INT32, 1, {4}, a, 0, 0}, {OUT, KILN_INT32, 1, {4}, NULL, 0, 0}};
    run_op(KILN_OP_ABS, 1, 0, NULL, 0, tu, 2, &r);
    if (r.out[0]) CHECK(((int32_t *)r.out[0])[1] == INT32_MIN && ((int32_t *)r.out[0])[2] == 7);
    free_result(&r);
    run_op(KILN_OP_NEG, 1, 0, NULL, 0, tu, 2, &r);
    if (r.out[0])
        CHECK(((int32_t *)r.out[0])[1] == INT32_MIN && ((int32_t *)r.out[0])[0] == -INT32_MAX);
    free_result(&r);
    /* int32 SUM wraps; int32 MEAN divides the 64-bit sum, truncating */
    const int32_t big[3] = {INT32_MAX, INT32_MAX, -3}, ax0[1] = {0};
    tdesc ts[] = {{IN, KILN_INT32, 1, {3}, big, 0, 0},
                  {CONST, KILN_INT32, 1, {1}, ax0, 0, 0},
                  {OUT, KILN_INT32, 0, {0}, NULL, 0, 0}};
    run_op(KILN_OP_MEAN, 1, KILN_OPTS_ReducerOptions, NULL, 0, ts, 3, &r);
    if (r.out[0]) CHECK_EQ_INT(((int32_t *)r.out[0])[0], (2ll * INT32_MAX - 3) / 3);
    free_result(&r);
    run_op(KILN_OP_SUM, 1, KILN_OPTS_ReducerOptions, NULL, 0, ts, 3, &r);
    if (r.out[0]) CHECK_EQ_INT(((int32_t *)r.out[0])[0], (int32_t)((uint32_t)INT32_MAX * 2u - 3u));
    free_result(&r);
    /* int32 POW: negative exponent is an invoke error */
    const int32_t base[2] = {3, -2}, ex[2] = {4, -1};
    tdesc tp[] = {{IN, KILN_INT32, 1, {2}, base, 0, 0},
                  {IN, KILN_INT32, 1, {2}, ex, 0, 0},
                  {OUT, KILN_INT32, 1, {2}, NULL, 0, 0}};
    run_op(KILN_OP_POW, 1, 0, NULL, 0, tp, 3, &r);
    CHECK(r.create == KILN_OK && r.invoke == KILN_ERR_RUNTIME);
    free_result(&r);
}

static void test_float_edges(void) {
    run_result r;
    /* ROUND: halves to even */
    const float x[8] = {-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f, 1e9f + 0.0f, -3.2f};
    const float want[8] = {-2.0f, -2.0f, -0.0f, 0.0f, 2.0f, 2.0f, 1e9f, -3.0f};
    tdesc t[] = {{IN, KILN_FLOAT32, 1, {8}, x, 0, 0}, {OUT, KILN_FLOAT32, 1, {8}, NULL, 0, 0}};
    run_op(KILN_OP_ROUND, 1, 0, NULL, 0, t, 2, &r);
    if (r.out[0])
        for (int i = 0; i < 8; i++)
            CHECK_NEAR(((float *)r.out[0])[i], want[i], 0);
    free_result(&r);
    /* CAST float -> int32: truncation toward zero; NaN and out of range saturate */
    const float cf[6] = {-1.7f, 2.9f, NAN, 3e9f, -3e9f, -0.0f};
    const int32_t ci[6] = {-1, 2, 0, INT32_MAX, INT32_MIN, 0};
    tdesc tc[] = {{IN, KILN_FLOAT32, 1, {6}, cf, 0, 0}, {OUT, KILN_INT32, 1, {6}, NULL, 0, 0}};
    run_op(KILN_OP_CAST, 1, 0, NULL, 0, tc, 2, &r);
    if (r.out[0])
        for (int i = 0; i < 6; i++)
            CHECK_EQ_INT(((int32_t *)r.out[0])[i], ci[i]);
    free_result(&r);
    tc[1].type = KILN_BOOL;
    run_op(KILN_OP_CAST, 1, 0, NULL, 0, tc, 2, &r);
    if (r.out[0]) {
        const uint8_t *o = r.out[0];
        CHECK(o[0] == 1 && o[2] == 1 && o[5] == 0);
    }
    free_result(&r);
    /* SOFTMAX of huge logits: max subtraction keeps it finite */
    const float s[4] = {1000.0f, 1000.0f, -1000.0f, 999.0f};
    tdesc tsm[] = {{IN, KILN_FLOAT32, 2, {1, 4}, s, 0, 0},
                   {OUT, KILN_FLOAT32, 2, {1, 4}, NULL, 0, 0}};
    kiln_tfl_opt beta = opt_f(0, 1.0f);
    run_op(KILN_OP_SOFTMAX, 1, KILN_OPTS_SoftmaxOptions, &beta, 1, tsm, 2, &r);
    if (r.out[0]) {
        const float *o = r.out[0];
        const float e = expf(-1.0f), z = 2.0f + e;
        CHECK_NEAR(o[0], 1.0f / z, 1e-6);
        CHECK_NEAR(o[2], 0.0f, 0);
        CHECK_NEAR(o[3], e / z, 1e-6);
    }
    free_result(&r);
    /* L2_NORMALIZATION: an all-zero row stays zero (epsilon), not NaN */
    const float z4[4] = {0, 0, 0, 0};
    tdesc tl[] = {{IN, KILN_FLOAT32, 2, {1, 4}, z4, 0, 0},
                  {OUT, KILN_FLOAT32, 2, {1, 4}, NULL, 0, 0}};
    run_op(KILN_OP_L2_NORMALIZATION, 1, 0, NULL, 0, tl, 2, &r);
    if (r.out[0])
        for (int i = 0; i < 4; i++)
            CHECK(((float *)r.out[0])[i] == 0.0f);
    free_result(&r);
    /* TOPK ties keep the lower index first; ARG_MAX ties pick the first */
    const float tk[6] = {1, 3, 3, 2, 3, 0};
    const int32_t k3[1] = {3}, ax[1] = {-1};
    tdesc tt[] = {{IN, KILN_FLOAT32, 1, {6}, tk, 0, 0},
                  {CONST, KILN_INT32, 0, {0}, k3, 0, 0},
                  {OUT, KILN_FLOAT32, 1, {3}, NULL, 0, 0},
                  {OUT, KILN_INT32, 1, {3}, NULL, 0, 0}};
    run_op(KILN_OP_TOPK_V2, 1, 0, NULL, 0, tt, 4, &r);
    if (r.out[1]) {
        const int32_t *o = r.out[1];
        CHECK(o[0] == 1 && o[1] == 2 && o[2] == 4);
    }
    free_result(&r);
    tdesc ta[] = {{IN, KILN_FLOAT32, 1, {6}, tk, 0, 0},
                  {CONST, KILN_INT32, 1, {1}, ax, 0, 0},
                  {OUT, KILN_INT64, 0, {0}, NULL, 0, 0}};
    run_op(KILN_OP_ARG_MAX, 1, 0, NULL, 0, ta, 3, &r);
    if (r.out[0]) CHECK_EQ_INT(((int64_t *)r.out[0])[0], 1);
    free_result(&r);
    /* quantized EQUAL compares real values: 10 * 0.25 == 5 * 0.5 */
    const int8_t qa[3] = {10, 20, 31}, qb[3] = {5, 10, 15};
    tdesc tq[] = {{IN, KILN_INT8, 1, {3}, qa, 0.25f, 0},
                  {IN, KILN_INT8, 1, {3}, qb, 0.5f, 0},
                  {OUT, KILN_BOOL, 1, {3}, NULL, 0, 0}};
    run_op(KILN_OP_EQUAL, 1, 0, NULL, 0, tq, 3, &r);
    if (r.out[0]) {
        const uint8_t *o = r.out[0];
        CHECK(o[0] == 1 && o[1] == 1 && o[2] == 0);
    }
    free_result(&r);
    /* ADD with RELU6 and broadcasting to 6-D */
    float a6[8], b6[3];
    for (int i = 0; i < 8; i++)
        a6[i] = (float)i - 2.0f;
    for (int i = 0; i < 3; i++)
        b6[i] = (float)i * 2.0f;
    tdesc tb[] = {{IN, KILN_FLOAT32, 6, {2, 1, 2, 1, 2, 1}, a6, 0, 0},
                  {IN, KILN_FLOAT32, 1, {3}, b6, 0, 0},
                  {OUT, KILN_FLOAT32, 6, {2, 1, 2, 1, 2, 3}, NULL, 0, 0}};
    kiln_tfl_opt relu6 = opt_i(0, KILN_TFL_OPT_I8, KILN_ACT_RELU6);
    run_op(KILN_OP_ADD, 1, KILN_OPTS_AddOptions, &relu6, 1, tb, 3, &r);
    CHECK(r.create == KILN_OK && r.out_rank[0] == 6);
    if (r.out[0]) {
        const float *o = r.out[0];
        int bad = 0;
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 3; j++) {
                float v = a6[i] + b6[j];
                v = v < 0 ? 0 : (v > 6 ? 6 : v);
                if (o[i * 3 + j] != v) bad++;
            }
        CHECK_EQ_INT(bad, 0);
    }
    free_result(&r);
}

int main(void) {
    test_broadcast_helper();
    test_act_helpers();
    test_errors();
    test_int_edges();
    test_float_edges();
    return test_done();
}
