/* vec_scalar: the VecOps one element at a time, for CPUs without AVX2 (and the reference the
 * vector paths are tested against: the same operations, so elementwise results agree bit for
 * bit; fmaf is one correctly rounded operation on every machine). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels/cpu/vec.h"

#define V float
#define W 1
#define VSET1(x) (x)
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VDIV(a, b) ((a) / (b))
#define VSQRT sqrtf
#define VMAX(a, b) ((a) > (b) ? (a) : (b)) /* maxps: the second operand unless a > b */
#define VMIN(a, b) ((a) < (b) ? (a) : (b))
#define VFMA fmaf
#define VROUND rintf /* the default rounding: to nearest, ties to even, as the vector paths */
#define VI int32_t
#define VI_SET1(x) (x)
#define VI_ADD(a, b) ((a) + (b))
#define VI_SUB(a, b) ((a) - (b))
#define VI_SRAI(x, k) ((x) >> (k))
#define VI_SLLI(x, k) ((int32_t)((uint32_t)(x) << (k)))
#define VHSUM(v) (v)
#define VHMAX(v) (v)
#define VLOADN(p, c, fill) ((void)(c), *(p))
#define VSTOREN(p, v, c) ((void)(c), *(p) = (v))
#define VD double
#define VD_ZERO 0.0
#define VD_ADD(s, v) ((s) + (double)(v))
#define VD_ADD2(s, x, y) ((s) + (double)(x) * (double)(y))
#define VD_SUM(s) (s)

/* float → int32 as cvtps2dq does: NaN gives INT32_MIN (k is integral and in range otherwise) */
static inline int32_t VI_CVT(float k)
{
    return k == k ? (int32_t)k : INT32_MIN;
}

static inline float VI_AS_F(int32_t i)
{
    float f;
    memcpy(&f, &i, sizeof f);
    return f;
}

#define VEC_OPS vec_scalar_ops
#define VEC_NAME "scalar"
#include "kernels/cpu/vec_body.h"
