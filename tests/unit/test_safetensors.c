/* test_safetensors: the safetensors reader refuses every malformed header with one message
 * naming the tensor and byte offset; the writer round-trips single files and shards; bf16 and
 * fp16 widen exactly and narrow to nearest-even (checked against GCC's _Float16 casts); and the
 * HF models that transformers saved (tests/fixtures/hf, scripts/make_hf_fixture.py), imported
 * through hfconvert, give transformers' logits and loss.
 * Tolerances for the logits and loss: those of the golden tests (docs/fixtures.md): torch's own
 * fp32 run differs from the float64 reference by 2.2e-7 relative; we allow 1e-5 (rel, logits)
 * and 1e-5 (abs, loss). */
#include <check.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_run.h"
#include "fixture.h"
#include "hfconfig.h"
#include "hfconvert.h"
#include "llama.h"
#include "params.h"
#include "safetensors.h"

#define TOL_LOGITS 1e-5
#define TOL_LOSS_ABS 1e-5

static char tmpdir[256];

static void make_tmp(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_safetensors.XXXXXX");
    ck_assert(mkdtemp(tmpdir) != NULL);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void remove_tmp(void) { nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS); }

static void tmp_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    ck_assert(fwrite(data, 1, n, f) == n);
    fclose(f);
}

static void write_text(const char *path, const char *text) { write_bytes(path, text, strlen(text)); }

/* A raw safetensors file: header length `len_field` (the real length when ~0), header text,
 * then data_len bytes of data. */
static void write_raw(const char *path, const char *header, uint64_t len_field, size_t data_len)
{
    size_t h = strlen(header);
    unsigned char *buf = calloc(8 + h + data_len, 1);
    uint64_t n = len_field == ~0ull ? h : len_field;
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(n >> (8 * i));
    memcpy(buf + 8, header, h);
    write_bytes(path, buf, 8 + h + data_len);
    free(buf);
}

/* st_open on a header must fail with PT_EINPUT and a message containing every one of want[]. */
static void expect_refused(const char *header, uint64_t len_field, size_t data_len,
                           const char *const *want, int nwant)
{
    char path[512];
    tmp_path(path, sizeof path, "bad.safetensors");
    write_raw(path, header, len_field, data_len);
    StFile f;
    Error err = {0};
    ck_assert_int_eq(st_open(&f, path, &err), PT_EINPUT);
    ck_assert_ptr_null(f.map);
    for (int i = 0; i < nwant; i++)
        ck_assert_msg(strstr(err.msg, want[i]), "message \"%s\" lacks \"%s\"", err.msg, want[i]);
    ck_assert_msg(strstr(err.msg, path), "message \"%s\" does not name the file", err.msg);
}

/* The good file the malformed ones are cut from: a F32 (2, 3) at [0, 24), b F32 (4) at [24, 40). */
#define GOOD_A "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"
#define GOOD_B "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[24,40]}"

START_TEST(reader_accepts_the_good_file)
{
    make_tmp();
    char path[512];
    tmp_path(path, sizeof path, "good.safetensors");
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"}," GOOD_A "," GOOD_B "}";
    write_raw(path, hdr, ~0ull, 40);
    StFile f;
    Error err = {0};
    ck_assert_msg(st_open(&f, path, &err) == PT_OK, "%s", err.msg);
    ck_assert_int_eq(f.n, 2);
    const StTensor *b = st_find(&f, "b");
    ck_assert(b && b->ndim == 1 && b->shape[0] == 4 && b->numel == 4);
    ck_assert_uint_eq(b->file_offset, 8 + strlen(hdr) + 24);
    ck_assert_str_eq(f.metadata, "{\"format\":\"pt\"}");
    st_close(&f);
    remove_tmp();
}
END_TEST

START_TEST(reader_refuses_each_malformed_header_naming_tensor_and_offset)
{
    make_tmp();
    struct {
        const char *header;
        uint64_t len_field;
        size_t data_len;
        const char *want[3];
    } cases[] = {
        /* header length past the end of the file */
        {"{" GOOD_A "," GOOD_B "}", 1000000, 40, {"header length 1000000", "byte offset 0", "runs past"}},
        /* not JSON */
        {"{\"a\":{\"dtype\":\"F32\",,}}", ~0ull, 40, {"not valid JSON", "byte offset"}},
        {"[1, 2]", ~0ull, 40, {"not a JSON object"}},
        /* overlapping offsets: b starts inside a */
        {"{" GOOD_A ",\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,32]}}", ~0ull, 40,
         {"tensor", "overlap", "byte offset"}},
        /* out of range: b ends past the data */
        {"{" GOOD_A ",\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[24,40]}}", ~0ull, 32,
         {"tensor b", "run past the end", "byte offset"}},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[24,0]}}", ~0ull, 40,
         {"tensor a", "begin <= end"}},
        /* shape × dtype size ≠ byte count */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,4],\"data_offsets\":[0,24]}}", ~0ull, 40,
         {"tensor a", "32 bytes", "byte offset"}},
        {"{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", ~0ull, 40,
         {"tensor a", "12 bytes", "byte offset"}},
        /* unknown or unsupported dtype */
        {"{\"a\":{\"dtype\":\"X99\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", ~0ull, 40,
         {"tensor a", "\"X99\"", "byte offset"}},
        {"{\"a\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[0,24]}}", ~0ull, 40,
         {"tensor a", "\"F64\" is not supported"}},
        /* structure */
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,24]}}", ~0ull, 40,
         {"tensor a", "shape[0]"}},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[6]}}", ~0ull, 40, {"tensor a", "data_offsets"}},
        {"{" GOOD_A "," GOOD_A "}", ~0ull, 40, {"not valid JSON", "duplicate"}},
        {"{\"__metadata__\":{\"format\":1}," GOOD_A "}", ~0ull, 40, {"__metadata__.format"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int nwant = 0;
        while (nwant < 3 && cases[i].want[nwant])
            nwant++;
        expect_refused(cases[i].header, cases[i].len_field, cases[i].data_len, cases[i].want, nwant);
    }
    /* shorter than the length field itself */
    char path[512];
    tmp_path(path, sizeof path, "short.safetensors");
    write_bytes(path, "\x10\0\0\0", 4);
    StFile f;
    Error err = {0};
    ck_assert_int_eq(st_open(&f, path, &err), PT_EINPUT);
    ck_assert(strstr(err.msg, "too short") && strstr(err.msg, "byte offset 0"));
    remove_tmp();
}
END_TEST

START_TEST(widening_is_exact_and_narrowing_inverts_it_for_every_16_bit_value)
{
    for (uint32_t h = 0; h < 65536; h++) {
        ck_assert_uint_eq(st_f32_to_bf16(st_bf16_to_f32((uint16_t)h)), h);
        ck_assert_uint_eq(st_f32_to_f16(st_f16_to_f32((uint16_t)h)), h);
        /* the widening agrees with the hardware's half type (NaN payloads aside) */
        _Float16 x;
        uint16_t hh = (uint16_t)h;
        memcpy(&x, &hh, 2);
        float w = st_f16_to_f32(hh);
        if (!isnan(w))
            ck_assert_msg(memcmp(&(float){(float)x}, &w, 4) == 0, "f16 %04x", h);
    }
}
END_TEST

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

START_TEST(narrowing_rounds_to_nearest_even)
{
    /* bf16 near 1: ulp 2^-7; a tie goes to the even mantissa */
    ck_assert_uint_eq(st_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
    ck_assert_uint_eq(st_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
    ck_assert_uint_eq(st_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3f81);
    ck_assert_uint_eq(st_f32_to_bf16(-1.0f - 0x1p-8f), 0xbf80);
    ck_assert_uint_eq(st_f32_to_bf16(from_bits(0x7f7fffff)), 0x7f80); /* FLT_MAX → inf */
    ck_assert_uint_eq(st_f32_to_bf16(INFINITY), 0x7f80);
    ck_assert(isnan(st_bf16_to_f32(st_f32_to_bf16(from_bits(0x7f800001)))));
    /* fp16 near 1: ulp 2^-10 */
    ck_assert_uint_eq(st_f32_to_f16(1.0f + 0x1p-11f), 0x3c00);
    ck_assert_uint_eq(st_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3c02);
    ck_assert_uint_eq(st_f32_to_f16(65504.0f), 0x7bff);
    ck_assert_uint_eq(st_f32_to_f16(65519.99f), 0x7bff);
    ck_assert_uint_eq(st_f32_to_f16(65520.0f), 0x7c00);
    ck_assert_uint_eq(st_f32_to_f16(0x1p-24f), 0x0001);       /* smallest subnormal */
    ck_assert_uint_eq(st_f32_to_f16(0x1p-25f), 0x0000);       /* tie → even (zero) */
    ck_assert_uint_eq(st_f32_to_f16(3 * 0x1p-26f), 0x0001);
    ck_assert_uint_eq(st_f32_to_f16(-0.0f), 0x8000);
    ck_assert_uint_eq(st_f32_to_f16(0x1p-14f - 0x1p-25f), 0x0400); /* rounds up to the smallest normal */
    /* every narrowing agrees with GCC's _Float16 cast (round to nearest even) on random bits */
    uint64_t s = 88172645463325252ull;
    for (int i = 0; i < 1 << 18; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        float f = from_bits((uint32_t)s);
        if (isnan(f))
            continue;
        _Float16 h = (_Float16)f;
        uint16_t ref;
        memcpy(&ref, &h, 2);
        ck_assert_msg(st_f32_to_f16(f) == ref, "%08x: %04x vs %04x", (uint32_t)s, st_f32_to_f16(f), ref);
    }
}
END_TEST

/* Three tensors of 35 elements (odd byte counts in 16-bit dtypes), one 1-D, one tiny-valued. */
static float vals[3][35];
static void test_tensors(StOut *t)
{
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 35; i++)
            vals[k][i] = (float)((k + 1) * 0.37 * sin(i * 1.3 + k)) * (k == 2 ? 1e-6f : 1.0f);
    StOut a = {.name = "model.x.weight", .ndim = 2, .shape = {5, 7}, .data = vals[0]};
    StOut b = {.name = "model.y.weight", .ndim = 1, .shape = {35}, .data = vals[1]};
    StOut c = {.name = "lm_head.weight", .ndim = 2, .shape = {7, 5}, .data = vals[2]};
    t[0] = a, t[1] = b, t[2] = c;
}

static float narrowed(float x, StDtype dt)
{
    return dt == ST_F32 ? x : dt == ST_BF16 ? st_bf16_to_f32(st_f32_to_bf16(x))
                                            : st_f16_to_f32(st_f32_to_f16(x));
}

START_TEST(writer_round_trips_f32_f16_bf16)
{
    make_tmp();
    StOut t[3];
    test_tensors(t);
    for (int dt = ST_F32; dt <= ST_BF16; dt++) {
        char path[512];
        tmp_path(path, sizeof path, "w.safetensors");
        Error err = {0};
        ck_assert_msg(st_write_file(path, t, 3, (StDtype)dt, &err) == PT_OK, "%s", err.msg);
        StFile f;
        ck_assert_msg(st_open(&f, path, &err) == PT_OK, "%s", err.msg);
        ck_assert_int_eq(f.n, 3);
        ck_assert_str_eq(f.metadata, "{\"format\":\"pt\"}");
        ck_assert_uint_eq(st_find(&f, t[0].name)->file_offset % 8, 0); /* data starts 8-aligned */
        for (int k = 0; k < 3; k++) {
            const StTensor *r = st_find(&f, t[k].name);
            ck_assert(r && r->dtype == (StDtype)dt && r->ndim == t[k].ndim);
            ck_assert(r->shape[0] == t[k].shape[0] && (r->ndim == 1 || r->shape[1] == t[k].shape[1]));
            float back[35];
            st_to_f32(r, back);
            for (int i = 0; i < 35; i++)
                ck_assert_msg(back[i] == narrowed(vals[k][i], (StDtype)dt), "%s[%d] dtype %s",
                              t[k].name, i, st_dtype_name((StDtype)dt));
        }
        st_close(&f);
    }
    remove_tmp();
}
END_TEST

START_TEST(sharded_model_round_trips_through_the_index)
{
    make_tmp();
    StOut t[3];
    test_tensors(t);
    Error err = {0};
    int ns = 0;
    /* 140 bytes per tensor in F32: a 200-byte limit gives one tensor per shard */
    ck_assert_msg(st_write_model(tmpdir, t, 3, ST_F32, 200, &ns, &err) == PT_OK, "%s", err.msg);
    ck_assert_int_eq(ns, 3);
    char path[512];
    tmp_path(path, sizeof path, "model-00002-of-00003.safetensors");
    ck_assert(access(path, F_OK) == 0);
    StModel m;
    ck_assert_msg(st_model_open(&m, tmpdir, &err) == PT_OK, "%s", err.msg);
    ck_assert_int_eq(m.nfiles, 3);
    for (int k = 0; k < 3; k++) {
        const StFile *f;
        const StTensor *r = st_model_find(&m, t[k].name, &f);
        ck_assert(r != NULL);
        float back[35];
        st_to_f32(r, back);
        ck_assert(memcmp(back, vals[k], sizeof back) == 0);
    }
    st_model_close(&m);
    /* the index naming a shard that is not there */
    ck_assert(unlink(path) == 0);
    Error e2 = {0};
    ck_assert_int_eq(st_model_open(&m, tmpdir, &e2), PT_EINPUT);
    ck_assert_msg(strstr(e2.msg, "model-00002-of-00003.safetensors") && strstr(e2.msg, "does not exist"),
                  "%s", e2.msg);
    remove_tmp();
}
END_TEST

/* ---- HF import ---- */

static void import_dir(const char *dir, ModelDims *d, ParamTable *pt, float **params)
{
    Error err = {0};
    ck_assert_msg(hfconfig_read(dir, d, &err) == PT_OK, "%s", err.msg);
    ParamShard shard = params_shard_single(d);
    params_build(pt, d, &shard);
    *params = malloc(pt->numel * sizeof **params);
    ck_assert_msg(hf_load_weights(dir, pt, *params, NULL, &err) == PT_OK, "%s", err.msg);
}

static void check_logits(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/expected.ptfx", dir);
    Fixture fx;
    char msg[512];
    ck_assert_msg(fixture_load(&fx, path, msg, sizeof msg) == 0, "%s", msg);
    const FixtureTensor *ids = fixture_get(&fx, "ids");
    ck_assert(ids && ids->ndim == 2);
    int B = (int)ids->dims[0], T = (int)ids->dims[1], N = B * T;
    ModelDims d;
    ParamTable pt;
    float *params;
    import_dir(dir, &d, &pt, &params);
    float *grads = calloc(pt.numel, sizeof *grads);
    int V = d.vocab_size;
    LlamaShape s = llama_shape(&pt, B, T);
    Llama model;
    llama_init(&model, &pt, &s, params, grads, 1, NULL);
    float *logits = malloc((size_t)N * s.V_local * sizeof *logits);
    double loss = llama_forward_logits(&model, 0, fixture_i32(&fx, "ids", N),
                                       fixture_i32(&fx, "targets", N), logits) / N;
    /* our rows are the padded vocabulary: compare the first V columns */
    float *real = malloc((size_t)N * V * sizeof *real);
    for (int i = 0; i < N; i++)
        memcpy(real + (size_t)i * V, logits + (size_t)i * s.V_local, (size_t)V * sizeof *real);
    double e = rel_err_f32(real, fixture_f32(&fx, "logits", (int64_t)N * V), (int64_t)N * V, 0.0);
    double ref = fixture_f64(&fx, "loss", 1)[0];
    ck_assert_msg(e < TOL_LOGITS, "%s: logits rel err %.3g", dir, e);
    ck_assert_msg(fabs(loss - ref) < TOL_LOSS_ABS, "%s: loss %.8f vs transformers %.8f", dir, loss, ref);
    if (getenv("PICOTRON_TEST_VERBOSE"))
        fprintf(stderr, "%s: logits rel err %.3g, loss %.8f vs %.8f (abs %.3g)\n", dir, e, loss,
                ref, fabs(loss - ref));
    free(real);
    free(logits);
    llama_free(&model);
    free(grads);
    free(params);
    params_free(&pt);
    fixture_free(&fx);
}

START_TEST(imported_gqa_untied_model_matches_transformers)
{
    check_logits("tests/fixtures/hf/gqa_untied");
}
END_TEST

START_TEST(imported_tied_model_matches_transformers)
{
    check_logits("tests/fixtures/hf/tied");
}
END_TEST

START_TEST(imported_bf16_model_matches_transformers_and_widens_exactly)
{
    check_logits("tests/fixtures/hf/tied_bf16");
    /* every imported value is a bf16 value: narrowing gives back the file's bits */
    ModelDims d;
    ParamTable pt;
    float *params;
    import_dir("tests/fixtures/hf/tied_bf16", &d, &pt, &params);
    for (size_t i = 0; i < pt.numel; i++)
        ck_assert(st_bf16_to_f32(st_f32_to_bf16(params[i])) == params[i]);
    free(params);
    params_free(&pt);
}
END_TEST

/* A copy of the gqa_untied fixture in tmpdir, with config.json replaced when text != NULL. */
static void copy_fixture(const char *config_text)
{
    make_tmp();
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cp tests/fixtures/hf/gqa_untied/config.json "
             "tests/fixtures/hf/gqa_untied/model.safetensors %s/", tmpdir);
    ck_assert(system(cmd) == 0);
    if (config_text) {
        char path[512];
        tmp_path(path, sizeof path, "config.json");
        write_text(path, config_text);
    }
}

#define LLAMA_DIMS "\"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2, " \
                   "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"vocab_size\": 300"

START_TEST(configs_of_other_architectures_and_features_are_refused)
{
    struct {
        const char *config;
        const char *want;
    } cases[] = {
        {"{\"model_type\": \"gpt2\", \"architectures\": [\"GPT2LMHeadModel\"], \"n_embd\": 64}",
         "model_type \"gpt2\""},
        {"{\"model_type\": \"llama\", \"architectures\": [\"LlamaForSequenceClassification\"], "
         LLAMA_DIMS "}", "architectures"},
        {"{\"model_type\": \"llama\", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}, "
         LLAMA_DIMS "}", "rope_scaling"},
        {"{\"model_type\": \"llama\", \"rope_parameters\": {\"rope_type\": \"llama3\"}, "
         LLAMA_DIMS "}", "rope_parameters"},
        {"{\"model_type\": \"llama\", \"attention_bias\": true, " LLAMA_DIMS "}", "bias"},
        {"{\"model_type\": \"llama\", \"hidden_act\": \"gelu\", " LLAMA_DIMS "}", "hidden_act"},
        {"{\"model_type\": \"llama\", \"torch_dtype\": \"int8\", " LLAMA_DIMS "}", "torch_dtype"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        copy_fixture(cases[i].config);
        ModelDims d;
        Error err = {0};
        ck_assert_int_eq(hfconfig_read(tmpdir, &d, &err), PT_EINPUT);
        ck_assert_msg(strstr(err.msg, cases[i].want) && strstr(err.msg, "config.json"),
                      "case %zu: \"%s\" lacks \"%s\"", i, err.msg, cases[i].want);
        remove_tmp();
    }
    /* rope_parameters of the default type carry rope_theta */
    copy_fixture("{\"model_type\": \"llama\", \"rope_parameters\": {\"rope_type\": \"default\", "
                 "\"rope_theta\": 500000.0}, " LLAMA_DIMS "}");
    ModelDims d;
    Error err = {0};
    ck_assert_msg(hfconfig_read(tmpdir, &d, &err) == PT_OK, "%s", err.msg);
    ck_assert(d.rope_theta == 500000.0);
    remove_tmp();
}
END_TEST

/* Import of the fixture with its weights rewritten to hold `t` (n tensors). */
static int import_with(const StOut *t, int n, Error *err)
{
    copy_fixture(NULL);
    char path[512];
    tmp_path(path, sizeof path, "model.safetensors");
    ck_assert(st_write_file(path, t, n, ST_F32, err) == PT_OK);
    ModelDims d;
    ck_assert(hfconfig_read(tmpdir, &d, err) == PT_OK);
    ParamShard shard = params_shard_single(&d);
    ParamTable pt;
    params_build(&pt, &d, &shard);
    float *params = malloc(pt.numel * sizeof *params);
    int rc = hf_load_weights(tmpdir, &pt, params, NULL, err);
    free(params);
    params_free(&pt);
    remove_tmp();
    return rc;
}

START_TEST(weights_that_do_not_fit_the_config_are_refused)
{
    /* the fixture's own tensors, read once */
    StModel m;
    Error err = {0};
    ck_assert(st_model_open(&m, "tests/fixtures/hf/gqa_untied", &err) == PT_OK);
    int n = m.files[0].n;
    StOut *t = calloc((size_t)n + 1, sizeof *t);
    float **bufs = calloc((size_t)n + 1, sizeof *bufs);
    int drop = -1, head = -1;
    for (int i = 0; i < n; i++) {
        const StTensor *s = &m.files[0].t[i];
        bufs[i] = malloc((size_t)s->numel * sizeof(float));
        st_to_f32(s, bufs[i]);
        t[i].name = s->name;
        t[i].ndim = s->ndim;
        memcpy(t[i].shape, s->shape, sizeof t[i].shape);
        t[i].data = bufs[i];
        if (!strcmp(s->name, "model.layers.1.mlp.up_proj.weight"))
            drop = i;
        if (!strcmp(s->name, "lm_head.weight"))
            head = i;
    }
    ck_assert(drop >= 0 && head >= 0);
    ck_assert_int_eq(import_with(t, n, &err), PT_OK);

    /* a missing tensor */
    StOut saved = t[drop];
    t[drop] = t[n - 1];
    Error e1 = {0};
    ck_assert_int_eq(import_with(t, n - 1, &e1), PT_EINPUT);
    ck_assert_msg(strstr(e1.msg, "model.layers.1.mlp.up_proj.weight") && strstr(e1.msg, "missing"),
                  "%s", e1.msg);
    t[n - 1] = t[drop];
    t[drop] = saved;

    /* a shape that is not the config's */
    t[head].shape[0] = 299;
    Error e2 = {0};
    ck_assert_int_eq(import_with(t, n, &e2), PT_EINPUT);
    ck_assert_msg(strstr(e2.msg, "lm_head.weight") && strstr(e2.msg, "[299, 64]") &&
                  strstr(e2.msg, "[300, 64]"), "%s", e2.msg);
    t[head].shape[0] = 300;

    /* a bias */
    static float bias[64];
    t[n] = (StOut){.name = "model.layers.0.self_attn.q_proj.bias", .ndim = 1, .shape = {64},
                   .data = bias};
    Error e3 = {0};
    ck_assert_int_eq(import_with(t, n + 1, &e3), PT_EINPUT);
    ck_assert_msg(strstr(e3.msg, "q_proj.bias") && strstr(e3.msg, "biases"), "%s", e3.msg);

    for (int i = 0; i < n; i++)
        free(bufs[i]);
    free(bufs);
    free(t);
    st_model_close(&m);
}
END_TEST

START_TEST(export_then_import_gives_the_same_bytes)
{
    ModelDims d;
    ParamTable pt;
    float *params;
    import_dir("tests/fixtures/hf/gqa_untied", &d, &pt, &params);
    make_tmp();
    Error err = {0};
    ck_assert_msg(hf_save(tmpdir, &pt, params, ST_F32, 100000, &err) == PT_OK, "%s", err.msg);
    StModel a, b;
    ck_assert(st_model_open(&a, "tests/fixtures/hf/gqa_untied", &err) == PT_OK);
    ck_assert_msg(st_model_open(&b, tmpdir, &err) == PT_OK, "%s", err.msg);
    ck_assert(b.nfiles > 1); /* 100 kB shards */
    for (int i = 0; i < a.files[0].n; i++) {
        const StTensor *x = &a.files[0].t[i], *y = st_model_find(&b, x->name, NULL);
        ck_assert_msg(y != NULL, "%s missing", x->name);
        ck_assert(x->dtype == y->dtype && x->numel == y->numel);
        ck_assert_msg(memcmp(x->data, y->data, (size_t)x->numel * 4) == 0, "%s differs", x->name);
    }
    ModelDims back;
    ck_assert_msg(hfconfig_read(tmpdir, &back, &err) == PT_OK, "%s", err.msg);
    ck_assert_mem_eq(&back, &d, sizeof d);
    st_model_close(&a);
    st_model_close(&b);
    remove_tmp();
    free(params);
    params_free(&pt);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("format");
    tcase_add_test(tc, reader_accepts_the_good_file);
    tcase_add_test(tc, reader_refuses_each_malformed_header_naming_tensor_and_offset);
    tcase_add_test(tc, widening_is_exact_and_narrowing_inverts_it_for_every_16_bit_value);
    tcase_add_test(tc, narrowing_rounds_to_nearest_even);
    tcase_add_test(tc, writer_round_trips_f32_f16_bf16);
    tcase_add_test(tc, sharded_model_round_trips_through_the_index);
    suite_add_tcase(s, tc);
    TCase *hf = tcase_create("hf");
    tcase_add_test(hf, imported_gqa_untied_model_matches_transformers);
    tcase_add_test(hf, imported_tied_model_matches_transformers);
    tcase_add_test(hf, imported_bf16_model_matches_transformers_and_widens_exactly);
    tcase_add_test(hf, configs_of_other_architectures_and_features_are_refused);
    tcase_add_test(hf, weights_that_do_not_fit_the_config_are_refused);
    tcase_add_test(hf, export_then_import_gives_the_same_bytes);
    suite_add_tcase(s, hf);
    return check_run(s);
}
