/* spec.c: the .kiln model spec parser (format in docs/spec.md): one layer per line, Sequential
 * by default, functional with `name = kind(in1, in2) ...`. Errors are "file:line:col: msg". */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"

#define MAX_TOK 64

typedef struct tok {
    const char *s;
    int len;
    int col; /* 1-based */
} tok;

typedef struct pctx {
    const char *file;
    int line;
    char *err;
    size_t errlen;
} pctx;

static kiln_status perr(pctx *c, int col, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static kiln_status perr(pctx *c, int col, const char *fmt, ...) {
    if (c->err && c->errlen) {
        int n = snprintf(c->err, c->errlen, "%s:%d:%d: ", c->file, c->line, col);
        if (n >= 0 && (size_t)n < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return KILN_ERR_MODEL;
}

static int is_punct(char ch) {
    return ch == '=' || ch == '(' || ch == ')' || ch == ',';
}

static int tok_is(const tok *t, const char *s) {
    return (int)strlen(s) == t->len && !memcmp(t->s, s, (size_t)t->len);
}

static void tok_str(const tok *t, char *buf, size_t n) {
    size_t l = (size_t)t->len < n - 1 ? (size_t)t->len : n - 1;
    memcpy(buf, t->s, l);
    buf[l] = 0;
}

static int parse_int(const tok *t, int32_t *v) {
    char b[32];
    if (t->len <= 0 || t->len >= (int)sizeof b) return 0;
    tok_str(t, b, sizeof b);
    char *e;
    errno = 0;
    long x = strtol(b, &e, 10);
    if (*e || errno || x < -2147483647L || x > 2147483647L) return 0;
    *v = (int32_t)x;
    return 1;
}

static int parse_float(const tok *t, float *v) {
    char b[48];
    if (t->len <= 0 || t->len >= (int)sizeof b) return 0;
    tok_str(t, b, sizeof b);
    char *e;
    errno = 0;
    float x = strtof(b, &e);
    if (*e || errno) return 0;
    *v = x;
    return 1;
}

/* "3" -> (3, 3); "3x2" -> (3, 2) */
static int parse_pair(const tok *t, int32_t *p) {
    const char *x = memchr(t->s, 'x', (size_t)t->len);
    if (!x) {
        if (!parse_int(t, &p[0])) return 0;
        p[1] = p[0];
        return 1;
    }
    tok a = {t->s, (int)(x - t->s), t->col}, b = {x + 1, t->len - (int)(x - t->s) - 1, t->col};
    return parse_int(&a, &p[0]) && parse_int(&b, &p[1]);
}

static int parse_init(const tok *t, kiln_init *v) {
    static const char *const names[] = {
        "default", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "zeros", "ones"};
    for (int i = 0; i < 7; i++)
        if (tok_is(t, names[i])) {
            *v = (kiln_init)i;
            return 1;
        }
    return 0;
}

static int parse_bool(const tok *t, int32_t *v) {
    if (tok_is(t, "true") || tok_is(t, "1") || tok_is(t, "yes")) return *v = 1, 1;
    if (tok_is(t, "false") || tok_is(t, "0") || tok_is(t, "no")) return *v = 0, 1;
    return 0;
}

static int act_of(const tok *t) {
    char b[32];
    if (t->len >= (int)sizeof b) return -1;
    tok_str(t, b, sizeof b);
    return kiln__actfn_from_name(b);
}

static kiln_loss loss_of(const tok *t) {
    static const struct {
        const char *n;
        kiln_loss l;
    } m[] = {{"sparse_categorical_crossentropy", KILN_LOSS_SPARSE_CCE},
             {"sparse_cce", KILN_LOSS_SPARSE_CCE},
             {"categorical_crossentropy", KILN_LOSS_CCE},
             {"cce", KILN_LOSS_CCE},
             {"binary_crossentropy", KILN_LOSS_BCE},
             {"bce", KILN_LOSS_BCE},
             {"mse", KILN_LOSS_MSE},
             {"mean_squared_error", KILN_LOSS_MSE},
             {"mae", KILN_LOSS_MAE},
             {"mean_absolute_error", KILN_LOSS_MAE},
             {"huber", KILN_LOSS_HUBER}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (tok_is(t, m[i].n)) return m[i].l;
    return KILN_LOSS_NONE;
}

/* Positional arguments of each kind, in order ("act" marks where an activation may go; an
 * activation word is accepted anywhere among the positionals). */
static kiln_status positional(pctx *c, kiln_layer_kind kind, kiln_layer_attrs *a, const tok *args,
                              int n) {
    int idx = 0;
    int32_t zp[4] = {1, 1, 1, 1};
    for (int i = 0; i < n; i++) {
        const tok *t = &args[i];
        int act = act_of(t);
        if (act >= 0 && kind != KILN_L_RESHAPE) {
            a->activation = (kiln_actfn)act;
            continue;
        }
        if (tok_is(t, "same") || tok_is(t, "valid")) {
            a->padding = tok_is(t, "same") ? KILN_PAD_SAME : KILN_PAD_VALID;
            continue;
        }
        if (tok_is(t, "return_sequences")) {
            a->return_sequences = 1;
            continue;
        }
        if (tok_is(t, "no_bias")) {
            a->use_bias = 0;
            continue;
        }
        int ok = 0;
        switch (kind) {
        case KILN_L_DENSE:
        case KILN_L_LSTM:
            ok = idx == 0 && parse_int(t, &a->units);
            break;
        case KILN_L_CONV2D:
        case KILN_L_SEPARABLE_CONV2D:
            ok = idx == 0 ? parse_int(t, &a->filters) : idx == 1 && parse_pair(t, a->kernel);
            break;
        case KILN_L_DEPTHWISE_CONV2D:
            ok = idx == 0 && parse_pair(t, a->kernel);
            break;
        case KILN_L_MAX_POOL2D:
        case KILN_L_AVG_POOL2D:
            ok = idx == 0 && parse_pair(t, a->pool);
            break;
        case KILN_L_DROPOUT:
            ok = idx == 0 && parse_float(t, &a->rate);
            break;
        case KILN_L_RESHAPE:
        case KILN_L_INPUT:
            ok = idx < KILN_MAX_RANK - 1 && parse_int(t, &a->shape[idx]);
            if (ok) a->rank = idx + 1;
            break;
        case KILN_L_EMBEDDING:
            ok = idx == 0 ? parse_int(t, &a->vocab) : idx == 1 && parse_int(t, &a->units);
            break;
        case KILN_L_ZERO_PAD2D:
            ok = idx < 4 && parse_int(t, &zp[idx]);
            break;
        default:
            break;
        }
        if (!ok) {
            char b[64];
            tok_str(t, b, sizeof b);
            return perr(c, t->col, "%s: unexpected argument '%s'", kiln_layer_kind_name(kind), b);
        }
        idx++;
    }
    if (kind == KILN_L_ZERO_PAD2D) {
        /* 1 number: all sides; 2: (height, width) symmetric; 4: top bottom left right */
        if (idx == 1) {
            a->pads[0] = a->pads[1] = a->pads[2] = a->pads[3] = zp[0];
        } else if (idx == 2) {
            a->pads[0] = a->pads[1] = zp[0];
            a->pads[2] = a->pads[3] = zp[1];
        } else if (idx == 4) {
            memcpy(a->pads, zp, sizeof zp);
        } else if (idx != 0) {
            return perr(c, args[n - 1].col, "zeropad2d takes 1, 2 or 4 numbers");
        }
    }
    return KILN_OK;
}

static kiln_status keyword(pctx *c, kiln_layer_kind kind, kiln_layer_attrs *a, const tok *k,
                           const tok *v, char *name, size_t namelen) {
    int ok = 1;
    if (tok_is(k, "strides") || tok_is(k, "stride"))
        ok = parse_pair(v, a->strides) && a->strides[0] > 0 && a->strides[1] > 0;
    else if (tok_is(k, "padding"))
        ok = (tok_is(v, "same") || tok_is(v, "valid")) &&
             ((a->padding = tok_is(v, "same") ? KILN_PAD_SAME : KILN_PAD_VALID), 1);
    else if (tok_is(k, "dilation") || tok_is(k, "dilation_rate"))
        ok = parse_pair(v, a->dilation) && a->dilation[0] > 0 && a->dilation[1] > 0;
    else if (tok_is(k, "kernel") || tok_is(k, "kernel_size"))
        ok = parse_pair(v, a->kernel);
    else if (tok_is(k, "pool") || tok_is(k, "pool_size"))
        ok = parse_pair(v, a->pool);
    else if (tok_is(k, "multiplier") || tok_is(k, "depth_multiplier"))
        ok = parse_int(v, &a->depth_multiplier);
    else if (tok_is(k, "use_bias"))
        ok = parse_bool(v, &a->use_bias);
    else if (tok_is(k, "activation")) {
        int act = act_of(v);
        ok = act >= 0;
        if (ok) a->activation = (kiln_actfn)act;
    } else if (tok_is(k, "alpha"))
        ok = parse_float(v, &a->alpha);
    else if (tok_is(k, "rate"))
        ok = parse_float(v, &a->rate);
    else if (tok_is(k, "momentum"))
        ok = parse_float(v, &a->momentum);
    else if (tok_is(k, "epsilon"))
        ok = parse_float(v, &a->epsilon);
    else if (tok_is(k, "axis"))
        ok = parse_int(v, &a->axis);
    else if (tok_is(k, "units"))
        ok = parse_int(v, &a->units);
    else if (tok_is(k, "filters"))
        ok = parse_int(v, &a->filters);
    else if (tok_is(k, "kernel_init") || tok_is(k, "kernel_initializer"))
        ok = parse_init(v, &a->kernel_init);
    else if (tok_is(k, "bias_init") || tok_is(k, "bias_initializer"))
        ok = parse_init(v, &a->bias_init);
    else if (tok_is(k, "l1"))
        ok = parse_float(v, &a->l1);
    else if (tok_is(k, "l2"))
        ok = parse_float(v, &a->l2);
    else if (tok_is(k, "return_sequences"))
        ok = parse_bool(v, &a->return_sequences);
    else if (tok_is(k, "dtype")) {
        if (tok_is(v, "float32"))
            a->dtype = KILN_FLOAT32;
        else if (tok_is(v, "int32"))
            a->dtype = KILN_INT32;
        else
            ok = 0;
    } else if (tok_is(k, "name")) {
        if (v->len <= 0 || v->len >= (int)namelen)
            ok = 0;
        else
            tok_str(v, name, namelen);
    } else {
        char b[64];
        tok_str(k, b, sizeof b);
        return perr(c, k->col, "%s: unknown option '%s'", kiln_layer_kind_name(kind), b);
    }
    if (!ok) {
        char b[64], kb[64];
        tok_str(v, b, sizeof b);
        tok_str(k, kb, sizeof kb);
        return perr(c, v->col, "%s: bad value '%s' for %s", kiln_layer_kind_name(kind), b, kb);
    }
    return KILN_OK;
}

static int valid_name(const tok *t) {
    if (t->len <= 0 || t->len > 100) return 0;
    if (!(isalpha((unsigned char)t->s[0]) || t->s[0] == '_')) return 0;
    for (int i = 0; i < t->len; i++)
        if (!(isalnum((unsigned char)t->s[i]) || t->s[i] == '_' || t->s[i] == '.' ||
              t->s[i] == '-'))
            return 0;
    return 1;
}

/* `optimizer NAME [key=value...]`: the training defaults kiln train uses */
static kiln_status parse_optimizer(pctx *c, kiln_graph *g, const tok *tk, int nt) {
    static const char *const names[] = {"sgd", "adam", "adamw", "rmsprop", "adagrad"};
    if (nt < 2) return perr(c, tk[0].col, "expected: optimizer NAME [lr=X ...]");
    if (g->has_train) return perr(c, tk[0].col, "a second 'optimizer' line");
    kiln_train_config *t = &g->train;
    kiln_train_config_init(t);
    int k = -1;
    for (int i = 0; i < 5; i++)
        if (tok_is(&tk[1], names[i])) k = i;
    if (k < 0) return perr(c, tk[1].col, "unknown optimizer (sgd, adam, adamw, rmsprop, adagrad)");
    t->optimizer = (kiln_optimizer)k;
    if (k == KILN_OPT_SGD) t->lr = 0.01f; /* Keras' defaults */
    if (k == KILN_OPT_ADAMW) t->weight_decay = 0.004f;
    for (int i = 2; i < nt; i++) {
        if (tok_is(&tk[i], "nesterov")) {
            t->nesterov = 1;
            continue;
        }
        if (!(i + 2 < nt && tok_is(&tk[i + 1], "=")))
            return perr(c, tk[i].col, "optimizer: expected key=value");
        const tok *key = &tk[i], *v = &tk[i + 2];
        int ok = 1;
        float f = 0.0f;
        int32_t n = 0;
        if (tok_is(key, "schedule")) {
            static const char *const sn[] = {"constant", "step", "exponential", "cosine"};
            ok = 0;
            for (int q = 0; q < 4; q++)
                if (tok_is(v, sn[q])) t->schedule = (kiln_schedule)q, ok = 1;
        } else if (tok_is(key, "step_size") || tok_is(key, "warmup")) {
            ok = parse_int(v, &n) && n >= 0;
            if (tok_is(key, "warmup"))
                t->warmup = n;
            else
                t->step_size = n;
        } else if (tok_is(key, "nesterov")) {
            ok = parse_bool(v, &t->nesterov);
        } else {
            ok = parse_float(v, &f) && f >= 0.0f;
            if (tok_is(key, "lr") || tok_is(key, "learning_rate"))
                t->lr = f;
            else if (tok_is(key, "momentum"))
                t->momentum = f;
            else if (tok_is(key, "weight_decay"))
                t->weight_decay = f;
            else if (tok_is(key, "beta1"))
                t->beta1 = f;
            else if (tok_is(key, "beta2"))
                t->beta2 = f;
            else if (tok_is(key, "eps") || tok_is(key, "epsilon"))
                t->eps = f;
            else if (tok_is(key, "rho"))
                t->rho = f;
            else if (tok_is(key, "gamma"))
                t->gamma = f;
            else if (tok_is(key, "min_lr"))
                t->min_lr = f;
            else if (tok_is(key, "clip_norm"))
                t->clip_norm = f;
            else if (tok_is(key, "clip_value"))
                t->clip_value = f;
            else {
                char b[64];
                tok_str(key, b, sizeof b);
                return perr(c, key->col, "optimizer: unknown option '%s'", b);
            }
        }
        if (!ok) {
            char b[64];
            tok_str(v, b, sizeof b);
            return perr(c, v->col, "optimizer: bad value '%s'", b);
        }
        i += 2;
    }
    g->has_train = 1;
    return KILN_OK;
}

/* One non-empty line. *last: the output of the previous layer (default input). */
static kiln_status parse_line(pctx *c, kiln_graph **gp, tok *tk, int nt, int32_t *last,
                              int *have_loss, tok *loss_out_name, int *loss_out_set) {
    kiln_graph *g = *gp;
    if (tok_is(&tk[0], "model")) {
        if (nt != 2 || !valid_name(&tk[1]))
            return perr(c, tk[nt > 1 ? 1 : 0].col, "expected: model NAME");
        if (g->n_layers) return perr(c, tk[0].col, "'model' must come before the layers");
        char b[128];
        tok_str(&tk[1], b, sizeof b);
        char *nn = strdup(b);
        if (!nn) return KILN_ERR_NOMEM;
        free(g->name);
        g->name = nn;
        return KILN_OK;
    }
    if (tok_is(&tk[0], "loss")) {
        if (nt < 2) return perr(c, tk[0].col, "expected: loss KIND [from_logits] [output=NAME]");
        kiln_loss l = loss_of(&tk[1]);
        if (l == KILN_LOSS_NONE) {
            char b[64];
            tok_str(&tk[1], b, sizeof b);
            return perr(c, tk[1].col,
                        "unknown loss '%s' (sparse_categorical_crossentropy, "
                        "categorical_crossentropy, binary_crossentropy, mse, mae, huber)",
                        b);
        }
        int logits = 0;
        for (int i = 2; i < nt; i++) {
            if (tok_is(&tk[i], "from_logits")) {
                logits = 1;
            } else if (tok_is(&tk[i], "output") && i + 2 < nt && tok_is(&tk[i + 1], "=")) {
                *loss_out_name = tk[i + 2];
                *loss_out_set = 1;
                i += 2;
            } else {
                char b[64];
                tok_str(&tk[i], b, sizeof b);
                return perr(c, tk[i].col, "loss: unexpected '%s'", b);
            }
        }
        if (*have_loss) return perr(c, tk[0].col, "a second 'loss' line");
        g->loss = l;
        g->from_logits = logits;
        *have_loss = 1;
        return KILN_OK;
    }
    if (tok_is(&tk[0], "optimizer")) return parse_optimizer(c, g, tk, nt);
    if (tok_is(&tk[0], "output")) {
        if (nt != 2) return perr(c, tk[0].col, "expected: output NAME");
        *loss_out_name = tk[1];
        *loss_out_set = 1;
        return KILN_OK;
    }

    /* [NAME =] KIND[(IN, ...)] args... key=value... */
    char name[128] = "";
    int i = 0;
    if (nt >= 3 && tok_is(&tk[1], "=")) {
        if (!valid_name(&tk[0])) return perr(c, tk[0].col, "bad layer name");
        tok_str(&tk[0], name, sizeof name);
        i = 2;
    }
    const tok *kt = &tk[i];
    char kb[64];
    if (kt->len >= (int)sizeof kb) return perr(c, kt->col, "unknown layer kind");
    tok_str(kt, kb, sizeof kb);
    kiln_layer_attrs a;
    kiln_layer_attrs_init(&a);
    int kind = kiln__layer_kind_from_name(kb);
    int act = kind < 0 ? kiln__actfn_from_name(kb) : -1;
    if (act >= 0) { /* a bare activation line: `relu` */
        kind = KILN_L_ACTIVATION;
        a.activation = (kiln_actfn)act;
    }
    if (kind < 0) return perr(c, kt->col, "unknown layer kind '%s'", kb);
    i++;
    /* `input NAME dims...` (the name first, as a Keras Input's) */
    if (kind == KILN_L_INPUT && !name[0] && i < nt && valid_name(&tk[i]) &&
        !(i + 1 < nt && tok_is(&tk[i + 1], "="))) {
        tok_str(&tk[i], name, sizeof name);
        i++;
    }
    int32_t ins[MAX_TOK];
    int nin = 0;
    if (i < nt && tok_is(&tk[i], "(")) {
        i++;
        for (;;) {
            if (i >= nt) return perr(c, tk[nt - 1].col, "missing ')'");
            if (tok_is(&tk[i], ")")) {
                i++;
                break;
            }
            if (nin && tok_is(&tk[i], ",")) {
                i++;
                if (i >= nt) return perr(c, tk[nt - 1].col, "missing ')'");
            }
            char nb[128];
            if (tk[i].len >= (int)sizeof nb || !valid_name(&tk[i]))
                return perr(c, tk[i].col, "expected a layer name");
            tok_str(&tk[i], nb, sizeof nb);
            int32_t id = kiln__graph_find_tensor(g, nb);
            if (id < 0) return perr(c, tk[i].col, "unknown layer '%s'", nb);
            ins[nin++] = id;
            i++;
        }
    }
    /* positionals and key=value pairs, in any order */
    tok pos[MAX_TOK];
    int np = 0;
    const tok *keys[MAX_TOK], *vals[MAX_TOK];
    int nk = 0;
    while (i < nt) {
        if (i + 1 < nt && tok_is(&tk[i + 1], "=")) {
            if (i + 2 >= nt || is_punct(tk[i + 2].s[0]))
                return perr(c, tk[i + 1].col, "missing value after '='");
            keys[nk] = &tk[i];
            vals[nk++] = &tk[i + 2];
            i += 3;
            continue;
        }
        if (is_punct(tk[i].s[0])) return perr(c, tk[i].col, "unexpected '%c'", tk[i].s[0]);
        pos[np++] = tk[i++];
    }
    kiln_status st = positional(c, (kiln_layer_kind)kind, &a, pos, np);
    if (st) return st;
    for (int q = 0; q < nk; q++) {
        st = keyword(c, (kiln_layer_kind)kind, &a, keys[q], vals[q], name, sizeof name);
        if (st) return st;
    }
    if (kind != KILN_L_INPUT && nin == 0) {
        if (*last < 0) return perr(c, kt->col, "%s: no input (start with an 'input' line)", kb);
        ins[nin++] = *last;
    }
    if (kind == KILN_L_INPUT && a.rank == 0)
        return perr(c, kt->col, "input: give the shape, e.g. 'input x 28 28 1'");
    int32_t out;
    st = kiln_graph_add(g, (kiln_layer_kind)kind, name[0] ? name : NULL, ins, nin, &a, &out);
    if (st) return perr(c, kt->col, "%s", g->err), st == KILN_ERR_NOMEM ? st : KILN_ERR_MODEL;
    *last = out;
    return KILN_OK;
}

kiln_status kiln_graph_parse(const char *text, size_t len, const char *filename, kiln_graph **out,
                             char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    if (!text || !out) return KILN_ERR_ARG;
    *out = NULL;
    kiln_graph *g;
    kiln_status st = kiln_graph_create("model", &g);
    if (st) return st;
    pctx c = {filename ? filename : "<spec>", 0, err, errlen};
    int32_t last = -1;
    int have_loss = 0, out_set = 0, out_line = 0;
    tok out_name = {0};
    size_t p = 0;
    while (p < len && !st) {
        size_t e = p;
        while (e < len && text[e] != '\n')
            e++;
        c.line++;
        tok tk[MAX_TOK];
        int nt = 0;
        for (size_t q = p; q < e;) {
            char ch = text[q];
            if (ch == '#') break;
            if (ch == ' ' || ch == '\t' || ch == '\r') {
                q++;
                continue;
            }
            if (nt == MAX_TOK) {
                st = perr(&c, (int)(q - p) + 1, "too many words on one line");
                break;
            }
            if ((unsigned char)ch < 0x20 || (unsigned char)ch >= 0x7f) {
                st = perr(&c, (int)(q - p) + 1, "unexpected character (byte 0x%02x)",
                          (unsigned char)ch);
                break;
            }
            tk[nt].s = text + q;
            tk[nt].col = (int)(q - p) + 1;
            if (is_punct(ch)) {
                tk[nt++].len = 1;
                q++;
                continue;
            }
            size_t r = q;
            while (r < e && !is_punct(text[r]) && text[r] != ' ' && text[r] != '\t' &&
                   text[r] != '\r' && text[r] != '#')
                r++;
            tk[nt++].len = (int)(r - q);
            q = r;
        }
        if (!st && nt > 0) {
            int was = out_set;
            st = parse_line(&c, &g, tk, nt, &last, &have_loss, &out_name, &out_set);
            if (!was && out_set) out_line = c.line;
        }
        p = e + 1;
    }
    if (!st && g->n_layers == 0) {
        c.line = c.line ? c.line : 1;
        st = perr(&c, 1, "no layers");
    }
    if (!st && out_set) {
        char nb[128];
        tok_str(&out_name, nb, sizeof nb);
        int32_t id = kiln__graph_find_tensor(g, nb);
        c.line = out_line;
        if (id < 0)
            st = perr(&c, out_name.col, "unknown layer '%s'", nb);
        else
            g->output = id;
    }
    if (!st) st = kiln__graph_set_spec(g, text, len);
    if (st) {
        kiln_graph_destroy(g);
        return st;
    }
    *out = g;
    return KILN_OK;
}

kiln_status kiln_graph_load(const char *path, kiln_graph **out, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err) snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return KILN_ERR_IO;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            return KILN_ERR_NOMEM;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        if (cap > ((size_t)1 << 24)) {
            free(buf);
            fclose(f);
            if (err) snprintf(err, errlen, "%s: spec larger than 16 MiB", path);
            return KILN_ERR_IO;
        }
        cap *= 2;
        char *nb = realloc(buf, cap);
        if (!nb) free(buf);
        buf = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        if (err) snprintf(err, errlen, "%s: read error", path);
        return KILN_ERR_IO;
    }
    kiln_status st = kiln_graph_parse(buf, n, path, out, err, errlen);
    free(buf);
    return st;
}
