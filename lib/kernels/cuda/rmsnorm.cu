/* rmsnorm: RMSNorm forward (one block per token) and backward. The backward's dw is summed
 * without atomics, as on the CPU: per chunk of RMS_CHUNK tokens in token order (one thread per
 * column and chunk) into scratch, then the chunks in order into dw. */
#include "kernels/cuda/cuda_compat.h"

#define RMS_THREADS 256
#define RMS_CHUNK 64

// budget: rmsnorm_forward_kernel regs<=32 smem<=128
__global__ void rmsnorm_forward_kernel(float *out, float *rstd, const float *x, const float *w,
                                       int N, int C, float eps)
{
    for (int i = blockIdx.x; i < N; i += gridDim.x) {
        const float *xi = x + (int64_t)i * C;
        float *oi = out + (int64_t)i * C;
        float ss = 0.0f;
        for (int j = threadIdx.x; j < C; j += RMS_THREADS)
            ss += xi[j] * xi[j];
        ss = block_sum(ss);
        float r = 1.0f / sqrtf(ss / C + eps);
        for (int j = threadIdx.x; j < C; j += RMS_THREADS)
            oi[j] = w[j] * (xi[j] * r);
        if (threadIdx.x == 0)
            rstd[i] = r;
    }
}

/* dx_j += r·w_j·dy_j − (r³/C)·x_j·Σ_k w_k·dy_k·x_k */
// budget: rmsnorm_backward_dx_kernel regs<=48 smem<=128
__global__ void rmsnorm_backward_dx_kernel(float *dx, const float *dy, const float *x,
                                           const float *w, const float *rstd, int N, int C)
{
    for (int i = blockIdx.x; i < N; i += gridDim.x) {
        const float *xi = x + (int64_t)i * C, *dyi = dy + (int64_t)i * C;
        float *dxi = dx + (int64_t)i * C;
        float r = rstd[i], dot = 0.0f;
        for (int j = threadIdx.x; j < C; j += RMS_THREADS)
            dot += w[j] * dyi[j] * xi[j];
        dot = block_sum(dot);
        float c = dot * r * r * r / C;
        for (int j = threadIdx.x; j < C; j += RMS_THREADS)
            dxi[j] += r * w[j] * dyi[j] - c * xi[j];
    }
}

/* partial (nchunks, C): Σ over the chunk's tokens, in order, of dy·x·rstd */
// budget: rmsnorm_dw_partial_kernel regs<=32 smem<=0
__global__ void rmsnorm_dw_partial_kernel(float *partial, const float *dy, const float *x,
                                          const float *rstd, int N, int C)
{
    int ch = blockIdx.x, j = blockIdx.y * blockDim.x + threadIdx.x;
    if (j >= C)
        return;
    int end = (ch + 1) * RMS_CHUNK < N ? (ch + 1) * RMS_CHUNK : N;
    float s = 0.0f;
    for (int i = ch * RMS_CHUNK; i < end; i++)
        s += dy[(int64_t)i * C + j] * x[(int64_t)i * C + j] * rstd[i];
    partial[(int64_t)ch * C + j] = s;
}

// budget: rmsnorm_dw_reduce_kernel regs<=32 smem<=0
__global__ void rmsnorm_dw_reduce_kernel(float *dw, const float *partial, int nchunks, int C)
{
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= C)
        return;
    float s = dw[j];
    for (int ch = 0; ch < nchunks; ch++)
        s += partial[(int64_t)ch * C + j];
    dw[j] = s;
}

void cuda_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C,
                          float eps)
{
    if (N > 0)
        CUDA_LAUNCH(rmsnorm_forward_kernel, cuda_blocks(N, 1), RMS_THREADS, out, rstd, x, w, N,
                    C, eps);
}

void cuda_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                           const float *rstd, int N, int C)
{
    if (N <= 0)
        return;
    int nchunks = (N + RMS_CHUNK - 1) / RMS_CHUNK;
    float *partial = (float *)cuda_kernels_scratch((size_t)nchunks * C * sizeof(float));
    CUDA_LAUNCH(rmsnorm_backward_dx_kernel, cuda_blocks(N, 1), RMS_THREADS, dx, dy, x, w, rstd,
                N, C);
    CUDA_LAUNCH(rmsnorm_dw_partial_kernel, dim3(nchunks, cuda_blocks(C, 256)), 256, partial, dy,
                x, rstd, N, C);
    CUDA_LAUNCH(rmsnorm_dw_reduce_kernel, cuda_blocks(C, 256), 256, dw, partial, nchunks, C);
}
