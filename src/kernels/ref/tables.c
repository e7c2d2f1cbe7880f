/* tables.c: constant tables shared by several kernel files, and the int16 sigmoid/tanh of
 * TFLite's reference kernels (table interpolation) and of gemmlowp (fixed point); see tables.h. */
#include "kernels/ref/tables.h"

#include "kernels/quant.h"

const uint16_t kiln__sigmoid_q16[256] = {
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794,
    41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443,
    48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169, 53581, 53983, 54374,
    54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544,
    58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279,
    61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990,
    63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030,
    64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652,
    64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019,
    65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234,
    65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476,
    65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498, 65500, 65501,
    65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516,
    65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529,
    65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532,
    65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534,
    65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535,
};

const char *const kiln__lstm_input_names[24] = {
    "input",
    "input_to_input_weights",
    "input_to_forget_weights",
    "input_to_cell_weights",
    "input_to_output_weights",
    "recurrent_to_input_weights",
    "recurrent_to_forget_weights",
    "recurrent_to_cell_weights",
    "recurrent_to_output_weights",
    "cell_to_input_weights",
    "cell_to_forget_weights",
    "cell_to_output_weights",
    "input_gate_bias",
    "forget_gate_bias",
    "cell_gate_bias",
    "output_gate_bias",
    "projection_weights",
    "projection_bias",
    "output_state",
    "cell_state",
    "input_layer_norm_coefficients",
    "forget_layer_norm_coefficients",
    "cell_layer_norm_coefficients",
    "output_layer_norm_coefficients",
};

/* ---- int16 sigmoid/tanh by table interpolation (reference_integer_ops) ---------------------- */

/* The input rescaled (in int64: a large multiplier makes x * mult + round exceed int32) into
 * *v, and the table interpolated at |v| / 2^frac, scaled by 2^frac (sat past its end). */
static uint32_t lut_read(int16_t x, int32_t mult, int32_t ls, int frac, uint32_t sat, int32_t *v) {
    if (mult == 0) {
        mult = 3 << ls;
        ls = 0;
    }
    const int32_t round = ls > 0 ? 1 << (ls - 1) : 0;
    *v = (int32_t)kiln_asr_i64((int64_t)x * mult + round, ls);
    const uint32_t av = (uint32_t)(*v < 0 ? -(int64_t)*v : *v);
    const uint32_t uh = av >> frac;
    if (uh >= 255) return sat;
    const uint32_t ua = kiln__sigmoid_q16[uh], ub = kiln__sigmoid_q16[uh + 1];
    return (ua << frac) + (av & ((1u << frac) - 1)) * (ub - ua);
}

int32_t kiln__logistic16_lut(int16_t x, int32_t mult, int32_t ls) {
    int32_t v;
    uint32_t r = lut_read(x, mult, ls, 9, 0x7FFFu << 10, &v);
    r = v >= 0 ? (r + (1u << 9)) : ((1u << (16 + 9)) - r + (1u << 9) - 1);
    return (int32_t)(r >> 10);
}

/* tanh(x) = 2 * sigmoid(2x) - 1: the same table read with 8 fractional bits. */
int32_t kiln__tanh16_lut(int16_t x, int32_t mult, int32_t ls) {
    int32_t v;
    int32_t r = (int32_t)lut_read(x, mult, ls, 8, 0xFFFFu << 8, &v);
    r = v >= 0 ? (r - (1 << (14 + 9)) + (1 << (9 - 2)))
               : (-r + (1 << (14 + 9)) + (1 << (9 - 2)) - 1);
    return kiln_asr_i32(r, 9 - 1);
}

/* ---- gemmlowp FixedPoint<int16_t> ------------------------------------------------------------
 * The int32 algorithms of fixedpoint.h with 16-bit raw values: int16 constants (the int32 ones
 * rounded by 2^16), raw add/sub wrapping as int16 does, a saturating final add in exp. */

static int16_t wrap16(int32_t x) {
    const uint32_t u = (uint32_t)x & 0xFFFFu;
    return (int16_t)(u < 0x8000u ? (int32_t)u : (int32_t)u - 65536);
}
static int16_t g16_add(int16_t a, int16_t b) {
    return wrap16((int32_t)a + b);
}
static int16_t g16_sub(int16_t a, int16_t b) {
    return wrap16((int32_t)a - b);
}
static int16_t g16_neg(int16_t a) {
    return wrap16(-(int32_t)a);
}

static int16_t g16_srdhm(int16_t a, int16_t b) {
    if (a == INT16_MIN && b == INT16_MIN) return INT16_MAX;
    const int32_t ab = (int32_t)a * b;
    const int32_t nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return wrap16((ab + nudge) / (1 << 15));
}

int16_t kiln__g16_mulpot(int16_t x, int e) {
    if (e == 0) return x;
    if (e < 0) return (int16_t)kiln_rdbpot(x, -e);
    const int32_t threshold = (1 << (15 - e)) - 1;
    if (x > threshold) return INT16_MAX;
    if (x < -threshold) return INT16_MIN;
    return wrap16((int32_t)((uint32_t)(int32_t)x << e));
}

/* An int32 gemmlowp constant narrowed to int16 (RescaleConstantInitializer). */
static int16_t g16_const(int32_t v) {
    return (int16_t)kiln_rdbpot(v, 16);
}

static int16_t g16_exp_quarter(int16_t a) {
    const int16_t c_term = g16_const(1895147668), c_third = g16_const(715827883);
    const int16_t x = g16_add(a, 1 << 12);
    const int16_t x2 = g16_srdhm(x, x), x3 = g16_srdhm(x2, x), x4 = g16_srdhm(x2, x2);
    const int16_t x4_4 = kiln__g16_mulpot(x4, -2);
    const int16_t poly = kiln__g16_mulpot(g16_add(g16_srdhm(g16_add(x4_4, x3), c_third), x2), -1);
    /* AddSaturatingIf16Bit */
    const int32_t sum = (int32_t)c_term + g16_srdhm(c_term, g16_add(x, poly));
    return (int16_t)(sum > INT16_MAX ? INT16_MAX : (sum < INT16_MIN ? INT16_MIN : sum));
}

static int16_t g16_exp_neg(int16_t a, int ib) {
    const int frac = 15 - ib;
    const int16_t quarter = (int16_t)(1 << (frac - 2));
    const int16_t amq = g16_sub((int16_t)(a & (quarter - 1)), quarter);
    int16_t r = g16_exp_quarter(kiln__g16_mulpot(amq, ib));
    const int16_t rem = g16_sub(amq, a);
    static const int32_t mult[7] = {1672461947, 1302514674, 790015084, 290630308,
                                    39332535,   720401,     242};
    for (int k = 0; k < 7; k++) {
        const int e = k - 2;
        if (ib > e && (rem & (1 << (frac + e)))) r = g16_srdhm(r, g16_const(mult[k]));
    }
    if (ib > 5 && a < g16_const(-(1 << (36 - ib)))) r = 0;
    if (a == 0) r = INT16_MAX;
    return r;
}

/* Newton-Raphson for 1/(1+a) (minus = 0) or (1-a)/(1+a) (minus = 1), a in [0, 1). */
static int16_t g16_nr(int16_t a, int minus) {
    /* RoundingHalfSum(a, One()): One() saturates to INT16_MAX with no integer bits */
    const int32_t sum = (int32_t)a + INT16_MAX;
    const int16_t half_den = wrap16((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int16_t c48 = g16_const(1515870810), cm32 = g16_const(-1010580540);
    int16_t x = g16_add(c48, g16_srdhm(half_den, cm32));
    for (int i = 0; i < 3; i++) {
        const int16_t hx = g16_srdhm(half_den, x);
        const int16_t om = g16_sub(1 << 13, hx);
        x = g16_add(x, kiln__g16_mulpot(g16_srdhm(x, om), 2));
    }
    return minus ? kiln__g16_mulpot(g16_sub(x, 1 << 13), 2) : kiln__g16_mulpot(x, 1);
}

int16_t kiln__g16_logistic(int16_t a, int ib) {
    if (a == 0) return g16_const(1 << 30);
    const int16_t abs_a = a > 0 ? a : g16_neg(a);
    const int16_t pos = g16_nr(g16_exp_neg(g16_neg(abs_a), ib), 0);
    return a > 0 ? pos : g16_sub(INT16_MAX, pos);
}

int16_t kiln__g16_tanh(int16_t a, int ib) {
    if (a == 0) return 0;
    const int16_t n = a < 0 ? a : g16_neg(a);
    const int16_t t = g16_nr(g16_exp_neg(n, ib + 1), 1);
    return a < 0 ? g16_neg(t) : t;
}
