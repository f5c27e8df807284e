/* trainer: one process's training loop over the library's modules. */
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomicfile.h"
#include "data.h"
#include "kernels/kernels.h"
#include "llama.h"
#include "metrics.h"
#include "models.h"
#include "optim.h"
#include "params.h"
#include "trainer.h"

#define MIB (1024.0 * 1024.0)

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

/* Everything one run holds. */
typedef struct {
    const Config *cfg;
    Dataset train, val;
    ParamTable pt;
    float *params, *grads;  /* (pt.numel) each */
    Llama model;
    Optimizer opt;
    int32_t *ids, *targets; /* (mbs, T) */
    int32_t *sample;        /* (T + 1) */
    FILE *metrics;
} Run;

static int check_mesh(const Config *cfg, Error *err)
{
    int dp = cfg->distributed.dp_size, tp = cfg->distributed.tp_size;
    int pp = cfg->distributed.pp_size, cp = cfg->distributed.cp_size;
    int world = dp * tp * pp * cp;
    if (world != 1)
        return err_set(err, PT_EINPUT,
                       "distributed: the mesh dp=%d x tp=%d x pp=%d x cp=%d needs %d ranks; this "
                       "build trains on one process (set every *_size to 1)",
                       dp, tp, pp, cp, world);
    return PT_OK;
}

/* Checkpoints come with issue #4 (docs/roadmap.md). Loading cannot be skipped quietly: a user
 * who asked to resume must not get a fresh run; saving is only warned about. */
static int check_checkpoint_keys(const Config *cfg, Error *err)
{
    if (cfg->checkpoint.load_path[0])
        return err_set(err, PT_EINPUT, "checkpoint.load_path: \"%s\": loading checkpoints is not "
                       "available in this build yet; remove the key to start fresh",
                       cfg->checkpoint.load_path);
    if (cfg->checkpoint.init_from[0])
        return err_set(err, PT_EINPUT, "checkpoint.init_from: \"%s\": loading checkpoints is not "
                       "available in this build yet; remove the key to start fresh",
                       cfg->checkpoint.init_from);
    if (cfg->checkpoint.save_frequency > 0 || cfg->checkpoint.resume[0])
        fprintf(stderr, "picotron: warning: checkpoint.save_frequency/resume: checkpoints are not "
                        "available in this build yet; this run saves none\n");
    return PT_OK;
}

/* Fill run->ids/targets with micro-batch `micro` of step `step`: sample g of the global order
 * is tokens [g·T, g·T + T + 1); inputs are the first T, targets the last T. */
static int load_micro_batch(Run *r, Dataset *ds, int64_t first_sample, Error *err)
{
    int T = r->cfg->training.seq_length, B = r->cfg->training.micro_batch_size;
    for (int b = 0; b < B; b++) {
        if (data_sample(ds, first_sample + b, r->sample, err))
            return err->code;
        memcpy(r->ids + (int64_t)b * T, r->sample, (size_t)T * sizeof(int32_t));
        memcpy(r->targets + (int64_t)b * T, r->sample + 1, (size_t)T * sizeof(int32_t));
    }
    return PT_OK;
}

/* Bad tokens are found when read; reading the first step's samples and the validation set
 * now makes the common case (a shard of the wrong vocabulary) fail before anything is
 * written. Later samples are checked as they are read. */
static int check_first_samples(Run *r, const Config *cfg, Error *err)
{
    int T = cfg->training.seq_length;
    int32_t *tok = xmalloc((size_t)(T + 1) * sizeof(int32_t));
    int64_t G = config_global_batch(cfg);
    int rc = PT_OK;
    for (int64_t g = 0; g < G && !rc; g++)
        rc = data_sample(&r->train, g, tok, err);
    for (int64_t g = 0; r->val.ntok > 0 && g < cfg->dataset.eval_samples && !rc; g++)
        rc = data_sample(&r->val, g, tok, err);
    free(tok);
    return rc;
}

static int run_open(Run *r, const Config *cfg, const TrainOptions *opt, Error *err)
{
    memset(r, 0, sizeof *r);
    r->cfg = cfg;
    const ModelDims *d = &cfg->model.dims;
    int T = cfg->training.seq_length, B = cfg->training.micro_batch_size;
    if (check_mesh(cfg, err) || check_checkpoint_keys(cfg, err))
        return err->code;
    if (data_open(&r->train, cfg->dataset.name, T, d->vocab_size, cfg->training.num_samples,
                  cfg->dataset.shuffle, cfg->training.seed, err))
        return err->code;
    if (cfg->dataset.validation[0] &&
        data_open(&r->val, cfg->dataset.validation, T, d->vocab_size, 0, 0, cfg->training.seed, err))
        return err->code;

    if (check_first_samples(r, cfg, err))
        return err->code;

    ParamShard shard = params_shard_single(d);
    params_build(&r->pt, d, &shard);
    r->params = xmalloc(r->pt.numel * sizeof(float));
    r->grads = xcalloc(r->pt.numel, sizeof(float));
    params_init(&r->pt, r->params, cfg->training.seed);
    LlamaShape s = llama_shape(&r->pt, B, T);
    llama_init(&r->model, &r->pt, &s, r->params, r->grads);
    optim_init(&r->opt, &r->pt, cfg);
    r->ids = xmalloc((size_t)B * T * sizeof(int32_t));
    r->targets = xmalloc((size_t)B * T * sizeof(int32_t));
    r->sample = xmalloc((size_t)(T + 1) * sizeof(int32_t));

    if (opt->write_metrics) {
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
        r->metrics = fopen(path, "w");
        if (!r->metrics)
            return err_set(err, PT_ERUNTIME, "%s: cannot open for writing", path);
    }
    return PT_OK;
}

static void run_close(Run *r)
{
    if (r->metrics)
        fclose(r->metrics);
    free(r->ids);
    free(r->targets);
    free(r->sample);
    optim_free(&r->opt);
    if (r->model.w.layers)
        llama_free(&r->model);
    free(r->params);
    free(r->grads);
    params_free(&r->pt);
    data_close(&r->train);
    data_close(&r->val);
}

/* Mean token loss over the first eval_samples samples of the validation stream (a fixed set,
 * so values are comparable across evaluations). */
static int evaluate(Run *r, double *val_loss, Error *err)
{
    const Config *cfg = r->cfg;
    int B = cfg->training.micro_batch_size, T = cfg->training.seq_length;
    int batches = cfg->dataset.eval_samples / B > 0 ? cfg->dataset.eval_samples / B : 1;
    double sum = 0.0;
    for (int i = 0; i < batches; i++) {
        if (load_micro_batch(r, &r->val, (int64_t)i * B, err))
            return err->code;
        sum += llama_forward(&r->model, r->ids, r->targets, 0.0f);
    }
    *val_loss = sum / ((double)batches * B * T);
    return PT_OK;
}

static void print_banner(const Run *r, const FlopCount *fc, int threads, double peak)
{
    const Config *cfg = r->cfg;
    const ModelDims *d = &cfg->model.dims;
    double pbytes = (double)r->pt.numel * sizeof(float);
    fprintf(stderr,
            "picotron-train: model %s: %.2fM params (L=%d C=%d H=%d K=%d F=%d V=%d%s), "
            "1 rank x %d threads, global batch %lld x %d tokens\n",
            cfg->model.name[0] ? cfg->model.name : "custom", (double)fc->n_params / 1e6,
            d->num_hidden_layers, d->hidden_size, d->num_attention_heads,
            d->num_key_value_heads, d->intermediate_size, d->vocab_size,
            d->tie_word_embeddings ? " tied" : "", threads,
            (long long)config_global_batch(cfg), cfg->training.seq_length);
    fprintf(stderr,
            "picotron-train: memory per rank: params %.1f MiB, grads %.1f MiB, optimizer %.1f MiB, "
            "activations %.1f MiB\n",
            pbytes / MIB, pbytes / MIB, 2.0 * pbytes / MIB, (double)r->model.act_bytes / MIB);
    fprintf(stderr, "picotron-train: cpu peak (best sgemm 1024^3, %d threads): %.1f GFLOP/s\n",
            threads, peak);
}

int trainer_run(const Config *cfg, const TrainOptions *opt, TrainReport *rep, Error *err)
{
    memset(rep, 0, sizeof *rep);
    rep->last_val_loss = NAN;
    int threads = trainer_threads(cfg, 1);
    kernels_set_threads(threads);
    Run r;
    if (run_open(&r, cfg, opt, err)) {
        run_close(&r);
        return err->code;
    }
    FlopCount fc = metrics_flops(&cfg->model.dims, cfg->training.seq_length);
    double peak = metrics_sgemm_gflops(1024, 3);
    rep->flops_per_token = fc.flops_per_token;
    rep->peak_gflops = peak;
    rep->threads = threads;
    if (!opt->quiet)
        print_banner(&r, &fc, threads, peak);

    int T = cfg->training.seq_length, B = cfg->training.micro_batch_size;
    int acc = cfg->training.gradient_accumulation_steps;
    int64_t G = config_global_batch(cfg), tokens_per_step = G * T;
    float scale = (float)(1.0 / ((double)tokens_per_step));
    int nsteps = cfg->training.total_train_steps;
    if (opt->max_steps > 0 && opt->max_steps < nsteps)
        nsteps = opt->max_steps;
    int64_t tokens = 0;
    double timed = 0.0;
    int64_t timed_tokens = 0;

    for (int s = 0; s < nsteps; s++) {
        double t0 = metrics_now();
        memset(r.grads, 0, r.pt.numel * sizeof(float));
        double loss_sum = 0.0;
        for (int a = 0; a < acc; a++) {
            if (load_micro_batch(&r, &r.train, (int64_t)s * G + (int64_t)a * B, err))
                goto done;
            loss_sum += llama_forward(&r.model, r.ids, r.targets, scale);
            llama_backward(&r.model, r.ids);
        }
        double loss = loss_sum / (double)tokens_per_step;
        double norm = optim_grad_norm(&r.opt, r.grads);
        if (!isfinite(loss) || !isfinite(norm)) {
            err_set(err, PT_ERUNTIME,
                    "step %d: loss is %g and grad_norm %g: training diverged; lower "
                    "training.learning_rate or set optimizer.grad_clip",
                    s + 1, loss, norm);
            goto done;
        }
        double lr = optim_lr(cfg, s);
        optim_step(&r.opt, r.params, r.grads, norm, lr);
        double dt = metrics_now() - t0;
        tokens += tokens_per_step;
        if (s > 0 || nsteps == 1) {
            timed += dt;
            timed_tokens += tokens_per_step;
        }
        double tps = (double)tokens_per_step / dt;
        double mfu = tps * fc.flops_per_token / (peak * 1e9);
        if (s == 0)
            rep->first_loss = loss;
        rep->last_loss = loss;
        rep->steps = s + 1;

        double val = NAN;
        int eval_now = r.val.ntok > 0 && cfg->dataset.eval_every > 0 &&
                       ((s + 1) % cfg->dataset.eval_every == 0 || s + 1 == nsteps);
        if (eval_now) {
            if (evaluate(&r, &val, err))
                goto done;
            rep->last_val_loss = val;
        }
        if (!opt->quiet && (s + 1) % cfg->logging.log_frequency == 0) {
            fprintf(opt->out, "step %d loss %.6f lr %.4e grad_norm %.4f tok/s %.0f mfu %.4f",
                    s + 1, loss, lr, norm, tps, mfu);
            if (eval_now)
                fprintf(opt->out, " val_loss %.6f", val);
            fputc('\n', opt->out);
            fflush(opt->out);
        }
        if (r.metrics) {
            fprintf(r.metrics,
                    "{\"step\": %d, \"loss\": %.8g, \"lr\": %.8g, \"grad_norm\": %.8g, "
                    "\"tokens\": %lld, \"tokens_per_s\": %.2f, \"tflops_per_device\": %.6g, "
                    "\"mfu\": %.6g, \"mem_mib\": %.1f, \"epoch\": %lld, \"step_time_s\": %.6f",
                    s + 1, loss, lr, norm, (long long)tokens, tps,
                    tps * fc.flops_per_token / 1e12, mfu, metrics_rss_mib(),
                    (long long)data_epoch(&r.train, (int64_t)(s + 1) * G - 1), dt);
            if (eval_now)
                fprintf(r.metrics, ", \"val_loss\": %.8g", val);
            fputs("}\n", r.metrics);
            fflush(r.metrics);
        }
        if (cfg->training.max_tokens > 0 && tokens >= cfg->training.max_tokens)
            break;
    }
    rep->tokens_per_s = timed > 0.0 ? (double)timed_tokens / timed : 0.0;
done:
    run_close(&r);
    return err->code;
}
