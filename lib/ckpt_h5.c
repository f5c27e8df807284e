/* ckpt_h5: creating and opening checkpoint HDF5 files, checksummed datasets, int64
 * attributes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "ckpt_h5.h"

/* HDF5 1.10 keeps the id of a file whose H5Fclose failed, with the file's state already torn
 * down; H5close, which HDF5 runs at exit, closes it again and crashes. ckpt_h5_finish avoids
 * the failing close where it can (a full disk: it frees the file's space first); where a close
 * failed all the same, the library is left to the kernel at exit instead of H5close. */
static int h5_started, h5_close_failed;

static void h5_end(void)
{
    if (!h5_close_failed)
        H5close();
}

/* Before the library's first use: our exit handler instead of HDF5's; errors through ours. */
static void h5_start(void)
{
    if (!h5_started) {
        h5_started = 1;
        H5dont_atexit();
        atexit(h5_end);
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* HDF5 1.8+ file format (superblock v2, v2 object headers): its metadata carries checksums,
 * so a corrupted file is refused by the library instead of being walked into. h5py and h5dump
 * read it. */
hid_t ckpt_h5_create(const char *path)
{
    h5_start();
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    hid_t failure = f < 0 ? H5Eget_current_stack() : -1; /* for ckpt_h5_errno, past H5Pclose */
    H5Pclose(fapl);
    if (failure >= 0)
        H5Eset_current_stack(failure);
    return f;
}

int ckpt_h5_open(const char *path, hid_t *f, Error *err)
{
    h5_start();
    struct stat st;
    if (stat(path, &st) != 0)
        return err_set(err, PT_EINPUT, "%s: missing: %s", path, strerror(errno));
    *f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*f < 0)
        return err_set(err, PT_EINPUT, "%s: not a readable HDF5 file (truncated or corrupt?)",
                       path);
    return PT_OK;
}

hid_t ckpt_h5_checksummed(hsize_t n)
{
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl < 0 || n == 0)
        return dcpl;
    /* n split into equal chunks of at most CKPT_H5_CHUNK: HDF5 stores the last chunk whole,
     * so a fixed 64 Ki would waste up to 256 KiB per dataset (6% of a 135M checkpoint) */
    hsize_t nchunks = (n + CKPT_H5_CHUNK - 1) / CKPT_H5_CHUNK;
    hsize_t chunk = (n + nchunks - 1) / nchunks;
    if (H5Pset_chunk(dcpl, 1, &chunk) < 0 || H5Pset_fletcher32(dcpl) < 0) {
        H5Pclose(dcpl);
        return -1;
    }
    return dcpl;
}

/* H5Ewalk2 callback: the errno a file driver reported ("..., errno = 28, error message = ..."). */
static herr_t find_errno(unsigned n, const H5E_error2_t *e, void *found)
{
    (void)n;
    const char *at = e->desc ? strstr(e->desc, "errno = ") : NULL;
    if (at && *(int *)found == 0)
        *(int *)found = atoi(at + 8);
    return 0;
}

int ckpt_h5_errno(void)
{
    int found = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, find_errno, &found);
    return found > 0 ? found : EIO;
}

int ckpt_h5_finish(hid_t f, const char *path, int failed_errno, Error *err)
{
    int e = failed_errno;
    if (!e && H5Fflush(f, H5F_SCOPE_LOCAL) < 0)
        e = ckpt_h5_errno();
    /* A failed write leaves HDF5 with metadata it cannot flush, and a close that fails leaves
     * the library broken (above). Emptying the file gives the flush room: the file is garbage
     * now and its directory is removed by the caller. */
    if (e && truncate(path, 0) != 0 && !failed_errno)
        e = errno;
    if (H5Fclose(f) < 0) {
        h5_close_failed = 1;
        if (!e)
            e = ckpt_h5_errno();
    }
    if (e)
        return err_set(err, PT_ERUNTIME, "%s: cannot write: %s", path, strerror(e));
    return fsync_file(path, err);
}

/* H5Ewalk2 callback: is any entry of the stack the Fletcher32 filter's complaint? */
static herr_t find_checksum_error(unsigned n, const H5E_error2_t *e, void *found)
{
    (void)n;
    if (e->desc && strstr(e->desc, "Fletcher32"))
        *(int *)found = 1;
    return 0;
}

int ckpt_h5_checksum_failed(void)
{
    int found = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, find_checksum_error, &found);
    return found;
}

int ckpt_h5_has_checksum(hid_t d)
{
    hid_t dcpl = H5Dget_create_plist(d);
    if (dcpl < 0)
        return 0;
    unsigned flags;
    size_t nvals = 0;
    int has = H5Pget_filter_by_id2(dcpl, H5Z_FILTER_FLETCHER32, &flags, &nvals, NULL, 0, NULL,
                                   NULL) >= 0;
    H5Pclose(dcpl);
    return has;
}

int ckpt_h5_put_i64(hid_t obj, const char *name, const int64_t *v, hsize_t n)
{
    hid_t sp = n == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, NULL);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t rc = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_INT64, v);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return rc < 0 ? -1 : 0;
}

int ckpt_h5_get_i64(hid_t obj, const char *name, int64_t *v, hssize_t n)
{
    if (H5Aexists(obj, name) <= 0)
        return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0)
        return -1;
    hid_t sp = H5Aget_space(a);
    hssize_t got = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    int rc = got == n && H5Aread(a, H5T_NATIVE_INT64, v) >= 0 ? 0 : -1;
    H5Aclose(a);
    return rc;
}
