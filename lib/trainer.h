/* trainer: the training loop of picotron-train and picotron-bench. Builds the parameter table,
 * initial weights, data stream, model and optimizer from a validated Config, then runs steps:
 * gradient accumulation over micro-batches, global-norm clipping, AdamW, the step line on
 * stdout, metrics.jsonl in the run directory and periodic validation. */
#ifndef PICOTRON_TRAINER_H
#define PICOTRON_TRAINER_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "error.h"

typedef struct {
    int max_steps;        /* stop after this many steps (0: total_train_steps); LR unchanged */
    int quiet;            /* no step lines, no banner */
    int write_metrics;    /* 1: append metrics.jsonl and config.resolved.json in the run dir */
    FILE *out;            /* step lines (stdout) */
} TrainOptions;

typedef struct {
    int steps;                 /* steps run */
    double first_loss, last_loss;
    double last_val_loss;      /* NaN when never evaluated */
    double tokens_per_s;       /* over all steps but the first (warm-up) when there are ≥ 2 */
    double flops_per_token;
    double peak_gflops;        /* measured sgemm rate: the CPU peak used for MFU */
    int threads;
} TrainReport;

/* Threads for this process: environment.OMP_NUM_THREADS when set, else usable cores
 * (sched_getaffinity) divided by local_ranks, at least 1. */
int trainer_threads(const Config *cfg, int local_ranks);

int trainer_run(const Config *cfg, const TrainOptions *opt, TrainReport *rep, Error *err);

#endif
