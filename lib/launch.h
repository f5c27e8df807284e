/* launch: how a tool finds its ranks. Either a launcher (mpirun, srun) started this process,
 * or the tool starts its own local ranks by running mpirun on itself (docs/launch.md). */
#ifndef PICOTRON_LAUNCH_H
#define PICOTRON_LAUNCH_H

#include "error.h"

/* 1 when this process was started by a launcher (mpirun, srun): do not start ranks.
 * Consults PICOTRON_SELF_LAUNCHED, OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK, and
 * SLURM_STEP_ID together with SLURM_PROCID (a real step only: an sbatch batch script has
 * SLURM_PROCID=0 but no step id, or a special one such as "batch"). */
int launch_under_launcher(void);

/* 1 in the ranks launch_self started: the tool that started them has already read the config
 * and said what it had to say (warnings are printed once per job). */
int launch_self_launched(void);

/* Number of ranks of this job on this node (OMPI_COMM_WORLD_LOCAL_SIZE, then this node's
 * entry of SLURM_STEP_TASKS_PER_NODE inside a Slurm step, then SLURM_NTASKS_PER_NODE,
 * else 1). */
int launch_local_ranks(void);

/* This rank's index among them (OMPI_COMM_WORLD_LOCAL_RANK, which our own launch sets too,
 * then SLURM_LOCALID inside a Slurm step, else 0): the GPU it uses. */
int launch_local_rank(void);

/* Start `nranks` copies of this program through mpirun: argv is the original argv (argv[0] is
 * replaced by the absolute path of /proc/self/exe). When stdin_text is not NULL it is written to
 * mpirun's stdin, which Open MPI forwards to rank 0 (the caller uses this for `--config -`);
 * otherwise the ranks' stdin is /dev/null.
 * Adds --bind-to none always (threads per rank divide the whole affinity set), --oversubscribe
 * when nranks exceeds the usable cores (sched_getaffinity), --allow-run-as-root when uid is 0;
 * sets OMP_WAIT_POLICY=passive and OMPI_MCA_btl_vader_single_copy_mechanism=none in the
 * children's environment (unless already set), and PICOTRON_SELF_LAUNCHED=1 (so a child never
 * launches again, even if detection fails).
 * Forwards SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGHUP while waiting (not those the terminal
 * already sent to the whole process group): SIGUSR1/2 to mpirun, which passes them on; the
 * first SIGTERM/SIGINT/SIGHUP to the ranks themselves (mpirun would SIGKILL them a second
 * later and exit 1), a second one to mpirun. Returns the exit code to use: mpirun's exit
 * status (the first failing rank's code), 128+signal if mpirun was killed by one or exited 1
 * after being sent one. mpirun missing from PATH → PT_EINPUT "mpirun not found: ..."
 * (returns -1 and fills err); pipe/fork failure → PT_ERUNTIME, -1. */
int launch_self(int nranks, char **argv, const char *stdin_text, Error *err);

#endif
