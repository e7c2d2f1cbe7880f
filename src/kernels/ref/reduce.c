/* reduce.c: float32/int32/int64/bool reductions and axis ops: MEAN, SUM, REDUCE_MAX/MIN/PROD/ANY,
 * SOFTMAX, LOG_SOFTMAX, L2_NORMALIZATION, ARG_MAX/MIN, CUMSUM, TOPK_V2. Semantics: TFLite's
 * reference kernels (float accumulation in input order, float32 arithmetic throughout). */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/kernel.h"
#include "kernels/ops.h"
#include "kernels/quant.h"
#include "kernels/ref/broadcast.h"
#include "kernels/ref/check.h"
#include "kernels/ref/qio.h"

/* Reads the integer values of a known int32/int64 tensor (axis, k) into v (up to max).
 * Returns the count, or -1 with an error set. */
static int32_t read_ints(kiln_kctx *ctx, const kiln_tensor *t, const char *what, int64_t *v,
                         int32_t max, kiln_status *st) {
    if (t->type != KILN_INT32 && t->type != KILN_INT64) {
        *st = kiln_kerr(ctx, KILN_ERR_SHAPE, "%s has type %s, expected INT32 or INT64", what,
                        kiln_dtype_name(t->type));
        return -1;
    }
    if (!kiln_kknown(ctx, t) || !t->data) {
        *st = kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "%s must be a constant", what);
        return -1;
    }
    const int64_t n = kiln_numel(t);
    if (n > max) {
        *st = kiln_kerr(ctx, KILN_ERR_SHAPE, "%s has %lld values, at most %d allowed", what,
                        (long long)n, (int)max);
        return -1;
    }
    for (int64_t i = 0; i < n; i++)
        v[i] =
            t->type == KILN_INT32 ? ((const int32_t *)t->data)[i] : ((const int64_t *)t->data)[i];
    return (int32_t)n;
}

/* Normalizes one axis value against rank (negative counts from the end). */
static kiln_status norm_axis(kiln_kctx *ctx, int64_t a, int32_t rank, int32_t *out) {
    const int64_t r = a < 0 ? a + rank : a;
    if (r < 0 || r >= rank)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "axis %lld is out of range for rank %d", (long long)a,
                         (int)rank);
    *out = (int32_t)r;
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * MEAN, SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD, REDUCE_ANY */

typedef struct red_data {
    kiln_bcast bc;   /* iteration over the input; operand 0 = output (stride 0 on reduced axes) */
    int64_t count;   /* elements reduced into each output element */
    int32_t scratch; /* int64 accumulators for integer MEAN, or -1 */
    /* Quantized int8/int16 REDUCE_PROD: each step rescales by in_scale / out_scale^(1/count). */
    int32_t qprod, zi, zo, mult;
    int shift;
} red_data;

/* TFLite's integer REDUCE_MAX/MIN (raw stored values; int16 needs equal input and output
 * quantization) and REDUCE_PROD (quantized: QuantizedReduceProd; unquantized: wrapping). */
static kiln_status reduce_q_check(kiln_kctx *ctx, const kiln_node *node, red_data *d) {
    const kiln_tensor *in = node->in[0], *o = node->out[0];
    if (node->op != KILN_OP_REDUCE_PROD) {
        if (in->type == KILN_INT16 && in->q.n > 0 &&
            (o->q.n < 1 || in->q.scale[0] != o->q.scale[0] ||
             in->q.zero_point[0] != o->q.zero_point[0]))
            return kiln_kerr(ctx, KILN_ERR_MODEL,
                             "int16 input and output must have the same quantization");
        return KILN_OK;
    }
    if (in->q.n < 1) return KILN_OK;
    if (o->q.n < 1) return kiln_kerr(ctx, KILN_ERR_MODEL, "output has no quantization");
    const float si = in->q.scale[0], so = o->q.scale[0];
    if (!(si > 0.0f) || !(so > 0.0f) || !(si < 1e30f) || !(so < 1e30f))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "scales must be positive");
    d->zi = in->q.zero_point[0];
    d->zo = o->q.zero_point[0];
    if (in->type == KILN_INT16 && (d->zi || d->zo))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "int16 zero points must be 0");
    d->qprod = 1;
    const int64_t ni = kiln_numel(in), no = kiln_numel(o);
    if (ni == 0 || no == 0) return KILN_OK;
    const double real = (double)si / pow((double)so, 1.0 / (double)(ni / no));
    if (!(real < 1e9)) return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "scale ratio out of range");
    kiln_quantize_multiplier(real, &d->mult, &d->shift);
    if (d->shift > 30 || d->shift < -31)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "scale ratio %g is out of range", real);
    return KILN_OK;
}

static kiln_status reduce_prepare(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln_want_io(ctx, node, 2, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *o = node->out[0];
    const int32_t t = in->type;
    const int small =
        t == KILN_INT8 || t == KILN_INT16 || (t == KILN_UINT8 && node->op != KILN_OP_REDUCE_PROD);
    const int ok = node->op == KILN_OP_REDUCE_ANY
                       ? t == KILN_BOOL
                       : (t == KILN_FLOAT32 || t == KILN_INT32 || t == KILN_INT64 ||
                          (small && node->op != KILN_OP_MEAN && node->op != KILN_OP_SUM));
    if (!ok)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "input type %s is not supported",
                         kiln_dtype_name(t));
    if ((s = kiln_want_type(ctx, o, "output", t))) return s;
    int64_t axv[64];
    const int32_t na = read_ints(ctx, node->in[1], "axis", axv, 64, &s);
    if (na < 0) return s;
    int32_t reduced[KILN_MAX_RANK] = {0};
    for (int32_t i = 0; i < na; i++) {
        int32_t a = 0;
        if ((s = norm_axis(ctx, axv[i], in->rank, &a))) return s;
        reduced[a] = 1; /* duplicates collapse */
    }
    const int keep = kiln_opt_i8(node, 0, 0) != 0;
    int32_t kdims[KILN_MAX_RANK], odims[KILN_MAX_RANK], orank = 0;
    int64_t count = 1;
    for (int32_t i = 0; i < in->rank; i++) {
        kdims[i] = reduced[i] ? 1 : in->dims[i];
        if (reduced[i]) count *= in->dims[i];
        if (!reduced[i] || keep) odims[orank++] = kdims[i];
    }
    if ((s = kiln_kresize(ctx, o, orank, odims))) return s;
    red_data *d = (red_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    const int32_t r[1] = {in->rank};
    const int32_t *const dd[1] = {kdims};
    kiln_bcast_init(&d->bc, 1, r, dd, in->rank, in->dims);
    d->count = count;
    d->scratch = -1;
    if (small && (s = reduce_q_check(ctx, node, d))) return s;
    if (small && node->op == KILN_OP_REDUCE_PROD) {
        const int64_t n = kiln_numel(o);
        d->scratch = kiln_kscratch_request(ctx, (size_t)(n > 0 ? n : 1) * (sizeof(int32_t) + 1));
        if (d->scratch < 0) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of scratch memory");
    }
    if (node->op == KILN_OP_MEAN && t == KILN_INT32) {
        const int64_t n = kiln_numel(o);
        d->scratch = kiln_kscratch_request(ctx, (size_t)(n > 0 ? n : 1) * sizeof(int64_t));
        if (d->scratch < 0) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of scratch memory");
    }
    node->data = d;
    return KILN_OK;
}

/* Folds every input element into its output element, in input order: ACC[o] = EXPR(ACC[o], x). */
#define REDUCE_LOOP(TI, TA, ACC, EXPR)                                                             \
    do {                                                                                           \
        const TI *pi_ = (const TI *)node->in[0]->data;                                             \
        const kiln_bcast *bc_ = &d->bc;                                                            \
        /* the output's inner stride is 0 (reduced) or 1 (kept) */                                 \
        const int64_t so_ = bc_->stride[0][bc_->rank - 1];                                         \
        kiln_bcast_it it_;                                                                         \
        kiln_bcast_begin(&it_);                                                                    \
        for (int64_t r_ = 0; r_ < bc_->rows; r_++) {                                               \
            const TI *xi_ = pi_ + r_ * bc_->len;                                                   \
            TA *acc_ = (ACC) + it_.off[0];                                                         \
            if (so_ == 0) { /* the whole row folds into one output: keep it in a register */       \
                TA cur = *acc_;                                                                    \
                for (int64_t i_ = 0; i_ < bc_->len; i_++) {                                        \
                    const TI x = xi_[i_];                                                          \
                    cur = (EXPR);                                                                  \
                }                                                                                  \
                *acc_ = cur;                                                                       \
            } else {                                                                               \
                for (int64_t i_ = 0; i_ < bc_->len; i_++) {                                        \
                    const TI x = xi_[i_];                                                          \
                    const TA cur = acc_[i_];                                                       \
                    acc_[i_] = (EXPR);                                                             \
                }                                                                                  \
            }                                                                                      \
            kiln_bcast_next(bc_, &it_);                                                            \
        }                                                                                          \
    } while (0)

#define FILL(T, P, N, V)                                                                           \
    do {                                                                                           \
        for (int64_t j_ = 0; j_ < (N); j_++)                                                       \
            (P)[j_] = (V);                                                                         \
    } while (0)

static inline int32_t wadd32(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}
static inline int32_t wmul32(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a * (uint32_t)b);
}
static inline int64_t wadd64(int64_t a, int64_t b) {
    return (int64_t)((uint64_t)a + (uint64_t)b);
}
static inline int64_t wmul64(int64_t a, int64_t b) {
    return (int64_t)((uint64_t)a * (uint64_t)b);
}

/* TFLite's QuantizedReduceProd: the first element of each output (all reduced indices 0)
 * starts the product as x - zp; each further one multiplies in int64 and rescales with the
 * int64 MultiplyByQuantizedMultiplier; the result is rescaled once more. Input order. */
static void quant_prod(kiln_kctx *ctx, const kiln_node *node, const red_data *d, int32_t *acc) {
    const int64_t no = kiln_numel(node->out[0]);
    uint8_t *seen = (uint8_t *)(acc + (no > 0 ? no : 1));
    memset(seen, 0, (size_t)(no > 0 ? no : 1));
    const kiln_tensor *in = node->in[0];
    const kiln_bcast *bc = &d->bc;
    const int64_t so = bc->stride[0][bc->rank - 1];
    kiln_bcast_it it;
    kiln_bcast_begin(&it);
    (void)ctx;
    for (int64_t r = 0; r < bc->rows; r++) {
        for (int64_t i = 0; i < bc->len; i++) {
            const int64_t o = it.off[0] + i * so;
            const int32_t x = kiln_q_ld(in->data, in->type, r * bc->len + i) - d->zi;
            if (!seen[o]) {
                seen[o] = 1;
                acc[o] = x;
            } else {
                acc[o] = kiln_mbqm64((int64_t)acc[o] * x, d->mult, d->shift);
            }
        }
        kiln_bcast_next(bc, &it);
    }
}

/* int8/uint8/int16 REDUCE_MAX, REDUCE_MIN, REDUCE_PROD. */
static void reduce_small(kiln_kctx *ctx, const kiln_node *node, const red_data *d) {
    const int32_t t = node->in[0]->type;
    const int64_t no = kiln_numel(node->out[0]);
    void *out = node->out[0]->data;
    const int32_t lo = t == KILN_INT8 ? -128 : (t == KILN_UINT8 ? 0 : -32768);
    const int32_t hi = t == KILN_INT8 ? 127 : (t == KILN_UINT8 ? 255 : 32767);
    if (node->op == KILN_OP_REDUCE_PROD) {
        int32_t *acc = (int32_t *)kiln_kscratch(ctx, d->scratch);
        FILL(int32_t, acc, no, 1);
        if (kiln_numel(node->in[0]) == 0) {
            /* TFLite returns early and leaves the output as it was; write the empty product. */
        } else if (d->qprod) {
            quant_prod(ctx, node, d, acc);
        } else if (t == KILN_INT8) {
            REDUCE_LOOP(int8_t, int32_t, acc, wmul32(x, cur));
        } else {
            REDUCE_LOOP(int16_t, int32_t, acc, wmul32(x, cur));
        }
        for (int64_t i = 0; i < no; i++) {
            int32_t v = acc[i];
            if (d->qprod && kiln_numel(node->in[0]) == 0)
                v = d->zo; /* TFLite leaves the output untouched; write the real value 0 */
            else if (d->qprod)
                v = kiln_clamp_i32(kiln_add_wrap_i32(kiln_mbqm64(v, d->mult, d->shift), d->zo), lo,
                                   hi);
            else /* the raw product wraps to the element type, as TFLite's casts do */
                v = t == KILN_INT8 ? (int32_t)(int8_t)(uint8_t)(uint32_t)v
                                   : (int32_t)(int16_t)(uint16_t)(uint32_t)v;
            kiln_q_st(out, t, i, v);
        }
        return;
    }
    const int mx = node->op == KILN_OP_REDUCE_MAX;
#define SMALL_MINMAX(T)                                                                            \
    do {                                                                                           \
        T *o = (T *)out;                                                                           \
        FILL(T, o, no, (T)(mx ? lo : hi));                                                         \
        if (mx)                                                                                    \
            REDUCE_LOOP(T, T, o, x > cur ? x : cur);                                               \
        else                                                                                       \
            REDUCE_LOOP(T, T, o, x < cur ? x : cur);                                               \
    } while (0)
    if (t == KILN_INT8)
        SMALL_MINMAX(int8_t);
    else if (t == KILN_UINT8)
        SMALL_MINMAX(uint8_t);
    else
        SMALL_MINMAX(int16_t);
#undef SMALL_MINMAX
}

static kiln_status reduce_invoke(kiln_kctx *ctx, kiln_node *node) {
    const red_data *d = (const red_data *)node->data;
    const int32_t t = node->in[0]->type;
    const int64_t no = kiln_numel(node->out[0]);
    void *out = node->out[0]->data;
    if (t == KILN_INT8 || t == KILN_UINT8 || t == KILN_INT16) {
        reduce_small(ctx, node, d);
        return KILN_OK;
    }
    switch (node->op) {
    case KILN_OP_SUM:
    case KILN_OP_MEAN:
        if (t == KILN_FLOAT32) {
            float *o = (float *)out;
            FILL(float, o, no, 0.0f);
            REDUCE_LOOP(float, float, o, x + cur);
            if (node->op == KILN_OP_MEAN) {
                /* TFLite: an empty input gives NaN; otherwise sum / count in float. */
                const float c = (float)d->count;
                for (int64_t i = 0; i < no; i++)
                    o[i] = d->count ? o[i] / c : NAN;
            }
        } else if (t == KILN_INT32) {
            int32_t *o = (int32_t *)out;
            if (node->op == KILN_OP_SUM) {
                FILL(int32_t, o, no, 0);
                REDUCE_LOOP(int32_t, int32_t, o, wadd32(x, cur));
            } else {
                int64_t *acc = (int64_t *)kiln_kscratch(ctx, d->scratch);
                FILL(int64_t, acc, no, 0);
                REDUCE_LOOP(int32_t, int64_t, acc, wadd64(x, cur));
                for (int64_t i = 0; i < no; i++)
                    o[i] = d->count ? (int32_t)(acc[i] / d->count) : 0;
            }
        } else {
            int64_t *o = (int64_t *)out;
            FILL(int64_t, o, no, 0);
            REDUCE_LOOP(int64_t, int64_t, o, wadd64(x, cur));
            if (node->op == KILN_OP_MEAN)
                for (int64_t i = 0; i < no; i++)
                    o[i] = d->count ? o[i] / d->count : 0;
        }
        break;
    case KILN_OP_REDUCE_PROD:
        if (t == KILN_FLOAT32) {
            float *o = (float *)out;
            FILL(float, o, no, 1.0f);
            REDUCE_LOOP(float, float, o, x *cur);
        } else if (t == KILN_INT32) {
            int32_t *o = (int32_t *)out;
            FILL(int32_t, o, no, 1);
            REDUCE_LOOP(int32_t, int32_t, o, wmul32(x, cur));
        } else {
            int64_t *o = (int64_t *)out;
            FILL(int64_t, o, no, 1);
            REDUCE_LOOP(int64_t, int64_t, o, wmul64(x, cur));
        }
        break;
    case KILN_OP_REDUCE_MAX:
        /* Initial value: the type's lowest; the reducer takes x only when x > current. */
        if (t == KILN_FLOAT32) {
            float *o = (float *)out;
            FILL(float, o, no, -FLT_MAX);
            REDUCE_LOOP(float, float, o, x > cur ? x : cur);
        } else if (t == KILN_INT32) {
            int32_t *o = (int32_t *)out;
            FILL(int32_t, o, no, INT32_MIN);
            REDUCE_LOOP(int32_t, int32_t, o, x > cur ? x : cur);
        } else {
            int64_t *o = (int64_t *)out;
            FILL(int64_t, o, no, INT64_MIN);
            REDUCE_LOOP(int64_t, int64_t, o, x > cur ? x : cur);
        }
        break;
    case KILN_OP_REDUCE_MIN:
        if (t == KILN_FLOAT32) {
            float *o = (float *)out;
            FILL(float, o, no, FLT_MAX);
            REDUCE_LOOP(float, float, o, x < cur ? x : cur);
        } else if (t == KILN_INT32) {
            int32_t *o = (int32_t *)out;
            FILL(int32_t, o, no, INT32_MAX);
            REDUCE_LOOP(int32_t, int32_t, o, x < cur ? x : cur);
        } else {
            int64_t *o = (int64_t *)out;
            FILL(int64_t, o, no, INT64_MAX);
            REDUCE_LOOP(int64_t, int64_t, o, x < cur ? x : cur);
        }
        break;
    case KILN_OP_REDUCE_ANY: {
        uint8_t *o = (uint8_t *)out;
        FILL(uint8_t, o, no, 0);
        REDUCE_LOOP(uint8_t, uint8_t, o, (uint8_t)((x != 0) || (cur != 0)));
    } break;
    default:
        break;
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * SOFTMAX, LOG_SOFTMAX, L2_NORMALIZATION: over the last axis. */

typedef struct last_data {
    int64_t outer, depth;
    float beta;
} last_data;

static kiln_status lastaxis_prepare(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln_want_io(ctx, node, 1, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *o = node->out[0];
    if ((s = kiln_want_type(ctx, in, "input", KILN_FLOAT32))) return s;
    if ((s = kiln_want_type(ctx, o, "output", KILN_FLOAT32))) return s;
    if (in->rank < 1) return kiln_kerr(ctx, KILN_ERR_SHAPE, "input must have rank >= 1");
    if (node->op == KILN_OP_L2_NORMALIZATION) {
        /* TFLite's L2 norm kernels take no fused activation. */
        const int32_t act = kiln_opt_i8(node, 0, 0);
        if (act != 0)
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "fused activation %d is not supported",
                             (int)act);
    }
    if ((s = kiln_kresize(ctx, o, in->rank, in->dims))) return s;
    last_data *d = (last_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    d->depth = in->dims[in->rank - 1];
    d->outer = d->depth ? kiln_numel(in) / d->depth : 0;
    d->beta = node->op == KILN_OP_SOFTMAX ? kiln_opt_f32(node, 0, 0.0f) : 1.0f;
    node->data = d;
    return KILN_OK;
}

static kiln_status lastaxis_invoke(kiln_kctx *ctx, kiln_node *node) {
    const last_data *d = (const last_data *)node->data;
    const float *in = (const float *)node->in[0]->data;
    float *out = (float *)node->out[0]->data;
    const int64_t depth = d->depth;
    (void)ctx;
    for (int64_t i = 0; i < d->outer; i++) {
        const float *x = in + i * depth;
        float *y = out + i * depth;
        if (node->op == KILN_OP_L2_NORMALIZATION) {
            float sq = 0.0f;
            for (int64_t c = 0; c < depth; c++)
                sq += x[c] * x[c];
            float norm = sqrtf(sq);
            if (norm < 1e-6f) norm = 1e-6f; /* TFLite's epsilon: max(norm, 1e-6) */
            for (int64_t c = 0; c < depth; c++)
                y[c] = x[c] / norm;
            continue;
        }
        float mx = -FLT_MAX;
        for (int64_t c = 0; c < depth; c++)
            mx = x[c] > mx ? x[c] : mx;
        if (node->op == KILN_OP_SOFTMAX) {
            const float beta = d->beta;
            float sum = 0.0f;
            for (int64_t c = 0; c < depth; c++) {
                const float e = expf((x[c] - mx) * beta);
                y[c] = e;
                sum += e;
            }
            for (int64_t c = 0; c < depth; c++)
                y[c] = y[c] / sum;
        } else {
            float sum = 0.0f;
            for (int64_t c = 0; c < depth; c++)
                sum += expf(x[c] - mx);
            const float lsum = logf(sum);
            for (int64_t c = 0; c < depth; c++)
                y[c] = x[c] - mx - lsum;
        }
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * ARG_MAX, ARG_MIN: first index of the extreme value along an axis. */

typedef struct arg_data {
    int64_t outer, axis_size, inner;
} arg_data;

static kiln_status arg_prepare(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln_want_io(ctx, node, 2, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *o = node->out[0];
    const int32_t t = in->type;
    if (t != KILN_FLOAT32 && t != KILN_INT32 && t != KILN_INT64 && t != KILN_UINT8 &&
        t != KILN_INT8 && t != KILN_BOOL)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "input type %s is not supported",
                         kiln_dtype_name(t));
    if (o->type != KILN_INT32 && o->type != KILN_INT64)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "output has type %s, expected INT32 or INT64",
                         kiln_dtype_name(o->type));
    if (in->rank < 1) return kiln_kerr(ctx, KILN_ERR_SHAPE, "input must have rank >= 1");
    int64_t av[1];
    const int32_t na = read_ints(ctx, node->in[1], "axis", av, 1, &s);
    if (na < 0) return s;
    if (na != 1) return kiln_kerr(ctx, KILN_ERR_SHAPE, "axis must have exactly one value");
    int32_t axis = 0;
    if ((s = norm_axis(ctx, av[0], in->rank, &axis))) return s;
    int32_t dims[KILN_MAX_RANK], r = 0;
    arg_data *d = (arg_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    d->outer = d->inner = 1;
    for (int32_t i = 0; i < in->rank; i++) {
        if (i == axis) continue;
        dims[r++] = in->dims[i];
        if (i < axis)
            d->outer *= in->dims[i];
        else
            d->inner *= in->dims[i];
    }
    d->axis_size = in->dims[axis];
    if (d->axis_size == 0 && d->outer * d->inner > 0)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "cannot take ARG_MAX/ARG_MIN over an empty axis");
    if ((s = kiln_kresize(ctx, o, r, dims))) return s;
    node->data = d;
    return KILN_OK;
}

#define ARG_LOOP(T, CMP)                                                                           \
    do {                                                                                           \
        const T *x_ = (const T *)node->in[0]->data;                                                \
        for (int64_t o_ = 0; o_ < d->outer; o_++)                                                  \
            for (int64_t i_ = 0; i_ < d->inner; i_++) {                                            \
                const T *p_ = x_ + o_ * d->axis_size * d->inner + i_;                              \
                T best = p_[0];                                                                    \
                int64_t bi_ = 0;                                                                   \
                for (int64_t a_ = 1; a_ < d->axis_size; a_++) {                                    \
                    const T v = p_[a_ * d->inner];                                                 \
                    if (v CMP best) {                                                              \
                        best = v;                                                                  \
                        bi_ = a_;                                                                  \
                    }                                                                              \
                }                                                                                  \
                const int64_t oi_ = o_ * d->inner + i_;                                            \
                if (o32)                                                                           \
                    o32[oi_] = (int32_t)bi_;                                                       \
                else                                                                               \
                    o64[oi_] = bi_;                                                                \
            }                                                                                      \
    } while (0)

#define ARG_TYPES(CMP)                                                                             \
    do {                                                                                           \
        switch (node->in[0]->type) {                                                               \
        case KILN_FLOAT32:                                                                         \
            ARG_LOOP(float, CMP);                                                                  \
            break;                                                                                 \
        case KILN_INT32:                                                                           \
            ARG_LOOP(int32_t, CMP);                                                                \
            break;                                                                                 \
        case KILN_INT64:                                                                           \
            ARG_LOOP(int64_t, CMP);                                                                \
            break;                                                                                 \
        case KILN_INT8:                                                                            \
            ARG_LOOP(int8_t, CMP);                                                                 \
            break;                                                                                 \
        default:                                                                                   \
            ARG_LOOP(uint8_t, CMP);                                                                \
            break;                                                                                 \
        }                                                                                          \
    } while (0)

static kiln_status arg_invoke(kiln_kctx *ctx, kiln_node *node) {
    const arg_data *d = (const arg_data *)node->data;
    kiln_tensor *o = node->out[0];
    int32_t *o32 = o->type == KILN_INT32 ? (int32_t *)o->data : NULL;
    int64_t *o64 = o->type == KILN_INT64 ? (int64_t *)o->data : NULL;
    (void)ctx;
    if (d->axis_size == 0) return KILN_OK;
    if (node->op == KILN_OP_ARG_MAX)
        ARG_TYPES(>);
    else
        ARG_TYPES(<);
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * CUMSUM (exclusive, reverse) */

typedef struct cum_data {
    int64_t outer, axis_size, inner;
    int32_t exclusive, reverse;
} cum_data;

static kiln_status cumsum_prepare(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln_want_io(ctx, node, 2, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *o = node->out[0];
    const int32_t t = in->type;
    if (t != KILN_FLOAT32 && t != KILN_INT32 && t != KILN_INT64)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "input type %s is not supported",
                         kiln_dtype_name(t));
    if ((s = kiln_want_type(ctx, o, "output", t))) return s;
    if (in->rank < 1) return kiln_kerr(ctx, KILN_ERR_SHAPE, "input must have rank >= 1");
    int64_t av[1];
    const int32_t na = read_ints(ctx, node->in[1], "axis", av, 1, &s);
    if (na < 0) return s;
    if (na != 1) return kiln_kerr(ctx, KILN_ERR_SHAPE, "axis must have exactly one value");
    int32_t axis = 0;
    if ((s = norm_axis(ctx, av[0], in->rank, &axis))) return s;
    if ((s = kiln_kresize(ctx, o, in->rank, in->dims))) return s;
    cum_data *d = (cum_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    d->outer = d->inner = 1;
    for (int32_t i = 0; i < in->rank; i++) {
        if (i < axis) d->outer *= in->dims[i];
        if (i > axis) d->inner *= in->dims[i];
    }
    d->axis_size = in->dims[axis];
    d->exclusive = kiln_opt_i8(node, 0, 0) != 0;
    d->reverse = kiln_opt_i8(node, 1, 0) != 0;
    node->data = d;
    return KILN_OK;
}

#define CUM_LOOP(T, ADD)                                                                           \
    do {                                                                                           \
        const T *x_ = (const T *)node->in[0]->data;                                                \
        T *y_ = (T *)node->out[0]->data;                                                           \
        for (int64_t o_ = 0; o_ < d->outer; o_++)                                                  \
            for (int64_t i_ = 0; i_ < d->inner; i_++) {                                            \
                const int64_t base_ = o_ * d->axis_size * d->inner + i_;                           \
                T acc = 0;                                                                         \
                for (int64_t a_ = 0; a_ < d->axis_size; a_++) {                                    \
                    const int64_t k_ = d->reverse ? d->axis_size - 1 - a_ : a_;                    \
                    const int64_t off_ = base_ + k_ * d->inner;                                    \
                    const T v = x_[off_];                                                          \
                    if (d->exclusive) {                                                            \
                        y_[off_] = acc;                                                            \
                        acc = ADD(acc, v);                                                         \
                    } else {                                                                       \
                        acc = ADD(acc, v);                                                         \
                        y_[off_] = acc;                                                            \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
    } while (0)

#define FADD(a, b) ((a) + (b))

static kiln_status cumsum_invoke(kiln_kctx *ctx, kiln_node *node) {
    const cum_data *d = (const cum_data *)node->data;
    (void)ctx;
    switch (node->in[0]->type) {
    case KILN_FLOAT32:
        CUM_LOOP(float, FADD);
        break;
    case KILN_INT32:
        CUM_LOOP(int32_t, wadd32);
        break;
    default:
        CUM_LOOP(int64_t, wadd64);
        break;
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * TOPK_V2: the k largest values of the last axis, largest first; equal values keep the lower
 * index first (TFLite's TopContainer order). A heap of k indices per row: O(n log k). */

typedef struct topk_data {
    int64_t outer, n;
    int32_t k;
    int32_t scratch;
} topk_data;

static kiln_status topk_prepare(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln_want_io(ctx, node, 2, 2);
    if (s) return s;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *ov = node->out[0], *oi = node->out[1];
    const int32_t t = in->type;
    if (t != KILN_FLOAT32 && t != KILN_INT32 && t != KILN_INT64 && t != KILN_UINT8 &&
        t != KILN_INT8 && t != KILN_INT16)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "input type %s is not supported",
                         kiln_dtype_name(t));
    if ((s = kiln_want_type(ctx, ov, "values output", t))) return s;
    if (oi->type != KILN_INT32 && oi->type != KILN_INT64 && oi->type != KILN_INT16)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "indices output has type %s, expected INT32",
                         kiln_dtype_name(oi->type));
    if (in->rank < 1) return kiln_kerr(ctx, KILN_ERR_SHAPE, "input must have rank >= 1");
    int64_t kv[1];
    const int32_t nk = read_ints(ctx, node->in[1], "k", kv, 1, &s);
    if (nk < 0) return s;
    if (nk != 1) return kiln_kerr(ctx, KILN_ERR_SHAPE, "k must be a single value");
    const int32_t last = in->dims[in->rank - 1];
    if (kv[0] < 0 || kv[0] > last)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "k = %lld is out of range (last dimension %d)",
                         (long long)kv[0], (int)last);
    if (oi->type == KILN_INT16 && last > 32768)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "INT16 indices cannot address %d values", (int)last);
    int32_t dims[KILN_MAX_RANK];
    for (int32_t i = 0; i < in->rank; i++)
        dims[i] = in->dims[i];
    dims[in->rank - 1] = (int32_t)kv[0];
    if ((s = kiln_kresize(ctx, ov, in->rank, dims))) return s;
    if ((s = kiln_kresize(ctx, oi, in->rank, dims))) return s;
    topk_data *d = (topk_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    d->k = (int32_t)kv[0];
    d->n = last;
    d->outer = last ? kiln_numel(in) / last : 0;
    d->scratch = kiln_kscratch_request(ctx, (size_t)(d->k > 0 ? d->k : 1) * sizeof(int32_t));
    if (d->scratch < 0) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of scratch memory");
    node->data = d;
    return KILN_OK;
}

/* heap holds indices into x; the root is the worst kept element. "a worse than b": smaller
 * value, or equal value and larger index. */
#define TOPK_ROW(T)                                                                                \
    do {                                                                                           \
        const T *x = (const T *)node->in[0]->data + row * n;                                       \
        T *yv = (T *)node->out[0]->data + row * k;                                                 \
        int32_t cnt = 0;                                                                           \
        for (int32_t i = 0; i < (int32_t)n; i++) {                                                 \
            int32_t pos;                                                                           \
            if (cnt < k) {                                                                         \
                pos = cnt++; /* sift up */                                                         \
                while (pos > 0) {                                                                  \
                    const int32_t par = (pos - 1) / 2;                                             \
                    if (!TK_WORSE(x, i, heap[par])) break;                                         \
                    heap[pos] = heap[par];                                                         \
                    pos = par;                                                                     \
                }                                                                                  \
                heap[pos] = i;                                                                     \
            } else if (TK_WORSE(x, heap[0], i)) {                                                  \
                pos = 0; /* replace the root, sift down */                                         \
                for (;;) {                                                                         \
                    const int32_t l = 2 * pos + 1, rr = l + 1;                                     \
                    int32_t w = -1;                                                                \
                    if (l < cnt && TK_WORSE(x, heap[l], i)) w = l;                                 \
                    if (rr < cnt && TK_WORSE(x, heap[rr], w < 0 ? i : heap[l])) w = rr;            \
                    if (w < 0) break;                                                              \
                    heap[pos] = heap[w];                                                           \
                    pos = w;                                                                       \
                }                                                                                  \
                heap[pos] = i;                                                                     \
            }                                                                                      \
        }                                                                                          \
        /* Pop the worst element into the last free slot: output is best first. */                 \
        for (int32_t slot = cnt - 1; slot >= 0; slot--) {                                          \
            const int32_t top = heap[0];                                                           \
            const int32_t moved = heap[slot];                                                      \
            int32_t pos = 0;                                                                       \
            const int32_t m = slot; /* heap size after pop */                                      \
            for (;;) {                                                                             \
                const int32_t l = 2 * pos + 1, rr = l + 1;                                         \
                int32_t w = -1;                                                                    \
                if (l < m && TK_WORSE(x, heap[l], moved)) w = l;                                   \
                if (rr < m && TK_WORSE(x, heap[rr], w < 0 ? moved : heap[l])) w = rr;              \
                if (w < 0) break;                                                                  \
                heap[pos] = heap[w];                                                               \
                pos = w;                                                                           \
            }                                                                                      \
            if (m > 0) heap[pos] = moved;                                                          \
            yv[slot] = x[top];                                                                     \
            if (yi32)                                                                              \
                yi32[row * k + slot] = top;                                                        \
            else if (yi64)                                                                         \
                yi64[row * k + slot] = top;                                                        \
            else                                                                                   \
                yi16[row * k + slot] = (int16_t)top;                                               \
        }                                                                                          \
    } while (0)

#define TK_WORSE(x, a, b) ((x)[a] < (x)[b] || ((x)[a] == (x)[b] && (a) > (b)))

static kiln_status topk_invoke(kiln_kctx *ctx, kiln_node *node) {
    const topk_data *d = (const topk_data *)node->data;
    int32_t *heap = (int32_t *)kiln_kscratch(ctx, d->scratch);
    const kiln_tensor *oi = node->out[1];
    int32_t *yi32 = oi->type == KILN_INT32 ? (int32_t *)oi->data : NULL;
    int64_t *yi64 = oi->type == KILN_INT64 ? (int64_t *)oi->data : NULL;
    int16_t *yi16 = oi->type == KILN_INT16 ? (int16_t *)oi->data : NULL;
    const int32_t k = d->k;
    const int64_t n = d->n;
    if (k == 0) return KILN_OK;
    for (int64_t row = 0; row < d->outer; row++) {
        switch (node->in[0]->type) {
        case KILN_FLOAT32:
            TOPK_ROW(float);
            break;
        case KILN_INT32:
            TOPK_ROW(int32_t);
            break;
        case KILN_INT64:
            TOPK_ROW(int64_t);
            break;
        case KILN_INT8:
            TOPK_ROW(int8_t);
            break;
        case KILN_INT16:
            TOPK_ROW(int16_t);
            break;
        default:
            TOPK_ROW(uint8_t);
            break;
        }
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Registration. Versions: those TFLite's BuiltinOpResolver accepts. */

#define RED3(OP, LO, HI)                                                                           \
    {OP, LO, HI, KILN_FLOAT32, KILN_ANY, reduce_prepare, reduce_invoke},                           \
        {OP, LO, HI, KILN_INT32, KILN_ANY, reduce_prepare, reduce_invoke}, {                       \
        OP, LO, HI, KILN_INT64, KILN_ANY, reduce_prepare, reduce_invoke                            \
    }
#define REDQ(OP, LO, HI, T)                                                                        \
    { OP, LO, HI, T, KILN_ANY, reduce_prepare, reduce_invoke }
#define ARG(OP, T)                                                                                 \
    { OP, 1, 3, T, KILN_ANY, arg_prepare, arg_invoke }

const kiln_kernel_reg kiln__k_reduce[] = {
    RED3(KILN_OP_MEAN, 1, 3),
    RED3(KILN_OP_SUM, 1, 2),
    RED3(KILN_OP_REDUCE_MAX, 1, 3),
    RED3(KILN_OP_REDUCE_MIN, 1, 3),
    RED3(KILN_OP_REDUCE_PROD, 1, 2),
    REDQ(KILN_OP_REDUCE_MAX, 1, 3, KILN_INT8),
    REDQ(KILN_OP_REDUCE_MAX, 1, 3, KILN_UINT8),
    REDQ(KILN_OP_REDUCE_MAX, 1, 3, KILN_INT16),
    REDQ(KILN_OP_REDUCE_MIN, 1, 3, KILN_INT8),
    REDQ(KILN_OP_REDUCE_MIN, 1, 3, KILN_UINT8),
    REDQ(KILN_OP_REDUCE_MIN, 1, 3, KILN_INT16),
    REDQ(KILN_OP_REDUCE_PROD, 1, 2, KILN_INT8),
    REDQ(KILN_OP_REDUCE_PROD, 1, 2, KILN_INT16),
    {KILN_OP_REDUCE_ANY, 1, 1, KILN_BOOL, KILN_ANY, reduce_prepare, reduce_invoke},
    {KILN_OP_SOFTMAX, 1, 3, KILN_FLOAT32, KILN_ANY, lastaxis_prepare, lastaxis_invoke},
    {KILN_OP_LOG_SOFTMAX, 1, 2, KILN_FLOAT32, KILN_ANY, lastaxis_prepare, lastaxis_invoke},
    {KILN_OP_L2_NORMALIZATION, 1, 2, KILN_FLOAT32, KILN_ANY, lastaxis_prepare, lastaxis_invoke},
    ARG(KILN_OP_ARG_MAX, KILN_FLOAT32),
    ARG(KILN_OP_ARG_MAX, KILN_INT32),
    ARG(KILN_OP_ARG_MAX, KILN_INT64),
    ARG(KILN_OP_ARG_MAX, KILN_UINT8),
    ARG(KILN_OP_ARG_MAX, KILN_INT8),
    ARG(KILN_OP_ARG_MAX, KILN_BOOL),
    ARG(KILN_OP_ARG_MIN, KILN_FLOAT32),
    ARG(KILN_OP_ARG_MIN, KILN_INT32),
    ARG(KILN_OP_ARG_MIN, KILN_INT64),
    ARG(KILN_OP_ARG_MIN, KILN_UINT8),
    ARG(KILN_OP_ARG_MIN, KILN_INT8),
    ARG(KILN_OP_ARG_MIN, KILN_BOOL),
    {KILN_OP_CUMSUM, 1, 1, KILN_FLOAT32, KILN_ANY, cumsum_prepare, cumsum_invoke},
    {KILN_OP_CUMSUM, 1, 1, KILN_INT32, KILN_ANY, cumsum_prepare, cumsum_invoke},
    {KILN_OP_CUMSUM, 1, 1, KILN_INT64, KILN_ANY, cumsum_prepare, cumsum_invoke},
    {KILN_OP_TOPK_V2, 1, 3, KILN_FLOAT32, KILN_ANY, topk_prepare, topk_invoke},
    {KILN_OP_TOPK_V2, 1, 3, KILN_INT32, KILN_ANY, topk_prepare, topk_invoke},
    {KILN_OP_TOPK_V2, 1, 3, KILN_INT64, KILN_ANY, topk_prepare, topk_invoke},
    {KILN_OP_TOPK_V2, 1, 3, KILN_UINT8, KILN_ANY, topk_prepare, topk_invoke},
    {KILN_OP_TOPK_V2, 1, 3, KILN_INT8, KILN_ANY, topk_prepare, topk_invoke},
    {KILN_OP_TOPK_V2, 1, 3, KILN_INT16, KILN_ANY, topk_prepare, topk_invoke},
    {-1, 0, 0, 0, 0, NULL, NULL},
};
