/* attention_ring: the compute of one ring-attention step (context parallelism) on this
 * rank's queries — fold a visiting K/V block into the online-softmax state, and its backward —
 * as loops over (batch, head) of the block steps in attention.c. The local sequence is two
 * chunks of T/2 tokens at global chunk indices q_chunks[0..1]; the visiting block's two
 * chunks sit at k_chunks[0..1]. */
#include <math.h>
#include <string.h>

#include "kernels/kernels.h"

#define Q_TILE 64    /* query rows per block step */
#define K_BLOCK 256  /* keys per block step */

void ring_forward_init(float *m, float *l, float *acc, int64_t rows, int D)
{
    for (int64_t i = 0; i < rows; i++) {
        m[i] = -INFINITY;
        l[i] = 0.0f;
    }
    memset(acc, 0, (size_t)rows * D * sizeof(float));
}

void ring_forward_step(float *m, float *l, float *acc, const float *q, const float *k,
                       const float *v, int B, int T, int H, int K, int D, const int q_chunks[2],
                       const int k_chunks[2])
{
    float scale = 1.0f / sqrtf((float)D);
    int group = H / K, Tc = T / 2;
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
                            q_chunks[i] * Tc + q0, k + (((int64_t)b * T + col) * K + g) * D,
                            v + (((int64_t)b * T + col) * K + g) * D, K * D, kn,
                            k_chunks[j] * Tc + k0, D, scale);
                    }
            }
    }
}

void ring_forward_finish(float *out, float *lse, const float *m, const float *l,
                         const float *acc, int B, int T, int H, int D)
{
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

void ring_backward_delta(float *delta, const float *out, const float *dout, int B, int T, int H,
                         int D)
{
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
}

void ring_backward_step(float *dq, float *dk, float *dv, const float *q, const float *dout,
                        const float *delta, const float *lse, const float *k, const float *v,
                        int B, int T, int H, int K, int D, const int q_chunks[2],
                        const int k_chunks[2])
{
    float scale = 1.0f / sqrtf((float)D);
    int group = H / K, Tc = T / 2;
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
                                dq + qo, H * D, dk + ko, dv + ko, K * D, q + qo, H * D,
                                dout + qo, delta + st, lse + st, qn, q_chunks[i] * Tc + q0,
                                k + ko, v + ko, K * D, kn, k_chunks[j] * Tc + k0, D, scale);
                        }
                }
    }
}
