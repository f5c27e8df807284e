/* atomicfile: whole files written so that a reader sees the old version or the new one,
 * never a mix: temp name in the same directory, fsync, rename, fsync of the directory. */
#ifndef PICOTRON_ATOMICFILE_H
#define PICOTRON_ATOMICFILE_H

#include <stddef.h>

#include "error.h"

int atomic_write_file(const char *path, const void *data, size_t len, Error *err);

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
