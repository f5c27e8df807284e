/* rundir: run_open / refresh / save of picotron-submit, over submit.json with jansson. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "config.h"
#include "rundir.h"
#include "slurmjob.h"

static void file_path(char *out, size_t len, const RunDir *r, const char *name)
{
    snprintf(out, len, "%s/%s", r->dir, name);
}

/* dir and config from the argument: a directory holds config.json; a file is the config and
 * its directory the run's. */
static int locate(RunDir *r, const char *arg, Error *err)
{
    struct stat st;
    char abs[PATH_MAX];
    if (stat(arg, &st) != 0)
        return err_set(err, PT_EINPUT, "%s: no such run directory or config file", arg);
    if (!realpath(arg, abs))
        return err_set(err, PT_EINPUT, "%s: %s", arg, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        snprintf(r->dir, sizeof r->dir, "%s", abs);
        snprintf(r->config, sizeof r->config, "%.*s/config.json", PATH_MAX - 13, abs);
        if (access(r->config, R_OK) != 0)
            return err_set(err, PT_EINPUT, "%s: the run directory holds no config.json (write "
                           "one with picotron create-config)", arg);
        return PT_OK;
    }
    snprintf(r->config, sizeof r->config, "%s", abs);
    snprintf(r->dir, sizeof r->dir, "%s", abs);
    char *slash = strrchr(r->dir, '/');
    if (slash == r->dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    return PT_OK;
}

int rundir_open(RunDir *r, const char *arg, Error *err)
{
    memset(r, 0, sizeof *r);
    r->arg = arg;
    r->status = RUN_INIT;
    Config cfg;
    if (locate(r, arg, err) || config_load(&cfg, r->config, err))
        return err->code;
    r->ntasks = config_world_size(&cfg);
    char path[PATH_MAX + 16];
    file_path(path, sizeof path, r, "submit.json");
    if (access(path, F_OK) != 0) {
        r->record = json_pack("{s:[]}", "submissions");
        return PT_OK;
    }
    json_error_t jerr;
    r->record = json_load_file(path, 0, &jerr);
    if (!r->record || !json_is_array(json_object_get(r->record, "submissions")))
        return err_set(err, PT_EINPUT, "%s: not a submit record (line %d: %s); move it away to "
                       "start over", path, jerr.line,
                       r->record ? "no submissions array" : jerr.text);
    return PT_OK;
}

void rundir_planned(RunDir *r, const char *dir, const char *workdir, int ntasks)
{
    memset(r, 0, sizeof *r);
    r->arg = dir;
    if (dir[0] == '/')
        snprintf(r->dir, sizeof r->dir, "%s", dir);
    else
        snprintf(r->dir, sizeof r->dir, "%.*s/%s", PATH_MAX / 2, workdir, dir);
    snprintf(r->config, sizeof r->config, "%.*s/config.json", PATH_MAX - 13, r->dir);
    r->record = json_pack("{s:[]}", "submissions");
    r->ntasks = ntasks;
    r->status = RUN_INIT;
}

static json_t *last_submission(const RunDir *r)
{
    json_t *subs = json_object_get(r->record, "submissions");
    size_t n = json_array_size(subs);
    return n ? json_array_get(subs, n - 1) : NULL;
}

static const char *jstr(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static int job_status(json_t *job)
{
    return slurm_status_from_name(jstr(job, "status"));
}

/* Slurm's word on every job that had not ended, into its record. */
static void ask_jobs(json_t *jobs)
{
    size_t i;
    json_t *job;
    json_array_foreach(jobs, i, job) {
        int s = job_status(job);
        char state[64], exit_code[32];
        if ((s >= 0 && slurm_status_is_final((RunStatus)s)) ||
            slurmjob_query(jstr(job, "id"), state, sizeof state, exit_code, sizeof exit_code))
            continue;
        RunStatus st = slurm_parse_state(state, exit_code);
        json_object_set_new(job, "state", json_string(state));
        json_object_set_new(job, "exit_code", json_string(exit_code));
        json_object_set_new(job, "status", json_string(slurm_status_name(st)));
    }
}

void rundir_refresh(RunDir *r, int ask_slurm)
{
    json_t *sub = last_submission(r);
    r->status = RUN_INIT;
    r->job[0] = r->state[0] = r->exit_code[0] = '\0';
    if (!sub)
        return;
    json_t *jobs = json_object_get(sub, "jobs");
    if (ask_slurm)
        ask_jobs(jobs);
    RunStatus derived = RUN_UNKNOWN;
    json_t *from = NULL, *job;
    size_t i;
    json_array_foreach(jobs, i, job) {
        int s = job_status(job);
        if (s == RUN_RUNNING && derived != RUN_RUNNING) {
            derived = RUN_RUNNING;
            from = job;
        } else if (s == RUN_PENDING && derived != RUN_RUNNING && derived != RUN_PENDING) {
            derived = RUN_PENDING;
            from = job;
        }
    }
    for (size_t k = json_array_size(jobs); !from && k-- > 0;) {
        int s = job_status(json_array_get(jobs, k));
        if (s >= 0 && s != RUN_UNKNOWN) {
            derived = (RunStatus)s;
            from = json_array_get(jobs, k);
        }
    }
    if (!from)
        from = json_array_get(jobs, json_array_size(jobs) - 1);
    r->status = derived;
    if (from) {
        snprintf(r->job, sizeof r->job, "%s", jstr(from, "id"));
        snprintf(r->state, sizeof r->state, "%s", jstr(from, "state"));
        snprintf(r->exit_code, sizeof r->exit_code, "%s", jstr(from, "exit_code"));
    }
}

const char *rundir_skip_reason(const RunDir *r, int only_mask)
{
    if (r->status == RUN_COMPLETED)
        return "completed runs are never submitted again";
    if (r->status == RUN_PENDING || r->status == RUN_RUNNING)
        return "it has a job in the queue already";
    if (only_mask && !(only_mask & (1 << r->status)))
        return "not in --only";
    return NULL;
}

void rundir_common_parent(RunDir *const *runs, int n, char *out, size_t len)
{
    snprintf(out, len, "%s", runs[0]->dir);
    char *slash = strrchr(out, '/');
    if (slash)
        slash[slash == out ? 1 : 0] = '\0';
    for (;;) {
        size_t k = strlen(out);
        int ok = 1;
        for (int i = 0; i < n && ok; i++)
            ok = !strncmp(runs[i]->dir, out, k) && (runs[i]->dir[k] == '/' || k == 1);
        if (ok || k <= 1)
            return;
        slash = strrchr(out, '/');
        slash[slash == out ? 1 : 0] = '\0';
    }
}

void rundir_add_submission(RunDir *r, const char *when, int chain, char ids[][96], int nids)
{
    json_t *jobs = json_array();
    for (int i = 0; i < nids; i++)
        json_array_append_new(jobs, json_pack("{s:s, s:s, s:s, s:s}", "id", ids[i], "state",
                                              "PENDING", "exit_code", "", "status", "pending"));
    json_array_append_new(json_object_get(r->record, "submissions"),
                          json_pack("{s:s, s:s, s:i, s:o}", "submitted", when, "script",
                                    "submit.sbatch", "chain", chain, "jobs", jobs));
    r->status = RUN_PENDING;
}

size_t rundir_submissions(const RunDir *r)
{
    return json_array_size(json_object_get(r->record, "submissions"));
}

void rundir_last_jobs(const RunDir *r, char *out, size_t len)
{
    json_t *jobs = json_object_get(last_submission(r), "jobs");
    size_t n = 0;
    out[0] = '\0';
    for (size_t k = 0; k < json_array_size(jobs) && n < len; k++)
        n += (size_t)snprintf(out + n, len - n, "%s%s", k ? "," : "",
                              jstr(json_array_get(jobs, k), "id"));
}

int rundir_save(const RunDir *r, Error *err)
{
    char path[PATH_MAX + 16];
    if (rundir_submissions(r) > 0) {
        char *text = json_dumps(r->record, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        size_t n = strlen(text);
        char *withnl = xmalloc(n + 2);
        memcpy(withnl, text, n);
        withnl[n] = '\n';
        file_path(path, sizeof path, r, "submit.json");
        int rc = atomic_write_file(path, withnl, n + 1, err);
        free(text);
        free(withnl);
        if (rc)
            return rc;
    }
    char word[32], old[32] = "";
    snprintf(word, sizeof word, "%s\n", slurm_status_name(r->status));
    file_path(path, sizeof path, r, "status");
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(old, sizeof old, f))
            old[0] = '\0';
        fclose(f);
    }
    if (strcmp(old, word) != 0)
        return atomic_write_file(path, word, strlen(word), err);
    return PT_OK;
}

void rundir_free(RunDir *r)
{
    json_decref(r->record);
    r->record = NULL;
}
