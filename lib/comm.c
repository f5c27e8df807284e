/* comm: the MPI backend of comm.h. A Comm of size 1 returns before any MPI call, so code that
 * runs on one process works without MPI_Init.
 *
 * Determinism: every sum is MPI_SUM over MPI_FLOAT. Open MPI (coll/tuned) picks its algorithm,
 * and so the order in which the ranks' values are added, from the communicator size and the
 * message size only. The same mesh and the same buffer sizes therefore give bitwise the same
 * sums on every run, which is all the trainer relies on; different mesh shapes agree only to
 * fp32 reduction-order tolerance. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm.h"
#include "trace.h"

/* Most elements handed to one blocking MPI call: keeps every count and byte offset far from
 * INT_MAX. Collectives over (size × n) buffers count the whole buffer against it. Both limits
 * can be lowered at compile time (-DCOMM_CHUNK=1000) to exercise the chunked paths. */
#ifndef COMM_CHUNK
#define COMM_CHUNK ((int64_t)1 << 30)
#endif
/* reduce-scatter of a buffer over COMM_CHUNK packs slices into a scratch buffer this large. */
#ifndef COMM_PACK
#define COMM_PACK ((int64_t)1 << 24)
#endif

/* A programmer error (wrong peer, size-1 p2p, oversized non-blocking count): say what and stop
 * every rank. */
static void comm_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void comm_fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("picotron: comm: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    int init = 0, fini = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fini);
    if (init && !fini)
        MPI_Abort(MPI_COMM_WORLD, PT_ERUNTIME);
    abort();
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

void comm_init(int *argc, char ***argv)
{
    MPI_Init(argc, argv);
}

void comm_finalize(void)
{
    int init = 0, done = 0;
    MPI_Initialized(&init);
    if (init) {
        MPI_Finalized(&done);
        if (!done)
            MPI_Finalize();
    }
}

Comm comm_world(void)
{
    return comm_from_mpi(MPI_COMM_WORLD);
}

Comm comm_self(void)
{
    return (Comm){ MPI_COMM_NULL, 0, 1, COMM_OTHER };
}

Comm comm_from_mpi(MPI_Comm c)
{
    if (c == MPI_COMM_NULL)
        return comm_self();
    Comm r = { c, 0, 1, COMM_OTHER };
    MPI_Comm_rank(c, &r.rank);
    MPI_Comm_size(c, &r.size);
    return r;
}

/* ---- time spent waiting, per kind of communicator ---- */

static double waited[COMM_KINDS];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double comm_wait_seconds(CommKind kind)
{
    return waited[kind];
}

const char *comm_kind_name(CommKind kind)
{
    static const char *names[COMM_KINDS] = {"other", "tp", "cp", "pp", "dp"};
    return names[kind];
}

/* A blocking call: its time is waiting on the group, and a span on the group's trace track
 * (name, bytes moved by this rank). */
#define TIMED(kind, name, bytes, call)                                         \
    do {                                                                       \
        double t0_ = now();                                                    \
        call;                                                                  \
        double t1_ = now();                                                    \
        waited[kind] += t1_ - t0_;                                             \
        if (trace_on)                                                          \
            trace_span(TRACK_COMM + (kind), name, t0_, t1_, bytes);            \
    } while (0)

void comm_free(Comm *c)
{
    if (c->comm != MPI_COMM_NULL && c->comm != MPI_COMM_WORLD && c->comm != MPI_COMM_SELF)
        MPI_Comm_free(&c->comm);
    *c = comm_self();
}

static void allreduce_f32(const Comm *c, float *buf, int64_t n, MPI_Op op)
{
    if (c->size == 1)
        return;
    for (int64_t off = 0; off < n; off += COMM_CHUNK)
        TIMED(c->kind, op == MPI_SUM ? "all-reduce sum" : "all-reduce max",
              4 * min64(COMM_CHUNK, n - off),
              MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)min64(COMM_CHUNK, n - off), MPI_FLOAT,
                            op, c->comm));
}

void comm_allreduce_sum(const Comm *c, float *buf, int64_t n) { allreduce_f32(c, buf, n, MPI_SUM); }
void comm_allreduce_max(const Comm *c, float *buf, int64_t n) { allreduce_f32(c, buf, n, MPI_MAX); }

void comm_allreduce_sum_f64(const Comm *c, double *buf, int n)
{
    if (c->size > 1)
        TIMED(c->kind, "all-reduce sum", 8 * (int64_t)n,
              MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, c->comm));
}

void comm_allreduce_max_int(const Comm *c, int *buf, int n)
{
    if (c->size > 1)
        MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_INT, MPI_MAX, c->comm);
}

void comm_reduce_scatter(const Comm *c, const float *send, float *recv, int64_t n)
{
    if (c->size == 1) {
        if (recv != send)
            memmove(recv, send, (size_t)n * sizeof *recv);
        return;
    }
    int64_t P = c->size;
    if (P * n <= COMM_CHUNK) {
        TIMED(c->kind, "reduce-scatter", 4 * P * n,
              MPI_Reduce_scatter_block(send, recv, (int)n, MPI_FLOAT, MPI_SUM, c->comm));
        return;
    }
    /* The slice [off, off + cnt) of every block is not contiguous in send: pack the P slices
     * side by side (predefined reductions need plain MPI_FLOAT buffers, not strided types). */
    int64_t cnt_max = COMM_PACK / P > 0 ? COMM_PACK / P : 1;
    float *pack = xmalloc((size_t)(P * cnt_max) * sizeof *pack);
    for (int64_t off = 0; off < n; off += cnt_max) {
        int64_t cnt = min64(cnt_max, n - off);
        for (int64_t b = 0; b < P; b++)
            memcpy(pack + b * cnt, send + b * n + off, (size_t)cnt * sizeof *pack);
        TIMED(c->kind, "reduce-scatter", 4 * P * cnt,
              MPI_Reduce_scatter_block(pack, recv + off, (int)cnt, MPI_FLOAT, MPI_SUM, c->comm));
    }
    free(pack);
}

void comm_allgather_inplace(const Comm *c, float *buf, int64_t n)
{
    if (c->size == 1)
        return;
    int64_t P = c->size;
    if (P * n <= COMM_CHUNK) {
        TIMED(c->kind, "all-gather", 4 * P * n,
              MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, (int)n, MPI_FLOAT, c->comm));
        return;
    }
    /* Gather the slice [off, off + cnt) of every block at once: a type of cnt floats whose
     * extent is one whole block steps from block to block (pure data movement, no reduction). */
    int64_t cnt_max = COMM_CHUNK / P > 0 ? COMM_CHUNK / P : 1;
    for (int64_t off = 0; off < n; off += cnt_max) {
        int cnt = (int)min64(cnt_max, n - off);
        MPI_Datatype slice, strided;
        MPI_Type_contiguous(cnt, MPI_FLOAT, &slice);
        MPI_Type_create_resized(slice, 0, (MPI_Aint)(n * (int64_t)sizeof(float)), &strided);
        MPI_Type_commit(&strided);
        TIMED(c->kind, "all-gather", 4 * P * cnt,
              MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf + off, 1, strided, c->comm));
        MPI_Type_free(&strided);
        MPI_Type_free(&slice);
    }
}

void comm_bcast(const Comm *c, void *buf, int64_t bytes, int root)
{
    if (c->size == 1)
        return;
    if (root < 0 || root >= c->size)
        comm_fatal("bcast root %d outside a communicator of %d ranks", root, c->size);
    char *p = buf;
    for (int64_t off = 0; off < bytes; off += COMM_CHUNK)
        MPI_Bcast(p + off, (int)min64(COMM_CHUNK, bytes - off), MPI_BYTE, root, c->comm);
}

void comm_barrier(const Comm *c)
{
    if (c->size > 1)
        MPI_Barrier(c->comm);
}

static int nb_count(const char *what, int64_t n)
{
    if (n < 0 || n > INT_MAX)
        comm_fatal("%s of %lld floats: non-blocking calls take at most INT_MAX elements", what,
                   (long long)n);
    return (int)n;
}

static void check_peer(const Comm *c, const char *what, int peer)
{
    if (c->size == 1)
        comm_fatal("%s on a communicator of one rank (peer %d): a rank cannot send to itself",
                   what, peer);
    if (peer < 0 || peer >= c->size)
        comm_fatal("%s: peer %d outside a communicator of %d ranks", what, peer, c->size);
}

/* The names of a request's operation (CommRequest.op) and of waiting for it, for the trace. */
enum { OP_ALLREDUCE, OP_SEND, OP_RECV };
static const char *const OP_NAME[] = {"all-reduce sum", "send", "recv"};
static const char *const OP_WAIT[] = {"wait all-reduce", "wait send", "wait recv"};

static int in_flight; /* requests started through MPI and not yet completed */

static void request_start(CommRequest *r, const Comm *c, int op, int64_t n)
{
    r->kind = c->kind;
    r->op = op;
    r->bytes = 4 * n;
    r->t0 = trace_on ? now() : 0.0;
    r->waited = 0.0;
}

/* A request just completed: its slice from start to now on the trace. */
static void request_done(const CommRequest *r)
{
    in_flight--;
    if (trace_on && r->t0 > 0.0) /* started while recording */
        trace_async(TRACK_COMM + r->kind, OP_NAME[r->op], r->t0, now(), r->bytes, r->waited);
}

void comm_iallreduce_sum(const Comm *c, float *buf, int64_t n, CommRequest *r)
{
    r->req = MPI_REQUEST_NULL;
    request_start(r, c, OP_ALLREDUCE, n);
    if (c->size == 1)
        return;
    MPI_Iallreduce(MPI_IN_PLACE, buf, nb_count("iallreduce", n), MPI_FLOAT, MPI_SUM, c->comm,
                   &r->req);
    in_flight++;
}

void comm_isend(const Comm *c, const float *buf, int64_t n, int dest, int tag, CommRequest *r)
{
    check_peer(c, "isend", dest);
    request_start(r, c, OP_SEND, n);
    MPI_Isend(buf, nb_count("isend", n), MPI_FLOAT, dest, tag, c->comm, &r->req);
    in_flight++;
}

void comm_irecv(const Comm *c, float *buf, int64_t n, int src, int tag, CommRequest *r)
{
    check_peer(c, "irecv", src);
    request_start(r, c, OP_RECV, n);
    MPI_Irecv(buf, nb_count("irecv", n), MPI_FLOAT, src, tag, c->comm, &r->req);
    in_flight++;
}

/* A null request (size-1 no-op, or already completed) needs no MPI: MPI_Wait and MPI_Test
 * would also accept it, but not before MPI_Init. */
void comm_wait(CommRequest *r)
{
    if (r->req == MPI_REQUEST_NULL)
        return;
    double t0 = now();
    MPI_Wait(&r->req, MPI_STATUS_IGNORE);
    double t1 = now();
    waited[r->kind] += t1 - t0;
    r->waited += t1 - t0;
    if (trace_on)
        trace_span(TRACK_COMM + r->kind, OP_WAIT[r->op], t0, t1, -1);
    request_done(r);
}

int comm_test(CommRequest *r)
{
    if (r->req == MPI_REQUEST_NULL)
        return 1;
    int done = 0;
    MPI_Test(&r->req, &done, MPI_STATUS_IGNORE);
    if (done)
        request_done(r);
    return done;
}

void comm_waitall(CommRequest *r, int n)
{
    for (int i = 0; i < n; i++)
        comm_wait(&r[i]);
}

/* The maximum of the codes alone would lose the message: find the lowest failing rank with
 * MINLOC over (failed ? rank : size), then that rank broadcasts its whole Error. */
int comm_agree(const Comm *c, Error *err)
{
    if (c->size == 1)
        return err->code;
    struct { int value, rank; } mine = { err->code != PT_OK ? c->rank : c->size, c->rank }, low;
    MPI_Allreduce(&mine, &low, 1, MPI_2INT, MPI_MINLOC, c->comm);
    if (low.value == c->size)
        return PT_OK;
    err->msg[sizeof err->msg - 1] = '\0';
    MPI_Bcast(err, (int)sizeof *err, MPI_BYTE, low.rank, c->comm);
    return err->code;
}

void comm_gather_f64(const Comm *c, const double *mine, int n, double *all)
{
    if (c->size == 1) {
        memcpy(all, mine, (size_t)n * sizeof(double));
        return;
    }
    MPI_Gather(mine, n, MPI_DOUBLE, all, n, MPI_DOUBLE, 0, c->comm);
}

static void (*progress_hook)(void *ctx);
static void *progress_ctx;

void comm_set_progress(void (*hook)(void *ctx), void *ctx)
{
    progress_hook = hook;
    progress_ctx = ctx;
}

/* Without a hook, requests in flight (a pipeline send whose receiver posted its receive after
 * the send started: Open MPI's rendezvous needs the sender inside MPI to move the data) are
 * moved by one probe, which runs Open MPI's progress engine for every request. */
void comm_progress(void)
{
    if (progress_hook) {
        progress_hook(progress_ctx);
    } else if (in_flight > 0) {
        int flag;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    }
}
