/* refine.c: end-to-end rounding refinement of small int8 models (the quantizer's last step).
 * Rounding each weight to nearest and each activation to its grid leaves errors that add up
 * through the layers; on a small model (hello_world: 1-16-16-1) they reach several output
 * steps. Given the representative data, this step tunes the integer weights (within +-2 of
 * their rounded value, staying in [-127, 127]) and the int32 biases by coordinate descent,
 * keeping a change when it lowers the error of output 0 against the float model over the
 * calibration samples, measured with Kiln's interpreter in the reference (TFLite Micro)
 * arithmetic. Scales, zero points and the file layout are unchanged; the model follows every
 * TFLite rule as before. In the spirit of AdaRound (Nagel et al. 2020) and bias correction,
 * applied end to end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "quant/internal.h"
#include "rt/model.h"

/* Work limits: parameters tried, and parameter x sample evaluations per sweep. Larger models
 * keep round-to-nearest (their per-weight errors average out far better anyway). */
#define KQ_REFINE_MAX_PARAMS 4096
#define KQ_REFINE_MAX_WORK 4000000
#define KQ_REFINE_SWEEPS 8

typedef struct rparam {
    void *p;      /* int8 weight or int32 bias in the quantized model's buffer */
    int32_t bias; /* 1: int32 bias */
} rparam;

typedef struct rctx {
    kiln_interp *it;
    const kiln_quantize_options *o;
    int64_t ns, nout;
    const float *ref; /* float model's output 0, ns x nout */
    float *tmp;
    double out_scale;
} rctx;

/* Error of the quantized model over the samples: 10 x the largest error plus the mean squared
 * error, both in output steps (the largest error matters most for a function approximator, the
 * mean keeps the descent moving when the largest one does not change). */
static int objective(rctx *c, double bound, double *obj) {
    double mx = 0, sq = 0;
    const double n = (double)(c->ns * c->nout);
    for (int64_t s = 0; s < c->ns; s++) {
        /* both terms only grow: once past the bound the change is rejected anyway */
        if (10 * mx + sq / n >= bound) {
            *obj = 10 * mx + sq / n;
            return 0;
        }
        char err[64];
        if (kq_set_inputs(c->it, s, c->o, c->tmp, err, sizeof err) != KILN_OK) return -1;
        if (kiln_interp_invoke(c->it) != KILN_OK) return -1;
        kiln_tensor_info ti;
        if (kiln_interp_output(c->it, 0, &ti) != KILN_OK) return -1;
        for (int64_t k = 0; k < c->nout; k++) {
            double v;
            if (ti.dtype == KILN_FLOAT32)
                v = ((const float *)ti.data)[k];
            else if (ti.dtype == KILN_INT8)
                v = (((const int8_t *)ti.data)[k] - ti.zero_point[0]) * (double)ti.scale[0];
            else if (ti.dtype == KILN_UINT8)
                v = (((const uint8_t *)ti.data)[k] - ti.zero_point[0]) * (double)ti.scale[0];
            else
                return -1;
            const double e = fabs(v - c->ref[s * c->nout + k]) / c->out_scale;
            mx = e > mx ? e : mx;
            sq += e * e;
        }
    }
    *obj = 10 * mx + sq / n;
    return 0;
}

/* The scale of output 0 in the quantized model: the output's own, or that of the int8 tensor
 * its DEQUANTIZE reads. 0 when there is none. */
static double output_scale(const kiln_model *qm) {
    const kiln__subgraph_def *sg = &qm->subgraphs[0];
    const int32_t t = sg->outputs[0];
    if (sg->tensors[t].q.n > 0) return sg->tensors[t].q.scale[0];
    for (int32_t i = 0; i < sg->n_ops; i++) {
        const kiln__op_def *op = &sg->ops[i];
        if (op->builtin == KILN_OP_DEQUANTIZE && op->n_out && op->outputs[0] == t &&
            op->n_in && op->inputs[0] >= 0 && sg->tensors[op->inputs[0]].q.n > 0)
            return sg->tensors[op->inputs[0]].q.scale[0];
    }
    return 0;
}

kiln_status kq_refine(const kiln_model *fm, uint8_t *qbuf, size_t qlen,
                      const kiln_quantize_options *o, char *err, size_t errlen) {
    if (!o->calib || o->calib_n <= 0) return KILN_OK; /* random data: nothing to fit */
    kiln_model *qm = NULL;
    kiln_status s = kiln_model_load(qbuf, qlen, "quantized model", NULL, &qm, err, errlen);
    if (s != KILN_OK) return s;
    const kiln__subgraph_def *sg = &qm->subgraphs[0];
    rparam *par = NULL;
    int64_t np = 0;
    /* the parameters: int8 weights and int32 biases of the integer CONV/DEPTHWISE/FC ops */
    for (int pass = 0; pass < 2; pass++) {
        np = 0;
        for (int32_t i = 0; i < sg->n_ops; i++) {
            const kiln__op_def *op = &sg->ops[i];
            if ((op->builtin != KILN_OP_FULLY_CONNECTED && op->builtin != KILN_OP_CONV_2D &&
                 op->builtin != KILN_OP_DEPTHWISE_CONV_2D) ||
                op->n_in < 2 || op->inputs[0] < 0 || op->inputs[1] < 0 ||
                sg->tensors[op->inputs[0]].type != KILN_INT8)
                continue;
            for (int32_t k = 1; k <= 2 && k < op->n_in; k++) {
                if (op->inputs[k] < 0) continue;
                const kiln__tensor_def *d = &sg->tensors[op->inputs[k]];
                const int isb = k == 2;
                if (!d->data || d->type != (isb ? KILN_INT32 : KILN_INT8)) continue;
                /* a buffer the writer shares with another tensor stays as it is */
                int shared = 0;
                for (int32_t t = 0; t < sg->n_tensors && !shared; t++)
                    shared = t != op->inputs[k] && sg->tensors[t].data == d->data;
                if (shared) continue;
                const int64_t n = (int64_t)d->data_len / (isb ? 4 : 1);
                for (int64_t j = 0; j < n; j++, np++)
                    if (par) {
                        /* the loader points into qbuf, which is ours to change */
                        par[np].p = qbuf + (d->data - qbuf) + j * (isb ? 4 : 1);
                        par[np].bias = isb;
                    }
            }
        }
        if (pass == 0) {
            const int64_t ns = kq_num_samples(o);
            if (np == 0 || np > KQ_REFINE_MAX_PARAMS || np * ns > KQ_REFINE_MAX_WORK) {
                kiln_model_destroy(qm);
                return KILN_OK;
            }
            par = (rparam *)calloc((size_t)np, sizeof *par);
            if (!par) {
                kiln_model_destroy(qm);
                snprintf(err, errlen, "out of memory");
                return KILN_ERR_NOMEM;
            }
        }
    }
    rctx c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.ns = kq_num_samples(o);
    c.out_scale = output_scale(qm);
    kiln_interp *fi = NULL;
    float *ref = NULL;
    kiln_interp_options io;
    kiln_interp_options_init(&io);
    io.arith = KILN_ARITH_TFLM;
    s = kiln_interp_create(fm, &io, &fi, err, errlen);
    if (s == KILN_OK) s = kiln_interp_create(qm, &io, &c.it, err, errlen);
    if (s != KILN_OK || !(c.out_scale > 0)) goto done;
    {
        kiln_tensor_info ti;
        kiln_interp_output(fi, 0, &ti);
        if (ti.dtype != KILN_FLOAT32) goto done;
        c.nout = (int64_t)(ti.bytes / 4);
        int64_t maxin = 1;
        for (int32_t i = 0; i < kiln_interp_num_inputs(c.it); i++) {
            kiln_tensor_info xi;
            kiln_interp_input(c.it, i, &xi);
            if ((int64_t)xi.bytes > maxin) maxin = (int64_t)xi.bytes;
        }
        ref = (float *)malloc((size_t)(c.ns * c.nout) * sizeof(float));
        c.tmp = (float *)malloc((size_t)maxin * sizeof(float));
        if (!ref || !c.tmp) {
            s = KILN_ERR_NOMEM;
            snprintf(err, errlen, "out of memory");
            goto done;
        }
        for (int64_t k = 0; k < c.ns; k++) {
            if ((s = kq_set_inputs(fi, k, o, c.tmp, err, errlen)) != KILN_OK) goto done;
            if ((s = kiln_interp_invoke(fi)) != KILN_OK) goto done;
            kiln_interp_output(fi, 0, &ti);
            memcpy(ref + k * c.nout, ti.data, (size_t)c.nout * sizeof(float));
        }
        c.ref = ref;
    }
    double best;
    if (objective(&c, INFINITY, &best)) {
        s = KILN_ERR_RUNTIME;
        snprintf(err, errlen, "refinement: the quantized model does not run");
        goto done;
    }
    static const int32_t wsteps[] = {1, -1, 2, -2};
    static const int32_t bsteps[] = {1, -1, 4, -4, 16, -16};
    for (int sweep = 0; sweep < KQ_REFINE_SWEEPS; sweep++) {
        int64_t improved = 0;
        for (int64_t j = 0; j < np; j++) {
            const int isb = par[j].bias;
            const int32_t *steps = isb ? bsteps : wsteps;
            const int nsteps = isb ? 6 : 4;
            for (int k = 0; k < nsteps; k++) {
                int32_t old;
                if (isb) {
                    memcpy(&old, par[j].p, 4);
                } else {
                    old = *(int8_t *)par[j].p;
                }
                const int64_t nv = (int64_t)old + steps[k];
                if (isb ? (nv > INT32_MAX || nv < INT32_MIN) : (nv > 127 || nv < -127)) continue;
                const int32_t v = (int32_t)nv;
                if (isb)
                    memcpy(par[j].p, &v, 4);
                else
                    *(int8_t *)par[j].p = (int8_t)v;
                double obj;
                if (objective(&c, best, &obj)) {
                    s = KILN_ERR_RUNTIME;
                    snprintf(err, errlen, "refinement: the quantized model does not run");
                    goto done;
                }
                if (obj < best - 1e-12) {
                    best = obj;
                    improved++;
                } else if (isb) {
                    memcpy(par[j].p, &old, 4);
                } else {
                    *(int8_t *)par[j].p = (int8_t)old;
                }
            }
        }
        if (!improved) break;
    }
done:
    if (c.it) kiln_interp_destroy(c.it);
    if (fi) kiln_interp_destroy(fi);
    free(ref);
    free(c.tmp);
    free(par);
    kiln_model_destroy(qm);
    return s;
}
