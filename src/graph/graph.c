/* graph.c: building the training graph: each layer checks its input shapes (Keras' rules,
 * TensorFlow's 'same' padding) and declares its parameters in TFLite's weight layouts. */
#include "graph/graph.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[KILN_L_COUNT] = {"input",
                                                     "dense",
                                                     "conv2d",
                                                     "depthwise_conv2d",
                                                     "separable_conv2d",
                                                     "maxpool2d",
                                                     "avgpool2d",
                                                     "global_avgpool2d",
                                                     "batchnorm",
                                                     "dropout",
                                                     "flatten",
                                                     "reshape",
                                                     "add",
                                                     "concat",
                                                     "embedding",
                                                     "lstm",
                                                     "zeropad2d",
                                                     "activation"};

static const char *const act_names[KILN_AF_COUNT] = {
    "linear", "relu", "relu6", "leaky_relu", "sigmoid", "tanh", "softmax", "hard_swish", "gelu"};

const char *kiln_layer_kind_name(kiln_layer_kind k) {
    return (unsigned)k < KILN_L_COUNT ? kind_names[k] : "?";
}
const char *kiln_actfn_name(kiln_actfn a) {
    return (unsigned)a < KILN_AF_COUNT ? act_names[a] : "?";
}

const char *kiln_loss_name(kiln_loss l) {
    switch (l) {
    case KILN_LOSS_SPARSE_CCE:
        return "sparse_categorical_crossentropy";
    case KILN_LOSS_CCE:
        return "categorical_crossentropy";
    case KILN_LOSS_BCE:
        return "binary_crossentropy";
    case KILN_LOSS_MSE:
        return "mse";
    case KILN_LOSS_MAE:
        return "mae";
    case KILN_LOSS_HUBER:
        return "huber";
    default:
        return "none";
    }
}

int kiln__layer_kind_from_name(const char *s) {
    static const struct {
        const char *alias;
        int kind;
    } aliases[] = {{"max_pool2d", KILN_L_MAX_POOL2D},
                   {"maxpool", KILN_L_MAX_POOL2D},
                   {"average_pool2d", KILN_L_AVG_POOL2D},
                   {"avg_pool2d", KILN_L_AVG_POOL2D},
                   {"global_average_pooling2d", KILN_L_GLOBAL_AVG_POOL2D},
                   {"global_avg_pool2d", KILN_L_GLOBAL_AVG_POOL2D},
                   {"batch_normalization", KILN_L_BATCH_NORM},
                   {"batchnormalization", KILN_L_BATCH_NORM},
                   {"concatenate", KILN_L_CONCAT},
                   {"zero_padding2d", KILN_L_ZERO_PAD2D},
                   {"depthwise", KILN_L_DEPTHWISE_CONV2D},
                   {"separable", KILN_L_SEPARABLE_CONV2D}};
    for (int i = 0; i < KILN_L_COUNT; i++)
        if (!strcmp(s, kind_names[i])) return i;
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(s, aliases[i].alias)) return aliases[i].kind;
    return -1;
}

int kiln__actfn_from_name(const char *s) {
    for (int i = 0; i < KILN_AF_COUNT; i++)
        if (!strcmp(s, act_names[i])) return i;
    if (!strcmp(s, "none")) return KILN_AF_NONE;
    if (!strcmp(s, "swish_hard") || !strcmp(s, "hardswish")) return KILN_AF_HARD_SWISH;
    return -1;
}

kiln_status kiln__graph_fail(kiln_graph *g, kiln_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->err, sizeof g->err, fmt, ap);
    va_end(ap);
    return st;
}

void kiln__shape_str(const int32_t *dims, int32_t rank, char *buf, size_t n) {
    size_t o = (size_t)snprintf(buf, n, "(None");
    for (int32_t i = 0; i < rank && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, ", %d", (int)dims[i]);
    if (o < n) snprintf(buf + o, n - o, ")");
}

void kiln_layer_attrs_init(kiln_layer_attrs *a) {
    memset(a, 0, sizeof *a);
    a->kernel[0] = a->kernel[1] = 3;
    a->dilation[0] = a->dilation[1] = 1;
    a->pool[0] = a->pool[1] = 2;
    a->depth_multiplier = 1;
    a->use_bias = 1;
    a->alpha = 0.3f;
    a->momentum = 0.99f;
    a->epsilon = 1e-3f;
    a->axis = -1;
    a->dtype = KILN_FLOAT32;
}

kiln_status kiln_graph_create(const char *name, kiln_graph **out) {
    if (!out) return KILN_ERR_ARG;
    kiln_graph *g = calloc(1, sizeof *g);
    if (!g) return KILN_ERR_NOMEM;
    g->name = strdup(name && *name ? name : "model");
    g->spec = strdup("");
    g->output = -1;
    if (!g->name || !g->spec) {
        kiln_graph_destroy(g);
        return KILN_ERR_NOMEM;
    }
    *out = g;
    return KILN_OK;
}

void kiln_graph_destroy(kiln_graph *g) {
    if (!g) return;
    for (int32_t i = 0; i < g->n_layers; i++) {
        free(g->layers[i].name);
        free(g->layers[i].in);
    }
    for (int32_t i = 0; i < g->n_params; i++)
        free(g->params[i].name);
    free(g->layers);
    free(g->params);
    free(g->tensors);
    free(g->name);
    free(g->spec);
    free(g);
}

const char *kiln_graph_error(const kiln_graph *g) {
    return g ? g->err : "no graph";
}
const char *kiln_graph_name(const kiln_graph *g) {
    return g->name;
}
const char *kiln_graph_spec(const kiln_graph *g) {
    return g->spec;
}

kiln_status kiln__graph_set_spec(kiln_graph *g, const char *text, size_t len) {
    char *s = malloc(len + 1);
    if (!s) return KILN_ERR_NOMEM;
    memcpy(s, text, len);
    s[len] = 0;
    free(g->spec);
    g->spec = s;
    return KILN_OK;
}

int32_t kiln__graph_find_tensor(const kiln_graph *g, const char *name) {
    for (int32_t i = 0; i < g->n_layers; i++)
        if (!strcmp(g->layers[i].name, name)) return g->layers[i].out;
    return -1;
}

static int grow(void **p, int32_t *cap, int32_t need, size_t elem) {
    if (need <= *cap) return 1;
    int32_t nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return 0;
    *p = q;
    *cap = nc;
    return 1;
}

/* Output size of one spatial dimension (TensorFlow's rules). */
static int32_t conv_out(int32_t in, int32_t k, int32_t stride, int32_t dil, kiln_padding pad) {
    int32_t eff = (k - 1) * dil + 1;
    if (pad == KILN_PAD_SAME) return (in + stride - 1) / stride;
    if (in < eff) return 0;
    return (in - eff) / stride + 1;
}

typedef struct shape_t {
    int32_t rank;
    int32_t dims[KILN_MAX_RANK];
} shape_t;

static int64_t shape_size(const shape_t *s) {
    int64_t n = 1;
    for (int32_t i = 0; i < s->rank; i++)
        n *= s->dims[i];
    return n;
}

typedef struct pdecl {
    const char *role;
    int32_t rank;
    int32_t dims[4];
    kiln_init init;
    int32_t trainable;
    int32_t fan_in, fan_out;
    int32_t regularize;
} pdecl;

static kiln_status add_params(kiln_graph *g, int32_t layer, const pdecl *p, int32_t n,
                              const kiln_layer_attrs *a) {
    if (!grow((void **)&g->params, &g->cap_params, g->n_params + n, sizeof *g->params))
        return KILN_ERR_NOMEM;
    kiln__glayer *L = &g->layers[layer];
    L->first_param = g->n_params;
    L->n_params = n;
    for (int32_t i = 0; i < n; i++) {
        kiln__gparam *q = &g->params[g->n_params];
        memset(q, 0, sizeof *q);
        size_t len = strlen(L->name) + strlen(p[i].role) + 2;
        q->name = malloc(len);
        if (!q->name) return KILN_ERR_NOMEM;
        snprintf(q->name, len, "%s/%s", L->name, p[i].role);
        q->role = p[i].role;
        q->layer = layer;
        q->trainable = p[i].trainable;
        q->rank = p[i].rank;
        q->count = 1;
        for (int32_t d = 0; d < p[i].rank; d++) {
            q->dims[d] = p[i].dims[d];
            q->count *= p[i].dims[d];
        }
        q->offset = g->param_elems;
        q->init = p[i].init;
        q->fan_in = p[i].fan_in;
        q->fan_out = p[i].fan_out;
        if (p[i].regularize) {
            q->l1 = a->l1;
            q->l2 = a->l2;
        }
        g->param_elems += q->count;
        if (q->trainable) g->trainable_elems += q->count;
        g->n_params++;
    }
    return KILN_OK;
}

static kiln_init pick(kiln_init user, kiln_init dflt) {
    return user == KILN_INIT_DEFAULT ? dflt : user;
}

kiln_status kiln_graph_add(kiln_graph *g, kiln_layer_kind kind, const char *name,
                           const int32_t *inputs, int32_t n_inputs, const kiln_layer_attrs *attrs,
                           int32_t *out) {
    if (!g) return KILN_ERR_ARG;
    if ((unsigned)kind >= KILN_L_COUNT) return kiln__graph_fail(g, KILN_ERR_ARG, "bad layer kind");
    kiln_layer_attrs a;
    if (attrs)
        a = *attrs;
    else
        kiln_layer_attrs_init(&a);
    char lname[128];
    if (name && *name) {
        snprintf(lname, sizeof lname, "%s", name);
    } else {
        /* Keras-style names: dense, dense_1, ... kept unique */
        for (;;) {
            int32_t c = g->kind_count[kind]++;
            if (c == 0)
                snprintf(lname, sizeof lname, "%s", kind_names[kind]);
            else
                snprintf(lname, sizeof lname, "%s_%d", kind_names[kind], (int)c);
            if (kiln__graph_find_tensor(g, lname) < 0) break;
        }
    }
    if (kiln__graph_find_tensor(g, lname) >= 0)
        return kiln__graph_fail(g, KILN_ERR_ARG, "layer name '%s' is used twice", lname);
    const char *kn = kind_names[kind];

    /* inputs */
    if (kind == KILN_L_INPUT) {
        if (n_inputs != 0)
            return kiln__graph_fail(g, KILN_ERR_ARG, "%s (input): an input layer has no inputs",
                                    lname);
    } else if (kind == KILN_L_ADD || kind == KILN_L_CONCAT) {
        if (n_inputs < 2)
            return kiln__graph_fail(g, KILN_ERR_ARG, "%s (%s): needs at least 2 inputs, got %d",
                                    lname, kn, (int)n_inputs);
    } else if (n_inputs != 1) {
        return kiln__graph_fail(g, KILN_ERR_ARG, "%s (%s): takes 1 input, got %d", lname, kn,
                                (int)n_inputs);
    }
    for (int32_t i = 0; i < n_inputs; i++)
        if (inputs[i] < 0 || inputs[i] >= g->n_tensors)
            return kiln__graph_fail(g, KILN_ERR_ARG, "%s (%s): input %d is not a tensor", lname, kn,
                                    (int)inputs[i]);
    shape_t in = {0, {0}}, o = {0, {0}};
    int32_t in_dtype = KILN_FLOAT32;
    if (n_inputs > 0) {
        const kiln__gtensor *t = &g->tensors[inputs[0]];
        in.rank = t->rank;
        memcpy(in.dims, t->dims, sizeof in.dims);
        in_dtype = t->dtype;
    }
    char is[96];
    kiln__shape_str(in.dims, in.rank, is, sizeof is);
    if (kind != KILN_L_INPUT && kind != KILN_L_EMBEDDING && in_dtype != KILN_FLOAT32)
        return kiln__graph_fail(g, KILN_ERR_SHAPE, "%s (%s): input is %s, expected float32", lname,
                                kn, kiln_dtype_name(in_dtype));

#define SHAPE_FAIL(expect)                                                                         \
    return kiln__graph_fail(g, KILN_ERR_SHAPE, "%s (%s): input shape %s, expected %s", lname, kn,  \
                            is, expect)
    pdecl p[4];
    int32_t np = 0;
    int64_t macs = 0;
    int32_t out_dtype = KILN_FLOAT32;
    switch (kind) {
    case KILN_L_INPUT:
        if (a.rank < 1 || a.rank > KILN_MAX_RANK - 1)
            return kiln__graph_fail(g, KILN_ERR_SHAPE, "%s (input): rank %d out of range 1..%d",
                                    lname, (int)a.rank, KILN_MAX_RANK - 1);
        o.rank = a.rank;
        for (int32_t i = 0; i < a.rank; i++) {
            if (a.shape[i] <= 0)
                return kiln__graph_fail(g, KILN_ERR_SHAPE, "%s (input): dimension %d is %d", lname,
                                        (int)i, (int)a.shape[i]);
            o.dims[i] = a.shape[i];
        }
        if (a.dtype != KILN_FLOAT32 && a.dtype != KILN_INT32)
            return kiln__graph_fail(g, KILN_ERR_SHAPE,
                                    "%s (input): dtype must be float32 or "
                                    "int32",
                                    lname);
        out_dtype = a.dtype;
        break;
    case KILN_L_DENSE: {
        if (in.rank < 1) SHAPE_FAIL("rank >= 1");
        if (a.units <= 0)
            return kiln__graph_fail(g, KILN_ERR_ARG, "%s (dense): units must be > 0", lname);
        o = in;
        o.dims[in.rank - 1] = a.units;
        int32_t nin = in.dims[in.rank - 1];
        p[np++] =
            (pdecl){"kernel", 2,   {a.units, nin}, pick(a.kernel_init, KILN_INIT_GLOROT_UNIFORM),
                    1,        nin, a.units,        1};
        if (a.use_bias)
            p[np++] = (pdecl){"bias", 1, {a.units}, pick(a.bias_init, KILN_INIT_ZEROS), 1, 0, 0, 0};
        macs = shape_size(&in) * a.units;
        break;
    }
    case KILN_L_CONV2D:
    case KILN_L_DEPTHWISE_CONV2D:
    case KILN_L_SEPARABLE_CONV2D: {
        if (in.rank != 3) SHAPE_FAIL("(None, height, width, channels)");
        int32_t kh = a.kernel[0], kw = a.kernel[1];
        int32_t sh = a.strides[0] ? a.strides[0] : 1, sw = a.strides[1] ? a.strides[1] : 1;
        if (kh <= 0 || kw <= 0 || sh <= 0 || sw <= 0 || a.dilation[0] <= 0 || a.dilation[1] <= 0)
            return kiln__graph_fail(g, KILN_ERR_ARG,
                                    "%s (%s): kernel, strides and dilation must be > 0", lname, kn);
        if ((sh > 1 || sw > 1) && (a.dilation[0] > 1 || a.dilation[1] > 1))
            return kiln__graph_fail(g, KILN_ERR_ARG,
                                    "%s (%s): strides > 1 with dilation > 1 is not supported "
                                    "(as in Keras)",
                                    lname, kn);
        a.strides[0] = sh;
        a.strides[1] = sw;
        int32_t oh = conv_out(in.dims[0], kh, sh, a.dilation[0], a.padding);
        int32_t ow = conv_out(in.dims[1], kw, sw, a.dilation[1], a.padding);
        if (oh <= 0 || ow <= 0) {
            char ex[96];
            snprintf(ex, sizeof ex, "height >= %d and width >= %d for a valid %dx%d kernel",
                     (kh - 1) * a.dilation[0] + 1, (kw - 1) * a.dilation[1] + 1, (int)kh, (int)kw);
            SHAPE_FAIL(ex);
        }
        int32_t c = in.dims[2], m = a.depth_multiplier;
        if (kind != KILN_L_CONV2D && m <= 0)
            return kiln__graph_fail(g, KILN_ERR_ARG, "%s (%s): depth_multiplier must be > 0", lname,
                                    kn);
        if (kind != KILN_L_DEPTHWISE_CONV2D && a.filters <= 0)
            return kiln__graph_fail(g, KILN_ERR_ARG, "%s (%s): filters must be > 0", lname, kn);
        o.rank = 3;
        o.dims[0] = oh;
        o.dims[1] = ow;
        kiln_init ki = pick(a.kernel_init, KILN_INIT_GLOROT_UNIFORM);
        if (kind == KILN_L_CONV2D) {
            o.dims[2] = a.filters;
            p[np++] = (pdecl){"kernel", 4,           {a.filters, kh, kw, c}, ki,
                              1,        kh * kw * c, kh * kw * a.filters,    1};
            macs = (int64_t)oh * ow * a.filters * kh * kw * c;
        } else if (kind == KILN_L_DEPTHWISE_CONV2D) {
            o.dims[2] = c * m;
            p[np++] = (pdecl){"depthwise_kernel", 4, {1, kh, kw, c * m}, ki, 1, kh * kw * c,
                              kh * kw * m,        1};
            macs = (int64_t)oh * ow * c * m * kh * kw;
        } else {
            o.dims[2] = a.filters;
            p[np++] = (pdecl){"depthwise_kernel", 4, {1, kh, kw, c * m}, ki, 1, kh * kw * c,
                              kh * kw * m,        1};
            p[np++] = (pdecl){"pointwise_kernel", 4, {a.filters, 1, 1, c * m}, ki, 1, c * m,
                              a.filters,          1};
            macs = (int64_t)oh * ow * c * m * kh * kw + (int64_t)oh * ow * c * m * a.filters;
        }
        int32_t nb = o.dims[2];
        if (a.use_bias)
            p[np++] = (pdecl){"bias", 1, {nb}, pick(a.bias_init, KILN_INIT_ZEROS), 1, 0, 0, 0};
        break;
    }
    case KILN_L_MAX_POOL2D:
    case KILN_L_AVG_POOL2D: {
        if (in.rank != 3) SHAPE_FAIL("(None, height, width, channels)");
        if (a.pool[0] <= 0 || a.pool[1] <= 0)
            return kiln__graph_fail(g, KILN_ERR_ARG, "%s (%s): pool size must be > 0", lname, kn);
        if (!a.strides[0]) a.strides[0] = a.pool[0];
        if (!a.strides[1]) a.strides[1] = a.pool[1];
        if (a.strides[0] <= 0 || a.strides[1] <= 0)
            return kiln__graph_fail(g, KILN_ERR_ARG, "%s (%s): strides must be > 0", lname, kn);
        o.rank = 3;
        o.dims[0] = conv_out(in.dims[0], a.pool[0], a.strides[0], 1, a.padding);
        o.dims[1] = conv_out(in.dims[1], a.pool[1], a.strides[1], 1, a.padding);
        o.dims[2] = in.dims[2];
        if (o.dims[0] <= 0 || o.dims[1] <= 0) SHAPE_FAIL("height and width >= the pool size");
        macs = shape_size(&o) * a.pool[0] * a.pool[1];
        break;
    }
    case KILN_L_GLOBAL_AVG_POOL2D:
        if (in.rank != 3) SHAPE_FAIL("(None, height, width, channels)");
        o.rank = 1;
        o.dims[0] = in.dims[2];
        macs = shape_size(&in);
        break;
    case KILN_L_BATCH_NORM: {
        if (in.rank < 1) SHAPE_FAIL("rank >= 1");
        if (!(a.momentum >= 0.0f && a.momentum < 1.0f) || !(a.epsilon > 0.0f))
            return kiln__graph_fail(
                g, KILN_ERR_ARG, "%s (batchnorm): momentum must be in [0, 1), epsilon > 0", lname);
        o = in;
        int32_t c = in.dims[in.rank - 1];
        p[np++] = (pdecl){"gamma", 1, {c}, KILN_INIT_ONES, 1, 0, 0, 0};
        p[np++] = (pdecl){"beta", 1, {c}, KILN_INIT_ZEROS, 1, 0, 0, 0};
        p[np++] = (pdecl){"moving_mean", 1, {c}, KILN_INIT_ZEROS, 0, 0, 0, 0};
        p[np++] = (pdecl){"moving_variance", 1, {c}, KILN_INIT_ONES, 0, 0, 0, 0};
        macs = shape_size(&in);
        break;
    }
    case KILN_L_DROPOUT:
        if (!(a.rate >= 0.0f && a.rate < 1.0f))
            return kiln__graph_fail(g, KILN_ERR_ARG, "%s (dropout): rate must be in [0, 1)", lname);
        o = in;
        break;
    case KILN_L_ACTIVATION:
        if (in.rank < 1) SHAPE_FAIL("rank >= 1");
        o = in;
        break;
    case KILN_L_FLATTEN:
        if (in.rank < 1) SHAPE_FAIL("rank >= 1");
        o.rank = 1;
        o.dims[0] = (int32_t)shape_size(&in);
        break;
    case KILN_L_RESHAPE: {
        if (a.rank < 1 || a.rank > KILN_MAX_RANK - 1)
            return kiln__graph_fail(g, KILN_ERR_ARG, "%s (reshape): target rank %d out of range",
                                    lname, (int)a.rank);
        int64_t known = 1;
        int32_t neg = -1;
        for (int32_t i = 0; i < a.rank; i++) {
            if (a.shape[i] == -1 && neg < 0) {
                neg = i;
            } else if (a.shape[i] <= 0) {
                return kiln__graph_fail(g, KILN_ERR_ARG,
                                        "%s (reshape): bad target dimension %d (one -1 allowed)",
                                        lname, (int)a.shape[i]);
            } else {
                known *= a.shape[i];
            }
        }
        o.rank = a.rank;
        memcpy(o.dims, a.shape, sizeof o.dims);
        int64_t total = shape_size(&in);
        if (neg >= 0 && total % known == 0) o.dims[neg] = (int32_t)(total / known);
        if ((neg >= 0 && total % known) || (neg < 0 && known != total)) {
            char ts[96];
            kiln__shape_str(a.shape, a.rank, ts, sizeof ts);
            return kiln__graph_fail(g, KILN_ERR_SHAPE,
                                    "%s (reshape): input shape %s (%lld elements) cannot become %s",
                                    lname, is, (long long)total, ts);
        }
        break;
    }
    case KILN_L_ADD:
    case KILN_L_CONCAT: {
        o = in;
        int32_t ax = a.axis;
        if (kind == KILN_L_CONCAT) {
            /* the axis counts the batch dimension, as in Keras: -1 is the last */
            if (ax < 0) ax += in.rank + 1;
            if (ax < 1 || ax > in.rank)
                return kiln__graph_fail(g, KILN_ERR_ARG,
                                        "%s (concat): axis %d out of range for "
                                        "input shape %s",
                                        lname, (int)a.axis, is);
            a.axis = ax;
            o.dims[ax - 1] = 0;
        }
        for (int32_t i = 0; i < n_inputs; i++) {
            const kiln__gtensor *t = &g->tensors[inputs[i]];
            if (t->dtype != KILN_FLOAT32)
                return kiln__graph_fail(g, KILN_ERR_SHAPE, "%s (%s): input %d is not float32",
                                        lname, kn, (int)i);
            int ok = t->rank == in.rank;
            for (int32_t d = 0; ok && d < in.rank; d++)
                if (t->dims[d] != in.dims[d] && !(kind == KILN_L_CONCAT && d == ax - 1)) ok = 0;
            if (!ok) {
                char s2[96];
                kiln__shape_str(t->dims, t->rank, s2, sizeof s2);
                return kiln__graph_fail(
                    g, KILN_ERR_SHAPE, "%s (%s): input shapes %s and %s do not match%s", lname, kn,
                    is, s2, kind == KILN_L_CONCAT ? " outside the concat axis" : "");
            }
            if (kind == KILN_L_CONCAT) o.dims[ax - 1] += t->dims[ax - 1];
        }
        macs = kind == KILN_L_ADD ? shape_size(&in) * (n_inputs - 1) : 0;
        break;
    }
    case KILN_L_EMBEDDING:
        if (in_dtype != KILN_INT32)
            return kiln__graph_fail(g, KILN_ERR_SHAPE,
                                    "%s (embedding): input must be int32 token ids (input ... "
                                    "dtype=int32), got %s",
                                    lname, kiln_dtype_name(in_dtype));
        if (in.rank >= KILN_MAX_RANK - 1) SHAPE_FAIL("a lower rank");
        if (a.vocab <= 0 || a.units <= 0)
            return kiln__graph_fail(g, KILN_ERR_ARG,
                                    "%s (embedding): vocabulary and dimension must be > 0", lname);
        o = in;
        o.dims[o.rank++] = a.units;
        p[np++] =
            (pdecl){"embeddings", 2, {a.vocab, a.units}, a.kernel_init, 1, a.vocab, a.units, 1};
        break;
    case KILN_L_LSTM: {
        if (in.rank != 2) SHAPE_FAIL("(None, timesteps, features)");
        if (a.units <= 0)
            return kiln__graph_fail(g, KILN_ERR_ARG, "%s (lstm): units must be > 0", lname);
        int32_t f = in.dims[1], u = a.units;
        if (a.return_sequences) {
            o.rank = 2;
            o.dims[0] = in.dims[0];
            o.dims[1] = u;
        } else {
            o.rank = 1;
            o.dims[0] = u;
        }
        /* gate order i, f, c, o (Keras and TFLite); rows are gates x units ([out, in]) */
        kiln_init ki = pick(a.kernel_init, KILN_INIT_GLOROT_UNIFORM);
        p[np++] = (pdecl){"kernel", 2, {4 * u, f}, ki, 1, f, 4 * u, 1};
        p[np++] = (pdecl){"recurrent_kernel", 2, {4 * u, u}, ki, 1, u, 4 * u, 1};
        p[np++] = (pdecl){"bias", 1, {4 * u}, KILN_INIT_ZEROS, 1, 0, 0, 0};
        macs = (int64_t)in.dims[0] * 4 * u * (f + u);
        break;
    }
    case KILN_L_ZERO_PAD2D:
        if (in.rank != 3) SHAPE_FAIL("(None, height, width, channels)");
        for (int i = 0; i < 4; i++)
            if (a.pads[i] < 0)
                return kiln__graph_fail(g, KILN_ERR_ARG, "%s (zeropad2d): negative padding", lname);
        o = in;
        o.dims[0] += a.pads[0] + a.pads[1];
        o.dims[1] += a.pads[2] + a.pads[3];
        break;
    default:
        return kiln__graph_fail(g, KILN_ERR_ARG, "bad layer kind");
    }
#undef SHAPE_FAIL
    if ((unsigned)a.activation >= KILN_AF_COUNT)
        return kiln__graph_fail(g, KILN_ERR_ARG, "%s (%s): bad activation", lname, kn);
    int64_t osz = shape_size(&o);
    if (osz <= 0 || osz > ((int64_t)1 << 31))
        return kiln__graph_fail(g, KILN_ERR_SHAPE, "%s (%s): output has %lld elements per sample",
                                lname, kn, (long long)osz);

    if (!grow((void **)&g->layers, &g->cap_layers, g->n_layers + 1, sizeof *g->layers) ||
        !grow((void **)&g->tensors, &g->cap_tensors, g->n_tensors + 1, sizeof *g->tensors))
        return KILN_ERR_NOMEM;
    kiln__glayer *L = &g->layers[g->n_layers];
    memset(L, 0, sizeof *L);
    L->kind = kind;
    L->name = strdup(lname);
    L->a = a;
    L->n_in = n_inputs;
    L->in = malloc(sizeof(int32_t) * (size_t)(n_inputs ? n_inputs : 1));
    if (!L->name || !L->in) {
        free(L->name);
        free(L->in);
        return KILN_ERR_NOMEM;
    }
    if (n_inputs) memcpy(L->in, inputs, sizeof(int32_t) * (size_t)n_inputs);
    L->out = g->n_tensors;
    L->macs = macs;
    int32_t li = g->n_layers++;
    kiln__gtensor *T = &g->tensors[g->n_tensors++];
    memset(T, 0, sizeof *T);
    T->dtype = out_dtype;
    T->rank = o.rank;
    memcpy(T->dims, o.dims, sizeof T->dims);
    T->layer = li;
    T->size = osz;
    kiln_status st = add_params(g, li, p, np, &a);
    if (st) return st;
    if (out) *out = L->out;
    return KILN_OK;
}

kiln_status kiln_input(kiln_graph *g, const char *name, int32_t rank, const int32_t *dims,
                       int32_t *out) {
    kiln_layer_attrs a;
    kiln_layer_attrs_init(&a);
    if (rank < 1 || rank > KILN_MAX_RANK - 1) return kiln__graph_fail(g, KILN_ERR_ARG, "bad rank");
    a.rank = rank;
    memcpy(a.shape, dims, sizeof(int32_t) * (size_t)rank);
    return kiln_graph_add(g, KILN_L_INPUT, name, NULL, 0, &a, out);
}

kiln_status kiln_dense(kiln_graph *g, int32_t x, int32_t units, kiln_actfn act, int32_t *out) {
    kiln_layer_attrs a;
    kiln_layer_attrs_init(&a);
    a.units = units;
    a.activation = act;
    return kiln_graph_add(g, KILN_L_DENSE, NULL, &x, 1, &a, out);
}

kiln_status kiln_conv2d(kiln_graph *g, int32_t x, int32_t filters, int32_t kernel, int32_t stride,
                        kiln_padding pad, kiln_actfn act, int32_t *out) {
    kiln_layer_attrs a;
    kiln_layer_attrs_init(&a);
    a.filters = filters;
    a.kernel[0] = a.kernel[1] = kernel;
    a.strides[0] = a.strides[1] = stride;
    a.padding = pad;
    a.activation = act;
    return kiln_graph_add(g, KILN_L_CONV2D, NULL, &x, 1, &a, out);
}

kiln_status kiln_max_pool2d(kiln_graph *g, int32_t x, int32_t pool, int32_t *out) {
    kiln_layer_attrs a;
    kiln_layer_attrs_init(&a);
    a.pool[0] = a.pool[1] = pool;
    return kiln_graph_add(g, KILN_L_MAX_POOL2D, NULL, &x, 1, &a, out);
}

kiln_status kiln_flatten(kiln_graph *g, int32_t x, int32_t *out) {
    return kiln_graph_add(g, KILN_L_FLATTEN, NULL, &x, 1, NULL, out);
}

kiln_status kiln_dropout(kiln_graph *g, int32_t x, float rate, int32_t *out) {
    kiln_layer_attrs a;
    kiln_layer_attrs_init(&a);
    a.rate = rate;
    return kiln_graph_add(g, KILN_L_DROPOUT, NULL, &x, 1, &a, out);
}

kiln_status kiln_graph_set_loss(kiln_graph *g, int32_t output, kiln_loss loss,
                                int32_t from_logits) {
    if (!g) return KILN_ERR_ARG;
    if (output >= g->n_tensors || output < -1)
        return kiln__graph_fail(g, KILN_ERR_ARG, "loss: output %d is not a tensor", (int)output);
    if ((unsigned)loss > KILN_LOSS_HUBER) return kiln__graph_fail(g, KILN_ERR_ARG, "bad loss");
    g->output = output;
    g->loss = loss;
    g->from_logits = from_logits != 0;
    return KILN_OK;
}

int kiln_graph_train_defaults(const kiln_graph *g, kiln_train_config *c) {
    if (!g || !c || !g->has_train) return 0;
    int32_t batch = c->batch;
    uint64_t seed = c->seed;
    const kiln_parallel *par = c->parallel;
    *c = g->train;
    c->batch = batch;
    c->seed = seed;
    c->parallel = par;
    return 1;
}

int32_t kiln_graph_num_layers(const kiln_graph *g) {
    return g->n_layers;
}
int32_t kiln_graph_num_tensors(const kiln_graph *g) {
    return g->n_tensors;
}
int32_t kiln_graph_num_params(const kiln_graph *g) {
    return g->n_params;
}
int64_t kiln_graph_param_count(const kiln_graph *g) {
    return g->param_elems;
}
int64_t kiln_graph_trainable_count(const kiln_graph *g) {
    return g->trainable_elems;
}
int32_t kiln_graph_output(const kiln_graph *g) {
    return g->output >= 0 ? g->output : g->n_tensors - 1;
}
int32_t kiln_graph_input(const kiln_graph *g) {
    for (int32_t i = 0; i < g->n_layers; i++)
        if (g->layers[i].kind == KILN_L_INPUT) return g->layers[i].out;
    return -1;
}
kiln_loss kiln_graph_loss(const kiln_graph *g, int32_t *from_logits) {
    if (from_logits) *from_logits = g->from_logits;
    return g->loss;
}

kiln_status kiln_graph_layer(const kiln_graph *g, int32_t i, kiln_layer_desc *out) {
    if (!g || i < 0 || i >= g->n_layers || !out) return KILN_ERR_ARG;
    const kiln__glayer *L = &g->layers[i];
    out->kind = L->kind;
    out->kind_name = kind_names[L->kind];
    out->name = L->name;
    out->attrs = &L->a;
    out->n_inputs = L->n_in;
    out->inputs = L->in;
    out->output = L->out;
    out->n_params = L->n_params;
    out->first_param = L->first_param;
    out->macs = L->macs;
    return KILN_OK;
}

kiln_status kiln_graph_tensor(const kiln_graph *g, int32_t id, kiln_tensor_desc *out) {
    if (!g || id < 0 || id >= g->n_tensors || !out) return KILN_ERR_ARG;
    const kiln__gtensor *t = &g->tensors[id];
    out->name = g->layers[t->layer].name;
    out->dtype = t->dtype;
    out->rank = t->rank;
    memcpy(out->dims, t->dims, sizeof out->dims);
    out->layer = t->layer;
    return KILN_OK;
}

kiln_status kiln_graph_param(const kiln_graph *g, int32_t i, kiln_param_desc *out) {
    if (!g || i < 0 || i >= g->n_params || !out) return KILN_ERR_ARG;
    const kiln__gparam *p = &g->params[i];
    out->name = p->name;
    out->role = p->role;
    out->layer = p->layer;
    out->trainable = p->trainable;
    out->rank = p->rank;
    memcpy(out->dims, p->dims, sizeof out->dims);
    out->offset = p->offset;
    out->count = p->count;
    return KILN_OK;
}
