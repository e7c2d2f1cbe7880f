/* test_builder.c: Kiln's FlatBuffers builder (src/fb) and .tflite writer (src/convert): layout
 * facts read back with an independent mini reader, round trips through our loader and
 * interpreter, determinism, 16-byte buffer alignment, errors, and flatc's own verification. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "convert/tfl_writer.h"
#include "fb/builder.h"
#include "kernels/ops.h"
#include "kiln/kiln_rt.h"
#include "rt/model.h"
#include "test.h"

/* ---- a minimal reader, independent of src/rt, for checking layout facts ------------------- */

static uint32_t rd32(const uint8_t *b, size_t o) {
    return (uint32_t)b[o] | (uint32_t)b[o + 1] << 8 | (uint32_t)b[o + 2] << 16 |
           (uint32_t)b[o + 3] << 24;
}
static uint16_t rd16(const uint8_t *b, size_t o) {
    return (uint16_t)(b[o] | b[o + 1] << 8);
}

/* Position of field `id` of the table at `t`, or 0 when absent. */
static size_t fld(const uint8_t *b, size_t t, int id) {
    size_t vt = (size_t)((int64_t)t - (int32_t)rd32(b, t));
    uint16_t vlen = rd16(b, vt);
    if ((size_t)(4 + 2 * id) >= vlen) return 0;
    uint16_t o = rd16(b, vt + 4 + 2 * (size_t)id);
    return o ? t + o : 0;
}
static size_t deref(const uint8_t *b, size_t pos) {
    return pos + rd32(b, pos);
}
static size_t vtable_of(const uint8_t *b, size_t t) {
    return (size_t)((int64_t)t - (int32_t)rd32(b, t));
}
/* Element i (a table or string) of the vector of offsets at field `id` of table t. */
static size_t vec_elem(const uint8_t *b, size_t t, int id, uint32_t i, uint32_t *n) {
    size_t f = fld(b, t, id);
    if (!f) {
        *n = 0;
        return 0;
    }
    size_t v = deref(b, f);
    *n = rd32(b, v);
    return i < *n ? deref(b, v + 4 + 4 * (size_t)i) : 0;
}

/* ---- builder-level tests ------------------------------------------------------------------ */

static void test_builder_basics(void) {
    kiln_fb_builder *b = NULL;
    CHECK(kiln_fb_builder_create(16, &b) == KILN_OK);
    kiln_fb_ref s = kiln_fb_create_string(b, "hello");
    int32_t iv[3] = {7, -8, 9};
    kiln_fb_ref v = kiln_fb_create_vec_i32(b, iv, 3);
    uint8_t raw[5] = {1, 2, 3, 4, 5};
    kiln_fb_ref d = kiln_fb_create_vec_bytes(b, raw, 5, 16);
    /* Two tables with the same field layout share one vtable (as in FlatBuffers, the layout
     * includes alignment padding, so keep both 4-byte aligned here). */
    kiln_fb_table_start(b);
    kiln_fb_add_i32(b, 0, 42, 0);
    kiln_fb_add_i32(b, 1, 5, 1);
    kiln_fb_ref t1 = kiln_fb_table_end(b);
    kiln_fb_table_start(b);
    kiln_fb_add_i32(b, 0, 43, 0);
    kiln_fb_add_i32(b, 1, 6, 1);
    kiln_fb_ref t2 = kiln_fb_table_end(b);
    kiln_fb_ref kids[2] = {t1, t2};
    kiln_fb_ref kv = kiln_fb_create_vec_refs(b, kids, 2);
    kiln_fb_table_start(b);
    kiln_fb_add_ref(b, 0, s);
    kiln_fb_add_ref(b, 1, v);
    kiln_fb_add_ref(b, 2, d);
    kiln_fb_add_ref(b, 3, kv);
    kiln_fb_add_i32(b, 4, 7, 7);          /* equals the default: omitted */
    kiln_fb_add_scalar_force(b, 5, 0, 4); /* forced: present although 0 */
    kiln_fb_add_union(b, 6, 3, t1);
    kiln_fb_add_f32(b, 8, 1.5f, 0.0f);
    kiln_fb_add_i64(b, 9, -5, 0);
    kiln_fb_ref root = kiln_fb_table_end(b);
    CHECK(kiln_fb_finish(b, root, "TEST") == KILN_OK);
    size_t len = 0;
    const uint8_t *buf = kiln_fb_data(b, &len);
    CHECK(buf != NULL);
    if (!buf) {
        kiln_fb_builder_destroy(b);
        return;
    }
    CHECK(((uintptr_t)buf & 15) == 0);
    CHECK(len % 8 == 0);
    CHECK(!memcmp(buf + 4, "TEST", 4));
    size_t r = rd32(buf, 0);
    size_t sp = deref(buf, fld(buf, r, 0));
    CHECK_EQ_INT(rd32(buf, sp), 5);
    CHECK(!memcmp(buf + sp + 4, "hello", 6)); /* includes the NUL */
    size_t vp = deref(buf, fld(buf, r, 1));
    CHECK_EQ_INT(rd32(buf, vp), 3);
    CHECK_EQ_INT((int32_t)rd32(buf, vp + 8), -8);
    size_t dp = deref(buf, fld(buf, r, 2));
    CHECK_EQ_INT(rd32(buf, dp), 5);
    CHECK_EQ_INT((dp + 4) % 16, 0); /* force_align 16 */
    CHECK(!memcmp(buf + dp + 4, raw, 5));
    uint32_t n;
    size_t a = vec_elem(buf, r, 3, 0, &n), c = vec_elem(buf, r, 3, 1, &n);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_INT((int32_t)rd32(buf, fld(buf, a, 0)), 42);
    CHECK_EQ_INT((int32_t)rd32(buf, fld(buf, c, 0)), 43);
    CHECK_EQ_INT(rd32(buf, fld(buf, c, 1)), 6);
    CHECK(fld(buf, a, 2) == 0);
    CHECK_EQ_INT(vtable_of(buf, a), vtable_of(buf, c)); /* dedup */
    CHECK(fld(buf, r, 4) == 0);
    CHECK(fld(buf, r, 5) != 0);
    CHECK_EQ_INT(buf[fld(buf, r, 6)], 3);
    CHECK_EQ_INT(deref(buf, fld(buf, r, 7)), a);
    float f;
    memcpy(&f, buf + fld(buf, r, 8), 4);
    CHECK(f == 1.5f);
    CHECK_EQ_INT(fld(buf, r, 9) % 8, 0);
    int64_t i64;
    memcpy(&i64, buf + fld(buf, r, 9), 8);
    CHECK_EQ_INT(i64, -5);

    /* Release hands over the bytes unchanged. */
    uint8_t *copy = malloc(len);
    memcpy(copy, buf, len);
    size_t rl = 0;
    uint8_t *rel = kiln_fb_release(b, &rl);
    CHECK(rel && rl == len && !memcmp(rel, copy, len));
    free(rel);
    free(copy);
    kiln_fb_builder_destroy(b);
}

static void test_builder_errors(void) {
    kiln_fb_builder *b = NULL;
    CHECK(kiln_fb_builder_create(0, &b) == KILN_OK);
    kiln_fb_table_start(b);
    kiln_fb_create_string(b, "x"); /* not allowed inside a table */
    CHECK(kiln_fb_status(b) == KILN_ERR_STATE);
    CHECK(strstr(kiln_fb_error(b), "while a table is open") != NULL);
    CHECK(kiln_fb_table_end(b) == 0); /* sticky */
    CHECK(kiln_fb_finish(b, 1, NULL) == KILN_ERR_STATE);
    size_t len = 1;
    CHECK(kiln_fb_data(b, &len) == NULL && len == 0);

    kiln_fb_builder_reset(b);
    kiln_fb_table_start(b);
    kiln_fb_add_i32(b, 1, 5, 0);
    kiln_fb_add_i32(b, 1, 6, 0);
    CHECK(kiln_fb_status(b) == KILN_ERR_ARG && strstr(kiln_fb_error(b), "added twice"));

    kiln_fb_builder_reset(b);
    kiln_fb_table_start(b);
    kiln_fb_table_start(b);
    CHECK(kiln_fb_status(b) == KILN_ERR_STATE);

    kiln_fb_builder_reset(b);
    CHECK(kiln_fb_finish(b, 12345, NULL) == KILN_ERR_ARG);

    kiln_fb_builder_reset(b);
    kiln_fb_ref bad[1] = {999};
    kiln_fb_create_vec_refs(b, bad, 1);
    CHECK(kiln_fb_status(b) == KILN_ERR_ARG);

    kiln_fb_builder_reset(b);
    kiln_fb_create_vec_bytes(b, "abc", 3, 3);
    CHECK(kiln_fb_status(b) == KILN_ERR_ARG && strstr(kiln_fb_error(b), "power of two"));

    /* Growth: many strings force several reallocations; content stays right. */
    kiln_fb_builder_reset(b);
    kiln_fb_ref refs[2000];
    char s[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(s, sizeof s, "string number %d", i);
        refs[i] = kiln_fb_create_string(b, s);
    }
    kiln_fb_ref v = kiln_fb_create_vec_refs(b, refs, 2000);
    kiln_fb_table_start(b);
    kiln_fb_add_ref(b, 0, v);
    kiln_fb_ref root = kiln_fb_table_end(b);
    CHECK(kiln_fb_finish(b, root, NULL) == KILN_OK);
    const uint8_t *buf = kiln_fb_data(b, &len);
    CHECK(buf != NULL);
    if (buf) {
        uint32_t n;
        size_t e = vec_elem(buf, rd32(buf, 0), 0, 1234, &n);
        CHECK_EQ_INT(n, 2000);
        CHECK(e && !strcmp((const char *)buf + e + 4, "string number 1234"));
    }
    kiln_fb_builder_destroy(b);
    kiln_fb_builder_destroy(NULL);
}

/* ---- writer: a small model with every feature ----------------------------------------------- */

static const float k_w[6] = {0.5f, -1.0f, 2.0f, 0.25f, -0.75f, 1.5f};

/* ADD(x, k) with fused RELU, plus an unused constant that shares k's buffer and an int8
 * per-channel tensor, a GELU opcode (code > 127), a signature, metadata and a description. */
static kiln_status build_model(uint8_t **bytes, size_t *len, char *err, size_t errlen) {
    kiln_tfl_writer *w = NULL;
    kiln_status s = kiln_tfl_writer_create(&w);
    if (s != KILN_OK) return s;
    int32_t sg = kiln_tfl_add_subgraph(w, "main");
    int32_t shp[2] = {2, 3}, sig[2] = {-1, 3};
    int32_t b1 = kiln_tfl_add_buffer(w, k_w, sizeof k_w);
    int32_t b2 = kiln_tfl_add_buffer(w, k_w, sizeof k_w); /* same bytes: shared */
    int8_t q8[6] = {1, -2, 3, -4, 5, -6};
    int32_t b3 = kiln_tfl_add_buffer(w, q8, sizeof q8);
    float scales[2] = {0.5f, 0.25f};
    int64_t zps[2] = {0, 0};
    int32_t x = kiln_tfl_add_tensor(
        w, sg,
        &(kiln_tfl_tensor){
            .name = "x", .type = KILN_FLOAT32, .rank = 2, .shape = shp, .shape_signature = sig});
    int32_t k = kiln_tfl_add_tensor(
        w, sg,
        &(kiln_tfl_tensor){
            .name = "k", .type = KILN_FLOAT32, .rank = 2, .shape = shp, .buffer = b1});
    kiln_tfl_add_tensor(
        w, sg,
        &(kiln_tfl_tensor){
            .name = "k_again", .type = KILN_FLOAT32, .rank = 2, .shape = shp, .buffer = b2});
    kiln_tfl_add_tensor(w, sg,
                        &(kiln_tfl_tensor){.name = "q",
                                           .type = KILN_INT8,
                                           .rank = 2,
                                           .shape = shp,
                                           .buffer = b3,
                                           .num_quant = 2,
                                           .scale = scales,
                                           .zero_point = zps,
                                           .quantized_dimension = 0});
    int32_t y = kiln_tfl_add_tensor(
        w, sg, &(kiln_tfl_tensor){.name = "y", .type = KILN_FLOAT32, .rank = 2, .shape = shp});
    int32_t add = kiln_tfl_add_opcode(w, KILN_OP_ADD, 1, NULL);
    kiln_tfl_add_opcode(w, KILN_OP_GELU, 1, NULL);
    int32_t add2 = kiln_tfl_add_opcode(w, KILN_OP_ADD, 1, NULL);      /* deduplicated */
    kiln_tfl_opt opts[1] = {kiln_tfl_opt_int(0, KILN_TFL_OPT_I8, 1)}; /* RELU */
    int32_t ins[2] = {x, k};
    kiln_tfl_add_operator(w, sg,
                          &(kiln_tfl_op){.opcode = add,
                                         .inputs = ins,
                                         .n_inputs = 2,
                                         .outputs = &y,
                                         .n_outputs = 1,
                                         .opts_type = KILN_OPTS_AddOptions,
                                         .opts = opts,
                                         .n_opts = 1});
    kiln_tfl_set_subgraph_io(w, sg, &x, 1, &y, 1);
    const char *in_names[1] = {"input"}, *out_names[1] = {"output"};
    kiln_tfl_add_signature(w, "serving_default", sg, in_names, &x, 1, out_names, &y, 1);
    kiln_tfl_add_metadata(w, "min_runtime_version", "1.5.0\0\0\0\0\0\0\0\0\0\0", 16);
    kiln_tfl_set_description(w, "test_builder model");
    s = kiln_tfl_writer_finish(w, bytes, len);
    if (s != KILN_OK) snprintf(err, errlen, "%s", kiln_tfl_writer_error(w));
    if (b1 != b2 || b3 == b1 || add != add2) s = KILN_ERR_STATE;
    kiln_tfl_writer_destroy(w);
    return s;
}

static void test_writer_layout(const uint8_t *buf, size_t len) {
    CHECK(!memcmp(buf + 4, "TFL3", 4));
    size_t m = rd32(buf, 0);
    CHECK_EQ_INT(rd32(buf, fld(buf, m, 0)), 3); /* schema version */
    uint32_t n;
    /* buffers: 0 = empty sentinel, 1 = k (shared), 2 = q, 3 = metadata */
    size_t b0 = vec_elem(buf, m, 4, 0, &n);
    CHECK_EQ_INT(n, 4);
    CHECK(fld(buf, b0, 0) == 0);
    for (uint32_t i = 1; i < n; i++) {
        size_t bi = vec_elem(buf, m, 4, i, &n);
        size_t dv = deref(buf, fld(buf, bi, 0));
        CHECK_MSG((dv + 4) % 16 == 0, "buffer %u data at offset %zu is not 16-byte aligned", i,
                  dv + 4);
        CHECK(dv + 4 + rd32(buf, dv) <= len);
    }
    size_t b1 = vec_elem(buf, m, 4, 1, &n);
    CHECK(!memcmp(buf + deref(buf, fld(buf, b1, 0)) + 4, k_w, sizeof k_w));
    /* operator codes: ADD (all fields default: none written) and GELU (150 > 127) */
    size_t c0 = vec_elem(buf, m, 1, 0, &n), c1 = vec_elem(buf, m, 1, 1, &n);
    CHECK_EQ_INT(n, 2);
    CHECK(fld(buf, c0, 0) == 0 && fld(buf, c0, 2) == 0 && fld(buf, c0, 3) == 0);
    CHECK_EQ_INT((int8_t)buf[fld(buf, c1, 0)], 127); /* deprecated_builtin_code */
    CHECK_EQ_INT(rd32(buf, fld(buf, c1, 3)), 150);
    /* metadata 0 -> buffer 3 */
    size_t md = vec_elem(buf, m, 6, 0, &n);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_INT(rd32(buf, fld(buf, md, 1)), 3);
    /* tensor q: quantization with 2 scales, zero points as int64 */
    size_t sg = vec_elem(buf, m, 2, 0, &n);
    size_t tq = vec_elem(buf, sg, 0, 3, &n);
    CHECK_EQ_INT(n, 5);
    size_t qp = deref(buf, fld(buf, tq, 4));
    size_t zv = deref(buf, fld(buf, qp, 3));
    CHECK_EQ_INT(rd32(buf, zv), 2);
    CHECK_EQ_INT((zv + 4) % 8, 0);
    CHECK_EQ_INT(buf[fld(buf, tq, 1)], KILN_INT8);
}

static void test_writer_roundtrip(const uint8_t *bytes, size_t len) {
    char err[KILN_ERRLEN] = "";
    kiln_model *m = NULL;
    kiln_status s = kiln_model_load(bytes, len, "built.tflite", NULL, &m, err, sizeof err);
    CHECK_MSG(s == KILN_OK, "load: %s", err);
    if (s != KILN_OK) return;
    CHECK_EQ_INT(kiln_model_num_subgraphs(m), 1);
    CHECK_EQ_INT(kiln_model_schema_version(m), 3);
    CHECK_EQ_INT(kiln_model_num_signatures(m), 1);
    CHECK(kiln_model_signature_key(m, 0) &&
          !strcmp(kiln_model_signature_key(m, 0), "serving_default"));
    CHECK(kiln_model_description(m) && !strcmp(kiln_model_description(m), "test_builder model"));
    CHECK_EQ_INT(m->n_opcodes, 2);
    if (m->n_opcodes == 2) CHECK_EQ_INT(m->opcodes[1].builtin, KILN_OP_GELU);
    CHECK_EQ_INT(m->n_buffers, 4);
    CHECK_EQ_INT(m->n_metadata, 1);
    const kiln__subgraph_def *g = &m->subgraphs[0];
    CHECK_EQ_INT(g->n_tensors, 5);
    if (g->n_tensors == 5) {
        CHECK(g->tensors[0].has_signature && g->tensors[0].sig[0] == -1);
        CHECK(g->tensors[1].data == g->tensors[2].data); /* one shared buffer */
        CHECK(((uintptr_t)g->tensors[1].data - (uintptr_t)bytes) % 16 == 0);
        CHECK_EQ_INT(g->tensors[3].q.n, 2);
        if (g->tensors[3].q.n == 2) CHECK(g->tensors[3].q.scale[1] == 0.25f);
        CHECK(!strcmp(g->tensors[4].name, "y"));
    }

    kiln_interp *it = NULL;
    s = kiln_interp_create(m, NULL, &it, err, sizeof err);
    CHECK_MSG(s == KILN_OK, "interp: %s", err);
    if (s == KILN_OK) {
        kiln_tensor_info ti, to;
        CHECK(kiln_interp_input(it, 0, &ti) == KILN_OK && ti.bytes == 24);
        const float xin[6] = {1, 1, -3, 0, 0, -2};
        memcpy(ti.data, xin, sizeof xin);
        CHECK(kiln_interp_invoke(it) == KILN_OK);
        CHECK(kiln_interp_output(it, 0, &to) == KILN_OK);
        const float *y = to.data;
        for (int i = 0; i < 6; i++) {
            float want = xin[i] + k_w[i];
            CHECK_NEAR(y[i], want > 0 ? want : 0, 0);
        }
        CHECK(kiln_interp_input_alias(it, 0) == NULL ||
              !strcmp(kiln_interp_input_alias(it, 0), "input"));
    }
    kiln_interp_destroy(it);
    kiln_model_destroy(m);
}

static void test_writer_errors(void) {
    kiln_tfl_writer *w = NULL;
    int32_t shp[1] = {4};
    float data[3] = {1, 2, 3};
    uint8_t *bytes = (uint8_t *)1;
    size_t len = 1;

    /* Shape needs 16 bytes, buffer has 12. */
    kiln_tfl_writer_create(&w);
    int32_t sg = kiln_tfl_add_subgraph(w, NULL);
    int32_t b = kiln_tfl_add_buffer(w, data, sizeof data);
    kiln_tfl_add_tensor(w, sg,
                        &(kiln_tfl_tensor){.name = "c", .rank = 1, .shape = shp, .buffer = b});
    CHECK(kiln_tfl_writer_finish(w, &bytes, &len) == KILN_ERR_ARG);
    CHECK(bytes == NULL && len == 0);
    CHECK_MSG(strstr(kiln_tfl_writer_error(w), "tensor 0 (c): shape needs 16 bytes") != NULL, "%s",
              kiln_tfl_writer_error(w));
    kiln_tfl_writer_destroy(w);

    /* Operator input out of range. */
    kiln_tfl_writer_create(&w);
    sg = kiln_tfl_add_subgraph(w, NULL);
    int32_t t = kiln_tfl_add_tensor(w, sg, &(kiln_tfl_tensor){.rank = 1, .shape = shp});
    int32_t oc = kiln_tfl_add_opcode(w, KILN_OP_RELU, 1, NULL);
    int32_t in[1] = {7};
    kiln_tfl_add_operator(
        w, sg,
        &(kiln_tfl_op){.opcode = oc, .inputs = in, .n_inputs = 1, .outputs = &t, .n_outputs = 1});
    CHECK(kiln_tfl_writer_finish(w, &bytes, &len) == KILN_ERR_ARG);
    CHECK_MSG(strstr(kiln_tfl_writer_error(w), "operator input 0 refers to tensor 7, only 1") !=
                  NULL,
              "%s", kiln_tfl_writer_error(w));
    kiln_tfl_writer_destroy(w);

    /* Per-channel scales that do not match the quantized dimension. */
    kiln_tfl_writer_create(&w);
    sg = kiln_tfl_add_subgraph(w, NULL);
    float sc[3] = {1, 2, 3};
    kiln_tfl_add_tensor(
        w, sg,
        &(kiln_tfl_tensor){
            .name = "q", .type = KILN_INT8, .rank = 1, .shape = shp, .num_quant = 3, .scale = sc});
    CHECK(kiln_tfl_writer_finish(w, &bytes, &len) == KILN_ERR_ARG);
    CHECK(strstr(kiln_tfl_writer_error(w), "3 scales") != NULL);
    kiln_tfl_writer_destroy(w);

    /* Unknown subgraph, and the error is sticky. */
    kiln_tfl_writer_create(&w);
    CHECK(kiln_tfl_add_tensor(w, 3, &(kiln_tfl_tensor){.rank = 1, .shape = shp}) == -1);
    CHECK(strstr(kiln_tfl_writer_error(w), "subgraph 3 does not exist") != NULL);
    CHECK(kiln_tfl_add_subgraph(w, "x") == -1);
    CHECK(kiln_tfl_writer_finish(w, &bytes, &len) != KILN_OK);
    kiln_tfl_writer_destroy(w);

    /* No subgraph at all. */
    kiln_tfl_writer_create(&w);
    CHECK(kiln_tfl_writer_finish(w, &bytes, &len) == KILN_ERR_ARG);
    kiln_tfl_writer_destroy(w);
    kiln_tfl_writer_destroy(NULL);
}

/* kiln_tfl_writer_save: atomic (tmp + rename); on error no file and the old one untouched. */
static void test_writer_save(void) {
    char dir[] = "/tmp/kiln_test_save.XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    char path[256], bad[256];
    snprintf(path, sizeof path, "%s/m.tflite", dir);
    snprintf(bad, sizeof bad, "%s/no/such/dir/m.tflite", dir);
    int32_t shp[1] = {2};
    for (int round = 0; round < 3; round++) {
        kiln_tfl_writer *w = NULL;
        kiln_tfl_writer_create(&w);
        int32_t sg = kiln_tfl_add_subgraph(w, "main");
        int32_t t = kiln_tfl_add_tensor(w, sg, &(kiln_tfl_tensor){.rank = 1, .shape = shp});
        kiln_tfl_set_subgraph_io(w, sg, &t, 1, &t, 1);
        if (round == 2)
            kiln_tfl_add_tensor(w, sg, &(kiln_tfl_tensor){.rank = 1, .shape = shp, .buffer = 9});
        kiln_status s = kiln_tfl_writer_save(w, round == 1 ? bad : path);
        if (round == 0) CHECK(s == KILN_OK);
        if (round == 1) CHECK(s == KILN_ERR_IO && strstr(kiln_tfl_writer_error(w), "no/such"));
        if (round == 2) CHECK(s == KILN_ERR_ARG);
        kiln_tfl_writer_destroy(w);
    }
    /* The file of round 0 is still there and loads; no .tmp is left behind. */
    FILE *f = fopen(path, "rb");
    static uint8_t buf[4096] __attribute__((aligned(64)));
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    kiln_model *m = NULL;
    char err[KILN_ERRLEN] = "";
    CHECK_MSG(n > 0 && kiln_model_load(buf, n, "m.tflite", NULL, &m, err, sizeof err) == KILN_OK,
              "%s", err);
    kiln_model_destroy(m);
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0);
    remove(path);
    rmdir(dir);
}

/* flatc (Debian flatbuffers-compiler) as an independent verifier: binary -> JSON -> binary. */
static void test_flatc(const uint8_t *bytes, size_t len) {
    if (system("command -v flatc > /dev/null 2>&1") != 0) {
        printf("note: flatc not installed; skipping the flatc check\n");
        return;
    }
    const char *shared = getenv("KILN_SHARED");
    char schema[4096];
    snprintf(schema, sizeof schema, "%s/spec/schema_flatc2.fbs", shared ? shared : "../shared");
    FILE *f = fopen(schema, "r");
    if (!f) {
        printf("note: %s not found; skipping the flatc check\n", schema);
        return;
    }
    fclose(f);
    char dir[] = "/tmp/kiln_test_builder.XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    char path[4300], cmd[13000];
    snprintf(path, sizeof path, "%s/model.tflite", dir);
    f = fopen(path, "wb");
    CHECK(f && fwrite(bytes, 1, len, f) == len);
    if (f) fclose(f);
    snprintf(
        cmd, sizeof cmd,
        "cd %s && flatc --json --strict-json --raw-binary -o %s %s -- model.tflite "
        "> flatc.log 2>&1 && mkdir -p back && flatc -b -o back %s model.json >> flatc.log 2>&1",
        dir, dir, schema, schema);
    int rc = system(cmd);
    CHECK_MSG(rc == 0, "flatc round trip failed (see %s/flatc.log)", dir);
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/model.json", dir);
        f = fopen(path, "r");
        char text[65536];
        size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
        if (f) fclose(f);
        text[n] = 0;
        CHECK(strstr(text, "\"signature_key\": \"serving_default\"") != NULL);
        CHECK(strstr(text, "\"builtin_options_type\": \"AddOptions\"") != NULL);
        CHECK(strstr(text, "\"fused_activation_function\": \"RELU\"") != NULL);
        CHECK(strstr(text, "\"builtin_code\": \"GELU\"") != NULL);
        /* The re-encoded file loads in our loader too. */
        snprintf(path, sizeof path, "%s/back/model.tflite", dir);
        f = fopen(path, "rb");
        static uint8_t back[1 << 16] __attribute__((aligned(64)));
        size_t bn = f ? fread(back, 1, sizeof back, f) : 0;
        if (f) fclose(f);
        CHECK(bn > 0);
        char err[KILN_ERRLEN] = "";
        kiln_model *m = NULL;
        CHECK_MSG(kiln_model_load(back, bn, "flatc.tflite", NULL, &m, err, sizeof err) == KILN_OK,
                  "%s", err);
        kiln_model_destroy(m);
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    }
}

static void *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    void *buf = aligned_alloc(64, 1 << 20);
    *len = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    return buf;
}

/* The same facts seen by our loader in two encodings of one model. */
static int same_model(const kiln_model *a, const kiln_model *b) {
    if (a->n_subgraphs != b->n_subgraphs || a->n_opcodes != b->n_opcodes) return 0;
    for (int32_t i = 0; i < a->n_opcodes; i++)
        if (a->opcodes[i].builtin != b->opcodes[i].builtin ||
            a->opcodes[i].version != b->opcodes[i].version)
            return 0;
    const kiln__subgraph_def *ga = &a->subgraphs[0], *gb = &b->subgraphs[0];
    if (ga->n_tensors != gb->n_tensors || ga->n_ops != gb->n_ops) return 0;
    for (int32_t i = 0; i < ga->n_tensors; i++) {
        const kiln__tensor_def *x = &ga->tensors[i], *y = &gb->tensors[i];
        if (x->type != y->type || x->rank != y->rank || x->data_len != y->data_len ||
            x->q.n != y->q.n || strcmp(x->name, y->name) ||
            (x->data_len && memcmp(x->data, y->data, x->data_len)))
            return 0;
        for (int32_t k = 0; k < x->q.n; k++)
            if (x->q.scale[k] != y->q.scale[k] || x->q.zero_point[k] != y->q.zero_point[k])
                return 0;
    }
    for (int32_t i = 0; i < ga->n_ops; i++)
        if (ga->ops[i].opts_type != gb->ops[i].opts_type || ga->ops[i].n_in != gb->ops[i].n_in)
            return 0;
    return 1;
}

/* The smoke goldens (written by kiln opmodel through this writer) through flatc and back:
 * flatc must accept them, and our loader must see the same model in flatc's re-encoding. */
static void test_flatc_goldens(void) {
    static const char *const cases[] = {
        "add_bcast_relu", "fc_f32_nobias",       "conv_same_s2", "reshape_f32",
        "softmax_f32",    "mean_keepdims",       "add_int16",    "fc_int8_perchannel",
        "maxpool_same",   "conv_int8_perchannel"};
    const char *tests = getenv("KILN_TESTS");
    const char *shared = getenv("KILN_SHARED");
    char schema[2048];
    snprintf(schema, sizeof schema, "%.2000s/spec/schema_flatc2.fbs",
             shared ? shared : "../shared");
    if (system("command -v flatc > /dev/null 2>&1") != 0 || access(schema, R_OK) != 0) return;
    char dir[] = "/tmp/kiln_test_flatc.XXXXXX";
    if (!mkdtemp(dir)) return;
    int checked = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char model[4096], cmd[12000], back[4200];
        snprintf(model, sizeof model, "%.2000s/golden/ops/%s/model.tflite", tests ? tests : "tests",
                 cases[i]);
        if (access(model, R_OK) != 0) continue;
        snprintf(cmd, sizeof cmd,
                 "flatc --json --strict-json --raw-binary -o %s %s -- %s > %s/log 2>&1 && "
                 "flatc -b -o %s/back %s %s/model.json >> %s/log 2>&1",
                 dir, schema, model, dir, dir, schema, dir, dir);
        int rc = system(cmd);
        CHECK_MSG(rc == 0, "flatc round trip of %s failed (see %s/log)", cases[i], dir);
        if (rc != 0) continue;
        snprintf(back, sizeof back, "%s/back/model.tflite", dir);
        size_t la = 0, lb = 0;
        void *a = slurp(model, &la), *b = slurp(back, &lb);
        kiln_model *ma = NULL, *mb = NULL;
        char err[KILN_ERRLEN] = "";
        CHECK_MSG(a && kiln_model_load(a, la, cases[i], NULL, &ma, err, sizeof err) == KILN_OK,
                  "%s", err);
        CHECK_MSG(b && kiln_model_load(b, lb, "flatc", NULL, &mb, err, sizeof err) == KILN_OK,
                  "%s: flatc's re-encoding: %s", cases[i], err);
        if (ma && mb) CHECK_MSG(same_model(ma, mb), "%s: flatc's re-encoding differs", cases[i]);
        kiln_model_destroy(ma);
        kiln_model_destroy(mb);
        free(a);
        free(b);
        checked++;
    }
    if (!checked) printf("note: no smoke goldens found; skipped their flatc check\n");
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
}

int main(void) {
    test_builder_basics();
    test_builder_errors();

    uint8_t *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    char err[KILN_ERRLEN] = "";
    kiln_status s = build_model(&a, &la, err, sizeof err);
    CHECK_MSG(s == KILN_OK, "build: %s", err);
    CHECK(build_model(&b, &lb, err, sizeof err) == KILN_OK);
    /* Determinism: the same calls give the same bytes. */
    CHECK(a && b && la == lb && !memcmp(a, b, la));
    if (a) {
        CHECK(((uintptr_t)a & 63) == 0);
        test_writer_layout(a, la);
        test_writer_roundtrip(a, la);
        test_flatc(a, la);
    }
    free(a);
    free(b);
    test_writer_errors();
    test_writer_save();
    test_flatc_goldens();
    return test_done();
}
