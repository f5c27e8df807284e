/* models: built-in Llama-family presets with their published dimensions and their hub names;
 * model.name resolution (a local directory is read by hfconfig_read). */
#ifndef PICOTRON_MODELS_H
#define PICOTRON_MODELS_H

#include <stdint.h>

#include "error.h"

/* The architecture of a Llama-family model: what a preset or an HF config.json gives. */
typedef struct {
    int num_hidden_layers;       /* L */
    int hidden_size;             /* C */
    int num_attention_heads;     /* H */
    int num_key_value_heads;     /* K (GQA: H % K == 0) */
    int intermediate_size;       /* F */
    int vocab_size;              /* V, the true vocabulary (padding is internal) */
    int max_position_embeddings;
    double rope_theta;
    double rms_norm_eps;
    int tie_word_embeddings;     /* 0/1 */
} ModelDims;

typedef struct {
    const char *name;        /* our preset name, e.g. "smollm-135m" */
    const char *hub_names;   /* space-separated HF hub names that resolve to it */
    ModelDims dims;
} ModelPreset;

/* The preset table (terminated by name == NULL). */
const ModelPreset *models_presets(void);

/* Resolve a model.name: a preset name or hub name (case-insensitive), or a local directory
 * holding an HF config.json (hfconfig_read, with its refusals). An unknown name is PT_EINPUT
 * naming the model and listing the presets. */
int models_resolve(const char *name, ModelDims *dims, Error *err);

/* Parameter count (with embeddings; the lm head counted only when untied). */
int64_t models_num_params(const ModelDims *d);

#endif
