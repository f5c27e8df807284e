/* test_memplan: the up-front memory check against a fake "available" number: a model that fits
 * passes, one that does not is refused with one line naming the estimate per rank, its terms and
 * the memory available; the ranks on the node multiply the need; the largest pipeline stage is
 * the one compared; an unknown amount (0) passes. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "check_run.h"
#include "backend.h"
#include "memplan.h"

static const char BASE[] =
    "{\"model\": {\"name\": \"tiny\"},\n"
    " \"training\": {\"seq_length\": 64, \"micro_batch_size\": 4},\n"
    " \"dataset\": {\"name\": \"synthetic\"}}";

static Config base(void)
{
    Config cfg;
    Error err = {0};
    config_warnings(0);
    ck_assert_msg(config_parse(&cfg, BASE, "base.json", &err) == PT_OK, "%s", err.msg);
    return cfg;
}

/* One rank of the largest stage (test_sweep checks it against the stages' own totals). */
static double need(const Config *cfg)
{
    return memplan_peak_bytes(cfg);
}

/* environment.device cuda adds the backend's workspace to every stage (what create-config
 * --check reports); the trainer's check on a GPU compares the rest with what the GPU has
 * free once that workspace is held, per GPU, whatever the ranks on the node. */
START_TEST(on_cuda_the_workspace_counts_once_per_gpu)
{
    Config cfg = base();
    Error err = {0};
    double cpu = need(&cfg);
    ck_assert(config_set(&cfg, "environment.device=cuda", &err) == PT_OK);
    ck_assert(need(&cfg) == cpu + (double)BACKEND_CUDA_WORKSPACE_BYTES);
    ck_assert_int_eq(memplan_check_gpu(&cfg, cpu, &err), PT_OK);
    ck_assert_int_eq(memplan_check_gpu(&cfg, cpu - 1, &err), PT_EINPUT);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    ck_assert_msg(strstr(err.msg, " per GPU (params ") && strstr(err.msg, ", workspace ") == NULL &&
                  strstr(err.msg, "but the GPU has ") && !strstr(err.msg, " rank:"), "%s", err.msg);
}
END_TEST

START_TEST(a_model_that_fits_passes)
{
    Config cfg = base();
    Error err = {0};
    double n = need(&cfg);
    ck_assert_int_eq(memplan_check(&cfg, 1, n, &err), PT_OK);
    ck_assert_int_eq(memplan_check(&cfg, 4, 4 * n + 1, &err), PT_OK);
    ck_assert_int_eq(err.code, PT_OK);
}
END_TEST

START_TEST(a_model_that_does_not_fit_is_refused_in_one_line)
{
    Config cfg = base();
    Error err = {0};
    ck_assert(config_set(&cfg, "model.hidden_size=65536", &err) == PT_OK);
    ck_assert(config_set(&cfg, "model.intermediate_size=131072", &err) == PT_OK);
    ck_assert_int_eq(memplan_check(&cfg, 1, 22.9e9, &err), PT_EINPUT);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    ck_assert_msg(strstr(err.msg, "per rank (params ") && strstr(err.msg, ", grads ") &&
                  strstr(err.msg, ", AdamW ") && strstr(err.msg, ", activations "), "%s",
                  err.msg);
    ck_assert_msg(strstr(err.msg, "but this node has 22.9 GB available for 1 rank:"), "%s",
                  err.msg);
    ck_assert_msg(strstr(err.msg, "training.skip_memory_check"), "%s", err.msg);
    /* the total is the one of the estimate, in its unit */
    char want[64];
    double n = need(&cfg);
    if (n >= 1e12)
        snprintf(want, sizeof want, "needs %.1f TB per rank", n / 1e12);
    else
        snprintf(want, sizeof want, "needs %.1f GB per rank", n / 1e9);
    ck_assert_msg(strstr(err.msg, want), "%s (want %s)", err.msg, want);
}
END_TEST

START_TEST(the_ranks_on_the_node_multiply_the_need)
{
    Config cfg = base();
    Error err = {0};
    double n = need(&cfg);
    ck_assert_int_eq(memplan_check(&cfg, 2, 1.5 * n, &err), PT_EINPUT);
    ck_assert_msg(strstr(err.msg, "for 2 ranks:"), "%s", err.msg);
}
END_TEST

START_TEST(the_largest_stage_is_compared)
{
    Config cfg = base();
    Error err = {0};
    ck_assert(config_set(&cfg, "distributed.pp_size=2", &err) == PT_OK);
    MemPlan plan;
    memplan_estimate(&cfg, &plan);
    double a = memplan_stage_total(&plan.stage[0]), z = memplan_stage_total(&plan.stage[1]);
    memplan_free(&plan);
    double lo = a < z ? a : z, hi = a > z ? a : z;
    ck_assert(lo < hi);
    ck_assert_int_eq(memplan_check(&cfg, 1, (lo + hi) / 2, &err), PT_EINPUT);
    err = (Error){0};
    ck_assert_int_eq(memplan_check(&cfg, 1, hi, &err), PT_OK);
}
END_TEST

START_TEST(unknown_memory_passes)
{
    Config cfg = base();
    Error err = {0};
    ck_assert(config_set(&cfg, "model.hidden_size=65536", &err) == PT_OK);
    ck_assert_int_eq(memplan_check(&cfg, 1, 0, &err), PT_OK);
}
END_TEST

START_TEST(this_machine_reports_some_memory)
{
    ck_assert(memplan_available() > 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("memplan");
    TCase *gpu = tcase_create("gpu");
    tcase_add_test(gpu, on_cuda_the_workspace_counts_once_per_gpu);
    suite_add_tcase(s, gpu);
    TCase *tc = tcase_create("check");
    tcase_add_test(tc, a_model_that_fits_passes);
    tcase_add_test(tc, a_model_that_does_not_fit_is_refused_in_one_line);
    tcase_add_test(tc, the_ranks_on_the_node_multiply_the_need);
    tcase_add_test(tc, the_largest_stage_is_compared);
    tcase_add_test(tc, unknown_memory_passes);
    tcase_add_test(tc, this_machine_reports_some_memory);
    suite_add_tcase(s, tc);
    return check_run(s);
}
