/* cli_util.c: helpers shared by the kiln subcommands (see cli_util.h). Errors are printed as
 * one line "kiln CMD: FILE: reason"; libraries below never print. */
#include "cli_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int kcli_file_read(const char *path, kcli_file *f, char *err, size_t errlen) {
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: is a directory", path);
        close(fd);
        return -1;
    }
    size_t len = (size_t)st.st_size;
    if (S_ISREG(st.st_mode) && len > 0) {
        void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) {
            close(fd);
            f->data = p;
            f->len = len;
            f->mapped = 1;
            return 0;
        }
    }
    /* Not mappable (pipe, empty file, ...): read it. */
    size_t cap = len ? len : 65536, n = 0;
    uint8_t *buf = aligned_alloc(64, (cap + 63) & ~(size_t)63);
    for (;;) {
        if (!buf) {
            snprintf(err, errlen, "%s: out of memory", path);
            close(fd);
            return -1;
        }
        if (n == cap) {
            size_t ncap = cap * 2;
            uint8_t *nb = aligned_alloc(64, (ncap + 63) & ~(size_t)63);
            if (nb) memcpy(nb, buf, n);
            free(buf);
            buf = nb;
            cap = ncap;
            continue;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    f->data = buf;
    f->len = n;
    return 0;
}

void kcli_file_free(kcli_file *f) {
    if (!f || !f->data) return;
    if (f->mapped)
        munmap(f->data, f->len);
    else
        free(f->data);
    memset(f, 0, sizeof *f);
}

int kcli_model_load(const char *cmd, const char *path, kcli_model *km) {
    char err[KILN_ERRLEN + 64];
    memset(km, 0, sizeof *km);
    km->path = path;
    if (kcli_file_read(path, &km->file, err, sizeof err) != 0) {
        fprintf(stderr, "kiln %s: %s\n", cmd, err);
        return -1;
    }
    kiln_status s =
        kiln_model_load(km->file.data, km->file.len, path, NULL, &km->model, err, sizeof err);
    if (s != KILN_OK) {
        fprintf(stderr, "kiln %s: %s\n", cmd, err[0] ? err : kiln_status_str(s));
        kcli_file_free(&km->file);
        return -1;
    }
    return 0;
}

int kcli_model_interp(const char *cmd, kcli_model *km, const kiln_interp_options *opt,
                      int32_t threads) {
    char err[KILN_ERRLEN];
    kiln_interp_options o;
    if (opt)
        o = *opt;
    else
        kiln_interp_options_init(&o);
    if (threads > 1 && !km->pool) {
        km->pool = kiln_pool_create(threads);
        if (!km->pool) {
            fprintf(stderr, "kiln %s: cannot start %d threads\n", cmd, (int)threads);
            return -1;
        }
    }
    if (km->pool) o.parallel = kiln_pool_parallel(km->pool);
    kiln_status s = kiln_interp_create(km->model, &o, &km->interp, err, sizeof err);
    if (s != KILN_OK) {
        fprintf(stderr, "kiln %s: %s\n", cmd, err[0] ? err : kiln_status_str(s));
        return -1;
    }
    return 0;
}

void kcli_model_free(kcli_model *km) {
    if (!km) return;
    kiln_interp_destroy(km->interp);
    kiln_model_destroy(km->model);
    kiln_pool_destroy(km->pool);
    kcli_file_free(&km->file);
    memset(km, 0, sizeof *km);
}

int kcli_parse_int(const char *s, long long lo, long long hi, long long *out) {
    if (!s || !*s) return -1;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !end || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int kcli_parse_threads(const char *cmd, const char *s, int32_t *out) {
    long long v;
    if (kcli_parse_int(s, 1, 256, &v) != 0) {
        fprintf(stderr, "kiln %s: --threads needs a number from 1 to 256, got '%s'\n", cmd,
                s ? s : "");
        return -1;
    }
    *out = (int32_t)v;
    return 0;
}

void kcli_json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

const char *kcli_shape_str(char *buf, size_t cap, int32_t rank, const int32_t *dims) {
    size_t n = 0;
    if (cap == 0) return buf;
    buf[0] = 0;
    n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int32_t i = 0; i < rank && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%d", i ? ", " : "", (int)dims[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
    return buf;
}

int kcli_help(const char *text) {
    fputs(text, stdout);
    return 0;
}

int kcli_mkdirs(const char *dir) {
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != 0) continue;
        const char c = path[i];
        path[i] = 0;
        if (mkdir(path, 0777) != 0 && errno != EEXIST) return -1;
        path[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}
