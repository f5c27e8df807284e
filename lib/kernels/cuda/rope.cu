/* rope: rotary position embedding in place, HF rotate-half layout (pairs (i, i + D/2)). One
 * thread per (token, pair index): it computes its angle once, in double from the global
 * position as on the CPU, and rotates that pair in every batch row and head. Templated on the
 * activation type T (float, or bf16 bits for the _bf16 wrappers: fp32 math, bf16 stores). */
#include "kernels/cuda/cuda_compat.h"

// budget: rope_kernel regs<=64 smem<=0
template <class E>
__global__ void rope_kernel(E *x, int B, int T, int nh, int D, int pos0, double theta, float sign)
{
    int half = D / 2;
    for (int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; k < (int64_t)T * half;
         k += (int64_t)gridDim.x * blockDim.x) {
        int t = (int)(k / half), i = (int)(k % half);
        double ang = (double)(pos0 + t) * pow(theta, -2.0 * i / D);
        float cs = (float)cos(ang), sn = sign * (float)sin(ang);
        for (int b = 0; b < B; b++) {
            E *row = x + ((int64_t)b * T + t) * nh * D;
            for (int h = 0; h < nh; h++) {
                E *v = row + h * D;
                float a = ld(&v[i]), c = ld(&v[i + half]);
                st(&v[i], a * cs - c * sn);
                st(&v[i + half], c * cs + a * sn);
            }
        }
    }
}

template <class E>
static void rotate(E *x, int B, int T, int nh, int D, int pos0, double theta, float sign)
{
    if (T > 0 && D >= 2)
        CUDA_LAUNCH(rope_kernel<E>, cuda_blocks((int64_t)T * (D / 2), 128), 128, x, B, T, nh, D,
                    pos0, theta, sign);
}

void cuda_rope_forward(float *x, int B, int T, int nh, int D, int pos0, double theta)
{
    rotate(x, B, T, nh, D, pos0, theta, 1.0f);
}

/* y = R(θ)·x, so dx = R(θ)ᵀ·dy = R(−θ)·dy */
void cuda_rope_backward(float *dx, int B, int T, int nh, int D, int pos0, double theta)
{
    rotate(dx, B, T, nh, D, pos0, theta, -1.0f);
}

void cuda_rope_forward_bf16(uint16_t *x, int B, int T, int nh, int D, int pos0, double theta)
{
    rotate(x, B, T, nh, D, pos0, theta, 1.0f);
}

void cuda_rope_backward_bf16(uint16_t *dx, int B, int T, int nh, int D, int pos0, double theta)
{
    rotate(dx, B, T, nh, D, pos0, theta, -1.0f);
}
