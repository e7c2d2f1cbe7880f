/* registry.c: the kernel tables the resolver searches, one per op family file. Each family file
 * defines one array ending with an entry whose op is -1. Constant: no state to initialise. */
#include "kernels/families.h"
#include "kernels/kernel.h"

#include <stddef.h>

static const kiln_kernel_reg *const families[] = {
#define KILN_FAMILY(name) kiln__k_##name,
    KILN_FAMILIES
#undef KILN_FAMILY
};

const kiln_kernel_reg *const *kiln__kernel_families(size_t *count) {
    *count = sizeof families / sizeof families[0];
    return families;
}
