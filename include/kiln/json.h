/* json.h: a small streaming JSON writer (to a FILE* or a growing buffer) and a small DOM
 * reader, for summaries and reports (RFC 8259). */
#ifndef KILN_JSON_H
#define KILN_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kiln/kiln_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- writer --------------------------------------------------------------------------------
 * Calls never fail individually; the first error (I/O, out of memory, a value where a key is
 * needed, unbalanced nesting) is remembered and returned by kiln_json_finish. Numbers are
 * written with the fewest digits that read back to the same double ("%.17g" at most); NaN and
 * +-Inf become null. Strings are UTF-8; control characters, '"' and '\\' are escaped. */
#define KILN_JSON_MAX_DEPTH 32

typedef struct kiln_json {
    FILE *f;   /* NULL: writing to buf */
    char *buf; /* growing buffer (NUL-terminated), owned */
    size_t len, cap;
    int32_t indent; /* spaces per level; 0 = compact one line */
    int32_t depth;
    uint8_t stack[KILN_JSON_MAX_DEPTH]; /* 'o' object, 'a' array */
    uint8_t count[KILN_JSON_MAX_DEPTH]; /* 0: no item yet at this level, 1: some */
    int32_t want_value;                 /* a key was written, its value is next */
    kiln_status status;
} kiln_json;

void kiln_json_init_file(kiln_json *w, FILE *f, int32_t indent);
void kiln_json_init_buffer(kiln_json *w, int32_t indent);
void kiln_json_obj_begin(kiln_json *w);
void kiln_json_obj_end(kiln_json *w);
void kiln_json_arr_begin(kiln_json *w);
void kiln_json_arr_end(kiln_json *w);
void kiln_json_key(kiln_json *w, const char *key);
void kiln_json_str(kiln_json *w, const char *s);
void kiln_json_strn(kiln_json *w, const char *s, size_t n);
void kiln_json_num(kiln_json *w, double v);
/* A float32 value in the fewest digits that read back to the same float (0.1f -> 0.1, where
 * kiln_json_num((double)0.1f) gives 0.10000000149011612). */
void kiln_json_float(kiln_json *w, float v);
void kiln_json_int(kiln_json *w, int64_t v);
void kiln_json_bool(kiln_json *w, int v);
void kiln_json_null(kiln_json *w);
/* key + value in one call */
void kiln_json_kv_str(kiln_json *w, const char *key, const char *s);
void kiln_json_kv_num(kiln_json *w, const char *key, double v);
void kiln_json_kv_float(kiln_json *w, const char *key, float v);
void kiln_json_kv_int(kiln_json *w, const char *key, int64_t v);
void kiln_json_kv_bool(kiln_json *w, const char *key, int v);
/* Checks that every object/array is closed, writes a final newline when indenting, flushes a
 * FILE. Returns the first error. */
kiln_status kiln_json_finish(kiln_json *w);
/* The buffer text (NUL-terminated; "" for a FILE writer). */
const char *kiln_json_text(const kiln_json *w, size_t *len);
/* Frees the buffer (a FILE is not closed). */
void kiln_json_free(kiln_json *w);

/* Writes w's buffer text to path atomically (path.tmp, then rename). */
kiln_status kiln_json_save(const kiln_json *w, const char *path, char *err, size_t errlen);

/* ---- reader ------------------------------------------------------------------------------- */
typedef enum kiln_json_type {
    KILN_JSON_NULL = 0,
    KILN_JSON_BOOL,
    KILN_JSON_NUMBER,
    KILN_JSON_STRING,
    KILN_JSON_ARRAY,
    KILN_JSON_OBJECT
} kiln_json_type;

typedef struct kiln_json_value {
    kiln_json_type type;
    int32_t boolean;
    double number;
    char *string;                  /* STRING: NUL-terminated UTF-8 (may contain NUL; see len) */
    size_t len;                    /* STRING: bytes; ARRAY/OBJECT: number of items */
    struct kiln_json_value *items; /* ARRAY/OBJECT items */
    char **keys;                   /* OBJECT: len keys */
} kiln_json_value;

/* Parses text (len bytes). Errors give line:column ("summary.json:3:14: expected ','"). */
kiln_status kiln_json_parse(const char *text, size_t len, const char *name, kiln_json_value **out,
                            char *err, size_t errlen);
kiln_status kiln_json_parse_file(const char *path, kiln_json_value **out, char *err, size_t errlen);
void kiln_json_value_free(kiln_json_value *v);
/* Member of an object by key (NULL if absent or v is not an object). */
const kiln_json_value *kiln_json_get(const kiln_json_value *v, const char *key);
/* Number member, or def when absent / not a number. */
double kiln_json_get_num(const kiln_json_value *v, const char *key, double def);
/* String member, or NULL. */
const char *kiln_json_get_str(const kiln_json_value *v, const char *key);

#ifdef __cplusplus
}
#endif
#endif
