/* test_gemm: the tiled sgemm every CPU kernel uses (lib/kernels/cpu/gemm.c).
 *
 * 1. Bits: the same call gives the same bits with 1, 2, 3 and 4 threads, and from inside a
 *    parallel region (attention's loops), on the shapes where Debian's OpenBLAS threading
 *    changed bits on its Haswell/Zen kernels. `make check` runs this suite under every kernel
 *    path the CPU can execute (scripts/kernel-paths).
 * 2. Values: against a double-precision reference, per element,
 *    |c − ref| ≤ 2·K·u·Σₖ|a_ik·b_kj| + tiny, u = 2⁻²⁴: the classical bound for a K-term fp32
 *    dot product is γ_K·Σ|a·b| with γ_K ≈ K·u; the factor 2 covers the final alpha/beta
 *    update. A wrong tile offset or a dropped tile gives errors of order Σ|a·b| itself.
 * 3. The grid: a function of (M, N) only, covering C exactly once. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "kernels/cpu/gemm.h"
#include "kernels/kernels.h"

static uint64_t rs;

static float urand(void)
{
    uint64_t z = (rs += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)((double)(z >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

static float *rand_buf(size_t n)
{
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = urand();
    return p;
}

typedef struct {
    int ta, tb, M, N, K;
} Shape;

/* Stored extents: op(A) is M×K, op(B) is K×N; lda/ldb pad each row by 3 floats so strides
 * other than the logical width are exercised. */
static int lda_of(const Shape *s) { return (s->ta ? s->M : s->K) + 3; }
static int ldb_of(const Shape *s) { return (s->tb ? s->K : s->N) + 3; }
static size_t a_len(const Shape *s) { return (size_t)(s->ta ? s->K : s->M) * lda_of(s); }
static size_t b_len(const Shape *s) { return (size_t)(s->tb ? s->N : s->K) * ldb_of(s); }

static void run(const Shape *s, const float *A, const float *B, float beta, float *C, int threads)
{
    kernels_set_threads(threads);
    gemm(s->ta, s->tb, s->M, s->N, s->K, 0.5f, A, lda_of(s), B, ldb_of(s), beta, C, s->N);
}

/* The shapes (Linear layers of a small Llama: tokens × hidden × ffn/vocab) in every
 * transposition the kernels use, plus odd sizes that leave partial tiles. */
static const Shape SHAPES[] = {
    {0, 1, 128, 300, 64},   {0, 1, 256, 1024, 384}, {0, 0, 1024, 384, 384},
    {1, 0, 384, 384, 1024}, {0, 1, 1000, 4096, 384}, {0, 0, 333, 777, 129},
    {1, 0, 777, 333, 129},  {0, 1, 64, 64, 64},     {0, 0, 100, 37, 53},
};

START_TEST(bits_do_not_depend_on_thread_count)
{
    const Shape *s = &SHAPES[_i];
    rs = 1000 + (uint64_t)_i;
    float *A = rand_buf(a_len(s)), *B = rand_buf(b_len(s));
    float *C0 = rand_buf((size_t)s->M * s->N); /* beta = 1 accumulates into these */
    size_t bytes = (size_t)s->M * s->N * sizeof(float);
    float *ref = malloc(bytes), *C = malloc(bytes);
    for (int beta = 0; beta <= 1; beta++) {
        memcpy(ref, C0, bytes);
        run(s, A, B, (float)beta, ref, 1);
        for (int threads = 2; threads <= 4; threads++) {
            memcpy(C, C0, bytes);
            run(s, A, B, (float)beta, C, threads);
            ck_assert_msg(memcmp(C, ref, bytes) == 0, "%dx%dx%d ta=%d tb=%d beta=%d: %d threads",
                          s->M, s->N, s->K, s->ta, s->tb, beta, threads);
        }
        /* inside a parallel region the tiles run in the calling thread: same bits */
        memcpy(C, C0, bytes);
        kernels_set_threads(2);
        #pragma omp parallel num_threads(2)
        {
            if (omp_get_thread_num() == 1)
                gemm(s->ta, s->tb, s->M, s->N, s->K, 0.5f, A, lda_of(s), B, ldb_of(s),
                     (float)beta, C, s->N);
        }
        ck_assert_msg(memcmp(C, ref, bytes) == 0, "%dx%dx%d in a parallel region", s->M, s->N, s->K);
        /* a team of one while the thread count says 2: OpenBLAS must still run one thread */
        memcpy(C, C0, bytes);
        #pragma omp parallel num_threads(1)
        gemm(s->ta, s->tb, s->M, s->N, s->K, 0.5f, A, lda_of(s), B, ldb_of(s), (float)beta, C, s->N);
        ck_assert_msg(memcmp(C, ref, bytes) == 0, "%dx%dx%d in a team of one", s->M, s->N, s->K);
    }
    kernels_set_threads(1);
    free(A);
    free(B);
    free(C0);
    free(ref);
    free(C);
}
END_TEST

START_TEST(values_match_a_double_reference)
{
    const Shape *s = &SHAPES[_i];
    rs = 2000 + (uint64_t)_i;
    float *A = rand_buf(a_len(s)), *B = rand_buf(b_len(s));
    float *C = rand_buf((size_t)s->M * s->N);
    float *C0 = malloc((size_t)s->M * s->N * sizeof(float));
    memcpy(C0, C, (size_t)s->M * s->N * sizeof(float));
    run(s, A, B, 1.0f, C, 2);
    int lda = lda_of(s), ldb = ldb_of(s);
    const double u = ldexp(1.0, -24);
    int step = s->M * s->N > 1000000 ? 7 : 1; /* every 7th row of the largest: still every tile */
    for (int i = 0; i < s->M; i += step)
        for (int j = 0; j < s->N; j++) {
            double dot = 0.0, mag = 0.0;
            for (int k = 0; k < s->K; k++) {
                double a = s->ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = s->tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                dot += a * b;
                mag += fabs(a * b);
            }
            double want = 0.5 * dot + C0[(size_t)i * s->N + j];
            double tol = 2.0 * s->K * u * (0.5 * mag + fabs(C0[(size_t)i * s->N + j])) + 1e-30;
            double got = C[(size_t)i * s->N + j];
            ck_assert_msg(fabs(got - want) <= tol, "%dx%dx%d ta=%d tb=%d: C[%d,%d] = %.9g, want %.9g ± %.3g",
                          s->M, s->N, s->K, s->ta, s->tb, i, j, got, want, tol);
        }
    kernels_set_threads(1);
    free(A);
    free(B);
    free(C);
    free(C0);
}
END_TEST

/* Start of part i of n as gemm.c cuts it: equal parts, down to a multiple of 16. */
static int cut(int extent, int i, int n)
{
    return i >= n ? extent : (int)((int64_t)extent * i / n) / 16 * 16;
}

START_TEST(grid_covers_the_result_once_in_large_tiles)
{
    int extents[] = {1, 15, 16, 100, 191, 383, 384, 385, 767, 768, 1000, 1024, 2048, 4096, 50000};
    int ne = (int)(sizeof extents / sizeof extents[0]);
    for (int a = 0; a < ne; a++)
        for (int b = 0; b < ne; b++) {
            int M = extents[a], N = extents[b], pm, pn;
            gemm_grid(M, N, &pm, &pn);
            ck_assert_int_ge(pm, 1);
            ck_assert_int_ge(pn, 1);
            ck_assert_int_le(pm * pn, 64);
            ck_assert_int_eq(pm & (pm - 1), 0); /* powers of two: balanced for 2, 4, 8 threads */
            ck_assert_int_eq(pn & (pn - 1), 0);
            /* parts cover each side once and are ≥ 192 (≥ 512 beyond 4 tiles), less the cut
             * rounding to a multiple of 16 */
            int min_edge = pm * pn > 4 ? 512 - 15 : 192 - 15;
            for (int i = 0; i < pm; i++)
                ck_assert_int_ge(cut(M, i + 1, pm) - cut(M, i, pm), pm == 1 ? M : min_edge);
            for (int j = 0; j < pn; j++)
                ck_assert_int_ge(cut(N, j + 1, pn) - cut(N, j, pn), pn == 1 ? N : min_edge);
            ck_assert_int_eq(cut(M, pm, pm), M);
            int pm2, pn2;
            kernels_set_threads(3);
            gemm_grid(M, N, &pm2, &pn2); /* the thread count plays no part */
            ck_assert(pm2 == pm && pn2 == pn);
        }
    /* a small Llama's Linear shapes are cut for 4 threads; a large model's for many */
    int pm, pn;
    gemm_grid(1024, 384, &pm, &pn);
    ck_assert_int_eq(pm * pn, 4);
    gemm_grid(8192, 4096, &pm, &pn);
    ck_assert_int_eq(pm * pn, 64);
    kernels_set_threads(1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gemm");
    TCase *tc = tcase_create("tiles");
    tcase_set_timeout(tc, 120);
    int n = (int)(sizeof SHAPES / sizeof SHAPES[0]);
    tcase_add_loop_test(tc, bits_do_not_depend_on_thread_count, 0, n);
    tcase_add_loop_test(tc, values_match_a_double_reference, 0, n);
    tcase_add_test(tc, grid_covers_the_result_once_in_large_tiles);
    suite_add_tcase(s, tc);
    return check_run(s);
}
