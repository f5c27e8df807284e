/* test_data: llm.c shard reading and writing, the global sample order (wrap, shuffle, limits),
 * every malformed-input error, the synthetic stream, and the text2shard tool end to end. */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "data.h"

/* ---- helpers ---- */

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/pt_test_data_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_dir(void)
{
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* dir/name into buf. */
static const char *in_dir(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
    return buf;
}

static void write_shard_ok(const char *path, const int32_t *tokens, int64_t n, int force_u32)
{
    Error err = {0};
    ck_assert_msg(data_write_shard(path, tokens, n, force_u32, &err) == PT_OK, "%s", err.msg);
}

/* A file with the given header fields and payload bytes, for malformed-shard tests. */
static void write_raw(const char *path, int32_t magic, int32_t version, int32_t ntok,
                      size_t payload_bytes)
{
    int32_t header[SHARD_HEADER_INTS] = {magic, version, ntok};
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(header, 4, SHARD_HEADER_INTS, f), SHARD_HEADER_INTS);
    for (size_t i = 0; i < payload_bytes; i++)
        fputc(7, f);
    fclose(f);
}

static void write_bytes(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
}

static int32_t header_int(const char *path, int k)
{
    int32_t h[SHARD_HEADER_INTS];
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(h, 4, SHARD_HEADER_INTS, f), SHARD_HEADER_INTS);
    fclose(f);
    return h[k];
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* data_open must fail with PT_EINPUT and a message containing want. */
static void expect_open_error(const char *name, int T, int V, int64_t num_samples,
                              const char *want)
{
    Dataset ds;
    Error err = {0};
    ck_assert_int_eq(data_open(&ds, name, T, V, num_samples, 0, 1, &err), PT_EINPUT);
    ck_assert_int_eq(err.code, PT_EINPUT);
    ck_assert_msg(strstr(err.msg, want), "message \"%s\" lacks \"%s\"", err.msg, want);
    data_close(&ds);
}

static void open_ok(Dataset *ds, const char *name, int T, int V, int64_t num_samples,
                    int shuffle, uint64_t seed)
{
    Error err = {0};
    ck_assert_msg(data_open(ds, name, T, V, num_samples, shuffle, seed, &err) == PT_OK, "%s",
                  err.msg);
}

static void sample_ok(Dataset *ds, int64_t g, int32_t *tokens)
{
    Error err = {0};
    ck_assert_msg(data_sample(ds, g, tokens, &err) == PT_OK, "%s", err.msg);
}

/* tokens[i] = i: a sample's first token then tells which stream position it starts at. */
static int32_t *iota(int64_t n)
{
    int32_t *t = xmalloc((size_t)n * sizeof *t);
    for (int64_t i = 0; i < n; i++)
        t[i] = (int32_t)i;
    return t;
}

/* ---- round trips ---- */

START_TEST(roundtrip_v1_uint16_shard)
{
    make_dir();
    char path[128];
    in_dir(path, sizeof path, "a.bin");
    enum { N = 1001, T = 8 };
    int32_t tok[N];
    for (int i = 0; i < N; i++)
        tok[i] = (i * 7919) % 65536;
    write_shard_ok(path, tok, N, 0);
    ck_assert_int_eq(header_int(path, 0), SHARD_MAGIC_U16);
    ck_assert_int_eq(header_int(path, 1), 1);
    ck_assert_int_eq(header_int(path, 2), N);
    ck_assert_int_eq(file_size(path), 1024 + 2 * N);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert_int_eq(file_size(tmp), -1);

    Dataset ds;
    open_ok(&ds, path, T, 65536, 0, 0, 0);
    ck_assert_int_eq(ds.ntok, N);
    ck_assert_int_eq(ds.nsamples, (N - 1) / T);
    int32_t s[T + 1];
    for (int64_t i = 0; i < ds.nsamples; i++) {
        sample_ok(&ds, i, s);
        ck_assert_mem_eq(s, tok + i * T, sizeof s);
    }
    data_close(&ds);
    remove_dir();
}
END_TEST

START_TEST(roundtrip_v7_uint32_shard_for_large_ids_or_forced)
{
    make_dir();
    char big[128], forced[128];
    in_dir(big, sizeof big, "big.bin");
    in_dir(forced, sizeof forced, "forced.bin");
    enum { N = 301, T = 10 };
    int32_t tok[N];
    for (int i = 0; i < N; i++)
        tok[i] = 65530 + i * 1000;
    write_shard_ok(big, tok, N, 0);
    ck_assert_int_eq(header_int(big, 0), SHARD_MAGIC_U32);
    ck_assert_int_eq(header_int(big, 1), 7);
    ck_assert_int_eq(file_size(big), 1024 + 4 * N);
    int32_t small[3] = {1, 2, 3};
    write_shard_ok(forced, small, 3, 1);
    ck_assert_int_eq(header_int(forced, 0), SHARD_MAGIC_U32);

    Dataset ds;
    open_ok(&ds, big, T, 1 << 20, 0, 0, 0);
    ck_assert_int_eq(ds.nsamples, 30);
    int32_t s[T + 1];
    for (int64_t i = 0; i < ds.nsamples; i++) {
        sample_ok(&ds, i, s);
        ck_assert_mem_eq(s, tok + i * T, sizeof s);
    }
    data_close(&ds);
    remove_dir();
}
END_TEST

/* ---- the stream ---- */

START_TEST(samples_across_two_shards_equal_the_concatenated_stream)
{
    make_dir();
    enum { NA = 37, NB = 50, T = 6 };
    int32_t *all = iota(NA + NB);
    char a[128], b[128], pattern[128];
    write_shard_ok(in_dir(a, sizeof a, "shard_000.bin"), all, NA, 0);
    write_shard_ok(in_dir(b, sizeof b, "shard_001.bin"), all + NA, NB, 1); /* mixed widths */
    in_dir(pattern, sizeof pattern, "shard_*.bin");

    Dataset ds;
    open_ok(&ds, pattern, T, 1000, 0, 0, 0);
    ck_assert_int_eq(ds.nshards, 2);
    ck_assert_int_eq(ds.ntok, NA + NB);
    ck_assert_int_eq(ds.nsamples, (NA + NB - 1) / T);
    int32_t s[T + 1];
    for (int64_t i = 0; i < ds.nsamples; i++) {
        sample_ok(&ds, i, s);
        ck_assert_mem_eq(s, all + i * T, sizeof s);
    }
    sample_ok(&ds, 6, s); /* tokens 36..42: the one sample that straddles the boundary */
    ck_assert_int_eq(s[0], 36);
    ck_assert_int_eq(s[1], 37);
    data_close(&ds);
    free(all);
    remove_dir();
}
END_TEST

START_TEST(stream_wraps_into_the_next_epoch)
{
    make_dir();
    char path[128];
    int32_t *tok = iota(100);
    write_shard_ok(in_dir(path, sizeof path, "a.bin"), tok, 100, 0);
    Dataset ds;
    open_ok(&ds, path, 9, 256, 0, 0, 0);
    ck_assert_int_eq(ds.nsamples, 11);
    int32_t s0[10], s1[10];
    for (int64_t i = 0; i < ds.nsamples; i++) {
        sample_ok(&ds, i, s0);
        sample_ok(&ds, ds.nsamples + i, s1);
        ck_assert_mem_eq(s0, s1, sizeof s0);
        ck_assert_int_eq(data_epoch(&ds, i), 0);
        ck_assert_int_eq(data_epoch(&ds, ds.nsamples + i), 1);
    }
    ck_assert_int_eq(data_epoch(&ds, 5 * ds.nsamples + 3), 5);
    data_close(&ds);
    free(tok);
    remove_dir();
}
END_TEST

START_TEST(num_samples_limits_the_epoch)
{
    make_dir();
    char path[128];
    int32_t *tok = iota(100);
    write_shard_ok(in_dir(path, sizeof path, "a.bin"), tok, 100, 0);
    Dataset ds;
    open_ok(&ds, path, 4, 256, 3, 0, 0);
    ck_assert_int_eq(ds.nsamples, 3);
    int32_t s[5];
    sample_ok(&ds, 3, s);
    ck_assert_int_eq(s[0], 0); /* sample 3 is sample 0 of epoch 1 */
    ck_assert_int_eq(data_epoch(&ds, 3), 1);
    data_close(&ds);

    open_ok(&ds, path, 4, 256, 1000, 0, 0); /* more than the stream holds: the stream wins */
    ck_assert_int_eq(ds.nsamples, 24);
    data_close(&ds);
    free(tok);
    remove_dir();
}
END_TEST

/* ---- shuffling ---- */

/* Sample starts (divided by T) of samples [g0, g0 + n): the permuted indices. */
static void sample_indices(Dataset *ds, int64_t g0, int64_t n, int64_t *idx)
{
    int32_t *s = xmalloc((size_t)(ds->T + 1) * sizeof *s);
    for (int64_t k = 0; k < n; k++) {
        sample_ok(ds, g0 + k, s);
        idx[k] = s[0] / ds->T;
    }
    free(s);
}

enum { SH_T = 4, SH_NS = 50, SH_NTOK = SH_NS * SH_T + 1 };

static void shuffled(Dataset *ds, const char *path, uint64_t seed)
{
    open_ok(ds, path, SH_T, 1000, 0, 1, seed);
    ck_assert_int_eq(ds->nsamples, SH_NS);
}

static const char *shuffle_shard(char *path, size_t len)
{
    make_dir();
    int32_t *tok = iota(SH_NTOK);
    write_shard_ok(in_dir(path, len, "a.bin"), tok, SH_NTOK, 0);
    free(tok);
    return path;
}

START_TEST(shuffle_is_a_permutation_of_each_epoch)
{
    char path[128];
    Dataset ds;
    shuffled(&ds, shuffle_shard(path, sizeof path), 42);
    for (int64_t epoch = 0; epoch < 3; epoch++) {
        int64_t idx[SH_NS];
        int seen[SH_NS] = {0}, fixed = 0;
        sample_indices(&ds, epoch * SH_NS, SH_NS, idx);
        for (int k = 0; k < SH_NS; k++) {
            ck_assert(idx[k] >= 0 && idx[k] < SH_NS);
            seen[idx[k]]++;
            fixed += idx[k] == k;
        }
        for (int k = 0; k < SH_NS; k++)
            ck_assert_int_eq(seen[k], 1);
        ck_assert_int_lt(fixed, SH_NS / 2); /* not the identity order */
    }
    data_close(&ds);
    remove_dir();
}
END_TEST

START_TEST(shuffle_is_deterministic_per_seed_and_differs_across_epochs_and_seeds)
{
    char path[128];
    Dataset a, b, c;
    shuffle_shard(path, sizeof path);
    shuffled(&a, path, 42);
    shuffled(&b, path, 42);
    shuffled(&c, path, 43);
    int64_t a0[SH_NS], a1[SH_NS], b0[SH_NS], c0[SH_NS];
    sample_indices(&a, 0, SH_NS, a0);
    sample_indices(&a, SH_NS, SH_NS, a1);
    sample_indices(&b, 0, SH_NS, b0);
    sample_indices(&c, 0, SH_NS, c0);
    ck_assert_mem_eq(a0, b0, sizeof a0);
    ck_assert(memcmp(a0, a1, sizeof a0) != 0);
    ck_assert(memcmp(a0, c0, sizeof a0) != 0);
    data_close(&a);
    data_close(&b);
    data_close(&c);
    remove_dir();
}
END_TEST

/* Ranks of any mesh ask for different, interleaved g (and resumes start mid-epoch): the sample
 * for g must not depend on what was asked before. */
START_TEST(shuffle_is_a_pure_function_of_g)
{
    char path[128];
    Dataset seq, jump;
    shuffle_shard(path, sizeof path);
    shuffled(&seq, path, 7);
    shuffled(&jump, path, 7);
    enum { G = 3 * SH_NS };
    int64_t want[G];
    sample_indices(&seq, 0, G, want);
    for (int64_t k = 0; k < G; k++) {
        int64_t g = (k * 37 + 11) % G; /* 37 is coprime with 150: visits every g once */
        int64_t got;
        sample_indices(&jump, g, 1, &got);
        ck_assert_int_eq(got, want[g]);
    }
    data_close(&seq);
    data_close(&jump);
    remove_dir();
}
END_TEST

/* ---- malformed input ---- */

START_TEST(bad_magic_is_an_input_error)
{
    make_dir();
    char path[128];
    write_raw(in_dir(path, sizeof path, "x.bin"), 12345, 1, 10, 20);
    char want[200];
    snprintf(want, sizeof want, "%s: bad magic 12345", path);
    expect_open_error(path, 4, 256, 0, want);
    remove_dir();
}
END_TEST

START_TEST(wrong_version_for_the_magic_is_an_input_error)
{
    make_dir();
    char p1[128], p7[128], want[200];
    write_raw(in_dir(p1, sizeof p1, "v7.bin"), SHARD_MAGIC_U16, 7, 10, 20);
    write_raw(in_dir(p7, sizeof p7, "v1.bin"), SHARD_MAGIC_U32, 1, 10, 40);
    snprintf(want, sizeof want, "%s: wrong version 7 for magic 20240520 (expected 1)", p1);
    expect_open_error(p1, 4, 256, 0, want);
    snprintf(want, sizeof want, "%s: wrong version 1 for magic 20240801 (expected 7)", p7);
    expect_open_error(p7, 4, 256, 0, want);
    remove_dir();
}
END_TEST

START_TEST(truncated_shard_is_an_input_error)
{
    make_dir();
    char path[128], want[300];
    write_raw(in_dir(path, sizeof path, "x.bin"), SHARD_MAGIC_U16, 1, 1000, 1500);
    snprintf(want, sizeof want,
             "%s: truncated: header says 1000 tokens (2000 bytes) but 1500 bytes follow the "
             "header",
             path);
    expect_open_error(path, 4, 256, 0, want);
    remove_dir();
}
END_TEST

START_TEST(trailing_bytes_are_an_input_error)
{
    make_dir();
    char path[128], want[300];
    write_raw(in_dir(path, sizeof path, "x.bin"), SHARD_MAGIC_U32, 7, 10, 41);
    snprintf(want, sizeof want,
             "%s: trailing bytes: header says 10 tokens (40 bytes) but 41 bytes follow the "
             "header",
             path);
    expect_open_error(path, 4, 256, 0, want);
    remove_dir();
}
END_TEST

START_TEST(header_only_and_short_files_are_input_errors)
{
    make_dir();
    char empty[128], shortf[128], zero[128], want[200];
    write_bytes(in_dir(empty, sizeof empty, "empty.bin"), "", 0);
    write_bytes(in_dir(shortf, sizeof shortf, "short.bin"), "abcdefgh", 8);
    write_raw(in_dir(zero, sizeof zero, "zero.bin"), SHARD_MAGIC_U16, 1, 0, 0);
    snprintf(want, sizeof want, "%s: too short for an llm.c shard: 0 bytes", empty);
    expect_open_error(empty, 4, 256, 0, want);
    snprintf(want, sizeof want, "%s: too short for an llm.c shard: 8 bytes", shortf);
    expect_open_error(shortf, 4, 256, 0, want);
    snprintf(want, sizeof want, "%s: header says 0 tokens", zero);
    expect_open_error(zero, 4, 256, 0, want);
    remove_dir();
}
END_TEST

START_TEST(token_id_at_or_above_vocab_names_shard_and_offset)
{
    make_dir();
    char a[128], b[128], pattern[128], want[200];
    int32_t *tok = iota(40);
    write_shard_ok(in_dir(a, sizeof a, "s0.bin"), tok, 20, 0);
    tok[20 + 5] = 300;
    write_shard_ok(in_dir(b, sizeof b, "s1.bin"), tok + 20, 20, 0);
    Dataset ds;
    open_ok(&ds, in_dir(pattern, sizeof pattern, "s?.bin"), 4, 256, 0, 0, 0);
    int32_t s[5];
    sample_ok(&ds, 3, s); /* tokens 12..16, all in s0 */
    /* tokens 16..20: the first read from s1 checks all of it, so its token 5 (stream 25) is
     * found although this sample ends at token 0 */
    Error err = {0};
    ck_assert_int_eq(data_sample(&ds, 4, s, &err), PT_EINPUT);
    snprintf(want, sizeof want, "%s: token 300 at offset 5 is >= vocab_size 256", b);
    ck_assert_str_eq(err.msg, want);
    Error again = {0};
    ck_assert_int_eq(data_sample(&ds, 6, s, &again), PT_EINPUT); /* still refused */
    ck_assert_str_eq(again.msg, want);
    data_close(&ds);
    free(tok);
    remove_dir();
}
END_TEST

/* The last token of the last (uint32) shard, which no early sample reaches, is found by
 * data_check_tokens before any sample is read; a vocabulary one larger passes. */
START_TEST(check_tokens_reads_every_shard_to_its_last_token)
{
    make_dir();
    char a[128], b[128], pattern[128], want[200];
    int32_t *tok = iota(4000);
    write_shard_ok(in_dir(a, sizeof a, "s0.bin"), tok, 2000, 0);
    tok[3999] = 70000;
    write_shard_ok(in_dir(b, sizeof b, "s1.bin"), tok + 2000, 2000, 0); /* v7: 70000 > 65535 */
    in_dir(pattern, sizeof pattern, "s?.bin");
    Dataset ds;
    open_ok(&ds, pattern, 4, 70000, 0, 0, 0);
    Error err = {0};
    ck_assert_int_eq(data_check_tokens(&ds, &err), PT_EINPUT);
    snprintf(want, sizeof want, "%s: token 70000 at offset 1999 is >= vocab_size 70000", b);
    ck_assert_str_eq(err.msg, want);
    data_close(&ds);
    open_ok(&ds, pattern, 4, 70001, 0, 0, 0);
    Error ok = {0};
    ck_assert_msg(data_check_tokens(&ds, &ok) == PT_OK, "%s", ok.msg);
    data_close(&ds);
    /* a uint16 shard's last token too */
    tok[1999] = 3000;
    write_shard_ok(a, tok, 2000, 0);
    open_ok(&ds, pattern, 4, 70001, 0, 0, 0);
    ck_assert_msg(data_check_tokens(&ds, &ok) == PT_OK, "%s", ok.msg);
    data_close(&ds);
    open_ok(&ds, pattern, 4, 2500, 0, 0, 0);
    Error e16 = {0};
    ck_assert_int_eq(data_check_tokens(&ds, &e16), PT_EINPUT);
    snprintf(want, sizeof want, "%s: token 3000 at offset 1999 is >= vocab_size 2500", a);
    ck_assert_str_eq(e16.msg, want);
    data_close(&ds);
    free(tok);
    remove_dir();
}
END_TEST

START_TEST(missing_file_and_empty_glob_are_input_errors)
{
    make_dir();
    char path[128], pattern[128], want[200];
    in_dir(path, sizeof path, "missing.bin");
    snprintf(want, sizeof want, "%s: No such file or directory", path);
    expect_open_error(path, 4, 256, 0, want);
    in_dir(pattern, sizeof pattern, "nothing_*.bin");
    snprintf(want, sizeof want, "glob \"%s\" matches no files", pattern);
    expect_open_error(pattern, 4, 256, 0, want);
    remove_dir();
}
END_TEST

START_TEST(hub_dataset_name_says_how_to_make_shards)
{
    expect_open_error("roneneldan/TinyStories", 4, 256, 0,
                      "dataset.name: \"roneneldan/TinyStories\" is not a file or glob of token "
                      "shards; picotron trains on llm.c shards: make one with bin/text2shard "
                      "(byte-level) or llm.c's tokenizer scripts");
}
END_TEST

START_TEST(stream_shorter_than_one_sample_is_an_input_error)
{
    make_dir();
    char path[128], want[300];
    int32_t *tok = iota(8);
    write_shard_ok(in_dir(path, sizeof path, "a.bin"), tok, 8, 0);
    snprintf(want, sizeof want,
             "dataset \"%s\" holds 8 tokens, fewer than one sample of seq_length 8", path);
    expect_open_error(path, 8, 256, 0, want);
    free(tok);
    remove_dir();
}
END_TEST

START_TEST(negative_token_is_not_written)
{
    make_dir();
    char path[128], tmp[160];
    int32_t tok[3] = {1, -4, 2};
    Error err = {0};
    in_dir(path, sizeof path, "a.bin");
    ck_assert_int_eq(data_write_shard(path, tok, 3, 0, &err), PT_EINPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "token -4 at offset 1 is negative"));
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ck_assert_int_eq(file_size(path), -1);
    ck_assert_int_eq(file_size(tmp), -1);
    remove_dir();
}
END_TEST

START_TEST(close_is_safe_on_zeroed_and_closed_datasets)
{
    Dataset ds;
    memset(&ds, 0, sizeof ds);
    data_close(&ds);
    data_close(&ds);
}
END_TEST

/* ---- synthetic ---- */

START_TEST(synthetic_stream_is_deterministic_and_below_vocab)
{
    enum { T = 64, V = 97 };
    Dataset a, b, c;
    open_ok(&a, "synthetic", T, V, 0, 1, 5);
    open_ok(&b, "synthetic", T, V, 0, 1, 5);
    open_ok(&c, "synthetic", T, V, 0, 1, 6);
    ck_assert(a.nsamples >= ((int64_t)1 << 31));
    int32_t sa[T + 1], sb[T + 1], sc[T + 1];
    int64_t gs[] = {0, 1, 12345, (int64_t)1 << 35};
    for (int k = 0; k < 4; k++) {
        sample_ok(&a, gs[k], sa);
        sample_ok(&b, gs[k], sb);
        sample_ok(&c, gs[k], sc);
        ck_assert_mem_eq(sa, sb, sizeof sa);
        ck_assert(memcmp(sa, sc, sizeof sa) != 0);
        for (int j = 0; j <= T; j++)
            ck_assert(sa[j] >= 0 && sa[j] < V);
    }
    sample_ok(&a, 0, sa);
    sample_ok(&a, 1, sb);
    ck_assert_int_eq(sa[T], sb[0]); /* consecutive samples share a token, like file streams */
    data_close(&a);
    data_close(&b);
    data_close(&c);
}
END_TEST

/* ---- text2shard ---- */

/* Build the tool with a clean make environment: inherited MAKEFLAGS (B=build-asan SAN=... under
 * check-asan) would rebuild bin/text2shard with the sanitizers. */
static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* All tokens of a one-shard file, through data_open (so the shard also validates). */
static int64_t read_back(const char *path, int32_t *out, int64_t cap)
{
    Dataset ds;
    open_ok(&ds, path, 1, 256, 0, 0, 0);
    int64_t n = ds.ntok;
    data_close(&ds);
    ck_assert_int_le(n, cap);
    open_ok(&ds, path, (int)n - 1, 256, 0, 0, 0); /* one sample holds the whole shard */
    sample_ok(&ds, 0, out);
    data_close(&ds);
    return n;
}

START_TEST(text2shard_writes_the_bytes_with_a_validation_tail)
{
    ck_assert_int_eq(run("env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "
                         "make --no-print-directory -s bin/text2shard >&2"),
                     0);
    make_dir();
    enum { N1 = 250, N2 = 150, N = N1 + N2 };
    unsigned char text[N];
    for (int i = 0; i < N; i++)
        text[i] = (unsigned char)((i * 31 + 7) % 256);
    char in1[128], in2[128], train[128], val[128], cmd[1024];
    write_bytes(in_dir(in1, sizeof in1, "one.txt"), text, N1);
    write_bytes(in_dir(in2, sizeof in2, "two.txt"), text + N1, N2);
    in_dir(train, sizeof train, "train.bin");
    in_dir(val, sizeof val, "val.bin");
    snprintf(cmd, sizeof cmd,
             "bin/text2shard --val-fraction 0.25 %s - --out %s --val-out %s < %s 2>/dev/null",
             in1, train, val, in2);
    ck_assert_int_eq(run(cmd), 0);

    int32_t got[N];
    ck_assert_int_eq(read_back(train, got, N), 300);
    ck_assert_int_eq(read_back(val, got + 300, N - 300), 100);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(got[i], text[i]);
    ck_assert_int_eq(header_int(train, 0), SHARD_MAGIC_U16);

    snprintf(cmd, sizeof cmd, "bin/text2shard %s/none.txt --out %s 2>/dev/null", dir, train);
    ck_assert_int_eq(run(cmd), 2);
    ck_assert_int_eq(run("bin/text2shard --bogus 2>/dev/null"), 2);
    ck_assert_int_eq(run("bin/text2shard --help >/dev/null"), 0);
    remove_dir();
}
END_TEST

static Suite *data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *rt = tcase_create("roundtrip");
    tcase_add_test(rt, roundtrip_v1_uint16_shard);
    tcase_add_test(rt, roundtrip_v7_uint32_shard_for_large_ids_or_forced);
    suite_add_tcase(s, rt);

    TCase *order = tcase_create("order");
    tcase_add_test(order, samples_across_two_shards_equal_the_concatenated_stream);
    tcase_add_test(order, stream_wraps_into_the_next_epoch);
    tcase_add_test(order, num_samples_limits_the_epoch);
    tcase_add_test(order, shuffle_is_a_permutation_of_each_epoch);
    tcase_add_test(order, shuffle_is_deterministic_per_seed_and_differs_across_epochs_and_seeds);
    tcase_add_test(order, shuffle_is_a_pure_function_of_g);
    suite_add_tcase(s, order);

    TCase *errors = tcase_create("errors");
    tcase_add_test(errors, bad_magic_is_an_input_error);
    tcase_add_test(errors, wrong_version_for_the_magic_is_an_input_error);
    tcase_add_test(errors, truncated_shard_is_an_input_error);
    tcase_add_test(errors, trailing_bytes_are_an_input_error);
    tcase_add_test(errors, header_only_and_short_files_are_input_errors);
    tcase_add_test(errors, token_id_at_or_above_vocab_names_shard_and_offset);
    tcase_add_test(errors, check_tokens_reads_every_shard_to_its_last_token);
    tcase_add_test(errors, missing_file_and_empty_glob_are_input_errors);
    tcase_add_test(errors, hub_dataset_name_says_how_to_make_shards);
    tcase_add_test(errors, stream_shorter_than_one_sample_is_an_input_error);
    tcase_add_test(errors, negative_token_is_not_written);
    tcase_add_test(errors, close_is_safe_on_zeroed_and_closed_datasets);
    suite_add_tcase(s, errors);

    TCase *synth = tcase_create("synthetic");
    tcase_add_test(synth, synthetic_stream_is_deterministic_and_below_vocab);
    suite_add_tcase(s, synth);

    TCase *tool = tcase_create("text2shard");
    tcase_set_timeout(tool, 300); /* may have to build the library first */
    tcase_add_test(tool, text2shard_writes_the_bytes_with_a_validation_tail);
    suite_add_tcase(s, tool);
    return s;
}

int main(void)
{
    return check_run(data_suite());
}
