/* rmsnorm: RMSNorm forward and backward. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "kernels/cpu/vec.h"
#include "kernels/kernels.h"

/* Rows per partial sum of dw: fixed, so the summation order never depends on threads. */
#define RMS_CHUNK 64

void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps)
{
    const VecOps *vo = vec();
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *xi = x + (int64_t)i * C;
        float r = (float)(1.0 / sqrt(vo->sumsq(xi, C) / C + eps));
        vo->scale_mul(out + (int64_t)i * C, xi, w, r, C); /* w · (x · r) */
        rstd[i] = r;
    }
}

void rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                      const float *rstd, int N, int C)
{
    int nchunks = (N + RMS_CHUNK - 1) / RMS_CHUNK;
    float *partial = xcalloc((size_t)nchunks * C, sizeof(float)); /* (nchunks, C) */

    const VecOps *vo = vec();
    #pragma omp parallel for schedule(static)
    for (int ch = 0; ch < nchunks; ch++) {
        float *pw = partial + (int64_t)ch * C;
        int end = (ch + 1) * RMS_CHUNK < N ? (ch + 1) * RMS_CHUNK : N;
        for (int i = ch * RMS_CHUNK; i < end; i++) {
            const float *xi = x + (int64_t)i * C, *dyi = dy + (int64_t)i * C;
            float *dxi = dx + (int64_t)i * C;
            float r = rstd[i];
            /* dx_j = r·w_j·dy_j − (r³/C)·x_j·Σ_k w_k·dy_k·x_k */
            float c = (float)(vo->dot3(w, dyi, xi, C) * r * r * r / C);
            vo->rms_bwd(dxi, pw, w, dyi, xi, r, c, C); /* and pw += dy·x·r */
        }
    }
    for (int ch = 0; ch < nchunks; ch++)
        for (int j = 0; j < C; j++)
            dw[j] += partial[(int64_t)ch * C + j];
    free(partial);
}
