/* test_lt_bf16: the cuBLASLt stand-in's bf16 operands (tests/cudastub/cublaslt.c), which the
 * bf16 GEMMs of the CUDA backend will run on here. bf16 A and B (odd sizes, both transposes)
 * with an fp32 C/D accumulated in place (beta 1: the dW pattern) and with a bf16 D (beta 0:
 * an activation output), against a reference summed here in double from the same bf16 bits
 * widened by hand. Bounds: the stand-in also sums in double (in another order: differences
 * ~k·2^-53 relative), then rounds once to fp32, so an fp32 D is the reference rounded to fp32
 * within 1 ulp (the two double sums may fall on either side of a rounding boundary); a bf16 D
 * must be exactly the fp32 reference rounded to nearest even (a summation-order flip across
 * a bf16 rounding boundary has odds ~1e-8 an element, and these inputs are fixed), so a
 * truncating or a double-rounding store fails. Exit 0 on success, 1 with one line per
 * mismatch otherwise. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublasLt.h>
#include <cuda_runtime.h>

#include "cudastub.h"

static int failures;

static float widen(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* f rounded to bf16, nearest even (no NaN here). */
static float round_bf16(float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    bits &= 0xffff0000u;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* A bf16 in [-2, 2) from a fixed LCG: 8-bit mantissas, exactly representable. */
static uint16_t draw(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    float f = (float)(*state >> 8) / (float)(1u << 24) * 4.0f - 2.0f;
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return (uint16_t)(bits >> 16); /* truncation: any bf16 will do as input */
}

static void *device(size_t bytes)
{
    void *p = NULL;
    if (cudaMalloc(&p, bytes) != cudaSuccess)
        cudastub_fail("test_lt_bf16", "cudaMalloc of %zu bytes", bytes);
    return p;
}

static void expect(int ok, const char *what, uint64_t i, uint64_t j, double got, double want)
{
    if (!ok && failures++ < 10)
        fprintf(stderr, "test_lt_bf16: %s (%llu, %llu): got %.9g, want %.9g\n", what,
                (unsigned long long)i, (unsigned long long)j, got, want);
}

/* D (m × n) = op(A)·op(B) + beta·C, A and B bf16, C = D of type ct, column-major. */
static void run(int ta, int tb, uint64_t m, uint64_t n, uint64_t k, cudaDataType_t ct,
                float beta)
{
    uint64_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    size_t cs = ct == CUDA_R_16BF ? 2 : 4;
    uint16_t *A = device(ar * ac * 2), *B = device(br * bc * 2);
    void *C = device(m * n * cs), *ws = device((size_t)1 << 20);
    uint32_t seed = (uint32_t)(m * 131 + n * 17 + k);
    for (uint64_t i = 0; i < ar * ac; i++)
        A[i] = draw(&seed);
    for (uint64_t i = 0; i < br * bc; i++)
        B[i] = draw(&seed);
    float *c0 = malloc(m * n * sizeof *c0); /* C before, widened */
    for (uint64_t i = 0; i < m * n; i++) {
        uint16_t h = draw(&seed);
        c0[i] = widen(h);
        if (ct == CUDA_R_16BF)
            ((uint16_t *)C)[i] = h;
        else
            ((float *)C)[i] = c0[i];
    }
    cublasLtHandle_t lt;
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulPreference_t pref;
    cublasLtCreate(&lt);
    cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    int32_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa);
    cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb);
    cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, ar, ac, (int64_t)ar);
    cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, br, bc, (int64_t)br);
    cublasLtMatrixLayoutCreate(&lc, ct, m, n, (int64_t)m);
    cublasLtMatmulPreferenceCreate(&pref);
    uint64_t wsb = (uint64_t)1 << 20;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb,
                                         sizeof wsb);
    cublasLtMatmulHeuristicResult_t h;
    int found = 0;
    cublasLtMatmulAlgoGetHeuristic(lt, desc, la, lb, lc, lc, pref, 1, &h, &found);
    if (found != 1)
        cudastub_fail("test_lt_bf16", "no algorithm");
    float alpha = 1.0f;
    if (cublasLtMatmul(lt, desc, &alpha, A, la, B, lb, &beta, C, lc, C, lc, &h.algo, ws, wsb,
                       NULL) != CUBLAS_STATUS_SUCCESS)
        cudastub_fail("test_lt_bf16", "cublasLtMatmul failed");
    for (uint64_t j = 0; j < n; j++)
        for (uint64_t i = 0; i < m; i++) {
            double want = beta * (double)c0[i + j * m];
            for (uint64_t p = 0; p < k; p++)
                want += (double)widen(A[ta ? p + i * ar : i + p * ar]) *
                        widen(B[tb ? j + p * br : p + j * br]);
            float w32 = (float)want;
            if (ct == CUDA_R_32F) {
                float got = ((float *)C)[i + j * m];
                expect(fabsf(got - w32) <= nextafterf(fabsf(w32), INFINITY) - fabsf(w32),
                       "fp32 D", i, j, got, w32);
            } else {
                float got = widen(((uint16_t *)C)[i + j * m]);
                expect(got == round_bf16(w32), "bf16 D", i, j, got, round_bf16(w32));
            }
        }
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(la);
    cublasLtMatrixLayoutDestroy(lb);
    cublasLtMatrixLayoutDestroy(lc);
    cublasLtMatmulDescDestroy(desc);
    cublasLtDestroy(lt);
    cudaFree(A);
    cudaFree(B);
    cudaFree(C);
    cudaFree(ws);
    free(c0);
}

int main(void)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            run(ta, tb, 37, 29, 70, CUDA_R_32F, 1.0f);  /* dW += dyᵀ·x in fp32 */
            run(ta, tb, 37, 29, 70, CUDA_R_16BF, 0.0f); /* an activation out */
            run(ta, tb, 5, 3, 1031, CUDA_R_16BF, 1.0f); /* long k, accumulate in bf16 */
        }
    if (failures) {
        fprintf(stderr, "test_lt_bf16: %d mismatches\n", failures);
        return 1;
    }
    printf("test_lt_bf16: bf16 GEMMs match the double reference (12 cases)\n");
    return 0;
}
