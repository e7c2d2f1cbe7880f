/* shape_common.h: helpers shared by the shape/data-movement kernel files (shape*.c): reading
 * index tensors, dtype checks and a strided "view" copy. Internal to src/kernels/ref. */
#ifndef KILN_KERNELS_REF_SHAPE_COMMON_H
#define KILN_KERNELS_REF_SHAPE_COMMON_H

#include <stdint.h>
#include <string.h>

#include "kernels/kernel.h"
#include "kernels/ops.h"

/* Views may have more dims than a tensor (space/depth rearrangements split dims). */
#define SH_VR 16

/* A strided view of a source buffer: element (i0..in) is at base + sum(i_d * st[d]). */
typedef struct sh_view {
    int32_t rank;
    int64_t dims[SH_VR];
    int64_t st[SH_VR];
} sh_view;

/* Copies the view densely (row-major over its dims) into dst. es: element size in bytes. */
void kiln__sh_copy_view(void *dst, const void *src, int64_t base, const sh_view *v, size_t es);

/* Row-major element strides of a tensor shape. */
static inline void sh_strides(const kiln_tensor *t, int64_t *st) {
    int64_t s = 1;
    for (int32_t d = t->rank - 1; d >= 0; d--) {
        st[d] = s;
        s *= t->dims[d];
    }
}

/* Input i or NULL (absent optional input or past the end). */
static inline kiln_tensor *sh_in(const kiln_node *n, int32_t i) {
    return i < n->n_in ? n->in[i] : NULL;
}

/* Dtypes that a data-movement op may copy by element size. */
static inline int sh_movable(int32_t type) {
    if (type == KILN_STRING || type == KILN_INT4 || type == KILN_RESOURCE || type == KILN_VARIANT)
        return 0;
    return kiln_dtype_size(type) > 0;
}

static inline int sh_index_type(int32_t type) {
    return type == KILN_INT32 || type == KILN_INT64;
}

/* Element i of an integer tensor (int32/int64, also int16/int8/uint8). */
static inline int64_t sh_ival(const kiln_tensor *t, int64_t i) {
    switch (t->type) {
    case KILN_INT32:
        return ((const int32_t *)t->data)[i];
    case KILN_INT64:
        return ((const int64_t *)t->data)[i];
    case KILN_INT16:
        return ((const int16_t *)t->data)[i];
    case KILN_INT8:
        return ((const int8_t *)t->data)[i];
    case KILN_UINT8:
        return ((const uint8_t *)t->data)[i];
    default:
        return 0;
    }
}

/* Checks the node has at least min_in inputs (non-NULL for the first `req` ones) and exactly
 * n_out outputs (n_out < 0: at least one). */
/* Output type equal to the input's and movable by the data-movement kernels. */
kiln_status kiln__sh_same_type(kiln_kctx *ctx, const kiln_tensor *in, const kiln_tensor *out);
/* Sets t's shape from int64 dims, checking rank and range. */
kiln_status kiln__sh_resize64(kiln_kctx *ctx, kiln_tensor *t, int32_t rank, const int64_t *d);
kiln_status kiln__sh_arity(kiln_kctx *ctx, const kiln_node *n, int32_t req, int32_t n_out);

/* Checks an input that must be a known (constant or folded) integer tensor. */
kiln_status kiln__sh_known_int(kiln_kctx *ctx, const kiln_tensor *t, const char *what);

/* Same quantization parameters (per-tensor scale/zero point, or both unquantized). */
static inline int sh_same_quant(const kiln_tensor *a, const kiln_tensor *b) {
    if (a->q.n == 0 || b->q.n == 0) return a->q.n == b->q.n;
    return a->q.scale[0] == b->q.scale[0] && a->q.zero_point[0] == b->q.zero_point[0];
}

/* Fills n elements of dst with the element value at src (es bytes). */
void kiln__sh_fill(void *dst, const void *val, int64_t n, size_t es);

/* Kernels of the family, defined in shape*.c and registered in shape.c. */
#define SH_KERNEL(name)                                                                            \
    kiln_status kiln__sh_prep_##name(kiln_kctx *ctx, kiln_node *node);                             \
    kiln_status kiln__sh_eval_##name(kiln_kctx *ctx, kiln_node *node);
SH_KERNEL(transpose)
SH_KERNEL(concat)
SH_KERNEL(split)
SH_KERNEL(split_v)
SH_KERNEL(pack)
SH_KERNEL(unpack)
SH_KERNEL(pad)
SH_KERNEL(mirror_pad)
SH_KERNEL(strided_slice)
SH_KERNEL(slice)
SH_KERNEL(tile)
SH_KERNEL(broadcast_to)
SH_KERNEL(reverse)
SH_KERNEL(gather)
SH_KERNEL(gather_nd)
SH_KERNEL(embedding_lookup)
SH_KERNEL(space_to_batch)
SH_KERNEL(batch_to_space)
SH_KERNEL(space_to_depth)
SH_KERNEL(depth_to_space)
SH_KERNEL(resize_bilinear)
SH_KERNEL(resize_nearest)
SH_KERNEL(rfft2d)
SH_KERNEL(complex_abs)
#undef SH_KERNEL

#endif
