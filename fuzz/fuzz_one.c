/* fuzz_one.c: one fuzz case for the model loader and interpreter: load the bytes as a .tflite,
 * and when that succeeds create an interpreter and invoke it on zeroed inputs (both dialects).
 * Shared by the libFuzzer target (fuzz_loader.c) and the corpus replay test. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/kiln_rt.h"

/* An allocator that refuses large requests, so a file declaring huge tensors is an error and
 * not an out-of-memory abort of the fuzzer. */
#define KILN_FUZZ_MAX_ALLOC ((size_t)64 << 20)

static void *fuzz_alloc(void *ud, size_t size, size_t align) {
    (void)ud;
    if (size > KILN_FUZZ_MAX_ALLOC) return NULL;
    if (align < sizeof(void *)) align = sizeof(void *);
    void *p = NULL;
    if (posix_memalign(&p, align, size ? size : 1)) return NULL;
    return p;
}

static void fuzz_free(void *ud, void *p) {
    (void)ud;
    free(p);
}

/* Returns 1 when the model loaded and ran, 0 when it was rejected cleanly. */
static int kiln_fuzz_one(const uint8_t *data, size_t size) {
    static const kiln_allocator alloc = {fuzz_alloc, fuzz_free, NULL};
    uint8_t *buf = (uint8_t *)fuzz_alloc(NULL, size ? size : 1, 16);
    if (!buf) return 0;
    memcpy(buf, data, size);
    kiln_model *m = NULL;
    char err[KILN_ERRLEN];
    int ran = 0;
    if (kiln_model_load(buf, size, "fuzz.tflite", &alloc, &m, err, sizeof err) == KILN_OK) {
        for (int arith = 0; arith < 2; arith++) {
            kiln_interp_options o;
            kiln_interp_options_init(&o);
            o.arith = arith ? KILN_ARITH_LITERT : KILN_ARITH_TFLM;
            o.max_while_iterations = 1000; /* a mutated WHILE may loop forever */
            kiln_interp *it = NULL;
            if (kiln_interp_create(m, &o, &it, err, sizeof err) != KILN_OK) continue;
            if (kiln_rt_required_arena(it) <= KILN_FUZZ_MAX_ALLOC) {
                for (int32_t i = 0; i < kiln_interp_num_inputs(it); i++) {
                    kiln_tensor_info ti;
                    if (kiln_interp_input(it, i, &ti) == KILN_OK && ti.data)
                        memset(ti.data, 0, ti.bytes);
                }
                if (kiln_interp_invoke(it) == KILN_OK) ran = 1;
            }
            kiln_interp_destroy(it);
        }
        kiln_model_destroy(m);
    }
    fuzz_free(NULL, buf);
    return ran;
}
