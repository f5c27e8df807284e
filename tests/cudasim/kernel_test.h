/* kernel_test: what the CUDA kernel tests share. The same test source builds two ways:
 * against the CPU test runtime (device pointers are host pointers; the default) and, with
 * -DKERNEL_TEST_NATIVE, against the real CUDA runtime on a GPU (make check-gpu).
 * Comparisons are against the CPU kernels of lib/kernels/cpu, elementwise:
 *   |got − ref| ≤ rel · (|ref| + mean |ref|)
 * The mean |ref| term is the scale of the values summed into ref: a sum computed in another
 * order differs by a few ulps of that scale, not of the (possibly cancelled) result. */
#ifndef PICOTRON_KERNEL_TEST_H
#define PICOTRON_KERNEL_TEST_H

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/cuda_kernels.h"

#ifdef KERNEL_TEST_NATIVE
#include <cuda_runtime_api.h>
static inline void *dev_alloc(size_t bytes)
{
    void *p = NULL;
    ck_assert_int_eq(cudaMalloc(&p, bytes ? bytes : 1), cudaSuccess);
    return p;
}
static inline void dev_put(void *d, const void *h, size_t bytes)
{
    ck_assert_int_eq(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice), cudaSuccess);
}
static inline void dev_get(void *h, const void *d, size_t bytes)
{
    ck_assert_int_eq(cudaMemcpy(h, d, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
}
static inline void dev_free(void *d) { cudaFree(d); }
/* Before main: no device is a skip (exit 77), not a list of failures. CUDA does not survive a
 * fork, so Check runs the tests in this process. */
__attribute__((constructor)) static void kt_need_gpu(void)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess || n < 1) {
        printf("skipped: no CUDA device (%s)\n", e != cudaSuccess ? cudaGetErrorString(e) : "none");
        exit(77);
    }
    setenv("CK_FORK", "no", 1);
}
#else
static inline void *dev_alloc(size_t bytes)
{
    void *p = malloc(bytes ? bytes : 1);
    ck_assert_ptr_nonnull(p);
    return p;
}
static inline void dev_put(void *d, const void *h, size_t bytes) { memcpy(d, h, bytes); }
static inline void dev_get(void *h, const void *d, size_t bytes) { memcpy(h, d, bytes); }
static inline void dev_free(void *d) { free(d); }
#endif

/* The host side's report of a failed launch: in the tests, a failed test. */
void cuda_kernels_fail(const char *kernel, const char *what)
{
    fprintf(stderr, "%s: %s\n", kernel, what);
    exit(3);
}

static uint64_t kt_rs = 1;

static inline void kt_seed(uint64_t s) { kt_rs = s; }

/* uniform in [−1, 1) */
static inline float kt_urand(void)
{
    uint64_t z = (kt_rs += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)((double)(z >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

static inline float *kt_rand(size_t n, float scale)
{
    float *p = malloc(n * sizeof(float) + 1);
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++)
        p[i] = scale * kt_urand();
    return p;
}

static inline float *kt_copy(const float *x, size_t n)
{
    float *p = malloc(n * sizeof(float) + 1);
    ck_assert_ptr_nonnull(p);
    memcpy(p, x, n * sizeof(float));
    return p;
}

/* A device copy of n host floats (or ints: any bytes). */
static inline void *kt_upload(const void *h, size_t bytes)
{
    void *d = dev_alloc(bytes);
    dev_put(d, h, bytes);
    return d;
}

/* n floats back from the device into a fresh host buffer. */
static inline float *kt_download(const float *d, size_t n)
{
    float *h = malloc(n * sizeof(float) + 1);
    ck_assert_ptr_nonnull(h);
    dev_get(h, d, n * sizeof(float));
    return h;
}

/* got vs ref as in the header comment; names the first element off. */
static inline void kt_expect_close(const char *what, const float *got, const float *ref,
                                   size_t n, double rel)
{
    double mean = 0.0;
    for (size_t i = 0; i < n; i++)
        mean += fabs(ref[i]);
    mean = n ? mean / n : 0.0;
    for (size_t i = 0; i < n; i++) {
        double tol = rel * (fabs(ref[i]) + mean);
        int ok = isnan(ref[i]) ? isnan(got[i])
               : isinf(ref[i]) ? got[i] == ref[i] : fabs((double)got[i] - ref[i]) <= tol;
        if (!ok) /* (a ck_assert per element would cost Check a write each) */
            ck_abort_msg("%s[%zu]: got %.9g, CPU %.9g (tolerance %.3g)", what, i, got[i], ref[i],
                         tol);
    }
}

/* Download d (n floats), compare with ref, free the host copy. */
static inline void kt_check(const char *what, const float *d, const float *ref, size_t n,
                            double rel)
{
    float *got = kt_download(d, n);
    kt_expect_close(what, got, ref, n, rel);
    free(got);
}

/* fp32 tolerance of every kernel test: results agree with the CPU kernels to 1e-5 relative
 * (of the scale above). Each output is a short chain of fp32 operations or a sum computed in
 * another order; either differs by a few units of 2⁻²⁴ ≈ 6e-8 times √terms. */
#define FP32_REL 1e-5

#endif
