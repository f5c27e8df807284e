/* ckpt: which pieces a rank stores, writing rank files and meta.h5, and the commit protocol
 * (step_N.tmp/ → step_N/, `latest`, keep_last). Reading lives in ckpt_read.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "ckpt.h"

static const char *kind_names[CKPT_KINDS] = {"weights", "adam_m", "adam_v"};

const char *ckpt_kind_name(CkptKind kind)
{
    return kind_names[kind];
}

void ckpt_rank_path(const char *dir, int rank, char *out, size_t len)
{
    snprintf(out, len, "%s/rank_%05d.h5", dir, rank);
}

void ckpt_step_path(const char *save_dir, long long step, const char *suffix, char *out,
                    size_t len)
{
    snprintf(out, len, "%s/step_%08lld%s", save_dir, step, suffix);
}

void ckpt_opt_range(size_t numel, int dp, int dp_rank, int zero_stage, size_t *lo, size_t *hi)
{
    if (zero_stage == 0) {
        *lo = 0;
        *hi = numel;
        return;
    }
    size_t S = (numel + (size_t)dp - 1) / (size_t)dp;
    *lo = (size_t)dp_rank * S;
    *hi = (size_t)(dp_rank + 1) * S;
}

/* ---- layout: who writes what ---- */

/* The last stage's copy of the tied embedding: the first stage stores it. */
static int is_tied_copy(const ParamTable *pt, const ParamInfo *p)
{
    return !pt->shard.has_embed && strcmp(p->name, "model.embed_tokens.weight") == 0;
}

int ckpt_pieces(const ParamTable *pt, const CkptView *view, CkptPiece **out)
{
    CkptPiece *pc = xmalloc((size_t)(3 * pt->n) * sizeof *pc);
    int n = 0;
    /* weights and, without ZeRO, m and v: replicated over dp and cp, so dp 0, cp 0 writes */
    int weights_here = view->dp_rank == 0 && view->cp_rank == 0;
    int states_here = view->cp_rank == 0 && (view->zero_stage == 1 || view->dp_rank == 0);
    for (int i = 0; i < pt->n; i++) {
        const ParamInfo *p = &pt->t[i];
        int64_t cols = p->local_shape[1];
        int64_t valid = p->valid_rows * cols;   /* padding rows come last in the block */
        if (valid == 0 || is_tied_copy(pt, p) || (p->split == SPLIT_NONE && view->tp_rank != 0))
            continue;
        CkptPiece base = {.tensor = i,
                          .block_offset = {p->local_offset[0], p->local_offset[1]},
                          .block_shape = {p->valid_rows, cols}};
        if (weights_here) {
            pc[n] = base;
            pc[n].kind = CKPT_WEIGHTS;
            pc[n].flat_lo = 0;
            pc[n].flat_hi = valid;
            pc[n].src = p->offset;
            n++;
        }
        if (!states_here)
            continue;
        /* [opt_lo, opt_hi) ∩ the tensor's stored elements, in flat-buffer coordinates */
        size_t lo = p->offset > view->opt_lo ? p->offset : view->opt_lo;
        size_t end = p->offset + (size_t)valid;
        size_t hi = end < view->opt_hi ? end : view->opt_hi;
        if (lo >= hi)
            continue;
        for (int k = CKPT_ADAM_M; k <= CKPT_ADAM_V; k++) {
            pc[n] = base;
            pc[n].kind = (CkptKind)k;
            pc[n].flat_lo = (int64_t)(lo - p->offset);
            pc[n].flat_hi = (int64_t)(hi - p->offset);
            pc[n].src = lo - view->opt_lo;
            n++;
        }
    }
    *out = pc;
    return n;
}

/* ---- HDF5 writing ---- */

struct CkptWriter {
    hid_t file;
    hid_t group[CKPT_KINDS];
    char path[4096];
};

static int h5_fail(Error *err, const char *path, const char *what)
{
    return err_set(err, PT_ERUNTIME, "%s: HDF5 %s failed", path, what);
}

static int fsync_path(const char *path, Error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return err_set(err, PT_ERUNTIME, "%s: cannot sync: %s", path, strerror(e));
    }
    close(fd);
    return PT_OK;
}

static int put_i64_attr(hid_t obj, const char *name, const int64_t *v, hsize_t n)
{
    hid_t sp = n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_INT64, v);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return rc < 0 ? -1 : 0;
}

/* HDF5 1.8+ file format (superblock v2, v2 object headers): its metadata carries checksums,
 * so a corrupted file is refused by the library instead of being walked into. h5py and h5dump
 * read it. */
static hid_t create_h5(const char *path)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    return f;
}

int ckpt_writer_open(const char *path, CkptWriter **wp, Error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    CkptWriter *w = xcalloc(1, sizeof *w);
    snprintf(w->path, sizeof w->path, "%s", path);
    w->file = create_h5(path);
    if (w->file < 0) {
        free(w);
        return err_set(err, PT_ERUNTIME, "%s: cannot create HDF5 file", path);
    }
    for (int k = 0; k < CKPT_KINDS; k++)
        w->group[k] = -1;
    *wp = w;
    return PT_OK;
}

int ckpt_writer_put(CkptWriter *w, const ParamInfo *p, const CkptPiece *pc, const float *data,
                    Error *err)
{
    hid_t *g = &w->group[pc->kind];
    if (*g < 0) {
        *g = H5Gcreate2(w->file, kind_names[pc->kind], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (*g < 0)
            return h5_fail(err, w->path, "group create");
    }
    hsize_t n = (hsize_t)(pc->flat_hi - pc->flat_lo);
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(*g, p->name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = d < 0 ? -1 : 0;
    if (!rc)
        rc = H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0 ? -1 : 0;
    int64_t gshape[2] = {p->shape[0], p->shape[1]}, range[2] = {pc->flat_lo, pc->flat_hi};
    if (!rc)
        rc = put_i64_attr(d, "global_shape", gshape, 2) | put_i64_attr(d, "block_offset", pc->block_offset, 2) |
             put_i64_attr(d, "block_shape", pc->block_shape, 2) | put_i64_attr(d, "flat_range", range, 2);
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(sp);
    return rc ? err_set(err, PT_ERUNTIME, "%s: cannot write /%s/%s", w->path,
                        kind_names[pc->kind], p->name)
              : PT_OK;
}

int ckpt_writer_close(CkptWriter *w, Error *err)
{
    int bad = 0;
    for (int k = 0; k < CKPT_KINDS; k++)
        if (w->group[k] >= 0)
            bad |= H5Gclose(w->group[k]) < 0;
    bad |= H5Fclose(w->file) < 0;
    int rc = bad ? h5_fail(err, w->path, "close") : fsync_path(w->path, err);
    free(w);
    return rc;
}

int ckpt_write_rank(const char *dir, const ParamTable *pt, const CkptView *view,
                    const float *params, const float *adam_m, const float *adam_v, int *wrote,
                    Error *err)
{
    CkptPiece *pc;
    int n = ckpt_pieces(pt, view, &pc);
    *wrote = 0;
    if (n == 0) {
        free(pc);
        return PT_OK;
    }
    char path[4096];
    ckpt_rank_path(dir, view->rank, path, sizeof path);
    CkptWriter *w = NULL;
    int rc = ckpt_writer_open(path, &w, err);
    for (int i = 0; !rc && i < n; i++) {
        const float *buf = pc[i].kind == CKPT_WEIGHTS ? params
                           : pc[i].kind == CKPT_ADAM_M ? adam_m : adam_v;
        rc = ckpt_writer_put(w, &pt->t[pc[i].tensor], &pc[i], buf + pc[i].src, err);
    }
    if (w && ckpt_writer_close(w, err))
        rc = err->code;
    free(pc);
    *wrote = rc == PT_OK;
    return rc;
}

/* ---- meta.h5 ---- */

static int put_string(hid_t file, const char *name, const char *text)
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

int ckpt_write_meta(const char *dir, const CkptMeta *meta, const int *ranks, int nranks,
                    Error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.h5", dir);
    hid_t f = create_h5(path);
    if (f < 0)
        return err_set(err, PT_ERUNTIME, "%s: cannot create HDF5 file", path);
    struct { const char *name; int64_t v; } attrs[] = {
        {"format_version", meta->format_version}, {"step", meta->step},
        {"consumed_samples", meta->consumed_samples}, {"global_batch", meta->global_batch},
        {"tokens", meta->tokens}, {"adam_t", meta->adam_t}, {"dp", meta->dp}, {"pp", meta->pp},
        {"cp", meta->cp}, {"tp", meta->tp}, {"zero_stage", meta->zero_stage},
        {"world", (int64_t)meta->dp * meta->pp * meta->cp * meta->tp},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
        bad |= put_i64_attr(f, attrs[i].name, &attrs[i].v, 0);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "seed", H5T_STD_U64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    bad |= a < 0 || H5Awrite(a, H5T_NATIVE_UINT64, &meta->seed) < 0;
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    bad |= put_string(f, "config", meta->config_json);
    /* the rank files written, so a missing one is an error rather than a hole */
    hsize_t n = (hsize_t)nranks;
    sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, "rank_files", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    bad |= d < 0 || (nranks > 0 && H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, ranks) < 0);
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(sp);
    bad |= H5Fclose(f) < 0;
    if (bad)
        return h5_fail(err, path, "write of meta.h5");
    return fsync_path(path, err);
}

/* ---- the commit protocol ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

int ckpt_remove_dir(const char *dir, Error *err)
{
    struct stat st;
    if (lstat(dir, &st) != 0)
        return PT_OK;
    if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return err_set(err, PT_ERUNTIME, "%s: cannot remove: %s", dir, strerror(errno));
    return PT_OK;
}

int ckpt_begin(const char *save_dir, int64_t step, char *tmpdir, size_t len, Error *err)
{
    if (make_dirs(save_dir, err))
        return err->code;
    ckpt_step_path(save_dir, (long long)step, ".tmp", tmpdir, len);
    if (ckpt_remove_dir(tmpdir, err))
        return err->code;
    if (mkdir(tmpdir, 0755) != 0)
        return err_set(err, PT_ERUNTIME, "%s: cannot create: %s", tmpdir, strerror(errno));
    return PT_OK;
}

/* Exactly the names step_%08lld writes: "step_" and 8 digits, or more digits without a
 * leading zero once the step passes 99,999,999. */
static int is_step_name(const char *name, long long *step)
{
    if (strncmp(name, "step_", 5) != 0)
        return 0;
    const char *d = name + 5;
    size_t n = strspn(d, "0123456789");
    if (d[n] != '\0' || n < 8 || n > 18 || (n > 8 && d[0] == '0'))
        return 0;
    *step = strtoll(d, NULL, 10);
    return 1;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* Delete the oldest step_* beyond keep_last; never `keep` (the one just written). */
static int prune(const char *save_dir, int keep_last, long long keep, Error *err)
{
    DIR *d = opendir(save_dir);
    if (!d)
        return err_set(err, PT_ERUNTIME, "%s: cannot list: %s", save_dir, strerror(errno));
    long long *steps = NULL;
    int n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long long s;
        if (!is_step_name(e->d_name, &s))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            long long *grown = realloc(steps, (size_t)cap * sizeof *steps);
            if (!grown) {
                free(steps);
                closedir(d);
                return err_set(err, PT_ERUNTIME, "out of memory listing %s", save_dir);
            }
            steps = grown;
        }
        steps[n++] = s;
    }
    closedir(d);
    qsort(steps, (size_t)n, sizeof *steps, cmp_ll);
    int rc = PT_OK;
    for (int i = 0; !rc && i < n - keep_last; i++) {
        if (steps[i] == keep)
            continue;
        char path[4096];
        ckpt_step_path(save_dir, steps[i], "", path, sizeof path);
        rc = ckpt_remove_dir(path, err);
    }
    free(steps);
    return rc ? rc : fsync_dir(save_dir, err);
}

int ckpt_commit(const char *save_dir, const CkptMeta *meta, const int *ranks, int nranks,
                int keep_last, Error *err)
{
    char tmp[4096], final[4096], aside[4200], latest[4096], name[32];
    snprintf(name, sizeof name, "step_%08lld", (long long)meta->step);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", save_dir, name);
    snprintf(final, sizeof final, "%s/%s", save_dir, name);
    snprintf(aside, sizeof aside, "%s.old", final);
    if (ckpt_write_meta(tmp, meta, ranks, nranks, err) || fsync_dir(tmp, err))
        return err->code;
    /* Re-saving a step (after a resume): the old directory goes aside until the new one is
     * in place; ckpt_latest falls back to it in between. */
    struct stat st;
    int replacing = stat(final, &st) == 0;
    if (replacing && (ckpt_remove_dir(aside, err) || rename(final, aside) != 0))
        return err_set(err, PT_ERUNTIME, "%s: cannot move aside: %s", final, strerror(errno));
    if (rename(tmp, final) != 0)
        return err_set(err, PT_ERUNTIME, "%s: cannot rename to %s: %s", tmp, final, strerror(errno));
    if (fsync_dir(save_dir, err))
        return err->code;
    char line[40];
    snprintf(line, sizeof line, "%s\n", name);
    snprintf(latest, sizeof latest, "%s/latest", save_dir);
    if (atomic_write_file(latest, line, strlen(line), err))
        return err->code;
    if (replacing && ckpt_remove_dir(aside, err))
        return err->code;
    if (keep_last > 0)
        return prune(save_dir, keep_last, (long long)meta->step, err);
    return PT_OK;
}

int ckpt_save(const char *save_dir, const CkptMeta *meta, const ParamTable *pt,
              const CkptView *view, const float *params, const float *adam_m,
              const float *adam_v, const Comm *all, int keep_last, Error *err)
{
    char tmp[4096];
    Error local = {0};
    if (view->rank == 0)
        ckpt_begin(save_dir, meta->step, tmp, sizeof tmp, &local);
    else
        ckpt_step_path(save_dir, (long long)meta->step, ".tmp", tmp, sizeof tmp);
    if (comm_agree(all, &local))
        return err_set(err, local.code, "%s", local.msg);
    int wrote = 0;
    ckpt_write_rank(tmp, pt, view, params, adam_m, adam_v, &wrote, &local);
    if (comm_agree(all, &local))
        return err_set(err, local.code, "%s", local.msg);
    /* which ranks wrote a file: max over ranks of a one-hot vector */
    int *ranks = xcalloc((size_t)view->world, sizeof *ranks);
    ranks[view->rank] = wrote;
    comm_allreduce_max_int(all, ranks, view->world);
    if (view->rank == 0) {
        int n = 0;
        for (int r = 0; r < view->world; r++)
            if (ranks[r])
                ranks[n++] = r;
        CkptMeta m = *meta;
        m.format_version = CKPT_FORMAT_VERSION;
        m.dp = view->dp, m.pp = view->pp, m.cp = view->cp, m.tp = view->tp;
        m.zero_stage = view->zero_stage;
        ckpt_commit(save_dir, &m, ranks, n, keep_last, &local);
    }
    free(ranks);
    if (comm_agree(all, &local))
        return err_set(err, local.code, "%s", local.msg);
    return PT_OK;
}

int ckpt_resolve(const char *path, char *out, size_t len, Error *err)
{
    char probe[4200];
    struct stat st;
    snprintf(probe, sizeof probe, "%s/meta.h5", path);
    int is_step = stat(probe, &st) == 0;
    snprintf(probe, sizeof probe, "%s/latest", path);
    if (!is_step && stat(probe, &st) == 0)
        return ckpt_latest(path, out, len, err);
    snprintf(out, len, "%s", path); /* a step directory, or an error for the reader to name */
    return PT_OK;
}

int ckpt_latest(const char *save_dir, char *out, size_t len, Error *err)
{
    char path[4096], line[256] = "";
    snprintf(path, sizeof path, "%s/latest", save_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set(err, PT_EINPUT, "no checkpoint in %s (%s: %s)", save_dir, path,
                       strerror(errno));
    if (!fgets(line, sizeof line, f))
        line[0] = '\0';
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    long long step;
    if (!is_step_name(line, &step))
        return err_set(err, PT_EINPUT, "%s: expected a step_NNNNNNNN directory name, got '%s'",
                       path, line);
    struct stat st;
    snprintf(out, len, "%s/%s", save_dir, line);
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
        return PT_OK;
    /* a save of the same step was replacing it when it stopped */
    snprintf(out, len, "%s/%s.old", save_dir, line);
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
        return PT_OK;
    snprintf(out, len, "%s/%s", save_dir, line);
    return err_set(err, PT_EINPUT, "%s names %s, which does not exist", path, out);
}
