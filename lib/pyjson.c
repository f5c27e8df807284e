/* pyjson: json.dump's text from jansson: its flags plus the real precision Python would use. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "pyjson.h"

/* Whether every real under v is written back exactly with p significant digits. */
static int reals_exact(const json_t *v, int p)
{
    const char *key;
    size_t i;
    json_t *x, *obj = (json_t *)v; /* jansson's iteration macros take non-const */
    if (json_is_real(v)) {
        char buf[40];
        snprintf(buf, sizeof buf, "%.*g", p, json_real_value(v));
        return strtod(buf, NULL) == json_real_value(v);
    }
    json_object_foreach(obj, key, x) {
        if (!reals_exact(x, p))
            return 0;
    }
    json_array_foreach(obj, i, x) {
        if (!reals_exact(x, p))
            return 0;
    }
    return 1;
}

char *pyjson_dump(const json_t *root, int indent)
{
    int p = 15;
    while (p < 17 && !reals_exact(root, p))
        p++;
    return json_dumps(root, JSON_INDENT(indent) | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(p));
}
