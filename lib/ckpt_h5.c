/* ckpt_h5: creating and opening checkpoint HDF5 files, int64 attributes. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "ckpt_h5.h"

/* HDF5 1.8+ file format (superblock v2, v2 object headers): its metadata carries checksums,
 * so a corrupted file is refused by the library instead of being walked into. h5py and h5dump
 * read it. */
hid_t ckpt_h5_create(const char *path)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    return f;
}

int ckpt_h5_open(const char *path, hid_t *f, Error *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    struct stat st;
    if (stat(path, &st) != 0)
        return err_set(err, PT_EINPUT, "%s: missing: %s", path, strerror(errno));
    *f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*f < 0)
        return err_set(err, PT_EINPUT, "%s: not a readable HDF5 file (truncated or corrupt?)",
                       path);
    return PT_OK;
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
