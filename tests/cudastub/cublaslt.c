/* cuBLASLt and cuBLAS stand-ins: handles, matmul descriptors, layouts, preferences, the
 * heuristic and the matmul itself as plain loops in double, honouring transposes, leading
 * dimensions, alpha, beta (beta = 0: C is not read) and the alignment the algorithm was chosen
 * for; plus cublasSscal (tests/cudastub/cudastub.h). Operands are fp32, or bf16 A and B with
 * fp32 or bf16 C and D (the combinations cuBLASLt runs under CUBLAS_COMPUTE_32F): bf16 reads
 * widen exactly, a bf16 D is the fp32 result rounded to nearest even. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cublasLt.h>
#include <cublas_v2.h>

#include "cudastub.h"

enum { MAGIC_HANDLE = 0x4c74, MAGIC_DESC, MAGIC_LAYOUT, MAGIC_PREF, MAGIC_ALGO, MAGIC_BLAS };

typedef struct {
    int magic;
} Handle;

typedef struct {
    int magic;
    cublasComputeType_t compute;
    cudaDataType_t scale;
    cublasOperation_t ta, tb;
} Desc;

typedef struct {
    int magic;
    cudaDataType_t type;
    uint64_t rows, cols;
    int64_t ld;
} Layout;

typedef struct {
    int magic;
    size_t max_workspace;
    uint32_t align[4]; /* A, B, C, D minimum alignment the caller promises (default 256) */
} Pref;

/* What the heuristic writes into cublasLtMatmulAlgo_t.data. */
enum { ALGO_MAGIC, ALGO_ALIGN, ALGO_WORKSPACE, ALGO_M, ALGO_N, ALGO_K };

#define HEUR_WORKSPACE ((size_t)1 << 20) /* what our "algorithm" asks for: it is checked */

static void *make(size_t size, int magic)
{
    int *p = calloc(1, size);
    if (!p)
        cudastub_fail("cublasLt", "host out of memory");
    *p = magic;
    return p;
}

static void *as(const void *p, int magic, const char *call, const char *what)
{
    if (!p || *(const int *)p != magic)
        cudastub_fail(call, "%s is not a valid handle of its kind", what);
    return (void *)p;
}

const char *cublasLtGetStatusString(cublasStatus_t status)
{
    switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS (cudastub: unexpected)";
    }
}

cublasStatus_t cublasLtCreate(cublasLtHandle_t *h)
{
    *h = make(sizeof(Handle), MAGIC_HANDLE);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtDestroy(cublasLtHandle_t h)
{
    free(as(h, MAGIC_HANDLE, "cublasLtDestroy", "handle"));
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescCreate(cublasLtMatmulDesc_t *d, cublasComputeType_t compute,
                                        cudaDataType_t scale)
{
    if (compute != CUBLAS_COMPUTE_32F && compute != CUBLAS_COMPUTE_32F_FAST_TF32)
        cudastub_fail("cublasLtMatmulDescCreate", "compute type %d: the stand-in does fp32 only",
                      (int)compute);
    if (scale != CUDA_R_32F)
        cudastub_fail("cublasLtMatmulDescCreate", "fp32 compute needs fp32 scale");
    Desc *x = make(sizeof(Desc), MAGIC_DESC);
    x->compute = compute;
    x->scale = scale;
    x->ta = x->tb = CUBLAS_OP_N;
    *d = (cublasLtMatmulDesc_t)x;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescDestroy(cublasLtMatmulDesc_t d)
{
    free(as(d, MAGIC_DESC, "cublasLtMatmulDescDestroy", "descriptor"));
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulDescSetAttribute(cublasLtMatmulDesc_t d,
                                              cublasLtMatmulDescAttributes_t attr,
                                              const void *buf, size_t size)
{
    const char *call = "cublasLtMatmulDescSetAttribute";
    Desc *x = as(d, MAGIC_DESC, call, "descriptor");
    if (attr != CUBLASLT_MATMUL_DESC_TRANSA && attr != CUBLASLT_MATMUL_DESC_TRANSB)
        cudastub_fail(call, "attribute %d is not one the stand-in knows", (int)attr);
    if (size != sizeof(int32_t))
        cudastub_fail(call, "a transpose attribute is an int32 (%zu bytes given)", size);
    int32_t op;
    memcpy(&op, buf, sizeof op);
    if (op != CUBLAS_OP_N && op != CUBLAS_OP_T)
        cudastub_fail(call, "operation %d", op);
    *(attr == CUBLASLT_MATMUL_DESC_TRANSA ? &x->ta : &x->tb) = (cublasOperation_t)op;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutCreate(cublasLtMatrixLayout_t *l, cudaDataType type,
                                          uint64_t rows, uint64_t cols, int64_t ld)
{
    if (type != CUDA_R_32F && type != CUDA_R_16BF)
        cudastub_fail("cublasLtMatrixLayoutCreate", "type %d: the stand-in does fp32 and bf16 "
                      "only", (int)type);
    if (rows == 0 || cols == 0 || ld < (int64_t)rows)
        cudastub_fail("cublasLtMatrixLayoutCreate", "%llu x %llu with ld %lld (column-major: "
                      "ld >= rows)", (unsigned long long)rows, (unsigned long long)cols,
                      (long long)ld);
    Layout *x = make(sizeof(Layout), MAGIC_LAYOUT);
    x->type = type;
    x->rows = rows;
    x->cols = cols;
    x->ld = ld;
    *l = (cublasLtMatrixLayout_t)x;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatrixLayoutDestroy(cublasLtMatrixLayout_t l)
{
    free(as(l, MAGIC_LAYOUT, "cublasLtMatrixLayoutDestroy", "layout"));
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceCreate(cublasLtMatmulPreference_t *p)
{
    Pref *x = make(sizeof(Pref), MAGIC_PREF);
    for (int i = 0; i < 4; i++)
        x->align[i] = 256;
    *p = (cublasLtMatmulPreference_t)x;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceDestroy(cublasLtMatmulPreference_t p)
{
    free(as(p, MAGIC_PREF, "cublasLtMatmulPreferenceDestroy", "preference"));
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasLtMatmulPreferenceSetAttribute(cublasLtMatmulPreference_t p,
                                                    cublasLtMatmulPreferenceAttributes_t attr,
                                                    const void *buf, size_t size)
{
    const char *call = "cublasLtMatmulPreferenceSetAttribute";
    Pref *x = as(p, MAGIC_PREF, call, "preference");
    if (attr == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES) {
        if (size != sizeof(uint64_t))
            cudastub_fail(call, "MAX_WORKSPACE_BYTES is a uint64 (%zu bytes given)", size);
        uint64_t v;
        memcpy(&v, buf, sizeof v);
        x->max_workspace = (size_t)v;
        return CUBLAS_STATUS_SUCCESS;
    }
    int i = attr == CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES ? 0
            : attr == CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES ? 1
            : attr == CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES ? 2
            : attr == CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES ? 3 : -1;
    if (i < 0)
        cudastub_fail(call, "attribute %d is not one the stand-in knows", (int)attr);
    if (size != sizeof(uint32_t))
        cudastub_fail(call, "an alignment is a uint32 (%zu bytes given)", size);
    memcpy(&x->align[i], buf, sizeof x->align[i]);
    if (x->align[i] < 4 || (x->align[i] & (x->align[i] - 1)))
        cudastub_fail(call, "alignment %u is not a power of two >= 4 (fp32)", x->align[i]);
    return CUBLAS_STATUS_SUCCESS;
}

/* op(A) is m × k, op(B) k × n, C and D m × n: the shapes the layouts and transposes give. */
static void shapes(const char *call, const Desc *d, const Layout *a, const Layout *b,
                   const Layout *c, const Layout *dd, uint64_t *m, uint64_t *n, uint64_t *k)
{
    *m = d->ta == CUBLAS_OP_T ? a->cols : a->rows;
    *k = d->ta == CUBLAS_OP_T ? a->rows : a->cols;
    uint64_t kb = d->tb == CUBLAS_OP_T ? b->cols : b->rows;
    *n = d->tb == CUBLAS_OP_T ? b->rows : b->cols;
    if (kb != *k || c->rows != *m || c->cols != *n || dd->rows != *m || dd->cols != *n)
        cudastub_fail(call, "shapes disagree: op(A) %llu x %llu, op(B) %llu x %llu, C %llu x "
                      "%llu, D %llu x %llu", (unsigned long long)*m, (unsigned long long)*k,
                      (unsigned long long)kb, (unsigned long long)*n,
                      (unsigned long long)c->rows, (unsigned long long)c->cols,
                      (unsigned long long)dd->rows, (unsigned long long)dd->cols);
}

cublasStatus_t cublasLtMatmulAlgoGetHeuristic(cublasLtHandle_t h, cublasLtMatmulDesc_t desc,
                                              cublasLtMatrixLayout_t A, cublasLtMatrixLayout_t B,
                                              cublasLtMatrixLayout_t C, cublasLtMatrixLayout_t D,
                                              cublasLtMatmulPreference_t pref, int requested,
                                              cublasLtMatmulHeuristicResult_t *results,
                                              int *returned)
{
    const char *call = "cublasLtMatmulAlgoGetHeuristic";
    as(h, MAGIC_HANDLE, call, "handle");
    const Desc *d = as(desc, MAGIC_DESC, call, "descriptor");
    const Pref *p = as(pref, MAGIC_PREF, call, "preference");
    uint64_t m, n, k;
    shapes(call, d, as(A, MAGIC_LAYOUT, call, "A"), as(B, MAGIC_LAYOUT, call, "B"),
           as(C, MAGIC_LAYOUT, call, "C"), as(D, MAGIC_LAYOUT, call, "D"), &m, &n, &k);
    if (requested < 1)
        cudastub_fail(call, "requested %d results", requested);
    memset(results, 0, sizeof *results);
    *returned = 0;
    if (p->max_workspace < HEUR_WORKSPACE) /* our one algorithm needs its workspace */
        return CUBLAS_STATUS_SUCCESS;
    uint32_t al = p->align[0];
    for (int i = 1; i < 4; i++)
        al = p->align[i] < al ? p->align[i] : al;
    uint64_t *a = results->algo.data;
    a[ALGO_MAGIC] = MAGIC_ALGO;
    a[ALGO_ALIGN] = al;
    a[ALGO_WORKSPACE] = HEUR_WORKSPACE;
    a[ALGO_M] = m;
    a[ALGO_N] = n;
    a[ALGO_K] = k;
    results->workspaceSize = HEUR_WORKSPACE;
    results->state = CUBLAS_STATUS_SUCCESS;
    results->wavesCount = 1.0f;
    *returned = 1;
    return CUBLAS_STATUS_SUCCESS;
}

static size_t elem_bytes(cudaDataType_t t)
{
    return t == CUDA_R_16BF ? sizeof(uint16_t) : sizeof(float);
}

/* Element i of a buffer of type t, exactly. */
static double load(const void *p, cudaDataType_t t, uint64_t i)
{
    if (t == CUDA_R_32F)
        return ((const float *)p)[i];
    uint32_t bits = (uint32_t)((const uint16_t *)p)[i] << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* v rounded to fp32, then (type bf16) to bf16 round to nearest even, NaN kept NaN. */
static void store(void *p, cudaDataType_t t, uint64_t i, double v)
{
    float f = (float)v;
    if (t == CUDA_R_32F) {
        ((float *)p)[i] = f;
        return;
    }
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    if ((bits & 0x7fffffffu) > 0x7f800000u)
        bits |= 0x00400000u; /* quiet NaN: stays NaN after the truncation */
    else
        bits += 0x7fffu + ((bits >> 16) & 1u);
    ((uint16_t *)p)[i] = (uint16_t)(bits >> 16);
}

/* The operand types cuBLASLt accepts under fp32 compute: A and B alike, C and D alike; fp32
 * A/B need fp32 C/D; TF32 compute reads fp32 A/B only. */
static void check_types(const char *call, const Desc *d, const Layout *a, const Layout *b,
                        const Layout *c, const Layout *dd)
{
    if (a->type != b->type || c->type != dd->type || (a->type == CUDA_R_32F &&
                                                      c->type != CUDA_R_32F))
        cudastub_fail(call, "operand types A %d B %d C %d D %d: not a combination cuBLASLt "
                      "runs", (int)a->type, (int)b->type, (int)c->type, (int)dd->type);
    if (d->compute == CUBLAS_COMPUTE_32F_FAST_TF32 && a->type != CUDA_R_32F)
        cudastub_fail(call, "TF32 compute with bf16 operands");
}

/* Bytes a column-major layout spans from its first element to one past its last. */
static size_t extent(const Layout *l)
{
    return ((size_t)(l->cols - 1) * (size_t)l->ld + l->rows) * elem_bytes(l->type);
}

static void check_aligned(const char *call, const char *what, const void *p, uint64_t al)
{
    if ((uintptr_t)p % al)
        cudastub_fail(call, "%s %p is not %llu-byte aligned, which the algorithm was chosen for",
                      what, p, (unsigned long long)al);
}

cublasStatus_t cublasLtMatmul(cublasLtHandle_t h, cublasLtMatmulDesc_t desc, const void *alpha,
                              const void *A, cublasLtMatrixLayout_t Adesc, const void *B,
                              cublasLtMatrixLayout_t Bdesc, const void *beta, const void *C,
                              cublasLtMatrixLayout_t Cdesc, void *D, cublasLtMatrixLayout_t Ddesc,
                              const cublasLtMatmulAlgo_t *algo, void *workspace,
                              size_t workspace_bytes, cudaStream_t stream)
{
    (void)stream;
    const char *call = "cublasLtMatmul";
    as(h, MAGIC_HANDLE, call, "handle");
    const Desc *d = as(desc, MAGIC_DESC, call, "descriptor");
    const Layout *la = as(Adesc, MAGIC_LAYOUT, call, "Adesc");
    const Layout *lb = as(Bdesc, MAGIC_LAYOUT, call, "Bdesc");
    const Layout *lc = as(Cdesc, MAGIC_LAYOUT, call, "Cdesc");
    const Layout *ld = as(Ddesc, MAGIC_LAYOUT, call, "Ddesc");
    uint64_t m, n, k;
    shapes(call, d, la, lb, lc, ld, &m, &n, &k);
    check_types(call, d, la, lb, lc, ld);
    if (C == D && (lc->rows != ld->rows || lc->cols != ld->cols || lc->ld != ld->ld))
        cudastub_fail(call, "in place (C == D) needs equal C and D layouts");
    if (!algo || algo->data[ALGO_MAGIC] != MAGIC_ALGO)
        cudastub_fail(call, "the algorithm did not come from cublasLtMatmulAlgoGetHeuristic");
    if (algo->data[ALGO_M] != m || algo->data[ALGO_N] != n || algo->data[ALGO_K] != k)
        cudastub_fail(call, "the algorithm was chosen for %llu x %llu x %llu, used for %llu x "
                      "%llu x %llu", (unsigned long long)algo->data[ALGO_M],
                      (unsigned long long)algo->data[ALGO_N],
                      (unsigned long long)algo->data[ALGO_K],
                      (unsigned long long)m, (unsigned long long)n, (unsigned long long)k);
    if (workspace_bytes < algo->data[ALGO_WORKSPACE])
        cudastub_fail(call, "workspace of %zu bytes, the algorithm needs %llu", workspace_bytes,
                      (unsigned long long)algo->data[ALGO_WORKSPACE]);
    cudastub_check_device(call, "workspace", workspace, workspace_bytes);
    cudastub_check_device(call, "A", A, extent(la));
    cudastub_check_device(call, "B", B, extent(lb));
    cudastub_check_device(call, "C", C, extent(lc));
    cudastub_check_device(call, "D", D, extent(ld));
    const void *ops[4] = {A, B, C, D};
    const char *names[4] = {"A", "B", "C", "D"};
    for (int i = 0; i < 4; i++)
        check_aligned(call, names[i], ops[i], algo->data[ALGO_ALIGN]);
    if (cudastub_is_device(alpha, sizeof(float)) || cudastub_is_device(beta, sizeof(float)))
        cudastub_fail(call, "alpha and beta are host scalars (pointer mode host)");
    double al = *(const float *)alpha, be = *(const float *)beta;
    /* rows of op(A) and columns of op(B), each contiguous over k, in double */
    double *ar = malloc(m * k * sizeof(double)), *bc = malloc(n * k * sizeof(double));
    if (!ar || !bc)
        cudastub_fail(call, "host out of memory");
    for (uint64_t i = 0; i < m; i++)
        for (uint64_t p = 0; p < k; p++)
            ar[i * k + p] = load(A, la->type, d->ta == CUBLAS_OP_T ? p + i * la->ld
                                                                   : i + p * la->ld);
    for (uint64_t j = 0; j < n; j++)
        for (uint64_t p = 0; p < k; p++)
            bc[j * k + p] = load(B, lb->type, d->tb == CUBLAS_OP_T ? j + p * lb->ld
                                                                   : p + j * lb->ld);
    for (uint64_t j = 0; j < n; j++)
        for (uint64_t i = 0; i < m; i++) {
            const double *x = ar + i * k, *y = bc + j * k;
            double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            uint64_t p = 0;
            for (; p + 4 <= k; p += 4) {
                s0 += x[p] * y[p];
                s1 += x[p + 1] * y[p + 1];
                s2 += x[p + 2] * y[p + 2];
                s3 += x[p + 3] * y[p + 3];
            }
            for (; p < k; p++)
                s0 += x[p] * y[p];
            double v = al * ((s0 + s1) + (s2 + s3));
            if (be != 0.0) /* beta = 0: C is not read (it may hold anything) */
                v += be * load(C, lc->type, i + j * lc->ld);
            store(D, ld->type, i + j * ld->ld, v);
        }
    free(ar);
    free(bc);
    return CUBLAS_STATUS_SUCCESS;
}

/* ---- cuBLAS: a handle and sscal ---- */

typedef struct {
    int magic;
    cublasPointerMode_t mode;
} Blas;

cublasStatus_t cublasCreate_v2(cublasHandle_t *h)
{
    Blas *b = make(sizeof(Blas), MAGIC_BLAS);
    b->mode = CUBLAS_POINTER_MODE_HOST;
    *h = (cublasHandle_t)b;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t h, cudaStream_t stream)
{
    (void)stream;
    as(h, MAGIC_BLAS, "cublasSetStream", "handle");
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetPointerMode_v2(cublasHandle_t h, cublasPointerMode_t mode)
{
    ((Blas *)as(h, MAGIC_BLAS, "cublasSetPointerMode", "handle"))->mode = mode;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSscal_v2_64(cublasHandle_t h, int64_t n, const float *alpha, float *x,
                                 int64_t incx)
{
    const char *call = "cublasSscal";
    const Blas *b = as(h, MAGIC_BLAS, call, "handle");
    if (b->mode != CUBLAS_POINTER_MODE_HOST || cudastub_is_device(alpha, sizeof *alpha))
        cudastub_fail(call, "alpha must be a host scalar in pointer mode host");
    if (n <= 0)
        return CUBLAS_STATUS_SUCCESS;
    if (incx < 1)
        cudastub_fail(call, "incx %lld", (long long)incx);
    cudastub_check_device(call, "x", x, ((size_t)(n - 1) * (size_t)incx + 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        x[i * incx] *= *alpha;
    return CUBLAS_STATUS_SUCCESS;
}
