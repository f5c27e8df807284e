/* test_rankwatch: the line that names a rank that died (lib/rankwatch.c). The process table
 * side (finding ranks under mpirun, pidfds) is tests/e2e/test_faults.sh's kill -9 case; here,
 * which exit codes are named and how. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "error.h"
#include "rankwatch.h"

/* A watch of 4 ranks whose rank 2 (pid 4242) ended first. */
static RankWatch dead_rank_2(void)
{
    RankWatch w;
    rankwatch_init(&w, 4);
    w.pid[2] = 4242;
    w.found = 1;
    w.first_dead = 2;
    return w;
}

START_TEST(a_killed_rank_is_named_with_pid_host_and_signal)
{
    RankWatch w = dead_rank_2();
    char line[512], host[256], want[512];
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    ck_assert_int_eq(rankwatch_line(&w, "picotron-train", 128 + SIGKILL, line, sizeof line), 1);
    snprintf(want, sizeof want, "picotron-train: rank 2 (pid 4242 on %s) was killed by SIGKILL; "
             "the other ranks were stopped\n", host);
    ck_assert_str_eq(line, want);
    ck_assert_int_eq(rankwatch_line(&w, "picotron-train", 128 + SIGSEGV, line, sizeof line), 1);
    ck_assert_ptr_nonnull(strstr(line, "was killed by SIGSEGV"));
    ck_assert_int_eq(rankwatch_line(&w, "picotron-train", 3, line, sizeof line), 1);
    ck_assert_ptr_nonnull(strstr(line, "rank 2 (pid 4242 on "));
    ck_assert_ptr_nonnull(strstr(line, ") exited with code 3;"));
    rankwatch_free(&w);
}
END_TEST

/* 0, 1, 2 and 75 are the codes every rank agrees on, with rank 0's line already printed. */
START_TEST(agreed_exit_codes_and_no_dead_rank_say_nothing)
{
    RankWatch w = dead_rank_2();
    char line[512] = "";
    const int agreed[] = {0, PT_ERUNTIME, PT_EINPUT, PT_EREQUEUE};
    for (size_t i = 0; i < sizeof agreed / sizeof agreed[0]; i++)
        ck_assert_int_eq(rankwatch_line(&w, "p", agreed[i], line, sizeof line), 0);
    w.first_dead = -1;
    ck_assert_int_eq(rankwatch_line(&w, "p", 128 + SIGKILL, line, sizeof line), 0);
    ck_assert_str_eq(line, "");
    rankwatch_free(&w);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rankwatch");
    TCase *tc = tcase_create("line");
    tcase_add_test(tc, a_killed_rank_is_named_with_pid_host_and_signal);
    tcase_add_test(tc, agreed_exit_codes_and_no_dead_rank_say_nothing);
    suite_add_tcase(s, tc);
    return check_run(s);
}
