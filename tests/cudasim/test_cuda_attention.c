/* test_cuda_attention: causal GQA attention and the ring-attention steps (lib/kernels/cuda)
 * against the CPU kernels, to FP32_REL (kernel_test.h): the GPU folds keys in tiles of 32
 * where the CPU takes blocks of 256, so sums and softmax rescalings run in another order.
 * Shapes: GQA ratios H/K = 1 and 3, head dims below one warp, odd and up to 128, T not a
 * multiple of any tile. Ring steps: the chunk pairs of cp = 2 (rank 0 holds chunks {0, 3},
 * rank 1 {1, 2}), each visiting block at a different causal relation (all visible, half,
 * none), checked on the state after one step, after a whole ring and in the backward. */
#include "check_run.h"
#include "kernel_test.h"
#include "kernels/kernels.h"

/* (B, T, H, K, D) */
static const int ATT[][5] = {{1, 37, 3, 1, 16}, {2, 41, 2, 2, 64}, {1, 21, 6, 2, 128},
                             {1, 70, 3, 3, 20}};

typedef struct {
    int B, T, H, K, D;
    size_t nq, nk, rows;
    float *q, *k, *v, *dout;
    float *d_q, *d_k, *d_v, *d_dout;
} Att;

static void att_init(Att *a, const int *c, uint64_t seed)
{
    a->B = c[0], a->T = c[1], a->H = c[2], a->K = c[3], a->D = c[4];
    a->nq = (size_t)a->B * a->T * a->H * a->D;
    a->nk = (size_t)a->B * a->T * a->K * a->D;
    a->rows = (size_t)a->B * a->H * a->T;
    kt_seed(seed);
    /* scale 2: scores of a few units, so softmax rows are far from uniform */
    a->q = kt_rand(a->nq, 2.0f), a->k = kt_rand(a->nk, 2.0f), a->v = kt_rand(a->nk, 1.0f);
    a->dout = kt_rand(a->nq, 1.0f);
    a->d_q = kt_upload(a->q, a->nq * 4), a->d_k = kt_upload(a->k, a->nk * 4);
    a->d_v = kt_upload(a->v, a->nk * 4), a->d_dout = kt_upload(a->dout, a->nq * 4);
}

static void att_free(Att *a)
{
    free(a->q); free(a->k); free(a->v); free(a->dout);
    dev_free(a->d_q); dev_free(a->d_k); dev_free(a->d_v); dev_free(a->d_dout);
}

START_TEST(attention_matches_cpu)
{
    Att a;
    att_init(&a, ATT[_i], 300 + (uint64_t)_i);
    float *out = malloc(a.nq * 4), *lse = malloc(a.rows * 4);
    float *dq = malloc(a.nq * 4), *dk = malloc(a.nk * 4), *dv = malloc(a.nk * 4);
    attention_forward(out, lse, a.q, a.k, a.v, a.B, a.T, a.H, a.K, a.D);
    attention_backward(dq, dk, dv, a.dout, a.q, a.k, a.v, out, lse, a.B, a.T, a.H, a.K, a.D);
    float *d_out = dev_alloc(a.nq * 4), *d_lse = dev_alloc(a.rows * 4);
    cuda_attention_forward(d_out, d_lse, a.d_q, a.d_k, a.d_v, a.B, a.T, a.H, a.K, a.D);
    kt_check("out", d_out, out, a.nq, FP32_REL);
    kt_check("lse", d_lse, lse, a.rows, FP32_REL);
    /* the backward from the CPU's forward; outputs start as garbage: overwritten */
    dev_put(d_out, out, a.nq * 4);
    dev_put(d_lse, lse, a.rows * 4);
    float *junk = kt_rand(a.nq, 100.0f);
    float *d_dq = kt_upload(junk, a.nq * 4), *d_dk = kt_upload(junk, a.nk * 4);
    float *d_dv = kt_upload(junk, a.nk * 4);
    cuda_attention_backward(d_dq, d_dk, d_dv, a.d_dout, a.d_q, a.d_k, a.d_v, d_out, d_lse, a.B,
                            a.T, a.H, a.K, a.D);
    kt_check("dq", d_dq, dq, a.nq, FP32_REL);
    kt_check("dk", d_dk, dk, a.nk, FP32_REL);
    kt_check("dv", d_dv, dv, a.nk, FP32_REL);
    free(out); free(lse); free(dq); free(dk); free(dv); free(junk);
    dev_free(d_out); dev_free(d_lse); dev_free(d_dq); dev_free(d_dk); dev_free(d_dv);
    att_free(&a);
}
END_TEST

/* cp = 2: four chunks; rank 0 holds {0, 3}, rank 1 holds {1, 2} */
static const int CHUNKS[2][2] = {{0, 3}, {1, 2}};
/* (B, T, H, K, D), T even */
static const int RING[][5] = {{1, 38, 3, 1, 16}, {2, 36, 2, 2, 64}, {1, 70, 6, 2, 40}};

START_TEST(ring_step_matches_cpu)
{
    Att a;
    att_init(&a, RING[_i / 4], 400 + (uint64_t)_i);
    const int *qc = CHUNKS[_i % 4 / 2], *kc = CHUNKS[_i % 2];
    size_t nacc = a.rows * a.D;
    float *m = malloc(a.rows * 4), *l = malloc(a.rows * 4), *acc = malloc(nacc * 4);
    float *d_m = dev_alloc(a.rows * 4), *d_l = dev_alloc(a.rows * 4), *d_acc = dev_alloc(nacc * 4);
    /* one step from a fresh state */
    ring_forward_init(m, l, acc, (int64_t)a.rows, a.D);
    ring_forward_step(m, l, acc, a.q, a.k, a.v, a.B, a.T, a.H, a.K, a.D, qc, kc);
    cuda_ring_forward_init(d_m, d_l, d_acc, (int64_t)a.rows, a.D);
    cuda_ring_forward_step(d_m, d_l, d_acc, a.d_q, a.d_k, a.d_v, a.B, a.T, a.H, a.K, a.D, qc, kc);
    kt_check("m", d_m, m, a.rows, FP32_REL);
    kt_check("l", d_l, l, a.rows, FP32_REL);
    kt_check("acc", d_acc, acc, nacc, FP32_REL);
    /* the second block of the ring (the other rank's chunks), then finish, from the CPU state */
    const int *kc2 = CHUNKS[1 - _i % 2];
    dev_put(d_m, m, a.rows * 4);
    dev_put(d_l, l, a.rows * 4);
    dev_put(d_acc, acc, nacc * 4);
    ring_forward_step(m, l, acc, a.q, a.k, a.v, a.B, a.T, a.H, a.K, a.D, qc, kc2);
    cuda_ring_forward_step(d_m, d_l, d_acc, a.d_q, a.d_k, a.d_v, a.B, a.T, a.H, a.K, a.D, qc, kc2);
    float *out = malloc(a.nq * 4), *lse = malloc(a.rows * 4);
    ring_forward_finish(out, lse, m, l, acc, a.B, a.T, a.H, a.D);
    float *d_out = dev_alloc(a.nq * 4), *d_lse = dev_alloc(a.rows * 4);
    cuda_ring_forward_finish(d_out, d_lse, d_m, d_l, d_acc, a.B, a.T, a.H, a.D);
    kt_check("out", d_out, out, a.nq, FP32_REL);
    kt_check("lse", d_lse, lse, a.rows, FP32_REL);

    /* backward: Δ, then one step adding into dq, dk, dv that start non-zero */
    float *delta = malloc(a.rows * 4), *d_delta = dev_alloc(a.rows * 4);
    ring_backward_delta(delta, out, a.dout, a.B, a.T, a.H, a.D);
    dev_put(d_out, out, a.nq * 4);
    cuda_ring_backward_delta(d_delta, d_out, a.d_dout, a.B, a.T, a.H, a.D);
    kt_check("delta", d_delta, delta, a.rows, FP32_REL);
    float *dq = kt_rand(a.nq, 0.5f), *dk = kt_rand(a.nk, 0.5f), *dv = kt_rand(a.nk, 0.5f);
    float *d_dq = kt_upload(dq, a.nq * 4), *d_dk = kt_upload(dk, a.nk * 4);
    float *d_dv = kt_upload(dv, a.nk * 4);
    dev_put(d_delta, delta, a.rows * 4);
    dev_put(d_lse, lse, a.rows * 4);
    ring_backward_step(dq, dk, dv, a.q, a.dout, delta, lse, a.k, a.v, a.B, a.T, a.H, a.K, a.D,
                       qc, kc);
    cuda_ring_backward_step(d_dq, d_dk, d_dv, a.d_q, a.d_dout, d_delta, d_lse, a.d_k, a.d_v,
                            a.B, a.T, a.H, a.K, a.D, qc, kc);
    kt_check("dq", d_dq, dq, a.nq, FP32_REL);
    kt_check("dk", d_dk, dk, a.nk, FP32_REL);
    kt_check("dv", d_dv, dv, a.nk, FP32_REL);
    free(m); free(l); free(acc); free(out); free(lse); free(delta); free(dq); free(dk); free(dv);
    dev_free(d_m); dev_free(d_l); dev_free(d_acc); dev_free(d_out); dev_free(d_lse);
    dev_free(d_delta); dev_free(d_dq); dev_free(d_dk); dev_free(d_dv);
    att_free(&a);
}
END_TEST

#ifndef KERNEL_TEST_NATIVE /* an exit test needs Check's fork mode */
START_TEST(head_dim_over_128_is_refused)
{
    float x[1] = {0.0f};
    cuda_attention_forward(x, x, x, x, x, 1, 1, 1, 1, 129);
}
END_TEST
#endif

int main(void)
{
    Suite *s = suite_create("cuda_attention");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 240);
    tcase_add_loop_test(tc, attention_matches_cpu, 0, (int)(sizeof ATT / sizeof ATT[0]));
    tcase_add_loop_test(tc, ring_step_matches_cpu, 0, 4 * (int)(sizeof RING / sizeof RING[0]));
#ifndef KERNEL_TEST_NATIVE
    tcase_add_exit_test(tc, head_dim_over_128_is_refused, 3);
#endif
    suite_add_tcase(s, tc);
    return check_run(s);
}
