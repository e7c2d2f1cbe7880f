/* shape_slice.c: TRANSPOSE, CONCATENATION, SPLIT, SPLIT_V, PACK, UNPACK, PAD, PADV2, MIRROR_PAD,
 * STRIDED_SLICE, SLICE, TILE, BROADCAST_TO, REVERSE_V2. Semantics of TFLite's builtin kernels
 * (tensorflow/lite/kernels/<op>.cc and reference_ops); elements are copied by size. */
#include "kernels/ref/shape_common.h"

#include <math.h>

/* Output dims from int64 values, checked to fit int32. */

/* Ops that copy a strided view of input 0 keep the view in node->data. */
typedef struct view_data {
    int64_t base;
    sh_view v;
} view_data;

static kiln_status keep_view(kiln_kctx *ctx, kiln_node *node, const view_data *vd) {
    view_data *p = (view_data *)kiln_kalloc(ctx, sizeof *p);
    if (!p) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    *p = *vd;
    node->data = p;
    return KILN_OK;
}

static kiln_status eval_view(kiln_kctx *ctx, kiln_node *node) {
    const view_data *vd = (const view_data *)node->data;
    kiln__sh_copy_view(node->out[0]->data, node->in[0]->data, vd->base, &vd->v,
                       kiln_dtype_size(node->in[0]->type));
    return KILN_OK;
}

/* A non-negative axis from a possibly negative one, for a tensor of `rank` dims. */
static int norm_axis(int64_t a, int32_t rank, int32_t *out) {
    if (a < 0) a += rank;
    if (a < 0 || a >= rank) return 0;
    *out = (int32_t)a;
    return 1;
}

/* ---- TRANSPOSE ---------------------------------------------------------------------------- */

kiln_status kiln__sh_prep_transpose(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 2, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0], *perm = node->in[1];
    kiln_tensor *out = node->out[0];
    if ((s = kiln__sh_same_type(ctx, in, out))) return s;
    if ((s = kiln__sh_known_int(ctx, perm, "TRANSPOSE permutation"))) return s;
    if (perm->rank != 1 || perm->dims[0] != in->rank)
        return kiln_kerr(ctx, KILN_ERR_MODEL,
                         "TRANSPOSE permutation has %lld entries, input has %d dims",
                         (long long)kiln_numel(perm), (int)in->rank);
    int64_t ist[KILN_MAX_RANK], od[KILN_MAX_RANK];
    sh_strides(in, ist);
    uint8_t seen[KILN_MAX_RANK] = {0};
    view_data vd = {0};
    vd.v.rank = in->rank;
    for (int32_t i = 0; i < in->rank; i++) {
        const int64_t p = sh_ival(perm, i);
        if (p < 0 || p >= in->rank || seen[p])
            return kiln_kerr(ctx, KILN_ERR_MODEL,
                             "TRANSPOSE permutation entry %d is %lld: not a permutation of 0..%d",
                             (int)i, (long long)p, (int)in->rank - 1);
        seen[p] = 1;
        od[i] = in->dims[p];
        vd.v.dims[i] = in->dims[p];
        vd.v.st[i] = ist[p];
    }
    if ((s = kiln__sh_resize64(ctx, out, in->rank, od))) return s;
    return keep_view(ctx, node, &vd);
}

kiln_status kiln__sh_eval_transpose(kiln_kctx *ctx, kiln_node *node) {
    return eval_view(ctx, node);
}

/* ---- CONCATENATION ------------------------------------------------------------------------ */

typedef struct concat_data {
    int32_t axis;
} concat_data;

/* Only uint8 inputs are rescaled (ConcatenationWithScaling); int8 inputs must share the
 * output's quantization and int16 ones are copied as stored, with zero points of 0 (TFLite's
 * Prepare checks both). */
static int concat_rescales(int32_t t) {
    return t == KILN_UINT8;
}

static int is_quant_type(int32_t t) {
    return t == KILN_INT8 || t == KILN_UINT8 || t == KILN_INT16;
}

kiln_status kiln__sh_prep_concat(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, node->n_in > 0 ? node->n_in : 1, 1);
    if (s) return s;
    const kiln_tensor *t0 = node->in[0];
    kiln_tensor *out = node->out[0];
    const int32_t rank = t0->rank;
    int32_t axis;
    if (!norm_axis(kiln_opt_i32(node, 0, 0), rank, &axis))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "CONCATENATION axis %d out of range for rank %d",
                         (int)kiln_opt_i32(node, 0, 0), (int)rank);
    /* The fused_activation_function field is not applied: TFLite's kernel ignores it (its old
     * Prepare rejected it) and the official runtime returns unclamped values (checked by the
     * sh_concat_1 golden, RELU6 on float inputs). Integer inputs never reach XNNPACK with an
     * activation, and TFLite's Prepare (like TFLite Micro's) rejects it. */
    const int32_t act = kiln_opt_i8(node, 1, 0);
    const int32_t ty = t0->type;
    if (act != 0 && (ty == KILN_INT8 || ty == KILN_UINT8 || ty == KILN_INT16))
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                         "CONCATENATION of %s with a fused activation is not supported",
                         kiln_dtype_name(ty));
    if (ty == KILN_INT16 && out->q.n > 0 && out->q.zero_point[0] != 0)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "CONCATENATION int16 output zero point must be 0");
    int64_t sum = 0;
    for (int32_t i = 0; i < node->n_in; i++) {
        const kiln_tensor *t = node->in[i];
        if ((s = kiln__sh_same_type(ctx, t, out))) return s;
        if (t->rank != rank)
            return kiln_kerr(ctx, KILN_ERR_SHAPE,
                             "CONCATENATION input %d has %d dims, input 0 has %d", (int)i,
                             (int)t->rank, (int)rank);
        for (int32_t d = 0; d < rank; d++)
            if (d != axis && t->dims[d] != t0->dims[d])
                return kiln_kerr(ctx, KILN_ERR_SHAPE,
                                 "CONCATENATION input %d dim %d is %d, input 0 has %d", (int)i,
                                 (int)d, (int)t->dims[d], (int)t0->dims[d]);
        sum += t->dims[axis];
        if (ty == KILN_INT8 && !sh_same_quant(t, out))
            return kiln_kerr(ctx, KILN_ERR_MODEL,
                             "CONCATENATION int8 input %d and the output differ in quantization "
                             "(TFLite requires them equal)",
                             (int)i);
        if (ty == KILN_INT16 && t->q.n > 0 && t->q.zero_point[0] != 0)
            return kiln_kerr(ctx, KILN_ERR_MODEL,
                             "CONCATENATION int16 input %d zero point must be 0", (int)i);
        if (concat_rescales(t->type) && !sh_same_quant(t, out) && (t->q.n == 0 || out->q.n == 0))
            return kiln_kerr(ctx, KILN_ERR_MODEL,
                             "CONCATENATION input %d and the output differ in quantization",
                             (int)i);
        if (concat_rescales(t->type) && !sh_same_quant(t, out) &&
            (!(out->q.scale[0] > 0.0f) || !(t->q.scale[0] > 0.0f)))
            return kiln_kerr(ctx, KILN_ERR_MODEL, "CONCATENATION scale must be positive");
    }
    int64_t od[KILN_MAX_RANK];
    for (int32_t d = 0; d < rank; d++)
        od[d] = d == axis ? sum : t0->dims[d];
    if ((s = kiln__sh_resize64(ctx, out, rank, od))) return s;
    concat_data *cd = (concat_data *)kiln_kalloc(ctx, sizeof *cd);
    if (!cd) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    cd->axis = axis;
    node->data = cd;
    return KILN_OK;
}

/* TFLite's ConcatenationWithScaling (uint8): round(q * s_in/s_out - zp_in * s_in/s_out) +
 * zp_out, in float, clamped to [0, 255]. */
static void requant_copy(void *dst, const void *src, int64_t n, const kiln_tensor *in,
                         const kiln_tensor *out) {
    const float inv = 1.0f / out->q.scale[0];
    const float scale = in->q.scale[0] * inv;
    const float bias = -(float)in->q.zero_point[0] * scale;
    const int32_t zp = out->q.zero_point[0];
    for (int64_t j = 0; j < n; j++) {
        float r = roundf((float)((const uint8_t *)src)[j] * scale + bias);
        /* Clamp in float first: the cast of an out-of-range float is undefined in C. */
        r = r < -3.0e9f ? -3.0e9f : (r > 3.0e9f ? 3.0e9f : r);
        int64_t v = (int64_t)r + zp;
        ((uint8_t *)dst)[j] = (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
    }
}

kiln_status kiln__sh_eval_concat(kiln_kctx *ctx, kiln_node *node) {
    const concat_data *cd = (const concat_data *)node->data;
    kiln_tensor *out = node->out[0];
    const size_t es = kiln_dtype_size(out->type);
    int64_t outer = 1, inner = 1;
    for (int32_t d = 0; d < cd->axis; d++)
        outer *= out->dims[d];
    for (int32_t d = cd->axis + 1; d < out->rank; d++)
        inner *= out->dims[d];
    uint8_t *o = (uint8_t *)out->data;
    for (int64_t k = 0; k < outer; k++) {
        for (int32_t i = 0; i < node->n_in; i++) {
            const kiln_tensor *t = node->in[i];
            const int64_t n = (int64_t)t->dims[cd->axis] * inner;
            const uint8_t *src = (const uint8_t *)t->data + (size_t)(k * n) * es;
            if (concat_rescales(t->type) && !sh_same_quant(t, out))
                requant_copy(o, src, n, t, out);
            else if (n)
                memcpy(o, src, (size_t)n * es);
            o += (size_t)n * es;
        }
    }
    return KILN_OK;
}

/* ---- SPLIT, SPLIT_V, UNPACK: input 0's slices along an axis go to the outputs ------------- */

typedef struct axis_data {
    int32_t axis;
} axis_data;

static kiln_status keep_axis(kiln_kctx *ctx, kiln_node *node, int32_t axis) {
    axis_data *ad = (axis_data *)kiln_kalloc(ctx, sizeof *ad);
    if (!ad) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    ad->axis = axis;
    node->data = ad;
    return KILN_OK;
}

/* Copies slices of `in` along `axis` to the outputs; output i takes size(i) entries of the
 * axis (its dim there, or 1 when the axis was removed, as in UNPACK). */
static void split_copy(const kiln_tensor *in, int32_t axis, kiln_node *node, int removed) {
    const size_t es = kiln_dtype_size(in->type);
    int64_t outer = 1, inner = 1;
    for (int32_t d = 0; d < axis; d++)
        outer *= in->dims[d];
    for (int32_t d = axis + 1; d < in->rank; d++)
        inner *= in->dims[d];
    const uint8_t *src = (const uint8_t *)in->data;
    for (int64_t k = 0; k < outer; k++) {
        for (int32_t i = 0; i < node->n_out; i++) {
            kiln_tensor *o = node->out[i];
            const int64_t n = (removed ? 1 : o->dims[axis]) * inner;
            if (n) memcpy((uint8_t *)o->data + (size_t)(k * n) * es, src, (size_t)n * es);
            src += (size_t)n * es;
        }
    }
}

kiln_status kiln__sh_prep_split(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 2, -1);
    if (s) return s;
    const kiln_tensor *ax = node->in[0], *in = node->in[1];
    if ((s = kiln__sh_known_int(ctx, ax, "SPLIT axis"))) return s;
    if (kiln_numel(ax) != 1) return kiln_kerr(ctx, KILN_ERR_MODEL, "SPLIT axis must be a scalar");
    int32_t axis;
    if (!norm_axis(sh_ival(ax, 0), in->rank, &axis))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "SPLIT axis %lld out of range for rank %d",
                         (long long)sh_ival(ax, 0), (int)in->rank);
    const int32_t num = kiln_opt_i32(node, 0, node->n_out);
    if (num != node->n_out || num < 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "SPLIT num_splits %d but %d outputs", (int)num,
                         (int)node->n_out);
    if (in->dims[axis] % num != 0)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "SPLIT: dim %d of size %d is not divisible by %d",
                         (int)axis, (int)in->dims[axis], (int)num);
    int32_t dims[KILN_MAX_RANK];
    memcpy(dims, in->dims, sizeof dims);
    dims[axis] = in->dims[axis] / num;
    for (int32_t i = 0; i < node->n_out; i++) {
        if ((s = kiln__sh_same_type(ctx, in, node->out[i]))) return s;
        if ((s = kiln_kresize(ctx, node->out[i], in->rank, dims))) return s;
    }
    return keep_axis(ctx, node, axis);
}

kiln_status kiln__sh_eval_split(kiln_kctx *ctx, kiln_node *node) {
    split_copy(node->in[1], ((const axis_data *)node->data)->axis, node, 0);
    return KILN_OK;
}

kiln_status kiln__sh_prep_split_v(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 3, -1);
    if (s) return s;
    const kiln_tensor *in = node->in[0], *sz = node->in[1], *ax = node->in[2];
    if ((s = kiln__sh_known_int(ctx, ax, "SPLIT_V axis"))) return s;
    if ((s = kiln__sh_known_int(ctx, sz, "SPLIT_V size_splits"))) return s;
    if (kiln_numel(ax) != 1) return kiln_kerr(ctx, KILN_ERR_MODEL, "SPLIT_V axis must be a scalar");
    int32_t axis;
    if (!norm_axis(sh_ival(ax, 0), in->rank, &axis))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "SPLIT_V axis %lld out of range for rank %d",
                         (long long)sh_ival(ax, 0), (int)in->rank);
    if (sz->rank != 1 || sz->dims[0] != node->n_out)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "SPLIT_V has %lld size_splits but %d outputs",
                         (long long)kiln_numel(sz), (int)node->n_out);
    int64_t sum = 0;
    int32_t minus = -1;
    for (int32_t i = 0; i < node->n_out; i++) {
        const int64_t v = sh_ival(sz, i);
        if (v == -1 && minus < 0) {
            minus = i;
        } else if (v < 0 || v > in->dims[axis]) {
            return kiln_kerr(ctx, KILN_ERR_MODEL, "SPLIT_V size_splits[%d] is %lld", (int)i,
                             (long long)v);
        } else {
            sum += v;
            if (sum > in->dims[axis]) break;
        }
    }
    if (minus < 0 ? sum != in->dims[axis] : sum > in->dims[axis])
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "SPLIT_V size_splits do not add up to dim %d of size %d", (int)axis,
                         (int)in->dims[axis]);
    for (int32_t i = 0; i < node->n_out; i++) {
        int32_t dims[KILN_MAX_RANK];
        memcpy(dims, in->dims, sizeof dims);
        dims[axis] = i == minus ? (int32_t)(in->dims[axis] - sum) : (int32_t)sh_ival(sz, i);
        if ((s = kiln__sh_same_type(ctx, in, node->out[i]))) return s;
        if ((s = kiln_kresize(ctx, node->out[i], in->rank, dims))) return s;
    }
    return keep_axis(ctx, node, axis);
}

kiln_status kiln__sh_eval_split_v(kiln_kctx *ctx, kiln_node *node) {
    split_copy(node->in[0], ((const axis_data *)node->data)->axis, node, 0);
    return KILN_OK;
}

kiln_status kiln__sh_prep_unpack(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 1, -1);
    if (s) return s;
    const kiln_tensor *in = node->in[0];
    int32_t axis;
    if (!norm_axis(kiln_opt_i32(node, 1, 0), in->rank, &axis))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "UNPACK axis %d out of range for rank %d",
                         (int)kiln_opt_i32(node, 1, 0), (int)in->rank);
    const int32_t num = kiln_opt_i32(node, 0, 0);
    if ((num != 0 && num != node->n_out) || in->dims[axis] != node->n_out)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "UNPACK of a dim of size %d (num %d) into %d outputs",
                         (int)in->dims[axis], (int)num, (int)node->n_out);
    int32_t dims[KILN_MAX_RANK], r = 0;
    for (int32_t d = 0; d < in->rank; d++)
        if (d != axis) dims[r++] = in->dims[d];
    for (int32_t i = 0; i < node->n_out; i++) {
        if ((s = kiln__sh_same_type(ctx, in, node->out[i]))) return s;
        if ((s = kiln_kresize(ctx, node->out[i], r, dims))) return s;
    }
    return keep_axis(ctx, node, axis);
}

kiln_status kiln__sh_eval_unpack(kiln_kctx *ctx, kiln_node *node) {
    split_copy(node->in[0], ((const axis_data *)node->data)->axis, node, 1);
    return KILN_OK;
}

/* ---- PACK --------------------------------------------------------------------------------- */

kiln_status kiln__sh_prep_pack(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, node->n_in > 0 ? node->n_in : 1, 1);
    if (s) return s;
    const kiln_tensor *t0 = node->in[0];
    kiln_tensor *out = node->out[0];
    const int32_t count = kiln_opt_i32(node, 0, node->n_in);
    if (count != node->n_in)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "PACK values_count %d but %d inputs", (int)count,
                         (int)node->n_in);
    if (t0->rank >= KILN_MAX_RANK)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "PACK output rank above %d", KILN_MAX_RANK);
    int32_t axis;
    if (!norm_axis(kiln_opt_i32(node, 1, 0), t0->rank + 1, &axis))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "PACK axis %d out of range for rank %d",
                         (int)kiln_opt_i32(node, 1, 0), (int)t0->rank);
    for (int32_t i = 0; i < node->n_in; i++) {
        const kiln_tensor *t = node->in[i];
        if ((s = kiln__sh_same_type(ctx, t, out))) return s;
        if (t->rank != t0->rank || memcmp(t->dims, t0->dims, sizeof(int32_t) * (size_t)t0->rank))
            return kiln_kerr(ctx, KILN_ERR_SHAPE, "PACK input %d shape differs from input 0",
                             (int)i);
    }
    int32_t dims[KILN_MAX_RANK], r = 0;
    for (int32_t d = 0; d <= t0->rank; d++) {
        if (d == axis) dims[r++] = node->n_in;
        if (d < t0->rank) dims[r++] = t0->dims[d];
    }
    if ((s = kiln_kresize(ctx, out, r, dims))) return s;
    return keep_axis(ctx, node, axis);
}

kiln_status kiln__sh_eval_pack(kiln_kctx *ctx, kiln_node *node) {
    const int32_t axis = ((const axis_data *)node->data)->axis;
    const kiln_tensor *t0 = node->in[0];
    const size_t es = kiln_dtype_size(t0->type);
    int64_t outer = 1, inner = 1;
    for (int32_t d = 0; d < axis; d++)
        outer *= t0->dims[d];
    for (int32_t d = axis; d < t0->rank; d++)
        inner *= t0->dims[d];
    uint8_t *o = (uint8_t *)node->out[0]->data;
    if (!inner) return KILN_OK;
    for (int64_t k = 0; k < outer; k++)
        for (int32_t i = 0; i < node->n_in; i++) {
            memcpy(o, (const uint8_t *)node->in[i]->data + (size_t)(k * inner) * es,
                   (size_t)inner * es);
            o += (size_t)inner * es;
        }
    return KILN_OK;
}

/* ---- PAD, PADV2, MIRROR_PAD --------------------------------------------------------------- */

typedef struct pad_data {
    int64_t before[KILN_MAX_RANK];
    int64_t after[KILN_MAX_RANK];
    uint8_t value[16];
    int32_t mode; /* MIRROR_PAD: 0 REFLECT, 1 SYMMETRIC */
} pad_data;

/* Reads a [rank, 2] paddings tensor into pd and sets the output shape. */
static kiln_status read_paddings(kiln_kctx *ctx, kiln_node *node, const kiln_tensor *in,
                                 const kiln_tensor *pads, pad_data *pd, const char *op) {
    kiln_status s = kiln__sh_known_int(ctx, pads, "paddings");
    if (s) return s;
    if (pads->rank != 2 || pads->dims[0] != in->rank || pads->dims[1] != 2)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s paddings must be [%d, 2]", op, (int)in->rank);
    int64_t od[KILN_MAX_RANK];
    for (int32_t d = 0; d < in->rank; d++) {
        pd->before[d] = sh_ival(pads, 2 * d);
        pd->after[d] = sh_ival(pads, 2 * d + 1);
        if (pd->before[d] < 0 || pd->after[d] < 0 || pd->before[d] > INT32_MAX ||
            pd->after[d] > INT32_MAX)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "%s padding of dim %d is [%lld, %lld]", op,
                             (int)d, (long long)pd->before[d], (long long)pd->after[d]);
        od[d] = in->dims[d] + pd->before[d] + pd->after[d];
    }
    return kiln__sh_resize64(ctx, node->out[0], in->rank, od);
}

static int32_t clamp_zp(int32_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

kiln_status kiln__sh_prep_pad(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 2, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0], *cv = sh_in(node, 2);
    kiln_tensor *out = node->out[0];
    const char *op = node->op == KILN_OP_PADV2 ? "PADV2" : "PAD";
    if ((s = kiln__sh_same_type(ctx, in, out))) return s;
    pad_data *pd = (pad_data *)kiln_kalloc(ctx, sizeof *pd);
    if (!pd) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    if ((s = read_paddings(ctx, node, in, node->in[1], pd, op))) return s;
    const size_t es = kiln_dtype_size(in->type);
    if (es > sizeof pd->value) return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "type too wide");
    if (cv && node->op == KILN_OP_PADV2) {
        if (cv->type != in->type || kiln_numel(cv) != 1)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "PADV2 constant value must be one %s element",
                             kiln_dtype_name(in->type));
        if (!kiln_kknown(ctx, cv))
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                             "PADV2 constant value must be known before invoke");
        memcpy(pd->value, cv->data, es);
    } else if (out->q.n >= 1 && is_quant_type(out->type)) {
        /* Quantized PAD pads with the output zero point (the real value 0). */
        const int32_t zp = out->q.zero_point[0];
        if (out->type == KILN_INT8) {
            const int8_t v = (int8_t)clamp_zp(zp, -128, 127);
            memcpy(pd->value, &v, 1);
        } else if (out->type == KILN_UINT8) {
            const uint8_t v = (uint8_t)clamp_zp(zp, 0, 255);
            memcpy(pd->value, &v, 1);
        } else {
            const int16_t v = (int16_t)clamp_zp(zp, -32768, 32767);
            memcpy(pd->value, &v, 2);
        }
    }
    node->data = pd;
    return KILN_OK;
}

/* Fills the output with the pad value, then copies each input row (last dim) to its place,
 * every coordinate shifted by the leading padding. */
kiln_status kiln__sh_eval_pad(kiln_kctx *ctx, kiln_node *node) {
    const pad_data *pd = (const pad_data *)node->data;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *out = node->out[0];
    const size_t es = kiln_dtype_size(in->type);
    kiln__sh_fill(out->data, pd->value, kiln_numel(out), es);
    const int64_t n = kiln_numel(in);
    if (n == 0) return KILN_OK;
    if (in->rank == 0) {
        memcpy(out->data, in->data, es);
        return KILN_OK;
    }
    int64_t ost[KILN_MAX_RANK], idx[KILN_MAX_RANK] = {0};
    sh_strides(out, ost);
    const int32_t r = in->rank;
    const int64_t row = in->dims[r - 1];
    int64_t off = 0;
    for (int32_t d = 0; d < r; d++)
        off += pd->before[d] * ost[d];
    const uint8_t *src = (const uint8_t *)in->data;
    uint8_t *dst = (uint8_t *)out->data;
    for (int64_t k = 0; k < n / row; k++) {
        memcpy(dst + (size_t)off * es, src + (size_t)(k * row) * es, (size_t)row * es);
        for (int32_t d = r - 2; d >= 0; d--) {
            off += ost[d];
            if (++idx[d] < in->dims[d]) break;
            off -= ost[d] * in->dims[d];
            idx[d] = 0;
        }
    }
    return KILN_OK;
}

kiln_status kiln__sh_prep_mirror_pad(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 2, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0];
    if ((s = kiln__sh_same_type(ctx, in, node->out[0]))) return s;
    pad_data *pd = (pad_data *)kiln_kalloc(ctx, sizeof *pd);
    if (!pd) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    pd->mode = kiln_opt_i8(node, 0, 0);
    if (pd->mode != 0 && pd->mode != 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "MIRROR_PAD mode %d is not REFLECT or SYMMETRIC",
                         (int)pd->mode);
    if ((s = read_paddings(ctx, node, in, node->in[1], pd, "MIRROR_PAD"))) return s;
    /* Mirrored coordinates must stay inside the input: REFLECT skips the border. */
    const int64_t slack = pd->mode == 0 ? 1 : 0;
    for (int32_t d = 0; d < in->rank; d++)
        if (pd->before[d] > in->dims[d] - slack || pd->after[d] > in->dims[d] - slack)
            return kiln_kerr(ctx, KILN_ERR_MODEL,
                             "MIRROR_PAD %s padding [%lld, %lld] too large for dim %d of size %d",
                             pd->mode == 0 ? "REFLECT" : "SYMMETRIC", (long long)pd->before[d],
                             (long long)pd->after[d], (int)d, (int)in->dims[d]);
    node->data = pd;
    return KILN_OK;
}

static int64_t mirror(int64_t o, int64_t before, int64_t n, int32_t mode) {
    if (o < before) return mode == 0 ? before - o : before - 1 - o;
    o -= before;
    if (o >= n) return mode == 0 ? 2 * n - 2 - o : 2 * n - 1 - o;
    return o;
}

kiln_status kiln__sh_eval_mirror_pad(kiln_kctx *ctx, kiln_node *node) {
    const pad_data *pd = (const pad_data *)node->data;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *out = node->out[0];
    const size_t es = kiln_dtype_size(in->type);
    const int64_t n = kiln_numel(out);
    if (n == 0) return KILN_OK;
    if (in->rank == 0) {
        memcpy(out->data, in->data, es);
        return KILN_OK;
    }
    int64_t ist[KILN_MAX_RANK], idx[KILN_MAX_RANK] = {0};
    sh_strides(in, ist);
    const int32_t r = in->rank;
    const int64_t row = out->dims[r - 1];
    const uint8_t *src = (const uint8_t *)in->data;
    uint8_t *dst = (uint8_t *)out->data;
    for (int64_t k = 0; k < n / row; k++) {
        int64_t off = 0;
        for (int32_t d = 0; d < r - 1; d++)
            off += mirror(idx[d], pd->before[d], in->dims[d], pd->mode) * ist[d];
        for (int64_t j = 0; j < row; j++) {
            const int64_t x = mirror(j, pd->before[r - 1], in->dims[r - 1], pd->mode);
            memcpy(dst, src + (size_t)(off + x) * es, es);
            dst += es;
        }
        for (int32_t d = r - 2; d >= 0; d--) {
            if (++idx[d] < out->dims[d]) break;
            idx[d] = 0;
        }
    }
    return KILN_OK;
}

/* ---- STRIDED_SLICE ------------------------------------------------------------------------ */

/* TFLite's StridedSliceStartForAxis / EndForAxis: clamp, then the masks override. */
static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

kiln_status kiln__sh_prep_strided_slice(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 4, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0], *bt = node->in[1], *et = node->in[2], *stt = node->in[3];
    kiln_tensor *out = node->out[0];
    if ((s = kiln__sh_same_type(ctx, in, out))) return s;
    if ((s = kiln__sh_known_int(ctx, bt, "STRIDED_SLICE begin")) ||
        (s = kiln__sh_known_int(ctx, et, "STRIDED_SLICE end")) ||
        (s = kiln__sh_known_int(ctx, stt, "STRIDED_SLICE strides")))
        return s;
    if (bt->rank != 1 || et->rank != 1 || stt->rank != 1 || et->dims[0] != bt->dims[0] ||
        stt->dims[0] != bt->dims[0])
        return kiln_kerr(ctx, KILN_ERR_MODEL,
                         "STRIDED_SLICE begin, end and strides must be 1-D of one length");
    const int32_t count = bt->dims[0];
    if (count > 31)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "STRIDED_SLICE has %d indices (at most 31)",
                         (int)count);
    const uint32_t bmask = (uint32_t)kiln_opt_i32(node, 0, 0),
                   emask = (uint32_t)kiln_opt_i32(node, 1, 0),
                   ellipsis = (uint32_t)kiln_opt_i32(node, 2, 0),
                   newax = (uint32_t)kiln_opt_i32(node, 3, 0),
                   shrink = (uint32_t)kiln_opt_i32(node, 4, 0);
    const int offset = kiln_opt_i8(node, 5, 0) != 0;

    /* Expand the ellipsis and new axes into an "effective" input of eff dims, as TFLite's
     * BuildStridedSliceParams does. */
    int32_t num_add = 0;
    for (int32_t i = 0; i < count; i++)
        if (!(ellipsis & (1u << i)) && (newax & (1u << i))) num_add++;
    const int32_t eff = in->rank + num_add;
    if (eff > KILN_MAX_RANK)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "STRIDED_SLICE with %d dims (at most %d)",
                         (int)eff, KILN_MAX_RANK);
    uint32_t eff_ell = 0, eff_new = 0;
    int32_t ell_start = eff, expanded = 0;
    for (int32_t i = 0; i < eff;) {
        if (ellipsis & (1u << i)) {
            ell_start = i;
            int32_t end = i + 1 + num_add + in->rank - count;
            if (end > eff) end = eff;
            if (end < i + 1) end = i + 1;
            expanded = end - ell_start - 1;
            for (; i < end; i++)
                eff_ell |= 1u << i;
            continue;
        }
        if (i - expanded < 32 && (newax & (1u << (i - expanded)))) eff_new |= 1u << i;
        i++;
    }
    int64_t dims[KILN_MAX_RANK], start[KILN_MAX_RANK], stop[KILN_MAX_RANK], stride[KILN_MAX_RANK];
    uint32_t bm = 0, em = 0, sm = 0;
    int32_t added_ell = 0, added_ax = 0;
    for (int32_t i = 0; i < eff; i++) {
        start[i] = 0;
        stop[i] = 0;
        stride[i] = 1;
        /* Masks with bits past the given indices could add more axes than counted: every
         * input dim read below must exist. */
        if (!(eff_new & (1u << i)) && (i - added_ax < 0 || i - added_ax >= in->rank))
            return kiln_kerr(ctx, KILN_ERR_MODEL, "STRIDED_SLICE masks do not fit the input");
        if (eff_ell & (1u << i)) {
            added_ell = i - ell_start > 0 ? i - ell_start : 0;
            bm |= 1u << i;
            em |= 1u << i;
            dims[i] = in->dims[i - added_ax];
        } else if (eff_new & (1u << i)) {
            stop[i] = 1;
            dims[i] = 1;
            if (++added_ax > num_add)
                return kiln_kerr(ctx, KILN_ERR_MODEL, "STRIDED_SLICE masks do not fit the input");
        } else if (i >= count + expanded) {
            bm |= 1u << i;
            em |= 1u << i;
            dims[i] = in->dims[i - added_ax];
        } else {
            const int32_t o = i - added_ell;
            if (o < 0 || o >= count || i - added_ax >= in->rank)
                return kiln_kerr(ctx, KILN_ERR_MODEL, "STRIDED_SLICE masks do not fit the input");
            start[i] = sh_ival(bt, o);
            stop[i] = sh_ival(et, o);
            stride[i] = sh_ival(stt, o);
            if (bmask & (1u << o)) bm |= 1u << i;
            if (emask & (1u << o)) em |= 1u << i;
            if (shrink & (1u << o)) sm |= 1u << i;
            dims[i] = in->dims[i - added_ax];
        }
    }
    /* Element strides of the effective input (new axes have size 1, so the layout holds). */
    int64_t est[KILN_MAX_RANK];
    {
        int64_t acc = 1;
        for (int32_t i = eff - 1; i >= 0; i--) {
            est[i] = acc;
            acc *= dims[i];
        }
    }
    view_data vd = {0};
    int64_t od[KILN_MAX_RANK];
    int32_t orank = 0;
    vd.v.rank = eff;
    for (int32_t i = 0; i < eff; i++) {
        const int64_t st = stride[i], n = dims[i];
        if (st == 0)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "STRIDED_SLICE stride of dim %d is 0", (int)i);
        if (st == INT32_MIN || st < INT32_MIN || st > INT32_MAX)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "STRIDED_SLICE stride %lld is not supported",
                             (long long)st);
        int64_t b = start[i];
        if (b < 0) b += n;
        b = st > 0 ? clamp64(b, 0, n) : clamp64(b, -1, n - 1);
        if (bm & (1u << i)) b = st > 0 ? 0 : n - 1;
        int64_t cnt;
        if (sm & (1u << i)) {
            if (b < 0 || b >= n)
                return kiln_kerr(
                    ctx, KILN_ERR_MODEL,
                    "STRIDED_SLICE shrinks dim %d at index %lld, outside its size %lld", (int)i,
                    (long long)start[i], (long long)n);
            cnt = 1;
        } else {
            int64_t e = stop[i];
            if (offset) e += b;
            if (e < 0) e += n;
            e = st > 0 ? clamp64(e, 0, n) : clamp64(e, -1, n - 1);
            if (em & (1u << i)) e = st > 0 ? n : -1;
            const int64_t len = e - b;
            if ((len < 0) != (st < 0) || len == 0)
                cnt = 0;
            else if (st < 0)
                cnt = (len + 1) / st + 1;
            else
                cnt = (len - 1) / st + 1;
            od[orank++] = cnt;
        }
        vd.v.dims[i] = cnt;
        vd.v.st[i] = st * est[i];
        if (cnt > 0) vd.base += b * est[i];
    }
    if ((s = kiln__sh_resize64(ctx, out, orank, od))) return s;
    return keep_view(ctx, node, &vd);
}

kiln_status kiln__sh_eval_strided_slice(kiln_kctx *ctx, kiln_node *node) {
    return eval_view(ctx, node);
}

/* ---- SLICE -------------------------------------------------------------------------------- */

kiln_status kiln__sh_prep_slice(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 3, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0], *bt = node->in[1], *zt = node->in[2];
    kiln_tensor *out = node->out[0];
    if ((s = kiln__sh_same_type(ctx, in, out))) return s;
    if ((s = kiln__sh_known_int(ctx, bt, "SLICE begin")) ||
        (s = kiln__sh_known_int(ctx, zt, "SLICE size")))
        return s;
    if (bt->rank != 1 || zt->rank != 1 || bt->dims[0] != in->rank || zt->dims[0] != in->rank)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "SLICE begin and size must have %d entries",
                         (int)in->rank);
    int64_t ist[KILN_MAX_RANK], od[KILN_MAX_RANK];
    sh_strides(in, ist);
    view_data vd = {0};
    vd.v.rank = in->rank;
    for (int32_t d = 0; d < in->rank; d++) {
        const int64_t b = sh_ival(bt, d);
        int64_t z = sh_ival(zt, d);
        if (b < 0 || b > in->dims[d])
            return kiln_kerr(ctx, KILN_ERR_MODEL, "SLICE begin %lld outside dim %d of size %d",
                             (long long)b, (int)d, (int)in->dims[d]);
        if (z == -1) z = in->dims[d] - b;
        if (z < 0 || b + z > in->dims[d])
            return kiln_kerr(ctx, KILN_ERR_MODEL,
                             "SLICE begin %lld size %lld outside dim %d of size %d", (long long)b,
                             (long long)z, (int)d, (int)in->dims[d]);
        od[d] = z;
        vd.v.dims[d] = z;
        vd.v.st[d] = ist[d];
        vd.base += b * ist[d];
    }
    if ((s = kiln__sh_resize64(ctx, out, in->rank, od))) return s;
    return keep_view(ctx, node, &vd);
}

kiln_status kiln__sh_eval_slice(kiln_kctx *ctx, kiln_node *node) {
    return eval_view(ctx, node);
}

/* ---- TILE --------------------------------------------------------------------------------- */

kiln_status kiln__sh_prep_tile(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 2, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0], *mt = node->in[1];
    kiln_tensor *out = node->out[0];
    if ((s = kiln__sh_same_type(ctx, in, out))) return s;
    if ((s = kiln__sh_known_int(ctx, mt, "TILE multiples"))) return s;
    if (mt->rank != 1 || mt->dims[0] != in->rank)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "TILE multiples must have %d entries", (int)in->rank);
    int64_t od[KILN_MAX_RANK];
    for (int32_t d = 0; d < in->rank; d++) {
        const int64_t m = sh_ival(mt, d);
        if (m < 0 || m > INT32_MAX)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "TILE multiple %lld for dim %d", (long long)m,
                             (int)d);
        od[d] = m * in->dims[d];
    }
    return kiln__sh_resize64(ctx, out, in->rank, od);
}

kiln_status kiln__sh_eval_tile(kiln_kctx *ctx, kiln_node *node) {
    const kiln_tensor *in = node->in[0];
    kiln_tensor *out = node->out[0];
    const size_t es = kiln_dtype_size(in->type);
    const int64_t n = kiln_numel(out);
    if (n == 0) return KILN_OK;
    if (in->rank == 0) {
        memcpy(out->data, in->data, es);
        return KILN_OK;
    }
    const int32_t r = in->rank;
    int64_t ist[KILN_MAX_RANK], idx[KILN_MAX_RANK] = {0};
    sh_strides(in, ist);
    const int64_t irow = in->dims[r - 1], orow = out->dims[r - 1];
    const uint8_t *src = (const uint8_t *)in->data;
    uint8_t *dst = (uint8_t *)out->data;
    for (int64_t k = 0; k < n / orow; k++) {
        int64_t off = 0;
        for (int32_t d = 0; d < r - 1; d++)
            off += (idx[d] % in->dims[d]) * ist[d];
        for (int64_t j = 0; j < orow; j += irow) {
            memcpy(dst, src + (size_t)off * es, (size_t)irow * es);
            dst += (size_t)irow * es;
        }
        for (int32_t d = r - 2; d >= 0; d--) {
            if (++idx[d] < out->dims[d]) break;
            idx[d] = 0;
        }
    }
    return KILN_OK;
}

/* ---- BROADCAST_TO ------------------------------------------------------------------------- */

kiln_status kiln__sh_prep_broadcast_to(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 2, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0], *sh = node->in[1];
    kiln_tensor *out = node->out[0];
    if ((s = kiln__sh_same_type(ctx, in, out))) return s;
    if ((s = kiln__sh_known_int(ctx, sh, "BROADCAST_TO shape"))) return s;
    if (sh->rank != 1) return kiln_kerr(ctx, KILN_ERR_MODEL, "BROADCAST_TO shape must be 1-D");
    const int32_t r = sh->dims[0];
    if (r > KILN_MAX_RANK)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "BROADCAST_TO output rank %d (at most %d)",
                         (int)r, KILN_MAX_RANK);
    if (r < in->rank)
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "BROADCAST_TO shape has %d dims, fewer than the input's %d", (int)r,
                         (int)in->rank);
    int64_t ist[KILN_MAX_RANK], od[KILN_MAX_RANK];
    sh_strides(in, ist);
    view_data vd = {0};
    vd.v.rank = r;
    for (int32_t d = 0; d < r; d++) {
        od[d] = sh_ival(sh, d);
        if (od[d] < 0 || od[d] > INT32_MAX)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "BROADCAST_TO dim %d is %lld", (int)d,
                             (long long)od[d]);
        const int32_t k = d - (r - in->rank);
        int64_t st = 0;
        if (k >= 0) {
            if (in->dims[k] != od[d] && in->dims[k] != 1)
                return kiln_kerr(ctx, KILN_ERR_SHAPE,
                                 "BROADCAST_TO: input dim %d of size %d cannot become %lld", (int)k,
                                 (int)in->dims[k], (long long)od[d]);
            st = in->dims[k] == 1 ? 0 : ist[k];
        }
        vd.v.dims[d] = od[d];
        vd.v.st[d] = st;
    }
    if ((s = kiln__sh_resize64(ctx, out, r, od))) return s;
    return keep_view(ctx, node, &vd);
}

kiln_status kiln__sh_eval_broadcast_to(kiln_kctx *ctx, kiln_node *node) {
    return eval_view(ctx, node);
}

/* ---- REVERSE_V2 --------------------------------------------------------------------------- */

kiln_status kiln__sh_prep_reverse(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 2, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0], *ax = node->in[1];
    kiln_tensor *out = node->out[0];
    if ((s = kiln__sh_same_type(ctx, in, out))) return s;
    if ((s = kiln__sh_known_int(ctx, ax, "REVERSE_V2 axis"))) return s;
    if (ax->rank != 1) return kiln_kerr(ctx, KILN_ERR_MODEL, "REVERSE_V2 axis must be 1-D");
    uint8_t rev[KILN_MAX_RANK] = {0};
    for (int32_t i = 0; i < ax->dims[0]; i++) {
        int32_t a;
        if (!norm_axis(sh_ival(ax, i), in->rank, &a))
            return kiln_kerr(ctx, KILN_ERR_MODEL, "REVERSE_V2 axis %lld out of range for rank %d",
                             (long long)sh_ival(ax, i), (int)in->rank);
        if (rev[a]) return kiln_kerr(ctx, KILN_ERR_MODEL, "REVERSE_V2 axis %d given twice", (int)a);
        rev[a] = 1;
    }
    int64_t ist[KILN_MAX_RANK];
    sh_strides(in, ist);
    view_data vd = {0};
    vd.v.rank = in->rank;
    for (int32_t d = 0; d < in->rank; d++) {
        vd.v.dims[d] = in->dims[d];
        vd.v.st[d] = rev[d] ? -ist[d] : ist[d];
        if (rev[d] && in->dims[d] > 0) vd.base += (in->dims[d] - 1) * ist[d];
    }
    if ((s = kiln_kresize(ctx, out, in->rank, in->dims))) return s;
    return keep_view(ctx, node, &vd);
}

kiln_status kiln__sh_eval_reverse(kiln_kctx *ctx, kiln_node *node) {
    return eval_view(ctx, node);
}
