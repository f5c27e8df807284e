/* rmsnorm: RMSNorm forward (one block per token) and backward. The backward's dw is summed
 * without atomics, as on the CPU: per chunk of RMS_CHUNK tokens in token order (one thread per
 * column and chunk) into scratch, then the chunks in order into dw. The kernels are templated
 * on the activation type T (float, or bf16 bits for the _bf16 wrappers): the normalized output
 * in the forward, dy in the backward; x, w, rstd, dx and dw stay fp32. The forward can fuse
 * the residual add before it (x += branch, then normalize x): one pass over the residual
 * stream instead of two; the backward fuses the residual's gradient add (dx +=). */
#include "kernels/cuda/cuda_compat.h"

#define RMS_THREADS 256
#define RMS_CHUNK 64

/* With branch NULL, x is only read. Otherwise x += branch first; each thread later reads back
 * only the elements it wrote itself, so no further barrier is needed. */
// budget: rmsnorm_forward_kernel regs<=48 smem<=128
template <class T>
__global__ void rmsnorm_forward_kernel(T *out, float *rstd, float *x, const T *branch,
                                       const float *w, int N, int C, float eps)
{
    for (int i = blockIdx.x; i < N; i += gridDim.x) {
        float *xi = x + (int64_t)i * C;
        T *oi = out + (int64_t)i * C;
        float ss = 0.0f;
        for (int j = threadIdx.x; j < C; j += RMS_THREADS) {
            float xv = xi[j];
            if (branch) {
                xv += ld(&branch[(int64_t)i * C + j]);
                xi[j] = xv;
            }
            ss += xv * xv;
        }
        ss = block_sum(ss);
        float r = 1.0f / sqrtf(ss / C + eps);
        for (int j = threadIdx.x; j < C; j += RMS_THREADS)
            st(&oi[j], w[j] * (xi[j] * r));
        if (threadIdx.x == 0)
            rstd[i] = r;
    }
}

/* dx_j += r·w_j·dy_j − (r³/C)·x_j·Σ_k w_k·dy_k·x_k */
// budget: rmsnorm_backward_dx_kernel regs<=48 smem<=128
template <class T>
__global__ void rmsnorm_backward_dx_kernel(float *dx, const T *dy, const float *x,
                                           const float *w, const float *rstd, int N, int C)
{
    for (int i = blockIdx.x; i < N; i += gridDim.x) {
        const float *xi = x + (int64_t)i * C;
        const T *dyi = dy + (int64_t)i * C;
        float *dxi = dx + (int64_t)i * C;
        float r = rstd[i], dot = 0.0f;
        for (int j = threadIdx.x; j < C; j += RMS_THREADS)
            dot += w[j] * ld(&dyi[j]) * xi[j];
        dot = block_sum(dot);
        float c = dot * r * r * r / C;
        for (int j = threadIdx.x; j < C; j += RMS_THREADS)
            dxi[j] += r * w[j] * ld(&dyi[j]) - c * xi[j];
    }
}

/* partial (nchunks, C): Σ over the chunk's tokens, in order, of dy·x·rstd */
// budget: rmsnorm_dw_partial_kernel regs<=32 smem<=0
template <class T>
__global__ void rmsnorm_dw_partial_kernel(float *partial, const T *dy, const float *x,
                                          const float *rstd, int N, int C)
{
    int ch = blockIdx.x, j = blockIdx.y * blockDim.x + threadIdx.x;
    if (j >= C)
        return;
    int end = (ch + 1) * RMS_CHUNK < N ? (ch + 1) * RMS_CHUNK : N;
    float s = 0.0f;
    for (int i = ch * RMS_CHUNK; i < end; i++)
        s += ld(&dy[(int64_t)i * C + j]) * x[(int64_t)i * C + j] * rstd[i];
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

template <class T>
static void forward(T *out, float *rstd, float *x, const T *branch, const float *w, int N, int C,
                    float eps)
{
    if (N > 0)
        CUDA_LAUNCH(rmsnorm_forward_kernel<T>, cuda_blocks(N, 1), RMS_THREADS, out, rstd, x,
                    branch, w, N, C, eps);
}

template <class T>
static void backward(float *dx, float *dw, const T *dy, const float *x, const float *w,
                     const float *rstd, int N, int C)
{
    if (N <= 0)
        return;
    int nchunks = (N + RMS_CHUNK - 1) / RMS_CHUNK;
    float *partial = (float *)cuda_kernels_scratch((size_t)nchunks * C * sizeof(float));
    CUDA_LAUNCH(rmsnorm_backward_dx_kernel<T>, cuda_blocks(N, 1), RMS_THREADS, dx, dy, x, w, rstd,
                N, C);
    CUDA_LAUNCH(rmsnorm_dw_partial_kernel<T>, dim3(nchunks, cuda_blocks(C, 256)), 256, partial, dy,
                x, rstd, N, C);
    CUDA_LAUNCH(rmsnorm_dw_reduce_kernel, cuda_blocks(C, 256), 256, dw, partial, nchunks, C);
}

void cuda_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C,
                          float eps)
{
    forward(out, rstd, (float *)x, (const float *)NULL, w, N, C, eps); /* x not written */
}

void cuda_add_rmsnorm_forward(float *x, const float *branch, float *out, float *rstd,
                              const float *w, int N, int C, float eps)
{
    forward(out, rstd, x, branch, w, N, C, eps);
}

void cuda_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                           const float *rstd, int N, int C)
{
    backward(dx, dw, dy, x, w, rstd, N, C);
}

void cuda_rmsnorm_forward_bf16(uint16_t *out, float *rstd, const float *x, const float *w, int N,
                               int C, float eps)
{
    forward(out, rstd, (float *)x, (const uint16_t *)NULL, w, N, C, eps); /* x not written */
}

void cuda_add_rmsnorm_forward_bf16(float *x, const uint16_t *branch, uint16_t *out, float *rstd,
                                   const float *w, int N, int C, float eps)
{
    forward(out, rstd, x, branch, w, N, C, eps);
}

void cuda_rmsnorm_backward_bf16(float *dx, float *dw, const uint16_t *dy, const float *x,
                                const float *w, const float *rstd, int N, int C)
{
    backward(dx, dw, dy, x, w, rstd, N, C);
}
