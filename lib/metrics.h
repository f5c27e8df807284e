/* metrics: throughput and MFU bookkeeping (docs/math.md, MFU), the machine's measured CPU peak, and
 * the per-step JSON-lines log of a run. */
#ifndef PICOTRON_METRICS_H
#define PICOTRON_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"

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

#endif
