/* data: llm.c shards mmapped into one token stream (or a synthetic stream), the global sample
 * order with wrap-around and per-epoch seeded shuffling, and the atomic shard writer. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "data.h"
#include "mapfile.h"
#include "rng.h"

#define SHARD_HEADER_BYTES (SHARD_HEADER_INTS * 4)
/* Length of the synthetic stream: at least 2^31 samples for any T, so no run wraps, and
 * i·T + T + 1 never overflows. */
#define SYNTHETIC_TOKENS ((int64_t)1 << 62)

/* Stream tokens [p, p + n) of the synthetic stream: token p is a pure function of (seed, p), so
 * any rank and any resume computes the same tokens without state. The stream is learnable, so a
 * training run on it shows the loss falling: runs of SYNTHETIC_RUN tokens each count up from a
 * random start by a random stride (1..8) modulo V; a model that reads the context predicts all
 * but the first two tokens of a run. */
#define SYNTHETIC_RUN 48
static void synthetic_read(uint64_t seed, int64_t p, int64_t n, int V, int32_t *out)
{
    uint64_t stream = rng_name_hash("data.synthetic");
    for (int64_t j = 0; j < n; j++) {
        int64_t q = p + j, run = q / SYNTHETIC_RUN, k = q % SYNTHETIC_RUN;
        uint64_t r = rng_bits(seed, stream, (uint64_t)run);
        uint64_t start = r % (uint64_t)V, stride = 1 + (r >> 32) % 8;
        out[j] = (int32_t)((start + stride * (uint64_t)k) % (uint64_t)V);
    }
}

/* ---- little-endian decoding: shards are LE whatever the host ---- */

static int32_t le32(const unsigned char *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* ---- one shard ---- */

/* Check the header against the file size; fills token_bytes and ntok. */
static int shard_check_header(Shard *s, Error *err)
{
    if (s->map_len < SHARD_HEADER_BYTES)
        return err_set(err, PT_EINPUT,
                       "%s: too short for an llm.c shard: %zu bytes, the header alone is %d",
                       s->path, s->map_len, SHARD_HEADER_BYTES);
    int32_t magic = le32(s->map), version = le32(s->map + 4), ntok = le32(s->map + 8);
    int want_version;
    if (magic == SHARD_MAGIC_U16) {
        want_version = SHARD_VERSION_U16;
        s->token_bytes = 2;
    } else if (magic == SHARD_MAGIC_U32) {
        want_version = SHARD_VERSION_U32;
        s->token_bytes = 4;
    } else {
        return err_set(err, PT_EINPUT,
                       "%s: bad magic %d: not an llm.c shard (expected %d for uint16 tokens or "
                       "%d for uint32 tokens)",
                       s->path, magic, SHARD_MAGIC_U16, SHARD_MAGIC_U32);
    }
    if (version != want_version)
        return err_set(err, PT_EINPUT, "%s: wrong version %d for magic %d (expected %d)",
                       s->path, version, magic, want_version);
    if (ntok <= 0)
        return err_set(err, PT_EINPUT, "%s: header says %d tokens; a shard holds at least one",
                       s->path, ntok);
    int64_t want = (int64_t)ntok * s->token_bytes;
    int64_t have = (int64_t)s->map_len - SHARD_HEADER_BYTES;
    if (have != want)
        return err_set(err, PT_EINPUT,
                       "%s: %s: header says %d tokens (%lld bytes) but %lld bytes follow the "
                       "header",
                       s->path, have < want ? "truncated" : "trailing bytes", ntok,
                       (long long)want, (long long)have);
    s->ntok = ntok;
    return PT_OK;
}

/* Map the whole file read-only: samples are read in place, never copied into a buffer. */
static int shard_open(Shard *s, const char *path, Error *err)
{
    if (snprintf(s->path, sizeof s->path, "%s", path) >= (int)sizeof s->path)
        return err_set(err, PT_EINPUT, "%s: path longer than %zu bytes", path,
                       sizeof s->path - 1);
    if (mapfile_open(path, &s->map, &s->map_len, err))
        return err->code;
    return shard_check_header(s, err);
}

static void shard_close(Shard *s)
{
    mapfile_close(s->map, s->map_len);
    s->map = NULL;
    s->map_len = 0;
}

/* Largest token id of shard s, over a loop that only tracks the maximum so the compiler
 * vectorises it, split over OpenMP threads: the scan runs at memory speed (docs/training.md,
 * Data, gives the measured rate). */
static uint32_t shard_max_token(const Shard *s)
{
    const unsigned char *p = s->map + SHARD_HEADER_BYTES;
    int64_t n = s->ntok;
    uint32_t max = 0;
    if (s->token_bytes == 2) {
#pragma omp parallel for reduction(max : max) schedule(static)
        for (int64_t j = 0; j < n; j++) {
            uint16_t t; /* a plain load vectorises; the byte-wise decode did not as well */
            memcpy(&t, p + 2 * j, 2);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
            t = (uint16_t)(t >> 8 | t << 8);
#endif
            max = t > max ? t : max;
        }
    } else {
#pragma omp parallel for reduction(max : max) schedule(static)
        for (int64_t j = 0; j < n; j++) {
            uint32_t t = (uint32_t)le32(p + 4 * j);
            max = t > max ? t : max;
        }
    }
    return max;
}

/* Token k of shard s. */
static uint32_t shard_token(const Shard *s, int64_t k)
{
    const unsigned char *p = s->map + SHARD_HEADER_BYTES + k * s->token_bytes;
    return s->token_bytes == 2 ? ((uint32_t)p[0] | (uint32_t)p[1] << 8) : (uint32_t)le32(p);
}

/* Every token id of shard s against V, once; the offending offset is searched for only on
 * failure. */
static int shard_check_tokens(Shard *s, int V, Error *err)
{
    if (s->checked)
        return PT_OK;
    if (shard_max_token(s) >= (uint32_t)V) {
        int64_t k = 0;
        while (shard_token(s, k) < (uint32_t)V)
            k++;
        return err_set(err, PT_EINPUT, "%s: token %u at offset %lld is >= vocab_size %d",
                       s->path, shard_token(s, k), (long long)k, V);
    }
    s->checked = 1;
    return PT_OK;
}

/* Copy tokens [k, k + n) of shard s into out (already checked against V). */
static void shard_read(const Shard *s, int64_t k, int64_t n, int32_t *out)
{
    for (int64_t j = 0; j < n; j++)
        out[j] = (int32_t)shard_token(s, k + j);
}

/* ---- opening the stream ---- */

static int has_glob_chars(const char *s)
{
    return strpbrk(s, "*?[") != NULL;
}

/* A name like "roneneldan/TinyStories": one '/', relative, and its "directory" does not exist.
 * picotron (Python) takes such names from the HF hub; we say what to do instead. */
static int looks_like_hub_name(const char *name)
{
    const char *slash = strchr(name, '/');
    if (!slash || slash == name || strchr(slash + 1, '/') || name[0] == '.' || name[0] == '~')
        return 0;
    char dir[1024];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - name), name);
    struct stat st;
    return stat(dir, &st) != 0;
}

static int open_synthetic(Dataset *ds)
{
    ds->synthetic = 1;
    ds->ntok = SYNTHETIC_TOKENS;
    return PT_OK;
}

static int open_shards(Dataset *ds, const char *name, Error *err)
{
    struct stat st;
    if (!has_glob_chars(name) && stat(name, &st) != 0) {
        if (looks_like_hub_name(name))
            return err_set(err, PT_EINPUT,
                           "dataset.name: \"%s\" is not a file or glob of token shards; "
                           "picotron trains on llm.c shards: make one with bin/text2shard "
                           "(byte-level) or llm.c's tokenizer scripts",
                           name);
        return err_set(err, PT_EINPUT, "dataset.name: %s: %s", name, strerror(errno));
    }
    glob_t g;
    int rc = glob(name, 0, NULL, &g); /* glob sorts its matches: the stream order is stable */
    if (rc != 0) {
        globfree(&g);
        if (rc == GLOB_NOMATCH)
            return err_set(err, PT_EINPUT, "dataset.name: glob \"%s\" matches no files", name);
        return err_set(err, PT_ERUNTIME, "dataset.name: glob \"%s\" failed", name);
    }
    ds->shards = xcalloc(g.gl_pathc, sizeof *ds->shards);
    ds->nshards = (int)g.gl_pathc;
    for (int i = 0; i < ds->nshards && rc == PT_OK; i++) {
        rc = shard_open(&ds->shards[i], g.gl_pathv[i], err);
        ds->shards[i].first = ds->ntok;
        ds->ntok += ds->shards[i].ntok;
    }
    globfree(&g);
    return rc;
}

/* Samples per epoch: (ntok - 1) / T, capped at num_samples when that is given. */
static int set_nsamples(Dataset *ds, const char *name, int64_t num_samples, Error *err)
{
    ds->nsamples = (ds->ntok - 1) / ds->T;
    if (ds->nsamples < 1)
        return err_set(err, PT_EINPUT,
                       "dataset \"%s\" holds %lld tokens, fewer than one sample of seq_length "
                       "%d (needs %lld tokens)",
                       name, (long long)ds->ntok, ds->T, (long long)ds->T + 1);
    if (num_samples > 0 && num_samples < ds->nsamples)
        ds->nsamples = num_samples;
    return PT_OK;
}

int data_open(Dataset *ds, const char *name, int T, int V, int64_t num_samples, int shuffle,
              uint64_t seed, Error *err)
{
    assert(T > 0 && V > 0);
    memset(ds, 0, sizeof *ds);
    ds->T = T;
    ds->V = V;
    ds->seed = seed;
    ds->perm_epoch = -1;
    int rc = strcmp(name, "synthetic") == 0 ? open_synthetic(ds) : open_shards(ds, name, err);
    if (rc == PT_OK)
        rc = set_nsamples(ds, name, num_samples, err);
    if (rc != PT_OK) {
        data_close(ds);
        return rc;
    }
    /* The unbounded synthetic stream is already i.i.d. by position; a permutation of its
     * billions of samples would cost memory and change nothing a run could see. */
    ds->shuffle = shuffle && !(ds->synthetic && num_samples <= 0);
    return PT_OK;
}

int data_check_tokens(Dataset *ds, Error *err)
{
    for (int i = 0; i < ds->nshards; i++)
        if (shard_check_tokens(&ds->shards[i], ds->V, err))
            return err->code;
    return PT_OK;
}

void data_close(Dataset *ds)
{
    for (int i = 0; i < ds->nshards; i++)
        shard_close(&ds->shards[i]);
    free(ds->shards);
    free(ds->perm);
    ds->shards = NULL;
    ds->perm = NULL;
    ds->nshards = 0;
    ds->perm_epoch = -1;
}

/* ---- sample order ---- */

/* Fisher–Yates over [0, nsamples), swap i drawn from rng_bits(seed, epoch's stream, i): a pure
 * function of (seed, epoch), whatever the mesh or the order samples are asked for. */
static void build_perm(Dataset *ds, int64_t epoch)
{
    if (!ds->perm)
        ds->perm = xmalloc((size_t)ds->nsamples * sizeof *ds->perm);
    int64_t n = ds->nsamples;
    for (int64_t i = 0; i < n; i++)
        ds->perm[i] = i;
    uint64_t stream = rng_name_hash("data.shuffle") + (uint64_t)epoch;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)(rng_bits(ds->seed, stream, (uint64_t)i) % (uint64_t)(i + 1));
        int64_t t = ds->perm[i];
        ds->perm[i] = ds->perm[j];
        ds->perm[j] = t;
    }
    ds->perm_epoch = epoch;
}

int64_t data_epoch(const Dataset *ds, int64_t g)
{
    return g / ds->nsamples;
}

/* Index of the shard holding stream token p (binary search on first). */
static int shard_of(const Dataset *ds, int64_t p)
{
    int lo = 0, hi = ds->nshards - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (ds->shards[mid].first <= p)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

int data_sample(Dataset *ds, int64_t g, int32_t *tokens, Error *err)
{
    assert(g >= 0);
    int64_t epoch = data_epoch(ds, g), i = g % ds->nsamples;
    if (ds->shuffle) {
        if (ds->perm_epoch != epoch)
            build_perm(ds, epoch);
        i = ds->perm[i];
    }
    int64_t p = i * ds->T, n = (int64_t)ds->T + 1;
    if (ds->synthetic) {
        synthetic_read(ds->seed, p, n, ds->V, tokens);
        return PT_OK;
    }
    /* A sample may span shard boundaries: read it piecewise, shard by shard. */
    for (int s = shard_of(ds, p); n > 0; s++) {
        Shard *sh = &ds->shards[s];
        int64_t k = p - sh->first, m = sh->ntok - k < n ? sh->ntok - k : n;
        if (shard_check_tokens(sh, ds->V, err))
            return err->code;
        shard_read(sh, k, m, tokens);
        tokens += m;
        p += m;
        n -= m;
    }
    return PT_OK;
}

/* ---- writing ---- */

static int check_tokens(const char *path, const int32_t *tokens, int64_t n, int *u32, Error *err)
{
    if (n <= 0 || n > INT32_MAX)
        return err_set(err, PT_EINPUT, "%s: cannot write %lld tokens: a shard holds 1 to %d",
                       path, (long long)n, INT32_MAX);
    for (int64_t i = 0; i < n; i++) {
        if (tokens[i] < 0)
            return err_set(err, PT_EINPUT, "%s: token %d at offset %lld is negative", path,
                           tokens[i], (long long)i);
        if (tokens[i] > 65535)
            *u32 = 1;
    }
    return PT_OK;
}

/* Header then tokens, encoded little-endian in chunks so the file never needs a second copy of
 * the whole array. */
static int write_body(FILE *f, const int32_t *tokens, int64_t n, int u32)
{
    unsigned char header[SHARD_HEADER_BYTES] = {0};
    put_le32(header, u32 ? SHARD_MAGIC_U32 : SHARD_MAGIC_U16);
    put_le32(header + 4, u32 ? SHARD_VERSION_U32 : SHARD_VERSION_U16);
    put_le32(header + 8, (uint32_t)n);
    if (fwrite(header, 1, sizeof header, f) != sizeof header)
        return -1;
    enum { CHUNK = 1 << 16 };
    static_assert(CHUNK % 4 == 0, "chunk holds whole tokens");
    unsigned char buf[CHUNK];
    int tb = u32 ? 4 : 2;
    for (int64_t i = 0; i < n;) {
        size_t len = 0;
        for (; i < n && len < CHUNK; i++, len += (size_t)tb) {
            uint32_t t = (uint32_t)tokens[i];
            buf[len] = (unsigned char)t;
            buf[len + 1] = (unsigned char)(t >> 8);
            if (u32) {
                buf[len + 2] = (unsigned char)(t >> 16);
                buf[len + 3] = (unsigned char)(t >> 24);
            }
        }
        if (fwrite(buf, 1, len, f) != len)
            return -1;
    }
    return 0;
}

int data_write_shard(const char *path, const int32_t *tokens, int64_t n, int force_u32, Error *err)
{
    int u32 = force_u32;
    int rc = check_tokens(path, tokens, n, &u32, err);
    if (rc != PT_OK)
        return rc;
    char tmp[1040];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return err_set(err, PT_EINPUT, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        /* A missing or forbidden directory is the caller's path, not a machine failure. */
        int bad_path = errno == ENOENT || errno == ENOTDIR || errno == EACCES || errno == EISDIR;
        return err_set(err, bad_path ? PT_EINPUT : PT_ERUNTIME, "%s: cannot create: %s", path,
                       strerror(errno));
    }
    int bad = write_body(f, tokens, n, u32) != 0 || fflush(f) != 0 || fsync(fileno(f)) != 0;
    int e = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!bad && rename(tmp, path) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        unlink(tmp);
        return err_set(err, PT_ERUNTIME, "%s: write failed: %s", path, strerror(e));
    }
    return fsync_parent_dir(path, err);
}
