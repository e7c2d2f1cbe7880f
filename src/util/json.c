/* json.c: a streaming JSON writer and a small DOM reader (RFC 8259). Numbers are written with
 * the fewest significant digits that read back to the same double; NaN/Inf become null. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/json.h"

/* ---- writer ------------------------------------------------------------------------------ */

static void w_fail(kiln_json *w, kiln_status st) {
    if (w->status == KILN_OK) w->status = st;
}

static void w_raw(kiln_json *w, const char *s, size_t n) {
    if (w->status != KILN_OK || n == 0) return;
    if (w->f) {
        if (fwrite(s, 1, n, w->f) != n) w_fail(w, KILN_ERR_IO);
        return;
    }
    if (w->len + n + 1 > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n + 1)
            cap *= 2;
        char *nb = realloc(w->buf, cap);
        if (!nb) {
            w_fail(w, KILN_ERR_NOMEM);
            return;
        }
        w->buf = nb;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = 0;
}

static void w_str0(kiln_json *w, const char *s) {
    w_raw(w, s, strlen(s));
}

static void w_newline(kiln_json *w) {
    if (w->indent <= 0) return;
    w_raw(w, "\n", 1);
    for (int32_t i = 0; i < w->depth * w->indent; i++)
        w_raw(w, " ", 1);
}

/* Comma and layout before a value (or a key in an object). */
static void w_before_value(kiln_json *w) {
    if (w->want_value) {
        w->want_value = 0;
        return;
    }
    if (w->depth == 0) return;
    if (w->stack[w->depth - 1] == 'o') {
        w_fail(w, KILN_ERR_STATE); /* a value inside an object needs a key first */
        return;
    }
    if (w->count[w->depth - 1]) w_raw(w, ",", 1);
    w->count[w->depth - 1] = 1;
    w_newline(w);
}

void kiln_json_init_file(kiln_json *w, FILE *f, int32_t indent) {
    memset(w, 0, sizeof *w);
    w->f = f;
    w->indent = indent;
    if (!f) w->status = KILN_ERR_ARG;
}

void kiln_json_init_buffer(kiln_json *w, int32_t indent) {
    memset(w, 0, sizeof *w);
    w->indent = indent;
}

static void w_open(kiln_json *w, uint8_t kind) {
    w_before_value(w);
    if (w->depth >= KILN_JSON_MAX_DEPTH) {
        w_fail(w, KILN_ERR_STATE);
        return;
    }
    w_raw(w, kind == 'o' ? "{" : "[", 1);
    w->stack[w->depth] = kind;
    w->count[w->depth] = 0;
    w->depth++;
}

static void w_close(kiln_json *w, uint8_t kind) {
    if (w->depth == 0 || w->stack[w->depth - 1] != kind || w->want_value) {
        w_fail(w, KILN_ERR_STATE);
        return;
    }
    int had = w->count[w->depth - 1];
    w->depth--;
    if (had) w_newline(w);
    w_raw(w, kind == 'o' ? "}" : "]", 1);
}

void kiln_json_obj_begin(kiln_json *w) {
    w_open(w, 'o');
}
void kiln_json_obj_end(kiln_json *w) {
    w_close(w, 'o');
}
void kiln_json_arr_begin(kiln_json *w) {
    w_open(w, 'a');
}
void kiln_json_arr_end(kiln_json *w) {
    w_close(w, 'a');
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    /* Reject overlong forms, surrogates and values past U+10FFFF. */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static void w_string(kiln_json *w, const char *s, size_t n) {
    w_raw(w, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0;
    while (i < n) {
        unsigned char c = p[i];
        const char *esc = NULL;
        char ubuf[8];
        size_t ul = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c == '\b')
            esc = "\\b";
        else if (c == '\f')
            esc = "\\f";
        else if (c < 0x20 || c == 0x7f) {
            snprintf(ubuf, sizeof ubuf, "\\u%04x", c);
            esc = ubuf;
        } else if (c >= 0x80) {
            ul = utf8_len(p + i, n - i);
            if (ul == 0) {
                esc = "\\ufffd"; /* invalid UTF-8 would make the whole document invalid */
                ul = 1;
            }
        }
        if (esc) {
            w_raw(w, s + run, i - run);
            w_str0(w, esc);
            i += ul;
            run = i;
        } else {
            i += ul;
        }
    }
    w_raw(w, s + run, n - run);
    w_raw(w, "\"", 1);
}

void kiln_json_key(kiln_json *w, const char *key) {
    if (w->depth == 0 || w->stack[w->depth - 1] != 'o' || w->want_value) {
        w_fail(w, KILN_ERR_STATE);
        return;
    }
    if (w->count[w->depth - 1]) w_raw(w, ",", 1);
    w->count[w->depth - 1] = 1;
    w_newline(w);
    w_string(w, key, strlen(key));
    w_raw(w, w->indent > 0 ? ": " : ":", w->indent > 0 ? 2 : 1);
    w->want_value = 1;
}

void kiln_json_strn(kiln_json *w, const char *s, size_t n) {
    w_before_value(w);
    w_string(w, s, n);
}

void kiln_json_str(kiln_json *w, const char *s) {
    if (!s) {
        kiln_json_null(w);
        return;
    }
    kiln_json_strn(w, s, strlen(s));
}

/* Shortest "%.<p>g" (p = 1..17) that reads back to exactly v; '.' whatever the locale. */
static void fmt_double(double v, char *buf, size_t len) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        for (char *c = buf; *c; c++)
            if (*c == ',') *c = '.';
        if (strtod(buf, NULL) == v) return;
    }
}

void kiln_json_num(kiln_json *w, double v) {
    if (!isfinite(v)) {
        kiln_json_null(w);
        return;
    }
    w_before_value(w);
    char buf[40];
    fmt_double(v, buf, sizeof buf);
    w_str0(w, buf);
}

void kiln_json_float(kiln_json *w, float v) {
    if (!isfinite(v)) {
        kiln_json_null(w);
        return;
    }
    w_before_value(w);
    char buf[40];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
        for (char *c = buf; *c; c++)
            if (*c == ',') *c = '.';
        if (strtof(buf, NULL) == v) break;
    }
    w_str0(w, buf);
}

void kiln_json_int(kiln_json *w, int64_t v) {
    w_before_value(w);
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    w_str0(w, buf);
}

void kiln_json_bool(kiln_json *w, int v) {
    w_before_value(w);
    w_str0(w, v ? "true" : "false");
}

void kiln_json_null(kiln_json *w) {
    w_before_value(w);
    w_str0(w, "null");
}

void kiln_json_kv_str(kiln_json *w, const char *key, const char *s) {
    kiln_json_key(w, key);
    kiln_json_str(w, s);
}
void kiln_json_kv_num(kiln_json *w, const char *key, double v) {
    kiln_json_key(w, key);
    kiln_json_num(w, v);
}
void kiln_json_kv_float(kiln_json *w, const char *key, float v) {
    kiln_json_key(w, key);
    kiln_json_float(w, v);
}
void kiln_json_kv_int(kiln_json *w, const char *key, int64_t v) {
    kiln_json_key(w, key);
    kiln_json_int(w, v);
}
void kiln_json_kv_bool(kiln_json *w, const char *key, int v) {
    kiln_json_key(w, key);
    kiln_json_bool(w, v);
}

kiln_status kiln_json_finish(kiln_json *w) {
    if (w->depth != 0 || w->want_value) w_fail(w, KILN_ERR_STATE);
    if (w->indent > 0) w_raw(w, "\n", 1);
    if (w->f && w->status == KILN_OK && fflush(w->f) != 0) w_fail(w, KILN_ERR_IO);
    if (!w->f && !w->buf) w_raw(w, "", 0);
    return w->status;
}

const char *kiln_json_text(const kiln_json *w, size_t *len) {
    if (len) *len = w->buf ? w->len : 0;
    return w->buf ? w->buf : "";
}

void kiln_json_free(kiln_json *w) {
    free(w->buf);
    w->buf = NULL;
    w->len = w->cap = 0;
}

static kiln_status j_err(char *err, size_t errlen, kiln_status st, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return st;
}

kiln_status kiln_json_save(const kiln_json *w, const char *path, char *err, size_t errlen) {
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp)
        return j_err(err, errlen, KILN_ERR_ARG, "%s: path too long", path);
    if (w->status != KILN_OK)
        return j_err(err, errlen, w->status, "%s: the JSON document is incomplete", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return j_err(err, errlen, KILN_ERR_IO, "%s: %s", tmp, strerror(errno));
    size_t n = w->buf ? w->len : 0;
    int bad = fwrite(w->buf ? w->buf : "", 1, n, f) != n;
    if (fclose(f) != 0) bad = 1;
    if (bad || rename(tmp, path) != 0) {
        remove(tmp);
        return j_err(err, errlen, KILN_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    }
    return KILN_OK;
}

/* ---- reader ------------------------------------------------------------------------------ */

typedef struct jp {
    const char *s, *end, *name;
    const char *p;
    char *err;
    size_t errlen;
    kiln_status st;
} jp;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
jp_fail(jp *j, const char *fmt, ...) {
    if (j->st != KILN_OK) return;
    j->st = KILN_ERR_ARG;
    int line = 1, col = 1;
    for (const char *c = j->s; c < j->p && c < j->end; c++) {
        if (*c == '\n')
            line++, col = 1;
        else
            col++;
    }
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (j->err && j->errlen)
        snprintf(j->err, j->errlen, "%s:%d:%d: %s", j->name ? j->name : "json", line, col, msg);
}

static void jp_ws(jp *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int jp_lit(jp *j, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) >= n && memcmp(j->p, lit, n) == 0) {
        j->p += n;
        return 1;
    }
    return 0;
}

static int hex4(const char *p, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Parses a string at j->p (on the opening quote) into a malloc'ed buffer. */
static char *jp_string(jp *j, size_t *outlen) {
    j->p++;
    const char *start = j->p;
    /* Decoded text is never longer than the source. */
    size_t cap = 0;
    while (start + cap < j->end && start[cap] != '"')
        cap += start[cap] == '\\' ? 2 : 1;
    char *o = malloc(cap + 1);
    if (!o) {
        jp_fail(j, "out of memory");
        return NULL;
    }
    size_t n = 0;
    for (;;) {
        if (j->p >= j->end) {
            jp_fail(j, "unterminated string");
            break;
        }
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            o[n] = 0;
            *outlen = n;
            return o;
        }
        if (c < 0x20) {
            jp_fail(j, "control character in string");
            break;
        }
        if (c != '\\') {
            o[n++] = (char)c;
            j->p++;
            continue;
        }
        if (j->end - j->p < 2) {
            jp_fail(j, "unterminated escape");
            break;
        }
        char e = j->p[1];
        j->p += 2;
        switch (e) {
        case '"':
            o[n++] = '"';
            break;
        case '\\':
            o[n++] = '\\';
            break;
        case '/':
            o[n++] = '/';
            break;
        case 'b':
            o[n++] = '\b';
            break;
        case 'f':
            o[n++] = '\f';
            break;
        case 'n':
            o[n++] = '\n';
            break;
        case 'r':
            o[n++] = '\r';
            break;
        case 't':
            o[n++] = '\t';
            break;
        case 'u': {
            uint32_t cp, lo;
            if (j->end - j->p < 4 || !hex4(j->p, &cp)) {
                jp_fail(j, "bad \\u escape");
                goto fail;
            }
            j->p += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u' &&
                    hex4(j->p + 2, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    j->p += 6;
                } else {
                    cp = 0xFFFD; /* lone surrogate */
                }
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
            n += put_utf8(o + n, cp);
            break;
        }
        default:
            j->p -= 2; /* point at the backslash */
            jp_fail(j, "bad escape '\\%c'", e);
            goto fail;
        }
    }
fail:
    free(o);
    return NULL;
}

static int jp_value(jp *j, kiln_json_value *v, int depth);

static int jp_grow(jp *j, kiln_json_value *v, size_t *cap, int with_keys) {
    if (v->len < *cap) return 1;
    size_t nc = *cap ? *cap * 2 : 4;
    kiln_json_value *ni = realloc(v->items, nc * sizeof *ni);
    if (!ni) {
        jp_fail(j, "out of memory");
        return 0;
    }
    v->items = ni;
    if (with_keys) {
        char **nk = realloc(v->keys, nc * sizeof *nk);
        if (!nk) {
            jp_fail(j, "out of memory");
            return 0;
        }
        v->keys = nk;
    }
    *cap = nc;
    return 1;
}

static int jp_value(jp *j, kiln_json_value *v, int depth) {
    memset(v, 0, sizeof *v);
    jp_ws(j);
    if (depth > 128) {
        jp_fail(j, "nesting deeper than 128");
        return 0;
    }
    if (j->p >= j->end) {
        jp_fail(j, "unexpected end of input");
        return 0;
    }
    char c = *j->p;
    if (c == '{' || c == '[') {
        int obj = c == '{';
        v->type = obj ? KILN_JSON_OBJECT : KILN_JSON_ARRAY;
        j->p++;
        size_t cap = 0;
        jp_ws(j);
        if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
            j->p++;
            return 1;
        }
        for (;;) {
            if (!jp_grow(j, v, &cap, obj)) return 0;
            jp_ws(j);
            if (obj) {
                if (j->p >= j->end || *j->p != '"') {
                    jp_fail(j, "expected a string key");
                    return 0;
                }
                size_t kl;
                char *k = jp_string(j, &kl);
                if (!k) return 0;
                v->keys[v->len] = k;
                jp_ws(j);
                if (j->p >= j->end || *j->p != ':') {
                    free(k);
                    jp_fail(j, "expected ':'");
                    return 0;
                }
                j->p++;
            }
            int ok = jp_value(j, &v->items[v->len], depth + 1);
            v->len++; /* counted even on failure, so free releases it */
            if (!ok) return 0;
            jp_ws(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
                j->p++;
                return 1;
            }
            jp_fail(j, obj ? "expected ',' or '}'" : "expected ',' or ']'");
            return 0;
        }
    }
    if (c == '"') {
        v->type = KILN_JSON_STRING;
        v->string = jp_string(j, &v->len);
        return v->string != NULL;
    }
    if (jp_lit(j, "true")) {
        v->type = KILN_JSON_BOOL;
        v->boolean = 1;
        return 1;
    }
    if (jp_lit(j, "false")) {
        v->type = KILN_JSON_BOOL;
        return 1;
    }
    if (jp_lit(j, "null")) return 1;
    /* number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    const char *s = j->p, *q = s;
    if (q < j->end && *q == '-') q++;
    if (q < j->end && *q == '0')
        q++;
    else if (q < j->end && *q >= '1' && *q <= '9')
        while (q < j->end && *q >= '0' && *q <= '9')
            q++;
    else {
        jp_fail(j, "unexpected character '%c'", c);
        return 0;
    }
    if (q < j->end && *q == '.') {
        q++;
        if (q >= j->end || *q < '0' || *q > '9') {
            j->p = q;
            jp_fail(j, "digit expected after '.'");
            return 0;
        }
        while (q < j->end && *q >= '0' && *q <= '9')
            q++;
    }
    if (q < j->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < j->end && (*q == '+' || *q == '-')) q++;
        if (q >= j->end || *q < '0' || *q > '9') {
            j->p = q;
            jp_fail(j, "digit expected in exponent");
            return 0;
        }
        while (q < j->end && *q >= '0' && *q <= '9')
            q++;
    }
    char buf[128];
    size_t n = (size_t)(q - s);
    if (n >= sizeof buf) {
        jp_fail(j, "number too long");
        return 0;
    }
    memcpy(buf, s, n);
    buf[n] = 0;
    v->type = KILN_JSON_NUMBER;
    v->number = strtod(buf, NULL);
    j->p = q;
    return 1;
}

static void value_clear(kiln_json_value *v) {
    free(v->string);
    if (v->type == KILN_JSON_ARRAY || v->type == KILN_JSON_OBJECT) {
        for (size_t i = 0; i < v->len; i++) {
            value_clear(&v->items[i]);
            if (v->keys) free(v->keys[i]);
        }
        free(v->items);
        free(v->keys);
    }
}

void kiln_json_value_free(kiln_json_value *v) {
    if (!v) return;
    value_clear(v);
    free(v);
}

kiln_status kiln_json_parse(const char *text, size_t len, const char *name, kiln_json_value **out,
                            char *err, size_t errlen) {
    *out = NULL;
    jp j = {text, text + len, name, text, err, errlen, KILN_OK};
    kiln_json_value *v = calloc(1, sizeof *v);
    if (!v) return j_err(err, errlen, KILN_ERR_NOMEM, "json: out of memory");
    if (jp_value(&j, v, 0)) {
        jp_ws(&j);
        if (j.p != j.end) jp_fail(&j, "unexpected text after the value");
    }
    if (j.st != KILN_OK) {
        kiln_json_value_free(v);
        return j.st;
    }
    *out = v;
    return KILN_OK;
}

kiln_status kiln_json_parse_file(const char *path, kiln_json_value **out, char *err,
                                 size_t errlen) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return j_err(err, errlen, KILN_ERR_IO, "%s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b) {
        if (n == cap) {
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    int bad = ferror(f);
    fclose(f);
    if (!b) return j_err(err, errlen, KILN_ERR_NOMEM, "%s: out of memory", path);
    if (bad) {
        free(b);
        return j_err(err, errlen, KILN_ERR_IO, "%s: read error", path);
    }
    kiln_status st = kiln_json_parse(b, n, path, out, err, errlen);
    free(b);
    return st;
}

const kiln_json_value *kiln_json_get(const kiln_json_value *v, const char *key) {
    if (!v || v->type != KILN_JSON_OBJECT) return NULL;
    for (size_t i = 0; i < v->len; i++)
        if (strcmp(v->keys[i], key) == 0) return &v->items[i];
    return NULL;
}

double kiln_json_get_num(const kiln_json_value *v, const char *key, double def) {
    const kiln_json_value *m = kiln_json_get(v, key);
    return m && m->type == KILN_JSON_NUMBER ? m->number : def;
}

const char *kiln_json_get_str(const kiln_json_value *v, const char *key) {
    const kiln_json_value *m = kiln_json_get(v, key);
    return m && m->type == KILN_JSON_STRING ? m->string : NULL;
}
