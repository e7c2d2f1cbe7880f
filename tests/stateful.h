/* stateful.h: what the stateful-golden tests (test_rnn, test_rnn_q, test_control) share: the
 * seeded generator and model-writer calls that build their cases, writing a case's model and
 * inputs for its regen.sh, comparing an output with a golden .npy, and running a model over
 * several invokes, a reset and more invokes against one oracle's goldens (TFLite's semantics:
 * state carried between invokes). */
#ifndef KILN_TESTS_STATEFUL_H
#define KILN_TESTS_STATEFUL_H

#include <stdint.h>
#include <sys/stat.h>

#include "convert/tfl_writer.h"
#include "kiln/kiln_rt.h"
#include "kiln/npy.h"
#include "test.h"

#define STATEFUL_MAXIN 4 /* inputs fed per invoke (the cases have at most this many) */

/* mulberry32: a small seeded generator for the case weights and inputs. */
static inline uint32_t test_rng_next(uint32_t *s) {
    uint32_t z = (*s += 0x6D2B79F5u);
    z = (z ^ (z >> 15)) * (z | 1u);
    z ^= z + (z ^ (z >> 7)) * (z | 61u);
    return z ^ (z >> 14);
}
/* A float in [lo, hi) from the top 24 bits. */
static inline float test_rng_f(uint32_t *s, float lo, float hi) {
    return lo + (hi - lo) * (float)(test_rng_next(s) >> 8) / 16777216.0f;
}
/* An integer in [lo, hi]. */
static inline int32_t test_rng_i(uint32_t *s, int32_t lo, int32_t hi) {
    return lo + (int32_t)(test_rng_next(s) % (uint32_t)(hi - lo + 1));
}

/* A seed drawn from a case's name: s, then s * mul + each byte. */
static inline uint32_t test_seed(uint32_t s, uint32_t mul, const char *name) {
    for (const char *p = name; *p; p++)
        s = s * mul + (uint8_t)*p;
    return s;
}

/* The number of elements of a shape. */
static inline int64_t test_numel(int32_t rank, const int32_t *dims) {
    int64_t n = 1;
    for (int32_t i = 0; i < rank; i++)
        n *= dims[i];
    return n;
}

/* A tensor of subgraph sg: constant if data is given, quantized per tensor if scale is (zero
 * point *zp; NULL: 0), a variable tensor if `variable`. */
static inline int32_t stateful_tensor(kiln_tfl_writer *w, int32_t sg, const char *name,
                                      int32_t type, int32_t rank, const int32_t *dims,
                                      const void *data, size_t bytes, const float *scale,
                                      const int64_t *zp, int variable) {
    const kiln_tfl_tensor t = {.name = name,
                               .type = type,
                               .rank = rank,
                               .shape = dims,
                               .buffer = data ? kiln_tfl_add_buffer(w, data, bytes) : 0,
                               .num_quant = scale ? 1 : 0,
                               .scale = scale,
                               .zero_point = scale ? zp : NULL,
                               .is_variable = (uint8_t)variable};
    return kiln_tfl_add_tensor(w, sg, &t);
}

/* An operator of subgraph sg (opcode: from kiln_tfl_add_opcode) with its builtin options. */
static inline void stateful_op(kiln_tfl_writer *w, int32_t sg, int32_t opcode, const int32_t *in,
                               int32_t nin, const int32_t *out, int32_t nout, int32_t opts_type,
                               const kiln_tfl_opt *opts, int32_t nopts) {
    const kiln_tfl_op o = {.opcode = opcode,
                           .inputs = in,
                           .n_inputs = nin,
                           .outputs = out,
                           .n_outputs = nout,
                           .opts_type = opts_type,
                           .opts = opts,
                           .n_opts = nopts};
    kiln_tfl_add_operator(w, sg, &o);
}

/* The model w holds (malloc'd, NULL with a message naming `what` on stderr on error); w is
 * destroyed. */
static inline uint8_t *stateful_finish(kiln_tfl_writer *w, const char *what, size_t *len) {
    uint8_t *bytes = NULL;
    if (kiln_tfl_writer_finish(w, &bytes, len) != KILN_OK) {
        fprintf(stderr, "%s: %s\n", what, kiln_tfl_writer_error(w));
        bytes = NULL;
    }
    kiln_tfl_writer_destroy(w);
    return bytes;
}

/* $KILN_TESTS/golden/FAMILY (tests/golden/FAMILY when KILN_TESTS is unset). */
static inline void stateful_gdir(char *buf, size_t n, const char *family) {
    const char *tests = getenv("KILN_TESTS");
    snprintf(buf, n, "%s/golden/%s", tests ? tests : "tests", family);
}

/* 1 if the case is selected by the command line's optional name prefix (NULL: all). */
static inline int stateful_selected(const char *name, const char *only) {
    return !only || strncmp(name, only, strlen(only)) == 0;
}

/* Loads the model (a check) and creates an interpreter with opt (NULL: defaults), which must
 * fail with a message containing want (two checks). */
static inline void stateful_expect_create_error(const uint8_t *bytes, size_t len, const char *name,
                                                const kiln_interp_options *opt, const char *want) {
    char err[256] = "";
    kiln_model *m = NULL;
    kiln_interp *it = NULL;
    CHECK(kiln_model_load(bytes, len, name, NULL, &m, err, sizeof err) == KILN_OK);
    err[0] = 0;
    CHECK(kiln_interp_create(m, opt, &it, err, sizeof err) != KILN_OK);
    CHECK_MSG(strstr(err, want) != NULL, "got: %s", err);
    kiln_interp_destroy(it);
    kiln_model_destroy(m);
}

/* Fills dst with input k of case c (ti: its type and shape). */
typedef void (*stateful_input_fn)(const void *c, int32_t k, const kiln_tensor_info *ti, void *dst);

/* Writes DIR/NAME/model.tflite and the model's inputs made by fn: input 0 as input.npy, or with
 * `numbered` every input K as input_K.npy. 0 on success, else 1 and a message on stderr. */
static inline int stateful_write_case(const char *dir, const char *name, const uint8_t *bytes,
                                      size_t len, int numbered, stateful_input_fn fn,
                                      const void *c) {
    char path[4096], err[256] = "";
    snprintf(path, sizeof path, "%s/%s", dir, name);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/model.tflite", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, len, f) != len) {
        fprintf(stderr, "cannot write %s\n", path);
        if (f) fclose(f);
        return 1;
    }
    fclose(f);
    kiln_model *m = NULL;
    kiln_interp *it = NULL;
    int rc = 1;
    if (kiln_model_load(bytes, len, name, NULL, &m, err, sizeof err) == KILN_OK &&
        kiln_interp_create(m, NULL, &it, err, sizeof err) == KILN_OK) {
        rc = 0;
        const int32_t nin = numbered ? kiln_interp_num_inputs(it) : 1;
        for (int32_t k = 0; k < nin && !rc; k++) {
            kiln_tensor_info ti;
            kiln_interp_input(it, k, &ti);
            void *buf = malloc(ti.bytes ? ti.bytes : 1);
            fn(c, k, &ti, buf);
            int64_t dims[KILN_MAX_RANK];
            for (int32_t i = 0; i < ti.rank; i++)
                dims[i] = ti.dims[i];
            if (numbered)
                snprintf(path, sizeof path, "%s/%s/input_%d.npy", dir, name, (int)k);
            else
                snprintf(path, sizeof path, "%s/%s/input.npy", dir, name);
            rc = kiln_npy_write(path, ti.dtype, ti.rank, dims, buf, err, sizeof err) != KILN_OK;
            free(buf);
        }
    }
    if (rc) fprintf(stderr, "%s: %s\n", name, err);
    kiln_interp_destroy(it);
    kiln_model_destroy(m);
    return rc;
}

/* Element i of an integer (or bool) tensor's data. */
static inline long long stateful_elem(const void *p, int32_t dtype, size_t i) {
    switch (dtype) {
    case KILN_INT8:
        return ((const int8_t *)p)[i];
    case KILN_INT16:
        return ((const int16_t *)p)[i];
    case KILN_INT32:
        return ((const int32_t *)p)[i];
    case KILN_INT64:
        return ((const int64_t *)p)[i];
    default:
        return ((const uint8_t *)p)[i];
    }
}

/* Compares an output with the golden .npy at path: 1 equal (float32 within 1e-5 relative to
 * max(1, max|expected|), every other type exact), 0 different (why says how), -1 absent. */
static inline int stateful_compare(const char *path, const kiln_tensor_info *o, char *why,
                                   size_t whylen) {
    kiln_npy e;
    char err[256];
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fclose(f);
    if (kiln_npy_read(path, &e, err, sizeof err) != KILN_OK) {
        snprintf(why, whylen, "%s", err);
        return 0;
    }
    int ok = e.dtype == o->dtype && e.bytes == o->bytes;
    if (!ok) snprintf(why, whylen, "dtype/size differ (%zu vs %zu bytes)", e.bytes, o->bytes);
    if (ok && o->dtype == KILN_FLOAT32) {
        const float *a = (const float *)e.data, *b = (const float *)o->data;
        const size_t n = o->bytes / 4;
        double mx = 1.0, worst = 0.0;
        for (size_t i = 0; i < n; i++)
            mx = fabs(a[i]) > mx ? fabs(a[i]) : mx;
        for (size_t i = 0; i < n; i++) {
            const double dd = fabs((double)a[i] - (double)b[i]);
            worst = dd > worst || dd != dd ? dd : worst;
        }
        ok = worst <= 1e-5 * mx;
        if (!ok) snprintf(why, whylen, "max |diff| %g > %g", worst, 1e-5 * mx);
    } else if (ok) {
        const size_t es = o->dtype == KILN_INT16   ? 2
                          : o->dtype == KILN_INT32 ? 4
                          : o->dtype == KILN_INT64 ? 8
                                                   : 1;
        const size_t n = o->bytes / es;
        size_t diff = 0, first = 0;
        long long mx = 0;
        for (size_t i = 0; i < n; i++) {
            const long long a = stateful_elem(e.data, o->dtype, i);
            const long long b = stateful_elem(o->data, o->dtype, i);
            if (a != b) {
                if (diff++ == 0) first = i;
                mx = llabs(a - b) > mx ? llabs(a - b) : mx;
            }
        }
        ok = diff == 0;
        if (!ok)
            snprintf(why, whylen,
                     "%zu of %zu elements differ, max %lld (first at %zu: %lld vs %lld)", diff, n,
                     mx, first, stateful_elem(e.data, o->dtype, first),
                     stateful_elem(o->data, o->dtype, first));
    }
    kiln_npy_free(&e);
    return ok;
}

/* One case in one dialect against one oracle's goldens GDIR/NAME/PREFIX_K.npy (output 0) or,
 * with all_outputs, GDIR/NAME/PREFIX_K_output_O.npy (every output), K the invoke counted from
 * the start or from the reset. */
typedef struct stateful_run {
    const char *name;   /* the case: messages and its golden folder */
    const char *gdir;   /* the goldens' root */
    const char *regen;  /* the script named when the committed model is stale */
    const char *prefix; /* golden file prefix */
    const char *label;  /* after the prefix in failure messages (e.g. " (tflm dialect)"), or "" */
    kiln_arith arith;
    int steps;       /* invokes before the reset */
    int after_reset; /* invokes after it (steps 1..after_reset again) */
    int check_reset; /* the reset's status counts as a check */
    int all_outputs;
    int use_arena; /* the interpreter in a caller arena of exactly the required size */
    stateful_input_fn make_input;
    const void *c; /* the test's case, passed to the callbacks */
    /* Optional, after create: returns the number of first steps not to compare (0: all). */
    int (*created)(const struct stateful_run *r, kiln_interp *it);
    /* Optional, after invoke k (counted from the start or from the reset). */
    void (*invoked)(const struct stateful_run *r, kiln_interp *it, int k);
} stateful_run;

/* Loads the built model bytes (NULL: not built, a failure), checks they equal the committed
 * model.tflite, creates the interpreter and runs the sequence. Returns the goldens compared. */
static inline int stateful_run_case(const stateful_run *r, const uint8_t *bytes, size_t len) {
    char path[4096], err[256] = "", why[256];
    CHECK_MSG(bytes != NULL, "%s: model not built", r->name);
    if (!bytes) return 0;
    /* The committed model must be what the test builds today, or the goldens are stale. */
    snprintf(path, sizeof path, "%s/%s/model.tflite", r->gdir, r->name);
    const int same = test_file_equals(path, bytes, len);
    CHECK_MSG(same, "%s: committed model differs from the built one: run %s", r->name, r->regen);
    kiln_model *m = NULL;
    kiln_interp *it = NULL;
    kiln_interp_options opt;
    kiln_interp_options_init(&opt);
    opt.arith = r->arith;
    void *arena = NULL;
    kiln_status s = kiln_model_load(bytes, len, r->name, NULL, &m, err, sizeof err);
    if (s == KILN_OK) s = kiln_interp_create(m, &opt, &it, err, sizeof err);
    if (s == KILN_OK && r->use_arena) {
        /* the same run in a caller arena of exactly the required size: no malloc */
        const size_t need = kiln_rt_required_arena(it);
        kiln_interp_destroy(it);
        it = NULL;
        arena = malloc(need);
        opt.arena = arena;
        opt.arena_bytes = need;
        s = kiln_interp_create(m, &opt, &it, err, sizeof err);
    }
    CHECK_MSG(s == KILN_OK, "%s: %s", r->name, err);
    int checked = 0;
    if (s == KILN_OK) {
        const int skip = r->created ? r->created(r, it) : 0;
        const int32_t nin = kiln_interp_num_inputs(it);
        const int32_t nout = r->all_outputs ? kiln_interp_num_outputs(it) : 1;
        void *x[STATEFUL_MAXIN] = {0};
        for (int32_t k = 0; k < nin && k < STATEFUL_MAXIN; k++) {
            kiln_tensor_info ti;
            kiln_interp_input(it, k, &ti);
            x[k] = malloc(ti.bytes ? ti.bytes : 1);
            r->make_input(r->c, k, &ti, x[k]);
        }
        for (int step = 1; step <= r->steps + r->after_reset; step++) {
            if (step == r->steps + 1) {
                s = kiln_interp_reset(it);
                if (r->check_reset) CHECK(s == KILN_OK);
            }
            for (int32_t k = 0; k < nin && k < STATEFUL_MAXIN; k++) {
                kiln_tensor_info ti;
                kiln_interp_input(it, k, &ti); /* inputs are copied in before every invoke */
                memcpy(ti.data, x[k], ti.bytes);
            }
            s = kiln_interp_invoke(it);
            CHECK_MSG(s == KILN_OK, "%s: invoke %d: %s", r->name, step, kiln_interp_error(it));
            const int after = step > r->steps;
            const int k = after ? step - r->steps : step;
            if (r->invoked) r->invoked(r, it, k);
            if (k <= skip) continue;
            for (int32_t o = 0; o < nout; o++) {
                kiln_tensor_info to;
                char out[32] = "";
                kiln_interp_output(it, o, &to);
                if (r->all_outputs) {
                    snprintf(path, sizeof path, "%s/%s/%s_%d_output_%d.npy", r->gdir, r->name,
                             r->prefix, k, (int)o);
                    snprintf(out, sizeof out, " output %d", (int)o);
                } else {
                    snprintf(path, sizeof path, "%s/%s/%s_%d.npy", r->gdir, r->name, r->prefix, k);
                }
                const int cmp = stateful_compare(path, &to, why, sizeof why);
                if (cmp < 0) continue;
                checked++;
                CHECK_MSG(cmp == 1, "%s: %s%s step %d%s%s: %s", r->name, r->prefix, r->label, k,
                          after ? " (after reset)" : "", out, why);
            }
        }
        for (int32_t k = 0; k < STATEFUL_MAXIN; k++)
            free(x[k]);
    }
    kiln_interp_destroy(it);
    kiln_model_destroy(m);
    free(arena);
    return checked;
}

#endif
