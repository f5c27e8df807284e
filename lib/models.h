/* models: built-in Llama-family presets with their published dimensions, their hub names, and
 * reading an HF config.json from a local directory. */
#ifndef PICOTRON_MODELS_H
#define PICOTRON_MODELS_H

#include "config.h"

typedef struct {
    const char *name;        /* our preset name, e.g. "smollm-135m" */
    const char *hub_names;   /* space-separated HF hub names that resolve to it */
    ModelDims dims;
} ModelPreset;

/* The preset table (terminated by name == NULL). */
const ModelPreset *models_presets(void);

/* Resolve a model.name: a preset name or hub name (case-insensitive), or a local directory
 * holding an HF config.json. Error (PT_EINPUT) names the model and lists the presets. */
int models_resolve(const char *name, ModelDims *dims, Error *err);

/* Read an HF LlamaForCausalLM config.json from dir (dir/config.json). */
int models_read_hf_config(const char *dir, ModelDims *dims, Error *err);

/* Parameter count (with embeddings; the lm head counted only when untied). */
int64_t models_num_params(const ModelDims *d);

#endif
