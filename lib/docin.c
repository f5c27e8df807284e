/* docin: records cut by textin; JSON through Jansson (NUL allowed inside strings; a line
 * with a duplicate key is taken as Jansson takes it: the last value). */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "docin.h"

int docin_open(DocIn *d, const char *path, DocInMode mode, const char *field, DocInCut cut,
               void *cut_ctx, size_t chunk, Error *err)
{
    memset(d, 0, sizeof *d);
    d->mode = mode;
    d->field = field;
    d->cut = cut;
    d->cut_ctx = cut_ctx;
    d->chunk = chunk;
    if (textin_open(&d->in, path, err))
        return err->code;
    if (mode == DOCIN_AUTO) {
        int c = textin_peek(&d->in, err);
        if (c == -2)
            return err->code;
        d->mode = c == '{' ? DOCIN_JSONL : DOCIN_FILE;
    }
    return PT_OK;
}

void docin_close(DocIn *d)
{
    textin_close(&d->in);
    bytevec_free(&d->carry);
}

uint64_t docin_bytes(const DocIn *d)
{
    return d->in.bytes;
}

static int blank(const ByteVec *b)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->v[i] != ' ' && b->v[i] != '\t' && b->v[i] != '\r')
            return 0;
    return 1;
}

int docin_jsonl_text(const char *file, int64_t line, const char *field, const char *rec,
                     size_t n, ByteVec *text, Error *err)
{
    text->n = 0;
    json_error_t je;
    json_t *o = json_loadb(rec, n, JSON_ALLOW_NUL, &je);
    if (!o)
        return err_set(err, PT_EINPUT, "%s:%lld: not JSON: %s", file, (long long)line, je.text);
    json_t *v = json_object_get(o, field);
    int rc = PT_OK;
    if (!json_is_object(o))
        rc = err_set(err, PT_EINPUT, "%s:%lld: not a JSON object", file, (long long)line);
    else if (!v)
        rc = err_set(err, PT_EINPUT, "%s:%lld: no \"%s\" field (choose one with --field)", file,
                     (long long)line, field);
    else if (!json_is_string(v))
        rc = err_set(err, PT_EINPUT, "%s:%lld: \"%s\" is not a string", file, (long long)line,
                     field);
    else
        bytevec_append(text, json_string_value(v), json_string_length(v));
    json_decref(o);
    return rc;
}

/* The next piece of a plain-text file: all of it, or with a cut function, the text up to the
 * last place it allows in the next chunk (a file without one grows the record until EOF). */
static int file_record(DocIn *d, ByteVec *doc, Error *err)
{
    d->first = d->in.bytes == d->carry.n;
    bytevec_append(doc, d->carry.v, d->carry.n);
    d->carry.n = 0;
    size_t want = d->cut ? d->chunk : SIZE_MAX;
    for (;;) {
        long got = textin_read(&d->in, doc, want > doc->n ? want - doc->n : d->chunk, err);
        if (got < 0)
            return -1;
        if (got == 0) { /* the end of the document */
            d->done = 1;
            d->last = 1;
            return 1;
        }
        size_t at = d->cut && doc->n >= want ? d->cut(d->cut_ctx, doc->v, doc->n) : 0;
        if (at > 0) {
            bytevec_append(&d->carry, doc->v + at, doc->n - at);
            doc->n = at;
            d->last = 0;
            return 1;
        }
    }
}

int docin_next(DocIn *d, ByteVec *doc, Error *err)
{
    doc->n = 0;
    if (d->done)
        return 0;
    d->first = d->last = 1;
    if (d->mode == DOCIN_FILE)
        return file_record(d, doc, err);
    for (;;) {
        int got = textin_line(&d->in, doc, err);
        if (got < 0)
            return -1;
        if (!got) {
            d->done = 1;
            return 0;
        }
        d->line++;
        if (blank(doc))
            continue;
        if (d->mode == DOCIN_LINES && doc->v[doc->n - 1] == '\r') /* a CRLF file */
            doc->n--;
        return 1;
    }
}
