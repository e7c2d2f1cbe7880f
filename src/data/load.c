/* load.c: kiln_dataset_load picks a reader from the path (IDX directory, image folders, IDX
 * file, .csv, .npz, .npy); see docs/data.md for the rules. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "data/internal.h"

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static int is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static const char *idx_prefix(const kiln_load_options *o) {
    if (!o || !o->subset || !strcmp(o->subset, "train")) return "train";
    if (!strcmp(o->subset, "test") || !strcmp(o->subset, "t10k")) return "t10k";
    return o->subset;
}

kiln_status kiln_dataset_load(const char *path, const kiln_load_options *o, kiln_dataset *out,
                              char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return kiln__data_err(err, errlen, KILN_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) {
        const char *prefix = idx_prefix(o);
        char probe[4096];
        static const char *const pats[] = {"%s/%s-images-idx3-ubyte.gz", "%s/%s-images-idx3-ubyte",
                                           "%s/%s-images.idx3-ubyte.gz", "%s/%s-images.idx3-ubyte"};
        for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
            snprintf(probe, sizeof probe, pats[i], path, prefix);
            if (is_file(probe)) return kiln__load_idx_dir(path, prefix, o, out, err, errlen);
        }
        return kiln_dataset_load_images(path, o, out, err, errlen);
    }
    if (ends_with(path, ".csv") || ends_with(path, ".CSV") || ends_with(path, ".tsv")) {
        kiln_load_options tmp;
        if (!o)
            kiln_load_options_init(&tmp);
        else
            tmp = *o;
        if (ends_with(path, ".tsv") && tmp.csv_delimiter == ',') tmp.csv_delimiter = '\t';
        return kiln_dataset_load_csv(path, &tmp, out, err, errlen);
    }
    if (ends_with(path, ".npz")) return kiln_dataset_load_npz(path, o, out, err, errlen);
    if (ends_with(path, ".npy")) {
        kiln_npy x;
        kiln_status st = kiln_npy_read(path, &x, err, errlen);
        if (st != KILN_OK) return st;
        st = kiln__dataset_from_arrays(&x, NULL, o, path, out, err, errlen);
        kiln_npy_free(&x);
        return st;
    }
    /* An IDX images file: look for the labels file beside it by the MNIST naming. */
    const char *base = kiln__basename(path);
    const char *at = strstr(base, "images");
    if (at && (strstr(base, "idx") || strstr(base, "ubyte"))) {
        char lp[4096];
        size_t pre = (size_t)(at - path);
        if (pre < sizeof lp - 16) {
            memcpy(lp, path, pre);
            snprintf(lp + pre, sizeof lp - pre, "labels%s", at + 6);
            char *r = strstr(lp + pre, "idx3");
            if (r) r[3] = '1';
            if (is_file(lp)) return kiln_dataset_load_idx(path, lp, o, out, err, errlen);
        }
        return kiln_dataset_load_idx(path, NULL, o, out, err, errlen);
    }
    if (strstr(base, "idx") || ends_with(path, "-ubyte") || ends_with(path, "-ubyte.gz"))
        return kiln_dataset_load_idx(path, NULL, o, out, err, errlen);
    return kiln__data_err(err, errlen, KILN_ERR_UNSUPPORTED,
                          "%s: unknown data format (expected a directory, .csv, .npz, .npy or "
                          "an IDX file)",
                          path);
}
