/* cmd_opmodel.c: kiln opmodel (placeholder until implemented). */
#include <stdio.h>

#include "cli.h"

int kiln_cmd_opmodel(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "kiln opmodel: not implemented yet\n");
    return 1;
}
