/* conv.c: float32 CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED, BATCH_MATMUL,
 * AVERAGE_POOL_2D and MAX_POOL_2D with TFLite's semantics (reference_ops and the builtin
 * kernels' Prepare checks); the matrix products run on the shared GEMM core. In the litert
 * dialect CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED sum in XNNPACK's order instead. */
#include <float.h>
#include <string.h>

#include "kernels/gemm/gemm.h"
#include "kernels/kernel.h"
#include "kernels/ops.h"
#include "kernels/ref/act.h"

enum { PAD_SAME = 0, PAD_VALID = 1 };

/* The litert dialect's float loops must round every product before adding it, as XNNPACK's
 * WebAssembly/SSE micro-kernels do: gcc contracts a*b+c into an FMA in its GNU modes even
 * across statements (it ignores the STDC pragma), so those functions say so themselves. */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_CONTRACT __attribute__((optimize("fp-contract=off")))
#else
#define NO_CONTRACT
#endif

/* im2col / col2im scratch is cut into row chunks of at most this many floats (4 MB), so a
 * large convolution does not need its whole column matrix at once. */
#define COL_CAP ((int64_t)1 << 20)
#define COL_MIN_ROWS 64

/* ---- shared helpers ------------------------------------------------------------------------ */

static void kpar_run(void *ud, int32_t ntasks, kiln_task_fn fn, void *arg) {
    kiln_kparallel((kiln_kctx *)ud, ntasks, fn, arg);
}

/* The interpreter's parallel-for as a kiln_parallel for kiln_sgemm. */
static kiln_parallel kpar(kiln_kctx *ctx) {
    kiln_parallel p = {kpar_run, ctx, kiln_kthreads(ctx)};
    return p;
}

static kiln_status check_opts(kiln_kctx *ctx, const kiln_node *node, int32_t type,
                              const char *name) {
    if (node->opts && node->opts_type != type)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "builtin options have union type %d, expected %s",
                         node->opts_type, name);
    return KILN_OK;
}

static kiln_status check_f32(kiln_kctx *ctx, const kiln_tensor *t, const char *what) {
    if (t->type != KILN_FLOAT32)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "%s has type %s, expected FLOAT32", what,
                         kiln_dtype_name(t->type));
    return KILN_OK;
}

static kiln_status check_rank(kiln_kctx *ctx, const kiln_tensor *t, int32_t rank,
                              const char *what) {
    if (t->rank != rank)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "%s has %d dims, expected %d", what, t->rank, rank);
    return KILN_OK;
}

/* Inputs/outputs count check; `opt_from` is the first optional input index. */
static kiln_status check_io(kiln_kctx *ctx, const kiln_node *node, int32_t min_in, int32_t max_in) {
    if (node->n_in < min_in || node->n_in > max_in)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "has %d inputs, expected %d..%d", node->n_in, min_in,
                         max_in);
    for (int32_t i = 0; i < min_in; i++)
        if (!node->in[i])
            return kiln_kerr(ctx, KILN_ERR_MODEL, "input %d is required but absent", i);
    if (node->n_out != 1 || !node->out[0])
        return kiln_kerr(ctx, KILN_ERR_MODEL, "has %d outputs, expected 1", node->n_out);
    return check_f32(ctx, node->out[0], "output");
}

/* An optional bias: absent, or float32 with `n` elements. */
static kiln_status check_bias(kiln_kctx *ctx, const kiln_node *node, int32_t idx, int64_t n,
                              const float **bias_unused) {
    (void)bias_unused;
    if (node->n_in <= idx || !node->in[idx]) return KILN_OK;
    const kiln_tensor *b = node->in[idx];
    kiln_status s = check_f32(ctx, b, "bias");
    if (s) return s;
    if (kiln_numel(b) != n)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "bias has %lld elements, expected %lld",
                         (long long)kiln_numel(b), (long long)n);
    return KILN_OK;
}

static const float *bias_of(const kiln_node *node, int32_t idx) {
    return node->n_in > idx && node->in[idx] ? (const float *)node->in[idx]->data : NULL;
}

static kiln_status get_act(kiln_kctx *ctx, int32_t act, float *lo, float *hi) {
    if (!kiln_act_valid(act))
        return kiln_kerr(ctx, KILN_ERR_MODEL, "fused activation %d is not valid", act);
    /* TANH and SIGN_BIT give the full range here, as CalculateActivationRange does. */
    kiln_act_range_f32(act, lo, hi);
    return KILN_OK;
}

static kiln_status check_padding(kiln_kctx *ctx, int32_t padding) {
    if (padding != PAD_SAME && padding != PAD_VALID)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "padding %d is not SAME or VALID", padding);
    return KILN_OK;
}

/* TFLite's ComputeOutSize (64-bit, so large dilations cannot overflow). */
static int64_t out_size(int32_t padding, int64_t in, int64_t filter, int64_t stride,
                        int64_t dilation) {
    const int64_t eff = (filter - 1) * dilation + 1;
    if (padding == PAD_SAME) return (in + stride - 1) / stride;
    return (in + stride - eff) / stride;
}

/* TFLite's ComputePaddingWithOffset without the offset (the float kernels ignore it). */
static int64_t pad_before(int64_t stride, int64_t dilation, int64_t in, int64_t filter,
                          int64_t out) {
    const int64_t eff = (filter - 1) * dilation + 1;
    int64_t total = (out - 1) * stride + eff - in;
    if (total < 0) total = 0;
    return total / 2;
}

typedef struct win2d {
    int32_t stride_h, stride_w, dil_h, dil_w;
    int32_t pad_h, pad_w;
    int32_t out_h, out_w;
} win2d;

/* Output size and padding of a sliding window (ComputePaddingHeightWidth). */
static kiln_status window(kiln_kctx *ctx, int32_t padding, int32_t in_h, int32_t in_w, int32_t f_h,
                          int32_t f_w, win2d *w) {
    kiln_status s = check_padding(ctx, padding);
    if (s) return s;
    if (w->stride_h <= 0 || w->stride_w <= 0)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "stride %dx%d must be positive", w->stride_h,
                         w->stride_w);
    if (w->dil_h <= 0 || w->dil_w <= 0)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "dilation %dx%d must be positive", w->dil_h,
                         w->dil_w);
    if (f_h <= 0 || f_w <= 0)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "filter size %dx%d must be positive", f_h, f_w);
    const int64_t oh = out_size(padding, in_h, f_h, w->stride_h, w->dil_h);
    const int64_t ow = out_size(padding, in_w, f_w, w->stride_w, w->dil_w);
    if (oh < 0 || ow < 0 || oh > INT32_MAX || ow > INT32_MAX)
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "window %dx%d (dilation %dx%d) does not fit input %dx%d", f_h, f_w,
                         w->dil_h, w->dil_w, in_h, in_w);
    const int64_t ph = pad_before(w->stride_h, w->dil_h, in_h, f_h, oh);
    const int64_t pw = pad_before(w->stride_w, w->dil_w, in_w, f_w, ow);
    if (ph > INT32_MAX || pw > INT32_MAX)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "padding overflows");
    w->out_h = (int32_t)oh;
    w->out_w = (int32_t)ow;
    w->pad_h = (int32_t)ph;
    w->pad_w = (int32_t)pw;
    return KILN_OK;
}

/* o[c] += x[c] * w[c]: unrolled so the compiler's straight-line (SLP) vectoriser packs it
 * at -O2, where loops with a run-time trip count are left scalar. */
static inline void madd_row(float *restrict o, const float *restrict x, const float *restrict w,
                            int32_t n) {
    int32_t c = 0;
    for (; c + 8 <= n; c += 8) {
        o[c + 0] += x[c + 0] * w[c + 0];
        o[c + 1] += x[c + 1] * w[c + 1];
        o[c + 2] += x[c + 2] * w[c + 2];
        o[c + 3] += x[c + 3] * w[c + 3];
        o[c + 4] += x[c + 4] * w[c + 4];
        o[c + 5] += x[c + 5] * w[c + 5];
        o[c + 6] += x[c + 6] * w[c + 6];
        o[c + 7] += x[c + 7] * w[c + 7];
    }
    for (; c < n; c++)
        o[c] += x[c] * w[c];
}

/* o[c] += x[c] (average pool). */
static inline void add_row(float *restrict o, const float *restrict x, int32_t n) {
    int32_t c = 0;
    for (; c + 8 <= n; c += 8) {
        o[c + 0] += x[c + 0];
        o[c + 1] += x[c + 1];
        o[c + 2] += x[c + 2];
        o[c + 3] += x[c + 3];
        o[c + 4] += x[c + 4];
        o[c + 5] += x[c + 5];
        o[c + 6] += x[c + 6];
        o[c + 7] += x[c + 7];
    }
    for (; c < n; c++)
        o[c] += x[c];
}

/* out[r][c] = clamp(out[r][c] + bias[c]) over rows x cols. */
static void bias_act(float *out, int64_t rows, int64_t cols, const float *bias, float lo,
                     float hi) {
    for (int64_t r = 0; r < rows; r++) {
        float *o = out + r * cols;
        if (bias)
            for (int64_t c = 0; c < cols; c++)
                o[c] = kiln_act_clamp_f32(o[c] + bias[c], lo, hi);
        else
            for (int64_t c = 0; c < cols; c++)
                o[c] = kiln_act_clamp_f32(o[c], lo, hi);
    }
}

/* ---- CONV_2D ------------------------------------------------------------------------------- */

typedef struct conv_data {
    win2d w;
    float lo, hi;
    int32_t groups;
    int32_t direct; /* 1x1, stride 1, no padding, one group: the input is the column matrix */
    int32_t scratch;
    int64_t chunk;    /* output pixels per im2col chunk */
    int32_t litert;   /* XNNPACK's summation order (see conv_litert_task) */
    int32_t wscratch; /* litert: the filter as [group][tap][channel in group][out channel] */
} conv_data;

static kiln_status conv_prepare(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = check_io(ctx, node, 2, 3);
    if (s || (s = check_opts(ctx, node, KILN_OPTS_Conv2DOptions, "Conv2DOptions"))) return s;
    const kiln_tensor *in = node->in[0], *f = node->in[1];
    if ((s = check_f32(ctx, in, "input")) || (s = check_f32(ctx, f, "filter")) ||
        (s = check_rank(ctx, in, 4, "input")) || (s = check_rank(ctx, f, 4, "filter")))
        return s;
    conv_data *d = (conv_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    const int32_t padding = kiln_opt_i8(node, 0, 0);
    d->w.stride_w = kiln_opt_i32(node, 1, 0);
    d->w.stride_h = kiln_opt_i32(node, 2, 0);
    const int32_t act = kiln_opt_i8(node, 3, 0);
    d->w.dil_w = kiln_opt_i32(node, 4, 1);
    d->w.dil_h = kiln_opt_i32(node, 5, 1);
    if ((s = get_act(ctx, act, &d->lo, &d->hi))) return s;
    const int32_t batch = in->dims[0], in_h = in->dims[1], in_w = in->dims[2];
    const int32_t in_c = in->dims[3];
    const int32_t out_c = f->dims[0], f_h = f->dims[1], f_w = f->dims[2], f_c = f->dims[3];
    if (in_c <= 0 || f_c <= 0 || in_c % f_c != 0)
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "filter has %d input channels, which does not divide the input's %d", f_c,
                         in_c);
    d->groups = in_c / f_c;
    if (out_c % d->groups != 0)
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "%d output channels are not a multiple of %d "
                         "groups",
                         out_c, d->groups);
    if ((s = check_bias(ctx, node, 2, out_c, NULL))) return s;
    if ((s = window(ctx, padding, in_h, in_w, f_h, f_w, &d->w))) return s;
    const int32_t od[4] = {batch, d->w.out_h, d->w.out_w, out_c};
    if ((s = kiln_kresize(ctx, node->out[0], 4, od))) return s;
    d->direct = f_h == 1 && f_w == 1 && d->w.stride_h == 1 && d->w.stride_w == 1 &&
                d->w.pad_h == 0 && d->w.pad_w == 0 && d->groups == 1;
    d->scratch = -1;
    d->wscratch = -1;
    const int64_t pixels = (int64_t)batch * d->w.out_h * d->w.out_w;
    const int64_t k = (int64_t)f_h * f_w * f_c;
    d->litert = kiln_karith(ctx) == KILN_ARITH_LITERT;
    if (d->litert) {
        if (pixels > 0 && k > 0 && out_c > 0) {
            d->wscratch = kiln_kscratch_request(ctx, (size_t)(k * out_c) * sizeof(float));
            if (d->wscratch < 0)
                return kiln_kerr(ctx, KILN_ERR_NOMEM, "cannot get scratch memory");
        }
    } else if (!d->direct && pixels > 0 && k > 0) {
        int64_t chunk = COL_CAP / k;
        if (chunk < COL_MIN_ROWS) chunk = COL_MIN_ROWS;
        if (chunk > pixels) chunk = pixels;
        d->chunk = chunk;
        d->scratch = kiln_kscratch_request(ctx, (size_t)(chunk * k) * sizeof(float));
        if (d->scratch < 0) return kiln_kerr(ctx, KILN_ERR_NOMEM, "cannot get scratch memory");
    }
    node->data = d;
    return KILN_OK;
}

/* Column matrix rows for output pixels [p0, p0+rows) of one group: each row is the filter
 * window (fy, fx, channel) with zeros where it falls in the padding. */
static void im2col(const conv_data *d, const float *in, int32_t in_h, int32_t in_w, int32_t in_c,
                   int32_t f_h, int32_t f_w, int32_t f_c, int32_t g, int64_t p0, int64_t rows,
                   float *col) {
    const int64_t k = (int64_t)f_h * f_w * f_c;
    const int64_t per_img = (int64_t)d->w.out_h * d->w.out_w;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t p = p0 + r;
        const int64_t b = p / per_img, rem = p % per_img;
        const int64_t oy = rem / d->w.out_w, ox = rem % d->w.out_w;
        float *dst = col + r * k;
        for (int32_t fy = 0; fy < f_h; fy++) {
            const int64_t iy = oy * d->w.stride_h - d->w.pad_h + (int64_t)fy * d->w.dil_h;
            if (iy < 0 || iy >= in_h) {
                memset(dst, 0, (size_t)f_w * (size_t)f_c * sizeof(float));
                dst += (int64_t)f_w * f_c;
                continue;
            }
            for (int32_t fx = 0; fx < f_w; fx++) {
                const int64_t ix = ox * d->w.stride_w - d->w.pad_w + (int64_t)fx * d->w.dil_w;
                if (ix < 0 || ix >= in_w)
                    memset(dst, 0, (size_t)f_c * sizeof(float));
                else
                    memcpy(dst, in + ((b * in_h + iy) * in_w + ix) * in_c + (int64_t)g * f_c,
                           (size_t)f_c * sizeof(float));
                dst += f_c;
            }
        }
    }
}

/* XNNPACK (WebAssembly SIMD) runs its f32 GEMMs 8 output channels wide; when a convolution
 * has fewer than that per group, or a FULLY_CONNECTED's 8-wide tiles would waste more than its
 * 2-wide ones (and over 1% of the outputs), it switches to the 4x2c4 kernel, whose sums differ:
 * products go to 4 partial sums by input channel mod 4 (each tap restarting at channel 0), the
 * first of which starts at the bias, and the result is (s0 + s2) + (s1 + s3). */
#define XNN_NR 8
#define XNN_NR2 2

static int fc_uses_c4(int64_t units) {
    const int64_t over = (XNN_NR - units % XNN_NR) % XNN_NR;
    const int64_t over2 = (XNN_NR2 - units % XNN_NR2) % XNN_NR2;
    return units < XNN_NR || (over2 < over && over * 100 > units);
}

typedef struct lconv_job {
    const conv_data *d;
    const float *x, *wt, *bias;
    float *y;
    int32_t in_h, in_w, in_c, f_h, f_w, f_c, out_c;
    int64_t rows; /* batch * out_h */
    int32_t ntasks;
} lconv_job;

/* The official runtime's float CONV_2D (XNNPACK's indirect GEMM): each output starts at its
 * bias, then takes the products of the taps in (fy, fx, channel) order, padded taps included
 * as products with 0, each product rounded to float before it is added; then the clamp. The
 * output channels are independent lanes, so the inner loop runs across them. */
NO_CONTRACT static void conv_litert_task(void *arg, int32_t t) {
    const lconv_job *j = (const lconv_job *)arg;
    const conv_data *d = j->d;
    const int32_t groups = d->groups, opg = j->out_c / groups, f_c = j->f_c;
    const int64_t k = (int64_t)j->f_h * j->f_w * f_c;
    const int64_t r0 = j->rows * t / j->ntasks, r1 = j->rows * (t + 1) / j->ntasks;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t b = r / d->w.out_h, oy = r % d->w.out_h;
        for (int32_t ox = 0; ox < d->w.out_w; ox++) {
            float *o = j->y + (r * d->w.out_w + ox) * j->out_c;
            for (int32_t g = 0; g < groups && opg < XNN_NR; g++) {
                for (int32_t c = 0; c < opg; c++) {
                    float sum[4] = {j->bias ? j->bias[(int64_t)g * opg + c] : 0.0f, 0, 0, 0};
                    const float *wc = j->wt + (int64_t)g * k * opg + c;
                    for (int32_t fy = 0; fy < j->f_h; fy++) {
                        const int64_t iy =
                            oy * d->w.stride_h - d->w.pad_h + (int64_t)fy * d->w.dil_h;
                        for (int32_t fx = 0; fx < j->f_w; fx++) {
                            const int64_t ix = (int64_t)ox * d->w.stride_w - d->w.pad_w +
                                               (int64_t)fx * d->w.dil_w;
                            const int inside = iy >= 0 && iy < j->in_h && ix >= 0 && ix < j->in_w;
                            const float *xi = inside ? j->x +
                                                           ((b * j->in_h + iy) * j->in_w + ix) *
                                                               j->in_c +
                                                           (int64_t)g * f_c
                                                     : NULL;
                            for (int32_t ic = 0; ic < f_c; ic++, wc += opg) {
                                const float p = (xi ? xi[ic] : 0.0f) * *wc;
                                sum[ic & 3] = sum[ic & 3] + p;
                            }
                        }
                    }
                    o[(int64_t)g * opg + c] = (sum[0] + sum[2]) + (sum[1] + sum[3]);
                }
            }
            for (int32_t g = 0; g < groups && opg >= XNN_NR; g++) {
                float *restrict og = o + (int64_t)g * opg;
                const float *wg = j->wt + (int64_t)g * k * opg;
                for (int32_t c = 0; c < opg; c++)
                    og[c] = j->bias ? j->bias[(int64_t)g * opg + c] : 0.0f;
                for (int32_t fy = 0; fy < j->f_h; fy++) {
                    const int64_t iy = oy * d->w.stride_h - d->w.pad_h + (int64_t)fy * d->w.dil_h;
                    for (int32_t fx = 0; fx < j->f_w; fx++) {
                        const int64_t ix =
                            (int64_t)ox * d->w.stride_w - d->w.pad_w + (int64_t)fx * d->w.dil_w;
                        const int inside = iy >= 0 && iy < j->in_h && ix >= 0 && ix < j->in_w;
                        const float *xi =
                            inside ? j->x + ((b * j->in_h + iy) * j->in_w + ix) * j->in_c +
                                         (int64_t)g * f_c
                                   : NULL;
                        for (int32_t ic = 0; ic < f_c; ic++, wg += opg) {
                            const float xv = xi ? xi[ic] : 0.0f;
                            const float *restrict wv = wg;
                            for (int32_t c = 0; c < opg; c++) {
                                const float p = xv * wv[c];
                                og[c] = og[c] + p;
                            }
                        }
                    }
                }
            }
            for (int32_t c = 0; c < j->out_c; c++)
                o[c] = kiln_act_clamp_f32(o[c], d->lo, d->hi);
        }
    }
}

static int32_t ntasks_for(kiln_kctx *ctx, int64_t rows);

static kiln_status conv_litert(kiln_kctx *ctx, kiln_node *node) {
    const conv_data *d = (const conv_data *)node->data;
    const kiln_tensor *in = node->in[0], *f = node->in[1];
    const float *w = (const float *)f->data;
    const int32_t out_c = f->dims[0], f_h = f->dims[1], f_w = f->dims[2], f_c = f->dims[3];
    const int32_t opg = out_c / d->groups;
    const int64_t k = (int64_t)f_h * f_w * f_c;
    float *wt = (float *)kiln_kscratch(ctx, d->wscratch);
    /* [out_c][k] -> [group][k][opg]: the filter may be computed, so this runs every time. */
    for (int32_t g = 0; g < d->groups; g++)
        for (int32_t c = 0; c < opg; c++) {
            const float *src = w + ((int64_t)g * opg + c) * k;
            float *dst = wt + (int64_t)g * k * opg + c;
            for (int64_t i = 0; i < k; i++)
                dst[i * opg] = src[i];
        }
    lconv_job j = {d, (const float *)in->data, wt, bias_of(node, 2), (float *)node->out[0]->data,
                   in->dims[1], in->dims[2], in->dims[3], f_h, f_w, f_c, out_c,
                   (int64_t)in->dims[0] * d->w.out_h, 1};
    j.ntasks = ntasks_for(ctx, j.rows);
    kiln_kparallel(ctx, j.ntasks, conv_litert_task, &j);
    return KILN_OK;
}

static kiln_status conv_invoke(kiln_kctx *ctx, kiln_node *node) {
    const conv_data *d = (const conv_data *)node->data;
    const kiln_tensor *in = node->in[0], *f = node->in[1];
    kiln_tensor *out = node->out[0];
    const float *x = (const float *)in->data, *w = (const float *)f->data;
    float *y = (float *)out->data;
    const int32_t in_h = in->dims[1], in_w = in->dims[2], in_c = in->dims[3];
    const int32_t out_c = f->dims[0], f_h = f->dims[1], f_w = f->dims[2], f_c = f->dims[3];
    const int64_t pixels = (int64_t)in->dims[0] * d->w.out_h * d->w.out_w;
    const int64_t k = (int64_t)f_h * f_w * f_c;
    const int32_t opg = out_c / d->groups;
    const kiln_parallel par = kpar(ctx);
    if (pixels == 0 || out_c == 0) return KILN_OK;
    if (d->litert) return conv_litert(ctx, node);
    if (d->direct) {
        kiln_sgemm(&par, 0, 1, pixels, out_c, k, 1.0f, x, in_c, w, k, 0.0f, y, out_c);
    } else {
        float *col = (float *)kiln_kscratch(ctx, d->scratch);
        for (int64_t p0 = 0; p0 < pixels; p0 += d->chunk) {
            const int64_t rows = pixels - p0 < d->chunk ? pixels - p0 : d->chunk;
            for (int32_t g = 0; g < d->groups; g++) {
                im2col(d, x, in_h, in_w, in_c, f_h, f_w, f_c, g, p0, rows, col);
                kiln_sgemm(&par, 0, 1, rows, opg, k, 1.0f, col, k, w + (int64_t)g * opg * k, k,
                           0.0f, y + p0 * out_c + (int64_t)g * opg, out_c);
            }
        }
    }
    bias_act(y, pixels, out_c, bias_of(node, 2), d->lo, d->hi);
    return KILN_OK;
}

/* ---- DEPTHWISE_CONV_2D --------------------------------------------------------------------- */

typedef struct dw_data {
    win2d w;
    float lo, hi;
    int32_t mult;
} dw_data;

static kiln_status dw_prepare(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = check_io(ctx, node, 2, 3);
    if (s ||
        (s = check_opts(ctx, node, KILN_OPTS_DepthwiseConv2DOptions, "DepthwiseConv2DOptions")))
        return s;
    const kiln_tensor *in = node->in[0], *f = node->in[1];
    if ((s = check_f32(ctx, in, "input")) || (s = check_f32(ctx, f, "filter")) ||
        (s = check_rank(ctx, in, 4, "input")) || (s = check_rank(ctx, f, 4, "filter")))
        return s;
    dw_data *d = (dw_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    const int32_t padding = kiln_opt_i8(node, 0, 0);
    d->w.stride_w = kiln_opt_i32(node, 1, 0);
    d->w.stride_h = kiln_opt_i32(node, 2, 0);
    const int32_t act = kiln_opt_i8(node, 4, 0);
    d->w.dil_w = kiln_opt_i32(node, 5, 1);
    d->w.dil_h = kiln_opt_i32(node, 6, 1);
    if ((s = get_act(ctx, act, &d->lo, &d->hi))) return s;
    const int32_t in_c = in->dims[3], out_c = f->dims[3];
    if (f->dims[0] != 1)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "filter dim 0 is %d, expected 1", f->dims[0]);
    /* The depth multiplier comes from the shapes (the option is redundant, as in TFLite). */
    if (in_c <= 0 || out_c % in_c != 0)
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "filter has %d channels, not a multiple of the "
                         "input's %d",
                         out_c, in_c);
    d->mult = out_c / in_c;
    if ((s = check_bias(ctx, node, 2, out_c, NULL))) return s;
    if ((s = window(ctx, padding, in->dims[1], in->dims[2], f->dims[1], f->dims[2], &d->w)))
        return s;
    const int32_t od[4] = {in->dims[0], d->w.out_h, d->w.out_w, out_c};
    if ((s = kiln_kresize(ctx, node->out[0], 4, od))) return s;
    node->data = d;
    return KILN_OK;
}

typedef struct dw_job {
    const dw_data *d;
    const float *x, *w, *bias;
    float *y;
    int32_t in_h, in_w, in_c, f_h, f_w, out_c;
    int64_t rows; /* batch * out_h */
    int32_t ntasks;
} dw_job;

static void dw_task(void *arg, int32_t t) {
    const dw_job *j = (const dw_job *)arg;
    const dw_data *d = j->d;
    const int64_t r0 = j->rows * t / j->ntasks, r1 = j->rows * (t + 1) / j->ntasks;
    const int32_t m = d->mult, oc = j->out_c;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t b = r / d->w.out_h, oy = r % d->w.out_h;
        for (int32_t ox = 0; ox < d->w.out_w; ox++) {
            float *o = j->y + (r * d->w.out_w + ox) * oc;
            for (int32_t c = 0; c < oc; c++)
                o[c] = 0.0f;
            for (int32_t fy = 0; fy < j->f_h; fy++) {
                const int64_t iy = oy * d->w.stride_h - d->w.pad_h + (int64_t)fy * d->w.dil_h;
                if (iy < 0 || iy >= j->in_h) continue;
                for (int32_t fx = 0; fx < j->f_w; fx++) {
                    const int64_t ix =
                        (int64_t)ox * d->w.stride_w - d->w.pad_w + (int64_t)fx * d->w.dil_w;
                    if (ix < 0 || ix >= j->in_w) continue;
                    const float *xi = j->x + ((b * j->in_h + iy) * j->in_w + ix) * j->in_c;
                    const float *wf = j->w + ((int64_t)fy * j->f_w + fx) * oc;
                    if (m == 1) {
                        madd_row(o, xi, wf, oc);
                    } else {
                        for (int32_t ic = 0; ic < j->in_c; ic++)
                            for (int32_t q = 0; q < m; q++)
                                o[ic * m + q] += xi[ic] * wf[ic * m + q];
                    }
                }
            }
            bias_act(o, 1, oc, j->bias, d->lo, d->hi);
        }
    }
}

/* The official runtime's float DEPTHWISE_CONV_2D. With a depth multiplier of 1 and at most 25
 * taps XNNPACK runs its depthwise kernels, which visit the taps column by column (fx outer, fy
 * inner); otherwise a grouped GEMM with one input channel per group, taps row by row. Either
 * way each output starts at its bias and adds the rounded products one by one, padded taps
 * included (as products with 0). */
NO_CONTRACT static void dw_litert_task(void *arg, int32_t t) {
    const dw_job *j = (const dw_job *)arg;
    const dw_data *d = j->d;
    const int64_t r0 = j->rows * t / j->ntasks, r1 = j->rows * (t + 1) / j->ntasks;
    const int32_t m = d->mult, oc = j->out_c;
    const int32_t n_taps = j->f_h * j->f_w;
    const int by_col = m == 1 && n_taps <= 25;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t b = r / d->w.out_h, oy = r % d->w.out_h;
        for (int32_t ox = 0; ox < d->w.out_w; ox++) {
            float *o = j->y + (r * d->w.out_w + ox) * oc;
            for (int32_t c = 0; c < oc; c++) {
                const int32_t ic = c / m;
                float acc = j->bias ? j->bias[c] : 0.0f;
                for (int32_t tap = 0; tap < n_taps; tap++) {
                    const int32_t fy = by_col ? tap % j->f_h : tap / j->f_w;
                    const int32_t fx = by_col ? tap / j->f_h : tap % j->f_w;
                    const int64_t iy = oy * d->w.stride_h - d->w.pad_h + (int64_t)fy * d->w.dil_h;
                    const int64_t ix =
                        (int64_t)ox * d->w.stride_w - d->w.pad_w + (int64_t)fx * d->w.dil_w;
                    const float xv = iy >= 0 && iy < j->in_h && ix >= 0 && ix < j->in_w
                                         ? j->x[((b * j->in_h + iy) * j->in_w + ix) * j->in_c + ic]
                                         : 0.0f;
                    const float p = xv * j->w[((int64_t)fy * j->f_w + fx) * oc + c];
                    acc = acc + p;
                }
                o[c] = kiln_act_clamp_f32(acc, d->lo, d->hi);
            }
        }
    }
}

static int32_t ntasks_for(kiln_kctx *ctx, int64_t rows) {
    const int32_t threads = kiln_kthreads(ctx);
    int64_t n = threads > 1 ? (int64_t)threads * 4 : 1;
    if (n > rows) n = rows;
    return n < 1 ? 1 : (int32_t)n;
}

static kiln_status dw_invoke(kiln_kctx *ctx, kiln_node *node) {
    const dw_data *d = (const dw_data *)node->data;
    const kiln_tensor *in = node->in[0], *f = node->in[1];
    dw_job j = {d,
                (const float *)in->data,
                (const float *)f->data,
                bias_of(node, 2),
                (float *)node->out[0]->data,
                in->dims[1],
                in->dims[2],
                in->dims[3],
                f->dims[1],
                f->dims[2],
                f->dims[3],
                (int64_t)in->dims[0] * d->w.out_h,
                1};
    if (j.rows == 0 || d->w.out_w == 0 || j.out_c == 0) return KILN_OK;
    j.ntasks = ntasks_for(ctx, j.rows);
    kiln_kparallel(ctx, j.ntasks, kiln_karith(ctx) == KILN_ARITH_LITERT ? dw_litert_task : dw_task,
                   &j);
    return KILN_OK;
}

/* ---- TRANSPOSE_CONV ------------------------------------------------------------------------ */

typedef struct tconv_data {
    win2d w;
    float lo, hi;
    int32_t scratch;
    int64_t chunk; /* input pixels per GEMM chunk */
    int32_t shape[4];
} tconv_data;

/* Inputs: 0 output_shape (int32 [4]), 1 filter [out_c, f_h, f_w, in_c], 2 input, 3 bias. */
static kiln_status tconv_prepare(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = check_io(ctx, node, 3, 4);
    if (s || (s = check_opts(ctx, node, KILN_OPTS_TransposeConvOptions, "TransposeConvOptions")))
        return s;
    const kiln_tensor *shp = node->in[0], *f = node->in[1], *in = node->in[2];
    if ((s = check_f32(ctx, in, "input")) || (s = check_f32(ctx, f, "filter")) ||
        (s = check_rank(ctx, in, 4, "input")) || (s = check_rank(ctx, f, 4, "filter")))
        return s;
    if (shp->type != KILN_INT32 || shp->rank != 1 || shp->dims[0] != 4)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "output_shape must be an int32 vector of 4");
    tconv_data *d = (tconv_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    const int32_t padding = kiln_opt_i8(node, 0, 0);
    d->w.stride_w = kiln_opt_i32(node, 1, 0);
    d->w.stride_h = kiln_opt_i32(node, 2, 0);
    d->w.dil_h = d->w.dil_w = 1;
    const int32_t act = kiln_opt_i8(node, 3, 0);
    if ((s = get_act(ctx, act, &d->lo, &d->hi))) return s;
    const int32_t out_c = f->dims[0], f_h = f->dims[1], f_w = f->dims[2];
    if (f->dims[3] != in->dims[3])
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "filter has %d input channels, input has %d",
                         f->dims[3], in->dims[3]);
    if ((s = check_bias(ctx, node, 3, out_c, NULL))) return s;
    kiln_tensor *out = node->out[0];
    if (kiln_kknown(ctx, shp) && shp->data) {
        memcpy(d->shape, shp->data, sizeof d->shape);
    } else {
        /* A computed output_shape: the file's static output shape must hold it; invoke
         * checks the values. */
        if (out->rank != 4)
            return kiln_kerr(ctx, KILN_ERR_SHAPE,
                             "output_shape is not constant and the "
                             "output has no static 4-D shape");
        memcpy(d->shape, out->dims, sizeof d->shape);
    }
    if (d->shape[0] != in->dims[0] || d->shape[3] != out_c)
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "output_shape [%d,%d,%d,%d] does not match batch "
                         "%d and %d filters",
                         d->shape[0], d->shape[1], d->shape[2], d->shape[3], in->dims[0], out_c);
    if (d->shape[1] < 0 || d->shape[2] < 0)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "output_shape has a negative size");
    /* TFLite computes the padding as for a forward convolution from the output back to the
     * input, whose own output size it ignores: output_shape need not match the input size,
     * the scatter below stays in bounds either way. */
    if ((s = check_padding(ctx, padding))) return s;
    if (d->w.stride_h <= 0 || d->w.stride_w <= 0)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "stride %dx%d must be positive", d->w.stride_h,
                         d->w.stride_w);
    if (f_h <= 0 || f_w <= 0)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "filter size %dx%d must be positive", f_h, f_w);
    const int64_t fwd_h = out_size(padding, d->shape[1], f_h, d->w.stride_h, 1);
    const int64_t fwd_w = out_size(padding, d->shape[2], f_w, d->w.stride_w, 1);
    const int64_t ph = pad_before(d->w.stride_h, 1, d->shape[1], f_h, fwd_h);
    const int64_t pw = pad_before(d->w.stride_w, 1, d->shape[2], f_w, fwd_w);
    if (ph > INT32_MAX || pw > INT32_MAX)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "padding overflows");
    d->w.pad_h = (int32_t)ph;
    d->w.pad_w = (int32_t)pw;
    d->w.out_h = d->shape[1];
    d->w.out_w = d->shape[2];
    if ((s = kiln_kresize(ctx, out, 4, d->shape))) return s;
    const int64_t pixels = (int64_t)in->dims[0] * in->dims[1] * in->dims[2];
    const int64_t cols = (int64_t)out_c * f_h * f_w;
    d->scratch = -1;
    if (pixels > 0 && cols > 0) {
        int64_t chunk = COL_CAP / cols;
        if (chunk < COL_MIN_ROWS) chunk = COL_MIN_ROWS;
        if (chunk > pixels) chunk = pixels;
        d->chunk = chunk;
        d->scratch = kiln_kscratch_request(ctx, (size_t)(chunk * cols) * sizeof(float));
        if (d->scratch < 0) return kiln_kerr(ctx, KILN_ERR_NOMEM, "cannot get scratch memory");
    }
    node->data = d;
    return KILN_OK;
}

static kiln_status tconv_invoke(kiln_kctx *ctx, kiln_node *node) {
    const tconv_data *d = (const tconv_data *)node->data;
    const kiln_tensor *shp = node->in[0], *f = node->in[1], *in = node->in[2];
    if (shp->data && memcmp(shp->data, d->shape, sizeof d->shape) != 0)
        return kiln_kerr(ctx, KILN_ERR_RUNTIME, "output_shape changed after prepare");
    float *y = (float *)node->out[0]->data;
    const float *x = (const float *)in->data, *w = (const float *)f->data;
    const int32_t out_c = f->dims[0], f_h = f->dims[1], f_w = f->dims[2], in_c = f->dims[3];
    const int32_t in_h = in->dims[1], in_w = in->dims[2];
    const int32_t out_h = d->w.out_h, out_w = d->w.out_w;
    const int64_t total = (int64_t)d->shape[0] * out_h * out_w * out_c;
    if (total == 0) return KILN_OK;
    memset(y, 0, (size_t)total * sizeof(float));
    const int64_t pixels = (int64_t)in->dims[0] * in_h * in_w;
    const int64_t cols = (int64_t)out_c * f_h * f_w;
    if (d->scratch >= 0) {
        /* col[p][(oc, fy, fx)] = sum_ic x[p][ic] * w[oc][fy][fx][ic], then scattered (col2im)
         * into the output window of input pixel p. */
        float *col = (float *)kiln_kscratch(ctx, d->scratch);
        const kiln_parallel par = kpar(ctx);
        const int64_t per_img = (int64_t)in_h * in_w;
        for (int64_t p0 = 0; p0 < pixels; p0 += d->chunk) {
            const int64_t rows = pixels - p0 < d->chunk ? pixels - p0 : d->chunk;
            kiln_sgemm(&par, 0, 1, rows, cols, in_c, 1.0f, x + p0 * in_c, in_c, w, in_c, 0.0f, col,
                       cols);
            for (int64_t r = 0; r < rows; r++) {
                const int64_t p = p0 + r, b = p / per_img, rem = p % per_img;
                const int64_t iy = rem / in_w, ix = rem % in_w;
                const float *cr = col + r * cols;
                for (int32_t fy = 0; fy < f_h; fy++) {
                    const int64_t oy = iy * d->w.stride_h - d->w.pad_h + fy;
                    if (oy < 0 || oy >= out_h) continue;
                    for (int32_t fx = 0; fx < f_w; fx++) {
                        const int64_t ox = ix * d->w.stride_w - d->w.pad_w + fx;
                        if (ox < 0 || ox >= out_w) continue;
                        float *o = y + ((b * out_h + oy) * out_w + ox) * out_c;
                        const float *cv = cr + (int64_t)fy * f_w + fx;
                        const int64_t step = (int64_t)f_h * f_w;
                        for (int32_t oc = 0; oc < out_c; oc++)
                            o[oc] += cv[oc * step];
                    }
                }
            }
        }
    }
    bias_act(y, total / (out_c ? out_c : 1), out_c, bias_of(node, 3), d->lo, d->hi);
    return KILN_OK;
}

/* ---- FULLY_CONNECTED ----------------------------------------------------------------------- */

typedef struct fc_data {
    float lo, hi;
    int64_t batch;
} fc_data;

static kiln_status fc_prepare(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = check_io(ctx, node, 2, 3);
    if (s || (s = check_opts(ctx, node, KILN_OPTS_FullyConnectedOptions, "FullyConnectedOptions")))
        return s;
    const kiln_tensor *in = node->in[0], *f = node->in[1];
    if ((s = check_f32(ctx, in, "input")) || (s = check_f32(ctx, f, "weights")) ||
        (s = check_rank(ctx, f, 2, "weights")))
        return s;
    fc_data *d = (fc_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    const int32_t act = kiln_opt_i8(node, 0, 0);
    const int32_t format = kiln_opt_i8(node, 1, 0);
    const int32_t keep = kiln_opt_i8(node, 2, 0);
    if ((s = get_act(ctx, act, &d->lo, &d->hi))) return s;
    if (format != 0)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                         "weights_format %d is not supported for "
                         "float (only DEFAULT)",
                         format);
    const int32_t units = f->dims[0], depth = f->dims[1];
    if (depth <= 0) return kiln_kerr(ctx, KILN_ERR_SHAPE, "weights have input size %d", depth);
    if (in->rank < 1) return kiln_kerr(ctx, KILN_ERR_SHAPE, "input is a scalar");
    const int64_t n = kiln_numel(in);
    if (n % depth != 0)
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "input has %lld elements, not a multiple of the "
                         "weights' input size %d",
                         (long long)n, depth);
    d->batch = n / depth;
    if ((s = check_bias(ctx, node, 2, units, NULL))) return s;
    int32_t od[KILN_MAX_RANK];
    int32_t orank;
    if (keep) {
        if (in->dims[in->rank - 1] != depth)
            return kiln_kerr(ctx, KILN_ERR_SHAPE,
                             "keep_num_dims: input's last dim %d is not "
                             "the weights' input size %d",
                             in->dims[in->rank - 1], depth);
        orank = in->rank;
        for (int32_t i = 0; i < orank; i++)
            od[i] = in->dims[i];
        od[orank - 1] = units;
    } else {
        if (d->batch > INT32_MAX)
            return kiln_kerr(ctx, KILN_ERR_SHAPE, "batch %lld is too large", (long long)d->batch);
        orank = 2;
        od[0] = (int32_t)d->batch;
        od[1] = units;
    }
    if ((s = kiln_kresize(ctx, node->out[0], orank, od))) return s;
    node->data = d;
    return KILN_OK;
}

typedef struct lfc_job {
    const fc_data *d;
    const float *x, *w, *bias;
    float *y;
    int32_t units, depth, c4;
    int32_t ntasks;
} lfc_job;

/* The official runtime's float FULLY_CONNECTED (XNNPACK's GEMM): from the bias, the products
 * in input order, each rounded before it is added (or the 4x2c4 order, see fc_uses_c4). */
NO_CONTRACT static void fc_litert_task(void *arg, int32_t t) {
    const lfc_job *j = (const lfc_job *)arg;
    const int64_t u0 = (int64_t)j->units * t / j->ntasks;
    const int64_t u1 = (int64_t)j->units * (t + 1) / j->ntasks;
    for (int64_t r = 0; r < j->d->batch; r++) {
        const float *x = j->x + r * j->depth;
        for (int64_t u = u0; u < u1; u++) {
            const float *w = j->w + u * j->depth;
            float sum[4] = {j->bias ? j->bias[u] : 0.0f, 0, 0, 0};
            if (j->c4) {
                for (int32_t i = 0; i < j->depth; i++) {
                    const float p = x[i] * w[i];
                    sum[i & 3] = sum[i & 3] + p;
                }
                sum[0] = (sum[0] + sum[2]) + (sum[1] + sum[3]);
            } else {
                for (int32_t i = 0; i < j->depth; i++) {
                    const float p = x[i] * w[i];
                    sum[0] = sum[0] + p;
                }
            }
            j->y[r * j->units + u] = kiln_act_clamp_f32(sum[0], j->d->lo, j->d->hi);
        }
    }
}

static kiln_status fc_invoke(kiln_kctx *ctx, kiln_node *node) {
    const fc_data *d = (const fc_data *)node->data;
    const kiln_tensor *f = node->in[1];
    const int32_t units = f->dims[0], depth = f->dims[1];
    float *y = (float *)node->out[0]->data;
    if (kiln_karith(ctx) == KILN_ARITH_LITERT) {
        if (d->batch == 0 || units == 0) return KILN_OK;
        lfc_job j = {d, (const float *)node->in[0]->data, (const float *)f->data,
                     bias_of(node, 2), y, units, depth, fc_uses_c4(units), 1};
        j.ntasks = ntasks_for(ctx, units);
        kiln_kparallel(ctx, j.ntasks, fc_litert_task, &j);
        return KILN_OK;
    }
    const kiln_parallel par = kpar(ctx);
    kiln_sgemm(&par, 0, 1, d->batch, units, depth, 1.0f, (const float *)node->in[0]->data, depth,
               (const float *)f->data, depth, 0.0f, y, units);
    bias_act(y, d->batch, units, bias_of(node, 2), d->lo, d->hi);
    return KILN_OK;
}

/* ---- BATCH_MATMUL -------------------------------------------------------------------------- */

#define BMM_MAX_RANK 5

typedef struct bmm_data {
    int32_t adj_x, adj_y;
    int32_t m, n, k;
    int32_t nb; /* batch dims of the output */
    int32_t bdims[BMM_MAX_RANK];
    int64_t sx[BMM_MAX_RANK], sy[BMM_MAX_RANK]; /* batch strides in matrices (0: broadcast) */
} bmm_data;

static kiln_status bmm_prepare(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = check_io(ctx, node, 2, 2);
    if (s || (s = check_opts(ctx, node, KILN_OPTS_BatchMatMulOptions, "BatchMatMulOptions")))
        return s;
    const kiln_tensor *x = node->in[0], *yt = node->in[1];
    if ((s = check_f32(ctx, x, "lhs")) || (s = check_f32(ctx, yt, "rhs"))) return s;
    if (x->rank < 2 || x->rank > BMM_MAX_RANK || yt->rank < 2 || yt->rank > BMM_MAX_RANK)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "lhs and rhs need 2..5 dims, have %d and %d", x->rank,
                         yt->rank);
    bmm_data *d = (bmm_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    d->adj_x = kiln_opt_i8(node, 0, 0) != 0;
    d->adj_y = kiln_opt_i8(node, 1, 0) != 0;
    const int32_t xr = x->dims[x->rank - 2], xc = x->dims[x->rank - 1];
    const int32_t yr = yt->dims[yt->rank - 2], yc = yt->dims[yt->rank - 1];
    d->m = d->adj_x ? xc : xr;
    d->k = d->adj_x ? xr : xc;
    const int32_t ky = d->adj_y ? yc : yr;
    d->n = d->adj_y ? yr : yc;
    if (d->k != ky)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "contraction sizes differ: lhs %d, rhs %d", d->k, ky);
    const int32_t bx = x->rank - 2, by = yt->rank - 2;
    d->nb = bx > by ? bx : by;
    int64_t mx = (int64_t)xr * xc, my = (int64_t)yr * yc;
    for (int32_t i = d->nb - 1; i >= 0; i--) {
        const int32_t ix = i - (d->nb - bx), iy = i - (d->nb - by);
        const int32_t dx = ix >= 0 ? x->dims[ix] : 1, dy = iy >= 0 ? yt->dims[iy] : 1;
        if (dx != dy && dx != 1 && dy != 1)
            return kiln_kerr(ctx, KILN_ERR_SHAPE, "batch dims %d and %d do not broadcast", dx, dy);
        d->bdims[i] = dx == 1 ? dy : dx;
        d->sx[i] = dx == 1 ? 0 : mx;
        d->sy[i] = dy == 1 ? 0 : my;
        mx *= dx;
        my *= dy;
    }
    int32_t od[BMM_MAX_RANK];
    for (int32_t i = 0; i < d->nb; i++)
        od[i] = d->bdims[i];
    od[d->nb] = d->m;
    od[d->nb + 1] = d->n;
    if ((s = kiln_kresize(ctx, node->out[0], d->nb + 2, od))) return s;
    node->data = d;
    return KILN_OK;
}

typedef struct bmm_job {
    const bmm_data *d;
    const float *x, *y;
    float *out;
    const kiln_parallel *par; /* for each product; NULL when batches run as tasks */
    int64_t batches;
    int32_t ntasks;
} bmm_job;

static void bmm_task(void *arg, int32_t t) {
    const bmm_job *j = (const bmm_job *)arg;
    const bmm_data *d = j->d;
    const int64_t lda = d->adj_x ? d->m : d->k, ldb = d->adj_y ? d->k : d->n;
    const int64_t mn = (int64_t)d->m * d->n;
    const int64_t b0 = j->batches * t / j->ntasks, b1 = j->batches * (t + 1) / j->ntasks;
    for (int64_t bi = b0; bi < b1; bi++) {
        int64_t rem = bi, ox = 0, oy = 0;
        for (int32_t i = d->nb - 1; i >= 0; i--) {
            const int64_t c = rem % d->bdims[i];
            rem /= d->bdims[i];
            ox += c * d->sx[i];
            oy += c * d->sy[i];
        }
        kiln_sgemm(j->par, d->adj_x, d->adj_y, d->m, d->n, d->k, 1.0f, j->x + ox, lda, j->y + oy,
                   ldb, 0.0f, j->out + bi * mn, d->n);
    }
}

static kiln_status bmm_invoke(kiln_kctx *ctx, kiln_node *node) {
    const bmm_data *d = (const bmm_data *)node->data;
    int64_t batches = 1;
    for (int32_t i = 0; i < d->nb; i++)
        batches *= d->bdims[i];
    if (batches == 0 || d->m == 0 || d->n == 0) return KILN_OK;
    const kiln_parallel par = kpar(ctx);
    bmm_job j = {d,
                 (const float *)node->in[0]->data,
                 (const float *)node->in[1]->data,
                 (float *)node->out[0]->data,
                 &par,
                 batches,
                 1};
    /* Many small products (attention heads): one task per range of batches, each product
     * serial; otherwise the products run in turn, each split by the GEMM core. */
    const double flops = 2.0 * d->m * (double)d->n * d->k;
    if (batches > 1 && kiln_kthreads(ctx) > 1 && flops < 4e6) {
        j.par = NULL;
        j.ntasks = ntasks_for(ctx, batches);
        kiln_kparallel(ctx, j.ntasks, bmm_task, &j);
    } else {
        bmm_task(&j, 0);
    }
    return KILN_OK;
}

/* ---- AVERAGE_POOL_2D / MAX_POOL_2D --------------------------------------------------------- */

typedef struct pool_data {
    win2d w;
    int32_t f_h, f_w;
    float lo, hi;
} pool_data;

static kiln_status pool_prepare(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = check_io(ctx, node, 1, 1);
    if (s || (s = check_opts(ctx, node, KILN_OPTS_Pool2DOptions, "Pool2DOptions"))) return s;
    const kiln_tensor *in = node->in[0];
    if ((s = check_f32(ctx, in, "input")) || (s = check_rank(ctx, in, 4, "input"))) return s;
    pool_data *d = (pool_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    const int32_t padding = kiln_opt_i8(node, 0, 0);
    d->w.stride_w = kiln_opt_i32(node, 1, 0);
    d->w.stride_h = kiln_opt_i32(node, 2, 0);
    d->f_w = kiln_opt_i32(node, 3, 0);
    d->f_h = kiln_opt_i32(node, 4, 0);
    d->w.dil_h = d->w.dil_w = 1;
    const int32_t act = kiln_opt_i8(node, 5, 0);
    if ((s = get_act(ctx, act, &d->lo, &d->hi))) return s;
    if ((s = window(ctx, padding, in->dims[1], in->dims[2], d->f_h, d->f_w, &d->w))) return s;
    const int32_t od[4] = {in->dims[0], d->w.out_h, d->w.out_w, in->dims[3]};
    if ((s = kiln_kresize(ctx, node->out[0], 4, od))) return s;
    node->data = d;
    return KILN_OK;
}

typedef struct pool_job {
    const pool_data *d;
    const float *x;
    float *y;
    int32_t in_h, in_w, c, is_max;
    int64_t rows;
    int32_t ntasks;
} pool_job;

static void pool_task(void *arg, int32_t t) {
    const pool_job *j = (const pool_job *)arg;
    const pool_data *d = j->d;
    const int64_t r0 = j->rows * t / j->ntasks, r1 = j->rows * (t + 1) / j->ntasks;
    const int32_t c = j->c;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t b = r / d->w.out_h, oy = r % d->w.out_h;
        const int64_t y0 = oy * d->w.stride_h - d->w.pad_h;
        const int64_t fy0 = y0 < 0 ? -y0 : 0;
        const int64_t fy1 = j->in_h - y0 < d->f_h ? j->in_h - y0 : d->f_h;
        for (int32_t ox = 0; ox < d->w.out_w; ox++) {
            const int64_t x0 = (int64_t)ox * d->w.stride_w - d->w.pad_w;
            const int64_t fx0 = x0 < 0 ? -x0 : 0;
            const int64_t fx1 = j->in_w - x0 < d->f_w ? j->in_w - x0 : d->f_w;
            float *o = j->y + (r * d->w.out_w + ox) * c;
            for (int32_t ch = 0; ch < c; ch++)
                o[ch] = j->is_max ? -FLT_MAX : 0.0f;
            int64_t count = 0;
            for (int64_t fy = fy0; fy < fy1; fy++)
                for (int64_t fx = fx0; fx < fx1; fx++) {
                    const float *xi = j->x + ((b * j->in_h + y0 + fy) * j->in_w + x0 + fx) * c;
                    if (j->is_max) {
                        for (int32_t ch = 0; ch < c; ch++)
                            o[ch] = xi[ch] > o[ch] ? xi[ch] : o[ch];
                    } else {
                        add_row(o, xi, c);
                    }
                    count++;
                }
            if (!j->is_max)
                for (int32_t ch = 0; ch < c; ch++)
                    o[ch] /= (float)count;
            bias_act(o, 1, c, NULL, d->lo, d->hi);
        }
    }
}

static kiln_status pool_run(kiln_kctx *ctx, kiln_node *node, int32_t is_max) {
    const pool_data *d = (const pool_data *)node->data;
    const kiln_tensor *in = node->in[0];
    pool_job j = {d,
                  (const float *)in->data,
                  (float *)node->out[0]->data,
                  in->dims[1],
                  in->dims[2],
                  in->dims[3],
                  is_max,
                  (int64_t)in->dims[0] * d->w.out_h,
                  1};
    if (j.rows == 0 || d->w.out_w == 0 || j.c == 0) return KILN_OK;
    j.ntasks = ntasks_for(ctx, j.rows);
    kiln_kparallel(ctx, j.ntasks, pool_task, &j);
    return KILN_OK;
}

static kiln_status avgpool_invoke(kiln_kctx *ctx, kiln_node *node) {
    return pool_run(ctx, node, 0);
}

static kiln_status maxpool_invoke(kiln_kctx *ctx, kiln_node *node) {
    return pool_run(ctx, node, 1);
}

const kiln_kernel_reg kiln__k_conv[] = {
    {KILN_OP_CONV_2D, 1, 8, KILN_FLOAT32, KILN_FLOAT32, conv_prepare, conv_invoke},
    {KILN_OP_DEPTHWISE_CONV_2D, 1, 7, KILN_FLOAT32, KILN_FLOAT32, dw_prepare, dw_invoke},
    {KILN_OP_TRANSPOSE_CONV, 1, 5, KILN_ANY, KILN_FLOAT32, tconv_prepare, tconv_invoke},
    {KILN_OP_FULLY_CONNECTED, 1, 12, KILN_FLOAT32, KILN_FLOAT32, fc_prepare, fc_invoke},
    {KILN_OP_BATCH_MATMUL, 1, 4, KILN_FLOAT32, KILN_FLOAT32, bmm_prepare, bmm_invoke},
    {KILN_OP_AVERAGE_POOL_2D, 1, 3, KILN_FLOAT32, KILN_ANY, pool_prepare, avgpool_invoke},
    {KILN_OP_MAX_POOL_2D, 1, 3, KILN_FLOAT32, KILN_ANY, pool_prepare, maxpool_invoke},
    {-1, 0, 0, 0, 0, NULL, NULL},
};
