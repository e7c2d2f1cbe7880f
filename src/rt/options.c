/* options.c: kernels' readers of builtin options (the FlatBuffer tables the verifier checked;
 * every read is bounds-checked again, so a missing or short field gives the default). */
#include "rt/fb.h"
#include "rt/model.h"

static int opt_table(const kiln_node *n, const uint8_t *tab, kiln__fb *f, kiln__fbt *t) {
    if (!tab || !n->fb) return -1;
    f->b = n->fb;
    f->n = n->fb_len;
    return kiln__fb_table(f, (size_t)(tab - n->fb), t);
}

int32_t kiln_opt_i8(const kiln_node *n, int field, int32_t def) {
    kiln__fb f;
    kiln__fbt t;
    int8_t v;
    if (opt_table(n, n->opts, &f, &t) || kiln__fb_i8(&f, &t, field, (int8_t)def, &v)) return def;
    return v;
}

int32_t kiln_opt_u8(const kiln_node *n, int field, int32_t def) {
    kiln__fb f;
    kiln__fbt t;
    uint8_t v;
    if (opt_table(n, n->opts, &f, &t) || kiln__fb_u8(&f, &t, field, (uint8_t)def, &v)) return def;
    return v;
}

int32_t kiln_opt_i16(const kiln_node *n, int field, int32_t def) {
    kiln__fb f;
    kiln__fbt t;
    int16_t v;
    if (opt_table(n, n->opts, &f, &t) || kiln__fb_i16(&f, &t, field, (int16_t)def, &v))
        return def;
    return v;
}

int32_t kiln_opt_i32(const kiln_node *n, int field, int32_t def) {
    kiln__fb f;
    kiln__fbt t;
    int32_t v;
    if (opt_table(n, n->opts, &f, &t) || kiln__fb_i32(&f, &t, field, def, &v)) return def;
    return v;
}

int64_t kiln_opt_i64(const kiln_node *n, int field, int64_t def) {
    kiln__fb f;
    kiln__fbt t;
    uint64_t v;
    if (opt_table(n, n->opts, &f, &t) || kiln__fb_u64(&f, &t, field, (uint64_t)def, &v))
        return def;
    return (int64_t)v;
}

float kiln_opt_f32(const kiln_node *n, int field, float def) {
    kiln__fb f;
    kiln__fbt t;
    float v;
    if (opt_table(n, n->opts, &f, &t) || kiln__fb_f32(&f, &t, field, def, &v)) return def;
    return v;
}

int32_t kiln_opt_ivec(const kiln_node *n, int field, int32_t *dst, int32_t max) {
    kiln__fb f;
    kiln__fbt t;
    size_t first;
    uint32_t count;
    if (opt_table(n, n->opts, &f, &t) || kiln__fb_vec(&f, &t, field, 4, &first, &count) <= 0)
        return -1;
    if (count > INT32_MAX) return -1;
    for (uint32_t i = 0; i < count && (int32_t)i < max; i++)
        dst[i] = (int32_t)kiln__rd32(f.b + first + 4 * (size_t)i);
    return (int32_t)count;
}

int32_t kiln_opt2_i32(const kiln_node *n, int field, int32_t def) {
    kiln__fb f;
    kiln__fbt t;
    int32_t v;
    if (opt_table(n, n->opts2, &f, &t) || kiln__fb_i32(&f, &t, field, def, &v)) return def;
    return v;
}
