/* memplan: per-stage memory of a run from its config. Parameters come from the parameter table
 * itself (params_build: shapes only, no weights), the local shape from llama_shape, the
 * in-flight micro-batches from the pipeline schedule; the activation count mirrors llama_init
 * (alloc_slot and the scratch) and the optimizer mirrors the trainer's build_model. */
#include <stdlib.h>

#include "llama.h"
#include "memplan.h"
#include "mesh.h"
#include "params.h"
#include "ring_attention.h"
#include "schedule.h"

/* Floats of one saved micro-batch: llama.c alloc_slot for N = B·T tokens on nl layers. */
static int64_t slot_floats(const LlamaShape *s)
{
    int64_t N = (int64_t)s->B * s->T, C = s->C, L = s->nl;
    int64_t HD = (int64_t)s->H * s->D, KD = (int64_t)s->K * s->D, F = s->F;
    int64_t V = s->last_stage ? s->V_local : 0;
    return (L + 1) * N * C        /* x */
           + 3 * L * N * C        /* n1, h, n2 */
           + 2 * L * N            /* r1, r2 */
           + 2 * L * N * HD       /* q, att */
           + 2 * L * N * KD       /* k, v */
           + L * N * s->H         /* lse */
           + 3 * L * N * F        /* fa, fb, fm */
           + N * C + N            /* nf, rf */
           + N * V                /* logits */
           + 4 * N;               /* loss, mx, z, zt */
}

/* Backward scratch shared by the micro-batches: llama_init's Scratch. */
static int64_t scratch_floats(const LlamaShape *s, int cp)
{
    int64_t N = (int64_t)s->B * s->T, C = s->C;
    int64_t HD = (int64_t)s->H * s->D, KD = (int64_t)s->K * s->D, F = s->F;
    int64_t ring = cp > 1 ? (int64_t)ring_attention_scratch_floats(s->B, s->T, s->H, s->K, s->D)
                          : 0;
    return 2 * N * C + 2 * N * HD + 2 * N * KD + 3 * N * F + ring;
}

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

        size_t numel = pt.numel;
        size_t padded = (numel + (size_t)dp - 1) / (size_t)dp * (size_t)dp;
        size_t opt = cfg->distributed.zero_stage == 1 ? padded / (size_t)dp : numel;
        m->param_floats = (int64_t)numel;
        m->params = (double)numel * sizeof(float);
        m->grads = (double)numel * sizeof(float);
        m->optimizer = 2.0 * (double)opt * sizeof(float);
        m->activations = (double)(m->nslots * slot_floats(&s) + scratch_floats(&s, cp)) *
                         sizeof(float);
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
