/* metrics: throughput and MFU bookkeeping (docs/math.md, MFU), the machine's measured CPU peak, and
 * the per-step JSON-lines log of a run. */
#ifndef PICOTRON_METRICS_H
#define PICOTRON_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "models.h"

typedef struct {
    double flops_per_token;        /* 6·N + 12·L·C·T (picotron's form: N with embeddings) */
    double flops_per_token_causal; /* 6·N + 6·L·C·T (attention halved by the causal mask) */
    int64_t n_params;              /* N with embeddings (lm head counted when untied) */
    int64_t n_params_no_embed;     /* N without the embedding and lm head */
} FlopCount;

FlopCount metrics_flops(const ModelDims *d, int seq_length);

/* Seconds on a monotonic clock. */
double metrics_now(void);

/* Resident set size of this process in MiB. */
double metrics_rss_mib(void);

/* One line of metrics.jsonl. */
typedef struct {
    int64_t step;
    double loss, lr, grad_norm;
    int64_t tokens;               /* trained on so far */
    double tokens_per_s, tflops_per_device, mem_mib;
    double mfu;                   /* a fraction of the measured CPU peak (logged also as mfu_pct) */
    int64_t epoch;
    double step_time_s, comm_time_s;
    int has_val;
    double val_loss;
} MetricsRecord;

/* Open path for the run's log: a fresh file, or (resumed) the existing log with every line
 * after `step` dropped first (atomically), so a step logged before a crash past the last
 * checkpoint appears once. A line that is not a JSON object with an integer "step" is an
 * input error naming the file and line. */
int metrics_log_open(FILE **f, const char *path, int resumed, int64_t step, Error *err);
/* Append one record as a JSON object on one line (Jansson; reals with 8 significant digits)
 * and flush it. 0, or the errno of a write that failed (a full disk). */
int metrics_log_write(FILE *f, const MetricsRecord *r);

#endif
