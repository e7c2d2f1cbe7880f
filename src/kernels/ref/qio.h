/* qio.h: loads and stores of integer tensor elements by dtype (int8, uint8, int16, int32), for
 * the integer kernels that handle several element types with one loop. 16- and 32-bit
 * elements go through memcpy: constant data in a model buffer need not be aligned. */
#ifndef KILN_KERNELS_REF_QIO_H
#define KILN_KERNELS_REF_QIO_H

#include <stdint.h>
#include <string.h>

#include "kiln/kiln_rt.h"

static inline int32_t kiln_q_ld(const void *p, int32_t type, int64_t i) {
    switch (type) {
    case KILN_INT8:
        return ((const int8_t *)p)[i];
    case KILN_UINT8:
        return ((const uint8_t *)p)[i];
    case KILN_INT16: {
        int16_t v;
        memcpy(&v, (const uint8_t *)p + (size_t)i * 2, 2);
        return v;
    }
    case KILN_INT32: {
        int32_t v;
        memcpy(&v, (const uint8_t *)p + (size_t)i * 4, 4);
        return v;
    }
    default:
        return 0;
    }
}

static inline void kiln_q_st(void *p, int32_t type, int64_t i, int32_t v) {
    switch (type) {
    case KILN_INT8:
        ((int8_t *)p)[i] = (int8_t)v;
        break;
    case KILN_UINT8:
        ((uint8_t *)p)[i] = (uint8_t)v;
        break;
    case KILN_INT16:
        ((int16_t *)p)[i] = (int16_t)v;
        break;
    case KILN_INT32:
        ((int32_t *)p)[i] = v;
        break;
    default:
        break;
    }
}

#endif
