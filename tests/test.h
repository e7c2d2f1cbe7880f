/* test.h: a tiny test harness. Each test program prints one line per failed check and ends
 * with "N passed, N failed" (exit 1 on any failure, 77 when it skipped everything). */
#ifndef KILN_TESTS_TEST_H
#define KILN_TESTS_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_pass, t_fail;

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (cond) {                                                                            \
            t_pass++;                                                                          \
        } else {                                                                               \
            t_fail++;                                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);         \
        }                                                                                      \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                   \
    do {                                                                                       \
        if (cond) {                                                                            \
            t_pass++;                                                                          \
        } else {                                                                               \
            t_fail++;                                                                          \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);         \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
        }                                                                                      \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                     \
    CHECK_MSG((long long)(a) == (long long)(b), "%lld != %lld", (long long)(a), (long long)(b))

#define CHECK_NEAR(a, b, tol)                                                                  \
    CHECK_MSG(fabs((double)(a) - (double)(b)) <= (tol), "%.9g vs %.9g (tol %g)", (double)(a), \
              (double)(b), (double)(tol))

/* The directory of ../shared (models, oracle), or NULL when absent. */
static inline const char *test_shared_dir(void) {
    const char *d = getenv("KILN_SHARED");
    static char buf[4096];
    if (!d) d = "../shared";
    snprintf(buf, sizeof buf, "%s/models/README.md", d);
    FILE *f = fopen(buf, "r");
    if (!f) return NULL;
    fclose(f);
    return d;
}

/* The whole file at path in a 64-byte-aligned buffer (models are read zero-copy, so their
 * buffers need the alignment a real caller gives them); NULL if it cannot be read. */
static inline void *test_read_file(const char *path, size_t *len) {
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    void *b = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0) n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0 || posix_memalign(&b, 64, (size_t)n + 1) != 0) {
        fclose(f);
        return NULL;
    }
    if (fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* 1 if the file at path holds exactly these len bytes (e.g. a committed golden model equals the
 * one the test builds today), else 0. */
static inline int test_file_equals(const char *path, const void *bytes, size_t len) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char *buf = (unsigned char *)malloc(len + 1);
    int same = buf && fread(buf, 1, len + 1, f) == len && memcmp(buf, bytes, len) == 0;
    free(buf);
    fclose(f);
    return same;
}

/* One line of a golden cases.txt ("name | source | arguments"): splits it in place into its
 * three fields, trimmed of blanks and the line end. 0 for a comment, a blank or a short line. */
static inline char *test_trim(char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

static inline int test_case_fields(char *line, char **name, char **src, char **args) {
    if (line[0] == '#' || line[0] == '\n') return 0;
    char *a = strchr(line, '|');
    char *b = a ? strchr(a + 1, '|') : NULL;
    if (!a || !b) return 0;
    *a = 0;
    *b = 0;
    *name = test_trim(line);
    *src = test_trim(a + 1);
    *args = test_trim(b + 1);
    return 1;
}

static inline int test_done(void) {
    printf("%d passed, %d failed\n", t_pass, t_fail);
    return t_fail ? 1 : 0;
}

#define TEST_SKIP(why)                                                                         \
    do {                                                                                       \
        printf("SKIP: %s\n", why);                                                             \
        return 77;                                                                             \
    } while (0)

#endif
