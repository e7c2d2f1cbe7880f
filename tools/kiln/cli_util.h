/* cli_util.h: helpers shared by the kiln subcommands: mapping files, loading a model and
 * creating its interpreter with one-line errors, number parsing, JSON strings. */
#ifndef KILN_TOOLS_CLI_UTIL_H
#define KILN_TOOLS_CLI_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kiln/kiln_rt.h"
#include "kiln/pool.h"

/* A whole file, read-only: mmap'ed when possible (zero copy, page-aligned), else read into a
 * 64-byte-aligned buffer. */
typedef struct kcli_file {
    void *data;
    size_t len;
    int mapped;
} kcli_file;

/* Returns 0, or -1 with "PATH: reason" in err. */
int kcli_file_read(const char *path, kcli_file *f, char *err, size_t errlen);
void kcli_file_free(kcli_file *f);

/* A model file loaded and (optionally) an interpreter for it. */
typedef struct kcli_model {
    const char *path;
    kcli_file file;
    kiln_model *model;
    kiln_interp *interp;
    kiln_pool *pool;
} kcli_model;

/* Loads PATH (prints "CMD: PATH: reason" to stderr on failure and returns -1). */
int kcli_model_load(const char *cmd, const char *path, kcli_model *km);
/* Creates the interpreter; opt may be NULL. threads > 1 gives it a pool. Prints the error
 * ("CMD: model.tflite: operator 3 (SPLIT_V): ...") and returns -1 on failure. */
int kcli_model_interp(const char *cmd, kcli_model *km, const kiln_interp_options *opt,
                      int32_t threads);
void kcli_model_free(kcli_model *km);

/* Parses a decimal integer in [lo, hi]; returns 0 or -1. */
int kcli_parse_int(const char *s, long long lo, long long hi, long long *out);
/* Parses "--threads N" style values: N in 1..256; prints a usage error and returns -1. */
int kcli_parse_threads(const char *cmd, const char *s, int32_t *out);

/* Writes s as a JSON string (quoted, escaped). */
void kcli_json_str(FILE *f, const char *s);
/* "[1, 96, 96, 1]" into buf. */
const char *kcli_shape_str(char *buf, size_t cap, int32_t rank, const int32_t *dims);
/* Prints a --help text to stdout and returns 0. */
int kcli_help(const char *text);
/* mkdir -p; returns 0 or -1 with errno set. */
int kcli_mkdirs(const char *dir);

#endif
