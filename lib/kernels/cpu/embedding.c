/* embedding: token lookup in a vocabulary slice and its scatter-add backward. */
#include <string.h>

#include "kernels/kernels.h"

void embedding_forward(float *out, const int32_t *ids, const float *table, int N, int C,
                       int v0, int V_local)
{
    #pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        int r = ids[i] - v0;
        float *o = out + (int64_t)i * C;
        if (r >= 0 && r < V_local)
            memcpy(o, table + (int64_t)r * C, (size_t)C * sizeof(float));
        else
            memset(o, 0, (size_t)C * sizeof(float));
    }
}

void embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int C,
                        int v0, int V_local)
{
    /* Threads split the channels, tokens go in order: each element is summed in one fixed order. */
    #pragma omp parallel for schedule(static)
    for (int j = 0; j < C; j++) {
        for (int i = 0; i < N; i++) {
            int r = ids[i] - v0;
            if (r >= 0 && r < V_local)
                dtable[(int64_t)r * C + j] += dout[(int64_t)i * C + j];
        }
    }
}
