/* picotron-submit: render one sbatch script per run (a sweep of runs that share resources as
 * one job array), submit it with sbatch (optionally as a chain of jobs), and keep each run
 * directory's `status` true from squeue, scontrol and sacct. Reference: docs/submit.md. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "config.h"
#include "error.h"
#include "slurm.h"

static const char *prog = "picotron-submit";

static const char usage[] =
    "usage: picotron-submit [options] RUN_DIR|CONFIG|- ...\n"
    "       picotron-submit status [--json] RUN_DIR|CONFIG ...\n"
    "\n"
    "Render an sbatch script per run (RUN_DIR/config.json, or CONFIG whose directory is the\n"
    "run directory), submit it with sbatch and record the job ids in RUN_DIR/submit.json;\n"
    "RUN_DIR/status holds one word: init pending running fail oom timeout completed\n"
    "preempted cancelled. Runs that need the same resources go as one job array. stdout: one\n"
    "line per submitted run, 'RUN JOBID[,JOBID...]'. Completed, pending and running runs are\n"
    "never submitted again. The job runs `srun --mpi=pmix --kill-on-bad-exit=1 picotron-train\n"
    "--config CONFIG --set checkpoint.resume=auto`; its stdout (the loss log) and stderr go to\n"
    "RUN_DIR/slurm-JOBID.out and .err. On exit 75 (checkpoint saved after SIGUSR1) the script\n"
    "runs `scontrol requeue`.\n"
    "\n"
    "resources:\n"
    "  -N, --nodes N              nodes per run (default 1); the ranks (dp*pp*cp*tp of the\n"
    "                             config) are spread evenly over them\n"
    "      --ntasks-per-node N    ranks per node (default: ranks / nodes; must agree)\n"
    "      --gpus-per-node N      GPUs per node (default 0: no --gpus-per-node line)\n"
    "  -c, --cpus-per-task N      CPUs per rank, also OMP_NUM_THREADS (default 1)\n"
    "  -t, --time T               time limit (minutes, MM:SS, HH:MM:SS, D-HH:MM:SS)\n"
    "  -p, --partition P          Slurm partition\n"
    "      --qos Q                quality of service\n"
    "  -A, --account A            account to charge\n"
    "      --exclusive            whole nodes\n"
    "  -O, --overcommit           more ranks than CPUs (small clusters, tests)\n"
    "      --sbatch-arg ARG       extra '#SBATCH ARG' line, e.g. --sbatch-arg=--mem=0\n"
    "                             (repeatable)\n"
    "behaviour:\n"
    "  -J, --job-name NAME        job name (default: the run directory's name; a sweep: its\n"
    "                             parent's)\n"
    "      --signal-before S      SIGUSR1 to the ranks S seconds before the time limit, so\n"
    "                             they save and exit 75 (default 300, at most half of --time;\n"
    "                             0: no signal)\n"
    "      --chain K              submit K jobs per run, each after the previous ends\n"
    "                             (--dependency=afterany), each resuming the checkpoint\n"
    "      --steps N              each job trains at most N steps (picotron-train --steps)\n"
    "      --only LIST            submit only runs whose status is in LIST, e.g. fail,timeout\n"
    "      --no-array             one job per run even when runs share resources\n"
    "      --run-dir DIR          with '-': write the config read from stdin to\n"
    "                             DIR/config.json (DIR must not hold one yet)\n"
    "      --train PATH           picotron-train to run (default: the one beside this tool)\n"
    "      --dry-run              print the scripts, submit and write nothing\n"
    "      --json                 status: a JSON array instead of the table\n"
    "  -h, --help                 this help\n"
    "\n"
    "exit status: 0 ok, 1 Slurm refused or failed, 2 bad input or no Slurm on PATH\n"
    "\n"
    "examples:\n"
    "  picotron-submit --nodes 2 --gpus-per-node 8 --time 24:00:00 --chain 3 runs/a\n"
    "  picotron-submit --dry-run --time 1:00:00 runs/*/\n"
    "  picotron-submit status runs/*/ ; picotron-submit --only fail,timeout runs/*/\n";

/* ---- errors ---- */

static void die_err(const Error *e) __attribute__((noreturn));
static void die_err(const Error *e)
{
    err_die(prog, e);
}

static int positive_int(const char *opt, const char *text, int min)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || *end || end == text || v < min || v > 1000000) {
        fprintf(stderr, "%s: %s: expected an integer >= %d, got '%s' (try '%s --help')\n", prog,
                opt, min, text, prog);
        exit(PT_EINPUT);
    }
    return (int)v;
}

/* ---- running Slurm's commands ---- */

/* NAME found in a directory of PATH, as an executable. */
static int on_path(const char *name)
{
    const char *path = getenv("PATH");
    if (!path)
        return 0;
    char buf[PATH_MAX];
    for (const char *p = path; *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s/%s", (int)n, n ? p : ".", name);
        if (access(buf, X_OK) == 0)
            return 1;
        p += n + (colon ? 1 : 0);
        if (!colon)
            break;
    }
    return 0;
}

/* Run argv (looked up on PATH), capturing stdout and stderr (malloc'ed, NUL-terminated).
 * Returns the exit status, 127 when it could not be executed, 128+sig when killed. */
static int run_capture(char *const argv[], char **out, char **errout)
{
    int po[2], pe[2];
    *out = *errout = NULL;
    if (pipe(po) != 0)
        return 127;
    if (pipe(pe) != 0) {
        close(po[0]);
        close(po[1]);
        return 127;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
        return 127;
    }
    if (pid == 0) {
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    char *buf[2] = {NULL, NULL};
    size_t len[2] = {0, 0}, cap[2] = {0, 0};
    struct pollfd fds[2] = {{.fd = po[0], .events = POLLIN}, {.fd = pe[0], .events = POLLIN}};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (cap[i] - len[i] < 4097) {
                cap[i] = cap[i] ? 2 * cap[i] : 8192;
                char *nb = realloc(buf[i], cap[i]);
                if (!nb) {
                    fprintf(stderr, "%s: out of memory\n", prog);
                    exit(PT_ERUNTIME);
                }
                buf[i] = nb;
            }
            ssize_t n = read(fds[i].fd, buf[i] + len[i], 4096);
            if (n > 0) {
                len[i] += (size_t)n;
            } else if (n == 0 || errno != EINTR) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++) {
        if (fds[i].fd >= 0)
            close(fds[i].fd);
        if (!buf[i])
            buf[i] = xcalloc(1, 1);
        buf[i][len[i]] = '\0';
    }
    *out = buf[0];
    *errout = buf[1];
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return 127;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* first line of text, without the newline, for messages */
static const char *first_line(char *text)
{
    char *nl = strchr(text, '\n');
    if (nl)
        *nl = '\0';
    return text;
}

/* What Slurm says about one job now: 0 with state/exit code set, -1 when it does not know it.
 * squeue for queued jobs; scontrol for jobs it still remembers (MinJobAge); then the job
 * completion file (`sacct -c`), then accounting (`sacct`, needs slurmdbd). */
static int slurm_query(const char *id, char *state, size_t slen, char *exit_code, size_t elen)
{
    char *out, *errs;
    char jid[64];
    snprintf(jid, sizeof jid, "%s", id);
    exit_code[0] = '\0';
    if (on_path("squeue")) {
        char *argv[] = {"squeue", "-h", "-j", jid, "-o", "%T", NULL};
        int rc = run_capture(argv, &out, &errs);
        if (rc == 0 && out[0]) {
            snprintf(state, slen, "%s", first_line(out));
            RunStatus s = slurm_parse_state(state, NULL);
            if (s == RUN_PENDING || s == RUN_RUNNING) {
                free(out), free(errs);
                return 0;
            }
        }
        free(out), free(errs);
    }
    if (on_path("scontrol")) {
        char *argv[] = {"scontrol", "show", "job", "-o", jid, NULL};
        int rc = run_capture(argv, &out, &errs);
        int found = rc == 0 && !slurm_scontrol_field(out, "JobState", state, slen);
        if (found)
            slurm_scontrol_field(out, "ExitCode", exit_code, elen);
        free(out), free(errs);
        if (found)
            return 0;
    }
    if (on_path("sacct")) {
        char *with_c[] = {"sacct", "-c", "-n", "-P", "-j", jid, "-o", "JobID,State,ExitCode", NULL};
        char *plain[] = {"sacct", "-n", "-P", "-X", "-j", jid, "-o", "JobID,State,ExitCode", NULL};
        char **tries[] = {with_c, plain};
        for (int t = 0; t < 2; t++) {
            int rc = run_capture(tries[t], &out, &errs);
            int found = rc == 0 && !slurm_sacct_find(out, id, state, slen, exit_code, elen);
            free(out), free(errs);
            if (found)
                return 0;
        }
    }
    return -1;
}

/* ---- runs: a directory with its config, submit.json and status ---- */

typedef struct {
    const char *arg;          /* as the user wrote it, for output */
    char dir[PATH_MAX];       /* absolute run directory */
    char config[PATH_MAX];    /* absolute config path */
    int ntasks;               /* dp*pp*cp*tp */
    json_t *record;           /* submit.json: {"submissions": [{"submitted", "jobs": [...]}]} */
    RunStatus status;
    char job[64];             /* the job the status comes from */
    char state[64], exit_code[32];
} Run;

static void run_path(char *out, size_t len, const Run *r, const char *name)
{
    snprintf(out, len, "%s/%s", r->dir, name);
}

/* Resolve a RUN_DIR or CONFIG argument; load and validate the config. */
static void run_open(Run *r, const char *arg)
{
    struct stat st;
    Error err = {0};
    r->arg = arg;
    if (stat(arg, &st) != 0) {
        fprintf(stderr, "%s: %s: no such run directory or config file\n", prog, arg);
        exit(PT_EINPUT);
    }
    char abs[PATH_MAX];
    if (!realpath(arg, abs)) {
        fprintf(stderr, "%s: %s: %s\n", prog, arg, strerror(errno));
        exit(PT_EINPUT);
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(r->dir, sizeof r->dir, "%s", abs);
        snprintf(r->config, sizeof r->config, "%.*s/config.json", PATH_MAX - 13, abs);
        if (access(r->config, R_OK) != 0) {
            fprintf(stderr, "%s: %s: the run directory holds no config.json (write one with "
                            "picotron create-config)\n", prog, arg);
            exit(PT_EINPUT);
        }
    } else {
        snprintf(r->config, sizeof r->config, "%s", abs);
        snprintf(r->dir, sizeof r->dir, "%s", abs);
        char *slash = strrchr(r->dir, '/');
        if (slash == r->dir)
            slash[1] = '\0';
        else
            *slash = '\0';
    }
    Config cfg;
    if (config_load(&cfg, r->config, &err))
        die_err(&err);
    r->ntasks = cfg.distributed.dp_size * cfg.distributed.pp_size * cfg.distributed.cp_size *
                cfg.distributed.tp_size;
    char path[PATH_MAX + 16];
    run_path(path, sizeof path, r, "submit.json");
    json_error_t jerr;
    r->record = NULL;
    if (access(path, F_OK) == 0) {
        r->record = json_load_file(path, 0, &jerr);
        if (!r->record || !json_is_array(json_object_get(r->record, "submissions"))) {
            fprintf(stderr, "%s: %s: not a submit record (line %d: %s); move it away to start "
                            "over\n", prog, path, jerr.line, r->record ? "no submissions array" : jerr.text);
            exit(PT_EINPUT);
        }
    } else {
        r->record = json_pack("{s:[]}", "submissions");
    }
    r->status = RUN_INIT;
}

static json_t *last_submission(const Run *r)
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

/* Ask Slurm about the jobs of the last submission that had not ended, then derive the run's
 * status: running or pending while any job is; else what the last job that Slurm told us
 * about ended with. Without Slurm on PATH the recorded states stay as they are. */
static void run_refresh(Run *r, int ask_slurm)
{
    json_t *sub = last_submission(r);
    r->status = RUN_INIT;
    r->job[0] = r->state[0] = r->exit_code[0] = '\0';
    if (!sub)
        return;
    json_t *jobs = json_object_get(sub, "jobs");
    size_t i;
    json_t *job;
    json_array_foreach(jobs, i, job) {
        int s = slurm_status_from_name(jstr(job, "status"));
        if (!ask_slurm || (s >= 0 && slurm_status_is_final((RunStatus)s)))
            continue;
        char state[64], exit_code[32];
        if (slurm_query(jstr(job, "id"), state, sizeof state, exit_code, sizeof exit_code))
            continue;
        RunStatus st = slurm_parse_state(state, exit_code);
        json_object_set_new(job, "state", json_string(state));
        json_object_set_new(job, "exit_code", json_string(exit_code));
        json_object_set_new(job, "status", json_string(slurm_status_name(st)));
    }
    RunStatus derived = RUN_UNKNOWN;
    json_t *from = NULL;
    json_array_foreach(jobs, i, job) {
        int s = slurm_status_from_name(jstr(job, "status"));
        if (s == RUN_RUNNING && derived != RUN_RUNNING) {
            derived = RUN_RUNNING;
            from = job;
        } else if (s == RUN_PENDING && derived != RUN_RUNNING && derived != RUN_PENDING) {
            derived = RUN_PENDING;
            from = job;
        }
    }
    if (!from) {
        for (size_t k = json_array_size(jobs); k-- > 0;) {
            job = json_array_get(jobs, k);
            int s = slurm_status_from_name(jstr(job, "status"));
            if (s >= 0 && s != RUN_UNKNOWN) {
                derived = (RunStatus)s;
                from = job;
                break;
            }
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

/* submit.json and status, each written atomically (status only when it changed). */
static void run_save(const Run *r)
{
    Error err = {0};
    char path[PATH_MAX + 16];
    if (json_array_size(json_object_get(r->record, "submissions")) > 0) {
        char *text = json_dumps(r->record, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        size_t n = strlen(text);
        char *withnl = xmalloc(n + 2);
        memcpy(withnl, text, n);
        withnl[n] = '\n';
        run_path(path, sizeof path, r, "submit.json");
        int rc = atomic_write_file(path, withnl, n + 1, &err);
        free(text);
        free(withnl);
        if (rc)
            die_err(&err);
    }
    char word[32];
    snprintf(word, sizeof word, "%s\n", slurm_status_name(r->status));
    run_path(path, sizeof path, r, "status");
    char old[32] = "";
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(old, sizeof old, f))
            old[0] = '\0';
        fclose(f);
    }
    if (strcmp(old, word) != 0 && atomic_write_file(path, word, strlen(word), &err))
        die_err(&err);
}

static int any_slurm_tool(void)
{
    return on_path("squeue") || on_path("scontrol") || on_path("sacct");
}

/* ---- status ---- */

static int cmd_status(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, 0, 'j'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int json = 0, c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        case ':': err_usage(prog, "option needs a value:", argv[optind - 1]);
        default: err_usage(prog, "unknown option", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        err_usage(prog, "status: give at least one RUN_DIR", NULL);
    if (!any_slurm_tool()) {
        fprintf(stderr, "%s: no Slurm on PATH (squeue, scontrol, sacct): install slurm-wlm "
                        "(scripts/install-deps) or run where Slurm is\n", prog);
        return PT_EINPUT;
    }
    int n = argc - optind;
    Run *runs = xcalloc((size_t)n, sizeof *runs);
    for (int i = 0; i < n; i++)
        run_open(&runs[i], argv[optind + i]);
    json_t *arr = json_array();
    if (!json)
        printf("%-32s %-10s %-12s %s\n", "RUN", "STATUS", "JOB", "SLURM");
    for (int i = 0; i < n; i++) {
        Run *r = &runs[i];
        run_refresh(r, 1);
        run_save(r);
        if (json) {
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s}", "run_dir", r->dir,
                                                 "status", slurm_status_name(r->status), "job",
                                                 r->job, "slurm_state", r->state, "exit_code",
                                                 r->exit_code));
        } else {
            char slurm[128];
            snprintf(slurm, sizeof slurm, "%s%s%s", r->state, r->exit_code[0] ? " " : "",
                     r->exit_code);
            printf("%-32s %-10s %-12s %s\n", r->arg, slurm_status_name(r->status),
                   r->job[0] ? r->job : "-", slurm[0] ? slurm : "-");
        }
        json_decref(r->record);
    }
    if (json) {
        char *text = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(text);
        free(text);
    }
    json_decref(arr);
    free(runs);
    return 0;
}

/* ---- submit ---- */

typedef struct {
    SlurmSpec spec;
    int nodes_given_ntasks; /* --ntasks-per-node, 0: derived */
    int signal_given;
    int chain;
    int only_mask;          /* bit per RunStatus; 0: no --only */
    int no_array;
    int dry_run;
    const char *run_dir_for_stdin;
} SubmitOpts;

/* the picotron-train beside this executable, else on PATH */
static void find_train(char *out, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = '\0';
            snprintf(out, len, "%.*s/picotron-train", PATH_MAX - 20, self);
            if (access(out, X_OK) == 0)
                return;
        }
    }
    const char *path = getenv("PATH");
    for (const char *p = path ? path : ""; *p;) {
        const char *colon = strchr(p, ':');
        size_t k = colon ? (size_t)(colon - p) : strlen(p);
        char cand[PATH_MAX];
        snprintf(cand, sizeof cand, "%.*s/picotron-train", (int)k, p);
        if (k && cand[0] == '/' && access(cand, X_OK) == 0) {
            snprintf(out, len, "%s", cand);
            return;
        }
        if (!colon)
            break;
        p = colon + 1;
    }
    fprintf(stderr, "%s: picotron-train not found beside %s or on PATH; give --train PATH\n",
            prog, prog);
    exit(PT_EINPUT);
}

/* The config from stdin becomes DIR/config.json (written unless dry_run); returns its mesh
 * size. */
static int stdin_run_dir(const SubmitOpts *o)
{
    Error err = {0};
    if (!o->run_dir_for_stdin) {
        fprintf(stderr, "%s: a config on stdin ('-') needs --run-dir DIR to hold it (the job "
                        "reads DIR/config.json and writes its logs there)\n", prog);
        exit(PT_EINPUT);
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%.*s/config.json", PATH_MAX - 13, o->run_dir_for_stdin);
    if (access(path, F_OK) == 0) {
        fprintf(stderr, "%s: %s already exists: submit the directory itself, or choose a new "
                        "--run-dir\n", prog, path);
        exit(PT_EINPUT);
    }
    char *text;
    Config cfg;
    if (config_read_text("-", &text, &err) || config_load_text(&cfg, text, path, &err))
        die_err(&err);
    if (!o->dry_run && (make_dirs(o->run_dir_for_stdin, &err) ||
                        atomic_write_file(path, text, strlen(text), &err)))
        die_err(&err);
    free(text);
    return cfg.distributed.dp_size * cfg.distributed.pp_size * cfg.distributed.cp_size *
           cfg.distributed.tp_size;
}

/* Longest directory holding every run directory (a sweep's Slurm logs go there). */
static void common_parent(Run **runs, int n, char *out, size_t len)
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

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s && s[1] ? s + 1 : path;
}

static void iso_now(char *out, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* sbatch SCRIPT (after job `after` when given): 0 with the job id, or -1 after one line with
 * sbatch's words. */
static int sbatch(const char *script, const char *after, char *id, size_t len)
{
    char dep[96];
    char *argv[6] = {"sbatch", "--parsable", NULL, NULL, NULL, NULL};
    int a = 2;
    if (after) {
        snprintf(dep, sizeof dep, "--dependency=afterany:%s", after);
        argv[a++] = dep;
    }
    argv[a++] = (char *)script;
    char *out, *errs;
    int rc = run_capture(argv, &out, &errs);
    size_t k = 0;
    while (out[k] >= '0' && out[k] <= '9')
        k++;
    if (rc != 0 || k == 0 || k >= len) {
        fprintf(stderr, "%s: sbatch %s failed (exit %d): %s\n", prog, script, rc,
                errs[0] ? first_line(errs) : first_line(out));
        free(out), free(errs);
        return -1;
    }
    snprintf(id, len, "%.*s", (int)k, out);
    free(out), free(errs);
    return 0;
}

/* Render, write and submit one group of runs (one run: a job; several: an array). */
static void submit_group(SubmitOpts *o, Run **g, int n, const char *workdir)
{
    Error err = {0};
    SlurmSpec s = o->spec;
    char log_dir[PATH_MAX] = "";
    if (n > 1)
        common_parent(g, n, log_dir, sizeof log_dir);
    s.log_dir = n > 1 ? log_dir : NULL;
    if (!s.job_name)
        s.job_name = n > 1 ? base_name(log_dir) : base_name(g[0]->dir);
    int nodes = s.nodes;
    if (g[0]->ntasks % nodes != 0) {
        fprintf(stderr, "%s: %s: %d ranks (dp*pp*cp*tp) do not divide evenly over %d nodes\n",
                prog, g[0]->arg, g[0]->ntasks, nodes);
        exit(PT_EINPUT);
    }
    s.ntasks_per_node = g[0]->ntasks / nodes;
    s.workdir = workdir;
    const char **dirs = xcalloc((size_t)n, sizeof *dirs);
    const char **configs = xcalloc((size_t)n, sizeof *configs);
    for (int i = 0; i < n; i++) {
        dirs[i] = g[i]->dir;
        configs[i] = g[i]->config;
    }
    char *script;
    if (slurm_render_script(&s, dirs, configs, n, &script, &err))
        die_err(&err);
    if (o->dry_run) {
        fputs(script, stdout);
        if (o->chain > 1)
            printf("# picotron-submit: submitted %d times, job k+1 with "
                   "--dependency=afterany:<job k>\n", o->chain);
        printf("\n");
    } else {
        char path[PATH_MAX + 16];
        for (int i = 0; i < n; i++) {
            run_path(path, sizeof path, g[i], "submit.sbatch");
            if (atomic_write_file(path, script, strlen(script), &err))
                die_err(&err);
        }
        run_path(path, sizeof path, g[0], "submit.sbatch");
        char when[32];
        iso_now(when, sizeof when);
        json_t **subs = xcalloc((size_t)n, sizeof *subs);
        for (int i = 0; i < n; i++)
            subs[i] = json_pack("{s:s, s:s, s:i, s:[]}", "submitted", when, "script",
                                "submit.sbatch", "chain", o->chain, "jobs");
        char prev[64] = "";
        int failed = 0;
        for (int k = 0; k < o->chain && !failed; k++) {
            char id[64];
            if (sbatch(path, k ? prev : NULL, id, sizeof id)) {
                failed = 1; /* the jobs already in the queue are still recorded below */
                break;
            }
            snprintf(prev, sizeof prev, "%s", id);
            for (int i = 0; i < n; i++) {
                char jid[96];
                if (n > 1)
                    snprintf(jid, sizeof jid, "%s_%d", id, i);
                else
                    snprintf(jid, sizeof jid, "%s", id);
                json_array_append_new(json_object_get(subs[i], "jobs"),
                                      json_pack("{s:s, s:s, s:s, s:s}", "id", jid, "state",
                                                "PENDING", "exit_code", "", "status", "pending"));
            }
        }
        for (int i = 0; i < n; i++) {
            Run *r = g[i];
            if (json_array_size(json_object_get(subs[i], "jobs")) == 0) {
                json_decref(subs[i]);
                continue;
            }
            json_array_append_new(json_object_get(r->record, "submissions"), subs[i]);
            r->status = RUN_PENDING;
            run_save(r);
            printf("%s ", r->arg);
            json_t *jobs = json_object_get(subs[i], "jobs");
            for (size_t k = 0; k < json_array_size(jobs); k++)
                printf("%s%s", k ? "," : "", jstr(json_array_get(jobs, k), "id"));
            printf("\n");
        }
        free(subs);
        if (failed)
            exit(PT_ERUNTIME);
    }
    free(script);
    free(dirs);
    free(configs);
}

static int parse_only(const char *list)
{
    int mask = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int s = slurm_status_from_name(tok);
        if (s < 0 || s == RUN_UNKNOWN) {
            fprintf(stderr, "%s: --only: '%s' is not a status (init pending running fail oom "
                            "timeout completed preempted cancelled)\n", prog, tok);
            exit(PT_EINPUT);
        }
        mask |= 1 << s;
    }
    if (!mask)
        err_usage(prog, "--only: give a list of statuses, e.g. fail,timeout", NULL);
    return mask;
}

static int cmd_submit(int argc, char **argv)
{
    enum { O_NTASKS = 256, O_GPUS, O_QOS, O_EXCL, O_SBATCH, O_SIGNAL, O_CHAIN, O_STEPS, O_ONLY,
           O_NOARRAY, O_RUNDIR, O_TRAIN, O_DRY };
    static const struct option longopts[] = {
        {"nodes", required_argument, 0, 'N'},         {"ntasks-per-node", required_argument, 0, O_NTASKS},
        {"gpus-per-node", required_argument, 0, O_GPUS}, {"cpus-per-task", required_argument, 0, 'c'},
        {"time", required_argument, 0, 't'},          {"partition", required_argument, 0, 'p'},
        {"qos", required_argument, 0, O_QOS},         {"account", required_argument, 0, 'A'},
        {"exclusive", no_argument, 0, O_EXCL},        {"overcommit", no_argument, 0, 'O'},
        {"sbatch-arg", required_argument, 0, O_SBATCH}, {"job-name", required_argument, 0, 'J'},
        {"signal-before", required_argument, 0, O_SIGNAL}, {"chain", required_argument, 0, O_CHAIN},
        {"steps", required_argument, 0, O_STEPS},     {"only", required_argument, 0, O_ONLY},
        {"no-array", no_argument, 0, O_NOARRAY},      {"run-dir", required_argument, 0, O_RUNDIR},
        {"train", required_argument, 0, O_TRAIN},     {"dry-run", no_argument, 0, O_DRY},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0},
    };
    SubmitOpts o = {.spec = {.nodes = 1, .cpus_per_task = 1, .signal_before = 300}, .chain = 1};
    const char **sbatch_args = xcalloc((size_t)argc, sizeof *sbatch_args);
    const char *train = NULL;
    Error err = {0};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":N:c:t:p:A:OJ:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'N': o.spec.nodes = positive_int("--nodes", optarg, 1); break;
        case O_NTASKS: o.nodes_given_ntasks = positive_int("--ntasks-per-node", optarg, 1); break;
        case O_GPUS: o.spec.gpus_per_node = positive_int("--gpus-per-node", optarg, 0); break;
        case 'c': o.spec.cpus_per_task = positive_int("--cpus-per-task", optarg, 1); break;
        case 't': o.spec.time = optarg; break;
        case 'p': o.spec.partition = optarg; break;
        case O_QOS: o.spec.qos = optarg; break;
        case 'A': o.spec.account = optarg; break;
        case O_EXCL: o.spec.exclusive = 1; break;
        case 'O': o.spec.overcommit = 1; break;
        case O_SBATCH: sbatch_args[o.spec.nsbatch_args++] = optarg; break;
        case 'J': o.spec.job_name = optarg; break;
        case O_SIGNAL:
            o.spec.signal_before = positive_int("--signal-before", optarg, 0);
            o.signal_given = 1;
            break;
        case O_CHAIN: o.chain = positive_int("--chain", optarg, 1); break;
        case O_STEPS: o.spec.steps = positive_int("--steps", optarg, 1); break;
        case O_ONLY: o.only_mask = parse_only(optarg); break;
        case O_NOARRAY: o.no_array = 1; break;
        case O_RUNDIR: o.run_dir_for_stdin = optarg; break;
        case O_TRAIN: train = optarg; break;
        case O_DRY: o.dry_run = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        case ':': err_usage(prog, "option needs a value:", argv[optind - 1]);
        default: err_usage(prog, "unknown option", argv[optind - 1]);
        }
    }
    o.spec.sbatch_args = sbatch_args;
    if (optind >= argc)
        err_usage(prog, "give at least one RUN_DIR, CONFIG or '-'", NULL);
    if (!o.dry_run && !on_path("sbatch")) {
        fprintf(stderr, "%s: no Slurm on PATH (sbatch not found): install slurm-wlm "
                        "(scripts/install-deps), or use --dry-run to print the script\n", prog);
        return PT_EINPUT;
    }
    long limit = 0;
    if (o.spec.time && slurm_parse_time(o.spec.time, &limit, &err))
        die_err(&err);
    if (!o.signal_given && limit > 0 && o.spec.signal_before > limit / 2)
        o.spec.signal_before = (int)(limit / 2);

    char train_path[PATH_MAX];
    if (train) {
        if (!realpath(train, train_path) || access(train_path, X_OK) != 0) {
            fprintf(stderr, "%s: --train %s: not an executable file\n", prog, train);
            return PT_EINPUT;
        }
    } else {
        find_train(train_path, sizeof train_path);
    }
    o.spec.train = train_path;
    char workdir[PATH_MAX];
    if (!getcwd(workdir, sizeof workdir)) {
        fprintf(stderr, "%s: cannot read the working directory: %s\n", prog, strerror(errno));
        return PT_ERUNTIME;
    }

    int n = argc - optind, nstdin = 0;
    Run *runs = xcalloc((size_t)n, sizeof *runs);
    for (int i = 0; i < n; i++) {
        const char *arg = argv[optind + i];
        Run *r = &runs[i];
        if (strcmp(arg, "-") != 0) {
            run_open(r, arg);
            continue;
        }
        if (nstdin++)
            err_usage(prog, "'-' given twice: stdin holds one config", NULL);
        int ntasks = stdin_run_dir(&o);
        if (!o.dry_run) {
            run_open(r, o.run_dir_for_stdin);
            continue;
        }
        /* a dry run writes nothing: describe the run by the paths it would have */
        r->arg = o.run_dir_for_stdin;
        if (o.run_dir_for_stdin[0] == '/')
            snprintf(r->dir, sizeof r->dir, "%s", o.run_dir_for_stdin);
        else
            snprintf(r->dir, sizeof r->dir, "%.*s/%s", PATH_MAX / 2, workdir,
                     o.run_dir_for_stdin);
        snprintf(r->config, sizeof r->config, "%.*s/config.json", PATH_MAX - 13, r->dir);
        r->record = json_pack("{s:[]}", "submissions");
        r->ntasks = ntasks;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(runs[i].dir, runs[j].dir)) {
                fprintf(stderr, "%s: %s and %s are the same run directory: give each run once\n",
                        prog, runs[j].arg, runs[i].arg);
                return PT_EINPUT;
            }
    if (nstdin == 0 && o.run_dir_for_stdin)
        err_usage(prog, "--run-dir only goes with '-' (a config on stdin)", NULL);

    /* which runs go: never a completed, pending or running one; with --only, those listed */
    int ask = any_slurm_tool();
    Run **go = xcalloc((size_t)n, sizeof *go);
    int ngo = 0;
    for (int i = 0; i < n; i++) {
        Run *r = &runs[i];
        run_refresh(r, ask);
        if (!o.dry_run && json_array_size(json_object_get(r->record, "submissions")) > 0)
            run_save(r);
        const char *why = NULL;
        if (r->status == RUN_COMPLETED)
            why = "completed runs are never submitted again";
        else if (r->status == RUN_PENDING || r->status == RUN_RUNNING)
            why = "it has a job in the queue already";
        else if (o.only_mask && !(o.only_mask & (1 << r->status)))
            why = "not in --only";
        if (why) {
            fprintf(stderr, "%s: %s: skipped, status %s%s%s%s: %s\n", prog, r->arg,
                    slurm_status_name(r->status), r->job[0] ? " (job " : "", r->job,
                    r->job[0] ? ")" : "", why);
            continue;
        }
        go[ngo++] = r;
    }
    for (int i = 0; i < ngo; i++) {
        if (o.nodes_given_ntasks && o.nodes_given_ntasks * o.spec.nodes != go[i]->ntasks) {
            fprintf(stderr, "%s: %s: --nodes %d x --ntasks-per-node %d = %d ranks, but the "
                            "config's mesh dp*pp*cp*tp needs %d\n", prog, go[i]->arg,
                    o.spec.nodes, o.nodes_given_ntasks, o.spec.nodes * o.nodes_given_ntasks,
                    go[i]->ntasks);
            return PT_EINPUT;
        }
    }
    /* groups: runs with the same rank count share every resource -> one job array */
    Run **group = xcalloc((size_t)(ngo ? ngo : 1), sizeof *group);
    int *done = xcalloc((size_t)(ngo ? ngo : 1), sizeof *done);
    for (int i = 0; i < ngo; i++) {
        if (done[i])
            continue;
        int k = 0;
        group[k++] = go[i];
        done[i] = 1;
        for (int j = i + 1; j < ngo && !o.no_array; j++)
            if (!done[j] && go[j]->ntasks == go[i]->ntasks) {
                group[k++] = go[j];
                done[j] = 1;
            }
        submit_group(&o, group, k, workdir);
    }
    for (int i = 0; i < n; i++)
        json_decref(runs[i].record);
    free(group), free(done), free(go), free(runs), free(sbatch_args);
    return 0;
}

int main(int argc, char **argv)
{
    config_warnings(1);
    if (argc > 1 && !strcmp(argv[1], "status"))
        return cmd_status(argc - 1, argv + 1);
    return cmd_submit(argc, argv);
}
