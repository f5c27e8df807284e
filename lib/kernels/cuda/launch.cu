/* launch: the stream the wrappers launch on, the launch check and the shared device scratch. */
#include "kernels/cuda/cuda_compat.h"

#include <stdlib.h>

static void *stream;
static void *scratch;
static size_t scratch_bytes;

void cuda_kernels_set_stream(void *s)
{
    stream = s;
}

void *cuda_kernels_stream(void)
{
    return stream;
}

void cuda_kernels_check(const char *kernel)
{
#ifdef __CUDACC__
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess)
        cuda_kernels_fail(kernel, cudaGetErrorString(e));
#else
    (void)kernel; /* the test runtime reports a bad launch itself */
#endif
}

void *cuda_kernels_scratch(size_t bytes)
{
    if (bytes <= scratch_bytes)
        return scratch;
#ifdef __CUDACC__
    /* cudaFree waits for the device, so no kernel still reads the old buffer */
    if (scratch)
        cudaFree(scratch);
    scratch = NULL;
    scratch_bytes = 0;
    cudaError_t e = cudaMalloc(&scratch, bytes);
    if (e != cudaSuccess)
        cuda_kernels_fail("cuda_kernels_scratch", cudaGetErrorString(e));
#else
    free(scratch);
    scratch = malloc(bytes);
    if (!scratch)
        cuda_kernels_fail("cuda_kernels_scratch", "out of memory");
#endif
    scratch_bytes = bytes;
    return scratch;
}
