/* submission: one Slurm submission of a group of run directories — rendered as one job (one
 * run) or one job array (several runs with the same rank count), written into every run as
 * submit.sbatch, submitted (as a chain of dependent jobs when asked) and recorded in each run's
 * submit.json; and the cancelling of what a run still has queued or running. */
#ifndef PICOTRON_SUBMISSION_H
#define PICOTRON_SUBMISSION_H

#include <stdio.h>

#include "error.h"
#include "rundir.h"
#include "slurm.h"

/* The sbatch script of the group (malloc'ed *script): spec completed from the runs (job name,
 * log directory of an array, ranks per node over spec->nodes, workdir). PT_EINPUT naming the
 * run when its ranks do not divide over the nodes. */
int submission_render(const SlurmSpec *spec, RunDir **g, int n, const char *workdir,
                      char **script, Error *err);

/* Write script into every run, sbatch it `chain` times (each job after the previous one) and
 * record the jobs Slurm took in each run (saved); print "RUN JOBS" per run on out. On a refusal
 * the jobs already taken are still recorded and the error is returned. */
int submission_submit(RunDir **g, int n, const char *script, int chain, FILE *out, Error *err);

/* scancel every queued or running job of r's last submission; the ids cancelled go to done
 * (comma-separated, "" when none). The first failure is returned; the others are still tried. */
int submission_cancel(RunDir *r, char *done, size_t len, Error *err);

#endif
