/* cuda_kernels: the hand-written CUDA kernels, one host wrapper per kernel of kernels/kernels.h
 * (less the host-machine functions, the GEMMs and the CPU-internal block helpers). Every wrapper
 * has the parameter list and contract of its namesake in kernels.h — what is overwritten and
 * what accumulated, causal masks by global position, padding columns — with all pointers
 * device pointers. Launches go on the stream set by cuda_kernels_set_stream and are checked;
 * a failed launch calls cuda_kernels_fail, which the host side provides.
 * Every kernel is deterministic: reductions run in a fixed order whatever the launch
 * configuration, and no kernel uses atomics. docs/cuda-kernels.md lists the kernels. */
#ifndef PICOTRON_CUDA_KERNELS_H
#define PICOTRON_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The cudaStream_t every wrapper launches on (NULL: the default stream). */
void cuda_kernels_set_stream(void *stream);
/* Provided by the host side: report a failed launch of kernel (what: the CUDA error string)
 * and stop. Must not return. */
void cuda_kernels_fail(const char *kernel, const char *what);

/* Casts for mixed precision: bf16 as uint16_t bits, round to nearest even, NaN stays NaN. */
void cuda_cast_f32_to_bf16(uint16_t *out, const float *x, int64_t n);
void cuda_cast_bf16_to_f32(float *out, const uint16_t *x, int64_t n);

/* y += x over n elements. */
void cuda_add_inplace(float *y, const float *x, int64_t n);
/* *out = Σ x² and Σ x in double, written to device memory: chunks of 65536 elements, each
 * summed in a fixed order, then the chunk sums in a fixed order (independent of the launch). */
void cuda_sum_squares(double *out, const float *x, int64_t n);
void cuda_sum(double *out, const float *x, int64_t n);

/* RMSNorm (kernels.h): forward overwrites out, rstd; backward dx += , dw += (dw summed over
 * chunks of 64 tokens in token order, then the chunks in order, as on the CPU). */
void cuda_rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C,
                          float eps);
void cuda_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                           const float *rstd, int N, int C);
/* The residual add fused into the next norm: x += branch (x the fp32 residual stream, N×C),
 * then the forward above on the updated x. */
void cuda_add_rmsnorm_forward(float *x, const float *branch, float *out, float *rstd,
                              const float *w, int N, int C, float eps);

/* RoPE in place, rotate-half layout, token t at global position pos0 + t. */
void cuda_rope_forward(float *x, int B, int T, int nh, int D, int pos0, double theta);
void cuda_rope_backward(float *dx, int B, int T, int nh, int D, int pos0, double theta);

/* SwiGLU: out = silu(a) ⊙ b; backward overwrites da, db. */
void cuda_swiglu_forward(float *out, const float *a, const float *b, int64_t n);
void cuda_swiglu_backward(float *da, float *db, const float *dout, const float *a,
                          const float *b, int64_t n);

/* Embedding of the vocabulary slice [v0, v0 + V_local); ids outside give zero rows. The
 * backward adds each dout row into its table row in token order (no atomics). */
void cuda_embedding_forward(float *out, const int32_t *ids, const float *table, int N, int C,
                            int v0, int V_local);
void cuda_embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int C,
                             int v0, int V_local);

/* Vocab-parallel cross-entropy pieces (kernels.h): mx, z, zt, loss (N) in device memory. */
void cuda_ce_max(float *mx, const float *logits, int N, int V_local, int V_valid);
void cuda_ce_sumexp(float *z, const float *logits, const float *mx, int N, int V_local,
                    int V_valid);
void cuda_ce_target(float *zt, const float *logits, const int32_t *targets, int N, int V_local,
                    int v0);
void cuda_ce_backward(float *logits, float *loss, const float *mx, const float *z,
                      const float *zt, const int32_t *targets, int N, int V_local, int V_valid,
                      int v0, float scale);

/* AdamW (PyTorch semantics) on n elements, p m v in place. The _bf16copy variant also writes
 * p_bf16[i] = bf16(p[i]) of the updated weight (round to nearest even): phase 2's compute copy. */
void cuda_adamw_update(float *p, float *m, float *v, const float *g, int64_t n, float lr,
                       float beta1, float beta2, float eps, float wd, float bc1, float bc2);
void cuda_adamw_update_bf16copy(float *p, uint16_t *p_bf16, float *m, float *v, const float *g,
                                int64_t n, float lr, float beta1, float beta2, float eps,
                                float wd, float bc1, float bc2);

/* Causal GQA attention (kernels.h). Head dim D ≤ 128. The backward needs B·H·T floats of
 * scratch (Δ), allocated by the wrapper on first use. */
void cuda_attention_forward(float *out, float *lse, const float *q, const float *k,
                            const float *v, int B, int T, int H, int K, int D);
void cuda_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                             const float *k, const float *v, const float *out, const float *lse,
                             int B, int T, int H, int K, int D);

/* Ring attention's compute (kernels.h). q_chunks, k_chunks are HOST arrays of two ints. */
void cuda_ring_forward_init(float *m, float *l, float *acc, int64_t rows, int D);
void cuda_ring_forward_step(float *m, float *l, float *acc, const float *q, const float *k,
                            const float *v, int B, int T, int H, int K, int D,
                            const int q_chunks[2], const int k_chunks[2]);
void cuda_ring_forward_finish(float *out, float *lse, const float *m, const float *l,
                              const float *acc, int B, int T, int H, int D);
void cuda_ring_backward_delta(float *delta, const float *out, const float *dout, int B, int T,
                              int H, int D);
void cuda_ring_backward_step(float *dq, float *dk, float *dv, const float *q, const float *dout,
                             const float *delta, const float *lse, const float *k,
                             const float *v, int B, int T, int H, int K, int D,
                             const int q_chunks[2], const int k_chunks[2]);

/* bf16 variants (phase 2: bf16 activations). bf16 tensors are uint16_t bits; the math is
 * fp32 and each bf16 store rounds to nearest even. What stays fp32 is named float: the
 * residual stream, norm statistics (rstd), weights and weight gradients.
 *   rmsnorm: x (residual, fp32) → out bf16; backward: dy bf16 → dx += (fp32), dw += (fp32);
 *            add_rmsnorm: x (fp32) += branch (bf16), then out bf16
 *   swiglu, rope: every tensor bf16 (rope in place)
 *   add_inplace: y (fp32 residual) += x (bf16 branch output)
 *   attention (whole sequence): q, k, v, out and their gradients bf16; lse fp32
 *   ring steps: q, k, v, out, dout bf16; state, statistics and dq, dk, dv fp32
 *   cross-entropy: logits and dlogits bf16; statistics and loss fp32 */
void cuda_rmsnorm_forward_bf16(uint16_t *out, float *rstd, const float *x, const float *w, int N,
                               int C, float eps);
void cuda_rmsnorm_backward_bf16(float *dx, float *dw, const uint16_t *dy, const float *x,
                                const float *w, const float *rstd, int N, int C);
void cuda_add_rmsnorm_forward_bf16(float *x, const uint16_t *branch, uint16_t *out, float *rstd,
                                   const float *w, int N, int C, float eps);
void cuda_swiglu_forward_bf16(uint16_t *out, const uint16_t *a, const uint16_t *b, int64_t n);
void cuda_swiglu_backward_bf16(uint16_t *da, uint16_t *db, const uint16_t *dout,
                               const uint16_t *a, const uint16_t *b, int64_t n);
void cuda_rope_forward_bf16(uint16_t *x, int B, int T, int nh, int D, int pos0, double theta);
void cuda_rope_backward_bf16(uint16_t *dx, int B, int T, int nh, int D, int pos0, double theta);
void cuda_add_inplace_bf16(float *y, const uint16_t *x, int64_t n);
/* Cross-entropy on bf16 logits (dlogits written over them in bf16); mx, z, zt, loss fp32. */
void cuda_ce_max_bf16(float *mx, const uint16_t *logits, int N, int V_local, int V_valid);
void cuda_ce_sumexp_bf16(float *z, const uint16_t *logits, const float *mx, int N, int V_local,
                         int V_valid);
void cuda_ce_target_bf16(float *zt, const uint16_t *logits, const int32_t *targets, int N,
                         int V_local, int v0);
void cuda_ce_backward_bf16(uint16_t *logits, float *loss, const float *mx, const float *z,
                           const float *zt, const int32_t *targets, int N, int V_local,
                           int V_valid, int v0, float scale);
/* Whole-sequence attention on bf16 q, k, v, out, dout, dq, dk, dv; lse fp32. */
void cuda_attention_forward_bf16(uint16_t *out, float *lse, const uint16_t *q, const uint16_t *k,
                                 const uint16_t *v, int B, int T, int H, int K, int D);
void cuda_attention_backward_bf16(uint16_t *dq, uint16_t *dk, uint16_t *dv, const uint16_t *dout,
                                  const uint16_t *q, const uint16_t *k, const uint16_t *v,
                                  const uint16_t *out, const float *lse, int B, int T, int H,
                                  int K, int D);
/* Ring steps on bf16 q, k, v, out, dout. The state m, l, acc, the statistics lse, Δ and the
 * gradients dq, dk, dv (accumulated over the ring's steps, travelling with the block) are fp32. */
void cuda_ring_forward_step_bf16(float *m, float *l, float *acc, const uint16_t *q,
                                 const uint16_t *k, const uint16_t *v, int B, int T, int H,
                                 int K, int D, const int q_chunks[2], const int k_chunks[2]);
void cuda_ring_forward_finish_bf16(uint16_t *out, float *lse, const float *m, const float *l,
                                   const float *acc, int B, int T, int H, int D);
void cuda_ring_backward_delta_bf16(float *delta, const uint16_t *out, const uint16_t *dout, int B,
                                   int T, int H, int D);
void cuda_ring_backward_step_bf16(float *dq, float *dk, float *dv, const uint16_t *q,
                                  const uint16_t *dout, const float *delta, const float *lse,
                                  const uint16_t *k, const uint16_t *v, int B, int T, int H,
                                  int K, int D, const int q_chunks[2], const int k_chunks[2]);

#ifdef __cplusplus
}
#endif

#endif
