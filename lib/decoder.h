/* decoder: token strings back to text, the "decoder" of a tokenizer.json: ByteLevel, and the
 * SentencePiece chain Replace ▁ → space, ByteFallback (<0xXX> tokens back to bytes), Fuse,
 * Strip — each as `tokenizers` defines it. */
#ifndef PICOTRON_DECODER_H
#define PICOTRON_DECODER_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"
#include "vec.h"

typedef enum { DEC_BYTELEVEL, DEC_REPLACE, DEC_BYTEFALLBACK, DEC_FUSE, DEC_STRIP } DecKind;

typedef struct {
    DecKind kind;
    char a[16], b[16];   /* REPLACE: a by b; STRIP: a is the character */
    size_t an, bn;
    int start, stop;     /* STRIP: at most this many at each end */
} DecStep;

typedef struct {
    DecStep steps[8];
    int n;
    char unsupported[512]; /* non-empty: why this tokenizer cannot decode (the JSON path) */
} Decoder;

/* Load "decoder". An unsupported one is not an error here (encoding does not need it): it
 * is remembered and reported by decoder_run. */
void decoder_load(Decoder *d, json_t *j, const char *file);

/* Decode tokens tok[i] (len[i] bytes each), appending the text to out. PT_EINPUT when the
 * decoder is unsupported. */
int decoder_run(const Decoder *d, const char *const *tok, const size_t *len, size_t n,
                ByteVec *out, Error *err);

#endif
