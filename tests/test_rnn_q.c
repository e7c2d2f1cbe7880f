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
#include <sys/stat.h>

#include "convert/tfl_writer.h"
#include "kernels/ops.h"
#include "kiln/kiln_rt.h"
#include "kiln/npy.h"
#include "test.h"

#define STEPS 4

/* mulberry32: a small seeded generator for the case weights. */
static uint32_t rng_next(uint32_t *s) {
    uint32_t z = (*s += 0x6D2B79F5u);
    z = (z ^ (z >> 15)) * (z | 1u);
    z ^= z + (z ^ (z >> 7)) * (z | 61u);
    return z ^ (z >> 14);
}
static float rng_f(uint32_t *s, float lo, float hi) {
    return lo + (hi - lo) * (float)(rng_next(s) >> 8) / 16777216.0f;
}
static int32_t rng_i(uint32_t *s, int32_t lo, int32_t hi) {
    return lo + (int32_t)(rng_next(s) % (uint32_t)(hi - lo + 1));
}

typedef struct builder {
    kiln_tfl_writer *w;
    uint32_t seed;
} builder;

static int32_t add_t(builder *b, const char *name, int32_t type, int32_t rank, const int32_t *dims,
                     const void *data, size_t bytes, float scale, int64_t zp, int variable) {
    kiln_tfl_tensor t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.type = type;
    t.rank = rank;
    t.shape = dims;
    t.buffer = data ? kiln_tfl_add_buffer(b->w, data, bytes) : 0;
    if (scale > 0.0f) {
        t.num_quant = 1;
        t.scale = &scale;
        t.zero_point = &zp;
    }
    t.is_variable = (uint8_t)variable;
    return kiln_tfl_add_tensor(b->w, 0, &t);
}

/* A constant integer tensor (int8/int16/int32) of random stored values in [lo, hi]. */
static int32_t const_q(builder *b, const char *name, int32_t type, int32_t rank,
                       const int32_t *dims, int32_t lo, int32_t hi, float scale) {
    int64_t n = 1;
    for (int32_t i = 0; i < rank; i++)
        n *= dims[i];
    const size_t es =
        type == KILN_INT8 ? 1 : (type == KILN_INT16 ? 2 : (type == KILN_INT32 ? 4 : 8));
    uint8_t *v = (uint8_t *)malloc((size_t)n * es);
    for (int64_t i = 0; i < n; i++) {
        const int32_t x = rng_i(&b->seed, lo, hi);
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
        const float swi = rng_f(&b->seed, 0.5f, 1.0f) * c->w_max / 127.0f;
        const float swr = rng_f(&b->seed, 0.5f, 1.0f) * c->w_max / 127.0f;
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
        const float sp = rng_f(&b->seed, 0.5f, 1.0f) * c->w_max / 127.0f;
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
        const float s = c->layer_norm ? rng_f(&b->seed, 1.0f, 4.0f) / 4096.0f : 1.0f / 4096.0f;
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
    c.time_major = rng_i(&s, 0, 1);
    c.n_time = rng_i(&s, 1, 4);
    c.n_batch = rng_i(&s, 1, 3);
    c.n_input = rng_i(&s, 1, 9);
    c.n_cell = rng_i(&s, 1, 9);
    const int plain = rng_i(&s, 0, 1);
    if (!plain) {
        c.cifg = rng_i(&s, 0, 1);
        c.peephole = rng_i(&s, 0, 1);
        c.projection = rng_i(&s, 0, 1);
        c.layer_norm = rng_i(&s, 0, 1);
    }
    c.n_output = c.n_cell;
    if (c.projection) {
        c.n_output = rng_i(&s, 1, c.peephole ? c.n_cell : c.n_cell + 3);
        c.proj_bias = rng_i(&s, 0, 1);
        c.proj_clip = rng_i(&s, 0, 1) ? rng_f(&s, 0.1f, 0.9f) : 0.0f;
    }
    c.cell_clip = rng_i(&s, 0, 2) == 0 ? rng_f(&s, 0.3f, 4.0f) : 0.0f;
    c.cell_pow = rng_i(&s, -14, -10);
    c.in_zp = rng_i(&s, -30, 30);
    c.out_zp = rng_i(&s, -12, 12);
    c.hidden_zp = rng_i(&s, 0, 2) == 0 ? rng_i(&s, -6, 6) : 0;
    c.in_scale = 1.0f / (float)rng_i(&s, 12, 160);
    c.w_max = rng_f(&s, 0.3f, 1.6f);
    return c;
}

/* TFLite Micro runs only the plain LSTM (no CIFG, peephole, projection, layer norm). */
static int tflm_runs(const lcase *c) {
    return !c->cifg && !c->peephole && !c->projection && !c->layer_norm;
}

static uint8_t *build_case(const lcase *c, size_t *len) {
    builder b;
    b.seed = 4321;
    for (const char *p = c->name; *p; p++)
        b.seed = b.seed * 31u + (uint8_t)*p;
    if (kiln_tfl_writer_create(&b.w) != KILN_OK) return NULL;
    kiln_tfl_add_subgraph(b.w, "main");
    build_lstm(&b, c);
    uint8_t *bytes = NULL;
    if (kiln_tfl_writer_finish(b.w, &bytes, len) != KILN_OK) {
        fprintf(stderr, "%s: %s\n", c->name, kiln_tfl_writer_error(b.w));
        bytes = NULL;
    }
    kiln_tfl_writer_destroy(b.w);
    return bytes;
}

static void make_input(const lcase *c, const kiln_tensor_info *ti, void *dst) {
    uint32_t s = 77;
    for (const char *p = c->name; *p; p++)
        s = s * 131u + (uint8_t)*p;
    int64_t n = 1;
    for (int32_t i = 0; i < ti->rank; i++)
        n *= ti->dims[i];
    for (int64_t i = 0; i < n; i++) {
        if (is_testdata(c))
            ((int8_t *)dst)[i] = (int8_t)lroundf(TD_IN[i % 12] / TD_IN_SCALE);
        else if (ti->dtype == KILN_INT16)
            ((int16_t *)dst)[i] = (int16_t)rng_i(&s, -32768, 32767);
        else
            ((int8_t *)dst)[i] = (int8_t)rng_i(&s, -128, 127);
    }
}

static int write_case(const char *dir, const lcase *c) {
    char path[4096], err[256];
    size_t len = 0;
    uint8_t *bytes = build_case(c, &len);
    if (!bytes) return 1;
    snprintf(path, sizeof path, "%s/%s", dir, c->name);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/model.tflite", dir, c->name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, len, f) != len) {
        fprintf(stderr, "cannot write %s\n", path);
        if (f) fclose(f);
        free(bytes);
        return 1;
    }
    fclose(f);
    /* Markers for regen.sh: which oracles run the case. */
    snprintf(path, sizeof path, "%s/%s/tflm", dir, c->name);
    if (tflm_runs(c)) {
        f = fopen(path, "w");
        if (f) fclose(f);
    } else {
        remove(path);
    }
    snprintf(path, sizeof path, "%s/%s/no_litert", dir, c->name);
    if (c->act16) {
        f = fopen(path, "w");
        if (f) fclose(f);
    } else {
        remove(path);
    }
    kiln_model *m = NULL;
    kiln_interp *it = NULL;
    int rc = 1;
    err[0] = 0;
    if (kiln_model_load(bytes, len, c->name, NULL, &m, err, sizeof err) == KILN_OK &&
        kiln_interp_create(m, NULL, &it, err, sizeof err) == KILN_OK) {
        kiln_tensor_info ti;
        kiln_interp_input(it, 0, &ti);
        void *buf = malloc(ti.bytes);
        make_input(c, &ti, buf);
        int64_t dims[KILN_MAX_RANK];
        for (int32_t i = 0; i < ti.rank; i++)
            dims[i] = ti.dims[i];
        snprintf(path, sizeof path, "%s/%s/input.npy", dir, c->name);
        rc = kiln_npy_write(path, ti.dtype, ti.rank, dims, buf, err, sizeof err) != KILN_OK;
        free(buf);
    }
    if (rc) fprintf(stderr, "%s: %s\n", c->name, err);
    kiln_interp_destroy(it);
    kiln_model_destroy(m);
    free(bytes);
    return rc;
}

/* 1 if the output equals PATH exactly, 0 if not (why says how), -1 if PATH is absent. */
static int compare(const char *path, const kiln_tensor_info *o, char *why, size_t whylen,
                   int *maxdiff) {
    kiln_npy e;
    char err[256];
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fclose(f);
    if (kiln_npy_read(path, &e, err, sizeof err) != KILN_OK) {
        snprintf(why, whylen, "%s", err);
        return 0;
    }
    int ok = e.dtype == o->dtype && e.bytes == o->bytes;
    if (!ok) snprintf(why, whylen, "dtype/size differ (%zu vs %zu bytes)", e.bytes, o->bytes);
    if (ok) {
        const int w16 = o->dtype == KILN_INT16;
        const size_t n = w16 ? o->bytes / 2 : o->bytes;
        int diff = 0, first = -1, mx = 0, fa = 0, fb = 0;
        for (size_t i = 0; i < n; i++) {
            const int a = w16 ? ((const int16_t *)e.data)[i] : ((const int8_t *)e.data)[i];
            const int b = w16 ? ((const int16_t *)o->data)[i] : ((const int8_t *)o->data)[i];
            if (a != b) {
                if (first < 0) first = (int)i, fa = a, fb = b;
                diff++;
                mx = abs(a - b) > mx ? abs(a - b) : mx;
            }
        }
        ok = diff == 0;
        *maxdiff = mx;
        if (!ok)
            snprintf(why, whylen, "%d of %zu elements differ, max %d (first at %d: %d vs %d)", diff,
                     n, mx, first, fa, fb);
    }
    kiln_npy_free(&e);
    return ok;
}

/* STEPS invokes, then a reset and one more, in one dialect against the goldens. */
static void run_case(const char *gdir, const lcase *c, kiln_arith arith, const char *prefix,
                     int *nchecked) {
    char path[4096], err[256], why[256];
    size_t len = 0;
    uint8_t *bytes = build_case(c, &len);
    CHECK_MSG(bytes != NULL, "%s: model not built", c->name);
    if (!bytes) return;
    snprintf(path, sizeof path, "%s/%s/model.tflite", gdir, c->name);
    const int same = test_file_equals(path, bytes, len);
    CHECK_MSG(same,
              "%s: committed model differs from the built one: run "
              "tests/golden/rnn_q/regen.sh",
              c->name);
    kiln_model *m = NULL;
    kiln_interp *it = NULL;
    kiln_interp_options opt;
    kiln_interp_options_init(&opt);
    opt.arith = arith;
    err[0] = 0;
    kiln_status s = kiln_model_load(bytes, len, c->name, NULL, &m, err, sizeof err);
    if (s == KILN_OK) s = kiln_interp_create(m, &opt, &it, err, sizeof err);
    CHECK_MSG(s == KILN_OK, "%s: %s", c->name, err);
    if (s == KILN_OK) {
        kiln_tensor_info ti, to;
        kiln_interp_input(it, 0, &ti);
        void *x = malloc(ti.bytes);
        make_input(c, &ti, x);
        for (int step = 1; step <= STEPS + 1; step++) {
            if (step == STEPS + 1) kiln_interp_reset(it);
            kiln_interp_input(it, 0, &ti);
            memcpy(ti.data, x, ti.bytes);
            s = kiln_interp_invoke(it);
            CHECK_MSG(s == KILN_OK, "%s: invoke %d: %s", c->name, step, kiln_interp_error(it));
            kiln_interp_output(it, 0, &to);
            const int k = step == STEPS + 1 ? 1 : step;
            if (is_testdata(c) && arith == KILN_ARITH_TFLM && k == 1 && to.bytes == 12) {
                /* TFLite Micro's own expected floats for this LSTM (its test tolerance is
                 * loose: the int8 model is an approximation of the float one). */
                double worst = 0.0;
                for (int i = 0; i < 12; i++) {
                    const double fv = TD_OUT_SCALE * (((const int8_t *)to.data)[i] + 21);
                    worst = fabs(fv - TD_OUT[i]) > worst ? fabs(fv - TD_OUT[i]) : worst;
                }
                CHECK_MSG(worst <= 0.02,
                          "%s: dequantized output off by %g from TFLite Micro's "
                          "float goldens",
                          c->name, worst);
            }
            snprintf(path, sizeof path, "%s/%s/%s_%d.npy", gdir, c->name, prefix, k);
            int mx = 0;
            const int r = compare(path, &to, why, sizeof why, &mx);
            if (r < 0) continue;
            (*nchecked)++;
            CHECK_MSG(r == 1, "%s: %s (%s dialect) step %d%s: %s", c->name, prefix,
                      arith == KILN_ARITH_TFLM ? "tflm" : "litert", k,
                      step == STEPS + 1 ? " (after reset)" : "", why);
        }
        free(x);
    }
    kiln_interp_destroy(it);
    kiln_model_destroy(m);
    free(bytes);
}

/* Bad parameters give a clear error. */
static void test_errors(void) {
    char err[256];
    size_t len = 0;
    lcase bad = CASES[0];
    bad.cell_pow = -7; /* TFLite's integer kernel needs a cell scale of at most 2^-9 */
    bad.cifg = 1;
    uint8_t *bytes = build_case(&bad, &len);
    kiln_model *m = NULL;
    kiln_interp *it = NULL;
    CHECK(kiln_model_load(bytes, len, "bad", NULL, &m, err, sizeof err) == KILN_OK);
    err[0] = 0;
    kiln_interp_options opt;
    kiln_interp_options_init(&opt);
    opt.arith = KILN_ARITH_LITERT;
    CHECK(kiln_interp_create(m, &opt, &it, err, sizeof err) != KILN_OK);
    CHECK_MSG(strstr(err, "cell_state scale 2^-7 is outside") != NULL, "got: %s", err);
    kiln_interp_destroy(it);
    kiln_model_destroy(m);
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
    const char *tests = getenv("KILN_TESTS");
    char gdir[4096];
    snprintf(gdir, sizeof gdir, "%s/golden/rnn_q", tests ? tests : "tests");
    const char *only = argc > 1 ? argv[1] : NULL;
    int total = 0;
    for (int i = 0; i < NCASES; i++) {
        const lcase c = get_case(i);
        if (only && strncmp(c.name, only, strlen(only)) != 0) continue;
        int nl = 0, nt = 0;
        if (c.act16) {
            /* TFLite has no int16-activation LSTM kernel: the litert dialect refuses it. */
            size_t len = 0;
            char err[256] = "";
            uint8_t *bytes = build_case(&c, &len);
            kiln_model *m = NULL;
            kiln_interp *it = NULL;
            kiln_interp_options opt;
            kiln_interp_options_init(&opt);
            opt.arith = KILN_ARITH_LITERT;
            CHECK(kiln_model_load(bytes, len, c.name, NULL, &m, err, sizeof err) == KILN_OK);
            CHECK(kiln_interp_create(m, &opt, &it, err, sizeof err) != KILN_OK);
            CHECK_MSG(strstr(err, "TFLite's kernel has none") != NULL, "got: %s", err);
            kiln_interp_destroy(it);
            kiln_model_destroy(m);
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
