/* test_litert_float.c: Kiln's --arith litert float convolutions and FULLY_CONNECTED against
 * the official runtime's outputs (tests/golden/quant/litert_float/, LiteRT.js + XNNPACK): the
 * dynamic-range Fashion-MNIST CNN on images where a last-bit difference in its first, float,
 * conv moved the hybrid layers' input quantization, and single-op models, bit for bit. */
#include <stdint.h>

#include "kiln/kiln_rt.h"
#include "kiln/npy.h"
#include "test.h"

/* Runs MODEL on INPUT in the litert dialect; returns the largest |out - expected| over output
 * 0, or -1 when something could not be loaded or run (the reason is printed). */
static double run_diff(const char *model, const char *input, const char *expected) {
    char err[256];
    size_t len = 0;
    void *buf = test_read_file(model, &len);
    kiln_npy in, ex;
    memset(&in, 0, sizeof in);
    memset(&ex, 0, sizeof ex);
    double diff = -1;
    kiln_model *m = NULL;
    kiln_interp *it = NULL;
    if (!buf) {
        fprintf(stderr, "%s: cannot read\n", model);
        return -1;
    }
    if (kiln_npy_read(input, &in, err, sizeof err) != KILN_OK ||
        kiln_npy_read(expected, &ex, err, sizeof err) != KILN_OK) {
        fprintf(stderr, "%s\n", err);
        goto done;
    }
    if (kiln_model_load(buf, len, model, NULL, &m, err, sizeof err) != KILN_OK) {
        fprintf(stderr, "%s\n", err);
        goto done;
    }
    kiln_interp_options o;
    kiln_interp_options_init(&o);
    o.arith = KILN_ARITH_LITERT;
    if (kiln_interp_create(m, &o, &it, err, sizeof err) != KILN_OK) {
        fprintf(stderr, "%s: %s\n", model, err);
        goto done;
    }
    kiln_tensor_info ti, to;
    if (kiln_interp_input(it, 0, &ti) != KILN_OK || ti.dtype != KILN_FLOAT32 ||
        ti.bytes != in.bytes || in.dtype != KILN_FLOAT32) {
        fprintf(stderr, "%s: input does not fit the model\n", input);
        goto done;
    }
    memcpy(ti.data, in.data, in.bytes);
    if (kiln_interp_invoke(it) != KILN_OK || kiln_interp_output(it, 0, &to) != KILN_OK ||
        to.dtype != KILN_FLOAT32 || to.bytes != ex.bytes || ex.dtype != KILN_FLOAT32) {
        fprintf(stderr, "%s: run failed or output does not fit %s\n", model, expected);
        goto done;
    }
    diff = 0;
    const float *a = (const float *)to.data, *b = (const float *)ex.data;
    for (size_t i = 0; i < to.bytes / sizeof(float); i++) {
        const double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= diff)) diff = d; /* NaN counts as the largest */
    }
done:
    kiln_interp_destroy(it);
    kiln_model_destroy(m);
    kiln_npy_free(&in);
    kiln_npy_free(&ex);
    free(buf);
    return diff;
}

int main(void) {
    const char *tests = getenv("KILN_TESTS");
    if (!tests) tests = "tests";
    char g[1024], model[1200], input[1200], expected[1200];
    snprintf(g, sizeof g, "%s/golden/quant", tests);

    /* The dynamic-range CNN: float CONV_2D, then hybrid CONV_2D and FULLY_CONNECTED. */
    static const char *const images[] = {"00020", "00059", "00085", "00087"};
    snprintf(model, sizeof model, "%s/cnn_dynamic/model.tflite", g);
    for (size_t i = 0; i < sizeof images / sizeof *images; i++) {
        snprintf(input, sizeof input, "%s/litert_float/input_%s.npy", g, images[i]);
        snprintf(expected, sizeof expected, "%s/litert_float/expected_litert_%s.npy", g,
                 images[i]);
        const double d = run_diff(model, input, expected);
        CHECK_MSG(d >= 0 && d <= 1e-5, "cnn_dynamic image %s: max diff %g (limit 1e-5)",
                  images[i], d);
    }

    /* Single float CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED models, and one hybrid
     * DEPTHWISE_CONV_2D (which the official runtime keeps on TFLite's kernel): bit for bit. */
    static const char *const convs[] = {"xc_conv_9",  "xc_conv_12", "xc_conv_36", "xc_conv_24",
                                        "xc_fc_7",    "xc_fc_11",   "xc_fc_23",   "xc_dw_14",
                                        "xc_dw_38",   "xd_dw_34",   "bq_dw_hyb_88"};
    for (size_t i = 0; i < sizeof convs / sizeof *convs; i++) {
        snprintf(model, sizeof model, "%s/litert_float/%s/model.tflite", g, convs[i]);
        snprintf(input, sizeof input, "%s/litert_float/%s/input_0.npy", g, convs[i]);
        snprintf(expected, sizeof expected, "%s/litert_float/%s/expected_litert_0.npy", g,
                 convs[i]);
        const double d = run_diff(model, input, expected);
        CHECK_MSG(d == 0, "%s: max diff %g (expected 0)", convs[i], d);
    }
    return test_done();
}
