/* models: the preset table (dimensions as published in each model's HF config.json), name
 * resolution, the HF config.json reader and the parameter count. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

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
        return models_read_hf_config(name, dims, err);
    char list[512] = "";
    for (p = PRESETS; p->name; p++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", p == PRESETS ? "" : ", ",
                 p->name);
    return err_set(err, PT_EINPUT,
                   "model.name: unknown model \"%s\"; presets: %s; or a directory holding an HF "
                   "config.json",
                   name, list);
}

/* HF config.json integer fields. A JSON integer or, as lib/config accepts for its integer keys,
 * a real with no fractional part (4096.0 is the number 4096); anything else (32.5, "32", true)
 * is refused rather than read as something else or skipped. */
static int hf_int(const json_t *root, const char *file, const char *key, int def, int *out,
                  Error *err)
{
    const json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        if (def < 0)
            return err_set(err, PT_EINPUT, "%s: %s: missing", file, key);
        *out = def;
        return PT_OK;
    }
    double x = json_is_integer(v) ? (double)json_integer_value(v)
             : json_is_real(v)    ? json_real_value(v)
                                  : 0;
    /* the range first: (int)x of a double outside int is undefined */
    if (!(x > 0 && x <= 1 << 30) || x != (int)x)
        return err_set(err, PT_EINPUT, "%s: %s: expected a positive integer", file, key);
    *out = (int)x;
    return PT_OK;
}

/* HF config.json boolean fields: true, false, or absent/null (false). A string "true" is not a
 * boolean in transformers either. */
static int hf_bool(const json_t *root, const char *file, const char *key, int *out, Error *err)
{
    const json_t *v = json_object_get(root, key);
    if (v && !json_is_null(v) && !json_is_boolean(v))
        return err_set(err, PT_EINPUT, "%s: %s: expected true or false", file, key);
    *out = json_is_true(v);
    return PT_OK;
}

static int hf_real(const json_t *root, const char *file, const char *key, double def, double *out,
                   Error *err)
{
    const json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return PT_OK;
    }
    if (!json_is_number(v) || json_number_value(v) <= 0)
        return err_set(err, PT_EINPUT, "%s: %s: expected a positive number", file, key);
    *out = json_number_value(v);
    return PT_OK;
}

/* Architecture variants our Llama does not implement are refused rather than mis-trained. */
static int hf_check_supported(const json_t *root, const char *file, const ModelDims *d, Error *err)
{
    const json_t *type = json_object_get(root, "model_type");
    if (type && !(json_is_string(type) && strcmp(json_string_value(type), "llama") == 0))
        return err_set(err, PT_EINPUT, "%s: model_type: only \"llama\" is supported", file);
    const json_t *scaling = json_object_get(root, "rope_scaling");
    if (scaling && !json_is_null(scaling))
        return err_set(err, PT_EINPUT, "%s: rope_scaling: not supported (plain RoPE only)", file);
    int attention_bias = 0, mlp_bias = 0, head_dim = 0;
    if (hf_bool(root, file, "attention_bias", &attention_bias, err) ||
        hf_bool(root, file, "mlp_bias", &mlp_bias, err))
        return err->code;
    if (attention_bias || mlp_bias)
        return err_set(err, PT_EINPUT, "%s: attention_bias/mlp_bias: biases are not supported",
                       file);
    /* optional: 0 (absent) skips the check */
    if (hf_int(root, file, "head_dim", 0, &head_dim, err))
        return err->code;
    if (head_dim && (int64_t)head_dim * d->num_attention_heads != d->hidden_size)
        return err_set(err, PT_EINPUT, "%s: head_dim: must be hidden_size / num_attention_heads",
                       file);
    return PT_OK;
}

/* Missing optional fields take HF LlamaConfig's defaults. */
static int hf_dims(const json_t *root, const char *file, ModelDims *d, Error *err)
{
    if (hf_int(root, file, "hidden_size", -1, &d->hidden_size, err) ||
        hf_int(root, file, "intermediate_size", -1, &d->intermediate_size, err) ||
        hf_int(root, file, "num_hidden_layers", -1, &d->num_hidden_layers, err) ||
        hf_int(root, file, "num_attention_heads", -1, &d->num_attention_heads, err) ||
        hf_int(root, file, "vocab_size", -1, &d->vocab_size, err) ||
        hf_int(root, file, "num_key_value_heads", d->num_attention_heads,
               &d->num_key_value_heads, err) ||
        hf_int(root, file, "max_position_embeddings", 2048, &d->max_position_embeddings, err) ||
        hf_real(root, file, "rope_theta", 10000.0, &d->rope_theta, err) ||
        hf_real(root, file, "rms_norm_eps", 1e-6, &d->rms_norm_eps, err) ||
        hf_bool(root, file, "tie_word_embeddings", &d->tie_word_embeddings, err))
        return err->code;
    return hf_check_supported(root, file, d, err);
}

int models_read_hf_config(const char *dir, ModelDims *dims, Error *err)
{
    char file[1200];
    snprintf(file, sizeof file, "%s/config.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(file, 0, &jerr);
    if (!root && jerr.line < 1)
        return err_set(err, PT_EINPUT, "%s: %s", file, jerr.text);
    if (!root)
        return err_set(err, PT_EINPUT, "%s:%d:%d: invalid JSON: %s", file, jerr.line, jerr.column,
                       jerr.text);
    ModelDims d;
    memset(&d, 0, sizeof d);
    int rc = json_is_object(root)
                 ? hf_dims(root, file, &d, err)
                 : err_set(err, PT_EINPUT, "%s: expected a JSON object", file);
    json_decref(root);
    if (rc == PT_OK)
        *dims = d;
    return rc;
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
