/* grads: bucketed gradient reductions overlapped with backward, the tied-embedding sum,
 * ZeRO-1 reduce-scatter / all-gather, and the norm bookkeeping. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "grads.h"
#include "optim.h"

#define PROGRESS_TESTS 8 /* MPI_Test calls per progress visit */

size_t grads_padded_numel(size_t numel, int dp)
{
    return (numel + (size_t)dp - 1) / (size_t)dp * (size_t)dp;
}

void grads_shard_range(size_t numel, int dp, int dp_rank, int zero_stage, size_t *lo, size_t *hi)
{
    if (zero_stage != 1 || dp <= 1) {
        *lo = 0;
        *hi = numel;
        return;
    }
    size_t S = grads_padded_numel(numel, dp) / (size_t)dp;
    *lo = (size_t)dp_rank * S;
    *hi = *lo + S;
}

int grads_tensor_part(const ParamTable *pt, const ParamInfo *p)
{
    if (p->layer >= 0)
        return p->layer - pt->shard.layer_begin;
    /* the embedding is final after the embedding backward on the first stage (its tied head
     * use comes earlier); on the last stage alone it is the head */
    if (!strcmp(p->name, "model.embed_tokens.weight") && pt->shard.has_embed)
        return -1;
    return pt->shard.layer_end - pt->shard.layer_begin;
}

/* Global-norm bookkeeping: each logical element is counted once over the mesh. Tensors
 * replicated over tp (RMSNorm weights) count on tp rank 0, the tied embedding's copy on the
 * last stage does not count, and copies over dp (without ZeRO) and cp count on rank 0 of
 * those groups (under ZeRO-1 every dp rank counts its own shard). */
static void mark_counted(Grads *gr)
{
    const Mesh *me = gr->mesh;
    for (int i = 0; i < gr->pt->n; i++) {
        const ParamInfo *p = &gr->pt->t[i];
        int c = me->cp_rank == 0 && (gr->zero || me->dp_rank == 0);
        if (p->split == SPLIT_NONE && me->tp_rank != 0)
            c = 0;
        if (!strcmp(p->name, "model.embed_tokens.weight") && !gr->pt->shard.has_embed)
            c = 0;
        gr->counted[i] = (unsigned char)c;
    }
}

/* Tensors in the order backward finishes them: by part, last part first; within a part from
 * the end of the buffer down, so that neighbours in this order are neighbours in memory. */
static int later_first(const void *a, const void *b, void *table)
{
    const ParamTable *pt = table;
    const ParamInfo *p = &pt->t[*(const int *)a], *q = &pt->t[*(const int *)b];
    int pa = grads_tensor_part(pt, p), pb = grads_tensor_part(pt, q);
    if (pa != pb)
        return pa > pb ? -1 : 1;
    return p->offset > q->offset ? -1 : (p->offset < q->offset);
}

/* Greedy buckets along that order: a tensor joins the open bucket when it ends where the
 * bucket starts (contiguous) and the bucket stays within the cap; the bucket is ready after
 * the part of its last tensor, the earliest part in it. */
static void build_buckets(Grads *gr, double bucket_mb)
{
    const ParamTable *pt = gr->pt;
    int *order = xcalloc((size_t)pt->n, sizeof(int));
    for (int i = 0; i < pt->n; i++)
        order[i] = i;
    qsort_r(order, (size_t)pt->n, sizeof(int), later_first, (void *)pt);
    size_t cap = bucket_mb > 0.0 ? (size_t)(bucket_mb * 1024.0 * 1024.0 / sizeof(float)) : 0;
    gr->bucket = xcalloc((size_t)pt->n, sizeof *gr->bucket);
    gr->nbuckets = 0;
    GradBucket *open = NULL;
    for (int k = 0; k < pt->n; k++) {
        const ParamInfo *p = &pt->t[order[k]];
        size_t lo = p->offset, hi = p->offset + p->numel;
        int joins = open && hi == open->lo && open->hi - lo <= cap;
        if (!joins) {
            open = &gr->bucket[gr->nbuckets++];
            open->hi = hi;
        }
        open->lo = lo;
        open->ready_part = grads_tensor_part(pt, p);
    }
    free(order);
}

static void progress_hook(void *ctx)
{
    grads_progress(ctx);
}

void grads_init(Grads *gr, const ParamTable *pt, const Mesh *mesh, const Backend *be,
                float *grads, size_t padded, int zero_stage, double bucket_mb)
{
    memset(gr, 0, sizeof *gr);
    gr->pt = pt;
    gr->mesh = mesh;
    gr->be = be;
    gr->g = grads;
    gr->padded = padded;
    gr->zero = zero_stage == 1;
    grads_shard_range(pt->numel, mesh->dp, mesh->dp_rank, zero_stage, &gr->lo, &gr->hi);
    if (gr->zero) {
        gr->shard_tmp = be->alloc((gr->hi - gr->lo) * sizeof(float));
        gr->reduce = &mesh->cp_comm; /* dp goes by reduce-scatter in grads_finish */
    } else {
        gr->reduce = &mesh->dpcp_comm;
    }
    gr->embed = params_find(pt, "model.embed_tokens.weight");
    gr->counted = xcalloc((size_t)pt->n, 1);
    mark_counted(gr);
    build_buckets(gr, bucket_mb);
    comm_set_progress(progress_hook, gr);
}

void grads_free(Grads *gr)
{
    comm_set_progress(NULL, NULL);
    if (gr->shard_tmp)
        gr->be->release(gr->shard_tmp);
    free(gr->counted);
    free(gr->bucket);
    memset(gr, 0, sizeof *gr);
}

void grads_zero(Grads *gr)
{
    gr->be->zero(gr->g, gr->padded * sizeof(float));
}

void grads_begin_reducing(Grads *gr)
{
    gr->reducing = 1;
}

void grads_end_reducing(Grads *gr)
{
    gr->reducing = 0;
}

void grads_progress(Grads *gr)
{
    if (!gr->reducing)
        return;
    /* A large non-blocking all-reduce moves one round per MPI call: several tests per
     * visit let it keep pace with backward (dp wait 6-10% -> 1.5-5% of a bench-10m step).
     * Every MPI_Test runs Open MPI's whole progress engine, which advances all the buckets in
     * flight, so the visit spends its tests on the oldest bucket still in flight (the next
     * one grads_finish waits for) rather than that many tests on each: with a dozen buckets
     * in flight at the end of backward that was a dozen times the progress calls for the
     * same progress (docs/benchmarks.md, "The CPU step against the sgemm ceiling"). */
    int tests = PROGRESS_TESTS;
    for (int i = 0; i < gr->nbuckets && tests > 0; i++)
        while (gr->bucket[i].in_flight && tests-- > 0)
            if (comm_test(&gr->bucket[i].req))
                gr->bucket[i].in_flight = 0;
}

void grads_part_ready(Grads *gr, int part)
{
    if (!gr->reducing || gr->reduce->size == 1)
        return;
    for (int i = 0; i < gr->nbuckets; i++) {
        GradBucket *b = &gr->bucket[i];
        if (b->ready_part == part && !b->started) {
            comm_iallreduce_sum(gr->reduce, gr->g + b->lo, (int64_t)(b->hi - b->lo), &b->req);
            b->in_flight = b->started = 1;
        }
    }
    grads_progress(gr);
}

void grads_finish(Grads *gr)
{
    const Mesh *me = gr->mesh;
    for (int i = 0; i < gr->nbuckets; i++) {
        GradBucket *b = &gr->bucket[i];
        if (b->in_flight)
            comm_wait(&b->req);
        else if (!b->started) /* a part backward never announced: reduce it now, blocking */
            comm_allreduce_sum(gr->reduce, gr->g + b->lo, (int64_t)(b->hi - b->lo));
        b->in_flight = b->started = 0;
    }
    if (gr->embed >= 0 && me->embed_comm.size > 1)
        comm_allreduce_sum(&me->embed_comm, gr->g + gr->pt->t[gr->embed].offset,
                           (int64_t)gr->pt->t[gr->embed].numel);
    if (gr->zero && me->dp > 1) {
        size_t S = gr->hi - gr->lo;
        comm_reduce_scatter(&me->dp_comm, gr->g, gr->shard_tmp, (int64_t)S);
        gr->be->copy(gr->g + gr->lo, gr->shard_tmp, S * sizeof(float));
    }
}

double grads_sumsq(const Grads *gr)
{
    return optim_sumsq(gr->be, gr->pt, gr->g, gr->lo, gr->hi, gr->counted);
}

void grads_gather_params(const Grads *gr, float *params)
{
    if (gr->zero && gr->mesh->dp > 1)
        comm_allgather_inplace(&gr->mesh->dp_comm, params, (int64_t)(gr->hi - gr->lo));
}
