/* elementwise_q.c: integer (int8, int16, uint8) elementwise, activation, pooling, softmax,
 * reduction and (re)quantization kernels. The tflm dialect follows TFLite's reference kernels
 * (reference_ops / reference_integer_ops, as TFLite Micro runs them); the litert dialect follows
 * the official desktop runtime: XNNPACK's arithmetic for the ops its delegate takes (int8 add,
 * sub, mul, quantize, logistic, tanh), TFLite's built-in kernels elsewhere. */
#include <math.h>
#include <string.h>

#include "kernels/fixedpoint.h"
#include "kernels/kernel.h"
#include "kernels/ops.h"
#include "kernels/quant.h"
#include "kernels/ref/act.h"
#include "kernels/ref/broadcast.h"
#include "kernels/ref/check.h"
#include "kernels/ref/qio.h"
#include "kernels/ref/tables.h"

/* ---------------------------------------------------------------------------------------------
 * Helpers */

static int is_qtype(int32_t t) {
    return t == KILN_INT8 || t == KILN_INT16 || t == KILN_UINT8;
}

static void type_range(int32_t t, int32_t *lo, int32_t *hi) {
    switch (t) {
    case KILN_INT8:
        *lo = -128;
        *hi = 127;
        break;
    case KILN_UINT8:
        *lo = 0;
        *hi = 255;
        break;
    case KILN_INT16:
        *lo = -32768;
        *hi = 32767;
        break;
    default:
        *lo = INT32_MIN;
        *hi = INT32_MAX;
    }
}

/* Per-tensor scale and zero point; error when the tensor is not per-tensor quantized. */
static kiln_status qparams(kiln_kctx *ctx, const kiln_tensor *t, const char *what, float *scale,
                           int32_t *zp) {
    if (t->q.n < 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s (%s) must be quantized", what, t->name);
    *scale = t->q.scale[0];
    *zp = t->q.zero_point[0];
    if (!(*scale > 0.0f))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s (%s) has scale %g (must be > 0)", what, t->name,
                         (double)*scale);
    int32_t lo, hi;
    type_range(t->type, &lo, &hi);
    if (*zp < lo || *zp > hi)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s (%s) zero point %d is outside the %s range", what,
                         t->name, *zp, kiln_dtype_name(t->type));
    return KILN_OK;
}

/* TFLite's CalculateActivationRangeQuantized: the fused activation as a clamp on output codes. */
static kiln_status act_range_q(kiln_kctx *ctx, int32_t act, const kiln_tensor *out, int32_t *lo,
                               int32_t *hi) {
    int32_t qmin, qmax;
    type_range(out->type, &qmin, &qmax);
    const float s = out->q.scale[0];
    const int32_t zp = out->q.zero_point[0];
    int32_t a = qmin, b = qmax;
    switch (act) {
    case KILN_ACT_NONE:
        break;
    case KILN_ACT_RELU:
        a = zp > qmin ? zp : qmin;
        break;
    case KILN_ACT_RELU6: {
        const int32_t six = zp + (int32_t)roundf(6.0f / s);
        a = zp > qmin ? zp : qmin;
        b = six < qmax ? six : qmax;
        break;
    }
    case KILN_ACT_RELU_N1_TO_1: {
        const int32_t m1 = zp + (int32_t)roundf(-1.0f / s), p1 = zp + (int32_t)roundf(1.0f / s);
        a = m1 > qmin ? m1 : qmin;
        b = p1 < qmax ? p1 : qmax;
        break;
    }
    default:
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "fused activation %s is not supported here",
                         kiln_act_name(act));
    }
    *lo = a;
    *hi = b;
    return KILN_OK;
}

static kiln_status check_io(kiln_kctx *ctx, const kiln_node *n, int32_t nin, int32_t nout) {
    if (n->n_in < nin || n->n_out != nout)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "expects %d inputs and %d outputs, has %d and %d",
                         nin, nout, n->n_in, n->n_out);
    for (int32_t i = 0; i < nin; i++)
        if (!n->in[i]) return kiln_kerr(ctx, KILN_ERR_MODEL, "input %d is missing", i);
    return KILN_OK;
}

static kiln_status same_shape_out(kiln_kctx *ctx, const kiln_node *n) {
    kiln_tensor *x = n->in[0], *y = n->out[0];
    if (y->type != x->type)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "output type %s differs from input type %s",
                         kiln_dtype_name(y->type), kiln_dtype_name(x->type));
    return kiln_kresize(ctx, y, x->rank, x->dims);
}

/* ---------------------------------------------------------------------------------------------
 * ADD, SUB (int8, int16, uint8; general rescaling path of the reference kernels) */

typedef struct {
    kiln_bcast bc;
    int32_t type, lo, hi;
    int32_t off1, off2, out_off, left_shift;
    int32_t m1, m2, mo;
    int s1, s2, so;
    int sub;
    /* litert int8 (XNNPACK): acc = bias + a*am + b*bm, out = acc >> shift + zp. */
    int xnn;
    int32_t xa, xb, xbias, xzp;
    uint32_t xshift;
} addsub_data;

/* TFLite's QuantizeMultiplier of a non-negative ratio, refusing ratios whose shift leaves the
 * range the integer arithmetic supports (a malformed or extreme scale must be an error, not
 * undefined shifts). */
static kiln_status qmul(kiln_kctx *ctx, double real, int32_t *m, int *shift) {
    if (real < 0.0)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "scale ratio %g is out of range", real);
    return kiln_kqmul(ctx, real, m, shift);
}

static uint32_t f2u(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float u2f(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static kiln_status bcast_prepare(kiln_kctx *ctx, kiln_node *n, kiln_bcast *bc) {
    kiln_tensor *a = n->in[0], *b = n->in[1];
    int32_t r, d[KILN_MAX_RANK];
    if (kiln_bcast_shape2(a->rank, a->dims, b->rank, b->dims, &r, d))
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "input shapes cannot be broadcast together");
    kiln_status s = kiln_kresize(ctx, n->out[0], r, d);
    if (s) return s;
    kiln_bcast_init2(bc, a->rank, a->dims, b->rank, b->dims, r, d);
    return KILN_OK;
}

/* The walk of the broadcast binary ops (ADD/SUB, MUL, MAXIMUM/MINIMUM): every output element in
 * order from the two stored input values it reads, through elem (given the op's data d; returns
 * the stored output value, already clamped). Inline, so that elem is inlined in each loop. */
static inline void bcast_binary(const kiln_node *n, const void *d, const kiln_bcast *bc,
                                int32_t type, int32_t (*elem)(const void *, int32_t, int32_t)) {
    const void *pa = n->in[0]->data, *pb = n->in[1]->data;
    void *py = n->out[0]->data;
    kiln_bcast_it it;
    kiln_bcast_begin(&it);
    const int64_t sa = bc->stride[0][bc->rank - 1], sb = bc->stride[1][bc->rank - 1];
    for (int64_t r = 0; r < bc->rows; r++) {
        for (int64_t i = 0; i < bc->len; i++) {
            const int32_t a = kiln_q_ld(pa, type, it.off[0] + i * sa);
            const int32_t b = kiln_q_ld(pb, type, it.off[1] + i * sb);
            kiln_q_st(py, type, r * bc->len + i, elem(d, a, b));
        }
        kiln_bcast_next(bc, &it);
    }
}

/* The common part of the quantized binary ops' prepare: two int8/int16 inputs of the output's
 * type, the broadcast plan and the three tensors' quantization. */
typedef struct {
    float sa, sb, so;
    int32_t za, zb, zo;
} binq;

static kiln_status binary_q_prepare(kiln_kctx *ctx, kiln_node *n, kiln_bcast *bc, binq *q) {
    kiln_status s = check_io(ctx, n, 2, 1);
    if (s) return s;
    kiln_tensor *a = n->in[0], *b = n->in[1], *y = n->out[0];
    if (a->type != b->type || a->type != y->type ||
        (a->type != KILN_INT8 && a->type != KILN_INT16 && a->type != KILN_UINT8))
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                         "inputs %s and %s with output %s: expected int8, int16 or uint8 "
                         "throughout",
                         kiln_dtype_name(a->type), kiln_dtype_name(b->type),
                         kiln_dtype_name(y->type));
    if ((s = bcast_prepare(ctx, n, bc))) return s;
    if ((s = qparams(ctx, a, "input 0", &q->sa, &q->za)) ||
        (s = qparams(ctx, b, "input 1", &q->sb, &q->zb)) ||
        (s = qparams(ctx, y, "output", &q->so, &q->zo)))
        return s;
    return KILN_OK;
}

static kiln_status addsub_prepare(kiln_kctx *ctx, kiln_node *n) {
    addsub_data *d = (addsub_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return KILN_ERR_NOMEM;
    n->data = d;
    binq q;
    kiln_status s = binary_q_prepare(ctx, n, &d->bc, &q);
    if (s) return s;
    kiln_tensor *a = n->in[0], *y = n->out[0];
    const float sa = q.sa, sb = q.sb, so = q.so;
    const int32_t za = q.za, zb = q.zb, zo = q.zo;
    if (a->type == KILN_INT16 && (za || zb || zo))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "int16 zero points must be 0");
    const int32_t act = kiln_opt_i8(n, n->op == KILN_OP_ADD ? 0 : 0, 0);
    if ((s = act_range_q(ctx, act, y, &d->lo, &d->hi))) return s;
    d->type = a->type;
    d->sub = n->op == KILN_OP_SUB;
    d->off1 = -za;
    d->off2 = -zb;
    d->out_off = zo;
    d->left_shift = a->type == KILN_INT16 ? 15 : 20;
    if (d->sub && kiln_karith(ctx) == KILN_ARITH_TFLM) {
        /* TFLite Micro's SUB computes the rescaling ratios in float (ADD, and the desktop
         * runtime's SUB, in double); the multipliers can differ in the last bit. */
        const float twice_max = 2.0f * (sa > sb ? sa : sb);
        if ((s = qmul(ctx, (double)(sa / twice_max), &d->m1, &d->s1))) return s;
        if ((s = qmul(ctx, (double)(sb / twice_max), &d->m2, &d->s2))) return s;
        if ((s = qmul(ctx, (double)(twice_max / ((float)(1 << d->left_shift) * so)), &d->mo,
                      &d->so)))
            return s;
    } else {
        const double twice_max = 2.0 * (double)(sa > sb ? sa : sb);
        if ((s = qmul(ctx, (double)sa / twice_max, &d->m1, &d->s1))) return s;
        if ((s = qmul(ctx, (double)sb / twice_max, &d->m2, &d->s2))) return s;
        if ((s = qmul(ctx, twice_max / ((double)(1 << d->left_shift) * (double)so), &d->mo,
                      &d->so)))
            return s;
    }
    if (kiln_karith(ctx) == KILN_ARITH_LITERT && a->type != KILN_INT16) {
        /* XNNPACK's qs8/qu8 add: 20-bit multipliers for the larger scale ratio. */
        const float ra = sa / so, rb = (d->sub ? -sb : sb) / so;
        const float aa = fabsf(ra), ab = fabsf(rb);
        const float mx = aa > ab ? aa : ab;
        /* Outside XNNPACK's ratio range the delegate leaves the node to TFLite's built-in
         * kernel: the reference arithmetic above. */
        if (!(aa >= 0x1.0p-10f && ab >= 0x1.0p-10f && aa < 0x1.0p+8f && ab < 0x1.0p+8f))
            return KILN_OK;
        const int32_t exp = (int32_t)(f2u(mx) >> 23) - 127;
        const uint32_t shift = (uint32_t)(20 - exp);
        const int32_t ma = (int32_t)lrintf(u2f(f2u(aa) + (shift << 23)));
        const int32_t mb = (int32_t)lrintf(u2f(f2u(ab) + (shift << 23)));
        d->xa = signbit(ra) ? -ma : ma;
        d->xb = signbit(rb) ? -mb : mb;
        d->xbias = (int32_t)((1 << (shift - 1)) - d->xa * za - d->xb * zb);
        d->xshift = shift;
        d->xzp = zo;
        d->xnn = 1;
    }
    return KILN_OK;
}

static int32_t addsub_elem(const void *dv, int32_t x, int32_t w) {
    const addsub_data *d = (const addsub_data *)dv;
    int32_t out;
    if (d->xnn) {
        const int32_t acc = d->xbias + x * d->xa + w * d->xb;
        out = (acc >> d->xshift) + d->xzp;
    } else {
        const int32_t v1 = (d->off1 + x) * (1 << d->left_shift);
        const int32_t v2 = (d->off2 + w) * (1 << d->left_shift);
        const int32_t a1 = kiln_mbqm(v1, d->m1, d->s1);
        const int32_t a2 = kiln_mbqm(v2, d->m2, d->s2);
        const int32_t raw = d->sub ? a1 - a2 : a1 + a2;
        out = kiln_mbqm(raw, d->mo, d->so) + d->out_off;
    }
    return kiln_clamp_i32(out, d->lo, d->hi);
}

static kiln_status addsub_invoke(kiln_kctx *ctx, kiln_node *n) {
    (void)ctx;
    const addsub_data *d = (const addsub_data *)n->data;
    bcast_binary(n, d, &d->bc, d->type, addsub_elem);
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * MUL (int8, int16, uint8) */

typedef struct {
    kiln_bcast bc;
    int32_t type, lo, hi, za, zb, zo, m;
    int shift;
    int xnn;
    float xscale;
} mul_data;

static kiln_status mul_prepare(kiln_kctx *ctx, kiln_node *n) {
    mul_data *d = (mul_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return KILN_ERR_NOMEM;
    n->data = d;
    binq q;
    kiln_status s = binary_q_prepare(ctx, n, &d->bc, &q);
    if (s) return s;
    kiln_tensor *a = n->in[0], *y = n->out[0];
    const float sa = q.sa, sb = q.sb, so = q.so;
    d->za = q.za;
    d->zb = q.zb;
    d->zo = q.zo;
    if ((s = act_range_q(ctx, kiln_opt_i8(n, 0, 0), y, &d->lo, &d->hi))) return s;
    d->type = a->type;
    if ((s = qmul(ctx, (double)sa * (double)sb / (double)so, &d->m, &d->shift))) return s;
    if (kiln_karith(ctx) == KILN_ARITH_LITERT && a->type != KILN_INT16) {
        d->xnn = 1;
        d->xscale = (sa * sb) / so; /* XNNPACK computes the product scale in float */
    }
    return KILN_OK;
}

static int32_t mul_elem(const void *dv, int32_t a, int32_t b) {
    const mul_data *d = (const mul_data *)dv;
    const int32_t x = a - d->za, w = b - d->zb;
    int32_t out;
    if (d->xnn)
        out = kiln_requant_fp32(x * w, d->xscale, d->zo, d->lo, d->hi);
    else
        out = kiln_mbqm(x * w, d->m, d->shift) + d->zo;
    return kiln_clamp_i32(out, d->lo, d->hi);
}

static kiln_status mul_invoke(kiln_kctx *ctx, kiln_node *n) {
    (void)ctx;
    const mul_data *d = (const mul_data *)n->data;
    bcast_binary(n, d, &d->bc, d->type, mul_elem);
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * AVERAGE_POOL_2D, MAX_POOL_2D (int8, int16, uint8) */

typedef struct {
    int32_t type, sw, sh, fw, fh, pw, ph, lo, hi;
    int32_t nb, ih, iw, c, oh, ow;
} pool_data;

/* TFLite's padding rule (ComputePaddingHeightWidth with dilation 1). */
static int32_t pool_out_size(int32_t padding, int32_t in, int32_t f, int32_t stride) {
    return padding == 0 ? (in + stride - 1) / stride : (in - f + stride) / stride;
}

static kiln_status pool_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = check_io(ctx, n, 1, 1);
    if (s) return s;
    kiln_tensor *x = n->in[0], *y = n->out[0];
    if (x->rank != 4)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "input must have rank 4, has %d", x->rank);
    if (y->type != x->type)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "output type differs from input type");
    pool_data *d = (pool_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return KILN_ERR_NOMEM;
    n->data = d;
    const int32_t padding = kiln_opt_i8(n, 0, 0);
    d->sw = kiln_opt_i32(n, 1, 0);
    d->sh = kiln_opt_i32(n, 2, 0);
    d->fw = kiln_opt_i32(n, 3, 0);
    d->fh = kiln_opt_i32(n, 4, 0);
    if (d->sw <= 0 || d->sh <= 0 || d->fw <= 0 || d->fh <= 0)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "strides %dx%d and filter %dx%d must be positive",
                         d->sh, d->sw, d->fh, d->fw);
    if (padding != 0 && padding != 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "unknown padding %d", padding);
    d->type = x->type;
    d->nb = x->dims[0];
    d->ih = x->dims[1];
    d->iw = x->dims[2];
    d->c = x->dims[3];
    d->oh = pool_out_size(padding, d->ih, d->fh, d->sh);
    d->ow = pool_out_size(padding, d->iw, d->fw, d->sw);
    if (d->oh < 0 || d->ow < 0)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "filter %dx%d is larger than the input %dx%d", d->fh,
                         d->fw, d->ih, d->iw);
    int32_t ph = ((d->oh - 1) * d->sh + d->fh - d->ih) / 2,
            pw = ((d->ow - 1) * d->sw + d->fw - d->iw) / 2;
    d->ph = ph > 0 ? ph : 0;
    d->pw = pw > 0 ? pw : 0;
    float sx, sy;
    int32_t zx, zy;
    if ((s = qparams(ctx, x, "input", &sx, &zx)) || (s = qparams(ctx, y, "output", &sy, &zy)))
        return s;
    if ((s = act_range_q(ctx, kiln_opt_i8(n, 5, 0), y, &d->lo, &d->hi))) return s;
    const int32_t dims[4] = {d->nb, d->oh, d->ow, d->c};
    return kiln_kresize(ctx, y, 4, dims);
}

static kiln_status pool_invoke(kiln_kctx *ctx, kiln_node *n) {
    const pool_data *d = (const pool_data *)n->data;
    const int avg = n->op == KILN_OP_AVERAGE_POOL_2D;
    const void *px = n->in[0]->data;
    void *py = n->out[0]->data;
    for (int32_t b = 0; b < d->nb; b++)
        for (int32_t oy = 0; oy < d->oh; oy++)
            for (int32_t ox = 0; ox < d->ow; ox++) {
                const int32_t iy0 = oy * d->sh - d->ph, ix0 = ox * d->sw - d->pw;
                const int32_t fy0 = iy0 < 0 ? -iy0 : 0, fx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t fy1 = d->fh < d->ih - iy0 ? d->fh : d->ih - iy0;
                const int32_t fx1 = d->fw < d->iw - ix0 ? d->fw : d->iw - ix0;
                const int32_t count = (fy1 - fy0) * (fx1 - fx0);
                if (avg && count <= 0)
                    return kiln_kerr(ctx, KILN_ERR_RUNTIME, "a pooling window covers no input");
                for (int32_t c = 0; c < d->c; c++) {
                    int32_t acc = avg ? 0 : INT32_MIN;
                    for (int32_t fy = fy0; fy < fy1; fy++)
                        for (int32_t fx = fx0; fx < fx1; fx++) {
                            const int64_t idx =
                                (((int64_t)b * d->ih + iy0 + fy) * d->iw + ix0 + fx) * d->c + c;
                            const int32_t v = kiln_q_ld(px, d->type, idx);
                            if (avg)
                                acc += v;
                            else if (v > acc)
                                acc = v;
                        }
                    if (avg) /* rounds half away from zero, as the reference kernel */
                        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    const int64_t o = (((int64_t)b * d->oh + oy) * d->ow + ox) * d->c + c;
                    kiln_q_st(py, d->type, o, kiln_clamp_i32(acc, d->lo, d->hi));
                }
            }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * QUANTIZE: float32 -> int8/uint8/int16 (affine), and integer -> integer (requantize) */

typedef struct {
    int32_t in_type, out_type, lo, hi, zi, zo, m;
    int shift;
    float scale, inv_scale;
    int xnn; /* litert int8 -> int8: XNNPACK's qs8 convert */
    int dbl; /* litert float -> int16/uint8: x / scale in double */
    int32_t xmult, xbias;
} quant_data;

static kiln_status quantize_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = check_io(ctx, n, 1, 1);
    if (s) return s;
    kiln_tensor *x = n->in[0], *y = n->out[0];
    if (!is_qtype(y->type) && y->type != KILN_INT32)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "output type %s is not supported",
                         kiln_dtype_name(y->type));
    quant_data *d = (quant_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return KILN_ERR_NOMEM;
    n->data = d;
    d->in_type = x->type;
    d->out_type = y->type;
    float so;
    if ((s = qparams(ctx, y, "output", &so, &d->zo))) return s;
    type_range(y->type, &d->lo, &d->hi);
    if (x->type == KILN_FLOAT32) {
        if (y->q.n > 1)
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "per-channel output quantization");
        d->scale = so;
        d->inv_scale = 1.0f / so;
        d->xnn = kiln_karith(ctx) == KILN_ARITH_LITERT && y->type == KILN_INT8;
        d->dbl = kiln_karith(ctx) == KILN_ARITH_LITERT;
    } else if (is_qtype(x->type) || x->type == KILN_INT32) {
        float si;
        if ((s = qparams(ctx, x, "input", &si, &d->zi))) return s;
        if ((s = qmul(ctx, (double)si / (double)so, &d->m, &d->shift))) return s;
        if (kiln_karith(ctx) == KILN_ARITH_LITERT && x->type == y->type &&
            (x->type == KILN_INT8 || x->type == KILN_UINT8)) {
            /* XNNPACK's qs8/qu8 convert. */
            const float r = si / so;
            if (r >= 0x1.0p-8f && r <= 0x1.0p+7f) {
                d->xnn = 1;
                d->xmult = (int32_t)lrintf(256.0f * r);
                d->xbias = d->zo * 256 - d->xmult * d->zi + 0x80;
            }
        }
    } else {
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "input type %s is not supported",
                         kiln_dtype_name(x->type));
    }
    return kiln_kresize(ctx, y, x->rank, x->dims);
}

static kiln_status quantize_invoke(kiln_kctx *ctx, kiln_node *n) {
    (void)ctx;
    const quant_data *d = (const quant_data *)n->data;
    const int64_t count = kiln_numel(n->in[0]);
    const void *px = n->in[0]->data;
    void *py = n->out[0]->data;
    if (d->in_type == KILN_FLOAT32) {
        const float *x = (const float *)px;
        for (int64_t i = 0; i < count; i++) {
            int32_t q;
            if (d->xnn) {
                /* XNNPACK: x * (1/scale), clamped, rounded to nearest even, plus zero point. */
                float f = x[i] * d->inv_scale;
                const float flo = (float)(d->lo - d->zo), fhi = (float)(d->hi - d->zo);
                f = f < flo ? flo : (f > fhi ? fhi : f);
                q = (int32_t)lrintf(f) + d->zo;
            } else {
                /* TFLite's AffineQuantize: round(x / scale) half away from zero, then clamp.
                 * The desktop runtime divides in double (its QuantizationParams hold a double
                 * scale), TFLite Micro in float: they part where x/scale is within an ulp of
                 * a .5 tie. */
                const double r = d->dbl ? round((double)x[i] / (double)d->scale)
                                        : (double)roundf(x[i] / d->scale);
                const double lim = 2147483520.0;
                q = (int32_t)(r > lim ? lim : (r < -lim ? -lim : r));
                q = (int32_t)((int64_t)q + d->zo > INT32_MAX ? INT32_MAX : q + (int64_t)d->zo);
            }
            kiln_q_st(py, d->out_type, i, kiln_clamp_i32(q, d->lo, d->hi));
        }
    } else {
        for (int64_t i = 0; i < count; i++) {
            const int32_t v = kiln_q_ld(px, d->in_type, i);
            int32_t q;
            if (d->xnn)
                q = (d->xbias + v * d->xmult) >> 8;
            else
                q = kiln_mbqm(kiln_sat_i32((int64_t)v - d->zi), d->m, d->shift) + d->zo;
            kiln_q_st(py, d->out_type, i, kiln_clamp_i32(q, d->lo, d->hi));
        }
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU (int8, int16, uint8): requantize then clamp */

typedef struct {
    int32_t type, zi, zo, lo, hi, m_id, m_alpha;
    int s_id, s_alpha;
    int xnn; /* litert 8-bit LEAKY_RELU: XNNPACK's 8-bit fixed-point multipliers */
    int32_t xpos, xneg;
    int raw; /* tflm RELU6: clamp the codes in the input's quantization, no rescaling */
} relu_data;

static kiln_status relu_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = check_io(ctx, n, 1, 1);
    if (s) return s;
    kiln_tensor *x = n->in[0], *y = n->out[0];
    if ((s = same_shape_out(ctx, n))) return s;
    relu_data *d = (relu_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return KILN_ERR_NOMEM;
    n->data = d;
    float si, so;
    if ((s = qparams(ctx, x, "input", &si, &d->zi)) || (s = qparams(ctx, y, "output", &so, &d->zo)))
        return s;
    d->type = x->type;
    int32_t act = KILN_ACT_NONE;
    if (n->op == KILN_OP_RELU)
        act = KILN_ACT_RELU;
    else if (n->op == KILN_OP_RELU6)
        act = KILN_ACT_RELU6;
    else if (n->op == KILN_OP_RELU_N1_TO_1)
        act = KILN_ACT_RELU_N1_TO_1;
    if ((s = act_range_q(ctx, act, y, &d->lo, &d->hi))) return s;
    /* TFLite divides the two float scales in float, then widens the ratio to double. */
    if ((s = qmul(ctx, (double)(si / so), &d->m_id, &d->s_id))) return s;
    if (n->op == KILN_OP_RELU6 && kiln_karith(ctx) == KILN_ARITH_TFLM) {
        /* TFLite Micro's RELU6 clamps to [zp, zp + round(6 / scale)] of the input's
         * quantization and copies the codes (the desktop runtime requantizes). */
        int32_t qmin, qmax;
        type_range(x->type, &qmin, &qmax);
        d->raw = 1;
        d->lo = d->zi;
        d->hi = kiln_clamp_i32(d->zi + (int32_t)roundf(6.0f / si), qmin, qmax);
    }
    if (n->op == KILN_OP_LEAKY_RELU) {
        const float alpha = kiln_opt_f32(n, 0, 0.0f);
        /* TFLite forms both leaky-relu ratios in float, then widens them. */
        if ((s = qmul(ctx, (double)(si / so), &d->m_id, &d->s_id))) return s;
        if ((s = kiln_kqmul(ctx, (double)(si * alpha / so), &d->m_alpha, &d->s_alpha)))
            return s;
        const float pos = si / so, neg = pos * alpha;
        /* XNNPACK takes the node only for a normal alpha and ratios in its range; otherwise
         * TFLite's built-in kernel runs it (the fixed-point path). */
        if (kiln_karith(ctx) == KILN_ARITH_LITERT && x->type != KILN_INT16 && isnormal(alpha) &&
            pos >= 0x1.0p-8f && pos <= 0x1.0p+7f && neg >= -0x1.FFFC00p+6f && neg <= 0x1.0p+7f &&
            fabsf(neg) >= 0x1.0p-8f) {
            d->xnn = 1;
            d->xpos = (int32_t)lrintf(256.0f * pos);
            d->xneg = (int32_t)lrintf(256.0f * neg);
        }
    } else {
        d->m_alpha = d->m_id;
        d->s_alpha = d->s_id;
    }
    return KILN_OK;
}

static kiln_status relu_invoke(kiln_kctx *ctx, kiln_node *n) {
    (void)ctx;
    const relu_data *d = (const relu_data *)n->data;
    const int64_t count = kiln_numel(n->in[0]);
    const void *px = n->in[0]->data;
    void *py = n->out[0]->data;
    const int leaky = n->op == KILN_OP_LEAKY_RELU;
    for (int64_t i = 0; i < count; i++) {
        const int32_t v = kiln_q_ld(px, d->type, i) - d->zi;
        int32_t q;
        if (d->raw)
            q = v + d->zi;
        else if (d->xnn)
            q = (d->zo * 256 + 0x80 + v * (v >= 0 ? d->xpos : d->xneg)) >> 8;
        else if (leaky && v < 0)
            q = kiln_mbqm(v, d->m_alpha, d->s_alpha) + d->zo;
        else
            q = kiln_mbqm(v, d->m_id, d->s_id) + d->zo;
        kiln_q_st(py, d->type, i, kiln_clamp_i32(q, d->lo, d->hi));
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * LOGISTIC, TANH (int8, uint8: fixed point in tflm, float LUT in litert; int16: TFLite's
 * sigmoid table with interpolation) */

typedef struct {
    int32_t type, zi, radius, mult;
    int left_shift;
    uint8_t *lut; /* int8/uint8 lookup table (litert, uint8), indexed by the raw byte */
    int use_lut;
    int gl; /* litert int16 with a power-of-two input scale: gemmlowp's int16 fixed point */
} sig_data;

static kiln_status sig_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = check_io(ctx, n, 1, 1);
    if (s) return s;
    kiln_tensor *x = n->in[0], *y = n->out[0];
    if ((s = same_shape_out(ctx, n))) return s;
    sig_data *d = (sig_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return KILN_ERR_NOMEM;
    n->data = d;
    d->type = x->type;
    float si, so;
    int32_t zo;
    if ((s = qparams(ctx, x, "input", &si, &d->zi)) || (s = qparams(ctx, y, "output", &so, &zo)))
        return s;
    const int tanh_op = n->op == KILN_OP_TANH;
    if (x->type == KILN_INT16) {
        /* TFLite's int16 rule: zero points 0, and the input rescaled so that 2^17 codes
         * span [-10.7, 10.7] for the table (a 3/4 factor folded into the multiplier); a
         * power-of-two input scale of 2^-12 uses the multiplier 3 directly. */
        if (d->zi != 0 || zo != 0)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "int16 zero points must be 0");
        const double l = log2((double)si);
        const int pot = fabs(l - round(l)) < 1e-3 && (15 - 3) + (int)round(l) == 0;
        const int ls = (15 - 3) + (int)round(l);
        if (kiln_karith(ctx) == KILN_ARITH_LITERT && fabs(l - round(l)) < 1e-3 &&
            (ls == 0 || (ls == 1 && tanh_op))) {
            /* The desktop runtime's optimized kernels: gemmlowp on the raw Q3.12 input (tanh
             * doubles it first for a 2^-11 scale). */
            d->gl = 1;
            d->left_shift = ls;
            return KILN_OK;
        }
        if (pot) {
            d->mult = 0;
            d->left_shift = 0;
        } else {
            double mult = (double)si * 4096.0 * 3.0;
            int32_t shift = 0;
            while (mult <= 32767.0 / 2.0 && shift <= 30) {
                shift++;
                mult *= 2.0;
            }
            d->mult = (int32_t)mult;
            d->left_shift = shift;
            if (d->mult == 0) /* TFLite would take it for the power-of-two case: 3 << 31 */
                return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                                 "input scale %g is too small for the int16 table", (double)si);
        }
        return KILN_OK;
    }
    if (x->type != KILN_INT8 && x->type != KILN_UINT8)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "type %s is not supported",
                         kiln_dtype_name(x->type));
    const int32_t want_zo =
        tanh_op ? (x->type == KILN_INT8 ? 0 : 128) : (x->type == KILN_INT8 ? -128 : 0);
    const float want_so = tanh_op ? 1.0f / 128.0f : 1.0f / 256.0f;
    if (zo != want_zo || so != want_so)
        return kiln_kerr(ctx, KILN_ERR_MODEL,
                         "output must have scale %g and zero point %d (has %g and %d)",
                         (double)want_so, want_zo, (double)so, zo);
    if (kiln_karith(ctx) == KILN_ARITH_LITERT || x->type == KILN_UINT8) {
        /* A float lookup table, as XNNPACK (and TFLite's optimized uint8 kernels) build it. */
        d->lut = (uint8_t *)kiln_kalloc(ctx, 256);
        if (!d->lut) return KILN_ERR_NOMEM;
        int32_t lo, hi;
        type_range(x->type, &lo, &hi);
        for (int32_t v = lo; v <= hi; v++) {
            const float xf = si * (float)(v - d->zi);
            const float f = tanh_op ? tanhf(xf) : 1.0f / (1.0f + expf(-xf));
            long q = lrintf(f / so) + zo;
            q = q < lo ? lo : (q > hi ? hi : q);
            d->lut[(uint8_t)v] = (uint8_t)q;
        }
        d->use_lut = 1;
        return KILN_OK;
    }
    /* Reference int8: input rescaled to Q4.27 (tanh: Q4.27 too), fixed-point function. */
    const int ib = 4;
    const double real = (double)si * (double)(1 << (31 - ib));
    int e = 0;
    const double q = frexp(real, &e);
    if (e > 30 || e < -31)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "input scale %g is out of range", (double)si);
    int64_t m = llround(q * (double)(1ll << 31));
    if (m >= (1ll << 31)) m = (1ll << 31) - 1;
    d->mult = (int32_t)m;
    d->left_shift = e;
    /* CalculateInputRadius(4, left_shift, 31). */
    const double max_in = ldexp(1.0 * ((1 << ib) - 1), 31 - ib - e);
    d->radius = max_in > (double)INT32_MAX ? INT32_MAX : (int32_t)floor(max_in);
    return KILN_OK;
}

static kiln_status sig_invoke(kiln_kctx *ctx, kiln_node *n) {
    (void)ctx;
    const sig_data *d = (const sig_data *)n->data;
    const int64_t count = kiln_numel(n->in[0]);
    const void *px = n->in[0]->data;
    void *py = n->out[0]->data;
    const int tanh_op = n->op == KILN_OP_TANH;
    if (d->type == KILN_INT16) {
        const int16_t *x = (const int16_t *)px;
        int16_t *y = (int16_t *)py;
        if (d->gl) {
            /* gemmlowp's FixedPoint<int16_t> with 3 integer bits: TFLite's optimized kernels */
            for (int64_t i = 0; i < count; i++)
                y[i] = tanh_op ? kiln__g16_tanh(kiln__g16_mulpot(x[i], d->left_shift), 3)
                               : kiln__g16_logistic(x[i], 3);
            return KILN_OK;
        }
        for (int64_t i = 0; i < count; i++) {
            const int32_t out = tanh_op ? kiln__tanh16_lut(x[i], d->mult, d->left_shift)
                                        : kiln__logistic16_lut(x[i], d->mult, d->left_shift);
            y[i] = (int16_t)out; /* the reference stores without clamping */
        }
        return KILN_OK;
    }
    if (d->use_lut) {
        const uint8_t *x = (const uint8_t *)px;
        uint8_t *y = (uint8_t *)py;
        for (int64_t i = 0; i < count; i++)
            y[i] = d->lut[x[i]];
        return KILN_OK;
    }
    const int8_t *x = (const int8_t *)px;
    int8_t *y = (int8_t *)py;
    for (int64_t i = 0; i < count; i++) {
        const int32_t v = (int32_t)x[i] - d->zi;
        if (v <= -d->radius) {
            y[i] = tanh_op ? -128 : -128;
        } else if (v >= d->radius) {
            y[i] = 127;
        } else {
            const int32_t in_q4 = kiln_mbqm(v, d->mult, d->left_shift);
            int32_t out;
            if (tanh_op) {
                const int32_t t = kiln_fp_tanh(in_q4, 4);
                out = kiln_rdbpot(t, 31 - 7); /* Q0.31 -> Q0.7, zero point 0 */
            } else {
                const int32_t l = kiln_fp_logistic(in_q4, 4);
                out = kiln_rdbpot(l, 31 - 8) - 128; /* Q0.31 -> Q0.8, zero point -128 */
            }
            y[i] = (int8_t)kiln_clamp_i32(out, -128, 127);
        }
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * SOFTMAX (int8/uint8 -> int8/uint8/int16 with gemmlowp fixed point; int16 -> int16 with LUTs) */

typedef struct {
    int32_t in_type, out_type, mult, diff_min, depth;
    int left_shift;
    int64_t outer;
    int16_t *exp_lut, *recip_lut; /* int16 only (kept out of int8 nodes' persistent memory) */
    float *ftable; /* litert 8-bit in, int16 out: TFLite's float exp table */
    float oscale;
    int32_t ozp;
} softmax_data;

static double tfl_round(double x) {
    return x >= 0 ? floor(x + 0.5) : ceil(x - 0.5);
}

/* TFLite's int16 LUT generation (513 entries with a midpoint-error correction). TFLite Micro
 * computes it in float, the desktop runtime in double (dbl): a few entries differ by one. */
static void gen_lut16(int kind, double in_min, double in_max, double out_min, double out_max,
                      int dbl, int16_t *lut) {
    const int steps = 512;
#define KILN_F(x) (dbl ? (double)(x) : (double)(float)(x))
    const double step = KILN_F(KILN_F(in_max - in_min) / steps);
    const double half = KILN_F(step / 2);
    const double inv = KILN_F(65536.0 / KILN_F(out_max - out_min));
    for (int i = 0; i <= steps; i++) {
        const double x0 = KILN_F(in_min + KILN_F((double)i * step));
        const double x1 = KILN_F(in_min + KILN_F((double)(i + 1) * step));
        double v, vm, vn;
        if (kind == 0) {
            v = dbl ? exp(x0) : expf((float)x0);
            vm = dbl ? exp(x0 + half) : expf((float)x0 + (float)half);
            vn = dbl ? exp(x1) : expf((float)x1);
        } else {
            v = KILN_F(1.0 / KILN_F(1.0 + x0));
            vm = KILN_F(1.0 / KILN_F(KILN_F(1.0 + x0) + half));
            vn = KILN_F(1.0 / KILN_F(1.0 + x1));
        }
        double outv;
        if (i == steps) {
            const double f = kind == 0 ? (dbl ? exp(in_max) : expf((float)in_max))
                                       : KILN_F(1.0 / KILN_F(1.0 + in_max));
            outv = tfl_round(KILN_F(f * inv));
        } else {
            const double sample = tfl_round(KILN_F(v * inv));
            const double mid_interp = tfl_round(KILN_F(KILN_F(KILN_F(vn * inv) + sample) / 2));
            const double mid = tfl_round(KILN_F(vm * inv));
            const double err = KILN_F(mid_interp - mid);
            const double bias = tfl_round(KILN_F(err / 2));
            outv = KILN_F(sample - bias);
        }
#undef KILN_F
        outv = outv < -32768.0 ? -32768.0 : (outv > 32767.0 ? 32767.0 : outv);
        lut[i] = (int16_t)outv;
    }
}

static int16_t lut_lookup(int16_t v, const int16_t *lut) {
    const uint16_t index = (uint16_t)(256 + (v >> 7));
    const int16_t offset = (int16_t)(v & 0x7f);
    const int16_t base = lut[index];
    const int16_t slope = (int16_t)(lut[index + 1] - lut[index]);
    const int32_t delta = ((int32_t)slope * offset + 64) >> 7;
    return (int16_t)(base + delta);
}

static kiln_status softmax_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = check_io(ctx, n, 1, 1);
    if (s) return s;
    kiln_tensor *x = n->in[0], *y = n->out[0];
    if (x->rank < 1) return kiln_kerr(ctx, KILN_ERR_SHAPE, "input must have rank >= 1");
    if ((s = kiln_kresize(ctx, y, x->rank, x->dims))) return s;
    softmax_data *d = (softmax_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return KILN_ERR_NOMEM;
    n->data = d;
    d->in_type = x->type;
    d->out_type = y->type;
    d->depth = x->dims[x->rank - 1];
    d->outer = d->depth ? kiln_numel(x) / d->depth : 0;
    float si, so;
    int32_t zi, zo;
    if ((s = qparams(ctx, x, "input", &si, &zi)) || (s = qparams(ctx, y, "output", &so, &zo)))
        return s;
    const double beta = (double)kiln_opt_f32(n, 0, 1.0f);
    if (x->type == KILN_INT16) {
        /* TFLite sums the rows' exp values (each up to 32767) in an int32: longer rows overflow */
        if (d->depth > INT32_MAX / 32767)
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                             "int16 SOFTMAX rows of %d elements overflow the int32 sum of "
                             "exponentials (at most %d)",
                             (int)d->depth, (int)(INT32_MAX / 32767));
        if (y->type != KILN_INT16 || zo != 0 || fabsf(so - 1.0f / 32768) > 0.001f / 32768)
            return kiln_kerr(ctx, KILN_ERR_MODEL,
                             "int16 output must have scale 1/32768 and zero point 0");
        if ((s = qmul(ctx, (double)si * beta / (10.0 / 65535.0), &d->mult, &d->left_shift)))
            return s;
        d->exp_lut = (int16_t *)kiln_kalloc(ctx, 2 * 513 * sizeof(int16_t));
        if (!d->exp_lut) return KILN_ERR_NOMEM;
        d->recip_lut = d->exp_lut + 513;
        const int dbl = kiln_karith(ctx) == KILN_ARITH_LITERT;
        gen_lut16(0, -10.0, 0.0, -1.0, 1.0, dbl, d->exp_lut);
        gen_lut16(1, 0.0, 1.0, -1.0, 1.0, dbl, d->recip_lut);
        return KILN_OK;
    }
    if (x->type != KILN_INT8 && x->type != KILN_UINT8)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "type %s is not supported",
                         kiln_dtype_name(x->type));
    if (y->type == KILN_INT16) {
        if (zo != -32768)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "int16 output zero point must be -32768");
        if (kiln_karith(ctx) == KILN_ARITH_LITERT) {
            /* The desktop runtime's 8-bit -> int16 softmax: a float table of
             * exp(-scale * beta * k), a float sum and a rounded float probability. */
            d->ftable = (float *)kiln_kalloc(ctx, 256 * sizeof(float));
            if (!d->ftable) return KILN_ERR_NOMEM;
            const float sc = -si * (float)beta;
            for (int32_t v = 0; v <= 255; v++)
                d->ftable[255 - v] = expf(sc * (float)v);
            d->oscale = so;
            d->ozp = zo;
            return KILN_OK;
        }
    } else if (y->type == x->type) {
        const int32_t want = x->type == KILN_INT8 ? -128 : 0;
        if (zo != want || so != 1.0f / 256)
            return kiln_kerr(ctx, KILN_ERR_MODEL,
                             "output must have scale 1/256 and zero point %d (has %g and %d)", want,
                             (double)so, zo);
    } else {
        return kiln_kerr(ctx, KILN_ERR_MODEL, "output type %s does not fit input type %s",
                         kiln_dtype_name(y->type), kiln_dtype_name(x->type));
    }
    /* PreprocessSoftmaxScaling with 5 integer bits, then CalculateInputRadius. */
    const int ib = 5;
    double real = beta * (double)si * (double)(1 << (31 - ib));
    if (real > (double)((1ll << 31) - 1)) real = (double)((1ll << 31) - 1);
    if ((s = qmul(ctx, real, &d->mult, &d->left_shift))) return s;
    const double max_in =
        1.0 * ((1 << ib) - 1) * (double)(1ll << (31 - ib)) / (double)(1ll << d->left_shift);
    d->diff_min = -(int32_t)floor(max_in);
    return KILN_OK;
}

static kiln_status softmax_invoke(kiln_kctx *ctx, kiln_node *n) {
    (void)ctx;
    const softmax_data *d = (const softmax_data *)n->data;
    const void *px = n->in[0]->data;
    void *py = n->out[0]->data;
    const int32_t depth = d->depth;
    if (d->in_type == KILN_INT16) {
        const int16_t *x = (const int16_t *)px;
        int16_t *y = (int16_t *)py;
        for (int64_t r = 0; r < d->outer; r++) {
            const int16_t *xr = x + r * depth;
            int16_t *yr = y + r * depth;
            int16_t mx = INT16_MIN;
            for (int32_t c = 0; c < depth; c++)
                mx = xr[c] > mx ? xr[c] : mx;
            int32_t sum = 0;
            for (int32_t c = 0; c < depth; c++) {
                const int32_t diff = xr[c] - mx;
                const int32_t scaled = kiln_mbqm(diff, d->mult, d->left_shift);
                const int32_t sym = kiln_clamp_i32(scaled + 32767, -32768, 32767);
                yr[c] = lut_lookup((int16_t)sym, d->exp_lut);
                sum += yr[c];
            }
            const int headroom = kiln_clz32((uint32_t)sum);
            const int32_t shifted = (int32_t)((((int64_t)sum << (headroom - 1)) + (1 << 13)) >> 14);
            const int32_t sym = kiln_clamp_i32(shifted - ((1 << 15) + (1 << 16)), -32768, 32767);
            const int16_t recip = lut_lookup((int16_t)sym, d->recip_lut);
            const int rs = 31 - headroom;
            const int64_t round = (int64_t)1 << (rs - 1);
            for (int32_t c = 0; c < depth; c++) {
                const int32_t v = (int32_t)(((int64_t)yr[c] * recip + round) >> rs);
                yr[c] = (int16_t)kiln_clamp_i32(v, 0, 32767);
            }
        }
        return KILN_OK;
    }
    const int out_bits = d->out_type == KILN_INT16 ? 16 : 8;
    int32_t omin, omax;
    type_range(d->out_type, &omin, &omax);
    if (d->ftable) {
        for (int64_t r = 0; r < d->outer; r++) {
            const int64_t base = r * depth;
            int32_t mx = d->in_type == KILN_INT8 ? -128 : 0;
            for (int32_t c = 0; c < depth; c++) {
                const int32_t v = kiln_q_ld(px, d->in_type, base + c);
                mx = v > mx ? v : mx;
            }
            const float *t = d->ftable + 255 - mx; /* t[x] = exp(-scale * beta * (mx - x)) */
            float sum = 0.0f;
            for (int32_t c = 0; c < depth; c++)
                sum += t[kiln_q_ld(px, d->in_type, base + c)];
            const float inv = 1.0f / (sum * d->oscale);
            for (int32_t c = 0; c < depth; c++) {
                const float p = t[kiln_q_ld(px, d->in_type, base + c)] * inv;
                const int32_t q = (int32_t)roundf(p) + d->ozp;
                kiln_q_st(py, d->out_type, base + c, kiln_clamp_i32(q, omin, omax));
            }
        }
        return KILN_OK;
    }
    for (int64_t r = 0; r < d->outer; r++) {
        const int64_t base = r * depth;
        int32_t mx = d->in_type == KILN_INT8 ? -128 : 0;
        for (int32_t c = 0; c < depth; c++) {
            const int32_t v = kiln_q_ld(px, d->in_type, base + c);
            mx = v > mx ? v : mx;
        }
        int32_t sum = 0; /* Q12.19 */
        for (int32_t c = 0; c < depth; c++) {
            const int32_t diff = kiln_q_ld(px, d->in_type, base + c) - mx;
            if (diff >= d->diff_min) {
                const int32_t scaled = kiln_srdhm(diff * (1 << d->left_shift), d->mult);
                sum = kiln_fp_add(sum, kiln_fp_rescale(kiln_fp_exp_neg(scaled, 5), 0, 12));
            }
        }
        int bits_over_unit;
        const int32_t shifted_scale = kiln_fp_reciprocal(sum, 12, &bits_over_unit);
        const int exponent = bits_over_unit + 31 - out_bits;
        for (int32_t c = 0; c < depth; c++) {
            const int32_t diff = kiln_q_ld(px, d->in_type, base + c) - mx;
            int32_t out = omin;
            if (diff >= d->diff_min) {
                const int32_t scaled = kiln_srdhm(diff * (1 << d->left_shift), d->mult);
                const int32_t e = kiln_fp_exp_neg(scaled, 5);
                const int32_t unsat =
                    kiln_rdbpot(kiln_srdhm(shifted_scale, e), exponent < 0 ? 0 : exponent);
                out = kiln_clamp_i32(unsat + omin, omin, omax);
            }
            kiln_q_st(py, d->out_type, base + c, out);
        }
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * MEAN, SUM (int8, int16, uint8): TFLite's QuantizedMeanOrSum */

typedef struct {
    int32_t type, zi, zo, m;
    int shift;
    int32_t rank, naxis, axes[KILN_MAX_RANK];
    int32_t in_dims[KILN_MAX_RANK];
    int64_t n_out, n_in_axis;
    int32_t scratch;
    int xnn; /* litert int8 MEAN: XNNPACK sums in int32 and rescales in float */
    float xscale;
    int same; /* litert 8-bit MEAN with one quantization in and out: mean of the codes */
} mean_data;

static kiln_status mean_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = check_io(ctx, n, 2, 1);
    if (s) return s;
    kiln_tensor *x = n->in[0], *ax = n->in[1], *y = n->out[0];
    if (y->type != x->type) return kiln_kerr(ctx, KILN_ERR_MODEL, "output type differs from input");
    if (ax->type != KILN_INT32) return kiln_kerr(ctx, KILN_ERR_MODEL, "axis must be int32");
    if (!kiln_kknown(ctx, ax))
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "axis must be a constant");
    mean_data *d = (mean_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return KILN_ERR_NOMEM;
    n->data = d;
    d->type = x->type;
    d->rank = x->rank;
    memcpy(d->in_dims, x->dims, sizeof d->in_dims);
    const int64_t na = kiln_numel(ax);
    const int32_t *av = (const int32_t *)ax->data;
    uint8_t red[KILN_MAX_RANK] = {0};
    for (int64_t i = 0; i < na; i++) {
        int32_t a = av[i];
        if (a < -x->rank || a >= x->rank)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "axis %d is out of range for rank %d", a,
                             x->rank);
        if (a < 0) a += x->rank;
        red[a] = 1;
    }
    d->naxis = 0;
    for (int32_t i = 0; i < x->rank; i++)
        if (red[i]) d->axes[d->naxis++] = i;
    const int keep = kiln_opt_u8(n, 0, 0);
    int32_t od[KILN_MAX_RANK], orank = 0;
    d->n_in_axis = 1;
    for (int32_t i = 0; i < x->rank; i++) {
        if (red[i]) {
            d->n_in_axis *= x->dims[i];
            if (keep) od[orank++] = 1;
        } else {
            od[orank++] = x->dims[i];
        }
    }
    if ((s = kiln_kresize(ctx, y, orank, od))) return s;
    d->n_out = kiln_numel(y);
    float si, so;
    if ((s = qparams(ctx, x, "input", &si, &d->zi)) || (s = qparams(ctx, y, "output", &so, &d->zo)))
        return s;
    if ((s = qmul(ctx, (double)si / (double)so, &d->m, &d->shift))) return s;
    if (n->op == KILN_OP_MEAN && d->n_in_axis > 0) {
        int sh = 63;
        while (sh > 0 && !((uint64_t)d->n_in_axis >> sh))
            sh--;
        if (sh > 32) sh = 32;
        if (sh > 31 + d->shift) sh = 31 + d->shift;
        d->m = (int32_t)(((int64_t)d->m << sh) / d->n_in_axis);
        d->shift -= sh;
    }
    if (kiln_karith(ctx) == KILN_ARITH_LITERT && x->type != KILN_INT16 && d->n_in_axis > 0) {
        /* XNNPACK takes 8-bit MEAN and SUM: int32 sums rescaled in float. */
        d->xnn = 1;
        d->xscale = n->op == KILN_OP_MEAN ? si / (so * (float)d->n_in_axis) : si / so;
        /* With one quantization in and out, the desktop runtime divides the sum of the codes
         * by the count exactly and rounds half to even (measured: 254.5 -> 254, 146.5 -> 146,
         * where XNNPACK's float reciprocal would round up). */
        if (n->op == KILN_OP_MEAN && si == so && d->zi == d->zo) d->same = 1;
    }
    d->scratch =
        kiln_kscratch_request(ctx, (size_t)(d->n_out > 0 ? d->n_out : 1) * sizeof(int32_t));
    if (d->scratch < 0) return KILN_ERR_NOMEM;
    return KILN_OK;
}

static kiln_status mean_invoke(kiln_kctx *ctx, kiln_node *n) {
    const mean_data *d = (const mean_data *)n->data;
    int32_t *acc = (int32_t *)kiln_kscratch(ctx, d->scratch);
    memset(acc, 0, (size_t)d->n_out * sizeof(int32_t));
    const void *px = n->in[0]->data;
    const int64_t total = kiln_numel(n->in[0]);
    if (total == 0 || d->n_in_axis == 0) {
        for (int64_t o = 0; o < d->n_out; o++)
            kiln_q_st(n->out[0]->data, d->type, o, 0);
        return KILN_OK;
    }
    int32_t idx[KILN_MAX_RANK] = {0};
    uint8_t red[KILN_MAX_RANK] = {0};
    for (int32_t i = 0; i < d->naxis; i++)
        red[d->axes[i]] = 1;
    for (int64_t e = 0; e < total; e++) {
        int64_t o = 0;
        for (int32_t a = 0; a < d->rank; a++)
            if (!red[a]) o = o * d->in_dims[a] + idx[a];
        acc[o] = (int32_t)((uint32_t)acc[o] + (uint32_t)kiln_q_ld(px, d->type, e));
        for (int32_t a = d->rank - 1; a >= 0; a--) {
            if (++idx[a] < d->in_dims[a]) break;
            idx[a] = 0;
        }
    }
    int32_t lo, hi;
    type_range(d->type, &lo, &hi);
    for (int64_t o = 0; o < d->n_out; o++) {
        const int32_t shifted = (int32_t)((int64_t)acc[o] - (int64_t)d->zi * d->n_in_axis);
        const int32_t v = d->same  ? (int32_t)lrint((double)acc[o] / (double)d->n_in_axis)
                          : d->xnn ? kiln_requant_fp32(shifted, d->xscale, d->zo, lo, hi)
                                   : kiln_mbqm(shifted, d->m, d->shift) + d->zo;
        kiln_q_st(n->out[0]->data, d->type, o, kiln_clamp_i32(v, lo, hi));
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * MAXIMUM, MINIMUM (int8, int16, uint8): compare the codes (inputs share the output's scale) */

typedef struct {
    kiln_bcast bc;
    int32_t type;
} minmax_data;

static kiln_status minmax_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = check_io(ctx, n, 2, 1);
    if (s) return s;
    if (n->in[0]->type != n->in[1]->type || n->in[0]->type != n->out[0]->type)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "inputs and output must have one type");
    minmax_data *d = (minmax_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return KILN_ERR_NOMEM;
    n->data = d;
    d->type = n->in[0]->type;
    return bcast_prepare(ctx, n, &d->bc);
}

static int32_t max_elem(const void *d, int32_t a, int32_t b) {
    (void)d;
    return a > b ? a : b;
}
static int32_t min_elem(const void *d, int32_t a, int32_t b) {
    (void)d;
    return a < b ? a : b;
}

static kiln_status minmax_invoke(kiln_kctx *ctx, kiln_node *n) {
    (void)ctx;
    const minmax_data *d = (const minmax_data *)n->data;
    if (n->op == KILN_OP_MAXIMUM)
        bcast_binary(n, d, &d->bc, d->type, max_elem);
    else
        bcast_binary(n, d, &d->bc, d->type, min_elem);
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * HARD_SWISH (int8, uint8): TFLite's reference fixed-point formulation */

typedef struct {
    int32_t type, zi, zo, relu_m, out_m;
    int relu_e, out_e;
} hswish_data;

static int32_t sat_left_shift16(int32_t x, int e) {
    int32_t v = x * (1 << e);
    return kiln_clamp_i32(v, -32768, 32767);
}

static int16_t sat_rdhm16(int16_t a, int16_t b) {
    if (a == INT16_MIN && b == INT16_MIN) return INT16_MAX;
    const int32_t ab = (int32_t)a * b;
    const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (int16_t)((ab + nudge) / (1 << 15));
}

/* SQDMULH: like sat_rdhm16 but truncating toward zero (the reference uses it to cancel the
 * rounding bias of the earlier steps). */
static int16_t sat_dhm16(int16_t a, int16_t b) {
    if (a == INT16_MIN && b == INT16_MIN) return INT16_MAX;
    return (int16_t)(((int32_t)a * b) / (1 << 15));
}

static int16_t rdbpot16(int16_t x, int e) {
    const int16_t mask = (int16_t)((1 << e) - 1);
    const int16_t rem = (int16_t)(x & mask);
    const int16_t thr = (int16_t)((mask >> 1) + (x < 0 ? 1 : 0));
    return (int16_t)((x >> e) + (rem > thr ? 1 : 0));
}

static kiln_status hswish_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = check_io(ctx, n, 1, 1);
    if (s) return s;
    if ((s = same_shape_out(ctx, n))) return s;
    kiln_tensor *x = n->in[0], *y = n->out[0];
    if (x->type != KILN_INT8 && x->type != KILN_UINT8)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "type %s is not supported",
                         kiln_dtype_name(x->type));
    hswish_data *d = (hswish_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return KILN_ERR_NOMEM;
    n->data = d;
    d->type = x->type;
    float si, so;
    if ((s = qparams(ctx, x, "input", &si, &d->zi)) || (s = qparams(ctx, y, "output", &so, &d->zo)))
        return s;
    /* The input in "high resolution" is x * 2^7; hires scale = si / 128. */
    const float hires_in = (1.0f / 128.0f) * si;
    const float relu_scale = 3.0f / 32768.0f;
    const float out_scale = so;
    int32_t m;
    int e;
    if ((s = qmul(ctx, (double)(hires_in / relu_scale), &m, &e))) return s;
    /* DownScaleInt32ToInt16Multiplier: round the Q31 multiplier to Q15 (saturating). */
    d->relu_m = (m >= INT32_MAX - (1 << 15)) ? 32767 : (int32_t)((m + (1 << 15)) >> 16);
    d->relu_e = e;
    if ((s = qmul(ctx, (double)(hires_in / out_scale), &m, &e))) return s;
    d->out_m = (m >= INT32_MAX - (1 << 15)) ? 32767 : (int32_t)((m + (1 << 15)) >> 16);
    d->out_e = e;
    if (e > 0)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                         "output scale %g is too small for the input scale %g", (double)so,
                         (double)si);
    return KILN_OK;
}

static kiln_status hswish_invoke(kiln_kctx *ctx, kiln_node *n) {
    (void)ctx;
    const hswish_data *d = (const hswish_data *)n->data;
    const int64_t count = kiln_numel(n->in[0]);
    int32_t lo, hi;
    type_range(d->type, &lo, &hi);
    for (int64_t i = 0; i < count; i++) {
        const int16_t in_hires =
            (int16_t)((kiln_q_ld(n->in[0]->data, d->type, i) - d->zi) * (1 << 7));
        const int16_t pre_out = sat_rdhm16(in_hires, (int16_t)d->out_m);
        int16_t relu_v = in_hires;
        if (d->relu_e > 0) relu_v = (int16_t)sat_left_shift16(relu_v, d->relu_e - 1);
        relu_v = sat_rdhm16(relu_v, (int16_t)d->relu_m);
        if (d->relu_e > 0) relu_v = (int16_t)sat_left_shift16(relu_v, 1);
        if (d->relu_e < 0) relu_v = rdbpot16(relu_v, -d->relu_e);
        relu_v = (int16_t)((relu_v + (1 << 15)) >> 1);
        const int16_t preshift = sat_dhm16(relu_v, pre_out);
        int32_t out = rdbpot16(preshift, -d->out_e) + d->zo;
        kiln_q_st(n->out[0]->data, d->type, i, kiln_clamp_i32(out, lo, hi));
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Registration: integer entries keyed by input type. */

#define I8 KILN_INT8
#define I16 KILN_INT16
#define U8 KILN_UINT8
#define A KILN_ANY

const kiln_kernel_reg kiln__k_elementwise_q[] = {
    {KILN_OP_ADD, 1, 5, I8, A, addsub_prepare, addsub_invoke},
    {KILN_OP_ADD, 1, 5, I16, A, addsub_prepare, addsub_invoke},
    {KILN_OP_ADD, 1, 5, U8, A, addsub_prepare, addsub_invoke},
    {KILN_OP_SUB, 1, 5, I8, A, addsub_prepare, addsub_invoke},
    {KILN_OP_SUB, 1, 5, I16, A, addsub_prepare, addsub_invoke},
    {KILN_OP_SUB, 1, 5, U8, A, addsub_prepare, addsub_invoke},
    {KILN_OP_MUL, 1, 7, I8, A, mul_prepare, mul_invoke},
    {KILN_OP_MUL, 1, 7, U8, A, mul_prepare, mul_invoke},
    {KILN_OP_MUL, 1, 7, I16, A, mul_prepare, mul_invoke},
    {KILN_OP_AVERAGE_POOL_2D, 1, 3, I8, A, pool_prepare, pool_invoke},
    {KILN_OP_AVERAGE_POOL_2D, 1, 3, I16, A, pool_prepare, pool_invoke},
    {KILN_OP_AVERAGE_POOL_2D, 1, 3, U8, A, pool_prepare, pool_invoke},
    {KILN_OP_MAX_POOL_2D, 1, 3, I8, A, pool_prepare, pool_invoke},
    {KILN_OP_MAX_POOL_2D, 1, 3, I16, A, pool_prepare, pool_invoke},
    {KILN_OP_MAX_POOL_2D, 1, 3, U8, A, pool_prepare, pool_invoke},
    {KILN_OP_QUANTIZE, 1, 3, A, A, quantize_prepare, quantize_invoke},
    {KILN_OP_RELU, 1, 3, I8, A, relu_prepare, relu_invoke},
    {KILN_OP_RELU, 1, 3, I16, A, relu_prepare, relu_invoke},
    {KILN_OP_RELU, 1, 3, U8, A, relu_prepare, relu_invoke},
    {KILN_OP_RELU6, 1, 3, I8, A, relu_prepare, relu_invoke},
    {KILN_OP_RELU6, 1, 3, I16, A, relu_prepare, relu_invoke},
    {KILN_OP_RELU6, 1, 3, U8, A, relu_prepare, relu_invoke},
    {KILN_OP_RELU_N1_TO_1, 1, 2, I8, A, relu_prepare, relu_invoke},
    {KILN_OP_RELU_N1_TO_1, 1, 2, U8, A, relu_prepare, relu_invoke},
    {KILN_OP_LEAKY_RELU, 1, 2, I8, A, relu_prepare, relu_invoke},
    {KILN_OP_LEAKY_RELU, 1, 2, I16, A, relu_prepare, relu_invoke},
    {KILN_OP_LEAKY_RELU, 1, 2, U8, A, relu_prepare, relu_invoke},
    {KILN_OP_LOGISTIC, 1, 3, I8, A, sig_prepare, sig_invoke},
    {KILN_OP_LOGISTIC, 1, 3, I16, A, sig_prepare, sig_invoke},
    {KILN_OP_LOGISTIC, 1, 3, U8, A, sig_prepare, sig_invoke},
    {KILN_OP_TANH, 1, 3, I8, A, sig_prepare, sig_invoke},
    {KILN_OP_TANH, 1, 3, I16, A, sig_prepare, sig_invoke},
    {KILN_OP_TANH, 1, 3, U8, A, sig_prepare, sig_invoke},
    {KILN_OP_SOFTMAX, 1, 3, I8, A, softmax_prepare, softmax_invoke},
    {KILN_OP_SOFTMAX, 1, 3, I16, A, softmax_prepare, softmax_invoke},
    {KILN_OP_SOFTMAX, 1, 3, U8, A, softmax_prepare, softmax_invoke},
    {KILN_OP_MEAN, 1, 3, I8, A, mean_prepare, mean_invoke},
    {KILN_OP_MEAN, 1, 3, I16, A, mean_prepare, mean_invoke},
    {KILN_OP_MEAN, 1, 3, U8, A, mean_prepare, mean_invoke},
    {KILN_OP_SUM, 1, 2, I8, A, mean_prepare, mean_invoke},
    {KILN_OP_SUM, 1, 2, I16, A, mean_prepare, mean_invoke},
    {KILN_OP_SUM, 1, 2, U8, A, mean_prepare, mean_invoke},
    {KILN_OP_MAXIMUM, 1, 4, I8, A, minmax_prepare, minmax_invoke},
    {KILN_OP_MAXIMUM, 1, 4, I16, A, minmax_prepare, minmax_invoke},
    {KILN_OP_MAXIMUM, 1, 4, U8, A, minmax_prepare, minmax_invoke},
    {KILN_OP_MINIMUM, 1, 4, I8, A, minmax_prepare, minmax_invoke},
    {KILN_OP_MINIMUM, 1, 4, I16, A, minmax_prepare, minmax_invoke},
    {KILN_OP_MINIMUM, 1, 4, U8, A, minmax_prepare, minmax_invoke},
    {KILN_OP_HARD_SWISH, 1, 1, I8, A, hswish_prepare, hswish_invoke},
    {KILN_OP_HARD_SWISH, 1, 1, U8, A, hswish_prepare, hswish_invoke},
    {-1, 0, 0, 0, 0, NULL, NULL},
};
