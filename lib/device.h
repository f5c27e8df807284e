/* device: which backend a rank computes on — environment.device against the GPUs of its
 * node (docs/cuda.md, Device selection). */
#ifndef PICOTRON_DEVICE_H
#define PICOTRON_DEVICE_H

#include "backend.h"
#include "config.h"
#include "error.h"

/* The backend for this rank of a job of `world` ranks: the CPU for "cpu"; the GPU of this
 * rank's local rank for "cuda" (none usable: PT_EINPUT naming why) and for "auto" (none
 * usable: the CPU, and when say is set one line on stderr naming why; a build without CUDA
 * says nothing). A multi-rank run on a
 * backend the MPI comm cannot read (a discrete GPU: that needs NCCL) is refused in the same
 * way. */
int device_select(const Config *cfg, int world, int say, const Backend **be, Error *err);

/* How that line under auto ends (a tool reading a child's stderr for its error skips it). */
#define DEVICE_FALLBACK_NOTE " — running on the CPU (environment.device auto)"

#endif
