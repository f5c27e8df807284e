/* swiglu: out = silu(a) ⊙ b and its backward, one element per thread; templated on the
 * activation type T (float, or bf16 bits for the _bf16 wrappers: fp32 math, bf16 stores). */
#include "kernels/cuda/cuda_compat.h"

// budget: swiglu_forward_kernel regs<=32 smem<=0
template <class T>
__global__ void swiglu_forward_kernel(T *out, const T *a, const T *b, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float ai = ld(&a[i]), s = 1.0f / (1.0f + expf(-ai));
        st(&out[i], ai * s * ld(&b[i]));
    }
}

/* silu'(a) = σ(a)·(1 + a·(1 − σ(a))) */
// budget: swiglu_backward_kernel regs<=32 smem<=0
template <class T>
__global__ void swiglu_backward_kernel(T *da, T *db, const T *dout, const T *a, const T *b,
                                       int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float ai = ld(&a[i]), gi = ld(&dout[i]), s = 1.0f / (1.0f + expf(-ai));
        st(&da[i], gi * ld(&b[i]) * s * (1.0f + ai * (1.0f - s)));
        st(&db[i], gi * ai * s);
    }
}

void cuda_swiglu_forward(float *out, const float *a, const float *b, int64_t n)
{
    if (n > 0)
        CUDA_LAUNCH(swiglu_forward_kernel<float>, cuda_blocks(n, 256), 256, out, a, b, n);
}

void cuda_swiglu_backward(float *da, float *db, const float *dout, const float *a,
                          const float *b, int64_t n)
{
    if (n > 0)
        CUDA_LAUNCH(swiglu_backward_kernel<float>, cuda_blocks(n, 256), 256, da, db, dout, a, b, n);
}

void cuda_swiglu_forward_bf16(uint16_t *out, const uint16_t *a, const uint16_t *b, int64_t n)
{
    if (n > 0)
        CUDA_LAUNCH(swiglu_forward_kernel<uint16_t>, cuda_blocks(n, 256), 256, out, a, b, n);
}

void cuda_swiglu_backward_bf16(uint16_t *da, uint16_t *db, const uint16_t *dout,
                               const uint16_t *a, const uint16_t *b, int64_t n)
{
    if (n > 0)
        CUDA_LAUNCH(swiglu_backward_kernel<uint16_t>, cuda_blocks(n, 256), 256, da, db, dout, a, b,
                    n);
}
