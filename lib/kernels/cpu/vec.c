/* vec: which VecOps path this process runs (vec.h). Chosen once, at the first call: the widest
 * path the CPU has, or the one PICOTRON_SIMD names (tests and scripts/check-kernel-paths force
 * the narrower paths with it on a CPU that has them all). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/vec.h"

static int cpu_has(VecPath p)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (p == VEC_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    if (p == VEC_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return p == VEC_SCALAR;
}

static const VecOps *const TABLES[VEC_PATHS] = {&vec_scalar_ops, &vec_avx2_ops, &vec_avx512_ops};

const VecOps *vec_path(VecPath p)
{
    return p >= 0 && p < VEC_PATHS && cpu_has(p) ? TABLES[p] : NULL;
}

static const VecOps *chosen;

static void choose(void)
{
    const char *want = getenv("PICOTRON_SIMD");
    if (want && *want) {
        for (int p = 0; p < VEC_PATHS; p++)
            if (!strcmp(want, TABLES[p]->name)) {
                if (!cpu_has((VecPath)p)) {
                    fprintf(stderr, "picotron: PICOTRON_SIMD=%s: this CPU cannot run the %s "
                            "path\n", want, want);
                    exit(2);
                }
                chosen = TABLES[p];
                return;
            }
        fprintf(stderr, "picotron: PICOTRON_SIMD=%s: unknown vector path (avx512, avx2 or "
                "scalar)\n", want);
        exit(2);
    }
    for (int p = VEC_PATHS - 1; p >= 0; p--)
        if (cpu_has((VecPath)p)) {
            chosen = TABLES[p];
            return;
        }
}

const VecOps *vec(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, choose);
    return chosen;
}
