/* runinfo: what a finished or running run directory says about itself, read back: its resolved
 * config, every line of metrics.jsonl, its submit status, and the summary picotron-metrics and
 * picotron-plot show (definitions: docs/metrics.md). */
#ifndef PICOTRON_RUNINFO_H
#define PICOTRON_RUNINFO_H

#include <limits.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

/* One line of metrics.jsonl, the fields the tools read. */
typedef struct {
    int64_t step, tokens;
    double loss, val_loss;  /* val_loss: NAN on a step without validation */
    double tokens_per_s, mfu, mem_mib;
} RunStep;

typedef struct {
    char dir[PATH_MAX];     /* as given or found, for output */
    Config cfg;             /* config.resolved.json */
    char status[64];        /* the submit status word, else completed / incomplete / empty */
    RunStep *steps;         /* in file order */
    int nsteps;
    /* The summary; NAN where the log has nothing to say. */
    int64_t last_step, tokens;
    double loss, val_loss;  /* the last logged loss and the last validation loss */
    double tokens_per_s;    /* median over the logged steps after step 1 (step 1 if alone) */
    double mfu;             /* median over the same steps, a fraction */
    double peak_mem_mib;    /* the largest mem_mib logged */
} RunInfo;

/* Read run directory dir: DIR/config.resolved.json through the config parser, DIR/metrics.jsonl
 * line by line (a last line without its newline is a line being written and is skipped), and
 * DIR/status when picotron-submit wrote one. PT_EINPUT naming the file (and line) on anything
 * missing or malformed. */
int runinfo_read(RunInfo *r, const char *dir, Error *err);

void runinfo_free(RunInfo *r);

/* Run directories named by arg: arg itself when it holds metrics.jsonl, else every directory
 * below it that does (a run directory's own subdirectories are not searched), in name order.
 * The paths (malloc'ed) are appended to *dirs (grown with realloc). PT_EINPUT when arg does not
 * exist or holds no run directory. */
int runinfo_find(const char *arg, char ***dirs, int *n, Error *err);

/* Tokens per second of one rank: tokens_per_s / (dp·pp·cp·tp). */
double runinfo_tokens_per_s_rank(const RunInfo *r);

#endif
