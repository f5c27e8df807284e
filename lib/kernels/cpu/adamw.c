/* adamw: the AdamW update and the sum of squares used by gradient clipping. */
#include <math.h>
#include <stdlib.h>

#include "error.h"

#include "kernels/cpu/vec.h"
#include "kernels/kernels.h"

#define SUMSQ_CHUNK 65536
#define ADAMW_BLOCK 4096 /* elements per OpenMP work item (elementwise: any split, same bits) */

void adamw_update(float *p, float *m, float *v, const float *g, int64_t n, float lr, float beta1,
                  float beta2, float eps, float wd, float bc1, float bc2)
{
    /* PyTorch's order: p·(1 − lr·wd), then p −= lr/bc1 · m / (√v / √bc2 + eps); the division
     * by √bc2 is a multiplication by its inverse here, one divide per element remains */
    const VecOps *vo = vec();
    float decay = 1.0f - lr * wd, step = lr / bc1, rsqrt_bc2 = (float)(1.0 / sqrt(bc2));
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i += ADAMW_BLOCK)
        vo->adamw(p + i, m + i, v + i, g + i, n - i < ADAMW_BLOCK ? n - i : ADAMW_BLOCK, decay,
                  beta1, beta2, eps, step, rsqrt_bc2);
}

double sum_squares(const float *x, int64_t n)
{
    int64_t nchunks = (n + SUMSQ_CHUNK - 1) / SUMSQ_CHUNK;
    double *partial = xcalloc((size_t)nchunks, sizeof(double));
    /* Each chunk is summed by one thread, then chunks are added in order: the result does not
     * depend on the thread count. */
    const VecOps *vo = vec();
    #pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nchunks; c++) {
        int64_t end = (c + 1) * SUMSQ_CHUNK < n ? (c + 1) * SUMSQ_CHUNK : n;
        partial[c] = vo->sumsq(x + c * SUMSQ_CHUNK, end - c * SUMSQ_CHUNK);
    }
    double total = 0.0;
    for (int64_t c = 0; c < nchunks; c++)
        total += partial[c];
    free(partial);
    return total;
}
