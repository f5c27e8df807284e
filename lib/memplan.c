/* memplan: per-stage memory of a run from its config. Parameters come from the parameter table
 * itself (params_build: shapes only, no weights), the local shape from llama_shape, the
 * in-flight micro-batches from the pipeline schedule, the activations from the model's own
 * table (llama_activation_bytes), the optimizer shard from grads_shard_range. */
#include <stdlib.h>

#include "grads.h"
#include "llama.h"
#include "memplan.h"
#include "mesh.h"
#include "params.h"
#include "schedule.h"

void memplan_estimate(const Config *cfg, MemPlan *plan)
{
    const ModelDims *d = &cfg->model.dims;
    int pp = cfg->distributed.pp_size, tp = cfg->distributed.tp_size;
    int cp = cfg->distributed.cp_size, dp = cfg->distributed.dp_size;
    int B = cfg->training.micro_batch_size, T_loc = cfg->training.seq_length / cp;
    plan->pp = pp;
    plan->stage = xcalloc((size_t)pp, sizeof *plan->stage);
    for (int st = 0; st < pp; st++) {
        MemStage *m = &plan->stage[st];
        mesh_stage_layers(d->num_hidden_layers, pp, st, &m->layer_begin, &m->layer_end);
        /* tp rank 0 stands for all: every tp rank holds an equal slice */
        ParamShard shard = {0, tp, m->layer_begin, m->layer_end, st == 0, st == pp - 1};
        ParamTable pt;
        params_build(&pt, d, &shard);
        LlamaShape s = llama_shape(&pt, B, T_loc);
        Schedule sch = {0};
        schedule_build(&sch, cfg->distributed.pp_engine, pp, st,
                       cfg->training.gradient_accumulation_steps);
        m->nslots = sch.max_in_flight;
        schedule_free(&sch);

        size_t numel = pt.numel, lo, hi;
        grads_shard_range(numel, dp, 0, cfg->distributed.zero_stage, &lo, &hi);
        size_t opt = hi - lo;
        m->param_floats = (int64_t)numel;
        m->params = (double)numel * sizeof(float);
        m->grads = (double)numel * sizeof(float);
        m->optimizer = 2.0 * (double)opt * sizeof(float);
        m->activations = (double)llama_activation_bytes(&s, m->nslots, cp, backend_cpu());
        params_free(&pt);
    }
}

void memplan_free(MemPlan *plan)
{
    free(plan->stage);
    plan->stage = NULL;
    plan->pp = 0;
}

double memplan_stage_total(const MemStage *s)
{
    return s->params + s->grads + s->optimizer + s->activations;
}
