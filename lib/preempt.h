/* preempt: SIGTERM and SIGUSR1 (Slurm's warning before a job's time runs out, or a requeue)
 * ask the run to save a checkpoint at the next step boundary and exit 75. The handlers are
 * installed for the whole run, setup included (loading a large checkpoint takes minutes), and
 * the previous ones come back when the run ends. */
#ifndef PICOTRON_PREEMPT_H
#define PICOTRON_PREEMPT_H

#include <signal.h>

typedef struct {
    struct sigaction term, usr1;   /* the handlers before preempt_catch */
} Preempt;

void preempt_catch(Preempt *old);
void preempt_restore(const Preempt *old);
/* 1 once a signal has arrived since preempt_catch. */
int preempt_requested(void);

#endif
