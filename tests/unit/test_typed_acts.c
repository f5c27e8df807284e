/* test_typed_acts: the typed activation seam of lib/backend.h (docs/backends.md, "Typed
 * activations"). A backend here declares act_dtype BF16 and stores every activation as bf16
 * bits: each entry widens its bf16 inputs to fp32 exactly, runs the CPU kernel and rounds its
 * activation outputs to bf16 (round to nearest even), while the float * buffers (residual
 * stream, statistics, weights, gradients, loss) stay fp32. llama.c must then hand every entry
 * buffers of the type it declares, step through 2-byte elements (a layer's slice, RoPE's cp
 * halves) and cast dres with to_act: a buffer handed over with the wrong type reads as
 * garbage (bf16 bits read as float, or the other way round), far outside the bound below.
 * Checked against the CPU backend's fp32 run of the same weights and tokens. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "error.h"
#include "llama.h"
#include "params.h"
#include "safetensors.h"

static const Backend *cpu;

/* n bf16 elements of p, widened (exact) into a new fp32 array. */
static float *widen(const void *p, int64_t n)
{
    const uint16_t *h = p;
    float *f = xmalloc((size_t)(n ? n : 1) * sizeof *f);
    for (int64_t i = 0; i < n; i++)
        f[i] = st_bf16_to_f32(h[i]);
    return f;
}

/* f rounded into the bf16 buffer p; frees f. */
static void narrow(void *p, float *f, int64_t n)
{
    uint16_t *h = p;
    for (int64_t i = 0; i < n; i++)
        h[i] = st_f32_to_bf16(f[i]);
    free(f);
}

static float *scratch(int64_t n)
{
    return xcalloc((size_t)(n ? n : 1), sizeof(float));
}

static void bf_to_act(void *out, const float *x, int64_t n)
{
    float *f = scratch(n);
    memcpy(f, x, (size_t)n * sizeof *f);
    narrow(out, f, n);
}

static void bf_add_inplace(float *y, const void *x, int64_t n)
{
    float *f = widen(x, n);
    cpu->add_inplace(y, f, n);
    free(f);
}

static void bf_matmul_forward(void *out, const void *x, const float *W, int N, int Cin, int Cout)
{
    float *xf = widen(x, (int64_t)N * Cin), *of = scratch((int64_t)N * Cout);
    cpu->matmul_forward(of, xf, W, N, Cin, Cout);
    narrow(out, of, (int64_t)N * Cout);
    free(xf);
}

static void bf_matmul_backward(void *dx, float *dW, const void *dy, const void *x,
                               const float *W, int N, int Cin, int Cout, int dx_acc)
{
    int64_t nx = (int64_t)N * Cin;
    float *dyf = widen(dy, (int64_t)N * Cout), *xf = widen(x, nx);
    float *dxf = !dx ? NULL : dx_acc ? widen(dx, nx) : scratch(nx);
    cpu->matmul_backward(dxf, dW, dyf, xf, W, N, Cin, Cout, dx_acc);
    if (dx)
        narrow(dx, dxf, nx);
    free(dyf);
    free(xf);
}

static void bf_rmsnorm_forward(void *out, float *rstd, const float *x, const float *w, int N,
                               int C, float eps)
{
    float *of = scratch((int64_t)N * C);
    cpu->rmsnorm_forward(of, rstd, x, w, N, C, eps);
    narrow(out, of, (int64_t)N * C);
}

static void bf_rmsnorm_backward(float *dx, float *dw, const void *dy, const float *x,
                                const float *w, const float *rstd, int N, int C)
{
    float *dyf = widen(dy, (int64_t)N * C);
    cpu->rmsnorm_backward(dx, dw, dyf, x, w, rstd, N, C);
    free(dyf);
}

static void bf_rope(void *x, int B, int T, int nh, int D, int pos0, double theta, int backward)
{
    int64_t n = (int64_t)B * T * nh * D;
    float *f = widen(x, n);
    (backward ? cpu->rope_backward : cpu->rope_forward)(f, B, T, nh, D, pos0, theta);
    narrow(x, f, n);
}

static void bf_rope_forward(void *x, int B, int T, int nh, int D, int pos0, double theta)
{
    bf_rope(x, B, T, nh, D, pos0, theta, 0);
}

static void bf_rope_backward(void *x, int B, int T, int nh, int D, int pos0, double theta)
{
    bf_rope(x, B, T, nh, D, pos0, theta, 1);
}

static void bf_attention_forward(void *out, float *lse, const void *q, const void *k,
                                 const void *v, int B, int T, int H, int K, int D)
{
    int64_t nq = (int64_t)B * T * H * D, nk = (int64_t)B * T * K * D;
    float *qf = widen(q, nq), *kf = widen(k, nk), *vf = widen(v, nk), *of = scratch(nq);
    cpu->attention_forward(of, lse, qf, kf, vf, B, T, H, K, D);
    narrow(out, of, nq);
    free(qf);
    free(kf);
    free(vf);
}

static void bf_attention_backward(void *dq, void *dk, void *dv, const void *dout,
                                  const void *q, const void *k, const void *v, const void *out,
                                  const float *lse, int B, int T, int H, int K, int D)
{
    int64_t nq = (int64_t)B * T * H * D, nk = (int64_t)B * T * K * D;
    float *df = widen(dout, nq), *qf = widen(q, nq), *kf = widen(k, nk), *vf = widen(v, nk);
    float *of = widen(out, nq), *dqf = scratch(nq), *dkf = scratch(nk), *dvf = scratch(nk);
    cpu->attention_backward(dqf, dkf, dvf, df, qf, kf, vf, of, lse, B, T, H, K, D);
    narrow(dq, dqf, nq);
    narrow(dk, dkf, nk);
    narrow(dv, dvf, nk);
    free(df);
    free(qf);
    free(kf);
    free(vf);
    free(of);
}

static void bf_swiglu_forward(void *out, const void *a, const void *b, int64_t n)
{
    float *af = widen(a, n), *bf = widen(b, n), *of = scratch(n);
    cpu->swiglu_forward(of, af, bf, n);
    narrow(out, of, n);
    free(af);
    free(bf);
}

static void bf_swiglu_backward(void *da, void *db, const void *dout, const void *a,
                               const void *b, int64_t n)
{
    float *df = widen(dout, n), *af = widen(a, n), *bf = widen(b, n);
    float *daf = scratch(n), *dbf = scratch(n);
    cpu->swiglu_backward(daf, dbf, df, af, bf, n);
    narrow(da, daf, n);
    narrow(db, dbf, n);
    free(df);
    free(af);
    free(bf);
}

static void bf_ce_max(float *mx, const void *logits, int N, int V_local, int V_valid)
{
    float *lf = widen(logits, (int64_t)N * V_local);
    cpu->ce_max(mx, lf, N, V_local, V_valid);
    free(lf);
}

static void bf_ce_sumexp(float *z, const void *logits, const float *mx, int N, int V_local,
                         int V_valid)
{
    float *lf = widen(logits, (int64_t)N * V_local);
    cpu->ce_sumexp(z, lf, mx, N, V_local, V_valid);
    free(lf);
}

static void bf_ce_target(float *zt, const void *logits, const int32_t *targets, int N,
                         int V_local, int v0)
{
    float *lf = widen(logits, (int64_t)N * V_local);
    cpu->ce_target(zt, lf, targets, N, V_local, v0);
    free(lf);
}

static void bf_ce_backward(void *logits, float *loss, const float *mx, const float *z,
                           const float *zt, const int32_t *targets, int N, int V_local,
                           int V_valid, int v0, float scale)
{
    int64_t n = (int64_t)N * V_local;
    float *lf = widen(logits, n);
    cpu->ce_backward(lf, loss, mx, z, zt, targets, N, V_local, V_valid, v0, scale);
    narrow(logits, lf, n);
}

/* The CPU table with bf16 activations. */
static Backend bf16_backend(void)
{
    cpu = backend_cpu();
    Backend b = *cpu;
    b.name = "bf16 on the cpu (test)";
    b.act_dtype = DTYPE_BF16;
    b.to_act = bf_to_act;
    b.add_inplace = bf_add_inplace;
    b.matmul_forward = bf_matmul_forward;
    b.matmul_backward = bf_matmul_backward;
    b.rmsnorm_forward = bf_rmsnorm_forward;
    b.rmsnorm_backward = bf_rmsnorm_backward;
    b.rope_forward = bf_rope_forward;
    b.rope_backward = bf_rope_backward;
    b.attention_forward = bf_attention_forward;
    b.attention_backward = bf_attention_backward;
    b.swiglu_forward = bf_swiglu_forward;
    b.swiglu_backward = bf_swiglu_backward;
    b.ce_max = bf_ce_max;
    b.ce_sumexp = bf_ce_sumexp;
    b.ce_target = bf_ce_target;
    b.ce_backward = bf_ce_backward;
    return b;
}

static ModelDims dims(void)
{
    ModelDims d = {
        .num_hidden_layers = 3, .hidden_size = 32, .num_attention_heads = 4,
        .num_key_value_heads = 2, .intermediate_size = 48, .vocab_size = 200,
        .max_position_embeddings = 64, .rope_theta = 10000.0, .rms_norm_eps = 1e-5,
        .tie_word_embeddings = 0,
    };
    return d;
}

/* Elements of the activation-typed buffers of one slot and the scratch (recompute none):
 * the rest of the arena is the same fp32/int32 bytes on both backends. */
static int64_t act_elements(const LlamaShape *s)
{
    int64_t N = (int64_t)s->B * s->T, C = s->C, L = s->nl, F = s->F;
    int64_t HD = (int64_t)s->H * s->D, KD = (int64_t)s->K * s->D;
    int64_t layer = 2 * N * C + 2 * N * HD + 2 * N * KD + 3 * N * F; /* n1 n2 q att k v fa fb fm */
    int64_t slot = L * layer + N * C + N * (int64_t)s->V_local;      /* nf, logits */
    int64_t scr = N * C + 2 * N * HD + 2 * N * KD + 3 * N * F;       /* dn datt dq dk dv dfa.. */
    return slot + scr;
}

START_TEST(bf16_activations_take_two_bytes)
{
    ModelDims d = dims();
    ParamShard sh = params_shard_single(&d);
    ParamTable pt;
    params_build(&pt, &d, &sh);
    LlamaShape s = llama_shape(&pt, 2, 16);
    Backend bf = bf16_backend();
    size_t f32 = llama_activation_bytes(&s, 1, 1, backend_cpu());
    size_t b16 = llama_activation_bytes(&s, 1, 1, &bf);
    size_t saved = (size_t)act_elements(&s) * 2;
    /* each of the 33 buffers is rounded up to 64 bytes on either backend */
    ck_assert_msg(f32 - b16 + 33 * 64 >= saved && f32 - b16 <= saved + 33 * 64,
                  "fp32 %zu bytes, bf16 %zu: saved %zu, want %zu", f32, b16, f32 - b16, saved);
    params_free(&pt);
}
END_TEST

/* Loss and gradients of one micro-batch (B 2 × T 16) on backend be. */
static double run(const Backend *be, const ParamTable *pt, const float *w, float *g, int mode,
                  float *logits)
{
    LlamaShape s = llama_shape(pt, 2, 16);
    s.recompute = mode;
    LlamaEnv env = {NULL, NULL, be};
    float *wc = xmalloc(pt->numel * sizeof(float));
    memcpy(wc, w, pt->numel * sizeof(float));
    memset(g, 0, pt->numel * sizeof(float));
    Llama m;
    llama_init(&m, pt, &s, wc, g, 1, &env);
    int32_t ids[32], tg[32];
    for (int i = 0; i < 32; i++) {
        ids[i] = (i * 11 + 3) % pt->dims.vocab_size;
        tg[i] = (i * 7 + 1) % pt->dims.vocab_size;
    }
    double loss = llama_forward_logits(&m, 0, ids, tg, logits);
    /* forward_logits leaves the loss (scale 0); the gradients come from a scaled forward */
    llama_forward(&m, 0, ids, tg, 1.0f / 32);
    llama_backward(&m, 0);
    llama_free(&m);
    free(wc);
    return loss;
}

static double rel_l2(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)b[i] * b[i];
    }
    return sqrt(num / den);
}

/* Bounds. bf16 keeps 8 significant bits: each store rounds by at most u = 2^-9 relative
 * (half an ulp of 2^-8). A logit passed about 14 roundings (4 a layer over 3 layers: norm out,
 * projection out, attention or SwiGLU out, branch; then the final norm and the head), mostly
 * uncorrelated: ~sqrt(14)·u ≈ 7e-3 relative, bound 2e-2 for the logits' relative L2 error.
 * Gradients pass the same roundings again backwards (about 28): ~sqrt(28)·u ≈ 1e-2, bound
 * 5e-2. The loss sum is a sum over 32 tokens of log-sum-exp minus the target logit, whose
 * first-order error Σ (softmax − onehot)·δ averages the logit errors out: bound 1e-3. Measured
 * (every recompute mode): loss 1.3e-5, logits 2.8e-3, gradients 3.1e-3. A buffer read with
 * the wrong type or stride is off by O(1) or NaN (a layer slice stepped in 4-byte elements:
 * gradients 0.44; dres handed to the GEMM uncast: NaN). */
#define LOSS_TOL 1e-3
#define GRAD_TOL 5e-2
#define LOGIT_TOL 2e-2

START_TEST(bf16_run_matches_fp32)
{
    ModelDims d = dims();
    ParamShard sh = params_shard_single(&d);
    ParamTable pt;
    params_build(&pt, &d, &sh);
    float *w = xcalloc(pt.numel, sizeof(float));
    params_init(&pt, w, 7);
    Backend bf = bf16_backend();
    size_t nl = (size_t)32 * llama_shape(&pt, 2, 16).V_local;
    float *g32 = xcalloc(pt.numel, sizeof(float)), *g16 = xcalloc(pt.numel, sizeof(float));
    float *l32 = xcalloc(nl, sizeof(float)), *l16 = xcalloc(nl, sizeof(float));
    for (int mode = RECOMPUTE_NONE; mode <= RECOMPUTE_FULL; mode++) {
        double loss32 = run(backend_cpu(), &pt, w, g32, mode, l32);
        double loss16 = run(&bf, &pt, w, g16, mode, l16);
        double dl = fabs(loss16 - loss32) / fabs(loss32);
        double dg = rel_l2(g16, g32, pt.numel), dlog = rel_l2(l16, l32, nl);
        fprintf(stderr, "recompute %d: loss fp32 %.7g bf16 %.7g (rel %.2e); logits rel L2 "
                "%.2e; gradients rel L2 %.2e\n", mode, loss32, loss16, dl, dlog, dg);
        ck_assert_msg(dl < LOSS_TOL, "loss rel %.3g over %g", dl, LOSS_TOL);
        ck_assert_msg(dlog < LOGIT_TOL, "logits rel L2 %.3g over %g", dlog, LOGIT_TOL);
        ck_assert_msg(dg < GRAD_TOL, "gradients rel L2 %.3g over %g", dg, GRAD_TOL);
        ck_assert_msg(dl > 0 && dg > 0, "bf16 rounding left no trace: the seam is not typed");
    }
    free(g32);
    free(g16);
    free(l32);
    free(l16);
    free(w);
    params_free(&pt);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("typed_acts");
    TCase *tc = tcase_create("bf16");
    tcase_add_test(tc, bf16_activations_take_two_bytes);
    tcase_add_test(tc, bf16_run_matches_fp32);
    suite_add_tcase(s, tc);
    return check_run(s);
}
