/* metrics: flop counts, the CPU peak, clocks and memory. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "error.h"
#include "metrics.h"
#include "models.h"

FlopCount metrics_flops(const ModelDims *d, int seq_length)
{
    FlopCount f;
    int64_t embed = (int64_t)d->vocab_size * d->hidden_size;
    f.n_params = models_num_params(d);
    f.n_params_no_embed = f.n_params - embed - (d->tie_word_embeddings ? 0 : embed);
    double attn = 12.0 * d->num_hidden_layers * d->hidden_size * (double)seq_length;
    f.flops_per_token = 6.0 * (double)f.n_params + attn;
    f.flops_per_token_causal = 6.0 * (double)f.n_params + attn / 2.0;
    return f;
}

double metrics_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double metrics_rss_mib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (!f)
        return 0.0;
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
        rss = 0;
    fclose(f);
    return (double)rss * (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
}

/* The lines of path with "step" ≤ step, concatenated (*out malloc'ed). A last line without
 * its newline is a record the run was writing when it died: dropped, as lib/runinfo does. */
static int kept_lines(const char *path, FILE *f, int64_t step, char **out, size_t *outlen,
                      Error *err)
{
    FILE *keep = open_memstream(out, outlen);
    if (!keep)
        return err_set(err, PT_ERUNTIME, "%s: out of memory trimming the log", path);
    char *line = NULL;
    size_t n = 0;
    ssize_t got;
    int lineno = 0, rc = PT_OK;
    while (!rc && (got = getline(&line, &n, f)) > 0) {
        lineno++;
        if (line[got - 1] != '\n')
            break;
        json_error_t je;
        json_t *obj = json_loadb(line, (size_t)got, 0, &je);
        json_t *s = obj ? json_object_get(obj, "step") : NULL;
        if (!json_is_integer(s))
            rc = err_set(err, PT_EINPUT, "%s: line %d: not a metrics record (a JSON object with "
                         "an integer \"step\")", path, lineno);
        else if (json_integer_value(s) <= step)
            fwrite(line, 1, (size_t)got, keep);
        json_decref(obj);
    }
    free(line);
    fclose(keep);
    return rc;
}

int metrics_log_open(FILE **f, const char *path, int resumed, int64_t step, Error *err)
{
    *f = NULL;
    FILE *old = resumed ? fopen(path, "r") : NULL;
    if (old) { /* a resumed run continues its log from the checkpoint's step */
        char *keep;
        size_t len;
        int rc = kept_lines(path, old, step, &keep, &len, err);
        fclose(old);
        if (!rc)
            rc = atomic_write_file(path, keep, len, err);
        free(keep);
        if (rc)
            return rc;
    }
    *f = fopen(path, resumed ? "a" : "w");
    if (!*f)
        return err_set(err, PT_ERUNTIME, "%s: cannot open for writing: %s", path, strerror(errno));
    return PT_OK;
}

int metrics_log_write(FILE *f, const MetricsRecord *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "step", json_integer(r->step));
    json_object_set_new(o, "loss", json_real(r->loss));
    json_object_set_new(o, "lr", json_real(r->lr));
    json_object_set_new(o, "grad_norm", json_real(r->grad_norm));
    json_object_set_new(o, "tokens", json_integer(r->tokens));
    json_object_set_new(o, "tokens_per_s", json_real(r->tokens_per_s));
    json_object_set_new(o, "tflops_per_device", json_real(r->tflops_per_device));
    json_object_set_new(o, "mfu", json_real(r->mfu));
    json_object_set_new(o, "mfu_pct", json_real(100.0 * r->mfu));
    json_object_set_new(o, "mem_mib", json_real(r->mem_mib));
    json_object_set_new(o, "epoch", json_integer(r->epoch));
    json_object_set_new(o, "step_time_s", json_real(r->step_time_s));
    json_object_set_new(o, "comm_time_s", json_real(r->comm_time_s));
    if (r->has_val)
        json_object_set_new(o, "val_loss", json_real(r->val_loss));
    char *text = json_dumps(o, JSON_REAL_PRECISION(8)); /* one line, ", " and ": " */
    json_decref(o);
    long before = ftell(f);
    errno = 0;
    int bad = fprintf(f, "%s\n", text) < 0 || fflush(f) != 0;
    int e = bad ? (errno ? errno : EIO) : 0;
    free(text);
    /* no half line: a resume reads the log back, and would stop at it */
    if (bad && before >= 0 && ftruncate(fileno(f), before) == 0)
        clearerr(f);
    return e;
}
