/* swiglu: out = silu(a) ⊙ b and its backward, one element per thread. */
#include "kernels/cuda/cuda_compat.h"

// budget: swiglu_forward_kernel regs<=32 smem<=0
__global__ void swiglu_forward_kernel(float *out, const float *a, const float *b, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float s = 1.0f / (1.0f + expf(-a[i]));
        out[i] = a[i] * s * b[i];
    }
}

/* silu'(a) = σ(a)·(1 + a·(1 − σ(a))) */
// budget: swiglu_backward_kernel regs<=32 smem<=0
__global__ void swiglu_backward_kernel(float *da, float *db, const float *dout, const float *a,
                                       const float *b, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float ai = a[i], s = 1.0f / (1.0f + expf(-ai));
        da[i] = dout[i] * b[i] * s * (1.0f + ai * (1.0f - s));
        db[i] = dout[i] * ai * s;
    }
}

void cuda_swiglu_forward(float *out, const float *a, const float *b, int64_t n)
{
    if (n > 0)
        CUDA_LAUNCH(swiglu_forward_kernel, cuda_blocks(n, 256), 256, out, a, b, n);
}

void cuda_swiglu_backward(float *da, float *db, const float *dout, const float *a,
                          const float *b, int64_t n)
{
    if (n > 0)
        CUDA_LAUNCH(swiglu_backward_kernel, cuda_blocks(n, 256), 256, da, db, dout, a, b, n);
}
