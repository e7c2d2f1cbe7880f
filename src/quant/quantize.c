/* quantize.c: post-training quantization of a float .tflite (subgraph 0), rewriting it with
 * the FlatBuffer writer. Rules follow TFLite's converter: per-channel symmetric int8 weights
 * (conv dim 0, depthwise dim 3), per-tensor for FULLY_CONNECTED, int32 bias at
 * in_scale * w_scale, asymmetric int8 activations from calibrated ranges that include 0 (zero
 * point nudged to an integer), fixed output scales for SOFTMAX/LOGISTIC/TANH, shared scales
 * through pooling/reshape/pad, op versions as tensorflow/lite/tools/versioning/op_version.cc
 * sets them. Dynamic range: the hybrid scheme for weights of >= 1024 elements. Small int8
 * models then get their integer weights and biases refined on the calibration data (refine.c). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/tfl_writer.h"
#include "kernels/ops.h"
#include "quant/internal.h"
#include "rt/fb.h"
#include "rt/model.h"

/* Weights smaller than this stay float in dynamic-range mode (TFLite's
 * weights_min_num_elements default). */
#define KQ_DYNAMIC_MIN_ELEMENTS 1024

typedef struct qtensor {
    int32_t vf; /* writer index of the float-domain variant (or the unchanged copy) */
    int32_t vq; /* writer index of the quantized variant */
    int32_t has_q;
    float scale;
    int32_t zp;
} qtensor;

typedef struct Q {
    const kiln_model *m;
    const kiln__subgraph_def *sg;
    const kiln_quantize_options *o;
    kiln_tfl_writer *w;
    int32_t wsg;
    qtensor *t;
    kq_stats *st;
    int32_t qtype; /* KILN_INT8 or KILN_INT16 (integer modes) */
    int32_t *qmap; /* writer tensor -> float tensor (report) */
    int32_t qmap_cap, n_w;
    uint8_t *op_quant;
    int32_t split; /* the float pre-pass that splits fused activations off (split_model) */
    int32_t nst;   /* entries of st: the tensors, then the LSTM slots (internal.h) */
    char *err;
    size_t errlen;
    kiln_status status;
} Q;

void kiln_quantize_options_init(kiln_quantize_options *o) {
    memset(o, 0, sizeof *o);
    o->mode = KILN_QUANT_INT8;
    o->io_type = KILN_FLOAT32;
    o->method = KILN_CALIB_MINMAX;
    o->percentile = 99.99f;
    o->calib_random_n = 100;
    o->seed = 1;
    o->report = 1;
}

void kiln_quant_report_free(kiln_quant_report *r) {
    if (!r) return;
    free(r->layers);
    memset(r, 0, sizeof *r);
}

const char *kiln_quant_mode_name(kiln_quant_mode m) {
    switch (m) {
    case KILN_QUANT_INT8:
        return "int8";
    case KILN_QUANT_DYNAMIC:
        return "dynamic";
    case KILN_QUANT_FLOAT16:
        return "float16";
    case KILN_QUANT_INT16X8:
        return "int16x8";
    }
    return "?";
}

static kiln_status fail(Q *q, kiln_status s, const char *fmt, ...) {
    if (q->status == KILN_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(q->err, q->errlen, fmt, ap);
        va_end(ap);
        q->status = s;
    }
    return q->status;
}

static const char *tname(const Q *q, int32_t t) {
    const char *n = q->sg->tensors[t].name;
    return n && *n ? n : "(unnamed)";
}

static int64_t def_numel(const kiln__tensor_def *d) {
    int64_t n = 1;
    for (int32_t i = 0; i < d->rank; i++)
        n *= d->dims[i];
    return n;
}

static int is_const(const Q *q, int32_t t) {
    return t >= 0 && q->sg->tensors[t].data != NULL;
}

/* A malloc'd copy of a float32 constant (constants may be only 4-byte aligned). */
static float *const_f32(Q *q, int32_t t) {
    const kiln__tensor_def *d = &q->sg->tensors[t];
    const int64_t n = def_numel(d);
    if (d->type != KILN_FLOAT32 || (size_t)n * 4 > d->data_len) {
        fail(q, KILN_ERR_MODEL, "tensor %d (%s): expected %lld float32 values", t, tname(q, t),
             (long long)n);
        return NULL;
    }
    float *v = (float *)malloc((size_t)(n ? n : 1) * 4);
    if (!v) {
        fail(q, KILN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(v, d->data, (size_t)n * 4);
    return v;
}

/* Adds tt to the written subgraph and grows the tensor map to cover its index. */
static int32_t write_tensor(Q *q, const kiln_tfl_tensor *tt) {
    const int32_t idx = kiln_tfl_add_tensor(q->w, q->wsg, tt);
    if (idx < 0) {
        fail(q, KILN_ERR_NOMEM, "%s", kiln_tfl_writer_error(q->w));
        return -1;
    }
    if (idx >= q->qmap_cap) {
        int32_t cap = q->qmap_cap ? q->qmap_cap * 2 : 64;
        while (cap <= idx)
            cap *= 2;
        int32_t *nm = (int32_t *)realloc(q->qmap, (size_t)cap * sizeof(int32_t));
        if (!nm) {
            fail(q, KILN_ERR_NOMEM, "out of memory");
            return -1;
        }
        for (int32_t i = q->qmap_cap; i < cap; i++)
            nm[i] = -1;
        q->qmap = nm;
        q->qmap_cap = cap;
    }
    if (idx + 1 > q->n_w) q->n_w = idx + 1;
    return idx;
}

static int32_t add_tensor(Q *q, int32_t src, const char *name, int32_t type, int32_t buffer,
                          int32_t nq, const float *sc, const int64_t *zp, int32_t qdim) {
    const kiln__tensor_def *d = &q->sg->tensors[src];
    kiln_tfl_tensor tt;
    memset(&tt, 0, sizeof tt);
    tt.name = name ? name : d->name;
    tt.type = type;
    tt.rank = d->rank;
    tt.shape = d->dims;
    tt.shape_signature = d->has_signature ? d->sig : NULL;
    tt.buffer = buffer;
    tt.num_quant = nq;
    tt.scale = sc;
    tt.zero_point = zp;
    tt.quantized_dimension = qdim;
    tt.is_variable = d->is_variable;
    tt.has_rank = d->has_rank;
    return write_tensor(q, &tt);
}

static int32_t add_op(Q *q, int32_t builtin, int32_t version, const char *custom, const int32_t *in,
                      int32_t nin, const int32_t *out, int32_t nout, int32_t opts_type,
                      const kiln_tfl_opt *opts, int32_t nopts) {
    if (q->status != KILN_OK) return -1;
    const int32_t oc = kiln_tfl_add_opcode(q->w, builtin, version, custom);
    kiln_tfl_op op;
    memset(&op, 0, sizeof op);
    op.opcode = oc;
    op.inputs = in;
    op.n_inputs = nin;
    op.outputs = out;
    op.n_outputs = nout;
    op.opts_type = opts_type;
    op.opts = opts;
    op.n_opts = nopts;
    if (oc < 0 || kiln_tfl_add_operator(q->w, q->wsg, &op) < 0) {
        fail(q, KILN_ERR_NOMEM, "%s", kiln_tfl_writer_error(q->w));
        return -1;
    }
    return 0;
}

/* ---- quantization parameters ------------------------------------------------------------ */

/* TFLite's asymmetric activation parameters: the range is widened to include 0, scale =
 * (max - min) / (qmax - qmin), zero point = qmin - min / scale rounded (nudged) into range. */
static void asym_params(double lo, double hi, int32_t qmin, int32_t qmax, float *scale,
                        int32_t *zp) {
    if (lo > 0) lo = 0;
    if (hi < 0) hi = 0;
    if (hi == lo) {
        *scale = 1.0f;
        *zp = 0;
        return;
    }
    const double s = (hi - lo) / (double)(qmax - qmin);
    const double zf = qmin - lo / s;
    int32_t z;
    if (zf <= qmin) {
        z = qmin;
    } else if (zf >= qmax) {
        z = qmax;
    } else {
        z = (int32_t)round(zf);
    }
    *scale = (float)s;
    *zp = z;
}

/* Symmetric parameters (int16 activations, weights): scale = max|x| / qmax, zero point 0. */
static float sym_scale(double lo, double hi, int32_t qmax) {
    const double m = fmax(fabs(lo), fabs(hi));
    return m > 0 ? (float)(m / qmax) : 1.0f;
}

static int act_params(Q *q, int32_t t, float *scale, int32_t *zp) {
    qtensor *x = &q->t[t];
    if (!x->has_q) {
        double lo = 0, hi = 0;
        if (is_const(q, t)) {
            float *v = const_f32(q, t);
            if (!v) return -1;
            const int64_t n = def_numel(&q->sg->tensors[t]);
            for (int64_t i = 0; i < n; i++) {
                if (v[i] < lo) lo = v[i];
                if (v[i] > hi) hi = v[i];
            }
            free(v);
        } else {
            const kq_stats *s = &q->st[t];
            if (s->nonfinite) {
                fail(q, KILN_ERR_RUNTIME,
                     "calibration overflow: tensor %d (%s) takes Inf or NaN values on the "
                     "representative data; its range cannot be quantized",
                     t, tname(q, t));
                return -1;
            }
            if (s->seen) {
                lo = s->lo;
                hi = s->hi;
            }
            if (fabs(lo) > 1e30 || fabs(hi) > 1e30) {
                fail(q, KILN_ERR_RUNTIME, "calibration overflow: tensor %d (%s) has range [%g, %g]",
                     t, tname(q, t), lo, hi);
                return -1;
            }
        }
        if (q->qtype == KILN_INT16) {
            x->scale = sym_scale(lo, hi, 32767);
            x->zp = 0;
        } else {
            asym_params(lo, hi, -128, 127, &x->scale, &x->zp);
        }
        x->has_q = 1;
    }
    *scale = x->scale;
    *zp = x->zp;
    return 0;
}

static int32_t qmin_of(int32_t type) {
    return type == KILN_INT16 ? -32768 : (type == KILN_UINT8 ? 0 : -128);
}
static int32_t qmax_of(int32_t type) {
    return type == KILN_INT16 ? 32767 : (type == KILN_UINT8 ? 255 : 127);
}

static void store_q(void *dst, int32_t type, int64_t i, double v) {
    const double lo = qmin_of(type), hi = qmax_of(type);
    v = v < lo ? lo : (v > hi ? hi : v);
    if (type == KILN_INT16) {
        ((int16_t *)dst)[i] = (int16_t)v;
    } else if (type == KILN_UINT8) {
        ((uint8_t *)dst)[i] = (uint8_t)v;
    } else {
        ((int8_t *)dst)[i] = (int8_t)v;
    }
}

/* ---- tensor variants ---------------------------------------------------------------------- */

static int32_t get_f(Q *q, int32_t t);

/* An exact copy of a constant (any type), or in float16 mode a float16 constant followed by a
 * DEQUANTIZE to float32 (TFLite's float16 quantization). */
static int32_t copy_const(Q *q, int32_t t) {
    const kiln__tensor_def *d = &q->sg->tensors[t];
    if (q->o->mode == KILN_QUANT_FLOAT16 && d->type == KILN_FLOAT32) {
        float *v = const_f32(q, t);
        if (!v) return -1;
        const int64_t n = def_numel(d);
        uint16_t *h = (uint16_t *)malloc((size_t)(n ? n : 1) * 2);
        if (!h) {
            free(v);
            fail(q, KILN_ERR_NOMEM, "out of memory");
            return -1;
        }
        for (int64_t i = 0; i < n; i++) {
            /* float -> IEEE half, round to nearest even (as _cvtss_sh / Eigen::half) */
            uint32_t u;
            memcpy(&u, &v[i], 4);
            const uint32_t sign = (u >> 16) & 0x8000u;
            const uint32_t ab = u & 0x7fffffffu;
            uint16_t r;
            if (ab >= 0x7f800000u) {
                r = (uint16_t)(sign | 0x7c00u | (ab > 0x7f800000u ? 0x200u : 0));
            } else if (ab >= 0x477ff000u) {
                r = (uint16_t)(sign | 0x7c00u); /* overflow to inf */
            } else if (ab < 0x38800000u) {
                /* subnormal half: value / 2^-24, rounded to nearest even */
                float f;
                memcpy(&f, &ab, 4);
                const float sc = f * 16777216.0f;
                r = (uint16_t)(sign | (uint32_t)nearbyintf(sc));
            } else {
                const uint32_t mant_odd = (ab >> 13) & 1u;
                const uint32_t rb = ab + 0xfffu + mant_odd;
                r = (uint16_t)(sign | ((rb - 0x38000000u) >> 13));
            }
            h[i] = r;
        }
        free(v);
        const int32_t buf = kiln_tfl_add_buffer(q->w, h, (size_t)n * 2);
        free(h);
        char nm[300];
        snprintf(nm, sizeof nm, "%s_fp16", d->name ? d->name : "");
        const int32_t ht = add_tensor(q, t, nm, KILN_FLOAT16, buf, 0, NULL, NULL, 0);
        const int32_t ft = add_tensor(q, t, NULL, KILN_FLOAT32, 0, 0, NULL, NULL, 0);
        if (ht < 0 || ft < 0) return -1;
        add_op(q, KILN_OP_DEQUANTIZE, 3, NULL, &ht, 1, &ft, 1, 0, NULL, 0);
        return ft;
    }
    const int32_t buf = kiln_tfl_add_buffer(q->w, d->data, d->data_len);
    int64_t zp64[1] = {0};
    /* integer constants keep their quantization (rare in float models) */
    if (d->q.n == 1) {
        zp64[0] = d->q.zero_point ? d->q.zero_point[0] : 0;
        return add_tensor(q, t, NULL, d->type, buf, 1, d->q.scale, zp64, d->q.dim);
    }
    return add_tensor(q, t, NULL, d->type, buf, 0, NULL, NULL, 0);
}

/* The quantized variant of tensor t with its activation parameters. */
static int32_t get_q(Q *q, int32_t t) {
    qtensor *x = &q->t[t];
    if (x->vq >= 0 || q->status != KILN_OK) return x->vq;
    float sc;
    int32_t zp;
    if (act_params(q, t, &sc, &zp)) return -1;
    const int64_t zp64 = zp;
    const kiln__tensor_def *d = &q->sg->tensors[t];
    if (d->type != KILN_FLOAT32) {
        fail(q, KILN_ERR_UNSUPPORTED, "tensor %d (%s) is %s, not float32: cannot quantize it", t,
             tname(q, t), kiln_dtype_name(d->type));
        return -1;
    }
    if (is_const(q, t)) {
        float *v = const_f32(q, t);
        if (!v) return -1;
        const int64_t n = def_numel(d);
        const size_t es = q->qtype == KILN_INT16 ? 2 : 1;
        void *b = malloc((size_t)(n ? n : 1) * es);
        if (!b) {
            free(v);
            fail(q, KILN_ERR_NOMEM, "out of memory");
            return -1;
        }
        for (int64_t i = 0; i < n; i++)
            store_q(b, q->qtype, i, round((double)v[i] / sc) + zp);
        const int32_t buf = kiln_tfl_add_buffer(q->w, b, (size_t)n * es);
        free(b);
        free(v);
        x->vq = add_tensor(q, t, NULL, q->qtype, buf, 1, &sc, &zp64, 0);
        return x->vq;
    }
    const int32_t src = get_f(q, t);
    if (src < 0) return -1;
    char nm[300];
    snprintf(nm, sizeof nm, "%s", d->name ? d->name : "");
    x->vq = add_tensor(q, t, nm, q->qtype, 0, 1, &sc, &zp64, 0);
    if (x->vq < 0) return -1;
    add_op(q, KILN_OP_QUANTIZE, q->qtype == KILN_INT16 ? 2 : 1, NULL, &src, 1, &x->vq, 1, 0, NULL,
           0);
    return x->vq;
}

/* The float-domain variant (constants copied; quantized tensors dequantized). */
static int32_t get_f(Q *q, int32_t t) {
    qtensor *x = &q->t[t];
    if (x->vf >= 0 || q->status != KILN_OK) return x->vf;
    if (is_const(q, t)) {
        x->vf = copy_const(q, t);
        return x->vf;
    }
    if (x->vq < 0 && q->sg->tensors[t].is_variable) {
        /* a state tensor (LSTM, SVDF): copied as it is, the op keeps it float */
        x->vf = add_tensor(q, t, NULL, q->sg->tensors[t].type, 0, 0, NULL, NULL, 0);
        return x->vf;
    }
    if (x->vq < 0) {
        fail(q, KILN_ERR_MODEL, "tensor %d (%s) is used before it is produced", t, tname(q, t));
        return -1;
    }
    x->vf = add_tensor(q, t, NULL, q->sg->tensors[t].type, 0, 0, NULL, NULL, 0);
    if (x->vf < 0) return -1;
    add_op(q, KILN_OP_DEQUANTIZE, q->qtype == KILN_INT16 ? 3 : 2, NULL, &x->vq, 1, &x->vf, 1, 0,
           NULL, 0);
    return x->vf;
}

/* t quantized with given parameters (requantized when its own differ). */
static int32_t get_q_as(Q *q, int32_t t, float sc, int32_t zp) {
    const int32_t v = get_q(q, t);
    if (v < 0) return -1;
    if (q->t[t].scale == sc && q->t[t].zp == zp) return v;
    char nm[300];
    snprintf(nm, sizeof nm, "%s_requant", tname(q, t));
    const int64_t zp64 = zp;
    const int32_t r = add_tensor(q, t, nm, q->qtype, 0, 1, &sc, &zp64, 0);
    if (r < 0) return -1;
    add_op(q, KILN_OP_QUANTIZE, q->qtype == KILN_INT16 ? 2 : 1, NULL, &v, 1, &r, 1, 0, NULL, 0);
    return r;
}

/* t with given parameters for an input that must share them (PACK, PADV2, SELECT): a constant
 * is quantized with them directly, as TFLite's converter does; an activation is requantized. */
static int32_t get_q_shared(Q *q, int32_t t, float sc, int32_t zp) {
    if (!is_const(q, t) || q->sg->tensors[t].type != KILN_FLOAT32 || q->status != KILN_OK)
        return get_q_as(q, t, sc, zp);
    const kiln__tensor_def *d = &q->sg->tensors[t];
    float *v = const_f32(q, t);
    if (!v) return -1;
    const int64_t n = def_numel(d);
    const size_t es = q->qtype == KILN_INT16 ? 2 : 1;
    void *b = malloc((size_t)(n ? n : 1) * es);
    if (!b) {
        free(v);
        fail(q, KILN_ERR_NOMEM, "out of memory");
        return -1;
    }
    for (int64_t i = 0; i < n; i++)
        store_q(b, q->qtype, i, round((double)v[i] / sc) + zp);
    const int32_t buf = kiln_tfl_add_buffer(q->w, b, (size_t)n * es);
    free(b);
    free(v);
    const int64_t zp64 = zp;
    return add_tensor(q, t, NULL, q->qtype, buf, 1, &sc, &zp64, 0);
}

/* The quantized output tensor of an op (native variant). */
static int32_t out_q(Q *q, int32_t t) {
    float sc;
    int32_t zp;
    if (act_params(q, t, &sc, &zp)) return -1;
    const int64_t zp64 = zp;
    q->t[t].vq = add_tensor(q, t, NULL, q->qtype, 0, 1, &sc, &zp64, 0);
    if (q->t[t].vq >= 0) q->qmap[q->t[t].vq] = t;
    return q->t[t].vq;
}

static void set_fixed(Q *q, int32_t t, float sc, int32_t zp) {
    q->t[t].has_q = 1;
    q->t[t].scale = sc;
    q->t[t].zp = zp;
}

/* ---- builtin options ---------------------------------------------------------------------- */

typedef struct optset {
    kiln_tfl_opt o[16];
    int32_t n;
    int32_t vec[4][16];
} optset;

/* Field types of the options tables the quantizer rewrites: b = byte/bool/byte enum,
 * i = int, f = float, v = [int], '-' = a field we do not copy. */
static const char *opt_layout(int32_t type) {
    switch (type) {
    case KILN_OPTS_Conv2DOptions:
        return "biibiib";
    case KILN_OPTS_DepthwiseConv2DOptions:
        return "biiibii";
    case KILN_OPTS_FullyConnectedOptions:
        return "bbbbb";
    case KILN_OPTS_Pool2DOptions:
        return "biiiib";
    case KILN_OPTS_ReshapeOptions:
        return "v";
    case KILN_OPTS_SoftmaxOptions:
        return "f";
    case KILN_OPTS_AddOptions:
        return "bb";
    case KILN_OPTS_SubOptions:
        return "bb";
    case KILN_OPTS_MulOptions:
        return "b";
    case KILN_OPTS_ConcatenationOptions:
        return "ib";
    case KILN_OPTS_ReducerOptions:
        return "b";
    case KILN_OPTS_PadOptions:
        return "";
    case KILN_OPTS_SqueezeOptions:
        return "v";
    case KILN_OPTS_LeakyReluOptions:
        return "f";
    case KILN_OPTS_StridedSliceOptions:
        return "iiiiib";
    case KILN_OPTS_TransposeConvOptions:
        return "biibb";
    case KILN_OPTS_GatherOptions:
        return "ii";
    case KILN_OPTS_SplitOptions:
        return "i";
    case KILN_OPTS_SplitVOptions:
        return "i";
    case KILN_OPTS_ResizeBilinearOptions:
        return "iibb";
    case KILN_OPTS_ResizeNearestNeighborOptions:
        return "bb";
    case KILN_OPTS_ArgMaxOptions:
        return "b";
    case KILN_OPTS_ArgMinOptions:
        return "b";
    case KILN_OPTS_PackOptions:
        return "ii";
    case KILN_OPTS_UnpackOptions:
        return "ii";
    case KILN_OPTS_GeluOptions:
        return "b";
    case KILN_OPTS_DivOptions:
        return "b";
    case KILN_OPTS_L2NormOptions:
        return "b";
    case KILN_OPTS_ShapeOptions:
        return "b";
    case KILN_OPTS_BatchMatMulOptions:
        return "bbb";
    case KILN_OPTS_SpaceToDepthOptions:
        return "i";
    case KILN_OPTS_DepthToSpaceOptions:
        return "i";
    case KILN_OPTS_MirrorPadOptions:
        return "b";
    case KILN_OPTS_CastOptions:
        return "bb";
    case KILN_OPTS_UnidirectionalSequenceLSTMOptions:
        return "bffbbb";
    case KILN_OPTS_SVDFOptions:
        return "ibb";
    default:
        return NULL;
    }
}

static int copy_opts(Q *q, const kiln__op_def *op, optset *os) {
    os->n = 0;
    if (!op->opts || !op->opts_type) return 0;
    const char *lay = opt_layout(op->opts_type);
    kiln__fb f = {q->m->buf, q->m->len};
    kiln__fbt t;
    if (kiln__fb_table(&f, (size_t)(op->opts - q->m->buf), &t)) {
        fail(q, KILN_ERR_MODEL, "bad builtin options table");
        return -1;
    }
    if (!lay) {
        /* a table we do not know field by field can still be copied when it has no fields */
        for (int id = 0; 4 + 2 * id + 2 <= t.vtsize; id++) {
            if (kiln__fb_field(&f, &t, id, 1) != 0) {
                fail(q, KILN_ERR_UNSUPPORTED,
                     "operator %s: cannot rewrite its builtin options (type %d)",
                     kiln_builtin_name(op->builtin), op->opts_type);
                return -1;
            }
        }
        return 0;
    }
    int nv = 0;
    for (int id = 0; lay[id]; id++) {
        kiln_tfl_opt *o = &os->o[os->n];
        memset(o, 0, sizeof *o);
        o->id = id;
        const char c = lay[id];
        if (c == 'v') {
            size_t first;
            uint32_t count;
            if (kiln__fb_vec(&f, &t, id, 4, &first, &count) <= 0 || count > 16 || nv >= 4) continue;
            for (uint32_t k = 0; k < count; k++)
                os->vec[nv][k] = (int32_t)kiln__rd32(f.b + first + 4 * (size_t)k);
            o->type = KILN_TFL_OPT_IVEC;
            o->ivec = os->vec[nv];
            o->n = (int32_t)count;
            nv++;
            os->n++;
            continue;
        }
        const size_t size = c == 'b' ? 1 : 4;
        const size_t p = kiln__fb_field(&f, &t, id, size);
        if (p == 0 || p == KILN__FB_BAD) continue;
        if (c == 'b') {
            o->type = KILN_TFL_OPT_I8;
            o->i = (int8_t)f.b[p];
        } else if (c == 'i') {
            o->type = KILN_TFL_OPT_I32;
            o->i = (int32_t)kiln__rd32(f.b + p);
        } else {
            uint32_t u = kiln__rd32(f.b + p);
            o->type = KILN_TFL_OPT_F32;
            memcpy(&o->f, &u, 4);
        }
        os->n++;
    }
    return 0;
}

/* Sets (or adds) an option field. */
static void set_opt(optset *os, int32_t id, int32_t type, int64_t v) {
    for (int32_t k = 0; k < os->n; k++) {
        if (os->o[k].id == id) {
            os->o[k].type = type;
            os->o[k].i = v;
            return;
        }
    }
    if (os->n >= 16) return;
    memset(&os->o[os->n], 0, sizeof os->o[0]);
    os->o[os->n].id = id;
    os->o[os->n].type = type;
    os->o[os->n].i = v;
    os->n++;
}

static int64_t get_opt_i(const optset *os, int32_t id, int64_t def) {
    for (int32_t k = 0; k < os->n; k++)
        if (os->o[k].id == id) return os->o[k].i;
    return def;
}

/* ---- operators ---------------------------------------------------------------------------- */

static int quantizable(int32_t b, int32_t qtype) {
    switch (b) {
    case KILN_OP_CONV_2D:
    case KILN_OP_DEPTHWISE_CONV_2D:
    case KILN_OP_FULLY_CONNECTED:
    case KILN_OP_ADD:
    case KILN_OP_SUB:
    case KILN_OP_MUL:
    case KILN_OP_MAX_POOL_2D:
    case KILN_OP_AVERAGE_POOL_2D:
    case KILN_OP_RESHAPE:
    case KILN_OP_SQUEEZE:
    case KILN_OP_SOFTMAX:
    case KILN_OP_LOGISTIC:
    case KILN_OP_TANH:
    case KILN_OP_MEAN:
    case KILN_OP_CONCATENATION:
    case KILN_OP_PAD:
    case KILN_OP_RELU:
    case KILN_OP_RELU6:
    case KILN_OP_SPACE_TO_BATCH_ND:
    case KILN_OP_BATCH_TO_SPACE_ND:
    case KILN_OP_TRANSPOSE:
    case KILN_OP_STRIDED_SLICE:
    case KILN_OP_TRANSPOSE_CONV:
    case KILN_OP_BATCH_MATMUL:
    case KILN_OP_REDUCE_MAX:
    case KILN_OP_REDUCE_MIN:
    case KILN_OP_SLICE:
    case KILN_OP_EXPAND_DIMS:
    case KILN_OP_GATHER:
    case KILN_OP_MAXIMUM:
    case KILN_OP_MINIMUM:
    case KILN_OP_SPLIT:
    case KILN_OP_SPLIT_V:
    case KILN_OP_PACK:
    case KILN_OP_UNPACK:
    case KILN_OP_PADV2:
    case KILN_OP_TILE:
    case KILN_OP_BROADCAST_TO:
    case KILN_OP_SELECT:
    case KILN_OP_SELECT_V2:
    case KILN_OP_MIRROR_PAD:
    case KILN_OP_LEAKY_RELU: /* int16 too: the property table does not exclude it (v2) */
    case KILN_OP_REVERSE_V2: /* not in the property table; the MLIR converter shares scales */
        return 1;
    /* int8 only in TFLite's operator property table (quantizable_int16 = false) or in the
     * kernels (no int16 variant) */
    case KILN_OP_HARD_SWISH:
    case KILN_OP_RELU_N1_TO_1:
    case KILN_OP_LOG_SOFTMAX:
    case KILN_OP_L2_NORMALIZATION:
    case KILN_OP_PRELU:
    case KILN_OP_RESIZE_BILINEAR:
    case KILN_OP_RESIZE_NEAREST_NEIGHBOR:
    case KILN_OP_SPACE_TO_DEPTH:
    case KILN_OP_DEPTH_TO_SPACE:
    case KILN_OP_SUM:
    case KILN_OP_EQUAL:
    case KILN_OP_NOT_EQUAL:
    case KILN_OP_GREATER:
    case KILN_OP_GREATER_EQUAL:
    case KILN_OP_LESS:
    case KILN_OP_LESS_EQUAL:
    case KILN_OP_ARG_MAX:
    case KILN_OP_ARG_MIN:
    case KILN_OP_UNIDIRECTIONAL_SEQUENCE_LSTM: /* the 8x8_16 form (emit_int_lstm) */
    case KILN_OP_SVDF:                         /* emit_int_svdf */
        return qtype == KILN_INT8;
    default:
        return 0;
    }
}

/* Ops whose float inputs TFLite's quantizer quantizes (int8) while their outputs are not float
 * (bool, int32 indices). */
static int int_out_op(int32_t b) {
    switch (b) {
    case KILN_OP_EQUAL:
    case KILN_OP_NOT_EQUAL:
    case KILN_OP_GREATER:
    case KILN_OP_GREATER_EQUAL:
    case KILN_OP_LESS:
    case KILN_OP_LESS_EQUAL:
    case KILN_OP_ARG_MAX:
    case KILN_OP_ARG_MIN:
        return 1;
    default:
        return 0;
    }
}

/* Op version for the quantized op (op_version.cc's rules for the types we write). */
static int32_t qversion(Q *q, const kiln__op_def *op, const optset *os, float mul_ratio) {
    const int i16 = q->qtype == KILN_INT16;
    const int has_bias = op->n_in > 2 && op->inputs[2] >= 0;
    switch (op->builtin) {
    case KILN_OP_CONV_2D:
        return i16 ? 1 : 3;
    case KILN_OP_DEPTHWISE_CONV_2D:
        if (!i16) return 3;
        return (get_opt_i(os, 5, 1) != 1 || get_opt_i(os, 6, 1) != 1) ? 2 : 1;
    case KILN_OP_FULLY_CONNECTED:
        if (!has_bias) return 6;
        if (get_opt_i(os, 2, 0)) return 5;
        return i16 ? 1 : 4;
    case KILN_OP_ADD:
        return i16 ? 3 : 2;
    case KILN_OP_SUB:
        return i16 ? 5 : 2;
    case KILN_OP_MUL:
        return i16 ? 4 : (mul_ratio >= 1.0f ? 3 : 2);
    case KILN_OP_MAX_POOL_2D:
    case KILN_OP_AVERAGE_POOL_2D:
        return i16 ? 3 : 2;
    case KILN_OP_SOFTMAX:
    case KILN_OP_MEAN:
    case KILN_OP_RELU6:
    case KILN_OP_CONCATENATION:
    case KILN_OP_RELU:
    case KILN_OP_LOGISTIC:
    case KILN_OP_TANH:
        return i16 ? 3 : 2;
    case KILN_OP_PAD:
    case KILN_OP_PADV2:
        return q->sg->tensors[op->inputs[0]].rank > 4 ? 4 : (i16 ? 3 : 2);
    case KILN_OP_MIRROR_PAD:
        return i16 ? 3 : 2;
    case KILN_OP_SPLIT:
        return i16 ? 4 : 2;
    case KILN_OP_SPLIT_V:
    case KILN_OP_DEPTH_TO_SPACE:
    case KILN_OP_ARG_MIN:
        return i16 ? 1 : 2;
    case KILN_OP_PACK:
        return i16 ? 3 : 2;
    case KILN_OP_UNPACK:
        return i16 ? 4 : 2;
    case KILN_OP_TILE:
    case KILN_OP_REVERSE_V2:
        return i16 ? 1 : 3;
    case KILN_OP_BROADCAST_TO:
        return 3;
    case KILN_OP_SELECT: {
        int r5 = 0;
        for (int32_t k = 0; k < 3 && k < op->n_in; k++)
            r5 |= op->inputs[k] >= 0 && q->sg->tensors[op->inputs[k]].rank == 5;
        return r5 ? 3 : (i16 ? 1 : 2);
    }
    case KILN_OP_SELECT_V2:
        return 1;
    case KILN_OP_LEAKY_RELU:
        return i16 ? 2 : 1;
    case KILN_OP_TRANSPOSE_CONV:
        if (get_opt_i(os, 3, 0)) return 4;
        return op->n_in > 3 && op->inputs[3] >= 0 ? 3 : 2;
    case KILN_OP_BATCH_MATMUL:
        return i16 ? 3 : 2;
    case KILN_OP_REDUCE_MAX:
    case KILN_OP_REDUCE_MIN:
        return i16 ? 3 : 2;
    case KILN_OP_RESIZE_BILINEAR:
        return get_opt_i(os, 3, 0) ? 3 : 2;
    case KILN_OP_RESIZE_NEAREST_NEIGHBOR:
        return get_opt_i(os, 1, 0) ? 3 : 2;
    case KILN_OP_SLICE:
        if (q->sg->tensors[op->inputs[0]].rank > 4) return 5;
        return i16 ? 4 : 2;
    case KILN_OP_GATHER:
        if (get_opt_i(os, 1, 0)) return 5;
        return i16 ? 4 : 2;
    case KILN_OP_SPACE_TO_DEPTH:
    case KILN_OP_EQUAL:
    case KILN_OP_NOT_EQUAL:
    case KILN_OP_GREATER:
    case KILN_OP_GREATER_EQUAL:
    case KILN_OP_LESS:
    case KILN_OP_LESS_EQUAL:
    case KILN_OP_ARG_MAX:
    case KILN_OP_LOG_SOFTMAX:
    case KILN_OP_L2_NORMALIZATION:
    case KILN_OP_SUM:
        return 2;
    case KILN_OP_MAXIMUM:
    case KILN_OP_MINIMUM:
        return i16 ? 4 : 2;
    case KILN_OP_SPACE_TO_BATCH_ND:
    case KILN_OP_BATCH_TO_SPACE_ND:
        if (i16) return 4;
        return q->sg->tensors[op->inputs[0]].rank != 4 ? 3 : 2;
    case KILN_OP_TRANSPOSE:
        if (q->sg->tensors[op->inputs[0]].rank > 5) return 6;
        return i16 ? 5 : (q->sg->tensors[op->inputs[0]].rank > 4 ? 4 : 2);
    case KILN_OP_STRIDED_SLICE:
        if (get_opt_i(os, 5, 0)) return 8;
        if (get_opt_i(os, 2, 0) || get_opt_i(os, 3, 0)) return 6;
        if (q->sg->tensors[op->inputs[0]].rank > 4) return 4;
        return i16 ? 1 : 2;
    default:
        return 1;
    }
}

/* Symmetric int8 weights: per channel along qdim (or per tensor when qdim < 0). Fills
 * scales (nch entries) and returns the buffer index. */
static int32_t quant_weights(Q *q, int32_t t, int32_t qdim, float *scales, int32_t *nch) {
    const kiln__tensor_def *d = &q->sg->tensors[t];
    float *v = const_f32(q, t);
    if (!v) return -1;
    const int64_t n = def_numel(d);
    int64_t inner = 1, ch = 1;
    if (qdim >= 0) {
        ch = d->dims[qdim];
        for (int32_t k = qdim + 1; k < d->rank; k++)
            inner *= d->dims[k];
    }
    int8_t *b = (int8_t *)malloc((size_t)(n ? n : 1));
    if (!b || ch > 65536) {
        free(v);
        free(b);
        fail(q, KILN_ERR_NOMEM, "out of memory");
        return -1;
    }
    for (int64_t c = 0; c < ch; c++) {
        double mx = 0;
        for (int64_t i = 0; i < n; i++)
            if ((qdim < 0 || (i / inner) % ch == c) && fabs(v[i]) > mx) mx = fabs(v[i]);
        scales[c] = mx > 0 ? (float)(mx / 127.0) : 1.0f;
    }
    for (int64_t i = 0; i < n; i++) {
        const int64_t c = qdim < 0 ? 0 : (i / inner) % ch;
        double r = round((double)v[i] / scales[c]);
        r = r < -127 ? -127 : (r > 127 ? 127 : r);
        b[i] = (int8_t)r;
    }
    *nch = (int32_t)ch;
    const int32_t buf = kiln_tfl_add_buffer(q->w, b, (size_t)n);
    free(b);
    free(v);
    return buf;
}

static int32_t emit_weights(Q *q, int32_t t, int32_t qdim, float **scales_out, int32_t *nch) {
    const kiln__tensor_def *d = &q->sg->tensors[t];
    if (!is_const(q, t) || d->type != KILN_FLOAT32) {
        fail(q, KILN_ERR_UNSUPPORTED, "weights tensor %d (%s) is not a float32 constant", t,
             tname(q, t));
        return -1;
    }
    const int32_t ch = qdim >= 0 ? d->dims[qdim] : 1;
    float *sc = (float *)malloc((size_t)(ch > 0 ? ch : 1) * sizeof(float));
    int64_t *zp = (int64_t *)calloc((size_t)(ch > 0 ? ch : 1), sizeof(int64_t));
    if (!sc || !zp) {
        free(sc);
        free(zp);
        fail(q, KILN_ERR_NOMEM, "out of memory");
        return -1;
    }
    const int32_t buf = quant_weights(q, t, qdim, sc, nch);
    int32_t wt = -1;
    if (buf >= 0) wt = add_tensor(q, t, NULL, KILN_INT8, buf, *nch, sc, zp, qdim < 0 ? 0 : qdim);
    free(zp);
    *scales_out = sc;
    return wt;
}

/* Bias: int32 (int8 activations) or int64 (int16) with scale in_scale * w_scale[c]. */
static int32_t emit_bias(Q *q, int32_t t, float in_scale, const float *ws, int32_t nch,
                         const char *layer) {
    const kiln__tensor_def *d = &q->sg->tensors[t];
    if (!is_const(q, t) || d->type != KILN_FLOAT32) {
        fail(q, KILN_ERR_UNSUPPORTED, "bias tensor %d (%s) is not a float32 constant", t,
             tname(q, t));
        return -1;
    }
    float *v = const_f32(q, t);
    if (!v) return -1;
    const int64_t n = def_numel(d);
    const int i64 = q->qtype == KILN_INT16;
    float *sc = (float *)malloc((size_t)(n ? n : 1) * sizeof(float));
    int64_t *zp = (int64_t *)calloc((size_t)(n ? n : 1), sizeof(int64_t));
    uint8_t *b = (uint8_t *)malloc((size_t)(n ? n : 1) * 8);
    if (!sc || !zp || !b) {
        free(v);
        free(sc);
        free(zp);
        free(b);
        fail(q, KILN_ERR_NOMEM, "out of memory");
        return -1;
    }
    const int32_t per_ch = nch > 1;
    for (int64_t i = 0; i < n; i++) {
        sc[i] = in_scale * ws[per_ch ? (i < nch ? i : nch - 1) : 0];
        const double r = round((double)v[i] / sc[i]);
        if (!i64 && (r > 2147483647.0 || r < -2147483648.0)) {
            fail(q, KILN_ERR_RUNTIME,
                 "calibration overflow: bias %lld of layer %s (%g) does not fit int32 at scale "
                 "%g (input scale %g)",
                 (long long)i, layer, v[i], sc[i], in_scale);
            break;
        }
        if (i64) {
            const int64_t x = (int64_t)r;
            memcpy(b + 8 * i, &x, 8);
        } else {
            const int32_t x = (int32_t)r;
            memcpy(b + 4 * i, &x, 4);
        }
    }
    int32_t bt = -1;
    if (q->status == KILN_OK) {
        const int32_t buf = kiln_tfl_add_buffer(q->w, b, (size_t)n * (i64 ? 8 : 4));
        bt = add_tensor(q, t, NULL, i64 ? KILN_INT64 : KILN_INT32, buf, per_ch ? (int32_t)n : 1, sc,
                        zp, 0);
    }
    free(v);
    free(sc);
    free(zp);
    free(b);
    return bt;
}

static int keep_match(const char *name, const char *want) {
    return name && want && strcmp(name, want) == 0;
}

/* ---- fused activations -------------------------------------------------------------------- */

enum { KQ_ACT_NONE = 0, KQ_ACT_TANH = 4, KQ_ACT_SIGN_BIT = 5 };

/* The options field holding fused_activation_function, -1 when the options have none. */
static int32_t act_field(int32_t opts_type) {
    switch (opts_type) {
    case KILN_OPTS_Conv2DOptions:
    case KILN_OPTS_TransposeConvOptions:
        return 3;
    case KILN_OPTS_DepthwiseConv2DOptions:
        return 4;
    case KILN_OPTS_Pool2DOptions:
        return 5;
    case KILN_OPTS_ConcatenationOptions:
        return 1;
    case KILN_OPTS_FullyConnectedOptions:
    case KILN_OPTS_AddOptions:
    case KILN_OPTS_SubOptions:
    case KILN_OPTS_MulOptions:
    case KILN_OPTS_DivOptions:
        return 0;
    default:
        return -1;
    }
}

static int32_t op_act(Q *q, const kiln__op_def *op) {
    const int32_t f = act_field(op->opts_type);
    if (f < 0 || !op->opts) return KQ_ACT_NONE;
    optset os;
    if (copy_opts(q, op, &os)) return KQ_ACT_NONE;
    return (int32_t)get_opt_i(&os, f, KQ_ACT_NONE);
}

static int kept_float(const Q *q, const kiln__op_def *op) {
    int keep = 0;
    for (int32_t k = 0; k < q->o->n_keep_float && op->n_out; k++)
        keep |= keep_match(q->sg->tensors[op->outputs[0]].name, q->o->keep_float[k]);
    return keep;
}

/* The activation op to split off op i before integer quantization, 0 for none. TFLite's
 * integer kernels take no fused TANH (its converter never fuses one into an integer op), and
 * no fused activation at all on CONCATENATION (int8 refuses it; the official int16 kernel
 * too): the op is written with NONE and followed by the activation as its own op, which the
 * quantizer then handles like any other (TANH gets its fixed output parameters). SIGN_BIT has
 * no integer form: such ops stay float (see kiln_quantize_model). */
static int32_t split_act(Q *q, const kiln__op_def *op) {
    if (!op->n_out || q->sg->tensors[op->outputs[0]].type != KILN_FLOAT32 || kept_float(q, op))
        return 0;
    const int32_t a = op_act(q, op);
    if (a == KQ_ACT_TANH) return KILN_OP_TANH;
    if (op->builtin != KILN_OP_CONCATENATION) return 0;
    switch (a) {
    case 1:
        return KILN_OP_RELU;
    case 2:
        return KILN_OP_RELU_N1_TO_1;
    case 3:
        return KILN_OP_RELU6;
    default:
        return 0;
    }
}

/* An op copied in the float domain (inputs dequantized where needed). */
static void emit_float_op(Q *q, int32_t i) {
    const kiln__op_def *op = &q->sg->ops[i];
    int32_t in[64], out[64];
    if (op->n_in > 64 || op->n_out > 64) {
        fail(q, KILN_ERR_UNSUPPORTED, "operator %d has too many inputs", i);
        return;
    }
    for (int32_t k = 0; k < op->n_in; k++)
        in[k] = op->inputs[k] < 0 ? -1 : get_f(q, op->inputs[k]);
    for (int32_t k = 0; k < op->n_out; k++) {
        const int32_t t = op->outputs[k];
        q->t[t].vf = add_tensor(q, t, NULL, q->sg->tensors[t].type, 0, 0, NULL, NULL, 0);
        out[k] = q->t[t].vf;
        if (out[k] >= 0) q->qmap[out[k]] = t;
    }
    if (q->status != KILN_OK) return;
    kiln_tfl_op o;
    memset(&o, 0, sizeof o);
    o.opcode = kiln_tfl_add_opcode(q->w, op->builtin, op->version, op->custom_code);
    o.inputs = in;
    o.n_inputs = op->n_in;
    o.outputs = out;
    o.n_outputs = op->n_out;
    optset os;
    int32_t split = 0, pre = -1;
    if (op->opts_type && op->opts) {
        if (copy_opts(q, op, &os)) return;
        o.opts_type = op->opts_type;
        o.opts = os.o;
        o.n_opts = os.n;
        if (q->split) split = split_act(q, op);
    }
    if (split) {
        /* op -> <output>_preact (float) -> activation op -> the original output */
        const int32_t t = op->outputs[0];
        char nm[300];
        snprintf(nm, sizeof nm, "%s_preact", tname(q, t));
        pre = add_tensor(q, t, nm, KILN_FLOAT32, 0, 0, NULL, NULL, 0);
        if (pre < 0) return;
        set_opt(&os, act_field(op->opts_type), KILN_TFL_OPT_I8, KQ_ACT_NONE);
        o.n_opts = os.n;
        out[0] = pre;
    }
    o.custom_options = op->custom;
    o.custom_options_len = op->custom_len;
    if (op->opts2_type) {
        fail(q, KILN_ERR_UNSUPPORTED, "operator %d (%s) has builtin_options_2, not supported", i,
             kiln_builtin_name(op->builtin));
        return;
    }
    if (o.opcode < 0 || kiln_tfl_add_operator(q->w, q->wsg, &o) < 0) {
        fail(q, KILN_ERR_NOMEM, "%s", kiln_tfl_writer_error(q->w));
        return;
    }
    if (split) add_op(q, split, 1, NULL, &pre, 1, &q->t[op->outputs[0]].vf, 1, 0, NULL, 0);
}

/* Dynamic range: the hybrid UNIDIRECTIONAL_SEQUENCE_LSTM (TFLite's quantize_weights): every
 * weight matrix and peephole vector (inputs 1-11, projection 16) int8 symmetric per tensor,
 * biases, layer norms and states float, inputs quantized asymmetrically at run time. The kernel
 * takes all weights int8 or none, so the op stays float unless its weights reach the
 * weights_min_num_elements threshold together. Returns 0 when emitted, 1 when it stays float. */
static int emit_hybrid_lstm(Q *q, int32_t i) {
    const kiln__op_def *op = &q->sg->ops[i];
    if (op->n_in < 20 || op->n_in > 24 || op->n_out != 1) return 1;
    int64_t total = 0;
    for (int32_t k = 1; k < op->n_in; k++) {
        const int32_t t = op->inputs[k];
        if (!((k >= 1 && k <= 11) || k == 16) || t < 0) continue;
        if (!is_const(q, t) || q->sg->tensors[t].type != KILN_FLOAT32) return 1;
        total += def_numel(&q->sg->tensors[t]);
    }
    if (total < KQ_DYNAMIC_MIN_ELEMENTS) return 1;
    optset os;
    if (copy_opts(q, op, &os)) return 0;
    set_opt(&os, 4, KILN_TFL_OPT_I8, 1); /* asymmetric_quantize_inputs */
    int32_t in[24];
    for (int32_t k = 0; k < op->n_in; k++) {
        const int32_t t = op->inputs[k];
        if (t >= 0 && ((k >= 1 && k <= 11) || k == 16)) {
            float *ws = NULL;
            int32_t nch = 1;
            in[k] = emit_weights(q, t, -1, &ws, &nch);
            free(ws);
        } else {
            in[k] = t < 0 ? -1 : get_f(q, t);
        }
    }
    const int32_t t = op->outputs[0];
    q->t[t].vf = add_tensor(q, t, NULL, KILN_FLOAT32, 0, 0, NULL, NULL, 0);
    if (q->t[t].vf >= 0) q->qmap[q->t[t].vf] = t;
    add_op(q, op->builtin, 3, NULL, in, op->n_in, &q->t[t].vf, 1, op->opts_type, os.o, os.n);
    return 0;
}

/* Dynamic range: hybrid CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED (int8 weights, float
 * activations); returns 0 when the op was emitted, 1 when it stays float. */
static int emit_hybrid_op(Q *q, int32_t i) {
    const kiln__op_def *op = &q->sg->ops[i];
    const int32_t b = op->builtin;
    if (b == KILN_OP_UNIDIRECTIONAL_SEQUENCE_LSTM) return emit_hybrid_lstm(q, i);
    if (b != KILN_OP_CONV_2D && b != KILN_OP_DEPTHWISE_CONV_2D && b != KILN_OP_FULLY_CONNECTED)
        return 1;
    if (op->n_in < 2 || !is_const(q, op->inputs[1]) ||
        q->sg->tensors[op->inputs[1]].type != KILN_FLOAT32 ||
        def_numel(&q->sg->tensors[op->inputs[1]]) < KQ_DYNAMIC_MIN_ELEMENTS)
        return 1;
    optset os;
    if (copy_opts(q, op, &os)) return 0;
    const int32_t qdim = b == KILN_OP_CONV_2D ? 0 : (b == KILN_OP_DEPTHWISE_CONV_2D ? 3 : -1);
    int32_t in[3] = {-1, -1, -1}, nch = 1;
    float *ws = NULL;
    in[0] = get_f(q, op->inputs[0]);
    in[1] = emit_weights(q, op->inputs[1], qdim, &ws, &nch);
    free(ws);
    if (op->n_in > 2 && op->inputs[2] >= 0) in[2] = get_f(q, op->inputs[2]);
    const int32_t t = op->outputs[0];
    q->t[t].vf = add_tensor(q, t, NULL, KILN_FLOAT32, 0, 0, NULL, NULL, 0);
    if (q->t[t].vf >= 0) q->qmap[q->t[t].vf] = t;
    int32_t ver;
    if (b == KILN_OP_FULLY_CONNECTED) {
        set_opt(&os, 3, KILN_TFL_OPT_I8, 1); /* asymmetric_quantize_inputs */
        ver = 9;
    } else {
        ver = b == KILN_OP_CONV_2D ? 5 : 6;
    }
    add_op(q, b, ver, NULL, in, op->n_in > 2 ? 3 : 2, &q->t[t].vf, 1, op->opts_type, os.o, os.n);
    return 0;
}

/* SPLIT, SPLIT_V, UNPACK: every output takes the input's parameters
 * (restrict_same_input_output_scale with arbitrary outputs). */
static void emit_multi_out_op(Q *q, int32_t i) {
    const kiln__op_def *op = &q->sg->ops[i];
    const int32_t b = op->builtin;
    const int32_t xi = b == KILN_OP_SPLIT ? 1 : 0; /* SPLIT: input 0 is the axis */
    int32_t in[8], out[64];
    optset os;
    if (op->n_in > 8 || op->n_in <= xi || op->n_out > 64 || op->n_out < 1 || op->inputs[xi] < 0) {
        fail(q, KILN_ERR_UNSUPPORTED, "operator %d (%s): unexpected inputs/outputs", i,
             kiln_builtin_name(b));
        return;
    }
    if (copy_opts(q, op, &os)) return;
    float xs;
    int32_t xz;
    for (int32_t k = 0; k < op->n_in; k++)
        in[k] =
            op->inputs[k] < 0 ? -1 : (k == xi ? get_q(q, op->inputs[k]) : get_f(q, op->inputs[k]));
    if (q->status != KILN_OK || act_params(q, op->inputs[xi], &xs, &xz)) return;
    for (int32_t k = 0; k < op->n_out; k++) {
        set_fixed(q, op->outputs[k], xs, xz);
        out[k] = out_q(q, op->outputs[k]);
        if (out[k] < 0) return;
    }
    add_op(q, b, qversion(q, op, &os, 0), NULL, in, op->n_in, out, op->n_out,
           op->opts ? op->opts_type : 0, os.o, os.n);
}

/* ---- full-integer LSTM ------------------------------------------------------------------- */

/* A tensor with an explicit shape and one scale / zero point (the LSTM intermediates). */
static int32_t add_tensor_shaped(Q *q, const char *name, int32_t type, int32_t rank,
                                 const int32_t *dims, float sc, int64_t zp) {
    kiln_tfl_tensor tt;
    memset(&tt, 0, sizeof tt);
    tt.name = name;
    tt.type = type;
    tt.rank = rank;
    tt.shape = dims;
    tt.num_quant = 1;
    tt.scale = &sc;
    tt.zero_point = &zp;
    return write_tensor(q, &tt);
}

/* A float constant as int16 symmetric per tensor (peepholes, layer-norm coefficients):
 * scale = max|v| / 32767. */
static int32_t emit_sym16(Q *q, int32_t t, float *scale) {
    const kiln__tensor_def *d = &q->sg->tensors[t];
    float *v = const_f32(q, t);
    if (!v) return -1;
    const int64_t n = def_numel(d);
    double mx = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabs(v[i]) > mx) mx = fabs(v[i]);
    const float sc = mx > 0 ? (float)(mx / 32767.0) : 1.0f;
    int16_t *b = (int16_t *)malloc((size_t)(n ? n : 1) * 2);
    if (!b) {
        free(v);
        fail(q, KILN_ERR_NOMEM, "out of memory");
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        double r = round((double)v[i] / sc);
        b[i] = (int16_t)(r < -32767 ? -32767 : (r > 32767 ? 32767 : r));
    }
    const int32_t buf = kiln_tfl_add_buffer(q->w, b, (size_t)n * 2);
    free(b);
    free(v);
    const int64_t zp = 0;
    *scale = sc;
    return add_tensor(q, t, NULL, KILN_INT16, buf, 1, &sc, &zp, 0);
}

/* The calibrated range of an LSTM slot (lstm.c), [0, 0] when never seen. */
static void slot_range(const Q *q, int32_t slot, double *lo, double *hi) {
    *lo = *hi = 0;
    if (slot < 0 || slot >= q->nst || !q->st[slot].seen) return;
    *lo = q->st[slot].lo;
    *hi = q->st[slot].hi;
}

/* int8 mode: UNIDIRECTIONAL_SEQUENCE_LSTM as TFLite's converter writes the "8x8_16" LSTM
 * (operator_property.cc, op version 1): int8 asymmetric input, output and output state (the
 * output's parameters: restrict_scale {18, 0}); int8 symmetric per-tensor weights; int16
 * symmetric peepholes and layer-norm coefficients; int32 biases at input x weight scale (layer
 * norm: coefficient scale x 2^-10; projection bias: projection weights x hidden); int16 cell
 * state at a power-of-two scale covering its calibrated range (2^-15..2^-9, the integer
 * kernel's limits); 5 zero-sized intermediates: the gate pre-activations (int16 symmetric from
 * calibration with layer norm, else TFLite's fixed 2^-12, which its kernel uses) and the
 * hidden o * act(c) (int8 asymmetric). */
static void emit_int_lstm(Q *q, int32_t i) {
    const kiln__op_def *op = &q->sg->ops[i];
    const char *nm = op->n_out ? tname(q, op->outputs[0]) : "?";
    if ((op->n_in != 20 && op->n_in != 24) || op->n_out != 1 || op->inputs[0] < 0) {
        fail(q, KILN_ERR_UNSUPPORTED, "LSTM %s: needs 20 or 24 inputs and one output", nm);
        return;
    }
    optset os;
    if (copy_opts(q, op, &os)) return;
    kq_lstm_opts lo;
    if (kq_lstm_read_opts(q->m, op, &lo)) {
        fail(q, KILN_ERR_MODEL, "LSTM %s: bad options", nm);
        return;
    }
    if (lo.act != KQ_ACT_TANH || lo.diagonal) {
        fail(q, KILN_ERR_UNSUPPORTED,
             "LSTM %s: the integer LSTM kernel needs the TANH activation and full recurrent "
             "weights (this one: activation %d%s); keep it float with --keep-float %s",
             nm, lo.act, lo.diagonal ? ", diagonal" : "", nm);
        return;
    }
    const int32_t *x = op->inputs;
    for (int32_t k = 1; k < op->n_in; k++) {
        if (x[k] < 0 || k == 18 || k == 19) continue;
        if (!is_const(q, x[k]) || q->sg->tensors[x[k]].type != KILN_FLOAT32) {
            fail(q, KILN_ERR_UNSUPPORTED, "LSTM %s: input %d is not a float32 constant", nm, k);
            return;
        }
    }
    if (x[18] < 0 || x[19] < 0 || is_const(q, x[18]) || is_const(q, x[19]) || x[2] < 0 ||
        x[6] < 0) {
        fail(q, KILN_ERR_UNSUPPORTED, "LSTM %s: needs its state tensors and forget weights", nm);
        return;
    }
    const int ln = op->n_in == 24 && x[21] >= 0;
    const int base = kq_lstm_slot(q->sg, i);
    const int32_t y = op->outputs[0];
    int32_t in[24], im[5];
    float xs, ys, ws[24];
    int32_t xz, yz;
    for (int32_t k = 0; k < 24; k++) {
        in[k] = -1;
        ws[k] = 0;
    }
    in[0] = get_q(q, x[0]);
    if (act_params(q, x[0], &xs, &xz) || act_params(q, y, &ys, &yz)) return;
    /* weights (input 1-8, projection 16): int8 symmetric per tensor */
    for (int32_t k = 1; k < op->n_in && q->status == KILN_OK; k++) {
        if (x[k] < 0 || !((k >= 1 && k <= 8) || k == 16)) continue;
        float *sc = NULL;
        int32_t nch = 1;
        in[k] = emit_weights(q, x[k], -1, &sc, &nch);
        if (sc) ws[k] = sc[0];
        free(sc);
    }
    /* peepholes and layer-norm coefficients: int16 symmetric */
    for (int32_t k = 9; k < op->n_in && q->status == KILN_OK; k++) {
        if (x[k] < 0 || !((k >= 9 && k <= 11) || k >= 20)) continue;
        in[k] = emit_sym16(q, x[k], &ws[k]);
    }
    if (q->status != KILN_OK) return;
    /* the hidden intermediate (projection input) */
    double lo_h, hi_h;
    float hs;
    int32_t hz;
    slot_range(q, base + 4, &lo_h, &hi_h);
    asym_params(lo_h, hi_h, -128, 127, &hs, &hz);
    /* biases */
    for (int32_t g = 0; g < 4 && q->status == KILN_OK; g++) {
        const int32_t k = 12 + g;
        if (x[k] < 0) continue;
        if (ln) {
            if (x[20 + g] < 0) {
                fail(q, KILN_ERR_UNSUPPORTED, "LSTM %s: gate %d has a bias but no layer norm", nm,
                     g);
                return;
            }
            const float alpha = 1.0f / 1024.0f;
            in[k] = emit_bias(q, x[k], ws[20 + g], &alpha, 1, nm);
        } else {
            if (x[1 + g] < 0) {
                fail(q, KILN_ERR_MODEL, "LSTM %s: gate %d has a bias but no weights", nm, g);
                return;
            }
            in[k] = emit_bias(q, x[k], xs, &ws[1 + g], 1, nm);
        }
    }
    if (x[17] >= 0 && q->status == KILN_OK) {
        if (x[16] < 0) {
            fail(q, KILN_ERR_MODEL, "LSTM %s: projection bias without projection weights", nm);
            return;
        }
        in[17] = emit_bias(q, x[17], hs, &ws[16], 1, nm);
    }
    if (q->status != KILN_OK) return;
    /* output state: the output's parameters; cell state: int16 at 2^(k - 15), 2^k >= max|c| */
    const int64_t yz64 = yz;
    in[18] = add_tensor(q, x[18], NULL, KILN_INT8, 0, 1, &ys, &yz64, 0);
    double lo_c, hi_c;
    slot_range(q, base + 5, &lo_c, &hi_c);
    const double cm = fmax(fabs(lo_c), fabs(hi_c));
    int32_t pot = 0;
    while (pot < 6 && ldexp(1.0, pot) < cm)
        pot++;
    const float cs = (float)ldexp(1.0, pot - 15);
    const int64_t z0 = 0;
    in[19] = add_tensor(q, x[19], NULL, KILN_INT16, 0, 1, &cs, &z0, 0);
    if (in[18] < 0 || in[19] < 0) return;
    q->t[x[18]].vq = in[18];
    q->t[x[19]].vq = in[19];
    /* intermediates: zero-sized (TFLite Micro allocates nothing for them) */
    const int32_t zero[1] = {0};
    static const char *const gname[4] = {"input", "forget", "cell", "output"};
    for (int32_t g = 0; g < 4; g++) {
        float sc = 1.0f / 4096.0f;
        if (ln) {
            double lo_g, hi_g;
            slot_range(q, base + g, &lo_g, &hi_g);
            sc = sym_scale(lo_g, hi_g, 32767);
        }
        char iname[300];
        snprintf(iname, sizeof iname, "%s_%s_gate_intermediate", nm, gname[g]);
        im[g] = add_tensor_shaped(q, iname, KILN_INT16, 1, zero, sc, 0);
    }
    {
        char iname[300];
        snprintf(iname, sizeof iname, "%s_hidden_intermediate", nm);
        im[4] = add_tensor_shaped(q, iname, KILN_INT8, 1, zero, hs, hz);
    }
    for (int32_t g = 0; g < 5; g++)
        if (im[g] < 0) return;
    const int32_t out = out_q(q, y);
    if (out < 0) return;
    set_opt(&os, 4, KILN_TFL_OPT_I8, 0); /* asymmetric_quantize_inputs: hybrid only */
    kiln_tfl_op o;
    memset(&o, 0, sizeof o);
    o.opcode = kiln_tfl_add_opcode(q->w, op->builtin, 1, NULL);
    o.inputs = in;
    o.n_inputs = 24; /* the converter's layout (TFLite Micro needs all 24; absent ones -1) */
    o.outputs = &out;
    o.n_outputs = 1;
    o.intermediates = im;
    o.n_intermediates = 5;
    o.opts_type = op->opts ? op->opts_type : 0;
    o.opts = os.o;
    o.n_opts = os.n;
    if (o.opcode < 0 || kiln_tfl_add_operator(q->w, q->wsg, &o) < 0)
        fail(q, KILN_ERR_NOMEM, "%s", kiln_tfl_writer_error(q->w));
}

/* int8 mode: full-integer SVDF as TFLite's quantizer writes it (operator_property.cc, op
 * version 3): int8 asymmetric input and output; weights_feature int8 symmetric per tensor;
 * weights_time int16 with scale max|w| / 512 (its 10-bit property: 6 bits stay free for the
 * sums); the state int16 symmetric from its calibrated range (observed after every sample);
 * the bias int32 at weights_time scale x state scale. */
static void emit_int_svdf(Q *q, int32_t i) {
    const kiln__op_def *op = &q->sg->ops[i];
    const char *nm = op->n_out ? tname(q, op->outputs[0]) : "?";
    if (op->n_in != 5 || op->n_out != 1 || op->inputs[0] < 0 || op->inputs[1] < 0 ||
        op->inputs[2] < 0 || op->inputs[4] < 0) {
        fail(q, KILN_ERR_UNSUPPORTED, "SVDF %s: needs 5 inputs and one output", nm);
        return;
    }
    const int32_t *x = op->inputs;
    for (int32_t k = 1; k <= 3; k++) {
        if (x[k] < 0) continue;
        if (!is_const(q, x[k]) || q->sg->tensors[x[k]].type != KILN_FLOAT32) {
            fail(q, KILN_ERR_UNSUPPORTED, "SVDF %s: input %d is not a float32 constant", nm, k);
            return;
        }
    }
    if (is_const(q, x[4])) {
        fail(q, KILN_ERR_UNSUPPORTED, "SVDF %s: its state is not a variable tensor", nm);
        return;
    }
    optset os;
    if (copy_opts(q, op, &os)) return;
    if (get_opt_i(&os, 1, 0) != 1) {
        fail(q, KILN_ERR_UNSUPPORTED,
             "SVDF %s: TFLite's integer SVDF runs only with the RELU activation (this one: %d); "
             "keep it float with --keep-float %s",
             nm, (int)get_opt_i(&os, 1, 0), nm);
        return;
    }
    int32_t in[5] = {-1, -1, -1, -1, -1};
    float ws_t = 1.0f, ss;
    int32_t sz;
    in[0] = get_q(q, x[0]);
    {
        float *sc = NULL;
        int32_t nch = 1;
        in[1] = emit_weights(q, x[1], -1, &sc, &nch);
        free(sc);
    }
    if (q->status != KILN_OK) return;
    /* weights_time: int16, symmetric over [-512, 512] */
    {
        const kiln__tensor_def *d = &q->sg->tensors[x[2]];
        float *v = const_f32(q, x[2]);
        if (!v) return;
        const int64_t n = def_numel(d);
        double mx = 0;
        for (int64_t k = 0; k < n; k++)
            if (fabs(v[k]) > mx) mx = fabs(v[k]);
        ws_t = mx > 0 ? (float)(mx / 512.0) : 1.0f;
        int16_t *bq = (int16_t *)malloc((size_t)(n ? n : 1) * 2);
        if (!bq) {
            free(v);
            fail(q, KILN_ERR_NOMEM, "out of memory");
            return;
        }
        for (int64_t k = 0; k < n; k++) {
            double r = round((double)v[k] / ws_t);
            bq[k] = (int16_t)(r < -32767 ? -32767 : (r > 32767 ? 32767 : r));
        }
        const int32_t buf = kiln_tfl_add_buffer(q->w, bq, (size_t)n * 2);
        free(bq);
        free(v);
        const int64_t z0 = 0;
        in[2] = add_tensor(q, x[2], NULL, KILN_INT16, buf, 1, &ws_t, &z0, 0);
    }
    /* the state: int16 symmetric from calibration */
    {
        const kq_stats *st = &q->st[x[4]];
        double lo = 0, hi = 0;
        if (st->seen) {
            lo = st->lo;
            hi = st->hi;
        }
        if (st->nonfinite || fabs(lo) > 1e30 || fabs(hi) > 1e30) {
            fail(q, KILN_ERR_RUNTIME, "calibration overflow: the state of SVDF %s", nm);
            return;
        }
        ss = sym_scale(lo, hi, 32767);
        sz = 0;
        const int64_t z0 = 0;
        in[4] = add_tensor(q, x[4], NULL, KILN_INT16, 0, 1, &ss, &z0, 0);
        if (in[4] >= 0) q->t[x[4]].vq = in[4];
    }
    (void)sz;
    if (x[3] >= 0 && q->status == KILN_OK) in[3] = emit_bias(q, x[3], ws_t, &ss, 1, nm);
    if (x[3] < 0 && q->status == KILN_OK) {
        /* no bias: the integer kernels of both runtimes need one; zeros change nothing */
        const kiln__tensor_def *wf = &q->sg->tensors[x[1]];
        const int32_t rank = (int32_t)get_opt_i(&os, 0, 1);
        if (wf->rank != 2 || rank <= 0 || wf->dims[0] % rank != 0 || wf->dims[0] / rank > 65536) {
            fail(q, KILN_ERR_MODEL, "SVDF %s: bad weights_feature shape or rank", nm);
            return;
        }
        const int32_t nu = wf->dims[0] / rank;
        int32_t *zb = (int32_t *)calloc((size_t)nu, sizeof(int32_t));
        if (!zb) {
            fail(q, KILN_ERR_NOMEM, "out of memory");
            return;
        }
        char bname[300];
        snprintf(bname, sizeof bname, "%s_bias", nm);
        kiln_tfl_tensor tt;
        memset(&tt, 0, sizeof tt);
        const float bs = ws_t * ss;
        const int64_t z0 = 0;
        tt.name = bname;
        tt.type = KILN_INT32;
        tt.rank = 1;
        tt.shape = &nu;
        tt.buffer = kiln_tfl_add_buffer(q->w, zb, (size_t)nu * 4);
        tt.num_quant = 1;
        tt.scale = &bs;
        tt.zero_point = &z0;
        free(zb);
        in[3] = kiln_tfl_add_tensor(q->w, q->wsg, &tt);
        if (in[3] < 0) {
            fail(q, KILN_ERR_NOMEM, "%s", kiln_tfl_writer_error(q->w));
            return;
        }
        if (in[3] + 1 > q->n_w) q->n_w = in[3] + 1;
    }
    if (q->status != KILN_OK) return;
    const int32_t out = out_q(q, op->outputs[0]);
    if (out < 0) return;
    set_opt(&os, 2, KILN_TFL_OPT_I8, 0); /* asymmetric_quantize_inputs: hybrid only */
    add_op(q, KILN_OP_SVDF, 3, NULL, in, 5, &out, 1, op->opts ? op->opts_type : 0, os.o, os.n);
}

static void emit_quant_op(Q *q, int32_t i) {
    const kiln__op_def *op = &q->sg->ops[i];
    const int32_t b = op->builtin;
    if (b == KILN_OP_UNIDIRECTIONAL_SEQUENCE_LSTM) {
        emit_int_lstm(q, i);
        return;
    }
    if (b == KILN_OP_SVDF) {
        emit_int_svdf(q, i);
        return;
    }
    if (b == KILN_OP_SPLIT || b == KILN_OP_SPLIT_V || b == KILN_OP_UNPACK) {
        emit_multi_out_op(q, i);
        return;
    }
    const int32_t x = op->inputs[0], y = op->outputs[0];
    const int i16 = q->qtype == KILN_INT16;
    int32_t in[64];
    int32_t nin = op->n_in;
    float mul_ratio = 0;
    optset os;
    os.n = 0;
    if (op->n_out != 1 || nin > 64 || x < 0) {
        fail(q, KILN_ERR_UNSUPPORTED, "operator %d (%s): unexpected inputs/outputs", i,
             kiln_builtin_name(b));
        return;
    }
    if (copy_opts(q, op, &os)) return;
    switch (b) {
    case KILN_OP_CONV_2D:
    case KILN_OP_DEPTHWISE_CONV_2D:
    case KILN_OP_FULLY_CONNECTED: {
        float xs;
        int32_t xz, nch = 1;
        in[0] = get_q(q, x);
        if (act_params(q, x, &xs, &xz)) return;
        const int32_t qdim = b == KILN_OP_CONV_2D ? 0
                             : b == KILN_OP_DEPTHWISE_CONV_2D
                                 ? 3
                                 : (q->o->fc_weights == KILN_FC_PER_CHANNEL ? 0 : -1);
        float *ws = NULL;
        in[1] = emit_weights(q, op->inputs[1], qdim, &ws, &nch);
        if (in[1] < 0) {
            free(ws);
            return;
        }
        if (nin > 2) {
            in[2] = op->inputs[2] < 0 ? -1 : emit_bias(q, op->inputs[2], xs, ws, nch, tname(q, y));
        }
        free(ws);
        break;
    }
    case KILN_OP_TRANSPOSE_CONV: {
        /* output_shape, weights [O,H,W,I] per channel on dim 0, input, optional bias */
        float xs;
        int32_t xz, nch = 1;
        if (nin < 3) {
            fail(q, KILN_ERR_MODEL, "operator %d (TRANSPOSE_CONV): needs 3 or 4 inputs", i);
            return;
        }
        in[0] = get_f(q, op->inputs[0]);
        in[2] = get_q(q, op->inputs[2]);
        if (act_params(q, op->inputs[2], &xs, &xz)) return;
        float *ws = NULL;
        in[1] = emit_weights(q, op->inputs[1], 0, &ws, &nch);
        if (in[1] < 0) {
            free(ws);
            return;
        }
        if (nin > 3)
            in[3] = op->inputs[3] < 0 ? -1 : emit_bias(q, op->inputs[3], xs, ws, nch, tname(q, y));
        free(ws);
        break;
    }
    case KILN_OP_BATCH_MATMUL:
    case KILN_OP_PRELU:
        /* both operands as activations (a constant one quantized from its own range) */
        for (int32_t k = 0; k < nin; k++)
            in[k] = get_q(q, op->inputs[k]);
        break;
    case KILN_OP_EQUAL:
    case KILN_OP_NOT_EQUAL:
    case KILN_OP_GREATER:
    case KILN_OP_GREATER_EQUAL:
    case KILN_OP_LESS:
    case KILN_OP_LESS_EQUAL:
    case KILN_OP_ARG_MAX:
    case KILN_OP_ARG_MIN: {
        /* integer inputs (each with its own parameters), the bool / int32 output as it was */
        const int arg = b == KILN_OP_ARG_MAX || b == KILN_OP_ARG_MIN;
        in[0] = get_q(q, x);
        for (int32_t k = 1; k < nin; k++)
            in[k] = arg ? get_f(q, op->inputs[k]) : get_q(q, op->inputs[k]);
        if (q->status != KILN_OK) return;
        q->t[y].vf = add_tensor(q, y, NULL, q->sg->tensors[y].type, 0, 0, NULL, NULL, 0);
        if (q->t[y].vf < 0) return;
        q->qmap[q->t[y].vf] = y;
        add_op(q, b, qversion(q, op, &os, 0), NULL, in, nin, &q->t[y].vf, 1,
               op->opts ? op->opts_type : 0, os.o, os.n);
        return;
    }
    case KILN_OP_LOG_SOFTMAX:
        in[0] = get_q(q, x);
        set_fixed(q, y, 16.0f / 256.0f, 127);
        break;
    case KILN_OP_L2_NORMALIZATION:
        in[0] = get_q(q, x);
        set_fixed(q, y, 1.0f / 128.0f, 0);
        break;
    case KILN_OP_MAXIMUM:
    case KILN_OP_MINIMUM:
    case KILN_OP_PACK:
    case KILN_OP_CONCATENATION: {
        /* restrict_same_input_output_scale: inputs take the output's parameters */
        float ys;
        int32_t yz;
        if (act_params(q, y, &ys, &yz)) return;
        for (int32_t k = 0; k < nin; k++)
            in[k] = b == KILN_OP_PACK ? get_q_shared(q, op->inputs[k], ys, yz)
                                      : get_q_as(q, op->inputs[k], ys, yz);
        break;
    }
    case KILN_OP_SELECT:
    case KILN_OP_SELECT_V2: {
        /* the bool condition as it is; both value operands take the output's parameters (the
         * kernels copy values without rescaling) */
        float ys;
        int32_t yz;
        if (nin != 3 || act_params(q, y, &ys, &yz)) {
            if (nin != 3)
                fail(q, KILN_ERR_MODEL, "operator %d (%s): needs 3 inputs", i,
                     kiln_builtin_name(b));
            return;
        }
        in[0] = get_f(q, op->inputs[0]);
        in[1] = get_q_shared(q, op->inputs[1], ys, yz);
        in[2] = get_q_shared(q, op->inputs[2], ys, yz);
        break;
    }
    case KILN_OP_PADV2: {
        /* the pad value takes the input's (= output's) parameters */
        float xs;
        int32_t xz;
        in[0] = get_q(q, x);
        if (act_params(q, x, &xs, &xz)) return;
        set_fixed(q, y, xs, xz);
        if (nin > 1) in[1] = get_f(q, op->inputs[1]);
        if (nin > 2) in[2] = op->inputs[2] < 0 ? -1 : get_q_shared(q, op->inputs[2], xs, xz);
        break;
    }
    case KILN_OP_MAX_POOL_2D:
    case KILN_OP_AVERAGE_POOL_2D:
    case KILN_OP_RESHAPE:
    case KILN_OP_SQUEEZE:
    case KILN_OP_SPACE_TO_BATCH_ND:
    case KILN_OP_BATCH_TO_SPACE_ND:
    case KILN_OP_TRANSPOSE:
    case KILN_OP_STRIDED_SLICE:
    case KILN_OP_REDUCE_MAX:
    case KILN_OP_REDUCE_MIN:
    case KILN_OP_SLICE:
    case KILN_OP_EXPAND_DIMS:
    case KILN_OP_GATHER:
    case KILN_OP_RESIZE_BILINEAR:
    case KILN_OP_RESIZE_NEAREST_NEIGHBOR:
    case KILN_OP_SPACE_TO_DEPTH:
    case KILN_OP_DEPTH_TO_SPACE:
    case KILN_OP_TILE:
    case KILN_OP_BROADCAST_TO:
    case KILN_OP_REVERSE_V2:
    case KILN_OP_MIRROR_PAD:
    case KILN_OP_PAD: {
        float xs;
        int32_t xz;
        in[0] = get_q(q, x);
        if (act_params(q, x, &xs, &xz)) return;
        set_fixed(q, y, xs, xz); /* TFLite requires the same parameters in and out */
        for (int32_t k = 1; k < nin; k++)
            in[k] = op->inputs[k] < 0 ? -1 : get_f(q, op->inputs[k]); /* int32 shape/paddings */
        break;
    }
    case KILN_OP_SOFTMAX:
    case KILN_OP_LOGISTIC:
        in[0] = get_q(q, x);
        if (i16) {
            set_fixed(q, y, 1.0f / 32768.0f, 0);
        } else {
            set_fixed(q, y, 1.0f / 256.0f, -128);
        }
        break;
    case KILN_OP_TANH:
        in[0] = get_q(q, x);
        set_fixed(q, y, i16 ? 1.0f / 32768.0f : 1.0f / 128.0f, 0);
        break;
    case KILN_OP_SUM:
    case KILN_OP_MEAN:
        in[0] = get_q(q, x);
        for (int32_t k = 1; k < nin; k++)
            in[k] = get_f(q, op->inputs[k]);
        break;
    case KILN_OP_ADD:
    case KILN_OP_SUB:
    case KILN_OP_MUL:
        for (int32_t k = 0; k < nin; k++)
            in[k] = get_q(q, op->inputs[k]);
        if (i16 && b != KILN_OP_MUL) set_opt(&os, 1, KILN_TFL_OPT_I8, 0); /* pot_scale_int16 */
        if (b == KILN_OP_MUL && nin == 2) {
            float s1, s2, so;
            int32_t z;
            if (act_params(q, op->inputs[0], &s1, &z) || act_params(q, op->inputs[1], &s2, &z) ||
                act_params(q, y, &so, &z))
                return;
            mul_ratio = s1 * s2 / so;
        }
        break;
    default: /* RELU, RELU6, LEAKY_RELU, HARD_SWISH */
        in[0] = get_q(q, x);
        for (int32_t k = 1; k < nin; k++)
            in[k] = get_f(q, op->inputs[k]);
        break;
    }
    if (q->status != KILN_OK) return;
    const int32_t out = out_q(q, y);
    if (out < 0) return;
    add_op(q, b, qversion(q, op, &os, mul_ratio), NULL, in, nin, &out, 1,
           op->opts ? op->opts_type : 0, os.o, os.n);
}

/* ---- driver ------------------------------------------------------------------------------- */

static kiln_status check_ops(Q *q) {
    char list[768] = "";
    size_t len = 0;
    int bad = 0, lstm = 0;
    for (int32_t i = 0; i < q->sg->n_ops; i++) {
        const kiln__op_def *op = &q->sg->ops[i];
        if (q->op_quant[i] != 1) continue;
        if (quantizable(op->builtin, q->qtype)) continue;
        bad++;
        lstm |= op->builtin == KILN_OP_UNIDIRECTIONAL_SEQUENCE_LSTM;
        if (len < sizeof list - 80)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s (op %d, %s)",
                                    bad > 1 ? ", " : "", kiln_builtin_name(op->builtin), i,
                                    op->n_out ? tname(q, op->outputs[0]) : "");
    }
    if (bad)
        return fail(q, KILN_ERR_UNSUPPORTED,
                    "%d operator(s) cannot be quantized to %s: %s; keep them float with "
                    "--keep-float LAYER%s",
                    bad, kiln_quant_mode_name(q->o->mode), list,
                    lstm ? " (TFLite's converter makes a full-integer LSTM in int8 mode only; "
                           "--mode dynamic makes a hybrid one)"
                         : "");
    return KILN_OK;
}

static void fill_suggestions(kiln_quant_report *rep, const kiln__subgraph_def *sg,
                             const int32_t *layer_of) {
    double maxadd = 0;
    for (int32_t l = 0; l < rep->n_layers; l++) {
        kiln_quant_layer *ly = &rep->layers[l];
        const kiln__op_def *op = &sg->ops[ly->op_index];
        double in_rel = 0;
        for (int32_t k = 0; k < op->n_in; k++) {
            const int32_t t = op->inputs[k];
            if (t >= 0 && layer_of[t] >= 0 && rep->layers[layer_of[t]].rel_rmse > in_rel)
                in_rel = rep->layers[layer_of[t]].rel_rmse;
        }
        ly->added = ly->rel_rmse - in_rel;
        if (ly->added > maxadd) maxadd = ly->added;
    }
    for (int32_t pick = 0; pick < 3; pick++) {
        int32_t best = -1;
        for (int32_t l = 0; l < rep->n_layers; l++) {
            const kiln_quant_layer *ly = &rep->layers[l];
            if (ly->dominant || !ly->quantized || ly->added <= 0.002 || ly->added < 0.25 * maxadd)
                continue;
            if (best < 0 || ly->added > rep->layers[best].added) best = l;
        }
        if (best < 0) break;
        kiln_quant_layer *ly = &rep->layers[best];
        ly->dominant = 1;
        if (rep->mode == KILN_QUANT_INT8 && ly->rmse_scale < 1.0) {
            snprintf(ly->suggestion, sizeof ly->suggestion,
                     "rounding of a wide output range: try --mode int16x8, "
                     "--calib-method percentile|mse, or --keep-float %s",
                     ly->name);
        } else {
            snprintf(ly->suggestion, sizeof ly->suggestion,
                     "keep this layer float: --keep-float %s", ly->name);
        }
    }
}

/* The signatures of subgraph 0, remapped to the written model's I/O tensors. */
static void copy_signatures(Q *q, const int32_t *io_in, const int32_t *io_out) {
    const kiln_model *m = q->m;
    const kiln__subgraph_def *sg = q->sg;
    for (int32_t g = 0; g < m->n_signatures; g++) {
        const kiln__signature_def *sd = &m->signatures[g];
        if (sd->subgraph != 0 || sd->n_inputs > 64 || sd->n_outputs > 64) continue;
        const char *in_names[64], *out_names[64];
        int32_t in_t[64], out_t[64];
        for (int32_t k = 0; k < sd->n_inputs; k++) {
            in_names[k] = sd->inputs[k].name;
            in_t[k] = -1;
            for (int32_t j = 0; j < sg->n_inputs; j++)
                if (sg->inputs[j] == sd->inputs[k].tensor) in_t[k] = io_in[j];
        }
        for (int32_t k = 0; k < sd->n_outputs; k++) {
            out_names[k] = sd->outputs[k].name;
            out_t[k] = -1;
            for (int32_t j = 0; j < sg->n_outputs; j++)
                if (sg->outputs[j] == sd->outputs[k].tensor) out_t[k] = io_out[j];
        }
        kiln_tfl_add_signature(q->w, sd->key, q->wsg, in_names, in_t, sd->n_inputs, out_names,
                               out_t, sd->n_outputs);
    }
}

/* Float pre-pass of the integer modes: a float copy of the model with the activations that
 * split_act names split off into their own ops. *out stays NULL when no op needs it. */
static kiln_status split_model(const kiln_model *m, const kiln_quantize_options *o, uint8_t **out,
                               size_t *out_len, char *err, size_t errlen) {
    Q q;
    memset(&q, 0, sizeof q);
    q.m = m;
    q.sg = &m->subgraphs[0];
    q.o = o; /* an integer mode: constants are copied as they are */
    q.err = err;
    q.errlen = errlen;
    q.split = 1;
    q.qtype = KILN_INT8;
    const kiln__subgraph_def *sg = q.sg;
    int need = 0;
    for (int32_t i = 0; i < sg->n_ops; i++)
        need |= split_act(&q, &sg->ops[i]) != 0;
    if (!need || q.status != KILN_OK) return q.status;
    int32_t io_in[64], io_out[64];
    q.t = (qtensor *)calloc((size_t)sg->n_tensors + 1, sizeof(qtensor));
    if (!q.t || kiln_tfl_writer_create(&q.w) != KILN_OK) {
        fail(&q, KILN_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (sg->n_inputs > 64 || sg->n_outputs > 64) {
        fail(&q, KILN_ERR_UNSUPPORTED, "too many model inputs/outputs");
        goto done;
    }
    for (int32_t t = 0; t < sg->n_tensors; t++)
        q.t[t].vf = q.t[t].vq = -1;
    q.wsg = kiln_tfl_add_subgraph(q.w, sg->name && *sg->name ? sg->name : "main");
    for (int32_t k = 0; k < sg->n_inputs; k++) {
        const int32_t t = sg->inputs[k];
        q.t[t].vf = add_tensor(&q, t, NULL, sg->tensors[t].type, 0, 0, NULL, NULL, 0);
        io_in[k] = q.t[t].vf;
    }
    for (int32_t i = 0; i < sg->n_ops && q.status == KILN_OK; i++)
        emit_float_op(&q, i);
    for (int32_t k = 0; k < sg->n_outputs && q.status == KILN_OK; k++)
        io_out[k] = get_f(&q, sg->outputs[k]);
    if (q.status != KILN_OK) goto done;
    kiln_tfl_set_subgraph_io(q.w, q.wsg, io_in, sg->n_inputs, io_out, sg->n_outputs);
    copy_signatures(&q, io_in, io_out);
    for (int32_t g = 0; g < m->n_metadata; g++)
        if (m->metadata[g].name)
            kiln_tfl_add_metadata(q.w, m->metadata[g].name, m->metadata[g].data,
                                  m->metadata[g].len);
    if (m->description) kiln_tfl_set_description(q.w, m->description);
    {
        const kiln_status s = kiln_tfl_writer_finish(q.w, out, out_len);
        if (s != KILN_OK) fail(&q, s, "%s", kiln_tfl_writer_error(q.w));
    }
done:
    if (q.w) kiln_tfl_writer_destroy(q.w);
    free(q.t);
    free(q.qmap);
    return q.status;
}

kiln_status kiln_quantize_model(const void *buf, size_t len, const kiln_quantize_options *o,
                                uint8_t **out, size_t *out_len, kiln_quant_report *rep, char *err,
                                size_t errlen) {
    char dummy[8];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = 0;
    if (rep) memset(rep, 0, sizeof *rep);
    if (!buf || !o || !out || !out_len) {
        snprintf(err, errlen, "kiln_quantize_model: bad argument");
        return KILN_ERR_ARG;
    }
    *out = NULL;
    *out_len = 0;
    const int int_mode = o->mode == KILN_QUANT_INT8 || o->mode == KILN_QUANT_INT16X8;
    if (int_mode && kq_num_samples(o) <= 0) {
        snprintf(err, errlen,
                 o->calib ? "the representative (calibration) data set is empty"
                          : "%s quantization needs calibration data: give --calib DIR|FILE (a "
                            "representative data set), or --calib-random for shape-only tests",
                 kiln_quant_mode_name(o->mode));
        return KILN_ERR_ARG;
    }
    if (o->mode == KILN_QUANT_INT8 && o->io_type != KILN_FLOAT32 && o->io_type != KILN_INT8 &&
        o->io_type != KILN_UINT8) {
        snprintf(err, errlen, "int8 mode: I/O type must be float, int8 or uint8");
        return KILN_ERR_ARG;
    }
    if (o->mode == KILN_QUANT_INT16X8 && o->io_type != KILN_FLOAT32 && o->io_type != KILN_INT16) {
        snprintf(err, errlen, "int16x8 mode: I/O type must be float or int16");
        return KILN_ERR_ARG;
    }
    if (!int_mode && o->io_type != KILN_FLOAT32) {
        snprintf(err, errlen, "%s mode keeps float I/O (--io float)",
                 kiln_quant_mode_name(o->mode));
        return KILN_ERR_ARG;
    }
    kiln_model *m = NULL;
    kiln_status s = kiln_model_load(buf, len, "input model", NULL, &m, err, errlen);
    if (s != KILN_OK) return s;
    Q q;
    memset(&q, 0, sizeof q);
    q.m = m;
    q.o = o;
    q.err = err;
    q.errlen = errlen;
    q.qtype = o->mode == KILN_QUANT_INT16X8 ? KILN_INT16 : KILN_INT8;
    if (m->n_subgraphs != 1) {
        snprintf(err, errlen,
                 "model has %d subgraphs: only single-subgraph models can be quantized",
                 m->n_subgraphs);
        kiln_model_destroy(m);
        return KILN_ERR_UNSUPPORTED;
    }
    if (int_mode) {
        uint8_t *sbuf = NULL;
        size_t slen = 0;
        s = split_model(m, o, &sbuf, &slen, err, errlen);
        if (s != KILN_OK || sbuf) {
            kiln_model_destroy(m);
            if (s == KILN_OK) {
                s = kiln_quantize_model(sbuf, slen, o, out, out_len, rep, err, errlen);
                if (s == KILN_OK && rep) rep->float_bytes = len;
            }
            free(sbuf);
            return s;
        }
    }
    if (o->mode == KILN_QUANT_INT8 && o->fc_weights == KILN_FC_AUTO) {
        /* a scalar-input FULLY_CONNECTED chain: equalised ranges, per-channel weights (refine.c) */
        uint8_t *ebuf = NULL;
        size_t elen = 0;
        s = kq_equalize(m, o, &ebuf, &elen, err, errlen);
        if (s != KILN_OK || ebuf) {
            kiln_model_destroy(m);
            if (s == KILN_OK) {
                kiln_quantize_options eo = *o;
                eo.fc_weights = KILN_FC_PER_CHANNEL;
                s = kiln_quantize_model(ebuf, elen, &eo, out, out_len, rep, err, errlen);
                if (s == KILN_OK && rep) rep->float_bytes = len;
            }
            free(ebuf);
            return s;
        }
    }
    const kiln__subgraph_def *sg = &m->subgraphs[0];
    q.sg = sg;
    const int32_t nt = sg->n_tensors;
    const int32_t nst = nt + kq_extra_stats(sg); /* + the LSTM slots (lstm.c) */
    q.nst = nst;
    q.t = (qtensor *)calloc((size_t)nt + 1, sizeof(qtensor));
    q.st = (kq_stats *)calloc((size_t)nst + 1, sizeof(kq_stats));
    q.op_quant = (uint8_t *)calloc((size_t)sg->n_ops + 1, 1);
    int32_t *layer_of = (int32_t *)malloc(((size_t)nt + 1) * sizeof(int32_t));
    if (!q.t || !q.st || !q.op_quant || !layer_of) {
        fail(&q, KILN_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (int32_t t = 0; t < nt; t++) {
        q.t[t].vf = q.t[t].vq = -1;
        layer_of[t] = -1;
    }
    for (int32_t i = 0; i < sg->n_ops; i++) {
        const kiln__op_def *op = &sg->ops[i];
        const int keep = kept_float(&q, op);
        /* ops that touch no float tensor (e.g. int32 shape arithmetic) stay as they are; a fused
         * SIGN_BIT has no integer form in TFLite: that op stays float */
        int any_float = 0;
        for (int32_t k = 0; k < op->n_out; k++)
            any_float |= sg->tensors[op->outputs[k]].type == KILN_FLOAT32;
        if (int_out_op(op->builtin) && op->n_in > 0 && op->inputs[0] >= 0)
            any_float = q.qtype == KILN_INT8 && sg->tensors[op->inputs[0]].type == KILN_FLOAT32;
        q.op_quant[i] =
            (uint8_t)(int_mode && !keep && any_float && op_act(&q, op) != KQ_ACT_SIGN_BIT);
        if (keep) q.op_quant[i] = 3; /* kept float (dynamic mode too) */
    }
    for (int32_t k = 0; k < o->n_keep_float; k++) {
        int found = 0;
        for (int32_t i = 0; i < sg->n_ops && !found; i++)
            found = sg->ops[i].n_out &&
                    keep_match(sg->tensors[sg->ops[i].outputs[0]].name, o->keep_float[k]);
        if (!found) {
            fail(&q, KILN_ERR_ARG, "--keep-float %s: no layer (operator output) has that name",
                 o->keep_float[k]);
            goto done;
        }
    }
    for (int32_t t = 0; t < nt; t++) {
        const int32_t ty = sg->tensors[t].type;
        if (ty == KILN_INT8 || ty == KILN_UINT8 || ty == KILN_INT16 || ty == KILN_FLOAT16 ||
            (sg->tensors[t].q.n > 0 && ty != KILN_INT32 && ty != KILN_INT64)) {
            fail(&q, KILN_ERR_UNSUPPORTED,
                 "the model is already quantized (tensor %d '%s' is %s): kiln quantize takes a "
                 "float model",
                 t, tname(&q, t), kiln_dtype_name(ty));
            goto done;
        }
    }
    if (int_mode && check_ops(&q) != KILN_OK) goto done;
    if (int_mode) {
        s = kq_calibrate(m, o, q.st, nst, err, errlen);
        if (s != KILN_OK) {
            q.status = s;
            goto done;
        }
    }
    s = kiln_tfl_writer_create(&q.w);
    if (s != KILN_OK) {
        fail(&q, s, "out of memory");
        goto done;
    }
    q.wsg = kiln_tfl_add_subgraph(q.w, sg->name && *sg->name ? sg->name : "main");
    int32_t io_in[64], io_out[64];
    if (sg->n_inputs > 64 || sg->n_outputs > 64) {
        fail(&q, KILN_ERR_UNSUPPORTED, "too many model inputs/outputs");
        goto done;
    }
    /* graph inputs */
    for (int32_t k = 0; k < sg->n_inputs; k++) {
        const int32_t t = sg->inputs[k];
        const kiln__tensor_def *d = &sg->tensors[t];
        if (!int_mode || d->type != KILN_FLOAT32 || o->io_type == KILN_FLOAT32) {
            q.t[t].vf = add_tensor(&q, t, NULL, d->type, 0, 0, NULL, NULL, 0);
            if (q.t[t].vf >= 0) q.qmap[q.t[t].vf] = t;
            io_in[k] = q.t[t].vf;
            continue;
        }
        float sc;
        int32_t zp;
        if (act_params(&q, t, &sc, &zp)) goto done;
        if (o->io_type == KILN_UINT8) {
            const int64_t zu = zp + 128;
            io_in[k] = add_tensor(&q, t, NULL, KILN_UINT8, 0, 1, &sc, &zu, 0);
            const int64_t z8 = zp;
            q.t[t].vq = add_tensor(&q, t, NULL, KILN_INT8, 0, 1, &sc, &z8, 0);
            add_op(&q, KILN_OP_QUANTIZE, 1, NULL, &io_in[k], 1, &q.t[t].vq, 1, 0, NULL, 0);
        } else {
            const int64_t z = zp;
            q.t[t].vq = add_tensor(&q, t, NULL, q.qtype, 0, 1, &sc, &z, 0);
            io_in[k] = q.t[t].vq;
        }
        if (q.t[t].vq >= 0) q.qmap[q.t[t].vq] = t;
    }
    /* operators */
    for (int32_t i = 0; i < sg->n_ops && q.status == KILN_OK; i++) {
        if (q.op_quant[i] == 1) {
            emit_quant_op(&q, i);
        } else if (o->mode == KILN_QUANT_DYNAMIC && q.op_quant[i] != 3) {
            if (emit_hybrid_op(&q, i)) {
                emit_float_op(&q, i);
            } else {
                q.op_quant[i] = 2;
            }
        } else {
            emit_float_op(&q, i);
        }
    }
    if (q.status != KILN_OK) goto done;
    /* graph outputs */
    for (int32_t k = 0; k < sg->n_outputs; k++) {
        const int32_t t = sg->outputs[k];
        const kiln__tensor_def *d = &sg->tensors[t];
        if (!int_mode || d->type != KILN_FLOAT32 || o->io_type == KILN_FLOAT32) {
            io_out[k] = get_f(&q, t);
        } else if (o->io_type == KILN_UINT8) {
            const int32_t v = get_q(&q, t);
            if (v < 0) goto done;
            const int64_t zu = q.t[t].zp + 128;
            io_out[k] = add_tensor(&q, t, NULL, KILN_UINT8, 0, 1, &q.t[t].scale, &zu, 0);
            add_op(&q, KILN_OP_QUANTIZE, 1, NULL, &v, 1, &io_out[k], 1, 0, NULL, 0);
        } else {
            io_out[k] = get_q(&q, t);
        }
        if (q.status != KILN_OK) goto done;
    }
    kiln_tfl_set_subgraph_io(q.w, q.wsg, io_in, sg->n_inputs, io_out, sg->n_outputs);
    copy_signatures(&q, io_in, io_out);
    for (int32_t g = 0; g < m->n_metadata; g++) {
        const kiln__metadata_def *md = &m->metadata[g];
        if (md->name && strcmp(md->name, "min_runtime_version") == 0) {
            char v[16];
            memset(v, 0, sizeof v);
            snprintf(v, sizeof v, "%s", o->mode == KILN_QUANT_INT16X8 ? "2.3.0" : "1.14.0");
            kiln_tfl_add_metadata(q.w, md->name, v, 16);
        } else if (md->name) {
            kiln_tfl_add_metadata(q.w, md->name, md->data, md->len);
        }
    }
    {
        char desc[256];
        snprintf(desc, sizeof desc, "%s (Kiln %s quantization)",
                 m->description && *m->description ? m->description : "model",
                 kiln_quant_mode_name(o->mode));
        kiln_tfl_set_description(q.w, desc);
    }
    s = kiln_tfl_writer_finish(q.w, out, out_len);
    if (s != KILN_OK) {
        fail(&q, s, "%s", kiln_tfl_writer_error(q.w));
        goto done;
    }
    /* refine.c's work limits count parameters x samples, each sample one invoke: a recurrent
     * model runs its whole sequence per invoke (the LSTM classifier: minutes), so models with
     * state keep round-to-nearest, as TFLite's converter writes them */
    int stateful = 0;
    for (int32_t t = 0; t < nt; t++)
        stateful |= sg->tensors[t].is_variable;
    if (o->mode == KILN_QUANT_INT8 && !stateful) {
        s = kq_refine(m, *out, *out_len, o, err, errlen);
        if (s != KILN_OK) {
            q.status = s;
            goto done;
        }
    }
    /* the report */
    if (rep) {
        rep->mode = o->mode;
        rep->calib_samples = int_mode ? kq_num_samples(o) : 0;
        rep->float_bytes = len;
        rep->quant_bytes = *out_len;
        rep->layers = (kiln_quant_layer *)calloc((size_t)sg->n_ops + 1, sizeof(kiln_quant_layer));
        if (!rep->layers) {
            fail(&q, KILN_ERR_NOMEM, "out of memory");
            goto done;
        }
        for (int32_t i = 0; i < sg->n_ops; i++) {
            const kiln__op_def *op = &sg->ops[i];
            if (!op->n_out || sg->tensors[op->outputs[0]].type != KILN_FLOAT32) continue;
            const int32_t t = op->outputs[0];
            kiln_quant_layer *ly = &rep->layers[rep->n_layers];
            ly->op_index = i;
            ly->op = kiln_builtin_name(op->builtin);
            snprintf(ly->name, sizeof ly->name, "%s", sg->tensors[t].name);
            const int qop = q.op_quant[i] == 1;
            ly->quantized = q.op_quant[i] == 1 || q.op_quant[i] == 2 ||
                            (o->mode == KILN_QUANT_FLOAT16 && q.op_quant[i] != 3);
            ly->dtype = qop ? q.qtype : KILN_FLOAT32;
            ly->scale = qop ? q.t[t].scale : 0;
            ly->zero_point = qop ? q.t[t].zp : 0;
            ly->min = q.st[t].lo;
            ly->max = q.st[t].hi;
            layer_of[t] = rep->n_layers;
            rep->n_layers++;
        }
        if (o->report) {
            kiln_model *qm = NULL;
            s = kiln_model_load(*out, *out_len, "quantized model", NULL, &qm, err, errlen);
            if (s != KILN_OK) {
                q.status = s;
                goto done;
            }
            kiln_quantize_options ro = *o;
            if (kq_num_samples(&ro) <= 0) {
                ro.calib_random = 1;
                ro.calib_random_n = 32;
            }
            if (!int_mode && ro.report_samples <= 0) ro.report_samples = 200;
            s = kq_compare(m, qm, q.qmap, q.n_w, &ro, rep, layer_of, err, errlen);
            kiln_model_destroy(qm);
            if (s != KILN_OK) {
                q.status = s;
                goto done;
            }
            fill_suggestions(rep, sg, layer_of);
        }
    }
done:
    if (q.status != KILN_OK) {
        free(*out);
        *out = NULL;
        *out_len = 0;
        if (rep) kiln_quant_report_free(rep);
    }
    if (q.w) kiln_tfl_writer_destroy(q.w);
    kq_stats_free(q.st, nst);
    free(q.st);
    free(q.t);
    free(q.op_quant);
    free(q.qmap);
    free(layer_of);
    kiln_model_destroy(m);
    return q.status;
}
