/* runinfo: a run directory read back (config.resolved.json, metrics.jsonl, status) and
 * summarised; finding run directories below a directory. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dirwalk.h"
#include "runinfo.h"

/* Deeper than any sensible tree of runs; stops a symlink loop. */

static int number_field(json_t *obj, const char *key, double *out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_number(v))
        return -1;
    *out = json_number_value(v);
    return 0;
}

/* One line of metrics.jsonl into s; PT_EINPUT naming path:lineno otherwise. */
static int parse_step(RunStep *s, const char *line, size_t len, const char *path, long lineno,
                      Error *err)
{
    json_error_t je;
    json_t *o = json_loadb(line, len, 0, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return err_set(err, PT_EINPUT, "%s:%ld: not a JSON object (%s)", path, lineno,
                       o ? "another JSON value" : je.text);
    }
    static const char *const keys[] = {"loss", "tokens_per_s", "mfu", "mem_mib"};
    double *dst[] = {&s->loss, &s->tokens_per_s, &s->mfu, &s->mem_mib};
    json_t *step = json_object_get(o, "step"), *tokens = json_object_get(o, "tokens");
    const char *missing = !json_is_integer(step) ? "step" : !json_is_integer(tokens) ? "tokens" : NULL;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0] && !missing; k++)
        if (number_field(o, keys[k], dst[k]))
            missing = keys[k];
    s->val_loss = NAN;
    json_t *val = json_object_get(o, "val_loss");
    if (!missing && val && number_field(o, "val_loss", &s->val_loss))
        missing = "val_loss";
    if (!missing) {
        s->step = json_integer_value(step);
        s->tokens = json_integer_value(tokens);
    }
    json_decref(o);
    if (missing)
        return err_set(err, PT_EINPUT, "%s:%ld: \"%s\" is missing or not a number", path, lineno,
                       missing);
    return PT_OK;
}

static int read_metrics(RunInfo *r, const char *path, Error *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return err_set(err, PT_EINPUT, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, have = 0;
    ssize_t got;
    long lineno = 0;
    int rc = PT_OK;
    while (rc == PT_OK && (got = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (line[got - 1] != '\n')
            break; /* the trainer is writing this line now */
        if ((size_t)r->nsteps == have) {
            have = have ? 2 * have : 64;
            RunStep *grown = realloc(r->steps, have * sizeof *grown);
            if (!grown)
                err_die("picotron", &(Error){PT_ERUNTIME, "out of memory reading metrics"});
            r->steps = grown;
        }
        rc = parse_step(&r->steps[r->nsteps], line, (size_t)got - 1, path, lineno, err);
        if (rc == PT_OK)
            r->nsteps++;
    }
    if (rc == PT_OK && ferror(f))
        rc = err_set(err, PT_EINPUT, "%s: read error", path);
    free(line);
    fclose(f);
    return rc;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of field `offset` (a double of RunStep) over steps [from, n); NAN when empty. */
static double median_from(const RunStep *steps, int n, int from, size_t offset)
{
    if (from >= n)
        return NAN;
    int m = n - from;
    double *v = xmalloc((size_t)m * sizeof *v);
    for (int i = 0; i < m; i++)
        v[i] = *(const double *)((const char *)&steps[from + i] + offset);
    qsort(v, (size_t)m, sizeof *v, cmp_double);
    double med = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
    free(v);
    return med;
}

static void summarise(RunInfo *r)
{
    int n = r->nsteps;
    r->last_step = n ? r->steps[n - 1].step : 0;
    r->tokens = n ? r->steps[n - 1].tokens : 0;
    r->loss = n ? r->steps[n - 1].loss : NAN;
    r->val_loss = NAN;
    r->peak_mem_mib = NAN;
    for (int i = 0; i < n; i++) {
        if (!isnan(r->steps[i].val_loss))
            r->val_loss = r->steps[i].val_loss;
        if (isnan(r->peak_mem_mib) || r->steps[i].mem_mib > r->peak_mem_mib)
            r->peak_mem_mib = r->steps[i].mem_mib;
    }
    /* The first step logged pays for warm-up (page faults, BLAS start-up): left out when there
     * is another. */
    int from = n > 1 ? 1 : 0;
    r->tokens_per_s = median_from(r->steps, n, from, offsetof(RunStep, tokens_per_s));
    r->mfu = median_from(r->steps, n, from, offsetof(RunStep, mfu));
}

/* DIR/status as picotron-submit writes it (one word), else "" . */
static void read_submit_status(RunInfo *r, const char *dir)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/status", dir);
    r->status[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    if (fscanf(f, "%63s", r->status) != 1)
        r->status[0] = '\0';
    fclose(f);
}

int runinfo_read(RunInfo *r, const char *dir, Error *err)
{
    memset(r, 0, sizeof *r);
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/config.resolved.json", dir);
    config_warnings(0);
    int rc = config_load(&r->cfg, path, err);
    config_warnings(1);
    if (rc)
        return rc;
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    if (read_metrics(r, path, err))
        return err->code;
    summarise(r);
    read_submit_status(r, dir);
    if (!r->status[0])
        snprintf(r->status, sizeof r->status, "%s",
                 r->last_step >= r->cfg.training.total_train_steps ? "completed" : "incomplete");
    return PT_OK;
}

void runinfo_free(RunInfo *r)
{
    free(r->steps);
    r->steps = NULL;
    r->nsteps = 0;
}

double runinfo_tokens_per_s_rank(const RunInfo *r)
{
    return r->tokens_per_s / config_world_size(&r->cfg);
}

static int is_run_dir(const char *dir)
{
    char path[PATH_MAX + 16];
    struct stat st;
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int runinfo_find(const char *arg, char ***dirs, int *n, Error *err)
{
    struct stat st;
    if (stat(arg, &st) != 0)
        return err_set(err, PT_EINPUT, "%s: %s", arg, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return err_set(err, PT_EINPUT, "%s: not a directory (give a run directory, or a "
                       "directory of runs)", arg);
    int before = *n;
    dirwalk_find(arg, is_run_dir, dirs, n);
    if (*n == before)
        return err_set(err, PT_EINPUT, "%s: no run directory (one holding metrics.jsonl) at or "
                       "below it", arg);
    return PT_OK;
}
