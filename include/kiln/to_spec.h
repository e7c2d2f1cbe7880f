/* to_spec.h: reading a float .tflite back into a Kiln model graph (a .kiln spec and its flat
 * parameter array), the inverse of kiln/convert.h. See docs/to_spec.md. */
#ifndef KILN_TO_SPEC_H
#define KILN_TO_SPEC_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Maps the ops of the float .tflite in buf to layers. On success *spec_text is a .kiln spec
 * (malloc'd) and *params its flat parameter array (kiln_graph_param offsets, malloc'd,
 * *n_params elements): kiln_graph_parse(spec) + kiln_convert_graph(params) writes the same
 * bytes for models Kiln converted. A quantized model or ops with no layer give
 * KILN_ERR_UNSUPPORTED and an error listing every such op ("SPACE_TO_BATCH_ND (op 0), ..."). */
kiln_status kiln_tflite_to_spec(const void *buf, size_t len, const char *name, char **spec_text,
                                float **params, int64_t *n_params, char *err, size_t errlen);

/* File front end for `kiln convert --to-spec`: reads tflite_path, writes the spec to spec_path
 * and a checkpoint (.kckpt carrying the spec and the weights, no optimizer history) to
 * ckpt_path, each through a temporary file. ckpt_path may be NULL. */
kiln_status kiln_tflite_to_spec_file(const char *tflite_path, const char *spec_path,
                                     const char *ckpt_path, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
