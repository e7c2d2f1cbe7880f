/* test_autodiff.c: every layer's and loss's gradient against central finite differences.
 * Each case is a tiny spec (so the parser is exercised too); the analytic gradient of every
 * trainable parameter (sampled) must match (L(w+h) - L(w-h)) / 2h within a tolerance that a
 * 5% error in the gradient already breaks (checked at the end). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "train/trainer.h"

static uint64_t rng_state = 0x12345678abcdefull;
static double urand(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}
static double nrand(void) {
    double u = urand(), v = urand();
    if (u < 1e-12) u = 1e-12;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

#define BATCH 3

/* Returns the number of mismatching sampled gradient entries (-1: setup failed). grad_scale
 * multiplies the analytic gradient (1.0 normally; != 1 proves the check can fail). */
static int check_case(const char *name, const char *spec, double grad_scale, int verbose) {
    char err[512];
    kiln_graph *g;
    if (kiln_graph_parse(spec, strlen(spec), name, &g, err, sizeof err)) {
        fprintf(stderr, "%s: parse: %s\n", name, err);
        return -1;
    }
    kiln_train_config cfg;
    kiln_train_config_init(&cfg);
    cfg.batch = BATCH;
    cfg.seed = 7;
    kiln_trainer *t;
    if (kiln_trainer_create(g, &cfg, &t, err, sizeof err)) {
        fprintf(stderr, "%s: create: %s\n", name, err);
        kiln_graph_destroy(g);
        return -1;
    }
    kiln_tensor_desc ti, to;
    kiln_graph_tensor(g, kiln_graph_input(g), &ti);
    kiln_graph_tensor(g, kiln_graph_output(g), &to);
    int64_t xs = 1, k = 1;
    for (int i = 0; i < ti.rank; i++)
        xs *= ti.dims[i];
    for (int i = 0; i < to.rank; i++)
        k *= to.dims[i];
    float *x = malloc(sizeof(float) * (size_t)(BATCH * xs));
    int32_t *xi = (int32_t *)x;
    float *y = malloc(sizeof(float) * (size_t)(BATCH * k));
    int32_t labels[BATCH];
    int32_t logits;
    kiln_loss loss = kiln_graph_loss(g, &logits);
    for (int64_t i = 0; i < BATCH * xs; i++) {
        if (ti.dtype == KILN_INT32)
            xi[i] = (int32_t)(urand() * 7);
        else
            x[i] = (float)nrand();
    }
    for (int i = 0; i < BATCH; i++)
        labels[i] = (int32_t)(urand() * (double)k) % (int32_t)k;
    for (int i = 0; i < BATCH; i++) {
        double s = 0;
        for (int64_t j = 0; j < k; j++) {
            double v = urand();
            if (loss == KILN_LOSS_BCE) v = urand() < 0.5 ? 0.1 : 0.9;
            y[i * k + j] = (float)v;
            s += v;
        }
        if (loss == KILN_LOSS_CCE)
            for (int64_t j = 0; j < k; j++)
                y[i * k + j] = (float)(y[i * k + j] / s);
    }
    kiln_batch b = {x, labels, y, BATCH};
    double l0;
    int bad = 0;
    if (kiln__trainer_backprop(t, &b, &l0)) {
        fprintf(stderr, "%s: backprop: %s\n", name, kiln_trainer_error(t));
        bad = -1;
        goto out;
    }
    int64_t P = kiln_graph_param_count(g);
    float *grad = malloc(sizeof(float) * (size_t)P);
    memcpy(grad, t->grads, sizeof(float) * (size_t)P);
    int checked = 0;
    for (int32_t pi = 0; pi < kiln_graph_num_params(g); pi++) {
        kiln_param_desc pd;
        kiln_graph_param(g, pi, &pd);
        if (!pd.trainable) continue;
        int64_t step = pd.count > 16 ? pd.count / 16 : 1;
        for (int64_t e = (pi * 7) % step; e < pd.count; e += step) {
            int64_t i = pd.offset + e;
            float w = t->params[i];
            const double h = 1e-3 * (fabs(w) > 1 ? fabs(w) : 1.0);
            double lp, lm;
            t->params[i] = (float)(w + h);
            double hp = (double)t->params[i] - w;
            kiln__trainer_backprop(t, &b, &lp);
            t->params[i] = (float)(w - h);
            double hm = w - (double)t->params[i];
            kiln__trainer_backprop(t, &b, &lm);
            t->params[i] = w;
            double num = (lp - lm) / (hp + hm), ana = grad[i] * grad_scale;
            double tol = 2e-3 + 2e-2 * fmax(fabs(num), fabs(ana));
            checked++;
            if (fabs(num - ana) > tol) {
                bad++;
                if (verbose)
                    fprintf(stderr, "%s: %s[%lld]: analytic %.6g numeric %.6g\n", name, pd.name,
                            (long long)e, ana, num);
            }
        }
    }
    if (!checked) bad = -1;
    free(grad);
out:
    free(x);
    free(y);
    kiln_trainer_destroy(t);
    kiln_graph_destroy(g);
    return bad;
}

typedef struct gcase {
    const char *name;
    const char *spec;
} gcase;

static const gcase cases[] = {
    {"dense_linear", "input x 5\ndense 4\ndense 3\nloss mse\n"},
    {"dense_relu", "input x 5\ndense 6 relu\ndense 3\nloss mse\n"},
    {"dense_relu6", "input x 5\ndense 6 relu6 kernel_init=he_normal\ndense 3\nloss mse\n"},
    {"dense_leaky", "input x 5\ndense 6 leaky_relu alpha=0.2\ndense 3\nloss mse\n"},
    {"dense_sigmoid", "input x 5\ndense 6 sigmoid\ndense 3\nloss mse\n"},
    {"dense_tanh", "input x 5\ndense 6 tanh\ndense 3\nloss mse\n"},
    {"dense_softmax", "input x 5\ndense 6 softmax\ndense 3\nloss mse\n"},
    {"dense_hard_swish", "input x 5\ndense 6 hard_swish\ndense 3\nloss mse\n"},
    {"dense_gelu", "input x 5\ndense 6 gelu\ndense 3\nloss mse\n"},
    {"dense_rank3", "input x 3 5\ndense 4 tanh\nflatten\ndense 2\nloss mse\n"},
    {"activation_layers",
     "input x 6\ndense 6\nrelu\ndense 6\nsigmoid\ndense 4\ngelu\ndense 4\nsoftmax\nloss mse\n"},
    {"conv_valid", "input x 6 5 2\nconv2d 3 3 tanh\nflatten\ndense 2\nloss mse\n"},
    {"conv_same_s2", "input x 7 6 2\nconv2d 3 3 strides=2 padding=same relu\nflatten\ndense 2\n"
                     "loss mse\n"},
    {"conv_dilated", "input x 7 7 1\nconv2d 2 3 dilation=2 padding=same\nconv2d 2 2x1 tanh\n"
                     "flatten\ndense 2\nloss mse\n"},
    {"conv_1x1", "input x 4 4 3\nconv2d 4 3 padding=same\nconv2d 2 1 tanh\nflatten\ndense 2\n"
                 "loss mse\n"},
    {"depthwise", "input x 6 6 2\nconv2d 3 1\ndepthwise_conv2d 3 multiplier=2 strides=2 "
                  "padding=same tanh\nflatten\ndense 2\nloss mse\n"},
    {"separable", "input x 6 5 2\nconv2d 2 1\nseparable_conv2d 3 3 multiplier=2 padding=same "
                  "tanh\nflatten\ndense 2\nloss mse\n"},
    {"maxpool", "input x 6 6 2\nconv2d 3 3 padding=same\nmaxpool2d 2\nflatten\ndense 2\n"
                "loss mse\n"},
    {"maxpool_same_s", "input x 7 7 1\nconv2d 2 3\nmaxpool2d 3 strides=2 padding=same\n"
                       "flatten\ndense 2\nloss mse\n"},
    {"avgpool", "input x 7 7 1\nconv2d 2 3 padding=same\navgpool2d 2 padding=same\nflatten\n"
                "dense 2\nloss mse\n"},
    {"global_avgpool", "input x 4 4 2\nconv2d 3 3 padding=same\nglobal_avgpool2d\ndense 2\n"
                       "loss mse\n"},
    {"batchnorm_dense", "input x 5\ndense 4\nbatchnorm\ntanh\ndense 2\nloss mse\n"},
    {"batchnorm_conv", "input x 4 4 2\nconv2d 3 3 padding=same\nbatchnorm momentum=0.9\n"
                       "flatten\ndense 2\nloss mse\n"},
    {"dropout", "input x 8\ndense 8\ndropout 0.3\ndense 2\nloss mse\n"},
    {"reshape", "input x 12\ndense 12\nreshape 3 4\ndense 2 tanh\nflatten\ndense 2\nloss mse\n"},
    {"zeropad", "input x 4 4 1\nconv2d 2 3 padding=same\nzeropad2d 1 0 2 1\nconv2d 2 3\n"
                "flatten\ndense 2\nloss mse\n"},
    {"add_branches", "input x 6\na = dense 4 tanh\nb = dense(x) 4\nc = add(a, b)\n"
                     "d = dense(c) 3\nloss mse\n"},
    {"concat_branches", "input x 4 4 1\na = conv2d 2 3 padding=same\nb = conv2d(x) 3 1\n"
                        "c = concat(a, b, a)\nflatten\ndense 2\nloss mse\n"},
    {"shared_consumer", "input x 5\nh = dense 4 tanh\np = dense(h) 3\nq = dense(h) 3\n"
                        "s = add(p, q)\nloss mse output=s\n"},
    {"embedding", "input x 4 dtype=int32\nembedding 7 3\nflatten\ndense 2\nloss mse\n"},
    {"lstm_last", "input x 4 3\nlstm 5\ndense 2\nloss mse\n"},
    {"lstm_seq", "input x 4 3\nlstm 3 return_sequences\nflatten\ndense 2\nloss mse\n"},
    {"l1_l2", "input x 5\ndense 4 l1=0.01 l2=0.02\ndense 2\nloss mse\n"},
    {"sparse_cce_logits", "input x 5\ndense 4\nloss sparse_categorical_crossentropy "
                          "from_logits\n"},
    {"sparse_cce_probs", "input x 5\ndense 4 softmax\nloss sparse_categorical_crossentropy\n"},
    {"cce_logits", "input x 5\ndense 4\nloss categorical_crossentropy from_logits\n"},
    {"cce_probs", "input x 5\ndense 4 softmax\nloss categorical_crossentropy\n"},
    {"bce_logits", "input x 5\ndense 3\nloss binary_crossentropy from_logits\n"},
    {"bce_probs", "input x 5\ndense 3 sigmoid\nloss binary_crossentropy\n"},
    {"mae", "input x 5\ndense 3\nloss mae\n"},
    {"huber", "input x 5\ndense 3 kernel_init=he_uniform\nloss huber\n"},
};

int main(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int bad = check_case(cases[i].name, cases[i].spec, 1.0, 1);
        CHECK_MSG(bad == 0, "%s: %d gradient entries disagree with finite differences",
                  cases[i].name, bad);
    }
    /* the check can fail: a gradient 5% off must be caught */
    int bad = check_case("dense_tanh_scaled", cases[5].spec, 1.05, 0);
    CHECK_MSG(bad > 0, "a 5%% gradient error went unnoticed (%d)", bad);
    bad = check_case("conv_scaled", cases[11].spec, 0.95, 0);
    CHECK_MSG(bad > 0, "a 5%% conv gradient error went unnoticed (%d)", bad);
    return test_done();
}
