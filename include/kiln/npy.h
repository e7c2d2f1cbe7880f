/* npy.h: reading and writing NumPy .npy files (format versions 1.0-3.0, little-endian). */
#ifndef KILN_NPY_H
#define KILN_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_npy {
    int32_t dtype; /* kiln_dtype */
    int32_t rank;
    int64_t dims[KILN_MAX_RANK];
    void *data; /* C order, owned: free with kiln_npy_free */
    size_t bytes;
} kiln_npy;

/* Reads an array. Fortran-order arrays are transposed to C order. Errors name the file and the
 * problem ("x.npy: truncated: header says 40 bytes of data, file has 12"). */
kiln_status kiln_npy_read(const char *path, kiln_npy *out, char *err, size_t errlen);
/* Parses an in-memory .npy file (same rules). */
kiln_status kiln_npy_parse(const void *buf, size_t len, const char *name, kiln_npy *out,
                           char *err, size_t errlen);
/* Writes version 1.0, C order. Writes to PATH.tmp then renames, so no half-written file. */
kiln_status kiln_npy_write(const char *path, int32_t dtype, int32_t rank, const int64_t *dims,
                           const void *data, char *err, size_t errlen);
void kiln_npy_free(kiln_npy *a);

#ifdef __cplusplus
}
#endif
#endif
