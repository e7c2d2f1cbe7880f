/* test_loader.c: the .tflite loader/verifier on real models, truncated and bit-flipped copies
 * (every one must be a clean error or a valid run, never a crash: run under ASan), crafted
 * files of the kinds TFLite has had memory-safety bugs for, and the fuzz corpus replay. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/fuzz_one.c"
#include "convert/tfl_writer.h"
#include "kernels/ops.h"
#include "rt/fb.h"
#include "rt/model.h"
#include "test.h"

typedef struct {
    uint8_t *b;
    size_t n;
} file_t;

static file_t read_file(const char *path) {
    file_t f = {NULL, 0};
    FILE *fp = fopen(path, "rb");
    if (!fp) return f;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f.b = (uint8_t *)aligned_alloc(16, ((size_t)n + 15) / 16 * 16 + 16);
    f.n = fread(f.b, 1, (size_t)n, fp);
    fclose(fp);
    return f;
}

static file_t copy_of(file_t f) {
    file_t c = {(uint8_t *)aligned_alloc(16, (f.n + 15) / 16 * 16 + 16), f.n};
    memcpy(c.b, f.b, f.n);
    return c;
}

/* Loads and returns the status; the message goes to err. */
static kiln_status load(file_t f, char *err, size_t n) {
    kiln_model *m = NULL;
    kiln_status s = kiln_model_load(f.b, f.n, "crafted.tflite", NULL, &m, err, n);
    kiln_model_destroy(m);
    return s;
}

/* --- locating fields in a real file so they can be patched ---------------------------------- */
static int root_table(file_t f, kiln__fbt *t) {
    kiln__fb fb = {f.b, f.n};
    return kiln__fb_table(&fb, kiln__rd32(f.b), t);
}

/* Table of subgraph 0's element `i` of vector field `vec_id` (tensors = 0, operators = 3). */
static int sg0_elem(file_t f, int vec_id, uint32_t i, kiln__fbt *out) {
    kiln__fb fb = {f.b, f.n};
    kiln__fbt root, sg;
    size_t first;
    uint32_t n;
    if (root_table(f, &root) || kiln__fb_vec(&fb, &root, 2, 4, &first, &n) <= 0 ||
        kiln__fb_vec_table(&fb, first, 0, &sg) ||
        kiln__fb_vec(&fb, &sg, vec_id, 4, &first, &n) <= 0 || i >= n)
        return -1;
    return kiln__fb_vec_table(&fb, first, i, out);
}

/* Position of element k of an [int] vector field of table t. */
static size_t vec_elem(file_t f, const kiln__fbt *t, int id, uint32_t k) {
    kiln__fb fb = {f.b, f.n};
    size_t first;
    uint32_t n;
    if (kiln__fb_vec(&fb, t, id, 4, &first, &n) <= 0 || k >= n) return 0;
    return first + 4 * (size_t)k;
}

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Patch a copy of `base` with `value` at `pos`, load it, expect an error containing `want`. */
static void expect_patch(file_t base, size_t pos, uint32_t value, const char *want,
                         const char *what) {
    CHECK_MSG(pos != 0, "%s: field not found in the model", what);
    if (!pos) return;
    file_t c = copy_of(base);
    put32(c.b + pos, value);
    char err[KILN_ERRLEN];
    kiln_status s = load(c, err, sizeof err);
    CHECK_MSG(s == KILN_ERR_MODEL && strstr(err, want) && strstr(err, "crafted.tflite: "),
              "%s: status %d, message '%s', wanted '%s'", what, s, err, want);
    CHECK_MSG(!strchr(err, '\n'), "%s: message is not one line", what);
    kiln_fuzz_one(c.b, c.n); /* and nothing crashes later either */
    free(c.b);
}

static void crafted(const char *shared) {
    char path[4096];
    snprintf(path, sizeof path, "%s/models/person_detect/model.tflite", shared);
    file_t pd = read_file(path);
    CHECK(pd.b != NULL);
    if (!pd.b) return;
    char err[KILN_ERRLEN];
    CHECK_EQ_INT(load(pd, err, sizeof err), KILN_OK);

    /* Root offset past the end. */
    {
        file_t c = copy_of(pd);
        put32(c.b, (uint32_t)pd.n + 64);
        CHECK_EQ_INT(load(c, err, sizeof err), KILN_ERR_MODEL);
        CHECK_MSG(strstr(err, "root table offset") != NULL, "root offset: '%s'", err);
        free(c.b);
    }

    kiln__fbt t, op;
    /* Find a constant tensor (conv filter) and a non-constant one. */
    int cst = -1, act = -1;
    int32_t perchan_t = -1;
    kiln_model *m = NULL;
    CHECK_EQ_INT(kiln_model_load(pd.b, pd.n, "pd", NULL, &m, err, sizeof err), KILN_OK);
    if (!m) return;
    for (int32_t i = 0; i < m->subgraphs[0].n_tensors; i++) {
        const kiln__tensor_def *td = &m->subgraphs[0].tensors[i];
        if (td->rank != 4) continue;
        if (td->data && cst < 0) cst = i;
        if (!td->data && act < 0) act = i;
        if (td->data && td->q.n > 1 && perchan_t < 0) perchan_t = i;
    }
    kiln_model_destroy(m);
    CHECK(cst >= 0 && act >= 0);
    if (cst < 0 || act < 0) {
        free(pd.b);
        return;
    }

    /* Tensor buffer index out of range. */
    sg0_elem(pd, 0, (uint32_t)cst, &t);
    {
        kiln__fb fb = {pd.b, pd.n};
        expect_patch(pd, kiln__fb_field(&fb, &t, 2, 4), 99999, "refers to buffer 99999",
                     "buffer index out of range");
    }
    /* A constant's shape larger than its buffer. */
    expect_patch(pd, vec_elem(pd, &t, 0, 0), 7, "bytes but buffer", "const shape > buffer");
    /* Negative dimension. */
    expect_patch(pd, vec_elem(pd, &t, 0, 1), (uint32_t)-5, "is -5", "negative dim");
    /* Overflowing dims on an activation. */
    sg0_elem(pd, 0, (uint32_t)act, &t);
    {
        file_t c = copy_of(pd);
        for (uint32_t d = 0; d < 4; d++)
            put32(c.b + vec_elem(pd, &t, 0, d), 0x7fffffff);
        kiln_status s = load(c, err, sizeof err);
        CHECK_MSG(s == KILN_ERR_MODEL && strstr(err, "2^40"), "overflowing dims: '%s'", err);
        free(c.b);
    }
    /* Operator fields: opcode index, input index, output = input. */
    CHECK(sg0_elem(pd, 3, 0, &op) == 0);
    {
        kiln__fb fb = {pd.b, pd.n};
        size_t oc = kiln__fb_field(&fb, &op, 0, 4);
        expect_patch(pd, oc, 77, "opcode_index 77", "opcode index out of range");
    }
    expect_patch(pd, vec_elem(pd, &op, 1, 0), 97, "refers to tensor 97", "input out of range");
    {
        size_t in0 = vec_elem(pd, &op, 1, 0);
        uint32_t in_t = kiln__rd32(pd.b + in0);
        expect_patch(pd, vec_elem(pd, &op, 2, 0), in_t, "is also its input", "op writes input");
    }
    /* A per-channel tensor with an out-of-range quantized dimension and a NaN scale. */
    if (perchan_t >= 0) {
        sg0_elem(pd, 0, (uint32_t)perchan_t, &t);
        kiln__fb fb = {pd.b, pd.n};
        size_t qpos;
        kiln__fbt q;
        kiln__fb_ref(&fb, &t, 4, &qpos);
        kiln__fb_table(&fb, qpos, &q);
        expect_patch(pd, kiln__fb_field(&fb, &q, 6, 4), 7, "quantized_dimension 7",
                     "quantized dimension out of range");
        size_t sf;
        uint32_t ns;
        kiln__fb_vec(&fb, &q, 2, 4, &sf, &ns);
        expect_patch(pd, sf, 0x7fc00000u, "must be finite", "NaN scale");
        expect_patch(pd, sf - 4, 0x7fffffffu, "malformed quantization",
                     "scale vector length overflow");
    }
    /* Subgraph input out of range, schema version. */
    {
        kiln__fb fb = {pd.b, pd.n};
        kiln__fbt root, sg;
        size_t first;
        uint32_t n;
        root_table(pd, &root);
        kiln__fb_vec(&fb, &root, 2, 4, &first, &n);
        kiln__fb_vec_table(&fb, first, 0, &sg);
        expect_patch(pd, vec_elem(pd, &sg, 1, 0), 5000, "refers to tensor 5000",
                     "subgraph input out of range");
        expect_patch(pd, kiln__fb_field(&fb, &root, 0, 4), 2, "schema version 2", "schema version");
        /* A vtable offset that points outside the file. */
        expect_patch(pd, sg.pos, 0x40000000u, "malformed", "vtable outside the file");
    }
    /* Empty and tiny files. */
    file_t tiny = {pd.b, 7};
    CHECK_EQ_INT(load(tiny, err, sizeof err), KILN_ERR_MODEL);
    CHECK(strstr(err, "too small") != NULL);
    free(pd.b);
}

/* Under AddressSanitizer every invoke costs several times more: the same sweeps run with fewer
 * runs (every cut is still loaded; fewer of them and fewer bit-flipped copies are executed). */
#if defined(__SANITIZE_ADDRESS__)
#define KILN_SWEEP_SCALE 4
#else
#define KILN_SWEEP_SCALE 1
#endif

/* Truncations and bit flips of one model: all must be clean errors or valid runs. */
static int mutate(const char *path, uint32_t seed, int flips) {
    file_t f = read_file(path);
    if (!f.b) return 0;
    int cases = 0;
    const size_t step = f.n <= 4096 ? 1 : f.n / 1500;
    int cut = 0;
    for (size_t len = 0; len < f.n; len += step, cut++) {
        file_t c = {f.b, len};
        /* Every cut is loaded; every 16th also goes through create and invoke (a cut that
         * still loads is rare, so this keeps the sweep fast without losing coverage). */
        if (cut % (16 * KILN_SWEEP_SCALE) == 0) kiln_fuzz_one(c.b, c.n);
        char err[KILN_ERRLEN];
        kiln_model *m = NULL;
        kiln_status s = kiln_model_load(c.b, c.n, "t.tflite", NULL, &m, err, sizeof err);
        /* A file cut short anywhere must be rejected (its end holds data the root refers to),
         * except where only trailing padding was cut. */
        if (s == KILN_OK)
            kiln_model_destroy(m);
        else
            CHECK_MSG(strlen(err) > 0 && !strchr(err, '\n'), "%s cut at %zu: bad message", path,
                      len);
        cases++;
    }
    uint64_t st = seed * 2654435761u + 1;
    for (int k = 0; k < flips; k++) {
        file_t c = copy_of(f);
        for (int j = 0; j < 1 + k % 4; j++) {
            st = st * 6364136223846793005ull + 1442695040888963407ull;
            size_t pos = (size_t)((st >> 33) % c.n);
            c.b[pos] ^= (uint8_t)(1u << ((st >> 20) & 7));
            if (k % 7 == 0) c.b[pos] = (uint8_t)(st >> 40); /* sometimes a whole byte */
        }
        kiln_fuzz_one(c.b, c.n);
        free(c.b);
        cases++;
    }
    free(f.b);
    return cases;
}

static int replay_corpus(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int n = 0;
    char path[8192];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        file_t f = read_file(path);
        if (!f.b) continue;
        kiln_fuzz_one(f.b, f.n);
        free(f.b);
        n++;
    }
    closedir(d);
    return n;
}

/* A model whose WHILE operator names subgraphs `cond` and `body` (TFLite has crashed on a
 * WHILE that calls itself): must be a clean error. */
static void control_flow(int32_t cond, int32_t body, const char *want) {
    kiln_tfl_writer *w;
    CHECK(kiln_tfl_writer_create(&w) == KILN_OK);
    const int32_t sg = kiln_tfl_add_subgraph(w, "main");
    const int32_t sg1 = kiln_tfl_add_subgraph(w, "other");
    const int32_t dims[1] = {1};
    kiln_tfl_tensor t = {0};
    t.type = KILN_INT32;
    t.rank = 1;
    t.shape = dims;
    const int32_t a = kiln_tfl_add_tensor(w, sg, &t), b = kiln_tfl_add_tensor(w, sg, &t);
    const int32_t c = kiln_tfl_add_tensor(w, sg1, &t), d = kiln_tfl_add_tensor(w, sg1, &t);
    kiln_tfl_opt o[2] = {{0}, {0}};
    o[0].id = 0, o[0].type = KILN_TFL_OPT_I32, o[0].i = cond;
    o[1].id = 1, o[1].type = KILN_TFL_OPT_I32, o[1].i = body;
    kiln_tfl_op op = {0};
    op.opcode = kiln_tfl_add_opcode(w, KILN_OP_WHILE, 1, NULL);
    op.inputs = &a;
    op.n_inputs = 1;
    op.outputs = &b;
    op.n_outputs = 1;
    op.opts_type = KILN_OPTS_WhileOptions;
    op.opts = o;
    op.n_opts = 2;
    kiln_tfl_add_operator(w, sg, &op);
    kiln_tfl_set_subgraph_io(w, sg, &a, 1, &b, 1);
    kiln_tfl_set_subgraph_io(w, sg1, &c, 1, &d, 1);
    uint8_t *bytes = NULL;
    size_t len = 0;
    CHECK(kiln_tfl_writer_finish(w, &bytes, &len) == KILN_OK);
    kiln_tfl_writer_destroy(w);
    if (!bytes) return;
    file_t f = {bytes, len};
    char err[KILN_ERRLEN];
    kiln_status st = load(f, err, sizeof err);
    CHECK_MSG(st == KILN_ERR_MODEL && strstr(err, want), "WHILE(%d, %d): status %d '%s'", cond,
              body, st, err);
    free(bytes);
}

int main(void) {
    const char *tests = getenv("KILN_TESTS");
    char path[4096];
    snprintf(path, sizeof path, "%s/../fuzz/corpus", tests ? tests : "tests");
    int replayed = replay_corpus(path);
    printf("fuzz corpus: %d files replayed\n", replayed);
    CHECK(replayed > 0);
    control_flow(0, 0, "calls subgraph 0 recursively");
    control_flow(1, 7, "refers to subgraph 7, only 2 subgraphs");
    control_flow(-1, 1, "refers to subgraph -1");

    const char *shared = test_shared_dir();
    if (!shared) {
        printf("SKIP: ../shared is absent: real-model loader cases skipped\n");
        return test_done();
    }
    static const char *models[] = {"hello_world_float", "hello_world_int8",
                                   "person_detect",     "micro_speech_quantized",
                                   "dilated_conv",      "conv0",
                                   "transpose_conv0",   "sub0",
                                   "strided_slice0",    "add0",
                                   "quantize0",         "pad0"};
    int cases = 0;
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        snprintf(path, sizeof path, "%s/models/%s/model.tflite", shared, models[i]);
        file_t f = read_file(path);
        char err[KILN_ERRLEN];
        CHECK_MSG(f.b && load(f, err, sizeof err) == KILN_OK, "%s: %s", models[i], err);
        cases += mutate(path, (uint32_t)i + 1, (f.n > 100000 ? 40 : 250) / KILN_SWEEP_SCALE);
        free(f.b);
    }
    printf("mutated cases: %d\n", cases);
    CHECK(cases > 3000);
    crafted(shared);
    return test_done();
}
