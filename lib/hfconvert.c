/* hfconvert: HF Llama directories in and out. The parameter table's names are HF's names, so
 * the mapping is the identity plus three HF habits: a tied model may store lm_head.weight as
 * well, old checkpoints store rotary inv_freq buffers, and HF shapes hold the true vocabulary
 * where our table's pieces hold it padded. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomicfile.h"
#include "hfconvert.h"
#include "models.h"

static const char *const torch_dtypes[] = {"float32", "float16", "bfloat16"};

static int is_str(const json_t *v, const char *s)
{
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}

/* What models_read_hf_config does not look at; architecture first, so a config of another
 * family is named as such rather than as a missing Llama key. */
static int check_architecture(const json_t *root, const char *file, Error *err)
{
    const json_t *type = json_object_get(root, "model_type");
    if (type && !is_str(type, "llama"))
        return err_set(err, PT_EINPUT, "%s: model_type \"%s\": only \"llama\" "
                       "(LlamaForCausalLM) is supported", file,
                       json_is_string(type) ? json_string_value(type) : "?");
    const json_t *arch = json_object_get(root, "architectures");
    if (arch && !json_is_null(arch)) {
        size_t i;
        const json_t *a;
        int ok = json_is_array(arch) && json_array_size(arch) > 0;
        json_array_foreach(arch, i, a)
            ok = ok && is_str(a, "LlamaForCausalLM");
        if (!ok)
            return err_set(err, PT_EINPUT, "%s: architectures: only [\"LlamaForCausalLM\"] is "
                           "supported", file);
    }
    return PT_OK;
}

static int check_features(const json_t *root, const char *file, ModelDims *d, Error *err)
{
    const json_t *act = json_object_get(root, "hidden_act");
    if (act && !is_str(act, "silu"))
        return err_set(err, PT_EINPUT, "%s: hidden_act: only \"silu\" is supported", file);
    const json_t *q = json_object_get(root, "quantization_config");
    if (q && !json_is_null(q))
        return err_set(err, PT_EINPUT, "%s: quantization_config: quantized weights are not "
                       "supported", file);
    const char *keys[] = {"torch_dtype", "dtype"};
    for (int k = 0; k < 2; k++) {
        const json_t *v = json_object_get(root, keys[k]);
        int ok = !v || json_is_null(v);
        for (int i = 0; i < 3 && !ok; i++)
            ok = is_str(v, torch_dtypes[i]);
        if (!ok)
            return err_set(err, PT_EINPUT, "%s: %s: expected float32, float16 or bfloat16", file,
                           keys[k]);
    }
    /* newer transformers: rope_parameters {"rope_type", "rope_theta", ...} */
    const json_t *rp = json_object_get(root, "rope_parameters");
    if (!rp || json_is_null(rp))
        return PT_OK;
    const json_t *rt = json_object_get(rp, "rope_type");
    if (!json_is_object(rp) || (rt && !is_str(rt, "default")))
        return err_set(err, PT_EINPUT, "%s: rope_parameters: only rope_type \"default\" (plain "
                       "RoPE) is supported", file);
    const json_t *theta = json_object_get(rp, "rope_theta"), *top = json_object_get(root, "rope_theta");
    if (theta && (!json_is_number(theta) || json_number_value(theta) <= 0))
        return err_set(err, PT_EINPUT, "%s: rope_parameters.rope_theta: expected a positive "
                       "number", file);
    if (theta && top && json_number_value(top) != json_number_value(theta))
        return err_set(err, PT_EINPUT, "%s: rope_theta %g and rope_parameters.rope_theta %g "
                       "disagree", file, json_number_value(top), json_number_value(theta));
    if (theta)
        d->rope_theta = json_number_value(theta);
    return PT_OK;
}

int hf_read_config(const char *dir, ModelDims *dims, Error *err)
{
    char file[4200];
    snprintf(file, sizeof file, "%s/config.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(file, 0, &jerr);
    if (!root) /* models_read_hf_config words it */
        return models_read_hf_config(dir, dims, err);
    int rc = json_is_object(root) ? check_architecture(root, file, err) : PT_OK;
    if (!rc)
        rc = models_read_hf_config(dir, dims, err);
    if (!rc)
        rc = check_features(root, file, dims, err);
    json_decref(root);
    return rc;
}

/* "[a, b, ...]", cut short with "..." when it does not fit (shapes come from files). */
static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t len = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && len < n; i++)
        len += (size_t)snprintf(buf + len, n - len, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (len + 2 <= n)
        snprintf(buf + len, n - len, "]");
    else if (n >= 4)
        snprintf(buf + n - 4, 4, "...");
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* A tensor of the files that is not in the table: skipped, or why it is refused. */
static int extra_tensor(const ParamTable *pt, const float *params, const StFile *f,
                        const StTensor *t, Error *err)
{
    if (ends_with(t->name, "rotary_emb.inv_freq"))
        return PT_OK;
    if (pt->dims.tie_word_embeddings && !strcmp(t->name, "lm_head.weight")) {
        const ParamInfo *e = &pt->t[params_find(pt, "model.embed_tokens.weight")];
        int same = t->ndim == 2 && t->shape[0] == e->shape[0] && t->shape[1] == e->shape[1];
        float *tmp = same ? xmalloc((size_t)t->numel * sizeof *tmp) : NULL;
        if (same) {
            st_to_f32(t, tmp);
            same = memcmp(tmp, params + e->offset, (size_t)t->numel * sizeof *tmp) == 0;
        }
        free(tmp);
        return same ? PT_OK
                    : err_set(err, PT_EINPUT, "%s: tensor lm_head.weight differs from "
                              "model.embed_tokens.weight, but config.json says "
                              "tie_word_embeddings: true", f->path);
    }
    if (ends_with(t->name, ".bias"))
        return err_set(err, PT_EINPUT, "%s: tensor %s: biases are not supported", f->path, t->name);
    return err_set(err, PT_EINPUT, "%s: unexpected tensor %s (not part of a LlamaForCausalLM with "
                   "this config.json)", f->path, t->name);
}

int hf_load_weights(const char *dir, const ParamTable *pt, float *params, StDtype *src_dtype,
                    Error *err)
{
    StModel m;
    if (st_model_open(&m, dir, err))
        return err->code;
    int rc = PT_OK;
    memset(params, 0, pt->numel * sizeof *params); /* vocab padding rows stay zero */
    for (int i = 0; !rc && i < pt->n; i++) {
        const ParamInfo *p = &pt->t[i];
        const StFile *f = NULL;
        const StTensor *t = st_model_find(&m, p->name, &f);
        char want[64], got[64];
        shape_str(want, sizeof want, p->ndim, p->shape);
        if (!t) {
            rc = err_set(err, PT_EINPUT, "%s: tensor %s %s is missing from %s", dir, p->name, want,
                         m.index_path[0] ? m.index_path : m.files[0].path);
            break;
        }
        shape_str(got, sizeof got, t->ndim, t->shape);
        if (t->ndim != p->ndim || t->shape[0] != p->shape[0] ||
            (p->ndim == 2 && t->shape[1] != p->shape[1]))
            rc = err_set(err, PT_EINPUT, "%s: tensor %s has shape %s, config.json implies %s "
                         "(byte offset %zu)", f->path, p->name, got, want, t->file_offset);
        else
            st_to_f32(t, params + p->offset);
        if (src_dtype && !strcmp(p->name, "model.embed_tokens.weight"))
            *src_dtype = t->dtype;
    }
    for (int k = 0; !rc && k < m.nfiles; k++)
        for (int j = 0; !rc && j < m.files[k].n; j++)
            if (params_find(pt, m.files[k].t[j].name) < 0)
                rc = extra_tensor(pt, params, &m.files[k], &m.files[k].t[j], err);
    st_model_close(&m);
    return rc;
}

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

char *hf_config_json(const ModelDims *d, StDtype dtype)
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

int hf_save(const char *dir, const ParamTable *pt, const float *params, StDtype dtype,
            uint64_t max_shard_bytes, Error *err)
{
    StOut *out = xcalloc((size_t)pt->n, sizeof *out);
    for (int i = 0; i < pt->n; i++) {
        const ParamInfo *p = &pt->t[i];
        out[i].name = p->name;
        out[i].ndim = p->ndim;
        out[i].shape[0] = p->shape[0];   /* the true vocabulary: padding rows come last */
        out[i].shape[1] = p->shape[1];
        out[i].data = params + p->offset;
    }
    int rc = st_write_model(dir, out, pt->n, dtype, max_shard_bytes, NULL, err);
    free(out);
    if (rc)
        return rc;
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = hf_config_json(&pt->dims, dtype);
    rc = atomic_write_file(path, text, strlen(text), err);
    free(text);
    return rc;
}
