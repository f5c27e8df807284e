/* mpi_check: the CHECK of the plain MPI test programs (not Check suites: Check forks, which is
 * unsafe under MPI). A failed check prints one line naming the world rank and counts; the
 * program agrees the count at the end so that all ranks exit 1 together. */
#ifndef PICOTRON_TEST_MPI_CHECK_H
#define PICOTRON_TEST_MPI_CHECK_H

#include <stdio.h>

static int world_rank, checks, failures;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        checks++;                                                                              \
        if (!(cond)) {                                                                         \
            failures++;                                                                        \
            printf("FAIL %s:%d: %s (world rank %d: ", __FILE__, __LINE__, #cond, world_rank); \
            printf(__VA_ARGS__);                                                               \
            printf(")\n");                                                                     \
            fflush(stdout);                                                                    \
        }                                                                                      \
    } while (0)

#endif
