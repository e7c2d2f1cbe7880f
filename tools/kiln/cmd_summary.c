/* cmd_summary.c: kiln summary (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int kiln_cmd_summary(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "kiln summary: not implemented yet\n");
    return 1;
}
