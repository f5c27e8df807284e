/* runlock: a run's claim on a directory it writes (checkpoint.save_dir, logging.run_dir), taken
 * before step 1: the directory exists, takes new files, and no other run holds it. The claim is
 * an flock on DIR/.lock holding "pid host", so the kernel releases it when the process ends,
 * however it ends. Reference: docs/training.md (One run per directory). */
#ifndef PICOTRON_RUNLOCK_H
#define PICOTRON_RUNLOCK_H

#include "error.h"

typedef struct {
    int fd; /* DIR/.lock, locked; -1: none held */
} RunLock;

/* Create dir if needed, check that a file can be created in it, and lock it for this process.
 * PT_EINPUT with one line naming key (the config key that named dir) and dir when it cannot be
 * created, is not writable, or is held by another run ("in use by pid P on host H"). */
int runlock_take(RunLock *l, const char *dir, const char *key, Error *err);

/* Give the lock back (the .lock file stays: removing it would let a third run lock a fresh
 * file while a second still waits on the old one). A lock never taken is fine. */
void runlock_release(RunLock *l);

/* 1 when paths a and b are the same existing directory (one lock covers both). */
int runlock_same_dir(const char *a, const char *b);

#endif
