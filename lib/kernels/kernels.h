/* kernels: the operation set every backend implements (kernels/cpu today). Each forward has
 * its backward beside it; formulas in docs/math.md. All buffers are fp32, row-major.
 * N = number of tokens (B·T) in the buffers handed over. Backward kernels ACCUMULATE into
 * weight gradients (+=) so micro-batches sum in fp32; input gradients are overwritten unless
 * the name says _acc. Every kernel gives bitwise the same result whatever the thread count
 * (on one BLAS kernel path and one vector path: another CPU, OPENBLAS_CORETYPE or
 * PICOTRON_SIMD may round differently). */
#ifndef PICOTRON_KERNELS_H
#define PICOTRON_KERNELS_H

#include <stdint.h>

/* Threads the kernels may use (OpenMP; BLAS calls run inside our loops, one tile each). */
void kernels_set_threads(int n);
/* The ceiling: best GFLOP/s of one n³ BLAS sgemm, threaded by the BLAS itself over the current
 * thread count (reps timed calls after a warm-up). */
double kernels_sgemm_peak_gflops(int n, int reps);
/* Which BLAS kernel path and vector path (PICOTRON_SIMD) this process runs, e.g. "OpenBLAS
 * Haswell, avx512 vectors". */
const char *kernels_blas_path(void);

/* Linear y = x·Wᵀ.  out (N, Cout), x (N, Cin), W (Cout, Cin). */
void matmul_forward(float *out, const float *x, const float *W, int N, int Cin, int Cout);
/* dx = dy·W (dx_acc: dx += dy·W), dW += dyᵀ·x.  dx may be NULL (not needed). */
void matmul_backward(float *dx, float *dW, const float *dy, const float *x, const float *W,
                     int N, int Cin, int Cout, int dx_acc);

/* RMSNorm.  out (N, C), rstd (N), x (N, C), w (C). */
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps);
/* dx += backward (residual streams accumulate), dw += Σ_tokens dy·x·rstd. */
void rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                      const float *rstd, int N, int C);

/* RoPE, HF rotate-half layout, in place on x (B, T, nh, D); token t of the buffer sits at
 * global position pos0 + t. Backward rotates by −θ. */
void rope_forward(float *x, int B, int T, int nh, int D, int pos0, double theta);
void rope_backward(float *dx, int B, int T, int nh, int D, int pos0, double theta);

/* Causal grouped-query attention, online-softmax form.
 * q (B, T, H, D), k v (B, T, K, D), out (B, T, H, D), lse (B, H, T) = log-sum-exp of scaled
 * scores per query row. Query head h reads kv-head h / (H/K). */
void attention_forward(float *out, float *lse, const float *q, const float *k, const float *v,
                       int B, int T, int H, int K, int D);
/* dq (B,T,H,D), dk dv (B,T,K,D) overwritten; uses out and lse from the forward. */
void attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                        const float *k, const float *v, const float *out, const float *lse,
                        int B, int T, int H, int K, int D);
/* The tile grid of attention_forward/backward: query tokens per tile (stacked over the heads
 * of a kv-group) and keys per block step. Process-wide; a size <= 0 restores the default.
 * Ring attention (cp > 1) keeps its own fixed sizes. */
#define ATTENTION_Q_TILE 64
#define ATTENTION_K_BLOCK 256
void attention_set_tiles(int q_tile, int k_block);
void attention_tiles(int *q_tile, int *k_block);

/* One block step of online softmax for rows of one head: q (Tq, qs) rows at global positions
 * qpos0.., keys/values k v (Tk, ks) at kpos0..; keys after a query are masked (causal).
 * Running m (Tq), l (Tq), acc (Tq, D) as in docs/math.md, Online softmax. Strides qs/ks in floats. */
void attention_block_forward(float *m, float *l, float *acc, const float *q, int qs, int Tq,
                             int qpos0, const float *k, const float *v, int ks, int Tk,
                             int kpos0, int D, float scale);

/* Backward of one block (the ring-attention step): rows of one head, with delta (Tq) =
 * Σ_d dO·O and lse (Tq) from the forward. dq (Tq, dqs) +=, dk dv (Tk, dks) +=. dout shares
 * q's stride qs. */
void attention_block_backward(float *dq, int dqs, float *dk, float *dv, int dks,
                              const float *q, int qs, const float *dout, const float *delta,
                              const float *lse, int Tq, int qpos0, const float *k,
                              const float *v, int ks, int Tk, int kpos0, int D, float scale);

/* Ring attention's compute on this rank's B·H·T query rows, whose two halves (chunks of T/2
 * tokens) sit at global chunk indices q_chunks[0], q_chunks[1]; a visiting K/V block (B, T, K,
 * D) holds chunks k_chunks[0], k_chunks[1]. Online-softmax state m, l (B, H, T), acc
 * (B, H, T, D); delta (B, H, T) = Σ_d dO·O.
 *   ring_forward_init:   m = −inf, l = 0, acc = 0
 *   ring_forward_step:   fold the block into the state (causal by global position)
 *   ring_forward_finish: out = acc / l, lse = m + log l
 *   ring_backward_step:  dq += , dk dv (the block's, travelling with it) += */
void ring_forward_init(float *m, float *l, float *acc, int64_t rows, int D);
void ring_forward_step(float *m, float *l, float *acc, const float *q, const float *k,
                       const float *v, int B, int T, int H, int K, int D, const int q_chunks[2],
                       const int k_chunks[2]);
void ring_forward_finish(float *out, float *lse, const float *m, const float *l,
                         const float *acc, int B, int T, int H, int D);
void ring_backward_delta(float *delta, const float *out, const float *dout, int B, int T, int H,
                         int D);
void ring_backward_step(float *dq, float *dk, float *dv, const float *q, const float *dout,
                        const float *delta, const float *lse, const float *k, const float *v,
                        int B, int T, int H, int K, int D, const int q_chunks[2],
                        const int k_chunks[2]);

/* SwiGLU: out = silu(a) ⊙ b over n elements; backward overwrites da, db. */
void swiglu_forward(float *out, const float *a, const float *b, int64_t n);
void swiglu_backward(float *da, float *db, const float *dout, const float *a, const float *b,
                     int64_t n);

/* Embedding lookup of a vocabulary slice [v0, v0 + V_local): out (N, C); ids outside the
 * slice give zero rows (vocab-parallel: the tp all-reduce completes them). */
void embedding_forward(float *out, const int32_t *ids, const float *table, int N, int C,
                       int v0, int V_local);
/* dtable += scatter of dout rows by id (ids in the slice only). */
void embedding_backward(float *dtable, const float *dout, const int32_t *ids, int N, int C,
                        int v0, int V_local);

/* Vocab-parallel cross-entropy over logits (N, V_local) of slice [v0, v0 + V_local), where
 * only the first V_valid columns are real (the rest is padding, excluded). Steps, with a tp
 * all-reduce between them in the parallel case (docs/math.md, Vocab-parallel cross-entropy):
 *   ce_max:     mx[i] = max over real local columns (−inf when none)
 *   ce_sumexp:  z[i] = Σ exp(logit − mx[i]) over real local columns
 *   ce_target:  zt[i] = logit of targets[i] if it is in the slice, else 0
 *   ce_backward: loss[i] = log z + mx − zt; logits overwritten by
 *               dlogits = scale · (softmax − onehot), padding columns set to 0. */
void ce_max(float *mx, const float *logits, int N, int V_local, int V_valid);
void ce_sumexp(float *z, const float *logits, const float *mx, int N, int V_local, int V_valid);
void ce_target(float *zt, const float *logits, const int32_t *targets, int N, int V_local, int v0);
void ce_backward(float *logits, float *loss, const float *mx, const float *z, const float *zt,
                 const int32_t *targets, int N, int V_local, int V_valid, int v0, float scale);

/* AdamW step (PyTorch semantics) on n elements: p, m, v updated in place from g.
 * bc1 = 1 − β₁ᵗ, bc2 = 1 − β₂ᵗ; wd already zero for tensors that take no decay. */
void adamw_update(float *p, float *m, float *v, const float *g, int64_t n, float lr, float beta1,
                  float beta2, float eps, float wd, float bc1, float bc2);

/* Σ x² in double, summed over fixed-size chunks in a fixed order (deterministic). */
double sum_squares(const float *x, int64_t n);

#endif
