/* pretok: each step refines every piece into smaller ones, in order (tokenizers'
 * PreTokenizedString::split with SplitDelimiterBehavior::Isolated for regexes and
 * individual digits, Contiguous for digit runs). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

#include "pretok.h"
#include "utf8.h"
#include "vec.h"

static int is_pattern(const char *p, size_t n, const char *want)
{
    return n == strlen(want) && !memcmp(p, want, n);
}

static int add_regex(PreTok *p, const char *pattern, size_t len, int literal, const char *where,
                     const char *file, Error *err)
{
    int code;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len,
                                   PCRE2_UTF | PCRE2_UCP | (literal ? PCRE2_LITERAL : 0), &code,
                                   &at, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return err_set(err, PT_EINPUT, "%s: %s: bad regular expression at offset %zu: %s", file,
                       where, (size_t)at, (const char *)msg);
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if no JIT */
    size_t n = len == PCRE2_ZERO_TERMINATED ? strlen(pattern) : len;
    p->known_regexes &= !literal && (is_pattern(pattern, n, PRETOK_GPT2_REGEX) ||
                                     is_pattern(pattern, n, PRETOK_LLAMA3_REGEX));
    PreStep *s = &p->steps[p->n++];
    s->kind = PRE_REGEX;
    s->re = re;
    s->md = pcre2_match_data_create_from_pattern(re, NULL);
    return PT_OK;
}

static int is_false(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return !v || json_is_false(v);
}

static int load_step(PreTok *p, json_t *j, const char *path, const char *file, Error *err)
{
    char where[256];
    json_t *type = json_object_get(j, "type");
    const char *t = json_is_string(type) ? json_string_value(type) : "(missing)";
    if (p->n >= (int)(sizeof p->steps / sizeof p->steps[0]) - 1)
        return err_set(err, PT_EINPUT, "%s: %s: too many pre-tokenizers", file, path);
    if (!strcmp(t, "Sequence")) {
        json_t *list = json_object_get(j, "pretokenizers");
        if (!json_is_array(list))
            return err_set(err, PT_EINPUT, "%s: %s.pretokenizers: expected an array", file, path);
        for (size_t i = 0; i < json_array_size(list); i++) {
            snprintf(where, sizeof where, "%s.pretokenizers[%zu]", path, i);
            if (load_step(p, json_array_get(list, i), where, file, err))
                return err->code;
        }
        return PT_OK;
    }
    if (!strcmp(t, "ByteLevel")) {
        if (!is_false(j, "add_prefix_space"))
            return err_set(err, PT_EINPUT, "%s: %s.add_prefix_space: only false is supported",
                           file, path);
        p->byte_level = 1;
        json_t *use = json_object_get(j, "use_regex");
        snprintf(where, sizeof where, "%s", path);
        return use && json_is_false(use)
                   ? PT_OK
                   : add_regex(p, PRETOK_GPT2_REGEX, PCRE2_ZERO_TERMINATED, 0, where, file, err);
    }
    if (!strcmp(t, "Split")) {
        json_t *pat = json_object_get(j, "pattern"), *beh = json_object_get(j, "behavior");
        json_t *re = json_object_get(pat, "Regex"), *str = json_object_get(pat, "String");
        if (!json_is_string(beh) || strcmp(json_string_value(beh), "Isolated"))
            return err_set(err, PT_EINPUT, "%s: %s.behavior: only \"Isolated\" is supported",
                           file, path);
        if (!is_false(j, "invert"))
            return err_set(err, PT_EINPUT, "%s: %s.invert: only false is supported", file, path);
        json_t *s = json_is_string(re) ? re : str;
        if (!json_is_string(s))
            return err_set(err, PT_EINPUT, "%s: %s.pattern: expected {\"Regex\": ...} or "
                           "{\"String\": ...}", file, path);
        snprintf(where, sizeof where, "%s.pattern", path);
        p->split = 1;
        return add_regex(p, json_string_value(s), json_string_length(s), s == str, where, file,
                         err);
    }
    if (!strcmp(t, "Metaspace")) {
        json_t *rep = json_object_get(j, "replacement"), *scheme = json_object_get(j, "prepend_scheme");
        const char *sc = json_is_string(scheme) ? json_string_value(scheme) : "always";
        if (p->n || strcmp(path, "pre_tokenizer"))
            return err_set(err, PT_EINPUT, "%s: %s: Metaspace is supported only as the whole "
                           "pre_tokenizer", file, path);
        if (!json_is_string(rep) || !json_string_length(rep) ||
            json_string_length(rep) >= sizeof p->ms_rep)
            return err_set(err, PT_EINPUT, "%s: %s.replacement: expected one character", file,
                           path);
        p->ms_prepend = !strcmp(sc, "never") ? 0 : !strcmp(sc, "first") ? 1
                      : !strcmp(sc, "always") ? 2 : -1;
        if (p->ms_prepend < 0)
            return err_set(err, PT_EINPUT, "%s: %s.prepend_scheme: \"%s\" is not one of always, "
                           "first, never", file, path, sc);
        p->metaspace = 1;
        p->ms_len = json_string_length(rep);
        memcpy(p->ms_rep, json_string_value(rep), p->ms_len);
        if (!is_false(j, "split")) /* what Llama-style conversions write; true is untested */
            return err_set(err, PT_EINPUT, "%s: %s.split: only false is supported", file, path);
        return PT_OK;
    }
    if (!strcmp(t, "Digits")) {
        PreStep *s = &p->steps[p->n++];
        s->kind = PRE_DIGITS;
        s->individual = json_is_true(json_object_get(j, "individual_digits"));
        return PT_OK;
    }
    return err_set(err, PT_EINPUT, "%s: %s.type: \"%s\" is not supported (supported: ByteLevel, "
                   "Split, Digits, Metaspace, Sequence)", file, path, t);
}

int pretok_load(PreTok *p, json_t *pre, const char *file, Error *err)
{
    memset(p, 0, sizeof *p);
    p->known_regexes = 1;
    if (!pre || json_is_null(pre))
        return PT_OK;
    if (!json_is_object(pre))
        return err_set(err, PT_EINPUT, "%s: pre_tokenizer: expected an object or null", file);
    return load_step(p, pre, "pre_tokenizer", file, err);
}

void pretok_free(PreTok *p)
{
    for (int i = 0; i < p->n; i++)
        if (p->steps[i].kind == PRE_REGEX) {
            pcre2_match_data_free(p->steps[i].md);
            pcre2_code_free(p->steps[i].re);
        }
    free(p->a);
    free(p->b);
    memset(p, 0, sizeof *p);
}

static void emit(PreTok *p, size_t *nb, size_t off, size_t len)
{
    if (len == 0)
        return;
    if (*nb == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 1024;
        p->a = vec_realloc(p->a, p->cap * sizeof *p->a);
        p->b = vec_realloc(p->b, p->cap * sizeof *p->b);
    }
    p->b[(*nb)++] = (Piece){off, len};
}

/* Matches and the gaps between them, each a piece. */
static void split_regex(PreTok *p, const PreStep *st, const char *s, Piece in, size_t *nb)
{
    const PCRE2_SPTR subj = (PCRE2_SPTR)(s + in.off);
    size_t gap = 0, from = 0;
    while (from < in.len) {
        int rc = pcre2_match(st->re, subj, in.len, from, PCRE2_NO_UTF_CHECK, st->md, NULL);
        if (rc < 0)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(st->md);
        if (ov[1] == ov[0]) { /* an empty match splits nothing */
            from = ov[0] + utf8_char_len(subj[ov[0]]);
            continue;
        }
        emit(p, nb, in.off + gap, ov[0] - gap);
        emit(p, nb, in.off + ov[0], ov[1] - ov[0]);
        gap = from = ov[1];
    }
    emit(p, nb, in.off + gap, in.len - gap);
}

/* Rust's char::is_numeric: general category Nd, Nl or No. */
static int is_numeric(const unsigned char *c)
{
    utf8proc_category_t cat = utf8proc_category(utf8_decode(c));
    return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL ||
           cat == UTF8PROC_CATEGORY_NO;
}

static void split_digits(PreTok *p, const PreStep *st, const char *s, Piece in, size_t *nb)
{
    const unsigned char *u = (const unsigned char *)s + in.off;
    size_t start = 0;
    int run_numeric = -1; /* kind of the piece being grown: −1 none yet */
    for (size_t i = 0; i < in.len;) {
        size_t len = utf8_char_len(u[i]);
        int num = is_numeric(u + i);
        if (num && st->individual) {
            emit(p, nb, in.off + start, i - start);
            emit(p, nb, in.off + i, len);
            start = i + len;
            run_numeric = -1;
        } else if (run_numeric != -1 && num != run_numeric) {
            emit(p, nb, in.off + start, i - start);
            start = i;
            run_numeric = num;
        } else {
            run_numeric = num;
        }
        i += len;
    }
    emit(p, nb, in.off + start, in.len - start);
}

size_t pretok_metaspace(PreTok *p, const char *s, size_t n, int at_start, ByteVec *buf,
                        const Piece **out)
{
    buf->n = 0;
    size_t nb = 0;
    if (n == 0) {
        *out = p->b;
        return 0;
    }
    int prepend = p->ms_prepend == 2 || (p->ms_prepend == 1 && at_start);
    if (prepend && !(s[0] == ' ' || (n >= p->ms_len && !memcmp(s, p->ms_rep, p->ms_len))))
        bytevec_append(buf, p->ms_rep, p->ms_len);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ')
            bytevec_append(buf, p->ms_rep, p->ms_len);
        else
            bytevec_append(buf, s + i, 1);
    }
    emit(p, &nb, 0, buf->n);
    *out = p->b;
    return nb;
}

size_t pretok_split(PreTok *p, const char *s, size_t n, const Piece **out)
{
    size_t na = 0, nb = 0;
    emit(p, &nb, 0, n);
    for (int k = 0; k < p->n; k++) {
        Piece *t = p->a;
        p->a = p->b, p->b = t;
        na = nb, nb = 0;
        for (size_t i = 0; i < na; i++) {
            if (p->steps[k].kind == PRE_REGEX)
                split_regex(p, &p->steps[k], s, p->a[i], &nb);
            else
                split_digits(p, &p->steps[k], s, p->a[i], &nb);
        }
    }
    *out = p->b;
    return nb;
}
