/* test_cuda_layers: SwiGLU, AdamW (and its bf16-copy variant), RoPE, embedding and the
 * vocab-parallel cross-entropy pieces (lib/kernels/cuda) against the CPU kernels, to FP32_REL
 * (kernel_test.h), with odd sizes and partial warps. The embedding backward sums in the CPU's
 * order, so it must match bit for bit; so must everything integer-valued (padding zeros, rows
 * of tokens outside the slice). The bf16 copy must be the round-to-nearest-even bf16 of the
 * updated fp32 weight: exact. */
#include "check_run.h"
#include "kernel_test.h"
#include "kernels/kernels.h"

START_TEST(swiglu_matches_cpu)
{
    const int64_t n = 50021;
    kt_seed(31);
    float *a = kt_rand(n, 6.0f), *b = kt_rand(n, 2.0f), *dout = kt_rand(n, 1.0f);
    float *out = malloc(n * 4), *da = malloc(n * 4), *db = malloc(n * 4);
    swiglu_forward(out, a, b, n);
    swiglu_backward(da, db, dout, a, b, n);
    float *d_a = kt_upload(a, n * 4), *d_b = kt_upload(b, n * 4), *d_dout = kt_upload(dout, n * 4);
    float *d_out = dev_alloc(n * 4), *d_da = dev_alloc(n * 4), *d_db = dev_alloc(n * 4);
    cuda_swiglu_forward(d_out, d_a, d_b, n);
    cuda_swiglu_backward(d_da, d_db, d_dout, d_a, d_b, n);
    kt_check("out", d_out, out, n, FP32_REL);
    kt_check("da", d_da, da, n, FP32_REL);
    kt_check("db", d_db, db, n, FP32_REL);
    free(a); free(b); free(dout); free(out); free(da); free(db);
    dev_free(d_a); dev_free(d_b); dev_free(d_dout); dev_free(d_out); dev_free(d_da); dev_free(d_db);
}
END_TEST

START_TEST(adamw_matches_cpu)
{
    const int64_t n = 40009;
    kt_seed(41);
    float *p = kt_rand(n, 1.0f), *m = kt_rand(n, 0.01f), *g = kt_rand(n, 0.1f);
    float *v = kt_rand(n, 1.0f);
    for (int64_t i = 0; i < n; i++)
        v[i] = v[i] * v[i] * 1e-4f; /* second moments are non-negative */
    float *p1 = kt_copy(p, n), *m1 = kt_copy(m, n), *v1 = kt_copy(v, n);
    /* step 3 of lr 3e-4, betas (0.9, 0.95), wd 0.1 */
    float bc1 = 1.0f - powf(0.9f, 3), bc2 = 1.0f - powf(0.95f, 3);
    adamw_update(p1, m1, v1, g, n, 3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, bc1, bc2);
    for (int variant = 0; variant < 2; variant++) {
        float *d_p = kt_upload(p, n * 4), *d_m = kt_upload(m, n * 4), *d_v = kt_upload(v, n * 4);
        float *d_g = kt_upload(g, n * 4);
        uint16_t *d_h = dev_alloc(n * 2);
        if (variant)
            cuda_adamw_update_bf16copy(d_p, d_h, d_m, d_v, d_g, n, 3e-4f, 0.9f, 0.95f, 1e-8f,
                                       0.1f, bc1, bc2);
        else
            cuda_adamw_update(d_p, d_m, d_v, d_g, n, 3e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, bc1, bc2);
        kt_check("p", d_p, p1, n, FP32_REL);
        kt_check("m", d_m, m1, n, FP32_REL);
        kt_check("v", d_v, v1, n, FP32_REL);
        if (variant) {
            float *pg = kt_download(d_p, n);
            uint16_t *h = malloc(n * 2), *want = dev_alloc(n * 2), *w = malloc(n * 2);
            dev_get(h, d_h, n * 2);
            float *d_pg = kt_upload(pg, n * 4);
            cuda_cast_f32_to_bf16(want, d_pg, n); /* the cast is checked in test_cuda_basic */
            dev_get(w, want, n * 2);
            for (int64_t i = 0; i < n; i++)
                if (h[i] != w[i])
                    ck_abort_msg("bf16 copy [%lld]", (long long)i);
            free(pg); free(h); free(w);
            dev_free(want); dev_free(d_pg);
        }
        dev_free(d_p); dev_free(d_m); dev_free(d_v); dev_free(d_g); dev_free(d_h);
    }
    free(p); free(m); free(v); free(g); free(p1); free(m1); free(v1);
}
END_TEST

/* (B, T, nh, D, pos0): GQA-sized head counts, odd T, a far position as context parallelism
 * gives a later rank */
static const int ROPE[][5] = {{2, 7, 3, 8, 0}, {1, 33, 1, 64, 5000}, {3, 5, 9, 128, 77}};

START_TEST(rope_matches_cpu)
{
    const int *c = ROPE[_i];
    int B = c[0], T = c[1], nh = c[2], D = c[3], pos0 = c[4];
    size_t n = (size_t)B * T * nh * D;
    kt_seed(51 + (uint64_t)_i);
    float *x = kt_rand(n, 1.0f), *y = kt_copy(x, n), *dy = kt_copy(x, n);
    rope_forward(y, B, T, nh, D, pos0, 10000.0);
    rope_backward(dy, B, T, nh, D, pos0, 10000.0);
    float *d_y = kt_upload(x, n * 4), *d_dy = kt_upload(x, n * 4);
    cuda_rope_forward(d_y, B, T, nh, D, pos0, 10000.0);
    cuda_rope_backward(d_dy, B, T, nh, D, pos0, 10000.0);
    kt_check("rope", d_y, y, n, FP32_REL);
    kt_check("rope backward", d_dy, dy, n, FP32_REL);
    free(x); free(y); free(dy);
    dev_free(d_y); dev_free(d_dy);
}
END_TEST

/* (N, C, v0, V_local): C above a block, ids repeated and outside the slice */
static const int EMB[][4] = {{37, 5, 0, 11}, {129, 1031, 20, 17}, {300, 64, 100, 50}};

START_TEST(embedding_matches_cpu)
{
    const int *c = EMB[_i];
    int N = c[0], C = c[1], v0 = c[2], V = c[3];
    kt_seed(61 + (uint64_t)_i);
    int32_t *ids = malloc(N * sizeof(int32_t));
    for (int i = 0; i < N; i++) /* ids from v0 − 5 to v0 + V + 5: some outside */
        ids[i] = v0 - 5 + (int)((kt_urand() + 1.0f) * 0.5f * (V + 10));
    float *table = kt_rand((size_t)V * C, 1.0f), *dout = kt_rand((size_t)N * C, 1.0f);
    float *dtable = kt_rand((size_t)V * C, 1.0f), *dtable0 = kt_copy(dtable, (size_t)V * C);
    float *out = malloc((size_t)N * C * 4);
    embedding_forward(out, ids, table, N, C, v0, V);
    embedding_backward(dtable, dout, ids, N, C, v0, V);
    int32_t *d_ids = kt_upload(ids, N * sizeof(int32_t));
    float *d_table = kt_upload(table, (size_t)V * C * 4), *d_dout = kt_upload(dout, (size_t)N * C * 4);
    float *d_dtable = kt_upload(dtable0, (size_t)V * C * 4), *d_out = dev_alloc((size_t)N * C * 4);
    cuda_embedding_forward(d_out, d_ids, d_table, N, C, v0, V);
    cuda_embedding_backward(d_dtable, d_dout, d_ids, N, C, v0, V);
    float *got = kt_download(d_out, (size_t)N * C), *gdt = kt_download(d_dtable, (size_t)V * C);
    ck_assert(memcmp(got, out, (size_t)N * C * 4) == 0);
    ck_assert(memcmp(gdt, dtable, (size_t)V * C * 4) == 0);
    free(ids); free(table); free(dout); free(dtable); free(dtable0); free(out); free(got); free(gdt);
    dev_free(d_ids); dev_free(d_table); dev_free(d_dout); dev_free(d_dtable); dev_free(d_out);
}
END_TEST

/* (N, V_local, V_valid, v0): padding columns, a slice of a larger vocabulary, V > 1024,
 * a slice with no real column */
static const int CE[][4] = {{7, 40, 37, 0}, {13, 1500, 1337, 3000}, {3, 64, 64, 64}, {4, 32, 0, 0}};

START_TEST(crossentropy_matches_cpu)
{
    const int *c = CE[_i];
    int N = c[0], V = c[1], Vv = c[2], v0 = c[3];
    size_t n = (size_t)N * V;
    kt_seed(71 + (uint64_t)_i);
    float *logits = kt_rand(n, 8.0f);
    int32_t *tg = malloc(N * sizeof(int32_t));
    for (int i = 0; i < N; i++) /* targets in and out of the slice */
        tg[i] = i % 3 == 2 ? v0 + V + i : v0 + (i * 7919) % (Vv > 0 ? Vv : 1);
    float mx[16], z[16], zt[16], loss[16];
    float *dl = kt_copy(logits, n);
    ce_max(mx, logits, N, V, Vv);
    if (Vv > 0) {
        ce_sumexp(z, logits, mx, N, V, Vv);
        ce_target(zt, logits, tg, N, V, v0);
        ce_backward(dl, loss, mx, z, zt, tg, N, V, Vv, v0, 0.25f);
    }
    float *d_l = kt_upload(logits, n * 4);
    int32_t *d_t = kt_upload(tg, N * sizeof(int32_t));
    float *d_mx = dev_alloc(N * 4), *d_z = dev_alloc(N * 4), *d_zt = dev_alloc(N * 4);
    float *d_loss = dev_alloc(N * 4);
    cuda_ce_max(d_mx, d_l, N, V, Vv);
    kt_check("mx", d_mx, mx, N, 0.0); /* a maximum is exact */
    if (Vv > 0) {
        /* each step from the CPU's previous outputs, so each kernel is compared alone */
        dev_put(d_mx, mx, N * 4);
        cuda_ce_sumexp(d_z, d_l, d_mx, N, V, Vv);
        kt_check("z", d_z, z, N, FP32_REL);
        cuda_ce_target(d_zt, d_l, d_t, N, V, v0);
        kt_check("zt", d_zt, zt, N, 0.0);
        dev_put(d_z, z, N * 4);
        cuda_ce_backward(d_l, d_loss, d_mx, d_z, d_zt, d_t, N, V, Vv, v0, 0.25f);
        kt_check("loss", d_loss, loss, N, FP32_REL);
        kt_check("dlogits", d_l, dl, n, FP32_REL);
        float *got = kt_download(d_l, n);
        for (size_t i = 0; i < n; i++)
            if ((int)(i % V) >= Vv && got[i] != 0.0f)
                ck_abort_msg("padding column %zu", i % V);
        free(got);
    }
    free(logits); free(tg); free(dl);
    dev_free(d_l); dev_free(d_t); dev_free(d_mx); dev_free(d_z); dev_free(d_zt); dev_free(d_loss);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cuda_layers");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, swiglu_matches_cpu);
    tcase_add_test(tc, adamw_matches_cpu);
    tcase_add_loop_test(tc, rope_matches_cpu, 0, (int)(sizeof ROPE / sizeof ROPE[0]));
    tcase_add_loop_test(tc, embedding_matches_cpu, 0, (int)(sizeof EMB / sizeof EMB[0]));
    tcase_add_loop_test(tc, crossentropy_matches_cpu, 0, (int)(sizeof CE / sizeof CE[0]));
    suite_add_tcase(s, tc);
    return check_run(s);
}
