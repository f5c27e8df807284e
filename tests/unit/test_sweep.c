/* test_sweep: the --sweep spec (short names, key paths, every malformed item refused naming
 * it), the cartesian product in spec order, each point's config (values set, refusals as the
 * config's error line, grad_acc kept to the global batch), the best point written back into the
 * input config, and the rows as CSV, best row and bench JSON. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "memplan.h"
#include "sweep.h"
#include "sweeprow.h"

static const char BASE[] =
    "{\"distributed\": {\"tp_size\": 1, \"dp_size\": 1},\n"
    " \"model\": {\"name\": \"tiny\"},\n"
    " \"training\": {\"seq_length\": 64, \"micro_batch_size\": 4,"
    " \"gradient_accumulation_steps\": 1, \"total_train_steps\": 10},\n"
    " \"dataset\": {\"name\": \"synthetic\"},\n"
    " \"logging\": {\"run_dir\": \"/tmp\", \"extra_key_we_keep\": 7}}";

static Config base(void)
{
    Config cfg;
    Error err = {0};
    config_warnings(0);
    ck_assert_msg(config_parse(&cfg, BASE, "base.json", &err) == PT_OK, "%s", err.msg);
    return cfg;
}

static Sweep parse_ok(const char *spec)
{
    Config cfg = base();
    Sweep s;
    Error err = {0};
    ck_assert_msg(sweep_parse(&s, spec, &cfg, &err) == PT_OK, "%s: %s", spec, err.msg);
    return s;
}

START_TEST(short_names_and_key_paths_name_config_keys)
{
    Sweep s = parse_ok("  dp=1,2\ttraining.seq_length=32,64,128 zero=0,1 mbs=8 ");
    ck_assert_int_eq(s.naxes, 4);
    ck_assert_str_eq(s.axis[0].key, "distributed.dp_size");
    ck_assert_str_eq(s.axis[0].name, "dp");
    ck_assert_str_eq(s.axis[1].key, "training.seq_length");
    ck_assert_str_eq(s.axis[1].name, "training.seq_length");
    ck_assert_str_eq(s.axis[2].key, "distributed.zero_stage");
    ck_assert_str_eq(s.axis[3].key, "training.micro_batch_size");
    ck_assert_int_eq(s.axis[1].nvalues, 3);
    ck_assert_str_eq(s.axis[1].values[2], "128");
    ck_assert_int_eq(s.npoints, 2 * 3 * 2 * 1);
    sweep_free(&s);
    ck_assert_str_eq(sweep_short_key("grad_acc"), "training.gradient_accumulation_steps");
    ck_assert_ptr_null(sweep_short_key("d"));
}
END_TEST

START_TEST(points_walk_the_product_first_axis_slowest)
{
    const int dp[] = {1, 2}, tp[] = {1, 2}, mbs[] = {1, 2, 4};
    Sweep s = parse_ok("dp=1,2 tp=1,2 mbs=1,2,4");
    ck_assert_int_eq(s.npoints, 12);
    int p = 0;
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < 3; k++, p++) {
                char want[64], got[64];
                snprintf(want, sizeof want, "dp=%d tp=%d mbs=%d", dp[i], tp[j], mbs[k]);
                sweep_point_label(&s, p, got, sizeof got);
                ck_assert_str_eq(got, want);
                ck_assert_int_eq(sweep_value_index(&s, p, 2), k);
            }
    sweep_free(&s);
}
END_TEST

START_TEST(bad_specs_are_one_error_naming_the_item)
{
    static const struct {
        const char *spec, *names;
    } cases[] = {
        {"dp", "'dp'"},
        {"=1,2", "'=1,2'"},
        {"dp=", "'dp=': empty value"},
        {"dp=1,,2", "'dp=1,,2': empty value"},
        {"dp=1,", "empty value"},
        {"nosuch=1", "unknown key 'nosuch'"},
        {"training.nosuch=1", "unknown key 'training.nosuch'"},
        {"dp=1 tp=2 dp=2", "distributed.dp_size is given twice"},
        {"dp=1 distributed.dp_size=2", "distributed.dp_size is given twice"},
        {"   ", "no NAME=V1,V2"},
    };
    Config cfg = base();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Sweep s;
        Error err = {0};
        ck_assert_int_eq(sweep_parse(&s, cases[i].spec, &cfg, &err), PT_EINPUT);
        ck_assert_msg(strstr(err.msg, cases[i].names), "'%s': %s", cases[i].spec, err.msg);
        ck_assert_ptr_null(strchr(err.msg, '\n'));
        sweep_free(&s);
    }
    /* 70 x 70 = 4900 points: over the cap */
    char spec[1024] = "mbs=1", *o = spec + strlen(spec);
    for (int v = 2; v <= 70; v++)
        o += sprintf(o, ",%d", v);
    o += sprintf(o, " seq=1");
    for (int v = 2; v <= 70; v++)
        o += sprintf(o, ",%d", v);
    Sweep s;
    Error err = {0};
    ck_assert_int_eq(sweep_parse(&s, spec, &cfg, &err), PT_EINPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "more than 4096 points"));
    sweep_free(&s);
}
END_TEST

START_TEST(a_point_sets_its_values_or_carries_the_config_refusal)
{
    Config b = base(), cfg;
    Sweep s = parse_ok("dp=2 tp=1,3 mbs=2");
    Error err = {0};
    ck_assert_msg(sweep_point_config(&s, 0, &b, 0, &cfg, &err) == PT_OK, "%s", err.msg);
    ck_assert_int_eq(cfg.distributed.dp_size, 2);
    ck_assert_int_eq(cfg.distributed.tp_size, 1);
    ck_assert_int_eq(cfg.training.micro_batch_size, 2);
    ck_assert_int_eq(cfg.training.gradient_accumulation_steps, 1);
    ck_assert_int_eq(b.distributed.dp_size, 1); /* the base is untouched */
    /* tiny has 4 heads: tp=3 is refused with the config's own line */
    ck_assert_int_eq(sweep_point_config(&s, 1, &b, 0, &cfg, &err), PT_EINPUT);
    ck_assert_msg(strstr(err.msg, "distributed.tp_size") && strstr(err.msg, "3"), "%s", err.msg);
    sweep_free(&s);
}
END_TEST

START_TEST(keep_global_batch_chooses_grad_acc)
{
    Config b = base(), cfg; /* global batch 1 x 4 x 1 = 4 samples */
    int64_t G = config_global_batch(&b);
    ck_assert_int_eq(G, 4);
    Sweep s = parse_ok("dp=1,2 mbs=1,4,3");
    const int want[6] = {4, 1, -1, 2, -1, -1}; /* dp=2 mbs=4: 8 > 4; mbs=3 never divides */
    for (int p = 0; p < 6; p++) {
        Error err = {0};
        int rc = sweep_point_config(&s, p, &b, G, &cfg, &err);
        if (want[p] < 0) {
            ck_assert_int_eq(rc, PT_EINPUT);
            ck_assert_msg(strstr(err.msg, "global batch 4 is not a multiple"), "%s", err.msg);
        } else {
            ck_assert_msg(rc == PT_OK, "%s", err.msg);
            ck_assert_int_eq(cfg.training.gradient_accumulation_steps, want[p]);
            ck_assert_int_eq(config_global_batch(&cfg), G);
        }
    }
    sweep_free(&s);
}
END_TEST

START_TEST(rank_bytes_is_the_largest_pipeline_stage)
{
    Config cfg = base();
    MemPlan plan;
    memplan_estimate(&cfg, &plan);
    ck_assert_double_eq(sweep_rank_bytes(&cfg), memplan_stage_total(&plan.stage[0]));
    memplan_free(&plan);
    /* pp=2: stage 0 holds the embedding, the last stage the head and the saved logits */
    Error err = {0};
    ck_assert(config_set(&cfg, "distributed.pp_size=2", &err) == PT_OK);
    memplan_estimate(&cfg, &plan);
    double a = memplan_stage_total(&plan.stage[0]), z = memplan_stage_total(&plan.stage[1]);
    ck_assert_double_eq(sweep_rank_bytes(&cfg), a > z ? a : z);
    memplan_free(&plan);
    uint64_t avail = 0;
    ck_assert_int_eq(sweep_mem_available(&avail, &err), PT_OK);
    ck_assert_uint_gt(avail, 0);
}
END_TEST

START_TEST(the_written_config_is_the_input_with_the_point_set)
{
    Config b = base(), cfg;
    Sweep s = parse_ok("dp=1,2 mbs=1,2 optimizer.warmup_steps=3");
    Error err = {0};
    ck_assert(sweep_point_config(&s, 3, &b, 0, &cfg, &err) == PT_OK);
    char dir[] = "/tmp/test_sweep.XXXXXX", path[64];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/best.json", dir);
    const char *keys[] = {"distributed.dp_size", "training.micro_batch_size",
                          "optimizer.warmup_steps"};
    ck_assert_msg(sweep_write_config(path, BASE, keys, 3, &cfg, &err) == PT_OK, "%s", err.msg);
    /* read back as the trainer reads it */
    Config back;
    ck_assert_msg(config_load(&back, path, &err) == PT_OK, "%s", err.msg);
    ck_assert_int_eq(back.distributed.dp_size, 2);
    ck_assert_int_eq(back.training.micro_batch_size, 2);
    ck_assert_int_eq(back.optimizer.warmup_steps, 3);
    ck_assert_int_eq(back.training.seq_length, 64);
    /* keys we did not sweep are as the input had them, unknown ones included; the missing
     * optimizer section was created */
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    ck_assert_ptr_nonnull(root);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(root, "logging"),
                                                        "extra_key_we_keep")), 7);
    ck_assert_ptr_null(json_object_get(json_object_get(root, "distributed"), "pp_size"));
    ck_assert_int_eq(json_object_size(json_object_get(root, "optimizer")), 1);
    json_decref(root);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0); /* nothing else (no temporary) was left */
    sweep_free(&s);
}
END_TEST

static const char BENCH_LINE[] =
    "{\"label\": \"x\", \"ranks\": 2, \"tokens_per_s\": 1234.5, \"gflops\": 9.25, "
    "\"fraction_of_sgemm\": 0.4321, \"comm_fraction\": 0.2, \"comm_by_group\": {\"tp\": 0.0, "
    "\"cp\": 0.0, \"pp\": 0.0, \"dp\": 0.125}, \"rss_mib\": 27.5}\n";

START_TEST(a_bench_json_line_fills_a_row)
{
    SweepRow row = {.status = SWEEP_FAILED};
    Error err = {0};
    char text[1024];
    snprintf(text, sizeof text, "launcher noise\n%s", BENCH_LINE);
    ck_assert_msg(sweeprow_from_json(&row, text, &err) == PT_OK, "%s", err.msg);
    ck_assert_int_eq(row.status, SWEEP_OK);
    ck_assert_int_eq(row.ranks, 2);
    ck_assert_double_eq(row.tokens_per_s, 1234.5);
    ck_assert_double_eq(row.mfu, 0.4321);
    ck_assert_double_eq(row.wait[COMM_DP], 0.125);
    ck_assert_double_eq(row.wait[COMM_TP], 0.0);
    Error e2 = {0};
    ck_assert_int_eq(sweeprow_from_json(&row, "{\"ranks\": 1}\n", &e2), PT_ERUNTIME);
    ck_assert_ptr_nonnull(strstr(e2.msg, "tokens_per_s"));
    Error e3 = {0};
    ck_assert_int_eq(sweeprow_from_json(&row, "", &e3), PT_ERUNTIME);
}
END_TEST

START_TEST(csv_has_a_header_and_a_quoted_row_per_point)
{
    Sweep s = parse_ok("dp=1,2 tp=1,3");
    SweepRow rows[4] = {
        {.status = SWEEP_OK, .ranks = 1, .mem_gib = 0.5, .tokens_per_s = 100.4, .gflops = 1.234,
         .mfu = 0.25, .rss_mib = 20, .wait = {0, 0.1, 0, 0, 0}},
        {.status = SWEEP_REFUSED, .mem_gib = -1, .reason = "tp: 3, not \"4\""},
        {.status = SWEEP_UNFIT, .ranks = 2, .mem_gib = 2, .reason = "does not fit"},
        {.status = SWEEP_FAILED, .ranks = 6, .mem_gib = 0.25, .reason = "killed"},
    };
    char *csv = sweeprow_csv(&s, rows);
    ck_assert_str_eq(csv,
                     "dp,tp,ranks,tokens_per_s,gflops,mfu,mem_gib_per_rank,rss_mib,wait_tp,"
                     "wait_cp,wait_pp,wait_dp,status,reason\n"
                     "1,1,1,100,1.23,0.250,0.5,20,0.100,0.000,0.000,0.000,ok,\n"
                     "1,3,,,,,,,,,,,refused,\"tp: 3, not \"\"4\"\"\"\n"
                     "2,1,2,,,,2,,,,,,unfit,does not fit\n"
                     "2,3,6,,,,0.25,,,,,,failed,killed\n");
    free(csv);
    /* best: the fastest ok row, the first of equals; none when nothing ran */
    ck_assert_int_eq(sweeprow_best(&s, rows), 0);
    rows[0].status = SWEEP_FAILED;
    ck_assert_int_eq(sweeprow_best(&s, rows), -1);
    rows[0].status = SWEEP_OK;
    rows[3] = rows[0];
    rows[3].tokens_per_s = 100.5;
    ck_assert_int_eq(sweeprow_best(&s, rows), 3);
    sweep_free(&s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sweep");
    TCase *tc = tcase_create("sweep");
    tcase_add_test(tc, short_names_and_key_paths_name_config_keys);
    tcase_add_test(tc, points_walk_the_product_first_axis_slowest);
    tcase_add_test(tc, bad_specs_are_one_error_naming_the_item);
    tcase_add_test(tc, a_point_sets_its_values_or_carries_the_config_refusal);
    tcase_add_test(tc, keep_global_batch_chooses_grad_acc);
    tcase_add_test(tc, rank_bytes_is_the_largest_pipeline_stage);
    tcase_add_test(tc, the_written_config_is_the_input_with_the_point_set);
    tcase_add_test(tc, a_bench_json_line_fills_a_row);
    tcase_add_test(tc, csv_has_a_header_and_a_quoted_row_per_point);
    suite_add_tcase(s, tc);
    return check_run(s);
}
