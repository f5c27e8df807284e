/* data: llm.c token shards (uint16 v1 and uint32 v7) concatenated into one token stream, or
 * a synthetic stream, and the deterministic global sample order (docs/training.md, Data):
 * sample i is tokens [i·T, i·T + T + 1) of the stream; step s consumes samples [s·G, (s+1)·G). */
#ifndef PICOTRON_DATA_H
#define PICOTRON_DATA_H

#include <stdint.h>

#include "error.h"

#define SHARD_MAGIC_U16 20240520
#define SHARD_MAGIC_U32 20240801
#define SHARD_VERSION_U16 1
#define SHARD_VERSION_U32 7
#define SHARD_HEADER_INTS 256

typedef struct {
    char path[1024];
    int token_bytes;           /* 2 or 4 */
    int64_t ntok;              /* tokens in this shard */
    int64_t first;             /* index of its first token in the stream */
    const unsigned char *map;  /* mmap of the whole file */
    size_t map_len;
    int checked;               /* 1: every token id was found < V */
} Shard;

typedef struct {
    int synthetic;             /* 1: tokens from a counter-based hash, no files */
    Shard *shards;
    int nshards;
    int64_t ntok;              /* tokens in the whole stream */
    int T;                     /* sequence length */
    int V;                     /* vocabulary size: every token must be < V */
    int64_t nsamples;          /* samples per epoch */
    int shuffle;
    uint64_t seed;
    int64_t *perm;             /* nsamples entries when shuffling, for perm_epoch */
    int64_t perm_epoch;
} Dataset;

/* Open a path or glob of shards ("synthetic" for the synthetic stream). num_samples > 0 limits
 * the epoch to that many samples. Validates every header (magic, version, token count against
 * file size); errors name the file. Token ids are checked by data_check_tokens, or shard by
 * shard when data_sample first reads from one. */
int data_open(Dataset *ds, const char *name, int T, int V, int64_t num_samples, int shuffle,
              uint64_t seed, Error *err);
void data_close(Dataset *ds);

/* Every token id of every shard against V now (dataset.validate "all"). A token id >= V is
 * PT_EINPUT naming the shard, the token's offset in it, its value and V. */
int data_check_tokens(Dataset *ds, Error *err);

/* Global sample index g (any non-negative integer; wraps by epoch) into tokens (T + 1 ints).
 * The first read from a shard checks all its token ids (the data_check_tokens error). */
int data_sample(Dataset *ds, int64_t g, int32_t *tokens, Error *err);

/* Epoch that global sample g falls in. */
int64_t data_epoch(const Dataset *ds, int64_t g);

/* Write tokens as an llm.c shard (v1 uint16 when every id < 65536 and !force_u32, else v7),
 * atomically (temp name, fsync, rename). */
int data_write_shard(const char *path, const int32_t *tokens, int64_t n, int force_u32, Error *err);

#endif
