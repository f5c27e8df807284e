/* mesh: the process grid dp × pp × cp × tp over an MPI communicator and its sub-communicators.
 * Rank layout as picotron: rank = ((dp_r·PP + pp_r)·CP + cp_r)·TP + tp_r (tp fastest, so a tp
 * group sits inside one node). Layers are split into contiguous per-stage ranges. */
#ifndef PICOTRON_MESH_H
#define PICOTRON_MESH_H

#include <mpi.h>

#include "comm.h"
#include "error.h"

/* The grid and what of the model it must know: its layers (split over the stages) and whether
 * the first and last stage share a tied embedding. Whether the model fits the grid (heads %
 * tp, layers ≥ pp, seq % 2·cp, …) is the config's to check (config_validate), before any mesh
 * is made. */
typedef struct {
    int dp, pp, cp, tp;
    int num_layers;
    int tied_embeddings;
} MeshShape;

typedef struct {
    int dp, pp, cp, tp;              /* sizes */
    int dp_rank, pp_rank, cp_rank, tp_rank;
    int rank, world;
    Comm all;                        /* every rank of the mesh */
    Comm tp_comm, cp_comm, pp_comm, dp_comm;
    Comm dpcp_comm;                  /* dp × cp together: gradient reduction group */
    Comm embed_comm;                 /* first and last pp stage of the same (dp, cp, tp): tied
                                        embedding gradients; size 1 when pp == 1 or untied */
    int layer_begin, layer_end;      /* this stage's blocks */
} Mesh;

/* Split `world` into the mesh of shape sh (MPI_COMM_NULL, or no MPI_Init: one process, every
 * group of size 1, no MPI call). Its size must equal dp·pp·cp·tp, else PT_EINPUT naming both
 * numbers, on every rank alike. Collective over world. */
int mesh_init(Mesh *m, MPI_Comm world, const MeshShape *sh, Error *err);
void mesh_free(Mesh *m);

/* The coordinates of `rank` in a dp × pp × cp × tp grid: rank = ((dp_r·pp + pp_r)·cp +
 * cp_r)·tp + tp_r; out = {dp_r, pp_r, cp_r, tp_r} (dp_r, the slowest, is what is left). */
void mesh_coords(int rank, int pp, int cp, int tp, int out[4]);

/* Layers [begin, end) of stage s when L layers are split over pp stages: contiguous, the
 * first L % pp stages get one more. */
void mesh_stage_layers(int L, int pp, int s, int *begin, int *end);

/* Context parallelism's load-balanced causal split: the sequence is cut into 2·cp chunks and
 * cp rank r holds chunks r and 2·cp − 1 − r (an early and a late one, so every rank does the
 * same attention work under the causal mask). Its local tokens are chunk[0]'s, then
 * chunk[1]'s. */
void mesh_cp_chunks(int cp, int cp_rank, int chunk[2]);

/* Human-readable one-line description, e.g. "dp=2 pp=1 cp=1 tp=2 (4 ranks)". */
void mesh_describe(const Mesh *m, char *buf, int len);

#endif
