/* reshard: picotron-shard-ckpt's rewrite of a checkpoint for another mesh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomicfile.h"
#include "ckpt.h"
#include "config.h"
#include "grads.h"
#include "mesh.h"
#include "params.h"
#include "progress.h"
#include "reshard.h"

/* The stored config with the target mesh substituted and validated; the global batch kept. */
static int target_config(const CkptMeta *meta, const char *dir, const ReshardMesh *t,
                         Config *cfg, Error *err)
{
    char path[4200], where[4300];
    ckpt_meta_path(dir, path, sizeof path);
    snprintf(where, sizeof where, "%s config", path);
    config_warnings(0);
    if (config_parse(cfg, meta->config_json, where, err))
        return err->code;
    cfg->distributed.dp_size = t->dp;
    cfg->distributed.pp_size = t->pp;
    cfg->distributed.cp_size = t->cp;
    cfg->distributed.tp_size = t->tp;
    cfg->distributed.zero_stage = t->zero;
    if (t->dp < 1 || t->pp < 1 || t->cp < 1 || t->tp < 1 || t->zero > 1)
        return err_set(err, PT_EINPUT, "--to: dp, tp, pp, cp must be >= 1 and zero 0 or 1");
    int64_t G = meta->global_batch, mbs = cfg->training.micro_batch_size;
    if (G > 0 && G % ((int64_t)mbs * t->dp) == 0)
        cfg->training.gradient_accumulation_steps = (int)(G / (mbs * t->dp));
    else if (G > 0 && G % t->dp == 0) {
        cfg->training.micro_batch_size = (int)(G / t->dp);
        cfg->training.gradient_accumulation_steps = 1;
    } else if (G > 0)
        return err_set(err, PT_EINPUT,
                       "--to: dp=%d does not divide the checkpoint's global batch %lld", t->dp,
                       (long long)G);
    return config_validate(cfg, err);
}

/* The table and view of rank r of the target mesh. */
static void target_rank(const ModelDims *d, const ReshardMesh *t, int r, ParamTable *pt,
                        CkptView *v)
{
    int c[4];
    mesh_coords(r, t->pp, t->cp, t->tp, c);
    int dp_r = c[0], pp_r = c[1], cp_r = c[2], tp_r = c[3];
    ParamShard shard = {tp_r, t->tp, 0, 0, pp_r == 0, pp_r == t->pp - 1};
    mesh_stage_layers(d->num_hidden_layers, t->pp, pp_r, &shard.layer_begin, &shard.layer_end);
    params_build(pt, d, &shard);
    CkptView view = {r, t->dp * t->pp * t->cp * t->tp, dp_r, pp_r, cp_r, tp_r,
                     t->dp, t->pp, t->cp, t->tp, t->zero, 0, 0};
    grads_shard_range(pt->numel, t->dp, dp_r, t->zero, &view.opt_lo, &view.opt_hi);
    *v = view;
}

/* Write rank r's file into dir, piece by piece from the source index. */
static int write_rank(CkptIndex *src, const char *dir, const ModelDims *d, const ReshardMesh *t,
                      int r, int *wrote, Error *err)
{
    ParamTable pt;
    CkptView view;
    target_rank(d, t, r, &pt, &view);
    CkptPiece *pc;
    int n = ckpt_pieces(&pt, &view, &pc);
    *wrote = n > 0;
    int rc = PT_OK;
    if (n > 0) {
        char path[4300];
        ckpt_rank_path(dir, r, path, sizeof path);
        CkptWriter *w = NULL;
        rc = ckpt_writer_open(path, &w, err);
        for (int i = 0; !rc && i < n; i++) {
            const ParamInfo *p = &pt.t[pc[i].tensor];
            progress_note(path + strlen(dir) + 1, i, n, p->name);
            float *buf = xmalloc((size_t)(pc[i].flat_hi - pc[i].flat_lo) * sizeof *buf);
            rc = ckpt_index_read(src, pc[i].kind, p->name, p->shape, pc[i].block_offset,
                                 pc[i].block_shape, pc[i].flat_lo, pc[i].flat_hi, buf, err);
            if (!rc)
                rc = ckpt_writer_put(w, p, &pc[i], buf, err);
            free(buf);
        }
        progress_done();
        if (w && ckpt_writer_close(w, err))
            rc = err->code;
    }
    free(pc);
    params_free(&pt);
    return rc;
}

/* Every rank file of mesh t and meta.h5 into the fresh directory tmp. */
static int write_all(CkptIndex *src, const char *tmp, const Config *cfg, const ReshardMesh *t,
                     int *nfiles, Error *err)
{
    int world = t->dp * t->pp * t->cp * t->tp, rc = PT_OK;
    int *ranks = xmalloc((size_t)world * sizeof *ranks);
    *nfiles = 0;
    for (int r = 0; !rc && r < world; r++) {
        int wrote;
        rc = write_rank(src, tmp, &cfg->model.dims, t, r, &wrote, err);
        if (wrote)
            ranks[(*nfiles)++] = r;
    }
    CkptMeta *m = xmalloc(sizeof *m);
    if (!rc) {
        *m = *ckpt_index_meta(src);
        m->dp = t->dp, m->pp = t->pp, m->cp = t->cp, m->tp = t->tp, m->zero_stage = t->zero;
        char *json = config_to_json(cfg);
        if (strlen(json) >= sizeof m->config_json)
            rc = err_set(err, PT_ERUNTIME, "the config is too long for meta.h5");
        else
            snprintf(m->config_json, sizeof m->config_json, "%s", json);
        free(json);
    }
    if (!rc)
        rc = ckpt_write_meta(tmp, m, ranks, *nfiles, err);
    free(m);
    free(ranks);
    return rc;
}

int reshard_checkpoint(const char *in, const char *out, const ReshardMesh *to, int force,
                       ReshardResult *res, Error *err)
{
    CkptIndex *src;
    if (ckpt_index_open(in, &src, err))
        return err->code;
    const CkptMeta *meta = ckpt_index_meta(src);
    ReshardMesh t = *to;
    int *fields[5] = {&t.dp, &t.pp, &t.cp, &t.tp, &t.zero};
    int from[5] = {meta->dp, meta->pp, meta->cp, meta->tp, meta->zero_stage};
    for (int i = 0; i < 5; i++)
        if (*fields[i] < 0)
            *fields[i] = from[i];
    Config *cfg = xmalloc(sizeof *cfg);
    char tmp[4200];
    ckpt_sibling_path(out, CKPT_TMP, tmp, sizeof tmp);
    struct stat st;
    int exists = stat(out, &st) == 0, nfiles = 0;
    int rc = target_config(meta, in, &t, cfg, err);
    if (!rc && exists && !force)
        rc = err_set(err, PT_EINPUT, "%s exists (use --force to replace it)", out);
    if (!rc)
        rc = ckpt_remove_dir(tmp, err);
    if (!rc)
        rc = make_dirs(tmp, err);
    if (!rc)
        rc = write_all(src, tmp, cfg, &t, &nfiles, err);
    if (!rc)
        rc = ckpt_dir_install(tmp, out, err);
    if (rc) {
        Error ignore = {0};
        if (!exists || force)
            ckpt_remove_dir(tmp, &ignore);
    } else {
        res->step = meta->step;
        res->mesh = t;
        res->nfiles = nfiles;
    }
    free(cfg);
    ckpt_index_close(src);
    return rc;
}
