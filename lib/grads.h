/* grads: what happens to this rank's gradients between backward and the optimizer. Buckets
 * of the flat gradient buffer are all-reduced over dp×cp (cp alone under ZeRO-1) as soon as
 * backward has finished every tensor in them, while backward goes on; the tied embedding's
 * two copies are summed over the first and last stage; under ZeRO-1 the dp reduction is a
 * reduce-scatter onto this rank's optimizer shard, and the updated weights come back by
 * all-gather. Also which elements this rank counts in the global gradient norm. */
#ifndef PICOTRON_GRADS_H
#define PICOTRON_GRADS_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "comm.h"
#include "mesh.h"
#include "params.h"

/* A contiguous range of the flat gradient buffer reduced by one non-blocking all-reduce. */
typedef struct {
    size_t lo, hi;        /* [lo, hi) of the flat buffer */
    int ready_part;       /* backward part after which every tensor in it is final */
    CommRequest req;
    int in_flight;
    int started;          /* this step's reduction was started (in backward) */
} GradBucket;

typedef struct {
    const ParamTable *pt;
    const Mesh *mesh;
    const Backend *be;        /* where g lives */
    float *g;                 /* (padded) the flat gradient buffer (not owned) */
    size_t padded;            /* floats, a multiple of dp (ZeRO-1 shards) */
    int zero;                 /* ZeRO-1: dp reduction is a reduce-scatter onto [lo, hi) */
    size_t lo, hi;            /* this rank's optimizer shard (everything without ZeRO-1) */
    float *shard_tmp;         /* (hi − lo) reduce-scatter landing buffer (ZeRO-1) */
    const Comm *reduce;       /* the group buckets are all-reduced over during backward */
    GradBucket *bucket;       /* [nbuckets] in the order backward finishes them */
    int nbuckets;
    int reducing;             /* inside the step's last backward: start reductions */
    int embed;                /* index of the embedding in pt, −1 when this stage has none */
    unsigned char *counted;   /* [pt->n] tensor counted in the global norm on this rank */
} Grads;

/* Floats of the flat buffer: numel padded to a multiple of dp, so ZeRO-1 shards are equal. */
size_t grads_padded_numel(size_t numel, int dp);

/* The ZeRO-1 shard of dp_rank over a flat buffer of numel floats padded to a multiple of dp:
 * equal blocks of ceil(numel / dp); zero_stage 0: the whole buffer. Checkpoints store
 * optimizer states by this layout. */
void grads_shard_range(size_t numel, int dp, int dp_rank, int zero_stage, size_t *lo, size_t *hi);

/* Buckets of at most bucket_mb MiB (a tensor larger than that is a bucket of its own; ≤ 0:
 * one bucket per tensor) over grads (padded floats on be, laid out by pt). */
void grads_init(Grads *gr, const ParamTable *pt, const Mesh *mesh, const Backend *be,
                float *grads, size_t padded, int zero_stage, double bucket_mb);
void grads_free(Grads *gr);

/* Which backward part makes tensor p's gradient final: −1 the embedding (first stage), the
 * local block index for block tensors, nl (layers held) for the final norm and the head. */
int grads_tensor_part(const ParamTable *pt, const ParamInfo *p);

void grads_zero(Grads *gr);

/* Around the step's last backward: reductions start as parts finish (grads_part_ready). */
void grads_begin_reducing(Grads *gr);
void grads_end_reducing(Grads *gr);

/* Backward has finished `part`: start the buckets it completes, then progress the others. */
void grads_part_ready(Grads *gr, int part);

/* Let MPI move the reductions in flight (Open MPI progresses only inside MPI calls); cheap
 * when nothing is in flight. Installed as comm's progress hook by grads_init. */
void grads_progress(Grads *gr);

/* After backward: wait for the buckets, sum the tied embedding over its two stages,
 * reduce-scatter over dp under ZeRO-1. Gradients in [lo, hi) are then final. */
void grads_finish(Grads *gr);

/* Σ g² over what this rank counts (its own slices, replicated tensors once over the mesh);
 * summing it over all ranks gives the global norm². */
double grads_sumsq(const Grads *gr);

/* Under ZeRO-1: every dp rank gets the others' updated shards of params. */
void grads_gather_params(const Grads *gr, float *params);

#endif
