/* sweep: parsing the --sweep spec into axes, walking their cartesian product, building and
 * sizing each point's config, and writing the chosen point back as a config file. */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomicfile.h"
#include "memplan.h"
#include "pyjson.h"
#include "sweep.h"

static const struct {
    const char *name, *key;
} SHORT_NAMES[] = {
    {"dp", "distributed.dp_size"},
    {"tp", "distributed.tp_size"},
    {"pp", "distributed.pp_size"},
    {"cp", "distributed.cp_size"},
    {"zero", "distributed.zero_stage"},
    {"pp_engine", "distributed.pp_engine"},
    {"mbs", "training.micro_batch_size"},
    {"grad_acc", "training.gradient_accumulation_steps"},
    {"seq", "training.seq_length"},
    {"threads", "environment.OMP_NUM_THREADS"},
    {NULL, NULL},
};

const char *sweep_short_key(const char *name)
{
    for (int i = 0; SHORT_NAMES[i].name; i++)
        if (!strcmp(SHORT_NAMES[i].name, name))
            return SHORT_NAMES[i].key;
    return NULL;
}

static char *copy_span(const char *text, size_t len)
{
    char *s = xmalloc(len + 1);
    memcpy(s, text, len);
    s[len] = '\0';
    return s;
}

/* One item "NAME=V1,V2" of length len into a (zeroed) axis. */
static int parse_item(SweepAxis *a, const char *item, size_t len, const Config *base,
                      Error *err)
{
    const char *eq = memchr(item, '=', len);
    if (!eq || eq == item)
        return err_set(err, PT_EINPUT, "--sweep: '%.*s': expected NAME=V1,V2,...", (int)len,
                       item);
    a->name = copy_span(item, (size_t)(eq - item));
    const char *key = sweep_short_key(a->name);
    json_t *probe = config_key_value(base, key ? key : a->name);
    if (!probe)
        return err_set(err, PT_EINPUT,
                       "--sweep: unknown key '%s' (short names: dp tp pp cp zero pp_engine mbs "
                       "grad_acc seq threads; or a key path such as training.seq_length)",
                       a->name);
    json_decref(probe);
    a->key = copy_span(key ? key : a->name, strlen(key ? key : a->name));
    const char *v = eq + 1, *end = item + len;
    a->values = xcalloc((size_t)(end - v) / 2 + 1, sizeof *a->values);
    for (;;) {
        const char *comma = memchr(v, ',', (size_t)(end - v));
        const char *stop = comma ? comma : end;
        if (stop == v)
            return err_set(err, PT_EINPUT, "--sweep: '%.*s': empty value", (int)len, item);
        a->values[a->nvalues++] = copy_span(v, (size_t)(stop - v));
        if (!comma)
            break;
        v = comma + 1;
    }
    return PT_OK;
}

int sweep_parse(Sweep *s, const char *spec, const Config *base, Error *err)
{
    memset(s, 0, sizeof *s);
    size_t cap = strlen(spec) / 2 + 1; /* an item takes at least "k=v" and a blank */
    s->axis = xcalloc(cap, sizeof *s->axis);
    s->npoints = 1;
    const char *p = spec;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        SweepAxis *a = &s->axis[s->naxes++];
        if (parse_item(a, start, (size_t)(p - start), base, err))
            return err->code;
        for (int i = 0; i < s->naxes - 1; i++)
            if (!strcmp(s->axis[i].key, a->key))
                return err_set(err, PT_EINPUT, "--sweep: %s is given twice", a->key);
        if ((long)s->npoints * a->nvalues > SWEEP_MAX_POINTS)
            return err_set(err, PT_EINPUT, "--sweep: more than %d points", SWEEP_MAX_POINTS);
        s->npoints *= a->nvalues;
    }
    if (!s->naxes)
        return err_set(err, PT_EINPUT, "--sweep: no NAME=V1,V2,... item in '%s'", spec);
    return PT_OK;
}

void sweep_free(Sweep *s)
{
    for (int i = 0; i < s->naxes; i++) {
        for (int j = 0; j < s->axis[i].nvalues; j++)
            free(s->axis[i].values[j]);
        free(s->axis[i].values);
        free(s->axis[i].name);
        free(s->axis[i].key);
    }
    free(s->axis);
    memset(s, 0, sizeof *s);
}

int sweep_value_index(const Sweep *s, int p, int a)
{
    int stride = 1;
    for (int i = s->naxes - 1; i > a; i--)
        stride *= s->axis[i].nvalues;
    return p / stride % s->axis[a].nvalues;
}

const char *sweep_value(const Sweep *s, int p, int a)
{
    return s->axis[a].values[sweep_value_index(s, p, a)];
}

void sweep_point_label(const Sweep *s, int p, char *out, size_t len)
{
    size_t n = 0;
    out[0] = '\0';
    for (int a = 0; a < s->naxes && n < len; a++)
        n += (size_t)snprintf(out + n, len - n, "%s%s=%s", a ? " " : "", s->axis[a].name,
                              sweep_value(s, p, a));
}

int sweep_point_config(const Sweep *s, int p, const Config *base, int64_t keep_global_batch,
                       Config *cfg, Error *err)
{
    *cfg = *base;
    for (int a = 0; a < s->naxes; a++) {
        char set[CFG_STR + 256];
        snprintf(set, sizeof set, "%s=%s", s->axis[a].key, sweep_value(s, p, a));
        if (config_set(cfg, set, err))
            return err->code;
    }
    if (keep_global_batch > 0) {
        int64_t per_step = (int64_t)cfg->distributed.dp_size * cfg->training.micro_batch_size;
        if (per_step <= 0 || keep_global_batch % per_step)
            return err_set(err, PT_EINPUT,
                           "global batch %lld is not a multiple of dp x mbs = %lld",
                           (long long)keep_global_batch, (long long)per_step);
        cfg->training.gradient_accumulation_steps = (int)(keep_global_batch / per_step);
    }
    return config_validate(cfg, err);
}

double sweep_rank_bytes(const Config *cfg)
{
    return memplan_peak_bytes(cfg);
}

int sweep_mem_available(uint64_t *bytes, Error *err)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return err_set(err, PT_ERUNTIME, "cannot read /proc/meminfo (give --mem-limit)");
    char line[256];
    unsigned long long kib = 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = sscanf(line, "MemAvailable: %llu kB", &kib) == 1;
    fclose(f);
    if (!found)
        return err_set(err, PT_ERUNTIME, "/proc/meminfo has no MemAvailable (give --mem-limit)");
    *bytes = (uint64_t)kib * 1024;
    return PT_OK;
}

/* root[section][name] = value, the section object created when missing. */
static int set_path(json_t *root, const char *key, json_t *value, Error *err)
{
    const char *dot = strchr(key, '.');
    char section[64];
    snprintf(section, sizeof section, "%.*s", (int)(dot - key), key);
    json_t *obj = json_object_get(root, section);
    if (!obj) {
        obj = json_object();
        json_object_set_new(root, section, obj);
    }
    if (!json_is_object(obj)) {
        json_decref(value);
        return err_set(err, PT_EINPUT, "%s: not a JSON object in the input config", section);
    }
    json_object_set_new(obj, dot + 1, value);
    return PT_OK;
}

int sweep_write_config(const char *path, const char *input_text, const char *const *keys,
                       int nkeys, const Config *cfg, Error *err)
{
    json_error_t jerr;
    json_t *root = json_loads(input_text, 0, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return err_set(err, PT_EINPUT, "the input config is not a JSON object");
    }
    for (int i = 0; i < nkeys; i++) {
        json_t *v = config_key_value(cfg, keys[i]);
        if (!v || set_path(root, keys[i], v, err)) {
            json_decref(root);
            return err_set(err, PT_EINPUT, "%s: not a config key", keys[i]);
        }
    }
    char *text = pyjson_dump(root, 4);
    json_decref(root);
    if (!text)
        return err_set(err, PT_ERUNTIME, "out of memory writing %s", path);
    size_t len = strlen(text);
    text[len] = '\n'; /* overwrites the NUL: the file ends with a newline */
    int rc = atomic_write_file(path, text, len + 1, err);
    free(text);
    return rc;
}
