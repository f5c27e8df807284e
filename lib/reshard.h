/* reshard: a checkpoint rewritten offline, in one process, for another mesh: the stored config
 * with the new mesh (global batch kept), every target rank's file assembled piece by piece from
 * the source's index, meta.h5, then the directory installed atomically. picotron-shard-ckpt's
 * engine. */
#ifndef PICOTRON_RESHARD_H
#define PICOTRON_RESHARD_H

#include <stdint.h>

#include "error.h"

/* A target mesh; a field < 0 keeps the source checkpoint's value. */
typedef struct {
    int dp, pp, cp, tp, zero;
} ReshardMesh;

/* What was written: the step, the resolved mesh, how many rank files. */
typedef struct {
    int64_t step;
    ReshardMesh mesh;
    int nfiles;
} ReshardResult;

/* Rewrite checkpoint `in` for mesh `to` into directory `out`, written as out.tmp and renamed
 * into place (an existing out is replaced only with force). Weights and AdamW m, v are copied
 * bit for bit; memory stays near one tensor; progress per tensor (lib/progress). On error
 * nothing is left at out.tmp and an existing out is untouched. */
int reshard_checkpoint(const char *in, const char *out, const ReshardMesh *to, int force,
                       ReshardResult *res, Error *err);

#endif
