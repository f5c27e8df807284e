/* ckpt_read: reading checkpoints. The index of every stored piece (attributes only),
 * assembling any flat range of any block of a tensor from the pieces that intersect it, and
 * ckpt_load on top of that. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "ckpt_h5.h"
#include "progress.h"
#include "range.h"

/* Rank files kept open at once while reading (file descriptors are finite). */
#define MAX_OPEN 64

typedef struct {
    int file;                  /* index into CkptIndex.ranks */
    int tensor;                /* index into the kind's tensor list */
    int64_t gshape[2], off[2], shape[2], lo, hi;
} Stored;

typedef struct {
    char name[96];
    int64_t shape[2];
} StoredTensor;

struct CkptIndex {
    char dir[4096];
    CkptMeta meta;
    int *ranks, nfiles;        /* rank_files of meta.h5 */
    hid_t *fid;                /* open handles, -1 when closed */
    int nopen;
    Stored *pc[CKPT_KINDS];
    int npc[CKPT_KINDS], cappc[CKPT_KINDS];
    StoredTensor *ts[CKPT_KINDS];
    int nts[CKPT_KINDS], capts[CKPT_KINDS];
};

/* ---- the index ---- */

static int tensor_id(CkptIndex *x, CkptKind k, const char *name, const int64_t shape[2])
{
    for (int i = 0; i < x->nts[k]; i++)
        if (strcmp(x->ts[k][i].name, name) == 0)
            return i;
    if (x->nts[k] == x->capts[k]) {
        x->capts[k] = x->capts[k] ? 2 * x->capts[k] : 64;
        StoredTensor *g = realloc(x->ts[k], (size_t)x->capts[k] * sizeof *g);
        if (!g) {
            fprintf(stderr, "picotron: out of memory indexing a checkpoint\n");
            exit(PT_ERUNTIME);
        }
        x->ts[k] = g;
    }
    StoredTensor *t = &x->ts[k][x->nts[k]];
    size_t len = strnlen(name, sizeof t->name - 1);
    memcpy(t->name, name, len);
    t->name[len] = '\0';
    t->shape[0] = shape[0], t->shape[1] = shape[1];
    return x->nts[k]++;
}

static void add_piece(CkptIndex *x, CkptKind k, const Stored *s)
{
    if (x->npc[k] == x->cappc[k]) {
        x->cappc[k] = x->cappc[k] ? 2 * x->cappc[k] : 256;
        Stored *g = realloc(x->pc[k], (size_t)x->cappc[k] * sizeof *g);
        if (!g) {
            fprintf(stderr, "picotron: out of memory indexing a checkpoint\n");
            exit(PT_ERUNTIME);
        }
        x->pc[k] = g;
    }
    x->pc[k][x->npc[k]++] = *s;
}

/* Read the attributes of one dataset and check they describe a piece. */
static int index_dataset(CkptIndex *x, hid_t g, CkptKind k, int file, const char *name,
                         const char *path, Error *err)
{
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0)
        return err_set(err, PT_EINPUT, "%s: cannot open /%s/%s (corrupt?)", path,
                       ckpt_kind_name(k), name);
    Stored s = {.file = file};
    int64_t range[2] = {0, 0};
    int bad = ckpt_h5_get_i64(d, "global_shape", s.gshape, 2) |
              ckpt_h5_get_i64(d, "block_offset", s.off, 2) |
              ckpt_h5_get_i64(d, "block_shape", s.shape, 2) |
              ckpt_h5_get_i64(d, "flat_range", range, 2);
    hid_t sp = H5Dget_space(d);
    hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    if (sp >= 0)
        H5Sclose(sp);
    H5Dclose(d);
    s.lo = range[0], s.hi = range[1];
    /* the attributes come from the file: sums and products that would overflow int64 are
     * refused, not wrapped (the global product bounds every block's, and readers size buffers
     * from it) */
    int64_t end0 = 0, end1 = 0, gnumel = 0, numel = 0;
    if (!bad && (s.off[0] < 0 || s.off[1] < 0 || s.shape[0] < 0 || s.shape[1] < 0 ||
                 __builtin_add_overflow(s.off[0], s.shape[0], &end0) ||
                 __builtin_add_overflow(s.off[1], s.shape[1], &end1) ||
                 __builtin_mul_overflow(s.gshape[0], s.gshape[1], &gnumel) ||
                 __builtin_mul_overflow(s.shape[0], s.shape[1], &numel) ||
                 gnumel > INT64_MAX / (int64_t)sizeof(double)))
        return err_set(err, PT_EINPUT,
                       "%s: /%s/%s: global_shape [%lld, %lld], block_offset [%lld, %lld] or "
                       "block_shape [%lld, %lld] negative or out of int64 range",
                       path, ckpt_kind_name(k), name, (long long)s.gshape[0],
                       (long long)s.gshape[1], (long long)s.off[0], (long long)s.off[1],
                       (long long)s.shape[0], (long long)s.shape[1]);
    if (bad || s.gshape[0] < 1 || s.gshape[1] < 1 || end0 > s.gshape[0] || end1 > s.gshape[1] ||
        s.lo < 0 || s.lo > s.hi || s.hi > numel || n != s.hi - s.lo)
        return err_set(err, PT_EINPUT,
                       "%s: /%s/%s: attributes global_shape, block_offset, block_shape, "
                       "flat_range missing or inconsistent with the dataset",
                       path, ckpt_kind_name(k), name);
    s.tensor = tensor_id(x, k, name, s.gshape);
    add_piece(x, k, &s);
    return PT_OK;
}

static int index_file(CkptIndex *x, int file, Error *err)
{
    char path[4200];
    ckpt_rank_path(x->dir, x->ranks[file], path, sizeof path);
    hid_t f;
    if (ckpt_h5_open(path, &f, err))
        return err->code;
    int rc = PT_OK;
    for (int k = 0; !rc && k < CKPT_KINDS; k++) {
        if (H5Lexists(f, ckpt_kind_name((CkptKind)k), H5P_DEFAULT) <= 0)
            continue;
        hid_t g = H5Gopen2(f, ckpt_kind_name((CkptKind)k), H5P_DEFAULT);
        H5G_info_t info = {0};
        if (g < 0 || H5Gget_info(g, &info) < 0) {
            rc = err_set(err, PT_EINPUT, "%s: cannot read group /%s (corrupt?)", path,
                         ckpt_kind_name((CkptKind)k));
        }
        for (hsize_t i = 0; !rc && i < info.nlinks; i++) {
            char name[256];
            ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
                                             sizeof name, H5P_DEFAULT);
            if (len <= 0 || len >= 96)
                rc = err_set(err, PT_EINPUT, "%s: /%s: dataset %llu has a bad name", path,
                             ckpt_kind_name((CkptKind)k), (unsigned long long)i);
            else
                rc = index_dataset(x, g, (CkptKind)k, file, name, path, err);
        }
        if (g >= 0)
            H5Gclose(g);
    }
    H5Fclose(f);
    return rc;
}

int ckpt_index_open(const char *dir, CkptIndex **out, Error *err)
{
    char resolved[4096];
    if (ckpt_resolve(dir, resolved, sizeof resolved, err)) {
        *out = NULL;
        return err->code;
    }
    CkptIndex *x = xcalloc(1, sizeof *x);
    snprintf(x->dir, sizeof x->dir, "%s", resolved);
    int rc = ckpt_meta_read_file(resolved, &x->meta, &x->ranks, &x->nfiles, err);
    if (!rc) {
        x->fid = xmalloc((size_t)(x->nfiles ? x->nfiles : 1) * sizeof *x->fid);
        for (int i = 0; i < x->nfiles; i++)
            x->fid[i] = -1;
    }
    for (int i = 0; !rc && i < x->nfiles; i++)
        rc = index_file(x, i, err);
    if (rc) {
        ckpt_index_close(x);
        *out = NULL;
        return rc;
    }
    *out = x;
    return PT_OK;
}

void ckpt_index_close(CkptIndex *x)
{
    if (!x)
        return;
    for (int i = 0; x->fid && i < x->nfiles; i++)
        if (x->fid[i] >= 0)
            H5Fclose(x->fid[i]);
    for (int k = 0; k < CKPT_KINDS; k++) {
        free(x->pc[k]);
        free(x->ts[k]);
    }
    free(x->fid);
    free(x->ranks);
    free(x);
}

const CkptMeta *ckpt_index_meta(const CkptIndex *x)
{
    return &x->meta;
}

int ckpt_index_count(const CkptIndex *x, CkptKind kind)
{
    return x->nts[kind];
}

const char *ckpt_index_tensor(const CkptIndex *x, CkptKind kind, int i, int64_t shape[2])
{
    shape[0] = x->ts[kind][i].shape[0];
    shape[1] = x->ts[kind][i].shape[1];
    return x->ts[kind][i].name;
}

/* ---- assembling a range ---- */

static hid_t file_handle(CkptIndex *x, int file, Error *err)
{
    if (x->fid[file] >= 0)
        return x->fid[file];
    if (x->nopen >= MAX_OPEN) {
        for (int i = 0; i < x->nfiles; i++)
            if (x->fid[i] >= 0) {
                H5Fclose(x->fid[i]);
                x->fid[i] = -1;
            }
        x->nopen = 0;
    }
    char path[4200];
    ckpt_rank_path(x->dir, x->ranks[file], path, sizeof path);
    if (ckpt_h5_open(path, &x->fid[file], err)) {
        x->fid[file] = -1;
        return -1;
    }
    x->nopen++;
    return x->fid[file];
}

/* Elements [n0, n0 + n) of a stored piece's dataset into buf. */
static int read_span(CkptIndex *x, CkptKind k, const char *name, const Stored *s, int64_t n0,
                     int64_t n, float *buf, Error *err)
{
    hid_t f = file_handle(x, s->file, err);
    if (f < 0)
        return err->code;
    char dset[256], path[4200];
    snprintf(dset, sizeof dset, "/%s/%s", ckpt_kind_name(k), name);
    hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
    hid_t fs = d < 0 ? -1 : H5Dget_space(d);
    hsize_t start = (hsize_t)n0, count = (hsize_t)n;
    hid_t ms = H5Screate_simple(1, &count, NULL);
    int bad = fs < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0 ||
              H5Dread(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, buf) < 0;
    int checksum = bad && ckpt_h5_checksum_failed();   /* before the next call clears the stack */
    H5Sclose(ms);
    if (fs >= 0)
        H5Sclose(fs);
    if (d >= 0)
        H5Dclose(d);
    if (!bad)
        return PT_OK;
    ckpt_rank_path(x->dir, x->ranks[s->file], path, sizeof path);
    if (checksum)
        return err_set(err, PT_EINPUT,
                       "%s: tensor %s: stored data fails its checksum (the file is corrupt)", path,
                       dset);
    return err_set(err, PT_EINPUT, "%s: cannot read %s (truncated or corrupt?)", path, dset);
}

int ckpt_index_npieces(const CkptIndex *x, CkptKind k)
{
    return x->npc[k];
}

const char *ckpt_index_piece_name(const CkptIndex *x, CkptKind k, int i)
{
    return x->ts[k][x->pc[k][i].tensor].name;
}

int ckpt_index_check_piece(CkptIndex *x, CkptKind k, int i, int *checksummed, Error *err)
{
    const Stored *s = &x->pc[k][i];
    const char *name = x->ts[k][s->tensor].name;
    hid_t f = file_handle(x, s->file, err);
    if (f < 0)
        return err->code;
    char dset[256];
    snprintf(dset, sizeof dset, "/%s/%s", ckpt_kind_name(k), name);
    hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
    *checksummed = d >= 0 && ckpt_h5_has_checksum(d);
    if (d >= 0)
        H5Dclose(d);
    /* slabs of 4 MiB bound the memory; a chunk that straddles two is read (and checked) twice */
    const int64_t slab = 16 * CKPT_H5_CHUNK;
    float *buf = xmalloc((size_t)slab * sizeof *buf);
    int rc = PT_OK;
    for (int64_t n0 = 0; !rc && n0 < s->hi - s->lo; n0 += slab) {
        int64_t n = s->hi - s->lo - n0 < slab ? s->hi - s->lo - n0 : slab;
        rc = read_span(x, k, name, s, n0, n, buf, err);
    }
    free(buf);
    return rc;
}

/* The part of target row r that stored piece s holds, as a range [*f0, *f1) of the piece's
 * flat index (its block's row-major order); 0 when none. Three cuts: the target's flat range
 * [lo, hi) within row r, the piece's global columns, the piece's stored flat range. */
static int row_overlap(const Stored *s, const int64_t off[2], const int64_t shape[2],
                       int64_t lo, int64_t hi, int64_t r, int64_t *f0, int64_t *f1)
{
    int64_t tc = shape[1], a, b, g0, g1;
    if (!range_intersect(lo, hi, r * tc, (r + 1) * tc, &a, &b) ||
        !range_intersect(off[1] + a - r * tc, off[1] + b - r * tc, s->off[1],
                         s->off[1] + s->shape[1], &g0, &g1))
        return 0;
    /* the piece's flat index of global column 0 in the piece's row holding target row r */
    int64_t base = (off[0] + r - s->off[0]) * s->shape[1] - s->off[1];
    return range_intersect(base + g0, base + g1, s->lo, s->hi, f0, f1);
}

int ckpt_index_read(CkptIndex *x, CkptKind k, const char *name, const int64_t gshape[2],
                    const int64_t off[2], const int64_t shape[2], int64_t flat_lo,
                    int64_t flat_hi, float *dst, Error *err)
{
    if (flat_lo >= flat_hi)
        return PT_OK;
    int64_t tc = shape[1], covered = 0, a, b;
    int64_t r_lo = flat_lo / tc, r_end = (flat_hi - 1) / tc + 1;   /* target rows touched */
    /* vocab padding rows (at or past gshape[0]) are zeros; the rows above them are stored */
    int64_t p0, p1, v0, v1;
    range_intersect(r_lo, r_end, gshape[0] - off[0], INT64_MAX, &p0, &p1);
    range_intersect(r_lo, r_end, INT64_MIN, gshape[0] - off[0], &v0, &v1);
    for (int64_t r = p0; r < p1; r++) {
        range_intersect(flat_lo, flat_hi, r * tc, (r + 1) * tc, &a, &b);
        memset(dst + (a - flat_lo), 0, (size_t)(b - a) * sizeof *dst);
        covered += b - a;
    }
    int found = 0;
    for (int i = 0; i < x->npc[k]; i++) {
        const Stored *s = &x->pc[k][i];
        if (strcmp(x->ts[k][s->tensor].name, name) != 0)
            continue;
        found = 1;
        if (s->gshape[0] != gshape[0] || s->gshape[1] != gshape[1]) {
            char path[4200];
            ckpt_rank_path(x->dir, x->ranks[s->file], path, sizeof path);
            return err_set(err, PT_EINPUT,
                           "%s: tensor %s has shape [%lld, %lld] but the model expects "
                           "[%lld, %lld] (checkpoint of a different model?)",
                           path, name, (long long)s->gshape[0], (long long)s->gshape[1],
                           (long long)gshape[0], (long long)gshape[1]);
        }
        /* target rows this piece's block can hold, below the padding */
        int64_t ra, rb, span0 = INT64_MAX, span1 = -1, f0, f1;
        range_intersect(v0, v1, s->off[0] - off[0], s->off[0] + s->shape[0] - off[0], &ra, &rb);
        for (int64_t r = ra; r < rb; r++)
            if (row_overlap(s, off, shape, flat_lo, flat_hi, r, &f0, &f1)) {
                span0 = f0 < span0 ? f0 : span0;
                span1 = f1 > span1 ? f1 : span1;
            }
        if (span1 < 0)
            continue;
        float *buf = xmalloc((size_t)(span1 - span0) * sizeof *buf);
        int rc = read_span(x, k, name, s, span0 - s->lo, span1 - span0, buf, err);
        for (int64_t r = ra; !rc && r < rb; r++) {
            if (!row_overlap(s, off, shape, flat_lo, flat_hi, r, &f0, &f1))
                continue;
            int64_t srow = off[0] + r - s->off[0];
            int64_t gcol = s->off[1] + f0 - srow * s->shape[1];
            int64_t t = r * tc + gcol - off[1];
            memcpy(dst + (t - flat_lo), buf + (f0 - span0), (size_t)(f1 - f0) * sizeof *dst);
            covered += f1 - f0;
        }
        free(buf);
        if (rc)
            return rc;
    }
    if (!found && covered == 0)
        return err_set(err, PT_EINPUT, "tensor %s (%s) missing from checkpoint %s", name,
                       ckpt_kind_name(k), x->dir);
    if (covered != flat_hi - flat_lo)
        return err_set(err, PT_EINPUT,
                       "checkpoint %s: the rank files hold %lld of the %lld elements of %s (%s) "
                       "needed at block offset [%lld, %lld] (a rank file missing or altered?)",
                       x->dir, (long long)covered, (long long)(flat_hi - flat_lo), name,
                       ckpt_kind_name(k), (long long)off[0], (long long)off[1]);
    return PT_OK;
}

/* ---- ckpt_load ---- */

/* Every stored tensor must belong to the model (a checkpoint of a deeper model is an error,
 * not a silent prefix). */
static int check_names(const CkptIndex *x, const ParamTable *pt, Error *err)
{
    ParamShard all = params_shard_single(&pt->dims);
    ParamTable full;
    params_build(&full, &pt->dims, &all);
    int rc = PT_OK;
    for (int k = 0; !rc && k < CKPT_KINDS; k++)
        for (int i = 0; !rc && i < x->nts[k]; i++)
            if (params_find(&full, x->ts[k][i].name) < 0)
                rc = err_set(err, PT_EINPUT,
                             "checkpoint %s holds tensor %s, which the model (%d layers, %s "
                             "embeddings) does not have",
                             x->dir, x->ts[k][i].name, pt->dims.num_hidden_layers,
                             pt->dims.tie_word_embeddings ? "tied" : "untied");
    params_free(&full);
    return rc;
}

int ckpt_load(const char *dir, const ParamTable *pt, const CkptView *view, float *params,
              float *adam_m, float *adam_v, Error *err)
{
    CkptIndex *x;
    if (ckpt_index_open(dir, &x, err))
        return err->code;
    int rc = check_names(x, pt, err);
    for (int i = 0; !rc && i < pt->n; i++) {
        const ParamInfo *p = &pt->t[i];
        int64_t valid = p->valid_rows * p->local_shape[1];
        int64_t block[2] = {p->valid_rows, p->local_shape[1]};
        memset(params + p->offset + valid, 0, (p->numel - (size_t)valid) * sizeof(float));
        progress_note("reading", i, pt->n, p->name);
        if (valid > 0)
            rc = ckpt_index_read(x, CKPT_WEIGHTS, p->name, p->shape, p->local_offset, block, 0,
                                 valid, params + p->offset, err);
    }
    progress_done();
    float *states[2] = {adam_m, adam_v};
    for (int k = 0; !rc && k < 2; k++) {
        float *s = states[k];
        if (!s)
            continue;
        memset(s, 0, (view->opt_hi - view->opt_lo) * sizeof *s);
        for (int i = 0; !rc && i < pt->n; i++) {
            const ParamInfo *p = &pt->t[i];
            int64_t block[2] = {p->valid_rows, p->local_shape[1]};
            size_t lo, hi;
            if (ckpt_state_span(p, view, &lo, &hi))
                rc = ckpt_index_read(x, (CkptKind)(CKPT_ADAM_M + k), p->name, p->shape,
                                     p->local_offset, block, (int64_t)(lo - p->offset),
                                     (int64_t)(hi - p->offset), s + (lo - view->opt_lo), err);
        }
    }
    ckpt_index_close(x);
    return rc;
}
