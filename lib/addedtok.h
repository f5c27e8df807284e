/* addedtok: the added tokens of a tokenizer.json ("added_tokens": <|endoftext|>, <s>, ...):
 * strings that become one id wherever they appear in the text, found before any other
 * tokenization, leftmost first and longest among those starting at the same place. */
#ifndef PICOTRON_ADDEDTOK_H
#define PICOTRON_ADDEDTOK_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef struct {
    char *content;
    size_t len;
    int32_t id;
    int special;
    int normalized;     /* matched in normalized text (else in the raw text) */
} AddedToken;

typedef struct {
    AddedToken *t;
    int n;
    unsigned char first[256]; /* 1: some token starts with this byte */
} AddedVocab;

/* Load "added_tokens" (absent or null: none). single_word, lstrip and rstrip set to true are
 * PT_EINPUT naming the path (added_tokens[3].lstrip). */
int addedtok_load(AddedVocab *v, json_t *arr, const char *file, Error *err);
void addedtok_free(AddedVocab *v);

/* The first match at or after from in s[0..n) among tokens whose normalized flag is
 * `normalized`: its start (n when none), length in *len, id in *id. */
size_t addedtok_find(const AddedVocab *v, int normalized, const char *s, size_t n, size_t from,
                     size_t *len, int32_t *id);

/* The token with this content, NULL when none. */
const AddedToken *addedtok_by_content(const AddedVocab *v, const char *s);

#endif
