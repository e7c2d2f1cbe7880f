/* shape_gather.c: GATHER, GATHER_ND, EMBEDDING_LOOKUP, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND,
 * SPACE_TO_DEPTH, DEPTH_TO_SPACE. Semantics of TFLite's builtin kernels and reference_ops; an
 * index outside its dim is a runtime error (never a read outside the buffer). */
#include "kernels/ref/shape_common.h"

static int gather_index_type(int32_t t) {
    return t == KILN_INT32 || t == KILN_INT64 || t == KILN_INT16;
}

/* ---- GATHER ------------------------------------------------------------------------------- */

typedef struct gather_data {
    int32_t axis, batch_dims;
} gather_data;

kiln_status kiln__sh_prep_gather(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 2, 1);
    if (s) return s;
    const kiln_tensor *p = node->in[0], *ix = node->in[1];
    kiln_tensor *out = node->out[0];
    if ((s = kiln__sh_same_type(ctx, p, out))) return s;
    if (!gather_index_type(ix->type))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "GATHER indices must be int16/32/64, got %s",
                         kiln_dtype_name(ix->type));
    int32_t axis = kiln_opt_i32(node, 0, 0), bd = kiln_opt_i32(node, 1, 0);
    if (axis < 0) axis += p->rank;
    if (axis < 0 || axis >= p->rank)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "GATHER axis %d out of range for rank %d",
                         (int)kiln_opt_i32(node, 0, 0), (int)p->rank);
    if (bd < 0) bd += ix->rank;
    if (bd < 0 || bd > axis || bd > ix->rank)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "GATHER batch_dims %d invalid (axis %d)",
                         (int)kiln_opt_i32(node, 1, 0), (int)axis);
    for (int32_t d = 0; d < bd; d++)
        if (p->dims[d] != ix->dims[d])
            return kiln_kerr(ctx, KILN_ERR_SHAPE, "GATHER batch dim %d: params has %d, indices %d",
                             (int)d, (int)p->dims[d], (int)ix->dims[d]);
    const int32_t r = axis + (ix->rank - bd) + (p->rank - axis - 1);
    if (r > KILN_MAX_RANK)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "GATHER output rank %d (at most %d)", (int)r,
                         KILN_MAX_RANK);
    int64_t od[KILN_MAX_RANK];
    int32_t k = 0;
    for (int32_t d = 0; d < axis; d++)
        od[k++] = p->dims[d];
    for (int32_t d = bd; d < ix->rank; d++)
        od[k++] = ix->dims[d];
    for (int32_t d = axis + 1; d < p->rank; d++)
        od[k++] = p->dims[d];
    if ((s = kiln__sh_resize64(ctx, out, r, od))) return s;
    gather_data *gd = (gather_data *)kiln_kalloc(ctx, sizeof *gd);
    if (!gd) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    gd->axis = axis;
    gd->batch_dims = bd;
    node->data = gd;
    return KILN_OK;
}

kiln_status kiln__sh_eval_gather(kiln_kctx *ctx, kiln_node *node) {
    const gather_data *gd = (const gather_data *)node->data;
    const kiln_tensor *p = node->in[0], *ix = node->in[1];
    kiln_tensor *out = node->out[0];
    const size_t es = kiln_dtype_size(p->type);
    int64_t batch = 1, outer = 1, inner = 1, coords = 1;
    for (int32_t d = 0; d < gd->batch_dims; d++)
        batch *= p->dims[d];
    for (int32_t d = gd->batch_dims; d < gd->axis; d++)
        outer *= p->dims[d];
    for (int32_t d = gd->axis + 1; d < p->rank; d++)
        inner *= p->dims[d];
    for (int32_t d = gd->batch_dims; d < ix->rank; d++)
        coords *= ix->dims[d];
    const int64_t axis_size = p->dims[gd->axis];
    const uint8_t *src = (const uint8_t *)p->data;
    uint8_t *dst = (uint8_t *)out->data;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t i = 0; i < coords; i++) {
                const int64_t v = sh_ival(ix, b * coords + i);
                if (v < 0 || v >= axis_size)
                    return kiln_kerr(ctx, KILN_ERR_RUNTIME,
                                     "GATHER index %lld out of range [0, %lld)", (long long)v,
                                     (long long)axis_size);
                const int64_t from = ((b * outer + o) * axis_size + v) * inner;
                if (inner) memcpy(dst, src + (size_t)from * es, (size_t)inner * es);
                dst += (size_t)inner * es;
            }
    return KILN_OK;
}

/* ---- GATHER_ND ---------------------------------------------------------------------------- */

kiln_status kiln__sh_prep_gather_nd(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 2, 1);
    if (s) return s;
    const kiln_tensor *p = node->in[0], *ix = node->in[1];
    kiln_tensor *out = node->out[0];
    if ((s = kiln__sh_same_type(ctx, p, out))) return s;
    if (!gather_index_type(ix->type))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "GATHER_ND indices must be int16/32/64, got %s",
                         kiln_dtype_name(ix->type));
    if (p->rank < 1 || ix->rank < 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "GATHER_ND params and indices need a dim");
    const int32_t nd = ix->dims[ix->rank - 1];
    if (nd > p->rank)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "GATHER_ND index depth %d exceeds the params rank %d",
                         (int)nd, (int)p->rank);
    const int32_t r = ix->rank - 1 + p->rank - nd;
    if (r > KILN_MAX_RANK)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "GATHER_ND output rank %d (at most %d)", (int)r,
                         KILN_MAX_RANK);
    int64_t od[KILN_MAX_RANK];
    int32_t k = 0;
    for (int32_t d = 0; d < ix->rank - 1; d++)
        od[k++] = ix->dims[d];
    for (int32_t d = nd; d < p->rank; d++)
        od[k++] = p->dims[d];
    return kiln__sh_resize64(ctx, out, r, od);
}

kiln_status kiln__sh_eval_gather_nd(kiln_kctx *ctx, kiln_node *node) {
    const kiln_tensor *p = node->in[0], *ix = node->in[1];
    kiln_tensor *out = node->out[0];
    const size_t es = kiln_dtype_size(p->type);
    const int32_t nd = ix->dims[ix->rank - 1];
    int64_t pst[KILN_MAX_RANK], slices = 1, slice = 1;
    sh_strides(p, pst);
    for (int32_t d = 0; d < ix->rank - 1; d++)
        slices *= ix->dims[d];
    for (int32_t d = nd; d < p->rank; d++)
        slice *= p->dims[d];
    const uint8_t *src = (const uint8_t *)p->data;
    uint8_t *dst = (uint8_t *)out->data;
    for (int64_t i = 0; i < slices; i++) {
        int64_t off = 0;
        for (int32_t j = 0; j < nd; j++) {
            const int64_t v = sh_ival(ix, i * nd + j);
            if (v < 0 || v >= p->dims[j])
                return kiln_kerr(ctx, KILN_ERR_RUNTIME,
                                 "GATHER_ND index %lld out of range [0, %d) in dim %d",
                                 (long long)v, (int)p->dims[j], (int)j);
            off += v * pst[j];
        }
        if (slice) memcpy(dst, src + (size_t)off * es, (size_t)slice * es);
        dst += (size_t)slice * es;
    }
    return KILN_OK;
}

/* ---- EMBEDDING_LOOKUP --------------------------------------------------------------------- */

kiln_status kiln__sh_prep_embedding_lookup(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 2, 1);
    if (s) return s;
    const kiln_tensor *ids = node->in[0], *val = node->in[1];
    kiln_tensor *out = node->out[0];
    if (ids->type != KILN_INT32 || ids->rank != 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "EMBEDDING_LOOKUP ids must be 1-D int32");
    if (val->rank < 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "EMBEDDING_LOOKUP value needs at least one dim");
    const int hybrid =
        (val->type == KILN_INT8 || val->type == KILN_UINT8) && out->type == KILN_FLOAT32;
    if (hybrid) {
        if (val->q.n < 1 || (val->q.n > 1 && (val->q.dim != 0 || val->q.n != val->dims[0])))
            return kiln_kerr(ctx, KILN_ERR_MODEL,
                             "EMBEDDING_LOOKUP int8 value needs per-tensor or per-row scales");
    } else if ((s = kiln__sh_same_type(ctx, val, out))) {
        return s;
    }
    int32_t dims[KILN_MAX_RANK];
    memcpy(dims, val->dims, sizeof dims);
    dims[0] = ids->dims[0];
    return kiln_kresize(ctx, out, val->rank, dims);
}

kiln_status kiln__sh_eval_embedding_lookup(kiln_kctx *ctx, kiln_node *node) {
    const kiln_tensor *ids = node->in[0], *val = node->in[1];
    kiln_tensor *out = node->out[0];
    const int64_t rows = val->dims[0], n = ids->dims[0];
    const int64_t row = rows ? kiln_numel(val) / rows : 0;
    const int32_t *id = (const int32_t *)ids->data;
    const int hybrid = out->type != val->type;
    const size_t es = kiln_dtype_size(val->type);
    for (int64_t i = 0; i < n; i++) {
        const int64_t k = id[i];
        if (k < 0 || k >= rows)
            return kiln_kerr(ctx, KILN_ERR_RUNTIME,
                             "EMBEDDING_LOOKUP id %lld out of range [0, %lld)", (long long)k,
                             (long long)rows);
        if (hybrid) {
            /* TFLite reads hybrid embedding bytes as symmetric int8, uint8 tables included. */
            const float sc = val->q.n > 1 ? val->q.scale[k] : val->q.scale[0];
            const int8_t *v = (const int8_t *)val->data + k * row;
            float *o = (float *)out->data + i * row;
            for (int64_t j = 0; j < row; j++)
                o[j] = (float)((double)v[j] * (double)sc);
        } else if (row) {
            memcpy((uint8_t *)out->data + (size_t)(i * row) * es,
                   (const uint8_t *)val->data + (size_t)(k * row) * es, (size_t)row * es);
        }
    }
    return KILN_OK;
}

/* ---- SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND ------------------------------------------------- */

typedef struct s2b_data {
    int32_t m; /* number of spatial dims (1..rank-1) */
    int64_t block[KILN_MAX_RANK];
    int64_t before[KILN_MAX_RANK]; /* S2B: leading padding; B2S: leading crop */
    uint8_t pad[16];
} s2b_data;

static kiln_status read_block(kiln_kctx *ctx, kiln_node *node, const char *op, s2b_data *sd,
                              int64_t *after) {
    const kiln_tensor *in = node->in[0], *bs = node->in[1], *pc = node->in[2];
    kiln_status s;
    if ((s = kiln__sh_known_int(ctx, bs, "block_shape")) ||
        (s = kiln__sh_known_int(ctx, pc, op[0] == 'S' ? "paddings" : "crops")))
        return s;
    if (bs->rank != 1 || bs->dims[0] < 1 || bs->dims[0] > in->rank - 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL,
                         "%s block_shape must be 1-D with 1..%d entries for a %d-D input", op,
                         (int)in->rank - 1, (int)in->rank);
    sd->m = bs->dims[0];
    if (pc->rank != 2 || pc->dims[0] != sd->m || pc->dims[1] != 2)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s %s must be [%d, 2]", op,
                         op[0] == 'S' ? "paddings" : "crops", (int)sd->m);
    for (int32_t i = 0; i < sd->m; i++) {
        sd->block[i] = sh_ival(bs, i);
        sd->before[i] = sh_ival(pc, 2 * i);
        after[i] = sh_ival(pc, 2 * i + 1);
        if (sd->block[i] < 1 || sd->block[i] > INT32_MAX)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "%s block_shape[%d] is %lld", op, (int)i,
                             (long long)sd->block[i]);
        if (sd->before[i] < 0 || after[i] < 0 || sd->before[i] > INT32_MAX || after[i] > INT32_MAX)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "%s %s of dim %d are [%lld, %lld]", op,
                             op[0] == 'S' ? "paddings" : "crops", (int)i + 1,
                             (long long)sd->before[i], (long long)after[i]);
    }
    return KILN_OK;
}

kiln_status kiln__sh_prep_space_to_batch(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 3, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *out = node->out[0];
    if ((s = kiln__sh_same_type(ctx, in, out))) return s;
    s2b_data *sd = (s2b_data *)kiln_kalloc(ctx, sizeof *sd);
    if (!sd) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    int64_t after[KILN_MAX_RANK], od[KILN_MAX_RANK];
    if ((s = read_block(ctx, node, "SPACE_TO_BATCH_ND", sd, after))) return s;
    int64_t nb = in->dims[0];
    for (int32_t i = 0; i < sd->m; i++) {
        const int64_t padded = in->dims[i + 1] + sd->before[i] + after[i];
        if (padded % sd->block[i] != 0)
            return kiln_kerr(ctx, KILN_ERR_SHAPE,
                             "SPACE_TO_BATCH_ND: padded dim %d (%lld) not divisible by block %lld",
                             (int)i + 1, (long long)padded, (long long)sd->block[i]);
        od[i + 1] = padded / sd->block[i];
        nb *= sd->block[i];
        if (nb > INT32_MAX)
            return kiln_kerr(ctx, KILN_ERR_SHAPE, "SPACE_TO_BATCH_ND output batch overflows");
    }
    od[0] = nb;
    for (int32_t d = sd->m + 1; d < in->rank; d++)
        od[d] = in->dims[d];
    if ((s = kiln__sh_resize64(ctx, out, in->rank, od))) return s;
    /* Quantized outputs pad with the zero point (the real value 0) in TFLite; TFLite Micro
     * pads int8 with the raw value 0, and the reference dialect follows it. */
    if (kiln_karith(ctx) == KILN_ARITH_TFLM && out->type == KILN_INT8) {
        /* pad stays all-zero bytes */
    } else if (out->q.n >= 1 && (out->type == KILN_INT8 || out->type == KILN_UINT8)) {
        const int32_t zp = out->q.zero_point[0];
        sd->pad[0] = (uint8_t)(out->type == KILN_INT8 ? (int8_t)(zp < -128  ? -128
                                                                 : zp > 127 ? 127
                                                                            : zp)
                                                      : (zp < 0     ? 0
                                                         : zp > 255 ? 255
                                                                    : zp));
    } else if (out->q.n >= 1 && out->type == KILN_INT16) {
        const int32_t zp = out->q.zero_point[0];
        const int16_t v = (int16_t)(zp < -32768 ? -32768 : zp > 32767 ? 32767 : zp);
        memcpy(sd->pad, &v, 2);
    }
    node->data = sd;
    return KILN_OK;
}

kiln_status kiln__sh_eval_space_to_batch(kiln_kctx *ctx, kiln_node *node) {
    const s2b_data *sd = (const s2b_data *)node->data;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *out = node->out[0];
    const size_t es = kiln_dtype_size(in->type);
    const int32_t m = sd->m;
    int64_t ist[KILN_MAX_RANK], chunk = 1;
    sh_strides(in, ist);
    for (int32_t d = m + 1; d < in->rank; d++)
        chunk *= in->dims[d];
    int64_t spatial = 1;
    for (int32_t i = 0; i < m; i++)
        spatial *= out->dims[i + 1];
    const int64_t nb_in = in->dims[0];
    const uint8_t *src = (const uint8_t *)in->data;
    uint8_t *dst = (uint8_t *)out->data;
    for (int64_t ob = 0; ob < out->dims[0]; ob++) {
        const int64_t b = ob % nb_in;
        int64_t rest = ob / nb_in, shift[KILN_MAX_RANK];
        for (int32_t i = m - 1; i >= 0; i--) {
            shift[i] = rest % sd->block[i];
            rest /= sd->block[i];
        }
        int64_t idx[KILN_MAX_RANK] = {0};
        for (int64_t k = 0; k < spatial; k++) {
            int64_t off = b * ist[0];
            int inside = 1;
            for (int32_t i = 0; i < m && inside; i++) {
                const int64_t c = idx[i] * sd->block[i] + shift[i] - sd->before[i];
                if (c < 0 || c >= in->dims[i + 1])
                    inside = 0;
                else
                    off += c * ist[i + 1];
            }
            if (inside) {
                if (chunk) memcpy(dst, src + (size_t)off * es, (size_t)chunk * es);
            } else {
                kiln__sh_fill(dst, sd->pad, chunk, es);
            }
            dst += (size_t)chunk * es;
            for (int32_t i = m - 1; i >= 0; i--) {
                if (++idx[i] < out->dims[i + 1]) break;
                idx[i] = 0;
            }
        }
    }
    return KILN_OK;
}

kiln_status kiln__sh_prep_batch_to_space(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 3, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *out = node->out[0];
    if ((s = kiln__sh_same_type(ctx, in, out))) return s;
    s2b_data *sd = (s2b_data *)kiln_kalloc(ctx, sizeof *sd);
    if (!sd) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    int64_t after[KILN_MAX_RANK], od[KILN_MAX_RANK];
    if ((s = read_block(ctx, node, "BATCH_TO_SPACE_ND", sd, after))) return s;
    int64_t prod = 1;
    for (int32_t i = 0; i < sd->m; i++) {
        prod *= sd->block[i];
        if (prod > INT32_MAX)
            return kiln_kerr(ctx, KILN_ERR_SHAPE, "BATCH_TO_SPACE_ND block product overflows");
        const int64_t full = (int64_t)in->dims[i + 1] * sd->block[i];
        od[i + 1] = full - sd->before[i] - after[i];
        if (od[i + 1] < 0)
            return kiln_kerr(ctx, KILN_ERR_SHAPE,
                             "BATCH_TO_SPACE_ND crops of dim %d exceed its size %lld", (int)i + 1,
                             (long long)full);
    }
    if (in->dims[0] % prod != 0)
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "BATCH_TO_SPACE_ND batch %d not divisible by the block size %lld",
                         (int)in->dims[0], (long long)prod);
    od[0] = in->dims[0] / prod;
    for (int32_t d = sd->m + 1; d < in->rank; d++)
        od[d] = in->dims[d];
    if ((s = kiln__sh_resize64(ctx, out, in->rank, od))) return s;
    node->data = sd;
    return KILN_OK;
}

kiln_status kiln__sh_eval_batch_to_space(kiln_kctx *ctx, kiln_node *node) {
    const s2b_data *sd = (const s2b_data *)node->data;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *out = node->out[0];
    const size_t es = kiln_dtype_size(in->type);
    const int32_t m = sd->m;
    int64_t ist[KILN_MAX_RANK], chunk = 1, spatial = 1;
    sh_strides(in, ist);
    for (int32_t d = m + 1; d < in->rank; d++)
        chunk *= in->dims[d];
    for (int32_t i = 0; i < m; i++)
        spatial *= out->dims[i + 1];
    const int64_t nb_out = out->dims[0];
    const uint8_t *src = (const uint8_t *)in->data;
    uint8_t *dst = (uint8_t *)out->data;
    if (chunk == 0) return KILN_OK;
    for (int64_t b = 0; b < nb_out; b++) {
        int64_t idx[KILN_MAX_RANK] = {0};
        for (int64_t k = 0; k < spatial; k++) {
            int64_t shift = 0, off = 0;
            for (int32_t i = 0; i < m; i++) {
                const int64_t full = idx[i] + sd->before[i];
                shift = shift * sd->block[i] + full % sd->block[i];
                off += (full / sd->block[i]) * ist[i + 1];
            }
            off += (shift * nb_out + b) * ist[0];
            memcpy(dst, src + (size_t)off * es, (size_t)chunk * es);
            dst += (size_t)chunk * es;
            for (int32_t i = m - 1; i >= 0; i--) {
                if (++idx[i] < out->dims[i + 1]) break;
                idx[i] = 0;
            }
        }
    }
    return KILN_OK;
}

/* ---- SPACE_TO_DEPTH, DEPTH_TO_SPACE: 4-D NHWC rearrangements as strided views -------------- */

typedef struct view_data {
    int64_t base;
    sh_view v;
} view_data;

static kiln_status block_size(kiln_kctx *ctx, kiln_node *node, const char *op, int64_t *b) {
    const kiln_tensor *in = node->in[0];
    if (in->rank != 4)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s input must be 4-D, got %d dims", op,
                         (int)in->rank);
    *b = kiln_opt_i32(node, 0, 0);
    if (*b < 1 || *b > 65535)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s block_size %lld", op, (long long)*b);
    return KILN_OK;
}

kiln_status kiln__sh_prep_space_to_depth(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 1, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *out = node->out[0];
    if ((s = kiln__sh_same_type(ctx, in, out))) return s;
    int64_t b;
    if ((s = block_size(ctx, node, "SPACE_TO_DEPTH", &b))) return s;
    const int64_t n = in->dims[0], h = in->dims[1], w = in->dims[2], c = in->dims[3];
    if (h % b || w % b)
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "SPACE_TO_DEPTH: height %lld and width %lld must be divisible by %lld",
                         (long long)h, (long long)w, (long long)b);
    if (c > INT32_MAX / (b * b))
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "SPACE_TO_DEPTH output depth overflows");
    const int64_t od[4] = {n, h / b, w / b, c * b * b};
    if ((s = kiln__sh_resize64(ctx, out, 4, od))) return s;
    view_data *vd = (view_data *)kiln_kalloc(ctx, sizeof *vd);
    if (!vd) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    /* out[n][oh][ow][(by*b + bx)*c + ch] = in[n][oh*b + by][ow*b + bx][ch] */
    const int64_t dims[6] = {n, h / b, w / b, b, b, c};
    const int64_t st[6] = {h * w * c, b * w * c, b * c, w * c, c, 1};
    vd->v.rank = 6;
    memcpy(vd->v.dims, dims, sizeof dims);
    memcpy(vd->v.st, st, sizeof st);
    node->data = vd;
    return KILN_OK;
}

kiln_status kiln__sh_prep_depth_to_space(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 1, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *out = node->out[0];
    if ((s = kiln__sh_same_type(ctx, in, out))) return s;
    int64_t b;
    if ((s = block_size(ctx, node, "DEPTH_TO_SPACE", &b))) return s;
    const int64_t n = in->dims[0], h = in->dims[1], w = in->dims[2], c = in->dims[3];
    if (c % (b * b))
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "DEPTH_TO_SPACE: depth %lld must be divisible by %lld", (long long)c,
                         (long long)(b * b));
    const int64_t co = c / (b * b);
    const int64_t od[4] = {n, h * b, w * b, co};
    if ((s = kiln__sh_resize64(ctx, out, 4, od))) return s;
    view_data *vd = (view_data *)kiln_kalloc(ctx, sizeof *vd);
    if (!vd) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    /* out[n][ih*b + by][iw*b + bx][ch] = in[n][ih][iw][(by*b + bx)*co + ch] */
    const int64_t dims[6] = {n, h, b, w, b, co};
    const int64_t st[6] = {h * w * c, w * c, b * co, c, co, 1};
    vd->v.rank = 6;
    memcpy(vd->v.dims, dims, sizeof dims);
    memcpy(vd->v.st, st, sizeof st);
    node->data = vd;
    return KILN_OK;
}

static kiln_status eval_view(kiln_kctx *ctx, kiln_node *node) {
    const view_data *vd = (const view_data *)node->data;
    kiln__sh_copy_view(node->out[0]->data, node->in[0]->data, vd->base, &vd->v,
                       kiln_dtype_size(node->in[0]->type));
    return KILN_OK;
}

kiln_status kiln__sh_eval_space_to_depth(kiln_kctx *ctx, kiln_node *node) {
    return eval_view(ctx, node);
}

kiln_status kiln__sh_eval_depth_to_space(kiln_kctx *ctx, kiln_node *node) {
    return eval_view(ctx, node);
}
