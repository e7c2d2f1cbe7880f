/* cmd_run.c: kiln run (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int kiln_cmd_run(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "kiln run: not implemented yet\n");
    return 1;
}
