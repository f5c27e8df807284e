/* strmap: a hash table from byte strings to 64-bit values (open addressing, keys copied into
 * one arena), for vocabularies and word caches that hold up to millions of entries. */
#ifndef PICOTRON_STRMAP_H
#define PICOTRON_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t *hash;    /* (cap) 0: empty slot, else the key's hash with bit 63 set */
    uint64_t *koff;    /* (cap) key offset in arena << 24 | key length */
    int64_t *val;      /* (cap) */
    char *arena;
    size_t arena_len, arena_cap;
    size_t n, cap;     /* entries, slots (a power of two) */
} StrMap;

void strmap_init(StrMap *m);
void strmap_free(StrMap *m);
/* Remove every entry, keeping the memory. */
void strmap_clear(StrMap *m);
/* The value of key, or −1 when absent (values stored are never negative). */
int64_t strmap_get(const StrMap *m, const char *key, size_t len);
/* Set key to val (≥ 0); returns 1 when the key was new. Keys are at most 16 MiB long. */
int strmap_put(StrMap *m, const char *key, size_t len, int64_t val);

#endif
