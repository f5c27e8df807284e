/* trainer: the training loop of picotron-train and picotron-bench on a mesh of MPI ranks (or
 * one process). From a validated Config it builds the mesh, this rank's parameter table and
 * initial weights, the data stream, the model and the (ZeRO-1 sharded) optimizer; then runs
 * steps: the pipeline schedule over the micro-batches, gradient buckets reduced over dp×cp
 * while backward runs, global-norm clipping, AdamW, the step line on stdout, metrics.jsonl in
 * the run directory and periodic validation. */
#ifndef PICOTRON_TRAINER_H
#define PICOTRON_TRAINER_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "error.h"
#include "mesh.h"
#include "params.h"

typedef struct {
    int max_steps;        /* stop after this many steps (0: total_train_steps); LR unchanged */
    int quiet;            /* no banner, no notes on stderr (warnings and errors remain) */
    int step_lines;       /* 1: one line per logging.log_frequency steps on out (rank 0) */
    int write_metrics;    /* 1: metrics.jsonl and config.resolved.json in the run dir (rank 0) */
    int checkpoints;      /* 1: load, save and preempt as the config's checkpoint section says;
                             0: never touch checkpoints (benchmarks) */
    FILE *out;            /* step lines (stdout) */
    const char *trace;    /* non-NULL: write this rank's timeline there (lib/trace.h) */
    int64_t trace_from, trace_to; /* the steps it records (1-based; to 0: to the end) */
    int signal_grace;     /* seconds from a stop signal to the forced end (0: never) */
} TrainOptions;

typedef struct {
    int steps;                 /* steps run */
    double first_loss, last_loss;
    double last_val_loss;      /* NaN when never evaluated */
    double tokens_per_s;       /* over all steps but the first (warm-up) when there are ≥ 2 */
    double flops_per_token;
    double peak_gflops;        /* measured sgemm rate: the CPU peak used for MFU */
    double comm_fraction;      /* share of step time this rank spent waiting in communication */
    double comm_fraction_by_kind[COMM_KINDS]; /* the same per group: tp, cp, pp, dp, other */
    int threads;
} TrainReport;

typedef struct {
    double loss, grad_norm, lr, seconds;
    double comm_seconds;               /* waiting in blocking communication calls */
    double comm_by_kind[COMM_KINDS];   /* of which per group */
} StepStats;

typedef struct Trainer Trainer;

/* Threads for this process: environment.OMP_NUM_THREADS when set, else usable cores
 * (sched_getaffinity) divided by local_ranks, at least 1. */
int trainer_threads(const Config *cfg, int local_ranks);

/* Open a run on the ranks of world (MPI_COMM_NULL: one process, no MPI). Collective; every
 * rank returns the same error. */
int trainer_open(Trainer **t, const Config *cfg, MPI_Comm world, const TrainOptions *opt,
                 Error *err);
/* One optimizer step (collective). */
int trainer_step(Trainer *t, StepStats *st, Error *err);
void trainer_close(Trainer *t);

/* This rank's parameter table and weights (flat buffer laid out by the table). */
const ParamTable *trainer_params(Trainer *t, const float **weights);
const Mesh *trainer_mesh(const Trainer *t);
/* This rank's gradient buffer as the last step left it (laid out like the weights). */
const float *trainer_grads(const Trainer *t);

/* The whole loop: open, steps with logging and validation, close. */
int trainer_run(const Config *cfg, MPI_Comm world, const TrainOptions *opt, TrainReport *rep,
                Error *err);

#endif
