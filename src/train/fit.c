/* fit.c: the epoch loop (Keras' model.fit semantics: shuffle per epoch, validation after each
 * epoch, early stopping on val_loss), exact resume from a checkpoint, and evaluation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/trainer.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void kiln_fit_options_init(kiln_fit_options *o) {
    memset(o, 0, sizeof *o);
    o->epochs = 1;
    o->batch = 32;
    o->shuffle = 1;
}

static kiln_status check_data(kiln_trainer *t, const kiln_dataset *d, const char *what) {
    const kiln_graph *g = t->g;
    const kiln__gtensor *ti = &g->tensors[t->in], *to = &g->tensors[t->out];
    if (!d || d->n <= 0 || !d->x)
        return kiln__trainer_fail(t, KILN_ERR_ARG, "%s set is empty", what);
    if (d->sample_size != ti->size) {
        char a[96], b[96];
        kiln__shape_str(d->dims, d->rank, a, sizeof a);
        kiln__shape_str(ti->dims, ti->rank, b, sizeof b);
        return kiln__trainer_fail(t, KILN_ERR_SHAPE,
                                  "%s samples have shape %s, the model's input '%s' is %s", what, a,
                                  g->layers[ti->layer].name, b);
    }
    if (g->loss == KILN_LOSS_SPARSE_CCE) {
        if (!d->labels)
            return kiln__trainer_fail(t, KILN_ERR_ARG, "%s set has no class labels", what);
        for (int64_t i = 0; i < d->n; i++)
            if (d->labels[i] < 0 || d->labels[i] >= to->size)
                return kiln__trainer_fail(t, KILN_ERR_ARG,
                                          "%s sample %lld: label %d is out of range [0, %lld) "
                                          "of the model's output",
                                          what, (long long)i, (int)d->labels[i],
                                          (long long)to->size);
    } else if (!d->targets || d->target_size != to->size) {
        if (d->labels && (g->loss == KILN_LOSS_CCE || (g->loss == KILN_LOSS_BCE && to->size == 1)))
            return KILN_OK; /* labels turned into one-hot / 0-1 targets per batch */
        return kiln__trainer_fail(t, KILN_ERR_ARG,
                                  "%s set: loss %s needs %lld float targets per sample", what,
                                  kiln_loss_name(g->loss), (long long)to->size);
    }
    return KILN_OK;
}

/* Fills targets from labels when the loss wants floats but the set has class ids. */
static const float *batch_targets(const kiln_trainer *t, const kiln_dataset *d, const int32_t *lb,
                                  const float *yb, float *scratch, int64_t n) {
    const kiln_graph *g = t->g;
    int64_t k = g->tensors[t->out].size;
    if (g->loss == KILN_LOSS_SPARSE_CCE) return NULL;
    if (d->targets && d->target_size == k) return yb;
    for (int64_t i = 0; i < n; i++) {
        if (k == 1) {
            scratch[i] = (float)(lb[i] != 0);
        } else {
            memset(scratch + i * k, 0, sizeof(float) * (size_t)k);
            if (lb[i] >= 0 && lb[i] < k) scratch[i * k + lb[i]] = 1.0f;
        }
    }
    return scratch;
}

typedef struct bufs {
    float *x, *y, *ty;
    int32_t *lb, *xi;
} bufs;

static void bufs_free(bufs *b) {
    free(b->x);
    free(b->y);
    free(b->ty);
    free(b->lb);
    free(b->xi);
}

static int bufs_alloc(bufs *b, const kiln_trainer *t, int64_t B) {
    const kiln_graph *g = t->g;
    int64_t xs = g->tensors[t->in].size, k = g->tensors[t->out].size;
    memset(b, 0, sizeof *b);
    b->x = malloc(sizeof(float) * (size_t)(B * xs));
    b->y = malloc(sizeof(float) * (size_t)(B * k));
    b->ty = malloc(sizeof(float) * (size_t)(B * k));
    b->lb = malloc(sizeof(int32_t) * (size_t)B);
    b->xi = malloc(sizeof(int32_t) * (size_t)(B * xs));
    return b->x && b->y && b->ty && b->lb && b->xi;
}

/* the batch as the trainer wants it (int32 inputs converted from the float features) */
static void make_batch(const kiln_trainer *t, const kiln_dataset *d, bufs *b, int64_t n,
                       kiln_batch *kb) {
    const kiln_graph *g = t->g;
    int64_t xs = g->tensors[t->in].size;
    kb->n = (int32_t)n;
    kb->x = b->x;
    if (g->tensors[t->in].dtype == KILN_INT32) {
        for (int64_t i = 0; i < n * xs; i++)
            b->xi[i] = (int32_t)lrintf(b->x[i]);
        kb->x = b->xi;
    }
    kb->labels = d->labels ? b->lb : NULL;
    kb->y = batch_targets(t, d, b->lb, b->y, b->ty, n);
}

kiln_status kiln_evaluate(kiln_trainer *t, const kiln_dataset *d, double *loss, double *accuracy) {
    if (!t) return KILN_ERR_ARG;
    kiln_status st = check_data(t, d, "evaluation");
    if (st) return st;
    bufs b;
    if (!bufs_alloc(&b, t, t->B)) {
        bufs_free(&b);
        return KILN_ERR_NOMEM;
    }
    int64_t xs = d->sample_size, k = d->target_size;
    double lsum = 0.0;
    int64_t correct = 0;
    for (int64_t s = 0; s < d->n; s += t->B) {
        int64_t n = d->n - s < t->B ? d->n - s : t->B;
        memcpy(b.x, d->x + s * xs, sizeof(float) * (size_t)(n * xs));
        if (d->labels) memcpy(b.lb, d->labels + s, sizeof(int32_t) * (size_t)n);
        if (d->targets) memcpy(b.y, d->targets + s * k, sizeof(float) * (size_t)(n * k));
        kiln_batch kb;
        make_batch(t, d, &b, n, &kb);
        float l;
        int32_t c;
        st = kiln_trainer_predict(t, &kb, NULL, &l, &c);
        if (st) break;
        lsum += (double)l * (double)n;
        correct += c;
    }
    bufs_free(&b);
    if (st) return st;
    if (loss) *loss = lsum / (double)d->n;
    if (accuracy) *accuracy = (double)correct / (double)d->n;
    return KILN_OK;
}

kiln_status kiln_fit(kiln_trainer *t, const kiln_dataset *train, const kiln_dataset *val,
                     const kiln_fit_options *opt, int32_t *epochs_done) {
    if (!t || !opt) return KILN_ERR_ARG;
    if (opt->batch <= 0 || opt->batch > t->B)
        return kiln__trainer_fail(t, KILN_ERR_ARG, "batch %d: the trainer was planned for 1..%d",
                                  (int)opt->batch, (int)t->B);
    kiln_status st = check_data(t, train, "training");
    if (!st && val && val->n) st = check_data(t, val, "validation");
    if (st) return st;
    if (epochs_done) *epochs_done = t->epoch;
    kiln_batch_options bo;
    memset(&bo, 0, sizeof bo);
    bo.batch_size = opt->batch;
    bo.shuffle = opt->shuffle;
    bo.seed = t->cfg.seed;
    bo.augment = opt->augment;
    kiln_batcher *bt = NULL;
    char e2[KILN_ERRLEN];
    st = kiln_batcher_create(train, &bo, &bt, e2, sizeof e2);
    if (st) return kiln__trainer_fail(t, st, "%s", e2);
    bufs b;
    if (!bufs_alloc(&b, t, opt->batch)) {
        bufs_free(&b);
        kiln_batcher_destroy(bt);
        return KILN_ERR_NOMEM;
    }
    const kiln_fit_callbacks *cb = &opt->cb;
    if (t->cfg.schedule == KILN_SCHED_COSINE && t->cfg.step_size == 0)
        t->cfg.step_size = (int64_t)opt->epochs * kiln_batcher_num_batches(bt);
    for (int32_t epoch = t->epoch; epoch < opt->epochs && !st; epoch++) {
        kiln_batcher_seek(bt, epoch, t->batch_in_epoch);
        int64_t steps = kiln_batcher_num_batches(bt);
        if (cb->epoch_begin) cb->epoch_begin(cb->ud, epoch + 1, steps);
        double t0 = now_s();
        int64_t seen0 = t->ep_seen;
        for (;;) {
            if (opt->stop && *opt->stop) {
                if (opt->checkpoint) {
                    kiln_status s2 = kiln_trainer_save(t, opt->checkpoint);
                    if (s2) {
                        st = s2;
                        break;
                    }
                }
                st = kiln__trainer_fail(t, KILN_ERR_STATE, "interrupted at epoch %d, step %lld%s%s",
                                        (int)epoch + 1, (long long)t->step,
                                        opt->checkpoint ? ": saved " : "",
                                        opt->checkpoint ? opt->checkpoint : "");
                break;
            }
            int64_t n = kiln_batcher_next(bt, b.x, b.lb, b.y);
            if (n <= 0) break;
            kiln_batch kb;
            make_batch(t, train, &b, n, &kb);
            float l;
            int32_t c;
            st = kiln_trainer_step(t, &kb, &l, &c);
            if (st) break;
            t->batch_in_epoch++;
            t->ep_loss += (double)l * (double)n;
            t->ep_correct += c;
            t->ep_seen += n;
            if (cb->step_end)
                cb->step_end(cb->ud, epoch + 1, t->batch_in_epoch, steps, t->step, l,
                             t->ep_loss / (double)t->ep_seen,
                             (double)t->ep_correct / (double)t->ep_seen, kiln_trainer_lr(t));
        }
        if (st) break;
        double secs = now_s() - t0;
        kiln_epoch_stats es;
        memset(&es, 0, sizeof es);
        es.epoch = epoch + 1;
        es.step = t->step;
        es.loss = t->ep_seen ? t->ep_loss / (double)t->ep_seen : NAN;
        es.accuracy = t->ep_seen ? (double)t->ep_correct / (double)t->ep_seen : NAN;
        es.seconds = secs;
        es.samples_per_second = secs > 0 ? (double)(t->ep_seen - seen0) / secs : 0.0;
        es.lr = kiln_trainer_lr(t);
        es.val_loss = es.val_accuracy = NAN;
        if (val && val->n) {
            st = kiln_evaluate(t, val, &es.val_loss, &es.val_accuracy);
            if (st) break;
        }
        t->epoch = epoch + 1;
        t->batch_in_epoch = 0;
        t->ep_loss = 0.0;
        t->ep_correct = t->ep_seen = 0;
        double mon = val && val->n ? es.val_loss : es.loss;
        if (mon < t->best) {
            t->best = mon;
            t->bad_epochs = 0;
        } else {
            t->bad_epochs++;
        }
        if (opt->checkpoint) {
            st = kiln_trainer_save(t, opt->checkpoint);
            if (st) break;
        }
        if (epochs_done) *epochs_done = t->epoch;
        if (cb->epoch_end) cb->epoch_end(cb->ud, &es);
        if (opt->early_stop > 0 && t->bad_epochs >= opt->early_stop) break;
    }
    bufs_free(&b);
    kiln_batcher_destroy(bt);
    return st;
}
