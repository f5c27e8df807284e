/* memplan: what one rank of a run allocates, computed from the config alone (no model, no
 * MPI): parameters, gradients, AdamW states and saved activations per pipeline stage, as the
 * trainer allocates them (fp32 throughout), plus the CUDA backend's workspace when
 * environment.device is cuda. For create-config --check and for sizing jobs before they are
 * submitted. */
#ifndef PICOTRON_MEMPLAN_H
#define PICOTRON_MEMPLAN_H

#include <stdint.h>

#include "config.h"

/* One pipeline stage. Every rank of a stage holds the same amount: tp ranks hold equal slices
 * (the vocabulary is padded to a multiple of 128·tp), cp ranks the same model with T/cp tokens,
 * dp ranks equal ZeRO-1 shards. */
typedef struct {
    int layer_begin, layer_end;  /* blocks [begin, end) of this stage */
    int64_t param_floats;        /* this rank's parameters, vocab padding included */
    int nslots;                  /* micro-batches in flight at once (pipeline schedule) */
    double params, grads;        /* bytes */
    double optimizer;            /* bytes of AdamW m + v (÷ dp with zero_stage 1) */
    double activations;          /* bytes: nslots saved activation sets + backward scratch,
                                    under the config's training.activation_checkpointing */
    double activations_by_mode[3]; /* the same under each Recompute mode (none, selective,
                                      full), for comparing them */
    double workspace;            /* bytes the backend holds itself (the GPU's GEMM workspace) */
} MemStage;

typedef struct {
    int pp;
    MemStage *stage;             /* [pp] */
} MemPlan;

/* Fill plan for a validated config; memplan_free releases it. */
void memplan_estimate(const Config *cfg, MemPlan *plan);
void memplan_free(MemPlan *plan);

/* Sum of a stage's parts, in bytes. */
double memplan_stage_total(const MemStage *s);

/* Bytes of one rank of the config's largest pipeline stage: what every rank must be given. */
double memplan_peak_bytes(const Config *cfg);

/* Bytes this machine can still give: /proc/meminfo's MemAvailable, or the cgroup's room
 * (memory.max - memory.current) when that is a number and smaller. 0 when neither is known. */
double memplan_available(void);

/* Refuse, before anything is allocated, a run whose largest pipeline stage times local_ranks
 * (the ranks of this job on this node) exceeds avail bytes: PT_EINPUT with one line naming the
 * estimate per rank, its four terms and the memory available. avail <= 0 (unknown) passes. */
int memplan_check(const Config *cfg, int local_ranks, double avail, Error *err);

/* The same for one rank on its own GPU with avail bytes free there once the backend holds its
 * workspace (so that is not counted again). */
int memplan_check_gpu(const Config *cfg, double avail, Error *err);

#endif
