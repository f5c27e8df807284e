/* fixture: the .ptfx reader and comparison helpers (see fixture.h, docs/fixtures.md). The file is
 * read whole, then every length is checked against the bytes left before it is trusted. */
#include "fixture.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PTFX_MAGIC "PTFX0001"
#define PTFX_MAX_NDIM 8

typedef struct {
    const unsigned char *buf;
    size_t len, pos;
    const char *path;
    char *err;
    size_t errlen;
} Reader;

static int fail(Reader *r, const char *fmt, ...)
{
    if (r->err && r->errlen) {
        int k = snprintf(r->err, r->errlen, "%s: byte %zu: ", r->path, r->pos);
        if (k >= 0 && (size_t)k < r->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(r->err + k, r->errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

/* The next n bytes, or NULL (with the error set) if the file ends first. */
static const unsigned char *take(Reader *r, size_t n, const char *what)
{
    if (r->len - r->pos < n) {
        fail(r, "file ends inside %s (%zu bytes needed, %zu left)", what, n, r->len - r->pos);
        return NULL;
    }
    const unsigned char *p = r->buf + r->pos;
    r->pos += n;
    return p;
}

static int read_u32(Reader *r, uint32_t *v, const char *what)
{
    const unsigned char *p = take(r, 4, what);
    if (!p) return -1;
    *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    return 0;
}

static int read_i64(Reader *r, int64_t *v, const char *what)
{
    const unsigned char *p = take(r, 8, what);
    if (!p) return -1;
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--) u = u << 8 | p[i];
    memcpy(v, &u, sizeof u);
    return 0;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Copies numel little-endian elements of size es into dst, in host order. */
static void copy_le(void *dst, const unsigned char *src, int64_t numel, size_t es)
{
    size_t bytes = (size_t)numel * es;
    if (host_is_little_endian()) {
        memcpy(dst, src, bytes);
        return;
    }
    unsigned char *d = dst;
    for (size_t i = 0; i < bytes; i += es)
        for (size_t j = 0; j < es; j++) d[i + j] = src[i + es - 1 - j];
}

static int read_record(Reader *r, FixtureTensor *t, int index)
{
    uint32_t name_len, dtype, ndim;
    const unsigned char *p;
    if (read_u32(r, &name_len, "a record's name length")) return -1;
    if (name_len == 0 || name_len >= sizeof t->name)
        return fail(r, "record %d: name length %u not in 1..%zu", index, name_len,
                    sizeof t->name - 1);
    if (!(p = take(r, name_len, "a record name"))) return -1;
    if (memchr(p, '\0', name_len))
        return fail(r, "record %d: name contains a NUL byte", index);
    memcpy(t->name, p, name_len);
    t->name[name_len] = '\0';

    if (read_u32(r, &dtype, "a record's dtype")) return -1;
    if (dtype > FIXTURE_F64)
        return fail(r, "record '%s': dtype %u unknown (0 f32, 1 i32, 2 f64)", t->name, dtype);
    if (read_u32(r, &ndim, "a record's ndim")) return -1;
    if (ndim > PTFX_MAX_NDIM)
        return fail(r, "record '%s': ndim %u > %d", t->name, ndim, PTFX_MAX_NDIM);
    t->dtype = (int)dtype;
    t->ndim = (int)ndim;

    size_t es = dtype == FIXTURE_F64 ? 8 : 4;
    int64_t max_numel = (int64_t)((r->len - r->pos) / es); /* loose bound; checked again below */
    t->numel = 1;
    for (uint32_t d = 0; d < ndim; d++) {
        if (read_i64(r, &t->dims[d], "a record's dims")) return -1;
        if (t->dims[d] < 0)
            return fail(r, "record '%s': dim %u is negative (%lld)", t->name, d,
                        (long long)t->dims[d]);
        if (t->dims[d] > 0 && t->numel > max_numel / t->dims[d])
            return fail(r, "record '%s': shape needs more bytes than the file has", t->name);
        t->numel *= t->dims[d];
    }
    size_t bytes = (size_t)t->numel * es;
    char what[160];
    snprintf(what, sizeof what, "the data of record '%s'", t->name);
    if (!(p = take(r, bytes, what))) return -1;
    t->data = malloc(bytes ? bytes : 1);
    if (!t->data) return fail(r, "record '%s': out of memory (%zu bytes)", t->name, bytes);
    copy_le(t->data, p, t->numel, es);
    return 0;
}

static int parse(Reader *r, Fixture *fx)
{
    const unsigned char *p;
    uint32_t count;
    if (!(p = take(r, 8, "the magic")) || memcmp(p, PTFX_MAGIC, 8) != 0) {
        r->pos = 0;
        return fail(r, "not a .ptfx file (magic is not \"" PTFX_MAGIC "\")");
    }
    if (read_u32(r, &count, "the record count")) return -1;
    /* Every record takes at least 4 + 1 + 4 + 4 bytes, so count is bounded by the file size. */
    if (count > (r->len - r->pos) / 13)
        return fail(r, "record count %u does not fit in the file", count);
    fx->t = calloc(count ? count : 1, sizeof *fx->t);
    if (!fx->t) return fail(r, "out of memory for %u records", count);
    for (uint32_t i = 0; i < count; i++) {
        fx->n = (int)i + 1; /* so fixture_free releases a half-read record */
        if (read_record(r, &fx->t[i], (int)i)) return -1;
        for (uint32_t j = 0; j < i; j++)
            if (strcmp(fx->t[j].name, fx->t[i].name) == 0)
                return fail(r, "record '%s' appears twice", fx->t[i].name);
    }
    fx->n = (int)count;
    if (r->pos != r->len)
        return fail(r, "%zu bytes after the last record", r->len - r->pos);
    return 0;
}

static int read_whole(const char *path, unsigned char **buf, size_t *len, char *err,
                      size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 20, n = 0;
    unsigned char *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap) break;
        unsigned char *nb = realloc(b, cap * 2);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    int bad = !b || ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "%s: %s", path, b ? "read error" : "out of memory");
        free(b);
        return -1;
    }
    *buf = b;
    *len = n;
    return 0;
}

int fixture_load(Fixture *fx, const char *path, char *err, size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = '\0';
    fx->t = NULL;
    fx->n = 0;
    unsigned char *buf;
    size_t len;
    if (read_whole(path, &buf, &len, err, errlen)) return -1;
    Reader r = { buf, len, 0, path, err, errlen };
    int rc = parse(&r, fx);
    free(buf);
    if (rc) fixture_free(fx);
    return rc;
}

void fixture_free(Fixture *fx)
{
    for (int i = 0; i < fx->n; i++) free(fx->t[i].data);
    free(fx->t);
    fx->t = NULL;
    fx->n = 0;
}

const FixtureTensor *fixture_get(const Fixture *fx, const char *name)
{
    for (int i = 0; i < fx->n; i++)
        if (strcmp(fx->t[i].name, name) == 0) return &fx->t[i];
    return NULL;
}

static const void *typed(const Fixture *fx, const char *name, int dtype, int64_t numel)
{
    const FixtureTensor *t = fixture_get(fx, name);
    return t && t->dtype == dtype && t->numel == numel ? t->data : NULL;
}

const float *fixture_f32(const Fixture *fx, const char *name, int64_t numel)
{
    return typed(fx, name, FIXTURE_F32, numel);
}

const int32_t *fixture_i32(const Fixture *fx, const char *name, int64_t numel)
{
    return typed(fx, name, FIXTURE_I32, numel);
}

const double *fixture_f64(const Fixture *fx, const char *name, int64_t numel)
{
    return typed(fx, name, FIXTURE_F64, numel);
}

double rel_err_f32(const float *a, const float *b, int64_t n, double floor)
{
    double diff = 0.0, ref = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        diff += d * d;
        ref += (double)b[i] * (double)b[i];
    }
    return sqrt(diff) / (sqrt(ref) + floor);
}

double max_abs_diff_f32(const float *a, const float *b, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || isnan(d)) m = d;
    }
    return m;
}
