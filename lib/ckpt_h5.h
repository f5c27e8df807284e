/* ckpt_h5: the HDF5 primitives every checkpoint file is made of (rank files and meta.h5):
 * creating a file in the checksummed 1.8+ format, opening one for reading with our own error
 * line, and int64 attributes of a fixed length. Internal to ckpt*.c. */
#ifndef PICOTRON_CKPT_H5_H
#define PICOTRON_CKPT_H5_H

#include <hdf5.h>
#include <stdint.h>

#include "error.h"

/* H5Fcreate (truncating) with superblock v2 and v2 object headers; < 0 on failure, with
 * HDF5's error stack kept for ckpt_h5_errno. */
hid_t ckpt_h5_create(const char *path);

/* The errno behind the HDF5 call that just failed, as its file driver reported it (EIO when
 * the error stack names none): call it before the next HDF5 call clears the stack. */
int ckpt_h5_errno(void);

/* Flush and close file f, written at path, then fsync it. failed_errno: 0, or the errno of a
 * write to f that already failed (the file is then emptied before the close so that the close
 * cannot fail for want of space). PT_ERUNTIME "PATH: cannot write: REASON" on any failure;
 * f is closed either way. */
int ckpt_h5_finish(hid_t f, const char *path, int failed_errno, Error *err);

/* H5Fopen read-only: PT_EINPUT naming path when it is missing or not readable HDF5. */
int ckpt_h5_open(const char *path, hid_t *f, Error *err);

/* Elements per chunk of a checksummed dataset (256 KiB of float32): the unit HDF5 checksums
 * and reads whole, so a partial read costs at most one chunk extra at each end; four fit the
 * default 1 MiB chunk cache. docs/checkpoint.md "Checksums" has the measured cost. */
#define CKPT_H5_CHUNK 65536

/* A dataset creation property list for a 1-d dataset of n elements: chunked, each chunk
 * carrying a Fletcher32 checksum that HDF5 checks on every read (n = 0: the default layout,
 * nothing to check). Close it with H5Pclose; < 0 on failure. */
hid_t ckpt_h5_checksummed(hsize_t n);

/* After a failed H5Dread: 1 when HDF5's error stack says a Fletcher32 checksum did not hold. */
int ckpt_h5_checksum_failed(void);

/* 1 when dataset d was written with a checksum (older checkpoints have none). */
int ckpt_h5_has_checksum(hid_t d);

/* Attribute name of obj as n int64 (n = 0: a scalar); 0, or -1 on failure. */
int ckpt_h5_put_i64(hid_t obj, const char *name, const int64_t *v, hsize_t n);

/* Read attribute name of obj, which must hold exactly n elements, as int64; 0, or -1 when it
 * is missing, of another length or unreadable. */
int ckpt_h5_get_i64(hid_t obj, const char *name, int64_t *v, hssize_t n);

#endif
