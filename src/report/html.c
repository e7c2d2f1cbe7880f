/* html.c: self-contained HTML reports with inline SVG charts (kiln/html.h). Plain SVG 1.1
 * elements and inline CSS only, so any browser renders the file offline. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/html.h"

struct kiln_html {
    char *buf;
    size_t len, cap;
    int failed;
};

static const char *const palette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759",
                                      "#76b7b2", "#edc948", "#b07aa1", "#ff9da7"};
#define NPAL (sizeof palette / sizeof palette[0])

static void put(kiln_html *h, const char *s, size_t n) {
    if (!h || h->failed) return;
    if (h->len + n + 1 > h->cap) {
        size_t nc = h->cap ? h->cap : 4096;
        while (nc < h->len + n + 1)
            nc *= 2;
        char *nb = realloc(h->buf, nc);
        if (!nb) {
            h->failed = 1;
            return;
        }
        h->buf = nb, h->cap = nc;
    }
    memcpy(h->buf + h->len, s, n);
    h->len += n;
    h->buf[h->len] = 0;
}

static void puts_(kiln_html *h, const char *s) { put(h, s, strlen(s)); }

static void pf(kiln_html *h, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        put(h, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        if (h) h->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    put(h, big, (size_t)n);
    free(big);
}

/* Text escaped for element content and attribute values. */
static void esc(kiln_html *h, const char *s) {
    if (!s) return;
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '<':
            puts_(h, "&lt;");
            break;
        case '>':
            puts_(h, "&gt;");
            break;
        case '&':
            puts_(h, "&amp;");
            break;
        case '"':
            puts_(h, "&quot;");
            break;
        default:
            put(h, p, 1);
        }
    }
}

kiln_html *kiln_html_begin(const char *title) {
    kiln_html *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    puts_(h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>");
    esc(h, title);
    puts_(h, "</title>\n<style>\n"
             "body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;"
             "margin:24px auto;max-width:1100px;color:#222;background:#fff}\n"
             "h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}"
             "h3{font-size:15px}\n"
             "table{border-collapse:collapse;margin:8px 0;font-size:13px}\n"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
             "th{background:#f3f3f3}td.k{text-align:left;font-weight:600}"
             "table.facts td{text-align:left}\n"
             "svg{display:block;margin:8px 0}svg text{font-size:11px;fill:#333}\n"
             ".chart{margin-bottom:18px}\n"
             "</style></head>\n<body>\n");
    if (h->failed) {
        kiln_html_free(h);
        return NULL;
    }
    return h;
}

void kiln_html_free(kiln_html *h) {
    if (!h) return;
    free(h->buf);
    free(h);
}

void kiln_html_heading(kiln_html *h, int level, const char *text) {
    if (level < 1) level = 1;
    if (level > 3) level = 3;
    pf(h, "<h%d>", level);
    esc(h, text);
    pf(h, "</h%d>\n", level);
}

void kiln_html_paragraph(kiln_html *h, const char *text) {
    puts_(h, "<p>");
    esc(h, text);
    puts_(h, "</p>\n");
}

void kiln_html_raw(kiln_html *h, const char *html) {
    if (html) puts_(h, html);
}

static void title2(kiln_html *h, const char *title) {
    if (!title) return;
    puts_(h, "<h2>");
    esc(h, title);
    puts_(h, "</h2>\n");
}

void kiln_html_facts(kiln_html *h, const char *title, int32_t n, const char *const *keys,
                     const char *const *values) {
    title2(h, title);
    puts_(h, "<table class=\"facts\">\n");
    for (int32_t i = 0; i < n; i++) {
        puts_(h, "<tr><td class=\"k\">");
        esc(h, keys[i]);
        puts_(h, "</td><td>");
        esc(h, values[i]);
        puts_(h, "</td></tr>\n");
    }
    puts_(h, "</table>\n");
}

void kiln_html_table(kiln_html *h, const char *title, int32_t rows, int32_t cols,
                     const char *const *cells) {
    title2(h, title);
    puts_(h, "<table>\n");
    for (int32_t r = 0; r < rows; r++) {
        puts_(h, "<tr>");
        for (int32_t c = 0; c < cols; c++) {
            const char *tag = r == 0 ? "th" : (c == 0 ? "td class=\"k\"" : "td");
            pf(h, "<%s>", tag);
            esc(h, cells[(size_t)r * (size_t)cols + (size_t)c]);
            pf(h, "</%s>", r == 0 ? "th" : "td");
        }
        puts_(h, "</tr>\n");
    }
    puts_(h, "</table>\n");
}

static void svg_begin(kiln_html *h, const char *title, double w, double ht) {
    title2(h, title);
    pf(h,
       "<div class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" "
       "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n",
       w, ht, w, ht);
}

static void svg_end(kiln_html *h) { puts_(h, "</svg></div>\n"); }

static void svg_text(kiln_html *h, double x, double y, const char *anchor, const char *extra,
                     const char *text) {
    pf(h, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s%s>", x, y, anchor,
       extra ? " " : "", extra ? extra : "");
    esc(h, text);
    puts_(h, "</text>\n");
}

static int cmp_dbl(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A "nice" step (1, 2, 5 x 10^k) giving about n ticks over span. */
static double nice_step(double span, int n) {
    if (!(span > 0)) return 1;
    double raw = span / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

static void fmt_num(char *buf, size_t cap, double v) {
    if (!isfinite(v)) {
        snprintf(buf, cap, "n/a");
        return;
    }
    if (fabs(v) < 1e-12) v = 0;
    if (fabs(v) >= 1e3 && fabs(v) < 1e12)
        snprintf(buf, cap, "%.0f", v);
    else
        snprintf(buf, cap, "%.4g", v);
}

/* Axes with y gridlines from ylo to yhi inside the plot box (x0,y0)-(x1,y1). */
static void y_axis(kiln_html *h, double x0, double y0, double x1, double y1, double ylo,
                   double yhi, int integer) {
    double step = nice_step(yhi - ylo, 5);
    if (integer && step < 1) step = 1;
    char b[32];
    for (double v = ceil(ylo / step) * step; v <= yhi + step * 1e-9; v += step) {
        const double y = y1 - (v - ylo) / (yhi - ylo) * (y1 - y0);
        pf(h, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>\n", x0,
           y, x1, y);
        fmt_num(b, sizeof b, v);
        svg_text(h, x0 - 4, y + 4, "end", NULL, b);
    }
    pf(h, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n", x0, y0,
       x0, y1);
    pf(h, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>\n", x0, y1,
       x1, y1);
}

void kiln_html_heatmap(kiln_html *h, const char *title, int32_t rows, int32_t cols,
                       const int64_t *values, const char *const *row_labels,
                       const char *const *col_labels, const char *row_axis,
                       const char *col_axis) {
    if (rows <= 0 || cols <= 0) return;
    double cell = 640.0 / cols;
    if (cell > 56) cell = 56;
    if (cell < 14) cell = 14;
    const double lw = 130, top = 110;
    const double w = lw + cell * cols + 20, ht = top + cell * rows + 20;
    svg_begin(h, title, w, ht);
    svg_text(h, lw + cell * cols / 2, 14, "middle", "font-weight=\"bold\"",
             col_axis ? col_axis : "predicted");
    pf(h, "<text x=\"12\" y=\"%.1f\" text-anchor=\"middle\" font-weight=\"bold\" "
          "transform=\"rotate(-90 12 %.1f)\">",
       top + cell * rows / 2, top + cell * rows / 2);
    esc(h, row_axis ? row_axis : "true");
    puts_(h, "</text>\n");
    char b[32];
    for (int32_t c = 0; c < cols; c++) {
        const double x = lw + cell * (c + 0.5), y = top - 6;
        pf(h, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"start\" "
              "transform=\"rotate(-60 %.1f %.1f)\">",
           x, y, x, y);
        if (col_labels)
            esc(h, col_labels[c]);
        else
            pf(h, "%d", (int)c);
        puts_(h, "</text>\n");
    }
    for (int32_t r = 0; r < rows; r++) {
        int64_t tot = 0;
        for (int32_t c = 0; c < cols; c++)
            tot += values[(size_t)r * (size_t)cols + (size_t)c];
        const double y = top + cell * r;
        if (row_labels)
            svg_text(h, lw - 6, y + cell / 2 + 4, "end", NULL, row_labels[r]);
        else {
            snprintf(b, sizeof b, "%d", (int)r);
            svg_text(h, lw - 6, y + cell / 2 + 4, "end", NULL, b);
        }
        for (int32_t c = 0; c < cols; c++) {
            const int64_t v = values[(size_t)r * (size_t)cols + (size_t)c];
            const double f = tot > 0 ? (double)v / (double)tot : 0;
            /* white -> dark blue; diagonal cells green-tinted so errors stand out */
            const int red = (int)(255 - f * (255 - 8)), grn = (int)(255 - f * (255 - 81));
            const int blu = (int)(255 - f * (255 - 156));
            pf(h,
               "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
               "fill=\"rgb(%d,%d,%d)\" stroke=\"#fff\"><title>true %d, predicted %d: %lld"
               "</title></rect>\n",
               lw + cell * c, y, cell, cell, red, grn, blu, (int)r, (int)c, (long long)v);
            if (cell >= 22 && v != 0) {
                snprintf(b, sizeof b, "%lld", (long long)v);
                svg_text(h, lw + cell * (c + 0.5), y + cell / 2 + 4, "middle",
                         f > 0.5 ? "style=\"fill:#fff\"" : NULL, b);
            }
        }
    }
    svg_end(h);
}

static void legend(kiln_html *h, double x, double y, int32_t n, const char *const *names) {
    for (int32_t s = 0; s < n; s++) {
        pf(h, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", x,
           y + 16.0 * s, palette[(size_t)s % NPAL]);
        svg_text(h, x + 16, y + 16.0 * s + 10, "start", NULL, names ? names[s] : "");
    }
}

void kiln_html_bars(kiln_html *h, const char *title, int32_t n_groups,
                    const char *const *labels, int32_t n_series,
                    const char *const *series_names, const double *values, double ymax) {
    if (n_groups <= 0 || n_series <= 0) return;
    const double w = 900, ht = 340, x0 = 60, x1 = 760, y0 = 16, y1 = 260;
    double hi = ymax;
    if (!(hi > 0)) {
        hi = 0;
        for (int32_t i = 0; i < n_groups * n_series; i++)
            if (values[i] > hi) hi = values[i];
        if (!(hi > 0)) hi = 1;
    }
    svg_begin(h, title, w, ht);
    y_axis(h, x0, y0, x1, y1, 0, hi, 0);
    const double gw = (x1 - x0) / n_groups, bw = gw * 0.8 / n_series;
    char b[32];
    for (int32_t g = 0; g < n_groups; g++) {
        for (int32_t s = 0; s < n_series; s++) {
            double v = values[(size_t)g * (size_t)n_series + (size_t)s];
            if (!(v > 0)) v = 0;
            if (v > hi) v = hi;
            const double bh = v / hi * (y1 - y0);
            pf(h,
               "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
               "<title>",
               x0 + gw * g + gw * 0.1 + bw * s, y1 - bh, bw, bh, palette[(size_t)s % NPAL]);
            esc(h, labels ? labels[g] : "");
            puts_(h, " ");
            esc(h, series_names ? series_names[s] : "");
            fmt_num(b, sizeof b, values[(size_t)g * (size_t)n_series + (size_t)s]);
            pf(h, ": %s</title></rect>\n", b);
        }
        const double lx = x0 + gw * (g + 0.5), ly = y1 + 12;
        pf(h, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" "
              "transform=\"rotate(-35 %.1f %.1f)\">",
           lx, ly, lx, ly);
        if (labels) esc(h, labels[g]);
        puts_(h, "</text>\n");
    }
    legend(h, x1 + 16, y0, n_series, series_names);
    svg_end(h);
}

void kiln_html_hbars(kiln_html *h, const char *title, int32_t n, const char *const *labels,
                     const double *values, const char *unit) {
    if (n <= 0) return;
    const double lw = 240, bwmax = 520, rh = 18;
    double hi = 0;
    for (int32_t i = 0; i < n; i++)
        if (values[i] > hi) hi = values[i];
    if (!(hi > 0)) hi = 1;
    svg_begin(h, title, lw + bwmax + 140, rh * n + 10);
    char b[48];
    for (int32_t i = 0; i < n; i++) {
        const double y = 4 + rh * i;
        double v = values[i] > 0 ? values[i] : 0;
        svg_text(h, lw - 6, y + 12, "end", NULL, labels ? labels[i] : "");
        pf(h, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", lw,
           y + 2, v / hi * bwmax, rh - 4, palette[0]);
        fmt_num(b, sizeof b, values[i]);
        size_t bl = strlen(b);
        snprintf(b + bl, sizeof b - bl, " %s", unit ? unit : "");
        svg_text(h, lw + v / hi * bwmax + 4, y + 12, "start", NULL, b);
    }
    svg_end(h);
}

void kiln_html_histogram(kiln_html *h, const char *title, const double *samples, int64_t n,
                         int32_t bins, const char *x_axis) {
    if (n <= 0 || bins <= 0) return;
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(samples[i])) continue;
        if (samples[i] < lo) lo = samples[i];
        if (samples[i] > hi) hi = samples[i];
    }
    if (!(hi >= lo)) return; /* no finite sample */
    /* A few far outliers (a noisy machine) would squash the rest into one bar: with 100+
     * samples, bin up to the 95th percentile and let the last bin collect everything above. */
    int64_t nf = 0, over = 0;
    double cut = hi;
    double *srt = malloc((size_t)n * sizeof *srt);
    if (!srt) {
        h->failed = 1;
        return;
    }
    for (int64_t i = 0; i < n; i++)
        if (isfinite(samples[i])) srt[nf++] = samples[i];
    qsort(srt, (size_t)nf, sizeof *srt, cmp_dbl);
    if (nf >= 100) {
        const double p95 = srt[(nf * 95) / 100];
        if (hi - lo > 3 * (p95 - lo) && p95 > lo) cut = p95;
    }
    free(srt);
    hi = cut;
    if (!(hi > lo)) hi = lo + 1;
    int64_t *cnt = calloc((size_t)bins, sizeof *cnt);
    if (!cnt) {
        h->failed = 1;
        return;
    }
    int64_t top = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(samples[i])) continue;
        int64_t b = (int64_t)((samples[i] - lo) / (hi - lo) * bins);
        if (b >= bins) b = bins - 1;
        if (b < 0) b = 0;
        over += samples[i] > hi;
        if (++cnt[b] > top) top = cnt[b];
    }
    const double w = 900, ht = 320, x0 = 60, x1 = 860, y0 = 22, y1 = 260;
    svg_begin(h, title, w, ht);
    y_axis(h, x0, y0, x1, y1, 0, (double)top, 1);
    const double bw = (x1 - x0) / bins;
    for (int32_t b = 0; b < bins; b++) {
        const double bh = (double)cnt[b] / (double)top * (y1 - y0);
        pf(h,
           "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
           "stroke=\"#fff\"><title>%.4g - %.4g: %lld</title></rect>\n",
           x0 + bw * b, y1 - bh, bw, bh, palette[0], lo + (hi - lo) * b / bins,
           lo + (hi - lo) * (b + 1) / bins, (long long)cnt[b]);
    }
    char t[32];
    const double step = nice_step(hi - lo, 8);
    for (double v = ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
        const double x = x0 + (v - lo) / (hi - lo) * (x1 - x0);
        fmt_num(t, sizeof t, v);
        svg_text(h, x, y1 + 16, "middle", NULL, t);
    }
    svg_text(h, (x0 + x1) / 2, y1 + 40, "middle", NULL, x_axis ? x_axis : "");
    svg_text(h, 4, y0 - 6, "start", NULL, "count");
    svg_end(h);
    if (over > 0) {
        fmt_num(t, sizeof t, hi);
        pf(h,
           "<p>The last bar also counts %lld sample%s above %s (beyond the 95th "
           "percentile).</p>\n",
           (long long)over, over == 1 ? "" : "s", t);
    }
    free(cnt);
}

void kiln_html_lines(kiln_html *h, const char *title, int32_t n_series,
                     const char *const *names, const int64_t *counts,
                     const double *const *xs, const double *const *ys, const char *x_axis,
                     const char *y_axis_label) {
    if (n_series <= 0) return;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int32_t s = 0; s < n_series; s++)
        for (int64_t i = 0; i < counts[s]; i++) {
            const double x = xs && xs[s] ? xs[s][i] : (double)i, y = ys[s][i];
            if (!isfinite(x) || !isfinite(y)) continue;
            if (x < xlo) xlo = x;
            if (x > xhi) xhi = x;
            if (y < ylo) ylo = y;
            if (y > yhi) yhi = y;
        }
    if (!(xhi >= xlo)) xlo = 0, xhi = 1, ylo = 0, yhi = 1;
    if (!(xhi > xlo)) xhi = xlo + 1;
    if (!(yhi > ylo)) yhi = ylo + 1;
    const double pad = (yhi - ylo) * 0.05;
    ylo -= pad, yhi += pad;
    const double w = 900, ht = 340, x0 = 60, x1 = 760, y0 = 16, y1 = 280;
    svg_begin(h, title, w, ht);
    y_axis(h, x0, y0, x1, y1, ylo, yhi, 0);
    char t[32];
    const double step = nice_step(xhi - xlo, 8);
    for (double v = ceil(xlo / step) * step; v <= xhi + step * 1e-9; v += step) {
        fmt_num(t, sizeof t, v);
        svg_text(h, x0 + (v - xlo) / (xhi - xlo) * (x1 - x0), y1 + 16, "middle", NULL, t);
    }
    svg_text(h, (x0 + x1) / 2, y1 + 40, "middle", NULL, x_axis ? x_axis : "");
    svg_text(h, 4, y0 - 4, "start", NULL, y_axis_label ? y_axis_label : "");
    for (int32_t s = 0; s < n_series; s++) {
        pf(h, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"",
           palette[(size_t)s % NPAL]);
        for (int64_t i = 0; i < counts[s]; i++) {
            const double x = xs && xs[s] ? xs[s][i] : (double)i, y = ys[s][i];
            if (!isfinite(x) || !isfinite(y)) continue;
            pf(h, "%.1f,%.1f ", x0 + (x - xlo) / (xhi - xlo) * (x1 - x0),
               y1 - (y - ylo) / (yhi - ylo) * (y1 - y0));
        }
        puts_(h, "\"/>\n");
    }
    legend(h, x1 + 16, y0, n_series, names);
    svg_end(h);
}

static const char tail[] = "<p style=\"color:#888;font-size:11px\">Generated by kiln.</p>\n"
                           "</body></html>\n";

const char *kiln_html_text(kiln_html *h, size_t *len) {
    if (!h) return NULL;
    const size_t keep = h->len;
    puts_(h, tail);
    if (h->failed) return NULL;
    if (len) *len = h->len;
    /* the tail stays in the buffer past len so the returned text is complete */
    h->len = keep;
    return h->buf;
}

kiln_status kiln_html_save(kiln_html *h, const char *path, char *err, size_t errlen) {
    size_t len = 0;
    const char *text = kiln_html_text(h, &len);
    if (!text) {
        if (err) snprintf(err, errlen, "%s: out of memory building the report", path);
        return KILN_ERR_NOMEM;
    }
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        if (err) snprintf(err, errlen, "%s: path too long", path);
        return KILN_ERR_IO;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        if (err) snprintf(err, errlen, "%s: cannot create the report file", path);
        return KILN_ERR_IO;
    }
    const int ok = fwrite(text, 1, len, f) == len;
    if (fclose(f) != 0 || !ok || rename(tmp, path) != 0) {
        remove(tmp);
        if (err) snprintf(err, errlen, "%s: cannot write the report file", path);
        return KILN_ERR_IO;
    }
    return KILN_OK;
}
