/* npz.c: NumPy .npz archives (a zip of .npy members; stored or deflated, zip64 extra fields as
 * numpy's zipfile writes them), reading through kiln_npy_parse and writing with zlib. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data/internal.h"

static uint16_t rd16(const uint8_t *p) {
    return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) {
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

void kiln_npz_free(kiln_npz *z) {
    if (!z) return;
    for (int32_t i = 0; i < z->count; i++) {
        if (z->names) free(z->names[i]);
        if (z->arrays) kiln_npy_free(&z->arrays[i]);
    }
    free(z->names);
    free(z->arrays);
    memset(z, 0, sizeof *z);
}

const kiln_npy *kiln_npz_get(const kiln_npz *z, const char *name) {
    for (int32_t i = 0; i < z->count; i++)
        if (strcmp(z->names[i], name) == 0) return &z->arrays[i];
    return NULL;
}

/* Inflates a raw deflate stream of exactly `out_len` bytes. */
static int inflate_raw(const uint8_t *src, size_t src_len, uint8_t *dst, size_t out_len,
                       const char **msg) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
        *msg = "zlib init failed";
        return 0;
    }
    size_t in_done = 0, out_done = 0;
    int rc = Z_OK;
    while (rc == Z_OK) {
        size_t in_chunk = src_len - in_done, out_chunk = out_len - out_done;
        if (in_chunk > (1u << 30)) in_chunk = 1u << 30;
        if (out_chunk > (1u << 30)) out_chunk = 1u << 30;
        zs.next_in = (Bytef *)(uintptr_t)(src + in_done);
        zs.avail_in = (uInt)in_chunk;
        zs.next_out = dst + out_done;
        zs.avail_out = (uInt)out_chunk;
        rc = inflate(&zs, Z_NO_FLUSH);
        in_done += in_chunk - zs.avail_in;
        out_done += out_chunk - zs.avail_out;
        if (rc == Z_BUF_ERROR && (in_done == src_len || out_done == out_len)) break;
        if (rc == Z_BUF_ERROR) rc = Z_OK;
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        *msg = rc == Z_DATA_ERROR    ? "corrupt deflate data"
               : out_done == out_len ? "more data than the directory says"
                                     : "deflate data ends early";
        return 0;
    }
    if (out_done != out_len) {
        *msg = "less data than the directory says";
        return 0;
    }
    return 1;
}

kiln_status kiln_npz_read(const char *path, kiln_npz *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    uint8_t *b;
    size_t len;
    kiln_status st = kiln__read_file(path, &b, &len, err, errlen);
    if (st != KILN_OK) return st;
    uint8_t *data = NULL;
    /* End of central directory: 22 bytes plus a comment of up to 65535 at the file end. */
    int64_t eocd = -1;
    for (int64_t i = (int64_t)len - 22; i >= 0 && i >= (int64_t)len - 22 - 65535; i--)
        if (rd32(b + i) == 0x06054b50u) {
            eocd = i;
            break;
        }
    if (eocd < 0) {
        st = kiln__data_err(err, errlen, KILN_ERR_IO,
                            "%s: not a zip/npz file (no end of central directory; truncated?)",
                            path);
        goto done;
    }
    uint64_t count = rd16(b + eocd + 10), cd_size = rd32(b + eocd + 12),
             cd_off = rd32(b + eocd + 16);
    if (count == 0xffff || cd_off == 0xffffffffu || cd_size == 0xffffffffu) {
        /* zip64: the locator sits just before the EOCD and points at the zip64 EOCD. */
        if (eocd < 20 || rd32(b + eocd - 20) != 0x07064b50u) {
            st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: zip64 locator missing", path);
            goto done;
        }
        uint64_t z64 = rd64(b + eocd - 20 + 8);
        if (z64 > len - 56 || rd32(b + z64) != 0x06064b50u) {
            st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: bad zip64 directory", path);
            goto done;
        }
        count = rd64(b + z64 + 32);
        cd_size = rd64(b + z64 + 40);
        cd_off = rd64(b + z64 + 48);
    }
    if (cd_off > len || cd_size > len - cd_off || count > cd_size / 46 + 1 || count > 100000) {
        st = kiln__data_err(err, errlen, KILN_ERR_IO,
                            "%s: central directory out of bounds (truncated file?)", path);
        goto done;
    }
    out->names = calloc(count + 1, sizeof *out->names);
    out->arrays = calloc(count + 1, sizeof *out->arrays);
    if (!out->names || !out->arrays) {
        st = kiln__data_err(err, errlen, KILN_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    uint64_t p = cd_off;
    for (uint64_t i = 0; i < count; i++) {
        if (p + 46 > cd_off + cd_size || rd32(b + p) != 0x02014b50u) {
            st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: bad central directory entry %llu",
                                path, (unsigned long long)i);
            goto done;
        }
        uint16_t flags = rd16(b + p + 8), method = rd16(b + p + 10);
        uint32_t crc = rd32(b + p + 16);
        uint64_t csize = rd32(b + p + 20), usize = rd32(b + p + 24);
        uint16_t nlen = rd16(b + p + 28), xlen = rd16(b + p + 30), clen = rd16(b + p + 32);
        uint64_t loff = rd32(b + p + 42);
        if (p + 46 + nlen + xlen + clen > cd_off + cd_size) {
            st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: bad central directory entry %llu",
                                path, (unsigned long long)i);
            goto done;
        }
        char name[256];
        size_t nl = nlen < sizeof name - 1 ? nlen : sizeof name - 1;
        memcpy(name, b + p + 46, nl);
        name[nl] = 0;
        /* zip64 extra: the 64-bit values of the fields that hold 0xffffffff, in order. */
        const uint8_t *x = b + p + 46 + nlen, *xe = x + xlen;
        while (x + 4 <= xe) {
            uint16_t id = rd16(x), sz = rd16(x + 2);
            const uint8_t *v = x + 4, *ve = v + sz;
            if (ve > xe) break;
            if (id == 0x0001) {
                if (usize == 0xffffffffu && v + 8 <= ve) usize = rd64(v), v += 8;
                if (csize == 0xffffffffu && v + 8 <= ve) csize = rd64(v), v += 8;
                if (loff == 0xffffffffu && v + 8 <= ve) loff = rd64(v);
            }
            x = ve;
        }
        p += 46u + nlen + xlen + clen;
        if (flags & 1) {
            st = kiln__data_err(err, errlen, KILN_ERR_UNSUPPORTED, "%s: %s is encrypted", path,
                                name);
            goto done;
        }
        if (method != 0 && method != 8) {
            st = kiln__data_err(err, errlen, KILN_ERR_UNSUPPORTED,
                                "%s: %s uses compression method %u (only stored and deflate)", path,
                                name, method);
            goto done;
        }
        if (loff > len || len - loff < 30 || rd32(b + loff) != 0x04034b50u) {
            st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: %s: bad local header", path, name);
            goto done;
        }
        uint64_t dstart = loff + 30u + rd16(b + loff + 26) + rd16(b + loff + 28);
        if (dstart > len || csize > len - dstart) {
            st = kiln__data_err(err, errlen, KILN_ERR_IO,
                                "%s: %s: truncated: %llu bytes of member data, file has %llu", path,
                                name, (unsigned long long)csize,
                                (unsigned long long)(dstart > len ? 0 : len - dstart));
            goto done;
        }
        const uint8_t *mem = b + dstart;
        if (method == 0) {
            if (usize != csize) {
                st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: %s: stored sizes differ", path,
                                    name);
                goto done;
            }
        } else {
            /* Deflate expands at most ~1032x; refuse sizes that cannot be real. */
            if (usize > csize * 1100u + 1024u || usize > SIZE_MAX / 2) {
                st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: %s: implausible size %llu", path,
                                    name, (unsigned long long)usize);
                goto done;
            }
            data = malloc(usize ? (size_t)usize : 1);
            if (!data) {
                st = kiln__data_err(err, errlen, KILN_ERR_NOMEM, "%s: out of memory", path);
                goto done;
            }
            const char *msg = "";
            if (!inflate_raw(mem, (size_t)csize, data, (size_t)usize, &msg)) {
                st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: %s: %s", path, name, msg);
                goto done;
            }
            mem = data;
        }
        if ((uint32_t)crc32_z(crc32(0L, Z_NULL, 0), mem, (size_t)usize) != crc) {
            st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: %s: CRC mismatch (corrupt data)",
                                path, name);
            goto done;
        }
        char full[600];
        snprintf(full, sizeof full, "%s:%s", path, name);
        st = kiln_npy_parse(mem, (size_t)usize, full, &out->arrays[out->count], err, errlen);
        free(data);
        data = NULL;
        if (st != KILN_OK) goto done;
        if (nl > 4 && strcmp(name + nl - 4, ".npy") == 0) name[nl - 4] = 0;
        out->names[out->count] = strdup(name);
        out->count++;
        if (!out->names[out->count - 1]) {
            st = kiln__data_err(err, errlen, KILN_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
    }
done:
    free(data);
    free(b);
    if (st != KILN_OK) kiln_npz_free(out);
    return st;
}

/* ---- writing ----------------------------------------------------------------------------- */

static const struct {
    int32_t dtype;
    const char *descr;
} npy_descr[] = {
    {KILN_FLOAT32, "<f4"}, {KILN_FLOAT16, "<f2"}, {KILN_FLOAT64, "<f8"}, {KILN_INT8, "|i1"},
    {KILN_UINT8, "|u1"},   {KILN_INT16, "<i2"},   {KILN_UINT16, "<u2"},  {KILN_INT32, "<i4"},
    {KILN_UINT32, "<u4"},  {KILN_INT64, "<i8"},   {KILN_UINT64, "<u8"},  {KILN_BOOL, "|b1"},
};

kiln_status kiln__npy_encode(const kiln_npy *a, uint8_t **out, size_t *len, char *err,
                             size_t errlen) {
    *out = NULL;
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof npy_descr / sizeof npy_descr[0]; i++)
        if (npy_descr[i].dtype == a->dtype) descr = npy_descr[i].descr;
    if (!descr)
        return kiln__data_err(err, errlen, KILN_ERR_UNSUPPORTED, "npy: cannot write dtype %s",
                              kiln_dtype_name(a->dtype));
    if (a->rank < 0 || a->rank > KILN_MAX_RANK)
        return kiln__data_err(err, errlen, KILN_ERR_ARG, "npy: rank %d", (int)a->rank);
    int ok;
    int64_t count = kiln__dims_product(a->rank, a->dims, &ok);
    size_t bytes = (size_t)count * kiln_dtype_size(a->dtype);
    if (!ok || (a->data == NULL && bytes) || bytes > a->bytes)
        return kiln__data_err(err, errlen, KILN_ERR_ARG, "npy: data smaller than its shape");
    char header[400];
    int hl = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                      descr);
    for (int32_t i = 0; i < a->rank; i++)
        hl += snprintf(header + hl, sizeof header - (size_t)hl, "%s%lld", i ? ", " : "",
                       (long long)a->dims[i]);
    hl += snprintf(header + hl, sizeof header - (size_t)hl, "%s), }", a->rank == 1 ? "," : "");
    /* NumPy pads the header with spaces and a '\n' so the data starts 64-byte aligned. */
    size_t total = 10 + (size_t)hl + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)hl + pad + 1;
    *len = 10 + hlen + bytes;
    uint8_t *o = malloc(*len ? *len : 1);
    if (!o) return kiln__data_err(err, errlen, KILN_ERR_NOMEM, "npy: out of memory");
    memcpy(o, "\x93NUMPY\x01\x00", 8);
    o[8] = (uint8_t)(hlen & 0xff);
    o[9] = (uint8_t)(hlen >> 8);
    memcpy(o + 10, header, (size_t)hl);
    memset(o + 10 + hl, ' ', pad);
    o[10 + (size_t)hl + pad] = '\n';
    if (bytes) memcpy(o + 10 + hlen, a->data, bytes);
    *out = o;
    return KILN_OK;
}

static void wr16(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

kiln_status kiln_npz_write(const char *path, int32_t count, const char *const *names,
                           const kiln_npy *arrays, int compress, char *err, size_t errlen) {
    if (count < 0 || count > 65534)
        return kiln__data_err(err, errlen, KILN_ERR_ARG, "%s: %d arrays", path, (int)count);
    typedef struct ent {
        uint32_t crc, csize, usize, off;
        uint16_t method;
        char name[260];
    } ent;
    ent *e = calloc((size_t)count + 1, sizeof *e);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = e ? fopen(tmp, "wb") : NULL;
    if (!f) {
        free(e);
        return kiln__data_err(err, errlen, KILN_ERR_IO, "%s: cannot create", tmp);
    }
    kiln_status st = KILN_OK;
    uint64_t off = 0;
    uint8_t h[46];
    for (int32_t i = 0; i < count && st == KILN_OK; i++) {
        if (strlen(names[i]) > 250 || !names[i][0]) {
            st = kiln__data_err(err, errlen, KILN_ERR_ARG, "%s: bad array name", path);
            break;
        }
        snprintf(e[i].name, sizeof e[i].name, "%s.npy", names[i]);
        uint8_t *npy = NULL, *z = NULL;
        size_t nlen;
        st = kiln__npy_encode(&arrays[i], &npy, &nlen, err, errlen);
        if (st != KILN_OK) break;
        const uint8_t *payload = npy;
        size_t plen = nlen;
        e[i].method = 0;
        if (compress) {
            uLong bound = compressBound((uLong)nlen) + 64;
            z = malloc(bound);
            z_stream zs;
            memset(&zs, 0, sizeof zs);
            if (z && nlen < (1u << 31) &&
                deflateInit2(&zs, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK) {
                zs.next_in = npy;
                zs.avail_in = (uInt)nlen;
                zs.next_out = z;
                zs.avail_out = (uInt)bound;
                int rc = deflate(&zs, Z_FINISH);
                if (rc == Z_STREAM_END) {
                    payload = z;
                    plen = zs.total_out;
                    e[i].method = 8;
                }
                deflateEnd(&zs);
            }
        }
        if (nlen > 0xfffffffeu || off > 0xfffffffeu) {
            free(npy);
            free(z);
            st = kiln__data_err(err, errlen, KILN_ERR_UNSUPPORTED,
                                "%s: archives over 4 GB are not supported", path);
            break;
        }
        e[i].crc = (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), npy, nlen);
        e[i].usize = (uint32_t)nlen;
        e[i].csize = (uint32_t)plen;
        e[i].off = (uint32_t)off;
        uint16_t nl = (uint16_t)strlen(e[i].name);
        memset(h, 0, 30);
        wr32(h, 0x04034b50u);
        wr16(h + 4, 20);
        wr16(h + 8, e[i].method);
        wr16(h + 12, 0x21); /* 1980-01-01 00:00: fixed, so equal inputs give equal bytes */
        wr32(h + 14, e[i].crc);
        wr32(h + 18, e[i].csize);
        wr32(h + 22, e[i].usize);
        wr16(h + 26, nl);
        if (fwrite(h, 1, 30, f) != 30 || fwrite(e[i].name, 1, nl, f) != nl ||
            fwrite(payload, 1, plen, f) != plen)
            st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: write failed", tmp);
        off += 30u + nl + plen;
        free(npy);
        free(z);
    }
    uint64_t cd_off = off;
    for (int32_t i = 0; i < count && st == KILN_OK; i++) {
        uint16_t nl = (uint16_t)strlen(e[i].name);
        memset(h, 0, 46);
        wr32(h, 0x02014b50u);
        wr16(h + 4, 20);
        wr16(h + 6, 20);
        wr16(h + 10, e[i].method);
        wr16(h + 14, 0x21);
        wr32(h + 16, e[i].crc);
        wr32(h + 20, e[i].csize);
        wr32(h + 24, e[i].usize);
        wr16(h + 28, nl);
        wr32(h + 42, e[i].off);
        if (fwrite(h, 1, 46, f) != 46 || fwrite(e[i].name, 1, nl, f) != nl)
            st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: write failed", tmp);
        off += 46u + nl;
    }
    if (st == KILN_OK) {
        memset(h, 0, 22);
        wr32(h, 0x06054b50u);
        wr16(h + 8, (uint32_t)count);
        wr16(h + 10, (uint32_t)count);
        wr32(h + 12, (uint32_t)(off - cd_off));
        wr32(h + 16, (uint32_t)cd_off);
        if (fwrite(h, 1, 22, f) != 22)
            st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: write failed", tmp);
    }
    if (fclose(f) != 0 && st == KILN_OK)
        st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: write failed", tmp);
    free(e);
    if (st == KILN_OK && rename(tmp, path) != 0)
        st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: cannot rename into place", path);
    if (st != KILN_OK) remove(tmp);
    return st;
}

static const kiln_npy *pick(const kiln_npz *z, const char *key, const char *a, const char *b) {
    if (key) return kiln_npz_get(z, key);
    const kiln_npy *v = kiln_npz_get(z, a);
    return v ? v : kiln_npz_get(z, b);
}

kiln_status kiln__dataset_from_arrays(const kiln_npy *x, const kiln_npy *y,
                                      const kiln_load_options *o, const char *name,
                                      kiln_dataset *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (x->rank < 1) return kiln__data_err(err, errlen, KILN_ERR_SHAPE, "%s: x is a scalar", name);
    int32_t dims[KILN_MAX_RANK], rank = x->rank - 1;
    for (int32_t i = 0; i < rank; i++) {
        if (x->dims[i + 1] > INT32_MAX || x->dims[i + 1] <= 0)
            return kiln__data_err(err, errlen, KILN_ERR_SHAPE, "%s: x dim %d is %lld", name,
                                  (int)(i + 1), (long long)x->dims[i + 1]);
        dims[i] = (int32_t)x->dims[i + 1];
    }
    if (rank == 0)
        dims[rank++] = 1;
    else if (rank == 2)
        dims[rank++] = 1; /* (N,H,W) images get a channel: NHWC */
    int floaty =
        y && (y->dtype == KILN_FLOAT32 || y->dtype == KILN_FLOAT64 || y->dtype == KILN_FLOAT16);
    int as_targets = y && ((o && o->as_targets) || floaty);
    if (y && (y->rank < 1 || y->dims[0] != x->dims[0] || (!as_targets && y->rank != 1)))
        return kiln__data_err(err, errlen, KILN_ERR_SHAPE,
                              "%s: y has shape with %lld rows (rank %d), x has %lld samples", name,
                              (long long)(y->rank ? y->dims[0] : 0), (int)y->rank,
                              (long long)x->dims[0]);
    int64_t tsize = 0;
    if (as_targets) {
        tsize = 1;
        for (int32_t i = 1; i < y->rank; i++)
            tsize *= y->dims[i];
    }
    kiln_status st =
        kiln_dataset_alloc(out, x->dims[0], rank, dims, y && !as_targets, tsize, err, errlen);
    if (st != KILN_OK) return st;
    if (!kiln__to_float(x->dtype, x->data, out->n * out->sample_size, kiln__scale_for(o, x->dtype),
                        o ? o->offset : 0.0f, out->x)) {
        kiln_dataset_free(out);
        return kiln__data_err(err, errlen, KILN_ERR_UNSUPPORTED, "%s: x has dtype %s", name,
                              kiln_dtype_name(x->dtype));
    }
    if (as_targets) {
        if (!kiln__to_float(y->dtype, y->data, out->n * tsize, 1.0f, 0.0f, out->targets)) {
            kiln_dataset_free(out);
            return kiln__data_err(err, errlen, KILN_ERR_UNSUPPORTED, "%s: y has dtype %s", name,
                                  kiln_dtype_name(y->dtype));
        }
    } else if (y) {
        double bad;
        int64_t at = kiln__to_labels(y->dtype, y->data, out->n, out->labels, &bad);
        if (at != -1) {
            kiln_dataset_free(out);
            if (at == -2)
                return kiln__data_err(err, errlen, KILN_ERR_UNSUPPORTED, "%s: y has dtype %s", name,
                                      kiln_dtype_name(y->dtype));
            return kiln__data_err(err, errlen, KILN_ERR_SHAPE,
                                  "%s: label %g of sample %lld is not a class index", name, bad,
                                  (long long)at);
        }
        st = kiln__finish_labels(out, o, name, err, errlen);
        if (st != KILN_OK) kiln_dataset_free(out);
    }
    return st;
}

kiln_status kiln_dataset_load_npz(const char *path, const kiln_load_options *o, kiln_dataset *out,
                                  char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    kiln_npz z;
    kiln_status st = kiln_npz_read(path, &z, err, errlen);
    if (st != KILN_OK) return st;
    int test = o && o->subset && (!strcmp(o->subset, "test") || !strcmp(o->subset, "t10k"));
    const kiln_npy *x = pick(&z, o ? o->x_key : NULL, "x", test ? "x_test" : "x_train");
    const kiln_npy *y = pick(&z, o ? o->y_key : NULL, "y", test ? "y_test" : "y_train");
    if (!x && !(o && o->x_key)) {
        /* np.savez(f, x, y) without names stores arr_0, arr_1. */
        x = kiln_npz_get(&z, "arr_0");
        if (x && !y && !(o && o->y_key)) y = kiln_npz_get(&z, "arr_1");
    }
    if (!x) {
        char names[160] = "";
        size_t at = 0;
        for (int32_t i = 0; i < z.count && at < sizeof names - 1; i++)
            at +=
                (size_t)snprintf(names + at, sizeof names - at, "%s%s", i ? ", " : "", z.names[i]);
        st = kiln__data_err(err, errlen, KILN_ERR_ARG, "%s: no array '%s' (the archive holds: %s)",
                            path,
                            o && o->x_key ? o->x_key
                            : test        ? "x or x_test"
                                          : "x or x_train",
                            names);
    } else if (o && o->y_key && !y) {
        st = kiln__data_err(err, errlen, KILN_ERR_ARG, "%s: no array '%s'", path, o->y_key);
    } else {
        st = kiln__dataset_from_arrays(x, y, o, path, out, err, errlen);
    }
    kiln_npz_free(&z);
    return st;
}
