/* atomicfile: whole files written so that a reader sees the old version or the new one,
 * never a mix: temp name in the same directory, fsync, rename, fsync of the directory. */
#ifndef PICOTRON_ATOMICFILE_H
#define PICOTRON_ATOMICFILE_H

#include <stddef.h>

#include "error.h"

int atomic_write_file(const char *path, const void *data, size_t len, Error *err);

/* The same for a file written piece by piece: atomic_open creates the temporary file,
 * atomic_write appends (after a failure it does nothing and returns −1), atomic_commit syncs,
 * renames it to path and syncs the directory — or, when a write failed, removes it and
 * reports the error. Nothing ever appears under path half-written. */
typedef struct {
    char path[4096], tmp[4200];
    int fd;
    int err;      /* errno of the first failed write, 0 while all is well */
} AtomicFile;

int atomic_open(AtomicFile *f, const char *path, Error *err);
int atomic_write(AtomicFile *f, const void *data, size_t len);
int atomic_commit(AtomicFile *f, Error *err);

/* fsync a directory: makes the renames and creations inside it durable. Every directory
 * sync of the library goes through it. */
int fsync_dir(const char *dir, Error *err);

/* fsync a file by name, for files written by a library that closes its own descriptor
 * (HDF5). */
int fsync_file(const char *path, Error *err);

/* fsync the directory holding path (makes a rename of path durable). */
int fsync_parent_dir(const char *path, Error *err);

/* mkdir -p; an existing directory is fine. */
int make_dirs(const char *path, Error *err);

#endif
