/* control.c: resource variables (VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE) and control flow
 * (CALL_ONCE, IF, WHILE), following TFLite's kernels with static shapes (TFLite Micro's rules). */
#include "kernels/kernel.h"
#include "kernels/ops.h"

#include <stddef.h>
#include <string.h>

/* The int32 resource id a resource tensor holds. */
static int32_t rd_id(const kiln_tensor *t) {
    int32_t id;
    memcpy(&id, t->data, sizeof id);
    return id;
}

static kiln_status need_io(kiln_kctx *ctx, const kiln_node *n, int32_t nin, int32_t nout) {
    if (n->n_in != nin || n->n_out != nout)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "has %d inputs and %d outputs, needs %d and %d",
                         n->n_in, n->n_out, nin, nout);
    for (int32_t k = 0; k < nin; k++)
        if (!n->in[k]) return kiln_kerr(ctx, KILN_ERR_MODEL, "input %d is absent", k);
    for (int32_t k = 0; k < nout; k++)
        if (!n->out[k]) return kiln_kerr(ctx, KILN_ERR_MODEL, "output %d is absent", k);
    return KILN_OK;
}

static kiln_status need_resource(kiln_kctx *ctx, const kiln_tensor *t) {
    if ((t->type != KILN_RESOURCE && t->type != KILN_INT32) || t->bytes != 4)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "input 0 is %s with %zu bytes, not a resource",
                         kiln_dtype_name(t->type), t->bytes);
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* VAR_HANDLE: the id of the variable named by (container, shared_name). */

static kiln_status var_handle_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = need_io(ctx, n, 0, 1);
    if (s != KILN_OK) return s;
    const kiln_tensor *o = n->out[0];
    if ((o->type != KILN_RESOURCE && o->type != KILN_INT32) || o->bytes != 4)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "output is %s with %zu bytes, not a resource",
                         kiln_dtype_name(o->type), o->bytes);
    const int32_t id = kiln_kvar_handle(ctx, n);
    if (id < 0) return KILN_ERR_MODEL;
    int32_t *d = (int32_t *)kiln_kalloc(ctx, sizeof(int32_t));
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    *d = id;
    n->data = d;
    return KILN_OK;
}

static kiln_status var_handle_invoke(kiln_kctx *ctx, kiln_node *n) {
    (void)ctx;
    memcpy(n->out[0]->data, n->data, sizeof(int32_t));
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* READ_VARIABLE: copies the variable's value. TFLite sizes the output at invoke; here it is
 * sized at prepare from the variable, or, when nothing sized the variable yet (no
 * initialization ran before this read in prepare order), the output's shape in the file sizes
 * the variable and later assignments must match it. */

static kiln_status read_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = need_io(ctx, n, 1, 1);
    if (s == KILN_OK) s = need_resource(ctx, n->in[0]);
    if (s != KILN_OK) return s;
    if (!kiln_kknown(ctx, n->in[0])) return KILN_OK; /* handle passed in: checked at invoke */
    const int32_t id = rd_id(n->in[0]);
    kiln_kvar *v = kiln_kvar_get(ctx, id);
    if (!v) return kiln_kerr(ctx, KILN_ERR_MODEL, "resource id %d names no variable", id);
    if (!v->sized) return kiln_kvar_size(ctx, id, n->out[0]);
    if (v->t.type != n->out[0]->type)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "variable '%s' is %s, the output is %s",
                         v->shared_name, kiln_dtype_name(v->t.type),
                         kiln_dtype_name(n->out[0]->type));
    return kiln_kresize(ctx, n->out[0], v->t.rank, v->t.dims);
}

static kiln_status read_invoke(kiln_kctx *ctx, kiln_node *n) {
    const int32_t id = rd_id(n->in[0]);
    const kiln_kvar *v = kiln_kvar_get(ctx, id);
    kiln_tensor *o = n->out[0];
    if (!v) return kiln_kerr(ctx, KILN_ERR_RUNTIME, "resource id %d names no variable", id);
    if (!v->assigned)
        return kiln_kerr(ctx, KILN_ERR_RUNTIME,
                         "variable '%s' is read before any ASSIGN_VARIABLE gave it a value",
                         v->shared_name);
    if (v->t.type != o->type || v->t.bytes != o->bytes)
        return kiln_kerr(ctx, KILN_ERR_RUNTIME,
                         "variable '%s' (%s, %zu bytes) does not fit the output (%s, %zu bytes)",
                         v->shared_name, kiln_dtype_name(v->t.type), v->t.bytes,
                         kiln_dtype_name(o->type), o->bytes);
    memcpy(o->data, v->t.data, o->bytes);
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* ASSIGN_VARIABLE: the first value sizes the variable (at prepare); later ones must match. */

static kiln_status assign_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = need_io(ctx, n, 2, 0);
    if (s == KILN_OK) s = need_resource(ctx, n->in[0]);
    if (s != KILN_OK) return s;
    if (!kiln_kknown(ctx, n->in[0]))
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED,
                         "the variable's handle is not known at prepare (passed in from "
                         "another subgraph), so the variable cannot be sized; use a "
                         "VAR_HANDLE in this subgraph");
    return kiln_kvar_size(ctx, rd_id(n->in[0]), n->in[1]);
}

static kiln_status assign_invoke(kiln_kctx *ctx, kiln_node *n) {
    const int32_t id = rd_id(n->in[0]);
    kiln_kvar *v = kiln_kvar_get(ctx, id);
    const kiln_tensor *x = n->in[1];
    if (!v) return kiln_kerr(ctx, KILN_ERR_RUNTIME, "resource id %d names no variable", id);
    if (!v->sized || v->t.type != x->type || v->t.bytes != x->bytes)
        return kiln_kerr(ctx, KILN_ERR_RUNTIME,
                         "variable '%s' (%s, %zu bytes) cannot take a value of %s, %zu bytes",
                         v->shared_name, kiln_dtype_name(v->t.type), v->t.bytes,
                         kiln_dtype_name(x->type), x->bytes);
    memmove(v->t.data, x->data, x->bytes);
    v->assigned = 1;
    return KILN_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Subgraph calls */

typedef struct call_data {
    int32_t a, b; /* CALL_ONCE: init, -; IF: then, else; WHILE: cond, body */
} call_data;

static int same_shape(const kiln_tensor *a, const kiln_tensor *b) {
    if (a->type != b->type || a->rank != b->rank) return 0;
    for (int32_t i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

/* "float32[1,4]" into a small buffer, for messages. */
static const char *desc(const kiln_tensor *t, char *buf, size_t cap) {
    size_t k = 0;
    const char *tn = kiln_dtype_name(t->type);
    for (size_t i = 0; tn[i] && k + 1 < cap; i++)
        buf[k++] = tn[i];
    if (k + 1 < cap) buf[k++] = '[';
    for (int32_t d = 0; d < t->rank; d++) {
        char num[16];
        int32_t v = t->dims[d], nd = 0;
        do {
            num[nd++] = (char)('0' + v % 10);
            v /= 10;
        } while (v > 0 && nd < 15);
        if (d && k + 1 < cap) buf[k++] = ',';
        while (nd > 0 && k + 1 < cap)
            buf[k++] = num[--nd];
    }
    if (k + 1 < cap) buf[k++] = ']';
    buf[k] = 0;
    return buf;
}

static kiln_status call_data_new(kiln_kctx *ctx, kiln_node *n, int32_t a, int32_t b) {
    call_data *d = (call_data *)kiln_kalloc(ctx, sizeof *d);
    if (!d) return kiln_kerr(ctx, KILN_ERR_NOMEM, "out of memory");
    d->a = a;
    d->b = b;
    n->data = d;
    return KILN_OK;
}

/* Checks that subgraph sg's input k (k >= 0) has the type and shape of `arg`. */
static kiln_status check_arg(kiln_kctx *ctx, int32_t sg, int32_t k, const kiln_tensor *arg,
                             const char *what) {
    const kiln_tensor *p = kiln_ksub_io(ctx, sg, 0, k);
    char a[96], b[96];
    if (!p || !arg)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "%s: subgraph %d input %d is absent", what, sg, k);
    if (!same_shape(p, arg))
        return kiln_kerr(ctx, KILN_ERR_SHAPE,
                         "%s: subgraph %d input %d is %s but gets %s (dynamic shapes are not "
                         "supported)",
                         what, sg, k, desc(p, a, sizeof a), desc(arg, b, sizeof b));
    return KILN_OK;
}

static void copy_t(kiln_tensor *dst, const kiln_tensor *src) {
    if (dst != src && dst->bytes) memmove(dst->data, src->data, dst->bytes);
}

/* CALL_ONCE: runs its initialization subgraph on the first invoke only. */
static kiln_status call_once_prepare(kiln_kctx *ctx, kiln_node *n) {
    kiln_status s = need_io(ctx, n, 0, 0);
    if (s != KILN_OK) return s;
    const int32_t sg = kiln_opt_i32(n, 0, -1);
    int32_t ni = 0, no = 0;
    s = kiln_ksub_prepare(ctx, sg, NULL, 0, &ni, &no);
    if (s != KILN_OK) return s;
    if (ni != 0 || no != 0)
        return kiln_kerr(ctx, KILN_ERR_MODEL,
                         "initialization subgraph %d has %d inputs and %d outputs, needs none", sg,
                         ni, no);
    return call_data_new(ctx, n, sg, -1);
}

static kiln_status call_once_invoke(kiln_kctx *ctx, kiln_node *n) {
    const call_data *d = (const call_data *)n->data;
    return kiln_ksub_invoke(ctx, d->a, 1);
}

/* IF: input 0 is a one-element bool condition, inputs 1.. are passed to the branch; the outputs
 * are the branch's outputs, whose shapes must agree between the branches. */
static kiln_status if_prepare(kiln_kctx *ctx, kiln_node *n) {
    if (n->n_in < 1 || !n->in[0]) return kiln_kerr(ctx, KILN_ERR_MODEL, "needs a condition input");
    const kiln_tensor *c = n->in[0];
    if (c->type != KILN_BOOL || kiln_numel(c) != 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "condition must be one bool, is %s of %lld elements",
                         kiln_dtype_name(c->type), (long long)kiln_numel(c));
    const int32_t br[2] = {kiln_opt_i32(n, 0, -1), kiln_opt_i32(n, 1, -1)};
    char a[96], b[96];
    for (int j = 0; j < 2; j++) {
        int32_t ni = 0, no = 0;
        kiln_status s = kiln_ksub_prepare(ctx, br[j], n->in + 1, n->n_in - 1, &ni, &no);
        if (s != KILN_OK) return s;
        if (ni != n->n_in - 1 || no != n->n_out)
            return kiln_kerr(ctx, KILN_ERR_MODEL,
                             "%s subgraph %d has %d inputs and %d outputs, needs %d and %d",
                             j ? "else" : "then", br[j], ni, no, n->n_in - 1, n->n_out);
        for (int32_t k = 0; k < ni; k++) {
            s = check_arg(ctx, br[j], k, n->in[k + 1], j ? "else" : "then");
            if (s != KILN_OK) return s;
        }
    }
    for (int32_t k = 0; k < n->n_out; k++) {
        const kiln_tensor *t = kiln_ksub_io(ctx, br[0], 1, k), *e = kiln_ksub_io(ctx, br[1], 1, k);
        kiln_tensor *o = n->out[k];
        if (!t || !e || !o) return kiln_kerr(ctx, KILN_ERR_MODEL, "output %d is absent", k);
        if (!same_shape(t, e))
            return kiln_kerr(ctx, KILN_ERR_SHAPE,
                             "output %d is %s in the then branch and %s in the else branch "
                             "(dynamic shapes are not supported)",
                             k, desc(t, a, sizeof a), desc(e, b, sizeof b));
        if (o->type != t->type)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "output %d is %s, the branches give %s", k,
                             kiln_dtype_name(o->type), kiln_dtype_name(t->type));
        kiln_status s = kiln_kresize(ctx, o, t->rank, t->dims);
        if (s != KILN_OK) return s;
    }
    return call_data_new(ctx, n, br[0], br[1]);
}

static kiln_status if_invoke(kiln_kctx *ctx, kiln_node *n) {
    const call_data *d = (const call_data *)n->data;
    const int32_t sg = ((const uint8_t *)n->in[0]->data)[0] ? d->a : d->b;
    for (int32_t k = 1; k < n->n_in; k++)
        copy_t(kiln_ksub_io(ctx, sg, 0, k - 1), n->in[k]);
    kiln_status s = kiln_ksub_invoke(ctx, sg, 0);
    if (s != KILN_OK) return s;
    for (int32_t k = 0; k < n->n_out; k++)
        copy_t(n->out[k], kiln_ksub_io(ctx, sg, 1, k));
    return KILN_OK;
}

/* WHILE: loop variables in = out; cond gives one bool from them, body the next values. Shapes
 * stay static: the body must give each loop variable back with its type and shape. */
static kiln_status while_prepare(kiln_kctx *ctx, kiln_node *n) {
    const int32_t nv = n->n_in;
    if (n->n_out != nv)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "has %d inputs and %d outputs; they must be equal",
                         n->n_in, n->n_out);
    const int32_t cond = kiln_opt_i32(n, 0, -1), body = kiln_opt_i32(n, 1, -1);
    int32_t ni = 0, no = 0;
    char a[96], b[96];
    kiln_status s = kiln_ksub_prepare(ctx, cond, n->in, nv, &ni, &no);
    if (s != KILN_OK) return s;
    if (ni != nv || no != 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL,
                         "cond subgraph %d has %d inputs and %d outputs, needs %d and 1", cond, ni,
                         no, nv);
    const kiln_tensor *c = kiln_ksub_io(ctx, cond, 1, 0);
    if (!c || c->type != KILN_BOOL || kiln_numel(c) != 1)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "cond subgraph %d must give one bool", cond);
    s = kiln_ksub_prepare(ctx, body, n->in, nv, &ni, &no);
    if (s != KILN_OK) return s;
    if (ni != nv || no != nv)
        return kiln_kerr(ctx, KILN_ERR_MODEL,
                         "body subgraph %d has %d inputs and %d outputs, needs %d and %d", body, ni,
                         no, nv, nv);
    for (int32_t k = 0; k < nv; k++) {
        if (!n->in[k] || !n->out[k])
            return kiln_kerr(ctx, KILN_ERR_MODEL, "loop variable %d is absent", k);
        s = check_arg(ctx, cond, k, n->in[k], "cond");
        if (s == KILN_OK) s = check_arg(ctx, body, k, n->in[k], "body");
        if (s != KILN_OK) return s;
        const kiln_tensor *bo = kiln_ksub_io(ctx, body, 1, k);
        if (!bo) return kiln_kerr(ctx, KILN_ERR_MODEL, "body output %d is absent", k);
        if (!same_shape(bo, n->in[k]))
            return kiln_kerr(ctx, KILN_ERR_SHAPE,
                             "body subgraph %d changes loop variable %d from %s to %s (dynamic "
                             "shapes are not supported)",
                             body, k, desc(n->in[k], a, sizeof a), desc(bo, b, sizeof b));
        if (n->out[k]->type != n->in[k]->type)
            return kiln_kerr(ctx, KILN_ERR_MODEL, "output %d is %s, loop variable %d is %s", k,
                             kiln_dtype_name(n->out[k]->type), k, kiln_dtype_name(n->in[k]->type));
        s = kiln_kresize(ctx, n->out[k], n->in[k]->rank, n->in[k]->dims);
        if (s != KILN_OK) return s;
    }
    return call_data_new(ctx, n, cond, body);
}

static kiln_status while_invoke(kiln_kctx *ctx, kiln_node *n) {
    const call_data *d = (const call_data *)n->data;
    /* The outputs hold the loop variables. cond and body share one arena: the condition is
     * read before the body's inputs are written. */
    for (int32_t k = 0; k < n->n_out; k++)
        copy_t(n->out[k], n->in[k]);
    const kiln_tensor *c = kiln_ksub_io(ctx, d->a, 1, 0);
    const uint64_t limit = kiln_kwhile_limit(ctx);
    for (uint64_t iter = 0;; iter++) {
        for (int32_t k = 0; k < n->n_out; k++)
            copy_t(kiln_ksub_io(ctx, d->a, 0, k), n->out[k]);
        kiln_status s = kiln_ksub_invoke(ctx, d->a, 0);
        if (s != KILN_OK) return s;
        if (!((const uint8_t *)c->data)[0]) break;
        if (limit && iter >= limit)
            return kiln_kerr(ctx, KILN_ERR_RUNTIME,
                             "more than %llu iterations (the interpreter's max_while_iterations)",
                             (unsigned long long)limit);
        for (int32_t k = 0; k < n->n_out; k++)
            copy_t(kiln_ksub_io(ctx, d->b, 0, k), n->out[k]);
        s = kiln_ksub_invoke(ctx, d->b, 0);
        if (s != KILN_OK) return s;
        for (int32_t k = 0; k < n->n_out; k++)
            copy_t(n->out[k], kiln_ksub_io(ctx, d->b, 1, k));
    }
    return KILN_OK;
}

const kiln_kernel_reg kiln__k_control[] = {
    {KILN_OP_VAR_HANDLE, 1, 1, KILN_ANY, KILN_ANY, var_handle_prepare, var_handle_invoke},
    {KILN_OP_READ_VARIABLE, 1, 1, KILN_ANY, KILN_ANY, read_prepare, read_invoke},
    {KILN_OP_ASSIGN_VARIABLE, 1, 1, KILN_ANY, KILN_ANY, assign_prepare, assign_invoke},
    {KILN_OP_CALL_ONCE, 1, 1, KILN_ANY, KILN_ANY, call_once_prepare, call_once_invoke},
    {KILN_OP_IF, 1, 1, KILN_ANY, KILN_ANY, if_prepare, if_invoke},
    {KILN_OP_WHILE, 1, 1, KILN_ANY, KILN_ANY, while_prepare, while_invoke},
    {-1, 0, 0, 0, 0, NULL, NULL},
};
