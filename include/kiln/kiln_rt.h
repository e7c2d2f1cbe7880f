/* kiln_rt.h: the public API of libkiln-rt, Kiln's .tflite interpreter.
 * Dependency-free C11: loads a .tflite buffer zero-copy, plans one arena, invokes without
 * allocating. Semantics follow TFLite (see docs/runtime.md). */
#ifndef KILN_KILN_RT_H
#define KILN_KILN_RT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum kiln_status {
    KILN_OK = 0,
    KILN_ERR_MODEL,       /* malformed or rejected model file */
    KILN_ERR_SHAPE,       /* a shape or dtype does not fit */
    KILN_ERR_IO,          /* reading or writing a file failed */
    KILN_ERR_UNSUPPORTED, /* op, version or dtype not supported */
    KILN_ERR_NOMEM,       /* allocation failed or arena too small */
    KILN_ERR_ARG,         /* bad argument to an API call */
    KILN_ERR_STATE,       /* call made in the wrong state */
    KILN_ERR_RUNTIME      /* a kernel failed at invoke (e.g. index out of range) */
} kiln_status;

const char *kiln_status_str(kiln_status s);

/* Tensor element types: the values of TFLite's TensorType enum. */
typedef enum kiln_dtype {
    KILN_FLOAT32 = 0,
    KILN_FLOAT16 = 1,
    KILN_INT32 = 2,
    KILN_UINT8 = 3,
    KILN_INT64 = 4,
    KILN_STRING = 5,
    KILN_BOOL = 6,
    KILN_INT16 = 7,
    KILN_COMPLEX64 = 8,
    KILN_INT8 = 9,
    KILN_FLOAT64 = 10,
    KILN_COMPLEX128 = 11,
    KILN_UINT64 = 12,
    KILN_RESOURCE = 13,
    KILN_VARIANT = 14,
    KILN_UINT32 = 15,
    KILN_UINT16 = 16,
    KILN_INT4 = 17,
    KILN_BFLOAT16 = 18
} kiln_dtype;

/* Bytes per element (0 for types without a fixed size, e.g. STRING; INT4 reports 1). */
size_t kiln_dtype_size(int32_t dtype);
const char *kiln_dtype_name(int32_t dtype);

/* Integer arithmetic dialect (see docs/arith.md). */
typedef enum kiln_arith {
    KILN_ARITH_TFLM = 0,  /* TFLite's reference kernels, as TFLite Micro runs them (default) */
    KILN_ARITH_LITERT = 1 /* the official desktop runtime: XNNPACK's single rounding where it
                             takes the op, built-in kernels elsewhere */
} kiln_arith;

/* A caller-supplied allocator. alloc returns memory aligned to `align` (a power of two,
 * <= 64) or NULL. free accepts NULL. */
typedef struct kiln_allocator {
    void *(*alloc)(void *ud, size_t size, size_t align);
    void (*free)(void *ud, void *p);
    void *ud;
} kiln_allocator;

#define KILN_MAX_RANK 8
#define KILN_ERRLEN 256

typedef struct kiln_model kiln_model;
typedef struct kiln_interp kiln_interp;

/* Loads (verifies and indexes) a .tflite model held in `buf`. The buffer must stay alive
 * and unchanged as long as the model; weights are used in place, never copied. `name` is
 * used in error messages (e.g. the file name). `alloc` may be NULL for the default (malloc)
 * allocator. On error returns non-OK and writes a one-line message into err (if not NULL). */
kiln_status kiln_model_load(const void *buf, size_t len, const char *name,
                            const kiln_allocator *alloc, kiln_model **out, char *err,
                            size_t errlen);
void kiln_model_destroy(kiln_model *m);

/* Model facts for tools. */
int32_t kiln_model_num_subgraphs(const kiln_model *m);
int32_t kiln_model_num_signatures(const kiln_model *m);
const char *kiln_model_signature_key(const kiln_model *m, int32_t i);
const char *kiln_model_description(const kiln_model *m);
uint32_t kiln_model_schema_version(const kiln_model *m);
/* Quirks accepted while loading (as TFLite Micro accepts them), one per line; "" if none. */
const char *kiln_model_warnings(const kiln_model *m);

/* A parallel-for supplied by the embedder (libkiln's thread pool, or an RTOS's): runs
 * fn(arg, 0..ntasks-1), possibly concurrently, and returns when all are done. */
typedef void (*kiln_task_fn)(void *arg, int32_t task);
typedef struct kiln_parallel {
    void (*run)(void *ud, int32_t ntasks, kiln_task_fn fn, void *arg);
    void *ud;
    int32_t threads;
} kiln_parallel;

typedef struct kiln_interp_options {
    kiln_arith arith;
    /* Optional caller arena (e.g. a static buffer on a microcontroller). When set, the
     * interpreter allocates nothing: every tensor, persistent and scratch buffer is placed in
     * it, and creation fails with KILN_ERR_NOMEM if it is too small. */
    void *arena;
    size_t arena_bytes;
    /* Subgraph to run (0 = main) or a signature key (takes precedence when not NULL). */
    int32_t subgraph;
    const char *signature;
    const kiln_parallel *parallel; /* NULL: single thread */
    /* The most iterations one WHILE operator may run in one invoke; more fails the invoke with
     * KILN_ERR_RUNTIME. 0 (the default): unlimited, as in TFLite. Set it for untrusted models
     * (a fuzzer, a service) so a loop that never ends is an error, not a hang. */
    uint64_t max_while_iterations;
} kiln_interp_options;

void kiln_interp_options_init(kiln_interp_options *o);

/* Creates an interpreter: resolves every operator, prepares kernels, plans the arena. On
 * error returns non-OK with a one-line message in err naming the operator and what is
 * wrong; unsupported ops are all listed at once. */
kiln_status kiln_interp_create(const kiln_model *m, const kiln_interp_options *opt,
                               kiln_interp **out, char *err, size_t errlen);
void kiln_interp_destroy(kiln_interp *it);

/* The last error message of this interpreter ("" if none). */
const char *kiln_interp_error(const kiln_interp *it);

kiln_status kiln_interp_invoke(kiln_interp *it);
/* Clears variable tensors (LSTM state, resource variables) to their initial values. */
kiln_status kiln_interp_reset(kiln_interp *it);

/* Arena facts: bytes of the planned tensor/scratch arena, the lower bound (largest sum of
 * simultaneously live bytes), persistent bytes (kernel data, folded constants), and the total
 * a caller arena needs (including alignment slack). */
size_t kiln_rt_arena_size(const kiln_interp *it);
size_t kiln_rt_arena_lower_bound(const kiln_interp *it);
size_t kiln_rt_persistent_size(const kiln_interp *it);
size_t kiln_rt_required_arena(const kiln_interp *it);

/* A view of a tensor, valid while the interpreter lives. data points into the arena (or the
 * model buffer for constants). */
typedef struct kiln_tensor_info {
    const char *name;
    int32_t dtype;
    int32_t rank;
    int32_t dims[KILN_MAX_RANK];
    size_t bytes;
    void *data;
    int32_t num_quant;  /* 0: not quantized; 1: per-tensor; >1: per-channel */
    const float *scale; /* num_quant entries */
    const int32_t *zero_point;
    int32_t quantized_dimension;
} kiln_tensor_info;

int32_t kiln_interp_num_inputs(const kiln_interp *it);
int32_t kiln_interp_num_outputs(const kiln_interp *it);
kiln_status kiln_interp_input(const kiln_interp *it, int32_t i, kiln_tensor_info *out);
kiln_status kiln_interp_output(const kiln_interp *it, int32_t i, kiln_tensor_info *out);
/* Signature names of input/output i (NULL when the model has no signature in use). */
const char *kiln_interp_input_alias(const kiln_interp *it, int32_t i);
const char *kiln_interp_output_alias(const kiln_interp *it, int32_t i);

/* Every tensor of the running subgraph, for inspection and per-layer comparison. */
int32_t kiln_interp_num_tensors(const kiln_interp *it);
kiln_status kiln_interp_tensor(const kiln_interp *it, int32_t index, kiln_tensor_info *out);

/* Operators of the running subgraph in execution order. */
typedef struct kiln_op_info {
    int32_t builtin_code; /* TFLite BuiltinOperator value (32 = CUSTOM) */
    const char *name;     /* e.g. "CONV_2D", or the custom code */
    int32_t version;
    int32_t num_inputs, num_outputs;
    const int32_t *inputs; /* tensor indices, -1 = optional input absent */
    const int32_t *outputs;
    const char *kernel; /* which kernel variant runs it, e.g. "ref" */
} kiln_op_info;

int32_t kiln_interp_num_ops(const kiln_interp *it);
kiln_status kiln_interp_op(const kiln_interp *it, int32_t i, kiln_op_info *out);

/* Optional per-op timing hook for profilers: called before and after each operator. */
typedef void (*kiln_op_hook)(void *ud, int32_t op_index, int after);
void kiln_interp_set_op_hook(kiln_interp *it, kiln_op_hook hook, void *ud);

/* Name of a builtin operator code ("CONV_2D"); "UNKNOWN" when out of range. */
const char *kiln_builtin_name(int32_t code);

#ifdef __cplusplus
}
#endif
#endif
