/* attention: causal grouped-query attention in the online-softmax form (docs/math.md). The block
 * steps work on a tile of query rows against a block of keys given their global positions,
 * which is what ring attention needs; the full-sequence kernels walk query tiles × key blocks.
 * Score and probability tiles go through gemm (one tile grid whatever the thread count), called
 * inside the OpenMP loop over (batch, head), so results do not depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/vec.h"
#include "kernels/kernels.h"

#define Q_TILE 64    /* query rows per block step */
#define K_BLOCK 256  /* keys per block step */

/* Score tiles of the block steps: one growable buffer per thread, so the innermost loop of
 * attention allocates nothing once the first steps have sized it. */
static float *tile_scratch(size_t n)
{
    static _Thread_local float *buf;
    static _Thread_local size_t cap;
    if (n > cap) {
        free(buf);
        buf = xmalloc(n * sizeof(float));
        cap = n;
    }
    return buf;
}

/* Keys of the block a query at position qpos may see (causal): keys at kpos0 .. qpos. */
static int visible_keys(int qpos, int kpos0, int Tk)
{
    int n = qpos - kpos0 + 1;
    return n < 0 ? 0 : (n > Tk ? Tk : n);
}

void attention_block_forward(float *m, float *l, float *acc, const float *q, int qs, int Tq,
                             int qpos0, const float *k, const float *v, int ks, int Tk,
                             int kpos0, int D, float scale)
{
    int nk = visible_keys(qpos0 + Tq - 1, kpos0, Tk); /* keys the last row sees: the most */
    if (nk == 0)
        return;
    float *S = tile_scratch((size_t)Tq * nk); /* (Tq, nk) scores, then P */
    /* S = scale · Q·Kᵀ */
    gemm(0, 1, Tq, nk, D, scale, q, qs, k, ks, 0.0f, S, nk);
    const VecOps *vo = vec();
    for (int r = 0; r < Tq; r++) {
        float *s = S + (int64_t)r * nk, *ar = acc + (int64_t)r * D;
        int vis = visible_keys(qpos0 + r, kpos0, Tk);
        if (vis == 0) { /* this row sees none of the block: no update */
            memset(s, 0, (size_t)nk * sizeof(float));
            continue;
        }
        float bm = vo->max(s, vis);
        /* m' = max(m, max s);  l' = l·e^(m−m') + Σ e^(s−m');  A' = A·e^(m−m') + Σ e^(s−m')·v */
        float mnew = m[r] > bm ? m[r] : bm;
        float lsum = vo->exp_sum(s, vis, mnew);
        for (int j = vis; j < nk; j++)
            s[j] = 0.0f;
        if (m[r] == -INFINITY) { /* the row's first block: l = 0 and A = 0, nothing to rescale */
            l[r] = lsum;
        } else {
            float alpha;
            vo->exp(&alpha, &(float){m[r] - mnew}, 1);
            l[r] = l[r] * alpha + lsum;
            for (int d = 0; d < D; d++)
                ar[d] *= alpha;
        }
        m[r] = mnew;
    }
    /* A += P·V */
    gemm(0, 0, Tq, D, nk, 1.0f, S, nk, v, ks, 1.0f, acc, D);
}

void attention_block_backward(float *dq, int dqs, float *dk, float *dv, int dks,
                              const float *q, int qs, const float *dout, const float *delta,
                              const float *lse, int Tq, int qpos0, const float *k,
                              const float *v, int ks, int Tk, int kpos0, int D, float scale)
{
    int nk = visible_keys(qpos0 + Tq - 1, kpos0, Tk);
    if (nk == 0)
        return;
    float *P = tile_scratch(2 * (size_t)Tq * nk); /* (Tq, nk) */
    float *dS = P + (size_t)Tq * nk;               /* (Tq, nk) dP, then dS */
    gemm(0, 1, Tq, nk, D, scale, q, qs, k, ks, 0.0f, P, nk);
    /* dP = dO·Vᵀ */
    gemm(0, 1, Tq, nk, D, 1.0f, dout, qs, v, ks, 0.0f, dS, nk);
    const VecOps *vo = vec();
    for (int r = 0; r < Tq; r++) {
        float *p = P + (int64_t)r * nk, *ds = dS + (int64_t)r * nk;
        int vis = visible_keys(qpos0 + r, kpos0, Tk);
        /* P = exp(S − LSE);  dS = P ⊙ (dP − Δ) · scale (the scale of S = scale·Q·Kᵀ) */
        vo->softmax_grad(p, ds, vis, lse[r], delta[r], scale);
        for (int j = vis; j < nk; j++)
            p[j] = ds[j] = 0.0f;
    }
    /* dQ += dS·K;  dK += dSᵀ·Q;  dV += Pᵀ·dO */
    gemm(0, 0, Tq, D, nk, 1.0f, dS, nk, k, ks, 1.0f, dq, dqs);
    gemm(1, 0, nk, D, Tq, 1.0f, dS, nk, q, qs, 1.0f, dk, dks);
    gemm(1, 0, nk, D, Tq, 1.0f, P, nk, dout, qs, 1.0f, dv, dks);
}

void attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                       int B, int T, int H, int K, int D)
{
    float scale = 1.0f / sqrtf((float)D);
    int group = H / K;
    #pragma omp parallel
    {
        float m[Q_TILE], l[Q_TILE];
        float *acc = xmalloc((size_t)Q_TILE * D * sizeof(float)); /* (Q_TILE, D) */
        #pragma omp for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H, g = h / group;
            const float *qh = q + ((int64_t)b * T * H + h) * D;
            const float *kg = k + ((int64_t)b * T * K + g) * D;
            const float *vg = v + ((int64_t)b * T * K + g) * D;
            for (int i0 = 0; i0 < T; i0 += Q_TILE) {
                int qn = T - i0 < Q_TILE ? T - i0 : Q_TILE;
                for (int r = 0; r < qn; r++) {
                    m[r] = -INFINITY;
                    l[r] = 0.0f;
                }
                memset(acc, 0, (size_t)qn * D * sizeof(float));
                for (int j0 = 0; j0 < i0 + qn; j0 += K_BLOCK) {
                    int kn = T - j0 < K_BLOCK ? T - j0 : K_BLOCK;
                    attention_block_forward(m, l, acc, qh + (int64_t)i0 * H * D, H * D, qn, i0,
                                            kg + (int64_t)j0 * K * D, vg + (int64_t)j0 * K * D,
                                            K * D, kn, j0, D, scale);
                }
                /* O = A / l;  LSE = m + log l */
                for (int r = 0; r < qn; r++) {
                    float *o = out + (((int64_t)b * T + i0 + r) * H + h) * D;
                    for (int d = 0; d < D; d++)
                        o[d] = acc[(int64_t)r * D + d] / l[r];
                    lse[((int64_t)b * H + h) * T + i0 + r] = m[r] + logf(l[r]);
                }
            }
        }
        free(acc);
    }
}

void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                        const float *k, const float *v, const float *out, const float *lse,
                        int B, int T, int H, int K, int D)
{
    float scale = 1.0f / sqrtf((float)D);
    int group = H / K;
    /* One thread owns a (batch, kv-head) pair: its dK/dV sum over the group's query heads in a
     * fixed order, with no sharing between threads. */
    #pragma omp parallel
    {
        float *delta = xmalloc((size_t)T * sizeof(float));
        #pragma omp for schedule(static)
        for (int bg = 0; bg < B * K; bg++) {
            int b = bg / K, g = bg % K;
            float *dkg = dk + ((int64_t)b * T * K + g) * D;
            float *dvg = dv + ((int64_t)b * T * K + g) * D;
            const float *kg = k + ((int64_t)b * T * K + g) * D;
            const float *vg = v + ((int64_t)b * T * K + g) * D;
            for (int t = 0; t < T; t++) {
                memset(dkg + (int64_t)t * K * D, 0, (size_t)D * sizeof(float));
                memset(dvg + (int64_t)t * K * D, 0, (size_t)D * sizeof(float));
            }
            for (int h = g * group; h < (g + 1) * group; h++) {
                int64_t off = ((int64_t)b * T * H + h) * D;
                const float *lh = lse + ((int64_t)b * H + h) * T;
                /* Δ_i = Σ_d dO_id · O_id */
                for (int t = 0; t < T; t++) {
                    const float *dot = dout + off + (int64_t)t * H * D, *ot = out + off + (int64_t)t * H * D;
                    float s = 0.0f;
                    for (int d = 0; d < D; d++)
                        s += dot[d] * ot[d];
                    delta[t] = s;
                    memset(dq + off + (int64_t)t * H * D, 0, (size_t)D * sizeof(float));
                }
                for (int i0 = 0; i0 < T; i0 += Q_TILE) {
                    int qn = T - i0 < Q_TILE ? T - i0 : Q_TILE;
                    int64_t qoff = off + (int64_t)i0 * H * D;
                    for (int j0 = 0; j0 < i0 + qn; j0 += K_BLOCK) {
                        int kn = T - j0 < K_BLOCK ? T - j0 : K_BLOCK;
                        attention_block_backward(dq + qoff, H * D, dkg + (int64_t)j0 * K * D,
                                                 dvg + (int64_t)j0 * K * D, K * D, q + qoff, H * D,
                                                 dout + qoff, delta + i0, lh + i0, qn, i0,
                                                 kg + (int64_t)j0 * K * D, vg + (int64_t)j0 * K * D,
                                                 K * D, kn, j0, D, scale);
                    }
                }
            }
        }
        free(delta);
    }
}
