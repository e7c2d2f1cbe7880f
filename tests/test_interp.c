/* test_interp.c: the interpreter (src/rt/interp.c): resolver errors, arena planner properties
 * (no two live buffers share bytes, arena >= lower bound, within 10% on the shared models),
 * caller arenas, constant folding, variables and reset, offline plans, kernel errors.
 * The kernel tables are replaced by this file's kiln__kernel_families (the real tables or small
 * fakes, chosen per test), so planner and error tests do not depend on which kernels exist. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/families.h"
#include "kernels/kernel.h"
#include "kernels/ops.h"
#include "kiln/kiln_rt.h"
#include "rt/interp.h"
#include "rt/model.h"
#include "test.h"

/* ------------------------------------------------------------------------------------------ */
/* kernel tables: real, generic fakes (every op keeps the file's shapes), or test kernels */

enum { MODE_REAL, MODE_GENERIC, MODE_TEST };
static int g_mode = MODE_REAL;

static const kiln_kernel_reg *const real_fams[] = {
#define KILN_FAMILY(name) kiln__k_##name,
    KILN_FAMILIES
#undef KILN_FAMILY
};

static kiln_status gen_prepare(kiln_kctx *ctx, kiln_node *n) {
    return KILN_OK;
}
static kiln_status gen_invoke(kiln_kctx *ctx, kiln_node *n) {
    for (int32_t k = 0; k < n->n_out; k++)
        if (n->out[k] && n->out[k]->data) memset(n->out[k]->data, 0, n->out[k]->bytes);
    return KILN_OK;
}
static kiln_kernel_reg generic_tab[257];

/* Test kernels. ADD: out = in0 + in1 (float32, same shapes). */
static kiln_status add_prepare(kiln_kctx *ctx, kiln_node *n) {
    if (n->n_in != 2 || n->n_out != 1) return kiln_kerr(ctx, KILN_ERR_MODEL, "needs 2 inputs");
    return kiln_kresize(ctx, n->out[0], n->in[0]->rank, n->in[0]->dims);
}
static kiln_status add_invoke(kiln_kctx *ctx, kiln_node *n) {
    const float *a = n->in[0]->data, *b = n->in[1]->data;
    float *o = n->out[0]->data;
    for (int64_t i = 0; i < kiln_numel(n->out[0]); i++)
        o[i] = a[i] + b[i];
    return KILN_OK;
}
/* MUL: out = 2 * in0, through 100 bytes of scratch. */
static int32_t mul_scr;
static kiln_status mul_prepare(kiln_kctx *ctx, kiln_node *n) {
    mul_scr = kiln_kscratch_request(ctx, 100);
    if (mul_scr < 0) return kiln_kerr(ctx, KILN_ERR_NOMEM, "no scratch");
    return kiln_kresize(ctx, n->out[0], n->in[0]->rank, n->in[0]->dims);
}
static kiln_status mul_invoke(kiln_kctx *ctx, kiln_node *n) {
    float *s = kiln_kscratch(ctx, mul_scr);
    if (!s) return kiln_kerr(ctx, KILN_ERR_RUNTIME, "scratch missing");
    const float *a = n->in[0]->data;
    float *o = n->out[0]->data;
    for (int64_t i = 0; i < kiln_numel(n->out[0]); i++) {
        s[i % 25] = a[i] * 2;
        o[i] = s[i % 25];
    }
    return KILN_OK;
}
/* SHAPE: int32 vector of input 0's dims. */
static kiln_status shape_prepare(kiln_kctx *ctx, kiln_node *n) {
    const int32_t d = n->in[0]->rank;
    return kiln_kresize(ctx, n->out[0], 1, &d);
}
static kiln_status shape_invoke(kiln_kctx *ctx, kiln_node *n) {
    int32_t *o = n->out[0]->data;
    for (int32_t i = 0; i < n->in[0]->rank; i++)
        o[i] = n->in[0]->dims[i];
    return KILN_OK;
}
/* RESHAPE: output shape from input 1's values, which must be known at prepare. */
static kiln_status reshape_prepare(kiln_kctx *ctx, kiln_node *n) {
    if (!kiln_kknown(ctx, n->in[1]))
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "shape input is not known at prepare");
    const int32_t *s = n->in[1]->data;
    return kiln_kresize(ctx, n->out[0], (int32_t)kiln_numel(n->in[1]), s);
}
static kiln_status reshape_invoke(kiln_kctx *ctx, kiln_node *n) {
    memcpy(n->out[0]->data, n->in[0]->data, n->out[0]->bytes);
    return KILN_OK;
}
/* SVDF (fake): out = in0 + state; state += 1 (input 1 is a variable). */
static kiln_status state_prepare(kiln_kctx *ctx, kiln_node *n) {
    void *p = kiln_kalloc(ctx, 40);
    if (!p) return kiln_kerr(ctx, KILN_ERR_NOMEM, "no persistent memory");
    n->data = p;
    return kiln_kresize(ctx, n->out[0], n->in[0]->rank, n->in[0]->dims);
}
static kiln_status state_invoke(kiln_kctx *ctx, kiln_node *n) {
    const float *a = n->in[0]->data;
    float *st = n->in[1]->data, *o = n->out[0]->data;
    for (int64_t i = 0; i < kiln_numel(n->out[0]); i++) {
        o[i] = a[i] + st[i];
        st[i] += 1;
    }
    return KILN_OK;
}
/* GATHER (fake): fails at invoke with a message. */
static kiln_status fail_invoke(kiln_kctx *ctx, kiln_node *n) {
    return kiln_kerr(ctx, KILN_ERR_RUNTIME, "index %d out of range [0, %d)", 7, 5);
}

static const kiln_kernel_reg test_tab[] = {
    {KILN_OP_ADD, 1, 2, KILN_FLOAT32, KILN_ANY, add_prepare, add_invoke},
    {KILN_OP_MUL, 1, 2, KILN_FLOAT32, KILN_ANY, mul_prepare, mul_invoke},
    {KILN_OP_SHAPE, 1, 1, KILN_ANY, KILN_ANY, shape_prepare, shape_invoke},
    {KILN_OP_RESHAPE, 1, 1, KILN_ANY, KILN_ANY, reshape_prepare, reshape_invoke},
    {KILN_OP_SVDF, 1, 4, KILN_FLOAT32, KILN_ANY, state_prepare, state_invoke},
    {KILN_OP_GATHER, 1, 1, KILN_ANY, KILN_ANY, NULL, fail_invoke},
    {KILN_OP_SPLIT_V, 1, 2, KILN_ANY, KILN_ANY, gen_prepare, gen_invoke},
    {KILN_OP_CONV_2D, 1, 5, KILN_INT8, KILN_INT8, gen_prepare, gen_invoke},
    {KILN_OP_CONV_2D, 1, 5, KILN_FLOAT32, KILN_FLOAT32, gen_prepare, gen_invoke},
    /* an exact-type entry must win over KILN_ANY: RELU float32 -> add_invoke would crash on
     * one input, so the ANY entry uses gen and the exact one a distinct prepare */
    {KILN_OP_RELU, 1, 1, KILN_ANY, KILN_ANY, gen_prepare, gen_invoke},
    {KILN_OP_RELU, 1, 1, KILN_FLOAT32, KILN_ANY, shape_prepare, gen_invoke},
    {-1, 0, 0, 0, 0, NULL, NULL},
};

const kiln_kernel_reg *const *kiln__kernel_families(size_t *count) {
    static const kiln_kernel_reg *const gen[] = {generic_tab};
    static const kiln_kernel_reg *const tst[] = {test_tab};
    switch (g_mode) {
    case MODE_GENERIC:
        *count = 1;
        return gen;
    case MODE_TEST:
        *count = 1;
        return tst;
    default:
        *count = sizeof real_fams / sizeof real_fams[0];
        return real_fams;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* hand-built models (no loader needed): one subgraph */

typedef struct tb {
    struct kiln_model m;
    kiln__subgraph_def sg;
    kiln__tensor_def t[256];
    kiln__op_def ops[128];
    int32_t pool[2048];
    int32_t npool;
    kiln__metadata_def md;
    uint8_t fb[64];
} tb;

static tb *tb_new(void) {
    tb *b = calloc(1, sizeof *b);
    snprintf(b->m.name, sizeof b->m.name, "test.tflite");
    b->m.buf = b->fb;
    b->m.len = sizeof b->fb;
    b->m.alloc = *kiln__default_allocator();
    b->m.version = 3;
    b->m.n_subgraphs = 1;
    b->m.subgraphs = &b->sg;
    b->sg.tensors = b->t;
    b->sg.ops = b->ops;
    return b;
}

static int32_t tb_tensor(tb *b, int32_t type, int32_t rank, const int32_t *dims, const void *data,
                         size_t len) {
    int32_t i = b->sg.n_tensors++;
    kiln__tensor_def *t = &b->t[i];
    t->name = "t";
    t->type = type;
    t->rank = rank;
    for (int32_t k = 0; k < rank; k++)
        t->dims[k] = dims[k];
    t->data = data;
    t->data_len = len;
    return i;
}

static int32_t *tb_ints(tb *b, int32_t n, const int32_t *v) {
    int32_t *p = &b->pool[b->npool];
    for (int32_t i = 0; i < n; i++)
        p[i] = v[i];
    b->npool += n;
    return p;
}

static void tb_op(tb *b, int32_t code, int32_t version, int32_t nin, const int32_t *in,
                  int32_t nout, const int32_t *out) {
    kiln__op_def *o = &b->ops[b->sg.n_ops++];
    o->builtin = code;
    o->version = version;
    o->n_in = nin;
    o->inputs = tb_ints(b, nin, in);
    o->n_out = nout;
    o->outputs = tb_ints(b, nout, out);
    o->intermediates = b->pool;
}

static void tb_io(tb *b, int32_t nin, const int32_t *in, int32_t nout, const int32_t *out) {
    b->sg.n_inputs = nin;
    b->sg.inputs = tb_ints(b, nin, in);
    b->sg.n_outputs = nout;
    b->sg.outputs = tb_ints(b, nout, out);
}

/* ------------------------------------------------------------------------------------------ */
/* planner property: no two buffers live at the same op step share a byte */

static int plan_ok(const kiln_interp *it, const char *what) {
    const int32_t nt = kiln_interp_num_tensors(it);
    int ok = 1;
    size_t top = 0;
    for (int32_t i = 0; i < nt; i++) {
        int32_t fi, li, fj, lj;
        kiln_tensor_info a, b;
        const int64_t oi = kiln__interp_tensor_offset(it, i, &fi, &li);
        if (oi < 0) continue;
        kiln_interp_tensor(it, i, &a);
        if ((size_t)oi + a.bytes > top) top = (size_t)oi + a.bytes;
        if ((oi & 15) != 0) {
            fprintf(stderr, "%s: tensor %d at unaligned offset %lld\n", what, i, (long long)oi);
            ok = 0;
        }
        for (int32_t j = i + 1; j < nt; j++) {
            const int64_t oj = kiln__interp_tensor_offset(it, j, &fj, &lj);
            if (oj < 0) continue;
            kiln_interp_tensor(it, j, &b);
            const int live = fi <= lj && fj <= li;
            const int bytes =
                (size_t)oi < (size_t)oj + b.bytes && (size_t)oj < (size_t)oi + a.bytes;
            if (live && bytes && a.bytes && b.bytes) {
                fprintf(stderr,
                        "%s: tensors %d [%lld+%zu, ops %d..%d] and %d [%lld+%zu, ops "
                        "%d..%d] overlap\n",
                        what, i, (long long)oi, a.bytes, fi, li, j, (long long)oj, b.bytes, fj, lj);
                ok = 0;
            }
        }
    }
    if (top > kiln_rt_arena_size(it)) {
        fprintf(stderr, "%s: tensor ends at %zu, past the arena (%zu)\n", what, top,
                kiln_rt_arena_size(it));
        ok = 0;
    }
    return ok;
}

static uint32_t rng_state = 12345;
static uint32_t rnd(uint32_t n) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return (rng_state >> 8) % n;
}

static void test_random_graphs(void) {
    g_mode = MODE_GENERIC;
    int bad = 0, worse = 0;
    double worst = 1.0;
    for (int g = 0; g < 300; g++) {
        tb *b = tb_new();
        const int32_t nops = 1 + (int32_t)rnd(40);
        int32_t d = 1 + (int32_t)rnd(300);
        const int32_t in = tb_tensor(b, KILN_FLOAT32, 1, &d, NULL, 0);
        for (int32_t i = 0; i < nops; i++) {
            d = 1 + (int32_t)rnd(i % 7 == 0 ? 5000 : 300);
            const int32_t o = tb_tensor(b, KILN_FLOAT32, 1, &d, NULL, 0);
            int32_t ins[2] = {(int32_t)rnd((uint32_t)o), (int32_t)rnd((uint32_t)o)};
            tb_op(b, KILN_OP_ADD, 1, 1 + (int32_t)rnd(2), ins, 1, &o);
        }
        int32_t outs[2] = {b->sg.n_tensors - 1, 1 + (int32_t)rnd((uint32_t)nops)};
        tb_io(b, 1, &in, 1 + (int32_t)rnd(2), outs);
        kiln_interp *it = NULL;
        char err[KILN_ERRLEN];
        kiln_status s = kiln_interp_create(&b->m, NULL, &it, err, sizeof err);
        CHECK_MSG(s == KILN_OK, "random graph %d: %s", g, err);
        if (s == KILN_OK) {
            char what[64];
            snprintf(what, sizeof what, "random graph %d", g);
            if (!plan_ok(it, what)) bad++;
            const size_t a = kiln_rt_arena_size(it), lb = kiln_rt_arena_lower_bound(it);
            if (a < lb) worse++;
            if (lb && (double)a / (double)lb > worst) worst = (double)a / (double)lb;
            /* it runs, and a caller arena of exactly the required size works without malloc */
            CHECK(kiln_interp_invoke(it) == KILN_OK);
            const size_t need = kiln_rt_required_arena(it);
            uint8_t *mem = malloc(need + 1);
            kiln_interp_options o;
            kiln_interp_options_init(&o);
            o.arena = mem + 1; /* deliberately misaligned */
            o.arena_bytes = need;
            kiln_interp *it2 = NULL;
            s = kiln_interp_create(&b->m, &o, &it2, err, sizeof err);
            CHECK_MSG(s == KILN_OK, "random graph %d with a caller arena of %zu: %s", g, need, err);
            if (s == KILN_OK) {
                CHECK_EQ_INT(kiln_rt_arena_size(it2), a);
                CHECK(kiln_interp_invoke(it2) == KILN_OK);
            }
            kiln_interp_destroy(it2);
            free(mem);
        }
        kiln_interp_destroy(it);
        free(b);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(worse, 0);
    printf("random graphs: 300 planned, worst arena / lower bound = %.3f\n", worst);
}

/* ------------------------------------------------------------------------------------------ */

static void test_unsupported_lists_all(void) {
    g_mode = MODE_TEST;
    tb *b = tb_new();
    int32_t d4[4] = {1, 4, 4, 2}, d1 = 4;
    const int32_t x = tb_tensor(b, KILN_FLOAT32, 4, d4, NULL, 0);
    const int32_t xi16 = tb_tensor(b, KILN_INT16, 4, d4, NULL, 0);
    const int32_t y = tb_tensor(b, KILN_FLOAT32, 4, d4, NULL, 0);
    const int32_t z = tb_tensor(b, KILN_FLOAT32, 4, d4, NULL, 0);
    const int32_t w = tb_tensor(b, KILN_FLOAT32, 1, &d1, NULL, 0);
    int32_t in2[2] = {x, x};
    tb_op(b, KILN_OP_ADD, 1, 2, in2, 1, &y);    /* 0 ok */
    tb_op(b, KILN_OP_SPLIT_V, 3, 1, &y, 1, &z); /* 1 version */
    b->ops[2].custom_code = "Foo";
    tb_op(b, KILN_OP_CUSTOM, 1, 1, &z, 1, &w); /* 2 custom */
    int32_t cin[2] = {xi16, w};
    tb_op(b, KILN_OP_CONV_2D, 1, 2, cin, 1, &z);       /* 3 dtype */
    tb_op(b, KILN_OP_SPLIT_V, 3, 1, &y, 1, &z);        /* 4 same as 1 */
    tb_op(b, KILN_OP_LSH_PROJECTION, 1, 1, &y, 1, &z); /* 5 no kernel at all */
    tb_io(b, 1, &x, 1, &z);
    kiln_interp *it = NULL;
    char err[KILN_ERRLEN];
    kiln_status s = kiln_interp_create(&b->m, NULL, &it, err, sizeof err);
    CHECK_EQ_INT(s, KILN_ERR_UNSUPPORTED);
    CHECK(it == NULL);
    printf("unsupported: %s\n", err);
    CHECK_MSG(strncmp(err, "test.tflite: unsupported: ", 26) == 0, "%s", err);
    CHECK_MSG(strstr(err, "operators 1, 4: op SPLIT_V version 3 is not supported (supported: "
                          "1-2)") != NULL,
              "%s", err);
    CHECK_MSG(strstr(err, "operator 2: custom op 'Foo' is not supported") != NULL, "%s", err);
    CHECK_MSG(strstr(err, "operator 3: op CONV_2D with input int16 and filter float32 has no "
                          "kernel") != NULL,
              "%s", err);
    CHECK_MSG(strstr(err, "operator 5: op LSH_PROJ") != NULL, "%s", err); /* cut at KILN_ERRLEN */
    CHECK(strchr(err, '\n') == NULL);
    /* one operator's reason, as kiln inspect shows it */
    char why[160];
    CHECK_EQ_INT(kiln__interp_check_op(&b->m, 0, 0, why, sizeof why), KILN_OK);
    CHECK_EQ_INT(kiln__interp_check_op(&b->m, 0, 1, why, sizeof why), KILN_ERR_UNSUPPORTED);
    CHECK(strcmp(why, "op SPLIT_V version 3 is not supported (supported: 1-2)") == 0);
    free(b);
}

static void test_exact_type_wins(void) {
    g_mode = MODE_TEST;
    tb *b = tb_new();
    int32_t d2[2] = {3, 5};
    const int32_t x = tb_tensor(b, KILN_FLOAT32, 2, d2, NULL, 0);
    const int32_t y = tb_tensor(b, KILN_INT32, 2, d2, NULL, 0);
    tb_op(b, KILN_OP_RELU, 1, 1, &x, 1, &y);
    tb_io(b, 1, &x, 1, &y);
    kiln_interp *it = NULL;
    char err[KILN_ERRLEN];
    CHECK(kiln_interp_create(&b->m, NULL, &it, err, sizeof err) == KILN_OK);
    kiln_tensor_info t;
    /* the exact float32 entry (shape_prepare) ran: output became [2] */
    CHECK(it && kiln_interp_output(it, 0, &t) == KILN_OK && t.rank == 1 && t.dims[0] == 2);
    kiln_interp_destroy(it);
    free(b);
}

static size_t n_alloc_calls;
static void *count_alloc(void *ud, size_t n, size_t align) {
    n_alloc_calls++;
    return kiln__default_allocator()->alloc(NULL, n, align);
}
static void count_free(void *ud, void *p) {
    kiln__default_allocator()->free(NULL, p);
}

/* in -> MUL(scratch) -> t1 -> ADD(t1, c) -> t2 -> SVDF(t2, state) -> out, plus a folded
 * SHAPE -> RESHAPE chain. */
static tb *build_small(void) {
    static const float cval[6] = {1, 2, 3, 4, 5, 6};
    static const int32_t newshape[2] = {3, 2};
    tb *b = tb_new();
    int32_t d2[2] = {2, 3}, d1 = 2;
    const int32_t in = tb_tensor(b, KILN_FLOAT32, 2, d2, NULL, 0);
    const int32_t c = tb_tensor(b, KILN_FLOAT32, 2, d2, cval, sizeof cval);
    const int32_t t1 = tb_tensor(b, KILN_FLOAT32, 2, d2, NULL, 0);
    const int32_t t2 = tb_tensor(b, KILN_FLOAT32, 2, d2, NULL, 0);
    const int32_t st = tb_tensor(b, KILN_FLOAT32, 2, d2, NULL, 0);
    b->t[st].is_variable = 1;
    const int32_t out = tb_tensor(b, KILN_FLOAT32, 2, d2, NULL, 0);
    const int32_t shp = tb_tensor(b, KILN_INT32, 1, &d1, NULL, 0);
    const int32_t nshape = tb_tensor(b, KILN_INT32, 1, &d1, newshape, sizeof newshape);
    const int32_t out2 = tb_tensor(b, KILN_FLOAT32, 2, d2, NULL, 0);
    tb_op(b, KILN_OP_MUL, 1, 1, &in, 1, &t1);
    int32_t a[2] = {t1, c};
    tb_op(b, KILN_OP_ADD, 1, 2, a, 1, &t2);
    int32_t s[2] = {t2, st};
    tb_op(b, KILN_OP_SVDF, 1, 2, s, 1, &out);
    tb_op(b, KILN_OP_SHAPE, 1, 1, &in, 1, &shp); /* folded: reads only in's shape */
    int32_t r[2] = {out, nshape};
    tb_op(b, KILN_OP_RESHAPE, 1, 2, r, 1, &out2); /* shape input known: constant */
    int32_t outs[2] = {out, out2};
    tb_io(b, 1, &in, 2, outs);
    return b;
}

static void test_run_reset_fold_arena(void) {
    g_mode = MODE_TEST;
    tb *b = build_small();
    b->m.alloc = (kiln_allocator){count_alloc, count_free, NULL};
    kiln_interp *it = NULL;
    char err[KILN_ERRLEN];
    kiln_status s = kiln_interp_create(&b->m, NULL, &it, err, sizeof err);
    CHECK_MSG(s == KILN_OK, "%s", err);
    if (s != KILN_OK) return;
    CHECK(plan_ok(it, "small"));
    CHECK(kiln__interp_op_folded(it, 3));
    CHECK(!kiln__interp_op_folded(it, 0));
    kiln_tensor_info t, o, o2;
    CHECK(kiln_interp_tensor(it, 6, &t) == KILN_OK && t.data && ((int32_t *)t.data)[0] == 2 &&
          ((int32_t *)t.data)[1] == 3);
    CHECK(kiln__interp_tensor_offset(it, 6, NULL, NULL) < 0); /* folded: not in the arena */
    CHECK(kiln__interp_tensor_offset(it, 4, NULL, NULL) < 0); /* variable */
    kiln_op_info oi;
    CHECK(kiln_interp_op(it, 3, &oi) == KILN_OK && !strcmp(oi.kernel, "folded"));
    CHECK(kiln_rt_persistent_size(it) >= 48 + 16 + 16); /* state, kernel data, folded shape */
    kiln_interp_input(it, 0, &t);
    for (int i = 0; i < 6; i++)
        ((float *)t.data)[i] = (float)i;
    CHECK(kiln_interp_invoke(it) == KILN_OK);
    kiln_interp_output(it, 0, &o);
    kiln_interp_output(it, 1, &o2);
    CHECK(o2.rank == 2 && o2.dims[0] == 3 && o2.dims[1] == 2);
    float first[6];
    memcpy(first, o.data, sizeof first);
    CHECK_NEAR(first[5], 2 * 5 + 6 + 0, 0);
    CHECK(kiln_interp_invoke(it) == KILN_OK);
    CHECK_NEAR(((float *)o.data)[5], 2 * 5 + 6 + 1, 0); /* state advanced */
    CHECK(kiln_interp_reset(it) == KILN_OK);
    CHECK(kiln_interp_invoke(it) == KILN_OK);
    CHECK(memcmp(o.data, first, sizeof first) == 0);
    CHECK_NEAR(((float *)o2.data)[5], first[5], 0);

    /* caller arena: nothing through the allocator, same results */
    const size_t need = kiln_rt_required_arena(it);
    kiln_interp_destroy(it);
    size_t calls = n_alloc_calls;
    uint8_t *mem = malloc(need + 16);
    kiln_interp_options opt;
    kiln_interp_options_init(&opt);
    opt.arena = mem + 3;
    opt.arena_bytes = need;
    s = kiln_interp_create(&b->m, &opt, &it, err, sizeof err);
    CHECK_MSG(s == KILN_OK, "caller arena of %zu: %s", need, err);
    CHECK_EQ_INT(n_alloc_calls, calls);
    if (s == KILN_OK) {
        kiln_interp_input(it, 0, &t);
        CHECK((uint8_t *)t.data >= mem && (uint8_t *)t.data < mem + need + 3);
        for (int i = 0; i < 6; i++)
            ((float *)t.data)[i] = (float)i;
        CHECK(kiln_interp_invoke(it) == KILN_OK);
        kiln_interp_output(it, 0, &o);
        CHECK(memcmp(o.data, first, sizeof first) == 0);
        kiln_interp_destroy(it);
    }
    /* too small, by a little and by a lot: KILN_ERR_NOMEM with a message, no allocation */
    const size_t sizes[3] = {need - 32, need / 2, 8};
    for (int k = 0; k < 3; k++) {
        opt.arena = mem;
        opt.arena_bytes = sizes[k];
        it = (kiln_interp *)1;
        s = kiln_interp_create(&b->m, &opt, &it, err, sizeof err);
        CHECK_MSG(s == KILN_ERR_NOMEM, "arena of %zu bytes (need %zu): status %d", sizes[k], need,
                  (int)s);
        CHECK(it == NULL);
        CHECK_MSG(strstr(err, "arena too small") != NULL, "%s", err);
    }
    /* every size below the requirement fails cleanly, whichever allocation runs out */
    int clean = 1;
    for (size_t sz = 0; sz + 16 < need; sz += 8) {
        opt.arena = mem + (sz % 16);
        opt.arena_bytes = sz;
        s = kiln_interp_create(&b->m, &opt, &it, err, sizeof err);
        if (s != KILN_ERR_NOMEM || it != NULL || !strstr(err, "arena too small")) {
            fprintf(stderr, "arena of %zu: status %d: %s\n", sz, (int)s, err);
            clean = 0;
            kiln_interp_destroy(it);
            break;
        }
    }
    CHECK(clean);
    CHECK_EQ_INT(n_alloc_calls, calls);
    free(mem);
    free(b);
}

static void test_kernel_error_prefix(void) {
    g_mode = MODE_TEST;
    tb *b = tb_new();
    int32_t d = 5;
    const int32_t x = tb_tensor(b, KILN_FLOAT32, 1, &d, NULL, 0);
    const int32_t y = tb_tensor(b, KILN_FLOAT32, 1, &d, NULL, 0);
    const int32_t z = tb_tensor(b, KILN_FLOAT32, 1, &d, NULL, 0);
    int32_t a[2] = {x, x};
    tb_op(b, KILN_OP_ADD, 1, 2, a, 1, &y);
    tb_op(b, KILN_OP_GATHER, 1, 1, &y, 1, &z);
    tb_io(b, 1, &x, 1, &z);
    kiln_interp *it = NULL;
    char err[KILN_ERRLEN];
    CHECK(kiln_interp_create(&b->m, NULL, &it, err, sizeof err) == KILN_OK);
    if (!it) return;
    CHECK_EQ_INT(kiln_interp_invoke(it), KILN_ERR_RUNTIME);
    CHECK_MSG(!strcmp(kiln_interp_error(it),
                      "test.tflite: operator 1 (GATHER): index 7 out of range [0, 5)"),
              "%s", kiln_interp_error(it));
    kiln_interp_destroy(it);
    /* a prepare error names the operator too; an op writing its own input is rejected */
    b->ops[1].builtin = KILN_OP_ADD;
    b->ops[1].n_in = 1;
    CHECK(kiln_interp_create(&b->m, NULL, &it, err, sizeof err) == KILN_ERR_MODEL);
    CHECK_MSG(!strcmp(err, "test.tflite: operator 1 (ADD): needs 2 inputs"), "%s", err);
    b->ops[1].n_in = 2;
    b->ops[1].inputs = tb_ints(b, 2, (int32_t[]){y, z});
    b->ops[1].outputs = tb_ints(b, 1, &y);
    CHECK(kiln_interp_create(&b->m, NULL, &it, err, sizeof err) == KILN_ERR_MODEL);
    CHECK_MSG(strstr(err, "operator 1 (ADD): output 0 is also its input 0") != NULL, "%s", err);
    free(b);
}

static void test_offline_plan(void) {
    g_mode = MODE_GENERIC;
    tb *b = tb_new();
    int32_t d = 64; /* 256 bytes each */
    int32_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = tb_tensor(b, KILN_FLOAT32, 1, &d, NULL, 0);
    tb_op(b, KILN_OP_ADD, 1, 1, &t[0], 1, &t[1]);
    tb_op(b, KILN_OP_ADD, 1, 1, &t[1], 1, &t[2]);
    tb_op(b, KILN_OP_ADD, 1, 1, &t[2], 1, &t[3]);
    tb_io(b, 1, &t[0], 1, &t[3]);
    /* version 1, subgraph 0, 4 tensors: t0 at 1024, t1 at 0, t2 online, t3 at 512 */
    static int32_t meta[7] = {1, 0, 4, 1024, 0, -1, 512};
    b->md.name = "OfflineMemoryAllocation";
    b->md.data = (const uint8_t *)meta;
    b->md.len = sizeof meta;
    b->m.n_metadata = 1;
    b->m.metadata = &b->md;
    kiln_interp *it = NULL;
    char err[KILN_ERRLEN];
    kiln_status s = kiln_interp_create(&b->m, NULL, &it, err, sizeof err);
    CHECK_MSG(s == KILN_OK, "%s", err);
    if (it) {
        CHECK(kiln__interp_offline_plan(it));
        CHECK_EQ_INT(kiln__interp_tensor_offset(it, 0, NULL, NULL), 1024);
        CHECK_EQ_INT(kiln__interp_tensor_offset(it, 1, NULL, NULL), 0);
        CHECK_EQ_INT(kiln__interp_tensor_offset(it, 3, NULL, NULL), 512);
        CHECK(plan_ok(it, "offline"));
        CHECK(kiln_rt_arena_size(it) >= 1280);
        kiln_interp_destroy(it);
    }
    /* an offline plan that puts two live tensors on the same bytes is rejected */
    meta[4] = 1024 + 128;
    s = kiln_interp_create(&b->m, NULL, &it, err, sizeof err);
    CHECK_EQ_INT(s, KILN_ERR_MODEL);
    CHECK_MSG(strstr(err, "OfflineMemoryAllocation") != NULL, "%s", err);
    meta[4] = 0;
    meta[2] = 3; /* wrong count */
    s = kiln_interp_create(&b->m, NULL, &it, err, sizeof err);
    CHECK_EQ_INT(s, KILN_ERR_MODEL);
    free(b);
}

static void test_signature_and_args(void) {
    g_mode = MODE_TEST;
    tb *b = build_small();
    kiln__tensor_map in = {"x", 0}, out = {"y", 5};
    kiln__signature_def sig = {"serving_default", 0, 1, 1, &in, &out};
    b->m.n_signatures = 1;
    b->m.signatures = &sig;
    kiln_interp_options o;
    kiln_interp_options_init(&o);
    o.signature = "serving_default";
    kiln_interp *it = NULL;
    char err[KILN_ERRLEN];
    CHECK(kiln_interp_create(&b->m, &o, &it, err, sizeof err) == KILN_OK);
    CHECK(it && kiln_interp_input_alias(it, 0) && !strcmp(kiln_interp_input_alias(it, 0), "x"));
    CHECK(it && kiln_interp_output_alias(it, 0) && !strcmp(kiln_interp_output_alias(it, 0), "y"));
    CHECK(it && kiln_interp_output_alias(it, 1) == NULL);
    kiln_interp_destroy(it);
    o.signature = "nope";
    CHECK_EQ_INT(kiln_interp_create(&b->m, &o, &it, err, sizeof err), KILN_ERR_ARG);
    CHECK_MSG(strstr(err, "no signature 'nope' (signatures: 'serving_default')") != NULL, "%s",
              err);
    o.signature = NULL;
    o.subgraph = 3;
    CHECK_EQ_INT(kiln_interp_create(&b->m, &o, &it, err, sizeof err), KILN_ERR_ARG);
    CHECK_EQ_INT(kiln_interp_create(NULL, NULL, &it, err, sizeof err), KILN_ERR_ARG);
    /* shapes the verifier should have caught are still refused, not trusted */
    o.subgraph = 0;
    b->t[2].dims[0] = -1;
    b->t[2].dims[1] = -3;
    CHECK_EQ_INT(kiln_interp_create(&b->m, &o, &it, err, sizeof err), KILN_ERR_MODEL);
    CHECK_MSG(strstr(err, "tensor 2 ('t'): shape is negative or too large") != NULL, "%s", err);
    b->t[2].dims[0] = 1 << 30;
    b->t[2].dims[1] = 1 << 30;
    CHECK_EQ_INT(kiln_interp_create(&b->m, &o, &it, err, sizeof err), KILN_ERR_MODEL);
    free(b);
}

/* ------------------------------------------------------------------------------------------ */
/* the shared models: plan quality and TFLite Micro's arena figures */

static void *read_aligned(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = aligned_alloc(64, ((size_t)n + 64) & ~(size_t)63);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* TFLite Micro's arena_used_bytes for `name` from the models README table (0: not listed). */
static long tflm_arena(const char *readme, const char *name) {
    char key[300];
    snprintf(key, sizeof key, "\n| %s |", name);
    const char *p = readme ? strstr(readme, key) : NULL;
    if (!p) return 0;
    p += strlen(key);
    for (int col = 0; col < 5; col++) { /* skip bytes, ops, inputs, outputs, cases */
        p = strchr(p, '|');
        if (!p) return 0;
        p++;
    }
    long v = 0;
    int digits = 0;
    while (*p == ' ')
        p++;
    for (; *p && *p != '|'; p++) {
        if (*p >= '0' && *p <= '9') {
            v = v * 10 + (*p - '0');
            digits++;
        } else if (*p != ',' && *p != ' ') {
            return 0; /* "fails: ..." */
        }
    }
    return digits ? v : 0;
}

static void test_shared_models(const char *shared) {
    char dir[4096], path[8192];
    size_t rlen = 0;
    snprintf(path, sizeof path, "%s/models/README.md", shared);
    char *readme = read_aligned(path, &rlen);
    if (readme) readme[rlen] = 0;
    const char *subdirs[2] = {"models", "models/ops"};
    int nmodels = 0, nreal = 0;
    double worst = 1.0;
    for (int sd = 0; sd < 2; sd++) {
        snprintf(dir, sizeof dir, "%s/%s", shared, subdirs[sd]);
        DIR *dh = opendir(dir);
        if (!dh) continue;
        struct dirent *e;
        while ((e = readdir(dh))) {
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "%s/%s/model.tflite", dir, e->d_name);
            size_t len = 0;
            void *buf = read_aligned(path, &len);
            if (!buf) continue;
            kiln_model *m = NULL;
            char err[KILN_ERRLEN];
            kiln_status s = kiln_model_load(buf, len, e->d_name, NULL, &m, err, sizeof err);
            CHECK_MSG(s == KILN_OK, "%s: %s", path, err);
            if (s != KILN_OK) {
                free(buf);
                continue;
            }
            kiln_interp *it = NULL;
            g_mode = MODE_REAL;
            s = kiln_interp_create(m, NULL, &it, err, sizeof err);
            const int real = s == KILN_OK;
            if (!real) {
                /* kernels not there (yet): plan with the file's shapes */
                g_mode = MODE_GENERIC;
                s = kiln_interp_create(m, NULL, &it, err, sizeof err);
            }
            CHECK_MSG(s == KILN_OK, "%s: %s", path, err);
            if (s == KILN_OK) {
                nmodels++;
                nreal += real;
                CHECK_MSG(plan_ok(it, e->d_name), "%s", e->d_name);
                const size_t a = kiln_rt_arena_size(it), lb = kiln_rt_arena_lower_bound(it);
                const size_t per = kiln_rt_persistent_size(it);
                CHECK_MSG(a >= lb, "%s: arena %zu < lower bound %zu", e->d_name, a, lb);
                CHECK_MSG((double)a <= 1.10 * (double)lb, "%s: arena %zu, lower bound %zu",
                          e->d_name, a, lb);
                if (lb && (double)a / (double)lb > worst) worst = (double)a / (double)lb;
                const long tflm = sd == 0 ? tflm_arena(readme, e->d_name) : 0;
                if (sd == 0)
                    printf("%-28s %-7s arena %8zu  lower bound %8zu  persistent %6zu  TFLM "
                           "%6ld%s\n",
                           e->d_name, real ? "kernels" : "shapes", a, lb, per, tflm,
                           real && tflm && a + per > (size_t)tflm ? "  (above TFLM)" : "");
                /* TFLite Micro's figure is the one to beat, with the real kernels' scratch */
                if (real && tflm)
                    CHECK_MSG(a + per <= (size_t)tflm,
                              "%s: arena %zu + persistent %zu > TFLite "
                              "Micro's %ld",
                              e->d_name, a, per, tflm);
            }
            kiln_interp_destroy(it);
            kiln_model_destroy(m);
            free(buf);
        }
        closedir(dh);
    }
    free(readme);
    CHECK(nmodels > 100);
    printf("shared models: %d planned (%d with real kernels), worst arena / lower bound = %.3f\n",
           nmodels, nreal, worst);
}

/* `kiln CMD --help` prints the text that docs/CMD.md shows in its first code block. */
static void test_help_matches_docs(const char *bin) {
    const char *tests = getenv("KILN_TESTS");
    if (!bin || !tests) return;
    const char *cmds[2] = {"run", "inspect"};
    for (int c = 0; c < 2; c++) {
        char path[4096], cmd[4200];
        snprintf(path, sizeof path, "%s/../docs/%s.md", tests, cmds[c]);
        size_t len = 0;
        char *doc = read_aligned(path, &len);
        CHECK_MSG(doc != NULL, "%s missing", path);
        if (!doc) continue;
        doc[len] = 0;
        char *a = strstr(doc, "```\n"), *b = a ? strstr(a + 4, "```") : NULL;
        snprintf(cmd, sizeof cmd, "%s %s --help", bin, cmds[c]);
        FILE *p = popen(cmd, "r");
        static char out[16384];
        size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
        out[n] = 0;
        if (p) pclose(p);
        CHECK_MSG(a && b && (size_t)(b - a - 4) == n && !memcmp(a + 4, out, n),
                  "kiln %s --help differs from docs/%s.md", cmds[c], cmds[c]);
        free(doc);
    }
}

/* kiln run's argument errors (the CLI, when KILN_BIN is set). */
static void test_cli_errors(const char *shared) {
    const char *bin = getenv("KILN_BIN");
    test_help_matches_docs(bin);
    if (!bin || !shared) return;
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "%s run %s/models/hello_world_float/model.tflite a.npy b.npy "
             "--out /tmp 2>&1; echo \"rc=$?\"",
             bin, shared);
    FILE *p = popen(cmd, "r");
    char out[1024] = "";
    if (p) {
        size_t n = fread(out, 1, sizeof out - 1, p);
        out[n] = 0;
        pclose(p);
    }
    CHECK_MSG(strstr(out, "has 1 input, 2 .npy files given") && strstr(out, "rc=2"), "%s", out);
    snprintf(cmd, sizeof cmd, "%s run /nonexistent/m.tflite --random 0 2>&1; echo \"rc=$?\"", bin);
    p = popen(cmd, "r");
    out[0] = 0;
    if (p) {
        size_t n = fread(out, 1, sizeof out - 1, p);
        out[n] = 0;
        pclose(p);
    }
    CHECK_MSG(strstr(out, "kiln run: /nonexistent/m.tflite: No such file") && strstr(out, "rc=1"),
              "%s", out);
}

int main(void) {
    for (int op = 0; op < 256; op++)
        generic_tab[op] =
            (kiln_kernel_reg){op, 1, 1000, KILN_ANY, KILN_ANY, gen_prepare, gen_invoke};
    generic_tab[256].op = -1;
    test_unsupported_lists_all();
    test_exact_type_wins();
    test_run_reset_fold_arena();
    test_kernel_error_prefix();
    test_offline_plan();
    test_signature_and_args();
    test_random_graphs();
    const char *shared = test_shared_dir();
    if (shared)
        test_shared_models(shared);
    else
        printf("SKIP shared models: KILN_SHARED not found\n");
    test_cli_errors(shared);
    return test_done();
}
