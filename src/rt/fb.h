/* fb.h: a bounds-checked FlatBuffers reader (internal to libkiln-rt). Every access checks that
 * offsets, vtables, vectors and strings lie inside the buffer, so a malformed file can only
 * produce an error, never a read outside it. Layout rules: the FlatBuffers binary format. */
#ifndef KILN_RT_FB_H
#define KILN_RT_FB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct kiln__fb {
    const uint8_t *b;
    size_t n;
} kiln__fb;

/* A validated table: its position, its vtable and their sizes. */
typedef struct kiln__fbt {
    size_t pos;
    size_t vt;
    uint16_t vtsize; /* bytes of the vtable */
    uint16_t tsize;  /* bytes of the table's inline part */
} kiln__fbt;

static inline uint16_t kiln__rd16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t kiln__rd32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}
static inline uint64_t kiln__rd64(const uint8_t *p) {
    return (uint64_t)kiln__rd32(p) | ((uint64_t)kiln__rd32(p + 4) << 32);
}

/* Validates the table at pos. Returns 0 on success. */
static inline int kiln__fb_table(const kiln__fb *f, size_t pos, kiln__fbt *t) {
    if (pos > f->n || f->n - pos < 4 || (pos & 3)) return -1;
    const int64_t vt = (int64_t)pos - (int64_t)(int32_t)kiln__rd32(f->b + pos);
    if (vt < 0 || (uint64_t)vt > f->n - 4 || (vt & 1)) return -1;
    const uint16_t vs = kiln__rd16(f->b + vt), ts = kiln__rd16(f->b + vt + 2);
    if (vs < 4 || (vs & 1) || (uint64_t)vt + vs > f->n) return -1;
    if (ts < 4 || pos + ts > f->n) return -1;
    t->pos = pos;
    t->vt = (size_t)vt;
    t->vtsize = vs;
    t->tsize = ts;
    return 0;
}

/* Position of field `id` holding `size` bytes, 0 when absent, (size_t)-1 when out of bounds. */
static inline size_t kiln__fb_field(const kiln__fb *f, const kiln__fbt *t, int id, size_t size) {
    const size_t slot = 4 + 2 * (size_t)id;
    if (slot + 2 > t->vtsize) return 0;
    const uint16_t off = kiln__rd16(f->b + t->vt + slot);
    if (off == 0) return 0;
    if (off < 4 || (size_t)off + size > t->tsize) return (size_t)-1;
    return t->pos + off;
}

#define KILN__FB_BAD ((size_t)-1)

/* Scalar readers: write the field (or def) into *out; return -1 when the field is malformed. */
static inline int kiln__fb_u8(const kiln__fb *f, const kiln__fbt *t, int id, uint8_t def,
                              uint8_t *out) {
    size_t p = kiln__fb_field(f, t, id, 1);
    if (p == KILN__FB_BAD) return -1;
    *out = p ? f->b[p] : def;
    return 0;
}
static inline int kiln__fb_i8(const kiln__fb *f, const kiln__fbt *t, int id, int8_t def,
                              int8_t *out) {
    uint8_t u;
    if (kiln__fb_u8(f, t, id, (uint8_t)def, &u)) return -1;
    *out = (int8_t)u;
    return 0;
}
static inline int kiln__fb_i16(const kiln__fb *f, const kiln__fbt *t, int id, int16_t def,
                               int16_t *out) {
    size_t p = kiln__fb_field(f, t, id, 2);
    if (p == KILN__FB_BAD) return -1;
    *out = p ? (int16_t)kiln__rd16(f->b + p) : def;
    return 0;
}
static inline int kiln__fb_u32(const kiln__fb *f, const kiln__fbt *t, int id, uint32_t def,
                               uint32_t *out) {
    size_t p = kiln__fb_field(f, t, id, 4);
    if (p == KILN__FB_BAD) return -1;
    *out = p ? kiln__rd32(f->b + p) : def;
    return 0;
}
static inline int kiln__fb_i32(const kiln__fb *f, const kiln__fbt *t, int id, int32_t def,
                               int32_t *out) {
    uint32_t u;
    if (kiln__fb_u32(f, t, id, (uint32_t)def, &u)) return -1;
    *out = (int32_t)u;
    return 0;
}
static inline int kiln__fb_u64(const kiln__fb *f, const kiln__fbt *t, int id, uint64_t def,
                               uint64_t *out) {
    size_t p = kiln__fb_field(f, t, id, 8);
    if (p == KILN__FB_BAD) return -1;
    *out = p ? kiln__rd64(f->b + p) : def;
    return 0;
}
static inline int kiln__fb_f32(const kiln__fb *f, const kiln__fbt *t, int id, float def,
                               float *out) {
    size_t p = kiln__fb_field(f, t, id, 4);
    if (p == KILN__FB_BAD) return -1;
    if (p) {
        uint32_t u = kiln__rd32(f->b + p);
        memcpy(out, &u, 4);
    } else {
        *out = def;
    }
    return 0;
}

/* Follows an offset field to its target. Returns 0 absent (*target = 0), 1 present, -1 bad. */
static inline int kiln__fb_ref(const kiln__fb *f, const kiln__fbt *t, int id, size_t *target) {
    size_t p = kiln__fb_field(f, t, id, 4);
    *target = 0;
    if (p == KILN__FB_BAD) return -1;
    if (!p) return 0;
    const uint64_t tg = (uint64_t)p + kiln__rd32(f->b + p);
    if (tg >= f->n) return -1;
    *target = (size_t)tg;
    return 1;
}

/* A vector of `elem`-byte elements: position of the first element and the count. Returns 0
 * absent (count 0), 1 present, -1 bad (out of bounds or misaligned length). */
static inline int kiln__fb_vec(const kiln__fb *f, const kiln__fbt *t, int id, size_t elem,
                               size_t *first, uint32_t *count) {
    size_t tg;
    int r = kiln__fb_ref(f, t, id, &tg);
    *first = 0;
    *count = 0;
    if (r <= 0) return r;
    if ((tg & 3) || f->n - tg < 4) return -1;
    const uint32_t c = kiln__rd32(f->b + tg);
    const uint64_t bytes = (uint64_t)c * elem;
    if (bytes > f->n - tg - 4) return -1;
    *first = tg + 4;
    *count = c;
    return 1;
}

/* A string field: NUL-terminated in place. Returns 0 absent (*s = ""), 1 present, -1 bad. */
static inline int kiln__fb_str_at(const kiln__fb *f, size_t tg, const char **s) {
    if ((tg & 3) || f->n - tg < 4) return -1;
    const uint32_t len = kiln__rd32(f->b + tg);
    if ((uint64_t)len + 1 > f->n - tg - 4) return -1;
    if (f->b[tg + 4 + len] != 0) return -1;
    *s = (const char *)f->b + tg + 4;
    return 1;
}
static inline int kiln__fb_str(const kiln__fb *f, const kiln__fbt *t, int id, const char **s) {
    size_t tg;
    int r = kiln__fb_ref(f, t, id, &tg);
    *s = "";
    if (r <= 0) return r;
    return kiln__fb_str_at(f, tg, s);
}

/* Element i of a vector of tables (each element an offset relative to itself). */
static inline int kiln__fb_vec_table(const kiln__fb *f, size_t first, uint32_t i, kiln__fbt *t) {
    const size_t p = first + 4 * (size_t)i;
    const uint64_t tg = (uint64_t)p + kiln__rd32(f->b + p);
    if (tg >= f->n) return -1;
    return kiln__fb_table(f, (size_t)tg, t);
}

/* A union's table: the offset field `id` (the type is field id-1). */
static inline int kiln__fb_union(const kiln__fb *f, const kiln__fbt *t, int id, kiln__fbt *out) {
    size_t tg;
    int r = kiln__fb_ref(f, t, id, &tg);
    if (r <= 0) return r;
    return kiln__fb_table(f, tg, out) ? -1 : 1;
}

#endif
