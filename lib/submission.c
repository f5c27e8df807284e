/* submission: render, write, sbatch and record one group of runs; cancel a run's jobs. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomicfile.h"
#include "slurmjob.h"
#include "submission.h"

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

int submission_render(const SlurmSpec *spec, RunDir **g, int n, const char *workdir,
                      char **script, Error *err)
{
    SlurmSpec s = *spec;
    char log_dir[PATH_MAX] = "";
    if (n > 1)
        rundir_common_parent(g, n, log_dir, sizeof log_dir);
    s.log_dir = n > 1 ? log_dir : NULL;
    if (!s.job_name)
        s.job_name = n > 1 ? base_name(log_dir) : base_name(g[0]->dir);
    if (g[0]->ntasks % s.nodes != 0)
        return err_set(err, PT_EINPUT, "%s: %d ranks (dp*pp*cp*tp) do not divide evenly over %d "
                       "nodes", g[0]->arg, g[0]->ntasks, s.nodes);
    s.ntasks_per_node = g[0]->ntasks / s.nodes;
    s.workdir = workdir;
    const char **dirs = xcalloc((size_t)n, sizeof *dirs);
    const char **configs = xcalloc((size_t)n, sizeof *configs);
    for (int i = 0; i < n; i++) {
        dirs[i] = g[i]->dir;
        configs[i] = g[i]->config;
    }
    int rc = slurm_render_script(&s, dirs, configs, n, script, err);
    free(dirs);
    free(configs);
    return rc;
}

int submission_submit(RunDir **g, int n, const char *script, int chain, FILE *out, Error *err)
{
    char path[PATH_MAX + 16];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/submit.sbatch", g[i]->dir);
        if (atomic_write_file(path, script, strlen(script), err))
            return err->code;
    }
    snprintf(path, sizeof path, "%s/submit.sbatch", g[0]->dir);
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char (*ids)[96] = xcalloc((size_t)chain, sizeof *ids);
    char (*task_ids)[96] = xcalloc((size_t)chain, sizeof *task_ids);
    int nids;
    int rc = slurmjob_submit_chain(path, chain, ids, &nids, err);
    Error save_err = {0};
    for (int i = 0; i < n && nids > 0; i++) { /* the jobs Slurm took are recorded either way */
        for (int k = 0; k < nids; k++) /* an array's task i is job ID_i */
            snprintf(task_ids[k], sizeof task_ids[k], n > 1 ? "%.64s_%d" : "%.64s", ids[k], i);
        rundir_add_submission(g[i], when, chain, task_ids, nids);
        if (rundir_save(g[i], &save_err) && !rc)
            rc = err_set(err, save_err.code, "%s", save_err.msg);
        char jobs[4096];
        rundir_last_jobs(g[i], jobs, sizeof jobs);
        fprintf(out, "%s %s\n", g[i]->arg, jobs);
    }
    free(ids);
    free(task_ids);
    return rc;
}

int submission_cancel(RunDir *r, char *done, size_t len, Error *err)
{
    char(*ids)[96];
    int nids = rundir_live_jobs(r, &ids), rc = PT_OK;
    size_t used = 0;
    done[0] = '\0';
    for (int k = 0; k < nids; k++) {
        Error e = {0};
        if (slurmjob_cancel(ids[k], &e)) {
            if (!rc)
                rc = err_set(err, e.code, "%s: %s", r->arg, e.msg);
        } else if (used < len) {
            used += (size_t)snprintf(done + used, len - used, "%s%s", used ? "," : "", ids[k]);
        }
    }
    free(ids);
    return rc;
}
