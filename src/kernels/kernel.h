/* kernel.h: the small interface between the interpreter (src/rt) and kernels (src/kernels).
 * A kernel is {prepare, invoke}, as in TFLite Micro: prepare checks everything the file gave
 * and sets output shapes, invoke only computes. Kernels include nothing from rt/ but this. */
#ifndef KILN_KERNELS_KERNEL_H
#define KILN_KERNELS_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Quantization parameters of a tensor (copied out of the file at load). */
typedef struct kiln_quant {
    int32_t n;          /* 0: none, 1: per-tensor, >1: per-channel */
    const float *scale; /* n entries */
    const int32_t *zero_point;
    int32_t dim; /* quantized_dimension */
} kiln_quant;

typedef struct kiln_tensor {
    /* NULL until planned; constants point into the model buffer, where 8-byte types are only
     * guaranteed 4-byte alignment (as real files have it): read int64/double constants with
     * memcpy or copy them in prepare. Arena tensors are 16-byte aligned. */
    void *data;
    int32_t type;
    int32_t rank;
    int32_t dims[KILN_MAX_RANK];
    size_t bytes;
    kiln_quant q;
    const char *name;
    uint8_t is_const;    /* data from a model buffer (read-only) or folded at prepare */
    uint8_t is_variable; /* keeps its value across invokes */
    uint8_t is_optional; /* placeholder for an absent optional input */
    uint8_t reserved;
    int32_t index; /* index in the subgraph */
} kiln_tensor;

/* Element count of a tensor (product of dims; 1 for a scalar). */
static inline int64_t kiln_numel(const kiln_tensor *t) {
    int64_t n = 1;
    for (int32_t i = 0; i < t->rank; i++) n *= t->dims[i];
    return n;
}

typedef struct kiln_kctx kiln_kctx; /* opaque: owned by the interpreter */

typedef struct kiln_node {
    int32_t op;      /* builtin code */
    int32_t version; /* op version from the file */
    int32_t index;   /* operator index in the subgraph */
    int32_t n_in, n_out, n_tmp;
    kiln_tensor **in;  /* n_in entries; NULL where the file says -1 (absent optional input) */
    kiln_tensor **out; /* n_out entries */
    kiln_tensor **tmp; /* intermediates (n_tmp), e.g. LSTM gate quantization */
    /* Builtin options: the raw FlatBuffer table (already verified) and its union type.
     * Read them with kiln_opt_* below using the field ids of schema.fbs. */
    const uint8_t *opts;
    int32_t opts_type;
    const uint8_t *opts2; /* builtin_options_2 */
    int32_t opts2_type;
    const uint8_t *custom; /* custom_options bytes */
    uint32_t custom_len;
    const char *custom_code;
    const uint8_t *fb;  /* the model buffer and its length: bounds for reading options */
    size_t fb_len;
    void *data; /* kernel's own persistent data, set in prepare (kiln_kalloc) */
    const char *variant; /* name of the kernel variant chosen (default "ref") */
} kiln_node;

/* Reading builtin options. `field` is the 0-based field id in the options table of
 * schema.fbs; a missing table or field gives `def`. Scalars are read at their declared width. */
int32_t kiln_opt_i8(const kiln_node *n, int field, int32_t def);  /* byte, bool, enums : byte */
int32_t kiln_opt_u8(const kiln_node *n, int field, int32_t def);  /* ubyte */
int32_t kiln_opt_i16(const kiln_node *n, int field, int32_t def); /* short */
int32_t kiln_opt_i32(const kiln_node *n, int field, int32_t def); /* int, uint (< 2^31) */
int64_t kiln_opt_i64(const kiln_node *n, int field, int64_t def); /* long */
float kiln_opt_f32(const kiln_node *n, int field, float def);
/* Copies a [int] vector option into dst (up to max entries); returns its length (may exceed
 * max), or -1 when absent. */
int32_t kiln_opt_ivec(const kiln_node *n, int field, int32_t *dst, int32_t max);
/* The same readers for builtin_options_2 tables. */
int32_t kiln_opt2_i32(const kiln_node *n, int field, int32_t def);

/* Services the interpreter gives kernels. */
/* Reports an error; the interpreter prefixes "operator N (NAME): ". Returns `s` so a kernel
 * can write `return kiln_kerr(ctx, KILN_ERR_SHAPE, "...", ...);`. Format: %d %u %ld %lu %lld
 * %llu %zu %s %c %x %g %f %% (a small formatter: no libc printf in the core). */
kiln_status kiln_kerr(kiln_kctx *ctx, kiln_status s, const char *fmt, ...);
/* Persistent memory for the node's lifetime (zeroed, 16-byte aligned). Only in prepare. */
void *kiln_kalloc(kiln_kctx *ctx, size_t bytes);
/* Requests scratch memory for invoke; returns an index (>= 0) or -1 on failure. Only in
 * prepare. The scratch is valid only during this node's invoke. */
int32_t kiln_kscratch_request(kiln_kctx *ctx, size_t bytes);
void *kiln_kscratch(kiln_kctx *ctx, int32_t index);
/* The integer dialect this interpreter follows. */
kiln_arith kiln_karith(const kiln_kctx *ctx);
/* Sets a tensor's shape (outputs, in prepare). Checks rank <= KILN_MAX_RANK and overflow,
 * and recomputes bytes. A constant tensor's shape cannot be changed. */
kiln_status kiln_kresize(kiln_kctx *ctx, kiln_tensor *t, int32_t rank, const int32_t *dims);
/* True when the tensor's values are known in prepare (a constant, or folded at prepare),
 * so output shapes that depend on values (RESHAPE's shape input, SHAPE chains) can be set. */
int kiln_kknown(const kiln_kctx *ctx, const kiln_tensor *t);
/* Number of threads the kernel may use, and a parallel-for (serial where there is no pool). */
void kiln_kparallel(kiln_kctx *ctx, int32_t ntasks, kiln_task_fn fn, void *arg);
int32_t kiln_kthreads(const kiln_kctx *ctx);

/* Subgraph calls, for the control kernels (CALL_ONCE, IF, WHILE in ref/control.c). A called
 * subgraph is built, prepared and planned by the first operator that prepares it (its owner;
 * another operator preparing it is an error); its arena lies in its owner's scratch, live only
 * during the owner's step, so it holds nothing between calls. Callers copy values in and out. */
/* Prepare only: makes subgraph `sg` runnable; gives its input and output counts. args[k]
 * (nargs of them, NULL entries allowed) is the caller's tensor that will feed input k: a
 * resource handle known at prepare is bound to that input, so the subgraph's READ_VARIABLE and
 * ASSIGN_VARIABLE know their variable at prepare. */
kiln_status kiln_ksub_prepare(kiln_kctx *ctx, int32_t sg, kiln_tensor *const *args, int32_t nargs,
                              int32_t *n_in, int32_t *n_out);
/* Input (is_output 0) or output k of a prepared subgraph; NULL when out of range. */
kiln_tensor *kiln_ksub_io(kiln_kctx *ctx, int32_t sg, int is_output, int32_t k);
/* Invoke only: runs the subgraph. once != 0: only if it has not run since create or reset
 * (CALL_ONCE; kiln_interp_reset re-arms it). */
kiln_status kiln_ksub_invoke(kiln_kctx *ctx, int32_t sg, int once);
/* The embedder's limit on a WHILE's iterations per invoke (0: unlimited). */
uint64_t kiln_kwhile_limit(const kiln_kctx *ctx);

/* Resource variables (VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE). A resource tensor holds an
 * int32 id; ids name one variable per (container, shared_name) across all subgraphs. The
 * variable's type and shape are fixed at prepare by the first value that sizes it (no
 * allocation at invoke); its storage is persistent. */
typedef struct kiln_kvar {
    kiln_tensor t; /* type, shape, quantization and data (NULL until sized) */
    const char *container, *shared_name;
    uint8_t sized;    /* type and shape fixed */
    uint8_t assigned; /* holds a value: set by ASSIGN_VARIABLE, cleared by kiln_interp_reset */
    uint8_t reserved[2];
} kiln_kvar;
/* Prepare only: the id of the variable a VAR_HANDLE node names (its VarHandleOptions), or -1
 * with the error set. */
int32_t kiln_kvar_handle(kiln_kctx *ctx, const kiln_node *n);
/* The variable with id `id`, or NULL. */
kiln_kvar *kiln_kvar_get(kiln_kctx *ctx, int32_t id);
/* Prepare only: sizes variable `id` like tensor `like` (type, shape, quantization) the first
 * time; later calls check that `like` has the same type and shape (error otherwise). */
kiln_status kiln_kvar_size(kiln_kctx *ctx, int32_t id, const kiln_tensor *like);

typedef kiln_status (*kiln_prepare_fn)(kiln_kctx *ctx, kiln_node *node);
typedef kiln_status (*kiln_invoke_fn)(kiln_kctx *ctx, kiln_node *node);

#define KILN_ANY (-1)

/* One resolver entry. The resolver picks, among entries with the node's op, the one whose
 * in_type/w_type match input 0's and input 1's type (KILN_ANY matches all; an exact match wins
 * over KILN_ANY), then checks the version. */
typedef struct kiln_kernel_reg {
    int32_t op;
    int32_t min_version, max_version;
    int32_t in_type; /* type of input 0, or KILN_ANY */
    int32_t w_type;  /* type of input 1, or KILN_ANY */
    kiln_prepare_fn prepare;
    kiln_invoke_fn invoke;
} kiln_kernel_reg;

/* The kernel tables (src/kernels/registry.c): an array of `count` family tables, each ending
 * with an entry whose op is -1. */
const kiln_kernel_reg *const *kiln__kernel_families(size_t *count);

#ifdef __cplusplus
}
#endif
#endif
