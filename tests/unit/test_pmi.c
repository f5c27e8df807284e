/* test_pmi: the pure side of the PMI2 bootstrap. PMI_process_mapping places ranks on nodes as
 * Slurm writes it (block, several blocks, cyclic), and a mapping that does not parse or places
 * no rank is refused naming it; hex blobs round-trip bitwise and a wrong length or digit is
 * refused; PMI2 is used only when Slurm's plugin set PMI_FD and PMI_RANK. (The PMI2 calls
 * themselves run under a real Slurm: tests/pmi/test_pmi_srun.sh.) */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "pmi.h"

/* local rank and node size of rank r of size under map */
static void expect_local(const char *map, int r, int size, int want_lr, int want_ls)
{
    Error err = {0};
    int lr = -1, ls = -1;
    ck_assert_msg(pmi_mapping_local(map, r, size, &lr, &ls, &err) == PT_OK, "%s: %s", map, err.msg);
    ck_assert_msg(lr == want_lr && ls == want_ls, "%s rank %d of %d: local %d of %d, want %d of %d",
                  map, r, size, lr, ls, want_lr, want_ls);
}

START_TEST(one_node_holds_every_rank_in_order)
{
    for (int r = 0; r < 4; r++) expect_local("(vector,(0,1,4))", r, 4, r, 4);
}
END_TEST

START_TEST(blocks_fill_each_node_before_the_next)
{
    expect_local("(vector,(0,2,4))", 5, 8, 1, 4);
    expect_local("(vector,(0,2,4))", 3, 8, 3, 4);
    /* the last node short: 6 ranks over two nodes of 4 slots */
    expect_local("(vector,(0,2,4))", 5, 6, 1, 2);
    /* two triples: nodes 0-1 with 4 ranks each, node 2 with 3 */
    expect_local("(vector,(0,2,4),(2,1,3))", 9, 11, 1, 3);
    expect_local("(vector,(0,2,4),(2,1,3))", 7, 11, 3, 4);
}
END_TEST

START_TEST(a_cyclic_mapping_repeats_the_vector)
{
    /* 5 ranks round-robin on 2 nodes: 0,2,4 on node 0 and 1,3 on node 1 */
    expect_local("(vector,(0,2,1))", 4, 5, 2, 3);
    expect_local("(vector,(0,2,1))", 3, 5, 1, 2);
    expect_local("(vector,(0,2,1))", 0, 5, 0, 3);
}
END_TEST

START_TEST(a_bad_mapping_is_refused_naming_it)
{
    const char *bad[] = {"", "(vector)", "(vector,(0,0,4))", "(vector,(0,1,4)", "(vector,(0,1,x))",
                         "(vector,(0,1,4))x", "(vector,(0,1))", "(hostlist,(0,1,4))"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Error err = {0};
        int lr, ls;
        ck_assert_int_eq(pmi_mapping_local(bad[i], 0, 4, &lr, &ls, &err), PT_EINPUT);
        ck_assert_msg(strstr(err.msg, "PMI_process_mapping") && strstr(err.msg, bad[i]), "%s",
                      err.msg);
    }
    Error err = {0};
    int lr, ls;
    ck_assert_int_eq(pmi_mapping_local("(vector,(0,1,4))", 4, 4, &lr, &ls, &err), PT_EINPUT);
}
END_TEST

START_TEST(a_hex_blob_round_trips_bitwise)
{
    unsigned char id[128], back[128];
    char hex[2 * sizeof id + 1];
    for (size_t i = 0; i < sizeof id; i++) id[i] = (unsigned char)(i * 37 + 11);
    pmi_hex_encode(id, sizeof id, hex);
    ck_assert_uint_eq(strlen(hex), 256);
    ck_assert_int_eq(pmi_hex_decode(hex, back, sizeof back), 0);
    ck_assert_int_eq(memcmp(id, back, sizeof id), 0);
    unsigned char two[2];
    ck_assert_int_eq(pmi_hex_decode("0aFf", two, 2), 0);
    ck_assert(two[0] == 0x0a && two[1] == 0xff);
}
END_TEST

START_TEST(a_hex_blob_of_another_length_or_digit_is_refused)
{
    unsigned char b[2];
    ck_assert_int_eq(pmi_hex_decode("0a0", b, 2), -1);
    ck_assert_int_eq(pmi_hex_decode("0a0b0c", b, 2), -1);
    ck_assert_int_eq(pmi_hex_decode("0g0b", b, 2), -1);
    ck_assert_int_eq(pmi_hex_decode("", b, 2), -1);
}
END_TEST

START_TEST(pmi2_is_used_only_when_slurm_set_pmi_fd_and_pmi_rank)
{
    unsetenv("PMI_FD");
    unsetenv("PMI_RANK");
    ck_assert(!pmi_present());
    setenv("PMI_FD", "5", 1);
    ck_assert(!pmi_present());
    setenv("PMI_RANK", "0", 1);
    ck_assert(pmi_present());
    unsetenv("PMI_FD");
    unsetenv("PMI_RANK");
    PmiJob job;
    Error err = {0};
    ck_assert_int_ne(pmi_init(&job, &err), PT_OK);
    ck_assert_msg(strstr(err.msg, "PMI2"), "%s", err.msg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pmi");
    TCase *tc = tcase_create("bootstrap");
    tcase_add_test(tc, one_node_holds_every_rank_in_order);
    tcase_add_test(tc, blocks_fill_each_node_before_the_next);
    tcase_add_test(tc, a_cyclic_mapping_repeats_the_vector);
    tcase_add_test(tc, a_bad_mapping_is_refused_naming_it);
    tcase_add_test(tc, a_hex_blob_round_trips_bitwise);
    tcase_add_test(tc, a_hex_blob_of_another_length_or_digit_is_refused);
    tcase_add_test(tc, pmi2_is_used_only_when_slurm_set_pmi_fd_and_pmi_rank);
    suite_add_tcase(s, tc);
    return check_run(s);
}
