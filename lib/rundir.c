/* rundir: run discovery, open / refresh / save of picotron-submit, over submit.json with
 * jansson. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "config.h"
#include "dirwalk.h"
#include "preflight.h"
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

static int holds_config(const char *dir)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/config.json", dir);
    return access(path, F_OK) == 0;
}

int rundir_find(const char *arg, char ***list, int *n, Error *err)
{
    struct stat st;
    if (stat(arg, &st) != 0)
        return err_set(err, PT_EINPUT, "%s: no such run directory or config file", arg);
    if (!S_ISDIR(st.st_mode) || holds_config(arg)) {
        dirwalk_append(list, n, arg);
        return PT_OK;
    }
    int before = *n;
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%s", arg);
    for (size_t k = strlen(root); k > 1 && root[k - 1] == '/';) /* "runs/" names runs/a */
        root[--k] = '\0';
    dirwalk_find(root, holds_config, list, n);
    if (*n == before)
        return err_set(err, PT_EINPUT, "%s: no config.json in it or in any directory below it "
                       "(write one with picotron create-config)", arg);
    return PT_OK;
}

int rundir_find_args(char *const *args, int nargs, char ***list, int *n, Error *err)
{
    *list = NULL;
    *n = 0;
    for (int i = 0; i < nargs; i++) {
        if (!strcmp(args[i], "-")) {
            dirwalk_append(list, n, "-");
        } else if (rundir_find(args[i], list, n, err)) {
            return err->code;
        }
    }
    return PT_OK;
}

void rundir_free_list(char **list, int n)
{
    for (int i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

int rundir_open(RunDir *r, const char *arg, const char *const *sets, int nsets, Error *err)
{
    memset(r, 0, sizeof *r);
    r->arg = arg;
    r->status = RUN_INIT;
    r->cfg = xmalloc(sizeof *r->cfg);
    if (locate(r, arg, err) || config_load(r->cfg, r->config, err))
        return err->code;
    for (int i = 0; i < nsets; i++)
        if (config_set(r->cfg, sets[i], err))
            return err->code;
    if (nsets && config_validate(r->cfg, err))
        return err->code;
    r->ntasks = config_world_size(r->cfg);
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

void rundir_planned(RunDir *r, const char *dir, const char *workdir, Config *cfg)
{
    memset(r, 0, sizeof *r);
    r->arg = dir;
    if (dir[0] == '/')
        snprintf(r->dir, sizeof r->dir, "%s", dir);
    else
        snprintf(r->dir, sizeof r->dir, "%.*s/%s", PATH_MAX / 2, workdir, dir);
    snprintf(r->config, sizeof r->config, "%.*s/config.json", PATH_MAX - 13, r->dir);
    r->record = json_pack("{s:[]}", "submissions");
    r->cfg = cfg;
    r->ntasks = config_world_size(cfg);
    r->status = RUN_INIT;
}

int rundir_stdin_config(const char *dir, const char *const *sets, int nsets, int write,
                        Config **cfg, Error *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%.*s/config.json", PATH_MAX - 13, dir);
    if (access(path, F_OK) == 0)
        return err_set(err, PT_EINPUT, "%s already exists: submit the directory itself, or "
                       "choose a new --run-dir", path);
    char *text;
    *cfg = xmalloc(sizeof **cfg);
    int rc = config_read_text("-", &text, err);
    if (rc)
        return rc;
    rc = config_load_text(*cfg, text, path, err);
    for (int i = 0; !rc && i < nsets; i++)
        rc = config_set(*cfg, sets[i], err);
    Error pe = {0};
    if (!rc && preflight_check(*cfg, &pe))
        rc = err_set(err, pe.code, "%s: %s", path, pe.msg);
    if (!rc && write && !(rc = make_dirs(dir, err)))
        rc = atomic_write_file(path, text, strlen(text), err);
    free(text);
    return rc;
}

int rundir_preflight(const RunDir *r, Error *err)
{
    Error e = {0};
    if (preflight_check(r->cfg, &e))
        return err_set(err, e.code, "%s: %s", r->arg, e.msg);
    return PT_OK;
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

/* The last bytes of the job's logs in the run directory (stderr, then stdout), where the
 * trainer's, srun's and slurmstepd's last words are. */
static void log_tail(const RunDir *r, const char *id, char *out, size_t len)
{
    const char *ext[] = {"err", "out"};
    size_t n = 0, share = (len - 1) / 2;
    for (int i = 0; i < 2; i++) {
        char path[PATH_MAX + 128];
        snprintf(path, sizeof path, "%s/slurm-%.64s.%s", r->dir, id, ext[i]);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        if (fseek(f, 0, SEEK_END) == 0) {
            long size = ftell(f);
            fseek(f, size > (long)share ? size - (long)share : 0, SEEK_SET);
        }
        n += fread(out + n, 1, len - 1 - n < share ? len - 1 - n : share, f);
        fclose(f);
    }
    out[n] = '\0';
}

/* Slurm's word on every job that had not ended, into its record; a failed or cancelled job's
 * logs tell out-of-memory and time-limit ends apart from other failures. */
static void ask_jobs(const RunDir *r, json_t *jobs)
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
        if (st == RUN_FAIL || st == RUN_CANCELLED) {
            static char tail[16384];
            log_tail(r, jstr(job, "id"), tail, sizeof tail);
            st = slurm_status_from_log(st, tail);
        }
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
        ask_jobs(r, jobs);
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

int rundir_live_jobs(const RunDir *r, char (**ids)[96])
{
    json_t *jobs = json_object_get(last_submission(r), "jobs");
    int n = 0;
    *ids = xcalloc(json_array_size(jobs) + 1, sizeof **ids);
    for (size_t k = 0; k < json_array_size(jobs); k++) {
        json_t *job = json_array_get(jobs, k);
        int s = job_status(job);
        if (s == RUN_PENDING || s == RUN_RUNNING)
            snprintf((*ids)[n++], sizeof **ids, "%s", jstr(job, "id"));
    }
    return n;
}

/* Write text to the run's file name unless it already holds exactly that. */
static int save_if_changed(const RunDir *r, const char *name, const char *text, Error *err)
{
    char path[PATH_MAX + 16], old[64] = "";
    file_path(path, sizeof path, r, name);
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(old, 1, sizeof old - 1, f);
        old[n] = '\0';
        fclose(f);
    }
    if (!strcmp(old, text))
        return PT_OK;
    return atomic_write_file(path, text, strlen(text), err);
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
    char word[32];
    snprintf(word, sizeof word, "%s\n", slurm_status_name(r->status));
    /* upstream's readers compare the whole file with the word: no newline */
    if (save_if_changed(r, "status", word, err) ||
        save_if_changed(r, "status.txt", slurm_status_upstream(r->status), err))
        return err->code;
    return PT_OK;
}

void rundir_free(RunDir *r)
{
    json_decref(r->record);
    r->record = NULL;
    free(r->cfg);
    r->cfg = NULL;
}
