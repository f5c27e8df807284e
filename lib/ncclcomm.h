/* ncclcomm: the device-buffer collectives of one mesh group over NCCL, queued on the group's
 * own stream (the control plane — host scalars, agreement — stays on lib/comm). Each call
 * only enqueues: ncclcomm_sync waits for the stream. A group of one rank needs no NCCL and
 * every call is a no-op. Reference: docs/cuda.md, Multi-GPU. Buffers are fp32 device memory. */
#ifndef PICOTRON_NCCLCOMM_H
#define PICOTRON_NCCLCOMM_H

#include <cuda_runtime.h>
#include <nccl.h>
#include <stdint.h>

#include "comm.h"
#include "error.h"
#include "mesh.h"

typedef struct {
    ncclComm_t nc;          /* NULL when size == 1 */
    cudaStream_t stream;    /* the group's own: its reductions overlap the compute stream */
    int rank, size;
} NcclComm;

/* The NCCL communicator of the ranks of ctrl (an MPI group of the mesh), same ranks and
 * order; the id goes by MPI_Bcast over ctrl. Collective over ctrl. */
int ncclcomm_open(NcclComm *g, const Comm *ctrl, Error *err);
void ncclcomm_close(NcclComm *g);

int ncclcomm_allreduce_sum(NcclComm *g, float *buf, int64_t n, Error *err);
/* send: (size · n) floats; recv: this rank's n floats = sum over ranks of block rank. */
int ncclcomm_reduce_scatter(NcclComm *g, const float *send, float *recv, int64_t n, Error *err);
/* buf holds size blocks of n floats; block `rank` is this rank's, the others are filled. */
int ncclcomm_allgather_inplace(NcclComm *g, float *buf, int64_t n, Error *err);
int ncclcomm_bcast(NcclComm *g, float *buf, int64_t n, int root, Error *err);
/* One step of a ring or a pipeline hand-off: send ns floats to dest and receive nr from src,
 * posted together inside ncclGroupStart/End so that every rank sending first cannot
 * deadlock. dest/src < 0: that side is skipped (a pipeline's first and last stage). */
int ncclcomm_sendrecv(NcclComm *g, const float *send, int64_t ns, int dest, float *recv,
                      int64_t nr, int src, Error *err);
/* Wait until everything queued on the group's stream has finished. */
int ncclcomm_sync(NcclComm *g, Error *err);

/* One NCCL group beside each of the mesh's MPI groups, same ranks. */
typedef struct {
    NcclComm tp, cp, pp, dp, dpcp, embed;
} NcclMesh;

/* Open them all, in one order on every rank (tp, cp, pp, dp, dpcp, embed). Collective over
 * the mesh; on failure the ones opened are closed. */
int ncclcomm_open_mesh(NcclMesh *nm, const Mesh *m, Error *err);
void ncclcomm_close_mesh(NcclMesh *nm);

#endif
