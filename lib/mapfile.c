/* mapfile: open, check, mmap, close the descriptor (the mapping outlives it). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mapfile.h"

int mapfile_open(const char *path, const unsigned char **map, size_t *len, Error *err)
{
    *map = NULL;
    *len = 0;
    /* O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever; it changes nothing
     * for a regular file, and anything else is refused below. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return err_set(err, PT_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, PT_ERUNTIME, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        const char *kind = S_ISFIFO(st.st_mode)  ? "a FIFO"
                           : S_ISDIR(st.st_mode) ? "a directory"
                           : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                           : S_ISSOCK(st.st_mode) ? "a socket" : "not a file";
        return err_set(err, PT_EINPUT, "%s: not a regular file (%s)", path, kind);
    }
    size_t n = (size_t)st.st_size;
    if (n > 0) {
        void *m = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            return err_set(err, PT_ERUNTIME, "%s: mmap failed: %s", path, strerror(e));
        }
        *map = m;
    }
    close(fd);
    *len = n;
    return PT_OK;
}

void mapfile_close(const unsigned char *map, size_t len)
{
    if (map)
        munmap((void *)map, len);
}
