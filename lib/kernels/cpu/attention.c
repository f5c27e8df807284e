/* attention: causal grouped-query attention in the online-softmax form (MATH.md). The block
 * steps work on any query/key ranges given their global positions, which is what ring
 * attention needs; the full-sequence kernels are one block each. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "kernels/kernels.h"

#define KEY_TILE 128 /* scores of this many keys are held at once per query row */

/* The simd reduction's order is fixed at compile time, so results stay thread-count independent. */
static float dot(const float *a, const float *b, int D)
{
    float s = 0.0f;
    #pragma omp simd reduction(+:s)
    for (int d = 0; d < D; d++)
        s += a[d] * b[d];
    return s;
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
    float s[KEY_TILE];
    for (int r = 0; r < Tq; r++) {
        const float *qi = q + (int64_t)r * qs;
        float *ai = acc + (int64_t)r * D;
        int nk = visible_keys(qpos0 + r, kpos0, Tk);
        for (int j0 = 0; j0 < nk; j0 += KEY_TILE) {
            int jn = nk - j0 < KEY_TILE ? nk - j0 : KEY_TILE;
            float bm = -INFINITY;
            for (int j = 0; j < jn; j++) {
                s[j] = dot(qi, k + (int64_t)(j0 + j) * ks, D) * scale;
                bm = s[j] > bm ? s[j] : bm;
            }
            /* m' = max(m, max s);  l' = l·e^(m−m') + Σ e^(s−m');  A' = A·e^(m−m') + Σ e^(s−m')·v */
            float mnew = m[r] > bm ? m[r] : bm;
            float alpha = expf(m[r] - mnew);
            float lsum = l[r] * alpha;
            for (int d = 0; d < D; d++)
                ai[d] *= alpha;
            for (int j = 0; j < jn; j++) {
                float p = expf(s[j] - mnew);
                const float *vj = v + (int64_t)(j0 + j) * ks;
                lsum += p;
                for (int d = 0; d < D; d++)
                    ai[d] += p * vj[d];
            }
            l[r] = lsum;
            m[r] = mnew;
        }
    }
}

void attention_block_backward(float *dq, int dqs, float *dk, float *dv, int dks,
                              const float *q, int qs, const float *dout, const float *delta,
                              const float *lse, int Tq, int qpos0, const float *k,
                              const float *v, int ks, int Tk, int kpos0, int D, float scale)
{
    for (int r = 0; r < Tq; r++) {
        const float *qi = q + (int64_t)r * qs, *doi = dout + (int64_t)r * qs;
        float *dqi = dq + (int64_t)r * dqs;
        int nk = visible_keys(qpos0 + r, kpos0, Tk);
        for (int j = 0; j < nk; j++) {
            const float *kj = k + (int64_t)j * ks, *vj = v + (int64_t)j * ks;
            float *dkj = dk + (int64_t)j * dks, *dvj = dv + (int64_t)j * dks;
            /* P = exp(S − LSE);  dP = dO·Vᵀ;  dS = P ⊙ (dP − Δ) */
            float p = expf(dot(qi, kj, D) * scale - lse[r]);
            float ds = p * (dot(doi, vj, D) - delta[r]) * scale;
            for (int d = 0; d < D; d++) {
                dqi[d] += ds * kj[d];
                dkj[d] += ds * qi[d];
                dvj[d] += p * doi[d];
            }
        }
    }
}

void attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                       int B, int T, int H, int K, int D)
{
    float scale = 1.0f / sqrtf((float)D);
    int group = H / K;
    #pragma omp parallel
    {
        float *m = xmalloc((size_t)T * sizeof(float));
        float *l = xmalloc((size_t)T * sizeof(float));
        float *acc = xmalloc((size_t)T * D * sizeof(float));
        #pragma omp for schedule(static)
        for (int bh = 0; bh < B * H; bh++) {
            int b = bh / H, h = bh % H, g = h / group;
            for (int t = 0; t < T; t++) {
                m[t] = -INFINITY;
                l[t] = 0.0f;
            }
            memset(acc, 0, (size_t)T * D * sizeof(float));
            const float *qh = q + ((int64_t)b * T * H + h) * D;
            const float *kg = k + ((int64_t)b * T * K + g) * D;
            const float *vg = v + ((int64_t)b * T * K + g) * D;
            attention_block_forward(m, l, acc, qh, H * D, T, 0, kg, vg, K * D, T, 0, D, scale);
            /* O = A / l;  LSE = m + log l */
            for (int t = 0; t < T; t++) {
                float *o = out + (((int64_t)b * T + t) * H + h) * D;
                for (int d = 0; d < D; d++)
                    o[d] = acc[(int64_t)t * D + d] / l[t];
                lse[((int64_t)b * H + h) * T + t] = m[t] + logf(l[t]);
            }
        }
        free(m);
        free(l);
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
            for (int t = 0; t < T; t++) {
                memset(dkg + (int64_t)t * K * D, 0, (size_t)D * sizeof(float));
                memset(dvg + (int64_t)t * K * D, 0, (size_t)D * sizeof(float));
            }
            for (int h = g * group; h < (g + 1) * group; h++) {
                int64_t off = ((int64_t)b * T * H + h) * D;
                /* Δ_i = Σ_d dO_id · O_id */
                for (int t = 0; t < T; t++) {
                    delta[t] = dot(dout + off + (int64_t)t * H * D, out + off + (int64_t)t * H * D, D);
                    memset(dq + off + (int64_t)t * H * D, 0, (size_t)D * sizeof(float));
                }
                attention_block_backward(dq + off, H * D, dkg, dvg, K * D, q + off, H * D,
                                         dout + off, delta, lse + ((int64_t)b * H + h) * T, T, 0,
                                         k + ((int64_t)b * T * K + g) * D,
                                         v + ((int64_t)b * T * K + g) * D, K * D, T, 0, D, scale);
            }
        }
        free(delta);
    }
}
