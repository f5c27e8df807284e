/* batch: which samples and which of their tokens this rank trains on. */
#include <stdlib.h>
#include <string.h>

#include "batch.h"

void batch_init(Batch *b, int B, int T, int m, const Mesh *me)
{
    memset(b, 0, sizeof *b);
    b->B = B, b->T = T, b->m = m;
    b->T_loc = T / me->cp;
    b->dp = me->dp, b->dp_rank = me->dp_rank, b->cp = me->cp, b->cp_rank = me->cp_rank;
    int64_t n = (int64_t)m * B * b->T_loc;
    b->ids = xcalloc((size_t)n, sizeof(int32_t));
    b->targets = xcalloc((size_t)n, sizeof(int32_t));
    b->sample = xcalloc((size_t)T + 1, sizeof(int32_t));
}

void batch_free(Batch *b)
{
    free(b->ids);
    free(b->targets);
    free(b->sample);
    memset(b, 0, sizeof *b);
}

/* This rank's tokens of the sample just read: the whole sequence, or its two cp chunks. */
static void slice_sample(const Batch *b, int32_t *ids, int32_t *targets)
{
    if (b->cp == 1) {
        memcpy(ids, b->sample, (size_t)b->T_loc * sizeof(int32_t));
        memcpy(targets, b->sample + 1, (size_t)b->T_loc * sizeof(int32_t));
        return;
    }
    int chunk[2], Tc = b->T_loc / 2;
    mesh_cp_chunks(b->cp, b->cp_rank, chunk);
    for (int i = 0; i < 2; i++) {
        memcpy(ids + i * Tc, b->sample + chunk[i] * Tc, (size_t)Tc * sizeof(int32_t));
        memcpy(targets + i * Tc, b->sample + chunk[i] * Tc + 1, (size_t)Tc * sizeof(int32_t));
    }
}

/* Sample g of ds into row `row` of the micro-batches. */
static int load_row(Batch *b, Dataset *ds, int64_t g, int64_t row, Error *err)
{
    if (data_sample(ds, g, b->sample, err))
        return err->code;
    slice_sample(b, b->ids + row * b->T_loc, b->targets + row * b->T_loc);
    return PT_OK;
}

int batch_load_step(Batch *b, Dataset *ds, int64_t first, Error *err)
{
    for (int a = 0; a < b->m; a++)
        for (int i = 0; i < b->B; i++) {
            int64_t g = first + ((int64_t)a * b->dp + b->dp_rank) * b->B + i;
            if (load_row(b, ds, g, (int64_t)a * b->B + i, err))
                return err->code;
        }
    return PT_OK;
}

int batch_load_one(Batch *b, Dataset *ds, int64_t first, Error *err)
{
    for (int i = 0; i < b->B; i++)
        if (load_row(b, ds, first + i, i, err))
            return err->code;
    return PT_OK;
}
