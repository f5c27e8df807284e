/* backend: what the model needs from the device it runs on — memory (allocate, zero, copy,
 * move to and from the host) and the kernel operation set of kernels/kernels.h, as one table.
 * The model's orchestration (llama.c: the layer sequence, the tensor-parallel f/g
 * collectives, the pipeline stage boundaries) and ring attention (ring_attention.c) call only
 * this table, so a backend is a new table plus its kernels, never a second copy of the model.
 * How to add one and what it must pass: docs/backends.md. */
#ifndef PICOTRON_BACKEND_H
#define PICOTRON_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* Element type of a buffer. */
typedef enum { DTYPE_F32 = 0, DTYPE_BF16 = 1, DTYPE_I32 = 2 } DType;
size_t dtype_size(DType t);
const char *dtype_name(DType t);

typedef struct Backend {
    const char *name;        /* "cpu", "cuda" */
    int host_memory;         /* 1: buffers are host memory the caller may read and write
                                directly (the CPU); 0: only through upload/download */
    int mpi_buffers;         /* 1: the MPI comm may send and receive these buffers (host
                                memory, or memory the host can address); 0: a multi-rank run
                                needs a device-aware comm (NCCL) and is refused */
    DType act_dtype;         /* storage type of the activations: the buffers the kernel
                                entries below take as void * (docs/backends.md); the CPU: F32 */

    /* ---- the machine ---- */
    void (*set_threads)(int n);               /* host threads the kernels may use */
    double (*peak_gflops)(int reps);          /* the rate MFU is measured against, measured
                                                 now (reps timed repetitions, best kept) */
    const char *(*describe)(void);            /* e.g. "OpenBLAS Haswell": results may
                                                 differ in the last bits between these */
    double (*memory_free)(void);              /* bytes the device can still allocate (0:
                                                 unknown) */
    size_t workspace_bytes;                   /* what the backend holds for itself (GEMM
                                                 workspace, reduction results) */

    /* ---- memory: device buffers (on the CPU, host memory) ---- */
    void *(*alloc)(size_t bytes);                 /* zero-filled; aborts when out of memory */
    void (*release)(void *p);
    void (*zero)(void *p, size_t bytes);
    void (*copy)(void *dst, const void *src, size_t bytes);      /* device → device */
    void (*upload)(void *dst, const void *host, size_t bytes);   /* host → device */
    void (*download)(void *host, const void *src, size_t bytes); /* device → host */

    /* ---- element-wise and reductions the layer sequence needs ---- */
    void (*add_inplace)(float *y, const void *x, int64_t n);     /* y += x: a branch's output
                                                                    into the fp32 residual */
    double (*sum)(const float *x, int64_t n);     /* Σ x in double, in index order, to host */
    void (*to_act)(void *out, const float *x, int64_t n); /* out = x in act_dtype (round to
                                                             nearest even); llama.c calls it
                                                             only when act_dtype is not F32 */

    /* ---- the optimizer's and the gradient norm's operations on the flat buffers ---- */
    void (*scale)(float *x, float a, int64_t n);  /* x *= a (gradient clipping) */
    double (*sum_squares)(const float *x, int64_t n); /* Σ x² in double, fixed order, to host */
    void (*adamw_update)(float *p, float *m, float *v, const float *g, int64_t n, float lr,
                         float beta1, float beta2, float eps, float wd, float bc1, float bc2);

    /* ---- the kernels of kernels/kernels.h (same arguments, same contracts). A void *
     * buffer is an activation in act_dtype; what stays fp32 whatever act_dtype says is a
     * float *: the residual stream and its gradient, the weights and their gradients, the
     * norm and softmax statistics, the cross-entropy statistics and the loss ---- */
    void (*matmul_forward)(void *out, const void *x, const float *W, int N, int Cin, int Cout);
    void (*matmul_backward)(void *dx, float *dW, const void *dy, const void *x, const float *W,
                            int N, int Cin, int Cout, int dx_acc);
    void (*rmsnorm_forward)(void *out, float *rstd, const float *x, const float *w, int N,
                            int C, float eps);
    void (*rmsnorm_backward)(float *dx, float *dw, const void *dy, const float *x,
                             const float *w, const float *rstd, int N, int C);
    void (*rope_forward)(void *x, int B, int T, int nh, int D, int pos0, double theta);
    void (*rope_backward)(void *dx, int B, int T, int nh, int D, int pos0, double theta);
    void (*attention_forward)(void *out, float *lse, const void *q, const void *k,
                              const void *v, int B, int T, int H, int K, int D);
    void (*attention_backward)(void *dq, void *dk, void *dv, const void *dout, const void *q,
                               const void *k, const void *v, const void *out, const float *lse,
                               int B, int T, int H, int K, int D);
    void (*swiglu_forward)(void *out, const void *a, const void *b, int64_t n);
    void (*swiglu_backward)(void *da, void *db, const void *dout, const void *a, const void *b,
                            int64_t n);
    void (*embedding_forward)(float *out, const int32_t *ids, const float *table, int N, int C,
                              int v0, int V_local);
    void (*embedding_backward)(float *dtable, const float *dout, const int32_t *ids, int N,
                               int C, int v0, int V_local);
    void (*ce_max)(float *mx, const void *logits, int N, int V_local, int V_valid);
    void (*ce_sumexp)(float *z, const void *logits, const float *mx, int N, int V_local,
                      int V_valid);
    void (*ce_target)(float *zt, const void *logits, const int32_t *targets, int N,
                      int V_local, int v0);
    void (*ce_backward)(void *logits, float *loss, const float *mx, const float *z,
                        const float *zt, const int32_t *targets, int N, int V_local,
                        int V_valid, int v0, float scale);

    /* ---- ring attention's compute (the ring itself is ring_attention.c): fp32 buffers, so
     * context parallelism needs act_dtype F32 until the ring's blocks are typed ---- */
    void (*ring_forward_init)(float *m, float *l, float *acc, int64_t rows, int D);
    void (*ring_forward_step)(float *m, float *l, float *acc, const float *q, const float *k,
                              const float *v, int B, int T, int H, int K, int D,
                              const int q_chunks[2], const int k_chunks[2]);
    void (*ring_forward_finish)(float *out, float *lse, const float *m, const float *l,
                                const float *acc, int B, int T, int H, int D);
    void (*ring_backward_delta)(float *delta, const float *out, const float *dout, int B, int T,
                                int H, int D);
    void (*ring_backward_step)(float *dq, float *dk, float *dv, const float *q,
                               const float *dout, const float *delta, const float *lse,
                               const float *k, const float *v, int B, int T, int H, int K,
                               int D, const int q_chunks[2], const int k_chunks[2]);
} Backend;

/* The CPU backend: kernels/cpu over host memory (OpenBLAS + OpenMP). */
const Backend *backend_cpu(void);

/* What the CUDA backend holds for itself on its GPU: the cuBLASLt workspace of its stream and
 * one reduction result (memplan counts it before a backend exists). */
#define BACKEND_CUDA_WORKSPACE_BYTES (((size_t)32 << 20) + sizeof(double))

/* The CUDA backend (lib/backend_cuda.c) on GPU `device` of this node, TF32 in the fp32 GEMMs
 * when allow_tf32; NULL when there is none to use, with the reason in why (one line, e.g.
 * "cudaGetDeviceCount: insufficient driver (35)"). A build without CUDA (CUDA=0) says so. */
const Backend *backend_cuda(int device, int allow_tf32, char *why, size_t why_len);
/* Whether this binary holds the CUDA backend. */
int backend_cuda_built(void);

#endif
