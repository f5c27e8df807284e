/* hfconvert: HF Llama directories in and out. The parameter table's names are HF's names, so
 * the mapping is the identity plus three HF habits: a tied model may store lm_head.weight as
 * well, old checkpoints store rotary inv_freq buffers, and HF shapes hold the true vocabulary
 * where our table's pieces hold it padded. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomicfile.h"
#include "hfconfig.h"
#include "hfconvert.h"
#include "progress.h"

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

/* Every value of tensor t (converted to x) is finite, else an error naming the file, the tensor
 * and the first bad element: a NaN or Inf imported would surface only as a loss of nan, which
 * reads like a learning-rate problem. The first pass only accumulates (it vectorises); the
 * element is searched for on failure. */
static int check_finite(const StFile *f, const StTensor *t, const float *x, Error *err)
{
    int64_t n = (int64_t)t->numel;
    int ok = 1;
    for (int64_t i = 0; i < n; i++)
        ok &= fabsf(x[i]) <= FLT_MAX; /* false for NaN and for ±Inf */
    if (ok)
        return PT_OK;
    int64_t i = 0;
    while (isfinite(x[i]))
        i++;
    char where[64] = "";
    if (t->ndim == 2)
        snprintf(where, sizeof where, " (row %lld, column %lld)", (long long)(i / t->shape[1]),
                 (long long)(i % t->shape[1]));
    return err_set(err, PT_EINPUT, "%s: tensor %s: element %lld%s is %s; an imported model must "
                   "hold finite values", f->path, t->name, (long long)i, where,
                   isnan(x[i]) ? "nan" : x[i] > 0 ? "inf" : "-inf");
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
        progress_note("reading", i, pt->n, p->name);
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
        else {
            st_to_f32(t, params + p->offset);
            rc = check_finite(f, t, params + p->offset, err);
        }
        if (src_dtype && !strcmp(p->name, "model.embed_tokens.weight"))
            *src_dtype = t->dtype;
    }
    progress_done();
    for (int k = 0; !rc && k < m.nfiles; k++)
        for (int j = 0; !rc && j < m.files[k].n; j++)
            if (params_find(pt, m.files[k].t[j].name) < 0)
                rc = extra_tensor(pt, params, &m.files[k], &m.files[k].t[j], err);
    st_model_close(&m);
    return rc;
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
    char *text = hfconfig_text(&pt->dims, dtype);
    rc = atomic_write_file(path, text, strlen(text), err);
    free(text);
    return rc;
}
