/* check_run: the end of every unit suite's main — run the suite, report, exit status. */
#ifndef PICOTRON_TEST_CHECK_RUN_H
#define PICOTRON_TEST_CHECK_RUN_H

#include <check.h>

/* Run every test of s (Check's default fork mode); 0 when all passed. */
static inline int check_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed != 0;
}

#endif
