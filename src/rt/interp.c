/* interp.c: libkiln-rt's interpreter: op resolver, prepare (with constant folding of shape
 * chains), one-arena planner (TFLite Micro's greedy-by-size with lifetimes, offline plans),
 * invoke, subgraph calls and resource variables. Semantics follow TFLite's interpreter; no libc
 * beyond string.h. */
#include <stdarg.h>
#include <string.h>

#include "kernels/kernel.h"
#include "kernels/ops.h"
#include "rt/fb.h"
#include "rt/interp.h"
#include "rt/model.h"

#define ALIGN 16
#define MAX_SCRATCH 4
/* Outputs up to this size whose inputs are all known at prepare are computed at prepare
 * (SHAPE -> STRIDED_SLICE -> PACK chains), so value-dependent shapes become static. */
#define FOLD_MAX_BYTES 4096

enum { PH_PREPARE, PH_FOLD, PH_INVOKE };
enum { MEM_NONE, MEM_CONST, MEM_PERSIST, MEM_ARENA };

typedef struct sg_run sg_run;

struct kiln_kctx {
    kiln_interp *it;
    sg_run *r; /* the subgraph running or being prepared */
    int32_t node;
    int32_t phase;
};

typedef struct node_ext {
    const kiln_kernel_reg *reg;
    int32_t nscr;
    uint8_t folded;
    int32_t sub_scr; /* scratch index holding the arenas of the subgraphs it calls, or -1 */
    size_t scr_bytes[MAX_SCRATCH];
    size_t scr_off[MAX_SCRATCH];
} node_ext;

typedef struct tensor_ext {
    int64_t off; /* arena offset, -1 when not in the arena */
    int32_t first, last;
    uint8_t known, kind, offline;
} tensor_ext;

/* One subgraph made runnable: its tensors, nodes and plan. The interpreter owns the main one;
 * each subgraph called by WHILE, IF or CALL_ONCE gets one too (it->subs), owned by the operator
 * that calls it: its arena lies at `base`, inside that operator's scratch. */
struct sg_run {
    int32_t index;
    const kiln__subgraph_def *def;
    int32_t nt, nn;
    kiln_tensor *t;
    tensor_ext *tx;
    kiln_node *nodes;
    node_ext *nx;
    size_t base; /* offset of this subgraph's plan in the interpreter's arena */
    size_t arena_size, lower_bound;
    int32_t nplanned;
    sg_run *owner; /* the calling subgraph (NULL for the main one) and its operator */
    int32_t owner_node;
    uint8_t ran_once; /* CALL_ONCE ran it since create or reset */
    uint8_t running;
};

struct kiln_interp {
    const kiln_model *m;
    kiln_allocator alloc;
    /* Caller arena: [base, base + cap); structures and persistent data are bumped up from the
     * start, planner temporaries down from the end, the planned arena follows the structures. */
    uint8_t *cbase;
    size_t ccap, ctmp, cgiven;
    int oom;      /* the caller arena ran out */
    void *blocks; /* malloc mode: list of allocations to free */
    size_t used;  /* bytes of structures + persistent data (16-byte units) */
    size_t persist;
    size_t need_peak; /* largest used + temporaries seen */
    sg_run run;
    sg_run **subs;   /* per subgraph index: the called subgraphs built so far (NULL: none) */
    kiln_kvar *vars; /* resource variables */
    int32_t nvars, maxvars;
    const kiln__signature_def *sig;
    uint8_t *arena;
    int own_arena;
    size_t arena_size, lower_bound;
    int32_t nplanned;
    int offline;
    kiln_arith arith;
    kiln_parallel par;
    int has_par;
    uint64_t max_while;
    kiln_op_hook hook;
    void *hook_ud;
    struct kiln_kctx ctx;
    uint8_t dummy[ALIGN]; /* data of zero-byte tensors */
    char err[KILN_ERRLEN];
};

static size_t round16(size_t n) {
    return (n + (ALIGN - 1)) & ~(size_t)(ALIGN - 1);
}

/* ---------------------------------------------------------------------------------------- */
/* messages */

static void msg_set(kiln_interp *it, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    kiln__vfmt(it->err, sizeof it->err, fmt, ap);
    va_end(ap);
}

static void msg_app(char *dst, size_t cap, const char *fmt, ...) {
    size_t len = strlen(dst);
    if (len + 1 >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    kiln__vfmt(dst + len, cap - len, fmt, ap);
    va_end(ap);
}

static const char *op_name(const kiln__op_def *op) {
    if (op->builtin == KILN_OP_CUSTOM && op->custom_code) return op->custom_code;
    return kiln_builtin_name(op->builtin);
}

/* ---------------------------------------------------------------------------------------- */
/* memory */

static void *it_alloc(kiln_interp *it, size_t n) {
    size_t r = round16(n ? n : 1);
    void *p;
    if (it->cbase) {
        if (r > it->ccap || it->used + r > it->ccap - it->ctmp) {
            it->oom = 1;
            return NULL;
        }
        p = it->cbase + it->used;
        memset(p, 0, r);
    } else {
        uint8_t *b = kiln__calloc(&it->alloc, r + ALIGN, ALIGN);
        if (!b) return NULL;
        memcpy(b, &it->blocks, sizeof(void *));
        it->blocks = b;
        p = b + ALIGN;
    }
    it->used += r;
    return p;
}

static void *tmp_alloc(kiln_interp *it, size_t n) {
    size_t r = round16(n ? n : 1);
    void *p;
    if (it->cbase) {
        if (r > it->ccap || it->used + it->ctmp + r > it->ccap) return NULL;
        it->ctmp += r;
        p = it->cbase + it->ccap - it->ctmp;
    } else {
        p = kiln__alloc(&it->alloc, r, ALIGN);
        if (!p) return NULL;
    }
    if (it->used + r > it->need_peak) it->need_peak = it->used + r;
    return p;
}

static void tmp_free(kiln_interp *it, void *p) {
    if (it->cbase)
        it->ctmp = 0;
    else
        kiln__free(&it->alloc, p);
}

/* ---------------------------------------------------------------------------------------- */
/* resolver */

static int32_t in_type(const kiln__subgraph_def *sg, const kiln__op_def *op, int32_t k) {
    if (k >= op->n_in || op->inputs[k] < 0 || op->inputs[k] >= sg->n_tensors) return -2;
    return sg->tensors[op->inputs[k]].type;
}

static const char *second_input_word(int32_t code) {
    switch (code) {
    case KILN_OP_CONV_2D:
    case KILN_OP_DEPTHWISE_CONV_2D:
    case KILN_OP_FULLY_CONNECTED:
    case KILN_OP_TRANSPOSE_CONV:
    case KILN_OP_CONV_3D:
        return "filter";
    default:
        return "input 1";
    }
}

/* Picks the kernel for op, or writes why there is none into msg (one clause, no prefix). */
static const kiln_kernel_reg *resolve(const kiln__subgraph_def *sg, const kiln__op_def *op,
                                      char *msg, size_t cap) {
    const int32_t t0 = in_type(sg, op, 0), t1 = in_type(sg, op, 1);
    size_t nfam = 0;
    const kiln_kernel_reg *const *fams = kiln__kernel_families(&nfam);
    const kiln_kernel_reg *best = NULL;
    int best_score = -1, any_op = 0, any_type = 0, w_specific = 0;
    int32_t vmin = INT32_MAX, vmax = INT32_MIN;
    if (msg && cap) msg[0] = 0;
    if (op->builtin == KILN_OP_CUSTOM) {
        if (msg)
            kiln__fmt(msg, cap, "custom op '%s' is not supported",
                      op->custom_code ? op->custom_code : "");
        return NULL;
    }
    for (size_t f = 0; f < nfam; f++) {
        for (const kiln_kernel_reg *e = fams[f]; e && e->op != -1; e++) {
            if (e->op != op->builtin) continue;
            any_op = 1;
            if (e->w_type != KILN_ANY) w_specific = 1;
            if (!(e->in_type == KILN_ANY || e->in_type == t0)) continue;
            if (!(e->w_type == KILN_ANY || e->w_type == t1)) continue;
            any_type = 1;
            if (e->min_version < vmin) vmin = e->min_version;
            if (e->max_version > vmax) vmax = e->max_version;
            if (op->version < e->min_version || op->version > e->max_version) continue;
            const int score = (e->in_type != KILN_ANY) * 2 + (e->w_type != KILN_ANY);
            if (score > best_score) {
                best_score = score;
                best = e;
            }
        }
    }
    if (best || !msg) return best;
    const char *name = kiln_builtin_name(op->builtin);
    if (!any_op) {
        if (!strcmp(name, "UNKNOWN"))
            kiln__fmt(msg, cap, "op %d is not supported", op->builtin);
        else
            kiln__fmt(msg, cap, "op %s is not supported", name);
    } else if (!any_type) {
        const char *n0 = t0 == -2 ? "none" : kiln_dtype_name(t0);
        if (w_specific && t1 != -2)
            kiln__fmt(msg, cap, "op %s with input %s and %s %s has no kernel", name, n0,
                      second_input_word(op->builtin), kiln_dtype_name(t1));
        else
            kiln__fmt(msg, cap, "op %s with input %s has no kernel", name, n0);
    } else if (vmin == vmax) {
        kiln__fmt(msg, cap, "op %s version %d is not supported (supported: %d)", name, op->version,
                  vmin);
    } else {
        kiln__fmt(msg, cap, "op %s version %d is not supported (supported: %d-%d)", name,
                  op->version, vmin, vmax);
    }
    return NULL;
}

kiln_status kiln__interp_check_op(const kiln_model *m, int32_t subgraph, int32_t op, char *msg,
                                  size_t msglen) {
    char tmp[160];
    if (!m || subgraph < 0 || subgraph >= m->n_subgraphs) return KILN_ERR_ARG;
    const kiln__subgraph_def *sg = &m->subgraphs[subgraph];
    if (op < 0 || op >= sg->n_ops) return KILN_ERR_ARG;
    if (resolve(sg, &sg->ops[op], tmp, sizeof tmp)) {
        if (msg && msglen) msg[0] = 0;
        return KILN_OK;
    }
    if (msg && msglen) kiln__fmt(msg, msglen, "%s", tmp);
    return KILN_ERR_UNSUPPORTED;
}

kiln_status kiln__interp_check_ops(const kiln_model *m, int32_t subgraph, char *msg,
                                   size_t msglen) {
    char a[160], b[160];
    if (!m || subgraph < 0 || subgraph >= m->n_subgraphs || !msg || !msglen) return KILN_ERR_ARG;
    const kiln__subgraph_def *sg = &m->subgraphs[subgraph];
    msg[0] = 0;
    int any = 0;
    for (int32_t i = 0; i < sg->n_ops; i++) {
        if (resolve(sg, &sg->ops[i], a, sizeof a)) continue;
        /* Group operators failing for the same reason: one clause per reason. */
        int seen = 0;
        for (int32_t j = 0; j < i && !seen; j++)
            if (!resolve(sg, &sg->ops[j], b, sizeof b) && !strcmp(a, b)) seen = 1;
        if (seen) continue;
        int32_t count = 1;
        for (int32_t j = i + 1; j < sg->n_ops; j++)
            if (!resolve(sg, &sg->ops[j], b, sizeof b) && !strcmp(a, b)) count++;
        msg_app(msg, msglen, "%s%s %d",
                any ? "; " : "unsupported: ", count > 1 ? "operators" : "operator", i);
        int32_t shown = 1;
        for (int32_t j = i + 1; j < sg->n_ops && count > 1; j++) {
            if (resolve(sg, &sg->ops[j], b, sizeof b) || strcmp(a, b)) continue;
            if (shown == 8) {
                msg_app(msg, msglen, " and %d more", count - shown);
                break;
            }
            msg_app(msg, msglen, ", %d", j);
            shown++;
        }
        msg_app(msg, msglen, ": %s", a);
        any = 1;
    }
    return any ? KILN_ERR_UNSUPPORTED : KILN_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* kernel services */

/* "model: operator 3 (ADD): ", with "subgraph 2 " before "operator" in a called subgraph. */
static int where(const kiln_interp *it, const sg_run *r, int32_t node, char *dst, size_t cap) {
    const kiln__op_def *op = &r->def->ops[node];
    if (r == &it->run)
        return kiln__fmt(dst, cap, "%s: operator %d (%s): ", it->m->name, node, op_name(op));
    return kiln__fmt(dst, cap, "%s: subgraph %d operator %d (%s): ", it->m->name, r->index, node,
                     op_name(op));
}

kiln_status kiln_kerr(kiln_kctx *ctx, kiln_status s, const char *fmt, ...) {
    kiln_interp *it = ctx->it;
    int n = where(it, ctx->r, ctx->node, it->err, sizeof it->err);
    if (n >= 0 && (size_t)n < sizeof it->err) {
        va_list ap;
        va_start(ap, fmt);
        kiln__vfmt(it->err + n, sizeof it->err - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return s;
}

void *kiln_kalloc(kiln_kctx *ctx, size_t bytes) {
    kiln_interp *it = ctx->it;
    if (ctx->phase != PH_PREPARE) return NULL;
    void *p = it_alloc(it, bytes);
    if (p) it->persist += round16(bytes ? bytes : 1);
    return p;
}

int32_t kiln_kscratch_request(kiln_kctx *ctx, size_t bytes) {
    if (ctx->phase != PH_PREPARE) return -1;
    node_ext *x = &ctx->r->nx[ctx->node];
    if (x->nscr >= MAX_SCRATCH) return -1;
    x->scr_bytes[x->nscr] = bytes;
    return x->nscr++;
}

void *kiln_kscratch(kiln_kctx *ctx, int32_t index) {
    kiln_interp *it = ctx->it;
    const node_ext *x = &ctx->r->nx[ctx->node];
    if (index < 0 || index >= x->nscr || !it->arena) return NULL;
    return it->arena + ctx->r->base + x->scr_off[index];
}

kiln_arith kiln_karith(const kiln_kctx *ctx) {
    return ctx->it->arith;
}

kiln_status kiln_kresize(kiln_kctx *ctx, kiln_tensor *t, int32_t rank, const int32_t *dims) {
    if (rank < 0 || rank > KILN_MAX_RANK)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "tensor %d: rank %d exceeds %d", t->index, rank,
                         KILN_MAX_RANK);
    const size_t es = kiln_dtype_size(t->type);
    size_t n = 1;
    for (int32_t i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return kiln_kerr(ctx, KILN_ERR_SHAPE, "tensor %d: dimension %d is negative (%d)",
                             t->index, i, dims[i]);
        if (dims[i] && n > SIZE_MAX / (size_t)dims[i])
            return kiln_kerr(ctx, KILN_ERR_SHAPE, "tensor %d: shape overflows", t->index);
        n *= (size_t)dims[i];
    }
    if (es && n > SIZE_MAX / es)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "tensor %d: shape overflows", t->index);
    const size_t bytes = n * es;
    int same = rank == t->rank;
    for (int32_t i = 0; same && i < rank; i++)
        same = dims[i] == t->dims[i];
    if (same) return KILN_OK;
    const sg_run *r = ctx->r;
    if (t->index >= 0 && t->index < r->nt && r->tx[t->index].kind == MEM_CONST)
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "tensor %d ('%s') is a constant; its shape "
                         "cannot change",
                         t->index, t->name ? t->name : "");
    if (ctx->phase != PH_PREPARE && bytes > t->bytes)
        return kiln_kerr(ctx, KILN_ERR_RUNTIME,
                         "tensor %d: output grows at invoke (%zu bytes "
                         "planned, %zu needed)",
                         t->index, t->bytes, bytes);
    if (ctx->phase == PH_PREPARE && t->index >= 0 && t->index < r->nt &&
        r->tx[t->index].kind == MEM_PERSIST && bytes != t->bytes)
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "tensor %d is a variable of %zu bytes; cannot "
                         "resize to %zu",
                         t->index, t->bytes, bytes);
    t->rank = rank;
    for (int32_t i = 0; i < rank; i++)
        t->dims[i] = dims[i];
    t->bytes = bytes;
    return KILN_OK;
}

int kiln_kknown(const kiln_kctx *ctx, const kiln_tensor *t) {
    const sg_run *r = ctx->r;
    if (!t || t->index < 0 || t->index >= r->nt) return 0;
    return r->tx[t->index].known;
}

void kiln_kparallel(kiln_kctx *ctx, int32_t ntasks, kiln_task_fn fn, void *arg) {
    kiln_interp *it = ctx->it;
    if (ntasks <= 0) return;
    if (it->has_par && it->par.run && it->par.threads > 1 && ntasks > 1) {
        it->par.run(it->par.ud, ntasks, fn, arg);
        return;
    }
    for (int32_t i = 0; i < ntasks; i++)
        fn(arg, i);
}

int32_t kiln_kthreads(const kiln_kctx *ctx) {
    const kiln_interp *it = ctx->it;
    return it->has_par && it->par.run && it->par.threads > 1 ? it->par.threads : 1;
}

/* ---------------------------------------------------------------------------------------- */
/* building a subgraph */

static int is_input(const kiln__subgraph_def *sg, int32_t t) {
    for (int32_t i = 0; i < sg->n_inputs; i++)
        if (sg->inputs[i] == t) return 1;
    return 0;
}

static kiln_status build(kiln_interp *it, sg_run *r, int32_t index) {
    const kiln_model *m = it->m;
    const kiln__subgraph_def *sg = &m->subgraphs[index];
    r->index = index;
    r->def = sg;
    r->nt = sg->n_tensors;
    r->nn = sg->n_ops;
    r->t = it_alloc(it, sizeof(kiln_tensor) * (size_t)r->nt);
    r->tx = it_alloc(it, sizeof(tensor_ext) * (size_t)r->nt);
    r->nodes = it_alloc(it, sizeof(kiln_node) * (size_t)r->nn);
    r->nx = it_alloc(it, sizeof(node_ext) * (size_t)r->nn);
    size_t nptr = 0;
    for (int32_t i = 0; i < r->nn; i++)
        nptr += (size_t)sg->ops[i].n_in + (size_t)sg->ops[i].n_out + (size_t)sg->ops[i].n_tmp;
    kiln_tensor **ptrs = it_alloc(it, sizeof(kiln_tensor *) * nptr);
    if (!r->t || !r->tx || !r->nodes || !r->nx || !ptrs) return KILN_ERR_NOMEM;

    for (int32_t i = 0; i < r->nt; i++) {
        const kiln__tensor_def *d = &sg->tensors[i];
        kiln_tensor *t = &r->t[i];
        tensor_ext *x = &r->tx[i];
        t->type = d->type;
        t->rank = d->rank;
        for (int32_t k = 0; k < d->rank && k < KILN_MAX_RANK; k++)
            t->dims[k] = d->dims[k];
        t->q = d->q;
        t->name = d->name;
        t->index = i;
        x->off = -1;
        const size_t es = kiln_dtype_size(d->type);
        /* The verifier checked shapes; this guards the size arithmetic on its own. */
        size_t n = 1;
        for (int32_t k = 0; k < t->rank; k++) {
            if (t->dims[k] < 0 || (t->dims[k] && n > SIZE_MAX / 2 / (size_t)t->dims[k] / 8)) {
                msg_set(it, "%s: subgraph %d tensor %d ('%s'): shape is negative or too large",
                        m->name, index, i, d->name ? d->name : "");
                return KILN_ERR_MODEL;
            }
            n *= (size_t)t->dims[k];
        }
        t->bytes = n * es;
        /* A resource tensor holds the int32 id of a resource variable, as in TFLite. */
        if (d->type == KILN_RESOURCE) t->bytes = n * 4;
        if (d->data && d->data_len && !is_input(sg, i) && !d->is_variable) {
            /* A tensor with buffer data is a constant, used in place (zero copy). A graph
             * input never is: the caller writes it. */
            t->data = (void *)(uintptr_t)d->data;
            if (es == 0 || d->type == KILN_INT4) t->bytes = d->data_len;
            t->is_const = 1;
            x->kind = MEM_CONST;
            x->known = 1;
        } else if (d->is_variable) {
            t->is_variable = 1;
            x->kind = MEM_PERSIST;
            t->data = it_alloc(it, t->bytes);
            if (!t->data) return KILN_ERR_NOMEM;
            it->persist += round16(t->bytes ? t->bytes : 1);
            if (d->data)
                memcpy(t->data, d->data, d->data_len < t->bytes ? d->data_len : t->bytes);
            else if (t->type == KILN_INT8 && t->q.n >= 1 && t->q.zero_point)
                memset(t->data, (uint8_t)(int8_t)t->q.zero_point[0], t->bytes);
        }
    }
    for (int32_t i = 0; i < r->nn; i++) {
        const kiln__op_def *op = &sg->ops[i];
        kiln_node *n = &r->nodes[i];
        n->op = op->builtin;
        n->version = op->version;
        n->index = i;
        n->n_in = op->n_in;
        n->n_out = op->n_out;
        n->n_tmp = op->n_tmp;
        n->in = ptrs;
        ptrs += op->n_in;
        n->out = ptrs;
        ptrs += op->n_out;
        n->tmp = ptrs;
        ptrs += op->n_tmp;
        for (int32_t k = 0; k < op->n_in; k++)
            n->in[k] = op->inputs[k] >= 0 && op->inputs[k] < r->nt ? &r->t[op->inputs[k]] : NULL;
        for (int32_t k = 0; k < op->n_out; k++)
            n->out[k] =
                op->outputs[k] >= 0 && op->outputs[k] < r->nt ? &r->t[op->outputs[k]] : NULL;
        for (int32_t k = 0; k < op->n_tmp; k++)
            n->tmp[k] = op->intermediates[k] >= 0 && op->intermediates[k] < r->nt
                            ? &r->t[op->intermediates[k]]
                            : NULL;
        n->opts = op->opts;
        n->opts_type = op->opts_type;
        n->opts2 = op->opts2;
        n->opts2_type = op->opts2_type;
        n->custom = op->custom;
        n->custom_len = op->custom_len;
        n->custom_code = op->custom_code;
        n->fb = m->buf;
        n->fb_len = m->len;
        n->variant = "ref";
        r->nx[i].sub_scr = -1;
    }
    return KILN_OK;
}

/* Ops whose result is not a pure function of their inputs' values: never folded. */
static int foldable_op(int32_t code) {
    switch (code) {
    case KILN_OP_CUSTOM:
    case KILN_OP_CALL:
    case KILN_OP_CALL_ONCE:
    case KILN_OP_IF:
    case KILN_OP_WHILE:
    case KILN_OP_READ_VARIABLE:
    case KILN_OP_ASSIGN_VARIABLE:
    case KILN_OP_RANDOM_STANDARD_NORMAL:
    case KILN_OP_RANDOM_UNIFORM:
    case KILN_OP_MULTINOMIAL:
        return 0;
    default:
        return 1;
    }
}

/* The largest arena of the subgraphs that node i of r calls (they run one at a time). */
static int child_arena(const kiln_interp *it, const sg_run *r, int32_t i, size_t *bytes) {
    int any = 0;
    *bytes = 0;
    for (int32_t k = 0; it->subs && k < it->m->n_subgraphs; k++) {
        const sg_run *c = it->subs[k];
        if (!c || c->owner != r || c->owner_node != i) continue;
        any = 1;
        if (c->arena_size > *bytes) *bytes = c->arena_size;
    }
    return any;
}

static kiln_status prepare(kiln_interp *it, sg_run *r) {
    char why[160], pre[160];
    int bad = 0;
    for (int32_t i = 0; i < r->nn; i++) {
        r->nx[i].reg = resolve(r->def, &r->def->ops[i], why, sizeof why);
        if (!r->nx[i].reg) bad = 1;
    }
    if (bad) {
        char list[KILN_ERRLEN];
        kiln__interp_check_ops(it->m, r->index, list, sizeof list);
        if (r == &it->run)
            msg_set(it, "%s: %s", it->m->name, list);
        else
            msg_set(it, "%s: subgraph %d: %s", it->m->name, r->index, list);
        return KILN_ERR_UNSUPPORTED;
    }
    for (int32_t i = 0; i < r->nn; i++) {
        kiln_node *n = &r->nodes[i];
        node_ext *x = &r->nx[i];
        for (int32_t k = 0; k < n->n_out; k++) {
            if (!n->out[k]) continue;
            const tensor_ext *ox = &r->tx[n->out[k]->index];
            where(it, r, i, pre, sizeof pre);
            if (ox->kind == MEM_CONST || ox->known) {
                msg_set(it, "%soutput %d is tensor %d, which is a constant", pre, k,
                        n->out[k]->index);
                return KILN_ERR_MODEL;
            }
            for (int32_t j = 0; j < n->n_in; j++) {
                if (n->in[j] == n->out[k]) {
                    msg_set(it, "%soutput %d is also its input %d (tensor %d)", pre, k, j,
                            n->out[k]->index);
                    return KILN_ERR_MODEL;
                }
            }
        }
        it->ctx.r = r;
        it->ctx.node = i;
        it->ctx.phase = PH_PREPARE;
        if (x->reg->prepare) {
            it->err[0] = 0;
            kiln_status s = x->reg->prepare(&it->ctx, n);
            if (s != KILN_OK) {
                if (!it->err[0]) kiln_kerr(&it->ctx, s, "prepare failed (%s)", kiln_status_str(s));
                return s;
            }
        }
        /* The subgraphs this operator called in its prepare live in one scratch buffer. */
        size_t cbytes = 0;
        if (child_arena(it, r, i, &cbytes)) {
            if (x->nscr >= MAX_SCRATCH)
                return kiln_kerr(&it->ctx, KILN_ERR_UNSUPPORTED, "too many scratch buffers");
            x->sub_scr = x->nscr;
            x->scr_bytes[x->nscr++] = cbytes;
        }
        /* Constant folding: all inputs known, small outputs, no scratch. */
        int fold = foldable_op(n->op) && x->nscr == 0 && n->n_out > 0;
        int nknown = 0;
        /* SHAPE and RANK read only their input's shape, which is static. */
        const int shape_only = n->op == KILN_OP_SHAPE || n->op == KILN_OP_RANK;
        for (int32_t k = 0; fold && k < n->n_in; k++) {
            if (!n->in[k]) continue;
            if (!shape_only && !r->tx[n->in[k]->index].known) fold = 0;
            nknown++;
        }
        /* VAR_HANDLE has no inputs; its id is known at prepare, which READ_VARIABLE and
         * ASSIGN_VARIABLE need to size the variable. */
        if (nknown == 0 && n->op != KILN_OP_VAR_HANDLE) fold = 0;
        for (int32_t k = 0; fold && k < n->n_out; k++) {
            const kiln_tensor *o = n->out[k];
            if (!o || o->is_variable || o->bytes > FOLD_MAX_BYTES || is_input(r->def, o->index))
                fold = 0;
        }
        if (!fold) continue;
        for (int32_t k = 0; k < n->n_out; k++) {
            kiln_tensor *o = n->out[k];
            o->data = it_alloc(it, o->bytes);
            if (!o->data) {
                if (it->cbase)
                    msg_set(it, "%s: arena too small: %zu bytes given", it->m->name, it->cgiven);
                else
                    msg_set(it, "%s: out of memory", it->m->name);
                return KILN_ERR_NOMEM;
            }
            it->persist += round16(o->bytes ? o->bytes : 1);
        }
        it->ctx.phase = PH_FOLD;
        it->err[0] = 0;
        kiln_status s = x->reg->invoke(&it->ctx, n);
        if (s != KILN_OK) {
            if (!it->err[0]) kiln_kerr(&it->ctx, s, "failed (%s)", kiln_status_str(s));
            return s;
        }
        x->folded = 1;
        for (int32_t k = 0; k < n->n_out; k++) {
            n->out[k]->is_const = 1;
            r->tx[n->out[k]->index].known = 1;
            r->tx[n->out[k]->index].kind = MEM_PERSIST;
        }
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* arena planner */

typedef struct pbuf {
    size_t size, off;
    int32_t first, last;
    int32_t tensor; /* -1: scratch of node `node`, index k */
    int32_t node, k;
    uint8_t fixed;
} pbuf;

static uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* TFLite's OfflineMemoryAllocation metadata: int32 version, subgraph, count, then one int32
 * arena offset per tensor (-1: plan online). Returns the offsets (NULL when absent). */
static kiln_status offline_plan(kiln_interp *it, const sg_run *r, const uint8_t **offs) {
    const kiln_model *m = it->m;
    *offs = NULL;
    for (int32_t i = 0; i < m->n_metadata; i++) {
        const kiln__metadata_def *md = &m->metadata[i];
        if (!md->name || strcmp(md->name, "OfflineMemoryAllocation")) continue;
        if (!md->data || md->len < 12) {
            msg_set(it, "%s: metadata OfflineMemoryAllocation: %zu bytes, need at least 12",
                    m->name, md->data ? md->len : (size_t)0);
            return KILN_ERR_MODEL;
        }
        const uint32_t count = rd_u32(md->data + 8);
        if ((int32_t)rd_u32(md->data + 4) != r->index) return KILN_OK;
        if (count != (uint32_t)r->nt || md->len < 12 + 4 * (size_t)count) {
            msg_set(it,
                    "%s: metadata OfflineMemoryAllocation: plans %u tensors in %zu bytes, "
                    "subgraph %d has %d tensors",
                    m->name, count, md->len, r->index, r->nt);
            return KILN_ERR_MODEL;
        }
        for (uint32_t k = 0; k < count; k++) {
            const int32_t o = (int32_t)rd_u32(md->data + 12 + 4 * k);
            if (o < -1) {
                msg_set(it, "%s: metadata OfflineMemoryAllocation: tensor %u has offset %d",
                        m->name, k, o);
                return KILN_ERR_MODEL;
            }
        }
        *offs = md->data + 12;
        return KILN_OK;
    }
    return KILN_OK;
}

static int overlap_t(const pbuf *a, const pbuf *b) {
    return a->first <= b->last && b->first <= a->last;
}

/* Order keys of the greedy heuristics; each returns nonzero when a goes before b. */
static int before(const pbuf *a, const pbuf *b, int h) {
    const int32_t la = a->last - a->first, lb = b->last - b->first;
    switch (h) {
    case 0: /* TFLite Micro: largest first */
        if (a->size != b->size) return a->size > b->size;
        return a->first < b->first;
    case 1: /* largest first, longer lifetimes first among equals */
        if (a->size != b->size) return a->size > b->size;
        if (la != lb) return la > lb;
        return a->first < b->first;
    case 2: /* by first use (linear scan), larger first */
        if (a->first != b->first) return a->first < b->first;
        return a->size > b->size;
    default: { /* largest area (bytes x steps) first */
        const double aa = (double)a->size * (la + 1), ab = (double)b->size * (lb + 1);
        if (aa != ab) return aa > ab;
        return a->size > b->size;
    }
    }
}

/* Places every non-fixed buffer at the lowest offset that overlaps no placed buffer live at
 * the same time. `order` and `placed` are scratch arrays of nb entries. Returns the total. */
static size_t greedy(pbuf *b, int32_t nb, int h, int32_t *order, int32_t *placed) {
    int32_t n = 0, np = 0;
    for (int32_t i = 0; i < nb; i++)
        if (!b[i].fixed) order[n++] = i;
    for (int32_t i = 1; i < n; i++) { /* insertion sort: nb is small and this stays libc-free */
        const int32_t v = order[i];
        int32_t j = i - 1;
        while (j >= 0 && before(&b[v], &b[order[j]], h)) {
            order[j + 1] = order[j];
            j--;
        }
        order[j + 1] = v;
    }
    /* placed: kept sorted by offset */
    for (int32_t i = 0; i < nb; i++) {
        if (!b[i].fixed) continue;
        int32_t j = np++;
        while (j > 0 && b[placed[j - 1]].off > b[i].off) {
            placed[j] = placed[j - 1];
            j--;
        }
        placed[j] = i;
    }
    size_t total = 0;
    for (int32_t i = 0; i < nb; i++)
        if (b[i].fixed && b[i].off + b[i].size > total) total = b[i].off + b[i].size;
    for (int32_t oi = 0; oi < n; oi++) {
        pbuf *c = &b[order[oi]];
        size_t cand = 0;
        for (int32_t pi = 0; pi < np; pi++) {
            const pbuf *p = &b[placed[pi]];
            if (!overlap_t(c, p)) continue;
            if (p->off >= cand + c->size) break;
            if (p->off + p->size > cand) cand = p->off + p->size;
        }
        c->off = cand;
        int32_t j = np++;
        while (j > 0 && b[placed[j - 1]].off > cand) {
            placed[j] = placed[j - 1];
            j--;
        }
        placed[j] = order[oi];
        if (cand + c->size > total) total = cand + c->size;
    }
    return total;
}

static kiln_status plan(kiln_interp *it, sg_run *r) {
    const int32_t steps = r->nn > 0 ? r->nn : 1;
    /* Lifetimes in op steps. */
    for (int32_t i = 0; i < r->nt; i++) {
        r->tx[i].first = INT32_MAX;
        r->tx[i].last = -1;
    }
    for (int32_t i = 0; i < r->def->n_inputs; i++) {
        const int32_t t = r->def->inputs[i];
        if (t < 0 || t >= r->nt) continue;
        /* As TFLite Micro: an input lives from the start to its last consumer, so its bytes
         * may be reused later in the invoke; callers set inputs before every invoke. */
        r->tx[t].first = 0;
        if (r->tx[t].last < 0) r->tx[t].last = 0;
    }
    for (int32_t i = 0; i < r->nn; i++) {
        const kiln_node *n = &r->nodes[i];
        if (r->nx[i].folded) continue;
        for (int32_t s = 0; s < 3; s++) {
            kiln_tensor **v = s == 0 ? n->in : s == 1 ? n->out : n->tmp;
            const int32_t cnt = s == 0 ? n->n_in : s == 1 ? n->n_out : n->n_tmp;
            for (int32_t k = 0; k < cnt; k++) {
                if (!v[k]) continue;
                tensor_ext *x = &r->tx[v[k]->index];
                if (i < x->first) x->first = i;
                if (i > x->last) x->last = i;
            }
        }
    }
    for (int32_t i = 0; i < r->def->n_outputs; i++) {
        const int32_t t = r->def->outputs[i];
        if (t < 0 || t >= r->nt) continue;
        if (r->tx[t].first == INT32_MAX) r->tx[t].first = 0;
        r->tx[t].last = steps - 1;
    }
    int32_t nb = 0;
    for (int32_t i = 0; i < r->nt; i++) {
        tensor_ext *x = &r->tx[i];
        if (x->kind != MEM_NONE || x->last < 0) continue;
        if (r->t[i].bytes == 0) {
            r->t[i].data = it->dummy;
            continue;
        }
        x->kind = MEM_ARENA;
        nb++;
    }
    for (int32_t i = 0; i < r->nn; i++)
        for (int32_t k = 0; k < r->nx[i].nscr; k++)
            nb += r->nx[i].scr_bytes[k] > 0;

    const uint8_t *offs = NULL;
    kiln_status s = offline_plan(it, r, &offs);
    if (s != KILN_OK) return s;
    it->offline = offs != NULL;

    const size_t need = sizeof(pbuf) * (size_t)nb + 2 * sizeof(int32_t) * (size_t)nb +
                        sizeof(size_t) * ((size_t)steps + 1) + 4 * ALIGN;
    uint8_t *tmp = tmp_alloc(it, need);
    if (!tmp) {
        if (it->cbase)
            msg_set(it, "%s: arena too small: %zu bytes given", it->m->name, it->cgiven);
        else
            msg_set(it, "%s: out of memory planning the arena (%zu bytes)", it->m->name, need);
        return KILN_ERR_NOMEM;
    }
    pbuf *b = (pbuf *)tmp;
    size_t *live = (size_t *)(tmp + round16(sizeof(pbuf) * (size_t)nb));
    int32_t *order = (int32_t *)((uint8_t *)live + round16(sizeof(size_t) * ((size_t)steps + 1)));
    int32_t *placed = order + nb;
    int32_t j = 0;
    for (int32_t i = 0; i < r->nt; i++) {
        if (r->tx[i].kind != MEM_ARENA) continue;
        pbuf *p = &b[j++];
        memset(p, 0, sizeof *p);
        p->size = round16(r->t[i].bytes);
        p->first = r->tx[i].first;
        p->last = r->tx[i].last;
        p->tensor = i;
        if (offs) {
            const int32_t o = (int32_t)rd_u32(offs + 4 * (size_t)i);
            if (o >= 0) {
                p->fixed = 1;
                p->off = (size_t)o;
                r->tx[i].offline = 1;
            }
        }
    }
    for (int32_t i = 0; i < r->nn; i++) {
        for (int32_t k = 0; k < r->nx[i].nscr; k++) {
            if (!r->nx[i].scr_bytes[k]) continue;
            pbuf *p = &b[j++];
            memset(p, 0, sizeof *p);
            p->size = round16(r->nx[i].scr_bytes[k]);
            p->first = p->last = i;
            p->tensor = -1;
            p->node = i;
            p->k = k;
        }
    }
    /* An offline plan is trusted only where it keeps simultaneously live tensors apart. */
    for (int32_t a = 0; offs && a < nb; a++) {
        for (int32_t c = a + 1; c < nb; c++) {
            if (!b[a].fixed || !b[c].fixed || !overlap_t(&b[a], &b[c])) continue;
            if (b[a].off < b[c].off + b[c].size && b[c].off < b[a].off + b[a].size) {
                msg_set(it,
                        "%s: metadata OfflineMemoryAllocation places tensors %d and %d at "
                        "overlapping bytes while both are live",
                        it->m->name, b[a].tensor, b[c].tensor);
                tmp_free(it, tmp);
                return KILN_ERR_MODEL;
            }
        }
    }
    /* Lower bound: the largest sum of bytes live at one op step. */
    memset(live, 0, sizeof(size_t) * ((size_t)steps + 1));
    for (int32_t i = 0; i < nb; i++)
        for (int32_t st = b[i].first; st <= b[i].last && st < steps; st++)
            live[st] += b[i].size;
    size_t lb = 0;
    for (int32_t st = 0; st < steps; st++)
        if (live[st] > lb) lb = live[st];
    /* Several greedy orders; keep the smallest arena. The winner's offsets are recomputed. */
    int best_h = 0;
    size_t best = SIZE_MAX;
    for (int h = 0; h < 4; h++) {
        const size_t tot = greedy(b, nb, h, order, placed);
        if (tot < best) {
            best = tot;
            best_h = h;
        }
        if (best == lb) break;
    }
    if (nb == 0)
        best = 0;
    else
        best = greedy(b, nb, best_h, order, placed);
    for (int32_t i = 0; i < nb; i++) {
        if (b[i].tensor >= 0)
            r->tx[b[i].tensor].off = (int64_t)b[i].off;
        else
            r->nx[b[i].node].scr_off[b[i].k] = b[i].off;
    }
    r->arena_size = best;
    r->lower_bound = lb;
    r->nplanned = nb;
    tmp_free(it, tmp);
    return KILN_OK;
}

/* Points r's arena tensors at base, then its called subgraphs at their owners' scratch. */
static void place_run(kiln_interp *it, sg_run *r, size_t base) {
    r->base = base;
    for (int32_t i = 0; i < r->nt; i++)
        if (r->tx[i].kind == MEM_ARENA) r->t[i].data = it->arena + base + (size_t)r->tx[i].off;
    for (int32_t k = 0; it->subs && k < it->m->n_subgraphs; k++) {
        sg_run *c = it->subs[k];
        if (!c || c->owner != r) continue;
        const node_ext *x = &r->nx[c->owner_node];
        place_run(it, c, base + (x->sub_scr >= 0 ? x->scr_off[x->sub_scr] : 0));
    }
}

static kiln_status place_arena(kiln_interp *it, sg_run *r) {
    if (it->cbase) {
        if (it->used + it->arena_size > it->ccap) {
            msg_set(it, "%s: arena too small: %zu bytes given, %zu needed", it->m->name, it->cgiven,
                    kiln_rt_required_arena(it));
            return KILN_ERR_NOMEM;
        }
        it->arena = it->cbase + it->used;
    } else {
        it->arena = kiln__alloc(&it->alloc, it->arena_size ? it->arena_size : ALIGN, ALIGN);
        if (!it->arena) {
            msg_set(it, "%s: out of memory: arena of %zu bytes", it->m->name, it->arena_size);
            return KILN_ERR_NOMEM;
        }
        it->own_arena = 1;
    }
    place_run(it, r, 0);
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* public API */

void kiln_interp_options_init(kiln_interp_options *o) {
    if (!o) return;
    memset(o, 0, sizeof *o);
    o->arith = KILN_ARITH_TFLM;
}

static void set_err(char *err, size_t errlen, const char *msg) {
    if (err && errlen) kiln__fmt(err, errlen, "%s", msg);
}

kiln_status kiln_interp_create(const kiln_model *m, const kiln_interp_options *opt,
                               kiln_interp **out, char *err, size_t errlen) {
    kiln_interp_options defaults;
    if (out) *out = NULL;
    if (err && errlen) err[0] = 0;
    if (!m || !out) {
        set_err(err, errlen, "kiln_interp_create: model and out must not be NULL");
        return KILN_ERR_ARG;
    }
    if (!opt) {
        kiln_interp_options_init(&defaults);
        opt = &defaults;
    }
    if (opt->arith != KILN_ARITH_TFLM && opt->arith != KILN_ARITH_LITERT) {
        set_err(err, errlen, "kiln_interp_create: unknown arith dialect");
        return KILN_ERR_ARG;
    }
    /* Which subgraph. */
    int32_t sgi = opt->subgraph;
    const kiln__signature_def *sig = NULL;
    if (opt->signature) {
        for (int32_t i = 0; i < m->n_signatures && !sig; i++)
            if (m->signatures[i].key && !strcmp(m->signatures[i].key, opt->signature))
                sig = &m->signatures[i];
        if (!sig) {
            char list[160] = "";
            for (int32_t i = 0; i < m->n_signatures; i++)
                msg_app(list, sizeof list, "%s'%s'", i ? ", " : "",
                        m->signatures[i].key ? m->signatures[i].key : "");
            if (err && errlen)
                kiln__fmt(err, errlen, "%s: no signature '%s' (signatures: %s)", m->name,
                          opt->signature, m->n_signatures ? list : "none");
            return KILN_ERR_ARG;
        }
        sgi = sig->subgraph;
    }
    if (sgi < 0 || sgi >= m->n_subgraphs) {
        if (err && errlen)
            kiln__fmt(err, errlen, "%s: subgraph %d does not exist (%d subgraphs)", m->name, sgi,
                      m->n_subgraphs);
        return KILN_ERR_ARG;
    }
    if (!sig) /* the signature of this subgraph, for input/output aliases */
        for (int32_t i = 0; i < m->n_signatures && !sig; i++)
            if (m->signatures[i].subgraph == sgi) sig = &m->signatures[i];

    /* The interpreter itself: first allocation of the caller arena, or of the allocator. */
    kiln_interp *it;
    const size_t isz = round16(sizeof(kiln_interp));
    if (opt->arena) {
        uint8_t *base = (uint8_t *)opt->arena;
        const size_t pad = (size_t)((ALIGN - ((uintptr_t)base & (ALIGN - 1))) & (ALIGN - 1));
        if (opt->arena_bytes < pad + isz) {
            if (err && errlen)
                kiln__fmt(err, errlen, "%s: arena too small: %zu bytes given", m->name,
                          opt->arena_bytes);
            return KILN_ERR_NOMEM;
        }
        it = (kiln_interp *)(base + pad);
        memset(it, 0, sizeof *it);
        it->cbase = base + pad;
        it->ccap = (opt->arena_bytes - pad) & ~(size_t)(ALIGN - 1); /* temporaries: top-down */
        it->cgiven = opt->arena_bytes;
    } else {
        const kiln_allocator *a = m->alloc.alloc ? &m->alloc : kiln__default_allocator();
        it = kiln__calloc(a, sizeof(kiln_interp), ALIGN);
        if (!it) {
            set_err(err, errlen, "out of memory");
            return KILN_ERR_NOMEM;
        }
        it->alloc = *a;
    }
    it->used = isz;
    it->need_peak = isz;
    it->m = m;
    it->sig = sig;
    it->arith = opt->arith;
    it->max_while = opt->max_while_iterations;
    if (opt->parallel) {
        it->par = *opt->parallel;
        it->has_par = 1;
    }
    it->ctx.it = it;
    it->ctx.r = &it->run;

    it->err[0] = 0;
    kiln_status s = build(it, &it->run, sgi);
    if (s == KILN_ERR_NOMEM)
        msg_set(it, "%s: %s", m->name,
                it->cbase ? "arena too small for the interpreter's "
                            "tensors and nodes"
                          : "out of memory");
    if (s == KILN_OK) s = prepare(it, &it->run);
    if (s == KILN_ERR_NOMEM && it->cbase && !it->err[0])
        msg_set(it, "%s: arena too small: %zu bytes given", m->name, opt->arena_bytes);
    if (s == KILN_OK) s = plan(it, &it->run);
    if (s == KILN_OK) {
        it->arena_size = it->run.arena_size;
        it->lower_bound = it->run.lower_bound;
        it->nplanned = it->run.nplanned;
        s = place_arena(it, &it->run);
    }
    if (s == KILN_OK && it->used + it->arena_size > it->need_peak)
        it->need_peak = it->used + it->arena_size;
    if (s != KILN_OK && it->oom && !strstr(it->err, "arena too small")) {
        /* whatever failed (a kernel's kiln_kalloc, a folded constant), the cause is the size */
        char why[KILN_ERRLEN];
        kiln__fmt(why, sizeof why, "%s", it->err);
        msg_set(it, "%s: arena too small: %zu bytes given (%s)", m->name, it->cgiven, why);
    }
    if (s != KILN_OK) {
        if (!it->err[0]) msg_set(it, "%s: %s", m->name, kiln_status_str(s));
        set_err(err, errlen, it->err);
        kiln_interp_destroy(it);
        return s;
    }
    it->err[0] = 0;
    *out = it;
    return KILN_OK;
}

void kiln_interp_destroy(kiln_interp *it) {
    if (!it || it->cbase) return;
    kiln_allocator a = it->alloc;
    if (it->own_arena) kiln__free(&a, it->arena);
    void *b = it->blocks;
    while (b) {
        void *next;
        memcpy(&next, b, sizeof next);
        kiln__free(&a, b);
        b = next;
    }
    kiln__free(&a, it);
}

const char *kiln_interp_error(const kiln_interp *it) {
    return it ? it->err : "";
}

static kiln_status run_subgraph(kiln_interp *it, sg_run *r) {
    /* The op hook (profilers) sees the main subgraph's operators only. */
    const int hook = it->hook && r == &it->run;
    for (int32_t i = 0; i < r->nn; i++) {
        node_ext *x = &r->nx[i];
        if (x->folded) continue;
        if (hook) it->hook(it->hook_ud, i, 0);
        it->ctx.r = r;
        it->ctx.node = i;
        it->ctx.phase = PH_INVOKE;
        const kiln_status s = x->reg->invoke(&it->ctx, &r->nodes[i]);
        if (hook) it->hook(it->hook_ud, i, 1);
        if (s != KILN_OK) {
            /* The kernel's message (kiln_kerr) is already prefixed; add one if it gave none. */
            if (!it->err[0]) {
                char pre[160];
                where(it, r, i, pre, sizeof pre);
                msg_set(it, "%s%s", pre, kiln_status_str(s));
            }
            return s;
        }
    }
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* subgraph calls (CALL_ONCE, IF, WHILE) */

static sg_run *sub_get(const kiln_interp *it, int32_t sg) {
    if (sg < 0 || sg >= it->m->n_subgraphs) return NULL;
    if (sg == it->run.index) return (sg_run *)&it->run;
    return it->subs ? it->subs[sg] : NULL;
}

static void shape_str(const kiln_tensor *t, char *dst, size_t cap);

/* Resource handles the caller knows at prepare become known inputs of the callee (persistent
 * copies; the caller's copy-in at invoke writes the same id). */
static kiln_status bind_handles(kiln_interp *it, kiln_kctx *ctx, sg_run *c,
                                kiln_tensor *const *args, int32_t nargs) {
    for (int32_t k = 0; args && k < nargs && k < c->def->n_inputs; k++) {
        const kiln_tensor *a = args[k];
        const int32_t ti = c->def->inputs[k];
        if (!a || ti < 0 || ti >= c->nt) continue;
        kiln_tensor *t = &c->t[ti];
        /* Shapes are static: the callee's inputs must be what the caller gives (checked
         * before the callee is prepared, so no kernel sees a mismatched shape). */
        int same = t->type == a->type && t->rank == a->rank;
        for (int32_t d = 0; same && d < a->rank; d++)
            same = t->dims[d] == a->dims[d];
        if (!same) {
            char x[96], y[96];
            shape_str(t, x, sizeof x);
            shape_str(a, y, sizeof y);
            return kiln_kerr(ctx, KILN_ERR_SHAPE,
                             "subgraph %d input %d is %s but gets %s (dynamic shapes are not "
                             "supported)",
                             c->index, k, x, y);
        }
        if (a->type != KILN_RESOURCE || a->bytes != 4) continue;
        if (t->type != KILN_RESOURCE || t->bytes != 4 || c->tx[ti].kind != MEM_NONE) continue;
        if (!kiln_kknown(ctx, a)) continue;
        t->data = it_alloc(it, 4);
        if (!t->data) return KILN_ERR_NOMEM;
        it->persist += ALIGN;
        memcpy(t->data, a->data, 4);
        c->tx[ti].kind = MEM_PERSIST;
        c->tx[ti].known = 1;
    }
    return KILN_OK;
}

kiln_status kiln_ksub_prepare(kiln_kctx *ctx, int32_t sg, kiln_tensor *const *args, int32_t nargs,
                              int32_t *n_in, int32_t *n_out) {
    kiln_interp *it = ctx->it;
    if (ctx->phase != PH_PREPARE)
        return kiln_kerr(ctx, KILN_ERR_STATE, "subgraphs are prepared only in prepare");
    if (sg < 0 || sg >= it->m->n_subgraphs)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "refers to subgraph %d, only %d subgraphs", sg,
                         it->m->n_subgraphs);
    if (sg == it->run.index || sg == ctx->r->index)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "calls subgraph %d recursively", sg);
    sg_run *c = sub_get(it, sg);
    if (c) {
        if (c->owner != ctx->r || c->owner_node != ctx->node) {
            const int main_owner = c->owner == &it->run;
            return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                             "subgraph %d is also called by %s%d operator %d; a subgraph called "
                             "from two operators is not supported",
                             sg, main_owner ? "the main subgraph " : "subgraph ",
                             main_owner ? it->run.index : c->owner->index, c->owner_node);
        }
    } else {
        if (!it->subs) {
            it->subs = it_alloc(it, sizeof(sg_run *) * (size_t)it->m->n_subgraphs);
            if (!it->subs) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
        }
        c = it_alloc(it, sizeof(sg_run));
        if (!c) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
        c->owner = ctx->r;
        c->owner_node = ctx->node;
        it->subs[sg] = c;
        /* Building, preparing and planning the callee use the context; the caller's resumes. */
        const struct kiln_kctx saved = it->ctx;
        kiln_status s = build(it, c, sg);
        if (s == KILN_ERR_NOMEM && !it->err[0])
            msg_set(it, "%s: subgraph %d: out of memory", it->m->name, sg);
        if (s == KILN_OK) s = bind_handles(it, ctx, c, args, nargs);
        if (s == KILN_OK) s = prepare(it, c);
        if (s == KILN_OK) s = plan(it, c);
        it->ctx = saved;
        if (s != KILN_OK) return s;
    }
    if (n_in) *n_in = c->def->n_inputs;
    if (n_out) *n_out = c->def->n_outputs;
    return KILN_OK;
}

kiln_tensor *kiln_ksub_io(kiln_kctx *ctx, int32_t sg, int is_output, int32_t k) {
    sg_run *c = sub_get(ctx->it, sg);
    if (!c || c == &ctx->it->run || !c->t) return NULL;
    const int32_t n = is_output ? c->def->n_outputs : c->def->n_inputs;
    if (k < 0 || k >= n) return NULL;
    const int32_t t = is_output ? c->def->outputs[k] : c->def->inputs[k];
    return t >= 0 && t < c->nt ? &c->t[t] : NULL;
}

kiln_status kiln_ksub_invoke(kiln_kctx *ctx, int32_t sg, int once) {
    kiln_interp *it = ctx->it;
    sg_run *c = sub_get(it, sg);
    if (!c || c == &it->run || c->owner != ctx->r || c->owner_node != ctx->node)
        return kiln_kerr(ctx, KILN_ERR_STATE, "subgraph %d was not prepared by this operator", sg);
    if (once && c->ran_once) return KILN_OK;
    if (c->running) return kiln_kerr(ctx, KILN_ERR_RUNTIME, "subgraph %d is already running", sg);
    const struct kiln_kctx saved = it->ctx;
    c->running = 1;
    const kiln_status s = run_subgraph(it, c);
    c->running = 0;
    it->ctx = saved;
    if (s == KILN_OK && once) c->ran_once = 1;
    return s;
}

uint64_t kiln_kwhile_limit(const kiln_kctx *ctx) {
    return ctx->it->max_while;
}

/* ---------------------------------------------------------------------------------------- */
/* resource variables */

/* Upper bound of the model's variables: its VAR_HANDLE operators. */
static int32_t count_var_handles(const kiln_model *m) {
    int32_t n = 0;
    for (int32_t s = 0; s < m->n_subgraphs; s++)
        for (int32_t i = 0; i < m->subgraphs[s].n_ops; i++)
            n += m->subgraphs[s].ops[i].builtin == KILN_OP_VAR_HANDLE;
    return n;
}

int32_t kiln_kvar_handle(kiln_kctx *ctx, const kiln_node *n) {
    kiln_interp *it = ctx->it;
    if (ctx->phase != PH_PREPARE) {
        kiln_kerr(ctx, KILN_ERR_STATE, "variable handles are made only in prepare");
        return -1;
    }
    /* VarHandleOptions: container (field 0), shared_name (field 1); absent strings are "". */
    const char *cont = "", *name = "";
    if (n->opts) {
        kiln__fb f;
        kiln__fbt t;
        f.b = n->fb;
        f.n = n->fb_len;
        if (kiln__fb_table(&f, (size_t)(n->opts - n->fb), &t) ||
            kiln__fb_str(&f, &t, 0, &cont) < 0 || kiln__fb_str(&f, &t, 1, &name) < 0) {
            kiln_kerr(ctx, KILN_ERR_MODEL, "malformed VarHandleOptions");
            return -1;
        }
    }
    for (int32_t i = 0; i < it->nvars; i++)
        if (!strcmp(it->vars[i].container, cont) && !strcmp(it->vars[i].shared_name, name))
            return i;
    if (!it->vars) {
        it->maxvars = count_var_handles(it->m);
        it->vars = it_alloc(it, sizeof(kiln_kvar) * (size_t)(it->maxvars ? it->maxvars : 1));
        if (!it->vars) {
            kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
            return -1;
        }
    }
    if (it->nvars >= it->maxvars) {
        kiln_kerr(ctx, KILN_ERR_MODEL, "more variables than VAR_HANDLE operators");
        return -1;
    }
    kiln_kvar *v = &it->vars[it->nvars];
    memset(v, 0, sizeof *v);
    v->container = cont;
    v->shared_name = name;
    v->t.name = name;
    v->t.index = -1;
    v->t.is_variable = 1;
    return it->nvars++;
}

kiln_kvar *kiln_kvar_get(kiln_kctx *ctx, int32_t id) {
    kiln_interp *it = ctx->it;
    return id >= 0 && id < it->nvars ? &it->vars[id] : NULL;
}

/* "float32[1,4]" */
static void shape_str(const kiln_tensor *t, char *dst, size_t cap) {
    kiln__fmt(dst, cap, "%s[", kiln_dtype_name(t->type));
    for (int32_t i = 0; i < t->rank; i++)
        msg_app(dst, cap, "%s%d", i ? "," : "", t->dims[i]);
    msg_app(dst, cap, "]");
}

/* The value a variable holds before its first assignment and after a reset: zero, or the
 * zero point of an int8 variable (TFLite Micro's default value). */
static void var_clear(kiln_kvar *v) {
    if (!v->t.data) return;
    int fill = 0;
    if (v->t.type == KILN_INT8 && v->t.q.n >= 1 && v->t.q.zero_point)
        fill = (uint8_t)(int8_t)v->t.q.zero_point[0];
    memset(v->t.data, fill, v->t.bytes);
}

kiln_status kiln_kvar_size(kiln_kctx *ctx, int32_t id, const kiln_tensor *like) {
    kiln_interp *it = ctx->it;
    kiln_kvar *v = kiln_kvar_get(ctx, id);
    if (ctx->phase != PH_PREPARE)
        return kiln_kerr(ctx, KILN_ERR_STATE, "variables are sized only in prepare");
    if (!v) return kiln_kerr(ctx, KILN_ERR_MODEL, "resource id %d names no variable", id);
    if (v->sized) {
        int same = v->t.type == like->type && v->t.rank == like->rank;
        for (int32_t i = 0; same && i < like->rank; i++)
            same = v->t.dims[i] == like->dims[i];
        if (same) return KILN_OK;
        char a[96], b[96];
        shape_str(like, a, sizeof a);
        shape_str(&v->t, b, sizeof b);
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "variable '%s': value %s does not match the variable's %s (its type and "
                         "shape are fixed by its first value)",
                         v->shared_name, a, b);
    }
    if (kiln_dtype_size(like->type) == 0 || like->type == KILN_INT4)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "variable '%s': type %s is not supported",
                         v->shared_name, kiln_dtype_name(like->type));
    v->t.type = like->type;
    v->t.rank = like->rank;
    for (int32_t i = 0; i < like->rank && i < KILN_MAX_RANK; i++)
        v->t.dims[i] = like->dims[i];
    v->t.bytes = like->bytes;
    v->t.q = like->q;
    v->t.data = it_alloc(it, v->t.bytes);
    if (!v->t.data) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory for variable");
    it->persist += round16(v->t.bytes ? v->t.bytes : 1);
    var_clear(v);
    v->sized = 1;
    return KILN_OK;
}

kiln_status kiln_interp_invoke(kiln_interp *it) {
    if (!it) return KILN_ERR_ARG;
    it->err[0] = 0;
    return run_subgraph(it, &it->run);
}

static void reset_run(sg_run *r) {
    r->ran_once = 0;
    for (int32_t i = 0; i < r->nt; i++) {
        kiln_tensor *t = &r->t[i];
        if (!t->is_variable || !t->data) continue;
        const kiln__tensor_def *d = &r->def->tensors[i];
        size_t n = 0;
        if (d->data) {
            n = d->data_len < t->bytes ? d->data_len : t->bytes;
            memcpy(t->data, d->data, n);
        }
        /* TFLite's ResetVariableTensor: int8 variables start at their zero point. */
        const int fill = !n && t->type == KILN_INT8 && t->q.n >= 1 && t->q.zero_point
                             ? (uint8_t)(int8_t)t->q.zero_point[0]
                             : 0;
        memset((uint8_t *)t->data + n, fill, t->bytes - n);
    }
}

/* Back to the state after create: variable tensors, resource variables (unassigned, cleared),
 * and CALL_ONCE re-armed so the next invoke runs the initialization subgraphs again. */
kiln_status kiln_interp_reset(kiln_interp *it) {
    if (!it) return KILN_ERR_ARG;
    reset_run(&it->run);
    for (int32_t k = 0; it->subs && k < it->m->n_subgraphs; k++)
        if (it->subs[k]) reset_run(it->subs[k]);
    for (int32_t i = 0; i < it->nvars; i++) {
        var_clear(&it->vars[i]);
        it->vars[i].assigned = 0;
    }
    it->err[0] = 0;
    return KILN_OK;
}

size_t kiln_rt_arena_size(const kiln_interp *it) {
    return it ? it->arena_size : 0;
}
size_t kiln_rt_arena_lower_bound(const kiln_interp *it) {
    return it ? it->lower_bound : 0;
}
size_t kiln_rt_persistent_size(const kiln_interp *it) {
    return it ? it->persist : 0;
}
size_t kiln_rt_required_arena(const kiln_interp *it) {
    if (!it) return 0;
    size_t n = it->used + it->arena_size;
    if (it->need_peak > n) n = it->need_peak;
    return n + (ALIGN - 1);
}

static void fill_info(const kiln_tensor *t, kiln_tensor_info *o) {
    memset(o, 0, sizeof *o);
    o->name = t->name ? t->name : "";
    o->dtype = t->type;
    o->rank = t->rank;
    for (int32_t i = 0; i < t->rank && i < KILN_MAX_RANK; i++)
        o->dims[i] = t->dims[i];
    o->bytes = t->bytes;
    o->data = t->data;
    o->num_quant = t->q.n;
    o->scale = t->q.scale;
    o->zero_point = t->q.zero_point;
    o->quantized_dimension = t->q.dim;
}

int32_t kiln_interp_num_inputs(const kiln_interp *it) {
    return it ? it->run.def->n_inputs : 0;
}
int32_t kiln_interp_num_outputs(const kiln_interp *it) {
    return it ? it->run.def->n_outputs : 0;
}

kiln_status kiln_interp_input(const kiln_interp *it, int32_t i, kiln_tensor_info *out) {
    if (!it || !out || i < 0 || i >= it->run.def->n_inputs) return KILN_ERR_ARG;
    const int32_t t = it->run.def->inputs[i];
    if (t < 0 || t >= it->run.nt) return KILN_ERR_ARG;
    fill_info(&it->run.t[t], out);
    return KILN_OK;
}

kiln_status kiln_interp_output(const kiln_interp *it, int32_t i, kiln_tensor_info *out) {
    if (!it || !out || i < 0 || i >= it->run.def->n_outputs) return KILN_ERR_ARG;
    const int32_t t = it->run.def->outputs[i];
    if (t < 0 || t >= it->run.nt) return KILN_ERR_ARG;
    fill_info(&it->run.t[t], out);
    return KILN_OK;
}

static const char *alias(const kiln_interp *it, int input, int32_t i) {
    if (!it || !it->sig) return NULL;
    const kiln__subgraph_def *sg = it->run.def;
    if (i < 0 || i >= (input ? sg->n_inputs : sg->n_outputs)) return NULL;
    const int32_t t = input ? sg->inputs[i] : sg->outputs[i];
    const int32_t n = input ? it->sig->n_inputs : it->sig->n_outputs;
    const kiln__tensor_map *map = input ? it->sig->inputs : it->sig->outputs;
    for (int32_t k = 0; k < n; k++)
        if (map[k].tensor == t) return map[k].name;
    return NULL;
}

const char *kiln_interp_input_alias(const kiln_interp *it, int32_t i) {
    return alias(it, 1, i);
}
const char *kiln_interp_output_alias(const kiln_interp *it, int32_t i) {
    return alias(it, 0, i);
}

int32_t kiln_interp_num_tensors(const kiln_interp *it) {
    return it ? it->run.nt : 0;
}

kiln_status kiln_interp_tensor(const kiln_interp *it, int32_t index, kiln_tensor_info *out) {
    if (!it || !out || index < 0 || index >= it->run.nt) return KILN_ERR_ARG;
    fill_info(&it->run.t[index], out);
    return KILN_OK;
}

int32_t kiln_interp_num_ops(const kiln_interp *it) {
    return it ? it->run.nn : 0;
}

kiln_status kiln_interp_op(const kiln_interp *it, int32_t i, kiln_op_info *out) {
    if (!it || !out || i < 0 || i >= it->run.nn) return KILN_ERR_ARG;
    const kiln__op_def *op = &it->run.def->ops[i];
    memset(out, 0, sizeof *out);
    out->builtin_code = op->builtin;
    out->name = op_name(op);
    out->version = op->version;
    out->num_inputs = op->n_in;
    out->num_outputs = op->n_out;
    out->inputs = op->inputs;
    out->outputs = op->outputs;
    out->kernel = it->run.nx[i].folded ? "folded" : it->run.nodes[i].variant;
    if (!out->kernel) out->kernel = "ref";
    return KILN_OK;
}

void kiln_interp_set_op_hook(kiln_interp *it, kiln_op_hook hook, void *ud) {
    if (!it) return;
    it->hook = hook;
    it->hook_ud = ud;
}

int32_t kiln__interp_num_planned(const kiln_interp *it) {
    return it ? it->nplanned : 0;
}
int kiln__interp_offline_plan(const kiln_interp *it) {
    return it ? it->offline : 0;
}
int kiln__interp_op_folded(const kiln_interp *it, int32_t i) {
    return it && i >= 0 && i < it->run.nn ? it->run.nx[i].folded : 0;
}
int64_t kiln__interp_tensor_offset(const kiln_interp *it, int32_t i, int32_t *first,
                                   int32_t *last) {
    if (!it || i < 0 || i >= it->run.nt) return -1;
    const tensor_ext *x = &it->run.tx[i];
    if (first) *first = x->first;
    if (last) *last = x->last;
    return x->kind == MEM_ARENA ? x->off : -1;
}
