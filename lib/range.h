/* range: half-open index ranges [lo, hi). The one intersection that checkpoint pieces, ZeRO
 * shards, tensor rows and columns are cut with. */
#ifndef PICOTRON_RANGE_H
#define PICOTRON_RANGE_H

#include <stdint.h>

/* [a_lo, a_hi) ∩ [b_lo, b_hi) into [*lo, *hi): 1 when it is not empty, else 0 (and *lo, *hi
 * then describe no element). */
static inline int range_intersect(int64_t a_lo, int64_t a_hi, int64_t b_lo, int64_t b_hi,
                                  int64_t *lo, int64_t *hi)
{
    *lo = a_lo > b_lo ? a_lo : b_lo;
    *hi = a_hi < b_hi ? a_hi : b_hi;
    return *lo < *hi;
}

#endif
