/* ring_attention: the ring over the cp group around the backend's ring steps. */
#include "mesh.h"
#include "ring_attention.h"

#define TAG_RING 7001

size_t ring_attention_scratch_floats(int B, int T, int H, int K, int D)
{
    size_t blk = 4 * (size_t)B * T * K * D;          /* k | v | dk | dv */
    size_t state = (size_t)B * H * T * (3 + (size_t)D); /* m, l, delta, acc */
    return 2 * blk + state;
}

/* Send cur to the next rank, receive the previous rank's block into nxt. */
static void ring_pass(const Comm *cp, float *cur, float *nxt, int64_t n, CommRequest r[2])
{
    int next = (cp->rank + 1) % cp->size, prev = (cp->rank + cp->size - 1) % cp->size;
    comm_irecv(cp, nxt, n, prev, TAG_RING, &r[0]);
    comm_isend(cp, cur, n, next, TAG_RING, &r[1]);
}

void ring_attention_forward(const Backend *be, float *out, float *lse, const float *q,
                            const float *k, const float *v, int B, int T, int H, int K, int D,
                            const Comm *cp, float *scratch)
{
    int64_t kd = (int64_t)B * T * K * D, rows = (int64_t)B * H * T;
    float *buf[2] = {scratch, scratch + 4 * kd};
    float *m = scratch + 8 * kd, *l = m + rows, *acc = l + 2 * rows;
    be->ring_forward_init(m, l, acc, rows, D);
    be->copy(buf[0], k, (size_t)kd * sizeof(float));
    be->copy(buf[0] + kd, v, (size_t)kd * sizeof(float));
    int mine[2];
    mesh_cp_chunks(cp->size, cp->rank, mine);
    for (int step = 0; step < cp->size; step++) {
        float *cur = buf[step % 2], *nxt = buf[(step + 1) % 2];
        int src = (cp->rank - step + cp->size) % cp->size, theirs[2];
        CommRequest req[2];
        int passing = step < cp->size - 1;
        if (passing) /* overlap: the next block arrives while this one is computed */
            ring_pass(cp, cur, nxt, 2 * kd, req);
        mesh_cp_chunks(cp->size, src, theirs);
        be->ring_forward_step(m, l, acc, q, cur, cur + kd, B, T, H, K, D, mine, theirs);
        if (passing)
            comm_waitall(req, 2);
    }
    be->ring_forward_finish(out, lse, m, l, acc, B, T, H, D);
}

void ring_attention_backward(const Backend *be, float *dq, float *dk, float *dv,
                             const float *dout, const float *q, const float *k, const float *v,
                             const float *out, const float *lse, int B, int T, int H, int K,
                             int D, const Comm *cp, float *scratch)
{
    int64_t kd = (int64_t)B * T * K * D;
    float *buf[2] = {scratch, scratch + 4 * kd};
    float *delta = scratch + 8 * kd + 2 * (int64_t)B * H * T; /* (B, H, T) */
    int mine[2];
    mesh_cp_chunks(cp->size, cp->rank, mine);
    be->ring_backward_delta(delta, out, dout, B, T, H, D);
    be->zero(dq, (size_t)B * T * H * D * sizeof(float));
    be->copy(buf[0], k, (size_t)kd * sizeof(float));
    be->copy(buf[0] + kd, v, (size_t)kd * sizeof(float));
    be->zero(buf[0] + 2 * kd, (size_t)(2 * kd) * sizeof(float));
    for (int step = 0; step < cp->size; step++) {
        float *cur = buf[step % 2], *nxt = buf[(step + 1) % 2];
        int src = (cp->rank - step + cp->size) % cp->size, theirs[2];
        mesh_cp_chunks(cp->size, src, theirs);
        be->ring_backward_step(dq, cur + 2 * kd, cur + 3 * kd, q, dout, delta, lse, cur,
                               cur + kd, B, T, H, K, D, mine, theirs);
        /* the block moves on with its partial dK/dV; after cp hops it is home again */
        CommRequest req[2];
        ring_pass(cp, cur, nxt, 4 * kd, req);
        comm_waitall(req, 2);
    }
    float *home = buf[cp->size % 2];
    be->copy(dk, home + 2 * kd, (size_t)kd * sizeof(float));
    be->copy(dv, home + 3 * kd, (size_t)kd * sizeof(float));
}
