/* test_hfconfig: the one HF config.json reader. transformers' own config.json (the gqa_untied
 * fixture) reads to its published numbers; each thing our Llama does not compute is refused
 * with PT_EINPUT and one line naming the file and the key, the same through models_resolve
 * (model.name for train, bench, create-config) as through hfconfig_read (convert-hf). */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "hfconfig.h"
#include "models.h"

#define FIXTURE "tests/fixtures/hf/gqa_untied/config.json"

static char dir[64], file[128];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/picotron-hfconfig-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file, sizeof file, "%s/config.json", dir);
}

static void remove_dir(void)
{
    unlink(file);
    rmdir(dir);
}

/* dir/config.json: the fixture with key set to value (JSON text), or removed (value NULL). */
static void write_variant(const char *key, const char *value)
{
    json_error_t jerr;
    json_t *root = json_load_file(FIXTURE, 0, &jerr);
    ck_assert_msg(root != NULL, "%s: %s", FIXTURE, jerr.text);
    if (value) {
        json_t *v = json_loads(value, JSON_DECODE_ANY, &jerr);
        ck_assert_msg(v != NULL, "test bug: %s: %s", value, jerr.text);
        json_object_set_new(root, key, v);
    } else {
        ck_assert_msg(json_object_del(root, key) == 0, "test bug: no key %s", key);
    }
    ck_assert(json_dump_file(root, file, JSON_INDENT(2)) == 0);
    json_decref(root);
}

/* The variant is refused by both entry points with the same single line: "<dir>/config.json: "
 * first, then the key (and needle, when given); dims is left as it was. */
static void expect_refused(const char *key, const char *value, const char *needle)
{
    write_variant(key, value);
    ModelDims d, before;
    memset(&d, 0x5a, sizeof d);
    memcpy(&before, &d, sizeof d);
    Error e1 = {0}, e2 = {0};
    ck_assert_int_eq(hfconfig_read(dir, &d, &e1), PT_EINPUT);
    ck_assert_int_eq(e1.code, PT_EINPUT);
    ck_assert_int_eq(models_resolve(dir, &d, &e2), PT_EINPUT);
    ck_assert_str_eq(e1.msg, e2.msg);
    ck_assert_mem_eq(&d, &before, sizeof d);
    size_t n = strlen(file);
    ck_assert_msg(strncmp(e1.msg, file, n) == 0 && e1.msg[n] == ':',
                  "%s = %s: \"%s\" does not start with the file", key, value, e1.msg);
    ck_assert_msg(strstr(e1.msg + n, key), "%s = %s: \"%s\" does not name the key", key, value,
                  e1.msg);
    ck_assert_msg(!needle || strstr(e1.msg, needle), "%s = %s: \"%s\" lacks \"%s\"", key, value,
                  e1.msg, needle);
    ck_assert_msg(!strchr(e1.msg, '\n'), "not one line: \"%s\"", e1.msg);
}

/* Field by field: struct padding is not part of the value. */
static void assert_dims_eq(const ModelDims *a, const ModelDims *b)
{
    ck_assert_int_eq(a->num_hidden_layers, b->num_hidden_layers);
    ck_assert_int_eq(a->hidden_size, b->hidden_size);
    ck_assert_int_eq(a->num_attention_heads, b->num_attention_heads);
    ck_assert_int_eq(a->num_key_value_heads, b->num_key_value_heads);
    ck_assert_int_eq(a->intermediate_size, b->intermediate_size);
    ck_assert_int_eq(a->vocab_size, b->vocab_size);
    ck_assert_int_eq(a->max_position_embeddings, b->max_position_embeddings);
    ck_assert_double_eq(a->rope_theta, b->rope_theta);
    ck_assert_double_eq(a->rms_norm_eps, b->rms_norm_eps);
    ck_assert_int_eq(a->tie_word_embeddings, b->tie_word_embeddings);
}

static ModelDims read_ok(void)
{
    ModelDims d;
    Error err = {0};
    ck_assert_msg(hfconfig_read(dir, &d, &err) == PT_OK, "%s", err.msg);
    ModelDims r;
    ck_assert_msg(models_resolve(dir, &r, &err) == PT_OK, "%s", err.msg);
    assert_dims_eq(&d, &r);
    return d;
}

/* ---- what is read ---- */

START_TEST(transformers_config_reads_to_its_numbers)
{
    write_variant("use_cache", "true");
    ModelDims d = read_ok();
    /* the fixture's config.json, as transformers 4.36.2 wrote it */
    ModelDims want = {.num_hidden_layers = 2, .hidden_size = 64, .num_attention_heads = 4,
                      .num_key_value_heads = 2, .intermediate_size = 128, .vocab_size = 300,
                      .max_position_embeddings = 64, .rope_theta = 10000.0,
                      .rms_norm_eps = 1e-5, .tie_word_embeddings = 0};
    assert_dims_eq(&d, &want);
}
END_TEST

START_TEST(null_means_not_set)
{
    const char *keys[] = {"architectures", "rope_scaling", "quantization_config", "torch_dtype",
                          "dtype", "rope_parameters", "attention_bias", "head_dim"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        write_variant(keys[i], "null");
        read_ok();
    }
}
END_TEST

START_TEST(default_rope_parameters_carry_rope_theta)
{
    /* newer transformers: theta only under rope_parameters */
    write_variant("rope_theta", NULL);
    ck_assert_double_eq(read_ok().rope_theta, 10000.0);
    write_variant("rope_parameters", "{\"rope_type\": \"default\", \"rope_theta\": 10000.0}");
    ck_assert_double_eq(read_ok().rope_theta, 10000.0);
    json_t *root = json_load_file(file, 0, NULL);
    json_object_del(root, "rope_theta");
    json_object_set_new(root, "rope_parameters",
                        json_pack("{s:s, s:f}", "rope_type", "default", "rope_theta", 500000.0));
    ck_assert(json_dump_file(root, file, 0) == 0);
    json_decref(root);
    ck_assert_double_eq(read_ok().rope_theta, 500000.0);
    write_variant("rope_parameters", "{\"rope_theta\": 10000.0}"); /* no rope_type: default */
    read_ok();
}
END_TEST

START_TEST(written_config_reads_back_to_the_same_dims)
{
    ModelDims d = {.num_hidden_layers = 3, .hidden_size = 96, .num_attention_heads = 6,
                   .num_key_value_heads = 2, .intermediate_size = 200, .vocab_size = 1001,
                   .max_position_embeddings = 4096, .rope_theta = 500000.0,
                   .rms_norm_eps = 1e-5, .tie_word_embeddings = 1};
    char *text = hfconfig_text(&d, ST_BF16);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "\"torch_dtype\": \"bfloat16\""));
    free(text);
    ModelDims back = read_ok();
    assert_dims_eq(&back, &d);
}
END_TEST

/* ---- what is refused: one test per refusal ---- */

START_TEST(model_type_other_than_llama_is_refused)
{
    expect_refused("model_type", "\"mistral\"", "model_type \"mistral\": only \"llama\"");
    expect_refused("model_type", "\"gpt2\"", NULL);
    expect_refused("model_type", "7", NULL);
}
END_TEST

START_TEST(architectures_other_than_llama_for_causal_lm_are_refused)
{
    expect_refused("architectures", "[\"LlamaForSequenceClassification\"]",
                   "LlamaForSequenceClassification");
    expect_refused("architectures", "[\"LlamaForCausalLM\", \"MistralForCausalLM\"]", NULL);
    expect_refused("architectures", "[]", NULL);
    expect_refused("architectures", "\"LlamaForCausalLM\"", NULL);
}
END_TEST

START_TEST(hidden_act_other_than_silu_is_refused)
{
    expect_refused("hidden_act", "\"gelu\"", "hidden_act \"gelu\": only \"silu\"");
    expect_refused("hidden_act", "\"gelu_pytorch_tanh\"", NULL);
    expect_refused("hidden_act", "\"relu\"", NULL);
}
END_TEST

START_TEST(quantization_config_is_refused)
{
    expect_refused("quantization_config", "{\"quant_method\": \"gptq\", \"bits\": 4}",
                   "quantized weights are not supported");
    expect_refused("quantization_config", "{}", NULL);
}
END_TEST

START_TEST(torch_dtype_other_than_a_float_type_is_refused)
{
    expect_refused("torch_dtype", "\"int8\"", "expected float32, float16 or bfloat16");
    expect_refused("torch_dtype", "\"float64\"", NULL);
    expect_refused("torch_dtype", "16", NULL);
}
END_TEST

START_TEST(dtype_other_than_a_float_type_is_refused)
{
    expect_refused("dtype", "\"float8_e4m3fn\"", "expected float32, float16 or bfloat16");
}
END_TEST

START_TEST(rope_scaling_of_any_type_is_refused)
{
    const char *kinds[] = {"{\"type\": \"linear\", \"factor\": 2.0}",
                           "{\"rope_type\": \"dynamic\", \"factor\": 2.0}",
                           "{\"rope_type\": \"llama3\", \"factor\": 8.0, \"low_freq_factor\": 1.0, "
                           "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}",
                           "{\"rope_type\": \"yarn\", \"factor\": 4.0}",
                           "{\"rope_type\": \"default\"}"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        expect_refused("rope_scaling", kinds[i], "not supported (plain RoPE only)");
}
END_TEST

START_TEST(rope_parameters_other_than_default_are_refused)
{
    expect_refused("rope_parameters", "{\"rope_type\": \"llama3\", \"factor\": 8.0}",
                   "only rope_type \"default\"");
    expect_refused("rope_parameters", "{\"rope_type\": \"linear\", \"factor\": 2.0}", NULL);
    expect_refused("rope_parameters", "\"default\"", NULL);
}
END_TEST

START_TEST(rope_parameters_theta_disagreeing_with_rope_theta_is_refused)
{
    expect_refused("rope_parameters", "{\"rope_type\": \"default\", \"rope_theta\": 500000.0}",
                   "rope_theta 10000 and rope_parameters.rope_theta 500000 disagree");
}
END_TEST

START_TEST(rope_parameters_theta_not_positive_is_refused)
{
    expect_refused("rope_parameters", "{\"rope_type\": \"default\", \"rope_theta\": -1}",
                   "rope_parameters.rope_theta: expected a positive number");
    expect_refused("rope_parameters", "{\"rope_type\": \"default\", \"rope_theta\": \"1e4\"}",
                   "rope_parameters.rope_theta: expected a positive number");
}
END_TEST

START_TEST(biases_are_refused)
{
    expect_refused("attention_bias", "true", "biases are not supported");
    expect_refused("mlp_bias", "true", "biases are not supported");
}
END_TEST

START_TEST(head_dim_other_than_hidden_over_heads_is_refused)
{
    expect_refused("head_dim", "32", "must be hidden_size / num_attention_heads");
    write_variant("head_dim", "16");
    read_ok();
}
END_TEST

START_TEST(missing_dimension_is_refused)
{
    const char *required[] = {"hidden_size", "intermediate_size", "num_hidden_layers",
                              "num_attention_heads", "vocab_size"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        expect_refused(required[i], NULL, ": missing");
}
END_TEST

START_TEST(config_that_is_not_an_object_is_refused)
{
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs("[\"LlamaForCausalLM\"]\n", f);
    fclose(f);
    ModelDims d;
    Error err = {0};
    ck_assert_int_eq(hfconfig_read(dir, &d, &err), PT_EINPUT);
    char want[256];
    snprintf(want, sizeof want, "%s: expected a JSON object", file);
    ck_assert_str_eq(err.msg, want);
}
END_TEST

/* transformers writes each key once; a second one (hand edits) would silently win. */
START_TEST(duplicate_key_is_refused_naming_file_key_and_line)
{
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\n  \"model_type\": \"llama\",\n  \"hidden_size\": 64,\n  \"hidden_size\": 96\n}\n", f);
    fclose(f);
    ModelDims d;
    Error err = {0};
    ck_assert_int_eq(hfconfig_read(dir, &d, &err), PT_EINPUT);
    char want[256];
    snprintf(want, sizeof want, "%s:4:", file);
    ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "\"%s\" lacks %s", err.msg, want);
    ck_assert_msg(strstr(err.msg, "duplicate key \"hidden_size\""), "\"%s\"", err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "not one line: \"%s\"", err.msg);
}
END_TEST

static Suite *hfconfig_suite(void)
{
    Suite *s = suite_create("hfconfig");
    TCase *read = tcase_create("read");
    tcase_add_checked_fixture(read, make_dir, remove_dir);
    tcase_add_test(read, transformers_config_reads_to_its_numbers);
    tcase_add_test(read, null_means_not_set);
    tcase_add_test(read, default_rope_parameters_carry_rope_theta);
    tcase_add_test(read, written_config_reads_back_to_the_same_dims);
    tcase_add_test(read, duplicate_key_is_refused_naming_file_key_and_line);
    suite_add_tcase(s, read);

    TCase *refuse = tcase_create("refuse");
    tcase_add_checked_fixture(refuse, make_dir, remove_dir);
    tcase_add_test(refuse, model_type_other_than_llama_is_refused);
    tcase_add_test(refuse, architectures_other_than_llama_for_causal_lm_are_refused);
    tcase_add_test(refuse, hidden_act_other_than_silu_is_refused);
    tcase_add_test(refuse, quantization_config_is_refused);
    tcase_add_test(refuse, torch_dtype_other_than_a_float_type_is_refused);
    tcase_add_test(refuse, dtype_other_than_a_float_type_is_refused);
    tcase_add_test(refuse, rope_scaling_of_any_type_is_refused);
    tcase_add_test(refuse, rope_parameters_other_than_default_are_refused);
    tcase_add_test(refuse, rope_parameters_theta_disagreeing_with_rope_theta_is_refused);
    tcase_add_test(refuse, rope_parameters_theta_not_positive_is_refused);
    tcase_add_test(refuse, biases_are_refused);
    tcase_add_test(refuse, head_dim_other_than_hidden_over_heads_is_refused);
    tcase_add_test(refuse, missing_dimension_is_refused);
    tcase_add_test(refuse, config_that_is_not_an_object_is_refused);
    suite_add_tcase(s, refuse);
    return s;
}

int main(void)
{
    return check_run(hfconfig_suite());
}
