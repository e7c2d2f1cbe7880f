/* progress.c: a progress line for long work (training epochs, evaluation): done/total, rate,
 * named metrics and ETA, redrawn in place on a terminal, plain lines otherwise (as Keras'
 * verbose=1 / verbose=2 split). Prints only to the FILE* the caller passes. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kiln/report.h"

double kiln_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void kiln_progress_begin(kiln_progress *p, FILE *out, const char *title, int64_t total) {
    memset(p, 0, sizeof *p);
    p->out = out;
    p->tty = out ? isatty(fileno(out)) : 0;
    p->plain_percent = 25;
    p->width = 24;
    if (title) snprintf(p->title, sizeof p->title, "%s", title);
    p->total = total > 0 ? total : 0;
    p->start = kiln_now_seconds();
    p->last_draw = -1.0;
}

void kiln_progress_metric(kiln_progress *p, const char *name, double value) {
    for (int32_t i = 0; i < p->num_metrics; i++)
        if (strcmp(p->names[i], name) == 0) {
            p->values[i] = value;
            return;
        }
    if (p->num_metrics >= KILN_PROGRESS_MAX_METRICS) return;
    snprintf(p->names[p->num_metrics], sizeof p->names[0], "%s", name);
    p->values[p->num_metrics++] = value;
}

static void fmt_duration(double s, char *buf, size_t len) {
    if (!(s >= 0) || s > 359999.0) {
        snprintf(buf, len, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
}

/* Appends with snprintf semantics, never running past len. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static size_t
cat(char *buf, size_t len, size_t at, const char *fmt, ...) {
    if (at >= len) return at;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + at, len - at, fmt, ap);
    va_end(ap);
    if (n < 0) return at;
    at += (size_t)n;
    return at < len ? at : len - 1;
}

static void fmt_line(const kiln_progress *p, double seconds, int final, char *buf, size_t len) {
    size_t at = 0;
    buf[0] = 0;
    if (p->title[0]) at = cat(buf, len, at, "%s ", p->title);
    int64_t done = p->done < p->total || p->total == 0 ? p->done : p->total;
    if (!final && p->tty && p->total > 0 && p->width > 0) {
        int32_t w = p->width, fill = (int32_t)((double)w * (double)done / (double)p->total);
        at = cat(buf, len, at, "[");
        for (int32_t i = 0; i < w; i++)
            at = cat(buf, len, at, "%c", i < fill ? '=' : (i == fill ? '>' : ' '));
        at = cat(buf, len, at, "] ");
    }
    if (p->total > 0)
        at = cat(buf, len, at, "%lld/%lld", (long long)done, (long long)p->total);
    else
        at = cat(buf, len, at, "%lld", (long long)done);
    double rate = seconds > 0 ? (double)p->done / seconds : 0.0;
    if (final) {
        char d[32];
        if (seconds < 60)
            snprintf(d, sizeof d, "%.1fs", seconds);
        else
            fmt_duration(seconds, d, sizeof d);
        at = cat(buf, len, at, " %s", d);
    } else if (p->total > 0) {
        at = cat(buf, len, at, " %3d%%", (int)(100.0 * (double)done / (double)p->total));
    }
    if (seconds > 0 && p->done > 0) at = cat(buf, len, at, " %.0f/s", rate);
    for (int32_t i = 0; i < p->num_metrics; i++)
        at = cat(buf, len, at, " %s %.4f", p->names[i], p->values[i]);
    if (!final && p->total > 0) {
        char eta[32];
        if (rate > 0 && done > 0)
            fmt_duration((double)(p->total - done) / rate, eta, sizeof eta);
        else
            snprintf(eta, sizeof eta, "--:--");
        at = cat(buf, len, at, " ETA %s", eta);
    }
    (void)at;
}

void kiln_progress_format(const kiln_progress *p, double seconds, char *buf, size_t len) {
    if (len) fmt_line(p, seconds, 0, buf, len);
}

void kiln_progress_update_at(kiln_progress *p, int64_t done, double seconds) {
    p->done = done;
    if (!p->out) return;
    char line[512];
    if (p->tty) {
        /* Redrawing costs a write syscall; ten times a second is smooth enough. */
        if (p->last_draw >= 0 && seconds - p->last_draw < 0.1 && done < p->total) return;
        p->last_draw = seconds;
        fmt_line(p, seconds, 0, line, sizeof line);
        fprintf(p->out, "\r%s\x1b[K", line);
        fflush(p->out);
        return;
    }
    if (p->total <= 0 || p->plain_percent <= 0) return;
    int32_t pct = (int32_t)(100.0 * (double)(done < p->total ? done : p->total) / (double)p->total);
    int32_t step = pct / p->plain_percent * p->plain_percent;
    /* The end line comes from kiln_progress_end, so 100% is not printed here. */
    if (step > p->last_percent && pct < 100) {
        p->last_percent = step;
        fmt_line(p, seconds, 0, line, sizeof line);
        fprintf(p->out, "%s\n", line);
        fflush(p->out);
    }
}

void kiln_progress_update(kiln_progress *p, int64_t done) {
    kiln_progress_update_at(p, done, kiln_now_seconds() - p->start);
}

void kiln_progress_end(kiln_progress *p) {
    if (!p->out) return;
    char line[512];
    fmt_line(p, kiln_now_seconds() - p->start, 1, line, sizeof line);
    if (p->tty)
        fprintf(p->out, "\r%s\x1b[K\n", line);
    else
        fprintf(p->out, "%s\n", line);
    fflush(p->out);
}
