/* dataset.c: the in-memory dataset (float32 NHWC samples + int32 labels or float targets) and
 * its operations: split (Keras validation_split semantics), shuffle, subset, normalisation. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/internal.h"

kiln_status kiln__data_err(char *err, size_t errlen, kiln_status st, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

const char *kiln__basename(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

kiln_status kiln__read_file(const char *path, uint8_t **buf, size_t *len, char *err,
                            size_t errlen) {
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return kiln__data_err(err, errlen, KILN_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap + 1);
    if (!b) {
        fclose(f);
        return kiln__data_err(err, errlen, KILN_ERR_NOMEM, "%s: out of memory", path);
    }
    if (fseek(f, 0, SEEK_END) == 0) {
        long sz = ftell(f);
        if (sz > 0 && (unsigned long)sz > cap) {
            uint8_t *nb = realloc(b, (size_t)sz + 1);
            if (nb) {
                b = nb;
                cap = (size_t)sz;
            }
        }
        rewind(f);
    }
    for (;;) {
        if (n == cap) {
            uint8_t *nb = cap > SIZE_MAX / 2 - 1 ? NULL : realloc(b, cap * 2 + 1);
            if (!nb) {
                free(b);
                fclose(f);
                return kiln__data_err(err, errlen, KILN_ERR_NOMEM, "%s: out of memory", path);
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return kiln__data_err(err, errlen, KILN_ERR_IO, "%s: read error", path);
    }
    b[n] = 0;
    *buf = b;
    *len = n;
    return KILN_OK;
}

int64_t kiln__dims_product(int32_t rank, const int64_t *dims, int *ok) {
    int64_t p = 1;
    *ok = 1;
    for (int32_t i = 0; i < rank; i++) {
        if (dims[i] < 0 || (dims[i] > 0 && p > INT64_MAX / dims[i])) {
            *ok = 0;
            return 0;
        }
        p *= dims[i];
    }
    return p;
}

float kiln__scale_for(const kiln_load_options *o, int32_t dtype) {
    if (o && o->scale != 0.0f) return o->scale;
    return dtype == KILN_UINT8 ? 1.0f / 255.0f : 1.0f;
}

#define CONVERT_LOOP(T)                                                                            \
    do {                                                                                           \
        const T *s = (const T *)src;                                                               \
        if (scale == 1.0f && offset == 0.0f)                                                       \
            for (int64_t i = 0; i < n; i++)                                                        \
                out[i] = (float)s[i];                                                              \
        else                                                                                       \
            for (int64_t i = 0; i < n; i++)                                                        \
                out[i] = (float)s[i] * scale + offset;                                             \
    } while (0)

int kiln__to_float(int32_t dtype, const void *src, int64_t n, float scale, float offset,
                   float *out) {
    switch (dtype) {
    case KILN_UINT8: {
        /* A 256-entry table makes the common case (8-bit images) a single lookup. */
        float lut[256];
        /* 1/255 is applied as a division, as NumPy's x / 255.0, so pixels are the correctly
         * rounded i/255 (multiplying by the rounded reciprocal differs in the last bit). */
        int div255 = scale == 1.0f / 255.0f;
        for (int i = 0; i < 256; i++)
            lut[i] = div255 ? (float)((double)i / 255.0) + offset : (float)i * scale + offset;
        const uint8_t *s = (const uint8_t *)src;
        for (int64_t i = 0; i < n; i++)
            out[i] = lut[s[i]];
        return 1;
    }
    case KILN_INT8:
        CONVERT_LOOP(int8_t);
        return 1;
    case KILN_INT16:
        CONVERT_LOOP(int16_t);
        return 1;
    case KILN_UINT16:
        CONVERT_LOOP(uint16_t);
        return 1;
    case KILN_INT32:
        CONVERT_LOOP(int32_t);
        return 1;
    case KILN_UINT32:
        CONVERT_LOOP(uint32_t);
        return 1;
    case KILN_INT64:
        CONVERT_LOOP(int64_t);
        return 1;
    case KILN_UINT64:
        CONVERT_LOOP(uint64_t);
        return 1;
    case KILN_FLOAT32:
        CONVERT_LOOP(float);
        return 1;
    case KILN_FLOAT64:
        CONVERT_LOOP(double);
        return 1;
    case KILN_BOOL:
        CONVERT_LOOP(uint8_t);
        return 1;
    default:
        return 0;
    }
}

#define LABEL_LOOP(T, INTEGRAL)                                                                    \
    do {                                                                                           \
        const T *s = (const T *)src;                                                               \
        for (int64_t i = 0; i < n; i++) {                                                          \
            double v = (double)s[i];                                                               \
            if (!(v >= 0 && v <= 2147483647.0) || (!(INTEGRAL) && v != floor(v))) {                \
                *bad_value = v;                                                                    \
                return i;                                                                          \
            }                                                                                      \
            out[i] = (int32_t)v;                                                                   \
        }                                                                                          \
    } while (0)

int64_t kiln__to_labels(int32_t dtype, const void *src, int64_t n, int32_t *out,
                        double *bad_value) {
    *bad_value = 0;
    switch (dtype) {
    case KILN_UINT8:
        LABEL_LOOP(uint8_t, 1);
        break;
    case KILN_INT8:
        LABEL_LOOP(int8_t, 1);
        break;
    case KILN_INT16:
        LABEL_LOOP(int16_t, 1);
        break;
    case KILN_UINT16:
        LABEL_LOOP(uint16_t, 1);
        break;
    case KILN_INT32:
        LABEL_LOOP(int32_t, 1);
        break;
    case KILN_UINT32:
        LABEL_LOOP(uint32_t, 1);
        break;
    case KILN_INT64:
        LABEL_LOOP(int64_t, 1);
        break;
    case KILN_UINT64:
        LABEL_LOOP(uint64_t, 1);
        break;
    case KILN_FLOAT32:
        LABEL_LOOP(float, 0);
        break;
    case KILN_FLOAT64:
        LABEL_LOOP(double, 0);
        break;
    case KILN_BOOL:
        LABEL_LOOP(uint8_t, 1);
        break;
    default:
        return -2;
    }
    return -1;
}

kiln_status kiln__finish_labels(kiln_dataset *d, const kiln_load_options *o, const char *name,
                                char *err, size_t errlen) {
    if (!d->labels) return KILN_OK;
    int32_t maxl = -1;
    for (int64_t i = 0; i < d->n; i++)
        if (d->labels[i] > maxl) maxl = d->labels[i];
    int32_t nc = o && o->num_classes > 0 ? o->num_classes : maxl + 1;
    if (nc <= 0) nc = 1;
    kiln_status st = kiln_dataset_check_labels(d, nc, name, err, errlen);
    if (st != KILN_OK) return st;
    d->num_classes = nc;
    return KILN_OK;
}

void kiln_load_options_init(kiln_load_options *o) {
    memset(o, 0, sizeof *o);
    o->csv_header = -1;
    o->csv_label_column = -1;
    o->csv_delimiter = ',';
}

void kiln_dataset_free(kiln_dataset *d) {
    if (!d) return;
    free(d->x);
    free(d->labels);
    free(d->targets);
    memset(d, 0, sizeof *d);
}

kiln_status kiln_dataset_alloc(kiln_dataset *d, int64_t n, int32_t rank, const int32_t *dims,
                               int with_labels, int64_t target_size, char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    if (n < 0 || rank < 0 || rank > KILN_MAX_RANK || target_size < 0)
        return kiln__data_err(err, errlen, KILN_ERR_ARG, "dataset: bad size (n %lld, rank %d)",
                              (long long)n, (int)rank);
    int64_t d64[KILN_MAX_RANK];
    for (int32_t i = 0; i < rank; i++) {
        if (dims[i] <= 0)
            return kiln__data_err(err, errlen, KILN_ERR_ARG, "dataset: dim %d is %d", (int)i,
                                  (int)dims[i]);
        d64[i] = dims[i];
        d->dims[i] = dims[i];
    }
    int ok;
    int64_t ss = kiln__dims_product(rank, d64, &ok);
    if (!ok || (ss > 0 && n > (int64_t)(SIZE_MAX / sizeof(float)) / ss) ||
        (target_size > 0 && n > (int64_t)(SIZE_MAX / sizeof(float)) / target_size))
        return kiln__data_err(err, errlen, KILN_ERR_NOMEM, "dataset: size overflows");
    d->n = n;
    d->rank = rank;
    d->sample_size = ss;
    d->target_size = target_size;
    size_t nx = (size_t)(n * ss);
    d->x = calloc(nx ? nx : 1, sizeof(float));
    if (with_labels) d->labels = calloc(n ? (size_t)n : 1, sizeof(int32_t));
    if (target_size > 0) d->targets = calloc((size_t)(n * target_size) + 1, sizeof(float));
    if (!d->x || (with_labels && !d->labels) || (target_size > 0 && !d->targets)) {
        kiln_dataset_free(d);
        return kiln__data_err(err, errlen, KILN_ERR_NOMEM,
                              "dataset: out of memory for %lld samples of %lld floats",
                              (long long)n, (long long)ss);
    }
    return KILN_OK;
}

kiln_status kiln_dataset_check_labels(const kiln_dataset *d, int32_t num_classes, const char *name,
                                      char *err, size_t errlen) {
    if (!d->labels) return KILN_OK;
    for (int64_t i = 0; i < d->n; i++) {
        int32_t l = d->labels[i];
        if (l < 0 || l >= num_classes)
            return kiln__data_err(err, errlen, KILN_ERR_SHAPE,
                                  "%s: label %d of sample %lld is out of range [0, %d)",
                                  name ? name : "dataset", (int)l, (long long)i, (int)num_classes);
    }
    return KILN_OK;
}

kiln_status kiln_dataset_reshape(kiln_dataset *d, int32_t rank, const int32_t *dims, char *err,
                                 size_t errlen) {
    if (rank < 0 || rank > KILN_MAX_RANK)
        return kiln__data_err(err, errlen, KILN_ERR_ARG, "reshape: rank %d", (int)rank);
    int64_t p = 1;
    for (int32_t i = 0; i < rank; i++) {
        if (dims[i] <= 0 || p > INT64_MAX / dims[i])
            return kiln__data_err(err, errlen, KILN_ERR_SHAPE, "reshape: bad dim %d", (int)dims[i]);
        p *= dims[i];
    }
    if (p != d->sample_size)
        return kiln__data_err(err, errlen, KILN_ERR_SHAPE,
                              "reshape: samples have %lld values, the new shape %lld",
                              (long long)d->sample_size, (long long)p);
    d->rank = rank;
    for (int32_t i = 0; i < KILN_MAX_RANK; i++)
        d->dims[i] = i < rank ? dims[i] : 0;
    return KILN_OK;
}

kiln_status kiln_dataset_subset(const kiln_dataset *src, const int64_t *idx, int64_t count,
                                kiln_dataset *out, char *err, size_t errlen) {
    kiln_status st = kiln_dataset_alloc(out, count, src->rank, src->dims, src->labels != NULL,
                                        src->targets ? src->target_size : 0, err, errlen);
    if (st != KILN_OK) return st;
    out->num_classes = src->num_classes;
    size_t ss = (size_t)src->sample_size, ts = (size_t)src->target_size;
    for (int64_t i = 0; i < count; i++) {
        int64_t j = idx[i];
        if (j < 0 || j >= src->n) {
            kiln_dataset_free(out);
            return kiln__data_err(err, errlen, KILN_ERR_ARG,
                                  "subset: index %lld out of range [0, %lld)", (long long)j,
                                  (long long)src->n);
        }
        memcpy(out->x + (size_t)i * ss, src->x + (size_t)j * ss, ss * sizeof(float));
        if (src->labels) out->labels[i] = src->labels[j];
        if (src->targets)
            memcpy(out->targets + (size_t)i * ts, src->targets + (size_t)j * ts,
                   ts * sizeof(float));
    }
    return KILN_OK;
}

kiln_status kiln_dataset_shuffle(kiln_dataset *d, uint64_t seed, char *err, size_t errlen) {
    if (d->n < 2) return KILN_OK;
    int64_t *perm = malloc((size_t)d->n * sizeof *perm);
    if (!perm) return kiln__data_err(err, errlen, KILN_ERR_NOMEM, "shuffle: out of memory");
    kiln_permutation(d->n, seed, 0, perm);
    kiln_dataset tmp;
    kiln_status st = kiln_dataset_subset(d, perm, d->n, &tmp, err, errlen);
    free(perm);
    if (st != KILN_OK) return st;
    kiln_dataset_free(d);
    *d = tmp;
    return KILN_OK;
}

kiln_status kiln_dataset_split(kiln_dataset *d, double fraction, kiln_dataset *val, char *err,
                               size_t errlen) {
    memset(val, 0, sizeof *val);
    if (!(fraction > 0.0 && fraction < 1.0))
        return kiln__data_err(err, errlen, KILN_ERR_ARG,
                              "validation split %g: must be between 0 and 1", fraction);
    int64_t nv = (int64_t)floor((double)d->n * fraction + 0.5);
    if (nv < 1 || nv >= d->n)
        return kiln__data_err(err, errlen, KILN_ERR_ARG,
                              "validation split %g of %lld samples leaves an empty part", fraction,
                              (long long)d->n);
    int64_t nt = d->n - nv;
    int64_t *idx = malloc((size_t)nv * sizeof *idx);
    if (!idx) return kiln__data_err(err, errlen, KILN_ERR_NOMEM, "split: out of memory");
    for (int64_t i = 0; i < nv; i++)
        idx[i] = nt + i;
    kiln_status st = kiln_dataset_subset(d, idx, nv, val, err, errlen);
    free(idx);
    if (st != KILN_OK) return st;
    /* Shrinking keeps the first nt samples in place; a failed realloc only wastes memory. */
    d->n = nt;
    float *nx = realloc(d->x, (size_t)(nt * d->sample_size) * sizeof(float) + 1);
    if (nx) d->x = nx;
    if (d->labels) {
        int32_t *nl = realloc(d->labels, (size_t)nt * sizeof(int32_t) + 1);
        if (nl) d->labels = nl;
    }
    if (d->targets) {
        float *ntg = realloc(d->targets, (size_t)(nt * d->target_size) * sizeof(float) + 1);
        if (ntg) d->targets = ntg;
    }
    return KILN_OK;
}

void kiln_dataset_scale(kiln_dataset *d, float scale, float offset) {
    size_t n = (size_t)(d->n * d->sample_size);
    for (size_t i = 0; i < n; i++)
        d->x[i] = d->x[i] * scale + offset;
}

void kiln_dataset_stats(const kiln_dataset *d, float *mean, float *std) {
    int64_t c = d->rank > 0 ? d->dims[d->rank - 1] : 1;
    if (c < 1) c = 1;
    double *sum = calloc((size_t)c * 2, sizeof(double));
    if (!sum) {
        for (int64_t k = 0; k < c; k++)
            mean[k] = 0, std[k] = 1;
        return;
    }
    double *sq = sum + c;
    size_t total = (size_t)(d->n * d->sample_size);
    /* Two passes (mean, then squared deviations) avoid the cancellation of E[x^2] - E[x]^2. */
    for (size_t i = 0; i < total; i++)
        sum[i % (size_t)c] += d->x[i];
    double cnt = total ? (double)total / (double)c : 1.0;
    for (int64_t k = 0; k < c; k++)
        sum[k] /= cnt;
    for (size_t i = 0; i < total; i++) {
        double v = d->x[i] - sum[i % (size_t)c];
        sq[i % (size_t)c] += v * v;
    }
    for (int64_t k = 0; k < c; k++) {
        mean[k] = (float)sum[k];
        std[k] = (float)sqrt(sq[k] / cnt);
    }
    free(sum);
}

void kiln_dataset_normalize(kiln_dataset *d, const float *mean, const float *std) {
    int64_t c = d->rank > 0 ? d->dims[d->rank - 1] : 1;
    if (c < 1) c = 1;
    size_t total = (size_t)(d->n * d->sample_size);
    for (size_t i = 0; i < total; i++) {
        size_t k = i % (size_t)c;
        float s = std[k] > 0.0f ? std[k] : 1.0f;
        d->x[i] = (d->x[i] - mean[k]) / s;
    }
}
