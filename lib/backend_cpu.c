/* backend_cpu: the CPU backend — kernels/cpu over host memory — and the dtype table. After
 * every GEMM it lets communication progress (comm_progress): Open MPI moves the data-parallel
 * reductions and the pipeline's sends in flight only inside MPI calls, and a CPU rank has no
 * other moment to make them. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "comm.h"
#include "cpupeak.h"
#include "error.h"
#include "kernels/kernels.h"
#include "memplan.h"

size_t dtype_size(DType t)
{
    return t == DTYPE_BF16 ? 2 : 4;
}

const char *dtype_name(DType t)
{
    return t == DTYPE_BF16 ? "bf16" : t == DTYPE_I32 ? "i32" : "f32";
}

static void *cpu_alloc(size_t bytes)
{
    return xcalloc(bytes ? bytes : 1, 1);
}

static void cpu_zero(void *p, size_t bytes)
{
    memset(p, 0, bytes);
}

static void cpu_copy(void *dst, const void *src, size_t bytes)
{
    memcpy(dst, src, bytes);
}

/* The CPU's activations are fp32 (act_dtype F32): the void * buffers of the table are float
 * arrays, and these entries hand them to kernels/cpu as such. */
static void cpu_add_inplace(float *y, const void *xv, int64_t n)
{
    const float *x = xv;
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}

static void cpu_to_act(void *out, const float *x, int64_t n)
{
    memcpy(out, x, (size_t)n * sizeof(float));
}

static double cpu_sum(const float *x, int64_t n)
{
    double total = 0.0;
    for (int64_t i = 0; i < n; i++)
        total += x[i];
    return total;
}

static void cpu_matmul_forward(void *out, const void *x, const float *W, int N, int Cin,
                               int Cout)
{
    matmul_forward(out, x, W, N, Cin, Cout);
    comm_progress();
}

static void cpu_scale(float *x, float a, int64_t n)
{
    #pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++)
        x[i] *= a;
}

static void cpu_matmul_backward(void *dx, float *dW, const void *dy, const void *x,
                                const float *W, int N, int Cin, int Cout, int dx_acc)
{
    matmul_backward(dx, dW, dy, x, W, N, Cin, Cout, dx_acc);
    comm_progress();
}

static void cpu_attention_backward(void *dq, void *dk, void *dv, const void *dout,
                                   const void *q, const void *k, const void *v,
                                   const void *out, const float *lse, int B, int T, int H,
                                   int K, int D)
{
    attention_backward(dq, dk, dv, dout, q, k, v, out, lse, B, T, H, K, D);
    comm_progress();
}

static void cpu_rmsnorm_forward(void *out, float *rstd, const float *x, const float *w, int N,
                                int C, float eps)
{
    rmsnorm_forward(out, rstd, x, w, N, C, eps);
}

static void cpu_rmsnorm_backward(float *dx, float *dw, const void *dy, const float *x,
                                 const float *w, const float *rstd, int N, int C)
{
    rmsnorm_backward(dx, dw, dy, x, w, rstd, N, C);
}

static void cpu_rope_forward(void *x, int B, int T, int nh, int D, int pos0, double theta)
{
    rope_forward(x, B, T, nh, D, pos0, theta);
}

static void cpu_rope_backward(void *dx, int B, int T, int nh, int D, int pos0, double theta)
{
    rope_backward(dx, B, T, nh, D, pos0, theta);
}

static void cpu_attention_forward(void *out, float *lse, const void *q, const void *k,
                                  const void *v, int B, int T, int H, int K, int D)
{
    attention_forward(out, lse, q, k, v, B, T, H, K, D);
}

static void cpu_swiglu_forward(void *out, const void *a, const void *b, int64_t n)
{
    swiglu_forward(out, a, b, n);
}

static void cpu_swiglu_backward(void *da, void *db, const void *dout, const void *a,
                                const void *b, int64_t n)
{
    swiglu_backward(da, db, dout, a, b, n);
}

static void cpu_ce_max(float *mx, const void *logits, int N, int V_local, int V_valid)
{
    ce_max(mx, logits, N, V_local, V_valid);
}

static void cpu_ce_sumexp(float *z, const void *logits, const float *mx, int N, int V_local,
                          int V_valid)
{
    ce_sumexp(z, logits, mx, N, V_local, V_valid);
}

static void cpu_ce_target(float *zt, const void *logits, const int32_t *targets, int N,
                          int V_local, int v0)
{
    ce_target(zt, logits, targets, N, V_local, v0);
}

static void cpu_ce_backward(void *logits, float *loss, const float *mx, const float *z,
                            const float *zt, const int32_t *targets, int N, int V_local,
                            int V_valid, int v0, float scale)
{
    ce_backward(logits, loss, mx, z, zt, targets, N, V_local, V_valid, v0, scale);
}

/* The 1024³ sgemm rate of OpenBLAS threaded by itself over the current threads: cached by
 * picotron-bench --peak, else the best of reps calls now (lib/cpupeak). */
static double cpu_peak_gflops(int reps)
{
    return cpupeak_get(reps);
}

static const Backend CPU = {
    .name = "cpu",
    .host_memory = 1,
    .mpi_buffers = 1,
    .act_dtype = DTYPE_F32,
    .set_threads = kernels_set_threads,
    .peak_gflops = cpu_peak_gflops,
    .describe = kernels_blas_path,
    .memory_free = memplan_available,
    .alloc = cpu_alloc,
    .release = free,
    .zero = cpu_zero,
    .copy = cpu_copy,
    .upload = cpu_copy,
    .download = cpu_copy,
    .add_inplace = cpu_add_inplace,
    .sum = cpu_sum,
    .to_act = cpu_to_act,
    .scale = cpu_scale,
    .sum_squares = sum_squares,
    .adamw_update = adamw_update,
    .matmul_forward = cpu_matmul_forward,
    .matmul_backward = cpu_matmul_backward,
    .rmsnorm_forward = cpu_rmsnorm_forward,
    .rmsnorm_backward = cpu_rmsnorm_backward,
    .rope_forward = cpu_rope_forward,
    .rope_backward = cpu_rope_backward,
    .attention_forward = cpu_attention_forward,
    .attention_backward = cpu_attention_backward,
    .swiglu_forward = cpu_swiglu_forward,
    .swiglu_backward = cpu_swiglu_backward,
    .embedding_forward = embedding_forward,
    .embedding_backward = embedding_backward,
    .ce_max = cpu_ce_max,
    .ce_sumexp = cpu_ce_sumexp,
    .ce_target = cpu_ce_target,
    .ce_backward = cpu_ce_backward,
    .ring_forward_init = ring_forward_init,
    .ring_forward_step = ring_forward_step,
    .ring_forward_finish = ring_forward_finish,
    .ring_backward_delta = ring_backward_delta,
    .ring_backward_step = ring_backward_step,
};

const Backend *backend_cpu(void)
{
    return &CPU;
}
