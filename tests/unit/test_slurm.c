/* test_slurm: Slurm job states map to picotron's run statuses; time limits parse in every Slurm
 * format; scontrol and sacct output is read as Slurm prints it; the rendered sbatch script holds
 * the resources, the signal, srun --mpi=pmix and the requeue on exit 75, with every path in its
 * shell part single-quoted; a failed job's log tail tells oom and timeout apart; status.txt
 * speaks upstream picotron's seven words; arrays carry their throttle, srun the --set list. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "slurm.h"

static RunStatus st(const char *state, const char *exit_code)
{
    return slurm_parse_state(state, exit_code);
}

START_TEST(queued_and_running_states_are_pending_and_running)
{
    ck_assert_int_eq(st("PENDING", NULL), RUN_PENDING);
    ck_assert_int_eq(st("REQUEUED", NULL), RUN_PENDING);
    ck_assert_int_eq(st("SUSPENDED", NULL), RUN_PENDING);
    ck_assert_int_eq(st("RUNNING", NULL), RUN_RUNNING);
    ck_assert_int_eq(st("CONFIGURING", NULL), RUN_RUNNING);
    ck_assert_int_eq(st("COMPLETING", NULL), RUN_RUNNING);
}
END_TEST

START_TEST(ended_states_map_to_picotron_names)
{
    ck_assert_int_eq(st("COMPLETED", "0:0"), RUN_COMPLETED);
    ck_assert_int_eq(st("FAILED", "2:0"), RUN_FAIL);
    ck_assert_int_eq(st("NODE_FAIL", "0:0"), RUN_FAIL);
    ck_assert_int_eq(st("BOOT_FAIL", NULL), RUN_FAIL);
    ck_assert_int_eq(st("TIMEOUT", "0:15"), RUN_TIMEOUT);
    ck_assert_int_eq(st("OUT_OF_MEMORY", "0:125"), RUN_OOM);
    ck_assert_int_eq(st("CANCELLED", "0:15"), RUN_CANCELLED);
    ck_assert_int_eq(st("CANCELLED by 0", "0:15"), RUN_CANCELLED);
    ck_assert_int_eq(st("PREEMPTED", "0:0"), RUN_PREEMPTED);
    ck_assert_int_eq(st("WHATEVER", "0:0"), RUN_UNKNOWN);
    ck_assert_int_eq(st(NULL, NULL), RUN_UNKNOWN);
}
END_TEST

START_TEST(exit_75_is_preempted_and_other_nonzero_exits_fail)
{
    ck_assert_int_eq(st("FAILED", "75:0"), RUN_PREEMPTED);
    ck_assert_int_eq(st("COMPLETED", "75:0"), RUN_PREEMPTED);
    ck_assert_int_eq(st("COMPLETED", "1:0"), RUN_FAIL);
    ck_assert_int_eq(st("FAILED", "1:0"), RUN_FAIL);
}
END_TEST

START_TEST(a_state_is_matched_as_a_whole_word)
{
    ck_assert_int_eq(st("RUNNINGX", NULL), RUN_UNKNOWN);
    ck_assert_int_eq(st("FAILED_SOMEHOW", NULL), RUN_UNKNOWN);
    ck_assert_int_eq(st("  TIMEOUT", NULL), RUN_TIMEOUT);
}
END_TEST

START_TEST(status_names_round_trip)
{
    const char *names[] = {"init", "pending", "running", "fail", "oom", "timeout", "completed",
                           "preempted", "cancelled"};
    for (int i = 0; i < 9; i++) {
        int s = slurm_status_from_name(names[i]);
        ck_assert_int_ge(s, 0);
        ck_assert_str_eq(slurm_status_name((RunStatus)s), names[i]);
    }
    ck_assert_int_eq(slurm_status_from_name("failed"), -1);
    ck_assert(slurm_status_is_final(RUN_COMPLETED) && slurm_status_is_final(RUN_FAIL));
    ck_assert(!slurm_status_is_final(RUN_PENDING) && !slurm_status_is_final(RUN_INIT));
}
END_TEST

static long secs(const char *t)
{
    long s = -1;
    Error err = {0};
    ck_assert_msg(slurm_parse_time(t, &s, &err) == PT_OK, "%s: %s", t, err.msg);
    return s;
}

START_TEST(time_limits_parse_in_every_slurm_format)
{
    ck_assert_int_eq(secs("1"), 60);
    ck_assert_int_eq(secs("90"), 5400);
    ck_assert_int_eq(secs("1:30"), 90);
    ck_assert_int_eq(secs("2:00:05"), 7205);
    ck_assert_int_eq(secs("1-0"), 86400);
    ck_assert_int_eq(secs("1-2:30"), 86400 + 2 * 3600 + 30 * 60);
    ck_assert_int_eq(secs("2-01:00:10"), 2 * 86400 + 3600 + 10);
}
END_TEST

START_TEST(bad_time_limits_are_one_input_error_naming_the_value)
{
    const char *bad[] = {"", "abc", "1:2:3:4", "-5", "1-", "1-2-3", "0", "1h", "1::2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        long s;
        Error err = {0};
        ck_assert_msg(slurm_parse_time(bad[i], &s, &err) == PT_EINPUT, "accepted '%s'", bad[i]);
        ck_assert_ptr_nonnull(strstr(err.msg, "--time"));
    }
}
END_TEST

START_TEST(scontrol_fields_are_read_by_exact_key)
{
    const char *out = "JobId=12 JobName=a UserId=root(0) JobState=TIMEOUT Reason=TimeLimit "
                      "Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 ExitCode=0:15\n"
                      "JobId=13 JobState=RUNNING\n";
    char v[64];
    ck_assert_int_eq(slurm_scontrol_field(out, "JobState", v, sizeof v), 0);
    ck_assert_str_eq(v, "TIMEOUT");
    ck_assert_int_eq(slurm_scontrol_field(out, "ExitCode", v, sizeof v), 0);
    ck_assert_str_eq(v, "0:15");
    ck_assert_int_eq(slurm_scontrol_field(out, "State", v, sizeof v), -1);
    ck_assert_int_eq(slurm_scontrol_field(out, "Nothing", v, sizeof v), -1);
}
END_TEST

START_TEST(sacct_takes_the_last_line_of_the_exact_job)
{
    const char *out = "7|REQUEUED|0:0\n"
                      "7.batch|CANCELLED|0:15\n"
                      "17|COMPLETED|0:0\n"
                      "7|FAILED|75:0\n";
    char state[32], code[16];
    ck_assert_int_eq(slurm_sacct_find(out, "7", state, sizeof state, code, sizeof code), 0);
    ck_assert_str_eq(state, "FAILED");
    ck_assert_str_eq(code, "75:0");
    ck_assert_int_eq(slurm_sacct_find(out, "17", state, sizeof state, code, sizeof code), 0);
    ck_assert_str_eq(state, "COMPLETED");
    ck_assert_int_eq(slurm_sacct_find(out, "1", state, sizeof state, code, sizeof code), -1);
    ck_assert_int_eq(slurm_sacct_find("", "7", state, sizeof state, code, sizeof code), -1);
}
END_TEST

static SlurmSpec spec(void)
{
    static const char *extra[] = {"--mem=0"};
    SlurmSpec s = {.job_name = "a", .nodes = 2, .ntasks_per_node = 4, .gpus_per_node = 8,
                   .cpus_per_task = 16, .time = "24:00:00", .partition = "gpu", .qos = "high",
                   .account = "proj", .exclusive = 1, .overcommit = 0, .signal_before = 300,
                   .workdir = "/home/u", .train = "/opt/bin/picotron-train", .steps = 0,
                   .sbatch_args = extra, .nsbatch_args = 1};
    return s;
}

static char *render(const SlurmSpec *s, int n)
{
    const char *dirs[] = {"/runs/a", "/runs/b", "/runs/c"};
    const char *configs[] = {"/runs/a/config.json", "/runs/b/config.json", "/runs/c/c.json"};
    char *text = NULL;
    Error err = {0};
    ck_assert_msg(slurm_render_script(s, dirs, configs, n, &text, &err) == PT_OK, "%s", err.msg);
    return text;
}

#define HAS(text, s) ck_assert_msg(strstr(text, s), "script lacks: %s\n%s", s, text)
#define LACKS(text, s) ck_assert_msg(!strstr(text, s), "script has: %s\n%s", s, text)

START_TEST(script_holds_every_resource_line)
{
    SlurmSpec s = spec();
    char *t = render(&s, 1);
    ck_assert(!strncmp(t, "#!/bin/bash\n", 12));
    HAS(t, "\n#SBATCH --job-name=a\n");
    HAS(t, "\n#SBATCH --nodes=2\n");
    HAS(t, "\n#SBATCH --ntasks-per-node=4\n");
    HAS(t, "\n#SBATCH --cpus-per-task=16\n");
    HAS(t, "\n#SBATCH --gpus-per-node=8\n");
    HAS(t, "\n#SBATCH --time=24:00:00\n");
    HAS(t, "\n#SBATCH --partition=gpu\n");
    HAS(t, "\n#SBATCH --qos=high\n");
    HAS(t, "\n#SBATCH --account=proj\n");
    HAS(t, "\n#SBATCH --exclusive\n");
    HAS(t, "\n#SBATCH --signal=USR1@300\n");
    HAS(t, "\n#SBATCH --requeue\n");
    HAS(t, "\n#SBATCH --chdir=/home/u\n");
    HAS(t, "\n#SBATCH --output=/runs/a/slurm-%j.out\n");
    HAS(t, "\n#SBATCH --error=/runs/a/slurm-%j.err\n");
    HAS(t, "\n#SBATCH --mem=0\n");
    HAS(t, "\nexport OMP_NUM_THREADS=16\n");
    HAS(t, "\nsrun --mpi=pmix --kill-on-bad-exit=1 '/opt/bin/picotron-train' --config \"$CONFIG\" "
           "--set checkpoint.resume=auto --signal-grace 270\n");
    HAS(t, "\nRUN='/runs/a'\nCONFIG='/runs/a/config.json'\n");
    HAS(t, "if [ \"$rc\" -eq 75 ]; then\n");
    HAS(t, "    scontrol requeue \"$SLURM_JOB_ID\"\n");
    HAS(t, "exit \"$rc\"\n");
    LACKS(t, "--overcommit");
    LACKS(t, "--array");
    /* every #SBATCH line comes before the first command: sbatch stops reading at it */
    char *first_cmd = strstr(t, "\nRUN=");
    ck_assert_ptr_nonnull(first_cmd);
    char *last_sbatch = NULL;
    for (char *p = t; (p = strstr(p, "#SBATCH")); p++)
        last_sbatch = p;
    ck_assert(last_sbatch < first_cmd);
    free(t);
}
END_TEST

START_TEST(optional_lines_are_left_out_when_not_asked_for)
{
    SlurmSpec s = spec();
    s.gpus_per_node = 0;
    s.time = s.partition = s.qos = s.account = NULL;
    s.exclusive = 0;
    s.signal_before = 0;
    s.nsbatch_args = 0;
    s.overcommit = 1;
    s.steps = 5;
    char *t = render(&s, 1);
    const char *gone[] = {"#SBATCH --gpus-per-node", "#SBATCH --time", "#SBATCH --partition",
                          "#SBATCH --qos", "#SBATCH --account", "#SBATCH --exclusive",
                          "#SBATCH --signal", "#SBATCH --mem"};
    for (size_t i = 0; i < sizeof gone / sizeof *gone; i++)
        LACKS(t, gone[i]);
    HAS(t, "\n#SBATCH --overcommit\n");
    HAS(t, "--set checkpoint.resume=auto --steps 5\n"); /* no signal: no --signal-grace */
    free(t);
}
END_TEST

START_TEST(several_runs_are_one_job_array_with_a_task_per_run)
{
    SlurmSpec s = spec();
    s.log_dir = "/runs";
    char *t = render(&s, 3);
    HAS(t, "\n#SBATCH --array=0-2\n");
    HAS(t, "\n#SBATCH --output=/runs/slurm-%A_%a.out\n");
    HAS(t, "\n0) RUN='/runs/a' CONFIG='/runs/a/config.json' ;;\n");
    HAS(t, "\n2) RUN='/runs/c' CONFIG='/runs/c/c.json' ;;\n");
    HAS(t, "exec >>\"$LOG.out\" 2>>\"$LOG.err\"\n");
    free(t);
}
END_TEST

START_TEST(max_concurrent_throttles_the_array_and_nothing_else)
{
    SlurmSpec s = spec();
    s.log_dir = "/runs";
    s.max_concurrent = 2;
    char *t = render(&s, 3);
    HAS(t, "\n#SBATCH --array=0-2%2\n");
    free(t);
    t = render(&s, 1); /* one run: no array to throttle */
    LACKS(t, "--array");
    LACKS(t, "%2");
    free(t);
}
END_TEST

/* The grace the ranks get after SIGUSR1: 90% of the signal's lead, so that a run stuck past its
 * step boundary ends with its own line before Slurm's kill at the limit. */
START_TEST(signal_grace_is_nine_tenths_of_the_lead)
{
    ck_assert_int_eq(slurm_signal_grace(300), 270);
    ck_assert_int_eq(slurm_signal_grace(30), 27);
    ck_assert_int_eq(slurm_signal_grace(1), 1);
    SlurmSpec s = spec();
    s.signal_before = 30;
    char *t = render(&s, 1);
    HAS(t, "\n#SBATCH --signal=USR1@30\n");
    HAS(t, "--set checkpoint.resume=auto --signal-grace 27\n");
    free(t);
}
END_TEST

START_TEST(sets_go_to_srun_quoted_before_resume_auto)
{
    static const char *sets[] = {"training.learning_rate=1e-3", "logging.run_name=a b'c"};
    SlurmSpec s = spec();
    s.sets = sets;
    s.nsets = 2;
    char *t = render(&s, 1);
    HAS(t, " --config \"$CONFIG\" --set 'training.learning_rate=1e-3' --set "
           "'logging.run_name=a b'\\''c' --set checkpoint.resume=auto --signal-grace 270\n");
    free(t);
}
END_TEST

START_TEST(paths_a_script_cannot_carry_are_refused)
{
    SlurmSpec s = spec();
    const char *dirs[] = {"/runs/my run"};
    const char *configs[] = {"/runs/my run/config.json"};
    char *text = NULL;
    Error err = {0};
    ck_assert_int_eq(slurm_render_script(&s, dirs, configs, 1, &text, &err), PT_EINPUT);
    ck_assert_ptr_null(text);
    ck_assert_ptr_nonnull(strstr(err.msg, "/runs/my run"));
    Error e2 = {0};
    ck_assert_int_eq(slurm_check_path("/runs/100%", "the run directory", &e2), PT_EINPUT);
    Error e3 = {0};
    ck_assert_int_eq(slurm_check_path("/runs/a-b_c.d/e", "the run directory", &e3), PT_OK);
}
END_TEST

/* bash -n on a script: 0 when it parses */
static int bash_parses(const char *script)
{
    char path[] = "/tmp/test_slurm.XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(script, f);
    fclose(f);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "bash -n %s 2>/dev/null", path);
    int rc = system(cmd);
    unlink(path);
    return rc;
}

START_TEST(shell_metacharacters_in_paths_are_single_quoted)
{
    SlurmSpec s = spec();
    s.train = "/opt/it's/picotron-train";
    s.log_dir = "/sw";
    const char *dirs[] = {"/sw/a(1)", "/sw/b;id", "/sw/c'$(id)`id`"};
    const char *configs[] = {"/sw/a(1)/config.json", "/sw/b;id/my config.json", "/sw/c'/c&.json"};
    char *t = NULL;
    Error err = {0};
    ck_assert_msg(slurm_render_script(&s, dirs, configs, 1, &t, &err) == PT_OK, "%s", err.msg);
    HAS(t, "\nRUN='/sw/a(1)'\nCONFIG='/sw/a(1)/config.json'\n");
    HAS(t, "\nsrun --mpi=pmix --kill-on-bad-exit=1 '/opt/it'\\''s/picotron-train' --config");
    HAS(t, "\n#SBATCH --output=/sw/a(1)/slurm-%j.out\n");
    ck_assert_int_eq(bash_parses(t), 0);
    free(t);
    ck_assert_msg(slurm_render_script(&s, dirs, configs, 3, &t, &err) == PT_OK, "%s", err.msg);
    HAS(t, "\n0) RUN='/sw/a(1)' CONFIG='/sw/a(1)/config.json' ;;\n");
    HAS(t, "\n1) RUN='/sw/b;id' CONFIG='/sw/b;id/my config.json' ;;\n");
    HAS(t, "\n2) RUN='/sw/c'\\''$(id)`id`' CONFIG='/sw/c'\\''/c&.json' ;;\n");
    ck_assert_int_eq(bash_parses(t), 0);
    free(t);
}
END_TEST

START_TEST(a_line_break_in_an_sbatch_option_is_refused_naming_the_option)
{
    const char *dirs[] = {"/runs/a"}, *configs[] = {"/runs/a/config.json"};
    static const char *extra[] = {"--mem=0", "--mem=0\nid"};
    const char *opts[] = {"--partition", "--qos", "--account", "--time", "--sbatch-arg"};
    for (int i = 0; i < 5; i++) {
        SlurmSpec s = spec();
        const char *bad = "gpu\n#SBATCH --x";
        if (i == 0)
            s.partition = bad;
        else if (i == 1)
            s.qos = bad;
        else if (i == 2)
            s.account = bad;
        else if (i == 3)
            s.time = "1:00\r";
        else
            s.sbatch_args = extra, s.nsbatch_args = 2;
        char *t = NULL;
        Error err = {0};
        ck_assert_int_eq(slurm_render_script(&s, dirs, configs, 1, &t, &err), PT_EINPUT);
        ck_assert_ptr_null(t);
        ck_assert_msg(!strncmp(err.msg, opts[i], strlen(opts[i])), "%s: %s", opts[i], err.msg);
        ck_assert_ptr_null(strchr(err.msg, '\n'));
    }
}
END_TEST

START_TEST(a_failed_jobs_log_tail_tells_oom_and_timeout_apart)
{
    /* lines as slurmstepd, our allocator and PyTorch write them */
    const char *oom[] = {
        "slurmstepd: error: Detected 1 oom_kill event in StepId=12.0. Some of the step tasks "
        "have been OOM Killed.\n",
        "slurmstepd: error: Detected 1 oom-kill event(s) in step 12.batch cgroup.\n",
        "step 3 loss 4.1\npicotron: out of memory allocating 1073741824 bytes\n",
        "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n",
    };
    for (size_t i = 0; i < sizeof oom / sizeof *oom; i++) {
        ck_assert_int_eq(slurm_status_from_log(RUN_FAIL, oom[i]), RUN_OOM);
        ck_assert_int_eq(slurm_status_from_log(RUN_CANCELLED, oom[i]), RUN_OOM);
    }
    const char *limit = "slurmstepd: error: *** JOB 12 ON localhost CANCELLED AT "
                        "2024-05-01T10:00:00 DUE TO TIME LIMIT ***\n";
    ck_assert_int_eq(slurm_status_from_log(RUN_FAIL, limit), RUN_TIMEOUT);
    ck_assert_int_eq(slurm_status_from_log(RUN_CANCELLED, limit), RUN_TIMEOUT);
    /* other failures stay what Slurm said */
    const char *other = "picotron-train: dataset.name: glob \"x*\" matches no files\n";
    ck_assert_int_eq(slurm_status_from_log(RUN_FAIL, other), RUN_FAIL);
    ck_assert_int_eq(slurm_status_from_log(RUN_CANCELLED, "scancel\n"), RUN_CANCELLED);
    ck_assert_int_eq(slurm_status_from_log(RUN_FAIL, ""), RUN_FAIL);
    ck_assert_int_eq(slurm_status_from_log(RUN_FAIL, NULL), RUN_FAIL);
    /* a run that ended well is never reread as a failure */
    ck_assert_int_eq(slurm_status_from_log(RUN_COMPLETED, oom[0]), RUN_COMPLETED);
    ck_assert_int_eq(slurm_status_from_log(RUN_TIMEOUT, oom[0]), RUN_TIMEOUT);
}
END_TEST

START_TEST(status_txt_speaks_upstreams_seven_words)
{
    /* upstream's Status enum: the only words its readers accept */
    const char *upstream[] = {"init", "pending", "running", "fail", "oom", "timeout", "completed"};
    const char *want[] = {
        [RUN_INIT] = "init",        [RUN_PENDING] = "pending",   [RUN_RUNNING] = "running",
        [RUN_FAIL] = "fail",        [RUN_OOM] = "oom",           [RUN_TIMEOUT] = "timeout",
        [RUN_COMPLETED] = "completed", [RUN_PREEMPTED] = "timeout", [RUN_CANCELLED] = "fail",
        [RUN_UNKNOWN] = "pending",
    };
    for (int s = RUN_INIT; s <= RUN_UNKNOWN; s++) {
        const char *w = slurm_status_upstream((RunStatus)s);
        ck_assert_str_eq(w, want[s]);
        int known = 0;
        for (size_t k = 0; k < sizeof upstream / sizeof *upstream; k++)
            known |= !strcmp(w, upstream[k]);
        ck_assert_msg(known, "%s -> %s is not an upstream word", slurm_status_name(s), w);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("slurm");
    TCase *ts = tcase_create("states");
    tcase_add_test(ts, queued_and_running_states_are_pending_and_running);
    tcase_add_test(ts, ended_states_map_to_picotron_names);
    tcase_add_test(ts, exit_75_is_preempted_and_other_nonzero_exits_fail);
    tcase_add_test(ts, a_state_is_matched_as_a_whole_word);
    tcase_add_test(ts, status_names_round_trip);
    tcase_add_test(ts, scontrol_fields_are_read_by_exact_key);
    tcase_add_test(ts, sacct_takes_the_last_line_of_the_exact_job);
    tcase_add_test(ts, a_failed_jobs_log_tail_tells_oom_and_timeout_apart);
    tcase_add_test(ts, status_txt_speaks_upstreams_seven_words);
    suite_add_tcase(s, ts);
    TCase *tt = tcase_create("time");
    tcase_add_test(tt, time_limits_parse_in_every_slurm_format);
    tcase_add_test(tt, bad_time_limits_are_one_input_error_naming_the_value);
    suite_add_tcase(s, tt);
    TCase *tr = tcase_create("render");
    tcase_add_test(tr, script_holds_every_resource_line);
    tcase_add_test(tr, optional_lines_are_left_out_when_not_asked_for);
    tcase_add_test(tr, several_runs_are_one_job_array_with_a_task_per_run);
    tcase_add_test(tr, max_concurrent_throttles_the_array_and_nothing_else);
    tcase_add_test(tr, sets_go_to_srun_quoted_before_resume_auto);
    tcase_add_test(tr, signal_grace_is_nine_tenths_of_the_lead);
    tcase_add_test(tr, paths_a_script_cannot_carry_are_refused);
    tcase_add_test(tr, shell_metacharacters_in_paths_are_single_quoted);
    tcase_add_test(tr, a_line_break_in_an_sbatch_option_is_refused_naming_the_option);
    suite_add_tcase(s, tr);
    return check_run(s);
}
