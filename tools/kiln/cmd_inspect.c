/* cmd_inspect.c: kiln inspect (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int kiln_cmd_inspect(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "kiln inspect: not implemented yet\n");
    return 1;
}
