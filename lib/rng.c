/* rng: counter-based generator from splitmix64 mixing. */
#include <math.h>
#include <string.h>

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

/* ---- rng_normal_floats: the same values, many at a time ----
 *
 * log and cos below are polynomials in plain arithmetic (no libm calls), so the compiler
 * vectorises the loop; they differ from libm's in the last bits of a double. The float that
 * results is kept only when it is certain to be the float of the libm formula: y (our value)
 * is within b of y_ref (libm's), and when y − b and y + b round to the same float, so does
 * y_ref (rounding is monotonic). Otherwise (about one value in 10⁶) the element is computed
 * again through rng_normal. So the output is bit for bit (float)(scale · rng_normal(...)). */

/* log u for u in (0, 1]: u = 2^e · m with m in [√½, √2), log m = 2·atanh(s), s = (m−1)/(m+1),
 * |s| ≤ 0.172, by its series to s²¹ (the next term is below 1e-17 of the result). */
static inline double poly_log(double u)
{
    uint64_t bits;
    memcpy(&bits, &u, sizeof bits);
    int64_t e = (int64_t)((bits >> 52) & 0x7ff) - 1023;
    uint64_t mb = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull; /* m in [1, 2) */
    double m;
    memcpy(&m, &mb, sizeof m);
    int big = m > 1.4142135623730951;
    double half = m * 0.5;
    m = big ? half : m;
    e += big;
    double s = (m - 1.0) / (m + 1.0), s2 = s * s;
    double p = 1.0 / 21;
    p = p * s2 + 1.0 / 19;
    p = p * s2 + 1.0 / 17;
    p = p * s2 + 1.0 / 15;
    p = p * s2 + 1.0 / 13;
    p = p * s2 + 1.0 / 11;
    p = p * s2 + 1.0 / 9;
    p = p * s2 + 1.0 / 7;
    p = p * s2 + 1.0 / 5;
    p = p * s2 + 1.0 / 3;
    p = p * s2 + 1.0;
    /* e·ln2 in two parts: the high part has 32 bits, so e·hi is exact for |e| ≤ 2¹⁰ */
    return (double)e * 6.93147180369123816490e-01 + ((double)e * 1.90821492927058770002e-10 + 2.0 * s * p);
}

/* cos x for x in [0, 2π]: x = n·π/2 + r, |r| ≤ π/4 (π/2 in two parts, the first of 33 bits,
 * so n·hi is exact), then ±cos r or ±sin r by Taylor series to r¹⁶ / r¹⁷. */
static inline double poly_cos(double x)
{
    double n = nearbyint(x * 0.63661977236758134308);
    double r = (x - n * 1.57079632673412561417e+00) - n * 6.07710050650619224932e-11;
    double r2 = r * r;
    double c = 1.0 / 20922789888000.0;            /* 1/16! */
    c = c * r2 - 1.0 / 87178291200.0;             /* 1/14! */
    c = c * r2 + 1.0 / 479001600.0;
    c = c * r2 - 1.0 / 3628800.0;
    c = c * r2 + 1.0 / 40320.0;
    c = c * r2 - 1.0 / 720.0;
    c = c * r2 + 1.0 / 24.0;
    c = c * r2 - 0.5;
    c = c * r2 + 1.0;
    double s = 1.0 / 355687428096000.0;           /* 1/17! */
    s = s * r2 - 1.0 / 1307674368000.0;           /* 1/15! */
    s = s * r2 + 1.0 / 6227020800.0;
    s = s * r2 - 1.0 / 39916800.0;
    s = s * r2 + 1.0 / 362880.0;
    s = s * r2 - 1.0 / 5040.0;
    s = s * r2 + 1.0 / 120.0;
    s = s * r2 - 1.0 / 6.0;
    s = r + r * r2 * s;
    int q = (int)n & 3;
    double v = (q & 1) ? s : c, neg = -v;
    return ((q + 1) & 2) ? neg : v; /* quadrants 1 and 2 negative */
}

/* One value of the fast path, and whether its float is certain. */
static inline float normal_float(uint64_t seed_stream, uint64_t counter, double scale, int *sure)
{
    uint64_t r = mix64(seed_stream ^ counter);
    double u1 = ((double)(r >> 32) + 1.0) / 4294967296.0;
    double u2 = (double)(r & 0xffffffffu) / 4294967296.0;
    double sq = sqrt(-2.0 * poly_log(u1)), y = scale * (sq * poly_cos(2.0 * M_PI * u2));
    /* our log and cos are within ~1e-16 relative (log) and ~3e-16 absolute (cos) of libm's;
     * b allows 100× that */
    double b = fabs(y) * 1e-13 + fabs(scale) * sq * 1e-14;
    float lo = (float)(y - b), hi = (float)(y + b);
    *sure = lo == hi;
    return lo;
}

static void normal_floats(float *out, unsigned char *sure, int m, uint64_t ss, uint64_t c0, double scale)
{
    #pragma omp simd
    for (int i = 0; i < m; i++) {
        int ok;
        out[i] = normal_float(ss, c0 + (uint64_t)i, scale, &ok);
        sure[i] = (unsigned char)ok;
    }
}

void rng_normal_floats(float *out, int64_t n, uint64_t seed, uint64_t stream, uint64_t counter0,
                       double scale)
{
    uint64_t ss = mix64(mix64(seed) ^ stream);
    enum { CHUNK = 1024 };
    unsigned char sure[CHUNK];
    for (int64_t i0 = 0; i0 < n; i0 += CHUNK) {
        int m = n - i0 < CHUNK ? (int)(n - i0) : CHUNK;
        normal_floats(out + i0, sure, m, ss, counter0 + (uint64_t)i0, scale);
        for (int i = 0; i < m; i++)
            if (!sure[i])
                out[i0 + i] = (float)(scale * rng_normal(seed, stream, counter0 + (uint64_t)(i0 + i)));
    }
}
