/* cmd_convert.c: kiln convert: a spec or checkpoint to a float .tflite (src/convert/convert.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_util.h"
#include "kiln/convert.h"
#include "kiln/to_spec.h"

static const char help[] =
    "usage: kiln convert MODEL.kckpt|SPEC.kiln -o OUT.tflite [options]\n"
    "       kiln convert --to-spec MODEL.tflite -o OUT.kiln\n"
    "\n"
    "Lowers a Kiln model to TFLite builtin ops and writes a float .tflite: batch norm folded\n"
    "into the preceding conv/dense, ReLU/ReLU6 fused, dropout removed, Flatten as RESHAPE,\n"
    "SeparableConv2D as DEPTHWISE_CONV_2D + CONV_2D, GlobalAveragePooling2D as MEAN, LSTM as\n"
    "UNIDIRECTIONAL_SEQUENCE_LSTM (+ STRIDED_SLICE of the last step). The output is\n"
    "byte-identical for the same input. A checkpoint carries its spec; a spec is converted\n"
    "with weights initialised from --seed.\n"
    "\n"
    "--to-spec reads a float .tflite back: its ops become layers of OUT.kiln and its weights go\n"
    "to a checkpoint next to it (OUT.kckpt), so `kiln convert OUT.kckpt` rebuilds the model\n"
    "(byte-identical for models Kiln converted). Ops with no layer are named in the error.\n"
    "\n"
    "options:\n"
    "  -o, --output PATH      the .tflite to write (through PATH.tmp, then renamed: nothing\n"
    "                         is written on error)\n"
    "  --seed S               weight initialisation seed for a spec (default 1)\n"
    "  --target tflite|tflm   refuse ops the target runtime lacks (default tflite)\n"
    "  --description TEXT     the model description (default: none)\n"
    "  --labels FILE          store a labels file in the model (metadata kiln_labels)\n"
    "  --to-spec              read a .tflite back into a spec + checkpoint (see above)\n"
    "  -h, --help             this help\n";

int kiln_cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    int to_spec = 0;
    unsigned long long seed = 1;
    kiln_convert_options o;
    kiln_convert_options_init(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return kcli_help(help);
        if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(a, "--seed") && i + 1 < argc) {
            char *end;
            seed = strtoull(argv[++i], &end, 10);
            if (*end) {
                fprintf(stderr, "kiln convert: --seed takes a whole number\n");
                return 2;
            }
        } else if (!strcmp(a, "--target") && i + 1 < argc) {
            const char *t = argv[++i];
            if (!strcmp(t, "tflite"))
                o.target = KILN_TARGET_TFLITE;
            else if (!strcmp(t, "tflm"))
                o.target = KILN_TARGET_TFLM;
            else {
                fprintf(stderr, "kiln convert: --target must be tflite or tflm\n");
                return 2;
            }
        } else if (!strcmp(a, "--to-spec")) {
            to_spec = 1;
        } else if (!strcmp(a, "--description") && i + 1 < argc) {
            o.description = argv[++i];
        } else if (!strcmp(a, "--labels") && i + 1 < argc) {
            o.labels_path = argv[++i];
        } else if (a[0] == '-') {
            fprintf(stderr, "kiln convert: unknown option %s (see kiln convert --help)\n", a);
            return 2;
        } else if (!in) {
            in = a;
        } else {
            fprintf(stderr, "kiln convert: one input only (got %s and %s)\n", in, a);
            return 2;
        }
    }
    if (!in || !out) {
        fprintf(stderr,
                "kiln convert: needs an input and -o OUT.tflite (see kiln convert --help)\n");
        return 2;
    }
    char err[1024];
    if (to_spec) {
        /* OUT.kiln and OUT.kckpt next to it */
        const size_t n = strlen(out);
        const size_t stem = n > 5 && !strcmp(out + n - 5, ".kiln") ? n - 5 : n;
        char spec[4096], ckpt[4096];
        if (stem + 7 > sizeof spec) {
            fprintf(stderr, "kiln convert: output path too long\n");
            return 2;
        }
        snprintf(spec, sizeof spec, "%.*s.kiln", (int)stem, out);
        snprintf(ckpt, sizeof ckpt, "%.*s.kckpt", (int)stem, out);
        if (kiln_tflite_to_spec_file(in, spec, ckpt, err, sizeof err)) {
            fprintf(stderr, "kiln convert: %s\n", err);
            return 1;
        }
        printf("wrote %s and %s\n", spec, ckpt);
        return 0;
    }
    if (kiln_convert_file(in, seed, &o, out, err, sizeof err)) {
        fprintf(stderr, "kiln convert: %s\n", err);
        return 1;
    }
    printf("wrote %s\n", out);
    return 0;
}
