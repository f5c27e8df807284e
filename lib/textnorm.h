/* textnorm: the normalizers of a tokenizer.json ("normalizer"): Prepend, Replace of a literal
 * string, Unicode NFC/NFD/NFKC/NFKD (utf8proc), and a Sequence of them — what the
 * SentencePiece-style tokenizers (Llama-2, TinyLlama) put in front of BPE. */
#ifndef PICOTRON_TEXTNORM_H
#define PICOTRON_TEXTNORM_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"
#include "vec.h"

typedef enum { NORM_PREPEND, NORM_REPLACE, NORM_UNICODE } NormKind;

typedef struct {
    NormKind kind;
    char *a, *b;       /* PREPEND: a; REPLACE: a by b */
    size_t an, bn;
    int options;       /* NORM_UNICODE: utf8proc_option_t of the form */
} NormStep;

typedef struct {
    NormStep steps[8];
    int n;
    ByteVec tmp;       /* scratch between steps */
} Normalizer;

/* The "normalizer" member (null: none). Anything unsupported is PT_EINPUT naming its JSON path
 * (normalizer.normalizers[2].type, ...). */
int textnorm_load(Normalizer *nz, json_t *j, const char *file, Error *err);
void textnorm_free(Normalizer *nz);

/* The normalized form of valid UTF-8 s[0..n) into out (replacing its contents). continues: s
 * continues text cut before it (tokenizer_cut), so the Prepend steps, which mark the start
 * of a text, are left out. */
void textnorm_apply(Normalizer *nz, const char *s, size_t n, int continues, ByteVec *out);

/* 1 when the normalizer is exactly SentencePiece's: Prepend "▁", then Replace " " by "▁". */
int textnorm_is_sentencepiece(const Normalizer *nz);

#endif
