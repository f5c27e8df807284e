/* pretok: the pre-tokenizers of a tokenizer.json ("pre_tokenizer"): Split by a regular
 * expression (PCRE2, UTF + Unicode properties), ByteLevel (GPT-2's split regex; the byte
 * alphabet is bpe's business), Digits, and a Sequence of them. They cut normalized text into
 * the words BPE encodes one by one. */
#ifndef PICOTRON_PRETOK_H
#define PICOTRON_PRETOK_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"
#include "vec.h"

/* The regex ByteLevel splits with when its use_regex is true (GPT-2's). */
#define PRETOK_GPT2_REGEX \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
/* Llama-3's Split regex. */
#define PRETOK_LLAMA3_REGEX \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|" \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef enum { PRE_REGEX, PRE_DIGITS } PreKind;

typedef struct {
    PreKind kind;
    void *re;          /* pcre2_code: the pattern, JIT-compiled */
    void *md;          /* pcre2_match_data */
    int individual;    /* PRE_DIGITS: each digit alone (else runs of digits) */
} PreStep;

/* A word: bytes [off, off + len) of the text. */
typedef struct {
    size_t off, len;
} Piece;

typedef struct {
    PreStep steps[8];
    int n;
    int byte_level;    /* a ByteLevel step was seen: BPE words are raw bytes */
    int known_regexes; /* every regex step is GPT-2's or Llama-3's pattern */
    int split;         /* a Split step was seen (Llama-3's layout) */
    int metaspace;     /* the pre-tokenizer is Metaspace (alone): spaces become ms_rep */
    char ms_rep[8];    /* its replacement character, "▁" */
    size_t ms_len;
    int ms_prepend;    /* 0 never, 1 first (the text's first segment only), 2 always */
    Piece *a, *b;      /* scratch: the pieces before and after a step */
    size_t cap;
} PreTok;

/* The "pre_tokenizer" member (null: the whole text is one word). Anything unsupported is
 * PT_EINPUT naming its JSON path (pre_tokenizer.pretokenizers[1].type, ...). */
int pretok_load(PreTok *p, json_t *pre, const char *file, Error *err);
void pretok_free(PreTok *p);

/* Metaspace (split false): s[0..n) with spaces replaced into buf, ms_rep prepended when the
 * scheme asks (at_start: s begins the text) and it does not start with one already; returns
 * the count of words (0 or 1), in *out as offsets into buf. */
size_t pretok_metaspace(PreTok *p, const char *s, size_t n, int at_start, ByteVec *buf,
                        const Piece **out);

/* Cut valid UTF-8 s[0..n) into words; returns their count, the words in *out (owned by p,
 * valid until the next call). */
size_t pretok_split(PreTok *p, const char *s, size_t n, const Piece **out);

#endif
