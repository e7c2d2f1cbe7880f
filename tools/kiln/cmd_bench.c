/* cmd_bench.c: kiln bench (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int kiln_cmd_bench(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "kiln bench: not implemented yet\n");
    return 1;
}
