/* vec: the elementwise and reduction loops of the CPU kernels, written once (vec_body.h) and
 * built three times: AVX-512 (16 lanes), AVX2 + FMA (8 lanes) and scalar (1 lane), picked at
 * run time by what the CPU has (docs/benchmarks.md, "Vector paths").
 *
 * Every element of an elementwise op is computed by the same operations in the same order on
 * every path (exp is our own polynomial, vec_exp in vec_body.h, not libm), so an elementwise
 * result has the same bits on all three paths and wherever the element sits in a buffer or a
 * thread's share. Reductions add lane-wise partial sums, then the lanes in a fixed order: the
 * same bits for a given path and length whatever the thread count, but each path rounds its
 * own way (like another BLAS kernel path). */
#ifndef PICOTRON_KERNELS_CPU_VEC_H
#define PICOTRON_KERNELS_CPU_VEC_H

#include <stdint.h>

typedef enum { VEC_SCALAR = 0, VEC_AVX2 = 1, VEC_AVX512 = 2, VEC_PATHS = 3 } VecPath;

typedef struct {
    const char *name; /* "avx512", "avx2", "scalar" */
    int lanes;
    /* y[i] = exp(x[i]) (x and y may be the same buffer) */
    void (*exp)(float *y, const float *x, int64_t n);
    /* max of x[0..n); −inf when n is 0 */
    float (*max)(const float *x, int64_t n);
    /* s[i] = exp(s[i] − m); returns Σ s[i] (float lanes) */
    float (*exp_sum)(float *s, int64_t n, float m);
    /* Σ exp(x[i] − m), in double */
    double (*sum_exp)(const float *x, int64_t n, float m);
    /* x[i] = exp(x[i] − m) · mul */
    void (*exp_scale)(float *x, int64_t n, float m, float mul);
    /* attention backward row: p[i] = exp(p[i] − lse); ds[i] = p[i] · (ds[i] − delta) · scale */
    void (*softmax_grad)(float *p, float *ds, int64_t n, float lse, float delta, float scale);
    /* out = silu(a) ⊙ b, and its backward (da, db overwritten) */
    void (*swiglu_fwd)(float *out, const float *a, const float *b, int64_t n);
    void (*swiglu_bwd)(float *da, float *db, const float *dout, const float *a, const float *b,
                       int64_t n);
    /* AdamW: p = p·decay − step · m' / (√v' · rsqrt_bc2 + eps), m' and v' the new moments */
    void (*adamw)(float *p, float *m, float *v, const float *g, int64_t n, float decay,
                  float beta1, float beta2, float eps, float step, float rsqrt_bc2);
    /* Σ x[i]², in double */
    double (*sumsq)(const float *x, int64_t n);
    /* Σ a[i]·b[i]·c[i] (products in float, sum in double) */
    double (*dot3)(const float *a, const float *b, const float *c, int64_t n);
    /* out[i] = w[i] · (x[i] · r) */
    void (*scale_mul)(float *out, const float *x, const float *w, float r, int64_t n);
    /* RMSNorm backward row: dx[i] += r·w[i]·dy[i] − c·x[i];  pw[i] += dy[i]·x[i]·r */
    void (*rms_bwd)(float *dx, float *pw, const float *w, const float *dy, const float *x,
                    float r, float c, int64_t n);
    /* RoPE of one head: (a, b) = (lo[i], hi[i]) → (a·cs − b·sn, b·cs + a·sn) */
    void (*rotate)(float *lo, float *hi, const float *cs, const float *sn, int64_t n);
} VecOps;

/* The path this process uses: the widest the CPU has, or PICOTRON_SIMD (avx512, avx2, scalar)
 * when set; an unknown name, or one the CPU lacks, ends the process with exit 2. */
const VecOps *vec(void);
/* exp's largest error against the exact value, in ulps (tests/unit/test_vec.c measures it) */
#define VEC_EXP_MAX_ULP 1
/* The ops of one path; NULL when this CPU cannot run it (tests compare the paths). */
const VecOps *vec_path(VecPath p);

extern const VecOps vec_scalar_ops, vec_avx2_ops, vec_avx512_ops;

#endif
