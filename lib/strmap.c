/* strmap: FNV-1a hashing, linear probing, growth at 50% load. */
#include <stdlib.h>
#include <string.h>

#include "strmap.h"
#include "vec.h"

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h | 1ULL << 63;
}

void strmap_init(StrMap *m)
{
    memset(m, 0, sizeof *m);
}

void strmap_free(StrMap *m)
{
    free(m->hash);
    free(m->koff);
    free(m->val);
    free(m->arena);
    strmap_init(m);
}

void strmap_clear(StrMap *m)
{
    if (m->cap)
        memset(m->hash, 0, m->cap * sizeof *m->hash);
    m->n = 0;
    m->arena_len = 0;
}

static size_t find(const StrMap *m, const char *key, size_t len, uint64_t h)
{
    size_t i = h & (m->cap - 1);
    while (m->hash[i]) {
        if (m->hash[i] == h && (m->koff[i] & 0xFFFFFF) == len &&
            !memcmp(m->arena + (m->koff[i] >> 24), key, len))
            return i;
        i = (i + 1) & (m->cap - 1);
    }
    return i;
}

int64_t strmap_get(const StrMap *m, const char *key, size_t len)
{
    if (!m->n)
        return -1;
    size_t i = find(m, key, len, hash_bytes(key, len));
    return m->hash[i] ? m->val[i] : -1;
}

static void grow(StrMap *m)
{
    StrMap old = *m;
    m->cap = old.cap ? 2 * old.cap : 64;
    m->hash = vec_calloc(m->cap, sizeof *m->hash);
    m->koff = vec_realloc(NULL, m->cap * sizeof *m->koff);
    m->val = vec_realloc(NULL, m->cap * sizeof *m->val);
    for (size_t i = 0; i < old.cap; i++) {
        if (!old.hash[i])
            continue;
        size_t j = old.hash[i] & (m->cap - 1);
        while (m->hash[j])
            j = (j + 1) & (m->cap - 1);
        m->hash[j] = old.hash[i];
        m->koff[j] = old.koff[i];
        m->val[j] = old.val[i];
    }
    free(old.hash);
    free(old.koff);
    free(old.val);
}

int strmap_put(StrMap *m, const char *key, size_t len, int64_t val)
{
    if (2 * (m->n + 1) > m->cap)
        grow(m);
    uint64_t h = hash_bytes(key, len);
    size_t i = find(m, key, len, h);
    if (m->hash[i]) {
        m->val[i] = val;
        return 0;
    }
    if (m->arena_len + len > m->arena_cap) {
        m->arena_cap = 2 * (m->arena_len + len) + 4096;
        m->arena = vec_realloc(m->arena, m->arena_cap);
    }
    memcpy(m->arena + m->arena_len, key, len);
    m->hash[i] = h;
    m->koff[i] = (uint64_t)m->arena_len << 24 | len;
    m->val[i] = val;
    m->arena_len += len;
    m->n++;
    return 1;
}
