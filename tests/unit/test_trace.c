/* test_trace: the recorder of lib/trace. Nothing is recorded outside the step range; spans on
 * a track nest in the order they were opened; a full buffer keeps its first events and counts
 * the rest; the file is trace-event JSON that Jansson reads back with the events, names, bytes
 * and rank metadata given; ranks > 1 write FILE.rank<R>.json; step ranges parse strictly. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "trace.h"

static char dir[] = "/tmp/test_trace.XXXXXX";

static json_t *write_and_load(const char *path)
{
    Error err = {0};
    ck_assert_msg(trace_write(&err) == PT_OK, "%s", err.msg);
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    ck_assert_msg(doc, "%s: %s (line %d)", path, je.text, je.line);
    return doc;
}

/* The complete ("X") events of a document, in file order. */
static size_t spans(json_t *doc, json_t **out, size_t max)
{
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(json_object_get(doc, "traceEvents"), i, e)
        if (!strcmp(json_string_value(json_object_get(e, "ph")), "X") && n < max)
            out[n++] = e;
    return n;
}

START_TEST(records_only_the_step_range_and_nests)
{
    char path[256];
    snprintf(path, sizeof path, "%s/one.json", dir);
    TraceOptions o = {.path = path, .from = 2, .to = 2, .capacity = 64, .rank = 0, .world = 1};
    snprintf(o.label, sizeof o.label, "rank 0");
    snprintf(o.meta, sizeof o.meta, "{\"pp\": 1}");
    trace_open(&o);
    trace_step(1);
    TRACE_BEGIN(TRACK_COMPUTE, "before", -1); /* step 1 is not recorded */
    TRACE_END(TRACK_COMPUTE, -1);
    trace_step(2);
    ck_assert_int_eq(trace_on, 1);
    TRACE_BEGIN(TRACK_COMPUTE, "forward", 3);
    TRACE_BEGIN(TRACK_COMPUTE, "block forward", 0);
    TRACE_END(TRACK_COMPUTE, -1);
    double t = trace_now();
    trace_span(TRACK_COMM + 1, "all-reduce sum", t, t + 1e-3, 4096);
    trace_async(TRACK_COMM + 4, "send", t, t + 2e-3, 512, 1e-3);
    TRACE_END(TRACK_COMPUTE, -1);
    trace_step(3);
    ck_assert_int_eq(trace_on, 0);
    TRACE_BEGIN(TRACK_COMPUTE, "after", -1);
    TRACE_END(TRACK_COMPUTE, -1);

    json_t *doc = write_and_load(path), *x[8];
    size_t n = spans(doc, x, 8);
    ck_assert_uint_eq(n, 3);
    /* in the order opened: the outer span first, its child after, then the collective */
    ck_assert_str_eq(json_string_value(json_object_get(x[0], "name")), "forward 3");
    ck_assert_str_eq(json_string_value(json_object_get(x[1], "name")), "block forward 0");
    ck_assert_str_eq(json_string_value(json_object_get(x[2], "name")), "all-reduce sum");
    double ts0 = json_number_value(json_object_get(x[0], "ts"));
    double d0 = json_number_value(json_object_get(x[0], "dur"));
    double ts1 = json_number_value(json_object_get(x[1], "ts"));
    double d1 = json_number_value(json_object_get(x[1], "dur"));
    ck_assert_msg(ts1 >= ts0 && ts1 + d1 <= ts0 + d0 + 0.002, "child [%g, +%g] outside [%g, +%g]",
                  ts1, d1, ts0, d0);
    ck_assert_int_eq(json_integer_value(json_object_get(x[2], "tid")), TRACK_COMM + 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(x[2], "args"), "bytes")),
                     4096);
    ck_assert_double_eq_tol(json_number_value(json_object_get(x[2], "dur")), 1000.0, 1e-3);
    /* the async slice: a begin and an end with the same id, its bytes and wait */
    size_t i, nb = 0, ne = 0;
    json_t *e;
    json_array_foreach(json_object_get(doc, "traceEvents"), i, e) {
        const char *ph = json_string_value(json_object_get(e, "ph"));
        if (!strcmp(ph, "b")) {
            nb++;
            json_t *args = json_object_get(e, "args");
            ck_assert_int_eq(json_integer_value(json_object_get(args, "bytes")), 512);
            ck_assert_double_eq_tol(json_number_value(json_object_get(args, "wait_us")), 1000.0,
                                    1e-3);
        }
        ne += !strcmp(ph, "e");
    }
    ck_assert_uint_eq(nb, 1);
    ck_assert_uint_eq(ne, 1);
    json_t *od = json_object_get(doc, "otherData");
    ck_assert_int_eq(json_integer_value(json_object_get(od, "rank")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(od, "dropped")), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(od, "run"), "pp")), 1);
    json_decref(doc);
    trace_close();
    unlink(path);
}
END_TEST

START_TEST(a_full_buffer_keeps_the_first_events_and_counts_the_rest)
{
    char path[256], rank_path[300];
    snprintf(path, sizeof path, "%s/full.json", dir);
    TraceOptions o = {.path = path, .from = 1, .to = 0, .capacity = 4, .rank = 1, .world = 2};
    trace_open(&o);
    trace_step(1);
    for (int i = 0; i < 6; i++) {
        TRACE_BEGIN(TRACK_COMPUTE, "forward", i);
        TRACE_END(TRACK_COMPUTE, -1);
    }
    trace_rank_path(rank_path, sizeof rank_path, path, 1, 2);
    json_t *doc = write_and_load(rank_path), *x[8];
    ck_assert_uint_eq(spans(doc, x, 8), 4);
    ck_assert_str_eq(json_string_value(json_object_get(x[3], "name")), "forward 3");
    json_t *od = json_object_get(doc, "otherData");
    ck_assert_int_eq(json_integer_value(json_object_get(od, "dropped")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(od, "world")), 2);
    json_decref(doc);
    trace_close();
    unlink(rank_path);
    ck_assert_int_eq(access(path, F_OK), -1); /* only the rank's file */
}
END_TEST

START_TEST(rank_files_are_named_after_the_path)
{
    char out[64];
    trace_rank_path(out, sizeof out, "run.json", 0, 1);
    ck_assert_str_eq(out, "run.json");
    trace_rank_path(out, sizeof out, "run.json", 3, 4);
    ck_assert_str_eq(out, "run.rank3.json");
    trace_rank_path(out, sizeof out, "dir/run", 1, 2);
    ck_assert_str_eq(out, "dir/run.rank1");
}
END_TEST

START_TEST(step_ranges_parse_strictly)
{
    int64_t a, b;
    Error err = {0};
    ck_assert_int_eq(trace_parse_steps("x", "2:3", &a, &b, &err), PT_OK);
    ck_assert(a == 2 && b == 3);
    ck_assert_int_eq(trace_parse_steps("x", "7:", &a, &b, &err), PT_OK);
    ck_assert(a == 7 && b == 0);
    ck_assert_int_eq(trace_parse_steps("x", "4:4", &a, &b, &err), PT_OK);
    const char *bad[] = {"", "2", ":3", "0:1", "3:2", "1:2x", " 1:2", "1:-2", "a:b",
                         "12345678901:", "1::2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(trace_parse_steps("--trace-steps", bad[i], &a, &b, &err) == PT_EINPUT,
                      "'%s' accepted", bad[i]);
        ck_assert_msg(strstr(err.msg, "--trace-steps: ") == err.msg, "%s", err.msg);
    }
}
END_TEST

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("test_trace: mkdtemp");
        return 1;
    }
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("recorder");
    tcase_add_test(tc, records_only_the_step_range_and_nests);
    tcase_add_test(tc, a_full_buffer_keeps_the_first_events_and_counts_the_rest);
    tcase_add_test(tc, rank_files_are_named_after_the_path);
    tcase_add_test(tc, step_ranges_parse_strictly);
    suite_add_tcase(s, tc);
    int rc = check_run(s);
    rmdir(dir);
    return rc;
}
