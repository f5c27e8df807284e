/* runlock: a directory created, checked writable and flock'ed for one run. */
#include "runlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"

/* Create and remove DIR/.write-test.PID: the directory really takes new files (a read-only
 * mount or missing permission shows here, not at the first checkpoint after training ran).
 * Opening an existing .lock proves nothing about creating files. */
static int check_writable(const char *dir, const char *key, Error *err)
{
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.write-test.%ld", dir, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_set(err, PT_EINPUT, "%s: %s is not writable: %s", key, dir, strerror(errno));
    close(fd);
    unlink(probe);
    return PT_OK;
}

int runlock_take(RunLock *l, const char *dir, const char *key, Error *err)
{
    l->fd = -1;
    Error e = {0};
    if (make_dirs(dir, &e))
        return err_set(err, PT_EINPUT, "%s: %s", key, e.msg);
    if (check_writable(dir, key, err))
        return err->code;
    char path[4200];
    snprintf(path, sizeof path, "%s/.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_set(err, PT_EINPUT, "%s: %s: cannot open: %s", key, path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        char holder[300] = "";
        ssize_t n = busy ? pread(fd, holder, sizeof holder - 1, 0) : -1;
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        long pid = 0;
        char host[256] = "?";
        sscanf(holder, "%ld %255s", &pid, host);
        close(fd);
        if (busy)
            return err_set(err, PT_EINPUT, "%s: %s is in use by pid %ld on host %s (another run "
                           "holds %s)", key, dir, pid, host, path);
        return err_set(err, PT_EINPUT, "%s: %s: cannot lock: %s", key, path, strerror(errno));
    }
    char host[256] = "?", line[300];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "?");
    host[sizeof host - 1] = '\0';
    int len = snprintf(line, sizeof line, "%ld %s\n", (long)getpid(), host);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
        int saved = errno;
        close(fd);
        return err_set(err, PT_EINPUT, "%s: %s: cannot write: %s", key, path, strerror(saved));
    }
    l->fd = fd;
    return PT_OK;
}

void runlock_release(RunLock *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
}

int runlock_same_dir(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}
