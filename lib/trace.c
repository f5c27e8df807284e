/* trace: the event buffer, its nesting stacks and the Chrome trace-event writer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atomicfile.h"
#include "trace.h"

int trace_on;

typedef struct {
    const char *name;  /* a string literal of the hook */
    int idx;           /* appended to the name when ≥ 0 */
    short track;
    short async;       /* 1: a non-blocking request (async begin/end pair) */
    double t0, t1;     /* seconds, trace_now's clock */
    int64_t bytes;     /* −1: none */
    double waited;     /* async: seconds this rank waited for it */
} TraceEvent;

#define MAX_DEPTH 16

static struct {
    TraceOptions opt;
    TraceEvent *ev;
    size_t n, cap;
    size_t dropped;
    int64_t stack[TRACKS][MAX_DEPTH]; /* open spans: event index, −1 when dropped */
    int depth[TRACKS];
    double barrier;                   /* trace_sync's time */
    int open;
} T;

double trace_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void trace_open(const TraceOptions *opt)
{
    memset(&T, 0, sizeof T);
    T.opt = *opt;
    T.cap = opt->capacity ? opt->capacity : TRACE_DEFAULT_EVENTS;
    T.ev = xmalloc(T.cap * sizeof *T.ev);
    T.barrier = trace_now();
    T.open = 1;
}

void trace_sync(double barrier_exit)
{
    T.barrier = barrier_exit;
}

void trace_step(int64_t step)
{
    trace_on = T.open && step >= T.opt.from && (T.opt.to <= 0 || step <= T.opt.to);
}

/* A new event, or NULL (counted) when the buffer is full. */
static TraceEvent *event_new(void)
{
    if (T.n == T.cap) {
        T.dropped++;
        return NULL;
    }
    return &T.ev[T.n++];
}

void trace_begin(int track, const char *name, int idx)
{
    TraceEvent *e = event_new();
    if (e)
        *e = (TraceEvent){name, idx, (short)track, 0, trace_now(), 0.0, -1, 0.0};
    if (T.depth[track] < MAX_DEPTH)
        T.stack[track][T.depth[track]] = e ? (int64_t)(e - T.ev) : -1;
    T.depth[track]++;
}

void trace_end(int track, int64_t bytes)
{
    if (T.depth[track] == 0)
        return; /* the span began before recording was switched on */
    int d = --T.depth[track];
    if (d >= MAX_DEPTH || T.stack[track][d] < 0)
        return;
    TraceEvent *e = &T.ev[T.stack[track][d]];
    e->t1 = trace_now();
    e->bytes = bytes;
}

void trace_span(int track, const char *name, double t0, double t1, int64_t bytes)
{
    TraceEvent *e = event_new();
    if (e)
        *e = (TraceEvent){name, -1, (short)track, 0, t0, t1, bytes, 0.0};
}

void trace_async(int track, const char *name, double t0, double t1, int64_t bytes,
                 double waited)
{
    TraceEvent *e = event_new();
    if (e)
        *e = (TraceEvent){name, -1, (short)track, 1, t0, t1, bytes, waited};
}

/* Digits only, 1 ≤ value ≤ 10⁹; *end past them. */
static int step_number(const char *p, const char **end, int64_t *v)
{
    *v = 0;
    const char *q = p;
    while (*q >= '0' && *q <= '9' && q - p < 10)
        *v = *v * 10 + (*q++ - '0');
    *end = q;
    return q > p && *v >= 1 && *v <= 1000000000;
}

int trace_parse_steps(const char *what, const char *text, int64_t *from, int64_t *to,
                      Error *err)
{
    const char *p;
    *to = 0;
    int ok = step_number(text, &p, from) && *p == ':';
    if (ok && p[1])
        ok = step_number(p + 1, &p, to) && !*p && *to >= *from;
    if (!ok)
        return err_set(err, PT_EINPUT, "%s: want FROM:TO or FROM: (steps from 1, TO >= FROM), "
                       "got '%s'", what, text);
    return PT_OK;
}

void trace_rank_path(char *out, size_t len, const char *path, int rank, int world)
{
    size_t n = strlen(path);
    if (world <= 1) {
        snprintf(out, len, "%s", path);
        return;
    }
    int ext = n > 5 && !strcmp(path + n - 5, ".json");
    snprintf(out, len, "%.*s.rank%d%s", (int)(ext ? n - 5 : n), path, rank, ext ? ".json" : "");
}

static const char *const TRACK_NAMES[TRACKS] = {
    "compute", "comm other", "comm tp", "comm cp", "comm pp", "comm dp", "steps",
};

/* The event's name with its index; names are our literals (no characters to escape). */
static const char *full_name(const TraceEvent *e, char *buf, size_t len)
{
    if (e->idx < 0)
        return e->name;
    snprintf(buf, len, "%s %d", e->name, e->idx);
    return buf;
}

/* Microseconds since the barrier, printed to 0.001 µs. */
static double us(double t)
{
    return (t - T.barrier) * 1e6;
}

int trace_write(Error *err)
{
    trace_on = 0;
    if (!T.open)
        return PT_OK;
    int pid = T.opt.rank;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return err_set(err, PT_ERUNTIME, "%s: out of memory writing the trace", T.opt.path);
    fprintf(f, "{\"traceEvents\": [\n");
    fprintf(f, "{\"ph\": \"M\", \"pid\": %d, \"tid\": 0, \"name\": \"process_name\", \"args\": "
            "{\"name\": \"%s\"}},\n{\"ph\": \"M\", \"pid\": %d, \"tid\": 0, \"name\": "
            "\"process_sort_index\", \"args\": {\"sort_index\": %d}}",
        pid, T.opt.label, pid, pid);
    for (int k = 0; k < TRACKS; k++)
        fprintf(f, ",\n{\"ph\": \"M\", \"pid\": %d, \"tid\": %d, \"name\": \"thread_name\", "
                "\"args\": {\"name\": \"%s\"}}",
            pid, k, TRACK_NAMES[k]);
    char name[96];
    for (size_t i = 0; i < T.n; i++) {
        const TraceEvent *e = &T.ev[i];
        const char *nm = full_name(e, name, sizeof name);
        if (e->async) {
            /* begin and end of one slice; the id (rank, index) is unique in a merged file too,
             * since viewers pair async events by category and id */
            unsigned long long id = (unsigned long long)pid << 32 | i;
            fprintf(f, ",\n{\"ph\": \"b\", \"cat\": \"%s\", \"id\": %llu, \"pid\": %d, "
                    "\"tid\": %d, \"name\": \"%s\", \"ts\": %.3f, \"args\": {\"bytes\": %lld, "
                    "\"wait_us\": %.3f}}",
                TRACK_NAMES[e->track], id, pid, e->track, nm, us(e->t0), (long long)e->bytes,
                e->waited * 1e6);
            fprintf(f, ",\n{\"ph\": \"e\", \"cat\": \"%s\", \"id\": %llu, \"pid\": %d, "
                    "\"tid\": %d, \"name\": \"%s\", \"ts\": %.3f}",
                TRACK_NAMES[e->track], id, pid, e->track, nm, us(e->t1));
            continue;
        }
        if (e->t1 < e->t0) /* still open at the end (a run stopped by an error) */
            continue;
        fprintf(f, ",\n{\"ph\": \"X\", \"pid\": %d, \"tid\": %d, \"name\": \"%s\", \"ts\": %.3f, "
                "\"dur\": %.3f",
            pid, e->track, nm, us(e->t0), (e->t1 - e->t0) * 1e6);
        if (e->bytes >= 0)
            fprintf(f, ", \"args\": {\"bytes\": %lld}", (long long)e->bytes);
        fprintf(f, "}");
    }
    fprintf(f, "\n],\n\"displayTimeUnit\": \"ms\",\n\"otherData\": {\"picotron_trace\": 1, "
            "\"rank\": %d, \"world\": %d, \"clock\": \"microseconds since this rank's barrier "
            "exit\", "
            "\"barrier_s\": %.9f, \"steps\": [%lld, %lld], \"events\": %zu, \"dropped\": %zu, "
            "\"run\": %s}\n}\n",
        T.opt.rank, T.opt.world, T.barrier, (long long)T.opt.from, (long long)T.opt.to, T.n,
        T.dropped, T.opt.meta[0] ? T.opt.meta : "{}");
    char path[4096];
    trace_rank_path(path, sizeof path, T.opt.path, T.opt.rank, T.opt.world);
    fclose(f);
    int rc = atomic_write_file(path, text, len, err);
    free(text);
    return rc;
}

void trace_close(void)
{
    trace_on = 0;
    free(T.ev);
    memset(&T, 0, sizeof T);
}
