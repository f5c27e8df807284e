/* rundir: a run directory as picotron-submit keeps it: config.json (or the config named),
 * submit.json (each submission's job ids and Slurm's last word on each job), status (one word,
 * lib/slurm's RunStatus names) and status.txt (the same in upstream picotron's words); and the
 * run directories found below a directory. Reference: docs/submit.md. */
#ifndef PICOTRON_RUNDIR_H
#define PICOTRON_RUNDIR_H

#include <jansson.h>
#include <limits.h>

#include "config.h"
#include "error.h"
#include "slurm.h"

typedef struct {
    const char *arg;          /* as the user wrote it, for output */
    char dir[PATH_MAX];       /* absolute run directory */
    char config[PATH_MAX];    /* absolute config path */
    Config *cfg;              /* the config as the job runs it: the file, then the --set list */
    int ntasks;               /* ranks: dp*pp*cp*tp of the config */
    json_t *record;           /* submit.json: {"submissions": [{"submitted", "jobs": [...]}]} */
    RunStatus status;
    char job[64];             /* the job the status comes from */
    char state[64], exit_code[32];
} RunDir;

/* The runs an argument names, appended to *list (n entries, malloc'ed strings): a CONFIG file
 * or a directory holding config.json is one run; any other directory stands for every run
 * directory below it, in path order (a run directory's own subdirectories are not searched).
 * PT_EINPUT naming arg when it is missing or holds no run. */
int rundir_find(const char *arg, char ***list, int *n, Error *err);
/* rundir_find over every argument in order, "-" (a config on stdin) kept as it is; a new
 * *list of *n strings (rundir_free_list). */
int rundir_find_args(char *const *args, int nargs, char ***list, int *n, Error *err);
void rundir_free_list(char **list, int n);

/* Resolve a RUN_DIR or CONFIG argument, load the config, apply the nsets "key=value"
 * overrides in order and validate it, read submit.json when there is one. PT_EINPUT naming
 * arg when any of it is missing or malformed. */
int rundir_open(RunDir *r, const char *arg, const char *const *sets, int nsets, Error *err);

/* A run that exists only as paths so far (a dry run of a config on stdin): dir made absolute
 * against workdir, its config DIR/config.json, no submissions; it takes cfg (malloc'ed). */
void rundir_planned(RunDir *r, const char *dir, const char *workdir, Config *cfg);

/* A config read from stdin for run directory dir: loaded, the nsets overrides applied,
 * pre-flighted (lib/preflight), then written as dir/config.json (when write; atomically) and
 * returned as the job runs it (*cfg malloc'ed). PT_EINPUT when dir/config.json exists already
 * or the config is refused, naming the file. */
int rundir_stdin_config(const char *dir, const char *const *sets, int nsets, int write,
                        Config **cfg, Error *err);

/* picotron-train's input checks (lib/preflight) on the run's config, in the directory the job
 * runs in; the error names arg. */
int rundir_preflight(const RunDir *r, Error *err);

/* Ask Slurm (when ask_slurm) about the jobs of the last submission that had not ended and
 * derive the status: running or pending while any job is; else what the last job Slurm told
 * about ended with. */
void rundir_refresh(RunDir *r, int ask_slurm);

/* Why run r must not be submitted now, or NULL: never a completed, pending or running run;
 * with only_mask (a bit per RunStatus; 0: any) not one whose status is left out. */
const char *rundir_skip_reason(const RunDir *r, int only_mask);

/* The longest directory holding every run directory (a sweep's Slurm logs go there). */
void rundir_common_parent(RunDir *const *runs, int n, char *out, size_t len);

/* A submission of `chain` jobs made at `when` (ISO 8601) with the ids given, each pending. */
void rundir_add_submission(RunDir *r, const char *when, int chain, char ids[][96], int nids);

/* The number of submissions recorded. */
size_t rundir_submissions(const RunDir *r);

/* The job ids of the last submission, comma-separated, into out. */
void rundir_last_jobs(const RunDir *r, char *out, size_t len);

/* The ids of the last submission's jobs still queued or running: (*ids)[0..return), malloc'ed
 * (free it). */
int rundir_live_jobs(const RunDir *r, char (**ids)[96]);

/* Write submit.json (when it holds a submission), status and status.txt (when they changed),
 * each atomically. */
int rundir_save(const RunDir *r, Error *err);

void rundir_free(RunDir *r);

#endif
