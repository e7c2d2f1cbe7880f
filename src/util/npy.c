/* npy.c: NumPy .npy reading (versions 1.0, 2.0, 3.0; C or Fortran order) and writing (1.0).
 * Format facts from NumPy's format specification: magic "\x93NUMPY", version bytes, a
 * little-endian header length (2 bytes in 1.0, 4 bytes after), a Python dict literal header. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/npy.h"

static kiln_status err_(char *err, size_t n, kiln_status s, const char *fmt, ...) {
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return s;
}

static const struct {
    const char *descr;
    int32_t dtype;
} dtypes[] = {
    {"f4", KILN_FLOAT32},   {"f2", KILN_FLOAT16},     {"f8", KILN_FLOAT64}, {"i1", KILN_INT8},
    {"u1", KILN_UINT8},     {"i2", KILN_INT16},       {"u2", KILN_UINT16},  {"i4", KILN_INT32},
    {"u4", KILN_UINT32},    {"i8", KILN_INT64},       {"u8", KILN_UINT64},  {"b1", KILN_BOOL},
    {"c8", KILN_COMPLEX64}, {"c16", KILN_COMPLEX128},
};

/* Finds 'key': in the header dict and returns a pointer just after the colon. */
static const char *find_key(const char *h, size_t n, const char *key) {
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl + 2 < n; i++) {
        if ((h[i] == '\'' || h[i] == '"') && !strncmp(h + i + 1, key, kl) &&
            h[i + 1 + kl] == h[i]) {
            const char *p = h + i + kl + 2;
            while (p < h + n && (*p == ' ' || *p == ':'))
                p++;
            return p;
        }
    }
    return NULL;
}

kiln_status kiln_npy_parse(const void *buf, size_t len, const char *name, kiln_npy *out, char *err,
                           size_t errlen) {
    const uint8_t *b = (const uint8_t *)buf;
    memset(out, 0, sizeof *out);
    if (!name) name = "npy";
    if (len < 10 || memcmp(b, "\x93NUMPY", 6))
        return err_(err, errlen, KILN_ERR_IO, "%s: not a .npy file (bad magic)", name);
    const int major = b[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)b[8] | ((size_t)b[9] << 8);
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) return err_(err, errlen, KILN_ERR_IO, "%s: truncated header", name);
        hlen = (size_t)b[8] | ((size_t)b[9] << 8) | ((size_t)b[10] << 16) | ((size_t)b[11] << 24);
        hstart = 12;
    } else {
        return err_(err, errlen, KILN_ERR_IO, "%s: unsupported .npy version %d", name, major);
    }
    if (hlen > len - hstart)
        return err_(err, errlen, KILN_ERR_IO, "%s: truncated header (%zu bytes, file has %zu)",
                    name, hlen, len - hstart);
    const char *h = (const char *)b + hstart;
    const char *d = find_key(h, hlen, "descr");
    const char *fo = find_key(h, hlen, "fortran_order");
    const char *sh = find_key(h, hlen, "shape");
    if (!d || !fo || !sh)
        return err_(err, errlen, KILN_ERR_IO, "%s: header lacks descr/fortran_order/shape", name);
    /* descr: '<f4', '|i1', '|b1', '=f4' ... */
    if (*d != '\'' && *d != '"')
        return err_(err, errlen, KILN_ERR_IO, "%s: bad descr in header", name);
    char descr[16] = {0};
    size_t k = 0;
    for (const char *p = d + 1; p < h + hlen && *p != *d && k < sizeof descr - 1; p++)
        descr[k++] = *p;
    const char *code = descr;
    if (*code == '<' || *code == '|' || *code == '=')
        code++;
    else if (*code == '>' && strcmp(code + 1, "i1") && strcmp(code + 1, "u1") &&
             strcmp(code + 1, "b1"))
        return err_(err, errlen, KILN_ERR_IO, "%s: big-endian data (%s) is not supported", name,
                    descr);
    else if (*code == '>')
        code++;
    out->dtype = -1;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(code, dtypes[i].descr)) out->dtype = dtypes[i].dtype;
    if (out->dtype < 0)
        return err_(err, errlen, KILN_ERR_IO, "%s: unsupported dtype '%s'", name, descr);
    const int fortran = !strncmp(fo, "True", 4);
    if (*sh != '(') return err_(err, errlen, KILN_ERR_IO, "%s: bad shape in header", name);
    const char *p = sh + 1;
    int64_t count = 1;
    while (p < h + hlen && *p != ')') {
        while (p < h + hlen && (*p == ' ' || *p == ','))
            p++;
        if (p >= h + hlen || *p == ')') break;
        if (*p < '0' || *p > '9')
            return err_(err, errlen, KILN_ERR_IO, "%s: bad shape in header", name);
        int64_t v = 0;
        while (p < h + hlen && *p >= '0' && *p <= '9') {
            v = v * 10 + (*p++ - '0');
            if (v > ((int64_t)1 << 40))
                return err_(err, errlen, KILN_ERR_IO, "%s: dimension too large", name);
        }
        if (p < h + hlen && *p == 'L') p++;
        if (out->rank >= KILN_MAX_RANK)
            return err_(err, errlen, KILN_ERR_IO, "%s: more than %d dimensions", name,
                        KILN_MAX_RANK);
        out->dims[out->rank++] = v;
        count *= v;
        if (count > ((int64_t)1 << 40))
            return err_(err, errlen, KILN_ERR_IO, "%s: too many elements", name);
    }
    const size_t es = kiln_dtype_size(out->dtype) ? kiln_dtype_size(out->dtype) : 1;
    const size_t need = (size_t)count * es;
    const size_t have = len - hstart - hlen;
    if (have < need)
        return err_(err, errlen, KILN_ERR_IO,
                    "%s: truncated: header says %zu bytes of data, file has %zu", name, need, have);
    out->bytes = need;
    out->data = malloc(need ? need : 1);
    if (!out->data) return err_(err, errlen, KILN_ERR_NOMEM, "%s: out of memory", name);
    const uint8_t *src = b + hstart + hlen;
    if (!fortran || out->rank < 2) {
        memcpy(out->data, src, need);
    } else {
        /* Fortran order: element (i0..in) sits at sum(i_k * prod_{j<k} d_j). Walk C order. */
        int64_t idx[KILN_MAX_RANK] = {0};
        for (int64_t c = 0; c < count; c++) {
            int64_t off = 0, stride = 1;
            for (int32_t a = 0; a < out->rank; a++) {
                off += idx[a] * stride;
                stride *= out->dims[a];
            }
            memcpy((uint8_t *)out->data + (size_t)c * es, src + (size_t)off * es, es);
            for (int32_t a = out->rank - 1; a >= 0; a--) {
                if (++idx[a] < out->dims[a]) break;
                idx[a] = 0;
            }
        }
    }
    return KILN_OK;
}

kiln_status kiln_npy_read(const char *path, kiln_npy *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return err_(err, errlen, KILN_ERR_IO, "%s: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END)) {
        fclose(f);
        return err_(err, errlen, KILN_ERR_IO, "%s: cannot seek", path);
    }
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET)) {
        fclose(f);
        return err_(err, errlen, KILN_ERR_IO, "%s: cannot tell size", path);
    }
    uint8_t *b = (uint8_t *)malloc((size_t)n + 1);
    if (!b) {
        fclose(f);
        return err_(err, errlen, KILN_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t got = fread(b, 1, (size_t)n, f);
    fclose(f);
    if (got != (size_t)n) {
        free(b);
        return err_(err, errlen, KILN_ERR_IO, "%s: read error", path);
    }
    kiln_status s = kiln_npy_parse(b, (size_t)n, path, out, err, errlen);
    free(b);
    return s;
}

kiln_status kiln_npy_write(const char *path, int32_t dtype, int32_t rank, const int64_t *dims,
                           const void *data, char *err, size_t errlen) {
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].dtype == dtype) descr = dtypes[i].descr;
    if (!descr)
        return err_(err, errlen, KILN_ERR_ARG, "%s: cannot write dtype %s to .npy", path,
                    kiln_dtype_name(dtype));
    if (rank < 0 || rank > KILN_MAX_RANK)
        return err_(err, errlen, KILN_ERR_ARG, "%s: bad rank %d", path, rank);
    char shape[256];
    size_t sl = 0;
    int64_t count = 1;
    shape[sl++] = '(';
    for (int32_t i = 0; i < rank; i++) {
        sl += (size_t)snprintf(shape + sl, sizeof shape - sl, "%lld%s", (long long)dims[i],
                               rank == 1 ? "," : (i + 1 < rank ? ", " : ""));
        count *= dims[i];
    }
    shape[sl++] = ')';
    shape[sl] = 0;
    const char *endian =
        (!strcmp(descr, "i1") || !strcmp(descr, "u1") || !strcmp(descr, "b1")) ? "|" : "<";
    char header[512];
    int hl =
        snprintf(header, sizeof header, "{'descr': '%s%s', 'fortran_order': False, 'shape': %s, }",
                 endian, descr, shape);
    /* Pad with spaces so that magic + length + header + '\n' is a multiple of 64. */
    size_t total = 10 + (size_t)hl + 1;
    size_t pad = (64 - total % 64) % 64;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return err_(err, errlen, KILN_ERR_IO, "%s: %s", tmp, strerror(errno));
    const size_t hlen = (size_t)hl + pad + 1;
    uint8_t pre[10] = {
        0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(hlen & 0xff), (uint8_t)(hlen >> 8)};
    const size_t bytes = (size_t)count * kiln_dtype_size(dtype);
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, (size_t)hl, f) == (size_t)hl;
    for (size_t i = 0; ok && i < pad; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    ok = ok && (bytes == 0 || fwrite(data, 1, bytes, f) == bytes);
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path)) {
        remove(tmp);
        return err_(err, errlen, KILN_ERR_IO, "%s: write failed", path);
    }
    return KILN_OK;
}

void kiln_npy_free(kiln_npy *a) {
    if (!a) return;
    free(a->data);
    a->data = NULL;
}
