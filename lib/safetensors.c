/* safetensors: validating mmap reader, streaming atomic writer, sharded models, dtype
 * conversions. A file is: u64 LE header length N, N bytes of JSON header (padded with spaces),
 * then the data; each header entry {"dtype", "shape", "data_offsets": [begin, end]} places a
 * tensor at bytes [8 + N + begin, 8 + N + end). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "jsonin.h"
#include "mapfile.h"
#include "progress.h"
#include "safetensors.h"

/* The reference implementation refuses headers above 100 MB; so do we. */
#define ST_MAX_HEADER 100000000ull

static const char *dtype_names[] = {"F32", "F16", "BF16"};
static const size_t dtype_sizes[] = {4, 2, 2};

const char *st_dtype_name(StDtype dt) { return dtype_names[dt]; }
size_t st_dtype_size(StDtype dt) { return dtype_sizes[dt]; }

int st_dtype_parse(const char *name, StDtype *dt)
{
    static const char *flags[] = {"fp32", "fp16", "bf16"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, dtype_names[i]) || !strcmp(name, flags[i])) {
            *dt = (StDtype)i;
            return 0;
        }
    return -1;
}

/* ---- conversions ---- */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float st_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

float st_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0x1f) /* inf / NaN: payload kept in the top mantissa bits */
        return bits_f32(sign | 0x7f800000u | mant << 13);
    if (exp == 0) {
        if (mant == 0)
            return bits_f32(sign);
        /* subnormal: mant · 2^-24, normalised */
        int e = -1;
        do {
            mant <<= 1;
            e++;
        } while (!(mant & 0x400));
        return bits_f32(sign | (uint32_t)(127 - 15 - e) << 23 | (mant & 0x3ff) << 13);
    }
    return bits_f32(sign | (exp + 127 - 15) << 23 | mant << 13);
}

uint16_t st_f32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) { /* NaN: keep it a NaN */
        uint16_t h = (uint16_t)(u >> 16);
        return (h & 0x7f) ? h : (uint16_t)(h | 0x40);
    }
    /* round to nearest, ties to even: add 0x7fff plus the lowest kept bit */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

uint16_t st_f32_to_f16(float f)
{
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) { /* NaN */
        uint16_t m = (uint16_t)((a >> 13) & 0x3ff);
        return (uint16_t)(sign | 0x7c00 | (m ? m : 0x200));
    }
    if (a >= 0x477ff000u) /* ≥ 65520 rounds past the largest half (65504): inf */
        return (uint16_t)(sign | 0x7c00);
    int e = (int)(a >> 23) - 127 + 15;
    uint32_t mant = (a & 0x7fffff) | 0x800000; /* 24 significant bits */
    int shift = e >= 1 ? 13 : 14 - e;          /* bits dropped (subnormal: more) */
    if (shift > 24)
        return sign; /* below half the smallest subnormal, or zero */
    uint32_t kept = mant >> shift, rest = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rest > half || (rest == half && (kept & 1)))
        kept++;
    if (e >= 1) /* normal: the carry of a mantissa overflow moves into the exponent */
        return (uint16_t)(sign | (((uint32_t)e << 10) + (kept - 0x400)));
    return (uint16_t)(sign | kept); /* subnormal; a carry to 0x400 is the smallest normal */
}

void st_to_f32(const StTensor *t, float *dst)
{
    const unsigned char *p = t->data;
    if (t->dtype == ST_F32) {
        memcpy(dst, p, (size_t)t->numel * 4);
        return;
    }
    for (int64_t i = 0; i < t->numel; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2); /* the data need not be 2-byte aligned */
        dst[i] = t->dtype == ST_BF16 ? st_bf16_to_f32(h) : st_f16_to_f32(h);
    }
}

/* ---- reader ---- */

static void tensors_free(StTensor *t, int n)
{
    for (int i = 0; i < n; i++)
        free(t[i].name);
    free(t);
}

void st_close(StFile *f)
{
    mapfile_close(f->map, f->size);
    tensors_free(f->t, f->n);
    free(f->metadata);
    memset(f, 0, sizeof *f);
}

const StTensor *st_find(const StFile *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->t[i].name, name))
            return &f->t[i];
    return NULL;
}

static int json_uint(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* Parse and check one header entry; data_len is the size of the data region. */
static int parse_entry(const char *path, const char *name, const json_t *v, size_t data_start,
                       uint64_t data_len, StTensor *t, uint64_t *begin, uint64_t *end, Error *err)
{
    if (!json_is_object(v))
        return err_set(err, PT_EINPUT, "%s: tensor %s: header entry is not an object", path, name);
    const json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
                 *off = json_object_get(v, "data_offsets");
    if (!json_is_string(dt) || !json_is_array(sh) || !json_is_array(off))
        return err_set(err, PT_EINPUT, "%s: tensor %s: header entry needs dtype (string), shape "
                       "and data_offsets (arrays)", path, name);
    if (json_array_size(off) != 2 || json_uint(json_array_get(off, 0), begin) ||
        json_uint(json_array_get(off, 1), end) || *begin > *end)
        return err_set(err, PT_EINPUT, "%s: tensor %s: data_offsets must be [begin, end] with "
                       "0 <= begin <= end", path, name);
    if (*end > data_len)
        return err_set(err, PT_EINPUT, "%s: tensor %s: data_offsets [%llu, %llu] run past the end "
                       "of the data (%llu bytes, byte offset %zu of the file)", path, name,
                       (unsigned long long)*begin, (unsigned long long)*end,
                       (unsigned long long)data_len, data_start + (size_t)*begin);
    int d = st_dtype_parse(json_string_value(dt), &t->dtype);
    if (d < 0 || strcmp(json_string_value(dt), dtype_names[t->dtype]) != 0)
        return err_set(err, PT_EINPUT, "%s: tensor %s: dtype \"%s\" is not supported (F32, F16 "
                       "or BF16) at byte offset %zu", path, name, json_string_value(dt),
                       data_start + (size_t)*begin);
    if (json_array_size(sh) > ST_MAX_DIMS)
        return err_set(err, PT_EINPUT, "%s: tensor %s: %zu dimensions (at most %d)", path, name,
                       json_array_size(sh), ST_MAX_DIMS);
    t->ndim = (int)json_array_size(sh);
    uint64_t numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        uint64_t n;
        if (json_uint(json_array_get(sh, (size_t)i), &n))
            return err_set(err, PT_EINPUT, "%s: tensor %s: shape[%d] is not a non-negative "
                           "integer", path, name, i);
        if (n != 0 && numel > (UINT64_MAX >> 4) / n)
            return err_set(err, PT_EINPUT, "%s: tensor %s: shape too large", path, name);
        numel *= n;
        t->shape[i] = (int64_t)n;
    }
    uint64_t bytes = numel * st_dtype_size(t->dtype);
    if (bytes != *end - *begin)
        return err_set(err, PT_EINPUT, "%s: tensor %s: shape × %s size is %llu bytes but "
                       "data_offsets [%llu, %llu] hold %llu (byte offset %zu)", path, name,
                       dtype_names[t->dtype], (unsigned long long)bytes,
                       (unsigned long long)*begin, (unsigned long long)*end,
                       (unsigned long long)(*end - *begin), data_start + (size_t)*begin);
    t->numel = (int64_t)numel;
    t->file_offset = data_start + (size_t)*begin;
    return PT_OK;
}

typedef struct {
    uint64_t begin, end;
    int i;
} Span;

static int span_cmp(const void *a, const void *b)
{
    const Span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : x->i - y->i;
}

static int check_overlaps(const char *path, const StTensor *t, Span *s, int n, size_t data_start,
                          Error *err)
{
    qsort(s, (size_t)n, sizeof *s, span_cmp);
    int prev = -1;
    for (int k = 0; k < n; k++) {
        if (s[k].begin == s[k].end)
            continue;
        if (prev >= 0 && s[k].begin < s[prev].end)
            return err_set(err, PT_EINPUT, "%s: tensor %s: data_offsets [%llu, %llu] overlap "
                           "tensor %s [%llu, %llu] (byte offset %zu)", path, t[s[k].i].name,
                           (unsigned long long)s[k].begin, (unsigned long long)s[k].end,
                           t[s[prev].i].name, (unsigned long long)s[prev].begin,
                           (unsigned long long)s[prev].end, data_start + (size_t)s[k].begin);
        prev = k;
    }
    return PT_OK;
}

static int parse_metadata(StFile *f, const json_t *v, Error *err)
{
    const char *key;
    const json_t *val;
    if (!json_is_object(v))
        return err_set(err, PT_EINPUT, "%s: __metadata__ is not an object", f->path);
    json_object_foreach((json_t *)v, key, val)
        if (!json_is_string(val))
            return err_set(err, PT_EINPUT, "%s: __metadata__.%s: expected a string", f->path, key);
    f->metadata = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    return PT_OK;
}

static int parse_header(StFile *f, const unsigned char *hdr, size_t n, Error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)hdr, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) /* jansson's position is just past the byte where it gave up */
        return err_set(err, PT_EINPUT, "%s: header is not valid JSON at byte offset %zu: %s",
                       f->path, 8 + (jerr.position > 0 ? (size_t)jerr.position - 1 : 0), jerr.text);
    int rc = PT_OK;
    if (!json_is_object(root)) {
        rc = err_set(err, PT_EINPUT, "%s: header is not a JSON object (byte offset 8)", f->path);
        json_decref(root);
        return rc;
    }
    size_t data_start = 8 + n;
    uint64_t data_len = f->size - data_start;
    f->t = xcalloc(json_object_size(root) + 1, sizeof *f->t);
    Span *spans = xcalloc(json_object_size(root) + 1, sizeof *spans);
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (!strcmp(key, "__metadata__")) {
            rc = parse_metadata(f, v, err);
        } else {
            StTensor *t = &f->t[f->n];
            Span *s = &spans[f->n];
            rc = parse_entry(f->path, key, v, data_start, data_len, t, &s->begin, &s->end, err);
            if (!rc) {
                t->name = strdup(key);
                t->data = (const unsigned char *)f->map + t->file_offset;
                s->i = f->n++;
            }
        }
        if (rc)
            break;
    }
    if (!rc)
        rc = check_overlaps(f->path, f->t, spans, f->n, data_start, err);
    free(spans);
    json_decref(root);
    return rc;
}

int st_open(StFile *f, const char *path, Error *err)
{
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    if (mapfile_open(path, &f->map, &f->size, err))
        return err->code;
    if (f->size < 8) {
        int rc = err_set(err, PT_EINPUT, "%s: %zu bytes, too short for the 8-byte header "
                         "length at byte offset 0", path, f->size);
        st_close(f);
        return rc;
    }
    const unsigned char *b = f->map;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | b[i];
    int rc;
    if (n > f->size - 8)
        rc = err_set(err, PT_EINPUT, "%s: header length %llu (byte offset 0) runs past the end "
                     "of the file (%zu bytes)", path, (unsigned long long)n, f->size);
    else if (n > ST_MAX_HEADER)
        rc = err_set(err, PT_EINPUT, "%s: header length %llu (byte offset 0) exceeds the "
                     "format's limit of %llu", path, (unsigned long long)n, ST_MAX_HEADER);
    else
        rc = parse_header(f, b + 8, (size_t)n, err);
    if (rc)
        st_close(f);
    return rc;
}

/* ---- sharded models ---- */

void st_model_close(StModel *m)
{
    for (int i = 0; i < m->nfiles; i++)
        st_close(&m->files[i]);
    free(m->files);
    memset(m, 0, sizeof *m);
}

const StTensor *st_model_find(const StModel *m, const char *name, const StFile **file)
{
    for (int i = 0; i < m->nfiles; i++) {
        const StTensor *t = st_find(&m->files[i], name);
        if (t) {
            if (file)
                *file = &m->files[i];
            return t;
        }
    }
    return NULL;
}

static int open_shard(StModel *m, const char *dir, const char *shard, const char *tensor,
                      Error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, shard);
    for (int i = 0; i < m->nfiles; i++)
        if (!strcmp(m->files[i].path, path))
            return PT_OK;
    if (!shard[0] || strchr(shard, '/'))
        return err_set(err, PT_EINPUT, "%s: weight_map.%s: \"%s\" is not a file name in the "
                       "model directory", m->index_path, tensor, shard);
    if (access(path, F_OK) != 0)
        return err_set(err, PT_EINPUT, "%s: weight_map.%s names shard %s, which does not exist",
                       m->index_path, tensor, path);
    StFile *grown = xmalloc((size_t)(m->nfiles + 1) * sizeof *grown);
    if (m->nfiles)
        memcpy(grown, m->files, (size_t)m->nfiles * sizeof *grown);
    free(m->files);
    m->files = grown;
    if (st_open(&m->files[m->nfiles], path, err))
        return err->code;
    m->nfiles++;
    return PT_OK;
}

static int open_index(StModel *m, const char *dir, Error *err)
{
    json_t *root;
    /* the reader of every user-given JSON file: a directory, a duplicate key or a leading
     * byte-order mark are handled as for config.json */
    int rc = jsonin_load_file(m->index_path, &root, err);
    if (rc)
        return rc;
    json_t *map = json_object_get(root, "weight_map");
    if (!json_is_object(map) || json_object_size(map) == 0)
        rc = err_set(err, PT_EINPUT, "%s: weight_map: expected an object naming a shard for "
                     "every tensor", m->index_path);
    const char *name;
    json_t *v;
    json_object_foreach(map, name, v)
    {
        if (rc)
            break;
        if (!json_is_string(v)) {
            rc = err_set(err, PT_EINPUT, "%s: weight_map.%s: expected a file name", m->index_path,
                         name);
            break;
        }
        rc = open_shard(m, dir, json_string_value(v), name, err);
        if (!rc) {
            const StFile *f = NULL;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, json_string_value(v));
            for (int i = 0; i < m->nfiles; i++)
                if (!strcmp(m->files[i].path, path))
                    f = &m->files[i];
            if (!st_find(f, name))
                rc = err_set(err, PT_EINPUT, "%s: weight_map.%s: tensor not found in %s",
                             m->index_path, name, path);
        }
    }
    json_decref(root);
    return rc;
}

int st_model_open(StModel *m, const char *dir, Error *err)
{
    memset(m, 0, sizeof *m);
    char single[4096];
    snprintf(m->index_path, sizeof m->index_path, "%s/model.safetensors.index.json", dir);
    snprintf(single, sizeof single, "%s/model.safetensors", dir);
    int rc;
    if (access(m->index_path, F_OK) == 0) {
        rc = open_index(m, dir, err);
    } else if (access(single, F_OK) == 0) {
        m->index_path[0] = '\0';
        m->files = xcalloc(1, sizeof *m->files);
        rc = st_open(&m->files[0], single, err);
        m->nfiles = rc ? 0 : 1;
    } else {
        rc = err_set(err, PT_EINPUT, "%s: no model.safetensors or model.safetensors.index.json "
                     "(PyTorch .bin weights are not read: save with safe_serialization=True)",
                     dir);
    }
    if (rc)
        st_model_close(m);
    return rc;
}

/* ---- writer ---- */

static int64_t out_numel(const StOut *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

/* Header text, padded with spaces to a multiple of 8 so the data starts aligned. */
static char *make_header(const StOut *t, int n, StDtype dtype, size_t *len)
{
    json_t *root = json_object();
    json_object_set_new(root, "__metadata__", json_pack("{s:s}", "format", "pt"));
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        json_t *shape = json_array();
        for (int d = 0; d < t[i].ndim; d++)
            json_array_append_new(shape, json_integer(t[i].shape[d]));
        uint64_t bytes = (uint64_t)out_numel(&t[i]) * st_dtype_size(dtype);
        json_object_set_new(root, t[i].name,
                            json_pack("{s:s, s:o, s:[I, I]}", "dtype", dtype_names[dtype], "shape",
                                      shape, "data_offsets", (json_int_t)off,
                                      (json_int_t)(off + bytes)));
        off += bytes;
    }
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    size_t k = strlen(text), padded = (k + 7) / 8 * 8;
    char *out = xmalloc(padded);
    memcpy(out, text, k);
    memset(out + k, ' ', padded - k);
    free(text);
    *len = padded;
    return out;
}

/* One tensor's data in dtype, converted in chunks. */
static int write_tensor(AtomicFile *f, const StOut *t, StDtype dtype)
{
    int64_t n = out_numel(t);
    if (dtype == ST_F32)
        return atomic_write(f, t->data, (size_t)n * 4);
    enum { CHUNK = 1 << 16 };
    uint16_t *buf = xmalloc(CHUNK * sizeof *buf);
    int rc = 0;
    for (int64_t i = 0; !rc && i < n; i += CHUNK) {
        int64_t m = n - i < CHUNK ? n - i : CHUNK;
        for (int64_t j = 0; j < m; j++)
            buf[j] = dtype == ST_BF16 ? st_f32_to_bf16(t->data[i + j]) : st_f32_to_f16(t->data[i + j]);
        rc = atomic_write(f, buf, (size_t)m * 2);
    }
    free(buf);
    return rc;
}

int st_write_file(const char *path, const StOut *t, int n, StDtype dtype, Error *err)
{
    AtomicFile f;
    if (atomic_open(&f, path, err))
        return err->code;
    size_t hlen;
    char *hdr = make_header(t, n, dtype, &hlen);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    atomic_write(&f, len8, 8);
    atomic_write(&f, hdr, hlen);
    free(hdr);
    for (int i = 0; i < n && !f.err; i++) {
        progress_note("writing", i, n, t[i].name);
        write_tensor(&f, &t[i], dtype);
    }
    progress_done();
    return atomic_commit(&f, err);
}

int st_write_model(const char *dir, const StOut *t, int n, StDtype dtype, uint64_t max_shard_bytes,
                   int *nshards, Error *err)
{
    /* shard s holds tensors [first[s], first[s + 1]) */
    int *first = xmalloc((size_t)(n + 2) * sizeof *first);
    int ns = 0;
    uint64_t cur = 0, total = 0;
    for (int i = 0; i < n; i++) {
        uint64_t b = (uint64_t)out_numel(&t[i]) * st_dtype_size(dtype);
        if (i == 0 || (cur > 0 && cur + b > max_shard_bytes)) {
            first[ns++] = i;
            cur = 0;
        }
        cur += b;
        total += b;
    }
    if (n == 0)
        first[ns++] = 0;
    first[ns] = n;
    if (nshards)
        *nshards = ns;
    char path[4096];
    int rc = PT_OK;
    if (ns == 1) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        rc = st_write_file(path, t, n, dtype, err);
        free(first);
        return rc;
    }
    json_t *map = json_object();
    int written = 0;
    for (int s = 0; !rc && s < ns; s++) {
        char name[64];
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, ns);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        rc = st_write_file(path, t + first[s], first[s + 1] - first[s], dtype, err);
        written += rc == PT_OK;
        for (int i = first[s]; i < first[s + 1]; i++)
            json_object_set_new(map, t[i].name, json_string(name));
    }
    free(first);
    if (!rc) {
        json_t *index = json_pack("{s:{s:I}, s:o}", "metadata", "total_size", (json_int_t)total,
                                  "weight_map", map);
        char *text = json_dumps(index, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(index);
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        size_t len = strlen(text);
        char *line = xmalloc(len + 1);
        memcpy(line, text, len);
        line[len] = '\n';
        free(text);
        rc = atomic_write_file(path, line, len + 1, err);
        free(line);
    } else {
        json_decref(map);
    }
    /* a model that could not be written whole (a full disk) leaves no shards of it behind */
    for (int s = 0; rc && s < written; s++) {
        snprintf(path, sizeof path, "%s/model-%05d-of-%05d.safetensors", dir, s + 1, ns);
        unlink(path);
    }
    return rc;
}
