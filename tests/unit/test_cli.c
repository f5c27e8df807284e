/* test_cli: the integer parser takes a sign and digits in range and refuses everything else
 * with one line naming the option, the range and the text; sizes read transformers' units;
 * the option loop fills a table's values, lists and counts, and leaves arguments in order. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "cli.h"

static long parsed(const char *text, long min, long max)
{
    Error err = {0};
    long v = -12345;
    ck_assert_msg(cli_parse_long("--n", text, min, max, &v, &err) == PT_OK, "%s: %s", text,
                  err.msg);
    return v;
}

static const char *refused(const char *text, long min, long max)
{
    static Error err;
    long v = 777;
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(cli_parse_long("--n", text, min, max, &v, &err), PT_EINPUT);
    ck_assert_int_eq(v, 777);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    return err.msg;
}

START_TEST(integers_in_range_are_accepted)
{
    ck_assert_int_eq(parsed("1", 1, 10), 1);
    ck_assert_int_eq(parsed("10", 1, 10), 10);
    ck_assert_int_eq(parsed("+7", 1, 10), 7);
    ck_assert_int_eq(parsed("-3", -5, 5), -3);
    ck_assert_int_eq(parsed("007", 0, 10), 7);
    ck_assert_int_eq(parsed("2147483647", INT_MIN, INT_MAX), INT_MAX);
    ck_assert_int_eq(parsed("-2147483648", INT_MIN, INT_MAX), INT_MIN);
}
END_TEST

START_TEST(anything_but_sign_and_digits_is_refused)
{
    const char *bad[] = {"", "+", "-", "two", "1.5", "1e3", " 5", "5 ", "0x10", "5k", "--5",
                         "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused(bad[i], INT_MIN, INT_MAX);
}
END_TEST

START_TEST(the_refusal_names_option_range_and_text)
{
    ck_assert_str_eq(refused("0", 1, 1000), "--n: expected an integer from 1 to 1000, got '0'");
    ck_assert_str_eq(refused("1001", 1, 1000),
                     "--n: expected an integer from 1 to 1000, got '1001'");
    ck_assert_str_eq(refused("-1", 0, INT_MAX), "--n: expected an integer >= 0, got '-1'");
    ck_assert_str_eq(refused("9", INT_MIN, 8), "--n: expected an integer <= 8, got '9'");
    ck_assert_str_eq(refused("two", INT_MIN, INT_MAX), "--n: expected an integer, got 'two'");
}
END_TEST

START_TEST(sizes_read_decimal_and_binary_units)
{
    Error err = {0};
    uint64_t b = 0;
    struct { const char *text; uint64_t bytes; } ok[] = {
        {"1000", 1000},          {"1B", 1},           {"5GB", 5000000000ull},
        {"500mb", 500000000},    {"100KB", 100000},   {"2GiB", 2ull << 30},
        {"1.5KiB", 1536},        {"1TiB", 1ull << 40}, {"3TB", 3000000000000ull},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ck_assert_msg(cli_parse_size("--s", ok[i].text, &b, &err) == PT_OK, "%s", ok[i].text);
        ck_assert_uint_eq(b, ok[i].bytes);
    }
    const char *bad[] = {"", "GB", "0", "0.5", "-1GB", "5XB", "inf", "nan", "0x10", "1e3",
                         " 5GB", "5 GB", "1.2.3MB", ".", "99999999TB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Error e = {0};
        ck_assert_msg(cli_parse_size("--s", bad[i], &b, &e) == PT_EINPUT, "%s", bad[i]);
        ck_assert_ptr_nonnull(strstr(e.msg, "--s: expected a size"));
    }
}
END_TEST

static const Cli quiet_cli = {.prog = "test", .usage = "usage: test\n"};

START_TEST(the_option_loop_fills_the_table_and_leaves_arguments)
{
    const char *name = NULL;
    int steps = 5, flag = 0, seen = 0;
    CliList sets = {0};
    const CliOption options[] = {
        OPT_STRING("name", 'n', &name),
        {"steps", 's', CLI_INT, &steps, 1, 100, &seen},
        OPT_FLAG("flag", 0, &flag),
        OPT_LIST("set", 0, &sets),
        OPT_END,
    };
    char *argv[] = {"test", "a", "--name", "x", "--set", "k=1", "-s", "7", "b",
                    "--set=k=2", "--flag", "--steps=9", NULL};
    int argc = (int)(sizeof argv / sizeof argv[0]) - 1;
    int first = cli_parse(&quiet_cli, options, argc, argv);
    ck_assert_str_eq(name, "x");
    ck_assert_int_eq(steps, 9);
    ck_assert_int_eq(seen, 2);
    ck_assert_int_eq(flag, 1);
    ck_assert_int_eq(sets.n, 2);
    ck_assert_str_eq(sets.items[0], "k=1");
    ck_assert_str_eq(sets.items[1], "k=2");
    ck_assert_int_eq(argc - first, 2);
    ck_assert_str_eq(argv[first], "a");
    ck_assert_str_eq(argv[first + 1], "b");
    cli_list_free(&sets);
}
END_TEST

/* A bad command line ends the process with exit 2 (an exit test: Check forks); a parse that
 * returns exits 99, which no test expects. */
static void parse_or_exit(char **argv, int argc)
{
    int steps = 0;
    const CliOption options[] = {OPT_INT("steps", 's', &steps, 1, 10), OPT_END};
    if (!freopen("/dev/null", "w", stderr))
        exit(98);
    cli_parse(&quiet_cli, options, argc, argv);
    exit(99);
}

START_TEST(an_unknown_option_exits_2)
{
    char *argv[] = {"test", "--bogus", NULL};
    parse_or_exit(argv, 2);
}
END_TEST

START_TEST(a_missing_value_exits_2)
{
    char *argv[] = {"test", "--steps", NULL};
    parse_or_exit(argv, 2);
}
END_TEST

START_TEST(an_integer_out_of_range_exits_2)
{
    char *argv[] = {"test", "-s", "11", NULL};
    parse_or_exit(argv, 3);
}
END_TEST

START_TEST(help_exits_0)
{
    char *argv[] = {"test", "--help", NULL};
    if (!freopen("/dev/null", "w", stdout))
        exit(98);
    parse_or_exit(argv, 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tp = tcase_create("parse");
    tcase_add_test(tp, integers_in_range_are_accepted);
    tcase_add_test(tp, anything_but_sign_and_digits_is_refused);
    tcase_add_test(tp, the_refusal_names_option_range_and_text);
    tcase_add_test(tp, sizes_read_decimal_and_binary_units);
    suite_add_tcase(s, tp);
    TCase *tl = tcase_create("loop");
    tcase_add_test(tl, the_option_loop_fills_the_table_and_leaves_arguments);
    tcase_add_exit_test(tl, an_unknown_option_exits_2, PT_EINPUT);
    tcase_add_exit_test(tl, a_missing_value_exits_2, PT_EINPUT);
    tcase_add_exit_test(tl, an_integer_out_of_range_exits_2, PT_EINPUT);
    tcase_add_exit_test(tl, help_exits_0, 0);
    suite_add_tcase(s, tl);
    return check_run(s);
}
