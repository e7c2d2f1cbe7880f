/* refine.c: end-to-end rounding refinement of small int8 models (the quantizer's last step).
 * Rounding each weight to nearest and each activation to its grid leaves errors that add up
 * through the layers; on a small model (hello_world: 1-16-16-1) they reach several output
 * steps. This step tunes the integer weights and the int32 biases by coordinate descent against
 * the float model, in Kiln's exact integer arithmetic. Scales, zero points and the file layout
 * are unchanged; the model follows every TFLite rule as before. A model with one scalar int8
 * input feeding a chain of FULLY_CONNECTED layers is fitted over all 256 input codes (its whole
 * input space), minimising the largest error; other small models over the calibration samples.
 * In the spirit of AdaRound (Nagel et al. 2020) and bias correction, applied end to end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/quant.h"
#include "quant/internal.h"
#include "rt/fb.h"
#include "rt/model.h"

/* Work limits: parameters tried, and parameter x sample evaluations per sweep. Larger models
 * keep round-to-nearest (their per-weight errors average out far better anyway). */
#define KQ_REFINE_MAX_PARAMS 4096
#define KQ_REFINE_MAX_WORK 4000000
#define KQ_REFINE_SWEEPS 8
#define KQ_REFINE_MAX_INVOKES 200000 /* model runs in all (a few seconds on a small model) */

typedef struct rparam {
    void *p;      /* int8 weight or int32 bias in the quantized model's buffer */
    int32_t bias; /* 1: int32 bias */
} rparam;

typedef struct rctx {
    kiln_interp *it;
    const kiln_quantize_options *o;
    int64_t ns, nout;
    const float *ref; /* float model's output 0, ns x nout */
    float *tmp;
    double out_scale;
} rctx;

/* Whether another tensor of sg points at tensor t's data (the writer stores identical buffers
 * once): such a buffer is left as it is. */
static int shares_buffer(const kiln__subgraph_def *sg, int32_t t) {
    for (int32_t k = 0; k < sg->n_tensors; k++)
        if (k != t && sg->tensors[k].data == sg->tensors[t].data) return 1;
    return 0;
}

/* FULLY_CONNECTED fused activation (options field 0) when its weights format (field 1) is the
 * default one; -1 otherwise or when unreadable. */
static int fc_act(const kiln_model *m, const kiln__op_def *op) {
    int8_t act = 0, fmt = 0;
    if (!op->opts) return 0;
    kiln__fb f = {m->buf, m->len};
    kiln__fbt t;
    if (kiln__fb_table(&f, (size_t)(op->opts - m->buf), &t) || kiln__fb_i8(&f, &t, 0, 0, &act) ||
        kiln__fb_i8(&f, &t, 1, 0, &fmt) || fmt != 0)
        return -1;
    return act;
}

/* Error of the quantized model over the samples: 10 x the largest error plus the mean squared
 * error, both in output steps (the largest error matters most for a function approximator, the
 * mean keeps the descent moving when the largest one does not change). */
static int objective(rctx *c, double bound, double *obj) {
    double mx = 0, sq = 0;
    const double n = (double)(c->ns * c->nout);
    for (int64_t s = 0; s < c->ns; s++) {
        /* both terms only grow: once past the bound the change is rejected anyway */
        if (10 * mx + sq / n >= bound) {
            *obj = 10 * mx + sq / n;
            return 0;
        }
        char err[64];
        if (kq_set_inputs(c->it, s, c->o, c->tmp, err, sizeof err) != KILN_OK) return -1;
        if (kiln_interp_invoke(c->it) != KILN_OK) return -1;
        kiln_tensor_info ti;
        if (kiln_interp_output(c->it, 0, &ti) != KILN_OK) return -1;
        for (int64_t k = 0; k < c->nout; k++) {
            double v;
            if (ti.dtype == KILN_FLOAT32)
                v = ((const float *)ti.data)[k];
            else if (ti.dtype == KILN_INT8)
                v = (((const int8_t *)ti.data)[k] - ti.zero_point[0]) * (double)ti.scale[0];
            else if (ti.dtype == KILN_UINT8)
                v = (((const uint8_t *)ti.data)[k] - ti.zero_point[0]) * (double)ti.scale[0];
            else
                return -1;
            const double e = fabs(v - c->ref[s * c->nout + k]) / c->out_scale;
            mx = e > mx ? e : mx;
            sq += e * e;
        }
    }
    *obj = 10 * mx + sq / n;
    return 0;
}

/* The scale of output 0 in the quantized model: the output's own, or that of the int8 tensor
 * its DEQUANTIZE reads. 0 when there is none. */
static double output_scale(const kiln_model *qm) {
    const kiln__subgraph_def *sg = &qm->subgraphs[0];
    const int32_t t = sg->outputs[0];
    if (sg->tensors[t].q.n > 0) return sg->tensors[t].q.scale[0];
    for (int32_t i = 0; i < sg->n_ops; i++) {
        const kiln__op_def *op = &sg->ops[i];
        if (op->builtin == KILN_OP_DEQUANTIZE && op->n_out && op->outputs[0] == t &&
            op->n_in && op->inputs[0] >= 0 && sg->tensors[op->inputs[0]].q.n > 0)
            return sg->tensors[op->inputs[0]].q.scale[0];
    }
    return 0;
}

/* ---- Scalar-input models: minimax over the whole input space
 * A model whose input is one int8 value (hello_world) can only ever see 256 inputs. For a chain of
 * int8 FULLY_CONNECTED layers this path evaluates the integer model exactly on every one of them,
 * in both integer dialects (TFLite Micro / reference: MultiplyByQuantizedMultiplier; LiteRT with
 * XNNPACK: fp32 requantization), against the float model fed the same (dequantized) input, and
 * minimises the largest error first (ties: the sum of error^4), by coordinate descent and then
 * perturb-and-descend rounds (iterated local search) within a fixed work budget. A change of one
 * weight or bias updates cached accumulators instead of rerunning the model: hello_world's 80000
 * candidate models take about a second. */

#define KQ_GRID_MAX_LAYERS 8
#define KQ_GRID_MAX_UNITS 64
#define KQ_GRID_MAX_PASSES 40
#define KQ_GRID_MAX_EVALS 80000 /* candidate models evaluated in all (about 1 s) */
#define KQ_GRID_TIE_POWER 4     /* ties of the largest error: the smaller sum of error^4 wins */
#define KQ_GRID_KICK 4          /* parameters moved per perturbation */
#define KQ_GRID_KICKS 400       /* perturb-and-descend rounds at most */

typedef struct fcl {
    int32_t depth, units, in_zp, out_zp;
    int8_t *w;  /* units x depth, in the quantized model's buffer */
    uint8_t *b; /* int32 biases (unaligned), NULL when the layer has none */
    int32_t mult[KQ_GRID_MAX_UNITS], shift[KQ_GRID_MAX_UNITS];
    float fscale[KQ_GRID_MAX_UNITS];
    int32_t lo[2], hi[2]; /* activation range: [0] reference, [1] XNNPACK */
    int32_t bstep;        /* accumulator units per output step */
} fcl;

typedef struct gctx {
    int32_t nl, nc, nout;
    fcl l[KQ_GRID_MAX_LAYERS];
    double *refq; /* float model's output in output steps (+ zero point), nc x nout */
    int8_t *act;  /* layer inputs (layer nl: outputs) per dialect and code */
    int64_t *acc; /* accumulators per dialect, layer and code */
    double *err;  /* largest output error per dialect and code */
    int64_t evals;
    int nad; /* dialects the objective counts (2: both) */
} gctx;

static int8_t *gact(const gctx *g, int a, int32_t l, int32_t s) {
    return g->act + (((size_t)a * (size_t)(g->nl + 1) + (size_t)l) * (size_t)g->nc + (size_t)s) *
                        KQ_GRID_MAX_UNITS;
}

static int64_t *gaccp(const gctx *g, int a, int32_t l, int32_t s) {
    return g->acc + (((size_t)a * (size_t)g->nl + (size_t)l) * (size_t)g->nc + (size_t)s) *
                        KQ_GRID_MAX_UNITS;
}

static int32_t gbias(const fcl *L, int32_t u) {
    int32_t v = 0;
    if (L->b) memcpy(&v, L->b + (size_t)u * 4, 4);
    return v;
}

static void gset_bias(fcl *L, int32_t u, int32_t v) {
    memcpy(L->b + (size_t)u * 4, &v, 4);
}

/* Accumulator of one output (exact; the kernels wrap it to int32 before requantizing). */
static int64_t gdot(const fcl *L, const int8_t *x, int32_t u) {
    int64_t acc = gbias(L, u);
    const int8_t *w = L->w + (size_t)u * (size_t)L->depth;
    for (int32_t j = 0; j < L->depth; j++)
        acc += (int32_t)w[j] * ((int32_t)x[j] - L->in_zp);
    return acc;
}

/* Requantization of one output, exactly as the dialect's int8 FULLY_CONNECTED kernel does it. */
static int32_t grq(const fcl *L, int a, int64_t acc, int32_t u) {
    if (a == 1)
        return kiln_requant_fp32(kiln_wrap_i32(acc), L->fscale[u], L->out_zp, L->lo[1], L->hi[1]);
    const int32_t v = kiln_add_wrap_i32(kiln_mbqm(kiln_wrap_i32(acc), L->mult[u], L->shift[u]),
                                        L->out_zp);
    return kiln_clamp_i32(v, L->lo[0], L->hi[0]);
}

/* Largest error of the outputs y of code s, in output steps. */
static double gerr_out(const gctx *g, int32_t s, const int8_t *y) {
    double mx = 0;
    for (int32_t k = 0; k < g->nout; k++) {
        const double e = fabs((double)y[k] - g->refq[(size_t)s * (size_t)g->nout + (size_t)k]);
        mx = e > mx ? e : mx;
    }
    return mx;
}

/* Runs layers l..nl-1 from x (layer l's input); returns the largest output error. */
static double gforward(const gctx *g, int a, int32_t s, int32_t l, const int8_t *x) {
    int8_t buf[2][KQ_GRID_MAX_UNITS];
    const int8_t *cur = x;
    for (int32_t k = l; k < g->nl; k++) {
        int8_t *dst = buf[k & 1];
        for (int32_t u = 0; u < g->l[k].units; u++)
            dst[u] = (int8_t)grq(&g->l[k], a, gdot(&g->l[k], cur, u), u);
        cur = dst;
    }
    return gerr_out(g, s, cur);
}

/* Recomputes the cached accumulators, activations and errors from layer l on. */
static void grefresh(gctx *g, int32_t l) {
    for (int a = 0; a < 2; a++)
        for (int32_t s = 0; s < g->nc; s++) {
            for (int32_t k = l; k < g->nl; k++) {
                const int8_t *x = gact(g, a, k, s);
                int8_t *y = gact(g, a, k + 1, s);
                int64_t *acc = gaccp(g, a, k, s);
                for (int32_t u = 0; u < g->l[k].units; u++) {
                    acc[u] = gdot(&g->l[k], x, u);
                    y[u] = (int8_t)grq(&g->l[k], a, acc[u], u);
                }
            }
            g->err[(size_t)a * (size_t)g->nc + (size_t)s] = gerr_out(g, s, gact(g, a, g->nl, s));
        }
}

/* p > 0: e^p; p < 0: (e - t)^2 above the target t = -p / 100, 0 below. */
static double gpow(double e, int p) {
    if (p < 0) {
        const double t = -p / 100.0;
        return e > t ? (e - t) * (e - t) : 0;
    }
    double r = 1;
    for (int i = 0; i < p; i++)
        r *= e;
    return r;
}

/* The objective after weight j (j < 0: the bias) of unit u of layer l changed by delta (already
 * written into the model): the largest error over codes and dialects and the sum of the
 * per-code errors raised to the power p. Stops early (returns 0) once the largest error
 * exceeds maxb or the sum exceeds sumb. */
static int gobjective(gctx *g, int32_t l, int32_t u, int32_t j, int32_t delta, int p,
                      double maxb, double sumb, double *omax, double *osum) {
    double mx = 0, sum = 0;
    const fcl *L = &g->l[l];
    g->evals++;
    for (int32_t s = 0; s < g->nc; s++)
        for (int a = 0; a < g->nad; a++) {
            const int8_t *x = gact(g, a, l, s), *y = gact(g, a, l + 1, s);
            const int64_t nacc =
                gaccp(g, a, l, s)[u] + (int64_t)delta * (j < 0 ? 1 : (x[j] - L->in_zp));
            const int32_t v = grq(L, a, nacc, u);
            double e;
            int8_t t[KQ_GRID_MAX_UNITS];
            if (v == y[u]) {
                e = g->err[(size_t)a * (size_t)g->nc + (size_t)s];
            } else if (l == g->nl - 1) {
                memcpy(t, y, (size_t)g->nout);
                t[u] = (int8_t)v;
                e = gerr_out(g, s, t);
            } else {
                /* the next layer: only input u moved */
                const fcl *N = &g->l[l + 1];
                const int64_t *nacc2 = gaccp(g, a, l + 1, s);
                const int32_t dv = v - y[u];
                for (int32_t k = 0; k < N->units; k++)
                    t[k] = (int8_t)grq(N, a,
                                       nacc2[k] + (int64_t)N->w[(size_t)k * (size_t)N->depth +
                                                                (size_t)u] *
                                                      dv,
                                       k);
                e = l + 1 == g->nl - 1 ? gerr_out(g, s, t) : gforward(g, a, s, l + 2, t);
            }
            mx = e > mx ? e : mx;
            sum += gpow(e, p);
            if (mx > maxb || sum > sumb) return 0;
        }
    *omax = mx;
    *osum = sum;
    return 1;
}

/* Largest error and sum of error^p of the cached state. */
static void gscore(const gctx *g, int p, double *mx, double *sum) {
    *mx = 0;
    *sum = 0;
    for (int32_t c = 0; c < g->nad * g->nc; c++) {
        *mx = g->err[c] > *mx ? g->err[c] : *mx;
        *sum += gpow(g->err[c], p);
    }
}

/* Coordinate descent over every weight (+-1, +-2) and bias (+-1 up to +-2 output steps), a step
 * repeated while it helps. p > 1: minimises the sum of error^p; p = 1: the largest error, then
 * the sum of error^KQ_GRID_TIE_POWER. Deterministic: fixed order, fixed work limit. */
static void gdescend(gctx *g, int p) {
    double bmax, bsum;
    gscore(g, p == 1 ? KQ_GRID_TIE_POWER : p, &bmax, &bsum);
    for (int pass = 0; pass < KQ_GRID_MAX_PASSES && g->evals < KQ_GRID_MAX_EVALS; pass++) {
        int64_t improved = 0;
        for (int32_t l = 0; l < g->nl; l++) {
            fcl *L = &g->l[l];
            for (int32_t u = 0; u < L->units; u++)
                for (int32_t j = -1; j < L->depth; j++) {
                    if (j < 0 && !L->b) continue;
                    const int32_t bs = L->bstep;
                    const int32_t bsteps[] = {1, -1, bs / 16, -(bs / 16), bs / 4, -(bs / 4),
                                              bs, -bs, 2 * bs, -2 * bs};
                    const int32_t wsteps[] = {1, -1, 2, -2};
                    const int32_t *steps = j < 0 ? bsteps : wsteps;
                    const int ns = j < 0 ? 10 : 4;
                    int8_t *wp = j < 0 ? NULL : L->w + (size_t)u * (size_t)L->depth + (size_t)j;
                    for (int k = 0; k < ns; k++) {
                        if (steps[k] == 0 || (k >= 2 && j < 0 && abs(steps[k]) <= 1)) continue;
                        for (;;) {
                            int64_t old, nv;
                            if (j < 0) {
                                old = gbias(L, u);
                                nv = old + steps[k];
                                if (nv > INT32_MAX / 2 || nv < INT32_MIN / 2) break;
                                gset_bias(L, u, (int32_t)nv);
                            } else {
                                old = *wp;
                                nv = old + steps[k];
                                if (nv > 127 || nv < -127) break;
                                *wp = (int8_t)nv;
                            }
                            double mx, sm;
                            const int ok =
                                p == 1 ? gobjective(g, l, u, j, steps[k], KQ_GRID_TIE_POWER, bmax + 1e-9,
                                                    INFINITY, &mx, &sm)
                                       : gobjective(g, l, u, j, steps[k], p, INFINITY, bsum, &mx,
                                                    &sm);
                            if (ok && (p == 1 ? (mx < bmax - 1e-9 || sm < bsum - 1e-9)
                                              : sm < bsum * (1 - 1e-12) - 1e-15)) {
                                bmax = mx;
                                bsum = sm;
                                improved++;
                                grefresh(g, l);
                                continue;
                            }
                            if (j < 0)
                                gset_bias(L, u, (int32_t)old);
                            else
                                *wp = (int8_t)old;
                            break;
                        }
                    }
                }
        }
        if (!improved) break;
    }
}

/* Copies every weight and bias of the chain to (dir 0) or from (dir 1) buf. */
static void gsnap(gctx *g, uint8_t *buf, int dir) {
    for (int32_t l = 0; l < g->nl; l++) {
        fcl *L = &g->l[l];
        const size_t nw = (size_t)L->units * (size_t)L->depth, nb = L->b ? (size_t)L->units * 4 : 0;
        if (dir == 0) {
            memcpy(buf, L->w, nw);
            if (nb) memcpy(buf + nw, L->b, nb);
        } else {
            memcpy(L->w, buf, nw);
            if (nb) memcpy(L->b, buf + nw, nb);
        }
        buf += nw + nb;
    }
}

/* Iterated local search: descend, then repeatedly move a few random parameters (a fixed-seed
 * generator: the result is deterministic) and descend again, keeping the best model. */
static kiln_status gsearch(gctx *g, size_t nparam_bytes) {
    uint8_t *best = (uint8_t *)malloc(nparam_bytes);
    if (!best) return KILN_ERR_NOMEM;
    g->nad = 2;
    gdescend(g, 1);
    double bmax, bsum;
    gscore(g, KQ_GRID_TIE_POWER, &bmax, &bsum);
    gsnap(g, best, 0);
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    int32_t nw = 0;
    for (int32_t l = 0; l < g->nl; l++)
        nw += g->l[l].units * (g->l[l].depth + 1);
    for (int kick = 0; kick < KQ_GRID_KICKS && g->evals < KQ_GRID_MAX_EVALS; kick++) {
        for (int m = 0; m < KQ_GRID_KICK; m++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            int32_t r = (int32_t)((rng >> 33) % (uint64_t)nw);
            const int32_t sgn = (rng >> 20) & 1 ? 1 : -1;
            int32_t l = 0;
            while (r >= g->l[l].units * (g->l[l].depth + 1)) {
                r -= g->l[l].units * (g->l[l].depth + 1);
                l++;
            }
            fcl *L = &g->l[l];
            const int32_t u = r / (L->depth + 1), j = r % (L->depth + 1) - 1;
            if (j < 0) {
                if (L->b) gset_bias(L, u, gbias(L, u) + sgn * (L->bstep / 2 + 1));
            } else {
                int8_t *wp = L->w + (size_t)u * (size_t)L->depth + (size_t)j;
                const int32_t nv = *wp + sgn;
                if (nv >= -127 && nv <= 127) *wp = (int8_t)nv;
            }
        }
        grefresh(g, 0);
        gdescend(g, 1);
        double mx, sm;
        gscore(g, KQ_GRID_TIE_POWER, &mx, &sm);
        if (mx < bmax - 1e-9 || (mx < bmax + 1e-9 && sm < bsum - 1e-9)) {
            bmax = mx;
            bsum = sm;
            gsnap(g, best, 0);
        } else {
            gsnap(g, best, 1);
        }
    }
    gsnap(g, best, 1);
    grefresh(g, 0);
    free(best);
    return KILN_OK;
}

/* Reads layer k's FULLY_CONNECTED into L; 0 when it is not a plain int8 one this path handles. */
static int gread_layer(const kiln_model *qm, const kiln__op_def *op, uint8_t *qbuf, fcl *L) {
    const kiln__subgraph_def *sg = &qm->subgraphs[0];
    if (op->builtin != KILN_OP_FULLY_CONNECTED || op->n_in < 2 || op->n_out < 1 ||
        op->inputs[0] < 0 || op->inputs[1] < 0 || op->outputs[0] < 0)
        return 0;
    const kiln__tensor_def *x = &sg->tensors[op->inputs[0]], *w = &sg->tensors[op->inputs[1]];
    const kiln__tensor_def *y = &sg->tensors[op->outputs[0]];
    const kiln__tensor_def *b = op->n_in > 2 && op->inputs[2] >= 0 ? &sg->tensors[op->inputs[2]]
                                                                   : NULL;
    if (x->type != KILN_INT8 || w->type != KILN_INT8 || y->type != KILN_INT8 || !w->data ||
        w->rank != 2 || x->q.n < 1 || y->q.n < 1 || w->q.n < 1)
        return 0;
    L->units = w->dims[0];
    L->depth = w->dims[1];
    if (L->units < 1 || L->units > KQ_GRID_MAX_UNITS || L->depth < 1 ||
        L->depth > KQ_GRID_MAX_UNITS || (size_t)L->units * (size_t)L->depth != w->data_len)
        return 0;
    if (w->q.n != 1 && w->q.n != L->units) return 0;
    if (b && (b->type != KILN_INT32 || !b->data || b->data_len != (size_t)L->units * 4)) return 0;
    if (shares_buffer(sg, op->inputs[1]) || (b && shares_buffer(sg, op->inputs[2]))) return 0;
    const int act = fc_act(qm, op); /* NONE, RELU, RELU_N1_TO_1, RELU6 */
    if (act < 0 || act > 3) return 0;
    for (int32_t i = 0; i < w->q.n; i++)
        if (w->q.zero_point && w->q.zero_point[i] != 0) return 0;
    L->w = (int8_t *)(qbuf + (w->data - qm->buf));
    L->b = b ? qbuf + (b->data - qm->buf) : NULL;
    L->in_zp = x->q.zero_point[0];
    L->out_zp = y->q.zero_point[0];
    const float xs = x->q.scale[0], ys = y->q.scale[0];
    double minreal = INFINITY;
    for (int32_t u = 0; u < L->units; u++) {
        const float ws = w->q.scale[w->q.n > 1 ? u : 0];
        const double real = (double)xs * (double)ws / (double)ys;
        int sh = 0;
        kiln_quantize_multiplier(real, &L->mult[u], &sh);
        L->shift[u] = sh;
        L->fscale[u] = kiln_xnn_scale(xs, ws, ys);
        if (!(L->fscale[u] >= 0x1p-32f && L->fscale[u] < 256.0f)) return 0;
        minreal = real < minreal ? real : minreal;
    }
    kiln_act_range_q(act, ys, L->out_zp, -128, 127, &L->lo[0], &L->hi[0]);
    kiln_act_range_xnn(act, ys, L->out_zp, -128, 127, &L->lo[1], &L->hi[1]);
    const double st = 1.0 / minreal;
    L->bstep = st < 1 ? 1 : (st > 1e8 ? 100000000 : (int32_t)st);
    return 1;
}

/* Sets input 0 of a running model to int8 code c (float inputs: its dequantized value). */
static void gset_input(kiln_interp *it, int32_t c, double in_s, int32_t in_zp) {
    kiln_tensor_info ti;
    kiln_interp_input(it, 0, &ti);
    if (ti.dtype == KILN_INT8)
        *(int8_t *)ti.data = (int8_t)c;
    else
        *(float *)ti.data = (float)((c - in_zp) * in_s);
}

/* Output 0 of a model that ran, in steps of scale out_s from out_zp (int8 or float output). */
static int gget_output(kiln_interp *it, double out_s, int32_t out_zp, double *v) {
    kiln_tensor_info ti;
    if (kiln_interp_output(it, 0, &ti) != KILN_OK) return -1;
    if (ti.dtype == KILN_INT8)
        *v = ((const int8_t *)ti.data)[0];
    else if (ti.dtype == KILN_FLOAT32)
        *v = ((const float *)ti.data)[0] / out_s + out_zp;
    else
        return -1;
    return 0;
}

/* The grid path. *handled = 0 when the model is not a scalar-input FULLY_CONNECTED chain (the
 * caller then uses the calibration samples). */
static kiln_status refine_grid(const kiln_model *fm, const kiln_model *qm, uint8_t *qbuf,
                               int *handled, char *err, size_t errlen) {
    *handled = 0;
    const kiln__subgraph_def *sg = &qm->subgraphs[0];
    if (qm->n_subgraphs != 1 || sg->n_inputs != 1 || sg->n_outputs != 1 || sg->n_ops < 1)
        return KILN_OK;
    gctx g;
    memset(&g, 0, sizeof g);
    int32_t i0 = 0, i1 = sg->n_ops;
    int32_t xin = sg->inputs[0];
    if (xin < 0 || xin >= sg->n_tensors) return KILN_OK;
    if (sg->ops[0].builtin == KILN_OP_QUANTIZE) {
        if (sg->ops[0].n_in < 1 || sg->ops[0].inputs[0] != xin || sg->ops[0].n_out < 1)
            return KILN_OK;
        xin = sg->ops[0].outputs[0];
        i0 = 1;
    }
    int32_t yout = sg->outputs[0];
    if (sg->ops[i1 - 1].builtin == KILN_OP_DEQUANTIZE) {
        if (sg->ops[i1 - 1].n_out < 1 || sg->ops[i1 - 1].outputs[0] != yout ||
            sg->ops[i1 - 1].n_in < 1)
            return KILN_OK;
        yout = sg->ops[i1 - 1].inputs[0];
        i1--;
    }
    if (i1 - i0 < 1 || i1 - i0 > KQ_GRID_MAX_LAYERS || xin < 0 || yout < 0) return KILN_OK;
    const kiln__tensor_def *xt = &sg->tensors[xin], *yt = &sg->tensors[yout];
    if (xt->type != KILN_INT8 || xt->q.n < 1 || yt->type != KILN_INT8 || yt->q.n < 1)
        return KILN_OK;
    int64_t xn = 1;
    for (int32_t d = 0; d < xt->rank; d++)
        xn *= xt->dims[d];
    if (xn != 1) return KILN_OK;
    int32_t cur = xin;
    for (int32_t k = i0; k < i1; k++) {
        const kiln__op_def *op = &sg->ops[k];
        if (op->n_in < 1 || op->inputs[0] != cur || !gread_layer(qm, op, qbuf, &g.l[k - i0]))
            return KILN_OK;
        if (k > i0 && g.l[k - i0].depth != g.l[k - i0 - 1].units) return KILN_OK;
        cur = op->outputs[0];
    }
    g.nl = i1 - i0;
    if (cur != yout || g.l[0].depth != 1) return KILN_OK;
    g.nc = 256;
    g.nout = g.l[g.nl - 1].units;
    const double in_s = xt->q.scale[0], out_s = yt->q.scale[0];
    const int32_t in_zp = xt->q.zero_point[0], out_zp = yt->q.zero_point[0];

    kiln_status s = KILN_OK;
    kiln_interp *fi = NULL, *qi[2] = {NULL, NULL};
    uint8_t *saved = NULL;
    g.refq = (double *)malloc((size_t)g.nc * (size_t)g.nout * sizeof(double));
    g.act = (int8_t *)calloc((size_t)2 * (size_t)(g.nl + 1) * (size_t)g.nc * KQ_GRID_MAX_UNITS, 1);
    g.err = (double *)malloc((size_t)2 * (size_t)g.nc * sizeof(double));
    g.acc = (int64_t *)calloc((size_t)2 * (size_t)g.nl * (size_t)g.nc * KQ_GRID_MAX_UNITS,
                              sizeof(int64_t));
    saved = (uint8_t *)malloc(qm->len);
    if (!g.refq || !g.act || !g.err || !g.acc || !saved) {
        s = KILN_ERR_NOMEM;
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    memcpy(saved, qbuf, qm->len);
    {
        /* the float model's output on every input code */
        kiln_interp_options io;
        kiln_interp_options_init(&io);
        io.arith = KILN_ARITH_TFLM;
        if ((s = kiln_interp_create(fm, &io, &fi, err, errlen)) != KILN_OK) goto done;
        kiln_tensor_info ti, to;
        kiln_interp_input(fi, 0, &ti);
        kiln_interp_output(fi, 0, &to);
        if (ti.dtype != KILN_FLOAT32 || ti.bytes != 4 || to.dtype != KILN_FLOAT32 ||
            to.bytes != (size_t)g.nout * 4)
            goto done; /* not handled */
        for (int32_t c = 0; c < g.nc; c++) {
            *(float *)ti.data = (float)((c - 128 - in_zp) * in_s);
            if (kiln_interp_invoke(fi) != KILN_OK) goto done;
            kiln_interp_output(fi, 0, &to);
            for (int32_t k = 0; k < g.nout; k++)
                g.refq[(size_t)c * (size_t)g.nout + k] =
                    (double)((const float *)to.data)[k] / out_s + out_zp;
            for (int a = 0; a < 2; a++)
                gact(&g, a, 0, c)[0] = (int8_t)(c - 128);
        }
    }
    grefresh(&g, 0);
    {
        size_t nb = 0;
        for (int32_t l = 0; l < g.nl; l++)
            nb += (size_t)g.l[l].units * ((size_t)g.l[l].depth + (g.l[l].b ? 4 : 0));
        if ((s = gsearch(&g, nb)) != KILN_OK) {
            snprintf(err, errlen, "out of memory");
            goto done;
        }
    }
    /* the result must be what Kiln's interpreter computes in both dialects; otherwise keep the
     * model as it came */
    for (int a = 0; a < 2; a++) {
        kiln_interp_options io;
        kiln_interp_options_init(&io);
        io.arith = a ? KILN_ARITH_LITERT : KILN_ARITH_TFLM;
        if ((s = kiln_interp_create(qm, &io, &qi[a], err, errlen)) != KILN_OK) goto done;
    }
    int same = 1;
    for (int a = 0; a < 2 && same; a++)
        for (int32_t c = 0; c < g.nc && same; c++) {
            double v;
            gset_input(qi[a], c - 128, in_s, in_zp);
            if (kiln_interp_invoke(qi[a]) != KILN_OK ||
                gget_output(qi[a], out_s, out_zp, &v) != 0 ||
                fabs(v - gact(&g, a, g.nl, c)[0]) > 1e-3)
                same = 0;
        }
    if (!same) {
        memcpy(qbuf, saved, qm->len);
        goto done;
    }
    *handled = 1;
done:
    for (int a = 0; a < 2; a++)
        if (qi[a]) kiln_interp_destroy(qi[a]);
    if (fi) kiln_interp_destroy(fi);
    free(g.refq);
    free(g.act);
    free(g.err);
    free(g.acc);
    free(saved);
    return s;
}

/* ---- Range equalisation before quantizing a scalar-input FULLY_CONNECTED chain
 * A ReLU unit scaled by a > 0, with the next layer's weights from it divided by a, leaves the
 * float function as it was (cross-layer equalisation, Nagel et al. 2019). In int8 every hidden
 * unit of a layer shares one activation scale, set by the widest unit: a unit with a tenth of
 * that range keeps about 25 levels, and its rounding error, weighted by the next layer, is what
 * limits a small function approximator like hello_world. Scaling every live unit of a ReLU
 * layer up to the widest range (with per-channel weights, so a scaled row costs no precision)
 * halves the activation rounding noise at the output there. */

/* Constant float data of tensor t when no other tensor shares its buffer, else NULL. */
static const float *fc_const(const kiln__subgraph_def *sg, int32_t t, size_t n) {
    if (t < 0 || t >= sg->n_tensors) return NULL;
    const kiln__tensor_def *d = &sg->tensors[t];
    if (d->type != KILN_FLOAT32 || !d->data || d->data_len != n * 4 ||
        ((uintptr_t)d->data & 3) || shares_buffer(sg, t))
        return NULL;
    return (const float *)(const void *)d->data;
}

kiln_status kq_equalize(const kiln_model *m, const kiln_quantize_options *o, uint8_t **out,
                        size_t *out_len, char *err, size_t errlen) {
    *out = NULL;
    *out_len = 0;
    const int64_t ns = kq_num_samples(o);
    if (!o->calib || o->calib_random || ns <= 0 || m->n_subgraphs != 1) return KILN_OK;
    const kiln__subgraph_def *sg = &m->subgraphs[0];
    const int32_t nl = sg->n_ops;
    if (sg->n_inputs != 1 || sg->n_outputs != 1 || nl < 2 || nl > KQ_GRID_MAX_LAYERS)
        return KILN_OK;
    const float *w[KQ_GRID_MAX_LAYERS], *b[KQ_GRID_MAX_LAYERS];
    int32_t units[KQ_GRID_MAX_LAYERS], depth[KQ_GRID_MAX_LAYERS], act[KQ_GRID_MAX_LAYERS];
    int32_t cur = sg->inputs[0];
    if (cur < 0 || cur >= sg->n_tensors || sg->tensors[cur].type != KILN_FLOAT32) return KILN_OK;
    int64_t xn = 1;
    for (int32_t d = 0; d < sg->tensors[cur].rank; d++)
        xn *= sg->tensors[cur].dims[d];
    if (xn != 1) return KILN_OK;
    for (int32_t l = 0; l < nl; l++) {
        const kiln__op_def *op = &sg->ops[l];
        if (op->builtin != KILN_OP_FULLY_CONNECTED || op->n_in < 2 || op->n_out != 1 ||
            op->inputs[0] != cur || op->inputs[1] < 0 || op->inputs[1] >= sg->n_tensors)
            return KILN_OK;
        const kiln__tensor_def *wt = &sg->tensors[op->inputs[1]];
        if (wt->rank != 2) return KILN_OK;
        units[l] = wt->dims[0];
        depth[l] = wt->dims[1];
        if (units[l] < 1 || units[l] > KQ_GRID_MAX_UNITS || depth[l] < 1 ||
            depth[l] != (l ? units[l - 1] : 1))
            return KILN_OK;
        w[l] = fc_const(sg, op->inputs[1], (size_t)units[l] * (size_t)depth[l]);
        b[l] = op->n_in > 2 && op->inputs[2] >= 0 ? fc_const(sg, op->inputs[2], (size_t)units[l])
                                                  : NULL;
        act[l] = fc_act(m, op);
        if (!w[l] || (op->n_in > 2 && op->inputs[2] >= 0 && !b[l]) || act[l] < 0) return KILN_OK;
        cur = op->outputs[0];
    }
    if (cur != sg->outputs[0]) return KILN_OK;
    /* the range of every hidden unit over the calibration samples */
    double r[KQ_GRID_MAX_LAYERS][KQ_GRID_MAX_UNITS];
    memset(r, 0, sizeof r);
    for (int64_t s = 0; s < ns; s++) {
        double h[2][KQ_GRID_MAX_UNITS];
        float x0 = 0;
        kq_fill_input(&x0, 1, 0, s, o);
        h[0][0] = x0;
        for (int32_t l = 0; l + 1 < nl; l++) {
            const double *x = h[l & 1];
            double *y = h[(l + 1) & 1];
            for (int32_t u = 0; u < units[l]; u++) {
                double a = b[l] ? b[l][u] : 0;
                for (int32_t j = 0; j < depth[l]; j++)
                    a += (double)w[l][(size_t)u * (size_t)depth[l] + (size_t)j] * x[j];
                y[u] = act[l] == 1 && a < 0 ? 0 : a;
                r[l][u] = fabs(y[u]) > r[l][u] ? fabs(y[u]) : r[l][u];
            }
        }
    }
    uint8_t *buf = (uint8_t *)malloc(m->len);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return KILN_ERR_NOMEM;
    }
    memcpy(buf, m->buf, m->len);
    int changed = 0;
    for (int32_t l = 0; l + 1 < nl; l++) {
        if (act[l] != 1) continue; /* only ReLU layers: RELU6 / RELU_N1_TO_1 clamp at fixed values */
        double rmax = 0;
        for (int32_t u = 0; u < units[l]; u++)
            rmax = r[l][u] > rmax ? r[l][u] : rmax;
        float *wl = (float *)(void *)(buf + ((const uint8_t *)w[l] - m->buf));
        float *bl = b[l] ? (float *)(void *)(buf + ((const uint8_t *)b[l] - m->buf)) : NULL;
        float *wn = (float *)(void *)(buf + ((const uint8_t *)w[l + 1] - m->buf));
        for (int32_t u = 0; u < units[l]; u++) {
            if (!(r[l][u] > rmax * 1e-6)) continue; /* a dead unit stays as it is */
            const double a = rmax / r[l][u];
            if (a < 1.0 + 1e-6) continue;
            for (int32_t j = 0; j < depth[l]; j++)
                wl[(size_t)u * (size_t)depth[l] + (size_t)j] *= (float)a;
            if (bl) bl[u] *= (float)a;
            for (int32_t k = 0; k < units[l + 1]; k++)
                wn[(size_t)k * (size_t)depth[l + 1] + (size_t)u] /= (float)a;
            changed = 1;
        }
    }
    if (!changed) {
        free(buf);
        return KILN_OK;
    }
    *out = buf;
    *out_len = m->len;
    return KILN_OK;
}

kiln_status kq_refine(const kiln_model *fm, uint8_t *qbuf, size_t qlen,
                      const kiln_quantize_options *o, char *err, size_t errlen) {
    if (!o->calib || o->calib_n <= 0) return KILN_OK; /* random data: nothing to fit */
    kiln_model *qm = NULL;
    kiln_status s = kiln_model_load(qbuf, qlen, "quantized model", NULL, &qm, err, errlen);
    if (s != KILN_OK) return s;
    int handled = 0;
    s = refine_grid(fm, qm, qbuf, &handled, err, errlen);
    if (s != KILN_OK || handled) {
        kiln_model_destroy(qm);
        return s;
    }
    const kiln__subgraph_def *sg = &qm->subgraphs[0];
    rparam *par = NULL;
    int64_t np = 0;
    /* the parameters: int8 weights and int32 biases of the integer CONV/DEPTHWISE/FC ops */
    for (int pass = 0; pass < 2; pass++) {
        np = 0;
        for (int32_t i = 0; i < sg->n_ops; i++) {
            const kiln__op_def *op = &sg->ops[i];
            if ((op->builtin != KILN_OP_FULLY_CONNECTED && op->builtin != KILN_OP_CONV_2D &&
                 op->builtin != KILN_OP_DEPTHWISE_CONV_2D) ||
                op->n_in < 2 || op->inputs[0] < 0 || op->inputs[1] < 0 ||
                sg->tensors[op->inputs[0]].type != KILN_INT8)
                continue;
            for (int32_t k = 1; k <= 2 && k < op->n_in; k++) {
                if (op->inputs[k] < 0) continue;
                const kiln__tensor_def *d = &sg->tensors[op->inputs[k]];
                const int isb = k == 2;
                if (!d->data || d->type != (isb ? KILN_INT32 : KILN_INT8)) continue;
                if (shares_buffer(sg, op->inputs[k])) continue;
                const int64_t n = (int64_t)d->data_len / (isb ? 4 : 1);
                for (int64_t j = 0; j < n; j++, np++)
                    if (par) {
                        /* the loader points into qbuf, which is ours to change */
                        par[np].p = qbuf + (d->data - qbuf) + j * (isb ? 4 : 1);
                        par[np].bias = isb;
                    }
            }
        }
        if (pass == 0) {
            const int64_t ns = kq_num_samples(o);
            if (np == 0 || np > KQ_REFINE_MAX_PARAMS || np * ns > KQ_REFINE_MAX_WORK) {
                kiln_model_destroy(qm);
                return KILN_OK;
            }
            par = (rparam *)calloc((size_t)np, sizeof *par);
            if (!par) {
                kiln_model_destroy(qm);
                snprintf(err, errlen, "out of memory");
                return KILN_ERR_NOMEM;
            }
        }
    }
    rctx c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.ns = kq_num_samples(o);
    c.out_scale = output_scale(qm);
    kiln_interp *fi = NULL;
    float *ref = NULL;
    kiln_interp_options io;
    kiln_interp_options_init(&io);
    io.arith = KILN_ARITH_TFLM;
    s = kiln_interp_create(fm, &io, &fi, err, errlen);
    if (s == KILN_OK) s = kiln_interp_create(qm, &io, &c.it, err, errlen);
    if (s != KILN_OK || !(c.out_scale > 0)) goto done;
    {
        kiln_tensor_info ti;
        kiln_interp_output(fi, 0, &ti);
        if (ti.dtype != KILN_FLOAT32) goto done;
        c.nout = (int64_t)(ti.bytes / 4);
        int64_t maxin = 1;
        for (int32_t i = 0; i < kiln_interp_num_inputs(c.it); i++) {
            kiln_tensor_info xi;
            kiln_interp_input(c.it, i, &xi);
            if ((int64_t)xi.bytes > maxin) maxin = (int64_t)xi.bytes;
        }
        ref = (float *)malloc((size_t)(c.ns * c.nout) * sizeof(float));
        c.tmp = (float *)malloc((size_t)maxin * sizeof(float));
        if (!ref || !c.tmp) {
            s = KILN_ERR_NOMEM;
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        for (int64_t k = 0; k < c.ns; k++) {
            if ((s = kq_set_inputs(fi, k, o, c.tmp, err, errlen)) != KILN_OK) goto done;
            if ((s = kiln_interp_invoke(fi)) != KILN_OK) goto done;
            kiln_interp_output(fi, 0, &ti);
            memcpy(ref + k * c.nout, ti.data, (size_t)c.nout * sizeof(float));
        }
        c.ref = ref;
    }
    double best;
    if (objective(&c, INFINITY, &best)) {
        s = KILN_ERR_RUNTIME;
        snprintf(err, errlen, "refinement: the quantized model does not run");
        goto done;
    }
    static const int32_t wsteps[] = {1, -1, 2, -2};
    static const int32_t bsteps[] = {1, -1, 4, -4, 16, -16};
    int64_t invokes = 0;
    for (int sweep = 0; sweep < KQ_REFINE_SWEEPS && invokes < KQ_REFINE_MAX_INVOKES; sweep++) {
        int64_t improved = 0;
        for (int64_t j = 0; j < np && invokes < KQ_REFINE_MAX_INVOKES; j++) {
            const int isb = par[j].bias;
            const int32_t *steps = isb ? bsteps : wsteps;
            const int nsteps = isb ? 6 : 4;
            for (int k = 0; k < nsteps; k++) {
                int32_t old;
                if (isb) {
                    memcpy(&old, par[j].p, 4);
                } else {
                    old = *(int8_t *)par[j].p;
                }
                const int64_t nv = (int64_t)old + steps[k];
                if (isb ? (nv > INT32_MAX || nv < INT32_MIN) : (nv > 127 || nv < -127)) continue;
                const int32_t v = (int32_t)nv;
                if (isb)
                    memcpy(par[j].p, &v, 4);
                else
                    *(int8_t *)par[j].p = (int8_t)v;
                double obj;
                invokes += c.ns; /* at most: the objective stops early past the bound */
                if (objective(&c, best, &obj)) {
                    s = KILN_ERR_RUNTIME;
                    snprintf(err, errlen, "refinement: the quantized model does not run");
                    goto done;
                }
                if (obj < best - 1e-12) {
                    best = obj;
                    improved++;
                } else if (isb) {
                    memcpy(par[j].p, &old, 4);
                } else {
                    *(int8_t *)par[j].p = (int8_t)old;
                }
            }
        }
        if (!improved) break;
    }
done:
    if (c.it) kiln_interp_destroy(c.it);
    if (fi) kiln_interp_destroy(fi);
    free(ref);
    free(c.tmp);
    free(par);
    kiln_model_destroy(qm);
    return s;
}
