/* adamw: the AdamW update and the sum of squares used by gradient clipping. */
#include <math.h>
#include <stdlib.h>

#include "error.h"

#include "kernels/kernels.h"

#define SUMSQ_CHUNK 65536

void adamw_update(float *p, float *m, float *v, const float *g, int64_t n, float lr, float beta1,
                  float beta2, float eps, float wd, float bc1, float bc2)
{
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float pi = p[i] * (1.0f - lr * wd);
        float mi = beta1 * m[i] + (1.0f - beta1) * g[i];
        float vi = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
    }
}

double sum_squares(const float *x, int64_t n)
{
    int64_t nchunks = (n + SUMSQ_CHUNK - 1) / SUMSQ_CHUNK;
    double *partial = xcalloc((size_t)nchunks, sizeof(double));
    /* Each chunk is summed by one thread, then chunks are added in order: the result does not
     * depend on the thread count. */
    #pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nchunks; c++) {
        int64_t end = (c + 1) * SUMSQ_CHUNK < n ? (c + 1) * SUMSQ_CHUNK : n;
        double s = 0.0;
        for (int64_t i = c * SUMSQ_CHUNK; i < end; i++)
            s += (double)x[i] * x[i];
        partial[c] = s;
    }
    double total = 0.0;
    for (int64_t c = 0; c < nchunks; c++)
        total += partial[c];
    free(partial);
    return total;
}
