/* convert.c: lowers a Kiln graph to TFLite builtin ops and writes a float .tflite, as TFLite's
 * converter does for the equivalent Keras model: batch norm folded into the preceding conv or
 * dense weights, ReLU/ReLU6 fused into fused_activation_function (conv, dense, add), dropout
 * removed, Flatten as RESHAPE, SeparableConv2D as DEPTHWISE_CONV_2D + CONV_2D,
 * GlobalAveragePooling2D as MEAN, Dense on rank > 2 inputs as FULLY_CONNECTED with
 * keep_num_dims, LSTM as UNIDIRECTIONAL_SEQUENCE_LSTM (+ STRIDED_SLICE of the last step). Op
 * versions follow TFLite's rules for the features used. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/tfl_writer.h"
#include "kernels/ops.h"
#include "kiln/convert.h"

/* TFLite enum values (schema.fbs). */
enum { PAD_SAME = 0, PAD_VALID = 1 };
enum { ACT_NONE = 0, ACT_RELU = 1, ACT_RELU6 = 3, ACT_TANH = 4 };

typedef struct conv_ctx {
    const kiln_graph *g;
    const float *params;
    const kiln_convert_options *o;
    kiln_tfl_writer *w;
    int32_t sg;
    int32_t *tmap; /* graph tensor id -> TFLite tensor index (-1: not yet) */
    int32_t *nuse; /* graph tensor id -> number of consuming layers */
    uint8_t *skip; /* layer folded into its predecessor */
    char *err;
    size_t errlen;
    /* ops used, for the target check and min_runtime_version */
    int32_t used_ops[64][2];
    int32_t n_used;
    char missing[512];
    float *scratch; /* folded weights */
} conv_ctx;

static kiln_status cfail(conv_ctx *c, kiln_status s, const char *fmt, ...) {
    if (c->err && c->errlen && !c->err[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
    }
    return s;
}

void kiln_convert_options_init(kiln_convert_options *o) {
    memset(o, 0, sizeof *o);
    o->target = KILN_TARGET_TFLITE;
}

/* Ops TFLite Micro registers (its op resolver), for --target tflm. */
static int tflm_has(int32_t op) {
    static const int32_t ops[] = {KILN_OP_ADD,
                                  KILN_OP_AVERAGE_POOL_2D,
                                  KILN_OP_CONCATENATION,
                                  KILN_OP_CONV_2D,
                                  KILN_OP_DEPTHWISE_CONV_2D,
                                  KILN_OP_FULLY_CONNECTED,
                                  KILN_OP_GATHER,
                                  KILN_OP_HARD_SWISH,
                                  KILN_OP_LEAKY_RELU,
                                  KILN_OP_LOGISTIC,
                                  KILN_OP_MAX_POOL_2D,
                                  KILN_OP_MEAN,
                                  KILN_OP_MUL,
                                  KILN_OP_PAD,
                                  KILN_OP_RELU,
                                  KILN_OP_RELU6,
                                  KILN_OP_RESHAPE,
                                  KILN_OP_SOFTMAX,
                                  KILN_OP_STRIDED_SLICE,
                                  KILN_OP_TANH,
                                  KILN_OP_UNIDIRECTIONAL_SEQUENCE_LSTM,
                                  KILN_OP_SUB,
                                  KILN_OP_QUANTIZE,
                                  KILN_OP_DEQUANTIZE};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (ops[i] == op) return 1;
    return 0;
}

/* The TFLite runtime version that first ran (op, version), from TFLite's runtime version
 * table, for the "min_runtime_version" metadata. */
static const char *runtime_version(int32_t op, int32_t ver) {
    switch (op) {
    case KILN_OP_FULLY_CONNECTED:
        return ver >= 5 ? "2.0.0" : "1.5.0";
    case KILN_OP_DEPTHWISE_CONV_2D:
        return ver >= 2 ? "1.12.0" : "1.5.0";
    case KILN_OP_MEAN:
        return "1.6.0";
    case KILN_OP_GATHER:
        return "1.6.0";
    case KILN_OP_TANH:
    case KILN_OP_LOGISTIC:
        return "1.14.0";
    case KILN_OP_UNIDIRECTIONAL_SEQUENCE_LSTM:
        return "1.13.1";
    case KILN_OP_STRIDED_SLICE:
        return "1.6.0";
    case KILN_OP_LEAKY_RELU:
        return "1.13.1";
    case KILN_OP_HARD_SWISH:
        return "1.15.0";
    case KILN_OP_GELU:
        return "2.9.0";
    default:
        return "1.5.0";
    }
}

static int vcmp(const char *a, const char *b) {
    int x[3] = {0}, y[3] = {0};
    sscanf(a, "%d.%d.%d", &x[0], &x[1], &x[2]);
    sscanf(b, "%d.%d.%d", &y[0], &y[1], &y[2]);
    for (int i = 0; i < 3; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return 0;
}

static int32_t opcode(conv_ctx *c, int32_t op, int32_t ver, const char *layer) {
    int found = 0;
    for (int32_t i = 0; i < c->n_used; i++)
        if (c->used_ops[i][0] == op && c->used_ops[i][1] == ver) found = 1;
    if (!found && c->n_used < 64) {
        c->used_ops[c->n_used][0] = op;
        c->used_ops[c->n_used][1] = ver;
        c->n_used++;
    }
    if (c->o->target == KILN_TARGET_TFLM && !tflm_has(op)) {
        size_t n = strlen(c->missing);
        snprintf(c->missing + n, sizeof c->missing - n, "%s%s (layer %s)", n ? ", " : "",
                 kiln_builtin_name(op), layer);
    }
    return kiln_tfl_add_opcode(c->w, op, ver, NULL);
}

/* A float32 tensor with batch 1 in front of the per-sample dims (signature: -1). */
static int32_t act_tensor(conv_ctx *c, const char *name, int32_t rank, const int32_t *dims) {
    int32_t shape[KILN_MAX_RANK + 1], sig[KILN_MAX_RANK + 1];
    shape[0] = 1;
    sig[0] = -1;
    for (int32_t i = 0; i < rank; i++)
        shape[i + 1] = sig[i + 1] = dims[i];
    kiln_tfl_tensor t = {0};
    t.name = name;
    t.type = KILN_FLOAT32;
    t.rank = rank + 1;
    t.shape = shape;
    t.shape_signature = sig;
    return kiln_tfl_add_tensor(c->w, c->sg, &t);
}

static int32_t const_tensor(conv_ctx *c, const char *name, int32_t type, int32_t rank,
                            const int32_t *dims, const void *data, size_t bytes) {
    kiln_tfl_tensor t = {0};
    t.name = name;
    t.type = type;
    t.rank = rank;
    t.shape = dims;
    t.buffer = kiln_tfl_add_buffer(c->w, data, bytes);
    return kiln_tfl_add_tensor(c->w, c->sg, &t);
}

static int32_t param_tensor(conv_ctx *c, const kiln_param_desc *p, const float *data) {
    return const_tensor(c, p->name, KILN_FLOAT32, p->rank, p->dims, data,
                        (size_t)p->count * sizeof(float));
}

static kiln_status add_op(conv_ctx *c, int32_t op, int32_t ver, const char *layer,
                          const int32_t *in, int32_t nin, int32_t out, int32_t opts_type,
                          const kiln_tfl_opt *opts, int32_t nopts) {
    kiln_tfl_op o = {0};
    o.opcode = opcode(c, op, ver, layer);
    o.inputs = in;
    o.n_inputs = nin;
    o.outputs = &out;
    o.n_outputs = 1;
    o.opts_type = opts_type;
    o.opts = opts;
    o.n_opts = nopts;
    if (kiln_tfl_add_operator(c->w, c->sg, &o) < 0)
        return cfail(c, KILN_ERR_ARG, "layer %s: %s", layer, kiln_tfl_writer_error(c->w));
    return KILN_OK;
}

static int fusable(kiln_actfn a) {
    return a == KILN_AF_NONE || a == KILN_AF_RELU || a == KILN_AF_RELU6;
}
static int32_t fused_code(kiln_actfn a) {
    return a == KILN_AF_RELU ? ACT_RELU : (a == KILN_AF_RELU6 ? ACT_RELU6 : ACT_NONE);
}

/* An activation as its own op (input tensor in, output tensor out). */
static kiln_status activation_op(conv_ctx *c, kiln_actfn a, float alpha, const char *layer,
                                 int32_t in, int32_t out) {
    kiln_tfl_opt opt = {0};
    switch (a) {
    case KILN_AF_RELU:
        return add_op(c, KILN_OP_RELU, 1, layer, &in, 1, out, 0, NULL, 0);
    case KILN_AF_RELU6:
        return add_op(c, KILN_OP_RELU6, 1, layer, &in, 1, out, 0, NULL, 0);
    case KILN_AF_SIGMOID:
        return add_op(c, KILN_OP_LOGISTIC, 1, layer, &in, 1, out, 0, NULL, 0);
    case KILN_AF_TANH:
        return add_op(c, KILN_OP_TANH, 1, layer, &in, 1, out, 0, NULL, 0);
    case KILN_AF_HARD_SWISH:
        return add_op(c, KILN_OP_HARD_SWISH, 1, layer, &in, 1, out, 0, NULL, 0);
    case KILN_AF_LEAKY_RELU:
        opt.id = 0;
        opt.type = KILN_TFL_OPT_F32;
        opt.f = alpha;
        return add_op(c, KILN_OP_LEAKY_RELU, 1, layer, &in, 1, out, KILN_OPTS_LeakyReluOptions,
                      &opt, 1);
    case KILN_AF_SOFTMAX:
        opt.id = 0;
        opt.type = KILN_TFL_OPT_F32;
        opt.f = 1.0f;
        return add_op(c, KILN_OP_SOFTMAX, 1, layer, &in, 1, out, KILN_OPTS_SoftmaxOptions, &opt, 1);
    case KILN_AF_GELU:
        opt.id = 0;
        opt.type = KILN_TFL_OPT_I8;
        opt.i = 0; /* exact (erf) form */
        return add_op(c, KILN_OP_GELU, 1, layer, &in, 1, out, KILN_OPTS_GeluOptions, &opt, 1);
    default:
        return cfail(c, KILN_ERR_UNSUPPORTED, "layer %s: activation has no TFLite op", layer);
    }
}

/* Emits the op's output with the layer's activation: fused when TFLite fuses it, otherwise an
 * intermediate tensor and a separate activation op. Returns the tensor the op must write. */
static int32_t op_output(conv_ctx *c, const kiln_layer_desc *L, kiln_actfn act, int32_t out,
                         int32_t *pre) {
    if (fusable(act)) {
        *pre = out;
        return out;
    }
    kiln_tensor_desc td;
    kiln_graph_tensor(c->g, L->output, &td);
    char name[256];
    snprintf(name, sizeof name, "%s/preact", L->name);
    *pre = act_tensor(c, name, td.rank, td.dims);
    return *pre;
}

static const kiln_param_desc *find_param(conv_ctx *c, const kiln_layer_desc *L, const char *role,
                                         kiln_param_desc *buf) {
    for (int32_t i = 0; i < L->n_params; i++) {
        if (kiln_graph_param(c->g, L->first_param + i, buf)) continue;
        if (!strcmp(buf->role, role)) return buf;
    }
    return NULL;
}

/* Folds a following batch norm into per-output-channel scale/shift (out channel = dim 0 of the
 * kernel for conv and dense, the last dim for depthwise). */
static int bn_fold(conv_ctx *c, int32_t li, float *scale, float *shift, int32_t n) {
    kiln_layer_desc B;
    kiln_graph_layer(c->g, li, &B);
    kiln_param_desc pg, pb, pm, pv;
    const kiln_param_desc *g = find_param(c, &B, "gamma", &pg);
    const kiln_param_desc *b = find_param(c, &B, "beta", &pb);
    const kiln_param_desc *m = find_param(c, &B, "moving_mean", &pm);
    const kiln_param_desc *v = find_param(c, &B, "moving_variance", &pv);
    if (!m || !v || m->count != n) return -1;
    const float eps = B.attrs->epsilon;
    for (int32_t i = 0; i < n; i++) {
        const float inv = 1.0f / sqrtf(c->params[v->offset + i] + eps);
        const float gm = g ? c->params[g->offset + i] : 1.0f;
        scale[i] = gm * inv;
        shift[i] = (b ? c->params[b->offset + i] : 0.0f) - c->params[m->offset + i] * gm * inv;
    }
    return 0;
}

/* The layer index that follows li as the only consumer of its output and is a batch norm. */
static int32_t next_bn(conv_ctx *c, int32_t li, const kiln_layer_desc *L) {
    if (li + 1 >= kiln_graph_num_layers(c->g) || c->nuse[L->output] != 1) return -1;
    kiln_layer_desc N;
    kiln_graph_layer(c->g, li + 1, &N);
    if (N.kind != KILN_L_BATCH_NORM || N.n_inputs != 1 || N.inputs[0] != L->output) return -1;
    return li + 1;
}

/* Conv-like layer: weights (possibly folded), bias, op. kind: 0 conv, 1 depthwise, 2 dense. */
static kiln_status conv_like(conv_ctx *c, int32_t li, const kiln_layer_desc *L, int kind) {
    const kiln_layer_attrs *a = L->attrs;
    kiln_param_desc pk, pbias;
    const kiln_param_desc *k = find_param(c, L, kind == 1 ? "depthwise_kernel" : "kernel", &pk);
    const kiln_param_desc *bias = find_param(c, L, "bias", &pbias);
    if (!k) return cfail(c, KILN_ERR_ARG, "layer %s: no kernel parameter", L->name);
    const int32_t nout = kind == 1 ? k->dims[k->rank - 1] : k->dims[0];
    const float *kw = c->params + k->offset;
    float *wbuf = (float *)malloc((size_t)k->count * sizeof(float) + (size_t)nout * sizeof(float));
    if (!wbuf) return cfail(c, KILN_ERR_NOMEM, "out of memory");
    float *bbuf = wbuf + k->count;
    memcpy(wbuf, kw, (size_t)k->count * sizeof(float));
    for (int32_t i = 0; i < nout; i++)
        bbuf[i] = bias ? c->params[bias->offset + i] : 0.0f;
    int has_bias = bias != NULL;
    kiln_actfn act = a->activation;
    int32_t out_layer = li;
    const int32_t bn = act == KILN_AF_NONE ? next_bn(c, li, L) : -1;
    if (bn >= 0) {
        float *sc = (float *)malloc(2 * (size_t)nout * sizeof(float));
        if (!sc) {
            free(wbuf);
            return cfail(c, KILN_ERR_NOMEM, "out of memory");
        }
        if (!bn_fold(c, bn, sc, sc + nout, nout)) {
            const int64_t per = k->count / nout;
            for (int64_t e = 0; e < k->count; e++) {
                const int32_t ch = kind == 1 ? (int32_t)(e % nout) : (int32_t)(e / per);
                wbuf[e] *= sc[ch];
            }
            for (int32_t i = 0; i < nout; i++)
                bbuf[i] = bbuf[i] * sc[i] + sc[nout + i];
            has_bias = 1;
            c->skip[bn] = 1;
            out_layer = bn;
        }
        free(sc);
    }
    kiln_layer_desc OL;
    kiln_graph_layer(c->g, out_layer, &OL);
    /* A following activation layer that is the output's only consumer fuses (relu, relu6). */
    if (act == KILN_AF_NONE && out_layer + 1 < kiln_graph_num_layers(c->g) &&
        c->nuse[OL.output] == 1) {
        kiln_layer_desc N;
        kiln_graph_layer(c->g, out_layer + 1, &N);
        if (N.kind == KILN_L_ACTIVATION && N.inputs[0] == OL.output &&
            (N.attrs->activation == KILN_AF_RELU || N.attrs->activation == KILN_AF_RELU6)) {
            act = N.attrs->activation;
            c->skip[out_layer + 1] = 1;
            out_layer = out_layer + 1;
            kiln_graph_layer(c->g, out_layer, &OL);
        }
    }
    kiln_tensor_desc td;
    kiln_graph_tensor(c->g, OL.output, &td);
    const int32_t y = act_tensor(c, OL.name, td.rank, td.dims);
    char name[256];
    snprintf(name, sizeof name, "%s/%s", L->name, kind == 1 ? "depthwise_kernel" : "kernel");
    const int32_t wt = const_tensor(c, name, KILN_FLOAT32, k->rank, k->dims, wbuf,
                                    (size_t)k->count * sizeof(float));
    int32_t bt = -1;
    if (has_bias) {
        snprintf(name, sizeof name, "%s/bias", L->name);
        bt = const_tensor(c, name, KILN_FLOAT32, 1, &nout, bbuf, (size_t)nout * sizeof(float));
    }
    free(wbuf);
    int32_t pre;
    const int32_t target = op_output(c, &OL, act, y, &pre);
    const int32_t in[3] = {c->tmap[L->inputs[0]], wt, bt};
    kiln_tfl_opt opts[8];
    int32_t n = 0;
    const int32_t fused = fusable(act) ? fused_code(act) : ACT_NONE;
#define OPT(ID, TYPE, V)                                                                           \
    do {                                                                                           \
        memset(&opts[n], 0, sizeof opts[n]);                                                       \
        opts[n].id = (ID);                                                                         \
        opts[n].type = (TYPE);                                                                     \
        opts[n].i = (V);                                                                           \
        n++;                                                                                       \
    } while (0)
    kiln_status s;
    if (kind == 2) {
        kiln_tensor_desc xin;
        kiln_graph_tensor(c->g, L->inputs[0], &xin);
        const int keep = xin.rank > 1;
        OPT(0, KILN_TFL_OPT_I8, fused);
        if (keep) OPT(2, KILN_TFL_OPT_I8, 1);
        s = add_op(c, KILN_OP_FULLY_CONNECTED, keep ? 5 : 1, L->name, in, 3, target,
                   KILN_OPTS_FullyConnectedOptions, opts, n);
    } else {
        const int32_t pad = a->padding == KILN_PAD_SAME ? PAD_SAME : PAD_VALID;
        const int32_t dh = a->dilation[0] > 0 ? a->dilation[0] : 1;
        const int32_t dw = a->dilation[1] > 0 ? a->dilation[1] : 1;
        OPT(0, KILN_TFL_OPT_I8, pad);
        OPT(1, KILN_TFL_OPT_I32, a->strides[1] > 0 ? a->strides[1] : 1);
        OPT(2, KILN_TFL_OPT_I32, a->strides[0] > 0 ? a->strides[0] : 1);
        if (kind == 0) {
            OPT(3, KILN_TFL_OPT_I8, fused);
            if (dw != 1) OPT(4, KILN_TFL_OPT_I32, dw);
            if (dh != 1) OPT(5, KILN_TFL_OPT_I32, dh);
            s = add_op(c, KILN_OP_CONV_2D, 1, L->name, in, 3, target, KILN_OPTS_Conv2DOptions, opts,
                       n);
        } else {
            OPT(3, KILN_TFL_OPT_I32, a->depth_multiplier > 0 ? a->depth_multiplier : 1);
            OPT(4, KILN_TFL_OPT_I8, fused);
            if (dw != 1) OPT(5, KILN_TFL_OPT_I32, dw);
            if (dh != 1) OPT(6, KILN_TFL_OPT_I32, dh);
            s = add_op(c, KILN_OP_DEPTHWISE_CONV_2D, (dw != 1 || dh != 1) ? 2 : 1, L->name, in, 3,
                       target, KILN_OPTS_DepthwiseConv2DOptions, opts, n);
        }
    }
#undef OPT
    if (s) return s;
    if (!fusable(act) && (s = activation_op(c, act, a->alpha, L->name, pre, y))) return s;
    c->tmap[OL.output] = y;
    return KILN_OK;
}

static kiln_status separable(conv_ctx *c, const kiln_layer_desc *L) {
    const kiln_layer_attrs *a = L->attrs;
    kiln_param_desc pd, pp, pb;
    const kiln_param_desc *dk = find_param(c, L, "depthwise_kernel", &pd);
    const kiln_param_desc *pk = find_param(c, L, "pointwise_kernel", &pp);
    const kiln_param_desc *b = find_param(c, L, "bias", &pb);
    if (!dk || !pk) return cfail(c, KILN_ERR_ARG, "layer %s: missing kernels", L->name);
    kiln_tensor_desc xin, td;
    kiln_graph_tensor(c->g, L->inputs[0], &xin);
    kiln_graph_tensor(c->g, L->output, &td);
    /* Depthwise output: the spatial size of the layer's output, channels in * multiplier. */
    int32_t mid_dims[3] = {td.dims[0], td.dims[1], dk->dims[3]};
    char name[256];
    snprintf(name, sizeof name, "%s/depthwise", L->name);
    const int32_t mid = act_tensor(c, name, 3, mid_dims);
    const int32_t dwt = param_tensor(c, dk, c->params + dk->offset);
    const int32_t pwt = param_tensor(c, pk, c->params + pk->offset);
    const int32_t bt = b ? param_tensor(c, b, c->params + b->offset) : -1;
    kiln_tfl_opt o[7];
    memset(o, 0, sizeof o);
    const int32_t pad = a->padding == KILN_PAD_SAME ? PAD_SAME : PAD_VALID;
    o[0].id = 0, o[0].type = KILN_TFL_OPT_I8, o[0].i = pad;
    o[1].id = 1, o[1].type = KILN_TFL_OPT_I32, o[1].i = a->strides[1] > 0 ? a->strides[1] : 1;
    o[2].id = 2, o[2].type = KILN_TFL_OPT_I32, o[2].i = a->strides[0] > 0 ? a->strides[0] : 1;
    o[3].id = 3, o[3].type = KILN_TFL_OPT_I32,
    o[3].i = a->depth_multiplier > 0 ? a->depth_multiplier : 1;
    o[4].id = 4, o[4].type = KILN_TFL_OPT_I8, o[4].i = ACT_NONE;
    int32_t no = 5;
    const int32_t dh = a->dilation[0] > 0 ? a->dilation[0] : 1,
                  dw = a->dilation[1] > 0 ? a->dilation[1] : 1;
    if (dw != 1) o[no].id = 5, o[no].type = KILN_TFL_OPT_I32, o[no].i = dw, no++;
    if (dh != 1) o[no].id = 6, o[no].type = KILN_TFL_OPT_I32, o[no].i = dh, no++;
    const int32_t in1[3] = {c->tmap[L->inputs[0]], dwt, -1};
    kiln_status s = add_op(c, KILN_OP_DEPTHWISE_CONV_2D, (dw != 1 || dh != 1) ? 2 : 1, L->name, in1,
                           3, mid, KILN_OPTS_DepthwiseConv2DOptions, o, no);
    if (s) return s;
    const int32_t y = act_tensor(c, L->name, td.rank, td.dims);
    int32_t pre;
    const int32_t target = op_output(c, L, a->activation, y, &pre);
    kiln_tfl_opt p[4];
    memset(p, 0, sizeof p);
    p[0].id = 0, p[0].type = KILN_TFL_OPT_I8, p[0].i = PAD_VALID;
    p[1].id = 1, p[1].type = KILN_TFL_OPT_I32, p[1].i = 1;
    p[2].id = 2, p[2].type = KILN_TFL_OPT_I32, p[2].i = 1;
    p[3].id = 3, p[3].type = KILN_TFL_OPT_I8,
    p[3].i = fusable(a->activation) ? fused_code(a->activation) : ACT_NONE;
    const int32_t in2[3] = {mid, pwt, bt};
    if ((s = add_op(c, KILN_OP_CONV_2D, 1, L->name, in2, 3, target, KILN_OPTS_Conv2DOptions, p, 4)))
        return s;
    if (!fusable(a->activation) && (s = activation_op(c, a->activation, a->alpha, L->name, pre, y)))
        return s;
    c->tmap[L->output] = y;
    return KILN_OK;
}

static kiln_status reshape_to(conv_ctx *c, const kiln_layer_desc *L) {
    kiln_tensor_desc td;
    kiln_graph_tensor(c->g, L->output, &td);
    const int32_t y = act_tensor(c, L->name, td.rank, td.dims);
    int32_t shape[KILN_MAX_RANK + 1];
    shape[0] = 1;
    for (int32_t i = 0; i < td.rank; i++)
        shape[i + 1] = td.dims[i];
    const int32_t r = td.rank + 1;
    char name[256];
    snprintf(name, sizeof name, "%s/shape", L->name);
    const int32_t st = const_tensor(c, name, KILN_INT32, 1, &r, shape, (size_t)r * 4);
    /* The shape is the constant second input and nothing else, as TFLite's converter writes a
     * reshape with a constant shape (no ReshapeOptions: the runtimes read the input; the
     * legacy new_shape option would only repeat it, 36 bytes per op). */
    const int32_t in[2] = {c->tmap[L->inputs[0]], st};
    kiln_status s = add_op(c, KILN_OP_RESHAPE, 1, L->name, in, 2, y, 0, NULL, 0);
    c->tmap[L->output] = y;
    return s;
}

static kiln_status pool(conv_ctx *c, const kiln_layer_desc *L, int32_t op) {
    const kiln_layer_attrs *a = L->attrs;
    kiln_tensor_desc td;
    kiln_graph_tensor(c->g, L->output, &td);
    const int32_t y = act_tensor(c, L->name, td.rank, td.dims);
    kiln_tfl_opt o[6];
    memset(o, 0, sizeof o);
    const int32_t ph = a->pool[0], pw = a->pool[1];
    const int32_t sh = a->strides[0] > 0 ? a->strides[0] : ph,
                  sw = a->strides[1] > 0 ? a->strides[1] : pw;
    o[0].id = 0, o[0].type = KILN_TFL_OPT_I8,
    o[0].i = a->padding == KILN_PAD_SAME ? PAD_SAME : PAD_VALID;
    o[1].id = 1, o[1].type = KILN_TFL_OPT_I32, o[1].i = sw;
    o[2].id = 2, o[2].type = KILN_TFL_OPT_I32, o[2].i = sh;
    o[3].id = 3, o[3].type = KILN_TFL_OPT_I32, o[3].i = pw;
    o[4].id = 4, o[4].type = KILN_TFL_OPT_I32, o[4].i = ph;
    o[5].id = 5, o[5].type = KILN_TFL_OPT_I8, o[5].i = ACT_NONE;
    const int32_t in = c->tmap[L->inputs[0]];
    kiln_status s = add_op(c, op, 1, L->name, &in, 1, y, KILN_OPTS_Pool2DOptions, o, 6);
    c->tmap[L->output] = y;
    return s;
}

/* Keras LSTM -> UNIDIRECTIONAL_SEQUENCE_LSTM, as TFLite's converter lowers a Keras LSTM
 * (ConvertKerasLSTMLayer): the kernel [4U, F] and recurrent kernel [4U, U] split per gate into
 * [n_cell, n_input] and [n_cell, n_output] blocks (Kiln stores Keras' gate order i, f, c, o as
 * row blocks of TFLite's [out, in] layout, so each gate is a contiguous block, no transpose), the
 * bias [4U] likewise; no peephole, projection or layer-norm inputs (-1); the output and cell
 * state as zero-initialised variable tensors [1, U]; batch-major input (time_major false) and
 * fused activation TANH (the cell input and output activation; the gates are sigmoids in both).
 * cell_clip and proj_clip are 0 (no clipping): Kiln's training graph does not clip the cell
 * state, so 0 keeps the converted model identical to it (TensorFlow writes cell_clip 10, which
 * only differs when |c| > 10). With return_sequences false the last step is taken as that
 * converter does: STRIDED_SLICE begin [0, -1, 0], end [0, 0, 0], strides 1, begin and end
 * masks 5, shrink_axis_mask 2 (the time axis). */
static kiln_status lstm_layer(conv_ctx *c, const kiln_layer_desc *L) {
    kiln_param_desc pk, pr, pb;
    const kiln_param_desc *k = find_param(c, L, "kernel", &pk);
    const kiln_param_desc *r = find_param(c, L, "recurrent_kernel", &pr);
    const kiln_param_desc *b = find_param(c, L, "bias", &pb);
    if (!k || !r || !b || k->rank != 2 || r->rank != 2)
        return cfail(c, KILN_ERR_ARG, "layer %s: LSTM parameters missing", L->name);
    kiln_tensor_desc xin;
    kiln_graph_tensor(c->g, L->inputs[0], &xin);
    const int32_t U = r->dims[1], F = k->dims[1], T = xin.dims[0];
    if (xin.rank != 2 || k->dims[0] != 4 * U || r->dims[0] != 4 * U || b->count != 4 * U)
        return cfail(c, KILN_ERR_ARG, "layer %s: LSTM shapes do not match", L->name);
    static const char *const gate[4] = {"input", "forget", "cell", "output"};
    int32_t in[24];
    for (int32_t i = 0; i < 24; i++)
        in[i] = -1;
    in[0] = c->tmap[L->inputs[0]];
    char name[256];
    const int32_t wd[2] = {U, F}, rd[2] = {U, U};
    for (int32_t g = 0; g < 4; g++) {
        snprintf(name, sizeof name, "%s/input_to_%s_weights", L->name, gate[g]);
        const float *w = c->params + k->offset + (int64_t)g * U * F;
        in[1 + g] = const_tensor(c, name, KILN_FLOAT32, 2, wd, w, (size_t)U * F * sizeof(float));
    }
    for (int32_t g = 0; g < 4; g++) {
        snprintf(name, sizeof name, "%s/recurrent_to_%s_weights", L->name, gate[g]);
        const float *w = c->params + r->offset + (int64_t)g * U * U;
        in[5 + g] = const_tensor(c, name, KILN_FLOAT32, 2, rd, w, (size_t)U * U * sizeof(float));
    }
    for (int32_t g = 0; g < 4; g++) {
        snprintf(name, sizeof name, "%s/%s_gate_bias", L->name, gate[g]);
        in[12 + g] = const_tensor(c, name, KILN_FLOAT32, 1, &U, c->params + b->offset + g * U,
                                  (size_t)U * sizeof(float));
    }
    for (int32_t s = 0; s < 2; s++) {
        const int32_t sd[2] = {1, U};
        kiln_tfl_tensor t = {0};
        snprintf(name, sizeof name, "%s/%s", L->name, s ? "cell_state" : "output_state");
        t.name = name;
        t.type = KILN_FLOAT32;
        t.rank = 2;
        t.shape = sd;
        t.is_variable = 1; /* buffer 0: the runtime zero-fills it (and on reset) */
        in[18 + s] = kiln_tfl_add_tensor(c->w, c->sg, &t);
    }
    const int32_t seq_dims[2] = {T, U};
    int32_t seq;
    if (L->attrs->return_sequences) {
        seq = act_tensor(c, L->name, 2, seq_dims);
    } else {
        snprintf(name, sizeof name, "%s/sequence", L->name);
        seq = act_tensor(c, name, 2, seq_dims);
    }
    const kiln_tfl_opt lo = kiln_tfl_opt_int(0, KILN_TFL_OPT_I8, ACT_TANH);
    kiln_status s = add_op(c, KILN_OP_UNIDIRECTIONAL_SEQUENCE_LSTM, 1, L->name, in, 24, seq,
                           KILN_OPTS_UnidirectionalSequenceLSTMOptions, &lo, 1);
    if (s) return s;
    if (L->attrs->return_sequences) {
        c->tmap[L->output] = seq;
        return KILN_OK;
    }
    const int32_t three = 3, begin[3] = {0, -1, 0}, end[3] = {0, 0, 0}, strides[3] = {1, 1, 1};
    snprintf(name, sizeof name, "%s/begin", L->name);
    const int32_t bt = const_tensor(c, name, KILN_INT32, 1, &three, begin, sizeof begin);
    snprintf(name, sizeof name, "%s/end", L->name);
    const int32_t et = const_tensor(c, name, KILN_INT32, 1, &three, end, sizeof end);
    snprintf(name, sizeof name, "%s/strides", L->name);
    const int32_t st = const_tensor(c, name, KILN_INT32, 1, &three, strides, sizeof strides);
    const int32_t y = act_tensor(c, L->name, 1, &U);
    const kiln_tfl_opt so[3] = {kiln_tfl_opt_int(0, KILN_TFL_OPT_I32, 5),
                                kiln_tfl_opt_int(1, KILN_TFL_OPT_I32, 5),
                                kiln_tfl_opt_int(4, KILN_TFL_OPT_I32, 2)};
    const int32_t sl_in[4] = {seq, bt, et, st};
    s = add_op(c, KILN_OP_STRIDED_SLICE, 1, L->name, sl_in, 4, y, KILN_OPTS_StridedSliceOptions, so,
               3);
    c->tmap[L->output] = y;
    return s;
}

static kiln_status lower_layer(conv_ctx *c, int32_t li) {
    kiln_layer_desc L;
    kiln_status s = kiln_graph_layer(c->g, li, &L);
    if (s) return cfail(c, s, "layer %d: cannot read", li);
    for (int32_t i = 0; i < L.n_inputs; i++)
        if (c->tmap[L.inputs[i]] < 0)
            return cfail(c, KILN_ERR_ARG, "layer %s: input %d is not available", L.name, i);
    kiln_tensor_desc td;
    kiln_graph_tensor(c->g, L.output, &td);
    const kiln_layer_attrs *a = L.attrs;
    switch (L.kind) {
    case KILN_L_DENSE:
        return conv_like(c, li, &L, 2);
    case KILN_L_CONV2D:
        return conv_like(c, li, &L, 0);
    case KILN_L_DEPTHWISE_CONV2D:
        return conv_like(c, li, &L, 1);
    case KILN_L_SEPARABLE_CONV2D:
        return separable(c, &L);
    case KILN_L_MAX_POOL2D:
        return pool(c, &L, KILN_OP_MAX_POOL_2D);
    case KILN_L_AVG_POOL2D:
        return pool(c, &L, KILN_OP_AVERAGE_POOL_2D);
    case KILN_L_DROPOUT:
        c->tmap[L.output] = c->tmap[L.inputs[0]];
        return KILN_OK;
    case KILN_L_FLATTEN:
    case KILN_L_RESHAPE:
        return reshape_to(c, &L);
    case KILN_L_GLOBAL_AVG_POOL2D: {
        const int32_t y = act_tensor(c, L.name, td.rank, td.dims);
        const int32_t axes[2] = {1, 2}, two = 2;
        char name[256];
        snprintf(name, sizeof name, "%s/axes", L.name);
        const int32_t at = const_tensor(c, name, KILN_INT32, 1, &two, axes, sizeof axes);
        kiln_tfl_opt o = {0};
        o.id = 0;
        o.type = KILN_TFL_OPT_I8;
        o.i = 0;
        const int32_t in[2] = {c->tmap[L.inputs[0]], at};
        s = add_op(c, KILN_OP_MEAN, 1, L.name, in, 2, y, KILN_OPTS_ReducerOptions, &o, 1);
        c->tmap[L.output] = y;
        return s;
    }
    case KILN_L_BATCH_NORM: {
        /* Not folded (no conv/dense before it): y = x * scale + shift per channel. */
        const int32_t ch = td.dims[td.rank - 1];
        float *sc = (float *)malloc(2 * (size_t)ch * sizeof(float));
        if (!sc) return cfail(c, KILN_ERR_NOMEM, "out of memory");
        if (bn_fold(c, li, sc, sc + ch, ch)) {
            free(sc);
            return cfail(c, KILN_ERR_ARG, "layer %s: batch norm statistics missing", L.name);
        }
        char name[256];
        snprintf(name, sizeof name, "%s/scale", L.name);
        const int32_t st = const_tensor(c, name, KILN_FLOAT32, 1, &ch, sc, (size_t)ch * 4);
        snprintf(name, sizeof name, "%s/shift", L.name);
        const int32_t ht = const_tensor(c, name, KILN_FLOAT32, 1, &ch, sc + ch, (size_t)ch * 4);
        free(sc);
        snprintf(name, sizeof name, "%s/scaled", L.name);
        const int32_t mid = act_tensor(c, name, td.rank, td.dims);
        const int32_t y = act_tensor(c, L.name, td.rank, td.dims);
        const int32_t in1[2] = {c->tmap[L.inputs[0]], st}, in2[2] = {mid, ht};
        if ((s = add_op(c, KILN_OP_MUL, 1, L.name, in1, 2, mid, KILN_OPTS_MulOptions, NULL, 0)) ||
            (s = add_op(c, KILN_OP_ADD, 1, L.name, in2, 2, y, KILN_OPTS_AddOptions, NULL, 0)))
            return s;
        c->tmap[L.output] = y;
        return KILN_OK;
    }
    case KILN_L_ADD: {
        if (L.n_inputs < 2) return cfail(c, KILN_ERR_ARG, "layer %s: add needs 2 inputs", L.name);
        /* A following relu/relu6 layer that is the sum's only consumer fuses into the (last) ADD,
         * as TFLite's converter fuses it (ResNet's add + ReLU). */
        kiln_layer_desc OL = L;
        int32_t fused = ACT_NONE;
        if (li + 1 < kiln_graph_num_layers(c->g) && c->nuse[L.output] == 1) {
            kiln_layer_desc N;
            kiln_graph_layer(c->g, li + 1, &N);
            if (N.kind == KILN_L_ACTIVATION && N.n_inputs == 1 && N.inputs[0] == L.output &&
                (N.attrs->activation == KILN_AF_RELU || N.attrs->activation == KILN_AF_RELU6)) {
                fused = fused_code(N.attrs->activation);
                c->skip[li + 1] = 1;
                OL = N;
            }
        }
        int32_t cur = c->tmap[L.inputs[0]];
        for (int32_t i = 1; i < L.n_inputs; i++) {
            const int last = i == L.n_inputs - 1;
            int32_t y;
            if (last) {
                y = act_tensor(c, OL.name, td.rank, td.dims);
            } else {
                char name[256];
                snprintf(name, sizeof name, "%s/partial%d", L.name, i);
                y = act_tensor(c, name, td.rank, td.dims);
            }
            const int32_t in[2] = {cur, c->tmap[L.inputs[i]]};
            const kiln_tfl_opt fo = kiln_tfl_opt_int(0, KILN_TFL_OPT_I8, fused);
            const int fuse = last && fused != ACT_NONE;
            if ((s = add_op(c, KILN_OP_ADD, 1, L.name, in, 2, y, KILN_OPTS_AddOptions,
                            fuse ? &fo : NULL, fuse ? 1 : 0)))
                return s;
            cur = y;
        }
        c->tmap[OL.output] = cur;
        return KILN_OK;
    }
    case KILN_L_CONCAT: {
        int32_t axis = a->axis;
        if (axis < 0) axis += td.rank + 1;
        const int32_t y = act_tensor(c, L.name, td.rank, td.dims);
        int32_t in[16];
        if (L.n_inputs > 16)
            return cfail(c, KILN_ERR_UNSUPPORTED, "layer %s: too many inputs", L.name);
        for (int32_t i = 0; i < L.n_inputs; i++)
            in[i] = c->tmap[L.inputs[i]];
        kiln_tfl_opt o = {0};
        o.id = 0;
        o.type = KILN_TFL_OPT_I32;
        o.i = axis;
        s = add_op(c, KILN_OP_CONCATENATION, 1, L.name, in, L.n_inputs, y,
                   KILN_OPTS_ConcatenationOptions, &o, 1);
        c->tmap[L.output] = y;
        return s;
    }
    case KILN_L_ZERO_PAD2D: {
        const int32_t y = act_tensor(c, L.name, td.rank, td.dims);
        const int32_t pads[8] = {0, 0, a->pads[0], a->pads[1], a->pads[2], a->pads[3], 0, 0};
        const int32_t pd[2] = {4, 2};
        char name[256];
        snprintf(name, sizeof name, "%s/paddings", L.name);
        const int32_t pt = const_tensor(c, name, KILN_INT32, 2, pd, pads, sizeof pads);
        const int32_t in[2] = {c->tmap[L.inputs[0]], pt};
        s = add_op(c, KILN_OP_PAD, 1, L.name, in, 2, y, KILN_OPTS_PadOptions, NULL, 0);
        c->tmap[L.output] = y;
        return s;
    }
    case KILN_L_EMBEDDING: {
        kiln_param_desc pe;
        const kiln_param_desc *e = find_param(c, &L, "embeddings", &pe);
        if (!e) return cfail(c, KILN_ERR_ARG, "layer %s: no embeddings", L.name);
        const int32_t et = param_tensor(c, e, c->params + e->offset);
        const int32_t y = act_tensor(c, L.name, td.rank, td.dims);
        const int32_t in[2] = {et, c->tmap[L.inputs[0]]};
        kiln_tfl_opt o = {0};
        o.id = 0;
        o.type = KILN_TFL_OPT_I32;
        o.i = 0;
        s = add_op(c, KILN_OP_GATHER, 1, L.name, in, 2, y, KILN_OPTS_GatherOptions, &o, 1);
        c->tmap[L.output] = y;
        return s;
    }
    case KILN_L_ACTIVATION: {
        const int32_t y = act_tensor(c, L.name, td.rank, td.dims);
        s = activation_op(c, a->activation, a->alpha, L.name, c->tmap[L.inputs[0]], y);
        c->tmap[L.output] = y;
        return s;
    }
    case KILN_L_LSTM:
        return lstm_layer(c, &L);
    default:
        return cfail(c, KILN_ERR_UNSUPPORTED, "layer %s: kind %s cannot be converted", L.name,
                     L.kind_name);
    }
}

kiln_status kiln_convert_graph(const kiln_graph *g, const float *params,
                               const kiln_convert_options *o, uint8_t **bytes, size_t *len,
                               char *err, size_t errlen) {
    kiln_convert_options def;
    if (!o) {
        kiln_convert_options_init(&def);
        o = &def;
    }
    if (err && errlen) err[0] = 0;
    conv_ctx c;
    memset(&c, 0, sizeof c);
    c.g = g;
    c.params = params;
    c.o = o;
    c.err = err;
    c.errlen = errlen;
    const int32_t nt = kiln_graph_num_tensors(g), nl = kiln_graph_num_layers(g);
    c.tmap = (int32_t *)malloc(sizeof(int32_t) * (size_t)(nt > 0 ? nt : 1));
    c.nuse = (int32_t *)calloc((size_t)(nt > 0 ? nt : 1), sizeof(int32_t));
    c.skip = (uint8_t *)calloc((size_t)(nl > 0 ? nl : 1), 1);
    kiln_status s = KILN_OK;
    if (!c.tmap || !c.nuse || !c.skip || kiln_tfl_writer_create(&c.w)) {
        s = cfail(&c, KILN_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int32_t i = 0; i < nt; i++)
        c.tmap[i] = -1;
    for (int32_t li = 0; li < nl; li++) {
        kiln_layer_desc L;
        kiln_graph_layer(g, li, &L);
        for (int32_t i = 0; i < L.n_inputs; i++)
            c.nuse[L.inputs[i]]++;
    }
    c.sg = kiln_tfl_add_subgraph(c.w, "main");
    int32_t inputs[16], n_in = 0;
    const char *in_names[16];
    for (int32_t li = 0; li < nl && !s; li++) {
        kiln_layer_desc L;
        kiln_graph_layer(g, li, &L);
        if (L.kind == KILN_L_INPUT) {
            kiln_tensor_desc td;
            kiln_graph_tensor(g, L.output, &td);
            if (td.dtype != KILN_FLOAT32) {
                /* int32 token ids */
                int32_t shape[KILN_MAX_RANK + 1], sig[KILN_MAX_RANK + 1];
                shape[0] = 1;
                sig[0] = -1;
                for (int32_t i = 0; i < td.rank; i++)
                    shape[i + 1] = sig[i + 1] = td.dims[i];
                kiln_tfl_tensor t = {0};
                t.name = L.name;
                t.type = td.dtype;
                t.rank = td.rank + 1;
                t.shape = shape;
                t.shape_signature = sig;
                c.tmap[L.output] = kiln_tfl_add_tensor(c.w, c.sg, &t);
            } else {
                c.tmap[L.output] = act_tensor(&c, L.name, td.rank, td.dims);
            }
            if (n_in < 16) {
                in_names[n_in] = L.name;
                inputs[n_in++] = c.tmap[L.output];
            }
            continue;
        }
        if (c.skip[li]) continue;
        s = lower_layer(&c, li);
    }
    if (s) goto done;
    if (c.missing[0]) {
        s = cfail(&c, KILN_ERR_UNSUPPORTED, "target tflm lacks: %s", c.missing);
        goto done;
    }
    const int32_t out_t = kiln_graph_output(g);
    if (out_t < 0 || c.tmap[out_t] < 0) {
        s = cfail(&c, KILN_ERR_ARG, "the model output is not produced");
        goto done;
    }
    int32_t outputs[1] = {c.tmap[out_t]};
    kiln_tfl_set_subgraph_io(c.w, c.sg, inputs, n_in, outputs, 1);
    {
        kiln_tensor_desc od;
        kiln_graph_tensor(g, out_t, &od);
        const char *out_names[1] = {od.name};
        kiln_tfl_add_signature(c.w, "serving_default", c.sg, in_names, inputs, n_in, out_names,
                               outputs, 1);
    }
    {
        const char *mv = "1.5.0";
        for (int32_t i = 0; i < c.n_used; i++) {
            const char *v = runtime_version(c.used_ops[i][0], c.used_ops[i][1]);
            if (vcmp(v, mv) > 0) mv = v;
        }
        char buf[16] = {0};
        snprintf(buf, sizeof buf, "%s", mv);
        kiln_tfl_add_metadata(c.w, "min_runtime_version", buf, sizeof buf);
    }
    if (o->labels_path) {
        FILE *f = fopen(o->labels_path, "rb");
        if (!f) {
            s = cfail(&c, KILN_ERR_IO, "%s: cannot open labels file", o->labels_path);
            goto done;
        }
        char *lb = (char *)malloc(1 << 20);
        size_t n = lb ? fread(lb, 1, (1 << 20), f) : 0;
        fclose(f);
        if (lb) kiln_tfl_add_metadata(c.w, "kiln_labels", lb, n);
        free(lb);
    }
    /* The description is optional: written only when asked for. A default one (Kiln wrote
     * "Kiln model <name>" before) would be the only non-weight bytes the runtimes never read,
     * and the CNN's overhead is at the 1% the issue allows (tests/test_convert.c check_size). */
    if (o->description) kiln_tfl_set_description(c.w, o->description);
    s = kiln_tfl_writer_finish(c.w, bytes, len);
    if (s) cfail(&c, s, "%s", kiln_tfl_writer_error(c.w));
done:
    kiln_tfl_writer_destroy(c.w);
    free(c.tmap);
    free(c.nuse);
    free(c.skip);
    return s;
}

static int ends_with(const char *s, const char *suf) {
    const size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

kiln_status kiln_convert_file(const char *in_path, uint64_t seed, const kiln_convert_options *o,
                              const char *out_path, char *err, size_t errlen) {
    kiln_graph *g = NULL;
    float *params = NULL;
    char *spec = NULL;
    kiln_trainer *t = NULL;
    kiln_status s;
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (err && errlen) err[0] = 0;
    if (ends_with(in_path, ".kckpt")) {
        int64_t np = 0;
        if ((s = kiln_checkpoint_read(in_path, &spec, &params, &np, err, errlen))) goto done;
        if ((s = kiln_graph_parse(spec, strlen(spec), in_path, &g, err, errlen))) goto done;
        if (np != kiln_graph_param_count(g)) {
            snprintf(err, errlen, "%s: checkpoint has %lld parameters, its spec needs %lld",
                     in_path, (long long)np, (long long)kiln_graph_param_count(g));
            s = KILN_ERR_MODEL;
            goto done;
        }
    } else {
        /* a .tflite given where a spec is expected: say so rather than a parse error */
        char head[8] = {0};
        FILE *f = fopen(in_path, "rb");
        const size_t got = f ? fread(head, 1, sizeof head, f) : 0;
        if (f) fclose(f);
        if (got == sizeof head && !memcmp(head + 4, "TFL3", 4)) {
            snprintf(err, errlen,
                     "%s: a .tflite model, not a spec or checkpoint (read it back with --to-spec)",
                     in_path);
            s = KILN_ERR_ARG;
            goto done;
        }
        if ((s = kiln_graph_load(in_path, &g, err, errlen))) goto done;
        kiln_train_config cfg;
        kiln_train_config_init(&cfg);
        cfg.batch = 1;
        cfg.seed = seed;
        if ((s = kiln_trainer_create(g, &cfg, &t, err, errlen))) goto done;
        params = NULL;
    }
    if ((s = kiln_convert_graph(g, params ? params : kiln_trainer_params(t), o, &bytes, &len, err,
                                errlen)))
        goto done;
    {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
        FILE *f = fopen(tmp, "wb");
        if (!f) {
            snprintf(err, errlen, "%s: cannot write", tmp);
            s = KILN_ERR_IO;
            goto done;
        }
        const int ok = fwrite(bytes, 1, len, f) == len;
        if (fclose(f) || !ok || rename(tmp, out_path)) {
            remove(tmp);
            snprintf(err, errlen, "%s: write failed", out_path);
            s = KILN_ERR_IO;
            goto done;
        }
    }
done:
    free(bytes);
    free(spec);
    free(params);
    kiln_trainer_destroy(t);
    kiln_graph_destroy(g);
    return s;
}
