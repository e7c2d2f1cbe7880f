/* test_html.c: the HTML report builder (src/report/html.c): escaping, every chart kind, odd
 * inputs (NaN, one sample, zero counts), the document closed and self-contained, saving. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/html.h"
#include "test.h"

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

int main(void) {
    kiln_html *h = kiln_html_begin("a <b> & \"c\"");
    CHECK(h != NULL);
    kiln_html_heading(h, 1, "title <script>alert(1)</script>");
    kiln_html_paragraph(h, "x & y");
    const char *keys[] = {"k1", "k<2>"};
    const char *vals[] = {"v1", "v&2"};
    kiln_html_facts(h, "Facts", 2, keys, vals);
    const char *cells[] = {"op", "n", "CONV_2D", "3"};
    kiln_html_table(h, "Table", 2, 2, cells);
    const int64_t conf[9] = {5, 1, 0, 0, 7, 2, 1, 0, 9};
    const char *names[] = {"cat", "dog", "<bird>"};
    kiln_html_heatmap(h, "Confusion", 3, 3, conf, names, names, "true", "predicted");
    const double bars[6] = {0.5, 1.0, 0.25, 0.0, NAN, 0.75};
    const char *series[] = {"precision", "recall"};
    kiln_html_bars(h, "Bars", 3, names, 2, series, bars, 1.0);
    const double hv[3] = {3.0, 1200.5, 0.001};
    kiln_html_hbars(h, "HBars", 3, names, hv, "us");
    double samples[100];
    for (int i = 0; i < 100; i++)
        samples[i] = 100 + (i % 10);
    samples[7] = NAN; /* skipped, not binned */
    kiln_html_histogram(h, "Histogram", samples, 100, 10, "time (us)");
    const double one = 42;
    kiln_html_histogram(h, "One sample", &one, 1, 10, "x");
    const double xs0[4] = {1, 2, 3, 4}, ys0[4] = {2.0, 1.0, NAN, 0.5};
    const double ys1[3] = {0.1, 0.5, 0.9};
    const double *xs[2] = {xs0, NULL}, *ys[2] = {ys0, ys1};
    const int64_t counts[2] = {4, 3};
    const char *ln[] = {"loss", "accuracy"};
    kiln_html_lines(h, "Curves", 2, ln, counts, xs, ys, "epoch", "value");

    size_t len = 0;
    const char *t = kiln_html_text(h, &len);
    CHECK(t != NULL);
    if (!t) return test_done();
    CHECK_EQ_INT((long long)len, (long long)strlen(t));
    CHECK(strncmp(t, "<!DOCTYPE html>", 15) == 0);
    CHECK(strstr(t, "</body></html>") != NULL);
    CHECK(strstr(t, "<title>a &lt;b&gt; &amp; &quot;c&quot;</title>") != NULL);
    CHECK(strstr(t, "<script") == NULL); /* escaped, never markup */
    CHECK(strstr(t, "&lt;script&gt;alert(1)&lt;/script&gt;") != NULL);
    CHECK(strstr(t, "v&amp;2") != NULL && strstr(t, "k&lt;2&gt;") != NULL);
    CHECK(strstr(t, "&lt;bird&gt;") != NULL);
    CHECK(strstr(t, "nan") == NULL && strstr(t, "inf") == NULL);
    CHECK_EQ_INT(count(t, "<svg "), 6);
    CHECK_EQ_INT(count(t, "</svg>"), 6);
    CHECK_EQ_INT(count(t, "<polyline"), 2);
    CHECK_EQ_INT(count(t, "predicted "), 9); /* one <title> per heat-map cell */
    CHECK(strstr(t, "true 1, predicted 1: 7") != NULL);
    CHECK(strstr(t, ">1201 us<") != NULL || strstr(t, ">1200 us<") != NULL);
    CHECK(strstr(t, "http://") == NULL || count(t, "http://") == count(t, "xmlns="));
    /* histogram: 10 bins of 10 samples, one NaN left out */
    CHECK(strstr(t, ": 10</title>") != NULL && strstr(t, ": 9</title>") != NULL);

    /* text() twice gives the same document; content added after still lands before the tail */
    const char *t2 = kiln_html_text(h, &len);
    CHECK(t2 && count(t2, "</html>") == 1);
    kiln_html_paragraph(h, "after");
    t2 = kiln_html_text(h, &len);
    CHECK(t2 && count(t2, "</html>") == 1 && strstr(t2, "after</p>") < strstr(t2, "</html>"));

    char path[] = "/tmp/kiln_test_html_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        char err[KILN_ERRLEN];
        CHECK(kiln_html_save(h, path, err, sizeof err) == KILN_OK);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL);
        if (f) {
            fseek(f, 0, SEEK_END);
            CHECK_EQ_INT((long long)ftell(f), (long long)len);
            fclose(f);
        }
        remove(path);
        CHECK(kiln_html_save(h, "/nonexistent-dir/x.html", err, sizeof err) == KILN_ERR_IO);
        CHECK(strstr(err, "/nonexistent-dir/x.html") != NULL);
    }
    kiln_html_free(h);
    kiln_html_free(NULL);
    return test_done();
}
