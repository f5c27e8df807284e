/* swiglu: the gated activation of the Llama MLP, silu(a) ⊙ b. */
#include <math.h>

#include "kernels/kernels.h"

void swiglu_forward(float *out, const float *a, const float *b, int64_t n)
{
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-a[i]));
        out[i] = a[i] * s * b[i];
    }
}

void swiglu_backward(float *da, float *db, const float *dout, const float *a, const float *b,
                     int64_t n)
{
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float s = 1.0f / (1.0f + expf(-a[i]));
        /* silu'(a) = σ(a)·(1 + a·(1 − σ(a))) */
        da[i] = dout[i] * b[i] * s * (1.0f + a[i] * (1.0f - s));
        db[i] = dout[i] * a[i] * s;
    }
}
