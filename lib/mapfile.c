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
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, PT_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, PT_EINPUT, "%s: not a regular file", path);
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
