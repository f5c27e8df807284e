/* test_runinfo: a hand-written run directory summarised to hand-computed numbers (median over
 * the steps after the first, peak memory, last validation loss, status); a line being written
 * is skipped, a malformed one named by file and line; run directories found below a directory
 * in name order; the gnuplot script plot builds (quoting, left-out points, format by name). */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_run.h"
#include "plot.h"
#include "runinfo.h"

static char root[512];

static void put_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void make_dir(char *out, const char *sub)
{
    snprintf(out, PATH_MAX, "%s/%s", root, sub);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", out);
    ck_assert_int_eq(system(cmd), 0);
}

static void setup(void)
{
    snprintf(root, sizeof root, "%s/test_runinfo.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(root));
}

static void teardown(void)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}

/* dp 2 × tp 2 of the tiny model, 5 steps planned. */
static const char CONFIG[] =
    "{\"distributed\": {\"dp_size\": 2, \"tp_size\": 2}, \"model\": {\"name\": \"tiny\"},"
    " \"training\": {\"total_train_steps\": 5, \"seq_length\": 64, \"micro_batch_size\": 3,"
    " \"gradient_accumulation_steps\": 2}, \"dataset\": {\"name\": \"synthetic\"}}\n";

/* Step 1 is slow (warm-up); the other tokens_per_s are 100, 400, 200, 300: median 250. mfu
 * 0.1, 0.4, 0.2, 0.3 after the first: median 0.25. Memory peaks at step 3 (7.5). Validation at
 * steps 2 and 4: the last is 4.25. */
static const char METRICS[] =
    "{\"step\": 1, \"loss\": 5.5, \"tokens\": 768, \"tokens_per_s\": 10.0, \"mfu\": 0.9, \"mem_mib\": 5.0}\n"
    "{\"step\": 2, \"loss\": 5.0, \"tokens\": 1536, \"tokens_per_s\": 100.0, \"mfu\": 0.1, \"mem_mib\": 6.0, \"val_loss\": 4.75}\n"
    "{\"step\": 3, \"loss\": 4.5, \"tokens\": 2304, \"tokens_per_s\": 400, \"mfu\": 0.4, \"mem_mib\": 7.5}\n"
    "{\"step\": 4, \"loss\": 4.0, \"tokens\": 3072, \"tokens_per_s\": 200.0, \"mfu\": 0.2, \"mem_mib\": 7.0, \"val_loss\": 4.25}\n"
    "{\"step\": 5, \"loss\": 3.5, \"tokens\": 3840, \"tokens_per_s\": 300.0, \"mfu\": 0.3, \"mem_mib\": 6.5}\n";

START_TEST(summary_is_the_hand_computed_one)
{
    char dir[PATH_MAX];
    make_dir(dir, "run");
    put_file(dir, "config.resolved.json", CONFIG);
    put_file(dir, "metrics.jsonl", METRICS);
    RunInfo r;
    Error err = {0};
    ck_assert_msg(runinfo_read(&r, dir, &err) == PT_OK, "%s", err.msg);
    ck_assert_int_eq(r.nsteps, 5);
    ck_assert_int_eq(r.last_step, 5);
    ck_assert_int_eq(r.tokens, 3840);
    ck_assert_double_eq(r.loss, 3.5);
    ck_assert_double_eq(r.val_loss, 4.25);
    ck_assert_double_eq(r.tokens_per_s, 250.0);
    ck_assert_double_eq_tol(r.mfu, 0.25, 1e-12);
    ck_assert_double_eq(r.peak_mem_mib, 7.5);
    ck_assert_double_eq(runinfo_tokens_per_s_rank(&r), 62.5); /* 250 / (dp 2 · tp 2) */
    ck_assert_int_eq(r.cfg.training.micro_batch_size, 3);
    ck_assert_str_eq(r.status, "completed");
    ck_assert(isnan(r.steps[0].val_loss));
    ck_assert_double_eq(r.steps[1].val_loss, 4.75);
    runinfo_free(&r);

    put_file(dir, "status", "running\n"); /* picotron-submit's word wins */
    ck_assert_msg(runinfo_read(&r, dir, &err) == PT_OK, "%s", err.msg);
    ck_assert_str_eq(r.status, "running");
    runinfo_free(&r);
}
END_TEST

START_TEST(an_unfinished_run_and_an_empty_log)
{
    char dir[PATH_MAX];
    make_dir(dir, "run");
    put_file(dir, "config.resolved.json", CONFIG);
    /* two steps and half of the third, as a reader may find it while the trainer writes */
    put_file(dir, "metrics.jsonl",
             "{\"step\": 1, \"loss\": 5.5, \"tokens\": 768, \"tokens_per_s\": 10.0, \"mfu\": 0.9, \"mem_mib\": 5.0}\n"
             "{\"step\": 2, \"loss\": 5.0, \"tokens\": 1536, \"tokens_per_s\": 100.0, \"mfu\": 0.1, \"mem_mib\": 6.0}\n"
             "{\"step\": 3, \"loss\": 4.");
    RunInfo r;
    Error err = {0};
    ck_assert_msg(runinfo_read(&r, dir, &err) == PT_OK, "%s", err.msg);
    ck_assert_int_eq(r.nsteps, 2);
    ck_assert_double_eq(r.tokens_per_s, 100.0); /* step 2 only: step 1 is left out */
    ck_assert(isnan(r.val_loss));
    ck_assert_str_eq(r.status, "incomplete");
    runinfo_free(&r);

    put_file(dir, "metrics.jsonl", "");
    ck_assert_msg(runinfo_read(&r, dir, &err) == PT_OK, "%s", err.msg);
    ck_assert_int_eq(r.nsteps, 0);
    ck_assert(isnan(r.tokens_per_s) && isnan(r.loss) && isnan(r.peak_mem_mib));
    ck_assert_str_eq(r.status, "incomplete");
    runinfo_free(&r);
}
END_TEST

static void expect_error(const char *dir, const char *want1, const char *want2)
{
    RunInfo r;
    Error err = {0};
    ck_assert_int_eq(runinfo_read(&r, dir, &err), PT_EINPUT);
    ck_assert_msg(strstr(err.msg, want1) && strstr(err.msg, want2), "message: %s", err.msg);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    runinfo_free(&r);
}

START_TEST(a_malformed_line_is_named_by_file_and_line)
{
    char dir[PATH_MAX];
    make_dir(dir, "run");
    put_file(dir, "config.resolved.json", CONFIG);
    put_file(dir, "metrics.jsonl",
             "{\"step\": 1, \"loss\": 5.5, \"tokens\": 768, \"tokens_per_s\": 10.0, \"mfu\": 0.9, \"mem_mib\": 5.0}\n"
             "{\"step\": 2, \"loss\": \"5.0\", \"tokens\": 1536, \"tokens_per_s\": 1.0, \"mfu\": 0.1, \"mem_mib\": 6.0}\n");
    expect_error(dir, "metrics.jsonl:2:", "\"loss\"");
    put_file(dir, "metrics.jsonl", "{\"step\": 1, \"loss\": 5.5}\nnot json\n");
    expect_error(dir, "metrics.jsonl:1:", "\"tokens\"");
    put_file(dir, "metrics.jsonl", "\n");
    expect_error(dir, "metrics.jsonl:1:", "not a JSON object");
    put_file(dir, "metrics.jsonl", "[1, 2]\n");
    expect_error(dir, "metrics.jsonl:1:", "not a JSON object");

    char bare[PATH_MAX];
    make_dir(bare, "bare");
    put_file(bare, "metrics.jsonl", "");
    expect_error(bare, "config.resolved.json", "bare");
}
END_TEST

START_TEST(run_dirs_are_found_below_in_name_order)
{
    char d[PATH_MAX];
    make_dir(d, "runs/b/inner");
    put_file(d, "metrics.jsonl", "");
    make_dir(d, "runs/a");
    put_file(d, "metrics.jsonl", "");
    make_dir(d, "runs/a/ckpt"); /* below a run directory: not searched */
    put_file(d, "metrics.jsonl", "");
    make_dir(d, "runs/c/empty");
    make_dir(d, "runs/.hidden");
    put_file(d, "metrics.jsonl", "");

    char **dirs = NULL;
    int n = 0;
    Error err = {0};
    char runs[PATH_MAX + 8], want[PATH_MAX + 16];
    snprintf(runs, sizeof runs, "%s/runs", root);
    ck_assert_msg(runinfo_find(runs, &dirs, &n, &err) == PT_OK, "%s", err.msg);
    ck_assert_int_eq(n, 2);
    snprintf(want, sizeof want, "%s/a", runs);
    ck_assert_str_eq(dirs[0], want);
    snprintf(want, sizeof want, "%s/b/inner", runs);
    ck_assert_str_eq(dirs[1], want);

    snprintf(want, sizeof want, "%s/c", runs);
    ck_assert_int_eq(runinfo_find(want, &dirs, &n, &err), PT_EINPUT);
    ck_assert_msg(strstr(err.msg, "no run directory"), "%s", err.msg);
    ck_assert_int_eq(n, 2);
    err = (Error){0};
    snprintf(want, sizeof want, "%s/nope", runs);
    ck_assert_int_eq(runinfo_find(want, &dirs, &n, &err), PT_EINPUT);
    ck_assert_msg(strstr(err.msg, "nope"), "%s", err.msg);
    for (int i = 0; i < n; i++)
        free(dirs[i]);
    free(dirs);
}
END_TEST

START_TEST(plot_script_quotes_titles_and_leaves_out_missing_points)
{
    const double x[] = {1, 2, 3}, loss[] = {5.5, 5.25, 5.0}, val[] = {NAN, 4.5, NAN};
    const PlotSeries upper[] = {
        {"it's a run", x, loss, 3, PLOT_LINE, 0, NULL},
        {"val", x, val, 3, PLOT_POINTS, 0, NULL},
    };
    const PlotPanel panel = {"loss", "step", "loss", upper, 2};
    char *s = plot_script(&panel, 1, PLOT_SVG, "/tmp/o.svg");
    ck_assert_ptr_nonnull(strstr(s, "set terminal svg"));
    ck_assert_ptr_nonnull(strstr(s, "set output '/tmp/o.svg'"));
    ck_assert_ptr_nonnull(strstr(s, "$p0s0 << EOD\n1 5.5\n2 5.25\n3 5\nEOD\n"));
    ck_assert_ptr_nonnull(strstr(s, "$p0s1 << EOD\n2 4.5\nEOD\n"));
    ck_assert_ptr_nonnull(strstr(s, "title 'it''s a run'"));
    ck_assert_ptr_nonnull(strstr(s, "set xlabel 'step'"));
    free(s);

    PlotFormat fmt;
    Error err = {0};
    ck_assert_int_eq(plot_format("a/b.PNG", &fmt, &err), PT_OK);
    ck_assert_int_eq(fmt, PLOT_PNG);
    ck_assert_int_eq(plot_format("b.svg", &fmt, &err), PT_OK);
    ck_assert_int_eq(fmt, PLOT_SVG);
    ck_assert_int_eq(plot_format("a.svg/b", &fmt, &err), PT_EINPUT);
    ck_assert_msg(strstr(err.msg, "a.svg/b"), "%s", err.msg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runinfo");
    TCase *tc = tcase_create("runinfo");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, summary_is_the_hand_computed_one);
    tcase_add_test(tc, an_unfinished_run_and_an_empty_log);
    tcase_add_test(tc, a_malformed_line_is_named_by_file_and_line);
    tcase_add_test(tc, run_dirs_are_found_below_in_name_order);
    tcase_add_test(tc, plot_script_quotes_titles_and_leaves_out_missing_points);
    suite_add_tcase(s, tc);
    return check_run(s);
}
