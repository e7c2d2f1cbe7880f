/* act.h: fused activation functions (ActivationFunctionType of schema.fbs) for float/int32/int64
 * kernels. Semantics: TFLite's CalculateActivationRange + ActivationFunctionWithMinMax (clamp with
 * std::min/std::max, so NaN passes through) and tensor_utils' ApplyActivationToVector. */
#ifndef KILN_KERNELS_REF_ACT_H
#define KILN_KERNELS_REF_ACT_H

#include <float.h>
#include <math.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Values of schema.fbs ActivationFunctionType. */
enum kiln_act {
    KILN_ACT_NONE = 0,
    KILN_ACT_RELU = 1,
    KILN_ACT_RELU_N1_TO_1 = 2,
    KILN_ACT_RELU6 = 3,
    KILN_ACT_TANH = 4,
    KILN_ACT_SIGN_BIT = 5
};

/* True when `act` is a value of ActivationFunctionType (check it in prepare). */
static inline int kiln_act_valid(int32_t act) {
    return act >= KILN_ACT_NONE && act <= KILN_ACT_SIGN_BIT;
}

/* Name for error messages. */
static inline const char *kiln_act_name(int32_t act) {
    switch (act) {
    case KILN_ACT_NONE:
        return "NONE";
    case KILN_ACT_RELU:
        return "RELU";
    case KILN_ACT_RELU_N1_TO_1:
        return "RELU_N1_TO_1";
    case KILN_ACT_RELU6:
        return "RELU6";
    case KILN_ACT_TANH:
        return "TANH";
    case KILN_ACT_SIGN_BIT:
        return "SIGN_BIT";
    default:
        return "UNKNOWN";
    }
}

/* True for the activations that are a clamp (NONE, RELU, RELU_N1_TO_1, RELU6). TFLite's
 * CalculateActivationRange gives TANH and SIGN_BIT the full range (no clamp) in kernels that
 * only clamp (ADD, MUL, CONV_2D...); kernels that apply them (RNN, LSTM) use kiln_act_apply_f32. */
static inline int kiln_act_is_clamp(int32_t act) {
    return act >= KILN_ACT_NONE && act <= KILN_ACT_RELU6;
}

/* TFLite's CalculateActivationRange<float>. */
static inline void kiln_act_range_f32(int32_t act, float *lo, float *hi) {
    switch (act) {
    case KILN_ACT_RELU:
        *lo = 0.0f;
        *hi = FLT_MAX;
        break;
    case KILN_ACT_RELU6:
        *lo = 0.0f;
        *hi = 6.0f;
        break;
    case KILN_ACT_RELU_N1_TO_1:
        *lo = -1.0f;
        *hi = 1.0f;
        break;
    default:
        *lo = -FLT_MAX;
        *hi = FLT_MAX;
        break;
    }
}

/* TFLite's CalculateActivationRange<int32_t>. */
static inline void kiln_act_range_i32(int32_t act, int32_t *lo, int32_t *hi) {
    switch (act) {
    case KILN_ACT_RELU:
        *lo = 0;
        *hi = INT32_MAX;
        break;
    case KILN_ACT_RELU6:
        *lo = 0;
        *hi = 6;
        break;
    case KILN_ACT_RELU_N1_TO_1:
        *lo = -1;
        *hi = 1;
        break;
    default:
        *lo = INT32_MIN;
        *hi = INT32_MAX;
        break;
    }
}

/* TFLite's CalculateActivationRange<int64_t>. */
static inline void kiln_act_range_i64(int32_t act, int64_t *lo, int64_t *hi) {
    switch (act) {
    case KILN_ACT_RELU:
        *lo = 0;
        *hi = INT64_MAX;
        break;
    case KILN_ACT_RELU6:
        *lo = 0;
        *hi = 6;
        break;
    case KILN_ACT_RELU_N1_TO_1:
        *lo = -1;
        *hi = 1;
        break;
    default:
        *lo = INT64_MIN;
        *hi = INT64_MAX;
        break;
    }
}

/* ActivationFunctionWithMinMax: std::min(std::max(x, lo), hi). Written with the comparisons
 * std::max/std::min use, so a NaN input stays NaN (fmaxf would drop it). */
static inline float kiln_act_clamp_f32(float x, float lo, float hi) {
    const float a = (x < lo) ? lo : x;
    return (hi < a) ? hi : a;
}

static inline int32_t kiln_act_clamp_i32(int32_t x, int32_t lo, int32_t hi) {
    const int32_t a = (x < lo) ? lo : x;
    return (hi < a) ? hi : a;
}

static inline int64_t kiln_act_clamp_i64(int64_t x, int64_t lo, int64_t hi) {
    const int64_t a = (x < lo) ? lo : x;
    return (hi < a) ? hi : a;
}

/* Applies a fused activation fully, as tensor_utils::ApplyActivationToVector does for float
 * (RNN/LSTM/hybrid paths): RELU std::max(0,x) (NaN gives 0 there), RELU_N1_TO_1 and RELU6
 * clamps, TANH tanhf, SIGN_BIT std::signbit (1 for negative, incl. -0). */
static inline float kiln_act_apply_f32(int32_t act, float x) {
    switch (act) {
    case KILN_ACT_RELU:
        return (0.0f < x) ? x : 0.0f; /* std::max(0.0f, x) */
    case KILN_ACT_RELU_N1_TO_1:
        return kiln_act_clamp_f32(x, -1.0f, 1.0f);
    case KILN_ACT_RELU6:
        return kiln_act_clamp_f32(x, 0.0f, 6.0f);
    case KILN_ACT_TANH:
        return tanhf(x);
    case KILN_ACT_SIGN_BIT:
        return signbit(x) ? 1.0f : 0.0f;
    default:
        return x;
    }
}

/* The clamp of `act` applied in place to n floats (no-op for NONE/TANH/SIGN_BIT, as the
 * clamp-only kernels of TFLite do). */
static inline void kiln_act_clamp_vec_f32(int32_t act, float *x, int64_t n) {
    if (act != KILN_ACT_RELU && act != KILN_ACT_RELU6 && act != KILN_ACT_RELU_N1_TO_1) return;
    float lo, hi;
    kiln_act_range_f32(act, &lo, &hi);
    for (int64_t i = 0; i < n; i++)
        x[i] = kiln_act_clamp_f32(x[i], lo, hi);
}

/* ApplyActivationToVector for n floats (src and dst may be the same). */
static inline void kiln_act_apply_vec_f32(int32_t act, const float *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        dst[i] = kiln_act_apply_f32(act, src[i]);
}

#ifdef __cplusplus
}
#endif
#endif
