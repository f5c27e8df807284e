/* slurmjob: sbatch, squeue, scontrol and sacct run through lib/proc. */
#include <stdio.h>
#include <string.h>

#include "proc.h"
#include "slurm.h"
#include "slurmjob.h"

int slurmjob_can_query(void)
{
    return proc_on_path("squeue") || proc_on_path("scontrol") || proc_on_path("sacct");
}

int slurmjob_submit(const char *script, const char *after, char *id, size_t len, Error *err)
{
    char dep[96];
    char *argv[6] = {"sbatch", "--parsable", NULL, NULL, NULL, NULL};
    int a = 2;
    if (after) {
        snprintf(dep, sizeof dep, "--dependency=afterany:%s", after);
        argv[a++] = dep;
    }
    argv[a] = (char *)script;
    ProcResult r;
    if (proc_run(argv, &r, err)) {
        proc_result_free(&r);
        return err->code;
    }
    /* --parsable prints "ID" or "ID;cluster" */
    size_t k = strspn(r.out, "0123456789");
    int rc = PT_OK;
    if (r.status != 0 || k == 0 || k >= len)
        rc = err_set(err, PT_ERUNTIME, "sbatch %s failed (exit %d): %s", script, r.status,
                     r.err[0] ? proc_first_line(r.err) : proc_first_line(r.out));
    else
        snprintf(id, len, "%.*s", (int)k, r.out);
    proc_result_free(&r);
    return rc;
}

int slurmjob_submit_chain(const char *script, int chain, char ids[][96], int *nids, Error *err)
{
    for (*nids = 0; *nids < chain; ++*nids)
        if (slurmjob_submit(script, *nids ? ids[*nids - 1] : NULL, ids[*nids], 64, err))
            return err->code;
    return PT_OK;
}

int slurmjob_cancel(const char *id, Error *err)
{
    char jid[96];
    snprintf(jid, sizeof jid, "%s", id);
    char *argv[] = {"scancel", jid, NULL};
    ProcResult r;
    if (proc_run(argv, &r, err)) {
        proc_result_free(&r);
        return err->code;
    }
    int rc = PT_OK;
    if (r.status != 0)
        rc = err_set(err, PT_ERUNTIME, "scancel %s failed (exit %d): %s", id, r.status,
                     r.err[0] ? proc_first_line(r.err) : proc_first_line(r.out));
    proc_result_free(&r);
    return rc;
}

/* Run argv when its program is on PATH: 1 with the output in r (free it), else 0. */
static int ask(char *const argv[], ProcResult *r)
{
    Error ignored = {0};
    if (!proc_on_path(argv[0]))
        return 0;
    if (proc_run(argv, r, &ignored) == PT_OK && r->status == 0)
        return 1;
    proc_result_free(r);
    return 0;
}

static int query_exact(const char *id, char *state, size_t state_len, char *exit_code,
                       size_t exit_len)
{
    char jid[64];
    ProcResult r;
    snprintf(jid, sizeof jid, "%s", id);
    exit_code[0] = '\0';
    char *squeue[] = {"squeue", "-h", "-j", jid, "-o", "%T", NULL};
    if (ask(squeue, &r)) {
        /* squeue lists ended jobs for a while too; only a queued answer is final here */
        int queued = 0;
        if (r.out[0]) {
            snprintf(state, state_len, "%s", proc_first_line(r.out));
            RunStatus s = slurm_parse_state(state, NULL);
            queued = s == RUN_PENDING || s == RUN_RUNNING;
        }
        proc_result_free(&r);
        if (queued)
            return 0;
    }
    char *scontrol[] = {"scontrol", "show", "job", "-o", jid, NULL};
    if (ask(scontrol, &r)) {
        int found = !slurm_scontrol_field(r.out, "JobState", state, state_len);
        if (found)
            slurm_scontrol_field(r.out, "ExitCode", exit_code, exit_len);
        proc_result_free(&r);
        if (found)
            return 0;
    }
    char *sacct_c[] = {"sacct", "-c", "-n", "-P", "-j", jid, "-o", "JobID,State,ExitCode", NULL};
    char *sacct[] = {"sacct", "-n", "-P", "-X", "-j", jid, "-o", "JobID,State,ExitCode", NULL};
    char **tries[] = {sacct_c, sacct};
    for (int t = 0; t < 2; t++) {
        if (!ask(tries[t], &r))
            continue;
        int found = !slurm_sacct_find(r.out, id, state, state_len, exit_code, exit_len);
        proc_result_free(&r);
        if (found)
            return 0;
    }
    return -1;
}

int slurmjob_query(const char *id, char *state, size_t state_len, char *exit_code,
                   size_t exit_len)
{
    if (!query_exact(id, state, state_len, exit_code, exit_len))
        return 0;
    /* array tasks that never left the queue (a held array cancelled whole) have no record of
     * their own: the array's record (ID of ID_i) speaks for them */
    char master[64];
    snprintf(master, sizeof master, "%s", id);
    char *us = strchr(master, '_');
    if (!us)
        return -1;
    *us = '\0';
    return query_exact(master, state, state_len, exit_code, exit_len);
}
