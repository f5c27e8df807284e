/* rankwatch: which process is which rank (/proc), and which one ended first (pidfd). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <unistd.h>

#include "error.h"
#include "rankwatch.h"

void rankwatch_init(RankWatch *w, int nranks)
{
    w->n = nranks;
    w->found = 0;
    w->first_dead = -1;
    w->pid = xcalloc((size_t)nranks, sizeof *w->pid);
    w->fd = xmalloc((size_t)nranks * sizeof *w->fd);
    for (int r = 0; r < nranks; r++)
        w->fd[r] = -1;
}

void rankwatch_free(RankWatch *w)
{
    for (int r = 0; r < w->n; r++)
        if (w->fd[r] >= 0)
            close(w->fd[r]);
    free(w->pid);
    free(w->fd);
}

/* The parent of process pid from /proc/PID/stat ("pid (comm) state ppid ..."; comm may hold
 * spaces and parentheses); -1 when it is gone. */
static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    char *close_paren = strrchr(buf, ')');
    int ppid;
    return close_paren && sscanf(close_paren + 1, " %*c %d", &ppid) == 1 ? (pid_t)ppid : -1;
}

/* OMPI_COMM_WORLD_RANK from /proc/PID/environ (NUL-separated); -1 when absent. */
static int rank_of(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    static const char key[] = "OMPI_COMM_WORLD_RANK=";
    char var[256];
    int rank = -1, c;
    size_t n = 0;
    while ((c = fgetc(f)) != EOF && rank < 0) {
        if (c != '\0') {
            if (n < sizeof var - 1)
                var[n++] = (char)c;
            continue;
        }
        var[n] = '\0';
        if (strncmp(var, key, sizeof key - 1) == 0)
            rank = atoi(var + sizeof key - 1);
        n = 0;
    }
    fclose(f);
    return rank;
}

void rankwatch_scan(RankWatch *w, pid_t mpirun)
{
    DIR *proc = opendir("/proc");
    if (!proc)
        return;
    struct dirent *de;
    while (w->found < w->n && (de = readdir(proc)) != NULL) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        pid_t pid = (pid_t)atoi(de->d_name);
        if (parent_of(pid) != mpirun)
            continue;
        int r = rank_of(pid);
        if (r < 0 || r >= w->n || w->pid[r] != 0)
            continue;
        w->pid[r] = pid;
        w->fd[r] = pidfd_open(pid, 0);
        w->found++;
    }
    closedir(proc);
}

int rankwatch_fds(const RankWatch *w, struct pollfd *fds)
{
    int k = 0;
    for (int r = 0; r < w->n; r++)
        if (w->fd[r] >= 0)
            fds[k++] = (struct pollfd){.fd = w->fd[r], .events = POLLIN};
    return k;
}

void rankwatch_note(RankWatch *w, const struct pollfd *fds, int nfds)
{
    for (int i = 0; i < nfds; i++) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        for (int r = 0; r < w->n; r++) {
            if (w->fd[r] != fds[i].fd)
                continue;
            close(w->fd[r]);
            w->fd[r] = -1;
            if (w->first_dead < 0)
                w->first_dead = r;
        }
    }
}

int rankwatch_line(const RankWatch *w, const char *prog, int code, char *line, size_t len)
{
    int r = w->first_dead;
    if (r < 0 || code == 0 || code == PT_ERUNTIME || code == PT_EINPUT || code == PT_EREQUEUE)
        return 0;
    char host[256] = "this host", how[64];
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    const char *sig = code > 128 && code < 128 + 65 ? sigabbrev_np(code - 128) : NULL;
    if (sig)
        snprintf(how, sizeof how, "was killed by SIG%s", sig);
    else
        snprintf(how, sizeof how, "exited with code %d", code);
    snprintf(line, len, "%s: rank %d (pid %d on %s) %s; the other ranks were stopped\n", prog, r,
             (int)w->pid[r], host, how);
    return 1;
}
