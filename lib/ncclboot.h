/* ncclboot: the start of an NCCL communicator — one rank makes the unique id, the control
 * plane carries it to the others (MPI_Bcast under Open MPI, the PMI2 key-value store in an
 * MPI-free Slurm job), every rank joins with ncclCommInitRank. Built when CUDA_HOME holds
 * nccl.h. Reference: docs/cuda.md, Multi-GPU. */
#ifndef PICOTRON_NCCLBOOT_H
#define PICOTRON_NCCLBOOT_H

#include <nccl.h>

#include "comm.h"
#include "error.h"
#include "pmi.h"

/* Rank 0 of c makes the id, comm_bcast gives it to every rank of c. Collective over c. */
int ncclboot_id_mpi(const Comm *c, ncclUniqueId *id, Error *err);

/* Rank 0 of the job puts the id under key, every rank reads it after the fence. Collective
 * over the job (every rank calls it with the same key, once per key). */
int ncclboot_id_pmi(const PmiJob *job, const char *key, ncclUniqueId *id, Error *err);

/* Join the communicator of size ranks as rank (the CUDA device set before). PT_ERUNTIME with
 * NCCL's own words when it refuses (no GPU, a GPU taken twice, a peer unreachable). */
int ncclboot_init(ncclComm_t *out, const ncclUniqueId *id, int rank, int size, Error *err);

#endif
