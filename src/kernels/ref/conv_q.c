/* conv_q.c: quantized CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV,
 * FULLY_CONNECTED and BATCH_MATMUL (int8, int16x8, legacy uint8, hybrid
 * float/int8). Semantics: TFLite's reference kernels (reference_integer_ops /
 * reference_ops, as TFLite Micro runs them) and, in the litert dialect, the
 * XNNPACK delegate's fp32 requantization for the int8/uint8 ops it takes. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernel.h"
#include "kernels/ops.h"
#include "kernels/quant.h"
#include "kernels/ref/qio.h"

/* How the int accumulator becomes an output value. */
enum {
    RQ_DOUBLE = 0, /* reference MultiplyByQuantizedMultiplier on an int32 accumulator */
    RQ_ACC64,      /* reference int64 accumulator (int16x8 with int64 bias) */
    RQ_SINGLE,     /* single rounding (ruy / TFLITE_SINGLE_ROUNDING) */
    RQ_FP32,       /* XNNPACK: float scale, round to nearest even */
    RQ_DSCALE      /* acc * real scale in double, rounded half away from zero */
};

enum { K_I8 = 0, K_I16, K_U8, K_HYBRID };

typedef struct cq {
    int32_t op;
    int32_t kind;
    int32_t rq;
    int32_t in_zp, w_zp, out_zp;
    int32_t act, act_min, act_max;
    int32_t nch; /* output channels (per-channel arrays below have nch entries) */
    int32_t *mult;
    int32_t *shift;
    float *fscale;
    double *dscale;
    /* geometry: conv / depthwise / transpose conv */
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w, w_ic;
    int32_t stride_h, stride_w, dil_h, dil_w, pad_h, pad_w, depth_mult;
    /* fully connected: rows x depth -> rows x units */
    int32_t rows, depth, units;
    /* batch matmul */
    int32_t bm_rank, adj_x, adj_y, bm_m, bm_k, bm_n;
    int32_t bm_out[5], bm_lhs_str[5], bm_rhs_str[5]; /* batch dims padded to 5 (last 2 unused) */
    int32_t scratch, scratch2, scratch3, scratch4;
    int32_t asym;        /* hybrid: asymmetric input quantization */
    int32_t qpix;        /* hybrid conv: one quantization group per pixel */
    int32_t xnn;         /* hybrid: XNNPACK's dynamic quantization (litert dialect) */
    int32_t shape_known; /* transpose conv: output shape constant at prepare */
} cq;

#define IN(n, i) ((n)->n_in > (i) ? (n)->in[i] : NULL)

/* ---- small helpers
 * --------------------------------------------------------------------- */

static int32_t type_min(int32_t t) {
    return t == KILN_INT8 ? -128 : (t == KILN_INT16 ? -32768 : 0);
}

static int32_t type_max(int32_t t) {
    return t == KILN_INT8 ? 127 : (t == KILN_INT16 ? 32767 : 255);
}

static int good_scale(float s) {
    return s > 0.0f && isfinite(s);
}

/* Checks a per-tensor quantized activation tensor. */
static kiln_status check_act_quant(kiln_kctx *ctx, const kiln_tensor *t, const char *what) {
    if (t->q.n < 1 || !t->q.scale || !t->q.zero_point)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s tensor '%s' has no quantization parameters", what,
                         t->name ? t->name : "");
    if (!good_scale(t->q.scale[0]))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s tensor '%s' has scale %g (must be > 0)", what,
                         t->name ? t->name : "", (double)t->q.scale[0]);
    const int32_t zp = t->q.zero_point[0];
    if (zp < type_min(t->type) || zp > type_max(t->type))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s tensor '%s' has zero point %d outside its type",
                         what, t->name ? t->name : "", zp);
    return KILN_OK;
}

/* Checks the filter's quantization: per-tensor, or per-channel along `dim` with
 * `nch` entries. */
static kiln_status check_w_quant(kiln_kctx *ctx, const kiln_tensor *w, int32_t dim, int32_t nch) {
    if (w->q.n < 1 || !w->q.scale)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "filter tensor '%s' has no quantization parameters",
                         w->name ? w->name : "");
    if (w->q.n > 1) {
        if (w->q.n != nch)
            return kiln_kerr(ctx, KILN_ERR_MODEL,
                             "filter has %d per-channel scales, expected %d (one per output "
                             "channel)",
                             w->q.n, nch);
        if (w->q.dim != dim)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "filter quantized_dimension is %d, expected %d",
                             w->q.dim, dim);
    }
    for (int32_t i = 0; i < w->q.n; i++)
        if (!good_scale(w->q.scale[i]))
            return kiln_kerr(ctx, KILN_ERR_MODEL, "filter scale %d is %g (must be > 0)", i,
                             (double)w->q.scale[i]);
    if (w->q.zero_point) {
        for (int32_t i = 0; i < w->q.n; i++) {
            const int32_t zp = w->q.zero_point[i];
            if (zp < type_min(w->type) || zp > type_max(w->type))
                return kiln_kerr(ctx, KILN_ERR_MODEL, "filter zero point %d outside its type", zp);
        }
    }
    return KILN_OK;
}

static float w_scale(const kiln_tensor *w, int32_t c) {
    return w->q.n > 1 ? w->q.scale[c] : w->q.scale[0];
}

static kiln_status check_bias(kiln_kctx *ctx, const kiln_tensor *b, int32_t nch, int32_t t1,
                              int32_t t2) {
    if (!b) return KILN_OK;
    if (b->type != t1 && b->type != t2)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "bias has type %s, expected %s",
                         kiln_dtype_name(b->type), kiln_dtype_name(t1));
    if (kiln_numel(b) != nch)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "bias has %lld elements, expected %d",
                         (long long)kiln_numel(b), nch);
    return KILN_OK;
}

/* Constant buffers in a .tflite need not be aligned to their element size
 * (transpose_conv0's int64 bias is not): read them with memcpy. */
static int64_t bias_at(const kiln_tensor *b, int32_t c) {
    if (!b || !b->data) return 0;
    if (b->type == KILN_INT64) {
        int64_t v;
        memcpy(&v, (const uint8_t *)b->data + (size_t)c * 8, 8);
        return v;
    }
    int32_t v;
    memcpy(&v, (const uint8_t *)b->data + (size_t)c * 4, 4);
    return v;
}

static float fbias_at(const kiln_tensor *b, int32_t c) {
    float v;
    memcpy(&v, (const uint8_t *)b->data + (size_t)c * 4, 4);
    return v;
}

/* Allocates the per-channel multipliers and fills them. real[c] = in_s * w_s[c]
 * / out_s in double (TFLite's PopulateConvolutionQuantizationParams /
 * GetQuantizedConvolutionMultipler), and XNNPACK's float scale in the same
 * order (its requantization_scale). */
static kiln_status setup_mult(kiln_kctx *ctx, cq *d, float in_s, const kiln_tensor *w,
                              float out_s) {
    /* Persistent memory counts against a microcontroller's arena: the float scales only the
     * litert dialect's requantization reads are kept only in that dialect. */
    const int litert = kiln_karith(ctx) == KILN_ARITH_LITERT;
    d->mult = kiln_kalloc(ctx, sizeof(int32_t) * (size_t)d->nch);
    d->shift = kiln_kalloc(ctx, sizeof(int32_t) * (size_t)d->nch);
    d->fscale = litert ? kiln_kalloc(ctx, sizeof(float) * (size_t)d->nch) : NULL;
    d->dscale = litert ? kiln_kalloc(ctx, sizeof(double) * (size_t)d->nch) : NULL;
    if (!d->mult || !d->shift || (litert && (!d->fscale || !d->dscale)))
        return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory for per-channel multipliers");
    for (int32_t c = 0; c < d->nch; c++) {
        const float ws = w ? w_scale(w, c) : 1.0f;
        const double real = (double)in_s * (double)ws / (double)out_s;
        int sh = 0;
        kiln_quantize_multiplier(real, &d->mult[c], &sh);
        d->shift[c] = sh;
        if (litert) {
            d->fscale[c] = kiln_xnn_scale(in_s, ws, out_s);
            d->dscale[c] = real;
        }
    }
    return KILN_OK;
}

/* The output value of one accumulator (int64 holds both int32 and int64
 * accumulators; the int32 ones are wrapped as TFLite's int32 arithmetic does).
 */
static inline int32_t requant(const cq *d, int64_t acc, int32_t c) {
    int32_t v;
    switch (d->rq) {
    case RQ_FP32:
        return kiln_requant_fp32(kiln_wrap_i32(acc), d->fscale[c], d->out_zp, d->act_min,
                                 d->act_max);
    case RQ_ACC64:
        v = kiln_mbqm64(acc, d->mult[c], d->shift[c]);
        break;
    case RQ_SINGLE:
        v = kiln_mbqm_single(kiln_wrap_i32(acc), d->mult[c], d->shift[c]);
        break;
    case RQ_DSCALE: {
        double r = round((double)acc * d->dscale[c]);
        r = r < -2147483648.0 ? -2147483648.0 : (r > 2147483647.0 ? 2147483647.0 : r);
        v = (int32_t)r;
        break;
    }
    default:
        v = kiln_mbqm(kiln_wrap_i32(acc), d->mult[c], d->shift[c]);
        break;
    }
    v = kiln_add_wrap_i32(v, d->out_zp);
    return kiln_clamp_i32(v, d->act_min, d->act_max);
}

/* sum_i (f[i] + w_off) * (x[i] + in_off) over n contiguous elements: the inner loop of every
 * integer kernel here, with the element types resolved once per call instead of per element.
 * Partial sums stay in int32 over blocks short enough not to overflow. */
static int64_t dot_q(const void *f, int32_t wt, int32_t w_off, const void *x, int32_t it,
                     int32_t in_off, int32_t n) {
    int64_t acc = 0;
    if (wt == KILN_INT8 && it == KILN_INT8) {
        const int8_t *a = f, *b = x;
        for (int32_t i0 = 0; i0 < n; i0 += 4096) {
            const int32_t i1 = n - i0 < 4096 ? n : i0 + 4096;
            int32_t s = 0;
            for (int32_t i = i0; i < i1; i++)
                s += ((int32_t)a[i] + w_off) * ((int32_t)b[i] + in_off);
            acc += s;
        }
    } else if (wt == KILN_UINT8 && it == KILN_UINT8) {
        const uint8_t *a = f, *b = x;
        for (int32_t i0 = 0; i0 < n; i0 += 4096) {
            const int32_t i1 = n - i0 < 4096 ? n : i0 + 4096;
            int32_t s = 0;
            for (int32_t i = i0; i < i1; i++)
                s += ((int32_t)a[i] + w_off) * ((int32_t)b[i] + in_off);
            acc += s;
        }
    } else if (wt == KILN_INT8 && it == KILN_INT16) {
        const int8_t *a = f;
        const uint8_t *b = x;
        for (int32_t i = 0; i < n; i++) {
            int16_t v;
            memcpy(&v, b + (size_t)i * 2, 2);
            acc += (int64_t)((int32_t)a[i] + w_off) * ((int32_t)v + in_off);
        }
    } else {
        for (int32_t i = 0; i < n; i++)
            acc += (int64_t)(kiln_q_ld(f, wt, i) + w_off) * (kiln_q_ld(x, it, i) + in_off);
    }
    return acc;
}

static const void *elem_ptr(const void *p, int32_t type, int64_t i) {
    return (const uint8_t *)p + (size_t)i * (type == KILN_INT16 ? 2u : 1u);
}

/* TFLite's ComputeOutSize / ComputePaddingWithOffset (padding 0 SAME, 1 VALID).
 */
static int32_t out_size(int32_t padding, int32_t in, int32_t k, int32_t stride, int32_t dil) {
    const int64_t eff = (int64_t)(k - 1) * dil + 1;
    int64_t o =
        padding == 0 ? ((int64_t)in + stride - 1) / stride : ((int64_t)in + stride - eff) / stride;
    return o < 0 ? 0 : (int32_t)o;
}

static int32_t pad_size(int32_t stride, int32_t dil, int32_t in, int32_t k, int32_t out) {
    const int64_t eff = (int64_t)(k - 1) * dil + 1;
    int64_t total = (int64_t)(out - 1) * stride + eff - in;
    if (total < 0) total = 0;
    return (int32_t)(total / 2);
}

/* Activation range and requantization mode for an integer kernel. `xnn` is true
 * when the litert dialect hands this op to XNNPACK. */
static void setup_range(cq *d, const kiln_tensor *out, int xnn) {
    const int32_t qmin = type_min(out->type), qmax = type_max(out->type);
    if (xnn)
        kiln_act_range_xnn(d->act, out->q.scale[0], d->out_zp, qmin, qmax, &d->act_min,
                           &d->act_max);
    else
        kiln_act_range_q(d->act, out->q.scale[0], d->out_zp, qmin, qmax, &d->act_min, &d->act_max);
}

/* Kind of kernel from input and filter types. */
static kiln_status kind_of(kiln_kctx *ctx, cq *d, int32_t in_t, int32_t w_t, int32_t out_t) {
    if (in_t == KILN_INT8 && w_t == KILN_INT8 && out_t == KILN_INT8)
        d->kind = K_I8;
    else if (in_t == KILN_INT16 && w_t == KILN_INT8 && out_t == KILN_INT16)
        d->kind = K_I16;
    else if (in_t == KILN_UINT8 && w_t == KILN_UINT8 && out_t == KILN_UINT8)
        d->kind = K_U8;
    else if (in_t == KILN_FLOAT32 && w_t == KILN_INT8 && out_t == KILN_FLOAT32)
        d->kind = K_HYBRID;
    else
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                         "input %s, filter %s, output %s is not a supported combination",
                         kiln_dtype_name(in_t), kiln_dtype_name(w_t), kiln_dtype_name(out_t));
    return KILN_OK;
}

/* Common quantization setup for conv-like ops: zero points, activation range,
 * multipliers. `xnn_op`: the XNNPACK delegate takes this op for int8/uint8 in
 * the litert dialect. */
static kiln_status setup_quant(kiln_kctx *ctx, cq *d, const kiln_tensor *in, const kiln_tensor *w,
                               const kiln_tensor *b, const kiln_tensor *out, int32_t w_dim,
                               int xnn_op) {
    kiln_status s;
    if ((s = check_w_quant(ctx, w, w_dim, d->nch)) != KILN_OK) return s;
    d->w_zp = w->q.zero_point ? w->q.zero_point[0] : 0;
    if (d->kind == K_HYBRID) return KILN_OK;
    if ((s = check_act_quant(ctx, in, "input")) != KILN_OK) return s;
    if ((s = check_act_quant(ctx, out, "output")) != KILN_OK) return s;
    d->in_zp = in->q.zero_point[0];
    d->out_zp = out->q.zero_point[0];
    if (d->kind == K_I16) {
        if (d->in_zp != 0 || d->out_zp != 0)
            return kiln_kerr(ctx, KILN_ERR_MODEL,
                             "int16 input and output must have zero point 0 (have %d, %d)",
                             d->in_zp, d->out_zp);
        if ((s = check_bias(ctx, b, d->nch, KILN_INT64, KILN_INT32)) != KILN_OK) return s;
        /* TFLite Micro picks the accumulator from the bias: an int32 bias means an
         * int32 accumulator and the int32 MultiplyByQuantizedMultiplier; an int64
         * bias or none, the int64 accumulator and the 16-bit reduced multiplier
         * (one rounding, ties up). */
        d->rq = (b && b->type == KILN_INT32) ? RQ_DOUBLE : RQ_ACC64;
        /* LiteRT's built-in int16 FULLY_CONNECTED rounds differently (measured
         * against the official runtime at exact and near ties): with an int64 bias,
         * the exact product acc * scale rounded half away from zero (not the
         * reduced 16-bit multiplier, nor two roundings); with an int32 bias or
         * none, one rounding of the Q31 multiply, ties up. */
        if (d->op == KILN_OP_FULLY_CONNECTED && kiln_karith(ctx) == KILN_ARITH_LITERT)
            d->rq = (b && b->type == KILN_INT64) ? RQ_DSCALE : RQ_SINGLE;
    } else {
        if ((s = check_bias(ctx, b, d->nch, KILN_INT32, KILN_INT32)) != KILN_OK) return s;
        d->rq = RQ_DOUBLE;
    }
    if (d->kind == K_U8) {
        if (w->q.n > 1)
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                             "uint8 filters must be quantized per tensor (%d scales)", w->q.n);
    } else if (d->kind == K_I8 && w->q.zero_point) {
        for (int32_t i = 0; i < w->q.n; i++)
            if (w->q.zero_point[i] != 0)
                return kiln_kerr(ctx, KILN_ERR_MODEL,
                                 "int8 filter zero point must be 0 (channel %d has %d)", i,
                                 w->q.zero_point[i]);
    }
    /* The litert dialect: LiteRT's XNNPACK delegate takes int8/uint8 CONV_2D and
     * DEPTHWISE_CONV_2D only with a bias input (otherwise TFLite's built-in
     * kernels run them, with the reference arithmetic), FULLY_CONNECTED with or
     * without. */
    int xnn =
        xnn_op && kiln_karith(ctx) == KILN_ARITH_LITERT && (d->kind == K_I8 || d->kind == K_U8);
    if (xnn && !b && (d->op == KILN_OP_CONV_2D || d->op == KILN_OP_DEPTHWISE_CONV_2D)) xnn = 0;
    kiln_status st_ = setup_mult(ctx, d, in->q.scale[0], w, out->q.scale[0]);
    if (st_ != KILN_OK) return st_;
    /* XNNPACK refuses requantization scales outside [2^-32, 256); the delegate
     * then leaves the op to the built-in kernels. */
    for (int32_t c = 0; xnn && c < d->nch; c++)
        if (!(d->fscale[c] >= 0x1p-32f && d->fscale[c] < 256.0f)) xnn = 0;
    if (xnn) d->rq = RQ_FP32;
    setup_range(d, out, xnn);
    return KILN_OK;
}

static cq *new_data(kiln_kctx *ctx, kiln_node *node) {
    cq *d = kiln_kalloc(ctx, sizeof(cq));
    if (!d) return NULL;
    d->op = node->op;
    d->scratch = d->scratch2 = d->scratch3 = d->scratch4 = -1;
    node->data = d;
    return d;
}

/* ---- hybrid input quantization
 * ------------------------------------------------------------ */

/* TFLite's tensor_utils::SymmetricQuantizeFloats: scale max|x| / 127, round
 * half away. */
static void sym_quantize(const float *x, int32_t n, int8_t *q, float *scale) {
    float mn = x[0], mx = x[0];
    for (int32_t i = 1; i < n; i++) {
        mn = x[i] < mn ? x[i] : mn;
        mx = x[i] > mx ? x[i] : mx;
    }
    const float range = fmaxf(fabsf(mn), fabsf(mx));
    if (range == 0.0f) {
        memset(q, 0, (size_t)n);
        *scale = 1.0f;
        return;
    }
    *scale = range / 127.0f;
    const float inv = 127.0f / range;
    for (int32_t i = 0; i < n; i++) {
        float r = roundf(x[i] * inv);
        r = r > 127.0f ? 127.0f : (r < -127.0f ? -127.0f : r);
        q[i] = (int8_t)r;
    }
}

/* TFLite's tensor_utils::AsymmetricQuantizeFloats (int8, zero point nudged as
 * in TF). */
static void asym_quantize(const float *x, int32_t n, int8_t *q, float *scale, int32_t *offset) {
    float rmin = x[0], rmax = x[0];
    for (int32_t i = 1; i < n; i++) {
        rmin = x[i] < rmin ? x[i] : rmin;
        rmax = x[i] > rmax ? x[i] : rmax;
    }
    const int32_t kmin = -128, kmax = 127;
    const double qmin_d = kmin, qmax_d = kmax;
    rmin = fminf(rmin, 0.0f);
    rmax = fmaxf(rmax, 0.0f);
    if (rmin == rmax) {
        memset(q, 0, (size_t)n);
        *scale = 1.0f;
        *offset = 0;
        return;
    }
    const double sc = ((double)rmax - (double)rmin) / (qmax_d - qmin_d);
    const double zp_from_min = qmin_d - (double)rmin / sc;
    const double zp_from_max = qmax_d - (double)rmax / sc;
    const double err_min = fabs(qmin_d) + fabs((double)rmin / sc);
    const double err_max = fabs(qmax_d) + fabs((double)rmax / sc);
    const double zpd = err_min < err_max ? zp_from_min : zp_from_max;
    int32_t nudged;
    if (zpd <= qmin_d)
        nudged = kmin;
    else if (zpd >= qmax_d)
        nudged = kmax;
    else
        nudged = (int32_t)round(zpd);
    *scale = (float)sc;
    *offset = nudged;
    const float inv = 1.0f / *scale;
    for (int32_t i = 0; i < n; i++) {
        const float r = roundf((float)nudged + x[i] * inv);
        const int32_t v = (int32_t)(r > 127.0f ? 127.0f : (r < -128.0f ? -128.0f : r));
        q[i] = (int8_t)v;
    }
}

/* XNNPACK's dynamic quantization of one row (the f32 -> qd8 convert operator):
 * asymmetric int8 over [min(x, 0), max(x, 0)], all in float: multiplier 255 /
 * range, zero point from the side with the smaller error (rounded to nearest
 * even), real scale 1 / multiplier, and the values quantized with 1 / (1 /
 * multiplier), ties to even. */
static void xnn_qd8_quantize(const float *x, int32_t n, int8_t *q, float *scale,
                             int32_t *zero_point) {
    float mn = x[0], mx = x[0];
    for (int32_t i = 1; i < n; i++) {
        mn = x[i] < mn ? x[i] : mn;
        mx = x[i] > mx ? x[i] : mx;
    }
    const float qmin = -128.0f, qmax = 127.0f;
    const float rmin = fminf(0.0f, mn), rmax = fmaxf(0.0f, mx);
    const float mult = rmin == rmax ? 1.0f : (qmax - qmin) / (rmax - rmin);
    const float rmin_s = rmin * mult, rmax_s = rmax * mult;
    float zpf = (qmin + rmin_s) + (qmax + rmax_s) > 0.0f ? qmin - rmin_s : qmax - rmax_s;
    zpf = fmaxf(zpf, qmin);
    zpf = fminf(zpf, qmax);
    const int32_t zp = (int32_t)lrintf(zpf);
    const float inv_scale = 1.0f / mult;
    const float cvt = 1.0f / inv_scale;
    *scale = inv_scale;
    *zero_point = zp;
    const float lo = qmin - (float)zp, hi = qmax - (float)zp;
    for (int32_t i = 0; i < n; i++) {
        float v = x[i] * cvt;
        v = v < lo ? lo : (v > hi ? hi : v);
        q[i] = (int8_t)(lrintf(v) + zp);
    }
}

/* The float result of a hybrid dot product: TFLite's reference kernels scale by
 * (input scale * filter scale); XNNPACK's qd8 GEMM (and the official runtime's
 * built-in hybrid depthwise kernel) by input scale, then filter scale. */
static inline float hybrid_out(const cq *d, int64_t acc, float in_scale, float w_scale,
                               const kiln_tensor *bias, int32_t c) {
    float v = d->xnn ? ((float)kiln_wrap_i32(acc) * in_scale) * w_scale
                     : (float)kiln_wrap_i32(acc) * (in_scale * w_scale);
    if (bias && bias->data) v += fbias_at(bias, c);
    return v;
}

static float apply_act_f(int32_t act, float v) {
    switch (act) {
    case 1:
        return v < 0.0f ? 0.0f : v;
    case 2:
        return v < -1.0f ? -1.0f : (v > 1.0f ? 1.0f : v);
    case 3:
        return v < 0.0f ? 0.0f : (v > 6.0f ? 6.0f : v);
    case 4:
        return tanhf(v);
    case 5:
        return signbit(v) ? 1.0f : 0.0f;
    default:
        return v;
    }
}

/* ---- CONV_2D
 * ---------------------------------------------------------------------------
 */

/* Fused activations: integer kernels clamp (NONE, RELU, RELU_N1_TO_1, RELU6);
 * hybrid ones compute in float and also take TANH and SIGN_BIT, as TFLite does.
 */
static kiln_status act_check(kiln_kctx *ctx, const cq *d) {
    const int32_t maxact = d->kind == K_HYBRID ? 5 : 3;
    if (d->act < 0 || d->act > maxact)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                         "fused activation %d is not supported by this %s kernel", d->act,
                         d->kind == K_HYBRID ? "hybrid" : "quantized");
    return KILN_OK;
}

static kiln_status geometry_check(kiln_kctx *ctx, cq *d) {
    kiln_status s = act_check(ctx, d);
    if (s != KILN_OK) return s;
    if (d->stride_h <= 0 || d->stride_w <= 0)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "stride %dx%d must be positive", d->stride_h,
                         d->stride_w);
    if (d->dil_h <= 0 || d->dil_w <= 0)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "dilation %dx%d must be positive", d->dil_h,
                         d->dil_w);
    return KILN_OK;
}

static kiln_status hybrid_scratch(kiln_kctx *ctx, cq *d, int64_t qbytes, int32_t rows) {
    d->scratch = kiln_kscratch_request(ctx, (size_t)qbytes + 16);
    d->scratch2 = kiln_kscratch_request(ctx, sizeof(float) * (size_t)rows + 16);
    d->scratch3 = kiln_kscratch_request(ctx, sizeof(int32_t) * (size_t)rows + 16);
    if (d->scratch < 0 || d->scratch2 < 0 || d->scratch3 < 0)
        return kiln_kerr(ctx, KILN_ERR_NOMEM, "cannot reserve scratch memory");
    return KILN_OK;
}

static kiln_status conv_prepare(kiln_kctx *ctx, kiln_node *node) {
    const int dw = node->op == KILN_OP_DEPTHWISE_CONV_2D;
    if (node->n_in < 2 || node->n_out < 1 || !node->in[0] || !node->in[1])
        return kiln_kerr(ctx, KILN_ERR_MODEL, "needs input, filter (and bias) and one output");
    kiln_tensor *in = node->in[0], *w = node->in[1], *b = IN(node, 2), *out = node->out[0];
    cq *d = new_data(ctx, node);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    kiln_status s;
    if ((s = kind_of(ctx, d, in->type, w->type, out->type)) != KILN_OK) return s;
    if (in->rank != 4 || w->rank != 4)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "input and filter must be 4-D (have %d-D, %d-D)",
                         in->rank, w->rank);
    if (!w->data) return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "the filter must be constant");
    const int32_t padding = kiln_opt_i8(node, 0, 0);
    d->stride_w = kiln_opt_i32(node, 1, 0);
    d->stride_h = kiln_opt_i32(node, 2, 0);
    if (dw) {
        d->act = kiln_opt_i8(node, 4, 0);
        d->dil_w = kiln_opt_i32(node, 5, 1);
        d->dil_h = kiln_opt_i32(node, 6, 1);
    } else {
        d->act = kiln_opt_i8(node, 3, 0);
        d->dil_w = kiln_opt_i32(node, 4, 1);
        d->dil_h = kiln_opt_i32(node, 5, 1);
    }
    if ((s = geometry_check(ctx, d)) != KILN_OK) return s;
    if (padding != 0 && padding != 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "unknown padding %d", padding);
    d->batches = in->dims[0];
    d->in_h = in->dims[1];
    d->in_w = in->dims[2];
    d->in_c = in->dims[3];
    d->k_h = w->dims[1];
    d->k_w = w->dims[2];
    if (dw) {
        if (w->dims[0] != 1)
            return kiln_kerr(ctx, KILN_ERR_SHAPE, "depthwise filter dim 0 is %d, expected 1",
                             w->dims[0]);
        d->out_c = w->dims[3];
        if (d->in_c <= 0 || d->out_c % d->in_c != 0)
            return kiln_kerr(ctx, KILN_ERR_SHAPE,
                             "depthwise output channels %d are not a multiple of input channels "
                             "%d",
                             d->out_c, d->in_c);
        d->depth_mult = d->out_c / d->in_c;
        d->w_ic = 1;
    } else {
        d->out_c = w->dims[0];
        d->w_ic = w->dims[3];
        if (d->w_ic <= 0 || d->in_c % d->w_ic != 0)
            return kiln_kerr(ctx, KILN_ERR_SHAPE,
                             "input channels %d are not a multiple of filter channels %d", d->in_c,
                             d->w_ic);
        const int32_t groups = d->in_c / d->w_ic;
        if (groups <= 0 || d->out_c % groups != 0)
            return kiln_kerr(ctx, KILN_ERR_SHAPE,
                             "output channels %d are not a multiple of the %d groups", d->out_c,
                             groups);
    }
    if (d->k_h <= 0 || d->k_w <= 0 || d->out_c <= 0)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "empty filter");
    d->nch = d->out_c;
    d->out_h = out_size(padding, d->in_h, d->k_h, d->stride_h, d->dil_h);
    d->out_w = out_size(padding, d->in_w, d->k_w, d->stride_w, d->dil_w);
    if ((d->out_h <= 0 || d->out_w <= 0) && d->in_h > 0 && d->in_w > 0)
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "filter %dx%d (dilation %dx%d) does not fit input %dx%d with VALID "
                         "padding",
                         d->k_h, d->k_w, d->dil_h, d->dil_w, d->in_h, d->in_w);
    d->pad_h = pad_size(d->stride_h, d->dil_h, d->in_h, d->k_h, d->out_h);
    d->pad_w = pad_size(d->stride_w, d->dil_w, d->in_w, d->k_w, d->out_w);
    const int32_t od[4] = {d->batches, d->out_h, d->out_w, d->out_c};
    if ((s = kiln_kresize(ctx, out, 4, od)) != KILN_OK) return s;
    if (d->kind == K_HYBRID) {
        if ((s = setup_quant(ctx, d, in, w, b, out, dw ? 3 : 0, 0)) != KILN_OK) return s;
        if (b && b->type != KILN_FLOAT32)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "hybrid bias must be float32");
        if ((s = check_bias(ctx, b, d->nch, KILN_FLOAT32, KILN_FLOAT32)) != KILN_OK) return s;
        /* TFLite's hybrid depthwise kernel reads one filter scale per output
         * channel (a per-tensor filter makes it read past the scales): refuse that.
         */
        if (dw && w->q.n != d->out_c && d->out_c > 1)
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                             "hybrid DEPTHWISE_CONV_2D needs per-channel filter scales (%d "
                             "scales, %d channels)",
                             w->q.n, d->out_c);
        /* TFLite's hybrid conv: per-tensor filters quantize the input symmetrically
         * per batch (EvalHybrid); per-channel or grouped ones, and depthwise,
         * asymmetrically (EvalHybridPerChannel). */
        d->asym = dw || w->q.n > 1 || d->in_c != d->w_ic;
        d->xnn = kiln_karith(ctx) == KILN_ARITH_LITERT;
        /* XNNPACK turns a 1x1, stride 1, unpadded conv into a fully connected
         * layer, whose dynamic quantization is per pixel. */
        d->qpix = d->xnn && !dw && d->k_h == 1 && d->k_w == 1 && d->stride_h == 1 &&
                  d->stride_w == 1 && d->in_c == d->w_ic;
        return hybrid_scratch(ctx, d, kiln_numel(in),
                              d->batches * (d->qpix ? d->in_h * d->in_w : 1));
    }
    return setup_quant(ctx, d, in, w, b, out, dw ? 3 : 0, 1);
}

/* One conv output pixel over all output channels, integer kinds. */
static void conv_int(const cq *d, const kiln_tensor *in, const kiln_tensor *w, const kiln_tensor *b,
                     kiln_tensor *out) {
    const void *x = in->data;
    const void *f = w->data;
    const int32_t it = in->type, wt = w->type, ot = out->type;
    const int32_t in_off = -d->in_zp;
    const int32_t w_off = d->kind == K_U8 ? -d->w_zp : 0;
    const int32_t groups = d->in_c / d->w_ic;
    const int32_t per_group = d->out_c / groups;
    for (int32_t n = 0; n < d->batches; n++)
        for (int32_t oy = 0; oy < d->out_h; oy++)
            for (int32_t ox = 0; ox < d->out_w; ox++) {
                const int32_t iy0 = oy * d->stride_h - d->pad_h;
                const int32_t ix0 = ox * d->stride_w - d->pad_w;
                for (int32_t oc = 0; oc < d->out_c; oc++) {
                    const int32_t g = oc / per_group;
                    int64_t acc = 0;
                    for (int32_t ky = 0; ky < d->k_h; ky++) {
                        const int32_t iy = iy0 + d->dil_h * ky;
                        if (iy < 0 || iy >= d->in_h) continue;
                        for (int32_t kx = 0; kx < d->k_w; kx++) {
                            const int32_t ix = ix0 + d->dil_w * kx;
                            if (ix < 0 || ix >= d->in_w) continue;
                            const int64_t xb =
                                (((int64_t)n * d->in_h + iy) * d->in_w + ix) * d->in_c +
                                (int64_t)g * d->w_ic;
                            const int64_t fb =
                                (((int64_t)oc * d->k_h + ky) * d->k_w + kx) * d->w_ic;
                            acc += dot_q(elem_ptr(f, wt, fb), wt, w_off, elem_ptr(x, it, xb), it,
                                         in_off, d->w_ic);
                        }
                    }
                    acc += bias_at(b, oc);
                    const int64_t oi =
                        (((int64_t)n * d->out_h + oy) * d->out_w + ox) * d->out_c + oc;
                    kiln_q_st(out->data, ot, oi, requant(d, acc, oc));
                }
            }
}

static void dwconv_int(const cq *d, const kiln_tensor *in, const kiln_tensor *w,
                       const kiln_tensor *b, kiln_tensor *out) {
    const void *x = in->data;
    const void *f = w->data;
    const int32_t it = in->type, wt = w->type, ot = out->type;
    const int32_t in_off = -d->in_zp;
    const int32_t w_off = d->kind == K_U8 ? -d->w_zp : 0;
    const int i8 = it == KILN_INT8 && wt == KILN_INT8;
    for (int32_t n = 0; n < d->batches; n++)
        for (int32_t oy = 0; oy < d->out_h; oy++)
            for (int32_t ox = 0; ox < d->out_w; ox++) {
                const int32_t iy0 = oy * d->stride_h - d->pad_h;
                const int32_t ix0 = ox * d->stride_w - d->pad_w;
                for (int32_t ic = 0; ic < d->in_c; ic++)
                    for (int32_t m = 0; m < d->depth_mult; m++) {
                        const int32_t oc = ic * d->depth_mult + m;
                        int64_t acc = 0;
                        for (int32_t ky = 0; ky < d->k_h; ky++) {
                            const int32_t iy = iy0 + d->dil_h * ky;
                            if (iy < 0 || iy >= d->in_h) continue;
                            for (int32_t kx = 0; kx < d->k_w; kx++) {
                                const int32_t ix = ix0 + d->dil_w * kx;
                                if (ix < 0 || ix >= d->in_w) continue;
                                const int64_t xi =
                                    (((int64_t)n * d->in_h + iy) * d->in_w + ix) * d->in_c + ic;
                                const int64_t fi = ((int64_t)ky * d->k_w + kx) * d->out_c + oc;
                                if (i8)
                                    acc += (int32_t)((const int8_t *)f)[fi] *
                                           ((int32_t)((const int8_t *)x)[xi] + in_off);
                                else
                                    acc += (int64_t)(kiln_q_ld(f, wt, fi) + w_off) *
                                           (kiln_q_ld(x, it, xi) + in_off);
                            }
                        }
                        acc += bias_at(b, oc);
                        const int64_t oi =
                            (((int64_t)n * d->out_h + oy) * d->out_w + ox) * d->out_c + oc;
                        kiln_q_st(out->data, ot, oi, requant(d, acc, oc));
                    }
            }
}

/* Hybrid conv / depthwise conv: the input is quantized per batch (TFLite:
 * symmetric, per batch; XNNPACK: asymmetric qd8 per batch), the integer sums
 * are scaled back to float. */
static void conv_hybrid(kiln_kctx *ctx, const cq *d, const kiln_tensor *in, const kiln_tensor *w,
                        const kiln_tensor *b, kiln_tensor *out, int dw) {
    int8_t *q = kiln_kscratch(ctx, d->scratch);
    float *sf = kiln_kscratch(ctx, d->scratch2);
    int32_t *zps = kiln_kscratch(ctx, d->scratch3);
    const float *x = in->data;
    const int8_t *f = w->data;
    const kiln_tensor *bias = b;
    float *y = out->data;
    /* Quantization groups: one per image, or one per pixel where XNNPACK runs a
     * 1x1 conv as a fully connected layer (d->qpix). */
    const int64_t glen = d->qpix ? d->in_c : (int64_t)d->in_h * d->in_w * d->in_c;
    const int64_t ngroups = (int64_t)d->batches * (d->qpix ? (int64_t)d->in_h * d->in_w : 1);
    for (int64_t n = 0; n < ngroups; n++) {
        /* XNNPACK has no hybrid depthwise kernel: the official runtime keeps that op on
         * TFLite's built-in one, which quantizes as TFLite does (and scales the sum as XNNPACK
         * does, see hybrid_out). */
        if (d->xnn && !dw)
            xnn_qd8_quantize(x + n * glen, (int32_t)glen, q + n * glen, &sf[n], &zps[n]);
        else if (d->asym)
            asym_quantize(x + n * glen, (int32_t)glen, q + n * glen, &sf[n], &zps[n]);
        else {
            sym_quantize(x + n * glen, (int32_t)glen, q + n * glen, &sf[n]);
            zps[n] = 0;
        }
    }
    const int32_t groups = dw ? 1 : d->in_c / d->w_ic;
    const int32_t per_group = dw ? 1 : d->out_c / groups;
    for (int32_t n = 0; n < d->batches; n++)
        for (int32_t oy = 0; oy < d->out_h; oy++)
            for (int32_t ox = 0; ox < d->out_w; ox++) {
                const int32_t iy0 = oy * d->stride_h - d->pad_h;
                const int32_t ix0 = ox * d->stride_w - d->pad_w;
                for (int32_t oc = 0; oc < d->out_c; oc++) {
                    const int32_t g = dw ? 0 : oc / per_group;
                    const int32_t icdw = dw ? oc / d->depth_mult : 0;
                    int64_t acc = 0;
                    for (int32_t ky = 0; ky < d->k_h; ky++) {
                        const int32_t iy = iy0 + d->dil_h * ky;
                        if (iy < 0 || iy >= d->in_h) continue;
                        for (int32_t kx = 0; kx < d->k_w; kx++) {
                            const int32_t ix = ix0 + d->dil_w * kx;
                            if (ix < 0 || ix >= d->in_w) continue;
                            const int64_t px =
                                (((int64_t)n * d->in_h + iy) * d->in_w + ix) * d->in_c;
                            const int32_t zq = zps[d->qpix ? (px / d->in_c) : (int64_t)n];
                            if (dw) {
                                const int64_t fi = ((int64_t)ky * d->k_w + kx) * d->out_c + oc;
                                acc += (int64_t)f[fi] * (q[px + icdw] - zq);
                            } else {
                                const int64_t fb =
                                    (((int64_t)oc * d->k_h + ky) * d->k_w + kx) * d->w_ic;
                                const int64_t xb = px + (int64_t)g * d->w_ic;
                                for (int32_t ic = 0; ic < d->w_ic; ic++)
                                    acc += (int64_t)f[fb + ic] * (q[xb + ic] - zq);
                            }
                        }
                    }
                    const int64_t gi =
                        d->qpix ? ((int64_t)n * d->in_h + oy) * d->in_w + ox : (int64_t)n;
                    const float v = hybrid_out(d, acc, sf[gi], w_scale(w, oc), bias, oc);
                    y[(((int64_t)n * d->out_h + oy) * d->out_w + ox) * d->out_c + oc] =
                        apply_act_f(d->act, v);
                }
            }
}

/* Fast paths for the common int8 case (int8 input, weights and output; the per-channel
 * reference arithmetic unchanged). The sums are the reference's exactly: integer addition in a
 * different order, in int32, which cannot overflow for the window sizes accepted here (each
 * term is at most 127 * 255). Windows are gathered once per output pixel, so the inner loops
 * are contiguous and the compiler vectorizes them. */
#if defined(__GNUC__) && !defined(__clang__)
#define KILN_HOT __attribute__((optimize("O3")))
#else
#define KILN_HOT
#endif

enum { KILN_CQ_MAX_WINDOW = 2048 }; /* int16 window on the stack: 4 KiB */

/* On x86 the integer sums of the fast paths run with AVX2 when the CPU has it (exact, like the
 * scalar loops: the same int32 sums in another order); the scalar loops stay the fallback. */
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/x86/cpu.h"
#include "kernels/x86/qdot.h"
#define KILN_CQ_X86 1
enum { KILN_CQ_ROWS = 64 }; /* output channels per AVX2 call (int32 sums on the stack) */
enum { KILN_CQ_OCB = 256 }; /* output channels per block of the four-pixel conv */
#else
#define KILN_CQ_X86 0
#endif

/* Requantizes n int32 sums (channels c0..c0+n-1, bias not yet added) into the outputs from
 * element out_i on. With AVX2 the two 8-bit rules (reference Q31 and XNNPACK fp32) run 8
 * channels at a time, bit-exact with requant() (tests/test_qdot.c); the rest uses requant(). */
static void requant_row(const cq *d, const int32_t *acc, const kiln_tensor *b, int32_t c0,
                        int32_t n, kiln_tensor *out, int64_t out_i, int avx2) {
#if KILN_CQ_X86
    if (avx2 && (out->type == KILN_INT8 || out->type == KILN_UINT8) &&
        (d->rq == RQ_FP32 || d->rq == RQ_DOUBLE) && (!b || b->type == KILN_INT32)) {
        const int32_t *bias = b && b->data ? (const int32_t *)b->data + c0 : NULL;
        uint8_t *o = (uint8_t *)out->data + out_i;
        const int u8 = out->type == KILN_UINT8;
        if (d->rq == RQ_FP32)
            kiln__qrq_fp32_avx2(acc, bias, d->fscale + c0, n, d->out_zp, d->act_min, d->act_max, o,
                                u8);
        else
            kiln__qrq_q31_avx2(acc, bias, d->mult + c0, d->shift + c0, n, d->out_zp, d->act_min,
                               d->act_max, o, u8);
        return;
    }
#else
    (void)avx2;
#endif
    for (int32_t j = 0; j < n; j++)
        kiln_q_st(out->data, out->type, out_i + j,
                  requant(d, (int64_t)acc[j] + bias_at(b, c0 + j), c0 + j));
}

#if KILN_CQ_X86
/* Input kinds of the four-pixel conv. */
enum { CX_I8 = 0, CX_U8 = 1, CX_I16 = 2 };

/* n input values from element xo on, as int16 plus the input offset (int16 inputs have zero
 * point 0: copied). */
static void widen_x(const void *xin, int xt, int16_t off, int64_t xo, int32_t n, int16_t *dst) {
    if (xt == CX_I16)
        memcpy(dst, (const uint8_t *)xin + (size_t)xo * 2, (size_t)n * sizeof(int16_t));
    else
        kiln__qwiden_avx2((const uint8_t *)xin + xo, xt == CX_U8, off, n, dst);
}

/* Widens the conv window of output pixel (n, oy, ox) into patch, input offset added, padding
 * as 0 (the reference skips those taps: they add nothing). */
static void conv_patch(const cq *d, const void *xin, int xt, int32_t n, int32_t oy, int32_t ox,
                       int16_t *patch) {
    const int32_t iy0 = oy * d->stride_h - d->pad_h, ix0 = ox * d->stride_w - d->pad_w;
    const int16_t in_off = (int16_t)-d->in_zp;
    int32_t k = 0;
    for (int32_t ky = 0; ky < d->k_h; ky++) {
        const int32_t iy = iy0 + d->dil_h * ky;
        if (d->dil_w == 1 && iy >= 0 && iy < d->in_h && ix0 >= 0 && ix0 + d->k_w <= d->in_w) {
            /* the whole filter row lies inside the input, contiguous in NHWC: one widening */
            const int64_t xo = (((int64_t)n * d->in_h + iy) * d->in_w + ix0) * d->in_c;
            widen_x(xin, xt, in_off, xo, d->k_w * d->w_ic, patch + k);
            k += d->k_w * d->w_ic;
            continue;
        }
        for (int32_t kx = 0; kx < d->k_w; kx++, k += d->w_ic) {
            const int32_t ix = ix0 + d->dil_w * kx;
            if (iy < 0 || iy >= d->in_h || ix < 0 || ix >= d->in_w) {
                memset(patch + k, 0, (size_t)d->w_ic * sizeof(int16_t));
                continue;
            }
            const int64_t xo = (((int64_t)n * d->in_h + iy) * d->in_w + ix) * d->in_c;
            widen_x(xin, xt, in_off, xo, d->w_ic, patch + k);
        }
    }
}

/* The AVX2 conv: four output pixels at a time (each widened weight vector serves all four),
 * blocks of output channels, vector requantization. Same int32 sums as the scalar path. */
static void conv_q8_px4(const cq *d, const kiln_tensor *in, const kiln_tensor *w,
                        const kiln_tensor *b, kiln_tensor *out, int xt) {
    const int u8 = xt == CX_U8;
    const int32_t K = d->k_h * d->k_w * d->w_ic;
    int16_t patch[4][KILN_CQ_MAX_WINDOW];
    int32_t a[4 * KILN_CQ_OCB];
    const int16_t *pp[4] = {patch[0], patch[1], patch[2], patch[3]};
    const int32_t w_off = u8 ? -d->w_zp : 0;
    const int64_t npix = (int64_t)d->batches * d->out_h * d->out_w;
    int32_t pn = 0, poy = 0, pox = 0;
    const int pw = d->k_h == 1 && d->k_w == 1 && d->stride_h == 1 && d->stride_w == 1 &&
                   d->pad_h == 0 && d->pad_w == 0 && d->out_h == d->in_h && d->out_w == d->in_w &&
                   4 * d->in_c <= KILN_CQ_MAX_WINDOW;
    for (int64_t p0 = 0; p0 < npix; p0 += 4) {
        const int32_t np = npix - p0 < 4 ? (int32_t)(npix - p0) : 4;
        if (pw) {
            /* 1x1, stride 1: the four windows are consecutive input pixels */
            widen_x(in->data, xt, (int16_t)-d->in_zp, p0 * d->in_c, np * d->in_c, patch[0]);
            for (int32_t j = 0; j < 4; j++)
                pp[j] = j < np ? patch[0] + j * d->in_c : patch[0];
        } else
            for (int32_t j = 0; j < 4; j++) {
                if (j >= np) { /* past the end: a copy of the first pixel, computed and dropped */
                    pp[j] = patch[0];
                    continue;
                }
                conv_patch(d, in->data, xt, pn, poy, pox, patch[j]);
                if (++pox == d->out_w) { /* next pixel, without divisions */
                    pox = 0;
                    if (++poy == d->out_h) poy = 0, pn++;
                }
            }
        for (int32_t oc0 = 0; oc0 < d->out_c; oc0 += KILN_CQ_OCB) {
            const int32_t nr = d->out_c - oc0 < KILN_CQ_OCB ? d->out_c - oc0 : KILN_CQ_OCB;
            if (u8)
                kiln__qdot_px4_u8_avx2((const uint8_t *)w->data + (int64_t)oc0 * K, w_off, K, K, nr,
                                       pp, a, KILN_CQ_OCB);
            else
                kiln__qdot_px4_i8_avx2((const int8_t *)w->data + (int64_t)oc0 * K, K, K, nr, pp, a,
                                       KILN_CQ_OCB);
            for (int32_t j = 0; j < np; j++)
                requant_row(d, a + j * KILN_CQ_OCB, b, oc0, nr, out, (p0 + j) * d->out_c + oc0, 1);
        }
    }
}
#endif

KILN_HOT static int conv_i8_fast(const cq *d, const kiln_tensor *in, const kiln_tensor *w,
                                 const kiln_tensor *b, kiln_tensor *out) {
    const int u8 = d->kind == K_U8 && in->type == KILN_UINT8 && w->type == KILN_UINT8 &&
                   out->type == KILN_UINT8;
    const int i8 =
        d->kind == K_I8 && in->type == KILN_INT8 && w->type == KILN_INT8 && out->type == KILN_INT8;
    const int32_t K = d->k_h * d->k_w * d->w_ic;
#if KILN_CQ_X86
    /* int16x8 (int16 inputs with zero point 0, int8 weights): with at most 511 taps every
     * partial sum is within 511 * 128 * 32768 < 2^31, so int32 sums are exact (the reference
     * sums in int64); the outputs go through requant() with the int64 or int32 bias. */
    if (d->kind == K_I16 && in->type == KILN_INT16 && w->type == KILN_INT8 &&
        out->type == KILN_INT16 && d->in_c == d->w_ic && d->in_zp == 0 && K > 0 && K <= 511 &&
        (kiln__cpu_features() & KILN_CPU_AVX2)) {
        conv_q8_px4(d, in, w, b, out, CX_I16);
        return 1;
    }
#endif
    if (!(u8 || i8) || d->in_c != d->w_ic) return 0;
    if (K <= 0 || K > KILN_CQ_MAX_WINDOW) return 0;
    int16_t patch[KILN_CQ_MAX_WINDOW];
    const uint8_t *xu = (const uint8_t *)in->data;
    const int8_t *x = (const int8_t *)in->data;
    const int8_t *f = (const int8_t *)w->data;
    const uint8_t *fu = (const uint8_t *)w->data;
    const int32_t w_off = u8 ? -d->w_zp : 0;
    const int16_t in_off = (int16_t)-d->in_zp;
#if KILN_CQ_X86
    const int avx2 = (kiln__cpu_features() & KILN_CPU_AVX2) != 0;
    if (avx2) {
        conv_q8_px4(d, in, w, b, out, u8 ? CX_U8 : CX_I8);
        return 1;
    }
#endif
    for (int32_t n = 0; n < d->batches; n++)
        for (int32_t oy = 0; oy < d->out_h; oy++)
            for (int32_t ox = 0; ox < d->out_w; ox++) {
                const int32_t iy0 = oy * d->stride_h - d->pad_h;
                const int32_t ix0 = ox * d->stride_w - d->pad_w;
                int32_t k = 0;
                for (int32_t ky = 0; ky < d->k_h; ky++) {
                    const int32_t iy = iy0 + d->dil_h * ky;
                    for (int32_t kx = 0; kx < d->k_w; kx++, k += d->w_ic) {
                        const int32_t ix = ix0 + d->dil_w * kx;
                        if (iy < 0 || iy >= d->in_h || ix < 0 || ix >= d->in_w) {
                            /* padding: skipped by the reference, i.e. contributes 0 */
                            memset(patch + k, 0, (size_t)d->w_ic * sizeof(int16_t));
                            continue;
                        }
                        const int64_t xo = (((int64_t)n * d->in_h + iy) * d->in_w + ix) * d->in_c;
                        if (u8)
                            for (int32_t c = 0; c < d->w_ic; c++)
                                patch[k + c] = (int16_t)(xu[xo + c] + in_off);
                        else
                            for (int32_t c = 0; c < d->w_ic; c++)
                                patch[k + c] = (int16_t)(x[xo + c] + in_off);
                    }
                }
                const int64_t yo = (((int64_t)n * d->out_h + oy) * d->out_w + ox) * d->out_c;
                for (int32_t oc = 0; oc < d->out_c; oc++) {
                    int32_t acc = 0;
                    if (u8) {
                        const uint8_t *fr = fu + (int64_t)oc * K;
                        for (int32_t i = 0; i < K; i++)
                            acc += ((int32_t)fr[i] + w_off) * patch[i];
                    } else {
                        const int8_t *fr = f + (int64_t)oc * K;
                        for (int32_t i = 0; i < K; i++)
                            acc += (int32_t)fr[i] * patch[i];
                    }
                    kiln_q_st(out->data, out->type, yo + oc,
                              requant(d, (int64_t)acc + bias_at(b, oc), oc));
                }
            }
    return 1;
}

KILN_HOT static int dwconv_i8_fast(const cq *d, const kiln_tensor *in, const kiln_tensor *w,
                                   const kiln_tensor *b, kiln_tensor *out) {
    /* Also the legacy uint8 kind: (w + w_off) * (x + in_off), each factor within +-255, so
     * int32 holds 30000 taps exactly (int8: |w| <= 128, 60000 taps). */
    const int u8 = d->kind == K_U8 && in->type == KILN_UINT8 && w->type == KILN_UINT8 &&
                   out->type == KILN_UINT8;
    const int i8 =
        d->kind == K_I8 && in->type == KILN_INT8 && w->type == KILN_INT8 && out->type == KILN_INT8;
    if (!(u8 || i8) || d->out_c > KILN_CQ_MAX_WINDOW ||
        (int64_t)d->k_h * d->k_w > (u8 ? 30000 : 60000))
        return 0;
    int32_t acc[KILN_CQ_MAX_WINDOW];
    int16_t xs[KILN_CQ_MAX_WINDOW];
    const int8_t *x = (const int8_t *)in->data;
    const int8_t *f = (const int8_t *)w->data;
    const uint8_t *xu = (const uint8_t *)in->data;
    const uint8_t *fu = (const uint8_t *)w->data;
    const int32_t in_off = -d->in_zp, dm = d->depth_mult;
    const int32_t w_off = u8 ? -d->w_zp : 0;
#if KILN_CQ_X86
    const int avx2 = (kiln__cpu_features() & KILN_CPU_AVX2) != 0;
    const int32_t taps = d->k_h * d->k_w;
    if (avx2 && i8 && d->in_c == 1 && taps <= KILN_CQ_MAX_WINDOW &&
        (int64_t)taps * d->out_c <= 16384) {
        /* One input channel (the first layer of micro_speech and person_detect): per pixel, the
         * window dotted with each output channel's filter column, as the conv does; the filter
         * is transposed per invoke so that columns are rows. Padding taps are 0, which adds
         * nothing, as the reference skipping them. */
        int8_t ft[16384];
        for (int32_t t = 0; t < taps; t++)
            for (int32_t c = 0; c < d->out_c; c++)
                ft[(int64_t)c * taps + t] = f[(int64_t)t * d->out_c + c];
        for (int32_t n = 0; n < d->batches; n++)
            for (int32_t oy = 0; oy < d->out_h; oy++)
                for (int32_t ox = 0; ox < d->out_w; ox++) {
                    const int32_t iy0 = oy * d->stride_h - d->pad_h;
                    const int32_t ix0 = ox * d->stride_w - d->pad_w;
                    for (int32_t ky = 0, t = 0; ky < d->k_h; ky++) {
                        const int32_t iy = iy0 + d->dil_h * ky;
                        for (int32_t kx = 0; kx < d->k_w; kx++, t++) {
                            const int32_t ix = ix0 + d->dil_w * kx;
                            const int64_t xi = ((int64_t)n * d->in_h + iy) * d->in_w + ix;
                            xs[t] = (iy < 0 || iy >= d->in_h || ix < 0 || ix >= d->in_w)
                                        ? 0
                                        : (int16_t)(x[xi] + in_off);
                        }
                    }
                    memset(acc, 0, (size_t)d->out_c * sizeof(int32_t));
                    kiln__qdot_rows_i8i16_avx2(ft, taps, taps, d->out_c, xs, acc);
                    const int64_t yo = (((int64_t)n * d->out_h + oy) * d->out_w + ox) * d->out_c;
                    requant_row(d, acc, b, 0, d->out_c, out, yo, 1);
                }
        return 1;
    }
    if (avx2 && dm == 1 && taps <= 64) {
        /* The usual depthwise: per pixel, the list of taps inside the input (the reference
         * skips the others), all channels summed in registers over those taps. */
        const void *xp[64], *wp[64];
        int32_t acc2[KILN_CQ_MAX_WINDOW];
        for (int32_t n = 0; n < d->batches; n++)
            for (int32_t oy = 0; oy < d->out_h; oy++)
                for (int32_t ox = 0; ox < d->out_w; ox++) {
                    const int32_t iy0 = oy * d->stride_h - d->pad_h;
                    const int32_t ix0 = ox * d->stride_w - d->pad_w;
                    int32_t nt = 0;
                    for (int32_t ky = 0; ky < d->k_h; ky++) {
                        const int32_t iy = iy0 + d->dil_h * ky;
                        if (iy < 0 || iy >= d->in_h) continue;
                        for (int32_t kx = 0; kx < d->k_w; kx++) {
                            const int32_t ix = ix0 + d->dil_w * kx;
                            if (ix < 0 || ix >= d->in_w) continue;
                            const int64_t xo =
                                (((int64_t)n * d->in_h + iy) * d->in_w + ix) * d->in_c;
                            xp[nt] = xu + xo;
                            wp[nt++] = fu + ((int64_t)ky * d->k_w + kx) * d->out_c;
                        }
                    }
                    const int64_t yo = (((int64_t)n * d->out_h + oy) * d->out_w + ox) * d->out_c;
                    /* this pixel and the next both fully inside the input: the same taps,
                     * inputs stride_w pixels further on, computed together */
                    if (ox + 1 < d->out_w && iy0 >= 0 && iy0 + d->dil_h * (d->k_h - 1) < d->in_h &&
                        ix0 >= 0 && ix0 + d->stride_w + d->dil_w * (d->k_w - 1) < d->in_w) {
                        const int64_t step = (int64_t)d->stride_w * d->in_c;
                        if (u8)
                            kiln__qdw_taps2_u8_avx2(xp, wp, nt, w_off, in_off, step, d->out_c, acc,
                                                    acc2);
                        else
                            kiln__qdw_taps2_i8_avx2(xp, wp, nt, in_off, step, d->out_c, acc, acc2);
                        requant_row(d, acc, b, 0, d->out_c, out, yo, 1);
                        requant_row(d, acc2, b, 0, d->out_c, out, yo + d->out_c, 1);
                        ox++;
                        continue;
                    }
                    if (u8)
                        kiln__qdw_taps_u8_avx2(xp, wp, nt, w_off, in_off, d->out_c, acc);
                    else
                        kiln__qdw_taps_i8_avx2(xp, wp, nt, in_off, d->out_c, acc);
                    requant_row(d, acc, b, 0, d->out_c, out, yo, 1);
                }
        return 1;
    }
#endif
    for (int32_t n = 0; n < d->batches; n++)
        for (int32_t oy = 0; oy < d->out_h; oy++)
            for (int32_t ox = 0; ox < d->out_w; ox++) {
                const int32_t iy0 = oy * d->stride_h - d->pad_h;
                const int32_t ix0 = ox * d->stride_w - d->pad_w;
                memset(acc, 0, (size_t)d->out_c * sizeof(int32_t));
                for (int32_t ky = 0; ky < d->k_h; ky++) {
                    const int32_t iy = iy0 + d->dil_h * ky;
                    if (iy < 0 || iy >= d->in_h) continue;
                    for (int32_t kx = 0; kx < d->k_w; kx++) {
                        const int32_t ix = ix0 + d->dil_w * kx;
                        if (ix < 0 || ix >= d->in_w) continue;
                        const int64_t xo = (((int64_t)n * d->in_h + iy) * d->in_w + ix) * d->in_c;
                        const int64_t fo = ((int64_t)ky * d->k_w + kx) * d->out_c;
#if KILN_CQ_X86
                        if (avx2 && dm == 1) {
                            if (u8)
                                kiln__qdw_u8_avx2(fu + fo, w_off, xu + xo, in_off, d->out_c, acc);
                            else
                                kiln__qdw_i8_avx2(f + fo, x + xo, in_off, d->out_c, acc);
                            continue;
                        }
                        if (avx2 && !u8) {
                            /* each input channel repeated depth_mult times, offset once */
                            const int8_t *xr = x + xo;
                            for (int32_t c = 0, o = 0; c < d->in_c; c++)
                                for (int32_t m = 0; m < dm; m++, o++)
                                    xs[o] = (int16_t)(xr[c] + in_off);
                            kiln__qdw_i8i16_avx2(f + fo, xs, d->out_c, acc);
                            continue;
                        }
#endif
                        if (u8) {
                            const uint8_t *xr = xu + xo, *fr = fu + fo;
                            for (int32_t c = 0; c < d->in_c; c++)
                                xs[c] = (int16_t)(xr[c] + in_off);
                            for (int32_t c = 0; c < d->out_c; c++)
                                acc[c] += ((int32_t)fr[c] + w_off) * xs[c / dm];
                            continue;
                        }
                        const int8_t *xr = x + xo;
                        const int8_t *fr = f + fo;
                        if (dm == 1) {
                            for (int32_t c = 0; c < d->out_c; c++)
                                acc[c] += (int32_t)fr[c] * (int32_t)(xr[c] + in_off);
                        } else {
                            for (int32_t c = 0; c < d->in_c; c++)
                                xs[c] = (int16_t)(xr[c] + in_off);
                            for (int32_t c = 0; c < d->out_c; c++)
                                acc[c] += (int32_t)fr[c] * xs[c / dm];
                        }
                    }
                }
                const int64_t yo = (((int64_t)n * d->out_h + oy) * d->out_w + ox) * d->out_c;
#if KILN_CQ_X86
                requant_row(d, acc, b, 0, d->out_c, out, yo, avx2);
#else
                requant_row(d, acc, b, 0, d->out_c, out, yo, 0);
#endif
            }
    return 1;
}

static kiln_status conv_invoke(kiln_kctx *ctx, kiln_node *node) {
    const cq *d = node->data;
    const int dw = node->op == KILN_OP_DEPTHWISE_CONV_2D;
    kiln_tensor *in = node->in[0], *w = node->in[1], *b = IN(node, 2), *out = node->out[0];
    if (d->kind == K_HYBRID)
        conv_hybrid(ctx, d, in, w, b, out, dw);
    else if (dw) {
        if (!dwconv_i8_fast(d, in, w, b, out)) dwconv_int(d, in, w, b, out);
    } else if (!conv_i8_fast(d, in, w, b, out)) {
        conv_int(d, in, w, b, out);
    }
    return KILN_OK;
}

/* ---- FULLY_CONNECTED
 * ------------------------------------------------------------------------ */

static kiln_status fc_prepare(kiln_kctx *ctx, kiln_node *node) {
    if (node->n_in < 2 || node->n_out < 1 || !node->in[0] || !node->in[1])
        return kiln_kerr(ctx, KILN_ERR_MODEL, "needs input, weights (and bias) and one output");
    kiln_tensor *in = node->in[0], *w = node->in[1], *b = IN(node, 2), *out = node->out[0];
    cq *d = new_data(ctx, node);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    kiln_status s;
    if ((s = kind_of(ctx, d, in->type, w->type, out->type)) != KILN_OK) return s;
    d->act = kiln_opt_i8(node, 0, 0);
    if (kiln_opt_i8(node, 1, 0) != 0)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "shuffled weights format is not supported");
    const int keep = kiln_opt_i8(node, 2, 0);
    d->asym = kiln_opt_i8(node, 3, 0);
    if ((s = act_check(ctx, d)) != KILN_OK) return s;
    if (w->rank != 2)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "weights must be 2-D (have %d-D)", w->rank);
    if (!w->data) return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "the weights must be constant");
    d->units = w->dims[0];
    d->depth = w->dims[1];
    if (d->depth <= 0 || d->units <= 0) return kiln_kerr(ctx, KILN_ERR_SHAPE, "empty weights");
    const int64_t n = kiln_numel(in);
    if (n % d->depth != 0)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "input size %lld is not a multiple of depth %d",
                         (long long)n, d->depth);
    d->rows = (int32_t)(n / d->depth);
    d->nch = d->units;
    if (keep) {
        if (in->rank < 1 || in->dims[in->rank - 1] != d->depth)
            return kiln_kerr(ctx, KILN_ERR_SHAPE, "keep_num_dims: last input dim %d != depth %d",
                             in->rank ? in->dims[in->rank - 1] : 0, d->depth);
        int32_t od[KILN_MAX_RANK];
        for (int32_t i = 0; i < in->rank; i++)
            od[i] = in->dims[i];
        od[in->rank - 1] = d->units;
        if ((s = kiln_kresize(ctx, out, in->rank, od)) != KILN_OK) return s;
    } else {
        const int32_t od[2] = {d->rows, d->units};
        if ((s = kiln_kresize(ctx, out, 2, od)) != KILN_OK) return s;
    }
    if (d->kind == K_HYBRID) {
        if ((s = setup_quant(ctx, d, in, w, b, out, 0, 0)) != KILN_OK) return s;
        if ((s = check_bias(ctx, b, d->nch, KILN_FLOAT32, KILN_FLOAT32)) != KILN_OK) return s;
        d->xnn = kiln_karith(ctx) == KILN_ARITH_LITERT;
        return hybrid_scratch(ctx, d, n, d->rows);
    }
    if ((s = setup_quant(ctx, d, in, w, b, out, 0, 1)) != KILN_OK) return s;
    return KILN_OK;
}

static void fc_hybrid(kiln_kctx *ctx, const cq *d, const kiln_tensor *in, const kiln_tensor *w,
                      const kiln_tensor *b, kiln_tensor *out) {
    int8_t *q = kiln_kscratch(ctx, d->scratch);
    float *sf = kiln_kscratch(ctx, d->scratch2);
    int32_t *zps = kiln_kscratch(ctx, d->scratch3);
    const float *x = in->data;
    const int8_t *f = w->data;
    const kiln_tensor *bias = b;
    float *y = out->data;
    for (int32_t r = 0; r < d->rows; r++) {
        const float *xr = x + (int64_t)r * d->depth;
        int8_t *qr = q + (int64_t)r * d->depth;
        if (d->xnn)
            xnn_qd8_quantize(xr, d->depth, qr, &sf[r], &zps[r]);
        else if (d->asym)
            asym_quantize(xr, d->depth, qr, &sf[r], &zps[r]);
        else {
            sym_quantize(xr, d->depth, qr, &sf[r]);
            zps[r] = 0;
        }
    }
    for (int32_t r = 0; r < d->rows; r++)
        for (int32_t u = 0; u < d->units; u++) {
            int64_t acc = 0;
            const int8_t *fr = f + (int64_t)u * d->depth;
            const int8_t *qr = q + (int64_t)r * d->depth;
            for (int32_t k = 0; k < d->depth; k++)
                acc += (int64_t)fr[k] * (qr[k] - zps[r]);
            const float v = hybrid_out(d, acc, sf[r], w_scale(w, u), bias, u);
            y[(int64_t)r * d->units + u] = apply_act_f(d->act, v);
        }
}

#if KILN_CQ_X86
/* 8-bit FULLY_CONNECTED with the AVX2 dot products: each input row is widened to int16 with its
 * offset once (in blocks of KILN_CQ_MAX_WINDOW), then dotted with every unit's weights. Each
 * block's int32 sums are exact (as dot_q's), the total is int64 as in dot_q. */
KILN_HOT static int fc_q8_fast(const cq *d, const kiln_tensor *in, const kiln_tensor *w,
                               const kiln_tensor *b, kiln_tensor *out, int32_t w_off) {
    const int u8 = d->kind == K_U8 && in->type == KILN_UINT8 && w->type == KILN_UINT8 &&
                   out->type == KILN_UINT8;
    const int i8 = d->kind == K_I8 && in->type == KILN_INT8 && w->type == KILN_INT8 &&
                   out->type == KILN_INT8 && w_off == 0;
    if (!(u8 || i8) || !(kiln__cpu_features() & KILN_CPU_AVX2)) return 0;
    int16_t p[KILN_CQ_MAX_WINDOW];
    int32_t a[KILN_CQ_ROWS];
    int64_t tot[KILN_CQ_ROWS];
    const int32_t in_off = -d->in_zp, depth = d->depth;
    const int one = depth <= KILN_CQ_MAX_WINDOW; /* the whole row fits: widen it once */
    for (int32_t r = 0; r < d->rows; r++) {
        const int64_t xb = (int64_t)r * depth;
        for (int32_t u0 = 0; u0 < d->units; u0 += KILN_CQ_ROWS) {
            const int32_t nr = d->units - u0 < KILN_CQ_ROWS ? d->units - u0 : KILN_CQ_ROWS;
            for (int32_t j = 0; j < nr; j++)
                tot[j] = 0;
            for (int32_t k0 = 0; k0 < depth; k0 += KILN_CQ_MAX_WINDOW) {
                const int32_t kn =
                    depth - k0 < KILN_CQ_MAX_WINDOW ? depth - k0 : KILN_CQ_MAX_WINDOW;
                if (!one || u0 == 0) {
                    if (u8)
                        for (int32_t i = 0; i < kn; i++)
                            p[i] = (int16_t)(((const uint8_t *)in->data)[xb + k0 + i] + in_off);
                    else
                        for (int32_t i = 0; i < kn; i++)
                            p[i] = (int16_t)(((const int8_t *)in->data)[xb + k0 + i] + in_off);
                }
                memset(a, 0, (size_t)nr * sizeof(int32_t));
                const int64_t fb = (int64_t)u0 * depth + k0;
                if (u8)
                    kiln__qdot_rows_u8i16_avx2((const uint8_t *)w->data + fb, w_off, depth, kn, nr,
                                               p, a);
                else
                    kiln__qdot_rows_i8i16_avx2((const int8_t *)w->data + fb, depth, kn, nr, p, a);
                for (int32_t j = 0; j < nr; j++)
                    tot[j] += a[j];
            }
            /* the int32 accumulator TFLite keeps: the int64 total wrapped */
            for (int32_t j = 0; j < nr; j++)
                a[j] = kiln_wrap_i32(tot[j]);
            requant_row(d, a, b, u0, nr, out, (int64_t)r * d->units + u0, 1);
        }
    }
    return 1;
}
#endif

static kiln_status fc_invoke(kiln_kctx *ctx, kiln_node *node) {
    const cq *d = node->data;
    kiln_tensor *in = node->in[0], *w = node->in[1], *b = IN(node, 2), *out = node->out[0];
    if (d->kind == K_HYBRID) {
        fc_hybrid(ctx, d, in, w, b, out);
        return KILN_OK;
    }
    const void *x = in->data, *f = w->data;
    const int32_t it = in->type, wt = w->type, ot = out->type;
    const int32_t in_off = -d->in_zp;
    /* Per-tensor int8/int16/uint8 weights carry their zero point (TFLite keeps it
     * for backward compatibility); per-channel weights are symmetric. */
    const int32_t w_off = w->q.n > 1 ? 0 : -d->w_zp;
#if KILN_CQ_X86
    if (fc_q8_fast(d, in, w, b, out, w_off)) return KILN_OK;
#endif
    for (int32_t r = 0; r < d->rows; r++)
        for (int32_t u = 0; u < d->units; u++) {
            const int64_t xb = (int64_t)r * d->depth, fb = (int64_t)u * d->depth;
            int64_t acc =
                dot_q(elem_ptr(f, wt, fb), wt, w_off, elem_ptr(x, it, xb), it, in_off, d->depth);
            acc += bias_at(b, u);
            kiln_q_st(out->data, ot, (int64_t)r * d->units + u, requant(d, acc, u));
        }
    return KILN_OK;
}

/* ---- TRANSPOSE_CONV
 * ------------------------------------------------------------------------ */

static kiln_status tconv_prepare(kiln_kctx *ctx, kiln_node *node) {
    if (node->n_in < 3 || node->n_out < 1 || !node->in[0] || !node->in[1] || !node->in[2])
        return kiln_kerr(ctx, KILN_ERR_MODEL,
                         "needs output_shape, weights, input (and bias) and one output");
    kiln_tensor *shp = node->in[0], *w = node->in[1], *in = node->in[2], *b = IN(node, 3);
    kiln_tensor *out = node->out[0];
    cq *d = new_data(ctx, node);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    kiln_status s;
    if ((s = kind_of(ctx, d, in->type, w->type, out->type)) != KILN_OK) return s;
    if (d->kind == K_HYBRID)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "hybrid TRANSPOSE_CONV is not supported");
    if (shp->type != KILN_INT32 || kiln_numel(shp) != 4)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "output_shape must be int32[4]");
    if (in->rank != 4 || w->rank != 4)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "input and filter must be 4-D");
    if (!w->data) return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "the filter must be constant");
    const int32_t padding = kiln_opt_i8(node, 0, 0);
    d->stride_w = kiln_opt_i32(node, 1, 0);
    d->stride_h = kiln_opt_i32(node, 2, 0);
    d->act = kiln_opt_i8(node, 3, 0);
    d->dil_h = d->dil_w = 1;
    if ((s = geometry_check(ctx, d)) != KILN_OK) return s;
    if (padding != 0 && padding != 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "unknown padding %d", padding);
    int32_t od[4];
    if (kiln_kknown(ctx, shp) && shp->data) {
        memcpy(od, shp->data, sizeof od);
        d->shape_known = 1;
    } else {
        /* A runtime shape input: plan with the output's declared shape, check it at
         * invoke. */
        if (out->rank != 4)
            return kiln_kerr(ctx, KILN_ERR_SHAPE,
                             "output_shape is not constant and the output has no 4-D shape");
        memcpy(od, out->dims, sizeof od);
    }
    for (int i = 0; i < 4; i++)
        if (od[i] <= 0) return kiln_kerr(ctx, KILN_ERR_SHAPE, "output_shape[%d] is %d", i, od[i]);
    d->batches = in->dims[0];
    d->in_h = in->dims[1];
    d->in_w = in->dims[2];
    d->in_c = in->dims[3];
    d->out_c = w->dims[0];
    d->k_h = w->dims[1];
    d->k_w = w->dims[2];
    d->w_ic = w->dims[3];
    if (od[0] != d->batches || od[3] != d->out_c || d->w_ic != d->in_c)
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "output_shape [%d,%d,%d,%d] does not fit input channels %d and filter "
                         "[%d,%d,%d,%d]",
                         od[0], od[1], od[2], od[3], d->in_c, w->dims[0], w->dims[1], w->dims[2],
                         w->dims[3]);
    d->out_h = od[1];
    d->out_w = od[2];
    d->nch = d->out_c;
    {
        const int32_t oh = out_size(padding, d->out_h, d->k_h, d->stride_h, 1);
        const int32_t ow = out_size(padding, d->out_w, d->k_w, d->stride_w, 1);
        d->pad_h = pad_size(d->stride_h, 1, d->out_h, d->k_h, oh);
        d->pad_w = pad_size(d->stride_w, 1, d->out_w, d->k_w, ow);
    }
    if ((s = kiln_kresize(ctx, out, 4, od)) != KILN_OK) return s;
    /* With SAME padding and a filter smaller than the stride, the XNNPACK delegate leaves
     * the op to TFLite's built-in kernel (measured against the official runtime). */
    const int xnn_op = !(padding == 0 && (d->k_h < d->stride_h || d->k_w < d->stride_w));
    if ((s = setup_quant(ctx, d, in, w, b, out, 0, xnn_op)) != KILN_OK) return s;
    /* TFLite's int16 transpose conv accumulates in int64 and reads the bias as
     * int64 whatever its declared type (an int32 bias gives garbage in both
     * runtimes): refuse it. */
    if (d->kind == K_I16) {
        if (b && b->type != KILN_INT64)
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                             "int16 TRANSPOSE_CONV needs an int64 bias (have %s)",
                             kiln_dtype_name(b->type));
        d->rq = RQ_ACC64;
    }
    d->scratch = kiln_kscratch_request(ctx, sizeof(int64_t) * (size_t)kiln_numel(out) + 16);
    if (d->scratch < 0) return kiln_kerr(ctx, KILN_ERR_NOMEM, "cannot reserve scratch memory");
    return KILN_OK;
}

static kiln_status tconv_invoke(kiln_kctx *ctx, kiln_node *node) {
    const cq *d = node->data;
    kiln_tensor *shp = node->in[0], *w = node->in[1], *in = node->in[2], *b = IN(node, 3);
    kiln_tensor *out = node->out[0];
    if (!d->shape_known) {
        int32_t sv[4];
        memcpy(sv, shp->data, sizeof sv);
        if (sv[0] != d->batches || sv[1] != d->out_h || sv[2] != d->out_w || sv[3] != d->out_c)
            return kiln_kerr(ctx, KILN_ERR_RUNTIME,
                             "output_shape [%d,%d,%d,%d] differs from the planned [%d,%d,%d,%d]",
                             sv[0], sv[1], sv[2], sv[3], d->batches, d->out_h, d->out_w, d->out_c);
    }
    int64_t *acc = kiln_kscratch(ctx, d->scratch);
    const int64_t total = kiln_numel(out);
    memset(acc, 0, sizeof(int64_t) * (size_t)total);
    const void *x = in->data, *f = w->data;
    const int32_t it = in->type, wt = w->type;
    const int32_t in_off = -d->in_zp;
    const int32_t w_off = d->kind == K_U8 ? -d->w_zp : 0;
    for (int32_t n = 0; n < d->batches; n++)
        for (int32_t iy = 0; iy < d->in_h; iy++)
            for (int32_t ix = 0; ix < d->in_w; ix++) {
                const int32_t oy0 = iy * d->stride_h - d->pad_h;
                const int32_t ox0 = ix * d->stride_w - d->pad_w;
                const int64_t xb = (((int64_t)n * d->in_h + iy) * d->in_w + ix) * d->in_c;
                for (int32_t ky = 0; ky < d->k_h; ky++) {
                    const int32_t oy = oy0 + ky;
                    if (oy < 0 || oy >= d->out_h) continue;
                    for (int32_t kx = 0; kx < d->k_w; kx++) {
                        const int32_t ox = ox0 + kx;
                        if (ox < 0 || ox >= d->out_w) continue;
                        int64_t *ab =
                            acc + (((int64_t)n * d->out_h + oy) * d->out_w + ox) * d->out_c;
                        for (int32_t oc = 0; oc < d->out_c; oc++) {
                            const int64_t fb =
                                (((int64_t)oc * d->k_h + ky) * d->k_w + kx) * d->in_c;
                            ab[oc] += dot_q(elem_ptr(f, wt, fb), wt, w_off, elem_ptr(x, it, xb), it,
                                            in_off, d->in_c);
                        }
                    }
                }
            }
    for (int64_t i = 0; i < total; i++) {
        const int32_t oc = (int32_t)(i % d->out_c);
        kiln_q_st(out->data, out->type, i, requant(d, acc[i] + bias_at(b, oc), oc));
    }
    return KILN_OK;
}

/* ---- BATCH_MATMUL
 * ----------------------------------------------------------------------- */

static kiln_status bmm_prepare(kiln_kctx *ctx, kiln_node *node) {
    if (node->n_in < 2 || node->n_out < 1 || !node->in[0] || !node->in[1])
        return kiln_kerr(ctx, KILN_ERR_MODEL, "needs two inputs and one output");
    kiln_tensor *a = node->in[0], *bt = node->in[1], *out = node->out[0];
    cq *d = new_data(ctx, node);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    kiln_status s;
    if (a->type == KILN_INT8 && bt->type == KILN_INT8 && out->type == KILN_INT8)
        d->kind = K_I8;
    else if (a->type == KILN_INT16 && bt->type == KILN_INT16 && out->type == KILN_INT16)
        d->kind = K_I16;
    else if (a->type == KILN_FLOAT32 && bt->type == KILN_INT8 && out->type == KILN_FLOAT32)
        d->kind = K_HYBRID;
    else
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "inputs %s x %s -> %s are not supported",
                         kiln_dtype_name(a->type), kiln_dtype_name(bt->type),
                         kiln_dtype_name(out->type));
    d->adj_x = kiln_opt_i8(node, 0, 0);
    d->adj_y = kiln_opt_i8(node, 1, 0);
    d->asym = kiln_opt_i8(node, 2, 0);
    if (a->rank < 2 || bt->rank < 2 || a->rank > 5 || bt->rank > 5)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "inputs must be 2-D to 5-D (have %d-D, %d-D)",
                         a->rank, bt->rank);
    const int32_t ar = a->dims[a->rank - 2], ac = a->dims[a->rank - 1];
    const int32_t br = bt->dims[bt->rank - 2], bc = bt->dims[bt->rank - 1];
    d->bm_m = d->adj_x ? ac : ar;
    d->bm_k = d->adj_x ? ar : ac;
    const int32_t kb = d->adj_y ? bc : br;
    d->bm_n = d->adj_y ? br : bc;
    if (kb != d->bm_k)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "inner dimensions differ (%d vs %d)", d->bm_k, kb);
    const int32_t rank = a->rank > bt->rank ? a->rank : bt->rank;
    d->bm_rank = rank;
    /* Broadcast batch dims (right-aligned), 3 slots: strides in matrices. */
    int32_t adims[3] = {1, 1, 1}, bdims[3] = {1, 1, 1};
    for (int32_t i = 0; i < a->rank - 2; i++)
        adims[3 - (a->rank - 2) + i] = a->dims[i];
    for (int32_t i = 0; i < bt->rank - 2; i++)
        bdims[3 - (bt->rank - 2) + i] = bt->dims[i];
    int32_t astr = 1, bstr = 1;
    for (int i = 2; i >= 0; i--) {
        if (adims[i] != bdims[i] && adims[i] != 1 && bdims[i] != 1)
            return kiln_kerr(ctx, KILN_ERR_SHAPE, "batch dims %d and %d do not broadcast", adims[i],
                             bdims[i]);
        d->bm_out[i] = adims[i] > bdims[i] ? adims[i] : bdims[i];
        d->bm_lhs_str[i] = adims[i] == 1 ? 0 : astr;
        d->bm_rhs_str[i] = bdims[i] == 1 ? 0 : bstr;
        astr *= adims[i];
        bstr *= bdims[i];
    }
    int32_t od[5];
    for (int32_t i = 0; i < rank - 2; i++)
        od[i] = d->bm_out[3 - (rank - 2) + i];
    od[rank - 2] = d->bm_m;
    od[rank - 1] = d->bm_n;
    if ((s = kiln_kresize(ctx, out, rank, od)) != KILN_OK) return s;
    d->nch = 1;
    if (d->kind == K_HYBRID) {
        if (!bt->data) return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "hybrid rhs must be constant");
        if (bt->q.n < 1 || !good_scale(bt->q.scale[0]))
            return kiln_kerr(ctx, KILN_ERR_MODEL, "rhs has no valid quantization");
        /* LiteRT (measured against the official runtime) quantizes a hybrid
         * BATCH_MATMUL's input asymmetrically whatever asymmetric_quantize_inputs
         * says. */
        d->xnn = kiln_karith(ctx) == KILN_ARITH_LITERT;
        const int64_t rows = (int64_t)d->bm_out[0] * d->bm_out[1] * d->bm_out[2] * d->bm_m;
        d->scratch4 = kiln_kscratch_request(ctx, sizeof(float) * (size_t)d->bm_k + 16);
        if (d->scratch4 < 0) return kiln_kerr(ctx, KILN_ERR_NOMEM, "cannot reserve scratch");
        return hybrid_scratch(ctx, d, rows * d->bm_k, (int32_t)rows);
    }
    if ((s = check_act_quant(ctx, a, "lhs")) != KILN_OK) return s;
    if ((s = check_act_quant(ctx, bt, "rhs")) != KILN_OK) return s;
    if ((s = check_act_quant(ctx, out, "output")) != KILN_OK) return s;
    d->in_zp = a->q.zero_point[0];
    d->w_zp = bt->q.zero_point[0];
    d->out_zp = out->q.zero_point[0];
    d->act = 0;
    d->rq = d->kind == K_I16 ? RQ_ACC64 : RQ_DOUBLE;
    if (d->kind == K_I16 && (d->in_zp || d->w_zp || d->out_zp))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "int16 BATCH_MATMUL needs zero points 0");
    setup_range(d, out, 0);
    d->mult = kiln_kalloc(ctx, sizeof(int32_t));
    d->shift = kiln_kalloc(ctx, sizeof(int32_t));
    d->fscale = kiln_kalloc(ctx, sizeof(float));
    if (!d->mult || !d->shift || !d->fscale) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    int sh = 0;
    kiln_quantize_multiplier(
        (double)a->q.scale[0] * (double)bt->q.scale[0] / (double)out->q.scale[0], d->mult, &sh);
    d->shift[0] = sh;
    d->fscale[0] = kiln_xnn_scale(a->q.scale[0], bt->q.scale[0], out->q.scale[0]);
    return KILN_OK;
}

static kiln_status bmm_invoke(kiln_kctx *ctx, kiln_node *node) {
    const cq *d = node->data;
    kiln_tensor *a = node->in[0], *bt = node->in[1], *out = node->out[0];
    const int32_t M = d->bm_m, K = d->bm_k, N = d->bm_n;
    const int64_t amat = (int64_t)M * K, bmat = (int64_t)K * N, omat = (int64_t)M * N;
    /* Element (i, k) of lhs and (k, j) of rhs, honouring adj_x / adj_y. */
    const int64_t a_si = d->adj_x ? 1 : K, a_sk = d->adj_x ? M : 1;
    const int64_t b_sk = d->adj_y ? 1 : N, b_sj = d->adj_y ? K : 1;
    int8_t *q = NULL;
    float *sf = NULL;
    int32_t *zps = NULL;
    float *xrow = NULL;
    if (d->kind == K_HYBRID) {
        xrow = kiln_kscratch(ctx, d->scratch4);
        q = kiln_kscratch(ctx, d->scratch);
        sf = kiln_kscratch(ctx, d->scratch2);
        zps = kiln_kscratch(ctx, d->scratch3);
    }
    int64_t row = 0;
    for (int32_t b0 = 0; b0 < d->bm_out[0]; b0++)
        for (int32_t b1 = 0; b1 < d->bm_out[1]; b1++)
            for (int32_t b2 = 0; b2 < d->bm_out[2]; b2++) {
                const int64_t ai = (int64_t)b0 * d->bm_lhs_str[0] + (int64_t)b1 * d->bm_lhs_str[1] +
                                   (int64_t)b2 * d->bm_lhs_str[2];
                const int64_t bi = (int64_t)b0 * d->bm_rhs_str[0] + (int64_t)b1 * d->bm_rhs_str[1] +
                                   (int64_t)b2 * d->bm_rhs_str[2];
                const int64_t oi = (((int64_t)b0 * d->bm_out[1] + b1) * d->bm_out[2] + b2) * omat;
                if (d->kind == K_HYBRID) {
                    const float *x = (const float *)a->data + ai * amat;
                    const int8_t *f = (const int8_t *)bt->data + bi * bmat;
                    float *y = (float *)out->data + oi;
                    for (int32_t i = 0; i < M; i++, row++) {
                        int8_t *qr = q + row * K;
                        for (int32_t k = 0; k < K; k++)
                            xrow[k] = x[i * a_si + k * a_sk];
                        if (d->xnn)
                            xnn_qd8_quantize(xrow, K, qr, &sf[row], &zps[row]);
                        else if (d->asym)
                            asym_quantize(xrow, K, qr, &sf[row], &zps[row]);
                        else {
                            sym_quantize(xrow, K, qr, &sf[row]);
                            zps[row] = 0;
                        }
                        for (int32_t j = 0; j < N; j++) {
                            int64_t acc = 0;
                            for (int32_t k = 0; k < K; k++)
                                acc += (int64_t)f[k * b_sk + j * b_sj] * (qr[k] - zps[row]);
                            y[(int64_t)i * N + j] =
                                hybrid_out(d, acc, sf[row], bt->q.scale[0], NULL, 0);
                        }
                    }
                    continue;
                }
                for (int32_t i = 0; i < M; i++)
                    for (int32_t j = 0; j < N; j++) {
                        int64_t acc = 0;
                        for (int32_t k = 0; k < K; k++) {
                            const int32_t av =
                                kiln_q_ld(a->data, a->type, ai * amat + i * a_si + k * a_sk);
                            const int32_t bv =
                                kiln_q_ld(bt->data, bt->type, bi * bmat + k * b_sk + j * b_sj);
                            acc += (int64_t)(av - d->in_zp) * (bv - d->w_zp);
                        }
                        kiln_q_st(out->data, out->type, oi + (int64_t)i * N + j,
                                  requant(d, acc, 0));
                    }
            }
    return KILN_OK;
}

/* ---- registration
 * ------------------------------------------------------------------------ */

const kiln_kernel_reg kiln__k_conv_q[] = {
    {KILN_OP_CONV_2D, 1, 8, KILN_INT8, KILN_INT8, conv_prepare, conv_invoke},
    {KILN_OP_CONV_2D, 1, 8, KILN_INT16, KILN_INT8, conv_prepare, conv_invoke},
    {KILN_OP_CONV_2D, 1, 8, KILN_UINT8, KILN_UINT8, conv_prepare, conv_invoke},
    {KILN_OP_CONV_2D, 1, 8, KILN_FLOAT32, KILN_INT8, conv_prepare, conv_invoke},
    {KILN_OP_DEPTHWISE_CONV_2D, 1, 7, KILN_INT8, KILN_INT8, conv_prepare, conv_invoke},
    {KILN_OP_DEPTHWISE_CONV_2D, 1, 7, KILN_INT16, KILN_INT8, conv_prepare, conv_invoke},
    {KILN_OP_DEPTHWISE_CONV_2D, 1, 7, KILN_UINT8, KILN_UINT8, conv_prepare, conv_invoke},
    {KILN_OP_DEPTHWISE_CONV_2D, 1, 7, KILN_FLOAT32, KILN_INT8, conv_prepare, conv_invoke},
    {KILN_OP_FULLY_CONNECTED, 1, 13, KILN_INT8, KILN_INT8, fc_prepare, fc_invoke},
    {KILN_OP_FULLY_CONNECTED, 1, 13, KILN_INT16, KILN_INT8, fc_prepare, fc_invoke},
    {KILN_OP_FULLY_CONNECTED, 1, 13, KILN_UINT8, KILN_UINT8, fc_prepare, fc_invoke},
    {KILN_OP_FULLY_CONNECTED, 1, 13, KILN_FLOAT32, KILN_INT8, fc_prepare, fc_invoke},
    {KILN_OP_TRANSPOSE_CONV, 1, 5, KILN_INT32, KILN_INT8, tconv_prepare, tconv_invoke},
    {KILN_OP_TRANSPOSE_CONV, 1, 5, KILN_INT32, KILN_UINT8, tconv_prepare, tconv_invoke},
    {KILN_OP_BATCH_MATMUL, 1, 4, KILN_INT8, KILN_INT8, bmm_prepare, bmm_invoke},
    {KILN_OP_BATCH_MATMUL, 1, 4, KILN_INT16, KILN_INT16, bmm_prepare, bmm_invoke},
    {KILN_OP_BATCH_MATMUL, 1, 4, KILN_FLOAT32, KILN_INT8, bmm_prepare, bmm_invoke},
    {-1, 0, 0, 0, 0, NULL, NULL},
};
