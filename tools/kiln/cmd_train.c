/* cmd_train.c: kiln train SPEC --data DIR ...: trains a model spec (Keras' fit loop), writing
 * DIR/model.kckpt, TensorBoard events and summary.json. Interface documented in docs/train.md. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "kiln/data.h"
#include "kiln/html.h"
#include "kiln/json.h"
#include "kiln/pool.h"
#include "kiln/report.h"
#include "kiln/train.h"

static volatile sig_atomic_t g_stop; /* set by SIGINT; fit checks it after each step */
static volatile int g_stop_int;

static void on_sigint(int sig) {
    (void)sig;
    g_stop = 1;
    g_stop_int = 1;
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: kiln train SPEC.kiln --data PATH --out DIR [options]\n\n"
            "Trains a model spec. --data is a directory with the four (Fashion-)MNIST IDX files\n"
            "(train-* for training, t10k-* as the test set), or a .csv/.npz/.npy/IDX/image folder\n"
            "(then --test PATH gives the test set). DIR gets model.kckpt, events.out.tfevents.*\n"
            "and summary.json.\n\n"
            "  --epochs N          epochs (default 1)\n"
            "  --batch B           batch size (default 32)\n"
            "  --optimizer NAME    sgd, adam (default), adamw, rmsprop, adagrad\n"
            "  --lr X              learning rate (default 0.001; sgd 0.01)\n"
            "  --momentum X        sgd momentum (default 0)   --nesterov\n"
            "  --weight-decay X    adamw decoupled decay (default 0.004), sgd L2 (default 0)\n"
            "  --beta1 X --beta2 X --eps X    adam/adamw/rmsprop/adagrad constants\n"
            "  --schedule NAME     constant (default), step, exponential, cosine\n"
            "  --step-size N --gamma X        step/exponential decay every N steps by X\n"
            "  --warmup N --min-lr X          cosine: linear warmup steps, final lr\n"
            "  --clip-norm X       clip the global gradient norm    --clip-value X\n"
            "  --seed S            seed of init, shuffling, dropout (default 1)\n"
            "  --threads T         threads (default 1)\n"
            "  --val-split F       hold out the last fraction F of the training set\n"
            "  --early-stop P      stop after P epochs without a better val_loss\n"
            "  --resume CKPT       continue from a checkpoint (same spec)\n"
            "  --limit N           use the first N training samples\n"
            "  --test-limit N      use the first N test samples\n"
            "  --test PATH         test set (when --data is not an IDX directory)\n"
            "  --augment LIST      e.g. flip,shift=2,crop=4\n"
            "  --no-shuffle        keep the data order\n"
            "  --quiet             no progress bar\n"
            "  --report FILE       write an HTML report: loss and accuracy curves per epoch\n");
}

#define KILN_REPORT_MAX_EPOCHS 1000

typedef struct cli_state {
    kiln_progress bar;
    kiln_tfevents *ev;
    int quiet;
    int32_t epochs;
    int64_t samples, batch;
    double last_flush;
    /* per-epoch history for --report (curves) */
    int32_t n_hist;
    double ep[KILN_REPORT_MAX_EPOCHS], loss[KILN_REPORT_MAX_EPOCHS], acc[KILN_REPORT_MAX_EPOCHS],
        val_loss[KILN_REPORT_MAX_EPOCHS], val_acc[KILN_REPORT_MAX_EPOCHS];
} cli_state;

static void cb_epoch_begin(void *ud, int32_t epoch, int64_t steps) {
    cli_state *s = ud;
    char title[64];
    snprintf(title, sizeof title, "epoch %d/%d", (int)epoch, (int)s->epochs);
    (void)steps;
    kiln_progress_begin(&s->bar, s->quiet ? NULL : stderr, title, s->samples);
}

static void cb_step_end(void *ud, int32_t epoch, int64_t step_in_epoch, int64_t steps,
                        int64_t global_step, float loss, double mean_loss, double mean_acc,
                        float lr) {
    cli_state *s = ud;
    (void)epoch;
    int64_t done = step_in_epoch * s->batch;
    if (step_in_epoch == steps || done > s->samples) done = s->samples;
    kiln_progress_metric(&s->bar, "loss", mean_loss);
    kiln_progress_metric(&s->bar, "acc", mean_acc);
    kiln_progress_update(&s->bar, done);
    if (s->ev) {
        kiln_tfevents_scalar(s->ev, "batch/loss", loss, global_step, -1.0);
        kiln_tfevents_scalar(s->ev, "batch/learning_rate", lr, global_step, -1.0);
    }
}

static void cb_epoch_end(void *ud, const kiln_epoch_stats *e) {
    cli_state *s = ud;
    if (s->n_hist < KILN_REPORT_MAX_EPOCHS) {
        const int32_t i = s->n_hist++;
        s->ep[i] = e->epoch;
        s->loss[i] = e->loss;
        s->acc[i] = e->accuracy;
        s->val_loss[i] = e->val_loss;
        s->val_acc[i] = e->val_accuracy;
    }
    if (!isnan(e->val_loss)) {
        kiln_progress_metric(&s->bar, "val_loss", e->val_loss);
        kiln_progress_metric(&s->bar, "val_acc", e->val_accuracy);
    }
    kiln_progress_end(&s->bar);
    if (s->ev) {
        kiln_tfevents_scalar(s->ev, "epoch/loss", (float)e->loss, e->epoch, -1.0);
        kiln_tfevents_scalar(s->ev, "epoch/accuracy", (float)e->accuracy, e->epoch, -1.0);
        kiln_tfevents_scalar(s->ev, "epoch/samples_per_second", (float)e->samples_per_second,
                             e->epoch, -1.0);
        if (!isnan(e->val_loss)) {
            kiln_tfevents_scalar(s->ev, "epoch/val_loss", (float)e->val_loss, e->epoch, -1.0);
            kiln_tfevents_scalar(s->ev, "epoch/val_accuracy", (float)e->val_accuracy, e->epoch,
                                 -1.0);
        }
        kiln_tfevents_flush(s->ev);
    }
}

/* The training report: loss and accuracy curves per epoch (training, and validation when
 * there is a validation split) and the run's facts, through the shared HTML report code. */
static int write_report(const char *path, const cli_state *cs, const char *spec, double test_loss,
                        double test_acc, double secs, double samples) {
    kiln_html *h = kiln_html_begin("Kiln training report");
    if (!h) return -1;
    kiln_html_heading(h, 1, "Training report");
    char v[4][64];
    snprintf(v[0], sizeof v[0], "%s", spec);
    snprintf(v[1], sizeof v[1], "%d", (int)cs->n_hist);
    snprintf(v[2], sizeof v[2], "%.4f / %.4f", test_loss, test_acc);
    snprintf(v[3], sizeof v[3], "%.1f s (%.0f samples/s)", secs, secs > 0 ? samples / secs : 0.0);
    const char *keys[4] = {"model spec", "epochs", "test loss / accuracy", "time"};
    const char *vals[4] = {v[0], v[1], v[2], v[3]};
    kiln_html_facts(h, "Run", 4, keys, vals);
    int has_val = 0;
    for (int32_t i = 0; i < cs->n_hist; i++)
        if (!isnan(cs->val_loss[i])) has_val = 1;
    const int64_t n = cs->n_hist;
    const char *ln[2] = {"training loss", "validation loss"};
    const int64_t cnt[2] = {n, n};
    const double *xs[2] = {cs->ep, cs->ep};
    const double *yl[2] = {cs->loss, cs->val_loss};
    kiln_html_lines(h, "Loss per epoch", has_val ? 2 : 1, ln, cnt, xs, yl, "epoch", "loss");
    const char *an[2] = {"training accuracy", "validation accuracy"};
    const double *ya[2] = {cs->acc, cs->val_acc};
    kiln_html_lines(h, "Accuracy per epoch", has_val ? 2 : 1, an, cnt, xs, ya, "epoch", "accuracy");
    char err[512];
    const kiln_status s = kiln_html_save(h, path, err, sizeof err);
    kiln_html_free(h);
    if (s) {
        fprintf(stderr, "kiln train: %s: %s\n", path, err);
        return -1;
    }
    return 0;
}

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Test-set metrics for classifiers: top-5 accuracy, per-class precision/recall, confusion
 * matrix (rows: true class). */
static void write_class_metrics(kiln_json *w, kiln_trainer *t, const kiln_dataset *d,
                                int32_t batch) {
    int64_t k = kiln_trainer_output_size(t);
    if (k < 2 || k > 1000 || d->num_classes > k) return;
    float *scores = malloc(sizeof(float) * (size_t)(batch * k));
    int64_t *cm = calloc((size_t)(k * k), sizeof(int64_t));
    float *prec = malloc(sizeof(float) * (size_t)k), *rec = malloc(sizeof(float) * (size_t)k);
    int64_t top5 = 0;
    int ok = scores && cm && prec && rec;
    for (int64_t s = 0; ok && s < d->n; s += batch) {
        int32_t n = (int32_t)(d->n - s < batch ? d->n - s : batch);
        kiln_batch b = {d->x + s * d->sample_size, d->labels + s, NULL, n};
        if (kiln_trainer_predict(t, &b, scores, NULL, NULL)) {
            ok = 0;
            break;
        }
        top5 += kiln_metric_topk(scores, d->labels + s, n, (int32_t)k, k >= 5 ? 5 : (int32_t)k);
        kiln_metric_confusion(scores, d->labels + s, n, (int32_t)k, cm);
    }
    if (ok) {
        kiln_metric_precision_recall(cm, (int32_t)k, prec, rec);
        kiln_json_kv_num(w, "test_top5_accuracy", (double)top5 / (double)d->n);
        kiln_json_key(w, "test_precision");
        kiln_json_arr_begin(w);
        for (int64_t c = 0; c < k; c++)
            kiln_json_num(w, prec[c]);
        kiln_json_arr_end(w);
        kiln_json_key(w, "test_recall");
        kiln_json_arr_begin(w);
        for (int64_t c = 0; c < k; c++)
            kiln_json_num(w, rec[c]);
        kiln_json_arr_end(w);
        kiln_json_key(w, "test_confusion");
        kiln_json_arr_begin(w);
        for (int64_t r = 0; r < k; r++) {
            kiln_json_arr_begin(w);
            for (int64_t c = 0; c < k; c++)
                kiln_json_int(w, cm[r * k + c]);
            kiln_json_arr_end(w);
        }
        kiln_json_arr_end(w);
    }
    free(scores);
    free(cm);
    free(prec);
    free(rec);
}

static int is_idx_dir(const char *dir) {
    char p[4096];
    struct stat st;
    const char *names[] = {"train-images-idx3-ubyte.gz", "train-images-idx3-ubyte"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        if (stat(p, &st) == 0) return 1;
    }
    return 0;
}

static int parse_augment(const char *s, kiln_augment *a) {
    memset(a, 0, sizeof *a);
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        int v = eq ? atoi(eq + 1) : 1;
        if (eq) *eq = 0;
        if (!strcmp(tok, "flip"))
            a->flip_horizontal = 1;
        else if (!strcmp(tok, "vflip"))
            a->flip_vertical = 1;
        else if (!strcmp(tok, "shift"))
            a->shift = v;
        else if (!strcmp(tok, "crop"))
            a->crop_pad = v;
        else
            return 0;
    }
    return 1;
}

static int limit_set(kiln_dataset *d, int64_t n, char *err, size_t errlen) {
    if (n <= 0 || n >= d->n) return 0;
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)n);
    if (!idx) return 1;
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    kiln_dataset sub;
    memset(&sub, 0, sizeof sub);
    kiln_status st = kiln_dataset_subset(d, idx, n, &sub, err, errlen);
    free(idx);
    if (st) return 1;
    kiln_dataset_free(d);
    *d = sub;
    return 0;
}

/* The model's input shape, when the data has the same element count (e.g. 784 vs 28x28x1). */
static int fit_shape(const kiln_graph *g, kiln_dataset *d, char *err, size_t errlen) {
    if (!d->n) return 0;
    kiln_tensor_desc t;
    kiln_graph_tensor(g, kiln_graph_input(g), &t);
    int64_t sz = 1;
    for (int32_t i = 0; i < t.rank; i++)
        sz *= t.dims[i];
    if (sz != d->sample_size) return 0; /* the trainer reports the mismatch with both shapes */
    return kiln_dataset_reshape(d, t.rank, t.dims, err, errlen) != KILN_OK;
}

int kiln_cmd_train(int argc, char **argv) {
    const char *spec = NULL, *data = NULL, *out = NULL, *resume = NULL, *testp = NULL,
               *report = NULL;
    const char *aug = NULL;
    kiln_train_config cfg;
    kiln_train_config_init(&cfg);
    kiln_fit_options fo;
    kiln_fit_options_init(&fo);
    int threads = 1, quiet = 0, lr_set = 0, wd_set = 0, opt_set = 0;
    /* the spec's `optimizer` line gives the defaults; options given here override them */
    kiln_graph *g = NULL;
    char err[1024];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--nesterov") || !strcmp(a, "--no-shuffle") || !strcmp(a, "--quiet") ||
            !strcmp(a, "--help") || !strcmp(a, "-h"))
            continue;
        if (a[0] == '-') {
            i++;
            continue;
        }
        if (kiln_graph_load(a, &g, err, sizeof err)) {
            fprintf(stderr, "kiln train: %s\n", err);
            return 1;
        }
        kiln_graph_train_defaults(g, &cfg);
        break;
    }
    double val_split = 0.0;
    long long limit = 0, test_limit = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEXT()                                                                                     \
    do {                                                                                           \
        if (!v) {                                                                                  \
            fprintf(stderr, "kiln train: %s needs a value\n", a);                                  \
            kiln_graph_destroy(g);                                                                 \
            return 2;                                                                              \
        }                                                                                          \
        i++;                                                                                       \
    } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            kiln_graph_destroy(g);
            return 0;
        } else if (!strcmp(a, "--data")) {
            NEXT();
            data = v;
        } else if (!strcmp(a, "--out")) {
            NEXT();
            out = v;
        } else if (!strcmp(a, "--test")) {
            NEXT();
            testp = v;
        } else if (!strcmp(a, "--report")) {
            NEXT();
            report = v;
        } else if (!strcmp(a, "--resume")) {
            NEXT();
            resume = v;
        } else if (!strcmp(a, "--augment")) {
            NEXT();
            aug = v;
        } else if (!strcmp(a, "--epochs")) {
            NEXT();
            fo.epochs = atoi(v);
        } else if (!strcmp(a, "--batch")) {
            NEXT();
            fo.batch = atoi(v);
        } else if (!strcmp(a, "--lr")) {
            NEXT();
            cfg.lr = strtof(v, NULL);
            lr_set = 1;
        } else if (!strcmp(a, "--momentum")) {
            NEXT();
            cfg.momentum = strtof(v, NULL);
        } else if (!strcmp(a, "--nesterov")) {
            cfg.nesterov = 1;
        } else if (!strcmp(a, "--weight-decay")) {
            NEXT();
            cfg.weight_decay = strtof(v, NULL);
            wd_set = 1;
        } else if (!strcmp(a, "--beta1")) {
            NEXT();
            cfg.beta1 = strtof(v, NULL);
        } else if (!strcmp(a, "--beta2")) {
            NEXT();
            cfg.beta2 = strtof(v, NULL);
        } else if (!strcmp(a, "--eps")) {
            NEXT();
            cfg.eps = strtof(v, NULL);
        } else if (!strcmp(a, "--rho")) {
            NEXT();
            cfg.rho = strtof(v, NULL);
        } else if (!strcmp(a, "--step-size")) {
            NEXT();
            cfg.step_size = atoll(v);
        } else if (!strcmp(a, "--gamma")) {
            NEXT();
            cfg.gamma = strtof(v, NULL);
        } else if (!strcmp(a, "--warmup")) {
            NEXT();
            cfg.warmup = atoll(v);
        } else if (!strcmp(a, "--min-lr")) {
            NEXT();
            cfg.min_lr = strtof(v, NULL);
        } else if (!strcmp(a, "--clip-norm")) {
            NEXT();
            cfg.clip_norm = strtof(v, NULL);
        } else if (!strcmp(a, "--clip-value")) {
            NEXT();
            cfg.clip_value = strtof(v, NULL);
        } else if (!strcmp(a, "--seed")) {
            NEXT();
            cfg.seed = strtoull(v, NULL, 10);
        } else if (!strcmp(a, "--threads")) {
            NEXT();
            threads = atoi(v);
        } else if (!strcmp(a, "--val-split")) {
            NEXT();
            val_split = atof(v);
        } else if (!strcmp(a, "--early-stop")) {
            NEXT();
            fo.early_stop = atoi(v);
        } else if (!strcmp(a, "--limit")) {
            NEXT();
            limit = atoll(v);
        } else if (!strcmp(a, "--test-limit")) {
            NEXT();
            test_limit = atoll(v);
        } else if (!strcmp(a, "--no-shuffle")) {
            fo.shuffle = 0;
        } else if (!strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (!strcmp(a, "--optimizer")) {
            NEXT();
            opt_set = 1;
            if (!strcmp(v, "sgd"))
                cfg.optimizer = KILN_OPT_SGD;
            else if (!strcmp(v, "adam"))
                cfg.optimizer = KILN_OPT_ADAM;
            else if (!strcmp(v, "adamw"))
                cfg.optimizer = KILN_OPT_ADAMW;
            else if (!strcmp(v, "rmsprop"))
                cfg.optimizer = KILN_OPT_RMSPROP;
            else if (!strcmp(v, "adagrad"))
                cfg.optimizer = KILN_OPT_ADAGRAD;
            else {
                fprintf(stderr,
                        "kiln train: unknown optimizer '%s' (sgd, adam, adamw, rmsprop, "
                        "adagrad)\n",
                        v);
                kiln_graph_destroy(g);
                return 2;
            }
        } else if (!strcmp(a, "--schedule")) {
            NEXT();
            if (!strcmp(v, "constant"))
                cfg.schedule = KILN_SCHED_CONSTANT;
            else if (!strcmp(v, "step"))
                cfg.schedule = KILN_SCHED_STEP;
            else if (!strcmp(v, "exponential"))
                cfg.schedule = KILN_SCHED_EXPONENTIAL;
            else if (!strcmp(v, "cosine"))
                cfg.schedule = KILN_SCHED_COSINE;
            else {
                fprintf(stderr,
                        "kiln train: unknown schedule '%s' (constant, step, "
                        "exponential, cosine)\n",
                        v);
                kiln_graph_destroy(g);
                return 2;
            }
        } else if (a[0] == '-' || spec) {
            fprintf(stderr, "kiln train: unexpected argument '%s' (see kiln train --help)\n", a);
            kiln_graph_destroy(g);
            return 2;
        } else {
            spec = a;
        }
#undef NEXT
    }
    if (!spec || !data || !out || !g) {
        fprintf(stderr, "kiln train: SPEC, --data and --out are required\n");
        usage(stderr);
        kiln_graph_destroy(g);
        return 2;
    }
    if (fo.epochs <= 0 || fo.batch <= 0 || threads <= 0 || threads > 256 || !(cfg.lr >= 0) ||
        val_split < 0 || val_split >= 1 || fo.early_stop < 0) {
        fprintf(stderr, "kiln train: --epochs, --batch and --threads must be > 0, --lr >= 0, "
                        "--val-split in [0, 1)\n");
        kiln_graph_destroy(g);
        return 2;
    }
    if (opt_set && !lr_set) cfg.lr = cfg.optimizer == KILN_OPT_SGD ? 0.01f : 0.001f;
    if (opt_set && !wd_set) cfg.weight_decay = cfg.optimizer == KILN_OPT_ADAMW ? 0.004f : 0.0f;
    kiln_augment augment;
    if (aug && !parse_augment(aug, &augment)) {
        fprintf(stderr, "kiln train: bad --augment '%s' (flip, vflip, shift=N, crop=N)\n", aug);
        kiln_graph_destroy(g);
        return 2;
    }

    int rc = 1;
    kiln_trainer *t = NULL;
    kiln_pool *pool = NULL;
    kiln_tfevents *ev = NULL;
    kiln_dataset train, val, test;
    memset(&train, 0, sizeof train);
    memset(&val, 0, sizeof val);
    memset(&test, 0, sizeof test);
    kiln_status st;
    if (is_idx_dir(data)) {
        st = kiln_dataset_load_fashion_mnist(data, &train, &test, err, sizeof err);
    } else {
        st = kiln_dataset_load(data, NULL, &train, err, sizeof err);
        if (!st && testp) st = kiln_dataset_load(testp, NULL, &test, err, sizeof err);
    }
    if (st) {
        fprintf(stderr, "kiln train: %s\n", err);
        goto done;
    }
    if (limit_set(&train, limit, err, sizeof err) ||
        limit_set(&test, test_limit, err, sizeof err) || fit_shape(g, &train, err, sizeof err) ||
        fit_shape(g, &test, err, sizeof err)) {
        fprintf(stderr, "kiln train: %s\n", err);
        goto done;
    }
    if (val_split > 0 && kiln_dataset_split(&train, val_split, &val, err, sizeof err)) {
        fprintf(stderr, "kiln train: %s\n", err);
        goto done;
    }
    if (threads > 1) {
        pool = kiln_pool_create(threads);
        if (!pool) {
            fprintf(stderr, "kiln train: cannot start %d threads\n", threads);
            goto done;
        }
        cfg.parallel = kiln_pool_parallel(pool);
    }
    cfg.batch = fo.batch;
    if (kiln_trainer_create(g, &cfg, &t, err, sizeof err)) {
        fprintf(stderr, "kiln train: %s\n", err);
        goto done;
    }
    if (resume && kiln_trainer_load(t, resume)) {
        fprintf(stderr, "kiln train: %s\n", kiln_trainer_error(t));
        goto done;
    }
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "kiln train: cannot create %s: %s\n", out, strerror(errno));
        goto done;
    }
    if (kiln_tfevents_open(out, &ev, err, sizeof err)) {
        fprintf(stderr, "kiln train: %s\n", err);
        goto done;
    }
    char ckpt[4096], sumpath[4096];
    snprintf(ckpt, sizeof ckpt, "%s/model.kckpt", out);
    snprintf(sumpath, sizeof sumpath, "%s/summary.json", out);
    cli_state cs;
    memset(&cs, 0, sizeof cs);
    cs.ev = ev;
    cs.quiet = quiet;
    cs.epochs = fo.epochs;
    cs.samples = train.n;
    cs.batch = fo.batch;
    fo.cb.ud = &cs;
    fo.cb.epoch_begin = cb_epoch_begin;
    fo.cb.step_end = cb_step_end;
    fo.cb.epoch_end = cb_epoch_end;
    fo.checkpoint = ckpt;
    fo.stop = &g_stop_int;
    fo.augment = aug ? &augment : NULL;
    if (!quiet)
        fprintf(stderr,
                "kiln train: %s, %lld parameters, %lld training samples%s%s, batch %d, "
                "%d thread%s\n",
                kiln_graph_name(g), (long long)kiln_graph_param_count(g), (long long)train.n,
                val.n ? ", validation " : "", val.n ? "split" : "", (int)fo.batch, threads,
                threads > 1 ? "s" : "");
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    double t0 = kiln_now_seconds(), c0 = cpu_seconds();
    int64_t step0 = kiln_trainer_step_count(t);
    int32_t done_epochs = 0;
    st = kiln_fit(t, &train, val.n ? &val : NULL, &fo, &done_epochs);
    double secs = kiln_now_seconds() - t0, csecs = cpu_seconds() - c0;
    sigaction(SIGINT, &old, NULL);
    if (st == KILN_ERR_STATE && g_stop) {
        if (cs.bar.out) fputc('\n', stderr);
        fprintf(stderr, "kiln train: %s\n", kiln_trainer_error(t));
        rc = 130;
        goto done;
    }
    if (st) {
        if (cs.bar.out) fputc('\n', stderr);
        fprintf(stderr, "kiln train: %s\n", kiln_trainer_error(t));
        if (done_epochs > 0)
            fprintf(stderr, "kiln train: the last good checkpoint (epoch %d) is %s\n",
                    (int)done_epochs, ckpt);
        goto done;
    }
    int64_t trained = (kiln_trainer_step_count(t) - step0);
    double test_loss = NAN, test_acc = NAN, val_loss = NAN, val_acc = NAN;
    if (test.n && kiln_evaluate(t, &test, &test_loss, &test_acc)) {
        fprintf(stderr, "kiln train: test set: %s\n", kiln_trainer_error(t));
        goto done;
    }
    if (val.n && kiln_evaluate(t, &val, &val_loss, &val_acc)) {
        fprintf(stderr, "kiln train: %s\n", kiln_trainer_error(t));
        goto done;
    }
    /* samples actually stepped over, whole batches except a partial last one */
    double samples = 0;
    {
        int64_t per_epoch = (train.n + fo.batch - 1) / fo.batch;
        samples = per_epoch > 0 ? (double)trained / (double)per_epoch * (double)train.n : 0;
    }
    if (kiln_trainer_save(t, ckpt)) {
        fprintf(stderr, "kiln train: %s\n", kiln_trainer_error(t));
        goto done;
    }
    kiln_json w;
    kiln_json_init_buffer(&w, 2);
    kiln_json_obj_begin(&w);
    kiln_json_kv_str(&w, "model", kiln_graph_name(g));
    kiln_json_kv_str(&w, "spec", spec);
    kiln_json_kv_num(&w, "test_accuracy", test_acc);
    kiln_json_kv_num(&w, "test_loss", test_loss);
    kiln_json_kv_num(&w, "val_accuracy", val_acc);
    kiln_json_kv_num(&w, "val_loss", val_loss);
    kiln_json_kv_int(&w, "epochs", done_epochs);
    kiln_json_kv_int(&w, "steps", kiln_trainer_step_count(t));
    kiln_json_kv_int(&w, "params", kiln_graph_param_count(g));
    kiln_json_kv_int(&w, "train_samples", train.n);
    kiln_json_kv_int(&w, "test_samples", test.n);
    kiln_json_kv_int(&w, "batch", fo.batch);
    kiln_json_kv_int(&w, "threads", threads);
    kiln_json_kv_int(&w, "seed", (int64_t)cfg.seed);
    kiln_json_kv_num(&w, "samples_per_second", secs > 0 ? samples / secs : 0.0);
    kiln_json_kv_num(&w, "seconds", secs);
    kiln_json_kv_num(&w, "cpu_seconds", csecs); /* all threads of the process, fit loop */
    size_t mem_total, mem_act;
    kiln_trainer_memory(t, &mem_total, &mem_act);
    kiln_json_kv_int(&w, "trainer_bytes", (int64_t)mem_total);
    kiln_json_kv_int(&w, "activation_bytes", (int64_t)mem_act);
    kiln_tensor_desc tin;
    kiln_graph_tensor(g, kiln_graph_input(g), &tin);
    if (test.n && test.labels && tin.dtype == KILN_FLOAT32)
        write_class_metrics(&w, t, &test, fo.batch);
    kiln_json_kv_str(&w, "checkpoint", ckpt);
    kiln_json_kv_str(&w, "events", kiln_tfevents_path(ev));
    kiln_json_obj_end(&w);
    if (kiln_json_finish(&w) || kiln_json_save(&w, sumpath, err, sizeof err)) {
        fprintf(stderr, "kiln train: %s: %s\n", sumpath, err);
        kiln_json_free(&w);
        goto done;
    }
    kiln_json_free(&w);
    if (report && write_report(report, &cs, spec, test_loss, test_acc, secs, samples)) goto done;
    if (!quiet) {
        if (test.n)
            fprintf(stderr, "test: loss %.4f, accuracy %.4f (%lld samples)\n", test_loss, test_acc,
                    (long long)test.n);
        fprintf(stderr, "wrote %s, %s (%.1f s, %.0f samples/s)\n", ckpt, sumpath, secs,
                secs > 0 ? samples / secs : 0.0);
    }
    rc = 0;
done:
    if (ev) kiln_tfevents_close(ev);
    kiln_trainer_destroy(t);
    kiln_pool_destroy(pool);
    kiln_graph_destroy(g);
    kiln_dataset_free(&train);
    kiln_dataset_free(&val);
    kiln_dataset_free(&test);
    return rc;
}
