/* proc: running another program: its exit status with its stdout and stderr captured, a
 * program that cannot start as one error line; and finding programs (on PATH, beside this
 * executable). */
#ifndef PICOTRON_PROC_H
#define PICOTRON_PROC_H

#include <stddef.h>

#include "error.h"

typedef struct {
    int status; /* exit code; 128 + N when signal N ended it */
    char *out;  /* its stdout, NUL-terminated (malloc'ed) */
    char *err;  /* its stderr */
} ProcResult;

/* Run argv[0] (looked up on PATH when it holds no '/') with argv, stdin inherited, and wait
 * for it. PT_OK when it ran, whatever its exit status; PT_ERUNTIME with "cannot run NAME:
 * reason" when it could not be started (res then holds empty outputs). */
int proc_run(char *const argv[], ProcResult *res, Error *err);
void proc_result_free(ProcResult *res);

/* The first line of text, its newline cut in place: for one-line messages. */
const char *proc_first_line(char *text);

/* 1 when an executable NAME is in a directory of PATH. */
int proc_on_path(const char *name);

/* DIR/name where DIR holds the running executable; 1 when that is an executable file. */
int proc_beside_self(const char *name, char *out, size_t len);

/* NAME beside this executable, else in an absolute directory of PATH; 1 when found. */
int proc_find(const char *name, char *out, size_t len);

#endif
