/* toolrun: how a tool process joins a run. Under a launcher (mpirun, srun) it initialises MPI
 * and only rank 0 speaks; rank 0 reads the config (a file, or stdin, which only it has) and
 * every rank parses the same text; without a launcher a config whose mesh needs N > 1 ranks
 * starts them through mpirun (lib/launch). Shared by picotron-train and picotron-bench. */
#ifndef PICOTRON_TOOLRUN_H
#define PICOTRON_TOOLRUN_H

#include <mpi.h>

#include "cli.h"
#include "config.h"
#include "error.h"
#include "trainer.h"

typedef struct {
    const char *prog;      /* "picotron-train" */
    Cli cli;               /* silent on ranks other than 0; finalises MPI before exiting */
    int under_launcher;    /* MPI is initialised; MPI_COMM_WORLD is the run */
    int speaker;           /* this process prints (rank 0) */
    char *config_text;     /* the text every rank parsed */
} ToolRun;

/* The options train and bench share, filled by TOOLRUN_OPTIONS in the tool's table. */
typedef struct {
    const char *config_path; /* --config FILE ('-': stdin) */
    CliList sets;            /* --set KEY=VALUE, in order */
    int steps;               /* --steps N; the tool's default when not given */
    const char *trace;       /* --trace FILE: the timeline (docs/trace.md) */
    const char *trace_steps; /* --trace-steps FROM:TO */
} RunArgs;

#define TOOLRUN_OPTIONS(args, steps_min, steps_max)                                              \
    OPT_STRING("config", 'c', &(args)->config_path),                                             \
        OPT_INT("steps", 's', &(args)->steps, steps_min, steps_max),                             \
        OPT_LIST("set", 0, &(args)->sets), OPT_STRING("trace", 0, &(args)->trace),               \
        OPT_STRING("trace-steps", 0, &(args)->trace_steps)

/* The usage lines of the trace options, for the tools' --help. */
#define TOOLRUN_TRACE_USAGE                                                                      \
    "      --trace FILE      write a timeline of the steps (Chrome trace-event JSON, for\n"      \
    "                        Perfetto); with several ranks each writes FILE.rank<R>.json,\n"    \
    "                        joined by 'picotron trace merge' (docs/trace.md)\n"                 \
    "      --trace-steps A:B record steps A to B only (from 1; 'A:' to the end)\n"

/* --trace and --trace-steps, else logging.trace and logging.trace_steps, into opt; a bad
 * range, a range without a file or a directory that cannot take the file is a usage error
 * (exit 2). */
void toolrun_trace(const ToolRun *r, const RunArgs *args, const Config *cfg, TrainOptions *opt);

/* Before argument parsing: detect the launcher, MPI_Init under one. */
void toolrun_begin(ToolRun *r, const char *prog, const char *usage, int *argc, char ***argv);

/* Read config path on rank 0 (or alone), share the text, parse it, apply the --set list and
 * validate. Config warnings come from the speaker only. */
int toolrun_config(ToolRun *r, Config *cfg, const char *path, const CliList *sets, Error *err);


/* When no launcher started us and the mesh needs more than one rank, run this program on N
 * local ranks through mpirun and return 1 with *exit_code set (the caller exits with it);
 * return 0 when this process should train itself. */
int toolrun_maybe_launch(ToolRun *r, const Config *cfg, const char *config_path, char **argv,
                         int *exit_code, Error *err);

/* Everything before training that train and bench share: parse the tool's options (a table
 * holding TOOLRUN_OPTIONS(args, ...)), refuse arguments left after them and a missing --config,
 * read and validate the config on every rank, start the local ranks when no launcher did. Usage
 * and config errors exit (2). Returns 1 with *exit_code set when this process only launched the
 * ranks, 0 when it should run. */
int toolrun_prepare(ToolRun *r, Config *cfg, const CliOption *options, RunArgs *args, int argc,
                    char **argv, int *exit_code);

/* The communicator to train on: MPI_COMM_WORLD under a launcher, else MPI_COMM_NULL. */
MPI_Comm toolrun_comm(const ToolRun *r);

/* Print "prog: msg" (speaker only) and exit with the error's code, finalising MPI. */
void toolrun_fail(const ToolRun *r, const Error *err) __attribute__((noreturn));
/* Finalise MPI when it was initialised, then exit. */
void toolrun_exit(int code) __attribute__((noreturn));

#endif
