/* launch_probe: a small MPI program that exercises lib/launch the way picotron-train does.
 * Run alone with --ranks N > 1 it starts N copies of itself through launch_self; as a rank it
 * prints one line per rank and, on request, shares stdin, fails, or sleeps until signalled.
 * tests/e2e/test_launch.sh drives it. */
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "launch.h"

static const char usage[] =
    "usage: launch_probe [--detect] [--ranks N] [--stdin] [--fail RANK:CODE] [--sleep SECONDS]\n"
    "                    [--signal-code C] [--linger SECONDS]\n"
    "  --detect          print 'under_launcher B local_ranks N' and exit (no MPI)\n"
    "  --ranks N         ranks to start when not under a launcher (default 1: none)\n"
    "  --stdin           read stdin (rank 0) and broadcast it; every rank prints it\n"
    "  --fail RANK:CODE  rank RANK (-1: every rank) exits with CODE after MPI_Finalize\n"
    "  --sleep SECONDS   sleep before finishing; a SIGTERM/SIGUSR1 ends the sleep early\n"
    "  --signal-code C   exit code after such a signal (default 128 + signal number)\n"
    "  --linger SECONDS  after such a signal, wait this long before exiting (a checkpoint)\n"
    "example: launch_probe --ranks 4 --fail 2:3\n";

static volatile sig_atomic_t got_signal;

static void on_signal(int sig) { got_signal = sig; }

/* All of stdin as a NUL-terminated string. */
static char *read_all(FILE *f)
{
    size_t len = 0, cap = 4096;
    char *buf = xmalloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            cap *= 2;
            char *grown = realloc(buf, cap);
            if (grown == NULL) {
                fprintf(stderr, "launch_probe: out of memory\n");
                exit(1);
            }
            buf = grown;
        }
    }
    buf[len] = '\0';
    return buf;
}

int main(int argc, char **argv)
{
    int ranks = 1, want_stdin = 0, fail_rank = -2, fail_code = 0, signal_code = -1;
    double sleep_s = 0, linger_s = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--detect") == 0) {
            printf("under_launcher %d local_ranks %d\n", launch_under_launcher(),
                   launch_local_ranks());
            return 0;
        } else if (strcmp(argv[i], "--ranks") == 0 && i + 1 < argc)
            ranks = atoi(argv[++i]);
        else if (strcmp(argv[i], "--stdin") == 0)
            want_stdin = 1;
        else if (strcmp(argv[i], "--fail") == 0 && i + 1 < argc &&
                 sscanf(argv[i + 1], "%d:%d", &fail_rank, &fail_code) == 2)
            i++;
        else if (strcmp(argv[i], "--sleep") == 0 && i + 1 < argc)
            sleep_s = atof(argv[++i]);
        else if (strcmp(argv[i], "--linger") == 0 && i + 1 < argc)
            linger_s = atof(argv[++i]);
        else if (strcmp(argv[i], "--signal-code") == 0 && i + 1 < argc)
            signal_code = atoi(argv[++i]);
        else if (strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else {
            fprintf(stderr, "launch_probe: unknown option '%s'\n%s", argv[i], usage);
            return 2;
        }
    }

    if (!launch_under_launcher() && ranks > 1) {
        char *text = want_stdin ? read_all(stdin) : NULL;
        Error err = {0};
        int code = launch_self(ranks, argv, text, &err);
        if (code < 0)
            err_die("launch_probe", &err);
        free(text);
        return code;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);

    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *self = getenv("PICOTRON_SELF_LAUNCHED");
    const char *yield = getenv("OMPI_MCA_mpi_yield_when_idle");
    printf("rank %d size %d local %d self_launched %s yield %s pid %d\n", rank, size,
           launch_local_ranks(), self != NULL ? self : "0", yield != NULL ? yield : "unset",
           (int)getpid());
    fflush(stdout);

    if (want_stdin) {
        char *text = rank == 0 ? read_all(stdin) : NULL;
        int len = rank == 0 ? (int)strlen(text) : 0;
        MPI_Bcast(&len, 1, MPI_INT, 0, MPI_COMM_WORLD);
        if (rank != 0)
            text = xcalloc((size_t)len + 1, 1);
        MPI_Bcast(text, len, MPI_CHAR, 0, MPI_COMM_WORLD);
        text[strcspn(text, "\n")] = '\0';
        printf("rank %d stdin '%s'\n", rank, text);
        fflush(stdout);
        free(text);
    }

    /* Sleep in short slices so a signal ends it promptly (nanosleep returns on EINTR too). */
    for (double t = 0; t < sleep_s && !got_signal; t += 0.05)
        nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
    if (got_signal) {
        printf("rank %d got %s\n", rank, got_signal == SIGTERM ? "SIGTERM" : "SIGUSR1");
        fflush(stdout);
        for (double t = 0; t < linger_s; t += 0.05)
            nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
        printf("rank %d done\n", rank);
        fflush(stdout);
        MPI_Finalize();
        return signal_code >= 0 ? signal_code : 128 + got_signal;
    }

    MPI_Finalize();
    if (fail_rank == -1 || fail_rank == rank)
        return fail_code;
    return 0;
}
