/* cpupeak: the per-machine cache. Chiefly the CPU peak MFU is divided by (docs/benchmarks.md,
 * "The peak MFU divides by"): the best fp32 sgemm rate of this machine per thread count, measured by `picotron-bench --peak`
 * over several seconds and kept in a cache file, so that every run on the machine uses the
 * same stable number instead of a few calls timed at start-up. */
#ifndef PICOTRON_CPUPEAK_H
#define PICOTRON_CPUPEAK_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"

#define CPUPEAK_MAX_THREADS 256

/* The cache file: $PICOTRON_PEAK_FILE, else $XDG_CACHE_HOME/picotron/cpu-peak.json, else
 * $HOME/.cache/picotron/cpu-peak.json. 0 when none can be named (no HOME). */
int cpupeak_file(char *path, size_t n);

/* The best GFLOP/s of a 1024³ sgemm (one call threaded by OpenBLAS over the current thread
 * count) over calls repeated for at least `seconds`. */
double cpupeak_measure(double seconds);

/* The cached peak for `threads` threads: 1 and *gflops when the file has one measured on
 * this CPU model with this BLAS and vector path, 0 when it has none (no file, another CPU or
 * path, another thread count). A file that is not a peak cache: PT_EINPUT naming it. */
int cpupeak_cached(int threads, double *gflops, Error *err);

/* The peak for the current thread count: the cached one when there is one, else the best of
 * reps timed calls now (a corrupt cache is a warning on stderr, then measured). */
double cpupeak_get(int reps);
/* Where the last cpupeak_get found its figure, e.g. "cached by picotron-bench --peak". */
const char *cpupeak_source(void);

/* Record gflops for threads in the cache file (atomically; other thread counts kept). A
 * higher figure already there for this CPU and path stays: the peak is the best ever seen, so
 * a rerun on a busy moment cannot lower it. *kept: the figure the file now holds. */
int cpupeak_store(int threads, double gflops, double *kept, Error *err);

/* Other per-machine measurements kept in the same file and under the same CPU/path keying
 * (e.g. the attention tiles of picotron-bench --tune-kernels, lib/attntune): object `section`
 * of the file, entry `key`. cpupeak_entry: 1 and a new reference in *value when the file is
 * for this CPU and path and has the entry, 0 when not; a file that is not a cache, or a
 * section that is not an object: -1 and PT_EINPUT naming it. */
int cpupeak_entry(const char *section, const char *key, json_t **value, Error *err);
/* Set section.key to value (the reference is taken), atomically; the file starts afresh when
 * it was measured on another CPU or path. */
int cpupeak_set_entry(const char *section, const char *key, json_t *value, Error *err);

#endif
