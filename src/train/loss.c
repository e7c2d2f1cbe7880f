/* loss.c: losses (Keras semantics: mean over the batch; probabilities clipped to
 * [1e-7, 1 - 1e-7] as Keras' epsilon) and metrics (accuracy, top-k, confusion matrix,
 * precision/recall, ROC AUC). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/internal.h"

#define PROB_EPS 1e-7f

static float clipp(float p) {
    return p < PROB_EPS ? PROB_EPS : (p > 1.0f - PROB_EPS ? 1.0f - PROB_EPS : p);
}

double kiln__loss(kiln_loss l, int32_t from_logits, kiln_actfn out_act, const float *y,
                  const int32_t *labels, const float *targets, int32_t n, int64_t k, float *dy) {
    double total = 0.0;
    (void)out_act;
    if (l == KILN_LOSS_SPARSE_CCE || l == KILN_LOSS_CCE) {
        float inv = 1.0f / (float)n;
        for (int32_t i = 0; i < n; i++) {
            const float *yr = y + (int64_t)i * k;
            float *dr = dy ? dy + (int64_t)i * k : NULL;
            const float *tr = targets ? targets + (int64_t)i * k : NULL;
            if (from_logits) {
                float m = yr[0];
                for (int64_t j = 1; j < k; j++)
                    m = yr[j] > m ? yr[j] : m;
                double s = 0.0;
                for (int64_t j = 0; j < k; j++)
                    s += exp((double)(yr[j] - m));
                double lse = log(s) + m;
                if (l == KILN_LOSS_SPARSE_CCE) {
                    total += lse - yr[labels[i]];
                } else {
                    for (int64_t j = 0; j < k; j++)
                        total += tr[j] * (lse - yr[j]);
                }
                if (dr) {
                    for (int64_t j = 0; j < k; j++) {
                        float p = (float)exp((double)yr[j] - lse);
                        float t = l == KILN_LOSS_SPARSE_CCE ? (j == labels[i]) : tr[j];
                        dr[j] = (p - t) * inv;
                    }
                }
            } else {
                /* probabilities: Keras renormalises the row, then clips */
                double s = 0.0;
                for (int64_t j = 0; j < k; j++)
                    s += yr[j];
                if (!(s > 0.0)) s = 1.0;
                if (dr) memset(dr, 0, sizeof(float) * (size_t)k);
                for (int64_t j = 0; j < k; j++) {
                    float t = l == KILN_LOSS_SPARSE_CCE ? (float)(j == labels[i]) : tr[j];
                    if (t == 0.0f) continue;
                    float p = clipp((float)(yr[j] / s));
                    total -= t * log((double)p);
                    if (dr) dr[j] = -t / p * inv;
                }
                /* the renormalisation's own gradient is dropped: rows of a softmax sum to 1 */
            }
        }
        return total / n;
    }
    int64_t N = (int64_t)n * k;
    float inv = 1.0f / (float)N;
    for (int64_t i = 0; i < N; i++) {
        float t = targets[i], v = y[i], g = 0.0f;
        switch (l) {
        case KILN_LOSS_BCE:
            if (from_logits) {
                total += (v > 0 ? v : 0) - v * t + log1p(exp(-fabs((double)v)));
                g = 1.0f / (1.0f + expf(-v)) - t;
            } else {
                float p = clipp(v);
                total -= t * log((double)p) + (1.0f - t) * log(1.0 - p);
                g = (p - t) / (p * (1.0f - p));
                if (v != p) g = 0.0f; /* clipped: no gradient, as Keras' clip */
            }
            break;
        case KILN_LOSS_MSE:
            total += (double)(v - t) * (v - t);
            g = 2.0f * (v - t);
            break;
        case KILN_LOSS_MAE:
            total += fabs((double)(v - t));
            g = v > t ? 1.0f : (v < t ? -1.0f : 0.0f);
            break;
        case KILN_LOSS_HUBER: {
            float e = v - t, ae = fabsf(e);
            total += ae <= 1.0f ? 0.5 * e * e : ae - 0.5;
            g = ae <= 1.0f ? e : (e > 0 ? 1.0f : -1.0f);
            break;
        }
        default:
            break;
        }
        if (dy) dy[i] = g * inv;
    }
    return total / (double)N * (double)k / (double)k;
}

/* ---- metrics ------------------------------------------------------------------------------ */

static int32_t argmax(const float *v, int32_t k) {
    int32_t b = 0;
    for (int32_t j = 1; j < k; j++)
        if (v[j] > v[b]) b = j;
    return b;
}

int32_t kiln_metric_topk(const float *scores, const int32_t *labels, int32_t n, int32_t k,
                         int32_t topk) {
    int32_t hit = 0;
    for (int32_t i = 0; i < n; i++) {
        const float *r = scores + (int64_t)i * k;
        int32_t l = labels[i];
        if (l < 0 || l >= k) continue;
        /* rank of the true class: classes scoring higher (ties: lower index first) */
        int32_t above = 0;
        for (int32_t j = 0; j < k; j++)
            if (r[j] > r[l] || (r[j] == r[l] && j < l)) above++;
        if (above < topk) hit++;
    }
    return hit;
}

void kiln_metric_confusion(const float *scores, const int32_t *labels, int32_t n, int32_t k,
                           int64_t *confusion) {
    for (int32_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= k) continue;
        confusion[(int64_t)labels[i] * k + argmax(scores + (int64_t)i * k, k)]++;
    }
}

void kiln_metric_precision_recall(const int64_t *cm, int32_t k, float *precision, float *recall) {
    for (int32_t c = 0; c < k; c++) {
        int64_t tp = cm[(int64_t)c * k + c], col = 0, row = 0;
        for (int32_t j = 0; j < k; j++) {
            col += cm[(int64_t)j * k + c];
            row += cm[(int64_t)c * k + j];
        }
        if (precision) precision[c] = col ? (float)tp / (float)col : 0.0f;
        if (recall) recall[c] = row ? (float)tp / (float)row : 0.0f;
    }
}

typedef struct scored {
    float s;
    int32_t pos;
} scored;

static int cmp_scored(const void *a, const void *b) {
    float x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return x < y ? -1 : x > y;
}

double kiln_metric_auc(const float *scores, const int32_t *labels, int64_t n) {
    /* Mann-Whitney U: the probability a positive outranks a negative, ties counting half */
    scored *v = malloc(sizeof(scored) * (size_t)(n > 0 ? n : 1));
    if (!v) return NAN;
    int64_t npos = 0;
    for (int64_t i = 0; i < n; i++) {
        v[i].s = scores[i];
        v[i].pos = labels[i] != 0;
        npos += v[i].pos;
    }
    int64_t nneg = n - npos;
    if (!npos || !nneg) {
        free(v);
        return NAN;
    }
    qsort(v, (size_t)n, sizeof *v, cmp_scored);
    double rank_sum = 0.0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && v[j].s == v[i].s)
            j++;
        double avg = (double)(i + j + 1) / 2.0; /* ranks i+1..j */
        for (int64_t q = i; q < j; q++)
            if (v[q].pos) rank_sum += avg;
        i = j;
    }
    free(v);
    return (rank_sum - (double)npos * (npos + 1) / 2.0) / ((double)npos * nneg);
}
