/* vec: doubling growth for IdVec and ByteVec. */
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "vec.h"

void *vec_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "picotron: out of memory allocating %zu bytes\n", n);
        exit(PT_ERUNTIME);
    }
    return q;
}

void *vec_calloc(size_t n, size_t size)
{
    return xcalloc(n, size);
}

/* The capacity, doubled from cap (or first), that holds n + more elements. */
static size_t grown(size_t cap, size_t n, size_t more, size_t first)
{
    size_t c = cap ? 2 * cap : first;
    while (c - n < more)
        c *= 2;
    return c;
}

void idvec_reserve(IdVec *a, size_t more)
{
    if (a->cap - a->n >= more)
        return;
    a->cap = grown(a->cap, a->n, more, 256);
    a->v = vec_realloc(a->v, a->cap * sizeof *a->v);
}

void bytevec_reserve(ByteVec *b, size_t more)
{
    if (b->cap - b->n >= more)
        return;
    b->cap = grown(b->cap, b->n, more, 4096);
    b->v = vec_realloc(b->v, b->cap);
}

void idvec_free(IdVec *a)
{
    free(a->v);
    a->v = NULL;
    a->n = a->cap = 0;
}

void bytevec_free(ByteVec *b)
{
    free(b->v);
    b->v = NULL;
    b->n = b->cap = 0;
}
