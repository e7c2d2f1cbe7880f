/* trainer.h: the trainer's state (internal to src/train): parameters, gradients, optimizer
 * moments, and one arena holding every activation, gradient and scratch buffer. */
#ifndef KILN_TRAIN_TRAINER_H
#define KILN_TRAIN_TRAINER_H

#include "train/internal.h"

struct kiln_trainer {
    const kiln_graph *g;
    kiln_train_config cfg;
    int32_t B;       /* planned batch */
    int32_t in, out; /* tensor ids */
    /* flat arrays of g->param_elems (each padded to 16 floats): one allocation */
    float *params, *grads, *m1, *m2;
    float *arena;
    int64_t arena_floats;
    float **val, **grad; /* per tensor: [B, size] */
    float **z, **aux;    /* per layer */
    uint8_t *need_grad, *written;
    double *sumsq;
    float *ibuf;            /* int32 input copy (reinterpreted) */
    float *dout;            /* loss gradient when the output needs none */
    int64_t step;           /* optimizer steps done */
    int32_t epoch;          /* epochs completed */
    int64_t batch_in_epoch; /* batches done in the current epoch (resume point) */
    double best;            /* early stopping: best monitored loss so far */
    int32_t bad_epochs;
    double ep_loss; /* running sums of the current epoch (kept across a resume) */
    int64_t ep_correct, ep_seen;
    char err[KILN_ERRLEN];
};

kiln_status kiln__trainer_fail(kiln_trainer *t, kiln_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void kiln__trainer_init_weights(kiln_trainer *t);
/* Forward + loss + reverse pass over one batch (no update): gradients in t->grads. */
kiln_status kiln__trainer_backprop(kiln_trainer *t, const kiln_batch *b, double *loss);
/* Applies clipping (scale from clip_norm, clip_value) and the optimizer to every trainable
 * parameter, with the learning rate of step t->step. */
void kiln__optimizer_update(kiln_trainer *t, float grad_scale);
float kiln__lr_at(const kiln_train_config *c, int64_t step);
size_t kiln__trainer_arena_bytes(const kiln_trainer *t);

#endif
