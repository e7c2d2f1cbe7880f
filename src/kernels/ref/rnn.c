/* rnn.c: stateful sequence kernels: float UNIDIRECTIONAL_SEQUENCE_LSTM, float and int8 SVDF.
 * Semantics: TFLite's lstm_eval (EvalFloat / LstmStepFloat) and svdf (EvalFloatSVDF,
 * EvalIntegerSVDF), which TFLite Micro reproduces. The state inputs are variable tensors: the
 * interpreter keeps them across invokes and the kernels write the new state back into them. */
#include <math.h>
#include <string.h>

#include "kernels/kernel.h"
#include "kernels/ops.h"
#include "kernels/quant.h"
#include "kernels/ref/act.h"
#include "kernels/ref/tables.h"

/* ---- shared checks ------------------------------------------------------------------------- */

static kiln_status check_type(kiln_kctx *ctx, const kiln_tensor *t, int32_t type,
                              const char *what) {
    if (t->type != type)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "%s has type %s, expected %s", what,
                         kiln_dtype_name(t->type), kiln_dtype_name(type));
    return KILN_OK;
}

/* t must be [d0] (rank 1) or [d0, d1] (rank 2, d1 >= 0). */
static kiln_status check_dims(kiln_kctx *ctx, const kiln_tensor *t, int32_t rank, int32_t d0,
                              int32_t d1, const char *what) {
    if (t->rank != rank || t->dims[0] != d0 || (rank == 2 && t->dims[1] != d1)) {
        if (rank == 1) return kiln_kerr(ctx, KILN_ERR_SHAPE, "%s must have shape [%d]", what, d0);
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "%s must have shape [%d, %d]", what, d0, d1);
    }
    return KILN_OK;
}

static kiln_status check_state(kiln_kctx *ctx, const kiln_tensor *t, int64_t numel,
                               const char *what) {
    if (t->is_const)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s is a constant; it must be a variable tensor",
                         what);
    if (kiln_numel(t) != numel)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "%s has %lld elements, expected %lld", what,
                         (long long)kiln_numel(t), (long long)numel);
    return KILN_OK;
}

static const kiln_tensor *opt_in(const kiln_node *node, int32_t i) {
    return i < node->n_in ? node->in[i] : NULL;
}

/* A dot product in TFLite's portable MatrixBatchVectorMultiplyAccumulate order: the row's sum
 * is formed first, then added to the accumulator. */
static float dot_f32(const float *a, const float *b, int32_t n) {
    float s = 0.0f;
    for (int32_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

static float sigmoid_f32(float x) {
    return 1.0f / (1.0f + expf(-x));
}

/* CwiseClipping: clamp to [-clip, clip]. */
static void clip_f32(float *x, int32_t n, float clip) {
    for (int32_t i = 0; i < n; i++)
        x[i] = x[i] > clip ? clip : (x[i] < -clip ? -clip : x[i]);
}

/* ---- float UNIDIRECTIONAL_SEQUENCE_LSTM ---------------------------------------------------- */

enum {
    L_IN = 0,
    L_I2I = 1, /* input_to_input_weights ... input_to_output_weights: 1..4 */
    L_I2F,
    L_I2C,
    L_I2O,
    L_R2I = 5, /* recurrent_to_input_weights ... : 5..8 */
    L_R2F,
    L_R2C,
    L_R2O,
    L_C2I = 9, /* peepholes 9..11 */
    L_C2F,
    L_C2O,
    L_BI = 12, /* gate biases 12..15 */
    L_BF,
    L_BC,
    L_BO,
    L_PW = 16,
    L_PB = 17,
    L_HS = 18,  /* output state (variable) */
    L_CS = 19,  /* cell state (variable) */
    L_LNI = 20, /* layer norm coefficients 20..23 */
    L_NIN = 24
};

typedef struct lstm_data {
    int32_t n_time, n_batch, n_input, n_cell, n_output;
    int32_t time_major, act;
    float cell_clip, proj_clip;
    uint8_t cifg, peephole, layer_norm, projection;
    uint8_t hybrid, asym; /* int8 weights with float activations; asymmetric inputs */
    int32_t scratch;      /* 4 gates + output scratch, n_batch * n_cell floats each (+ hybrid) */
} lstm_data;

/* Hybrid kernels quantize each float row to int8 on the fly: the rows, and per row the
 * scaling factor and zero point (offset). */
typedef struct qrows {
    int8_t *q;
    float *sf;
    int32_t *zp;
    int32_t n; /* row length */
} qrows;

static kiln_status lstm_prepare_f32(kiln_kctx *ctx, kiln_node *node) {
    if (node->n_in != L_NIN && node->n_in != 20)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "has %d inputs, expected 20 or 24", node->n_in);
    if (node->n_out != 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "has %d outputs, expected 1", node->n_out);
    if (node->opts && node->opts_type != KILN_OPTS_UnidirectionalSequenceLSTMOptions)
        return kiln_kerr(ctx, KILN_ERR_MODEL,
                         "builtin options have union type %d, expected "
                         "UnidirectionalSequenceLSTMOptions",
                         node->opts_type);
    static const int32_t required[] = {L_IN,  L_I2F, L_I2C, L_I2O, L_R2F, L_R2C,
                                       L_R2O, L_BF,  L_BC,  L_BO,  L_HS,  L_CS};
    const char *const *names = kiln__lstm_input_names;
    for (size_t k = 0; k < sizeof required / sizeof required[0]; k++)
        if (!node->in[required[k]])
            return kiln_kerr(ctx, KILN_ERR_MODEL, "input %d (%s) is required", required[k],
                             names[required[k]]);
    /* Hybrid: int8 weights (1..11 and the projection), float everything else. */
    const int hybrid = node->in[L_I2F]->type == KILN_INT8;
    for (int32_t i = 0; i < node->n_in; i++) {
        if (!node->in[i]) continue;
        const int is_w = (i >= L_I2I && i <= L_C2O) || i == L_PW;
        kiln_status s =
            check_type(ctx, node->in[i], hybrid && is_w ? KILN_INT8 : KILN_FLOAT32, names[i]);
        if (s) return s;
        if (hybrid && is_w && (node->in[i]->q.n != 1 || !node->in[i]->q.scale))
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                             "%s needs one (per-tensor) quantization scale", names[i]);
    }
    kiln_status s = check_type(ctx, node->out[0], KILN_FLOAT32, "output");
    if (s) return s;

    lstm_data *d = (lstm_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return KILN_ERR_NOMEM;
    d->act = kiln_opt_i8(node, 0, KILN_ACT_NONE);
    d->cell_clip = kiln_opt_f32(node, 1, 0.0f);
    d->proj_clip = kiln_opt_f32(node, 2, 0.0f);
    d->time_major = kiln_opt_i8(node, 3, 0) != 0;
    d->hybrid = (uint8_t)hybrid;
    d->asym = kiln_opt_i8(node, 4, 0) != 0;
    if (kiln_opt_i8(node, 5, 0))
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "diagonal_recurrent_tensors is not supported");
    if (!kiln_act_valid(d->act))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "fused activation %d is not valid", d->act);
    if (!(d->cell_clip >= 0.0f) || !(d->proj_clip >= 0.0f))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "cell_clip and proj_clip must be >= 0");

    const kiln_tensor *x = node->in[L_IN];
    if (x->rank != 3)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "input has %d dims, expected 3", x->rank);
    d->n_time = d->time_major ? x->dims[0] : x->dims[1];
    d->n_batch = d->time_major ? x->dims[1] : x->dims[0];
    d->n_input = x->dims[2];
    const kiln_tensor *wf = node->in[L_I2F], *rf = node->in[L_R2F];
    if (wf->rank != 2 || rf->rank != 2)
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "input_to_forget_weights and "
                         "recurrent_to_forget_weights must have 2 dims");
    d->n_cell = wf->dims[0];
    d->n_output = rf->dims[1];
    const int32_t nc = d->n_cell, ni = d->n_input, no = d->n_output;
    for (int32_t i = L_I2I; i <= L_I2O; i++)
        if (node->in[i] && (s = check_dims(ctx, node->in[i], 2, nc, ni, names[i]))) return s;
    for (int32_t i = L_R2I; i <= L_R2O; i++)
        if (node->in[i] && (s = check_dims(ctx, node->in[i], 2, nc, no, names[i]))) return s;
    for (int32_t i = L_C2I; i <= L_BO; i++)
        if (node->in[i] && (s = check_dims(ctx, node->in[i], 1, nc, 0, names[i]))) return s;
    for (int32_t i = L_LNI; i < node->n_in; i++)
        if (node->in[i] && (s = check_dims(ctx, node->in[i], 1, nc, 0, names[i]))) return s;

    /* CIFG: the input gate is 1 - forget gate; all three input-gate tensors go together. */
    d->cifg = !node->in[L_I2I];
    if (!node->in[L_I2I] != !node->in[L_R2I] || (d->cifg && node->in[L_BI]) ||
        (!d->cifg && !node->in[L_BI]))
        return kiln_kerr(ctx, KILN_ERR_MODEL,
                         "input_to_input_weights, "
                         "recurrent_to_input_weights and input_gate_bias "
                         "must be all present or all absent (CIFG)");
    d->peephole = node->in[L_C2F] != NULL;
    if (!node->in[L_C2F] != !node->in[L_C2O] || (d->peephole && !d->cifg && !node->in[L_C2I]) ||
        (!d->peephole && node->in[L_C2I]))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "peephole weights are incomplete");
    d->layer_norm = opt_in(node, L_LNI + 1) != NULL;
    if (d->layer_norm) {
        if (!opt_in(node, L_LNI + 2) || !opt_in(node, L_LNI + 3) ||
            (!d->cifg && !opt_in(node, L_LNI)))
            return kiln_kerr(ctx, KILN_ERR_MODEL, "layer norm coefficients are incomplete");
    }
    d->projection = node->in[L_PW] != NULL;
    if (d->projection) {
        if ((s = check_dims(ctx, node->in[L_PW], 2, no, nc, names[L_PW]))) return s;
    } else if (no != nc) {
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "without projection n_output (%d) must equal "
                         "n_cell (%d)",
                         no, nc);
    }
    if (node->in[L_PB] && (s = check_dims(ctx, node->in[L_PB], 1, no, 0, names[L_PB]))) return s;
    if ((s = check_state(ctx, node->in[L_HS], (int64_t)d->n_batch * no, names[L_HS]))) return s;
    if ((s = check_state(ctx, node->in[L_CS], (int64_t)d->n_batch * nc, names[L_CS]))) return s;

    const int32_t od[3] = {x->dims[0], x->dims[1], no};
    if ((s = kiln_kresize(ctx, node->out[0], 3, od))) return s;
    size_t sbytes = (size_t)5 * (size_t)d->n_batch * (size_t)nc * sizeof(float);
    /* Hybrid: quantized input, output state and projection input, 3 x (sf, zp) per row. */
    sbytes += (size_t)d->n_batch *
              ((size_t)ni + (size_t)no + (size_t)nc + 16 + 3 * (sizeof(float) + sizeof(int32_t)));
    d->scratch = kiln_kscratch_request(ctx, sbytes);
    if (d->scratch < 0) return KILN_ERR_NOMEM;
    node->data = d;
    return KILN_OK;
}

/* MeanStddevNormalization over each row of n values (epsilon 1e-8 on the variance). */
static void mean_stddev_norm(float *v, int32_t n, int32_t rows) {
    for (int32_t r = 0; r < rows; r++) {
        float *x = v + (int64_t)r * n;
        float sum = 0.0f, sum_sq = 0.0f;
        for (int32_t i = 0; i < n; i++) {
            sum += x[i];
            sum_sq += x[i] * x[i];
        }
        const float mean = sum / (float)n;
        const float variance = sum_sq / (float)n - mean * mean;
        const float inv = 1.0f / sqrtf(variance + 1e-8f);
        for (int32_t i = 0; i < n; i++)
            x[i] = (x[i] - mean) * inv;
    }
}

/* tensor_utils' SymmetricQuantizeFloats / AsymmetricQuantizeFloats for one row. */
static void quantize_row(const float *x, int32_t n, int asym, int8_t *q, float *scale,
                         int32_t *offset) {
    float mn = x[0], mx = x[0];
    for (int32_t i = 1; i < n; i++) {
        mn = x[i] < mn ? x[i] : mn;
        mx = x[i] > mx ? x[i] : mx;
    }
    *offset = 0;
    if (!asym) {
        const float range = fabsf(mn) > fabsf(mx) ? fabsf(mn) : fabsf(mx);
        if (range == 0.0f) {
            memset(q, 0, (size_t)n);
            *scale = 1.0f;
            return;
        }
        *scale = range / 127.0f;
        const float inv = 127.0f / range;
        for (int32_t i = 0; i < n; i++)
            q[i] = (int8_t)kiln_clamp_i32((int32_t)roundf(x[i] * inv), -127, 127);
        return;
    }
    /* The zero point is nudged from whichever end gives the smaller error, in double. */
    const double rmin = fmin(0.0, (double)mn), rmax = fmax(0.0, (double)mx);
    if (rmin == rmax) {
        memset(q, 0, (size_t)n);
        *scale = 1.0f;
        return;
    }
    const double sc = (rmax - rmin) / 255.0;
    const double zmin = -128.0 - rmin / sc, zmax = 127.0 - rmax / sc;
    const double emin = 128.0 + fabs(rmin / sc), emax = 127.0 + fabs(rmax / sc);
    const double z = emin < emax ? zmin : zmax;
    const int32_t zp = z <= -128.0 ? -128 : (z >= 127.0 ? 127 : (int32_t)round(z));
    *scale = (float)sc;
    *offset = zp;
    const float inv = 1.0f / *scale;
    for (int32_t i = 0; i < n; i++)
        q[i] = (int8_t)kiln_clamp_i32((int32_t)roundf((float)zp + x[i] * inv), -128, 127);
}

static void quantize_rows(const float *x, int32_t x_stride, int32_t rows, int asym,
                          const qrows *q) {
    for (int32_t r = 0; r < rows; r++)
        quantize_row(x + (int64_t)r * x_stride, q->n, asym, q->q + (int64_t)r * q->n, &q->sf[r],
                     &q->zp[r]);
}

/* g[i] += W[i] . x for `rows` rows of W: float weights with the float row xf, or int8 weights
 * with the quantized row `r` of q (hybrid MatrixBatchVectorMultiplyAccumulate: the int32 dot
 * product, minus row_sum * offset when asymmetric, times input scale * weight scale). */
static void matvec_acc(const kiln_tensor *w, int32_t rows, const float *xf, const qrows *q,
                       int32_t r, int asym, float *g) {
    if (w->type == KILN_FLOAT32) {
        const float *wf = (const float *)w->data;
        for (int32_t i = 0; i < rows; i++)
            g[i] += dot_f32(wf + (int64_t)i * q->n, xf, q->n);
        return;
    }
    const int8_t *wq = (const int8_t *)w->data, *xq = q->q + (int64_t)r * q->n;
    const float scale = q->sf[r] * w->q.scale[0];
    for (int32_t i = 0; i < rows; i++) {
        const int8_t *wr = wq + (int64_t)i * q->n;
        int64_t dot = 0, rsum = 0;
        for (int32_t k = 0; k < q->n; k++) {
            dot += (int32_t)wr[k] * (int32_t)xq[k];
            rsum += wr[k];
        }
        if (asym) dot -= rsum * q->zp[r];
        g[i] += (float)kiln_wrap_i32(dot) * scale;
    }
}

/* Element i of a peephole vector (float, or int8 dequantized as value * scale). */
static float peep_at(const kiln_tensor *p, int32_t i) {
    if (p->type == KILN_FLOAT32) return ((const float *)p->data)[i];
    return (float)((const int8_t *)p->data)[i] * p->q.scale[0];
}

/* One gate for n_batch rows: bias (or 0 with layer norm) + Wx.x + Wh.h [+ peephole .* c]
 * [layer norm, * coefficients, + bias], then the activation. */
static void lstm_gate_f32(const lstm_data *d, const float *x, int32_t x_stride, const float *h,
                          const float *c, const qrows *qx, const qrows *qh, const kiln_tensor *wx,
                          const kiln_tensor *wh, const kiln_tensor *peep, const kiln_tensor *bias,
                          const kiln_tensor *ln, int32_t act, int is_sigmoid, float *gate) {
    const int32_t nc = d->n_cell, no = d->n_output, nb = d->n_batch;
    const float *b = (const float *)bias->data;
    for (int32_t bi = 0; bi < nb; bi++) {
        float *g = gate + (int64_t)bi * nc;
        for (int32_t i = 0; i < nc; i++)
            g[i] = ln ? 0.0f : b[i];
        matvec_acc(wx, nc, x + (int64_t)bi * x_stride, qx, bi, d->asym, g);
        matvec_acc(wh, nc, h + (int64_t)bi * no, qh, bi, d->asym, g);
        if (peep) {
            const float *cb = c + (int64_t)bi * nc;
            for (int32_t i = 0; i < nc; i++)
                g[i] += peep_at(peep, i) * cb[i];
        }
    }
    if (ln) {
        mean_stddev_norm(gate, nc, nb);
        const float *lc = (const float *)ln->data;
        for (int32_t bi = 0; bi < nb; bi++) {
            float *g = gate + (int64_t)bi * nc;
            for (int32_t i = 0; i < nc; i++)
                g[i] = g[i] * lc[i] + b[i];
        }
    }
    const int64_t n = (int64_t)nb * nc;
    if (is_sigmoid) {
        for (int64_t i = 0; i < n; i++)
            gate[i] = sigmoid_f32(gate[i]);
    } else {
        kiln_act_apply_vec_f32(act, gate, gate, n);
    }
}

/* One LstmStepFloat for d->n_batch rows of input x (row stride x_stride); writes n_batch rows
 * of the output (row stride y_stride) and updates h and c in place. */
static void lstm_step_f32(const kiln_node *node, const lstm_data *d, const float *x,
                          int32_t x_stride, float *h, float *c, float *y, int32_t y_stride,
                          float *scratch) {
    const int32_t nc = d->n_cell, no = d->n_output, nb = d->n_batch;
    const int64_t n = (int64_t)nb * nc;
    float *ig = scratch, *fg = scratch + n, *cg = scratch + 2 * n, *og = scratch + 3 * n;
    float *tmp = scratch + 4 * n;
    /* Hybrid: rows of x, h and the projection input quantized to int8 (float path: only the
     * row lengths are used). */
    float *sfs = scratch + 5 * n;
    int32_t *zps = (int32_t *)(sfs + 3 * nb);
    int8_t *qb = (int8_t *)(zps + 3 * nb);
    const qrows qx = {qb, sfs, zps, d->n_input};
    const qrows qh = {qb + (int64_t)nb * d->n_input, sfs + nb, zps + nb, no};
    const qrows qp = {qb + (int64_t)nb * (d->n_input + no), sfs + 2 * nb, zps + 2 * nb, nc};
    if (d->hybrid) {
        quantize_rows(x, x_stride, nb, d->asym, &qx);
        quantize_rows(h, no, nb, d->asym, &qh);
    }
    kiln_tensor *const *in = node->in;
    const kiln_tensor *ln_i = NULL, *ln_f = NULL, *ln_c = NULL, *ln_o = NULL;
    if (d->layer_norm) {
        ln_i = opt_in(node, L_LNI);
        ln_f = opt_in(node, L_LNI + 1);
        ln_c = opt_in(node, L_LNI + 2);
        ln_o = opt_in(node, L_LNI + 3);
    }
    if (!d->cifg)
        lstm_gate_f32(d, x, x_stride, h, c, &qx, &qh, in[L_I2I], in[L_R2I],
                      d->peephole ? in[L_C2I] : NULL, in[L_BI], ln_i, 0, 1, ig);
    lstm_gate_f32(d, x, x_stride, h, c, &qx, &qh, in[L_I2F], in[L_R2F],
                  d->peephole ? in[L_C2F] : NULL, in[L_BF], ln_f, 0, 1, fg);
    lstm_gate_f32(d, x, x_stride, h, c, &qx, &qh, in[L_I2C], in[L_R2C], NULL, in[L_BC], ln_c,
                  d->act, 0, cg);
    /* c = f * c + i * g, with i = 1 - f under CIFG. */
    for (int64_t i = 0; i < n; i++)
        c[i] *= fg[i];
    if (d->cifg) {
        for (int64_t i = 0; i < n; i++)
            ig[i] = 1.0f - fg[i];
    }
    for (int64_t i = 0; i < n; i++)
        c[i] += cg[i] * ig[i];
    if (d->cell_clip > 0.0f) clip_f32(c, (int32_t)n, d->cell_clip);
    /* The output gate's peephole sees the new cell state. */
    lstm_gate_f32(d, x, x_stride, h, c, &qx, &qh, in[L_I2O], in[L_R2O],
                  d->peephole ? in[L_C2O] : NULL, in[L_BO], ln_o, 0, 1, og);
    kiln_act_apply_vec_f32(d->act, c, tmp, n);
    for (int64_t i = 0; i < n; i++)
        tmp[i] *= og[i];
    if (d->projection) {
        const float *pb = in[L_PB] ? (const float *)in[L_PB]->data : NULL;
        if (d->hybrid) quantize_rows(tmp, nc, nb, d->asym, &qp);
        for (int32_t bi = 0; bi < nb; bi++) {
            float *hb = h + (int64_t)bi * no;
            for (int32_t o = 0; o < no; o++)
                hb[o] = pb ? pb[o] : 0.0f;
            matvec_acc(in[L_PW], no, tmp + (int64_t)bi * nc, &qp, bi, d->asym, hb);
        }
        if (d->proj_clip > 0.0f) clip_f32(h, nb * no, d->proj_clip);
    } else {
        memcpy(h, tmp, (size_t)n * sizeof(float));
    }
    for (int32_t bi = 0; bi < nb; bi++)
        memcpy(y + (int64_t)bi * y_stride, h + (int64_t)bi * no, (size_t)no * sizeof(float));
}

static kiln_status lstm_invoke_f32(kiln_kctx *ctx, kiln_node *node) {
    const lstm_data *d = (const lstm_data *)node->data;
    float *scratch = (float *)kiln_kscratch(ctx, d->scratch);
    const float *x = (const float *)node->in[L_IN]->data;
    float *h = (float *)node->in[L_HS]->data, *c = (float *)node->in[L_CS]->data;
    float *y = (float *)node->out[0]->data;
    const int32_t ni = d->n_input, no = d->n_output;
    if (d->time_major) {
        for (int32_t t = 0; t < d->n_time; t++)
            lstm_step_f32(node, d, x + (int64_t)t * d->n_batch * ni, ni, h, c,
                          y + (int64_t)t * d->n_batch * no, no, scratch);
        return KILN_OK;
    }
    /* Batch-major: each batch row runs through time on its own state, as TFLite does. */
    lstm_data one = *d;
    one.n_batch = 1;
    for (int32_t b = 0; b < d->n_batch; b++)
        for (int32_t t = 0; t < d->n_time; t++)
            lstm_step_f32(node, &one, x + ((int64_t)b * d->n_time + t) * ni, ni,
                          h + (int64_t)b * no, c + (int64_t)b * d->n_cell,
                          y + ((int64_t)b * d->n_time + t) * no, no, scratch);
    return KILN_OK;
}

/* ---- SVDF ---------------------------------------------------------------------------------- */

enum { S_IN = 0, S_WF = 1, S_WT = 2, S_B = 3, S_ST = 4 };

typedef struct svdf_data {
    int32_t n_batch, n_input, n_filter, n_unit, n_memory, rank, act;
    int32_t scratch;
    /* int8: input*feature/state and state*time/output as quantized multipliers. */
    int32_t m1, m2, shift1, shift2;
    int32_t in_zp, out_zp, st_zp;
    int32_t st16; /* int16 state and weights_time (else int8) */
    int32_t asym; /* hybrid: asymmetric input quantization */
    float wf_scale;
    const float *wt_f32; /* hybrid: dequantized weights_time */
} svdf_data;

static kiln_status svdf_prepare_common(kiln_kctx *ctx, kiln_node *node, svdf_data **out) {
    if (node->n_in != 5)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "has %d inputs, expected 5", node->n_in);
    if (node->n_out != 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "has %d outputs, expected 1", node->n_out);
    if (node->opts && node->opts_type != KILN_OPTS_SVDFOptions)
        return kiln_kerr(ctx, KILN_ERR_MODEL,
                         "builtin options have union type %d, expected SVDFOptions",
                         node->opts_type);
    const kiln_tensor *x = node->in[S_IN], *wf = node->in[S_WF], *wt = node->in[S_WT];
    const kiln_tensor *st = node->in[S_ST];
    if (!x || !wf || !wt || !st)
        return kiln_kerr(ctx, KILN_ERR_MODEL,
                         "input, weights_feature, weights_time and "
                         "activation_state are required");
    svdf_data *d = (svdf_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return KILN_ERR_NOMEM;
    d->rank = kiln_opt_i32(node, 0, 0);
    d->act = kiln_opt_i8(node, 1, KILN_ACT_NONE);
    if (!kiln_act_valid(d->act))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "fused activation %d is not valid", d->act);
    if (x->rank != 2)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "input has %d dims, expected 2", x->rank);
    if (wf->rank != 2 || wt->rank != 2)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "weights_feature and weights_time must have 2 dims");
    d->n_batch = x->dims[0];
    d->n_input = x->dims[1];
    d->n_filter = wf->dims[0];
    d->n_memory = wt->dims[1];
    if (wf->dims[1] != d->n_input)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "weights_feature has %d columns, input has %d",
                         wf->dims[1], d->n_input);
    if (wt->dims[0] != d->n_filter)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "weights_time has %d rows, expected %d (filters)",
                         wt->dims[0], d->n_filter);
    if (d->rank <= 0 || d->n_filter % d->rank != 0)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "rank %d does not divide the %d filters", d->rank,
                         d->n_filter);
    if (d->n_memory <= 0) return kiln_kerr(ctx, KILN_ERR_SHAPE, "memory size must be > 0");
    d->n_unit = d->n_filter / d->rank;
    kiln_status s;
    if (node->in[S_B] && (s = check_dims(ctx, node->in[S_B], 1, d->n_unit, 0, "bias"))) return s;
    if ((s = check_state(ctx, st, (int64_t)d->n_batch * d->n_filter * d->n_memory,
                         "activation_state")))
        return s;
    const int32_t od[2] = {d->n_batch, d->n_unit};
    if ((s = kiln_kresize(ctx, node->out[0], 2, od))) return s;
    *out = d;
    return KILN_OK;
}

static kiln_status svdf_prepare_f32(kiln_kctx *ctx, kiln_node *node) {
    svdf_data *d = NULL;
    kiln_status s = svdf_prepare_common(ctx, node, &d);
    if (s) return s;
    static const char *const names[5] = {"input", "weights_feature", "weights_time", "bias",
                                         "activation_state"};
    for (int32_t i = 0; i < 5; i++)
        if (node->in[i] && (s = check_type(ctx, node->in[i], KILN_FLOAT32, names[i]))) return s;
    if ((s = check_type(ctx, node->out[0], KILN_FLOAT32, "output"))) return s;
    d->scratch =
        kiln_kscratch_request(ctx, (size_t)d->n_batch * (size_t)d->n_filter * sizeof(float));
    if (d->scratch < 0) return KILN_ERR_NOMEM;
    node->data = d;
    return KILN_OK;
}

/* Shifts every batch's whole state buffer left by one element; the last slot of each filter's
 * memory is then overwritten with the newest feature activation. */
#define SVDF_SHIFT_STATE(T, st, n)                                                                 \
    do {                                                                                           \
        if ((n) > 1) memmove((st), (st) + 1, (size_t)((n)-1) * sizeof(T));                         \
    } while (0)

/* ApplyTimeWeightsBiasAndActivation: per filter the dot product of its memory with
 * weights_time, then per unit bias + the rank filters' sums (added one by one), then the
 * activation. */
static void svdf_time_bias_act(const svdf_data *d, const float *wt, const float *bias,
                               const float *st, float *scratch, float *y) {
    const int32_t nb = d->n_batch, nf = d->n_filter, nm = d->n_memory, nu = d->n_unit;
    for (int32_t b = 0; b < nb; b++)
        for (int32_t f = 0; f < nf; f++) {
            const float *w = wt + (int64_t)f * nm, *sv = st + ((int64_t)b * nf + f) * nm;
            float acc = 0.0f;
            for (int32_t j = 0; j < nm; j++)
                acc += w[j] * sv[j];
            scratch[(int64_t)b * nf + f] = acc;
        }
    for (int32_t b = 0; b < nb; b++) {
        float *yb = y + (int64_t)b * nu;
        const float *sb = scratch + (int64_t)b * nf;
        for (int32_t u = 0; u < nu; u++) {
            yb[u] = bias ? bias[u] : 0.0f;
            for (int32_t r = 0; r < d->rank; r++)
                yb[u] += sb[(int64_t)u * d->rank + r];
        }
        kiln_act_apply_vec_f32(d->act, yb, yb, nu);
    }
}

static kiln_status svdf_invoke_f32(kiln_kctx *ctx, kiln_node *node) {
    const svdf_data *d = (const svdf_data *)node->data;
    float *scratch = (float *)kiln_kscratch(ctx, d->scratch);
    const float *x = (const float *)node->in[S_IN]->data;
    const float *wf = (const float *)node->in[S_WF]->data;
    const float *wt = (const float *)node->in[S_WT]->data;
    const float *bias = node->in[S_B] ? (const float *)node->in[S_B]->data : NULL;
    float *st = (float *)node->in[S_ST]->data;
    float *y = (float *)node->out[0]->data;
    const int32_t nb = d->n_batch, nf = d->n_filter, nm = d->n_memory;
    SVDF_SHIFT_STATE(float, st, (int64_t)nb *nf *nm);
    for (int32_t b = 0; b < nb; b++)
        for (int32_t f = 0; f < nf; f++)
            st[((int64_t)b * nf + f) * nm + nm - 1] =
                0.0f +
                dot_f32(wf + (int64_t)f * d->n_input, x + (int64_t)b * d->n_input, d->n_input);
    svdf_time_bias_act(d, wt, bias, st, scratch, y);
    return KILN_OK;
}

/* Hybrid SVDF: float input, state, bias and output with int8 weights (TFLite's EvalHybridSVDF).
 * Each input row is quantized to int8 on the fly (symmetric, or asymmetric with
 * asymmetric_quantize_inputs), the feature matmul runs in int32 and is scaled back to float;
 * weights_time is dequantized (value * scale, in float) at prepare. */
static kiln_status svdf_prepare_hybrid(kiln_kctx *ctx, kiln_node *node) {
    svdf_data *d = NULL;
    kiln_status s = svdf_prepare_common(ctx, node, &d);
    if (s) return s;
    const kiln_tensor *wf = node->in[S_WF], *wt = node->in[S_WT], *b = node->in[S_B];
    if ((s = check_type(ctx, node->in[S_ST], KILN_FLOAT32, "activation_state")) ||
        (s = check_type(ctx, node->out[0], KILN_FLOAT32, "output")) ||
        (b && (s = check_type(ctx, b, KILN_FLOAT32, "bias"))))
        return s;
    if (wt->type != KILN_INT8 && wt->type != KILN_FLOAT32)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "weights_time has type %s, expected INT8",
                         kiln_dtype_name(wt->type));
    if (!wf->q.scale || wf->q.n != 1 || (wt->type == KILN_INT8 && (!wt->q.scale || wt->q.n != 1)))
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                         "hybrid SVDF weights need one (per-tensor) quantization scale");
    d->asym = kiln_opt_i8(node, 2, 0) != 0;
    d->wf_scale = wf->q.scale[0];
    const int64_t nwt = (int64_t)d->n_filter * d->n_memory;
    float *wtf = (float *)kiln_kalloc(ctx, (size_t)nwt * sizeof(float));
    if (!wtf) return KILN_ERR_NOMEM;
    for (int64_t i = 0; i < nwt; i++)
        wtf[i] = wt->type == KILN_INT8 ? (float)((const int8_t *)wt->data)[i] * wt->q.scale[0]
                                       : ((const float *)wt->data)[i];
    d->wt_f32 = wtf;
    /* float filter sums, int8 quantized input, then per-row scale and offset. */
    d->scratch =
        kiln_kscratch_request(ctx, (size_t)d->n_batch * (size_t)d->n_filter * sizeof(float) +
                                       (size_t)d->n_batch * (size_t)d->n_input + 16 +
                                       (size_t)d->n_batch * (sizeof(float) + sizeof(int32_t)));
    if (d->scratch < 0) return KILN_ERR_NOMEM;
    node->data = d;
    return KILN_OK;
}

static kiln_status svdf_invoke_hybrid(kiln_kctx *ctx, kiln_node *node) {
    const svdf_data *d = (const svdf_data *)node->data;
    const int32_t nb = d->n_batch, nf = d->n_filter, nm = d->n_memory;
    const int32_t ni = d->n_input;
    uint8_t *base = (uint8_t *)kiln_kscratch(ctx, d->scratch);
    float *fsum = (float *)base;
    float *sf = fsum + (int64_t)nb * nf;
    int32_t *off = (int32_t *)(sf + nb);
    int8_t *qx = (int8_t *)(off + nb);
    const float *x = (const float *)node->in[S_IN]->data;
    const int8_t *wf = (const int8_t *)node->in[S_WF]->data;
    const float *bias = node->in[S_B] ? (const float *)node->in[S_B]->data : NULL;
    float *st = (float *)node->in[S_ST]->data;
    float *y = (float *)node->out[0]->data;
    SVDF_SHIFT_STATE(float, st, (int64_t)nb *nf *nm);
    for (int64_t i = 0; i < (int64_t)nb * nf; i++)
        fsum[i] = 0.0f;
    int nonzero = 0;
    for (int64_t i = 0; i < (int64_t)nb * ni && !nonzero; i++)
        nonzero = x[i] != 0.0f;
    if (nonzero) {
        for (int32_t b = 0; b < nb; b++) {
            quantize_row(x + (int64_t)b * ni, ni, d->asym, qx + (int64_t)b * ni, &sf[b], &off[b]);
            sf[b] *= d->wf_scale;
        }
        for (int32_t b = 0; b < nb; b++)
            for (int32_t f = 0; f < nf; f++) {
                const int8_t *w = wf + (int64_t)f * ni, *q = qx + (int64_t)b * ni;
                int32_t acc = 0, rsum = 0;
                for (int32_t i = 0; i < ni; i++) {
                    acc = kiln_add_wrap_i32(acc, (int32_t)w[i] * (int32_t)q[i]);
                    rsum += w[i];
                }
                if (d->asym) acc = kiln_wrap_i32((int64_t)acc - (int64_t)rsum * off[b]);
                fsum[(int64_t)b * nf + f] += (float)acc * sf[b];
            }
    }
    for (int64_t i = 0; i < (int64_t)nb * nf; i++)
        st[i * nm + nm - 1] = fsum[i];
    svdf_time_bias_act(d, d->wt_f32, bias, st, fsum, y);
    return KILN_OK;
}

static kiln_status check_per_tensor(kiln_kctx *ctx, const kiln_tensor *t, int zp_zero,
                                    const char *what) {
    if (t->q.n != 1 || !t->q.scale || !(t->q.scale[0] > 0.0f))
        return kiln_kerr(ctx, KILN_ERR_MODEL,
                         "%s needs per-tensor quantization with a "
                         "positive scale",
                         what);
    if (zp_zero && t->q.zero_point && t->q.zero_point[0] != 0)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s must have zero point 0", what);
    return KILN_OK;
}

/* Full-integer SVDF: int8 input/weights_feature/output, int32 bias, and int16 (or, as TFLite
 * Micro also allows, int8) weights_time and state. Semantics: EvalIntegerSVDF; as there, the
 * fused activation is not applied (the output only saturates to int8). */
static kiln_status svdf_prepare_i8(kiln_kctx *ctx, kiln_node *node) {
    svdf_data *d = NULL;
    kiln_status s = svdf_prepare_common(ctx, node, &d);
    if (s) return s;
    const kiln_tensor *x = node->in[S_IN], *wf = node->in[S_WF], *wt = node->in[S_WT];
    const kiln_tensor *st = node->in[S_ST], *y = node->out[0], *b = node->in[S_B];
    if (wt->type != KILN_INT16 && wt->type != KILN_INT8)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                         "weights_time has type %s, expected INT16 "
                         "or INT8",
                         kiln_dtype_name(wt->type));
    if ((s = check_type(ctx, wf, KILN_INT8, "weights_feature")) ||
        (s = check_type(ctx, st, wt->type, "activation_state")) ||
        (s = check_type(ctx, y, KILN_INT8, "output")) ||
        (b && (s = check_type(ctx, b, KILN_INT32, "bias"))))
        return s;
    if ((s = check_per_tensor(ctx, x, 0, "input")) ||
        (s = check_per_tensor(ctx, wf, 1, "weights_feature")) ||
        (s = check_per_tensor(ctx, wt, 1, "weights_time")) ||
        (s = check_per_tensor(ctx, st, wt->type == KILN_INT16, "activation_state")) ||
        (s = check_per_tensor(ctx, y, 0, "output")))
        return s;
    const double s1 = (double)x->q.scale[0] * (double)wf->q.scale[0] / (double)st->q.scale[0];
    const double s2 = (double)st->q.scale[0] * (double)wt->q.scale[0] / (double)y->q.scale[0];
    int sh1 = 0, sh2 = 0;
    kiln_quantize_multiplier(s1, &d->m1, &sh1);
    kiln_quantize_multiplier(s2, &d->m2, &sh2);
    d->shift1 = sh1;
    d->shift2 = sh2;
    d->in_zp = x->q.zero_point ? x->q.zero_point[0] : 0;
    d->out_zp = y->q.zero_point ? y->q.zero_point[0] : 0;
    d->st_zp = st->q.zero_point ? st->q.zero_point[0] : 0;
    d->st16 = wt->type == KILN_INT16;
    /* int32 filter sums, then int32 unit sums. */
    d->scratch = kiln_kscratch_request(ctx, (size_t)d->n_batch * (size_t)(d->n_filter + d->n_unit) *
                                                sizeof(int32_t));
    if (d->scratch < 0) return KILN_ERR_NOMEM;
    node->data = d;
    return KILN_OK;
}

static kiln_status svdf_invoke_i8(kiln_kctx *ctx, kiln_node *node) {
    const svdf_data *d = (const svdf_data *)node->data;
    int32_t *scratch = (int32_t *)kiln_kscratch(ctx, d->scratch);
    const int32_t nb = d->n_batch, nf = d->n_filter, nm = d->n_memory, nu = d->n_unit;
    const int32_t ni = d->n_input;
    const int64_t ns = (int64_t)nb * nf * nm;
    int32_t *fsum = scratch, *usum = scratch + (int64_t)nb * nf;
    const int8_t *x = (const int8_t *)node->in[S_IN]->data;
    const int8_t *wf = (const int8_t *)node->in[S_WF]->data;
    const void *wt = node->in[S_WT]->data;
    const int32_t *bias = node->in[S_B] ? (const int32_t *)node->in[S_B]->data : NULL;
    void *st = node->in[S_ST]->data;
    int16_t *st16 = (int16_t *)st;
    int8_t *st8 = (int8_t *)st;
    int8_t *y = (int8_t *)node->out[0]->data;
    const int32_t smin = d->st16 ? -32768 : -128, smax = d->st16 ? 32767 : 127;
    if (d->st16)
        SVDF_SHIFT_STATE(int16_t, st16, ns);
    else
        SVDF_SHIFT_STATE(int8_t, st8, ns);
    for (int32_t b = 0; b < nb; b++) {
        const int8_t *xb = x + (int64_t)b * ni;
        for (int32_t f = 0; f < nf; f++) {
            const int8_t *w = wf + (int64_t)f * ni;
            int32_t acc = 0;
            for (int32_t i = 0; i < ni; i++)
                acc = kiln_add_wrap_i32(acc, (int32_t)w[i] * ((int32_t)xb[i] - d->in_zp));
            /* The state's zero point goes in before the clamp to the state type. */
            acc = kiln_add_wrap_i32(kiln_mbqm(acc, d->m1, d->shift1), d->st_zp);
            acc = kiln_clamp_i32(acc, smin, smax);
            const int64_t at = ((int64_t)b * nf + f) * nm + nm - 1;
            if (d->st16)
                st16[at] = (int16_t)acc;
            else
                st8[at] = (int8_t)acc;
        }
    }
    for (int32_t b = 0; b < nb; b++)
        for (int32_t f = 0; f < nf; f++) {
            const int64_t w0 = (int64_t)f * nm, s0 = ((int64_t)b * nf + f) * nm;
            int32_t acc = 0;
            for (int32_t j = 0; j < nm; j++) {
                const int32_t wv =
                    d->st16 ? ((const int16_t *)wt)[w0 + j] : ((const int8_t *)wt)[w0 + j];
                const int32_t sv = d->st16 ? st16[s0 + j] : st8[s0 + j];
                acc = kiln_add_wrap_i32(acc, wv * (sv - d->st_zp));
            }
            fsum[(int64_t)b * nf + f] = acc;
        }
    for (int32_t b = 0; b < nb; b++)
        for (int32_t u = 0; u < nu; u++) {
            int32_t acc = bias ? bias[u] : 0;
            for (int32_t r = 0; r < d->rank; r++)
                acc = kiln_add_wrap_i32(acc, fsum[(int64_t)b * nf + (int64_t)u * d->rank + r]);
            usum[(int64_t)b * nu + u] = acc;
        }
    for (int64_t i = 0; i < (int64_t)nb * nu; i++) {
        const int32_t v = kiln_add_wrap_i32(kiln_mbqm(usum[i], d->m2, d->shift2), d->out_zp);
        y[i] = (int8_t)kiln_clamp_i32(v, -128, 127);
    }
    return KILN_OK;
}

const kiln_kernel_reg kiln__k_rnn[] = {
    {KILN_OP_UNIDIRECTIONAL_SEQUENCE_LSTM, 1, 4, KILN_FLOAT32, KILN_ANY, lstm_prepare_f32,
     lstm_invoke_f32},
    {KILN_OP_SVDF, 1, 4, KILN_FLOAT32, KILN_FLOAT32, svdf_prepare_f32, svdf_invoke_f32},
    {KILN_OP_SVDF, 1, 4, KILN_INT8, KILN_INT8, svdf_prepare_i8, svdf_invoke_i8},
    {KILN_OP_SVDF, 1, 4, KILN_FLOAT32, KILN_INT8, svdf_prepare_hybrid, svdf_invoke_hybrid},
    {-1, 0, 0, 0, 0, NULL, NULL},
};
