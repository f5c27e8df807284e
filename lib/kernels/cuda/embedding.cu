/* embedding: lookup in a vocabulary slice, and its backward without atomics. In the backward a
 * block takes a token; only the first token of each id (in token order) does work: it adds the
 * dout rows of every token with that id, in token order, into the table row. Each table
 * element is thus summed by one thread in the CPU kernel's order (bitwise the same result).
 * Cost: every block scans the ids before its token, O(N²) id reads in all — small beside the
 * N·C floats moved at N ≤ 64k; a sort-based owner list can replace it. */
#include "kernels/cuda/cuda_compat.h"

#define EMB_THREADS 256

// budget: embedding_forward_kernel regs<=32 smem<=0
__global__ void embedding_forward_kernel(float *out, const int32_t *ids, const float *table,
                                         int N, int C, int v0, int V_local)
{
    for (int i = blockIdx.x; i < N; i += gridDim.x) {
        int r = ids[i] - v0;
        int in = r >= 0 && r < V_local;
        float *o = out + (int64_t)i * C;
        for (int j = threadIdx.x; j < C; j += EMB_THREADS)
            o[j] = in ? table[(int64_t)r * C + j] : 0.0f;
    }
}

// budget: embedding_backward_kernel regs<=32 smem<=0
__global__ void embedding_backward_kernel(float *dtable, const float *dout, const int32_t *ids,
                                          int N, int C, int v0, int V_local)
{
    for (int i = blockIdx.x; i < N; i += gridDim.x) {
        int id = ids[i], r = id - v0;
        if (r < 0 || r >= V_local) /* the same for the whole block */
            continue;
        int earlier = 0;
        for (int k = threadIdx.x; k < i; k += EMB_THREADS)
            earlier |= ids[k] == id;
        if (__syncthreads_or(earlier)) /* an earlier token owns this row */
            continue;
        float *row = dtable + (int64_t)r * C;
        for (int j = threadIdx.x; j < C; j += EMB_THREADS) {
            float s = row[j];
            for (int k = i; k < N; k++)
                if (ids[k] == id)
                    s += dout[(int64_t)k * C + j];
            row[j] = s;
        }
    }
}

void cuda_embedding_forward(float *out, const int32_t *ids, const float *table, int N, int C,
                            int v0, int V_local)
{
    if (N > 0)
        CUDA_LAUNCH(embedding_forward_kernel, cuda_blocks(N, 1), EMB_THREADS, out, ids, table, N,
                    C, v0, V_local);
}

void cuda_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int C,
                             int v0, int V_local)
{
    if (N > 0)
        CUDA_LAUNCH(embedding_backward_kernel, cuda_blocks(N, 1), EMB_THREADS, dtable, dout, ids,
                    N, C, v0, V_local);
}
