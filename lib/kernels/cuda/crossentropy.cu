/* crossentropy: the vocab-parallel cross-entropy pieces (kernels.h), one block per token row
 * for the row reductions. Only the first V_valid columns are real; padding is skipped by the
 * reductions and zeroed by the backward. Templated on the logits' type L (float, or bf16 bits
 * for the _bf16 wrappers); the statistics mx, z, zt and the loss are fp32. */
#include "kernels/cuda/cuda_compat.h"

#define CE_THREADS 256

// budget: ce_max_kernel regs<=32 smem<=128
template <class L>
__global__ void ce_max_kernel(float *mx, const L *logits, int N, int V_local, int V_valid)
{
    for (int i = blockIdx.x; i < N; i += gridDim.x) {
        const L *z = logits + (int64_t)i * V_local;
        float m = -INFINITY;
        for (int v = threadIdx.x; v < V_valid; v += CE_THREADS)
            m = fmaxf(m, ld(&z[v]));
        m = block_max(m);
        if (threadIdx.x == 0)
            mx[i] = m;
    }
}

/* Σ exp(z − mx) in double per thread and across the block (the CPU sums in double too) */
// budget: ce_sumexp_kernel regs<=40 smem<=256
template <class L>
__global__ void ce_sumexp_kernel(float *zsum, const L *logits, const float *mx, int N,
                                 int V_local, int V_valid)
{
    for (int i = blockIdx.x; i < N; i += gridDim.x) {
        const L *z = logits + (int64_t)i * V_local;
        float m = mx[i];
        double s = 0.0;
        for (int v = threadIdx.x; v < V_valid; v += CE_THREADS)
            s += expf(ld(&z[v]) - m);
        s = block_sum_double(s);
        if (threadIdx.x == 0)
            zsum[i] = (float)s;
    }
}

// budget: ce_target_kernel regs<=32 smem<=0
template <class L>
__global__ void ce_target_kernel(float *zt, const L *logits, const int32_t *targets, int N,
                                 int V_local, int v0)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < N; i += gridDim.x * blockDim.x) {
        int r = targets[i] - v0;
        zt[i] = (r >= 0 && r < V_local) ? ld(&logits[(int64_t)i * V_local + r]) : 0.0f;
    }
}

/* loss = log z + mx − zt; logits ← scale·(softmax − onehot), padding ← 0; each column is
 * written once (the one-hot subtracted in the same expression: one rounding in bf16). */
// budget: ce_backward_kernel regs<=32 smem<=0
template <class L>
__global__ void ce_backward_kernel(L *logits, float *loss, const float *mx, const float *zsum,
                                   const float *zt, const int32_t *targets, int N, int V_local,
                                   int V_valid, int v0, float scale)
{
    for (int i = blockIdx.x; i < N; i += gridDim.x) {
        L *z = logits + (int64_t)i * V_local;
        float m = mx[i], inv = 1.0f / zsum[i];
        int r = targets[i] - v0;
        if (threadIdx.x == 0)
            loss[i] = logf(zsum[i]) + m - zt[i];
        for (int v = threadIdx.x; v < V_local; v += CE_THREADS)
            st(&z[v], v < V_valid ? scale * expf(ld(&z[v]) - m) * inv - (v == r ? scale : 0.0f)
                                  : 0.0f);
    }
}

template <class L>
static void launch_max(float *mx, const L *logits, int N, int V_local, int V_valid)
{
    if (N > 0)
        CUDA_LAUNCH(ce_max_kernel<L>, cuda_blocks(N, 1), CE_THREADS, mx, logits, N, V_local,
                    V_valid);
}

template <class L>
static void launch_sumexp(float *z, const L *logits, const float *mx, int N, int V_local,
                          int V_valid)
{
    if (N > 0)
        CUDA_LAUNCH(ce_sumexp_kernel<L>, cuda_blocks(N, 1), CE_THREADS, z, logits, mx, N, V_local,
                    V_valid);
}

template <class L>
static void launch_target(float *zt, const L *logits, const int32_t *targets, int N,
                          int V_local, int v0)
{
    if (N > 0)
        CUDA_LAUNCH(ce_target_kernel<L>, cuda_blocks(N, 256), 256, zt, logits, targets, N,
                    V_local, v0);
}

template <class L>
static void launch_backward(L *logits, float *loss, const float *mx, const float *z,
                            const float *zt, const int32_t *targets, int N, int V_local,
                            int V_valid, int v0, float scale)
{
    if (N > 0)
        CUDA_LAUNCH(ce_backward_kernel<L>, cuda_blocks(N, 1), CE_THREADS, logits, loss, mx, z, zt,
                    targets, N, V_local, V_valid, v0, scale);
}

void cuda_ce_max(float *mx, const float *logits, int N, int V_local, int V_valid)
{
    launch_max(mx, logits, N, V_local, V_valid);
}

void cuda_ce_sumexp(float *z, const float *logits, const float *mx, int N, int V_local,
                    int V_valid)
{
    launch_sumexp(z, logits, mx, N, V_local, V_valid);
}

void cuda_ce_target(float *zt, const float *logits, const int32_t *targets, int N, int V_local,
                    int v0)
{
    launch_target(zt, logits, targets, N, V_local, v0);
}

void cuda_ce_backward(float *logits, float *loss, const float *mx, const float *z,
                      const float *zt, const int32_t *targets, int N, int V_local, int V_valid,
                      int v0, float scale)
{
    launch_backward(logits, loss, mx, z, zt, targets, N, V_local, V_valid, v0, scale);
}

void cuda_ce_max_bf16(float *mx, const uint16_t *logits, int N, int V_local, int V_valid)
{
    launch_max(mx, logits, N, V_local, V_valid);
}

void cuda_ce_sumexp_bf16(float *z, const uint16_t *logits, const float *mx, int N, int V_local,
                         int V_valid)
{
    launch_sumexp(z, logits, mx, N, V_local, V_valid);
}

void cuda_ce_target_bf16(float *zt, const uint16_t *logits, const int32_t *targets, int N,
                         int V_local, int v0)
{
    launch_target(zt, logits, targets, N, V_local, v0);
}

void cuda_ce_backward_bf16(uint16_t *logits, float *loss, const float *mx, const float *z,
                           const float *zt, const int32_t *targets, int N, int V_local,
                           int V_valid, int v0, float scale)
{
    launch_backward(logits, loss, mx, z, zt, targets, N, V_local, V_valid, v0, scale);
}
