/* cmd_quantize.c: kiln quantize (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int kiln_cmd_quantize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "kiln quantize: not implemented yet\n");
    return 1;
}
