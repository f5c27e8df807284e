/* tokenizer: a Hugging Face tokenizer.json loaded whole — added tokens, normalizer,
 * pre-tokenizer, BPE model, post-processor template, decoder — and the encoding of one
 * document into ids as `tokenizers` encodes it (add_special_tokens=False), plus the family's
 * document convention (which BOS/EOS ids frame a document, docs/tokenize.md). */
#ifndef PICOTRON_TOKENIZER_H
#define PICOTRON_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "addedtok.h"
#include "bpe.h"
#include "decoder.h"
#include "error.h"
#include "pretok.h"
#include "textnorm.h"
#include "vec.h"

typedef struct {
    char path[4096];     /* the tokenizer.json read */
    char family[64];     /* "byte-level BPE, GPT-2 regex" ... for the summary */
    AddedVocab added;
    Normalizer norm;
    PreTok pre;
    Bpe bpe;
    Decoder dec;
    int32_t vocab_size;  /* 1 + the largest id of the model and the added tokens */
    int32_t *added_of_id; /* (vocab_size) index in added of the token with this id, −1: none */
    int cuttable;        /* tokenizer_cut finds places (see there) */
    int continues;       /* the segment being encoded continues a cut text */
    int at_start;        /* the segment being encoded begins the text (Metaspace "first") */
    int32_t bos[4];      /* the template's special tokens before the text ($A) */
    int nbos;
    int32_t eos[4];      /* ... and after it */
    int neos;
    ByteVec text, normed, spaced; /* scratch: the repaired text, a segment's normalized form,
                                     its Metaspace form */
} Tokenizer;

/* Load PATH: a tokenizer.json, or a model directory holding one. A missing or malformed file,
 * or a component outside the supported families, is PT_EINPUT naming the file and JSON path. */
int tokenizer_load(Tokenizer *t, const char *path, Error *err);
void tokenizer_free(Tokenizer *t);

/* Append the ids of text[0..n) to out. Any bytes: invalid UTF-8 is read as U+FFFD. */
void tokenizer_encode(Tokenizer *t, const char *text, size_t n, IdVec *out);

/* The same for a piece of a text cut by tokenizer_cut: continues is 0 for the first piece,
 * 1 for the others. */
void tokenizer_encode_piece(Tokenizer *t, const char *text, size_t n, int continues,
                            IdVec *out);

/* Append the text of ids to out (decode with skip_special_tokens=False). PT_EINPUT for an id
 * outside the vocabulary or a decoder outside the supported ones. */
int tokenizer_decode(Tokenizer *t, const int32_t *ids, size_t n, ByteVec *out, Error *err);

/* The last place p in s[0..n) where encoding s[0..p) and then s[p..n) as a piece that
 * continues it (tokenizer_encode_piece) gives the ids of s whole; 0 when there is none or the
 * tokenizer gives no such guarantee. Lets a huge plain-text document stream through in pieces.
 * The place: a space after a printable ASCII character that does not end an added token,
 * when no added token holds a space
 * or "▁" and either (byte-level) every regex is GPT-2's or Llama-3's and there is no
 * normalizer — no alternative of those regexes joins the two sides or behaves differently at
 * the end of the text — or (SentencePiece-style) the normalizer is Prepend "▁" + Replace
 * " " → "▁", there is no pre-tokenizer, "▁" is a token and no token holds "▁" after another
 * character — so no merge joins the two sides. */
size_t tokenizer_cut(const Tokenizer *t, const char *s, size_t n);

/* The id of token string s (an added token or a vocab entry), −1 when none. */
int32_t tokenizer_token_id(const Tokenizer *t, const char *s);

#endif
