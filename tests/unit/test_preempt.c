/* test_preempt: what SIGTERM / SIGUSR1 / SIGINT do at each moment of a run (lib/preempt.c,
 * docs/training.md "Signals"). Each test runs in its own child process (Check's fork mode), so
 * a test that expects the process to end asserts its exit status. */
#include <check.h>
#include <signal.h>
#include <unistd.h>

#include "check_run.h"
#include "error.h"
#include "preempt.h"

static Preempt old;

static void catch_with(int grace, int resumable)
{
    PreemptPolicy p = {"test", 0, grace, resumable};
    preempt_catch(&old, &p);
}

/* Before the first step the handler itself ends the process: 1 with nothing to resume from. */
START_TEST(a_signal_during_start_up_exits_1_without_a_checkpoint)
{
    catch_with(0, 0);
    raise(SIGTERM);
    ck_abort_msg("still running after SIGTERM during start-up");
}
END_TEST

/* ... and 75 when resume "auto" has a checkpoint: the requeued job resumes from it. */
START_TEST(a_signal_during_start_up_exits_75_with_a_checkpoint)
{
    catch_with(0, 1);
    raise(SIGINT);
    ck_abort_msg("still running after SIGINT during start-up");
}
END_TEST

/* From the first step on a signal is a request, answered at the next step boundary. */
START_TEST(a_signal_after_start_up_is_a_request)
{
    catch_with(0, 0);
    preempt_started();
    ck_assert_int_eq(preempt_requested(), 0);
    raise(SIGUSR1);
    ck_assert_int_eq(preempt_requested(), 1);
    preempt_restore(&old);
}
END_TEST

/* Ctrl-C twice: the second signal ends the run at once, without saving. */
START_TEST(a_second_signal_ends_the_run)
{
    catch_with(0, 1);
    preempt_started();
    raise(SIGINT);
    ck_assert_int_eq(preempt_requested(), 1);
    raise(SIGINT);
    ck_abort_msg("still running after a second SIGINT");
}
END_TEST

/* A run that reaches no step boundary within the grace ends by the deadline: 1 before any
 * save, 75 once a checkpoint was committed. */
static void stuck_after_signal(void)
{
    preempt_started();
    raise(SIGTERM);
    for (int i = 0; i < 50; i++)
        sleep(1); /* interrupted by SIGALRM after 1 s; 50 s would mean no deadline */
    ck_abort_msg("no deadline");
}

START_TEST(the_grace_deadline_ends_a_stuck_run_with_1)
{
    catch_with(1, 0);
    stuck_after_signal();
}
END_TEST

START_TEST(the_grace_deadline_exits_75_after_a_save)
{
    catch_with(1, 0);
    preempt_saved();
    stuck_after_signal();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("preempt");
    TCase *tc = tcase_create("signals");
    tcase_set_timeout(tc, 20);
    tcase_add_exit_test(tc, a_signal_during_start_up_exits_1_without_a_checkpoint, PT_ERUNTIME);
    tcase_add_exit_test(tc, a_signal_during_start_up_exits_75_with_a_checkpoint, PT_EREQUEUE);
    tcase_add_test(tc, a_signal_after_start_up_is_a_request);
    tcase_add_exit_test(tc, a_second_signal_ends_the_run, PT_EREQUEUE);
    tcase_add_exit_test(tc, the_grace_deadline_ends_a_stuck_run_with_1, PT_ERUNTIME);
    tcase_add_exit_test(tc, the_grace_deadline_exits_75_after_a_save, PT_EREQUEUE);
    suite_add_tcase(s, tc);
    return check_run(s);
}
