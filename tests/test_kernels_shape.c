/* test_kernels_shape.c: checks of the shape / data-movement kernels (src/kernels/ref/shape*.c)
 * that the golden files cannot hold: every validation error a file can trigger (with its
 * message), runtime index errors, and values computed at prepare (RANGE, SHAPE), RFFT2D and
 * COMPLEX_ABS against a direct DFT. Models are built with Kiln's own writer. */
#include <stdint.h>

#include "convert/tfl_writer.h"
#include "kernels/ops.h"
#include "kiln/kiln_rt.h"
#include "test.h"

#define MAXT 8

typedef struct tspec {
    int32_t type, rank, dims[KILN_MAX_RANK];
    const void *data; /* constant data, or NULL for a runtime input */
    size_t len;
} tspec;

typedef struct opspec {
    int32_t op, version;
    int32_t n_in, n_out;
    tspec t[MAXT]; /* inputs then outputs */
    int32_t opts_type;
    kiln_tfl_opt opts[8];
    int32_t n_opts;
} opspec;

static uint8_t *build(const opspec *s, size_t *len) {
    kiln_tfl_writer *w;
    if (kiln_tfl_writer_create(&w)) return NULL;
    int32_t sg = kiln_tfl_add_subgraph(w, "main");
    int32_t idx[MAXT], gin[MAXT], gout[MAXT], nin = 0;
    for (int32_t i = 0; i < s->n_in + s->n_out; i++) {
        const tspec *t = &s->t[i];
        kiln_tfl_tensor tt = {0};
        tt.type = t->type;
        tt.rank = t->rank;
        tt.shape = t->dims;
        tt.buffer = t->data ? kiln_tfl_add_buffer(w, t->data, t->len) : 0;
        idx[i] = kiln_tfl_add_tensor(w, sg, &tt);
        if (i < s->n_in && !t->data) gin[nin++] = idx[i];
        if (i >= s->n_in) gout[i - s->n_in] = idx[i];
    }
    kiln_tfl_op op = {0};
    op.opcode = kiln_tfl_add_opcode(w, s->op, s->version, NULL);
    op.inputs = idx;
    op.n_inputs = s->n_in;
    op.outputs = idx + s->n_in;
    op.n_outputs = s->n_out;
    op.opts_type = s->opts_type;
    op.opts = s->opts;
    op.n_opts = s->n_opts;
    kiln_tfl_add_operator(w, sg, &op);
    kiln_tfl_set_subgraph_io(w, sg, gin, nin, gout, s->n_out);
    uint8_t *bytes = NULL;
    if (kiln_tfl_writer_finish(w, &bytes, len)) {
        fprintf(stderr, "writer: %s\n", kiln_tfl_writer_error(w));
        bytes = NULL;
    }
    kiln_tfl_writer_destroy(w);
    return bytes;
}

/* Creates an interpreter; returns its status and the message in err. */
static kiln_status make(const opspec *s, uint8_t **bytes, kiln_model **m, kiln_interp **it,
                        char *err, size_t errlen) {
    size_t len;
    *m = NULL;
    *it = NULL;
    err[0] = 0;
    *bytes = build(s, &len);
    if (!*bytes) return KILN_ERR_ARG;
    kiln_status st = kiln_model_load(*bytes, len, "t", NULL, m, err, errlen);
    if (st) return st;
    kiln_interp_options o;
    kiln_interp_options_init(&o);
    return kiln_interp_create(*m, &o, it, err, errlen);
}

static void release(uint8_t *bytes, kiln_model *m, kiln_interp *it) {
    kiln_interp_destroy(it);
    kiln_model_destroy(m);
    free(bytes);
}

/* Expects prepare to fail with a message containing `want`. */
static void expect_reject(const char *what, const opspec *s, const char *want) {
    uint8_t *b;
    kiln_model *m;
    kiln_interp *it;
    char err[512];
    kiln_status st = make(s, &b, &m, &it, err, sizeof err);
    CHECK_MSG(st != KILN_OK, "%s: accepted", what);
    CHECK_MSG(strstr(err, want) != NULL, "%s: message '%s' lacks '%s'", what, err, want);
    release(b, m, it);
}

static tspec T(int32_t type, int32_t rank, const int32_t *dims, const void *data, size_t len) {
    tspec t = {0};
    t.type = type;
    t.rank = rank;
    for (int32_t i = 0; i < rank; i++)
        t.dims[i] = dims[i];
    t.data = data;
    t.len = len;
    return t;
}

static kiln_tfl_opt OI(int32_t id, int32_t type, int64_t v) {
    kiln_tfl_opt o = {0};
    o.id = id;
    o.type = type;
    o.i = v;
    return o;
}

static const int32_t D1[1] = {1}, D2[1] = {2}, D3[1] = {3}, D4[1] = {4};

static void test_rejects(void) {
    static const int32_t d23[2] = {2, 3}, d32[2] = {3, 2}, d22[2] = {2, 2};
    opspec s;

    /* TRANSPOSE: a repeated axis is not a permutation. */
    static const int32_t p00[2] = {0, 0};
    memset(&s, 0, sizeof s);
    s.op = KILN_OP_TRANSPOSE, s.version = 1, s.n_in = 2, s.n_out = 1;
    s.t[0] = T(KILN_FLOAT32, 2, d23, NULL, 0);
    s.t[1] = T(KILN_INT32, 1, D2, p00, sizeof p00);
    s.t[2] = T(KILN_FLOAT32, 2, d32, NULL, 0);
    expect_reject("transpose perm", &s, "permutation");
    static const int32_t p3[2] = {0, 3};
    s.t[1] = T(KILN_INT32, 1, D2, p3, sizeof p3);
    expect_reject("transpose perm range", &s, "permutation");

    /* STRIDED_SLICE: stride 0; shrink outside the dim. */
    static const int32_t b0[2] = {0, 0}, e1[2] = {2, 3}, s0[2] = {1, 0}, s1[2] = {1, 1},
                         b5[2] = {5, 0};
    memset(&s, 0, sizeof s);
    s.op = KILN_OP_STRIDED_SLICE, s.version = 1, s.n_in = 4, s.n_out = 1;
    s.t[0] = T(KILN_FLOAT32, 2, d23, NULL, 0);
    s.t[1] = T(KILN_INT32, 1, D2, b0, sizeof b0);
    s.t[2] = T(KILN_INT32, 1, D2, e1, sizeof e1);
    s.t[3] = T(KILN_INT32, 1, D2, s0, sizeof s0);
    s.t[4] = T(KILN_FLOAT32, 2, d23, NULL, 0);
    expect_reject("strided_slice stride 0", &s, "stride");
    s.t[1] = T(KILN_INT32, 1, D2, b5, sizeof b5);
    s.t[3] = T(KILN_INT32, 1, D2, s1, sizeof s1);
    s.opts_type = KILN_OPTS_StridedSliceOptions;
    s.opts[0] = OI(4, KILN_TFL_OPT_I32, 1);
    s.n_opts = 1;
    expect_reject("strided_slice shrink", &s, "shrinks");

    /* RESHAPE: element count; two -1. */
    static const int32_t sh5[2] = {5, 1}, shm[2] = {-1, -1};
    memset(&s, 0, sizeof s);
    s.op = KILN_OP_RESHAPE, s.version = 1, s.n_in = 2, s.n_out = 1;
    s.t[0] = T(KILN_FLOAT32, 2, d23, NULL, 0);
    s.t[1] = T(KILN_INT32, 1, D2, sh5, sizeof sh5);
    s.t[2] = T(KILN_FLOAT32, 2, sh5, NULL, 0);
    expect_reject("reshape count", &s, "RESHAPE");
    s.t[1] = T(KILN_INT32, 1, D2, shm, sizeof shm);
    expect_reject("reshape two -1", &s, "more than one -1");

    /* PAD: negative padding. MIRROR_PAD: REFLECT padding as large as the dim. */
    static const int32_t pneg[4] = {0, 0, -1, 1}, pbig[4] = {0, 0, 3, 0};
    memset(&s, 0, sizeof s);
    s.op = KILN_OP_PAD, s.version = 1, s.n_in = 2, s.n_out = 1;
    s.t[0] = T(KILN_FLOAT32, 2, d23, NULL, 0);
    s.t[1] = T(KILN_INT32, 2, d22, pneg, sizeof pneg);
    s.t[2] = T(KILN_FLOAT32, 2, d23, NULL, 0);
    expect_reject("pad negative", &s, "padding");
    s.op = KILN_OP_MIRROR_PAD;
    s.t[1] = T(KILN_INT32, 2, d22, pbig, sizeof pbig);
    expect_reject("mirror_pad too large", &s, "too large");

    /* SPLIT: not divisible. */
    static const int32_t ax1 = 1;
    memset(&s, 0, sizeof s);
    s.op = KILN_OP_SPLIT, s.version = 1, s.n_in = 2, s.n_out = 2;
    s.t[0] = T(KILN_INT32, 0, NULL, &ax1, sizeof ax1);
    s.t[1] = T(KILN_FLOAT32, 2, d23, NULL, 0);
    s.t[2] = T(KILN_FLOAT32, 2, d22, NULL, 0);
    s.t[3] = T(KILN_FLOAT32, 2, d22, NULL, 0);
    s.opts_type = KILN_OPTS_SplitOptions;
    s.opts[0] = OI(0, KILN_TFL_OPT_I32, 2);
    s.n_opts = 1;
    expect_reject("split", &s, "divisible");

    /* DEPTH_TO_SPACE: depth not divisible by block^2. */
    static const int32_t d1223[4] = {1, 2, 2, 3};
    memset(&s, 0, sizeof s);
    s.op = KILN_OP_DEPTH_TO_SPACE, s.version = 1, s.n_in = 1, s.n_out = 1;
    s.t[0] = T(KILN_FLOAT32, 4, d1223, NULL, 0);
    s.t[1] = T(KILN_FLOAT32, 4, d1223, NULL, 0);
    s.opts_type = KILN_OPTS_DepthToSpaceOptions;
    s.opts[0] = OI(0, KILN_TFL_OPT_I32, 2);
    s.n_opts = 1;
    expect_reject("depth_to_space", &s, "divisible");
    s.opts[0] = OI(0, KILN_TFL_OPT_I32, 0);
    expect_reject("depth_to_space block 0", &s, "block_size");

    /* SPACE_TO_BATCH_ND: padded dim not divisible by the block. */
    static const int32_t blk[2] = {2, 2}, pads0[4] = {0, 0, 0, 0}, d1232[4] = {1, 2, 3, 2};
    memset(&s, 0, sizeof s);
    s.op = KILN_OP_SPACE_TO_BATCH_ND, s.version = 1, s.n_in = 3, s.n_out = 1;
    s.t[0] = T(KILN_FLOAT32, 4, d1232, NULL, 0);
    s.t[1] = T(KILN_INT32, 1, D2, blk, sizeof blk);
    s.t[2] = T(KILN_INT32, 2, d22, pads0, sizeof pads0);
    s.t[3] = T(KILN_FLOAT32, 4, d1232, NULL, 0);
    expect_reject("space_to_batch", &s, "divisible");

    /* SLICE past the end; TILE negative multiple; BROADCAST_TO incompatible. */
    static const int32_t sb[2] = {1, 1}, sz[2] = {1, 3}, mneg[2] = {1, -2}, bt[2] = {4, 3};
    memset(&s, 0, sizeof s);
    s.op = KILN_OP_SLICE, s.version = 1, s.n_in = 3, s.n_out = 1;
    s.t[0] = T(KILN_FLOAT32, 2, d23, NULL, 0);
    s.t[1] = T(KILN_INT32, 1, D2, sb, sizeof sb);
    s.t[2] = T(KILN_INT32, 1, D2, sz, sizeof sz);
    s.t[3] = T(KILN_FLOAT32, 2, d23, NULL, 0);
    expect_reject("slice", &s, "SLICE");
    memset(&s, 0, sizeof s);
    s.op = KILN_OP_TILE, s.version = 1, s.n_in = 2, s.n_out = 1;
    s.t[0] = T(KILN_FLOAT32, 2, d23, NULL, 0);
    s.t[1] = T(KILN_INT32, 1, D2, mneg, sizeof mneg);
    s.t[2] = T(KILN_FLOAT32, 2, d23, NULL, 0);
    expect_reject("tile", &s, "TILE multiple");
    s.op = KILN_OP_BROADCAST_TO, s.version = 2;
    s.t[1] = T(KILN_INT32, 1, D2, bt, sizeof bt);
    expect_reject("broadcast_to", &s, "cannot become");

    /* REVERSE_V2: an axis twice. EXPAND_DIMS: axis out of range. SQUEEZE of a dim > 1. */
    static const int32_t a11[2] = {1, -1}, a5 = 5;
    memset(&s, 0, sizeof s);
    s.op = KILN_OP_REVERSE_V2, s.version = 1, s.n_in = 2, s.n_out = 1;
    s.t[0] = T(KILN_FLOAT32, 2, d23, NULL, 0);
    s.t[1] = T(KILN_INT32, 1, D2, a11, sizeof a11);
    s.t[2] = T(KILN_FLOAT32, 2, d23, NULL, 0);
    expect_reject("reverse", &s, "twice");
    s.op = KILN_OP_EXPAND_DIMS;
    s.t[1] = T(KILN_INT32, 0, NULL, &a5, sizeof a5);
    expect_reject("expand_dims", &s, "out of range");
    memset(&s, 0, sizeof s);
    s.op = KILN_OP_SQUEEZE, s.version = 1, s.n_in = 1, s.n_out = 1;
    s.t[0] = T(KILN_FLOAT32, 2, d23, NULL, 0);
    s.t[1] = T(KILN_FLOAT32, 1, D3, NULL, 0);
    static const int32_t sq0[1] = {0};
    s.opts_type = KILN_OPTS_SqueezeOptions;
    s.opts[0].id = 0;
    s.opts[0].type = KILN_TFL_OPT_IVEC;
    s.opts[0].ivec = sq0;
    s.opts[0].n = 1;
    s.n_opts = 1;
    expect_reject("squeeze", &s, "not 1");

    /* CONCATENATION: a non-axis dim differs; axis out of range. */
    memset(&s, 0, sizeof s);
    s.op = KILN_OP_CONCATENATION, s.version = 1, s.n_in = 2, s.n_out = 1;
    s.t[0] = T(KILN_FLOAT32, 2, d23, NULL, 0);
    s.t[1] = T(KILN_FLOAT32, 2, d32, NULL, 0);
    s.t[2] = T(KILN_FLOAT32, 2, d23, NULL, 0);
    s.opts_type = KILN_OPTS_ConcatenationOptions;
    s.opts[0] = OI(0, KILN_TFL_OPT_I32, 0);
    s.n_opts = 1;
    expect_reject("concat dims", &s, "dim 1");
    s.t[1] = T(KILN_FLOAT32, 2, d23, NULL, 0);
    s.opts[0] = OI(0, KILN_TFL_OPT_I32, 2);
    expect_reject("concat axis", &s, "axis");

    /* RESIZE_BILINEAR: align_corners with half_pixel_centers. */
    static const int32_t d1221[4] = {1, 2, 2, 1}, osz[2] = {3, 3}, d1331[4] = {1, 3, 3, 1};
    memset(&s, 0, sizeof s);
    s.op = KILN_OP_RESIZE_BILINEAR, s.version = 3, s.n_in = 2, s.n_out = 1;
    s.t[0] = T(KILN_FLOAT32, 4, d1221, NULL, 0);
    s.t[1] = T(KILN_INT32, 1, D2, osz, sizeof osz);
    s.t[2] = T(KILN_FLOAT32, 4, d1331, NULL, 0);
    s.opts_type = KILN_OPTS_ResizeBilinearOptions;
    s.opts[0] = OI(2, KILN_TFL_OPT_I8, 1);
    s.opts[1] = OI(3, KILN_TFL_OPT_I8, 1);
    s.n_opts = 2;
    expect_reject("resize both flags", &s, "cannot both");

    /* GATHER: batch_dims beyond axis. */
    static const int32_t gi[2] = {0, 1};
    memset(&s, 0, sizeof s);
    s.op = KILN_OP_GATHER, s.version = 5, s.n_in = 2, s.n_out = 1;
    s.t[0] = T(KILN_FLOAT32, 2, d23, NULL, 0);
    s.t[1] = T(KILN_INT32, 1, D2, gi, sizeof gi);
    s.t[2] = T(KILN_FLOAT32, 1, D2, NULL, 0);
    s.opts_type = KILN_OPTS_GatherOptions;
    s.opts[0] = OI(0, KILN_TFL_OPT_I32, 0);
    s.opts[1] = OI(1, KILN_TFL_OPT_I32, 1);
    s.n_opts = 2;
    expect_reject("gather batch_dims", &s, "batch_dims");
}

/* An index outside its dim must fail at invoke, never read outside the buffer. */
static void test_runtime_index(void) {
    static const int32_t d43[2] = {4, 3}, d23[2] = {2, 3}, d21[2] = {2, 1};
    const int32_t cases[3] = {KILN_OP_GATHER, KILN_OP_GATHER_ND, KILN_OP_EMBEDDING_LOOKUP};
    for (int k = 0; k < 3; k++) {
        opspec s;
        memset(&s, 0, sizeof s);
        s.op = cases[k], s.version = 1, s.n_in = 2, s.n_out = 1;
        if (cases[k] == KILN_OP_EMBEDDING_LOOKUP) {
            s.t[0] = T(KILN_INT32, 1, D2, NULL, 0);
            s.t[1] = T(KILN_FLOAT32, 2, d43, NULL, 0);
        } else {
            s.t[0] = T(KILN_FLOAT32, 2, d43, NULL, 0);
            s.t[1] = T(KILN_INT32, cases[k] == KILN_OP_GATHER ? 1 : 2,
                       cases[k] == KILN_OP_GATHER ? D2 : d21, NULL, 0);
        }
        s.t[2] = T(KILN_FLOAT32, 2, d23, NULL, 0);
        uint8_t *b;
        kiln_model *m;
        kiln_interp *it;
        char err[512];
        kiln_status st = make(&s, &b, &m, &it, err, sizeof err);
        CHECK_MSG(st == KILN_OK, "index op %d: %s", (int)k, err);
        if (st == KILN_OK) {
            kiln_tensor_info ti, ix;
            int wi = cases[k] == KILN_OP_EMBEDDING_LOOKUP ? 0 : 1;
            kiln_interp_input(it, 1 - wi, &ti);
            kiln_interp_input(it, wi, &ix);
            memset(ti.data, 0, ti.bytes);
            int32_t *iv = (int32_t *)ix.data;
            iv[0] = 1;
            iv[1] = 3; /* valid */
            CHECK_EQ_INT(kiln_interp_invoke(it), KILN_OK);
            const int32_t bad[3] = {4, -1, 1000000};
            for (int j = 0; j < 3; j++) {
                iv[1] = bad[j];
                CHECK_EQ_INT(kiln_interp_invoke(it), KILN_ERR_RUNTIME);
                CHECK_MSG(strstr(kiln_interp_error(it), "out of range") != NULL, "msg '%s'",
                          kiln_interp_error(it));
            }
        }
        release(b, m, it);
    }
}

/* RANGE and SHAPE with int64 output (folded at prepare from constants). */
static void test_range_shape(void) {
    uint8_t *b;
    kiln_model *m;
    kiln_interp *it;
    char err[512];
    opspec s;
    static const int32_t r0 = 3, r1 = -8, r2 = -3;
    memset(&s, 0, sizeof s);
    s.op = KILN_OP_RANGE, s.version = 1, s.n_in = 3, s.n_out = 1;
    s.t[0] = T(KILN_INT32, 0, NULL, &r0, 4);
    s.t[1] = T(KILN_INT32, 0, NULL, &r1, 4);
    s.t[2] = T(KILN_INT32, 0, NULL, &r2, 4);
    s.t[3] = T(KILN_INT32, 1, D1, NULL, 0);
    kiln_status st = make(&s, &b, &m, &it, err, sizeof err);
    CHECK_MSG(st == KILN_OK, "range: %s", err);
    if (!st) {
        kiln_tensor_info o;
        CHECK_EQ_INT(kiln_interp_invoke(it), KILN_OK);
        kiln_interp_output(it, 0, &o);
        CHECK_EQ_INT(o.dims[0], 4);
        const int32_t want[4] = {3, 0, -3, -6};
        for (int i = 0; i < 4 && o.dims[0] == 4; i++)
            CHECK_EQ_INT(((int32_t *)o.data)[i], want[i]);
    }
    release(b, m, it);

    static const float f0 = 0.5f, f1 = 3.2f, f2 = 0.3f;
    s.t[0] = T(KILN_FLOAT32, 0, NULL, &f0, 4);
    s.t[1] = T(KILN_FLOAT32, 0, NULL, &f1, 4);
    s.t[2] = T(KILN_FLOAT32, 0, NULL, &f2, 4);
    s.t[3] = T(KILN_FLOAT32, 1, D1, NULL, 0);
    st = make(&s, &b, &m, &it, err, sizeof err);
    CHECK_MSG(st == KILN_OK, "range f32: %s", err);
    if (!st) {
        kiln_tensor_info o;
        CHECK_EQ_INT(kiln_interp_invoke(it), KILN_OK);
        kiln_interp_output(it, 0, &o);
        CHECK_EQ_INT(o.dims[0], 9); /* ceil(2.7 / 0.3) */
        float v = f0;
        for (int i = 0; i < 9 && o.dims[0] == 9; i++) {
            CHECK_NEAR(((float *)o.data)[i], v, 0);
            v += f2;
        }
    }
    release(b, m, it);
    static const float zero = 0.0f;
    s.t[2] = T(KILN_FLOAT32, 0, NULL, &zero, 4);
    expect_reject("range delta 0", &s, "delta");

    static const int32_t d523[3] = {5, 2, 3};
    memset(&s, 0, sizeof s);
    s.op = KILN_OP_SHAPE, s.version = 1, s.n_in = 1, s.n_out = 1;
    s.t[0] = T(KILN_INT8, 3, d523, NULL, 0);
    s.t[1] = T(KILN_INT64, 1, D3, NULL, 0);
    s.opts_type = KILN_OPTS_ShapeOptions;
    s.opts[0] = OI(0, KILN_TFL_OPT_I8, KILN_INT64);
    s.n_opts = 1;
    st = make(&s, &b, &m, &it, err, sizeof err);
    CHECK_MSG(st == KILN_OK, "shape: %s", err);
    if (!st) {
        kiln_tensor_info o;
        CHECK_EQ_INT(kiln_interp_invoke(it), KILN_OK);
        kiln_interp_output(it, 0, &o);
        for (int i = 0; i < 3; i++)
            CHECK_EQ_INT(((int64_t *)o.data)[i], d523[i]);
    }
    release(b, m, it);
}

/* RFFT2D (cropping and zero padding) against a direct 2-D DFT, then COMPLEX_ABS. */
static void test_rfft2d(void) {
    static const int32_t din[3] = {2, 3, 6}, fl[2] = {4, 8}, dout[3] = {2, 4, 5};
    opspec s;
    memset(&s, 0, sizeof s);
    s.op = KILN_OP_RFFT2D, s.version = 1, s.n_in = 2, s.n_out = 1;
    s.t[0] = T(KILN_FLOAT32, 3, din, NULL, 0);
    s.t[1] = T(KILN_INT32, 1, D2, fl, sizeof fl);
    s.t[2] = T(KILN_COMPLEX64, 3, dout, NULL, 0);
    uint8_t *b;
    kiln_model *m;
    kiln_interp *it;
    char err[512];
    kiln_status st = make(&s, &b, &m, &it, err, sizeof err);
    CHECK_MSG(st == KILN_OK, "rfft2d: %s", err);
    float x[36];
    float spec[2 * 4 * 5 * 2];
    if (!st) {
        kiln_tensor_info ti, o;
        kiln_interp_input(it, 0, &ti);
        uint32_t r = 12345;
        for (int i = 0; i < 36; i++) {
            r = r * 1103515245u + 12345u;
            x[i] = (float)((r >> 8) & 0xffff) / 32768.0f - 1.0f;
        }
        memcpy(ti.data, x, sizeof x);
        CHECK_EQ_INT(kiln_interp_invoke(it), KILN_OK);
        kiln_interp_output(it, 0, &o);
        CHECK_EQ_INT(o.dims[2], 5);
        const float *y = (const float *)o.data;
        memcpy(spec, y, sizeof spec);
        double maxerr = 0;
        for (int bb = 0; bb < 2; bb++)
            for (int k1 = 0; k1 < 4; k1++)
                for (int k2 = 0; k2 < 5; k2++) {
                    double re = 0, im = 0;
                    for (int n1 = 0; n1 < 3; n1++) /* input rows 3 < 4: zero padded */
                        for (int n2 = 0; n2 < 6; n2++) {
                            const double a =
                                -2 * 3.14159265358979323846 * (k1 * n1 / 4.0 + k2 * n2 / 8.0);
                            re += x[(bb * 3 + n1) * 6 + n2] * cos(a);
                            im += x[(bb * 3 + n1) * 6 + n2] * sin(a);
                        }
                    const float *g = y + 2 * ((bb * 4 + k1) * 5 + k2);
                    maxerr = fmax(maxerr, fmax(fabs(g[0] - re), fabs(g[1] - im)));
                }
        CHECK_NEAR(maxerr, 0, 1e-5);
    }
    release(b, m, it);
    static const int32_t fl6[2] = {4, 6};
    s.t[1] = T(KILN_INT32, 1, D2, fl6, sizeof fl6);
    expect_reject("rfft2d length", &s, "power of 2");

    static const int32_t dc[3] = {2, 4, 5};
    memset(&s, 0, sizeof s);
    s.op = KILN_OP_COMPLEX_ABS, s.version = 1, s.n_in = 1, s.n_out = 1;
    s.t[0] = T(KILN_COMPLEX64, 3, dc, NULL, 0);
    s.t[1] = T(KILN_FLOAT32, 3, dc, NULL, 0);
    st = make(&s, &b, &m, &it, err, sizeof err);
    CHECK_MSG(st == KILN_OK, "complex_abs: %s", err);
    if (!st) {
        kiln_tensor_info ti, o;
        kiln_interp_input(it, 0, &ti);
        memcpy(ti.data, spec, sizeof spec);
        CHECK_EQ_INT(kiln_interp_invoke(it), KILN_OK);
        kiln_interp_output(it, 0, &o);
        for (int i = 0; i < 40; i++)
            CHECK_NEAR(((float *)o.data)[i], hypot(spec[2 * i], spec[2 * i + 1]), 1e-6);
    }
    release(b, m, it);
}

/* Every data-movement dtype goes through the same byte copy: TRANSPOSE of float64, uint16 and
 * complex64 (types the oracle cases do not cover). */
static void test_wide_types(void) {
    static const int32_t d23[2] = {2, 3}, d32[2] = {3, 2}, perm[2] = {1, 0};
    const int32_t types[3] = {KILN_FLOAT64, KILN_UINT16, KILN_COMPLEX64};
    for (int k = 0; k < 3; k++) {
        opspec s;
        memset(&s, 0, sizeof s);
        s.op = KILN_OP_TRANSPOSE, s.version = 1, s.n_in = 2, s.n_out = 1;
        s.t[0] = T(types[k], 2, d23, NULL, 0);
        s.t[1] = T(KILN_INT32, 1, D2, perm, sizeof perm);
        s.t[2] = T(types[k], 2, d32, NULL, 0);
        uint8_t *b;
        kiln_model *m;
        kiln_interp *it;
        char err[512];
        kiln_status st = make(&s, &b, &m, &it, err, sizeof err);
        CHECK_MSG(st == KILN_OK, "transpose type %d: %s", (int)types[k], err);
        if (!st) {
            kiln_tensor_info ti, o;
            kiln_interp_input(it, 0, &ti);
            const size_t es = ti.bytes / 6;
            for (size_t i = 0; i < ti.bytes; i++)
                ((uint8_t *)ti.data)[i] = (uint8_t)(i * 7 + 1);
            CHECK_EQ_INT(kiln_interp_invoke(it), KILN_OK);
            kiln_interp_output(it, 0, &o);
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 3; j++)
                    CHECK(!memcmp((uint8_t *)o.data + (j * 2 + i) * es,
                                  (uint8_t *)ti.data + (i * 3 + j) * es, es));
        }
        release(b, m, it);
    }
    (void)D4;
}

/* CONCATENATION of uint8 inputs whose scale/zero point differ from the output's: TFLite's
 * ConcatenationWithScaling (LiteRT.js gives the same; tfjs-tflite copies the bytes). */
static void test_concat_requant(void) {
    static const int32_t d0[2] = {2, 3}, d1[2] = {2, 2}, dout[2] = {2, 5};
    static const float sc[3] = {0.1f, 0.05f, 0.04f};
    static const int64_t zp[3] = {138, 116, 120};
    kiln_tfl_writer *w;
    if (kiln_tfl_writer_create(&w)) return;
    int32_t sg = kiln_tfl_add_subgraph(w, "main"), idx[3];
    for (int i = 0; i < 3; i++) {
        kiln_tfl_tensor t = {0};
        t.type = KILN_UINT8;
        t.rank = 2;
        t.shape = i == 0 ? d0 : i == 1 ? d1 : dout;
        t.num_quant = 1;
        t.scale = &sc[i];
        t.zero_point = &zp[i];
        idx[i] = kiln_tfl_add_tensor(w, sg, &t);
    }
    kiln_tfl_opt o = OI(0, KILN_TFL_OPT_I32, 1);
    kiln_tfl_op op = {0};
    op.opcode = kiln_tfl_add_opcode(w, KILN_OP_CONCATENATION, 1, NULL);
    op.inputs = idx;
    op.n_inputs = 2;
    op.outputs = idx + 2;
    op.n_outputs = 1;
    op.opts_type = KILN_OPTS_ConcatenationOptions;
    op.opts = &o;
    op.n_opts = 1;
    kiln_tfl_add_operator(w, sg, &op);
    kiln_tfl_set_subgraph_io(w, sg, idx, 2, idx + 2, 1);
    uint8_t *bytes = NULL;
    size_t len = 0;
    kiln_status st = kiln_tfl_writer_finish(w, &bytes, &len);
    kiln_tfl_writer_destroy(w);
    CHECK_EQ_INT(st, KILN_OK);
    kiln_model *m = NULL;
    kiln_interp *it = NULL;
    char err[512];
    kiln_interp_options opt;
    kiln_interp_options_init(&opt);
    st = kiln_model_load(bytes, len, "t", NULL, &m, err, sizeof err);
    if (!st) st = kiln_interp_create(m, &opt, &it, err, sizeof err);
    CHECK_MSG(st == KILN_OK, "concat u8: %s", err);
    if (!st) {
        kiln_tensor_info a, b, y;
        kiln_interp_input(it, 0, &a);
        kiln_interp_input(it, 1, &b);
        for (int i = 0; i < 6; i++)
            ((uint8_t *)a.data)[i] = (uint8_t)(i * 45 + 3);
        for (int i = 0; i < 4; i++)
            ((uint8_t *)b.data)[i] = (uint8_t)(i * 70 + 20);
        CHECK_EQ_INT(kiln_interp_invoke(it), KILN_OK);
        kiln_interp_output(it, 0, &y);
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < 5; c++) {
                const int k = c < 3 ? 0 : 1;
                const int x =
                    k == 0 ? ((uint8_t *)a.data)[r * 3 + c] : ((uint8_t *)b.data)[r * 2 + c - 3];
                const float s = sc[k] * (1.0f / sc[2]);
                long v = lroundf((float)x * s + (-(float)zp[k] * s)) + (long)zp[2];
                v = v < 0 ? 0 : (v > 255 ? 255 : v);
                CHECK_EQ_INT(((uint8_t *)y.data)[r * 5 + c], v);
            }
    }
    kiln_interp_destroy(it);
    kiln_model_destroy(m);
    free(bytes);
}

/* Random single-op models of this family (fixed seed): random dtypes, shapes, parameter
 * values and options, valid or not. Each must give a clean error or run; under ASan/UBSan
 * (make test-asan) any read or write outside a buffer fails the run. */
static uint32_t rnd(uint32_t *st) {
    *st ^= *st << 13;
    *st ^= *st >> 17;
    *st ^= *st << 5;
    return *st;
}

static void test_random_models(void) {
    /* op, inputs, mask of parameter inputs (bit i: input i is an int tensor), options. */
    static const struct {
        int32_t op, n_in, pmask, opts;
    } ops[] = {
        {KILN_OP_RESHAPE, 2, 2, KILN_OPTS_ReshapeOptions},
        {KILN_OP_SQUEEZE, 1, 0, KILN_OPTS_SqueezeOptions},
        {KILN_OP_EXPAND_DIMS, 2, 2, 0},
        {KILN_OP_TRANSPOSE, 2, 2, 0},
        {KILN_OP_CONCATENATION, 3, 0, KILN_OPTS_ConcatenationOptions},
        {KILN_OP_SPLIT, 2, 1, KILN_OPTS_SplitOptions},
        {KILN_OP_SPLIT_V, 3, 6, KILN_OPTS_SplitVOptions},
        {KILN_OP_PACK, 2, 0, KILN_OPTS_PackOptions},
        {KILN_OP_UNPACK, 1, 0, KILN_OPTS_UnpackOptions},
        {KILN_OP_PAD, 2, 2, 0},
        {KILN_OP_PADV2, 3, 2, 0},
        {KILN_OP_MIRROR_PAD, 2, 2, KILN_OPTS_MirrorPadOptions},
        {KILN_OP_STRIDED_SLICE, 4, 14, KILN_OPTS_StridedSliceOptions},
        {KILN_OP_SLICE, 3, 6, 0},
        {KILN_OP_GATHER, 2, 2, KILN_OPTS_GatherOptions},
        {KILN_OP_GATHER_ND, 2, 2, 0},
        {KILN_OP_EMBEDDING_LOOKUP, 2, 1, 0},
        {KILN_OP_SHAPE, 1, 0, KILN_OPTS_ShapeOptions},
        {KILN_OP_SPACE_TO_BATCH_ND, 3, 6, 0},
        {KILN_OP_BATCH_TO_SPACE_ND, 3, 6, 0},
        {KILN_OP_SPACE_TO_DEPTH, 1, 0, KILN_OPTS_SpaceToDepthOptions},
        {KILN_OP_DEPTH_TO_SPACE, 1, 0, KILN_OPTS_DepthToSpaceOptions},
        {KILN_OP_TILE, 2, 2, 0},
        {KILN_OP_BROADCAST_TO, 2, 2, 0},
        {KILN_OP_FILL, 2, 1, 0},
        {KILN_OP_ZEROS_LIKE, 1, 0, 0},
        {KILN_OP_RANGE, 3, 7, 0},
        {KILN_OP_RESIZE_BILINEAR, 2, 2, KILN_OPTS_ResizeBilinearOptions},
        {KILN_OP_RESIZE_NEAREST_NEIGHBOR, 2, 2, KILN_OPTS_ResizeNearestNeighborOptions},
        {KILN_OP_DEQUANTIZE, 1, 0, 0},
        {KILN_OP_RFFT2D, 2, 2, 0},
        {KILN_OP_COMPLEX_ABS, 1, 0, 0},
        {KILN_OP_REVERSE_V2, 2, 2, 0},
    };
    static const int32_t types[] = {KILN_FLOAT32, KILN_INT8,    KILN_INT16,
                                    KILN_INT32,   KILN_UINT8,   KILN_INT64,
                                    KILN_BOOL,    KILN_FLOAT16, KILN_COMPLEX64};
    const int nops = (int)(sizeof ops / sizeof ops[0]);
    const int ntypes = (int)(sizeof types / sizeof types[0]);
    uint32_t st = 0x2545f491u;
    int created = 0, invoked = 0, runtime_err = 0;
    static int32_t cdata[MAXT][64];
    static int32_t ovec[8];
    static const float qscale = 0.05f;
    static const int64_t qzp = 3;
    const int N = 30000;
    for (int iter = 0; iter < N; iter++) {
        const int k = (int)(rnd(&st) % (uint32_t)nops);
        opspec s;
        memset(&s, 0, sizeof s);
        s.op = ops[k].op;
        s.version = s.op == KILN_OP_BROADCAST_TO ? 2 : 1;
        s.n_in = rnd(&st) % 8 ? ops[k].n_in : 1 + (int32_t)(rnd(&st) % 4);
        s.n_out = rnd(&st) % 3 ? 1 : 1 + (int32_t)(rnd(&st) % 3);
        const int32_t dtype = types[rnd(&st) % (uint32_t)ntypes];
        int32_t drank = (int32_t)(rnd(&st) % 6);
        for (int32_t i = 0; i < s.n_in + s.n_out; i++) {
            tspec *t = &s.t[i];
            const int param = i < s.n_in && (ops[k].pmask >> i & 1) && rnd(&st) % 10;
            if (param) {
                t->type = rnd(&st) % 5 ? KILN_INT32 : KILN_INT64;
                const uint32_t shape = rnd(&st) % 6;
                t->rank = shape == 0 ? 0 : (shape < 4 ? 1 : 2);
                t->dims[0] = rnd(&st) % 2 ? drank : (int32_t)(rnd(&st) % 5);
                t->dims[1] = rnd(&st) % 4 ? 2 : (int32_t)(rnd(&st) % 4);
                int32_t n = 1;
                for (int32_t d = 0; d < t->rank; d++)
                    n *= t->dims[d];
                const size_t es = t->type == KILN_INT32 ? 4 : 8;
                for (int32_t j = 0; j < n; j++) {
                    const int32_t v = (int32_t)(rnd(&st) % 10) - 3;
                    if (t->type == KILN_INT32)
                        cdata[i][j] = v;
                    else
                        ((int64_t *)(void *)cdata[i])[j] = v;
                }
                t->data = cdata[i];
                t->len = (size_t)n * es;
            } else {
                t->type = rnd(&st) % 5 ? dtype : types[rnd(&st) % (uint32_t)ntypes];
                t->rank = rnd(&st) % 4 ? drank : (int32_t)(rnd(&st) % 6);
                for (int32_t d = 0; d < t->rank; d++)
                    t->dims[d] = (int32_t)(rnd(&st) % 5);
            }
        }
        s.opts_type = ops[k].opts;
        s.n_opts = s.opts_type ? (int32_t)(rnd(&st) % 4) : 0;
        for (int32_t j = 0; j < s.n_opts; j++) {
            s.opts[j] =
                OI(j + (int32_t)(rnd(&st) % 2) * 3, KILN_TFL_OPT_I32, (int32_t)(rnd(&st) % 9) - 3);
            /* byte-wide fields stay byte-wide */
            if (s.op == KILN_OP_RESIZE_BILINEAR || s.op == KILN_OP_RESIZE_NEAREST_NEIGHBOR ||
                s.op == KILN_OP_MIRROR_PAD || s.op == KILN_OP_SHAPE ||
                (s.op == KILN_OP_STRIDED_SLICE && s.opts[j].id == 5) ||
                (s.op == KILN_OP_CONCATENATION && s.opts[j].id == 1))
                s.opts[j].type = KILN_TFL_OPT_I8;
            if (s.op == KILN_OP_RESHAPE || s.op == KILN_OP_SQUEEZE) {
                s.opts[j].id = 0;
                s.opts[j].type = KILN_TFL_OPT_IVEC;
                s.opts[j].ivec = ovec;
                s.opts[j].n = (int32_t)(rnd(&st) % 4);
                for (int32_t q = 0; q < 4; q++)
                    ovec[q] = (int32_t)(rnd(&st) % 7) - 1;
                s.n_opts = 1;
            }
        }
        /* Unique option ids (the writer rejects repeats). */
        for (int32_t j = 1; j < s.n_opts; j++)
            for (int32_t q = 0; q < j; q++)
                if (s.opts[q].id == s.opts[j].id) s.opts[j].id = s.opts[q].id + 6;
        size_t len;
        uint8_t *bytes = build(&s, &len);
        if (!bytes) continue;
        kiln_model *m = NULL;
        kiln_interp *it = NULL;
        char err[512];
        kiln_interp_options o;
        kiln_interp_options_init(&o);
        o.arith = rnd(&st) % 2 ? KILN_ARITH_TFLM : KILN_ARITH_LITERT;
        (void)qscale;
        (void)qzp;
        if (!kiln_model_load(bytes, len, "fuzz", NULL, &m, err, sizeof err) &&
            !kiln_interp_create(m, &o, &it, err, sizeof err)) {
            created++;
            for (int32_t i = 0; i < kiln_interp_num_inputs(it); i++) {
                kiln_tensor_info ti;
                if (kiln_interp_input(it, i, &ti)) continue;
                for (size_t b = 0; b < ti.bytes; b++)
                    ((uint8_t *)ti.data)[b] = (uint8_t)(rnd(&st) % 4 ? rnd(&st) % 3 : rnd(&st));
                if (ti.dtype == KILN_FLOAT32)
                    for (size_t b = 0; b < ti.bytes / 4; b++)
                        ((float *)ti.data)[b] = (float)((int32_t)(rnd(&st) % 200) - 100) / 16;
            }
            const kiln_status r = kiln_interp_invoke(it);
            CHECK_MSG(r == KILN_OK || r == KILN_ERR_RUNTIME, "iter %d op %d: invoke %d: %s", iter,
                      (int)s.op, (int)r, kiln_interp_error(it));
            invoked += r == KILN_OK;
            runtime_err += r == KILN_ERR_RUNTIME;
        } else {
            CHECK_MSG(err[0] != 0, "iter %d op %d: error without a message", iter, (int)s.op);
        }
        kiln_interp_destroy(it);
        kiln_model_destroy(m);
        free(bytes);
    }
    printf("random models: %d of %d prepared, %d invoked, %d index errors at invoke\n", created, N,
           invoked, runtime_err);
    CHECK(created > N / 20);
}

int main(void) {
    test_rejects();
    test_runtime_index();
    test_range_shape();
    test_rfft2d();
    test_wide_types();
    test_concat_requant();
    test_random_models();
    return test_done();
}
