/* csv.c: numeric CSV (RFC 4180 quoting) into a dataset: one sample per row, an optional header,
 * one label column (by index or header name) or none. Errors give file:line. */
#include <stdlib.h>
#include <string.h>

#include "data/internal.h"

typedef struct field {
    const char *s, *e; /* content, quotes removed (escaped "" kept as is) */
} field;

/* Splits the line [p, end) into fields; returns the count (also past max, fields not stored). */
static int64_t split_line(const char *p, const char *end, char delim, field *f, int64_t max) {
    int64_t n = 0;
    for (;;) {
        const char *s = p, *e;
        while (s < end && (*s == ' ' || *s == '\t') && *s != delim)
            s++;
        if (s < end && *s == '"') {
            const char *q = s + 1;
            while (q < end && !(*q == '"' && (q + 1 >= end || q[1] != '"')))
                q += *q == '"' ? 2 : 1;
            e = q < end ? q : end;
            s = s + 1;
            p = q < end ? q + 1 : end;
            while (p < end && *p != delim)
                p++;
        } else {
            p = s;
            while (p < end && *p != delim)
                p++;
            e = p;
            while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
        }
        if (n < max) {
            f[n].s = s;
            f[n].e = e;
        }
        n++;
        if (p >= end) return n;
        p++; /* past the delimiter */
    }
}

/* Parses a whole field as a number. Plain integers take a fast path (most image CSVs). */
static int parse_num(const field *f, double *out) {
    const char *s = f->s, *e = f->e;
    if (s >= e) return 0;
    const char *q = s;
    int neg = 0;
    if (*q == '-' || *q == '+') neg = *q++ == '-';
    if (q < e && e - q <= 9) {
        int32_t v = 0;
        const char *r = q;
        while (r < e && *r >= '0' && *r <= '9')
            v = v * 10 + (*r++ - '0');
        if (r == e) {
            *out = neg ? -(double)v : (double)v;
            return 1;
        }
    }
    char buf[64];
    size_t n = (size_t)(e - s);
    if (n >= sizeof buf) return 0;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *stop;
    *out = strtod(buf, &stop);
    return stop == buf + n;
}

static void field_text(const field *f, char *buf, size_t len) {
    size_t n = (size_t)(f->e - f->s);
    if (n > 40) n = 40;
    if (n >= len) n = len - 1;
    memcpy(buf, f->s, n);
    buf[n] = 0;
}

/* Next line [*ls, *le) starting at p; returns the start of the following line. */
static const char *next_line(const char *p, const char *end, const char **ls, const char **le) {
    *ls = p;
    const char *q = memchr(p, '\n', (size_t)(end - p));
    const char *stop = q ? q : end;
    *le = stop > p && stop[-1] == '\r' ? stop - 1 : stop;
    return q ? q + 1 : end;
}

static int blank(const char *s, const char *e) {
    for (; s < e; s++)
        if (*s != ' ' && *s != '\t') return 0;
    return 1;
}

kiln_status kiln_dataset_load_csv(const char *path, const kiln_load_options *o, kiln_dataset *out,
                                  char *err, size_t errlen) {
    kiln_load_options defaults;
    if (!o) {
        kiln_load_options_init(&defaults);
        o = &defaults;
    }
    memset(out, 0, sizeof *out);
    uint8_t *buf;
    size_t len;
    kiln_status st = kiln__read_file(path, &buf, &len, err, errlen);
    if (st != KILN_OK) return st;
    const char *p = (const char *)buf, *end = p + len;
    char delim = o->csv_delimiter ? o->csv_delimiter : ',';
    field *f = NULL;
    int64_t line = 0, ncol = 0, label_col = -2, rows = 0, maxrows = 0;
    const char *ls, *le;
    /* The first non-blank line fixes the column count and tells whether there is a header. */
    const char *first = NULL;
    while (p < end) {
        p = next_line(p, end, &ls, &le);
        line++;
        if (!blank(ls, le)) {
            first = ls;
            break;
        }
    }
    if (!first) {
        st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: no data rows", path);
        goto done;
    }
    ncol = split_line(ls, le, delim, NULL, 0);
    f = malloc((size_t)ncol * sizeof *f);
    if (!f) {
        st = kiln__data_err(err, errlen, KILN_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    split_line(ls, le, delim, f, ncol);
    int header = o->csv_header;
    if (header < 0) {
        header = 0;
        for (int64_t c = 0; c < ncol && !header; c++) {
            double v;
            if (!parse_num(&f[c], &v)) header = 1;
        }
    }
    if (o->csv_label_name) {
        if (!header) {
            st = kiln__data_err(err, errlen, KILN_ERR_ARG,
                                "%s: label column '%s' given by name, but the file has no header",
                                path, o->csv_label_name);
            goto done;
        }
        for (int64_t c = 0; c < ncol && label_col < 0; c++)
            if ((size_t)(f[c].e - f[c].s) == strlen(o->csv_label_name) &&
                memcmp(f[c].s, o->csv_label_name, (size_t)(f[c].e - f[c].s)) == 0)
                label_col = c;
        if (label_col < 0) {
            st = kiln__data_err(err, errlen, KILN_ERR_ARG, "%s:%lld: no column named '%s'", path,
                                (long long)line, o->csv_label_name);
            goto done;
        }
    } else if (o->csv_label_column == -1) {
        label_col = ncol - 1;
    } else if (o->csv_label_column >= 0) {
        label_col = o->csv_label_column;
        if (label_col >= ncol) {
            st = kiln__data_err(err, errlen, KILN_ERR_ARG,
                                "%s:%lld: label column %lld, but rows have %lld columns", path,
                                (long long)line, (long long)label_col, (long long)ncol);
            goto done;
        }
    }
    int64_t nfeat = ncol - (label_col >= 0 ? 1 : 0);
    if (nfeat < 1 || nfeat > INT32_MAX) {
        st = kiln__data_err(err, errlen, KILN_ERR_SHAPE, "%s: rows have no feature columns", path);
        goto done;
    }
    /* Rows <= newlines + 1: allocate for that, shrink at the end. */
    maxrows = 1;
    for (const char *q = first; (q = memchr(q, '\n', (size_t)(end - q))) != NULL; q++)
        maxrows++;
    int with_labels = label_col >= 0 && !o->as_targets;
    int32_t dim = (int32_t)nfeat;
    st = kiln_dataset_alloc(out, maxrows, 1, &dim, with_labels,
                            label_col >= 0 && o->as_targets ? 1 : 0, err, errlen);
    if (st != KILN_OK) goto done;
    float scale = o->scale != 0.0f ? o->scale : 1.0f, offset = o->offset;
    p = first;
    line--;
    int32_t maxlabel = -1;
    while (p < end) {
        p = next_line(p, end, &ls, &le);
        line++;
        if (blank(ls, le)) continue;
        if (header && ls == first) continue;
        int64_t nc = split_line(ls, le, delim, f, ncol);
        if (nc != ncol) {
            st = kiln__data_err(err, errlen, KILN_ERR_SHAPE,
                                "%s:%lld: %lld columns, expected %lld (as the first row)", path,
                                (long long)line, (long long)nc, (long long)ncol);
            goto done;
        }
        float *x = out->x + rows * nfeat;
        for (int64_t c = 0, k = 0; c < ncol; c++) {
            double v;
            if (!parse_num(&f[c], &v)) {
                char t[48];
                field_text(&f[c], t, sizeof t);
                st = kiln__data_err(err, errlen, KILN_ERR_SHAPE,
                                    f[c].s == f[c].e ? "%s:%lld: column %lld is empty%s"
                                                     : "%s:%lld: column %lld: '%s' is not a number",
                                    path, (long long)line, (long long)(c + 1), t);
                goto done;
            }
            if (c == label_col) {
                if (o->as_targets) {
                    out->targets[rows] = (float)v;
                } else {
                    if (!(v >= 0 && v <= 2147483647.0 && v == (double)(int64_t)v)) {
                        char t[48];
                        field_text(&f[c], t, sizeof t);
                        st = kiln__data_err(err, errlen, KILN_ERR_SHAPE,
                                            "%s:%lld: label '%s' is not a class index (a "
                                            "non-negative integer)",
                                            path, (long long)line, t);
                        goto done;
                    }
                    int32_t l = (int32_t)v;
                    if (o->num_classes > 0 && l >= o->num_classes) {
                        st = kiln__data_err(err, errlen, KILN_ERR_SHAPE,
                                            "%s:%lld: label %d is out of range [0, %d)", path,
                                            (long long)line, (int)l, (int)o->num_classes);
                        goto done;
                    }
                    if (l > maxlabel) maxlabel = l;
                    out->labels[rows] = l;
                }
            } else {
                x[k++] = (float)v * scale + offset;
            }
        }
        rows++;
    }
    if (rows == 0) {
        st = kiln__data_err(err, errlen, KILN_ERR_IO, "%s: no data rows", path);
        goto done;
    }
    out->n = rows;
    if (with_labels) out->num_classes = o->num_classes > 0 ? o->num_classes : maxlabel + 1;
    float *nx = realloc(out->x, (size_t)(rows * nfeat) * sizeof(float));
    if (nx) out->x = nx;
done:
    free(f);
    free(buf);
    if (st != KILN_OK) kiln_dataset_free(out);
    return st;
}
