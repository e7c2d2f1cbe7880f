/* qconv_avx2.c: AVX2 requantization (8 outputs at a time), a pixel-blocked 8-bit dot product and
 * a register-blocked depthwise tap loop for src/kernels/ref/conv_q.c (contracts in x86/qdot.h).
 * Bit-exact with quant.h: TFLite's MultiplyByQuantizedMultiplier and XNNPACK's fp32 rule. */
#include "kernels/x86/qdot.h"

#include <immintrin.h>
#include <string.h>

#if defined(__GNUC__)
#define KILN_INLINE inline __attribute__((always_inline))
#else
#define KILN_INLINE inline
#endif

/* ---- requantization ------------------------------------------------------------------------ */

/* Stores 8 int32 values already clamped to the 8-bit range as bytes. */
static inline void st8(void *out, __m256i v, int u8) {
    const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    const __m128i b = u8 ? _mm_packus_epi16(w16, w16) : _mm_packs_epi16(w16, w16);
    _mm_storel_epi64((__m128i *)out, b);
}

/* acc + bias with int32 wrapping (TFLite's int32 accumulator). */
static inline __m256i ld_acc(const int32_t *acc, const int32_t *bias, int32_t c) {
    const __m256i a = _mm256_loadu_si256((const __m256i *)(acc + c));
    return bias ? _mm256_add_epi32(a, _mm256_loadu_si256((const __m256i *)(bias + c))) : a;
}

/* XNNPACK's fp32 rule (kiln_requant_fp32): float(acc) * scale, clamped in float to
 * [lo - zp, hi - zp], converted with round to nearest even (cvtps under the default MXCSR, as
 * lrintf), plus zp. No fused multiply-add: the product is rounded to float first. */
static inline __m256i rq_fp32_8(__m256i a, __m256 s, __m256 flo, __m256 fhi, __m256i zp) {
    __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(a), s);
    f = _mm256_min_ps(_mm256_max_ps(f, flo), fhi);
    return _mm256_add_epi32(_mm256_cvtps_epi32(f), zp);
}

void kiln__qrq_fp32_avx2(const int32_t *acc, const int32_t *bias, const float *scale, int32_t n,
                         int32_t zp, int32_t lo, int32_t hi, void *out, int u8) {
    const __m256 flo = _mm256_set1_ps((float)(lo - zp)), fhi = _mm256_set1_ps((float)(hi - zp));
    const __m256i zv = _mm256_set1_epi32(zp);
    uint8_t *o = out;
    int32_t c = 0;
    for (; c + 8 <= n; c += 8)
        st8(o + c, rq_fp32_8(ld_acc(acc, bias, c), _mm256_loadu_ps(scale + c), flo, fhi, zv), u8);
    if (c < n) {
        int32_t a[8] = {0}, bb[8] = {0};
        float s[8] = {0};
        uint8_t r[8];
        memcpy(a, acc + c, sizeof(int32_t) * (size_t)(n - c));
        if (bias) memcpy(bb, bias + c, sizeof(int32_t) * (size_t)(n - c));
        memcpy(s, scale + c, sizeof(float) * (size_t)(n - c));
        st8(r, rq_fp32_8(ld_acc(a, bb, 0), _mm256_loadu_ps(s), flo, fhi, zv), u8);
        memcpy(o + c, r, (size_t)(n - c));
    }
}

/* TFLite's MultiplyByQuantizedMultiplier (kiln_mbqm) on 8 lanes:
 *  - x << left with int32 wrapping;
 *  - SaturatingRoundingDoublingHighMul: gemmlowp's (ab + nudge) / 2^31 truncated equals
 *    floor((ab + 2^30) / 2^31) for either sign of ab (for ab < 0 the truncation adds 2^31 - 1
 *    to the nudge 1 - 2^30). The only saturating case needs m == INT32_MIN, which a Q31
 *    multiplier in [2^30, 2^31) or 0 never is. Bits 31..62 of the int64 sum are the result,
 *    so a logical 64-bit shift (AVX2 has no arithmetic one) gives them as well;
 *  - RoundingDivideByPOT: (x >> e) + (remainder > (mask >> 1) + (x < 0)). */
static inline __m256i mbqm8(__m256i x, __m256i m, __m256i sh) {
    const __m256i zero = _mm256_setzero_si256(), c31 = _mm256_set1_epi32(31);
    const __m256i left = _mm256_min_epi32(_mm256_max_epi32(sh, zero), c31);
    const __m256i right = _mm256_min_epi32(_mm256_max_epi32(_mm256_sub_epi32(zero, sh), zero), c31);
    x = _mm256_sllv_epi32(x, left);
    const __m256i nudge = _mm256_set1_epi64x((int64_t)1 << 30);
    const __m256i pe = _mm256_add_epi64(_mm256_mul_epi32(x, m), nudge);
    const __m256i po = _mm256_add_epi64(
        _mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(m, 32)), nudge);
    const __m256i he = _mm256_srli_epi64(pe, 31); /* low half of each even lane */
    const __m256i ho = _mm256_slli_epi64(po, 1);  /* high half of each odd lane */
    const __m256i h = _mm256_blend_epi32(he, ho, 0xAA);
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
    const __m256i rem = _mm256_and_si256(h, mask);
    /* (mask >> 1) + (h < 0): srai gives -1 for negative h */
    const __m256i thr = _mm256_sub_epi32(_mm256_srli_epi32(mask, 1), _mm256_srai_epi32(h, 31));
    return _mm256_sub_epi32(_mm256_srav_epi32(h, right), _mm256_cmpgt_epi32(rem, thr));
}

static inline __m256i rq_q31_8(__m256i a, __m256i m, __m256i sh, __m256i zp, __m256i lo,
                               __m256i hi) {
    const __m256i v = _mm256_add_epi32(mbqm8(a, m, sh), zp);
    return _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
}

void kiln__qrq_q31_avx2(const int32_t *acc, const int32_t *bias, const int32_t *mult,
                        const int32_t *shift, int32_t n, int32_t zp, int32_t lo, int32_t hi,
                        void *out, int u8) {
    const __m256i zv = _mm256_set1_epi32(zp), lv = _mm256_set1_epi32(lo);
    const __m256i hv = _mm256_set1_epi32(hi);
    uint8_t *o = out;
    int32_t c = 0;
    for (; c + 8 <= n; c += 8)
        st8(o + c,
            rq_q31_8(ld_acc(acc, bias, c), _mm256_loadu_si256((const __m256i *)(mult + c)),
                     _mm256_loadu_si256((const __m256i *)(shift + c)), zv, lv, hv),
            u8);
    if (c < n) {
        int32_t a[8] = {0}, bb[8] = {0}, m[8] = {0}, s[8] = {0};
        uint8_t r[8];
        memcpy(a, acc + c, sizeof(int32_t) * (size_t)(n - c));
        if (bias) memcpy(bb, bias + c, sizeof(int32_t) * (size_t)(n - c));
        memcpy(m, mult + c, sizeof(int32_t) * (size_t)(n - c));
        memcpy(s, shift + c, sizeof(int32_t) * (size_t)(n - c));
        st8(r,
            rq_q31_8(ld_acc(a, bb, 0), _mm256_loadu_si256((const __m256i *)m),
                     _mm256_loadu_si256((const __m256i *)s), zv, lv, hv),
            u8);
        memcpy(o + c, r, (size_t)(n - c));
    }
}

void kiln__qmbqm_avx2(const int32_t *x, const int32_t *mult, const int32_t *shift, int32_t n,
                      int32_t *y) {
    int32_t c = 0;
    for (; c + 8 <= n; c += 8)
        _mm256_storeu_si256((__m256i *)(y + c),
                            mbqm8(_mm256_loadu_si256((const __m256i *)(x + c)),
                                  _mm256_loadu_si256((const __m256i *)(mult + c)),
                                  _mm256_loadu_si256((const __m256i *)(shift + c))));
    if (c < n) {
        int32_t a[8] = {0}, m[8] = {0}, s[8] = {0}, r[8];
        memcpy(a, x + c, sizeof(int32_t) * (size_t)(n - c));
        memcpy(m, mult + c, sizeof(int32_t) * (size_t)(n - c));
        memcpy(s, shift + c, sizeof(int32_t) * (size_t)(n - c));
        _mm256_storeu_si256((__m256i *)r, mbqm8(_mm256_loadu_si256((const __m256i *)a),
                                                _mm256_loadu_si256((const __m256i *)m),
                                                _mm256_loadu_si256((const __m256i *)s)));
        memcpy(y + c, r, sizeof(int32_t) * (size_t)(n - c));
    }
}

static inline __m256i ld16x_u8(const uint8_t *x, __m256i off) {
    return _mm256_add_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)x)), off);
}

static inline __m256i ld16x_i8(const uint8_t *x, __m256i off) {
    return _mm256_add_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x)), off);
}

/* ---- pixel-blocked dot products ------------------------------------------------------------ */

/* The four 8-lane sums of a, b, c, d as lanes 0..3. */
static inline __m128i hsum4(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_hadd_epi32(a, b);
    const __m256i cd = _mm256_hadd_epi32(c, d);
    const __m256i abcd = _mm256_hadd_epi32(ab, cd);
    return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

/* u8: 0 int8 weights, 1 uint8 plus off, 2 uint8 as stored. */
static inline __m256i wld16(const void *w, int u8, __m256i off) {
    const __m128i b = _mm_loadu_si128((const __m128i *)w);
    if (u8 == 2) return _mm256_cvtepu8_epi16(b); /* offset applied to the sums instead */
    return u8 ? _mm256_add_epi16(_mm256_cvtepu8_epi16(b), off) : _mm256_cvtepi8_epi16(b);
}

static inline __m256i wld8(const void *w, int u8, __m256i off) {
    const __m128i b = _mm_loadl_epi64((const __m128i *)w);
    const __m128i v = u8 == 2 ? _mm_cvtepu8_epi16(b)
                      : u8    ? _mm_add_epi16(_mm_cvtepu8_epi16(b), _mm256_castsi256_si128(off))
                              : _mm_cvtepi8_epi16(b);
    return _mm256_zextsi128_si256(v);
}

static inline int32_t wld1(const void *w, int32_t i, int u8, int32_t off) {
    return u8 ? (int32_t)((const uint8_t *)w)[i] + off : (int32_t)((const int8_t *)w)[i];
}

static inline __m256i pld8(const int16_t *p) {
    return _mm256_zextsi128_si256(_mm_loadu_si128((const __m128i *)p));
}

#define MAC(a, wv, pp) a = _mm256_add_epi32(a, _mm256_madd_epi16(wv, pp))

/* Four pixels by two rows: each widened weight vector serves four pixels. */
static KILN_INLINE void px4_rows2(const void *w0, const void *w1, int32_t k, int u8, int32_t w_off,
                                  const int16_t *const *p, const int32_t *corr, int32_t *acc,
                                  int32_t acc_stride) {
    const __m256i o16 = _mm256_set1_epi16((int16_t)w_off);
    const int16_t *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3];
    const uint8_t *b0 = w0, *b1 = w1;
    __m256i a00 = _mm256_setzero_si256(), a01 = a00, a02 = a00, a03 = a00;
    __m256i a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    int32_t i = 0;
    for (; i + 16 <= k; i += 16) {
        const __m256i x0 = wld16(b0 + i, u8, o16), x1 = wld16(b1 + i, u8, o16);
        __m256i pv = _mm256_loadu_si256((const __m256i *)(p0 + i));
        MAC(a00, x0, pv);
        MAC(a10, x1, pv);
        pv = _mm256_loadu_si256((const __m256i *)(p1 + i));
        MAC(a01, x0, pv);
        MAC(a11, x1, pv);
        pv = _mm256_loadu_si256((const __m256i *)(p2 + i));
        MAC(a02, x0, pv);
        MAC(a12, x1, pv);
        pv = _mm256_loadu_si256((const __m256i *)(p3 + i));
        MAC(a03, x0, pv);
        MAC(a13, x1, pv);
    }
    if (i + 8 <= k) {
        const __m256i x0 = wld8(b0 + i, u8, o16), x1 = wld8(b1 + i, u8, o16);
        __m256i pv = pld8(p0 + i);
        MAC(a00, x0, pv);
        MAC(a10, x1, pv);
        pv = pld8(p1 + i);
        MAC(a01, x0, pv);
        MAC(a11, x1, pv);
        pv = pld8(p2 + i);
        MAC(a02, x0, pv);
        MAC(a12, x1, pv);
        pv = pld8(p3 + i);
        MAC(a03, x0, pv);
        MAC(a13, x1, pv);
        i += 8;
    }
    int32_t s0[4], s1[4];
    _mm_storeu_si128((__m128i *)s0, hsum4(a00, a01, a02, a03));
    _mm_storeu_si128((__m128i *)s1, hsum4(a10, a11, a12, a13));
    for (; i < k; i++) {
        const int32_t v0 = wld1(w0, i, u8, w_off), v1 = wld1(w1, i, u8, w_off);
        s0[0] += v0 * p0[i];
        s1[0] += v1 * p0[i];
        s0[1] += v0 * p1[i];
        s1[1] += v1 * p1[i];
        s0[2] += v0 * p2[i];
        s1[2] += v1 * p2[i];
        s0[3] += v0 * p3[i];
        s1[3] += v1 * p3[i];
    }
    for (int j = 0; j < 4; j++) {
        acc[j * acc_stride] = s0[j] + corr[j];
        acc[j * acc_stride + 1] = s1[j] + corr[j];
    }
}

/* Four pixels by one row. */
static KILN_INLINE void px4_rows1(const void *w0, int32_t k, int u8, int32_t w_off,
                                  const int16_t *const *p, const int32_t *corr, int32_t *acc,
                                  int32_t acc_stride) {
    const __m256i o16 = _mm256_set1_epi16((int16_t)w_off);
    const int16_t *p0 = p[0], *p1 = p[1], *p2 = p[2], *p3 = p[3];
    const uint8_t *b0 = w0;
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    int32_t i = 0;
    for (; i + 16 <= k; i += 16) {
        const __m256i x0 = wld16(b0 + i, u8, o16);
        MAC(a0, x0, _mm256_loadu_si256((const __m256i *)(p0 + i)));
        MAC(a1, x0, _mm256_loadu_si256((const __m256i *)(p1 + i)));
        MAC(a2, x0, _mm256_loadu_si256((const __m256i *)(p2 + i)));
        MAC(a3, x0, _mm256_loadu_si256((const __m256i *)(p3 + i)));
    }
    if (i + 8 <= k) {
        const __m256i x0 = wld8(b0 + i, u8, o16);
        MAC(a0, x0, pld8(p0 + i));
        MAC(a1, x0, pld8(p1 + i));
        MAC(a2, x0, pld8(p2 + i));
        MAC(a3, x0, pld8(p3 + i));
        i += 8;
    }
    int32_t s[4];
    _mm_storeu_si128((__m128i *)s, hsum4(a0, a1, a2, a3));
    for (; i < k; i++) {
        const int32_t v0 = wld1(w0, i, u8, w_off);
        s[0] += v0 * p0[i];
        s[1] += v0 * p1[i];
        s[2] += v0 * p2[i];
        s[3] += v0 * p3[i];
    }
    for (int j = 0; j < 4; j++)
        acc[j * acc_stride] = s[j] + corr[j];
}

/* For uint8 weights sum (w + w_off) * p = sum w * p + w_off * sum p: the offset is applied
 * once per pixel instead of once per weight. Each part is within +-255 * 255 * 2048, and so
 * is the total: int32 holds all three exactly. */
static KILN_INLINE void px4_rows(const void *w, int u8, int32_t w_off, int64_t w_stride, int32_t k,
                                 int32_t n_rows, const int16_t *const *p, int32_t *acc,
                                 int32_t acc_stride) {
    const uint8_t *wb = w;
    int32_t corr[4] = {0, 0, 0, 0};
    if (u8) {
        for (int j = 0; j < 4; j++) {
            __m256i sv = _mm256_setzero_si256();
            const __m256i ones = _mm256_set1_epi16(1);
            int32_t i = 0;
            for (; i + 16 <= k; i += 16)
                sv = _mm256_add_epi32(
                    sv, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(p[j] + i)), ones));
            __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sv), _mm256_extracti128_si256(sv, 1));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
            int32_t t = _mm_cvtsi128_si32(s4);
            for (; i < k; i++)
                t += p[j][i];
            corr[j] = w_off * t;
        }
    }
    const int mode = u8 ? 2 : 0;
    int32_t r = 0;
    for (; r + 2 <= n_rows; r += 2)
        px4_rows2(wb + r * w_stride, wb + (r + 1) * w_stride, k, mode, 0, p, corr, acc + r,
                  acc_stride);
    if (r < n_rows) px4_rows1(wb + r * w_stride, k, mode, 0, p, corr, acc + r, acc_stride);
}

void kiln__qdot_px4_i8_avx2(const int8_t *w, int64_t w_stride, int32_t k, int32_t n_rows,
                            const int16_t *const *p, int32_t *acc, int32_t acc_stride) {
    px4_rows(w, 0, 0, w_stride, k, n_rows, p, acc, acc_stride);
}

void kiln__qdot_px4_u8_avx2(const uint8_t *w, int32_t w_off, int64_t w_stride, int32_t k,
                            int32_t n_rows, const int16_t *const *p, int32_t *acc,
                            int32_t acc_stride) {
    px4_rows(w, 1, w_off, w_stride, k, n_rows, p, acc, acc_stride);
}

/* out[i] = x[i] + off as int16 (int8, or uint8 when u8), i < n. */
void kiln__qwiden_avx2(const void *x, int u8, int32_t off, int32_t n, int16_t *out) {
    const __m256i o = _mm256_set1_epi16((int16_t)off);
    const uint8_t *xb = x;
    int32_t i = 0;
    if (u8)
        for (; i + 16 <= n; i += 16)
            _mm256_storeu_si256((__m256i *)(out + i), ld16x_u8(xb + i, o));
    else
        for (; i + 16 <= n; i += 16)
            _mm256_storeu_si256((__m256i *)(out + i), ld16x_i8(xb + i, o));
    for (; i < n; i++)
        out[i] = (int16_t)((u8 ? (int32_t)xb[i] : (int32_t)((const int8_t *)x)[i]) + off);
}

/* ---- depthwise taps ------------------------------------------------------------------------ */

/* 16 values as int16 plus an offset. */
static inline __m256i ld16x(const void *x, int u8, __m256i off) {
    const __m128i b = _mm_loadu_si128((const __m128i *)x);
    return _mm256_add_epi16(u8 ? _mm256_cvtepu8_epi16(b) : _mm256_cvtepi8_epi16(b), off);
}

/* Pairs of taps interleaved per channel and summed by madd: each product is at most 255 * 255,
 * two of them fit int32. unpacklo/hi work within 128-bit halves, so the two sums hold
 * channels {0-3, 8-11} and {4-7, 12-15}; the permutes at the end restore the order. */
static KILN_INLINE void dw_taps(const void *const *xp, const void *const *wp, int32_t ntaps, int u8,
                                int32_t w_off, int32_t x_off, int32_t n, int32_t *acc) {
#define X(t) ((const uint8_t *)xp[t])
#define W(t) ((const uint8_t *)wp[t])
    const __m256i wo = _mm256_set1_epi16((int16_t)w_off), xo = _mm256_set1_epi16((int16_t)x_off);
    int32_t c = 0;
    for (; c + 16 <= n; c += 16) {
        __m256i lo = _mm256_setzero_si256(), hi = lo;
        int32_t t = 0;
        for (; t + 2 <= ntaps; t += 2) {
            const __m256i x0 = ld16x(X(t) + c, u8, xo), x1 = ld16x(X(t + 1) + c, u8, xo);
            const __m256i w0 = ld16x(W(t) + c, u8, wo), w1 = ld16x(W(t + 1) + c, u8, wo);
            lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, x1),
                                                        _mm256_unpacklo_epi16(w0, w1)));
            hi = _mm256_add_epi32(hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, x1),
                                                        _mm256_unpackhi_epi16(w0, w1)));
        }
        if (t < ntaps) {
            const __m256i x0 = ld16x(X(t) + c, u8, xo), w0 = ld16x(W(t) + c, u8, wo);
            const __m256i z = _mm256_setzero_si256();
            lo = _mm256_add_epi32(
                lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, z), _mm256_unpacklo_epi16(w0, z)));
            hi = _mm256_add_epi32(
                hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, z), _mm256_unpackhi_epi16(w0, z)));
        }
        _mm256_storeu_si256((__m256i *)(acc + c), _mm256_permute2x128_si256(lo, hi, 0x20));
        _mm256_storeu_si256((__m256i *)(acc + c + 8), _mm256_permute2x128_si256(lo, hi, 0x31));
    }
    for (; c < n; c++) {
        int32_t s = 0;
        for (int32_t t = 0; t < ntaps; t++) {
            const int32_t xv = u8 ? (int32_t)X(t)[c] : (int32_t)((const int8_t *)xp[t])[c];
            const int32_t wv = u8 ? (int32_t)W(t)[c] + w_off : (int32_t)((const int8_t *)wp[t])[c];
            s += wv * (xv + x_off);
        }
        acc[c] = s;
    }
#undef X
#undef W
}

void kiln__qdw_taps_i8_avx2(const void *const *x, const void *const *w, int32_t ntaps,
                            int32_t x_off, int32_t n, int32_t *acc) {
    dw_taps(x, w, ntaps, 0, 0, x_off, n, acc);
}

void kiln__qdw_taps_u8_avx2(const void *const *x, const void *const *w, int32_t ntaps,
                            int32_t w_off, int32_t x_off, int32_t n, int32_t *acc) {
    dw_taps(x, w, ntaps, 1, w_off, x_off, n, acc);
}

/* Two output pixels sharing every tap's weights (the second pixel's inputs x_step elements
 * after the first's): the widened, interleaved weights serve both. */
static KILN_INLINE void dw_taps2(const void *const *xp, const void *const *wp, int32_t ntaps,
                                 int u8, int32_t w_off, int32_t x_off, int64_t x_step, int32_t n,
                                 int32_t *acc0, int32_t *acc1) {
#define X(t) ((const uint8_t *)xp[t])
#define W(t) ((const uint8_t *)wp[t])
    const __m256i wo = _mm256_set1_epi16((int16_t)w_off), xo = _mm256_set1_epi16((int16_t)x_off);
    const __m256i z = _mm256_setzero_si256();
    int32_t c = 0;
    for (; c + 16 <= n; c += 16) {
        __m256i lo0 = z, hi0 = z, lo1 = z, hi1 = z;
        for (int32_t t = 0; t < ntaps; t += 2) {
            const int two = t + 1 < ntaps;
            const __m256i w0 = ld16x(W(t) + c, u8, wo);
            const __m256i w1 = two ? ld16x(W(t + 1) + c, u8, wo) : z;
            const __m256i wl = _mm256_unpacklo_epi16(w0, w1), wh = _mm256_unpackhi_epi16(w0, w1);
            const uint8_t *a = X(t) + c, *bb = two ? X(t + 1) + c : NULL;
            __m256i x0 = ld16x(a, u8, xo), x1 = two ? ld16x(bb, u8, xo) : z;
            lo0 = _mm256_add_epi32(lo0, _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, x1), wl));
            hi0 = _mm256_add_epi32(hi0, _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, x1), wh));
            x0 = ld16x(a + x_step, u8, xo);
            x1 = two ? ld16x(bb + x_step, u8, xo) : z;
            lo1 = _mm256_add_epi32(lo1, _mm256_madd_epi16(_mm256_unpacklo_epi16(x0, x1), wl));
            hi1 = _mm256_add_epi32(hi1, _mm256_madd_epi16(_mm256_unpackhi_epi16(x0, x1), wh));
        }
        _mm256_storeu_si256((__m256i *)(acc0 + c), _mm256_permute2x128_si256(lo0, hi0, 0x20));
        _mm256_storeu_si256((__m256i *)(acc0 + c + 8), _mm256_permute2x128_si256(lo0, hi0, 0x31));
        _mm256_storeu_si256((__m256i *)(acc1 + c), _mm256_permute2x128_si256(lo1, hi1, 0x20));
        _mm256_storeu_si256((__m256i *)(acc1 + c + 8), _mm256_permute2x128_si256(lo1, hi1, 0x31));
    }
    for (; c < n; c++) {
        int32_t s0 = 0, s1 = 0;
        for (int32_t t = 0; t < ntaps; t++) {
            const int32_t wv = u8 ? (int32_t)W(t)[c] + w_off : (int32_t)((const int8_t *)wp[t])[c];
            const int32_t x0 = u8 ? (int32_t)X(t)[c] : (int32_t)((const int8_t *)xp[t])[c];
            const int32_t x1 =
                u8 ? (int32_t)X(t)[c + x_step] : (int32_t)((const int8_t *)xp[t])[c + x_step];
            s0 += wv * (x0 + x_off);
            s1 += wv * (x1 + x_off);
        }
        acc0[c] = s0;
        acc1[c] = s1;
    }
#undef X
#undef W
}

void kiln__qdw_taps2_i8_avx2(const void *const *x, const void *const *w, int32_t ntaps,
                             int32_t x_off, int64_t x_step, int32_t n, int32_t *acc0,
                             int32_t *acc1) {
    dw_taps2(x, w, ntaps, 0, 0, x_off, x_step, n, acc0, acc1);
}

void kiln__qdw_taps2_u8_avx2(const void *const *x, const void *const *w, int32_t ntaps,
                             int32_t w_off, int32_t x_off, int64_t x_step, int32_t n, int32_t *acc0,
                             int32_t *acc1) {
    dw_taps2(x, w, ntaps, 1, w_off, x_off, x_step, n, acc0, acc1);
}
