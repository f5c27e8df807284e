/* tracefile: a timeline written by lib/trace (one rank's file, or several merged) read back:
 * validated (trace-event JSON, spans nesting on every track, async slices paired), its steps
 * with their top-level compute spans, and the pipeline actions with the bubble before each.
 * For picotron-trace (docs/trace.md). */
#ifndef PICOTRON_TRACEFILE_H
#define PICOTRON_TRACEFILE_H

#include <jansson.h>

#include "error.h"

typedef struct {
    const char *name;  /* points into the document */
    int pid, tid;      /* rank, track (lib/trace.h) */
    double ts, dur;    /* microseconds */
    int depth;         /* 0: top level on its track */
} Span;

typedef struct {
    int rank;
    json_t *info;      /* the rank's otherData (borrowed): world, steps, dropped, run */
} TraceRank;

typedef struct {
    json_t *doc;
    Span *span;        /* (n) complete ("X") events, by rank, track, start, longest first */
    size_t n;
    TraceRank *rank;   /* (nranks) in rank order */
    int nranks;
    int world;
} TraceFile;

/* Read and validate path: PT_EINPUT naming the file (and the event) when it is not JSON, not
 * a picotron trace, or a span overlaps another on its track without nesting inside it. */
int tracefile_read(TraceFile *tf, const char *path, Error *err);
void tracefile_free(TraceFile *tf);

/* One timeline from the files of different ranks of one run (each validated), written
 * atomically to out. */
int tracefile_merge(const char *const *paths, int n, const char *out, Error *err);

/* A step of one rank: its span on the steps track and the top-level compute spans in it. */
typedef struct {
    int step;
    double ts, dur;    /* the step span, µs */
    double top;        /* µs covered by top-level compute spans inside it */
    int ntop;
} TraceStep;

/* The steps of rank pid, in order; *out malloc'ed. Returns the count. */
int tracefile_steps(const TraceFile *tf, int pid, TraceStep **out);

/* Time (µs) and count of the top-level spans of (pid, tid) starting inside [ts, ts + dur). */
double tracefile_track_time(const TraceFile *tf, int pid, int tid, double ts, double dur,
                            int *count);

/* A pipeline action of a step: a top-level "forward k" / "backward k" compute span and the
 * "bubble" span just before it (0 when none). */
typedef struct {
    char kind;         /* 'F' | 'B' */
    int mb;
    double ts, dur;    /* the action's span, µs */
    double bubble;     /* µs of bubble spans just before it */
} TraceAction;

/* The actions of step st on rank pid, in order; *out malloc'ed. Returns the count. */
int tracefile_actions(const TraceFile *tf, int pid, const TraceStep *st, TraceAction **out);

/* The rank's run facts ("pp", "pp_rank", "micro_batches", ...): an integer, or −1. */
int tracefile_run_int(const TraceFile *tf, int rank_index, const char *key);
/* The same for a string ("pp_engine"), or "". */
const char *tracefile_run_str(const TraceFile *tf, int rank_index, const char *key);

#endif
