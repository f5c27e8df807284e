/* vec: growable arrays — token ids (IdVec) and bytes (ByteVec) — and allocation that ends the
 * process with one line when memory runs out (error.h's xmalloc, for realloc). */
#ifndef PICOTRON_VEC_H
#define PICOTRON_VEC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    int32_t *v;
    size_t n, cap;
} IdVec;

typedef struct {
    char *v;
    size_t n, cap;
} ByteVec;

/* realloc(p, n), or exit 1 with "out of memory". */
void *vec_realloc(void *p, size_t n);
/* calloc(n, size), or exit 1 with "out of memory". */
void *vec_calloc(size_t n, size_t size);

/* Room for `more` further elements. */
void idvec_reserve(IdVec *a, size_t more);
void bytevec_reserve(ByteVec *b, size_t more);

static inline void idvec_push(IdVec *a, int32_t id)
{
    if (a->n == a->cap)
        idvec_reserve(a, 1);
    a->v[a->n++] = id;
}

static inline void bytevec_append(ByteVec *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (b->cap - b->n < n)
        bytevec_reserve(b, n);
    memcpy(b->v + b->n, p, n);
    b->n += n;
}

void idvec_free(IdVec *a);
void bytevec_free(ByteVec *b);

#endif
