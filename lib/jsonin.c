/* jsonin: strict parsing of user-given JSON (duplicate keys refused), one error line. */
#include "jsonin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    /* a UTF-8 byte-order mark (some Windows editors write one) is skipped, not an error */
    if (strncmp(text, JSONIN_BOM, 3) == 0)
        text += 3;
    *out = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    return *out ? PT_OK : fail(&jerr, name, err);
}

int jsonin_open_error(const char *path, FILE *f, const char *want, Error *err)
{
    struct stat st;
    if (!f)
        return err_set(err, PT_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))
        return err_set(err, PT_EINPUT, "%s: is a directory (give %s)", path, want);
    return PT_OK;
}

char *jsonin_read_all(FILE *f)
{
    size_t len = 0, cap = 4096, n;
    char *buf = malloc(cap);
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (len + 1 < cap)
            continue;
        char *bigger = realloc(buf, cap *= 2);
        if (!bigger)
            free(buf);
        buf = bigger;
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

int jsonin_load_file(const char *path, json_t **out, Error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    int rc = jsonin_open_error(path, f, "a JSON file", err);
    if (rc) {
        if (f)
            fclose(f);
        return rc;
    }
    char *buf = jsonin_read_all(f);
    int failed = ferror(f);
    fclose(f);
    if (!buf || failed) {
        free(buf);
        return err_set(err, PT_EINPUT, "%s: cannot read%s", path, buf ? "" : ": out of memory");
    }
    rc = jsonin_loads(buf, path, out, err);
    free(buf);
    return rc;
}
