/* image.c: 8-bit PGM/PPM (Netpbm P2/P5/P3/P6) and PNG (ISO/IEC 15948: 8-bit gray, gray+alpha,
 * RGB, RGBA, palette; non-interlaced; zlib inflate) decoding, and class-folder datasets. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data/internal.h"

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- Netpbm ------------------------------------------------------------------------------ */

/* Reads the next header integer, skipping whitespace and # comments. */
static int pnm_int(const uint8_t **p, const uint8_t *end, int64_t *v) {
    const uint8_t *q = *p;
    for (;;) {
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
            q++;
        if (q < end && *q == '#') {
            while (q < end && *q != '\n')
                q++;
            continue;
        }
        break;
    }
    if (q >= end || *q < '0' || *q > '9') return 0;
    int64_t x = 0;
    while (q < end && *q >= '0' && *q <= '9') {
        x = x * 10 + (*q++ - '0');
        if (x > (1 << 30)) return 0;
    }
    *v = x;
    *p = q;
    return 1;
}

static kiln_status decode_pnm(const char *path, const uint8_t *b, size_t len, uint8_t **out,
                              int32_t *h, int32_t *w, int32_t *c, char *err, size_t errlen) {
    char kind = (char)b[1];
    int ascii = kind == '2' || kind == '3';
    int chans = (kind == '3' || kind == '6') ? 3 : 1;
    const uint8_t *p = b + 2, *end = b + len;
    int64_t W, H, maxv;
    if (!pnm_int(&p, end, &W) || !pnm_int(&p, end, &H) || !pnm_int(&p, end, &maxv))
        return kiln__data_err(err, errlen, KILN_ERR_IO, "%s: bad PNM header", path);
    if (W <= 0 || H <= 0 || W * H > (1 << 28))
        return kiln__data_err(err, errlen, KILN_ERR_IO, "%s: bad image size %lldx%lld", path,
                              (long long)W, (long long)H);
    if (maxv < 1 || maxv > 255)
        return kiln__data_err(err, errlen, KILN_ERR_UNSUPPORTED,
                              "%s: maxval %lld (only 8-bit images are supported)", path,
                              (long long)maxv);
    size_t n = (size_t)W * (size_t)H * (size_t)chans;
    uint8_t *img = malloc(n);
    if (!img) return kiln__data_err(err, errlen, KILN_ERR_NOMEM, "%s: out of memory", path);
    if (ascii) {
        for (size_t i = 0; i < n; i++) {
            int64_t v;
            if (!pnm_int(&p, end, &v) || v > maxv) {
                free(img);
                return kiln__data_err(err, errlen, KILN_ERR_IO,
                                      "%s: truncated or bad pixel %zu of %zu", path, i, n);
            }
            img[i] = (uint8_t)v;
        }
    } else {
        p++; /* exactly one whitespace byte after maxval */
        if (p > end || (size_t)(end - p) < n) {
            free(img);
            return kiln__data_err(err, errlen, KILN_ERR_IO,
                                  "%s: truncated: %zu bytes of pixels expected, file has %zu", path,
                                  n, p > end ? (size_t)0 : (size_t)(end - p));
        }
        memcpy(img, p, n);
    }
    if (maxv != 255) /* rescale to the full 8-bit range so all images share one scale */
        for (size_t i = 0; i < n; i++)
            img[i] = (uint8_t)((img[i] * 255 + maxv / 2) / maxv);
    *out = img;
    *h = (int32_t)H;
    *w = (int32_t)W;
    *c = chans;
    return KILN_OK;
}

/* ---- PNG --------------------------------------------------------------------------------- */

static int paeth(int a, int b, int c) {
    int p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c);
    if (pa <= pb && pa <= pc) return a;
    return pb <= pc ? b : c;
}

static kiln_status decode_png(const char *path, const uint8_t *b, size_t len, uint8_t **out,
                              int32_t *h, int32_t *w, int32_t *c, char *err, size_t errlen) {
    size_t p = 8;
    uint32_t W = 0, H = 0;
    int depth = 0, ctype = -1, seen_ihdr = 0, seen_iend = 0;
    uint8_t plte[768];
    int nplte = 0;
    uint8_t *idat = NULL, *raw = NULL, *img = NULL;
    size_t idat_len = 0, idat_cap = 0;
    kiln_status st = KILN_OK;
    while (!seen_iend) {
        if (len - p < 12) {
            st =
                kiln__data_err(err, errlen, KILN_ERR_IO, "%s: truncated PNG (no IEND chunk)", path);
            goto done;
        }
        uint32_t n = be32(b + p);
        const uint8_t *type = b + p + 4, *data = b + p + 8;
        if (n > len - p - 12) {
            st = kiln__data_err(err, errlen, KILN_ERR_IO,
                                "%s: truncated PNG: chunk %.4s at byte %zu needs %u bytes", path,
                                (const char *)type, p, n);
            goto done;
        }
        uint32_t crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), type, n + 4);
        if (crc != be32(data + n)) {
            st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: PNG chunk %.4s at byte %zu: bad CRC",
                                path, (const char *)type, p);
            goto done;
        }
        if (!memcmp(type, "IHDR", 4)) {
            if (n != 13) {
                st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: bad IHDR", path);
                goto done;
            }
            W = be32(data);
            H = be32(data + 4);
            depth = data[8];
            ctype = data[9];
            if (data[12] != 0) {
                st = kiln__data_err(err, errlen, KILN_ERR_UNSUPPORTED,
                                    "%s: interlaced PNG is not supported", path);
                goto done;
            }
            if (depth != 8 ||
                (ctype != 0 && ctype != 2 && ctype != 3 && ctype != 4 && ctype != 6)) {
                st = kiln__data_err(err, errlen, KILN_ERR_UNSUPPORTED,
                                    "%s: PNG bit depth %d, color type %d (supported: 8-bit gray, "
                                    "gray+alpha, RGB, RGBA, palette)",
                                    path, depth, ctype);
                goto done;
            }
            if (W == 0 || H == 0 || (uint64_t)W * H > (1u << 28)) {
                st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: bad PNG size %ux%u", path, W, H);
                goto done;
            }
            seen_ihdr = 1;
        } else if (!memcmp(type, "PLTE", 4)) {
            if (n % 3 || n > 768) {
                st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: bad PLTE", path);
                goto done;
            }
            memcpy(plte, data, n);
            nplte = (int)(n / 3);
        } else if (!memcmp(type, "IDAT", 4)) {
            if (idat_len + n > idat_cap) {
                size_t cap = idat_cap ? idat_cap : 4096;
                while (cap < idat_len + n)
                    cap *= 2;
                uint8_t *ni = realloc(idat, cap);
                if (!ni) {
                    st = kiln__data_err(err, errlen, KILN_ERR_NOMEM, "%s: out of memory", path);
                    goto done;
                }
                idat = ni;
                idat_cap = cap;
            }
            memcpy(idat + idat_len, data, n);
            idat_len += n;
        } else if (!memcmp(type, "IEND", 4)) {
            seen_iend = 1;
        } else if (!(type[0] & 0x20)) {
            st = kiln__data_err(err, errlen, KILN_ERR_UNSUPPORTED,
                                "%s: unknown critical PNG chunk %.4s", path, (const char *)type);
            goto done;
        }
        p += 12u + n;
    }
    if (!seen_ihdr || !idat) {
        st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: PNG without %s", path,
                            seen_ihdr ? "IDAT" : "IHDR");
        goto done;
    }
    if (ctype == 3 && nplte == 0) {
        st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: palette PNG without PLTE", path);
        goto done;
    }
    int bpp = ctype == 0 ? 1 : ctype == 2 ? 3 : ctype == 3 ? 1 : ctype == 4 ? 2 : 4;
    size_t stride = (size_t)W * (size_t)bpp, rawlen = (stride + 1) * H;
    raw = malloc(rawlen);
    if (!raw) {
        st = kiln__data_err(err, errlen, KILN_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    uLongf got = (uLongf)rawlen;
    int zr = uncompress(raw, &got, idat, (uLong)idat_len);
    if (zr != Z_OK || got != rawlen) {
        st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: PNG image data: %s", path,
                            zr == Z_OK          ? "wrong size"
                            : zr == Z_BUF_ERROR ? "truncated or too large"
                                                : "corrupt");
        goto done;
    }
    /* Undo the per-row filters in place (filter byte, then the row). */
    for (uint32_t y = 0; y < H; y++) {
        uint8_t *row = raw + y * (stride + 1) + 1;
        const uint8_t *up = y ? row - (stride + 1) : NULL;
        int ft = row[-1];
        for (size_t i = 0; i < stride; i++) {
            int a = i >= (size_t)bpp ? row[i - (size_t)bpp] : 0;
            int u = up ? up[i] : 0;
            int cc = up && i >= (size_t)bpp ? up[i - (size_t)bpp] : 0;
            int v;
            switch (ft) {
            case 0:
                v = 0;
                break;
            case 1:
                v = a;
                break;
            case 2:
                v = u;
                break;
            case 3:
                v = (a + u) >> 1;
                break;
            case 4:
                v = paeth(a, u, cc);
                break;
            default:
                st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: bad PNG filter %d in row %u",
                                    path, ft, y);
                goto done;
            }
            row[i] = (uint8_t)(row[i] + v);
        }
    }
    int outc = (ctype == 0 || ctype == 4) ? 1 : 3; /* alpha is dropped */
    img = malloc((size_t)W * H * (size_t)outc);
    if (!img) {
        st = kiln__data_err(err, errlen, KILN_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (uint32_t y = 0; y < H; y++) {
        const uint8_t *row = raw + y * (stride + 1) + 1;
        uint8_t *o = img + (size_t)y * W * (size_t)outc;
        for (uint32_t x = 0; x < W; x++) {
            const uint8_t *px = row + (size_t)x * (size_t)bpp;
            if (ctype == 3) {
                if (px[0] >= nplte) {
                    st = kiln__data_err(err, errlen, KILN_ERR_IO,
                                        "%s: palette index %d past %d entries", path, px[0], nplte);
                    goto done;
                }
                memcpy(o + (size_t)x * 3, plte + 3 * px[0], 3);
            } else {
                memcpy(o + (size_t)x * (size_t)outc, px, (size_t)outc);
            }
        }
    }
    *out = img;
    img = NULL;
    *h = (int32_t)H;
    *w = (int32_t)W;
    *c = outc;
done:
    free(idat);
    free(raw);
    free(img);
    return st;
}

kiln_status kiln_image_read(const char *path, uint8_t **out, int32_t *h, int32_t *w, int32_t *c,
                            char *err, size_t errlen) {
    *out = NULL;
    uint8_t *b;
    size_t len;
    kiln_status st = kiln__read_file(path, &b, &len, err, errlen);
    if (st != KILN_OK) return st;
    if (len >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8))
        st = decode_png(path, b, len, out, h, w, c, err, errlen);
    else if (len >= 3 && b[0] == 'P' && (b[1] == '2' || b[1] == '3' || b[1] == '5' || b[1] == '6'))
        st = decode_pnm(path, b, len, out, h, w, c, err, errlen);
    else
        st = kiln__data_err(err, errlen, KILN_ERR_UNSUPPORTED,
                            "%s: not a PNG or 8-bit PGM/PPM image", path);
    free(b);
    return st;
}

/* ---- class folders ----------------------------------------------------------------------- */

typedef struct names {
    char **v;
    size_t n, cap;
} names;

static int names_add(names *l, const char *s) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) return 0;
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n] = strdup(s);
    return l->v[l->n++] != NULL;
}

static void names_free(names *l) {
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_image_name(const char *s) {
    const char *dot = strrchr(s, '.');
    if (!dot) return 0;
    static const char *const ext[] = {".png", ".PNG", ".pgm", ".PGM", ".ppm", ".PPM", ".pnm"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (!strcmp(dot, ext[i])) return 1;
    return 0;
}

/* Lists entries of dir that are directories (want_dirs) or image files, sorted. */
static kiln_status list_dir(const char *dir, int want_dirs, names *out, char *err, size_t errlen) {
    DIR *d = opendir(dir);
    if (!d) return kiln__data_err(err, errlen, KILN_ERR_IO, "%s: cannot open directory", dir);
    struct dirent *e;
    char full[4096];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(full, &sb) != 0) continue;
        int keep =
            want_dirs ? S_ISDIR(sb.st_mode) : (S_ISREG(sb.st_mode) && is_image_name(e->d_name));
        if (keep && !names_add(out, e->d_name)) {
            closedir(d);
            return kiln__data_err(err, errlen, KILN_ERR_NOMEM, "%s: out of memory", dir);
        }
    }
    closedir(d);
    if (out->n) qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return KILN_OK;
}

kiln_status kiln_dataset_load_images(const char *dir, const kiln_load_options *o, kiln_dataset *out,
                                     char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    names classes = {0}, files = {0};
    kiln_status st = list_dir(dir, 1, &classes, err, errlen);
    if (st != KILN_OK) return st;
    if (classes.n == 0) {
        names_free(&classes);
        return kiln__data_err(err, errlen, KILN_ERR_IO,
                              "%s: no class sub-folders (expected DIR/<class>/<image>.png|pgm)",
                              dir);
    }
    /* First pass: the file list with its class, so the dataset is allocated once. */
    int32_t *cls = NULL;
    size_t ncls = 0;
    char path[4096];
    for (size_t k = 0; k < classes.n && st == KILN_OK; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, classes.v[k]);
        size_t before = files.n;
        names sub = {0};
        st = list_dir(path, 0, &sub, err, errlen);
        for (size_t i = 0; st == KILN_OK && i < sub.n; i++) {
            char rel[4096];
            snprintf(rel, sizeof rel, "%s/%s", classes.v[k], sub.v[i]);
            if (!names_add(&files, rel))
                st = kiln__data_err(err, errlen, KILN_ERR_NOMEM, "%s: out of memory", dir);
        }
        names_free(&sub);
        if (st != KILN_OK) break;
        int32_t *nc = realloc(cls, (files.n + 1) * sizeof *nc);
        if (!nc) {
            st = kiln__data_err(err, errlen, KILN_ERR_NOMEM, "%s: out of memory", dir);
            break;
        }
        cls = nc;
        for (size_t i = before; i < files.n; i++)
            cls[i] = (int32_t)k;
        ncls = files.n;
    }
    if (st == KILN_OK && files.n == 0)
        st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: no .png/.pgm/.ppm images found", dir);
    int32_t H = 0, W = 0, C = 0;
    for (size_t i = 0; st == KILN_OK && i < files.n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files.v[i]);
        uint8_t *img;
        int32_t h, w, c;
        st = kiln_image_read(path, &img, &h, &w, &c, err, errlen);
        if (st != KILN_OK) break;
        if (i == 0) {
            H = h, W = w, C = c;
            int32_t dims[3] = {h, w, c};
            st = kiln_dataset_alloc(out, (int64_t)files.n, 3, dims, !(o && o->as_targets),
                                    o && o->as_targets ? 1 : 0, err, errlen);
        } else if (h != H || w != W || c != C) {
            st = kiln__data_err(err, errlen, KILN_ERR_SHAPE,
                                "%s: %dx%dx%d image, but %s is %dx%dx%d (all must match)", path,
                                (int)h, (int)w, (int)c, files.v[0], (int)H, (int)W, (int)C);
        }
        if (st == KILN_OK) {
            kiln__to_float(KILN_UINT8, img, out->sample_size, kiln__scale_for(o, KILN_UINT8),
                           o ? o->offset : 0.0f, out->x + (size_t)i * (size_t)out->sample_size);
            if (out->labels) out->labels[i] = cls[i];
            if (out->targets) out->targets[i] = (float)cls[i];
        }
        free(img);
    }
    (void)ncls;
    if (st == KILN_OK && out->labels) {
        out->num_classes = (int32_t)classes.n;
        if (o && o->num_classes > 0) {
            if ((size_t)o->num_classes < classes.n)
                st = kiln__data_err(err, errlen, KILN_ERR_SHAPE,
                                    "%s: %zu class folders, but %d classes were asked for", dir,
                                    classes.n, (int)o->num_classes);
            out->num_classes = o->num_classes;
        }
    }
    free(cls);
    names_free(&files);
    names_free(&classes);
    if (st != KILN_OK) kiln_dataset_free(out);
    return st;
}
