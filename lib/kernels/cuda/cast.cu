/* cast: fp32 ↔ bf16 (uint16_t bits) for mixed precision, one element per thread. */
#include "kernels/cuda/cuda_compat.h"

// budget: cast_f32_to_bf16_kernel regs<=32 smem<=0
__global__ void cast_f32_to_bf16_kernel(uint16_t *out, const float *x, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        out[i] = f32_to_bf16(x[i]);
}

// budget: cast_bf16_to_f32_kernel regs<=32 smem<=0
__global__ void cast_bf16_to_f32_kernel(float *out, const uint16_t *x, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        out[i] = bf16_to_f32(x[i]);
}

void cuda_cast_f32_to_bf16(uint16_t *out, const float *x, int64_t n)
{
    if (n > 0)
        CUDA_LAUNCH(cast_f32_to_bf16_kernel, cuda_blocks(n, 256), 256, out, x, n);
}

void cuda_cast_bf16_to_f32(float *out, const uint16_t *x, int64_t n)
{
    if (n > 0)
        CUDA_LAUNCH(cast_bf16_to_f32_kernel, cuda_blocks(n, 256), 256, out, x, n);
}
