/* matmul: Linear layers through the tiled sgemm (gemm.c). */
#include "kernels/cpu/gemm.h"
#include "kernels/kernels.h"

void matmul_forward(float *out, const float *x, const float *W, int N, int Cin, int Cout)
{
    /* out (N, Cout) = x (N, Cin) · Wᵀ (Cin, Cout) */
    gemm(0, 1, N, Cout, Cin, 1.0f, x, Cin, W, Cin, 0.0f, out, Cout);
}

void matmul_backward(float *dx, float *dW, const float *dy, const float *x, const float *W,
                     int N, int Cin, int Cout, int dx_acc)
{
    /* forward: y = x·Wᵀ.  dx (N, Cin) = dy (N, Cout) · W (Cout, Cin) */
    if (dx)
        gemm(0, 0, N, Cin, Cout, 1.0f, dy, Cout, W, Cin, dx_acc ? 1.0f : 0.0f, dx, Cin);
    /* dW (Cout, Cin) += dyᵀ (Cout, N) · x (N, Cin) */
    gemm(1, 0, Cout, Cin, N, 1.0f, dy, Cout, x, Cin, 1.0f, dW, Cin);
}
