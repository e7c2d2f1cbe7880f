/* shape_resize.c: RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR, RFFT2D, COMPLEX_ABS. Semantics of
 * TFLite's reference kernels (reference_ops ResizeBilinear / ResizeBilinearInteger with its
 * 10-bit fixed point for int8/int16, ResizeNearestNeighbor, tf.signal.rfft2d). */
#include "kernels/ref/shape_common.h"

#include <math.h>

typedef struct resize_data {
    int32_t align_corners, half_pixel;
} resize_data;

static kiln_status prep_resize(kiln_kctx *ctx, kiln_node *node, int bilinear) {
    const char *op = bilinear ? "RESIZE_BILINEAR" : "RESIZE_NEAREST_NEIGHBOR";
    kiln_status s = kiln__sh_arity(ctx, node, 2, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0], *sz = node->in[1];
    kiln_tensor *out = node->out[0];
    if (in->type != out->type)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s output type %s differs from input type %s", op,
                         kiln_dtype_name(out->type), kiln_dtype_name(in->type));
    if (bilinear ? !(in->type == KILN_FLOAT32 || in->type == KILN_INT8 || in->type == KILN_UINT8 ||
                     in->type == KILN_INT16)
                 : !sh_movable(in->type))
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "%s of %s is not supported", op,
                         kiln_dtype_name(in->type));
    if (in->rank != 4)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s input must be 4-D, got %d dims", op,
                         (int)in->rank);
    if (sz->type != KILN_INT32 || sz->rank != 1 || sz->dims[0] != 2)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s size must be int32 [2]", op);
    if ((s = kiln__sh_known_int(ctx, sz, "size"))) return s;
    const int32_t oh = ((const int32_t *)sz->data)[0], ow = ((const int32_t *)sz->data)[1];
    if (oh < 1 || ow < 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s size [%d, %d] must be positive", op, (int)oh,
                         (int)ow);
    resize_data *rd = (resize_data *)kiln_kalloc(ctx, sizeof *rd);
    if (!rd) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    rd->align_corners = kiln_opt_i8(node, bilinear ? 2 : 0, 0) != 0;
    rd->half_pixel = kiln_opt_i8(node, bilinear ? 3 : 1, 0) != 0;
    if (bilinear && rd->align_corners && rd->half_pixel)
        return kiln_kerr(ctx, KILN_ERR_MODEL,
                         "%s: align_corners and half_pixel_centers cannot both be set", op);
    node->data = rd;
    const int32_t dims[4] = {in->dims[0], oh, ow, in->dims[3]};
    return kiln_kresize(ctx, out, 4, dims);
}

kiln_status kiln__sh_prep_resize_bilinear(kiln_kctx *ctx, kiln_node *node) {
    return prep_resize(ctx, node, 1);
}

kiln_status kiln__sh_prep_resize_nearest(kiln_kctx *ctx, kiln_node *node) {
    return prep_resize(ctx, node, 0);
}

static void interp_f(int32_t v, float scale, int half, int32_t n, float *sv, int32_t *lo,
                     int32_t *hi) {
    *sv = half ? ((float)v + 0.5f) * scale - 0.5f : (float)v * scale;
    const int32_t f = (int32_t)floorf(*sv), c = (int32_t)ceilf(*sv);
    *lo = f > 0 ? f : 0;
    *hi = c < n - 1 ? c : n - 1;
}

static void interp_i(int32_t v, int32_t scale10, int half, int32_t n, int64_t *sv, int32_t *lo,
                     int32_t *hi) {
    *sv = half ? (int64_t)v * scale10 + scale10 / 2 - (1 << 9) : (int64_t)v * scale10;
    /* C division truncates toward zero, as TFLite's does. */
    const int64_t f = *sv / (1 << 10), c = (*sv + (1 << 10) - 1) / (1 << 10);
    *lo = f > 0 ? (int32_t)f : 0;
    *hi = c < n - 1 ? (int32_t)c : n - 1;
}

static float get_f(const kiln_tensor *t, int64_t i) {
    return t->type == KILN_FLOAT32 ? ((const float *)t->data)[i]
                                   : (float)((const uint8_t *)t->data)[i];
}

static int64_t get_i(const kiln_tensor *t, int64_t i) {
    return t->type == KILN_INT8 ? ((const int8_t *)t->data)[i] : ((const int16_t *)t->data)[i];
}

/* XNNPACK's resize-bilinear indexing for 8-bit data (indirection_init_resize_bilinear2d_hwc_q11):
 * source coordinate in float, clamped, its fraction rounded to 11 bits. */
static void q11_axis(int32_t o, int32_t in, int32_t out, int align, int half, int32_t *lo,
                     int32_t *hi, int32_t *alpha) {
    const int32_t adj = align && out != 1;
    const float scale = (float)(in - adj) / (float)(out - adj);
    float f = (float)o * scale;
    if (half && !align) {
        f = (float)o * scale + (0.5f * scale - 0.5f);
        f = f < 0.0f ? 0.0f : (f > (float)(in - 1) ? (float)(in - 1) : f);
    }
    *lo = (int32_t)f;
    if (*lo > in - 1) *lo = in - 1;
    *hi = *lo + 1 < in - 1 ? *lo + 1 : in - 1;
    *alpha = (int32_t)lrintf((f - (float)*lo) * 2048.0f);
}

/* The litert dialect: the official runtime hands 8-bit RESIZE_BILINEAR with equal input and
 * output quantization to XNNPACK, whose ibilinear kernels interpolate in Q11 fixed point. */
static void resize_bilinear_q11(const resize_data *rd, const kiln_tensor *in, kiln_tensor *out) {
    const int32_t nb = in->dims[0], ih = in->dims[1], iw = in->dims[2], c = in->dims[3];
    const int32_t oh = out->dims[1], ow = out->dims[2];
    const int u8 = in->type == KILN_UINT8;
    int64_t o = 0;
    for (int32_t b = 0; b < nb; b++)
        for (int32_t y = 0; y < oh; y++) {
            int32_t y0, y1, ay;
            q11_axis(y, ih, oh, rd->align_corners, rd->half_pixel, &y0, &y1, &ay);
            for (int32_t x = 0; x < ow; x++) {
                int32_t x0, x1, ax;
                q11_axis(x, iw, ow, rd->align_corners, rd->half_pixel, &x0, &x1, &ax);
                const int64_t r0 = ((int64_t)b * ih + y0) * iw, r1 = ((int64_t)b * ih + y1) * iw;
                for (int32_t ch = 0; ch < c; ch++, o++) {
                    int64_t tl, tr, bl, br;
                    if (u8) {
                        const uint8_t *p = (const uint8_t *)in->data;
                        tl = p[(r0 + x0) * c + ch], tr = p[(r0 + x1) * c + ch];
                        bl = p[(r1 + x0) * c + ch], br = p[(r1 + x1) * c + ch];
                    } else {
                        const int8_t *p = (const int8_t *)in->data;
                        tl = p[(r0 + x0) * c + ch], tr = p[(r0 + x1) * c + ch];
                        bl = p[(r1 + x0) * c + ch], br = p[(r1 + x1) * c + ch];
                    }
                    const int64_t vt = tl * 2048 + (tr - tl) * ax;
                    const int64_t vb = bl * 2048 + (br - bl) * ax;
                    const int64_t acc = vt * 2048 + (vb - vt) * ay;
                    /* Arithmetic shift with rounding, as math_asr_s32(acc + 2^21, 22). */
                    const int64_t v = (acc + (1 << 21)) >> 22;
                    if (u8)
                        ((uint8_t *)out->data)[o] = (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
                    else
                        ((int8_t *)out->data)[o] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
                }
            }
        }
}

kiln_status kiln__sh_eval_resize_bilinear(kiln_kctx *ctx, kiln_node *node) {
    const resize_data *rd = (const resize_data *)node->data;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *out = node->out[0];
    const int32_t nb = in->dims[0], ih = in->dims[1], iw = in->dims[2], c = in->dims[3];
    const int32_t oh = out->dims[1], ow = out->dims[2];
    if (ih == 0 || iw == 0) return KILN_OK;
    if (kiln_karith(ctx) == KILN_ARITH_LITERT &&
        (in->type == KILN_INT8 || in->type == KILN_UINT8) && sh_same_quant(in, out)) {
        resize_bilinear_q11(rd, in, out);
        return KILN_OK;
    }
#define IDX(b, y, x, ch) ((((int64_t)(b)*ih + (y)) * iw + (x)) * c + (ch))
    int64_t o = 0;
    if (in->type == KILN_FLOAT32 || in->type == KILN_UINT8) {
        float hs = (float)ih / (float)oh, ws = (float)iw / (float)ow;
        if (rd->align_corners && oh > 1) hs = (float)(ih - 1) / (float)(oh - 1);
        if (rd->align_corners && ow > 1) ws = (float)(iw - 1) / (float)(ow - 1);
        for (int32_t b = 0; b < nb; b++)
            for (int32_t y = 0; y < oh; y++) {
                float iy;
                int32_t y0, y1;
                interp_f(y, hs, rd->half_pixel, ih, &iy, &y0, &y1);
                for (int32_t x = 0; x < ow; x++) {
                    float ix;
                    int32_t x0, x1;
                    interp_f(x, ws, rd->half_pixel, iw, &ix, &x0, &x1);
                    const float dy = iy - (float)y0, dx = ix - (float)x0;
                    for (int32_t ch = 0; ch < c; ch++, o++) {
                        const float v = get_f(in, IDX(b, y0, x0, ch)) * (1 - dy) * (1 - dx) +
                                        get_f(in, IDX(b, y1, x0, ch)) * dy * (1 - dx) +
                                        get_f(in, IDX(b, y0, x1, ch)) * (1 - dy) * dx +
                                        get_f(in, IDX(b, y1, x1, ch)) * dy * dx;
                        if (in->type == KILN_FLOAT32) {
                            ((float *)out->data)[o] = v;
                        } else {
                            /* The reference casts (truncates); clamp so the cast is defined. */
                            const float t = v < 0.0f ? 0.0f : (v > 255.0f ? 255.0f : v);
                            ((uint8_t *)out->data)[o] = (uint8_t)t;
                        }
                    }
                }
            }
        return KILN_OK;
    }
    /* int8/int16: TFLite's ResizeBilinearInteger, 10 fractional bits per axis. */
    int32_t hs = (int32_t)(((int64_t)(1 << 10) * ih + oh / 2) / oh);
    int32_t ws = (int32_t)(((int64_t)(1 << 10) * iw + ow / 2) / ow);
    if (rd->align_corners && oh > 1)
        hs = (int32_t)(((int64_t)(1 << 10) * (ih - 1) + (oh - 1) / 2) / (oh - 1));
    if (rd->align_corners && ow > 1)
        ws = (int32_t)(((int64_t)(1 << 10) * (iw - 1) + (ow - 1) / 2) / (ow - 1));
    for (int32_t b = 0; b < nb; b++)
        for (int32_t y = 0; y < oh; y++) {
            int64_t iy;
            int32_t y0, y1;
            interp_i(y, hs, rd->half_pixel, ih, &iy, &y0, &y1);
            const int64_t wy1 = iy - (int64_t)(1 << 10) * y0, wy0 = (1 << 10) - wy1;
            for (int32_t x = 0; x < ow; x++) {
                int64_t ix;
                int32_t x0, x1;
                interp_i(x, ws, rd->half_pixel, iw, &ix, &x0, &x1);
                const int64_t wx1 = ix - (int64_t)(1 << 10) * x0, wx0 = (1 << 10) - wx1;
                for (int32_t ch = 0; ch < c; ch++, o++) {
                    const int64_t acc = get_i(in, IDX(b, y0, x0, ch)) * wy0 * wx0 +
                                        get_i(in, IDX(b, y1, x0, ch)) * wy1 * wx0 +
                                        get_i(in, IDX(b, y0, x1, ch)) * wy0 * wx1 +
                                        get_i(in, IDX(b, y1, x1, ch)) * wy1 * wx1;
                    const int64_t round = acc > 0 ? (1 << 19) : -(1 << 19);
                    int64_t v = (acc + round) / (1 << 20);
                    if (in->type == KILN_INT8) {
                        v = v < -128 ? -128 : (v > 127 ? 127 : v);
                        ((int8_t *)out->data)[o] = (int8_t)v;
                    } else {
                        v = v < -32768 ? -32768 : (v > 32767 ? 32767 : v);
                        ((int16_t *)out->data)[o] = (int16_t)v;
                    }
                }
            }
        }
#undef IDX
    return KILN_OK;
}

/* TFLite's GetNearestNeighbor. */
static int32_t nearest(int32_t v, int32_t in, int32_t out, int align, int half) {
    const float scale =
        (align && out > 1) ? (float)(in - 1) / (float)(out - 1) : (float)in / (float)out;
    const float offset = half ? 0.5f : 0.0f;
    const float f = ((float)v + offset) * scale;
    int32_t r = (int32_t)(align ? roundf(f) : floorf(f));
    if (r > in - 1) r = in - 1;
    if (half && r < 0) r = 0;
    return r < 0 ? 0 : r;
}

kiln_status kiln__sh_eval_resize_nearest(kiln_kctx *ctx, kiln_node *node) {
    const resize_data *rd = (const resize_data *)node->data;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *out = node->out[0];
    const int32_t nb = in->dims[0], ih = in->dims[1], iw = in->dims[2], c = in->dims[3];
    const int32_t oh = out->dims[1], ow = out->dims[2];
    const size_t es = kiln_dtype_size(in->type);
    if (ih == 0 || iw == 0 || c == 0) return KILN_OK;
    const uint8_t *src = (const uint8_t *)in->data;
    uint8_t *dst = (uint8_t *)out->data;
    const size_t row = (size_t)c * es;
    for (int32_t b = 0; b < nb; b++)
        for (int32_t y = 0; y < oh; y++) {
            const int32_t sy = nearest(y, ih, oh, rd->align_corners, rd->half_pixel);
            for (int32_t x = 0; x < ow; x++) {
                const int32_t sx = nearest(x, iw, ow, rd->align_corners, rd->half_pixel);
                memcpy(dst, src + (size_t)((((int64_t)b * ih + sy) * iw + sx)) * row, row);
                dst += row;
            }
        }
    return KILN_OK;
}

/* ---- RFFT2D ------------------------------------------------------------------------------- */

typedef struct fft_data {
    int32_t fh, fw;
    int32_t scratch;
} fft_data;

kiln_status kiln__sh_prep_rfft2d(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 2, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0], *fl = node->in[1];
    kiln_tensor *out = node->out[0];
    if (in->type != KILN_FLOAT32 || out->type != KILN_COMPLEX64)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "RFFT2D maps float32 to complex64");
    if (in->rank < 2) return kiln_kerr(ctx, KILN_ERR_MODEL, "RFFT2D input needs 2 dims");
    if (fl->type != KILN_INT32 || fl->rank != 1 || fl->dims[0] != 2)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "RFFT2D fft_length must be int32 [2]");
    if ((s = kiln__sh_known_int(ctx, fl, "RFFT2D fft_length"))) return s;
    fft_data *fd = (fft_data *)kiln_kalloc(ctx, sizeof *fd);
    if (!fd) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    fd->fh = ((const int32_t *)fl->data)[0];
    fd->fw = ((const int32_t *)fl->data)[1];
    for (int i = 0; i < 2; i++) {
        const int32_t v = i ? fd->fw : fd->fh;
        if (v < 1 || v > (1 << 20) || (v & (v - 1)))
            return kiln_kerr(ctx, KILN_ERR_MODEL, "RFFT2D fft_length %d must be a power of 2",
                             (int)v);
    }
    int32_t dims[KILN_MAX_RANK];
    memcpy(dims, in->dims, sizeof dims);
    dims[in->rank - 2] = fd->fh;
    dims[in->rank - 1] = fd->fw / 2 + 1;
    if ((s = kiln_kresize(ctx, out, in->rank, dims))) return s;
    /* A [fh][fw] complex work array plus one column. */
    const size_t bytes = ((size_t)fd->fh * (size_t)fd->fw + (size_t)fd->fh) * 2 * sizeof(double);
    fd->scratch = kiln_kscratch_request(ctx, bytes);
    if (fd->scratch < 0) return kiln_kerr(ctx, KILN_ERR_NOMEM, "RFFT2D scratch too large");
    node->data = fd;
    return KILN_OK;
}

/* In-place iterative radix-2 FFT of n complex values (interleaved re, im), stride in
 * complex elements; forward transform (exp(-2 pi i k n / N)). */
static void fft(double *a, int32_t n, int32_t stride) {
#define RE(i) a[2 * (size_t)(i) * (size_t)stride]
#define IM(i) a[2 * (size_t)(i) * (size_t)stride + 1]
    for (int32_t i = 1, j = 0; i < n; i++) {
        int32_t bit = n >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j ^= bit;
        if (i < j) {
            double t = RE(i);
            RE(i) = RE(j);
            RE(j) = t;
            t = IM(i);
            IM(i) = IM(j);
            IM(j) = t;
        }
    }
    for (int32_t len = 2; len <= n; len <<= 1) {
        const double ang = -2.0 * 3.14159265358979323846 / (double)len;
        for (int32_t k = 0; k < len / 2; k++) {
            const double wr = cos(ang * k), wi = sin(ang * k);
            for (int32_t i = k; i < n; i += len) {
                const int32_t j = i + len / 2;
                const double xr = RE(j) * wr - IM(j) * wi, xi = RE(j) * wi + IM(j) * wr;
                RE(j) = RE(i) - xr;
                IM(j) = IM(i) - xi;
                RE(i) += xr;
                IM(i) += xi;
            }
        }
    }
#undef RE
#undef IM
}

kiln_status kiln__sh_eval_rfft2d(kiln_kctx *ctx, kiln_node *node) {
    const fft_data *fd = (const fft_data *)node->data;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *out = node->out[0];
    const int32_t r = in->rank, ih = in->dims[r - 2], iw = in->dims[r - 1];
    const int32_t fh = fd->fh, fw = fd->fw, ow = fw / 2 + 1;
    int64_t batch = 1;
    for (int32_t d = 0; d < r - 2; d++)
        batch *= in->dims[d];
    double *w = (double *)kiln_kscratch(ctx, fd->scratch);
    const float *x = (const float *)in->data;
    float *o = (float *)out->data;
    for (int64_t b = 0; b < batch; b++) {
        /* Rows: the input cropped or zero-padded to [fh][fw], transformed along width. */
        for (int32_t y = 0; y < fh; y++) {
            double *row = w + 2 * (size_t)y * (size_t)fw;
            for (int32_t k = 0; k < fw; k++) {
                row[2 * k] = (y < ih && k < iw) ? (double)x[(b * ih + y) * iw + k] : 0.0;
                row[2 * k + 1] = 0.0;
            }
            fft(row, fw, 1);
        }
        /* Columns of the kept bins, transformed along height. */
        for (int32_t k = 0; k < ow; k++) {
            fft(w + 2 * (size_t)k, fh, fw);
            for (int32_t y = 0; y < fh; y++) {
                const double *v = w + 2 * ((size_t)y * (size_t)fw + (size_t)k);
                float *dst = o + 2 * ((b * fh + y) * ow + k);
                dst[0] = (float)v[0];
                dst[1] = (float)v[1];
            }
        }
    }
    return KILN_OK;
}

/* ---- COMPLEX_ABS -------------------------------------------------------------------------- */

kiln_status kiln__sh_prep_complex_abs(kiln_kctx *ctx, kiln_node *node) {
    kiln_status s = kiln__sh_arity(ctx, node, 1, 1);
    if (s) return s;
    const kiln_tensor *in = node->in[0];
    kiln_tensor *out = node->out[0];
    if (in->type != KILN_COMPLEX64 || out->type != KILN_FLOAT32)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "COMPLEX_ABS maps complex64 to float32");
    return kiln_kresize(ctx, out, in->rank, in->dims);
}

kiln_status kiln__sh_eval_complex_abs(kiln_kctx *ctx, kiln_node *node) {
    const float *x = (const float *)node->in[0]->data;
    float *o = (float *)node->out[0]->data;
    const int64_t n = kiln_numel(node->out[0]);
    for (int64_t i = 0; i < n; i++)
        o[i] = hypotf(x[2 * i], x[2 * i + 1]);
    return KILN_OK;
}
