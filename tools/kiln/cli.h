/* cli.h: the subcommands of the kiln CLI, one file each (tools/kiln/cmd_<name>.c). */
#ifndef KILN_TOOLS_CLI_H
#define KILN_TOOLS_CLI_H

/* Each returns the process exit code: 0 ok, 1 failure (message printed), 2 usage error. */
#define KILN_COMMANDS                                                                          \
    KILN_CMD(run, "run a .tflite model on .npy inputs and write its outputs")                  \
    KILN_CMD(inspect, "show a .tflite model: tensors, operators, arena plan")                  \
    KILN_CMD(train, "train a model spec on a data set")                                        \
    KILN_CMD(summary, "layer table of a model spec: shapes, parameters, MACs")                 \
    KILN_CMD(convert, "convert a spec or checkpoint to a float .tflite")                       \
    KILN_CMD(quantize, "post-training quantization of a model")                                \
    KILN_CMD(eval, "evaluate a .tflite model on a data set")                                   \
    KILN_CMD(bench, "benchmark a .tflite model like TFLite's benchmark_model")                 \
    KILN_CMD(opmodel, "build single-operator .tflite models from a case file")

#define KILN_CMD(name, help) int kiln_cmd_##name(int argc, char **argv);
KILN_COMMANDS
#undef KILN_CMD

#endif
