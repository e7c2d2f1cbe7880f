/* trainer.c: memory plan (one arena per trainer, nothing allocated per step), weight
 * initialisation (Keras' initializers), the training step (forward, loss, reverse pass,
 * regularisation, NaN check, clipping, optimizer) and inference. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/internal.h"
#include "train/trainer.h"

kiln_status kiln__trainer_fail(kiln_trainer *t, kiln_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->err, sizeof t->err, fmt, ap);
    va_end(ap);
    return st;
}

void kiln_train_config_init(kiln_train_config *c) {
    memset(c, 0, sizeof *c);
    c->optimizer = KILN_OPT_ADAM;
    c->lr = 1e-3f;
    c->beta1 = 0.9f;
    c->beta2 = 0.999f;
    c->eps = 1e-7f;
    c->rho = 0.9f;
    c->gamma = 0.1f;
    c->batch = 32;
    c->seed = 1;
}

const char *kiln_trainer_error(const kiln_trainer *t) {
    return t ? t->err : "no trainer";
}
int64_t kiln_trainer_step_count(const kiln_trainer *t) {
    return t->step;
}
float *kiln_trainer_params(kiln_trainer *t) {
    return t->params;
}
int64_t kiln_trainer_output_size(const kiln_trainer *t) {
    return t->g->tensors[t->out].size;
}

/* ---- initialisation ------------------------------------------------------------------------ */

static double unif(uint64_t stream, uint64_t i) {
    return ((double)kiln__hash_uniform(stream, 2 * i) +
            (double)kiln__hash_uniform(stream ^ 0x5bd1e995u, 2 * i + 1) / 16777216.0);
}

/* Keras' truncated normal: redraw beyond two standard deviations */
static double trunc_normal(uint64_t stream, uint64_t i) {
    for (uint64_t k = 0;; k++) {
        double u1 = unif(stream, i * 64 + k * 2), u2 = unif(stream, i * 64 + k * 2 + 1);
        if (u1 < 1e-300) u1 = 1e-300;
        double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
        if (fabs(z) <= 2.0 || k == 31) return fabs(z) <= 2.0 ? z : 0.0;
    }
}

void kiln__trainer_init_weights(kiln_trainer *t) {
    const kiln_graph *g = t->g;
    for (int32_t pi = 0; pi < g->n_params; pi++) {
        const kiln__gparam *p = &g->params[pi];
        float *w = t->params + p->offset;
        uint64_t stream =
            t->cfg.seed * 0x9E3779B97F4A7C15ull + (uint64_t)pi * 0xD1B54A32D192ED03ull;
        double fi = p->fan_in > 0 ? p->fan_in : 1, fo = p->fan_out > 0 ? p->fan_out : 1;
        const kiln__glayer *L = &g->layers[p->layer];
        for (int64_t i = 0; i < p->count; i++) {
            double v = 0.0;
            switch (p->init) {
            case KILN_INIT_DEFAULT: /* only embeddings reach here: uniform(-0.05, 0.05) */
                v = (unif(stream, (uint64_t)i) * 2.0 - 1.0) * 0.05;
                break;
            case KILN_INIT_GLOROT_UNIFORM:
                v = (unif(stream, (uint64_t)i) * 2.0 - 1.0) * sqrt(6.0 / (fi + fo));
                break;
            case KILN_INIT_HE_UNIFORM:
                v = (unif(stream, (uint64_t)i) * 2.0 - 1.0) * sqrt(6.0 / fi);
                break;
            case KILN_INIT_GLOROT_NORMAL:
                v = trunc_normal(stream, (uint64_t)i) * sqrt(2.0 / (fi + fo)) / 0.87962566103423978;
                break;
            case KILN_INIT_HE_NORMAL:
                v = trunc_normal(stream, (uint64_t)i) * sqrt(2.0 / fi) / 0.87962566103423978;
                break;
            case KILN_INIT_ONES:
                v = 1.0;
                break;
            case KILN_INIT_ZEROS:
            default:
                v = 0.0;
                break;
            }
            w[i] = (float)v;
        }
        /* Keras' unit_forget_bias: the LSTM forget gate starts open */
        if (L->kind == KILN_L_LSTM && !strcmp(p->role, "bias"))
            for (int32_t u = 0; u < L->a.units; u++)
                w[L->a.units + u] = 1.0f;
    }
}

/* ---- memory plan --------------------------------------------------------------------------- */

static int64_t up16(int64_t n) {
    return (n + 15) & ~(int64_t)15;
}

kiln_status kiln_trainer_create(const kiln_graph *g, const kiln_train_config *cfg,
                                kiln_trainer **out, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    if (!g || !cfg || !out) return KILN_ERR_ARG;
    *out = NULL;
#define CFAIL(st, ...)                                                                             \
    do {                                                                                           \
        if (err) snprintf(err, errlen, __VA_ARGS__);                                               \
        return st;                                                                                 \
    } while (0)
    if (cfg->batch <= 0 || cfg->batch > (1 << 20)) CFAIL(KILN_ERR_ARG, "batch must be in 1..2^20");
    if (!(cfg->lr >= 0.0f) || !isfinite(cfg->lr)) CFAIL(KILN_ERR_ARG, "learning rate must be >= 0");
    if ((unsigned)cfg->optimizer > KILN_OPT_ADAGRAD) CFAIL(KILN_ERR_ARG, "bad optimizer");
    if (g->n_layers == 0) CFAIL(KILN_ERR_ARG, "the graph has no layers");
    int32_t outid = kiln_graph_output(g), inid = kiln_graph_input(g);
    if (inid < 0) CFAIL(KILN_ERR_ARG, "the graph has no input layer");
    for (int32_t i = 0; i < g->n_layers; i++)
        if (g->layers[i].kind == KILN_L_INPUT && g->layers[i].out != inid)
            CFAIL(KILN_ERR_UNSUPPORTED, "%s: only one input layer is supported for training",
                  g->layers[i].name);
    if (g->loss == KILN_LOSS_NONE)
        CFAIL(KILN_ERR_ARG, "%s: no loss (add e.g. 'loss sparse_categorical_crossentropy')",
              g->name);

    kiln_trainer *t = calloc(1, sizeof *t);
    if (!t) return KILN_ERR_NOMEM;
    t->g = g;
    t->cfg = *cfg;
    t->B = cfg->batch;
    t->out = outid;
    t->in = inid;
    t->best = INFINITY;
    int32_t NT = g->n_tensors, NL = g->n_layers;
    t->val = calloc((size_t)NT, sizeof(float *));
    t->grad = calloc((size_t)NT, sizeof(float *));
    t->need_grad = calloc((size_t)NT, 1);
    t->written = calloc((size_t)NT, 1);
    t->z = calloc((size_t)NL, sizeof(float *));
    t->aux = calloc((size_t)NL, sizeof(float *));
    t->sumsq = calloc((size_t)(g->n_params + 1), sizeof(double));
    int64_t P = g->param_elems;
    t->params = aligned_alloc(64, (size_t)up16(P ? P : 1) * 4 * sizeof(float));
    if (!t->val || !t->grad || !t->need_grad || !t->written || !t->z || !t->aux || !t->sumsq ||
        !t->params) {
        kiln_trainer_destroy(t);
        return KILN_ERR_NOMEM;
    }
    t->grads = t->params + up16(P);
    t->m1 = t->grads + up16(P);
    t->m2 = t->m1 + up16(P);
    memset(t->grads, 0, sizeof(float) * (size_t)up16(P) * 3);

    /* which tensors need gradients: those downstream of trainable parameters */
    for (int32_t li = 0; li < NL; li++) {
        const kiln__glayer *L = &g->layers[li];
        int need = 0;
        for (int32_t k = 0; k < L->n_params; k++)
            if (g->params[L->first_param + k].trainable) need = 1;
        for (int32_t k = 0; k < L->n_in; k++)
            if (t->need_grad[L->in[k]]) need = 1;
        t->need_grad[L->out] = (uint8_t)need;
    }
    t->need_grad[inid] = 0;

    /* plan: sizes first, then one block */
    int64_t B = t->B, total = 0;
    for (int32_t pass = 0; pass < 2; pass++) {
        int64_t off = 0;
        float *base = t->arena;
#define TAKE(ptr, count)                                                                           \
    do {                                                                                           \
        int64_t c_ = (count);                                                                      \
        if (pass) ptr = base + off;                                                                \
        off += up16(c_);                                                                           \
    } while (0)
        for (int32_t ti = 0; ti < NT; ti++) {
            int64_t sz = B * g->tensors[ti].size;
            if (ti != inid) TAKE(t->val[ti], sz);
            if (t->need_grad[ti]) TAKE(t->grad[ti], sz);
        }
        for (int32_t li = 0; li < NL; li++) {
            const kiln__glayer *L = &g->layers[li];
            int fused = L->kind == KILN_L_DENSE || L->kind == KILN_L_CONV2D ||
                        L->kind == KILN_L_DEPTHWISE_CONV2D || L->kind == KILN_L_SEPARABLE_CONV2D ||
                        L->kind == KILN_L_ACTIVATION;
            if (fused && kiln__act_needs_z(L->a.activation))
                TAKE(t->z[li], B * g->tensors[L->out].size);
            int64_t ax = kiln__op_aux(g, L, t->B);
            if (ax) TAKE(t->aux[li], ax);
        }
        /* int32 copy of the input for int32 (token id) models; targets; output scratch */
        if (g->tensors[inid].dtype == KILN_INT32) TAKE(t->ibuf, B * g->tensors[inid].size);
        TAKE(t->dout, B * g->tensors[outid].size);
#undef TAKE
        if (!pass) {
            total = off;
            t->arena_floats = total;
            t->arena = aligned_alloc(64, (size_t)(total ? total : 16) * sizeof(float));
            if (!t->arena) {
                kiln_trainer_destroy(t);
                CFAIL(KILN_ERR_NOMEM, "cannot allocate %lld MiB for batch %d",
                      (long long)(total * 4 >> 20), (int)t->B);
            }
        }
    }
    memset(t->arena, 0, sizeof(float) * (size_t)total);
    kiln__trainer_init_weights(t);
    *out = t;
    return KILN_OK;
#undef CFAIL
}

void kiln_trainer_destroy(kiln_trainer *t) {
    if (!t) return;
    free(t->val);
    free(t->grad);
    free(t->need_grad);
    free(t->written);
    free(t->z);
    free(t->aux);
    free(t->sumsq);
    free(t->params);
    free(t->arena);
    free(t);
}

void kiln_trainer_memory(const kiln_trainer *t, size_t *total, size_t *activations) {
    int64_t P = up16(t->g->param_elems), act = 0;
    for (int32_t i = 0; i < t->g->n_tensors; i++) {
        if (t->val[i] && i != t->in) act += up16((int64_t)t->B * t->g->tensors[i].size);
        if (t->grad[i]) act += up16((int64_t)t->B * t->g->tensors[i].size);
    }
    if (total) *total = (size_t)(4 * P + t->arena_floats) * sizeof(float);
    if (activations) *activations = (size_t)act * sizeof(float);
}

size_t kiln__trainer_arena_bytes(const kiln_trainer *t) {
    return (size_t)t->arena_floats * sizeof(float);
}

/* ---- forward / backward -------------------------------------------------------------------- */

static int all_finite(const float *v, int64_t n) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += v[i + k] * 0.0f;
    float r = 0.0f;
    for (; i < n; i++)
        r += v[i] * 0.0f;
    for (int k = 0; k < 8; k++)
        r += acc[k];
    return r == 0.0f;
}

static void ctx_init(kiln_trainer *t, kiln__opctx *c, int32_t li, int32_t n, int training) {
    const kiln_graph *g = t->g;
    const kiln__glayer *L = &g->layers[li];
    memset(c, 0, sizeof *c);
    c->g = g;
    c->L = L;
    c->par = t->cfg.parallel;
    c->n = n;
    c->training = training;
    c->seed = t->cfg.seed * 0xA24BAED4963EE407ull ^ ((uint64_t)t->step * 0x9FB21C651E98DF25ull) ^
              ((uint64_t)li << 40);
    for (int32_t k = 0; k < L->n_in && k < KILN__MAX_IN; k++) {
        c->x[k] = t->val[L->in[k]];
        c->dx[k] = t->grad[L->in[k]];
        c->dx_acc[k] = t->written[L->in[k]];
        for (int32_t q = 0; q < k; q++) /* the same tensor twice (add(a, a)): sum both */
            if (L->in[q] == L->in[k]) c->dx_acc[k] = 1;
    }
    c->y = t->val[L->out];
    c->dy = t->grad[L->out];
    c->z = t->z[li];
    c->aux = t->aux[li];
    if (L->n_params) {
        c->w = t->params + g->params[L->first_param].offset;
        c->dw = t->grads + g->params[L->first_param].offset;
    }
    c->err = t->err;
}

/* v*0 is 0 for finite v and NaN otherwise; 8 lanes so that it vectorizes */
static kiln_status forward(kiln_trainer *t, const kiln_batch *b, int training) {
    const kiln_graph *g = t->g;
    int32_t n = b->n;
    if (g->tensors[t->in].dtype == KILN_INT32) {
        t->val[t->in] = t->ibuf;
        memcpy(t->ibuf, b->x, sizeof(int32_t) * (size_t)(n * g->tensors[t->in].size));
    } else {
        t->val[t->in] = (float *)(uintptr_t)b->x; /* read-only: no op writes its input */
    }
    for (int32_t li = 0; li < g->n_layers; li++) {
        if (g->layers[li].kind == KILN_L_INPUT) continue;
        if (g->layers[li].n_in > KILN__MAX_IN)
            return kiln__trainer_fail(t, KILN_ERR_UNSUPPORTED, "%s: more than %d inputs",
                                      g->layers[li].name, KILN__MAX_IN);
        kiln__opctx c;
        ctx_init(t, &c, li, n, training);
        kiln_status st = kiln__op(g->layers[li].kind)(&c, 0);
        if (st) return st;
    }
    return KILN_OK;
}

static kiln_status check_batch(kiln_trainer *t, const kiln_batch *b, int need_targets) {
    const kiln_graph *g = t->g;
    if (!b || !b->x || b->n <= 0 || b->n > t->B)
        return kiln__trainer_fail(t, KILN_ERR_ARG, "batch of %d samples (planned for 1..%d)",
                                  b ? (int)b->n : 0, (int)t->B);
    int64_t k = g->tensors[t->out].size;
    if (g->tensors[t->in].dtype == KILN_FLOAT32 &&
        !all_finite((const float *)b->x, b->n * g->tensors[t->in].size)) {
        const float *x = b->x;
        int64_t i = 0, sz = g->tensors[t->in].size;
        while (i < b->n * sz && isfinite(x[i]))
            i++;
        return kiln__trainer_fail(t, KILN_ERR_RUNTIME,
                                  "step %lld: sample %lld of the batch has a NaN/Inf input "
                                  "value (element %lld)",
                                  (long long)t->step + 1, (long long)(i / sz), (long long)(i % sz));
    }
    if (g->loss == KILN_LOSS_SPARSE_CCE && need_targets) {
        if (!b->labels)
            return kiln__trainer_fail(t, KILN_ERR_ARG, "sparse categorical loss needs labels");
        for (int32_t i = 0; i < b->n; i++)
            if (b->labels[i] < 0 || b->labels[i] >= k)
                return kiln__trainer_fail(t, KILN_ERR_ARG,
                                          "label %d of sample %d is out of range [0, %lld) for "
                                          "output '%s'",
                                          (int)b->labels[i], (int)i, (long long)k,
                                          g->layers[g->tensors[t->out].layer].name);
    } else if (need_targets && g->loss != KILN_LOSS_SPARSE_CCE && !b->y) {
        return kiln__trainer_fail(t, KILN_ERR_ARG, "loss %s needs float targets",
                                  kiln_loss_name(g->loss));
    }
    return KILN_OK;
}

static kiln_actfn out_act(const kiln_trainer *t) {
    const kiln__glayer *L = &t->g->layers[t->g->tensors[t->out].layer];
    return L->a.activation;
}

static int32_t count_correct(const kiln_trainer *t, const kiln_batch *b) {
    const kiln_graph *g = t->g;
    int64_t k = g->tensors[t->out].size;
    const float *y = t->val[t->out];
    int32_t ok = 0;
    if (b->labels && k > 1) return kiln_metric_topk(y, b->labels, b->n, (int32_t)k, 1);
    if (!b->y) return 0;
    for (int32_t i = 0; i < b->n; i++) {
        const float *r = y + i * k, *tr = b->y + i * k;
        if (k == 1) {
            float thr = g->from_logits ? 0.0f : 0.5f;
            ok += (r[0] > thr) == (tr[0] > 0.5f);
        } else {
            int64_t a = 0, bb = 0;
            for (int64_t j = 1; j < k; j++) {
                if (r[j] > r[a]) a = j;
                if (tr[j] > tr[bb]) bb = j;
            }
            ok += a == bb;
        }
    }
    return ok;
}

/* The first layer (in order) whose output holds a NaN/Inf, or -1. */
static int32_t first_bad_layer(const kiln_trainer *t, int32_t n) {
    const kiln_graph *g = t->g;
    for (int32_t li = 0; li < g->n_layers; li++) {
        int32_t o = g->layers[li].out;
        if (g->tensors[o].dtype != KILN_FLOAT32 || !t->val[o]) continue;
        if (!all_finite(t->val[o], n * g->tensors[o].size)) return li;
    }
    return -1;
}

static double regularization(kiln_trainer *t, int add_grads) {
    const kiln_graph *g = t->g;
    double r = 0.0;
    for (int32_t pi = 0; pi < g->n_params; pi++) {
        const kiln__gparam *p = &g->params[pi];
        if (!p->trainable || (p->l1 == 0.0f && p->l2 == 0.0f)) continue;
        const float *w = t->params + p->offset;
        float *dw = t->grads + p->offset;
        for (int64_t i = 0; i < p->count; i++) {
            r += p->l1 * fabs((double)w[i]) + p->l2 * (double)w[i] * w[i];
            if (add_grads)
                dw[i] += p->l1 * (w[i] > 0.0f ? 1.0f : (w[i] < 0.0f ? -1.0f : 0.0f)) +
                         2.0f * p->l2 * w[i];
        }
    }
    return r;
}

kiln_status kiln_trainer_predict(kiln_trainer *t, const kiln_batch *b, float *out, float *loss,
                                 int32_t *correct) {
    if (!t) return KILN_ERR_ARG;
    kiln_status st = check_batch(t, b, loss != NULL);
    if (st) return st;
    st = forward(t, b, 0);
    if (st) return st;
    const kiln_graph *g = t->g;
    int64_t k = g->tensors[t->out].size;
    if (out) memcpy(out, t->val[t->out], sizeof(float) * (size_t)(b->n * k));
    if (loss)
        *loss = (float)(kiln__loss(g->loss, g->from_logits, out_act(t), t->val[t->out], b->labels,
                                   b->y, b->n, k, NULL) +
                        regularization(t, 0));
    if (correct) *correct = count_correct(t, b);
    return KILN_OK;
}

/* gradients (and values for the gradient checker) of one batch, no update */
kiln_status kiln__trainer_backprop(kiln_trainer *t, const kiln_batch *b, double *loss_out) {
    const kiln_graph *g = t->g;
    kiln_status st = check_batch(t, b, 1);
    if (st) return st;
    st = forward(t, b, 1);
    if (st) return st;
    int64_t k = g->tensors[t->out].size;
    int32_t n = b->n;
    float *dy = t->grad[t->out] ? t->grad[t->out] : t->dout;
    double loss =
        kiln__loss(g->loss, g->from_logits, out_act(t), t->val[t->out], b->labels, b->y, n, k, dy) +
        regularization(t, 0);
    if (loss_out) *loss_out = loss;
    if (!isfinite(loss)) {
        int32_t li = first_bad_layer(t, n);
        if (li >= 0)
            return kiln__trainer_fail(t, KILN_ERR_RUNTIME,
                                      "step %lld: NaN/Inf first appeared in the output of layer "
                                      "'%s' (%s)",
                                      (long long)t->step + 1, g->layers[li].name,
                                      kiln_layer_kind_name(g->layers[li].kind));
        return kiln__trainer_fail(t, KILN_ERR_RUNTIME, "step %lld: the loss is %g",
                                  (long long)t->step + 1, loss);
    }
    memset(t->written, 0, (size_t)g->n_tensors);
    t->written[t->out] = 1;
    for (int32_t li = g->n_layers - 1; li >= 0; li--) {
        const kiln__glayer *L = &g->layers[li];
        if (L->kind == KILN_L_INPUT || !t->need_grad[L->out]) continue;
        if (!t->written[L->out]) { /* a branch nobody reads: zero gradient */
            memset(t->grad[L->out], 0, sizeof(float) * (size_t)(n * g->tensors[L->out].size));
            t->written[L->out] = 1;
        }
        kiln__opctx c;
        ctx_init(t, &c, li, n, 1);
        st = kiln__op(L->kind)(&c, 1);
        if (st) return st;
        for (int32_t q = 0; q < L->n_in; q++)
            if (t->grad[L->in[q]]) t->written[L->in[q]] = 1;
    }
    regularization(t, 1);
    return KILN_OK;
}

/* ---- the optimizer step -------------------------------------------------------------------- */

float kiln__lr_at(const kiln_train_config *c, int64_t step) {
    double lr = c->lr;
    switch (c->schedule) {
    case KILN_SCHED_STEP:
        if (c->step_size > 0) lr *= pow(c->gamma, (double)(step / c->step_size));
        break;
    case KILN_SCHED_EXPONENTIAL:
        if (c->step_size > 0) lr *= pow(c->gamma, (double)step / (double)c->step_size);
        break;
    case KILN_SCHED_COSINE: {
        int64_t total = c->step_size > 0 ? c->step_size : 1;
        if (c->warmup > 0 && step < c->warmup) {
            lr = lr * (double)(step + 1) / (double)c->warmup;
        } else {
            double p =
                (double)(step - c->warmup) / (double)(total > c->warmup ? total - c->warmup : 1);
            if (p > 1.0) p = 1.0;
            lr = c->min_lr + (lr - c->min_lr) * 0.5 * (1.0 + cos(3.14159265358979323846 * p));
        }
        break;
    }
    default:
        break;
    }
    return (float)lr;
}

/* sum of squares in 8 float lanes (vectorizes; NaN/Inf propagate), combined in double */
static double sumsq(const float *d, int64_t n) {
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            acc[k] += d[i + k] * d[i + k];
    double s = 0.0;
    for (; i < n; i++)
        s += (double)d[i] * d[i];
    for (int k = 0; k < 8; k++)
        s += acc[k];
    return s;
}

float kiln_trainer_lr(const kiln_trainer *t) {
    return kiln__lr_at(&t->cfg, t->step);
}

kiln_status kiln_trainer_step(kiln_trainer *t, const kiln_batch *b, float *loss, int32_t *correct) {
    if (!t) return KILN_ERR_ARG;
    double l;
    kiln_status st = kiln__trainer_backprop(t, b, &l);
    if (st) return st;
    const kiln_graph *g = t->g;
    /* per-parameter squared norms: the NaN check names the layer, clip_norm uses the sum */
    double total = 0.0;
    for (int32_t pi = 0; pi < g->n_params; pi++) {
        const kiln__gparam *p = &g->params[pi];
        if (!p->trainable) continue;
        double s = sumsq(t->grads + p->offset, p->count);
        if (!isfinite(s))
            return kiln__trainer_fail(t, KILN_ERR_RUNTIME,
                                      "step %lld: NaN/Inf gradient first appeared in layer '%s' "
                                      "(%s)",
                                      (long long)t->step + 1, g->layers[p->layer].name, p->name);
        total += s;
    }
    float scale = 1.0f;
    if (t->cfg.clip_norm > 0.0f && sqrt(total) > t->cfg.clip_norm)
        scale = (float)(t->cfg.clip_norm / sqrt(total));
    if (correct) *correct = count_correct(t, b);
    if (loss) *loss = (float)l;
    kiln__optimizer_update(t, scale);
    t->step++;
    return KILN_OK;
}
