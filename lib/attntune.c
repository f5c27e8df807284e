/* attntune: attention tile sizes by measurement (attntune.h). Cache entry:
 *   "attention_tiles": {"T256 G3 D64": {"q_tile": 64, "k_block": 256, "ms": 8.6}} */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attntune.h"
#include "cpupeak.h"
#include "kernels/kernels.h"
#include "metrics.h"
#include "rng.h"

#define SECTION "attention_tiles"
#define MAX_TILE 4096

void attntune_key(char *buf, size_t n, int T, int G, int D)
{
    snprintf(buf, n, "T%d G%d D%d", T, G, D);
}

static int tile_size(json_t *v)
{
    json_int_t x = json_is_integer(v) ? json_integer_value(v) : 0;
    return x >= 1 && x <= MAX_TILE ? (int)x : 0;
}

int attntune_lookup(int T, int G, int D, AttnTiles *out, Error *err)
{
    char key[64], path[4096];
    json_t *v;
    attntune_key(key, sizeof key, T, G, D);
    int found = cpupeak_entry(SECTION, key, &v, err);
    if (found <= 0)
        return found;
    out->q_tile = tile_size(json_object_get(v, "q_tile"));
    out->k_block = tile_size(json_object_get(v, "k_block"));
    json_t *ms = json_object_get(v, "ms");
    out->ms = json_is_number(ms) ? json_number_value(ms) : 0.0;
    json_decref(v);
    if (!out->q_tile || !out->k_block) {
        if (!cpupeak_file(path, sizeof path))
            snprintf(path, sizeof path, "the machine cache");
        err_set(err, PT_EINPUT, "%s: %s.%s: q_tile and k_block must be integers in 1..%d "
                "(rerun picotron-bench --tune-kernels)", path, SECTION, key, MAX_TILE);
        return -1;
    }
    return 1;
}

static char source[4400] = "defaults";

void attntune_apply(int T, int G, int D)
{
    AttnTiles t;
    Error err = {0};
    char path[4096];
    int found = attntune_lookup(T, G, D, &t, &err);
    attention_set_tiles(found > 0 ? t.q_tile : 0, found > 0 ? t.k_block : 0);
    if (found > 0 && cpupeak_file(path, sizeof path)) {
        snprintf(source, sizeof source, "tuned, cached in %s by picotron-bench --tune-kernels",
                 path);
        return;
    }
    if (found < 0)
        fprintf(stderr, "picotron: warning: %s; attention uses its default tiles\n", err.msg);
    snprintf(source, sizeof source, "defaults; picotron-bench --tune-kernels tunes them");
}

const char *attntune_source(void)
{
    return source;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fill(float *x, size_t n, uint64_t stream)
{
    for (size_t i = 0; i < n; i++) /* uniform in [-1, 1) */
        x[i] = (float)((double)(rng_bits(7, stream, i) >> 11) * 0x1p-52 - 1.0);
}

/* Sizes worth trying: above T a query tile or key block is all one (T), so only the first
 * candidate at or above T is kept. */
static int candidates(const int *all, int n, int T, int *out)
{
    int k = 0;
    for (int i = 0; i < n; i++) {
        out[k++] = all[i];
        if (all[i] >= T)
            break;
    }
    return k;
}

static int faster(const void *a, const void *b)
{
    double x = ((const AttnTiles *)a)->ms, y = ((const AttnTiles *)b)->ms;
    return x < y ? -1 : x > y;
}

int attntune_measure(int B, int T, int H, int K, int D, double seconds, AttnTiles *res, int max)
{
    static const int qs[] = {16, 32, 64, 128, 256}, ks[] = {64, 128, 256, 512, 1024};
    int qc[5], kc[5];
    int nq = candidates(qs, 5, T, qc), nk = candidates(ks, 5, T, kc), n = 0;
    for (int i = 0; i < nq; i++)
        for (int j = 0; j < nk && n < max; j++)
            res[n++] = (AttnTiles){.q_tile = qc[i], .k_block = kc[j], .ms = 1e300};
    size_t nqo = (size_t)B * T * H * D, nkv = (size_t)B * T * K * D;
    float *q = xmalloc(nqo * sizeof(float)), *out = xmalloc(nqo * sizeof(float));
    float *dout = xmalloc(nqo * sizeof(float)), *dq = xmalloc(nqo * sizeof(float));
    float *k = xmalloc(nkv * sizeof(float)), *v = xmalloc(nkv * sizeof(float));
    float *dk = xmalloc(nkv * sizeof(float)), *dv = xmalloc(nkv * sizeof(float));
    float *lse = xmalloc((size_t)B * H * T * sizeof(float));
    fill(q, nqo, 1);
    fill(k, nkv, 2);
    fill(v, nkv, 3);
    fill(dout, nqo, 4);
    double wall0 = metrics_now();
    for (int round = 0; round < 3 || metrics_now() - wall0 < seconds; round++)
        for (int c = 0; c < n; c++) {
            attention_set_tiles(res[c].q_tile, res[c].k_block);
            double t0 = cpu_seconds();
            attention_forward(out, lse, q, k, v, B, T, H, K, D);
            attention_backward(dq, dk, dv, dout, q, k, v, out, lse, B, T, H, K, D);
            double ms = 1e3 * (cpu_seconds() - t0);
            res[c].ms = ms < res[c].ms ? ms : res[c].ms;
        }
    attention_set_tiles(0, 0);
    free(q);
    free(out);
    free(dout);
    free(dq);
    free(k);
    free(v);
    free(dk);
    free(dv);
    free(lse);
    qsort(res, (size_t)n, sizeof *res, faster);
    return n;
}

int attntune_store(int T, int G, int D, const AttnTiles *best, Error *err)
{
    char key[64];
    attntune_key(key, sizeof key, T, G, D);
    return cpupeak_set_entry(SECTION, key,
                             json_pack("{s:i, s:i, s:f}", "q_tile", best->q_tile, "k_block",
                                       best->k_block, "ms", best->ms),
                             err);
}
