/* rope: rotary position embedding, HF rotate-half layout (pairs (i, i + D/2)), on the vector
 * paths (vec.h), from a table of cos/sin per (position, pair) kept between calls. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#include "error.h"
#include "kernels/cpu/vec.h"
#include "kernels/kernels.h"

/* cos θ and ±sin θ of positions [0, npos) for head size D and base theta, (npos, D/2) each.
 * Angles are computed in double from the global position, so long sequences keep their
 * precision; a larger table holds the same values, so growing it changes no result. */
static struct {
    pthread_mutex_t lock;
    int D, npos;
    double theta;
    float *cs, *sn, *neg_sn;
} table = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void table_fit(int D, double theta, int npos)
{
    if (table.D == D && table.theta == theta && table.npos >= npos)
        return;
    int half = D / 2, n = table.D == D && table.theta == theta ? table.npos : 0;
    while (n < npos)
        n = n ? 2 * n : 256;
    free(table.cs);
    free(table.sn);
    free(table.neg_sn);
    table.cs = xmalloc((size_t)n * half * sizeof(float));
    table.sn = xmalloc((size_t)n * half * sizeof(float));
    table.neg_sn = xmalloc((size_t)n * half * sizeof(float));
    double *inv_freq = xmalloc((size_t)half * sizeof(double)); /* base^(−2i/D) */
    for (int i = 0; i < half; i++)
        inv_freq[i] = pow(theta, -2.0 * i / D);
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < n; t++)
        for (int i = 0; i < half; i++) {
            double ang = (double)t * inv_freq[i];
            int64_t at = (int64_t)t * half + i;
            table.cs[at] = (float)cos(ang);
            table.sn[at] = (float)sin(ang);
            table.neg_sn[at] = -table.sn[at];
        }
    free(inv_freq);
    table.D = D;
    table.theta = theta;
    table.npos = n;
}

/* Rotate every head of every token by +θ (backward: −θ). */
static void rope_rotate(float *x, int B, int T, int nh, int D, int pos0, double theta, int back)
{
    int half = D / 2;
    const VecOps *vo = vec();
    pthread_mutex_lock(&table.lock);
    table_fit(D, theta, pos0 + T);
    const float *cs = table.cs, *sn = back ? table.neg_sn : table.sn;
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        const float *c = cs + (int64_t)(pos0 + t) * half, *s = sn + (int64_t)(pos0 + t) * half;
        for (int b = 0; b < B; b++) {
            float *row = x + ((int64_t)b * T + t) * nh * D;
            for (int h = 0; h < nh; h++)
                vo->rotate(row + h * D, row + h * D + half, c, s, half);
        }
    }
    pthread_mutex_unlock(&table.lock);
}

void rope_forward(float *x, int B, int T, int nh, int D, int pos0, double theta)
{
    rope_rotate(x, B, T, nh, D, pos0, theta, 0);
}

void rope_backward(float *dx, int B, int T, int nh, int D, int pos0, double theta)
{
    /* y = R(θ)·x, so dx = R(θ)ᵀ·dy = R(−θ)·dy */
    rope_rotate(dx, B, T, nh, D, pos0, theta, 1);
}
