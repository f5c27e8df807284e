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

static void cpu_add_inplace(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}

static double cpu_sum(const float *x, int64_t n)
{
    double total = 0.0;
    for (int64_t i = 0; i < n; i++)
        total += x[i];
    return total;
}

static void cpu_matmul_forward(float *out, const float *x, const float *W, int N, int Cin,
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

static void cpu_matmul_backward(float *dx, float *dW, const float *dy, const float *x,
                                const float *W, int N, int Cin, int Cout, int dx_acc)
{
    matmul_backward(dx, dW, dy, x, W, N, Cin, Cout, dx_acc);
    comm_progress();
}

static void cpu_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                   const float *q, const float *k, const float *v,
                                   const float *out, const float *lse, int B, int T, int H,
                                   int K, int D)
{
    attention_backward(dq, dk, dv, dout, q, k, v, out, lse, B, T, H, K, D);
    comm_progress();
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
    .scale = cpu_scale,
    .sum_squares = sum_squares,
    .adamw_update = adamw_update,
    .matmul_forward = cpu_matmul_forward,
    .matmul_backward = cpu_matmul_backward,
    .rmsnorm_forward = rmsnorm_forward,
    .rmsnorm_backward = rmsnorm_backward,
    .rope_forward = rope_forward,
    .rope_backward = rope_backward,
    .attention_forward = attention_forward,
    .attention_backward = cpu_attention_backward,
    .swiglu_forward = swiglu_forward,
    .swiglu_backward = swiglu_backward,
    .embedding_forward = embedding_forward,
    .embedding_backward = embedding_backward,
    .ce_max = ce_max,
    .ce_sumexp = ce_sumexp,
    .ce_target = ce_target,
    .ce_backward = ce_backward,
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
