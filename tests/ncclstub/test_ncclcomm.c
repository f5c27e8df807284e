/* test_ncclcomm: lib/ncclcomm's host code over the NCCL stand-in (tests/ncclstub) and the
 * cudart stand-in (tests/cudastub) on 4 MPI ranks (make check-nccl). Every call's result on
 * device buffers is compared with plain arithmetic: the values are small integers, so every
 * sum is exact in fp32 in any order and results compare with ==. Groups as the mesh makes
 * them: the world, pairs split from it, a group of one rank (no NCCL at all), and every group
 * of four meshes (dp2·tp2, pp2·cp2, dp2·pp2, tp4) against sums over the layout formula. The CP ring
 * and the pipeline hand-off go through ncclcomm_sendrecv (grouped); the same ring with bare
 * ncclSend first on every rank must be caught by the stand-in as a deadlock on every rank
 * (collectives still work afterwards; its point-to-point state is gone, as after an NCCL
 * error). A plain MPI program, like tests/mpi. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "comm.h"
#include "mpi_check.h"
#include "ncclcomm.h"

enum { N = 37 };

static float val(int rank, int i) { return (float)((rank + 1) * (i % 7 + 1)); }

static float *dev_alloc(int64_t n)
{
    float *d;
    if (cudaMalloc((void **)&d, (size_t)n * sizeof *d) != cudaSuccess) {
        fprintf(stderr, "test_ncclcomm: cudaMalloc failed\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return d;
}

static void put(float *d, const float *h, int64_t n)
{
    cudaMemcpyAsync(d, h, (size_t)n * sizeof *h, cudaMemcpyHostToDevice, 0);
}

static void get(float *h, const float *d, int64_t n)
{
    cudaMemcpyAsync(h, d, (size_t)n * sizeof *h, cudaMemcpyDeviceToHost, 0);
}

static void allreduce_over(NcclComm *g, const Comm *c, const char *name)
{
    float h[N], want, *d = dev_alloc(N);
    for (int i = 0; i < N; i++) h[i] = val(c->rank, i);
    put(d, h, N);
    Error err = {0};
    CHECK(ncclcomm_allreduce_sum(g, d, N, &err) == PT_OK && ncclcomm_sync(g, &err) == PT_OK,
          "%s: %s", name, err.msg);
    get(h, d, N);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        want = 0;
        for (int r = 0; r < c->size; r++) want += val(r, i);
        bad += h[i] != want;
    }
    CHECK(bad == 0, "%s all-reduce: %d of %d wrong", name, bad, N);
    cudaFree(d);
}

static void zero1_and_bcast(NcclComm *g, const Comm *c)
{
    int P = c->size;
    float *send = dev_alloc((int64_t)P * N), *recv = dev_alloc(N), *buf = dev_alloc((int64_t)P * N);
    float h[4 * N];
    for (int i = 0; i < P * N; i++) h[i] = val(c->rank, i);
    put(send, h, (int64_t)P * N);
    Error err = {0};
    CHECK(ncclcomm_reduce_scatter(g, send, recv, N, &err) == PT_OK, "%s", err.msg);
    get(h, recv, N);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        float want = 0;
        for (int r = 0; r < P; r++) want += val(r, c->rank * N + i);
        bad += h[i] != want;
    }
    CHECK(bad == 0, "reduce-scatter over %d: %d of %d wrong", P, bad, N);

    /* all-gather in place: block r holds rank r's values afterwards */
    for (int i = 0; i < P * N; i++) h[i] = -1;
    for (int i = 0; i < N; i++) h[c->rank * N + i] = val(c->rank, i);
    put(buf, h, (int64_t)P * N);
    CHECK(ncclcomm_allgather_inplace(g, buf, N, &err) == PT_OK, "%s", err.msg);
    get(h, buf, (int64_t)P * N);
    bad = 0;
    for (int r = 0; r < P; r++)
        for (int i = 0; i < N; i++) bad += h[r * N + i] != val(r, i);
    CHECK(bad == 0, "all-gather over %d: %d of %d wrong", P, bad, P * N);

    int root = P - 1;
    for (int i = 0; i < N; i++) h[i] = val(c->rank, i);
    put(buf, h, N);
    CHECK(ncclcomm_bcast(g, buf, N, root, &err) == PT_OK, "%s", err.msg);
    get(h, buf, N);
    bad = 0;
    for (int i = 0; i < N; i++) bad += h[i] != val(root, i);
    CHECK(bad == 0, "broadcast from %d over %d: %d of %d wrong", root, P, bad, N);
    cudaFree(send), cudaFree(recv), cudaFree(buf);
}

/* CP ring step (every rank sends right, receives from the left) and the pipeline hand-off
 * (no send on the last stage, no receive on the first). */
static void ring_and_pipeline(NcclComm *g, const Comm *c)
{
    int P = c->size, right = (c->rank + 1) % P, left = (c->rank + P - 1) % P;
    float h[N], *out = dev_alloc(N), *in = dev_alloc(N);
    for (int i = 0; i < N; i++) h[i] = val(c->rank, i);
    put(out, h, N);
    Error err = {0};
    CHECK(ncclcomm_sendrecv(g, out, N, right, in, N, left, &err) == PT_OK, "ring: %s", err.msg);
    get(h, in, N);
    int bad = 0;
    for (int i = 0; i < N; i++) bad += h[i] != val(left, i);
    CHECK(bad == 0, "ring step: %d of %d not rank %d's", bad, N, left);

    for (int i = 0; i < N; i++) h[i] = -1;
    put(in, h, N);
    CHECK(ncclcomm_sendrecv(g, out, N, c->rank == P - 1 ? -1 : right, in, N,
                            c->rank == 0 ? -1 : left, &err) == PT_OK,
          "pipeline: %s", err.msg);
    get(h, in, N);
    bad = 0;
    for (int i = 0; i < N; i++) bad += h[i] != (c->rank == 0 ? -1.0f : val(left, i));
    CHECK(bad == 0, "pipeline hand-off: %d of %d wrong", bad, N);
    cudaFree(out), cudaFree(in);
}

/* Every rank sends first with no group: NCCL would hang; the stand-in says so everywhere. */
static void ungrouped_ring_deadlocks(NcclComm *g, const Comm *c)
{
    float *out = dev_alloc(N);
    cudaMemsetAsync(out, 0, N * sizeof(float), 0);
    setenv("NCCLSTUB_TIMEOUT_S", "1", 1);
    ncclResult_t r = ncclSend(out, N, ncclFloat, (c->rank + 1) % c->size, g->nc, g->stream);
    unsetenv("NCCLSTUB_TIMEOUT_S");
    CHECK(r == ncclSystemError, "an ungrouped ring was not caught: %s", ncclGetErrorString(r));
    cudaFree(out);
    MPI_Barrier(MPI_COMM_WORLD);
}

/* The sum of world rank + 1 over the ranks of rank's group along the axes in mask (bit 0 dp,
 * 1 pp, 2 cp, 3 tp), from the layout formula alone. */
static float group_sum(const MeshShape *sh, int rank, int mask)
{
    int world = sh->dp * sh->pp * sh->cp * sh->tp, me[4], o[4];
    mesh_coords(rank, sh->pp, sh->cp, sh->tp, me);
    float sum = 0;
    for (int r = 0; r < world; r++) {
        mesh_coords(r, sh->pp, sh->cp, sh->tp, o);
        int same = 1;
        for (int a = 0; a < 4; a++) same &= (mask >> a & 1) || o[a] == me[a];
        if (same) sum += (float)(r + 1);
    }
    return sum;
}

/* Each NCCL group of the mesh all-reduces world rank + 1 over exactly its MPI group's ranks. */
static void mesh_groups(const MeshShape *sh)
{
    Mesh m;
    NcclMesh nm;
    Error err = {0};
    if (mesh_init(&m, MPI_COMM_WORLD, sh, &err) != PT_OK) {
        CHECK(0, "mesh_init: %s", err.msg);
        return;
    }
    char name[64];
    mesh_describe(&m, name, sizeof name);
    CHECK(ncclcomm_open_mesh(&nm, &m, &err) == PT_OK, "%s: %s", name, err.msg);
    struct { NcclComm *g; const Comm *c; int mask; const char *what; } grp[] = {
        {&nm.tp, &m.tp_comm, 8, "tp"}, {&nm.cp, &m.cp_comm, 4, "cp"}, {&nm.pp, &m.pp_comm, 2, "pp"},
        {&nm.dp, &m.dp_comm, 1, "dp"}, {&nm.dpcp, &m.dpcp_comm, 5, "dp×cp"},
        {&nm.embed, &m.embed_comm, 0, "embed"}};
    float *d = dev_alloc(1);
    for (size_t i = 0; i < sizeof grp / sizeof grp[0]; i++) {
        float h = (float)(m.rank + 1);
        put(d, &h, 1);
        CHECK(grp[i].g->size == grp[i].c->size && grp[i].g->rank == grp[i].c->rank,
              "%s %s: NCCL rank %d of %d, MPI %d of %d", name, grp[i].what, grp[i].g->rank,
              grp[i].g->size, grp[i].c->rank, grp[i].c->size);
        CHECK(ncclcomm_allreduce_sum(grp[i].g, d, 1, &err) == PT_OK, "%s", err.msg);
        get(&h, d, 1);
        /* embed: the first and last stage, which are all the stages when pp ≤ 2 */
        float want = grp[i].mask ? group_sum(sh, m.rank, grp[i].mask)
                     : sh->tied_embeddings && sh->pp > 1 ? group_sum(sh, m.rank, 2)
                                                         : (float)(m.rank + 1);
        CHECK(h == want, "%s %s group: sum %g, want %g", name, grp[i].what, h, want);
    }
    cudaFree(d);
    ncclcomm_close_mesh(&nm);
    mesh_free(&m);
}

int main(int argc, char **argv)
{
    comm_init(&argc, &argv);
    Comm world = comm_world();
    world_rank = world.rank;
    if (cudaSetDevice(0) != cudaSuccess) return 1;
    Error err = {0};

    NcclComm gw;
    CHECK(ncclcomm_open(&gw, &world, &err) == PT_OK, "world: %s", err.msg);
    allreduce_over(&gw, &world, "world");
    zero1_and_bcast(&gw, &world);
    ring_and_pipeline(&gw, &world);

    MPI_Comm pm;
    MPI_Comm_split(MPI_COMM_WORLD, world.rank / 2, world.rank, &pm);
    Comm pair = comm_from_mpi(pm);
    NcclComm gp;
    CHECK(ncclcomm_open(&gp, &pair, &err) == PT_OK, "pair: %s", err.msg);
    allreduce_over(&gp, &pair, "pair");
    zero1_and_bcast(&gp, &pair);
    ring_and_pipeline(&gp, &pair);

    Comm self = comm_self();
    NcclComm g1;
    CHECK(ncclcomm_open(&g1, &self, &err) == PT_OK && g1.nc == NULL, "one rank: %s", err.msg);
    allreduce_over(&g1, &self, "one rank");
    zero1_and_bcast(&g1, &self);

    MeshShape shapes[] = {{2, 1, 1, 2, 2, 0}, {1, 2, 2, 1, 2, 1}, {2, 2, 1, 1, 2, 1},
                          {1, 1, 1, 4, 2, 0}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) mesh_groups(&shapes[i]);

    ungrouped_ring_deadlocks(&gw, &world);
    allreduce_over(&gw, &world, "world after the deadlock");

    ncclcomm_close(&g1);
    ncclcomm_close(&gp);
    ncclcomm_close(&gw);
    comm_free(&pair);
    int total = failures;
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (world.rank == 0) printf("test_ncclcomm: %d checks per rank, %d failed on all ranks\n",
                                checks, total);
    comm_finalize();
    return total != 0;
}
