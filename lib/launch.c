/* launch: launcher detection, local rank count, and self-launch through mpirun. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch.h"
#include "rankwatch.h"

extern char **environ;

/* Slurm's special step ids (batch script, extern, interactive, pending) lie at or above
 * SLURM_MAX_NORMAL_STEP_ID; only a real step (srun) has a smaller one. */
#define SLURM_MAX_NORMAL_STEP_ID 0xfffffff0UL

static int env_set(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0';
}

/* SLURM_STEP_ID names a step started by srun: a plain number below the special ids. */
static int slurm_in_step(void)
{
    const char *v = getenv("SLURM_STEP_ID");
    if (v == NULL || v[0] < '0' || v[0] > '9')
        return 0;
    char *end;
    errno = 0;
    unsigned long id = strtoul(v, &end, 10);
    return errno == 0 && *end == '\0' && id < SLURM_MAX_NORMAL_STEP_ID;
}

int launch_under_launcher(void)
{
    if (env_set("PICOTRON_SELF_LAUNCHED") || env_set("OMPI_COMM_WORLD_SIZE") ||
        env_set("PMIX_RANK") || env_set("PMI_RANK"))
        return 1;
    /* SLURM_PROCID alone is not enough: sbatch sets SLURM_PROCID=0 for the batch script,
     * which must still start its ranks (through mpirun inside the allocation). */
    return slurm_in_step() && env_set("SLURM_PROCID");
}

int launch_self_launched(void)
{
    return env_set("PICOTRON_SELF_LAUNCHED");
}

static int positive_int(const char *s)
{
    if (s == NULL)
        return 0;
    char *end;
    long v = strtol(s, &end, 10);
    return end != s && v > 0 && v <= INT_MAX ? (int)v : 0;
}

/* Entry `node` of a Slurm tasks-per-node list such as "2(x3),1" (node 3 → 1); 0 if absent. */
static int slurm_tasks_on_node(const char *list, int node)
{
    const char *p = list;
    while (p != NULL && *p != '\0') {
        char *end;
        long n = strtol(p, &end, 10);
        if (end == p || n <= 0)
            return 0;
        long reps = 1;
        if (strncmp(end, "(x", 2) == 0) {
            reps = strtol(end + 2, &end, 10);
            if (reps <= 0 || *end != ')')
                return 0;
            end++;
        }
        if (node < reps)
            return n <= INT_MAX ? (int)n : 0;
        node -= (int)reps;
        p = *end == ',' ? end + 1 : NULL;
    }
    return 0;
}

int launch_local_ranks(void)
{
    int n = positive_int(getenv("OMPI_COMM_WORLD_LOCAL_SIZE"));
    if (n > 0)
        return n;
    const char *tpn = getenv("SLURM_STEP_TASKS_PER_NODE");
    if (tpn != NULL && slurm_in_step()) {
        const char *node = getenv("SLURM_NODEID");
        n = slurm_tasks_on_node(tpn, node != NULL ? atoi(node) : 0);
        if (n > 0)
            return n;
    }
    n = positive_int(getenv("SLURM_NTASKS_PER_NODE"));
    return n > 0 ? n : 1;
}

int launch_local_rank(void)
{
    const char *s = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
    if (s == NULL && slurm_in_step())
        s = getenv("SLURM_LOCALID");
    if (s == NULL)
        return 0;
    char *end;
    long v = strtol(s, &end, 10);
    return end != s && *end == '\0' && v >= 0 && v < INT_MAX ? (int)v : 0;
}

/* The first executable `name` on PATH, written into buf; 0 when there is none. */
static int find_on_path(const char *name, char *buf, size_t len)
{
    const char *path = getenv("PATH");
    if (path == NULL || path[0] == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p != '\0';) {
        const char *colon = strchr(p, ':');
        size_t dlen = colon != NULL ? (size_t)(colon - p) : strlen(p);
        int n = dlen == 0 ? snprintf(buf, len, "./%s", name)
                          : snprintf(buf, len, "%.*s/%s", (int)dlen, p, name);
        if (n > 0 && (size_t)n < len && access(buf, X_OK) == 0)
            return 1;
        p += dlen;
        if (*p == ':')
            p++;
    }
    return 0;
}

static int usable_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* environ plus the variables every self-launched rank gets; NULL-terminated, only the array
 * is allocated. */
static char **child_environment(void)
{
    static const char *const extra[][2] = {
        {"OMP_WAIT_POLICY", "OMP_WAIT_POLICY=passive"}, /* ranks share cores: no spinning */
        {"OMPI_MCA_btl_vader_single_copy_mechanism",     /* no CMA in sandboxes */
         "OMPI_MCA_btl_vader_single_copy_mechanism=none"},
        /* a rank waiting in MPI yields its core between polls: the late rank it waits for,
         * or a neighbour, runs instead (docs/benchmarks.md, "Data-parallel communication") */
        {"OMPI_MCA_mpi_yield_when_idle", "OMPI_MCA_mpi_yield_when_idle=1"},
    };
    enum { NEXTRA = sizeof extra / sizeof extra[0] };
    int n = 0;
    while (environ[n] != NULL)
        n++;
    char **env = xcalloc((size_t)n + NEXTRA + 2, sizeof *env);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (strncmp(environ[i], "PICOTRON_SELF_LAUNCHED=", 23) != 0)
            env[k++] = environ[i];
    for (size_t i = 0; i < NEXTRA; i++)
        if (getenv(extra[i][0]) == NULL)
            env[k++] = (char *)extra[i][1];
    env[k++] = "PICOTRON_SELF_LAUNCHED=1";
    env[k] = NULL;
    return env;
}

static const int forwarded[] = {SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGHUP};
#define NFORWARDED ((int)(sizeof forwarded / sizeof forwarded[0]))

/* Signals received and not yet forwarded, counted per entry of `forwarded`. */
static volatile sig_atomic_t pending[NFORWARDED];

static void note_signal(int sig, siginfo_t *info, void *ctx)
{
    (void)ctx;
    /* The terminal (Ctrl-C, hangup) signals the whole foreground process group, mpirun
     * included: sending it again would make mpirun see a second interrupt. */
    if (sig != SIGCHLD && info != NULL && info->si_code == SI_KERNEL)
        return;
    for (int i = 0; i < NFORWARDED; i++)
        if (forwarded[i] == sig)
            pending[i]++;
}

/* Send sig to every child of `parent` (mpirun's local ranks); returns how many got it. */
static int signal_children(pid_t parent, int sig)
{
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(proc)) != NULL) {
        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        int child = atoi(de->d_name);
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%d/stat", child);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        /* "pid (comm) state ppid ...": comm may hold spaces and parentheses. */
        char *close_paren = strrchr(buf, ')');
        int ppid;
        if (close_paren != NULL && sscanf(close_paren + 1, " %*c %d", &ppid) == 1 &&
            ppid == parent && kill((pid_t)child, sig) == 0)
            n++;
    }
    closedir(proc);
    return n;
}

/* Forward what note_signal counted. mpirun answers SIGTERM, SIGINT and SIGHUP by killing
 * the ranks (SIGTERM, then SIGKILL about a second later) and exiting 1, which leaves a rank
 * no time to save a checkpoint and loses its exit code; so the first of these goes to the
 * ranks themselves, and only a second one to mpirun. SIGUSR1/SIGUSR2 mpirun forwards to
 * every rank itself. Returns the last signal sent to mpirun to stop it, else 0. */
static int forward_pending(pid_t mpirun, int *terminations, int hard_stop)
{
    for (int i = 0; i < NFORWARDED; i++) {
        for (; pending[i] > 0; pending[i]--) {
            int sig = forwarded[i];
            if (sig == SIGUSR1 || sig == SIGUSR2) {
                kill(mpirun, sig);
            } else if ((*terminations)++ > 0 || signal_children(mpirun, sig) == 0) {
                kill(mpirun, sig);
                hard_stop = sig;
            }
        }
    }
    return hard_stop;
}

/* A pipe already holding `text` and closed for writing, so mpirun reads it then EOF and the
 * parent never blocks on it. Returns the read end, or -1 with err filled. */
static int stdin_pipe(const char *text, Error *err)
{
    int fd[2];
    if (pipe2(fd, O_CLOEXEC) != 0) {
        err_set(err, PT_ERUNTIME, "launch: pipe: %s", strerror(errno));
        return -1;
    }
    size_t len = strlen(text);
    if (len > 65536 && fcntl(fd[1], F_SETPIPE_SZ, (int)(len < INT_MAX ? len : INT_MAX)) < 0) {
        err_set(err, PT_EINPUT, "launch: stdin text of %zu bytes does not fit a pipe: %s",
                len, strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return -1;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd[1], text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            err_set(err, PT_ERUNTIME, "launch: writing stdin text: %s", strerror(errno));
            close(fd[0]);
            close(fd[1]);
            return -1;
        }
        off += (size_t)w;
    }
    close(fd[1]);
    return fd[0];
}

int launch_self(int nranks, char **argv, const char *stdin_text, Error *err)
{
    char mpirun[PATH_MAX];
    if (!find_on_path("mpirun", mpirun, sizeof mpirun)) {
        err_set(err, PT_EINPUT,
                "mpirun not found: install openmpi-bin (scripts/install-deps) or launch with srun");
        return -1;
    }
    char exe[PATH_MAX];
    ssize_t elen = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (elen <= 0) {
        err_set(err, PT_ERUNTIME, "launch: cannot read /proc/self/exe: %s", strerror(errno));
        return -1;
    }
    exe[elen] = '\0';

    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    char np[16];
    snprintf(np, sizeof np, "%d", nranks);
    char **args = xcalloc((size_t)argc + 16, sizeof *args);
    int k = 0;
    args[k++] = "mpirun";
    if (getuid() == 0)
        args[k++] = "--allow-run-as-root";
    if (nranks > usable_cores())
        args[k++] = "--oversubscribe";
    args[k++] = "--bind-to";
    args[k++] = "none";
    args[k++] = "--quiet";
    if (stdin_text == NULL) {
        args[k++] = "--stdin";
        args[k++] = "none";
    }
    args[k++] = "-np";
    args[k++] = np;
    args[k++] = exe;
    for (int i = 1; i < argc; i++)
        args[k++] = argv[i];
    args[k] = NULL;
    char **env = child_environment();

    int in = -1;
    if (stdin_text != NULL && (in = stdin_pipe(stdin_text, err)) < 0) {
        free(args);
        free(env);
        return -1;
    }

    /* The forwarded signals and SIGCHLD stay blocked except inside sigsuspend, so none
     * arrives between checking for work and going to sleep. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    for (int i = 0; i < NFORWARDED; i++)
        sigaddset(&block, forwarded[i]);
    sigprocmask(SIG_BLOCK, &block, &old);
    struct sigaction sa, saved[NFORWARDED], saved_chld;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = note_signal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < NFORWARDED; i++) {
        pending[i] = 0;
        sigaction(forwarded[i], &sa, &saved[i]);
    }
    sigaction(SIGCHLD, &sa, &saved_chld);

    pid_t pid = fork();
    if (pid == 0) {
        /* exec resets the handlers but keeps the mask: restore it. */
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (in >= 0 && dup2(in, STDIN_FILENO) < 0)
            _exit(127);
        execve(mpirun, args, env);
        dprintf(STDERR_FILENO, "picotron: cannot run %s: %s\n", mpirun, strerror(errno));
        _exit(127);
    }
    int fork_errno = errno;
    if (in >= 0)
        close(in);

    int code = -1;
    if (pid < 0) {
        err_set(err, PT_ERUNTIME, "launch: fork: %s", strerror(fork_errno));
    } else {
        sigset_t wait_mask = old;
        sigdelset(&wait_mask, SIGCHLD);
        for (int i = 0; i < NFORWARDED; i++)
            sigdelset(&wait_mask, forwarded[i]);
        int status = 0, terminations = 0, hard_stop = 0;
        RankWatch watch;
        rankwatch_init(&watch, nranks);
        struct pollfd *fds = xcalloc((size_t)nranks, sizeof *fds);
        pid_t r;
        while ((r = waitpid(pid, &status, WNOHANG)) == 0) {
            /* sleeps like sigsuspend, and wakes when a rank ends; looks for the ranks every
             * 50 ms until all are known */
            if (watch.found < nranks)
                rankwatch_scan(&watch, pid);
            struct timespec scan = {0, 50 * 1000 * 1000};
            int nfds = rankwatch_fds(&watch, fds);
            if (ppoll(fds, (nfds_t)nfds, watch.found < nranks ? &scan : NULL, &wait_mask) > 0)
                rankwatch_note(&watch, fds, nfds);
            hard_stop = forward_pending(pid, &terminations, hard_stop);
        }
        if (r < 0)
            err_set(err, PT_ERUNTIME, "launch: waiting for mpirun: %s", strerror(errno));
        else if (WIFSIGNALED(status))
            code = 128 + WTERMSIG(status);
        else if (hard_stop && WEXITSTATUS(status) == 1)
            code = 128 + hard_stop; /* mpirun's 1 after a stop signal: report the signal */
        else
            code = WEXITSTATUS(status);
        char line[512];
        const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
        if (code > 0 && !terminations && !WIFSIGNALED(status) &&
            rankwatch_line(&watch, prog, code, line, sizeof line))
            fputs(line, stderr);
        rankwatch_free(&watch);
        free(fds);
    }

    for (int i = 0; i < NFORWARDED; i++)
        sigaction(forwarded[i], &saved[i], NULL);
    sigaction(SIGCHLD, &saved_chld, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);
    free(args);
    free(env);
    return code;
}
