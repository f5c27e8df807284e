/* error: the one error path of the library. A function that can fail on input or at run time
 * fills an Error (code + one human line naming what and where) and returns the code. */
#ifndef PICOTRON_ERROR_H
#define PICOTRON_ERROR_H

#include <stddef.h>

enum {
    PT_OK = 0,
    PT_ERUNTIME = 1, /* I/O failure, NaN loss, out of memory */
    PT_EINPUT = 2,   /* bad config, flag, file contents */
    PT_EREQUEUE = 75, /* preempted (SIGTERM/SIGUSR1): a checkpoint was saved, run me again
                         (sysexits' EX_TEMPFAIL) */
};

typedef struct {
    int code;
    char msg[1024];
} Error;

/* Record the error (first one wins) and return its code. */
int err_set(Error *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Print "<prog>: <msg>" on stderr and exit with the error's code. */
void err_die(const char *prog, const Error *e) __attribute__((noreturn));

/* Allocation that ends the process with exit 1 and one line when memory runs out. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);

#endif
