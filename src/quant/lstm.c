/* lstm.c: calibration of the full-integer ("8x8_16") UNIDIRECTIONAL_SEQUENCE_LSTM. Reruns the
 * float LSTM (TFLite's LstmStepFloat, as src/kernels/ref/rnn.c computes it) on the op's input
 * during calibration and records what TFLite's calibrator logs for the op (the four gate
 * pre-activations before layer norm, the hidden o * act(c)) and the cell state at every step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "quant/internal.h"
#include "rt/fb.h"
#include "rt/model.h"

static int is_lstm(const kiln__op_def *op) {
    return op->builtin == KILN_OP_UNIDIRECTIONAL_SEQUENCE_LSTM;
}

int32_t kq_extra_stats(const kiln__subgraph_def *sg) {
    int32_t n = 0;
    for (int32_t i = 0; i < sg->n_ops; i++)
        n += is_lstm(&sg->ops[i]) ? KQ_LSTM_SLOTS : 0;
    return n;
}

int32_t kq_lstm_slot(const kiln__subgraph_def *sg, int32_t op) {
    if (op < 0 || op >= sg->n_ops || !is_lstm(&sg->ops[op])) return -1;
    int32_t k = 0;
    for (int32_t i = 0; i < op; i++)
        k += is_lstm(&sg->ops[i]);
    return sg->n_tensors + KQ_LSTM_SLOTS * k;
}

int kq_lstm_read_opts(const kiln_model *m, const kiln__op_def *op, kq_lstm_opts *lo) {
    memset(lo, 0, sizeof *lo);
    if (!op->opts) return 0;
    if (op->opts_type != KILN_OPTS_UnidirectionalSequenceLSTMOptions) return -1;
    kiln__fb f = {m->buf, m->len};
    kiln__fbt t;
    int8_t act = 0, tm = 0, asym = 0, diag = 0;
    if (kiln__fb_table(&f, (size_t)(op->opts - m->buf), &t) || kiln__fb_i8(&f, &t, 0, 0, &act) ||
        kiln__fb_f32(&f, &t, 1, 0.0f, &lo->cell_clip) ||
        kiln__fb_f32(&f, &t, 2, 0.0f, &lo->proj_clip) || kiln__fb_i8(&f, &t, 3, 0, &tm) ||
        kiln__fb_i8(&f, &t, 4, 0, &asym) || kiln__fb_i8(&f, &t, 5, 0, &diag))
        return -1;
    lo->act = act;
    lo->time_major = tm != 0;
    lo->asym = asym != 0;
    lo->diagonal = diag != 0;
    return 0;
}

static float act_f(int32_t act, float x) {
    switch (act) {
    case 1:
        return x < 0 ? 0 : x;
    case 2:
        return x < -1 ? -1 : (x > 1 ? 1 : x);
    case 3:
        return x < 0 ? 0 : (x > 6 ? 6 : x);
    case 4:
        return tanhf(x);
    case 5:
        return signbit(x) ? 1.0f : 0.0f;
    default:
        return x;
    }
}

static float sigm(float x) {
    return 1.0f / (1.0f + expf(-x));
}

/* Row i of an [rows, n] matrix times v. */
static float dot_row(const float *w, int32_t i, int32_t n, const float *v) {
    float s = 0.0f;
    const float *r = w + (int64_t)i * n;
    for (int32_t k = 0; k < n; k++)
        s += r[k] * v[k];
    return s;
}

kiln_status kq_lstm_observe(const kiln_model *m, kiln_interp *it, int32_t op, kq_lstm_sink sink,
                            void *ud) {
    const kiln__subgraph_def *sg = &m->subgraphs[0];
    const int32_t base = kq_lstm_slot(sg, op);
    if (base < 0) return KILN_OK;
    const kiln__op_def *od = &sg->ops[op];
    kq_lstm_opts lo;
    if ((od->n_in != 20 && od->n_in != 24) || kq_lstm_read_opts(m, od, &lo)) return KILN_OK;
    const float *w[24];
    int32_t dims0[3] = {0, 0, 0}, nc = 0, no = 0;
    for (int32_t k = 0; k < 24; k++) {
        w[k] = NULL;
        if (k >= od->n_in || od->inputs[k] < 0 || k == 18 || k == 19) continue;
        kiln_tensor_info ti;
        if (kiln_interp_tensor(it, od->inputs[k], &ti) != KILN_OK || ti.dtype != KILN_FLOAT32)
            return KILN_OK; /* not a float LSTM: nothing to record */
        w[k] = (const float *)ti.data;
        if (k == 0) {
            if (ti.rank != 3) return KILN_OK;
            memcpy(dims0, ti.dims, sizeof dims0);
        }
        if (k == 2 && ti.rank == 2) nc = ti.dims[0];
        if (k == 6 && ti.rank == 2) no = ti.dims[1];
    }
    if (!w[0] || !w[2] || !w[6] || !w[3] || !w[4] || !w[7] || !w[8] || nc <= 0 || no <= 0 ||
        od->inputs[18] < 0 || od->inputs[19] < 0)
        return KILN_OK;
    for (int g = 0; g < 4; g++)
        if ((!w[12 + g] && (g > 0 || w[1])) || (g == 0 && w[1] && !w[5]))
            return KILN_OK; /* the float kernel refuses these */
    const int32_t nt = lo.time_major ? dims0[0] : dims0[1];
    const int32_t nb = lo.time_major ? dims0[1] : dims0[0];
    const int32_t ni = dims0[2];
    const int cifg = !w[1], peep = w[10] != NULL, ln = w[21] != NULL, proj = w[16] != NULL;
    if (!proj && no != nc) return KILN_OK;
    float *buf = (float *)malloc(((size_t)8 * (size_t)nc + 2 * (size_t)no) * sizeof(float));
    if (!buf) return KILN_ERR_NOMEM;
    float *c = buf, *pre[4], *gate[4], *hid = buf + 5 * (int64_t)nc, *h = buf + 8 * (int64_t)nc;
    for (int g = 0; g < 4; g++)
        pre[g] = buf + (int64_t)(1 + g) * nc;
    gate[0] = hid + nc;
    gate[1] = hid + 2 * (int64_t)nc;
    gate[2] = pre[2];
    gate[3] = pre[3];
    /* each batch row runs through time on its own state (rows are independent) */
    for (int32_t b = 0; b < nb; b++) {
        /* the state after kiln_interp_reset: the variable tensors' initial data, else zeros */
        const kiln__tensor_def *hs = &sg->tensors[od->inputs[18]];
        const kiln__tensor_def *cs = &sg->tensors[od->inputs[19]];
        for (int32_t k = 0; k < no; k++)
            h[k] = hs->data && hs->data_len >= (size_t)nb * no * 4
                       ? ((const float *)hs->data)[(int64_t)b * no + k]
                       : 0.0f;
        for (int32_t k = 0; k < nc; k++)
            c[k] = cs->data && cs->data_len >= (size_t)nb * nc * 4
                       ? ((const float *)cs->data)[(int64_t)b * nc + k]
                       : 0.0f;
        for (int32_t t = 0; t < nt; t++) {
            const float *x =
                w[0] +
                (lo.time_major ? ((int64_t)t * nb + b) : ((int64_t)b * nt + t)) * (int64_t)ni;
            for (int g = 0; g < 3; g++) {
                if (g == 0 && cifg) continue;
                for (int32_t i = 0; i < nc; i++) {
                    float s = ln ? 0.0f : w[12 + g][i];
                    s += dot_row(w[1 + g], i, ni, x);
                    s += dot_row(w[5 + g], i, no, h);
                    if (peep && g < 2 && w[9 + g]) s += w[9 + g][i] * c[i];
                    pre[g][i] = s;
                }
            }
            /* cell update (the output gate's peephole sees the new cell) */
            for (int g = 0; g < 3; g++) {
                if (g == 0 && cifg) continue;
                if (ln) sink(ud, base + g, pre[g], nc);
            }
            float *v[3] = {gate[0], gate[1], gate[2]};
            for (int g = 0; g < 3; g++) {
                if (g == 0 && cifg) continue;
                float mean = 0, var = 0;
                if (ln && w[20 + g]) {
                    float sum = 0, sq = 0;
                    for (int32_t i = 0; i < nc; i++) {
                        sum += pre[g][i];
                        sq += pre[g][i] * pre[g][i];
                    }
                    mean = sum / (float)nc;
                    var = sq / (float)nc - mean * mean;
                }
                for (int32_t i = 0; i < nc; i++) {
                    float s = pre[g][i];
                    if (ln && w[20 + g])
                        s = (s - mean) / sqrtf(var + 1e-8f) * w[20 + g][i] + w[12 + g][i];
                    v[g][i] = g == 2 ? act_f(lo.act, s) : sigm(s);
                }
            }
            for (int32_t i = 0; i < nc; i++) {
                const float ig = cifg ? 1.0f - v[1][i] : v[0][i];
                c[i] = v[1][i] * c[i] + ig * v[2][i];
                if (lo.cell_clip > 0)
                    c[i] = c[i] > lo.cell_clip ? lo.cell_clip
                                               : (c[i] < -lo.cell_clip ? -lo.cell_clip : c[i]);
            }
            sink(ud, base + 5, c, nc);
            for (int32_t i = 0; i < nc; i++) {
                float s = ln ? 0.0f : w[15][i];
                s += dot_row(w[4], i, ni, x);
                s += dot_row(w[8], i, no, h);
                if (peep && w[11]) s += w[11][i] * c[i];
                pre[3][i] = s;
            }
            if (ln) sink(ud, base + 3, pre[3], nc);
            float mean = 0, var = 0;
            if (ln && w[23]) {
                float sum = 0, sq = 0;
                for (int32_t i = 0; i < nc; i++) {
                    sum += pre[3][i];
                    sq += pre[3][i] * pre[3][i];
                }
                mean = sum / (float)nc;
                var = sq / (float)nc - mean * mean;
            }
            for (int32_t i = 0; i < nc; i++) {
                float s = pre[3][i];
                if (ln && w[23]) s = (s - mean) / sqrtf(var + 1e-8f) * w[23][i] + w[15][i];
                hid[i] = sigm(s) * act_f(lo.act, c[i]);
            }
            sink(ud, base + 4, hid, nc);
            if (proj) {
                for (int32_t o = 0; o < no; o++) {
                    float s = w[17] ? w[17][o] : 0.0f;
                    s += dot_row(w[16], o, nc, hid);
                    if (lo.proj_clip > 0)
                        s = s > lo.proj_clip ? lo.proj_clip
                                             : (s < -lo.proj_clip ? -lo.proj_clip : s);
                    h[o] = s;
                }
            } else {
                memcpy(h, hid, (size_t)nc * sizeof(float));
            }
        }
    }
    free(buf);
    return KILN_OK;
}
