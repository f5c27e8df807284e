/* addedtok: a linear scan with a first-byte filter: added vocabularies are small (tens to a
 * few hundred entries) and the filter skips most bytes of ordinary text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addedtok.h"
#include "vec.h"

static int flag_true(json_t *o, const char *key)
{
    return json_is_true(json_object_get(o, key));
}

int addedtok_load(AddedVocab *v, json_t *arr, const char *file, Error *err)
{
    memset(v, 0, sizeof *v);
    if (!arr || json_is_null(arr))
        return PT_OK;
    if (!json_is_array(arr))
        return err_set(err, PT_EINPUT, "%s: added_tokens: expected an array", file);
    v->t = vec_calloc(json_array_size(arr) + 1, sizeof *v->t);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i), *id = json_object_get(o, "id");
        json_t *content = json_object_get(o, "content");
        if (!json_is_integer(id) || json_integer_value(id) < 0)
            return err_set(err, PT_EINPUT, "%s: added_tokens[%zu].id: expected an id >= 0",
                           file, i);
        if (json_integer_value(id) >= INT32_MAX)
            return err_set(err, PT_EINPUT, "%s: added_tokens[%zu].id: %lld is too large for the "
                           "shard format (llm.c tokens: at most %d)", file, i,
                           (long long)json_integer_value(id), INT32_MAX - 1);
        if (!json_is_string(content) || !json_string_length(content))
            return err_set(err, PT_EINPUT, "%s: added_tokens[%zu].content: expected a "
                           "non-empty string", file, i);
        static const char *const unsupported[] = {"single_word", "lstrip", "rstrip"};
        for (int k = 0; k < 3; k++)
            if (flag_true(o, unsupported[k]))
                return err_set(err, PT_EINPUT, "%s: added_tokens[%zu].%s: only false is "
                               "supported", file, i, unsupported[k]);
        AddedToken *t = &v->t[v->n++];
        t->len = json_string_length(content);
        t->content = vec_realloc(NULL, t->len + 1);
        memcpy(t->content, json_string_value(content), t->len + 1);
        t->id = (int32_t)json_integer_value(id);
        t->special = flag_true(o, "special");
        t->normalized = flag_true(o, "normalized");
        v->first[(unsigned char)t->content[0]] = 1;
    }
    return PT_OK;
}

void addedtok_free(AddedVocab *v)
{
    for (int i = 0; i < v->n; i++)
        free(v->t[i].content);
    free(v->t);
    memset(v, 0, sizeof *v);
}

size_t addedtok_find(const AddedVocab *v, int normalized, const char *s, size_t n, size_t from,
                     size_t *len, int32_t *id)
{
    if (!v->n)
        return n;
    for (size_t i = from; i < n; i++) {
        if (!v->first[(unsigned char)s[i]])
            continue;
        const AddedToken *best = NULL;
        for (int k = 0; k < v->n; k++) {
            const AddedToken *t = &v->t[k];
            if (t->normalized == normalized && t->len <= n - i && (!best || t->len > best->len) &&
                !memcmp(s + i, t->content, t->len))
                best = t;
        }
        if (best) {
            *len = best->len;
            *id = best->id;
            return i;
        }
    }
    return n;
}

const AddedToken *addedtok_by_content(const AddedVocab *v, const char *s)
{
    for (int k = 0; k < v->n; k++)
        if (!strcmp(v->t[k].content, s))
            return &v->t[k];
    return NULL;
}
