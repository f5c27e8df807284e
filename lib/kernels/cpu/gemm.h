/* gemm: the one way the CPU kernels call BLAS (gemm.c says why). Row-major, like cblas. */
#ifndef PICOTRON_KERNELS_CPU_GEMM_H
#define PICOTRON_KERNELS_CPU_GEMM_H

/* C (M, N) = alpha · op(A) · op(B) + beta · C, op(X) = Xᵀ when trans_x. Cut into the tiles
 * gemm_grid gives; the tiles run on the OpenMP threads (in this thread when called inside a
 * parallel region). Bitwise the same for every thread count. */
void gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
          const float *B, int ldb, float beta, float *C, int ldc);

/* The tile grid of an (M, N) result: parts_m × parts_n tiles; a function of M and N only. */
void gemm_grid(int M, int N, int *parts_m, int *parts_n);

#endif
