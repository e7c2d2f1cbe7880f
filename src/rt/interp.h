/* interp.h: internal helpers of the interpreter for Kiln's own tools (kiln inspect): checking a
 * model's operators against the kernel tables without creating an interpreter. */
#ifndef KILN_RT_INTERP_H
#define KILN_RT_INTERP_H

#include "kiln/kiln_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Resolves every operator of `subgraph` against the kernel tables. Returns KILN_OK when every
 * operator has a kernel; otherwise KILN_ERR_UNSUPPORTED and a one-line list of all unsupported
 * operators in msg (without the model name), e.g. "operator 3: op SPLIT_V version 3 is not
 * supported (supported: 1-2); operator 7: custom op 'Foo' is not supported". */
kiln_status kiln__interp_check_ops(const kiln_model *m, int32_t subgraph, char *msg, size_t msglen);

/* Same check for one operator: KILN_OK, or the reason (without prefix) in msg. */
kiln_status kiln__interp_check_op(const kiln_model *m, int32_t subgraph, int32_t op, char *msg,
                                  size_t msglen);

/* Planner statistics of an interpreter: number of planned buffers and whether the model's
 * OfflineMemoryAllocation metadata was used. */
int32_t kiln__interp_num_planned(const kiln_interp *it);
int kiln__interp_offline_plan(const kiln_interp *it);
/* Whether operator i was folded at prepare (its outputs are constants; invoke skips it). */
int kiln__interp_op_folded(const kiln_interp *it, int32_t i);
/* Placement of tensor i in the planned arena: offset, or -1 (constant, folded, variable,
 * unused). first/last: the op steps it lives through. */
int64_t kiln__interp_tensor_offset(const kiln_interp *it, int32_t i, int32_t *first, int32_t *last);

#ifdef __cplusplus
}
#endif
#endif
