/* data.h: datasets for training and evaluation: IDX/CSV/NPY/NPZ/image-folder readers, seeded
 * shuffling (PCG32), batching, splits, normalisation and augmentation. See docs/data.md. */
#ifndef KILN_DATA_H
#define KILN_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln_rt.h"
#include "kiln/npy.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- random numbers ----------------------------------------------------------------------
 * PCG32 (O'Neill, "PCG XSH RR 64/32"), seeded through splitmix64. Pure integer arithmetic, so
 * the same seed gives the same stream on every machine and compiler. */
typedef struct kiln_rng {
    uint64_t state;
    uint64_t inc; /* stream selector, always odd */
} kiln_rng;

/* Seeds a generator; different `stream` values give independent sequences for one seed. */
void kiln_rng_seed(kiln_rng *r, uint64_t seed, uint64_t stream);
uint32_t kiln_rng_u32(kiln_rng *r);
/* Uniform integer in [0, n) without modulo bias (n > 0). */
uint32_t kiln_rng_below(kiln_rng *r, uint32_t n);
/* Uniform float in [0, 1) with 24 random bits. */
float kiln_rng_uniform(kiln_rng *r);
/* Standard normal (Box-Muller on two uniforms; uses only log/sqrt/cos, which are exact enough
 * to agree across glibc versions for the same doubles). */
double kiln_rng_normal(kiln_rng *r);
/* splitmix64 step: mixes a 64-bit value (used to derive per-epoch / per-sample seeds). */
uint64_t kiln_splitmix64(uint64_t x);
/* Fills perm[0..n) with a Fisher-Yates permutation of 0..n-1 from (seed, stream). */
void kiln_permutation(int64_t n, uint64_t seed, uint64_t stream, int64_t *perm);

/* ---- the dataset -------------------------------------------------------------------------
 * n samples of float32 features in NHWC order (sample shape `dims`, without N), plus either
 * int32 class labels or float32 targets (or neither). All arrays are owned (malloc) and freed
 * by kiln_dataset_free. A zero-initialised struct is a valid empty dataset. */
typedef struct kiln_dataset {
    int64_t n;                   /* number of samples */
    int32_t rank;                /* rank of one sample, e.g. 3 for {28, 28, 1} */
    int32_t dims[KILN_MAX_RANK]; /* sample shape (HWC for images) */
    int64_t sample_size;         /* floats per sample = product of dims */
    float *x;                    /* n * sample_size */
    int32_t *labels;             /* n class indices in [0, num_classes), or NULL */
    float *targets;              /* n * target_size floats (regression), or NULL */
    int64_t target_size;         /* floats per target (0 when targets == NULL) */
    int32_t num_classes;         /* > 0 when labels != NULL */
} kiln_dataset;

void kiln_dataset_free(kiln_dataset *d); /* frees the arrays and zeroes the struct */

/* Allocates n samples of the given shape (x zeroed). with_labels: allocate labels;
 * target_size > 0: allocate targets of that many floats each. */
kiln_status kiln_dataset_alloc(kiln_dataset *d, int64_t n, int32_t rank, const int32_t *dims,
                               int with_labels, int64_t target_size, char *err, size_t errlen);

/* Options shared by the loaders. Initialise with kiln_load_options_init. */
typedef struct kiln_load_options {
    float scale;         /* x = raw * scale + offset; 0 = auto: 1/255 for uint8 data, else 1 */
    float offset;        /* default 0 */
    int32_t num_classes; /* 0: max label + 1; > 0: labels must lie in [0, num_classes) */
    int32_t as_targets;  /* 1: labels become float targets (regression) */
    const char *subset;  /* IDX directory: "train" (default) or "t10k"/"test" */
    /* CSV */
    int32_t csv_header;         /* -1: auto (first row has a non-number), 0: none, 1: present */
    int32_t csv_label_column;   /* index; -1 = last column (default); -2 = no label column */
    const char *csv_label_name; /* with a header: the label column by name (overrides index) */
    char csv_delimiter;         /* default ',' */
    /* NPZ: array names; NULL = "x"/"y", then "x_train"/"y_train" (or "x_test"/"y_test" when
     * subset is "test"), then "arr_0"/"arr_1" (unnamed np.savez arguments) */
    const char *x_key;
    const char *y_key;
} kiln_load_options;

void kiln_load_options_init(kiln_load_options *o);

/* Loads a dataset, choosing the reader by path: a directory holding
 * <subset>-images-idx3-ubyte[.gz] + <subset>-labels-idx1-ubyte[.gz]; a directory of class
 * sub-folders of .pgm/.png images; *-images-idx*-ubyte[.gz] (labels file found beside it);
 * .csv; .npz; .npy (features only). `o` may be NULL (defaults). */
kiln_status kiln_dataset_load(const char *path, const kiln_load_options *o, kiln_dataset *out,
                              char *err, size_t errlen);

/* IDX images + labels files (plain or gzip). Rank-3 images (N,H,W) become samples {H,W,1}. */
kiln_status kiln_dataset_load_idx(const char *images_path, const char *labels_path,
                                  const kiln_load_options *o, kiln_dataset *out, char *err,
                                  size_t errlen);

/* A directory holding train-* and t10k-* IDX files (MNIST / Fashion-MNIST layout, .gz or not):
 * pixels scaled to [0, 1], samples {28,28,1}, 10 classes. test may be NULL. */
kiln_status kiln_dataset_load_fashion_mnist(const char *dir, kiln_dataset *train,
                                            kiln_dataset *test, char *err, size_t errlen);

kiln_status kiln_dataset_load_csv(const char *path, const kiln_load_options *o, kiln_dataset *out,
                                  char *err, size_t errlen);
kiln_status kiln_dataset_load_npz(const char *path, const kiln_load_options *o, kiln_dataset *out,
                                  char *err, size_t errlen);
/* Folder of class sub-folders (sorted by name = class index) of 8-bit PGM (P2/P5) or PNG
 * (8-bit gray/gray+alpha/RGB/RGBA, non-interlaced) images, all the same size. */
kiln_status kiln_dataset_load_images(const char *dir, const kiln_load_options *o, kiln_dataset *out,
                                     char *err, size_t errlen);

/* ---- raw arrays ---------------------------------------------------------------------------
 * Raw readers return a kiln_npy (dtype, dims, data in native byte order); free with
 * kiln_npy_free. */

/* IDX file (plain or gzip): validates magic, dtype code, dims and size. Errors name the file
 * and what is short ("x.gz: truncated: header says 47040000 bytes of data, file has 1200"). */
kiln_status kiln_idx_read(const char *path, kiln_npy *out, char *err, size_t errlen);
/* Writes an IDX file (gzip when path ends in .gz). dtype: UINT8, INT8, INT16, INT32, FLOAT32,
 * FLOAT64. */
kiln_status kiln_idx_write(const char *path, int32_t dtype, int32_t rank, const int64_t *dims,
                           const void *data, char *err, size_t errlen);

/* An .npz archive: named arrays ("x.npy" members are named "x"). */
typedef struct kiln_npz {
    int32_t count;
    char **names;
    kiln_npy *arrays;
} kiln_npz;

kiln_status kiln_npz_read(const char *path, kiln_npz *out, char *err, size_t errlen);
/* Writes count arrays; compress = 1 deflates members (np.savez_compressed), 0 stores them. */
kiln_status kiln_npz_write(const char *path, int32_t count, const char *const *names,
                           const kiln_npy *arrays, int compress, char *err, size_t errlen);
/* The array called name, or NULL. */
const kiln_npy *kiln_npz_get(const kiln_npz *z, const char *name);
void kiln_npz_free(kiln_npz *z);

/* Decodes an image file (PGM P2/P5 8-bit, PNG 8-bit non-interlaced) to uint8 HWC; *out is
 * malloc'ed, free() it. */
kiln_status kiln_image_read(const char *path, uint8_t **out, int32_t *h, int32_t *w, int32_t *c,
                            char *err, size_t errlen);

/* ---- dataset operations -------------------------------------------------------------------- */

/* Every label in [0, num_classes), else an error naming `name`, the index and the label. */
kiln_status kiln_dataset_check_labels(const kiln_dataset *d, int32_t num_classes, const char *name,
                                      char *err, size_t errlen);
/* Reinterprets the sample shape (same element count). */
kiln_status kiln_dataset_reshape(kiln_dataset *d, int32_t rank, const int32_t *dims, char *err,
                                 size_t errlen);
/* Permutes the samples in place with kiln_permutation(n, seed, 0). */
kiln_status kiln_dataset_shuffle(kiln_dataset *d, uint64_t seed, char *err, size_t errlen);
/* Moves the last round(n * fraction) samples into *val (as Keras' validation_split; shuffle
 * first for a random split) and shrinks d. 0 < fraction < 1, both parts non-empty. */
kiln_status kiln_dataset_split(kiln_dataset *d, double fraction, kiln_dataset *val, char *err,
                               size_t errlen);
/* Copies samples idx[0..count) of src into a new dataset. */
kiln_status kiln_dataset_subset(const kiln_dataset *src, const int64_t *idx, int64_t count,
                                kiln_dataset *out, char *err, size_t errlen);
/* x = x * scale + offset. */
void kiln_dataset_scale(kiln_dataset *d, float scale, float offset);
/* Per-channel (last sample dim) mean and std (population, in double). mean/std hold
 * dims[rank-1] floats (1 when rank == 0). */
void kiln_dataset_stats(const kiln_dataset *d, float *mean, float *std);
/* x = (x - mean[c]) / std[c] per channel (std <= 0 treated as 1). Use the training set's
 * statistics for validation/test sets. */
void kiln_dataset_normalize(kiln_dataset *d, const float *mean, const float *std);

/* ---- augmentation (images, HWC) ---------------------------------------------------------- */
typedef struct kiln_augment {
    int32_t flip_horizontal; /* 1: mirror left-right with probability 1/2 */
    int32_t flip_vertical;   /* 1: mirror up-down with probability 1/2 */
    int32_t shift;           /* > 0: translate by a uniform [-shift, shift] in y and x */
    int32_t crop_pad;        /* > 0: pad by crop_pad on each side, crop a random HxW window */
    float fill;              /* value for pixels shifted/padded in (default 0) */
} kiln_augment;

/* Augments one HWC sample in place, drawing from rng. scratch holds h*w*c floats. */
void kiln_augment_apply(const kiln_augment *a, int32_t h, int32_t w, int32_t c, float *sample,
                        float *scratch, kiln_rng *rng);

/* ---- batching ------------------------------------------------------------------------------
 * The order of epoch e is kiln_permutation(n, seed, e) when shuffling; the augmentation of the
 * sample at position p of epoch e draws from kiln_rng_seed(seed ^ splitmix(e), p). So a run is
 * reproducible from (seed, epoch, batch index) alone: exact resume needs no RNG state. */
typedef struct kiln_batch_options {
    int64_t batch_size; /* > 0 */
    int32_t shuffle;    /* 1: reshuffle every epoch */
    int32_t drop_last;  /* 1: drop the final partial batch */
    uint64_t seed;
    const kiln_augment *augment; /* NULL: none (copied at create) */
} kiln_batch_options;

typedef struct kiln_batcher kiln_batcher;

/* The dataset must outlive the batcher. Starts at epoch 0, batch 0. */
kiln_status kiln_batcher_create(const kiln_dataset *d, const kiln_batch_options *o,
                                kiln_batcher **out, char *err, size_t errlen);
void kiln_batcher_destroy(kiln_batcher *b);
/* Starts epoch `epoch` (0-based) at batch `batch` (0 unless resuming). */
void kiln_batcher_seek(kiln_batcher *b, int64_t epoch, int64_t batch);
int64_t kiln_batcher_num_batches(const kiln_batcher *b);
/* Fills the next batch: x gets count*sample_size floats, labels/targets (each may be NULL)
 * count entries. Returns count (<= batch_size), 0 when the epoch is done. */
int64_t kiln_batcher_next(kiln_batcher *b, float *x, int32_t *labels, float *targets);
/* The sample order of the current epoch (n entries). */
const int64_t *kiln_batcher_order(const kiln_batcher *b);

#ifdef __cplusplus
}
#endif
#endif
