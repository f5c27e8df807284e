/* test_cuda_bf16: the _bf16 kernel variants (RMSNorm, SwiGLU, RoPE, residual add, attention,
 * ring steps, cross-entropy) (lib/kernels/cuda) against the fp32 CPU kernels run
 * on the same (bf16-representable) inputs. A bf16 output must lie within half a bf16 ulp of
 * the CPU's fp32 result, plus FP32_REL of the scale (kernel_test.h): the GPU's fp32 value
 * differs from the CPU's by that much, which can move it across a rounding boundary. fp32
 * outputs (rmsnorm's rstd, dx, dw; the residual of add_inplace) keep the fp32 tolerance. */
#include "check_run.h"
#include "kernel_test.h"
#include "kernels/kernels.h"

static float widen(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* n random bf16 values (truncated fp32 randoms) and their fp32 widening */
static uint16_t *rand_bf16(size_t n, float scale, float **wide)
{
    uint16_t *h = malloc(n * 2 + 2);
    *wide = malloc(n * 4 + 4);
    for (size_t i = 0; i < n; i++) {
        float f = scale * kt_urand();
        uint32_t u;
        memcpy(&u, &f, 4);
        h[i] = (uint16_t)(u >> 16);
        (*wide)[i] = widen(h[i]);
    }
    return h;
}

/* the bf16 outputs at d (n values) against the fp32 reference, as in the header comment */
static void check_bf16(const char *what, const uint16_t *d, const float *ref, size_t n)
{
    uint16_t *h = malloc(n * 2 + 2);
    dev_get(h, d, n * 2);
    double mean = 0.0;
    for (size_t i = 0; i < n; i++)
        mean += fabs(ref[i]);
    mean = n ? mean / n : 0.0;
    for (size_t i = 0; i < n; i++) {
        double half_ulp = ref[i] == 0.0f ? 0.0 : ldexp(1.0, ilogbf(ref[i]) - 8);
        double tol = half_ulp + FP32_REL * (fabs(ref[i]) + mean);
        if (fabs(widen(h[i]) - (double)ref[i]) > tol)
            ck_abort_msg("%s[%zu]: got %.9g (bf16 %04x), CPU %.9g (tolerance %.3g)", what, i,
                         widen(h[i]), h[i], ref[i], tol);
    }
    free(h);
}

static const int RMS_C[] = {37, 1027};

START_TEST(rmsnorm_bf16)
{
    int C = RMS_C[_i], N = 70;
    size_t n = (size_t)N * C;
    kt_seed(500 + (uint64_t)_i);
    float *x = kt_rand(n, 2.0f), *w = kt_rand(C, 1.0f), *dyw;
    uint16_t *dy = rand_bf16(n, 1.0f, &dyw);
    float *dx = kt_rand(n, 1.0f), *dw = kt_rand(C, 1.0f);
    float *d_dx = kt_upload(dx, n * 4), *d_dw = kt_upload(dw, C * 4);
    float *out = malloc(n * 4), *rstd = malloc(N * 4);
    rmsnorm_forward(out, rstd, x, w, N, C, 1e-5f);
    rmsnorm_backward(dx, dw, dyw, x, w, rstd, N, C);
    float *d_x = kt_upload(x, n * 4), *d_w = kt_upload(w, C * 4), *d_rstd = dev_alloc(N * 4);
    uint16_t *d_out = dev_alloc(n * 2), *d_dy = kt_upload(dy, n * 2);
    cuda_rmsnorm_forward_bf16(d_out, d_rstd, d_x, d_w, N, C, 1e-5f);
    check_bf16("out", d_out, out, n);
    kt_check("rstd", d_rstd, rstd, N, FP32_REL);
    dev_put(d_rstd, rstd, N * 4);
    cuda_rmsnorm_backward_bf16(d_dx, d_dw, d_dy, d_x, d_w, d_rstd, N, C);
    kt_check("dx", d_dx, dx, n, FP32_REL);
    kt_check("dw", d_dw, dw, C, FP32_REL);

    /* fused: x (fp32) += branch (bf16, exact widening: one rounding), then the norm */
    float *bw;
    uint16_t *branch = rand_bf16(n, 1.0f, &bw), *d_branch = kt_upload(branch, n * 2);
    for (size_t e = 0; e < n; e++)
        x[e] += bw[e];
    rmsnorm_forward(out, rstd, x, w, N, C, 1e-5f);
    cuda_add_rmsnorm_forward_bf16(d_x, d_branch, d_out, d_rstd, d_w, N, C, 1e-5f);
    float *gx = kt_download(d_x, n);
    ck_assert(memcmp(gx, x, n * 4) == 0);
    check_bf16("fused out", d_out, out, n);
    kt_check("fused rstd", d_rstd, rstd, N, FP32_REL);
    free(branch); free(bw); free(gx);
    dev_free(d_branch);
    free(x); free(w); free(dy); free(dyw); free(dx); free(dw); free(out); free(rstd);
    dev_free(d_x); dev_free(d_w); dev_free(d_rstd); dev_free(d_out); dev_free(d_dy);
    dev_free(d_dx); dev_free(d_dw);
}
END_TEST

START_TEST(swiglu_bf16)
{
    const size_t n = 30011;
    kt_seed(510);
    float *aw, *bw, *gw;
    uint16_t *a = rand_bf16(n, 6.0f, &aw), *b = rand_bf16(n, 2.0f, &bw), *g = rand_bf16(n, 1.0f, &gw);
    float *out = malloc(n * 4), *da = malloc(n * 4), *db = malloc(n * 4);
    swiglu_forward(out, aw, bw, (int64_t)n);
    swiglu_backward(da, db, gw, aw, bw, (int64_t)n);
    uint16_t *d_a = kt_upload(a, n * 2), *d_b = kt_upload(b, n * 2), *d_g = kt_upload(g, n * 2);
    uint16_t *d_out = dev_alloc(n * 2), *d_da = dev_alloc(n * 2), *d_db = dev_alloc(n * 2);
    cuda_swiglu_forward_bf16(d_out, d_a, d_b, (int64_t)n);
    cuda_swiglu_backward_bf16(d_da, d_db, d_g, d_a, d_b, (int64_t)n);
    check_bf16("out", d_out, out, n);
    check_bf16("da", d_da, da, n);
    check_bf16("db", d_db, db, n);
    free(a); free(b); free(g); free(aw); free(bw); free(gw); free(out); free(da); free(db);
    dev_free(d_a); dev_free(d_b); dev_free(d_g); dev_free(d_out); dev_free(d_da); dev_free(d_db);
}
END_TEST

START_TEST(rope_bf16)
{
    int B = 2, T = 9, nh = 3, D = 64, pos0 = 1000;
    size_t n = (size_t)B * T * nh * D;
    kt_seed(520);
    float *xw;
    uint16_t *x = rand_bf16(n, 1.0f, &xw);
    float *y = kt_copy(xw, n), *dy = kt_copy(xw, n);
    rope_forward(y, B, T, nh, D, pos0, 10000.0);
    rope_backward(dy, B, T, nh, D, pos0, 10000.0);
    uint16_t *d_y = kt_upload(x, n * 2), *d_dy = kt_upload(x, n * 2);
    cuda_rope_forward_bf16(d_y, B, T, nh, D, pos0, 10000.0);
    cuda_rope_backward_bf16(d_dy, B, T, nh, D, pos0, 10000.0);
    check_bf16("rope", d_y, y, n);
    check_bf16("rope backward", d_dy, dy, n);
    free(x); free(xw); free(y); free(dy);
    dev_free(d_y); dev_free(d_dy);
}
END_TEST

START_TEST(add_bf16_into_fp32)
{
    const size_t n = 10007;
    kt_seed(530);
    float *y = kt_rand(n, 1.0f), *xw;
    uint16_t *x = rand_bf16(n, 1.0f, &xw);
    float *d_y = kt_upload(y, n * 4);
    uint16_t *d_x = kt_upload(x, n * 2);
    cuda_add_inplace_bf16(d_y, d_x, (int64_t)n);
    float *got = kt_download(d_y, n);
    for (size_t i = 0; i < n; i++) /* the widening is exact, the add one rounding: exact */
        if (got[i] != y[i] + xw[i])
            ck_abort_msg("y[%zu]: %.9g vs %.9g", i, got[i], y[i] + xw[i]);
    free(y); free(x); free(xw); free(got);
    dev_free(d_y); dev_free(d_x);
}
END_TEST

/* whole-sequence attention, GQA 3: (B, T, H, K, D) = (1, 40, 3, 1, 32) */
START_TEST(attention_bf16)
{
    int B = 1, T = 40, H = 3, K = 1, D = 32;
    size_t nq = (size_t)B * T * H * D, nk = (size_t)B * T * K * D, rows = (size_t)B * H * T;
    kt_seed(540);
    float *qw, *kw, *vw, *gw;
    uint16_t *q = rand_bf16(nq, 2.0f, &qw), *k = rand_bf16(nk, 2.0f, &kw);
    uint16_t *v = rand_bf16(nk, 1.0f, &vw), *g = rand_bf16(nq, 1.0f, &gw);
    float *out = malloc(nq * 4), *lse = malloc(rows * 4);
    attention_forward(out, lse, qw, kw, vw, B, T, H, K, D);
    uint16_t *d_q = kt_upload(q, nq * 2), *d_k = kt_upload(k, nk * 2), *d_v = kt_upload(v, nk * 2);
    uint16_t *d_g = kt_upload(g, nq * 2), *d_out = dev_alloc(nq * 2);
    float *d_lse = dev_alloc(rows * 4);
    cuda_attention_forward_bf16(d_out, d_lse, d_q, d_k, d_v, B, T, H, K, D);
    check_bf16("out", d_out, out, nq);
    kt_check("lse", d_lse, lse, rows, FP32_REL);
    /* the backward from the GPU's bf16 output, the CPU's from its widening */
    uint16_t *ob = malloc(nq * 2);
    dev_get(ob, d_out, nq * 2);
    for (size_t i = 0; i < nq; i++)
        out[i] = widen(ob[i]);
    dev_put(d_lse, lse, rows * 4);
    float *dq = malloc(nq * 4), *dk = malloc(nk * 4), *dv = malloc(nk * 4);
    attention_backward(dq, dk, dv, gw, qw, kw, vw, out, lse, B, T, H, K, D);
    uint16_t *d_dq = dev_alloc(nq * 2), *d_dk = dev_alloc(nk * 2), *d_dv = dev_alloc(nk * 2);
    cuda_attention_backward_bf16(d_dq, d_dk, d_dv, d_g, d_q, d_k, d_v, d_out, d_lse, B, T, H, K, D);
    check_bf16("dq", d_dq, dq, nq);
    check_bf16("dk", d_dk, dk, nk);
    check_bf16("dv", d_dv, dv, nk);
    free(q); free(k); free(v); free(g); free(qw); free(kw); free(vw); free(gw); free(out);
    free(lse); free(ob); free(dq); free(dk); free(dv);
    dev_free(d_q); dev_free(d_k); dev_free(d_v); dev_free(d_g); dev_free(d_out); dev_free(d_lse);
    dev_free(d_dq); dev_free(d_dk); dev_free(d_dv);
}
END_TEST

/* ring steps on bf16 activations, cp = 2: rank 0's chunks {0, 3} against the visiting block
 * {1, 2}, (B, T, H, K, D) = (1, 38, 3, 1, 32) */
START_TEST(ring_bf16)
{
    int B = 1, T = 38, H = 3, K = 1, D = 32;
    const int qc[2] = {0, 3}, kc[2] = {1, 2};
    size_t nq = (size_t)B * T * H * D, nk = (size_t)B * T * K * D, rows = (size_t)B * H * T;
    kt_seed(560);
    float *qw, *kw, *vw, *gw;
    uint16_t *q = rand_bf16(nq, 2.0f, &qw), *k = rand_bf16(nk, 2.0f, &kw);
    uint16_t *v = rand_bf16(nk, 1.0f, &vw), *g = rand_bf16(nq, 1.0f, &gw);
    float *m = malloc(rows * 4), *l = malloc(rows * 4), *acc = malloc(rows * D * 4);
    ring_forward_init(m, l, acc, (int64_t)rows, D);
    ring_forward_step(m, l, acc, qw, kw, vw, B, T, H, K, D, qc, kc);
    uint16_t *d_q = kt_upload(q, nq * 2), *d_k = kt_upload(k, nk * 2), *d_v = kt_upload(v, nk * 2);
    uint16_t *d_g = kt_upload(g, nq * 2), *d_out = dev_alloc(nq * 2);
    float *d_m = dev_alloc(rows * 4), *d_l = dev_alloc(rows * 4), *d_acc = dev_alloc(rows * D * 4);
    cuda_ring_forward_init(d_m, d_l, d_acc, (int64_t)rows, D);
    cuda_ring_forward_step_bf16(d_m, d_l, d_acc, d_q, d_k, d_v, B, T, H, K, D, qc, kc);
    kt_check("m", d_m, m, rows, FP32_REL);
    kt_check("l", d_l, l, rows, FP32_REL);
    kt_check("acc", d_acc, acc, rows * D, FP32_REL);
    /* finish from the CPU's state after the local block too (so every row sees a key) */
    ring_forward_step(m, l, acc, qw, kw, vw, B, T, H, K, D, qc, qc);
    dev_put(d_m, m, rows * 4);
    dev_put(d_l, l, rows * 4);
    dev_put(d_acc, acc, rows * D * 4);
    float *out = malloc(nq * 4), *lse = malloc(rows * 4), *d_lse = dev_alloc(rows * 4);
    ring_forward_finish(out, lse, m, l, acc, B, T, H, D);
    cuda_ring_forward_finish_bf16(d_out, d_lse, d_m, d_l, d_acc, B, T, H, D);
    check_bf16("out", d_out, out, nq);
    kt_check("lse", d_lse, lse, rows, FP32_REL);
    /* backward from the GPU's bf16 output (widened for the CPU) */
    uint16_t *ob = malloc(nq * 2);
    dev_get(ob, d_out, nq * 2);
    for (size_t i = 0; i < nq; i++)
        out[i] = widen(ob[i]);
    float *delta = malloc(rows * 4), *d_delta = dev_alloc(rows * 4);
    ring_backward_delta(delta, out, gw, B, T, H, D);
    cuda_ring_backward_delta_bf16(d_delta, d_out, d_g, B, T, H, D);
    kt_check("delta", d_delta, delta, rows, FP32_REL);
    float *dq = kt_rand(nq, 0.5f), *dk = kt_rand(nk, 0.5f), *dv = kt_rand(nk, 0.5f);
    float *d_dq = kt_upload(dq, nq * 4), *d_dk = kt_upload(dk, nk * 4), *d_dv = kt_upload(dv, nk * 4);
    dev_put(d_delta, delta, rows * 4);
    dev_put(d_lse, lse, rows * 4);
    ring_backward_step(dq, dk, dv, qw, gw, delta, lse, kw, vw, B, T, H, K, D, qc, kc);
    cuda_ring_backward_step_bf16(d_dq, d_dk, d_dv, d_q, d_g, d_delta, d_lse, d_k, d_v, B, T, H, K,
                                 D, qc, kc);
    kt_check("dq", d_dq, dq, nq, FP32_REL);
    kt_check("dk", d_dk, dk, nk, FP32_REL);
    kt_check("dv", d_dv, dv, nk, FP32_REL);
    free(q); free(k); free(v); free(g); free(qw); free(kw); free(vw); free(gw); free(m); free(l);
    free(acc); free(out); free(lse); free(ob); free(delta); free(dq); free(dk); free(dv);
    dev_free(d_q); dev_free(d_k); dev_free(d_v); dev_free(d_g); dev_free(d_out); dev_free(d_m);
    dev_free(d_l); dev_free(d_acc); dev_free(d_lse); dev_free(d_delta); dev_free(d_dq);
    dev_free(d_dk); dev_free(d_dv);
}
END_TEST

/* cross-entropy on bf16 logits: V = 1500 with 1337 real columns, a slice at v0 = 3000,
 * targets in and out of the slice */
START_TEST(crossentropy_bf16)
{
    int N = 9, V = 1500, Vv = 1337, v0 = 3000;
    size_t n = (size_t)N * V;
    kt_seed(550);
    float *lw;
    uint16_t *l = rand_bf16(n, 8.0f, &lw);
    int32_t tg[9];
    for (int i = 0; i < N; i++)
        tg[i] = i % 3 == 2 ? v0 + V + i : v0 + (i * 7919) % Vv;
    float mx[9], z[9], zt[9], loss[9];
    ce_max(mx, lw, N, V, Vv);
    ce_sumexp(z, lw, mx, N, V, Vv);
    ce_target(zt, lw, tg, N, V, v0);
    float *dl = kt_copy(lw, n);
    ce_backward(dl, loss, mx, z, zt, tg, N, V, Vv, v0, 0.5f);
    uint16_t *d_l = kt_upload(l, n * 2);
    int32_t *d_t = kt_upload(tg, sizeof tg);
    float *d_mx = dev_alloc(sizeof mx), *d_z = dev_alloc(sizeof z), *d_zt = dev_alloc(sizeof zt);
    float *d_loss = dev_alloc(sizeof loss);
    cuda_ce_max_bf16(d_mx, d_l, N, V, Vv);
    kt_check("mx", d_mx, mx, N, 0.0);
    cuda_ce_sumexp_bf16(d_z, d_l, d_mx, N, V, Vv);
    kt_check("z", d_z, z, N, FP32_REL);
    cuda_ce_target_bf16(d_zt, d_l, d_t, N, V, v0);
    kt_check("zt", d_zt, zt, N, 0.0);
    dev_put(d_z, z, sizeof z);
    cuda_ce_backward_bf16(d_l, d_loss, d_mx, d_z, d_zt, d_t, N, V, Vv, v0, 0.5f);
    kt_check("loss", d_loss, loss, N, FP32_REL);
    check_bf16("dlogits", d_l, dl, n);
    free(l); free(lw); free(dl);
    dev_free(d_l); dev_free(d_t); dev_free(d_mx); dev_free(d_z); dev_free(d_zt); dev_free(d_loss);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cuda_bf16");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, rmsnorm_bf16, 0, (int)(sizeof RMS_C / sizeof RMS_C[0]));
    tcase_add_test(tc, swiglu_bf16);
    tcase_add_test(tc, rope_bf16);
    tcase_add_test(tc, add_bf16_into_fp32);
    tcase_add_test(tc, attention_bf16);
    tcase_add_test(tc, crossentropy_bf16);
    tcase_add_test(tc, ring_bf16);
    suite_add_tcase(s, tc);
    return check_run(s);
}
