/* cmd_inspect.c: kiln inspect: what a .tflite file holds (subgraphs, signatures, tensors,
 * operators) and how Kiln would run it (kernels, arena plan, unsupported ops). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_util.h"
#include "rt/interp.h"
#include "rt/model.h"

static const char help[] =
    "usage: kiln inspect MODEL [--json]\n"
    "\n"
    "Shows what a .tflite file holds and how Kiln would run it:\n"
    "  - schema version, description, load warnings (quirks accepted as TFLite Micro does)\n"
    "  - signatures (key, subgraph, input and output names)\n"
    "  - per subgraph: tensors (index, name, dtype, shape, bytes, constant/variable/input/\n"
    "    output, quantization: scale and zero point, or per-channel count and axis, and for\n"
    "    planned tensors the arena offset and lifetime in operator steps), operators (index,\n"
    "    name, version, input and output tensors, the kernel that runs it or why none does)\n"
    "  - weight bytes (constant data), the planned arena next to its lower bound (the largest\n"
    "    sum of bytes live at one operator step), persistent bytes (kernel data, folded\n"
    "    constants, variables) and the size a caller-provided arena needs\n"
    "  - every unsupported operator, listed without failing\n"
    "\n"
    "options:\n"
    "  --json       print one JSON object instead of text\n"
    "  -h, --help   this text\n"
    "\n"
    "Exit status: 0 ok (also when operators are unsupported); 1 the file cannot be read or is\n"
    "not a valid model (one line naming the file); 2 usage error.\n";

typedef struct sg_info {
    kiln_interp *it;
    char err[KILN_ERRLEN];
    char unsupported[4096];
} sg_info;

static const char *tensor_kind(const kiln__subgraph_def *sg, int32_t t) {
    const kiln__tensor_def *d = &sg->tensors[t];
    if (d->data && d->data_len) return "const";
    if (d->is_variable) return "var";
    for (int32_t i = 0; i < sg->n_inputs; i++)
        if (sg->inputs[i] == t) return "input";
    for (int32_t i = 0; i < sg->n_outputs; i++)
        if (sg->outputs[i] == t) return "output";
    return "";
}

static size_t def_bytes(const kiln__tensor_def *d) {
    if (d->data && d->data_len) return d->data_len;
    size_t n = kiln_dtype_size(d->type);
    for (int32_t i = 0; i < d->rank; i++)
        n *= (size_t)(d->dims[i] < 0 ? 0 : d->dims[i]);
    return n;
}

static size_t weight_bytes(const kiln_model *m, int32_t *nbuf) {
    uint8_t *seen = calloc((size_t)m->n_buffers + 1, 1);
    size_t total = 0;
    *nbuf = 0;
    for (int32_t s = 0; s < m->n_subgraphs; s++) {
        const kiln__subgraph_def *sg = &m->subgraphs[s];
        for (int32_t i = 0; i < sg->n_tensors; i++) {
            const kiln__tensor_def *d = &sg->tensors[i];
            if (!d->data || !d->data_len) continue;
            if (seen && d->buffer < (uint32_t)m->n_buffers) {
                if (seen[d->buffer]) continue;
                seen[d->buffer] = 1;
            }
            total += d->data_len;
            (*nbuf)++;
        }
    }
    free(seen);
    return total;
}

static void ilist(FILE *f, const int32_t *v, int32_t n) {
    fputc('[', f);
    for (int32_t i = 0; i < n; i++)
        fprintf(f, "%s%d", i ? ", " : "", (int)v[i]);
    fputc(']', f);
}

static void quant_text(char *buf, size_t cap, const kiln_quant *q) {
    if (q->n == 1)
        snprintf(buf, cap, "scale %.9g zp %d", q->scale ? q->scale[0] : 0.0,
                 q->zero_point ? (int)q->zero_point[0] : 0);
    else if (q->n > 1)
        snprintf(buf, cap, "per-channel %d (axis %d)", (int)q->n, (int)q->dim);
    else
        buf[0] = 0;
}

static void print_text(const kcli_model *km, const sg_info *si) {
    const kiln_model *m = km->model;
    int32_t nbuf = 0;
    const size_t wb = weight_bytes(m, &nbuf);
    printf("model: %s (%zu bytes)\n", km->path, km->file.len);
    printf("schema version: %u\n", m->version);
    printf("description: %s\n", m->description ? m->description : "");
    printf("subgraphs: %d, signatures: %d, operator codes: %d, buffers: %d\n", (int)m->n_subgraphs,
           (int)m->n_signatures, (int)m->n_opcodes, (int)m->n_buffers);
    printf("weight bytes: %zu (%d constant buffers)\n", wb, (int)nbuf);
    if (m->warnings[0]) {
        char w[sizeof m->warnings];
        memcpy(w, m->warnings, sizeof w);
        for (char *line = strtok(w, "\n"); line; line = strtok(NULL, "\n"))
            printf("warning: %s\n", line);
    }
    for (int32_t s = 0; s < m->n_signatures; s++) {
        const kiln__signature_def *sd = &m->signatures[s];
        printf("signature '%s' -> subgraph %d\n", sd->key ? sd->key : "", (int)sd->subgraph);
        for (int32_t i = 0; i < sd->n_inputs; i++)
            printf("  input  %-24s tensor %d\n", sd->inputs[i].name ? sd->inputs[i].name : "",
                   (int)sd->inputs[i].tensor);
        for (int32_t i = 0; i < sd->n_outputs; i++)
            printf("  output %-24s tensor %d\n", sd->outputs[i].name ? sd->outputs[i].name : "",
                   (int)sd->outputs[i].tensor);
    }
    for (int32_t s = 0; s < m->n_subgraphs; s++) {
        const kiln__subgraph_def *sg = &m->subgraphs[s];
        const kiln_interp *it = si[s].it;
        printf("\nsubgraph %d '%s': %d tensors, %d operators, inputs ", (int)s,
               sg->name ? sg->name : "", (int)sg->n_tensors, (int)sg->n_ops);
        ilist(stdout, sg->inputs, sg->n_inputs);
        printf(", outputs ");
        ilist(stdout, sg->outputs, sg->n_outputs);
        printf("\n");
        if (it) {
            const size_t a = kiln_rt_arena_size(it), lb = kiln_rt_arena_lower_bound(it);
            printf("  arena: planned %zu bytes, lower bound %zu bytes (+%.1f%%)%s; persistent "
                   "%zu bytes; caller arena needs %zu bytes\n",
                   a, lb, lb ? 100.0 * ((double)a - (double)lb) / (double)lb : 0.0,
                   kiln__interp_offline_plan(it) ? " from OfflineMemoryAllocation" : "",
                   kiln_rt_persistent_size(it), kiln_rt_required_arena(it));
        } else if (!si[s].unsupported[0]) {
            printf("  not runnable: %s\n", si[s].err);
        }
        if (si[s].unsupported[0]) printf("  %s\n", si[s].unsupported);
        printf("  tensors: index dtype[shape] bytes kind name [quantization] [arena placement]\n");
        for (int32_t i = 0; i < sg->n_tensors; i++) {
            const kiln__tensor_def *d = &sg->tensors[i];
            char shape[160], q[96], where[96] = "";
            kiln_tensor_info ti;
            int32_t rank = d->rank;
            const int32_t *dims = d->dims;
            size_t bytes = def_bytes(d);
            if (it && kiln_interp_tensor(it, i, &ti) == KILN_OK) {
                rank = ti.rank;
                dims = ti.dims;
                bytes = ti.bytes;
                int32_t first, last;
                const int64_t off = kiln__interp_tensor_offset(it, i, &first, &last);
                if (off >= 0)
                    snprintf(where, sizeof where, "arena @%lld ops %d..%d", (long long)off,
                             (int)first, (int)last);
            }
            quant_text(q, sizeof q, &d->q);
            char type[200];
            snprintf(type, sizeof type, "%s%s", kiln_dtype_name(d->type),
                     kcli_shape_str(shape, sizeof shape, rank, dims));
            printf("    %4d %-22s %9zu %-6s %s%s%s%s%s\n", (int)i, type, bytes, tensor_kind(sg, i),
                   d->name ? d->name : "", q[0] ? "  " : "", q, where[0] ? " " : "", where);
        }
        printf("  operators:\n");
        for (int32_t i = 0; i < sg->n_ops; i++) {
            const kiln__op_def *op = &sg->ops[i];
            char why[160];
            const char *name = op->builtin == 32 && op->custom_code
                                   ? op->custom_code
                                   : kiln_builtin_name(op->builtin);
            printf("    %4d %-24s v%d ", (int)i, name, (int)op->version);
            ilist(stdout, op->inputs, op->n_in);
            printf(" -> ");
            ilist(stdout, op->outputs, op->n_out);
            kiln_op_info oi;
            if (it && kiln_interp_op(it, i, &oi) == KILN_OK)
                printf("  kernel %s\n", oi.kernel);
            else if (kiln__interp_check_op(m, s, i, why, sizeof why) != KILN_OK)
                printf("  UNSUPPORTED: %s\n", why);
            else
                printf("  kernel ref\n");
        }
    }
}

static void print_json(const kcli_model *km, const sg_info *si) {
    const kiln_model *m = km->model;
    int32_t nbuf = 0;
    const size_t wb = weight_bytes(m, &nbuf);
    FILE *f = stdout;
    fprintf(f, "{\"file\": ");
    kcli_json_str(f, km->path);
    fprintf(f, ", \"bytes\": %zu, \"schema_version\": %u, \"description\": ", km->file.len,
            m->version);
    kcli_json_str(f, m->description);
    fprintf(f, ", \"weight_bytes\": %zu, \"constant_buffers\": %d, \"warnings\": [", wb, (int)nbuf);
    {
        char w[sizeof m->warnings];
        memcpy(w, m->warnings, sizeof w);
        int first = 1;
        for (char *line = strtok(w, "\n"); line; line = strtok(NULL, "\n")) {
            fprintf(f, "%s", first ? "" : ", ");
            kcli_json_str(f, line);
            first = 0;
        }
    }
    fprintf(f, "], \"signatures\": [");
    for (int32_t s = 0; s < m->n_signatures; s++) {
        const kiln__signature_def *sd = &m->signatures[s];
        fprintf(f, "%s{\"key\": ", s ? ", " : "");
        kcli_json_str(f, sd->key);
        fprintf(f, ", \"subgraph\": %d, \"inputs\": {", (int)sd->subgraph);
        for (int32_t i = 0; i < sd->n_inputs; i++) {
            fprintf(f, "%s", i ? ", " : "");
            kcli_json_str(f, sd->inputs[i].name);
            fprintf(f, ": %d", (int)sd->inputs[i].tensor);
        }
        fprintf(f, "}, \"outputs\": {");
        for (int32_t i = 0; i < sd->n_outputs; i++) {
            fprintf(f, "%s", i ? ", " : "");
            kcli_json_str(f, sd->outputs[i].name);
            fprintf(f, ": %d", (int)sd->outputs[i].tensor);
        }
        fprintf(f, "}}");
    }
    fprintf(f, "], \"subgraphs\": [");
    for (int32_t s = 0; s < m->n_subgraphs; s++) {
        const kiln__subgraph_def *sg = &m->subgraphs[s];
        const kiln_interp *it = si[s].it;
        fprintf(f, "%s{\"index\": %d, \"name\": ", s ? ", " : "", (int)s);
        kcli_json_str(f, sg->name);
        fprintf(f, ", \"inputs\": ");
        ilist(f, sg->inputs, sg->n_inputs);
        fprintf(f, ", \"outputs\": ");
        ilist(f, sg->outputs, sg->n_outputs);
        if (it)
            fprintf(f,
                    ", \"runnable\": true, \"arena_bytes\": %zu, \"arena_lower_bound\": %zu, "
                    "\"persistent_bytes\": %zu, \"required_arena_bytes\": %zu, "
                    "\"offline_plan\": %s, \"error\": null",
                    kiln_rt_arena_size(it), kiln_rt_arena_lower_bound(it),
                    kiln_rt_persistent_size(it), kiln_rt_required_arena(it),
                    kiln__interp_offline_plan(it) ? "true" : "false");
        else {
            fprintf(f, ", \"runnable\": false, \"error\": ");
            kcli_json_str(f, si[s].err);
        }
        fprintf(f, ", \"tensors\": [");
        for (int32_t i = 0; i < sg->n_tensors; i++) {
            const kiln__tensor_def *d = &sg->tensors[i];
            kiln_tensor_info ti;
            int32_t rank = d->rank;
            const int32_t *dims = d->dims;
            size_t bytes = def_bytes(d);
            int64_t off = -1;
            int32_t first = -1, last = -1;
            if (it && kiln_interp_tensor(it, i, &ti) == KILN_OK) {
                rank = ti.rank;
                dims = ti.dims;
                bytes = ti.bytes;
                off = kiln__interp_tensor_offset(it, i, &first, &last);
            }
            fprintf(f, "%s{\"index\": %d, \"name\": ", i ? ", " : "", (int)i);
            kcli_json_str(f, d->name);
            fprintf(f, ", \"dtype\": \"%s\", \"shape\": ", kiln_dtype_name(d->type));
            ilist(f, dims, rank);
            fprintf(f, ", \"bytes\": %zu, \"const\": %s, \"variable\": %s, \"kind\": \"%s\"", bytes,
                    d->data && d->data_len ? "true" : "false", d->is_variable ? "true" : "false",
                    tensor_kind(sg, i));
            if (d->q.n > 0) {
                fprintf(f, ", \"quantization\": {\"scale\": [");
                for (int32_t k = 0; k < d->q.n; k++)
                    fprintf(f, "%s%.9g", k ? ", " : "", d->q.scale ? d->q.scale[k] : 0.0);
                fprintf(f, "], \"zero_point\": [");
                for (int32_t k = 0; k < d->q.n; k++)
                    fprintf(f, "%s%d", k ? ", " : "",
                            d->q.zero_point ? (int)d->q.zero_point[k] : 0);
                fprintf(f, "], \"quantized_dimension\": %d}", (int)d->q.dim);
            } else {
                fprintf(f, ", \"quantization\": null");
            }
            if (off >= 0)
                fprintf(f, ", \"arena_offset\": %lld, \"first_op\": %d, \"last_op\": %d",
                        (long long)off, (int)first, (int)last);
            fprintf(f, "}");
        }
        fprintf(f, "], \"operators\": [");
        for (int32_t i = 0; i < sg->n_ops; i++) {
            const kiln__op_def *op = &sg->ops[i];
            char why[160];
            fprintf(f, "%s{\"index\": %d, \"name\": ", i ? ", " : "", (int)i);
            kcli_json_str(f, op->builtin == 32 && op->custom_code ? op->custom_code
                                                                  : kiln_builtin_name(op->builtin));
            fprintf(f, ", \"builtin_code\": %d, \"version\": %d, \"inputs\": ", (int)op->builtin,
                    (int)op->version);
            ilist(f, op->inputs, op->n_in);
            fprintf(f, ", \"outputs\": ");
            ilist(f, op->outputs, op->n_out);
            kiln_op_info oi;
            if (it && kiln_interp_op(it, i, &oi) == KILN_OK) {
                fprintf(f, ", \"kernel\": ");
                kcli_json_str(f, oi.kernel);
                fprintf(f, ", \"unsupported\": null");
            } else if (kiln__interp_check_op(m, s, i, why, sizeof why) != KILN_OK) {
                fprintf(f, ", \"kernel\": null, \"unsupported\": ");
                kcli_json_str(f, why);
            } else {
                fprintf(f, ", \"kernel\": \"ref\", \"unsupported\": null");
            }
            fprintf(f, "}");
        }
        fprintf(f, "], \"unsupported\": ");
        if (si[s].unsupported[0])
            kcli_json_str(f, si[s].unsupported);
        else
            fprintf(f, "null");
        fprintf(f, "}");
    }
    fprintf(f, "]}\n");
}

int kiln_cmd_inspect(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return kcli_help(help);
        if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (argv[i][0] == '-' && argv[i][1] == '-') {
            fprintf(stderr, "kiln inspect: unknown option %s (see kiln inspect --help)\n", argv[i]);
            return 2;
        } else if (!path) {
            path = argv[i];
        } else {
            fprintf(stderr, "kiln inspect: one model at a time (got '%s' and '%s')\n", path,
                    argv[i]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "kiln inspect: no model given (usage: kiln inspect MODEL [--json])\n");
        return 2;
    }
    kcli_model km;
    if (kcli_model_load("inspect", path, &km) != 0) return 1;
    const int32_t ns = km.model->n_subgraphs;
    sg_info *si = calloc((size_t)(ns > 0 ? ns : 1), sizeof *si);
    if (!si) {
        fprintf(stderr, "kiln inspect: out of memory\n");
        kcli_model_free(&km);
        return 1;
    }
    for (int32_t s = 0; s < ns; s++) {
        kiln_interp_options o;
        kiln_interp_options_init(&o);
        o.subgraph = s;
        if (kiln_interp_create(km.model, &o, &si[s].it, si[s].err, sizeof si[s].err) != KILN_OK)
            si[s].it = NULL;
        kiln__interp_check_ops(km.model, s, si[s].unsupported, sizeof si[s].unsupported);
    }
    if (json)
        print_json(&km, si);
    else
        print_text(&km, si);
    for (int32_t s = 0; s < ns; s++)
        kiln_interp_destroy(si[s].it);
    free(si);
    kcli_model_free(&km);
    return 0;
}
