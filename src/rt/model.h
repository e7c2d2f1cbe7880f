/* model.h: the loaded, verified view of a .tflite file (internal to libkiln-rt).
 * Everything here was checked by the verifier (src/rt/verify.c) before it is trusted. Weights
 * and strings point into the caller's buffer (zero-copy); small index arrays are copied. */
#ifndef KILN_RT_MODEL_H
#define KILN_RT_MODEL_H

#include "kernels/kernel.h"
#include "kiln/kiln_rt.h"

typedef struct kiln__tensor_def {
    const char *name; /* NUL-terminated, in the model buffer ("" when absent) */
    int32_t type;
    int32_t rank;
    int32_t dims[KILN_MAX_RANK];
    int32_t has_signature; /* shape_signature present */
    int32_t sig[KILN_MAX_RANK];
    uint32_t buffer;
    const uint8_t *data; /* constant data in the model buffer, or NULL */
    size_t data_len;
    kiln_quant q; /* scale/zero_point arrays owned by the model */
    uint8_t is_variable;
    uint8_t has_sparsity;
    uint8_t has_rank;
} kiln__tensor_def;

typedef struct kiln__op_def {
    uint32_t opcode_index;
    int32_t builtin; /* resolved builtin code: max(deprecated_builtin_code, builtin_code) */
    int32_t version;
    const char *custom_code; /* for CUSTOM, else NULL */
    int32_t n_in, n_out, n_tmp;
    int32_t *inputs, *outputs, *intermediates; /* tensor indices (-1: absent optional) */
    const uint8_t *opts;
    int32_t opts_type;
    const uint8_t *opts2;
    int32_t opts2_type;
    const uint8_t *custom;
    uint32_t custom_len;
} kiln__op_def;

typedef struct kiln__subgraph_def {
    const char *name;
    int32_t n_tensors;
    kiln__tensor_def *tensors;
    int32_t n_inputs, n_outputs, n_ops;
    int32_t *inputs, *outputs;
    kiln__op_def *ops;
} kiln__subgraph_def;

typedef struct kiln__tensor_map {
    const char *name;
    int32_t tensor;
} kiln__tensor_map;

typedef struct kiln__signature_def {
    const char *key;
    int32_t subgraph;
    int32_t n_inputs, n_outputs;
    kiln__tensor_map *inputs, *outputs;
} kiln__signature_def;

typedef struct kiln__metadata_def {
    const char *name;
    const uint8_t *data;
    size_t len;
} kiln__metadata_def;

typedef struct kiln__opcode_def {
    int32_t builtin;
    int32_t version;
    const char *custom_code;
} kiln__opcode_def;

struct kiln_model {
    const uint8_t *buf;
    size_t len;
    char name[128];
    kiln_allocator alloc;
    uint32_t version;
    const char *description;
    int32_t n_opcodes;
    kiln__opcode_def *opcodes;
    int32_t n_subgraphs;
    kiln__subgraph_def *subgraphs;
    int32_t n_buffers;
    int32_t n_signatures;
    kiln__signature_def *signatures;
    int32_t n_metadata;
    kiln__metadata_def *metadata;
    void *blocks; /* the model's own memory: a chain of blocks freed together */
    /* Warnings accepted while loading (quirks TFLite Micro accepts), one per line. */
    char warnings[1024];
};

/* The default allocator (malloc/free) and helpers over any allocator. */
const kiln_allocator *kiln__default_allocator(void);
void *kiln__alloc(const kiln_allocator *a, size_t size, size_t align);
void *kiln__calloc(const kiln_allocator *a, size_t size, size_t align);
void kiln__free(const kiln_allocator *a, void *p);

/* A small formatter (no libc printf in the core): %d %i %u %ld %lu %lld %llu %zu %s %c %x %p
 * %g %f %.Nf %% and field widths for integers. Always NUL-terminates; returns the length it
 * would have written. */
#include <stdarg.h>
int kiln__vfmt(char *dst, size_t cap, const char *fmt, va_list ap);
int kiln__fmt(char *dst, size_t cap, const char *fmt, ...);

#endif
