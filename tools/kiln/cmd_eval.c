/* cmd_eval.c: kiln eval (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int kiln_cmd_eval(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "kiln eval: not implemented yet\n");
    return 1;
}
