/* textnorm: each step rewrites the whole text; literal replacement scans left to right without
 * overlaps, as Rust's str::replace (and tokenizers' Replace with a String pattern) does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "textnorm.h"

static char *dup_string(json_t *s, size_t *n)
{
    *n = json_string_length(s);
    char *p = vec_realloc(NULL, *n + 1);
    memcpy(p, json_string_value(s), *n + 1);
    return p;
}

static int load_step(Normalizer *nz, json_t *j, const char *path, const char *file, Error *err)
{
    json_t *type = json_object_get(j, "type");
    const char *t = json_is_string(type) ? json_string_value(type) : "(missing)";
    if (nz->n >= (int)(sizeof nz->steps / sizeof nz->steps[0]))
        return err_set(err, PT_EINPUT, "%s: %s: too many normalizers", file, path);
    if (!strcmp(t, "Sequence")) {
        json_t *list = json_object_get(j, "normalizers");
        if (!json_is_array(list))
            return err_set(err, PT_EINPUT, "%s: %s.normalizers: expected an array", file, path);
        for (size_t i = 0; i < json_array_size(list); i++) {
            char where[256];
            snprintf(where, sizeof where, "%s.normalizers[%zu]", path, i);
            if (load_step(nz, json_array_get(list, i), where, file, err))
                return err->code;
        }
        return PT_OK;
    }
    NormStep *s = &nz->steps[nz->n];
    memset(s, 0, sizeof *s);
    if (!strcmp(t, "Prepend")) {
        json_t *v = json_object_get(j, "prepend");
        if (!json_is_string(v))
            return err_set(err, PT_EINPUT, "%s: %s.prepend: expected a string", file, path);
        s->kind = NORM_PREPEND;
        s->a = dup_string(v, &s->an);
    } else if (!strcmp(t, "Replace")) {
        json_t *pat = json_object_get(json_object_get(j, "pattern"), "String");
        json_t *content = json_object_get(j, "content");
        if (!json_is_string(pat) || !json_string_length(pat))
            return err_set(err, PT_EINPUT, "%s: %s.pattern: only a non-empty {\"String\": ...} "
                           "is supported", file, path);
        if (!json_is_string(content))
            return err_set(err, PT_EINPUT, "%s: %s.content: expected a string", file, path);
        s->kind = NORM_REPLACE;
        s->a = dup_string(pat, &s->an);
        s->b = dup_string(content, &s->bn);
    } else if (!strcmp(t, "NFC") || !strcmp(t, "NFD") || !strcmp(t, "NFKC") ||
               !strcmp(t, "NFKD")) {
        s->kind = NORM_UNICODE;
        s->options = UTF8PROC_STABLE | (t[2] == 'K' ? UTF8PROC_COMPAT : 0) |
                     (t[strlen(t) - 1] == 'C' ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE);
    } else {
        return err_set(err, PT_EINPUT, "%s: %s.type: \"%s\" is not supported (supported: "
                       "Prepend, Replace, NFC, NFD, NFKC, NFKD, Sequence)", file, path, t);
    }
    nz->n++;
    return PT_OK;
}

int textnorm_load(Normalizer *nz, json_t *j, const char *file, Error *err)
{
    memset(nz, 0, sizeof *nz);
    if (!j || json_is_null(j))
        return PT_OK;
    if (!json_is_object(j))
        return err_set(err, PT_EINPUT, "%s: normalizer: expected an object or null", file);
    return load_step(nz, j, "normalizer", file, err);
}

void textnorm_free(Normalizer *nz)
{
    for (int i = 0; i < nz->n; i++) {
        free(nz->steps[i].a);
        free(nz->steps[i].b);
    }
    bytevec_free(&nz->tmp);
    memset(nz, 0, sizeof *nz);
}

static void apply_step(const NormStep *s, const char *in, size_t n, ByteVec *out)
{
    out->n = 0;
    if (s->kind == NORM_PREPEND) {
        if (n)
            bytevec_append(out, s->a, s->an);
        bytevec_append(out, in, n);
    } else if (s->kind == NORM_REPLACE) {
        size_t i = 0;
        while (i < n) {
            const char *hit = s->an <= n - i ? memmem(in + i, n - i, s->a, s->an) : NULL;
            size_t upto = hit ? (size_t)(hit - in) : n;
            bytevec_append(out, in + i, upto - i);
            if (!hit)
                break;
            bytevec_append(out, s->b, s->bn);
            i = upto + s->an;
        }
    } else {
        utf8proc_uint8_t *r = NULL;
        utf8proc_ssize_t len = utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)n, &r,
                                            (utf8proc_option_t)s->options);
        if (len < 0) /* cannot happen on valid UTF-8 short of memory: keep the text */
            bytevec_append(out, in, n);
        else
            bytevec_append(out, r, (size_t)len);
        free(r);
    }
}

int textnorm_is_sentencepiece(const Normalizer *nz)
{
    const NormStep *a = &nz->steps[0], *b = &nz->steps[1];
    return nz->n == 2 && a->kind == NORM_PREPEND && a->an == 3 && !memcmp(a->a, "\u2581", 3) &&
           b->kind == NORM_REPLACE && b->an == 1 && b->a[0] == ' ' && b->bn == 3 &&
           !memcmp(b->b, "\u2581", 3);
}

void textnorm_apply(Normalizer *nz, const char *s, size_t n, int continues, ByteVec *out)
{
    out->n = 0;
    bytevec_append(out, s, n);
    for (int i = 0; i < nz->n; i++) {
        if (continues && nz->steps[i].kind == NORM_PREPEND)
            continue;
        apply_step(&nz->steps[i], out->v, out->n, &nz->tmp);
        ByteVec t = *out;
        *out = nz->tmp;
        nz->tmp = t;
    }
}
