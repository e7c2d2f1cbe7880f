/* status.c: names of status codes and dtypes, element sizes (TFLite TensorType). */
#include <string.h>

#include "rt/model.h"

const char *kiln_status_str(kiln_status s) {
    switch (s) {
    case KILN_OK: return "ok";
    case KILN_ERR_MODEL: return "malformed model";
    case KILN_ERR_SHAPE: return "shape error";
    case KILN_ERR_IO: return "I/O error";
    case KILN_ERR_UNSUPPORTED: return "unsupported";
    case KILN_ERR_NOMEM: return "out of memory";
    case KILN_ERR_ARG: return "bad argument";
    case KILN_ERR_STATE: return "bad state";
    case KILN_ERR_RUNTIME: return "runtime error";
    }
    return "unknown status";
}

size_t kiln_dtype_size(int32_t t) {
    switch (t) {
    case KILN_FLOAT32: case KILN_INT32: case KILN_UINT32: return 4;
    case KILN_FLOAT16: case KILN_INT16: case KILN_UINT16: case KILN_BFLOAT16: return 2;
    case KILN_UINT8: case KILN_INT8: case KILN_BOOL: case KILN_INT4: return 1;
    case KILN_INT64: case KILN_UINT64: case KILN_FLOAT64: case KILN_COMPLEX64: return 8;
    case KILN_COMPLEX128: return 16;
    default: return 0;
    }
}

const char *kiln_dtype_name(int32_t t) {
    static const char *const names[] = {
        "float32", "float16", "int32", "uint8", "int64", "string", "bool",
        "int16", "complex64", "int8", "float64", "complex128", "uint64", "resource",
        "variant", "uint32", "uint16", "int4", "bfloat16"};
    if (t < 0 || t >= (int32_t)(sizeof names / sizeof names[0])) return "unknown";
    return names[t];
}

void *kiln__alloc(const kiln_allocator *a, size_t size, size_t align) {
    return a->alloc(a->ud, size, align);
}

void *kiln__calloc(const kiln_allocator *a, size_t size, size_t align) {
    void *p = a->alloc(a->ud, size, align);
    if (p) memset(p, 0, size);
    return p;
}

void kiln__free(const kiln_allocator *a, void *p) {
    if (p) a->free(a->ud, p);
}
