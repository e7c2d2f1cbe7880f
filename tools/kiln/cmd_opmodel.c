/* cmd_opmodel.c: kiln opmodel: builds single-operator .tflite models and seeded inputs from a
 * case file (format in docs/opmodel.md); used to make the golden tests of tests/golden/. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_util.h"
#include "convert/tfl_writer.h"
#include "kiln/npy.h"

/* Union member names of BuiltinOptions / BuiltinOptions2 in schema.fbs order (value = index). */
static const char *const opts_names[] = {
    "NONE",
    "Conv2DOptions",
    "DepthwiseConv2DOptions",
    "ConcatEmbeddingsOptions",
    "LSHProjectionOptions",
    "Pool2DOptions",
    "SVDFOptions",
    "RNNOptions",
    "FullyConnectedOptions",
    "SoftmaxOptions",
    "ConcatenationOptions",
    "AddOptions",
    "L2NormOptions",
    "LocalResponseNormalizationOptions",
    "LSTMOptions",
    "ResizeBilinearOptions",
    "CallOptions",
    "ReshapeOptions",
    "SkipGramOptions",
    "SpaceToDepthOptions",
    "EmbeddingLookupSparseOptions",
    "MulOptions",
    "PadOptions",
    "GatherOptions",
    "BatchToSpaceNDOptions",
    "SpaceToBatchNDOptions",
    "TransposeOptions",
    "ReducerOptions",
    "SubOptions",
    "DivOptions",
    "SqueezeOptions",
    "SequenceRNNOptions",
    "StridedSliceOptions",
    "ExpOptions",
    "TopKV2Options",
    "SplitOptions",
    "LogSoftmaxOptions",
    "CastOptions",
    "DequantizeOptions",
    "MaximumMinimumOptions",
    "ArgMaxOptions",
    "LessOptions",
    "NegOptions",
    "PadV2Options",
    "GreaterOptions",
    "GreaterEqualOptions",
    "LessEqualOptions",
    "SelectOptions",
    "SliceOptions",
    "TransposeConvOptions",
    "SparseToDenseOptions",
    "TileOptions",
    "ExpandDimsOptions",
    "EqualOptions",
    "NotEqualOptions",
    "ShapeOptions",
    "PowOptions",
    "ArgMinOptions",
    "FakeQuantOptions",
    "PackOptions",
    "LogicalOrOptions",
    "OneHotOptions",
    "LogicalAndOptions",
    "LogicalNotOptions",
    "UnpackOptions",
    "FloorDivOptions",
    "SquareOptions",
    "ZerosLikeOptions",
    "FillOptions",
    "BidirectionalSequenceLSTMOptions",
    "BidirectionalSequenceRNNOptions",
    "UnidirectionalSequenceLSTMOptions",
    "FloorModOptions",
    "RangeOptions",
    "ResizeNearestNeighborOptions",
    "LeakyReluOptions",
    "SquaredDifferenceOptions",
    "MirrorPadOptions",
    "AbsOptions",
    "SplitVOptions",
    "UniqueOptions",
    "ReverseV2Options",
    "AddNOptions",
    "GatherNdOptions",
    "CosOptions",
    "WhereOptions",
    "RankOptions",
    "ReverseSequenceOptions",
    "MatrixDiagOptions",
    "QuantizeOptions",
    "MatrixSetDiagOptions",
    "HardSwishOptions",
    "IfOptions",
    "WhileOptions",
    "DepthToSpaceOptions",
    "NonMaxSuppressionV4Options",
    "NonMaxSuppressionV5Options",
    "ScatterNdOptions",
    "SelectV2Options",
    "DensifyOptions",
    "SegmentSumOptions",
    "BatchMatMulOptions",
    "CumsumOptions",
    "CallOnceOptions",
    "BroadcastToOptions",
    "Rfft2dOptions",
    "Conv3DOptions",
    "HashtableOptions",
    "HashtableFindOptions",
    "HashtableImportOptions",
    "HashtableSizeOptions",
    "VarHandleOptions",
    "ReadVariableOptions",
    "AssignVariableOptions",
    "RandomOptions",
    "BucketizeOptions",
    "GeluOptions",
    "DynamicUpdateSliceOptions",
    "UnsortedSegmentProdOptions",
    "UnsortedSegmentMaxOptions",
    "UnsortedSegmentMinOptions",
    "UnsortedSegmentSumOptions",
    "ATan2Options",
    "SignOptions",
    "BitcastOptions",
    "BitwiseXorOptions",
    "RightShiftOptions",
};
static const char *const opts2_names[] = {
    "NONE",
    "StablehloConcatenateOptions",
    "StablehloBroadcastInDimOptions",
    "StablehloSliceOptions",
    "StablehloConvolutionOptions",
    "StablehloCustomCallOptions",
    "StablehloReduceOptions",
    "StablehloScatterOptions",
    "StablehloCompareOptions",
    "StablehloDynamicSliceOptions",
    "StablehloPadOptions",
    "StablehloIotaOptions",
    "StablehloDotGeneralOptions",
    "StablehloReduceWindowOptions",
    "StablehloSortOptions",
    "StablehloWhileOptions",
    "StablehloGatherOptions",
    "StablehloTransposeOptions",
    "DilateOptions",
    "StablehloRngBitGeneratorOptions",
    "ReduceWindowOptions",
    "StableHLOCompositeOptions",
    "StablehloShiftLeftOptions",
    "StablehloCaseOptions",
};

#define OM_MAX_T 32
#define OM_MAX_OPTS 64
#define OM_MAX_BYTES ((size_t)64 << 20) /* per tensor: cases are meant to be small */

enum { T_IN, T_CONST, T_OUT, T_NONE };
enum { G_DEFAULT, G_RAND, G_VALS };

typedef struct om_tensor {
    int kind;
    char name[96];
    int32_t dtype, rank, dims[KILN_MAX_RANK];
    int gen;
    double lo, hi;
    int32_t n_vals;
    double *dvals;
    long long *ivals;
    int32_t nq;
    float *scale;
    int64_t *zp;
    int32_t qdim;
} om_tensor;

typedef struct om_case {
    char name[128];
    const char *file;
    int line;
    int32_t op, version;
    om_tensor t[OM_MAX_T];
    int nt;
    int32_t opts_type, opts2_type;
    kiln_tfl_opt opts[OM_MAX_OPTS], opts2[OM_MAX_OPTS];
    int n_opts, n_opts2;
    char err[512];
} om_case;

static int om_fail(om_case *c, const char *fmt, ...) {
    if (c->err[0]) return -1;
    int n = snprintf(c->err, sizeof c->err, "%s:%d: %s: ", c->file, c->line,
                     c->name[0] ? c->name : "(case)");
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof c->err)
        vsnprintf(c->err + n, sizeof c->err - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static void om_case_free(om_case *c) {
    for (int i = 0; i < c->nt; i++) {
        free(c->t[i].dvals);
        free(c->t[i].ivals);
        free(c->t[i].scale);
        free(c->t[i].zp);
    }
    for (int i = 0; i < c->n_opts; i++)
        free((void *)c->opts[i].ivec);
    for (int i = 0; i < c->n_opts2; i++)
        free((void *)c->opts2[i].ivec);
    for (int i = 0; i < c->n_opts; i++)
        free((void *)c->opts[i].str);
    for (int i = 0; i < c->n_opts2; i++)
        free((void *)c->opts2[i].str);
    memset(c, 0, sizeof *c);
}

/* ---- dtypes ------------------------------------------------------------------------------- */

typedef struct om_dtype {
    const char *name;
    int32_t dtype;
    size_t size;
    int is_float;
    double min, max; /* integer range */
} om_dtype;

static const om_dtype om_dtypes[] = {
    {"f32", KILN_FLOAT32, 4, 1, 0, 0},
    {"f16", KILN_FLOAT16, 2, 1, 0, 0},
    {"f64", KILN_FLOAT64, 8, 1, 0, 0},
    {"i8", KILN_INT8, 1, 0, -128, 127},
    {"u8", KILN_UINT8, 1, 0, 0, 255},
    {"i16", KILN_INT16, 2, 0, -32768, 32767},
    {"u16", KILN_UINT16, 2, 0, 0, 65535},
    {"i32", KILN_INT32, 4, 0, -2147483648.0, 2147483647.0},
    {"u32", KILN_UINT32, 4, 0, 0, 4294967295.0},
    {"i64", KILN_INT64, 8, 0, -9223372036854775808.0, 9223372036854775807.0},
    {"u64", KILN_UINT64, 8, 0, 0, 18446744073709551615.0},
    {"bool", KILN_BOOL, 1, 0, 0, 1},
};

static const om_dtype *dtype_by_name(const char *s, size_t n) {
    for (size_t i = 0; i < sizeof om_dtypes / sizeof om_dtypes[0]; i++)
        if (strlen(om_dtypes[i].name) == n && !strncmp(om_dtypes[i].name, s, n))
            return &om_dtypes[i];
    return NULL;
}

static const om_dtype *dtype_info(int32_t dtype) {
    for (size_t i = 0; i < sizeof om_dtypes / sizeof om_dtypes[0]; i++)
        if (om_dtypes[i].dtype == dtype) return &om_dtypes[i];
    return NULL;
}

/* ---- small parsing helpers ---------------------------------------------------------------- */

/* Next whitespace-separated token, keeping (...) and [...] groups whole. */
static int next_token(const char **p, char *tok, size_t cap) {
    const char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s) {
        *p = s;
        return 0;
    }
    size_t n = 0;
    int depth = 0;
    while (*s && (depth > 0 || (*s != ' ' && *s != '\t'))) {
        if (*s == '(' || *s == '[') depth++;
        if ((*s == ')' || *s == ']') && depth > 0) depth--;
        if (n + 1 < cap) tok[n++] = *s;
        s++;
    }
    tok[n] = 0;
    *p = s;
    return n + 1 < cap ? 1 : -1;
}

/* Splits "a, b, [c, d], e" at top-level commas (in place); returns the count or -1. */
static int split_args(char *s, char **out, int max) {
    int n = 0, depth = 0;
    char *start = s;
    for (char *q = s;; q++) {
        if (*q == '(' || *q == '[') depth++;
        if (*q == ')' || *q == ']') depth--;
        if ((*q == ',' && depth == 0) || *q == 0) {
            int end = *q == 0;
            *q = 0;
            while (*start == ' ' || *start == '\t')
                start++;
            char *e = start + strlen(start);
            while (e > start && (e[-1] == ' ' || e[-1] == '\t'))
                *--e = 0;
            if (n >= max) return -1;
            out[n++] = start;
            if (end) break;
            start = q + 1;
        }
    }
    if (n == 1 && !out[0][0]) return 0;
    return n;
}

/* "name(args)" -> args (copied into buf) if tok starts with name and ends with ')'. */
static int call_args(const char *tok, const char *name, char *buf, size_t cap) {
    size_t n = strlen(name), len = strlen(tok);
    if (strncmp(tok, name, n) || tok[n] != '(' || len < n + 2 || tok[len - 1] != ')') return 0;
    size_t m = len - n - 2;
    if (m + 1 > cap) return 0;
    memcpy(buf, tok + n + 1, m);
    buf[m] = 0;
    return 1;
}

static int parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE) return -1;
    *out = v;
    return 0;
}

static int parse_ll(const char *s, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (end == s || *end || errno == ERANGE) return -1;
    *out = v;
    return 0;
}

/* "[a,b,c]" or "a" -> list of strings; returns count or -1. */
static int parse_list(char *s, char **items, int max) {
    size_t len = strlen(s);
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s[len - 1] = 0;
        return split_args(s + 1, items, max);
    }
    if (max < 1) return -1;
    items[0] = s;
    return 1;
}

/* Symbolic values allowed in options: enum names of schema.fbs and dtype names. */
static int symbol_value(const char *s, long long *out) {
    static const struct {
        const char *name;
        int value;
    } syms[] = {{"SAME", 0},         {"VALID", 1}, {"NONE", 0},    {"RELU", 1},
                {"RELU_N1_TO_1", 2}, {"RELU6", 3}, {"TANH", 4},    {"SIGN_BIT", 5},
                {"true", 1},         {"false", 0}, {"DEFAULT", 0}, {"SHUFFLED4x16INT8", 1}};
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++)
        if (!strcmp(s, syms[i].name)) {
            *out = syms[i].value;
            return 0;
        }
    const om_dtype *d = dtype_by_name(s, strlen(s));
    if (d) {
        *out = d->dtype;
        return 0;
    }
    return -1;
}

/* ---- sections ----------------------------------------------------------------------------- */

static int parse_typeshape(om_case *c, om_tensor *t, const char *tok) {
    const char *br = strchr(tok, '[');
    size_t len = strlen(tok);
    if (!br || tok[len - 1] != ']')
        return om_fail(c, "tensor %s: expected TYPE[dims], e.g. f32[1,8,8,3], got '%s'", t->name,
                       tok);
    const om_dtype *d = dtype_by_name(tok, (size_t)(br - tok));
    if (!d)
        return om_fail(c,
                       "tensor %s: unknown dtype '%.*s' (f32 f16 f64 i8 u8 i16 u16 i32 u32 "
                       "i64 u64 bool)",
                       t->name, (int)(br - tok), tok);
    t->dtype = d->dtype;
    char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)(len - (size_t)(br - tok) - 2), br + 1);
    char *items[KILN_MAX_RANK + 1];
    int n = split_args(buf, items, KILN_MAX_RANK + 1);
    if (n < 0 || n > KILN_MAX_RANK)
        return om_fail(c, "tensor %s: rank above %d", t->name, KILN_MAX_RANK);
    t->rank = n;
    for (int i = 0; i < n; i++) {
        long long v;
        if (parse_ll(items[i], &v) || v < 0 || v > (1 << 24))
            return om_fail(c, "tensor %s: bad dimension '%s'", t->name, items[i]);
        t->dims[i] = (int32_t)v;
    }
    return 0;
}

static int parse_gen(om_case *c, om_tensor *t, const char *tok, const char *kind) {
    char buf[8192];
    char *items[4096];
    const om_dtype *d = dtype_info(t->dtype);
    if (call_args(tok, "rand", buf, sizeof buf)) {
        int n = split_args(buf, items, 4);
        if (n != 2 || parse_double(items[0], &t->lo) || parse_double(items[1], &t->hi) ||
            t->hi < t->lo)
            return om_fail(c, "tensor %s: rand(lo,hi) needs two numbers, lo <= hi", t->name);
        if (!d->is_float &&
            (t->lo != floor(t->lo) || t->hi != floor(t->hi) || t->lo < d->min || t->hi > d->max))
            return om_fail(c, "tensor %s: rand(%g,%g): integer bounds within the %s range", t->name,
                           t->lo, t->hi, d->name);
        t->gen = G_RAND;
        return 0;
    }
    if (call_args(tok, "vals", buf, sizeof buf)) {
        int n = split_args(buf, items, 4096);
        if (n <= 0) return om_fail(c, "tensor %s: vals(...) needs 1 to 4096 values", t->name);
        t->dvals = calloc((size_t)n, sizeof(double));
        t->ivals = calloc((size_t)n, sizeof(long long));
        if (!t->dvals || !t->ivals) return om_fail(c, "out of memory");
        for (int i = 0; i < n; i++) {
            if (d->is_float) {
                if (parse_double(items[i], &t->dvals[i]))
                    return om_fail(c, "tensor %s: bad value '%s'", t->name, items[i]);
            } else {
                if (parse_ll(items[i], &t->ivals[i]) || (double)t->ivals[i] < d->min ||
                    (double)t->ivals[i] > d->max)
                    return om_fail(c, "tensor %s: value '%s' is not a %s", t->name, items[i],
                                   d->name);
            }
        }
        t->n_vals = n;
        t->gen = G_VALS;
        return 0;
    }
    return om_fail(c, "%s %s: unexpected '%s' (expected rand(lo,hi), vals(...) or q(...))", kind,
                   t->name, tok);
}

static int parse_quant(om_case *c, om_tensor *t, const char *tok) {
    char buf[8192];
    if (!call_args(tok, "q", buf, sizeof buf))
        return om_fail(c, "tensor %s: bad quantization '%s'", t->name, tok);
    char *args[4];
    int na = split_args(buf, args, 4);
    if (na < 2 || na > 3)
        return om_fail(c, "tensor %s: q(scale, zero_point[, dim=D]) expected", t->name);
    int has_dim = 0;
    if (na == 3) {
        long long dv;
        if (strncmp(args[2], "dim=", 4) || parse_ll(args[2] + 4, &dv) || dv < 0 || dv >= t->rank)
            return om_fail(c, "tensor %s: bad '%s' (dim=D with 0 <= D < rank)", t->name, args[2]);
        t->qdim = (int32_t)dv;
        has_dim = 1;
    }
    char *sc[4096], *zp[4096];
    char rbuf[256];
    int ns;
    double rlo = 0, rhi = 0;
    int rand_scales = call_args(args[0], "rand", rbuf, sizeof rbuf);
    if (rand_scales) {
        char *r[3];
        if (!has_dim || split_args(rbuf, r, 3) != 2 || parse_double(r[0], &rlo) ||
            parse_double(r[1], &rhi) || rlo <= 0 || rhi < rlo)
            return om_fail(c, "tensor %s: q(rand(lo,hi), zp, dim=D) needs 0 < lo <= hi and dim",
                           t->name);
        ns = t->dims[t->qdim];
    } else {
        ns = parse_list(args[0], sc, 4096);
        if (ns <= 0) return om_fail(c, "tensor %s: bad scales '%s'", t->name, args[0]);
    }
    int nz = parse_list(args[1], zp, 4096);
    if (nz <= 0 || (nz != 1 && nz != ns))
        return om_fail(c, "tensor %s: %d zero points for %d scales", t->name, nz, ns);
    if (ns > 1 && !has_dim)
        return om_fail(c, "tensor %s: per-channel quantization needs dim=D", t->name);
    if (has_dim && ns != t->dims[t->qdim] && !(ns == 1 && !has_dim))
        return om_fail(c, "tensor %s: %d scales but dimension %d has %d entries", t->name, ns,
                       t->qdim, t->dims[t->qdim]);
    if (ns == 0) return om_fail(c, "tensor %s: no scales", t->name);
    t->nq = ns;
    t->scale = calloc((size_t)ns, sizeof(float));
    t->zp = calloc((size_t)ns, sizeof(int64_t));
    if (!t->scale || !t->zp) return om_fail(c, "out of memory");
    /* Random per-channel scales use their own generator seeded by the case name, so they do
     * not shift the data streams. */
    uint64_t st = 0x9e3779b97f4a7c15ull;
    for (const char *p = t->name; *p; p++)
        st = (st ^ (uint8_t)*p) * 1099511628211ull;
    for (int i = 0; i < ns; i++) {
        double s;
        if (rand_scales) {
            st += 0x9e3779b97f4a7c15ull;
            uint64_t z = st;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            z ^= z >> 31;
            s = rlo + (rhi - rlo) * (double)(z >> 11) * (1.0 / 9007199254740992.0);
        } else if (parse_double(sc[i], &s) || !(s > 0)) {
            return om_fail(c, "tensor %s: bad scale '%s'", t->name, sc[i]);
        }
        t->scale[i] = (float)s;
        long long z;
        const char *zs = zp[nz == 1 ? 0 : i];
        if (parse_ll(zs, &z)) return om_fail(c, "tensor %s: bad zero point '%s'", t->name, zs);
        t->zp[i] = z;
    }
    return 0;
}

static int parse_tensor(om_case *c, const char *kw, const char **p) {
    if (c->nt >= OM_MAX_T) return om_fail(c, "more than %d tensors", OM_MAX_T);
    om_tensor *t = &c->t[c->nt++];
    memset(t, 0, sizeof *t);
    char tok[8192];
    if (!strcmp(kw, "none")) {
        t->kind = T_NONE;
        if (next_token(p, tok, sizeof tok)) return om_fail(c, "'none' takes no arguments");
        return 0;
    }
    t->kind = !strcmp(kw, "in") ? T_IN : !strcmp(kw, "const") ? T_CONST : T_OUT;
    if (next_token(p, tok, sizeof tok) != 1) return om_fail(c, "%s: missing tensor name", kw);
    if (strlen(tok) >= sizeof t->name) return om_fail(c, "%s: tensor name too long", kw);
    memcpy(t->name, tok, strlen(tok) + 1);
    if (next_token(p, tok, sizeof tok) != 1)
        return om_fail(c, "%s %s: missing TYPE[dims]", kw, t->name);
    if (parse_typeshape(c, t, tok)) return -1;
    int r;
    while ((r = next_token(p, tok, sizeof tok)) == 1) {
        if (!strncmp(tok, "q(", 2)) {
            if (t->nq) return om_fail(c, "tensor %s: quantization given twice", t->name);
            if (parse_quant(c, t, tok)) return -1;
        } else {
            if (t->kind == T_OUT)
                return om_fail(c, "out %s: unexpected '%s' (outputs take only q(...))", t->name,
                               tok);
            if (t->gen != G_DEFAULT) return om_fail(c, "tensor %s: two generators", t->name);
            if (parse_gen(c, t, tok, kw)) return -1;
        }
    }
    if (r < 0) return om_fail(c, "tensor %s: token too long", t->name);
    if (t->kind == T_CONST && t->gen == G_DEFAULT)
        return om_fail(c, "const %s: needs rand(lo,hi) or vals(...)", t->name);
    return 0;
}

static int parse_opt_field(om_case *c, const char *tok, kiln_tfl_opt *o) {
    char *end;
    long id = strtol(tok, &end, 10);
    if (end == tok || id < 0 || id > 1000)
        return om_fail(c, "option '%s': expected ID[.name]:TYPE=VALUE, e.g. 0.padding:i8=SAME",
                       tok);
    const char *s = end;
    if (*s == '.') {
        s++;
        while (*s && *s != ':')
            s++;
    }
    if (*s != ':') return om_fail(c, "option '%s': missing ':TYPE'", tok);
    s++;
    const char *eq = strchr(s, '=');
    if (!eq) return om_fail(c, "option '%s': missing '=VALUE'", tok);
    static const struct {
        const char *name;
        int type;
        double lo, hi;
    } types[] = {{"i8", KILN_TFL_OPT_I8, -128, 127},
                 {"bool", KILN_TFL_OPT_I8, 0, 1},
                 {"u8", KILN_TFL_OPT_U8, 0, 255},
                 {"i16", KILN_TFL_OPT_I16, -32768, 32767},
                 {"u16", KILN_TFL_OPT_U16, 0, 65535},
                 {"i32", KILN_TFL_OPT_I32, -2147483648.0, 2147483647.0},
                 {"u32", KILN_TFL_OPT_U32, 0, 4294967295.0},
                 {"i64", KILN_TFL_OPT_I64, -9.3e18, 9.3e18},
                 {"f32", KILN_TFL_OPT_F32, 0, 0},
                 {"ivec", KILN_TFL_OPT_IVEC, 0, 0},
                 {"str", KILN_TFL_OPT_STR, 0, 0}};
    int ti = -1;
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strlen(types[i].name) == (size_t)(eq - s) &&
            !strncmp(types[i].name, s, (size_t)(eq - s)))
            ti = (int)i;
    if (ti < 0)
        return om_fail(c, "option '%s': unknown type (i8 bool u8 i16 u16 i32 u32 i64 f32 ivec str)",
                       tok);
    memset(o, 0, sizeof *o);
    o->id = (int32_t)id;
    o->type = types[ti].type;
    const char *val = eq + 1;
    if (o->type == KILN_TFL_OPT_F32) {
        double v;
        if (parse_double(val, &v)) return om_fail(c, "option '%s': bad float", tok);
        o->f = (float)v;
    } else if (o->type == KILN_TFL_OPT_IVEC) {
        char buf[4096];
        char *items[1024];
        snprintf(buf, sizeof buf, "%s", val);
        size_t len = strlen(buf);
        if (len < 2 || buf[0] != '[' || buf[len - 1] != ']')
            return om_fail(c, "option '%s': ivec value is [a,b,...]", tok);
        int n = parse_list(buf, items, 1024);
        if (n < 0) return om_fail(c, "option '%s': bad list", tok);
        int32_t *v = calloc((size_t)(n ? n : 1), sizeof(int32_t));
        if (!v) return om_fail(c, "out of memory");
        o->ivec = v;
        o->n = n;
        for (int i = 0; i < n; i++) {
            long long x;
            if (parse_ll(items[i], &x) || x < INT32_MIN || x > INT32_MAX)
                return om_fail(c, "option '%s': bad int '%s'", tok, items[i]);
            v[i] = (int32_t)x;
        }
    } else if (o->type == KILN_TFL_OPT_STR) {
        o->str = strdup(val);
        if (!o->str) return om_fail(c, "out of memory");
    } else {
        long long x;
        if (parse_ll(val, &x) && symbol_value(val, &x))
            return om_fail(c, "option '%s': bad value '%s'", tok, val);
        if ((double)x < types[ti].lo || (double)x > types[ti].hi)
            return om_fail(c, "option '%s': value out of range for %s", tok, types[ti].name);
        o->i = x;
    }
    return 0;
}

static int parse_opts(om_case *c, int second, const char **p) {
    char tok[8192];
    if (next_token(p, tok, sizeof tok) != 1)
        return om_fail(c, "opts: missing the options table name (e.g. Conv2DOptions)");
    const char *const *names = second ? opts2_names : opts_names;
    size_t count = second ? sizeof opts2_names / sizeof opts2_names[0]
                          : sizeof opts_names / sizeof opts_names[0];
    long long type = -1;
    for (size_t i = 1; i < count; i++)
        if (!strcmp(tok, names[i])) type = (long long)i;
    if (type < 0 && (parse_ll(tok, &type) || type < 1 || type >= (long long)count))
        return om_fail(c, "opts: unknown options table '%s'", tok);
    if ((second ? c->opts2_type : c->opts_type) != 0) return om_fail(c, "opts given twice");
    if (second)
        c->opts2_type = (int32_t)type;
    else
        c->opts_type = (int32_t)type;
    kiln_tfl_opt *arr = second ? c->opts2 : c->opts;
    int *n = second ? &c->n_opts2 : &c->n_opts;
    int r;
    while ((r = next_token(p, tok, sizeof tok)) == 1) {
        if (*n >= OM_MAX_OPTS) return om_fail(c, "more than %d option fields", OM_MAX_OPTS);
        if (parse_opt_field(c, tok, &arr[*n])) return -1;
        (*n)++;
        for (int i = 0; i + 1 < *n; i++)
            if (arr[i].id == arr[*n - 1].id)
                return om_fail(c, "option field %d given twice", arr[i].id);
    }
    if (r < 0) return om_fail(c, "opts: token too long");
    return 0;
}

static int32_t builtin_by_name(const char *s) {
    for (int32_t i = 0; i < 1024; i++)
        if (!strcmp(kiln_builtin_name(i), s)) return i;
    long long v;
    if (!parse_ll(s, &v) && v >= 0 && v < 100000) return (int32_t)v;
    return -1;
}

/* Parses one logical line (sections separated by ';') into c. */
static int parse_case(om_case *c, char *text) {
    char *sections[OM_MAX_T + 8];
    int ns = 0;
    for (char *s = text;;) {
        if (ns >= OM_MAX_T + 8) return om_fail(c, "too many sections");
        sections[ns++] = s;
        char *semi = strchr(s, ';');
        if (!semi) break;
        *semi = 0;
        s = semi + 1;
    }
    const char *p = sections[0];
    char tok[256];
    if (next_token(&p, tok, sizeof tok) != 1) return om_fail(c, "missing case name");
    for (const char *q = tok; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
              *q == '_' || *q == '-' || *q == '.'))
            return om_fail(c, "case name '%s': use only [A-Za-z0-9_.-]", tok);
    if (strlen(tok) >= sizeof c->name) return om_fail(c, "case name too long");
    memcpy(c->name, tok, strlen(tok) + 1);
    if (next_token(&p, tok, sizeof tok) != 1) return om_fail(c, "missing operator name");
    c->op = builtin_by_name(tok);
    if (c->op < 0) return om_fail(c, "unknown operator '%s'", tok);
    c->version = 1;
    if (next_token(&p, tok, sizeof tok) == 1) {
        long long v;
        if (tok[0] != 'v' || parse_ll(tok + 1, &v) || v < 1 || v > 1000)
            return om_fail(c, "expected version vN after the operator, got '%s'", tok);
        c->version = (int32_t)v;
        if (next_token(&p, tok, sizeof tok)) return om_fail(c, "unexpected '%s'", tok);
    }
    for (int i = 1; i < ns; i++) {
        p = sections[i];
        char kw[32];
        int r = next_token(&p, kw, sizeof kw);
        if (r == 0) continue; /* empty section, e.g. a trailing ';' */
        if (r < 0) return om_fail(c, "unknown section starting '%.20s'", sections[i]);
        if (!strcmp(kw, "in") || !strcmp(kw, "const") || !strcmp(kw, "out") ||
            !strcmp(kw, "none")) {
            if (parse_tensor(c, kw, &p)) return -1;
        } else if (!strcmp(kw, "opts") || !strcmp(kw, "opts2")) {
            if (parse_opts(c, kw[4] == '2', &p)) return -1;
        } else {
            return om_fail(c, "unknown section '%s' (in, const, none, out, opts, opts2)", kw);
        }
    }
    int n_out = 0;
    for (int i = 0; i < c->nt; i++) {
        n_out += c->t[i].kind == T_OUT;
        for (int k = 0; k < i; k++)
            if (c->t[i].kind != T_NONE && c->t[k].kind != T_NONE &&
                !strcmp(c->t[i].name, c->t[k].name))
                return om_fail(c, "tensor name '%s' used twice", c->t[i].name);
    }
    if (!n_out) return om_fail(c, "no 'out' tensor");
    return 0;
}

/* ---- data generation ---------------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* IEEE half from float, round to nearest even (as numpy's float16 cast). */
static uint16_t f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xffu, man = x & 0x7fffffu;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u : 0));
    int32_t e = (int32_t)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        if (e < -10) return (uint16_t)sign;
        man |= 0x800000u;
        uint32_t shift = (uint32_t)(14 - e);
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

static void store_value(uint8_t *p, int32_t dtype, double dv, long long iv) {
    switch (dtype) {
    case KILN_FLOAT32: {
        float f = (float)dv;
        memcpy(p, &f, 4);
        break;
    }
    case KILN_FLOAT16: {
        uint16_t h = f32_to_f16((float)dv);
        memcpy(p, &h, 2);
        break;
    }
    case KILN_FLOAT64:
        memcpy(p, &dv, 8);
        break;
    case KILN_INT8:
    case KILN_UINT8:
    case KILN_BOOL:
        *p = (uint8_t)iv;
        break;
    case KILN_INT16:
    case KILN_UINT16: {
        uint16_t v = (uint16_t)iv;
        memcpy(p, &v, 2);
        break;
    }
    case KILN_INT32:
    case KILN_UINT32: {
        uint32_t v = (uint32_t)iv;
        memcpy(p, &v, 4);
        break;
    }
    default: {
        uint64_t v = (uint64_t)iv;
        memcpy(p, &v, 8);
        break;
    }
    }
}

static int gen_data(om_case *c, const om_tensor *t, uint64_t *rng, uint8_t **out, size_t *bytes) {
    const om_dtype *d = dtype_info(t->dtype);
    uint64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= (uint64_t)t->dims[i];
    if (n * d->size > OM_MAX_BYTES)
        return om_fail(c, "tensor %s: %llu bytes is too large for a test case", t->name,
                       (unsigned long long)(n * d->size));
    if (t->gen == G_VALS && t->n_vals != 1 && (uint64_t)t->n_vals != n)
        return om_fail(c, "tensor %s: vals(...) has %d values, the shape has %llu", t->name,
                       t->n_vals, (unsigned long long)n);
    uint8_t *p = calloc(n ? n * d->size : 1, 1);
    if (!p) return om_fail(c, "out of memory");
    double lo = t->lo, hi = t->hi;
    if (t->gen == G_DEFAULT) {
        if (d->is_float) {
            lo = -1;
            hi = 1;
        } else if (d->size <= 2) {
            lo = d->min;
            hi = d->max;
        } else {
            lo = d->min < 0 ? -10 : 0;
            hi = 10;
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        double dv = 0;
        long long iv = 0;
        if (t->gen == G_VALS) {
            size_t k = t->n_vals == 1 ? 0 : (size_t)i;
            dv = t->dvals[k];
            iv = t->ivals[k];
        } else if (d->is_float) {
            double u = (double)(splitmix(rng) >> 11) * (1.0 / 9007199254740992.0);
            dv = lo + (hi - lo) * u;
        } else {
            /* Inclusive integer range; hi - lo + 1 fits in a uint64 for every dtype here but
             * the full 64-bit ranges, where the raw draw is used. */
            double span = hi - lo + 1;
            uint64_t r = splitmix(rng);
            if (span >= 18446744073709551615.0)
                iv = (long long)r;
            else
                iv = (long long)((double)lo + (double)(r % (uint64_t)span));
        }
        store_value(p + i * d->size, t->dtype, dv, iv);
    }
    *out = p;
    *bytes = (size_t)(n * d->size);
    return 0;
}

/* ---- building ----------------------------------------------------------------------------- */

static int write_file_atomic(const char *path, const void *data, size_t len, char *err,
                             size_t errlen) {
    char tmp[4300];
    size_t pl = strlen(path);
    if (pl + 5 > sizeof tmp) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "%.300s: %s", tmp, strerror(errno));
        return -1;
    }
    size_t w = fwrite(data, 1, len, f);
    if (fclose(f) != 0 || w != len || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%.300s: write failed: %s", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static int build_case(om_case *c, const char *outdir, uint64_t seed) {
    char dir[4096], path[4200], err[512];
    snprintf(dir, sizeof dir, "%s/%s", outdir, c->name);
    if (kcli_mkdirs(dir) != 0) return om_fail(c, "%s: %s", dir, strerror(errno));
    kiln_tfl_writer *w = NULL;
    if (kiln_tfl_writer_create(&w) != KILN_OK) return om_fail(c, "out of memory");
    uint64_t rng = seed * 0x9e3779b97f4a7c15ull ^ name_hash(c->name);
    int32_t sg = kiln_tfl_add_subgraph(w, "main");
    int32_t op_in[OM_MAX_T], op_out[OM_MAX_T], sg_in[OM_MAX_T];
    int n_in = 0, n_out = 0, n_sg_in = 0, rc = 0;
    uint8_t *inputs_data[OM_MAX_T] = {0};
    int n_inputs_data = 0;
    for (int i = 0; i < c->nt && !rc; i++) {
        om_tensor *t = &c->t[i];
        if (t->kind == T_NONE) {
            op_in[n_in++] = -1;
            continue;
        }
        uint8_t *data = NULL;
        size_t bytes = 0;
        int32_t buffer = 0;
        if (t->kind != T_OUT) {
            if (gen_data(c, t, &rng, &data, &bytes)) {
                rc = -1;
                break;
            }
        }
        if (t->kind == T_CONST) {
            buffer = kiln_tfl_add_buffer(w, data, bytes);
            free(data);
            data = NULL;
        }
        kiln_tfl_tensor td = {.name = t->name,
                              .type = t->dtype,
                              .rank = t->rank,
                              .shape = t->dims,
                              .buffer = buffer,
                              .num_quant = t->nq,
                              .scale = t->scale,
                              .zero_point = t->zp,
                              .quantized_dimension = t->qdim};
        int32_t idx = kiln_tfl_add_tensor(w, sg, &td);
        if (idx < 0) {
            free(data);
            rc = om_fail(c, "%s", kiln_tfl_writer_error(w));
            break;
        }
        if (t->kind == T_OUT) {
            op_out[n_out++] = idx;
        } else {
            op_in[n_in++] = idx;
        }
        if (t->kind == T_IN) {
            int64_t dims[KILN_MAX_RANK];
            for (int k = 0; k < t->rank; k++)
                dims[k] = t->dims[k];
            snprintf(path, sizeof path, "%s/input_%d.npy", dir, n_sg_in);
            sg_in[n_sg_in++] = idx;
            inputs_data[n_inputs_data++] = data;
            if (kiln_npy_write(path, t->dtype, t->rank, dims, data, err, sizeof err) != KILN_OK)
                rc = om_fail(c, "%s", err);
        }
    }
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (!rc) {
        int32_t oc = kiln_tfl_add_opcode(w, c->op, c->version, NULL);
        kiln_tfl_op op = {.opcode = oc,
                          .inputs = op_in,
                          .n_inputs = n_in,
                          .outputs = op_out,
                          .n_outputs = n_out,
                          .opts_type = c->opts_type,
                          .opts = c->opts,
                          .n_opts = c->n_opts,
                          .opts2_type = c->opts2_type,
                          .opts2 = c->opts2,
                          .n_opts2 = c->n_opts2};
        kiln_tfl_add_operator(w, sg, &op);
        kiln_tfl_set_subgraph_io(w, sg, sg_in, n_sg_in, op_out, n_out);
        kiln_tfl_set_description(w, "kiln opmodel");
        if (kiln_tfl_writer_finish(w, &bytes, &len) != KILN_OK)
            rc = om_fail(c, "%s", kiln_tfl_writer_error(w));
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/model.tflite", dir);
        if (write_file_atomic(path, bytes, len, err, sizeof err)) rc = om_fail(c, "%s", err);
    }
    free(bytes);
    for (int i = 0; i < n_inputs_data; i++)
        free(inputs_data[i]);
    kiln_tfl_writer_destroy(w);
    return rc;
}

/* ---- the command -------------------------------------------------------------------------- */

static const char *usage_text =
    "usage: kiln opmodel CASES.txt... --out DIR [--only NAME,...] [--seed S] [--list]\n"
    "\n"
    "Builds one single-operator .tflite model per case of the case files, with seeded random\n"
    "inputs: DIR/<case>/model.tflite and DIR/<case>/input_K.npy (K = subgraph input index).\n"
    "\n"
    "  --out DIR        output folder (created)\n"
    "  --only A,B,...   only these cases (a name ending in '*' is a prefix)\n"
    "  --seed S         seed of the random data (default 0); each case also mixes in its name\n"
    "  --list           print 'NAME float|quant OP N_INPUTS' per case (parse only)\n"
    "\n"
    "Case format (one case per line; a line ending in '\\' continues; '#' starts a comment):\n"
    "  NAME OP [vN] ; in X f32[1,8,8,3] [rand(lo,hi)|vals(..)] [q(s,zp)] ;\n"
    "  const W i8[4,3,3,3] rand(-127,127) q([s,..]|rand(lo,hi),zp|[zp,..],dim=0) ; none ;\n"
    "  out Y f32[1,4,4,4] [q(..)] ; opts Conv2DOptions 0.padding:i8=SAME 1:i32=2 ...\n"
    "See docs/opmodel.md.\n";

static int matches_only(const char *only, const char *name) {
    if (!only) return 1;
    const char *p = only;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 0 && p[n - 1] == '*') {
            if (!strncmp(name, p, n - 1)) return 1;
        } else if (n == strlen(name) && !strncmp(name, p, n)) {
            return 1;
        }
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

static int is_quant_case(const om_case *c) {
    for (int i = 0; i < c->nt; i++)
        if (c->t[i].nq > 0) return 1;
    return 0;
}

/* Reads a case file and calls back for every logical line. */
static int process_file(const char *file, const char *outdir, const char *only, uint64_t seed,
                        int list, int *n_built, int *n_failed) {
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(stderr, "kiln opmodel: %s: %s\n", file, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    char *text = malloc(cap);
    char line[1 << 16];
    int lineno = 0, start_line = 0, rc = 0;
    if (!text) {
        fclose(f);
        return -1;
    }
    text[0] = 0;
    for (;;) {
        char *got = fgets(line, sizeof line, f);
        if (got) {
            lineno++;
            size_t l = strlen(line);
            if (l == sizeof line - 1 && line[l - 1] != '\n') {
                fprintf(stderr, "kiln opmodel: %s:%d: line too long\n", file, lineno);
                rc = -1;
                break;
            }
            char *hash = strchr(line, '#');
            if (hash) *hash = 0;
            l = strlen(line);
            while (l > 0 && (line[l - 1] == '\n' || line[l - 1] == '\r' || line[l - 1] == ' ' ||
                             line[l - 1] == '\t'))
                line[--l] = 0;
            int cont = l > 0 && line[l - 1] == '\\';
            if (cont) line[--l] = 0;
            if (len == 0) start_line = lineno;
            if (len + l + 2 > cap) {
                while (len + l + 2 > cap)
                    cap *= 2;
                char *nt = realloc(text, cap);
                if (!nt) {
                    rc = -1;
                    break;
                }
                text = nt;
            }
            memcpy(text + len, line, l);
            len += l;
            text[len++] = ' ';
            text[len] = 0;
            if (cont) continue;
        }
        /* A complete logical line (or end of file). */
        int blank = 1;
        for (size_t i = 0; i < len; i++)
            if (text[i] != ' ' && text[i] != '\t') blank = 0;
        if (!blank) {
            om_case *c = calloc(1, sizeof *c);
            if (!c) {
                rc = -1;
                break;
            }
            c->file = file;
            c->line = start_line;
            if (parse_case(c, text) == 0) {
                if (matches_only(only, c->name)) {
                    if (list) {
                        int n_in = 0;
                        for (int k = 0; k < c->nt; k++)
                            n_in += c->t[k].kind == T_IN;
                        printf("%s %s %s %d\n", c->name, is_quant_case(c) ? "quant" : "float",
                               kiln_builtin_name(c->op), n_in);
                    } else if (build_case(c, outdir, seed) == 0) {
                        (*n_built)++;
                    } else {
                        fprintf(stderr, "kiln opmodel: %s\n", c->err);
                        (*n_failed)++;
                    }
                }
            } else {
                fprintf(stderr, "kiln opmodel: %s\n", c->err);
                (*n_failed)++;
            }
            om_case_free(c);
            free(c);
        }
        len = 0;
        text[0] = 0;
        if (!got) break;
    }
    free(text);
    fclose(f);
    return rc;
}

int kiln_cmd_opmodel(int argc, char **argv) {
    const char *out = NULL, *only = NULL;
    const char *files[64];
    int n_files = 0, list = 0;
    unsigned long long seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return kcli_help(usage_text);
        if (!strcmp(a, "--list")) {
            list = 1;
        } else if ((!strcmp(a, "--out") || !strcmp(a, "--only") || !strcmp(a, "--seed")) &&
                   i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(a, "--out")) {
                out = v;
            } else if (!strcmp(a, "--only")) {
                only = v;
            } else {
                long long s;
                if (kcli_parse_int(v, 0, INT64_MAX, &s)) {
                    fprintf(stderr, "kiln opmodel: --seed needs a non-negative integer\n");
                    return 2;
                }
                seed = (unsigned long long)s;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "kiln opmodel: unknown or incomplete option '%s'\n%s", a, usage_text);
            return 2;
        } else if (n_files < 64) {
            files[n_files++] = a;
        }
    }
    if (!n_files || (!out && !list)) {
        fputs(usage_text, stderr);
        return 2;
    }
    int built = 0, failed = 0;
    for (int i = 0; i < n_files; i++)
        if (process_file(files[i], out, only, seed, list, &built, &failed) != 0) return 1;
    if (!list) printf("kiln opmodel: %d cases built, %d failed\n", built, failed);
    return failed ? 1 : 0;
}
