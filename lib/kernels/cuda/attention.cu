/* attention: causal grouped-query attention in the online-softmax form (docs/math.md), for the
 * whole sequence and for the steps of ring attention. Version 1: fp32 CUDA cores, correct and
 * deterministic first; a fused tensor-core flash-attention kernel (own or cuDNN SDPA) can
 * replace the three kernels below behind the same wrappers (docs/cuda-kernels.md).
 *
 * Rows are mapped to global positions by a posmap: a buffer of rows is two chunks of `half`
 * rows at chunk indices c0, c1 (ring attention's load-balanced halves); the whole-sequence
 * kernels use one chunk (half = T, c0 = 0). The causal mask compares global positions.
 *
 *   fwd_kernel   one block per (query tile of FWD_ROWS rows, head, batch); a warp per query
 *                row; key/value tiles of 32 rows in shared memory, a key per lane for the
 *                scores, a head dimension per lane (D ≤ 128: 4 per lane) for the output.
 *   dq_kernel    the same layout for dQ += dS·K (dS recomputed from lse and Δ).
 *   dkdv_kernel  one block per (key tile of 8 rows, kv-head, batch); a warp per key row; query
 *                tiles of 32 rows in shared memory over the group's query heads in order, so
 *                dK, dV of a key row are summed by one warp in a fixed order: no atomics.
 * The kernels are templated on the activation type E (float, or bf16 bits for the _bf16
 * wrappers): q, k, v, out, dout; the backward kernels also on the gradient type (E for the
 * whole sequence; fp32 for the ring steps, whose dq, dk, dv accumulate across steps). Scores,
 * softmax statistics (m, l, lse, Δ) and the accumulators are fp32. */
#include "kernels/cuda/cuda_compat.h"

#define ATT_DMAX 128                 /* head dimension limit */
#define ATT_DPL (ATT_DMAX / 32)      /* head dims per lane */
#define ATT_TILE 32                  /* keys (forward, dq) or queries (dkdv) per shared tile */
#define ATT_WARPS 8
#define FWD_ROWS 16                  /* query rows per forward block: 2 per warp */
#define DQ_ROWS 8                    /* query rows per dq block: 1 per warp */
#define DKV_ROWS 8                   /* key rows per dkdv block: 1 per warp */
#define ATT_PAD (ATT_DMAX + 1)       /* shared row stride: lane-indexed rows hit distinct banks */
/* The three attention kernels are declared __launch_bounds__(256, 2): two blocks per SM (2 × 41
 * KB of shared memory), up to 128 registers. Without the minimum, ptxas chose few registers
 * and spilled in the bf16 dkdv kernel. */

struct posmap {
    int half, c0, c1;
};

__device__ __forceinline__ int gpos(posmap p, int t)
{
    return t < p.half ? p.c0 * p.half + t : p.c1 * p.half + t - p.half;
}

/* Smallest and largest global position of rows [a, b) (each chunk is increasing). */
__device__ __forceinline__ int range_min(posmap p, int a, int b)
{
    int lo = gpos(p, a);
    if (a < p.half && b > p.half && gpos(p, p.half) < lo)
        lo = gpos(p, p.half);
    return lo;
}
__device__ __forceinline__ int range_max(posmap p, int a, int b)
{
    int hi = gpos(p, b - 1);
    if (a < p.half && b > p.half && gpos(p, p.half - 1) > hi)
        hi = gpos(p, p.half - 1);
    return hi;
}

/* Rows [r0, r0 + n) ∩ [0, nrows) of one head of a (B, T, heads, D) tensor into shared rows of
 * stride ATT_PAD, zeros past the end. All threads of the block take part. */
template <class E>
__device__ __forceinline__ void load_rows(float *dst, const E *src, int r0, int n, int nrows,
                                          int64_t row_stride, int D)
{
    for (int e = threadIdx.x; e < n * D; e += blockDim.x) {
        int r = e / D, d = e % D;
        dst[r * ATT_PAD + d] = r0 + r < nrows ? ld(&src[(int64_t)(r0 + r) * row_stride + d]) : 0.0f;
    }
}

__device__ __forceinline__ float dot_shared(const float *a, const float *b, int D)
{
    float s = 0.0f;
    for (int d = 0; d < D; d++)
        s += a[d] * b[d];
    return s;
}

enum { MODE_WHOLE = 0, MODE_RING = 1 };

/* The backward kernels' types: activations A, gradients G (one template argument, so a
 * launch macro can take it). */
template <class A, class G> struct att_types {
    typedef A act;
    typedef G grad;
};

/* Forward. MODE_WHOLE: fresh state, writes out and lse. MODE_RING: folds the block into the
 * state m, l (B,H,T) and acc (B,H,T,D). */
// budget: attention_fwd_kernel regs<=96 smem<=42000
template <class E>
__global__ void __launch_bounds__(256, 2)
attention_fwd_kernel(E *out, float *lse, float *m_io, float *l_io, float *acc_io, const E *q,
                     const E *k, const E *v, int T, int H, int K, int D, posmap qmap,
                     posmap kmap, int nrows, int mode)
{
    __shared__ float Qs[FWD_ROWS * ATT_PAD];
    __shared__ float Ks[ATT_TILE * ATT_PAD];
    __shared__ float Vs[ATT_TILE * ATT_PAD];
    int q0 = blockIdx.x * FWD_ROWS, h = blockIdx.y, b = blockIdx.z, g = h / (H / K);
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    float scale = 1.0f / sqrtf((float)D);
    const E *qh = q + ((int64_t)b * T * H + h) * D;
    const E *kg = k + ((int64_t)b * T * K + g) * D, *vg = v + ((int64_t)b * T * K + g) * D;
    int64_t st0 = ((int64_t)b * H + h) * T; /* state row of buffer row 0 */

    load_rows(Qs, qh, q0, FWD_ROWS, nrows, (int64_t)H * D, D);
    float m[2], l[2], acc[2][ATT_DPL];
    int qpos[2];
    for (int rr = 0; rr < 2; rr++) {
        int qi = q0 + warp * 2 + rr;
        qpos[rr] = qi < nrows ? gpos(qmap, qi) : -1;
        m[rr] = -INFINITY;
        l[rr] = 0.0f;
        for (int c = 0; c < ATT_DPL; c++)
            acc[rr][c] = 0.0f;
        if (mode == MODE_RING && qi < nrows) {
            m[rr] = m_io[st0 + qi];
            l[rr] = l_io[st0 + qi];
            for (int c = 0; c < ATT_DPL; c++)
                if (lane + 32 * c < D)
                    acc[rr][c] = acc_io[(st0 + qi) * D + lane + 32 * c];
        }
    }
    int qlast = q0 + FWD_ROWS < nrows ? q0 + FWD_ROWS : nrows;
    int qmax = range_max(qmap, q0, qlast);

    for (int k0 = 0; k0 < nrows; k0 += ATT_TILE) {
        int klast = k0 + ATT_TILE < nrows ? k0 + ATT_TILE : nrows;
        if (range_min(kmap, k0, klast) > qmax) /* the whole tile is in the causal future */
            continue;
        __syncthreads(); /* the previous tile is no longer read */
        load_rows(Ks, kg, k0, ATT_TILE, nrows, (int64_t)K * D, D);
        load_rows(Vs, vg, k0, ATT_TILE, nrows, (int64_t)K * D, D);
        __syncthreads();
        int kj = k0 + lane;
        int kpos = kj < nrows ? gpos(kmap, kj) : 0x7fffffff;
        for (int rr = 0; rr < 2; rr++) {
            if (qpos[rr] < 0) /* past the last row: the whole warp */
                continue;
            const float *qr = Qs + (warp * 2 + rr) * ATT_PAD;
            float s = kpos <= qpos[rr] ? scale * dot_shared(qr, Ks + lane * ATT_PAD, D) : -INFINITY;
            float bm = warp_max(s);
            if (bm == -INFINITY) /* this row sees none of the tile */
                continue;
            /* m' = max(m, max s);  l' = l·e^(m−m') + Σ e^(s−m');  A' = A·e^(m−m') + Σ e^(s−m')·v */
            float mnew = fmaxf(m[rr], bm), alpha = expf(m[rr] - mnew);
            float p = s == -INFINITY ? 0.0f : expf(s - mnew);
            l[rr] = l[rr] * alpha + warp_sum(p);
            m[rr] = mnew;
            for (int c = 0; c < ATT_DPL; c++)
                acc[rr][c] *= alpha;
            for (int j = 0; j < ATT_TILE; j++) {
                float pj = __shfl_sync(FULL_MASK, p, j);
                for (int c = 0; c < ATT_DPL; c++)
                    if (lane + 32 * c < D)
                        acc[rr][c] += pj * Vs[j * ATT_PAD + lane + 32 * c];
            }
        }
    }

    for (int rr = 0; rr < 2; rr++) {
        int qi = q0 + warp * 2 + rr;
        if (qi >= nrows)
            continue;
        if (mode == MODE_RING) {
            if (lane == 0) {
                m_io[st0 + qi] = m[rr];
                l_io[st0 + qi] = l[rr];
            }
            for (int c = 0; c < ATT_DPL; c++)
                if (lane + 32 * c < D)
                    acc_io[(st0 + qi) * D + lane + 32 * c] = acc[rr][c];
        } else {
            /* O = A / l;  LSE = m + log l */
            E *o = out + (((int64_t)b * T + qi) * H + h) * D;
            for (int c = 0; c < ATT_DPL; c++)
                if (lane + 32 * c < D)
                    st(&o[lane + 32 * c], acc[rr][c] / l[rr]);
            if (lane == 0)
                lse[st0 + qi] = m[rr] + logf(l[rr]);
        }
    }
}

/* dQ (B,T,H,D): MODE_WHOLE overwrites, MODE_RING adds. P = exp(S − LSE),
 * dS = P ⊙ (dO·Vᵀ − Δ)·scale, dQ = dS·K. */
// budget: attention_dq_kernel regs<=64 smem<=42000
template <class P>
__global__ void __launch_bounds__(256, 2)
attention_dq_kernel(typename P::grad *dq, const typename P::act *q,
                    const typename P::act *dout, const float *delta, const float *lse,
                    const typename P::act *k, const typename P::act *v, int T, int H, int K,
                    int D, posmap qmap, posmap kmap, int nrows, int mode)
{
    typedef typename P::act E;
    __shared__ float Qs[DQ_ROWS * ATT_PAD];
    __shared__ float dOs[DQ_ROWS * ATT_PAD];
    __shared__ float Ks[ATT_TILE * ATT_PAD];
    __shared__ float Vs[ATT_TILE * ATT_PAD];
    int q0 = blockIdx.x * DQ_ROWS, h = blockIdx.y, b = blockIdx.z, g = h / (H / K);
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, qi = q0 + warp;
    float scale = 1.0f / sqrtf((float)D);
    int64_t qoff = ((int64_t)b * T * H + h) * D, st0 = ((int64_t)b * H + h) * T;
    const E *kg = k + ((int64_t)b * T * K + g) * D, *vg = v + ((int64_t)b * T * K + g) * D;

    load_rows(Qs, q + qoff, q0, DQ_ROWS, nrows, (int64_t)H * D, D);
    load_rows(dOs, dout + qoff, q0, DQ_ROWS, nrows, (int64_t)H * D, D);
    int qpos = qi < nrows ? gpos(qmap, qi) : -1;
    float lse_i = qi < nrows ? lse[st0 + qi] : 0.0f, delta_i = qi < nrows ? delta[st0 + qi] : 0.0f;
    float acc[ATT_DPL];
    for (int c = 0; c < ATT_DPL; c++)
        acc[c] = 0.0f;
    int qlast = q0 + DQ_ROWS < nrows ? q0 + DQ_ROWS : nrows;
    int qmax = range_max(qmap, q0, qlast);

    for (int k0 = 0; k0 < nrows; k0 += ATT_TILE) {
        int klast = k0 + ATT_TILE < nrows ? k0 + ATT_TILE : nrows;
        if (range_min(kmap, k0, klast) > qmax)
            continue;
        __syncthreads();
        load_rows(Ks, kg, k0, ATT_TILE, nrows, (int64_t)K * D, D);
        load_rows(Vs, vg, k0, ATT_TILE, nrows, (int64_t)K * D, D);
        __syncthreads();
        if (qpos < 0)
            continue;
        int kj = k0 + lane;
        int kpos = kj < nrows ? gpos(kmap, kj) : 0x7fffffff;
        float ds = 0.0f;
        if (kpos <= qpos) {
            const float *qr = Qs + warp * ATT_PAD, *dor = dOs + warp * ATT_PAD;
            float p = expf(scale * dot_shared(qr, Ks + lane * ATT_PAD, D) - lse_i);
            ds = p * (dot_shared(dor, Vs + lane * ATT_PAD, D) - delta_i) * scale;
        }
        for (int j = 0; j < ATT_TILE; j++) {
            float dsj = __shfl_sync(FULL_MASK, ds, j);
            for (int c = 0; c < ATT_DPL; c++)
                if (lane + 32 * c < D)
                    acc[c] += dsj * Ks[j * ATT_PAD + lane + 32 * c];
        }
    }
    if (qpos < 0)
        return;
    typename P::grad *o = dq + qoff + (int64_t)qi * H * D;
    for (int c = 0; c < ATT_DPL; c++)
        if (lane + 32 * c < D)
            st(&o[lane + 32 * c], mode == MODE_RING ? ld(&o[lane + 32 * c]) + acc[c] : acc[c]);
}

/* dK, dV (B,T,K,D) of a key tile: Σ over the group's heads and the query rows, dV = Pᵀ·dO,
 * dK = dSᵀ·Q. MODE_WHOLE overwrites, MODE_RING adds. */
// budget: attention_dkdv_kernel regs<=80 smem<=42000
template <class P>
__global__ void __launch_bounds__(256, 2)
attention_dkdv_kernel(typename P::grad *dk, typename P::grad *dv, const typename P::act *q,
                      const typename P::act *dout, const float *delta, const float *lse,
                      const typename P::act *k, const typename P::act *v, int T, int H, int K,
                      int D, posmap qmap, posmap kmap, int nrows, int mode)
{
    __shared__ float Qs[ATT_TILE * ATT_PAD];
    __shared__ float dOs[ATT_TILE * ATT_PAD];
    __shared__ float Ks[DKV_ROWS * ATT_PAD];
    __shared__ float Vs[DKV_ROWS * ATT_PAD];
    __shared__ float lses[ATT_TILE], deltas[ATT_TILE];
    int k0 = blockIdx.x * DKV_ROWS, g = blockIdx.y, b = blockIdx.z, group = H / K;
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, kj = k0 + warp;
    float scale = 1.0f / sqrtf((float)D);
    int64_t koff = ((int64_t)b * T * K + g) * D;

    load_rows(Ks, k + koff, k0, DKV_ROWS, nrows, (int64_t)K * D, D);
    load_rows(Vs, v + koff, k0, DKV_ROWS, nrows, (int64_t)K * D, D);
    int kpos = kj < nrows ? gpos(kmap, kj) : 0x7fffffff;
    int klast = k0 + DKV_ROWS < nrows ? k0 + DKV_ROWS : nrows;
    int kmin = range_min(kmap, k0, klast);
    float dka[ATT_DPL], dva[ATT_DPL];
    for (int c = 0; c < ATT_DPL; c++)
        dka[c] = dva[c] = 0.0f;

    for (int h = g * group; h < (g + 1) * group; h++) {
        int64_t qoff = ((int64_t)b * T * H + h) * D, st0 = ((int64_t)b * H + h) * T;
        for (int q0 = 0; q0 < nrows; q0 += ATT_TILE) {
            int qlast = q0 + ATT_TILE < nrows ? q0 + ATT_TILE : nrows;
            if (range_max(qmap, q0, qlast) < kmin) /* every query precedes every key */
                continue;
            __syncthreads();
            load_rows(Qs, q + qoff, q0, ATT_TILE, nrows, (int64_t)H * D, D);
            load_rows(dOs, dout + qoff, q0, ATT_TILE, nrows, (int64_t)H * D, D);
            if (threadIdx.x < ATT_TILE) {
                int qi = q0 + threadIdx.x;
                lses[threadIdx.x] = qi < nrows ? lse[st0 + qi] : 0.0f;
                deltas[threadIdx.x] = qi < nrows ? delta[st0 + qi] : 0.0f;
            }
            __syncthreads();
            if (kj >= nrows)
                continue;
            int qi = q0 + lane;
            float p = 0.0f, ds = 0.0f;
            if (qi < nrows && kpos <= gpos(qmap, qi)) {
                p = expf(scale * dot_shared(Qs + lane * ATT_PAD, Ks + warp * ATT_PAD, D) -
                         lses[lane]);
                ds = p * (dot_shared(dOs + lane * ATT_PAD, Vs + warp * ATT_PAD, D) - deltas[lane]) *
                     scale;
            }
            for (int i = 0; i < ATT_TILE; i++) {
                float pi = __shfl_sync(FULL_MASK, p, i), dsi = __shfl_sync(FULL_MASK, ds, i);
                for (int c = 0; c < ATT_DPL; c++)
                    if (lane + 32 * c < D) {
                        dva[c] += pi * dOs[i * ATT_PAD + lane + 32 * c];
                        dka[c] += dsi * Qs[i * ATT_PAD + lane + 32 * c];
                    }
            }
        }
    }
    if (kj >= nrows)
        return;
    typename P::grad *dkr = dk + koff + (int64_t)kj * K * D, *dvr = dv + koff + (int64_t)kj * K * D;
    for (int c = 0; c < ATT_DPL; c++)
        if (lane + 32 * c < D) {
            int d = lane + 32 * c;
            st(&dkr[d], mode == MODE_RING ? ld(&dkr[d]) + dka[c] : dka[c]);
            st(&dvr[d], mode == MODE_RING ? ld(&dvr[d]) + dva[c] : dva[c]);
        }
}

/* Δ (B,H,T) = Σ_d dO·O: a warp per row. */
// budget: attention_delta_kernel regs<=32 smem<=0
template <class E>
__global__ void attention_delta_kernel(float *delta, const E *out, const E *dout, int B, int T,
                                       int H, int D)
{
    int lane = threadIdx.x % 32;
    int64_t rows = (int64_t)B * T * H;
    for (int64_t r = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; r < rows;
         r += (int64_t)gridDim.x * blockDim.x / 32) {
        const E *o = out + r * D, *g = dout + r * D; /* row r = (b, t, h) */
        float s = 0.0f;
        for (int d = lane; d < D; d += 32)
            s += ld(&o[d]) * ld(&g[d]);
        s = warp_sum(s);
        int64_t h = r % H, t = r / H % T, b = r / ((int64_t)H * T);
        if (lane == 0)
            delta[(b * H + h) * T + t] = s;
    }
}

// budget: ring_init_kernel regs<=32 smem<=0
__global__ void ring_init_kernel(float *m, float *l, float *acc, int64_t rows, int D)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < rows * D;
         i += (int64_t)gridDim.x * blockDim.x) {
        if (i < rows) {
            m[i] = -INFINITY;
            l[i] = 0.0f;
        }
        acc[i] = 0.0f;
    }
}

/* out = acc / l, lse = m + log l: a thread per output element. */
// budget: ring_finish_kernel regs<=32 smem<=0
template <class E>
__global__ void ring_finish_kernel(E *out, float *lse, const float *m, const float *l,
                                   const float *acc, int B, int T, int H, int D)
{
    int64_t n = (int64_t)B * T * H * D;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        int64_t d = i % D, h = i / D % H, t = i / ((int64_t)D * H) % T, b = i / ((int64_t)D * H * T);
        int64_t row = (b * H + h) * T + t; /* of the state */
        st(&out[i], acc[row * D + d] / l[row]);
        if (d == 0)
            lse[row] = m[row] + logf(l[row]);
    }
}

static void check_dims(const char *name, int H, int K, int D)
{
    if (D < 1 || D > ATT_DMAX || K < 1 || H % K != 0)
        cuda_kernels_fail(name, "head dimension above 128, or H not a multiple of K");
}

template <class E>
static void forward_whole(E *out, float *lse, const E *q, const E *k, const E *v, int B, int T,
                          int H, int K, int D)
{
    check_dims("cuda_attention_forward", H, K, D);
    if (B < 1 || T < 1)
        return;
    posmap whole = {T, 0, 0};
    CUDA_LAUNCH(attention_fwd_kernel<E>, dim3(cuda_blocks(T, FWD_ROWS), H, B), 256, out, lse,
                (float *)NULL, (float *)NULL, (float *)NULL, q, k, v, T, H, K, D, whole, whole,
                T, (int)MODE_WHOLE);
}

template <class E>
static void delta(float *delta, const E *out, const E *dout, int B, int T, int H, int D)
{
    int64_t rows = (int64_t)B * T * H;
    if (rows > 0)
        CUDA_LAUNCH(attention_delta_kernel<E>, cuda_blocks(rows, 8), 256, delta, out, dout, B, T,
                    H, D);
}

/* dQ, dK, dV from Δ; the two kernels write disjoint outputs. */
template <class P>
static void backward(typename P::grad *dq, typename P::grad *dk, typename P::grad *dv,
                     const typename P::act *dout, const typename P::act *q,
                     const typename P::act *k, const typename P::act *v, const float *delta,
                     const float *lse, int B, int T, int H, int K, int D, posmap qmap,
                     posmap kmap, int nrows, int mode)
{
    CUDA_LAUNCH(attention_dq_kernel<P>, dim3(cuda_blocks(nrows, DQ_ROWS), H, B), 256, dq, q, dout,
                delta, lse, k, v, T, H, K, D, qmap, kmap, nrows, mode);
    CUDA_LAUNCH(attention_dkdv_kernel<P>, dim3(cuda_blocks(nrows, DKV_ROWS), K, B), 256, dk, dv,
                q, dout, delta, lse, k, v, T, H, K, D, qmap, kmap, nrows, mode);
}

template <class E>
static void backward_whole(E *dq, E *dk, E *dv, const E *dout, const E *q, const E *k,
                           const E *v, const E *out, const float *lse, int B, int T, int H,
                           int K, int D)
{
    check_dims("cuda_attention_backward", H, K, D);
    if (B < 1 || T < 1)
        return;
    float *d = (float *)cuda_kernels_scratch((size_t)B * H * T * sizeof(float));
    delta(d, out, dout, B, T, H, D);
    posmap whole = {T, 0, 0};
    backward<att_types<E, E> >(dq, dk, dv, dout, q, k, v, d, lse, B, T, H, K, D, whole, whole, T,
                               MODE_WHOLE);
}

void cuda_attention_forward(float *out, float *lse, const float *q, const float *k,
                            const float *v, int B, int T, int H, int K, int D)
{
    forward_whole(out, lse, q, k, v, B, T, H, K, D);
}

void cuda_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                             const float *k, const float *v, const float *out, const float *lse,
                             int B, int T, int H, int K, int D)
{
    backward_whole(dq, dk, dv, dout, q, k, v, out, lse, B, T, H, K, D);
}

void cuda_attention_forward_bf16(uint16_t *out, float *lse, const uint16_t *q, const uint16_t *k,
                                 const uint16_t *v, int B, int T, int H, int K, int D)
{
    forward_whole(out, lse, q, k, v, B, T, H, K, D);
}

void cuda_attention_backward_bf16(uint16_t *dq, uint16_t *dk, uint16_t *dv, const uint16_t *dout,
                                  const uint16_t *q, const uint16_t *k, const uint16_t *v,
                                  const uint16_t *out, const float *lse, int B, int T, int H,
                                  int K, int D)
{
    backward_whole(dq, dk, dv, dout, q, k, v, out, lse, B, T, H, K, D);
}

void cuda_ring_backward_delta(float *d, const float *out, const float *dout, int B, int T, int H,
                              int D)
{
    delta(d, out, dout, B, T, H, D);
}

void cuda_ring_forward_init(float *m, float *l, float *acc, int64_t rows, int D)
{
    if (rows > 0 && D > 0)
        CUDA_LAUNCH(ring_init_kernel, cuda_blocks(rows * D, 256), 256, m, l, acc, rows, D);
}

/* The local buffer is chunks q_chunks[0..1] of T/2 rows each, the visiting block chunks
 * k_chunks[0..1]; as on the CPU, rows past 2·(T/2) take no part. */
template <class E>
static void ring_step(float *m, float *l, float *acc, const E *q, const E *k, const E *v, int B,
                      int T, int H, int K, int D, const int q_chunks[2], const int k_chunks[2])
{
    check_dims("cuda_ring_forward_step", H, K, D);
    int Tc = T / 2;
    if (B < 1 || Tc < 1)
        return;
    posmap qmap = {Tc, q_chunks[0], q_chunks[1]}, kmap = {Tc, k_chunks[0], k_chunks[1]};
    CUDA_LAUNCH(attention_fwd_kernel<E>, dim3(cuda_blocks(2 * Tc, FWD_ROWS), H, B), 256,
                (E *)NULL, (float *)NULL, m, l, acc, q, k, v, T, H, K, D, qmap, kmap, 2 * Tc,
                (int)MODE_RING);
}

template <class E>
static void ring_finish(E *out, float *lse, const float *m, const float *l, const float *acc,
                        int B, int T, int H, int D)
{
    int64_t n = (int64_t)B * T * H * D;
    if (n > 0)
        CUDA_LAUNCH(ring_finish_kernel<E>, cuda_blocks(n, 256), 256, out, lse, m, l, acc, B, T, H,
                    D);
}

/* dq, dk, dv stay fp32 (they add up over the ring's steps) whatever the activations. */
template <class E>
static void ring_backward(float *dq, float *dk, float *dv, const E *q, const E *dout,
                          const float *delta, const float *lse, const E *k, const E *v, int B,
                          int T, int H, int K, int D, const int q_chunks[2], const int k_chunks[2])
{
    check_dims("cuda_ring_backward_step", H, K, D);
    int Tc = T / 2;
    if (B < 1 || Tc < 1)
        return;
    posmap qmap = {Tc, q_chunks[0], q_chunks[1]}, kmap = {Tc, k_chunks[0], k_chunks[1]};
    backward<att_types<E, float> >(dq, dk, dv, dout, q, k, v, delta, lse, B, T, H, K, D, qmap,
                                   kmap, 2 * Tc, MODE_RING);
}

void cuda_ring_forward_step(float *m, float *l, float *acc, const float *q, const float *k,
                            const float *v, int B, int T, int H, int K, int D,
                            const int q_chunks[2], const int k_chunks[2])
{
    ring_step(m, l, acc, q, k, v, B, T, H, K, D, q_chunks, k_chunks);
}

void cuda_ring_forward_finish(float *out, float *lse, const float *m, const float *l,
                              const float *acc, int B, int T, int H, int D)
{
    ring_finish(out, lse, m, l, acc, B, T, H, D);
}

void cuda_ring_backward_step(float *dq, float *dk, float *dv, const float *q, const float *dout,
                             const float *delta, const float *lse, const float *k,
                             const float *v, int B, int T, int H, int K, int D,
                             const int q_chunks[2], const int k_chunks[2])
{
    ring_backward(dq, dk, dv, q, dout, delta, lse, k, v, B, T, H, K, D, q_chunks, k_chunks);
}

void cuda_ring_forward_step_bf16(float *m, float *l, float *acc, const uint16_t *q,
                                 const uint16_t *k, const uint16_t *v, int B, int T, int H,
                                 int K, int D, const int q_chunks[2], const int k_chunks[2])
{
    ring_step(m, l, acc, q, k, v, B, T, H, K, D, q_chunks, k_chunks);
}

void cuda_ring_forward_finish_bf16(uint16_t *out, float *lse, const float *m, const float *l,
                                   const float *acc, int B, int T, int H, int D)
{
    ring_finish(out, lse, m, l, acc, B, T, H, D);
}

void cuda_ring_backward_delta_bf16(float *d, const uint16_t *out, const uint16_t *dout, int B,
                                   int T, int H, int D)
{
    delta(d, out, dout, B, T, H, D);
}

void cuda_ring_backward_step_bf16(float *dq, float *dk, float *dv, const uint16_t *q,
                                  const uint16_t *dout, const float *delta, const float *lse,
                                  const uint16_t *k, const uint16_t *v, int B, int T, int H,
                                  int K, int D, const int q_chunks[2], const int k_chunks[2])
{
    ring_backward(dq, dk, dv, q, dout, delta, lse, k, v, B, T, H, K, D, q_chunks, k_chunks);
}
