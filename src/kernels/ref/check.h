/* check.h: prepare-time checks shared by the kernel families (float and integer). */
#ifndef KILN_KERNELS_REF_CHECK_H
#define KILN_KERNELS_REF_CHECK_H

#include "kernels/kernel.h"
#include "kernels/quant.h"

/* Exactly nin inputs and nout outputs, none absent. */
static inline kiln_status kiln_want_io(kiln_kctx *ctx, const kiln_node *node, int32_t nin,
                                       int32_t nout) {
    if (node->n_in != nin || node->n_out != nout)
        return kiln_kerr(ctx, KILN_ERR_MODEL, "expected %d inputs and %d outputs, got %d and %d",
                         (int)nin, (int)nout, (int)node->n_in, (int)node->n_out);
    for (int32_t i = 0; i < nin; i++)
        if (!node->in[i]) return kiln_kerr(ctx, KILN_ERR_MODEL, "input %d is missing", (int)i);
    for (int32_t i = 0; i < nout; i++)
        if (!node->out[i]) return kiln_kerr(ctx, KILN_ERR_MODEL, "output %d is missing", (int)i);
    return KILN_OK;
}

static inline kiln_status kiln_want_type(kiln_kctx *ctx, const kiln_tensor *t, const char *what,
                                         int32_t type) {
    if (t->type != type)
        return kiln_kerr(ctx, KILN_ERR_SHAPE, "%s has type %s, expected %s", what,
                         kiln_dtype_name(t->type), kiln_dtype_name(type));
    return KILN_OK;
}

/* TFLite's QuantizeMultiplier of a scale ratio, refusing ratios whose shift the fixed-point
 * arithmetic cannot take (and NaN). A negative ratio (LEAKY_RELU's alpha side) gives a negative
 * multiplier, as TFLite forms it. */
static inline kiln_status kiln_kqmul(kiln_kctx *ctx, double real, int32_t *m, int *shift) {
    if (!(real >= -1e9 && real <= 1e9))
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "scale ratio %g is out of range", real);
    kiln_quantize_multiplier(real, m, shift);
    if (*shift > 30 || *shift < -31)
        return kiln_kerr(ctx, KILN_ERR_UNSUPPORTED, "scale ratio %g is out of range", real);
    return KILN_OK;
}

#endif
