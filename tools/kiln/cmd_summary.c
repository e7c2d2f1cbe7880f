/* cmd_summary.c: kiln summary SPEC: the layer table of a model spec (as Keras' model.summary,
 * plus MACs and weight bytes as float32 and as int8 with int32 biases, TFLite's int8 scheme). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kiln/json.h"
#include "kiln/train.h"

static void usage(FILE *f) {
    fprintf(f, "usage: kiln summary SPEC.kiln [--json]\n\n"
               "Prints each layer of a model spec: output shape, parameters, multiply-accumulates\n"
               "per sample, and weight bytes as float32 and as int8 (int32 biases).\n");
}

static void human(double v, char *buf, size_t n) {
    if (v >= 1e9)
        snprintf(buf, n, "%.2fG", v / 1e9);
    else if (v >= 1e6)
        snprintf(buf, n, "%.2fM", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, n, "%.1fk", v / 1e3);
    else
        snprintf(buf, n, "%.0f", v);
}

int kiln_cmd_summary(int argc, char **argv) {
    const char *spec = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (argv[i][0] == '-' || spec) {
            fprintf(stderr, "kiln summary: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            spec = argv[i];
        }
    }
    if (!spec) {
        usage(stderr);
        return 2;
    }
    char err[512];
    kiln_graph *g;
    if (kiln_graph_load(spec, &g, err, sizeof err)) {
        fprintf(stderr, "kiln summary: %s\n", err);
        return 1;
    }
    int32_t nl = kiln_graph_num_layers(g);
    int64_t tot_params = 0, tot_macs = 0, tot_f32 = 0, tot_i8 = 0;
    kiln_json w;
    if (json) {
        kiln_json_init_file(&w, stdout, 2);
        kiln_json_obj_begin(&w);
        kiln_json_kv_str(&w, "model", kiln_graph_name(g));
        kiln_json_key(&w, "layers");
        kiln_json_arr_begin(&w);
    } else {
        printf("Model: %s\n", kiln_graph_name(g));
        printf("%-36s %-22s %10s %10s %11s %10s\n", "layer (kind)", "output shape", "params",
               "MACs", "f32 bytes", "int8 bytes");
        printf("%.*s\n", 104,
               "------------------------------------------------------------------"
               "------------------------------------------------------------------");
    }
    for (int32_t i = 0; i < nl; i++) {
        kiln_layer_desc L;
        kiln_graph_layer(g, i, &L);
        kiln_tensor_desc t;
        kiln_graph_tensor(g, L.output, &t);
        int64_t params = 0, f32 = 0, i8 = 0;
        for (int32_t p = 0; p < L.n_params; p++) {
            kiln_param_desc pd;
            kiln_graph_param(g, L.first_param + p, &pd);
            params += pd.count;
            f32 += pd.count * 4;
            /* int8: weights 1 byte, biases int32; batch-norm statistics stay float until the
               converter folds them */
            int is_w = strstr(pd.role, "kernel") || !strcmp(pd.role, "embeddings");
            i8 += pd.count * (is_w ? 1 : 4);
        }
        char shape[96] = "(None";
        size_t o = strlen(shape);
        for (int32_t d = 0; d < t.rank; d++)
            o += (size_t)snprintf(shape + o, sizeof shape - o, ", %d", (int)t.dims[d]);
        snprintf(shape + o, sizeof shape - o, ")");
        char name[64];
        snprintf(name, sizeof name, "%s (%s)", L.name, L.kind_name);
        if (json) {
            kiln_json_obj_begin(&w);
            kiln_json_kv_str(&w, "name", L.name);
            kiln_json_kv_str(&w, "kind", L.kind_name);
            kiln_json_key(&w, "shape");
            kiln_json_arr_begin(&w);
            for (int32_t d = 0; d < t.rank; d++)
                kiln_json_int(&w, t.dims[d]);
            kiln_json_arr_end(&w);
            kiln_json_kv_int(&w, "params", params);
            kiln_json_kv_int(&w, "macs", L.macs);
            kiln_json_kv_int(&w, "bytes_f32", f32);
            kiln_json_kv_int(&w, "bytes_int8", i8);
            kiln_json_obj_end(&w);
        } else {
            char m[32];
            human((double)L.macs, m, sizeof m);
            printf("%-36s %-22s %10lld %10s %11lld %10lld\n", name, shape, (long long)params, m,
                   (long long)f32, (long long)i8);
        }
        tot_params += params;
        tot_macs += L.macs;
        tot_f32 += f32;
        tot_i8 += i8;
    }
    int32_t logits;
    kiln_loss loss = kiln_graph_loss(g, &logits);
    if (json) {
        kiln_json_arr_end(&w);
        kiln_json_kv_int(&w, "params", tot_params);
        kiln_json_kv_int(&w, "trainable_params", kiln_graph_trainable_count(g));
        kiln_json_kv_int(&w, "macs", tot_macs);
        kiln_json_kv_int(&w, "bytes_f32", tot_f32);
        kiln_json_kv_int(&w, "bytes_int8", tot_i8);
        kiln_json_kv_str(&w, "loss", kiln_loss_name(loss));
        kiln_json_obj_end(&w);
        kiln_status st = kiln_json_finish(&w);
        printf("\n");
        kiln_json_free(&w);
        kiln_graph_destroy(g);
        return st ? 1 : 0;
    }
    char m[32];
    human((double)tot_macs, m, sizeof m);
    printf("%.*s\n", 104,
           "--------------------------------------------------------------------"
           "----------------------------------------------------------------");
    printf("Total params: %lld (trainable %lld)   MACs/sample: %s   weights: %.1f KiB float32, "
           "%.1f KiB int8\n",
           (long long)tot_params, (long long)kiln_graph_trainable_count(g), m, tot_f32 / 1024.0,
           tot_i8 / 1024.0);
    printf("Loss: %s%s\n", kiln_loss_name(loss), logits ? " (from logits)" : "");
    kiln_graph_destroy(g);
    return 0;
}
