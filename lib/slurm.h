/* slurm: what picotron-submit knows about Slurm, as pure functions: the sbatch script of a run
 * (or of a sweep as one job array), Slurm time limits, and the mapping from Slurm's job states
 * and exit codes to a run's status. Running sbatch/squeue/scontrol/sacct is lib/slurmjob's part.
 * Reference: docs/submit.md. */
#ifndef PICOTRON_SLURM_H
#define PICOTRON_SLURM_H

#include <stddef.h>

#include "error.h"

/* A run's status: picotron's names plus preempted and cancelled. */
typedef enum {
    RUN_INIT,      /* never submitted */
    RUN_PENDING,
    RUN_RUNNING,
    RUN_FAIL,
    RUN_OOM,
    RUN_TIMEOUT,
    RUN_COMPLETED,
    RUN_PREEMPTED, /* saved a checkpoint after a signal (exit 75) or preempted by Slurm */
    RUN_CANCELLED,
    RUN_UNKNOWN,   /* Slurm said nothing we understand */
} RunStatus;

const char *slurm_status_name(RunStatus s);
/* "fail" -> RUN_FAIL; -1 for a name that is not a status. */
int slurm_status_from_name(const char *name);
/* A comma-separated list of status names ("fail,timeout") as a mask of 1 << RunStatus;
 * PT_EINPUT naming what and the bad word otherwise. */
int slurm_parse_status_list(const char *what, const char *list, int *mask, Error *err);
/* The status in upstream picotron's seven words (init pending running fail oom timeout
 * completed), for status.txt: preempted is timeout (a signal before the limit ended it, a
 * resubmission continues it), cancelled is fail, unknown is pending. */
const char *slurm_status_upstream(RunStatus s);
/* Ended: Slurm will not change it any more. */
int slurm_status_is_final(RunStatus s);

/* A Slurm job state (squeue %T, scontrol JobState, sacct State: "COMPLETED", "CANCELLED by 0",
 * "OUT_OF_MEMORY", ...) and its exit code ("2:0", may be NULL) as a run status. Exit code 75
 * (picotron-train's "saved, requeue me") makes a failed job preempted. */
RunStatus slurm_parse_state(const char *state, const char *exit_code);

/* A failed or cancelled job (s) told apart by the last lines of its logs (log_tail): the
 * out-of-memory messages of the kernel's OOM killer as slurmstepd reports it, of the C
 * allocator and of PyTorch/CUDA make it oom; slurmstepd's "DUE TO TIME LIMIT" makes it timeout.
 * Any other s, or a tail with neither, is returned as it is. */
RunStatus slurm_status_from_log(RunStatus s, const char *log_tail);

/* The --signal-grace the job script gives picotron-train for a signal signal_before seconds
 * ahead of the time limit: 90% of it (at least 1 s), so a run stuck past its step boundary ends
 * with its own line before Slurm kills it (docs/training.md, Signals). */
int slurm_signal_grace(int signal_before);

/* Slurm's time formats (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) in seconds;
 * PT_EINPUT for anything else. */
int slurm_parse_time(const char *text, long *seconds, Error *err);

/* The value of KEY=value in `scontrol show job -o` output (first line); 0 when found. */
int slurm_scontrol_field(const char *text, const char *key, char *out, size_t len);

/* In `sacct -n -P -o JobID,State,ExitCode` output, the last line whose JobID is job_id
 * exactly (a requeued job has several); 0 when found. */
int slurm_sacct_find(const char *text, const char *job_id, char *state, size_t state_len,
                     char *exit_code, size_t exit_len);

/* A path that goes into an #SBATCH line, which Slurm reads with its own syntax (no shell
 * quoting; '"' and '\' are Slurm's quotes there, '%' a filename pattern): no whitespace, '"',
 * '\' or '%'. PT_EINPUT naming the path otherwise. */
int slurm_check_path(const char *path, const char *what, Error *err);

/* Resources and behaviour shared by every run of one script. */
typedef struct {
    const char *job_name;
    int nodes;
    int ntasks_per_node;
    int gpus_per_node;      /* 0: no --gpus-per-node line */
    int cpus_per_task;      /* also OMP_NUM_THREADS */
    const char *time;       /* NULL: the partition's default limit */
    const char *partition, *qos, *account;   /* NULL: none */
    int exclusive, overcommit;
    int signal_before;      /* seconds before the limit that the ranks get SIGUSR1; 0: none */
    const char *workdir;    /* --chdir: where relative config paths resolve */
    const char *train;      /* the picotron-train executable */
    int steps;              /* > 0: each job trains at most this many steps */
    const char *log_dir;    /* job arrays: where Slurm's own log of each task goes */
    int max_concurrent;     /* job arrays: > 0: at most this many tasks run at once (%K) */
    const char *const *sets; /* "key=value" overrides passed to picotron-train as --set */
    int nsets;
    const char *const *sbatch_args; /* extra "#SBATCH ARG" lines */
    int nsbatch_args;
} SlurmSpec;

/* The sbatch script for nruns runs (run_dirs[i] absolute, configs[i] the config file): one
 * run gives a plain job, several a job array (task i = run i). *script is malloc'ed. Values in
 * the shell part are single-quoted; the workdir, job name, log_dir and run directories must
 * pass slurm_check_path, and time, partition, qos, account and sbatch_args hold no line break
 * (PT_EINPUT naming the option). The sets go on the srun line as single-quoted words, before
 * the script's own --set checkpoint.resume=auto. */
int slurm_render_script(const SlurmSpec *spec, const char *const *run_dirs,
                        const char *const *configs, int nruns, char **script, Error *err);

#endif
