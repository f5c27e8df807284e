/* ckpt: the names of a checkpoint's files, which pieces a rank stores, writing rank files,
 * and the commit protocol (step_N.tmp/ → step_N/, `latest`, keep_last). meta.h5 lives in
 * ckpt_meta.c, reading in ckpt_read.c. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "atomicfile.h"
#include "ckpt.h"
#include "ckpt_h5.h"
#include "progress.h"
#include "range.h"

static const char *kind_names[CKPT_KINDS] = {"weights", "adam_m", "adam_v"};

const char *ckpt_kind_name(CkptKind kind)
{
    return kind_names[kind];
}

void ckpt_rank_path(const char *dir, int rank, char *out, size_t len)
{
    snprintf(out, len, "%s/rank_%05d.h5", dir, rank);
}

void ckpt_meta_path(const char *dir, char *out, size_t len)
{
    snprintf(out, len, "%s/meta.h5", dir);
}

void ckpt_latest_path(const char *save_dir, char *out, size_t len)
{
    snprintf(out, len, "%s/latest", save_dir);
}

/* The name of step's directory inside a save_dir, as `latest` holds it. */
static void step_name(long long step, char *out, size_t len)
{
    snprintf(out, len, "step_%08lld", step);
}

void ckpt_step_path(const char *save_dir, long long step, const char *suffix, char *out,
                    size_t len)
{
    char name[32];
    step_name(step, name, sizeof name);
    snprintf(out, len, "%s/%s%s", save_dir, name, suffix);
}

void ckpt_sibling_path(const char *dir, const char *suffix, char *out, size_t len)
{
    snprintf(out, len, "%s%s", dir, suffix);
}

int ckpt_state_span(const ParamInfo *p, const CkptView *view, size_t *lo, size_t *hi)
{
    int64_t valid = p->valid_rows * p->local_shape[1];   /* padding rows come last */
    int64_t a, b;
    int some = range_intersect((int64_t)p->offset, (int64_t)p->offset + valid,
                               (int64_t)view->opt_lo, (int64_t)view->opt_hi, &a, &b);
    *lo = (size_t)a;
    *hi = (size_t)b;
    return some;
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
        size_t lo, hi;
        if (!ckpt_state_span(p, view, &lo, &hi))
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
    int failed_errno;         /* of the first write that failed, else 0 */
    char path[4096];
};

/* A failed write: the errno behind it kept for ckpt_h5_finish; the line names the tensor. */
static int put_failed(CkptWriter *w, const char *what, const char *name, Error *err)
{
    if (!w->failed_errno)
        w->failed_errno = ckpt_h5_errno();
    return err_set(err, PT_ERUNTIME, "%s: cannot write %s%s: %s", w->path, what, name,
                   strerror(w->failed_errno));
}

int ckpt_writer_open(const char *path, CkptWriter **wp, Error *err)
{
    CkptWriter *w = xcalloc(1, sizeof *w);
    snprintf(w->path, sizeof w->path, "%s", path);
    w->file = ckpt_h5_create(path);
    if (w->file < 0) {
        int e = ckpt_h5_errno();
        free(w);
        return err_set(err, PT_ERUNTIME, "%s: cannot create: %s", path, strerror(e));
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
            return put_failed(w, "group /", kind_names[pc->kind], err);
    }
    hsize_t n = (hsize_t)(pc->flat_hi - pc->flat_lo);
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t dcpl = ckpt_h5_checksummed(n);
    hid_t d = dcpl < 0 ? -1
                       : H5Dcreate2(*g, p->name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl,
                                    H5P_DEFAULT);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    int rc = d < 0 ? -1 : 0;
    if (!rc)
        rc = H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0 ? -1 : 0;
    int64_t gshape[2] = {p->shape[0], p->shape[1]}, range[2] = {pc->flat_lo, pc->flat_hi};
    if (!rc)
        rc = ckpt_h5_put_i64(d, "global_shape", gshape, 2) |
             ckpt_h5_put_i64(d, "block_offset", pc->block_offset, 2) |
             ckpt_h5_put_i64(d, "block_shape", pc->block_shape, 2) |
             ckpt_h5_put_i64(d, "flat_range", range, 2);
    char what[64];
    snprintf(what, sizeof what, "/%s/", kind_names[pc->kind]);
    if (rc)
        put_failed(w, what, p->name, err);
    /* the chunk cache is written out here: a full disk may show only now */
    if (d >= 0 && H5Dclose(d) < 0 && !rc)
        rc = put_failed(w, what, p->name, err);
    H5Sclose(sp);
    return rc ? err->code : PT_OK;
}

int ckpt_writer_close(CkptWriter *w, Error *err)
{
    for (int k = 0; k < CKPT_KINDS; k++)
        if (w->group[k] >= 0 && H5Gclose(w->group[k]) < 0 && !w->failed_errno)
            w->failed_errno = ckpt_h5_errno();
    Error local = {0};
    int rc = ckpt_h5_finish(w->file, w->path, w->failed_errno, &local);
    /* the first failure is the one to report (a write's line names the tensor) */
    if (rc && !w->failed_errno)
        err_set(err, local.code, "%s", local.msg);
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
        progress_note("writing", i, n, pt->t[pc[i].tensor].name);
        rc = ckpt_writer_put(w, &pt->t[pc[i].tensor], &pc[i], buf + pc[i].src, err);
    }
    progress_done();
    if (w && ckpt_writer_close(w, err) && !rc)
        rc = err->code;
    free(pc);
    *wrote = rc == PT_OK;
    return rc;
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

double ckpt_bytes(int64_t n_params, int n_tensors)
{
    return CKPT_KINDS * (sizeof(float) * (double)n_params + 2560.0 * n_tensors) + 8192.0;
}

int ckpt_check_free_space(const char *save_dir, double need, Error *err)
{
    struct statvfs fs;
    if (statvfs(save_dir, &fs) != 0)
        return err_set(err, PT_ERUNTIME, "checkpoint.save_dir: %s: cannot stat its file system: "
                       "%s", save_dir, strerror(errno));
    double free_bytes = (double)fs.f_bavail * (double)fs.f_frsize;
    /* both in one unit, fine enough to tell them apart: KiB below 100 MiB */
    int kib = need < 100.0 * 1024 * 1024;
    double unit = kib ? 1024.0 : 1024.0 * 1024.0;
    if (free_bytes < need)
        return err_set(err, PT_ERUNTIME, "checkpoint.save_dir: %s has %.*f %s free, a "
                       "checkpoint of this model needs %.*f %s: free space or choose another "
                       "directory", save_dir, !kib, free_bytes / unit, kib ? "KiB" : "MiB",
                       !kib, need / unit, kib ? "KiB" : "MiB");
    return PT_OK;
}

int ckpt_begin(const char *save_dir, int64_t step, char *tmpdir, size_t len, Error *err)
{
    if (make_dirs(save_dir, err))
        return err->code;
    ckpt_step_path(save_dir, (long long)step, CKPT_TMP, tmpdir, len);
    if (ckpt_remove_dir(tmpdir, err))
        return err->code;
    if (mkdir(tmpdir, 0755) != 0)
        return err_set(err, PT_ERUNTIME, "%s: cannot create: %s", tmpdir, strerror(errno));
    return PT_OK;
}

/* Exactly the names step_name writes: "step_" and 8 digits, or more digits without a
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

int ckpt_dir_install(const char *tmp, const char *dir, Error *err)
{
    char aside[4200];
    ckpt_sibling_path(dir, CKPT_ASIDE, aside, sizeof aside);
    if (fsync_dir(tmp, err))
        return err->code;
    /* Replacing a directory (re-saving a step after a resume, shard-ckpt --force): the old one
     * goes aside until the new one is in place; ckpt_latest falls back to it in between. */
    struct stat st;
    int replacing = stat(dir, &st) == 0;
    if (replacing && (ckpt_remove_dir(aside, err) || rename(dir, aside) != 0))
        return err_set(err, PT_ERUNTIME, "%s: cannot move aside: %s", dir, strerror(errno));
    if (rename(tmp, dir) != 0)
        return err_set(err, PT_ERUNTIME, "%s: cannot rename to %s: %s", tmp, dir, strerror(errno));
    if (fsync_parent_dir(dir, err))
        return err->code;
    return replacing ? ckpt_remove_dir(aside, err) : PT_OK;
}

int ckpt_commit(const char *save_dir, const CkptMeta *meta, const int *ranks, int nranks,
                int keep_last, Error *err)
{
    char tmp[4096], final[4096], latest[4096], name[32], line[40];
    ckpt_step_path(save_dir, (long long)meta->step, CKPT_TMP, tmp, sizeof tmp);
    ckpt_step_path(save_dir, (long long)meta->step, "", final, sizeof final);
    if (ckpt_write_meta(tmp, meta, ranks, nranks, err) || ckpt_dir_install(tmp, final, err))
        return err->code;
    step_name((long long)meta->step, name, sizeof name);
    snprintf(line, sizeof line, "%s\n", name);
    ckpt_latest_path(save_dir, latest, sizeof latest);
    if (atomic_write_file(latest, line, strlen(line), err))
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
        ckpt_step_path(save_dir, (long long)meta->step, CKPT_TMP, tmp, sizeof tmp);
    if (comm_agree(all, &local))
        return err_set(err, local.code, "%s", local.msg);
    int wrote = 0;
    ckpt_write_rank(tmp, pt, view, params, adam_m, adam_v, &wrote, &local);
    if (comm_agree(all, &local)) {
        /* a full disk: give back what the partial checkpoint took; `latest` is untouched */
        Error ignored = {0};
        if (view->rank == 0)
            ckpt_remove_dir(tmp, &ignored);
        return err_set(err, local.code, "%s", local.msg);
    }
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
        Error ignored = {0};
        if (local.code)
            ckpt_remove_dir(tmp, &ignored);
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
    ckpt_meta_path(path, probe, sizeof probe);
    int is_step = stat(probe, &st) == 0;
    ckpt_latest_path(path, probe, sizeof probe);
    if (!is_step && stat(probe, &st) == 0)
        return ckpt_latest(path, out, len, err);
    snprintf(out, len, "%s", path); /* a step directory, or an error for the reader to name */
    return PT_OK;
}

int ckpt_latest(const char *save_dir, char *out, size_t len, Error *err)
{
    char path[4096], line[256] = "";
    ckpt_latest_path(save_dir, path, sizeof path);
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
    /* is_step_name accepts exactly what step_name writes: the same name rebuilt */
    struct stat st;
    ckpt_step_path(save_dir, step, "", out, len);
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
        return PT_OK;
    /* a save of the same step was replacing it when it stopped */
    ckpt_step_path(save_dir, step, CKPT_ASIDE, out, len);
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
        return PT_OK;
    ckpt_step_path(save_dir, step, "", out, len);
    return err_set(err, PT_EINPUT, "%s names %s, which does not exist", path, out);
}
