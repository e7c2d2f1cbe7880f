/* quantize.h: post-training quantization of float .tflite models (int8 full-integer, dynamic
 * range, float16, int16x8), following the rules of TFLite's converter (see docs/quantize.md),
 * with a per-layer error report. */
#ifndef KILN_QUANTIZE_H
#define KILN_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kiln_quant_mode {
    KILN_QUANT_INT8 = 0,    /* int8 weights (per-channel) and activations, int32 bias */
    KILN_QUANT_DYNAMIC = 1, /* int8 weights, float activations (hybrid kernels) */
    KILN_QUANT_FLOAT16 = 2, /* float16 weights + DEQUANTIZE */
    KILN_QUANT_INT16X8 = 3  /* int16 activations (symmetric), int8 weights, int64 bias */
} kiln_quant_mode;

typedef enum kiln_calib_method {
    KILN_CALIB_MINMAX = 0,         /* global min/max over all samples (TFLite's default) */
    KILN_CALIB_MOVING_AVERAGE = 1, /* exponential moving average of per-batch min/max */
    KILN_CALIB_PERCENTILE = 2,     /* the percentile/100-percentile of the value histogram */
    KILN_CALIB_MSE = 3             /* the clipping range minimising the expected squared error */
} kiln_calib_method;

/* FULLY_CONNECTED weights in the int8 and int16x8 modes. */
typedef enum kiln_fc_weights {
    /* per-tensor (TFLite's converter before 2024; every TFLite Micro runs it), except a scalar-
     * input chain of FULLY_CONNECTED layers (hello_world): per-channel after range equalisation,
     * then fitted on its whole input space (see docs/quantize.md) */
    KILN_FC_AUTO = 0,
    KILN_FC_PER_TENSOR = 1,
    KILN_FC_PER_CHANNEL = 2 /* one scale per output unit (TFLite's converter since 2024) */
} kiln_fc_weights;

typedef struct kiln_quantize_options {
    kiln_quant_mode mode;
    /* Type of the model's inputs and outputs: KILN_FLOAT32 (default: QUANTIZE/DEQUANTIZE at the
     * edges, as TFLite's converter does), KILN_INT8 or KILN_UINT8 (int8 mode), KILN_INT16
     * (int16x8 mode). */
    int32_t io_type;
    kiln_calib_method method;
    float percentile; /* KILN_CALIB_PERCENTILE: default 99.99 */
    /* Representative data: calib_n samples of input 0 (float32, each of the input's element
     * count, NHWC), used in order. Required for int8 and int16x8 unless calib_random. */
    const float *calib;
    int64_t calib_n;
    int64_t calib_sample_size; /* floats per sample in calib (checked against the input) */
    /* 1: calib_random_n samples, uniform in [0, 1), for every input (shape-only tests). */
    int32_t calib_random;
    int64_t calib_random_n;
    uint64_t seed;
    /* Layers (operator output tensor names) kept in float, with QUANTIZE/DEQUANTIZE around. */
    const char *const *keep_float;
    int32_t n_keep_float;
    /* Per-layer report: both models run on up to report_samples calibration samples
     * (0 = all). */
    int32_t report;
    int64_t report_samples;
    kiln_fc_weights fc_weights; /* default KILN_FC_AUTO */
} kiln_quantize_options;

void kiln_quantize_options_init(kiln_quantize_options *o);

/* One layer (operator of the float model) in the report. */
typedef struct kiln_quant_layer {
    int32_t op_index;  /* operator index in the float model */
    const char *op;    /* builtin name, e.g. "CONV_2D" */
    char name[128];    /* output tensor name */
    int32_t dtype;     /* output type in the quantized model (FLOAT32: kept float) */
    int32_t quantized; /* 1 when the op runs quantized */
    float scale;       /* output scale (0 when float) */
    int32_t zero_point;
    float min, max;    /* calibrated float range of the output */
    double rmse;       /* float vs (dequantized) quantized output */
    double rmse_scale; /* rmse / scale (~0.289: rounding noise only) */
    double max_abs;
    double rel_rmse;  /* rmse / rms of the float output */
    double added;     /* rel_rmse minus the largest rel_rmse of its inputs */
    int32_t dominant; /* 1: among the layers that add most of the error */
    char suggestion[256];
} kiln_quant_layer;

typedef struct kiln_quant_report {
    kiln_quant_mode mode;
    int64_t calib_samples;
    int64_t report_samples;
    size_t float_bytes, quant_bytes;
    int32_t n_layers;
    kiln_quant_layer *layers;
    double output_rmse;      /* error of output 0 */
    double output_agreement; /* fraction of samples where output 0's argmax agrees */
} kiln_quant_report;

void kiln_quant_report_free(kiln_quant_report *r);

/* Quantizes the float .tflite in buf (subgraph 0). On success *out is a malloc'd .tflite
 * (free() it) of *out_len bytes; rep (may be NULL) gets the report when o->report. Errors
 * (no calibration data, empty set, non-finite activations, bias overflow, unsupported ops
 * listed at once) return non-OK with a one-line message. */
kiln_status kiln_quantize_model(const void *buf, size_t len, const kiln_quantize_options *o,
                                uint8_t **out, size_t *out_len, kiln_quant_report *rep, char *err,
                                size_t errlen);

const char *kiln_quant_mode_name(kiln_quant_mode m);

#ifdef __cplusplus
}
#endif
#endif
