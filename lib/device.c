/* device: environment.device → a backend. */
#include <stdio.h>
#include <string.h>

#include "device.h"
#include "launch.h"

int device_select(const Config *cfg, int world, int say, const Backend **be, Error *err)
{
    const char *want = cfg->environment.device;
    *be = backend_cpu();
    if (!strcmp(want, "cpu"))
        return PT_OK;
    char why[256];
    int local = launch_local_rank();
    const Backend *gpu = backend_cuda(local, cfg->environment.allow_tf32, why, sizeof why);
    if (gpu && world > 1 && !gpu->mpi_buffers) {
        snprintf(why, sizeof why, "%d ranks on CUDA need a device-aware comm (NCCL), which "
                 "picotron does not have yet", world);
        gpu = NULL;
    } else if (!gpu) {
        char reason[256];
        snprintf(reason, sizeof reason, "no CUDA device: %s", why);
        snprintf(why, sizeof why, "%s", reason);
    }
    if (gpu) {
        *be = gpu;
        return PT_OK;
    }
    if (!strcmp(want, "cuda"))
        return err_set(err, PT_EINPUT, "environment.device is cuda but %s", why);
    if (say)
        fprintf(stderr, "picotron-train: %s — running on the CPU (environment.device auto)\n",
                why);
    return PT_OK;
}
