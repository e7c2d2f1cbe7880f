/* misc_q.c: the integer kernels of TFLite's float op list that the other families lack: lookup
 * tables (ELU, EXP, LOG, GELU; int16 EXP/LOG/RSQRT), ABS, RSQRT, PRELU, SQUARED_DIFFERENCE, DIV,
 * L2_NORMALIZATION, LOG_SOFTMAX, int16 comparisons, int8/int16 FLOOR_DIV/FLOOR_MOD. Semantics of
 * TFLite's builtin kernels (tensorflow/lite/kernels/<op>.cc, internal/reference/), which TFLite
 * Micro shares; the litert dialect differs where the official runtime measurably does (XNNPACK's
 * ELU table, the optimized float LOG_SOFTMAX, the int16 RSQRT table, int16 EQUAL rescaling). */
#include "kernels/fixedpoint.h"
#include "kernels/kernel.h"
#include "kernels/ops.h"
#include "kernels/quant.h"
#include "kernels/ref/broadcast.h"
#include "kernels/ref/check.h"
#include "kernels/ref/qio.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------------------------
 * Common checks */

static kiln_status mq_io(kiln_kctx *ctx, const kiln_node *n, int32_t nin) {
    if (n->n_in != nin || n->n_out != 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "expected %d inputs and 1 output, got %d and %d",
                         (int)nin, (int)n->n_in, (int)n->n_out);
    for (int32_t i = 0; i < nin; i++)
        if (!n->in[i]) return kiln_kerr(ctx, KILN_ERR_MODEL, "input %d is missing", (int)i);
    if (!n->out[0]) return kiln_kerr(ctx, KILN_ERR_MODEL, "output 0 is missing");
    return KILN_OK;
}

static void type_range(int32_t type, int32_t *lo, int32_t *hi) {
    *lo = type == KILN_INT8 ? -128 : (type == KILN_UINT8 ? 0 : -32768);
    *hi = type == KILN_INT8 ? 127 : (type == KILN_UINT8 ? 255 : 32767);
}

/* Per-tensor scale and zero point of a quantized tensor (a positive, finite scale). */
static kiln_status mq_qp(kiln_kctx *ctx, const kiln_tensor *t, const char *what, float *s,
                         int32_t *z) {
    if (t->q.n < 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s has no quantization parameters", what);
    *s = t->q.scale[0];
    *z = t->q.zero_point[0];
    if (!(*s > 0.0f) || !(*s < 1e30f))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s scale %g must be positive", what, (double)*s);
    int32_t lo, hi;
    type_range(t->type, &lo, &hi);
    if (*z < lo || *z > hi)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s zero point %d is outside the %s range", what,
                         (int)*z, kiln_dtype_name(t->type));
    if (t->type == KILN_INT16 && *z != 0)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s: int16 zero point must be 0, got %d", what,
                         (int)*z);
    return KILN_OK;
}

/* QuantizeMultiplier of a non-negative ratio, refusing ones the arithmetic cannot take. */
static kiln_status mq_mult(kiln_kctx *ctx, double real, int32_t *m, int *shift) {
    if (real < 0.0)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "scale ratio %g is out of range", real);
    return kiln_kqmul(ctx, real, m, shift);
}

/* gemmlowp's RoundingDivideByPOT for any exponent >= 0. Exponents above 31 only arise from
 * extreme quantization (DIV of a quotient with 31 sign bits); TFLite's release builds then
 * compute an all-ones int32 mask and a shift whose count the machine takes modulo 32 (x86 and
 * WebAssembly alike), which is what the official runtime returns. */
static int32_t rdbpot_any(int32_t x, int e) {
    if (e <= 31) return kiln_rdbpot(x, e);
    const int32_t threshold = -1 + (x < 0 ? 1 : 0);
    return kiln_asr_i32(x, e & 31) + (x > threshold ? 1 : 0);
}

/* TFLite's MultiplyByQuantizedMultiplier (double rounding: TFLite Micro's reference kernels and
 * the official runtime's builtin kernels alike), for any shift the kernels can produce. */
static int32_t mq_mbqm(int32_t x, int32_t m, int shift) {
    const int left = shift > 0 ? (shift > 31 ? 31 : shift) : 0;
    return rdbpot_any(kiln_srdhm(kiln_shl_wrap_i32(x, left), m), shift > 0 ? 0 : -shift);
}

/* One input, one output of the same integer type and shape. */
static kiln_status mq_unary_io(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = mq_io(ctx, n, 1);
    if (s) return s;
    const kiln_tensor *x = n->in[0];
    kiln_tensor *y = n->out[0];
    if (y->type != x->type)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "output type %s differs from input type %s",
                         kiln_dtype_name(y->type), kiln_dtype_name(x->type));
    return kiln_kresize(ctx, y, x->rank, x->dims);
}

/* Two inputs broadcast to the output. */
static kiln_status mq_bcast(kiln_kctx *ctx, kiln_node *n, kiln_bcast *bc) {
    const kiln_tensor *a = n->in[0], *b = n->in[1];
    int32_t r, d[KILN_MAX_RANK];
    if (kiln_bcast_shape2(a->rank, a->dims, b->rank, b->dims, &r, d))
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "input shapes cannot be broadcast together");
    kiln_status s = kiln_kresize(ctx, n->out[0], r, d);
    if (s) return s;
    kiln_bcast_init2(bc, a->rank, a->dims, b->rank, b->dims, r, d);
    return KILN_OK;
}

/* One element of a broadcasting binary kernel: the output value for the stored inputs a and b
 * (the kernel's parameters are in n->data), or an error for a value TFLite refuses. */
typedef kiln_status (*mq_elem_fn)(kiln_kctx *ctx, const kiln_node *n, int32_t a, int32_t b,
                                  int32_t *out);

/* Walks the broadcast plan in output order; bool outputs take the value as 0/1. */
static kiln_status mq_bcast_loop(kiln_kctx *ctx, const kiln_node *n, const kiln_bcast *bc,
                                 int32_t type, mq_elem_fn fn) {
    const void *pa = n->in[0]->data, *pb = n->in[1]->data;
    void *py = n->out[0]->data;
    const int is_bool = n->out[0]->type == KILN_BOOL;
    kiln_bcast_it it;
    kiln_bcast_begin(&it);
    const int64_t sa = bc->stride[0][bc->rank - 1], sb = bc->stride[1][bc->rank - 1];
    for (int64_t r = 0; r < bc->rows; r++) {
        for (int64_t i = 0; i < bc->len; i++) {
            int32_t v;
            const kiln_status s = fn(ctx, n, kiln_q_ld(pa, type, it.off[0] + i * sa),
                                     kiln_q_ld(pb, type, it.off[1] + i * sb), &v);
            if (s) return s;
            if (is_bool)
                ((uint8_t *)py)[r * bc->len + i] = (uint8_t)v;
            else
                kiln_q_st(py, type, r * bc->len + i, v);
        }
        kiln_bcast_next(bc, &it);
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * 8-bit lookup tables: ELU, EXP, LOG (int8) and GELU (int8, uint8). TFLite builds a 256-entry
 * table at prepare (LUTPopulate): dequantize in float, apply the function (LOG maps x <= 0 to
 * the output's lowest value), round half away from zero, add the zero point, clamp. The litert
 * dialect hands int8 ELU to XNNPACK, whose table adds the zero point in float and rounds to
 * nearest even. */

typedef struct {
    uint8_t lut[256];
} lut_data;

static float elu_f(float x, int approx) {
    (void)approx;
    return x < 0.0f ? expm1f(x) : x;
}

static float exp_f(float x, int approx) {
    (void)approx;
    return expf(x);
}

/* TFLite's float GELU: the erfc form, or the tanh approximation. */
static float gelu_f(float x, int approx) {
    if (approx) {
        const float k = (float)(1.12837916709551257390 * 0.70710678118654752440);
        return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
    }
    return 0.5f * x * erfcf(x * (float)-0.70710678118654752440);
}

static kiln_status lut_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = mq_unary_io(ctx, n);
    if (s) return s;
    const kiln_tensor *x = n->in[0], *y = n->out[0];
    float si, so;
    int32_t zi, zo;
    if ((s = mq_qp(ctx, x, "input", &si, &zi)) || (s = mq_qp(ctx, y, "output", &so, &zo))) return s;
    lut_data *d = (lut_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    float (*fn)(float, int) =
        n->op == KILN_OP_ELU ? elu_f : (n->op == KILN_OP_EXP ? exp_f : gelu_f);
    /* LOG maps non-positive inputs to the output's lowest real value. */
    const float log_min = (float)(-128 - zo) * so;
    const int approx = n->op == KILN_OP_GELU && kiln_opt_i8(n, 0, 0) != 0;
    const int xnn = n->op == KILN_OP_ELU && kiln_karith(ctx) == KILN_ARITH_LITERT;
    int32_t lo, hi;
    type_range(x->type, &lo, &hi);
    const float inv = 1.0f / so;
    for (int32_t v = lo; v <= hi; v++) {
        const float in = si * (float)(v - zi);
        const float f = n->op != KILN_OP_LOG ? fn(in, approx) : (in <= 0.0f ? log_min : logf(in));
        int32_t q;
        if (xnn) {
            /* XNNPACK: f / scale + zero point in float, then to nearest even. */
            q = kiln_xnn_quantize(f, so, zo, lo, hi);
        } else {
            float r = roundf(f * inv);
            /* Keep the float -> int conversion defined (inf, NaN); the clamp follows. */
            r = r != r ? 0.0f : (r < -1e9f ? -1e9f : (r > 1e9f ? 1e9f : r));
            q = (int32_t)(r + (float)zo);
            q = q < lo ? lo : (q > hi ? hi : q);
        }
        d->lut[(uint8_t)v] = (uint8_t)q;
    }
    n->data = d;
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * int16 lookup tables (the official runtime's RSQRT, and EXP and LOG): TFLite's LUTPopulate for
 * int16, 512 segments over the input range plus an end point, each sample corrected by half
 * its midpoint error, all in float; looked up with 7 bits of linear interpolation. */

typedef struct {
    int16_t lut[513];
} lut16_data;

static float lut16_fn(int32_t op, float x, float so) {
    if (op == KILN_OP_RSQRT) return x <= 0.0f ? 32767.0f * so : 1.0f / sqrtf(x);
    if (op == KILN_OP_LOG) return x <= 0.0f ? -32768.0f * so : logf(x);
    return expf(x);
}

static int16_t lut16_clamp(float v) {
    return (int16_t)(v < -32768.0f ? -32768.0f : (v > 32767.0f ? 32767.0f : v));
}

static void lut16_populate(int32_t op, float si, float so, int16_t *lut) {
    const float in_min = si * -32768.0f, in_max = si * 32767.0f;
    const float out_min = so * -32768.0f, out_max = so * 32767.0f;
    const float step = (in_max - in_min) / 512.0f, half = step / 2.0f;
    const float inv = 65536.0f / (out_max - out_min);
    for (int i = 0; i < 512; i++) {
        const float v = lut16_fn(op, in_min + (float)i * step, so);
        const float vm = lut16_fn(op, in_min + (float)i * step + half, so);
        const float vn = lut16_fn(op, in_min + (float)(i + 1) * step, so);
        const float sample = roundf(v * inv);
        const float interp = roundf((vn * inv + roundf(v * inv)) / 2.0f);
        const float mid = roundf(vm * inv);
        const float bias = roundf((interp - mid) / 2.0f);
        lut[i] = lut16_clamp(sample - bias);
    }
    lut[512] = lut16_clamp(roundf(lut16_fn(op, in_max, so) * inv));
}

static int16_t lut16_lookup(int16_t v, const int16_t *lut) {
    const int idx = 256 + (int)kiln_asr_i32(v, 7);
    const int32_t off = v & 0x7f;
    const int16_t base = lut[idx];
    const int16_t slope = (int16_t)(uint16_t)(uint32_t)(lut[idx + 1] - lut[idx]);
    return (int16_t)(uint16_t)(uint32_t)(base + kiln_asr_i32(slope * off + 64, 7));
}

static kiln_status lut16_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = mq_unary_io(ctx, n);
    if (s) return s;
    float si, so;
    int32_t zi, zo;
    if ((s = mq_qp(ctx, n->in[0], "input", &si, &zi)) ||
        (s = mq_qp(ctx, n->out[0], "output", &so, &zo)))
        return s;
    lut16_data *d = (lut16_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    lut16_populate(n->op, si, so, d->lut);
    n->data = d;
    return KILN_OK;
}

/* Table lookups of both widths (lut_data for 8-bit inputs, lut16_data for int16). */
static kiln_status lut_invoke(kiln_kctx *ctx, kiln_node *n) {
    (void)ctx;
    const int64_t cnt = kiln_numel(n->in[0]);
    if (n->in[0]->type == KILN_INT16) {
        const int16_t *lut = ((const lut16_data *)n->data)->lut;
        const int16_t *x = (const int16_t *)n->in[0]->data;
        int16_t *y = (int16_t *)n->out[0]->data;
        for (int64_t i = 0; i < cnt; i++)
            y[i] = lut16_lookup(x[i], lut);
        return KILN_OK;
    }
    const uint8_t *lut = ((const lut_data *)n->data)->lut;
    const uint8_t *x = (const uint8_t *)n->in[0]->data;
    uint8_t *y = (uint8_t *)n->out[0]->data;
    for (int64_t i = 0; i < cnt; i++)
        y[i] = lut[x[i]];
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * ABS, RSQRT (int8, int16): TFLite's elementwise.cc quantized paths. */

typedef struct {
    int32_t type, zi, zo, m, lo, hi;
    int shift, rescale, raw;
    const lut16_data *lut16; /* the official runtime's int16 RSQRT table */
} un_data;

static kiln_status unq_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = mq_unary_io(ctx, n);
    if (s) return s;
    const kiln_tensor *x = n->in[0], *y = n->out[0];
    un_data *d = (un_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    n->data = d;
    d->type = x->type;
    type_range(x->type, &d->lo, &d->hi);
    if (n->op == KILN_OP_ABS && x->type == KILN_INT16 && x->q.n == 0) {
        d->raw = 1; /* unquantized int16: the stored values' absolute value */
        return KILN_OK;
    }
    float si, so;
    if ((s = mq_qp(ctx, x, "input", &si, &d->zi)) || (s = mq_qp(ctx, y, "output", &so, &d->zo)))
        return s;
    /* The official runtime's int16 RSQRT is a table; TFLite Micro's is the fixed-point one. */
    if (n->op == KILN_OP_RSQRT && x->type == KILN_INT16 && kiln_karith(ctx) == KILN_ARITH_LITERT) {
        lut16_data *t = (lut16_data *)kiln_kalloc(ctx, sizeof *t);
        if (!t) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
        lut16_populate(n->op, si, so, t->lut);
        d->lut16 = t;
        return KILN_OK;
    }
    /* TFLite's Prepare computes these ratios in float before widening them. */
    double real;
    if (n->op == KILN_OP_ABS) {
        d->rescale = si != so;
        real = (double)(si / so);
    } else {
        real = 1.0 / (double)(sqrtf(si) * so);
    }
    if ((s = mq_mult(ctx, real, &d->m, &d->shift))) return s;
    return KILN_OK;
}

/* TFLite's GetInvSqrtQuantizedMultiplierExp with reverse_shift -1: 1/sqrt(x) as a Q31
 * multiplier and a left shift, by Newton-Raphson in Q3.28 (gemmlowp fixed point). */
static void inv_sqrt_mult(int32_t x, int32_t *mult, int *shift) {
    if (x <= 1) {
        *mult = INT32_MAX;
        *shift = 0;
        return;
    }
    int sh = 11;
    while (x >= (1 << 29)) {
        x /= 4;
        sh++;
    }
    const int pairs = (kiln_clz32((uint32_t)x) - 1) / 2 - 1;
    sh -= pairs;
    x <<= 2 * pairs;
    const int32_t in3 = x >> 1;                  /* Q3.28 */
    const int32_t half_in = kiln_rdbpot(in3, 1); /* x / 2 */
    const int32_t half_three = (1 << 28) + (1 << 27);
    int32_t r = 1 << 28; /* 1.0 */
    for (int i = 0; i < 5; i++) {
        /* x*x*x has 9 integer bits; Rescale<3> is a saturating shift left by 6. */
        const int32_t r3 = kiln_fp_rescale(kiln_srdhm(kiln_srdhm(r, r), r), 9, 3);
        const int32_t t = kiln_fp_sub(kiln_srdhm(half_three, r), kiln_srdhm(half_in, r3));
        r = kiln_fp_rescale(t, 6, 3);
    }
    r = kiln_srdhm(r, 1518500250); /* * sqrt(2)/2 */
    if (sh < 0) {
        r = kiln_shl_wrap_i32(r, -sh);
        sh = 0;
    }
    *mult = r;
    *shift = -sh;
}

static kiln_status unq_invoke(kiln_kctx *ctx, kiln_node *n) {
    const un_data *d = (const un_data *)n->data;
    const void *x = n->in[0]->data;
    void *y = n->out[0]->data;
    const int64_t cnt = kiln_numel(n->in[0]);
    for (int64_t i = 0; i < cnt; i++) {
        const int32_t v = kiln_q_ld(x, d->type, i) - d->zi;
        int32_t o;
        if (d->raw) {
            kiln_q_st(y, d->type, i, (int32_t)(int16_t)(uint16_t)(uint32_t)(v < 0 ? -v : v));
            continue;
        }
        if (d->lut16) {
            if (v < 0)
                return kiln_kerr(ctx, KILN_ERR_MODEL, "RSQRT is only defined for positive values");
            kiln_q_st(y, d->type, i, lut16_lookup((int16_t)v, d->lut16->lut));
            continue;
        }
        if (n->op == KILN_OP_ABS) {
            const int32_t a = v < 0 ? -v : v;
            o = (d->rescale ? mq_mbqm(a, d->m, d->shift) : a) + d->zo;
        } else {
            if (v < 0)
                return kiln_kerr(ctx, KILN_ERR_MODEL, "RSQRT is only defined for positive values");
            if (v == 0) {
                o = d->hi; /* TFLite: a value at the zero point gives the largest output */
            } else {
                int32_t im;
                int is;
                inv_sqrt_mult(v, &im, &is);
                const int32_t t = mq_mbqm(1, im, is + 20);
                o = mq_mbqm(t, d->m, d->shift - 20) + d->zo;
            }
        }
        kiln_q_st(y, d->type, i, kiln_clamp_i32(o, d->lo, d->hi));
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * PRELU, SQUARED_DIFFERENCE, DIV (quantized, broadcasting): reference_ops BroadcastPrelu4DSlow,
 * reference_integer_ops squared difference, reference_ops Div (uint8 and int8). */

typedef struct {
    kiln_bcast bc;
    int32_t type, za, zb, zo, lo, hi;
    int32_t m1, m2, mo;
    int s1, s2, so;
} bin_data;

static kiln_status binq_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = mq_io(ctx, n, 2);
    if (s) return s;
    const kiln_tensor *a = n->in[0], *b = n->in[1], *y = n->out[0];
    if (a->type != b->type || a->type != y->type)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "inputs %s and %s with output %s: one type expected",
                         kiln_dtype_name(a->type), kiln_dtype_name(b->type),
                         kiln_dtype_name(y->type));
    bin_data *d = (bin_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    n->data = d;
    if ((s = mq_bcast(ctx, n, &d->bc))) return s;
    float sa, sb, so;
    if ((s = mq_qp(ctx, a, "input 0", &sa, &d->za)) ||
        (s = mq_qp(ctx, b, "input 1", &sb, &d->zb)) || (s = mq_qp(ctx, y, "output", &so, &d->zo)))
        return s;
    d->type = a->type;
    type_range(a->type, &d->lo, &d->hi);
    if (n->op == KILN_OP_PRELU) {
        if ((s = mq_mult(ctx, (double)sa / (double)so, &d->m1, &d->s1)) ||
            (s = mq_mult(ctx, (double)sa * (double)sb / (double)so, &d->m2, &d->s2)))
            return s;
    } else if (n->op == KILN_OP_SQUARED_DIFFERENCE) {
        /* Inputs brought to twice the larger scale with 7 bits of headroom, then squared. */
        const double twice_max = 2.0 * (sa > sb ? (double)sa : (double)sb);
        if ((s = mq_mult(ctx, (double)sa / twice_max, &d->m1, &d->s1)) ||
            (s = mq_mult(ctx, (double)sb / twice_max, &d->m2, &d->s2)) ||
            (s = mq_mult(ctx, twice_max * twice_max / ((double)(1 << 14) * (double)so), &d->mo,
                         &d->so)))
            return s;
    } else { /* DIV */
        if ((s = mq_mult(ctx, (double)sa / ((double)sb * (double)so), &d->mo, &d->so))) return s;
        const int32_t act = kiln_opt_i8(n, 0, 0);
        if (act < 0 || act > 3)
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "fused activation %d is not supported",
                             (int)act);
        kiln_act_range_q(act, so, d->zo, d->lo, d->hi, &d->lo, &d->hi);
    }
    return KILN_OK;
}

/* gemmlowp's CountLeadingSignBits (31 for 0 and -1). */
static int clsb32(int32_t x) {
    const uint32_t u = x < 0 ? ~(uint32_t)x : (uint32_t)x;
    return kiln_clz32(u) - 1;
}

static kiln_status binq_elem(kiln_kctx *ctx, const kiln_node *n, int32_t qa, int32_t qb,
                             int32_t *out) {
    const bin_data *d = (const bin_data *)n->data;
    const int32_t a = qa - d->za, b = qb - d->zb;
    int32_t o;
    if (n->op == KILN_OP_PRELU) {
        o = a >= 0 ? mq_mbqm(a, d->m1, d->s1) : mq_mbqm(a * b, d->m2, d->s2);
    } else if (n->op == KILN_OP_SQUARED_DIFFERENCE) {
        const int32_t x1 = mq_mbqm(a * (1 << 7), d->m1, d->s1);
        const int32_t x2 = mq_mbqm(b * (1 << 7), d->m2, d->s2);
        const int32_t df = x1 - x2;
        o = mq_mbqm(kiln_wrap_i32((int64_t)df * df), d->mo, d->so);
    } else {
        if (b == 0) return kiln_kerr(ctx, KILN_ERR_MODEL, "DIV: division by zero");
        /* A negative divisor flips both signs so that the reciprocal is positive. */
        const int32_t an = b < 0 ? -a : a, bn = b < 0 ? -b : b;
        int rshift;
        const int32_t inv = kiln_fp_reciprocal(bn, 31, &rshift);
        const int head = clsb32(an);
        const int32_t q = mq_mbqm(an, inv, head);
        o = mq_mbqm(q, d->mo, d->so - rshift - head);
    }
    *out = kiln_clamp_i32(o + d->zo, d->lo, d->hi);
    return KILN_OK;
}

static kiln_status binq_invoke(kiln_kctx *ctx, kiln_node *n) {
    const bin_data *d = (const bin_data *)n->data;
    return mq_bcast_loop(ctx, n, &d->bc, d->type, binq_elem);
}

/* ---------------------------------------------------------------------------------------------
 * L2_NORMALIZATION (int8, uint8) over the last axis: reference_integer_ops / reference_ops
 * L2Normalization; the output scale is fixed at 1/128. */

typedef struct {
    int64_t outer, depth;
    int32_t zi;
} l2_data;

static kiln_status l2_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = mq_unary_io(ctx, n);
    if (s) return s;
    const kiln_tensor *x = n->in[0], *y = n->out[0];
    l2_data *d = (l2_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    float si, so;
    int32_t zo;
    if ((s = mq_qp(ctx, x, "input", &si, &d->zi)) || (s = mq_qp(ctx, y, "output", &so, &zo)))
        return s;
    const int32_t want_zo = x->type == KILN_UINT8 ? 128 : 0;
    if (so != 1.0f / 128.0f || zo != want_zo)
        return kiln_kerr(ctx, KILN_ERR_MODEL,
                         "L2_NORMALIZATION output must have scale 1/128 and zero point %d",
                         (int)want_zo);
    if (x->rank < 1) return kiln_kerr(ctx, KILN_ERR_SHAPE, "input must have at least 1 dim");
    d->depth = x->dims[x->rank - 1];
    d->outer = d->depth ? kiln_numel(x) / d->depth : 0;
    if (d->depth > 32768)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "last dim %lld is too large",
                         (long long)d->depth);
    n->data = d;
    return KILN_OK;
}

static kiln_status l2_invoke(kiln_kctx *ctx, kiln_node *n) {
    (void)ctx;
    const l2_data *d = (const l2_data *)n->data;
    const int32_t type = n->in[0]->type;
    const void *x = n->in[0]->data;
    void *y = n->out[0]->data;
    for (int64_t o = 0; o < d->outer; o++) {
        const int64_t base = o * d->depth;
        int32_t acc = 0;
        for (int64_t i = 0; i < d->depth; i++) {
            const int32_t v = kiln_q_ld(x, type, base + i) - d->zi;
            acc += v * v;
        }
        int32_t m;
        int sh;
        inv_sqrt_mult(acc, &m, &sh);
        for (int64_t i = 0; i < d->depth; i++) {
            const int32_t v = kiln_q_ld(x, type, base + i) - d->zi;
            int32_t r;
            if (type == KILN_INT8)
                r = kiln_clamp_i32(mq_mbqm(v, m, sh + 7), -128, 127);
            else
                r = kiln_clamp_i32(128 + mq_mbqm(128 * v, m, sh), 0, 255);
            kiln_q_st(y, type, base + i, r);
        }
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * LOG_SOFTMAX (int8, uint8) over the last axis; the output is fixed at scale 16/256 and zero
 * point 127 (int8) or 255 (uint8). The reference dialect follows TFLite's reference kernels
 * (gemmlowp fixed point: exp of Q5.26 differences summed in Q12.19, then
 * log_x_for_x_greater_than_or_equal_to_1); the official runtime runs the optimized kernel, a
 * float table of exp values and one float log per row, rounded with rint. */

typedef struct {
    int64_t outer, depth;
    int32_t in_mult, rev_mult, diff_min, zo, lo, hi;
    int in_shift, rev_shift, litert;
    float in_scale, out_scale;
    float table[256];
} lsm_data;

/* gemmlowp SaturatingAdd / SaturatingSub of int32. */
static int32_t sat_add(int32_t a, int32_t b) {
    return kiln_sat_i32((int64_t)a + b);
}
static int32_t sat_sub(int32_t a, int32_t b) {
    return kiln_sat_i32((int64_t)a - b);
}

/* TFLite's log_x_for_x_greater_than_or_equal_to_1<5> of a Q12.19 value; Q5.26 result. */
static int32_t log_ge1_q5(int32_t za) {
    const int in_ib = 12, acc_ib = 6;
    const int32_t log_2 = 1488522236, sqrt_sqrt_half = 1805811301, sqrt_half = 1518500250;
    const int32_t one_quarter = 536870912, alpha_n = 117049297, alpha_d = 127690142;
    const int32_t alpha_i = 1057819769, alpha_f = 638450708;
    const int32_t shifted_quarter = kiln_fp_rescale(one_quarter, 0, acc_ib);
    /* The input read as Q0.31; the binary exponent is worked out from its leading zeros. */
    const int ha1 = kiln_clz32((uint32_t)za);
    const int32_t r_a_tmp = kiln_fp_mulpot(za, ha1 - 1);
    const int32_t r_a = kiln_fp_mulpot(kiln_srdhm(r_a_tmp, sqrt_half), 1);
    const int32_t za_pow2 = sat_add(kiln_fp_mulpot(in_ib - ha1, 31 - acc_ib), shifted_quarter);
    const int32_t zb = kiln_srdhm(za, sqrt_half);
    const int hb = kiln_clz32((uint32_t)zb) - 1;
    const int32_t r_b = kiln_fp_mulpot(za, hb);
    const int32_t zb_pow2 = sat_sub(kiln_fp_mulpot(in_ib - hb, 31 - acc_ib), shifted_quarter);
    const int32_t r = r_a < r_b ? r_a : r_b;
    const int32_t z_pow2 = za_pow2 > zb_pow2 ? za_pow2 : zb_pow2;
    const int32_t p = kiln_fp_rhalfsum(r, sqrt_sqrt_half);
    int32_t q = kiln_fp_sub(r, sqrt_sqrt_half);
    q = kiln_fp_add(q, q);
    const int32_t sq = kiln_srdhm(q, q);
    const int32_t num = kiln_fp_add(kiln_srdhm(q, r), kiln_srdhm(kiln_srdhm(q, sq), alpha_n));
    const int32_t inner = kiln_fp_add(kiln_fp_add(alpha_i, q), kiln_srdhm(alpha_d, sq));
    const int32_t den = kiln_fp_add(kiln_srdhm(p, inner), kiln_srdhm(alpha_f, q));
    const int32_t recip = kiln_fp_one_over_one_plus(den);
    const int32_t num_scaled = kiln_fp_rescale(num, 0, acc_ib);
    const int32_t sum = kiln_fp_add(kiln_srdhm(z_pow2, log_2), kiln_srdhm(num_scaled, recip));
    return kiln_fp_rescale(sum, acc_ib, 5);
}

static kiln_status lsm_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = mq_unary_io(ctx, n);
    if (s) return s;
    const kiln_tensor *x = n->in[0], *y = n->out[0];
    lsm_data *d = (lsm_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    n->data = d;
    int32_t zi;
    if ((s = mq_qp(ctx, x, "input", &d->in_scale, &zi)) ||
        (s = mq_qp(ctx, y, "output", &d->out_scale, &d->zo)))
        return s;
    type_range(x->type, &d->lo, &d->hi);
    if (d->out_scale != 16.0f / 256.0f || d->zo != d->hi)
        return kiln_kerr(ctx, KILN_ERR_MODEL,
                         "LOG_SOFTMAX output must have scale 16/256 and zero point %d", (int)d->hi);
    if (x->rank < 1) return kiln_kerr(ctx, KILN_ERR_SHAPE, "input must have at least 1 dim");
    d->depth = x->dims[x->rank - 1];
    d->outer = d->depth ? kiln_numel(x) / d->depth : 0;
    d->litert = kiln_karith(ctx) == KILN_ARITH_LITERT;
    /* PopulateSoftmaxLookupTable (beta 1): table[255 - v] = exp(-scale * v). */
    for (int32_t v = 0; v <= 255; v++)
        d->table[255 - v] = expf(-d->in_scale * (float)v);
    /* PreprocessLogSoftmaxScalingExp with beta 1 and 5 integer bits. */
    double real = (double)d->in_scale * (double)(1 << 26);
    if (real > 2147483647.0) real = 2147483647.0;
    kiln_quantize_multiplier_greater_than_one(real, &d->in_mult, &d->in_shift);
    if (d->in_mult == 0 || d->in_shift > 30)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "input scale %g is out of range",
                         (double)d->in_scale);
    const double rev = (double)(1ll << (31 - d->in_shift)) / (double)d->in_mult;
    kiln_quantize_multiplier_smaller_than_one(rev, &d->rev_mult, &d->rev_shift);
    /* CalculateInputRadius(5, left_shift, 31), negated. */
    const double radius = 31.0 * (double)(1ll << 26) / (double)(1ll << d->in_shift);
    d->diff_min = -(int32_t)floor(radius);
    return KILN_OK;
}

static kiln_status lsm_invoke(kiln_kctx *ctx, kiln_node *n) {
    (void)ctx;
    const lsm_data *d = (const lsm_data *)n->data;
    const int32_t type = n->in[0]->type;
    const void *x = n->in[0]->data;
    void *y = n->out[0]->data;
    const int32_t off = type == KILN_INT8 ? 128 : 0;
    for (int64_t o = 0; o < d->outer; o++) {
        const int64_t base = o * d->depth;
        int32_t mx = d->lo;
        for (int64_t i = 0; i < d->depth; i++) {
            const int32_t v = kiln_q_ld(x, type, base + i);
            mx = v > mx ? v : mx;
        }
        if (d->litert) {
            float sum = 0.0f;
            for (int64_t i = 0; i < d->depth; i++)
                sum += d->table[255 - (mx - kiln_q_ld(x, type, base + i))];
            const float lse = logf(sum);
            const float scale = d->in_scale / d->out_scale;
            const float pre = (d->in_scale * (float)(mx + off) + lse) / d->out_scale;
            for (int64_t i = 0; i < d->depth; i++) {
                float lp = scale * (float)(kiln_q_ld(x, type, base + i) + off) - pre;
                lp = lp < -1e9f ? -1e9f : (lp > 1e9f ? 1e9f : lp);
                const int32_t q = (int32_t)lrintf(lp) + d->zo;
                kiln_q_st(y, type, base + i, kiln_clamp_i32(q, d->lo, d->hi));
            }
            continue;
        }
        int32_t acc = 0; /* Q12.19 */
        for (int64_t i = 0; i < d->depth; i++) {
            const int32_t diff = kiln_q_ld(x, type, base + i) - mx;
            if (diff >= d->diff_min) {
                const int32_t q5 = kiln_mbqm(diff, d->in_mult, d->in_shift);
                acc = kiln_fp_add(acc, kiln_fp_rescale(kiln_fp_exp_neg(q5, 5), 0, 12));
            }
        }
        const int32_t lse = log_ge1_q5(acc);
        const int32_t shifted = kiln_fp_add(lse, INT32_MIN);
        int32_t adj = kiln_mbqm(shifted, d->rev_mult, d->rev_shift);
        adj = adj > d->diff_min - 1 ? adj : d->diff_min - 1;
        for (int64_t i = 0; i < d->depth; i++) {
            const int32_t diff = kiln_q_ld(x, type, base + i) - mx;
            int32_t q = d->lo;
            if (diff > adj) {
                const int32_t q5 = kiln_mbqm(diff, d->in_mult, d->in_shift);
                q = kiln_clamp_i32(kiln_rdbpot(kiln_fp_sub(q5, lse), 22) + d->hi, d->lo, d->hi);
            }
            kiln_q_st(y, type, base + i, q);
        }
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * int16 comparisons and int8/int16 FLOOR_DIV/FLOOR_MOD: TFLite compares and divides the stored
 * integers (8-bit comparisons, always rescaled, are in the elementwise family). */

typedef struct {
    kiln_bcast bc;
    int32_t type;
    int scaled; /* litert, quantized int16: both sides rescaled as the 8-bit comparisons are */
    int32_t m1, m2;
    int s1, s2;
} raw_data;

static kiln_status raw_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = mq_io(ctx, n, 2);
    if (s) return s;
    const kiln_tensor *a = n->in[0], *b = n->in[1], *y = n->out[0];
    if (a->type != b->type)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "inputs have different types (%s and %s)",
                         kiln_dtype_name(a->type), kiln_dtype_name(b->type));
    const int cmp = n->op != KILN_OP_FLOOR_DIV && n->op != KILN_OP_FLOOR_MOD;
    if (y->type != (cmp ? KILN_BOOL : a->type))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "output type %s, expected %s",
                         kiln_dtype_name(y->type), kiln_dtype_name(cmp ? KILN_BOOL : a->type));
    if (cmp && a->type == KILN_INT16 && n->op != KILN_OP_EQUAL && n->op != KILN_OP_LESS &&
        n->op != KILN_OP_GREATER_EQUAL)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                         "int16 inputs are not supported (TFLite compares int16 only in EQUAL, "
                         "LESS and GREATER_EQUAL)");
    raw_data *d = (raw_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    d->type = a->type;
    n->data = d;
    /* The official runtime's EQUAL rescales quantized int16 inputs like 8-bit ones (each side
     * times its own scale, after a left shift of 8; measured); its LESS and GREATER_EQUAL, and
     * TFLite Micro, compare the stored values. */
    if (n->op == KILN_OP_EQUAL && kiln_karith(ctx) == KILN_ARITH_LITERT && a->q.n > 0 &&
        b->q.n > 0) {
        float sa, sb;
        int32_t za, zb;
        if ((s = mq_qp(ctx, a, "input 0", &sa, &za)) || (s = mq_qp(ctx, b, "input 1", &sb, &zb)) ||
            (s = mq_mult(ctx, sa, &d->m1, &d->s1)) || (s = mq_mult(ctx, sb, &d->m2, &d->s2)))
            return s;
        d->scaled = 1;
    }
    return mq_bcast(ctx, n, &d->bc);
}

static kiln_status raw_elem(kiln_kctx *ctx, const kiln_node *n, int32_t a, int32_t b,
                            int32_t *out) {
    const raw_data *d = (const raw_data *)n->data;
    if (d->scaled) {
        a = mq_mbqm(a * (1 << 8), d->m1, d->s1);
        b = mq_mbqm(b * (1 << 8), d->m2, d->s2);
    }
    int32_t v;
    switch (n->op) {
    case KILN_OP_EQUAL:
        v = a == b;
        break;
    case KILN_OP_NOT_EQUAL:
        v = a != b;
        break;
    case KILN_OP_LESS:
        v = a < b;
        break;
    case KILN_OP_LESS_EQUAL:
        v = a <= b;
        break;
    case KILN_OP_GREATER:
        v = a > b;
        break;
    case KILN_OP_GREATER_EQUAL:
        v = a >= b;
        break;
    default:
        if (b == 0) return kiln_kerr(ctx, KILN_ERR_MODEL, "division by zero");
        if (n->op == KILN_OP_FLOOR_DIV) {
            /* floor(a / b); the C quotient truncates toward zero. */
            v = a / b;
            if ((a % b != 0) && ((a < 0) != (b < 0))) v--;
        } else {
            /* The remainder takes the divisor's sign. */
            v = a % b;
            if (v != 0 && ((v < 0) != (b < 0))) v += b;
        }
        /* int8 -128 / -1 = 128 wraps as TFLite's cast does. */
        v = d->type == KILN_INT8 ? (int32_t)(int8_t)(uint8_t)(uint32_t)v
                                 : (int32_t)(int16_t)(uint16_t)(uint32_t)v;
        break;
    }
    *out = v;
    return KILN_OK;
}

static kiln_status raw_invoke(kiln_kctx *ctx, kiln_node *n) {
    const raw_data *d = (const raw_data *)n->data;
    return mq_bcast_loop(ctx, n, &d->bc, d->type, raw_elem);
}

#define I8 KILN_INT8
#define U8 KILN_UINT8
#define I16 KILN_INT16
#define A KILN_ANY
#define RAWCMP(OP, LO, HI)                                                                         \
    { OP, LO, HI, I16, A, raw_prepare, raw_invoke }

const kiln_kernel_reg kiln__k_misc_q[] = {
    {KILN_OP_ELU, 1, 1, I8, A, lut_prepare, lut_invoke},
    {KILN_OP_EXP, 1, 2, I8, A, lut_prepare, lut_invoke},
    {KILN_OP_LOG, 1, 2, I8, A, lut_prepare, lut_invoke},
    {KILN_OP_EXP, 1, 2, I16, A, lut16_prepare, lut_invoke},
    {KILN_OP_LOG, 1, 2, I16, A, lut16_prepare, lut_invoke},
    {KILN_OP_GELU, 1, 2, I8, A, lut_prepare, lut_invoke},
    {KILN_OP_GELU, 1, 2, U8, A, lut_prepare, lut_invoke},
    {KILN_OP_ABS, 1, 5, I8, A, unq_prepare, unq_invoke},
    {KILN_OP_ABS, 1, 5, I16, A, unq_prepare, unq_invoke},
    {KILN_OP_RSQRT, 1, 3, I8, A, unq_prepare, unq_invoke},
    {KILN_OP_RSQRT, 1, 3, I16, A, unq_prepare, unq_invoke},
    {KILN_OP_PRELU, 1, 1, I8, A, binq_prepare, binq_invoke},
    {KILN_OP_PRELU, 1, 1, U8, A, binq_prepare, binq_invoke},
    {KILN_OP_SQUARED_DIFFERENCE, 1, 2, I8, A, binq_prepare, binq_invoke},
    {KILN_OP_DIV, 1, 2, I8, A, binq_prepare, binq_invoke},
    {KILN_OP_DIV, 1, 2, U8, A, binq_prepare, binq_invoke},
    {KILN_OP_L2_NORMALIZATION, 1, 2, I8, A, l2_prepare, l2_invoke},
    {KILN_OP_LOG_SOFTMAX, 1, 2, I8, A, lsm_prepare, lsm_invoke},
    {KILN_OP_LOG_SOFTMAX, 1, 2, U8, A, lsm_prepare, lsm_invoke},
    {KILN_OP_L2_NORMALIZATION, 1, 2, U8, A, l2_prepare, l2_invoke},
    RAWCMP(KILN_OP_EQUAL, 1, 4),
    RAWCMP(KILN_OP_NOT_EQUAL, 1, 3), /* rejected in prepare, with the reason */
    RAWCMP(KILN_OP_LESS, 1, 3),
    RAWCMP(KILN_OP_LESS_EQUAL, 1, 2),
    RAWCMP(KILN_OP_GREATER, 1, 2),
    RAWCMP(KILN_OP_GREATER_EQUAL, 1, 3),
    {KILN_OP_FLOOR_DIV, 1, 3, I8, A, raw_prepare, raw_invoke},
    {KILN_OP_FLOOR_DIV, 1, 3, I16, A, raw_prepare, raw_invoke},
    {KILN_OP_FLOOR_MOD, 1, 2, I8, A, raw_prepare, raw_invoke},
    {KILN_OP_FLOOR_MOD, 1, 2, I16, A, raw_prepare, raw_invoke},
    {-1, 0, 0, 0, 0, NULL, NULL},
};
