/* ckpt.c: the .kckpt checkpoint (format in docs/checkpoint.md): the spec text, the parameter
 * table, weights, optimizer moments and the loop position, closed by a CRC-32 (zlib's). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "train/trainer.h"

#define MAGIC "KILNCKPT"
#define VERSION 1u

typedef struct wbuf {
    uint8_t *p;
    size_t n, cap;
    int bad;
} wbuf;

static void wput(wbuf *w, const void *d, size_t n) {
    if (w->bad) return;
    if (w->n + n > w->cap) {
        size_t c = w->cap ? w->cap : 4096;
        while (c < w->n + n)
            c *= 2;
        uint8_t *q = realloc(w->p, c);
        if (!q) {
            w->bad = 1;
            return;
        }
        w->p = q;
        w->cap = c;
    }
    memcpy(w->p + w->n, d, n);
    w->n += n;
}

/* little-endian integers, whatever the host */
static void wu32(wbuf *w, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    wput(w, b, 4);
}
static void wu64(wbuf *w, uint64_t v) {
    wu32(w, (uint32_t)v);
    wu32(w, (uint32_t)(v >> 32));
}
static void wf64(wbuf *w, double d) {
    uint64_t v;
    memcpy(&v, &d, 8);
    wu64(w, v);
}
static void wfloats(wbuf *w, const float *f, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        uint32_t v;
        memcpy(&v, &f[i], 4);
        wu32(w, v);
    }
}

typedef struct rbuf {
    const uint8_t *p;
    size_t n, o;
    int bad;
} rbuf;

static const uint8_t *rget(rbuf *r, size_t n) {
    if (r->bad || n > r->n - r->o) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *q = r->p + r->o;
    r->o += n;
    return q;
}
static uint32_t ru32(rbuf *r) {
    const uint8_t *b = rget(r, 4);
    return b ? (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24
             : 0;
}
static uint64_t ru64(rbuf *r) {
    uint64_t lo = ru32(r);
    return lo | (uint64_t)ru32(r) << 32;
}
static double rf64(rbuf *r) {
    uint64_t v = ru64(r);
    double d;
    memcpy(&d, &v, 8);
    return d;
}
static void rfloats(rbuf *r, float *f, int64_t n) {
    for (int64_t i = 0; i < n && !r->bad; i++) {
        uint32_t v = ru32(r);
        memcpy(&f[i], &v, 4);
    }
}

kiln_status kiln_trainer_save(kiln_trainer *t, const char *path) {
    if (!t || !path) return KILN_ERR_ARG;
    const kiln_graph *g = t->g;
    wbuf w = {0};
    wput(&w, MAGIC, 8);
    wu32(&w, VERSION);
    wu32(&w, 0);
    size_t sl = strlen(g->spec);
    wu64(&w, sl);
    wput(&w, g->spec, sl);
    wu32(&w, (uint32_t)g->n_params);
    wu64(&w, (uint64_t)g->param_elems);
    for (int32_t i = 0; i < g->n_params; i++) {
        const kiln__gparam *p = &g->params[i];
        size_t nl = strlen(p->name);
        wu32(&w, (uint32_t)nl);
        wput(&w, p->name, nl);
        wu32(&w, (uint32_t)p->rank);
        for (int32_t d = 0; d < p->rank; d++)
            wu32(&w, (uint32_t)p->dims[d]);
    }
    wu32(&w, (uint32_t)t->cfg.optimizer);
    wu64(&w, t->cfg.seed);
    wu64(&w, (uint64_t)t->step);
    wu32(&w, (uint32_t)t->epoch);
    wu64(&w, (uint64_t)t->batch_in_epoch);
    wf64(&w, t->best);
    wu32(&w, (uint32_t)t->bad_epochs);
    wf64(&w, t->ep_loss);
    wu64(&w, (uint64_t)t->ep_correct);
    wu64(&w, (uint64_t)t->ep_seen);
    for (int32_t i = 0; i < g->n_params; i++)
        wfloats(&w, t->params + g->params[i].offset, g->params[i].count);
    for (int32_t i = 0; i < g->n_params; i++)
        wfloats(&w, t->m1 + g->params[i].offset, g->params[i].count);
    for (int32_t i = 0; i < g->n_params; i++)
        wfloats(&w, t->m2 + g->params[i].offset, g->params[i].count);
    if (w.bad) {
        free(w.p);
        return kiln__trainer_fail(t, KILN_ERR_NOMEM, "%s: out of memory", path);
    }
    uint32_t crc = (uint32_t)crc32(0L, w.p, (uInt)w.n);
    wu32(&w, crc);
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 5);
    if (!tmp || w.bad) {
        free(tmp);
        free(w.p);
        return KILN_ERR_NOMEM;
    }
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    kiln_status st = KILN_OK;
    if (!f) {
        st = kiln__trainer_fail(t, KILN_ERR_IO, "%s: cannot write: %s", tmp, strerror(errno));
    } else {
        size_t wr = fwrite(w.p, 1, w.n, f);
        int bad = fflush(f) != 0 || wr != w.n;
        bad |= fclose(f) != 0;
        if (bad)
            st = kiln__trainer_fail(t, KILN_ERR_IO, "%s: write failed", tmp);
        else if (rename(tmp, path) != 0)
            st = kiln__trainer_fail(t, KILN_ERR_IO, "%s: cannot rename to %s: %s", tmp, path,
                                    strerror(errno));
        if (st) remove(tmp);
    }
    free(tmp);
    free(w.p);
    return st;
}

/* Reads and checks the file's frame (magic, version, CRC). */
static kiln_status read_file(const char *path, uint8_t **buf, size_t *len, char *err,
                             size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err) snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return KILN_ERR_IO;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap) break;
        cap *= 2;
        uint8_t *q = realloc(b, cap);
        if (!q) free(b);
        b = q;
    }
    fclose(f);
    if (!b) return KILN_ERR_NOMEM;
    if (n < 8 + 8 + 4 || memcmp(b, MAGIC, 8)) {
        free(b);
        if (err) snprintf(err, errlen, "%s: not a Kiln checkpoint (bad magic)", path);
        return KILN_ERR_IO;
    }
    uint32_t want = (uint32_t)b[n - 4] | (uint32_t)b[n - 3] << 8 | (uint32_t)b[n - 2] << 16 |
                    (uint32_t)b[n - 1] << 24;
    uint32_t got = (uint32_t)crc32(0L, b, (uInt)(n - 4));
    if (want != got) {
        free(b);
        if (err)
            snprintf(err, errlen,
                     "%s: checksum mismatch (stored %08x, computed %08x): the file "
                     "is truncated or damaged",
                     path, want, got);
        return KILN_ERR_IO;
    }
    uint32_t ver =
        (uint32_t)b[8] | (uint32_t)b[9] << 8 | (uint32_t)b[10] << 16 | (uint32_t)b[11] << 24;
    if (ver != VERSION) {
        free(b);
        if (err)
            snprintf(err, errlen, "%s: checkpoint version %u (this Kiln reads %u)", path, ver,
                     VERSION);
        return KILN_ERR_UNSUPPORTED;
    }
    *buf = b;
    *len = n - 4;
    return KILN_OK;
}

typedef struct ck_head {
    const char *spec;
    size_t spec_len;
    uint32_t n_params;
    uint64_t elems;
    size_t table; /* offset of the parameter table */
} ck_head;

static int read_head(rbuf *r, ck_head *h) {
    rget(r, 16);
    h->spec_len = (size_t)ru64(r);
    h->spec = (const char *)rget(r, h->spec_len);
    h->n_params = ru32(r);
    h->elems = ru64(r);
    h->table = r->o;
    return !r->bad;
}

kiln_status kiln_trainer_load(kiln_trainer *t, const char *path) {
    if (!t || !path) return KILN_ERR_ARG;
    uint8_t *buf;
    size_t len;
    kiln_status st = read_file(path, &buf, &len, t->err, sizeof t->err);
    if (st) return st;
    const kiln_graph *g = t->g;
    rbuf r = {buf, len, 0, 0};
    ck_head h;
    if (!read_head(&r, &h)) goto trunc;
    if (h.n_params != (uint32_t)g->n_params || h.elems != (uint64_t)g->param_elems) {
        free(buf);
        return kiln__trainer_fail(t, KILN_ERR_SHAPE,
                                  "%s: checkpoint has %u parameter tensors (%llu values), the "
                                  "model has %d (%lld)",
                                  path, h.n_params, (unsigned long long)h.elems, (int)g->n_params,
                                  (long long)g->param_elems);
    }
    for (int32_t i = 0; i < g->n_params; i++) {
        const kiln__gparam *p = &g->params[i];
        uint32_t nl = ru32(&r);
        const char *nm = (const char *)rget(&r, nl);
        uint32_t rank = ru32(&r);
        if (r.bad || rank > KILN_MAX_RANK) goto trunc;
        int same = nl == strlen(p->name) && !memcmp(nm, p->name, nl) && rank == (uint32_t)p->rank;
        for (uint32_t d = 0; d < rank; d++)
            if (ru32(&r) != (uint32_t)(d < (uint32_t)p->rank ? p->dims[d] : -1)) same = 0;
        if (r.bad) goto trunc;
        if (!same) {
            free(buf);
            return kiln__trainer_fail(t, KILN_ERR_SHAPE,
                                      "%s: parameter %d is '%.*s' with another shape; the model "
                                      "has '%s'",
                                      path, (int)i, (int)(nl > 200 ? 200 : nl), nm, p->name);
        }
    }
    uint32_t opt = ru32(&r);
    (void)opt;
    ru64(&r); /* seed: the trainer's own config decides */
    int64_t step = (int64_t)ru64(&r);
    int32_t epoch = (int32_t)ru32(&r);
    int64_t bie = (int64_t)ru64(&r);
    double best = rf64(&r);
    int32_t bad = (int32_t)ru32(&r);
    double epl = rf64(&r);
    int64_t epc = (int64_t)ru64(&r), eps = (int64_t)ru64(&r);
    if (r.bad || r.n - r.o != (size_t)h.elems * 12) goto trunc;
    for (int32_t i = 0; i < g->n_params; i++)
        rfloats(&r, t->params + g->params[i].offset, g->params[i].count);
    for (int32_t i = 0; i < g->n_params; i++)
        rfloats(&r, t->m1 + g->params[i].offset, g->params[i].count);
    for (int32_t i = 0; i < g->n_params; i++)
        rfloats(&r, t->m2 + g->params[i].offset, g->params[i].count);
    if (r.bad) goto trunc;
    t->step = step;
    t->epoch = epoch;
    t->batch_in_epoch = bie;
    t->best = best;
    t->bad_epochs = bad;
    t->ep_loss = epl;
    t->ep_correct = epc;
    t->ep_seen = eps;
    free(buf);
    return KILN_OK;
trunc:
    free(buf);
    return kiln__trainer_fail(t, KILN_ERR_IO, "%s: malformed checkpoint (sizes do not add up)",
                              path);
}

kiln_status kiln_checkpoint_read(const char *path, char **spec, float **params, int64_t *n_params,
                                 char *err, size_t errlen) {
    uint8_t *buf;
    size_t len;
    kiln_status st = read_file(path, &buf, &len, err, errlen);
    if (st) return st;
    rbuf r = {buf, len, 0, 0};
    ck_head h;
    if (!read_head(&r, &h)) goto trunc;
    for (uint32_t i = 0; i < h.n_params && !r.bad; i++) {
        uint32_t nl = ru32(&r);
        rget(&r, nl);
        uint32_t rank = ru32(&r);
        if (rank > KILN_MAX_RANK) goto trunc;
        for (uint32_t d = 0; d < rank; d++)
            ru32(&r);
    }
    rget(&r, 4 + 8 + 8 + 4 + 8 + 8 + 4 + 8 + 8 + 8);
    if (r.bad || r.n - r.o != (size_t)h.elems * 12) goto trunc;
    char *s = malloc(h.spec_len + 1);
    float *p = malloc(sizeof(float) * (size_t)(h.elems ? h.elems : 1));
    if (!s || !p) {
        free(s);
        free(p);
        free(buf);
        return KILN_ERR_NOMEM;
    }
    memcpy(s, h.spec, h.spec_len);
    s[h.spec_len] = 0;
    rfloats(&r, p, (int64_t)h.elems);
    free(buf);
    if (spec)
        *spec = s;
    else
        free(s);
    if (params)
        *params = p;
    else
        free(p);
    if (n_params) *n_params = (int64_t)h.elems;
    return KILN_OK;
trunc:
    free(buf);
    if (err) snprintf(err, errlen, "%s: malformed checkpoint (sizes do not add up)", path);
    return KILN_ERR_IO;
}
