/* cudasim: runs CUDA kernel source on the CPU, for tests only (never in the product).
 * Force-included by g++ (-x c++ -include tests/cudasim/cudasim.h) in front of an unchanged .cu
 * file: the CUDA keywords become plain C++, and a launch runs every block's threads as fibers.
 * __syncthreads is a barrier of the block's fibers; warp shuffles, ballots and __syncwarp are a
 * barrier of the warp's fibers at which the scheduler exchanges the lanes' values; __shared__
 * variables are per OS thread, so per block. Between two barriers each fiber runs alone, in the
 * order chosen by CUDASIM_ORDER (forward, reverse or random[:seed]), so a missing barrier shows
 * up as a wrong result under some order. Blocks run on CUDASIM_THREADS OS threads (default 2).
 * docs/cuda-kernels.md says what this cannot show. */
#ifndef CUDASIM_H
#define CUDASIM_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus

struct uint3 {
    unsigned x, y, z;
};
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};

/* The running fiber's thread index and its block's coordinates (set by the scheduler). */
extern __thread const uint3 *cudasim_thread_idx;
extern __thread uint3 cudasim_block_idx, cudasim_block_dim, cudasim_grid_dim;
#define threadIdx (*cudasim_thread_idx)
#define blockIdx cudasim_block_idx
#define blockDim cudasim_block_dim
#define gridDim cudasim_grid_dim
#define warpSize 32

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __shared__ static __thread

/* The barriers. A warp operation deposits this lane's bits and waits for the whole warp. */
enum cudasim_warp_op { CUDASIM_SYNCWARP, CUDASIM_SHFL, CUDASIM_SHFL_XOR, CUDASIM_SHFL_DOWN,
                       CUDASIM_SHFL_UP, CUDASIM_BALLOT };
void __syncthreads(void);
int __syncthreads_count(int pred); /* the barrier, returning how many threads gave pred ≠ 0 */
inline int __syncthreads_or(int pred) { return __syncthreads_count(pred) != 0; }
inline int __syncthreads_and(int pred) { return __syncthreads_count(pred) == (int)(blockDim.x * blockDim.y * blockDim.z); }
uint64_t cudasim_warp_op(enum cudasim_warp_op op, unsigned mask, uint64_t bits, int arg,
                         int width);

inline void __syncwarp(unsigned mask = 0xffffffffu)
{
    cudasim_warp_op(CUDASIM_SYNCWARP, mask, 0, 0, 32);
}
inline unsigned __ballot_sync(unsigned mask, int pred)
{
    return (unsigned)cudasim_warp_op(CUDASIM_BALLOT, mask, pred != 0, 0, 32);
}
inline int __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline int __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == mask; }

template <class T> inline T cudasim_shfl(enum cudasim_warp_op op, unsigned mask, T v, int arg,
                                         int width)
{
    static_assert(sizeof(T) <= 8, "shuffle of more than 8 bytes");
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    bits = cudasim_warp_op(op, mask, bits, arg, width);
    memcpy(&v, &bits, sizeof v);
    return v;
}
template <class T> inline T __shfl_sync(unsigned mask, T v, int src, int width = 32)
{
    return cudasim_shfl(CUDASIM_SHFL, mask, v, src, width);
}
template <class T> inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32)
{
    return cudasim_shfl(CUDASIM_SHFL_XOR, mask, v, lane_mask, width);
}
template <class T> inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    return cudasim_shfl(CUDASIM_SHFL_DOWN, mask, v, (int)delta, width);
}
template <class T> inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    return cudasim_shfl(CUDASIM_SHFL_UP, mask, v, (int)delta, width);
}

/* Intrinsics the kernels use, with their exact (not fast-math) meaning. */
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline unsigned __float_as_uint(float x) { unsigned u; memcpy(&u, &x, 4); return u; }
inline float __uint_as_float(unsigned u) { float x; memcpy(&x, &u, 4); return x; }

/* A launch: body(arg) runs once per CUDA thread. A failed launch (bad configuration, a
 * deadlock at a barrier, a warp operation not reached by the whole warp) is reported through
 * cuda_kernels_fail. */
void cudasim_run(const char *name, dim3 grid, dim3 block, void (*body)(const void *),
                 const void *arg);
template <class F> void cudasim_launch(const char *name, dim3 grid, dim3 block, const F &f)
{
    cudasim_run(name, grid, block, [](const void *p) { (*(const F *)p)(); }, &f);
}

#endif /* __cplusplus */
#endif
