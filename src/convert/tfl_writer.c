/* tfl_writer.c: builds a .tflite FlatBuffer (TFLite schema version 3, identifier "TFL3") from
 * tensors, buffers, operators and subgraphs; field ids are those of TFLite's schema.fbs. */
#include "convert/tfl_writer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fb/builder.h"

/* Field ids (0-based declaration index in schema.fbs; a union takes two: _type, value). */
enum {
    MODEL_VERSION = 0,
    MODEL_OPCODES = 1,
    MODEL_SUBGRAPHS = 2,
    MODEL_DESCRIPTION = 3,
    MODEL_BUFFERS = 4,
    MODEL_METADATA = 6,
    MODEL_SIGNATURES = 7
};
enum { OPCODE_DEPRECATED = 0, OPCODE_CUSTOM = 1, OPCODE_VERSION = 2, OPCODE_BUILTIN = 3 };
enum { SG_TENSORS = 0, SG_INPUTS = 1, SG_OUTPUTS = 2, SG_OPERATORS = 3, SG_NAME = 4 };
enum { BUFFER_DATA = 0 };
enum {
    TENSOR_SHAPE = 0,
    TENSOR_TYPE = 1,
    TENSOR_BUFFER = 2,
    TENSOR_NAME = 3,
    TENSOR_QUANT = 4,
    TENSOR_IS_VARIABLE = 5,
    TENSOR_SHAPE_SIGNATURE = 7,
    TENSOR_HAS_RANK = 8
};
enum { QUANT_SCALE = 2, QUANT_ZERO_POINT = 3, QUANT_DIM = 6 };
enum {
    OP_OPCODE = 0,
    OP_INPUTS = 1,
    OP_OUTPUTS = 2,
    OP_OPTIONS = 3,
    OP_CUSTOM = 5,
    OP_INTERMEDIATES = 8,
    OP_OPTIONS2 = 11
};
enum { TMAP_NAME = 0, TMAP_TENSOR = 1 };
enum { SIG_INPUTS = 0, SIG_OUTPUTS = 1, SIG_KEY = 2, SIG_SUBGRAPH = 4 };
enum { META_NAME = 0, META_BUFFER = 1 };

#define TFL_SCHEMA_VERSION 3
#define TFL_MAX_RANK 64
/* BuiltinOperator values above this live only in OperatorCode.builtin_code. */
#define TFL_PLACEHOLDER_FOR_GREATER_OP_CODES 127

typedef struct wbuf {
    uint8_t *data;
    size_t len;
    uint64_t hash;
    int shareable;
} wbuf;

typedef struct wopcode {
    int32_t builtin, version;
    char *custom;
} wopcode;

typedef struct wopt {
    int32_t id, type;
    int64_t i;
    float f;
    int32_t *ivec;
    int32_t n;
    char *str;
} wopt;

typedef struct wtensor {
    char *name;
    int32_t type, rank;
    int32_t *shape, *sig;
    int32_t buffer;
    int32_t nq;
    float *scale;
    int64_t *zp;
    int32_t qdim;
    uint8_t is_variable, has_rank;
} wtensor;

typedef struct wop {
    int32_t opcode;
    int32_t *in, *out, *tmp;
    int32_t n_in, n_out, n_tmp;
    int32_t opts_type, n_opts, opts2_type, n_opts2;
    wopt *opts, *opts2;
    uint8_t *custom;
    size_t custom_len;
} wop;

typedef struct wsubgraph {
    char *name;
    wtensor *tensors;
    size_t n_tensors, cap_tensors;
    wop *ops;
    size_t n_ops, cap_ops;
    int32_t *in, *out;
    int32_t n_in, n_out;
} wsubgraph;

typedef struct wsig {
    char *key;
    int32_t sg;
    char **in_names, **out_names;
    int32_t *in_t, *out_t;
    int32_t n_in, n_out;
} wsig;

typedef struct wmeta {
    char *name;
    int32_t buffer;
} wmeta;

struct kiln_tfl_writer {
    wbuf *bufs;
    size_t n_bufs, cap_bufs;
    wopcode *opcodes;
    size_t n_opcodes, cap_opcodes;
    wsubgraph *sgs;
    size_t n_sgs, cap_sgs;
    wsig *sigs;
    size_t n_sigs, cap_sigs;
    wmeta *metas;
    size_t n_metas, cap_metas;
    char *description;
    kiln_status st;
    char err[KILN_ERRLEN];
};

static void fail(kiln_tfl_writer *w, kiln_status s, const char *fmt, ...) {
    if (w->st != KILN_OK) return;
    w->st = s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
}

/* Ensures room for one more element in a growable array. */
static int grow(kiln_tfl_writer *w, void **arr, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return 1;
    size_t nc = *cap ? *cap * 2 : 8;
    void *p = realloc(*arr, nc * elem);
    if (!p) {
        fail(w, KILN_ERR_NOMEM, "tflite writer: out of memory");
        return 0;
    }
    memset((char *)p + *cap * elem, 0, (nc - *cap) * elem);
    *arr = p;
    *cap = nc;
    return 1;
}

static void *dup_mem(kiln_tfl_writer *w, const void *src, size_t bytes) {
    if (!src || !bytes) return NULL;
    void *p = malloc(bytes);
    if (!p) {
        fail(w, KILN_ERR_NOMEM, "tflite writer: out of memory");
        return NULL;
    }
    memcpy(p, src, bytes);
    return p;
}

static char *dup_str(kiln_tfl_writer *w, const char *s) {
    return s ? dup_mem(w, s, strlen(s) + 1) : NULL;
}

/* Duplicates an array of n elements; a NULL source with n > 0 is an error. */
static int dup_arr(kiln_tfl_writer *w, void **dst, const void *src, int32_t n, size_t elem,
                   const char *what) {
    *dst = NULL;
    if (n < 0) {
        fail(w, KILN_ERR_ARG, "tflite writer: %s: negative count %d", what, n);
        return 0;
    }
    if (n == 0) return 1;
    if (!src) {
        fail(w, KILN_ERR_ARG, "tflite writer: %s: NULL array of %d entries", what, n);
        return 0;
    }
    *dst = dup_mem(w, src, (size_t)n * elem);
    return *dst != NULL;
}

static uint64_t fnv1a(const uint8_t *p, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

kiln_status kiln_tfl_writer_create(kiln_tfl_writer **out) {
    if (!out) return KILN_ERR_ARG;
    *out = NULL;
    kiln_tfl_writer *w = calloc(1, sizeof *w);
    if (!w) return KILN_ERR_NOMEM;
    /* Buffer 0: the empty sentinel every tensor without data points at. */
    if (!grow(w, (void **)&w->bufs, &w->cap_bufs, 0, sizeof *w->bufs)) {
        free(w);
        return KILN_ERR_NOMEM;
    }
    w->n_bufs = 1;
    *out = w;
    return KILN_OK;
}

static void free_opts(wopt *o, int32_t n) {
    for (int32_t i = 0; i < n && o; i++) {
        free(o[i].ivec);
        free(o[i].str);
    }
    free(o);
}

void kiln_tfl_writer_destroy(kiln_tfl_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_bufs; i++)
        free(w->bufs[i].data);
    free(w->bufs);
    for (size_t i = 0; i < w->n_opcodes; i++)
        free(w->opcodes[i].custom);
    free(w->opcodes);
    for (size_t s = 0; s < w->n_sgs; s++) {
        wsubgraph *g = &w->sgs[s];
        for (size_t i = 0; i < g->n_tensors; i++) {
            wtensor *t = &g->tensors[i];
            free(t->name);
            free(t->shape);
            free(t->sig);
            free(t->scale);
            free(t->zp);
        }
        for (size_t i = 0; i < g->n_ops; i++) {
            wop *o = &g->ops[i];
            free(o->in);
            free(o->out);
            free(o->tmp);
            free_opts(o->opts, o->n_opts);
            free_opts(o->opts2, o->n_opts2);
            free(o->custom);
        }
        free(g->tensors);
        free(g->ops);
        free(g->in);
        free(g->out);
        free(g->name);
    }
    free(w->sgs);
    for (size_t i = 0; i < w->n_sigs; i++) {
        wsig *g = &w->sigs[i];
        for (int32_t k = 0; k < g->n_in; k++)
            free(g->in_names[k]);
        for (int32_t k = 0; k < g->n_out; k++)
            free(g->out_names[k]);
        free(g->in_names);
        free(g->out_names);
        free(g->in_t);
        free(g->out_t);
        free(g->key);
    }
    free(w->sigs);
    for (size_t i = 0; i < w->n_metas; i++)
        free(w->metas[i].name);
    free(w->metas);
    free(w->description);
    free(w);
}

const char *kiln_tfl_writer_error(const kiln_tfl_writer *w) {
    return w ? w->err : "no writer";
}

static int32_t add_buffer(kiln_tfl_writer *w, const void *data, size_t len, int shareable) {
    if (!w || w->st != KILN_OK) return -1;
    if (len == 0) return 0;
    if (!data) {
        fail(w, KILN_ERR_ARG, "tflite writer: buffer of %zu bytes with NULL data", len);
        return -1;
    }
    if (w->n_bufs >= INT32_MAX) {
        fail(w, KILN_ERR_ARG, "tflite writer: too many buffers");
        return -1;
    }
    uint64_t h = fnv1a(data, len);
    if (shareable)
        for (size_t i = 1; i < w->n_bufs; i++) {
            const wbuf *b = &w->bufs[i];
            if (b->shareable && b->len == len && b->hash == h && !memcmp(b->data, data, len))
                return (int32_t)i;
        }
    if (!grow(w, (void **)&w->bufs, &w->cap_bufs, w->n_bufs, sizeof *w->bufs)) return -1;
    wbuf *b = &w->bufs[w->n_bufs];
    b->data = dup_mem(w, data, len);
    if (!b->data) return -1;
    b->len = len;
    b->hash = h;
    b->shareable = shareable;
    return (int32_t)w->n_bufs++;
}

int32_t kiln_tfl_add_buffer(kiln_tfl_writer *w, const void *data, size_t len) {
    return add_buffer(w, data, len, 1);
}

int32_t kiln_tfl_add_opcode(kiln_tfl_writer *w, int32_t builtin, int32_t version,
                            const char *custom_code) {
    if (!w || w->st != KILN_OK) return -1;
    if (builtin < 0 || version < 1) {
        fail(w, KILN_ERR_ARG, "tflite writer: operator code %d version %d is invalid", builtin,
             version);
        return -1;
    }
    for (size_t i = 0; i < w->n_opcodes; i++) {
        const wopcode *c = &w->opcodes[i];
        int same_custom = (!c->custom && !custom_code) ||
                          (c->custom && custom_code && !strcmp(c->custom, custom_code));
        if (c->builtin == builtin && c->version == version && same_custom) return (int32_t)i;
    }
    if (!grow(w, (void **)&w->opcodes, &w->cap_opcodes, w->n_opcodes, sizeof *w->opcodes))
        return -1;
    wopcode *c = &w->opcodes[w->n_opcodes];
    c->builtin = builtin;
    c->version = version;
    c->custom = dup_str(w, custom_code);
    if (w->st != KILN_OK) return -1;
    return (int32_t)w->n_opcodes++;
}

int32_t kiln_tfl_add_subgraph(kiln_tfl_writer *w, const char *name) {
    if (!w || w->st != KILN_OK) return -1;
    if (!grow(w, (void **)&w->sgs, &w->cap_sgs, w->n_sgs, sizeof *w->sgs)) return -1;
    wsubgraph *g = &w->sgs[w->n_sgs];
    memset(g, 0, sizeof *g);
    g->name = dup_str(w, name);
    if (w->st != KILN_OK) return -1;
    return (int32_t)w->n_sgs++;
}

static wsubgraph *get_sg(kiln_tfl_writer *w, int32_t sg) {
    if (!w || w->st != KILN_OK) return NULL;
    if (sg < 0 || (size_t)sg >= w->n_sgs) {
        fail(w, KILN_ERR_ARG, "tflite writer: subgraph %d does not exist (%zu subgraphs)", sg,
             w->n_sgs);
        return NULL;
    }
    return &w->sgs[sg];
}

int32_t kiln_tfl_add_tensor(kiln_tfl_writer *w, int32_t sg, const kiln_tfl_tensor *t) {
    wsubgraph *g = get_sg(w, sg);
    if (!g) return -1;
    if (!t || t->rank < 0 || t->rank > TFL_MAX_RANK || t->num_quant < 0) {
        fail(w, KILN_ERR_ARG, "tflite writer: subgraph %d tensor %zu: invalid description", sg,
             g->n_tensors);
        return -1;
    }
    if (t->num_quant > 0 && !t->scale) {
        fail(w, KILN_ERR_ARG, "tflite writer: subgraph %d tensor %zu: quantized without scales", sg,
             g->n_tensors);
        return -1;
    }
    if (g->n_tensors >= INT32_MAX ||
        !grow(w, (void **)&g->tensors, &g->cap_tensors, g->n_tensors, sizeof *g->tensors))
        return -1;
    int32_t index = (int32_t)g->n_tensors++; /* counted now so destroy frees partial copies */
    wtensor *d = &g->tensors[index];
    memset(d, 0, sizeof *d);
    d->name = dup_str(w, t->name);
    d->type = t->type;
    d->rank = t->rank;
    d->buffer = t->buffer;
    d->nq = t->num_quant;
    d->qdim = t->quantized_dimension;
    d->is_variable = t->is_variable ? 1 : 0;
    d->has_rank = t->has_rank ? 1 : 0;
    if (!dup_arr(w, (void **)&d->shape, t->shape, t->rank, sizeof(int32_t), "tensor shape"))
        return -1;
    if (t->shape_signature && !dup_arr(w, (void **)&d->sig, t->shape_signature, t->rank,
                                       sizeof(int32_t), "tensor shape_signature"))
        return -1;
    if (d->nq) {
        if (!dup_arr(w, (void **)&d->scale, t->scale, d->nq, sizeof(float), "scales")) return -1;
        d->zp = calloc((size_t)d->nq, sizeof(int64_t));
        if (!d->zp) {
            fail(w, KILN_ERR_NOMEM, "tflite writer: out of memory");
            return -1;
        }
        if (t->zero_point) memcpy(d->zp, t->zero_point, (size_t)d->nq * sizeof(int64_t));
    }
    if (w->st != KILN_OK) return -1;
    return index;
}

static int copy_opts(kiln_tfl_writer *w, wopt **dst, const kiln_tfl_opt *src, int32_t n) {
    *dst = NULL;
    if (n < 0 || n > 64 || (n > 0 && !src)) {
        fail(w, KILN_ERR_ARG, "tflite writer: invalid options list (%d items)", n);
        return 0;
    }
    if (n == 0) return 1;
    wopt *o = calloc((size_t)n, sizeof *o);
    if (!o) {
        fail(w, KILN_ERR_NOMEM, "tflite writer: out of memory");
        return 0;
    }
    *dst = o;
    for (int32_t i = 0; i < n; i++) {
        o[i].id = src[i].id;
        o[i].type = src[i].type;
        o[i].i = src[i].i;
        o[i].f = src[i].f;
        if (src[i].id < 0 || src[i].id > 1000 || src[i].type < KILN_TFL_OPT_I8 ||
            src[i].type > KILN_TFL_OPT_STR) {
            fail(w, KILN_ERR_ARG, "tflite writer: option %d: bad field id %d or type %d", i,
                 src[i].id, src[i].type);
            return 0;
        }
        if (src[i].type == KILN_TFL_OPT_IVEC) {
            o[i].n = src[i].n;
            if (!dup_arr(w, (void **)&o[i].ivec, src[i].ivec, src[i].n, sizeof(int32_t),
                         "option vector"))
                return 0;
        } else if (src[i].type == KILN_TFL_OPT_STR) {
            o[i].str = dup_str(w, src[i].str ? src[i].str : "");
            if (!o[i].str) return 0;
        }
        for (int32_t k = 0; k < i; k++)
            if (o[k].id == o[i].id) {
                fail(w, KILN_ERR_ARG, "tflite writer: option field %d given twice", o[i].id);
                return 0;
            }
    }
    return 1;
}

int32_t kiln_tfl_add_operator(kiln_tfl_writer *w, int32_t sg, const kiln_tfl_op *op) {
    wsubgraph *g = get_sg(w, sg);
    if (!g) return -1;
    if (!op) {
        fail(w, KILN_ERR_ARG, "tflite writer: NULL operator");
        return -1;
    }
    if (op->opts_type < 0 || op->opts_type > 255 || op->opts2_type < 0 || op->opts2_type > 255) {
        fail(w, KILN_ERR_ARG, "tflite writer: subgraph %d operator %zu: options type out of range",
             sg, g->n_ops);
        return -1;
    }
    if (g->n_ops >= INT32_MAX || !grow(w, (void **)&g->ops, &g->cap_ops, g->n_ops, sizeof *g->ops))
        return -1;
    wop *d = &g->ops[g->n_ops];
    memset(d, 0, sizeof *d);
    d->opcode = op->opcode;
    d->n_in = op->n_inputs;
    d->n_out = op->n_outputs;
    d->n_tmp = op->n_intermediates;
    d->opts_type = op->opts_type;
    d->opts2_type = op->opts2_type;
    if (!dup_arr(w, (void **)&d->in, op->inputs, op->n_inputs, sizeof(int32_t), "inputs") ||
        !dup_arr(w, (void **)&d->out, op->outputs, op->n_outputs, sizeof(int32_t), "outputs") ||
        !dup_arr(w, (void **)&d->tmp, op->intermediates, op->n_intermediates, sizeof(int32_t),
                 "intermediates"))
        goto bad;
    if (!copy_opts(w, &d->opts, op->opts, op->n_opts)) goto bad;
    d->n_opts = op->n_opts;
    if (!copy_opts(w, &d->opts2, op->opts2, op->n_opts2)) goto bad;
    d->n_opts2 = op->n_opts2;
    if (op->custom_options_len) {
        if (!op->custom_options || op->custom_options_len > 0x7fffffff) {
            fail(w, KILN_ERR_ARG, "tflite writer: invalid custom options");
            goto bad;
        }
        d->custom = dup_mem(w, op->custom_options, op->custom_options_len);
        if (!d->custom) goto bad;
        d->custom_len = op->custom_options_len;
    }
    return (int32_t)g->n_ops++;
bad:
    /* Keep the partly copied op so destroy frees it; count it as added. */
    g->n_ops++;
    return -1;
}

kiln_status kiln_tfl_set_subgraph_io(kiln_tfl_writer *w, int32_t sg, const int32_t *inputs,
                                     int32_t n_inputs, const int32_t *outputs, int32_t n_outputs) {
    wsubgraph *g = get_sg(w, sg);
    if (!g) return w ? w->st : KILN_ERR_ARG;
    free(g->in);
    free(g->out);
    g->in = g->out = NULL;
    g->n_in = g->n_out = 0;
    if (!dup_arr(w, (void **)&g->in, inputs, n_inputs, sizeof(int32_t), "subgraph inputs") ||
        !dup_arr(w, (void **)&g->out, outputs, n_outputs, sizeof(int32_t), "subgraph outputs"))
        return w->st;
    g->n_in = n_inputs;
    g->n_out = n_outputs;
    return KILN_OK;
}

static int dup_names(kiln_tfl_writer *w, char ***dst, const char *const *src, int32_t n) {
    *dst = NULL;
    if (n == 0) return 1;
    if (!src) {
        fail(w, KILN_ERR_ARG, "tflite writer: signature: NULL names");
        return 0;
    }
    *dst = calloc((size_t)n, sizeof(char *));
    if (!*dst) {
        fail(w, KILN_ERR_NOMEM, "tflite writer: out of memory");
        return 0;
    }
    for (int32_t i = 0; i < n; i++) {
        (*dst)[i] = dup_str(w, src[i] ? src[i] : "");
        if (!(*dst)[i]) return 0;
    }
    return 1;
}

int32_t kiln_tfl_add_signature(kiln_tfl_writer *w, const char *key, int32_t sg,
                               const char *const *input_names, const int32_t *input_tensors,
                               int32_t n_inputs, const char *const *output_names,
                               const int32_t *output_tensors, int32_t n_outputs) {
    if (!get_sg(w, sg)) return -1;
    if (!key || n_inputs < 0 || n_outputs < 0) {
        fail(w, KILN_ERR_ARG, "tflite writer: invalid signature");
        return -1;
    }
    if (!grow(w, (void **)&w->sigs, &w->cap_sigs, w->n_sigs, sizeof *w->sigs)) return -1;
    wsig *s = &w->sigs[w->n_sigs++];
    memset(s, 0, sizeof *s);
    s->sg = sg;
    s->key = dup_str(w, key);
    if (!dup_names(w, &s->in_names, input_names, n_inputs)) return -1;
    s->n_in = n_inputs;
    if (!dup_names(w, &s->out_names, output_names, n_outputs)) return -1;
    s->n_out = n_outputs;
    if (!dup_arr(w, (void **)&s->in_t, input_tensors, n_inputs, sizeof(int32_t),
                 "signature inputs") ||
        !dup_arr(w, (void **)&s->out_t, output_tensors, n_outputs, sizeof(int32_t),
                 "signature outputs"))
        return -1;
    return w->st == KILN_OK ? (int32_t)w->n_sigs - 1 : -1;
}

int32_t kiln_tfl_add_metadata(kiln_tfl_writer *w, const char *name, const void *data, size_t len) {
    if (!w || w->st != KILN_OK) return -1;
    if (!name) {
        fail(w, KILN_ERR_ARG, "tflite writer: metadata without a name");
        return -1;
    }
    int32_t b = len ? add_buffer(w, data, len, 0) : 0;
    if (b < 0) return -1;
    if (!grow(w, (void **)&w->metas, &w->cap_metas, w->n_metas, sizeof *w->metas)) return -1;
    wmeta *m = &w->metas[w->n_metas];
    m->name = dup_str(w, name);
    m->buffer = b;
    if (w->st != KILN_OK) return -1;
    return (int32_t)w->n_metas++;
}

kiln_status kiln_tfl_set_description(kiln_tfl_writer *w, const char *description) {
    if (!w) return KILN_ERR_ARG;
    if (w->st != KILN_OK) return w->st;
    free(w->description);
    w->description = dup_str(w, description);
    return w->st;
}

/* ---- validation before writing ------------------------------------------------------------ */

/* Bytes per element for fixed-size types (0: not checked, e.g. STRING, INT4). */
static size_t elem_size(int32_t type) {
    switch (type) {
    case KILN_FLOAT32:
    case KILN_INT32:
    case KILN_UINT32:
        return 4;
    case KILN_FLOAT16:
    case KILN_INT16:
    case KILN_UINT16:
    case KILN_BFLOAT16:
        return 2;
    case KILN_UINT8:
    case KILN_INT8:
    case KILN_BOOL:
        return 1;
    case KILN_INT64:
    case KILN_FLOAT64:
    case KILN_COMPLEX64:
    case KILN_UINT64:
        return 8;
    case KILN_COMPLEX128:
        return 16;
    default:
        return 0;
    }
}

static int check_index(kiln_tfl_writer *w, int32_t sg, const char *what, size_t i, int32_t t,
                       size_t n, int allow_absent) {
    if ((allow_absent && t == -1) || (t >= 0 && (size_t)t < n)) return 1;
    fail(w, KILN_ERR_ARG, "tflite writer: subgraph %d %s %zu refers to tensor %d, only %zu tensors",
         sg, what, i, t, n);
    return 0;
}

static int validate(kiln_tfl_writer *w) {
    for (size_t s = 0; s < w->n_sgs; s++) {
        const wsubgraph *g = &w->sgs[s];
        int32_t si = (int32_t)s;
        for (size_t i = 0; i < g->n_tensors; i++) {
            const wtensor *t = &g->tensors[i];
            if (t->buffer < 0 || (size_t)t->buffer >= w->n_bufs) {
                fail(w, KILN_ERR_ARG,
                     "tflite writer: subgraph %d tensor %zu (%s): buffer %d, "
                     "only %zu buffers",
                     si, i, t->name ? t->name : "", t->buffer, w->n_bufs);
                return 0;
            }
            size_t es = elem_size(t->type);
            if (t->buffer > 0 && es) {
                uint64_t n = 1;
                for (int32_t k = 0; k < t->rank; k++) {
                    if (t->shape[k] < 0) {
                        n = UINT64_MAX;
                        break;
                    }
                    n *= (uint64_t)t->shape[k];
                    if (n > ((uint64_t)1 << 40)) break;
                }
                if (n == UINT64_MAX || n * es != w->bufs[t->buffer].len) {
                    fail(w, KILN_ERR_ARG,
                         "tflite writer: subgraph %d tensor %zu (%s): shape "
                         "needs %llu bytes, buffer %d has %zu",
                         si, i, t->name ? t->name : "",
                         (unsigned long long)(n == UINT64_MAX ? 0 : n * es), t->buffer,
                         w->bufs[t->buffer].len);
                    return 0;
                }
            }
            if (t->nq > 1 && (t->qdim < 0 || t->qdim >= t->rank || t->shape[t->qdim] != t->nq)) {
                fail(w, KILN_ERR_ARG,
                     "tflite writer: subgraph %d tensor %zu (%s): %d scales "
                     "do not match quantized_dimension %d",
                     si, i, t->name ? t->name : "", t->nq, t->qdim);
                return 0;
            }
        }
        for (size_t i = 0; i < g->n_ops; i++) {
            const wop *o = &g->ops[i];
            if (o->opcode < 0 || (size_t)o->opcode >= w->n_opcodes) {
                fail(w, KILN_ERR_ARG,
                     "tflite writer: subgraph %d operator %zu: opcode %d, only "
                     "%zu operator codes",
                     si, i, o->opcode, w->n_opcodes);
                return 0;
            }
            for (int32_t k = 0; k < o->n_in; k++)
                if (!check_index(w, si, "operator input", i, o->in[k], g->n_tensors, 1)) return 0;
            for (int32_t k = 0; k < o->n_out; k++)
                if (!check_index(w, si, "operator output", i, o->out[k], g->n_tensors, 0)) return 0;
            for (int32_t k = 0; k < o->n_tmp; k++)
                if (!check_index(w, si, "operator intermediate", i, o->tmp[k], g->n_tensors, 0))
                    return 0;
        }
        for (int32_t k = 0; k < g->n_in; k++)
            if (!check_index(w, si, "input", (size_t)k, g->in[k], g->n_tensors, 0)) return 0;
        for (int32_t k = 0; k < g->n_out; k++)
            if (!check_index(w, si, "output", (size_t)k, g->out[k], g->n_tensors, 0)) return 0;
    }
    for (size_t i = 0; i < w->n_sigs; i++) {
        const wsig *s = &w->sigs[i];
        size_t nt = w->sgs[s->sg].n_tensors;
        for (int32_t k = 0; k < s->n_in; k++)
            if (!check_index(w, s->sg, "signature input", (size_t)k, s->in_t[k], nt, 0)) return 0;
        for (int32_t k = 0; k < s->n_out; k++)
            if (!check_index(w, s->sg, "signature output", (size_t)k, s->out_t[k], nt, 0)) return 0;
    }
    return 1;
}

/* ---- serialization ------------------------------------------------------------------------ */

static kiln_fb_ref write_opts(kiln_fb_builder *b, const wopt *o, int32_t n) {
    kiln_fb_ref refs[64]; /* copy_opts allows at most 64 fields */
    for (int32_t i = 0; i < n; i++) {
        refs[i] = 0;
        if (o[i].type == KILN_TFL_OPT_IVEC)
            refs[i] = kiln_fb_create_vec_i32(b, o[i].ivec, (size_t)o[i].n);
        else if (o[i].type == KILN_TFL_OPT_STR)
            refs[i] = kiln_fb_create_string(b, o[i].str);
    }
    kiln_fb_table_start(b);
    for (int32_t i = 0; i < n; i++) {
        uint32_t fbits;
        switch (o[i].type) {
        case KILN_TFL_OPT_I8:
        case KILN_TFL_OPT_U8:
            kiln_fb_add_scalar_force(b, o[i].id, (uint64_t)o[i].i, 1);
            break;
        case KILN_TFL_OPT_I16:
        case KILN_TFL_OPT_U16:
            kiln_fb_add_scalar_force(b, o[i].id, (uint64_t)o[i].i, 2);
            break;
        case KILN_TFL_OPT_I32:
        case KILN_TFL_OPT_U32:
            kiln_fb_add_scalar_force(b, o[i].id, (uint64_t)o[i].i, 4);
            break;
        case KILN_TFL_OPT_I64:
            kiln_fb_add_scalar_force(b, o[i].id, (uint64_t)o[i].i, 8);
            break;
        case KILN_TFL_OPT_F32:
            memcpy(&fbits, &o[i].f, 4);
            kiln_fb_add_scalar_force(b, o[i].id, fbits, 4);
            break;
        default:
            kiln_fb_add_ref(b, o[i].id, refs[i]);
            break;
        }
    }
    return kiln_fb_table_end(b);
}

/* Quantization parameters already written: identical scale vectors, zero-point vectors and
 * whole QuantizationParameters tables are written once and referenced from every tensor that
 * has them (a FlatBuffer may point at one object many times). Per-channel int8 models repeat
 * the same all-zero zero_point vector for each weight and its bias, and an op that keeps its
 * input's parameters (pooling, reshape) repeats the whole table. */
typedef struct qshared {
    const wtensor *t; /* the first tensor written with these parameters */
    uint64_t hs, hz;  /* hashes of its scale and zero_point bytes */
    kiln_fb_ref sc, zp, table;
} qshared;

typedef struct qcache {
    qshared *e;
    size_t n, cap;
} qcache;

static kiln_fb_ref write_quant(kiln_tfl_writer *w, kiln_fb_builder *b, qcache *qc,
                               const wtensor *t) {
    const size_t ns = (size_t)t->nq * sizeof(float), nz = (size_t)t->nq * sizeof(int64_t);
    const uint64_t hs = fnv1a((const uint8_t *)t->scale, ns);
    const uint64_t hz = fnv1a((const uint8_t *)t->zp, nz);
    kiln_fb_ref sc = 0, zp = 0;
    for (size_t i = 0; i < qc->n; i++) {
        const qshared *e = &qc->e[i];
        if (e->t->nq != t->nq) continue;
        const int same_s = e->hs == hs && !memcmp(e->t->scale, t->scale, ns);
        const int same_z = e->hz == hz && !memcmp(e->t->zp, t->zp, nz);
        if (same_s && same_z && e->t->qdim == t->qdim) return e->table;
        if (same_s && !sc) sc = e->sc;
        if (same_z && !zp) zp = e->zp;
    }
    if (!sc) sc = kiln_fb_create_vec_f32(b, t->scale, (size_t)t->nq);
    if (!zp) zp = kiln_fb_create_vec_i64(b, t->zp, (size_t)t->nq);
    kiln_fb_table_start(b);
    kiln_fb_add_ref(b, QUANT_SCALE, sc);
    kiln_fb_add_ref(b, QUANT_ZERO_POINT, zp);
    kiln_fb_add_i32(b, QUANT_DIM, t->qdim, 0);
    kiln_fb_ref table = kiln_fb_table_end(b);
    if (grow(w, (void **)&qc->e, &qc->cap, qc->n, sizeof *qc->e))
        qc->e[qc->n++] = (qshared){t, hs, hz, sc, zp, table};
    return table;
}

static kiln_fb_ref write_tensor(kiln_tfl_writer *w, kiln_fb_builder *b, qcache *qc,
                                const wtensor *t) {
    kiln_fb_ref shape = kiln_fb_create_vec_i32(b, t->shape, (size_t)t->rank);
    kiln_fb_ref sig = t->sig ? kiln_fb_create_vec_i32(b, t->sig, (size_t)t->rank) : 0;
    kiln_fb_ref name = t->name ? kiln_fb_create_string(b, t->name) : 0;
    kiln_fb_ref quant = t->nq > 0 ? write_quant(w, b, qc, t) : 0;
    kiln_fb_table_start(b);
    kiln_fb_add_ref(b, TENSOR_SHAPE, shape);
    kiln_fb_add_i8(b, TENSOR_TYPE, (int8_t)t->type, 0);
    kiln_fb_add_u32(b, TENSOR_BUFFER, (uint32_t)t->buffer, 0);
    kiln_fb_add_ref(b, TENSOR_NAME, name);
    kiln_fb_add_ref(b, TENSOR_QUANT, quant);
    kiln_fb_add_bool(b, TENSOR_IS_VARIABLE, t->is_variable, 0);
    kiln_fb_add_ref(b, TENSOR_SHAPE_SIGNATURE, sig);
    kiln_fb_add_bool(b, TENSOR_HAS_RANK, t->has_rank, 0);
    return kiln_fb_table_end(b);
}

static kiln_fb_ref write_op(kiln_fb_builder *b, const wop *o) {
    kiln_fb_ref in = kiln_fb_create_vec_i32(b, o->in, (size_t)o->n_in);
    kiln_fb_ref out = kiln_fb_create_vec_i32(b, o->out, (size_t)o->n_out);
    kiln_fb_ref tmp = o->n_tmp ? kiln_fb_create_vec_i32(b, o->tmp, (size_t)o->n_tmp) : 0;
    kiln_fb_ref opts = o->opts_type ? write_opts(b, o->opts, o->n_opts) : 0;
    kiln_fb_ref opts2 = o->opts2_type ? write_opts(b, o->opts2, o->n_opts2) : 0;
    kiln_fb_ref custom =
        o->custom_len ? kiln_fb_create_vec_bytes(b, o->custom, o->custom_len, 1) : 0;
    kiln_fb_table_start(b);
    kiln_fb_add_u32(b, OP_OPCODE, (uint32_t)o->opcode, 0);
    kiln_fb_add_ref(b, OP_INPUTS, in);
    kiln_fb_add_ref(b, OP_OUTPUTS, out);
    kiln_fb_add_union(b, OP_OPTIONS, (uint8_t)o->opts_type, opts);
    kiln_fb_add_ref(b, OP_CUSTOM, custom);
    kiln_fb_add_ref(b, OP_INTERMEDIATES, tmp);
    kiln_fb_add_union(b, OP_OPTIONS2, (uint8_t)o->opts2_type, opts2);
    return kiln_fb_table_end(b);
}

/* A vector of refs that may be long: refs kept in a temporary array. */
static kiln_fb_ref *ref_array(kiln_tfl_writer *w, size_t n) {
    kiln_fb_ref *r = calloc(n ? n : 1, sizeof *r);
    if (!r) fail(w, KILN_ERR_NOMEM, "tflite writer: out of memory");
    return r;
}

static kiln_fb_ref write_subgraph(kiln_tfl_writer *w, kiln_fb_builder *b, qcache *qc,
                                  const wsubgraph *g) {
    kiln_fb_ref *tr = ref_array(w, g->n_tensors);
    kiln_fb_ref *orf = ref_array(w, g->n_ops);
    kiln_fb_ref res = 0;
    if (tr && orf) {
        for (size_t i = 0; i < g->n_tensors; i++)
            tr[i] = write_tensor(w, b, qc, &g->tensors[i]);
        for (size_t i = 0; i < g->n_ops; i++)
            orf[i] = write_op(b, &g->ops[i]);
        kiln_fb_ref tensors = kiln_fb_create_vec_refs(b, tr, g->n_tensors);
        kiln_fb_ref ops = kiln_fb_create_vec_refs(b, orf, g->n_ops);
        kiln_fb_ref in = kiln_fb_create_vec_i32(b, g->in, (size_t)g->n_in);
        kiln_fb_ref out = kiln_fb_create_vec_i32(b, g->out, (size_t)g->n_out);
        kiln_fb_ref name = g->name ? kiln_fb_create_string(b, g->name) : 0;
        kiln_fb_table_start(b);
        kiln_fb_add_ref(b, SG_TENSORS, tensors);
        kiln_fb_add_ref(b, SG_INPUTS, in);
        kiln_fb_add_ref(b, SG_OUTPUTS, out);
        kiln_fb_add_ref(b, SG_OPERATORS, ops);
        kiln_fb_add_ref(b, SG_NAME, name);
        res = kiln_fb_table_end(b);
    }
    free(tr);
    free(orf);
    return res;
}

static kiln_fb_ref write_tensor_maps(kiln_tfl_writer *w, kiln_fb_builder *b, char **names,
                                     const int32_t *t, int32_t n) {
    kiln_fb_ref *r = ref_array(w, (size_t)n);
    if (!r) return 0;
    for (int32_t i = 0; i < n; i++) {
        kiln_fb_ref nm = kiln_fb_create_string(b, names[i]);
        kiln_fb_table_start(b);
        kiln_fb_add_ref(b, TMAP_NAME, nm);
        kiln_fb_add_u32(b, TMAP_TENSOR, (uint32_t)t[i], 0);
        r[i] = kiln_fb_table_end(b);
    }
    kiln_fb_ref v = kiln_fb_create_vec_refs(b, r, (size_t)n);
    free(r);
    return v;
}

kiln_status kiln_tfl_writer_finish(kiln_tfl_writer *w, uint8_t **bytes, size_t *len) {
    if (!w || !bytes || !len) return KILN_ERR_ARG;
    *bytes = NULL;
    *len = 0;
    if (w->st != KILN_OK) return w->st;
    if (w->n_sgs == 0) {
        fail(w, KILN_ERR_ARG, "tflite writer: the model has no subgraph");
        return w->st;
    }
    if (!validate(w)) return w->st;

    size_t est = 4096;
    for (size_t i = 0; i < w->n_bufs; i++)
        est += w->bufs[i].len + 32;
    kiln_fb_builder *b = NULL;
    if (kiln_fb_builder_create(est, &b) != KILN_OK) {
        fail(w, KILN_ERR_NOMEM, "tflite writer: out of memory");
        return w->st;
    }
    kiln_fb_ref *bref = ref_array(w, w->n_bufs);
    kiln_fb_ref *cref = ref_array(w, w->n_opcodes);
    kiln_fb_ref *gref = ref_array(w, w->n_sgs);
    kiln_fb_ref *sref = ref_array(w, w->n_sigs);
    kiln_fb_ref *mref = ref_array(w, w->n_metas);
    if (w->st != KILN_OK) goto done;

    /* Buffers first: written back to front, their data ends up at the end of the file, after
     * every table, as TFLite's converter lays it out. */
    for (size_t i = 0; i < w->n_bufs; i++) {
        kiln_fb_ref data =
            w->bufs[i].len ? kiln_fb_create_vec_bytes(b, w->bufs[i].data, w->bufs[i].len, 16) : 0;
        kiln_fb_table_start(b);
        kiln_fb_add_ref(b, BUFFER_DATA, data);
        bref[i] = kiln_fb_table_end(b);
    }
    for (size_t i = 0; i < w->n_metas; i++) {
        kiln_fb_ref nm = kiln_fb_create_string(b, w->metas[i].name);
        kiln_fb_table_start(b);
        kiln_fb_add_ref(b, META_NAME, nm);
        kiln_fb_add_u32(b, META_BUFFER, (uint32_t)w->metas[i].buffer, 0);
        mref[i] = kiln_fb_table_end(b);
    }
    for (size_t i = 0; i < w->n_sigs; i++) {
        const wsig *s = &w->sigs[i];
        kiln_fb_ref in = write_tensor_maps(w, b, s->in_names, s->in_t, s->n_in);
        kiln_fb_ref out = write_tensor_maps(w, b, s->out_names, s->out_t, s->n_out);
        kiln_fb_ref key = kiln_fb_create_string(b, s->key);
        kiln_fb_table_start(b);
        kiln_fb_add_ref(b, SIG_INPUTS, in);
        kiln_fb_add_ref(b, SIG_OUTPUTS, out);
        kiln_fb_add_ref(b, SIG_KEY, key);
        kiln_fb_add_u32(b, SIG_SUBGRAPH, (uint32_t)s->sg, 0);
        sref[i] = kiln_fb_table_end(b);
    }
    qcache qc = {NULL, 0, 0};
    for (size_t i = 0; i < w->n_sgs; i++)
        gref[i] = write_subgraph(w, b, &qc, &w->sgs[i]);
    free(qc.e);
    for (size_t i = 0; i < w->n_opcodes; i++) {
        const wopcode *c = &w->opcodes[i];
        kiln_fb_ref cc = c->custom ? kiln_fb_create_string(b, c->custom) : 0;
        int32_t dep = c->builtin < TFL_PLACEHOLDER_FOR_GREATER_OP_CODES
                          ? c->builtin
                          : TFL_PLACEHOLDER_FOR_GREATER_OP_CODES;
        kiln_fb_table_start(b);
        kiln_fb_add_i8(b, OPCODE_DEPRECATED, (int8_t)dep, 0);
        kiln_fb_add_ref(b, OPCODE_CUSTOM, cc);
        kiln_fb_add_i32(b, OPCODE_VERSION, c->version, 1);
        kiln_fb_add_i32(b, OPCODE_BUILTIN, c->builtin, 0);
        cref[i] = kiln_fb_table_end(b);
    }
    if (w->st != KILN_OK) goto done;
    kiln_fb_ref desc = w->description ? kiln_fb_create_string(b, w->description) : 0;
    kiln_fb_ref bufs = kiln_fb_create_vec_refs(b, bref, w->n_bufs);
    kiln_fb_ref codes = kiln_fb_create_vec_refs(b, cref, w->n_opcodes);
    kiln_fb_ref sgs = kiln_fb_create_vec_refs(b, gref, w->n_sgs);
    kiln_fb_ref sigs = w->n_sigs ? kiln_fb_create_vec_refs(b, sref, w->n_sigs) : 0;
    kiln_fb_ref metas = w->n_metas ? kiln_fb_create_vec_refs(b, mref, w->n_metas) : 0;
    kiln_fb_table_start(b);
    kiln_fb_add_u32(b, MODEL_VERSION, TFL_SCHEMA_VERSION, 0);
    kiln_fb_add_ref(b, MODEL_OPCODES, codes);
    kiln_fb_add_ref(b, MODEL_SUBGRAPHS, sgs);
    kiln_fb_add_ref(b, MODEL_DESCRIPTION, desc);
    kiln_fb_add_ref(b, MODEL_BUFFERS, bufs);
    kiln_fb_add_ref(b, MODEL_METADATA, metas);
    kiln_fb_add_ref(b, MODEL_SIGNATURES, sigs);
    kiln_fb_ref root = kiln_fb_table_end(b);
    if (kiln_fb_finish(b, root, "TFL3") == KILN_OK) {
        *bytes = kiln_fb_release(b, len);
        if (!*bytes) fail(w, KILN_ERR_NOMEM, "tflite writer: out of memory");
    }
done:
    if (w->st == KILN_OK && kiln_fb_status(b) != KILN_OK)
        fail(w, kiln_fb_status(b), "tflite writer: %s", kiln_fb_error(b));
    free(bref);
    free(cref);
    free(gref);
    free(sref);
    free(mref);
    kiln_fb_builder_destroy(b);
    if (w->st != KILN_OK) {
        free(*bytes);
        *bytes = NULL;
        *len = 0;
    }
    return w->st;
}

kiln_status kiln_tfl_writer_save(kiln_tfl_writer *w, const char *path) {
    if (!w || !path) return KILN_ERR_ARG;
    uint8_t *bytes = NULL;
    size_t len = 0;
    kiln_status s = kiln_tfl_writer_finish(w, &bytes, &len);
    if (s != KILN_OK) return s;
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 5);
    if (!tmp) {
        free(bytes);
        fail(w, KILN_ERR_NOMEM, "tflite writer: out of memory");
        return w->st;
    }
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        fail(w, KILN_ERR_IO, "%s: %s", tmp, strerror(errno));
    } else {
        size_t n = fwrite(bytes, 1, len, f);
        int closed = fclose(f);
        if (n != len || closed != 0) {
            fail(w, KILN_ERR_IO, "%s: write failed: %s", tmp, strerror(errno));
            remove(tmp);
        } else if (rename(tmp, path) != 0) {
            fail(w, KILN_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
            remove(tmp);
        }
    }
    free(tmp);
    free(bytes);
    return w->st;
}
