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

/* Reductions over a warp and over a block (blockDim.x a multiple of 32, at most 1024), the
 * result in every thread, in a fixed order: an xor butterfly within each warp, then warp 0
 * over the warps' results. The block version's trailing barrier makes back-to-back calls
 * safe. op is op_sum or op_max. */
struct op_sum {
    template <class T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct op_max {
    __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

template <class T, class Op> __device__ __forceinline__ T warp_reduce(T v, Op op)
{
    for (int o = 16; o > 0; o >>= 1)
        v = op(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

template <class T, class Op> __device__ __forceinline__ T block_reduce(T v, Op op, T identity)
{
    __shared__ T part[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
    v = warp_reduce(v, op);
    if (lane == 0)
        part[warp] = v;
    __syncthreads();
    v = warp_reduce(lane < nwarps ? part[lane] : identity, op);
    __syncthreads();
    return v;
}

__device__ __forceinline__ float warp_sum(float v) { return warp_reduce(v, op_sum()); }
__device__ __forceinline__ float warp_max(float v) { return warp_reduce(v, op_max()); }
__device__ __forceinline__ float block_sum(float v) { return block_reduce(v, op_sum(), 0.0f); }
__device__ __forceinline__ double block_sum_double(double v)
{
    return block_reduce(v, op_sum(), 0.0);
}
__device__ __forceinline__ float block_max(float v)
{
    return block_reduce(v, op_max(), -INFINITY);
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

/* Typed access for kernels templated on their activation type: fp32, or bf16 bits (fp32 math,
 * rounded to nearest even on store). */
__device__ __forceinline__ float ld(const float *p) { return *p; }
__device__ __forceinline__ float ld(const uint16_t *p) { return bf16_to_f32(*p); }
__device__ __forceinline__ void st(float *p, float v) { *p = v; }
__device__ __forceinline__ void st(uint16_t *p, float v) { *p = f32_to_bf16(v); }

#endif
