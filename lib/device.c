/* device: environment.device → a backend. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "device.h"
#include "launch.h"

int device_select(const Config *cfg, int world, int say, const Backend **be, Error *err)
{
    const char *want = cfg->environment.device;
    *be = backend_cpu();
    /* a build without CUDA has nothing to say under auto: its user chose the CPU */
    if (!strcmp(want, "cpu") || (!strcmp(want, "auto") && !backend_cuda_built()))
        return PT_OK;
    char why[256];
    const char *what = "no CUDA device: ";
    int local = launch_local_rank();
    const Backend *gpu = backend_cuda(local, cfg->environment.allow_tf32, why, sizeof why);
    if (gpu && world > 1 && !gpu->mpi_buffers) {
        what = "";
        snprintf(why, sizeof why, "%d ranks on CUDA need a device-aware comm (NCCL), which "
                 "picotron does not have yet", world);
        gpu = NULL;
    }
    if (gpu) {
        *be = gpu;
        return PT_OK;
    }
    if (!strcmp(want, "cuda"))
        return err_set(err, PT_EINPUT, "environment.device is cuda but %s%s", what, why);
    if (say)
        fprintf(stderr, "%s: %s%s" DEVICE_FALLBACK_NOTE "\n", program_invocation_short_name,
                what, why);
    return PT_OK;
}
