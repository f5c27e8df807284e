/* ring_attention: causal attention over a sequence split across the cp ranks with the
 * load-balanced causal split (mesh_cp_chunks: rank r holds chunks r and 2·cp−1−r of T/2 tokens
 * each, so all ranks do the same work under the causal mask). K/V blocks travel around the
 * ring with their kv-heads unexpanded; each rank folds every visiting block into its queries'
 * online-softmax state. In backward the block travels with its partial dK/dV, which every rank
 * adds to, and arrives back at its owner after cp hops. docs/math.md, Ring attention. */
#ifndef PICOTRON_RING_ATTENTION_H
#define PICOTRON_RING_ATTENTION_H

#include <stddef.h>

#include "backend.h"
#include "comm.h"

/* Floats of scratch the two calls need for these local shapes. */
size_t ring_attention_scratch_floats(int B, int T, int H, int K, int D);

/* Shapes as attention_forward / attention_backward (kernels.h), T = local tokens; the
 * compute runs on backend be, scratch is a device buffer of the size above. */
void ring_attention_forward(const Backend *be, float *out, float *lse, const float *q,
                            const float *k, const float *v, int B, int T, int H, int K, int D,
                            const Comm *cp, float *scratch);
void ring_attention_backward(const Backend *be, float *dq, float *dk, float *dv,
                             const float *dout, const float *q, const float *k, const float *v,
                             const float *out, const float *lse, int B, int T, int H, int K,
                             int D, const Comm *cp, float *scratch);

#endif
