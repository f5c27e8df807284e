/* rope: rotary position embedding, HF rotate-half layout (pairs (i, i + D/2)). */
#include <math.h>
#include <stdlib.h>

#include "error.h"
#include "kernels/kernels.h"

/* Rotate every head of every token by +θ (sign 1) or −θ (sign −1). Angles are computed in
 * double from the global position so long sequences keep their precision. */
static void rope_rotate(float *x, int B, int T, int nh, int D, int pos0, double theta, float sign)
{
    int half = D / 2;
    double *inv_freq = xmalloc((size_t)half * sizeof(double)); /* base^(−2i/D) */
    for (int i = 0; i < half; i++)
        inv_freq[i] = pow(theta, -2.0 * i / D);
    #pragma omp parallel
    {
        float *cs = xmalloc((size_t)half * sizeof(float)), *sn = xmalloc((size_t)half * sizeof(float));
        #pragma omp for schedule(static)
        for (int t = 0; t < T; t++) {
            for (int i = 0; i < half; i++) {
                double ang = (double)(pos0 + t) * inv_freq[i];
                cs[i] = (float)cos(ang);
                sn[i] = sign * (float)sin(ang);
            }
            for (int b = 0; b < B; b++) {
                float *row = x + ((int64_t)b * T + t) * nh * D;
                for (int h = 0; h < nh; h++) {
                    float *v = row + h * D;
                    for (int i = 0; i < half; i++) {
                        float a = v[i], c = v[i + half];
                        v[i] = a * cs[i] - c * sn[i];
                        v[i + half] = c * cs[i] + a * sn[i];
                    }
                }
            }
        }
        free(cs);
        free(sn);
    }
    free(inv_freq);
}

void rope_forward(float *x, int B, int T, int nh, int D, int pos0, double theta)
{
    rope_rotate(x, B, T, nh, D, pos0, theta, 1.0f);
}

void rope_backward(float *dx, int B, int T, int nh, int D, int pos0, double theta)
{
    /* y = R(θ)·x, so dx = R(θ)ᵀ·dy = R(−θ)·dy */
    rope_rotate(dx, B, T, nh, D, pos0, theta, -1.0f);
}
