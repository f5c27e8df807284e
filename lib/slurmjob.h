/* slurmjob: a live Slurm through its commands: submit a script (sbatch), cancel jobs
 * (scancel), ask what became of a job (squeue, then scontrol, then sacct), and whether those
 * commands are on PATH at all. The
 * text they print is read by lib/slurm's pure functions. */
#ifndef PICOTRON_SLURMJOB_H
#define PICOTRON_SLURMJOB_H

#include <stddef.h>

#include "error.h"

/* 1 when squeue, scontrol or sacct is on PATH: a job's state can be asked. */
int slurmjob_can_query(void);

/* sbatch --parsable SCRIPT, after job `after` ends (--dependency=afterany) when after is not
 * NULL: PT_OK with the job id in id, else PT_ERUNTIME with sbatch's own words. */
int slurmjob_submit(const char *script, const char *after, char *id, size_t len, Error *err);

/* Submit SCRIPT `chain` times, each job after the previous one ends; the ids of the jobs Slurm
 * took in ids[0..*nids) (all, or those before sbatch refused: PT_ERUNTIME). */
int slurmjob_submit_chain(const char *script, int chain, char ids[][96], int *nids, Error *err);

/* scancel job id (an array task as ID_i): PT_OK, else PT_ERUNTIME with scancel's own words. */
int slurmjob_cancel(const char *id, Error *err);

/* What Slurm says about job id now: 0 with its state (squeue %T / scontrol JobState / sacct
 * State) and exit code ("2:0"; "" when not told), -1 when no command knows the job. squeue for
 * queued jobs; scontrol for jobs it still remembers (MinJobAge); then the job completion file
 * (`sacct -c`), then accounting (`sacct`, which needs slurmdbd). An array task (ID_i) no
 * command knows by its own id is answered by the array's record (ID): tasks that never started
 * (a held array cancelled whole) have no other. */
int slurmjob_query(const char *id, char *state, size_t state_len, char *exit_code,
                   size_t exit_len);

#endif
