/* cfgreport: the --check report and the preset table, from a validated Config and its MemPlan. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cfgreport.h"
#include "llama.h"
#include "models.h"

#define MIB (1024.0 * 1024.0)

/* 12345678 -> "12,345,678" (Python's {:,}). */
const char *cfgreport_thousands(int64_t x, char *buf, size_t n)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", (long long)(x < 0 ? -x : x));
    size_t len = strlen(digits), o = 0;
    if (x < 0 && o + 1 < n)
        buf[o++] = '-';
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* Parameters outside the embedding and the (untied) lm head. */
static int64_t non_embedding_params(const ModelDims *d)
{
    int64_t VC = (int64_t)d->vocab_size * d->hidden_size;
    return models_num_params(d) - VC * (d->tie_word_embeddings ? 1 : 2);
}

void cfgreport_text(FILE *f, const Config *cfg, const char *path, const MemPlan *plan)
{
    const ModelDims *d = &cfg->model.dims;
    const int dp = cfg->distributed.dp_size, pp = cfg->distributed.pp_size;
    const int cp = cfg->distributed.cp_size, tp = cfg->distributed.tp_size;
    int world = dp * pp * cp * tp;
    int64_t gbs = config_global_batch(cfg);
    char b1[32], b2[32], b3[32];
    fprintf(f, "%s: ok\n", path);
    fprintf(f, "model %s: %s params, %s without embeddings (L=%d C=%d H=%d K=%d F=%d V=%d%s)\n",
           cfg->model.name[0] ? cfg->model.name : "custom",
           cfgreport_thousands(models_num_params(d), b1, sizeof b1),
           cfgreport_thousands(non_embedding_params(d), b2, sizeof b2), d->num_hidden_layers,
           d->hidden_size, d->num_attention_heads, d->num_key_value_heads,
           d->intermediate_size, d->vocab_size, d->tie_word_embeddings ? " tied" : "");
    fprintf(f, "global batch: %s samples x %d tokens = %s tokens (mbs %d x grad_acc %d x dp %d)\n",
           cfgreport_thousands(gbs, b1, sizeof b1), cfg->training.seq_length,
           cfgreport_thousands(gbs * cfg->training.seq_length, b3, sizeof b3),
           cfg->training.micro_batch_size, cfg->training.gradient_accumulation_steps, dp);
    fprintf(f, "mesh dp=%d pp=%d cp=%d tp=%d (%d rank%s), pp_engine %s, zero_stage %d\n", dp, pp, cp,
           tp, world, world == 1 ? "" : "s", cfg->distributed.pp_engine,
           cfg->distributed.zero_stage);
    int gpu = !strcmp(cfg->environment.device, "cuda");
    fprintf(f, "memory per %s (fp32 as the %s trainer allocates it; every rank of a stage the "
           "same):\n", gpu ? "GPU" : "rank", gpu ? "CUDA" : "CPU");
    for (int s = 0; s < plan->pp; s++) {
        const MemStage *m = &plan->stage[s];
        char ws[48] = "";
        if (m->workspace > 0)
            snprintf(ws, sizeof ws, ", workspace %.1f MiB", m->workspace / MIB);
        fprintf(f, "stage %d memory: params %.1f MiB, grads %.1f MiB, optimizer %.1f MiB, "
               "activations %.1f MiB%s; total %.1f MiB (layers %d-%d, %d micro-batch%s in "
               "flight)\n",
               s, m->params / MIB, m->grads / MIB, m->optimizer / MIB, m->activations / MIB, ws,
               memplan_stage_total(m) / MIB, m->layer_begin, m->layer_end - 1, m->nslots,
               m->nslots == 1 ? "" : "es");
        fprintf(f, "stage %d activations by training.activation_checkpointing: none %.1f MiB, "
               "selective %.1f MiB, full %.1f MiB (%s in use)\n", s,
               m->activations_by_mode[RECOMPUTE_NONE] / MIB,
               m->activations_by_mode[RECOMPUTE_SELECTIVE] / MIB,
               m->activations_by_mode[RECOMPUTE_FULL] / MIB,
               cfg->training.activation_checkpointing);
    }
}

int cfgreport_json(FILE *f, const Config *cfg, const char *path, const MemPlan *plan,
                   Error *err)
{
    const ModelDims *d = &cfg->model.dims;
    json_t *stages = json_array();
    for (int s = 0; s < plan->pp; s++) {
        const MemStage *m = &plan->stage[s];
        json_array_append_new(
            stages,
            json_pack("{s:i, s:i, s:i, s:I, s:i, s:f, s:f, s:f, s:f, s:{s:f, s:f, s:f}, s:f}",
                      "stage", s, "layer_begin", m->layer_begin, "layer_end", m->layer_end,
                      "param_floats", (json_int_t)m->param_floats, "in_flight", m->nslots,
                      "params_bytes", m->params, "grads_bytes", m->grads, "optimizer_bytes",
                      m->optimizer, "activations_bytes", m->activations,
                      "activations_bytes_by_checkpointing", "none",
                      m->activations_by_mode[RECOMPUTE_NONE], "selective",
                      m->activations_by_mode[RECOMPUTE_SELECTIVE], "full",
                      m->activations_by_mode[RECOMPUTE_FULL], "total_bytes",
                      memplan_stage_total(m)));
        if (m->workspace > 0)
            json_object_set_new(json_array_get(stages, (size_t)s), "workspace_bytes",
                                json_real(m->workspace));
    }
    int64_t gbs = config_global_batch(cfg);
    json_t *o = json_pack(
        "{s:s, s:s, s:I, s:I, s:I, s:I, s:{s:i, s:i, s:i, s:i, s:i}, s:o}", "config", path,
        "model", cfg->model.name, "params", (json_int_t)models_num_params(d),
        "params_without_embeddings", (json_int_t)non_embedding_params(d),
        "global_batch_samples", (json_int_t)gbs, "global_batch_tokens",
        (json_int_t)(gbs * cfg->training.seq_length), "mesh", "dp", cfg->distributed.dp_size,
        "pp", cfg->distributed.pp_size, "cp", cfg->distributed.cp_size, "tp",
        cfg->distributed.tp_size, "world", config_world_size(cfg), "stages", stages);
    if (!o)
        return err_set(err, PT_ERUNTIME, "%s: cannot describe the config as JSON", path);
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    fprintf(f, "%s\n", text);
    free(text);
    json_decref(o);
    return PT_OK;
}

void cfgreport_models(FILE *f)
{
    fprintf(f, "%-15s %3s %5s %3s %3s %6s %7s %4s %14s  %s\n", "preset", "L", "C", "H", "K", "F",
           "V", "tied", "params", "hub names");
    for (const ModelPreset *p = models_presets(); p->name; p++) {
        const ModelDims *d = &p->dims;
        char b[32];
        fprintf(f, "%-15s %3d %5d %3d %3d %6d %7d %4s %14s  %s\n", p->name, d->num_hidden_layers,
               d->hidden_size, d->num_attention_heads, d->num_key_value_heads,
               d->intermediate_size, d->vocab_size, d->tie_word_embeddings ? "yes" : "no",
               cfgreport_thousands(models_num_params(d), b, sizeof b),
               p->hub_names && p->hub_names[0] ? p->hub_names : "-");
    }
    fprintf(f, "\n--model_name takes a preset or hub name (case-insensitive) or a local directory "
           "holding an HF config.json.\n");
}
