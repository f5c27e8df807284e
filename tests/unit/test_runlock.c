/* test_runlock: a run's claim on its directory. While another process holds it, a second
 * claim is refused naming that process's pid and host; when the holder ends, even killed, the
 * kernel frees it; a missing directory is created; a directory that takes no new files (found
 * before step 1, not at the first save) or a file in its place is refused naming the key. */
#include <check.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_run.h"
#include "runlock.h"

static char dir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/pt_test_runlock_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* A child that takes the lock on path, says so on a pipe and then waits to be killed. */
static pid_t holder(const char *path)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(p[0]);
        RunLock l;
        Error err = {0};
        char ok = runlock_take(&l, path, "checkpoint.save_dir", &err) == PT_OK ? 'y' : 'n';
        if (write(p[1], &ok, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    close(p[1]);
    char ok = 0;
    ck_assert_int_eq(read(p[0], &ok, 1), 1);
    close(p[0]);
    ck_assert_msg(ok == 'y', "the child could not take the lock");
    return pid;
}

static void kill_child(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

START_TEST(a_second_claim_is_refused_naming_the_holders_pid_and_host)
{
    char path[128];
    snprintf(path, sizeof path, "%s/ckpt", dir);
    pid_t pid = holder(path);
    RunLock l;
    Error err = {0};
    int rc = runlock_take(&l, path, "checkpoint.save_dir", &err);
    kill_child(pid);
    ck_assert_int_eq(rc, PT_EINPUT);
    ck_assert_int_eq(l.fd, -1);
    char host[256] = "";
    gethostname(host, sizeof host);
    char want[512];
    snprintf(want, sizeof want, "checkpoint.save_dir: %s is in use by pid %ld on host %s ", path,
             (long)pid, host);
    ck_assert_msg(!strncmp(err.msg, want, strlen(want)), "want '%s...', got '%s'", want, err.msg);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
}
END_TEST

START_TEST(a_killed_holder_leaves_the_directory_free)
{
    pid_t pid = holder(dir);
    kill_child(pid);
    RunLock l;
    Error err = {0};
    ck_assert_msg(runlock_take(&l, dir, "logging.run_dir", &err) == PT_OK, "%s", err.msg);
    /* and the lock is really held again: a claim from another process fails now */
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        RunLock l2;
        Error e2 = {0};
        _exit(runlock_take(&l2, dir, "logging.run_dir", &e2) == PT_EINPUT &&
                      strstr(e2.msg, "in use by pid")
                  ? 0
                  : 1);
    }
    int status;
    waitpid(child, &status, 0);
    runlock_release(&l);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "a second process took the lock this one holds");
}
END_TEST

START_TEST(a_missing_directory_is_created)
{
    char path[128];
    snprintf(path, sizeof path, "%s/a/b", dir);
    RunLock l;
    Error err = {0};
    ck_assert_msg(runlock_take(&l, path, "checkpoint.save_dir", &err) == PT_OK, "%s", err.msg);
    runlock_release(&l);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISDIR(st.st_mode));
}
END_TEST

START_TEST(a_file_in_place_of_the_directory_is_refused_naming_the_key)
{
    char path[128];
    snprintf(path, sizeof path, "%s/file", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    RunLock l;
    Error err = {0};
    ck_assert_int_eq(runlock_take(&l, path, "checkpoint.save_dir", &err), PT_EINPUT);
    ck_assert_msg(!strncmp(err.msg, "checkpoint.save_dir: ", 21) && strstr(err.msg, path), "%s",
                  err.msg);
}
END_TEST

/* Even root cannot create files in sysfs: a directory that exists but takes no new files. */
START_TEST(a_directory_that_takes_no_new_files_is_refused)
{
    RunLock l;
    Error err = {0};
    ck_assert_int_eq(runlock_take(&l, "/sys", "checkpoint.save_dir", &err), PT_EINPUT);
    ck_assert_msg(!strncmp(err.msg, "checkpoint.save_dir: /sys is not writable: ", 43), "%s",
                  err.msg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runlock");
    TCase *tc = tcase_create("lock");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, a_second_claim_is_refused_naming_the_holders_pid_and_host);
    tcase_add_test(tc, a_killed_holder_leaves_the_directory_free);
    tcase_add_test(tc, a_missing_directory_is_created);
    tcase_add_test(tc, a_file_in_place_of_the_directory_is_refused_naming_the_key);
    tcase_add_test(tc, a_directory_that_takes_no_new_files_is_refused);
    suite_add_tcase(s, tc);
    return check_run(s);
}
