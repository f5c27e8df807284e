/* decoder: a token list rewritten step by step (tokens as offsets into one byte buffer), then
 * concatenated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytemap.h"
#include "decoder.h"
#include "utf8.h"

static int short_string(json_t *s, char *out, size_t *n)
{
    if (!json_is_string(s) || json_string_length(s) >= 16)
        return -1;
    *n = json_string_length(s);
    memcpy(out, json_string_value(s), *n + 1);
    return 0;
}

static void unsupported(Decoder *d, const char *file, const char *path, const char *what)
{
    if (!d->unsupported[0])
        snprintf(d->unsupported, sizeof d->unsupported, "%s: %s: %s", file, path, what);
}

static void load_step(Decoder *d, json_t *j, const char *path, const char *file)
{
    json_t *type = json_object_get(j, "type");
    const char *t = json_is_string(type) ? json_string_value(type) : "(missing)";
    if (!strcmp(t, "Sequence")) {
        json_t *list = json_object_get(j, "decoders");
        for (size_t i = 0; i < json_array_size(list); i++) {
            char where[256];
            snprintf(where, sizeof where, "%s.decoders[%zu]", path, i);
            load_step(d, json_array_get(list, i), where, file);
        }
        if (!json_is_array(list))
            unsupported(d, file, path, "decoders: expected an array");
        return;
    }
    if (d->n == (int)(sizeof d->steps / sizeof d->steps[0])) {
        unsupported(d, file, path, "too many decoders");
        return;
    }
    DecStep *s = &d->steps[d->n];
    memset(s, 0, sizeof *s);
    if (!strcmp(t, "ByteLevel"))
        s->kind = DEC_BYTELEVEL;
    else if (!strcmp(t, "ByteFallback"))
        s->kind = DEC_BYTEFALLBACK;
    else if (!strcmp(t, "Fuse"))
        s->kind = DEC_FUSE;
    else if (!strcmp(t, "Replace")) {
        s->kind = DEC_REPLACE;
        if (short_string(json_object_get(json_object_get(j, "pattern"), "String"), s->a,
                         &s->an) || !s->an ||
            short_string(json_object_get(j, "content"), s->b, &s->bn)) {
            unsupported(d, file, path, "only a short literal {\"String\": ...} Replace");
            return;
        }
    } else if (!strcmp(t, "Strip")) {
        s->kind = DEC_STRIP;
        json_t *start = json_object_get(j, "start"), *stop = json_object_get(j, "stop");
        if (short_string(json_object_get(j, "content"), s->a, &s->an) || !s->an ||
            !json_is_integer(start) || !json_is_integer(stop)) {
            unsupported(d, file, path, "Strip needs content, start and stop");
            return;
        }
        s->start = (int)json_integer_value(start);
        s->stop = (int)json_integer_value(stop);
    } else {
        char what[128];
        snprintf(what, sizeof what, "decoder type \"%s\" is not supported", t);
        unsupported(d, file, path, what);
        return;
    }
    d->n++;
}

void decoder_load(Decoder *d, json_t *j, const char *file)
{
    memset(d, 0, sizeof *d);
    if (!j || json_is_null(j))
        unsupported(d, file, "decoder", "missing (null)");
    else
        load_step(d, j, "decoder", file);
}

/* The token list: token i is bytes [off[i], off[i] + len[i]) of buf. */
typedef struct {
    ByteVec buf;
    size_t *off, *len;
    size_t n, cap;
} TokList;

static void list_push(TokList *l, const char *s, size_t n)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->off = vec_realloc(l->off, l->cap * sizeof *l->off);
        l->len = vec_realloc(l->len, l->cap * sizeof *l->len);
    }
    l->off[l->n] = l->buf.n;
    l->len[l->n++] = n;
    bytevec_append(&l->buf, s, n);
}

/* Appends bytes to the last token pushed. */
static void list_extend(TokList *l, const char *s, size_t n)
{
    bytevec_append(&l->buf, s, n);
    l->len[l->n - 1] += n;
}

static void list_free(TokList *l)
{
    bytevec_free(&l->buf);
    free(l->off);
    free(l->len);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
         : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* <0xXX>: the byte, else −1. */
static int byte_token(const char *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) || s[5] != '>' || hexval(s[3]) < 0 || hexval(s[4]) < 0)
        return -1;
    return hexval(s[3]) * 16 + hexval(s[4]);
}

static void flush_bytes(TokList *out, ByteVec *bytes)
{
    if (!bytes->n)
        return;
    if (utf8_is_valid(bytes->v, bytes->n))
        list_push(out, bytes->v, bytes->n);
    else
        for (size_t i = 0; i < bytes->n; i++)
            list_push(out, "\xEF\xBF\xBD", 3);
    bytes->n = 0;
}

/* A token in the byte alphabet back to its bytes; a token with any other character stays as
 * it is (tokenizers' ByteLevel decoder). */
static void bytelevel_token(const char *s, size_t n, ByteVec *raw)
{
    size_t start = raw->n;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_char_len((unsigned char)s[i]);
        int b = i + k <= n ? bytemap_byte(utf8_decode((const unsigned char *)s + i)) : -1;
        if (b < 0) {
            raw->n = start;
            bytevec_append(raw, s, n);
            return;
        }
        char c = (char)b;
        bytevec_append(raw, &c, 1);
        i += k;
    }
}

static void run_step(const DecStep *st, const TokList *in, TokList *out)
{
    ByteVec tmp = {0};
    for (size_t i = 0; i < in->n; i++) {
        const char *s = in->buf.v + in->off[i];
        size_t n = in->len[i];
        switch (st->kind) {
        case DEC_BYTELEVEL:
            bytelevel_token(s, n, &tmp);
            break;
        case DEC_FUSE:
            if (i == 0)
                list_push(out, s, n);
            else
                list_extend(out, s, n);
            break;
        case DEC_REPLACE:
            list_push(out, "", 0);
            for (size_t k = 0; k < n;) {
                if (n - k >= st->an && !memcmp(s + k, st->a, st->an)) {
                    list_extend(out, st->b, st->bn);
                    k += st->an;
                } else
                    list_extend(out, s + k++, 1);
            }
            break;
        case DEC_BYTEFALLBACK: {
            int b = byte_token(s, n);
            if (b >= 0) {
                char c = (char)b;
                bytevec_append(&tmp, &c, 1);
            } else {
                flush_bytes(out, &tmp);
                list_push(out, s, n);
            }
            break;
        }
        case DEC_STRIP: {
            size_t lo = 0, hi = n;
            for (int k = 0; k < st->start && hi - lo >= st->an && !memcmp(s + lo, st->a, st->an); k++)
                lo += st->an;
            for (int k = 0; k < st->stop && hi - lo >= st->an &&
                            !memcmp(s + hi - st->an, st->a, st->an); k++)
                hi -= st->an;
            list_push(out, s + lo, hi - lo);
            break;
        }
        }
    }
    if (st->kind == DEC_BYTELEVEL) { /* one token: the bytes, invalid UTF-8 as U+FFFD */
        char *fixed = vec_realloc(NULL, 3 * tmp.n + 1);
        list_push(out, fixed, utf8_repair(tmp.v, tmp.n, fixed));
        free(fixed);
    } else if (st->kind == DEC_BYTEFALLBACK)
        flush_bytes(out, &tmp);
    bytevec_free(&tmp);
}

int decoder_run(const Decoder *d, const char *const *tok, const size_t *len, size_t n,
                ByteVec *out, Error *err)
{
    if (d->unsupported[0])
        return err_set(err, PT_EINPUT, "%s (cannot decode)", d->unsupported);
    TokList a = {0}, b = {0};
    for (size_t i = 0; i < n; i++)
        list_push(&a, tok[i], len[i]);
    for (int k = 0; k < d->n; k++) {
        b.n = 0;
        b.buf.n = 0;
        run_step(&d->steps[k], &a, &b);
        TokList t = a;
        a = b;
        b = t;
    }
    for (size_t i = 0; i < a.n; i++)
        bytevec_append(out, a.buf.v + a.off[i], a.len[i]);
    list_free(&a);
    list_free(&b);
    return PT_OK;
}
