/* error: one error record, printing and dying. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "error.h"

int err_set(Error *e, int code, const char *fmt, ...)
{
    if (e && e->code == PT_OK) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

void err_die(const char *prog, const Error *e)
{
    fprintf(stderr, "%s: %s\n", prog, e->msg);
    exit(e->code == PT_OK ? PT_ERUNTIME : e->code);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "picotron: out of memory allocating %zu bytes\n", n);
        exit(PT_ERUNTIME);
    }
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "picotron: out of memory allocating %zu x %zu bytes\n", n, size);
        exit(PT_ERUNTIME);
    }
    return p;
}
