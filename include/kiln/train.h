/* train.h: Kiln's training API: build a model graph (the same builders the .kiln spec uses),
 * train it with reverse-mode autodiff, save/resume checkpoints. Layer semantics follow Keras
 * (padding 'same' as TensorFlow); weight layouts are TFLite's (conv OHWI, depthwise 1HWC,
 * dense [out, in]) so the converter writes them as they are. See docs/train.md, docs/spec.md. */
#ifndef KILN_TRAIN_H
#define KILN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/data.h"
#include "kiln/kiln_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------- */
/* Graph: tensors (per-sample shape: the batch dimension is implicit) and layers in order.   */

typedef struct kiln_graph kiln_graph;

typedef enum kiln_layer_kind {
    KILN_L_INPUT = 0,
    KILN_L_DENSE,
    KILN_L_CONV2D,
    KILN_L_DEPTHWISE_CONV2D,
    KILN_L_SEPARABLE_CONV2D,
    KILN_L_MAX_POOL2D,
    KILN_L_AVG_POOL2D,
    KILN_L_GLOBAL_AVG_POOL2D,
    KILN_L_BATCH_NORM,
    KILN_L_DROPOUT,
    KILN_L_FLATTEN,
    KILN_L_RESHAPE,
    KILN_L_ADD,
    KILN_L_CONCAT,
    KILN_L_EMBEDDING,
    KILN_L_LSTM,
    KILN_L_ZERO_PAD2D,
    KILN_L_ACTIVATION,
    KILN_L_COUNT
} kiln_layer_kind;

typedef enum kiln_actfn {
    KILN_AF_NONE = 0,
    KILN_AF_RELU,
    KILN_AF_RELU6,
    KILN_AF_LEAKY_RELU,
    KILN_AF_SIGMOID,
    KILN_AF_TANH,
    KILN_AF_SOFTMAX,
    KILN_AF_HARD_SWISH,
    KILN_AF_GELU, /* exact (erf) form, as Keras' default */
    KILN_AF_COUNT
} kiln_actfn;

typedef enum kiln_padding { KILN_PAD_VALID = 0, KILN_PAD_SAME = 1 } kiln_padding;

typedef enum kiln_init {
    KILN_INIT_DEFAULT = 0, /* the Keras default for that weight (glorot_uniform / zeros) */
    KILN_INIT_GLOROT_UNIFORM,
    KILN_INIT_GLOROT_NORMAL,
    KILN_INIT_HE_UNIFORM,
    KILN_INIT_HE_NORMAL,
    KILN_INIT_ZEROS,
    KILN_INIT_ONES
} kiln_init;

/* Attributes of a layer; kiln_layer_attrs_init sets Keras' defaults. Each kind reads the
 * fields its comment names. */
typedef struct kiln_layer_attrs {
    int32_t units;                /* dense, lstm; embedding: output dim */
    int32_t filters;              /* conv2d, separable_conv2d */
    int32_t kernel[2];            /* conv kernels (h, w) */
    int32_t strides[2];           /* conv, pools (0: pools use the pool size) */
    int32_t dilation[2];          /* conv2d, depthwise, separable */
    int32_t pool[2];              /* max/avg pool */
    kiln_padding padding;         /* conv and pools */
    int32_t depth_multiplier;     /* depthwise, separable */
    int32_t use_bias;             /* dense, conv (default 1) */
    kiln_actfn activation;        /* fused activation of dense/conv/…; the activation layer's */
    float alpha;                  /* leaky_relu slope (default 0.3, as Keras) */
    float rate;                   /* dropout rate */
    float momentum, epsilon;      /* batch norm (0.99, 0.001) */
    int32_t axis;                 /* concat axis over the full shape incl. batch (default -1) */
    int32_t rank;                 /* input / reshape: target rank (per sample) */
    int32_t shape[KILN_MAX_RANK]; /* input / reshape: target shape (reshape: one -1 allowed) */
    int32_t dtype;                /* input: KILN_FLOAT32 or KILN_INT32 (token ids) */
    int32_t pads[4];              /* zero_pad2d: top, bottom, left, right */
    int32_t vocab;                /* embedding: input dim (number of ids) */
    int32_t return_sequences;     /* lstm */
    kiln_init kernel_init, bias_init;
    float l1, l2; /* kernel regularizers: loss += l1*sum|w| + l2*sum(w^2) */
} kiln_layer_attrs;

void kiln_layer_attrs_init(kiln_layer_attrs *a);

kiln_status kiln_graph_create(const char *name, kiln_graph **out);
void kiln_graph_destroy(kiln_graph *g);
/* The last error (one line: names the layer, and for shape errors both shapes). */
const char *kiln_graph_error(const kiln_graph *g);
const char *kiln_graph_name(const kiln_graph *g);

/* Adds a layer reading the tensors `inputs` (ids returned by earlier adds). name may be NULL
 * (then "<kind>_<n>", as Keras names layers). The new layer's output tensor id goes to *out.
 * Shapes are checked here: a wrong input shape is KILN_ERR_SHAPE with both shapes named. */
kiln_status kiln_graph_add(kiln_graph *g, kiln_layer_kind kind, const char *name,
                           const int32_t *inputs, int32_t n_inputs, const kiln_layer_attrs *a,
                           int32_t *out);

/* Convenience builders (same checks as kiln_graph_add). */
kiln_status kiln_input(kiln_graph *g, const char *name, int32_t rank, const int32_t *dims,
                       int32_t *out);
kiln_status kiln_dense(kiln_graph *g, int32_t x, int32_t units, kiln_actfn act, int32_t *out);
kiln_status kiln_conv2d(kiln_graph *g, int32_t x, int32_t filters, int32_t kernel, int32_t stride,
                        kiln_padding pad, kiln_actfn act, int32_t *out);
kiln_status kiln_max_pool2d(kiln_graph *g, int32_t x, int32_t pool, int32_t *out);
kiln_status kiln_flatten(kiln_graph *g, int32_t x, int32_t *out);
kiln_status kiln_dropout(kiln_graph *g, int32_t x, float rate, int32_t *out);

typedef enum kiln_loss {
    KILN_LOSS_NONE = 0,
    KILN_LOSS_SPARSE_CCE, /* integer labels */
    KILN_LOSS_CCE,        /* one-hot / soft targets */
    KILN_LOSS_BCE,
    KILN_LOSS_MSE,
    KILN_LOSS_MAE,
    KILN_LOSS_HUBER /* delta 1.0 */
} kiln_loss;

/* Sets the model output (a tensor id; default: the last layer's) and its loss. from_logits:
 * the output is logits (CE losses apply softmax/sigmoid themselves). */
kiln_status kiln_graph_set_loss(kiln_graph *g, int32_t output, kiln_loss loss, int32_t from_logits);

/* Parses a .kiln spec (docs/spec.md). Errors: "FILE:LINE:COL: message" in err. The graph
 * keeps the spec text (checkpoints embed it). */
kiln_status kiln_graph_parse(const char *text, size_t len, const char *filename, kiln_graph **out,
                             char *err, size_t errlen);
kiln_status kiln_graph_load(const char *path, kiln_graph **out, char *err, size_t errlen);
/* The spec text this graph was parsed from ("" for graphs built in C). */
const char *kiln_graph_spec(const kiln_graph *g);

/* ---- walking the graph (converter, summary) ---- */
typedef struct kiln_tensor_desc {
    const char *name; /* the producing layer's name */
    int32_t dtype;
    int32_t rank; /* per sample (without the batch dimension) */
    int32_t dims[KILN_MAX_RANK];
    int32_t layer; /* producing layer */
} kiln_tensor_desc;

typedef struct kiln_param_desc {
    const char *name; /* "<layer>/kernel", "<layer>/bias", "<layer>/gamma", ... */
    const char *role; /* kernel, bias, depthwise_kernel, pointwise_kernel, recurrent_kernel,
                         gamma, beta, moving_mean, moving_variance, embeddings */
    int32_t layer;
    int32_t trainable;
    int32_t rank;
    int32_t dims[KILN_MAX_RANK]; /* TFLite layouts: conv OHWI, depthwise 1HWC, dense [out,in] */
    int64_t offset;              /* element offset in the flat parameter array */
    int64_t count;
} kiln_param_desc;

typedef struct kiln_layer_desc {
    kiln_layer_kind kind;
    const char *kind_name; /* spec keyword: "dense", "conv2d", ... */
    const char *name;
    const kiln_layer_attrs *attrs;
    int32_t n_inputs;
    const int32_t *inputs; /* tensor ids */
    int32_t output;        /* tensor id */
    int32_t n_params;
    int32_t first_param; /* index into kiln_graph_param */
    int64_t macs;        /* multiply-accumulates per sample (forward) */
} kiln_layer_desc;

int32_t kiln_graph_num_layers(const kiln_graph *g);
kiln_status kiln_graph_layer(const kiln_graph *g, int32_t i, kiln_layer_desc *out);
int32_t kiln_graph_num_tensors(const kiln_graph *g);
kiln_status kiln_graph_tensor(const kiln_graph *g, int32_t id, kiln_tensor_desc *out);
int32_t kiln_graph_num_params(const kiln_graph *g);
kiln_status kiln_graph_param(const kiln_graph *g, int32_t i, kiln_param_desc *out);
int64_t kiln_graph_param_count(const kiln_graph *g); /* all elements (trainable or not) */
int64_t kiln_graph_trainable_count(const kiln_graph *g);
int32_t kiln_graph_output(const kiln_graph *g);
int32_t kiln_graph_input(const kiln_graph *g); /* the (first) input tensor */
kiln_loss kiln_graph_loss(const kiln_graph *g, int32_t *from_logits);
const char *kiln_layer_kind_name(kiln_layer_kind k);
const char *kiln_actfn_name(kiln_actfn a);
const char *kiln_loss_name(kiln_loss l);

/* ---------------------------------------------------------------------------------------- */
/* Training.                                                                                 */

typedef enum kiln_optimizer {
    KILN_OPT_SGD = 0, /* momentum, nesterov */
    KILN_OPT_ADAM,
    KILN_OPT_ADAMW,
    KILN_OPT_RMSPROP,
    KILN_OPT_ADAGRAD
} kiln_optimizer;

typedef enum kiln_schedule {
    KILN_SCHED_CONSTANT = 0,
    KILN_SCHED_STEP,        /* lr * gamma^floor(step / step_size) */
    KILN_SCHED_EXPONENTIAL, /* lr * gamma^(step / step_size) */
    KILN_SCHED_COSINE       /* linear warmup over warmup steps, then cosine to min_lr */
} kiln_schedule;

typedef struct kiln_train_config {
    kiln_optimizer optimizer;
    float lr;
    float momentum;     /* sgd (0.0); rmsprop rho (0.9) uses `rho` */
    int32_t nesterov;   /* sgd */
    float beta1, beta2; /* adam/adamw (0.9, 0.999) */
    float eps;          /* adam/adamw/rmsprop/adagrad (1e-7, Keras' default) */
    float rho;          /* rmsprop (0.9) */
    float weight_decay; /* adamw: decoupled decay (Keras uses 0.004); sgd: L2 on the gradient */
    kiln_schedule schedule;
    int64_t step_size; /* step/exponential: steps per decay; cosine: total steps (0: kiln_fit
                          sets epochs x batches per epoch) */
    float gamma;       /* step/exponential factor */
    int64_t warmup;    /* cosine warmup steps */
    float min_lr;      /* cosine floor */
    float clip_norm;   /* > 0: scale gradients so their global L2 norm <= clip_norm */
    float clip_value;  /* > 0: clamp each gradient to [-clip_value, clip_value] */
    int32_t batch;     /* maximum batch size (memory is planned for it) */
    uint64_t seed;     /* weight init, shuffling, dropout */
    const kiln_parallel *parallel; /* NULL: one thread */
} kiln_train_config;

void kiln_train_config_init(kiln_train_config *c);
/* Fills c (already initialised) with the optimizer settings of the spec's `optimizer` line;
 * returns 1 when the spec has one, 0 otherwise (c unchanged). batch, seed and parallel are
 * left as they are. */
int kiln_graph_train_defaults(const kiln_graph *g, kiln_train_config *c);

typedef struct kiln_trainer kiln_trainer;

/* Plans memory for cfg->batch samples and initialises the weights from cfg->seed. The graph
 * must outlive the trainer. */
kiln_status kiln_trainer_create(const kiln_graph *g, const kiln_train_config *cfg,
                                kiln_trainer **out, char *err, size_t errlen);
void kiln_trainer_destroy(kiln_trainer *t);
const char *kiln_trainer_error(const kiln_trainer *t);

/* A batch: x holds n samples of the input shape (float32, or int32 for an int32 input);
 * targets: int32 class ids (sparse CE, and accuracy) in `labels`, or float32 targets with the
 * output's shape in `y`. */
typedef struct kiln_batch {
    const void *x;
    const int32_t *labels;
    const float *y;
    int32_t n;
} kiln_batch;

/* One optimisation step. *loss gets the batch loss (mean, with regularisation). A NaN or
 * infinite value stops with KILN_ERR_RUNTIME naming the step and the first layer whose output
 * or gradient was not finite; the weights are left as before the step. */
kiln_status kiln_trainer_step(kiln_trainer *t, const kiln_batch *b, float *loss, int32_t *correct);
/* Inference-mode forward pass (dropout off, batch norm uses moving statistics). out (may be
 * NULL) receives n * output-size floats. loss / correct may be NULL. */
kiln_status kiln_trainer_predict(kiln_trainer *t, const kiln_batch *b, float *out, float *loss,
                                 int32_t *correct);

int64_t kiln_trainer_step_count(const kiln_trainer *t);
float kiln_trainer_lr(const kiln_trainer *t); /* the learning rate of the next step */
/* The flat parameter array (kiln_param_desc offsets index into it). */
float *kiln_trainer_params(kiln_trainer *t);
int64_t kiln_trainer_output_size(const kiln_trainer *t); /* floats per sample */
/* Memory the trainer holds, in bytes: *total (parameters, their gradients, two optimizer
 * moments, and the arena); *activations (one batch of activations and their gradients, the
 * part of the arena that is not layer scratch). Either may be NULL. */
void kiln_trainer_memory(const kiln_trainer *t, size_t *total, size_t *activations);

/* ---- metrics (src/train/metrics.c) ---- */
/* probs/scores: n x k row-major. */
int32_t kiln_metric_topk(const float *scores, const int32_t *labels, int32_t n, int32_t k,
                         int32_t topk);
/* confusion[k*k] (row: true class, column: predicted) += the batch. */
void kiln_metric_confusion(const float *scores, const int32_t *labels, int32_t n, int32_t k,
                           int64_t *confusion);
/* Per-class precision and recall from a confusion matrix (0 where undefined). */
void kiln_metric_precision_recall(const int64_t *confusion, int32_t k, float *precision,
                                  float *recall);
/* ROC AUC of binary scores (ties count half), as the trapezoid area. */
double kiln_metric_auc(const float *scores, const int32_t *labels, int64_t n);

/* ---- the fit loop (datasets and batching: kiln/data.h) ---- */
typedef struct kiln_epoch_stats {
    int32_t epoch; /* 1-based */
    int64_t step;
    double loss, accuracy;
    double val_loss, val_accuracy; /* NaN when no validation */
    double seconds, samples_per_second;
    float lr;
} kiln_epoch_stats;

typedef struct kiln_fit_callbacks {
    void *ud;
    void (*epoch_begin)(void *ud, int32_t epoch, int64_t steps);
    /* After each step: running mean loss/accuracy of the epoch so far. */
    void (*step_end)(void *ud, int32_t epoch, int64_t step_in_epoch, int64_t steps,
                     int64_t global_step, float loss, double mean_loss, double mean_acc, float lr);
    void (*epoch_end)(void *ud, const kiln_epoch_stats *s);
} kiln_fit_callbacks;

typedef struct kiln_fit_options {
    int32_t epochs;
    int32_t batch;
    int32_t shuffle;             /* default 1: permutation per epoch from (seed, epoch) */
    int32_t early_stop;          /* patience in epochs on val_loss (or loss); 0: off */
    const kiln_augment *augment; /* NULL: none */
    const char *checkpoint;   /* path: saved after each epoch and on interruption (may be NULL) */
    const volatile int *stop; /* set non-zero (e.g. by a SIGINT handler) to stop after the
                                 current step: a checkpoint is saved, KILN_ERR_STATE returned */
    kiln_fit_callbacks cb;
} kiln_fit_options;

void kiln_fit_options_init(kiln_fit_options *o);

/* Trains from the trainer's current position (epoch and step, restored by
 * kiln_trainer_load) to opt->epochs. val may be NULL. *epochs_done gets the last epoch. */
kiln_status kiln_fit(kiln_trainer *t, const kiln_dataset *train, const kiln_dataset *val,
                     const kiln_fit_options *opt, int32_t *epochs_done);
/* Evaluates in inference mode over a dataset (batched): mean loss and accuracy. */
kiln_status kiln_evaluate(kiln_trainer *t, const kiln_dataset *d, double *loss, double *accuracy);

/* ---- checkpoints (.kckpt, docs/checkpoint.md) ---- */
/* Writes PATH.tmp then renames: an existing checkpoint stays intact if anything fails. */
kiln_status kiln_trainer_save(kiln_trainer *t, const char *path);
/* Restores weights, optimizer state, step and epoch position; the checkpoint's spec must
 * describe the same parameters. */
kiln_status kiln_trainer_load(kiln_trainer *t, const char *path);

/* Reads a checkpoint without a trainer (for the converter): its spec text, and the flat
 * parameter array (kiln_graph_param offsets). Free both with free(). */
kiln_status kiln_checkpoint_read(const char *path, char **spec, float **params, int64_t *n_params,
                                 char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
