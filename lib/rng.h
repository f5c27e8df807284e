/* rng: counter-based random numbers. A value is a pure function of (seed, stream, counter),
 * so any rank can draw element i of tensor "name" without drawing 0..i-1
 * (docs/math.md, Initialisation). */
#ifndef PICOTRON_RNG_H
#define PICOTRON_RNG_H

#include <stdint.h>

/* 64-bit FNV-1a of a string: the stream id of a tensor name. */
uint64_t rng_name_hash(const char *name);

/* Uniform 64 random bits for (seed, stream, counter): three rounds of splitmix64 mixing. */
uint64_t rng_bits(uint64_t seed, uint64_t stream, uint64_t counter);

/* Standard normal for (seed, stream, counter), by Box–Muller on the two 32-bit halves. */
double rng_normal(uint64_t seed, uint64_t stream, uint64_t counter);

/* out[i] = (float)(scale · rng_normal(seed, stream, counter0 + i)) for i < n, bit for bit,
 * several times faster (vectorised; see rng.c). */
void rng_normal_floats(float *out, int64_t n, uint64_t seed, uint64_t stream, uint64_t counter0,
                       double scale);

#endif
