/* test_preflight: picotron-train's input checks as one call, without MPI or a model: a hub
 * dataset name, missing shards, a bad token within the first step's samples (and none beyond
 * them), the validation shards, a checkpoint to load that is not there, a `latest` that leads
 * nowhere, committed checkpoints without a `latest` under resume "auto", and a config made
 * invalid by an override are refused, each with the one line that names the key or file; a good
 * config passes. */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_run.h"
#include "config.h"
#include "data.h"
#include "preflight.h"

static char dir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/pt_test_preflight_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* tiny (V = 256), T = 8, mbs 2, dp 1: the first step reads samples 0 and 1, tokens [0, 17) */
static void load(Config *cfg, const char *dataset)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{\"model\": {\"name\": \"tiny\", \"dtype\": \"float32\"},"
             " \"training\": {\"seq_length\": 8, \"micro_batch_size\": 2, \"total_train_steps\": 3},"
             " \"dataset\": {\"name\": \"%s\"},"
             " \"checkpoint\": {\"save_dir\": \"%s/ckpt\"}, \"logging\": {\"run_dir\": \"%s\"}}",
             dataset, dir, dir);
    Error err = {0};
    config_warnings(0);
    ck_assert_msg(config_parse(cfg, text, "config.json", &err) == PT_OK, "%s", err.msg);
}

static void set(Config *cfg, const char *assignment)
{
    Error err = {0};
    ck_assert_msg(config_set(cfg, assignment, &err) == PT_OK, "%s", err.msg);
}

/* 64 tokens, all 1 but token `bad_at` (−1: none) = 300 >= V, as a v7 shard at dir/name. */
static void shard(const char *name, int bad_at, char *path, size_t len)
{
    int32_t tok[64];
    for (int i = 0; i < 64; i++)
        tok[i] = i == bad_at ? 300 : 1;
    snprintf(path, len, "%s/%s", dir, name);
    Error err = {0};
    ck_assert_msg(data_write_shard(path, tok, 64, 1, &err) == PT_OK, "%s", err.msg);
}

/* preflight_check refuses cfg with PT_EINPUT and a one-line message starting with prefix. */
static void refused(const Config *cfg, const char *prefix)
{
    Error err = {0};
    ck_assert_int_eq(preflight_check(cfg, &err), PT_EINPUT);
    ck_assert_msg(!strncmp(err.msg, prefix, strlen(prefix)), "want '%s...', got '%s'", prefix,
                  err.msg);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
}

static void passes(const Config *cfg)
{
    Error err = {0};
    ck_assert_msg(preflight_check(cfg, &err) == PT_OK, "%s", err.msg);
}

START_TEST(a_good_config_passes)
{
    Config cfg;
    load(&cfg, "synthetic");
    passes(&cfg);
    char path[256];
    shard("good.bin", -1, path, sizeof path);
    load(&cfg, path);
    passes(&cfg);
}
END_TEST

START_TEST(a_hub_dataset_name_is_refused_naming_the_key)
{
    Config cfg;
    load(&cfg, "roneneldan/TinyStories"); /* upstream's default */
    refused(&cfg, "dataset.name: \"roneneldan/TinyStories\" is not a file or glob");
    char glob[256];
    snprintf(glob, sizeof glob, "%s/none_*.bin", dir);
    load(&cfg, glob);
    refused(&cfg, "dataset.name: glob");
}
END_TEST

START_TEST(a_bad_token_anywhere_is_refused_and_lazy_defers_only_unread_shards)
{
    Config cfg;
    char path[256], glob[300];
    shard("last_of_step.bin", 16, path, sizeof path); /* sample 1's last target */
    load(&cfg, path);
    refused(&cfg, path);
    shard("last_token.bin", 63, path, sizeof path); /* read by no sample of step 1 */
    load(&cfg, path);
    refused(&cfg, path);
    set(&cfg, "dataset.validate=lazy"); /* step 1 reads from this shard: all of it is checked */
    refused(&cfg, path);
    shard("two_a.bin", -1, path, sizeof path);
    shard("two_b.bin", 63, path, sizeof path); /* step 1 stays in two_a */
    snprintf(glob, sizeof glob, "%s/two_?.bin", dir);
    load(&cfg, glob);
    refused(&cfg, path);
    set(&cfg, "dataset.validate=lazy");
    passes(&cfg);
}
END_TEST

START_TEST(validation_shards_are_checked_too)
{
    Config cfg;
    char good[256], bad[256], a[512];
    shard("train.bin", -1, good, sizeof good);
    shard("val.bin", 3, bad, sizeof bad);
    load(&cfg, good);
    snprintf(a, sizeof a, "dataset.validation=%s", bad);
    set(&cfg, a);
    set(&cfg, "dataset.eval_every=1");
    refused(&cfg, bad);
    snprintf(a, sizeof a, "dataset.validation=%s/val_*.bin", dir);
    set(&cfg, a);
    refused(&cfg, "dataset.name: glob"); /* data_open names the key of the training set */
}
END_TEST

START_TEST(a_checkpoint_that_is_not_there_is_refused_naming_the_key)
{
    Config cfg;
    char a[512];
    load(&cfg, "synthetic");
    snprintf(a, sizeof a, "checkpoint.load_path=%s/nope", dir);
    set(&cfg, a);
    refused(&cfg, "checkpoint.load_path: ");
    load(&cfg, "synthetic");
    snprintf(a, sizeof a, "checkpoint.init_from=%s/nope", dir);
    set(&cfg, a);
    refused(&cfg, "checkpoint.init_from: ");
}
END_TEST

START_TEST(resume_auto_starts_fresh_without_latest_and_refuses_a_latest_leading_nowhere)
{
    Config cfg;
    load(&cfg, "synthetic");
    set(&cfg, "checkpoint.resume=auto");
    passes(&cfg); /* no save_dir yet: a fresh start */
    char path[256];
    snprintf(path, sizeof path, "%s/ckpt", dir);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    snprintf(path, sizeof path, "%s/ckpt/latest", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("step_00000009\n", f);
    fclose(f);
    refused(&cfg, "checkpoint.resume: ");
}
END_TEST

/* dir/ckpt/NAME/ (and its meta.h5 when committed), as a save would leave it. */
static void step_dir(const char *name, int committed)
{
    char path[256];
    snprintf(path, sizeof path, "%s/ckpt", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/ckpt/%s", dir, name);
    ck_assert_int_eq(mkdir(path, 0755), 0);
    if (committed) {
        snprintf(path, sizeof path, "%s/ckpt/%s/meta.h5", dir, name);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fclose(f);
    }
}

/* Without `latest` a fresh start would train from step 0 and point `latest` past the
 * checkpoints already there; only leftovers of killed saves (step_N.tmp, no meta.h5) start
 * fresh. */
START_TEST(resume_auto_without_latest_refuses_committed_checkpoints_naming_the_newest)
{
    Config cfg;
    load(&cfg, "synthetic");
    set(&cfg, "checkpoint.resume=auto");
    step_dir("step_00000009.tmp", 1);
    step_dir("step_00000008", 0);
    passes(&cfg);
    step_dir("step_00000003", 1);
    step_dir("step_00000006", 1);
    Error err = {0};
    ck_assert_int_eq(preflight_check(&cfg, &err), PT_EINPUT);
    char want[256];
    snprintf(want, sizeof want, "set checkpoint.load_path to %s/ckpt/step_00000006 ", dir);
    ck_assert_msg(strstr(err.msg, want), "'%s' lacks '%s'", err.msg, want);
    ck_assert_msg(!strncmp(err.msg, "checkpoint.resume: ", 19), "%s", err.msg);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
}
END_TEST

START_TEST(an_override_that_breaks_the_config_is_refused)
{
    Config cfg;
    load(&cfg, "synthetic");
    set(&cfg, "distributed.tp_size=3"); /* each value is fine; the mesh is checked after */
    refused(&cfg, "distributed.tp_size");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("preflight");
    TCase *tc = tcase_create("checks");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, a_good_config_passes);
    tcase_add_test(tc, a_hub_dataset_name_is_refused_naming_the_key);
    tcase_add_test(tc, a_bad_token_anywhere_is_refused_and_lazy_defers_only_unread_shards);
    tcase_add_test(tc, validation_shards_are_checked_too);
    tcase_add_test(tc, a_checkpoint_that_is_not_there_is_refused_naming_the_key);
    tcase_add_test(tc, resume_auto_starts_fresh_without_latest_and_refuses_a_latest_leading_nowhere);
    tcase_add_test(tc, resume_auto_without_latest_refuses_committed_checkpoints_naming_the_newest);
    tcase_add_test(tc, an_override_that_breaks_the_config_is_refused);
    suite_add_tcase(s, tc);
    return check_run(s);
}
