/* elementwise.c: float32/int32/int64/bool elementwise kernels: broadcasting binary ops with fused
 * activations, comparisons, logical ops, SELECT, unary math, activations and CAST. Semantics:
 * TFLite's builtin kernels (reference_ops, computed in float32 with the same formulas). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernel.h"
#include "kernels/ops.h"
#include "kernels/quant.h"
#include "kernels/ref/act.h"
#include "kernels/ref/broadcast.h"
#include "kernels/ref/check.h"

/* ---------------------------------------------------------------------------------------------
 * Shared prepare helpers */

static int is_quantized(const kiln_tensor *t) {
    return t->q.n > 0 && t->q.scale != NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Binary ops with broadcasting */

typedef struct bin_data {
    kiln_bcast bc;
    int32_t act;   /* fused activation (clamp) or NONE */
    int32_t clamp; /* act is a clamp other than NONE */
    float flo, fhi;
    int32_t ilo, ihi;
    int64_t llo, lhi;
    /* Quantized comparisons (int8/uint8): TFLite rescales both sides to a common scale. */
    int32_t quant;
    int32_t zp[2], mult[2];
    int shift[2];
} bin_data;

/* Options field of fused_activation_function for ops that have one, else -1. */
static int act_field(int32_t op) {
    switch (op) {
    case KILN_OP_ADD:
    case KILN_OP_SUB:
    case KILN_OP_MUL:
    case KILN_OP_DIV:
        return 0;
    default:
        return -1;
    }
}

static int is_comparison(int32_t op) {
    switch (op) {
    case KILN_OP_EQUAL:
    case KILN_OP_NOT_EQUAL:
    case KILN_OP_LESS:
    case KILN_OP_LESS_EQUAL:
    case KILN_OP_GREATER:
    case KILN_OP_GREATER_EQUAL:
        return 1;
    default:
        return 0;
    }
}

static kiln_status bin_prepare(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln_want_io(ctx, node, 2, 1);
    if (s) return s;
    const kiln_tensor *a = node->in[0], *b = node->in[1];
    kiln_tensor *o = node->out[0];
    const int32_t op = node->op;
    if (a->type != b->type)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "inputs have different types (%s and %s)",
                         kiln_dtype_name(a->type), kiln_dtype_name(b->type));
    const int32_t t = a->type;
    int ok;
    switch (op) {
    case KILN_OP_LOGICAL_AND:
    case KILN_OP_LOGICAL_OR:
        ok = t == KILN_BOOL;
        break;
    case KILN_OP_EQUAL:
    case KILN_OP_NOT_EQUAL:
        ok = t == KILN_FLOAT32 || t == KILN_INT32 || t == KILN_INT64 || t == KILN_INT8 ||
             t == KILN_UINT8 || t == KILN_BOOL;
        break;
    case KILN_OP_LESS:
    case KILN_OP_LESS_EQUAL:
    case KILN_OP_GREATER:
    case KILN_OP_GREATER_EQUAL:
        ok = t == KILN_FLOAT32 || t == KILN_INT32 || t == KILN_INT64 || t == KILN_INT8 ||
             t == KILN_UINT8;
        break;
    case KILN_OP_POW:
    case KILN_OP_DIV:
        ok = t == KILN_FLOAT32 || t == KILN_INT32;
        break;
    default:
        ok = t == KILN_FLOAT32 || t == KILN_INT32 || t == KILN_INT64;
        break;
    }
    if (!ok)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "input type %s is not supported",
                         kiln_dtype_name(t));
    const int32_t otype =
        (is_comparison(op) || op == KILN_OP_LOGICAL_AND || op == KILN_OP_LOGICAL_OR) ? KILN_BOOL
                                                                                     : t;
    if ((s = kiln_want_type(ctx, o, "output", otype))) return s;

    int32_t rank, dims[KILN_MAX_RANK];
    if (kiln_bcast_shape2(a->rank, a->dims, b->rank, b->dims, &rank, dims))
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "input shapes are not broadcastable (rank %d and %d)",
                         (int)a->rank, (int)b->rank);
    if ((s = kiln_kresize(ctx, o, rank, dims))) return s;

    bin_data *d = (bin_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    kiln_bcast_init2(&d->bc, a->rank, a->dims, b->rank, b->dims, rank, dims);
    d->act = KILN_ACT_NONE;
    const int f = act_field(op);
    if (f >= 0) {
        d->act = kiln_opt_i8(node, f, KILN_ACT_NONE);
        if (!kiln_act_valid(d->act))
            return kiln_kerr(ctx, KILN_ERR_MODEL, "fused activation %d is not valid", (int)d->act);
    }
    d->clamp =
        d->act == KILN_ACT_RELU || d->act == KILN_ACT_RELU6 || d->act == KILN_ACT_RELU_N1_TO_1;
    kiln_act_range_f32(d->act, &d->flo, &d->fhi);
    kiln_act_range_i32(d->act, &d->ilo, &d->ihi);
    kiln_act_range_i64(d->act, &d->llo, &d->lhi);
    if (is_comparison(op) && (t == KILN_INT8 || t == KILN_UINT8) && is_quantized(a) &&
        is_quantized(b)) {
        const kiln_tensor *in[2] = {a, b};
        d->quant = 1;
        for (int k = 0; k < 2; k++) {
            const double scale = (double)in[k]->q.scale[0];
            /* TFLite computes the multiplier with QuantizeMultiplierSmallerThanOneExp, which
             * aborts unless 0 < scale < 1. */
            if (!(scale > 0.0 && scale < 1.0))
                return kiln_kerr(ctx, KILN_ERR_MODEL,
                                 "input %d scale %g is not in (0, 1), as quantized comparisons "
                                 "require",
                                 k, scale);
            d->zp[k] = in[k]->q.zero_point ? in[k]->q.zero_point[0] : 0;
            const int32_t lo = t == KILN_INT8 ? -128 : 0, hi = t == KILN_INT8 ? 127 : 255;
            if (d->zp[k] < lo || d->zp[k] > hi)
                return kiln_kerr(ctx, KILN_ERR_MODEL, "input %d zero point %d is out of range", k,
                                 (int)d->zp[k]);
            kiln_quantize_multiplier(scale, &d->mult[k], &d->shift[k]);
        }
    }
    node->data = d;
    return KILN_OK;
}

/* Broadcast loop over the plan in d->bc: element i of the output gets EXPR of x (from input 0)
 * and y (from input 1). */
#define BCAST2(TA, TO, EXPR)                                                                       \
    do {                                                                                           \
        const TA *pa_ = (const TA *)node->in[0]->data;                                             \
        const TA *pb_ = (const TA *)node->in[1]->data;                                             \
        TO *po_ = (TO *)node->out[0]->data;                                                        \
        const kiln_bcast *bc_ = &d->bc;                                                            \
        const int64_t sa_ = bc_->stride[0][bc_->rank - 1];                                         \
        const int64_t sb_ = bc_->stride[1][bc_->rank - 1];                                         \
        const int64_t len_ = bc_->len;                                                             \
        kiln_bcast_it it_;                                                                         \
        kiln_bcast_begin(&it_);                                                                    \
        for (int64_t r_ = 0; r_ < bc_->rows; r_++) {                                               \
            const TA *xa_ = pa_ + it_.off[0], *xb_ = pb_ + it_.off[1];                             \
            TO *xo_ = po_ + r_ * len_;                                                             \
            if (sa_ == 1 && sb_ == 1) {                                                            \
                for (int64_t i_ = 0; i_ < len_; i_++) {                                            \
                    const TA x = xa_[i_], y = xb_[i_];                                             \
                    xo_[i_] = (EXPR);                                                              \
                }                                                                                  \
            } else if (sa_ == 1 && sb_ == 0) {                                                     \
                const TA y = xb_[0];                                                               \
                for (int64_t i_ = 0; i_ < len_; i_++) {                                            \
                    const TA x = xa_[i_];                                                          \
                    xo_[i_] = (EXPR);                                                              \
                }                                                                                  \
            } else if (sa_ == 0 && sb_ == 1) {                                                     \
                const TA x = xa_[0];                                                               \
                for (int64_t i_ = 0; i_ < len_; i_++) {                                            \
                    const TA y = xb_[i_];                                                          \
                    xo_[i_] = (EXPR);                                                              \
                }                                                                                  \
            } else {                                                                               \
                for (int64_t i_ = 0; i_ < len_; i_++) {                                            \
                    const TA x = xa_[i_ * sa_], y = xb_[i_ * sb_];                                 \
                    xo_[i_] = (EXPR);                                                              \
                }                                                                                  \
            }                                                                                      \
            kiln_bcast_next(bc_, &it_);                                                            \
        }                                                                                          \
    } while (0)

/* Wrapping integer arithmetic: TFLite's int kernels wrap in practice; in C signed overflow is
 * undefined, so go through unsigned. */
static inline int32_t wadd32(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}
static inline int32_t wsub32(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a - (uint32_t)b);
}
static inline int32_t wmul32(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a * (uint32_t)b);
}
static inline int64_t wadd64(int64_t a, int64_t b) {
    return (int64_t)((uint64_t)a + (uint64_t)b);
}
static inline int64_t wsub64(int64_t a, int64_t b) {
    return (int64_t)((uint64_t)a - (uint64_t)b);
}
static inline int64_t wmul64(int64_t a, int64_t b) {
    return (int64_t)((uint64_t)a * (uint64_t)b);
}

/* Integer division truncating toward zero (C++ '/'); divisor checked non-zero before. */
static inline int32_t div_i32(int32_t a, int32_t b) {
    return b == -1 ? (int32_t)(0u - (uint32_t)a) : a / b;
}
static inline int64_t div_i64(int64_t a, int64_t b) {
    return b == -1 ? (int64_t)(0u - (uint64_t)a) : a / b;
}

/* TFLite FloorDiv for integers: floor of the quotient. */
static inline int32_t floordiv_i32(int32_t a, int32_t b) {
    if (b == -1) return (int32_t)(0u - (uint32_t)a);
    int32_t q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0))) q--;
    return q;
}
static inline int64_t floordiv_i64(int64_t a, int64_t b) {
    if (b == -1) return (int64_t)(0u - (uint64_t)a);
    int64_t q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0))) q--;
    return q;
}

/* TFLite FloorMod: truncated remainder moved to the divisor's sign. */
static inline int32_t floormod_i32(int32_t a, int32_t b) {
    const int32_t m = b == -1 ? 0 : a % b;
    return (m != 0 && ((b < 0) != (m < 0))) ? m + b : m;
}
static inline int64_t floormod_i64(int64_t a, int64_t b) {
    const int64_t m = b == -1 ? 0 : a % b;
    return (m != 0 && ((b < 0) != (m < 0))) ? m + b : m;
}
static inline float floormod_f32(float a, float b) {
    const float m = fmodf(a, b);
    return (m != 0.0f && ((b < 0.0f) != (m < 0.0f))) ? m + b : m;
}

/* TFLite's IntegerPow (square and multiply), wrapping; exponent checked >= 0 before. */
static inline int32_t ipow_i32(int32_t base, int32_t e) {
    uint32_t r = 1, b = (uint32_t)base;
    while (e) {
        if (e & 1) r *= b;
        e >>= 1;
        b *= b;
    }
    return (int32_t)r;
}

static inline float sqdiff_f32(float a, float b) {
    const float t = a - b;
    return t * t;
}
static inline int32_t sqdiff_i32(int32_t a, int32_t b) {
    const int32_t t = wsub32(a, b);
    return wmul32(t, t);
}
static inline int64_t sqdiff_i64(int64_t a, int64_t b) {
    const int64_t t = wsub64(a, b);
    return wmul64(t, t);
}

/* MAXIMUM/MINIMUM: TFLite's MaximumOp/MinimumOp compare with > and <. */
#define MAXOP(x, y) ((x) > (y) ? (x) : (y))
#define MINOP(x, y) ((x) < (y) ? (x) : (y))

/* Returns non-zero when any element of the divisor input (1) is zero. */
static int has_zero_divisor(const kiln_tensor *t) {
    const int64_t n = kiln_numel(t);
    if (t->type == KILN_INT32) {
        const int32_t *p = (const int32_t *)t->data;
        for (int64_t i = 0; i < n; i++)
            if (p[i] == 0) return 1;
    } else if (t->type == KILN_INT64) {
        const int64_t *p = (const int64_t *)t->data;
        for (int64_t i = 0; i < n; i++)
            if (p[i] == 0) return 1;
    }
    return 0;
}

static int has_negative_i32(const kiln_tensor *t) {
    const int64_t n = kiln_numel(t);
    const int32_t *p = (const int32_t *)t->data;
    for (int64_t i = 0; i < n; i++)
        if (p[i] < 0) return 1;
    return 0;
}

/* Float result of an arithmetic op, clamped by the fused activation where it is a clamp. */
#define FARITH(EXPR)                                                                               \
    do {                                                                                           \
        if (d->clamp) {                                                                            \
            const float lo_ = d->flo, hi_ = d->fhi;                                                \
            BCAST2(float, float, kiln_act_clamp_f32((EXPR), lo_, hi_));                            \
        } else {                                                                                   \
            BCAST2(float, float, (EXPR));                                                          \
        }                                                                                          \
    } while (0)

#define IARITH(EXPR)                                                                               \
    do {                                                                                           \
        const int32_t lo_ = d->ilo, hi_ = d->ihi;                                                  \
        BCAST2(int32_t, int32_t, kiln_act_clamp_i32((EXPR), lo_, hi_));                            \
    } while (0)

#define LARITH(EXPR)                                                                               \
    do {                                                                                           \
        const int64_t lo_ = d->llo, hi_ = d->lhi;                                                  \
        BCAST2(int64_t, int64_t, kiln_act_clamp_i64((EXPR), lo_, hi_));                            \
    } while (0)

static kiln_status bin_invoke(kiln_kctx *ctx, kiln_node *node) {
    const bin_data *d = (const bin_data *)node->data;
    const int32_t t = node->in[0]->type;
    const int32_t op = node->op;
    if (d->bc.n == 0) return KILN_OK;
    if ((op == KILN_OP_DIV || op == KILN_OP_FLOOR_DIV || op == KILN_OP_FLOOR_MOD) &&
        t != KILN_FLOAT32 && has_zero_divisor(node->in[1]))
        return kiln_kerr(ctx, KILN_ERR_RUNTIME, "division by zero");
    if (op == KILN_OP_POW && t == KILN_INT32 && has_negative_i32(node->in[1]))
        return kiln_kerr(ctx, KILN_ERR_RUNTIME, "int32 POW does not support negative exponents");
    if (t == KILN_FLOAT32) {
        switch (op) {
        case KILN_OP_ADD:
            FARITH(x + y);
            break;
        case KILN_OP_SUB:
            FARITH(x - y);
            break;
        case KILN_OP_MUL:
            FARITH(x * y);
            break;
        case KILN_OP_DIV:
            FARITH(x / y);
            break;
        case KILN_OP_SQUARED_DIFFERENCE:
            FARITH(sqdiff_f32(x, y));
            break;
        case KILN_OP_MAXIMUM:
            FARITH(MAXOP(x, y));
            break;
        case KILN_OP_MINIMUM:
            FARITH(MINOP(x, y));
            break;
        case KILN_OP_POW:
            FARITH(powf(x, y));
            break;
        case KILN_OP_FLOOR_DIV:
            FARITH(floorf(x / y));
            break;
        case KILN_OP_FLOOR_MOD:
            FARITH(floormod_f32(x, y));
            break;
        case KILN_OP_EQUAL:
            BCAST2(float, uint8_t, x == y);
            break;
        case KILN_OP_NOT_EQUAL:
            BCAST2(float, uint8_t, x != y);
            break;
        case KILN_OP_LESS:
            BCAST2(float, uint8_t, x < y);
            break;
        case KILN_OP_LESS_EQUAL:
            BCAST2(float, uint8_t, x <= y);
            break;
        case KILN_OP_GREATER:
            BCAST2(float, uint8_t, x > y);
            break;
        case KILN_OP_GREATER_EQUAL:
            BCAST2(float, uint8_t, x >= y);
            break;
        default:
            break;
        }
    } else if (t == KILN_INT32) {
        switch (op) {
        case KILN_OP_ADD:
            IARITH(wadd32(x, y));
            break;
        case KILN_OP_SUB:
            IARITH(wsub32(x, y));
            break;
        case KILN_OP_MUL:
            IARITH(wmul32(x, y));
            break;
        case KILN_OP_DIV:
            IARITH(div_i32(x, y));
            break;
        case KILN_OP_SQUARED_DIFFERENCE:
            IARITH(sqdiff_i32(x, y));
            break;
        case KILN_OP_MAXIMUM:
            IARITH(MAXOP(x, y));
            break;
        case KILN_OP_MINIMUM:
            IARITH(MINOP(x, y));
            break;
        case KILN_OP_POW:
            IARITH(ipow_i32(x, y));
            break;
        case KILN_OP_FLOOR_DIV:
            IARITH(floordiv_i32(x, y));
            break;
        case KILN_OP_FLOOR_MOD:
            IARITH(floormod_i32(x, y));
            break;
        case KILN_OP_EQUAL:
            BCAST2(int32_t, uint8_t, x == y);
            break;
        case KILN_OP_NOT_EQUAL:
            BCAST2(int32_t, uint8_t, x != y);
            break;
        case KILN_OP_LESS:
            BCAST2(int32_t, uint8_t, x < y);
            break;
        case KILN_OP_LESS_EQUAL:
            BCAST2(int32_t, uint8_t, x <= y);
            break;
        case KILN_OP_GREATER:
            BCAST2(int32_t, uint8_t, x > y);
            break;
        case KILN_OP_GREATER_EQUAL:
            BCAST2(int32_t, uint8_t, x >= y);
            break;
        default:
            break;
        }
    } else if (t == KILN_INT64) {
        switch (op) {
        case KILN_OP_ADD:
            LARITH(wadd64(x, y));
            break;
        case KILN_OP_SUB:
            LARITH(wsub64(x, y));
            break;
        case KILN_OP_MUL:
            LARITH(wmul64(x, y));
            break;
        case KILN_OP_SQUARED_DIFFERENCE:
            LARITH(sqdiff_i64(x, y));
            break;
        case KILN_OP_MAXIMUM:
            LARITH(MAXOP(x, y));
            break;
        case KILN_OP_MINIMUM:
            LARITH(MINOP(x, y));
            break;
        case KILN_OP_FLOOR_DIV:
            LARITH(floordiv_i64(x, y));
            break;
        case KILN_OP_FLOOR_MOD:
            LARITH(floormod_i64(x, y));
            break;
        case KILN_OP_DIV:
            LARITH(div_i64(x, y));
            break;
        case KILN_OP_EQUAL:
            BCAST2(int64_t, uint8_t, x == y);
            break;
        case KILN_OP_NOT_EQUAL:
            BCAST2(int64_t, uint8_t, x != y);
            break;
        case KILN_OP_LESS:
            BCAST2(int64_t, uint8_t, x < y);
            break;
        case KILN_OP_LESS_EQUAL:
            BCAST2(int64_t, uint8_t, x <= y);
            break;
        case KILN_OP_GREATER:
            BCAST2(int64_t, uint8_t, x > y);
            break;
        case KILN_OP_GREATER_EQUAL:
            BCAST2(int64_t, uint8_t, x >= y);
            break;
        default:
            break;
        }
    } else if (t == KILN_BOOL) {
        switch (op) {
        case KILN_OP_LOGICAL_AND:
            BCAST2(uint8_t, uint8_t, (x != 0) && (y != 0));
            break;
        case KILN_OP_LOGICAL_OR:
            BCAST2(uint8_t, uint8_t, (x != 0) || (y != 0));
            break;
        case KILN_OP_EQUAL:
            BCAST2(uint8_t, uint8_t, (x != 0) == (y != 0));
            break;
        case KILN_OP_NOT_EQUAL:
            BCAST2(uint8_t, uint8_t, (x != 0) != (y != 0));
            break;
        default:
            break;
        }
    }
    return KILN_OK;
}

/* TFLite's ComparisonWithScaling: (q - zp) << 8, then times the input's scale as a Q31
 * multiplier (MultiplyByQuantizedMultiplierSmallerThanOneExp), so both sides share a scale. */
static inline int32_t qcmp_val(int32_t q, int32_t zp, int32_t m, int shift) {
    return kiln_mbqm((q - zp) * 256, m, shift);
}

#define QCMP(T)                                                                                    \
    do {                                                                                           \
        const int32_t za = d->zp[0], zb = d->zp[1], ma = d->mult[0], mb = d->mult[1];              \
        const int sha = d->shift[0], shb = d->shift[1];                                            \
        switch (op) {                                                                              \
        case KILN_OP_EQUAL:                                                                        \
            BCAST2(T, uint8_t, qcmp_val(x, za, ma, sha) == qcmp_val(y, zb, mb, shb));              \
            break;                                                                                 \
        case KILN_OP_NOT_EQUAL:                                                                    \
            BCAST2(T, uint8_t, qcmp_val(x, za, ma, sha) != qcmp_val(y, zb, mb, shb));              \
            break;                                                                                 \
        case KILN_OP_LESS:                                                                         \
            BCAST2(T, uint8_t, qcmp_val(x, za, ma, sha) < qcmp_val(y, zb, mb, shb));               \
            break;                                                                                 \
        case KILN_OP_LESS_EQUAL:                                                                   \
            BCAST2(T, uint8_t, qcmp_val(x, za, ma, sha) <= qcmp_val(y, zb, mb, shb));              \
            break;                                                                                 \
        case KILN_OP_GREATER:                                                                      \
            BCAST2(T, uint8_t, qcmp_val(x, za, ma, sha) > qcmp_val(y, zb, mb, shb));               \
            break;                                                                                 \
        case KILN_OP_GREATER_EQUAL:                                                                \
            BCAST2(T, uint8_t, qcmp_val(x, za, ma, sha) >= qcmp_val(y, zb, mb, shb));              \
            break;                                                                                 \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
    } while (0)

#define RCMP(T)                                                                                    \
    do {                                                                                           \
        switch (op) {                                                                              \
        case KILN_OP_EQUAL:                                                                        \
            BCAST2(T, uint8_t, x == y);                                                            \
            break;                                                                                 \
        case KILN_OP_NOT_EQUAL:                                                                    \
            BCAST2(T, uint8_t, x != y);                                                            \
            break;                                                                                 \
        case KILN_OP_LESS:                                                                         \
            BCAST2(T, uint8_t, x < y);                                                             \
            break;                                                                                 \
        case KILN_OP_LESS_EQUAL:                                                                   \
            BCAST2(T, uint8_t, x <= y);                                                            \
            break;                                                                                 \
        case KILN_OP_GREATER:                                                                      \
            BCAST2(T, uint8_t, x > y);                                                             \
            break;                                                                                 \
        case KILN_OP_GREATER_EQUAL:                                                                \
            BCAST2(T, uint8_t, x >= y);                                                            \
            break;                                                                                 \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
    } while (0)

/* int8/uint8 comparisons: scaled when both inputs are quantized, raw values otherwise. */
static kiln_status cmp8_invoke(kiln_kctx *ctx, kiln_node *node) {
    const bin_data *d = (const bin_data *)node->data;
    const int32_t op = node->op;
    if (d->bc.n == 0) return KILN_OK;
    if (node->in[0]->type == KILN_INT8) {
        if (d->quant)
            QCMP(int8_t);
        else
            RCMP(int8_t);
    } else {
        if (d->quant)
            QCMP(uint8_t);
        else
            RCMP(uint8_t);
    }
    (void)ctx;
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * SELECT / SELECT_V2 */

typedef struct sel_data {
    kiln_bcast bc;
    size_t esize;
} sel_data;

static kiln_status select_prepare(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln_want_io(ctx, node, 3, 1);
    if (s) return s;
    const kiln_tensor *c = node->in[0], *x = node->in[1], *y = node->in[2];
    kiln_tensor *o = node->out[0];
    if ((s = kiln_want_type(ctx, c, "condition", KILN_BOOL))) return s;
    if (x->type != y->type)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "x and y have different types (%s and %s)",
                         kiln_dtype_name(x->type), kiln_dtype_name(y->type));
    const size_t es = kiln_dtype_size(x->type);
    if (es != 1 && es != 2 && es != 4 && es != 8)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "type %s is not supported",
                         kiln_dtype_name(x->type));
    if ((s = kiln_want_type(ctx, o, "output", x->type))) return s;

    int32_t cr = c->rank, cdims[KILN_MAX_RANK];
    for (int32_t i = 0; i < c->rank; i++)
        cdims[i] = c->dims[i];
    if (node->op == KILN_OP_SELECT) {
        /* SELECT (v1): x and y have the same shape; the condition has that shape too, or is
         * a scalar, or is rank 1 selecting along x's first dimension. */
        int same = x->rank == y->rank;
        for (int32_t i = 0; same && i < x->rank; i++)
            same = x->dims[i] == y->dims[i];
        if (!same) return kiln_kerr(ctx, KILN_ERR_SHAPE, "x and y must have the same shape");
        int csame = c->rank == x->rank;
        for (int32_t i = 0; csame && i < x->rank; i++)
            csame = c->dims[i] == x->dims[i];
        if (!csame) {
            if (c->rank == 1 && x->rank >= 1 && c->dims[0] == x->dims[0]) {
                cr = x->rank;
                for (int32_t i = 1; i < cr; i++)
                    cdims[i] = 1;
            } else if (c->rank != 0) {
                return kiln_kerr(ctx, KILN_ERR_SHAPE,
                                 "condition must have x's shape, be a scalar, or be rank 1 "
                                 "matching x's first dimension");
            }
        }
    }
    const int32_t r[3] = {cr, x->rank, y->rank};
    const int32_t *const dd[3] = {cdims, x->dims, y->dims};
    int32_t rank, dims[KILN_MAX_RANK];
    if (kiln_bcast_shape(3, r, dd, &rank, dims))
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "condition, x and y are not broadcastable");
    if ((s = kiln_kresize(ctx, o, rank, dims))) return s;
    sel_data *d = (sel_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    kiln_bcast_init(&d->bc, 3, r, dd, rank, dims);
    d->esize = es;
    node->data = d;
    return KILN_OK;
}

#define SELECT_LOOP(T)                                                                             \
    do {                                                                                           \
        const uint8_t *pc_ = (const uint8_t *)node->in[0]->data;                                   \
        const T *px_ = (const T *)node->in[1]->data, *py_ = (const T *)node->in[2]->data;          \
        T *po_ = (T *)node->out[0]->data;                                                          \
        const kiln_bcast *bc_ = &d->bc;                                                            \
        const int32_t l_ = bc_->rank - 1;                                                          \
        const int64_t sc_ = bc_->stride[0][l_], sx_ = bc_->stride[1][l_];                          \
        const int64_t sy_ = bc_->stride[2][l_];                                                    \
        kiln_bcast_it it_;                                                                         \
        kiln_bcast_begin(&it_);                                                                    \
        for (int64_t r_ = 0; r_ < bc_->rows; r_++) {                                               \
            const uint8_t *c_ = pc_ + it_.off[0];                                                  \
            const T *x_ = px_ + it_.off[1], *y_ = py_ + it_.off[2];                                \
            T *o_ = po_ + r_ * bc_->len;                                                           \
            for (int64_t i_ = 0; i_ < bc_->len; i_++)                                              \
                o_[i_] = c_[i_ * sc_] ? x_[i_ * sx_] : y_[i_ * sy_];                               \
            kiln_bcast_next(bc_, &it_);                                                            \
        }                                                                                          \
    } while (0)

static kiln_status select_invoke(kiln_kctx *ctx, kiln_node *node) {
    const sel_data *d = (const sel_data *)node->data;
    (void)ctx;
    if (d->bc.n == 0) return KILN_OK;
    switch (d->esize) {
    case 1:
        SELECT_LOOP(uint8_t);
        break;
    case 2:
        SELECT_LOOP(uint16_t);
        break;
    case 4:
        SELECT_LOOP(uint32_t);
        break;
    default:
        SELECT_LOOP(uint64_t);
        break;
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Unary ops and activations */

typedef struct un_data {
    float alpha;    /* LEAKY_RELU */
    int32_t approx; /* GELU */
} un_data;

static kiln_status unary_prepare(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln_want_io(ctx, node, 1, 1);
    if (s) return s;
    const kiln_tensor *a = node->in[0];
    kiln_tensor *o = node->out[0];
    const int32_t t = a->type;
    int ok;
    switch (node->op) {
    case KILN_OP_ABS:
    case KILN_OP_NEG:
    case KILN_OP_SIGN:
    case KILN_OP_SQUARE:
        ok = t == KILN_FLOAT32 || t == KILN_INT32 || t == KILN_INT64;
        break;
    case KILN_OP_LOGICAL_NOT:
        ok = t == KILN_BOOL;
        break;
    default:
        ok = t == KILN_FLOAT32;
        break;
    }
    if (!ok)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "input type %s is not supported",
                         kiln_dtype_name(t));
    if ((s = kiln_want_type(ctx, o, "output", t))) return s;
    if ((s = kiln_kresize(ctx, o, a->rank, a->dims))) return s;
    un_data *d = (un_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    if (node->op == KILN_OP_LEAKY_RELU) d->alpha = kiln_opt_f32(node, 0, 0.0f);
    if (node->op == KILN_OP_GELU) d->approx = kiln_opt_i8(node, 0, 0) != 0;
    node->data = d;
    return KILN_OK;
}

#define UNARY(TI, TO, EXPR)                                                                        \
    do {                                                                                           \
        const TI *pi_ = (const TI *)node->in[0]->data;                                             \
        TO *po_ = (TO *)node->out[0]->data;                                                        \
        const int64_t n_ = kiln_numel(node->out[0]);                                               \
        for (int64_t i_ = 0; i_ < n_; i_++) {                                                      \
            const TI x = pi_[i_];                                                                  \
            po_[i_] = (EXPR);                                                                      \
        }                                                                                          \
    } while (0)

/* TFLite's RoundToNearest: halves go to the even neighbour. */
static inline float round_half_even(float x) {
    const float f = floorf(x);
    const float diff = x - f;
    if (diff < 0.5f || (diff == 0.5f && fmodf(f, 2.0f) == 0.0f)) return f;
    return f + 1.0f;
}

static inline float relu_f(float x) {
    return x < 0.0f ? 0.0f : x;
}
static inline float clampf(float x, float lo, float hi) {
    return kiln_act_clamp_f32(x, lo, hi);
}

static inline float hard_swish_f(float x) {
    const float r = clampf(x + 3.0f, 0.0f, 6.0f);
    return x * r / 6.0f;
}

/* GELU: erfc form (TFLite avoids the cancellation of 1 + erf for large negative x) or the tanh
 * approximation; both in float. */
static inline float gelu_f(float x) {
    return 0.5f * x * erfcf(x * (float)-0.70710678118654752440);
}
static inline float gelu_tanh_f(float x) {
    const float k = (float)(1.12837916709551257390 * 0.70710678118654752440); /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

static inline float logistic_f(float x) {
    return 1.0f / (1.0f + expf(-x));
}

static inline float sign_f(float x) {
    return (float)((0.0f < x) - (x < 0.0f));
}

static inline int32_t abs_i32(int32_t x) {
    return x < 0 ? (int32_t)(0u - (uint32_t)x) : x;
}
static inline int64_t abs_i64(int64_t x) {
    return x < 0 ? (int64_t)(0u - (uint64_t)x) : x;
}

static kiln_status unary_invoke(kiln_kctx *ctx, kiln_node *node) {
    const un_data *d = (const un_data *)node->data;
    const int32_t t = node->in[0]->type;
    (void)ctx;
    if (t == KILN_FLOAT32) {
        switch (node->op) {
        case KILN_OP_EXP:
            UNARY(float, float, expf(x));
            break;
        case KILN_OP_LOG:
            UNARY(float, float, logf(x));
            break;
        case KILN_OP_SQRT:
            UNARY(float, float, sqrtf(x));
            break;
        case KILN_OP_RSQRT:
            UNARY(float, float, 1.0f / sqrtf(x));
            break;
        case KILN_OP_ABS:
            UNARY(float, float, fabsf(x));
            break;
        case KILN_OP_NEG:
            UNARY(float, float, -x);
            break;
        case KILN_OP_SQUARE:
            UNARY(float, float, x *x);
            break;
        case KILN_OP_SIN:
            UNARY(float, float, sinf(x));
            break;
        case KILN_OP_COS:
            UNARY(float, float, cosf(x));
            break;
        case KILN_OP_FLOOR:
            UNARY(float, float, floorf(x));
            break;
        case KILN_OP_CEIL:
            UNARY(float, float, ceilf(x));
            break;
        case KILN_OP_ROUND:
            UNARY(float, float, round_half_even(x));
            break;
        case KILN_OP_SIGN:
            UNARY(float, float, sign_f(x));
            break;
        case KILN_OP_RELU:
            UNARY(float, float, relu_f(x));
            break;
        case KILN_OP_RELU6:
            UNARY(float, float, clampf(x, 0.0f, 6.0f));
            break;
        case KILN_OP_RELU_N1_TO_1:
            UNARY(float, float, clampf(x, -1.0f, 1.0f));
            break;
        case KILN_OP_RELU_0_TO_1:
            UNARY(float, float, clampf(x, 0.0f, 1.0f));
            break;
        case KILN_OP_LEAKY_RELU: {
            const float alpha = d->alpha;
            UNARY(float, float, x > 0.0f ? x : x * alpha);
        } break;
        case KILN_OP_ELU:
            UNARY(float, float, x < 0.0f ? expm1f(x) : x);
            break;
        case KILN_OP_HARD_SWISH:
            UNARY(float, float, hard_swish_f(x));
            break;
        case KILN_OP_GELU:
            if (d->approx)
                UNARY(float, float, gelu_tanh_f(x));
            else
                UNARY(float, float, gelu_f(x));
            break;
        case KILN_OP_LOGISTIC:
            UNARY(float, float, logistic_f(x));
            break;
        case KILN_OP_TANH:
            UNARY(float, float, tanhf(x));
            break;
        default:
            break;
        }
    } else if (t == KILN_INT32) {
        switch (node->op) {
        case KILN_OP_ABS:
            UNARY(int32_t, int32_t, abs_i32(x));
            break;
        case KILN_OP_NEG:
            UNARY(int32_t, int32_t, (int32_t)(0u - (uint32_t)x));
            break;
        case KILN_OP_SIGN:
            UNARY(int32_t, int32_t, (0 < x) - (x < 0));
            break;
        case KILN_OP_SQUARE:
            UNARY(int32_t, int32_t, wmul32(x, x));
            break;
        default:
            break;
        }
    } else if (t == KILN_INT64) {
        switch (node->op) {
        case KILN_OP_ABS:
            UNARY(int64_t, int64_t, abs_i64(x));
            break;
        case KILN_OP_NEG:
            UNARY(int64_t, int64_t, (int64_t)(0u - (uint64_t)x));
            break;
        case KILN_OP_SIGN:
            UNARY(int64_t, int64_t, (int64_t)((0 < x) - (x < 0)));
            break;
        case KILN_OP_SQUARE:
            UNARY(int64_t, int64_t, wmul64(x, x));
            break;
        default:
            break;
        }
    } else if (t == KILN_BOOL) {
        UNARY(uint8_t, uint8_t, x == 0);
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * PRELU: x >= 0 ? x : x * alpha, alpha broadcast against x. */

static kiln_status prelu_prepare(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln_want_io(ctx, node, 2, 1);
    if (s) return s;
    const kiln_tensor *a = node->in[0], *al = node->in[1];
    kiln_tensor *o = node->out[0];
    if ((s = kiln_want_type(ctx, a, "input", KILN_FLOAT32))) return s;
    if ((s = kiln_want_type(ctx, al, "alpha", KILN_FLOAT32))) return s;
    if ((s = kiln_want_type(ctx, o, "output", KILN_FLOAT32))) return s;
    int32_t rank, dims[KILN_MAX_RANK];
    if (kiln_bcast_shape2(a->rank, a->dims, al->rank, al->dims, &rank, dims))
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "input and alpha shapes are not broadcastable");
    if ((s = kiln_kresize(ctx, o, rank, dims))) return s;
    bin_data *d = (bin_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    kiln_bcast_init2(&d->bc, a->rank, a->dims, al->rank, al->dims, rank, dims);
    node->data = d;
    return KILN_OK;
}

static kiln_status prelu_invoke(kiln_kctx *ctx, kiln_node *node) {
    const bin_data *d = (const bin_data *)node->data;
    (void)ctx;
    if (d->bc.n == 0) return KILN_OK;
    BCAST2(float, float, x >= 0.0f ? x : x * y);
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * CAST: static_cast semantics (float to integer truncates toward zero; to bool is x != 0).
 * Out-of-range float to integer is undefined in C++; here it saturates (NaN gives 0), as
 * WebAssembly's saturating truncation does. */

/* IEEE binary16 <-> float32. To half rounds to nearest even (Eigen's float_to_half_rtne). */
static float half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    uint32_t bits;
    if (e == 0) {
        const float v = ldexpf((float)m, -24); /* zero or subnormal: exact */
        return sign ? -v : v;
    }
    if (e == 31)
        bits = sign | 0x7f800000u | (m << 13);
    else
        bits = sign | ((e + 112u) << 23) | (m << 13);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint16_t float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    const uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);  /* NaN */
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* >= 65520: infinity */
    if (ax < 0x38800000u) {                                   /* below 2^-14: subnormal */
        float a;
        memcpy(&a, &ax, sizeof a);
        return (uint16_t)(sign | (uint16_t)rintf(a * 16777216.0f)); /* units of 2^-24 */
    }
    uint32_t h = (ax >> 13) - (112u << 10);
    const uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
    return (uint16_t)(sign | h);
}

static int cast_type_ok(int32_t t) {
    return t == KILN_FLOAT32 || t == KILN_INT32 || t == KILN_INT64 || t == KILN_INT8 ||
           t == KILN_UINT8 || t == KILN_INT16 || t == KILN_BOOL || t == KILN_UINT16 ||
           t == KILN_UINT32 || t == KILN_FLOAT64 || t == KILN_FLOAT16;
}

static kiln_status cast_prepare(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s;
    if (node->n_in < 1 || node->n_out != 1 || !node->in[0] || !node->out[0])
        return kiln_kerr(ctx, KILN_ERR_MODEL, "expected 1 input and 1 output");
    const kiln_tensor *a = node->in[0];
    kiln_tensor *o = node->out[0];
    if (!cast_type_ok(a->type) || !cast_type_ok(o->type))
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "cast from %s to %s is not supported",
                         kiln_dtype_name(a->type), kiln_dtype_name(o->type));
    if ((s = kiln_kresize(ctx, o, a->rank, a->dims))) return s;
    return KILN_OK;
}

static inline int64_t f2i64(double v) {
    if (v != v) return 0;
    if (v >= 9223372036854775807.0) return INT64_MAX;
    if (v <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}

static kiln_status cast_invoke(kiln_kctx *ctx, kiln_node *node) {
    const kiln_tensor *a = node->in[0];
    kiln_tensor *o = node->out[0];
    const int64_t n = kiln_numel(a);
    const int32_t ti = a->type, to = o->type;
    const uint8_t *src = (const uint8_t *)a->data;
    uint8_t *dst = (uint8_t *)o->data;
    const int in_float = ti == KILN_FLOAT32 || ti == KILN_FLOAT64 || ti == KILN_FLOAT16;
    (void)ctx;
    for (int64_t i = 0; i < n; i++) {
        double fv = 0.0;
        int64_t iv = 0;
        switch (ti) {
        case KILN_FLOAT32:
            fv = ((const float *)src)[i];
            break;
        case KILN_FLOAT64:
            fv = ((const double *)src)[i];
            break;
        case KILN_FLOAT16:
            fv = half_to_float(((const uint16_t *)src)[i]);
            break;
        case KILN_INT32:
            iv = ((const int32_t *)src)[i];
            break;
        case KILN_INT64:
            iv = ((const int64_t *)src)[i];
            break;
        case KILN_INT8:
            iv = ((const int8_t *)src)[i];
            break;
        case KILN_UINT8:
            iv = src[i];
            break;
        case KILN_INT16:
            iv = ((const int16_t *)src)[i];
            break;
        case KILN_UINT16:
            iv = ((const uint16_t *)src)[i];
            break;
        case KILN_UINT32:
            iv = ((const uint32_t *)src)[i];
            break;
        case KILN_BOOL:
            iv = src[i] != 0;
            break;
        default:
            break;
        }
        if (to == KILN_FLOAT32) {
            ((float *)dst)[i] = in_float ? (float)fv : (float)iv;
            continue;
        }
        if (to == KILN_FLOAT16) {
            /* TFLite: static_cast<float> first, then round to half. */
            ((uint16_t *)dst)[i] = float_to_half(in_float ? (float)fv : (float)iv);
            continue;
        }
        if (to == KILN_FLOAT64) {
            ((double *)dst)[i] = in_float ? fv : (double)iv;
            continue;
        }
        if (to == KILN_BOOL) {
            dst[i] = in_float ? (fv != 0.0) : (iv != 0);
            continue;
        }
        int64_t v = iv;
        if (in_float) {
            /* Truncate toward zero, saturating at the target's range. */
            double lo = -9223372036854775808.0, hi = 9223372036854775807.0;
            switch (to) {
            case KILN_INT32:
                lo = -2147483648.0;
                hi = 2147483647.0;
                break;
            case KILN_INT8:
                lo = -128.0;
                hi = 127.0;
                break;
            case KILN_UINT8:
                lo = 0.0;
                hi = 255.0;
                break;
            case KILN_INT16:
                lo = -32768.0;
                hi = 32767.0;
                break;
            case KILN_UINT16:
                lo = 0.0;
                hi = 65535.0;
                break;
            case KILN_UINT32:
                lo = 0.0;
                hi = 4294967295.0;
                break;
            default:
                break;
            }
            const double tv = fv != fv ? 0.0 : (fv < lo ? lo : (fv > hi ? hi : fv));
            v = f2i64(tv);
        }
        /* Integer to integer: modulo 2^bits (two's complement), as static_cast. */
        switch (to) {
        case KILN_INT32:
            ((int32_t *)dst)[i] = (int32_t)(uint32_t)(uint64_t)v;
            break;
        case KILN_INT64:
            ((int64_t *)dst)[i] = v;
            break;
        case KILN_INT8:
            ((int8_t *)dst)[i] = (int8_t)(uint8_t)(uint64_t)v;
            break;
        case KILN_UINT8:
            dst[i] = (uint8_t)(uint64_t)v;
            break;
        case KILN_INT16:
            ((int16_t *)dst)[i] = (int16_t)(uint16_t)(uint64_t)v;
            break;
        case KILN_UINT16:
            ((uint16_t *)dst)[i] = (uint16_t)(uint64_t)v;
            break;
        case KILN_UINT32:
            ((uint32_t *)dst)[i] = (uint32_t)(uint64_t)v;
            break;
        default:
            break;
        }
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Registration. Versions: those TFLite's BuiltinOpResolver accepts. */

#define F KILN_FLOAT32
#define I32 KILN_INT32
#define I64 KILN_INT64
#define B KILN_BOOL
#define A KILN_ANY

#define BIN3(OP, LO, HI)                                                                           \
    {OP, LO, HI, F, A, bin_prepare, bin_invoke}, {OP, LO, HI, I32, A, bin_prepare, bin_invoke}, {  \
        OP, LO, HI, I64, A, bin_prepare, bin_invoke                                                \
    }
#define CMP(OP, LO, HI)                                                                            \
    BIN3(OP, LO, HI), {OP, LO, HI, KILN_INT8, A, bin_prepare, cmp8_invoke}, {                      \
        OP, LO, HI, KILN_UINT8, A, bin_prepare, cmp8_invoke                                        \
    }
#define UNF(OP, LO, HI)                                                                            \
    { OP, LO, HI, F, A, unary_prepare, unary_invoke }
#define UN3(OP, LO, HI)                                                                            \
    UNF(OP, LO, HI), {OP, LO, HI, I32, A, unary_prepare, unary_invoke}, {                          \
        OP, LO, HI, I64, A, unary_prepare, unary_invoke                                            \
    }

const kiln_kernel_reg kiln__k_elementwise[] = {
    BIN3(KILN_OP_ADD, 1, 5),
    BIN3(KILN_OP_SUB, 1, 5),
    BIN3(KILN_OP_MUL, 1, 7),
    {KILN_OP_DIV, 1, 2, F, A, bin_prepare, bin_invoke},
    {KILN_OP_DIV, 1, 2, I32, A, bin_prepare, bin_invoke},
    BIN3(KILN_OP_SQUARED_DIFFERENCE, 1, 2),
    BIN3(KILN_OP_MAXIMUM, 1, 4),
    BIN3(KILN_OP_MINIMUM, 1, 4),
    {KILN_OP_POW, 1, 1, F, A, bin_prepare, bin_invoke},
    {KILN_OP_POW, 1, 1, I32, A, bin_prepare, bin_invoke},
    BIN3(KILN_OP_FLOOR_DIV, 1, 3),
    BIN3(KILN_OP_FLOOR_MOD, 1, 2),
    CMP(KILN_OP_EQUAL, 1, 4),
    {KILN_OP_EQUAL, 1, 4, B, A, bin_prepare, bin_invoke},
    CMP(KILN_OP_NOT_EQUAL, 1, 3),
    {KILN_OP_NOT_EQUAL, 1, 3, B, A, bin_prepare, bin_invoke},
    CMP(KILN_OP_LESS, 1, 3),
    CMP(KILN_OP_LESS_EQUAL, 1, 2),
    CMP(KILN_OP_GREATER, 1, 2),
    CMP(KILN_OP_GREATER_EQUAL, 1, 3),
    {KILN_OP_LOGICAL_AND, 1, 1, B, A, bin_prepare, bin_invoke},
    {KILN_OP_LOGICAL_OR, 1, 1, B, A, bin_prepare, bin_invoke},
    {KILN_OP_LOGICAL_NOT, 1, 1, B, A, unary_prepare, unary_invoke},
    {KILN_OP_SELECT, 1, 4, B, A, select_prepare, select_invoke},
    {KILN_OP_SELECT_V2, 1, 2, B, A, select_prepare, select_invoke},
    UNF(KILN_OP_EXP, 1, 2),
    UNF(KILN_OP_LOG, 1, 2),
    UNF(KILN_OP_SQRT, 1, 1),
    UNF(KILN_OP_RSQRT, 1, 2),
    UN3(KILN_OP_ABS, 1, 5),
    UN3(KILN_OP_NEG, 1, 1),
    UN3(KILN_OP_SQUARE, 1, 1),
    UN3(KILN_OP_SIGN, 1, 2),
    UNF(KILN_OP_SIN, 1, 1),
    UNF(KILN_OP_COS, 1, 1),
    UNF(KILN_OP_FLOOR, 1, 1),
    UNF(KILN_OP_CEIL, 1, 1),
    UNF(KILN_OP_ROUND, 1, 1),
    UNF(KILN_OP_RELU, 1, 3),
    UNF(KILN_OP_RELU6, 1, 3),
    UNF(KILN_OP_RELU_N1_TO_1, 1, 1),
    UNF(KILN_OP_RELU_0_TO_1, 1, 1),
    UNF(KILN_OP_LEAKY_RELU, 1, 2),
    UNF(KILN_OP_ELU, 1, 1),
    UNF(KILN_OP_HARD_SWISH, 1, 1),
    UNF(KILN_OP_GELU, 1, 2),
    UNF(KILN_OP_LOGISTIC, 1, 3),
    UNF(KILN_OP_TANH, 1, 3),
    {KILN_OP_PRELU, 1, 1, F, A, prelu_prepare, prelu_invoke},
    {KILN_OP_CAST, 1, 7, A, A, cast_prepare, cast_invoke},
    {-1, 0, 0, 0, 0, NULL, NULL},
};
