/* cpupeak: the cached CPU peak (cpupeak.h). The file:
 *   {"cpu": "<model name of /proc/cpuinfo>", "path": "OpenBLAS Haswell, avx512 vectors",
 *    "gflops": {"1": 131.2, "2": 258.4}, "attention_tiles": {...}}
 * (other sections: cpupeak_entry, e.g. lib/attntune's). A cache measured on another CPU model
 * or another BLAS or vector path is not used (and is replaced by the next store). */
#include <jansson.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomicfile.h"
#include "cpupeak.h"
#include "jsonin.h"
#include "kernels/kernels.h"
#include "metrics.h"

int cpupeak_file(char *path, size_t n)
{
    const char *env = getenv("PICOTRON_PEAK_FILE"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (env && *env)
        return snprintf(path, n, "%s", env) < (int)n;
    if (xdg && *xdg)
        return snprintf(path, n, "%s/picotron/cpu-peak.json", xdg) < (int)n;
    if (home && *home)
        return snprintf(path, n, "%s/.cache/picotron/cpu-peak.json", home) < (int)n;
    return 0;
}

/* "model name" of /proc/cpuinfo, or "unknown" */
static void cpu_model(char *out, size_t n)
{
    snprintf(out, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon)
            continue;
        colon += 1 + (colon[1] == ' ');
        colon[strcspn(colon, "\n")] = '\0';
        snprintf(out, n, "%s", colon);
        break;
    }
    fclose(f);
}

double cpupeak_measure(double seconds)
{
    double best = 0.0, t0 = metrics_now();
    do {
        double g = kernels_sgemm_peak_gflops(1024, 3);
        best = g > best ? g : best;
    } while (metrics_now() - t0 < seconds);
    return best;
}

/* The cache as read: NULL (and PT_OK) when there is no file. */
static int load(const char *path, json_t **out, Error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return PT_OK;
    fclose(f);
    json_t *root;
    if (jsonin_load_file(path, &root, err))
        return err->code;
    json_t *g = json_object_get(root, "gflops");
    if (!json_is_object(root) || !json_is_string(json_object_get(root, "cpu")) ||
        !json_is_string(json_object_get(root, "path")) || !json_is_object(g)) {
        json_decref(root);
        return err_set(err, PT_EINPUT, "%s: not a peak cache (cpu, path and gflops expected; "
                       "remove it or rerun picotron-bench --peak)", path);
    }
    *out = root;
    return PT_OK;
}

static int matches(json_t *root)
{
    char model[256];
    cpu_model(model, sizeof model);
    return !strcmp(json_string_value(json_object_get(root, "cpu")), model) &&
           !strcmp(json_string_value(json_object_get(root, "path")), kernels_blas_path());
}

int cpupeak_cached(int threads, double *gflops, Error *err)
{
    char path[4096];
    json_t *root;
    if (!cpupeak_file(path, sizeof path) || load(path, &root, err))
        return err->code ? -1 : 0;
    int found = 0;
    if (root && matches(root)) {
        char key[16];
        snprintf(key, sizeof key, "%d", threads);
        json_t *v = json_object_get(json_object_get(root, "gflops"), key);
        if (v && (!json_is_number(v) || json_number_value(v) <= 0.0)) {
            json_decref(root);
            err_set(err, PT_EINPUT, "%s: gflops.%s is not a positive number", path, key);
            return -1;
        }
        if (v) {
            *gflops = json_number_value(v);
            found = 1;
        }
    }
    json_decref(root);
    return found;
}

static char source[4200] = "not measured";

double cpupeak_get(int reps)
{
    int threads = omp_get_max_threads();
    double g;
    Error err = {0};
    char path[4096];
    int found = cpupeak_cached(threads, &g, &err);
    if (found > 0 && cpupeak_file(path, sizeof path)) {
        snprintf(source, sizeof source, "cached in %s by picotron-bench --peak", path);
        return g;
    }
    if (found < 0)
        fprintf(stderr, "picotron: warning: %s; measuring the peak now\n", err.msg);
    snprintf(source, sizeof source, "best of %d sgemm 1024^3 at start-up; "
             "picotron-bench --peak caches a steadier one", reps);
    return kernels_sgemm_peak_gflops(1024, reps);
}

const char *cpupeak_source(void)
{
    return source;
}

/* The cache to change: the file's when it is for this CPU and path, else a fresh one. */
static int load_for_update(const char *path, json_t **root, Error *err)
{
    if (load(path, root, err))
        return err->code;
    if (*root && !matches(*root)) { /* another CPU or path: start afresh */
        json_decref(*root);
        *root = NULL;
    }
    if (!*root) {
        char model[256];
        cpu_model(model, sizeof model);
        *root = json_pack("{s:s, s:s, s:{}}", "cpu", model, "path", kernels_blas_path(), "gflops");
    }
    return PT_OK;
}

/* Write root to path atomically (its directory made first) and release it. */
static int save(const char *path, json_t *root, Error *err)
{
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    int rc = PT_OK;
    if (slash && slash != dir) {
        *slash = '\0';
        rc = make_dirs(dir, err);
    }
    size_t len = strlen(text);
    char *file = xmalloc(len + 2);
    memcpy(file, text, len);
    memcpy(file + len, "\n", 2);
    if (!rc)
        rc = atomic_write_file(path, file, len + 1, err);
    free(file);
    free(text);
    return rc;
}

static int no_place(Error *err)
{
    return err_set(err, PT_EINPUT, "no place for the machine cache: set PICOTRON_PEAK_FILE, "
                   "XDG_CACHE_HOME or HOME");
}

int cpupeak_store(int threads, double gflops, double *kept, Error *err)
{
    char path[4096], key[16];
    json_t *root;
    if (!cpupeak_file(path, sizeof path))
        return no_place(err);
    if (load_for_update(path, &root, err))
        return err->code;
    snprintf(key, sizeof key, "%d", threads);
    json_t *old = json_object_get(json_object_get(root, "gflops"), key);
    *kept = json_is_number(old) && json_number_value(old) > gflops ? json_number_value(old) : gflops;
    json_object_set_new(json_object_get(root, "gflops"), key, json_real(*kept));
    return save(path, root, err);
}

int cpupeak_entry(const char *section, const char *key, json_t **value, Error *err)
{
    char path[4096];
    json_t *root;
    *value = NULL;
    if (!cpupeak_file(path, sizeof path) || load(path, &root, err))
        return err->code ? -1 : 0;
    json_t *sec = root && matches(root) ? json_object_get(root, section) : NULL;
    if (sec && !json_is_object(sec)) {
        json_decref(root);
        err_set(err, PT_EINPUT, "%s: %s is not an object", path, section);
        return -1;
    }
    *value = json_incref(json_object_get(sec, key));
    json_decref(root);
    return *value != NULL;
}

int cpupeak_set_entry(const char *section, const char *key, json_t *value, Error *err)
{
    char path[4096];
    json_t *root;
    if (!cpupeak_file(path, sizeof path)) {
        json_decref(value);
        return no_place(err);
    }
    if (load_for_update(path, &root, err)) {
        json_decref(value);
        return err->code;
    }
    json_t *sec = json_object_get(root, section);
    if (!json_is_object(sec)) {
        sec = json_object();
        json_object_set_new(root, section, sec);
    }
    json_object_set_new(sec, key, value);
    return save(path, root, err);
}
