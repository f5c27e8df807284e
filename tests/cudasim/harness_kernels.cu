/* harness_kernels: kernels compiled only into test_harness, to show what the CPU test runtime
 * catches: a tree reduction with and without the barrier after filling shared memory, a
 * deadlock, a warp operation with a wrong mask, and the exact lane arithmetic of shuffles. */
#include "kernels/cuda/cuda_compat.h"

extern "C" {
void harness_tree_sum(float *out, const float *x, int nblocks, int broken);
void harness_shuffles(int *out, double *dout, unsigned *ballots);
void harness_deadlock(void);
void harness_bad_mask(void);
}

/* out[b] = Σ of the 256 values of block b; broken leaves out the first __syncthreads */
__global__ void tree_sum_kernel(float *out, const float *x, int broken)
{
    __shared__ float s[256];
    int t = threadIdx.x;
    s[t] = x[blockIdx.x * 256 + t];
    if (!broken)
        __syncthreads();
    for (int o = 128; o > 0; o >>= 1) {
        if (t < o)
            s[t] += s[t + o];
        __syncthreads();
    }
    if (t == 0)
        out[blockIdx.x] = s[0];
}

void harness_tree_sum(float *out, const float *x, int nblocks, int broken)
{
    CUDA_LAUNCH(tree_sum_kernel, nblocks, 256, out, x, broken);
}

/* Per thread, 6 shuffle results into out[tid * 6 ..], a shuffled double, a ballot per warp. */
__global__ void shuffles_kernel(int *out, double *dout, unsigned *ballots)
{
    int t = blockIdx.x * blockDim.x + threadIdx.x, lane = threadIdx.x % 32;
    int v = lane * 10;
    int *o = out + t * 6;
    o[0] = __shfl_down_sync(FULL_MASK, v, 3);
    o[1] = __shfl_up_sync(FULL_MASK, v, 5);
    o[2] = __shfl_xor_sync(FULL_MASK, v, 6);
    o[3] = __shfl_sync(FULL_MASK, v, 7, 8);
    o[4] = __shfl_down_sync(FULL_MASK, v, 2, 8);
    o[5] = __shfl_sync(FULL_MASK, v, lane + 33); /* source lane taken modulo 32 */
    dout[t] = __shfl_xor_sync(FULL_MASK, lane + 0.25, 16);
    unsigned b = __ballot_sync(FULL_MASK, lane % 3 == 0);
    if (lane == 0)
        ballots[t / 32] = b;
}

void harness_shuffles(int *out, double *dout, unsigned *ballots)
{
    CUDA_LAUNCH(shuffles_kernel, 2, 64, out, dout, ballots);
}

/* Half of each warp waits at __syncthreads, the other half at a shuffle: no progress. */
__global__ void deadlock_kernel(int unused)
{
    if (threadIdx.x % 32 < 16)
        __syncthreads();
    else
        unused = __shfl_xor_sync(FULL_MASK, unused, 1);
}

void harness_deadlock(void)
{
    CUDA_LAUNCH(deadlock_kernel, 1, 64, 0);
}

/* A shuffle whose mask names 16 lanes while all 32 take part. */
__global__ void bad_mask_kernel(int v)
{
    v = __shfl_xor_sync(0xffffu, v, 1);
    (void)v;
}

void harness_bad_mask(void)
{
    CUDA_LAUNCH(bad_mask_kernel, 1, 32, 1);
}
