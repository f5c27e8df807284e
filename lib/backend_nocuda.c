/* backend_nocuda: what a build without CUDA (CUDA=0, or no nvcc) answers for the CUDA backend. */
#include <stdio.h>

#include "backend.h"

int backend_cuda_built(void)
{
    return 0;
}

const Backend *backend_cuda(int device, int allow_tf32, char *why, size_t why_len)
{
    (void)device;
    (void)allow_tf32;
    snprintf(why, why_len, "this picotron was built without CUDA (CUDA=0 or no nvcc at build "
             "time)");
    return NULL;
}
