/* preflight: the trainer's input checks, runnable alone (picotron-submit, before sbatch). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preflight.h"

int preflight_samples(Dataset *ds, int64_t n, int all, Error *err)
{
    if (all && data_check_tokens(ds, err))
        return err->code;
    int32_t *sample = xmalloc((size_t)(ds->T + 1) * sizeof *sample); /* (T + 1) */
    int rc = PT_OK;
    for (int64_t g = 0; g < n && !rc; g++)
        rc = data_sample(ds, g, sample, err);
    free(sample);
    return rc;
}

/* *newest: the highest step N of save_dir/step_N with a meta.h5 (a committed checkpoint; a
 * step_N.tmp or step_N.old is not one), -1 when there is none or no save_dir yet (what stands
 * in its place is for the trainer to find when it claims the directory). */
static int newest_checkpoint(const char *save_dir, long long *newest, Error *err)
{
    *newest = -1;
    DIR *d = opendir(save_dir);
    if (!d)
        return errno == ENOENT || errno == ENOTDIR ? PT_OK
                               : err_set(err, PT_EINPUT, "checkpoint.save_dir: %s: cannot list: %s",
                                         save_dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "step_", 5) != 0 || !isdigit((unsigned char)e->d_name[5]))
            continue;
        long long s = strtoll(e->d_name + 5, NULL, 10);
        char path[4096], meta[4200];
        ckpt_step_path(save_dir, s, "", path, sizeof path);
        const char *name = strrchr(path, '/') + 1;
        ckpt_meta_path(path, meta, sizeof meta);
        if (strcmp(name, e->d_name) == 0 && s > *newest && access(meta, F_OK) == 0)
            *newest = s;
    }
    closedir(d);
    return PT_OK;
}

/* The checkpoint the config names, or save_dir/latest under resume "auto"; dir[0] == 0: none. */
static int checkpoint_source(const Config *cfg, char *dir, size_t len, int *weights_only,
                             const char **key, Error *err)
{
    const char *load = cfg->checkpoint.load_path, *init = cfg->checkpoint.init_from;
    dir[0] = '\0';
    *weights_only = !load[0] && init[0];
    *key = load[0] ? "checkpoint.load_path" : "checkpoint.init_from";
    if (load[0] || init[0]) {
        Error e = {0};
        if (ckpt_resolve(load[0] ? load : init, dir, len, &e))
            return err_set(err, PT_EINPUT, "%s: %s", *key, e.msg);
        return PT_OK;
    }
    *key = "checkpoint.resume";
    if (strcmp(cfg->checkpoint.resume, "auto") != 0)
        return PT_OK;
    /* a `latest` that leads nowhere must not silently restart a requeued job from scratch */
    const char *save_dir = cfg->checkpoint.save_dir;
    char latest[4096];
    ckpt_latest_path(save_dir, latest, sizeof latest);
    Error e = {0};
    if (access(latest, F_OK) == 0) {
        if (ckpt_latest(save_dir, dir, len, &e))
            return err_set(err, PT_EINPUT, "checkpoint.resume: %s", e.msg);
        return PT_OK;
    }
    /* no `latest`: a fresh start only when there is no checkpoint either, else the new run
     * would train from step 0 and point `latest` past the old checkpoints */
    long long newest;
    int rc = newest_checkpoint(save_dir, &newest, err);
    if (rc || newest < 0)
        return rc;
    char step[4096];
    ckpt_step_path(save_dir, newest, "", step, sizeof step);
    return err_set(err, PT_EINPUT,
                   "checkpoint.resume: \"auto\" but %s has no `latest` and holds checkpoints up "
                   "to %s: set checkpoint.load_path to %s to resume from it, or remove the "
                   "step_* directories to start afresh", save_dir, step, step);
}

int preflight_checkpoint(const Config *cfg, char *dir, size_t len, int *weights_only,
                         CkptMeta *meta, Error *err)
{
    const char *key;
    if (checkpoint_source(cfg, dir, len, weights_only, &key, err) || !dir[0])
        return err->code;
    Error e = {0};
    if (ckpt_read_meta(dir, meta, &e))
        return err_set(err, PT_EINPUT, "%s: %s", key, e.msg);
    int64_t G = config_global_batch(cfg);
    if (!*weights_only && meta->global_batch != G && !cfg->checkpoint.allow_batch_change)
        return err_set(err, PT_EINPUT,
                       "%s: written with a global batch of %lld samples, this config has %lld "
                       "(mbs x grad_acc x dp); the data position would shift: keep the batch or "
                       "set checkpoint.allow_batch_change", dir, (long long)meta->global_batch,
                       (long long)G);
    return PT_OK;
}

int preflight_check(const Config *cfg, Error *err)
{
    if (config_validate(cfg, err))
        return err->code;
    int T = cfg->training.seq_length, V = cfg->model.dims.vocab_size;
    Dataset train = {0}, val = {0};
    int rc = data_open(&train, cfg->dataset.name, T, V, cfg->training.num_samples,
                       cfg->dataset.shuffle, cfg->training.seed, err);
    if (!rc && cfg->dataset.validation[0])
        rc = data_open(&val, cfg->dataset.validation, T, V, 0, 0, cfg->training.seed, err);
    int all = strcmp(cfg->dataset.validate, "all") == 0;
    if (!rc)
        rc = preflight_samples(&train, config_global_batch(cfg), all, err);
    if (!rc && val.ntok > 0)
        rc = preflight_samples(&val, cfg->dataset.eval_samples, all, err);
    data_close(&train);
    data_close(&val);
    if (rc)
        return rc;
    char dir[4096];
    int weights_only;
    CkptMeta *meta = xmalloc(sizeof *meta); /* large (the config text): not on the stack */
    rc = preflight_checkpoint(cfg, dir, sizeof dir, &weights_only, meta, err);
    free(meta);
    return rc;
}
