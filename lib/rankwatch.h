/* rankwatch: the self-launcher's view of the ranks its mpirun started (children of mpirun on
 * this host, told apart by OMPI_COMM_WORLD_RANK in their environment), so that a rank that dies
 * is named: mpirun --quiet only says how, not which. docs/launch.md (A rank that dies). */
#ifndef PICOTRON_RANKWATCH_H
#define PICOTRON_RANKWATCH_H

#include <poll.h>
#include <sys/types.h>

typedef struct {
    int n;              /* ranks expected */
    int found;          /* ranks seen so far */
    pid_t *pid;         /* [n]: each rank's process, 0 until seen */
    int *fd;            /* [n]: a pidfd of it while it runs, else -1 */
    int first_dead;     /* rank whose process ended first, -1: none yet */
} RankWatch;

void rankwatch_init(RankWatch *w, int nranks);
void rankwatch_free(RankWatch *w);

/* Look for ranks not seen yet among the children of mpirun. */
void rankwatch_scan(RankWatch *w, pid_t mpirun);

/* The running ranks' pidfds into fds (room for w->n); returns how many. */
int rankwatch_fds(const RankWatch *w, struct pollfd *fds);

/* After poll: note the ranks whose pidfd reports that they ended (the first one is kept). */
void rankwatch_note(RankWatch *w, const struct pollfd *fds, int nfds);

/* The line that names the rank that ended first, given mpirun's exit code (128 + signal when
 * a rank was killed, else the failing rank's exit code): "PROG: rank R (pid P on HOST) was
 * killed by SIGKILL; the other ranks were stopped". 0 when there is nothing to say: no rank
 * ended first, or the code is one the ranks agree on and report themselves (0, 1, 2, 75). */
int rankwatch_line(const RankWatch *w, const char *prog, int code, char *line, size_t len);

#endif
