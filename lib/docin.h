/* docin: documents out of input files — a whole file per document, a line per document, or
 * one JSONL record per line with the document in a named string field — with each bad JSONL
 * line named as FILE:LINE. */
#ifndef PICOTRON_DOCIN_H
#define PICOTRON_DOCIN_H

#include <stdint.h>

#include "error.h"
#include "textin.h"
#include "vec.h"

/* DOCIN_AUTO: JSONL when the first non-blank byte of the (decompressed) input is '{', else
 * DOCIN_FILE. */
typedef enum { DOCIN_AUTO, DOCIN_FILE, DOCIN_LINES, DOCIN_JSONL } DocInMode;

/* Where a document may be cut into pieces that are tokenized apart: the largest such position
 * in s[0..n) (0: none). DocIn calls it for plain-text files larger than a chunk. */
typedef size_t (*DocInCut)(void *ctx, const char *s, size_t n);

typedef struct {
    TextIn in;
    DocInMode mode;
    const char *field;   /* DOCIN_JSONL: the member holding the text */
    int64_t line;        /* lines read so far */
    int done;
    DocInCut cut;        /* DOCIN_FILE: NULL, or how to cut a large file into records */
    void *cut_ctx;
    size_t chunk;        /* DOCIN_FILE with cut: a record's usual size */
    ByteVec carry;       /* DOCIN_FILE: text read past the last cut */
    int first, last;     /* the record returned begins / ends its document */
} DocIn;

/* cut (with ctx) lets a plain-text document (a whole file) stream through in records of about
 * chunk bytes; NULL: a file is one record. */
int docin_open(DocIn *d, const char *path, DocInMode mode, const char *field, DocInCut cut,
               void *cut_ctx, size_t chunk, Error *err);
void docin_close(DocIn *d);

/* The next record into rec (replacing its contents): 1, or 0 at the end of the input, −1 with
 * err when the input cannot go on (a textin error). A record is the document itself, except
 * in DOCIN_JSONL, where it is the line (d->line its number), turned into the document by
 * docin_jsonl_text — apart, so that records can be parsed in parallel — and in DOCIN_FILE with
 * a cut function, where a large file comes as several records (d->first, d->last tell
 * where its document begins and ends; always both otherwise). Blank lines (spaces,
 * tabs, CR only) are no records (LINES, JSONL); LINES drops a line's final CR. */
int docin_next(DocIn *d, ByteVec *rec, Error *err);

/* The text of JSONL record rec[0..n), line `line` of file: the string member `field` into text
 * (replacing its contents). PT_EINPUT "FILE:LINE: ..." when the line is not a JSON object
 * with such a string. Thread-safe. */
int docin_jsonl_text(const char *file, int64_t line, const char *field, const char *rec,
                     size_t n, ByteVec *text, Error *err);

/* Decompressed bytes read so far. */
uint64_t docin_bytes(const DocIn *d);

#endif
