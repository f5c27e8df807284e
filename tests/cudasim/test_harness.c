/* test_harness: the CPU test runtime catches what it claims to (tests/cudasim/cudasim.h).
 * - A tree reduction without the barrier after filling shared memory gives a wrong sum under
 *   the forward and the random thread orders (the reverse order writes the upper half before
 *   the lower half reads it, so it can miss this race: why the kernel tests run three orders); with the barrier, every order
 *   gives the sum of a double reference to 1e-6 relative (255 fp32 additions of values of
 *   magnitude ≤ 1 in a tree: error ≤ 8·2⁻²⁴·Σ|x|).
 * - A deadlock between __syncthreads and a warp shuffle, and a shuffle mask that does not
 *   match the lanes taking part, are reported as a failed launch (cuda_kernels_fail: exit 3).
 * - Shuffle and ballot results follow CUDA's lane arithmetic (segments of width lanes, out of
 *   range sources give the lane's own value, source lanes modulo the width). */
#include "check_run.h"
#include "kernel_test.h"

void harness_tree_sum(float *out, const float *x, int nblocks, int broken);
void harness_shuffles(int *out, double *dout, unsigned *ballots);
void harness_deadlock(void);
void harness_bad_mask(void);

/* 1 when the tree sums of 8 blocks all match the double reference under order. */
static int tree_sum_right(const char *order, int broken)
{
    enum { NB = 8 };
    setenv("CUDASIM_ORDER", order, 1);
    kt_seed(5);
    float *x = kt_rand(NB * 256, 1.0f), out[NB];
    /* a first launch leaves other values in shared memory, as a previous kernel would */
    harness_tree_sum(out, x, NB, 0);
    for (int i = 0; i < NB * 256; i++)
        x[i] = -x[i] * 0.5f + 0.125f;
    harness_tree_sum(out, x, NB, broken);
    int right = 1;
    for (int b = 0; b < NB; b++) {
        double ref = 0.0, mag = 0.0;
        for (int t = 0; t < 256; t++) {
            ref += x[b * 256 + t];
            mag += fabs(x[b * 256 + t]);
        }
        right &= fabs(out[b] - ref) <= 1e-6 * mag;
    }
    free(x);
    unsetenv("CUDASIM_ORDER");
    return right;
}

START_TEST(missing_syncthreads_is_caught)
{
    ck_assert_msg(!tree_sum_right("forward", 1), "forward order missed the race");
    ck_assert_msg(!tree_sum_right("random:1", 1), "random order missed the race");
    ck_assert_msg(!tree_sum_right("random:99", 1), "random order missed the race");
    ck_assert(tree_sum_right("forward", 0));
    ck_assert(tree_sum_right("reverse", 0));
    ck_assert(tree_sum_right("random:1", 0));
}
END_TEST

START_TEST(deadlock_is_a_failed_launch)
{
    harness_deadlock();
}
END_TEST

START_TEST(wrong_mask_is_a_failed_launch)
{
    harness_bad_mask();
}
END_TEST

START_TEST(bad_order_is_exit_2)
{
    setenv("CUDASIM_ORDER", "sideways", 1);
    harness_bad_mask();
}
END_TEST

START_TEST(shuffles_follow_cuda)
{
    int out[128 * 6];
    double d[128];
    unsigned ballots[4];
    harness_shuffles(out, d, ballots);
    for (int t = 0; t < 128; t++) {
        int l = t % 32;
        const int *o = out + t * 6;
        ck_assert_int_eq(o[0], (l + 3 < 32 ? l + 3 : l) * 10);
        ck_assert_int_eq(o[1], (l >= 5 ? l - 5 : l) * 10);
        ck_assert_int_eq(o[2], (l ^ 6) * 10);
        ck_assert_int_eq(o[3], ((l & ~7) + 7) * 10);
        ck_assert_int_eq(o[4], (l % 8 + 2 < 8 ? l + 2 : l) * 10);
        ck_assert_int_eq(o[5], ((l + 33) % 32) * 10);
        ck_assert(d[t] == (l ^ 16) + 0.25);
    }
    for (int w = 0; w < 4; w++)
        ck_assert_uint_eq(ballots[w], 0x49249249u);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cudasim_harness");
    TCase *tc = tcase_create("runtime");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, missing_syncthreads_is_caught);
    tcase_add_exit_test(tc, deadlock_is_a_failed_launch, 3);
    tcase_add_exit_test(tc, wrong_mask_is_a_failed_launch, 3);
    tcase_add_exit_test(tc, bad_order_is_exit_2, 2);
    tcase_add_test(tc, shuffles_follow_cuda);
    suite_add_tcase(s, tc);
    return check_run(s);
}
