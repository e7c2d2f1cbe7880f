/* optim.c: optimizer updates. SGD/momentum/Nesterov and RMSprop/Adagrad follow Keras;
 * Adam/AdamW use the bias-corrected form of Kingma & Ba (eps added to sqrt(v_hat), as PyTorch
 * and Keras 3), AdamW with decoupled weight decay (Loshchilov & Hutter). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
#include <math.h>
#include <string.h>

#include "train/trainer.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_AVX2_PATH 1

/* The same arithmetic as the scalar Adam loop (mul/add, no FMA contraction; IEEE sqrt and
 * div), 8 lanes at a time: bit-identical to the scalar path. */
__attribute__((target("avx2"))) static int64_t adam_avx2(float *w, const float *g, float *m,
                                                         float *v, int64_t n, float b1, float b2,
                                                         float a, float ic2, float eps,
                                                         float decay) {
    const __m256 vb1 = _mm256_set1_ps(b1), vb2 = _mm256_set1_ps(b2);
    const __m256 vc1 = _mm256_set1_ps(1.0f - b1), vc2 = _mm256_set1_ps(1.0f - b2);
    const __m256 va = _mm256_set1_ps(a), vic2 = _mm256_set1_ps(ic2), veps = _mm256_set1_ps(eps);
    const __m256 vdec = _mm256_set1_ps(decay);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        __m256 mi =
            _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(vc1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + i)),
                                  _mm256_mul_ps(_mm256_mul_ps(vc2, gi), gi));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        __m256 den = _mm256_add_ps(_mm256_sqrt_ps(_mm256_mul_ps(vi, vic2)), veps);
        __m256 wi = _mm256_mul_ps(_mm256_loadu_ps(w + i), vdec);
        _mm256_storeu_ps(w + i, _mm256_sub_ps(wi, _mm256_div_ps(_mm256_mul_ps(va, mi), den)));
    }
    return i;
}

static int has_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}
#endif

typedef struct upd {
    kiln_optimizer kind;
    float lr, scale, clip, b1, b2, eps, c1, c2, mom, rho, wd;
    int nesterov;
    int avx2;
} upd;

static void update(const upd *u, float *w, float *g, float *m, float *v, int64_t n) {
    const float lr = u->lr, s = u->scale, clip = u->clip;
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] * s;
        if (clip > 0.0f) gi = gi > clip ? clip : (gi < -clip ? -clip : gi);
        g[i] = gi;
    }
    switch (u->kind) {
    case KILN_OPT_SGD:
        if (u->wd > 0.0f)
            for (int64_t i = 0; i < n; i++)
                g[i] += u->wd * w[i];
        if (u->mom == 0.0f) {
            for (int64_t i = 0; i < n; i++)
                w[i] -= lr * g[i];
        } else if (!u->nesterov) {
            for (int64_t i = 0; i < n; i++) {
                m[i] = u->mom * m[i] - lr * g[i];
                w[i] += m[i];
            }
        } else {
            for (int64_t i = 0; i < n; i++) {
                m[i] = u->mom * m[i] - lr * g[i];
                w[i] += u->mom * m[i] - lr * g[i];
            }
        }
        break;
    case KILN_OPT_ADAM:
    case KILN_OPT_ADAMW: {
        const float b1 = u->b1, b2 = u->b2, a = lr / u->c1, ic2 = 1.0f / u->c2, eps = u->eps;
        const float decay = u->kind == KILN_OPT_ADAMW ? 1.0f - lr * u->wd : 1.0f;
        int64_t i0 = 0;
#ifdef HAVE_AVX2_PATH
        if (u->avx2) i0 = adam_avx2(w, g, m, v, n, b1, b2, a, ic2, eps, decay);
#endif
        for (int64_t i = i0; i < n; i++) {
            float gi = g[i];
            float mi = b1 * m[i] + (1.0f - b1) * gi;
            float vi = b2 * v[i] + (1.0f - b2) * gi * gi; /* ((1-b2)*g)*g as the SIMD path */
            m[i] = mi;
            v[i] = vi;
            w[i] = w[i] * decay - a * mi / (sqrtf(vi * ic2) + eps);
        }
        break;
    }
    case KILN_OPT_RMSPROP:
        for (int64_t i = 0; i < n; i++) {
            v[i] = u->rho * v[i] + (1.0f - u->rho) * g[i] * g[i];
            w[i] -= lr * g[i] / (sqrtf(v[i]) + u->eps);
        }
        break;
    case KILN_OPT_ADAGRAD:
        for (int64_t i = 0; i < n; i++) {
            v[i] += g[i] * g[i];
            w[i] -= lr * g[i] / (sqrtf(v[i]) + u->eps);
        }
        break;
    }
}

void kiln__optimizer_update(kiln_trainer *t, float grad_scale) {
    const kiln_train_config *c = &t->cfg;
    upd u;
    memset(&u, 0, sizeof u);
    u.kind = c->optimizer;
    u.lr = kiln__lr_at(c, t->step);
    u.scale = grad_scale;
    u.clip = c->clip_value;
    u.b1 = c->beta1;
    u.b2 = c->beta2;
    u.eps = c->eps;
    double tt = (double)(t->step + 1);
    u.c1 = (float)(1.0 - pow(c->beta1, tt));
    u.c2 = (float)(1.0 - pow(c->beta2, tt));
    u.mom = c->momentum;
    u.nesterov = c->nesterov;
    u.rho = c->rho;
#ifdef HAVE_AVX2_PATH
    u.avx2 = has_avx2();
#endif
    u.wd = c->optimizer == KILN_OPT_ADAMW || c->optimizer == KILN_OPT_SGD ? c->weight_decay : 0.0f;
    const kiln_graph *g = t->g;
    for (int32_t pi = 0; pi < g->n_params; pi++) {
        const kiln__gparam *p = &g->params[pi];
        if (!p->trainable) continue;
        update(&u, t->params + p->offset, t->grads + p->offset, t->m1 + p->offset,
               t->m2 + p->offset, p->count);
    }
}
