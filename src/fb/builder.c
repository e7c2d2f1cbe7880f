/* builder.c: Kiln's FlatBuffers builder; writes the binary layout of google/flatbuffers
 * (little-endian, back to front, soffset from table to vtable, shared identical vtables). */
#include "fb/builder.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* FlatBuffers offsets are 32-bit and signed in places: stay below 2 GiB. */
#define FB_MAX_SIZE ((size_t)0x7fffffff)
/* vtable entries are uint16 and the vtable's own size is uint16. */
#define FB_MAX_FIELD 2000
#define FB_BUF_ALIGN 64

typedef struct fb_field {
    uint16_t id;
    uint32_t ref; /* size of the buffer just after the field was written */
} fb_field;

struct kiln_fb_builder {
    uint8_t *buf; /* data lives in buf[cap - size, cap) */
    size_t cap, size;
    size_t minalign;
    int in_table, finished;
    size_t table_start;
    fb_field *fields;
    size_t n_fields, cap_fields;
    uint32_t *vtables; /* refs of vtables written so far, for dedup */
    size_t n_vt, cap_vt;
    kiln_status st;
    char err[KILN_ERRLEN];
};

static void fail(kiln_fb_builder *b, kiln_status s, const char *fmt, ...) {
    if (b->st != KILN_OK) return;
    b->st = s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof b->err, fmt, ap);
    va_end(ap);
}

static int ok(kiln_fb_builder *b) {
    return b->st == KILN_OK;
}

kiln_status kiln_fb_builder_create(size_t initial_capacity, kiln_fb_builder **out) {
    if (!out) return KILN_ERR_ARG;
    *out = NULL;
    kiln_fb_builder *b = calloc(1, sizeof *b);
    if (!b) return KILN_ERR_NOMEM;
    size_t cap = initial_capacity < 1024 ? 1024 : initial_capacity;
    if (cap > FB_MAX_SIZE) cap = FB_MAX_SIZE;
    cap = (cap + FB_BUF_ALIGN - 1) & ~(size_t)(FB_BUF_ALIGN - 1);
    b->buf = aligned_alloc(FB_BUF_ALIGN, cap);
    if (!b->buf) {
        free(b);
        return KILN_ERR_NOMEM;
    }
    b->cap = cap;
    b->minalign = 1;
    *out = b;
    return KILN_OK;
}

void kiln_fb_builder_destroy(kiln_fb_builder *b) {
    if (!b) return;
    free(b->buf);
    free(b->fields);
    free(b->vtables);
    free(b);
}

void kiln_fb_builder_reset(kiln_fb_builder *b) {
    if (!b) return;
    b->size = 0;
    b->minalign = 1;
    b->in_table = b->finished = 0;
    b->n_fields = b->n_vt = 0;
    b->st = KILN_OK;
    b->err[0] = 0;
}

kiln_status kiln_fb_status(const kiln_fb_builder *b) {
    return b ? b->st : KILN_ERR_ARG;
}
const char *kiln_fb_error(const kiln_fb_builder *b) {
    return b ? b->err : "no builder";
}
size_t kiln_fb_size(const kiln_fb_builder *b) {
    return b ? b->size : 0;
}

/* Makes room for n more bytes in front of the data. */
static int reserve(kiln_fb_builder *b, size_t n) {
    if (!ok(b)) return 0;
    if (b->finished) {
        fail(b, KILN_ERR_STATE, "flatbuffer builder: write after finish");
        return 0;
    }
    if (n > FB_MAX_SIZE || b->size > FB_MAX_SIZE - n) {
        fail(b, KILN_ERR_NOMEM, "flatbuffer builder: buffer would exceed 2 GiB (%zu + %zu bytes)",
             b->size, n);
        return 0;
    }
    if (b->cap - b->size >= n) return 1;
    size_t need = b->size + n, cap = b->cap < 1024 ? 1024 : b->cap;
    while (cap < need)
        cap = cap > FB_MAX_SIZE / 2 ? FB_MAX_SIZE + 1 : cap * 2;
    cap = (cap + FB_BUF_ALIGN - 1) & ~(size_t)(FB_BUF_ALIGN - 1);
    uint8_t *nb = aligned_alloc(FB_BUF_ALIGN, cap);
    if (!nb) {
        fail(b, KILN_ERR_NOMEM, "flatbuffer builder: out of memory growing to %zu bytes", cap);
        return 0;
    }
    if (b->size) memcpy(nb + cap - b->size, b->buf + b->cap - b->size, b->size);
    free(b->buf);
    b->buf = nb;
    b->cap = cap;
    return 1;
}

static uint8_t *front(kiln_fb_builder *b) {
    return b->buf + b->cap - b->size;
}

static void pad(kiln_fb_builder *b, size_t n) {
    if (!n || !reserve(b, n)) return;
    b->size += n;
    memset(front(b), 0, n);
}

/* Pads so that, after `extra` more bytes are written, the size is a multiple of `align`.
 * Since the finished size is a multiple of minalign, that makes the address aligned too. */
static void prep(kiln_fb_builder *b, size_t align, size_t extra) {
    if (!ok(b)) return;
    if (align > b->minalign) b->minalign = align;
    pad(b, (size_t)(-(b->size + extra)) & (align - 1));
}

static void push_le(kiln_fb_builder *b, uint64_t v, size_t size) {
    if (!reserve(b, size)) return;
    b->size += size;
    uint8_t *p = front(b);
    for (size_t i = 0; i < size; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void store_le(uint8_t *p, uint64_t v, size_t size) {
    for (size_t i = 0; i < size; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int no_table(kiln_fb_builder *b, const char *what) {
    if (!ok(b)) return 0;
    if (b->in_table) {
        fail(b, KILN_ERR_STATE, "flatbuffer builder: %s created while a table is open", what);
        return 0;
    }
    return 1;
}

kiln_fb_ref kiln_fb_create_string_len(kiln_fb_builder *b, const char *s, size_t len) {
    if (!b || !no_table(b, "string")) return 0;
    if (!s && len) {
        fail(b, KILN_ERR_ARG, "flatbuffer builder: NULL string");
        return 0;
    }
    if (len > FB_MAX_SIZE) {
        fail(b, KILN_ERR_ARG, "flatbuffer builder: string of %zu bytes is too long", len);
        return 0;
    }
    prep(b, 4, len + 1);
    pad(b, 1); /* the terminating NUL */
    if (!reserve(b, len)) return 0;
    b->size += len;
    if (len) memcpy(front(b), s, len);
    push_le(b, (uint64_t)len, 4);
    return ok(b) ? (kiln_fb_ref)b->size : 0;
}

kiln_fb_ref kiln_fb_create_string(kiln_fb_builder *b, const char *s) {
    return kiln_fb_create_string_len(b, s ? s : "", s ? strlen(s) : 0);
}

/* Starts a vector of n elements of `elem` bytes, its first element aligned to `align`;
 * returns where to write the elements (in order), or NULL. */
static uint8_t *vec_begin(kiln_fb_builder *b, size_t n, size_t elem, size_t align) {
    if (!b || !no_table(b, "vector")) return NULL;
    if (align == 0 || (align & (align - 1)) || align > FB_BUF_ALIGN) {
        fail(b, KILN_ERR_ARG,
             "flatbuffer builder: vector alignment %zu is not a power of two <= 64", align);
        return NULL;
    }
    if (n > UINT32_MAX || (elem && n > FB_MAX_SIZE / elem)) {
        fail(b, KILN_ERR_ARG, "flatbuffer builder: vector of %zu elements is too long", n);
        return NULL;
    }
    size_t bytes = n * elem;
    prep(b, 4, bytes);
    prep(b, align < elem ? elem : align, bytes);
    if (!reserve(b, bytes)) return NULL;
    b->size += bytes;
    return front(b);
}

static kiln_fb_ref vec_end(kiln_fb_builder *b, size_t n) {
    push_le(b, (uint64_t)n, 4);
    return ok(b) ? (kiln_fb_ref)b->size : 0;
}

kiln_fb_ref kiln_fb_create_vec_bytes(kiln_fb_builder *b, const void *data, size_t n, size_t align) {
    if (b && ok(b) && n && !data) {
        fail(b, KILN_ERR_ARG, "flatbuffer builder: NULL vector data");
        return 0;
    }
    uint8_t *p = vec_begin(b, n, 1, align);
    if (!p) return 0;
    if (n) memcpy(p, data, n);
    return vec_end(b, n);
}

/* Typed vectors: elements stored little-endian whatever the host order. */
#define FB_VEC(name, T, UT, SZ)                                                                    \
    kiln_fb_ref kiln_fb_create_vec_##name(kiln_fb_builder *b, const T *v, size_t n) {              \
        if (b && ok(b) && n && !v) {                                                               \
            fail(b, KILN_ERR_ARG, "flatbuffer builder: NULL vector data");                         \
            return 0;                                                                              \
        }                                                                                          \
        uint8_t *p = vec_begin(b, n, SZ, SZ);                                                      \
        if (!p) return 0;                                                                          \
        for (size_t i = 0; i < n; i++) {                                                           \
            UT u;                                                                                  \
            memcpy(&u, &v[i], SZ);                                                                 \
            store_le(p + i * SZ, (uint64_t)u, SZ);                                                 \
        }                                                                                          \
        return vec_end(b, n);                                                                      \
    }
FB_VEC(i8, int8_t, uint8_t, 1)
FB_VEC(i16, int16_t, uint16_t, 2)
FB_VEC(i32, int32_t, uint32_t, 4)
FB_VEC(u32, uint32_t, uint32_t, 4)
FB_VEC(i64, int64_t, uint64_t, 8)
FB_VEC(f32, float, uint32_t, 4)
#undef FB_VEC

kiln_fb_ref kiln_fb_create_vec_refs(kiln_fb_builder *b, const kiln_fb_ref *refs, size_t n) {
    if (b && ok(b) && n && !refs) {
        fail(b, KILN_ERR_ARG, "flatbuffer builder: NULL vector data");
        return 0;
    }
    uint8_t *p = vec_begin(b, n, 4, 4);
    if (!p) return 0;
    /* Element i sits (n - i) * 4 bytes from the end of the data written so far; a uoffset
     * is relative to its own address, so its value is (ref of the element) - (ref target). */
    for (size_t i = 0; i < n; i++) {
        size_t elem_ref = b->size - i * 4;
        if (refs[i] == 0 || refs[i] >= elem_ref) {
            fail(b, KILN_ERR_ARG, "flatbuffer builder: vector element %zu refers to %s", i,
                 refs[i] == 0 ? "nothing (ref 0)" : "an object not yet written");
            return 0;
        }
        store_le(p + i * 4, (uint64_t)(elem_ref - refs[i]), 4);
    }
    return vec_end(b, n);
}

void kiln_fb_table_start(kiln_fb_builder *b) {
    if (!b || !ok(b)) return;
    if (b->in_table) {
        fail(b, KILN_ERR_STATE, "flatbuffer builder: table started inside another table");
        return;
    }
    if (b->finished) {
        fail(b, KILN_ERR_STATE, "flatbuffer builder: write after finish");
        return;
    }
    b->in_table = 1;
    b->table_start = b->size;
    b->n_fields = 0;
}

static int field_ok(kiln_fb_builder *b, int id) {
    if (!b || !ok(b)) return 0;
    if (!b->in_table) {
        fail(b, KILN_ERR_STATE, "flatbuffer builder: field %d added outside a table", id);
        return 0;
    }
    if (id < 0 || id > FB_MAX_FIELD) {
        fail(b, KILN_ERR_ARG, "flatbuffer builder: field id %d out of range", id);
        return 0;
    }
    for (size_t i = 0; i < b->n_fields; i++)
        if (b->fields[i].id == id) {
            fail(b, KILN_ERR_ARG, "flatbuffer builder: field %d added twice", id);
            return 0;
        }
    if (b->n_fields == b->cap_fields) {
        size_t nc = b->cap_fields ? b->cap_fields * 2 : 16;
        fb_field *nf = realloc(b->fields, nc * sizeof *nf);
        if (!nf) {
            fail(b, KILN_ERR_NOMEM, "flatbuffer builder: out of memory");
            return 0;
        }
        b->fields = nf;
        b->cap_fields = nc;
    }
    return 1;
}

static void track(kiln_fb_builder *b, int id) {
    if (!ok(b)) return;
    b->fields[b->n_fields].id = (uint16_t)id;
    b->fields[b->n_fields].ref = (uint32_t)b->size;
    b->n_fields++;
}

void kiln_fb_add_scalar_force(kiln_fb_builder *b, int id, uint64_t bits, size_t size) {
    if (!field_ok(b, id)) return;
    if (size != 1 && size != 2 && size != 4 && size != 8) {
        fail(b, KILN_ERR_ARG, "flatbuffer builder: scalar of %zu bytes", size);
        return;
    }
    prep(b, size, 0);
    push_le(b, bits, size);
    track(b, id);
}

void kiln_fb_add_bool(kiln_fb_builder *b, int id, int v, int def) {
    if ((v != 0) != (def != 0)) kiln_fb_add_scalar_force(b, id, v != 0, 1);
}
void kiln_fb_add_i8(kiln_fb_builder *b, int id, int8_t v, int8_t def) {
    if (v != def) kiln_fb_add_scalar_force(b, id, (uint8_t)v, 1);
}
void kiln_fb_add_u8(kiln_fb_builder *b, int id, uint8_t v, uint8_t def) {
    if (v != def) kiln_fb_add_scalar_force(b, id, v, 1);
}
void kiln_fb_add_i16(kiln_fb_builder *b, int id, int16_t v, int16_t def) {
    if (v != def) kiln_fb_add_scalar_force(b, id, (uint16_t)v, 2);
}
void kiln_fb_add_u16(kiln_fb_builder *b, int id, uint16_t v, uint16_t def) {
    if (v != def) kiln_fb_add_scalar_force(b, id, v, 2);
}
void kiln_fb_add_i32(kiln_fb_builder *b, int id, int32_t v, int32_t def) {
    if (v != def) kiln_fb_add_scalar_force(b, id, (uint32_t)v, 4);
}
void kiln_fb_add_u32(kiln_fb_builder *b, int id, uint32_t v, uint32_t def) {
    if (v != def) kiln_fb_add_scalar_force(b, id, v, 4);
}
void kiln_fb_add_i64(kiln_fb_builder *b, int id, int64_t v, int64_t def) {
    if (v != def) kiln_fb_add_scalar_force(b, id, (uint64_t)v, 8);
}
void kiln_fb_add_u64(kiln_fb_builder *b, int id, uint64_t v, uint64_t def) {
    if (v != def) kiln_fb_add_scalar_force(b, id, v, 8);
}
/* Floats compare by bits, so -0.0 and NaN payloads are kept as given. */
void kiln_fb_add_f32(kiln_fb_builder *b, int id, float v, float def) {
    uint32_t bv, bd;
    memcpy(&bv, &v, 4);
    memcpy(&bd, &def, 4);
    if (bv != bd) kiln_fb_add_scalar_force(b, id, bv, 4);
}
void kiln_fb_add_f64(kiln_fb_builder *b, int id, double v, double def) {
    uint64_t bv, bd;
    memcpy(&bv, &v, 8);
    memcpy(&bd, &def, 8);
    if (bv != bd) kiln_fb_add_scalar_force(b, id, bv, 8);
}

void kiln_fb_add_ref(kiln_fb_builder *b, int id, kiln_fb_ref ref) {
    if (!ref || !field_ok(b, id)) return;
    prep(b, 4, 0);
    if (!ok(b)) return;
    if (ref > b->size) {
        fail(b, KILN_ERR_ARG, "flatbuffer builder: field %d refers to an object not yet written",
             id);
        return;
    }
    push_le(b, (uint64_t)(b->size + 4 - ref), 4);
    track(b, id);
}

void kiln_fb_add_union(kiln_fb_builder *b, int id, uint8_t type, kiln_fb_ref table) {
    if (!b || !ok(b) || type == 0) return;
    if (!table) {
        fail(b, KILN_ERR_ARG, "flatbuffer builder: union field %d has type %d but no table", id,
             type);
        return;
    }
    kiln_fb_add_u8(b, id, type, 0);
    kiln_fb_add_ref(b, id + 1, table);
}

kiln_fb_ref kiln_fb_table_end(kiln_fb_builder *b) {
    if (!b || !ok(b)) return 0;
    if (!b->in_table) {
        fail(b, KILN_ERR_STATE, "flatbuffer builder: table end without start");
        return 0;
    }
    prep(b, 4, 0);
    push_le(b, 0, 4); /* soffset to the vtable, patched below */
    if (!ok(b)) return 0;
    size_t obj = b->size;
    int max_id = -1;
    for (size_t i = 0; i < b->n_fields; i++)
        if (b->fields[i].id > max_id) max_id = b->fields[i].id;
    size_t vt_len = 4 + 2 * (size_t)(max_id + 1);
    size_t obj_len = obj - b->table_start;
    if (obj_len > 0xffff) {
        fail(b, KILN_ERR_ARG,
             "flatbuffer builder: table of %zu bytes exceeds 64 KiB of inline "
             "fields",
             obj_len);
        return 0;
    }
    uint8_t vt[4 + 2 * (FB_MAX_FIELD + 1)];
    memset(vt, 0, vt_len);
    store_le(vt, vt_len, 2);
    store_le(vt + 2, obj_len, 2);
    for (size_t i = 0; i < b->n_fields; i++)
        store_le(vt + 4 + 2 * b->fields[i].id, obj - b->fields[i].ref, 2);
    b->in_table = 0;
    b->n_fields = 0;

    /* Reuse an identical vtable written earlier (FlatBuffers' dedup). */
    uint32_t vref = 0;
    for (size_t i = 0; i < b->n_vt && !vref; i++) {
        const uint8_t *p = b->buf + b->cap - b->vtables[i];
        if ((size_t)(p[0] | p[1] << 8) == vt_len && !memcmp(p, vt, vt_len)) vref = b->vtables[i];
    }
    if (!vref) {
        if (!reserve(b, vt_len)) return 0;
        b->size += vt_len;
        memcpy(front(b), vt, vt_len);
        vref = (uint32_t)b->size;
        if (b->n_vt == b->cap_vt) {
            size_t nc = b->cap_vt ? b->cap_vt * 2 : 32;
            uint32_t *nv = realloc(b->vtables, nc * sizeof *nv);
            if (!nv) {
                fail(b, KILN_ERR_NOMEM, "flatbuffer builder: out of memory");
                return 0;
            }
            b->vtables = nv;
            b->cap_vt = nc;
        }
        b->vtables[b->n_vt++] = vref;
    }
    /* vtable address = table address - soffset, and address = final size - ref. */
    int64_t soff = (int64_t)vref - (int64_t)obj;
    store_le(b->buf + b->cap - obj, (uint64_t)(uint32_t)(int32_t)soff, 4);
    return (kiln_fb_ref)obj;
}

kiln_status kiln_fb_finish(kiln_fb_builder *b, kiln_fb_ref root, const char *ident) {
    if (!b) return KILN_ERR_ARG;
    if (!ok(b)) return b->st;
    if (b->in_table) {
        fail(b, KILN_ERR_STATE, "flatbuffer builder: finish while a table is open");
        return b->st;
    }
    if (!root || root > b->size) {
        fail(b, KILN_ERR_ARG, "flatbuffer builder: invalid root reference");
        return b->st;
    }
    if (ident && strlen(ident) != 4) {
        fail(b, KILN_ERR_ARG, "flatbuffer builder: file identifier must have 4 characters");
        return b->st;
    }
    prep(b, b->minalign < 4 ? 4 : b->minalign, ident ? 8 : 4);
    if (ident) {
        if (reserve(b, 4)) {
            b->size += 4;
            memcpy(front(b), ident, 4);
        }
    }
    push_le(b, (uint64_t)(b->size + 4 - root), 4);
    if (ok(b)) b->finished = 1;
    return b->st;
}

const uint8_t *kiln_fb_data(const kiln_fb_builder *b, size_t *len) {
    if (len) *len = 0;
    if (!b || b->st != KILN_OK || !b->finished) return NULL;
    if (len) *len = b->size;
    return b->buf + b->cap - b->size;
}

uint8_t *kiln_fb_release(kiln_fb_builder *b, size_t *len) {
    if (len) *len = 0;
    if (!b || b->st != KILN_OK || !b->finished) return NULL;
    size_t n = b->size;
    uint8_t *p = b->buf;
    /* Move the data to the start of the (64-byte aligned) allocation, keeping alignment. */
    memmove(p, p + b->cap - n, n);
    b->buf = NULL;
    b->cap = 0;
    kiln_fb_builder_reset(b);
    if (len) *len = n;
    return p;
}
