/* cudastub: stand-ins for the cudart, cuBLAS and cuBLASLt calls lib/backend_cuda.c makes, so
 * that the CUDA backend's host code runs end to end on a machine without a GPU (tests only,
 * never linked into the product; docs/cuda.md, What is verified where). "Device" memory is
 * host memory with bookkeeping: every copy, memset and GEMM operand is checked against the
 * live allocations (direction, bounds, use after free), and freed blocks are poisoned with NaN
 * and never reused, so a kernel reading one computes NaN. Streams run synchronously.
 * Knobs (environment): PICOTRON_CUDASTUB_DEVICES=n (0: cudaGetDeviceCount fails with
 * cudaErrorNoDevice), PICOTRON_CUDASTUB_MEM_MIB (device memory, default 16384),
 * PICOTRON_CUDASTUB_DISCRETE=1 (pointer attributes say device memory, as on a discrete GPU). */
#ifndef PICOTRON_CUDASTUB_H
#define PICOTRON_CUDASTUB_H

#include <stddef.h>

/* Stop the test with one line naming the call and what it did wrong. */
_Noreturn void cudastub_fail(const char *call, const char *fmt, ...);

/* 1 when [p, p + bytes) lies inside one live device allocation. */
int cudastub_is_device(const void *p, size_t bytes);

/* Fail unless [p, p + bytes) is inside one live device allocation (what: the operand). */
void cudastub_check_device(const char *call, const char *what, const void *p, size_t bytes);

#endif
