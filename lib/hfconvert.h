/* hfconvert: HF LlamaForCausalLM weights (safetensors) to and from picotron's parameter table,
 * the name mapping that picotron-convert-hf and the tests share; config.json is hfconfig's.
 * Reference: docs/convert-hf.md. */
#ifndef PICOTRON_HFCONVERT_H
#define PICOTRON_HFCONVERT_H

#include <stdint.h>

#include "error.h"
#include "models.h"
#include "params.h"
#include "safetensors.h"

/* Fill params (pt->numel floats; pt built with params_shard_single) from the safetensors of
 * dir. Every tensor of the table must be there with its HF shape; a tied model may also carry
 * lm_head.weight when it equals the embedding; rotary inv_freq buffers are skipped; any other
 * tensor (biases, other layers) is refused. Vocab padding rows are set to zero. *src_dtype gets
 * the dtype of the embedding (NULL: not wanted). */
int hf_load_weights(const char *dir, const ParamTable *pt, float *params, StDtype *src_dtype,
                    Error *err);

/* Write config.json and the weights (single file or shards + index, __metadata__ format pt)
 * of pt/params into the existing directory dir. */
int hf_save(const char *dir, const ParamTable *pt, const float *params, StDtype dtype,
            uint64_t max_shard_bytes, Error *err);

#endif
