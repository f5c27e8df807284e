/* attention: causal grouped-query attention in the online-softmax form (docs/math.md). The block
 * steps work on a tile of query rows against a block of keys given their global positions,
 * which is what ring attention needs; the full-sequence kernels walk query tiles × key blocks.
 * Score and probability tiles go through gemm (one tile grid whatever the thread count), called
 * inside the OpenMP loops, so results do not depend on the thread count.
 *
 * GQA batched: the full-sequence kernels stack the query tiles of the H/K query heads that
 * share a kv-head (the "group") into one tile of group·tile_q rows, head after head, so that
 * the group's score, P·V and gradient products are one GEMM each instead of one per head
 * (taller GEMMs: closer to the sgemm rate). Row i of such a stack sits at position
 * qpos0 + i mod period, period = the tile's token count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/vec.h"
#include "kernels/kernels.h"

/* Query rows and keys per block step: ATTENTION_Q_TILE x ATTENTION_K_BLOCK unless
 * attention_set_tiles chose others (the tuned sizes of lib/attntune). The tile grid decides
 * the order of the sums, so other sizes give other (equally valid) bits. */
static int tile_q = ATTENTION_Q_TILE, block_k = ATTENTION_K_BLOCK;

void attention_set_tiles(int q_tile, int k_block)
{
    tile_q = q_tile > 0 ? q_tile : ATTENTION_Q_TILE;
    block_k = k_block > 0 ? k_block : ATTENTION_K_BLOCK;
}

void attention_tiles(int *q_tile, int *k_block)
{
    *q_tile = tile_q;
    *k_block = block_k;
}

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

/* The block step over rows whose positions repeat every `period` rows (see above). */
static void block_forward(float *m, float *l, float *acc, const float *q, int qs, int rows,
                          int period, int qpos0, const float *k, const float *v, int ks, int Tk,
                          int kpos0, int D, float scale)
{
    int nk = visible_keys(qpos0 + period - 1, kpos0, Tk); /* keys the last token sees: the most */
    if (nk == 0)
        return;
    float *S = tile_scratch((size_t)rows * nk); /* (rows, nk) scores, then P */
    /* S = scale · Q·Kᵀ */
    gemm(0, 1, rows, nk, D, scale, q, qs, k, ks, 0.0f, S, nk);
    const VecOps *vo = vec();
    for (int r = 0; r < rows; r++) {
        float *s = S + (int64_t)r * nk, *ar = acc + (int64_t)r * D;
        int vis = visible_keys(qpos0 + r % period, kpos0, Tk);
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
    gemm(0, 0, rows, D, nk, 1.0f, S, nk, v, ks, 1.0f, acc, D);
}

void attention_block_forward(float *m, float *l, float *acc, const float *q, int qs, int Tq,
                             int qpos0, const float *k, const float *v, int ks, int Tk,
                             int kpos0, int D, float scale)
{
    block_forward(m, l, acc, q, qs, Tq, Tq, qpos0, k, v, ks, Tk, kpos0, D, scale);
}

static void block_backward(float *dq, int dqs, float *dk, float *dv, int dks, const float *q,
                           int qs, const float *dout, const float *delta, const float *lse,
                           int rows, int period, int qpos0, const float *k, const float *v,
                           int ks, int Tk, int kpos0, int D, float scale)
{
    int nk = visible_keys(qpos0 + period - 1, kpos0, Tk);
    if (nk == 0)
        return;
    float *P = tile_scratch(2 * (size_t)rows * nk); /* (rows, nk) */
    float *dS = P + (size_t)rows * nk;              /* (rows, nk) dP, then dS */
    gemm(0, 1, rows, nk, D, scale, q, qs, k, ks, 0.0f, P, nk);
    /* dP = dO·Vᵀ */
    gemm(0, 1, rows, nk, D, 1.0f, dout, qs, v, ks, 0.0f, dS, nk);
    const VecOps *vo = vec();
    for (int r = 0; r < rows; r++) {
        float *p = P + (int64_t)r * nk, *ds = dS + (int64_t)r * nk;
        int vis = visible_keys(qpos0 + r % period, kpos0, Tk);
        /* P = exp(S − LSE);  dS = P ⊙ (dP − Δ) · scale (the scale of S = scale·Q·Kᵀ) */
        vo->softmax_grad(p, ds, vis, lse[r], delta[r], scale);
        for (int j = vis; j < nk; j++)
            p[j] = ds[j] = 0.0f;
    }
    /* dQ += dS·K;  dK += dSᵀ·Q;  dV += Pᵀ·dO */
    gemm(0, 0, rows, D, nk, 1.0f, dS, nk, k, ks, 1.0f, dq, dqs);
    gemm(1, 0, nk, D, rows, 1.0f, dS, nk, q, qs, 1.0f, dk, dks);
    gemm(1, 0, nk, D, rows, 1.0f, P, nk, dout, qs, 1.0f, dv, dks);
}

void attention_block_backward(float *dq, int dqs, float *dk, float *dv, int dks,
                              const float *q, int qs, const float *dout, const float *delta,
                              const float *lse, int Tq, int qpos0, const float *k,
                              const float *v, int ks, int Tk, int kpos0, int D, float scale)
{
    block_backward(dq, dqs, dk, dv, dks, q, qs, dout, delta, lse, Tq, Tq, qpos0, k, v, ks, Tk,
                   kpos0, D, scale);
}

/* Stack rows: dst row (hh·qn + r) = src row of token r, head hh (tokens `tok` floats apart,
 * heads D apart), for G heads and qn tokens. */
static void stack_rows(float *dst, const float *src, int64_t tok, int G, int qn, int D)
{
    for (int hh = 0; hh < G; hh++)
        for (int r = 0; r < qn; r++)
            memcpy(dst + ((int64_t)hh * qn + r) * D, src + r * tok + (int64_t)hh * D,
                   (size_t)D * sizeof(float));
}

void attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                       int B, int T, int H, int K, int D)
{
    float scale = 1.0f / sqrtf((float)D);
    int G = H / K, tiles = (T + tile_q - 1) / tile_q;
    size_t stack = (size_t)G * tile_q;
    /* one work item: a query tile of one kv-head's group of one sequence */
    #pragma omp parallel
    {
        float *m = xmalloc(stack * sizeof(float)), *l = xmalloc(stack * sizeof(float));
        float *qs = xmalloc(stack * D * sizeof(float)), *acc = xmalloc(stack * D * sizeof(float));
        #pragma omp for schedule(static)
        for (int item = 0; item < B * K * tiles; item++) {
            int b = item / (K * tiles), g = item / tiles % K, i0 = item % tiles * tile_q;
            int qn = T - i0 < tile_q ? T - i0 : tile_q, rows = G * qn;
            const float *kg = k + ((int64_t)b * T * K + g) * D;
            const float *vg = v + ((int64_t)b * T * K + g) * D;
            stack_rows(qs, q + (((int64_t)b * T + i0) * H + (int64_t)g * G) * D, (int64_t)H * D,
                       G, qn, D);
            for (int r = 0; r < rows; r++) {
                m[r] = -INFINITY;
                l[r] = 0.0f;
            }
            memset(acc, 0, (size_t)rows * D * sizeof(float));
            for (int j0 = 0; j0 < i0 + qn; j0 += block_k) {
                int kn = T - j0 < block_k ? T - j0 : block_k;
                block_forward(m, l, acc, qs, D, rows, qn, i0, kg + (int64_t)j0 * K * D,
                              vg + (int64_t)j0 * K * D, K * D, kn, j0, D, scale);
            }
            /* O = A / l;  LSE = m + log l */
            for (int hh = 0; hh < G; hh++) {
                int h = g * G + hh;
                for (int r = 0; r < qn; r++) {
                    int64_t at = (int64_t)hh * qn + r;
                    float *o = out + (((int64_t)b * T + i0 + r) * H + h) * D;
                    for (int d = 0; d < D; d++)
                        o[d] = acc[at * D + d] / l[at];
                    lse[((int64_t)b * H + h) * T + i0 + r] = m[at] + logf(l[at]);
                }
            }
        }
        free(m);
        free(l);
        free(qs);
        free(acc);
    }
}

void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                        const float *k, const float *v, const float *out, const float *lse,
                        int B, int T, int H, int K, int D)
{
    float scale = 1.0f / sqrtf((float)D);
    int G = H / K;
    size_t stack = (size_t)G * tile_q;
    /* One thread owns a (batch, kv-head) pair: its dK/dV sum over the group's stacked query
     * rows in a fixed order, with no sharing between threads. */
    #pragma omp parallel
    {
        float *delta = xmalloc(stack * sizeof(float)), *ls = xmalloc(stack * sizeof(float));
        float *qs = xmalloc(stack * D * sizeof(float)), *dos = xmalloc(stack * D * sizeof(float));
        float *dqs = xmalloc(stack * D * sizeof(float));
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
            for (int i0 = 0; i0 < T; i0 += tile_q) {
                int qn = T - i0 < tile_q ? T - i0 : tile_q, rows = G * qn;
                int64_t off = (((int64_t)b * T + i0) * H + (int64_t)g * G) * D;
                stack_rows(qs, q + off, (int64_t)H * D, G, qn, D);
                stack_rows(dos, dout + off, (int64_t)H * D, G, qn, D);
                /* Δ_i = Σ_d dO_id · O_id */
                for (int hh = 0; hh < G; hh++)
                    for (int r = 0; r < qn; r++) {
                        int64_t at = (int64_t)hh * qn + r;
                        const float *ot = out + off + (int64_t)r * H * D + (int64_t)hh * D;
                        const float *dot = dos + at * D;
                        float s = 0.0f;
                        for (int d = 0; d < D; d++)
                            s += dot[d] * ot[d];
                        delta[at] = s;
                        ls[at] = lse[((int64_t)b * H + g * G + hh) * T + i0 + r];
                    }
                memset(dqs, 0, (size_t)rows * D * sizeof(float));
                for (int j0 = 0; j0 < i0 + qn; j0 += block_k) {
                    int kn = T - j0 < block_k ? T - j0 : block_k;
                    block_backward(dqs, D, dkg + (int64_t)j0 * K * D, dvg + (int64_t)j0 * K * D,
                                   K * D, qs, D, dos, delta, ls, rows, qn, i0,
                                   kg + (int64_t)j0 * K * D, vg + (int64_t)j0 * K * D, K * D, kn,
                                   j0, D, scale);
                }
                for (int hh = 0; hh < G; hh++) /* dQ of the stack, back in place */
                    for (int r = 0; r < qn; r++)
                        memcpy(dq + off + (int64_t)r * H * D + (int64_t)hh * D,
                               dqs + ((int64_t)hh * qn + r) * D, (size_t)D * sizeof(float));
            }
        }
        free(delta);
        free(ls);
        free(qs);
        free(dos);
        free(dqs);
    }
}
