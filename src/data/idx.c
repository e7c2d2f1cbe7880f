/* idx.c: IDX files (LeCun's MNIST format, also Fashion-MNIST): big-endian header
 * {0, 0, type code, rank, rank x uint32 dims} then the data; plain or gzip through zlib. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data/internal.h"

/* IDX type codes and their kiln dtypes. */
static int32_t idx_dtype(int code) {
    switch (code) {
    case 0x08:
        return KILN_UINT8;
    case 0x09:
        return KILN_INT8;
    case 0x0B:
        return KILN_INT16;
    case 0x0C:
        return KILN_INT32;
    case 0x0D:
        return KILN_FLOAT32;
    case 0x0E:
        return KILN_FLOAT64;
    default:
        return -1;
    }
}

static int idx_code(int32_t dtype) {
    switch (dtype) {
    case KILN_UINT8:
        return 0x08;
    case KILN_INT8:
        return 0x09;
    case KILN_INT16:
        return 0x0B;
    case KILN_INT32:
        return 0x0C;
    case KILN_FLOAT32:
        return 0x0D;
    case KILN_FLOAT64:
        return 0x0E;
    default:
        return -1;
    }
}

static int host_is_little(void) {
    uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Swaps each element between big-endian (IDX) and host order. */
static void swap_elems(uint8_t *p, size_t n, size_t esize) {
    if (esize == 1 || !host_is_little()) return;
    for (size_t i = 0; i < n; i++, p += esize)
        for (size_t a = 0, b = esize - 1; a < b; a++, b--) {
            uint8_t t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* Reads up to n bytes; returns the count read, or -1 with a zlib message in *zmsg. */
static int64_t gz_read_all(gzFile g, uint8_t *dst, size_t n, const char **zmsg) {
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done;
        if (chunk > (1u << 30)) chunk = 1u << 30;
        int got = gzread(g, dst + done, (unsigned)chunk);
        if (got < 0) {
            int errnum;
            *zmsg = gzerror(g, &errnum);
            /* A stream cut short is truncation, not corruption: report what we have. */
            if (errnum == Z_BUF_ERROR) return (int64_t)done;
            return -1;
        }
        if (got == 0) break;
        done += (size_t)got;
    }
    return (int64_t)done;
}

/* An IDX file being read: the header is parsed and checked by idx_open, the data read by
 * idx_body (possibly in pieces) and the end checked by idx_close. */
typedef struct idx_file {
    gzFile g;
    const char *path, *what;
    int32_t dtype, rank;
    int64_t dims[KILN_MAX_RANK];
    int64_t count; /* elements */
    size_t esize, bytes, got;
} idx_file;

static kiln_status idx_open(const char *path, idx_file *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    f->path = path;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return kiln__data_err(err, errlen, KILN_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return kiln__data_err(err, errlen, KILN_ERR_IO, "%s: is a directory", path);
    f->g = gzopen(path, "rb");
    if (!f->g) return kiln__data_err(err, errlen, KILN_ERR_IO, "%s: %s", path, strerror(errno));
    gzbuffer(f->g, 1 << 18);
    int compressed = !gzdirect(f->g);
    f->what = compressed ? "decompressed data" : "file";
    const char *zmsg = "";
    kiln_status st = KILN_OK;
    uint8_t head[4 + 4 * KILN_MAX_RANK];
    int64_t got = gz_read_all(f->g, head, 4, &zmsg);
    if (got < 0) {
        st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: %s", path, zmsg);
    } else if (got < 4) {
        st = kiln__data_err(err, errlen, KILN_ERR_IO,
                            "%s: truncated: %s has %lld bytes, the IDX magic needs 4", path,
                            f->what, (long long)got);
    } else if (head[0] != 0 || head[1] != 0) {
        st = kiln__data_err(err, errlen, KILN_ERR_IO,
                            "%s: not an IDX file (magic %02x %02x %02x %02x, expected 00 00 "
                            "<type> <rank>)",
                            path, head[0], head[1], head[2], head[3]);
    } else if ((f->dtype = idx_dtype(head[2])) < 0) {
        st = kiln__data_err(err, errlen, KILN_ERR_IO,
                            "%s: unknown IDX type code 0x%02x (expected 08 09 0b 0c 0d 0e)", path,
                            head[2]);
    } else if (head[3] < 1 || head[3] > KILN_MAX_RANK) {
        st = kiln__data_err(err, errlen, KILN_ERR_UNSUPPORTED, "%s: IDX rank %d (supported 1..%d)",
                            path, head[3], KILN_MAX_RANK);
    }
    if (st != KILN_OK) goto fail;
    f->rank = head[3];
    got = gz_read_all(f->g, head + 4, 4 * (size_t)f->rank, &zmsg);
    if (got < 0) {
        st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: %s", path, zmsg);
        goto fail;
    }
    if (got < 4 * f->rank) {
        st = kiln__data_err(err, errlen, KILN_ERR_IO,
                            "%s: truncated: header of rank %d needs %d bytes, %s has %lld", path,
                            (int)f->rank, 4 + 4 * (int)f->rank, f->what, (long long)(4 + got));
        goto fail;
    }
    for (int i = 0; i < f->rank; i++) {
        const uint8_t *p = head + 4 + 4 * i;
        uint32_t v = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
        if (v > INT32_MAX) {
            st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: dimension %d is %u (too large)",
                                path, i, v);
            goto fail;
        }
        f->dims[i] = v;
    }
    int ok;
    f->count = kiln__dims_product(f->rank, f->dims, &ok);
    f->esize = kiln_dtype_size(f->dtype);
    if (!ok || f->count > (int64_t)(SIZE_MAX / 2) / (int64_t)f->esize) {
        st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: dimensions overflow", path);
        goto fail;
    }
    f->bytes = (size_t)f->count * f->esize;
    size_t header = 4 + 4 * (size_t)f->rank;
    /* Refuse sizes the file cannot hold (deflate expands at most ~1032x), so a corrupt header
     * cannot make us allocate terabytes. */
    if (!compressed && (uint64_t)f->bytes + header > (uint64_t)sb.st_size) {
        st = kiln__data_err(
            err, errlen, KILN_ERR_IO, "%s: truncated: header says %zu bytes of data, file has %llu",
            path, f->bytes,
            (unsigned long long)(sb.st_size > (off_t)header ? (uint64_t)sb.st_size - header : 0));
        goto fail;
    }
    if (compressed && (uint64_t)f->bytes > (uint64_t)sb.st_size * 1100u + 4096u) {
        st = kiln__data_err(err, errlen, KILN_ERR_IO,
                            "%s: header says %zu bytes of data, more than a %lld-byte gzip file "
                            "can hold",
                            path, f->bytes, (long long)sb.st_size);
        goto fail;
    }
    return KILN_OK;
fail:
    gzclose(f->g);
    f->g = NULL;
    return st;
}

/* Reads the next n bytes of data. */
static kiln_status idx_body(idx_file *f, uint8_t *dst, size_t n, char *err, size_t errlen) {
    const char *zmsg = "";
    int64_t got = gz_read_all(f->g, dst, n, &zmsg);
    if (got < 0)
        return kiln__data_err(err, errlen, KILN_ERR_IO, "%s: corrupt gzip data: %s", f->path, zmsg);
    f->got += (size_t)got;
    if ((size_t)got < n)
        return kiln__data_err(
            err, errlen, KILN_ERR_IO,
            "%s: truncated: header says %zu bytes of data (%s), %s has %zu", f->path, f->bytes,
            f->dtype == KILN_UINT8 ? "uint8" : kiln_dtype_name(f->dtype), f->what, f->got);
    return KILN_OK;
}

/* Checks that nothing follows the data (and, for gzip, that the stream ends intact); closes. */
static kiln_status idx_close(idx_file *f, kiln_status st, char *err, size_t errlen) {
    if (!f->g) return st;
    if (st == KILN_OK) {
        uint8_t extra[64];
        const char *zmsg = "";
        int64_t got = gz_read_all(f->g, extra, sizeof extra, &zmsg);
        if (got < 0)
            st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: corrupt gzip data: %s", f->path,
                                zmsg);
        else if (got > 0)
            st = kiln__data_err(err, errlen, KILN_ERR_IO,
                                "%s: %s continues after the %zu bytes the header announces",
                                f->path, f->what, f->bytes);
    }
    gzclose(f->g);
    f->g = NULL;
    return st;
}

kiln_status kiln_idx_read(const char *path, kiln_npy *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    idx_file f;
    kiln_status st = idx_open(path, &f, err, errlen);
    if (st != KILN_OK) return st;
    out->data = malloc(f.bytes ? f.bytes : 1);
    if (!out->data)
        st = kiln__data_err(err, errlen, KILN_ERR_NOMEM, "%s: out of memory for %zu bytes", path,
                            f.bytes);
    if (st == KILN_OK) st = idx_body(&f, out->data, f.bytes, err, errlen);
    st = idx_close(&f, st, err, errlen);
    if (st != KILN_OK) {
        free(out->data);
        memset(out, 0, sizeof *out);
        return st;
    }
    swap_elems(out->data, (size_t)f.count, f.esize);
    out->dtype = f.dtype;
    out->rank = f.rank;
    memcpy(out->dims, f.dims, sizeof f.dims);
    out->bytes = f.bytes;
    return KILN_OK;
}

kiln_status kiln_idx_write(const char *path, int32_t dtype, int32_t rank, const int64_t *dims,
                           const void *data, char *err, size_t errlen) {
    int code = idx_code(dtype);
    if (code < 0)
        return kiln__data_err(err, errlen, KILN_ERR_UNSUPPORTED, "%s: IDX cannot hold %s", path,
                              kiln_dtype_name(dtype));
    if (rank < 1 || rank > KILN_MAX_RANK)
        return kiln__data_err(err, errlen, KILN_ERR_ARG, "%s: rank %d", path, (int)rank);
    int ok;
    int64_t count = kiln__dims_product(rank, dims, &ok);
    if (!ok) return kiln__data_err(err, errlen, KILN_ERR_ARG, "%s: dims overflow", path);
    size_t esize = kiln_dtype_size(dtype);
    size_t plen = strlen(path);
    int gz = plen > 3 && strcmp(path + plen - 3, ".gz") == 0;
    uint8_t head[4 + 4 * KILN_MAX_RANK];
    head[0] = head[1] = 0;
    head[2] = (uint8_t)code;
    head[3] = (uint8_t)rank;
    for (int32_t i = 0; i < rank; i++) {
        if (dims[i] < 0 || dims[i] > INT32_MAX)
            return kiln__data_err(err, errlen, KILN_ERR_ARG, "%s: dim %lld", path,
                                  (long long)dims[i]);
        uint32_t v = (uint32_t)dims[i];
        head[4 + 4 * i] = (uint8_t)(v >> 24);
        head[5 + 4 * i] = (uint8_t)(v >> 16);
        head[6 + 4 * i] = (uint8_t)(v >> 8);
        head[7 + 4 * i] = (uint8_t)v;
    }
    gzFile g = gzopen(path, gz ? "wb6" : "wbT");
    if (!g) return kiln__data_err(err, errlen, KILN_ERR_IO, "%s: %s", path, strerror(errno));
    int bad = gzwrite(g, head, 4 + 4 * (unsigned)rank) <= 0;
    uint8_t buf[1 << 14];
    const uint8_t *src = data;
    size_t left = (size_t)count * esize;
    while (!bad && left > 0) {
        size_t chunk = left < sizeof buf ? left : sizeof buf;
        chunk -= chunk % esize;
        memcpy(buf, src, chunk);
        swap_elems(buf, chunk / esize, esize);
        bad = gzwrite(g, buf, (unsigned)chunk) != (int)chunk;
        src += chunk;
        left -= chunk;
    }
    if (gzclose(g) != Z_OK) bad = 1;
    if (bad) return kiln__data_err(err, errlen, KILN_ERR_IO, "%s: write failed", path);
    return KILN_OK;
}

kiln_status kiln_dataset_load_idx(const char *images_path, const char *labels_path,
                                  const kiln_load_options *o, kiln_dataset *out, char *err,
                                  size_t errlen) {
    memset(out, 0, sizeof *out);
    kiln_npy lab;
    memset(&lab, 0, sizeof lab);
    idx_file img;
    kiln_status st = idx_open(images_path, &img, err, errlen);
    if (st != KILN_OK) return st;
    if (labels_path) {
        st = kiln_idx_read(labels_path, &lab, err, errlen);
        if (st != KILN_OK) goto done;
        int floatlab = lab.dtype == KILN_FLOAT32 || lab.dtype == KILN_FLOAT64;
        if (lab.rank != 1 && !(lab.rank == 2 && floatlab)) {
            st = kiln__data_err(err, errlen, KILN_ERR_SHAPE, "%s: labels have rank %d, expected 1",
                                labels_path, (int)lab.rank);
            goto done;
        }
        if (lab.dims[0] != img.dims[0]) {
            st = kiln__data_err(err, errlen, KILN_ERR_SHAPE,
                                "%s: %lld labels, but %s has %lld samples", labels_path,
                                (long long)lab.dims[0], kiln__basename(images_path),
                                (long long)img.dims[0]);
            goto done;
        }
    }
    int32_t dims[KILN_MAX_RANK];
    int32_t rank = img.rank - 1;
    for (int32_t i = 0; i < rank; i++)
        dims[i] = (int32_t)img.dims[i + 1];
    if (rank == 0)
        dims[rank++] = 1;
    else if (rank == 2)
        dims[rank++] = 1; /* (N,H,W) images get a channel: NHWC */
    int floatlab = lab.data && (lab.dtype == KILN_FLOAT32 || lab.dtype == KILN_FLOAT64);
    int as_targets = lab.data && ((o && o->as_targets) || floatlab);
    int64_t tsize = as_targets ? (lab.rank == 2 ? lab.dims[1] : 1) : 0;
    st = kiln_dataset_alloc(out, img.dims[0], rank, dims, lab.data && !as_targets, tsize, err,
                            errlen);
    if (st != KILN_OK) goto done;
    float scale = kiln__scale_for(o, img.dtype), offset = o ? o->offset : 0.0f;
    /* Decompress and convert in 1 MB pieces: no second copy of the data set in memory, and
     * each piece is converted while it is still in cache. */
    size_t chunk_elems = ((size_t)1 << 20) / img.esize;
    uint8_t *chunk = malloc(chunk_elems * img.esize);
    if (!chunk) {
        st = kiln__data_err(err, errlen, KILN_ERR_NOMEM, "%s: out of memory", images_path);
        goto done;
    }
    for (int64_t at = 0; at < img.count && st == KILN_OK; at += (int64_t)chunk_elems) {
        size_t n = (size_t)(img.count - at) < chunk_elems ? (size_t)(img.count - at) : chunk_elems;
        st = idx_body(&img, chunk, n * img.esize, err, errlen);
        if (st != KILN_OK) break;
        swap_elems(chunk, n, img.esize);
        kiln__to_float(img.dtype, chunk, (int64_t)n, scale, offset, out->x + at);
    }
    free(chunk);
    st = idx_close(&img, st, err, errlen);
    if (st != KILN_OK) goto done;
    if (as_targets) {
        kiln__to_float(lab.dtype, lab.data, out->n * tsize, 1.0f, 0.0f, out->targets);
    } else if (lab.data) {
        double bad;
        int64_t at = kiln__to_labels(lab.dtype, lab.data, out->n, out->labels, &bad);
        if (at >= 0) {
            st = kiln__data_err(err, errlen, KILN_ERR_SHAPE,
                                "%s: label %g of sample %lld is not a class index", labels_path,
                                bad, (long long)at);
            goto done;
        }
        st = kiln__finish_labels(out, o, labels_path, err, errlen);
    }
done:
    idx_close(&img, KILN_ERR_STATE, NULL, 0);
    free(lab.data);
    if (st != KILN_OK) kiln_dataset_free(out);
    return st;
}

/* Finds dir/<prefix>-<kind>-idx<r>-ubyte[.gz] (also the "prefix.kind" names some mirrors use). */
static int find_idx(const char *dir, const char *prefix, const char *kind, int r, char *path,
                    size_t len) {
    static const char *const pats[] = {"%s/%s-%s-idx%d-ubyte.gz", "%s/%s-%s-idx%d-ubyte",
                                       "%s/%s-%s.idx%d-ubyte.gz", "%s/%s-%s.idx%d-ubyte"};
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
        snprintf(path, len, pats[i], dir, prefix, kind, r);
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) return 1;
    }
    snprintf(path, len, "%s/%s-%s-idx%d-ubyte.gz", dir, prefix, kind, r);
    return 0;
}

kiln_status kiln__load_idx_dir(const char *dir, const char *prefix, const kiln_load_options *o,
                               kiln_dataset *out, char *err, size_t errlen) {
    char ip[4096], lp[4096];
    memset(out, 0, sizeof *out);
    if (!find_idx(dir, prefix, "images", 3, ip, sizeof ip))
        return kiln__data_err(err, errlen, KILN_ERR_IO,
                              "%s: no %s-images-idx3-ubyte[.gz] in this directory", dir, prefix);
    if (!find_idx(dir, prefix, "labels", 1, lp, sizeof lp))
        return kiln__data_err(err, errlen, KILN_ERR_IO,
                              "%s: no %s-labels-idx1-ubyte[.gz] in this directory", dir, prefix);
    return kiln_dataset_load_idx(ip, lp, o, out, err, errlen);
}

kiln_status kiln_dataset_load_fashion_mnist(const char *dir, kiln_dataset *train,
                                            kiln_dataset *test, char *err, size_t errlen) {
    kiln_load_options o;
    kiln_load_options_init(&o);
    o.num_classes = 10;
    o.scale = 1.0f / 255.0f;
    if (test) memset(test, 0, sizeof *test);
    kiln_status st = kiln__load_idx_dir(dir, "train", &o, train, err, errlen);
    if (st != KILN_OK || !test) return st;
    st = kiln__load_idx_dir(dir, "t10k", &o, test, err, errlen);
    if (st != KILN_OK) {
        kiln_dataset_free(train);
        return st;
    }
    if (test->rank != train->rank || test->sample_size != train->sample_size) {
        kiln_dataset_free(train);
        kiln_dataset_free(test);
        return kiln__data_err(err, errlen, KILN_ERR_SHAPE,
                              "%s: t10k images differ in shape from train images", dir);
    }
    return KILN_OK;
}
