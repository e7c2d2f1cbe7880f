/* alloc_default.c: the default allocator (malloc). The only libc allocation in libkiln-rt. A
 * microcontroller build defines KILN_FREESTANDING: then there is no default allocator and the
 * caller passes its own allocator to kiln_model_load and an arena to the interpreter. */
#include "rt/model.h"

#ifdef KILN_FREESTANDING
const kiln_allocator *kiln__default_allocator(void) { return NULL; }
#else
#include <stdlib.h>

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
#endif
