/* cmd_train.c: kiln train (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int kiln_cmd_train(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "kiln train: not implemented yet\n");
    return 1;
}
