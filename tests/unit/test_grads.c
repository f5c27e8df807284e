/* test_grads: the gradient buckets and the ZeRO-1 shard range (lib/grads.c), on the parameter
 * tables of every kind of pipeline stage (first, middle, last, the whole model; tied and
 * untied). What a bucket must be, read from the code's promise, checked independently here:
 * a contiguous range of the flat buffer made of whole tensors; every tensor in exactly one
 * bucket; at most the cap unless it is a single tensor; ready after the earliest backward part
 * among its tensors (so no reduction starts before all its gradients are final); buckets in
 * the order backward finishes them. The equality of training results across bucket sizes
 * (bitwise for dp = 2) is checked end to end in tests/e2e/test_parallel.sh. */
#include <check.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "grads.h"
#include "mesh.h"
#include "params.h"

static ModelDims dims(int tied)
{
    ModelDims d = {
        .num_hidden_layers = 5, .hidden_size = 64, .num_attention_heads = 8,
        .num_key_value_heads = 4, .intermediate_size = 128, .vocab_size = 300,
        .max_position_embeddings = 64, .rope_theta = 10000.0, .rms_norm_eps = 1e-5,
        .tie_word_embeddings = tied,
    };
    return d;
}

/* The stage shards of a 5-layer model cut into 3 stages, and the whole model. */
static ParamShard stage(int s)
{
    ParamShard sh[4] = {
        {0, 1, 0, 2, 1, 0}, /* first: embedding + layers 0-1 */
        {0, 1, 2, 4, 0, 0}, /* middle */
        {0, 1, 4, 5, 0, 1}, /* last: layer 4 + norm + head */
        {0, 1, 0, 5, 1, 1}, /* one stage */
    };
    return sh[s];
}

static void check_buckets(const ParamTable *pt, const Grads *gr, double cap_mb)
{
    size_t cap = (size_t)(cap_mb * 1024 * 1024 / sizeof(float));
    int *owner = malloc((size_t)pt->n * sizeof(int));
    for (int i = 0; i < pt->n; i++)
        owner[i] = -1;
    for (int b = 0; b < gr->nbuckets; b++) {
        const GradBucket *k = &gr->bucket[b];
        ck_assert(k->lo < k->hi);
        size_t covered = 0;
        int ntensors = 0, earliest = 1 << 30;
        for (int i = 0; i < pt->n; i++) {
            const ParamInfo *p = &pt->t[i];
            size_t lo = p->offset, hi = p->offset + p->numel;
            if (hi <= k->lo || lo >= k->hi)
                continue;
            /* whole tensors only, each in one bucket */
            ck_assert_msg(lo >= k->lo && hi <= k->hi, "%s cut by bucket %d", p->name, b);
            ck_assert_msg(owner[i] < 0, "%s in buckets %d and %d", p->name, owner[i], b);
            owner[i] = b;
            covered += p->numel;
            ntensors++;
            int part = grads_tensor_part(pt, p);
            earliest = part < earliest ? part : earliest;
        }
        ck_assert_msg(covered == k->hi - k->lo, "bucket %d has gaps", b); /* contiguous */
        ck_assert_int_eq(k->ready_part, earliest);
        if (ntensors > 1)
            ck_assert_msg(k->hi - k->lo <= cap, "bucket %d: %zu floats over the cap %zu", b,
                          k->hi - k->lo, cap);
        if (b > 0)
            ck_assert_int_le(k->ready_part, gr->bucket[b - 1].ready_part);
    }
    for (int i = 0; i < pt->n; i++)
        ck_assert_msg(owner[i] >= 0, "%s in no bucket", pt->t[i].name);
    free(owner);
}

START_TEST(buckets_are_whole_contiguous_tensors_ready_when_all_are_final)
{
    double caps[] = {0.0, 0.01, 0.05, 4.0, 1000.0};
    for (int tied = 0; tied <= 1; tied++)
        for (int s = 0; s < 4; s++)
            for (int c = 0; c < 5; c++) {
                ModelDims d = dims(tied);
                ParamShard sh = stage(s);
                ParamTable pt;
                params_build(&pt, &d, &sh);
                Mesh m;
                Error e = {0};
                MeshShape shape = {1, 1, 1, 1, d.num_hidden_layers, tied};
                ck_assert_int_eq(mesh_init(&m, MPI_COMM_NULL, &shape, &e), PT_OK);
                float *g = calloc(pt.numel, sizeof(float));
                Grads gr;
                grads_init(&gr, &pt, &m, backend_cpu(), g, pt.numel, 0, caps[c]);
                check_buckets(&pt, &gr, caps[c]);
                if (caps[c] == 0.0) /* one bucket per tensor */
                    ck_assert_int_eq(gr.nbuckets, pt.n);
                /* under a large cap the stage is one bucket; the last stage of a tied model
                 * holds the embedding's copy at the start of its buffer but finishes it with
                 * the head, so it is split: head norm | embedding | the blocks */
                if (caps[c] == 1000.0)
                    ck_assert_int_eq(gr.nbuckets, tied && s == 2 ? 3 : 1);
                grads_free(&gr);
                free(g);
                mesh_free(&m);
                params_free(&pt);
            }
}
END_TEST

START_TEST(zero1_shards_tile_the_padded_buffer)
{
    size_t sizes[] = {1, 7, 1000, 1001, 123457};
    for (int k = 0; k < 5; k++)
        for (int dp = 1; dp <= 8; dp++) {
            size_t numel = sizes[k], next = 0, lo, hi;
            size_t padded = (numel + (size_t)dp - 1) / (size_t)dp * (size_t)dp;
            for (int r = 0; r < dp; r++) {
                grads_shard_range(numel, dp, r, 1, &lo, &hi);
                ck_assert_uint_eq(lo, next);             /* in rank order, no gap */
                ck_assert_uint_eq(hi - lo, padded / (size_t)dp); /* equal */
                next = hi;
            }
            ck_assert_uint_eq(next, padded);
            grads_shard_range(numel, dp, dp - 1, 0, &lo, &hi); /* no ZeRO: everything */
            ck_assert(lo == 0 && hi == numel);
        }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("grads");
    TCase *tc = tcase_create("buckets");
    tcase_add_test(tc, buckets_are_whole_contiguous_tensors_ready_when_all_are_final);
    tcase_add_test(tc, zero1_shards_tile_the_padded_buffer);
    suite_add_tcase(s, tc);
    return check_run(s);
}
