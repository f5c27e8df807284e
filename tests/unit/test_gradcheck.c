/* test_gradcheck: every kernel's backward, and the whole model's, against finite differences.
 *
 * Method. Kernels compute in fp32. For a kernel y = f(x, …) we fix random weights r and take
 * the scalar L = Σ r ⊙ y, summed in double from the fp32 outputs, so dL/dy = r and the
 * analytic gradient is the kernel's backward fed dy = r. The reference is the central
 * difference (L(x + h·eᵢ) − L(x − h·eᵢ)) / (x⁺ − x⁻), with x± the fp32 values actually stored
 * (the step after rounding). Each gradient tensor is compared as a whole by
 * ‖analytic − fd‖₂ / (‖fd‖₂ + GRAD_FLOOR).
 *
 * Step. Truncation error of a central difference is h²·f‴/6; fp32 rounding of the outputs puts
 * noise of ~1e-7·|L| on each evaluation, i.e. ~1e-7/h on the quotient. For inputs and weights
 * of unit scale f‴ = O(1), so h = 1e-2 gives ~1e-5 from each term, 100× under the tolerance;
 * 1e-3 would make rounding dominate (~1e-4), 1e-1 truncation (~1e-3).
 *
 * Tolerance. A correct backward lands at ≤ 4e-5 here (measured); a wrong sign, a missing term
 * (the r³ term of RMSNorm, the Δ of attention) or a wrong index gives 1e-2..1. TOL_FD = 1e-3
 * sits between, 25× above the measured errors. Results the kernels merely reorder (block
 * splits of online softmax, sum_squares chunks) are compared far tighter.
 *
 * The checks make thousands of calls on tiny shapes; they run on one thread, which
 * kernels.h promises gives the same bits as any other count. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "fixture.h"
#include "kernels/kernels.h"
#include "llama.h"
#include "params.h"

#define FD_STEP 1e-2f
#define TOL_FD 1e-3
#define GRAD_FLOOR 1e-4 /* keeps the ratio finite where a gradient is all zeros */
/* Whole model: the loss sums 12 token losses of ~4 after ~30 fp32 kernels, so an evaluation
 * carries ~4e-6 of rounding noise, ~2e-4 on a difference quotient with h = 1e-2; weights of
 * std 0.2 (see model_case_open) keep truncation below that. Measured: ≤ 6e-4 per tensor
 * (h = 3e-3 gives 2e-3, noise-bound; with std-0.2 embeddings h = 1e-2 gave 5e-3,
 * truncation-bound). TOL_MODEL = 5e-3; the structural bugs tried (a skipped RoPE backward, a
 * dropped residual term) gave ≥ 9e-2. */
#define TOL_MODEL 5e-3
#define MODEL_SAMPLES 20
/* Online softmax over split key blocks only reorders fp32 sums of terms ≤ 1. */
#define TOL_SPLIT 1e-6

/* ---- helpers ---- */

static uint64_t rand_state;

static void rand_seed(uint64_t s)
{
    rand_state = s;
}

/* Uniform in [−1, 1), from a private splitmix64 so the kernel tests do not lean on rng.c. */
static float urand(void)
{
    uint64_t z = (rand_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)((double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *random_tensor(int64_t n, float scale)
{
    float *x = malloc((size_t)(n ? n : 1) * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        x[i] = scale * urand();
    return x;
}

static float *copy_tensor(const float *x, int64_t n)
{
    float *y = malloc((size_t)(n ? n : 1) * sizeof(float));
    memcpy(y, x, (size_t)n * sizeof(float));
    return y;
}

/* Σ r ⊙ y in double: the scalar every kernel check differentiates. */
static double weighted_sum(const float *y, const float *r, int64_t n)
{
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)r[i] * y[i];
    return s;
}

typedef double (*Objective)(void *ctx);

/* Central difference of L at element i of x, over the step fp32 actually stored. */
static float fd_at(float *x, int64_t i, float h, Objective L, void *ctx)
{
    float x0 = x[i];
    x[i] = x0 + h;
    float xp = x[i];
    double lp = L(ctx);
    x[i] = x0 - h;
    float xm = x[i];
    double lm = L(ctx);
    x[i] = x0;
    return (float)((lp - lm) / ((double)xp - (double)xm));
}

static float *fd_gradient(float *x, int64_t n, Objective L, void *ctx)
{
    float *fd = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        fd[i] = fd_at(x, i, FD_STEP, L, ctx);
    return fd;
}

/* base + fd: what a backward that accumulates into base must leave behind. */
static float *plus(const float *base, const float *fd, int64_t n)
{
    float *s = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        s[i] = base[i] + fd[i];
    return s;
}

static void assert_grad_close(const char *what, const float *analytic, const float *fd, int64_t n,
                              double tol)
{
    double e = rel_err_f32(analytic, fd, n, GRAD_FLOOR);
    ck_assert_msg(e < tol, "%s: ‖analytic − fd‖/‖fd‖ = %.3g (tolerance %.1g)", what, e, tol);
}

/* ---- matmul: y = x·Wᵀ ---- */

typedef struct {
    int N, Cin, Cout;
    float *x, *W, *r, *y;
} MatmulCase;

static double matmul_objective(void *p)
{
    MatmulCase *c = p;
    matmul_forward(c->y, c->x, c->W, c->N, c->Cin, c->Cout);
    return weighted_sum(c->y, c->r, (int64_t)c->N * c->Cout);
}

static MatmulCase matmul_case(void)
{
    MatmulCase c = {.N = 5, .Cin = 7, .Cout = 6};
    rand_seed(1);
    c.x = random_tensor(c.N * c.Cin, 1.0f);
    c.W = random_tensor(c.Cout * c.Cin, 1.0f);
    c.r = random_tensor(c.N * c.Cout, 1.0f);
    c.y = malloc((size_t)c.N * c.Cout * sizeof(float));
    return c;
}

static void matmul_case_free(MatmulCase *c)
{
    free(c->x);
    free(c->W);
    free(c->r);
    free(c->y);
}

START_TEST(matmul_dx_is_overwritten_and_dW_accumulates)
{
    MatmulCase c = matmul_case();
    int64_t nx = c.N * c.Cin, nw = c.Cout * c.Cin;
    float *dx = random_tensor(nx, 5.0f);      /* stale values the kernel must overwrite */
    float *dW0 = random_tensor(nw, 1.0f);     /* an earlier micro-batch's gradient */
    float *dW = copy_tensor(dW0, nw);
    matmul_backward(dx, dW, c.r, c.x, c.W, c.N, c.Cin, c.Cout, 0);

    float *fdx = fd_gradient(c.x, nx, matmul_objective, &c);
    float *fdw = fd_gradient(c.W, nw, matmul_objective, &c);
    float *want_dW = plus(dW0, fdw, nw);
    assert_grad_close("matmul dx", dx, fdx, nx, TOL_FD);
    assert_grad_close("matmul dW (dW0 + fd)", dW, want_dW, nw, TOL_FD);
    free(dx), free(dW0), free(dW), free(fdx), free(fdw), free(want_dW);
    matmul_case_free(&c);
}
END_TEST

START_TEST(matmul_dx_acc_adds_to_existing_dx)
{
    MatmulCase c = matmul_case();
    int64_t nx = c.N * c.Cin, nw = c.Cout * c.Cin;
    float *dx0 = random_tensor(nx, 1.0f);     /* e.g. dn from the other branch */
    float *dx = copy_tensor(dx0, nx);
    float *dW = calloc((size_t)nw, sizeof(float));
    matmul_backward(dx, dW, c.r, c.x, c.W, c.N, c.Cin, c.Cout, 1);

    float *fdx = fd_gradient(c.x, nx, matmul_objective, &c);
    float *want_dx = plus(dx0, fdx, nx);
    assert_grad_close("matmul dx (dx0 + fd)", dx, want_dx, nx, TOL_FD);
    free(dx0), free(dx), free(dW), free(fdx), free(want_dx);
    matmul_case_free(&c);
}
END_TEST

START_TEST(matmul_without_dx_still_accumulates_dW)
{
    MatmulCase c = matmul_case();
    int64_t nw = c.Cout * c.Cin;
    float *dW = calloc((size_t)nw, sizeof(float));
    matmul_backward(NULL, dW, c.r, c.x, c.W, c.N, c.Cin, c.Cout, 0);
    float *fdw = fd_gradient(c.W, nw, matmul_objective, &c);
    assert_grad_close("matmul dW with dx = NULL", dW, fdw, nw, TOL_FD);
    free(dW), free(fdw);
    matmul_case_free(&c);
}
END_TEST

/* ---- rmsnorm ---- */

typedef struct {
    int N, C;
    float eps;
    float *x, *w, *r, *y, *rstd;
} NormCase;

static double rmsnorm_objective(void *p)
{
    NormCase *c = p;
    rmsnorm_forward(c->y, c->rstd, c->x, c->w, c->N, c->C, c->eps);
    return weighted_sum(c->y, c->r, (int64_t)c->N * c->C);
}

START_TEST(rmsnorm_dx_and_dw_accumulate_onto_existing_gradients)
{
    NormCase c = {.N = 4, .C = 16, .eps = 1e-5f};
    int64_t n = (int64_t)c.N * c.C;
    rand_seed(2);
    c.x = random_tensor(n, 1.0f);
    c.w = random_tensor(c.C, 0.5f);
    for (int j = 0; j < c.C; j++)
        c.w[j] += 1.0f; /* around 1, as trained norms are, but not all equal */
    c.r = random_tensor(n, 1.0f);
    c.y = malloc((size_t)n * sizeof(float));
    c.rstd = malloc((size_t)c.N * sizeof(float));
    float *dx0 = random_tensor(n, 1.0f); /* the residual stream's gradient arriving from above */
    float *dw0 = random_tensor(c.C, 1.0f);
    float *dx = copy_tensor(dx0, n), *dw = copy_tensor(dw0, c.C);
    rmsnorm_objective(&c);
    rmsnorm_backward(dx, dw, c.r, c.x, c.w, c.rstd, c.N, c.C);

    float *fdx = fd_gradient(c.x, n, rmsnorm_objective, &c);
    float *fdw = fd_gradient(c.w, c.C, rmsnorm_objective, &c);
    float *want_dx = plus(dx0, fdx, n), *want_dw = plus(dw0, fdw, c.C);
    /* compare the increments too: the sum with dx0 could hide a small wrong term */
    float *got_ddx = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        got_ddx[i] = dx[i] - dx0[i];
    assert_grad_close("rmsnorm dx (dx0 + fd)", dx, want_dx, n, TOL_FD);
    assert_grad_close("rmsnorm dx − dx0", got_ddx, fdx, n, TOL_FD);
    assert_grad_close("rmsnorm dw (dw0 + fd)", dw, want_dw, c.C, TOL_FD);
    free(dx0), free(dw0), free(dx), free(dw), free(fdx), free(fdw), free(want_dx), free(want_dw);
    free(got_ddx), free(c.x), free(c.w), free(c.r), free(c.y), free(c.rstd);
}
END_TEST

/* ---- rope ---- */

enum { RB = 2, RT = 5, RNH = 3, RD = 8 };
#define ROPE_N ((int64_t)RB * RT * RNH * RD)
#define ROPE_THETA 10000.0

typedef struct {
    int pos0;
    float *x, *r, *y;
} RopeCase;

static double rope_objective(void *p)
{
    RopeCase *c = p;
    memcpy(c->y, c->x, (size_t)ROPE_N * sizeof(float));
    rope_forward(c->y, RB, RT, RNH, RD, c->pos0, ROPE_THETA);
    return weighted_sum(c->y, c->r, ROPE_N);
}

START_TEST(rope_forward_preserves_the_norm_of_every_rotated_pair)
{
    rand_seed(3);
    float *x = random_tensor(ROPE_N, 1.0f), *y = copy_tensor(x, ROPE_N);
    rope_forward(y, RB, RT, RNH, RD, 11, ROPE_THETA);
    for (int64_t head = 0; head < ROPE_N / RD; head++)
        for (int i = 0; i < RD / 2; i++) {
            const float *a = x + head * RD, *b = y + head * RD;
            double before = hypot(a[i], a[i + RD / 2]), after = hypot(b[i], b[i + RD / 2]);
            ck_assert_msg(fabs(after - before) <= 1e-6 * (1.0 + before),
                          "head row %lld pair %d: |x| %.9g, |rope(x)| %.9g", (long long)head, i,
                          before, after);
        }
    free(x), free(y);
}
END_TEST

START_TEST(rope_backward_is_the_transpose_of_forward)
{
    /* ⟨R·x, y⟩ = ⟨x, Rᵀ·y⟩ for any x, y, and Rᵀ·R·x = x */
    rand_seed(4);
    float *x = random_tensor(ROPE_N, 1.0f), *y = random_tensor(ROPE_N, 1.0f);
    float *rx = copy_tensor(x, ROPE_N), *rty = copy_tensor(y, ROPE_N);
    rope_forward(rx, RB, RT, RNH, RD, 7, ROPE_THETA);
    rope_backward(rty, RB, RT, RNH, RD, 7, ROPE_THETA);
    double lhs = weighted_sum(rx, y, ROPE_N), rhs = weighted_sum(x, rty, ROPE_N);
    ck_assert_msg(fabs(lhs - rhs) < 1e-5, "<Rx, y> = %.9g but <x, R^T y> = %.9g", lhs, rhs);
    rope_backward(rx, RB, RT, RNH, RD, 7, ROPE_THETA);
    ck_assert_msg(max_abs_diff_f32(rx, x, ROPE_N) < 1e-6, "R^T R x differs from x by %.3g",
                  max_abs_diff_f32(rx, x, ROPE_N));
    free(x), free(y), free(rx), free(rty);
}
END_TEST

START_TEST(rope_dx_matches_finite_differences_at_pos0_5)
{
    RopeCase c = {.pos0 = 5};
    rand_seed(5);
    c.x = random_tensor(ROPE_N, 1.0f);
    c.r = random_tensor(ROPE_N, 1.0f);
    c.y = malloc((size_t)ROPE_N * sizeof(float));
    float *dx = copy_tensor(c.r, ROPE_N);
    rope_backward(dx, RB, RT, RNH, RD, c.pos0, ROPE_THETA);
    float *fdx = fd_gradient(c.x, ROPE_N, rope_objective, &c);
    assert_grad_close("rope dx, pos0 = 5", dx, fdx, ROPE_N, TOL_FD);
    free(c.x), free(c.r), free(c.y), free(dx), free(fdx);
}
END_TEST

START_TEST(rope_token_t_sits_at_global_position_pos0_plus_t)
{
    /* the last RT tokens of a run over 3 + RT positions equal a run over RT tokens at pos0 = 3 */
    enum { P = 3, TL = P + RT };
    rand_seed(6);
    float *x = random_tensor((int64_t)TL * RNH * RD, 1.0f);
    float *tail = copy_tensor(x + (int64_t)P * RNH * RD, ROPE_N / RB);
    rope_forward(x, 1, TL, RNH, RD, 0, ROPE_THETA);
    rope_forward(tail, 1, RT, RNH, RD, P, ROPE_THETA);
    ck_assert(max_abs_diff_f32(tail, x + (int64_t)P * RNH * RD, ROPE_N / RB) == 0.0);
    free(x), free(tail);
}
END_TEST

/* ---- attention ---- */

typedef struct {
    int B, T, H, K, D;
    float *q, *k, *v, *r, *out, *lse;
} AttnCase;

static double attention_objective(void *p)
{
    AttnCase *c = p;
    attention_forward(c->out, c->lse, c->q, c->k, c->v, c->B, c->T, c->H, c->K, c->D);
    return weighted_sum(c->out, c->r, (int64_t)c->B * c->T * c->H * c->D);
}

static void check_attention_gradients(int H, int K)
{
    AttnCase c = {.B = 2, .T = 7, .H = H, .K = K, .D = 8};
    int64_t nq = (int64_t)c.B * c.T * H * c.D, nkv = (int64_t)c.B * c.T * K * c.D;
    rand_seed(100 + H * 10 + K);
    /* scale 2 gives scores of std ~1.3, so softmax rows are far from uniform */
    c.q = random_tensor(nq, 2.0f);
    c.k = random_tensor(nkv, 2.0f);
    c.v = random_tensor(nkv, 1.0f);
    c.r = random_tensor(nq, 1.0f);
    c.out = malloc((size_t)nq * sizeof(float));
    c.lse = malloc((size_t)c.B * H * c.T * sizeof(float));
    /* stale contents: the backward overwrites its outputs */
    float *dq = random_tensor(nq, 3.0f), *dk = random_tensor(nkv, 3.0f), *dv = random_tensor(nkv, 3.0f);
    attention_objective(&c);
    attention_backward(dq, dk, dv, c.r, c.q, c.k, c.v, c.out, c.lse, c.B, c.T, H, K, c.D);

    float *fdq = fd_gradient(c.q, nq, attention_objective, &c);
    float *fdk = fd_gradient(c.k, nkv, attention_objective, &c);
    float *fdv = fd_gradient(c.v, nkv, attention_objective, &c);
    char what[64];
    snprintf(what, sizeof what, "attention H=%d K=%d dq", H, K);
    assert_grad_close(what, dq, fdq, nq, TOL_FD);
    snprintf(what, sizeof what, "attention H=%d K=%d dk", H, K);
    assert_grad_close(what, dk, fdk, nkv, TOL_FD);
    snprintf(what, sizeof what, "attention H=%d K=%d dv", H, K);
    assert_grad_close(what, dv, fdv, nkv, TOL_FD);
    free(c.q), free(c.k), free(c.v), free(c.r), free(c.out), free(c.lse);
    free(dq), free(dk), free(dv), free(fdq), free(fdk), free(fdv);
}

START_TEST(attention_forward_is_causal_softmax_of_scaled_scores)
{
    /* Finite differences only check backward against forward; this pins the forward itself
     * (the mask, the 1/√D, the kv-head of each query head) to the formula, in double. */
    enum { B = 2, T = 7, H = 4, K = 2, D = 8 };
    rand_seed(19);
    float *q = random_tensor(B * T * H * D, 2.0f), *k = random_tensor(B * T * K * D, 2.0f);
    float *v = random_tensor(B * T * K * D, 1.0f);
    float out[B * T * H * D], lse[B * H * T];
    attention_forward(out, lse, q, k, v, B, T, H, K, D);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const float *qi = q + ((b * T + t) * H + h) * D;
                int g = h / (H / K);
                double s[T], mx = -INFINITY, sum = 0.0, o[D] = {0};
                for (int j = 0; j <= t; j++) {
                    s[j] = 0.0;
                    for (int d = 0; d < D; d++)
                        s[j] += (double)qi[d] * k[((b * T + j) * K + g) * D + d];
                    s[j] /= sqrt((double)D);
                    mx = fmax(mx, s[j]);
                }
                for (int j = 0; j <= t; j++) {
                    double p = exp(s[j] - mx);
                    sum += p;
                    for (int d = 0; d < D; d++)
                        o[d] += p * v[((b * T + j) * K + g) * D + d];
                }
                double want_lse = mx + log(sum), got_lse = lse[(b * H + h) * T + t];
                ck_assert_msg(fabs(got_lse - want_lse) < 1e-5, "b %d h %d t %d: lse %.7g, want %.7g",
                              b, h, t, got_lse, want_lse);
                for (int d = 0; d < D; d++) {
                    double got = out[((b * T + t) * H + h) * D + d];
                    ck_assert_msg(fabs(got - o[d] / sum) < 1e-5, "b %d h %d t %d d %d: out %.7g, want %.7g",
                                  b, h, t, d, got, o[d] / sum);
                }
            }
    free(q), free(k), free(v);
}
END_TEST

START_TEST(attention_mha_gradients_match_finite_differences)
{
    check_attention_gradients(4, 4);
}
END_TEST

START_TEST(attention_gqa_gradients_match_finite_differences)
{
    check_attention_gradients(4, 2);
}
END_TEST

/* One head's online-softmax state over queries q (Tq, D) at qpos0. */
typedef struct {
    int Tq, qpos0, D;
    const float *q;
    float m[16], l[16], acc[16 * 8];
} RowState;

static void state_start(RowState *s, const float *q, int Tq, int qpos0, int D)
{
    s->q = q;
    s->Tq = Tq;
    s->qpos0 = qpos0;
    s->D = D;
    for (int r = 0; r < Tq; r++) {
        s->m[r] = -INFINITY;
        s->l[r] = 0.0f;
    }
    memset(s->acc, 0, sizeof s->acc);
}

/* Visit keys/values rows [k0, k1) of k, v (rows of D floats, key j at global position j). */
static void state_visit(RowState *s, const float *k, const float *v, int k0, int k1)
{
    attention_block_forward(s->m, s->l, s->acc, s->q, s->D, s->Tq, s->qpos0, k + (int64_t)k0 * s->D,
                            v + (int64_t)k0 * s->D, s->D, k1 - k0, k0, s->D,
                            1.0f / sqrtf((float)s->D));
}

/* O = A / l and LSE = m + log l, as attention_forward finishes them. */
static void state_finish(const RowState *s, float *out, float *lse)
{
    for (int r = 0; r < s->Tq; r++) {
        for (int d = 0; d < s->D; d++)
            out[r * s->D + d] = s->acc[r * s->D + d] / s->l[r];
        lse[r] = s->m[r] + logf(s->l[r]);
    }
}

START_TEST(attention_block_split_anywhere_equals_one_block)
{
    enum { T = 7, D = 8 };
    rand_seed(7);
    float *q = random_tensor(T * D, 2.0f), *k = random_tensor(T * D, 2.0f), *v = random_tensor(T * D, 1.0f);
    RowState one, two;
    float out1[T * D], lse1[T], out2[T * D], lse2[T];
    state_start(&one, q, T, 0, D);
    state_visit(&one, k, v, 0, T);
    state_finish(&one, out1, lse1);
    for (int split = 1; split < T; split++)
        for (int later_first = 0; later_first <= 1; later_first++) {
            state_start(&two, q, T, 0, D);
            if (later_first) {
                state_visit(&two, k, v, split, T);
                state_visit(&two, k, v, 0, split);
            } else {
                state_visit(&two, k, v, 0, split);
                state_visit(&two, k, v, split, T);
            }
            state_finish(&two, out2, lse2);
            ck_assert_msg(max_abs_diff_f32(out2, out1, T * D) < TOL_SPLIT &&
                              max_abs_diff_f32(lse2, lse1, T) < TOL_SPLIT,
                          "keys split at %d (%s first): out differs by %.3g, lse by %.3g", split,
                          later_first ? "later block" : "earlier block",
                          max_abs_diff_f32(out2, out1, T * D), max_abs_diff_f32(lse2, lse1, T));
        }
    free(q), free(k), free(v);
}
END_TEST

START_TEST(attention_ring_of_two_query_and_key_blocks_equals_full_attention)
{
    /* A 14-token sequence on 2 cp ranks: rank c holds queries and keys [7c, 7c + 7). As in ring
     * attention each rank visits its own key block first, then the other one; rank 0's visit
     * to keys 7..13 is fully masked and must leave its state unchanged. */
    enum { T = 14, TC = 7, D = 8 };
    rand_seed(8);
    float *q = random_tensor(T * D, 2.0f), *k = random_tensor(T * D, 2.0f), *v = random_tensor(T * D, 1.0f);
    float full_out[T * D], full_lse[T], ring_out[T * D], ring_lse[T];
    attention_forward(full_out, full_lse, q, k, v, 1, T, 1, 1, D);
    for (int rank = 0; rank < 2; rank++) {
        RowState s;
        int other = 1 - rank;
        state_start(&s, q + rank * TC * D, TC, rank * TC, D);
        state_visit(&s, k, v, rank * TC, rank * TC + TC);
        state_visit(&s, k, v, other * TC, other * TC + TC);
        state_finish(&s, ring_out + rank * TC * D, ring_lse + rank * TC);
    }
    ck_assert_msg(max_abs_diff_f32(ring_out, full_out, T * D) < TOL_SPLIT,
                  "ring out differs from full attention by %.3g",
                  max_abs_diff_f32(ring_out, full_out, T * D));
    ck_assert_msg(max_abs_diff_f32(ring_lse, full_lse, T) < TOL_SPLIT,
                  "ring lse differs from full attention by %.3g",
                  max_abs_diff_f32(ring_lse, full_lse, T));
    free(q), free(k), free(v);
}
END_TEST

START_TEST(attention_ring_backward_over_two_blocks_equals_full_backward)
{
    /* The same 14-token ring: each rank takes dQ for its queries and partial dK, dV for every
     * key block it visits (qpos0 ≥ kpos0 or fully masked), using the final O and LSE. The sums
     * must give attention_backward's gradients, which the FD tests above pin. */
    enum { T = 14, TC = 7, D = 8 };
    rand_seed(20);
    float *q = random_tensor(T * D, 2.0f), *k = random_tensor(T * D, 2.0f), *v = random_tensor(T * D, 1.0f);
    float *dout = random_tensor(T * D, 1.0f);
    float out[T * D], lse[T], dq[T * D], dk[T * D], dv[T * D];
    float rdq[T * D] = {0}, rdk[T * D] = {0}, rdv[T * D] = {0}, delta[T];
    attention_forward(out, lse, q, k, v, 1, T, 1, 1, D);
    attention_backward(dq, dk, dv, dout, q, k, v, out, lse, 1, T, 1, 1, D);
    for (int t = 0; t < T; t++) { /* Δ_i = Σ_d dO_id · O_id */
        delta[t] = 0.0f;
        for (int d = 0; d < D; d++)
            delta[t] += dout[t * D + d] * out[t * D + d];
    }
    for (int rank = 0; rank < 2; rank++)
        for (int hop = 0; hop < 2; hop++) {
            int kb = (rank + hop) % 2, q0 = rank * TC, k0 = kb * TC;
            attention_block_backward(rdq + q0 * D, D, rdk + k0 * D, rdv + k0 * D, D, q + q0 * D, D,
                                     dout + q0 * D, delta + q0, lse + q0, TC, q0, k + k0 * D,
                                     v + k0 * D, D, TC, k0, D, 1.0f / sqrtf((float)D));
        }
    ck_assert_msg(max_abs_diff_f32(rdq, dq, T * D) < TOL_SPLIT, "ring dq differs by %.3g",
                  max_abs_diff_f32(rdq, dq, T * D));
    ck_assert_msg(max_abs_diff_f32(rdk, dk, T * D) < TOL_SPLIT, "ring dk differs by %.3g",
                  max_abs_diff_f32(rdk, dk, T * D));
    ck_assert_msg(max_abs_diff_f32(rdv, dv, T * D) < TOL_SPLIT, "ring dv differs by %.3g",
                  max_abs_diff_f32(rdv, dv, T * D));
    free(q), free(k), free(v), free(dout);
}
END_TEST

/* ---- swiglu ---- */

typedef struct {
    int64_t n;
    float *a, *b, *r, *y;
} SwigluCase;

static double swiglu_objective(void *p)
{
    SwigluCase *c = p;
    swiglu_forward(c->y, c->a, c->b, c->n);
    return weighted_sum(c->y, c->r, c->n);
}

START_TEST(swiglu_da_db_match_finite_differences)
{
    SwigluCase c = {.n = 64};
    rand_seed(9);
    c.a = random_tensor(c.n, 4.0f); /* both tails of the sigmoid */
    c.b = random_tensor(c.n, 1.0f);
    c.r = random_tensor(c.n, 1.0f);
    c.y = malloc((size_t)c.n * sizeof(float));
    float *da = random_tensor(c.n, 3.0f), *db = random_tensor(c.n, 3.0f); /* overwritten */
    swiglu_backward(da, db, c.r, c.a, c.b, c.n);
    float *fda = fd_gradient(c.a, c.n, swiglu_objective, &c);
    float *fdb = fd_gradient(c.b, c.n, swiglu_objective, &c);
    assert_grad_close("swiglu da", da, fda, c.n, TOL_FD);
    assert_grad_close("swiglu db", db, fdb, c.n, TOL_FD);
    free(c.a), free(c.b), free(c.r), free(c.y), free(da), free(db), free(fda), free(fdb);
}
END_TEST

/* ---- embedding over the vocabulary slice [10, 16) ---- */

enum { EN = 9, EC = 4, EV0 = 10, EVL = 6 };
/* 9 below the slice, 16 just past it, 40 far past; 10 and 12 repeat */
static const int32_t embed_ids[EN] = {10, 15, 12, 9, 16, 12, 40, 10, 11};

typedef struct {
    float *table, *r, *out;
} EmbedCase;

static double embedding_objective(void *p)
{
    EmbedCase *c = p;
    embedding_forward(c->out, embed_ids, c->table, EN, EC, EV0, EVL);
    return weighted_sum(c->out, c->r, EN * EC);
}

START_TEST(embedding_ids_outside_the_slice_give_zero_rows)
{
    rand_seed(10);
    float *table = random_tensor(EVL * EC, 1.0f);
    float out[EN * EC];
    for (int i = 0; i < EN * EC; i++)
        out[i] = 7.0f; /* stale */
    embedding_forward(out, embed_ids, table, EN, EC, EV0, EVL);
    for (int i = 0; i < EN; i++) {
        int row = embed_ids[i] - EV0;
        for (int j = 0; j < EC; j++) {
            float want = row >= 0 && row < EVL ? table[row * EC + j] : 0.0f;
            ck_assert_msg(out[i * EC + j] == want, "token %d (id %d) col %d: %g, want %g", i,
                          embed_ids[i], j, out[i * EC + j], want);
        }
    }
    free(table);
}
END_TEST

START_TEST(embedding_dtable_accumulates_only_ids_in_the_slice)
{
    EmbedCase c;
    rand_seed(11);
    c.table = random_tensor(EVL * EC, 1.0f);
    c.r = random_tensor(EN * EC, 1.0f);
    c.out = malloc(EN * EC * sizeof(float));
    float *dt0 = random_tensor(EVL * EC, 1.0f), *dt = copy_tensor(dt0, EVL * EC);
    embedding_backward(dt, c.r, embed_ids, EN, EC, EV0, EVL);
    /* no id maps to row 4 (id 14): FD gives 0 there, and the kernel must add nothing either */
    float *fdt = fd_gradient(c.table, EVL * EC, embedding_objective, &c);
    float *want = plus(dt0, fdt, EVL * EC);
    assert_grad_close("embedding dtable (dtable0 + fd)", dt, want, EVL * EC, TOL_FD);
    for (int j = 0; j < EC; j++)
        ck_assert(dt[4 * EC + j] == dt0[4 * EC + j]);
    free(c.table), free(c.r), free(c.out), free(dt0), free(dt), free(fdt), free(want);
}
END_TEST

/* ---- cross-entropy ---- */

typedef struct {
    int N, V_local, V_valid, v0;
    float scale;
    const int32_t *targets;
    float *logits, *work, *loss, *mx, *z, *zt;
} CeCase;

/* Runs the four steps on a copy of the logits; leaves dlogits in c->work, losses in c->loss. */
static double ce_objective(void *p)
{
    CeCase *c = p;
    memcpy(c->work, c->logits, (size_t)c->N * c->V_local * sizeof(float));
    ce_max(c->mx, c->work, c->N, c->V_local, c->V_valid);
    ce_sumexp(c->z, c->work, c->mx, c->N, c->V_local, c->V_valid);
    ce_target(c->zt, c->work, c->targets, c->N, c->V_local, c->v0);
    ce_backward(c->work, c->loss, c->mx, c->z, c->zt, c->targets, c->N, c->V_local, c->V_valid,
                c->v0, c->scale);
    double s = 0.0;
    for (int i = 0; i < c->N; i++)
        s += c->loss[i];
    return c->scale * s;
}

static void ce_open(CeCase *c, int N, int V_local, int V_valid, int v0, const int32_t *targets)
{
    memset(c, 0, sizeof *c);
    c->N = N, c->V_local = V_local, c->V_valid = V_valid, c->v0 = v0, c->targets = targets;
    c->scale = 0.25f;
    int64_t n = (int64_t)N * V_local;
    c->logits = random_tensor(n, 3.0f);
    for (int i = 0; i < N; i++)
        for (int v = V_valid; v < V_local; v++)
            c->logits[(int64_t)i * V_local + v] = 50.0f; /* padding: would dominate if counted */
    c->work = malloc((size_t)n * sizeof(float));
    c->loss = malloc((size_t)N * sizeof(float));
    c->mx = malloc((size_t)N * sizeof(float));
    c->z = malloc((size_t)N * sizeof(float));
    c->zt = malloc((size_t)N * sizeof(float));
}

static void ce_close(CeCase *c)
{
    free(c->logits), free(c->work), free(c->loss), free(c->mx), free(c->z), free(c->zt);
}

/* dlogits from ce_backward against FD of scale·Σ loss; padding columns exactly 0. */
static void check_ce_gradient(CeCase *c, const char *what)
{
    int64_t n = (int64_t)c->N * c->V_local;
    ce_objective(c);
    float *dlogits = copy_tensor(c->work, n);
    float *fd = fd_gradient(c->logits, n, ce_objective, c);
    assert_grad_close(what, dlogits, fd, n, TOL_FD);
    for (int i = 0; i < c->N; i++)
        for (int v = c->V_valid; v < c->V_local; v++)
            ck_assert_msg(dlogits[(int64_t)i * c->V_local + v] == 0.0f,
                          "%s: padding column %d of row %d has gradient %g", what, v, i,
                          dlogits[(int64_t)i * c->V_local + v]);
    free(dlogits), free(fd);
}

START_TEST(ce_loss_is_logsumexp_of_real_columns_minus_target_logit)
{
    static const int32_t targets[4] = {0, 8, 3, 5};
    CeCase c;
    rand_seed(12);
    ce_open(&c, 4, 12, 9, 0, targets);
    ce_objective(&c);
    for (int i = 0; i < c.N; i++) {
        const float *z = c.logits + i * c.V_local;
        double s = 0.0;
        for (int v = 0; v < c.V_valid; v++)
            s += exp((double)z[v]);
        double want = log(s) - z[targets[i]];
        ck_assert_msg(fabs(c.loss[i] - want) < 1e-5 * (1.0 + want), "row %d loss %.7g, want %.7g",
                      i, c.loss[i], want);
    }
    ce_close(&c);
}
END_TEST

START_TEST(ce_gradient_with_padding_columns_matches_finite_differences)
{
    static const int32_t targets[5] = {0, 8, 3, 5, 8};
    CeCase c;
    rand_seed(13);
    ce_open(&c, 5, 12, 9, 0, targets);
    check_ce_gradient(&c, "ce dlogits, V_valid 9 of V_local 12");
    ce_close(&c);
}
END_TEST

START_TEST(ce_gradient_of_a_slice_at_v0_with_outside_targets_matches_finite_differences)
{
    /* slice [20, 30), real columns 20..26; targets 3 and 100 live on other ranks */
    static const int32_t targets[5] = {21, 3, 26, 100, 20};
    CeCase c;
    rand_seed(14);
    ce_open(&c, 5, 10, 7, 20, targets);
    check_ce_gradient(&c, "ce dlogits, slice at v0 = 20");
    ce_target(c.zt, c.logits, targets, c.N, c.V_local, c.v0);
    ck_assert(c.zt[1] == 0.0f && c.zt[3] == 0.0f);
    ck_assert(c.zt[0] == c.logits[0 * 10 + 1] && c.zt[2] == c.logits[2 * 10 + 6]);
    ce_close(&c);
}
END_TEST

START_TEST(ce_over_vocab_slices_with_manual_allreduce_equals_one_slice)
{
    /* V = 13 real ids, padded to 24, on 3 ranks of 8 columns; rank 2 holds only padding */
    enum { N = 4, VP = 24, VV = 13, S = 3, W = 8 };
    static const int32_t targets[N] = {0, 12, 7, 8};
    CeCase full;
    rand_seed(15);
    ce_open(&full, N, VP, VV, 0, targets);
    ce_objective(&full);

    float slices[S][N * W], mx[S][N], z[S][N], zt[S][N], loss[S][N];
    int valid[S]; /* real columns of each slice: 8, 5, 0 */
    float gmx[N], gz[N], gzt[N];
    for (int s = 0; s < S; s++) {
        valid[s] = VV - s * W < 0 ? 0 : (VV - s * W > W ? W : VV - s * W);
        for (int i = 0; i < N; i++)
            memcpy(slices[s] + i * W, full.logits + i * VP + s * W, W * sizeof(float));
        ce_max(mx[s], slices[s], N, W, valid[s]);
    }
    ck_assert(isinf(mx[2][0]) && mx[2][0] < 0); /* no real column: −inf */
    for (int i = 0; i < N; i++) /* allreduce_max */
        gmx[i] = fmaxf(mx[0][i], fmaxf(mx[1][i], mx[2][i]));
    for (int s = 0; s < S; s++) {
        ce_sumexp(z[s], slices[s], gmx, N, W, valid[s]);
        ce_target(zt[s], slices[s], targets, N, W, s * W);
    }
    for (int i = 0; i < N; i++) { /* allreduce_sum */
        gz[i] = z[0][i] + z[1][i] + z[2][i];
        gzt[i] = zt[0][i] + zt[1][i] + zt[2][i];
    }
    for (int s = 0; s < S; s++) {
        ce_backward(slices[s], loss[s], gmx, gz, gzt, targets, N, W, valid[s], s * W, full.scale);
    }
    for (int i = 0; i < N; i++) {
        for (int s = 0; s < S; s++)
            ck_assert_msg(fabsf(loss[s][i] - full.loss[i]) < 1e-6f,
                          "row %d rank %d loss %.8g, one slice %.8g", i, s, loss[s][i], full.loss[i]);
        for (int v = 0; v < VP; v++)
            ck_assert_msg(fabsf(slices[v / W][i * W + v % W] - full.work[i * VP + v]) < 1e-7f,
                          "row %d column %d: dlogits differ", i, v);
    }
    ce_close(&full);
}
END_TEST

/* ---- adamw_update and sum_squares ---- */

/* torch.optim.AdamW's single-tensor step (amsgrad off), in double. */
static void adamw_reference(double *p, double *m, double *v, const float *g, int64_t n, double lr,
                            double beta1, double beta2, double eps, double wd, int64_t step)
{
    double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    for (int64_t i = 0; i < n; i++) {
        p[i] *= 1.0 - lr * wd;
        m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
        v[i] = beta2 * v[i] + (1.0 - beta2) * (double)g[i] * g[i];
        double denom = sqrt(v[i]) / sqrt(bc2) + eps;
        p[i] -= lr / bc1 * m[i] / denom;
    }
}

static double rel_err_vs_double(const float *a, const double *b, int64_t n)
{
    double diff = 0.0, ref = 0.0;
    for (int64_t i = 0; i < n; i++) {
        diff += (a[i] - b[i]) * (a[i] - b[i]);
        ref += b[i] * b[i];
    }
    return sqrt(diff) / sqrt(ref);
}

START_TEST(adamw_update_matches_pytorch_formula_in_double_over_five_steps)
{
    enum { n = 37 };
    const double lr[5] = {1e-2, 3e-2, 2e-2, 5e-3, 1e-3};
    const double b1 = 0.9, b2 = 0.95, eps = 1e-8, wd = 0.1;
    rand_seed(16);
    float *p = random_tensor(n, 1.0f), m[n] = {0}, v[n] = {0};
    double pd[n], md[n] = {0}, vd[n] = {0};
    for (int i = 0; i < n; i++)
        pd[i] = p[i];
    for (int t = 1; t <= 5; t++) {
        float *g = random_tensor(n, 1.0f);
        float bc1 = (float)(1.0 - pow(b1, t)), bc2 = (float)(1.0 - pow(b2, t));
        adamw_update(p, m, v, g, n, (float)lr[t - 1], (float)b1, (float)b2, (float)eps, (float)wd,
                     bc1, bc2);
        adamw_reference(pd, md, vd, g, n, lr[t - 1], b1, b2, eps, wd, t);
        /* fp32 against double: a few ulps per step */
        ck_assert_msg(rel_err_vs_double(p, pd, n) < 1e-6, "step %d: p rel err %.3g", t,
                      rel_err_vs_double(p, pd, n));
        ck_assert_msg(rel_err_vs_double(m, md, n) < 1e-6, "step %d: m rel err %.3g", t,
                      rel_err_vs_double(m, md, n));
        ck_assert_msg(rel_err_vs_double(v, vd, n) < 1e-6, "step %d: v rel err %.3g", t,
                      rel_err_vs_double(v, vd, n));
        free(g);
    }
    free(p);
}
END_TEST

START_TEST(sum_squares_equals_a_plain_double_loop_across_chunks)
{
    const float small[3] = {1.0f, -2.0f, 3.0f};
    ck_assert(sum_squares(small, 3) == 14.0);
    ck_assert(sum_squares(small, 0) == 0.0);
    int64_t n = 2 * 65536 + 17; /* three chunks, the last partial */
    rand_seed(17);
    float *x = random_tensor(n, 1.0f);
    double want = 0.0;
    for (int64_t i = 0; i < n; i++)
        want += (double)x[i] * x[i];
    double got = sum_squares(x, n);
    ck_assert_msg(fabs(got - want) <= 1e-12 * want, "sum_squares %.17g, loop %.17g", got, want);
    free(x);
}
END_TEST

/* ---- the whole model ---- */

typedef struct {
    ModelDims d;
    ParamTable pt;
    float *params, *grads;
    Llama m;
    int32_t ids[12], targets[12];
} ModelCase;

enum { MB = 2, MT = 6 };

static double model_loss(void *p)
{
    ModelCase *c = p;
    return llama_forward(&c->m, 0, c->ids, c->targets, 1.0f);
}

static void model_case_open(ModelCase *c, int tied)
{
    ModelDims d = {
        .num_hidden_layers = 2, .hidden_size = 16, .num_attention_heads = 4,
        .num_key_value_heads = 2, .intermediate_size = 24, .vocab_size = 40,
        .max_position_embeddings = MT, .rope_theta = 10000.0, .rms_norm_eps = 1e-5,
        .tie_word_embeddings = tied,
    };
    memset(c, 0, sizeof *c);
    c->d = d;
    ParamShard shard = params_shard_single(&d);
    params_build(&c->pt, &d, &shard);
    ck_assert_int_eq(c->pt.V_pad, 128);
    c->params = malloc(c->pt.numel * sizeof(float));
    c->grads = calloc(c->pt.numel, sizeof(float));
    params_init(&c->pt, c->params, 1234);
    /* At std 0.02 attention is uniform and the MLP linear, so the q/k gradients would be ~1e-4
     * and second-order terms untested. Scale matrices to std 0.2 (activations of unit scale),
     * the embedding to std 1 (a residual stream of unit scale, so a step of h is not 5% of
     * its RMS), and move the norm weights off 1 so every term of the backward carries weight. */
    rand_seed(18);
    for (int i = 0; i < c->pt.n; i++) {
        const ParamInfo *p = &c->pt.t[i];
        float gain = strcmp(p->name, "model.embed_tokens.weight") == 0 ? 50.0f : 10.0f;
        for (size_t e = 0; e < p->numel; e++)
            c->params[p->offset + e] = p->is_norm ? 1.0f + 0.3f * urand()
                                                  : gain * c->params[p->offset + e];
    }
    for (int i = 0; i < MB * MT; i++) {
        c->ids[i] = (int32_t)((urand() + 1.0f) * 0.5f * 39.99f);
        c->targets[i] = (int32_t)((urand() + 1.0f) * 0.5f * 39.99f);
    }
    LlamaShape s = llama_shape(&c->pt, MB, MT);
    llama_init(&c->m, &c->pt, &s, c->params, c->grads, 1, NULL);
}

static void model_case_close(ModelCase *c)
{
    llama_free(&c->m);
    free(c->params);
    free(c->grads);
    params_free(&c->pt);
}

/* A random element of tensor p that the loss depends on: an untied embedding only gets
 * gradient in rows of ids that occur; vocab tensors never in padding rows. */
static size_t sample_element(const ModelCase *c, const ParamInfo *p)
{
    int64_t cols = p->local_shape[1];
    int64_t col = (int64_t)((urand() + 1.0f) * 0.5f * (float)cols) % cols;
    int64_t rows = p->split == SPLIT_VOCAB ? p->valid_rows : p->local_shape[0];
    int64_t row = (int64_t)((urand() + 1.0f) * 0.5f * (float)rows) % rows;
    if (strcmp(p->name, "model.embed_tokens.weight") == 0 && !c->d.tie_word_embeddings)
        row = c->ids[(int)((urand() + 1.0f) * 0.5f * MB * MT) % (MB * MT)];
    return p->offset + (size_t)(row * cols + col);
}

static void check_model_gradients(int tied)
{
    ModelCase c;
    model_case_open(&c, tied);
    model_loss(&c);
    llama_backward(&c.m, 0);
    for (int i = 0; i < c.pt.n; i++) {
        const ParamInfo *p = &c.pt.t[i];
        float analytic[MODEL_SAMPLES], fd[MODEL_SAMPLES];
        for (int k = 0; k < MODEL_SAMPLES; k++) {
            size_t e = sample_element(&c, p);
            analytic[k] = c.grads[e];
            fd[k] = fd_at(c.params, (int64_t)e, FD_STEP, model_loss, &c);
        }
        char what[160];
        snprintf(what, sizeof what, "%s model: %s", tied ? "tied" : "untied", p->name);
        assert_grad_close(what, analytic, fd, MODEL_SAMPLES, TOL_MODEL);
        if (p->split == SPLIT_VOCAB)
            for (size_t e = (size_t)(p->valid_rows * p->local_shape[1]); e < p->numel; e++)
                ck_assert_msg(c.grads[p->offset + e] == 0.0f, "%s: padding element %zu has gradient",
                              what, e);
    }
    model_case_close(&c);
}

START_TEST(untied_model_gradients_match_finite_differences)
{
    check_model_gradients(0);
}
END_TEST

START_TEST(tied_model_gradients_match_finite_differences)
{
    check_model_gradients(1);
}
END_TEST

/* The full-sequence kernels over several query tiles (64 rows) and key blocks (256 keys),
 * with a partial last tile and GQA groups of 3 stacked into one GEMM: forward and backward
 * against the formulas evaluated in double (docs/math.md, Attention), per element. Bound:
 * fp32 sums of ≤ 300 terms of size ≤ |values| (inputs in [−1, 1)), γ₃₀₀ ≈ 2e-5 relative to the
 * sum of magnitudes; 1e-4 absolute on outputs of order 1 sits 5× above. A wrong row
 * position in the stack, a missed tile or key block gives errors of order 1e-1. */
START_TEST(attention_over_many_tiles_and_blocks_matches_a_double_reference)
{
    enum { B = 1, T = 300, H = 6, K = 2, D = 16, G = H / K };
    size_t nq = (size_t)B * T * H * D, nk = (size_t)B * T * K * D;
    rand_seed(31);
    float *q = random_tensor((int64_t)nq, 1.0f), *k = random_tensor((int64_t)nk, 1.0f);
    float *v = random_tensor((int64_t)nk, 1.0f), *dout = random_tensor((int64_t)nq, 1.0f);
    float *out = calloc(nq, 4), *lse = calloc((size_t)B * H * T, 4), *dq = calloc(nq, 4);
    float *dk = calloc(nk, 4), *dv = calloc(nk, 4);
    double *rdk = calloc(nk, sizeof(double)), *rdv = calloc(nk, sizeof(double));
    attention_forward(out, lse, q, k, v, B, T, H, K, D);
    attention_backward(dq, dk, dv, dout, q, k, v, out, lse, B, T, H, K, D);
    double scale = 1.0 / sqrt((double)D), p[T], worst = 0.0;
    for (int h = 0; h < H; h++)
        for (int i = 0; i < T; i++) {
            const float *qi = q + ((size_t)i * H + h) * D, *gi = dout + ((size_t)i * H + h) * D;
            double mx = -INFINITY, z = 0.0, o[D] = {0}, dp[T], delta = 0.0;
            for (int j = 0; j <= i; j++) {
                const float *kj = k + ((size_t)j * K + h / G) * D;
                double sdot = 0.0;
                for (int d = 0; d < D; d++)
                    sdot += (double)qi[d] * kj[d];
                p[j] = sdot * scale;
                mx = p[j] > mx ? p[j] : mx;
            }
            for (int j = 0; j <= i; j++)
                z += exp(p[j] - mx);
            for (int j = 0; j <= i; j++) {
                const float *vj = v + ((size_t)j * K + h / G) * D;
                p[j] = exp(p[j] - mx) / z;
                dp[j] = 0.0;
                for (int d = 0; d < D; d++) {
                    o[d] += p[j] * vj[d];
                    dp[j] += (double)gi[d] * vj[d];
                }
                delta += p[j] * dp[j];
            }
            double dqi[D] = {0};
            for (int j = 0; j <= i; j++) {
                double ds = p[j] * (dp[j] - delta) * scale;
                size_t kv = ((size_t)j * K + h / G) * D;
                for (int d = 0; d < D; d++) {
                    dqi[d] += ds * k[kv + d];
                    rdk[kv + d] += ds * qi[d];
                    rdv[kv + d] += p[j] * gi[d];
                }
            }
            for (int d = 0; d < D; d++) {
                size_t at = ((size_t)i * H + h) * D + d;
                worst = fmax(worst, fabs(out[at] - o[d]));
                worst = fmax(worst, fabs(dq[at] - dqi[d]));
            }
            worst = fmax(worst, fabs(lse[(size_t)h * T + i] - (mx + log(z))));
        }
    for (size_t e = 0; e < nk; e++)
        worst = fmax(worst, fmax(fabs(dk[e] - rdk[e]), fabs(dv[e] - rdv[e])));
    ck_assert_msg(worst < 1e-4, "attention vs double reference: max error %.3g", worst);
    free(q); free(k); free(v); free(dout); free(out); free(lse); free(dq); free(dk); free(dv);
    free(rdk); free(rdv);
}
END_TEST

int main(void)
{
    kernels_set_threads(1);
    Suite *s = suite_create("gradcheck");
    TCase *tc = tcase_create("kernels");
    tcase_add_test(tc, matmul_dx_is_overwritten_and_dW_accumulates);
    tcase_add_test(tc, matmul_dx_acc_adds_to_existing_dx);
    tcase_add_test(tc, matmul_without_dx_still_accumulates_dW);
    tcase_add_test(tc, rmsnorm_dx_and_dw_accumulate_onto_existing_gradients);
    tcase_add_test(tc, rope_forward_preserves_the_norm_of_every_rotated_pair);
    tcase_add_test(tc, rope_backward_is_the_transpose_of_forward);
    tcase_add_test(tc, rope_dx_matches_finite_differences_at_pos0_5);
    tcase_add_test(tc, rope_token_t_sits_at_global_position_pos0_plus_t);
    tcase_add_test(tc, attention_forward_is_causal_softmax_of_scaled_scores);
    tcase_add_test(tc, attention_mha_gradients_match_finite_differences);
    tcase_add_test(tc, attention_gqa_gradients_match_finite_differences);
    tcase_add_test(tc, attention_block_split_anywhere_equals_one_block);
    tcase_add_test(tc, attention_over_many_tiles_and_blocks_matches_a_double_reference);
    tcase_add_test(tc, attention_ring_of_two_query_and_key_blocks_equals_full_attention);
    tcase_add_test(tc, attention_ring_backward_over_two_blocks_equals_full_backward);
    tcase_add_test(tc, swiglu_da_db_match_finite_differences);
    tcase_add_test(tc, embedding_ids_outside_the_slice_give_zero_rows);
    tcase_add_test(tc, embedding_dtable_accumulates_only_ids_in_the_slice);
    tcase_add_test(tc, ce_loss_is_logsumexp_of_real_columns_minus_target_logit);
    tcase_add_test(tc, ce_gradient_with_padding_columns_matches_finite_differences);
    tcase_add_test(tc, ce_gradient_of_a_slice_at_v0_with_outside_targets_matches_finite_differences);
    tcase_add_test(tc, ce_over_vocab_slices_with_manual_allreduce_equals_one_slice);
    tcase_add_test(tc, adamw_update_matches_pytorch_formula_in_double_over_five_steps);
    tcase_add_test(tc, sum_squares_equals_a_plain_double_loop_across_chunks);
    suite_add_tcase(s, tc);
    TCase *tm = tcase_create("model");
    tcase_add_test(tm, untied_model_gradients_match_finite_differences);
    tcase_add_test(tm, tied_model_gradients_match_finite_differences);
    suite_add_tcase(s, tm);
    return check_run(s);
}
