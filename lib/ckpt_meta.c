/* ckpt_meta: meta.h5, a checkpoint's metadata. One table of CkptMeta's fields (name, type,
 * place, bounds) that the writer and the reader both walk, plus the derived `world` and the
 * list of rank files. */
#include <hdf5.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomicfile.h"
#include "ckpt.h"
#include "ckpt_h5.h"

/* Mesh sizes a checkpoint may name (as picotron-shard-ckpt --to accepts). */
#define MESH_MAX 65536

#define FIELD(name, type, member, lo, hi, role) \
    {name, type, offsetof(CkptMeta, member), lo, hi, role}

const CkptField ckpt_meta_fields[] = {
    FIELD("format_version", CKPT_FIELD_INT, format_version, CKPT_FORMAT_VERSION,
          CKPT_FORMAT_VERSION, CKPT_ROLE_FORMAT),
    FIELD("step", CKPT_FIELD_I64, step, 0, INT64_MAX, CKPT_ROLE_RUN),
    FIELD("consumed_samples", CKPT_FIELD_I64, consumed_samples, 0, INT64_MAX, CKPT_ROLE_RUN),
    FIELD("global_batch", CKPT_FIELD_I64, global_batch, 0, INT64_MAX, CKPT_ROLE_RUN),
    FIELD("tokens", CKPT_FIELD_I64, tokens, 0, INT64_MAX, CKPT_ROLE_RUN),
    FIELD("adam_t", CKPT_FIELD_I64, adam_t, 0, INT64_MAX, CKPT_ROLE_RUN),
    FIELD("seed", CKPT_FIELD_U64, seed, 0, 0, CKPT_ROLE_RUN),
    FIELD("dp", CKPT_FIELD_INT, dp, 1, MESH_MAX, CKPT_ROLE_MESH),
    FIELD("pp", CKPT_FIELD_INT, pp, 1, MESH_MAX, CKPT_ROLE_MESH),
    FIELD("cp", CKPT_FIELD_INT, cp, 1, MESH_MAX, CKPT_ROLE_MESH),
    FIELD("tp", CKPT_FIELD_INT, tp, 1, MESH_MAX, CKPT_ROLE_MESH),
    FIELD("zero_stage", CKPT_FIELD_INT, zero_stage, 0, 1, CKPT_ROLE_MESH),
    /* text: bounds are the stored size in bytes, terminator included */
    FIELD("config", CKPT_FIELD_TEXT, config_json, 1, sizeof(((CkptMeta *)0)->config_json) - 1,
          CKPT_ROLE_CONFIG),
};
const int ckpt_meta_nfields = (int)(sizeof ckpt_meta_fields / sizeof ckpt_meta_fields[0]);

/* The derived attribute dp·pp·cp·tp and the dataset of rank files written. */
static const char world_attr[] = "world";
static const char rank_files_dset[] = "rank_files";

uint64_t ckpt_meta_get(const CkptMeta *m, const CkptField *f)
{
    const char *p = (const char *)m + f->offset;
    if (f->type == CKPT_FIELD_INT) {
        int v;
        memcpy(&v, p, sizeof v);
        return (uint64_t)(int64_t)v;
    }
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void meta_set(CkptMeta *m, const CkptField *f, uint64_t v)
{
    char *p = (char *)m + f->offset;
    if (f->type == CKPT_FIELD_INT) {
        int i = (int)(int64_t)v;
        memcpy(p, &i, sizeof i);
    } else
        memcpy(p, &v, sizeof v);
}

/* dp·pp·cp·tp, or -1 when it overflows int64. */
static int64_t meta_world(const CkptMeta *m)
{
    int64_t w = 1;
    int64_t dims[4] = {m->dp, m->pp, m->cp, m->tp};
    for (int i = 0; i < 4; i++)
        if (__builtin_mul_overflow(w, dims[i], &w))
            return -1;
    return w;
}

/* ---- writing ---- */

static int put_text(hid_t file, const char *name, const char *text)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, strlen(text) + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(file, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = d < 0 ? -1 : H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, text);
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
    return rc < 0 ? -1 : 0;
}

static int put_u64(hid_t obj, const char *name, uint64_t v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_U64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_UINT64, &v);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return rc < 0 ? -1 : 0;
}

static int put_field(hid_t f, const CkptMeta *m, const CkptField *fd)
{
    if (fd->type == CKPT_FIELD_TEXT)
        return put_text(f, fd->name, (const char *)m + fd->offset);
    uint64_t v = ckpt_meta_get(m, fd);
    if (fd->type == CKPT_FIELD_U64)
        return put_u64(f, fd->name, v);
    int64_t i = (int64_t)v;
    return ckpt_h5_put_i64(f, fd->name, &i, 0);
}

int ckpt_write_meta(const char *dir, const CkptMeta *meta, const int *ranks, int nranks,
                    Error *err)
{
    char path[4200];
    ckpt_meta_path(dir, path, sizeof path);
    hid_t f = ckpt_h5_create(path);
    if (f < 0)
        return err_set(err, PT_ERUNTIME, "%s: cannot create: %s", path,
                       strerror(ckpt_h5_errno()));
    int bad = 0;
    for (int i = 0; i < ckpt_meta_nfields; i++)
        bad |= put_field(f, meta, &ckpt_meta_fields[i]);
    int64_t world = meta_world(meta);
    bad |= ckpt_h5_put_i64(f, world_attr, &world, 0);
    /* the rank files written, so a missing one is an error rather than a hole */
    hsize_t n = (hsize_t)nranks;
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, rank_files_dset, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT);
    bad |= d < 0 || (nranks > 0 && H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                            ranks) < 0);
    if (d >= 0)
        bad |= H5Dclose(d) < 0;
    int failed_errno = bad ? ckpt_h5_errno() : 0;
    H5Sclose(sp);
    return ckpt_h5_finish(f, path, failed_errno, err);
}

/* ---- reading ---- */

/* One integer attribute, which must hold one element: PT_EINPUT naming it otherwise. */
static int get_int_field(hid_t f, const char *path, const CkptField *fd, uint64_t *v,
                         Error *err)
{
    int is_u64 = fd->type == CKPT_FIELD_U64;
    hid_t a = H5Aexists(f, fd->name) <= 0 ? -1 : H5Aopen(f, fd->name, H5P_DEFAULT);
    hid_t sp = a < 0 ? -1 : H5Aget_space(a);
    hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    int64_t i = 0;
    /* exactly one element: an N-element attribute would be read past the value */
    int bad = a < 0 || n != 1 ||
              H5Aread(a, is_u64 ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64, is_u64 ? (void *)v
                                                                              : (void *)&i) < 0;
    if (sp >= 0)
        H5Sclose(sp);
    if (a >= 0)
        H5Aclose(a);
    if (bad)
        return err_set(err, PT_EINPUT, "%s: attribute %s missing or malformed (%lld elements, "
                       "one %s expected)", path, fd->name, (long long)n,
                       is_u64 ? "uint64" : "int64");
    if (is_u64)
        return PT_OK;
    if (i < fd->min || i > fd->max)
        return err_set(err, PT_EINPUT, "%s: attribute %s %lld is outside [%lld, %lld]", path,
                       fd->name, (long long)i, (long long)fd->min, (long long)fd->max);
    *v = (uint64_t)i;
    return PT_OK;
}

/* One fixed-length string dataset into m (H5S_ALL reads every element: N of them would
 * overflow the field). */
static int get_text_field(hid_t f, const char *path, const CkptField *fd, CkptMeta *m,
                          Error *err)
{
    char *out = (char *)m + fd->offset;
    hid_t d = H5Lexists(f, fd->name, H5P_DEFAULT) <= 0 ? -1 : H5Dopen2(f, fd->name, H5P_DEFAULT);
    hid_t t = d < 0 ? -1 : H5Dget_type(d);
    hid_t sp = d < 0 ? -1 : H5Dget_space(d);
    hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    size_t sz = t < 0 ? 0 : H5Tget_size(t);
    int rc = PT_OK;
    if (sp >= 0)
        H5Sclose(sp);
    if (d < 0 || t < 0 || H5Tget_class(t) != H5T_STRING || H5Tis_variable_str(t))
        rc = err_set(err, PT_EINPUT, "%s: dataset %s missing or malformed", path, fd->name);
    else if (n != 1)
        rc = err_set(err, PT_EINPUT, "%s: dataset %s holds %lld strings, one expected", path,
                     fd->name, (long long)n);
    else if ((int64_t)sz < fd->min || (int64_t)sz > fd->max)
        rc = err_set(err, PT_EINPUT, "%s: dataset %s is %zu bytes, at most %lld fit", path,
                     fd->name, sz, (long long)fd->max);
    else {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, sz);
        if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
            rc = err_set(err, PT_EINPUT, "%s: cannot read dataset %s", path, fd->name);
        out[sz] = '\0';
        H5Tclose(mt);
    }
    if (t >= 0)
        H5Tclose(t);
    if (d >= 0)
        H5Dclose(d);
    return rc;
}

/* rank_files: ranks of [0, world), malloc'ed into *ranks. */
static int get_ranks(hid_t f, const char *path, int64_t world, int **ranks, int *nranks,
                     Error *err)
{
    hid_t d = H5Lexists(f, rank_files_dset, H5P_DEFAULT) <= 0
                  ? -1 : H5Dopen2(f, rank_files_dset, H5P_DEFAULT);
    hid_t sp = d < 0 ? -1 : H5Dget_space(d);
    hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    int rc = PT_OK;
    if (n < 0 || n > world)
        rc = err_set(err, PT_EINPUT, "%s: dataset %s missing or malformed", path,
                     rank_files_dset);
    else {
        *ranks = xmalloc((size_t)(n ? n : 1) * sizeof **ranks);
        *nranks = (int)n;
        if (n > 0 && H5Dread(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, *ranks) < 0)
            rc = err_set(err, PT_EINPUT, "%s: cannot read dataset %s", path, rank_files_dset);
        for (int i = 0; !rc && i < n; i++)
            if ((*ranks)[i] < 0 || (*ranks)[i] >= world)
                rc = err_set(err, PT_EINPUT, "%s: %s holds rank %d of %lld", path,
                             rank_files_dset, (*ranks)[i], (long long)world);
        if (rc) {
            free(*ranks);
            *ranks = NULL;
        }
    }
    if (sp >= 0)
        H5Sclose(sp);
    if (d >= 0)
        H5Dclose(d);
    return rc;
}

int ckpt_meta_read_file(const char *dir, CkptMeta *m, int **ranks, int *nranks, Error *err)
{
    char path[4200];
    ckpt_meta_path(dir, path, sizeof path);
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set(err, PT_EINPUT, "%s: no such checkpoint directory", dir);
    if (stat(path, &st) != 0)
        return err_set(err, PT_EINPUT, "%s: not a checkpoint (meta.h5 missing)", dir);
    hid_t f;
    if (ckpt_h5_open(path, &f, err))
        return err->code;
    memset(m, 0, sizeof *m);
    int rc = PT_OK;
    for (int i = 0; !rc && i < ckpt_meta_nfields; i++) {
        const CkptField *fd = &ckpt_meta_fields[i];
        uint64_t v = 0;
        if (fd->type == CKPT_FIELD_TEXT)
            rc = get_text_field(f, path, fd, m, err);
        else if (!(rc = get_int_field(f, path, fd, &v, err)))
            meta_set(m, fd, v);
    }
    /* the ranks are ints: a mesh of more than INT32_MAX ranks is refused with it */
    int64_t world = 0, want = rc ? -1 : meta_world(m);
    if (!rc && (want < 1 || want > INT32_MAX || ckpt_h5_get_i64(f, world_attr, &world, 1) ||
                world != want))
        rc = err_set(err, PT_EINPUT, "%s: attribute %s %lld missing or not dp*pp*cp*tp = %lld "
                     "(at most 2^31-1 ranks)", path, world_attr, (long long)world,
                     (long long)want);
    if (!rc && ranks)
        rc = get_ranks(f, path, world, ranks, nranks, err);
    H5Fclose(f);
    return rc;
}

int ckpt_read_meta(const char *dir, CkptMeta *meta, Error *err)
{
    char resolved[4096];
    if (ckpt_resolve(dir, resolved, sizeof resolved, err))
        return err->code;
    return ckpt_meta_read_file(resolved, meta, NULL, NULL, err);
}
