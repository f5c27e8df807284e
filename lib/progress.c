/* progress: one line per item on stderr, or one rewritten line on a terminal. */
#include <stdio.h>
#include <unistd.h>

#include "progress.h"

static int enabled, tty, open_line;

void progress_enable(int on)
{
    enabled = on;
    tty = on && isatty(2);
}

void progress_note(const char *what, int i, int n, const char *name)
{
    if (!enabled)
        return;
    if (tty) {
        fprintf(stderr, "\r%s %d/%d %s\033[K", what, i + 1, n, name);
        open_line = 1;
    } else {
        fprintf(stderr, "%s %d/%d %s\n", what, i + 1, n, name);
    }
    fflush(stderr);
}

void progress_done(void)
{
    if (enabled && tty && open_line)
        fputc('\n', stderr);
    open_line = 0;
}
