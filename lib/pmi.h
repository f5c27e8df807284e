/* pmi: the bootstrap of an MPI-free job under Slurm (`srun --mpi=pmi2`): rank, size and local
 * rank from PMI2, and small blobs (an NCCL id) shared through the PMI2 key-value store. Used
 * only when Slurm's PMI2 plugin started the process (PMI_FD and PMI_RANK set): elsewhere
 * PMI2_Init quietly answers rank 0 of 1. Reference: docs/launch.md. */
#ifndef PICOTRON_PMI_H
#define PICOTRON_PMI_H

#include <stddef.h>

#include "error.h"

/* The longest blob pmi_put_hex carries: PMI2 values hold 1024 bytes, two hex digits each. */
#define PMI_BLOB_MAX 511

typedef struct {
    int rank, size;             /* this process among all of the job step's */
    int local_rank, local_size; /* among those on this node */
} PmiJob;

/* Whether the environment says Slurm's PMI2 plugin started this process. */
int pmi_present(void);

/* Whether this build has PMI2 (built against libpmi2). */
int pmi_available(void);

/* Connect to the PMI2 server and fill job. PT_ERUNTIME naming why when the process was not
 * started under PMI2 or the server refuses; PT_EINPUT when the build lacks PMI2. */
int pmi_init(PmiJob *job, Error *err);

/* Put n bytes under key as hex (key shorter than 64 characters, n ≤ PMI_BLOB_MAX). */
int pmi_put_hex(const char *key, const void *buf, size_t n, Error *err);
/* Every rank's puts are visible to every rank after all of them passed the fence. */
int pmi_fence(Error *err);
/* The n bytes rank src put under key; PT_ERUNTIME when absent or of another length. */
int pmi_get_hex(int src, const char *key, void *buf, size_t n, Error *err);

/* Leave the PMI2 server (after the last fence). */
void pmi_finalize(void);
/* End every process of the job step, with msg in Slurm's log. */
void pmi_abort(const char *msg);

/* Pure helpers, tested on their own. */

/* This rank's place on its node from PMI_process_mapping, "(vector,(node,nodes,ppn),...)":
 * each triple puts ppn consecutive ranks on each of nodes nodes from node on, the vector
 * repeating until all size ranks are placed (a cyclic layout is "(vector,(0,N,1))").
 * PT_EINPUT naming the mapping when it does not parse or places no rank. */
int pmi_mapping_local(const char *map, int rank, int size, int *local_rank, int *local_size,
                      Error *err);

/* 2n lower-case hex digits and a NUL into out (2n+1 bytes). */
void pmi_hex_encode(const void *buf, size_t n, char *out);
/* Exactly 2n hex digits into n bytes: 0, or -1 on another length or a non-hex digit. */
int pmi_hex_decode(const char *hex, void *buf, size_t n);

#endif
