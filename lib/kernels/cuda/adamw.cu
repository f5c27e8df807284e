/* adamw: the fused AdamW step (PyTorch semantics, as lib/kernels/cpu/adamw.c), one element per
 * thread; the _bf16copy variant also writes the updated weight as bf16 (phase 2's compute
 * copy) in the same pass. */
#include "kernels/cuda/cuda_compat.h"

// budget: adamw_kernel regs<=40 smem<=0
__global__ void adamw_kernel(float *p, uint16_t *p_bf16, float *m, float *v, const float *g,
                             int64_t n, float lr, float beta1, float beta2, float eps, float wd,
                             float bc1, float bc2)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        float gi = g[i];
        float pi = p[i] * (1.0f - lr * wd);
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        pi = pi - lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
        p[i] = pi;
        if (p_bf16)
            p_bf16[i] = f32_to_bf16(pi);
    }
}

void cuda_adamw_update(float *p, float *m, float *v, const float *g, int64_t n, float lr,
                       float beta1, float beta2, float eps, float wd, float bc1, float bc2)
{
    if (n > 0)
        CUDA_LAUNCH(adamw_kernel, cuda_blocks(n, 256), 256, p, (uint16_t *)NULL, m, v, g, n, lr,
                    beta1, beta2, eps, wd, bc1, bc2);
}

void cuda_adamw_update_bf16copy(float *p, uint16_t *p_bf16, float *m, float *v, const float *g,
                                int64_t n, float lr, float beta1, float beta2, float eps,
                                float wd, float bc1, float bc2)
{
    if (n > 0)
        CUDA_LAUNCH(adamw_kernel, cuda_blocks(n, 256), 256, p, p_bf16, m, v, g, n, lr, beta1,
                    beta2, eps, wd, bc1, bc2);
}
