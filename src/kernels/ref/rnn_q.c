/* rnn_q.c: full-integer UNIDIRECTIONAL_SEQUENCE_LSTM (int8 activations and weights, int16 cell
 * state, int32 bias: TFLite's "8x8_16" LSTM). Two dialects, as TFLite has two kernels:
 * - KILN_ARITH_TFLM follows TFLite Micro's unidirectional_sequence_lstm (lstm_eval_common.cc,
 *   lstm_eval.h): gate pre-activations fixed at Q3.12, FULLY_CONNECTED + MUL reference ops, the
 *   int16 LUT sigmoid/tanh; intermediates are ignored. TFLite Micro runs only the plain LSTM;
 *   for CIFG, peephole, projection and layer norm this dialect uses TFLite's kernel below.
 *   TFLite Micro's int16-activation variant (int16 input/state, int64 bias) is here too.
 * - KILN_ARITH_LITERT follows TFLite's builtin kernel (unidirectional_sequence_lstm.cc,
 *   lstm_eval.cc EvalInteger8x8_16, portable_tensor_utils): effective scales in float from the
 *   5 intermediates, zero points folded into the biases, gemmlowp int16 fixed-point sigmoid and
 *   tanh, shift-based cell update.
 * The states are variable tensors the interpreter keeps across invokes. */
#include <math.h>
#include <string.h>

#include "kernels/fixedpoint.h"
#include "kernels/kernel.h"
#include "kernels/ops.h"
#include "kernels/quant.h"
#include "kernels/ref/tables.h"

enum {
    Q_IN = 0,
    Q_I2G = 1, /* input_to_{input,forget,cell,output}_weights: 1..4 */
    Q_R2G = 5, /* recurrent_to_*: 5..8 */
    Q_C2I = 9, /* peepholes (cell_to_input, _forget, _output): 9..11 */
    Q_BG = 12, /* gate biases 12..15 */
    Q_PW = 16, /* projection weights */
    Q_PB = 17, /* projection bias */
    Q_HS = 18, /* output state (variable) */
    Q_CS = 19, /* cell state (variable) */
    Q_LN = 20, /* layer norm coefficients 20..23 */
    Q_NIN = 24
};

typedef struct qmul {
    int32_t m;
    int32_t s;
} qmul;

typedef struct lstmq {
    int32_t n_time, n_batch, n_input, n_cell, n_output;
    uint8_t time_major, cifg, peephole, layer_norm, projection;
    uint8_t tflm;  /* TFLite Micro's algorithm (plain LSTM in the reference dialect) */
    uint8_t act16; /* int16 activations and state, int64 bias (TFLite Micro only) */
    int32_t hs_zp, hidden_zp;
    int32_t cell_scale; /* log2 of the cell state scale */
    int32_t cell_clip, proj_clip;
    uint8_t tflm_clip; /* TFLite Micro clips whenever the float cell_clip is > 0 */
    qmul in_m[4], rec_m[4], peep_m[4], ln_m[4];
    int32_t var_guard[4];
    int32_t *in_bias[4], *rec_bias[4]; /* bias and zero-point terms folded in (per cell) */
    int32_t *proj_bias;
    int32_t in_zp; /* TFLite Micro's FULLY_CONNECTED subtracts the zero points per product */
    qmul hidden_m, proj_m;
    qmul mul_fc, mul_ic, mul_out; /* TFLite Micro's MUL parameters */
    int32_t scratch;
} lstmq;

/* ---- arithmetic helpers -------------------------------------------------------------------- */

static int16_t wrap16(int32_t x) {
    const uint32_t u = (uint32_t)x & 0xFFFFu;
    return (int16_t)(u < 0x8000u ? (int32_t)u : (int32_t)u - 65536);
}

static int16_t sat16(int32_t x) {
    return (int16_t)(x > 32767 ? 32767 : (x < -32768 ? -32768 : x));
}

static int8_t sat8(int32_t x) {
    return (int8_t)(x > 127 ? 127 : (x < -128 ? -128 : x));
}

static qmul qm(double real) {
    qmul q;
    int sh = 0;
    kiln_quantize_multiplier(real, &q.m, &sh);
    q.s = sh;
    return q;
}

static int32_t apply(int32_t x, qmul q) {
    return kiln_mbqm(x, q.m, q.s);
}

/* TFLite Micro's Tanh(cell_state_scale_power, ...) parameters. */
static void tflm_tanh_params(int32_t power, int32_t *mult, int32_t *ls) {
    int32_t s = (15 + power) - 3;
    *mult = 0;
    if (s < 0) {
        s = -s;
        *mult = 3;
    }
    *ls = s;
}

/* GetInvSqrtQuantizedMultiplierExp(input, reverse_shift -1) for the integer layer norm. */
static void inv_sqrt_mult(int32_t input, int32_t *out_m, int32_t *out_shift) {
    if (input <= 1) {
        *out_m = INT32_MAX;
        *out_shift = 0;
        return;
    }
    int32_t shift = 11;
    while (input >= (1 << 29)) {
        input /= 4;
        shift++;
    }
    int lz = 0;
    for (uint32_t u = (uint32_t)input; !(u & 0x80000000u); u <<= 1)
        lz++;
    const int pairs = (lz - 1) / 2 - 1;
    shift -= pairs;
    input = (int32_t)((uint32_t)input << (2 * pairs));
    /* Newton-Raphson on F3 (3 integer bits, int32 raw). */
    const int32_t fin = input >> 1;
    const int32_t half_in = kiln_rdbpot(fin, 1);
    const int32_t half_three = (1 << 28) + (1 << 27);
    int32_t x = 1 << 28; /* F3 one */
    for (int i = 0; i < 5; i++) {
        /* x*x*x: F3*F3 = F6, *F3 = F9; Rescale<3> = multiply by 2^6 with saturation. */
        const int32_t x2 = kiln_srdhm(x, x);
        const int32_t x3 = kiln_fp_mulpot(kiln_srdhm(x2, x), 6);
        /* half_three * x (F6) - half_in * x3 (F6), then Rescale<3> (x 2^3). */
        const int32_t d =
            (int32_t)((uint32_t)kiln_srdhm(half_three, x) - (uint32_t)kiln_srdhm(half_in, x3));
        x = kiln_fp_mulpot(d, 3);
    }
    x = kiln_srdhm(x, 1518500250); /* * sqrt(2)/2, F3 * F0 = F3 */
    if (shift < 0) {
        x = (int32_t)((uint32_t)x << -shift);
        shift = 0;
    }
    *out_m = x;
    *out_shift = -shift;
}

/* ---- prepare ------------------------------------------------------------------------------- */

#define qnames kiln__lstm_input_names

static const kiln_tensor *qin(const kiln_node *n, int32_t i) {
    return i < n->n_in ? n->in[i] : NULL;
}

static kiln_status need(kiln_kctx *ctx, const kiln_tensor *t, int32_t type, int32_t rank,
                        int32_t d0, int32_t d1, const char *what) {
    if (t->type != type)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "%s has type %s, expected %s", what,
                         kiln_dtype_name(t->type), kiln_dtype_name(type));
    if (rank > 0 && (t->rank != rank || t->dims[0] != d0 || (rank == 2 && t->dims[1] != d1))) {
        if (rank == 1) return kiln_kerr(ctx, KILN_ERR_SHAPE, "%s must have shape [%d]", what, d0);
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "%s must have shape [%d, %d]", what, d0, d1);
    }
    return KILN_OK;
}

/* Per-tensor scale (and zero point) of t; weights must be symmetric. */
static kiln_status qparam(kiln_kctx *ctx, const kiln_tensor *t, int sym, float *s, int32_t *zp,
                          const char *what) {
    if (t->q.n != 1 || !t->q.scale || !t->q.zero_point || !(t->q.scale[0] > 0.0f))
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                         "%s needs one (per-tensor) quantization scale and zero point", what);
    *s = t->q.scale[0];
    if (zp) *zp = t->q.zero_point[0];
    if (sym && t->q.zero_point[0] != 0)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "%s must have zero point 0", what);
    return KILN_OK;
}

/* bias[i] + zp * sum_k W[i, k] (int32 wrapping, as TFLite's precomputed effective bias). */
static int32_t *fold_bias(kiln_kctx *ctx, const kiln_tensor *w, const kiln_tensor *b, int32_t zp) {
    const int32_t rows = w->dims[0], cols = w->dims[1];
    int32_t *o = (int32_t *)kiln_kalloc(ctx, sizeof(int32_t) * (size_t)rows);
    if (!o) return NULL;
    const int8_t *wd = (const int8_t *)w->data;
    for (int32_t r = 0; r < rows; r++) {
        int32_t acc = 0;
        if (b) memcpy(&acc, (const uint8_t *)b->data + 4 * (size_t)r, 4);
        int32_t rs = 0;
        for (int32_t c = 0; c < cols; c++)
            rs += wd[(int64_t)r * cols + c];
        o[r] = kiln_add_wrap_i32(acc, kiln_wrap_i32((int64_t)rs * zp));
    }
    return o;
}

static kiln_status lstmq_prepare(kiln_kctx *ctx, kiln_node *node) {
    if (node->n_in != Q_NIN && node->n_in != 20)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "has %d inputs, expected 20 or 24", node->n_in);
    if (node->n_out != 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "has %d outputs, expected 1", node->n_out);
    if (node->opts && node->opts_type != KILN_OPTS_UnidirectionalSequenceLSTMOptions)
        return kiln_kerr(ctx, KILN_ERR_MODEL,
                         "builtin options have union type %d, expected "
                         "UnidirectionalSequenceLSTMOptions",
                         node->opts_type);
    static const int32_t required[] = {Q_IN,      Q_I2G + 1, Q_I2G + 2, Q_I2G + 3,
                                       Q_R2G + 1, Q_R2G + 2, Q_R2G + 3, Q_BG + 1,
                                       Q_BG + 2,  Q_BG + 3,  Q_HS,      Q_CS};
    for (size_t k = 0; k < sizeof required / sizeof required[0]; k++)
        if (!node->in[required[k]])
            return kiln_kerr(ctx, KILN_ERR_MODEL, "input %d (%s) is required", required[k],
                             qnames[required[k]]);
    lstmq *d = (lstmq *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return KILN_ERR_NOMEM;
    d->act16 = node->in[Q_IN]->type == KILN_INT16;
    const int32_t atype = d->act16 ? KILN_INT16 : KILN_INT8;
    const int32_t btype = d->act16 ? KILN_INT64 : KILN_INT32;
    if (d->act16 && kiln_karith(ctx) != KILN_ARITH_TFLM)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                         "int16-activation LSTM: TFLite's kernel has none (TFLite Micro's runs "
                         "in the reference dialect)");
    const int32_t act = kiln_opt_i8(node, 0, 0);
    const float cell_clip = kiln_opt_f32(node, 1, 0.0f);
    const float proj_clip = kiln_opt_f32(node, 2, 0.0f);
    d->time_major = kiln_opt_i8(node, 3, 0) != 0;
    if (kiln_opt_i8(node, 5, 0))
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "diagonal_recurrent_tensors is not supported");
    if (!(cell_clip >= 0.0f) || !(proj_clip >= 0.0f))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "cell_clip and proj_clip must be >= 0");

    const kiln_tensor *x = node->in[Q_IN];
    if (x->rank != 3)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "input has %d dims, expected 3", x->rank);
    d->n_time = d->time_major ? x->dims[0] : x->dims[1];
    d->n_batch = d->time_major ? x->dims[1] : x->dims[0];
    d->n_input = x->dims[2];
    const kiln_tensor *wf = node->in[Q_I2G + 1], *rf = node->in[Q_R2G + 1];
    if (wf->rank != 2 || rf->rank != 2)
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "input_to_forget_weights and recurrent_to_forget_weights must have "
                         "2 dims");
    d->n_cell = wf->dims[0];
    d->n_output = rf->dims[1];
    const int32_t nc = d->n_cell, ni = d->n_input, no = d->n_output;
    kiln_status s;
    d->cifg = !node->in[Q_I2G];
    if (!node->in[Q_I2G] != !node->in[Q_R2G] || !node->in[Q_I2G] != !node->in[Q_BG])
        return kiln_kerr(ctx, KILN_ERR_MODEL,
                         "input_to_input_weights, recurrent_to_input_weights and "
                         "input_gate_bias must be all present or all absent (CIFG)");
    for (int32_t g = 0; g < 4; g++) {
        if (g == 0 && d->cifg) continue;
        if ((s = need(ctx, node->in[Q_I2G + g], KILN_INT8, 2, nc, ni, qnames[Q_I2G + g])) ||
            (s = need(ctx, node->in[Q_R2G + g], KILN_INT8, 2, nc, no, qnames[Q_R2G + g])) ||
            (s = need(ctx, node->in[Q_BG + g], btype, 1, nc, 0, qnames[Q_BG + g])))
            return s;
    }
    d->peephole = node->in[Q_C2I + 1] != NULL;
    if (!node->in[Q_C2I + 1] != !node->in[Q_C2I + 2] ||
        (d->peephole && !d->cifg && !node->in[Q_C2I]) || (!d->peephole && node->in[Q_C2I]) ||
        (d->cifg && node->in[Q_C2I]))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "peephole weights are incomplete");
    for (int32_t i = Q_C2I; i < Q_C2I + 3; i++)
        if (node->in[i] && (s = need(ctx, node->in[i], KILN_INT16, 1, nc, 0, qnames[i]))) return s;
    if (d->peephole && no > nc)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                         "peephole with n_output (%d) > n_cell (%d) is not supported", no, nc);
    d->layer_norm = qin(node, Q_LN + 1) != NULL;
    if (d->layer_norm) {
        if (!qin(node, Q_LN + 2) || !qin(node, Q_LN + 3) || (!d->cifg && !qin(node, Q_LN)) ||
            (d->cifg && qin(node, Q_LN)))
            return kiln_kerr(ctx, KILN_ERR_MODEL, "layer norm coefficients are incomplete");
        for (int32_t i = Q_LN; i < Q_NIN; i++)
            if (node->in[i] && (s = need(ctx, node->in[i], KILN_INT16, 1, nc, 0, qnames[i])))
                return s;
    } else if (qin(node, Q_LN) || qin(node, Q_LN + 2) || qin(node, Q_LN + 3)) {
        return kiln_kerr(ctx, KILN_ERR_MODEL, "layer norm coefficients are incomplete");
    }
    d->projection = node->in[Q_PW] != NULL;
    if (d->projection) {
        if ((s = need(ctx, node->in[Q_PW], KILN_INT8, 2, no, nc, qnames[Q_PW]))) return s;
    } else if (no != nc) {
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "without projection n_output (%d) must equal n_cell (%d)", no, nc);
    }
    if (node->in[Q_PB]) {
        if (!d->projection)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "projection_bias without projection_weights");
        if ((s = need(ctx, node->in[Q_PB], KILN_INT32, 1, no, 0, qnames[Q_PB]))) return s;
    }
    const kiln_tensor *hs = node->in[Q_HS], *cs = node->in[Q_CS], *y = node->out[0];
    if ((s = need(ctx, hs, atype, 0, 0, 0, qnames[Q_HS])) ||
        (s = need(ctx, cs, KILN_INT16, 0, 0, 0, qnames[Q_CS])) ||
        (s = need(ctx, y, atype, 0, 0, 0, "output")))
        return s;
    if (hs->is_const || cs->is_const)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "the state inputs must be variable tensors");
    if (kiln_numel(hs) != (int64_t)d->n_batch * no || kiln_numel(cs) != (int64_t)d->n_batch * nc)
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "output_state must have %lld elements and cell_state %lld",
                         (long long)d->n_batch * no, (long long)d->n_batch * nc);

    /* Scales. */
    float sx, shs, scs;
    int32_t zx, zcs;
    if ((s = qparam(ctx, x, 0, &sx, &zx, "input")) ||
        (s = qparam(ctx, hs, 0, &shs, &d->hs_zp, qnames[Q_HS])) ||
        (s = qparam(ctx, cs, 0, &scs, &zcs, qnames[Q_CS])))
        return s;
    if (zcs != 0) return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "cell_state zero point must be 0");
    int pot;
    {
        const double l2 = log2((double)scs);
        pot = fabs(l2 - round(l2)) < 1e-3;
        d->cell_scale = (int32_t)round(l2);
        /* TFLite Micro takes the rounded log2 of any scale; TFLite requires a power of two. */
        if (fabs(l2 - round(l2)) >= 1e-3 && kiln_karith(ctx) != KILN_ARITH_TFLM)
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "cell_state scale %g is not a power of two",
                             (double)scs);
    }
    d->tflm = kiln_karith(ctx) == KILN_ARITH_TFLM && !d->cifg && !d->peephole && !d->projection &&
              !d->layer_norm;
    if (d->act16 && !d->tflm)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                         "int16-activation LSTM supports only the plain LSTM (no CIFG, peephole, "
                         "projection or layer norm), as TFLite Micro");
    const int32_t gates0 = d->cifg ? 1 : 0;
    /* TFLite's integer kernel applies tanh to the cell gate whatever the option says;
     * TFLite Micro uses the option and supports tanh (and sigmoid, which no converter
     * emits). */
    if (d->tflm && act != 4)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                         "integer LSTM in the reference dialect supports only the TANH "
                         "activation (has %d)",
                         act);
    if (d->tflm) {
        /* The cell tanh rescales by 3 << (12 + cell_scale) (or a rounding right shift): keep
         * it inside int32 arithmetic. */
        if (d->cell_scale > 2 || d->cell_scale < -42)
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "cell_state scale 2^%d is out of range",
                             d->cell_scale);
        const float s12 = 1.0f / 4096.0f, s15 = 1.0f / 32768.0f;
        for (int32_t g = gates0; g < 4; g++) {
            float swi, swr;
            if ((s = qparam(ctx, node->in[Q_I2G + g], 1, &swi, NULL, qnames[Q_I2G + g])) ||
                (s = qparam(ctx, node->in[Q_R2G + g], 1, &swr, NULL, qnames[Q_R2G + g])))
                return s;
            d->in_m[g] = qm((double)sx * (double)swi / (double)s12);
            d->rec_m[g] = qm((double)shs * (double)swr / (double)s12);
        }
        d->in_zp = zx;
        d->mul_fc = qm((double)s15 * (double)scs / (double)scs);
        d->mul_ic = qm((double)s15 * (double)s15 / (double)scs);
        d->mul_out = qm((double)s15 * (double)s15 / (double)shs);
        const double cq = (double)cell_clip / (double)scs;
        d->cell_clip = cell_clip > 0.0f
                           ? (int16_t)(cq < -32768.0 ? -32768.0 : (cq > 32767.0 ? 32767.0 : cq))
                           : 0;
        d->proj_clip = 0;
        d->tflm_clip = cell_clip > 0.0f;
    } else {
        /* TFLite's PopulateQuantizedLstmParams8x8_16: effective scales in float. */
        if (node->n_tmp != 5)
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                             "integer LSTM needs 5 intermediate tensors (has %d; 12 is the "
                             "8x8_8 kernel, not supported)",
                             node->n_tmp);
        if (!pot)
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "cell_state scale %g is not a power of two",
                             (double)scs);
        if (d->cell_scale > -9 || d->cell_scale < -15)
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                             "cell_state scale 2^%d is outside 2^-15..2^-9", d->cell_scale);
        float inter_s[5];
        int32_t inter_zp[5];
        for (int32_t i = 0; i < 5; i++) {
            inter_s[i] = (float)pow(2.0, -12);
            inter_zp[i] = 0;
            if (i == 4 || d->layer_norm) {
                const kiln_tensor *t = node->tmp[i];
                if (!t || t->q.n < 1 || !t->q.scale || !t->q.zero_point || !(t->q.scale[0] > 0))
                    return kiln_kerr(ctx, KILN_ERR_MODEL,
                                     "intermediate %d needs a quantization scale", i);
                inter_s[i] = t->q.scale[0];
                inter_zp[i] = t->q.zero_point[0];
            }
        }
        d->hidden_zp = inter_zp[4];
        for (int32_t g = gates0; g < 4; g++) {
            float swi, swr;
            if ((s = qparam(ctx, node->in[Q_I2G + g], 1, &swi, NULL, qnames[Q_I2G + g])) ||
                (s = qparam(ctx, node->in[Q_R2G + g], 1, &swr, NULL, qnames[Q_R2G + g])))
                return s;
            const float ei = swi * sx / inter_s[g];
            const float er = swr * shs / inter_s[g];
            d->in_m[g] = qm((double)ei);
            d->rec_m[g] = qm((double)er);
            if (d->peephole && g != 2) {
                float sp;
                const int32_t pi = Q_C2I + (g == 3 ? 2 : g);
                if ((s = qparam(ctx, node->in[pi], 1, &sp, NULL, qnames[pi]))) return s;
                const float ep = (float)(pow(2.0, d->cell_scale) * (double)sp / (double)inter_s[g]);
                d->peep_m[g] = qm((double)ep);
            }
            if (d->layer_norm) {
                float sl;
                if ((s = qparam(ctx, node->in[Q_LN + g], 0, &sl, NULL, qnames[Q_LN + g]))) return s;
                d->ln_m[g] = qm((double)sl);
                const int32_t guard = (int32_t)(10000.0f * sl);
                d->var_guard[g] = guard > 1 ? guard : 1;
            }
            /* With layer norm the gate bias is added after normalization, not folded. */
            d->in_bias[g] =
                fold_bias(ctx, node->in[Q_I2G + g], d->layer_norm ? NULL : node->in[Q_BG + g], -zx);
            d->rec_bias[g] = fold_bias(ctx, node->in[Q_R2G + g], NULL, -d->hs_zp);
            if (!d->in_bias[g] || !d->rec_bias[g]) return KILN_ERR_NOMEM;
        }
        const float eh = (float)(pow(2.0, -15) / (double)inter_s[4] * pow(2.0, -15));
        d->hidden_m = qm((double)eh);
        if (d->projection) {
            float sp;
            if ((s = qparam(ctx, node->in[Q_PW], 1, &sp, NULL, qnames[Q_PW]))) return s;
            d->proj_m = qm((double)(sp * inter_s[4] / shs));
            d->proj_bias = fold_bias(ctx, node->in[Q_PW], node->in[Q_PB], d->hidden_zp);
            if (!d->proj_bias) return KILN_ERR_NOMEM;
        }
        if (cell_clip > 0.0f) {
            float c = cell_clip / scs;
            c = c < -32768.0f ? -32768.0f : (c > 32767.0f ? 32767.0f : c);
            d->cell_clip = (int16_t)c;
        }
        if (proj_clip > 0.0f) {
            float c = proj_clip / y->q.scale[0];
            c = c < -128.0f ? -128.0f : (c > 127.0f ? 127.0f : c);
            d->proj_clip = (int8_t)c;
        }
    }
    if (y->q.n < 1 || !y->q.scale)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "output needs a quantization scale");

    const int32_t od[3] = {x->dims[0], x->dims[1], no};
    if ((s = kiln_kresize(ctx, node->out[0], 3, od))) return s;
    /* 4 gates + tanh buffer (int16), hidden before projection (int8). */
    const size_t rows = (size_t)d->n_batch;
    /* TFLite Micro's algorithm needs 3 int16 buffers (fewer than its own 4); TFLite's adds
     * the output gate, the tanh of the cell and the int8 hidden state. */
    d->scratch = kiln_kscratch_request(ctx, rows * (size_t)nc * (d->tflm ? 3 * 2 : 5 * 2 + 1));
    if (d->scratch < 0) return KILN_ERR_NOMEM;
    node->data = d;
    return KILN_OK;
}

/* ---- invoke -------------------------------------------------------------------------------- */

/* acc = bias + W . (v - zp) for one row of W (int32 wrapping). */
static int32_t row_dot(const int8_t *w, const int8_t *v, int32_t n, int32_t zp, int32_t bias) {
    uint32_t acc = (uint32_t)bias;
    for (int32_t k = 0; k < n; k++)
        acc += (uint32_t)w[k] * (uint32_t)((int32_t)v[k] - zp);
    return kiln_wrap_i32((int64_t)acc);
}

/* TFLite's integer layer norm (PortableApplyLayerNorm) of one row of n values, in place. */
static void layer_norm_row(int16_t *g, int32_t n, const int16_t *w, const int32_t *bias, qmul m,
                           int32_t guard) {
    int64_t sum = 0, sum_sq = 0;
    for (int32_t j = 0; j < n; j++) {
        sum += g[j];
        sum_sq += (int64_t)g[j] * g[j];
    }
    const int32_t mean = (int32_t)(sum * 1024 / n);
    const int32_t temp = (1 << 20) / n;
    const int64_t variance = sum_sq * temp - (int64_t)mean * mean;
    int32_t var2 = (int32_t)(variance / (1 << 20));
    if (var2 < 1) var2 = guard;
    int32_t inv_m, inv_s;
    inv_sqrt_mult(var2, &inv_m, &inv_s);
    for (int32_t j = 0; j < n; j++) {
        const int32_t shifted = kiln_wrap_i32(1024 * (int64_t)g[j] - mean);
        const int32_t rescaled = kiln_mbqm(shifted, inv_m, inv_s);
        /* int32 arithmetic in TFLite (it wraps there), then widened. */
        const int64_t val3 = kiln_wrap_i32((int64_t)rescaled * w[j] + bias[j]);
        const int32_t val4 = kiln_wrap_i32((val3 > 0 ? val3 + 512 : val3 - 512) / 1024);
        const int32_t val5 = kiln_mbqm(val4, m.m, m.s + 12);
        g[j] = sat16(val5);
    }
}

/* acc = bias + W . (v - zp) with int16 v and int64 accumulation (wrapping). */
static int64_t row_dot16(const int8_t *w, const int16_t *v, int32_t n, int32_t zp, int64_t bias) {
    uint64_t acc = (uint64_t)bias;
    for (int32_t k = 0; k < n; k++)
        acc += (uint64_t)(int64_t)w[k] * (uint64_t)(int64_t)((int32_t)v[k] - zp);
    return kiln_wrap_i64(acc);
}

/* Gate bias i of a TFLite Micro gate (int32, or int64 read with memcpy: 8-byte constants are
 * only 4-byte aligned). */
static int64_t tflm_bias(const kiln_node *node, int32_t g, int32_t i, int wide) {
    const uint8_t *p = (const uint8_t *)node->in[Q_BG + g]->data;
    if (wide) {
        int64_t v;
        memcpy(&v, p + 8 * (size_t)i, 8);
        return v;
    }
    int32_t v;
    memcpy(&v, p + 4 * (size_t)i, 4);
    return v;
}

/* One gate for `rows` rows: activation(W x + R h [+ peephole] [layer norm]) into out.
 * x and h are int8, or int16 with act16. */
static void gate(const lstmq *d, const kiln_node *node, int32_t g, const void *xv, const void *hv,
                 const int16_t *c, int32_t rows, int16_t *out) {
    const int32_t nc = d->n_cell, ni = d->n_input, no = d->n_output;
    const int8_t *wi = (const int8_t *)node->in[Q_I2G + g]->data;
    const int8_t *wr = (const int8_t *)node->in[Q_R2G + g]->data;
    const int8_t *x = (const int8_t *)xv, *h = (const int8_t *)hv;
    if (d->act16) {
        const int16_t *x16 = (const int16_t *)xv, *h16 = (const int16_t *)hv;
        for (int32_t r = 0; r < rows; r++)
            for (int32_t i = 0; i < nc; i++) {
                const int64_t ai = row_dot16(wi + (int64_t)i * ni, x16 + (int64_t)r * ni, ni,
                                             d->in_zp, tflm_bias(node, g, i, 1));
                const int64_t bi =
                    row_dot16(wr + (int64_t)i * no, h16 + (int64_t)r * no, no, d->hs_zp, 0);
                const int32_t a = kiln_mbqm64(ai, d->in_m[g].m, d->in_m[g].s);
                const int32_t b = kiln_mbqm64(bi, d->rec_m[g].m, d->rec_m[g].s);
                out[(int64_t)r * nc + i] = sat16((int32_t)sat16(a) + sat16(b));
            }
    }
    for (int32_t r = 0; r < rows && !d->act16; r++)
        for (int32_t i = 0; i < nc; i++) {
            /* TFLite Micro subtracts the zero points in the products; TFLite folds them into
             * the biases at prepare (the same int32 sums). */
            const int32_t ab = d->tflm ? (int32_t)tflm_bias(node, g, i, 0) : d->in_bias[g][i];
            const int32_t a = apply(
                row_dot(wi + (int64_t)i * ni, x + (int64_t)r * ni, ni, d->tflm ? d->in_zp : 0, ab),
                d->in_m[g]);
            const int32_t b =
                apply(row_dot(wr + (int64_t)i * no, h + (int64_t)r * no, no, d->tflm ? d->hs_zp : 0,
                              d->tflm ? 0 : d->rec_bias[g][i]),
                      d->rec_m[g]);
            int32_t v;
            if (d->tflm) /* two FULLY_CONNECTED outputs (each int16), then a saturating add */
                v = sat16(a) + sat16(b);
            else /* the recurrent product accumulates onto the clamped input product */
                v = kiln_add_wrap_i32(b, sat16(a));
            out[(int64_t)r * nc + i] = sat16(v);
        }
    if (d->peephole && g != 2) {
        /* TFLite passes n_output as the vector length here (and as the row stride). */
        const int16_t *p = (const int16_t *)node->in[Q_C2I + (g == 3 ? 2 : g)]->data;
        for (int32_t r = 0; r < rows; r++)
            for (int32_t v = 0; v < no; v++) {
                const int64_t k = (int64_t)r * no + v;
                const int32_t prod = apply((int32_t)p[v] * c[k], d->peep_m[g]);
                out[k] = sat16(kiln_add_wrap_i32(prod, out[k]));
            }
    }
    if (d->layer_norm) {
        const int16_t *w = (const int16_t *)node->in[Q_LN + g]->data;
        const int32_t *b = (const int32_t *)node->in[Q_BG + g]->data;
        for (int32_t r = 0; r < rows; r++)
            layer_norm_row(out + (int64_t)r * nc, nc, w, b, d->ln_m[g], d->var_guard[g]);
    }
    const int64_t n = (int64_t)rows * nc;
    for (int64_t k = 0; k < n; k++) {
        if (g == 2)
            out[k] = d->tflm ? wrap16(kiln__tanh16_lut(out[k], 3, 0)) : kiln__g16_tanh(out[k], 3);
        else
            out[k] = d->tflm ? wrap16(kiln__logistic16_lut(out[k], 0, 0))
                             : kiln__g16_logistic(out[k], 3);
    }
}

/* One time step for `rows` rows: x [rows, ni], h [rows, no] and c [rows, nc] (updated in
 * place), y [rows, no]. */
static void step(const lstmq *d, const kiln_node *node, const void *x, void *hv, int16_t *c,
                 void *y, int32_t rows, uint8_t *scratch) {
    int8_t *h = (int8_t *)hv;
    const int32_t nc = d->n_cell, no = d->n_output;
    const int64_t n = (int64_t)rows * nc;
    int16_t *gi = (int16_t *)scratch, *gf = gi + n, *gc = gf + n;
    /* After the cell update the input gate is dead: TFLite Micro's path puts the output gate
     * there; TFLite's has two more buffers. */
    int16_t *go = d->tflm ? gi : gc + n, *tb = go + n;
    int8_t *hq = (int8_t *)(tb + n);
    if (!d->cifg) gate(d, node, 0, x, h, c, rows, gi);
    gate(d, node, 1, x, h, c, rows, gf);
    gate(d, node, 2, x, h, c, rows, gc);
    /* Cell update. */
    if (d->tflm) {
        for (int64_t k = 0; k < n; k++) {
            const int16_t fc = sat16(apply((int32_t)gf[k] * c[k], d->mul_fc));
            const int16_t ic = sat16(apply((int32_t)gi[k] * gc[k], d->mul_ic));
            int16_t v = sat16((int32_t)fc + ic);
            if (d->tflm_clip)
                v = (int16_t)(v > d->cell_clip ? d->cell_clip
                                               : (v < -d->cell_clip ? -d->cell_clip : v));
            c[k] = v;
        }
    } else {
        const int sh = 30 + d->cell_scale;
        for (int64_t k = 0; k < n; k++) {
            const int16_t fc = wrap16(kiln_rdbpot((int32_t)gf[k] * c[k], 15));
            const int16_t ig = d->cifg ? wrap16(32767 - (int32_t)gf[k]) : gi[k];
            const int16_t ic = wrap16(kiln_rdbpot((int32_t)ig * gc[k], sh));
            int16_t v = sat16((int32_t)fc + ic);
            if (d->cell_clip > 0)
                v = (int16_t)(v > d->cell_clip ? d->cell_clip
                                               : (v < -d->cell_clip ? -d->cell_clip : v));
            c[k] = v;
        }
    }
    gate(d, node, 3, x, h, c, rows, go);
    /* Hidden state. */
    if (d->tflm) {
        int32_t tm, tls;
        tflm_tanh_params(d->cell_scale, &tm, &tls);
        for (int64_t k = 0; k < n; k++) {
            const int16_t t = wrap16(kiln__tanh16_lut(c[k], tm, tls));
            const int32_t v = kiln_add_wrap_i32(apply((int32_t)t * go[k], d->mul_out), d->hs_zp);
            if (d->act16)
                ((int16_t *)hv)[k] = sat16(v);
            else
                h[k] = sat8(v);
        }
    } else {
        const int ib = 15 + d->cell_scale;
        for (int64_t k = 0; k < n; k++) {
            tb[k] = kiln__g16_tanh(c[k], ib);
            /* TFLite subtracts the hidden zero point here (PortableCwiseMul). */
            hq[k] =
                sat8(kiln_add_wrap_i32(apply((int32_t)go[k] * tb[k], d->hidden_m), -d->hidden_zp));
        }
        if (d->projection) {
            const int8_t *pw = (const int8_t *)node->in[Q_PW]->data;
            for (int32_t r = 0; r < rows; r++)
                for (int32_t j = 0; j < no; j++) {
                    const int32_t acc =
                        row_dot(pw + (int64_t)j * nc, hq + (int64_t)r * nc, nc, 0, d->proj_bias[j]);
                    int32_t v = sat8(kiln_add_wrap_i32(apply(acc, d->proj_m), d->hs_zp));
                    if (d->proj_clip > 0)
                        v = v > d->proj_clip ? d->proj_clip
                                             : (v < -d->proj_clip ? -d->proj_clip : v);
                    h[(int64_t)r * no + j] = (int8_t)v;
                }
        } else {
            memcpy(h, hq, (size_t)n);
        }
    }
    memcpy(y, hv, (size_t)rows * (size_t)no * (d->act16 ? 2u : 1u));
}

static kiln_status lstmq_invoke(kiln_kctx *ctx, kiln_node *node) {
    const lstmq *d = (const lstmq *)node->data;
    uint8_t *scratch = (uint8_t *)kiln_kscratch(ctx, d->scratch);
    const size_t es = d->act16 ? 2 : 1; /* activation element size */
    const uint8_t *x = (const uint8_t *)node->in[Q_IN]->data;
    uint8_t *h = (uint8_t *)node->in[Q_HS]->data;
    int16_t *c = (int16_t *)node->in[Q_CS]->data;
    uint8_t *y = (uint8_t *)node->out[0]->data;
    const int64_t nb = d->n_batch, nt = d->n_time, ni = d->n_input * (int64_t)es, nc = d->n_cell,
                  no = d->n_output * (int64_t)es;
    if (d->time_major) {
        for (int64_t t = 0; t < nt; t++)
            step(d, node, x + t * nb * ni, h, c, y + t * nb * no, (int32_t)nb, scratch);
    } else {
        for (int64_t b = 0; b < nb; b++)
            for (int64_t t = 0; t < nt; t++) {
                const int64_t row = b * nt + t;
                step(d, node, x + row * ni, h + b * no, c + b * nc, y + row * no, 1, scratch);
            }
    }
    return KILN_OK;
}

const kiln_kernel_reg kiln__k_rnn_q[] = {
    {KILN_OP_UNIDIRECTIONAL_SEQUENCE_LSTM, 1, 4, KILN_INT8, KILN_ANY, lstmq_prepare, lstmq_invoke},
    {KILN_OP_UNIDIRECTIONAL_SEQUENCE_LSTM, 1, 4, KILN_INT16, KILN_ANY, lstmq_prepare, lstmq_invoke},
    {-1, 0, 0, 0, 0, NULL, NULL},
};
