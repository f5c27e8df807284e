/* attntune: the attention tile sizes (query tile x key block, lib/kernels/cpu/attention.c)
 * chosen by measurement on this machine per attention shape. `picotron-bench --tune-kernels`
 * times the candidates and stores the fastest in the machine cache of lib/cpupeak (section
 * "attention_tiles", same file, same CPU/BLAS keying); the trainer applies it at start-up.
 * The key is the shape of one group's GEMMs — sequence length T, query heads per kv-head G,
 * head dim D — which tp, dp, pp, the batch and the thread count leave unchanged, so one
 * machine's runs of a model all use the same tiles and stay bitwise thread-count independent.
 * Other tiles than the defaults change the order of attention's sums: other bits, within the
 * golden tolerances (docs/benchmarks.md, "Attention tiles"). */
#ifndef PICOTRON_ATTNTUNE_H
#define PICOTRON_ATTNTUNE_H

#include "error.h"

typedef struct {
    int q_tile, k_block;
    double ms; /* best CPU milliseconds of one forward + backward */
} AttnTiles;

/* The cache key of a shape, e.g. "T256 G3 D64". */
void attntune_key(char *buf, size_t n, int T, int G, int D);

/* The cached tiles of a shape: 1 and *out when the cache (for this CPU and path) has them, 0
 * when not; a cache that is not one, or an entry that is not {"q_tile": n, "k_block": n} with
 * sizes in 1..4096: -1 and PT_EINPUT naming the file and entry. */
int attntune_lookup(int T, int G, int D, AttnTiles *out, Error *err);

/* Set the attention tiles for a model of this shape: the cached ones, else the defaults (a
 * bad cache is one warning line on stderr, then the defaults). attntune_source says which. */
void attntune_apply(int T, int G, int D);
const char *attntune_source(void);

/* Time every candidate tiling on random inputs of shape (B, T, H, K, D), interleaved in
 * rounds for at least `seconds` (3 rounds at least), by CPU time. Fills res (at most max
 * entries, fastest first) and returns the count. Leaves the tiles at the defaults. */
int attntune_measure(int B, int T, int H, int K, int D, double seconds, AttnTiles *res, int max);

/* Store the tiles of a shape in the cache (atomically). */
int attntune_store(int T, int G, int D, const AttnTiles *best, Error *err);

#endif
