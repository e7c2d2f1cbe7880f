/* to_spec.c: reads a float .tflite back into a Kiln graph: each op (or the op pattern
 * kiln/convert.c writes) becomes a layer of a .kiln spec, its constant tensors the layer's
 * parameters. The inverse of convert.c: names, fused activations and folded batch norms are
 * recovered so converting the result again gives the same bytes. UNIDIRECTIONAL_SEQUENCE_LSTM (and
 * the STRIDED_SLICE of its last step) becomes an lstm layer. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernel.h"
#include "kernels/ops.h"
#include "kiln/to_spec.h"
#include "kiln/train.h"
#include "rt/model.h"

#define NAME_MAX_LEN 101

typedef struct rec {
    char name[NAME_MAX_LEN];
    const char *kind;
    char args[256];
    const char *act; /* NULL: none */
    int32_t in[16];  /* tflite tensor ids of the layer inputs */
    int32_t n_in;
    int32_t w, b, w2;  /* constant tensors: kernel (or depthwise/embeddings), bias, pointwise */
    int32_t gates[12]; /* lstm: input weights, recurrent weights, biases (gates i, f, c, o) */
    int lstm;
    int identity_bn;  /* a batch norm that only carries a name (folded to scale 1, shift 0) */
    int has_act_slot; /* conv-like: an activation may still be merged in */
} rec;

typedef struct ctx {
    const kiln_model *m;
    const kiln__subgraph_def *sg;
    rec *recs;
    int32_t n_recs;
    char (*tname)[NAME_MAX_LEN]; /* tflite tensor -> layer producing it ("" unknown) */
    int32_t *trec;               /* tflite tensor -> producing record (-1: input/none) */
    int32_t *nuse;
    int32_t skip_op;      /* an op already mapped with the one before it */
    int32_t n_bad, n_dep; /* unmappable op groups; mappable ops reading unmapped tensors */
    int32_t bad_op[32], bad_first[32], bad_n[32];
    const char *bad_why[32];
    char *txt;
    size_t tlen, tcap;
    int oom;
} ctx;

/* Unmappable ops, grouped by op and reason: "STRIDED_SLICE x6 (first op 1)". */
static void add_bad(ctx *c, int32_t i, const char *why) {
    const int32_t op = c->sg->ops[i].builtin;
    for (int32_t k = 0; k < c->n_bad; k++)
        if (c->bad_op[k] == op && c->bad_why[k] == why) {
            c->bad_n[k]++;
            return;
        }
    if (c->n_bad >= 32) return;
    c->bad_op[c->n_bad] = op;
    c->bad_why[c->n_bad] = why;
    c->bad_first[c->n_bad] = i;
    c->bad_n[c->n_bad++] = 1;
}

static void bad_list(const ctx *c, char *out, size_t cap) {
    size_t n = 0;
    out[0] = 0;
    for (int32_t k = 0; k < c->n_bad && n < cap; k++) {
        char cnt[24] = "";
        if (c->bad_n[k] > 1) snprintf(cnt, sizeof cnt, " x%d", (int)c->bad_n[k]);
        n += (size_t)snprintf(out + n, cap - n, "%s%s%s (%sop %d%s%s)", k ? ", " : "",
                              kiln_builtin_name(c->bad_op[k]), cnt, c->bad_n[k] > 1 ? "first " : "",
                              (int)c->bad_first[k], c->bad_why[k] ? ": " : "",
                              c->bad_why[k] ? c->bad_why[k] : "");
    }
    if (c->n_dep && n < cap)
        snprintf(out + n, cap - n, "; %d later ops read their results", (int)c->n_dep);
}

static void emit(ctx *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    const int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || c->oom) return;
    if (c->tlen + (size_t)n + 1 > c->tcap) {
        size_t cap = c->tcap ? c->tcap * 2 : 4096;
        while (cap < c->tlen + (size_t)n + 1)
            cap *= 2;
        char *p = (char *)realloc(c->txt, cap);
        if (!p) {
            c->oom = 1;
            return;
        }
        c->txt = p;
        c->tcap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(c->txt + c->tlen, c->tcap - c->tlen, fmt, ap);
    va_end(ap);
    c->tlen += (size_t)n;
}

static int name_used(const ctx *c, const char *s) {
    for (int32_t i = 0; i < c->n_recs; i++)
        if (!strcmp(c->recs[i].name, s)) return 1;
    for (int32_t i = 0; i < c->sg->n_tensors; i++)
        if (c->trec[i] == -2 && !strcmp(c->tname[i], s)) return 1; /* inputs */
    return 0;
}

/* A spec identifier from a tensor name (TFLite names such as "model/conv2d/Relu;..." are not
 * identifiers), made unique. */
static void make_name(const ctx *c, const char *src, char out[NAME_MAX_LEN]) {
    char base[NAME_MAX_LEN];
    size_t n = 0;
    if (!src || !src[0]) src = "layer";
    if (!((src[0] >= 'a' && src[0] <= 'z') || (src[0] >= 'A' && src[0] <= 'Z') || src[0] == '_'))
        base[n++] = '_';
    for (const char *p = src; *p && *p != ';' && n < 90; p++) {
        const char ch = *p;
        const int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                       (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-';
        base[n++] = ok ? ch : '_';
    }
    base[n] = 0;
    snprintf(out, NAME_MAX_LEN, "%s", base);
    for (int k = 1; name_used(c, out) && k < 100000; k++)
        snprintf(out, NAME_MAX_LEN, "%.90s_%d", base, k);
}

/* The layer name convert.c used when the weight is "<layer>/<suffix>" (else NULL). */
static int strip_suffix(const char *s, const char *suf, char out[NAME_MAX_LEN]) {
    const size_t a = strlen(s), b = strlen(suf);
    if (a <= b || a - b >= NAME_MAX_LEN || strcmp(s + a - b, suf)) return 0;
    memcpy(out, s, a - b);
    out[a - b] = 0;
    return 1;
}

static rec *new_rec(ctx *c, const char *kind, int32_t out_t, const int32_t *in, int32_t n_in) {
    rec *r = &c->recs[c->n_recs];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->w = r->b = r->w2 = -1;
    for (int32_t i = 0; i < n_in && i < 16; i++)
        r->in[i] = in[i];
    r->n_in = n_in < 16 ? n_in : 16;
    (void)out_t;
    return r;
}

/* Commits a record: its name (unique) and the tensor it produces. */
static void commit(ctx *c, rec *r, const char *want, int32_t out_t) {
    make_name(c, want, r->name);
    c->n_recs++;
    if (out_t >= 0) {
        snprintf(c->tname[out_t], NAME_MAX_LEN, "%s", r->name);
        c->trec[out_t] = c->n_recs - 1;
    }
}

static const kiln__tensor_def *T(const ctx *c, int32_t i) {
    return (i >= 0 && i < c->sg->n_tensors) ? &c->sg->tensors[i] : NULL;
}
static int is_const(const ctx *c, int32_t i) {
    const kiln__tensor_def *t = T(c, i);
    return t && t->data && t->data_len;
}
static int is_act(const ctx *c, int32_t i) {
    const kiln__tensor_def *t = T(c, i);
    return t && !t->data && c->tname[i][0];
}

static const char *fused_name(int32_t code) {
    switch (code) {
    case 0:
        return "";
    case 1:
        return "relu";
    case 3:
        return "relu6";
    default:
        return NULL;
    }
}

static kiln_node node_of(const ctx *c, const kiln__op_def *od) {
    kiln_node n;
    memset(&n, 0, sizeof n);
    n.op = od->builtin;
    n.opts = od->opts;
    n.opts_type = od->opts_type;
    n.fb = c->m->buf;
    n.fb_len = c->m->len;
    return n;
}

static int32_t i32_at(const kiln__tensor_def *t, int32_t i) {
    int32_t v;
    memcpy(&v, t->data + 4 * (size_t)i, 4);
    return v;
}

/* Output of the op: a layer named after its output tensor with a fused activation, or (as
 * convert.c writes fused batch norm / activation layers) `base` plus a naming layer. */
static void finish_conv_like(ctx *c, rec *r, const char *base, int32_t out_t, const char *fact) {
    const char *oname = T(c, out_t)->name;
    char pre[NAME_MAX_LEN];
    if (base && strip_suffix(oname, "/preact", pre) && !strcmp(pre, base) && !fact[0] &&
        c->nuse[out_t] == 1) {
        r->has_act_slot = 1; /* the following activation op becomes this layer's activation */
        commit(c, r, base, out_t);
        return;
    }
    if (!base || !strcmp(base, oname)) {
        r->act = fact[0] ? fact : NULL;
        commit(c, r, base ? base : oname, out_t);
        return;
    }
    commit(c, r, base, -1);
    rec *n = new_rec(c, fact[0] ? fact : "batchnorm", out_t, NULL, 0);
    n->in[0] = -1; /* the record before it */
    n->n_in = 1;
    n->identity_bn = !fact[0];
    commit(c, n, oname, out_t);
}

/* convert.c writes separable_conv2d P as DEPTHWISE_CONV_2D (weight P/depthwise_kernel, output
 * P/depthwise, no bias) + a 1x1 CONV_2D (weight P/pointwise_kernel) reading only it. */
static int separable(ctx *c, int32_t i, const char *p, const kiln__tensor_def *xt,
                     const kiln__tensor_def *wt, int32_t pad, int32_t sh, int32_t sw, int32_t dlh,
                     int32_t dlw) {
    const kiln__op_def *od = &c->sg->ops[i];
    const int32_t y = od->outputs[0];
    char q[NAME_MAX_LEN];
    if (i + 1 >= c->sg->n_ops || !strip_suffix(T(c, y)->name, "/depthwise", q) || strcmp(q, p) ||
        c->nuse[y] != 1)
        return 0;
    const kiln__op_def *pw = &c->sg->ops[i + 1];
    if (pw->builtin != KILN_OP_CONV_2D || pw->n_in < 2 || pw->n_out != 1 || pw->inputs[0] != y)
        return 0;
    const int32_t w2 = pw->inputs[1], b = pw->n_in > 2 ? pw->inputs[2] : -1;
    const kiln_node nd = node_of(c, pw);
    const char *fact = fused_name(kiln_opt_i8(&nd, 3, 0));
    if (!is_const(c, w2) || (b >= 0 && !is_const(c, b)) || T(c, w2)->rank != 4 ||
        T(c, w2)->dims[1] != 1 || T(c, w2)->dims[2] != 1 ||
        !strip_suffix(T(c, w2)->name, "/pointwise_kernel", q) || strcmp(q, p) || !fact ||
        kiln_opt_i8(&nd, 0, 0) != 1 || kiln_opt_i32(&nd, 1, 1) != 1 || kiln_opt_i32(&nd, 2, 1) != 1)
        return 0;
    const int32_t x = od->inputs[0];
    rec *r = new_rec(c, "separable_conv2d", -1, &x, 1);
    r->w = od->inputs[1];
    r->w2 = w2;
    r->b = b;
    const int32_t ch = xt->dims[3];
    snprintf(r->args, sizeof r->args,
             "%d %dx%d multiplier=%d strides=%dx%d padding=%s dilation=%dx%d use_bias=%s",
             T(c, w2)->dims[0], wt->dims[1], wt->dims[2], ch > 0 ? wt->dims[3] / ch : 1, sh, sw,
             pad == 0 ? "same" : "valid", dlh, dlw, b >= 0 ? "true" : "false");
    c->skip_op = i + 1;
    finish_conv_like(c, r, p, pw->outputs[0], fact);
    return 1;
}

static int is_var(const ctx *c, int32_t i) {
    const kiln__tensor_def *t = T(c, i);
    return t && t->is_variable && !t->data;
}

/* A constant float32 tensor of exactly the given 1-D or 2-D shape (d1 < 0: 1-D). */
static int const_f32(const ctx *c, int32_t i, int32_t d0, int32_t d1) {
    const kiln__tensor_def *t = T(c, i);
    if (!is_const(c, i) || t->type != KILN_FLOAT32) return 0;
    if (d1 < 0) return t->rank == 1 && t->dims[0] == d0;
    return t->rank == 2 && t->dims[0] == d0 && t->dims[1] == d1;
}

/* UNIDIRECTIONAL_SEQUENCE_LSTM as convert.c writes it (and TFLite's converter writes a Keras
 * LSTM): batch-major, the four gates' input and recurrent weights and biases constant, no
 * peephole, projection or layer norm, zero variable states, TANH, no clipping. A following
 * STRIDED_SLICE that takes the last time step (begin [0, -1, 0], end [0, 0, 0], strides 1, masks
 * 5/5, shrink_axis_mask 2) is the layer's return_sequences false. */
static void lstm_op(ctx *c, int32_t i) {
    const kiln__op_def *od = &c->sg->ops[i];
    const kiln_node nd = node_of(c, od);
    const int32_t x = od->inputs[0], y = od->outputs[0];
    const kiln__tensor_def *xt = T(c, x), *yt = T(c, y);
    if (od->n_in != 20 && od->n_in != 24) {
        add_bad(c, i, "needs 20 or 24 inputs");
        return;
    }
    if (!is_act(c, x) || xt->rank != 3 || yt->rank != 3 || kiln_opt_i8(&nd, 3, 0)) {
        add_bad(c, i, "only batch-major [batch, time, features] input (time_major false)");
        return;
    }
    if (kiln_opt_i8(&nd, 0, 0) != 4 || kiln_opt_f32(&nd, 1, 0.0f) != 0.0f ||
        kiln_opt_f32(&nd, 2, 0.0f) != 0.0f || kiln_opt_i8(&nd, 5, 0)) {
        add_bad(c, i, "only TANH without cell or projection clipping (Kiln's lstm does not clip)");
        return;
    }
    const int32_t F = xt->dims[2], U = yt->dims[2];
    int ok = F > 0 && U > 0 && yt->dims[1] == xt->dims[1];
    for (int32_t g = 0; g < 4 && ok; g++)
        ok = const_f32(c, od->inputs[1 + g], U, F) && const_f32(c, od->inputs[5 + g], U, U) &&
             const_f32(c, od->inputs[12 + g], U, -1);
    for (int32_t k = 9; k < od->n_in && ok; k++)
        if ((k < 12 || k == 16 || k == 17 || k >= 20) && od->inputs[k] >= 0) ok = 0;
    if (!ok) {
        add_bad(c, i,
                "only constant float gate weights and biases, no peephole, projection or "
                "layer norm");
        return;
    }
    const int32_t hs = od->inputs[18], cs = od->inputs[19];
    if (!is_var(c, hs) || !is_var(c, cs) || T(c, hs)->rank != 2 || T(c, hs)->dims[1] != U ||
        T(c, cs)->rank != 2 || T(c, cs)->dims[1] != U) {
        add_bad(c, i, "states must be zero variable tensors [batch, units]");
        return;
    }
    /* The last-step slice. */
    int32_t out = y, last = 0;
    if (i + 1 < c->sg->n_ops && c->nuse[y] == 1) {
        const kiln__op_def *sl = &c->sg->ops[i + 1];
        const kiln_node sn = node_of(c, sl);
        static const int32_t want[3][3] = {{0, -1, 0}, {0, 0, 0}, {1, 1, 1}};
        int m = sl->builtin == KILN_OP_STRIDED_SLICE && sl->n_in == 4 && sl->n_out == 1 &&
                sl->inputs[0] == y && kiln_opt_i32(&sn, 0, 0) == 5 &&
                kiln_opt_i32(&sn, 1, 0) == 5 && kiln_opt_i32(&sn, 2, 0) == 0 &&
                kiln_opt_i32(&sn, 3, 0) == 0 && kiln_opt_i32(&sn, 4, 0) == 2 &&
                !kiln_opt_i8(&sn, 5, 0);
        for (int32_t k = 0; k < 3 && m; k++) {
            const kiln__tensor_def *t = T(c, sl->inputs[1 + k]);
            m = is_const(c, sl->inputs[1 + k]) && t->type == KILN_INT32 && t->data_len == 12;
            for (int32_t e = 0; e < 3 && m; e++)
                m = i32_at(t, e) == want[k][e];
        }
        if (m) {
            out = sl->outputs[0];
            last = 1;
            c->skip_op = i + 1;
        }
    }
    rec *r = new_rec(c, "lstm", out, &x, 1);
    r->lstm = 1;
    for (int32_t g = 0; g < 4; g++) {
        r->gates[g] = od->inputs[1 + g];
        r->gates[4 + g] = od->inputs[5 + g];
        r->gates[8 + g] = od->inputs[12 + g];
    }
    snprintf(r->args, sizeof r->args, "%d%s", U, last ? "" : " return_sequences");
    char base[NAME_MAX_LEN];
    const int named = strip_suffix(T(c, r->gates[0])->name, "/input_to_input_weights", base);
    commit(c, r, named ? base : T(c, out)->name, out);
}

/* The LSTM parameters are the four gate blocks, stacked in gate order (i, f, c, o). */
static int fill_gates(float *dst, const kiln_param_desc *p, const ctx *c, const int32_t *gates,
                      char *err, size_t errlen) {
    size_t off = 0;
    for (int32_t g = 0; g < 4; g++) {
        const kiln__tensor_def *t = T(c, gates[g]);
        if (!t || !t->data || off + t->data_len > (size_t)p->count * sizeof(float)) break;
        memcpy(dst + p->offset + off / sizeof(float), t->data, t->data_len);
        off += t->data_len;
    }
    if (off != (size_t)p->count * sizeof(float)) {
        snprintf(err, errlen, "%s: the model's gate tensors do not fit the parameter (%lld floats)",
                 p->name, (long long)p->count);
        return -1;
    }
    return 0;
}

/* Ops that can map to a layer (given suitable operands and options). */
static int mappable(int32_t op) {
    static const int32_t ops[] = {KILN_OP_CONV_2D,
                                  KILN_OP_DEPTHWISE_CONV_2D,
                                  KILN_OP_FULLY_CONNECTED,
                                  KILN_OP_MAX_POOL_2D,
                                  KILN_OP_AVERAGE_POOL_2D,
                                  KILN_OP_MEAN,
                                  KILN_OP_RESHAPE,
                                  KILN_OP_ADD,
                                  KILN_OP_CONCATENATION,
                                  KILN_OP_PAD,
                                  KILN_OP_GATHER,
                                  KILN_OP_RELU,
                                  KILN_OP_RELU6,
                                  KILN_OP_LOGISTIC,
                                  KILN_OP_TANH,
                                  KILN_OP_HARD_SWISH,
                                  KILN_OP_LEAKY_RELU,
                                  KILN_OP_SOFTMAX,
                                  KILN_OP_GELU,
                                  KILN_OP_UNIDIRECTIONAL_SEQUENCE_LSTM};
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
        if (ops[k] == op) return 1;
    return 0;
}

static void map_op(ctx *c, int32_t i) {
    const kiln__op_def *od = &c->sg->ops[i];
    const kiln_node nd = node_of(c, od);
    const int32_t op = od->builtin;
    const int32_t x = od->n_in > 0 ? od->inputs[0] : -1;
    const int32_t y = od->n_out == 1 ? od->outputs[0] : -1;
    if (y < 0) {
        add_bad(c, i, "more than one output");
        return;
    }
    for (int32_t k = 0; k < od->n_in; k++) {
        const int32_t t = od->inputs[k];
        if (t >= 0 && !is_const(c, t) && !c->tname[t][0] && !is_var(c, t)) {
            if (!mappable(op))
                add_bad(c, i, NULL);
            else
                c->n_dep++;
            return;
        }
    }
    const kiln__tensor_def *xt = T(c, x), *yt = T(c, y);
    switch (op) {
    case KILN_OP_UNIDIRECTIONAL_SEQUENCE_LSTM:
        lstm_op(c, i);
        return;
    case KILN_OP_CONV_2D:
    case KILN_OP_DEPTHWISE_CONV_2D: {
        const int dw = op == KILN_OP_DEPTHWISE_CONV_2D;
        const int32_t w = od->n_in > 1 ? od->inputs[1] : -1;
        const int32_t b = od->n_in > 2 ? od->inputs[2] : -1;
        if (!is_act(c, x) || !is_const(c, w) || (b >= 0 && !is_const(c, b)) || T(c, w)->rank != 4 ||
            xt->rank != 4) {
            add_bad(c, i, "needs a 4-D input and constant weights");
            return;
        }
        const char *fact = fused_name(kiln_opt_i8(&nd, dw ? 4 : 3, 0));
        if (!fact) {
            add_bad(c, i, "fused activation has no layer");
            return;
        }
        const kiln__tensor_def *wt = T(c, w);
        const int32_t pad = kiln_opt_i8(&nd, 0, 0);
        const int32_t sw = kiln_opt_i32(&nd, 1, 1), sh = kiln_opt_i32(&nd, 2, 1);
        const int32_t dlw = kiln_opt_i32(&nd, dw ? 5 : 4, 1),
                      dlh = kiln_opt_i32(&nd, dw ? 6 : 5, 1);
        char base[NAME_MAX_LEN];
        const int named = strip_suffix(wt->name, dw ? "/depthwise_kernel" : "/kernel", base);
        if (dw && named && b < 0 && !fact[0] &&
            separable(c, i, base, xt, wt, pad, sh, sw, dlh, dlw))
            return;
        rec *r = new_rec(c, dw ? "depthwise_conv2d" : "conv2d", y, &x, 1);
        r->w = w;
        r->b = b;
        int n;
        if (dw) {
            const int32_t ch = xt->dims[3];
            const int32_t mult = ch > 0 ? wt->dims[3] / ch : 1;
            n = snprintf(r->args, sizeof r->args, "%dx%d multiplier=%d", wt->dims[1], wt->dims[2],
                         mult);
        } else {
            n = snprintf(r->args, sizeof r->args, "%d %dx%d", wt->dims[0], wt->dims[1],
                         wt->dims[2]);
        }
        snprintf(r->args + n, sizeof r->args - (size_t)n,
                 " strides=%dx%d padding=%s dilation=%dx%d use_bias=%s", sh, sw,
                 pad == 0 ? "same" : "valid", dlh, dlw, b >= 0 ? "true" : "false");
        finish_conv_like(c, r, named ? base : NULL, y, fact);
        return;
    }
    case KILN_OP_FULLY_CONNECTED: {
        const int32_t w = od->n_in > 1 ? od->inputs[1] : -1;
        const int32_t b = od->n_in > 2 ? od->inputs[2] : -1;
        if (!is_act(c, x) || !is_const(c, w) || (b >= 0 && !is_const(c, b)) || T(c, w)->rank != 2 ||
            kiln_opt_i8(&nd, 1, 0) != 0 || xt->rank < 2) {
            add_bad(c, i, "needs constant [out, in] weights");
            return;
        }
        const char *fact = fused_name(kiln_opt_i8(&nd, 0, 0));
        if (!fact) {
            add_bad(c, i, "fused activation has no layer");
            return;
        }
        int32_t in = x;
        if (xt->rank > 2 && !kiln_opt_i8(&nd, 2, 0)) {
            /* FULLY_CONNECTED flattens all but the batch axis; a dense layer would not. */
            rec *f = new_rec(c, "flatten", -1, &x, 1);
            char fname[NAME_MAX_LEN];
            snprintf(fname, sizeof fname, "%.80s_flatten", yt->name);
            commit(c, f, fname, -1);
            snprintf(f->args, sizeof f->args, "%s", "");
            in = -3 - (c->n_recs - 1); /* a record as input */
        }
        const kiln__tensor_def *wt = T(c, w);
        rec *r = new_rec(c, "dense", y, &in, 1);
        r->w = w;
        r->b = b;
        snprintf(r->args, sizeof r->args, "%d use_bias=%s", wt->dims[0], b >= 0 ? "true" : "false");
        char base[NAME_MAX_LEN];
        const int named = strip_suffix(wt->name, "/kernel", base);
        finish_conv_like(c, r, named ? base : NULL, y, fact);
        return;
    }
    case KILN_OP_MAX_POOL_2D:
    case KILN_OP_AVERAGE_POOL_2D: {
        const char *fact = fused_name(kiln_opt_i8(&nd, 5, 0));
        if (!is_act(c, x) || xt->rank != 4 || !fact || fact[0]) {
            add_bad(c, i, "needs a 4-D input and no fused activation");
            return;
        }
        rec *r = new_rec(c, op == KILN_OP_MAX_POOL_2D ? "maxpool2d" : "avgpool2d", y, &x, 1);
        snprintf(r->args, sizeof r->args, "%dx%d strides=%dx%d padding=%s", kiln_opt_i32(&nd, 4, 1),
                 kiln_opt_i32(&nd, 3, 1), kiln_opt_i32(&nd, 2, 1), kiln_opt_i32(&nd, 1, 1),
                 kiln_opt_i8(&nd, 0, 0) == 0 ? "same" : "valid");
        commit(c, r, yt->name, y);
        return;
    }
    case KILN_OP_MEAN: {
        const int32_t a = od->n_in > 1 ? od->inputs[1] : -1;
        const kiln__tensor_def *at = T(c, a);
        if (!is_act(c, x) || xt->rank != 4 || !is_const(c, a) || at->type != KILN_INT32 ||
            at->data_len != 8 || i32_at(at, 0) != 1 || i32_at(at, 1) != 2 ||
            kiln_opt_i8(&nd, 0, 0)) {
            add_bad(c, i, "only the mean over axes 1, 2 without keep_dims");
            return;
        }
        rec *r = new_rec(c, "global_avgpool2d", y, &x, 1);
        commit(c, r, yt->name, y);
        return;
    }
    case KILN_OP_RESHAPE: {
        if (!is_act(c, x) || yt->rank < 2) {
            add_bad(c, i, "needs a batch axis");
            return;
        }
        rec *r = new_rec(c, yt->rank == 2 ? "flatten" : "reshape", y, &x, 1);
        size_t n = 0;
        for (int32_t k = 1; yt->rank > 2 && k < yt->rank; k++)
            n += (size_t)snprintf(r->args + n, sizeof r->args - n, "%s%d", k > 1 ? " " : "",
                                  yt->dims[k]);
        commit(c, r, yt->name, y);
        return;
    }
    case KILN_OP_ADD:
    case KILN_OP_CONCATENATION: {
        const int add = op == KILN_OP_ADD;
        for (int32_t k = 0; k < od->n_in; k++)
            if (!is_act(c, od->inputs[k])) {
                add_bad(c, i, "constant operand");
                return;
            }
        const char *fact = fused_name(kiln_opt_i8(&nd, add ? 0 : 1, 0));
        if (!fact) {
            add_bad(c, i, "fused activation has no layer");
            return;
        }
        if ((add && od->n_in != 2) || od->n_in > 16 || od->n_in < 2) {
            add_bad(c, i, "operand count");
            return;
        }
        rec *r = new_rec(c, add ? "add" : "concat", y, od->inputs, od->n_in);
        if (!add) snprintf(r->args, sizeof r->args, "axis=%d", kiln_opt_i32(&nd, 0, 0));
        if (!fact[0]) {
            commit(c, r, yt->name, y);
            return;
        }
        /* a fused activation becomes an activation layer after it */
        char pre[NAME_MAX_LEN];
        snprintf(pre, sizeof pre, "%.90s_pre", yt->name);
        commit(c, r, pre, -1);
        rec *a = new_rec(c, fact, y, NULL, 0);
        a->in[0] = -1;
        a->n_in = 1;
        commit(c, a, yt->name, y);
        return;
    }
    case KILN_OP_PAD: {
        const int32_t p = od->n_in > 1 ? od->inputs[1] : -1;
        const kiln__tensor_def *pt = T(c, p);
        if (!is_act(c, x) || xt->rank != 4 || !is_const(c, p) || pt->type != KILN_INT32 ||
            pt->data_len != 32 || i32_at(pt, 0) || i32_at(pt, 1) || i32_at(pt, 6) ||
            i32_at(pt, 7)) {
            add_bad(c, i, "only zero padding of height and width");
            return;
        }
        rec *r = new_rec(c, "zeropad2d", y, &x, 1);
        snprintf(r->args, sizeof r->args, "%d %d %d %d", i32_at(pt, 2), i32_at(pt, 3),
                 i32_at(pt, 4), i32_at(pt, 5));
        commit(c, r, yt->name, y);
        return;
    }
    case KILN_OP_GATHER: {
        const int32_t e = x, ids = od->n_in > 1 ? od->inputs[1] : -1;
        if (!is_const(c, e) || T(c, e)->rank != 2 || !is_act(c, ids) ||
            T(c, ids)->type != KILN_INT32 || kiln_opt_i32(&nd, 0, 0) != 0) {
            add_bad(c, i, "only an embedding lookup (constant table, int32 ids, axis 0)");
            return;
        }
        rec *r = new_rec(c, "embedding", y, &ids, 1);
        r->w = e;
        snprintf(r->args, sizeof r->args, "%d %d", T(c, e)->dims[0], T(c, e)->dims[1]);
        char base[NAME_MAX_LEN];
        commit(c, r, strip_suffix(T(c, e)->name, "/embeddings", base) ? base : yt->name, y);
        return;
    }
    case KILN_OP_RELU:
    case KILN_OP_RELU6:
    case KILN_OP_LOGISTIC:
    case KILN_OP_TANH:
    case KILN_OP_HARD_SWISH:
    case KILN_OP_LEAKY_RELU:
    case KILN_OP_SOFTMAX:
    case KILN_OP_GELU: {
        const char *an = op == KILN_OP_RELU         ? "relu"
                         : op == KILN_OP_RELU6      ? "relu6"
                         : op == KILN_OP_LOGISTIC   ? "sigmoid"
                         : op == KILN_OP_TANH       ? "tanh"
                         : op == KILN_OP_HARD_SWISH ? "hard_swish"
                         : op == KILN_OP_LEAKY_RELU ? "leaky_relu"
                         : op == KILN_OP_SOFTMAX    ? "softmax"
                                                    : "gelu";
        if (!is_act(c, x) || (op == KILN_OP_SOFTMAX && kiln_opt_f32(&nd, 0, 1.0f) != 1.0f) ||
            (op == KILN_OP_GELU && kiln_opt_i8(&nd, 0, 0))) {
            add_bad(c, i, "options have no layer");
            return;
        }
        char alpha[40] = "";
        if (op == KILN_OP_LEAKY_RELU)
            snprintf(alpha, sizeof alpha, "alpha=%.9g", (double)kiln_opt_f32(&nd, 0, 0.2f));
        const int32_t pr = c->trec[x];
        if (pr >= 0 && c->recs[pr].has_act_slot && !strcmp(c->recs[pr].name, yt->name) &&
            op != KILN_OP_RELU && op != KILN_OP_RELU6) {
            rec *p = &c->recs[pr];
            p->act = an;
            p->has_act_slot = 0;
            if (alpha[0]) {
                const size_t n = strlen(p->args);
                snprintf(p->args + n, sizeof p->args - n, " %s", alpha);
            }
            snprintf(c->tname[y], NAME_MAX_LEN, "%s", p->name);
            c->trec[y] = pr;
            return;
        }
        rec *r = new_rec(c, an, y, &x, 1);
        snprintf(r->args, sizeof r->args, "%s", alpha);
        commit(c, r, yt->name, y);
        return;
    }
    default:
        add_bad(c, i, NULL);
        return;
    }
}

/* The name a record input refers to. */
static const char *in_name(const ctx *c, const rec *r, int32_t k, int32_t idx) {
    const int32_t t = r->in[k];
    if (t == -1) return c->recs[idx - 1].name; /* naming layer after its conv */
    if (t <= -3) return c->recs[-3 - t].name;
    return c->tname[t];
}

static void write_spec(ctx *c, const char *model_name) {
    emit(c, "# Read back from a .tflite by kiln convert --to-spec (docs/to_spec.md).\n");
    emit(c, "model %s\n", model_name);
    for (int32_t k = 0; k < c->sg->n_inputs; k++) {
        const int32_t t = c->sg->inputs[k];
        const kiln__tensor_def *d = T(c, t);
        emit(c, "%s = input", c->tname[t]);
        for (int32_t j = 1; j < d->rank; j++)
            emit(c, " %d", d->dims[j]);
        emit(c, "%s\n", d->type == KILN_INT32 ? " dtype=int32" : "");
    }
    for (int32_t i = 0; i < c->n_recs; i++) {
        const rec *r = &c->recs[i];
        emit(c, "%s = %s(", r->name, r->kind);
        for (int32_t k = 0; k < r->n_in; k++)
            emit(c, "%s%s", k ? ", " : "", in_name(c, r, k, i));
        emit(c, ")");
        if (r->args[0]) emit(c, " %s", r->args);
        if (r->act) emit(c, " activation=%s", r->act);
        emit(c, "\n");
    }
    const int32_t out = c->sg->outputs[0];
    emit(c, "output %s\n", c->tname[out]);
    /* A .tflite does not record the training loss: mse keeps the graph trainable; set the one
     * you fine-tune with. */
    emit(c, "# the .tflite does not record the loss: set the one you train with\n");
    emit(c, "loss mse output=%s\n", c->tname[out]);
}

static int fill(float *dst, const kiln_param_desc *p, const kiln__tensor_def *t, char *err,
                size_t errlen) {
    if (!t || !t->data || t->type != KILN_FLOAT32 ||
        t->data_len != (size_t)p->count * sizeof(float)) {
        snprintf(err, errlen, "%s: the model's tensor does not fit the parameter (%lld floats)",
                 p->name, (long long)p->count);
        return -1;
    }
    memcpy(dst + p->offset, t->data, t->data_len);
    return 0;
}

kiln_status kiln_tflite_to_spec(const void *buf, size_t len, const char *name, char **spec_text,
                                float **params, int64_t *n_params, char *err, size_t errlen) {
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = 0;
    if (!buf || !spec_text || !params || !n_params) {
        snprintf(err, errlen, "kiln_tflite_to_spec: NULL argument");
        return KILN_ERR_ARG;
    }
    *spec_text = NULL;
    *params = NULL;
    *n_params = 0;
    if (!name) name = "model";
    kiln_model *m = NULL;
    kiln_status s = kiln_model_load(buf, len, name, NULL, &m, err, errlen);
    if (s) return s;
    ctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    kiln_graph *g = NULL;
    if (m->n_subgraphs != 1) {
        snprintf(err, errlen, "%s: %d subgraphs; only single-subgraph models map to a graph", name,
                 (int)m->n_subgraphs);
        s = KILN_ERR_UNSUPPORTED;
        goto done;
    }
    c.sg = &m->subgraphs[0];
    const int32_t nt = c.sg->n_tensors > 0 ? c.sg->n_tensors : 1;
    c.recs = (rec *)calloc(3 * (size_t)c.sg->n_ops + 1, sizeof(rec)); /* <= 3 layers an op */
    c.tname = calloc((size_t)nt, sizeof *c.tname);
    c.trec = (int32_t *)calloc((size_t)nt, sizeof(int32_t));
    c.nuse = (int32_t *)calloc((size_t)nt, sizeof(int32_t));
    if (!c.recs || !c.tname || !c.trec || !c.nuse) {
        snprintf(err, errlen, "out of memory");
        s = KILN_ERR_NOMEM;
        goto done;
    }
    for (int32_t t = 0; t < c.sg->n_tensors; t++) {
        const kiln__tensor_def *d = &c.sg->tensors[t];
        c.trec[t] = -1;
        if (d->type != KILN_FLOAT32 && d->type != KILN_INT32) {
            snprintf(err, errlen,
                     "%s: tensor '%s' is %s: quantized or non-float models cannot be read back "
                     "(only float32 models map to layers)",
                     name, d->name, kiln_dtype_name(d->type));
            s = KILN_ERR_UNSUPPORTED;
            goto done;
        }
    }
    if (c.sg->n_outputs != 1 || c.sg->n_inputs < 1) {
        snprintf(err, errlen, "%s: %d outputs; a graph has one input or more and one output", name,
                 (int)c.sg->n_outputs);
        s = KILN_ERR_UNSUPPORTED;
        goto done;
    }
    for (int32_t i = 0; i < c.sg->n_ops; i++)
        for (int32_t k = 0; k < c.sg->ops[i].n_in; k++)
            if (c.sg->ops[i].inputs[k] >= 0) c.nuse[c.sg->ops[i].inputs[k]]++;
    for (int32_t k = 0; k < c.sg->n_inputs; k++) {
        const int32_t t = c.sg->inputs[k];
        make_name(&c, c.sg->tensors[t].name, c.tname[t]);
        c.trec[t] = -2;
        if (c.sg->tensors[t].rank < 2) {
            snprintf(err, errlen, "%s: input '%s' has no batch axis", name, c.sg->tensors[t].name);
            s = KILN_ERR_UNSUPPORTED;
            goto done;
        }
    }
    c.skip_op = -1;
    for (int32_t i = 0; i < c.sg->n_ops; i++)
        if (i != c.skip_op) map_op(&c, i);
    if (c.n_bad || c.n_dep) {
        char list[768];
        bad_list(&c, list, sizeof list);
        snprintf(err, errlen, "%s: ops with no Kiln layer: %s", name, list);
        s = KILN_ERR_UNSUPPORTED;
        goto done;
    }
    if (!c.tname[c.sg->outputs[0]][0]) {
        snprintf(err, errlen, "%s: the output is not produced by a mapped op", name);
        s = KILN_ERR_UNSUPPORTED;
        goto done;
    }
    {
        char mname[NAME_MAX_LEN];
        const char *desc = m->description ? m->description : "";
        /* Kiln wrote "Kiln model <name>" as the description before; a description that is an
         * identifier names the model too; any other (TFLite's "MLIR Converted.") or none: the
         * file's name */
        const char *pfx = "Kiln model ";
        int ident = (desc[0] >= 'a' && desc[0] <= 'z') || (desc[0] >= 'A' && desc[0] <= 'Z') ||
                    desc[0] == '_';
        for (const char *p = desc; *p && ident; p++)
            ident = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-';
        if (!strncmp(desc, pfx, strlen(pfx)))
            snprintf(mname, sizeof mname, "%s", desc + strlen(pfx));
        else if (ident)
            snprintf(mname, sizeof mname, "%s", desc);
        else {
            /* the file's base name without ".tflite" */
            const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
            snprintf(mname, sizeof mname, "%s", base);
            const size_t n = strlen(mname), e = strlen(".tflite");
            if (n > e && !strcmp(mname + n - e, ".tflite")) mname[n - e] = 0;
        }
        /* the model name must be an identifier too */
        for (char *p = mname; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '-'))
                *p = '_';
        write_spec(&c, mname[0] ? mname : "model");
    }
    if (c.oom) {
        snprintf(err, errlen, "out of memory");
        s = KILN_ERR_NOMEM;
        goto done;
    }
    if ((s = kiln_graph_parse(c.txt, c.tlen, name, &g, err, errlen))) {
        /* every op mapped, but the layer graph rejects the combination (e.g. a broadcasting
         * add): say so, with the parser's message (it names the layer) */
        char perr[512];
        snprintf(perr, sizeof perr, "%s", err);
        snprintf(err, errlen, "%s: the ops map to layers Kiln does not support: %s", name, perr);
        s = KILN_ERR_UNSUPPORTED;
        goto done;
    }
    {
        const int64_t np = kiln_graph_param_count(g);
        float *p = (float *)calloc((size_t)(np > 0 ? np : 1), sizeof(float));
        if (!p) {
            snprintf(err, errlen, "out of memory");
            s = KILN_ERR_NOMEM;
            goto done;
        }
        *params = p;
        *n_params = np;
        for (int32_t k = 0; k < kiln_graph_num_params(g) && !s; k++) {
            kiln_param_desc pd;
            kiln_layer_desc L;
            if (kiln_graph_param(g, k, &pd) || kiln_graph_layer(g, pd.layer, &L)) {
                s = KILN_ERR_STATE;
                break;
            }
            const rec *r = NULL;
            for (int32_t j = 0; j < c.n_recs; j++)
                if (!strcmp(c.recs[j].name, L.name)) r = &c.recs[j];
            if (!r) {
                snprintf(err, errlen, "%s: no source for parameter %s", name, pd.name);
                s = KILN_ERR_STATE;
                break;
            }
            if (r->identity_bn) {
                /* gamma 1, beta 0, mean 0, variance + epsilon == 1: folds to the identity */
                float v = 0.0f;
                if (!strcmp(pd.role, "gamma")) v = 1.0f;
                if (!strcmp(pd.role, "moving_variance")) {
                    const float eps = L.attrs->epsilon;
                    v = 1.0f - eps;
                    while (v + eps > 1.0f)
                        v = nextafterf(v, 0.0f);
                    while (v + eps < 1.0f)
                        v = nextafterf(v, 2.0f);
                }
                for (int64_t e = 0; e < pd.count; e++)
                    p[pd.offset + e] = v;
                continue;
            }
            if (r->lstm) {
                const int32_t *gs = !strcmp(pd.role, "kernel")             ? r->gates
                                    : !strcmp(pd.role, "recurrent_kernel") ? r->gates + 4
                                                                           : r->gates + 8;
                if (fill_gates(p, &pd, &c, gs, err, errlen)) s = KILN_ERR_MODEL;
                continue;
            }
            const int32_t src = !strcmp(pd.role, "bias")               ? r->b
                                : !strcmp(pd.role, "pointwise_kernel") ? r->w2
                                                                       : r->w;
            if (fill(p, &pd, T(&c, src), err, errlen)) s = KILN_ERR_MODEL;
        }
    }
done:
    if (s) {
        free(*params);
        *params = NULL;
        *n_params = 0;
        free(c.txt);
    } else {
        *spec_text = c.txt;
    }
    kiln_graph_destroy(g);
    free(c.recs);
    free(c.tname);
    free(c.trec);
    free(c.nuse);
    kiln_model_destroy(m);
    return s;
}

static kiln_status write_file(const char *path, const void *data, size_t n, char *err,
                              size_t errlen) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot write", tmp);
        return KILN_ERR_IO;
    }
    const int ok = fwrite(data, 1, n, f) == n;
    if (fclose(f) || !ok || rename(tmp, path)) {
        remove(tmp);
        snprintf(err, errlen, "%s: write failed", path);
        return KILN_ERR_IO;
    }
    return KILN_OK;
}

kiln_status kiln_tflite_to_spec_file(const char *tflite_path, const char *spec_path,
                                     const char *ckpt_path, char *err, size_t errlen) {
    char dummy[8];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = 0;
    FILE *f = fopen(tflite_path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", tflite_path);
        return KILN_ERR_IO;
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            uint8_t *nb = (uint8_t *)realloc(buf, cap);
            if (!nb) {
                fclose(f);
                free(buf);
                snprintf(err, errlen, "out of memory");
                return KILN_ERR_NOMEM;
            }
            buf = nb;
        }
        const size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) break;
    }
    fclose(f);
    char *spec = NULL;
    float *params = NULL;
    int64_t np = 0;
    kiln_graph *g = NULL;
    kiln_trainer *t = NULL;
    kiln_status s = kiln_tflite_to_spec(buf, len, tflite_path, &spec, &params, &np, err, errlen);
    if (s) goto done;
    if ((s = write_file(spec_path, spec, strlen(spec), err, errlen))) goto done;
    if (ckpt_path) {
        kiln_train_config cfg;
        kiln_train_config_init(&cfg);
        cfg.batch = 1;
        if ((s = kiln_graph_parse(spec, strlen(spec), spec_path, &g, err, errlen))) goto done;
        if ((s = kiln_trainer_create(g, &cfg, &t, err, errlen))) goto done;
        memcpy(kiln_trainer_params(t), params, (size_t)np * sizeof(float));
        if ((s = kiln_trainer_save(t, ckpt_path))) {
            snprintf(err, errlen, "%s: %s", ckpt_path, kiln_trainer_error(t));
            goto done;
        }
    }
done:
    kiln_trainer_destroy(t);
    kiln_graph_destroy(g);
    free(spec);
    free(params);
    free(buf);
    return s;
}
