/* schedule: pipeline schedules (AFAB, 1F1B) as plain lists of forward/backward actions per
 * stage, built before the step and executed by the trainer; printable, and checkable by a
 * simulator of all stages that needs no model (docs/math.md, Pipeline schedules). */
#ifndef PICOTRON_SCHEDULE_H
#define PICOTRON_SCHEDULE_H

#include <stdio.h>

typedef enum { ACT_FORWARD, ACT_BACKWARD } ActionKind;

typedef struct {
    ActionKind kind;
    int mb;          /* micro-batch index 0..m-1 */
    int recv;        /* forward: receive the activation of mb from stage−1 first (0 on stage 0);
                        backward: receive the gradient of mb from stage+1 first (0 on the last stage) */
    int send;        /* forward: send mb's output activation to stage+1 afterwards (0 on the last stage);
                        backward: send mb's input gradient to stage−1 afterwards (0 on stage 0) */
} Action;

typedef struct {
    Action *a;         /* (n) in execution order */
    int n;             /* 2·m actions */
    int warmup;        /* w: forwards before the first F-then-B round (AFAB: m); the first
                          backward comes after w + 1 forwards when w < m, after m otherwise */
    int max_in_flight; /* most micro-batches forwarded but not yet backwarded at any time */
} Schedule;

/* engine "afab" | "1f1b"; pp ≥ 1, 0 ≤ stage < pp, m ≥ 1. Returns 0, or -1 on an unknown engine
 * (the config layer validates engines, so this is a programmer error); s is then empty. */
int schedule_build(Schedule *s, const char *engine, int pp, int stage, int m);
void schedule_free(Schedule *s);

/* One line per action, "F0 recv send" / "B3 recv" / "F2": kind, micro-batch, then the
 * communication it does; for `picotron-train --print-schedule` and tests. */
void schedule_print(const Schedule *s, FILE *f);

/* Check the schedules of all pp stages together: on every stage each micro-batch 0..m-1 is
 * forwarded once and backwarded once, forward first; then run them with non-blocking sends
 * (a send never blocks, a receive waits for its message) and require every receive to meet
 * the next message on its link and direction (FIFO) for the same micro-batch, no deadlock,
 * no message left unreceived. Returns 0 when consistent, else -1 with one line in err naming
 * the stage and action. Exposed so tests can hand it deliberately broken schedules. */
int schedule_check(const Schedule *stages, int pp, int m, char *err, int errlen);

/* Times for schedule_idle: how long action i of stage s takes (dur[s][i]), when each stage
 * starts its list (start NULL: all at 0), how long a message takes (lat). */
typedef struct {
    double *const *dur;
    const double *start;
    double lat;
} ScheduleTimes;

/* The idle slots of a set of consistent stage schedules (schedule_check passes): every stage
 * runs its list in order from its start, an action that receives waiting for the sending
 * action on the neighbour stage to end plus the latency. idle[s][i] is the time stage s sits
 * waiting before its action i: the pipeline's bubbles, as the trace tool compares them with a
 * real run. */
void schedule_idle(const Schedule *stages, int pp, const ScheduleTimes *tm, double **idle);

/* Build every stage's schedule for engine and schedule_check them. Returns 0 or -1 (err). */
int schedule_simulate(const char *engine, int pp, int m, char *err, int errlen);

#endif
