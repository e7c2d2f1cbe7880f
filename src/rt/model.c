/* model.c: loads and verifies a .tflite FlatBuffer (field ids and rules of TFLite's
 * schema.fbs). Verification and indexing are one pass: every offset, length, index and enum is
 * checked before it is used, and the first problem is reported as one line naming the field.
 * Weights, names and option tables stay in the caller's buffer (zero-copy). */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "kernels/ops.h"
#include "rt/fb.h"
#include "rt/model.h"

/* Field ids (schema.fbs). */
enum {
    M_VERSION = 0,
    M_OPCODES = 1,
    M_SUBGRAPHS = 2,
    M_DESCRIPTION = 3,
    M_BUFFERS = 4,
    M_METADATA = 6,
    M_SIGNATURES = 7
};
enum { OC_DEPRECATED = 0, OC_CUSTOM = 1, OC_VERSION = 2, OC_BUILTIN = 3 };
enum { SG_TENSORS = 0, SG_INPUTS = 1, SG_OUTPUTS = 2, SG_OPS = 3, SG_NAME = 4 };
enum {
    T_SHAPE = 0,
    T_TYPE = 1,
    T_BUFFER = 2,
    T_NAME = 3,
    T_QUANT = 4,
    T_VARIABLE = 5,
    T_SPARSITY = 6,
    T_SIGNATURE = 7,
    T_HAS_RANK = 8
};
enum { Q_SCALE = 2, Q_ZERO_POINT = 3, Q_DIM = 6 };
enum {
    OP_OPCODE = 0,
    OP_INPUTS = 1,
    OP_OUTPUTS = 2,
    OP_OPTS_TYPE = 3,
    OP_OPTS = 4,
    OP_CUSTOM = 5,
    OP_INTERMEDIATES = 8,
    OP_OPTS2_TYPE = 11,
    OP_OPTS2 = 12
};
enum { B_DATA = 0, B_OFFSET = 1, B_SIZE = 2 };
enum { MD_NAME = 0, MD_BUFFER = 1 };
enum { TM_NAME = 0, TM_TENSOR = 1 };
enum { SD_INPUTS = 0, SD_OUTPUTS = 1, SD_KEY = 2, SD_SUBGRAPH = 4 };

#define KILN_MAX_OPTIONS_TYPE 130 /* BuiltinOptions union members (schema.fbs) */
#define KILN_MAX_OPTIONS2_TYPE 30 /* BuiltinOptions2 union members */
#define KILN_MAX_ELEMENTS ((int64_t)1 << 40)

typedef struct block {
    struct block *next;
    size_t used, cap;
    /* data follows, 16-byte aligned */
} block;

typedef struct ld {
    kiln_model *m;
    kiln__fb f;
    char *err;
    size_t errlen;
} ld;

static kiln_status fail(ld *l, const char *fmt, ...) {
    if (l->err && l->errlen) {
        int n = kiln__fmt(l->err, l->errlen, "%s: ", l->m->name);
        if (n < 0) n = 0;
        if ((size_t)n < l->errlen) {
            va_list ap;
            va_start(ap, fmt);
            kiln__vfmt(l->err + n, l->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return KILN_ERR_MODEL;
}

static void warn(kiln_model *m, const char *fmt, ...) {
    size_t n = strlen(m->warnings);
    if (n + 2 >= sizeof m->warnings) return;
    if (n) m->warnings[n++] = '\n';
    va_list ap;
    va_start(ap, fmt);
    kiln__vfmt(m->warnings + n, sizeof m->warnings - n, fmt, ap);
    va_end(ap);
}

/* Bump allocation from the model's block chain (zeroed, 16-byte aligned). */
static void *mem(ld *l, size_t bytes) {
    kiln_model *m = l->m;
    bytes = (bytes + 15) & ~(size_t)15;
    block *b = (block *)m->blocks;
    const size_t hdr = (sizeof(block) + 15) & ~(size_t)15;
    if (!b || b->cap - b->used < bytes) {
        size_t cap = bytes > 16384 ? bytes : 16384;
        block *nb = (block *)kiln__alloc(&m->alloc, hdr + cap, 16);
        if (!nb) return NULL;
        nb->next = b;
        nb->used = 0;
        nb->cap = cap;
        m->blocks = nb;
        b = nb;
    }
    void *p = (uint8_t *)b + hdr + b->used;
    b->used += bytes;
    memset(p, 0, bytes);
    return p;
}

static void *mem_n(ld *l, size_t count, size_t size) {
    if (count && size > SIZE_MAX / 4 / count) return NULL;
    return mem(l, count * size > 0 ? count * size : 1);
}

#define NOMEM(l) (fail(l, "out of memory while loading"), KILN_ERR_NOMEM)

/* Reads an [int] vector field into a fresh array. */
static kiln_status read_ivec(ld *l, const kiln__fbt *t, int id, int32_t **out, int32_t *count,
                             const char *what) {
    size_t first;
    uint32_t c;
    if (kiln__fb_vec(&l->f, t, id, 4, &first, &c) < 0) return fail(l, "%s: bad vector", what);
    if (c > (1u << 24)) return fail(l, "%s: %u entries is too many", what, c);
    int32_t *a = (int32_t *)mem_n(l, c, 4);
    if (!a) return NOMEM(l);
    for (uint32_t i = 0; i < c; i++)
        a[i] = (int32_t)kiln__rd32(l->f.b + first + 4 * (size_t)i);
    *out = a;
    *count = (int32_t)c;
    return KILN_OK;
}

static kiln_status load_opcodes(ld *l, const kiln__fbt *root) {
    size_t first;
    uint32_t n;
    if (kiln__fb_vec(&l->f, root, M_OPCODES, 4, &first, &n) < 0)
        return fail(l, "operator_codes: bad vector");
    if (n > 100000) return fail(l, "operator_codes: %u entries is too many", n);
    l->m->n_opcodes = (int32_t)n;
    l->m->opcodes = (kiln__opcode_def *)mem_n(l, n, sizeof(kiln__opcode_def));
    if (!l->m->opcodes) return NOMEM(l);
    for (uint32_t i = 0; i < n; i++) {
        kiln__fbt t;
        int8_t dep;
        int32_t code, ver;
        kiln__opcode_def *oc = &l->m->opcodes[i];
        if (kiln__fb_vec_table(&l->f, first, i, &t) ||
            kiln__fb_i8(&l->f, &t, OC_DEPRECATED, 0, &dep) ||
            kiln__fb_i32(&l->f, &t, OC_BUILTIN, 0, &code) ||
            kiln__fb_i32(&l->f, &t, OC_VERSION, 1, &ver) ||
            kiln__fb_str(&l->f, &t, OC_CUSTOM, &oc->custom_code) < 0)
            return fail(l, "operator_codes[%u]: malformed table", i);
        /* TFLite: the larger of the two fields is the code (old files only set the byte). */
        oc->builtin = code > dep ? code : dep;
        if (oc->builtin < 0 || oc->builtin >= KILN_OP__COUNT)
            return fail(l, "operator_codes[%u]: unknown builtin code %d", i, oc->builtin);
        if (ver < 1) return fail(l, "operator_codes[%u]: version %d (must be >= 1)", i, ver);
        oc->version = ver;
        if (oc->builtin != KILN_OP_CUSTOM) oc->custom_code = NULL;
    }
    return KILN_OK;
}

/* Finds buffer `index`'s data. */
static kiln_status buffer_data(ld *l, size_t bfirst, uint32_t nbuf, uint32_t index,
                               const uint8_t **data, size_t *len, const char *who) {
    *data = NULL;
    *len = 0;
    if (index >= nbuf) return fail(l, "%s refers to buffer %u, only %u buffers", who, index, nbuf);
    kiln__fbt t;
    size_t first;
    uint32_t c;
    uint64_t off, size;
    if (kiln__fb_vec_table(&l->f, bfirst, index, &t) ||
        kiln__fb_vec(&l->f, &t, B_DATA, 1, &first, &c) < 0 ||
        kiln__fb_u64(&l->f, &t, B_OFFSET, 0, &off) || kiln__fb_u64(&l->f, &t, B_SIZE, 0, &size))
        return fail(l, "buffer %u: malformed table", index);
    if (c) {
        *data = l->f.b + first;
        *len = c;
    } else if (off > 1) {
        /* Large models keep buffers after the FlatBuffer, addressed from the file start. */
        if (off > l->f.n || size > l->f.n - off)
            return fail(l,
                        "buffer %u: offset %llu + size %llu is past the end of the file (%zu "
                        "bytes)",
                        index, (unsigned long long)off, (unsigned long long)size, l->f.n);
        *data = l->f.b + off;
        *len = (size_t)size;
    }
    return KILN_OK;
}

static kiln_status load_quant(ld *l, const kiln__fbt *tt, kiln__tensor_def *td, const char *who) {
    size_t qpos;
    int r = kiln__fb_ref(&l->f, tt, T_QUANT, &qpos);
    if (r < 0) return fail(l, "%s: bad quantization offset", who);
    if (r == 0) return KILN_OK;
    kiln__fbt q;
    size_t sfirst, zfirst;
    uint32_t ns, nz;
    int32_t dim;
    if (kiln__fb_table(&l->f, qpos, &q) || kiln__fb_vec(&l->f, &q, Q_SCALE, 4, &sfirst, &ns) < 0 ||
        kiln__fb_vec(&l->f, &q, Q_ZERO_POINT, 8, &zfirst, &nz) < 0 ||
        kiln__fb_i32(&l->f, &q, Q_DIM, 0, &dim))
        return fail(l, "%s: malformed quantization table", who);
    /* As TFLite: affine quantization needs both scale and zero_point; otherwise none. */
    if (ns == 0 || nz == 0) return KILN_OK;
    if (ns != nz) return fail(l, "%s: quantization has %u scales but %u zero points", who, ns, nz);
    if (ns > (1u << 20)) return fail(l, "%s: %u quantization scales is too many", who, ns);
    float *sc = (float *)mem_n(l, ns, 4);
    int32_t *zp = (int32_t *)mem_n(l, ns, 4);
    if (!sc || !zp) return NOMEM(l);
    for (uint32_t i = 0; i < ns; i++) {
        uint32_t u = kiln__rd32(l->f.b + sfirst + 4 * (size_t)i);
        memcpy(&sc[i], &u, 4);
        if (!isfinite(sc[i]) || sc[i] < 0)
            return fail(l, "%s: quantization scale %u is %g (must be finite and >= 0)", who, i,
                        (double)sc[i]);
        int64_t z = (int64_t)kiln__rd64(l->f.b + zfirst + 8 * (size_t)i);
        if (z < INT32_MIN || z > INT32_MAX)
            return fail(l, "%s: zero point %u (%lld) is out of the int32 range", who, i,
                        (long long)z);
        zp[i] = (int32_t)z;
    }
    if (ns > 1) {
        if (dim < 0 || dim >= td->rank) {
            if (td->rank == 1 && td->dims[0] == (int32_t)ns) {
                /* person_detect's biases: rank 1, per-channel, quantized_dimension 3. TFLite
                 * Micro accepts this (the only axis is meant); LiteRT rejects it. */
                warn(l->m,
                     "%s: quantized_dimension %d is out of range for rank 1; using 0 (as "
                     "TFLite Micro does)",
                     who, dim);
                dim = 0;
            } else {
                return fail(l, "%s: quantized_dimension %d is out of range for rank %d", who, dim,
                            td->rank);
            }
        }
        if (td->dims[dim] != (int32_t)ns)
            return fail(l, "%s: %u per-channel scales but dimension %d has size %d", who, ns, dim,
                        td->dims[dim]);
    } else {
        dim = 0;
    }
    td->q.n = (int32_t)ns;
    td->q.scale = sc;
    td->q.zero_point = zp;
    td->q.dim = dim;
    return KILN_OK;
}

static kiln_status load_tensor(ld *l, int32_t sg, int32_t i, const kiln__fbt *tt,
                               kiln__tensor_def *td, size_t bfirst, uint32_t nbuf) {
    char who[64];
    kiln__fmt(who, sizeof who, "subgraph %d tensor %d", sg, i);
    size_t first;
    uint32_t rank;
    int8_t type;
    uint32_t buf;
    uint8_t var, has_rank;
    if (kiln__fb_vec(&l->f, tt, T_SHAPE, 4, &first, &rank) < 0 ||
        kiln__fb_i8(&l->f, tt, T_TYPE, 0, &type) || kiln__fb_u32(&l->f, tt, T_BUFFER, 0, &buf) ||
        kiln__fb_u8(&l->f, tt, T_VARIABLE, 0, &var) ||
        kiln__fb_u8(&l->f, tt, T_HAS_RANK, 0, &has_rank) ||
        kiln__fb_str(&l->f, tt, T_NAME, &td->name) < 0)
        return fail(l, "%s: malformed table", who);
    if (rank > KILN_MAX_RANK)
        return fail(l, "%s (%s): rank %u, at most %d is supported", who, td->name, rank,
                    KILN_MAX_RANK);
    if (type < 0 || type > KILN_BFLOAT16)
        return fail(l, "%s (%s): unknown tensor type %d", who, td->name, type);
    td->type = type;
    td->rank = (int32_t)rank;
    td->is_variable = var != 0;
    td->has_rank = has_rank != 0;
    int64_t numel = 1;
    for (uint32_t d = 0; d < rank; d++) {
        int32_t v = (int32_t)kiln__rd32(l->f.b + first + 4 * (size_t)d);
        if (v < 0)
            return fail(l, "%s (%s): dimension %u is %d (must be >= 0)", who, td->name, d, v);
        td->dims[d] = v;
        numel *= v;
        if (numel > KILN_MAX_ELEMENTS)
            return fail(l, "%s (%s): shape has more than 2^40 elements", who, td->name);
    }
    uint32_t nsig;
    if (kiln__fb_vec(&l->f, tt, T_SIGNATURE, 4, &first, &nsig) < 0)
        return fail(l, "%s (%s): bad shape_signature", who, td->name);
    if (nsig) {
        if (nsig != rank)
            return fail(l, "%s (%s): shape_signature has rank %u but shape has rank %u", who,
                        td->name, nsig, rank);
        td->has_signature = 1;
        for (uint32_t d = 0; d < nsig; d++) {
            int32_t v = (int32_t)kiln__rd32(l->f.b + first + 4 * (size_t)d);
            if (v < -1)
                return fail(l, "%s (%s): shape_signature dimension %u is %d", who, td->name, d, v);
            td->sig[d] = v;
        }
    }
    size_t sp;
    if (kiln__fb_ref(&l->f, tt, T_SPARSITY, &sp) < 0)
        return fail(l, "%s (%s): bad sparsity offset", who, td->name);
    td->has_sparsity = sp != 0;
    td->buffer = buf;
    kiln_status s = buffer_data(l, bfirst, nbuf, buf, &td->data, &td->data_len, who);
    if (s) return s;
    if (td->data) {
        const size_t es = kiln_dtype_size(td->type);
        if (es && !td->has_sparsity) {
            const uint64_t need =
                td->type == KILN_INT4 ? ((uint64_t)numel + 1) / 2 : (uint64_t)numel * es;
            if (need != td->data_len)
                return fail(l, "%s (%s): shape needs %llu bytes but buffer %u holds %zu", who,
                            td->name, (unsigned long long)need, buf, td->data_len);
            /* Real files (seanet's int64 biases) carry 8-byte data at 4-byte alignment, and
             * TFLite accepts them: kernels read 8-byte constants with memcpy. */
            const size_t al = es > 4 ? 4 : es;
            if (((uintptr_t)td->data) % al)
                return fail(l, "%s (%s): data of buffer %u is not %zu-byte aligned", who, td->name,
                            buf, al);
        }
    }
    return load_quant(l, tt, td, who);
}

static kiln_status load_op(ld *l, int32_t sg, int32_t i, const kiln__fbt *ot, kiln__op_def *od,
                           int32_t ntensors) {
    char who[64];
    kiln__fmt(who, sizeof who, "subgraph %d operator %d", sg, i);
    uint32_t oc;
    uint8_t ot1, ot2;
    if (kiln__fb_u32(&l->f, ot, OP_OPCODE, 0, &oc) ||
        kiln__fb_u8(&l->f, ot, OP_OPTS_TYPE, 0, &ot1) ||
        kiln__fb_u8(&l->f, ot, OP_OPTS2_TYPE, 0, &ot2))
        return fail(l, "%s: malformed table", who);
    if (oc >= (uint32_t)l->m->n_opcodes)
        return fail(l, "%s: opcode_index %u, only %d operator codes", who, oc, l->m->n_opcodes);
    od->opcode_index = oc;
    od->builtin = l->m->opcodes[oc].builtin;
    od->version = l->m->opcodes[oc].version;
    od->custom_code = l->m->opcodes[oc].custom_code;
    kiln_status s;
    if ((s = read_ivec(l, ot, OP_INPUTS, &od->inputs, &od->n_in, who)) ||
        (s = read_ivec(l, ot, OP_OUTPUTS, &od->outputs, &od->n_out, who)) ||
        (s = read_ivec(l, ot, OP_INTERMEDIATES, &od->intermediates, &od->n_tmp, who)))
        return s;
    const char *opname = kiln_builtin_name(od->builtin);
    for (int32_t k = 0; k < od->n_in; k++) {
        int32_t t = od->inputs[k];
        if (t < -1 || t >= ntensors)
            return fail(l, "%s (%s) input %d refers to tensor %d, only %d tensors", who, opname, k,
                        t, ntensors);
    }
    for (int32_t k = 0; k < od->n_out; k++) {
        int32_t t = od->outputs[k];
        if (t < 0 || t >= ntensors)
            return fail(l, "%s (%s) output %d refers to tensor %d, only %d tensors", who, opname, k,
                        t, ntensors);
        for (int32_t j = 0; j < od->n_in; j++)
            if (od->inputs[j] == t)
                return fail(l, "%s (%s) output %d is also its input %d (tensor %d)", who, opname, k,
                            j, t);
        for (int32_t j = 0; j < k; j++)
            if (od->outputs[j] == t)
                return fail(l, "%s (%s) writes tensor %d twice", who, opname, t);
    }
    for (int32_t k = 0; k < od->n_tmp; k++)
        if (od->intermediates[k] < 0 || od->intermediates[k] >= ntensors)
            return fail(l, "%s (%s) intermediate %d refers to tensor %d, only %d tensors", who,
                        opname, k, od->intermediates[k], ntensors);
    if (ot1 > KILN_MAX_OPTIONS_TYPE) return fail(l, "%s: unknown options type %u", who, ot1);
    if (ot2 > KILN_MAX_OPTIONS2_TYPE) return fail(l, "%s: unknown options_2 type %u", who, ot2);
    kiln__fbt u;
    int r = kiln__fb_union(&l->f, ot, OP_OPTS, &u);
    if (r < 0) return fail(l, "%s (%s): malformed builtin_options", who, opname);
    if (r > 0 && ot1) {
        od->opts = l->f.b + u.pos;
        od->opts_type = ot1;
    }
    r = kiln__fb_union(&l->f, ot, OP_OPTS2, &u);
    if (r < 0) return fail(l, "%s (%s): malformed builtin_options_2", who, opname);
    if (r > 0 && ot2) {
        od->opts2 = l->f.b + u.pos;
        od->opts2_type = ot2;
    }
    size_t cfirst;
    uint32_t clen;
    if (kiln__fb_vec(&l->f, ot, OP_CUSTOM, 1, &cfirst, &clen) < 0)
        return fail(l, "%s (%s): malformed custom_options", who, opname);
    if (clen) {
        od->custom = l->f.b + cfirst;
        od->custom_len = clen;
    }
    return KILN_OK;
}

/* Dataflow checks TFLite leaves to chance: every operator input must be a constant, a graph
 * input, a variable or an earlier operator's output; no tensor is written twice; no operator
 * writes a constant or a graph input. */
static kiln_status check_dataflow(ld *l, int32_t sg, kiln__subgraph_def *g) {
    uint8_t *state = (uint8_t *)mem_n(l, (size_t)g->n_tensors, 1);
    if (!state) return NOMEM(l);
    enum { UNSET = 0, AVAILABLE = 1, INPUT = 2, CONST = 3 };
    for (int32_t t = 0; t < g->n_tensors; t++) {
        const kiln__tensor_def *td = &g->tensors[t];
        if (td->data)
            state[t] = CONST;
        else if (td->is_variable)
            state[t] = AVAILABLE;
    }
    for (int32_t k = 0; k < g->n_inputs; k++) {
        int32_t t = g->inputs[k];
        if (t < 0 || t >= g->n_tensors)
            return fail(l, "subgraph %d input %d refers to tensor %d, only %d tensors", sg, k, t,
                        g->n_tensors);
        if (state[t] == UNSET) state[t] = INPUT;
    }
    for (int32_t i = 0; i < g->n_ops; i++) {
        const kiln__op_def *od = &g->ops[i];
        const char *opname = kiln_builtin_name(od->builtin);
        for (int32_t k = 0; k < od->n_in; k++) {
            int32_t t = od->inputs[k];
            if (t < 0 || state[t] != UNSET) continue;
            /* An empty tensor carries no data (e.g. a placeholder for an unused operand). */
            int64_t n = 1;
            for (int32_t d = 0; d < g->tensors[t].rank; d++)
                n *= g->tensors[t].dims[d];
            if (n == 0) continue;
            return fail(l,
                        "subgraph %d operator %d (%s) input %d reads tensor %d (%s), which "
                        "no earlier operator writes",
                        sg, i, opname, k, t, g->tensors[t].name);
        }
        for (int32_t k = 0; k < od->n_out; k++) {
            int32_t t = od->outputs[k];
            if (state[t] == CONST || state[t] == INPUT)
                return fail(l,
                            "subgraph %d operator %d (%s) output %d writes tensor %d (%s), "
                            "which is a %s",
                            sg, i, opname, k, t, g->tensors[t].name,
                            state[t] == CONST ? "constant" : "graph input");
            if (state[t] == AVAILABLE && !g->tensors[t].is_variable)
                return fail(l,
                            "subgraph %d operator %d (%s) writes tensor %d (%s), which an "
                            "earlier operator already wrote",
                            sg, i, opname, t, g->tensors[t].name);
            state[t] = AVAILABLE;
        }
    }
    for (int32_t k = 0; k < g->n_outputs; k++) {
        int32_t t = g->outputs[k];
        if (t < 0 || t >= g->n_tensors)
            return fail(l, "subgraph %d output %d refers to tensor %d, only %d tensors", sg, k, t,
                        g->n_tensors);
    }
    return KILN_OK;
}

static kiln_status load_subgraphs(ld *l, const kiln__fbt *root) {
    size_t first, bfirst;
    uint32_t n, nbuf;
    if (kiln__fb_vec(&l->f, root, M_SUBGRAPHS, 4, &first, &n) < 0)
        return fail(l, "subgraphs: bad vector");
    if (n == 0) return fail(l, "the model has no subgraph");
    if (n > 10000) return fail(l, "subgraphs: %u is too many", n);
    if (kiln__fb_vec(&l->f, root, M_BUFFERS, 4, &bfirst, &nbuf) < 0)
        return fail(l, "buffers: bad vector");
    l->m->n_buffers = (int32_t)nbuf;
    l->m->n_subgraphs = (int32_t)n;
    l->m->subgraphs = (kiln__subgraph_def *)mem_n(l, n, sizeof(kiln__subgraph_def));
    if (!l->m->subgraphs) return NOMEM(l);
    for (uint32_t s = 0; s < n; s++) {
        kiln__subgraph_def *g = &l->m->subgraphs[s];
        kiln__fbt st;
        size_t tfirst, ofirst;
        uint32_t nt, no;
        char who[32];
        kiln__fmt(who, sizeof who, "subgraph %u", s);
        if (kiln__fb_vec_table(&l->f, first, s, &st) ||
            kiln__fb_vec(&l->f, &st, SG_TENSORS, 4, &tfirst, &nt) < 0 ||
            kiln__fb_vec(&l->f, &st, SG_OPS, 4, &ofirst, &no) < 0 ||
            kiln__fb_str(&l->f, &st, SG_NAME, &g->name) < 0)
            return fail(l, "%s: malformed table", who);
        if (nt > (1u << 22) || no > (1u << 22))
            return fail(l, "%s: %u tensors and %u operators is too many", who, nt, no);
        g->n_tensors = (int32_t)nt;
        g->n_ops = (int32_t)no;
        g->tensors = (kiln__tensor_def *)mem_n(l, nt, sizeof(kiln__tensor_def));
        g->ops = (kiln__op_def *)mem_n(l, no, sizeof(kiln__op_def));
        if (!g->tensors || !g->ops) return NOMEM(l);
        kiln_status r;
        for (uint32_t i = 0; i < nt; i++) {
            kiln__fbt tt;
            if (kiln__fb_vec_table(&l->f, tfirst, i, &tt))
                return fail(l, "%s tensor %u: malformed table", who, i);
            if ((r = load_tensor(l, (int32_t)s, (int32_t)i, &tt, &g->tensors[i], bfirst, nbuf)))
                return r;
        }
        if ((r = read_ivec(l, &st, SG_INPUTS, &g->inputs, &g->n_inputs, who)) ||
            (r = read_ivec(l, &st, SG_OUTPUTS, &g->outputs, &g->n_outputs, who)))
            return r;
        for (uint32_t i = 0; i < no; i++) {
            kiln__fbt ot;
            if (kiln__fb_vec_table(&l->f, ofirst, i, &ot))
                return fail(l, "%s operator %u: malformed table", who, i);
            if ((r = load_op(l, (int32_t)s, (int32_t)i, &ot, &g->ops[i], (int32_t)nt))) return r;
        }
        if ((r = check_dataflow(l, (int32_t)s, g))) return r;
    }
    return KILN_OK;
}

/* Subgraph indices named by control-flow options must exist, and the call graph must have no
 * cycle (TFLite has had crashes from a WHILE body that calls itself). */
static int callee_list(const kiln_model *m, const kiln__op_def *od, int32_t out[2]) {
    kiln_node n;
    memset(&n, 0, sizeof n);
    n.opts = od->opts;
    n.fb = m->buf;
    n.fb_len = m->len;
    switch (od->builtin) {
    case KILN_OP_IF:
    case KILN_OP_WHILE:
        out[0] = kiln_opt_i32(&n, 0, -1);
        out[1] = kiln_opt_i32(&n, 1, -1);
        return 2;
    case KILN_OP_CALL_ONCE:
    case KILN_OP_CALL:
        out[0] = kiln_opt_i32(&n, 0, -1);
        return 1;
    default:
        return 0;
    }
}

static kiln_status check_calls(ld *l) {
    kiln_model *m = l->m;
    /* 0 = unvisited, 1 = on the stack, 2 = done; iterative DFS with an explicit stack. */
    uint8_t *color = (uint8_t *)mem_n(l, (size_t)m->n_subgraphs, 1);
    int32_t *stack = (int32_t *)mem_n(l, (size_t)m->n_subgraphs, 4);
    int32_t *next = (int32_t *)mem_n(l, (size_t)m->n_subgraphs, 4);
    if (!color || !stack || !next) return NOMEM(l);
    for (int32_t s = 0; s < m->n_subgraphs; s++)
        for (int32_t i = 0; i < m->subgraphs[s].n_ops; i++) {
            int32_t c[2];
            int k = callee_list(m, &m->subgraphs[s].ops[i], c);
            for (int j = 0; j < k; j++)
                if (c[j] < 0 || c[j] >= m->n_subgraphs)
                    return fail(l,
                                "subgraph %d operator %d (%s) refers to subgraph %d, only %d "
                                "subgraphs",
                                s, i, kiln_builtin_name(m->subgraphs[s].ops[i].builtin), c[j],
                                m->n_subgraphs);
        }
    for (int32_t root = 0; root < m->n_subgraphs; root++) {
        if (color[root]) continue;
        int32_t sp = 0;
        stack[sp] = root;
        next[sp] = 0;
        color[root] = 1;
        sp++;
        while (sp) {
            int32_t s = stack[sp - 1];
            /* next[] walks (operator, callee) pairs flattened as op * 2 + j. */
            int32_t pos = next[sp - 1]++;
            int32_t op = pos / 2, j = pos % 2;
            if (op >= m->subgraphs[s].n_ops) {
                color[s] = 2;
                sp--;
                continue;
            }
            int32_t c[2];
            int k = callee_list(m, &m->subgraphs[s].ops[op], c);
            if (j >= k) continue;
            int32_t t = c[j];
            if (color[t] == 1)
                return fail(l, "subgraph %d operator %d (%s) calls subgraph %d recursively", s, op,
                            kiln_builtin_name(m->subgraphs[s].ops[op].builtin), t);
            if (color[t] == 0) {
                color[t] = 1;
                stack[sp] = t;
                next[sp] = 0;
                sp++;
            }
        }
    }
    return KILN_OK;
}

static kiln_status load_tensor_maps(ld *l, const kiln__fbt *st, int id, kiln__tensor_map **out,
                                    int32_t *count, const kiln__subgraph_def *g, const char *who) {
    size_t first;
    uint32_t n;
    if (kiln__fb_vec(&l->f, st, id, 4, &first, &n) < 0) return fail(l, "%s: bad vector", who);
    if (n > 100000) return fail(l, "%s: %u entries is too many", who, n);
    *out = (kiln__tensor_map *)mem_n(l, n, sizeof(kiln__tensor_map));
    if (!*out) return NOMEM(l);
    *count = (int32_t)n;
    for (uint32_t i = 0; i < n; i++) {
        kiln__fbt t;
        uint32_t ti;
        if (kiln__fb_vec_table(&l->f, first, i, &t) ||
            kiln__fb_str(&l->f, &t, TM_NAME, &(*out)[i].name) < 0 ||
            kiln__fb_u32(&l->f, &t, TM_TENSOR, 0, &ti))
            return fail(l, "%s[%u]: malformed table", who, i);
        if (ti >= (uint32_t)g->n_tensors)
            return fail(l, "%s[%u] (%s) refers to tensor %u, only %d tensors", who, i,
                        (*out)[i].name, ti, g->n_tensors);
        (*out)[i].tensor = (int32_t)ti;
    }
    return KILN_OK;
}

static kiln_status load_signatures(ld *l, const kiln__fbt *root) {
    size_t first;
    uint32_t n;
    if (kiln__fb_vec(&l->f, root, M_SIGNATURES, 4, &first, &n) < 0)
        return fail(l, "signature_defs: bad vector");
    if (n > 10000) return fail(l, "signature_defs: %u is too many", n);
    l->m->n_signatures = (int32_t)n;
    l->m->signatures = (kiln__signature_def *)mem_n(l, n, sizeof(kiln__signature_def));
    if (!l->m->signatures) return NOMEM(l);
    for (uint32_t i = 0; i < n; i++) {
        kiln__signature_def *sd = &l->m->signatures[i];
        kiln__fbt st;
        uint32_t sgi;
        char who[48];
        if (kiln__fb_vec_table(&l->f, first, i, &st) ||
            kiln__fb_str(&l->f, &st, SD_KEY, &sd->key) < 0 ||
            kiln__fb_u32(&l->f, &st, SD_SUBGRAPH, 0, &sgi))
            return fail(l, "signature_defs[%u]: malformed table", i);
        if (sgi >= (uint32_t)l->m->n_subgraphs)
            return fail(l, "signature '%s' refers to subgraph %u, only %d subgraphs", sd->key, sgi,
                        l->m->n_subgraphs);
        sd->subgraph = (int32_t)sgi;
        const kiln__subgraph_def *g = &l->m->subgraphs[sgi];
        kiln_status s;
        kiln__fmt(who, sizeof who, "signature '%s' inputs", sd->key);
        if ((s = load_tensor_maps(l, &st, SD_INPUTS, &sd->inputs, &sd->n_inputs, g, who))) return s;
        kiln__fmt(who, sizeof who, "signature '%s' outputs", sd->key);
        if ((s = load_tensor_maps(l, &st, SD_OUTPUTS, &sd->outputs, &sd->n_outputs, g, who)))
            return s;
    }
    return KILN_OK;
}

static kiln_status load_metadata(ld *l, const kiln__fbt *root) {
    size_t first, bfirst;
    uint32_t n, nbuf;
    if (kiln__fb_vec(&l->f, root, M_METADATA, 4, &first, &n) < 0)
        return fail(l, "metadata: bad vector");
    if (kiln__fb_vec(&l->f, root, M_BUFFERS, 4, &bfirst, &nbuf) < 0)
        return fail(l, "buffers: bad vector");
    if (n > 10000) return fail(l, "metadata: %u entries is too many", n);
    l->m->n_metadata = (int32_t)n;
    l->m->metadata = (kiln__metadata_def *)mem_n(l, n, sizeof(kiln__metadata_def));
    if (!l->m->metadata) return NOMEM(l);
    for (uint32_t i = 0; i < n; i++) {
        kiln__metadata_def *md = &l->m->metadata[i];
        kiln__fbt t;
        uint32_t b;
        char who[32];
        if (kiln__fb_vec_table(&l->f, first, i, &t) ||
            kiln__fb_str(&l->f, &t, MD_NAME, &md->name) < 0 ||
            kiln__fb_u32(&l->f, &t, MD_BUFFER, 0, &b))
            return fail(l, "metadata[%u]: malformed table", i);
        kiln__fmt(who, sizeof who, "metadata[%u]", i);
        kiln_status s = buffer_data(l, bfirst, nbuf, b, &md->data, &md->len, who);
        if (s) return s;
    }
    return KILN_OK;
}

kiln_status kiln_model_load(const void *buf, size_t len, const char *name,
                            const kiln_allocator *alloc, kiln_model **out, char *err,
                            size_t errlen) {
    if (err && errlen) err[0] = 0;
    if (!out) return KILN_ERR_ARG;
    *out = NULL;
    if (!alloc) alloc = kiln__default_allocator();
    if (!alloc) {
        kiln__fmt(err, errlen, "%s: no allocator given (this build has no default allocator)",
                  name ? name : "model");
        return KILN_ERR_ARG;
    }
    kiln_model *m = (kiln_model *)kiln__calloc(alloc, sizeof(kiln_model), 16);
    if (!m) return KILN_ERR_NOMEM;
    m->alloc = *alloc;
    m->buf = (const uint8_t *)buf;
    m->len = len;
    kiln__fmt(m->name, sizeof m->name, "%s", name ? name : "model");
    ld l = {m, {(const uint8_t *)buf, len}, err, errlen};
    kiln_status s = KILN_OK;
    kiln__fbt root;
    if (!buf || len < 8) {
        s = fail(&l, "file too small for a .tflite model (%zu bytes)", buf ? len : 0);
        goto done;
    }
    if ((uintptr_t)buf % 16) {
        s = fail(&l, "model buffer is not 16-byte aligned in memory");
        goto done;
    }
    if ((uint64_t)len > ((uint64_t)1 << 40)) {
        s = fail(&l, "file too large (%zu bytes)", len);
        goto done;
    }
    const uint32_t rootpos = kiln__rd32(l.f.b);
    if (kiln__fb_table(&l.f, rootpos, &root)) {
        s = fail(&l, "root table offset %u is invalid (file is %zu bytes): not a .tflite file?",
                 rootpos, len);
        goto done;
    }
    if (memcmp(l.f.b + 4, "TFL3", 4)) warn(m, "file identifier is not 'TFL3'");
    if (kiln__fb_u32(&l.f, &root, M_VERSION, 0, &m->version) ||
        kiln__fb_str(&l.f, &root, M_DESCRIPTION, &m->description) < 0) {
        s = fail(&l, "model table is malformed");
        goto done;
    }
    if (m->version != 3) {
        s = fail(&l, "schema version %u is not supported (expected 3)", m->version);
        goto done;
    }
    if ((s = load_opcodes(&l, &root)) || (s = load_subgraphs(&l, &root)) || (s = check_calls(&l)) ||
        (s = load_signatures(&l, &root)) || (s = load_metadata(&l, &root)))
        goto done;
done:
    if (s) {
        kiln_model_destroy(m);
        return s;
    }
    *out = m;
    return KILN_OK;
}

void kiln_model_destroy(kiln_model *m) {
    if (!m) return;
    block *b = (block *)m->blocks;
    while (b) {
        block *next = b->next;
        kiln__free(&m->alloc, b);
        b = next;
    }
    kiln_allocator a = m->alloc;
    kiln__free(&a, m);
}

int32_t kiln_model_num_subgraphs(const kiln_model *m) {
    return m ? m->n_subgraphs : 0;
}
int32_t kiln_model_num_signatures(const kiln_model *m) {
    return m ? m->n_signatures : 0;
}
const char *kiln_model_signature_key(const kiln_model *m, int32_t i) {
    if (!m || i < 0 || i >= m->n_signatures) return NULL;
    return m->signatures[i].key;
}
const char *kiln_model_description(const kiln_model *m) {
    return m ? m->description : "";
}
uint32_t kiln_model_schema_version(const kiln_model *m) {
    return m ? m->version : 0;
}
const char *kiln_model_warnings(const kiln_model *m) {
    return m ? m->warnings : "";
}
