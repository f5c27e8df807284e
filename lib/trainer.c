/* trainer: one rank's training loop over the library's modules. */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "attntune.h"
#include "backend.h"
#include "batch.h"
#include "ckpt.h"
#include "cpupeak.h"
#include "data.h"
#include "device.h"
#include "grads.h"
#include "kernels/kernels.h"
#include "launch.h"
#include "llama.h"
#include "memplan.h"
#include "metrics.h"
#include "optim.h"
#include "pipeline.h"
#include "preempt.h"
#include "preflight.h"
#include "runlock.h"
#include "trace.h"
#include "trainer.h"

#define MIB (1024.0 * 1024.0)

struct Trainer {
    const Config *cfg;
    TrainOptions opt;
    Mesh mesh;
    int mpi;                  /* 1: ranks talk through MPI; 0: one process */
    const Backend *be;        /* what the model computes on */
    Dataset train, val;
    ParamTable pt;
    size_t padded;            /* flat buffer floats, padded to a multiple of dp (ZeRO shards) */
    float *params, *grads;    /* (padded) on the backend */
    float *host_weights;      /* (padded) host copy for trainer_params when the backend's
                                 memory is not the host's (NULL until asked) */
    Llama model;
    Grads gr;                 /* reductions, ZeRO-1, norm bookkeeping of grads */
    Pipeline pipe;            /* this stage's schedule executor */
    RunLock save_lock, run_lock; /* rank 0's claims on save_dir and run_dir (fd -1: none) */
    Optimizer optim;
    Batch batch;              /* this step's micro-batches: (m, B, T_loc) ids and targets */
    int64_t step;             /* steps done (counting those before a resume) */
    int64_t consumed;         /* global samples read: where the next step starts */
    int64_t tokens;           /* tokens trained on */
    int64_t saved_step;       /* step of the last checkpoint written (−1: none) */
    int resumed;              /* started from checkpoint.load_path / resume */
    FILE *metrics;
    FlopCount fc;
    double peak;
    int peak_raised; /* a step beat the peak, which now is that step's rate */
    int threads;
};

int trainer_threads(const Config *cfg, int local_ranks)
{
    if (cfg->environment.omp_num_threads > 0)
        return cfg->environment.omp_num_threads;
    cpu_set_t set;
    int cores = 1;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        cores = CPU_COUNT(&set);
    int n = cores / (local_ranks > 0 ? local_ranks : 1);
    return n < 1 ? 1 : n;
}

static int is_root(const Trainer *t)
{
    return t->mesh.rank == 0;
}

/* Bad tokens are found when read; reading the first step's samples and the validation set
 * before anything is written makes the common case (a shard of the wrong vocabulary) fail
 * early. */
static int check_first_samples(Trainer *t, Error *err)
{
    const Config *cfg = t->cfg;
    int all = strcmp(cfg->dataset.validate, "all") == 0;
    int rc = preflight_samples(&t->train, config_global_batch(cfg), all, err);
    if (!rc && t->val.ntok > 0)
        rc = preflight_samples(&t->val, cfg->dataset.eval_samples, all, err);
    return rc;
}

/* ---- checkpoints ---- */

/* The weights and AdamW moments as host memory for a checkpoint: the buffers themselves on
 * the CPU backend, staging copies on a device (down = 1: filled from the device). */
typedef struct {
    float *params, *m, *v;
} HostState;

static HostState host_state(const Trainer *t, int down)
{
    const Backend *be = t->be;
    if (be->host_memory) {
        HostState h = {t->params, t->optim.m, t->optim.v};
        return h;
    }
    size_t shard = t->optim.hi - t->optim.lo;
    HostState h = {xcalloc(t->padded, sizeof(float)), xcalloc(shard ? shard : 1, sizeof(float)),
                   xcalloc(shard ? shard : 1, sizeof(float))};
    if (down) {
        be->download(h.params, t->params, t->padded * sizeof(float));
        be->download(h.m, t->optim.m, shard * sizeof(float));
        be->download(h.v, t->optim.v, shard * sizeof(float));
    }
    return h;
}

/* Done with h: up = 1 moves it onto the device first (what a load read). */
static void host_state_done(const Trainer *t, HostState *h, int up)
{
    const Backend *be = t->be;
    if (be->host_memory)
        return;
    size_t shard = t->optim.hi - t->optim.lo;
    if (up) {
        be->upload(t->params, h->params, t->padded * sizeof(float));
        be->upload(t->optim.m, h->m, shard * sizeof(float));
        be->upload(t->optim.v, h->v, shard * sizeof(float));
    }
    free(h->params);
    free(h->m);
    free(h->v);
}

static CkptView ckpt_view(const Trainer *t)
{
    const Mesh *me = &t->mesh;
    CkptView v = {me->rank, me->world, me->dp_rank, me->pp_rank, me->cp_rank, me->tp_rank,
                  me->dp, me->pp, me->cp, me->tp, t->cfg->distributed.zero_stage,
                  t->optim.lo, t->optim.hi};
    return v;
}

static int load_checkpoint(Trainer *t, Error *err)
{
    const Config *cfg = t->cfg;
    char dir[4096];
    int weights_only;
    static CkptMeta meta; /* large (the config text): not on the stack */
    if (preflight_checkpoint(cfg, dir, sizeof dir, &weights_only, &meta, err))
        return err->code;
    if (!dir[0]) {
        if (!strcmp(cfg->checkpoint.resume, "auto") && is_root(t) && !t->opt.quiet)
            fprintf(stderr, "picotron-train: checkpoint.resume auto: no %s/latest yet, starting "
                    "at step 0\n", cfg->checkpoint.save_dir);
        return PT_OK;
    }
    CkptView v = ckpt_view(t);
    HostState h = host_state(t, 1); /* a weights-only load keeps the fresh moments */
    int rc = ckpt_load(dir, &t->pt, &v, h.params, weights_only ? NULL : h.m,
                       weights_only ? NULL : h.v, err);
    host_state_done(t, &h, !rc);
    if (rc)
        return err->code;
    if (weights_only) {
        if (is_root(t) && !t->opt.quiet)
            fprintf(stderr, "picotron-train: weights from %s (checkpoint.init_from, written at "
                    "step %lld); fresh optimizer, step 0\n", dir, (long long)meta.step);
        return PT_OK;
    }
    t->step = meta.step;
    t->consumed = meta.consumed_samples;
    t->tokens = meta.tokens;
    t->optim.t = meta.adam_t;
    t->saved_step = meta.step;
    t->resumed = 1;
    if (is_root(t) && !t->opt.quiet)
        fprintf(stderr, "picotron-train: resumed from %s at step %lld (mesh then dp=%d pp=%d "
                "cp=%d tp=%d)\n", dir, (long long)meta.step, meta.dp, meta.pp, meta.cp, meta.tp);
    return PT_OK;
}

static int save_checkpoint(Trainer *t, Error *err)
{
    const Config *cfg = t->cfg;
    static CkptMeta meta;
    memset(&meta, 0, sizeof meta);
    meta.format_version = CKPT_FORMAT_VERSION;
    meta.step = t->step;
    meta.consumed_samples = t->consumed;
    meta.global_batch = config_global_batch(cfg);
    meta.tokens = t->tokens;
    meta.adam_t = t->optim.t;
    meta.seed = cfg->training.seed;
    meta.dp = t->mesh.dp;
    meta.pp = t->mesh.pp;
    meta.cp = t->mesh.cp;
    meta.tp = t->mesh.tp;
    meta.zero_stage = cfg->distributed.zero_stage;
    char *json = config_to_json(cfg);
    snprintf(meta.config_json, sizeof meta.config_json, "%s", json);
    free(json);
    CkptView v = ckpt_view(t);
    HostState h = host_state(t, 1);
    int rc;
    TRACE_COMPUTE("checkpoint save",
                  rc = ckpt_save(cfg->checkpoint.save_dir, &meta, &t->pt, &v, h.params, h.m,
                                 h.v, &t->mesh.all, cfg->checkpoint.keep_last, err));
    host_state_done(t, &h, 0);
    if (!rc) {
        t->saved_step = t->step;
        preempt_saved();
    }
    return rc;
}

/* ---- preemption ---- */

/* Every rank must agree, or some would save while others train on. */
static int stop_agreed(Trainer *t)
{
    int flag = preempt_requested();
    comm_allreduce_max_int(&t->mesh.all, &flag, 1);
    return flag;
}

/* ---- open / close ---- */

static int open_mesh(Trainer *t, MPI_Comm world, Error *err)
{
    t->mpi = world != MPI_COMM_NULL;
    const Config *cfg = t->cfg;
    MeshShape sh = {cfg->distributed.dp_size, cfg->distributed.pp_size,
                    cfg->distributed.cp_size, cfg->distributed.tp_size,
                    cfg->model.dims.num_hidden_layers, cfg->model.dims.tie_word_embeddings};
    return mesh_init(&t->mesh, world, &sh, err);
}

/* grads_ready callback of the model: the part's gradients are final. */
static void on_part_ready(void *ctx, int part)
{
    grads_part_ready(ctx, part);
}

static void build_model(Trainer *t)
{
    const Config *cfg = t->cfg;
    const Mesh *me = &t->mesh;
    const ModelDims *d = &cfg->model.dims;
    ParamShard shard = {me->tp_rank, me->tp, me->layer_begin, me->layer_end,
                        me->pp_rank == 0, me->pp_rank == me->pp - 1};
    params_build(&t->pt, d, &shard);
    t->padded = grads_padded_numel(t->pt.numel, me->dp);
    t->params = t->be->alloc(t->padded * sizeof(float));
    t->grads = t->be->alloc(t->padded * sizeof(float));
    if (t->be->host_memory) {
        params_init(&t->pt, t->params, cfg->training.seed);
    } else { /* the same weights as on the CPU: drawn on the host, then uploaded */
        float *w = xcalloc(t->padded, sizeof(float));
        params_init(&t->pt, w, cfg->training.seed);
        t->be->upload(t->params, w, t->padded * sizeof(float));
        free(w);
    }

    const Batch *b = &t->batch;
    int64_t NC = (int64_t)b->B * b->T_loc * d->hidden_size;
    pipeline_init(&t->pipe, cfg->distributed.pp_engine, &me->pp_comm, me->pp_rank, me->pp, b->m,
                  NC, t->be);
    LlamaShape s = llama_shape(&t->pt, b->B, b->T_loc);
    s.recompute = llama_recompute_mode(cfg->training.activation_checkpointing);
    if (me->cp > 1) { /* two chunks of the load-balanced split (mesh_cp_chunks) */
        int chunk[2];
        mesh_cp_chunks(me->cp, me->cp_rank, chunk);
        s.pos0 = chunk[0] * (b->T_loc / 2);
        s.pos1 = chunk[1] * (b->T_loc / 2);
    }
    LlamaEnv env = {&me->tp_comm, &me->cp_comm, t->be};
    llama_init(&t->model, &t->pt, &s, t->params, t->grads, t->pipe.nslots, &env);

    grads_init(&t->gr, &t->pt, me, t->be, t->grads, t->padded, cfg->distributed.zero_stage,
               cfg->distributed.bucket_size_mb);
    t->model.grads_ready = on_part_ready;
    t->model.grads_ready_ctx = &t->gr;
    optim_init_shard(&t->optim, &t->pt, cfg, t->gr.lo, t->gr.hi, t->be);
}

/* Rank 0 claims the directories this run writes before step 1 (docs/training.md, One run per
 * directory): save_dir when the run saves checkpoints or resumes from it, run_dir when it
 * writes metrics; each created if needed, checked writable and locked against a second run. */
static int lock_dirs(Trainer *t, Error *err)
{
    const Config *cfg = t->cfg;
    if (!is_root(t))
        return PT_OK;
    const char *save_dir = cfg->checkpoint.save_dir, *run_dir = cfg->logging.run_dir;
    int saves = t->opt.checkpoints && (cfg->checkpoint.save_frequency > 0 ||
                                       cfg->checkpoint.resume[0]);
    if (saves && runlock_take(&t->save_lock, save_dir, "checkpoint.save_dir", err))
        return err->code;
    /* a run that saves and cannot save once would find out only at its first save */
    double one_ckpt = ckpt_bytes(t->fc.n_params, t->pt.n);
    if (saves && cfg->checkpoint.save_frequency > 0 &&
        ckpt_check_free_space(save_dir, one_ckpt, err))
        return err->code;
    if (!t->opt.write_metrics || (saves && runlock_same_dir(save_dir, run_dir)))
        return PT_OK;
    return runlock_take(&t->run_lock, run_dir, "logging.run_dir", err);
}

static int open_outputs(Trainer *t, Error *err)
{
    const Config *cfg = t->cfg;
    if (!t->opt.write_metrics || !is_root(t))
        return PT_OK;
    char path[4096];
    if (make_dirs(cfg->logging.run_dir, err))
        return err->code;
    char *json = config_to_json(cfg);
    snprintf(path, sizeof path, "%s/config.resolved.json", cfg->logging.run_dir);
    int rc = atomic_write_file(path, json, strlen(json), err);
    free(json);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/metrics.jsonl", cfg->logging.run_dir);
    return metrics_log_open(&t->metrics, path, t->resumed, t->step, err);
}

static void print_banner(const Trainer *t)
{
    const Config *cfg = t->cfg;
    const ModelDims *d = &cfg->model.dims;
    const Mesh *me = &t->mesh;
    double mine[5] = {(double)t->pt.numel * sizeof(float), (double)t->pt.numel * sizeof(float),
                      2.0 * (double)(t->optim.hi - t->optim.lo) * sizeof(float),
                      (double)t->model.act_bytes, (double)t->be->workspace_bytes};
    double *all = is_root(t) ? xcalloc((size_t)me->world * 5, sizeof(double)) : NULL;
    comm_gather_f64(&me->all, mine, 5, all);
    if (!is_root(t) || t->opt.quiet) {
        free(all);
        return;
    }
    fprintf(stderr,
            "picotron-train: model %s: %.2fM params (L=%d C=%d H=%d K=%d F=%d V=%d%s), "
            "global batch %lld x %d tokens\n",
            cfg->model.name[0] ? cfg->model.name : "custom", (double)t->fc.n_params / 1e6,
            d->num_hidden_layers, d->hidden_size, d->num_attention_heads,
            d->num_key_value_heads, d->intermediate_size, d->vocab_size,
            d->tie_word_embeddings ? " tied" : "", (long long)config_global_batch(cfg),
            cfg->training.seq_length);
    fprintf(stderr, "picotron-train: mesh dp=%d pp=%d cp=%d tp=%d (%d rank%s x %d threads), "
            "pp_engine %s, zero_stage %d\n", me->dp, me->pp, me->cp, me->tp, me->world,
            me->world == 1 ? "" : "s", t->threads, cfg->distributed.pp_engine,
            cfg->distributed.zero_stage);
    for (int r = 0; r < me->world; r++) {
        const double *x = all + 5 * r;
        fprintf(stderr, "picotron-train: rank %d memory: params %.1f MiB, grads %.1f MiB, "
                "optimizer %.1f MiB, activations %.1f MiB", r, x[0] / MIB, x[1] / MIB,
                x[2] / MIB, x[3] / MIB);
        if (x[4] > 0) /* a GPU's: its GEMM workspace too */
            fprintf(stderr, ", workspace %.1f MiB (on the GPU)", x[4] / MIB);
        fputc('\n', stderr);
    }
    if (t->cfg->logging.peak_gflops > 0.0)
        fprintf(stderr, "picotron-train: peak %.1f GFLOP/s (logging.peak_gflops)\n", t->peak);
    else if (t->be->host_memory)
        fprintf(stderr, "picotron-train: cpu peak (%d threads, %s; %s): %.1f GFLOP/s\n",
                t->threads, t->be->describe(), cpupeak_source(), t->peak);
    else
        fprintf(stderr, "picotron-train: %s %s, peak (best fp32 GEMM, TF32 %s): %.1f GFLOP/s\n",
                t->be->name, t->be->describe(), cfg->environment.allow_tf32 ? "on" : "off",
                t->peak);
    if (t->be->host_memory) { /* the CPU attention's tiles (picotron-bench --tune-kernels) */
        int tq, tk;
        attention_tiles(&tq, &tk);
        fprintf(stderr, "picotron-train: attention tiles %d query x %d keys (%s)\n", tq, tk,
                attntune_source());
    }
    free(all);
}

/* The timeline of --trace: one buffer per rank, its clock taken at the exit of a barrier
 * every rank passes, and the facts the trace tool needs to read it (the schedule, the mesh). */
static void start_trace(Trainer *t)
{
    const Mesh *me = &t->mesh;
    TraceOptions o = {.path = t->opt.trace, .from = t->opt.trace_from, .to = t->opt.trace_to,
                      .rank = me->rank, .world = me->world};
    snprintf(o.label, sizeof o.label, "rank %d (dp%d pp%d cp%d tp%d)", me->rank, me->dp_rank,
             me->pp_rank, me->cp_rank, me->tp_rank);
    snprintf(o.meta, sizeof o.meta,
             "{\"dp\": %d, \"pp\": %d, \"cp\": %d, \"tp\": %d, \"pp_rank\": %d, "
             "\"pp_engine\": \"%s\", \"micro_batches\": %d, \"recompute\": \"%s\"}",
             me->dp, me->pp, me->cp, me->tp, me->pp_rank, t->cfg->distributed.pp_engine,
             t->batch.m, t->cfg->training.activation_checkpointing);
    trace_open(&o);
    comm_barrier(&me->all);
    trace_sync(trace_now());
}

int trainer_open(Trainer **out, const Config *cfg, MPI_Comm world, const TrainOptions *opt,
                 Error *err)
{
    Trainer *t = xcalloc(1, sizeof *t);
    *out = t;
    t->save_lock.fd = t->run_lock.fd = -1;
    t->cfg = cfg;
    t->opt = *opt;
    t->be = backend_cpu();
    int rc = open_mesh(t, world, err);
    if (t->mpi)
        rc = comm_agree(&t->mesh.all, err);
    if (rc)
        return rc;
    rc = device_select(cfg, t->mesh.world, is_root(t) && !opt->quiet, &t->be, err);
    if (t->mpi)
        rc = comm_agree(&t->mesh.all, err);
    if (rc)
        return rc;
    t->threads = trainer_threads(cfg, t->mpi ? launch_local_ranks() : 1);
    t->be->set_threads(t->threads);
    const ModelDims *d = &cfg->model.dims;
    int T = cfg->training.seq_length;
    attntune_apply(T, d->num_attention_heads / d->num_key_value_heads,
                   d->hidden_size / d->num_attention_heads);
    batch_init(&t->batch, cfg->training.micro_batch_size, T,
               cfg->training.gradient_accumulation_steps, &t->mesh);
    /* a model that cannot fit is refused before the samples are read or anything allocated */
    if (is_root(t) && !cfg->training.skip_memory_check)
        rc = t->be->host_memory ? memplan_check(cfg, t->mpi ? launch_local_ranks() : 1,
                                                memplan_available(), err)
                                : memplan_check_gpu(cfg, t->be->memory_free(), err);
    if (t->mpi)
        rc = comm_agree(&t->mesh.all, err);
    if (rc)
        return rc;
    rc = data_open(&t->train, cfg->dataset.name, T, d->vocab_size, cfg->training.num_samples,
                       cfg->dataset.shuffle, cfg->training.seed, err);
    if (!rc && cfg->dataset.validation[0])
        rc = data_open(&t->val, cfg->dataset.validation, T, d->vocab_size, 0, 0,
                       cfg->training.seed, err);
    if (!rc)
        rc = check_first_samples(t, err);
    if (t->mpi)
        rc = comm_agree(&t->mesh.all, err);
    if (rc)
        return rc;
    build_model(t);
    t->saved_step = -1;
    rc = opt->checkpoints ? load_checkpoint(t, err) : PT_OK;
    if (t->mpi)
        rc = comm_agree(&t->mesh.all, err);
    if (rc)
        return rc;
    t->fc = metrics_flops(d, T);
    rc = lock_dirs(t, err);
    if (!rc)
        rc = open_outputs(t, err);
    if (t->mpi)
        rc = comm_agree(&t->mesh.all, err);
    if (rc)
        return rc;
    /* the peak (for MFU) costs a few sgemm calls: only where it is printed or logged */
    if (cfg->logging.peak_gflops > 0.0)
        t->peak = cfg->logging.peak_gflops;
    else if (is_root(t) && (!opt->quiet || opt->step_lines || opt->write_metrics))
        t->peak = t->be->peak_gflops(3);
    print_banner(t);
    if (opt->trace)
        start_trace(t);
    return PT_OK;
}

void trainer_close(Trainer *t)
{
    if (!t)
        return;
    if (t->metrics)
        fclose(t->metrics);
    if (t->opt.trace)
        trace_close();
    if (t->model.act)
        llama_free(&t->model);
    if (t->gr.pt)
        grads_free(&t->gr);
    if (t->pipe.be)
        pipeline_free(&t->pipe);
    optim_free(&t->optim);
    batch_free(&t->batch);
    if (t->params) {
        t->be->release(t->params);
        t->be->release(t->grads);
    }
    free(t->host_weights);
    params_free(&t->pt);
    data_close(&t->train);
    data_close(&t->val);
    mesh_free(&t->mesh);
    runlock_release(&t->save_lock);
    runlock_release(&t->run_lock);
    free(t);
}

const ParamTable *trainer_params(Trainer *t, const float **weights)
{
    if (weights && t->be->host_memory) {
        *weights = t->params;
    } else if (weights) {
        if (!t->host_weights)
            t->host_weights = xcalloc(t->padded, sizeof(float));
        t->be->download(t->host_weights, t->params, t->padded * sizeof(float));
        *weights = t->host_weights;
    }
    return &t->pt;
}

const float *trainer_grads(const Trainer *t)
{
    return t->grads;
}

const Mesh *trainer_mesh(const Trainer *t)
{
    return &t->mesh;
}

/* ---- one step ---- */

/* Loss of the step: token-loss sums from the last stage's tp rank 0 of every dp and cp rank. */
static double global_loss_sum(Trainer *t, double local)
{
    const Mesh *me = &t->mesh;
    double v = (me->pp_rank == me->pp - 1 && me->tp_rank == 0) ? local : 0.0;
    comm_allreduce_sum_f64(&me->all, &v, 1);
    return v;
}

int trainer_step(Trainer *t, StepStats *st, Error *err)
{
    const Config *cfg = t->cfg;
    const Mesh *me = &t->mesh;
    double t0 = metrics_now(), waited0[COMM_KINDS];
    for (int k = 0; k < COMM_KINDS; k++)
        waited0[k] = comm_wait_seconds((CommKind)k);
    /* the trace's top-level compute spans cover the step from here to st->seconds */
    trace_step(t->step + 1);
    TRACE_BEGIN(TRACK_STEPS, "step", (int)(t->step + 1));
    TRACE_BEGIN(TRACK_COMPUTE, "data", -1);
    int64_t G = config_global_batch(cfg);
    int rc = batch_load_step(&t->batch, &t->train, t->consumed, err);
    if (t->mpi)
        rc = comm_agree(&me->all, err);
    TRACE_END(TRACK_COMPUTE, -1);
    if (rc) {
        TRACE_END(TRACK_STEPS, -1);
        return rc;
    }
    /* every token's loss enters the mean over the global batch: scale = 1 / (G·T) */
    TRACE_COMPUTE("zero grads", grads_zero(&t->gr));
    float scale = (float)(1.0 / ((double)G * cfg->training.seq_length));
    const Batch *b = &t->batch;
    double local = pipeline_run(&t->pipe, &t->model, &t->gr, b->ids, b->targets, b->m, scale, 1);
    TRACE_COMPUTE("gradient sync", grads_finish(&t->gr));
    TRACE_BEGIN(TRACK_COMPUTE, "loss + norm", -1);
    double loss = global_loss_sum(t, local) / ((double)G * cfg->training.seq_length);
    double sq = grads_sumsq(&t->gr);
    comm_allreduce_sum_f64(&me->all, &sq, 1);
    double norm = sqrt(sq);
    TRACE_END(TRACK_COMPUTE, -1);
    double lr = optim_lr(cfg, t->step);
    if (!isfinite(loss) || !isfinite(norm)) {
        /* %g throughout, NaN without its sign; the advice depends on what is already set */
        char advice[96];
        if (cfg->optimizer.grad_clip > 0.0)
            snprintf(advice, sizeof advice, "optimizer.grad_clip is %g already: lower "
                     "training.learning_rate", cfg->optimizer.grad_clip);
        else
            snprintf(advice, sizeof advice, "lower training.learning_rate or set "
                     "optimizer.grad_clip");
        /* a checkpoint of the step before holds the weights that diverged: say so, as
         * `latest` names it and a resume from it diverges again */
        char saved[96] = "";
        if (t->saved_step == t->step && t->step > 0)
            snprintf(saved, sizeof saved, "; the checkpoint of step %lld holds the weights it "
                     "started from", (long long)t->step);
        TRACE_END(TRACK_STEPS, -1);
        return err_set(err, PT_ERUNTIME,
                       "step %lld: loss is %g and grad_norm %g at learning rate %g: training "
                       "diverged (not saved%s); %s",
                       (long long)t->step + 1, isnan(loss) ? NAN : loss,
                       isnan(norm) ? NAN : norm, lr, saved, advice);
    }
    TRACE_BEGIN(TRACK_COMPUTE, "optimizer", -1);
    optim_step(&t->optim, t->params, t->grads, norm, lr);
    grads_gather_params(&t->gr, t->params);
    TRACE_END(TRACK_COMPUTE, -1);
    TRACE_END(TRACK_STEPS, -1);
    t->step++;
    t->consumed += G;
    t->tokens += G * cfg->training.seq_length;
    st->loss = loss;
    st->grad_norm = norm;
    st->lr = lr;
    st->seconds = metrics_now() - t0;
    st->comm_seconds = 0.0;
    for (int k = 0; k < COMM_KINDS; k++) {
        st->comm_by_kind[k] = comm_wait_seconds((CommKind)k) - waited0[k];
        st->comm_seconds += st->comm_by_kind[k];
    }
    return PT_OK;
}

/* Mean token loss over the first eval_samples samples of the validation stream (a fixed set,
 * so values compare across evaluations); every dp rank evaluates the same samples. */
static int evaluate(Trainer *t, double *val_loss, Error *err)
{
    const Config *cfg = t->cfg;
    const Mesh *me = &t->mesh;
    const Batch *b = &t->batch;
    int B = b->B, T = cfg->training.seq_length;
    int batches = cfg->dataset.eval_samples / B > 0 ? cfg->dataset.eval_samples / B : 1;
    double sum = 0.0;
    int rc = PT_OK;
    for (int i = 0; i < batches && !rc; i++) {
        /* one micro-batch at a time, read as if dp were 1 */
        rc = batch_load_one(&t->batch, &t->val, (int64_t)i * B, err);
        if (t->mpi)
            rc = comm_agree(&me->all, err);
        if (rc)
            break;
        double local = pipeline_run(&t->pipe, &t->model, NULL, b->ids, b->targets, 1, 0.0f, 0);
        sum += global_loss_sum(t, me->dp_rank == 0 ? local : 0.0);
    }
    *val_loss = sum / ((double)batches * B * T);
    return rc;
}

/* The step line (rank 0) and the metrics record; a record that cannot be written (a full
 * disk) stops the run on every rank. */
static int log_step(Trainer *t, const StepStats *st, int64_t tokens, double val, int evaluated,
                    Error *err)
{
    const Config *cfg = t->cfg;
    int64_t G = config_global_batch(cfg), tokens_per_step = G * cfg->training.seq_length;
    double tps = (double)tokens_per_step / st->seconds;
    double tps_dev = tps / t->mesh.world;
    double achieved = tps_dev * t->fc.flops_per_token / 1e9;
    if (t->peak > 0.0 && achieved > t->peak) {
        /* a rank cannot beat the machine: the peak was taken on a busy moment. MFU stays a
         * fraction; the new figure holds for the rest of the run */
        if (is_root(t) && !t->opt.quiet && !t->peak_raised)
            fprintf(stderr, "picotron-train: warning: step %lld ran at %.1f GFLOP/s per rank, "
                    "above the peak of %.1f; MFU is taken against %.1f from now on "
                    "(picotron-bench --peak on a quiet machine gives a steadier peak)\n",
                    (long long)t->step, achieved, t->peak, achieved);
        t->peak = achieved;
        t->peak_raised = 1; /* said once */
    }
    double mfu = t->peak > 0.0 ? achieved / t->peak : 0.0;
    int s = (int)t->step;
    if (t->opt.step_lines && is_root(t) && s % cfg->logging.log_frequency == 0) {
        /* mfu in percent, as picotron prints it */
        /* grad_norm in %.4f while it reads as a number, else %.4e (not 28 digits) */
        fprintf(t->opt.out, st->grad_norm < 1e6 ? "step %d loss %.6f lr %.4e grad_norm %.4f"
                : "step %d loss %.6f lr %.4e grad_norm %.4e", s, st->loss, st->lr, st->grad_norm);
        fprintf(t->opt.out, " tok/s %.0f mfu %.2f%%", tps, 100.0 * mfu);
        if (evaluated)
            fprintf(t->opt.out, " val_loss %.6f", val);
        fputc('\n', t->opt.out);
        fflush(t->opt.out);
    }
    if (t->metrics) {
        MetricsRecord r = {
            .step = s, .loss = st->loss, .lr = st->lr, .grad_norm = st->grad_norm,
            .tokens = tokens, .tokens_per_s = tps,
            .tflops_per_device = tps_dev * t->fc.flops_per_token / 1e12, .mfu = mfu,
            .mem_mib = metrics_rss_mib(), .epoch = data_epoch(&t->train, t->consumed - 1),
            .step_time_s = st->seconds, .comm_time_s = st->comm_seconds,
            .has_val = evaluated, .val_loss = val,
        };
        int e = metrics_log_write(t->metrics, &r);
        if (e)
            err_set(err, PT_ERUNTIME, "%s/metrics.jsonl: cannot write: %s",
                    t->cfg->logging.run_dir, strerror(e));
    }
    return t->mpi ? comm_agree(&t->mesh.all, err) : err->code;
}

/* Signals from now on (docs/training.md, Signals): a start-up ended by one exits 75 when
 * resume "auto" will find a checkpoint, as a requeued job does. */
static void catch_signals(const Config *cfg, MPI_Comm world, const TrainOptions *opt,
                          Preempt *old)
{
    int rank = 0;
    if (world != MPI_COMM_NULL)
        MPI_Comm_rank(world, &rank);
    char dir[4096];
    Error ignored = {0};
    int resumable = !strcmp(cfg->checkpoint.resume, "auto") &&
                    ckpt_latest(cfg->checkpoint.save_dir, dir, sizeof dir, &ignored) == PT_OK;
    PreemptPolicy p = {"picotron-train", rank == 0, opt->signal_grace, resumable};
    preempt_catch(old, &p);
}

int trainer_run(const Config *cfg, MPI_Comm world, const TrainOptions *opt, TrainReport *rep,
                Error *err)
{
    memset(rep, 0, sizeof *rep);
    rep->last_val_loss = NAN;
    Preempt old;
    if (opt->checkpoints)
        catch_signals(cfg, world, opt, &old);
    Trainer *t = NULL;
    int rc = trainer_open(&t, cfg, world, opt, err);
    if (opt->checkpoints)
        preempt_started();
    if (rc) {
        trainer_close(t);
        if (opt->checkpoints)
            preempt_restore(&old);
        return rc;
    }
    rep->flops_per_token = t->fc.flops_per_token;
    rep->peak_gflops = t->peak;
    rep->threads = t->threads;
    int64_t G = config_global_batch(cfg), tokens_per_step = G * cfg->training.seq_length;
    /* this invocation's last step: the schedule's end, --steps, and max_tokens */
    int64_t first = t->step, last = cfg->training.total_train_steps;
    if (opt->max_steps > 0 && first + opt->max_steps < last)
        last = first + opt->max_steps;
    if (cfg->training.max_tokens > 0) {
        int64_t left = (cfg->training.max_tokens - t->tokens + tokens_per_step - 1) / tokens_per_step;
        if (first + (left > 0 ? left : 0) < last)
            last = first + (left > 0 ? left : 0);
    }
    int nsteps = last > first ? (int)(last - first) : 0;
    int save_every = opt->checkpoints ? cfg->checkpoint.save_frequency : 0;
    int64_t timed_tokens = 0;
    double timed = 0.0, comm = 0.0, by_kind[COMM_KINDS] = {0};
    for (int s = 0; s < nsteps; s++) {
        StepStats st;
        if ((rc = trainer_step(t, &st, err)))
            break;
        if (s > 0 || nsteps == 1) {
            timed += st.seconds;
            comm += st.comm_seconds;
            for (int k = 0; k < COMM_KINDS; k++)
                by_kind[k] += st.comm_by_kind[k];
            timed_tokens += tokens_per_step;
        }
        if (s == 0)
            rep->first_loss = st.loss;
        rep->last_loss = st.loss;
        rep->steps = s + 1;
        double val = NAN;
        int evaluated = t->val.ntok > 0 && cfg->dataset.eval_every > 0 &&
                        (t->step % cfg->dataset.eval_every == 0 || s + 1 == nsteps);
        if (evaluated) {
            TRACE_COMPUTE("validation", rc = evaluate(t, &val, err));
            if (rc)
                break;
            rep->last_val_loss = val;
        }
        TRACE_COMPUTE("log", rc = log_step(t, &st, t->tokens, val, evaluated, err));
        if (rc)
            break;
        if (save_every > 0 && t->step % save_every == 0 && (rc = save_checkpoint(t, err)))
            break;
        if (opt->checkpoints && stop_agreed(t)) {
            if (t->saved_step != t->step && (rc = save_checkpoint(t, err)))
                break;
            rc = err_set(err, PT_EREQUEUE, "stopped by a signal at step %lld: checkpoint saved "
                         "in %s; exit %d asks to be requeued", (long long)t->step,
                         cfg->checkpoint.save_dir, PT_EREQUEUE);
            break;
        }
    }
    rep->tokens_per_s = timed > 0.0 ? (double)timed_tokens / timed : 0.0;
    rep->comm_fraction = timed > 0.0 ? comm / timed : 0.0;
    for (int k = 0; k < COMM_KINDS; k++)
        rep->comm_fraction_by_kind[k] = timed > 0.0 ? by_kind[k] / timed : 0.0;
    /* the end of a run is saved too, when the run saves at all */
    if (!rc && save_every > 0 && t->saved_step != t->step)
        rc = save_checkpoint(t, err);
    if (!rc && opt->trace) { /* every rank writes its own file; agreed like any error */
        rc = trace_write(err);
        if (t->mpi)
            rc = comm_agree(&t->mesh.all, err);
    }
    trainer_close(t);
    if (opt->checkpoints)
        preempt_restore(&old);
    return rc;
}
