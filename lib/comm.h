/* comm: collectives and point-to-point over MPI behind one small interface (an NCCL backend
 * will implement the same calls). A Comm of size 1 makes every call a no-op without touching
 * MPI, so single-process code paths need no MPI_Init. Buffers are fp32 unless named. */
#ifndef PICOTRON_COMM_H
#define PICOTRON_COMM_H

#include <mpi.h>
#include <stdint.h>

#include "error.h"

/* What a communicator carries, for the accounting of time spent waiting on it. */
typedef enum { COMM_OTHER, COMM_TP, COMM_CP, COMM_PP, COMM_DP, COMM_KINDS } CommKind;

typedef struct {
    MPI_Comm comm;   /* MPI_COMM_NULL when size == 1 and no MPI is needed */
    int rank, size;
    CommKind kind;
} Comm;

typedef struct {
    MPI_Request req;
    CommKind kind;
    int op;          /* what it is, for the trace: all-reduce, send, receive */
    int64_t bytes;
    double t0, waited; /* when it started (while tracing); seconds comm_wait waited for it */
} CommRequest;

/* Seconds this process has spent inside blocking calls (collectives, waits) per kind. */
double comm_wait_seconds(CommKind kind);
const char *comm_kind_name(CommKind kind);

/* The process's MPI lifetime: comm_init under a launcher (MPI_Init), comm_finalize before
 * exit (a no-op when MPI was never started or is already finished). */
void comm_init(int *argc, char ***argv);
void comm_finalize(void);
/* Every process of the job (MPI_COMM_WORLD after comm_init; comm_free leaves it alone). */
Comm comm_world(void);

/* A Comm of one process that never calls MPI. */
Comm comm_self(void);
/* Wrap (and own) an MPI communicator. */
Comm comm_from_mpi(MPI_Comm c);
void comm_free(Comm *c);

void comm_allreduce_sum(const Comm *c, float *buf, int64_t n);
void comm_allreduce_max(const Comm *c, float *buf, int64_t n);
void comm_allreduce_sum_f64(const Comm *c, double *buf, int n);
void comm_allreduce_max_int(const Comm *c, int *buf, int n);
/* send: (size · n) floats; recv: this rank's n floats = sum over ranks of block rank. */
void comm_reduce_scatter(const Comm *c, const float *send, float *recv, int64_t n);
/* buf holds size blocks of n floats; block `rank` is this rank's, the others are filled. */
void comm_allgather_inplace(const Comm *c, float *buf, int64_t n);
void comm_bcast(const Comm *c, void *buf, int64_t bytes, int root);
/* Rank 0 receives every rank's n doubles in rank order into all (size · n; unused elsewhere). */
void comm_gather_f64(const Comm *c, const double *mine, int n, double *all);
void comm_barrier(const Comm *c);

/* Non-blocking variants: the request completes in comm_wait / comm_test. */
void comm_iallreduce_sum(const Comm *c, float *buf, int64_t n, CommRequest *r);
void comm_isend(const Comm *c, const float *buf, int64_t n, int dest, int tag, CommRequest *r);
void comm_irecv(const Comm *c, float *buf, int64_t n, int src, int tag, CommRequest *r);
void comm_wait(CommRequest *r);
int comm_test(CommRequest *r);   /* 1 when complete; drives MPI progress */
void comm_waitall(CommRequest *r, int n);

/* Progress: Open MPI moves a non-blocking collective only inside MPI calls, so long compute
 * phases call comm_progress between their kernels; it runs the hook that the owner of the
 * requests in flight installed (grads: its buckets), or nothing. */
void comm_set_progress(void (*hook)(void *ctx), void *ctx);
void comm_progress(void);

/* Errors agreed by all ranks: every rank passes its own Error; afterwards every rank holds the
 * same one (the lowest-ranked non-zero code's message) and returns its code. Collective. */
int comm_agree(const Comm *c, Error *err);

#endif
