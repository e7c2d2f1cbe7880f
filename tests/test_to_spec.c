/* test_to_spec.c: reading a .tflite back into a graph (kiln/to_spec.h): every Model Garden spec
 * (the LSTM classifier too: UNIDIRECTIONAL_SEQUENCE_LSTM + its last-step STRIDED_SLICE) converted,
 * read back and converted again gives the same bytes; a third-party LSTM reads back and computes
 * the same; unmappable ops, LSTM variants with no layer and quantized models give a clear
 * error. */
#include <stdint.h>

#include "kiln/convert.h"
#include "kiln/to_spec.h"
#include "kiln/train.h"
#include "test.h"

static const char *garden[] = {"autoencoder",         "ds_cnn", "fmnist_cnn",
                               "fmnist_mlp",          "lenet5", "lstm_classifier",
                               "mobilenet_v1_025_96", "resnet8"};

static uint8_t *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = (uint8_t *)malloc(n > 0 ? (size_t)n : 1);
    *len = b ? fread(b, 1, (size_t)n, f) : 0;
    fclose(f);
    return b;
}

/* Non-trivial batch-norm statistics and biases so folding is really exercised. */
static void perturb(const kiln_graph *g, float *p) {
    uint32_t s = 12345;
    for (int32_t i = 0; i < kiln_graph_num_params(g); i++) {
        kiln_param_desc d;
        kiln_graph_param(g, i, &d);
        const int var = !strcmp(d.role, "moving_variance");
        if (!var && strcmp(d.role, "gamma") && strcmp(d.role, "beta") &&
            strcmp(d.role, "moving_mean") && strcmp(d.role, "bias"))
            continue;
        for (int64_t e = 0; e < d.count; e++) {
            s = s * 1664525u + 1013904223u;
            const float u = (float)(s >> 8) / 16777216.0f; /* [0, 1) */
            p[d.offset + e] = var ? 0.2f + 2.0f * u : u - 0.5f;
        }
    }
}

static void round_trip_graph(const char *root, const char *name, const char *text);

static void round_trip(const char *root, const char *name) {
    round_trip_graph(root, name, NULL);
}

/* Layers the Garden models do not use: separable conv, the non-fused activations, padding,
 * concat, pools with padding, embeddings. */
static const char *extra[] = {
    "model extra\n"
    "input x 16 16 3\n"
    "zeropad2d 1 2 0 1\n"
    "sep = separable_conv2d 8 3 padding=same use_bias=false\n"
    "relu6\n"
    "sep2 = separable_conv2d 8 3 strides=2 activation=tanh multiplier=2\n"
    "a = conv2d(sep2) 4 1 activation=leaky_relu alpha=0.1\n"
    "b = conv2d(sep2) 4 1 activation=hard_swish dilation=2 padding=same\n"
    "cat = concat(a, b)\n"
    "avgpool2d 3 strides=2 padding=same\n"
    "d = depthwise_conv2d 3 activation=sigmoid\n"
    "maxpool2d 2 padding=same\n"
    "flatten\n"
    "dense 10 activation=gelu\n"
    "dense 5 activation=softmax\n"
    "loss categorical_crossentropy\n",
    "model emb\n"
    "input ids 8 dtype=int32\n"
    "embedding 50 16\n"
    "reshape 4 32\n"
    "dense 6 relu\n"
    "flatten\n"
    "dense 1 sigmoid\n"
    "loss binary_crossentropy\n",
    /* stacked LSTMs: the whole sequence (no slice) into one that returns its last step */
    "model seq\n"
    "input x 10 6\n"
    "lstm 8 return_sequences\n"
    "last = lstm 5\n"
    "dense 3\n"
    "loss mse\n",
};

static void round_trip_graph(const char *root, const char *name, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/../models/%s.kiln", root, name);
    char err[512] = {0};
    kiln_graph *g = NULL, *g2 = NULL;
    kiln_trainer *t = NULL;
    uint8_t *a = NULL, *b = NULL;
    size_t la = 0, lb = 0;
    char *spec = NULL;
    float *params = NULL;
    int64_t np = 0;
    kiln_train_config cfg;
    kiln_train_config_init(&cfg);
    cfg.batch = 1;
    cfg.seed = 7;
    if (text)
        CHECK_MSG(kiln_graph_parse(text, strlen(text), name, &g, err, sizeof err) == KILN_OK,
                  "%s: %s", name, err);
    else
        CHECK_MSG(kiln_graph_load(path, &g, err, sizeof err) == KILN_OK, "%s: %s", name, err);
    if (!g) return;
    CHECK_MSG(kiln_trainer_create(g, &cfg, &t, err, sizeof err) == KILN_OK, "%s: %s", name, err);
    if (!t) goto done;
    perturb(g, kiln_trainer_params(t));
    CHECK_MSG(kiln_convert_graph(g, kiln_trainer_params(t), NULL, &a, &la, err, sizeof err) ==
                  KILN_OK,
              "%s: convert: %s", name, err);
    if (!a) goto done;
    CHECK_MSG(kiln_tflite_to_spec(a, la, name, &spec, &params, &np, err, sizeof err) == KILN_OK,
              "%s: to_spec: %s", name, err);
    if (!spec) goto done;
    CHECK_MSG(kiln_graph_parse(spec, strlen(spec), name, &g2, err, sizeof err) == KILN_OK,
              "%s: parse back: %s\n%s", name, err, spec);
    if (!g2) goto done;
    CHECK_EQ_INT(np, kiln_graph_param_count(g2));
    CHECK_MSG(kiln_convert_graph(g2, params, NULL, &b, &lb, err, sizeof err) == KILN_OK,
              "%s: convert again: %s", name, err);
    CHECK_MSG(b && la == lb && !memcmp(a, b, la), "%s: round trip differs (%zu vs %zu bytes)\n%s",
              name, la, lb, spec);
    if (getenv("KILN_TO_SPEC_DUMP")) fprintf(stderr, "%s", spec);
    if (text && !strcmp(name, "extra")) {
        /* corrupted or truncated files: an error or a graph, never a crash (run under ASan) */
        uint8_t *m = (uint8_t *)malloc(la);
        int errors = 0;
        for (size_t k = 0; m && k < 400; k++) {
            memcpy(m, a, la);
            const size_t pos = (k * 2654435761u) % la;
            m[pos] ^= (uint8_t)(1u << (k % 8));
            char *sp = NULL;
            float *pp = NULL;
            int64_t n = 0;
            const size_t use = k % 5 == 4 ? pos : la;
            if (kiln_tflite_to_spec(m, use, name, &sp, &pp, &n, err, sizeof err)) {
                errors++;
                CHECK(sp == NULL && pp == NULL && err[0] && !strchr(err, '\n'));
            }
            free(sp);
            free(pp);
        }
        CHECK(errors > 0);
        free(m);
    }
done:
    free(a);
    free(b);
    free(spec);
    free(params);
    kiln_trainer_destroy(t);
    kiln_graph_destroy(g);
    kiln_graph_destroy(g2);
}

/* The file front end: spec + checkpoint, then kiln_convert_file on the checkpoint. */
static void file_round_trip(const char *root) {
    char in[4096], tfl[4096], spec[4096], ck[4096], again[4096], err[512] = {0};
    snprintf(in, sizeof in, "%s/../models/resnet8.kiln", root);
    snprintf(tfl, sizeof tfl, "test_to_spec_%d.tflite", 1);
    snprintf(spec, sizeof spec, "test_to_spec_%d.kiln", 1);
    snprintf(ck, sizeof ck, "test_to_spec_%d.kckpt", 1);
    snprintf(again, sizeof again, "test_to_spec_%d_again.tflite", 1);
    kiln_convert_options o;
    kiln_convert_options_init(&o);
    CHECK_MSG(kiln_convert_file(in, 3, &o, tfl, err, sizeof err) == KILN_OK, "%s", err);
    CHECK_MSG(kiln_tflite_to_spec_file(tfl, spec, ck, err, sizeof err) == KILN_OK, "%s", err);
    CHECK_MSG(kiln_convert_file(ck, 0, &o, again, err, sizeof err) == KILN_OK, "%s", err);
    size_t la = 0, lb = 0;
    uint8_t *a = read_all(tfl, &la), *b = read_all(again, &lb);
    CHECK_MSG(a && b && la == lb && !memcmp(a, b, la), "file round trip differs");
    free(a);
    free(b);
    remove(tfl);
    remove(spec);
    remove(ck);
    remove(again);
}

static void expect_error_at(const char *path, const char *model, const char *want1,
                            const char *want2) {
    char err[1024] = {0};
    size_t len = 0;
    uint8_t *buf = read_all(path, &len);
    CHECK_MSG(buf != NULL, "%s: cannot read", path);
    if (!buf) return;
    char *spec = NULL;
    float *params = NULL;
    int64_t np = 0;
    const kiln_status s =
        kiln_tflite_to_spec(buf, len, model, &spec, &params, &np, err, sizeof err);
    CHECK_MSG(s == KILN_ERR_UNSUPPORTED, "%s: status %d (%s)", model, (int)s, err);
    CHECK_MSG(strstr(err, want1) && (!want2 || strstr(err, want2)) && !strchr(err, '\n'),
              "%s: error '%s' lacks '%s'", model, err, want1);
    CHECK(spec == NULL && params == NULL);
    if (getenv("KILN_TO_SPEC_DUMP")) fprintf(stderr, "%s\n", err);
    free(buf);
}

static void expect_error(const char *shared, const char *model, const char *want1,
                         const char *want2) {
    char path[4096];
    snprintf(path, sizeof path, "%s/models/%s/model.tflite", shared, model);
    expect_error_at(path, model, want1, want2);
}

/* Runs a float model on a fixed input pattern; *out gets the output floats (malloc'd). */
static int run(const uint8_t *buf, size_t len, float **out, size_t *n) {
    kiln_model *m = NULL;
    kiln_interp *it = NULL;
    kiln_tensor_info ti;
    int rc = -1;
    *out = NULL;
    if (kiln_model_load(buf, len, "m", NULL, &m, NULL, 0)) return -1;
    if (kiln_interp_create(m, NULL, &it, NULL, 0)) goto done;
    for (int32_t k = 0; k < kiln_interp_num_inputs(it); k++) {
        if (kiln_interp_input(it, k, &ti) || ti.dtype != KILN_FLOAT32) goto done;
        /* the same pattern in every batch element (the read-back model has batch 1) */
        const size_t per = ti.bytes / 4 / (size_t)(ti.rank > 0 && ti.dims[0] > 0 ? ti.dims[0] : 1);
        for (size_t e = 0; e < ti.bytes / 4; e++)
            ((float *)ti.data)[e] = (float)(((e % per) * 7 + (size_t)k) % 13) / 6.0f - 1.0f;
    }
    if (kiln_interp_invoke(it) || kiln_interp_output(it, 0, &ti)) goto done;
    *out = (float *)malloc(ti.bytes + 4);
    if (!*out) goto done;
    memcpy(*out, ti.data, ti.bytes);
    *n = ti.bytes / 4;
    rc = 0;
done:
    kiln_interp_destroy(it);
    kiln_model_destroy(m);
    return rc;
}

/* A float third-party model whose ops all map reads back, converts, and computes the same. */
static void third_party_at(const char *path, const char *model) {
    char err[1024] = {0};
    size_t len = 0;
    uint8_t *buf = read_all(path, &len);
    if (!buf) return;
    char *spec = NULL;
    float *params = NULL;
    int64_t np = 0;
    kiln_graph *g = NULL;
    uint8_t *out = NULL;
    size_t lo = 0;
    CHECK_MSG(kiln_tflite_to_spec(buf, len, model, &spec, &params, &np, err, sizeof err) == KILN_OK,
              "%s: %s", model, err);
    if (spec && getenv("KILN_TO_SPEC_DUMP")) fprintf(stderr, "%s", spec);
    if (spec) {
        CHECK_MSG(kiln_graph_parse(spec, strlen(spec), model, &g, err, sizeof err) == KILN_OK,
                  "%s: %s", model, err);
        if (g)
            CHECK_MSG(kiln_convert_graph(g, params, NULL, &out, &lo, err, sizeof err) == KILN_OK,
                      "%s: %s", model, err);
    }
    if (out) {
        float *ya = NULL, *yb = NULL;
        size_t na = 0, nb = 0;
        CHECK_MSG(run(buf, len, &ya, &na) == 0 && run(out, lo, &yb, &nb) == 0 && nb > 0 &&
                      na % nb == 0,
                  "%s: cannot run both models", model);
        for (size_t e = 0; ya && yb && e < na && e < nb; e++)
            CHECK_MSG(ya[e] == yb[e], "%s: output %zu: %.9g vs %.9g", model, e, (double)ya[e],
                      (double)yb[e]);
        free(ya);
        free(yb);
    }
    free(out);
    kiln_graph_destroy(g);
    free(spec);
    free(params);
    free(buf);
}

static void third_party(const char *shared, const char *model) {
    char path[4096];
    snprintf(path, sizeof path, "%s/models/%s/model.tflite", shared, model);
    third_party_at(path, model);
}

int main(void) {
    const char *root = getenv("KILN_TESTS");
    if (!root) root = "tests";
    for (size_t k = 0; k < sizeof garden / sizeof garden[0]; k++)
        round_trip(root, garden[k]);
    for (size_t k = 0; k < sizeof extra / sizeof extra[0]; k++)
        round_trip_graph(root, k == 0 ? "extra" : k == 1 ? "emb" : "seq", extra[k]);
    file_round_trip(root);
    /* LSTMs not written by Kiln (tests/golden/rnn, built by kiln opmodel): the basic one (20
     * inputs, batch 2, whole sequence) maps and computes the same; peephole, projection, CIFG,
     * layer norm, clipping and time-major ones are named as unmappable. */
    {
        char path[4096];
        snprintf(path, sizeof path, "%s/golden/rnn/rnn_lstm_f32_basic/model.tflite", root);
        third_party_at(path, "rnn_lstm_f32_basic");
        snprintf(path, sizeof path, "%s/golden/rnn/rnn_lstm_f32_cifg_layernorm/model.tflite", root);
        expect_error_at(path, "rnn_lstm_f32_cifg_layernorm", "UNIDIRECTIONAL_SEQUENCE_LSTM (op 0",
                        "no peephole, projection or layer norm");
        snprintf(path, sizeof path, "%s/golden/rnn/rnn_lstm_f32_peephole_proj_clip/model.tflite",
                 root);
        expect_error_at(path, "rnn_lstm_f32_peephole_proj_clip", "UNIDIRECTIONAL_SEQUENCE_LSTM",
                        NULL);
    }
    /* garbage is an error, not a crash */
    {
        char *spec = NULL;
        float *params = NULL;
        int64_t np = 0;
        char err[256] = {0};
        const uint8_t junk[16] = {1, 2, 3};
        CHECK(kiln_tflite_to_spec(junk, sizeof junk, "junk", &spec, &params, &np, err,
                                  sizeof err) != KILN_OK &&
              err[0]);
    }
    const char *shared = test_shared_dir();
    if (shared) {
        expect_error(shared, "dilated_conv", "SPACE_TO_BATCH_ND (op ", "BATCH_TO_SPACE_ND");
        expect_error(shared, "hello_world_int8", "int8", "quantized");
        const char *env = getenv("KILN_TO_SPEC_MODELS"); /* survey: extra models (space list) */
        third_party(shared, "hello_world_float");
        const char *ops[] = {"avgpool_f32_0", "avgpool_f32_1", "conv_f32_0",    "conv_f32_1",
                             "dwconv_f32_0",  "dwconv_f32_1",  "dwconv_f32_2",  "fc_f32_0",
                             "fc_f32_1",      "fc_f32_2",      "softmax_f32_0", "add_f32_0"};
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            char m[64];
            snprintf(m, sizeof m, "ops/%s", ops[k]);
            third_party(shared, m);
        }
        if (env) {
            char list[4096];
            snprintf(list, sizeof list, "%s", env);
            for (char *tok = strtok(list, " "); tok; tok = strtok(NULL, " "))
                third_party(shared, tok);
        }
    } else {
        fprintf(stderr, "test_to_spec: ../shared absent: skipping the shared-model checks\n");
    }
    return test_done();
}
