/* shape.c: the shape / data-movement op family table, shared helpers, and RESHAPE, SQUEEZE,
 * EXPAND_DIMS, SHAPE, FILL, ZEROS_LIKE, RANGE, DEQUANTIZE. Semantics of TFLite's builtin kernels
 * (tensorflow/lite/kernels/<op>.cc); data movement copies bytes, so any fixed-size dtype works. */
#include "kernels/ref/shape_common.h"

#include <math.h>

/* Shared by the shape_*.c files (declared in shape_common.h). */
kiln_status kiln__sh_same_type(kiln_kctx *ctx, const kiln_tensor *in, const kiln_tensor *out) {
    if (in->type != out->type)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "output type %s differs from input type %s",
                         kiln_dtype_name(out->type), kiln_dtype_name(in->type));
    if (!sh_movable(in->type))
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "type %s is not supported",
                         kiln_dtype_name(in->type));
    return KILN_OK;
}

kiln_status kiln__sh_resize64(kiln_kctx *ctx, kiln_tensor *t, int32_t rank, const int64_t *d) {
    int32_t dims[KILN_MAX_RANK];
    if (rank > KILN_MAX_RANK)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "output rank %d (at most %d)", (int)rank,
                         KILN_MAX_RANK);
    for (int32_t i = 0; i < rank; i++) {
        if (d[i] < 0 || d[i] > INT32_MAX)
            return kiln_kerr(ctx, KILN_ERR_SHAPE, "output dim %d would be %lld", (int)i,
                             (long long)d[i]);
        dims[i] = (int32_t)d[i];
    }
    return kiln_kresize(ctx, t, rank, dims);
}

/* ---- shared helpers ------------------------------------------------------------------------ */

kiln_status kiln__sh_arity(kiln_kctx *ctx, const kiln_node *n, int32_t req, int32_t n_out) {
    if (n->n_in < req)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "expected at least %d inputs, got %d", (int)req,
                         (int)n->n_in);
    for (int32_t i = 0; i < req; i++)
        if (!n->in[i]) return kiln_kerr(ctx, KILN_ERR_MODEL, "input %d is missing", (int)i);
    if (n_out >= 0 ? n->n_out != n_out : n->n_out < 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "expected %d outputs, got %d",
                         (int)(n_out < 0 ? 1 : n_out), (int)n->n_out);
    for (int32_t i = 0; i < n->n_out; i++)
        if (!n->out[i]) return kiln_kerr(ctx, KILN_ERR_MODEL, "output %d is missing", (int)i);
    return KILN_OK;
}

kiln_status kiln__sh_known_int(kiln_kctx *ctx, const kiln_tensor *t, const char *what) {
    if (!sh_index_type(t->type))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s must be int32 or int64, got %s", what,
                         kiln_dtype_name(t->type));
    if (!kiln_kknown(ctx, t))
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                         "%s must be known before invoke (dynamic shapes are not supported)", what);
    if (!t->data && kiln_numel(t) > 0)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s has no data", what);
    return KILN_OK;
}

void kiln__sh_fill(void *dst, const void *val, int64_t n, size_t es) {
    uint8_t *o = (uint8_t *)dst;
    if (n <= 0) return;
    memcpy(o, val, es);
    /* Doubling copies: the filled prefix is the pattern for the rest. */
    int64_t done = 1;
    while (done < n) {
        int64_t k = done < n - done ? done : n - done;
        memcpy(o + (size_t)done * es, o, (size_t)k * es);
        done += k;
    }
}

static void copy_row(uint8_t *o, const uint8_t *s, int64_t off, int64_t n, int64_t st, size_t es) {
    if (st == 1) {
        memcpy(o, s + (size_t)off * es, (size_t)n * es);
        return;
    }
    switch (es) {
    case 1:
        for (int64_t j = 0; j < n; j++)
            o[j] = s[off + j * st];
        break;
    case 2: {
        uint16_t *d = (uint16_t *)(void *)o;
        const uint16_t *x = (const uint16_t *)(const void *)s;
        for (int64_t j = 0; j < n; j++)
            d[j] = x[off + j * st];
        break;
    }
    case 4: {
        uint32_t *d = (uint32_t *)(void *)o;
        const uint32_t *x = (const uint32_t *)(const void *)s;
        for (int64_t j = 0; j < n; j++)
            d[j] = x[off + j * st];
        break;
    }
    case 8: {
        uint64_t *d = (uint64_t *)(void *)o;
        const uint64_t *x = (const uint64_t *)(const void *)s;
        for (int64_t j = 0; j < n; j++)
            d[j] = x[off + j * st];
        break;
    }
    default:
        for (int64_t j = 0; j < n; j++)
            memcpy(o + (size_t)j * es, s + (size_t)(off + j * st) * es, es);
    }
}

void kiln__sh_copy_view(void *dst, const void *src, int64_t base, const sh_view *v, size_t es) {
    /* Drop unit dims and merge dims that are contiguous in the source, so the inner copy is as
     * long as possible (a plain slice becomes a few memcpy calls). */
    sh_view w;
    w.rank = 0;
    for (int32_t d = 0; d < v->rank; d++) {
        if (v->dims[d] == 0) return;
        if (v->dims[d] == 1) continue;
        if (w.rank > 0 && w.st[w.rank - 1] == v->st[d] * v->dims[d]) {
            w.dims[w.rank - 1] *= v->dims[d];
            w.st[w.rank - 1] = v->st[d];
        } else {
            w.dims[w.rank] = v->dims[d];
            w.st[w.rank] = v->st[d];
            w.rank++;
        }
    }
    uint8_t *o = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
    if (w.rank == 0) {
        memcpy(o, s + (size_t)base * es, es);
        return;
    }
    const int32_t r = w.rank;
    const int64_t inner = w.dims[r - 1], ist = w.st[r - 1];
    int64_t idx[SH_VR] = {0};
    int64_t off = base;
    for (;;) {
        copy_row(o, s, off, inner, ist, es);
        o += (size_t)inner * es;
        int32_t d = r - 2;
        for (; d >= 0; d--) {
            off += w.st[d];
            if (++idx[d] < w.dims[d]) break;
            off -= w.st[d] * w.dims[d];
            idx[d] = 0;
        }
        if (d < 0) break;
    }
}

/* Common checks for single-input, single-output copies: same dtype, copyable. */

/* Invoke of ops whose output is the input's bytes (RESHAPE, SQUEEZE, EXPAND_DIMS). */
static kiln_status eval_copy(kiln_kctx *ctx, kiln_node *node) {
    const kiln_tensor *in = node->in[0];
    kiln_tensor *out = node->out[0];
    if (out->data != in->data && in->bytes) memmove(out->data, in->data, in->bytes);
    return KILN_OK;
}

/* ---- RESHAPE ------------------------------------------------------------------------------ */

static kiln_status prep_reshape(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 1, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0], *shp = sh_in(node, 1);
    kiln_tensor *out = node->out[0];
    if ((s = kiln__sh_same_type(ctx, in, out))) return s;
    int64_t want[KILN_MAX_RANK];
    int32_t rank = -1;
    /* TFLite takes the shape tensor when it is a vector, else the new_shape option; Kiln also
     * falls back to the output's static shape when neither is usable (dynamic shape input
     * without options, as newer converters write). */
    if (shp && shp->rank == 1 && sh_index_type(shp->type) && kiln_kknown(ctx, shp)) {
        if (shp->dims[0] > KILN_MAX_RANK)
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "RESHAPE to rank %d (at most %d)",
                             (int)shp->dims[0], KILN_MAX_RANK);
        rank = shp->dims[0];
        for (int32_t i = 0; i < rank; i++)
            want[i] = sh_ival(shp, i);
    } else {
        int32_t tmp[KILN_MAX_RANK];
        int32_t len = kiln_opt_ivec(node, 0, tmp, KILN_MAX_RANK);
        if (len > KILN_MAX_RANK)
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "RESHAPE to rank %d (at most %d)", (int)len,
                             KILN_MAX_RANK);
        if (len == 1 && tmp[0] == 0) len = 0; /* legacy converters wrote [0] for a scalar */
        if (len > 0 || (len == 0 && kiln_numel(in) == 1)) {
            rank = len;
            for (int32_t i = 0; i < rank; i++)
                want[i] = tmp[i];
        } else if (shp && shp->rank == 1 && shp->dims[0] <= KILN_MAX_RANK &&
                   !kiln_kknown(ctx, shp) && out->rank != shp->dims[0]) {
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                             "RESHAPE shape input is not known before invoke and the output "
                             "shape does not say it");
        } else {
            rank = out->rank;
            for (int32_t i = 0; i < rank; i++)
                want[i] = out->dims[i];
        }
    }
    const int64_t n = kiln_numel(in);
    int64_t prod = 1;
    int32_t stretch = -1;
    for (int32_t i = 0; i < rank; i++) {
        if (want[i] == -1) {
            if (stretch >= 0)
                return kiln_kerr(ctx, KILN_ERR_MODEL, "RESHAPE shape has more than one -1");
            stretch = i;
        } else if (want[i] < 0 || want[i] > INT32_MAX) {
            return kiln_kerr(ctx, KILN_ERR_MODEL, "RESHAPE shape dim %d is %lld", (int)i,
                             (long long)want[i]);
        } else {
            /* Checked before multiplying so the product cannot overflow. */
            if (want[i] > 0 && prod > ((int64_t)1 << 40) / want[i])
                return kiln_kerr(ctx, KILN_ERR_MODEL, "RESHAPE shape overflows");
            prod *= want[i];
        }
    }
    if (stretch >= 0) {
        if (prod == 0 || n % prod != 0 || n / prod > INT32_MAX)
            return kiln_kerr(ctx, KILN_ERR_SHAPE,
                             "RESHAPE cannot infer the -1 dim: %lld elements, %lld known",
                             (long long)n, (long long)prod);
        want[stretch] = n / prod;
        prod = n;
    }
    if (prod != n)
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "RESHAPE of %lld elements into a shape of %lld elements", (long long)n,
                         (long long)prod);
    int32_t dims[KILN_MAX_RANK];
    for (int32_t i = 0; i < rank; i++)
        dims[i] = (int32_t)want[i];
    return kiln_kresize(ctx, out, rank, dims);
}

/* ---- SQUEEZE ------------------------------------------------------------------------------ */

static kiln_status prep_squeeze(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 1, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *out = node->out[0];
    if ((s = kiln__sh_same_type(ctx, in, out))) return s;
    int32_t sq[KILN_MAX_RANK];
    int32_t n = kiln_opt_ivec(node, 0, sq, KILN_MAX_RANK);
    if (n > KILN_MAX_RANK)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "SQUEEZE has %d squeeze_dims (at most %d)", (int)n,
                         KILN_MAX_RANK);
    uint8_t drop[KILN_MAX_RANK] = {0};
    if (n <= 0) {
        for (int32_t d = 0; d < in->rank; d++)
            drop[d] = in->dims[d] == 1;
    } else {
        for (int32_t i = 0; i < n; i++) {
            int32_t d = sq[i] < 0 ? sq[i] + in->rank : sq[i];
            if (d < 0 || d >= in->rank)
                return kiln_kerr(ctx, KILN_ERR_MODEL, "SQUEEZE dim %d out of range for rank %d",
                                 (int)sq[i], (int)in->rank);
            if (in->dims[d] != 1)
                return kiln_kerr(ctx, KILN_ERR_SHAPE, "SQUEEZE dim %d has size %d, not 1",
                                 (int)sq[i], (int)in->dims[d]);
            drop[d] = 1;
        }
    }
    int32_t dims[KILN_MAX_RANK], r = 0;
    for (int32_t d = 0; d < in->rank; d++)
        if (!drop[d]) dims[r++] = in->dims[d];
    return kiln_kresize(ctx, out, r, dims);
}

/* ---- EXPAND_DIMS -------------------------------------------------------------------------- */

static kiln_status prep_expand_dims(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 2, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0], *ax = node->in[1];
    kiln_tensor *out = node->out[0];
    if ((s = kiln__sh_same_type(ctx, in, out))) return s;
    if ((s = kiln__sh_known_int(ctx, ax, "EXPAND_DIMS axis"))) return s;
    if (kiln_numel(ax) != 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "EXPAND_DIMS axis must have one element");
    if (in->rank >= KILN_MAX_RANK)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "EXPAND_DIMS output rank above %d",
                         KILN_MAX_RANK);
    int64_t a = sh_ival(ax, 0);
    if (a < -(int64_t)in->rank - 1 || a > in->rank)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "EXPAND_DIMS axis %lld out of range for rank %d",
                         (long long)a, (int)in->rank);
    if (a < 0) a += in->rank + 1;
    int32_t dims[KILN_MAX_RANK], r = 0;
    for (int32_t d = 0; d <= in->rank; d++) {
        if (d == a) dims[r++] = 1;
        if (d < in->rank) dims[r++] = in->dims[d];
    }
    return kiln_kresize(ctx, out, in->rank + 1, dims);
}

/* ---- SHAPE -------------------------------------------------------------------------------- */

static kiln_status prep_shape(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 1, 1);
    if (s) return s;
    kiln_tensor *out = node->out[0];
    if (out->type != KILN_INT32 && out->type != KILN_INT64)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "SHAPE output must be int32 or int64, got %s",
                         kiln_dtype_name(out->type));
    int32_t d = node->in[0]->rank;
    return kiln_kresize(ctx, out, 1, &d);
}

static kiln_status eval_shape(kiln_kctx *ctx, kiln_node *node) {
    const kiln_tensor *in = node->in[0];
    kiln_tensor *out = node->out[0];
    for (int32_t d = 0; d < in->rank; d++) {
        if (out->type == KILN_INT32)
            ((int32_t *)out->data)[d] = in->dims[d];
        else
            ((int64_t *)out->data)[d] = in->dims[d];
    }
    return KILN_OK;
}

/* ---- FILL --------------------------------------------------------------------------------- */

static kiln_status prep_fill(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 2, 1);
    if (s) return s;
    const kiln_tensor *dm = node->in[0], *val = node->in[1];
    kiln_tensor *out = node->out[0];
    if ((s = kiln__sh_same_type(ctx, val, out))) return s;
    if (kiln_numel(val) != 1) return kiln_kerr(ctx, KILN_ERR_MODEL, "FILL value must be a scalar");
    if ((s = kiln__sh_known_int(ctx, dm, "FILL dims"))) return s;
    if (dm->rank != 1) return kiln_kerr(ctx, KILN_ERR_MODEL, "FILL dims must be 1-D");
    if (dm->dims[0] > KILN_MAX_RANK)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "FILL output rank %d (at most %d)",
                         (int)dm->dims[0], KILN_MAX_RANK);
    int32_t dims[KILN_MAX_RANK];
    for (int32_t i = 0; i < dm->dims[0]; i++) {
        int64_t v = sh_ival(dm, i);
        if (v < 0 || v > INT32_MAX)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "FILL dim %d is %lld", (int)i, (long long)v);
        dims[i] = (int32_t)v;
    }
    return kiln_kresize(ctx, out, dm->dims[0], dims);
}

static kiln_status eval_fill(kiln_kctx *ctx, kiln_node *node) {
    kiln_tensor *out = node->out[0];
    kiln__sh_fill(out->data, node->in[1]->data, kiln_numel(out), kiln_dtype_size(out->type));
    return KILN_OK;
}

/* ---- ZEROS_LIKE --------------------------------------------------------------------------- */

static kiln_status prep_zeros_like(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 1, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0];
    if ((s = kiln__sh_same_type(ctx, in, node->out[0]))) return s;
    return kiln_kresize(ctx, node->out[0], in->rank, in->dims);
}

static kiln_status eval_zeros_like(kiln_kctx *ctx, kiln_node *node) {
    /* All-zero bytes are 0 for every integer type and +0.0 for the float types. */
    if (node->out[0]->bytes) memset(node->out[0]->data, 0, node->out[0]->bytes);
    return KILN_OK;
}

/* ---- RANGE -------------------------------------------------------------------------------- */

static kiln_status prep_range(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 3, 1);
    if (s) return s;
    const kiln_tensor *st = node->in[0], *lim = node->in[1], *dl = node->in[2];
    kiln_tensor *out = node->out[0];
    const int32_t t = st->type;
    if (t != KILN_INT32 && t != KILN_INT64 && t != KILN_FLOAT32)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "RANGE type %s (int32, int64, float32)",
                         kiln_dtype_name(t));
    if (lim->type != t || dl->type != t || out->type != t)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "RANGE inputs and output must have one type");
    for (int32_t i = 0; i < 3; i++) {
        if (kiln_numel(node->in[i]) != 1)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "RANGE input %d must be a scalar", (int)i);
        if (!kiln_kknown(ctx, node->in[i]))
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                             "RANGE input %d must be known before invoke (dynamic shapes are "
                             "not supported)",
                             (int)i);
    }
    int64_t size;
    if (t == KILN_FLOAT32) {
        const float a = *(const float *)st->data, b = *(const float *)lim->data,
                    d = *(const float *)dl->data;
        if (d == 0.0f || !isfinite(a) || !isfinite(b) || !isfinite(d))
            return kiln_kerr(ctx, KILN_ERR_MODEL, "RANGE delta is zero or a value is not finite");
        if ((a > b && d > 0) || (a < b && d < 0))
            return kiln_kerr(ctx, KILN_ERR_MODEL, "RANGE delta points away from the limit");
        const float f = ceilf(fabsf((b - a) / d));
        if (!(f <= (float)INT32_MAX))
            return kiln_kerr(ctx, KILN_ERR_SHAPE, "RANGE output too large");
        size = (int64_t)f;
    } else {
        const int64_t a = sh_ival(st, 0), b = sh_ival(lim, 0), d = sh_ival(dl, 0);
        if (d == 0) return kiln_kerr(ctx, KILN_ERR_MODEL, "RANGE delta is zero");
        if ((a > b && d > 0) || (a < b && d < 0))
            return kiln_kerr(ctx, KILN_ERR_MODEL, "RANGE delta points away from the limit");
        /* Magnitudes in unsigned arithmetic: limit - start may not fit in int64. */
        const uint64_t mag = b > a ? (uint64_t)b - (uint64_t)a : (uint64_t)a - (uint64_t)b;
        const uint64_t ad = d > 0 ? (uint64_t)d : (uint64_t)0 - (uint64_t)d;
        const uint64_t n = mag / ad + (mag % ad != 0);
        if (n > INT32_MAX) return kiln_kerr(ctx, KILN_ERR_SHAPE, "RANGE output too large");
        size = (int64_t)n;
    }
    int32_t dim = (int32_t)size;
    return kiln_kresize(ctx, out, 1, &dim);
}

static kiln_status eval_range(kiln_kctx *ctx, kiln_node *node) {
    kiln_tensor *out = node->out[0];
    const int64_t n = kiln_numel(out);
    /* TFLite accumulates (value += delta), which matters for float. */
    if (out->type == KILN_FLOAT32) {
        float v = *(const float *)node->in[0]->data;
        const float d = *(const float *)node->in[2]->data;
        float *o = (float *)out->data;
        for (int64_t i = 0; i < n; i++) {
            o[i] = v;
            v += d;
        }
    } else {
        int64_t v = sh_ival(node->in[0], 0);
        const int64_t d = sh_ival(node->in[2], 0);
        for (int64_t i = 0; i < n; i++) {
            if (out->type == KILN_INT32)
                ((int32_t *)out->data)[i] = (int32_t)v;
            else
                ((int64_t *)out->data)[i] = v;
            /* Every written value lies between start and limit; skip the final step so the
             * accumulator never overflows. */
            if (i + 1 < n) v += d;
        }
    }
    return KILN_OK;
}

/* ---- DEQUANTIZE --------------------------------------------------------------------------- */

static float half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
    if (e == 0) {
        if (m == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int32_t k = -1;
            do {
                k++;
                m <<= 1;
            } while (!(m & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - k) << 23) | ((m & 0x3ff) << 13);
        }
    } else if (e == 31) {
        bits = sign | 0x7f800000u | (m << 13);
    } else {
        bits = sign | ((e + 127 - 15) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static kiln_status prep_dequantize(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 1, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *out = node->out[0];
    if (out->type != KILN_FLOAT32)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "DEQUANTIZE output must be float32, got %s",
                         kiln_dtype_name(out->type));
    switch (in->type) {
    case KILN_FLOAT16:
        break;
    case KILN_INT8:
    case KILN_UINT8:
    case KILN_INT16:
        if (in->q.n < 1)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "DEQUANTIZE input has no quantization");
        if (in->q.n > 1) {
            if (in->q.dim < 0 || in->q.dim >= in->rank || in->dims[in->q.dim] != in->q.n)
                return kiln_kerr(ctx, KILN_ERR_MODEL,
                                 "DEQUANTIZE: %d per-channel scales do not fit dim %d of the "
                                 "input",
                                 (int)in->q.n, (int)in->q.dim);
        }
        break;
    default:
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "DEQUANTIZE from %s is not supported",
                         kiln_dtype_name(in->type));
    }
    return kiln_kresize(ctx, out, in->rank, in->dims);
}

static kiln_status eval_dequantize(kiln_kctx *ctx, kiln_node *node) {
    const kiln_tensor *in = node->in[0];
    kiln_tensor *out = node->out[0];
    float *o = (float *)out->data;
    const int64_t n = kiln_numel(in);
    if (in->type == KILN_FLOAT16) {
        const uint16_t *x = (const uint16_t *)in->data;
        for (int64_t i = 0; i < n; i++)
            o[i] = half_to_float(x[i]);
        return KILN_OK;
    }
    /* Per-tensor is per-channel with one channel spanning everything. TFLite Micro reads only
     * the first scale and zero point even of a per-channel tensor; the reference dialect
     * follows it, the litert dialect dequantizes per channel as TFLite does. */
    int64_t inner = n, nch = 1;
    if (in->q.n > 1 && kiln_karith(ctx) == KILN_ARITH_LITERT) {
        nch = in->q.n;
        inner = 1;
        for (int32_t d = in->q.dim + 1; d < in->rank; d++)
            inner *= in->dims[d];
    }
    for (int64_t i = 0; i < n; i++) {
        const int64_t c = (i / inner) % nch;
        int32_t v;
        if (in->type == KILN_INT8)
            v = ((const int8_t *)in->data)[i];
        else if (in->type == KILN_UINT8)
            v = ((const uint8_t *)in->data)[i];
        else
            v = ((const int16_t *)in->data)[i];
        /* scale * (v - zp): the integer is exact in float and the product rounds once, as in
         * TFLite's double-precision reference and XNNPACK's float path. */
        o[i] = (float)((double)in->q.scale[c] * (double)(v - in->q.zero_point[c]));
    }
    return KILN_OK;
}

/* ---- the family table ----------------------------------------------------------------------
 * Versions are those of TFLite's BuiltinOpResolver (LiteRT's register.cc). */

#define K(op, lo, hi, prep, eval)                                                                  \
    { op, lo, hi, KILN_ANY, KILN_ANY, prep, eval }

const kiln_kernel_reg kiln__k_shape[] = {
    K(KILN_OP_RESHAPE, 1, 1, prep_reshape, eval_copy),
    K(KILN_OP_SQUEEZE, 1, 2, prep_squeeze, eval_copy),
    K(KILN_OP_EXPAND_DIMS, 1, 1, prep_expand_dims, eval_copy),
    K(KILN_OP_SHAPE, 1, 1, prep_shape, eval_shape),
    K(KILN_OP_FILL, 1, 4, prep_fill, eval_fill),
    K(KILN_OP_ZEROS_LIKE, 1, 1, prep_zeros_like, eval_zeros_like),
    K(KILN_OP_RANGE, 1, 2, prep_range, eval_range),
    K(KILN_OP_DEQUANTIZE, 1, 8, prep_dequantize, eval_dequantize),
    K(KILN_OP_TRANSPOSE, 1, 7, kiln__sh_prep_transpose, kiln__sh_eval_transpose),
    K(KILN_OP_CONCATENATION, 1, 5, kiln__sh_prep_concat, kiln__sh_eval_concat),
    K(KILN_OP_SPLIT, 1, 4, kiln__sh_prep_split, kiln__sh_eval_split),
    K(KILN_OP_SPLIT_V, 1, 2, kiln__sh_prep_split_v, kiln__sh_eval_split_v),
    K(KILN_OP_PACK, 1, 4, kiln__sh_prep_pack, kiln__sh_eval_pack),
    K(KILN_OP_UNPACK, 1, 4, kiln__sh_prep_unpack, kiln__sh_eval_unpack),
    K(KILN_OP_PAD, 1, 5, kiln__sh_prep_pad, kiln__sh_eval_pad),
    K(KILN_OP_PADV2, 1, 5, kiln__sh_prep_pad, kiln__sh_eval_pad),
    K(KILN_OP_MIRROR_PAD, 1, 3, kiln__sh_prep_mirror_pad, kiln__sh_eval_mirror_pad),
    K(KILN_OP_STRIDED_SLICE, 1, 8, kiln__sh_prep_strided_slice, kiln__sh_eval_strided_slice),
    K(KILN_OP_SLICE, 1, 7, kiln__sh_prep_slice, kiln__sh_eval_slice),
    K(KILN_OP_TILE, 1, 3, kiln__sh_prep_tile, kiln__sh_eval_tile),
    K(KILN_OP_BROADCAST_TO, 2, 3, kiln__sh_prep_broadcast_to, kiln__sh_eval_broadcast_to),
    K(KILN_OP_REVERSE_V2, 1, 3, kiln__sh_prep_reverse, kiln__sh_eval_reverse),
    K(KILN_OP_GATHER, 1, 7, kiln__sh_prep_gather, kiln__sh_eval_gather),
    K(KILN_OP_GATHER_ND, 1, 5, kiln__sh_prep_gather_nd, kiln__sh_eval_gather_nd),
    K(KILN_OP_EMBEDDING_LOOKUP, 1, 5, kiln__sh_prep_embedding_lookup,
      kiln__sh_eval_embedding_lookup),
    K(KILN_OP_SPACE_TO_BATCH_ND, 1, 4, kiln__sh_prep_space_to_batch, kiln__sh_eval_space_to_batch),
    K(KILN_OP_BATCH_TO_SPACE_ND, 1, 4, kiln__sh_prep_batch_to_space, kiln__sh_eval_batch_to_space),
    K(KILN_OP_SPACE_TO_DEPTH, 1, 2, kiln__sh_prep_space_to_depth, kiln__sh_eval_space_to_depth),
    K(KILN_OP_DEPTH_TO_SPACE, 1, 2, kiln__sh_prep_depth_to_space, kiln__sh_eval_depth_to_space),
    K(KILN_OP_RESIZE_BILINEAR, 1, 4, kiln__sh_prep_resize_bilinear, kiln__sh_eval_resize_bilinear),
    K(KILN_OP_RESIZE_NEAREST_NEIGHBOR, 1, 4, kiln__sh_prep_resize_nearest,
      kiln__sh_eval_resize_nearest),
    K(KILN_OP_RFFT2D, 1, 1, kiln__sh_prep_rfft2d, kiln__sh_eval_rfft2d),
    K(KILN_OP_COMPLEX_ABS, 1, 1, kiln__sh_prep_complex_abs, kiln__sh_eval_complex_abs),
    {-1, 0, 0, 0, 0, NULL, NULL},
};
