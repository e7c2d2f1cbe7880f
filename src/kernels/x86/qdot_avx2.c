/* qdot_avx2.c: AVX2 integer dot products for the 8-bit conv / depthwise / fully connected
 * kernels (contracts in x86/qdot.h). Exact: int32 sums that cannot overflow, in any order. */
#include "kernels/x86/qdot.h"

#include <immintrin.h>

/* The four 8-lane sums of a, b, c, d as lanes 0..3. */
static inline __m128i hsum4(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_hadd_epi32(a, b);
    const __m256i cd = _mm256_hadd_epi32(c, d);
    const __m256i abcd = _mm256_hadd_epi32(ab, cd);
    return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

static inline int32_t hsum1(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* Widens 16 (or 8) weights to int16; the unsigned variant adds the weight offset. */
static inline __m256i ld16_i8(const int8_t *w, __m256i off) {
    (void)off;
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w));
}
static inline __m128i ld8_i8(const int8_t *w, __m128i off) {
    (void)off;
    return _mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)w));
}
static inline int32_t ld1_i8(const int8_t *w, int32_t off) {
    (void)off;
    return w[0];
}
static inline __m256i ld16_u8(const uint8_t *w, __m256i off) {
    return _mm256_add_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)w)), off);
}
static inline __m128i ld8_u8(const uint8_t *w, __m128i off) {
    return _mm_add_epi16(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)w)), off);
}
static inline int32_t ld1_u8(const uint8_t *w, int32_t off) {
    return (int32_t)w[0] + off;
}

#define MADD16(accv, wp) accv = _mm256_add_epi32(accv, _mm256_madd_epi16(LD16(wp, o16), pv))
#define MADD8(accv, wp)                                                                            \
    accv = _mm256_add_epi32(                                                                       \
        accv, _mm256_set_m128i(_mm_setzero_si128(), _mm_madd_epi16(LD8(wp, o8), pv8)))

/* Four rows share each load of the patch; 16 products per row and step, then 8, then 1. */
#define ROWS_BODY(T)                                                                               \
    const __m256i o16 = _mm256_set1_epi16((int16_t)w_off);                                         \
    const __m128i o8 = _mm_set1_epi16((int16_t)w_off);                                             \
    (void)o16;                                                                                     \
    (void)o8;                                                                                      \
    int32_t r = 0;                                                                                 \
    for (; r + 4 <= n_rows; r += 4) {                                                              \
        const T *w0 = w + r * w_stride, *w1 = w0 + w_stride;                                       \
        const T *w2 = w1 + w_stride, *w3 = w2 + w_stride;                                          \
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;                            \
        int32_t i = 0;                                                                             \
        for (; i + 16 <= k; i += 16) {                                                             \
            const __m256i pv = _mm256_loadu_si256((const __m256i *)(p + i));                       \
            MADD16(a0, w0 + i);                                                                    \
            MADD16(a1, w1 + i);                                                                    \
            MADD16(a2, w2 + i);                                                                    \
            MADD16(a3, w3 + i);                                                                    \
        }                                                                                          \
        if (i + 8 <= k) {                                                                          \
            const __m128i pv8 = _mm_loadu_si128((const __m128i *)(p + i));                         \
            MADD8(a0, w0 + i);                                                                     \
            MADD8(a1, w1 + i);                                                                     \
            MADD8(a2, w2 + i);                                                                     \
            MADD8(a3, w3 + i);                                                                     \
            i += 8;                                                                                \
        }                                                                                          \
        int32_t s[4];                                                                              \
        _mm_storeu_si128((__m128i *)s, hsum4(a0, a1, a2, a3));                                     \
        for (; i < k; i++) {                                                                       \
            const int32_t pi = p[i];                                                               \
            s[0] += LD1(w0 + i, w_off) * pi;                                                       \
            s[1] += LD1(w1 + i, w_off) * pi;                                                       \
            s[2] += LD1(w2 + i, w_off) * pi;                                                       \
            s[3] += LD1(w3 + i, w_off) * pi;                                                       \
        }                                                                                          \
        acc[r] += s[0];                                                                            \
        acc[r + 1] += s[1];                                                                        \
        acc[r + 2] += s[2];                                                                        \
        acc[r + 3] += s[3];                                                                        \
    }                                                                                              \
    for (; r < n_rows; r++) {                                                                      \
        const T *w0 = w + r * w_stride;                                                            \
        __m256i a0 = _mm256_setzero_si256();                                                       \
        int32_t i = 0;                                                                             \
        for (; i + 16 <= k; i += 16) {                                                             \
            const __m256i pv = _mm256_loadu_si256((const __m256i *)(p + i));                       \
            MADD16(a0, w0 + i);                                                                    \
        }                                                                                          \
        if (i + 8 <= k) {                                                                          \
            const __m128i pv8 = _mm_loadu_si128((const __m128i *)(p + i));                         \
            MADD8(a0, w0 + i);                                                                     \
            i += 8;                                                                                \
        }                                                                                          \
        int32_t s = hsum1(a0);                                                                     \
        for (; i < k; i++)                                                                         \
            s += LD1(w0 + i, w_off) * (int32_t)p[i];                                               \
        acc[r] += s;                                                                               \
    }

void kiln__qdot_rows_i8i16_avx2(const int8_t *w, int64_t w_stride, int32_t k, int32_t n_rows,
                                const int16_t *p, int32_t *acc) {
    const int32_t w_off = 0;
#define LD16 ld16_i8
#define LD8 ld8_i8
#define LD1 ld1_i8
    ROWS_BODY(int8_t)
#undef LD16
#undef LD8
#undef LD1
}

void kiln__qdot_rows_u8i16_avx2(const uint8_t *w, int32_t w_off, int64_t w_stride, int32_t k,
                                int32_t n_rows, const int16_t *p, int32_t *acc) {
#define LD16 ld16_u8
#define LD8 ld8_u8
#define LD1 ld1_u8
    ROWS_BODY(uint8_t)
#undef LD16
#undef LD8
#undef LD1
}

void kiln__qdw_i8_avx2(const int8_t *w, const int8_t *x, int32_t x_off, int32_t n, int32_t *acc) {
    const __m256i off = _mm256_set1_epi16((int16_t)x_off);
    int32_t c = 0;
    for (; c + 16 <= n; c += 16) {
        const __m256i wv = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w + c)));
        const __m256i xv =
            _mm256_add_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(x + c))), off);
        /* |w| <= 128 and |x + x_off| <= 255: the product fits in int16 exactly */
        const __m256i pr = _mm256_mullo_epi16(wv, xv);
        const __m256i lo = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(pr));
        const __m256i hi = _mm256_cvtepi16_epi32(_mm256_extracti128_si256(pr, 1));
        __m256i *a = (__m256i *)(acc + c);
        _mm256_storeu_si256(a, _mm256_add_epi32(_mm256_loadu_si256(a), lo));
        _mm256_storeu_si256(a + 1, _mm256_add_epi32(_mm256_loadu_si256(a + 1), hi));
    }
    if (c + 8 <= n) {
        const __m256i wv = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(w + c)));
        const __m256i xv =
            _mm256_add_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x + c))),
                             _mm256_set1_epi32(x_off));
        __m256i *a = (__m256i *)(acc + c);
        _mm256_storeu_si256(a, _mm256_add_epi32(_mm256_loadu_si256(a), _mm256_mullo_epi32(wv, xv)));
        c += 8;
    }
    for (; c < n; c++)
        acc[c] += (int32_t)w[c] * ((int32_t)x[c] + x_off);
}

void kiln__qdw_i8i16_avx2(const int8_t *w, const int16_t *xs, int32_t n, int32_t *acc) {
    int32_t c = 0;
    for (; c + 8 <= n; c += 8) {
        const __m256i wv = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(w + c)));
        const __m256i xv = _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(xs + c)));
        __m256i *a = (__m256i *)(acc + c);
        _mm256_storeu_si256(a, _mm256_add_epi32(_mm256_loadu_si256(a), _mm256_mullo_epi32(wv, xv)));
    }
    for (; c < n; c++)
        acc[c] += (int32_t)w[c] * xs[c];
}

void kiln__qdw_u8_avx2(const uint8_t *w, int32_t w_off, const uint8_t *x, int32_t x_off, int32_t n,
                       int32_t *acc) {
    const __m256i wo = _mm256_set1_epi32(w_off), xo = _mm256_set1_epi32(x_off);
    int32_t c = 0;
    for (; c + 8 <= n; c += 8) {
        const __m256i wv =
            _mm256_add_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(w + c))), wo);
        const __m256i xv =
            _mm256_add_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(x + c))), xo);
        __m256i *a = (__m256i *)(acc + c);
        _mm256_storeu_si256(a, _mm256_add_epi32(_mm256_loadu_si256(a), _mm256_mullo_epi32(wv, xv)));
    }
    for (; c < n; c++)
        acc[c] += ((int32_t)w[c] + w_off) * ((int32_t)x[c] + x_off);
}
