/* internal.h: the trainer's private state and the per-op forward/backward interface shared by
 * the src/train files (kann-style: each op is one function doing forward or backward by a flag). */
#ifndef KILN_TRAIN_INTERNAL_H
#define KILN_TRAIN_INTERNAL_H

#include "graph/graph.h"
#include "kiln/train.h"

#define KILN__MAX_IN 64

/* What one layer's forward/backward sees. Buffers are [n, per-sample size] row-major. */
typedef struct kiln__opctx {
    const kiln_graph *g;
    const kiln__glayer *L;
    const kiln_parallel *par;
    int32_t n;        /* batch */
    int32_t training; /* 1: dropout active, batch norm uses batch statistics */
    uint64_t seed;    /* dropout stream for this step and layer */
    const float *x[KILN__MAX_IN];
    float *dx[KILN__MAX_IN];      /* NULL: no gradient wanted for this input */
    int32_t dx_acc[KILN__MAX_IN]; /* 1: add into dx (another consumer wrote it first) */
    float *y, *dy;
    float *z;   /* pre-activation (only for activations whose derivative needs it) */
    float *w;   /* this layer's parameters (flat, in declaration order) */
    float *dw;  /* their gradients (same layout) */
    float *aux; /* layer scratch: im2col columns, pool argmax, masks, saved statistics */
    char *err;  /* runtime error message buffer (KILN_ERRLEN) */
} kiln__opctx;

typedef kiln_status (*kiln__op_fn)(kiln__opctx *c, int backward);

/* The op of a layer kind; aux floats it needs for a batch of n; whether it keeps z. */
kiln__op_fn kiln__op(kiln_layer_kind k);
int64_t kiln__op_aux(const kiln_graph *g, const kiln__glayer *L, int32_t n);
int kiln__act_needs_z(kiln_actfn a);

/* Fused activation over rows x cols (softmax along cols). */
void kiln__act_forward(kiln_actfn a, float alpha, const float *z, float *y, int64_t rows,
                       int64_t cols);
/* dy (in place) becomes dL/dz from y (and z when kiln__act_needs_z). */
void kiln__act_backward(kiln_actfn a, float alpha, const float *y, const float *z, float *dy,
                        int64_t rows, int64_t cols);

/* Runs fn over [0, n) in contiguous chunks, one per thread (results independent of chunking
 * as long as fn's iterations are independent). */
typedef void (*kiln__range_fn)(void *arg, int64_t begin, int64_t end);
void kiln__par_range(const kiln_parallel *par, int64_t n, kiln__range_fn fn, void *arg);

/* Loss over the output y [n, k]: value (mean over the batch), and dL/dy into dy when not
 * NULL. labels for sparse CE, targets otherwise. */
double kiln__loss(kiln_loss l, int32_t from_logits, kiln_actfn out_act, const float *y,
                  const int32_t *labels, const float *targets, int32_t n, int64_t k, float *dy);

/* Counter-based uniform in [0,1) for (stream, index): order-free, so threads agree. */
static inline float kiln__hash_uniform(uint64_t stream, uint64_t i) {
    uint64_t z = stream + (i + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

#endif
