/* sweeprow: the results of a sweep, one row per point: a bench run's figures read from its
 * --json line, or why the point did not run; printed as an aligned table, written as CSV,
 * plotted through gnuplot, and the fastest row that ran. */
#ifndef PICOTRON_SWEEPROW_H
#define PICOTRON_SWEEPROW_H

#include <stdio.h>

#include "comm.h"
#include "error.h"
#include "sweep.h"

typedef enum {
    SWEEP_OK,      /* ran; figures filled */
    SWEEP_REFUSED, /* the config refuses the point (reason: the config's error line) */
    SWEEP_UNFIT,   /* memplan's bytes per rank exceed the limit per rank */
    SWEEP_FAILED,  /* the bench run exited non-zero or printed no result */
} SweepStatus;

typedef struct {
    SweepStatus status;
    char reason[1024];         /* one line; "" when ok */
    int ranks;                 /* 0 when refused */
    double mem_gib;            /* memplan's bytes per rank, GiB; < 0 when refused */
    double tokens_per_s, gflops;
    double mfu;                /* achieved GFLOP/s over the sgemm peak of the run's ranks */
    double rss_mib;            /* rank 0's resident memory at the end of the run */
    double wait[COMM_KINDS];   /* share of step time spent waiting, per group */
} SweepRow;

const char *sweeprow_status_name(SweepStatus st);

/* Fill an ok row's figures from picotron-bench --json output (the last line of text).
 * PT_ERUNTIME naming the missing field when it is not such a line. */
int sweeprow_from_json(SweepRow *row, const char *text, Error *err);

/* The aligned table: one column per axis, then the figures, status and reason. */
void sweeprow_print_table(FILE *f, const Sweep *s, const SweepRow *rows);

/* The same columns as CSV (RFC 4180 quoting), header first; malloc'ed text. */
char *sweeprow_csv(const Sweep *s, const SweepRow *rows);

/* The ok row with the most tokens/s (the first of equals); -1 when none ran. */
int sweeprow_best(const Sweep *s, const SweepRow *rows);

/* tokens/s of the rows that ran, a bar per point, as an SVG written by gnuplot to a temporary
 * name and renamed to path. PT_ERUNTIME when gnuplot fails. */
int sweeprow_plot(const char *path, const Sweep *s, const SweepRow *rows, Error *err);

#endif
