/* test_quantize_hello.c: issue #7, hello_world quantized to int8 tracks its float model
 * (src/quant/refine.c fits scalar-input models over all 256 input codes). Figures in output
 * quantization steps, in both integer dialects (TFLite Micro and LiteRT/XNNPACK arithmetic). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kernels/ops.h"
#include "kiln/kiln_rt.h"
#include "kiln/quantize.h"
#include "rt/model.h"
#include "test.h"

#define TWO_PI 6.28318530717958647692

typedef struct runner {
    kiln_model *m;
    kiln_interp *it;
} runner;

static int runner_open(runner *r, const void *buf, size_t len, kiln_arith arith) {
    char err[256];
    memset(r, 0, sizeof *r);
    if (kiln_model_load(buf, len, "m", NULL, &r->m, err, sizeof err) != KILN_OK) {
        fprintf(stderr, "load: %s\n", err);
        return -1;
    }
    kiln_interp_options o;
    kiln_interp_options_init(&o);
    o.arith = arith;
    if (kiln_interp_create(r->m, &o, &r->it, err, sizeof err) != KILN_OK) {
        fprintf(stderr, "create: %s\n", err);
        return -1;
    }
    return 0;
}

static void runner_close(runner *r) {
    if (r->it) kiln_interp_destroy(r->it);
    if (r->m) kiln_model_destroy(r->m);
}

/* The model's float output for float input x (NAN on failure). */
static double run_x(runner *r, float x) {
    kiln_tensor_info ti;
    if (kiln_interp_input(r->it, 0, &ti) != KILN_OK || ti.dtype != KILN_FLOAT32) return NAN;
    *(float *)ti.data = x;
    if (kiln_interp_invoke(r->it) != KILN_OK || kiln_interp_output(r->it, 0, &ti) != KILN_OK ||
        ti.dtype != KILN_FLOAT32)
        return NAN;
    return *(const float *)ti.data;
}

static uint8_t *quantize_hw(const void *fbuf, size_t len, size_t *qlen, double *out_scale,
                            double *secs) {
    enum { NC = 200 };
    float calib[NC];
    for (int i = 0; i < NC; i++)
        calib[i] = (float)(TWO_PI * i / (NC - 1));
    kiln_quantize_options o;
    kiln_quantize_options_init(&o);
    o.calib = calib;
    o.calib_n = NC;
    o.calib_sample_size = 1;
    uint8_t *q = NULL;
    kiln_quant_report rep;
    char err[512];
    const clock_t t0 = clock();
    kiln_status s = kiln_quantize_model(fbuf, len, &o, &q, qlen, &rep, err, sizeof err);
    *secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK_MSG(s == KILN_OK, "%s", err);
    if (s != KILN_OK) return NULL;
    CHECK_EQ_INT(rep.n_layers, 3);
    *out_scale = rep.n_layers == 3 ? rep.layers[2].scale : 0;
    kiln_quant_report_free(&rep);
    return q;
}

int main(void) {
    const char *tests = getenv("KILN_TESTS");
    char path[4096];
    snprintf(path, sizeof path, "%s/golden/quant/hw_float.tflite", tests ? tests : "tests");
    struct stat st;
    if (stat(path, &st) != 0) TEST_SKIP("tests/golden/quant/hw_float.tflite not found (KILN_TESTS)");
    size_t len = 0;
    void *fbuf = test_read_file(path, &len);
    CHECK(fbuf != NULL);
    if (!fbuf) return test_done();

    /* (determinism: test_quantize compares a fresh run with the committed hw_int8 golden) */
    size_t qlen = 0;
    double out_scale = 0, secs = 0;
    uint8_t *q = quantize_hw(fbuf, len, &qlen, &out_scale, &secs);
    CHECK(out_scale > 0);
    if (!q || !(out_scale > 0)) {
        free(q);
        free(fbuf);
        return test_done();
    }

    /* TFLite's parameter rules still hold: int8 weights in [-127, 127], per-channel weight scales
     * (a scalar-input FULLY_CONNECTED chain is quantized per channel after range equalisation),
     * int32 biases with scale input scale x weight scale, unit by unit */
    kiln_model *qm = NULL;
    char err[256];
    CHECK(kiln_model_load(q, qlen, "q", NULL, &qm, err, sizeof err) == KILN_OK);
    double in_scale = 0;
    int32_t in_zp = 0;
    if (qm) {
        const kiln__subgraph_def *sg = &qm->subgraphs[0];
        const kiln__tensor_def *x = &sg->tensors[sg->ops[0].outputs[0]];
        in_scale = x->q.n ? x->q.scale[0] : 0;
        in_zp = x->q.n ? x->q.zero_point[0] : 0;
        int nfc = 0;
        for (int32_t i = 0; i < sg->n_ops; i++) {
            const kiln__op_def *op = &sg->ops[i];
            if (op->builtin != KILN_OP_FULLY_CONNECTED) continue;
            nfc++;
            const kiln__tensor_def *in = &sg->tensors[op->inputs[0]];
            const kiln__tensor_def *w = &sg->tensors[op->inputs[1]];
            const kiln__tensor_def *b = &sg->tensors[op->inputs[2]];
            const int32_t units = w->dims[0];
            CHECK(w->type == KILN_INT8 && w->q.n == units && w->q.dim == 0);
            CHECK(b->type == KILN_INT32 && b->q.n == units);
            if (w->q.n != units || b->q.n != units) continue;
            int ok = 1;
            for (size_t k = 0; k < w->data_len; k++)
                ok &= (int8_t)w->data[k] >= -127;
            CHECK_MSG(ok, "weight -128 in layer %d", nfc);
            for (int32_t u = 0; u < units; u++) {
                CHECK(w->q.zero_point[u] == 0 && b->q.zero_point[u] == 0);
                CHECK_NEAR(b->q.scale[u], (double)in->q.scale[0] * w->q.scale[u],
                           1e-6 * b->q.scale[u]);
            }
        }
        CHECK_EQ_INT(nfc, 3);
        kiln_model_destroy(qm);
    }
    CHECK(in_scale > 0);

    runner fr, qr[2];
    int bad = runner_open(&fr, fbuf, len, KILN_ARITH_TFLM);
    bad |= runner_open(&qr[0], q, qlen, KILN_ARITH_TFLM);
    bad |= runner_open(&qr[1], q, qlen, KILN_ARITH_LITERT);
    CHECK(!bad);
    double gmax[2] = {0, 0}, gsum[2] = {0, 0}, dmax[2] = {0, 0}, dsum[2] = {0, 0};
    int gn = 0, dn = 0, fails = 0;
    if (!bad) {
        /* the whole input space: every int8 input code, the float model fed the same value */
        for (int c = -128; c <= 127; c++) {
            const float x = (float)((c - in_zp) * in_scale);
            if (x < 0 || x > TWO_PI + 1e-4) continue;
            const double yf = run_x(&fr, x);
            for (int a = 0; a < 2; a++) {
                const double e = fabs(run_x(&qr[a], x) - yf) / out_scale;
                if (!(e >= 0)) fails++;
                gmax[a] = e > gmax[a] ? e : gmax[a];
                gsum[a] += e;
            }
            gn++;
        }
        /* a dense sweep: the int8 model sees x rounded to its input grid */
        enum { ND = 4000 };
        for (int i = 0; i < ND; i++) {
            const float x = (float)(TWO_PI * i / (ND - 1));
            const double yf = run_x(&fr, x);
            for (int a = 0; a < 2; a++) {
                const double e = fabs(run_x(&qr[a], x) - yf) / out_scale;
                if (!(e >= 0)) fails++;
                dmax[a] = e > dmax[a] ? e : dmax[a];
                dsum[a] += e;
            }
            dn++;
        }
    }
    CHECK_EQ_INT(fails, 0);
    CHECK_EQ_INT(gn, 256);
    for (int a = 0; a < 2 && gn && dn; a++)
        printf("hello_world int8 (%s dialect), error vs float in output steps (%g): input grid "
               "(%d codes) max %.2f mean %.2f; dense sweep (%d x) max %.2f mean %.2f\n",
               a ? "litert" : "tflm", out_scale, gn, gmax[a], gsum[a] / gn, dn, dmax[a],
               dsum[a] / dn);
    printf("hello_world int8: quantization took %.2f s\n", secs);
    /* Issue #7: within 2 output steps of the float model over its input range. Measured (docs/
     * quantize.md): grid max 1.89, mean 0.67; dense max 3.08, mean 0.85, in both dialects (per-
     * tensor weights without equalisation: grid 2.20; round-to-nearest: 6.3). On the dense sweep
     * the int8 model sees x rounded to its input grid (step 2pi/255): where the float model's
     * slope is near 1 the float output moves up to 2.9 output steps inside one input step, so no
     * int8 model can be within 2 steps there (bound below). */
    for (int a = 0; a < 2 && gn && dn; a++) {
        CHECK_MSG(gmax[a] <= 2.0, "%s: max error on the input grid %.2f steps",
                  a ? "litert" : "tflm", gmax[a]);
        CHECK_MSG(gsum[a] / gn <= 0.75, "%s: mean error on the input grid %.2f steps",
                  a ? "litert" : "tflm", gsum[a] / gn);
        CHECK_MSG(dmax[a] <= 3.3, "%s: max error over [0, 2pi] %.2f steps", a ? "litert" : "tflm",
                  dmax[a]);
        CHECK_MSG(dsum[a] / dn <= 0.95, "%s: mean error over [0, 2pi] %.2f steps",
                  a ? "litert" : "tflm", dsum[a] / dn);
    }
    if (!bad && gn) {
        /* The best any int8 model with these input and output parameters can do on the dense
         * sweep: each input code stands for a cell of x; its one output code is at least half the
         * float output's spread over the cell away from one end, plus the distance from the
         * cell's midpoint to the output grid. */
        double bound = 0;
        for (int c = -128; c <= 127; c++) {
            double lo = INFINITY, hi = -INFINITY;
            for (int t = -32; t <= 32; t++) {
                const double x = (c - in_zp + t / 64.0) * in_scale;
                if (x < 0 || x > TWO_PI) continue;
                const double y = run_x(&fr, (float)x) / out_scale;
                lo = y < lo ? y : lo;
                hi = y > hi ? y : hi;
            }
            if (lo > hi) continue;
            double best = INFINITY;
            for (double k = floor(lo) - 1; k <= ceil(hi) + 1; k++) {
                const double e = fmax(fabs(k - lo), fabs(k - hi));
                best = e < best ? e : best;
            }
            bound = best > bound ? best : bound;
        }
        printf("hello_world int8: no int8 model can be closer than %.2f steps on the dense sweep\n",
               bound);
        CHECK(bound > 1.5 && bound <= dmax[0] + 1e-9);
    }
    runner_close(&fr);
    runner_close(&qr[0]);
    runner_close(&qr[1]);
    free(q);
    free(fbuf);
    return test_done();
}
