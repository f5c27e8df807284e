/* matmul: Linear layers through OpenBLAS sgemm, and the thread setting shared by all kernels. */
#include <cblas.h>
#include <omp.h>

#include "kernels/kernels.h"

void kernels_set_threads(int n)
{
    n = n < 1 ? 1 : n;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

void matmul_forward(float *out, const float *x, const float *W, int N, int Cin, int Cout)
{
    /* out (N, Cout) = x (N, Cin) · Wᵀ (Cin, Cout) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, Cout, Cin, 1.0f, x, Cin, W, Cin, 0.0f, out, Cout);
}

void matmul_backward(float *dx, float *dW, const float *dy, const float *x, const float *W,
                     int N, int Cin, int Cout, int dx_acc)
{
    /* forward: y = x·Wᵀ.  dx (N, Cin) = dy (N, Cout) · W (Cout, Cin) */
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, Cin, Cout, 1.0f, dy, Cout, W, Cin,
                    dx_acc ? 1.0f : 0.0f, dx, Cin);
    /* dW (Cout, Cin) += dyᵀ (Cout, N) · x (N, Cin) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Cout, Cin, N, 1.0f, dy, Cout, x, Cin, 1.0f, dW, Cin);
}
