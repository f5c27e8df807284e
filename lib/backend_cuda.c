/* backend_cuda: the CUDA backend — device memory and copies over cudart on one stream, the
 * GEMMs over cuBLASLt (fp32, TF32 only when allowed), every other operation a kernel of
 * kernels/cuda. Host C11 against the CUDA headers; the kernels are nvcc's (docs/cuda.md). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "backend.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/kernels.h"

#define MIB (1024.0 * 1024.0)
#define WORKSPACE_BYTES ((size_t)32 << 20) /* cuBLASLt's per-stream workspace (Hopper: 32 MiB) */
#define PLANS_MAX 256                      /* distinct GEMM shapes a model uses: ~10 per stage */

/* One cached GEMM: descriptor, layouts and the heuristic's algorithm for a shape, operand
 * transposes, TF32 setting and the operands' alignment (cuBLASLt picks kernels by it). */
typedef struct {
    int ta, tb;              /* 1: op(A) = Aᵀ (column-major terms) */
    int64_t m, n, k, lda, ldb, ldc;
    int align;               /* the smallest alignment of A, B, C in bytes (4..256) */
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulAlgo_t algo;
} Plan;

static struct {
    int device;
    cudaStream_t stream;
    cublasLtHandle_t lt;
    cublasHandle_t blas;
    void *workspace;          /* WORKSPACE_BYTES for cuBLASLt */
    double *scalar;           /* one double for reductions returned to the host */
    int tf32;
    char name[320];           /* describe(): the card */
    Plan plan[PLANS_MAX];
    int nplans;
} cu;

static Backend CUDA_BACKEND;

/* ---- failures: a CUDA error after the backend is open is a bug or a broken device ---- */

static void die(const char *what, const char *why)
{
    fprintf(stderr, "picotron: CUDA: %s: %s\n", what, why);
    exit(1);
}

static void check(cudaError_t e, const char *what)
{
    if (e != cudaSuccess)
        die(what, cudaGetErrorString(e));
}

static void check_blas(cublasStatus_t s, const char *what)
{
    if (s != CUBLAS_STATUS_SUCCESS)
        die(what, cublasLtGetStatusString(s));
}

void cuda_kernels_fail(const char *kernel, const char *what)
{
    die(kernel, what);
}

/* ---- memory ---- */

static void *cu_alloc(size_t bytes)
{
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e == cudaErrorMemoryAllocation) {
        size_t free_b = 0, total = 0;
        cudaGetLastError(); /* clear the sticky-less allocation error before asking */
        cudaMemGetInfo(&free_b, &total);
        fprintf(stderr, "picotron: out of GPU memory on %s (device %d): asked for %.1f MiB, "
                "%.1f MiB free of %.1f MiB\n", cu.name, cu.device, (double)bytes / MIB,
                (double)free_b / MIB, (double)total / MIB);
        exit(1);
    }
    check(e, "cudaMalloc");
    check(cudaMemsetAsync(p, 0, bytes, cu.stream), "cudaMemsetAsync");
    return p;
}

static void cu_release(void *p)
{
    check(cudaFree(p), "cudaFree");
}

static void cu_zero(void *p, size_t bytes)
{
    check(cudaMemsetAsync(p, 0, bytes, cu.stream), "cudaMemsetAsync");
}

static void cu_copy(void *dst, const void *src, size_t bytes)
{
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cu.stream),
          "cudaMemcpyAsync device to device");
}

/* Host buffers are the caller's again on return: both directions wait for the copy. */
static void cu_upload(void *dst, const void *host, size_t bytes)
{
    check(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, cu.stream),
          "cudaMemcpyAsync host to device");
    check(cudaStreamSynchronize(cu.stream), "cudaStreamSynchronize");
}

static void cu_download(void *host, const void *src, size_t bytes)
{
    check(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, cu.stream),
          "cudaMemcpyAsync device to host");
    check(cudaStreamSynchronize(cu.stream), "cudaStreamSynchronize");
}

static double cu_memory_free(void)
{
    size_t free_b = 0, total = 0;
    check(cudaMemGetInfo(&free_b, &total), "cudaMemGetInfo");
    return (double)free_b;
}

/* ---- reductions and the optimizer's element-wise work ---- */

static double scalar_result(void)
{
    double v;
    cu_download(&v, cu.scalar, sizeof v);
    return v;
}

static double cu_sum(const float *x, int64_t n)
{
    cuda_sum(cu.scalar, x, n);
    return scalar_result();
}

static double cu_sum_squares(const float *x, int64_t n)
{
    cuda_sum_squares(cu.scalar, x, n);
    return scalar_result();
}

static void cu_scale(float *x, float a, int64_t n)
{
    check_blas(cublasSscal_v2_64(cu.blas, n, &a, x, 1), "cublasSscal");
}

/* ---- GEMMs (cuBLASLt, column-major): row-major X (N, Cin) is column-major Xᵀ (Cin, N) ---- */

static int alignment(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    int al = 4;
    while (al < 256 && a % (uintptr_t)(2 * al) == 0)
        al *= 2;
    return al;
}

static void plan_create(Plan *p)
{
    cublasComputeType_t compute = cu.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    check_blas(cublasLtMatmulDescCreate(&p->desc, compute, CUDA_R_32F), "cublasLtMatmulDescCreate");
    cublasOperation_t ta = p->ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t tb = p->tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    check_blas(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta),
               "cublasLtMatmulDescSetAttribute");
    check_blas(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb),
               "cublasLtMatmulDescSetAttribute");
    /* stored shapes: A is (m, k) or, transposed, (k, m); B (k, n) or (n, k); C (m, n) */
    check_blas(cublasLtMatrixLayoutCreate(&p->a, CUDA_R_32F, p->ta ? p->k : p->m,
                                          p->ta ? p->m : p->k, p->lda),
               "cublasLtMatrixLayoutCreate");
    check_blas(cublasLtMatrixLayoutCreate(&p->b, CUDA_R_32F, p->tb ? p->n : p->k,
                                          p->tb ? p->k : p->n, p->ldb),
               "cublasLtMatrixLayoutCreate");
    check_blas(cublasLtMatrixLayoutCreate(&p->c, CUDA_R_32F, p->m, p->n, p->ldc),
               "cublasLtMatrixLayoutCreate");
    cublasLtMatmulPreference_t pref;
    check_blas(cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate");
    size_t ws = WORKSPACE_BYTES;
    uint32_t al = (uint32_t)p->align;
    check_blas(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                    &ws, sizeof ws), "cublasLtMatmulPreference");
    const cublasLtMatmulPreferenceAttributes_t aligns[] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4; i++)
        check_blas(cublasLtMatmulPreferenceSetAttribute(pref, aligns[i], &al, sizeof al),
                   "cublasLtMatmulPreference");
    cublasLtMatmulHeuristicResult_t h;
    int found = 0;
    check_blas(cublasLtMatmulAlgoGetHeuristic(cu.lt, p->desc, p->a, p->b, p->c, p->c, pref, 1, &h,
                                              &found), "cublasLtMatmulAlgoGetHeuristic");
    cublasLtMatmulPreferenceDestroy(pref);
    if (found < 1) {
        char what[160];
        snprintf(what, sizeof what, "no cuBLASLt algorithm for a %lldx%lldx%lld fp32 GEMM",
                 (long long)p->m, (long long)p->n, (long long)p->k);
        die(what, "cublasLtMatmulAlgoGetHeuristic returned none");
    }
    p->algo = h.algo;
}

static void plans_clear(void)
{
    for (int i = 0; i < cu.nplans; i++) {
        Plan *q = &cu.plan[i];
        cublasLtMatrixLayoutDestroy(q->a);
        cublasLtMatrixLayoutDestroy(q->b);
        cublasLtMatrixLayoutDestroy(q->c);
        cublasLtMatmulDescDestroy(q->desc);
    }
    cu.nplans = 0;
}

/* C (m, n) = α·op(A)·op(B) + β·C, column-major, through the plan of its shape. */
static void gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float *C, int64_t ldc, float beta)
{
    int al = alignment(A);
    if (alignment(B) < al)
        al = alignment(B);
    if (alignment(C) < al)
        al = alignment(C);
    Plan key = {ta, tb, m, n, k, lda, ldb, ldc, al, NULL, NULL, NULL, NULL, {{0}}};
    Plan *p = NULL;
    for (int i = 0; i < cu.nplans && !p; i++) {
        Plan *q = &cu.plan[i];
        if (q->ta == ta && q->tb == tb && q->m == m && q->n == n && q->k == k && q->lda == lda &&
            q->ldb == ldb && q->ldc == ldc && q->align == al)
            p = q;
    }
    if (!p) {
        if (cu.nplans == PLANS_MAX) /* more shapes than any model has: start over */
            plans_clear();
        p = &cu.plan[cu.nplans++];
        *p = key;
        plan_create(p);
    }
    float alpha = 1.0f;
    check_blas(cublasLtMatmul(cu.lt, p->desc, &alpha, A, p->a, B, p->b, &beta, C, p->c, C, p->c,
                              &p->algo, cu.workspace, WORKSPACE_BYTES, cu.stream),
               "cublasLtMatmul");
}

/* out (N, Cout) = x (N, Cin) · Wᵀ, W (Cout, Cin): column-major outᵀ = W_cmᵀ · xᵀ, where the
 * buffer of W read column-major is Wᵀ (Cin, Cout). */
static void cu_matmul_forward(void *out, const void *x, const float *W, int N, int Cin,
                              int Cout)
{
    gemm(1, 0, Cout, N, Cin, W, Cin, x, Cin, out, Cout, 0.0f);
}

/* dx (N, Cin) = dy · W: column-major dxᵀ (Cin, N) = W_cm (Cin, Cout) · dyᵀ (Cout, N).
 * dW (Cout, Cin) += dyᵀ · x: column-major dWᵀ (Cin, Cout) += xᵀ (Cin, N) · dy_cmᵀ (N, Cout). */
static void cu_matmul_backward(void *dx, float *dW, const void *dy, const void *x,
                               const float *W, int N, int Cin, int Cout, int dx_acc)
{
    if (dx)
        gemm(0, 0, Cin, N, Cout, W, Cin, dy, Cout, dx, Cin, dx_acc ? 1.0f : 0.0f);
    gemm(0, 1, Cin, Cout, N, x, Cin, dy, Cout, dW, Cin, 1.0f);
}

/* The activation entries of the table (void * buffers in act_dtype, here F32) onto the fp32
 * kernels of cuda_kernels.h. */
static void cu_to_act(void *out, const float *x, int64_t n)
{
    cu_copy(out, x, (size_t)n * sizeof(float));
}

static void cu_add_inplace(float *y, const void *x, int64_t n)
{
    cuda_add_inplace(y, x, n);
}

static void cu_rmsnorm_forward(void *out, float *rstd, const float *x, const float *w, int N,
                               int C, float eps)
{
    cuda_rmsnorm_forward(out, rstd, x, w, N, C, eps);
}

static void cu_rmsnorm_backward(float *dx, float *dw, const void *dy, const float *x,
                                const float *w, const float *rstd, int N, int C)
{
    cuda_rmsnorm_backward(dx, dw, dy, x, w, rstd, N, C);
}

static void cu_rope_forward(void *x, int B, int T, int nh, int D, int pos0, double theta)
{
    cuda_rope_forward(x, B, T, nh, D, pos0, theta);
}

static void cu_rope_backward(void *dx, int B, int T, int nh, int D, int pos0, double theta)
{
    cuda_rope_backward(dx, B, T, nh, D, pos0, theta);
}

static void cu_attention_forward(void *out, float *lse, const void *q, const void *k,
                                 const void *v, int B, int T, int H, int K, int D)
{
    cuda_attention_forward(out, lse, q, k, v, B, T, H, K, D);
}

static void cu_attention_backward(void *dq, void *dk, void *dv, const void *dout,
                                  const void *q, const void *k, const void *v, const void *out,
                                  const float *lse, int B, int T, int H, int K, int D)
{
    cuda_attention_backward(dq, dk, dv, dout, q, k, v, out, lse, B, T, H, K, D);
}

static void cu_swiglu_forward(void *out, const void *a, const void *b, int64_t n)
{
    cuda_swiglu_forward(out, a, b, n);
}

static void cu_swiglu_backward(void *da, void *db, const void *dout, const void *a,
                               const void *b, int64_t n)
{
    cuda_swiglu_backward(da, db, dout, a, b, n);
}

static void cu_ce_max(float *mx, const void *logits, int N, int V_local, int V_valid)
{
    cuda_ce_max(mx, logits, N, V_local, V_valid);
}

static void cu_ce_sumexp(float *z, const void *logits, const float *mx, int N, int V_local,
                         int V_valid)
{
    cuda_ce_sumexp(z, logits, mx, N, V_local, V_valid);
}

static void cu_ce_target(float *zt, const void *logits, const int32_t *targets, int N,
                         int V_local, int v0)
{
    cuda_ce_target(zt, logits, targets, N, V_local, v0);
}

static void cu_ce_backward(void *logits, float *loss, const float *mx, const float *z,
                           const float *zt, const int32_t *targets, int N, int V_local,
                           int V_valid, int v0, float scale)
{
    cuda_ce_backward(logits, loss, mx, z, zt, targets, N, V_local, V_valid, v0, scale);
}

/* The best rate of an n³ fp32 GEMM (n = 8192, or PICOTRON_PEAK_GEMM_N) over reps timed runs
 * after a warm-up: the practical ceiling of this card for the GEMMs the model runs. */
static double cu_peak_gflops(int reps)
{
    const char *env = getenv("PICOTRON_PEAK_GEMM_N");
    int64_t n = env && atoi(env) > 0 ? atoi(env) : 8192;
    size_t bytes = (size_t)(n * n) * sizeof(float);
    float *a = cu_alloc(bytes), *b = cu_alloc(bytes), *c = cu_alloc(bytes);
    cudaEvent_t t0, t1;
    check(cudaEventCreate(&t0), "cudaEventCreate");
    check(cudaEventCreate(&t1), "cudaEventCreate");
    double best = 0.0;
    for (int r = 0; r <= reps; r++) {
        check(cudaEventRecord(t0, cu.stream), "cudaEventRecord");
        gemm(0, 0, n, n, n, a, n, b, n, c, n, 0.0f);
        check(cudaEventRecord(t1, cu.stream), "cudaEventRecord");
        check(cudaEventSynchronize(t1), "cudaEventSynchronize");
        float ms = 0.0f;
        check(cudaEventElapsedTime(&ms, t0, t1), "cudaEventElapsedTime");
        double gflops = ms > 0.0f ? 2.0 * (double)n * n * n / (ms * 1e-3) / 1e9 : 0.0;
        if (r > 0 && gflops > best) /* r = 0 warms up (plan, clocks) */
            best = gflops;
    }
    cudaEventDestroy(t0);
    cudaEventDestroy(t1);
    cu_release(a);
    cu_release(b);
    cu_release(c);
    return best;
}

static const char *cu_describe(void)
{
    return cu.name;
}


static Backend CUDA_BACKEND = {
    .name = "cuda",
    .act_dtype = DTYPE_F32,
    .host_memory = 0,
    .set_threads = kernels_set_threads, /* the host's own loops (data, initialisation) */
    .peak_gflops = cu_peak_gflops,
    .describe = cu_describe,
    .memory_free = cu_memory_free,
    .alloc = cu_alloc,
    .release = cu_release,
    .zero = cu_zero,
    .copy = cu_copy,
    .upload = cu_upload,
    .download = cu_download,
    .add_inplace = cu_add_inplace,
    .sum = cu_sum,
    .to_act = cu_to_act,
    .scale = cu_scale,
    .sum_squares = cu_sum_squares,
    .adamw_update = cuda_adamw_update,
    .matmul_forward = cu_matmul_forward,
    .matmul_backward = cu_matmul_backward,
    .rmsnorm_forward = cu_rmsnorm_forward,
    .rmsnorm_backward = cu_rmsnorm_backward,
    .rope_forward = cu_rope_forward,
    .rope_backward = cu_rope_backward,
    .attention_forward = cu_attention_forward,
    .attention_backward = cu_attention_backward,
    .swiglu_forward = cu_swiglu_forward,
    .swiglu_backward = cu_swiglu_backward,
    .embedding_forward = cuda_embedding_forward,
    .embedding_backward = cuda_embedding_backward,
    .ce_max = cu_ce_max,
    .ce_sumexp = cu_ce_sumexp,
    .ce_target = cu_ce_target,
    .ce_backward = cu_ce_backward,
    .ring_forward_init = cuda_ring_forward_init,
    .ring_forward_step = cuda_ring_forward_step,
    .ring_forward_finish = cuda_ring_forward_finish,
    .ring_backward_delta = cuda_ring_backward_delta,
    .ring_backward_step = cuda_ring_backward_step,
};

/* ---- opening ---- */

static const Backend *refuse(char *why, size_t len, const char *call, cudaError_t e)
{
    snprintf(why, len, "%s: %s (%d)", call, cudaGetErrorString(e), (int)e);
    return NULL;
}

int backend_cuda_built(void)
{
    return 1;
}

const Backend *backend_cuda(int device, int allow_tf32, char *why, size_t why_len)
{
    static int opened = -1;
    if (opened >= 0) {
        if (opened != device)
            snprintf(why, why_len, "the CUDA backend is open on device %d already", opened);
        return opened == device ? &CUDA_BACKEND : NULL;
    }
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count); /* leaves count alone when it fails */
    if (e != cudaSuccess)
        return refuse(why, why_len, "cudaGetDeviceCount", e);
    if (device >= count) {
        snprintf(why, why_len, "local rank %d but %d CUDA device%s on this node", device, count,
                 count == 1 ? "" : "s");
        return NULL;
    }
    struct cudaDeviceProp prop;
    if ((e = cudaSetDevice(device)) != cudaSuccess)
        return refuse(why, why_len, "cudaSetDevice", e);
    if ((e = cudaGetDeviceProperties(&prop, device)) != cudaSuccess)
        return refuse(why, why_len, "cudaGetDeviceProperties", e);
    if ((e = cudaStreamCreateWithFlags(&cu.stream, cudaStreamNonBlocking)) != cudaSuccess)
        return refuse(why, why_len, "cudaStreamCreate", e);
    cublasStatus_t s = cublasLtCreate(&cu.lt);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasCreate(&cu.blas);
    if (s != CUBLAS_STATUS_SUCCESS) {
        snprintf(why, why_len, "cuBLAS: %s", cublasLtGetStatusString(s));
        return NULL;
    }
    check_blas(cublasSetStream(cu.blas, cu.stream), "cublasSetStream");
    check_blas(cublasSetPointerMode(cu.blas, CUBLAS_POINTER_MODE_HOST), "cublasSetPointerMode");
    cu.device = device;
    cu.tf32 = allow_tf32;
    snprintf(cu.name, sizeof cu.name, "%.256s (sm_%d%d, %.0f GiB)", prop.name, prop.major,
             prop.minor, (double)prop.totalGlobalMem / (MIB * 1024.0));
    cuda_kernels_set_stream(cu.stream);
    cu.workspace = cu_alloc(WORKSPACE_BYTES);
    cu.scalar = cu_alloc(sizeof(double));
    /* the MPI comm reads and writes buffers directly: possible only where the host can
     * address device memory (none of today's discrete GPUs; the test stand-ins) */
    struct cudaPointerAttributes attr;
    CUDA_BACKEND.mpi_buffers = cudaPointerGetAttributes(&attr, cu.workspace) == cudaSuccess &&
                               (attr.type == cudaMemoryTypeManaged ||
                                attr.type == cudaMemoryTypeHost);
    CUDA_BACKEND.workspace_bytes = BACKEND_CUDA_WORKSPACE_BYTES;
    _Static_assert(BACKEND_CUDA_WORKSPACE_BYTES == WORKSPACE_BYTES + sizeof(double),
                   "memplan counts what open allocates");
    opened = device;
    return &CUDA_BACKEND;
}
