/* test_train.c: training on real Fashion-MNIST (short: the accuracy bar is for 10k samples and
 * one epoch), determinism (same seed and threads: bit-identical weights), exact checkpoint
 * resume (after an epoch and mid-epoch), and the error paths a user hits (shapes, spec syntax
 * with file:line:col, labels, NaN, damaged checkpoints). Full-length runs are in bench/. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln/data.h"
#include "kiln/pool.h"
#include "kiln/train.h"
#include "test.h"
#include "train/trainer.h"

#define FMNIST "/usr/share/datasets/fashion-mnist"

static const char *MLP = "model mlp\ninput x 28 28 1\nflatten\ndense 256 relu\ndense 128 relu\n"
                         "dense 10\nloss sparse_categorical_crossentropy from_logits\n";
static const char *CNN = "model cnn\ninput x 28 28 1\nconv2d 32 3 relu padding=same\nmaxpool2d 2\n"
                         "conv2d 64 3 relu padding=same\nmaxpool2d 2\nflatten\ndropout 0.3\n"
                         "dense 10\nloss sparse_categorical_crossentropy from_logits\n";
/* small, with dropout and batch norm, for the exactness checks */
static const char *SMALL = "model small\ninput x 28 28 1\nconv2d 4 3 strides=2 relu\nbatchnorm\n"
                           "flatten\ndropout 0.2\ndense 16 relu\ndense 10\n"
                           "loss sparse_categorical_crossentropy from_logits\n";

static kiln_dataset g_train, g_test;
static char tmpdir[256];

static kiln_graph *parse(const char *spec) {
    char err[512];
    kiln_graph *g = NULL;
    if (kiln_graph_parse(spec, strlen(spec), "test.kiln", &g, err, sizeof err))
        fprintf(stderr, "parse: %s\n", err);
    return g;
}

static int subset(const kiln_dataset *src, int64_t n, kiln_dataset *out) {
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    char err[256];
    int st = kiln_dataset_subset(src, idx, n, out, err, sizeof err);
    free(idx);
    return st;
}

/* trains spec for `epochs` on the first n samples; returns the trainer (caller destroys) */
static kiln_trainer *train(kiln_graph *g, const kiln_dataset *d, int epochs, int batch,
                           uint64_t seed, const kiln_parallel *par, const char *ckpt,
                           kiln_status *st_out) {
    kiln_train_config cfg;
    kiln_train_config_init(&cfg);
    cfg.batch = batch;
    cfg.seed = seed;
    cfg.parallel = par;
    char err[512];
    kiln_trainer *t = NULL;
    if (kiln_trainer_create(g, &cfg, &t, err, sizeof err)) {
        fprintf(stderr, "create: %s\n", err);
        return NULL;
    }
    kiln_fit_options fo;
    kiln_fit_options_init(&fo);
    fo.epochs = epochs;
    fo.batch = batch;
    fo.checkpoint = ckpt;
    kiln_status st = kiln_fit(t, d, NULL, &fo, NULL);
    if (st_out) *st_out = st;
    if (st && !st_out) fprintf(stderr, "fit: %s\n", kiln_trainer_error(t));
    return t;
}

static int same_params(kiln_trainer *a, kiln_trainer *b, int64_t n) {
    return !memcmp(kiln_trainer_params(a), kiln_trainer_params(b), sizeof(float) * (size_t)n);
}

static void test_accuracy(void) {
    kiln_dataset d;
    memset(&d, 0, sizeof d);
    CHECK(subset(&g_train, 10000, &d) == 0);
    kiln_graph *g = parse(MLP);
    kiln_trainer *t = train(g, &d, 1, 64, 1, NULL, NULL, NULL);
    CHECK(t != NULL);
    if (t) {
        double loss, acc;
        CHECK(kiln_evaluate(t, &g_test, &loss, &acc) == KILN_OK);
        printf("MLP, 10k samples, 1 epoch: test accuracy %.4f, loss %.4f\n", acc, loss);
        CHECK_MSG(acc >= 0.75, "MLP accuracy %.4f < 0.75", acc);
        CHECK(loss < 0.8);
    }
    kiln_trainer_destroy(t);
    kiln_graph_destroy(g);
    kiln_dataset_free(&d);

    /* the CNN learns too (short: 3k samples) */
    memset(&d, 0, sizeof d);
    CHECK(subset(&g_train, 3000, &d) == 0);
    g = parse(CNN);
    t = train(g, &d, 1, 64, 1, NULL, NULL, NULL);
    CHECK(t != NULL);
    if (t) {
        kiln_dataset te;
        memset(&te, 0, sizeof te);
        subset(&g_test, 2000, &te);
        double loss, acc;
        CHECK(kiln_evaluate(t, &te, &loss, &acc) == KILN_OK);
        printf("CNN, 3k samples, 1 epoch: accuracy %.4f on 2k test samples\n", acc);
        CHECK_MSG(acc >= 0.65, "CNN accuracy %.4f < 0.65", acc);
        kiln_dataset_free(&te);
    }
    kiln_trainer_destroy(t);
    kiln_graph_destroy(g);
    kiln_dataset_free(&d);
}

static void test_determinism(void) {
    kiln_dataset d;
    memset(&d, 0, sizeof d);
    subset(&g_train, 1500, &d);
    kiln_graph *g = parse(SMALL);
    int64_t P = kiln_graph_param_count(g);
    kiln_trainer *a = train(g, &d, 2, 32, 5, NULL, NULL, NULL);
    kiln_trainer *b = train(g, &d, 2, 32, 5, NULL, NULL, NULL);
    kiln_trainer *c = train(g, &d, 2, 32, 6, NULL, NULL, NULL);
    CHECK(a && b && c);
    if (a && b && c) {
        CHECK_MSG(same_params(a, b, P), "same seed, one thread: weights differ");
        CHECK_MSG(!same_params(a, c, P), "another seed gave the same weights");
    }
    kiln_pool *pool = kiln_pool_create(2);
    CHECK(pool != NULL);
    if (pool) {
        const kiln_parallel *par = kiln_pool_parallel(pool);
        kiln_trainer *p1 = train(g, &d, 2, 32, 5, par, NULL, NULL);
        kiln_trainer *p2 = train(g, &d, 2, 32, 5, par, NULL, NULL);
        CHECK(p1 && p2);
        if (p1 && p2) {
            CHECK_MSG(same_params(p1, p2, P), "same seed, two threads: weights differ");
            /* stronger than required: the thread count does not change the result either */
            if (a) CHECK_MSG(same_params(a, p1, P), "1 vs 2 threads: weights differ");
        }
        kiln_trainer_destroy(p1);
        kiln_trainer_destroy(p2);
        kiln_pool_destroy(pool);
    }
    kiln_trainer_destroy(a);
    kiln_trainer_destroy(b);
    kiln_trainer_destroy(c);
    kiln_graph_destroy(g);
    kiln_dataset_free(&d);
}

typedef struct stopper {
    int stop_after;
    int seen;
    volatile int flag;
} stopper;

static void stop_cb(void *ud, int32_t epoch, int64_t s, int64_t steps, int64_t gs, float l,
                    double ml, double ma, float lr) {
    stopper *sp = ud;
    (void)epoch, (void)s, (void)steps, (void)gs, (void)l, (void)ml, (void)ma, (void)lr;
    if (++sp->seen == sp->stop_after) sp->flag = 1;
}

static void test_resume(void) {
    kiln_dataset d;
    memset(&d, 0, sizeof d);
    subset(&g_train, 1000, &d);
    kiln_graph *g = parse(SMALL);
    int64_t P = kiln_graph_param_count(g);
    char ck[512];
    snprintf(ck, sizeof ck, "%s/resume.kckpt", tmpdir);
    kiln_trainer *full = train(g, &d, 3, 32, 9, NULL, NULL, NULL);

    /* one epoch, checkpoint, a fresh trainer resumes for the other two */
    kiln_trainer *first = train(g, &d, 1, 32, 9, NULL, ck, NULL);
    kiln_trainer_destroy(first);
    kiln_train_config cfg;
    kiln_train_config_init(&cfg);
    cfg.batch = 32;
    cfg.seed = 9;
    char err[512];
    kiln_trainer *r = NULL;
    CHECK(kiln_trainer_create(g, &cfg, &r, err, sizeof err) == KILN_OK);
    CHECK(kiln_trainer_load(r, ck) == KILN_OK);
    kiln_fit_options fo;
    kiln_fit_options_init(&fo);
    fo.epochs = 3;
    fo.batch = 32;
    CHECK(kiln_fit(r, &d, NULL, &fo, NULL) == KILN_OK);
    CHECK(full && r);
    if (full && r) CHECK_MSG(same_params(full, r, P), "resume after an epoch is not exact");
    CHECK_EQ_INT(kiln_trainer_step_count(r), kiln_trainer_step_count(full));
    kiln_trainer_destroy(r);

    /* interrupted mid-epoch (as Ctrl-C does): checkpoint saved, resume is exact */
    stopper sp = {40, 0, 0};
    kiln_trainer *s = NULL;
    CHECK(kiln_trainer_create(g, &cfg, &s, err, sizeof err) == KILN_OK);
    fo.checkpoint = ck;
    fo.stop = &sp.flag;
    fo.cb.ud = &sp;
    fo.cb.step_end = stop_cb;
    kiln_status st = kiln_fit(s, &d, NULL, &fo, NULL);
    CHECK_EQ_INT(st, KILN_ERR_STATE);
    CHECK(strstr(kiln_trainer_error(s), "interrupted") != NULL);
    kiln_trainer_destroy(s);
    s = NULL;
    CHECK(kiln_trainer_create(g, &cfg, &s, err, sizeof err) == KILN_OK);
    CHECK(kiln_trainer_load(s, ck) == KILN_OK);
    CHECK_EQ_INT(kiln_trainer_step_count(s), 40);
    kiln_fit_options_init(&fo);
    fo.epochs = 3;
    fo.batch = 32;
    CHECK(kiln_fit(s, &d, NULL, &fo, NULL) == KILN_OK);
    if (full && s) CHECK_MSG(same_params(full, s, P), "resume mid-epoch is not exact");

    /* the checkpoint knows its spec and weights (for the converter) */
    char *spec = NULL;
    float *w = NULL;
    int64_t n = 0;
    CHECK(kiln_checkpoint_read(ck, &spec, &w, &n, err, sizeof err) == KILN_OK);
    CHECK_EQ_INT(n, P);
    CHECK(spec && !strcmp(spec, SMALL));
    free(spec);
    free(w);

    /* a damaged checkpoint is refused with a clear message */
    FILE *f = fopen(ck, "r+b");
    if (f) {
        fseek(f, 200, SEEK_SET);
        fputc(0x55, f);
        fclose(f);
    }
    CHECK(kiln_trainer_load(s, ck) == KILN_ERR_IO);
    CHECK_MSG(strstr(kiln_trainer_error(s), "checksum") != NULL, "%s", kiln_trainer_error(s));
    /* a checkpoint of another model */
    kiln_graph *g2 = parse(MLP);
    kiln_trainer *o = train(g2, &d, 1, 32, 1, NULL, ck, NULL);
    CHECK(kiln_trainer_load(s, ck) == KILN_ERR_SHAPE);
    CHECK_MSG(strstr(kiln_trainer_error(s), "parameter") != NULL, "%s", kiln_trainer_error(s));
    kiln_trainer_destroy(o);
    kiln_graph_destroy(g2);
    kiln_trainer_destroy(s);
    kiln_trainer_destroy(full);
    kiln_graph_destroy(g);
    kiln_dataset_free(&d);
}

static void expect_parse_error(const char *spec, const char *want) {
    char err[512] = "";
    kiln_graph *g = NULL;
    kiln_status st = kiln_graph_parse(spec, strlen(spec), "bad.kiln", &g, err, sizeof err);
    CHECK_MSG(st != KILN_OK && g == NULL, "accepted: %s", spec);
    CHECK_MSG(strstr(err, want) != NULL, "error '%s' lacks '%s'", err, want);
    kiln_graph_destroy(g);
}

static void test_errors(void) {
    /* shapes: the layer and both shapes are named, before any training */
    expect_parse_error("input x 784\nconv2d 8 3\n",
                       "bad.kiln:2:1: conv2d (conv2d): input shape (None, 784), expected (None, "
                       "height, width, channels)");
    expect_parse_error("input x 8 8 1\nflatten\nh = dense 4\nk = dense(x) 4\nadd(h, k)\n",
                       "bad.kiln:5:1: add (add): input shapes (None, 4) and (None, 8, 8, 4) do "
                       "not match");
    expect_parse_error("input x 4 4 1\nconv2d 2 5\n",
                       "bad.kiln:2:1: conv2d (conv2d): input "
                       "shape (None, 4, 4, 1), expected height >= 5");
    expect_parse_error("input x 10\nreshape 3 4\n", "cannot become (None, 3, 4)");
    /* syntax: file:line:col */
    expect_parse_error("model m\ninput x 28 28 1\nconv2d 8 3 padding=sideways\n",
                       "bad.kiln:3:20: conv2d: bad value 'sideways' for padding");
    expect_parse_error("input x 4\n  dense 4 relu colour=red\n",
                       "bad.kiln:2:16: dense: unknown option 'colour'");
    expect_parse_error("input x 4\n\n# comment\n   densse 4\n", "bad.kiln:4:4: unknown layer "
                                                                "kind 'densse'");
    expect_parse_error("input x 4\ny = dense(z) 4\n", "bad.kiln:2:11: unknown layer 'z'");
    expect_parse_error("input x 4\ndense 4\nloss hinge\n", "bad.kiln:3:6: unknown loss 'hinge'");
    expect_parse_error("dense 4\n", "bad.kiln:1:1: dense: no input");
    expect_parse_error("input x 4\ndense 4 (\n", "bad.kiln:2:9: unexpected '('");
    expect_parse_error("input x 4\ndense 4 units=\n", "bad.kiln:2:14: missing value");
    expect_parse_error("input x 4\ndense\n", "dense (dense): units must be > 0");
    expect_parse_error("input x 4\na = dense 2\na = dense 2\n", "layer name 'a' is used twice");

    /* spec files: the error names the file */
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/bad.kiln", tmpdir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("model m\ninput x 28 28 1\nmaxpool2d 2 strides=0x1\n", f);
        fclose(f);
    }
    kiln_graph *g = NULL;
    CHECK(kiln_graph_load(path, &g, err, sizeof err) != KILN_OK);
    char want[600];
    snprintf(want, sizeof want, "%s:3:21:", path);
    CHECK_MSG(strstr(err, want) == err, "%s", err);
    CHECK(kiln_graph_load("/nonexistent/x.kiln", &g, err, sizeof err) == KILN_ERR_IO);

    /* the C builders give the same checks */
    kiln_graph *cg;
    CHECK(kiln_graph_create("c", &cg) == KILN_OK);
    int32_t x, y, dims[1] = {20};
    CHECK(kiln_input(cg, "x", 1, dims, &x) == KILN_OK);
    CHECK(kiln_conv2d(cg, x, 4, 3, 1, KILN_PAD_SAME, KILN_AF_RELU, &y) == KILN_ERR_SHAPE);
    CHECK(strstr(kiln_graph_error(cg), "input shape (None, 20)") != NULL);
    CHECK(kiln_dense(cg, x, 3, KILN_AF_RELU, &y) == KILN_OK);

    /* labels out of range, data of the wrong shape */
    kiln_graph_set_loss(cg, y, KILN_LOSS_SPARSE_CCE, 1);
    kiln_train_config cfg;
    kiln_train_config_init(&cfg);
    cfg.batch = 4;
    kiln_trainer *t = NULL;
    CHECK(kiln_trainer_create(cg, &cfg, &t, err, sizeof err) == KILN_OK);
    float xb[80] = {0};
    int32_t lb[4] = {0, 1, 7, 2};
    kiln_batch b = {xb, lb, NULL, 4};
    float l;
    CHECK(kiln_trainer_step(t, &b, &l, NULL) == KILN_ERR_ARG);
    CHECK_MSG(strstr(kiln_trainer_error(t), "label 7 of sample 2 is out of range [0, 3)") != NULL,
              "%s", kiln_trainer_error(t));
    kiln_fit_options fo;
    kiln_fit_options_init(&fo);
    fo.batch = 4;
    CHECK(kiln_fit(t, &g_test, NULL, &fo, NULL) == KILN_ERR_SHAPE);
    CHECK_MSG(strstr(kiln_trainer_error(t), "(None, 28, 28, 1)") != NULL &&
                  strstr(kiln_trainer_error(t), "(None, 20)") != NULL,
              "%s", kiln_trainer_error(t));
    kiln_trainer_destroy(t);
    kiln_graph_destroy(cg);

    /* NaN: names the step and the layer; the last good checkpoint is left intact */
    kiln_graph *ng = parse("model n\ninput x 28 28 1\nflatten\ndense 32 relu\ndense 10\n"
                           "loss sparse_categorical_crossentropy from_logits\n");
    kiln_dataset d;
    memset(&d, 0, sizeof d);
    subset(&g_train, 256, &d);
    char ck[512];
    snprintf(ck, sizeof ck, "%s/nan.kckpt", tmpdir);
    kiln_train_config_init(&cfg);
    cfg.batch = 32;
    cfg.optimizer = KILN_OPT_SGD;
    cfg.lr = 1e-2f;
    t = NULL;
    CHECK(kiln_trainer_create(ng, &cfg, &t, err, sizeof err) == KILN_OK);
    kiln_fit_options_init(&fo);
    fo.batch = 32;
    fo.epochs = 1;
    fo.checkpoint = ck;
    CHECK(kiln_fit(t, &d, NULL, &fo, NULL) == KILN_OK);
    struct stat st0;
    CHECK(stat(ck, &st0) == 0);
    /* poison the data: a NaN pixel in every sample */
    for (int64_t i = 0; i < d.n; i++)
        d.x[i * 784 + 100] = NAN;
    fo.epochs = 2;
    kiln_status st = kiln_fit(t, &d, NULL, &fo, NULL);
    CHECK_EQ_INT(st, KILN_ERR_RUNTIME);
    CHECK_MSG(strstr(kiln_trainer_error(t), "step 9: sample 0 of the batch has a NaN/Inf input "
                                            "value (element 100)"),
              "%s", kiln_trainer_error(t));
    /* a weight gone bad: the first layer whose output is not finite is named */
    kiln_param_desc pd;
    kiln_graph_param(ng, 2, &pd); /* dense_1/kernel */
    kiln_trainer_params(t)[pd.offset + 3] = INFINITY;
    kiln_batch nb = {g_test.x, g_test.labels, NULL, 32};
    st = kiln_trainer_step(t, &nb, NULL, NULL);
    CHECK_EQ_INT(st, KILN_ERR_RUNTIME);
    CHECK_MSG(strstr(kiln_trainer_error(t), "step 9: NaN/Inf first appeared in the output of "
                                            "layer 'dense_1' (dense)"),
              "%s", kiln_trainer_error(t));
    kiln_trainer *t2 = NULL;
    CHECK(kiln_trainer_create(ng, &cfg, &t2, err, sizeof err) == KILN_OK);
    CHECK_MSG(kiln_trainer_load(t2, ck) == KILN_OK, "%s", kiln_trainer_error(t2));
    CHECK_EQ_INT(kiln_trainer_step_count(t2), 8);
    kiln_trainer_destroy(t2);
    kiln_trainer_destroy(t);
    kiln_graph_destroy(ng);
    kiln_dataset_free(&d);
    kiln_graph_destroy(g);
}

static void test_metrics(void) {
    const float sc[4 * 3] = {0.1f, 0.7f, 0.2f, 0.5f, 0.3f, 0.2f,
                             0.2f, 0.3f, 0.5f, 0.3f, 0.4f, 0.3f};
    const int32_t lb[4] = {1, 1, 2, 0};
    CHECK_EQ_INT(kiln_metric_topk(sc, lb, 4, 3, 1), 2);
    CHECK_EQ_INT(kiln_metric_topk(sc, lb, 4, 3, 2), 4);
    int64_t cm[9] = {0};
    kiln_metric_confusion(sc, lb, 4, 3, cm);
    const int64_t want[9] = {0, 1, 0, 1, 1, 0, 0, 0, 1};
    CHECK(!memcmp(cm, want, sizeof want));
    float p[3], r[3];
    kiln_metric_precision_recall(cm, 3, p, r);
    CHECK_NEAR(p[1], 0.5, 1e-6);
    CHECK_NEAR(r[1], 0.5, 1e-6);
    CHECK_NEAR(p[2], 1.0, 1e-6);
    CHECK_NEAR(r[0], 0.0, 1e-6);
    /* AUC: sklearn.metrics.roc_auc_score([0,0,1,1], [0.1,0.4,0.35,0.8]) == 0.75 */
    const float s2[4] = {0.1f, 0.4f, 0.35f, 0.8f};
    const int32_t l2[4] = {0, 0, 1, 1};
    CHECK_NEAR(kiln_metric_auc(s2, l2, 4), 0.75, 1e-9);
    const float s3[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    CHECK_NEAR(kiln_metric_auc(s3, l2, 4), 0.5, 1e-9); /* ties count half */
}

/* Schedules and one optimizer step of each kind against the formula by hand. */
static void test_optimizers(void) {
    kiln_train_config c;
    kiln_train_config_init(&c);
    c.lr = 0.1f;
    c.schedule = KILN_SCHED_STEP;
    c.step_size = 10;
    c.gamma = 0.5f;
    CHECK_NEAR(kiln__lr_at(&c, 9), 0.1, 1e-7);
    CHECK_NEAR(kiln__lr_at(&c, 25), 0.025, 1e-7);
    c.schedule = KILN_SCHED_EXPONENTIAL;
    CHECK_NEAR(kiln__lr_at(&c, 5), 0.1 * pow(0.5, 0.5), 1e-7);
    c.schedule = KILN_SCHED_COSINE;
    c.step_size = 110;
    c.warmup = 10;
    c.min_lr = 0.0f;
    CHECK_NEAR(kiln__lr_at(&c, 0), 0.01, 1e-7);
    CHECK_NEAR(kiln__lr_at(&c, 10), 0.1, 1e-7);
    CHECK_NEAR(kiln__lr_at(&c, 60), 0.05, 1e-6);
    CHECK_NEAR(kiln__lr_at(&c, 110), 0.0, 1e-7);

    /* y = w.x + b with mse on one sample: gradient known in closed form */
    static const char *spec = "input x 2\ndense 1 kernel_init=ones\nloss mse\n";
    const kiln_optimizer kinds[] = {KILN_OPT_SGD,   KILN_OPT_SGD,     KILN_OPT_ADAM,
                                    KILN_OPT_ADAMW, KILN_OPT_RMSPROP, KILN_OPT_ADAGRAD};
    for (int k = 0; k < 6; k++) {
        kiln_graph *g = NULL;
        char err[256];
        kiln_graph_parse(spec, strlen(spec), "opt.kiln", &g, err, sizeof err);
        kiln_train_config_init(&c);
        c.batch = 1;
        c.optimizer = kinds[k];
        c.lr = 0.1f;
        c.momentum = k == 1 ? 0.9f : 0.0f;
        c.nesterov = k == 1;
        c.weight_decay = kinds[k] == KILN_OPT_ADAMW ? 0.01f : 0.0f;
        kiln_trainer *t = NULL;
        CHECK(kiln_trainer_create(g, &c, &t, err, sizeof err) == KILN_OK);
        if (!t) {
            kiln_graph_destroy(g);
            continue;
        }
        float x[2] = {1.0f, 2.0f}, y[1] = {1.0f};
        kiln_batch b = {x, NULL, y, 1};
        /* w = (1, 1), b = 0: y_hat = 3, dL/dy = 2*(3-1) = 4; g_w = (4, 8), g_b = 4 */
        float loss;
        CHECK(kiln_trainer_step(t, &b, &loss, NULL) == KILN_OK);
        CHECK_NEAR(loss, 4.0, 1e-6);
        const float *w = kiln_trainer_params(t);
        double g0 = 4.0, e0;
        switch (kinds[k]) {
        case KILN_OPT_SGD:
            e0 = k == 1 ? 1.0 - 0.9 * 0.1 * g0 - 0.1 * g0 : 1.0 - 0.1 * g0;
            break;
        case KILN_OPT_ADAM:
            e0 = 1.0 - 0.1 * 1.0 / (1.0 + 1e-7);
            break; /* m_hat/sqrt(v_hat)=1 */
        case KILN_OPT_ADAMW:
            e0 = 1.0 * (1.0 - 0.1 * 0.01) - 0.1 / (1.0 + 1e-7);
            break;
        case KILN_OPT_RMSPROP:
            e0 = 1.0 - 0.1 * g0 / (sqrt(0.1 * g0 * g0) + 1e-7);
            break;
        default:
            e0 = 1.0 - 0.1 * g0 / (sqrt(g0 * g0) + 1e-7);
            break;
        }
        CHECK_MSG(fabs(w[0] - e0) < 1e-5, "optimizer %d: w0 %.7f expected %.7f", k, w[0], e0);
        kiln_trainer_destroy(t);
        kiln_graph_destroy(g);
    }

    /* clipping by global norm: |g| = sqrt(16 + 64 + 16) */
    kiln_graph *g = NULL;
    char err[256];
    kiln_graph_parse(spec, strlen(spec), "opt.kiln", &g, err, sizeof err);
    kiln_train_config_init(&c);
    c.batch = 1;
    c.optimizer = KILN_OPT_SGD;
    c.lr = 1.0f;
    c.clip_norm = 1.0f;
    kiln_trainer *t = NULL;
    kiln_trainer_create(g, &c, &t, err, sizeof err);
    float x[2] = {1.0f, 2.0f}, y[1] = {1.0f};
    kiln_batch b = {x, NULL, y, 1};
    kiln_trainer_step(t, &b, NULL, NULL);
    CHECK_NEAR(kiln_trainer_params(t)[1], 1.0 - 8.0 / sqrt(96.0), 1e-6);
    kiln_trainer_destroy(t);
    kiln_graph_destroy(g);
}

/* the walk the converter uses: kinds, attributes, tensors and TFLite weight layouts */
static void test_walk(void) {
    kiln_graph *g = parse(CNN);
    CHECK(g != NULL);
    if (!g) return;
    CHECK_EQ_INT(kiln_graph_num_layers(g), 8);
    kiln_layer_desc L;
    CHECK(kiln_graph_layer(g, 3, &L) == KILN_OK);
    CHECK_EQ_INT(L.kind, KILN_L_CONV2D);
    CHECK(!strcmp(L.name, "conv2d_1"));
    CHECK_EQ_INT(L.attrs->padding, KILN_PAD_SAME);
    CHECK_EQ_INT(L.attrs->activation, KILN_AF_RELU);
    CHECK_EQ_INT(L.attrs->strides[0], 1);
    CHECK_EQ_INT(L.n_params, 2);
    CHECK_EQ_INT(L.macs, 14 * 14 * 64 * 3 * 3 * 32);
    kiln_param_desc pd;
    CHECK(kiln_graph_param(g, L.first_param, &pd) == KILN_OK);
    CHECK(!strcmp(pd.name, "conv2d_1/kernel") && !strcmp(pd.role, "kernel"));
    CHECK(pd.rank == 4 && pd.dims[0] == 64 && pd.dims[1] == 3 && pd.dims[2] == 3 &&
          pd.dims[3] == 32); /* OHWI */
    kiln_tensor_desc td;
    CHECK(kiln_graph_tensor(g, L.inputs[0], &td) == KILN_OK);
    CHECK(!strcmp(td.name, "maxpool2d") && td.rank == 3 && td.dims[0] == 14);
    CHECK(kiln_graph_layer(g, 7, &L) == KILN_OK);
    kiln_graph_param(g, L.first_param, &pd);
    CHECK(pd.dims[0] == 10 && pd.dims[1] == 3136); /* dense [out, in] */
    CHECK_EQ_INT(kiln_graph_param_count(g), 50186);
    int32_t logits;
    CHECK_EQ_INT(kiln_graph_loss(g, &logits), KILN_LOSS_SPARSE_CCE);
    CHECK_EQ_INT(logits, 1);
    CHECK(!strcmp(kiln_graph_spec(g), CNN));
    kiln_graph_destroy(g);
    /* training defaults from the spec */
    static const char *sp = "input x 4\ndense 2\nloss mse\noptimizer sgd momentum=0.9 nesterov "
                            "schedule=cosine warmup=5\n";
    char err[256];
    kiln_graph_parse(sp, strlen(sp), "o.kiln", &g, err, sizeof err);
    kiln_train_config c;
    kiln_train_config_init(&c);
    CHECK(g && kiln_graph_train_defaults(g, &c) == 1);
    CHECK(c.optimizer == KILN_OPT_SGD && c.nesterov == 1 && fabs(c.momentum - 0.9f) < 1e-7);
    CHECK(c.schedule == KILN_SCHED_COSINE && c.warmup == 5 && fabs(c.lr - 0.01f) < 1e-9);
    kiln_graph_destroy(g);
    expect_parse_error("input x 4\ndense 2\noptimizer adam lr=fast\n",
                       "bad.kiln:3:19: optimizer: bad value 'fast'");
}

int main(void) {
    test_metrics();
    test_walk();
    test_optimizers();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kiln_test_train_%d", (int)getpid());
    mkdir(tmpdir, 0777);
    struct stat s;
    if (stat(FMNIST "/train-images-idx3-ubyte.gz", &s) != 0)
        TEST_SKIP("Fashion-MNIST is not installed at " FMNIST " (apt-get install "
                  "dataset-fashion-mnist)");
    char err[512];
    if (kiln_dataset_load_fashion_mnist(FMNIST, &g_train, &g_test, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    test_errors();
    test_resume();
    test_determinism();
    test_accuracy();
    kiln_dataset_free(&g_train);
    kiln_dataset_free(&g_test);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) {
    }
    return test_done();
}
