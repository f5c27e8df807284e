/* mesh: the dp × pp × cp × tp grid over an MPI communicator, its sub-communicators and this
 * stage's layer range. All rank arithmetic of the parallel layout lives here. */
#include <stdio.h>

#include "mesh.h"

void mesh_coords(int rank, int pp, int cp, int tp, int out[4])
{
    out[3] = rank % tp;
    out[2] = rank / tp % cp;
    out[1] = rank / (tp * cp) % pp;
    out[0] = rank / (tp * cp * pp);
}

void mesh_stage_layers(int L, int pp, int s, int *begin, int *end)
{
    int base = L / pp, extra = L % pp;
    *begin = s * base + (s < extra ? s : extra);
    *end = *begin + base + (s < extra);
}

/* A pure function of the shape and the world size, so every rank reaches the same verdict
 * without communicating: a bad mesh returns everywhere, it never hangs. */
static int mesh_check(const MeshShape *sh, int world, Error *err)
{
    const struct { const char *key; int v; } sizes[] = {
        { "dp_size", sh->dp }, { "pp_size", sh->pp }, { "cp_size", sh->cp }, { "tp_size", sh->tp },
    };
    for (int i = 0; i < 4; i++)
        if (sizes[i].v < 1)
            return err_set(err, PT_EINPUT, "distributed.%s: must be >= 1, got %d", sizes[i].key,
                           sizes[i].v);
    long long prod = (long long)sh->dp * sh->pp * sh->cp * sh->tp;
    if (prod != world)
        return err_set(err, PT_EINPUT,
                       "distributed: world size %d does not match "
                       "dp_size·pp_size·cp_size·tp_size = %d·%d·%d·%d = %lld",
                       world, sh->dp, sh->pp, sh->cp, sh->tp, prod);
    return PT_OK;
}

/* One group of `group_size` ranks per color, ordered by key. Every rank of world calls it
 * (MPI_Comm_split is collective); groups of one rank need no communicator at all, and since
 * group_size is the same on every rank, either all ranks split or none does. */
static Comm split(MPI_Comm world, int group_size, int color, int key)
{
    if (group_size == 1)
        return comm_self();
    MPI_Comm c;
    MPI_Comm_split(world, color, key, &c);
    return comm_from_mpi(c);   /* MPI_COMM_NULL (color MPI_UNDEFINED) gives comm_self() */
}

int mesh_init(Mesh *m, MPI_Comm world, const MeshShape *sh, Error *err)
{
    *m = (Mesh){ .dp = 1, .pp = 1, .cp = 1, .tp = 1, .world = 1 };
    m->all = m->tp_comm = m->cp_comm = m->pp_comm = m->dp_comm = comm_self();
    m->dpcp_comm = m->embed_comm = comm_self();

    /* Without MPI_Init, or given MPI_COMM_NULL, there is one process and it needs no
     * communicator. */
    int init = 0, fini = 0;
    MPI_Initialized(&init);
    MPI_Finalized(&fini);
    int mpi = init && !fini && world != MPI_COMM_NULL;
    int rank = 0, W = 1;
    if (mpi) {
        MPI_Comm_rank(world, &rank);
        MPI_Comm_size(world, &W);
    }
    if (mesh_check(sh, W, err))
        return err->code;

    int DP = sh->dp, PP = sh->pp, CP = sh->cp, TP = sh->tp;
    m->dp = DP, m->pp = PP, m->cp = CP, m->tp = TP;
    m->rank = rank, m->world = W;
    int c[4];
    mesh_coords(rank, PP, CP, TP, c);
    int dp_r = c[0], pp_r = c[1], cp_r = c[2], tp_r = c[3];
    m->dp_rank = dp_r, m->pp_rank = pp_r, m->cp_rank = cp_r, m->tp_rank = tp_r;

    if (mpi) {
        MPI_Comm dup;
        MPI_Comm_dup(world, &dup);
        m->all = comm_from_mpi(dup);
    }
    /* Each group is named by the coordinates it does not span; its ranks are ordered by the
     * coordinates it does, so the rank inside the group is the coordinate. */
    m->tp_comm = split(world, TP, (dp_r * PP + pp_r) * CP + cp_r, tp_r);
    m->cp_comm = split(world, CP, (dp_r * PP + pp_r) * TP + tp_r, cp_r);
    m->pp_comm = split(world, PP, (dp_r * CP + cp_r) * TP + tp_r, pp_r);
    m->dp_comm = split(world, DP, (pp_r * CP + cp_r) * TP + tp_r, dp_r);
    m->dpcp_comm = split(world, DP * CP, pp_r * TP + tp_r, dp_r * CP + cp_r);
    /* Tied embeddings under pp: the first and the last stage hold the same matrix and sum its
     * gradient; the middle stages stay out of the group. */
    if (PP > 1 && sh->tied_embeddings) {
        int in = pp_r == 0 || pp_r == PP - 1;
        m->embed_comm = split(world, 2, in ? (dp_r * CP + cp_r) * TP + tp_r : MPI_UNDEFINED,
                              pp_r);
    }
    m->tp_comm.kind = COMM_TP;
    m->cp_comm.kind = COMM_CP;
    m->pp_comm.kind = m->embed_comm.kind = COMM_PP;
    m->dp_comm.kind = m->dpcp_comm.kind = COMM_DP;
    mesh_stage_layers(sh->num_layers, PP, pp_r, &m->layer_begin, &m->layer_end);
    return PT_OK;
}

void mesh_free(Mesh *m)
{
    Comm *all[] = { &m->all, &m->tp_comm, &m->cp_comm, &m->pp_comm, &m->dp_comm, &m->dpcp_comm,
                    &m->embed_comm };
    for (int i = 0; i < 7; i++)
        comm_free(all[i]);
}

void mesh_describe(const Mesh *m, char *buf, int len)
{
    snprintf(buf, (size_t)len, "dp=%d pp=%d cp=%d tp=%d (%d rank%s)", m->dp, m->pp, m->cp, m->tp,
             m->world, m->world == 1 ? "" : "s");
}

void mesh_cp_chunks(int cp, int cp_rank, int chunk[2])
{
    chunk[0] = cp_rank;
    chunk[1] = 2 * cp - 1 - cp_rank;
}
