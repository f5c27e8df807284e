/* test_cuda_basic: casts, y += x, the deterministic sums and RMSNorm (lib/kernels/cuda) against
 * the CPU kernels and exact references.
 * - casts: bf16 bits against a reference that picks the nearer of the two neighbouring bf16
 *   values in double (ties to even), over random values of every magnitude and the special
 *   cases (±0, ±inf, NaN, subnormals, halfway cases, overflow to inf): exact.
 * - sums: Σx² against sum_squares, Σx against a sequential long-double sum, both to 1e-12 of
 *   Σ|x| (the GPU sums the same chunks in double in another order: a few double ulps).
 * - RMSNorm: widths below, at and above one warp/block, C > 1024, to FP32_REL; the backward
 *   accumulates into dx and dw that start non-zero, as the residual stream does; the forward
 *   with the residual add fused matches an add (exact) followed by the CPU norm. */
#include "check_run.h"
#include "kernel_test.h"
#include "kernels/kernels.h"

/* The bf16 nearest to x by distance in double, ties to the even pattern. */
static uint16_t ref_bf16(float x)
{
    if (isnan(x))
        return 0x7fc0;
    uint32_t u;
    memcpy(&u, &x, 4);
    uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);
    if ((u & 0xffff) == 0)
        return lo;
    double vlo, vhi;
    uint32_t blo = (uint32_t)lo << 16, bhi = (uint32_t)hi << 16;
    float f;
    memcpy(&f, &blo, 4);
    vlo = f;
    memcpy(&f, &bhi, 4);
    vhi = isinf(f) ? copysign(ldexp(1.0, 128), f) : f; /* overflow: inf counts as 2¹²⁸ */
    double dlo = fabs((double)x - vlo), dhi = fabs((double)x - vhi);
    if (dlo != dhi)
        return dlo < dhi ? lo : hi;
    return (lo & 1) ? hi : lo;
}

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

START_TEST(casts_round_to_nearest_even)
{
    enum { N = 70001 };
    float *x = malloc(N * sizeof(float));
    const uint32_t special[] = {0x00000000, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000,
                                0xffc00001, 0x7f800001, 0x00000001, 0x807fffff, 0x3f808000,
                                0x3f818000, 0x3f808001, 0x3f817fff, 0x7f7fffff, 0xff7fffff,
                                0x7f7f7fff, 0x00008000, 0x00018000};
    int ns = (int)(sizeof special / sizeof special[0]);
    kt_seed(11);
    for (int i = 0; i < N; i++) {
        if (i < ns) {
            x[i] = bits_float(special[i]);
            continue;
        }
        float m = kt_urand();
        x[i] = ldexpf(m, (int)(kt_urand() * 140)); /* 2⁻¹⁴⁰ … 2¹⁴⁰ */
        if (i % 7 == 0) { /* exact halfway cases */
            uint32_t u;
            memcpy(&u, &x[i], 4);
            x[i] = bits_float((u & 0xffff0000u) | 0x8000u);
        }
    }
    float *dx = kt_upload(x, N * sizeof(float));
    uint16_t *dh = dev_alloc(N * sizeof(uint16_t)), *h = malloc(N * sizeof(uint16_t));
    cuda_cast_f32_to_bf16(dh, dx, N);
    dev_get(h, dh, N * sizeof(uint16_t));
    for (int i = 0; i < N; i++) {
        uint16_t want = ref_bf16(x[i]);
        if (isnan(x[i]) && !((h[i] & 0x7f80) == 0x7f80 && (h[i] & 0x7f)))
            ck_abort_msg("NaN at %d gave %04x", i, h[i]);
        if (!isnan(x[i]) && h[i] != want)
            ck_abort_msg("bf16(%a) [%d]: got %04x, want %04x", x[i], i, h[i], want);
    }
    /* and back: exact widening */
    float *back = dev_alloc(N * sizeof(float));
    cuda_cast_bf16_to_f32(back, dh, N);
    float *got = kt_download(back, N);
    for (int i = 0; i < N; i++) {
        uint32_t u;
        memcpy(&u, &got[i], 4);
        if (u != (uint32_t)h[i] << 16)
            ck_abort_msg("widen %04x [%d] gave %08x", h[i], i, u);
    }
    free(x);
    free(h);
    free(got);
    dev_free(dx);
    dev_free(dh);
    dev_free(back);
}
END_TEST

START_TEST(add_inplace_adds)
{
    const int64_t n = 100003;
    kt_seed(3);
    float *y = kt_rand(n, 1.0f), *x = kt_rand(n, 2.0f);
    float *dy = kt_upload(y, n * sizeof(float)), *dx = kt_upload(x, n * sizeof(float));
    cuda_add_inplace(dy, dx, n);
    float *got = kt_download(dy, n);
    for (int64_t i = 0; i < n; i++)
        if (got[i] != y[i] + x[i]) /* one rounding: exact */
            ck_abort_msg("y[%lld]", (long long)i);
    free(y);
    free(x);
    free(got);
    dev_free(dy);
    dev_free(dx);
}
END_TEST

static const int64_t SUM_SIZES[] = {0, 1, 31, 1000, 65536, 65537, 3 * 65536 + 123, 400001};

START_TEST(sums_match_in_double)
{
    int64_t n = SUM_SIZES[_i];
    kt_seed(100 + (uint64_t)_i);
    float *x = kt_rand((size_t)n, 3.0f);
    float *dx = kt_upload(x, (size_t)n * sizeof(float));
    double *dout = dev_alloc(2 * sizeof(double)), out[2];
    cuda_sum_squares(dout, dx, n);
    cuda_sum(dout + 1, dx, n);
    dev_get(out, dout, sizeof out);
    long double s = 0.0L, sabs = 0.0L;
    for (int64_t i = 0; i < n; i++) {
        s += x[i];
        sabs += fabsl((long double)x[i]);
    }
    double sq = sum_squares(x, n);
    ck_assert_msg(fabs(out[0] - sq) <= 1e-12 * sq, "Σx² n=%lld: %.17g vs %.17g", (long long)n,
                  out[0], sq);
    ck_assert_msg(fabsl(out[1] - s) <= 1e-12L * sabs, "Σx n=%lld: %.17g vs %.17Lg",
                  (long long)n, out[1], s);
    /* the same call again gives the same bits (no order depends on timing) */
    double again[2];
    cuda_sum_squares(dout, dx, n);
    cuda_sum(dout + 1, dx, n);
    dev_get(again, dout, sizeof again);
    ck_assert(memcmp(out, again, sizeof out) == 0);
    free(x);
    dev_free(dx);
    dev_free(dout);
}
END_TEST

static const int RMS_C[] = {1, 37, 256, 1000, 1027, 2053};

START_TEST(rmsnorm_matches_cpu)
{
    int C = RMS_C[_i], N = _i % 2 ? 67 : 130; /* N > 64: more than one dw chunk */
    kt_seed(200 + (uint64_t)_i);
    float *x = kt_rand((size_t)N * C, 2.0f), *w = kt_rand(C, 1.0f), *dy = kt_rand((size_t)N * C, 1.0f);
    float *dx0 = kt_rand((size_t)N * C, 1.0f), *dw0 = kt_rand(C, 1.0f);
    float *out = malloc((size_t)N * C * sizeof(float)), *rstd = malloc(N * sizeof(float));
    float *dx = kt_copy(dx0, (size_t)N * C), *dw = kt_copy(dw0, C);
    rmsnorm_forward(out, rstd, x, w, N, C, 1e-5f);
    rmsnorm_backward(dx, dw, dy, x, w, rstd, N, C);

    float *d_x = kt_upload(x, (size_t)N * C * 4), *d_w = kt_upload(w, C * 4);
    float *d_dy = kt_upload(dy, (size_t)N * C * 4), *d_dx = kt_upload(dx0, (size_t)N * C * 4);
    float *d_dw = kt_upload(dw0, C * 4), *d_out = dev_alloc((size_t)N * C * 4);
    float *d_rstd = dev_alloc(N * 4);
    cuda_rmsnorm_forward(d_out, d_rstd, d_x, d_w, N, C, 1e-5f);
    kt_check("out", d_out, out, (size_t)N * C, FP32_REL);
    kt_check("rstd", d_rstd, rstd, N, FP32_REL);
    /* the backward from the CPU's rstd, so only the backward is compared */
    dev_put(d_rstd, rstd, N * 4);
    cuda_rmsnorm_backward(d_dx, d_dw, d_dy, d_x, d_w, d_rstd, N, C);
    kt_check("dx", d_dx, dx, (size_t)N * C, FP32_REL);
    kt_check("dw", d_dw, dw, C, FP32_REL);

    /* the residual add fused in front: x += branch (one rounding: exact), then the norm */
    float *branch = kt_rand((size_t)N * C, 1.0f), *d_branch = kt_upload(branch, (size_t)N * C * 4);
    for (size_t e = 0; e < (size_t)N * C; e++)
        x[e] += branch[e];
    rmsnorm_forward(out, rstd, x, w, N, C, 1e-5f);
    cuda_add_rmsnorm_forward(d_x, d_branch, d_out, d_rstd, d_w, N, C, 1e-5f);
    float *gx = kt_download(d_x, (size_t)N * C);
    ck_assert(memcmp(gx, x, (size_t)N * C * 4) == 0);
    kt_check("fused out", d_out, out, (size_t)N * C, FP32_REL);
    kt_check("fused rstd", d_rstd, rstd, N, FP32_REL);
    free(branch); free(gx);
    dev_free(d_branch);
    free(x); free(w); free(dy); free(dx0); free(dw0); free(out); free(rstd); free(dx); free(dw);
    dev_free(d_x); dev_free(d_w); dev_free(d_dy); dev_free(d_dx); dev_free(d_dw);
    dev_free(d_out); dev_free(d_rstd);
}
END_TEST

/* The kernels' scratch (chunk sums, dw partials, Δ) grows on demand and is shared: sums of
 * growing and shrinking sizes with an RMSNorm backward between them, each still exact to its
 * reference (same tolerances as above). */
START_TEST(scratch_is_reused_across_sizes)
{
    const int64_t sizes[] = {1000, 5 * 65536 + 7, 70000, 3};
    kt_seed(250);
    float *x = kt_rand(5 * 65536 + 7, 1.0f);
    float *d_x = kt_upload(x, (5 * 65536 + 7) * sizeof(float));
    double *d_out = dev_alloc(sizeof(double)), got;
    for (int k = 0; k < 4; k++) {
        cuda_sum_squares(d_out, d_x, sizes[k]);
        dev_get(&got, d_out, sizeof got);
        double ref = sum_squares(x, sizes[k]);
        ck_assert_msg(fabs(got - ref) <= 1e-12 * ref, "n=%lld", (long long)sizes[k]);
        /* a backward whose dw partials need 1031·3 floats of scratch, in between */
        int N = 130, C = 1031;
        float *ones = malloc((size_t)N * C * 4);
        for (int e = 0; e < N * C; e++)
            ones[e] = 1.0f;
        float *d_ones = kt_upload(ones, (size_t)N * C * 4), *dx = kt_upload(ones, (size_t)N * C * 4);
        float *dw = kt_upload(ones, C * 4);
        /* dy = x = w = 1, rstd = 1, dx = dw = 1 to start */
        cuda_rmsnorm_backward(dx, dw, d_ones, d_ones, d_ones, d_ones, N, C);
        float *gdw = kt_download(dw, C);
        for (int j = 0; j < C; j++) /* dw = 1 + Σ over 130 tokens of 1·1·1: exact */
            if (gdw[j] != 131.0f)
                ck_abort_msg("dw[%d] = %g after n=%lld", j, gdw[j], (long long)sizes[k]);
        free(ones); free(gdw);
        dev_free(d_ones); dev_free(dx); dev_free(dw);
    }
    free(x);
    dev_free(d_x);
    dev_free(d_out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cuda_basic");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, casts_round_to_nearest_even);
    tcase_add_test(tc, add_inplace_adds);
    tcase_add_loop_test(tc, sums_match_in_double, 0, (int)(sizeof SUM_SIZES / sizeof SUM_SIZES[0]));
    tcase_add_loop_test(tc, rmsnorm_matches_cpu, 0, (int)(sizeof RMS_C / sizeof RMS_C[0]));
    tcase_add_test(tc, scratch_is_reused_across_sizes);
    suite_add_tcase(s, tc);
    return check_run(s);
}
