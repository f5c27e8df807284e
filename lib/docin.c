/* docin: JSON through Jansson (NUL allowed inside strings; a line with a duplicate key is
 * taken as Jansson takes it: the last value). */
#include <jansson.h>
#include <string.h>

#include "docin.h"

int docin_open(DocIn *d, const char *path, DocInMode mode, const char *field, Error *err)
{
    memset(d, 0, sizeof *d);
    d->mode = mode;
    d->field = field;
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
    bytevec_free(&d->raw);
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

static int jsonl_doc(DocIn *d, ByteVec *doc, Error *err)
{
    const char *file = strcmp(d->in.path, "-") ? d->in.path : "stdin";
    json_error_t je;
    json_t *o = json_loadb(d->raw.v, d->raw.n, JSON_ALLOW_NUL, &je);
    if (!o)
        return err_set(err, PT_EINPUT, "%s:%lld: not JSON: %s", file, (long long)d->line,
                       je.text);
    json_t *v = json_object_get(o, d->field);
    int rc = PT_OK;
    if (!json_is_object(o))
        rc = err_set(err, PT_EINPUT, "%s:%lld: not a JSON object", file, (long long)d->line);
    else if (!v)
        rc = err_set(err, PT_EINPUT, "%s:%lld: no \"%s\" field (choose one with --field)", file,
                     (long long)d->line, d->field);
    else if (!json_is_string(v))
        rc = err_set(err, PT_EINPUT, "%s:%lld: \"%s\" is not a string", file,
                     (long long)d->line, d->field);
    else
        bytevec_append(doc, json_string_value(v), json_string_length(v));
    json_decref(o);
    return rc;
}

int docin_next(DocIn *d, ByteVec *doc, int *fatal, Error *err)
{
    doc->n = 0;
    *fatal = 0;
    if (d->done)
        return 0;
    if (d->mode == DOCIN_FILE) {
        d->done = 1;
        if (textin_all(&d->in, doc, err))
            return *fatal = 1, -1;
        return 1;
    }
    for (;;) {
        int got = textin_line(&d->in, &d->raw, err);
        if (got < 0)
            return *fatal = 1, -1;
        if (!got) {
            d->done = 1;
            return 0;
        }
        d->line++;
        if (blank(&d->raw))
            continue;
        if (d->mode == DOCIN_LINES) {
            size_t n = d->raw.n - (d->raw.v[d->raw.n - 1] == '\r'); /* CRLF files */
            bytevec_append(doc, d->raw.v, n);
            return 1;
        }
        return jsonl_doc(d, doc, err) ? -1 : 1;
    }
}
