/* textin: an input file (or "-", standard input) as a stream of bytes, gzip (zlib) and
 * zstd (libzstd) compressed streams decompressed on the fly, recognised by their magic bytes,
 * whatever the name. Reads in fixed-size blocks, so memory does not grow with the input. */
#ifndef PICOTRON_TEXTIN_H
#define PICOTRON_TEXTIN_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "vec.h"

typedef enum { TEXTIN_PLAIN, TEXTIN_GZIP, TEXTIN_ZSTD } TextInFormat;

typedef struct {
    char path[4096];     /* as given, for messages ("-" reads as "stdin") */
    FILE *f;
    TextInFormat format;
    void *z;             /* z_stream or ZSTD_DStream */
    int z_done;          /* the current compressed stream ended */
    unsigned char *in;   /* compressed bytes read, not yet consumed: [in_pos, in_len) */
    size_t in_pos, in_len;
    int eof;             /* the file has no more bytes */
    char *buf;           /* decompressed bytes not yet handed out: [pos, len) */
    size_t pos, len;
    uint64_t bytes;      /* decompressed bytes handed out so far */
} TextIn;

/* Open path ("-": stdin). PT_EINPUT "PATH: cannot open: REASON" or "is a directory". */
int textin_open(TextIn *t, const char *path, Error *err);
void textin_close(TextIn *t);

/* The next line without its "\n" into line (replacing its contents): 1, or 0 at the end.
 * A corrupt or truncated compressed stream is PT_EINPUT naming the file; a read error
 * PT_ERUNTIME; both return −1. */
int textin_line(TextIn *t, ByteVec *line, Error *err);

/* The first byte of the input that is not a space, tab, CR or LF, without consuming anything
 * (looks at the first block only): the byte, or −1 when there is none (−2 with err set on a
 * read or decompression error). */
int textin_peek(TextIn *t, Error *err);

/* Up to max further bytes appended to out: how many (0 at the end), or −1 as textin_line. */
long textin_read(TextIn *t, ByteVec *out, size_t max, Error *err);

#endif
