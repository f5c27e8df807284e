/* test_metrics_log: metrics.jsonl on resume (lib/metrics.c). A resumed run keeps the lines up
 * to its checkpoint's step and drops the rest, a last line cut off mid-write (the run died
 * writing it) is dropped rather than refused, and a broken complete line is one error naming
 * the file and line. The expected files are written out by hand here. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "metrics.h"

static char dir[] = "/tmp/test_metrics_log.XXXXXX";
static char path[256];

static void write_text(const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static char *read_text(void)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static const char LINES[] = "{\"step\": 1, \"loss\": 5.5}\n"
                            "{\"step\": 2, \"loss\": 5.25}\n"
                            "{\"step\": 3, \"loss\": 5.0}\n";

START_TEST(resume_keeps_the_lines_up_to_the_checkpoint_and_drops_a_torn_last_line)
{
    char text[512];
    snprintf(text, sizeof text, "%s{\"step\": 4, \"lo", LINES);
    write_text(text);
    FILE *f;
    Error err = {0};
    ck_assert_int_eq(metrics_log_open(&f, path, 1, 2, &err), PT_OK);
    fclose(f);
    ck_assert_str_eq(read_text(), "{\"step\": 1, \"loss\": 5.5}\n{\"step\": 2, \"loss\": 5.25}\n");
    write_text(text);
    ck_assert_int_eq(metrics_log_open(&f, path, 1, 9, &err), PT_OK);
    fclose(f);
    ck_assert_str_eq(read_text(), LINES);
}
END_TEST

START_TEST(a_broken_complete_line_is_one_error_naming_file_and_line)
{
    char text[512];
    snprintf(text, sizeof text, "%snot json\n", LINES);
    write_text(text);
    FILE *f;
    Error err = {0};
    ck_assert_int_eq(metrics_log_open(&f, path, 1, 9, &err), PT_EINPUT);
    ck_assert_ptr_null(f);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_ptr_nonnull(strstr(err.msg, "line 4"));
    ck_assert_str_eq(read_text(), text); /* the log is left as it was */
}
END_TEST

/* A record that cannot be written (/dev/full: ENOSPC on every write) is reported with its
 * errno, for the trainer to stop on; one that can is written whole. */
START_TEST(a_record_on_a_full_disk_returns_its_errno)
{
    MetricsRecord r = {.step = 7, .loss = 2.5};
    FILE *full = fopen("/dev/full", "w");
    ck_assert_ptr_nonnull(full);
    ck_assert_int_eq(metrics_log_write(full, &r), ENOSPC);
    fclose(full);
    FILE *f = fopen(path, "w");
    ck_assert_int_eq(metrics_log_write(f, &r), 0);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(read_text(), "{\"step\": 7, \"loss\": 2.5, "));
}
END_TEST

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    Suite *s = suite_create("metrics_log");
    TCase *tc = tcase_create("resume");
    tcase_add_test(tc, resume_keeps_the_lines_up_to_the_checkpoint_and_drops_a_torn_last_line);
    tcase_add_test(tc, a_broken_complete_line_is_one_error_naming_file_and_line);
    tcase_add_test(tc, a_record_on_a_full_disk_returns_its_errno);
    suite_add_tcase(s, tc);
    int rc = check_run(s);
    unlink(path);
    rmdir(dir);
    return rc;
}
