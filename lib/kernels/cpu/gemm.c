/* gemm: every sgemm of the CPU kernels, on a fixed tile grid, so results never depend on the
 * thread count.
 *
 * Why a grid of our own: OpenBLAS's threading splits a GEMM where it likes, and on some
 * kernel paths (Debian's 0.3.21 with its Haswell/Zen kernels, which AVX2 CPUs and some AVX-512
 * ones get) the bits of an element change with the split, even single-threaded when the same
 * GEMM is computed as two row blocks. What does hold is that one single-threaded call with the
 * same arguments gives the same bits. So C is cut into tiles by a rule that reads only the
 * shape (M, N), each tile is one single-threaded call, and the OpenMP threads take tiles: 1, 2
 * or 16 threads compute the same calls, hence the same bits.
 *
 * Single-threaded: Debian's OpenBLAS is the OpenMP build, and at every call it takes its thread
 * count from OpenMP (omp_get_max_threads), whatever openblas_set_num_threads said; it runs one
 * thread only inside an active parallel region or when that count is 1. So each tile is called
 * inside our parallel region, whose tasks set their own count to 1. What the grid costs against
 * one threaded OpenBLAS call is measured in docs/benchmarks.md; the promise and its tests are in
 * docs/training.md, "Threads and determinism". */
#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/vec.h"
#include "kernels/kernels.h"

char *openblas_get_corename(void);

/* Tile grid. Every tile repacks its operands, so small tiles cost sgemm rate (measured in
 * docs/benchmarks.md): up to GEMM_FEW tiles
 * with edges of at least GEMM_MIN_EDGE (enough for 2 or 4 threads on a small model's GEMMs),
 * and more only where every edge stays at least GEMM_BIG_EDGE, up to GEMM_MAX_TILES. Part
 * counts are powers of two (balanced for 2, 4, 8… threads); cuts fall on multiples of 16 (the
 * kernels' register blocking). */
#define GEMM_MIN_EDGE 192
#define GEMM_FEW 4
#define GEMM_BIG_EDGE 512
#define GEMM_MAX_TILES 64
#define GEMM_ALIGN 16

/* Largest power of two ≤ max_parts that leaves every part at least min_edge long. */
static int parts_for(int extent, int max_parts, int min_edge)
{
    int n = 1;
    while (n * 2 <= max_parts && extent / (n * 2) >= min_edge)
        n *= 2;
    return n;
}

/* Start of part i of n over [0, extent): equal parts, cut down to a multiple of GEMM_ALIGN. */
static int cut(int extent, int i, int n)
{
    if (i >= n)
        return extent;
    return (int)((int64_t)extent * i / n) / GEMM_ALIGN * GEMM_ALIGN;
}

void kernels_set_threads(int n)
{
    omp_set_num_threads(n < 1 ? 1 : n); /* OpenBLAS follows it too (see above) */
    (void)vec(); /* the vector path is chosen now: a bad PICOTRON_SIMD ends the run before it
                  * writes anything */
}

void gemm_grid(int M, int N, int *parts_m, int *parts_n)
{
    /* the longer side L of C is cut first, the shorter S takes what tiles remain */
    int L = M >= N ? M : N, S = M >= N ? N : M;
    int pl = parts_for(L, GEMM_FEW, GEMM_MIN_EDGE);
    int ps = parts_for(S, GEMM_FEW / pl, GEMM_MIN_EDGE);
    /* a large GEMM: more tiles, all of them with edges of at least GEMM_BIG_EDGE */
    int bl = parts_for(L, GEMM_MAX_TILES, GEMM_BIG_EDGE);
    int bs = parts_for(S, GEMM_MAX_TILES / bl, GEMM_BIG_EDGE);
    if (bl * bs > pl * ps) {
        pl = bl;
        ps = bs;
    }
    *parts_m = M >= N ? pl : ps;
    *parts_n = M >= N ? ps : pl;
}

/* Tile t of the grid: one single-threaded sgemm. */
static void gemm_tile(int t, int pm, int pn, int trans_a, int trans_b, int M, int N, int K,
                      float alpha, const float *A, int lda, const float *B, int ldb, float beta,
                      float *C, int ldc)
{
    int i = t / pn, j = t % pn;
    int m0 = cut(M, i, pm), m1 = cut(M, i + 1, pm);
    int n0 = cut(N, j, pn), n1 = cut(N, j + 1, pn);
    /* rows m0.. of op(A) and columns n0.. of op(B), in their stored layouts */
    const float *a = trans_a ? A + m0 : A + (int64_t)m0 * lda;
    const float *b = trans_b ? B + (int64_t)n0 * ldb : B + n0;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m1 - m0, n1 - n0, K, alpha, a, lda, b, ldb,
                beta, C + (int64_t)m0 * ldc + n0, ldc);
}

void gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
          const float *B, int ldb, float beta, float *C, int ldc)
{
    int pm, pn;
    gemm_grid(M, N, &pm, &pn);
    int tiles = pm * pn;
    if (omp_get_level() > 0) { /* inside a parallel region (attention's per-head loops) */
        if (!omp_in_parallel()) /* a team of one: OpenBLAS would read this task's count */
            omp_set_num_threads(1);
        for (int t = 0; t < tiles; t++)
            gemm_tile(t, pm, pn, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    int threads = omp_get_max_threads();
    #pragma omp parallel num_threads(threads < tiles ? threads : tiles)
    {
        omp_set_num_threads(1); /* this task's count: OpenBLAS reads it (a team of one is inactive) */
        #pragma omp for schedule(static)
        for (int t = 0; t < tiles; t++)
            gemm_tile(t, pm, pn, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    }
}

double kernels_sgemm_peak_gflops(int n, int reps)
{
    size_t nn = (size_t)n * n;
    float *a = xmalloc(nn * sizeof(float)), *b = xmalloc(nn * sizeof(float));
    float *c = xcalloc(nn, sizeof(float));
    for (size_t i = 0; i < nn; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    /* the ceiling is OpenBLAS at its best: one call, threaded by OpenBLAS itself over
     * OpenMP's current thread count */
    double best = 0.0;
    for (int r = 0; r < reps + 1; r++) {
        double t0 = omp_get_wtime();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = omp_get_wtime() - t0;
        double gf = 2.0 * n * (double)nn / dt / 1e9;
        if (r > 0 && gf > best) /* the first call warms caches and threads */
            best = gf;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

const char *kernels_blas_path(void)
{
    static char path[128];
    snprintf(path, sizeof path, "OpenBLAS %s, %s vectors", openblas_get_corename(), vec()->name);
    return path;
}
