/* preempt: the stop request set by SIGTERM / SIGUSR1 / SIGINT, the start-up exit and the grace
 * deadline. The handlers only touch sig_atomic_t flags, alarm, write and _exit; the lines they
 * print are composed when the handlers are installed, with '@' where the signal's name goes. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "preempt.h"

static volatile sig_atomic_t stop_requested, started, resumable;
static int grace_s, speaker;
/* [resumable]: the line printed when a signal ends the start-up, the grace deadline or a
 * second signal ends the run */
static char startup_line[2][192], deadline_line[2][192], second_line[2][192];

static void put(const char *text)
{
    ssize_t w = write(STDERR_FILENO, text, strlen(text));
    (void)w;
}

/* Print lines[resumable] (its '@' replaced by the signal's name) and end the process. */
static void say_and_exit(int sig, const char lines[2][192])
{
    int r = resumable != 0;
    if (speaker) {
        char line[192];
        memcpy(line, lines[r], sizeof line);
        char *at = strchr(line, '@');
        if (at)
            *at = '\0';
        put(line);
        if (at) {
            const char *name = sigabbrev_np(sig);
            put("SIG");
            put(name ? name : "?");
            put(at + 1);
        }
    }
    _exit(r ? PT_EREQUEUE : PT_ERUNTIME);
}

static void on_stop_signal(int sig)
{
    if (!started)
        say_and_exit(sig, startup_line);
    if (stop_requested) /* Ctrl-C twice: the user will not wait for the step boundary */
        say_and_exit(sig, second_line);
    if (grace_s > 0)
        alarm((unsigned)grace_s);
    stop_requested = 1;
}

static void on_deadline(int sig)
{
    say_and_exit(sig, deadline_line);
}

void preempt_catch(Preempt *old, const PreemptPolicy *p)
{
    static const char *const then[2] = {"no checkpoint to resume from, exit 1",
                                        "exit 75: resume from the last checkpoint"};
    for (int r = 0; r < 2; r++) {
        snprintf(startup_line[r], sizeof startup_line[r], "%s: stopped by @ before the first "
                 "step: nothing saved; %s\n", p->prog, then[r]);
        snprintf(deadline_line[r], sizeof deadline_line[r], "%s: no step boundary reached %d s "
                 "after the stop signal (--signal-grace): ended without saving; %s\n", p->prog,
                 p->grace, then[r]);
        snprintf(second_line[r], sizeof second_line[r], "%s: a second stop signal (@) before "
                 "the step boundary: ended without saving; %s\n", p->prog, then[r]);
    }
    grace_s = p->grace;
    speaker = p->speaker;
    resumable = p->resumable != 0;
    stop_requested = started = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &old->term);
    sigaction(SIGUSR1, &sa, &old->usr1);
    sigaction(SIGINT, &sa, &old->intr);
    sa.sa_handler = on_deadline;
    sigaction(SIGALRM, &sa, &old->alrm);
}

void preempt_restore(const Preempt *old)
{
    alarm(0);
    sigaction(SIGTERM, &old->term, NULL);
    sigaction(SIGUSR1, &old->usr1, NULL);
    sigaction(SIGINT, &old->intr, NULL);
    sigaction(SIGALRM, &old->alrm, NULL);
}

void preempt_started(void)
{
    started = 1;
}

void preempt_saved(void)
{
    resumable = 1;
}

int preempt_requested(void)
{
    return stop_requested;
}
