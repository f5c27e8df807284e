/* tokenizer: the encode pipeline of `tokenizers` in order: repair UTF-8; split out added
 * tokens that match the raw text; normalize each remaining segment; split out added tokens
 * that match normalized text; pre-tokenize; BPE each word. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jsonin.h"
#include "tokenizer.h"
#include "utf8.h"

/* Special tokens of a TemplateProcessing "single" template: those before $A to bos, after it
 * to eos. */
static int load_template(Tokenizer *t, json_t *pp, const char *path, Error *err)
{
    json_t *single = json_object_get(pp, "single"), *special = json_object_get(pp, "special_tokens");
    if (!json_is_array(single))
        return err_set(err, PT_EINPUT, "%s: %s.single: expected an array", t->path, path);
    int after = 0;
    for (size_t i = 0; i < json_array_size(single); i++) {
        json_t *item = json_array_get(single, i);
        if (json_object_get(item, "Sequence")) {
            after = 1;
            continue;
        }
        json_t *name = json_object_get(json_object_get(item, "SpecialToken"), "id");
        json_t *ids = json_is_string(name)
                          ? json_object_get(json_object_get(special, json_string_value(name)), "ids")
                          : NULL;
        if (!json_is_array(ids))
            return err_set(err, PT_EINPUT, "%s: %s.single[%zu]: a special token missing from "
                           "%s.special_tokens", t->path, path, i, path);
        for (size_t k = 0; k < json_array_size(ids); k++) {
            int *cnt = after ? &t->neos : &t->nbos;
            int32_t *dst = after ? t->eos : t->bos;
            json_t *id = json_array_get(ids, k);
            if (!json_is_integer(id) || *cnt == 4)
                return err_set(err, PT_EINPUT, "%s: %s.special_tokens: expected at most 4 ids "
                               "per side", t->path, path);
            dst[(*cnt)++] = (int32_t)json_integer_value(id);
        }
    }
    return PT_OK;
}

static int load_post(Tokenizer *t, json_t *pp, const char *path, Error *err)
{
    if (!pp || json_is_null(pp))
        return PT_OK;
    json_t *type = json_object_get(pp, "type");
    const char *ty = json_is_string(type) ? json_string_value(type) : "(missing)";
    if (!strcmp(ty, "ByteLevel")) /* offsets only */
        return PT_OK;
    if (!strcmp(ty, "TemplateProcessing"))
        return load_template(t, pp, path, err);
    if (!strcmp(ty, "Sequence")) {
        json_t *list = json_object_get(pp, "processors");
        for (size_t i = 0; i < json_array_size(list); i++) {
            char where[256];
            snprintf(where, sizeof where, "%s.processors[%zu]", path, i);
            if (load_post(t, json_array_get(list, i), where, err))
                return err->code;
        }
        return PT_OK;
    }
    return err_set(err, PT_EINPUT, "%s: %s.type: \"%s\" is not supported (supported: "
                   "TemplateProcessing, ByteLevel, Sequence)", t->path, path, ty);
}

static void name_family(Tokenizer *t)
{
    if (t->bpe.byte_level)
        snprintf(t->family, sizeof t->family, "byte-level BPE, %s",
                 t->pre.split ? "Split regex (Llama-3)" : "GPT-2 regex (GPT-2, SmolLM)");
    else
        snprintf(t->family, sizeof t->family, "BPE%s%s",
                 t->bpe.byte_fallback ? " with byte fallback" : "",
                 t->pre.metaspace ? ", Metaspace (Llama-2, TinyLlama)"
                 : t->norm.n ? ", normalizer (Llama-2, TinyLlama)" : "");
}

/* Whether tokenizer_cut may cut (the conditions are listed there). */
static int cuttable(const Tokenizer *t)
{
    for (int i = 0; i < t->added.n; i++)
        if (memchr(t->added.t[i].content, ' ', t->added.t[i].len) ||
            memmem(t->added.t[i].content, t->added.t[i].len, "\u2581", 3))
            return 0;
    if (t->pre.byte_level) {
        int regex_steps = 0;
        for (int i = 0; i < t->pre.n; i++)
            regex_steps += t->pre.steps[i].kind == PRE_REGEX;
        return t->pre.known_regexes && regex_steps && !t->norm.n;
    }
    if (t->pre.n || t->pre.metaspace || !textnorm_is_sentencepiece(&t->norm) ||
        bpe_token_id(&t->bpe, "\u2581", 3) < 0)
        return 0;
    for (int32_t id = 0; id < t->bpe.nids; id++) { /* "x▁" in a token: a merge could join */
        size_t n;
        const char *s = bpe_token_str(&t->bpe, id, &n);
        const char *m = s ? memmem(s, n, "\u2581", 3) : NULL;
        for (; m; m = memmem(m + 3, n - (size_t)(m + 3 - s), "\u2581", 3))
            if (m > s && memcmp(m - 3, "\u2581", 3))
                return 0;
    }
    return 1;
}

/* A directory stands for DIR/tokenizer.json. */
static void resolve_path(const char *path, char *out, size_t len)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(out, len, "%s/tokenizer.json", path);
    else
        snprintf(out, len, "%s", path);
}

int tokenizer_load(Tokenizer *t, const char *path, Error *err)
{
    memset(t, 0, sizeof *t);
    resolve_path(path, t->path, sizeof t->path);
    json_t *root = NULL;
    if (jsonin_load_file(t->path, &root, err))
        return err->code;
    int rc = PT_OK;
    if (!json_is_object(root))
        rc = err_set(err, PT_EINPUT, "%s: expected a JSON object (a Hugging Face tokenizer.json)",
                     t->path);
    if (!rc && !json_object_get(root, "model"))
        rc = err_set(err, PT_EINPUT, "%s: model: missing (not a Hugging Face tokenizer.json)",
                     t->path);
    if (!rc)
        rc = addedtok_load(&t->added, json_object_get(root, "added_tokens"), t->path, err);
    if (!rc)
        rc = textnorm_load(&t->norm, json_object_get(root, "normalizer"), t->path, err);
    if (!rc)
        rc = pretok_load(&t->pre, json_object_get(root, "pre_tokenizer"), t->path, err);
    if (!rc)
        rc = bpe_load(&t->bpe, json_object_get(root, "model"), t->pre.byte_level, t->path, err);
    if (!rc)
        rc = load_post(t, json_object_get(root, "post_processor"), "post_processor", err);
    if (!rc) {
        decoder_load(&t->dec, json_object_get(root, "decoder"), t->path);
        t->vocab_size = t->bpe.nids;
        for (int i = 0; i < t->added.n; i++)
            if (t->added.t[i].id >= t->vocab_size)
                t->vocab_size = t->added.t[i].id + 1;
        for (int i = 0; i < t->nbos + t->neos && !rc; i++) {
            int32_t id = i < t->nbos ? t->bos[i] : t->eos[i - t->nbos];
            if (id < 0 || id >= t->vocab_size)
                rc = err_set(err, PT_EINPUT, "%s: post_processor: special token id %d is not in "
                             "the vocabulary (%d ids)", t->path, id, t->vocab_size);
        }
    }
    if (!rc) {
        t->added_of_id = vec_realloc(NULL, (size_t)t->vocab_size * sizeof *t->added_of_id);
        memset(t->added_of_id, 0xFF, (size_t)t->vocab_size * sizeof *t->added_of_id);
        for (int i = t->added.n - 1; i >= 0; i--) /* the first entry of an id wins */
            t->added_of_id[t->added.t[i].id] = i;
        name_family(t);
        t->cuttable = cuttable(t);
    }
    json_decref(root);
    if (rc)
        tokenizer_free(t);
    return rc;
}

void tokenizer_free(Tokenizer *t)
{
    addedtok_free(&t->added);
    textnorm_free(&t->norm);
    pretok_free(&t->pre);
    bpe_free(&t->bpe);
    free(t->added_of_id);
    t->added_of_id = NULL;
    bytevec_free(&t->text);
    bytevec_free(&t->normed);
    bytevec_free(&t->spaced);
}

static void encode_words(Tokenizer *t, const char *s, size_t n, IdVec *out)
{
    const Piece *w;
    if (t->pre.metaspace) {
        size_t nw = pretok_metaspace(&t->pre, s, n, t->at_start, &t->spaced, &w);
        for (size_t i = 0; i < nw; i++)
            bpe_encode(&t->bpe, t->spaced.v + w[i].off, w[i].len, out);
        return;
    }
    size_t nw = pretok_split(&t->pre, s, n, &w);
    for (size_t i = 0; i < nw; i++)
        bpe_encode(&t->bpe, s + w[i].off, w[i].len, out);
}

typedef void (*SegmentFn)(Tokenizer *t, const char *s, size_t n, IdVec *out);

/* s[0..n) cut at the added tokens whose normalized flag is `normalized`: each token's id
 * appended, each stretch between them handed to seg. */
static void split_added(Tokenizer *t, int normalized, const char *s, size_t n, SegmentFn seg,
                        IdVec *out)
{
    size_t from = 0, len;
    int32_t id;
    int outer = t->at_start; /* s begins the text */
    while (from < n) {
        size_t at = addedtok_find(&t->added, normalized, s, n, from, &len, &id);
        t->at_start = outer && from == 0;
        seg(t, s + from, at - from, out);
        if (at == n)
            break;
        idvec_push(out, id);
        from = at + len;
    }
}

/* A segment of raw text between added tokens: normalize it, then split out the added tokens
 * that match normalized text. */
static void encode_segment(Tokenizer *t, const char *s, size_t n, IdVec *out)
{
    int continues = t->continues; /* only the piece's first segment continues a text */
    t->continues = 0;
    if (t->norm.n) {
        textnorm_apply(&t->norm, s, n, continues, &t->normed);
        s = t->normed.v;
        n = t->normed.n;
    }
    split_added(t, 1, s, n, encode_words, out);
}

void tokenizer_encode(Tokenizer *t, const char *text, size_t n, IdVec *out)
{
    tokenizer_encode_piece(t, text, n, 0, out);
}

void tokenizer_encode_piece(Tokenizer *t, const char *text, size_t n, int continues,
                            IdVec *out)
{
    t->continues = continues;
    t->at_start = !continues;
    if (!utf8_is_valid(text, n)) {
        t->text.n = 0;
        bytevec_reserve(&t->text, 3 * n);
        t->text.n = utf8_repair(text, n, t->text.v);
        text = t->text.v;
        n = t->text.n;
    }
    split_added(t, 0, text, n, encode_segment, out);
}

/* 1 when an added token ends at s[p - 1]: the text from p then starts a segment of its own,
 * which the Prepend normalizer marks, so it cannot be a piece that continues. */
static int added_token_ends(const Tokenizer *t, const char *s, size_t p)
{
    for (int i = 0; i < t->added.n; i++) {
        size_t len = t->added.t[i].len;
        if (len <= p && !memcmp(s + p - len, t->added.t[i].content, len))
            return 1;
    }
    return 0;
}

size_t tokenizer_cut(const Tokenizer *t, const char *s, size_t n)
{
    if (!t->cuttable)
        return 0;
    for (size_t p = n - 1; p > 0 && p < n; p--)
        if (s[p] == ' ' && s[p - 1] >= '!' && s[p - 1] <= '~' && !added_token_ends(t, s, p))
            return p;
    return 0;
}

int32_t tokenizer_token_id(const Tokenizer *t, const char *s)
{
    const AddedToken *a = addedtok_by_content(&t->added, s);
    return a ? a->id : bpe_token_id(&t->bpe, s, strlen(s));
}

int tokenizer_decode(Tokenizer *t, const int32_t *ids, size_t n, ByteVec *out, Error *err)
{
    const char **tok = vec_realloc(NULL, (n ? n : 1) * sizeof *tok);
    size_t *len = vec_realloc(NULL, (n ? n : 1) * sizeof *len);
    int rc = PT_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        const AddedToken *a = ids[i] >= 0 && ids[i] < t->vocab_size && t->added_of_id[ids[i]] >= 0
                                  ? &t->added.t[t->added_of_id[ids[i]]] : NULL;
        tok[i] = a ? a->content : bpe_token_str(&t->bpe, ids[i], &len[i]);
        if (a)
            len[i] = a->len;
        if (!tok[i])
            rc = err_set(err, PT_EINPUT, "token id %d is not in the vocabulary of %s", ids[i],
                         t->path);
    }
    if (!rc)
        rc = decoder_run(&t->dec, tok, len, n, out, err);
    free(tok);
    free(len);
    return rc;
}
