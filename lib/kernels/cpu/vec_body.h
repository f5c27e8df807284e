/* vec_body: the bodies of the VecOps (vec.h), written once over a vector of W lanes. The file
 * that includes it defines the lane type and operations (vec_avx512.c, vec_avx2.c,
 * vec_scalar.c) and VEC_OPS, the name of the table to define:
 *   V, W                         the vector type and its lanes
 *   VSET1 VADD VSUB VMUL VDIV VSQRT VMAX VMIN VROUND   (VMAX(a, b) = a > b ? a : b, like maxps)
 *   VFMA(a, b, c) = a·b + c rounded once
 *   VLOADN(p, c, fill)  c ≤ W elements from p, the other lanes fill;  VSTOREN(p, v, c)
 *   VI VI_CVT VI_SET1 VI_ADD VI_SUB VI_SRAI VI_SLLI VI_AS_F   int32 lanes
 *   VHSUM VHMAX                  lanes folded in a fixed order
 *   VD VD_ZERO VD_ADD VD_SUM     lane-wise sums of floats in double
 * Each loop walks the buffer in steps of W and takes its last, partial step with masked loads
 * and stores: every element goes through the same operations wherever it sits. */

/* exp(x) for every float x: x = k·ln2 + r with |r| ≤ ln2/2 (ln2 in two parts, so k·ln2 is
 * exact), exp(r) by its Taylor polynomial of degree 7 (truncation below 0.05 ulp), times 2^k
 * applied as two powers of two so that results down to the subnormals round once. Below
 * −104 the result is 0 (exp(−104) < half the least subnormal), above 89 it is +inf; NaN stays
 * NaN. Measured against libm over every float in [−104, 89] in tests/unit/test_vec.c: at most
 * VEC_EXP_MAX_ULP ulp (vec.c). */
static inline V vec_exp(V x)
{
    x = VMAX(VSET1(-104.0f), x); /* NaN is kept: VMAX returns its second operand on NaN */
    x = VMIN(VSET1(89.0f), x);
    V k = VROUND(VMUL(x, VSET1(0x1.715476p+0f)));        /* round(x / ln2) */
    V r = VFMA(k, VSET1(-0x1.62e400p-1f), x);            /* x − k·ln2_hi, exact */
    r = VFMA(k, VSET1(-0x1.7f7d1cp-20f), r);             /* − k·ln2_lo */
    V p = VSET1(1.0f / 5040);
    p = VFMA(p, r, VSET1(1.0f / 720));
    p = VFMA(p, r, VSET1(1.0f / 120));
    p = VFMA(p, r, VSET1(1.0f / 24));
    p = VFMA(p, r, VSET1(1.0f / 6));
    p = VFMA(p, r, VSET1(0.5f));
    p = VFMA(p, r, VSET1(1.0f));
    p = VFMA(p, r, VSET1(1.0f));
    VI n = VI_CVT(k), n1 = VI_SRAI(n, 1), n2 = VI_SUB(n, n1); /* 2^k = 2^n1 · 2^n2 */
    V s1 = VI_AS_F(VI_SLLI(VI_ADD(n1, VI_SET1(127)), 23));
    V s2 = VI_AS_F(VI_SLLI(VI_ADD(n2, VI_SET1(127)), 23));
    return VMUL(VMUL(p, s1), s2);
}

static inline V vec_sigmoid(V a)
{
    V one = VSET1(1.0f);
    return VDIV(one, VADD(one, vec_exp(VSUB(VSET1(0.0f), a))));
}

#define VEC_FOR(i, c, n) \
    for (int64_t i = 0, c = (n) < W ? (n) : W; i < (n); i += W, c = (n) - i < W ? (n) - i : W)

static void body_exp(float *y, const float *x, int64_t n)
{
    VEC_FOR(i, c, n)
        VSTOREN(y + i, vec_exp(VLOADN(x + i, c, 0.0f)), c);
}

static float body_max(const float *x, int64_t n)
{
    V m = VSET1(-INFINITY);
    VEC_FOR(i, c, n)
        m = VMAX(VLOADN(x + i, c, -INFINITY), m);
    return VHMAX(m);
}

static float body_exp_sum(float *s, int64_t n, float m)
{
    V mv = VSET1(m), sum = VSET1(0.0f);
    VEC_FOR(i, c, n) {
        V e = vec_exp(VSUB(VLOADN(s + i, c, -INFINITY), mv)); /* fill lanes: exp(−inf) = 0 */
        VSTOREN(s + i, e, c);
        sum = VADD(sum, e);
    }
    return VHSUM(sum);
}

static double body_sum_exp(const float *x, int64_t n, float m)
{
    V mv = VSET1(m);
    VD sum = VD_ZERO;
    VEC_FOR(i, c, n)
        sum = VD_ADD(sum, vec_exp(VSUB(VLOADN(x + i, c, -INFINITY), mv)));
    return VD_SUM(sum);
}

static void body_exp_scale(float *x, int64_t n, float m, float mul)
{
    V mv = VSET1(m), k = VSET1(mul);
    VEC_FOR(i, c, n)
        VSTOREN(x + i, VMUL(vec_exp(VSUB(VLOADN(x + i, c, 0.0f), mv)), k), c);
}

static void body_softmax_grad(float *p, float *ds, int64_t n, float lse, float delta,
                              float scale)
{
    V lv = VSET1(lse), dv = VSET1(delta), sv = VSET1(scale);
    VEC_FOR(i, c, n) {
        V e = vec_exp(VSUB(VLOADN(p + i, c, 0.0f), lv));
        VSTOREN(p + i, e, c);
        VSTOREN(ds + i, VMUL(VMUL(e, VSUB(VLOADN(ds + i, c, 0.0f), dv)), sv), c);
    }
}

static void body_swiglu_fwd(float *out, const float *a, const float *b, int64_t n)
{
    VEC_FOR(i, c, n) {
        V av = VLOADN(a + i, c, 0.0f);
        VSTOREN(out + i, VMUL(VMUL(av, vec_sigmoid(av)), VLOADN(b + i, c, 0.0f)), c);
    }
}

static void body_swiglu_bwd(float *da, float *db, const float *dout, const float *a,
                            const float *b, int64_t n)
{
    V one = VSET1(1.0f);
    VEC_FOR(i, c, n) {
        V av = VLOADN(a + i, c, 0.0f), bv = VLOADN(b + i, c, 0.0f);
        V dv = VLOADN(dout + i, c, 0.0f), s = vec_sigmoid(av);
        /* silu'(a) = σ(a)·(1 + a·(1 − σ(a))) */
        V d = VMUL(VMUL(dv, bv), s);
        VSTOREN(da + i, VMUL(d, VADD(one, VMUL(av, VSUB(one, s)))), c);
        VSTOREN(db + i, VMUL(VMUL(dv, av), s), c);
    }
}

static void body_adamw(float *p, float *m, float *v, const float *g, int64_t n, float decay,
                       float beta1, float beta2, float eps, float step, float rsqrt_bc2)
{
    V b1 = VSET1(beta1), b2 = VSET1(beta2), c1 = VSET1(1.0f - beta1), c2 = VSET1(1.0f - beta2);
    V dec = VSET1(decay), ep = VSET1(eps), st = VSET1(step), rb = VSET1(rsqrt_bc2);
    VEC_FOR(i, c, n) {
        V gv = VLOADN(g + i, c, 0.0f);
        V mi = VADD(VMUL(b1, VLOADN(m + i, c, 0.0f)), VMUL(c1, gv));
        V vi = VADD(VMUL(b2, VLOADN(v + i, c, 0.0f)), VMUL(VMUL(c2, gv), gv));
        V denom = VADD(VMUL(VSQRT(vi), rb), ep);
        V pi = VMUL(VLOADN(p + i, c, 0.0f), dec);
        VSTOREN(m + i, mi, c);
        VSTOREN(v + i, vi, c);
        VSTOREN(p + i, VSUB(pi, VMUL(st, VDIV(mi, denom))), c);
    }
}

static double body_sumsq(const float *x, int64_t n)
{
    VD sum = VD_ZERO;
    VEC_FOR(i, c, n) {
        V xv = VLOADN(x + i, c, 0.0f);
        sum = VD_ADD2(sum, xv, xv);
    }
    return VD_SUM(sum);
}

static double body_dot3(const float *a, const float *b, const float *x, int64_t n)
{
    VD sum = VD_ZERO;
    VEC_FOR(i, c, n)
        sum = VD_ADD(sum, VMUL(VMUL(VLOADN(a + i, c, 0.0f), VLOADN(b + i, c, 0.0f)),
                               VLOADN(x + i, c, 0.0f)));
    return VD_SUM(sum);
}

static void body_scale_mul(float *out, const float *x, const float *w, float r, int64_t n)
{
    V rv = VSET1(r);
    VEC_FOR(i, c, n)
        VSTOREN(out + i, VMUL(VLOADN(w + i, c, 0.0f), VMUL(VLOADN(x + i, c, 0.0f), rv)), c);
}

static void body_rms_bwd(float *dx, float *pw, const float *w, const float *dy, const float *x,
                         float r, float cc, int64_t n)
{
    V rv = VSET1(r), cv = VSET1(cc);
    VEC_FOR(i, c, n) {
        V dyv = VLOADN(dy + i, c, 0.0f), xv = VLOADN(x + i, c, 0.0f);
        V g = VSUB(VMUL(VMUL(rv, VLOADN(w + i, c, 0.0f)), dyv), VMUL(cv, xv));
        VSTOREN(dx + i, VADD(VLOADN(dx + i, c, 0.0f), g), c);
        VSTOREN(pw + i, VADD(VLOADN(pw + i, c, 0.0f), VMUL(VMUL(dyv, xv), rv)), c);
    }
}

static void body_rotate(float *lo, float *hi, const float *cs, const float *sn, int64_t n)
{
    VEC_FOR(i, c, n) {
        V a = VLOADN(lo + i, c, 0.0f), b = VLOADN(hi + i, c, 0.0f);
        V cv = VLOADN(cs + i, c, 0.0f), sv = VLOADN(sn + i, c, 0.0f);
        VSTOREN(lo + i, VSUB(VMUL(a, cv), VMUL(b, sv)), c);
        VSTOREN(hi + i, VADD(VMUL(b, cv), VMUL(a, sv)), c);
    }
}

const VecOps VEC_OPS = {
    .name = VEC_NAME,
    .lanes = W,
    .exp = body_exp,
    .max = body_max,
    .exp_sum = body_exp_sum,
    .sum_exp = body_sum_exp,
    .exp_scale = body_exp_scale,
    .softmax_grad = body_softmax_grad,
    .swiglu_fwd = body_swiglu_fwd,
    .swiglu_bwd = body_swiglu_bwd,
    .adamw = body_adamw,
    .sumsq = body_sumsq,
    .dot3 = body_dot3,
    .scale_mul = body_scale_mul,
    .rms_bwd = body_rms_bwd,
    .rotate = body_rotate,
};
