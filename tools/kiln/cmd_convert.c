/* cmd_convert.c: kiln convert (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int kiln_cmd_convert(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "kiln convert: not implemented yet\n");
    return 1;
}
