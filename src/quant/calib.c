/* calib.c: calibration (range statistics of every float activation, collected with Kiln's
 * interpreter through its per-op hook) and the float-vs-quantized comparison of the report.
 * Range methods: min/max as TFLite's calibrator; moving average, percentile and MSE-optimal
 * clipping as documented in docs/quantize.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "kiln/data.h"
#include "quant/internal.h"
#include "rt/model.h"

int64_t kq_num_samples(const kiln_quantize_options *o) {
    if (o->calib && o->calib_n > 0) return o->calib_n;
    if (o->calib_random) return o->calib_random_n > 0 ? o->calib_random_n : 100;
    return 0;
}

void kq_fill_input(float *dst, int64_t numel, int32_t input, int64_t s,
                   const kiln_quantize_options *o) {
    if (o->calib && o->calib_n > 0 && input == 0) {
        memcpy(dst, o->calib + s * numel, (size_t)numel * sizeof(float));
        return;
    }
    kiln_rng r;
    kiln_rng_seed(&r, o->seed ^ kiln_splitmix64((uint64_t)s), (uint64_t)input + 1);
    for (int64_t i = 0; i < numel; i++)
        dst[i] = kiln_rng_uniform(&r);
}

void kq_stats_free(kq_stats *st, int32_t n) {
    if (!st) return;
    for (int32_t i = 0; i < n; i++)
        free(st[i].hist);
}

typedef struct calib_ctx {
    const kiln_model *m;
    kiln_interp *it;
    kq_stats *st;
    int32_t n;
    int32_t pass; /* 1: min/max (+ moving average), 2: histograms */
} calib_ctx;

static void observe_vals(calib_ctx *c, int32_t t, const float *v, size_t n) {
    kq_stats *s = &c->st[t];
    if (c->pass == 1) {
        for (size_t i = 0; i < n; i++) {
            const float x = v[i];
            if (!isfinite(x)) {
                s->nonfinite = 1;
                continue;
            }
            if (!s->seen) {
                s->min = s->max = x;
                s->seen = 1;
            }
            if (x < s->min) s->min = x;
            if (x > s->max) s->max = x;
            if (!s->bseen) {
                s->bmin = s->bmax = x;
                s->bseen = 1;
            }
            if (x < s->bmin) s->bmin = x;
            if (x > s->bmax) s->bmax = x;
        }
        return;
    }
    if (!s->hist || !(s->max > s->min)) return;
    const double w = ((double)s->max - s->min) / KQ_HIST_BINS;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i])) continue;
        long b = (long)(((double)v[i] - s->min) / w);
        if (b < 0) b = 0;
        if (b >= KQ_HIST_BINS) b = KQ_HIST_BINS - 1;
        s->hist[b]++;
        s->hist_n++;
    }
}

static void observe(calib_ctx *c, int32_t t) {
    kiln_tensor_info ti;
    if (t < 0 || t >= c->n || kiln_interp_tensor(c->it, t, &ti) != KILN_OK) return;
    if (ti.dtype != KILN_FLOAT32 || !ti.data) return;
    observe_vals(c, t, (const float *)ti.data, ti.bytes / sizeof(float));
}

static void lstm_sink(void *ud, int32_t slot, const float *v, int64_t n) {
    calib_ctx *c = (calib_ctx *)ud;
    if (slot >= 0 && slot < c->n) observe_vals(c, slot, v, (size_t)n);
}

static void calib_hook(void *ud, int32_t op, int after) {
    calib_ctx *c = (calib_ctx *)ud;
    if (!after) return;
    kiln_op_info oi;
    if (kiln_interp_op(c->it, op, &oi) != KILN_OK) return;
    for (int32_t k = 0; k < oi.num_outputs; k++)
        observe(c, oi.outputs[k]);
    /* a float LSTM: the per-step values the full-integer form needs (lstm.c); a failed
     * allocation only leaves those slots unseen */
    if (oi.builtin_code == KILN_OP_UNIDIRECTIONAL_SEQUENCE_LSTM)
        (void)kq_lstm_observe(c->m, c->it, op, lstm_sink, c);
    /* SVDF's state (input 4) holds the newest feature activations after the op: its range
     * gives the int16 state scale, as TFLite's calibrator logs the variable tensor */
    if (oi.builtin_code == KILN_OP_SVDF && oi.num_inputs == 5) observe(c, oi.inputs[4]);
}

/* Folds the current batch's min/max into the moving average (momentum 0.9, as the
 * exponential-moving-average observers of TF/QAT). */
static void end_batch(kq_stats *st, int32_t n) {
    for (int32_t t = 0; t < n; t++) {
        kq_stats *s = &st[t];
        if (!s->bseen) continue;
        if (!s->ema_init) {
            s->ema_min = s->bmin;
            s->ema_max = s->bmax;
            s->ema_init = 1;
        } else {
            s->ema_min = 0.9 * s->ema_min + 0.1 * s->bmin;
            s->ema_max = 0.9 * s->ema_max + 0.1 * s->bmax;
        }
        s->bseen = 0;
    }
}

kiln_status kq_set_inputs(kiln_interp *it, int64_t s, const kiln_quantize_options *o, float *tmp,
                          char *err, size_t errlen) {
    for (int32_t i = 0; i < kiln_interp_num_inputs(it); i++) {
        kiln_tensor_info ti;
        kiln_status st = kiln_interp_input(it, i, &ti);
        if (st != KILN_OK) return st;
        const int64_t numel = (int64_t)(ti.bytes / (ti.dtype == KILN_FLOAT32 ? 4 : 1));
        const int64_t want =
            (int64_t)(ti.bytes / (kiln_dtype_size(ti.dtype) ? kiln_dtype_size(ti.dtype) : 1));
        if (i == 0 && o->calib && o->calib_n > 0 && o->calib_sample_size != want) {
            snprintf(err, errlen,
                     "calibration samples have %lld values each, the model's input 0 takes %lld",
                     (long long)o->calib_sample_size, (long long)want);
            return KILN_ERR_SHAPE;
        }
        if (ti.dtype == KILN_FLOAT32) {
            kq_fill_input((float *)ti.data, numel, i, s, o);
            continue;
        }
        /* an integer input (quantized model with int I/O): quantize the float sample */
        const size_t es = kiln_dtype_size(ti.dtype);
        const int64_t ne = (int64_t)(ti.bytes / (es ? es : 1));
        kq_fill_input(tmp, ne, i, s, o);
        if (ti.dtype == KILN_INT32 || ti.dtype == KILN_INT64 || ti.dtype == KILN_BOOL) {
            /* a float model's own integer input (token ids, indices): the sample values as
             * they are; random calibration draws integers in [0, 10) (bool: 0/1), as the
             * official runtime's tflite-run does */
            const int rnd = !(o->calib && o->calib_n > 0 && i == 0);
            for (int64_t k = 0; k < ne; k++) {
                double v = rnd ? floor((double)tmp[k] * (ti.dtype == KILN_BOOL ? 2 : 10))
                               : round((double)tmp[k]);
                if (ti.dtype == KILN_BOOL) {
                    ((uint8_t *)ti.data)[k] = v != 0;
                } else if (ti.dtype == KILN_INT32) {
                    v = v < -2147483648.0 ? -2147483648.0 : (v > 2147483647.0 ? 2147483647.0 : v);
                    ((int32_t *)ti.data)[k] = (int32_t)v;
                } else {
                    const int64_t x = (int64_t)v;
                    memcpy((int64_t *)ti.data + k, &x, 8);
                }
            }
            continue;
        }
        const float sc = ti.num_quant ? ti.scale[0] : 1.0f;
        const int32_t zp = ti.num_quant ? ti.zero_point[0] : 0;
        for (int64_t k = 0; k < ne; k++) {
            double q = round((double)tmp[k] / sc) + zp;
            if (ti.dtype == KILN_INT8) {
                q = q < -128 ? -128 : (q > 127 ? 127 : q);
                ((int8_t *)ti.data)[k] = (int8_t)q;
            } else if (ti.dtype == KILN_UINT8) {
                q = q < 0 ? 0 : (q > 255 ? 255 : q);
                ((uint8_t *)ti.data)[k] = (uint8_t)q;
            } else if (ti.dtype == KILN_INT16) {
                q = q < -32768 ? -32768 : (q > 32767 ? 32767 : q);
                ((int16_t *)ti.data)[k] = (int16_t)q;
            } else {
                snprintf(err, errlen, "input %d has type %s, which the quantizer cannot feed", i,
                         kiln_dtype_name(ti.dtype));
                return KILN_ERR_UNSUPPORTED;
            }
        }
    }
    return KILN_OK;
}

static int64_t max_input_numel(const kiln_interp *it) {
    int64_t mx = 1;
    for (int32_t i = 0; i < kiln_interp_num_inputs(it); i++) {
        kiln_tensor_info ti;
        if (kiln_interp_input(it, i, &ti) != KILN_OK) continue;
        if ((int64_t)ti.bytes > mx) mx = (int64_t)ti.bytes;
    }
    return mx;
}

/* Expected squared error of quantizing the histogram's values to 255 steps over [lo, hi]. */
static double clip_mse(const kq_stats *s, double lo, double hi) {
    const double w = ((double)s->max - s->min) / KQ_HIST_BINS;
    const double step = (hi - lo) / 255.0;
    double e = 0;
    for (int b = 0; b < KQ_HIST_BINS; b++) {
        if (!s->hist[b]) continue;
        const double v = s->min + (b + 0.5) * w;
        double d;
        if (v < lo) {
            d = (lo - v) * (lo - v);
        } else if (v > hi) {
            d = (v - hi) * (v - hi);
        } else {
            d = step * step / 12.0;
        }
        e += d * s->hist[b];
    }
    return e;
}

static void finish_range(kq_stats *s, const kiln_quantize_options *o) {
    s->lo = s->min;
    s->hi = s->max;
    if (!s->seen) return;
    if (o->method == KILN_CALIB_MOVING_AVERAGE && s->ema_init) {
        s->lo = (float)s->ema_min;
        s->hi = (float)s->ema_max;
    } else if (o->method == KILN_CALIB_PERCENTILE && s->hist && s->hist_n) {
        const double p = (o->percentile > 50 && o->percentile <= 100) ? o->percentile : 99.99;
        const double w = ((double)s->max - s->min) / KQ_HIST_BINS;
        const double lo_n = (double)s->hist_n * (100.0 - p) / 100.0;
        const double hi_n = (double)s->hist_n * p / 100.0;
        double acc = 0;
        int blo = 0, bhi = KQ_HIST_BINS - 1;
        for (int b = 0; b < KQ_HIST_BINS; b++) {
            acc += s->hist[b];
            if (acc > lo_n) {
                blo = b;
                break;
            }
        }
        acc = 0;
        for (int b = 0; b < KQ_HIST_BINS; b++) {
            acc += s->hist[b];
            if (acc >= hi_n) {
                bhi = b;
                break;
            }
        }
        s->lo = blo == 0 ? s->min : (float)(s->min + blo * w);
        s->hi = bhi == KQ_HIST_BINS - 1 ? s->max : (float)(s->min + (bhi + 1) * w);
    } else if (o->method == KILN_CALIB_MSE && s->hist && s->hist_n) {
        /* shrink the range toward zero by a common factor; keep the best */
        double best = clip_mse(s, s->min, s->max), bf = 1.0;
        for (int k = 1; k <= 80; k++) {
            const double f = 1.0 - k * 0.01;
            const double e = clip_mse(s, s->min * f, s->max * f);
            if (e < best) {
                best = e;
                bf = f;
            }
        }
        s->lo = (float)(s->min * bf);
        s->hi = (float)(s->max * bf);
    }
}

kiln_status kq_calibrate(const kiln_model *m, const kiln_quantize_options *o, kq_stats *st,
                         int32_t n_tensors, char *err, size_t errlen) {
    const int64_t ns = kq_num_samples(o);
    if (ns <= 0) {
        snprintf(err, errlen, "the representative (calibration) data set is empty");
        return KILN_ERR_ARG;
    }
    kiln_interp_options io;
    kiln_interp_options_init(&io);
    kiln_interp *it = NULL;
    kiln_status s = kiln_interp_create(m, &io, &it, err, errlen);
    if (s != KILN_OK) return s;
    calib_ctx c = {m, it, st, n_tensors, 1};
    kiln_interp_set_op_hook(it, calib_hook, &c);
    const int hist = o->method == KILN_CALIB_PERCENTILE || o->method == KILN_CALIB_MSE;
    float *tmp = (float *)malloc((size_t)max_input_numel(it) * sizeof(float));
    if (!tmp) {
        kiln_interp_destroy(it);
        snprintf(err, errlen, "out of memory");
        return KILN_ERR_NOMEM;
    }
    for (int pass = 1; pass <= (hist ? 2 : 1) && s == KILN_OK; pass++) {
        c.pass = pass;
        if (pass == 2) {
            for (int32_t t = 0; t < n_tensors; t++) {
                if (!st[t].seen) continue;
                st[t].hist = (uint32_t *)calloc(KQ_HIST_BINS, sizeof(uint32_t));
                if (!st[t].hist) {
                    s = KILN_ERR_NOMEM;
                    snprintf(err, errlen, "out of memory");
                    break;
                }
            }
        }
        for (int64_t i = 0; i < ns && s == KILN_OK; i++) {
            s = kq_set_inputs(it, i, o, tmp, err, errlen);
            if (s != KILN_OK) break;
            for (int32_t k = 0; k < m->subgraphs[0].n_inputs; k++)
                observe(&c, m->subgraphs[0].inputs[k]);
            /* each sample is independent: clear LSTM / variable state left by the last one */
            s = kiln_interp_reset(it);
            if (s == KILN_OK) s = kiln_interp_invoke(it);
            if (s != KILN_OK) {
                snprintf(err, errlen, "calibration sample %lld: %s", (long long)i,
                         kiln_interp_error(it));
                break;
            }
            if (pass == 1 && ((i + 1) % 16 == 0 || i + 1 == ns)) end_batch(st, n_tensors);
        }
    }
    free(tmp);
    kiln_interp_destroy(it);
    if (s != KILN_OK) return s;
    for (int32_t t = 0; t < n_tensors; t++)
        finish_range(&st[t], o);
    return KILN_OK;
}

/* ---- the comparison behind the report ---------------------------------------------------- */

typedef struct cmp_ctx {
    kiln_interp *fit, *qit;
    const int32_t *qmap;
    int32_t nq;
    int32_t nf;
    float **saved; /* float tensor values of the current sample */
    int64_t *saved_n;
    const int32_t *layer_of;
    double *sse, *ssv, *maxabs;
    int64_t *cnt;
    int32_t fail;
} cmp_ctx;

static void float_hook(void *ud, int32_t op, int after) {
    cmp_ctx *c = (cmp_ctx *)ud;
    if (!after) return;
    kiln_op_info oi;
    if (kiln_interp_op(c->fit, op, &oi) != KILN_OK) return;
    for (int32_t k = 0; k < oi.num_outputs; k++) {
        const int32_t t = oi.outputs[k];
        kiln_tensor_info ti;
        if (t < 0 || t >= c->nf || c->layer_of[t] < 0) continue;
        if (kiln_interp_tensor(c->fit, t, &ti) != KILN_OK || ti.dtype != KILN_FLOAT32) continue;
        const int64_t n = (int64_t)(ti.bytes / 4);
        if (!c->saved[t]) {
            c->saved[t] = (float *)malloc((size_t)n * sizeof(float));
            if (!c->saved[t]) {
                c->fail = 1;
                continue;
            }
            c->saved_n[t] = n;
        }
        if (c->saved_n[t] != n) continue;
        memcpy(c->saved[t], ti.data, (size_t)n * sizeof(float));
    }
}

static double deq(const kiln_tensor_info *ti, int64_t k) {
    const double sc = ti->num_quant ? ti->scale[0] : 1.0;
    const double zp = ti->num_quant ? ti->zero_point[0] : 0;
    switch (ti->dtype) {
    case KILN_FLOAT32:
        return ((const float *)ti->data)[k];
    case KILN_INT8:
        return (((const int8_t *)ti->data)[k] - zp) * sc;
    case KILN_UINT8:
        return (((const uint8_t *)ti->data)[k] - zp) * sc;
    case KILN_INT16:
        return (((const int16_t *)ti->data)[k] - zp) * sc;
    default:
        return 0;
    }
}

static void quant_hook(void *ud, int32_t op, int after) {
    cmp_ctx *c = (cmp_ctx *)ud;
    if (!after) return;
    kiln_op_info oi;
    if (kiln_interp_op(c->qit, op, &oi) != KILN_OK) return;
    for (int32_t k = 0; k < oi.num_outputs; k++) {
        const int32_t qt = oi.outputs[k];
        if (qt < 0 || qt >= c->nq || c->qmap[qt] < 0) continue;
        const int32_t ft = c->qmap[qt];
        const int32_t L = c->layer_of[ft];
        kiln_tensor_info ti;
        if (L < 0 || !c->saved[ft] || kiln_interp_tensor(c->qit, qt, &ti) != KILN_OK) continue;
        const size_t es = kiln_dtype_size(ti.dtype);
        const int64_t n = es ? (int64_t)(ti.bytes / es) : 0;
        if (n != c->saved_n[ft]) continue;
        for (int64_t i = 0; i < n; i++) {
            const double f = c->saved[ft][i];
            const double d = deq(&ti, i) - f;
            c->sse[L] += d * d;
            c->ssv[L] += f * f;
            if (fabs(d) > c->maxabs[L]) c->maxabs[L] = fabs(d);
        }
        c->cnt[L] += n;
    }
}

static int32_t argmax_info(const kiln_tensor_info *ti) {
    const size_t es = kiln_dtype_size(ti->dtype);
    const int64_t n = es ? (int64_t)(ti->bytes / es) : 0;
    int32_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (deq(ti, i) > deq(ti, best)) best = (int32_t)i;
    return best;
}

kiln_status kq_compare(const kiln_model *fm, const kiln_model *qm, const int32_t *qmap,
                       int32_t n_qtensors, const kiln_quantize_options *o, kiln_quant_report *rep,
                       const int32_t *layer_of_tensor, char *err, size_t errlen) {
    int64_t ns = kq_num_samples(o);
    if (o->report_samples > 0 && o->report_samples < ns) ns = o->report_samples;
    kiln_interp_options io;
    kiln_interp_options_init(&io);
    kiln_interp *fit = NULL, *qit = NULL;
    kiln_status s = kiln_interp_create(fm, &io, &fit, err, errlen);
    if (s != KILN_OK) return s;
    s = kiln_interp_create(qm, &io, &qit, err, errlen);
    if (s != KILN_OK) {
        kiln_interp_destroy(fit);
        return s;
    }
    const int32_t nf = kiln_interp_num_tensors(fit);
    const int32_t L = rep->n_layers;
    cmp_ctx c;
    memset(&c, 0, sizeof c);
    c.fit = fit;
    c.qit = qit;
    c.qmap = qmap;
    c.nq = n_qtensors;
    c.nf = nf;
    c.layer_of = layer_of_tensor;
    c.saved = (float **)calloc((size_t)nf, sizeof(float *));
    c.saved_n = (int64_t *)calloc((size_t)nf, sizeof(int64_t));
    c.sse = (double *)calloc((size_t)L + 1, sizeof(double));
    c.ssv = (double *)calloc((size_t)L + 1, sizeof(double));
    c.maxabs = (double *)calloc((size_t)L + 1, sizeof(double));
    c.cnt = (int64_t *)calloc((size_t)L + 1, sizeof(int64_t));
    float *tmp = (float *)malloc((size_t)(max_input_numel(fit) + max_input_numel(qit)) * 4);
    if (!c.saved || !c.saved_n || !c.sse || !c.ssv || !c.maxabs || !c.cnt || !tmp) {
        s = KILN_ERR_NOMEM;
        snprintf(err, errlen, "out of memory");
    }
    kiln_interp_set_op_hook(fit, float_hook, &c);
    kiln_interp_set_op_hook(qit, quant_hook, &c);
    double out_sse = 0;
    int64_t out_n = 0, agree = 0;
    for (int64_t i = 0; i < ns && s == KILN_OK; i++) {
        s = kq_set_inputs(fit, i, o, tmp, err, errlen);
        if (s == KILN_OK) s = kq_set_inputs(qit, i, o, tmp, err, errlen);
        if (s != KILN_OK) break;
        if (kiln_interp_reset(fit) != KILN_OK || kiln_interp_invoke(fit) != KILN_OK) {
            snprintf(err, errlen, "float model: %s", kiln_interp_error(fit));
            s = KILN_ERR_RUNTIME;
            break;
        }
        if (kiln_interp_reset(qit) != KILN_OK || kiln_interp_invoke(qit) != KILN_OK) {
            snprintf(err, errlen, "quantized model: %s", kiln_interp_error(qit));
            s = KILN_ERR_RUNTIME;
            break;
        }
        kiln_tensor_info fo, qo;
        if (kiln_interp_output(fit, 0, &fo) == KILN_OK &&
            kiln_interp_output(qit, 0, &qo) == KILN_OK) {
            const int64_t n = (int64_t)(fo.bytes / 4);
            const size_t es = kiln_dtype_size(qo.dtype);
            if (fo.dtype == KILN_FLOAT32 && es && (int64_t)(qo.bytes / es) == n) {
                for (int64_t k = 0; k < n; k++) {
                    const double d = deq(&qo, k) - ((const float *)fo.data)[k];
                    out_sse += d * d;
                }
                out_n += n;
                agree += argmax_info(&fo) == argmax_info(&qo);
            }
        }
    }
    if (s == KILN_OK && c.fail) {
        s = KILN_ERR_NOMEM;
        snprintf(err, errlen, "out of memory");
    }
    if (s == KILN_OK) {
        rep->report_samples = ns;
        rep->output_rmse = out_n ? sqrt(out_sse / (double)out_n) : 0;
        rep->output_agreement = ns ? (double)agree / (double)ns : 0;
        for (int32_t l = 0; l < L; l++) {
            kiln_quant_layer *ly = &rep->layers[l];
            if (!c.cnt[l]) continue;
            ly->rmse = sqrt(c.sse[l] / (double)c.cnt[l]);
            ly->max_abs = c.maxabs[l];
            const double rms = sqrt(c.ssv[l] / (double)c.cnt[l]);
            ly->rel_rmse = rms > 0 ? ly->rmse / rms : 0;
            ly->rmse_scale = ly->scale > 0 ? ly->rmse / ly->scale : 0;
        }
    }
    free(tmp);
    if (c.saved)
        for (int32_t t = 0; t < nf; t++)
            free(c.saved[t]);
    free(c.saved);
    free(c.saved_n);
    free(c.sse);
    free(c.ssv);
    free(c.maxabs);
    free(c.cnt);
    kiln_interp_destroy(qit);
    kiln_interp_destroy(fit);
    return s;
}
