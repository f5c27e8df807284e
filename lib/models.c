/* models: the preset table (dimensions as published in each model's HF config.json), name
 * resolution (a directory goes to hfconfig, the one HF config.json reader) and the parameter
 * count. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "hfconfig.h"
#include "models.h"

/*  L, C, H, K, F, V, max_pos, rope_theta, rms_norm_eps, tied */
#define DIMS(L, C, H, K, F, V, P, THETA, TIE) \
    { L, C, H, K, F, V, P, THETA, 1e-5, TIE }

static const ModelPreset PRESETS[] = {
    {"smollm-135m", "HuggingFaceTB/SmolLM-135M HuggingFaceTB/SmolLM-135M-Instruct",
     DIMS(30, 576, 9, 3, 1536, 49152, 2048, 10000.0, 1)},
    {"smollm-360m", "HuggingFaceTB/SmolLM-360M HuggingFaceTB/SmolLM-360M-Instruct",
     DIMS(32, 960, 15, 5, 2560, 49152, 2048, 10000.0, 1)},
    {"smollm-1.7b", "HuggingFaceTB/SmolLM-1.7B HuggingFaceTB/SmolLM-1.7B-Instruct",
     DIMS(24, 2048, 32, 32, 8192, 49152, 2048, 10000.0, 1)},
    {"tinyllama-1.1b", "TinyLlama/TinyLlama-1.1B-Chat-v1.0 TinyLlama/TinyLlama_v1.1 "
                       "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T",
     DIMS(22, 2048, 32, 4, 5632, 32000, 2048, 10000.0, 0)},
    {"llama-2-7b", "meta-llama/Llama-2-7b-hf meta-llama/Llama-2-7b-chat-hf",
     DIMS(32, 4096, 32, 32, 11008, 32000, 4096, 10000.0, 0)},
    {"llama-3-8b", "meta-llama/Meta-Llama-3-8B meta-llama/Meta-Llama-3-8B-Instruct",
     DIMS(32, 4096, 32, 8, 14336, 128256, 8192, 500000.0, 0)},
    /* test models: train in seconds; tiny-mesh has 5 layers and 8/4 heads so that odd pp
     * splits and tp up to 4 are exercised, and V = 300 needs vocab padding */
    {"tiny", "", DIMS(2, 64, 4, 2, 128, 256, 1024, 10000.0, 0)},
    {"tiny-tied", "", DIMS(2, 64, 4, 2, 128, 256, 1024, 10000.0, 1)},
    {"tiny-mesh", "", DIMS(5, 64, 8, 4, 128, 300, 1024, 10000.0, 0)},
    {NULL, NULL, DIMS(0, 0, 0, 0, 0, 0, 0, 0.0, 0)},
};

const ModelPreset *models_presets(void) { return PRESETS; }

/* Is name one of the space-separated words of list (case-insensitive)? */
static int in_list(const char *name, const char *list)
{
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        size_t w = strcspn(p, " ");
        if (w == n && strncasecmp(p, name, n) == 0)
            return 1;
        p += w;
        p += strspn(p, " ");
    }
    return 0;
}

static const ModelPreset *find_preset(const char *name)
{
    for (const ModelPreset *p = PRESETS; p->name; p++)
        if (strcasecmp(p->name, name) == 0 || in_list(name, p->hub_names))
            return p;
    return NULL;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int models_resolve(const char *name, ModelDims *dims, Error *err)
{
    const ModelPreset *p = find_preset(name);
    if (p) {
        *dims = p->dims;
        return PT_OK;
    }
    if (is_dir(name))
        return hfconfig_read(name, dims, err);
    char list[512] = "";
    for (p = PRESETS; p->name; p++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", p == PRESETS ? "" : ", ",
                 p->name);
    return err_set(err, PT_EINPUT,
                   "model.name: unknown model \"%s\"; presets: %s; or a directory holding an HF "
                   "config.json",
                   name, list);
}

int64_t models_num_params(const ModelDims *d)
{
    int64_t C = d->hidden_size, F = d->intermediate_size, V = d->vocab_size;
    int64_t D = C / d->num_attention_heads;
    int64_t q = D * d->num_attention_heads, kv = D * d->num_key_value_heads;
    /* two RMSNorms, q/k/v/o projections, gate/up/down */
    int64_t layer = 2 * C + C * q + 2 * C * kv + q * C + 3 * C * F;
    return V * C + d->num_hidden_layers * layer + C + (d->tie_word_embeddings ? 0 : V * C);
}
