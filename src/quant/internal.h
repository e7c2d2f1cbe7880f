/* internal.h: shared pieces of the quantizer (src/quant): calibration statistics and the
 * float-vs-quantized comparison behind the report. */
#ifndef KILN_QUANT_INTERNAL_H
#define KILN_QUANT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/quantize.h"

#define KQ_HIST_BINS 2048

/* Range statistics of one float tensor of the model being quantized. */
typedef struct kq_stats {
    int32_t seen;
    float min, max;          /* global min/max (pass 1) */
    int32_t nonfinite;       /* a NaN or Inf was seen */
    double ema_min, ema_max; /* moving average of per-batch min/max */
    int32_t ema_init;
    float bmin, bmax; /* current batch */
    int32_t bseen;
    uint32_t *hist; /* KQ_HIST_BINS bins over [min, max] (percentile, mse) */
    uint64_t hist_n;
    float lo, hi; /* the calibrated range */
} kq_stats;

/* Fills the float model's inputs for sample s (representative data or random). */
void kq_fill_input(float *dst, int64_t numel, int32_t input, int64_t s,
                   const kiln_quantize_options *o);
/* Number of calibration samples the options give. */
int64_t kq_num_samples(const kiln_quantize_options *o);

/* Fills the inputs of a running model with calibration sample s (integer inputs get the float
 * sample quantized with their parameters); tmp holds at least the largest input's elements. */
kiln_status kq_set_inputs(kiln_interp *it, int64_t s, const kiln_quantize_options *o, float *tmp,
                          char *err, size_t errlen);

/* int8 mode, small models: tunes the integer weights and biases of the written model in place
 * (qbuf) to lower output 0's error against the float model fm on the calibration data (see
 * refine.c). Does nothing without representative data or on larger models. */
kiln_status kq_refine(const kiln_model *fm, uint8_t *qbuf, size_t qlen,
                      const kiln_quantize_options *o, char *err, size_t errlen);

/* Runs the float model over the calibration samples and fills st[0..n_tensors) (subgraph 0
 * tensor indices) with each float tensor's range by o->method. */
kiln_status kq_calibrate(const kiln_model *m, const kiln_quantize_options *o, kq_stats *st,
                         int32_t n_tensors, char *err, size_t errlen);
void kq_stats_free(kq_stats *st, int32_t n);

/* Runs both models on the samples and fills rep->layers' error figures. qmap maps each tensor
 * index of the quantized model to the float model's tensor it stands for (-1: none). */
kiln_status kq_compare(const kiln_model *fm, const kiln_model *qm, const int32_t *qmap,
                       int32_t n_qtensors, const kiln_quantize_options *o, kiln_quant_report *rep,
                       const int32_t *layer_of_tensor, char *err, size_t errlen);

#endif
