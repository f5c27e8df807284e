/* ckpt_h5: the HDF5 primitives every checkpoint file is made of (rank files and meta.h5):
 * creating a file in the checksummed 1.8+ format, opening one for reading with our own error
 * line, and int64 attributes of a fixed length. Internal to ckpt*.c. */
#ifndef PICOTRON_CKPT_H5_H
#define PICOTRON_CKPT_H5_H

#include <hdf5.h>
#include <stdint.h>

#include "error.h"

/* H5Fcreate (truncating) with superblock v2 and v2 object headers; < 0 on failure. */
hid_t ckpt_h5_create(const char *path);

/* H5Fopen read-only: PT_EINPUT naming path when it is missing or not readable HDF5. */
int ckpt_h5_open(const char *path, hid_t *f, Error *err);

/* Attribute name of obj as n int64 (n = 0: a scalar); 0, or -1 on failure. */
int ckpt_h5_put_i64(hid_t obj, const char *name, const int64_t *v, hsize_t n);

/* Read attribute name of obj, which must hold exactly n elements, as int64; 0, or -1 when it
 * is missing, of another length or unreadable. */
int ckpt_h5_get_i64(hid_t obj, const char *name, int64_t *v, hssize_t n);

#endif
