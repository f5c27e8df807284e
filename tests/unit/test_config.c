/* test_config: picotron's own files parse as they are; missing keys take picotron's defaults;
 * every kind of bad value is one PT_EINPUT line naming its key; unknown keys only warn;
 * to_json round-trips; --set goes through the same checks; examples/ and docs/ are in step.
 * Run from the repository root (the Makefile does). */
#include <check.h>
#include <glob.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "config.h"
#include "models.h"

/* picotron's template config, verbatim, nulls included */
static const char *PICOTRON =
    "{\"distributed\": {\"tp_size\": 1, \"cp_size\": 1, \"pp_size\": 1, \"dp_size\": 1,"
    " \"pp_engine\": \"1f1b\", \"backend\": \"nccl\", \"use_cpu\": false},\n"
    " \"model\": {\"name\": \"HuggingFaceTB/SmolLM-360M-Instruct\", \"num_hidden_layers\": 16,"
    " \"num_attention_heads\": 16, \"num_key_value_heads\": 4, \"dtype\": \"bfloat16\","
    " \"use_flash_attention\": true, \"use_fused_adam\": true},\n"
    " \"training\": {\"seed\": 42, \"learning_rate\": 3e-4, \"total_train_steps\": 200,"
    " \"seq_length\": 1024, \"micro_batch_size\": 32, \"gradient_accumulation_steps\": 1,"
    " \"num_samples\": 400000, \"max_tokens\": null},\n"
    " \"dataset\": {\"name\": \"roneneldan/TinyStories\", \"num_workers\": 0, \"num_proc\": 1,"
    " \"subset_name\": null},\n"
    " \"checkpoint\": {\"save_dir\": \"ckpt\", \"save_frequency\": 300, \"load_path\": \"\"},\n"
    " \"logging\": {\"use_wandb\": false, \"project_name\": \"picotron\", \"run_name\": null},\n"
    " \"environment\": {\"OMP_NUM_THREADS\": \"1\", \"TOKENIZERS_PARALLELISM\": \"false\","
    " \"FLASH_ATTEN\": \"1\", \"HF_TOKEN\": null}}";

/* the smallest valid config; bad-value tests change one key of it */
static const char *BASE = "{\"model\": {\"name\": \"tiny\"}, \"training\": {\"seq_length\": 64},"
                          " \"dataset\": {\"name\": \"synthetic\"}}";

/* ---- stderr capture: warnings are checked, and kept out of the test log ---- */

static char captured[16384];
static FILE *capture_file;
static int saved_stderr = -1;

static void capture_begin(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    ck_assert_ptr_nonnull(capture_file);
    saved_stderr = dup(2);
    dup2(fileno(capture_file), 2);
}

static const char *capture_end(void)
{
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    rewind(capture_file);
    size_t n = fread(captured, 1, sizeof captured - 1, capture_file);
    captured[n] = '\0';
    fclose(capture_file);
    return captured;
}

static int count(const char *haystack, const char *needle)
{
    int n = 0;
    for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* ---- helpers ---- */

static int parse(Config *cfg, const char *text, Error *err)
{
    capture_begin();
    int rc = config_parse(cfg, text, "config.json", err);
    capture_end();
    return rc;
}

static Config parse_ok(const char *text)
{
    Config cfg;
    Error err = {0};
    ck_assert_msg(parse(&cfg, text, &err) == PT_OK, "%s", err.msg);
    return cfg;
}

/* BASE with one more key: with("training.seq_length", "\"abc\"") */
static char *with2(const char *path1, const char *value1, const char *path2, const char *value2)
{
    json_t *root = json_loads(BASE, 0, NULL);
    const char *paths[2] = {path1, path2}, *values[2] = {value1, value2};
    for (int i = 0; i < 2 && paths[i]; i++) {
        char section[32];
        const char *dot = strchr(paths[i], '.');
        snprintf(section, sizeof section, "%.*s", (int)(dot - paths[i]), paths[i]);
        json_t *s = json_object_get(root, section);
        if (!s) {
            s = json_object();
            json_object_set_new(root, section, s);
        }
        json_t *v = json_loads(values[i], JSON_DECODE_ANY, NULL);
        ck_assert_ptr_nonnull(v);
        json_object_set_new(s, dot + 1, v);
    }
    char *text = json_dumps(root, 0);
    json_decref(root);
    return text;
}

static char *with(const char *path, const char *value) { return with2(path, value, NULL, NULL); }

static void expect_error_text(const char *text, const char *needle)
{
    Config cfg;
    Error err = {0};
    ck_assert_int_eq(parse(&cfg, text, &err), PT_EINPUT);
    ck_assert_msg(strstr(err.msg, needle), "message \"%s\" lacks \"%s\"", err.msg, needle);
}

static void expect_error2(const char *p1, const char *v1, const char *p2, const char *v2,
                          const char *needle)
{
    char *text = with2(p1, v1, p2, v2);
    expect_error_text(text, needle);
    free(text);
}

static void expect_error(const char *path, const char *value, const char *needle)
{
    expect_error2(path, value, NULL, NULL, needle);
}

/* ---- picotron's files and defaults ---- */

START_TEST(picotron_config_parses_verbatim)
{
    Config c = parse_ok(PICOTRON);
    ck_assert_str_eq(c.distributed.backend, "nccl");
    ck_assert_int_eq(c.distributed.use_cpu, 0);
    ck_assert_str_eq(c.model.name, "HuggingFaceTB/SmolLM-360M-Instruct");
    ck_assert_int_eq(c.model.dims.hidden_size, 960);   /* from the preset */
    ck_assert_int_eq(c.model.dims.num_hidden_layers, 16); /* overridden */
    ck_assert_int_eq(c.model.dims.num_attention_heads, 16);
    ck_assert_int_eq(c.model.dims.num_key_value_heads, 4);
    ck_assert_int_eq(c.model.dims.max_position_embeddings, 1024); /* = seq_length */
    ck_assert_int_eq(c.model.use_flash_attention, 1);
    ck_assert_int_eq(c.training.micro_batch_size, 32);
    ck_assert_int_eq(c.training.num_samples, 400000);
    ck_assert_int_eq(c.training.max_tokens, 0);
    ck_assert_double_eq(c.training.learning_rate, 3e-4);
    ck_assert_str_eq(c.dataset.subset_name, "");
    ck_assert_int_eq(c.checkpoint.save_frequency, 300);
    ck_assert_str_eq(c.logging.run_name, "");
    ck_assert_int_eq(c.environment.omp_num_threads, 1);
    ck_assert_str_eq(c.environment.tokenizers_parallelism, "false");
    ck_assert_str_eq(c.environment.hf_token, "");
}
END_TEST

START_TEST(missing_keys_take_picotron_defaults)
{
    Config c = parse_ok("{\"model\": {\"name\": \"tiny\"}, \"dataset\": {\"name\": \"synthetic\"}}");
    ck_assert_int_eq(c.distributed.tp_size, 1);
    ck_assert_int_eq(c.distributed.dp_size, 1);
    ck_assert_str_eq(c.distributed.pp_engine, "1f1b");
    ck_assert_str_eq(c.distributed.backend, "mpi");
    ck_assert_int_eq(c.distributed.use_cpu, 1);
    ck_assert_int_eq(c.distributed.zero_stage, 0);
    ck_assert_str_eq(c.model.dtype, "float32");
    ck_assert_int_eq(c.training.seed, 42);
    ck_assert_double_eq(c.training.learning_rate, 3e-4);
    ck_assert_int_eq(c.training.total_train_steps, 200);
    ck_assert_int_eq(c.training.seq_length, 1024);
    ck_assert_int_eq(c.training.micro_batch_size, 1);
    ck_assert_int_eq(c.training.gradient_accumulation_steps, 1);
    ck_assert_int_eq(c.training.num_samples, 0);
    ck_assert_double_eq(c.optimizer.beta1, 0.9);
    ck_assert_double_eq(c.optimizer.beta2, 0.999);
    ck_assert_double_eq(c.optimizer.eps, 1e-8);
    ck_assert_double_eq(c.optimizer.weight_decay, 0.01);
    ck_assert_int_eq(c.optimizer.decay_norms, 1);
    ck_assert_double_eq(c.optimizer.grad_clip, 0);
    ck_assert_str_eq(c.optimizer.lr_schedule, "constant");
    ck_assert_int_eq(c.optimizer.warmup_steps, 0);
    ck_assert_int_eq(c.dataset.shuffle, 0);
    ck_assert_int_eq(c.dataset.eval_every, 0);
    ck_assert_int_eq(c.dataset.eval_samples, 16);
    ck_assert_str_eq(c.dataset.split, "train");
    ck_assert_str_eq(c.checkpoint.save_dir, "ckpt");
    ck_assert_int_eq(c.checkpoint.save_frequency, 0);
    ck_assert_str_eq(c.checkpoint.resume, "");
    ck_assert_int_eq(c.checkpoint.keep_last, 0);
    ck_assert_str_eq(c.logging.project_name, "picotron");
    ck_assert_str_eq(c.logging.run_dir, "");
    ck_assert_int_eq(c.logging.log_frequency, 1);
    ck_assert_int_eq(c.environment.omp_num_threads, 0);
    ck_assert_int_eq(config_global_batch(&c), 1);
}
END_TEST

START_TEST(explicit_model_keys_override_the_preset)
{
    Config c = parse_ok("{\"model\": {\"name\": \"smollm-135m\", \"hidden_size\": 288,"
                        " \"intermediate_size\": 768, \"vocab_size\": 1000, \"rope_theta\": 5e5,"
                        " \"tie_word_embeddings\": false, \"max_position_embeddings\": 4096},"
                        " \"dataset\": {\"name\": \"synthetic\"}}");
    ck_assert_int_eq(c.model.dims.num_hidden_layers, 30);
    ck_assert_int_eq(c.model.dims.num_attention_heads, 9);
    ck_assert_int_eq(c.model.dims.hidden_size, 288);
    ck_assert_int_eq(c.model.dims.intermediate_size, 768);
    ck_assert_int_eq(c.model.dims.vocab_size, 1000);
    ck_assert_double_eq(c.model.dims.rope_theta, 5e5);
    ck_assert_int_eq(c.model.dims.tie_word_embeddings, 0);
    ck_assert_int_eq(c.model.dims.max_position_embeddings, 4096);
}
END_TEST

START_TEST(explicit_dims_without_a_name_default_kv_heads_to_heads)
{
    Config c = parse_ok("{\"model\": {\"num_hidden_layers\": 3, \"hidden_size\": 96,"
                        " \"num_attention_heads\": 6, \"intermediate_size\": 256,"
                        " \"vocab_size\": 100}, \"training\": {\"seq_length\": 32},"
                        " \"dataset\": {\"name\": \"synthetic\"}}");
    ck_assert_int_eq(c.model.dims.num_key_value_heads, 6);
    ck_assert_int_eq(c.model.dims.max_position_embeddings, 32);
    ck_assert_double_eq(c.model.dims.rope_theta, 10000.0);
    ck_assert_double_eq(c.model.dims.rms_norm_eps, 1e-5);
    ck_assert_int_eq(c.model.dims.tie_word_embeddings, 0);
}
END_TEST

START_TEST(no_name_and_a_missing_dimension_is_an_error)
{
    expect_error_text("{\"model\": {\"num_hidden_layers\": 3, \"hidden_size\": 96,"
                      " \"num_attention_heads\": 6, \"intermediate_size\": 256},"
                      " \"dataset\": {\"name\": \"synthetic\"}}",
                      "model.vocab_size: missing");
}
END_TEST

START_TEST(omp_num_threads_is_a_string_or_an_integer)
{
    char *text = with("environment.OMP_NUM_THREADS", "3");
    Config c = parse_ok(text);
    free(text);
    ck_assert_int_eq(c.environment.omp_num_threads, 3);
    text = with("environment.OMP_NUM_THREADS", "\"4\"");
    c = parse_ok(text);
    free(text);
    ck_assert_int_eq(c.environment.omp_num_threads, 4);
    expect_error("environment.OMP_NUM_THREADS", "\"many\"", "environment.OMP_NUM_THREADS:");
}
END_TEST

START_TEST(whole_reals_are_accepted_for_integers)
{
    char *text = with("training.num_samples", "4e5");
    Config c = parse_ok(text);
    free(text);
    ck_assert_int_eq(c.training.num_samples, 400000);
}
END_TEST

/* ---- one test per kind of bad value ---- */

START_TEST(wrong_type_names_key_and_value)
{
    expect_error("training.seq_length", "\"abc\"",
                 "training.seq_length: expected an integer, got string \"abc\"");
}
END_TEST

START_TEST(fractional_integer_is_a_type_error)
{
    expect_error("training.micro_batch_size", "3.5",
                 "training.micro_batch_size: expected an integer, got number 3.5");
}
END_TEST

START_TEST(wrong_type_for_bool_and_string)
{
    expect_error("dataset.shuffle", "1", "dataset.shuffle: expected true or false, got integer 1");
    expect_error("model.dtype", "32", "model.dtype: expected a string, got integer 32");
}
END_TEST

START_TEST(section_that_is_not_an_object_is_an_error)
{
    expect_error_text("{\"model\": [1], \"dataset\": {\"name\": \"synthetic\"}}",
                      "model: expected an object, got an array");
}
END_TEST

/* Jansson keeps the last of two equal keys; the first must not vanish without a word. */
START_TEST(duplicate_section_is_refused_naming_key_and_place)
{
    Config cfg;
    Error err = {0};
    const char *text = "{\"training\": {\"seq_length\": 32},\n"
                       " \"training\": {\"seq_length\": 1024}}";
    ck_assert_int_eq(parse(&cfg, text, &err), PT_EINPUT);
    ck_assert_msg(strncmp(err.msg, "config.json:2:", 14) == 0, "\"%s\" lacks file:line", err.msg);
    ck_assert_msg(strstr(err.msg, "duplicate key \"training\""), "\"%s\"", err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "not one line: \"%s\"", err.msg);
}
END_TEST

START_TEST(duplicate_key_inside_a_section_is_refused)
{
    expect_error_text("{\"training\": {\"seq_length\": 32, \"seq_length\": 1024}}",
                      "config.json:1:");
    expect_error_text("{\"training\": {\"seq_length\": 32, \"seq_length\": 32}}",
                      "duplicate key \"seq_length\"");
}
END_TEST

START_TEST(negative_size_is_a_range_error)
{
    expect_error("training.seq_length", "-3", "training.seq_length: must be > 0, got -3");
}
END_TEST

START_TEST(zero_size_is_a_range_error)
{
    expect_error("training.micro_batch_size", "0",
                 "training.micro_batch_size: must be > 0, got 0");
    expect_error("distributed.dp_size", "0", "distributed.dp_size: must be > 0, got 0");
}
END_TEST

START_TEST(integer_overflow_is_a_range_error)
{
    expect_error("training.total_train_steps", "10000000000", "training.total_train_steps: must be");
}
END_TEST

START_TEST(negative_seed_is_a_range_error)
{
    expect_error("training.seed", "-1", "training.seed: must be >= 0, got -1");
}
END_TEST

START_TEST(beta_out_of_range)
{
    expect_error("optimizer.beta2", "1.0", "optimizer.beta2: must be in [0, 1), got 1");
    expect_error("optimizer.beta1", "-0.5", "optimizer.beta1: must be in [0, 1), got -0.5");
}
END_TEST

START_TEST(nonpositive_learning_rate_and_eps)
{
    expect_error("training.learning_rate", "0", "training.learning_rate: must be > 0, got 0");
    expect_error("optimizer.eps", "-1e-8", "optimizer.eps: must be > 0");
    expect_error("optimizer.weight_decay", "-0.1", "optimizer.weight_decay: must be >= 0");
    expect_error("optimizer.grad_clip", "-1", "optimizer.grad_clip: must be >= 0");
}
END_TEST

START_TEST(min_lr_above_learning_rate)
{
    expect_error("optimizer.min_lr", "0.01", "optimizer.min_lr: must be <= training.learning_rate");
}
END_TEST

START_TEST(warmup_longer_than_training)
{
    expect_error("optimizer.warmup_steps", "500",
                 "optimizer.warmup_steps: must be <= training.total_train_steps 200, got 500");
}
END_TEST

START_TEST(zero_stage_is_0_or_1)
{
    expect_error("distributed.zero_stage", "2", "distributed.zero_stage: must be 0 or 1, got 2");
}
END_TEST

START_TEST(unknown_pp_engine_lists_the_choices)
{
    expect_error("distributed.pp_engine", "\"gpipe\"",
                 "distributed.pp_engine: must be one of \"afab\", \"1f1b\"; got \"gpipe\"");
}
END_TEST

START_TEST(unknown_choice_strings)
{
    expect_error("distributed.backend", "\"tcp\"", "distributed.backend: must be one of");
    expect_error("model.dtype", "\"float16\"",
                 "model.dtype: must be one of \"float32\", \"bfloat16\"; got \"float16\"");
    expect_error("optimizer.lr_schedule", "\"linear\"", "optimizer.lr_schedule: must be one of");
    expect_error("checkpoint.resume", "\"yes\"",
                 "checkpoint.resume: must be one of \"\", \"auto\"; got \"yes\"");
}
END_TEST

START_TEST(missing_dataset_name)
{
    expect_error_text("{\"model\": {\"name\": \"tiny\"}}",
                      "dataset.name: missing; give a shard path/glob or \"synthetic\"");
}
END_TEST

START_TEST(heads_not_divisible_by_kv_heads)
{
    expect_error("model.num_key_value_heads", "3",
                 "model.num_key_value_heads: 3 does not divide num_attention_heads 4");
}
END_TEST

START_TEST(hidden_not_divisible_by_heads_or_odd_head_dim)
{
    expect_error("model.hidden_size", "66", "model.hidden_size: 66 is not divisible by");
    expect_error("model.hidden_size", "68", "model.hidden_size: head dim 68 / 4 = 17 must be even");
}
END_TEST

START_TEST(heads_not_divisible_by_tp)
{
    expect_error("distributed.tp_size", "8",
                 "distributed.tp_size: 8 does not divide model.num_attention_heads 4");
}
END_TEST

START_TEST(kv_heads_not_divisible_by_tp)
{
    expect_error("distributed.tp_size", "4",
                 "distributed.tp_size: 4 does not divide model.num_key_value_heads 2");
}
END_TEST

START_TEST(fewer_layers_than_pipeline_stages)
{
    expect_error("distributed.pp_size", "3",
                 "distributed.pp_size: 3 stages but model.num_hidden_layers is 2");
}
END_TEST

START_TEST(seq_length_not_divisible_by_2cp)
{
    expect_error("distributed.cp_size", "3",
                 "training.seq_length: 64 is not divisible by 2 * distributed.cp_size = 6");
    char *text = with("distributed.cp_size", "2");
    parse_ok(text);
    free(text);
}
END_TEST

/* max_position_embeddings follows seq_length, so a seq_length past the limit used to be
 * reported as "model.max_position_embeddings: ... is larger than the supported ...", naming a
 * key the config never set. */
START_TEST(seq_length_too_large_names_seq_length)
{
    expect_error("training.seq_length", "20000000",
                 "training.seq_length: 20000000 is larger than the supported 16777216");
    /* an explicit max_position_embeddings past the limit is still named as itself */
    expect_error("model.max_position_embeddings", "20000000",
                 "model.max_position_embeddings: 20000000 is larger than the supported 16777216");
}
END_TEST

START_TEST(load_path_and_init_from_are_exclusive)
{
    expect_error2("checkpoint.load_path", "\"a\"", "checkpoint.init_from", "\"b\"",
                  "checkpoint.init_from:");
}
END_TEST

START_TEST(invalid_json_reports_line_and_column)
{
    expect_error_text("{\"model\": {\"name\": \"tiny\"},\n \"training\": {\"seq_length\": 64,}\n}",
                      "config.json:2:");
    expect_error_text("{\n\n  \"model\": {\"name\" \"tiny\"}}", "config.json:3:");
    expect_error_text("{\"model\": {}}, \"x\"", "invalid JSON");
}
END_TEST

START_TEST(unknown_model_name)
{
    expect_error("model.name", "\"foo\"", "model.name: unknown model \"foo\"; presets: smollm-135m");
}
END_TEST

START_TEST(string_too_long_for_its_field)
{
    char value[400];
    memset(value, 'x', sizeof value);
    value[0] = '"';
    value[sizeof value - 2] = '"';
    value[sizeof value - 1] = '\0';
    expect_error("logging.run_name", value, "logging.run_name: longer than 255 characters");
}
END_TEST

/* ---- warnings ---- */

START_TEST(unknown_keys_warn_one_line_each_and_parse)
{
    Config c;
    Error err = {0};
    capture_begin();
    int rc = config_parse(&c,
                          "{\"model\": {\"name\": \"tiny\", \"foo\": 1}, \"bar\": {},"
                          " \"dataset\": {\"name\": \"synthetic\", \"streaming\": true}}",
                          "config.json", &err);
    const char *out = capture_end();
    ck_assert_msg(rc == PT_OK, "%s", err.msg);
    ck_assert_int_eq(count(out, "picotron: warning: "), 3);
    ck_assert_int_eq(count(out, "\n"), 3);
    ck_assert_ptr_nonnull(strstr(out, "unknown key \"model.foo\""));
    ck_assert_ptr_nonnull(strstr(out, "unknown key \"dataset.streaming\""));
    ck_assert_ptr_nonnull(strstr(out, "unknown section \"bar\""));
}
END_TEST

/* picotron's template asks for the GPU (use_cpu false, nccl, bfloat16): one line says what
 * runs instead. */
START_TEST(a_gpu_config_warns_once_on_the_cpu)
{
    Config c;
    Error err = {0};
    capture_begin();
    int rc = config_parse(&c, PICOTRON, "config.json", &err);
    const char *out = capture_end();
    ck_assert_msg(rc == PT_OK, "%s", err.msg);
    ck_assert_str_eq(out, "picotron: warning: distributed.use_cpu is false (backend \"nccl\", "
                          "dtype \"bfloat16\"): picotron-train computes in float32 over MPI, "
                          "on the device environment.device picks (\"auto\")\n");
}
END_TEST

/* use_cpu true is what create-config --use_cpu writes (gloo, and bfloat16 from the template):
 * picotron itself runs gloo and float32 there, as we do, so nothing is said. */
START_TEST(a_cpu_config_is_silent_whatever_its_backend_and_dtype)
{
    const char *backends[] = {"gloo", "mpi", "nccl"};
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "{\"distributed\": {\"backend\": \"%s\", \"use_cpu\": true}, "
                 "\"model\": {\"name\": \"tiny\", \"dtype\": \"bfloat16\"}, "
                 "\"dataset\": {\"name\": \"synthetic\"}}", backends[i]);
        Config c;
        Error err = {0};
        capture_begin();
        int rc = config_parse(&c, text, "config.json", &err);
        const char *out = capture_end();
        ck_assert_msg(rc == PT_OK, "%s", err.msg);
        ck_assert_msg(!*out, "backend %s warned: %s", backends[i], out);
    }
}
END_TEST

START_TEST(clean_config_prints_nothing)
{
    Config c;
    Error err = {0};
    capture_begin();
    int rc = config_parse(&c, BASE, "config.json", &err);
    const char *out = capture_end();
    ck_assert_int_eq(rc, PT_OK);
    ck_assert_str_eq(out, "");
}
END_TEST

/* ---- round trip ---- */

static void expect_round_trip(const Config *a)
{
    char *text = config_to_json(a);
    ck_assert_ptr_nonnull(text);
    Config b = parse_ok(text);
    ck_assert_msg(memcmp(a, &b, sizeof b) == 0, "round trip differs:\n%s", text);
    char *again = config_to_json(&b);
    ck_assert_str_eq(text, again);
    free(again);
    free(text);
}

/* Each key's value alone is the value config_to_json writes under that key. */
START_TEST(key_value_is_the_value_to_json_writes)
{
    Config a = parse_ok(PICOTRON);
    a.training.learning_rate = 0.1 + 0.2;
    char *text = config_to_json(&a);
    json_t *all = json_loads(text, 0, NULL);
    const char *keys[] = {"training.learning_rate", "training.seed", "model.name",
                          "environment.OMP_NUM_THREADS", "distributed.use_cpu",
                          "training.max_tokens"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *dot = strchr(keys[i], '.');
        char section[32];
        snprintf(section, sizeof section, "%.*s", (int)(dot - keys[i]), keys[i]);
        json_t *v = config_key_value(&a, keys[i]);
        ck_assert_msg(json_equal(v, json_object_get(json_object_get(all, section), dot + 1)),
                      "%s", keys[i]);
        json_decref(v);
    }
    ck_assert_ptr_null(config_key_value(&a, "training.nosuch"));
    ck_assert_ptr_null(config_key_value(&a, "nosuch.key"));
    ck_assert_ptr_null(config_key_value(&a, "nodot"));
    json_decref(all);
    free(text);
}
END_TEST

START_TEST(to_json_round_trip_is_identical)
{
    Config a = parse_ok(PICOTRON);
    expect_round_trip(&a);
    a = parse_ok(BASE);
    a.training.learning_rate = 0.1 + 0.2; /* needs 17 digits */
    a.optimizer.min_lr = 1e-300;
    expect_round_trip(&a);
}
END_TEST

START_TEST(to_json_writes_resolved_dims_and_short_reals)
{
    Config a = parse_ok(PICOTRON);
    char *text = config_to_json(&a);
    ck_assert_ptr_nonnull(strstr(text, "\"hidden_size\": 960"));
    ck_assert_ptr_nonnull(strstr(text, "\"max_position_embeddings\": 1024"));
    ck_assert_ptr_nonnull(strstr(text, "\"learning_rate\": 0.0003,"));
    ck_assert_ptr_nonnull(strstr(text, "\"OMP_NUM_THREADS\": \"1\""));
    free(text);
}
END_TEST

/* picotron's nulls come back as nulls (its train.py runs while max_tokens is None: a 0 would
 * stop it at once), the values it writes as values; our 0 / "" mean the same as its null. */
START_TEST(to_json_keeps_picotrons_nulls)
{
    Config a = parse_ok(PICOTRON);
    char *text = config_to_json(&a);
    json_t *root = json_loads(text, 0, NULL);
    const char *nulls[][2] = {{"training", "max_tokens"}, {"dataset", "subset_name"},
                              {"logging", "run_name"}, {"environment", "HF_TOKEN"}};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        ck_assert_msg(json_is_null(json_object_get(json_object_get(root, nulls[i][0]),
                                                   nulls[i][1])),
                      "%s.%s is not null:\n%s", nulls[i][0], nulls[i][1], text);
    json_t *training = json_object_get(root, "training");
    ck_assert_int_eq(json_integer_value(json_object_get(training, "num_samples")), 400000);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(root, "checkpoint"),
                                                       "load_path")), "");
    json_decref(root);
    free(text);

    /* set values are written as values; num_samples 0 (the whole stream) is picotron's None */
    a.training.max_tokens = 4096;
    a.training.num_samples = 0;
    snprintf(a.logging.run_name, sizeof a.logging.run_name, "r1");
    text = config_to_json(&a);
    ck_assert_ptr_nonnull(strstr(text, "\"max_tokens\": 4096"));
    ck_assert_ptr_nonnull(strstr(text, "\"num_samples\": null"));
    ck_assert_ptr_nonnull(strstr(text, "\"run_name\": \"r1\""));
    free(text);
}
END_TEST

/* ---- --set ---- */

static void set_ok(Config *c, const char *assignment)
{
    Error err = {0};
    ck_assert_msg(config_set(c, assignment, &err) == PT_OK, "%s: %s", assignment, err.msg);
    ck_assert_msg(config_validate(c, &err) == PT_OK, "%s: %s", assignment, err.msg);
}

static void set_error(Config *c, const char *assignment, const char *needle)
{
    Error err = {0};
    int rc = config_set(c, assignment, &err);
    if (rc == PT_OK)
        rc = config_validate(c, &err);
    ck_assert_int_eq(rc, PT_EINPUT);
    ck_assert_msg(strstr(err.msg, needle), "message \"%s\" lacks \"%s\"", err.msg, needle);
}

START_TEST(set_overrides_through_the_same_checks)
{
    Config c = parse_ok(BASE);
    set_ok(&c, "training.seq_length=128");
    ck_assert_int_eq(c.training.seq_length, 128);
    ck_assert_int_eq(c.model.dims.max_position_embeddings, 128); /* it followed seq_length */
    set_ok(&c, "optimizer.grad_clip=1.0");
    ck_assert_double_eq(c.optimizer.grad_clip, 1.0);
    set_ok(&c, "dataset.shuffle=true");
    ck_assert_int_eq(c.dataset.shuffle, 1);
    set_error(&c, "training.seq_length=abc",
              "training.seq_length: expected an integer, got string \"abc\"");
    set_error(&c, "training.seq_length=-3", "training.seq_length: must be > 0, got -3");
    set_error(&c, "distributed.pp_engine=gpipe", "distributed.pp_engine: must be one of");
}
END_TEST

START_TEST(set_string_keys_take_the_text_as_is)
{
    Config c = parse_ok(BASE);
    set_ok(&c, "dataset.name=data/x/*.bin");
    ck_assert_str_eq(c.dataset.name, "data/x/*.bin");
    set_ok(&c, "logging.run_name=2024");
    ck_assert_str_eq(c.logging.run_name, "2024");
    set_ok(&c, "logging.run_name=\"quoted\"");
    ck_assert_str_eq(c.logging.run_name, "quoted");
    set_ok(&c, "logging.run_name=a=b");
    ck_assert_str_eq(c.logging.run_name, "a=b");
}
END_TEST

START_TEST(set_unknown_key_is_an_error)
{
    Config c = parse_ok(BASE);
    set_error(&c, "training.seq_len=64", "unknown key \"training.seq_len\"");
    set_error(&c, "nosuch.key=1", "unknown key \"nosuch.key\"");
    set_error(&c, "seq_length", "expected section.key=value");
}
END_TEST

START_TEST(set_model_name_resolves_the_preset)
{
    Config c = parse_ok(BASE);
    set_ok(&c, "model.name=smollm-135m");
    ck_assert_int_eq(c.model.dims.hidden_size, 576);
    ck_assert_int_eq(c.model.dims.max_position_embeddings, 64);
    set_ok(&c, "model.num_hidden_layers=4");
    ck_assert_int_eq(c.model.dims.num_hidden_layers, 4);
    set_error(&c, "model.name=foo", "model.name: unknown model \"foo\"");
}
END_TEST

START_TEST(set_null_restores_the_default)
{
    Config c = parse_ok(BASE);
    set_ok(&c, "optimizer.beta2=0.95");
    set_ok(&c, "optimizer.beta2=null");
    ck_assert_double_eq(c.optimizer.beta2, 0.999);
}
END_TEST

START_TEST(defaults_plus_sets_make_a_valid_config)
{
    Config c;
    config_defaults(&c);
    Error err = {0};
    ck_assert_int_eq(config_validate(&c, &err), PT_EINPUT);
    ck_assert_int_eq(config_set(&c, "model.name=tiny-mesh", &err), PT_OK);
    set_ok(&c, "dataset.name=synthetic");
    set_ok(&c, "distributed.tp_size=4");
    set_ok(&c, "distributed.pp_size=5");
    ck_assert_int_eq(c.model.dims.vocab_size, 300);
    ck_assert_int_eq(c.model.dims.max_position_embeddings, 1024);
}
END_TEST

/* ---- files ---- */

START_TEST(every_example_validates)
{
    glob_t g;
    ck_assert_int_eq(glob("examples/*.json", 0, NULL, &g), 0);
    ck_assert_uint_ge(g.gl_pathc, 8);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        Config c;
        Error err = {0};
        capture_begin();
        int rc = config_load(&c, g.gl_pathv[i], &err);
        const char *out = capture_end();
        ck_assert_msg(rc == PT_OK, "%s", err.msg);
        ck_assert_msg(!strstr(out, "unknown"), "%s: %s", g.gl_pathv[i], out);
        /* examples write under runs/ (an explicit run_dir) or beside themselves */
        ck_assert_msg(!strcmp(c.logging.run_dir, "examples") || !strncmp(c.logging.run_dir, "runs/", 5),
                      "%s: run_dir %s", g.gl_pathv[i], c.logging.run_dir);
    }
    globfree(&g);
}
END_TEST

START_TEST(demo_and_tiny_examples_have_the_intended_size)
{
    Config c;
    Error err = {0};
    capture_begin();
    int rc = config_load(&c, "examples/demo.json", &err);
    capture_end();
    ck_assert_msg(rc == PT_OK, "%s", err.msg);
    int64_t n = models_num_params(&c.model.dims);
    ck_assert_msg(n >= 1000000 && n <= 2000000, "demo has %lld params", (long long)n);
    ck_assert_str_eq(c.dataset.validation, "data/demo/val.bin");
    ck_assert_int_eq(c.dataset.eval_every, 50);
    capture_begin();
    rc = config_load(&c, "examples/tiny.json", &err);
    capture_end();
    ck_assert_msg(rc == PT_OK, "%s", err.msg);
    ck_assert_str_eq(c.dataset.name, "synthetic");
    /* "trains in seconds": a small model and a short run */
    ck_assert_int_le(c.training.total_train_steps, 100);
    ck_assert_int_le(models_num_params(&c.model.dims), 200000);
}
END_TEST

START_TEST(load_sets_run_dir_to_the_config_directory)
{
    char dir[64] = "/tmp/picotron-config-XXXXXX", file[96];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/config.json", dir);
    FILE *f = fopen(file, "w");
    fputs(BASE, f);
    fclose(f);
    Config c;
    Error err = {0};
    ck_assert_int_eq(config_load(&c, file, &err), PT_OK);
    ck_assert_str_eq(c.logging.run_dir, dir);
    unlink(file);
    rmdir(dir);
    ck_assert_int_eq(config_load(&c, file, &err), PT_EINPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "cannot open config"));
}
END_TEST

START_TEST(docs_mention_every_key)
{
    FILE *f = fopen("docs/config.md", "r");
    ck_assert_ptr_nonnull(f);
    static char doc[65536];
    doc[fread(doc, 1, sizeof doc - 1, f)] = '\0';
    fclose(f);
    Config c;
    config_defaults(&c);
    char *text = config_to_json(&c);
    json_t *root = json_loads(text, 0, NULL);
    const char *section, *key;
    json_t *s, *v;
    json_object_foreach(root, section, s) {
        json_object_foreach(s, key, v) {
            char path[128];
            snprintf(path, sizeof path, "`%s.%s`", section, key);
            ck_assert_msg(strstr(doc, path), "docs/config.md lacks %s", path);
        }
    }
    json_decref(root);
    free(text);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *t = tcase_create("parse");
    tcase_add_test(t, picotron_config_parses_verbatim);
    tcase_add_test(t, missing_keys_take_picotron_defaults);
    tcase_add_test(t, explicit_model_keys_override_the_preset);
    tcase_add_test(t, explicit_dims_without_a_name_default_kv_heads_to_heads);
    tcase_add_test(t, no_name_and_a_missing_dimension_is_an_error);
    tcase_add_test(t, omp_num_threads_is_a_string_or_an_integer);
    tcase_add_test(t, whole_reals_are_accepted_for_integers);
    suite_add_tcase(s, t);

    t = tcase_create("bad_values");
    tcase_add_test(t, wrong_type_names_key_and_value);
    tcase_add_test(t, fractional_integer_is_a_type_error);
    tcase_add_test(t, wrong_type_for_bool_and_string);
    tcase_add_test(t, section_that_is_not_an_object_is_an_error);
    tcase_add_test(t, duplicate_section_is_refused_naming_key_and_place);
    tcase_add_test(t, duplicate_key_inside_a_section_is_refused);
    tcase_add_test(t, negative_size_is_a_range_error);
    tcase_add_test(t, zero_size_is_a_range_error);
    tcase_add_test(t, integer_overflow_is_a_range_error);
    tcase_add_test(t, negative_seed_is_a_range_error);
    tcase_add_test(t, beta_out_of_range);
    tcase_add_test(t, nonpositive_learning_rate_and_eps);
    tcase_add_test(t, min_lr_above_learning_rate);
    tcase_add_test(t, warmup_longer_than_training);
    tcase_add_test(t, zero_stage_is_0_or_1);
    tcase_add_test(t, unknown_pp_engine_lists_the_choices);
    tcase_add_test(t, unknown_choice_strings);
    tcase_add_test(t, missing_dataset_name);
    tcase_add_test(t, heads_not_divisible_by_kv_heads);
    tcase_add_test(t, hidden_not_divisible_by_heads_or_odd_head_dim);
    tcase_add_test(t, heads_not_divisible_by_tp);
    tcase_add_test(t, kv_heads_not_divisible_by_tp);
    tcase_add_test(t, fewer_layers_than_pipeline_stages);
    tcase_add_test(t, seq_length_not_divisible_by_2cp);
    tcase_add_test(t, seq_length_too_large_names_seq_length);
    tcase_add_test(t, load_path_and_init_from_are_exclusive);
    tcase_add_test(t, invalid_json_reports_line_and_column);
    tcase_add_test(t, unknown_model_name);
    tcase_add_test(t, string_too_long_for_its_field);
    suite_add_tcase(s, t);

    t = tcase_create("warnings");
    tcase_add_test(t, unknown_keys_warn_one_line_each_and_parse);
    tcase_add_test(t, a_gpu_config_warns_once_on_the_cpu);
    tcase_add_test(t, a_cpu_config_is_silent_whatever_its_backend_and_dtype);
    tcase_add_test(t, clean_config_prints_nothing);
    suite_add_tcase(s, t);

    t = tcase_create("json_and_set");
    tcase_add_test(t, to_json_round_trip_is_identical);
    tcase_add_test(t, to_json_writes_resolved_dims_and_short_reals);
    tcase_add_test(t, to_json_keeps_picotrons_nulls);
    tcase_add_test(t, set_overrides_through_the_same_checks);
    tcase_add_test(t, set_string_keys_take_the_text_as_is);
    tcase_add_test(t, set_unknown_key_is_an_error);
    tcase_add_test(t, set_model_name_resolves_the_preset);
    tcase_add_test(t, set_null_restores_the_default);
    tcase_add_test(t, defaults_plus_sets_make_a_valid_config);
    tcase_add_test(t, key_value_is_the_value_to_json_writes);
    suite_add_tcase(s, t);

    t = tcase_create("files");
    tcase_add_test(t, every_example_validates);
    tcase_add_test(t, demo_and_tiny_examples_have_the_intended_size);
    tcase_add_test(t, load_sets_run_dir_to_the_config_directory);
    tcase_add_test(t, docs_mention_every_key);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return check_run(config_suite());
}
