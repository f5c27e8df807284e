/* trainer: one rank's training loop over the library's modules. */
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "ckpt.h"
#include "data.h"
#include "kernels/kernels.h"
#include "launch.h"
#include "llama.h"
#include "metrics.h"
#include "models.h"
#include "optim.h"
#include "schedule.h"
#include "trainer.h"

#define MIB (1024.0 * 1024.0)
#define PROGRESS_TESTS 8 /* MPI_Test calls per in-flight reduction per progress visit */

struct Trainer {
    const Config *cfg;
    TrainOptions opt;
    Mesh mesh;
    int mpi;                  /* 1: ranks talk through MPI; 0: one process */
    Dataset train, val;
    ParamTable pt;
    size_t padded;            /* flat buffer floats, padded to a multiple of dp (ZeRO shards) */
    float *params, *grads;    /* (padded) */
    float *shard_tmp;         /* (optim.hi − optim.lo) reduce-scatter landing buffer (ZeRO-1) */
    int embed;                /* index of the embedding in pt, −1 when this stage has none */
    unsigned char *counted;   /* [pt.n] tensor counted in the global norm on this rank */
    int *ready_part;          /* [pt.n] backward part after which tensor i's gradient is final */
    CommRequest *bucket_req;  /* [pt.n] its data-parallel reduction */
    unsigned char *bucket_on; /* [pt.n] reduction in flight */
    int reducing;             /* inside the step's last backward: start reductions */
    const Comm *bucket_comm;  /* group the buckets are all-reduced over during backward */
    Llama model;
    Optimizer optim;
    Schedule sched;
    int B, T_loc, m;          /* micro-batch size, local tokens per sequence, micro-batches */
    int32_t *ids, *targets;   /* (m, B, T_loc) this step's micro-batches */
    int32_t *sample;          /* (T + 1) */
    float *grad_send;         /* (nslots, B·T_loc·C) gradients on their way to stage − 1 */
    CommRequest *act_req, *grad_req; /* [nslots] pending sends */
    unsigned char *act_pending, *grad_pending;
    int64_t step;             /* steps done (counting those before a resume) */
    int64_t consumed;         /* global samples read: where the next step starts */
    int64_t tokens;           /* tokens trained on */
    int64_t saved_step;       /* step of the last checkpoint written (−1: none) */
    int resumed;              /* started from checkpoint.load_path / resume */
    FILE *metrics;
    FlopCount fc;
    double peak;
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

/* ---- data ---- */

/* This rank's tokens of one sample (T + 1 tokens): inputs and targets of T_loc tokens each,
 * the whole sequence, or under context parallelism its two chunks (mesh_cp_chunks). */
static void slice_sample(const Trainer *t, const int32_t *sample, int32_t *ids, int32_t *targets)
{
    const Mesh *me = &t->mesh;
    if (me->cp == 1) {
        memcpy(ids, sample, (size_t)t->T_loc * sizeof(int32_t));
        memcpy(targets, sample + 1, (size_t)t->T_loc * sizeof(int32_t));
        return;
    }
    int chunk[2], Tc = t->T_loc / 2;
    mesh_cp_chunks(me->cp, me->cp_rank, chunk);
    for (int i = 0; i < 2; i++) {
        memcpy(ids + i * Tc, sample + chunk[i] * Tc, (size_t)Tc * sizeof(int32_t));
        memcpy(targets + i * Tc, sample + chunk[i] * Tc + 1, (size_t)Tc * sizeof(int32_t));
    }
}

/* Micro-batch a of step s on this rank: samples s·G + (a·dp + dp_rank)·B + b of the global
 * order; inputs are tokens [0, T) of a sample, targets [1, T + 1) (slice_sample). */
static int load_step(Trainer *t, Dataset *ds, int64_t first, int m, Error *err)
{
    const Mesh *me = &t->mesh;
    int B = t->B, Tl = t->T_loc;
    for (int a = 0; a < m; a++) {
        for (int b = 0; b < B; b++) {
            int64_t g = first + ((int64_t)a * me->dp + me->dp_rank) * B + b;
            if (data_sample(ds, g, t->sample, err))
                return err->code;
            int64_t o = ((int64_t)a * B + b) * Tl;
            slice_sample(t, t->sample, t->ids + o, t->targets + o);
        }
    }
    return PT_OK;
}

/* Bad tokens are found when read; reading the first step's samples and the validation set
 * before anything is written makes the common case (a shard of the wrong vocabulary) fail
 * early. Later samples are checked as they are read. */
static int check_first_samples(Trainer *t, Error *err)
{
    const Config *cfg = t->cfg;
    int64_t G = config_global_batch(cfg);
    int rc = PT_OK;
    for (int64_t g = 0; g < G && !rc; g++)
        rc = data_sample(&t->train, g, t->sample, err);
    for (int64_t g = 0; t->val.ntok > 0 && g < cfg->dataset.eval_samples && !rc; g++)
        rc = data_sample(&t->val, g, t->sample, err);
    return rc;
}

/* ---- gradient buckets ---- */

/* Which backward part makes tensor i's gradient final (llama.h grads_ready): the embedding on
 * the first stage after the embedding backward (its tied head use comes earlier), the head
 * parts after the head, blocks after themselves. */
static int tensor_part(const Trainer *t, const ParamInfo *p)
{
    if (p->layer >= 0)
        return p->layer - t->pt.shard.layer_begin;
    if (!strcmp(p->name, "model.embed_tokens.weight") && t->pt.shard.has_embed)
        return -1;
    return t->model.s.nl;
}

static void progress(Trainer *t)
{
    if (!t->reducing)
        return;
    /* A large non-blocking all-reduce moves one round per MPI call: several tests per
     * visit let it keep pace with backward (dp wait 6-10% -> 1.5-5% of a bench-10m step). */
    for (int i = 0; i < t->pt.n; i++)
        for (int k = 0; k < PROGRESS_TESTS && t->bucket_on[i]; k++)
            if (comm_test(&t->bucket_req[i]))
                t->bucket_on[i] = 0;
}

static void on_progress(void *ctx)
{
    progress(ctx);
}

/* llama's callback: start the reduction of every tensor this part finished, then let MPI
 * progress the ones in flight (Open MPI has no progress thread). */
static void on_grads_ready(void *ctx, int part)
{
    Trainer *t = ctx;
    if (!t->reducing || t->bucket_comm->size == 1)
        return;
    for (int i = 0; i < t->pt.n; i++) {
        const ParamInfo *p = &t->pt.t[i];
        if (t->ready_part[i] == part) {
            comm_iallreduce_sum(t->bucket_comm, t->grads + p->offset, (int64_t)p->numel,
                                &t->bucket_req[i]);
            t->bucket_on[i] = 1;
        }
    }
    progress(t);
}

static void wait_buckets(Trainer *t)
{
    for (int i = 0; i < t->pt.n; i++)
        if (t->bucket_on[i]) {
            comm_wait(&t->bucket_req[i]);
            t->bucket_on[i] = 0;
        }
}

/* Global-norm bookkeeping: each logical element is counted once over the mesh. Tensors
 * replicated over tp (RMSNorm weights) count on tp rank 0, the tied embedding's copy on the
 * last stage does not count, and copies over dp (without ZeRO) and cp count on rank 0 of
 * those groups (under ZeRO-1 every dp rank counts its own shard). */
static void mark_counted(Trainer *t)
{
    const Mesh *me = &t->mesh;
    int zero = t->cfg->distributed.zero_stage == 1;
    for (int i = 0; i < t->pt.n; i++) {
        const ParamInfo *p = &t->pt.t[i];
        int c = me->cp_rank == 0 && (zero || me->dp_rank == 0);
        if (p->split == SPLIT_NONE && me->tp_rank != 0)
            c = 0;
        if (!strcmp(p->name, "model.embed_tokens.weight") && !t->pt.shard.has_embed)
            c = 0;
        t->counted[i] = (unsigned char)c;
    }
}

/* ---- checkpoints ---- */

static CkptView ckpt_view(const Trainer *t)
{
    const Mesh *me = &t->mesh;
    CkptView v = {me->rank, me->world, me->dp_rank, me->pp_rank, me->cp_rank, me->tp_rank,
                  me->dp, me->pp, me->cp, me->tp, t->cfg->distributed.zero_stage,
                  t->optim.lo, t->optim.hi};
    return v;
}

/* Which checkpoint this run starts from: load_path (a step directory or a save_dir with a
 * `latest`), or save_dir/latest under resume "auto" when there is one; init_from gives weights
 * only. Returns 0 with dir[0] == 0 for a fresh start. */
static int checkpoint_source(const Trainer *t, char *dir, size_t len, int *weights_only, Error *err)
{
    const Config *cfg = t->cfg;
    dir[0] = '\0';
    *weights_only = 0;
    const char *path = cfg->checkpoint.load_path[0] ? cfg->checkpoint.load_path : cfg->checkpoint.init_from;
    if (path[0]) {
        *weights_only = !cfg->checkpoint.load_path[0];
        const char *key = *weights_only ? "checkpoint.init_from" : "checkpoint.load_path";
        Error e0 = {0};
        if (ckpt_resolve(path, dir, len, &e0))
            return err_set(err, PT_EINPUT, "%s: %s", key, e0.msg);
        CkptMeta *meta = xmalloc(sizeof *meta);
        Error e = {0};
        int rc = ckpt_read_meta(dir, meta, &e);
        free(meta);
        if (rc)
            return err_set(err, PT_EINPUT, "%s: %s", key, e.msg);
        return PT_OK;
    }
    if (!strcmp(cfg->checkpoint.resume, "auto")) {
        /* no `latest` yet: a fresh start; a `latest` that leads nowhere must not silently
         * restart a requeued job from scratch */
        char latest[4096];
        snprintf(latest, sizeof latest, "%s/latest", cfg->checkpoint.save_dir);
        Error e = {0};
        if (access(latest, F_OK) != 0)
            dir[0] = '\0';
        else if (ckpt_latest(cfg->checkpoint.save_dir, dir, len, &e) != PT_OK)
            return err_set(err, PT_EINPUT, "checkpoint.resume: %s", e.msg);
    }
    return PT_OK;
}

static int load_checkpoint(Trainer *t, Error *err)
{
    const Config *cfg = t->cfg;
    char dir[4096];
    int weights_only;
    if (checkpoint_source(t, dir, sizeof dir, &weights_only, err) || !dir[0])
        return err->code;
    static CkptMeta meta; /* large (the config text): not on the stack */
    if (ckpt_read_meta(dir, &meta, err))
        return err->code;
    CkptView v = ckpt_view(t);
    if (ckpt_load(dir, &t->pt, &v, t->params, weights_only ? NULL : t->optim.m,
                  weights_only ? NULL : t->optim.v, err))
        return err->code;
    if (weights_only)
        return PT_OK;
    int64_t G = config_global_batch(cfg);
    if (meta.global_batch != G && !cfg->checkpoint.allow_batch_change)
        return err_set(err, PT_EINPUT,
                       "%s: written with a global batch of %lld samples, this config has %lld "
                       "(mbs x grad_acc x dp); the data position would shift: keep the batch or "
                       "set checkpoint.allow_batch_change", dir, (long long)meta.global_batch,
                       (long long)G);
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
    int rc = ckpt_save(cfg->checkpoint.save_dir, &meta, &t->pt, &v, t->params, t->optim.m,
                       t->optim.v, &t->mesh.all, cfg->checkpoint.keep_last, err);
    if (!rc)
        t->saved_step = t->step;
    return rc;
}

/* ---- preemption: SIGTERM / SIGUSR1 ask for a checkpoint at the next step boundary ---- */

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Installed for the whole run, setup included (loading a large checkpoint takes minutes);
 * the previous handlers come back when the run ends. */
static void catch_stop_signals(struct sigaction old[2])
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    stop_requested = 0;
    sigaction(SIGTERM, &sa, &old[0]);
    sigaction(SIGUSR1, &sa, &old[1]);
}

static void restore_signals(const struct sigaction old[2])
{
    sigaction(SIGTERM, &old[0], NULL);
    sigaction(SIGUSR1, &old[1], NULL);
}

/* Every rank must agree, or some would save while others train on. */
static int stop_agreed(Trainer *t)
{
    int flag = stop_requested;
    comm_allreduce_max_int(&t->mesh.all, &flag, 1);
    return flag;
}

/* ---- open / close ---- */

static int open_mesh(Trainer *t, MPI_Comm world, Error *err)
{
    t->mpi = world != MPI_COMM_NULL;
    return mesh_init(&t->mesh, world, t->cfg, err);
}

static void build_model(Trainer *t)
{
    const Config *cfg = t->cfg;
    const Mesh *me = &t->mesh;
    const ModelDims *d = &cfg->model.dims;
    ParamShard shard = {me->tp_rank, me->tp, me->layer_begin, me->layer_end,
                        me->pp_rank == 0, me->pp_rank == me->pp - 1};
    params_build(&t->pt, d, &shard);
    t->padded = (t->pt.numel + (size_t)me->dp - 1) / (size_t)me->dp * (size_t)me->dp;
    t->params = xcalloc(t->padded, sizeof(float));
    t->grads = xcalloc(t->padded, sizeof(float));
    params_init(&t->pt, t->params, cfg->training.seed);

    t->B = cfg->training.micro_batch_size;
    t->T_loc = cfg->training.seq_length / me->cp;
    t->m = cfg->training.gradient_accumulation_steps;
    schedule_build(&t->sched, cfg->distributed.pp_engine, me->pp, me->pp_rank, t->m);
    int nslots = t->sched.max_in_flight;
    LlamaShape s = llama_shape(&t->pt, t->B, t->T_loc);
    if (me->cp > 1) { /* two chunks of the load-balanced split (mesh_cp_chunks) */
        int chunk[2];
        mesh_cp_chunks(me->cp, me->cp_rank, chunk);
        s.pos0 = chunk[0] * (t->T_loc / 2);
        s.pos1 = chunk[1] * (t->T_loc / 2);
    }
    LlamaComms comms = {&t->mesh.tp_comm, &t->mesh.cp_comm};
    llama_init(&t->model, &t->pt, &s, t->params, t->grads, nslots, &comms);
    t->model.grads_ready = on_grads_ready;
    t->model.progress = on_progress;
    t->model.grads_ready_ctx = t;

    if (cfg->distributed.zero_stage == 1) {
        size_t lo, hi; /* the same shard the checkpoint layout assumes */
        ckpt_opt_range(t->pt.numel, me->dp, me->dp_rank, 1, &lo, &hi);
        optim_init_shard(&t->optim, &t->pt, cfg, lo, hi);
        t->shard_tmp = xcalloc(hi - lo, sizeof(float));
        t->bucket_comm = &t->mesh.cp_comm;
    } else {
        optim_init(&t->optim, &t->pt, cfg);
        t->bucket_comm = &t->mesh.dpcp_comm;
    }
    t->embed = params_find(&t->pt, "model.embed_tokens.weight");
    t->counted = xcalloc((size_t)t->pt.n, 1);
    t->ready_part = xcalloc((size_t)t->pt.n, sizeof(int));
    t->bucket_req = xcalloc((size_t)t->pt.n, sizeof(CommRequest));
    t->bucket_on = xcalloc((size_t)t->pt.n, 1);
    for (int i = 0; i < t->pt.n; i++)
        t->ready_part[i] = tensor_part(t, &t->pt.t[i]);
    mark_counted(t);

    int64_t n = (int64_t)t->m * t->B * t->T_loc, NC = (int64_t)t->B * t->T_loc * d->hidden_size;
    t->ids = xcalloc((size_t)n, sizeof(int32_t));
    t->targets = xcalloc((size_t)n, sizeof(int32_t));
    t->grad_send = xcalloc((size_t)(nslots * NC), sizeof(float));
    t->act_req = xcalloc((size_t)nslots, sizeof(CommRequest));
    t->grad_req = xcalloc((size_t)nslots, sizeof(CommRequest));
    t->act_pending = xcalloc((size_t)nslots, 1);
    t->grad_pending = xcalloc((size_t)nslots, 1);
}

/* A run that died after logging steps past its last checkpoint logs them again when resumed:
 * drop the log lines after the checkpoint's step first (atomically), so every step appears
 * once. */
static int trim_metrics(const char *path, int64_t step, Error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return PT_OK; /* no log yet */
    size_t cap = 1 << 16, len = 0;
    char *keep = xmalloc(cap), line[4096];
    while (fgets(line, sizeof line, f)) {
        long long s = -1;
        if (sscanf(line, "{\"step\": %lld", &s) == 1 && s > step)
            continue;
        size_t n = strlen(line);
        if (len + n + 1 > cap) {
            cap = 2 * (len + n + 1);
            char *grown = realloc(keep, cap);
            if (!grown) {
                fclose(f);
                free(keep);
                return err_set(err, PT_ERUNTIME, "%s: out of memory trimming the log", path);
            }
            keep = grown;
        }
        memcpy(keep + len, line, n);
        len += n;
    }
    fclose(f);
    int rc = atomic_write_file(path, keep, len, err);
    free(keep);
    return rc;
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
    if (t->resumed && trim_metrics(path, t->step, err))
        return err->code;
    t->metrics = fopen(path, t->resumed ? "a" : "w"); /* a resumed run continues its log */
    if (!t->metrics)
        return err_set(err, PT_ERUNTIME, "%s: cannot open for writing: %s", path, strerror(errno));
    return PT_OK;
}

static void print_banner(const Trainer *t)
{
    const Config *cfg = t->cfg;
    const ModelDims *d = &cfg->model.dims;
    const Mesh *me = &t->mesh;
    double mine[4] = {(double)t->pt.numel * sizeof(float), (double)t->pt.numel * sizeof(float),
                      2.0 * (double)(t->optim.hi - t->optim.lo) * sizeof(float),
                      (double)t->model.act_bytes};
    double *all = is_root(t) ? xcalloc((size_t)me->world * 4, sizeof(double)) : NULL;
    if (t->mpi)
        MPI_Gather(mine, 4, MPI_DOUBLE, all, 4, MPI_DOUBLE, 0, me->all.comm);
    else
        memcpy(all, mine, sizeof mine);
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
        const double *x = all + 4 * r;
        fprintf(stderr, "picotron-train: rank %d memory: params %.1f MiB, grads %.1f MiB, "
                "optimizer %.1f MiB, activations %.1f MiB\n",
                r, x[0] / MIB, x[1] / MIB, x[2] / MIB, x[3] / MIB);
    }
    fprintf(stderr, "picotron-train: cpu peak (best sgemm 1024^3, %d threads, %s): %.1f GFLOP/s\n",
            t->threads, kernels_blas_path(), t->peak);
    free(all);
}

int trainer_open(Trainer **out, const Config *cfg, MPI_Comm world, const TrainOptions *opt,
                 Error *err)
{
    Trainer *t = xcalloc(1, sizeof *t);
    *out = t;
    t->cfg = cfg;
    t->opt = *opt;
    int rc = open_mesh(t, world, err);
    if (t->mpi)
        rc = comm_agree(&t->mesh.all, err);
    if (rc)
        return rc;
    t->threads = trainer_threads(cfg, t->mpi ? launch_local_ranks() : 1);
    kernels_set_threads(t->threads);
    const ModelDims *d = &cfg->model.dims;
    int T = cfg->training.seq_length;
    t->sample = xcalloc((size_t)T + 1, sizeof(int32_t));
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
    rc = open_outputs(t, err);
    if (t->mpi)
        rc = comm_agree(&t->mesh.all, err);
    if (rc)
        return rc;
    t->fc = metrics_flops(d, T);
    /* the peak (for MFU) costs a few sgemm calls: only where it is printed or logged */
    if (is_root(t) && (!opt->quiet || opt->write_metrics))
        t->peak = kernels_sgemm_peak_gflops(1024, 3);
    print_banner(t);
    return PT_OK;
}

void trainer_close(Trainer *t)
{
    if (!t)
        return;
    if (t->metrics)
        fclose(t->metrics);
    if (t->model.act)
        llama_free(&t->model);
    optim_free(&t->optim);
    schedule_free(&t->sched);
    free(t->ids);
    free(t->targets);
    free(t->sample);
    free(t->grad_send);
    free(t->act_req);
    free(t->grad_req);
    free(t->act_pending);
    free(t->grad_pending);
    free(t->counted);
    free(t->ready_part);
    free(t->bucket_req);
    free(t->bucket_on);
    free(t->shard_tmp);
    free(t->params);
    free(t->grads);
    params_free(&t->pt);
    data_close(&t->train);
    data_close(&t->val);
    mesh_free(&t->mesh);
    free(t);
}

const ParamTable *trainer_params(const Trainer *t, const float **weights)
{
    if (weights)
        *weights = t->params;
    return &t->pt;
}

const Mesh *trainer_mesh(const Trainer *t)
{
    return &t->mesh;
}

/* ---- one step ---- */

/* Run the pipeline schedule over this step's micro-batches (forward only when grad == 0, for
 * validation); returns this rank's sum of token losses (last stage, else 0). */
static double run_schedule(Trainer *t, int m, float scale, int grad)
{
    const Mesh *me = &t->mesh;
    Llama *mod = &t->model;
    int64_t NC = (int64_t)t->B * t->T_loc * mod->s.C, BT = (int64_t)t->B * t->T_loc;
    int nslots = t->sched.max_in_flight, prev = me->pp_rank - 1, next = me->pp_rank + 1;
    double loss = 0.0;
    Schedule fwd_only = {0};
    const Schedule *sch = &t->sched;
    if (!grad) { /* validation: the forwards of a 1-micro-batch AFAB schedule, repeated */
        schedule_build(&fwd_only, "afab", me->pp, me->pp_rank, m);
        sch = &fwd_only;
    }
    for (int i = 0; i < sch->n; i++) {
        const Action *a = &sch->a[i];
        int slot = a->mb % nslots, tag = 2 * a->mb;
        CommRequest r;
        if (a->kind == ACT_FORWARD) {
            if (t->act_pending[slot]) { /* the slot's last output must be out before reuse */
                comm_wait(&t->act_req[slot]);
                t->act_pending[slot] = 0;
            }
            if (a->recv) {
                comm_irecv(&me->pp_comm, llama_stage_input(mod, slot), NC, prev, tag, &r);
                comm_wait(&r);
            }
            loss += llama_forward(mod, slot, t->ids + a->mb * BT, t->targets + a->mb * BT, scale);
            if (a->send) {
                comm_isend(&me->pp_comm, llama_stage_output(mod, slot), NC, next, tag,
                           &t->act_req[slot]);
                t->act_pending[slot] = 1;
            }
        } else if (grad) {
            if (a->recv) {
                comm_irecv(&me->pp_comm, mod->sc.dres, NC, next, tag + 1, &r);
                comm_wait(&r);
            }
            t->reducing = i == sch->n - 1; /* the step's last backward: reduce as grads finish */
            llama_backward(mod, slot, t->ids + a->mb * BT);
            t->reducing = 0;
            if (a->send) {
                if (t->grad_pending[slot])
                    comm_wait(&t->grad_req[slot]);
                float *buf = t->grad_send + slot * NC;
                memcpy(buf, mod->sc.dres, (size_t)NC * sizeof(float));
                comm_isend(&me->pp_comm, buf, NC, prev, tag + 1, &t->grad_req[slot]);
                t->grad_pending[slot] = 1;
            }
        }
    }
    for (int s = 0; s < nslots; s++) {
        if (t->act_pending[s])
            comm_wait(&t->act_req[s]);
        if (t->grad_pending[s])
            comm_wait(&t->grad_req[s]);
        t->act_pending[s] = t->grad_pending[s] = 0;
    }
    schedule_free(&fwd_only);
    return loss;
}

/* Loss of the step: token-loss sums from the last stage's tp rank 0 of every dp and cp rank. */
static double global_loss_sum(Trainer *t, double local)
{
    const Mesh *me = &t->mesh;
    double v = (me->pp_rank == me->pp - 1 && me->tp_rank == 0) ? local : 0.0;
    comm_allreduce_sum_f64(&me->all, &v, 1);
    return v;
}

/* After backward: finish the bucket reductions, sum the tied embedding over its two stages,
 * reduce-scatter over dp under ZeRO-1. */
static void reduce_grads(Trainer *t)
{
    const Mesh *me = &t->mesh;
    wait_buckets(t);
    if (t->embed >= 0 && me->embed_comm.size > 1)
        comm_allreduce_sum(&me->embed_comm, t->grads + t->pt.t[t->embed].offset,
                           (int64_t)t->pt.t[t->embed].numel);
    if (t->cfg->distributed.zero_stage == 1 && me->dp > 1) {
        size_t S = t->optim.hi - t->optim.lo;
        comm_reduce_scatter(&me->dp_comm, t->grads, t->shard_tmp, (int64_t)S);
        memcpy(t->grads + t->optim.lo, t->shard_tmp, S * sizeof(float));
    }
}

int trainer_step(Trainer *t, StepStats *st, Error *err)
{
    const Config *cfg = t->cfg;
    const Mesh *me = &t->mesh;
    double t0 = metrics_now(), waited0[COMM_KINDS];
    for (int k = 0; k < COMM_KINDS; k++)
        waited0[k] = comm_wait_seconds((CommKind)k);
    int64_t G = config_global_batch(cfg);
    int rc = load_step(t, &t->train, t->consumed, t->m, err);
    if (t->mpi)
        rc = comm_agree(&me->all, err);
    if (rc)
        return rc;
    memset(t->grads, 0, t->padded * sizeof(float));
    float scale = (float)(1.0 / ((double)G * cfg->training.seq_length));
    double local = run_schedule(t, t->m, scale, 1);
    reduce_grads(t);
    double loss = global_loss_sum(t, local) / ((double)G * cfg->training.seq_length);
    double sq = optim_grad_sumsq(&t->optim, t->grads, t->counted);
    comm_allreduce_sum_f64(&me->all, &sq, 1);
    double norm = sqrt(sq);
    if (!isfinite(loss) || !isfinite(norm))
        return err_set(err, PT_ERUNTIME,
                       "step %lld: loss is %g and grad_norm %g: training diverged; lower "
                       "training.learning_rate or set optimizer.grad_clip",
                       (long long)t->step + 1, loss, norm);
    double lr = optim_lr(cfg, t->step);
    optim_step(&t->optim, t->params, t->grads, norm, lr);
    if (cfg->distributed.zero_stage == 1 && me->dp > 1)
        comm_allgather_inplace(&me->dp_comm, t->params, (int64_t)(t->optim.hi - t->optim.lo));
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
    int B = t->B, T = cfg->training.seq_length;
    int batches = cfg->dataset.eval_samples / B > 0 ? cfg->dataset.eval_samples / B : 1;
    double sum = 0.0;
    int rc = PT_OK;
    for (int i = 0; i < batches && !rc; i++) {
        /* one micro-batch at a time, read as if dp were 1 */
        int64_t first = (int64_t)i * B;
        for (int b = 0; b < B && !rc; b++) {
            rc = data_sample(&t->val, first + b, t->sample, err);
            slice_sample(t, t->sample, t->ids + (int64_t)b * t->T_loc,
                         t->targets + (int64_t)b * t->T_loc);
        }
        if (t->mpi)
            rc = comm_agree(&me->all, err);
        if (rc)
            break;
        double local = run_schedule(t, 1, 0.0f, 0);
        sum += global_loss_sum(t, me->dp_rank == 0 ? local : 0.0);
    }
    *val_loss = sum / ((double)batches * B * T);
    return rc;
}

static void log_step(Trainer *t, const StepStats *st, int64_t tokens, double val, int evaluated)
{
    const Config *cfg = t->cfg;
    int64_t G = config_global_batch(cfg), tokens_per_step = G * cfg->training.seq_length;
    double tps = (double)tokens_per_step / st->seconds;
    double tps_dev = tps / t->mesh.world;
    double mfu = t->peak > 0.0 ? tps_dev * t->fc.flops_per_token / (t->peak * 1e9) : 0.0;
    int s = (int)t->step;
    if (!t->opt.quiet && is_root(t) && s % cfg->logging.log_frequency == 0) {
        fprintf(t->opt.out, "step %d loss %.6f lr %.4e grad_norm %.4f tok/s %.0f mfu %.4f", s,
                st->loss, st->lr, st->grad_norm, tps, mfu);
        if (evaluated)
            fprintf(t->opt.out, " val_loss %.6f", val);
        fputc('\n', t->opt.out);
        fflush(t->opt.out);
    }
    if (t->metrics) {
        fprintf(t->metrics,
                "{\"step\": %d, \"loss\": %.8g, \"lr\": %.8g, \"grad_norm\": %.8g, "
                "\"tokens\": %lld, \"tokens_per_s\": %.2f, \"tflops_per_device\": %.6g, "
                "\"mfu\": %.6g, \"mem_mib\": %.1f, \"epoch\": %lld, \"step_time_s\": %.6f, "
                "\"comm_time_s\": %.6f",
                s, st->loss, st->lr, st->grad_norm, (long long)tokens, tps,
                tps_dev * t->fc.flops_per_token / 1e12, mfu, metrics_rss_mib(),
                (long long)data_epoch(&t->train, t->consumed - 1), st->seconds, st->comm_seconds);
        if (evaluated)
            fprintf(t->metrics, ", \"val_loss\": %.8g", val);
        fputs("}\n", t->metrics);
        fflush(t->metrics);
    }
}

int trainer_run(const Config *cfg, MPI_Comm world, const TrainOptions *opt, TrainReport *rep,
                Error *err)
{
    memset(rep, 0, sizeof *rep);
    rep->last_val_loss = NAN;
    struct sigaction old[2];
    if (opt->checkpoints)
        catch_stop_signals(old);
    Trainer *t = NULL;
    int rc = trainer_open(&t, cfg, world, opt, err);
    if (!rc && opt->checkpoints && stop_agreed(t)) /* stopped while starting: nothing to save */
        rc = err_set(err, PT_EREQUEUE, "stopped by a signal before the first step; exit %d "
                     "asks to be requeued", PT_EREQUEUE);
    if (rc) {
        trainer_close(t);
        if (opt->checkpoints)
            restore_signals(old);
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
            if ((rc = evaluate(t, &val, err)))
                break;
            rep->last_val_loss = val;
        }
        log_step(t, &st, t->tokens, val, evaluated);
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
    trainer_close(t);
    if (opt->checkpoints)
        restore_signals(old);
    return rc;
}
