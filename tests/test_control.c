/* test_control.c: resource variables (VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE, CALL_ONCE) and
 * control flow (IF, WHILE) over a sequence of invokes and a reset, compared at every step with
 * the official runtimes (tests/golden/control/, made by regen.sh there).
 * `test_control --write DIR` writes each case's model.tflite and input_K.npy (used by regen.sh). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert/tfl_writer.h"
#include "kernels/ops.h"
#include "kiln/kiln_rt.h"
#include "stateful.h"

#define STEPS 4

/* ---------------------------------------------------------------------------------------- */
/* model building */

typedef struct mb {
    kiln_tfl_writer *w;
    int32_t sg;
} mb;

typedef struct qp {
    float scale;
    int64_t zp;
} qp;

static int32_t tensor(mb *b, const char *name, int32_t type, int32_t rank, const int32_t *dims,
                      const void *data, size_t bytes, const qp *q) {
    return stateful_tensor(b->w, b->sg, name, type, rank, dims, data, bytes, q ? &q->scale : NULL,
                           q ? &q->zp : NULL, 0);
}

static int32_t tf(mb *b, const char *name, int32_t rank, const int32_t *dims) {
    return tensor(b, name, KILN_FLOAT32, rank, dims, NULL, 0, NULL);
}

static int32_t cf(mb *b, const char *name, int32_t rank, const int32_t *dims, const float *v) {
    const int64_t n = test_numel(rank, dims);
    return tensor(b, name, KILN_FLOAT32, rank, dims, v, (size_t)n * 4, NULL);
}

static int32_t res(mb *b, const char *name) {
    return tensor(b, name, KILN_RESOURCE, 0, NULL, NULL, 0, NULL);
}

static void op(mb *b, int32_t code, int32_t version, const int32_t *in, int32_t nin,
               const int32_t *out, int32_t nout, int32_t opts_type, const kiln_tfl_opt *opts,
               int32_t nopts) {
    stateful_op(b->w, b->sg, kiln_tfl_add_opcode(b->w, code, version, NULL), in, nin, out, nout,
                opts_type, opts, nopts);
}

static void op2(mb *b, int32_t code, int32_t version, int32_t a, int32_t c, int32_t out) {
    const int32_t in[2] = {a, c};
    op(b, code, version, in, 2, &out, 1, 0, NULL, 0);
}

static int32_t var_handle(mb *b, const char *container, const char *shared) {
    const int32_t h = res(b, shared);
    kiln_tfl_opt o[2];
    int32_t n = 0;
    memset(o, 0, sizeof o);
    if (container) {
        o[n].id = 0;
        o[n].type = KILN_TFL_OPT_STR;
        o[n++].str = container;
    }
    o[n].id = 1;
    o[n].type = KILN_TFL_OPT_STR;
    o[n++].str = shared;
    op(b, KILN_OP_VAR_HANDLE, 1, NULL, 0, &h, 1, KILN_OPTS_VarHandleOptions, o, n);
    return h;
}

static void read_var(mb *b, int32_t h, int32_t out) {
    op(b, KILN_OP_READ_VARIABLE, 1, &h, 1, &out, 1, 0, NULL, 0);
}

static void assign_var(mb *b, int32_t h, int32_t v) {
    const int32_t in[2] = {h, v};
    op(b, KILN_OP_ASSIGN_VARIABLE, 1, in, 2, NULL, 0, 0, NULL, 0);
}

static void call_once(mb *b, int32_t sg) {
    const kiln_tfl_opt o = kiln_tfl_opt_int(0, KILN_TFL_OPT_I32, sg);
    op(b, KILN_OP_CALL_ONCE, 1, NULL, 0, NULL, 0, KILN_OPTS_CallOnceOptions, &o, 1);
}

static void call2(mb *b, int32_t code, int32_t opts_type, int32_t s0, int32_t s1, const int32_t *in,
                  int32_t nin, const int32_t *out, int32_t nout) {
    const kiln_tfl_opt o[2] = {kiln_tfl_opt_int(0, KILN_TFL_OPT_I32, s0),
                               kiln_tfl_opt_int(1, KILN_TFL_OPT_I32, s1)};
    op(b, code, 1, in, nin, out, nout, opts_type, o, 2);
}

static void io(mb *b, const int32_t *in, int32_t nin, const int32_t *out, int32_t nout) {
    kiln_tfl_set_subgraph_io(b->w, b->sg, in, nin, out, nout);
}

/* An initialization subgraph assigning constant float values to variable `name`. */
static int32_t init_sg_f(mb *b, const char *container, const char *name, int32_t rank,
                         const int32_t *dims, const float *v) {
    const int32_t save = b->sg;
    b->sg = kiln_tfl_add_subgraph(b->w, "init");
    const int32_t h = var_handle(b, container, name);
    assign_var(b, h, cf(b, "init_value", rank, dims, v));
    io(b, NULL, 0, NULL, 0);
    const int32_t sg = b->sg;
    b->sg = save;
    return sg;
}

/* ---------------------------------------------------------------------------------------- */
/* the cases */

/* state += x; output state. */
static void m_acc_f32(mb *b) {
    static const int32_t d[2] = {1, 4};
    static const float zero[4] = {0};
    b->sg = kiln_tfl_add_subgraph(b->w, "main");
    const int32_t x = tf(b, "x", 2, d), v = tf(b, "v", 2, d), s = tf(b, "state", 2, d);
    call_once(b, 1);
    const int32_t h = var_handle(b, NULL, "acc");
    read_var(b, h, v);
    op2(b, KILN_OP_ADD, 1, v, x, s);
    assign_var(b, h, s);
    io(b, &x, 1, &s, 1);
    init_sg_f(b, NULL, "acc", 2, d, zero);
}

/* A counter initialized to a non-zero constant: outputs (value before, value after). */
static void m_counter_f32(mb *b) {
    static const int32_t d[1] = {3};
    static const float init[3] = {10.0f, -20.0f, 30.5f};
    b->sg = kiln_tfl_add_subgraph(b->w, "main");
    const int32_t x = tf(b, "x", 1, d), v = tf(b, "before", 1, d), s = tf(b, "after", 1, d);
    call_once(b, 1);
    const int32_t h = var_handle(b, "", "counter");
    read_var(b, h, v);
    op2(b, KILN_OP_ADD, 1, v, x, s);
    assign_var(b, h, s);
    const int32_t outs[2] = {v, s};
    io(b, &x, 1, outs, 2);
    init_sg_f(b, "", "counter", 1, d, init);
}

/* Three variables: "a", "b", and "a" in container "c1" (a different variable). */
static void m_three_vars_f32(mb *b) {
    static const int32_t d[1] = {2};
    static const float ia[2] = {1, 2}, ib[2] = {0.5f, -0.5f}, ic[2] = {-3, 3};
    b->sg = kiln_tfl_add_subgraph(b->w, "main");
    const int32_t x = tf(b, "x", 1, d);
    const int32_t va = tf(b, "va", 1, d), vb = tf(b, "vb", 1, d), vc = tf(b, "vc", 1, d);
    const int32_t na = tf(b, "a", 1, d), nb = tf(b, "b", 1, d), nc = tf(b, "c", 1, d);
    call_once(b, 1);
    call_once(b, 2);
    call_once(b, 3);
    const int32_t ha = var_handle(b, NULL, "a"), hb = var_handle(b, NULL, "b");
    const int32_t hc = var_handle(b, "c1", "a");
    read_var(b, ha, va);
    read_var(b, hb, vb);
    read_var(b, hc, vc);
    op2(b, KILN_OP_ADD, 1, va, x, na);  /* a += x */
    op2(b, KILN_OP_MUL, 1, vb, na, nb); /* b *= a */
    op2(b, KILN_OP_SUB, 1, vc, x, nc);  /* c -= x */
    assign_var(b, ha, na);
    assign_var(b, hb, nb);
    assign_var(b, hc, nc);
    const int32_t outs[3] = {na, nb, nc};
    io(b, &x, 1, outs, 3);
    init_sg_f(b, NULL, "a", 1, d, ia);
    init_sg_f(b, NULL, "b", 1, d, ib);
    init_sg_f(b, "c1", "a", 1, d, ic);
}

/* A variable shared by the main subgraph and both IF branches; the branch depends on it:
 * s < 2 ? s += x : s *= -0.5. Output the new s. */
static void m_if_shared_f32(mb *b) {
    static const int32_t d[1] = {1};
    static const float zero[1] = {0}, two[1] = {2.0f}, mhalf[1] = {-0.5f};
    b->sg = kiln_tfl_add_subgraph(b->w, "main"); /* 0 */
    const int32_t x = tf(b, "x", 1, d), v = tf(b, "v", 1, d), y = tf(b, "y", 1, d);
    const int32_t c = tensor(b, "cond", KILN_BOOL, 1, d, NULL, 0, NULL);
    call_once(b, 1);
    const int32_t h = var_handle(b, NULL, "s");
    read_var(b, h, v);
    op2(b, KILN_OP_LESS, 1, v, cf(b, "two", 1, d, two), c);
    const int32_t in[2] = {c, x};
    call2(b, KILN_OP_IF, KILN_OPTS_IfOptions, 2, 3, in, 2, &y, 1);
    io(b, &x, 1, &y, 1);
    init_sg_f(b, NULL, "s", 1, d, zero); /* 1 */
    for (int br = 0; br < 2; br++) {     /* 2: then, 3: else */
        b->sg = kiln_tfl_add_subgraph(b->w, br ? "else" : "then");
        const int32_t bx = tf(b, "bx", 1, d), bv = tf(b, "bv", 1, d), bn = tf(b, "bn", 1, d);
        const int32_t bh = var_handle(b, NULL, "s");
        read_var(b, bh, bv);
        if (br)
            op2(b, KILN_OP_MUL, 1, bv, cf(b, "mhalf", 1, d, mhalf), bn);
        else
            op2(b, KILN_OP_ADD, 1, bv, bx, bn);
        assign_var(b, bh, bn);
        io(b, &bx, 1, &bn, 1);
    }
}

/* IF on an input condition; two outputs per branch (then: x*x, x; else: x+1.5, x*-2). */
static void m_if_f32(mb *b) {
    static const int32_t d[2] = {2, 3}, one[1] = {1};
    static const float c15[1] = {1.5f}, cm2[1] = {-2.0f};
    b->sg = kiln_tfl_add_subgraph(b->w, "main");
    const int32_t c = tensor(b, "cond", KILN_BOOL, 1, one, NULL, 0, NULL);
    const int32_t x = tf(b, "x", 2, d), y0 = tf(b, "y0", 2, d), y1 = tf(b, "y1", 2, d);
    const int32_t in[2] = {c, x}, out[2] = {y0, y1};
    call2(b, KILN_OP_IF, KILN_OPTS_IfOptions, 1, 2, in, 2, out, 2);
    io(b, in, 2, out, 2);
    b->sg = kiln_tfl_add_subgraph(b->w, "then");
    int32_t bx = tf(b, "bx", 2, d), p = tf(b, "sq", 2, d);
    op2(b, KILN_OP_MUL, 1, bx, bx, p);
    int32_t o2[2] = {p, bx};
    io(b, &bx, 1, o2, 2);
    b->sg = kiln_tfl_add_subgraph(b->w, "else");
    bx = tf(b, "bx", 2, d);
    const int32_t e0 = tf(b, "plus", 2, d), e1 = tf(b, "times", 2, d);
    op2(b, KILN_OP_ADD, 1, bx, cf(b, "c15", 1, one, c15), e0);
    op2(b, KILN_OP_MUL, 1, bx, cf(b, "cm2", 1, one, cm2), e1);
    o2[0] = e0;
    o2[1] = e1;
    io(b, &bx, 1, o2, 2);
}

/* WHILE a fixed number of times: i = 0; while i < 5: i += 1, a = a * 0.9 + 0.1. */
static void m_while_fixed_f32(mb *b) {
    static const int32_t d[2] = {1, 4}, one[1] = {1};
    static const int32_t zero_i[1] = {0}, one_i[1] = {1}, five_i[1] = {5};
    static const float c09[1] = {0.9f}, c01[1] = {0.1f};
    b->sg = kiln_tfl_add_subgraph(b->w, "main");
    const int32_t x = tf(b, "x", 2, d), ao = tf(b, "a_out", 2, d);
    const int32_t i0 = tensor(b, "i0", KILN_INT32, 0, NULL, zero_i, 4, NULL);
    const int32_t io_ = tensor(b, "i_out", KILN_INT32, 0, NULL, NULL, 0, NULL);
    const int32_t in[2] = {i0, x}, out[2] = {io_, ao};
    call2(b, KILN_OP_WHILE, KILN_OPTS_WhileOptions, 1, 2, in, 2, out, 2);
    const int32_t mo[2] = {ao, io_};
    io(b, &x, 1, mo, 2);
    b->sg = kiln_tfl_add_subgraph(b->w, "cond");
    int32_t ci = tensor(b, "i", KILN_INT32, 0, NULL, NULL, 0, NULL), ca = tf(b, "a", 2, d);
    const int32_t cc = tensor(b, "c", KILN_BOOL, 0, NULL, NULL, 0, NULL);
    op2(b, KILN_OP_LESS, 1, ci, tensor(b, "five", KILN_INT32, 0, NULL, five_i, 4, NULL), cc);
    int32_t cin[2] = {ci, ca};
    io(b, cin, 2, &cc, 1);
    b->sg = kiln_tfl_add_subgraph(b->w, "body");
    ci = tensor(b, "i", KILN_INT32, 0, NULL, NULL, 0, NULL);
    ca = tf(b, "a", 2, d);
    const int32_t i1 = tensor(b, "i1", KILN_INT32, 0, NULL, NULL, 0, NULL);
    const int32_t m = tf(b, "m", 2, d), a1 = tf(b, "a1", 2, d);
    op2(b, KILN_OP_ADD, 1, ci, tensor(b, "one", KILN_INT32, 0, NULL, one_i, 4, NULL), i1);
    op2(b, KILN_OP_MUL, 1, ca, cf(b, "c09", 1, one, c09), m);
    op2(b, KILN_OP_ADD, 1, m, cf(b, "c01", 1, one, c01), a1);
    cin[0] = ci;
    cin[1] = ca;
    const int32_t bo[2] = {i1, a1};
    io(b, cin, 2, bo, 2);
}

/* A data-dependent WHILE whose body counts its iterations in a variable across invokes:
 * while a < 10: a = 2a + 1, iters += 1. Outputs a and the running iteration count. */
static void m_while_var_f32(mb *b) {
    static const int32_t d[1] = {1};
    static const float zero[1] = {0}, ten[1] = {10}, two[1] = {2}, onef[1] = {1};
    b->sg = kiln_tfl_add_subgraph(b->w, "main"); /* 0 */
    const int32_t x = tf(b, "x", 1, d), ao = tf(b, "a_out", 1, d), n = tf(b, "iters", 1, d);
    call_once(b, 1);
    call2(b, KILN_OP_WHILE, KILN_OPTS_WhileOptions, 2, 3, &x, 1, &ao, 1);
    const int32_t h = var_handle(b, NULL, "iters");
    read_var(b, h, n);
    const int32_t mo[2] = {ao, n};
    io(b, &x, 1, mo, 2);
    init_sg_f(b, NULL, "iters", 1, d, zero);     /* 1 */
    b->sg = kiln_tfl_add_subgraph(b->w, "cond"); /* 2 */
    int32_t a = tf(b, "a", 1, d);
    const int32_t c = tensor(b, "c", KILN_BOOL, 1, d, NULL, 0, NULL);
    op2(b, KILN_OP_LESS, 1, a, cf(b, "ten", 1, d, ten), c);
    io(b, &a, 1, &c, 1);
    b->sg = kiln_tfl_add_subgraph(b->w, "body"); /* 3 */
    a = tf(b, "a", 1, d);
    const int32_t m = tf(b, "m", 1, d), a1 = tf(b, "a1", 1, d);
    const int32_t v = tf(b, "v", 1, d), v1 = tf(b, "v1", 1, d);
    const int32_t k1 = cf(b, "one", 1, d, onef);
    op2(b, KILN_OP_MUL, 1, a, cf(b, "two", 1, d, two), m);
    op2(b, KILN_OP_ADD, 1, m, k1, a1);
    const int32_t bh = var_handle(b, NULL, "iters");
    read_var(b, bh, v);
    op2(b, KILN_OP_ADD, 1, v, k1, v1);
    assign_var(b, bh, v1);
    io(b, &a, 1, &a1, 1);
}

/* int8 accumulator: state = state + x (int8 ADD, same scale), initialized to 0.5 by CALL_ONCE. */
static void m_acc_i8(mb *b) {
    static const int32_t d[2] = {1, 6};
    static const qp q = {0.05f, -3};
    int8_t init[6];
    for (int i = 0; i < 6; i++)
        init[i] = (int8_t)(10 - 3); /* 0.5 / 0.05 + zp */
    b->sg = kiln_tfl_add_subgraph(b->w, "main");
    const int32_t x = tensor(b, "x", KILN_INT8, 2, d, NULL, 0, &q);
    const int32_t v = tensor(b, "v", KILN_INT8, 2, d, NULL, 0, &q);
    const int32_t s = tensor(b, "state", KILN_INT8, 2, d, NULL, 0, &q);
    call_once(b, 1);
    const int32_t h = var_handle(b, NULL, "acc8");
    read_var(b, h, v);
    op2(b, KILN_OP_ADD, 2, v, x, s);
    assign_var(b, h, s);
    io(b, &x, 1, &s, 1);
    b->sg = kiln_tfl_add_subgraph(b->w, "init");
    const int32_t bh = var_handle(b, NULL, "acc8");
    assign_var(b, bh, tensor(b, "init_value", KILN_INT8, 2, d, init, 6, &q));
    io(b, NULL, 0, NULL, 0);
}

/* A variable handle passed into a WHILE as a loop variable (as TFLite's converter passes
 * captured variables): i = 0; while i < 3: i += 1, acc += x through the handle. Outputs the
 * variable read after the loop and i. */
static void m_while_handle_f32(mb *b) {
    static const int32_t d[1] = {3};
    static const int32_t zero_i[1] = {0}, one_i[1] = {1}, three_i[1] = {3};
    static const float init[3] = {1, 2, 3};
    b->sg = kiln_tfl_add_subgraph(b->w, "main"); /* 0 */
    const int32_t x = tf(b, "x", 1, d), y = tf(b, "y", 1, d);
    const int32_t i0 = tensor(b, "i0", KILN_INT32, 0, NULL, zero_i, 4, NULL);
    const int32_t io_ = tensor(b, "i_out", KILN_INT32, 0, NULL, NULL, 0, NULL);
    const int32_t ho = res(b, "h_out"), xo = tf(b, "x_out", 1, d);
    call_once(b, 1);
    const int32_t h = var_handle(b, NULL, "acc");
    const int32_t in[3] = {i0, h, x}, out[3] = {io_, ho, xo};
    call2(b, KILN_OP_WHILE, KILN_OPTS_WhileOptions, 2, 3, in, 3, out, 3);
    read_var(b, h, y);
    const int32_t mo[2] = {y, io_};
    io(b, &x, 1, mo, 2);
    init_sg_f(b, NULL, "acc", 1, d, init); /* 1 */
    for (int body = 0; body < 2; body++) { /* 2: cond, 3: body */
        b->sg = kiln_tfl_add_subgraph(b->w, body ? "body" : "cond");
        const int32_t ci = tensor(b, "i", KILN_INT32, 0, NULL, NULL, 0, NULL);
        const int32_t ch = res(b, "h"), cx = tf(b, "x", 1, d);
        const int32_t cin[3] = {ci, ch, cx};
        if (!body) {
            const int32_t cc = tensor(b, "c", KILN_BOOL, 0, NULL, NULL, 0, NULL);
            op2(b, KILN_OP_LESS, 1, ci, tensor(b, "three", KILN_INT32, 0, NULL, three_i, 4, NULL),
                cc);
            io(b, cin, 3, &cc, 1);
        } else {
            const int32_t i1 = tensor(b, "i1", KILN_INT32, 0, NULL, NULL, 0, NULL);
            const int32_t v = tf(b, "v", 1, d), v1 = tf(b, "v1", 1, d);
            op2(b, KILN_OP_ADD, 1, ci, tensor(b, "one", KILN_INT32, 0, NULL, one_i, 4, NULL), i1);
            read_var(b, ch, v);
            op2(b, KILN_OP_ADD, 1, v, cx, v1);
            assign_var(b, ch, v1);
            const int32_t bo[3] = {i1, ch, cx};
            io(b, cin, 3, bo, 3);
        }
    }
}

/* int8 WHILE with a pass-through loop variable: i = 0; while i < 3: i += 1, a = a + x (int8
 * ADD); x goes through the body unchanged (the body's output is its input tensor). */
static void m_while_i8(mb *b) {
    static const int32_t d[2] = {1, 6};
    static const int32_t zero_i[1] = {0}, one_i[1] = {1}, three_i[1] = {3};
    static const qp q = {0.05f, -3};
    b->sg = kiln_tfl_add_subgraph(b->w, "main");
    const int32_t x = tensor(b, "x", KILN_INT8, 2, d, NULL, 0, &q);
    const int32_t i0 = tensor(b, "i0", KILN_INT32, 0, NULL, zero_i, 4, NULL);
    const int32_t io_ = tensor(b, "i_out", KILN_INT32, 0, NULL, NULL, 0, NULL);
    const int32_t ao = tensor(b, "a_out", KILN_INT8, 2, d, NULL, 0, &q);
    const int32_t xo = tensor(b, "x_out", KILN_INT8, 2, d, NULL, 0, &q);
    const int32_t in[3] = {i0, x, x}, out[3] = {io_, ao, xo};
    call2(b, KILN_OP_WHILE, KILN_OPTS_WhileOptions, 1, 2, in, 3, out, 3);
    io(b, &x, 1, out, 3);
    for (int body = 0; body < 2; body++) {
        b->sg = kiln_tfl_add_subgraph(b->w, body ? "body" : "cond");
        const int32_t ci = tensor(b, "i", KILN_INT32, 0, NULL, NULL, 0, NULL);
        const int32_t ca = tensor(b, "a", KILN_INT8, 2, d, NULL, 0, &q);
        const int32_t cx = tensor(b, "x", KILN_INT8, 2, d, NULL, 0, &q);
        const int32_t cin[3] = {ci, ca, cx};
        if (!body) {
            const int32_t cc = tensor(b, "c", KILN_BOOL, 0, NULL, NULL, 0, NULL);
            op2(b, KILN_OP_LESS, 1, ci, tensor(b, "three", KILN_INT32, 0, NULL, three_i, 4, NULL),
                cc);
            io(b, cin, 3, &cc, 1);
        } else {
            const int32_t i1 = tensor(b, "i1", KILN_INT32, 0, NULL, NULL, 0, NULL);
            const int32_t a1 = tensor(b, "a1", KILN_INT8, 2, d, NULL, 0, &q);
            op2(b, KILN_OP_ADD, 1, ci, tensor(b, "one", KILN_INT32, 0, NULL, one_i, 4, NULL), i1);
            op2(b, KILN_OP_ADD, 2, ca, cx, a1);
            const int32_t bo[3] = {i1, a1, cx};
            io(b, cin, 3, bo, 3);
        }
    }
}

/* int8 IF with requantizing outputs: then y = x + x, else y = x + k. */
static void m_if_i8(mb *b) {
    static const int32_t d[2] = {2, 5}, one[1] = {1};
    static const qp q = {0.1f, 4}, q2 = {0.15f, -10};
    b->sg = kiln_tfl_add_subgraph(b->w, "main");
    const int32_t c = tensor(b, "cond", KILN_BOOL, 1, one, NULL, 0, NULL);
    const int32_t x = tensor(b, "x", KILN_INT8, 2, d, NULL, 0, &q);
    const int32_t y = tensor(b, "y", KILN_INT8, 2, d, NULL, 0, &q2);
    const int32_t in[2] = {c, x};
    call2(b, KILN_OP_IF, KILN_OPTS_IfOptions, 1, 2, in, 2, &y, 1);
    io(b, in, 2, &y, 1);
    b->sg = kiln_tfl_add_subgraph(b->w, "then");
    int32_t bx = tensor(b, "bx", KILN_INT8, 2, d, NULL, 0, &q);
    const int32_t s = tensor(b, "sum", KILN_INT8, 2, d, NULL, 0, &q2);
    op2(b, KILN_OP_ADD, 2, bx, bx, s);
    io(b, &bx, 1, &s, 1);
    b->sg = kiln_tfl_add_subgraph(b->w, "else");
    bx = tensor(b, "bx", KILN_INT8, 2, d, NULL, 0, &q);
    static const int8_t k[1] = {-37};
    const int32_t e = tensor(b, "shift", KILN_INT8, 2, d, NULL, 0, &q2);
    op2(b, KILN_OP_ADD, 2, bx, tensor(b, "k", KILN_INT8, 1, one, k, 1, &q), e);
    io(b, &bx, 1, &e, 1);
}

/* ---------------------------------------------------------------------------------------- */

typedef struct tcase {
    const char *name;
    void (*build)(mb *b);
    int cond; /* value of a bool input (-1: none) */
    float lo, hi;
    int tflm; /* TFLite Micro golden expected */
} tcase;

static const tcase CASES[] = {
    {"ctl_acc_f32", m_acc_f32, -1, -1, 1, 1},
    {"ctl_counter_f32", m_counter_f32, -1, -1, 1, 1},
    {"ctl_three_vars_f32", m_three_vars_f32, -1, -1, 1, 1},
    {"ctl_if_shared_f32", m_if_shared_f32, -1, 0.6f, 0.9f, 1},
    {"ctl_if_true_f32", m_if_f32, 1, -1, 1, 1},
    {"ctl_if_false_f32", m_if_f32, 0, -1, 1, 1},
    {"ctl_while_fixed_f32", m_while_fixed_f32, -1, -1, 1, 1},
    {"ctl_while_var_f32", m_while_var_f32, -1, 0.1f, 3.0f, 1},
    {"ctl_acc_i8", m_acc_i8, -1, -1, 1, 1},
    {"ctl_while_i8", m_while_i8, -1, -1, 1, 1},
    {"ctl_while_handle_f32", m_while_handle_f32, -1, -1, 1, 1},
    {"ctl_if_true_i8", m_if_i8, 1, -1, 1, 1},
    {"ctl_if_false_i8", m_if_i8, 0, -1, 1, 1},
};
#define NCASES ((int)(sizeof CASES / sizeof CASES[0]))

static uint8_t *build_model(void (*fn)(mb *), size_t *len) {
    mb b;
    memset(&b, 0, sizeof b);
    if (kiln_tfl_writer_create(&b.w) != KILN_OK) return NULL;
    fn(&b);
    return stateful_finish(b.w, "writer", len);
}

static void make_input(const void *cv, int32_t k, const kiln_tensor_info *ti, void *dst) {
    const tcase *c = (const tcase *)cv;
    uint32_t s = test_seed(1234u + 77u * (uint32_t)k, 31, c->name);
    const int64_t n = test_numel(ti->rank, ti->dims);
    for (int64_t i = 0; i < n; i++) {
        const uint32_t r = test_rng_next(&s);
        if (ti->dtype == KILN_FLOAT32)
            ((float *)dst)[i] = c->lo + (c->hi - c->lo) * (float)(r >> 8) / 16777216.0f;
        else if (ti->dtype == KILN_INT8)
            ((int8_t *)dst)[i] = (int8_t)((int32_t)(r % 61u) - 30);
        else if (ti->dtype == KILN_BOOL)
            ((uint8_t *)dst)[i] = (uint8_t)(c->cond > 0);
        else
            memset(dst, 0, ti->bytes);
    }
}

static int write_case(const char *dir, const tcase *c) {
    size_t len = 0;
    uint8_t *bytes = build_model(c->build, &len);
    if (!bytes) return 1;
    const int rc = stateful_write_case(dir, c->name, bytes, len, 1, make_input, c);
    free(bytes);
    return rc;
}

/* Kiln's arena (planned + persistent) is at most TFLite Micro's for the same model. */
static int check_arena(const stateful_run *r, kiln_interp *it) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/tflm_arena_used_bytes.txt", r->gdir, r->name);
    FILE *f = fopen(path, "r");
    if (f && !r->use_arena && r->arith == KILN_ARITH_TFLM) {
        unsigned long tflm = 0;
        if (fscanf(f, "%lu", &tflm) == 1) {
            const size_t ours = kiln_rt_arena_size(it) + kiln_rt_persistent_size(it);
            CHECK_MSG(ours <= tflm, "%s: arena %zu + persistent %zu > TFLite Micro's %lu", r->name,
                      kiln_rt_arena_size(it), kiln_rt_persistent_size(it), tflm);
            printf("%-24s arena %4zu + persistent %4zu = %4zu  TFLite Micro %4lu\n", r->name,
                   kiln_rt_arena_size(it), kiln_rt_persistent_size(it), ours, tflm);
        }
    }
    if (f) fclose(f);
    return 0;
}

/* Runs STEPS invokes, a reset, and STEPS more, against the goldens of one oracle (after the
 * reset the sequence starts again: Kiln's reset returns to the state after create). Floats
 * within 1e-5 relative to max(1, max|expected|), integers exact. */
static void run_case(const char *gdir, const tcase *c, kiln_arith arith, const char *prefix,
                     int use_arena, int *nchecked) {
    size_t len = 0;
    uint8_t *bytes = build_model(c->build, &len);
    const stateful_run r = {.name = c->name,
                            .gdir = gdir,
                            .regen = "tests/golden/control/regen.sh",
                            .prefix = prefix,
                            .label = "",
                            .arith = arith,
                            .steps = STEPS,
                            .after_reset = STEPS,
                            .check_reset = 1,
                            .all_outputs = 1,
                            .use_arena = use_arena,
                            .make_input = make_input,
                            .c = c,
                            .created = check_arena};
    *nchecked += stateful_run_case(&r, bytes, len);
    free(bytes);
}

/* ---------------------------------------------------------------------------------------- */
/* errors: a clear message, no crash */

/* No CALL_ONCE: the first READ_VARIABLE finds no value. */
static void m_err_unassigned(mb *b) {
    static const int32_t d[2] = {1, 4};
    b->sg = kiln_tfl_add_subgraph(b->w, "main");
    const int32_t x = tf(b, "x", 2, d), v = tf(b, "v", 2, d), s = tf(b, "state", 2, d);
    const int32_t h = var_handle(b, NULL, "acc");
    read_var(b, h, v);
    op2(b, KILN_OP_ADD, 1, v, x, s);
    assign_var(b, h, s);
    io(b, &x, 1, &s, 1);
}

/* The init subgraph assigns [3], the main one [4]. */
static void m_err_assign_shape(mb *b) {
    static const int32_t d[1] = {4}, d3[1] = {3};
    static const float z[3] = {0};
    b->sg = kiln_tfl_add_subgraph(b->w, "main");
    const int32_t x = tf(b, "x", 1, d), s = tf(b, "s", 1, d);
    call_once(b, 1);
    const int32_t h = var_handle(b, NULL, "v");
    op2(b, KILN_OP_ADD, 1, x, x, s);
    assign_var(b, h, s);
    io(b, &x, 1, &s, 1);
    init_sg_f(b, NULL, "v", 1, d3, z);
}

/* The init subgraph assigns int32, the main one float32. */
static void m_err_assign_type(mb *b) {
    static const int32_t d[1] = {4};
    static const int32_t zi[4] = {0};
    b->sg = kiln_tfl_add_subgraph(b->w, "main");
    const int32_t x = tf(b, "x", 1, d), s = tf(b, "s", 1, d);
    call_once(b, 1);
    const int32_t h = var_handle(b, NULL, "v");
    op2(b, KILN_OP_ADD, 1, x, x, s);
    assign_var(b, h, s);
    io(b, &x, 1, &s, 1);
    b->sg = kiln_tfl_add_subgraph(b->w, "init");
    const int32_t bh = var_handle(b, NULL, "v");
    assign_var(b, bh, tensor(b, "zi", KILN_INT32, 1, d, zi, 16, NULL));
    io(b, NULL, 0, NULL, 0);
}

/* A WHILE body that gives back a loop variable of another shape. */
static void m_err_while_shape(mb *b) {
    static const int32_t d[1] = {1}, d2[1] = {2}, one[1] = {1};
    static const float ten[1] = {10}, two[2] = {1, 2};
    b->sg = kiln_tfl_add_subgraph(b->w, "main");
    const int32_t x = tf(b, "x", 1, d), ao = tf(b, "a_out", 1, d);
    call2(b, KILN_OP_WHILE, KILN_OPTS_WhileOptions, 1, 2, &x, 1, &ao, 1);
    io(b, &x, 1, &ao, 1);
    b->sg = kiln_tfl_add_subgraph(b->w, "cond");
    int32_t a = tf(b, "a", 1, d);
    const int32_t c = tensor(b, "c", KILN_BOOL, 1, d, NULL, 0, NULL);
    op2(b, KILN_OP_LESS, 1, a, cf(b, "ten", 1, one, ten), c);
    io(b, &a, 1, &c, 1);
    b->sg = kiln_tfl_add_subgraph(b->w, "body");
    a = tf(b, "a", 1, d);
    const int32_t r = tf(b, "r", 1, d2);
    op2(b, KILN_OP_ADD, 1, cf(b, "two", 1, d2, two), cf(b, "two2", 1, d2, two), r);
    io(b, &a, 1, &r, 1);
}

/* IF branches whose outputs differ in shape. */
static void m_err_if_shape(mb *b) {
    static const int32_t d[1] = {4}, d2[1] = {2}, one[1] = {1};
    static const float v2[2] = {1, 2};
    b->sg = kiln_tfl_add_subgraph(b->w, "main");
    const int32_t c = tensor(b, "cond", KILN_BOOL, 1, one, NULL, 0, NULL);
    const int32_t x = tf(b, "x", 1, d), y = tf(b, "y", 1, d);
    const int32_t in[2] = {c, x};
    call2(b, KILN_OP_IF, KILN_OPTS_IfOptions, 1, 2, in, 2, &y, 1);
    io(b, in, 2, &y, 1);
    b->sg = kiln_tfl_add_subgraph(b->w, "then");
    int32_t bx = tf(b, "bx", 1, d), p = tf(b, "p", 1, d);
    op2(b, KILN_OP_ADD, 1, bx, bx, p);
    io(b, &bx, 1, &p, 1);
    b->sg = kiln_tfl_add_subgraph(b->w, "else");
    bx = tf(b, "bx", 1, d);
    p = tf(b, "p", 1, d2);
    op2(b, KILN_OP_ADD, 1, cf(b, "a", 1, d2, v2), cf(b, "b", 1, d2, v2), p);
    io(b, &bx, 1, &p, 1);
}

/* Two IF operators calling the same branches. */
static void m_err_two_callers(mb *b) {
    static const int32_t d[1] = {4}, one[1] = {1};
    b->sg = kiln_tfl_add_subgraph(b->w, "main");
    const int32_t c = tensor(b, "cond", KILN_BOOL, 1, one, NULL, 0, NULL);
    const int32_t x = tf(b, "x", 1, d), y = tf(b, "y", 1, d), z = tf(b, "z", 1, d);
    const int32_t in[2] = {c, x}, in2[2] = {c, y};
    call2(b, KILN_OP_IF, KILN_OPTS_IfOptions, 1, 2, in, 2, &y, 1);
    call2(b, KILN_OP_IF, KILN_OPTS_IfOptions, 1, 2, in2, 2, &z, 1);
    io(b, in, 2, &z, 1);
    for (int br = 0; br < 2; br++) {
        b->sg = kiln_tfl_add_subgraph(b->w, br ? "else" : "then");
        const int32_t bx = tf(b, "bx", 1, d), p = tf(b, "p", 1, d);
        op2(b, br ? KILN_OP_MUL : KILN_OP_ADD, 1, bx, bx, p);
        io(b, &bx, 1, &p, 1);
    }
}

/* Creates the model; returns the create status, message in err. */
static kiln_status try_create(void (*fn)(mb *), kiln_interp **it, kiln_model **m, uint8_t **bytes,
                              char *err, size_t errlen) {
    size_t len = 0;
    *bytes = build_model(fn, &len);
    *m = NULL;
    *it = NULL;
    err[0] = 0;
    if (!*bytes) return KILN_ERR_ARG;
    kiln_status s = kiln_model_load(*bytes, len, "bad", NULL, m, err, errlen);
    if (s == KILN_OK) s = kiln_interp_create(*m, NULL, it, err, errlen);
    return s;
}

static void test_errors(void) {
    char err[256];
    kiln_model *m;
    kiln_interp *it;
    uint8_t *bytes;
    /* read before any assignment: create works, invoke fails cleanly (and again after reset) */
    kiln_status s = try_create(m_err_unassigned, &it, &m, &bytes, err, sizeof err);
    CHECK_MSG(s == KILN_OK, "%s", err);
    if (s == KILN_OK) {
        kiln_tensor_info ti;
        kiln_interp_input(it, 0, &ti);
        memset(ti.data, 0, ti.bytes);
        CHECK(kiln_interp_invoke(it) == KILN_ERR_RUNTIME);
        CHECK_MSG(strstr(kiln_interp_error(it), "operator 1 (READ_VARIABLE): variable 'acc' is "
                                                "read before any ASSIGN_VARIABLE") != NULL,
                  "got: %s", kiln_interp_error(it));
        CHECK(kiln_interp_reset(it) == KILN_OK);
        CHECK(kiln_interp_invoke(it) == KILN_ERR_RUNTIME);
    }
    kiln_interp_destroy(it);
    kiln_model_destroy(m);
    free(bytes);

    static const struct {
        void (*fn)(mb *);
        kiln_status want;
        const char *msg;
    } E[] = {
        {m_err_assign_shape, KILN_ERR_SHAPE,
         "operator 3 (ASSIGN_VARIABLE): variable 'v': value float32[4] does not match the "
         "variable's float32[3]"},
        {m_err_assign_type, KILN_ERR_SHAPE,
         "variable 'v': value float32[4] does not match the variable's int32[4]"},
        {m_err_while_shape, KILN_ERR_SHAPE,
         "operator 0 (WHILE): body subgraph 2 changes loop variable 0 from float32[1] to "
         "float32[2]"},
        {m_err_two_callers, KILN_ERR_UNSUPPORTED,
         "operator 1 (IF): subgraph 1 is also called by the main subgraph 0 operator 0; a "
         "subgraph called from two operators is not supported"},
        {m_err_if_shape, KILN_ERR_SHAPE,
         "operator 0 (IF): output 0 is float32[4] in the then branch and float32[2] in the else "
         "branch"},
    };
    /* max_while_iterations: the fixed loop runs 5 times; a limit of 4 stops it, 5 does not */
    for (uint64_t lim = 4; lim <= 5; lim++) {
        size_t len = 0;
        bytes = build_model(m_while_fixed_f32, &len);
        m = NULL;
        it = NULL;
        kiln_interp_options opt;
        kiln_interp_options_init(&opt);
        opt.max_while_iterations = lim;
        s = kiln_model_load(bytes, len, "loop", NULL, &m, err, sizeof err);
        if (s == KILN_OK) s = kiln_interp_create(m, &opt, &it, err, sizeof err);
        CHECK_MSG(s == KILN_OK, "%s", err);
        if (s == KILN_OK) {
            s = kiln_interp_invoke(it);
            CHECK_EQ_INT(s, lim == 4 ? KILN_ERR_RUNTIME : KILN_OK);
            if (lim == 4)
                CHECK_MSG(strstr(kiln_interp_error(it), "operator 0 (WHILE): more than 4 "
                                                        "iterations") != NULL,
                          "got: %s", kiln_interp_error(it));
        }
        kiln_interp_destroy(it);
        kiln_model_destroy(m);
        free(bytes);
    }
    for (size_t i = 0; i < sizeof E / sizeof E[0]; i++) {
        s = try_create(E[i].fn, &it, &m, &bytes, err, sizeof err);
        CHECK_MSG(s == E[i].want, "error case %zu: status %d (%s)", i, (int)s, err);
        CHECK_MSG(strstr(err, E[i].msg) != NULL, "error case %zu: got: %s", i, err);
        kiln_interp_destroy(it);
        kiln_model_destroy(m);
        free(bytes);
    }
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write") == 0) {
        int rc = 0;
        for (int i = 0; i < NCASES; i++)
            rc |= write_case(argv[2], &CASES[i]);
        return rc;
    }
    char gdir[4096];
    stateful_gdir(gdir, sizeof gdir, "control");
    const char *only = argc > 1 ? argv[1] : NULL;
    for (int i = 0; i < NCASES; i++) {
        if (!stateful_selected(CASES[i].name, only)) continue;
        int n = 0;
        run_case(gdir, &CASES[i], KILN_ARITH_LITERT, "litert", 0, &n);
        run_case(gdir, &CASES[i], KILN_ARITH_TFLM, "tflm", 0, &n);
        run_case(gdir, &CASES[i], KILN_ARITH_TFLM, "tflm", 1, &n);
        CHECK_MSG(n > 0, "%s: no goldens in %s: run tests/golden/control/regen.sh", CASES[i].name,
                  gdir);
    }
    if (!only) test_errors();
    return test_done();
}
