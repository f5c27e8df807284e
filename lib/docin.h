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

typedef struct {
    TextIn in;
    DocInMode mode;
    const char *field;   /* DOCIN_JSONL: the member holding the text */
    int64_t line;        /* lines read so far */
    int done;
    ByteVec raw;         /* the current line */
} DocIn;

int docin_open(DocIn *d, const char *path, DocInMode mode, const char *field, Error *err);
void docin_close(DocIn *d);

/* The next document into doc (replacing its contents): 1, or 0 at the end of the input.
 * Blank lines (spaces, tabs, CR only) are no documents (LINES, JSONL); LINES drops a line's
 * final CR. −1 with err: PT_EINPUT "FILE:LINE: ..." for a
 * JSONL line that is not a JSON object with a string `field` (the caller may skip it and call
 * again), or a textin error (the input cannot go on). *fatal tells which. */
int docin_next(DocIn *d, ByteVec *doc, int *fatal, Error *err);

/* Decompressed bytes read so far. */
uint64_t docin_bytes(const DocIn *d);

#endif
