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

/* int8 mode, a scalar-input chain of FULLY_CONNECTED layers: a copy of the float model with the
 * units of every ReLU layer scaled to one range (the function is unchanged; see refine.c), to be
 * quantized with per-channel weights. *out = NULL when the model is not such a chain. */
kiln_status kq_equalize(const kiln_model *m, const kiln_quantize_options *o, uint8_t **out,
                        size_t *out_len, char *err, size_t errlen);

/* int8 mode, small models: tunes the integer weights and biases of the written model in place
 * (qbuf) to lower output 0's error against the float model fm on the calibration data (see
 * refine.c). Does nothing without representative data or on larger models. */
kiln_status kq_refine(const kiln_model *fm, uint8_t *qbuf, size_t qlen,
                      const kiln_quantize_options *o, char *err, size_t errlen);

/* Runs the float model over the calibration samples and fills st[0..n_stats) (subgraph 0
 * tensor indices, then the LSTM slots above) with each float tensor's range by o->method. */
kiln_status kq_calibrate(const kiln_model *m, const kiln_quantize_options *o, kq_stats *st,
                         int32_t n_tensors, char *err, size_t errlen);
void kq_stats_free(kq_stats *st, int32_t n);

/* Full-integer LSTM calibration (lstm.c). Each UNIDIRECTIONAL_SEQUENCE_LSTM op k (in op order)
 * has KQ_LSTM_SLOTS extra statistics after the tensors' (st[n_tensors + KQ_LSTM_SLOTS * k + j]):
 * j = 0..3 the input/forget/cell/output gate pre-activations before layer norm (recorded with
 * layer norm only, as TFLite's calibrator logs them), 4 the hidden o * act(c), 5 the cell state
 * at every step. */
#define KQ_LSTM_SLOTS 6
struct kiln__subgraph_def;
struct kiln__op_def;
typedef struct kq_lstm_opts {
    int32_t act;
    float cell_clip, proj_clip;
    int32_t time_major, asym, diagonal;
} kq_lstm_opts;
typedef void (*kq_lstm_sink)(void *ud, int32_t slot, const float *v, int64_t n);
/* Number of extra statistics slots of subgraph sg (KQ_LSTM_SLOTS per LSTM op). */
int32_t kq_extra_stats(const struct kiln__subgraph_def *sg);
/* First slot of LSTM op `op`, -1 when it is not an LSTM. */
int32_t kq_lstm_slot(const struct kiln__subgraph_def *sg, int32_t op);
/* UnidirectionalSequenceLSTMOptions of op (defaults when absent); -1 when malformed. */
int kq_lstm_read_opts(const kiln_model *m, const struct kiln__op_def *op, kq_lstm_opts *lo);
/* After float LSTM op `op` ran in it (state reset before the sample): reruns its steps and
 * hands the slot values to sink. Does nothing for a non-float LSTM. */
kiln_status kq_lstm_observe(const kiln_model *m, kiln_interp *it, int32_t op, kq_lstm_sink sink,
                            void *ud);

/* Runs both models on the samples and fills rep->layers' error figures. qmap maps each tensor
 * index of the quantized model to the float model's tensor it stands for (-1: none). */
kiln_status kq_compare(const kiln_model *fm, const kiln_model *qm, const int32_t *qmap,
                       int32_t n_qtensors, const kiln_quantize_options *o, kiln_quant_report *rep,
                       const int32_t *layer_of_tensor, char *err, size_t errlen);

#endif
