/* html.h: self-contained HTML reports with inline SVG charts (no scripts, no external assets):
 * fact tables, heat maps, grouped bars, horizontal bars, histograms and line charts. Used by
 * kiln eval / bench (and training curves). See docs/eval.md and docs/bench.md. */
#ifndef KILN_HTML_H
#define KILN_HTML_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A document under construction, in memory. Calls never fail individually: the first error
 * (out of memory) is remembered and returned by kiln_html_save. Text arguments are UTF-8 and
 * escaped; NULL text is treated as "". */
typedef struct kiln_html kiln_html;

/* Starts a document titled `title` (NULL if out of memory). */
kiln_html *kiln_html_begin(const char *title);
void kiln_html_free(kiln_html *h);

/* <h1>..<h3> (level clamped to 1..3). */
void kiln_html_heading(kiln_html *h, int level, const char *text);
void kiln_html_paragraph(kiln_html *h, const char *text);
/* A two-column key/value table under an <h2> title (title may be NULL). */
void kiln_html_facts(kiln_html *h, const char *title, int32_t n, const char *const *keys,
                     const char *const *values);
/* A table: cells row-major, rows x cols; the first row is the header. */
void kiln_html_table(kiln_html *h, const char *title, int32_t rows, int32_t cols,
                     const char *const *cells);
/* Heat map of rows x cols counts (row-major), e.g. a confusion matrix (rows = true class,
 * cols = predicted). Each cell shows its count; colour by count relative to its row total. */
void kiln_html_heatmap(kiln_html *h, const char *title, int32_t rows, int32_t cols,
                       const int64_t *values, const char *const *row_labels,
                       const char *const *col_labels, const char *row_axis,
                       const char *col_axis);
/* Vertical grouped bars: n_groups groups (labels) of n_series bars each; values group-major
 * (values[g * n_series + s]). ymax <= 0: from the data. */
void kiln_html_bars(kiln_html *h, const char *title, int32_t n_groups,
                    const char *const *labels, int32_t n_series,
                    const char *const *series_names, const double *values, double ymax);
/* Horizontal bars, one per label, with the value printed after each bar and `unit`. */
void kiln_html_hbars(kiln_html *h, const char *title, int32_t n, const char *const *labels,
                     const double *values, const char *unit);
/* Histogram of n samples in `bins` equal bins between the min and max sample. */
void kiln_html_histogram(kiln_html *h, const char *title, const double *samples, int64_t n,
                         int32_t bins, const char *x_axis);
/* Line chart: n_series series, series s has counts[s] points (xs[s][i], ys[s][i]); xs may be
 * NULL (x = 0, 1, 2, ...). */
void kiln_html_lines(kiln_html *h, const char *title, int32_t n_series,
                     const char *const *names, const int64_t *counts,
                     const double *const *xs, const double *const *ys, const char *x_axis,
                     const char *y_axis);
/* Raw HTML appended as is (the caller escapes). */
void kiln_html_raw(kiln_html *h, const char *html);

/* The document so far, closed (valid until the next call). NULL after an error. */
const char *kiln_html_text(kiln_html *h, size_t *len);
/* Closes the document and writes it to path (path.tmp, then rename). */
kiln_status kiln_html_save(kiln_html *h, const char *path, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
