/* bpe: the BPE model of a Hugging Face tokenizer.json ("model": {"type": "BPE", ...}): the
 * vocabulary, the ranked merges, and the encoding of one pre-tokenized word into ids exactly as
 * `tokenizers` does it (lowest-rank pair first, leftmost among equals), with byte fallback,
 * unknown-token fusing, ignore_merges and a word cache. */
#ifndef PICOTRON_BPE_H
#define PICOTRON_BPE_H

#include <jansson.h>
#include <stdint.h>

#include "error.h"
#include "strmap.h"
#include "vec.h"

typedef struct {
    uint64_t *key;      /* (cap) left id << 32 | right id, UINT64_MAX: empty */
    uint64_t *val;      /* (cap) rank << 32 | merged id */
    size_t n, cap;
} MergeMap;

typedef struct {
    StrMap vocab;             /* token string → id */
    ByteVec strings;          /* every token string, back to back */
    uint64_t *id_str;         /* (nids) offset << 24 | length in strings; UINT64_MAX: no token */
    int32_t nids;             /* 1 + the largest id */
    MergeMap merges;
    int byte_level;           /* words arrive as raw bytes, spelled in bytemap's alphabet */
    int32_t byte_id[256];     /* byte_level: id of each byte's character; −1 when absent */
    int byte_fallback;        /* a character outside the vocab becomes its <0xXX> byte tokens */
    int32_t fallback_id[256]; /* id of <0xXX>; −1 when absent */
    int32_t unk_id;           /* −1: none (characters outside the vocab are dropped) */
    int fuse_unk;             /* consecutive unknown characters become one unk */
    int ignore_merges;        /* a word found whole in the vocab is that one token */
    StrMap cache;             /* word → offset << 16 | count in cache_ids */
    IdVec cache_ids;
    struct BpeWord *scratch;  /* the symbols and heap of the word being merged */
    ByteVec spelled;          /* the word in the byte alphabet (ignore_merges) */
} Bpe;

/* Load the "model" object of tokenizer.json (FILE names it in messages). byte_level: words
 * will be raw bytes (a ByteLevel pre-tokenizer). Anything but a plain BPE is PT_EINPUT naming
 * the JSON path (model.type, model.dropout, model.merges[i], ...). */
int bpe_load(Bpe *b, json_t *model, int byte_level, const char *file, Error *err);
void bpe_free(Bpe *b);

/* Append the ids of word w[0..n) to out. A Bpe encodes one word at a time (it holds the
 * cache and scratch space): one per thread. */
void bpe_encode(Bpe *b, const char *w, size_t n, IdVec *out);

/* The vocab id of token string s, −1 when absent. */
int32_t bpe_token_id(const Bpe *b, const char *s, size_t n);

/* The string of token id (its length in *n), NULL when the vocab has no such id. */
const char *bpe_token_str(const Bpe *b, int32_t id, size_t *n);

#endif
