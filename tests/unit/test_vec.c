/* test_vec: the vector paths of the CPU kernels' elementwise and reduction loops
 * (lib/kernels/cpu/vec*.c), each path this CPU can run (scalar always; AVX2 and AVX-512 when
 * present), called directly, whatever path the process would pick.
 *
 * 1. exp against libm's double exp, rounded to float (the correctly rounded value but for
 *    rare double-rounding cases), over a strided sweep of every float in [−104, 89] (about 23
 *    million points, every bit pattern step) and a dense sweep of [−1, 1]: at most
 *    VEC_EXP_MAX_ULP ulp; the edges (±inf, NaN, overflow, underflow to 0, exp(0) = 1) exact.
 * 2. Paths agree: every elementwise op gives the same bits on every path, at every length
 *    (so a partial last vector and any split of a buffer between threads give the same bits);
 *    reductions agree within their rounding (relative 1e-5 for float sums of ≤ 1000 terms, whose
 *    bound is n·u·Σ|x| ≈ 6e-5·Σ|x| worst case, 1e-12 for double sums).
 * 3. Values: each op against the formula evaluated in double with libm, per element within
 *    a few float ulps of the result's scale (bounds in each test). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "kernels/cpu/vec.h"

static uint64_t rs = 1;

static float urand(float lo, float hi)
{
    uint64_t z = (rs += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return lo + (hi - lo) * (float)((double)(z >> 40) / (double)(1ull << 24));
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* |y − exact| in ulps of the float nearest exact (subnormal ulp below FLT_MIN) */
static double ulp_error(float y, double exact)
{
    float r = (float)exact;
    double ulp = fabsf(r) < 0x1p-126f ? 0x1p-149 : (double)nextafterf(fabsf(r), INFINITY) - fabsf(r);
    if (isinf(r))
        return isinf(y) && y > 0 ? 0.0 : INFINITY;
    return fabs((double)y - exact) / ulp;
}

static double sweep_max_ulp(const VecOps *o, float lo, float hi, uint32_t stride)
{
    enum { BATCH = 4096 };
    static float x[BATCH], y[BATCH];
    double worst = 0.0;
    /* by bit pattern: the negative floats from −0 down to lo, then +0 up to hi */
    uint32_t lo_bits, hi_bits;
    memcpy(&lo_bits, &lo, sizeof lo);
    memcpy(&hi_bits, &hi, sizeof hi);
    uint64_t from[2] = {0x80000000u, 0}, to[2] = {lo_bits, hi_bits};
    for (int side = lo < 0 ? 0 : 1; side < 2; side++)
        for (uint64_t u = from[side]; u <= to[side];) {
            int n = 0;
            for (; n < BATCH && u <= to[side]; n++, u += stride)
                x[n] = from_bits((uint32_t)u);
            o->exp(y, x, n);
            for (int i = 0; i < n; i++) {
                double e = ulp_error(y[i], exp((double)x[i]));
                if (e > worst)
                    worst = e;
            }
        }
    return worst;
}

START_TEST(exp_is_within_its_ulp_bound)
{
    for (int p = 0; p < VEC_PATHS; p++) {
        const VecOps *o = vec_path((VecPath)p);
        if (!o)
            continue;
        double wide = sweep_max_ulp(o, -104.0f, 89.0f, 97);
        double near = sweep_max_ulp(o, -1.0f, 1.0f, 13);
        ck_assert_msg(wide <= VEC_EXP_MAX_ULP && near <= VEC_EXP_MAX_ULP,
                      "%s: exp off by %.3f ulp over [-104, 89], %.3f over [-1, 1] (bound %d)",
                      o->name, wide, near, VEC_EXP_MAX_ULP);
        float x[8] = {-INFINITY, INFINITY, NAN, 0.0f, -104.5f, 89.0f, 88.72f, -0.0f}, y[8];
        o->exp(y, x, 8);
        ck_assert(y[0] == 0.0f && isinf(y[1]) && y[1] > 0 && isnan(y[2]) && y[3] == 1.0f);
        ck_assert(y[4] == 0.0f && isinf(y[5]) && isfinite(y[6]) && y[7] == 1.0f);
    }
}
END_TEST

enum { NMAX = 1000 };

typedef struct {
    float a[NMAX], b[NMAX], c[NMAX], d[NMAX], e[NMAX];
} Bufs;

static void fill(Bufs *s, unsigned seed)
{
    rs = seed;
    for (int i = 0; i < NMAX; i++) {
        s->a[i] = urand(-6.0f, 6.0f);
        s->b[i] = urand(-2.0f, 2.0f);
        s->c[i] = urand(-1.0f, 1.0f);
        s->d[i] = urand(0.0f, 0.01f);  /* a second moment: non-negative */
        s->e[i] = urand(-3.0f, 3.0f);
    }
}

/* Run every elementwise op of o on a copy of in; out holds all results side by side. */
static void run_elementwise(const VecOps *o, const Bufs *in, int n, Bufs *out)
{
    *out = *in;
    o->exp(out->a, in->a, n);
    o->swiglu_fwd(out->b, in->a, in->b, n);
    o->swiglu_bwd(out->c, out->e, in->c, in->a, in->b, n);
    Bufs t = *in;
    o->exp_scale(t.a, n, 1.5f, 0.25f);
    memcpy(out->d, t.a, sizeof t.a);
    t = *in;
    o->softmax_grad(t.a, t.b, n, 2.0f, 0.3f, 0.125f);
    for (int i = 0; i < n; i++)
        out->d[i] += t.a[i] * 0.5f + t.b[i];
    t = *in;
    o->adamw(t.e, t.c, t.d, t.b, n, 0.999f, 0.9f, 0.95f, 1e-8f, 1e-3f, 1.2f);
    for (int i = 0; i < n; i++)
        out->e[i] += t.e[i] + t.c[i] + t.d[i];
    t = *in;
    o->scale_mul(t.a, in->b, in->c, 1.7f, n);
    o->rms_bwd(t.b, t.c, in->a, in->d, in->e, 0.9f, 0.01f, n);
    o->rotate(t.d, t.e, in->b, in->c, n);
    for (int i = 0; i < n; i++)
        out->a[i] += t.a[i] + t.b[i] + t.c[i] + t.d[i] + t.e[i];
}

START_TEST(elementwise_ops_give_the_same_bits_on_every_path)
{
    static Bufs in, ref, got;
    fill(&in, 11);
    const VecOps *sc = vec_path(VEC_SCALAR);
    for (int p = 1; p < VEC_PATHS; p++) {
        const VecOps *o = vec_path((VecPath)p);
        if (!o)
            continue;
        int lens[] = {1, 7, 8, 15, 16, 17, 31, 33, 100, NMAX};
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            int n = lens[l];
            run_elementwise(sc, &in, n, &ref);
            run_elementwise(o, &in, n, &got);
            ck_assert_msg(!memcmp(&ref, &got, sizeof ref), "%s: n=%d: bits differ from scalar",
                          o->name, n);
        }
        /* a buffer cut in two at any point (two threads' shares) gives the same bits */
        run_elementwise(o, &in, NMAX, &ref);
        for (int cut = 1; cut < 40; cut += 3) {
            float y[NMAX];
            o->exp(y, in.a, cut);
            o->exp(y + cut, in.a + cut, NMAX - cut);
            float z[NMAX];
            o->exp(z, in.a, NMAX);
            ck_assert(!memcmp(y, z, sizeof y));
        }
    }
}
END_TEST

static void assert_close(double got, double want, double rel, const char *what, const char *path)
{
    ck_assert_msg(fabs(got - want) <= rel * fabs(want) + 1e-30, "%s %s: %.9g vs %.9g", path, what,
                  got, want);
}

START_TEST(reductions_match_double_references)
{
    static Bufs in;
    fill(&in, 5);
    for (int p = 0; p < VEC_PATHS; p++) {
        const VecOps *o = vec_path((VecPath)p);
        if (!o)
            continue;
        int lens[] = {1, 9, 16, 17, 250, NMAX};
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            int n = lens[l];
            double mx = -INFINITY, se = 0.0, ss = 0.0, d3 = 0.0, d3abs = 0.0;
            for (int i = 0; i < n; i++) {
                mx = in.a[i] > mx ? in.a[i] : mx;
                se += exp((double)in.a[i] - 1.0);
                ss += (double)in.b[i] * in.b[i];
                d3 += (double)in.a[i] * in.b[i] * in.c[i];
                d3abs += fabs((double)in.a[i] * in.b[i] * in.c[i]);
            }
            ck_assert(o->max(in.a, n) == (float)mx);
            /* each term within VEC_EXP_MAX_ULP ulp (relative 2⁻²³ each), sums in double */
            assert_close(o->sum_exp(in.a, n, 1.0f), se, VEC_EXP_MAX_ULP * 0x1p-23, "sum_exp",
                         o->name);
            /* float partial sums of ≤ NMAX / lanes terms: relative n·2⁻²⁴ bound */
            float s[NMAX];
            memcpy(s, in.a, sizeof s);
            float fs = o->exp_sum(s, n, 1.0f);
            assert_close(fs, se, n * 0x1p-24 + VEC_EXP_MAX_ULP * 0x1p-23, "exp_sum", o->name);
            assert_close(o->sumsq(in.b, n), ss, 1e-12, "sumsq", o->name);
            /* products rounded in float (2 roundings, 2⁻²³ of |term|), summed in double */
            ck_assert_msg(fabs(o->dot3(in.a, in.b, in.c, n) - d3) <= 0x1p-23 * d3abs + 1e-30,
                          "%s dot3", o->name);
        }
        ck_assert(isinf(o->max(in.a, 0)) && o->max(in.a, 0) < 0);
    }
}
END_TEST

/* the elementwise ops against double evaluations of their formulas; bound: relative 8 ulps
 * (2⁻²⁰) of the magnitudes involved — a handful of float roundings plus exp's own error */
START_TEST(elementwise_ops_match_double_formulas)
{
    static Bufs in;
    fill(&in, 3);
    const double tol = 0x1p-20;
    int n = NMAX;
    for (int p = 0; p < VEC_PATHS; p++) {
        const VecOps *o = vec_path((VecPath)p);
        if (!o)
            continue;
        static Bufs t;
        t = in;
        o->swiglu_fwd(t.e, in.a, in.b, n);
        o->swiglu_bwd(t.c, t.d, in.e, in.a, in.b, n);
        for (int i = 0; i < n; i++) {
            double a = in.a[i], b = in.b[i], g = in.e[i], s = 1.0 / (1.0 + exp(-a));
            ck_assert_msg(fabs(t.e[i] - a * s * b) <= tol * fabs(a * b), "%s swiglu", o->name);
            double da = g * b * s * (1.0 + a * (1.0 - s)), db = g * a * s;
            ck_assert_msg(fabs(t.c[i] - da) <= tol * fabs(g * b) * (1.0 + fabs(a)), "%s swiglu da", o->name);
            ck_assert_msg(fabs(t.d[i] - db) <= tol * fabs(g * a), "%s swiglu db", o->name);
        }
        t = in;
        o->softmax_grad(t.a, t.b, n, 2.0f, 0.3f, 0.125f);
        for (int i = 0; i < n; i++) {
            double e = exp((double)in.a[i] - 2.0);
            ck_assert_msg(fabs(t.a[i] - e) <= tol * e, "%s softmax p", o->name);
            double ds = e * ((double)in.b[i] - 0.3) * 0.125;
            ck_assert_msg(fabs(t.b[i] - ds) <= tol * e * (fabs(in.b[i]) + 0.3) * 0.125,
                          "%s softmax ds", o->name);
        }
        /* AdamW as PyTorch computes it: p·(1 − lr·wd) − lr/bc1 · m' / (√v' / √bc2 + eps) */
        t = in;
        double lr = 1e-3, wd = 0.1, b1 = 0.9, b2 = 0.95, eps = 1e-8, bc1 = 1 - pow(b1, 3),
               bc2 = 1 - pow(b2, 3);
        o->adamw(t.e, t.c, t.d, t.b, n, (float)(1 - lr * wd), (float)b1, (float)b2, (float)eps,
                 (float)(lr / bc1), (float)(1 / sqrt(bc2)));
        for (int i = 0; i < n; i++) {
            double g = in.b[i], m = b1 * in.c[i] + (1 - b1) * g,
                   v = b2 * in.d[i] + (1 - b2) * g * g;
            double pn = in.e[i] * (1 - lr * wd) - lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps);
            ck_assert_msg(fabs(t.c[i] - m) <= tol * (fabs(in.c[i]) + fabs(g)), "%s m", o->name);
            ck_assert_msg(fabs(t.d[i] - v) <= tol * v, "%s v", o->name);
            ck_assert_msg(fabs(t.e[i] - pn) <= tol * (fabs(in.e[i]) + lr / bc1 * sqrt(bc2)),
                          "%s p: %.9g vs %.9g", o->name, t.e[i], pn);
        }
        t = in;
        o->rotate(t.a, t.b, in.c, in.d, n);
        o->scale_mul(t.e, in.c, in.b, 1.7f, n);
        for (int i = 0; i < n; i++) {
            double a = in.a[i], b = in.b[i], cs = in.c[i], sn = in.d[i];
            double scale = fabs(a) + fabs(b);
            ck_assert(fabs(t.a[i] - (a * cs - b * sn)) <= tol * scale);
            ck_assert(fabs(t.b[i] - (b * cs + a * sn)) <= tol * scale);
            ck_assert(fabs(t.e[i] - (double)in.b[i] * in.c[i] * 1.7) <= tol * fabs(in.b[i] * 1.7));
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vec");
    TCase *tc = tcase_create("paths");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, exp_is_within_its_ulp_bound);
    tcase_add_test(tc, elementwise_ops_give_the_same_bits_on_every_path);
    tcase_add_test(tc, reductions_match_double_references);
    tcase_add_test(tc, elementwise_ops_match_double_formulas);
    suite_add_tcase(s, tc);
    return check_run(s);
}
