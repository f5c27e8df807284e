/* atomicfile: temp name, fsync, rename, fsync the directory; syncing a path by name. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"

/* open(path, flags), fsync, close: the one place a path is synced by name. */
static int sync_path(const char *path, int flags, const char *what, Error *err)
{
    int fd = open(path, O_RDONLY | flags);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return err_set(err, PT_ERUNTIME, "%s: cannot sync %s: %s", path, what, strerror(e));
    }
    close(fd);
    return PT_OK;
}

int fsync_dir(const char *dir, Error *err)
{
    return sync_path(dir, O_DIRECTORY, "directory", err);
}

int fsync_file(const char *path, Error *err)
{
    return sync_path(path, 0, "file", err);
}

int fsync_parent_dir(const char *path, Error *err)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    return fsync_dir(dirname(buf), err);
}

int atomic_open(AtomicFile *f, const char *path, Error *err)
{
    snprintf(f->path, sizeof f->path, "%s", path);
    snprintf(f->tmp, sizeof f->tmp, "%s.tmp.%ld", path, (long)getpid());
    f->err = 0;
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (f->fd < 0)
        return err_set(err, errno == ENOENT || errno == EACCES ? PT_EINPUT : PT_ERUNTIME,
                       "%s: cannot create: %s", path, strerror(errno));
    return PT_OK;
}

int atomic_write(AtomicFile *f, const void *data, size_t len)
{
    const char *p = data;
    while (!f->err && len > 0) {
        ssize_t n = write(f->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            f->err = n < 0 ? errno : EIO;
        else {
            p += n;
            len -= (size_t)n;
        }
    }
    return f->err ? -1 : 0;
}

int atomic_commit(AtomicFile *f, Error *err)
{
    if (f->err) {
        close(f->fd);
        unlink(f->tmp);
        return err_set(err, PT_ERUNTIME, "%s: write failed: %s", f->path, strerror(f->err));
    }
    if (fsync(f->fd) != 0 || close(f->fd) != 0) {
        int e = errno;
        unlink(f->tmp);
        return err_set(err, PT_ERUNTIME, "%s: sync failed: %s", f->path, strerror(e));
    }
    if (rename(f->tmp, f->path) != 0) {
        int e = errno;
        unlink(f->tmp);
        return err_set(err, PT_ERUNTIME, "%s: rename failed: %s", f->path, strerror(e));
    }
    return fsync_parent_dir(f->path, err);
}

int atomic_write_file(const char *path, const void *data, size_t len, Error *err)
{
    AtomicFile f;
    if (atomic_open(&f, path, err))
        return err->code;
    atomic_write(&f, data, len);
    return atomic_commit(&f, err);
}

int make_dirs(const char *path, Error *err)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return err_set(err, PT_EINPUT, "%s: cannot create directory: %s", buf, strerror(errno));
            *p = c;
            if (c == '\0')
                break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set(err, PT_EINPUT, "%s: not a directory", path);
    return PT_OK;
}
