/* bilstm_gen.c: writes bilstm_float.tflite for tests/test_quantize_lstm.c (built as regen.sh says).
 * A float bidirectional LSTM the way TF's converter writes a Keras Bidirectional(LSTM):
 * forward LSTM; REVERSE_V2 -> backward LSTM -> REVERSE_V2; CONCATENATION (cell_clip 10). */
#include "convert/tfl_writer.h"
#include "kernels/ops.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static kiln_tfl_writer *w;
static uint32_t seed = 12345;
static float rnd(float lo, float hi) {
    seed = seed * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(seed >> 8) / 16777216.0f;
}
static int32_t T(const char *name, int32_t type, int32_t rank, const int32_t *dims,
                 const void *data, size_t bytes, int var) {
    kiln_tfl_tensor t;
    memset(&t, 0, sizeof t);
    t.name = name;
    t.type = type;
    t.rank = rank;
    t.shape = dims;
    t.buffer = data ? kiln_tfl_add_buffer(w, data, bytes) : 0;
    t.is_variable = (uint8_t)var;
    return kiln_tfl_add_tensor(w, 0, &t);
}
static int32_t W(const char *name, int32_t rank, const int32_t *dims, float lo, float hi) {
    int n = 1;
    for (int i = 0; i < rank; i++)
        n *= dims[i];
    float *v = malloc(n * 4);
    for (int i = 0; i < n; i++)
        v[i] = rnd(lo, hi);
    int32_t r = T(name, KILN_FLOAT32, rank, dims, v, n * 4, 0);
    free(v);
    return r;
}
static void lstm(const char *p, int32_t x, int32_t y, int ni, int nc) {
    int32_t in[24];
    char nm[64];
    const int32_t wx[2] = {nc, ni}, wh[2] = {nc, nc}, v[1] = {nc}, st[2] = {1, nc};
    for (int i = 0; i < 24; i++)
        in[i] = -1;
    in[0] = x;
    for (int g = 0; g < 4; g++) {
        snprintf(nm, sizeof nm, "%s/wx%d", p, g);
        in[1 + g] = W(nm, 2, wx, -0.5f, 0.5f);
        snprintf(nm, sizeof nm, "%s/wh%d", p, g);
        in[5 + g] = W(nm, 2, wh, -0.5f, 0.5f);
        snprintf(nm, sizeof nm, "%s/b%d", p, g);
        in[12 + g] = W(nm, 1, v, g == 1 ? 0.5f : -0.2f, g == 1 ? 1.0f : 0.2f);
    }
    snprintf(nm, sizeof nm, "%s/h", p);
    in[18] = T(nm, KILN_FLOAT32, 2, st, NULL, 0, 1);
    snprintf(nm, sizeof nm, "%s/c", p);
    in[19] = T(nm, KILN_FLOAT32, 2, st, NULL, 0, 1);
    const kiln_tfl_opt o[4] = {kiln_tfl_opt_int(0, KILN_TFL_OPT_I8, 4),
                               kiln_tfl_opt_float(1, 10.0f), kiln_tfl_opt_float(2, 0.0f),
                               kiln_tfl_opt_int(3, KILN_TFL_OPT_I8, 0)};
    kiln_tfl_op op;
    memset(&op, 0, sizeof op);
    op.opcode = kiln_tfl_add_opcode(w, KILN_OP_UNIDIRECTIONAL_SEQUENCE_LSTM, 1, NULL);
    op.inputs = in;
    op.n_inputs = 24;
    op.outputs = &y;
    op.n_outputs = 1;
    op.opts_type = KILN_OPTS_UnidirectionalSequenceLSTMOptions;
    op.opts = o;
    op.n_opts = 4;
    kiln_tfl_add_operator(w, 0, &op);
}
static void op2(int32_t b, int32_t a0, int32_t a1, int32_t y, int32_t ot, const kiln_tfl_opt *o,
                int no) {
    int32_t in[2] = {a0, a1};
    kiln_tfl_op op;
    memset(&op, 0, sizeof op);
    op.opcode = kiln_tfl_add_opcode(w, b, 1, NULL);
    op.inputs = in;
    op.n_inputs = 2;
    op.outputs = &y;
    op.n_outputs = 1;
    op.opts_type = ot;
    op.opts = o;
    op.n_opts = no;
    kiln_tfl_add_operator(w, 0, &op);
}
int main(int argc, char **argv) {
    if (argc != 2) return 2;
    const int nt = 7, ni = 5, nc = 8;
    kiln_tfl_writer_create(&w);
    kiln_tfl_add_subgraph(w, "main");
    const int32_t xd[3] = {1, nt, ni}, sd[3] = {1, nt, nc}, yd[3] = {1, nt, 2 * nc}, one[1] = {1};
    const int32_t ax = 1;
    int32_t x = T("x", KILN_FLOAT32, 3, xd, NULL, 0, 0);
    int32_t axis = T("axis", KILN_INT32, 1, one, &ax, 4, 0);
    int32_t fw = T("fw/sequence", KILN_FLOAT32, 3, sd, NULL, 0, 0);
    lstm("fw", x, fw, ni, nc);
    int32_t xr = T("x_reversed", KILN_FLOAT32, 3, xd, NULL, 0, 0);
    op2(KILN_OP_REVERSE_V2, x, axis, xr, 0, NULL, 0);
    int32_t bw = T("bw/sequence", KILN_FLOAT32, 3, sd, NULL, 0, 0);
    lstm("bw", xr, bw, ni, nc);
    int32_t bwr = T("bw/reversed", KILN_FLOAT32, 3, sd, NULL, 0, 0);
    op2(KILN_OP_REVERSE_V2, bw, axis, bwr, 0, NULL, 0);
    int32_t y = T("y", KILN_FLOAT32, 3, yd, NULL, 0, 0);
    const kiln_tfl_opt co[2] = {kiln_tfl_opt_int(0, KILN_TFL_OPT_I32, 2),
                                kiln_tfl_opt_int(1, KILN_TFL_OPT_I8, 0)};
    op2(KILN_OP_CONCATENATION, fw, bwr, y, KILN_OPTS_ConcatenationOptions, co, 2);
    kiln_tfl_set_subgraph_io(w, 0, &x, 1, &y, 1);
    return kiln_tfl_writer_save(w, argv[1]) == KILN_OK ? 0 : 1;
}
