/* preempt: SIGTERM, SIGUSR1 (Slurm's warning before a job's time runs out, or a requeue) and
 * SIGINT, at any moment of a run. Before the first step (sample checks, allocation, loading a
 * checkpoint) the process ends at once, in the handler, with nothing saved: 75 when a
 * checkpoint to resume from exists, else 1. From the first step on the signal asks the run to
 * save a checkpoint at the next step boundary and exit 75; if it has not ended `grace` seconds
 * after the signal (a rank stuck in a loop, a save that hangs), the handler of SIGALRM ends it
 * with one line; so does a second signal before then (Ctrl-C twice). Ended early, the exit is 75
 * when a checkpoint to resume from exists, else 1. The previous handlers come back when the
 * run ends. docs/training.md (Signals). */
#ifndef PICOTRON_PREEMPT_H
#define PICOTRON_PREEMPT_H

#include <signal.h>

typedef struct {
    struct sigaction term, usr1, intr, alrm;   /* the handlers before preempt_catch */
} Preempt;

typedef struct {
    const char *prog;       /* names the lines: "picotron-train" */
    int speaker;            /* 1 on the rank that prints (rank 0) */
    int grace;              /* seconds from the signal to the forced end; 0: never */
    int resumable;          /* 1: a checkpoint to resume from exists already */
} PreemptPolicy;

/* Install the handlers; the run is in its start-up until preempt_started. */
void preempt_catch(Preempt *old, const PreemptPolicy *policy);
void preempt_restore(const Preempt *old);
/* The first step begins: from now on a signal is answered at the next step boundary. */
void preempt_started(void);
/* A checkpoint was committed: an end forced by the grace deadline exits 75, not 1. */
void preempt_saved(void);
/* 1 once a signal has arrived since preempt_catch. */
int preempt_requested(void);

#endif
