/* hfconfig: an HF LlamaForCausalLM config.json, both ways. The one reader every tool goes
 * through (model.name as a directory, create-config, convert-hf): it reads the dimensions and
 * refuses what our Llama does not compute. The writer gives convert-hf export's config.json. */
#ifndef PICOTRON_HFCONFIG_H
#define PICOTRON_HFCONFIG_H

#include "error.h"
#include "models.h"
#include "safetensors.h"

/* Read dir/config.json into dims (LlamaConfig's defaults for absent optional keys). Refused
 * (PT_EINPUT, one line naming dir/config.json and the key): invalid JSON; model_type other
 * than "llama"; architectures other than ["LlamaForCausalLM"]; a missing or non-integer
 * dimension; hidden_act other than "silu"; quantization_config; torch_dtype / dtype other than
 * float32, float16, bfloat16; a non-null rope_scaling; rope_parameters with a rope_type other
 * than "default" or a rope_theta that disagrees with the top-level one; attention_bias /
 * mlp_bias true; head_dim other than hidden_size / num_attention_heads. dims is untouched on
 * error. Reference: docs/convert-hf.md. */
int hfconfig_read(const char *dir, ModelDims *dims, Error *err);

/* The config.json text of dims (caller frees; ends in a newline), torch_dtype of dtype:
 * what hfconfig_read reads back to the same dims. */
char *hfconfig_text(const ModelDims *d, StDtype dtype);

#endif
