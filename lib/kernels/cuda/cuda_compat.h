/* cuda_compat: included first by every .cu file. Under nvcc it brings the CUDA runtime and
 * launches with <<<grid, block, 0, stream>>>; compiled by g++ for the tests, the force-included
 * tests/cudasim/cudasim.h has already defined the CUDA keywords, and a launch runs the kernel
 * on the CPU through the test runtime. Also the device helpers every kernel file shares. */
#ifndef PICOTRON_CUDA_COMPAT_H
#define PICOTRON_CUDA_COMPAT_H

#include <math.h>
#include <stdint.h>

#include "kernels/cuda/cuda_kernels.h"

#ifdef __CUDACC__
#include <cuda_runtime.h>
#define CUDA_LAUNCH(kernel, grid, block, ...)                                                \
    do {                                                                                     \
        kernel<<<(grid), (block), 0, (cudaStream_t)cuda_kernels_stream()>>>(__VA_ARGS__);    \
        cuda_kernels_check(#kernel);                                                         \
    } while (0)
#elif defined(CUDASIM_H)
#define CUDA_LAUNCH(kernel, grid, block, ...)                                                \
    cudasim_launch(#kernel, (grid), (block), [=] { kernel(__VA_ARGS__); })
#else
#error "compile .cu files with nvcc, or with g++ -include tests/cudasim/cudasim.h"
#endif

/* launch.cu: the stream of cuda_kernels_set_stream; the launch check (cudaGetLastError, then
 * cuda_kernels_fail); device scratch that grows on demand and lives until exit (one stream at
 * a time: a launch reusing it is ordered after the previous one on that stream). */
void *cuda_kernels_stream(void);
void cuda_kernels_check(const char *kernel);
void *cuda_kernels_scratch(size_t bytes);

/* Blocks for n items at per items each, clamped to CUDA's grid limit (kernels loop with a
 * grid-sized stride past it). */
static inline unsigned cuda_blocks(int64_t n, int per)
{
    int64_t b = (n + per - 1) / per;
    return (unsigned)(b < 1 ? 1 : (b > 1048576 ? 1048576 : b));
}

#define FULL_MASK 0xffffffffu

/* Sums and maxima over a warp, the same value in every lane: xor butterfly, a fixed order. */
__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}
__device__ __forceinline__ double warp_sum_double(double v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

/* Block-wide sum / max (blockDim.x a multiple of 32, at most 1024), returned to every thread.
 * Each warp reduces, then warp 0 reduces the warp results: a fixed order. Uses one shared
 * array; the trailing barrier makes back-to-back calls safe. */
__device__ __forceinline__ float block_sum(float v)
{
    __shared__ float part[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    v = warp_sum(v);
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    v = lane < nwarps ? part[lane] : 0.0f;
    v = warp_sum(v);
    __syncthreads();
    return v;
}
__device__ __forceinline__ double block_sum_double(double v)
{
    __shared__ double partd[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    v = warp_sum_double(v);
    if (lane == 0)
        partd[warp] = v;
    __syncthreads();
    v = lane < nwarps ? partd[lane] : 0.0;
    v = warp_sum_double(v);
    __syncthreads();
    return v;
}
__device__ __forceinline__ float block_max(float v)
{
    __shared__ float partm[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    v = warp_max(v);
    if (lane == 0)
        partm[warp] = v;
    __syncthreads();
    v = lane < nwarps ? partm[lane] : -INFINITY;
    v = warp_max(v);
    __syncthreads();
    return v;
}

/* bf16 as uint16_t bits: round to nearest even, NaN stays a (quiet) NaN. */
__device__ __forceinline__ uint16_t f32_to_bf16(float x)
{
    unsigned u = __float_as_uint(x);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
__device__ __forceinline__ float bf16_to_f32(uint16_t h)
{
    return __uint_as_float((unsigned)h << 16);
}

#endif
