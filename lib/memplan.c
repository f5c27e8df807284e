/* memplan: per-stage memory of a run from its config. Parameters come from the parameter table
 * itself (params_build: shapes only, no weights), the local shape from llama_shape, the
 * in-flight micro-batches from the pipeline schedule, the activations from the model's own
 * table (llama_activation_bytes), the optimizer shard from grads_shard_range. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        s.recompute = llama_recompute_mode(cfg->training.activation_checkpointing);
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
        for (int mode = RECOMPUTE_NONE; mode <= RECOMPUTE_FULL; mode++) {
            LlamaShape sm = s;
            sm.recompute = mode;
            m->activations_by_mode[mode] =
                (double)llama_activation_bytes(&sm, m->nslots, cp, backend_cpu());
        }
        m->activations = m->activations_by_mode[s.recompute];
        m->workspace = strcmp(cfg->environment.device, "cuda")
                           ? 0.0 : (double)BACKEND_CUDA_WORKSPACE_BYTES;
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
    return s->params + s->grads + s->optimizer + s->activations + s->workspace;
}

double memplan_peak_bytes(const Config *cfg)
{
    MemPlan plan;
    memplan_estimate(cfg, &plan);
    double most = 0.0;
    for (int st = 0; st < plan.pp; st++)
        if (memplan_stage_total(&plan.stage[st]) > most)
            most = memplan_stage_total(&plan.stage[st]);
    memplan_free(&plan);
    return most;
}

static double read_number(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char buf[64];
    double v = -1;
    if (fgets(buf, sizeof buf, f)) {
        char *end;
        double x = strtod(buf, &end);
        if (end != buf && (*end == '\n' || *end == 0) && x >= 0)
            v = x;                         /* "max" (no limit) is not a number */
    }
    fclose(f);
    return v;
}

double memplan_available(void)
{
    double avail = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) {
                avail = (double)kb * 1024.0;
                break;
            }
        fclose(f);
    }
    double max = read_number("/sys/fs/cgroup/memory.max");
    if (max >= 0) {
        double cur = read_number("/sys/fs/cgroup/memory.current");
        double room = max - (cur > 0 ? cur : 0);
        if (room < 0)
            room = 0;
        if (avail <= 0 || room < avail)
            avail = room > 0 ? room : 1;   /* a full cgroup has no room, not an unknown one */
    }
    return avail;
}

/* Decimal units, as free(1) -h and vendors' memory sizes: the scale of the larger number. */
static void unit_of(double bytes, double *scale, const char **name)
{
    if (bytes >= 1e12) {
        *scale = 1e12;
        *name = "TB";
    } else if (bytes >= 1e9) {
        *scale = 1e9;
        *name = "GB";
    } else {
        *scale = 1e6;
        *name = "MB";
    }
}

/* where: "this node has" / "the GPU has"; local_ranks share it. */
static int check(const Config *cfg, int local_ranks, double avail, const char *unit,
                 const char *where, int count_workspace, Error *err)
{
    if (avail <= 0)
        return PT_OK;
    if (local_ranks < 1)
        local_ranks = 1;
    MemPlan plan;
    memplan_estimate(cfg, &plan);
    const MemStage *big = &plan.stage[0];
    for (int st = 1; st < plan.pp; st++)
        if (memplan_stage_total(&plan.stage[st]) > memplan_stage_total(big))
            big = &plan.stage[st];
    MemStage m = *big;
    memplan_free(&plan);
    if (!count_workspace)
        m.workspace = 0;
    double need = memplan_stage_total(&m);
    if (need * local_ranks <= avail)
        return PT_OK;
    double s, sa;
    const char *u, *ua;
    unit_of(need, &s, &u);
    unit_of(avail, &sa, &ua);
    char ws[64] = "";
    if (m.workspace > 0)
        snprintf(ws, sizeof ws, ", workspace %.1f %s", m.workspace / s, u);
    char ranks[48] = "";
    if (!strcmp(unit, "rank"))
        snprintf(ranks, sizeof ranks, " for %d rank%s", local_ranks, local_ranks == 1 ? "" : "s");
    return err_set(err, PT_EINPUT,
                   "the model needs %.1f %s per %s (params %.1f %s, grads %.1f %s, AdamW %.1f "
                   "%s, activations %.1f %s%s) but %s %.1f %s available%s: use a smaller model, "
                   "more ranks (tp/pp/dp with zero_stage 1), or set training.skip_memory_check",
                   need / s, u, unit, m.params / s, u, m.grads / s, u, m.optimizer / s, u,
                   m.activations / s, u, ws, where, avail / sa, ua, ranks);
}

int memplan_check(const Config *cfg, int local_ranks, double avail, Error *err)
{
    return check(cfg, local_ranks, avail, "rank", "this node has", 1, err);
}

int memplan_check_gpu(const Config *cfg, double avail, Error *err)
{
    return check(cfg, 1, avail, "GPU", "the GPU has", 0, err);
}
