/* hfconfig: the HF config.json reader every tool uses (dimensions + refusals of what our Llama
 * does not compute, so that no tool trains a GELU or rope-scaled model as a plain SiLU Llama)
 * and the writer of convert-hf export. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hfconfig.h"
#include "jsonin.h"

/* indexed by StDtype */
static const char *const torch_dtypes[] = {"float32", "float16", "bfloat16"};

static int is_str(const json_t *v, const char *s)
{
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/* Absent and null mean the same in HF configs: "not set". */
static int is_set(const json_t *v) { return v && !json_is_null(v); }

/* v as compact JSON for a message ("gelu" with its quotes), cut short with "..." when long. */
static void json_brief(const json_t *v, char *buf, size_t n)
{
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(buf, n, "%s", text ? text : "?");
    if (text && strlen(text) >= n && n >= 4)
        memcpy(buf + n - 4, "...", 4);
    free(text);
}

/* ---- the dimensions ---- */

/* Integer keys: a JSON integer or, as lib/config accepts for its integer keys, a real with no
 * fractional part (4096.0 is the number 4096); anything else (32.5, "32", true) is refused
 * rather than read as something else or skipped. def < 0: the key is required. */
static int read_int(const json_t *root, const char *file, const char *key, int def, int *out,
                    Error *err)
{
    const json_t *v = json_object_get(root, key);
    if (!is_set(v)) {
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

/* Boolean keys: true, false, or absent/null (false). A string "true" is not a boolean in
 * transformers either. */
static int read_bool(const json_t *root, const char *file, const char *key, int *out, Error *err)
{
    const json_t *v = json_object_get(root, key);
    if (is_set(v) && !json_is_boolean(v))
        return err_set(err, PT_EINPUT, "%s: %s: expected true or false", file, key);
    *out = json_is_true(v);
    return PT_OK;
}

/* key is the name a message gives: "rope_parameters.rope_theta" for a nested one. */
static int read_real(const json_t *v, const char *file, const char *key, double def, double *out,
                     Error *err)
{
    if (!is_set(v)) {
        *out = def;
        return PT_OK;
    }
    if (!json_is_number(v) || json_number_value(v) <= 0)
        return err_set(err, PT_EINPUT, "%s: %s: expected a positive number", file, key);
    *out = json_number_value(v);
    return PT_OK;
}

/* Missing optional keys take HF LlamaConfig's defaults. */
static int read_dims(const json_t *root, const char *file, ModelDims *d, Error *err)
{
    if (read_int(root, file, "hidden_size", -1, &d->hidden_size, err) ||
        read_int(root, file, "intermediate_size", -1, &d->intermediate_size, err) ||
        read_int(root, file, "num_hidden_layers", -1, &d->num_hidden_layers, err) ||
        read_int(root, file, "num_attention_heads", -1, &d->num_attention_heads, err) ||
        read_int(root, file, "vocab_size", -1, &d->vocab_size, err) ||
        read_int(root, file, "num_key_value_heads", d->num_attention_heads,
                 &d->num_key_value_heads, err) ||
        read_int(root, file, "max_position_embeddings", 2048, &d->max_position_embeddings, err) ||
        read_real(json_object_get(root, "rope_theta"), file, "rope_theta", 10000.0,
                  &d->rope_theta, err) ||
        read_real(json_object_get(root, "rms_norm_eps"), file, "rms_norm_eps", 1e-6,
                  &d->rms_norm_eps, err) ||
        read_bool(root, file, "tie_word_embeddings", &d->tie_word_embeddings, err))
        return err->code;
    return PT_OK;
}

/* ---- the refusals ---- */

/* First, so that a config of another family is named as such rather than as a missing Llama
 * key. */
static int check_architecture(const json_t *root, const char *file, Error *err)
{
    char got[128];
    const json_t *type = json_object_get(root, "model_type");
    if (type && !is_str(type, "llama")) {
        json_brief(type, got, sizeof got);
        return err_set(err, PT_EINPUT, "%s: model_type %s: only \"llama\" (LlamaForCausalLM) is "
                       "supported", file, got);
    }
    const json_t *arch = json_object_get(root, "architectures");
    if (!is_set(arch))
        return PT_OK;
    size_t i;
    const json_t *a;
    int ok = json_is_array(arch) && json_array_size(arch) > 0;
    json_array_foreach(arch, i, a)
        ok = ok && is_str(a, "LlamaForCausalLM");
    if (ok)
        return PT_OK;
    json_brief(arch, got, sizeof got);
    return err_set(err, PT_EINPUT, "%s: architectures %s: only [\"LlamaForCausalLM\"] is supported",
                   file, got);
}

/* The block: SiLU MLP, no biases, full-precision weights, head_dim = C / H. */
static int check_block(const json_t *root, const char *file, const ModelDims *d, Error *err)
{
    char got[128];
    const json_t *act = json_object_get(root, "hidden_act");
    if (act && !is_str(act, "silu")) {
        json_brief(act, got, sizeof got);
        return err_set(err, PT_EINPUT, "%s: hidden_act %s: only \"silu\" is supported", file, got);
    }
    if (is_set(json_object_get(root, "quantization_config")))
        return err_set(err, PT_EINPUT, "%s: quantization_config: quantized weights are not "
                       "supported", file);
    const char *keys[] = {"torch_dtype", "dtype"};
    for (int k = 0; k < 2; k++) {
        const json_t *v = json_object_get(root, keys[k]);
        int ok = !is_set(v);
        for (int i = 0; i < 3 && !ok; i++)
            ok = is_str(v, torch_dtypes[i]);
        if (!ok)
            return err_set(err, PT_EINPUT, "%s: %s: expected float32, float16 or bfloat16", file,
                           keys[k]);
    }
    int attention_bias = 0, mlp_bias = 0, head_dim = 0;
    if (read_bool(root, file, "attention_bias", &attention_bias, err) ||
        read_bool(root, file, "mlp_bias", &mlp_bias, err))
        return err->code;
    if (attention_bias || mlp_bias)
        return err_set(err, PT_EINPUT, "%s: attention_bias/mlp_bias: biases are not supported",
                       file);
    /* optional: 0 (absent) skips the check */
    if (read_int(root, file, "head_dim", 0, &head_dim, err))
        return err->code;
    if (head_dim && (int64_t)head_dim * d->num_attention_heads != d->hidden_size)
        return err_set(err, PT_EINPUT, "%s: head_dim: must be hidden_size / num_attention_heads",
                       file);
    return PT_OK;
}

/* Plain RoPE only. Older transformers write rope_scaling (null when plain), newer ones
 * rope_parameters {"rope_type", "rope_theta", ...}; the theta there is the model's theta. */
static int check_rope(const json_t *root, const char *file, ModelDims *d, Error *err)
{
    const json_t *scaling = json_object_get(root, "rope_scaling");
    if (is_set(scaling))
        return err_set(err, PT_EINPUT, "%s: rope_scaling: not supported (plain RoPE only)", file);
    const json_t *rp = json_object_get(root, "rope_parameters");
    if (!is_set(rp))
        return PT_OK;
    const json_t *type = json_is_object(rp) ? json_object_get(rp, "rope_type") : NULL;
    if (!json_is_object(rp) || (type && !is_str(type, "default")))
        return err_set(err, PT_EINPUT, "%s: rope_parameters: only rope_type \"default\" (plain "
                       "RoPE) is supported", file);
    const json_t *theta = json_object_get(rp, "rope_theta");
    const json_t *top = json_object_get(root, "rope_theta");
    if (!is_set(theta))
        return PT_OK;
    double t = 0;
    if (read_real(theta, file, "rope_parameters.rope_theta", 0, &t, err))
        return err->code;
    if (is_set(top) && d->rope_theta != t)
        return err_set(err, PT_EINPUT, "%s: rope_theta %g and rope_parameters.rope_theta %g "
                       "disagree", file, d->rope_theta, t);
    d->rope_theta = t;
    return PT_OK;
}

int hfconfig_read(const char *dir, ModelDims *dims, Error *err)
{
    char file[4200];
    snprintf(file, sizeof file, "%s/config.json", dir);
    json_t *root;
    int rc = jsonin_load_file(file, &root, err);
    if (rc)
        return rc;
    ModelDims d;
    memset(&d, 0, sizeof d);
    rc = json_is_object(root) ? PT_OK
                              : err_set(err, PT_EINPUT, "%s: expected a JSON object", file);
    if (!rc)
        rc = check_architecture(root, file, err);
    if (!rc)
        rc = read_dims(root, file, &d, err);
    if (!rc)
        rc = check_block(root, file, &d, err);
    if (!rc)
        rc = check_rope(root, file, &d, err);
    json_decref(root);
    if (rc == PT_OK)
        *dims = d;
    return rc;
}

/* ---- the writer ---- */

/* The fewest significant digits that print x so it reads back exactly (1e-05, not
 * 1.0000000000000001e-05 as %.17g gives). */
static int shortest_digits(double x)
{
    for (int p = 1; p < 17; p++) {
        char buf[40];
        snprintf(buf, sizeof buf, "%.*g", p, x);
        if (strtod(buf, NULL) == x)
            return p;
    }
    return 17;
}

char *hfconfig_text(const ModelDims *d, StDtype dtype)
{
    json_t *c = json_object();
    json_object_set_new(c, "architectures", json_pack("[s]", "LlamaForCausalLM"));
    json_object_set_new(c, "attention_bias", json_false());
    json_object_set_new(c, "attention_dropout", json_real(0.0));
    json_object_set_new(c, "hidden_act", json_string("silu"));
    json_object_set_new(c, "hidden_size", json_integer(d->hidden_size));
    json_object_set_new(c, "initializer_range", json_real(0.02));
    json_object_set_new(c, "intermediate_size", json_integer(d->intermediate_size));
    json_object_set_new(c, "max_position_embeddings", json_integer(d->max_position_embeddings));
    json_object_set_new(c, "mlp_bias", json_false());
    json_object_set_new(c, "model_type", json_string("llama"));
    json_object_set_new(c, "num_attention_heads", json_integer(d->num_attention_heads));
    json_object_set_new(c, "num_hidden_layers", json_integer(d->num_hidden_layers));
    json_object_set_new(c, "num_key_value_heads", json_integer(d->num_key_value_heads));
    json_object_set_new(c, "pretraining_tp", json_integer(1));
    json_object_set_new(c, "rms_norm_eps", json_real(d->rms_norm_eps));
    json_object_set_new(c, "rope_scaling", json_null());
    json_object_set_new(c, "rope_theta", json_real(d->rope_theta));
    json_object_set_new(c, "tie_word_embeddings", json_boolean(d->tie_word_embeddings));
    json_object_set_new(c, "torch_dtype", json_string(torch_dtypes[dtype]));
    json_object_set_new(c, "use_cache", json_true());
    json_object_set_new(c, "vocab_size", json_integer(d->vocab_size));
    int p1 = shortest_digits(d->rms_norm_eps), p2 = shortest_digits(d->rope_theta);
    int digits = p1 > p2 ? p1 : p2;
    char *text = json_dumps(c, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(digits > 6 ? digits : 6));
    json_decref(c);
    size_t n = strlen(text);
    char *out = xmalloc(n + 2);
    memcpy(out, text, n);
    memcpy(out + n, "\n", 2);
    free(text);
    return out;
}
