/* params: the parameter table. For every logical tensor of the model: its HF name, global
 * shape, how tensor parallelism splits it, and this rank's local piece inside one flat buffer.
 * Model, optimizer, init and (later) checkpoints all index parameters through this table. */
#ifndef PICOTRON_PARAMS_H
#define PICOTRON_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "models.h"

/* How a tensor is cut across the tp group. */
typedef enum {
    SPLIT_NONE,   /* replicated on every tp rank (RMSNorm weights) */
    SPLIT_ROWS,   /* dim 0 split: column-parallel q, k, v, gate, up */
    SPLIT_COLS,   /* dim 1 split: row-parallel o, down */
    SPLIT_VOCAB,  /* dim 0 split over the padded vocabulary: embedding, lm head */
} Split;

typedef struct {
    char name[96];            /* HF name, e.g. "model.layers.3.self_attn.q_proj.weight" */
    int ndim;                 /* 1 or 2 */
    int64_t shape[2];         /* global shape (true vocabulary, no padding) */
    Split split;
    int layer;                /* block index, -1 for embedding / final norm / head */
    int is_norm;              /* RMSNorm weight: no weight decay when configured */
    int64_t local_shape[2];   /* this rank's piece (vocab pieces include padding rows) */
    int64_t local_offset[2];  /* global index of the piece's first element per dim */
    int64_t valid_rows;       /* rows of the piece inside the true tensor (< local rows only
                                 where the vocab piece reaches into padding) */
    size_t offset;            /* first float of the piece in the flat buffer */
    size_t numel;             /* floats in the piece */
} ParamInfo;

/* Local view of one rank: which tp slice and which layers it holds. */
typedef struct {
    int tp_rank, tp_size;
    int layer_begin, layer_end;  /* blocks [begin, end) live here */
    int has_embed;               /* first pipeline stage (or tied head on the last) */
    int has_head;                /* last pipeline stage: final norm + lm head */
} ParamShard;

typedef struct {
    ParamInfo *t;
    int n;
    size_t numel;             /* floats in the flat buffer */
    ModelDims dims;
    ParamShard shard;
    int V_pad;                /* vocabulary padded to a multiple of 128 · tp */
} ParamTable;

/* The tensors of every block, in the order the table lays them out (HF name suffixes after
 * "model.layers.N."): input_layernorm, q, k, v, o, post_attention_layernorm, gate, up, down. */
enum { PARAMS_PER_LAYER = 9 };
extern const char *const params_layer_suffix[PARAMS_PER_LAYER];

/* The whole model on one rank (tp 1, all layers). */
ParamShard params_shard_single(const ModelDims *d);

/* Build the table for the local piece described by shard. */
void params_build(ParamTable *pt, const ModelDims *d, const ParamShard *shard);
void params_free(ParamTable *pt);

/* Index of the tensor called name, or -1. */
int params_find(const ParamTable *pt, const char *name);

/* Fill buf (pt->numel floats) with the initial weights: N(0, 0.02²) for matrices, 1 for
 * RMSNorm weights, 0 for vocab padding rows. Element e of tensor "name" gets
 * rng_normal(seed, hash(name), global row-major index of e) whatever the split. */
void params_init(const ParamTable *pt, float *buf, uint64_t seed);

/* Vocabulary padding rule shared by every tool. */
int params_padded_vocab(int V, int tp_size);

#endif
