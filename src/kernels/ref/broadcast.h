/* broadcast.h: NumPy-style broadcasting of up to 3 operands for elementwise kernels.
 * Semantics: TFLite's CalculateShapeForBroadcast (a 0 dim against 1 gives 0) and NdArrayDesc
 * strides (stride 0 where an operand is broadcast); dims are collapsed for speed. */
#ifndef KILN_KERNELS_REF_BROADCAST_H
#define KILN_KERNELS_REF_BROADCAST_H

#include <stdint.h>
#include <string.h>

#include "kiln/kiln_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_BCAST_MAX_IN 3

/* Output shape of broadcasting `nin` operands of ranks r[k] and dims d[k]. Returns 0 and
 * writes *rout/dout (rank = max rank), or -1 when the shapes are not broadcastable (two dims
 * differ and neither is 1). Ranks must be <= KILN_MAX_RANK. */
static inline int kiln_bcast_shape(int32_t nin, const int32_t *r, const int32_t *const *d,
                                   int32_t *rout, int32_t *dout) {
    int32_t rank = 0;
    for (int32_t k = 0; k < nin; k++)
        rank = r[k] > rank ? r[k] : rank;
    for (int32_t i = 0; i < rank; i++) {
        int32_t o = 1, zero = 0;
        for (int32_t k = 0; k < nin; k++) {
            const int32_t j = i - (rank - r[k]);
            const int32_t v = j >= 0 ? d[k][j] : 1;
            if (v == 0) zero = 1;
            if (v == 1) continue;
            if (o != 1 && o != v) return -1;
            o = v;
        }
        dout[i] = zero ? 0 : o;
    }
    *rout = rank;
    return 0;
}

/* Two-operand form of kiln_bcast_shape. */
static inline int kiln_bcast_shape2(int32_t ra, const int32_t *da, int32_t rb, const int32_t *db,
                                    int32_t *rout, int32_t *dout) {
    const int32_t r[2] = {ra, rb};
    const int32_t *const d[2] = {da, db};
    return kiln_bcast_shape(2, r, d, rout, dout);
}

/* A broadcast iteration plan: output dims (collapsed, rank >= 1) and each operand's element
 * stride per output dim (0 where it is broadcast). */
typedef struct kiln_bcast {
    int32_t nin;
    int32_t rank;
    int32_t dims[KILN_MAX_RANK];
    int64_t stride[KILN_BCAST_MAX_IN][KILN_MAX_RANK];
    int64_t n;    /* output elements */
    int64_t rows; /* n / dims[rank-1] (0 when n == 0) */
    int64_t len;  /* dims[rank-1]: the inner loop length */
} kiln_bcast;

/* Builds the plan for operands already checked with kiln_bcast_shape; out is the output shape. */
static inline void kiln_bcast_init(kiln_bcast *b, int32_t nin, const int32_t *r,
                                   const int32_t *const *d, int32_t rout, const int32_t *dout) {
    int32_t dims[KILN_MAX_RANK];
    int64_t st[KILN_BCAST_MAX_IN][KILN_MAX_RANK];
    memset(b, 0, sizeof *b);
    b->nin = nin;
    for (int32_t i = 0; i < rout; i++)
        dims[i] = dout[i];
    for (int32_t k = 0; k < nin; k++) {
        int64_t s = 1;
        for (int32_t i = rout - 1; i >= 0; i--) {
            const int32_t j = i - (rout - r[k]);
            const int32_t v = j >= 0 ? d[k][j] : 1;
            st[k][i] = (v == 1) ? 0 : s;
            s *= v;
        }
    }
    /* Drop size-1 output dims, then merge neighbours that every operand walks contiguously
     * (or broadcasts over both). */
    int32_t n = 0;
    for (int32_t i = 0; i < rout; i++) {
        if (dims[i] == 1) continue;
        if (n > 0) {
            /* merged extents stay in int32 (dims are int32; tensors may be larger than 2^31) */
            int merge = (int64_t)b->dims[n - 1] * dims[i] <= INT32_MAX;
            for (int32_t k = 0; k < nin; k++)
                if (b->stride[k][n - 1] != st[k][i] * dims[i]) merge = 0;
            if (merge) {
                b->dims[n - 1] *= dims[i];
                for (int32_t k = 0; k < nin; k++)
                    b->stride[k][n - 1] = st[k][i];
                continue;
            }
        }
        b->dims[n] = dims[i];
        for (int32_t k = 0; k < nin; k++)
            b->stride[k][n] = st[k][i];
        n++;
    }
    if (n == 0) {
        b->dims[0] = 1;
        for (int32_t k = 0; k < nin; k++)
            b->stride[k][0] = 0;
        n = 1;
    }
    b->rank = n;
    b->n = 1;
    for (int32_t i = 0; i < n; i++)
        b->n *= b->dims[i];
    b->len = b->dims[n - 1];
    b->rows = b->len ? b->n / b->len : 0;
}

/* Two-operand form of kiln_bcast_init. */
static inline void kiln_bcast_init2(kiln_bcast *b, int32_t ra, const int32_t *da, int32_t rb,
                                    const int32_t *db, int32_t rout, const int32_t *dout) {
    const int32_t r[2] = {ra, rb};
    const int32_t *const d[2] = {da, db};
    kiln_bcast_init(b, 2, r, d, rout, dout);
}

/* Row cursor: off[k] is operand k's element offset of the current row's first element. Walk
 * rows 0..rows-1 in order with kiln_bcast_next; within a row element i of operand k is at
 * off[k] + i * stride[k][rank-1]; output rows are contiguous (row * len). */
typedef struct kiln_bcast_it {
    int32_t idx[KILN_MAX_RANK];
    int64_t off[KILN_BCAST_MAX_IN];
} kiln_bcast_it;

static inline void kiln_bcast_begin(kiln_bcast_it *it) {
    memset(it, 0, sizeof *it);
}

static inline void kiln_bcast_next(const kiln_bcast *b, kiln_bcast_it *it) {
    for (int32_t d = b->rank - 2; d >= 0; d--) {
        for (int32_t k = 0; k < b->nin; k++)
            it->off[k] += b->stride[k][d];
        if (++it->idx[d] < b->dims[d]) return;
        for (int32_t k = 0; k < b->nin; k++)
            it->off[k] -= b->stride[k][d] * b->dims[d];
        it->idx[d] = 0;
    }
}

#ifdef __cplusplus
}
#endif
#endif
