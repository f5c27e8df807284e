/* textin: one refill function per format; lines and whole files are cut from the decompressed
 * block buffer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>

#include "textin.h"

#define BLOCK (1 << 18)

static const char *name(const TextIn *t)
{
    return strcmp(t->path, "-") ? t->path : "stdin";
}

/* More compressed bytes into t->in when all were consumed; 0, or −1 on a read error. */
static int fill_in(TextIn *t, Error *err)
{
    if (t->in_pos < t->in_len || t->eof)
        return 0;
    t->in_len = fread(t->in, 1, BLOCK, t->f);
    t->in_pos = 0;
    if (t->in_len == 0) {
        if (ferror(t->f))
            return err_set(err, PT_ERUNTIME, "%s: read failed: %s", name(t), strerror(errno)), -1;
        t->eof = 1;
    }
    return 0;
}

int textin_open(TextIn *t, const char *path, Error *err)
{
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "%s", path);
    t->f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!t->f)
        return err_set(err, PT_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(t->f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(t->f);
        t->f = NULL;
        return err_set(err, PT_EINPUT, "%s: is a directory (give text, JSONL, .gz or .zst files)",
                       path);
    }
    t->in = vec_realloc(NULL, BLOCK);
    t->buf = vec_realloc(NULL, BLOCK);
    if (fill_in(t, err))
        return err->code;
    const unsigned char *m = t->in;
    if (t->in_len >= 2 && m[0] == 0x1F && m[1] == 0x8B) {
        z_stream *z = vec_calloc(1, sizeof *z);
        inflateInit2(z, 15 + 16);
        t->z = z;
        t->format = TEXTIN_GZIP;
    } else if (t->in_len >= 4 && m[0] == 0x28 && m[1] == 0xB5 && m[2] == 0x2F && m[3] == 0xFD) {
        t->z = ZSTD_createDStream();
        ZSTD_initDStream(t->z);
        t->format = TEXTIN_ZSTD;
    }
    return PT_OK;
}

void textin_close(TextIn *t)
{
    if (t->format == TEXTIN_GZIP) {
        inflateEnd(t->z);
        free(t->z);
    } else if (t->format == TEXTIN_ZSTD)
        ZSTD_freeDStream(t->z);
    if (t->f && t->f != stdin)
        fclose(t->f);
    free(t->in);
    free(t->buf);
    memset(t, 0, sizeof *t);
}

/* gzip: members may follow each other (as `cat a.gz b.gz` makes); the data ends cleanly only
 * at the end of a member. */
static int refill_gzip(TextIn *t, Error *err)
{
    z_stream *z = t->z;
    while (t->len == 0) {
        if (fill_in(t, err))
            return -1;
        if (t->in_pos == t->in_len) {
            if (!t->z_done)
                return err_set(err, PT_EINPUT, "%s: truncated gzip stream", name(t)), -1;
            return 0;
        }
        if (t->z_done) { /* another member follows */
            inflateReset(z);
            t->z_done = 0;
        }
        z->next_in = t->in + t->in_pos;
        z->avail_in = (uInt)(t->in_len - t->in_pos);
        z->next_out = (Bytef *)t->buf;
        z->avail_out = BLOCK;
        int rc = inflate(z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
            return err_set(err, PT_EINPUT, "%s: corrupt gzip data: %s", name(t),
                           z->msg ? z->msg : "inflate failed"), -1;
        t->in_pos = t->in_len - z->avail_in;
        t->len = BLOCK - z->avail_out;
        t->z_done = rc == Z_STREAM_END;
    }
    return 0;
}

/* zstd: frames may follow each other; the data ends cleanly only at the end of a frame. */
static int refill_zstd(TextIn *t, Error *err)
{
    while (t->len == 0) {
        if (fill_in(t, err))
            return -1;
        if (t->in_pos == t->in_len && t->eof) {
            if (!t->z_done)
                return err_set(err, PT_EINPUT, "%s: truncated zstd stream", name(t)), -1;
            return 0;
        }
        ZSTD_inBuffer in = {t->in, t->in_len, t->in_pos};
        ZSTD_outBuffer out = {t->buf, BLOCK, 0};
        size_t rc = ZSTD_decompressStream(t->z, &out, &in);
        if (ZSTD_isError(rc))
            return err_set(err, PT_EINPUT, "%s: corrupt zstd data: %s", name(t),
                           ZSTD_getErrorName(rc)), -1;
        t->in_pos = in.pos;
        t->len = out.pos;
        t->z_done = rc == 0;
    }
    return 0;
}

/* More decompressed bytes in [pos, len) when all were handed out; 0 at the end too. */
static int refill(TextIn *t, Error *err)
{
    if (t->pos < t->len)
        return 0;
    t->pos = t->len = 0;
    if (t->format == TEXTIN_GZIP)
        return refill_gzip(t, err);
    if (t->format == TEXTIN_ZSTD)
        return refill_zstd(t, err);
    if (t->in_pos == t->in_len && fill_in(t, err))
        return -1;
    /* plain: the bytes read are the text */
    size_t n = t->in_len - t->in_pos;
    memcpy(t->buf, t->in + t->in_pos, n);
    t->in_pos = t->in_len;
    t->len = n;
    return 0;
}

int textin_line(TextIn *t, ByteVec *line, Error *err)
{
    line->n = 0;
    int any = 0;
    for (;;) {
        if (refill(t, err))
            return -1;
        if (t->pos == t->len)
            return any;
        any = 1;
        char *start = t->buf + t->pos, *nl = memchr(start, '\n', t->len - t->pos);
        size_t n = nl ? (size_t)(nl - start) : t->len - t->pos;
        bytevec_append(line, start, n);
        t->pos += n + (nl != NULL);
        t->bytes += n + (nl != NULL);
        if (nl)
            return 1;
    }
}

long textin_read(TextIn *t, ByteVec *out, size_t max, Error *err)
{
    size_t got = 0;
    while (got < max) {
        if (refill(t, err))
            return -1;
        if (t->pos == t->len)
            break;
        size_t n = t->len - t->pos < max - got ? t->len - t->pos : max - got;
        bytevec_append(out, t->buf + t->pos, n);
        t->pos += n;
        t->bytes += n;
        got += n;
    }
    return (long)got;
}

int textin_peek(TextIn *t, Error *err)
{
    if (refill(t, err))
        return -2;
    for (size_t i = t->pos; i < t->len; i++)
        if (!memchr(" \t\r\n", t->buf[i], 4))
            return (unsigned char)t->buf[i];
    return -1;
}
