/* shardout: token ids streamed into numbered llm.c shards PREFIX_SPLIT_000000.bin,
 * PREFIX_SPLIT_000001.bin, ... of at most shard_tokens tokens each (v1 uint16 or v7 uint32,
 * the header of lib/data.h). Every shard is written under a temporary name and fsynced; none
 * appears under its final name until shardout_commit, so a run that fails leaves nothing
 * half-written (shardout_abort removes the temporary files). */
#ifndef PICOTRON_SHARDOUT_H
#define PICOTRON_SHARDOUT_H

#include <stdint.h>

#include "atomicfile.h"
#include "error.h"

typedef struct {
    char prefix[3800];
    const char *split;       /* "train", "val" */
    int u32;                 /* v7 uint32 tokens, else v1 uint16 */
    int64_t shard_tokens;    /* at most this many per shard */
    AtomicFile *files;       /* (nfiles) the shards written, all still temporary */
    int nfiles, cap;
    int64_t in_shard;        /* tokens in the last shard */
    int64_t total;           /* tokens in all shards */
    unsigned char buf[1 << 16];
    size_t nbuf;
} ShardOut;

/* Nothing is created until the first token. */
void shardout_init(ShardOut *s, const char *prefix, const char *split, int u32,
                   int64_t shard_tokens);

/* The final name of shard i: PREFIX_SPLIT_%06d.bin. */
void shardout_name(const char *prefix, const char *split, int i, char *out, size_t len);

/* Append ids (each < 65536 unless u32). PT_ERUNTIME when a write fails (disk full). */
int shardout_write(ShardOut *s, const int32_t *ids, size_t n, Error *err);

/* Finish the last shard and rename every shard to its final name (then sync the directory). */
int shardout_commit(ShardOut *s, Error *err);

/* Remove every temporary file (after a failure). */
void shardout_abort(ShardOut *s);

#endif
