/* rng: counter-based generator from splitmix64 mixing. */
#include <math.h>

#include "rng.h"

uint64_t rng_name_hash(const char *name)
{
    uint64_t h = 14695981039346656037ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t rng_bits(uint64_t seed, uint64_t stream, uint64_t counter)
{
    return mix64(mix64(mix64(seed) ^ stream) ^ counter);
}

double rng_normal(uint64_t seed, uint64_t stream, uint64_t counter)
{
    uint64_t r = rng_bits(seed, stream, counter);
    /* u1 in (0, 1] so the log is finite; u2 in [0, 1). */
    double u1 = ((double)(r >> 32) + 1.0) / 4294967296.0;
    double u2 = (double)(r & 0xffffffffu) / 4294967296.0;
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
