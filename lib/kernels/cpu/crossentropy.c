/* crossentropy: vocab-parallel cross-entropy in four steps (see kernels.h), so a tp all-reduce
 * can sit between them; with one tp rank the steps simply run back to back. */
#include <math.h>

#include "kernels/cpu/vec.h"
#include "kernels/kernels.h"

void ce_max(float *mx, const float *logits, int N, int V_local, int V_valid)
{
    const VecOps *vo = vec();
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++)
        mx[i] = vo->max(logits + (int64_t)i * V_local, V_valid);
}

void ce_sumexp(float *zsum, const float *logits, const float *mx, int N, int V_local, int V_valid)
{
    const VecOps *vo = vec();
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++)
        zsum[i] = (float)vo->sum_exp(logits + (int64_t)i * V_local, V_valid, mx[i]);
}

void ce_target(float *zt, const float *logits, const int32_t *targets, int N, int V_local, int v0)
{
    for (int i = 0; i < N; i++) {
        int r = targets[i] - v0;
        zt[i] = (r >= 0 && r < V_local) ? logits[(int64_t)i * V_local + r] : 0.0f;
    }
}

void ce_backward(float *logits, float *loss, const float *mx, const float *zsum, const float *zt,
                 const int32_t *targets, int N, int V_local, int V_valid, int v0, float scale)
{
    const VecOps *vo = vec();
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        float *z = logits + (int64_t)i * V_local;
        loss[i] = logf(zsum[i]) + mx[i] - zt[i];
        vo->exp_scale(z, V_valid, mx[i], scale / zsum[i]); /* scale · softmax */
        for (int v = V_valid; v < V_local; v++)
            z[v] = 0.0f;
        int r = targets[i] - v0;
        if (r >= 0 && r < V_valid)
            z[r] -= scale;
    }
}
