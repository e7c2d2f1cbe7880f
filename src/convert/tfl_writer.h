/* tfl_writer.h: assembles a TFLite model (.tflite, schema version 3) on top of Kiln's
 * FlatBuffers builder. Field ids follow TFLite's schema.fbs. Used by the converter, the
 * quantizer and `kiln opmodel`.
 *
 * Usage:
 *   kiln_tfl_writer *w; kiln_tfl_writer_create(&w);
 *   int32_t sg = kiln_tfl_add_subgraph(w, "main");
 *   int32_t buf = kiln_tfl_add_buffer(w, weights, nbytes);        // deduplicated
 *   int32_t t0 = kiln_tfl_add_tensor(w, sg, &(kiln_tfl_tensor){...});
 *   int32_t oc = kiln_tfl_add_opcode(w, KILN_OP_CONV_2D, 1, NULL); // deduplicated
 *   kiln_tfl_add_operator(w, sg, &(kiln_tfl_op){...});
 *   kiln_tfl_set_subgraph_io(w, sg, ins, n_in, outs, n_out);
 *   kiln_tfl_writer_finish(w, &bytes, &len);                        // free(bytes)
 *   kiln_tfl_writer_destroy(w);
 *
 * Every add call returns the new index (>= 0) or -1 on error; errors are sticky: the first
 * one's message is kept (kiln_tfl_writer_error) and finish returns its status. Every array
 * passed in is copied, so the caller's memory may be freed right after the call. The output
 * depends only on the sequence of calls (byte-identical for the same calls). */
#ifndef KILN_CONVERT_TFL_WRITER_H
#define KILN_CONVERT_TFL_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kiln/kiln_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_tfl_writer kiln_tfl_writer;

/* Types of a builtin-options field (the width the schema declares). */
typedef enum kiln_tfl_opt_type {
    KILN_TFL_OPT_I8 = 0, /* byte, bool, and enums declared ": byte" (Padding, activations) */
    KILN_TFL_OPT_U8,     /* ubyte */
    KILN_TFL_OPT_I16,    /* short */
    KILN_TFL_OPT_U16,    /* ushort */
    KILN_TFL_OPT_I32,    /* int, and enums declared ": int" */
    KILN_TFL_OPT_U32,    /* uint */
    KILN_TFL_OPT_I64,    /* long */
    KILN_TFL_OPT_F32,    /* float */
    KILN_TFL_OPT_IVEC,   /* [int] */
    KILN_TFL_OPT_STR     /* string */
} kiln_tfl_opt_type;

/* One field of an options table. The value is always written, even when it equals the
 * schema's default: leave out a field to get the default (and the shortest encoding). */
typedef struct kiln_tfl_opt {
    int32_t id;          /* 0-based field index in the options table of schema.fbs */
    int32_t type;        /* kiln_tfl_opt_type */
    int64_t i;           /* integer types */
    float f;             /* KILN_TFL_OPT_F32 */
    const int32_t *ivec; /* KILN_TFL_OPT_IVEC: n entries */
    int32_t n;
    const char *str; /* KILN_TFL_OPT_STR */
} kiln_tfl_opt;

/* Shorthands: kiln_tfl_opt opts[] = {kiln_tfl_opt_int(0, KILN_TFL_OPT_I8, 1), ...}. */
static inline kiln_tfl_opt kiln_tfl_opt_int(int32_t id, kiln_tfl_opt_type type, int64_t v) {
    kiln_tfl_opt o;
    memset(&o, 0, sizeof o);
    o.id = id;
    o.type = (int32_t)type;
    o.i = v;
    return o;
}
static inline kiln_tfl_opt kiln_tfl_opt_float(int32_t id, float v) {
    kiln_tfl_opt o;
    memset(&o, 0, sizeof o);
    o.id = id;
    o.type = KILN_TFL_OPT_F32;
    o.f = v;
    return o;
}
static inline kiln_tfl_opt kiln_tfl_opt_ivec(int32_t id, const int32_t *v, int32_t n) {
    kiln_tfl_opt o;
    memset(&o, 0, sizeof o);
    o.id = id;
    o.type = KILN_TFL_OPT_IVEC;
    o.ivec = v;
    o.n = n;
    return o;
}

typedef struct kiln_tfl_tensor {
    const char *name; /* may be NULL (no name) */
    int32_t type;     /* kiln_dtype (TensorType) */
    int32_t rank;     /* 0 = scalar */
    const int32_t *shape;
    const int32_t *shape_signature; /* rank entries (-1 = dynamic), or NULL for none */
    int32_t buffer;                 /* index from kiln_tfl_add_buffer; 0 = no data */
    /* Quantization: num_quant == 0 means none; 1 per-tensor; > 1 per-channel along
     * quantized_dimension. zero_point may be NULL (all zero). */
    int32_t num_quant;
    const float *scale;
    const int64_t *zero_point;
    int32_t quantized_dimension;
    uint8_t is_variable;
    uint8_t has_rank; /* sets Tensor.has_rank (newer converters set it for ranked tensors) */
} kiln_tfl_tensor;

typedef struct kiln_tfl_op {
    int32_t opcode;        /* index from kiln_tfl_add_opcode */
    const int32_t *inputs; /* tensor indices; -1 = absent optional input */
    int32_t n_inputs;
    const int32_t *outputs;
    int32_t n_outputs;
    const int32_t *intermediates;
    int32_t n_intermediates;
    /* builtin_options: the BuiltinOptions union type (KILN_OPTS_*) and its fields. With
     * opts_type != 0 the table is written even when it has no fields. */
    int32_t opts_type;
    const kiln_tfl_opt *opts;
    int32_t n_opts;
    int32_t opts2_type; /* builtin_options_2 (BuiltinOptions2 union), same rules */
    const kiln_tfl_opt *opts2;
    int32_t n_opts2;
    const uint8_t *custom_options; /* raw bytes (FLEXBUFFERS format) or NULL */
    size_t custom_options_len;
} kiln_tfl_op;

kiln_status kiln_tfl_writer_create(kiln_tfl_writer **out);
void kiln_tfl_writer_destroy(kiln_tfl_writer *w);
/* The first error's one-line message ("" if none). */
const char *kiln_tfl_writer_error(const kiln_tfl_writer *w);

/* A constant buffer. Buffer 0 is the empty sentinel and always exists; len == 0 returns 0.
 * Identical contents return the same index (shared constants are stored once). The data is
 * written 16-byte aligned in the file. */
int32_t kiln_tfl_add_buffer(kiln_tfl_writer *w, const void *data, size_t len);

/* An operator code; the same (builtin, version, custom_code) returns the same index.
 * deprecated_builtin_code is written as min(builtin, 127), as TFLite does. custom_code is
 * for builtin 32 (CUSTOM), else NULL. */
int32_t kiln_tfl_add_opcode(kiln_tfl_writer *w, int32_t builtin, int32_t version,
                            const char *custom_code);

/* A subgraph (0 is the main one). name may be NULL. */
int32_t kiln_tfl_add_subgraph(kiln_tfl_writer *w, const char *name);
/* A tensor of subgraph sg; returns its index in that subgraph. */
int32_t kiln_tfl_add_tensor(kiln_tfl_writer *w, int32_t sg, const kiln_tfl_tensor *t);
/* An operator appended to subgraph sg (execution order); returns its index. */
int32_t kiln_tfl_add_operator(kiln_tfl_writer *w, int32_t sg, const kiln_tfl_op *op);
kiln_status kiln_tfl_set_subgraph_io(kiln_tfl_writer *w, int32_t sg, const int32_t *inputs,
                                     int32_t n_inputs, const int32_t *outputs, int32_t n_outputs);

/* A SignatureDef: names of the inputs/outputs mapped to tensor indices of subgraph sg. */
int32_t kiln_tfl_add_signature(kiln_tfl_writer *w, const char *key, int32_t sg,
                               const char *const *input_names, const int32_t *input_tensors,
                               int32_t n_inputs, const char *const *output_names,
                               const int32_t *output_tensors, int32_t n_outputs);

/* A metadata entry (e.g. "min_runtime_version"): its bytes go to a new buffer (not shared
 * with constants, as TFLite's converter does). */
int32_t kiln_tfl_add_metadata(kiln_tfl_writer *w, const char *name, const void *data, size_t len);
kiln_status kiln_tfl_set_description(kiln_tfl_writer *w, const char *description);

/* Serializes the model (identifier "TFL3", version 3). On success *bytes is a malloc'd
 * buffer (64-byte aligned; free() it) of *len bytes. The writer may be finished again. */
kiln_status kiln_tfl_writer_finish(kiln_tfl_writer *w, uint8_t **bytes, size_t *len);

/* Finishes and writes the model to `path` through `path.tmp` and a rename, so that on any error
 * nothing is written and an existing file at `path` is left untouched. */
kiln_status kiln_tfl_writer_save(kiln_tfl_writer *w, const char *path);

#ifdef __cplusplus
}
#endif
#endif
