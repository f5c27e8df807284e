/* test_tokenizer: picotron's C tokenizer against Hugging Face `tokenizers` 0.23.3. For each
 * fixture tokenizer (tests/fixtures/tokenizer/NAME.json, one per supported family, made by
 * scripts/make_tokenizer_fixtures.py) and every document of the nasty corpus docs.bin, the ids
 * must equal NAME.ids exactly and the decoded text must equal NAME.decoded byte for byte: no
 * tolerance, tokenization is discrete. Decoding the ids gives the document back exactly
 * wherever the tokenizer is lossless (valid UTF-8; in SentencePiece-style text no added token,
 * since each segment gets a ▁ prepended, and with Metaspace no leading space). Also: unsupported tokenizer.json parts are refused
 * naming the JSON path. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_run.h"
#include "tokenizer.h"
#include "utf8.h"

#define DIR "tests/fixtures/tokenizer/"

typedef struct {
    char **s;
    size_t *n;
    int count;
} Docs;

/* The framing of docs.bin and NAME.decoded: length in decimal, "\n", bytes, "\n". */
static Docs read_framed(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: cannot open", path);
    Docs d = {0};
    size_t n;
    while (fscanf(f, "%zu", &n) == 1) {
        ck_assert_int_eq(fgetc(f), '\n');
        d.s = realloc(d.s, (size_t)(d.count + 1) * sizeof *d.s);
        d.n = realloc(d.n, (size_t)(d.count + 1) * sizeof *d.n);
        d.s[d.count] = malloc(n + 1);
        ck_assert_uint_eq(fread(d.s[d.count], 1, n, f), n);
        d.n[d.count++] = n;
        ck_assert_int_eq(fgetc(f), '\n');
    }
    fclose(f);
    return d;
}

static void free_docs(Docs *d)
{
    for (int i = 0; i < d->count; i++)
        free(d->s[i]);
    free(d->s);
    free(d->n);
}

static int has_added_token(const Tokenizer *t, const char *s, size_t n)
{
    size_t len;
    int32_t id;
    return addedtok_find(&t->added, 0, s, n, 0, &len, &id) < n;
}

/* 1 when the tokenizer's NFC/NFD/NFKC/NFKD steps (if any) leave s as it is: those forms lose
 * the original spelling. */
static int unchanged_by_unicode_forms(Tokenizer *t, const char *s, size_t n)
{
    int unicode = 0;
    for (int i = 0; i < t->norm.n; i++)
        unicode |= t->norm.steps[i].kind == NORM_UNICODE;
    if (!unicode)
        return 1;
    ByteVec out = {0};
    textnorm_apply(&t->norm, s, n, 0, &out);
    int same = out.n == n && !memcmp(out.v, s, n);
    bytevec_free(&out);
    return same;
}

static void check_family(const char *name)
{
    char path[256];
    Error err = {0};
    Tokenizer t;
    snprintf(path, sizeof path, DIR "%s.json", name);
    ck_assert_msg(tokenizer_load(&t, path, &err) == PT_OK, "%s", err.msg);
    Docs docs = read_framed(DIR "docs.bin");
    snprintf(path, sizeof path, DIR "%s.decoded", name);
    Docs decoded = read_framed(path);
    ck_assert_int_eq(docs.count, decoded.count);
    snprintf(path, sizeof path, DIR "%s.ids", name);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char *line = NULL;
    size_t cap = 0;
    IdVec ids = {0};
    ByteVec text = {0};
    int roundtrips = 0;
    for (int d = 0; d < docs.count; d++) {
        ck_assert_msg(getline(&line, &cap, f) > 0, "%s: %d lines, want %d", path, d, docs.count);
        ids.n = 0;
        tokenizer_encode(&t, docs.s[d], docs.n[d], &ids);
        char *p = line;
        size_t k = 0;
        for (;;) {
            char *end;
            long want = strtol(p, &end, 10);
            if (end == p)
                break;
            ck_assert_msg(k < ids.n, "%s doc %d: %zu ids, want more", name, d, ids.n);
            ck_assert_msg(ids.v[k] == want, "%s doc %d id %zu: %d, want %ld", name, d, k,
                          ids.v[k], want);
            k++;
            p = end;
        }
        ck_assert_msg(k == ids.n, "%s doc %d: %zu ids, want %zu", name, d, ids.n, k);
        text.n = 0;
        ck_assert_msg(tokenizer_decode(&t, ids.v, ids.n, &text, &err) == PT_OK, "%s", err.msg);
        ck_assert_msg(text.n == decoded.n[d] && !memcmp(text.v, decoded.s[d], text.n),
                      "%s doc %d: decoded text differs from tokenizers'", name, d);
        /* Metaspace adds no "▁" before a leading space, yet the decoder strips one */
        int lossless = utf8_is_valid(docs.s[d], docs.n[d]) &&
                       (t.bpe.byte_level || (!has_added_token(&t, docs.s[d], docs.n[d]) &&
                                             !(t.pre.metaspace && docs.s[d][0] == ' '))) &&
                       unchanged_by_unicode_forms(&t, docs.s[d], docs.n[d]);
        if (lossless) {
            ck_assert_msg(text.n == docs.n[d] && !memcmp(text.v, docs.s[d], text.n),
                          "%s doc %d: decode(encode(doc)) != doc", name, d);
            roundtrips++;
        }
    }
    /* 27 documents: 2 hold invalid UTF-8, 2 more hold added tokens, 3 start with a space;
     * NFD changes 3 of them, NFKC 5 */
    ck_assert_int_ge(roundtrips, docs.count - 9);
    free(line);
    fclose(f);
    idvec_free(&ids);
    bytevec_free(&text);
    free_docs(&docs);
    free_docs(&decoded);
    tokenizer_free(&t);
}

/* The fixture tokenizers: the four families, Llama-2's model in the Metaspace layout, GPT-2's
 * behind the NFKC and NFD normalizers. */
static const char *const FIXTURES[] = {"gpt2",     "smollm",   "llama3", "llama2",
                                       "llama2ms", "gpt2nfkc", "gpt2nfd"};
#define NFIXTURES ((int)(sizeof FIXTURES / sizeof FIXTURES[0]))

START_TEST(ids_and_decoded_text_equal_hf_tokenizers) { check_family(FIXTURES[_i]); }
END_TEST

/* A large document may be tokenized in pieces cut by tokenizer_cut (docin streams plain-text
 * files so): the ids must be those of the whole. All 27 documents joined into one text, cut
 * as docin cuts a file, for several chunk sizes down to 7 bytes (a cut every few words). */
static void check_cut(const char *name, int cuttable)
{
    char path[256];
    Error err = {0};
    Tokenizer t;
    snprintf(path, sizeof path, DIR "%s.json", name);
    ck_assert_msg(tokenizer_load(&t, path, &err) == PT_OK, "%s", err.msg);
    ck_assert_int_eq(t.cuttable, cuttable);
    Docs docs = read_framed(DIR "docs.bin");
    ByteVec all = {0};
    for (int d = 0; d < docs.count; d++)
        bytevec_append(&all, docs.s[d], docs.n[d]);
    IdVec whole = {0}, pieces = {0};
    tokenizer_encode(&t, all.v, all.n, &whole);
    static const size_t chunks[] = {7, 16, 61, 1000};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        pieces.n = 0;
        size_t start = 0, ncuts = 0;
        while (start < all.n) {
            size_t len = chunks[c], at = 0;
            while (start + len < all.n && !(at = tokenizer_cut(&t, all.v + start, len)))
                len += chunks[c];
            if (start + len >= all.n)
                at = all.n - start;
            else
                ncuts++;
            tokenizer_encode_piece(&t, all.v + start, at, start > 0, &pieces);
            start += at;
        }
        /* the long words and the 3000 a's leave long stretches without a place to cut */
        ck_assert_msg(!cuttable || chunks[c] > 100 || ncuts >= 10, "%s: only %zu cuts", name, ncuts);
        ck_assert_msg(pieces.n == whole.n && !memcmp(pieces.v, whole.v, whole.n * sizeof *whole.v),
                      "%s, chunks of %zu: ids differ from the whole text's", name, chunks[c]);
    }
    idvec_free(&whole);
    idvec_free(&pieces);
    bytevec_free(&all);
    free_docs(&docs);
    tokenizer_free(&t);
}

START_TEST(cut_documents_give_the_ids_of_the_whole)
{
    check_cut("gpt2", 1);
    check_cut("smollm", 1);
    check_cut("llama3", 1);
    check_cut("llama2", 1);
    check_cut("llama2ms", 0); /* Metaspace: never cut */
}
END_TEST

/* Load JSON text as a tokenizer.json; the error message it gives (empty when it loaded). */
static const char *load_text(const char *json, Error *err)
{
    char path[] = "/tmp/test_tokenizer_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, json, strlen(json)), (ssize_t)strlen(json));
    close(fd);
    Tokenizer t;
    memset(err, 0, sizeof *err);
    if (tokenizer_load(&t, path, err) == PT_OK)
        tokenizer_free(&t);
    unlink(path);
    return err->msg;
}

START_TEST(unsupported_parts_are_refused_naming_the_json_path)
{
    static const struct { const char *json, *path; } cases[] = {
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", "model.type"},
        {"{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "model.type"},
        {"{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, "
         "{\"type\": \"Lowercase\"}]}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, "
         "\"merges\": []}}", "normalizer.normalizers[1].type"},
        {"{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
         "\"Whitespace\"}]}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
         "pre_tokenizer.pretokenizers[0].type"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}",
         "model.merges[0]"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": [], \"dropout\": 0.1}}",
         "model.dropout"},
        {"{\"added_tokens\": [{\"id\": 0, \"content\": \"<m>\", \"lstrip\": true}], "
         "\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
         "added_tokens[0].lstrip"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}, \"post_processor\": "
         "{\"type\": \"BertProcessing\"}}", "post_processor.type"},
        {"{\"version\": \"1.0\"}", "model: missing"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
         "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": "
         "{\"id\": \"<s>\"}}, {\"Sequence\": {\"id\": \"A\"}}], \"special_tokens\": {\"<s>\": "
         "{\"ids\": [7]}}}}", "post_processor: special token id 7 is not in the vocabulary"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}, \"post_processor\": "
         "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": 3}}]}}",
         "post_processor.single[0]"},
        {"{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"_\", \"split\": true}, "
         "\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
         "pre_tokenizer.split: only false"},
        {"{\"added_tokens\": [{\"id\": 4294967296, \"content\": \"<big>\"}], \"model\": "
         "{\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
         "added_tokens[0].id: 4294967296 is too large for the shard format"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 3000000000}, \"merges\": []}}",
         "model.vocab[\"a\"]: id 3000000000 is too large"},
        {"{\"model\": {\"type\": \"BPE\"", "1:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Error err;
        const char *msg = load_text(cases[i].json, &err);
        ck_assert_msg(err.code == PT_EINPUT, "case %zu: code %d (%s)", i, err.code, msg);
        ck_assert_msg(strstr(msg, cases[i].path) != NULL, "case %zu: '%s' does not name %s", i,
                      msg, cases[i].path);
    }
}
END_TEST

START_TEST(a_missing_file_and_a_directory_without_one_are_named)
{
    Tokenizer t;
    Error err = {0};
    ck_assert_int_eq(tokenizer_load(&t, "/nonexistent/tokenizer.json", &err), PT_EINPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/tokenizer.json"));
    memset(&err, 0, sizeof err);
    ck_assert_int_eq(tokenizer_load(&t, "tests/unit", &err), PT_EINPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "tests/unit/tokenizer.json"));
}
END_TEST

START_TEST(invalid_utf8_is_replaced_by_maximal_subparts)
{
    /* Python: b"\xed\xa0\x80|\xe2\x82|\xf0\x9f\x98\x80|\xc0\xaf|\xf4\x90".decode(errors="replace") */
    const char in[] = "\xed\xa0\x80|\xe2\x82|\xf0\x9f\x98\x80|\xc0\xaf|\xf4\x90";
    const char want[] = "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd|\xf0\x9f\x98\x80|"
                        "\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd";
    char out[3 * sizeof in];
    size_t n = utf8_repair(in, sizeof in - 1, out);
    ck_assert_uint_eq(n, sizeof want - 1);
    ck_assert(!memcmp(out, want, n));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, ids_and_decoded_text_equal_hf_tokenizers, 0, NFIXTURES);
    tcase_add_test(tc, cut_documents_give_the_ids_of_the_whole);
    tcase_add_test(tc, unsupported_parts_are_refused_naming_the_json_path);
    tcase_add_test(tc, a_missing_file_and_a_directory_without_one_are_named);
    tcase_add_test(tc, invalid_utf8_is_replaced_by_maximal_subparts);
    suite_add_tcase(s, tc);
    return check_run(s);
}
