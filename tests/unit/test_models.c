/* test_models: presets carry the published HF dimensions, resolve by our name and by hub name,
 * a local HF config.json is read with LlamaConfig's defaults, parameter counts are exact. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "models.h"

static ModelDims resolve_ok(const char *name)
{
    ModelDims d;
    Error err = {0};
    ck_assert_msg(models_resolve(name, &d, &err) == PT_OK, "%s: %s", name, err.msg);
    return d;
}

static int64_t params_of(const char *name)
{
    ModelDims d = resolve_ok(name);
    return models_num_params(&d);
}

START_TEST(every_preset_resolves_by_name_and_by_hub_name)
{
    for (const ModelPreset *p = models_presets(); p->name; p++) {
        ModelDims d = resolve_ok(p->name);
        ck_assert_mem_eq(&d, &p->dims, sizeof d);
        char hub[256];
        for (const char *s = p->hub_names; *s; s += strspn(s, " ")) {
            size_t n = strcspn(s, " ");
            snprintf(hub, sizeof hub, "%.*s", (int)n, s);
            d = resolve_ok(hub);
            ck_assert_mem_eq(&d, &p->dims, sizeof d);
            s += n;
        }
    }
}
END_TEST

START_TEST(names_are_case_insensitive)
{
    ModelDims a = resolve_ok("huggingfacetb/smollm-135m-instruct");
    ModelDims b = resolve_ok("SmolLM-135M");
    ck_assert_int_eq(a.hidden_size, 576);
    ck_assert_mem_eq(&a, &b, sizeof a);
}
END_TEST

START_TEST(presets_match_published_hf_configs)
{
    ModelDims d = resolve_ok("smollm-135m");
    ck_assert_int_eq(d.num_hidden_layers, 30);
    ck_assert_int_eq(d.hidden_size, 576);
    ck_assert_int_eq(d.num_attention_heads, 9);
    ck_assert_int_eq(d.num_key_value_heads, 3);
    ck_assert_int_eq(d.intermediate_size, 1536);
    ck_assert_int_eq(d.vocab_size, 49152);
    ck_assert_int_eq(d.tie_word_embeddings, 1);
    ck_assert_int_eq(d.max_position_embeddings, 2048);

    d = resolve_ok("smollm-360m");
    ck_assert_int_eq(d.hidden_size, 960);
    ck_assert_int_eq(d.num_attention_heads, 15);
    ck_assert_int_eq(d.num_key_value_heads, 5);

    d = resolve_ok("tinyllama-1.1b");
    ck_assert_int_eq(d.num_hidden_layers, 22);
    ck_assert_int_eq(d.num_key_value_heads, 4);
    ck_assert_int_eq(d.intermediate_size, 5632);
    ck_assert_int_eq(d.tie_word_embeddings, 0);

    d = resolve_ok("llama-3-8b");
    ck_assert_int_eq(d.vocab_size, 128256);
    ck_assert_int_eq(d.intermediate_size, 14336);
    ck_assert_double_eq(d.rope_theta, 500000.0);
    ck_assert_int_eq(d.max_position_embeddings, 8192);

    d = resolve_ok("llama-2-7b");
    ck_assert_int_eq(d.intermediate_size, 11008);
    ck_assert_double_eq(d.rms_norm_eps, 1e-5);
}
END_TEST

START_TEST(parameter_counts_match_published_sizes)
{
    ck_assert_int_eq(params_of("smollm-135m"), 134515008);
    ck_assert_int_eq(params_of("smollm-360m"), 361821120);
    ck_assert_int_eq(params_of("smollm-1.7b"), 1711376384);
    ck_assert_int_eq(params_of("tinyllama-1.1b"), 1100048384);
    ck_assert_int_eq(params_of("llama-2-7b"), 6738415616);
    ck_assert_int_eq(params_of("llama-3-8b"), 8030261248);
}
END_TEST

START_TEST(tied_embeddings_count_once)
{
    ck_assert_int_eq(params_of("tiny"), 106816);
    ck_assert_int_eq(params_of("tiny-tied"), 106816 - 256 * 64);
    ck_assert_int_eq(params_of("tiny-mesh"), 223424);
}
END_TEST

START_TEST(unknown_model_is_input_error_listing_presets)
{
    ModelDims d;
    Error err = {0};
    ck_assert_int_eq(models_resolve("foo", &d, &err), PT_EINPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "model.name: unknown model \"foo\""));
    ck_assert_ptr_nonnull(strstr(err.msg, "smollm-135m"));
    ck_assert_ptr_nonnull(strstr(err.msg, "llama-3-8b"));
}
END_TEST

/* ---- local HF directories ---- */

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/picotron-models-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
    char file[128];
    snprintf(file, sizeof file, "%s/config.json", dir);
    unlink(file);
    rmdir(dir);
}

static void write_hf_config(const char *json)
{
    char file[128];
    snprintf(file, sizeof file, "%s/config.json", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs(json, f);
    fclose(f);
}

static int read_hf(ModelDims *d, Error *err) { return models_resolve(dir, d, err); }

START_TEST(hf_directory_config_json_is_read)
{
    write_hf_config("{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\","
                    " \"hidden_size\": 128, \"intermediate_size\": 384, \"num_hidden_layers\": 3,"
                    " \"num_attention_heads\": 8, \"num_key_value_heads\": 2, \"vocab_size\": 500,"
                    " \"rms_norm_eps\": 1e-06, \"rope_theta\": 50000.0,"
                    " \"tie_word_embeddings\": true, \"max_position_embeddings\": 512,"
                    " \"torch_dtype\": \"bfloat16\"}");
    ModelDims d;
    Error err = {0};
    ck_assert_msg(read_hf(&d, &err) == PT_OK, "%s", err.msg);
    ck_assert_int_eq(d.hidden_size, 128);
    ck_assert_int_eq(d.intermediate_size, 384);
    ck_assert_int_eq(d.num_hidden_layers, 3);
    ck_assert_int_eq(d.num_attention_heads, 8);
    ck_assert_int_eq(d.num_key_value_heads, 2);
    ck_assert_int_eq(d.vocab_size, 500);
    ck_assert_int_eq(d.max_position_embeddings, 512);
    ck_assert_int_eq(d.tie_word_embeddings, 1);
    ck_assert_double_eq(d.rms_norm_eps, 1e-6);
    ck_assert_double_eq(d.rope_theta, 50000.0);
}
END_TEST

START_TEST(hf_config_missing_optional_keys_take_llama_defaults)
{
    write_hf_config("{\"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2,"
                    " \"num_attention_heads\": 4, \"vocab_size\": 256}");
    ModelDims d;
    Error err = {0};
    ck_assert_msg(read_hf(&d, &err) == PT_OK, "%s", err.msg);
    ck_assert_int_eq(d.num_key_value_heads, 4);
    ck_assert_double_eq(d.rope_theta, 10000.0);
    ck_assert_int_eq(d.tie_word_embeddings, 0);
}
END_TEST

static void expect_hf_error(const char *json, const char *needle)
{
    write_hf_config(json);
    ModelDims d;
    Error err = {0};
    ck_assert_int_eq(read_hf(&d, &err), PT_EINPUT);
    ck_assert_msg(strstr(err.msg, needle) && strstr(err.msg, "config.json"), "%s", err.msg);
}

START_TEST(hf_config_of_another_architecture_is_refused)
{
    expect_hf_error("{\"model_type\": \"mistral\", \"hidden_size\": 64, \"intermediate_size\": 128,"
                    " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 256}",
                    "model_type");
}
END_TEST

START_TEST(hf_config_missing_hidden_size_is_refused)
{
    expect_hf_error("{\"intermediate_size\": 128, \"num_hidden_layers\": 2,"
                    " \"num_attention_heads\": 4, \"vocab_size\": 256}",
                    "hidden_size: missing");
}
END_TEST

START_TEST(hf_config_with_rope_scaling_is_refused)
{
    expect_hf_error("{\"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2,"
                    " \"num_attention_heads\": 4, \"vocab_size\": 256,"
                    " \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}}",
                    "rope_scaling");
}
END_TEST

START_TEST(hf_config_invalid_json_names_line_and_column)
{
    expect_hf_error("{\"hidden_size\": 64,\n \"vocab_size\": }", "config.json:2:");
}
END_TEST

#define HF_BASE "{\"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2," \
                " \"num_attention_heads\": 4, \"vocab_size\": 256, "

START_TEST(hf_boolean_keys_take_only_json_booleans)
{
    expect_hf_error(HF_BASE "\"attention_bias\": \"true\"}", "attention_bias: expected true or false");
    expect_hf_error(HF_BASE "\"mlp_bias\": 1}", "mlp_bias: expected true or false");
    expect_hf_error(HF_BASE "\"tie_word_embeddings\": \"false\"}",
                    "tie_word_embeddings: expected true or false");
    expect_hf_error(HF_BASE "\"attention_bias\": true}", "biases are not supported");
    write_hf_config(HF_BASE "\"attention_bias\": false, \"mlp_bias\": null}");
    ModelDims d;
    Error err = {0};
    ck_assert_msg(read_hf(&d, &err) == PT_OK, "%s", err.msg);
}
END_TEST

/* integers: a JSON integer, or a real with no fraction (as lib/config reads its own keys) */
START_TEST(hf_integer_keys_take_integers_and_whole_reals_only)
{
    expect_hf_error(HF_BASE "\"head_dim\": \"16\"}", "head_dim: expected a positive integer");
    expect_hf_error(HF_BASE "\"head_dim\": 16.5}", "head_dim: expected a positive integer");
    expect_hf_error(HF_BASE "\"head_dim\": 32.0}", "head_dim: must be hidden_size / num_attention_heads");
    expect_hf_error(HF_BASE "\"head_dim\": true}", "head_dim: expected a positive integer");
    expect_hf_error(HF_BASE "\"num_key_value_heads\": \"2\"}",
                    "num_key_value_heads: expected a positive integer");
    expect_hf_error("{\"hidden_size\": 64.25, \"intermediate_size\": 128, \"num_hidden_layers\": 2,"
                    " \"num_attention_heads\": 4, \"vocab_size\": 256}",
                    "hidden_size: expected a positive integer");
    write_hf_config(HF_BASE "\"head_dim\": 16.0, \"num_key_value_heads\": 2.0}");
    ModelDims d;
    Error err = {0};
    ck_assert_msg(read_hf(&d, &err) == PT_OK, "%s", err.msg);
    ck_assert_int_eq(d.num_key_value_heads, 2);
}
END_TEST

START_TEST(directory_without_config_json_is_refused)
{
    ModelDims d;
    Error err = {0};
    ck_assert_int_eq(read_hf(&d, &err), PT_EINPUT);
    ck_assert_msg(strstr(err.msg, "config.json"), "%s", err.msg);
}
END_TEST

static Suite *models_suite(void)
{
    Suite *s = suite_create("models");
    TCase *presets = tcase_create("presets");
    tcase_add_test(presets, every_preset_resolves_by_name_and_by_hub_name);
    tcase_add_test(presets, names_are_case_insensitive);
    tcase_add_test(presets, presets_match_published_hf_configs);
    tcase_add_test(presets, parameter_counts_match_published_sizes);
    tcase_add_test(presets, tied_embeddings_count_once);
    tcase_add_test(presets, unknown_model_is_input_error_listing_presets);
    suite_add_tcase(s, presets);

    TCase *hf = tcase_create("hf_config");
    tcase_add_checked_fixture(hf, make_dir, remove_dir);
    tcase_add_test(hf, hf_directory_config_json_is_read);
    tcase_add_test(hf, hf_config_missing_optional_keys_take_llama_defaults);
    tcase_add_test(hf, hf_config_of_another_architecture_is_refused);
    tcase_add_test(hf, hf_config_missing_hidden_size_is_refused);
    tcase_add_test(hf, hf_config_with_rope_scaling_is_refused);
    tcase_add_test(hf, hf_config_invalid_json_names_line_and_column);
    tcase_add_test(hf, directory_without_config_json_is_refused);
    tcase_add_test(hf, hf_boolean_keys_take_only_json_booleans);
    tcase_add_test(hf, hf_integer_keys_take_integers_and_whole_reals_only);
    suite_add_tcase(s, hf);
    return s;
}

int main(void)
{
    return check_run(models_suite());
}
