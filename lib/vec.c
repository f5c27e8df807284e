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

void idvec_reserve(IdVec *a, size_t more)
{
    if (a->cap - a->n >= more)
        return;
    size_t cap = a->cap ? 2 * a->cap : 256;
    while (cap - a->n < more)
        cap *= 2;
    a->v = vec_realloc(a->v, cap * sizeof *a->v);
    a->cap = cap;
}

void bytevec_reserve(ByteVec *b, size_t more)
{
    if (b->cap - b->n >= more)
        return;
    size_t cap = b->cap ? 2 * b->cap : 4096;
    while (cap - b->n < more)
        cap *= 2;
    b->v = vec_realloc(b->v, cap);
    b->cap = cap;
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
