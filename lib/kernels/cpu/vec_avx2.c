/* vec_avx2: the VecOps on 8 lanes of AVX2 + FMA (every x86-64 CPU of the last decade). */
#include <math.h>
#include <stdint.h>

#include "kernels/cpu/vec.h"

#if defined(__x86_64__)
#include <immintrin.h>

#pragma GCC target("avx2,fma")

#define V __m256
#define W 8
#define VSET1 _mm256_set1_ps
#define VADD _mm256_add_ps
#define VSUB _mm256_sub_ps
#define VMUL _mm256_mul_ps
#define VDIV _mm256_div_ps
#define VSQRT _mm256_sqrt_ps
#define VMAX _mm256_max_ps
#define VMIN _mm256_min_ps
#define VFMA _mm256_fmadd_ps
#define VROUND(x) _mm256_round_ps((x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define VI __m256i
#define VI_CVT _mm256_cvtps_epi32
#define VI_SET1 _mm256_set1_epi32
#define VI_ADD _mm256_add_epi32
#define VI_SUB _mm256_sub_epi32
#define VI_SRAI _mm256_srai_epi32
#define VI_SLLI _mm256_slli_epi32
#define VI_AS_F _mm256_castsi256_ps

/* lanes 0..c−1 set */
static inline __m256i lanes(int64_t c)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#define VLOADN(p, c, fill)                                                             \
    ((c) == W ? _mm256_loadu_ps(p)                                                     \
              : _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps((p), lanes(c)), \
                                 _mm256_castsi256_ps(lanes(c))))
#define VSTOREN(p, v, c) \
    ((c) == W ? _mm256_storeu_ps((p), (v)) : _mm256_maskstore_ps((p), lanes(c), (v)))

/* lanes folded as halves: 8 → 4 → 2 → 1 */
static inline float hsum(__m256 v)
{
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}
static inline float hmax(__m256 v)
{
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    x = _mm_max_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
}
#define VHSUM hsum
#define VHMAX hmax

typedef struct {
    __m256d lo, hi;
} VD;
static inline __m256d half_pd(__m256 v, int upper)
{
    return _mm256_cvtps_pd(upper ? _mm256_extractf128_ps(v, 1) : _mm256_castps256_ps128(v));
}
static inline VD vd_add(VD s, __m256 v)
{
    return (VD){_mm256_add_pd(s.lo, half_pd(v, 0)), _mm256_add_pd(s.hi, half_pd(v, 1))};
}
static inline VD vd_add2(VD s, __m256 x, __m256 y)
{
    return (VD){_mm256_add_pd(s.lo, _mm256_mul_pd(half_pd(x, 0), half_pd(y, 0))),
                _mm256_add_pd(s.hi, _mm256_mul_pd(half_pd(x, 1), half_pd(y, 1)))};
}
static inline double vd_sum(VD s)
{
    __m256d a = _mm256_add_pd(s.lo, s.hi);
    __m128d x = _mm_add_pd(_mm256_castpd256_pd128(a), _mm256_extractf128_pd(a, 1));
    return _mm_cvtsd_f64(_mm_add_sd(x, _mm_unpackhi_pd(x, x)));
}
#define VD_ZERO ((VD){_mm256_setzero_pd(), _mm256_setzero_pd()})
#define VD_ADD vd_add
#define VD_ADD2 vd_add2
#define VD_SUM vd_sum

#define VEC_OPS vec_avx2_ops
#define VEC_NAME "avx2"
#include "kernels/cpu/vec_body.h"

#else
const VecOps vec_avx2_ops = {.name = "avx2", .lanes = 8}; /* never picked off x86-64 */
#endif
