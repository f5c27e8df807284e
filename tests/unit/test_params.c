/* test_params: the parameter table (HF names, shapes, order, tp pieces, vocabulary padding) and
 * the mesh-independent initialisation (determinism, equality of every tp piece with the slice
 * of the unsplit tensor, N(0, 0.02²) statistics, norms at 1, padding at 0). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "models.h"
#include "params.h"
#include "rng.h"

/* The tiny model of these tests: D = 4, kv width K·D = 8, V = 40 padded to 128. */
static ModelDims tiny_dims(int tied)
{
    ModelDims d = {
        .num_hidden_layers = 2, .hidden_size = 16, .num_attention_heads = 4,
        .num_key_value_heads = 2, .intermediate_size = 24, .vocab_size = 40,
        .max_position_embeddings = 32, .rope_theta = 10000.0, .rms_norm_eps = 1e-5,
        .tie_word_embeddings = tied,
    };
    return d;
}

/* Divisible by tp 4 in heads (8), kv-heads (4) and F (24); V = 300 pads to 384 on one rank,
 * to 512 on 2 or 4, where rank 3 of 4 (rows 384..511) holds padding only. */
static ModelDims tp_dims(void)
{
    ModelDims d = {
        .num_hidden_layers = 2, .hidden_size = 32, .num_attention_heads = 8,
        .num_key_value_heads = 4, .intermediate_size = 24, .vocab_size = 300,
        .max_position_embeddings = 32, .rope_theta = 10000.0, .rms_norm_eps = 1e-5,
        .tie_word_embeddings = 0,
    };
    return d;
}

static float *init_table(ParamTable *pt, const ModelDims *d, const ParamShard *shard, uint64_t seed)
{
    params_build(pt, d, shard);
    float *buf = malloc(pt->numel * sizeof(float));
    params_init(pt, buf, seed);
    return buf;
}

static float *init_single(ParamTable *pt, const ModelDims *d, uint64_t seed)
{
    ParamShard shard = params_shard_single(d);
    return init_table(pt, d, &shard, seed);
}

/* ---- the table ---- */

typedef struct {
    const char *name;
    int64_t rows, cols; /* cols 1 for vectors */
    Split split;
    int layer, is_norm;
} Expected;

#define LAYER_ROWS(l)                                                                           \
    {"model.layers." #l ".input_layernorm.weight", 16, 1, SPLIT_NONE, l, 1},                    \
    {"model.layers." #l ".self_attn.q_proj.weight", 16, 16, SPLIT_ROWS, l, 0},                  \
    {"model.layers." #l ".self_attn.k_proj.weight", 8, 16, SPLIT_ROWS, l, 0},                   \
    {"model.layers." #l ".self_attn.v_proj.weight", 8, 16, SPLIT_ROWS, l, 0},                   \
    {"model.layers." #l ".self_attn.o_proj.weight", 16, 16, SPLIT_COLS, l, 0},                  \
    {"model.layers." #l ".post_attention_layernorm.weight", 16, 1, SPLIT_NONE, l, 1},           \
    {"model.layers." #l ".mlp.gate_proj.weight", 24, 16, SPLIT_ROWS, l, 0},                     \
    {"model.layers." #l ".mlp.up_proj.weight", 24, 16, SPLIT_ROWS, l, 0},                       \
    {"model.layers." #l ".mlp.down_proj.weight", 16, 24, SPLIT_COLS, l, 0}

static const Expected untied_table[] = {
    {"model.embed_tokens.weight", 40, 16, SPLIT_VOCAB, -1, 0},
    LAYER_ROWS(0),
    LAYER_ROWS(1),
    {"model.norm.weight", 16, 1, SPLIT_NONE, -1, 1},
    {"lm_head.weight", 40, 16, SPLIT_VOCAB, -1, 0},
};

START_TEST(table_lists_hf_names_and_shapes_in_model_order)
{
    ModelDims d = tiny_dims(0);
    ParamShard shard = params_shard_single(&d);
    ParamTable pt;
    params_build(&pt, &d, &shard);
    int n = (int)(sizeof untied_table / sizeof untied_table[0]);
    ck_assert_int_eq(pt.n, n);
    ck_assert_int_eq(pt.V_pad, 128);
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        const Expected *e = &untied_table[i];
        const ParamInfo *p = &pt.t[i];
        ck_assert_str_eq(p->name, e->name);
        ck_assert_int_eq(p->ndim, e->cols == 1 ? 1 : 2);
        ck_assert_msg(p->shape[0] == e->rows && p->shape[1] == e->cols, "%s: shape %lldx%lld",
                      p->name, (long long)p->shape[0], (long long)p->shape[1]);
        ck_assert_int_eq(p->split, e->split);
        ck_assert_int_eq(p->layer, e->layer);
        ck_assert_int_eq(p->is_norm, e->is_norm);
        /* one rank holds everything; vocab tensors carry their padding rows */
        int64_t local_rows = e->split == SPLIT_VOCAB ? 128 : e->rows;
        ck_assert_msg(p->local_shape[0] == local_rows && p->local_shape[1] == e->cols,
                      "%s: local shape %lldx%lld", p->name, (long long)p->local_shape[0],
                      (long long)p->local_shape[1]);
        ck_assert(p->local_offset[0] == 0 && p->local_offset[1] == 0);
        ck_assert_int_eq(p->valid_rows, e->rows);
        ck_assert_uint_eq(p->numel, (size_t)(local_rows * e->cols));
        ck_assert_uint_eq(p->offset, offset); /* packed back to back in table order */
        offset += p->numel;
        ck_assert_int_eq(params_find(&pt, e->name), i);
    }
    ck_assert_uint_eq(pt.numel, offset);
    ck_assert_int_eq(params_find(&pt, "model.layers.2.input_layernorm.weight"), -1);
    params_free(&pt);
}
END_TEST

START_TEST(padded_vocab_is_a_multiple_of_128_times_tp)
{
    ck_assert_int_eq(params_padded_vocab(40, 1), 128);
    ck_assert_int_eq(params_padded_vocab(128, 1), 128);
    ck_assert_int_eq(params_padded_vocab(129, 1), 256);
    ck_assert_int_eq(params_padded_vocab(300, 1), 384);
    ck_assert_int_eq(params_padded_vocab(300, 2), 512);
    ck_assert_int_eq(params_padded_vocab(300, 4), 512);
    ck_assert_int_eq(params_padded_vocab(49152, 4), 49152);
}
END_TEST

START_TEST(numel_is_the_parameter_count_with_padded_vocab_rows)
{
    /* per layer 2·16 + 16·16 + 2·16·8 + 16·16 + 3·16·24 = 1952; embedding and head 128·16 */
    for (int tied = 0; tied <= 1; tied++) {
        ModelDims d = tiny_dims(tied);
        ParamShard shard = params_shard_single(&d);
        ParamTable pt;
        params_build(&pt, &d, &shard);
        size_t want = (tied ? 1 : 2) * 128 * 16 + 2 * 1952 + 16;
        ck_assert_uint_eq(pt.numel, want);
        ck_assert_uint_eq(pt.numel, tied ? 5968 : 8016);
        /* the published count uses the true vocabulary: add the 88 padding rows back */
        int64_t pad = (int64_t)(tied ? 1 : 2) * (128 - 40) * 16;
        ck_assert_int_eq((int64_t)pt.numel, models_num_params(&d) + pad);
        params_free(&pt);
    }
}
END_TEST

START_TEST(tied_table_has_no_lm_head)
{
    ModelDims d = tiny_dims(1);
    ParamShard shard = params_shard_single(&d);
    ParamTable pt;
    params_build(&pt, &d, &shard);
    ck_assert_int_eq(pt.n, 20);
    ck_assert_int_eq(params_find(&pt, "lm_head.weight"), -1);
    ck_assert_int_eq(params_find(&pt, "model.embed_tokens.weight"), 0);
    ck_assert_str_eq(pt.t[pt.n - 1].name, "model.norm.weight");
    params_free(&pt);
}
END_TEST

/* ---- initialisation ---- */

START_TEST(init_with_the_same_seed_is_bitwise_identical)
{
    ModelDims d = tiny_dims(0);
    ParamTable pt1, pt2;
    float *a = init_single(&pt1, &d, 42), *b = init_single(&pt2, &d, 42);
    ck_assert(memcmp(a, b, pt1.numel * sizeof(float)) == 0);
    free(a), free(b);
    params_free(&pt1), params_free(&pt2);
}
END_TEST

START_TEST(init_with_another_seed_differs_in_every_matrix)
{
    ModelDims d = tiny_dims(0);
    ParamTable pt1, pt2;
    float *a = init_single(&pt1, &d, 42), *b = init_single(&pt2, &d, 43);
    for (int i = 0; i < pt1.n; i++) {
        const ParamInfo *p = &pt1.t[i];
        size_t real = (size_t)(p->valid_rows * p->local_shape[1]), same = 0;
        for (size_t e = 0; e < real; e++)
            same += a[p->offset + e] == b[p->offset + e];
        if (p->is_norm)
            ck_assert_uint_eq(same, real); /* ones whatever the seed */
        else
            ck_assert_msg(same == 0, "%s: %zu of %zu elements equal across seeds", p->name, same, real);
    }
    free(a), free(b);
    params_free(&pt1), params_free(&pt2);
}
END_TEST

START_TEST(init_norms_are_one_and_vocab_padding_rows_zero)
{
    ModelDims d = tiny_dims(0);
    ParamTable pt;
    float *w = init_single(&pt, &d, 7);
    for (int i = 0; i < pt.n; i++) {
        const ParamInfo *p = &pt.t[i];
        for (size_t e = 0; e < p->numel; e++) {
            float x = w[p->offset + e];
            int64_t row = (int64_t)e / p->local_shape[1];
            if (p->is_norm)
                ck_assert_msg(x == 1.0f, "%s[%zu] = %g", p->name, e, x);
            else if (row >= p->valid_rows)
                ck_assert_msg(x == 0.0f, "%s padding row %lld = %g", p->name, (long long)row, x);
            else
                ck_assert_msg(x != 0.0f && fabsf(x) < 0.2f, "%s[%zu] = %g", p->name, e, x);
        }
    }
    free(w);
    params_free(&pt);
}
END_TEST

/* Element (row, col) of the unsplit tensor called name in the tp = 1 table; padding rows 0. */
static float whole_element(const ParamTable *pt1, const float *w1, const char *name, int64_t row,
                           int64_t col)
{
    const ParamInfo *q = &pt1->t[params_find(pt1, name)];
    if (row >= q->shape[0])
        return 0.0f;
    return w1[q->offset + (size_t)(row * q->local_shape[1] + col)];
}

static void check_tp_pieces_equal_slices(int tp)
{
    ModelDims d = tp_dims();
    ParamTable pt1;
    float *w1 = init_single(&pt1, &d, 2024);
    for (int rank = 0; rank < tp; rank++) {
        ParamShard shard = {rank, tp, 0, d.num_hidden_layers, 1, 1};
        ParamTable pt;
        float *w = init_table(&pt, &d, &shard, 2024);
        ck_assert_int_eq(pt.n, pt1.n);
        for (int i = 0; i < pt.n; i++) {
            const ParamInfo *p = &pt.t[i];
            int64_t rows = p->local_shape[0], cols = p->local_shape[1];
            switch (p->split) { /* where the piece sits in the global tensor */
            case SPLIT_NONE:
                ck_assert(rows == p->shape[0] && cols == p->shape[1]);
                break;
            case SPLIT_ROWS:
                ck_assert(rows == p->shape[0] / tp && p->local_offset[0] == rank * rows);
                break;
            case SPLIT_COLS:
                ck_assert(cols == p->shape[1] / tp && p->local_offset[1] == rank * cols);
                break;
            case SPLIT_VOCAB:
                ck_assert_int_eq(pt.V_pad, 512);
                ck_assert(rows == 512 / tp && p->local_offset[0] == rank * rows);
                int64_t real = 300 - rank * rows;
                ck_assert_int_eq(p->valid_rows, real < 0 ? 0 : (real > rows ? rows : real));
                break;
            }
            for (int64_t r = 0; r < rows; r++)
                for (int64_t c = 0; c < cols; c++) {
                    float got = w[p->offset + (size_t)(r * cols + c)];
                    float want = whole_element(&pt1, w1, p->name, p->local_offset[0] + r,
                                               p->local_offset[1] + c);
                    ck_assert_msg(memcmp(&got, &want, sizeof got) == 0,
                                  "tp %d rank %d %s[%lld, %lld]: %.9g, unsplit %.9g", tp, rank,
                                  p->name, (long long)r, (long long)c, got, want);
                }
        }
        free(w);
        params_free(&pt);
    }
    free(w1);
    params_free(&pt1);
}

START_TEST(init_of_every_tp2_piece_equals_the_slice_of_the_unsplit_tensor)
{
    check_tp_pieces_equal_slices(2);
}
END_TEST

START_TEST(init_of_every_tp4_piece_equals_the_slice_of_the_unsplit_tensor)
{
    check_tp_pieces_equal_slices(4);
}
END_TEST

START_TEST(init_of_a_pipeline_stage_equals_its_layers_of_the_whole_model)
{
    ModelDims d = tiny_dims(0);
    ParamTable pt1, pt;
    float *w1 = init_single(&pt1, &d, 5);
    ParamShard last_stage = {0, 1, 1, 2, 0, 1}; /* layer 1, final norm, head */
    float *w = init_table(&pt, &d, &last_stage, 5);
    ck_assert_int_eq(pt.n, 11);
    ck_assert_int_eq(params_find(&pt, "model.embed_tokens.weight"), -1);
    ck_assert_int_eq(params_find(&pt, "model.layers.0.input_layernorm.weight"), -1);
    for (int i = 0; i < pt.n; i++) {
        const ParamInfo *p = &pt.t[i];
        const ParamInfo *q = &pt1.t[params_find(&pt1, p->name)];
        ck_assert_uint_eq(p->numel, q->numel);
        ck_assert_msg(memcmp(w + p->offset, w1 + q->offset, p->numel * sizeof(float)) == 0,
                      "%s differs from the whole model's", p->name);
    }
    free(w), free(w1);
    params_free(&pt), params_free(&pt1);
}
END_TEST

START_TEST(init_matrices_have_mean_0_and_std_0_02)
{
    /* gate_proj of a C = 512, F = 1024 model: n = 524288 draws. The sample mean has standard
     * error 0.02/√n = 2.8e-5 and the sample std 0.02/√(2n) = 2.0e-5; allow 5 of each. */
    ModelDims d = {
        .num_hidden_layers = 1, .hidden_size = 512, .num_attention_heads = 8,
        .num_key_value_heads = 8, .intermediate_size = 1024, .vocab_size = 128,
        .max_position_embeddings = 32, .rope_theta = 10000.0, .rms_norm_eps = 1e-5,
        .tie_word_embeddings = 1,
    };
    ParamTable pt;
    float *w = init_single(&pt, &d, 99);
    const ParamInfo *p = &pt.t[params_find(&pt, "model.layers.0.mlp.gate_proj.weight")];
    double n = (double)p->numel, sum = 0.0, sq = 0.0;
    for (size_t e = 0; e < p->numel; e++) {
        double x = w[p->offset + e];
        sum += x;
        sq += x * x;
    }
    double mean = sum / n, std = sqrt(sq / n - mean * mean);
    ck_assert_msg(fabs(mean) < 5 * 0.02 / sqrt(n), "mean %.3g", mean);
    ck_assert_msg(fabs(std - 0.02) < 5 * 0.02 / sqrt(2 * n), "std %.6f", std);
    free(w);
    params_free(&pt);
}
END_TEST

START_TEST(rng_normal_over_1e6_draws_has_mean_0_variance_1_and_normal_mass)
{
    /* standard errors for n = 1e6: mean 1e-3, variance √2·1e-3, P(|x| < 1) 4.7e-4; allow 5 */
    const int n = 1000000;
    double sum = 0.0, sq = 0.0, inside = 0.0;
    uint64_t stream = rng_name_hash("test.stream");
    for (int i = 0; i < n; i++) {
        double x = rng_normal(7, stream, (uint64_t)i);
        sum += x;
        sq += x * x;
        inside += fabs(x) < 1.0;
    }
    double mean = sum / n, var = sq / n - mean * mean, mass = inside / n;
    ck_assert_msg(fabs(mean) < 5e-3, "mean %.3g", mean);
    ck_assert_msg(fabs(var - 1.0) < 5 * sqrt(2.0) * 1e-3, "variance %.5f", var);
    ck_assert_msg(fabs(mass - 0.682689) < 5 * 4.7e-4, "P(|x| < 1) = %.5f", mass);
}
END_TEST

START_TEST(rng_value_is_a_pure_function_of_seed_stream_and_counter)
{
    double x = rng_normal(1, 2, 3);
    ck_assert(rng_normal(1, 2, 3) == x);
    ck_assert(rng_normal(2, 2, 3) != x);
    ck_assert(rng_normal(1, 3, 3) != x);
    ck_assert(rng_normal(1, 2, 4) != x);
    ck_assert(rng_name_hash("model.norm.weight") != rng_name_hash("lm_head.weight"));
    ck_assert(rng_name_hash("") == 14695981039346656037ull); /* FNV-1a offset basis */
}
END_TEST

START_TEST(rng_normal_floats_equal_the_scalar_formula_bit_for_bit)
{
    /* the vectorised draws (own log and cos, kept only where the float is certain) against
     * (float)(scale · rng_normal) through libm: 10⁶ values over 4 seeds and streams, at odd
     * counter offsets and lengths (vector tails), and the counter's top end */
    enum { N = 250003 };
    float *got = malloc(N * sizeof(float));
    const double scales[] = {0.02, 1.0, -0.5, 0.02};
    for (int k = 0; k < 4; k++) {
        uint64_t seed = (uint64_t)k * 77 + 1, stream = rng_name_hash(k & 1 ? "a.weight" : "b");
        uint64_t c0 = k == 3 ? UINT64_MAX - N + 1 : (uint64_t)k * 12345;
        rng_normal_floats(got, N - k, seed, stream, c0, scales[k]);
        for (int i = 0; i < N - k; i++) {
            float want = (float)(scales[k] * rng_normal(seed, stream, c0 + (uint64_t)i));
            ck_assert_msg(memcmp(&got[i], &want, sizeof want) == 0,
                          "seed %llu counter %llu: %.9g vs %.9g", (unsigned long long)seed,
                          (unsigned long long)(c0 + (uint64_t)i), got[i], want);
        }
    }
    free(got);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("params");
    TCase *tt = tcase_create("table");
    tcase_add_test(tt, table_lists_hf_names_and_shapes_in_model_order);
    tcase_add_test(tt, padded_vocab_is_a_multiple_of_128_times_tp);
    tcase_add_test(tt, numel_is_the_parameter_count_with_padded_vocab_rows);
    tcase_add_test(tt, tied_table_has_no_lm_head);
    suite_add_tcase(s, tt);
    TCase *ti = tcase_create("init");
    tcase_add_test(ti, init_with_the_same_seed_is_bitwise_identical);
    tcase_add_test(ti, init_with_another_seed_differs_in_every_matrix);
    tcase_add_test(ti, init_norms_are_one_and_vocab_padding_rows_zero);
    tcase_add_test(ti, init_of_every_tp2_piece_equals_the_slice_of_the_unsplit_tensor);
    tcase_add_test(ti, init_of_every_tp4_piece_equals_the_slice_of_the_unsplit_tensor);
    tcase_add_test(ti, init_of_a_pipeline_stage_equals_its_layers_of_the_whole_model);
    tcase_add_test(ti, init_matrices_have_mean_0_and_std_0_02);
    tcase_add_test(ti, rng_normal_over_1e6_draws_has_mean_0_variance_1_and_normal_mass);
    tcase_add_test(ti, rng_value_is_a_pure_function_of_seed_stream_and_counter);
    tcase_add_test(ti, rng_normal_floats_equal_the_scalar_formula_bit_for_bit);
    suite_add_tcase(s, ti);
    return check_run(s);
}
