/* slurm: sbatch scripts, Slurm time limits and job states as run statuses (pure functions). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slurm.h"

static const char *const status_names[] = {
    [RUN_INIT] = "init",           [RUN_PENDING] = "pending",     [RUN_RUNNING] = "running",
    [RUN_FAIL] = "fail",           [RUN_OOM] = "oom",             [RUN_TIMEOUT] = "timeout",
    [RUN_COMPLETED] = "completed", [RUN_PREEMPTED] = "preempted", [RUN_CANCELLED] = "cancelled",
    [RUN_UNKNOWN] = "unknown",
};

const char *slurm_status_name(RunStatus s)
{
    return s >= RUN_INIT && s <= RUN_UNKNOWN ? status_names[s] : "unknown";
}

int slurm_status_from_name(const char *name)
{
    for (int s = RUN_INIT; s <= RUN_UNKNOWN; s++)
        if (!strcmp(name, status_names[s]))
            return s;
    return -1;
}

const char *slurm_status_upstream(RunStatus s)
{
    switch (s) {
    case RUN_PREEMPTED:
        return "timeout";
    case RUN_CANCELLED:
        return "fail";
    case RUN_UNKNOWN:
        return "pending";
    default:
        return slurm_status_name(s);
    }
}

int slurm_status_is_final(RunStatus s)
{
    return s == RUN_FAIL || s == RUN_OOM || s == RUN_TIMEOUT || s == RUN_COMPLETED ||
           s == RUN_PREEMPTED || s == RUN_CANCELLED;
}

/* state begins with word (sacct writes "CANCELLED by 0"; squeue may add a '+') */
static int state_is(const char *state, const char *word)
{
    size_t n = strlen(word);
    return !strncmp(state, word, n) && !isalnum((unsigned char)state[n]) && state[n] != '_';
}

RunStatus slurm_parse_state(const char *state, const char *exit_code)
{
    static const char *const pending[] = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
                                          "RESV_DEL_HOLD", "SPECIAL_EXIT", "RESIZING",
                                          "SUSPENDED", "STOPPED"};
    static const char *const running[] = {"RUNNING", "CONFIGURING", "COMPLETING", "STAGE_OUT",
                                          "SIGNALING", "POWER_UP_NODE", "UPDATE_DB"};
    static const char *const failed[] = {"FAILED", "NODE_FAIL", "BOOT_FAIL", "DEADLINE"};
    if (!state)
        return RUN_UNKNOWN;
    while (isspace((unsigned char)*state))
        state++;
    for (size_t i = 0; i < sizeof pending / sizeof *pending; i++)
        if (state_is(state, pending[i]))
            return RUN_PENDING;
    for (size_t i = 0; i < sizeof running / sizeof *running; i++)
        if (state_is(state, running[i]))
            return RUN_RUNNING;
    int code = exit_code ? atoi(exit_code) : 0;
    if (state_is(state, "COMPLETED"))
        return code == 0 ? RUN_COMPLETED : code == PT_EREQUEUE ? RUN_PREEMPTED : RUN_FAIL;
    for (size_t i = 0; i < sizeof failed / sizeof *failed; i++)
        if (state_is(state, failed[i]))
            return code == PT_EREQUEUE ? RUN_PREEMPTED : RUN_FAIL;
    if (state_is(state, "TIMEOUT"))
        return RUN_TIMEOUT;
    if (state_is(state, "OUT_OF_MEMORY"))
        return RUN_OOM;
    if (state_is(state, "CANCELLED"))
        return RUN_CANCELLED;
    if (state_is(state, "PREEMPTED"))
        return RUN_PREEMPTED;
    return RUN_UNKNOWN;
}

RunStatus slurm_status_from_log(RunStatus s, const char *log_tail)
{
    /* slurmstepd: "Detected 1 oom_kill event" / "oom-kill event(s)"; our xmalloc: "out of
     * memory allocating"; PyTorch: "OutOfMemoryError", "CUDA out of memory" */
    static const char *const oom[] = {"oom_kill", "oom-kill", "out of memory allocating",
                                      "OutOfMemoryError", "CUDA out of memory",
                                      "CUDA error: out of memory"};
    if ((s != RUN_FAIL && s != RUN_CANCELLED) || !log_tail)
        return s;
    for (size_t i = 0; i < sizeof oom / sizeof *oom; i++)
        if (strstr(log_tail, oom[i]))
            return RUN_OOM;
    /* slurmstepd: "*** JOB 12 ON node CANCELLED AT 2024-01-01T00:00:00 DUE TO TIME LIMIT ***" */
    if (strstr(log_tail, "DUE TO TIME LIMIT"))
        return RUN_TIMEOUT;
    return s;
}

/* a run of decimal digits at *p: value in *v, advances *p; 0 when there was none */
static int take_number(const char **p, long *v)
{
    if (!isdigit((unsigned char)**p))
        return 0;
    char *end;
    *v = strtol(*p, &end, 10);
    if (end - *p > 6)
        return 0;
    *p = end;
    return 1;
}

int slurm_signal_grace(int signal_before)
{
    int grace = signal_before * 9 / 10;
    return grace > 0 ? grace : 1;
}

int slurm_parse_time(const char *text, long *seconds, Error *err)
{
    long f[3] = {0, 0, 0}, days = 0;
    int n = 0;
    const char *p = text;
    const char *dash = strchr(text, '-');
    if (dash) {
        if (!take_number(&p, &days) || p != dash)
            goto bad;
        p = dash + 1;
    }
    for (;;) {
        if (n == 3 || !take_number(&p, &f[n]))
            goto bad;
        n++;
        if (*p == '\0')
            break;
        if (*p++ != ':')
            goto bad;
    }
    long s;
    if (dash) /* D-HH, D-HH:MM, D-HH:MM:SS */
        s = days * 86400 + f[0] * 3600 + f[1] * 60 + f[2];
    else if (n == 1) /* minutes */
        s = f[0] * 60;
    else if (n == 2) /* MM:SS */
        s = f[0] * 60 + f[1];
    else /* HH:MM:SS */
        s = f[0] * 3600 + f[1] * 60 + f[2];
    if (s <= 0)
        goto bad;
    *seconds = s;
    return PT_OK;
bad:
    return err_set(err, PT_EINPUT,
                   "--time: '%s' is not a Slurm time limit (minutes, MM:SS, HH:MM:SS, D-HH, "
                   "D-HH:MM or D-HH:MM:SS, above 0)", text);
}

int slurm_scontrol_field(const char *text, const char *key, char *out, size_t len)
{
    size_t klen = strlen(key);
    const char *end = strchr(text, '\n');
    if (!end)
        end = text + strlen(text);
    for (const char *p = text; p < end; p++) {
        if ((p == text || isspace((unsigned char)p[-1])) && !strncmp(p, key, klen) &&
            p[klen] == '=') {
            const char *v = p + klen + 1;
            size_t n = 0;
            while (v + n < end && !isspace((unsigned char)v[n]))
                n++;
            snprintf(out, len, "%.*s", (int)n, v);
            return 0;
        }
    }
    return -1;
}

int slurm_sacct_find(const char *text, const char *job_id, char *state, size_t state_len,
                     char *exit_code, size_t exit_len)
{
    int found = -1;
    size_t idlen = strlen(job_id);
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        if (!end)
            end = line + strlen(line);
        const char *bar1 = memchr(line, '|', (size_t)(end - line));
        if (bar1 && (size_t)(bar1 - line) == idlen && !strncmp(line, job_id, idlen)) {
            const char *f2 = bar1 + 1;
            const char *bar2 = memchr(f2, '|', (size_t)(end - f2));
            const char *f2end = bar2 ? bar2 : end;
            snprintf(state, state_len, "%.*s", (int)(f2end - f2), f2);
            if (bar2) {
                const char *f3 = bar2 + 1, *f3end = memchr(f3, '|', (size_t)(end - f3));
                if (!f3end)
                    f3end = end;
                snprintf(exit_code, exit_len, "%.*s", (int)(f3end - f3), f3);
            } else {
                snprintf(exit_code, exit_len, "%s", "");
            }
            found = 0;
        }
        line = *end ? end + 1 : end;
    }
    return found;
}

int slurm_check_path(const char *path, const char *what, Error *err)
{
    for (const char *p = path; *p; p++) {
        if (isspace((unsigned char)*p))
            return err_set(err, PT_EINPUT,
                           "%s: %s holds whitespace, which an #SBATCH line cannot carry; use a "
                           "path without whitespace, '\"', '\\' or '%%'", path, what);
        if (strchr("\"\\%", *p))
            return err_set(err, PT_EINPUT,
                           "%s: %s holds '%c', which an #SBATCH line cannot carry; use a path "
                           "without whitespace, '\"', '\\' or '%%'", path, what, *p);
    }
    return PT_OK;
}

/* s as one single-quoted shell word ("a'b" -> 'a'\''b'): the batch shell expands nothing in it.
 * Every value the shell part of a script holds goes through here. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++)
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    fputc('\'', f);
}

/* A value written after "#SBATCH --option=" must stay on its line. */
static int check_one_line(const char *value, const char *option, Error *err)
{
    if (value && strpbrk(value, "\n\r"))
        return err_set(err, PT_EINPUT, "%s: the value holds a line break, which would end its "
                       "#SBATCH line", option);
    return PT_OK;
}

/* the #SBATCH header shared by plain jobs and arrays */
static void render_header(FILE *f, const SlurmSpec *s)
{
    fprintf(f, "#SBATCH --job-name=%s\n", s->job_name);
    fprintf(f, "#SBATCH --nodes=%d\n", s->nodes);
    fprintf(f, "#SBATCH --ntasks-per-node=%d\n", s->ntasks_per_node);
    fprintf(f, "#SBATCH --cpus-per-task=%d\n", s->cpus_per_task);
    if (s->gpus_per_node > 0)
        fprintf(f, "#SBATCH --gpus-per-node=%d\n", s->gpus_per_node);
    if (s->time)
        fprintf(f, "#SBATCH --time=%s\n", s->time);
    if (s->partition)
        fprintf(f, "#SBATCH --partition=%s\n", s->partition);
    if (s->qos)
        fprintf(f, "#SBATCH --qos=%s\n", s->qos);
    if (s->account)
        fprintf(f, "#SBATCH --account=%s\n", s->account);
    if (s->exclusive)
        fprintf(f, "#SBATCH --exclusive\n");
    if (s->overcommit)
        fprintf(f, "#SBATCH --overcommit\n");
    if (s->signal_before > 0)
        fprintf(f, "#SBATCH --signal=USR1@%d\n", s->signal_before);
    fprintf(f, "#SBATCH --requeue\n");
    fprintf(f, "#SBATCH --open-mode=append\n");
    fprintf(f, "#SBATCH --chdir=%s\n", s->workdir);
}

int slurm_render_script(const SlurmSpec *s, const char *const *run_dirs,
                        const char *const *configs, int nruns, char **script, Error *err)
{
    if (nruns < 1)
        return err_set(err, PT_EINPUT, "no run to render");
    /* what goes into #SBATCH lines, where Slurm (not the shell) reads it; a run directory may
     * (one run) and the config and picotron-train paths never do: the shell part quotes them */
    const char *checks[][2] = {{s->workdir, "the working directory"},
                               {s->job_name, "the job name"},
                               {s->log_dir ? s->log_dir : "", "the sweep's log directory"}};
    for (size_t i = 0; i < sizeof checks / sizeof *checks; i++)
        if (slurm_check_path(checks[i][0], checks[i][1], err))
            return err->code;
    for (int i = 0; i < nruns; i++)
        if (slurm_check_path(run_dirs[i], "the run directory", err))
            return err->code;
    if (check_one_line(s->time, "--time", err) || check_one_line(s->partition, "--partition", err) ||
        check_one_line(s->qos, "--qos", err) || check_one_line(s->account, "--account", err))
        return err->code;
    for (int i = 0; i < s->nsbatch_args; i++)
        if (check_one_line(s->sbatch_args[i], "--sbatch-arg", err))
            return err->code;

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return err_set(err, PT_ERUNTIME, "out of memory rendering the sbatch script");
    fprintf(f, "#!/bin/bash\n");
    if (nruns == 1)
        fprintf(f, "# picotron-submit: run %s\n", run_dirs[0]);
    else
        fprintf(f, "# picotron-submit: sweep of %d runs as one job array (task i = run i)\n", nruns);
    render_header(f, s);
    if (nruns == 1) {
        fprintf(f, "#SBATCH --output=%s/slurm-%%j.out\n", run_dirs[0]);
        fprintf(f, "#SBATCH --error=%s/slurm-%%j.err\n", run_dirs[0]);
    } else {
        fprintf(f, "#SBATCH --array=0-%d", nruns - 1);
        if (s->max_concurrent > 0)
            fprintf(f, "%%%d", s->max_concurrent);
        fputc('\n', f);
        fprintf(f, "#SBATCH --output=%s/slurm-%%A_%%a.out\n", s->log_dir);
        fprintf(f, "#SBATCH --error=%s/slurm-%%A_%%a.err\n", s->log_dir);
    }
    for (int i = 0; i < s->nsbatch_args; i++)
        fprintf(f, "#SBATCH %s\n", s->sbatch_args[i]);
    fprintf(f, "\n");
    if (nruns == 1) {
        fputs("RUN=", f);
        put_quoted(f, run_dirs[0]);
        fputs("\nCONFIG=", f);
        put_quoted(f, configs[0]);
        fputc('\n', f);
    } else {
        fprintf(f, "case \"$SLURM_ARRAY_TASK_ID\" in\n");
        for (int i = 0; i < nruns; i++) {
            fprintf(f, "%d) RUN=", i);
            put_quoted(f, run_dirs[i]);
            fputs(" CONFIG=", f);
            put_quoted(f, configs[i]);
            fputs(" ;;\n", f);
        }
        fprintf(f, "*) echo \"picotron-submit: no run for array task $SLURM_ARRAY_TASK_ID\" >&2; "
                   "exit 2 ;;\nesac\n");
        fprintf(f, "# each run's log lives in its own directory, named by its job id A_a\n");
        fprintf(f, "LOG=\"$RUN/slurm-${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\n");
        fprintf(f, "exec >>\"$LOG.out\" 2>>\"$LOG.err\"\n");
    }
    fprintf(f, "\nexport OMP_NUM_THREADS=%d\n", s->cpus_per_task);
    if (s->overcommit)
        fprintf(f, "export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}  # ranks share cores\n");
    if (s->signal_before > 0)
        fprintf(f, "\n# SIGUSR1 reaches the ranks %d s before the time limit: they save a checkpoint\n"
                   "# and exit 75; resume \"auto\" continues from it in the requeued or next job.\n",
                s->signal_before);
    else
        fprintf(f, "\n# A rank stopped by SIGTERM/SIGUSR1 saves a checkpoint and exits 75; resume\n"
                   "# \"auto\" continues from it in the requeued or next job.\n");
    fputs("srun --mpi=pmix --kill-on-bad-exit=1 ", f);
    put_quoted(f, s->train);
    fputs(" --config \"$CONFIG\"", f);
    for (int i = 0; i < s->nsets; i++) {
        fputs(" --set ", f);
        put_quoted(f, s->sets[i]);
    }
    fputs(" --set checkpoint.resume=auto", f);
    if (s->steps > 0)
        fprintf(f, " --steps %d", s->steps);
    /* a run that reaches no step boundary ends itself, saying so, before Slurm kills it */
    if (s->signal_before > 0)
        fprintf(f, " --signal-grace %d", slurm_signal_grace(s->signal_before));
    fprintf(f, "\nrc=$?\n");
    fprintf(f, "if [ \"$rc\" -eq 75 ]; then\n"
               "    echo \"picotron-submit: job $SLURM_JOB_ID saved a checkpoint after a signal "
               "(exit 75): requeueing it\" >&2\n"
               "    scontrol requeue \"$SLURM_JOB_ID\"\n"
               "fi\n"
               "exit \"$rc\"\n");
    if (fclose(f) != 0) {
        free(text);
        return err_set(err, PT_ERUNTIME, "out of memory rendering the sbatch script");
    }
    *script = text;
    return PT_OK;
}

int slurm_parse_status_list(const char *what, const char *list, int *mask, Error *err)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    *mask = 0;
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int s = slurm_status_from_name(tok);
        if (s < 0 || s == RUN_UNKNOWN)
            return err_set(err, PT_EINPUT, "%s: '%s' is not a status (init pending running fail "
                           "oom timeout completed preempted cancelled)", what, tok);
        *mask |= 1 << s;
    }
    if (!*mask)
        return err_set(err, PT_EINPUT, "%s: give a list of statuses, e.g. fail,timeout", what);
    return PT_OK;
}
