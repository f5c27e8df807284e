/* ring_attention: the ring over the cp group around the kernels' block steps. */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"
#include "mesh.h"
#include "ring_attention.h"

#define TAG_RING 7001
#define Q_TILE 64    /* query rows per block step */
#define K_BLOCK 256  /* keys per block step */

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

void ring_attention_forward(float *out, float *lse, const float *q, const float *k,
                            const float *v, int B, int T, int H, int K, int D, const Comm *cp,
                            float *scratch)
{
    int64_t kd = (int64_t)B * T * K * D;
    float *buf[2] = {scratch, scratch + 4 * kd};
    float *m = scratch + 8 * kd, *l = m + (int64_t)B * H * T, *acc = l + 2 * (int64_t)B * H * T;
    int64_t rows = (int64_t)B * H * T;
    for (int64_t i = 0; i < rows; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
    }
    memset(acc, 0, (size_t)rows * D * sizeof(float));
    memcpy(buf[0], k, (size_t)kd * sizeof(float));
    memcpy(buf[0] + kd, v, (size_t)kd * sizeof(float));
    float scale = 1.0f / sqrtf((float)D);
    int group = H / K, r = cp->rank, Tc = T / 2, mine[2];
    mesh_cp_chunks(cp->size, r, mine);
    for (int step = 0; step < cp->size; step++) {
        float *cur = buf[step % 2], *nxt = buf[(step + 1) % 2];
        int src = (r - step + cp->size) % cp->size;
        CommRequest req[2];
        int passing = step < cp->size - 1;
        if (passing) /* overlap: the next block arrives while this one is computed */
            ring_pass(cp, cur, nxt, 2 * kd, req);
        int cs[2];
        mesh_cp_chunks(cp->size, src, cs);
        /* every (query chunk, key chunk) pair, in tiles so score buffers stay small; tiles
         * wholly in the causal future cost nothing */
        #pragma omp parallel for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H, g = h / group;
            for (int i = 0; i < 2; i++)
                for (int q0 = 0; q0 < Tc; q0 += Q_TILE) {
                    int qn = Tc - q0 < Q_TILE ? Tc - q0 : Q_TILE, row = i * Tc + q0;
                    int64_t st = (int64_t)bh * T + row;
                    for (int j = 0; j < 2; j++)
                        for (int k0 = 0; k0 < Tc; k0 += K_BLOCK) {
                            int kn = Tc - k0 < K_BLOCK ? Tc - k0 : K_BLOCK, col = j * Tc + k0;
                            attention_block_forward(
                                m + st, l + st, acc + st * D,
                                q + (((int64_t)b * T + row) * H + h) * D, H * D, qn,
                                mine[i] * Tc + q0,
                                cur + (((int64_t)b * T + col) * K + g) * D,
                                cur + kd + (((int64_t)b * T + col) * K + g) * D, K * D, kn,
                                cs[j] * Tc + k0, D, scale);
                        }
                }
        }
        if (passing)
            comm_waitall(req, 2);
    }
    /* O = A / l;  LSE = m + log l */
    #pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        for (int t = 0; t < T; t++) {
            int64_t st = (int64_t)bh * T + t;
            float *o = out + (((int64_t)b * T + t) * H + h) * D;
            for (int d = 0; d < D; d++)
                o[d] = acc[st * D + d] / l[st];
            lse[st] = m[st] + logf(l[st]);
        }
    }
}

void ring_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                             const float *k, const float *v, const float *out, const float *lse,
                             int B, int T, int H, int K, int D, const Comm *cp, float *scratch)
{
    int64_t kd = (int64_t)B * T * K * D;
    float *buf[2] = {scratch, scratch + 4 * kd};
    float *delta = scratch + 8 * kd + 2 * (int64_t)B * H * T; /* (B, H, T) */
    float scale = 1.0f / sqrtf((float)D);
    int group = H / K, r = cp->rank, Tc = T / 2, mine[2];
    mesh_cp_chunks(cp->size, r, mine);
    /* Δ_i = Σ_d dO_id · O_id */
    #pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * H; bh++) {
        int b = bh / H, h = bh % H;
        for (int t = 0; t < T; t++) {
            const float *o = out + (((int64_t)b * T + t) * H + h) * D;
            const float *g = dout + (((int64_t)b * T + t) * H + h) * D;
            float s = 0.0f;
            for (int d = 0; d < D; d++)
                s += o[d] * g[d];
            delta[(int64_t)bh * T + t] = s;
        }
    }
    memset(dq, 0, (size_t)B * T * H * D * sizeof(float));
    memcpy(buf[0], k, (size_t)kd * sizeof(float));
    memcpy(buf[0] + kd, v, (size_t)kd * sizeof(float));
    memset(buf[0] + 2 * kd, 0, (size_t)(2 * kd) * sizeof(float));
    for (int step = 0; step < cp->size; step++) {
        float *cur = buf[step % 2], *nxt = buf[(step + 1) % 2];
        int src = (r - step + cp->size) % cp->size;
        int cs[2];
        mesh_cp_chunks(cp->size, src, cs);
        /* one thread per (batch, kv-head): the group's heads add into its dK/dV in order */
        #pragma omp parallel for schedule(static)
        for (int bg = 0; bg < B * K; bg++) {
            int b = bg / K, g = bg % K;
            for (int h = g * group; h < (g + 1) * group; h++)
                for (int i = 0; i < 2; i++)
                    for (int q0 = 0; q0 < Tc; q0 += Q_TILE) {
                        int qn = Tc - q0 < Q_TILE ? Tc - q0 : Q_TILE, row = i * Tc + q0;
                        int64_t qo = (((int64_t)b * T + row) * H + h) * D;
                        int64_t st = ((int64_t)b * H + h) * T + row;
                        for (int j = 0; j < 2; j++)
                            for (int k0 = 0; k0 < Tc; k0 += K_BLOCK) {
                                int kn = Tc - k0 < K_BLOCK ? Tc - k0 : K_BLOCK, col = j * Tc + k0;
                                int64_t ko = (((int64_t)b * T + col) * K + g) * D;
                                attention_block_backward(
                                    dq + qo, H * D, cur + 2 * kd + ko, cur + 3 * kd + ko, K * D,
                                    q + qo, H * D, dout + qo, delta + st, lse + st, qn,
                                    mine[i] * Tc + q0, cur + ko, cur + kd + ko, K * D, kn,
                                    cs[j] * Tc + k0, D, scale);
                            }
                    }
        }
        /* the block moves on with its partial dK/dV; after cp hops it is home again */
        CommRequest req[2];
        ring_pass(cp, cur, nxt, 4 * kd, req);
        comm_waitall(req, 2);
    }
    float *home = buf[cp->size % 2];
    memcpy(dk, home + 2 * kd, (size_t)kd * sizeof(float));
    memcpy(dv, home + 3 * kd, (size_t)kd * sizeof(float));
}
