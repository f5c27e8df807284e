/* fixture: reads the PyTorch golden files (.ptfx, written by scripts/make_golden.py; format in
 * docs/fixtures.md) and the tolerance helpers the unit tests compare against them with. */
#ifndef PICOTRON_TEST_FIXTURE_H
#define PICOTRON_TEST_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

enum { FIXTURE_F32 = 0, FIXTURE_I32 = 1, FIXTURE_F64 = 2 };

typedef struct {
    char name[128];
    int dtype;          /* FIXTURE_F32 / FIXTURE_I32 / FIXTURE_F64 */
    int ndim;           /* 0 … 8 */
    int64_t dims[8];    /* row-major */
    int64_t numel;
    void *data;         /* numel elements of dtype, host byte order */
} FixtureTensor;

typedef struct {
    FixtureTensor *t;   /* (n) in file order */
    int n;
} Fixture;

/* Loads the whole file. Returns 0, or -1 with a message naming the file, record and byte
 * offset in err; on failure fx is left empty (fixture_free is still safe). */
int fixture_load(Fixture *fx, const char *path, char *err, size_t errlen);
void fixture_free(Fixture *fx);

/* NULL if no record has that name. */
const FixtureTensor *fixture_get(const Fixture *fx, const char *name);
/* NULL if absent, of another dtype, or not exactly numel elements. */
const float *fixture_f32(const Fixture *fx, const char *name, int64_t numel);
const int32_t *fixture_i32(const Fixture *fx, const char *name, int64_t numel);
const double *fixture_f64(const Fixture *fx, const char *name, int64_t numel);

/* ‖a − b‖₂ / (‖b‖₂ + floor), in double: b is the reference. */
double rel_err_f32(const float *a, const float *b, int64_t n, double floor);
double max_abs_diff_f32(const float *a, const float *b, int64_t n);

#endif
