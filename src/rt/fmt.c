/* fmt.c: a small printf-style formatter for error messages, so the runtime core needs no stdio.
 * Supports %d %i %u %ld %lu %lld %llu %zu %zd %s %c %x %p %g %f %.Nf %% and integer widths. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "rt/model.h"

typedef struct {
    char *dst;
    size_t cap, n;
} out_t;

static void put(out_t *o, char c) {
    if (o->n + 1 < o->cap) o->dst[o->n] = c;
    o->n++;
}

static void puts_(out_t *o, const char *s) {
    while (*s)
        put(o, *s++);
}

static void put_u(out_t *o, unsigned long long v, unsigned base, int width, char pad, int neg) {
    char tmp[32];
    int k = 0;
    do {
        unsigned d = (unsigned)(v % base);
        tmp[k++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v && k < 30);
    int len = k + (neg ? 1 : 0);
    if (neg && pad == '0') put(o, '-');
    for (; width > len; width--)
        put(o, pad);
    if (neg && pad != '0') put(o, '-');
    while (k)
        put(o, tmp[--k]);
}

static void put_i(out_t *o, long long v, int width, char pad) {
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    put_u(o, u, 10, width, pad, v < 0);
}

/* Fixed-point output with `prec` decimals (enough for messages; not a full %f). */
static void put_fixed(out_t *o, double v, int prec) {
    if (v != v) {
        puts_(o, "nan");
        return;
    }
    if (v < 0) {
        put(o, '-');
        v = -v;
    }
    if (v > 1e18) {
        puts_(o, "inf");
        return;
    }
    double scale = 1;
    for (int i = 0; i < prec; i++)
        scale *= 10;
    unsigned long long whole = (unsigned long long)v;
    double frac = v - (double)whole;
    unsigned long long f = (unsigned long long)(frac * scale + 0.5);
    if ((double)f >= scale) {
        whole++;
        f = 0;
    }
    put_u(o, whole, 10, 0, ' ', 0);
    if (prec > 0) {
        put(o, '.');
        put_u(o, f, 10, prec, '0', 0);
    }
}

/* %g-like: 6 significant digits, exponent form for very large or small magnitudes. */
static void put_g(out_t *o, double v) {
    if (v != v) {
        puts_(o, "nan");
        return;
    }
    double a = v < 0 ? -v : v;
    if (a > 1.7976931348623157e308) {
        puts_(o, v < 0 ? "-inf" : "inf");
        return;
    }
    if (a == 0) {
        put(o, '0');
        return;
    }
    int e = 0;
    double m = a;
    while (m >= 10) {
        m /= 10;
        e++;
    }
    while (m < 1) {
        m *= 10;
        e--;
    }
    if (e < -4 || e >= 6) {
        if (v < 0) put(o, '-');
        put_fixed(o, m, 5);
        put(o, 'e');
        put_i(o, e, 0, ' ');
        return;
    }
    int prec = 5 - e;
    if (prec < 0) prec = 0;
    /* Trim trailing zeros, as %g does. */
    char buf[64];
    out_t t = {buf, sizeof buf, 0};
    put_fixed(&t, v, prec);
    size_t n = t.n < sizeof buf ? t.n : sizeof buf - 1;
    buf[n] = 0;
    int has_dot = 0;
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '.') has_dot = 1;
    if (has_dot) {
        while (n > 0 && buf[n - 1] == '0')
            buf[--n] = 0;
        if (n > 0 && buf[n - 1] == '.') buf[--n] = 0;
    }
    puts_(o, buf);
}

int kiln__vfmt(char *dst, size_t cap, const char *fmt, va_list ap) {
    out_t o = {dst, cap, 0};
    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            put(&o, *p);
            continue;
        }
        p++;
        char pad = ' ';
        int width = 0, prec = -1;
        if (*p == '0') {
            pad = '0';
            p++;
        }
        while (*p >= '0' && *p <= '9')
            width = width * 10 + (*p++ - '0');
        if (*p == '.') {
            p++;
            prec = 0;
            while (*p >= '0' && *p <= '9')
                prec = prec * 10 + (*p++ - '0');
        }
        int lng = 0, sz = 0;
        while (*p == 'l') {
            lng++;
            p++;
        }
        if (*p == 'z') {
            sz = 1;
            p++;
        }
        switch (*p) {
        case 'd':
        case 'i': {
            long long v = sz         ? (long long)va_arg(ap, ptrdiff_t)
                          : lng >= 2 ? va_arg(ap, long long)
                          : lng == 1 ? va_arg(ap, long)
                                     : va_arg(ap, int);
            put_i(&o, v, width, pad);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v = sz         ? (unsigned long long)va_arg(ap, size_t)
                                   : lng >= 2 ? va_arg(ap, unsigned long long)
                                   : lng == 1 ? va_arg(ap, unsigned long)
                                              : va_arg(ap, unsigned);
            put_u(&o, v, *p == 'x' ? 16 : 10, width, pad, 0);
            break;
        }
        case 'p':
            puts_(&o, "0x");
            put_u(&o, (unsigned long long)(uintptr_t)va_arg(ap, void *), 16, 0, ' ', 0);
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            puts_(&o, s ? s : "(null)");
            break;
        }
        case 'c':
            put(&o, (char)va_arg(ap, int));
            break;
        case 'f':
            put_fixed(&o, va_arg(ap, double), prec < 0 ? 6 : prec);
            break;
        case 'g':
            put_g(&o, va_arg(ap, double));
            break;
        case '%':
            put(&o, '%');
            break;
        case 0:
            p--;
            break;
        default:
            put(&o, '%');
            put(&o, *p);
        }
    }
    if (cap) dst[o.n < cap ? o.n : cap - 1] = 0;
    return (int)o.n;
}

int kiln__fmt(char *dst, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = kiln__vfmt(dst, cap, fmt, ap);
    va_end(ap);
    return n;
}
