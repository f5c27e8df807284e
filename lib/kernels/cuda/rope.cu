/* rope: rotary position embedding in place, HF rotate-half layout (pairs (i, i + D/2)). One
 * thread per (token, pair index): it computes its angle once, in double from the global
 * position as on the CPU, and rotates that pair in every batch row and head. */
#include "kernels/cuda/cuda_compat.h"

// budget: rope_kernel regs<=64 smem<=0
__global__ void rope_kernel(float *x, int B, int T, int nh, int D, int pos0, double theta,
                            float sign)
{
    int half = D / 2;
    for (int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; k < (int64_t)T * half;
         k += (int64_t)gridDim.x * blockDim.x) {
        int t = (int)(k / half), i = (int)(k % half);
        double ang = (double)(pos0 + t) * pow(theta, -2.0 * i / D);
        float cs = (float)cos(ang), sn = sign * (float)sin(ang);
        for (int b = 0; b < B; b++) {
            float *row = x + ((int64_t)b * T + t) * nh * D;
            for (int h = 0; h < nh; h++) {
                float *v = row + h * D;
                float a = v[i], c = v[i + half];
                v[i] = a * cs - c * sn;
                v[i + half] = c * cs + a * sn;
            }
        }
    }
}

void cuda_rope_forward(float *x, int B, int T, int nh, int D, int pos0, double theta)
{
    if (T > 0 && D >= 2)
        CUDA_LAUNCH(rope_kernel, cuda_blocks((int64_t)T * (D / 2), 128), 128, x, B, T, nh, D,
                    pos0, theta, 1.0f);
}

/* y = R(θ)·x, so dx = R(θ)ᵀ·dy = R(−θ)·dy */
void cuda_rope_backward(float *dx, int B, int T, int nh, int D, int pos0, double theta)
{
    if (T > 0 && D >= 2)
        CUDA_LAUNCH(rope_kernel, cuda_blocks((int64_t)T * (D / 2), 128), 128, dx, B, T, nh, D,
                    pos0, theta, -1.0f);
}
