/* ncclcomm: device-buffer collectives of a mesh group over NCCL (lib/ncclcomm.h). */
#include "ncclcomm.h"

#include "ncclboot.h"

static int check(ncclResult_t r, const char *call, const NcclComm *g, Error *err)
{
    if (r == ncclSuccess) return PT_OK;
    return err_set(err, PT_ERUNTIME, "NCCL %s (rank %d of %d): %s", call, g->rank, g->size,
                   ncclGetErrorString(r));
}

int ncclcomm_open(NcclComm *g, const Comm *ctrl, Error *err)
{
    *g = (NcclComm){.nc = NULL, .stream = NULL, .rank = ctrl->rank, .size = ctrl->size};
    if (ctrl->size == 1) return PT_OK;
    ncclUniqueId id;
    int rc = ncclboot_id_mpi(ctrl, &id, err);
    if (rc != PT_OK) return rc;
    if (cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking) != cudaSuccess)
        return err_set(err, PT_ERUNTIME, "cudaStreamCreateWithFlags failed for an NCCL group");
    return ncclboot_init(&g->nc, &id, g->rank, g->size, err);
}

void ncclcomm_close(NcclComm *g)
{
    if (g->nc) ncclCommDestroy(g->nc);
    if (g->stream) cudaStreamDestroy(g->stream);
    g->nc = NULL;
    g->stream = NULL;
}

int ncclcomm_allreduce_sum(NcclComm *g, float *buf, int64_t n, Error *err)
{
    if (g->size == 1) return PT_OK;
    return check(ncclAllReduce(buf, buf, (size_t)n, ncclFloat, ncclSum, g->nc, g->stream),
                 "ncclAllReduce", g, err);
}

int ncclcomm_reduce_scatter(NcclComm *g, const float *send, float *recv, int64_t n, Error *err)
{
    if (g->size == 1)
        return cudaMemcpyAsync(recv, send, (size_t)n * sizeof *recv, cudaMemcpyDeviceToDevice,
                               g->stream) == cudaSuccess
                   ? PT_OK
                   : err_set(err, PT_ERUNTIME, "cudaMemcpyAsync of a one-rank reduce-scatter");
    return check(ncclReduceScatter(send, recv, (size_t)n, ncclFloat, ncclSum, g->nc, g->stream),
                 "ncclReduceScatter", g, err);
}

int ncclcomm_allgather_inplace(NcclComm *g, float *buf, int64_t n, Error *err)
{
    if (g->size == 1) return PT_OK;
    /* in place: NCCL reads this rank's block where the result puts it */
    return check(ncclAllGather(buf + (int64_t)g->rank * n, buf, (size_t)n, ncclFloat, g->nc,
                               g->stream),
                 "ncclAllGather", g, err);
}

int ncclcomm_bcast(NcclComm *g, float *buf, int64_t n, int root, Error *err)
{
    if (g->size == 1) return PT_OK;
    return check(ncclBroadcast(buf, buf, (size_t)n, ncclFloat, root, g->nc, g->stream),
                 "ncclBroadcast", g, err);
}

int ncclcomm_sendrecv(NcclComm *g, const float *send, int64_t ns, int dest, float *recv,
                      int64_t nr, int src, Error *err)
{
    if (g->size == 1) return PT_OK;
    int rc = check(ncclGroupStart(), "ncclGroupStart", g, err);
    if (rc != PT_OK) return rc;
    if (dest >= 0)
        rc = check(ncclSend(send, (size_t)ns, ncclFloat, dest, g->nc, g->stream), "ncclSend", g,
                   err);
    if (rc == PT_OK && src >= 0)
        rc = check(ncclRecv(recv, (size_t)nr, ncclFloat, src, g->nc, g->stream), "ncclRecv", g,
                   err);
    /* the group is closed even after a failed post: NCCL keeps it open otherwise */
    int end = check(ncclGroupEnd(), "ncclGroupEnd", g, err);
    return rc != PT_OK ? rc : end;
}

int ncclcomm_sync(NcclComm *g, Error *err)
{
    if (g->size == 1 || cudaStreamSynchronize(g->stream) == cudaSuccess) return PT_OK;
    return err_set(err, PT_ERUNTIME, "cudaStreamSynchronize of an NCCL group's stream failed");
}

int ncclcomm_open_mesh(NcclMesh *nm, const Mesh *m, Error *err)
{
    NcclComm *g[] = {&nm->tp, &nm->cp, &nm->pp, &nm->dp, &nm->dpcp, &nm->embed};
    const Comm *c[] = {&m->tp_comm, &m->cp_comm, &m->pp_comm, &m->dp_comm, &m->dpcp_comm,
                       &m->embed_comm};
    *nm = (NcclMesh){0};
    for (int i = 0; i < 6; i++) {
        int rc = ncclcomm_open(g[i], c[i], err);
        if (rc != PT_OK) {
            ncclcomm_close_mesh(nm);
            return rc;
        }
    }
    return PT_OK;
}

void ncclcomm_close_mesh(NcclMesh *nm)
{
    NcclComm *g[] = {&nm->tp, &nm->cp, &nm->pp, &nm->dp, &nm->dpcp, &nm->embed};
    for (int i = 0; i < 6; i++) ncclcomm_close(g[i]);
}
