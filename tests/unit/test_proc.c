/* test_proc: a child's exit status, stdout and stderr come back whole and apart (also when
 * both are larger than a pipe holds); a signal is 128 + its number; a program that cannot start
 * is one error line naming it and the reason; programs are found on PATH and beside us. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "proc.h"

static ProcResult run_sh(const char *script)
{
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    ProcResult r;
    Error err = {0};
    ck_assert_msg(proc_run(argv, &r, &err) == PT_OK, "%s", err.msg);
    return r;
}

START_TEST(exit_status_and_both_outputs_are_captured)
{
    ProcResult r = run_sh("echo out; echo err >&2; echo more; exit 3");
    ck_assert_int_eq(r.status, 3);
    ck_assert_str_eq(r.out, "out\nmore\n");
    ck_assert_str_eq(r.err, "err\n");
    proc_result_free(&r);
    r = run_sh("true");
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.out, "");
    ck_assert_str_eq(r.err, "");
    proc_result_free(&r);
}
END_TEST

START_TEST(outputs_larger_than_a_pipe_come_back_whole)
{
    /* 200000 bytes on each stream, interleaved: a reader of one pipe at a time would hang */
    ProcResult r = run_sh("i=0; while [ $i -lt 2000 ]; do "
                          "printf '%099d\\n' $i; printf '%099d\\n' $i >&2; i=$((i+1)); done");
    ck_assert_int_eq(r.status, 0);
    ck_assert_uint_eq(strlen(r.out), 200000);
    ck_assert_uint_eq(strlen(r.err), 200000);
    ck_assert_int_eq(strncmp(r.out + 199900, "000", 3), 0);
    ck_assert_str_eq(r.err + 199996, "999\n");
    proc_result_free(&r);
}
END_TEST

START_TEST(a_signal_is_128_plus_its_number)
{
    ProcResult r = run_sh("kill -TERM $$");
    ck_assert_int_eq(r.status, 128 + 15);
    proc_result_free(&r);
}
END_TEST

static void assert_cannot_run(char *program, const char *reason)
{
    char *argv[] = {program, "--version", NULL};
    ProcResult r;
    Error err = {0};
    ck_assert_int_eq(proc_run(argv, &r, &err), PT_ERUNTIME);
    char want[PATH_MAX + 128];
    snprintf(want, sizeof want, "cannot run %s: %s", program, reason);
    ck_assert_str_eq(err.msg, want);
    ck_assert_str_eq(r.out, "");
    ck_assert_str_eq(r.err, "");
    proc_result_free(&r);
}

START_TEST(a_program_that_cannot_start_is_one_error_line)
{
    assert_cannot_run("picotron-no-such-program", "No such file or directory");
    char path[] = "/tmp/picotron-test-proc-XXXXXX";
    int fd = mkstemp(path); /* a file without the execute bit */
    ck_assert_int_ge(fd, 0);
    close(fd);
    assert_cannot_run(path, "Permission denied");
    unlink(path);
}
END_TEST

START_TEST(programs_are_found_on_path_and_beside_us)
{
    char path[PATH_MAX];
    ck_assert_int_eq(proc_on_path("sh"), 1);
    ck_assert_int_eq(proc_on_path("picotron-no-such-program"), 0);
    ck_assert_int_eq(proc_beside_self("test_proc", path, sizeof path), 1);
    ck_assert_str_eq(strrchr(path, '/'), "/test_proc");
    ck_assert_int_eq(proc_beside_self("picotron-no-such-program", path, sizeof path), 0);
    ck_assert_int_eq(proc_find("sh", path, sizeof path), 1);
    ck_assert_int_eq(path[0], '/');
    char *old = strdup(getenv("PATH"));
    setenv("PATH", "", 1);
    ck_assert_int_eq(proc_on_path("sh"), 0);
    ck_assert_int_eq(proc_find("sh", path, sizeof path), 0);
    setenv("PATH", old, 1);
    free(old);
}
END_TEST

START_TEST(first_line_cuts_at_the_newline)
{
    char text[] = "sbatch: error: invalid partition\nmore\n";
    ck_assert_str_eq(proc_first_line(text), "sbatch: error: invalid partition");
    char one[] = "no newline";
    ck_assert_str_eq(proc_first_line(one), "no newline");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proc");
    TCase *tc = tcase_create("proc");
    tcase_add_test(tc, exit_status_and_both_outputs_are_captured);
    tcase_add_test(tc, outputs_larger_than_a_pipe_come_back_whole);
    tcase_add_test(tc, a_signal_is_128_plus_its_number);
    tcase_add_test(tc, a_program_that_cannot_start_is_one_error_line);
    tcase_add_test(tc, programs_are_found_on_path_and_beside_us);
    tcase_add_test(tc, first_line_cuts_at_the_newline);
    suite_add_tcase(s, tc);
    return check_run(s);
}
