/* params: building the parameter table and mesh-independent initialisation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "params.h"
#include "rng.h"

#define INIT_STD 0.02

const char *const params_layer_suffix[PARAMS_PER_LAYER] = {
    "input_layernorm.weight",  "self_attn.q_proj.weight",         "self_attn.k_proj.weight",
    "self_attn.v_proj.weight", "self_attn.o_proj.weight",         "post_attention_layernorm.weight",
    "mlp.gate_proj.weight",    "mlp.up_proj.weight",              "mlp.down_proj.weight",
};

int params_padded_vocab(int V, int tp_size)
{
    int m = 128 * tp_size;
    return (V + m - 1) / m * m;
}

ParamShard params_shard_single(const ModelDims *d)
{
    ParamShard s = {0, 1, 0, d->num_hidden_layers, 1, 1};
    return s;
}

static void add(ParamTable *pt, int *cap, const char *name, int ndim, int64_t rows, int64_t cols,
                Split split, int layer, int is_norm)
{
    if (pt->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        ParamInfo *t = realloc(pt->t, (size_t)*cap * sizeof *t);
        if (!t) {
            fprintf(stderr, "picotron: out of memory building the parameter table\n");
            exit(PT_ERUNTIME);
        }
        pt->t = t;
    }
    ParamInfo *p = &pt->t[pt->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = ndim;
    p->shape[0] = rows;
    p->shape[1] = ndim == 2 ? cols : 1;
    p->split = split;
    p->layer = layer;
    p->is_norm = is_norm;
    p->local_shape[0] = p->shape[0];
    p->local_shape[1] = p->shape[1];
    p->valid_rows = p->shape[0];

    int tp = pt->shard.tp_size, r = pt->shard.tp_rank;
    if (split == SPLIT_ROWS) {
        p->local_shape[0] = rows / tp;
        p->local_offset[0] = r * p->local_shape[0];
        p->valid_rows = p->local_shape[0];
    } else if (split == SPLIT_COLS) {
        p->local_shape[1] = cols / tp;
        p->local_offset[1] = r * p->local_shape[1];
    } else if (split == SPLIT_VOCAB) {
        int64_t per = pt->V_pad / tp;
        int64_t begin = r * per;
        p->local_shape[0] = per;
        p->local_offset[0] = begin;
        p->valid_rows = rows - begin < 0 ? 0 : (rows - begin > per ? per : rows - begin);
    }
    p->numel = (size_t)(p->local_shape[0] * p->local_shape[1]);
    p->offset = pt->numel;
    pt->numel += p->numel;
}

void params_build(ParamTable *pt, const ModelDims *d, const ParamShard *shard)
{
    memset(pt, 0, sizeof *pt);
    pt->dims = *d;
    pt->shard = *shard;
    pt->V_pad = params_padded_vocab(d->vocab_size, shard->tp_size);
    int cap = 0;
    int64_t C = d->hidden_size, F = d->intermediate_size, V = d->vocab_size;
    int64_t D = C / d->num_attention_heads;
    int64_t HD = d->num_attention_heads * D, KD = d->num_key_value_heads * D;
    char name[96];

    if (shard->has_embed || (shard->has_head && d->tie_word_embeddings))
        add(pt, &cap, "model.embed_tokens.weight", 2, V, C, SPLIT_VOCAB, -1, 0);
    for (int l = shard->layer_begin; l < shard->layer_end; l++) {
#define LAYER(i, nd, r, c, split, norm)                                          \
    snprintf(name, sizeof name, "model.layers.%d.%s", l, params_layer_suffix[i]); \
    add(pt, &cap, name, nd, r, c, split, l, norm)
        LAYER(0, 1, C, 1, SPLIT_NONE, 1);   /* input_layernorm */
        LAYER(1, 2, HD, C, SPLIT_ROWS, 0);  /* q_proj */
        LAYER(2, 2, KD, C, SPLIT_ROWS, 0);  /* k_proj */
        LAYER(3, 2, KD, C, SPLIT_ROWS, 0);  /* v_proj */
        LAYER(4, 2, C, HD, SPLIT_COLS, 0);  /* o_proj */
        LAYER(5, 1, C, 1, SPLIT_NONE, 1);   /* post_attention_layernorm */
        LAYER(6, 2, F, C, SPLIT_ROWS, 0);   /* gate_proj */
        LAYER(7, 2, F, C, SPLIT_ROWS, 0);   /* up_proj */
        LAYER(8, 2, C, F, SPLIT_COLS, 0);   /* down_proj */
#undef LAYER
    }
    if (shard->has_head) {
        add(pt, &cap, "model.norm.weight", 1, C, 1, SPLIT_NONE, -1, 1);
        if (!d->tie_word_embeddings)
            add(pt, &cap, "lm_head.weight", 2, V, C, SPLIT_VOCAB, -1, 0);
    }
}

void params_free(ParamTable *pt)
{
    free(pt->t);
    memset(pt, 0, sizeof *pt);
}

int params_find(const ParamTable *pt, const char *name)
{
    for (int i = 0; i < pt->n; i++)
        if (strcmp(pt->t[i].name, name) == 0)
            return i;
    return -1;
}

void params_init(const ParamTable *pt, float *buf, uint64_t seed)
{
    for (int i = 0; i < pt->n; i++) {
        const ParamInfo *p = &pt->t[i];
        float *w = buf + p->offset;
        uint64_t stream = rng_name_hash(p->name);
        int64_t rows = p->local_shape[0], cols = p->local_shape[1];
        #pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            float *row = w + r * cols;
            int64_t gr = p->local_offset[0] + r, gc = p->local_offset[1];
            if (r >= p->valid_rows) {
                memset(row, 0, (size_t)cols * sizeof(float));
            } else if (p->is_norm) {
                for (int64_t c = 0; c < cols; c++)
                    row[c] = 1.0f;
            } else { /* (float)(INIT_STD · rng_normal(counter = global row-major index)) */
                rng_normal_floats(row, cols, seed, stream, (uint64_t)(gr * p->shape[1] + gc),
                                  INIT_STD);
            }
        }
    }
}
