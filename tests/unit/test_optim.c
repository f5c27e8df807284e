/* test_optim: the learning-rate schedule (constant, warmup, cosine) at its defining points, and
 * optim_step (global-norm clipping, then AdamW with bias correction and per-tensor weight
 * decay) against a re-implementation of PyTorch's formulas in double on a small table.
 * The Config is filled by hand so these tests do not depend on the config parser. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "optim.h"
#include "params.h"

/* fp32 optimizer against the double reference, compared on the update of one step: that is
 * the difference of two fp32 weights of ~0.02 (spacing 1.9e-9), a few 1e-6 of the smallest
 * updates here (lr 2.6e-3); measured ≤ 7e-6. A wrong clip factor, bias correction or decay
 * moves it by ≥ 1e-2. */
#define TOL_UPDATE 1e-4

static Config base_config(void)
{
    Config c;
    memset(&c, 0, sizeof c);
    c.training.learning_rate = 1e-3;
    c.training.total_train_steps = 110;
    c.optimizer.beta1 = 0.9;
    c.optimizer.beta2 = 0.95;
    c.optimizer.eps = 1e-8;
    c.optimizer.weight_decay = 0.1;
    c.optimizer.decay_norms = 0;
    c.optimizer.grad_clip = 0.0;
    strcpy(c.optimizer.lr_schedule, "cosine");
    c.optimizer.warmup_steps = 10;
    c.optimizer.min_lr = 1e-4;
    return c;
}

static void assert_lr(const Config *c, int64_t s, double want)
{
    double got = optim_lr(c, s);
    ck_assert_msg(fabs(got - want) <= 1e-15, "lr(%lld) = %.17g, want %.17g", (long long)s, got, want);
}

/* ---- learning-rate schedule ---- */

START_TEST(constant_schedule_is_lr_at_every_step)
{
    Config c = base_config();
    strcpy(c.optimizer.lr_schedule, "constant");
    c.optimizer.warmup_steps = 0;
    for (int64_t s = 0; s < 300; s += 7)
        assert_lr(&c, s, 1e-3);
}
END_TEST

START_TEST(constant_schedule_after_warmup_is_lr)
{
    Config c = base_config();
    strcpy(c.optimizer.lr_schedule, "constant");
    c.optimizer.warmup_steps = 4;
    assert_lr(&c, 0, 0.25e-3);
    assert_lr(&c, 1, 0.5e-3);
    assert_lr(&c, 3, 1e-3);
    assert_lr(&c, 4, 1e-3);
    assert_lr(&c, 500, 1e-3);
}
END_TEST

START_TEST(warmup_is_linear_lr_times_s_plus_1_over_w)
{
    Config c = base_config();
    for (int64_t s = 0; s < 10; s++)
        assert_lr(&c, s, 1e-3 * (double)(s + 1) / 10.0);
}
END_TEST

START_TEST(cosine_is_lr_at_warmup_end_average_at_midpoint_min_lr_at_total)
{
    Config c = base_config(); /* warmup 10, total 110: the cosine spans steps 10 … 110 */
    assert_lr(&c, 10, 1e-3);
    assert_lr(&c, 60, (1e-3 + 1e-4) / 2);
    assert_lr(&c, 35, 1e-4 + 0.5 * 9e-4 * (1.0 + cos(M_PI / 4)));
    assert_lr(&c, 110, 1e-4);
    for (int64_t s = 11; s <= 110; s++)
        ck_assert(optim_lr(&c, s) < optim_lr(&c, s - 1));
}
END_TEST

START_TEST(cosine_beyond_total_stays_at_min_lr)
{
    Config c = base_config();
    assert_lr(&c, 111, 1e-4);
    assert_lr(&c, 1000, 1e-4);
}
END_TEST

START_TEST(cosine_without_warmup_starts_at_lr)
{
    Config c = base_config();
    c.optimizer.warmup_steps = 0;
    c.training.total_train_steps = 100;
    assert_lr(&c, 0, 1e-3);
    assert_lr(&c, 50, (1e-3 + 1e-4) / 2);
    assert_lr(&c, 100, 1e-4);
}
END_TEST

/* ---- optim_step against the double reference ---- */

/* A small model's table: 1 layer, C = 8, kv width 4, F = 12, V = 20 padded to 128, untied. */
typedef struct {
    ParamTable pt;
    float *params, *grads, *p0;
    double *p, *m, *v; /* the reference's state */
    int64_t t;
} Bench;

static uint64_t rand_state;

static float urand(void) /* uniform in [−1, 1) */
{
    uint64_t z = (rand_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (float)((double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void bench_open(Bench *b)
{
    ModelDims d = {
        .num_hidden_layers = 1, .hidden_size = 8, .num_attention_heads = 2,
        .num_key_value_heads = 1, .intermediate_size = 12, .vocab_size = 20,
        .max_position_embeddings = 16, .rope_theta = 10000.0, .rms_norm_eps = 1e-5,
    };
    memset(b, 0, sizeof *b);
    ParamShard shard = params_shard_single(&d);
    params_build(&b->pt, &d, &shard);
    size_t n = b->pt.numel;
    b->params = malloc(n * sizeof(float));
    b->grads = malloc(n * sizeof(float));
    b->p0 = malloc(n * sizeof(float));
    b->p = malloc(n * sizeof(double));
    b->m = calloc(n, sizeof(double));
    b->v = calloc(n, sizeof(double));
    params_init(&b->pt, b->params, 3);
    for (size_t i = 0; i < n; i++)
        b->p[i] = b->params[i];
    rand_state = 77;
}

static void bench_close(Bench *b)
{
    free(b->params), free(b->grads), free(b->p0), free(b->p), free(b->m), free(b->v);
    params_free(&b->pt);
}

/* Gradients uniform in ±scale. With eps of the same order AdamW's update lr·ĝ/(|ĝ| + eps)
 * depends on the gradient's size, so a wrong clip factor shows in the parameters. */
static void bench_new_gradients(Bench *b, float scale)
{
    for (size_t i = 0; i < b->pt.numel; i++)
        b->grads[i] = scale * urand();
}

static double sum_sq_double(const float *g, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    return s;
}

/* torch.nn.utils.clip_grad_norm_ then torch.optim.AdamW.step, in double. */
static void reference_step(Bench *b, const Config *c, double lr)
{
    double norm = sqrt(sum_sq_double(b->grads, b->pt.numel)), clip = c->optimizer.grad_clip;
    double coef = clip > 0.0 && norm > clip ? clip / (norm + 1e-6) : 1.0;
    double b1 = c->optimizer.beta1, b2 = c->optimizer.beta2, eps = c->optimizer.eps;
    b->t++;
    double bc1 = 1.0 - pow(b1, (double)b->t), bc2 = 1.0 - pow(b2, (double)b->t);
    for (int k = 0; k < b->pt.n; k++) {
        const ParamInfo *info = &b->pt.t[k];
        double wd = info->is_norm && !c->optimizer.decay_norms ? 0.0 : c->optimizer.weight_decay;
        for (size_t i = info->offset; i < info->offset + info->numel; i++) {
            double g = coef * b->grads[i];
            b->p[i] *= 1.0 - lr * wd;
            b->m[i] = b1 * b->m[i] + (1.0 - b1) * g;
            b->v[i] = b2 * b->v[i] + (1.0 - b2) * g * g;
            b->p[i] -= lr / bc1 * b->m[i] / (sqrt(b->v[i]) / sqrt(bc2) + eps);
        }
    }
}

/* ‖Δ_ours − Δ_ref‖ / ‖Δ_ref‖ for the updates since p0 (not the parameters, which would hide
 * the updates under their own size). */
static double update_error(const Bench *b)
{
    double diff = 0.0, ref = 0.0;
    for (size_t i = 0; i < b->pt.numel; i++) {
        double want = b->p[i] - b->p0[i], got = (double)b->params[i] - b->p0[i];
        diff += (got - want) * (got - want);
        ref += want * want;
    }
    return sqrt(diff) / sqrt(ref);
}

/* One optim_step and one reference step from the same weights (the moments carry over in
 * each); returns the update error. */
static double step_both(Bench *b, Optimizer *o, const Config *c, double lr)
{
    memcpy(b->p0, b->params, b->pt.numel * sizeof(float));
    for (size_t i = 0; i < b->pt.numel; i++)
        b->p[i] = b->params[i];
    double norm = optim_grad_norm(o, b->grads);
    reference_step(b, c, lr);
    optim_step(o, b->params, b->grads, norm, lr);
    return update_error(b);
}

START_TEST(grad_norm_is_the_root_of_the_sum_of_squares_of_every_element)
{
    Bench b;
    bench_open(&b);
    Config c = base_config();
    Optimizer o;
    optim_init(&o, &b.pt, &c);
    bench_new_gradients(&b, 1e-3f);
    double want = sqrt(sum_sq_double(b.grads, b.pt.numel));
    ck_assert_msg(fabs(optim_grad_norm(&o, b.grads) - want) <= 1e-12 * want, "norm %.17g, want %.17g",
                  optim_grad_norm(&o, b.grads), want);
    optim_free(&o);
    bench_close(&b);
}
END_TEST

/* Runs one step with grad_clip = clip_over_norm × the gradient norm (0: no clipping) and
 * checks it against the reference; returns how far the unclipped reference would be.
 * Gradients of 1e-7 (norm 2.9e-6) make PyTorch's 1e-6 in clip / (norm + 1e-6) count: the
 * factor is 0.37 rather than 0.5 at clip = norm / 2, and 0.74 rather than 1 at clip = norm. */
static double check_first_step_with_clip(double clip_over_norm)
{
    Bench b, unclipped;
    bench_open(&b);
    bench_open(&unclipped);
    Config c = base_config();
    c.optimizer.eps = 1e-8;
    bench_new_gradients(&b, 1e-7f);
    memcpy(unclipped.grads, b.grads, b.pt.numel * sizeof(float));
    double norm = sqrt(sum_sq_double(b.grads, b.pt.numel));
    c.optimizer.grad_clip = clip_over_norm * norm;
    Optimizer o;
    optim_init(&o, &b.pt, &c);
    double e = step_both(&b, &o, &c, 1e-2);
    ck_assert_msg(e < TOL_UPDATE, "clip %.3g × norm: update differs from reference by %.3g",
                  clip_over_norm, e);
    Config no_clip = c;
    no_clip.optimizer.grad_clip = 0.0;
    memcpy(unclipped.p0, b.p0, b.pt.numel * sizeof(float));
    reference_step(&unclipped, &no_clip, 1e-2);
    memcpy(unclipped.params, b.params, b.pt.numel * sizeof(float));
    double away = update_error(&unclipped);
    optim_free(&o);
    bench_close(&b);
    bench_close(&unclipped);
    return away;
}

START_TEST(clipping_scales_gradients_by_clip_over_norm_plus_1e6)
{
    /* clip = norm / 2: the effective gradient is g · clip / (norm + 1e-6), not g / 2 */
    double away = check_first_step_with_clip(0.5);
    ck_assert_msg(away > 1e-2, "clipped and unclipped updates differ by only %.3g", away);
}
END_TEST

START_TEST(no_clipping_when_the_norm_equals_the_clip)
{
    ck_assert(check_first_step_with_clip(1.0) < TOL_UPDATE);
}
END_TEST

START_TEST(no_clipping_when_the_norm_is_below_the_clip)
{
    ck_assert(check_first_step_with_clip(2.0) < TOL_UPDATE);
}
END_TEST

START_TEST(no_clipping_when_grad_clip_is_0)
{
    ck_assert(check_first_step_with_clip(0.0) < TOL_UPDATE);
}
END_TEST

/* One step with zero gradients: AdamW's update vanishes and only the decay p·(1 − lr·wd) acts. */
static void check_decay(int decay_norms)
{
    Bench b;
    bench_open(&b);
    Config c = base_config();
    c.optimizer.decay_norms = decay_norms;
    memset(b.grads, 0, b.pt.numel * sizeof(float));
    memcpy(b.p0, b.params, b.pt.numel * sizeof(float));
    Optimizer o;
    optim_init(&o, &b.pt, &c);
    optim_step(&o, b.params, b.grads, 0.0, 1e-2); /* lr·wd = 1e-3 */
    for (int k = 0; k < b.pt.n; k++) {
        const ParamInfo *p = &b.pt.t[k];
        double factor = p->is_norm && !decay_norms ? 1.0 : 1.0 - 1e-3;
        for (size_t i = p->offset; i < p->offset + p->numel; i++) {
            double want = b.p0[i] * factor;
            /* untouched weights stay bitwise; decayed ones within the rounding of p·(1 − lr·wd) */
            int ok = factor == 1.0 ? b.params[i] == b.p0[i]
                                   : fabs(b.params[i] - want) <= 2e-7 * fabs(want);
            ck_assert_msg(ok, "%s (decay_norms %d): %.9g, want %.9g", p->name, decay_norms,
                          b.params[i], want);
        }
    }
    optim_free(&o);
    bench_close(&b);
}

START_TEST(norms_get_no_weight_decay_when_decay_norms_is_0)
{
    check_decay(0); /* norm weights stay exactly 1; matrices become 0.999 of themselves */
}
END_TEST

START_TEST(norms_decay_like_matrices_when_decay_norms_is_1)
{
    check_decay(1); /* norm weights become 0.999 */
}
END_TEST

START_TEST(five_steps_with_bias_correction_match_the_double_reference)
{
    Bench b;
    bench_open(&b);
    Config c = base_config();
    c.training.learning_rate = 1e-2; /* updates ≫ the fp32 spacing of weights of 0.02 */
    c.optimizer.eps = 1e-3;
    c.optimizer.warmup_steps = 2;
    c.training.total_train_steps = 5;
    /* clip chosen so that steps 0 and 3 are clipped (gradients ×2) and the others are not */
    const float gain[5] = {2.0f, 1.0f, 0.5f, 2.0f, 1.0f};
    bench_new_gradients(&b, 1e-3f);
    c.optimizer.grad_clip = 1.5 * sqrt(sum_sq_double(b.grads, b.pt.numel));
    Optimizer o;
    optim_init(&o, &b.pt, &c);
    for (int s = 0; s < 5; s++) {
        bench_new_gradients(&b, 1e-3f);
        for (size_t i = 0; i < b.pt.numel; i++)
            b.grads[i] *= gain[s];
        double e = step_both(&b, &o, &c, optim_lr(&c, s));
        ck_assert_msg(e < TOL_UPDATE, "step %d: update differs from reference by %.3g", s, e);
        ck_assert_int_eq(o.t, s + 1);
    }
    optim_free(&o);
    bench_close(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("optim");
    TCase *tl = tcase_create("lr");
    tcase_add_test(tl, constant_schedule_is_lr_at_every_step);
    tcase_add_test(tl, constant_schedule_after_warmup_is_lr);
    tcase_add_test(tl, warmup_is_linear_lr_times_s_plus_1_over_w);
    tcase_add_test(tl, cosine_is_lr_at_warmup_end_average_at_midpoint_min_lr_at_total);
    tcase_add_test(tl, cosine_beyond_total_stays_at_min_lr);
    tcase_add_test(tl, cosine_without_warmup_starts_at_lr);
    suite_add_tcase(s, tl);
    TCase *ts = tcase_create("step");
    tcase_add_test(ts, grad_norm_is_the_root_of_the_sum_of_squares_of_every_element);
    tcase_add_test(ts, clipping_scales_gradients_by_clip_over_norm_plus_1e6);
    tcase_add_test(ts, no_clipping_when_the_norm_equals_the_clip);
    tcase_add_test(ts, no_clipping_when_the_norm_is_below_the_clip);
    tcase_add_test(ts, no_clipping_when_grad_clip_is_0);
    tcase_add_test(ts, norms_get_no_weight_decay_when_decay_norms_is_0);
    tcase_add_test(ts, norms_decay_like_matrices_when_decay_norms_is_1);
    tcase_add_test(ts, five_steps_with_bias_correction_match_the_double_reference);
    suite_add_tcase(s, ts);
    return check_run(s);
}
