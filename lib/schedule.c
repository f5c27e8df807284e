/* schedule: builds the per-stage action lists of the AFAB and 1F1B pipeline engines and checks
 * a set of stage schedules against each other by simulating their point-to-point traffic. */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "schedule.h"

static void push(Schedule *s, ActionKind kind, int mb, int pp, int stage)
{
    int first = stage == 0, last = stage == pp - 1;
    Action *a = &s->a[s->n++];
    a->kind = kind;
    a->mb = mb;
    /* activations flow towards the last stage, gradients back towards stage 0 */
    a->recv = kind == ACT_FORWARD ? !first : !last;
    a->send = kind == ACT_FORWARD ? !last : !first;
}

int schedule_build(Schedule *s, const char *engine, int pp, int stage, int m)
{
    assert(pp >= 1 && stage >= 0 && stage < pp && m >= 1);
    memset(s, 0, sizeof *s);
    /* Both engines are "w forwards, then (F next, B oldest) rounds, then the rest of the
     * backwards": AFAB is the case w = m (no rounds). 1F1B's w lets stage s hold the
     * pp − s − 1 micro-batches still travelling down the pipe before its first backward
     * arrives, so in flight stays ≤ pp instead of m. */
    int w;
    if (strcmp(engine, "afab") == 0)
        w = m;
    else if (strcmp(engine, "1f1b") == 0)
        w = pp - stage - 1 < m ? pp - stage - 1 : m;
    else
        return -1;

    s->a = xcalloc((size_t)2 * m, sizeof *s->a);
    int nf = 0, nb = 0;
    while (nf < w)
        push(s, ACT_FORWARD, nf++, pp, stage);
    while (nf < m) {
        push(s, ACT_FORWARD, nf++, pp, stage);
        push(s, ACT_BACKWARD, nb++, pp, stage);
    }
    while (nb < m)
        push(s, ACT_BACKWARD, nb++, pp, stage);

    s->warmup = w;
    /* Counted on the list, not from the formula, so the tests check one against the other. */
    int in_flight = 0;
    for (int i = 0; i < s->n; i++) {
        in_flight += s->a[i].kind == ACT_FORWARD ? 1 : -1;
        if (in_flight > s->max_in_flight)
            s->max_in_flight = in_flight;
    }
    return 0;
}

void schedule_free(Schedule *s)
{
    free(s->a);
    memset(s, 0, sizeof *s);
}

void schedule_print(const Schedule *s, FILE *f)
{
    for (int i = 0; i < s->n; i++) {
        const Action *a = &s->a[i];
        fprintf(f, "%c%d%s%s\n", a->kind == ACT_FORWARD ? 'F' : 'B', a->mb,
                a->recv ? " recv" : "", a->send ? " send" : "");
    }
}

/* ---- checking ---- */

static int fail(char *err, int errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, int errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, (size_t)errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Each stage on its own: every micro-batch forwarded once, backwarded once, forward first
 * (the backward needs the activations the forward stored). */
static int check_stage(const Schedule *st, int s, int m, char *err, int errlen)
{
    int *fwd_at = xmalloc((size_t)m * sizeof *fwd_at); /* (m) action index of F(mb), or -1 */
    int *bwd_at = xmalloc((size_t)m * sizeof *bwd_at); /* (m) action index of B(mb), or -1 */
    int rc = 0;
    for (int mb = 0; mb < m; mb++)
        fwd_at[mb] = bwd_at[mb] = -1;
    for (int i = 0; i < st->n && rc == 0; i++) {
        const Action *a = &st->a[i];
        char k = a->kind == ACT_FORWARD ? 'F' : 'B';
        int *at = a->kind == ACT_FORWARD ? fwd_at : bwd_at;
        if (a->mb < 0 || a->mb >= m)
            rc = fail(err, errlen, "stage %d action %d (%c%d): micro-batch outside 0..%d",
                      s, i, k, a->mb, m - 1);
        else if (at[a->mb] >= 0)
            rc = fail(err, errlen, "stage %d action %d (%c%d): repeats action %d", s, i, k,
                      a->mb, at[a->mb]);
        else if (a->kind == ACT_BACKWARD && fwd_at[a->mb] < 0)
            rc = fail(err, errlen, "stage %d action %d (B%d): backward before its forward", s,
                      i, a->mb);
        else
            at[a->mb] = i;
    }
    for (int mb = 0; mb < m && rc == 0; mb++)
        if (fwd_at[mb] < 0 || bwd_at[mb] < 0)
            rc = fail(err, errlen, "stage %d: micro-batch %d is never %s", s, mb,
                      fwd_at[mb] < 0 ? "forwarded" : "backwarded");
    free(fwd_at);
    free(bwd_at);
    return rc;
}

/* Messages sent on one link in one direction and not yet received, oldest first. After
 * check_stage a stage sends at most m messages on a link, so (m) never overflows. */
typedef struct {
    int *mb;  /* (m) micro-batch of each message, in send order */
    int head; /* next to receive */
    int tail; /* next free slot */
} Queue;

static const char *what(ActionKind k) { return k == ACT_FORWARD ? "activation" : "gradient"; }

int schedule_check(const Schedule *stages, int pp, int m, char *err, int errlen)
{
    assert(pp >= 1 && m >= 1);
    for (int s = 0; s < pp; s++)
        if (check_stage(&stages[s], s, m, err, errlen))
            return -1;

    /* act[s]: activations on link s → s+1; grad[s]: gradients on link s+1 → s (s < pp−1). */
    int nlinks = pp - 1;
    Queue *act = xcalloc((size_t)nlinks + 1, sizeof *act);
    Queue *grad = xcalloc((size_t)nlinks + 1, sizeof *grad);
    for (int l = 0; l < nlinks; l++) {
        act[l].mb = xmalloc((size_t)m * sizeof(int));
        grad[l].mb = xmalloc((size_t)m * sizeof(int));
    }
    int *pos = xcalloc((size_t)pp, sizeof *pos); /* (pp) next action of each stage */
    int rc = 0;

    /* Run each stage as far as it can go until all are done or none can move: with sends
     * that never block, the order stages take turns in does not change the outcome. */
    for (int progress = 1; progress && rc == 0;) {
        progress = 0;
        for (int s = 0; s < pp && rc == 0; s++) {
            const Schedule *st = &stages[s];
            while (pos[s] < st->n && rc == 0) {
                const Action *a = &st->a[pos[s]];
                int fw = a->kind == ACT_FORWARD;
                char k = fw ? 'F' : 'B';
                if (a->recv) {
                    int from = fw ? s - 1 : s + 1;
                    if (from < 0 || from >= pp) {
                        rc = fail(err, errlen, "stage %d action %d (%c%d) receives from stage %d,"
                                  " which does not exist", s, pos[s], k, a->mb, from);
                        break;
                    }
                    Queue *q = fw ? &act[s - 1] : &grad[s];
                    if (q->head == q->tail)
                        break; /* blocked until stage `from` sends */
                    if (q->mb[q->head] != a->mb) {
                        rc = fail(err, errlen, "stage %d action %d (%c%d) receives the %s of"
                                  " micro-batch %d from stage %d: sends and receives out of order",
                                  s, pos[s], k, a->mb, what(a->kind), q->mb[q->head], from);
                        break;
                    }
                    q->head++;
                }
                if (a->send) {
                    int to = fw ? s + 1 : s - 1;
                    if (to < 0 || to >= pp) {
                        rc = fail(err, errlen, "stage %d action %d (%c%d) sends to stage %d,"
                                  " which does not exist", s, pos[s], k, a->mb, to);
                        break;
                    }
                    Queue *q = fw ? &act[s] : &grad[s - 1];
                    assert(q->tail < m);
                    q->mb[q->tail++] = a->mb;
                }
                pos[s]++;
                progress = 1;
            }
        }
    }

    for (int s = 0; s < pp && rc == 0; s++) {
        if (pos[s] == stages[s].n)
            continue;
        /* Stalled: name every waiting stage, since a deadlock is a cycle among them. */
        int off = snprintf(err, err && errlen > 0 ? (size_t)errlen : 0, "deadlock:");
        for (int t = s; t < pp; t++) {
            if (pos[t] == stages[t].n)
                continue;
            const Action *a = &stages[t].a[pos[t]];
            int fw = a->kind == ACT_FORWARD;
            if (err && off < errlen)
                off += snprintf(err + off, (size_t)(errlen - off),
                                "%s stage %d waits at action %d (%c%d) for the %s from stage %d",
                                t == s ? "" : ";", t, pos[t], fw ? 'F' : 'B', a->mb, what(a->kind),
                                fw ? t - 1 : t + 1);
        }
        rc = -1;
    }

    for (int l = 0; l < nlinks && rc == 0; l++) {
        if (act[l].head < act[l].tail)
            rc = fail(err, errlen, "stage %d sends the activation of micro-batch %d to stage %d,"
                      " which never receives it", l, act[l].mb[act[l].head], l + 1);
        else if (grad[l].head < grad[l].tail)
            rc = fail(err, errlen, "stage %d sends the gradient of micro-batch %d to stage %d,"
                      " which never receives it", l + 1, grad[l].mb[grad[l].head], l);
    }

    for (int l = 0; l < nlinks; l++) {
        free(act[l].mb);
        free(grad[l].mb);
    }
    free(act);
    free(grad);
    free(pos);
    return rc;
}

int schedule_simulate(const char *engine, int pp, int m, char *err, int errlen)
{
    Schedule *st = xcalloc((size_t)pp, sizeof *st);
    int rc = 0;
    for (int s = 0; s < pp && rc == 0; s++)
        if (schedule_build(&st[s], engine, pp, s, m))
            rc = fail(err, errlen, "unknown pipeline engine \"%s\" (afab, 1f1b)", engine);
    if (rc == 0)
        rc = schedule_check(st, pp, m, err, errlen);
    for (int s = 0; s < pp; s++)
        schedule_free(&st[s]);
    free(st);
    return rc;
}

/* Action index of (kind, mb) on a stage's list, or −1. */
static int find_action(const Schedule *st, ActionKind kind, int mb)
{
    for (int i = 0; i < st->n; i++)
        if (st->a[i].kind == kind && st->a[i].mb == mb)
            return i;
    return -1;
}

void schedule_idle(const Schedule *stages, int pp, const ScheduleTimes *tm, double **idle)
{
    double **end = xcalloc((size_t)pp, sizeof *end); /* [pp][n] end time, −1: not yet run */
    int *next = xcalloc((size_t)pp, sizeof *next);   /* [pp] next action to place */
    for (int s = 0; s < pp; s++) {
        end[s] = xmalloc((size_t)stages[s].n * sizeof **end);
        for (int i = 0; i < stages[s].n; i++)
            end[s][i] = -1.0;
    }
    /* place actions whose message has been sent until none is left (the schedules are
     * deadlock-free, so every sweep places at least one) */
    for (int placed = 1; placed;) {
        placed = 0;
        for (int s = 0; s < pp; s++) {
            while (next[s] < stages[s].n) {
                int i = next[s];
                const Action *a = &stages[s].a[i];
                double ready = i > 0 ? end[s][i - 1] : tm->start ? tm->start[s] : 0.0;
                double arrive = 0.0;
                if (a->recv) {
                    int from = a->kind == ACT_FORWARD ? s - 1 : s + 1;
                    int j = find_action(&stages[from], a->kind, a->mb);
                    if (j < 0 || end[from][j] < 0)
                        break;
                    arrive = end[from][j] + tm->lat;
                }
                double start = arrive > ready ? arrive : ready;
                idle[s][i] = start - ready;
                end[s][i] = start + tm->dur[s][i];
                next[s]++;
                placed = 1;
            }
        }
    }
    for (int s = 0; s < pp; s++)
        free(end[s]);
    free(end);
    free(next);
}
