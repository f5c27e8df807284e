/* swiglu: the gated activation of the Llama MLP, silu(a) ⊙ b, on the vector paths (vec.h). */
#include "kernels/cpu/vec.h"
#include "kernels/kernels.h"

/* Elements per OpenMP work item: elementwise results do not depend on where a block ends
 * (vec.h), this only keeps the items large. */
#define SWIGLU_BLOCK 4096

void swiglu_forward(float *out, const float *a, const float *b, int64_t n)
{
    const VecOps *vo = vec();
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i += SWIGLU_BLOCK)
        vo->swiglu_fwd(out + i, a + i, b + i, n - i < SWIGLU_BLOCK ? n - i : SWIGLU_BLOCK);
}

void swiglu_backward(float *da, float *db, const float *dout, const float *a, const float *b,
                     int64_t n)
{
    const VecOps *vo = vec();
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i += SWIGLU_BLOCK)
        vo->swiglu_bwd(da + i, db + i, dout + i, a + i, b + i,
                       n - i < SWIGLU_BLOCK ? n - i : SWIGLU_BLOCK);
}
