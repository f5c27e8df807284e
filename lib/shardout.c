/* shardout: tokens are encoded little-endian into a block buffer; a shard's header is written
 * as a placeholder first and patched with the token count when the shard is full or at
 * commit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data.h"
#include "shardout.h"
#include "vec.h"

void shardout_init(ShardOut *s, const char *prefix, const char *split, int u32,
                   int64_t shard_tokens)
{
    memset(s, 0, sizeof *s);
    snprintf(s->prefix, sizeof s->prefix, "%s", prefix);
    s->split = split;
    s->u32 = u32;
    s->shard_tokens = shard_tokens;
}

void shardout_name(const char *prefix, const char *split, int i, char *out, size_t len)
{
    snprintf(out, len, "%s_%s_%06d.bin", prefix, split, i);
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16), p[3] = (unsigned char)(v >> 24);
}

static int flush(ShardOut *s, Error *err)
{
    AtomicFile *f = &s->files[s->nfiles - 1];
    atomic_write(f, s->buf, s->nbuf);
    s->nbuf = 0;
    if (f->err)
        return err_set(err, PT_ERUNTIME, "%s: write failed: %s", f->path, strerror(f->err));
    return PT_OK;
}

/* The header with the final count, written over the placeholder. */
static int seal(ShardOut *s, Error *err)
{
    if (flush(s, err))
        return err->code;
    AtomicFile *f = &s->files[s->nfiles - 1];
    unsigned char header[SHARD_HEADER_INTS * 4] = {0};
    put_le32(header, s->u32 ? SHARD_MAGIC_U32 : SHARD_MAGIC_U16);
    put_le32(header + 4, s->u32 ? SHARD_VERSION_U32 : SHARD_VERSION_U16);
    put_le32(header + 8, (uint32_t)s->in_shard);
    if (pwrite(f->fd, header, sizeof header, 0) != (ssize_t)sizeof header)
        return err_set(err, PT_ERUNTIME, "%s: write failed: %s", f->path, strerror(errno));
    return PT_OK;
}

static int start_shard(ShardOut *s, Error *err)
{
    if (s->nfiles && seal(s, err))
        return err->code;
    if (s->nfiles == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 8;
        s->files = vec_realloc(s->files, (size_t)s->cap * sizeof *s->files);
    }
    char path[4096];
    shardout_name(s->prefix, s->split, s->nfiles, path, sizeof path);
    if (atomic_open(&s->files[s->nfiles], path, err))
        return err->code;
    s->nfiles++;
    s->in_shard = 0;
    unsigned char header[SHARD_HEADER_INTS * 4] = {0};
    memcpy(s->buf, header, sizeof header);
    s->nbuf = sizeof header;
    return PT_OK;
}

int shardout_write(ShardOut *s, const int32_t *ids, size_t n, Error *err)
{
    size_t w = s->u32 ? 4 : 2;
    for (size_t i = 0; i < n; i++) {
        if ((!s->nfiles || s->in_shard == s->shard_tokens) && start_shard(s, err))
            return err->code;
        if (s->nbuf + w > sizeof s->buf && flush(s, err))
            return err->code;
        uint32_t v = (uint32_t)ids[i];
        s->buf[s->nbuf] = (unsigned char)v;
        s->buf[s->nbuf + 1] = (unsigned char)(v >> 8);
        if (w == 4) {
            s->buf[s->nbuf + 2] = (unsigned char)(v >> 16);
            s->buf[s->nbuf + 3] = (unsigned char)(v >> 24);
        }
        s->nbuf += w;
        s->in_shard++;
        s->total++;
    }
    return PT_OK;
}

int shardout_commit(ShardOut *s, Error *err)
{
    if (s->nfiles && seal(s, err))
        return err->code;
    for (int i = 0; i < s->nfiles; i++) {
        if (atomic_commit(&s->files[i], err)) {
            /* the ones before are in place; the rest must not stay as temporary files */
            for (int k = i + 1; k < s->nfiles; k++) {
                close(s->files[k].fd);
                unlink(s->files[k].tmp);
            }
            free(s->files);
            s->files = NULL;
            s->nfiles = 0;
            return err->code;
        }
    }
    free(s->files);
    s->files = NULL; /* nfiles stays: the count of shards written */
    return PT_OK;
}

void shardout_abort(ShardOut *s)
{
    if (!s->files) /* committed, or nothing written */
        return;
    for (int i = 0; i < s->nfiles; i++) {
        close(s->files[i].fd);
        unlink(s->files[i].tmp);
    }
    free(s->files);
    s->files = NULL;
    s->nfiles = 0;
}
