/* graph.h: the training graph IR (internal to libkiln): tensors with per-sample shapes, layers
 * in topological order, parameters laid out in one flat array. Public view: kiln/train.h. */
#ifndef KILN_GRAPH_GRAPH_H
#define KILN_GRAPH_GRAPH_H

#include "kiln/train.h"

typedef struct kiln__gtensor {
    int32_t dtype;
    int32_t rank;
    int32_t dims[KILN_MAX_RANK];
    int32_t layer;
    int64_t size; /* elements per sample */
} kiln__gtensor;

typedef struct kiln__gparam {
    char *name;
    const char *role;
    int32_t layer;
    int32_t trainable;
    int32_t rank;
    int32_t dims[KILN_MAX_RANK];
    int64_t offset, count;
    kiln_init init;
    int32_t fan_in, fan_out;
    float l1, l2;
} kiln__gparam;

typedef struct kiln__glayer {
    kiln_layer_kind kind;
    char *name;
    kiln_layer_attrs a;
    int32_t n_in;
    int32_t *in;
    int32_t out;
    int32_t n_params, first_param;
    int64_t macs;
} kiln__glayer;

struct kiln_graph {
    char *name;
    char *spec;
    char err[KILN_ERRLEN];
    kiln__gtensor *tensors;
    int32_t n_tensors, cap_tensors;
    kiln__glayer *layers;
    int32_t n_layers, cap_layers;
    kiln__gparam *params;
    int32_t n_params, cap_params;
    int64_t param_elems, trainable_elems;
    int32_t output; /* -1: the last layer's */
    kiln_loss loss;
    int32_t from_logits;
    int32_t kind_count[KILN_L_COUNT];
    kiln_train_config train; /* the spec's `optimizer` line (defaults for kiln train) */
    int32_t has_train;
};

/* Writes an error into g->err and returns st. */
kiln_status kiln__graph_fail(kiln_graph *g, kiln_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Formats a per-sample shape with the batch dimension as "(None, 28, 28, 1)". */
void kiln__shape_str(const int32_t *dims, int32_t rank, char *buf, size_t n);
/* Looks a layer kind up by its spec keyword (-1 when unknown). */
int kiln__layer_kind_from_name(const char *s);
int kiln__actfn_from_name(const char *s);
int32_t kiln__graph_find_tensor(const kiln_graph *g, const char *name);
kiln_status kiln__graph_set_spec(kiln_graph *g, const char *text, size_t len);

#endif
