/* cudart stand-in: devices, device memory with bookkeeping, copies and memsets (synchronous),
 * streams and events (tests/cudastub/cudastub.h). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>

#include "cudastub.h"

typedef struct {
    char *p;
    size_t n;
    int live;
} Block;

static Block *blocks;
static size_t nblocks, cap_blocks, used;
static cudaError_t last_error = cudaSuccess;
static int current_device;

_Noreturn void cudastub_fail(const char *call, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cudastub: %s: ", call);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}

static long env_long(const char *name, long dflt)
{
    const char *s = getenv(name);
    return s && *s ? strtol(s, NULL, 10) : dflt;
}

static size_t capacity(void)
{
    return (size_t)env_long("PICOTRON_CUDASTUB_MEM_MIB", 16384) << 20;
}

/* The block holding [p, p + bytes), live or freed; NULL when p is not device memory. */
static const Block *find(const void *p, size_t bytes)
{
    const char *c = p;
    for (size_t i = 0; i < nblocks; i++)
        if (c >= blocks[i].p && c < blocks[i].p + (blocks[i].n ? blocks[i].n : 1))
            return (size_t)(blocks[i].p + blocks[i].n - c) >= bytes ? &blocks[i] : NULL;
    return NULL;
}

/* Inside any block ever allocated (live or freed). */
static int in_any_block(const void *p)
{
    const char *c = p;
    for (size_t i = 0; i < nblocks; i++)
        if (c >= blocks[i].p && c < blocks[i].p + (blocks[i].n ? blocks[i].n : 1))
            return 1;
    return 0;
}

int cudastub_is_device(const void *p, size_t bytes)
{
    const Block *b = find(p, bytes);
    return b && b->live;
}

void cudastub_check_device(const char *call, const char *what, const void *p, size_t bytes)
{
    if (!p)
        cudastub_fail(call, "%s is NULL", what);
    const Block *b = find(p, bytes);
    if (b && !b->live)
        cudastub_fail(call, "%s %p (%zu bytes) is in freed device memory", what, p, bytes);
    if (!b)
        cudastub_fail(call, "%s %p (%zu bytes) is not inside one device allocation%s", what, p,
                      bytes, in_any_block(p) ? " (runs past its end)" : " (host memory?)");
}

static void check_host(const char *call, const char *what, const void *p)
{
    if (!p)
        cudastub_fail(call, "%s is NULL", what);
    if (in_any_block(p))
        cudastub_fail(call, "%s %p is device memory where host memory belongs", what, p);
}

static cudaError_t fail_with(cudaError_t e)
{
    last_error = e;
    return e;
}

/* ---- devices ---- */

cudaError_t cudaGetDeviceCount(int *count)
{
    long n = env_long("PICOTRON_CUDASTUB_DEVICES", 1);
    if (n <= 0)
        return fail_with(cudaErrorNoDevice); /* count left alone, as the real one does */
    *count = (int)n;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || device < 0 || device >= n)
        return fail_with(cudaErrorInvalidDevice);
    current_device = device;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || device < 0 || device >= n)
        return fail_with(cudaErrorInvalidDevice);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "cudastub device %d (host memory)", device);
    prop->major = 9;
    prop->minor = 0;
    prop->totalGlobalMem = capacity();
    prop->multiProcessorCount = 1;
    prop->warpSize = 32;
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total)
{
    *total = capacity();
    *free_b = used < *total ? *total - used : 0;
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void)
{
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError(void)
{
    return last_error;
}

const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidValue: return "invalid argument";
    default: return "cudastub: unexpected error";
    }
}

/* ---- memory ---- */

cudaError_t cudaMalloc(void **p, size_t bytes)
{
    if (bytes > capacity() || used + bytes > capacity())
        return fail_with(cudaErrorMemoryAllocation);
    if (nblocks == cap_blocks) {
        cap_blocks = cap_blocks ? 2 * cap_blocks : 256;
        blocks = realloc(blocks, cap_blocks * sizeof *blocks);
        if (!blocks)
            cudastub_fail("cudaMalloc", "host out of memory for the bookkeeping");
    }
    size_t rounded = (bytes + 255) / 256 * 256; /* cudaMalloc aligns to 256 bytes */
    char *m = aligned_alloc(256, rounded ? rounded : 256);
    if (!m)
        return fail_with(cudaErrorMemoryAllocation);
    memset(m, 0xA5, rounded ? rounded : 256); /* cudaMalloc does not zero: neither do we */
    blocks[nblocks++] = (Block){m, bytes, 1};
    used += bytes;
    *p = m;
    return cudaSuccess;
}

/* Freed blocks keep their addresses (never reused) and read as NaN. */
cudaError_t cudaFree(void *p)
{
    if (!p)
        return cudaSuccess;
    for (size_t i = 0; i < nblocks; i++)
        if (blocks[i].p == p) {
            if (!blocks[i].live)
                cudastub_fail("cudaFree", "%p freed twice", p);
            memset(p, 0xFF, blocks[i].n);
            blocks[i].live = 0;
            used -= blocks[i].n;
            return cudaSuccess;
        }
    cudastub_fail("cudaFree", "%p is not the start of a device allocation", p);
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t stream)
{
    (void)stream;
    cudastub_check_device("cudaMemsetAsync", "destination", p, bytes);
    memset(p, value, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind,
                            cudaStream_t stream)
{
    (void)stream;
    const char *call = "cudaMemcpyAsync";
    switch (kind) {
    case cudaMemcpyHostToDevice:
        check_host(call, "host-to-device source", src);
        cudastub_check_device(call, "host-to-device destination", dst, bytes);
        break;
    case cudaMemcpyDeviceToHost:
        cudastub_check_device(call, "device-to-host source", src, bytes);
        check_host(call, "device-to-host destination", dst);
        break;
    case cudaMemcpyDeviceToDevice:
        cudastub_check_device(call, "device-to-device source", src, bytes);
        cudastub_check_device(call, "device-to-device destination", dst, bytes);
        break;
    default:
        cudastub_fail(call, "kind %d: the backend names every copy's direction", (int)kind);
    }
    const char *s = src, *d = dst;
    if (bytes && ((d < s + bytes && s < d + bytes)))
        cudastub_fail(call, "source and destination overlap");
    memcpy(dst, src, bytes);
    return cudaSuccess;
}

cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes *attr, const void *p)
{
    memset(attr, 0, sizeof *attr);
    if (!cudastub_is_device(p, 1)) {
        attr->type = cudaMemoryTypeUnregistered;
        return cudaSuccess;
    }
    int discrete = env_long("PICOTRON_CUDASTUB_DISCRETE", 0) != 0;
    attr->type = discrete ? cudaMemoryTypeDevice : cudaMemoryTypeManaged;
    attr->device = current_device;
    attr->devicePointer = (void *)p;
    attr->hostPointer = discrete ? NULL : (void *)p;
    return cudaSuccess;
}

/* ---- streams and events: work runs when it is issued ---- */

static int the_stream;

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags)
{
    (void)flags;
    *stream = (cudaStream_t)&the_stream;
    return cudaSuccess;
}

cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
    (void)stream;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    (void)stream;
    return cudaSuccess;
}

typedef struct {
    double t;
    int recorded;
} Event;

cudaError_t cudaEventCreate(cudaEvent_t *event)
{
    Event *e = calloc(1, sizeof *e);
    if (!e)
        return fail_with(cudaErrorMemoryAllocation);
    *event = (cudaEvent_t)e;
    return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event)
{
    free(event);
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
{
    (void)stream;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    Event *e = (Event *)event;
    e->t = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    e->recorded = 1;
    return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event)
{
    if (!((Event *)event)->recorded)
        cudastub_fail("cudaEventSynchronize", "event never recorded");
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
{
    const Event *a = (const Event *)start, *b = (const Event *)end;
    if (!a->recorded || !b->recorded)
        cudastub_fail("cudaEventElapsedTime", "event never recorded");
    *ms = (float)((b->t - a->t) * 1e3);
    return cudaSuccess;
}
