/* test_schedule: the AFAB and 1F1B action lists of every stage for pp ∈ {1,2,3,4} and
 * m ∈ {1, 2, pp, 2·pp+1} (coverage, order, communication flags, warm-up, in-flight count),
 * a few sequences written out by hand, and the simulator on sound and deliberately broken
 * schedules. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "schedule.h"

static const char *ENGINES[] = {"afab", "1f1b"};

/* m ∈ {1, 2, pp, 2·pp+1}: fewer, as many as, and more micro-batches than stages. */
static void ms_for(int pp, int ms[4]) { ms[0] = 1, ms[1] = 2, ms[2] = pp, ms[3] = 2 * pp + 1; }

static int min_int(int a, int b) { return a < b ? a : b; }

static Schedule build(const char *engine, int pp, int stage, int m)
{
    Schedule s;
    ck_assert_int_eq(schedule_build(&s, engine, pp, stage, m), 0);
    return s;
}

/* "F0 F1 B0 …": the order alone, to compare with sequences written by hand. */
static void order_string(const Schedule *s, char *out, size_t len)
{
    size_t off = 0;
    out[0] = '\0';
    for (int i = 0; i < s->n && off < len; i++)
        off += (size_t)snprintf(out + off, len - off, "%s%c%d", i ? " " : "",
                                s->a[i].kind == ACT_FORWARD ? 'F' : 'B', s->a[i].mb);
}

static void assert_order(const char *engine, int pp, int stage, int m, const char *want)
{
    Schedule s = build(engine, pp, stage, m);
    char got[256];
    order_string(&s, got, sizeof got);
    ck_assert_msg(strcmp(got, want) == 0, "%s pp=%d stage=%d m=%d: got \"%s\", want \"%s\"",
                  engine, pp, stage, m, got, want);
    schedule_free(&s);
}

/* ---- every engine, pp, stage and m ---- */

START_TEST(every_microbatch_is_forwarded_once_then_backwarded_once)
{
    for (int e = 0; e < 2; e++)
        for (int pp = 1; pp <= 4; pp++) {
            int ms[4];
            ms_for(pp, ms);
            for (int k = 0; k < 4; k++)
                for (int stage = 0; stage < pp; stage++) {
                    int m = ms[k];
                    Schedule s = build(ENGINES[e], pp, stage, m);
                    ck_assert_int_eq(s.n, 2 * m);
                    int fwd_at[16], bwd_at[16];
                    for (int mb = 0; mb < m; mb++)
                        fwd_at[mb] = bwd_at[mb] = -1;
                    for (int i = 0; i < s.n; i++) {
                        const Action *a = &s.a[i];
                        ck_assert(a->mb >= 0 && a->mb < m);
                        int *at = a->kind == ACT_FORWARD ? fwd_at : bwd_at;
                        ck_assert_msg(at[a->mb] < 0, "%s pp=%d stage=%d m=%d: %c%d twice",
                                      ENGINES[e], pp, stage, m,
                                      a->kind == ACT_FORWARD ? 'F' : 'B', a->mb);
                        at[a->mb] = i;
                    }
                    for (int mb = 0; mb < m; mb++) {
                        ck_assert(fwd_at[mb] >= 0 && bwd_at[mb] >= 0);
                        ck_assert_msg(fwd_at[mb] < bwd_at[mb],
                                      "%s pp=%d stage=%d m=%d: B%d before F%d", ENGINES[e], pp,
                                      stage, m, mb, mb);
                    }
                    schedule_free(&s);
                }
        }
}
END_TEST

START_TEST(forwards_and_backwards_each_run_in_microbatch_order)
{
    for (int e = 0; e < 2; e++)
        for (int pp = 1; pp <= 4; pp++) {
            int ms[4];
            ms_for(pp, ms);
            for (int k = 0; k < 4; k++)
                for (int stage = 0; stage < pp; stage++) {
                    Schedule s = build(ENGINES[e], pp, stage, ms[k]);
                    int next_f = 0, next_b = 0;
                    for (int i = 0; i < s.n; i++) {
                        if (s.a[i].kind == ACT_FORWARD)
                            ck_assert_int_eq(s.a[i].mb, next_f++);
                        else
                            ck_assert_int_eq(s.a[i].mb, next_b++);
                    }
                    schedule_free(&s);
                }
        }
}
END_TEST

START_TEST(recv_and_send_flags_follow_the_stage_position)
{
    for (int e = 0; e < 2; e++)
        for (int pp = 1; pp <= 4; pp++) {
            int ms[4];
            ms_for(pp, ms);
            for (int k = 0; k < 4; k++)
                for (int stage = 0; stage < pp; stage++) {
                    int first = stage == 0, last = stage == pp - 1;
                    Schedule s = build(ENGINES[e], pp, stage, ms[k]);
                    for (int i = 0; i < s.n; i++) {
                        const Action *a = &s.a[i];
                        if (a->kind == ACT_FORWARD) {
                            ck_assert_int_eq(a->recv, !first); /* activation from stage−1 */
                            ck_assert_int_eq(a->send, !last);  /* activation to stage+1 */
                        } else {
                            ck_assert_int_eq(a->recv, !last);  /* gradient from stage+1 */
                            ck_assert_int_eq(a->send, !first); /* gradient to stage−1 */
                        }
                    }
                    schedule_free(&s);
                }
        }
}
END_TEST

START_TEST(all_stages_together_pair_every_send_with_a_receive_without_deadlock)
{
    for (int e = 0; e < 2; e++)
        for (int pp = 1; pp <= 4; pp++) {
            int ms[4];
            ms_for(pp, ms);
            for (int k = 0; k < 4; k++) {
                char err[512] = "";
                ck_assert_msg(schedule_simulate(ENGINES[e], pp, ms[k], err, sizeof err) == 0,
                              "%s pp=%d m=%d: %s", ENGINES[e], pp, ms[k], err);
            }
        }
}
END_TEST

START_TEST(onef1b_warmup_is_min_of_pp_minus_stage_minus_1_and_m)
{
    for (int pp = 1; pp <= 4; pp++) {
        int ms[4];
        ms_for(pp, ms);
        for (int k = 0; k < 4; k++)
            for (int stage = 0; stage < pp; stage++) {
                Schedule s = build("1f1b", pp, stage, ms[k]);
                ck_assert_int_eq(s.warmup, min_int(pp - stage - 1, ms[k]));
                schedule_free(&s);
            }
    }
}
END_TEST

START_TEST(onef1b_in_flight_is_min_of_pp_minus_stage_and_m_never_above_pp)
{
    for (int pp = 1; pp <= 4; pp++) {
        int ms[4];
        ms_for(pp, ms);
        for (int k = 0; k < 4; k++)
            for (int stage = 0; stage < pp; stage++) {
                Schedule s = build("1f1b", pp, stage, ms[k]);
                ck_assert_int_eq(s.max_in_flight, min_int(pp - stage, ms[k]));
                ck_assert_int_le(s.max_in_flight, pp);
                schedule_free(&s);
            }
    }
}
END_TEST

START_TEST(afab_warmup_and_in_flight_are_m)
{
    for (int pp = 1; pp <= 4; pp++) {
        int ms[4];
        ms_for(pp, ms);
        for (int k = 0; k < 4; k++)
            for (int stage = 0; stage < pp; stage++) {
                Schedule s = build("afab", pp, stage, ms[k]);
                ck_assert_int_eq(s.warmup, ms[k]);
                ck_assert_int_eq(s.max_in_flight, ms[k]);
                schedule_free(&s);
            }
    }
}
END_TEST

/* ---- sequences written out by hand ---- */

START_TEST(onef1b_pp3_m4_by_hand)
{
    assert_order("1f1b", 3, 0, 4, "F0 F1 F2 B0 F3 B1 B2 B3");
    assert_order("1f1b", 3, 1, 4, "F0 F1 B0 F2 B1 F3 B2 B3");
    assert_order("1f1b", 3, 2, 4, "F0 B0 F1 B1 F2 B2 F3 B3");
}
END_TEST

START_TEST(onef1b_with_fewer_microbatches_than_stages_is_all_forwards_then_all_backwards)
{
    /* w = min(3, 2) = 2 = m on stage 0: no steady-state rounds at all. */
    assert_order("1f1b", 4, 0, 2, "F0 F1 B0 B1");
    assert_order("1f1b", 4, 2, 2, "F0 F1 B0 B1");
    assert_order("1f1b", 4, 3, 2, "F0 B0 F1 B1");
}
END_TEST

START_TEST(afab_pp3_m4_by_hand)
{
    for (int stage = 0; stage < 3; stage++)
        assert_order("afab", 3, stage, 4, "F0 F1 F2 F3 B0 B1 B2 B3");
}
END_TEST

START_TEST(pp1_is_forward_backward_pairs_for_1f1b_and_all_forwards_first_for_afab)
{
    assert_order("1f1b", 1, 0, 3, "F0 B0 F1 B1 F2 B2");
    assert_order("afab", 1, 0, 3, "F0 F1 F2 B0 B1 B2");
    Schedule s = build("1f1b", 1, 0, 3);
    ck_assert_int_eq(s.warmup, 0);
    ck_assert_int_eq(s.max_in_flight, 1);
    schedule_free(&s);
}
END_TEST

START_TEST(print_writes_one_line_per_action_with_its_communication)
{
    const char *want[3] = {
        /* pp=3, m=2, 1f1b: first stage only sends activations and receives gradients */
        "F0 send\nF1 send\nB0 recv\nB1 recv\n",
        /* middle stage does both on every action */
        "F0 recv send\nF1 recv send\nB0 recv send\nB1 recv send\n",
        /* last stage: receives activations, sends gradients */
        "F0 recv\nB0 send\nF1 recv\nB1 send\n",
    };
    for (int stage = 0; stage < 3; stage++) {
        Schedule s = build("1f1b", 3, stage, 2);
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        ck_assert_ptr_nonnull(f);
        schedule_print(&s, f);
        fclose(f);
        ck_assert_msg(strcmp(buf, want[stage]) == 0, "stage %d printed:\n%s", stage, buf);
        free(buf);
        schedule_free(&s);
    }
}
END_TEST

START_TEST(unknown_engine_is_refused)
{
    Schedule s;
    ck_assert_int_eq(schedule_build(&s, "gpipe", 2, 0, 4), -1);
    ck_assert_ptr_null(s.a);
    char err[256] = "";
    ck_assert_int_eq(schedule_simulate("gpipe", 2, 4, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "gpipe") != NULL, "err: %s", err);
}
END_TEST

/* ---- the simulator on broken schedules ---- */

/* All stages of engine, for editing by hand before schedule_check. */
static void build_all(Schedule *st, const char *engine, int pp, int m)
{
    for (int s = 0; s < pp; s++)
        st[s] = build(engine, pp, s, m);
}

static void free_all(Schedule *st, int pp)
{
    for (int s = 0; s < pp; s++)
        schedule_free(&st[s]);
}

static void swap(Action *a, Action *b)
{
    Action t = *a;
    *a = *b;
    *b = t;
}

static void assert_check_fails(const Schedule *st, int pp, int m, const char *needle)
{
    char err[512] = "";
    ck_assert_int_eq(schedule_check(st, pp, m, err, sizeof err), -1);
    ck_assert_msg(strstr(err, needle) != NULL, "err \"%s\" lacks \"%s\"", err, needle);
}

START_TEST(check_accepts_the_built_schedules)
{
    Schedule st[4];
    build_all(st, "1f1b", 4, 9);
    char err[256] = "";
    ck_assert_msg(schedule_check(st, 4, 9, err, sizeof err) == 0, "%s", err);
    free_all(st, 4);
}
END_TEST

START_TEST(check_catches_two_backwards_swapped_on_the_first_stage_of_1f1b)
{
    /* pp=2 m=3, stage 0 = F0 F1 B0 F2 B1 B2 → F0 F1 B0 F2 B2 B1: stage 1 sends B1's gradient
     * before B2's, so stage 0's B2 meets micro-batch 1 on the link. */
    Schedule st[2];
    build_all(st, "1f1b", 2, 3);
    swap(&st[0].a[4], &st[0].a[5]);
    char got[128];
    order_string(&st[0], got, sizeof got);
    ck_assert_str_eq(got, "F0 F1 B0 F2 B2 B1");
    assert_check_fails(st, 2, 3, "stage 0 action 4 (B2) receives the gradient of micro-batch 1");
    free_all(st, 2);
}
END_TEST

START_TEST(check_catches_two_backwards_swapped_on_the_last_stage_of_afab)
{
    /* stage 2 = F0 F1 F2 B0 B1 B2 → F0 F1 F2 B1 B0 B2: stage 1 gets B1's gradient first. */
    Schedule st[3];
    build_all(st, "afab", 3, 3);
    swap(&st[2].a[3], &st[2].a[4]);
    assert_check_fails(st, 3, 3, "out of order");
    free_all(st, 3);
}
END_TEST

START_TEST(check_catches_a_deadlock)
{
    /* pp=2 m=2: stage 0 runs F0 B0 F1 B1 (no warm-up), stage 1 runs F0 F1 B0 B1. Stage 0
     * waits for B0's gradient, stage 1 for F1's activation: neither can move. */
    Schedule st[2];
    st[0] = build("1f1b", 2, 1, 2); /* the last stage's order ... */
    st[1] = build("afab", 2, 1, 2);
    for (int i = 0; i < 4; i++) { /* ... with the first stage's flags */
        int fw = st[0].a[i].kind == ACT_FORWARD;
        st[0].a[i].recv = !fw;
        st[0].a[i].send = fw;
    }
    assert_check_fails(st, 2, 2, "deadlock");
    assert_check_fails(st, 2, 2, "stage 0 waits at action 1 (B0)");
    assert_check_fails(st, 2, 2, "stage 1 waits at action 1 (F1)");
    free_all(st, 2);
}
END_TEST

START_TEST(check_catches_a_middle_stage_that_forgets_to_receive)
{
    Schedule st[3];
    build_all(st, "1f1b", 3, 4);
    st[1].a[0].recv = 0; /* F0 on stage 1 never takes stage 0's activation off the link */
    assert_check_fails(st, 3, 4, "out of order");
    free_all(st, 3);

    build_all(st, "afab", 3, 1);
    st[1].a[0].recv = 0; /* with one micro-batch the message is simply left behind */
    assert_check_fails(st, 3, 1, "never receives");
    free_all(st, 3);
}
END_TEST

START_TEST(check_catches_communication_past_the_ends_of_the_pipe)
{
    Schedule st[2];
    build_all(st, "1f1b", 2, 2);
    st[0].a[0].recv = 1; /* stage 0 has no stage −1 */
    assert_check_fails(st, 2, 2, "does not exist");
    free_all(st, 2);

    build_all(st, "1f1b", 2, 2);
    st[1].a[0].send = 1; /* the last stage has no stage +1 */
    assert_check_fails(st, 2, 2, "does not exist");
    free_all(st, 2);
}
END_TEST

START_TEST(check_catches_a_stage_that_repeats_or_misorders_a_microbatch)
{
    Schedule st[2];
    build_all(st, "afab", 2, 2);
    st[1].a[1].mb = 0; /* F0 F0 B0 B1 */
    assert_check_fails(st, 2, 2, "repeats");
    free_all(st, 2);

    build_all(st, "afab", 2, 2);
    swap(&st[0].a[1], &st[0].a[3]); /* F0 F1 B0 B1 → F0 B1 B0 F1 */
    assert_check_fails(st, 2, 2, "backward before its forward");
    free_all(st, 2);

    build_all(st, "afab", 2, 2);
    st[0].a[2].mb = 5;
    assert_check_fails(st, 2, 2, "outside 0..1");
    free_all(st, 2);
}
END_TEST

/* Idle slots worked out by hand on a timeline (forward 1, backward 2, messages instant):
 * 1F1B pp2 m4: stage 0 runs F0 F1 B0 F2 B1 F3 B2 B3 and waits 2 before B0 (stage 1's B0
 * ends at 4, its own F1 at 2) and 1 before B3 (13 against 12); stage 1 runs F0 B0 F1 B1 F2
 * B2 F3 B3 and waits 1 for its first input only. AFAB pp2 m2: stage 1 waits 1 before F0,
 * stage 0 waits 3 before B0 (stage 1's B0 ends at 5). Starting stage 1 later by 0.5 and
 * delaying every message by 0.25 shifts them by hand too (1f1b_late below). */
static void expect_idle(const char *engine, int m, const double *want0, const double *want1)
{
    Schedule st[2];
    double i0[16], i1[16], *idle[2] = {i0, i1};
    double d0[16], d1[16], *dur[2] = {d0, d1};
    for (int s = 0; s < 2; s++) {
        schedule_build(&st[s], engine, 2, s, m);
        for (int i = 0; i < st[s].n; i++) /* forward 1, backward 2 */
            dur[s][i] = st[s].a[i].kind == ACT_FORWARD ? 1 : 2;
    }
    ScheduleTimes tm = {dur, NULL, 0.0};
    schedule_idle(st, 2, &tm, idle);
    for (int i = 0; i < 2 * m; i++) {
        ck_assert_msg(i0[i] == want0[i], "%s stage 0 action %d idle %g, want %g", engine, i,
                      i0[i], want0[i]);
        ck_assert_msg(i1[i] == want1[i], "%s stage 1 action %d idle %g, want %g", engine, i,
                      i1[i], want1[i]);
    }
    for (int s = 0; s < 2; s++)
        schedule_free(&st[s]);
}

START_TEST(idle_slots_with_latency_and_a_late_stage)
{
    /* stage 1 starts at 0.5, messages take 0.25: s1 F0 waits 1 + 0.25 − 0.5 = 0.75 and starts
     * at 1.25, B0 ends at 4.25, so s0 B0 waits 4.5 − 2 = 2.5; s1 F1 gets F1 (sent at 2) at
     * 2.25 < 4.25: no wait. */
    Schedule st[2];
    double i0[8], i1[8], *idle[2] = {i0, i1};
    double d0[8], d1[8], *dur[2] = {d0, d1};
    const double start[2] = {0, 0.5};
    for (int s = 0; s < 2; s++) {
        schedule_build(&st[s], "1f1b", 2, s, 4);
        for (int i = 0; i < st[s].n; i++)
            dur[s][i] = st[s].a[i].kind == ACT_FORWARD ? 1 : 2;
    }
    ScheduleTimes tm = {dur, start, 0.25};
    schedule_idle(st, 2, &tm, idle);
    ck_assert_msg(i1[0] == 0.75 && i0[2] == 2.5 && i1[2] == 0.0, "s1 F0 %g, s0 B0 %g, s1 F1 %g",
                  i1[0], i0[2], i1[2]);
    for (int s = 0; s < 2; s++)
        schedule_free(&st[s]);
}
END_TEST

START_TEST(idle_slots_by_hand)
{
    const double f0[8] = {0, 0, 2, 0, 0, 0, 0, 1}, f1[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    expect_idle("1f1b", 4, f0, f1);
    const double a0[4] = {0, 0, 3, 0}, a1[4] = {1, 0, 0, 0};
    expect_idle("afab", 2, a0, a1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("schedule");
    TCase *ta = tcase_create("all");
    tcase_add_test(ta, every_microbatch_is_forwarded_once_then_backwarded_once);
    tcase_add_test(ta, forwards_and_backwards_each_run_in_microbatch_order);
    tcase_add_test(ta, recv_and_send_flags_follow_the_stage_position);
    tcase_add_test(ta, all_stages_together_pair_every_send_with_a_receive_without_deadlock);
    tcase_add_test(ta, onef1b_warmup_is_min_of_pp_minus_stage_minus_1_and_m);
    tcase_add_test(ta, onef1b_in_flight_is_min_of_pp_minus_stage_and_m_never_above_pp);
    tcase_add_test(ta, afab_warmup_and_in_flight_are_m);
    suite_add_tcase(s, ta);
    TCase *th = tcase_create("by_hand");
    tcase_add_test(th, onef1b_pp3_m4_by_hand);
    tcase_add_test(th, onef1b_with_fewer_microbatches_than_stages_is_all_forwards_then_all_backwards);
    tcase_add_test(th, afab_pp3_m4_by_hand);
    tcase_add_test(th, pp1_is_forward_backward_pairs_for_1f1b_and_all_forwards_first_for_afab);
    tcase_add_test(th, print_writes_one_line_per_action_with_its_communication);
    tcase_add_test(th, unknown_engine_is_refused);
    tcase_add_test(th, idle_slots_by_hand);
    tcase_add_test(th, idle_slots_with_latency_and_a_late_stage);
    suite_add_tcase(s, th);
    TCase *tc = tcase_create("check");
    tcase_add_test(tc, check_accepts_the_built_schedules);
    tcase_add_test(tc, check_catches_two_backwards_swapped_on_the_first_stage_of_1f1b);
    tcase_add_test(tc, check_catches_two_backwards_swapped_on_the_last_stage_of_afab);
    tcase_add_test(tc, check_catches_a_deadlock);
    tcase_add_test(tc, check_catches_a_middle_stage_that_forgets_to_receive);
    tcase_add_test(tc, check_catches_communication_past_the_ends_of_the_pipe);
    tcase_add_test(tc, check_catches_a_stage_that_repeats_or_misorders_a_microbatch);
    suite_add_tcase(s, tc);
    return check_run(s);
}
