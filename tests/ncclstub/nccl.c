/* ncclstub: stand-ins for the NCCL calls lib/ncclboot and lib/ncclcomm make, over MPI on the
 * cudastub's "device" memory (host memory), so their host code runs here without a GPU (tests
 * only, never linked into the product). Every buffer is checked to be a live device
 * allocation of the size the call implies. Work runs when it is issued (streams are ignored).
 * Point-to-point keeps NCCL's rule that a send completes only when its receive is posted:
 * outside ncclGroupStart/End a send waits for its match, so a ring in which every rank sends
 * first deadlocks — the stand-in gives up after NCCLSTUB_TIMEOUT_S seconds (default 5) with
 * ncclSystemError and one line on stderr instead of hanging (after that, as after a real NCCL
 * error, the communicator's point-to-point state is undefined). Inside a group all sends and
 * receives are posted together at ncclGroupEnd.
 * Restriction: ncclCommInitRank is MPI_Comm_split of MPI_COMM_WORLD (the id picks the color),
 * so every world rank must open its communicators in the same order, as lib/mesh splits its
 * groups. */
#include <mpi.h>
#include <nccl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cudastub.h"

struct ncclComm {
    MPI_Comm c;
    int rank, size;
};

enum { TAG = 4242, READY_TAG = 4243, MAX_PENDING = 64 };

typedef struct {
    int send;
    void *buf;
    size_t count;
    int peer;
    ncclComm_t comm;
} P2p;

static int group_depth;
static P2p pending[MAX_PENDING];
static int npending;

const char *ncclGetErrorString(ncclResult_t r)
{
    switch (r) {
    case ncclSuccess: return "no error";
    case ncclInvalidArgument: return "invalid argument (stand-in)";
    case ncclSystemError: return "unhandled system error (stand-in)";
    default: return "error (stand-in)";
    }
}

ncclResult_t ncclGetUniqueId(ncclUniqueId *id)
{
    static int serial;
    memset(id, 0, sizeof *id);
    /* distinct per process and call: the color of the split below */
    int color = (int)(((unsigned)getpid() * 1024u + (unsigned)serial++) & 0x7fffffffu);
    memcpy(id->internal, &color, sizeof color);
    return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank)
{
    int color;
    memcpy(&color, id.internal, sizeof color);
    struct ncclComm *c = calloc(1, sizeof *c);
    if (!c) return ncclSystemError;
    MPI_Comm_split(MPI_COMM_WORLD, color, rank, &c->c);
    MPI_Comm_rank(c->c, &c->rank);
    MPI_Comm_size(c->c, &c->size);
    if (c->size != nranks || c->rank != rank) {
        fprintf(stderr, "ncclstub: ncclCommInitRank: rank %d of %d, but the id's ranks make "
                "%d of %d\n", rank, nranks, c->rank, c->size);
        MPI_Comm_free(&c->c);
        free(c);
        return ncclInvalidArgument;
    }
    *comm = c;
    return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm)
{
    MPI_Comm_free(&comm->c);
    free(comm);
    return ncclSuccess;
}

static void dev(const char *call, const char *what, const void *p, size_t floats)
{
    cudastub_check_device(call, what, p, floats * sizeof(float));
}

static ncclResult_t only_float_sum(ncclDataType_t t, ncclRedOp_t op)
{
    return t == ncclFloat && op == ncclSum ? ncclSuccess : ncclInvalidArgument;
}

ncclResult_t ncclAllReduce(const void *send, void *recv, size_t count, ncclDataType_t t,
                           ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream)
{
    (void)stream;
    if (only_float_sum(t, op) != ncclSuccess) return ncclInvalidArgument;
    dev("ncclAllReduce", "sendbuff", send, count);
    dev("ncclAllReduce", "recvbuff", recv, count);
    MPI_Allreduce(send == recv ? MPI_IN_PLACE : send, recv, (int)count, MPI_FLOAT, MPI_SUM,
                  comm->c);
    return ncclSuccess;
}

ncclResult_t ncclReduceScatter(const void *send, void *recv, size_t count, ncclDataType_t t,
                               ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream)
{
    (void)stream;
    if (only_float_sum(t, op) != ncclSuccess) return ncclInvalidArgument;
    dev("ncclReduceScatter", "sendbuff", send, count * (size_t)comm->size);
    dev("ncclReduceScatter", "recvbuff", recv, count);
    MPI_Reduce_scatter_block(send, recv, (int)count, MPI_FLOAT, MPI_SUM, comm->c);
    return ncclSuccess;
}

ncclResult_t ncclAllGather(const void *send, void *recv, size_t count, ncclDataType_t t,
                           ncclComm_t comm, cudaStream_t stream)
{
    (void)stream;
    if (t != ncclFloat) return ncclInvalidArgument;
    dev("ncclAllGather", "sendbuff", send, count);
    dev("ncclAllGather", "recvbuff", recv, count * (size_t)comm->size);
    int in_place = (const float *)send == (const float *)recv + (size_t)comm->rank * count;
    MPI_Allgather(in_place ? MPI_IN_PLACE : send, (int)count, MPI_FLOAT, recv, (int)count,
                  MPI_FLOAT, comm->c);
    return ncclSuccess;
}

ncclResult_t ncclBroadcast(const void *send, void *recv, size_t count, ncclDataType_t t, int root,
                           ncclComm_t comm, cudaStream_t stream)
{
    (void)stream;
    if (t != ncclFloat || root < 0 || root >= comm->size) return ncclInvalidArgument;
    dev("ncclBroadcast", "recvbuff", recv, count);
    if (comm->rank == root) {
        dev("ncclBroadcast", "sendbuff", send, count);
        if (send != recv) memmove(recv, send, count * sizeof(float));
    }
    MPI_Bcast(recv, (int)count, MPI_FLOAT, root, comm->c);
    return ncclSuccess;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A send moves only after its receiver said it is ready (a zero-byte message on READY_TAG,
 * after posting the receive): so a send nobody receives waits — NCCL's rule — and the wait
 * can be given up by cancelling a receive (Open MPI cannot cancel a send). Receives first,
 * then sends; every wait ends after the timeout with the line below. */
static ncclResult_t run_pending(void)
{
    MPI_Request data[MAX_PENDING], ready[MAX_PENDING];
    static char token;
    int n = npending;
    npending = 0;
    for (int i = 0; i < n; i++) {
        P2p *p = &pending[i];
        ready[i] = MPI_REQUEST_NULL;
        if (p->send) {
            data[i] = MPI_REQUEST_NULL;
            MPI_Irecv(&token, 0, MPI_CHAR, p->peer, READY_TAG, p->comm->c, &ready[i]);
        } else {
            MPI_Irecv(p->buf, (int)p->count, MPI_FLOAT, p->peer, TAG, p->comm->c, &data[i]);
            MPI_Send(&token, 0, MPI_CHAR, p->peer, READY_TAG, p->comm->c);
        }
    }
    const char *t = getenv("NCCLSTUB_TIMEOUT_S");
    double limit = t ? atof(t) : 5.0, t0 = now();
    int all_ready = 0, done = 0;
    while (!done && now() - t0 < limit) {
        if (!all_ready) {
            MPI_Testall(n, ready, &all_ready, MPI_STATUSES_IGNORE);
            for (int i = 0; all_ready && i < n; i++)
                if (pending[i].send)
                    MPI_Isend(pending[i].buf, (int)pending[i].count, MPI_FLOAT, pending[i].peer,
                              TAG, pending[i].comm->c, &data[i]);
        }
        if (all_ready) MPI_Testall(n, data, &done, MPI_STATUSES_IGNORE);
        if (!done) usleep(1000);
    }
    if (done) return ncclSuccess;
    fprintf(stderr, "ncclstub: %s rank %d not matched in %g s: a deadlock (a ring posted "
            "outside ncclGroupStart/End?)\n", pending[0].send ? "send to" : "receive from",
            pending[0].peer, limit);
    for (int i = 0; i < n; i++)
        if (!all_ready && ready[i] != MPI_REQUEST_NULL) {
            MPI_Cancel(&ready[i]);
            MPI_Wait(&ready[i], MPI_STATUS_IGNORE);
        }
    return ncclSystemError;
}

static ncclResult_t p2p(int send, void *buf, size_t count, ncclDataType_t t, int peer,
                        ncclComm_t comm)
{
    if (t != ncclFloat || peer < 0 || peer >= comm->size || npending == MAX_PENDING)
        return ncclInvalidArgument;
    dev(send ? "ncclSend" : "ncclRecv", "buffer", buf, count);
    pending[npending++] = (P2p){send, buf, count, peer, comm};
    return group_depth > 0 ? ncclSuccess : run_pending();
}

ncclResult_t ncclSend(const void *send, size_t count, ncclDataType_t t, int peer, ncclComm_t comm,
                      cudaStream_t stream)
{
    (void)stream;
    return p2p(1, (void *)send, count, t, peer, comm);
}

ncclResult_t ncclRecv(void *recv, size_t count, ncclDataType_t t, int peer, ncclComm_t comm,
                      cudaStream_t stream)
{
    (void)stream;
    return p2p(0, recv, count, t, peer, comm);
}

ncclResult_t ncclGroupStart(void)
{
    group_depth++;
    return ncclSuccess;
}

ncclResult_t ncclGroupEnd(void)
{
    if (group_depth == 0) return ncclInvalidArgument;
    return --group_depth > 0 ? ncclSuccess : run_pending();
}
