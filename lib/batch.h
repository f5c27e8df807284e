/* batch: the tokens this rank trains on. Micro-batch a of a step starting at global sample
 * `first` takes samples first + (a·dp + dp_rank)·B + b of the global order (data.h); of each
 * sample of T + 1 tokens the inputs are tokens [0, T) and the targets [1, T + 1), and under
 * context parallelism this rank holds only its two chunks of them (mesh_cp_chunks). */
#ifndef PICOTRON_BATCH_H
#define PICOTRON_BATCH_H

#include <stdint.h>

#include "data.h"
#include "error.h"
#include "mesh.h"

typedef struct {
    int B, T, T_loc, m;       /* micro-batch size, sequence, tokens held here, micro-batches */
    int dp, dp_rank, cp, cp_rank;
    int32_t *ids, *targets;   /* (m, B, T_loc) */
    int32_t *sample;          /* (T + 1) one sample as read */
} Batch;

void batch_init(Batch *b, int B, int T, int m, const Mesh *me);
void batch_free(Batch *b);

/* The m micro-batches of the step whose first global sample is `first`. */
int batch_load_step(Batch *b, Dataset *ds, int64_t first, Error *err);
/* One micro-batch of samples first .. first + B − 1 (validation: every dp rank reads the
 * same ones), into micro-batch 0. */
int batch_load_one(Batch *b, Dataset *ds, int64_t first, Error *err);

#endif
