/* ops.c: forward and backward of every layer, side by side (kann-style). Semantics of Keras
 * layers (TensorFlow 'same' padding, NHWC); weights in TFLite layouts (conv OHWI, depthwise
 * 1HWC, dense [out, in]). Dense and conv run on the shared GEMM core (im2col). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "kernels/gemm/gemm.h"
#include "train/internal.h"

/* ---- helpers ------------------------------------------------------------------------------ */

typedef struct range_job {
    kiln__range_fn fn;
    void *arg;
    int64_t n;
    int32_t tasks;
} range_job;

static void range_task(void *p, int32_t t) {
    range_job *j = p;
    int64_t b = j->n * t / j->tasks, e = j->n * (t + 1) / j->tasks;
    if (b < e) j->fn(j->arg, b, e);
}

void kiln__par_range(const kiln_parallel *par, int64_t n, kiln__range_fn fn, void *arg) {
    if (n <= 0) return;
    if (!par || !par->run || par->threads <= 1 || n == 1) {
        fn(arg, 0, n);
        return;
    }
    range_job j = {fn, arg, n, par->threads < n ? par->threads : (int32_t)n};
    par->run(par->ud, j.tasks, range_task, &j);
}

static int64_t sample_size(const kiln_graph *g, int32_t t) {
    return g->tensors[t].size;
}

/* dst = src or dst += src */
static void put(float *dst, const float *src, int64_t n, int acc) {
    if (acc)
        for (int64_t i = 0; i < n; i++)
            dst[i] += src[i];
    else
        memcpy(dst, src, sizeof(float) * (size_t)n);
}

/* ---- activations -------------------------------------------------------------------------- */

int kiln__act_needs_z(kiln_actfn a) {
    return a == KILN_AF_GELU || a == KILN_AF_HARD_SWISH || a == KILN_AF_LEAKY_RELU;
}

void kiln__act_forward(kiln_actfn a, float alpha, const float *z, float *y, int64_t rows,
                       int64_t cols) {
    int64_t n = rows * cols;
    switch (a) {
    case KILN_AF_NONE:
        if (y != z) memcpy(y, z, sizeof(float) * (size_t)n);
        break;
    case KILN_AF_RELU:
        /* written so that NaN passes through (as TF's relu), for the NaN check */
        for (int64_t i = 0; i < n; i++)
            y[i] = z[i] < 0.0f ? 0.0f : z[i];
        break;
    case KILN_AF_RELU6:
        for (int64_t i = 0; i < n; i++)
            y[i] = z[i] < 0.0f ? 0.0f : (z[i] > 6.0f ? 6.0f : z[i]);
        break;
    case KILN_AF_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = z[i] > 0.0f ? z[i] : alpha * z[i];
        break;
    case KILN_AF_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            y[i] = 1.0f / (1.0f + expf(-z[i]));
        break;
    case KILN_AF_TANH:
        for (int64_t i = 0; i < n; i++)
            y[i] = tanhf(z[i]);
        break;
    case KILN_AF_HARD_SWISH:
        for (int64_t i = 0; i < n; i++) {
            float r = z[i] + 3.0f;
            r = r < 0.0f ? 0.0f : (r > 6.0f ? 6.0f : r);
            y[i] = z[i] * r * (1.0f / 6.0f);
        }
        break;
    case KILN_AF_GELU:
        for (int64_t i = 0; i < n; i++)
            y[i] = 0.5f * z[i] * (1.0f + erff(z[i] * 0.70710678118654752f));
        break;
    case KILN_AF_SOFTMAX:
        for (int64_t r = 0; r < rows; r++) {
            const float *zr = z + r * cols;
            float *yr = y + r * cols;
            float m = zr[0];
            for (int64_t j = 1; j < cols; j++)
                m = zr[j] > m ? zr[j] : m;
            float s = 0.0f;
            for (int64_t j = 0; j < cols; j++) {
                yr[j] = expf(zr[j] - m);
                s += yr[j];
            }
            float inv = 1.0f / s;
            for (int64_t j = 0; j < cols; j++)
                yr[j] *= inv;
        }
        break;
    default:
        break;
    }
}

void kiln__act_backward(kiln_actfn a, float alpha, const float *y, const float *z, float *dy,
                        int64_t rows, int64_t cols) {
    int64_t n = rows * cols;
    switch (a) {
    case KILN_AF_NONE:
        break;
    case KILN_AF_RELU:
        for (int64_t i = 0; i < n; i++)
            dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        break;
    case KILN_AF_RELU6:
        for (int64_t i = 0; i < n; i++)
            dy[i] = (y[i] > 0.0f && y[i] < 6.0f) ? dy[i] : 0.0f;
        break;
    case KILN_AF_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++)
            dy[i] = z[i] > 0.0f ? dy[i] : alpha * dy[i];
        break;
    case KILN_AF_SIGMOID:
        for (int64_t i = 0; i < n; i++)
            dy[i] *= y[i] * (1.0f - y[i]);
        break;
    case KILN_AF_TANH:
        for (int64_t i = 0; i < n; i++)
            dy[i] *= 1.0f - y[i] * y[i];
        break;
    case KILN_AF_HARD_SWISH:
        for (int64_t i = 0; i < n; i++) {
            float d = z[i] < -3.0f ? 0.0f : (z[i] > 3.0f ? 1.0f : (2.0f * z[i] + 3.0f) / 6.0f);
            dy[i] *= d;
        }
        break;
    case KILN_AF_GELU:
        for (int64_t i = 0; i < n; i++) {
            float cdf = 0.5f * (1.0f + erff(z[i] * 0.70710678118654752f));
            float pdf = 0.39894228040143268f * expf(-0.5f * z[i] * z[i]);
            dy[i] *= cdf + z[i] * pdf;
        }
        break;
    case KILN_AF_SOFTMAX:
        for (int64_t r = 0; r < rows; r++) {
            const float *yr = y + r * cols;
            float *dr = dy + r * cols;
            float s = 0.0f;
            for (int64_t j = 0; j < cols; j++)
                s += dr[j] * yr[j];
            for (int64_t j = 0; j < cols; j++)
                dr[j] = yr[j] * (dr[j] - s);
        }
        break;
    default:
        break;
    }
}

typedef struct act_job {
    kiln_actfn a;
    float alpha;
    const float *z, *y;
    float *out;
    int64_t cols;
    int backward;
    float *zb; /* forward with bias: z rows get the bias first (in place) */
    const float *bias;
} act_job;

static void act_range(void *p, int64_t b, int64_t e) {
    act_job *j = p;
    int64_t o = b * j->cols;
    if (j->bias) { /* row by row, so the row is still in L1 for the activation */
        for (int64_t r = b; r < e; r++) {
            float *zr = j->zb + r * j->cols;
            for (int64_t q = 0; q < j->cols; q++)
                zr[q] += j->bias[q];
            kiln__act_forward(j->a, j->alpha, zr, j->out + r * j->cols, 1, j->cols);
        }
        return;
    }
    if (j->backward)
        kiln__act_backward(j->a, j->alpha, j->y + o, j->z ? j->z + o : NULL, j->out + o, e - b,
                           j->cols);
    else
        kiln__act_forward(j->a, j->alpha, j->z + o, j->out + o, e - b, j->cols);
}

/* y = act(z + bias) in parallel over rows (z may equal y; bias may be NULL) */
static void act_fwd_bias(kiln__opctx *c, float *z, const float *bias, int64_t rows, int64_t cols) {
    const kiln_layer_attrs *a = &c->L->a;
    if (!bias && a->activation == KILN_AF_NONE && z == c->y) return;
    act_job j = {a->activation, a->alpha, z, c->y, c->y, cols, 0, z, bias};
    kiln__par_range(c->par, rows, act_range, &j);
}

static void act_bwd(kiln__opctx *c, int64_t rows, int64_t cols) {
    const kiln_layer_attrs *a = &c->L->a;
    if (a->activation == KILN_AF_NONE) return;
    act_job j = {a->activation, a->alpha, c->z, c->y, c->dy, cols, 1, NULL, NULL};
    kiln__par_range(c->par, rows, act_range, &j);
}

/* Where the pre-activation goes: the z buffer when the derivative needs it, else y itself. */
static float *zbuf(kiln__opctx *c) {
    return c->z ? c->z : c->y;
}

static void add_bias(float *y, const float *b, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * cols;
        for (int64_t j = 0; j < cols; j++)
            yr[j] += b[j];
    }
}

typedef struct bgrad_job {
    float *db;
    const float *dz;
    int64_t rows, cols;
} bgrad_job;

static void bgrad_range(void *p, int64_t b, int64_t e) {
    const bgrad_job *j = p;
    for (int64_t q = b; q < e; q++)
        j->db[q] = 0.0f;
    for (int64_t r = 0; r < j->rows; r++) {
        const float *dr = j->dz + r * j->cols;
        for (int64_t q = b; q < e; q++)
            j->db[q] += dr[q];
    }
}

/* db[j] = sum over rows of dz[r, j]; threads split the columns, each column sums in row order
 * (the result does not depend on the thread count) */
static void bias_grad(const kiln_parallel *par, float *db, const float *dz, int64_t rows,
                      int64_t cols) {
    bgrad_job j = {db, dz, rows, cols};
    if (rows * cols < 65536 || cols < 16)
        bgrad_range(&j, 0, cols);
    else
        kiln__par_range(par, cols, bgrad_range, &j);
}

/* ---- dense: y = x W^T + b over the last axis ---------------------------------------------- */

static kiln_status op_dense(kiln__opctx *c, int backward) {
    const kiln_layer_attrs *a = &c->L->a;
    int64_t in = c->g->tensors[c->L->in[0]].dims[c->g->tensors[c->L->in[0]].rank - 1];
    int64_t out = a->units;
    int64_t rows = (int64_t)c->n * sample_size(c->g, c->L->in[0]) / in;
    const float *W = c->w, *b = a->use_bias ? c->w + out * in : NULL;
    if (!backward) {
        float *z = zbuf(c);
        kiln_sgemm(c->par, 0, 1, rows, out, in, 1.0f, c->x[0], in, W, in, 0.0f, z, out);
        act_fwd_bias(c, z, b, rows, out);
        return KILN_OK;
    }
    act_bwd(c, rows, out);
    const float *dz = c->dy;
    kiln_sgemm(c->par, 1, 0, out, in, rows, 1.0f, dz, out, c->x[0], in, 0.0f, c->dw, in);
    if (b) bias_grad(c->par, c->dw + out * in, dz, rows, out);
    if (c->dx[0])
        kiln_sgemm(c->par, 0, 0, rows, in, out, 1.0f, dz, out, W, in, c->dx_acc[0] ? 1.0f : 0.0f,
                   c->dx[0], in);
    return KILN_OK;
}

/* ---- convolution geometry (TensorFlow padding) -------------------------------------------- */

typedef struct conv_geo {
    int32_t h, w, c;    /* input */
    int32_t oh, ow, oc; /* output */
    int32_t kh, kw, sh, sw, dh, dw, pt, pl;
} conv_geo;

static void geo_init(conv_geo *q, const kiln__opctx *c, int32_t kh, int32_t kw, int32_t sh,
                     int32_t sw, int32_t dh, int32_t dw) {
    const kiln__gtensor *ti = &c->g->tensors[c->L->in[0]], *to = &c->g->tensors[c->L->out];
    q->h = ti->dims[0];
    q->w = ti->dims[1];
    q->c = ti->dims[2];
    q->oh = to->dims[0];
    q->ow = to->dims[1];
    q->oc = to->dims[2];
    q->kh = kh;
    q->kw = kw;
    q->sh = sh;
    q->sw = sw;
    q->dh = dh;
    q->dw = dw;
    q->pt = q->pl = 0;
    if (c->L->a.padding == KILN_PAD_SAME) {
        int32_t ph = (q->oh - 1) * sh + (kh - 1) * dh + 1 - q->h;
        int32_t pw = (q->ow - 1) * sw + (kw - 1) * dw + 1 - q->w;
        q->pt = ph > 0 ? ph / 2 : 0; /* TF puts the odd pixel at the bottom/right */
        q->pl = pw > 0 ? pw / 2 : 0;
    }
}

static int geo_is_pointwise(const conv_geo *q) {
    return q->kh == 1 && q->kw == 1 && q->sh == 1 && q->sw == 1 && q->pt == 0 && q->pl == 0;
}

typedef struct im2col_job {
    const conv_geo *q;
    const float *x;
    float *cols;
    float *dx;
    int acc;
} im2col_job;

static inline void copy_c(float *d, const float *x, int32_t c) {
    if (c >= 16)
        memcpy(d, x, sizeof(float) * (size_t)c);
    else
        for (int32_t i = 0; i < c; i++)
            d[i] = x[i];
}

static inline void zero_c(float *d, int32_t c) {
    for (int32_t i = 0; i < c; i++)
        d[i] = 0.0f;
}

/* cols[(n, oh, ow), (kh, kw, c)]: the OHWI weight's inner order */
static void im2col_range(void *p, int64_t b, int64_t e) {
    const im2col_job *j = p;
    const conv_geo *q = j->q;
    int64_t K = (int64_t)q->kh * q->kw * q->c;
    const int32_t C = q->c;
    for (int64_t n = b; n < e; n++) {
        const float *xs = j->x + n * q->h * q->w * C;
        float *col = j->cols + n * q->oh * q->ow * K;
        for (int32_t oy = 0; oy < q->oh; oy++)
            for (int32_t ox = 0; ox < q->ow; ox++) {
                for (int32_t ky = 0; ky < q->kh; ky++) {
                    int32_t iy = oy * q->sh - q->pt + ky * q->dh;
                    if (iy < 0 || iy >= q->h) {
                        zero_c(col, q->kw * C);
                        col += q->kw * C;
                        continue;
                    }
                    const float *row = xs + (int64_t)iy * q->w * C;
                    int32_t ix0 = ox * q->sw - q->pl;
                    if (q->dw == 1 && ix0 >= 0 && ix0 + q->kw <= q->w) {
                        copy_c(col, row + (int64_t)ix0 * C, q->kw * C); /* contiguous taps */
                        col += q->kw * C;
                        continue;
                    }
                    for (int32_t kx = 0; kx < q->kw; kx++, col += C) {
                        int32_t ix = ix0 + kx * q->dw;
                        if (ix < 0 || ix >= q->w)
                            zero_c(col, C);
                        else
                            copy_c(col, row + (int64_t)ix * C, C);
                    }
                }
            }
    }
}

static void col2im_range(void *p, int64_t b, int64_t e) {
    const im2col_job *j = p;
    const conv_geo *q = j->q;
    int64_t K = (int64_t)q->kh * q->kw * q->c, per = (int64_t)q->h * q->w * q->c;
    for (int64_t n = b; n < e; n++) {
        float *xs = j->dx + n * per;
        if (!j->acc) memset(xs, 0, sizeof(float) * (size_t)per);
        const float *col = j->cols + n * q->oh * q->ow * K;
        for (int32_t oy = 0; oy < q->oh; oy++)
            for (int32_t ox = 0; ox < q->ow; ox++)
                for (int32_t ky = 0; ky < q->kh; ky++) {
                    int32_t iy = oy * q->sh - q->pt + ky * q->dh;
                    for (int32_t kx = 0; kx < q->kw; kx++, col += q->c) {
                        int32_t ix = ox * q->sw - q->pl + kx * q->dw;
                        if (iy < 0 || iy >= q->h || ix < 0 || ix >= q->w) continue;
                        float *d = xs + ((int64_t)iy * q->w + ix) * q->c;
                        for (int32_t ch = 0; ch < q->c; ch++)
                            d[ch] += col[ch];
                    }
                }
    }
}

/* GEMM-based conv core shared by conv2d and separable's pointwise half: x -> y (pre-act). */
static void conv_gemm_fwd(kiln__opctx *c, const conv_geo *q, const float *x, const float *W,
                          const float *bias, float *cols, float *z) {
    int64_t rows = (int64_t)c->n * q->oh * q->ow, K = (int64_t)q->kh * q->kw * q->c;
    const float *A = x;
    if (!geo_is_pointwise(q)) {
        im2col_job j = {q, x, cols, NULL, 0};
        kiln__par_range(c->par, c->n, im2col_range, &j);
        A = cols;
    }
    kiln_sgemm(c->par, 0, 1, rows, q->oc, K, 1.0f, A, K, W, K, 0.0f, z, q->oc);
    (void)bias; /* added together with the activation by the caller */
}

/* dz -> dW, db, dx (cols is reused for the column gradient) */
static void conv_gemm_bwd(kiln__opctx *c, const conv_geo *q, const float *x, const float *W,
                          const float *dz, float *cols, float *dW, float *db, float *dx, int acc) {
    int64_t rows = (int64_t)c->n * q->oh * q->ow, K = (int64_t)q->kh * q->kw * q->c;
    int pw = geo_is_pointwise(q);
    const float *A = pw ? x : cols;
    kiln_sgemm(c->par, 1, 0, q->oc, K, rows, 1.0f, dz, q->oc, A, K, 0.0f, dW, K);
    if (db) bias_grad(c->par, db, dz, rows, q->oc);
    if (!dx) return;
    if (pw) {
        kiln_sgemm(c->par, 0, 0, rows, K, q->oc, 1.0f, dz, q->oc, W, K, acc ? 1.0f : 0.0f, dx, K);
        return;
    }
    kiln_sgemm(c->par, 0, 0, rows, K, q->oc, 1.0f, dz, q->oc, W, K, 0.0f, cols, K);
    im2col_job j = {q, NULL, cols, dx, acc};
    kiln__par_range(c->par, c->n, col2im_range, &j);
}

static kiln_status op_conv2d(kiln__opctx *c, int backward) {
    const kiln_layer_attrs *a = &c->L->a;
    conv_geo q;
    geo_init(&q, c, a->kernel[0], a->kernel[1], a->strides[0], a->strides[1], a->dilation[0],
             a->dilation[1]);
    int64_t K = (int64_t)q.kh * q.kw * q.c, rows = (int64_t)c->n * q.oh * q.ow;
    const float *b = a->use_bias ? c->w + q.oc * K : NULL;
    if (!backward) {
        float *z = zbuf(c);
        conv_gemm_fwd(c, &q, c->x[0], c->w, b, c->aux, z);
        act_fwd_bias(c, z, b, rows, q.oc);
        return KILN_OK;
    }
    act_bwd(c, rows, q.oc);
    conv_gemm_bwd(c, &q, c->x[0], c->w, c->dy, c->aux, c->dw, b ? c->dw + q.oc * K : NULL, c->dx[0],
                  c->dx_acc[0]);
    return KILN_OK;
}

/* ---- depthwise: out channel ch*M+m reads input channel ch; weights [1, KH, KW, C*M] ------- */

typedef struct dw_job {
    const conv_geo *q;
    int32_t m;
    const float *x, *w, *dy;
    float *y, *dx, *dw;
    int acc;
    int64_t n; /* samples (for dW) */
} dw_job;

static void dw_fwd_range(void *p, int64_t b, int64_t e) {
    const dw_job *j = p;
    const conv_geo *q = j->q;
    int32_t M = j->m, OC = q->c * M;
    for (int64_t n = b; n < e; n++) {
        const float *xs = j->x + n * q->h * q->w * q->c;
        float *ys = j->y + n * q->oh * q->ow * OC;
        for (int32_t oy = 0; oy < q->oh; oy++)
            for (int32_t ox = 0; ox < q->ow; ox++) {
                float *yo = ys + ((int64_t)oy * q->ow + ox) * OC;
                memset(yo, 0, sizeof(float) * (size_t)OC);
                for (int32_t ky = 0; ky < q->kh; ky++) {
                    int32_t iy = oy * q->sh - q->pt + ky * q->dh;
                    if (iy < 0 || iy >= q->h) continue;
                    for (int32_t kx = 0; kx < q->kw; kx++) {
                        int32_t ix = ox * q->sw - q->pl + kx * q->dw;
                        if (ix < 0 || ix >= q->w) continue;
                        const float *xi = xs + ((int64_t)iy * q->w + ix) * q->c;
                        const float *wk = j->w + ((int64_t)ky * q->kw + kx) * OC;
                        for (int32_t ch = 0; ch < q->c; ch++)
                            for (int32_t mm = 0; mm < M; mm++)
                                yo[ch * M + mm] += xi[ch] * wk[ch * M + mm];
                    }
                }
            }
    }
}

static void dw_bwd_dx_range(void *p, int64_t b, int64_t e) {
    const dw_job *j = p;
    const conv_geo *q = j->q;
    int32_t M = j->m, OC = q->c * M;
    int64_t per = (int64_t)q->h * q->w * q->c;
    for (int64_t n = b; n < e; n++) {
        float *dxs = j->dx + n * per;
        if (!j->acc) memset(dxs, 0, sizeof(float) * (size_t)per);
        const float *dys = j->dy + n * q->oh * q->ow * OC;
        for (int32_t oy = 0; oy < q->oh; oy++)
            for (int32_t ox = 0; ox < q->ow; ox++) {
                const float *dyo = dys + ((int64_t)oy * q->ow + ox) * OC;
                for (int32_t ky = 0; ky < q->kh; ky++) {
                    int32_t iy = oy * q->sh - q->pt + ky * q->dh;
                    if (iy < 0 || iy >= q->h) continue;
                    for (int32_t kx = 0; kx < q->kw; kx++) {
                        int32_t ix = ox * q->sw - q->pl + kx * q->dw;
                        if (ix < 0 || ix >= q->w) continue;
                        float *di = dxs + ((int64_t)iy * q->w + ix) * q->c;
                        const float *wk = j->w + ((int64_t)ky * q->kw + kx) * OC;
                        for (int32_t ch = 0; ch < q->c; ch++)
                            for (int32_t mm = 0; mm < M; mm++)
                                di[ch] += dyo[ch * M + mm] * wk[ch * M + mm];
                    }
                }
            }
    }
}

/* dW over a range of kernel taps: each tap's sum runs over samples in order (deterministic) */
static void dw_bwd_dw_range(void *p, int64_t b, int64_t e) {
    const dw_job *j = p;
    const conv_geo *q = j->q;
    int32_t M = j->m, OC = q->c * M;
    for (int64_t tap = b; tap < e; tap++) {
        int32_t ky = (int32_t)(tap / q->kw), kx = (int32_t)(tap % q->kw);
        float *dwk = j->dw + tap * OC;
        memset(dwk, 0, sizeof(float) * (size_t)OC);
        for (int64_t n = 0; n < j->n; n++) {
            const float *xs = j->x + n * q->h * q->w * q->c;
            const float *dys = j->dy + n * q->oh * q->ow * OC;
            for (int32_t oy = 0; oy < q->oh; oy++) {
                int32_t iy = oy * q->sh - q->pt + ky * q->dh;
                if (iy < 0 || iy >= q->h) continue;
                for (int32_t ox = 0; ox < q->ow; ox++) {
                    int32_t ix = ox * q->sw - q->pl + kx * q->dw;
                    if (ix < 0 || ix >= q->w) continue;
                    const float *xi = xs + ((int64_t)iy * q->w + ix) * q->c;
                    const float *dyo = dys + ((int64_t)oy * q->ow + ox) * OC;
                    for (int32_t ch = 0; ch < q->c; ch++)
                        for (int32_t mm = 0; mm < M; mm++)
                            dwk[ch * M + mm] += xi[ch] * dyo[ch * M + mm];
                }
            }
        }
    }
}

static void depthwise_fwd(kiln__opctx *c, const conv_geo *q, int32_t M, const float *x,
                          const float *w, float *y) {
    dw_job j = {q, M, x, w, NULL, y, NULL, NULL, 0, c->n};
    kiln__par_range(c->par, c->n, dw_fwd_range, &j);
}

static void depthwise_bwd(kiln__opctx *c, const conv_geo *q, int32_t M, const float *x,
                          const float *w, const float *dy, float *dw, float *dx, int acc) {
    dw_job j = {q, M, x, w, dy, NULL, NULL, dw, 0, c->n};
    kiln__par_range(c->par, (int64_t)q->kh * q->kw, dw_bwd_dw_range, &j);
    if (dx) {
        dw_job k = {q, M, x, w, dy, NULL, dx, NULL, acc, c->n};
        kiln__par_range(c->par, c->n, dw_bwd_dx_range, &k);
    }
}

static kiln_status op_depthwise(kiln__opctx *c, int backward) {
    const kiln_layer_attrs *a = &c->L->a;
    conv_geo q;
    geo_init(&q, c, a->kernel[0], a->kernel[1], a->strides[0], a->strides[1], a->dilation[0],
             a->dilation[1]);
    int32_t M = a->depth_multiplier, OC = q.c * M;
    int64_t rows = (int64_t)c->n * q.oh * q.ow, WK = (int64_t)q.kh * q.kw * OC;
    const float *b = a->use_bias ? c->w + WK : NULL;
    if (!backward) {
        float *z = zbuf(c);
        depthwise_fwd(c, &q, M, c->x[0], c->w, z);
        act_fwd_bias(c, z, b, rows, OC);
        return KILN_OK;
    }
    act_bwd(c, rows, OC);
    if (b) bias_grad(c->par, c->dw + WK, c->dy, rows, OC);
    depthwise_bwd(c, &q, M, c->x[0], c->w, c->dy, c->dw, c->dx[0], c->dx_acc[0]);
    return KILN_OK;
}

/* separable = depthwise (no bias) into aux `mid`, then a pointwise 1x1 conv with bias */
static kiln_status op_separable(kiln__opctx *c, int backward) {
    const kiln_layer_attrs *a = &c->L->a;
    conv_geo q;
    geo_init(&q, c, a->kernel[0], a->kernel[1], a->strides[0], a->strides[1], a->dilation[0],
             a->dilation[1]);
    int32_t M = a->depth_multiplier, CM = q.c * M, F = q.oc;
    int64_t rows = (int64_t)c->n * q.oh * q.ow, WK = (int64_t)q.kh * q.kw * CM;
    conv_geo pq = {q.oh, q.ow, CM, q.oh, q.ow, F, 1, 1, 1, 1, 1, 1, 0, 0};
    q.oc = CM;
    const float *pw = c->w + WK, *b = a->use_bias ? c->w + WK + (int64_t)F * CM : NULL;
    float *mid = c->aux, *dmid = c->aux + rows * CM;
    if (!backward) {
        float *z = zbuf(c);
        depthwise_fwd(c, &q, M, c->x[0], c->w, mid);
        conv_gemm_fwd(c, &pq, mid, pw, b, NULL, z);
        act_fwd_bias(c, z, b, rows, F);
        return KILN_OK;
    }
    act_bwd(c, rows, F);
    conv_gemm_bwd(c, &pq, mid, pw, c->dy, NULL, c->dw + WK, b ? c->dw + WK + (int64_t)F * CM : NULL,
                  dmid, 0);
    depthwise_bwd(c, &q, M, c->x[0], c->w, dmid, c->dw, c->dx[0], c->dx_acc[0]);
    return KILN_OK;
}

/* ---- pooling ------------------------------------------------------------------------------ */

typedef struct pool_job {
    conv_geo q;
    const float *x, *dy;
    float *y, *dx;
    int32_t *arg;
    int acc;
} pool_job;

/* 2x2 stride 2 windows fully inside the input: the common case, no bounds checks */
static void maxpool2x2(const pool_job *j, int64_t n) {
    const conv_geo *q = &j->q;
    const int32_t C = q->c, W = q->w;
    const float *xs = j->x + n * q->h * W * C;
    int64_t ob = n * q->oh * q->ow * C;
    for (int32_t oy = 0; oy < q->oh; oy++)
        for (int32_t ox = 0; ox < q->ow; ox++) {
            int32_t b0 = ((2 * oy) * W + 2 * ox) * C, b1 = b0 + C, b2 = b0 + W * C, b3 = b2 + C;
            float *yo = j->y + ob + ((int64_t)oy * q->ow + ox) * C;
            int32_t *ao = j->arg + ob + ((int64_t)oy * q->ow + ox) * C;
            for (int32_t ch = 0; ch < C; ch++) {
                float v = xs[b0 + ch];
                int32_t a = b0 + ch;
                if (xs[b1 + ch] > v) v = xs[b1 + ch], a = b1 + ch;
                if (xs[b2 + ch] > v) v = xs[b2 + ch], a = b2 + ch;
                if (xs[b3 + ch] > v) v = xs[b3 + ch], a = b3 + ch;
                yo[ch] = v;
                ao[ch] = a;
            }
        }
}

static void maxpool_fwd_range(void *p, int64_t b, int64_t e) {
    const pool_job *j = p;
    const conv_geo *q = &j->q;
    if (q->kh == 2 && q->kw == 2 && q->sh == 2 && q->sw == 2 && q->pt == 0 && q->pl == 0 &&
        2 * q->oh <= q->h && 2 * q->ow <= q->w) {
        for (int64_t n = b; n < e; n++)
            maxpool2x2(j, n);
        return;
    }
    for (int64_t n = b; n < e; n++) {
        const float *xs = j->x + n * q->h * q->w * q->c;
        int64_t ob = n * q->oh * q->ow * q->c;
        for (int32_t oy = 0; oy < q->oh; oy++)
            for (int32_t ox = 0; ox < q->ow; ox++) {
                float *yo = j->y + ob + ((int64_t)oy * q->ow + ox) * q->c;
                int32_t *ao = j->arg + ob + ((int64_t)oy * q->ow + ox) * q->c;
                for (int32_t ch = 0; ch < q->c; ch++) {
                    yo[ch] = -INFINITY;
                    ao[ch] = -1;
                }
                for (int32_t ky = 0; ky < q->kh; ky++) {
                    int32_t iy = oy * q->sh - q->pt + ky;
                    if (iy < 0 || iy >= q->h) continue;
                    for (int32_t kx = 0; kx < q->kw; kx++) {
                        int32_t ix = ox * q->sw - q->pl + kx;
                        if (ix < 0 || ix >= q->w) continue;
                        int32_t base = (iy * q->w + ix) * q->c;
                        const float *xi = xs + base;
                        for (int32_t ch = 0; ch < q->c; ch++)
                            if (xi[ch] > yo[ch] || ao[ch] < 0) {
                                yo[ch] = xi[ch];
                                ao[ch] = base + ch;
                            }
                    }
                }
            }
    }
}

static void maxpool_bwd_range(void *p, int64_t b, int64_t e) {
    const pool_job *j = p;
    const conv_geo *q = &j->q;
    int64_t per = (int64_t)q->h * q->w * q->c, oper = (int64_t)q->oh * q->ow * q->c;
    for (int64_t n = b; n < e; n++) {
        float *dxs = j->dx + n * per;
        if (!j->acc) memset(dxs, 0, sizeof(float) * (size_t)per);
        const float *dys = j->dy + n * oper;
        const int32_t *as = j->arg + n * oper;
        for (int64_t i = 0; i < oper; i++)
            if (as[i] >= 0) dxs[as[i]] += dys[i];
    }
}

/* TF 'same' average pooling divides by the number of in-bounds pixels */
static void avgpool_range(void *p, int64_t b, int64_t e) {
    const pool_job *j = p;
    const conv_geo *q = &j->q;
    int64_t per = (int64_t)q->h * q->w * q->c;
    for (int64_t n = b; n < e; n++) {
        if (j->dx && !j->acc) memset(j->dx + n * per, 0, sizeof(float) * (size_t)per);
        for (int32_t oy = 0; oy < q->oh; oy++)
            for (int32_t ox = 0; ox < q->ow; ox++) {
                int32_t y0 = oy * q->sh - q->pt, x0 = ox * q->sw - q->pl;
                int32_t ya = y0 < 0 ? 0 : y0, xa = x0 < 0 ? 0 : x0;
                int32_t yb = y0 + q->kh > q->h ? q->h : y0 + q->kh;
                int32_t xb = x0 + q->kw > q->w ? q->w : x0 + q->kw;
                float inv = 1.0f / (float)((yb - ya) * (xb - xa));
                int64_t o = ((n * q->oh + oy) * q->ow + ox) * q->c;
                if (j->y) {
                    float *yo = j->y + o;
                    memset(yo, 0, sizeof(float) * (size_t)q->c);
                    for (int32_t iy = ya; iy < yb; iy++)
                        for (int32_t ix = xa; ix < xb; ix++) {
                            const float *xi = j->x + n * per + ((int64_t)iy * q->w + ix) * q->c;
                            for (int32_t ch = 0; ch < q->c; ch++)
                                yo[ch] += xi[ch];
                        }
                    for (int32_t ch = 0; ch < q->c; ch++)
                        yo[ch] *= inv;
                } else {
                    const float *dyo = j->dy + o;
                    for (int32_t iy = ya; iy < yb; iy++)
                        for (int32_t ix = xa; ix < xb; ix++) {
                            float *di = j->dx + n * per + ((int64_t)iy * q->w + ix) * q->c;
                            for (int32_t ch = 0; ch < q->c; ch++)
                                di[ch] += dyo[ch] * inv;
                        }
                }
            }
    }
}

static kiln_status op_pool(kiln__opctx *c, int backward) {
    const kiln_layer_attrs *a = &c->L->a;
    pool_job j;
    memset(&j, 0, sizeof j);
    geo_init(&j.q, c, a->pool[0], a->pool[1], a->strides[0], a->strides[1], 1, 1);
    j.x = c->x[0];
    j.arg = (int32_t *)c->aux;
    if (c->L->kind == KILN_L_MAX_POOL2D) {
        if (!backward) {
            j.y = c->y;
            kiln__par_range(c->par, c->n, maxpool_fwd_range, &j);
        } else if (c->dx[0]) {
            j.dy = c->dy;
            j.dx = c->dx[0];
            j.acc = c->dx_acc[0];
            kiln__par_range(c->par, c->n, maxpool_bwd_range, &j);
        }
        return KILN_OK;
    }
    if (!backward) {
        j.y = c->y;
    } else {
        if (!c->dx[0]) return KILN_OK;
        j.dy = c->dy;
        j.dx = c->dx[0];
        j.acc = c->dx_acc[0];
    }
    kiln__par_range(c->par, c->n, avgpool_range, &j);
    return KILN_OK;
}

static kiln_status op_gap(kiln__opctx *c, int backward) {
    const kiln__gtensor *t = &c->g->tensors[c->L->in[0]];
    int64_t hw = (int64_t)t->dims[0] * t->dims[1], C = t->dims[2];
    float inv = 1.0f / (float)hw;
    for (int64_t n = 0; n < c->n; n++) {
        if (!backward) {
            float *yo = c->y + n * C;
            memset(yo, 0, sizeof(float) * (size_t)C);
            for (int64_t i = 0; i < hw; i++)
                for (int64_t ch = 0; ch < C; ch++)
                    yo[ch] += c->x[0][(n * hw + i) * C + ch];
            for (int64_t ch = 0; ch < C; ch++)
                yo[ch] *= inv;
        } else if (c->dx[0]) {
            for (int64_t i = 0; i < hw; i++)
                for (int64_t ch = 0; ch < C; ch++) {
                    float g = c->dy[n * C + ch] * inv;
                    float *d = &c->dx[0][(n * hw + i) * C + ch];
                    *d = c->dx_acc[0] ? *d + g : g;
                }
        }
    }
    return KILN_OK;
}

/* ---- batch normalization over the last axis ----------------------------------------------- */
/* Training: batch mean and biased variance normalise; the moving variance is updated with the
 * unbiased estimate (as TF's fused kernel and PyTorch do). aux: mean[C], invstd[C]. */
static kiln_status op_batchnorm(kiln__opctx *c, int backward) {
    const kiln_layer_attrs *a = &c->L->a;
    const kiln__gtensor *t = &c->g->tensors[c->L->in[0]];
    int64_t C = t->dims[t->rank - 1], rows = (int64_t)c->n * t->size / C;
    float *gamma = c->w, *beta = c->w + C, *mm = c->w + 2 * C, *mv = c->w + 3 * C;
    float *mean = c->aux, *istd = c->aux + C;
    const float *x = c->x[0];
    if (!backward) {
        if (c->training) {
            for (int64_t ch = 0; ch < C; ch++)
                mean[ch] = 0.0f;
            double *acc = (double *)(c->aux + 2 * C); /* 2*C doubles of scratch */
            for (int64_t ch = 0; ch < C; ch++)
                acc[ch] = acc[C + ch] = 0.0;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t ch = 0; ch < C; ch++)
                    acc[ch] += x[r * C + ch];
            for (int64_t ch = 0; ch < C; ch++)
                acc[ch] /= (double)rows;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t ch = 0; ch < C; ch++) {
                    double d = x[r * C + ch] - acc[ch];
                    acc[C + ch] += d * d;
                }
            for (int64_t ch = 0; ch < C; ch++) {
                double var = acc[C + ch] / (double)rows;
                mean[ch] = (float)acc[ch];
                istd[ch] = (float)(1.0 / sqrt(var + a->epsilon));
                double unb = rows > 1 ? acc[C + ch] / (double)(rows - 1) : var;
                mm[ch] = mm[ch] * a->momentum + mean[ch] * (1.0f - a->momentum);
                mv[ch] = mv[ch] * a->momentum + (float)unb * (1.0f - a->momentum);
            }
        } else {
            for (int64_t ch = 0; ch < C; ch++) {
                mean[ch] = mm[ch];
                istd[ch] = 1.0f / sqrtf(mv[ch] + a->epsilon);
            }
        }
        for (int64_t r = 0; r < rows; r++)
            for (int64_t ch = 0; ch < C; ch++)
                c->y[r * C + ch] = gamma[ch] * (x[r * C + ch] - mean[ch]) * istd[ch] + beta[ch];
        return KILN_OK;
    }
    float *dg = c->dw, *db = c->dw + C;
    memset(c->dw, 0, sizeof(float) * (size_t)(4 * C));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t ch = 0; ch < C; ch++) {
            float xh = (x[r * C + ch] - mean[ch]) * istd[ch];
            dg[ch] += c->dy[r * C + ch] * xh;
            db[ch] += c->dy[r * C + ch];
        }
    if (!c->dx[0]) return KILN_OK;
    float *dx = c->dx[0];
    float inv_n = 1.0f / (float)rows;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t ch = 0; ch < C; ch++) {
            float xh = (x[r * C + ch] - mean[ch]) * istd[ch];
            float g = gamma[ch] * istd[ch] * inv_n *
                      ((float)rows * c->dy[r * C + ch] - db[ch] - xh * dg[ch]);
            if (!c->training) g = gamma[ch] * istd[ch] * c->dy[r * C + ch];
            dx[r * C + ch] = c->dx_acc[0] ? dx[r * C + ch] + g : g;
        }
    return KILN_OK;
}

/* ---- dropout (inverted; mask from a counter-based hash of (seed, step, layer, index)) ----- */
static kiln_status op_dropout(kiln__opctx *c, int backward) {
    float rate = c->L->a.rate;
    int64_t N = (int64_t)c->n * sample_size(c->g, c->L->out);
    float *mask = c->aux;
    if (!backward) {
        if (!c->training || rate <= 0.0f) {
            memcpy(c->y, c->x[0], sizeof(float) * (size_t)N);
            for (int64_t i = 0; i < N; i++)
                mask[i] = 1.0f;
            return KILN_OK;
        }
        float keep = 1.0f / (1.0f - rate);
        for (int64_t i = 0; i < N; i++) {
            mask[i] = kiln__hash_uniform(c->seed, (uint64_t)i) < rate ? 0.0f : keep;
            c->y[i] = c->x[0][i] * mask[i];
        }
        return KILN_OK;
    }
    if (!c->dx[0]) return KILN_OK;
    for (int64_t i = 0; i < N; i++) {
        float g = c->dy[i] * mask[i];
        c->dx[0][i] = c->dx_acc[0] ? c->dx[0][i] + g : g;
    }
    return KILN_OK;
}

/* ---- shape ops ---------------------------------------------------------------------------- */
static kiln_status op_copy(kiln__opctx *c, int backward) { /* flatten, reshape */
    int64_t N = (int64_t)c->n * sample_size(c->g, c->L->out);
    if (!backward)
        memcpy(c->y, c->x[0], sizeof(float) * (size_t)N);
    else if (c->dx[0])
        put(c->dx[0], c->dy, N, c->dx_acc[0]);
    return KILN_OK;
}

static kiln_status op_activation(kiln__opctx *c, int backward) {
    int64_t C = c->g->tensors[c->L->out].dims[c->g->tensors[c->L->out].rank - 1];
    int64_t rows = (int64_t)c->n * sample_size(c->g, c->L->out) / C;
    if (!backward) {
        if (c->z) memcpy(c->z, c->x[0], sizeof(float) * (size_t)(rows * C));
        act_job j = {c->L->a.activation, c->L->a.alpha, c->x[0], NULL, c->y, C, 0, NULL, NULL};
        kiln__par_range(c->par, rows, act_range, &j);
        return KILN_OK;
    }
    act_bwd(c, rows, C);
    if (c->dx[0]) put(c->dx[0], c->dy, rows * C, c->dx_acc[0]);
    return KILN_OK;
}

static kiln_status op_add(kiln__opctx *c, int backward) {
    int64_t N = (int64_t)c->n * sample_size(c->g, c->L->out);
    if (!backward) {
        memcpy(c->y, c->x[0], sizeof(float) * (size_t)N);
        for (int32_t k = 1; k < c->L->n_in; k++)
            for (int64_t i = 0; i < N; i++)
                c->y[i] += c->x[k][i];
        return KILN_OK;
    }
    for (int32_t k = 0; k < c->L->n_in; k++)
        if (c->dx[k]) put(c->dx[k], c->dy, N, c->dx_acc[k]);
    return KILN_OK;
}

static kiln_status op_concat(kiln__opctx *c, int backward) {
    const kiln__gtensor *to = &c->g->tensors[c->L->out];
    int32_t ax = c->L->a.axis - 1; /* per-sample axis */
    int64_t outer = c->n, inner = 1;
    for (int32_t d = 0; d < ax; d++)
        outer *= to->dims[d];
    for (int32_t d = ax + 1; d < to->rank; d++)
        inner *= to->dims[d];
    int64_t ostride = (int64_t)to->dims[ax] * inner, off = 0;
    for (int32_t k = 0; k < c->L->n_in; k++) {
        int64_t w = (int64_t)c->g->tensors[c->L->in[k]].dims[ax] * inner;
        for (int64_t o = 0; o < outer; o++) {
            if (!backward)
                memcpy(c->y + o * ostride + off, c->x[k] + o * w, sizeof(float) * (size_t)w);
            else if (c->dx[k])
                put(c->dx[k] + o * w, c->dy + o * ostride + off, w, c->dx_acc[k]);
        }
        off += w;
    }
    return KILN_OK;
}

static kiln_status op_zeropad(kiln__opctx *c, int backward) {
    const kiln__gtensor *ti = &c->g->tensors[c->L->in[0]], *to = &c->g->tensors[c->L->out];
    const int32_t *p = c->L->a.pads;
    int64_t H = ti->dims[0], W = ti->dims[1], C = ti->dims[2], OH = to->dims[0], OW = to->dims[1];
    for (int64_t n = 0; n < c->n; n++) {
        if (!backward) {
            float *ys = c->y + n * OH * OW * C;
            memset(ys, 0, sizeof(float) * (size_t)(OH * OW * C));
            for (int64_t y = 0; y < H; y++)
                memcpy(ys + ((y + p[0]) * OW + p[2]) * C, c->x[0] + (n * H + y) * W * C,
                       sizeof(float) * (size_t)(W * C));
        } else if (c->dx[0]) {
            for (int64_t y = 0; y < H; y++)
                put(c->dx[0] + (n * H + y) * W * C,
                    c->dy + n * OH * OW * C + ((y + p[0]) * OW + p[2]) * C, W * C, c->dx_acc[0]);
        }
    }
    return KILN_OK;
}

/* ---- embedding: ids (int32) -> rows of the table ------------------------------------------ */
static kiln_status op_embedding(kiln__opctx *c, int backward) {
    const int32_t *ids = (const int32_t *)c->x[0];
    int64_t T = sample_size(c->g, c->L->in[0]) * c->n, D = c->L->a.units, V = c->L->a.vocab;
    if (!backward) {
        for (int64_t i = 0; i < T; i++) {
            if (ids[i] < 0 || ids[i] >= V) {
                snprintf(c->err, KILN_ERRLEN, "%s (embedding): token id %d out of range [0, %lld)",
                         c->L->name, (int)ids[i], (long long)V);
                return KILN_ERR_RUNTIME;
            }
            memcpy(c->y + i * D, c->w + (int64_t)ids[i] * D, sizeof(float) * (size_t)D);
        }
        return KILN_OK;
    }
    memset(c->dw, 0, sizeof(float) * (size_t)(V * D));
    for (int64_t i = 0; i < T; i++)
        for (int64_t d = 0; d < D; d++)
            c->dw[(int64_t)ids[i] * D + d] += c->dy[i * D + d];
    return KILN_OK;
}

/* ---- LSTM (Keras: sigmoid gates, tanh cell; gate order i, f, c, o) ------------------------ */
/* aux: G[n,T,4U] (gate activations), H[n,T,U], Cs[n,T,U], dG[n,T,4U], dh[n,U], dc[n,U] */
static float sigm(float v) {
    return 1.0f / (1.0f + expf(-v));
}

static kiln_status op_lstm(kiln__opctx *c, int backward) {
    const kiln__gtensor *ti = &c->g->tensors[c->L->in[0]];
    int64_t N = c->n, T = ti->dims[0], F = ti->dims[1], U = c->L->a.units, G4 = 4 * U;
    const float *Wk = c->w, *Wr = c->w + G4 * F, *b = c->w + G4 * F + G4 * U;
    float *G = c->aux, *H = G + N * T * G4, *Cs = H + N * T * U, *dG = Cs + N * T * U;
    float *dh = dG + N * T * G4, *dc = dh + N * U;
    int seq = c->L->a.return_sequences;
    if (!backward) {
        kiln_sgemm(c->par, 0, 1, N * T, G4, F, 1.0f, c->x[0], F, Wk, F, 0.0f, G, G4);
        add_bias(G, b, N * T, G4);
        for (int64_t t = 0; t < T; t++) {
            if (t > 0)
                kiln_sgemm(c->par, 0, 1, N, G4, U, 1.0f, H + (t - 1) * U, T * U, Wr, U, 1.0f,
                           G + t * G4, T * G4);
            for (int64_t n = 0; n < N; n++) {
                float *g = G + (n * T + t) * G4;
                float *h = H + (n * T + t) * U, *cs = Cs + (n * T + t) * U;
                const float *cp = t > 0 ? Cs + (n * T + t - 1) * U : NULL;
                for (int64_t u = 0; u < U; u++) {
                    float ig = sigm(g[u]), fg = sigm(g[U + u]), cg = tanhf(g[2 * U + u]),
                          og = sigm(g[3 * U + u]);
                    g[u] = ig;
                    g[U + u] = fg;
                    g[2 * U + u] = cg;
                    g[3 * U + u] = og;
                    cs[u] = (cp ? fg * cp[u] : 0.0f) + ig * cg;
                    h[u] = og * tanhf(cs[u]);
                }
            }
        }
        for (int64_t n = 0; n < N; n++) {
            if (seq)
                memcpy(c->y + n * T * U, H + n * T * U, sizeof(float) * (size_t)(T * U));
            else
                memcpy(c->y + n * U, H + (n * T + T - 1) * U, sizeof(float) * (size_t)U);
        }
        return KILN_OK;
    }
    memset(dh, 0, sizeof(float) * (size_t)(2 * N * U));
    for (int64_t t = T - 1; t >= 0; t--) {
        for (int64_t n = 0; n < N; n++) {
            const float *g = G + (n * T + t) * G4, *cs = Cs + (n * T + t) * U;
            const float *cp = t > 0 ? Cs + (n * T + t - 1) * U : NULL;
            float *dgz = dG + (n * T + t) * G4, *dhn = dh + n * U, *dcn = dc + n * U;
            const float *dyo = seq ? c->dy + (n * T + t) * U : (t == T - 1 ? c->dy + n * U : NULL);
            for (int64_t u = 0; u < U; u++) {
                float ig = g[u], fg = g[U + u], cg = g[2 * U + u], og = g[3 * U + u];
                float dhv = dhn[u] + (dyo ? dyo[u] : 0.0f);
                float tc = tanhf(cs[u]);
                float dcv = dcn[u] + dhv * og * (1.0f - tc * tc);
                dgz[u] = dcv * cg * ig * (1.0f - ig);
                dgz[U + u] = cp ? dcv * cp[u] * fg * (1.0f - fg) : 0.0f;
                dgz[2 * U + u] = dcv * ig * (1.0f - cg * cg);
                dgz[3 * U + u] = dhv * tc * og * (1.0f - og);
                dcn[u] = dcv * fg;
            }
        }
        /* dh_{t-1} = dZ_t Wr */
        if (t > 0)
            kiln_sgemm(c->par, 0, 0, N, U, G4, 1.0f, dG + t * G4, T * G4, Wr, U, 0.0f, dh, U);
    }
    float *dWk = c->dw, *dWr = c->dw + G4 * F, *db = c->dw + G4 * F + G4 * U;
    kiln_sgemm(c->par, 1, 0, G4, F, N * T, 1.0f, dG, G4, c->x[0], F, 0.0f, dWk, F);
    memset(dWr, 0, sizeof(float) * (size_t)(G4 * U));
    for (int64_t t = 1; t < T; t++)
        kiln_sgemm(c->par, 1, 0, G4, U, N, 1.0f, dG + t * G4, T * G4, H + (t - 1) * U, T * U, 1.0f,
                   dWr, U);
    bias_grad(c->par, db, dG, N * T, G4);
    if (c->dx[0])
        kiln_sgemm(c->par, 0, 0, N * T, F, G4, 1.0f, dG, G4, Wk, F, c->dx_acc[0] ? 1.0f : 0.0f,
                   c->dx[0], F);
    return KILN_OK;
}

static kiln_status op_input(kiln__opctx *c, int backward) {
    (void)c;
    (void)backward;
    return KILN_OK;
}

kiln__op_fn kiln__op(kiln_layer_kind k) {
    switch (k) {
    case KILN_L_INPUT:
        return op_input;
    case KILN_L_DENSE:
        return op_dense;
    case KILN_L_CONV2D:
        return op_conv2d;
    case KILN_L_DEPTHWISE_CONV2D:
        return op_depthwise;
    case KILN_L_SEPARABLE_CONV2D:
        return op_separable;
    case KILN_L_MAX_POOL2D:
    case KILN_L_AVG_POOL2D:
        return op_pool;
    case KILN_L_GLOBAL_AVG_POOL2D:
        return op_gap;
    case KILN_L_BATCH_NORM:
        return op_batchnorm;
    case KILN_L_DROPOUT:
        return op_dropout;
    case KILN_L_FLATTEN:
    case KILN_L_RESHAPE:
        return op_copy;
    case KILN_L_ADD:
        return op_add;
    case KILN_L_CONCAT:
        return op_concat;
    case KILN_L_EMBEDDING:
        return op_embedding;
    case KILN_L_LSTM:
        return op_lstm;
    case KILN_L_ZERO_PAD2D:
        return op_zeropad;
    case KILN_L_ACTIVATION:
        return op_activation;
    default:
        return NULL;
    }
}

int64_t kiln__op_aux(const kiln_graph *g, const kiln__glayer *L, int32_t n) {
    const kiln__gtensor *ti = L->n_in ? &g->tensors[L->in[0]] : NULL, *to = &g->tensors[L->out];
    switch (L->kind) {
    case KILN_L_CONV2D: {
        const kiln_layer_attrs *a = &L->a;
        if (a->kernel[0] == 1 && a->kernel[1] == 1 && a->strides[0] == 1 && a->strides[1] == 1)
            return 0;
        return (int64_t)n * to->dims[0] * to->dims[1] * a->kernel[0] * a->kernel[1] * ti->dims[2];
    }
    case KILN_L_SEPARABLE_CONV2D:
        return 2 * (int64_t)n * to->dims[0] * to->dims[1] * ti->dims[2] * L->a.depth_multiplier;
    case KILN_L_MAX_POOL2D:
        return (int64_t)n * to->size;
    case KILN_L_BATCH_NORM:
        return 6 * (int64_t)to->dims[to->rank - 1];
    case KILN_L_DROPOUT:
        return (int64_t)n * to->size;
    case KILN_L_LSTM: {
        int64_t T = ti->dims[0], U = L->a.units;
        return (int64_t)n * T * (4 * U) * 2 + (int64_t)n * T * U * 2 + 2 * (int64_t)n * U;
    }
    default:
        return 0;
    }
}
