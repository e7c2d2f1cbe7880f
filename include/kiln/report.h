/* report.h: TensorBoard event files (TFRecord framing, masked CRC32C, hand-encoded Event
 * protobufs; see docs/tfevents.md) and a progress bar for long work. */
#ifndef KILN_REPORT_H
#define KILN_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kiln/kiln_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- CRC32C (Castagnoli, reflected polynomial 0x82F63B78) ------------------------------ */
/* Continues a CRC: start with crc = 0. kiln_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t kiln_crc32c(uint32_t crc, const void *data, size_t n);
/* TFRecord's mask: ((crc >> 15) | (crc << 17)) + 0xa282ead8. */
uint32_t kiln_crc32c_mask(uint32_t crc);

/* ---- TFRecord ------------------------------------------------------------------------------
 * Record = uint64 length (LE), uint32 masked crc of length, data, uint32 masked crc of data. */
kiln_status kiln_tfrecord_write(FILE *f, const void *data, size_t len);
/* Reads one record into *data (malloc'ed, grown as needed; *cap its capacity). Returns KILN_OK
 * with *len set, KILN_ERR_STATE at a clean end of file, KILN_ERR_IO on a short record or a CRC
 * mismatch (message names `name` and the byte offset). */
kiln_status kiln_tfrecord_read(FILE *f, const char *name, uint8_t **data, size_t *cap, size_t *len,
                               char *err, size_t errlen);

/* ---- TensorBoard event writer ---------------------------------------------------------- */
typedef struct kiln_tfevents kiln_tfevents;

/* Creates dir (if missing) and dir/events.out.tfevents.<unix seconds>.<hostname>, and writes
 * the first record (file_version "brain.Event:2"). */
kiln_status kiln_tfevents_open(const char *dir, kiln_tfevents **out, char *err, size_t errlen);
/* Appends one Event{wall_time, step, summary{value{tag, simple_value}}}. wall_time < 0: now. */
kiln_status kiln_tfevents_scalar(kiln_tfevents *w, const char *tag, float value, int64_t step,
                                 double wall_time);
kiln_status kiln_tfevents_flush(kiln_tfevents *w);
/* Flushes, closes and frees (accepts NULL). Returns the first write error, if any. */
kiln_status kiln_tfevents_close(kiln_tfevents *w);
const char *kiln_tfevents_path(const kiln_tfevents *w);
const char *kiln_tfevents_error(const kiln_tfevents *w);

/* One decoded event (scalars only; other summaries are skipped). */
typedef struct kiln_tfevent {
    double wall_time;
    int64_t step;
    char file_version[32]; /* "" unless the event carries file_version */
    char tag[128];         /* "" unless the event carries a scalar */
    float value;
} kiln_tfevent;

/* Reads an event file, checking every CRC, calling fn for each event (stop early by returning
 * non-zero from fn). */
kiln_status kiln_tfevents_read(const char *path, int (*fn)(void *ud, const kiln_tfevent *ev),
                               void *ud, char *err, size_t errlen);

/* ---- progress bar -------------------------------------------------------------------------
 * On a terminal (isatty(fileno(out))) redraws one line in place with \r, at most every 0.1 s;
 * otherwise prints a plain line each time another `plain_percent` of the total is done and at
 * the end. Nothing is printed when out is NULL. The struct is caller-owned (no allocation). */
#define KILN_PROGRESS_MAX_METRICS 8

typedef struct kiln_progress {
    FILE *out;
    int32_t tty;           /* 1: terminal mode; set by begin, may be overridden after */
    int32_t plain_percent; /* non-terminal line every N% (default 25) */
    int32_t width;         /* bar width in characters (default 24) */
    char title[64];        /* e.g. "epoch 3/10" */
    int64_t total, done;
    double start, last_draw; /* seconds (monotonic) */
    int32_t last_percent;
    int32_t num_metrics;
    char names[KILN_PROGRESS_MAX_METRICS][24];
    double values[KILN_PROGRESS_MAX_METRICS];
} kiln_progress;

/* Starts a bar of `total` units (samples). title may be NULL. */
void kiln_progress_begin(kiln_progress *p, FILE *out, const char *title, int64_t total);
/* Sets (or adds) a named metric shown after the rate, e.g. "loss" 0.4312. */
void kiln_progress_metric(kiln_progress *p, const char *name, double value);
/* Reports progress: `done` units finished so far. */
void kiln_progress_update(kiln_progress *p, int64_t done);
/* Same, with an explicit time in seconds since begin (for tests). */
void kiln_progress_update_at(kiln_progress *p, int64_t done, double seconds);
/* Final line (always printed, ends with a newline): total time and rate, metrics. */
void kiln_progress_end(kiln_progress *p);
/* Formats the current line (without \r or \n) into buf; used by the drawing and by tests. */
void kiln_progress_format(const kiln_progress *p, double seconds, char *buf, size_t len);

/* Monotonic seconds (CLOCK_MONOTONIC). */
double kiln_now_seconds(void);

#ifdef __cplusplus
}
#endif
#endif
