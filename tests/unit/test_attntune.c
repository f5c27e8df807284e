/* test_attntune: the tuned attention tiles (lib/attntune, lib/kernels/cpu/attention.c).
 *
 * 1. Every tiling the tuner may pick gives the default tiling's forward output, LSE and
 *    gradients within fp32 summation-order error: the math is the same, only the order of the
 *    sums over at most T = 96 keys (and the online-softmax rescale points) moves. The bound
 *    n·u ≈ 96 · 6e-8 ≈ 6e-6 of the magnitude (inputs in [−1, 1], outputs O(1)); the test
 *    allows 2e-5 of the largest magnitude. A wrong tile edge (a dropped or doubled key block)
 *    moves values by 1e-2..1.
 * 2. With tuned tiles the results are the same bits at 1 and 3 threads.
 * 3. The cache: store then lookup gives the tiles back; a missing shape is 0; an entry with
 *    a bad size or a file that is not a cache is refused (-1, PT_EINPUT naming the file); a
 *    cache of another CPU is not used; apply sets the tiles or falls back to the defaults. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attntune.h"
#include "check_run.h"
#include "kernels/kernels.h"

enum { B = 2, T = 96, H = 4, K = 2, D = 16 };
#define NQ ((size_t)B * T * H * D)
#define NKV ((size_t)B * T * K * D)

typedef struct {
    float out[NQ], lse[B * H * T], dq[NQ], dk[NKV], dv[NKV];
} Result;

static float q[NQ], k[NKV], v[NKV], dout[NQ];

static void fill(float *x, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)(seed >> 8) / (float)(1u << 23) - 1.0f;
    }
}

static void run(Result *r, int q_tile, int k_block)
{
    attention_set_tiles(q_tile, k_block);
    attention_forward(r->out, r->lse, q, k, v, B, T, H, K, D);
    attention_backward(r->dq, r->dk, r->dv, dout, q, k, v, r->out, r->lse, B, T, H, K, D);
    attention_set_tiles(0, 0);
}

static double max_abs(const float *x, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

static void assert_close(const char *what, const float *a, const float *ref, size_t n, int qt,
                         int kb)
{
    double tol = 2e-5 * max_abs(ref, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs((double)a[i] - ref[i]) <= tol, "%s[%zu] tiles %dx%d: %.9g vs %.9g",
                      what, i, qt, kb, a[i], ref[i]);
}

static void setup(void)
{
    fill(q, NQ, 1);
    fill(k, NKV, 2);
    fill(v, NKV, 3);
    fill(dout, NQ, 4);
}

START_TEST(tuned_tiles_agree_with_the_defaults)
{
    static Result ref, r;
    static const int tiles[][2] = {{16, 64}, {16, 256}, {32, 128}, {128, 64}, {7, 5}, {96, 96}};
    omp_set_num_threads(1);
    run(&ref, 0, 0);
    for (size_t t = 0; t < sizeof tiles / sizeof tiles[0]; t++) {
        int qt = tiles[t][0], kb = tiles[t][1];
        run(&r, qt, kb);
        assert_close("out", r.out, ref.out, NQ, qt, kb);
        assert_close("lse", r.lse, ref.lse, (size_t)B * H * T, qt, kb);
        assert_close("dq", r.dq, ref.dq, NQ, qt, kb);
        assert_close("dk", r.dk, ref.dk, NKV, qt, kb);
        assert_close("dv", r.dv, ref.dv, NKV, qt, kb);
    }
}
END_TEST

START_TEST(tuned_tiles_are_thread_count_independent)
{
    static Result one, three;
    omp_set_num_threads(1);
    run(&one, 16, 64);
    omp_set_num_threads(3);
    run(&three, 16, 64);
    omp_set_num_threads(1);
    ck_assert(!memcmp(&one, &three, sizeof one));
}
END_TEST

static char dir[] = "/tmp/test_attntune.XXXXXX", file[256];

static void write_file(const char *text)
{
    FILE *f = fopen(file, "w");
    ck_assert(f != NULL);
    fputs(text, f);
    fclose(f);
}

START_TEST(cache_round_trip_and_refusals)
{
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(file, sizeof file, "%s/cache.json", dir);
    setenv("PICOTRON_PEAK_FILE", file, 1);
    AttnTiles got, best = {.q_tile = 32, .k_block = 128, .ms = 1.5};
    Error err = {0};
    ck_assert_int_eq(attntune_lookup(256, 3, 64, &got, &err), 0); /* no file */
    ck_assert_int_eq(attntune_store(256, 3, 64, &best, &err), PT_OK);
    ck_assert_int_eq(attntune_lookup(256, 3, 64, &got, &err), 1);
    ck_assert_int_eq(got.q_tile, 32);
    ck_assert_int_eq(got.k_block, 128);
    ck_assert(got.ms == 1.5);
    ck_assert_int_eq(attntune_lookup(128, 3, 64, &got, &err), 0); /* another shape */

    attntune_apply(256, 3, 64);
    int qt, kb;
    attention_tiles(&qt, &kb);
    ck_assert(qt == 32 && kb == 128);
    ck_assert_ptr_nonnull(strstr(attntune_source(), "tuned, cached in"));
    attntune_apply(128, 3, 64);
    attention_tiles(&qt, &kb);
    ck_assert(qt == ATTENTION_Q_TILE && kb == ATTENTION_K_BLOCK);
    ck_assert_ptr_nonnull(strstr(attntune_source(), "defaults"));

    /* a bad size in the entry: refused, naming the file and the entry */
    FILE *f = fopen(file, "r");
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    char *at = strstr(text, "\"q_tile\": 32");
    ck_assert_ptr_nonnull(at);
    memcpy(at, "\"q_tile\": -2", 12);
    write_file(text);
    ck_assert_int_eq(attntune_lookup(256, 3, 64, &got, &err), -1);
    ck_assert_int_eq(err.code, PT_EINPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, file));
    ck_assert_ptr_nonnull(strstr(err.msg, "attention_tiles.T256 G3 D64"));
    attntune_apply(256, 3, 64); /* a warning, then the defaults */
    attention_tiles(&qt, &kb);
    ck_assert(qt == ATTENTION_Q_TILE && kb == ATTENTION_K_BLOCK);

    /* a file that is not a cache */
    write_file("{\"cpu\": 3}\n");
    err = (Error){0};
    ck_assert_int_eq(attntune_lookup(256, 3, 64, &got, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a peak cache"));
    err = (Error){0};
    ck_assert_int_eq(attntune_store(256, 3, 64, &best, &err), PT_EINPUT);

    /* another CPU's cache: not used, and the next store starts afresh */
    write_file("{\"cpu\": \"Some Other CPU\", \"path\": \"x\", \"gflops\": {},"
               " \"attention_tiles\": {\"T256 G3 D64\": {\"q_tile\": 16, \"k_block\": 64}}}\n");
    err = (Error){0};
    ck_assert_int_eq(attntune_lookup(256, 3, 64, &got, &err), 0);
    ck_assert_int_eq(attntune_store(256, 3, 64, &best, &err), PT_OK);
    ck_assert_int_eq(attntune_lookup(256, 3, 64, &got, &err), 1);
    ck_assert(got.q_tile == 32 && got.k_block == 128);
    unlink(file);
    rmdir(dir);
}
END_TEST

START_TEST(measure_ranks_the_candidates)
{
    AttnTiles res[32];
    int n = attntune_measure(1, 64, 2, 1, 16, 0.0, res, 32);
    /* T = 64: query tiles 16 32 64, key blocks 64 (the first at or above T): 3 candidates */
    ck_assert_int_eq(n, 3);
    for (int i = 0; i < n; i++) {
        ck_assert(res[i].ms > 0.0 && res[i].ms < 1e300);
        ck_assert(i == 0 || res[i].ms >= res[i - 1].ms);
        ck_assert_int_eq(res[i].k_block, 64);
    }
    int qt, kb;
    attention_tiles(&qt, &kb);
    ck_assert(qt == ATTENTION_Q_TILE && kb == ATTENTION_K_BLOCK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("attntune");
    TCase *tc = tcase_create("tiles");
    tcase_add_unchecked_fixture(tc, setup, NULL);
    tcase_add_test(tc, tuned_tiles_agree_with_the_defaults);
    tcase_add_test(tc, tuned_tiles_are_thread_count_independent);
    tcase_add_test(tc, cache_round_trip_and_refusals);
    tcase_add_test(tc, measure_ranks_the_candidates);
    suite_add_tcase(s, tc);
    return check_run(s);
}
