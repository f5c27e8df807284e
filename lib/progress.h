/* progress: "what i/n name" on stderr while a long loop over tensors runs (resharding,
 * importing and exporting a large checkpoint). Off unless a tool turns it on: then on a
 * terminal one line is rewritten in place, otherwise (a log) each item is its own line. */
#ifndef PICOTRON_PROGRESS_H
#define PICOTRON_PROGRESS_H

/* on: 0 off, 1 on. Called once by a tool before its work. */
void progress_enable(int on);
/* Item i (0-based) of n of the phase `what` (e.g. "reading"), named name. */
void progress_note(const char *what, int i, int n, const char *name);
/* The phase is over: ends the rewritten line on a terminal. */
void progress_done(void);

#endif
