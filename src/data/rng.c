/* rng.c: PCG32 (O'Neill's pcg32_srandom_r / pcg32_random_r / pcg32_boundedrand_r), splitmix64,
 * and Fisher-Yates permutations: integer-only, so every machine draws the same numbers. */
#include <math.h>

#include "kiln/data.h"

#define PCG_MULT 6364136223846793005ULL

uint32_t kiln_rng_u32(kiln_rng *r) {
    uint64_t old = r->state;
    r->state = old * PCG_MULT + r->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

void kiln_rng_seed(kiln_rng *r, uint64_t seed, uint64_t stream) {
    /* Identical to pcg32_srandom_r(rng, seed, stream), so the reference test vectors apply. */
    r->state = 0u;
    r->inc = (stream << 1u) | 1u;
    (void)kiln_rng_u32(r);
    r->state += seed;
    (void)kiln_rng_u32(r);
}

uint32_t kiln_rng_below(kiln_rng *r, uint32_t n) {
    if (n <= 1) return 0;
    /* Reject the low values that would make r % n favour small results. */
    uint32_t threshold = (uint32_t)(-n) % n;
    for (;;) {
        uint32_t v = kiln_rng_u32(r);
        if (v >= threshold) return v % n;
    }
}

static uint64_t rng_below64(kiln_rng *r, uint64_t n) {
    if (n <= UINT32_MAX) return kiln_rng_below(r, (uint32_t)n);
    uint64_t threshold = (uint64_t)(-n) % n;
    for (;;) {
        uint64_t v = (uint64_t)kiln_rng_u32(r) << 32;
        v |= kiln_rng_u32(r);
        if (v >= threshold) return v % n;
    }
}

float kiln_rng_uniform(kiln_rng *r) {
    return (float)(kiln_rng_u32(r) >> 8) * (1.0f / 16777216.0f);
}

double kiln_rng_normal(kiln_rng *r) {
    /* 53-bit uniforms; u1 in (0, 1] so log never sees 0. */
    uint64_t a = (uint64_t)kiln_rng_u32(r) << 21; /* separate statements: draw order fixed */
    a ^= kiln_rng_u32(r) >> 11;
    uint64_t b = (uint64_t)kiln_rng_u32(r) << 21;
    b ^= kiln_rng_u32(r) >> 11;
    double u1 = ((double)(a & ((1ull << 53) - 1)) + 1.0) / 9007199254740992.0;
    double u2 = (double)(b & ((1ull << 53) - 1)) / 9007199254740992.0;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t kiln_splitmix64(uint64_t x) {
    uint64_t z = x + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void kiln_permutation(int64_t n, uint64_t seed, uint64_t stream, int64_t *perm) {
    for (int64_t i = 0; i < n; i++)
        perm[i] = i;
    kiln_rng r;
    kiln_rng_seed(&r, seed, stream);
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below64(&r, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}
