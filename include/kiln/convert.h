/* convert.h: the converter: a Kiln model graph (spec + weights) lowered to TFLite builtin ops
 * and written as a float .tflite (NHWC, conv OHWI, depthwise 1HWC, FC [out, in]). Batch norm is
 * folded into the preceding conv/dense, activations fused where TFLite fuses them, dropout
 * dropped. The output is byte-identical for the same graph and weights. See docs/convert.md. */
#ifndef KILN_CONVERT_H
#define KILN_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln_rt.h"
#include "kiln/train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kiln_target {
    KILN_TARGET_TFLITE = 0, /* TFLite's builtin op set */
    KILN_TARGET_TFLM = 1    /* TFLite Micro's op set */
} kiln_target;

typedef struct kiln_convert_options {
    kiln_target target;
    const char *description; /* model description (default "Kiln model <name>") */
    const char *labels_path; /* optional labels file stored as an associated file (metadata
                                "kiln_labels") */
} kiln_convert_options;

void kiln_convert_options_init(kiln_convert_options *o);

/* Lowers graph g with the flat parameter array `params` (kiln_graph_param offsets) to a
 * .tflite in memory (*bytes: malloc'd, free() it). Errors name the layer. */
kiln_status kiln_convert_graph(const kiln_graph *g, const float *params,
                               const kiln_convert_options *o, uint8_t **bytes, size_t *len,
                               char *err, size_t errlen);

/* Converts a checkpoint (.kckpt: it carries its spec) or a spec (.kiln: weights initialised
 * from `seed`) to the file `out_path` (written through a temporary file and renamed: nothing
 * is written on error and an existing file is left untouched). */
kiln_status kiln_convert_file(const char *in_path, uint64_t seed, const kiln_convert_options *o,
                              const char *out_path, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
