/* alloc_default.c: the default allocator (malloc). The only libc allocation in libkiln-rt; a
 * microcontroller build leaves this file out and passes its own allocator or arena. */
#include <stdlib.h>

#include "rt/model.h"

static void *std_alloc(void *ud, size_t size, size_t align) {
    (void)ud;
    if (align < sizeof(void *)) align = sizeof(void *);
    void *p = NULL;
    if (posix_memalign(&p, align, size ? size : 1)) return NULL;
    return p;
}

static void std_free(void *ud, void *p) {
    (void)ud;
    free(p);
}

static const kiln_allocator std_allocator = {std_alloc, std_free, NULL};

const kiln_allocator *kiln__default_allocator(void) { return &std_allocator; }
