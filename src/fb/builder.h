/* builder.h: Kiln's own FlatBuffers builder (binary format of google/flatbuffers: little-endian,
 * built back to front, tables with shared vtables). Used by the .tflite writer and tests. */
#ifndef KILN_FB_BUILDER_H
#define KILN_FB_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A reference to an object already written: its distance from the end of the buffer. 0 is
 * never a valid reference; calls made after an error return 0 and do nothing. */
typedef uint32_t kiln_fb_ref;

typedef struct kiln_fb_builder kiln_fb_builder;

/* Usage, in the FlatBuffers order (children before parents):
 *   strings, vectors and sub-tables first, then
 *   kiln_fb_table_start(); kiln_fb_add_*(...) per field; ref = kiln_fb_table_end();
 *   ... finally kiln_fb_finish(root, "TFL3") and kiln_fb_data().
 * Only one table may be open at a time, and no vector/string may be created while one is.
 * Errors are sticky: the first one is kept (kiln_fb_error) and every later call is a no-op,
 * so a caller can check once, at kiln_fb_finish. The same calls always give the same bytes. */

kiln_status kiln_fb_builder_create(size_t initial_capacity, kiln_fb_builder **out);
void kiln_fb_builder_destroy(kiln_fb_builder *b);
/* Forgets everything written, keeping the memory, so the builder can be reused. */
void kiln_fb_builder_reset(kiln_fb_builder *b);

/* The first error (KILN_OK if none) and its one-line message ("" if none). */
kiln_status kiln_fb_status(const kiln_fb_builder *b);
const char *kiln_fb_error(const kiln_fb_builder *b);

/* Strings: UTF-8 bytes, NUL-terminated in the buffer as FlatBuffers requires. */
kiln_fb_ref kiln_fb_create_string(kiln_fb_builder *b, const char *s);
kiln_fb_ref kiln_fb_create_string_len(kiln_fb_builder *b, const char *s, size_t len);

/* Vectors of scalars, written little-endian. `align` for kiln_fb_create_vec_bytes is the
 * alignment of the first element in the finished buffer (1, or 16 for TFLite's
 * Buffer.data (force_align: 16)); it must be a power of two <= 64. */
kiln_fb_ref kiln_fb_create_vec_bytes(kiln_fb_builder *b, const void *data, size_t n, size_t align);
kiln_fb_ref kiln_fb_create_vec_i8(kiln_fb_builder *b, const int8_t *v, size_t n);
kiln_fb_ref kiln_fb_create_vec_i16(kiln_fb_builder *b, const int16_t *v, size_t n);
kiln_fb_ref kiln_fb_create_vec_i32(kiln_fb_builder *b, const int32_t *v, size_t n);
kiln_fb_ref kiln_fb_create_vec_u32(kiln_fb_builder *b, const uint32_t *v, size_t n);
kiln_fb_ref kiln_fb_create_vec_i64(kiln_fb_builder *b, const int64_t *v, size_t n);
kiln_fb_ref kiln_fb_create_vec_f32(kiln_fb_builder *b, const float *v, size_t n);
/* A vector of offsets to tables or strings (elements in the given order). */
kiln_fb_ref kiln_fb_create_vec_refs(kiln_fb_builder *b, const kiln_fb_ref *refs, size_t n);

/* Tables. Field ids are the 0-based field index in the schema (a union field takes two ids:
 * its _type field, then the value). Scalars equal to `def` are omitted, as FlatBuffers does
 * by default; use kiln_fb_add_*_force when presence matters. Adding the same id twice is an
 * error. */
void kiln_fb_table_start(kiln_fb_builder *b);
void kiln_fb_add_bool(kiln_fb_builder *b, int id, int v, int def);
void kiln_fb_add_i8(kiln_fb_builder *b, int id, int8_t v, int8_t def);
void kiln_fb_add_u8(kiln_fb_builder *b, int id, uint8_t v, uint8_t def);
void kiln_fb_add_i16(kiln_fb_builder *b, int id, int16_t v, int16_t def);
void kiln_fb_add_u16(kiln_fb_builder *b, int id, uint16_t v, uint16_t def);
void kiln_fb_add_i32(kiln_fb_builder *b, int id, int32_t v, int32_t def);
void kiln_fb_add_u32(kiln_fb_builder *b, int id, uint32_t v, uint32_t def);
void kiln_fb_add_i64(kiln_fb_builder *b, int id, int64_t v, int64_t def);
void kiln_fb_add_u64(kiln_fb_builder *b, int id, uint64_t v, uint64_t def);
void kiln_fb_add_f32(kiln_fb_builder *b, int id, float v, float def);
void kiln_fb_add_f64(kiln_fb_builder *b, int id, double v, double def);
/* Writes the value even when it equals the schema default. `size` is 1, 2, 4 or 8; the low
 * `size` bytes of `bits` are stored. */
void kiln_fb_add_scalar_force(kiln_fb_builder *b, int id, uint64_t bits, size_t size);
/* An offset field (string, vector or table). ref 0 means "absent" and is skipped. */
void kiln_fb_add_ref(kiln_fb_builder *b, int id, kiln_fb_ref ref);
/* A union field: the type at `id` (ubyte) and the table at `id + 1`. type 0 = NONE. */
void kiln_fb_add_union(kiln_fb_builder *b, int id, uint8_t type, kiln_fb_ref table);
/* Ends the table, writes (or reuses an identical earlier) vtable, returns the table's ref. */
kiln_fb_ref kiln_fb_table_end(kiln_fb_builder *b);

/* Writes the root offset, preceded by the 4-byte file identifier when `ident` is not NULL
 * (e.g. "TFL3"). The finished buffer starts aligned to the largest alignment used. */
kiln_status kiln_fb_finish(kiln_fb_builder *b, kiln_fb_ref root, const char *ident);

/* The finished bytes (valid until the builder is reset or destroyed), or NULL before
 * kiln_fb_finish or after an error. */
const uint8_t *kiln_fb_data(const kiln_fb_builder *b, size_t *len);
/* Hands the finished bytes to the caller (free() them); the builder is reset. The returned
 * pointer is 64-byte aligned if the buffer was allocated so; copy it if you need more. */
uint8_t *kiln_fb_release(kiln_fb_builder *b, size_t *len);

/* Bytes written so far (useful in tests). */
size_t kiln_fb_size(const kiln_fb_builder *b);

#ifdef __cplusplus
}
#endif
#endif
