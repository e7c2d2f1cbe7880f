/* test_quantize_lstm.c: `kiln quantize --mode int8` on float LSTMs writes TFLite's full-integer
 * ("8x8_16") UNIDIRECTIONAL_SEQUENCE_LSTM (and SVDF): goldens from the official runtime
 * (tfjs-tflite) and TFLite Micro (tests/golden/quant_lstm, regen.sh), the converter's layout and
 * parameter rules read back, the Model Garden LSTM classifier's accuracy against the official
 * runtime's, and the refusals. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels/ops.h"
#include "kiln/kiln_rt.h"
#include "kiln/npy.h"
#include "kiln/quantize.h"
#include "rt/model.h"
#include "test.h"

static char gdir[1024];

/* Under AddressSanitizer the LSTM classifier's checks shrink (the full ones take ~40 s there):
 * no fresh 500-sample quantization of it, 200 of the 1000 images. */
#ifdef __SANITIZE_ADDRESS__
#define KQ_SANITIZED 1
#else
#define KQ_SANITIZED 0
#endif
static const char *fmnist = "/usr/share/datasets/fashion-mnist";

static int have_fmnist(void) {
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", fmnist);
    return stat(p, &st) == 0;
}

/* Runs input_K.npy (invokes times, state carried, from a fresh interpreter) and compares output
 * 0 with expected_<dialect>_K.npy bit for bit. Returns 1 compared, 0 no golden, -1 failed. */
static int run_compare(const char *name, const void *buf, size_t len, int k, int invokes,
                       kiln_arith arith) {
    const char *dn = arith == KILN_ARITH_LITERT ? "litert" : "tflm";
    char path[4096], err[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s/expected_%s_%d.npy", gdir, name, dn, k);
    if (stat(path, &st) != 0) return 0;
    kiln_npy in, e;
    snprintf(path, sizeof path, "%s/%s/input_%d.npy", gdir, name, k);
    if (kiln_npy_read(path, &in, err, sizeof err) != KILN_OK) {
        CHECK_MSG(0, "%s", err);
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s/expected_%s_%d.npy", gdir, name, dn, k);
    if (kiln_npy_read(path, &e, err, sizeof err) != KILN_OK) {
        CHECK_MSG(0, "%s", err);
        kiln_npy_free(&in);
        return -1;
    }
    kiln_model *m = NULL;
    kiln_interp *it = NULL;
    kiln_interp_options o;
    kiln_interp_options_init(&o);
    o.arith = arith;
    int ok = 0;
    kiln_tensor_info ti, oi;
    if (kiln_model_load(buf, len, name, NULL, &m, err, sizeof err) == KILN_OK &&
        kiln_interp_create(m, &o, &it, err, sizeof err) == KILN_OK &&
        kiln_interp_input(it, 0, &ti) == KILN_OK && ti.bytes == in.bytes && ti.dtype == in.dtype) {
        ok = 1;
        for (int r = 0; r < invokes && ok; r++) {
            memcpy(ti.data, in.data, in.bytes);
            ok = kiln_interp_invoke(it) == KILN_OK;
        }
        ok = ok && kiln_interp_output(it, 0, &oi) == KILN_OK && oi.bytes == e.bytes &&
             oi.dtype == e.dtype && memcmp(oi.data, e.data, e.bytes) == 0;
    }
    CHECK_MSG(ok, "%s input %d (%s dialect): differs from the oracle %s", name, k, dn, err);
    kiln_interp_destroy(it);
    kiln_model_destroy(m);
    kiln_npy_free(&in);
    kiln_npy_free(&e);
    return ok ? 1 : -1;
}

static const kiln__op_def *find_lstm(const kiln_model *m) {
    const kiln__subgraph_def *sg = &m->subgraphs[0];
    for (int32_t i = 0; i < sg->n_ops; i++)
        if (sg->ops[i].builtin == KILN_OP_UNIDIRECTIONAL_SEQUENCE_LSTM) return &sg->ops[i];
    return NULL;
}

/* Zero-sized (TFLite Micro allocates nothing for the intermediates). */
static int def_bytes_zero(const kiln__tensor_def *d) {
    int64_t n = 1;
    for (int32_t i = 0; i < d->rank; i++)
        n *= d->dims[i];
    return d->rank > 0 && n == 0;
}

static int rel_eq(double a, double b) {
    return fabs(a - b) <= 1e-6 * fabs(b);
}

/* The converter's layout and rules (operator_property.cc, op_version.cc). */
static void check_rules(const char *name, const void *buf, size_t len) {
    kiln_model *m = NULL;
    char err[256];
    if (kiln_model_load(buf, len, name, NULL, &m, err, sizeof err) != KILN_OK) return;
    const kiln__subgraph_def *sg = &m->subgraphs[0];
    const kiln__op_def *op = find_lstm(m);
    for (int32_t i = 0; i < sg->n_ops && !op; i++) {
        /* SVDF: v3, int16 weights_time and state (zero point 0), bias at their scales' product */
        const kiln__op_def *sv = &sg->ops[i];
        if (sv->builtin != KILN_OP_SVDF || sv->n_in != 5) continue;
        const kiln__tensor_def *t = sg->tensors;
        const kiln__tensor_def *wt = &t[sv->inputs[2]], *st = &t[sv->inputs[4]];
        const kiln__tensor_def *b = &t[sv->inputs[3]];
        CHECK_MSG(sv->version == 3 && t[sv->inputs[0]].type == KILN_INT8 &&
                      t[sv->inputs[1]].type == KILN_INT8 && wt->type == KILN_INT16 &&
                      st->type == KILN_INT16 && st->is_variable && b->type == KILN_INT32,
                  "%s: SVDF layout", name);
        if (wt->q.n == 1 && st->q.n == 1 && b->q.n == 1) {
            CHECK(st->q.zero_point[0] == 0 && wt->q.zero_point[0] == 0);
            CHECK(rel_eq(b->q.scale[0], (double)(wt->q.scale[0] * st->q.scale[0])));
        }
        kiln_model_destroy(m);
        return;
    }
    CHECK_MSG(op != NULL, "%s: no LSTM", name);
    if (!op) {
        kiln_model_destroy(m);
        return;
    }
    CHECK_MSG(op->version == 1 && op->n_in == 24 && op->n_tmp == 5, "%s: v%d, %d inputs, %d tmp",
              name, op->version, op->n_in, op->n_tmp);
    const kiln__tensor_def *t = sg->tensors;
    const int32_t *in = op->inputs;
    const kiln__tensor_def *x = &t[in[0]], *y = &t[op->outputs[0]];
    CHECK(x->type == KILN_INT8 && y->type == KILN_INT8 && x->q.n == 1 && y->q.n == 1);
    const int ln = in[21] >= 0;
    for (int32_t k = 1; k < 24; k++) {
        if (in[k] < 0) continue;
        const kiln__tensor_def *w = &t[in[k]];
        if ((k >= 1 && k <= 8) || k == 16) {
            CHECK_MSG(w->type == KILN_INT8 && w->q.n == 1 && w->q.zero_point[0] == 0 && w->data,
                      "%s: weights %d", name, k);
        } else if ((k >= 9 && k <= 11) || k >= 20) {
            CHECK_MSG(w->type == KILN_INT16 && w->q.n == 1 && w->q.zero_point[0] == 0,
                      "%s: int16 input %d", name, k);
        } else if (k >= 12 && k <= 15) {
            CHECK_MSG(w->type == KILN_INT32 && w->q.n == 1, "%s: bias %d", name, k);
            if (w->type != KILN_INT32 || w->q.n != 1) continue;
            const int g = k - 12;
            /* layer norm: coefficient scale x 2^-10; else input scale x weight scale */
            const double want = ln ? (double)(t[in[20 + g]].q.scale[0] * (1.0f / 1024.0f))
                                   : (double)(x->q.scale[0] * t[in[1 + g]].q.scale[0]);
            CHECK_MSG(rel_eq(w->q.scale[0], want), "%s: bias %d scale %g, want %g", name, k,
                      (double)w->q.scale[0], want);
        }
    }
    const kiln__tensor_def *hs = &t[in[18]], *cs = &t[in[19]];
    CHECK_MSG(hs->is_variable && cs->is_variable, "%s: state tensors not variable", name);
    CHECK_MSG(hs->type == KILN_INT8 && hs->q.n == 1 && hs->q.scale[0] == y->q.scale[0] &&
                  hs->q.zero_point[0] == y->q.zero_point[0],
              "%s: output state must take the output's parameters", name);
    CHECK(cs->type == KILN_INT16 && cs->q.n == 1 && cs->q.zero_point[0] == 0);
    if (cs->q.n == 1) {
        int e = 0;
        const double f = frexp(cs->q.scale[0], &e);
        CHECK_MSG(f == 0.5 && e - 1 >= -15 && e - 1 <= -9, "%s: cell scale %g", name,
                  (double)cs->q.scale[0]);
    }
    for (int32_t k = 0; k < 5 && op->n_tmp == 5; k++) {
        const kiln__tensor_def *im = &t[op->intermediates[k]];
        CHECK_MSG(im->type == (k < 4 ? KILN_INT16 : KILN_INT8) && im->q.n == 1 &&
                      def_bytes_zero(im),
                  "%s: intermediate %d", name, k);
        if (k < 4 && !ln) CHECK(im->q.scale[0] == 1.0f / 4096.0f);
    }
    kiln_model_destroy(m);
}

static void test_goldens(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/cases.txt", gdir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    const char *bin = getenv("KILN_BIN");
    char line[1024];
    int ncases = 0, nlit = 0, ntflm = 0;
    while (fgets(line, sizeof line, f)) {
        char *name, *src, *args;
        if (!test_case_fields(line, &name, &src, &args)) continue;
        ncases++;
        size_t len = 0;
        snprintf(path, sizeof path, "%s/%s/model.tflite", gdir, name);
        void *buf = test_read_file(path, &len);
        CHECK_MSG(buf != NULL, "%s", path);
        if (!buf) continue;
        /* a fresh quantization writes the committed bytes (Fashion-MNIST calibration needs the
         * data set) */
        const int big = strstr(args, "fashion-mnist") != NULL;
        if (bin && (!big || (have_fmnist() && !KQ_SANITIZED))) {
            char cmd[8192], tmp[1400];
            snprintf(tmp, sizeof tmp, "/tmp/kiln_test_qlstm_%d_%s.tflite", (int)getpid(), name);
            snprintf(cmd, sizeof cmd, "cd '%s' && '%s' quantize '%s' -o '%s' %s -q --no-report",
                     gdir, bin, src, tmp, args);
            CHECK_MSG(system(cmd) == 0, "%s", cmd);
            CHECK_MSG(test_file_equals(tmp, buf, len),
                      "%s: a fresh quantization differs from the committed model", name);
            remove(tmp);
        }
        const int seq = strncmp(name, "ql_", 3) == 0; /* 3 invokes, state carried */
        for (int k = 0; k < 8; k++) {
            struct stat st;
            snprintf(path, sizeof path, "%s/%s/input_%d.npy", gdir, name, k);
            if (stat(path, &st) != 0) break;
            /* TFLite Micro's goldens of float-I/O cases are of 1 invoke (cases.txt) */
            const int tinv = seq && strstr(args, "--io int8") ? 3 : 1;
            const int l = run_compare(name, buf, len, k, seq ? 3 : 1, KILN_ARITH_LITERT);
            const int t = run_compare(name, buf, len, k, tinv, KILN_ARITH_TFLM);
            CHECK_MSG(l != 0, "%s: no official-runtime golden for input %d", name, k);
            nlit += l > 0;
            ntflm += t > 0;
        }
        check_rules(name, buf, len);
        free(buf);
    }
    fclose(f);
    printf("quant_lstm: %d cases, %d inputs bit-exact with the official runtime, %d with TFLite "
           "Micro\n",
           ncases, nlit, ntflm);
    CHECK(ncases >= 5);
    CHECK(nlit >= 12);
    CHECK(ntflm >= 10);
}

/* The Model Garden LSTM classifier: the official runtime's int8 accuracy over the first 1000
 * test images within 1 pp of its float accuracy (oracle.json, regen.sh), and Kiln's litert
 * dialect predicting exactly what the official runtime predicted on each of them. */
static void test_accuracy(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/lstmc_int8/oracle.json", gdir);
    size_t len = 0;
    char *js = (char *)test_read_file(path, &len);
    CHECK(js != NULL);
    if (!js) return;
    js[len] = 0;
    double fa = -1, qa = -1;
    int ns = 0;
    const char *p;
    if ((p = strstr(js, "\"float_accuracy\":"))) fa = atof(p + 17);
    if ((p = strstr(js, "\"int8_accuracy\":"))) qa = atof(p + 16);
    if ((p = strstr(js, "\"samples\":"))) ns = atoi(p + 10);
    free(js);
    printf("LSTM classifier, official runtime, %d test images: float %.4f, int8 %.4f (%+.2f pp)\n",
           ns, fa, qa, 100 * (qa - fa));
    CHECK(ns >= 1000 && fa > 0.7);
    CHECK_MSG(fabs(qa - fa) <= 0.01, "int8 %.4f vs float %.4f", qa, fa);
    const char *bin = getenv("KILN_BIN");
    if (!bin || !have_fmnist()) {
        printf("(Fashion-MNIST or KILN_BIN absent: Kiln's predictions not checked)\n");
        return;
    }
    const int limit = KQ_SANITIZED ? 200 : ns;
    char cmd[8192], pred[256];
    snprintf(pred, sizeof pred, "/tmp/kiln_test_qlstm_pred_%d.csv", (int)getpid());
    snprintf(cmd, sizeof cmd,
             "'%s' eval '%s/lstmc_int8/model.tflite' --data '%s' --limit %d --arith litert "
             "--predictions '%s' --json >/dev/null 2>&1",
             bin, gdir, fmnist, limit, pred);
    CHECK_MSG(system(cmd) == 0, "%s", cmd);
    snprintf(path, sizeof path, "%s/lstmc_int8/oracle_pred.txt", gdir);
    FILE *fo = fopen(path, "r"), *fk = fopen(pred, "r");
    CHECK(fo && fk);
    int same = 0, n = 0, correct = 0;
    if (fo && fk) {
        char lk[256];
        int o;
        while (fscanf(fo, "%d", &o) == 1 && fgets(lk, sizeof lk, fk)) {
            int idx, label, pk;
            if (sscanf(lk, "%d,%d,%d", &idx, &label, &pk) != 3) break;
            same += pk == o;
            correct += pk == label;
            n++;
        }
    }
    if (fo) fclose(fo);
    if (fk) fclose(fk);
    remove(pred);
    printf("Kiln --arith litert: %d/%d predictions equal the official runtime's, accuracy %.4f\n",
           same, n, n ? (double)correct / n : 0.0);
    CHECK_EQ_INT(n, limit);
    CHECK_EQ_INT(same, n);
    if (limit == ns) CHECK(n > 0 && fabs((double)correct / n - qa) < 1e-9);
}

static kiln_status quantize_file(const char *path, kiln_quant_mode mode, uint8_t **q, size_t *qlen,
                                 char *err, size_t errlen) {
    size_t len = 0;
    void *buf = test_read_file(path, &len);
    if (!buf) {
        snprintf(err, errlen, "cannot read %s", path);
        return KILN_ERR_IO;
    }
    kiln_quantize_options o;
    kiln_quantize_options_init(&o);
    o.mode = mode;
    o.calib_random = 1;
    o.calib_random_n = 10;
    o.report = 0;
    const kiln_status s = kiln_quantize_model(buf, len, &o, q, qlen, NULL, err, errlen);
    free(buf);
    return s;
}

/* No integer LSTM for a RELU cell (TFLite's integer kernel applies tanh) nor in int16x8
 * (TFLite's table: quantizable_int16 = false), no integer SVDF without RELU: one-line errors,
 * nothing written. */
static void test_refusals(void) {
    char path[4096], err[512];
    uint8_t *q = (uint8_t *)1;
    size_t qlen = 7;
    snprintf(path, sizeof path, "%s/../rnn/rnn_lstm_f32_relu_proj_nobias/model.tflite", gdir);
    CHECK(quantize_file(path, KILN_QUANT_INT8, &q, &qlen, err, sizeof err) == KILN_ERR_UNSUPPORTED);
    CHECK(q == NULL && qlen == 0);
    CHECK_MSG(strstr(err, "TANH") && strstr(err, "--keep-float") && !strchr(err, '\n'), "%s", err);
    q = (uint8_t *)1;
    snprintf(path, sizeof path, "%s/../rnn/rnn_lstm_f32_basic/model.tflite", gdir);
    CHECK(quantize_file(path, KILN_QUANT_INT16X8, &q, &qlen, err, sizeof err) ==
          KILN_ERR_UNSUPPORTED);
    CHECK(q == NULL);
    CHECK_MSG(strstr(err, "UNIDIRECTIONAL_SEQUENCE_LSTM") && strstr(err, "int8 mode only"), "%s",
              err);
    /* SVDF without RELU: TFLite's integer SVDF refuses it */
    q = (uint8_t *)1;
    snprintf(path, sizeof path, "%s/../rnn/rnn_svdf_f32_nobias/model.tflite", gdir);
    CHECK(quantize_file(path, KILN_QUANT_INT8, &q, &qlen, err, sizeof err) == KILN_ERR_UNSUPPORTED);
    CHECK(q == NULL);
    CHECK_MSG(strstr(err, "SVDF") && strstr(err, "RELU"), "%s", err);
    /* the CLI writes no file */
    const char *bin = getenv("KILN_BIN");
    if (bin) {
        char cmd[8192], out[256];
        struct stat st;
        snprintf(out, sizeof out, "/tmp/kiln_test_qlstm_err_%d.tflite", (int)getpid());
        remove(out);
        snprintf(cmd, sizeof cmd,
                 "'%s' quantize '%s/../rnn/rnn_lstm_f32_relu_proj_nobias/model.tflite' -o '%s' "
                 "--mode int8 --calib-random 2>/dev/null",
                 bin, gdir, out);
        CHECK(system(cmd) != 0);
        CHECK(stat(out, &st) != 0);
    }
}

int main(void) {
    const char *t = getenv("KILN_TESTS");
    snprintf(gdir, sizeof gdir, "%s/golden/quant_lstm", t ? t : "tests");
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/cases.txt", gdir);
    struct stat st;
    if (stat(probe, &st) != 0) TEST_SKIP("tests/golden/quant_lstm not found (set KILN_TESTS)");
    test_goldens();
    test_accuracy();
    test_refusals();
    return test_done();
}
