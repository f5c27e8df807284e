/* picotron-trace: the timelines that picotron-train --trace writes — merge the ranks' files
 * into one, check and summarise one (step coverage, waits per group, pipeline bubbles against
 * the schedule), list its spans as a table for plotting. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "schedule.h"
#include "trace.h"
#include "tracefile.h"

#define PROG "picotron-trace"

static const char usage[] =
    "usage: picotron-trace merge -o OUT FILE...\n"
    "       picotron-trace summary FILE\n"
    "       picotron-trace spans FILE\n"
    "\n"
    "Timelines written by picotron-train --trace FILE (Chrome trace-event JSON: open them in\n"
    "https://ui.perfetto.dev or chrome://tracing). Every command first checks the file: JSON,\n"
    "spans nesting on each track, async slices paired. docs/trace.md says how to read one.\n"
    "\n"
    "  merge      join the ranks' files (FILE.rank<R>.json) into one timeline, each rank's\n"
    "             clock counted from its exit of the barrier all ranks passed at the start\n"
    "  summary    per rank and step: step time, the share of it the top-level compute spans\n"
    "             cover, the time spent waiting per communication group; with pp > 1 the\n"
    "             bubbles before each pipeline action against the idle slots the schedule\n"
    "             predicts from the measured action times and message latency (bubble/idle\n"
    "             in ms per slot that has either, '!' where they disagree; docs/trace.md)\n"
    "  spans      one line per span: rank track depth start_us dur_us name (tab-separated)\n"
    "\n"
    "options:\n"
    "  -o, --out FILE   merge: the merged timeline (written atomically)\n"
    "  -h, --help       this help\n"
    "\n"
    "exit status: 0 done, 1 I/O error, 2 bad option or a file that is not a valid trace\n"
    "  (one line naming it)\n"
    "\n"
    "example:\n"
    "  picotron-train --config demo.json --trace run.json --trace-steps 3:4\n"
    "  picotron-trace merge -o run.json run.rank*.json && picotron-trace summary run.json\n";

static const char *const TRACK[TRACKS] = {"compute", "other", "tp", "cp", "pp", "dp", "steps"};

static void cmd_spans(const TraceFile *tf)
{
    for (size_t i = 0; i < tf->n; i++) {
        const Span *s = &tf->span[i];
        printf("%d\t%s\t%d\t%.3f\t%.3f\t%s\n", s->pid,
               s->tid >= 0 && s->tid < TRACKS ? TRACK[s->tid] : "?", s->depth, s->ts, s->dur,
               s->name);
    }
}

/* How a stage's bubbles are held against the schedule's idle slots (times in mean forwards,
 * F, of the step), loose enough for a shared machine's jitter, tight enough to catch a bubble
 * in the wrong place or of the wrong size:
 *   - the bubbles add up to the schedule's idle time within a quarter of it (at least F/2);
 *   - every slot the schedule idles for longer than F has a bubble of at least half that;
 *   - no slot the schedule keeps busy (idle under F/4) has a bubble longer than F. */
#define TOTAL_TOL 0.25
#define IDLE_SLOT 1.0
#define BUSY_SLOT 0.25

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median time from a sending action's end to the start of the action waiting for its
 * message, over the waits that began before the message was sent: the latency the pipeline
 * messages had in this step. */
static double message_latency(const Schedule *sch, TraceAction *const *act, int pp)
{
    double *lat = NULL;
    int n = 0, cap = 0;
    for (int s = 0; s < pp; s++)
        for (int i = 0; i < sch[s].n; i++) {
            const Action *a = &sch[s].a[i];
            if (!a->recv || act[s][i].bubble <= 0.0)
                continue;
            int from = a->kind == ACT_FORWARD ? s - 1 : s + 1;
            for (int j = 0; j < sch[from].n; j++) {
                const TraceAction *x = &act[from][j];
                double sent = x->ts + x->dur;
                if (x->kind != act[s][i].kind || x->mb != act[s][i].mb ||
                    sent < act[s][i].ts - act[s][i].bubble)
                    continue;
                if (n == cap) {
                    cap = 2 * cap + 8;
                    double *grown = xcalloc((size_t)cap, sizeof *grown);
                    if (n)
                        memcpy(grown, lat, (size_t)n * sizeof *lat);
                    free(lat);
                    lat = grown;
                }
                lat[n++] = act[s][i].ts - sent;
            }
        }
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    double med = n ? lat[n / 2] : 0.0;
    free(lat);
    return med;
}

/* The bubbles of one step of the pipeline (one rank per stage: stage_rank[s] indexes tf->rank)
 * against schedule_idle fed with the step's measured action times, the time each stage was
 * ready for its first action and the measured message latency: where the schedule makes a
 * stage wait, and how long, given how long the work took. */
static void pipeline_bubbles(const TraceFile *tf, const int *stage_rank, int pp, int step)
{
    int m = tracefile_run_int(tf, stage_rank[0], "micro_batches");
    const char *engine = tracefile_run_str(tf, stage_rank[0], "pp_engine");
    Schedule *sch = xcalloc((size_t)pp, sizeof *sch);
    TraceAction **act = xcalloc((size_t)pp, sizeof *act);
    double *tf_ = xcalloc((size_t)pp, sizeof *tf_), *tb = xcalloc((size_t)pp, sizeof *tb);
    double *start = xcalloc((size_t)pp, sizeof *start);
    double **dur = xcalloc((size_t)pp, sizeof *dur);
    double **idle = xcalloc((size_t)pp, sizeof *idle);
    int ok = m > 0;
    double fmean = 0.0;
    for (int s = 0; s < pp && ok; s++) {
        const TraceRank *r = &tf->rank[stage_rank[s]];
        TraceStep *steps = NULL, *st = NULL;
        int ns = tracefile_steps(tf, r->rank, &steps);
        for (int k = 0; k < ns; k++)
            if (steps[k].step == step)
                st = &steps[k];
        int na = st ? tracefile_actions(tf, r->rank, st, &act[s]) : 0;
        free(steps);
        if (schedule_build(&sch[s], engine, pp, s, m) || na != sch[s].n) {
            printf("step %d stage %d: %d pipeline actions in the trace, the %s schedule has "
                   "%d\n", step, s, na, engine, 2 * m);
            ok = 0;
            break;
        }
        int nf = 0, nb = 0;
        for (int i = 0; i < na; i++) {
            const Action *a = &sch[s].a[i];
            if ((a->kind == ACT_FORWARD ? 'F' : 'B') != act[s][i].kind || a->mb != act[s][i].mb) {
                printf("step %d stage %d: action %d is %c%d, the schedule's is %c%d\n", step, s,
                       i, act[s][i].kind, act[s][i].mb, a->kind == ACT_FORWARD ? 'F' : 'B',
                       a->mb);
                ok = 0;
            }
            if (act[s][i].kind == 'F') {
                tf_[s] += act[s][i].dur;
                nf++;
            } else {
                tb[s] += act[s][i].dur;
                nb++;
            }
        }
        tf_[s] /= nf ? nf : 1;
        tb[s] /= nb ? nb : 1;
        start[s] = act[s][0].ts - act[s][0].bubble; /* ready for its first action */
        fmean += tf_[s] / pp;
        idle[s] = xcalloc((size_t)na + 1, sizeof **idle);
        dur[s] = xcalloc((size_t)na + 1, sizeof **dur);
        for (int i = 0; i < na; i++)
            dur[s][i] = act[s][i].dur;
    }
    if (ok) {
        double lat = message_latency(sch, act, pp), F = fmean;
        ScheduleTimes tm = {dur, start, lat};
        schedule_idle(sch, pp, &tm, idle);
        for (int s = 0; s < pp; s++) {
            char slots[512] = "";
            double got_sum = 0.0, want_sum = 0.0;
            int bad = 0;
            for (int i = 0; i < sch[s].n; i++) {
                double got = act[s][i].bubble, want = idle[s][i];
                got_sum += got;
                want_sum += want;
                int off = (want > IDLE_SLOT * F && got < 0.5 * want) ||
                          (want < BUSY_SLOT * F && got > F);
                bad += off;
                if (got < BUSY_SLOT * F && want < BUSY_SLOT * F)
                    continue;
                char item[64];
                snprintf(item, sizeof item, " %c%d %.1f/%.1f%s", act[s][i].kind, act[s][i].mb,
                         got / 1e3, want / 1e3, off ? "!" : "");
                if (strlen(slots) + strlen(item) < sizeof slots)
                    strcat(slots, item);
            }
            double tol = TOTAL_TOL * want_sum > 0.5 * F ? TOTAL_TOL * want_sum : 0.5 * F;
            int total_off = got_sum - want_sum > tol || want_sum - got_sum > tol;
            printf("step %d stage %d (%s, m=%d, forward %.1f ms, backward %.1f ms, message "
                   "latency %.1f ms): bubble/schedule idle ms:%s; total %.1f/%.1f%s: %s\n",
                   step, s, engine, m, tf_[s] / 1e3, tb[s] / 1e3, lat / 1e3,
                   slots[0] ? slots : " none", got_sum / 1e3, want_sum / 1e3,
                   total_off ? "!" : "", bad || total_off ? "MISMATCH" : "match");
        }
    }
    for (int s = 0; s < pp; s++) {
        schedule_free(&sch[s]);
        free(act[s]);
        free(idle[s]);
        free(dur[s]);
    }
    free(dur);
    free(sch);
    free(act);
    free(tf_);
    free(tb);
    free(start);
    free(idle);
}

static void cmd_summary(const TraceFile *tf, const char *path)
{
    printf("%s: %zu spans on %d rank%s of %d, nesting checked\n", path, tf->n, tf->nranks,
           tf->nranks == 1 ? "" : "s", tf->world);
    int pp = 0, nfirst = 0;
    TraceStep *first = NULL;
    for (int i = 0; i < tf->nranks; i++) {
        int rank = tf->rank[i].rank;
        TraceStep *st = NULL;
        int ns = tracefile_steps(tf, rank, &st);
        for (int k = 0; k < ns; k++) {
            printf("rank %d step %d: %.3f ms; top-level compute spans %.3f ms (%.1f%%, %d "
                   "spans); waiting:", rank, st[k].step, st[k].dur / 1e3, st[k].top / 1e3,
                   100.0 * st[k].top / (st[k].dur > 0 ? st[k].dur : 1), st[k].ntop);
            for (int g = TRACK_COMM; g < TRACK_STEPS; g++) {
                int c = 0;
                double w = tracefile_track_time(tf, rank, g, st[k].ts, st[k].dur, &c);
                if (c)
                    printf(" %s %.3f ms (%d)", TRACK[g], w / 1e3, c);
            }
            printf("\n");
        }
        if (tracefile_run_int(tf, i, "pp") > pp)
            pp = tracefile_run_int(tf, i, "pp");
        if (!first) { /* the first rank's steps are the ones compared */
            first = st;
            nfirst = ns;
        } else {
            free(st);
        }
    }
    if (pp > 1 && first) {
        /* the pipeline of dp, cp, tp rank 0: the lowest rank of each stage */
        int *stage_rank = xmalloc((size_t)pp * sizeof *stage_rank), have = 0;
        for (int s = 0; s < pp; s++) {
            stage_rank[s] = -1;
            for (int i = 0; i < tf->nranks && stage_rank[s] < 0; i++)
                if (tracefile_run_int(tf, i, "pp_rank") == s)
                    stage_rank[s] = i;
            have += stage_rank[s] >= 0;
        }
        if (have < pp)
            printf("pipeline: %d of %d stages in this file (merge every rank's file to compare "
                   "the bubbles with the schedule)\n", have, pp);
        else
            for (int k = 0; k < nfirst; k++)
                pipeline_bubbles(tf, stage_rank, pp, first[k].step);
        free(stage_rank);
    }
    free(first);
}

int main(int argc, char **argv)
{
    const Cli cli = {.prog = PROG, .usage = usage};
    const char *out = NULL;
    const CliOption options[] = {
        OPT_STRING("out", 'o', &out),
        OPT_END,
    };
    int first = cli_parse(&cli, options, argc, argv);
    if (first >= argc)
        cli_usage_error(&cli, "no command given (merge, summary or spans)");
    const char *cmd = argv[first++];
    Error err = {0};
    if (!strcmp(cmd, "merge")) {
        if (!out)
            cli_usage_error(&cli, "merge: missing -o OUT");
        if (first >= argc)
            cli_usage_error(&cli, "merge: no trace file given");
        if (tracefile_merge((const char *const *)argv + first, argc - first, out, &err))
            cli_fail(&cli, &err);
        cli_exit(&cli, 0);
    }
    if (strcmp(cmd, "summary") && strcmp(cmd, "spans"))
        cli_usage_error(&cli, "unknown command %s (merge, summary or spans)", cmd);
    if (out)
        cli_usage_error(&cli, "%s: -o is for merge", cmd);
    if (argc - first != 1)
        cli_usage_error(&cli, "%s: give one trace file", cmd);
    TraceFile tf;
    if (tracefile_read(&tf, argv[first], &err)) {
        tracefile_free(&tf);
        cli_fail(&cli, &err);
    }
    if (!strcmp(cmd, "summary"))
        cmd_summary(&tf, argv[first]);
    else
        cmd_spans(&tf);
    tracefile_free(&tf);
    cli_exit(&cli, 0);
}
