/* reduce: y += x (x fp32, or bf16 bits: a bf16 branch output into the fp32 residual stream),
 * and the deterministic sums Σ x and Σ x² in double. A sum runs in two
 * launches: one block per chunk of SUM_CHUNK elements (each thread a fixed stride of the chunk,
 * then the block's fixed tree) writes the chunk sums to scratch; one block adds them the same
 * way. The order depends only on n, never on the device or the launch. */
#include "kernels/cuda/cuda_compat.h"

#define SUM_CHUNK 65536
#define SUM_THREADS 256

// budget: add_inplace_kernel regs<=32 smem<=0
template <class T>
__global__ void add_inplace_kernel(float *y, const T *x, int64_t n)
{
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        y[i] += ld(&x[i]);
}

// budget: chunk_sums_kernel regs<=40 smem<=512
__global__ void chunk_sums_kernel(double *partial, const float *x, int64_t n, int square)
{
    int64_t nchunks = (n + SUM_CHUNK - 1) / SUM_CHUNK;
    for (int64_t c = blockIdx.x; c < nchunks; c += gridDim.x) {
        int64_t end = (c + 1) * SUM_CHUNK < n ? (c + 1) * SUM_CHUNK : n;
        double s = 0.0;
        for (int64_t i = c * SUM_CHUNK + threadIdx.x; i < end; i += SUM_THREADS)
            s += square ? (double)x[i] * x[i] : (double)x[i];
        s = block_sum_double(s);
        if (threadIdx.x == 0)
            partial[c] = s;
    }
}

// budget: total_sum_kernel regs<=40 smem<=512
__global__ void total_sum_kernel(double *out, const double *partial, int64_t nchunks)
{
    double s = 0.0;
    for (int64_t c = threadIdx.x; c < nchunks; c += SUM_THREADS)
        s += partial[c];
    s = block_sum_double(s);
    if (threadIdx.x == 0)
        *out = s;
}

static void sum_launch(double *out, const float *x, int64_t n, int square)
{
    int64_t nchunks = n > 0 ? (n + SUM_CHUNK - 1) / SUM_CHUNK : 1;
    double *partial = (double *)cuda_kernels_scratch((size_t)nchunks * sizeof(double));
    if (n > 0)
        CUDA_LAUNCH(chunk_sums_kernel, cuda_blocks(nchunks, 1), SUM_THREADS, partial, x, n,
                    square);
    CUDA_LAUNCH(total_sum_kernel, 1, SUM_THREADS, out, partial, n > 0 ? nchunks : 0);
}

void cuda_add_inplace(float *y, const float *x, int64_t n)
{
    if (n > 0)
        CUDA_LAUNCH(add_inplace_kernel<float>, cuda_blocks(n, 256), 256, y, x, n);
}

void cuda_add_inplace_bf16(float *y, const uint16_t *x, int64_t n)
{
    if (n > 0)
        CUDA_LAUNCH(add_inplace_kernel<uint16_t>, cuda_blocks(n, 256), 256, y, x, n);
}

void cuda_sum_squares(double *out, const float *x, int64_t n)
{
    sum_launch(out, x, n, 1);
}

void cuda_sum(double *out, const float *x, int64_t n)
{
    sum_launch(out, x, n, 0);
}
