/* internal.h: helpers shared by the dataset readers in src/data/ (not public API). */
#ifndef KILN_SRC_DATA_INTERNAL_H
#define KILN_SRC_DATA_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kiln/data.h"

/* Writes a one-line message into err (if not NULL) and returns st. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
kiln_status
kiln__data_err(char *err, size_t errlen, kiln_status st, const char *fmt, ...);

/* Reads a whole file into a malloc'ed buffer (plus one NUL byte not counted in *len). */
kiln_status kiln__read_file(const char *path, uint8_t **buf, size_t *len, char *err, size_t errlen);

/* Product of dims with overflow check; returns 0 on overflow (with *ok = 0). */
int64_t kiln__dims_product(int32_t rank, const int64_t *dims, int *ok);

/* The last path component (for messages that should stay short). */
const char *kiln__basename(const char *path);

/* Converts n elements of a raw numeric array (kiln dtype) to float: out = v * scale + offset.
 * Returns 0 for a dtype that is not numeric. */
int kiln__to_float(int32_t dtype, const void *src, int64_t n, float scale, float offset,
                   float *out);

/* Converts a label array to int32: fails (returns the bad index, or -2 for a bad dtype) when a
 * value is negative or not an integer; returns -1 on success. *bad_value receives the value. */
int64_t kiln__to_labels(int32_t dtype, const void *src, int64_t n, int32_t *out, double *bad_value);

/* Sets d->num_classes from o (or max label + 1) and checks the range. */
kiln_status kiln__finish_labels(kiln_dataset *d, const kiln_load_options *o, const char *name,
                                char *err, size_t errlen);

/* Resolves the auto scale: 1/255 for uint8 data, else 1. */
float kiln__scale_for(const kiln_load_options *o, int32_t dtype);

/* Loads dir/<prefix>-images-idx3-ubyte[.gz] + labels. */
kiln_status kiln__load_idx_dir(const char *dir, const char *prefix, const kiln_load_options *o,
                               kiln_dataset *out, char *err, size_t errlen);

/* A dataset from raw arrays x (N, ...) and optional y (N) labels or (N, ...) float targets. */
kiln_status kiln__dataset_from_arrays(const kiln_npy *x, const kiln_npy *y,
                                      const kiln_load_options *o, const char *name,
                                      kiln_dataset *out, char *err, size_t errlen);

/* Builds an in-memory .npy file (version 1.0) for the NPZ writer; malloc'ed. */
kiln_status kiln__npy_encode(const kiln_npy *a, uint8_t **out, size_t *len, char *err,
                             size_t errlen);

#endif
