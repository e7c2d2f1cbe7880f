/* batch.c: mini-batches in a seeded order, with per-sample augmentation (flip, shift, padded
 * crop as Keras' RandomFlip/RandomTranslation and torchvision's RandomCrop(padding)). */
#include <stdlib.h>
#include <string.h>

#include "data/internal.h"

struct kiln_batcher {
    const kiln_dataset *d;
    kiln_batch_options o;
    kiln_augment aug;
    int has_aug;
    int64_t epoch, pos; /* next sample position within the epoch order */
    int64_t *order;
    float *scratch;
};

static void fill_order(kiln_batcher *b) {
    if (b->o.shuffle)
        kiln_permutation(b->d->n, b->o.seed, (uint64_t)b->epoch, b->order);
    else
        for (int64_t i = 0; i < b->d->n; i++)
            b->order[i] = i;
}

kiln_status kiln_batcher_create(const kiln_dataset *d, const kiln_batch_options *o,
                                kiln_batcher **out, char *err, size_t errlen) {
    *out = NULL;
    if (!o || o->batch_size <= 0)
        return kiln__data_err(err, errlen, KILN_ERR_ARG, "batch size must be positive");
    if (d->n <= 0) return kiln__data_err(err, errlen, KILN_ERR_ARG, "dataset is empty");
    if (o->augment && (d->rank != 3 || o->augment->shift < 0 || o->augment->crop_pad < 0))
        return kiln__data_err(err, errlen, KILN_ERR_SHAPE,
                              "augmentation needs HWC image samples (rank 3), got rank %d",
                              (int)d->rank);
    kiln_batcher *b = calloc(1, sizeof *b);
    if (!b) return kiln__data_err(err, errlen, KILN_ERR_NOMEM, "batcher: out of memory");
    b->d = d;
    b->o = *o;
    if (o->augment) {
        b->aug = *o->augment;
        b->has_aug = 1;
        b->o.augment = &b->aug;
    }
    b->order = malloc((size_t)d->n * sizeof *b->order);
    size_t scratch = 1;
    if (b->has_aug) {
        /* The padded-crop path needs room for the padded image. */
        size_t ph = (size_t)d->dims[0] + 2 * (size_t)b->aug.crop_pad;
        size_t pw = (size_t)d->dims[1] + 2 * (size_t)b->aug.crop_pad;
        scratch = ph * pw * (size_t)d->dims[2];
    }
    b->scratch = malloc(scratch * sizeof(float));
    if (!b->order || !b->scratch) {
        kiln_batcher_destroy(b);
        return kiln__data_err(err, errlen, KILN_ERR_NOMEM, "batcher: out of memory");
    }
    fill_order(b);
    *out = b;
    return KILN_OK;
}

void kiln_batcher_destroy(kiln_batcher *b) {
    if (!b) return;
    free(b->order);
    free(b->scratch);
    free(b);
}

int64_t kiln_batcher_num_batches(const kiln_batcher *b) {
    int64_t n = b->d->n, bs = b->o.batch_size;
    return b->o.drop_last ? n / bs : (n + bs - 1) / bs;
}

void kiln_batcher_seek(kiln_batcher *b, int64_t epoch, int64_t batch) {
    if (epoch != b->epoch) {
        b->epoch = epoch;
        fill_order(b);
    }
    if (batch < 0) batch = 0;
    int64_t nb = kiln_batcher_num_batches(b);
    if (batch > nb) batch = nb;
    b->pos = batch * b->o.batch_size;
    if (b->pos > b->d->n) b->pos = b->d->n;
}

const int64_t *kiln_batcher_order(const kiln_batcher *b) {
    return b->order;
}

int64_t kiln_batcher_next(kiln_batcher *b, float *x, int32_t *labels, float *targets) {
    const kiln_dataset *d = b->d;
    int64_t left = d->n - b->pos;
    int64_t count = left < b->o.batch_size ? left : b->o.batch_size;
    if (count <= 0 || (b->o.drop_last && count < b->o.batch_size)) return 0;
    size_t ss = (size_t)d->sample_size, ts = (size_t)d->target_size;
    uint64_t epoch_seed = b->o.seed ^ kiln_splitmix64((uint64_t)b->epoch + 1);
    for (int64_t i = 0; i < count; i++) {
        int64_t p = b->pos + i, j = b->order[p];
        float *dst = x ? x + (size_t)i * ss : NULL;
        if (dst) {
            memcpy(dst, d->x + (size_t)j * ss, ss * sizeof(float));
            if (b->has_aug) {
                /* Seeded by (seed, epoch, position), so resuming or threading never changes
                 * what a sample looks like. */
                kiln_rng r;
                kiln_rng_seed(&r, epoch_seed, (uint64_t)p);
                kiln_augment_apply(&b->aug, d->dims[0], d->dims[1], d->dims[2], dst, b->scratch,
                                   &r);
            }
        }
        if (labels) labels[i] = d->labels ? d->labels[j] : 0;
        if (targets && d->targets)
            memcpy(targets + (size_t)i * ts, d->targets + (size_t)j * ts, ts * sizeof(float));
    }
    b->pos += count;
    return count;
}

void kiln_augment_apply(const kiln_augment *a, int32_t h, int32_t w, int32_t c, float *sample,
                        float *scratch, kiln_rng *rng) {
    size_t row = (size_t)w * (size_t)c;
    /* Draw every random number first, in a fixed order, whatever options are on. */
    uint32_t fh = kiln_rng_u32(rng) >> 31, fv = kiln_rng_u32(rng) >> 31;
    int32_t dy = 0, dx = 0;
    if (a->shift > 0) {
        dy = (int32_t)kiln_rng_below(rng, 2u * (uint32_t)a->shift + 1u) - a->shift;
        dx = (int32_t)kiln_rng_below(rng, 2u * (uint32_t)a->shift + 1u) - a->shift;
    }
    int32_t cy = 0, cx = 0;
    if (a->crop_pad > 0) {
        /* Padded crop = a shift by (pad - offset) with the same zero fill. */
        cy = (int32_t)kiln_rng_below(rng, 2u * (uint32_t)a->crop_pad + 1u) - a->crop_pad;
        cx = (int32_t)kiln_rng_below(rng, 2u * (uint32_t)a->crop_pad + 1u) - a->crop_pad;
    }
    if (a->flip_horizontal && fh) {
        for (int32_t y = 0; y < h; y++) {
            float *r = sample + (size_t)y * row;
            for (int32_t l = 0, rr = w - 1; l < rr; l++, rr--)
                for (int32_t k = 0; k < c; k++) {
                    float t = r[(size_t)l * c + k];
                    r[(size_t)l * c + k] = r[(size_t)rr * c + k];
                    r[(size_t)rr * c + k] = t;
                }
        }
    }
    if (a->flip_vertical && fv) {
        for (int32_t t = 0, bb = h - 1; t < bb; t++, bb--) {
            memcpy(scratch, sample + (size_t)t * row, row * sizeof(float));
            memcpy(sample + (size_t)t * row, sample + (size_t)bb * row, row * sizeof(float));
            memcpy(sample + (size_t)bb * row, scratch, row * sizeof(float));
        }
    }
    int32_t sy = dy + cy, sx = dx + cx;
    if (sy == 0 && sx == 0) return;
    /* out(y, x) = in(y - sy, x - sx), fill outside. */
    memcpy(scratch, sample, (size_t)h * row * sizeof(float));
    for (int32_t y = 0; y < h; y++) {
        int32_t iy = y - sy;
        float *o = sample + (size_t)y * row;
        for (int32_t x = 0; x < w; x++) {
            int32_t ix = x - sx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
                for (int32_t k = 0; k < c; k++)
                    o[(size_t)x * c + k] = a->fill;
            } else {
                memcpy(o + (size_t)x * c, scratch + (size_t)iy * row + (size_t)ix * c,
                       (size_t)c * sizeof(float));
            }
        }
    }
}
