/* trace: this rank's timeline of training steps — spans of compute (layers, GEMM groups,
 * attention, cross-entropy, optimizer, data, checkpoint save), of each communication group
 * (collectives with their bytes, the waits of non-blocking requests) and pipeline bubbles — in
 * a buffer allocated once, written at the end as Chrome trace-event JSON (docs/trace.md).
 * While nothing is recorded every hook costs one predictable branch on trace_on. */
#ifndef PICOTRON_TRACE_H
#define PICOTRON_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Tracks (a "thread" of the rank's process in the viewer): compute, then one per
 * communication group in CommKind order (other, tp, cp, pp, dp), then the steps. */
enum { TRACK_COMPUTE = 0, TRACK_COMM = 1, TRACK_STEPS = TRACK_COMM + 5, TRACKS };

/* 1 while a step of the range is being recorded; the hooks test it and nothing else. */
extern int trace_on;

typedef struct {
    const char *path;     /* where trace_write puts the rank's file */
    int64_t from, to;     /* record steps [from, to] (1-based; to 0: to the end) */
    size_t capacity;      /* events the buffer holds (0: TRACE_DEFAULT_EVENTS) */
    int rank, world;
    char label[96];       /* the process's name in the viewer, e.g. "rank 1 (dp0 pp1 cp0 tp0)" */
    char meta[512];       /* JSON object text of run facts for the tools ("{}" if none):
                             the pipeline schedule, the mesh */
} TraceOptions;

#define TRACE_DEFAULT_EVENTS ((size_t)1 << 20)

/* Seconds on the clock every span uses (CLOCK_MONOTONIC, as metrics_now). */
double trace_now(void);

/* Allocate the buffer; recording starts at trace_step of a step in range. */
void trace_open(const TraceOptions *opt);
/* The exit time of a barrier all ranks passed together: the tools align ranks' clocks on it. */
void trace_sync(double barrier_exit);
/* Step `step` (1-based) begins: recording is on while from ≤ step ≤ to. */
void trace_step(int64_t step);
/* Open a span on a track (idx ≥ 0 is appended to the name: a layer, a micro-batch); spans on
 * one track nest: trace_end closes the innermost one, with bytes moved (−1: none). */
void trace_begin(int track, const char *name, int idx);
void trace_end(int track, int64_t bytes);
/* A span whose times are known (a blocking collective timed by comm). */
void trace_span(int track, const char *name, double t0, double t1, int64_t bytes);
/* A non-blocking request from its start to its completion, and the time this rank spent
 * waiting for it; drawn as an async slice beside the group's track. */
void trace_async(int track, const char *name, double t0, double t1, int64_t bytes,
                 double waited);
/* Write the rank's file atomically (ranks > 1: opt.path with ".rank<R>" before ".json").
 * Turns recording off. */
int trace_write(Error *err);
void trace_close(void);

/* A step range as --trace-steps and logging.trace_steps give it: "A:B" (steps A to B) or "A:"
 * (A to the end; *to = 0), steps counted from 1. PT_EINPUT naming `what` otherwise. */
int trace_parse_steps(const char *what, const char *text, int64_t *from, int64_t *to,
                      Error *err);

/* The file rank `rank` of `world` writes for path. */
void trace_rank_path(char *out, size_t len, const char *path, int rank, int world);

#define TRACE_BEGIN(track, name, idx)                                                          \
    do {                                                                                       \
        if (trace_on)                                                                          \
            trace_begin(track, name, idx);                                                     \
    } while (0)
#define TRACE_END(track, bytes)                                                                \
    do {                                                                                       \
        if (trace_on)                                                                          \
            trace_end(track, bytes);                                                           \
    } while (0)

/* stmt as one span of the compute track. */
#define TRACE_COMPUTE(name, stmt)                                                              \
    do {                                                                                       \
        TRACE_BEGIN(TRACK_COMPUTE, name, -1);                                                  \
        stmt;                                                                                  \
        TRACE_END(TRACK_COMPUTE, -1);                                                          \
    } while (0)

#endif
