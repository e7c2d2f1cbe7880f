/* test_rnn_q.c: the full-integer UNIDIRECTIONAL_SEQUENCE_LSTM (int8 activations and weights,
 * int16 cell state) over a sequence of invokes and a reset, in both integer dialects, compared
 * at every step with tests/golden/rnn_q/ (made by regen.sh there: TFLite's kernel through
 * tflite-run --runtime tfjs-tflite, and TFLite Micro through tflm-run).
 * `test_rnn_q --write DIR` writes each case's model.tflite and input.npy (used by regen.sh). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/tfl_writer.h"
#include "kernels/ops.h"
#include "kiln/kiln_rt.h"
#include "stateful.h"

#define STEPS 4

typedef struct builder {
    kiln_tfl_writer *w;
    uint32_t seed;
} builder;

static int32_t add_t(builder *b, const char *name, int32_t type, int32_t rank, const int32_t *dims,
                     const void *data, size_t bytes, float scale, int64_t zp, int variable) {
    return stateful_tensor(b->w, 0, name, type, rank, dims, data, bytes,
                           scale > 0.0f ? &scale : NULL, &zp, variable);
}

/* A constant integer tensor (int8/int16/int32) of random stored values in [lo, hi]. */
static int32_t const_q(builder *b, const char *name, int32_t type, int32_t rank,
                       const int32_t *dims, int32_t lo, int32_t hi, float scale) {
    const int64_t n = test_numel(rank, dims);
    const size_t es =
        type == KILN_INT8 ? 1 : (type == KILN_INT16 ? 2 : (type == KILN_INT32 ? 4 : 8));
    uint8_t *v = (uint8_t *)malloc((size_t)n * es);
    for (int64_t i = 0; i < n; i++) {
        const int32_t x = test_rng_i(&b->seed, lo, hi);
        if (es == 1) {
            int8_t y = (int8_t)x;
            memcpy(v + i, &y, 1);
        } else if (es == 2) {
            int16_t y = (int16_t)x;
            memcpy(v + 2 * i, &y, 2);
        } else if (es == 4) {
            memcpy(v + 4 * i, &x, 4);
        } else {
            const int64_t y = x;
            memcpy(v + 8 * i, &y, 8);
        }
    }
    int32_t t = add_t(b, name, type, rank, dims, v, (size_t)n * es, scale, 0, 0);
    free(v);
    return t;
}

typedef struct lcase {
    const char *name;
    int32_t time_major, n_time, n_batch, n_input, n_cell, n_output;
    int32_t cifg, peephole, projection, proj_bias, layer_norm;
    float cell_clip, proj_clip;
    int32_t cell_pow; /* cell state scale 2^cell_pow */
    int32_t in_zp, out_zp, hidden_zp;
    float in_scale, w_max; /* input scale; weights' real range */
    int32_t act16;         /* int16 activations and state, int64 biases (TFLite Micro only) */
} lcase;

/* The case holding TFLite Micro's 2x3x2x2 int8 test LSTM (lstm_test_data.cc). */
static int is_testdata(const lcase *c) {
    return strcmp(c->name, "rnnq_tflm_testdata") == 0;
}

/* TFLite Micro's kernels/testdata/lstm_test_data.cc: float weights per gate (input, forget,
 * cell, output; the same matrix for the input and the recurrent weights) and biases, their
 * int8 scales, and the float outputs after 3 steps from zero state on its input. */
static const float TD_W[4][4] = {
    {10, 10, 20, 20}, {-10, -10, -20, -20}, {1, 1, 1, 1}, {1, 1, 1, 1}};
static const float TD_B[4][2] = {{-1, -2}, {1, 2}, {0, 0}, {0, 0}};
static const float TD_WS[4] = {0.15748031496062992f, 0.15748031496062992f, 0.007874015748031496f,
                               0.007874015748031496f};
static const float TD_BS[4] = {0.0012351397251814111f, 0.0012351397251814111f,
                               6.175698625907056e-5f, 6.175698625907056e-5f};
static const float TD_IN[12] = {0.2f,   0.3f,  0.2f,  0.3f,  0.2f,  0.3f,
                                -0.98f, 0.62f, 0.01f, 0.99f, 0.49f, -0.32f};
static const float TD_OUT[12] = {0.26455893f, 0.26870455f, 0.47935803f,     0.47937014f,
                                 0.58013272f, 0.58013278f, -1.41184672e-3f, -1.43329117e-5f,
                                 0.46887168f, 0.46891281f, 0.50054074f,     0.50054148f};
#define TD_IN_SCALE 0.00784313725490196f
#define TD_OUT_SCALE 0.004705882165580988f

/* round(v / scale), half away from zero, into a constant tensor. */
static int32_t const_fixed(builder *b, const char *name, int32_t type, int32_t rank,
                           const int32_t *dims, const float *v, int32_t n, float scale) {
    int32_t q32[4];
    int8_t q8[4];
    for (int32_t i = 0; i < n; i++) {
        q32[i] = (int32_t)lroundf(v[i] / scale);
        q8[i] = (int8_t)(q32[i] > 127 ? 127 : (q32[i] < -127 ? -127 : q32[i]));
    }
    if (type == KILN_INT8) return add_t(b, name, type, rank, dims, q8, (size_t)n, scale, 0, 0);
    return add_t(b, name, type, rank, dims, q32, 4 * (size_t)n, scale, 0, 0);
}

static void build_lstm(builder *b, const lcase *c) {
    const int32_t ni = c->n_input, nc = c->n_cell, no = c->n_output, nb = c->n_batch;
    const int32_t xd[3] = {c->time_major ? c->n_time : nb, c->time_major ? nb : c->n_time, ni};
    const int32_t yd[3] = {xd[0], xd[1], no};
    const int32_t wx[2] = {nc, ni}, wh[2] = {nc, no}, v[1] = {nc}, pw[2] = {no, nc}, pb[1] = {no};
    const int32_t hs[2] = {nb, no}, cs[2] = {nb, nc}, one[1] = {0}; /* TFLite Micro needs 0 bytes */
    const float sx = c->in_scale;
    const float sy = is_testdata(c) ? TD_OUT_SCALE : (c->act16 ? 1.0f / 32768.0f : 1.0f / 128.0f);
    const float s_hidden = 1.0f / 128.0f;
    const int32_t at = c->act16 ? KILN_INT16 : KILN_INT8, bt = c->act16 ? KILN_INT64 : KILN_INT32;
    int32_t in[24];
    for (int i = 0; i < 24; i++)
        in[i] = -1;
    in[0] = add_t(b, "x", at, 3, xd, NULL, 0, sx, c->in_zp, 0);
    static const char *const gate[4] = {"input", "forget", "cell", "output"};
    char name[64];
    for (int g = 0; g < 4 && is_testdata(c); g++) {
        snprintf(name, sizeof name, "input_to_%s_w", gate[g]);
        in[1 + g] = const_fixed(b, name, KILN_INT8, 2, wx, TD_W[g], 4, TD_WS[g]);
        snprintf(name, sizeof name, "recurrent_to_%s_w", gate[g]);
        in[5 + g] = const_fixed(b, name, KILN_INT8, 2, wh, TD_W[g], 4, TD_WS[g]);
        snprintf(name, sizeof name, "%s_gate_bias", gate[g]);
        in[12 + g] = const_fixed(b, name, KILN_INT32, 1, v, TD_B[g], 2, TD_BS[g]);
    }
    for (int g = 0; g < 4 && !is_testdata(c); g++) {
        if (g == 0 && c->cifg) continue;
        const float swi = test_rng_f(&b->seed, 0.5f, 1.0f) * c->w_max / 127.0f;
        const float swr = test_rng_f(&b->seed, 0.5f, 1.0f) * c->w_max / 127.0f;
        snprintf(name, sizeof name, "input_to_%s_w", gate[g]);
        in[1 + g] = const_q(b, name, KILN_INT8, 2, wx, -127, 127, swi);
        snprintf(name, sizeof name, "recurrent_to_%s_w", gate[g]);
        in[5 + g] = const_q(b, name, KILN_INT8, 2, wh, -127, 127, swr);
        if (c->peephole && g != 2) {
            snprintf(name, sizeof name, "cell_to_%s_w", gate[g]);
            in[9 + (g == 3 ? 2 : g)] =
                const_q(b, name, KILN_INT16, 1, v, -32767, 32767, 0.5f / 32767.0f);
        }
        snprintf(name, sizeof name, "%s_gate_bias", gate[g]);
        if (c->layer_norm) {
            const float sl = 1.5f / 32767.0f;
            /* the converter's scale for a layer-norm bias: coefficient scale / 1024 */
            const float sb = sl / 1024.0f;
            const int32_t lim = (int32_t)(0.5f / sb);
            in[12 + g] = const_q(b, name, KILN_INT32, 1, v, -lim, lim, sb);
            snprintf(name, sizeof name, "%s_ln", gate[g]);
            in[20 + g] = const_q(b, name, KILN_INT16, 1, v, 10000, 32767, sl);
        } else {
            const float sb = sx * swi;
            const int32_t lim = (int32_t)(0.5f / sb);
            in[12 + g] = const_q(b, name, bt, 1, v, -lim, lim, sb);
        }
    }
    if (c->projection) {
        const float sp = test_rng_f(&b->seed, 0.5f, 1.0f) * c->w_max / 127.0f;
        in[16] = const_q(b, "projection_w", KILN_INT8, 2, pw, -127, 127, sp);
        if (c->proj_bias) {
            const float sb = s_hidden * sp;
            const int32_t lim = (int32_t)(0.2f / sb);
            in[17] = const_q(b, "projection_b", KILN_INT32, 1, pb, -lim, lim, sb);
        }
    }
    in[18] = add_t(b, "output_state", at, 2, hs, NULL, 0, sy, c->out_zp, 1);
    in[19] = add_t(b, "cell_state", KILN_INT16, 2, cs, NULL, 0, ldexpf(1.0f, c->cell_pow), 0, 1);
    int32_t im[5];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "intermediate_%d", i);
        const float s = c->layer_norm ? test_rng_f(&b->seed, 1.0f, 4.0f) / 4096.0f : 1.0f / 4096.0f;
        im[i] = add_t(b, name, KILN_INT16, 1, one, NULL, 0, s, 0, 0);
    }
    im[4] = add_t(b, "intermediate_4", KILN_INT8, 1, one, NULL, 0, s_hidden, c->hidden_zp, 0);
    const int32_t y = add_t(b, "y", at, 3, yd, NULL, 0, sy, c->out_zp, 0);
    const kiln_tfl_opt opts[4] = {
        kiln_tfl_opt_int(0, KILN_TFL_OPT_I8, 4), kiln_tfl_opt_float(1, c->cell_clip),
        kiln_tfl_opt_float(2, c->proj_clip), kiln_tfl_opt_int(3, KILN_TFL_OPT_I8, c->time_major)};
    kiln_tfl_op op;
    memset(&op, 0, sizeof op);
    op.opcode = kiln_tfl_add_opcode(b->w, KILN_OP_UNIDIRECTIONAL_SEQUENCE_LSTM, 1, NULL);
    op.inputs = in;
    op.n_inputs = 24;
    op.outputs = &y;
    op.n_outputs = 1;
    op.intermediates = im;
    op.n_intermediates = 5;
    op.opts_type = KILN_OPTS_UnidirectionalSequenceLSTMOptions;
    op.opts = opts;
    op.n_opts = 4;
    kiln_tfl_add_operator(b->w, 0, &op);
    kiln_tfl_set_subgraph_io(b->w, 0, &in[0], 1, &y, 1);
}

/* time_major T B ni nc no | cifg peep proj pbias ln | cell_clip proj_clip | cell_pow
 * in_zp out_zp hidden_zp | in_scale w_max */
static const lcase CASES[] = {
    {"rnnq_plain_bm", 0,    3, 2, 5, 4, 4, 0, 0, 0, 0, 0, 0.0f, 0.0f, -11, -3, 2, 0,
     1.0f / 64,       0.6f, 0},
    {"rnnq_plain_tm", 1,    4, 3, 3, 6, 6, 0, 0, 0, 0, 0, 0.0f, 0.0f, -12, 5, -4, 0,
     1.0f / 32,       0.5f, 0},
    {"rnnq_plain_b1", 0,    5, 1, 8, 8, 8, 0, 0, 0, 0, 0, 0.0f, 0.0f, -10, 0, 0, 0,
     1.0f / 16,       1.0f, 0},
    {"rnnq_plain_hzp", 0,    2, 3, 4, 5, 5, 0, 0, 0, 0, 0, 0.0f, 0.0f, -11, 7, -1, 3,
     1.0f / 50,        0.7f, 0},
    {"rnnq_plain_clip", 1,    3, 2, 6, 4, 4, 0, 0, 0, 0, 0, 0.7f, 0.0f, -11, -10, 1, 0,
     1.0f / 20,         1.2f, 0},
    {"rnnq_cifg", 0, 3, 2, 4, 5, 5, 1, 0, 0, 0, 0, 0.0f, 0.0f, -11, 2, 0, 0, 1.0f / 64, 0.8f, 0},
    {"rnnq_proj_bias", 1,    3, 2, 4, 6, 3, 0, 0, 1, 1, 0, 0.0f, 0.0f, -11, -1, 3, -2,
     1.0f / 64,        0.7f, 0},
    {"rnnq_proj_clip", 0,    3, 2, 5, 4, 3, 0, 0, 1, 0, 0, 1.0f, 0.25f, -12, 0, -5, 0,
     1.0f / 40,        1.0f, 0},
    {"rnnq_layernorm", 0,    3, 2, 4, 4, 4, 0, 0, 0, 0, 1, 0.0f, 0.0f, -11, 1, 0, 0,
     1.0f / 64,        0.7f, 0},
    {"rnnq_cifg_ln_proj", 1,    3, 2, 5, 8, 4, 1, 0, 1, 1, 1, 0.0f, 0.0f, -11, -2, 1, 0,
     1.0f / 64,           0.7f, 0},
    {"rnnq_peephole", 0,    3, 2, 4, 5, 5, 0, 1, 0, 0, 0, 0.0f, 0.0f, -11, 0, 2, 0,
     1.0f / 64,       0.7f, 0},
    {"rnnq_peep_cifg_proj",
     1,
     2,
     2,
     3,
     6,
     4,
     1,
     1,
     1,
     0,
     0,
     0.0f,
     0.0f,
     -12,
     3,
     0,
     0,
     1.0f / 64,
     0.7f,
     0},
    {"rnnq_large_plain", 0,    6, 2, 40, 24, 24, 0, 0, 0, 0, 0, 0.0f, 0.0f, -11, -7, 3, 0,
     1.0f / 64,          0.4f, 0},
    {"rnnq_large_peep_ln_proj",
     1,
     5,
     2,
     33,
     20,
     12,
     0,
     1,
     1,
     1,
     1,
     3.0f,
     0.6f,
     -11,
     4,
     -2,
     1,
     1.0f / 64,
     0.4f,
     0},
    {"rnnq_tflm_testdata", 0,    3, 2, 2, 2, 2, 0, 0, 0, 0, 0, 6.0f, 3.0f, -12, 0, -21, 0,
     TD_IN_SCALE,          0.0f, 0},
    {"rnnq_i16_bm", 0,    3,   2, 5, 4, 4,           0,    0, 0, 0, 0,
     0.0f,          0.0f, -11, 0, 0, 0, 1.0f / 8192, 0.6f, 1},
    {"rnnq_i16_tm_clip", 1,    3, 3, 4, 6, 6, 0, 0, 0, 0, 0, 0.8f, 0.0f, -12, 0, 0, 0,
     1.0f / 4096,        1.0f, 1},
};
#define NFIXED (int)(sizeof CASES / sizeof CASES[0])
#define NRAND 48
#define NCASES (NFIXED + NRAND)

/* Case i: the fixed list, then NRAND random ones (shapes, scales, zero points, clips and
 * variants drawn from a seed fixed by the index). */
static lcase get_case(int i) {
    if (i < NFIXED) return CASES[i];
    static char names[NRAND][32];
    const int r = i - NFIXED;
    uint32_t s = 1000u + (uint32_t)r * 7919u;
    lcase c;
    memset(&c, 0, sizeof c);
    snprintf(names[r], sizeof names[r], "rnnq_rand_%02d", r);
    c.name = names[r];
    c.time_major = test_rng_i(&s, 0, 1);
    c.n_time = test_rng_i(&s, 1, 4);
    c.n_batch = test_rng_i(&s, 1, 3);
    c.n_input = test_rng_i(&s, 1, 9);
    c.n_cell = test_rng_i(&s, 1, 9);
    const int plain = test_rng_i(&s, 0, 1);
    if (!plain) {
        c.cifg = test_rng_i(&s, 0, 1);
        c.peephole = test_rng_i(&s, 0, 1);
        c.projection = test_rng_i(&s, 0, 1);
        c.layer_norm = test_rng_i(&s, 0, 1);
    }
    c.n_output = c.n_cell;
    if (c.projection) {
        c.n_output = test_rng_i(&s, 1, c.peephole ? c.n_cell : c.n_cell + 3);
        c.proj_bias = test_rng_i(&s, 0, 1);
        c.proj_clip = test_rng_i(&s, 0, 1) ? test_rng_f(&s, 0.1f, 0.9f) : 0.0f;
    }
    c.cell_clip = test_rng_i(&s, 0, 2) == 0 ? test_rng_f(&s, 0.3f, 4.0f) : 0.0f;
    c.cell_pow = test_rng_i(&s, -14, -10);
    c.in_zp = test_rng_i(&s, -30, 30);
    c.out_zp = test_rng_i(&s, -12, 12);
    c.hidden_zp = test_rng_i(&s, 0, 2) == 0 ? test_rng_i(&s, -6, 6) : 0;
    c.in_scale = 1.0f / (float)test_rng_i(&s, 12, 160);
    c.w_max = test_rng_f(&s, 0.3f, 1.6f);
    return c;
}

/* TFLite Micro runs only the plain LSTM (no CIFG, peephole, projection, layer norm). */
static int tflm_runs(const lcase *c) {
    return !c->cifg && !c->peephole && !c->projection && !c->layer_norm;
}

static uint8_t *build_case(const lcase *c, size_t *len) {
    builder b;
    b.seed = test_seed(4321, 31, c->name);
    if (kiln_tfl_writer_create(&b.w) != KILN_OK) return NULL;
    kiln_tfl_add_subgraph(b.w, "main");
    build_lstm(&b, c);
    return stateful_finish(b.w, c->name, len);
}

static void make_input(const void *cv, int32_t k, const kiln_tensor_info *ti, void *dst) {
    const lcase *c = (const lcase *)cv;
    (void)k; /* one input */
    uint32_t s = test_seed(77, 131, c->name);
    const int64_t n = test_numel(ti->rank, ti->dims);
    for (int64_t i = 0; i < n; i++) {
        if (is_testdata(c))
            ((int8_t *)dst)[i] = (int8_t)lroundf(TD_IN[i % 12] / TD_IN_SCALE);
        else if (ti->dtype == KILN_INT16)
            ((int16_t *)dst)[i] = (int16_t)test_rng_i(&s, -32768, 32767);
        else
            ((int8_t *)dst)[i] = (int8_t)test_rng_i(&s, -128, 127);
    }
}

/* An empty marker file at DIR/NAME/FILE if on, none if not. */
static void marker(const char *dir, const char *name, const char *file, int on) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", dir, name, file);
    if (on) {
        FILE *f = fopen(path, "w");
        if (f) fclose(f);
    } else {
        remove(path);
    }
}

static int write_case(const char *dir, const lcase *c) {
    size_t len = 0;
    uint8_t *bytes = build_case(c, &len);
    if (!bytes) return 1;
    const int rc = stateful_write_case(dir, c->name, bytes, len, 0, make_input, c);
    /* Markers for regen.sh: which oracles run the case. */
    marker(dir, c->name, "tflm", tflm_runs(c));
    marker(dir, c->name, "no_litert", c->act16);
    free(bytes);
    return rc;
}

/* TFLite Micro's own expected floats for its test LSTM, after its first step (its test
 * tolerance is loose: the int8 model is an approximation of the float one). */
static void check_testdata(const stateful_run *r, kiln_interp *it, int k) {
    kiln_tensor_info to;
    kiln_interp_output(it, 0, &to);
    if (!is_testdata((const lcase *)r->c) || r->arith != KILN_ARITH_TFLM || k != 1 ||
        to.bytes != 12)
        return;
    double worst = 0.0;
    for (int i = 0; i < 12; i++) {
        const double fv = TD_OUT_SCALE * (((const int8_t *)to.data)[i] + 21);
        worst = fabs(fv - TD_OUT[i]) > worst ? fabs(fv - TD_OUT[i]) : worst;
    }
    CHECK_MSG(worst <= 0.02,
              "%s: dequantized output off by %g from TFLite Micro's "
              "float goldens",
              r->name, worst);
}

/* STEPS invokes, then a reset and one more, in one dialect against the goldens (exact). */
static void run_case(const char *gdir, const lcase *c, kiln_arith arith, const char *prefix,
                     int *nchecked) {
    size_t len = 0;
    uint8_t *bytes = build_case(c, &len);
    const stateful_run r = {.name = c->name,
                            .gdir = gdir,
                            .regen = "tests/golden/rnn_q/regen.sh",
                            .prefix = prefix,
                            .label =
                                arith == KILN_ARITH_TFLM ? " (tflm dialect)" : " (litert dialect)",
                            .arith = arith,
                            .steps = STEPS,
                            .after_reset = 1,
                            .make_input = make_input,
                            .c = c,
                            .invoked = check_testdata};
    *nchecked += stateful_run_case(&r, bytes, len);
    free(bytes);
}

/* Bad parameters give a clear error. */
static void test_errors(void) {
    size_t len = 0;
    lcase bad = CASES[0];
    bad.cell_pow = -7; /* TFLite's integer kernel needs a cell scale of at most 2^-9 */
    bad.cifg = 1;
    uint8_t *bytes = build_case(&bad, &len);
    kiln_interp_options opt;
    kiln_interp_options_init(&opt);
    opt.arith = KILN_ARITH_LITERT;
    stateful_expect_create_error(bytes, len, "bad", &opt, "cell_state scale 2^-7 is outside");
    free(bytes);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write") == 0) {
        int rc = 0;
        for (int i = 0; i < NCASES; i++) {
            const lcase c = get_case(i);
            rc |= write_case(argv[2], &c);
        }
        return rc;
    }
    char gdir[4096];
    stateful_gdir(gdir, sizeof gdir, "rnn_q");
    int total = 0;
    for (int i = 0; i < NCASES; i++) {
        const lcase c = get_case(i);
        if (!stateful_selected(c.name, argc > 1 ? argv[1] : NULL)) continue;
        int nl = 0, nt = 0;
        if (c.act16) {
            /* TFLite has no int16-activation LSTM kernel: the litert dialect refuses it. */
            size_t len = 0;
            uint8_t *bytes = build_case(&c, &len);
            kiln_interp_options opt;
            kiln_interp_options_init(&opt);
            opt.arith = KILN_ARITH_LITERT;
            stateful_expect_create_error(bytes, len, c.name, &opt, "TFLite's kernel has none");
            free(bytes);
            nl = -1;
        } else {
            run_case(gdir, &c, KILN_ARITH_LITERT, "expected_litert", &nl);
        }
        /* The reference dialect is TFLite Micro's kernel where TFLite Micro runs the model,
         * and TFLite's kernel for the variants TFLite Micro rejects. */
        run_case(gdir, &c, KILN_ARITH_TFLM, tflm_runs(&c) ? "expected_tflm" : "expected_litert",
                 &nt);
        CHECK_MSG(nl != 0 && nt > 0, "%s: goldens missing in %s: run tests/golden/rnn_q/regen.sh",
                  c.name, gdir);
        total += (nl > 0 ? nl : 0) + nt;
    }
    printf("%d steps compared (%d cases; int16-activation cases: reference dialect only)\n", total,
           NCASES);
    test_errors();
    return test_done();
}
