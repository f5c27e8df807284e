/* proc: fork/exec with captured output, exec failures reported through a close-on-exec pipe,
 * and program lookup. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"

/* Read both pipes to their end, whichever the child fills first (a child blocked writing one
 * while we wait on the other would never finish). */
static void drain(int fd_out, int fd_err, char **out, char **err)
{
    char *buf[2] = {NULL, NULL};
    size_t len[2] = {0, 0}, cap[2] = {0, 0};
    struct pollfd fds[2] = {{.fd = fd_out, .events = POLLIN}, {.fd = fd_err, .events = POLLIN}};
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (cap[i] - len[i] < 4097) {
                cap[i] = cap[i] ? 2 * cap[i] : 8192;
                char *grown = realloc(buf[i], cap[i]);
                if (!grown) {
                    fprintf(stderr, "picotron: out of memory reading a child's output\n");
                    exit(PT_ERUNTIME);
                }
                buf[i] = grown;
            }
            ssize_t n = read(fds[i].fd, buf[i] + len[i], 4096);
            if (n > 0) {
                len[i] += (size_t)n;
            } else if (n == 0 || errno != EINTR) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++) {
        if (fds[i].fd >= 0)
            close(fds[i].fd);
        if (!buf[i])
            buf[i] = xcalloc(1, 1);
        buf[i][len[i]] = '\0';
    }
    *out = buf[0];
    *err = buf[1];
}

static void close_all(const int *fds, int n)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

int proc_run(char *const argv[], ProcResult *res, Error *err)
{
    /* pipes[0..1]: stdout, [2..3]: stderr, [4..5]: the exec error (closed by a good exec) */
    int p[6];
    res->status = -1;
    res->out = res->err = NULL;
    if (pipe(p) != 0)
        return err_set(err, PT_ERUNTIME, "cannot run %s: pipe: %s", argv[0], strerror(errno));
    if (pipe(p + 2) != 0) {
        close_all(p, 2);
        return err_set(err, PT_ERUNTIME, "cannot run %s: pipe: %s", argv[0], strerror(errno));
    }
    if (pipe2(p + 4, O_CLOEXEC) != 0) {
        close_all(p, 4);
        return err_set(err, PT_ERUNTIME, "cannot run %s: pipe: %s", argv[0], strerror(errno));
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close_all(p, 6);
        return err_set(err, PT_ERUNTIME, "cannot run %s: fork: %s", argv[0], strerror(errno));
    }
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(p[3], 2);
        close_all(p, 4);
        close(p[4]);
        execvp(argv[0], argv);
        int e = errno;
        ssize_t w = write(p[5], &e, sizeof e);
        _exit(w == (ssize_t)sizeof e ? 127 : 126);
    }
    close(p[1]);
    close(p[3]);
    close(p[5]);
    int exec_errno = 0;
    ssize_t got;
    while ((got = read(p[4], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR)
        ;
    close(p[4]);
    drain(p[0], p[2], &res->out, &res->err);
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            st = 0;
            break;
        }
    }
    if (got == (ssize_t)sizeof exec_errno) {
        res->out[0] = res->err[0] = '\0';
        return err_set(err, PT_ERUNTIME, "cannot run %s: %s", argv[0], strerror(exec_errno));
    }
    res->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return PT_OK;
}

void proc_result_free(ProcResult *res)
{
    free(res->out);
    free(res->err);
    res->out = res->err = NULL;
}

const char *proc_first_line(char *text)
{
    char *nl = strchr(text, '\n');
    if (nl)
        *nl = '\0';
    return text;
}

/* name in the directories of PATH; an empty entry is the working directory unless
 * absolute_only. 1 with the path in out when found executable. */
static int search_path(const char *name, int absolute_only, char *out, size_t len)
{
    const char *path = getenv("PATH");
    for (const char *p = path ? path : ""; *p;) {
        const char *colon = strchr(p, ':');
        size_t n = colon ? (size_t)(colon - p) : strlen(p);
        if (!(absolute_only && (n == 0 || p[0] != '/'))) {
            snprintf(out, len, "%.*s/%s", (int)n, n ? p : ".", name);
            if (access(out, X_OK) == 0)
                return 1;
        }
        if (!colon)
            break;
        p = colon + 1;
    }
    return 0;
}

int proc_on_path(const char *name)
{
    char buf[PATH_MAX];
    return search_path(name, 0, buf, sizeof buf);
}

int proc_beside_self(const char *name, char *out, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return 0;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return 0;
    *slash = '\0';
    snprintf(out, len, "%s/%s", self, name);
    return access(out, X_OK) == 0;
}

int proc_find(const char *name, char *out, size_t len)
{
    return proc_beside_self(name, out, len) || search_path(name, 1, out, len);
}
