/* tracefile: reading, checking and merging the timelines of lib/trace. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomicfile.h"
#include "jsonin.h"
#include "trace.h"
#include "tracefile.h"

/* Times are printed to 0.001 µs: a child's end computed from rounded numbers may pass its
 * parent's by two such units. */
#define EPS_US 0.01

static int span_order(const void *pa, const void *pb)
{
    const Span *a = pa, *b = pb;
    if (a->pid != b->pid)
        return a->pid < b->pid ? -1 : 1;
    if (a->tid != b->tid)
        return a->tid < b->tid ? -1 : 1;
    if (a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return a->dur > b->dur ? -1 : a->dur < b->dur;
}

static int rank_order(const void *a, const void *b)
{
    int x = ((const TraceRank *)a)->rank, y = ((const TraceRank *)b)->rank;
    return x < y ? -1 : x > y;
}

/* The ranks of the document: a rank's file holds one (otherData itself), a merged one the
 * list otherData.ranks. */
static int read_ranks(TraceFile *tf, const char *path, Error *err)
{
    json_t *od = json_object_get(tf->doc, "otherData");
    if (!json_is_object(od) || !json_is_integer(json_object_get(od, "picotron_trace")))
        return err_set(err, PT_EINPUT, "%s: not a picotron trace (no otherData.picotron_trace)",
                       path);
    json_t *list = json_object_get(od, "ranks");
    size_t n = json_is_array(list) ? json_array_size(list) : 1;
    tf->rank = xcalloc(n ? n : 1, sizeof *tf->rank);
    tf->world = (int)json_integer_value(json_object_get(od, "world"));
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_is_array(list) ? json_array_get(list, i) : od;
        json_t *rank = json_object_get(r, "rank");
        if (!json_is_integer(rank) || json_integer_value(rank) < 0 ||
            !json_is_object(json_object_get(r, "run")))
            return err_set(err, PT_EINPUT, "%s: otherData of rank %zu lacks rank or run", path,
                           i);
        tf->rank[i].rank = (int)json_integer_value(rank);
        tf->rank[i].info = r;
        for (size_t j = 0; j < i; j++)
            if (tf->rank[j].rank == tf->rank[i].rank)
                return err_set(err, PT_EINPUT, "%s: rank %d appears twice", path,
                               tf->rank[i].rank);
    }
    tf->nranks = (int)n;
    qsort(tf->rank, n, sizeof *tf->rank, rank_order);
    return PT_OK;
}

/* The begin ("b") and end ("e") of every async slice pair up by (pid, id), end after begin. */
static int check_async(json_t *events, const char *path, Error *err)
{
    size_t n = json_array_size(events), nb = 0;
    for (size_t i = 0; i < n; i++)
        nb += !strcmp(json_string_value(json_object_get(json_array_get(events, i), "ph")), "b");
    struct { json_int_t pid, id; double ts; int ended; } *open = xcalloc(nb + 1, sizeof *open);
    size_t k = 0;
    int rc = PT_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        json_t *e = json_array_get(events, i);
        const char *ph = json_string_value(json_object_get(e, "ph"));
        if (strcmp(ph, "b") && strcmp(ph, "e"))
            continue;
        json_t *pid = json_object_get(e, "pid"), *id = json_object_get(e, "id");
        json_t *ts = json_object_get(e, "ts");
        if (!json_is_integer(pid) || !json_is_integer(id) || !json_is_number(ts)) {
            rc = err_set(err, PT_EINPUT, "%s: event %zu: an async slice needs pid, id and ts",
                         path, i);
            break;
        }
        if (*ph == 'b') {
            open[k].pid = json_integer_value(pid);
            open[k].id = json_integer_value(id);
            open[k++].ts = json_number_value(ts);
            continue;
        }
        size_t j = 0;
        while (j < k && !(open[j].pid == json_integer_value(pid) &&
                          open[j].id == json_integer_value(id) && !open[j].ended))
            j++;
        if (j == k || json_number_value(ts) < open[j].ts)
            rc = err_set(err, PT_EINPUT, "%s: event %zu: async end (rank %lld, id %lld) %s",
                         path, i, (long long)json_integer_value(pid),
                         (long long)json_integer_value(id),
                         j == k ? "without its begin" : "before its begin");
        else
            open[j].ended = 1;
    }
    for (size_t j = 0; j < k && !rc; j++)
        if (!open[j].ended)
            rc = err_set(err, PT_EINPUT, "%s: async slice (rank %lld, id %lld) never ends", path,
                         (long long)open[j].pid, (long long)open[j].id);
    free(open);
    return rc;
}

/* Spans on one track must nest: each starts after the previous one ends or ends inside it. */
static int check_nesting(TraceFile *tf, const char *path, Error *err)
{
    double stack_end[64];
    const Span *stack_span[64];
    int depth = 0;
    for (size_t i = 0; i < tf->n; i++) {
        Span *s = &tf->span[i];
        if (i == 0 || s->pid != tf->span[i - 1].pid || s->tid != tf->span[i - 1].tid)
            depth = 0;
        while (depth > 0 && s->ts >= stack_end[depth - 1] - EPS_US)
            depth--;
        if (depth > 0 && s->ts + s->dur > stack_end[depth - 1] + EPS_US)
            return err_set(err, PT_EINPUT,
                           "%s: rank %d track %d: '%s' (%.3f + %.3f us) overlaps '%s' (ends at "
                           "%.3f us) without nesting in it",
                           path, s->pid, s->tid, s->name, s->ts, s->dur,
                           stack_span[depth - 1]->name, stack_end[depth - 1]);
        if (depth == 64)
            return err_set(err, PT_EINPUT, "%s: rank %d track %d: spans nest deeper than 64",
                           path, s->pid, s->tid);
        s->depth = depth;
        stack_end[depth] = s->ts + s->dur;
        stack_span[depth++] = s;
    }
    return PT_OK;
}

int tracefile_read(TraceFile *tf, const char *path, Error *err)
{
    memset(tf, 0, sizeof *tf);
    int rc = jsonin_load_file(path, &tf->doc, err);
    if (rc)
        return rc;
    json_t *events = json_object_get(tf->doc, "traceEvents");
    if (!json_is_array(events))
        return err_set(err, PT_EINPUT, "%s: no traceEvents array", path);
    if ((rc = read_ranks(tf, path, err)))
        return rc;
    size_t n = json_array_size(events);
    tf->span = xcalloc(n ? n : 1, sizeof *tf->span);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(events, i);
        const char *ph = json_string_value(json_object_get(e, "ph"));
        if (!json_is_object(e) || !ph)
            return err_set(err, PT_EINPUT, "%s: event %zu: not an object with a \"ph\"", path,
                           i);
        if (strcmp(ph, "X"))
            continue;
        json_t *pid = json_object_get(e, "pid"), *tid = json_object_get(e, "tid");
        json_t *ts = json_object_get(e, "ts"), *dur = json_object_get(e, "dur");
        const char *name = json_string_value(json_object_get(e, "name"));
        if (!json_is_integer(pid) || !json_is_integer(tid) || !json_is_number(ts) ||
            !json_is_number(dur) || !name || json_number_value(dur) < 0)
            return err_set(err, PT_EINPUT, "%s: event %zu: a span needs pid, tid, name, ts and "
                           "dur >= 0", path, i);
        tf->span[tf->n++] = (Span){name, (int)json_integer_value(pid),
                                   (int)json_integer_value(tid), json_number_value(ts),
                                   json_number_value(dur), 0};
    }
    qsort(tf->span, tf->n, sizeof *tf->span, span_order);
    if ((rc = check_async(events, path, err)))
        return rc;
    return check_nesting(tf, path, err);
}

void tracefile_free(TraceFile *tf)
{
    json_decref(tf->doc);
    free(tf->span);
    free(tf->rank);
    memset(tf, 0, sizeof *tf);
}

int tracefile_merge(const char *const *paths, int n, const char *out, Error *err)
{
    json_t *events = json_array(), *ranks = json_array();
    int world = -1, rc = PT_OK;
    int *seen = NULL;
    for (int i = 0; i < n && !rc; i++) {
        TraceFile tf;
        if ((rc = tracefile_read(&tf, paths[i], err))) {
            tracefile_free(&tf);
            break;
        }
        if (world < 0) {
            world = tf.world;
            seen = xcalloc((size_t)(world > 0 ? world : 1), sizeof *seen);
        }
        if (tf.world != world)
            rc = err_set(err, PT_EINPUT, "%s: a run of %d ranks, %s is of %d", paths[i],
                         tf.world, paths[0], world);
        for (int r = 0; r < tf.nranks && !rc; r++) {
            int k = tf.rank[r].rank;
            if (k >= world)
                rc = err_set(err, PT_EINPUT, "%s: rank %d of a run of %d ranks", paths[i], k,
                             world);
            else if (seen[k]++)
                rc = err_set(err, PT_EINPUT, "%s: rank %d is already in an earlier file",
                             paths[i], k);
            else
                json_array_append(ranks, tf.rank[r].info);
        }
        if (!rc)
            json_array_extend(events, json_object_get(tf.doc, "traceEvents"));
        tracefile_free(&tf);
    }
    free(seen);
    if (!rc) {
        /* every rank's times already count from its own exit of the same barrier */
        json_t *doc = json_pack("{s:o, s:s, s:{s:i, s:i, s:s, s:O}}", "traceEvents", events,
                                "displayTimeUnit", "ms", "otherData", "picotron_trace", 1,
                                "world", world, "clock",
                                "microseconds since each rank's barrier exit", "ranks", ranks);
        events = NULL;
        char *text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        rc = text ? atomic_write_file(out, text, strlen(text), err)
                  : err_set(err, PT_ERUNTIME, "%s: out of memory writing the trace", out);
        free(text);
    }
    json_decref(events);
    json_decref(ranks);
    return rc;
}

int tracefile_steps(const TraceFile *tf, int pid, TraceStep **out)
{
    int n = 0;
    TraceStep *st = NULL;
    for (size_t i = 0; i < tf->n; i++) {
        const Span *s = &tf->span[i];
        int k;
        if (s->pid != pid || s->tid != TRACK_STEPS || sscanf(s->name, "step %d", &k) != 1)
            continue;
        if (n % 64 == 0) {
            TraceStep *grown = xcalloc((size_t)n + 64, sizeof *grown);
            if (n)
                memcpy(grown, st, (size_t)n * sizeof *st);
            free(st);
            st = grown;
        }
        st[n] = (TraceStep){k, s->ts, s->dur, 0.0, 0};
        st[n].top = tracefile_track_time(tf, pid, TRACK_COMPUTE, s->ts, s->dur, &st[n].ntop);
        n++;
    }
    *out = st;
    return n;
}

double tracefile_track_time(const TraceFile *tf, int pid, int tid, double ts, double dur,
                            int *count)
{
    double t = 0.0;
    int c = 0;
    for (size_t i = 0; i < tf->n; i++) {
        const Span *s = &tf->span[i];
        if (s->pid == pid && s->tid == tid && s->depth == 0 && s->ts >= ts - EPS_US &&
            s->ts < ts + dur) {
            t += s->dur;
            c++;
        }
    }
    if (count)
        *count = c;
    return t;
}

int tracefile_actions(const TraceFile *tf, int pid, const TraceStep *st, TraceAction **out)
{
    int n = 0;
    TraceAction *a = xcalloc(tf->n + 1, sizeof *a);
    double bubble = 0.0;
    for (size_t i = 0; i < tf->n; i++) {
        const Span *s = &tf->span[i];
        if (s->pid != pid || s->tid != TRACK_COMPUTE || s->depth != 0 ||
            s->ts < st->ts - EPS_US || s->ts >= st->ts + st->dur)
            continue;
        int mb;
        if (sscanf(s->name, "bubble %d", &mb) == 1) {
            bubble += s->dur;
        } else if (sscanf(s->name, "forward %d", &mb) == 1 ||
                   sscanf(s->name, "backward %d", &mb) == 1) {
            a[n++] = (TraceAction){s->name[0] == 'f' ? 'F' : 'B', mb, s->ts, s->dur, bubble};
            bubble = 0.0;
        } else {
            bubble = 0.0;
        }
    }
    *out = a;
    return n;
}

static json_t *run_of(const TraceFile *tf, int i, const char *key)
{
    return i >= 0 && i < tf->nranks ? json_object_get(json_object_get(tf->rank[i].info, "run"),
                                                      key)
                                    : NULL;
}

int tracefile_run_int(const TraceFile *tf, int rank_index, const char *key)
{
    json_t *v = run_of(tf, rank_index, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : -1;
}

const char *tracefile_run_str(const TraceFile *tf, int rank_index, const char *key)
{
    const char *s = json_string_value(run_of(tf, rank_index, key));
    return s ? s : "";
}
