/* vec_avx512: the VecOps on 16 lanes of AVX-512F (+DQ), for CPUs that have it (vec.c asks). */
#include <math.h>
#include <stdint.h>

#include "kernels/cpu/vec.h"

#if defined(__x86_64__)
#include <immintrin.h>

#pragma GCC target("avx512f,avx512dq,avx2,fma")

#define V __m512
#define W 16
#define VSET1 _mm512_set1_ps
#define VADD _mm512_add_ps
#define VSUB _mm512_sub_ps
#define VMUL _mm512_mul_ps
#define VDIV _mm512_div_ps
#define VSQRT _mm512_sqrt_ps
#define VMAX _mm512_max_ps
#define VMIN _mm512_min_ps
#define VFMA _mm512_fmadd_ps
#define VROUND(x) _mm512_roundscale_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VI __m512i
#define VI_CVT _mm512_cvtps_epi32
#define VI_SET1 _mm512_set1_epi32
#define VI_ADD _mm512_add_epi32
#define VI_SUB _mm512_sub_epi32
#define VI_SRAI _mm512_srai_epi32
#define VI_SLLI _mm512_slli_epi32
#define VI_AS_F _mm512_castsi512_ps
#define VHSUM _mm512_reduce_add_ps
#define VHMAX _mm512_reduce_max_ps

static inline __mmask16 lanes(int64_t c)
{
    return (__mmask16)((1u << c) - 1u);
}
#define VLOADN(p, c, fill) \
    ((c) == W ? _mm512_loadu_ps(p) : _mm512_mask_loadu_ps(_mm512_set1_ps(fill), lanes(c), (p)))
#define VSTOREN(p, v, c) \
    ((c) == W ? _mm512_storeu_ps((p), (v)) : _mm512_mask_storeu_ps((p), lanes(c), (v)))

typedef struct {
    __m512d lo, hi;
} VD;
static inline __m512d half_pd(__m512 v, int upper)
{
    __m256 h = upper ? _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))
                     : _mm512_castps512_ps256(v);
    return _mm512_cvtps_pd(h);
}
static inline VD vd_add(VD s, __m512 v)
{
    return (VD){_mm512_add_pd(s.lo, half_pd(v, 0)), _mm512_add_pd(s.hi, half_pd(v, 1))};
}
static inline VD vd_add2(VD s, __m512 x, __m512 y)
{
    return (VD){_mm512_add_pd(s.lo, _mm512_mul_pd(half_pd(x, 0), half_pd(y, 0))),
                _mm512_add_pd(s.hi, _mm512_mul_pd(half_pd(x, 1), half_pd(y, 1)))};
}
#define VD_ZERO ((VD){_mm512_setzero_pd(), _mm512_setzero_pd()})
#define VD_ADD vd_add
#define VD_ADD2 vd_add2
#define VD_SUM(s) _mm512_reduce_add_pd(_mm512_add_pd((s).lo, (s).hi))

#define VEC_OPS vec_avx512_ops
#define VEC_NAME "avx512"
#include "kernels/cpu/vec_body.h"

#else
const VecOps vec_avx512_ops = {.name = "avx512", .lanes = 16}; /* never picked off x86-64 */
#endif
