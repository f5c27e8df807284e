/* jsonin: strict parsing of user-given JSON (duplicate keys refused), one error line. */
#include "jsonin.h"

#include <string.h>

/* Jansson reports a duplicate as "duplicate object key near '"KEY"'"; the line names KEY
 * and says why it is refused. */
static int fail(const json_error_t *jerr, const char *name, Error *err)
{
    if (jerr->line < 1)
        return err_set(err, PT_EINPUT, "%s: %s", name, jerr->text);
    if (json_error_code(jerr) == json_error_duplicate_key) {
        const char *near = strstr(jerr->text, "near '");
        const char *key = near ? near + 6 : "";
        int n = (int)strlen(key);
        if (n > 0 && key[n - 1] == '\'')
            n--;
        return err_set(err, PT_EINPUT,
                       "%s:%d:%d: duplicate key %.*s: a key may appear only once in an object "
                       "(the second would replace the first)",
                       name, jerr->line, jerr->column, n, key);
    }
    return err_set(err, PT_EINPUT, "%s:%d:%d: invalid JSON: %s", name, jerr->line, jerr->column,
                   jerr->text);
}

int jsonin_loads(const char *text, const char *name, json_t **out, Error *err)
{
    json_error_t jerr;
    *out = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    return *out ? PT_OK : fail(&jerr, name, err);
}

int jsonin_load_file(const char *path, json_t **out, Error *err)
{
    json_error_t jerr;
    *out = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    return *out ? PT_OK : fail(&jerr, path, err);
}
