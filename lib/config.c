/* config: one table of keys (KEYS) drives defaults, parsing, --set overrides, per-key
 * validation and serialisation, so no key can be handled in one place and forgotten in another.
 * Checks between keys (mesh against model, schedule against steps) follow the table. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "trace.h"
#include "jsonin.h"
#include "models.h"

typedef enum {
    T_INT,    /* int */
    T_I64,    /* int64_t */
    T_U64,    /* uint64_t, read from a non-negative JSON integer */
    T_DBL,    /* double; JSON integer or real */
    T_BOOL,   /* int 0/1; JSON true/false */
    T_STR,    /* char[size] */
    T_INTSTR, /* int; JSON integer or a string of digits (environment variables: "1") */
} Type;

/* Allowed numbers: lo < x (lo_open) or lo <= x, and x < hi (hi_open) or x <= hi. */
typedef struct {
    double lo, hi;
    unsigned char lo_open, hi_open;
} Range;

typedef struct {
    const char *path;    /* JSON key path "section.key" */
    Type type;
    size_t off, size;    /* the field in Config; size bounds strings */
    Range range;         /* numbers */
    double num;          /* default of a number or bool */
    const char *str;     /* default of a string */
    const char *choices; /* allowed strings, '|'-separated; NULL: any */
    int null_unset;      /* 0 or "" (unset) is written as null, as picotron writes it */
} Key;

#define ANY    {-INFINITY, INFINITY, 0, 0}
#define POS    {0, INFINITY, 1, 0}
#define NONNEG {0, INFINITY, 0, 0}
#define UNIT   {0, 1, 0, 1}
#define BIT    {0, 1, 0, 0}

#define FIELD(f)               offsetof(Config, f), sizeof(((Config *)0)->f)
#define NUM(path, t, f, r, d)  {path, t, FIELD(f), r, d, NULL, NULL, 0}
#define BOOL(path, f, d)       {path, T_BOOL, FIELD(f), ANY, d, NULL, NULL, 0}
#define STR(path, f, d, ch)    {path, T_STR, FIELD(f), ANY, 0, d, ch, 0}
#define NUM_OR_NULL(path, t, f, r) {path, t, FIELD(f), r, 0, NULL, NULL, 1}
#define STR_OR_NULL(path, f)   {path, T_STR, FIELD(f), ANY, 0, "", NULL, 1}
#define IS(k, f)               ((k)->off == offsetof(Config, f))

/* Defaults are picotron's behaviour where its files lack a key (docs/config.md). */
static const Key KEYS[] = {
    NUM("distributed.tp_size", T_INT, distributed.tp_size, POS, 1),
    NUM("distributed.cp_size", T_INT, distributed.cp_size, POS, 1),
    NUM("distributed.pp_size", T_INT, distributed.pp_size, POS, 1),
    NUM("distributed.dp_size", T_INT, distributed.dp_size, POS, 1),
    STR("distributed.pp_engine", distributed.pp_engine, "1f1b", "afab|1f1b"),
    STR("distributed.backend", distributed.backend, "mpi", "mpi|nccl|gloo"),
    BOOL("distributed.use_cpu", distributed.use_cpu, 1),
    NUM("distributed.zero_stage", T_INT, distributed.zero_stage, BIT, 0),
    NUM("distributed.bucket_size_mb", T_DBL, distributed.bucket_size_mb, NONNEG, 4.0),
    /* model.name comes first: resolving it replaces the dimensions that the keys below override */
    STR("model.name", model.name, "", NULL),
    NUM("model.num_hidden_layers", T_INT, model.dims.num_hidden_layers, POS, 0),
    NUM("model.hidden_size", T_INT, model.dims.hidden_size, POS, 0),
    NUM("model.num_attention_heads", T_INT, model.dims.num_attention_heads, POS, 0),
    NUM("model.num_key_value_heads", T_INT, model.dims.num_key_value_heads, POS, 0),
    NUM("model.intermediate_size", T_INT, model.dims.intermediate_size, POS, 0),
    NUM("model.vocab_size", T_INT, model.dims.vocab_size, POS, 0),
    NUM("model.max_position_embeddings", T_INT, model.dims.max_position_embeddings, POS, 0),
    NUM("model.rope_theta", T_DBL, model.dims.rope_theta, POS, 10000.0),
    NUM("model.rms_norm_eps", T_DBL, model.dims.rms_norm_eps, POS, 1e-5),
    BOOL("model.tie_word_embeddings", model.dims.tie_word_embeddings, 0),
    STR("model.dtype", model.dtype, "float32", "float32|bfloat16"),
    BOOL("model.use_flash_attention", model.use_flash_attention, 0),
    BOOL("model.use_fused_adam", model.use_fused_adam, 0),
    NUM("training.seed", T_U64, training.seed, NONNEG, 42),
    NUM("training.learning_rate", T_DBL, training.learning_rate, POS, 3e-4),
    NUM("training.total_train_steps", T_INT, training.total_train_steps, POS, 200),
    NUM("training.seq_length", T_INT, training.seq_length, POS, 1024),
    NUM("training.micro_batch_size", T_INT, training.micro_batch_size, POS, 1),
    NUM("training.gradient_accumulation_steps", T_INT, training.gradient_accumulation_steps, POS,
        1),
    NUM_OR_NULL("training.num_samples", T_I64, training.num_samples, NONNEG),
    /* picotron's loop runs while max_tokens is None or above the tokens trained: 0 would stop */
    NUM_OR_NULL("training.max_tokens", T_I64, training.max_tokens, NONNEG),
    BOOL("training.skip_memory_check", training.skip_memory_check, 0),
    STR("training.activation_checkpointing", training.activation_checkpointing, "none",
        "none|selective|full"),
    NUM("optimizer.beta1", T_DBL, optimizer.beta1, UNIT, 0.9),
    NUM("optimizer.beta2", T_DBL, optimizer.beta2, UNIT, 0.999),
    NUM("optimizer.eps", T_DBL, optimizer.eps, POS, 1e-8),
    NUM("optimizer.weight_decay", T_DBL, optimizer.weight_decay, NONNEG, 0.01),
    BOOL("optimizer.decay_norms", optimizer.decay_norms, 1),
    NUM("optimizer.grad_clip", T_DBL, optimizer.grad_clip, NONNEG, 0),
    STR("optimizer.lr_schedule", optimizer.lr_schedule, "constant", "constant|cosine"),
    NUM("optimizer.warmup_steps", T_INT, optimizer.warmup_steps, NONNEG, 0),
    NUM("optimizer.min_lr", T_DBL, optimizer.min_lr, NONNEG, 0),
    STR("dataset.name", dataset.name, "", NULL),
    BOOL("dataset.shuffle", dataset.shuffle, 0),
    STR("dataset.validation", dataset.validation, "", NULL),
    NUM("dataset.eval_every", T_INT, dataset.eval_every, NONNEG, 0),
    NUM("dataset.eval_samples", T_INT, dataset.eval_samples, POS, 16),
    STR("dataset.split", dataset.split, "train", NULL),
    STR("dataset.validate", dataset.validate, "all", "all|lazy"),
    NUM("dataset.num_workers", T_INT, dataset.num_workers, NONNEG, 0),
    NUM("dataset.num_proc", T_INT, dataset.num_proc, POS, 1),
    STR_OR_NULL("dataset.subset_name", dataset.subset_name),
    STR("checkpoint.save_dir", checkpoint.save_dir, "ckpt", NULL),
    NUM("checkpoint.save_frequency", T_INT, checkpoint.save_frequency, NONNEG, 0),
    STR("checkpoint.load_path", checkpoint.load_path, "", NULL),
    STR("checkpoint.init_from", checkpoint.init_from, "", NULL),
    STR("checkpoint.resume", checkpoint.resume, "", "|auto"),
    NUM("checkpoint.keep_last", T_INT, checkpoint.keep_last, NONNEG, 0),
    BOOL("checkpoint.allow_batch_change", checkpoint.allow_batch_change, 0),
    BOOL("logging.use_wandb", logging.use_wandb, 0),
    STR("logging.project_name", logging.project_name, "picotron", NULL),
    STR_OR_NULL("logging.run_name", logging.run_name),
    STR("logging.run_dir", logging.run_dir, "", NULL),
    NUM("logging.log_frequency", T_INT, logging.log_frequency, POS, 1),
    STR("logging.trace", logging.trace, "", NULL),
    STR("logging.trace_steps", logging.trace_steps, "", NULL),
    NUM("logging.peak_gflops", T_DBL, logging.peak_gflops, NONNEG, 0.0),
    NUM("environment.OMP_NUM_THREADS", T_INTSTR, environment.omp_num_threads, NONNEG, 0),
    STR("environment.TOKENIZERS_PARALLELISM", environment.tokenizers_parallelism, "", NULL),
    STR("environment.FLASH_ATTEN", environment.flash_atten, "", NULL),
    STR_OR_NULL("environment.HF_TOKEN", environment.hf_token),
    STR("environment.device", environment.device, "auto", "auto|cpu|cuda"),
    BOOL("environment.allow_tf32", environment.allow_tf32, 0),
    {NULL, T_INT, 0, 0, ANY, 0, NULL, NULL, 0},
};

static int warnings_on = 1;

void config_warnings(int on)
{
    warnings_on = on;
}

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void warn(const char *fmt, ...)
{
    if (!warnings_on)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("picotron: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- the table: lookup and field access ---- */

static size_t section_len(const Key *k) { return strcspn(k->path, "."); }
static const char *leaf(const Key *k) { return k->path + section_len(k) + 1; }

static int in_section(const Key *k, const char *section)
{
    size_t n = section_len(k);
    return strlen(section) == n && strncmp(k->path, section, n) == 0;
}

static const Key *find_key(const char *section, const char *name)
{
    for (const Key *k = KEYS; k->path; k++)
        if (in_section(k, section) && strcmp(leaf(k), name) == 0)
            return k;
    return NULL;
}

static int is_section(const char *section)
{
    for (const Key *k = KEYS; k->path; k++)
        if (in_section(k, section))
            return 1;
    return 0;
}

static void *field(Config *cfg, const Key *k) { return (char *)cfg + k->off; }
static const void *cfield(const Config *cfg, const Key *k) { return (const char *)cfg + k->off; }

static int64_t load_int(const Config *cfg, const Key *k)
{
    const void *p = cfield(cfg, k);
    switch (k->type) {
    case T_I64: return *(const int64_t *)p;
    case T_U64: return (int64_t)*(const uint64_t *)p;
    default: return *(const int *)p;
    }
}

static void store_int(Config *cfg, const Key *k, int64_t x)
{
    void *p = field(cfg, k);
    switch (k->type) {
    case T_I64: *(int64_t *)p = x; break;
    case T_U64: *(uint64_t *)p = (uint64_t)x; break;
    default: *(int *)p = (int)x; break;
    }
}

static double load_num(const Config *cfg, const Key *k)
{
    if (k->type == T_DBL)
        return *(const double *)cfield(cfg, k);
    if (k->type == T_U64)
        return (double)*(const uint64_t *)cfield(cfg, k);
    return (double)load_int(cfg, k);
}

/* Bytes after the terminator are zeroed so that equal configs compare equal with memcmp. */
static void put_str(Config *cfg, const Key *k, const char *s)
{
    memset(field(cfg, k), 0, k->size);
    memcpy(field(cfg, k), s, strlen(s));
}

static void set_default(Config *cfg, const Key *k)
{
    switch (k->type) {
    case T_DBL: *(double *)field(cfg, k) = k->num; break;
    case T_BOOL: *(int *)field(cfg, k) = k->num != 0; break;
    case T_STR: put_str(cfg, k, k->str); break;
    default: store_int(cfg, k, (int64_t)k->num); break;
    }
}

void config_defaults(Config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (const Key *k = KEYS; k->path; k++)
        set_default(cfg, k);
}

/* ---- checks on one value ---- */

static void describe(const json_t *v, char *buf, size_t n)
{
    switch (json_typeof(v)) {
    case JSON_STRING: snprintf(buf, n, "string \"%.80s\"", json_string_value(v)); break;
    case JSON_INTEGER: snprintf(buf, n, "integer %" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
    case JSON_REAL: snprintf(buf, n, "number %.15g", json_real_value(v)); break;
    case JSON_TRUE: snprintf(buf, n, "true"); break;
    case JSON_FALSE: snprintf(buf, n, "false"); break;
    case JSON_NULL: snprintf(buf, n, "null"); break;
    case JSON_OBJECT: snprintf(buf, n, "an object"); break;
    case JSON_ARRAY: snprintf(buf, n, "an array"); break;
    }
}

static int type_error(const Key *k, const char *want, const json_t *v, Error *err)
{
    char got[128];
    describe(v, got, sizeof got);
    return err_set(err, PT_EINPUT, "%s: expected %s, got %s", k->path, want, got);
}

static int check_range(const Key *k, double x, Error *err)
{
    const Range *r = &k->range;
    double hi = (k->type == T_INT || k->type == T_INTSTR) ? fmin(r->hi, INT_MAX) : r->hi;
    int ok_lo = r->lo_open ? x > r->lo : x >= r->lo;
    int ok_hi = r->hi_open ? x < hi : x <= hi;
    if (ok_lo && ok_hi)
        return PT_OK;
    char want[96];
    if (isinf(r->hi) && !ok_lo)
        snprintf(want, sizeof want, "must be %s %.15g", r->lo_open ? ">" : ">=", r->lo);
    else if (isinf(r->hi))
        snprintf(want, sizeof want, "must be <= %.15g", hi);
    else if (hi == r->lo + 1 && !r->lo_open && !r->hi_open)
        snprintf(want, sizeof want, "must be %.15g or %.15g", r->lo, hi);
    else
        snprintf(want, sizeof want, "must be in %c%.15g, %.15g%c", r->lo_open ? '(' : '[', r->lo,
                 hi, r->hi_open ? ')' : ']');
    return err_set(err, PT_EINPUT, "%s: %s, got %.15g", k->path, want, x);
}

/* choices "a|b" (an empty option allows ""); the message lists them. */
static int check_choice(const Key *k, const char *s, Error *err)
{
    if (!k->choices)
        return PT_OK;
    size_t n = strlen(s);
    char list[128] = "";
    for (const char *p = k->choices;; p++) {
        size_t w = strcspn(p, "|");
        if (w == n && strncmp(p, s, n) == 0)
            return PT_OK;
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%.*s\"",
                 p == k->choices ? "" : ", ", (int)w, p);
        p += w;
        if (!*p)
            break;
    }
    return err_set(err, PT_EINPUT, "%s: must be one of %s; got \"%s\"", k->path, list, s);
}

/* An integer key takes a JSON integer, a real with no fraction (4e5), and, for environment
 * variables, a string of digits. */
static int read_int(const Key *k, const json_t *v, int64_t *x, Error *err)
{
    if (json_is_integer(v)) {
        *x = json_integer_value(v);
        return PT_OK;
    }
    if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
        fabs(json_real_value(v)) < 9e18) {
        *x = (int64_t)json_real_value(v);
        return PT_OK;
    }
    if (k->type == T_INTSTR && json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        *x = strtoll(s, &end, 10);
        if (*s && !*end && errno == 0)
            return PT_OK;
    }
    return type_error(k, k->type == T_INTSTR ? "an integer or a string of digits" : "an integer",
                      v, err);
}

static int store_str(Config *cfg, const Key *k, const char *s, Error *err)
{
    if (strlen(s) >= k->size)
        return err_set(err, PT_EINPUT, "%s: longer than %zu characters", k->path, k->size - 1);
    put_str(cfg, k, s);
    return PT_OK;
}

/* Type and range checks, then store. null means the default (as --set key=null). */
static int apply(Config *cfg, const Key *k, const json_t *v, Error *err)
{
    if (json_is_null(v)) {
        set_default(cfg, k);
        return PT_OK;
    }
    switch (k->type) {
    case T_DBL:
        if (!json_is_number(v))
            return type_error(k, "a number", v, err);
        if (check_range(k, json_number_value(v), err))
            return PT_EINPUT;
        *(double *)field(cfg, k) = json_number_value(v);
        return PT_OK;
    case T_BOOL:
        if (!json_is_boolean(v))
            return type_error(k, "true or false", v, err);
        *(int *)field(cfg, k) = json_is_true(v);
        return PT_OK;
    case T_STR:
        if (!json_is_string(v))
            return type_error(k, "a string", v, err);
        return store_str(cfg, k, json_string_value(v), err);
    default: {
        int64_t x = 0;
        if (read_int(k, v, &x, err) || check_range(k, (double)x, err))
            return PT_EINPUT;
        store_int(cfg, k, x);
        return PT_OK;
    }
    }
}

/* ---- model resolution and derived values ---- */

static int resolve_model(Config *cfg, Error *err)
{
    ModelDims d;
    memset(&d, 0, sizeof d);
    if (!cfg->model.name[0])
        return PT_OK;
    int rc = models_resolve(cfg->model.name, &d, err);
    if (rc)
        return rc;
    d.max_position_embeddings = 0; /* follows training.seq_length, as picotron overwrites it */
    cfg->model.dims = d;
    return PT_OK;
}

/* 0 stands for "not given": kv heads default to heads (no GQA), max positions to seq_length. */
static void fill_derived(Config *cfg)
{
    ModelDims *d = &cfg->model.dims;
    if (!d->num_key_value_heads)
        d->num_key_value_heads = d->num_attention_heads;
    if (!d->max_position_embeddings)
        d->max_position_embeddings = cfg->training.seq_length;
}

/* ---- parse ---- */

static json_t *lookup(json_t *root, const Key *k)
{
    char section[32];
    snprintf(section, sizeof section, "%.*s", (int)section_len(k), k->path);
    json_t *s = json_object_get(root, section);
    return json_is_object(s) ? json_object_get(s, leaf(k)) : NULL;
}

/* Sections must be objects (or null); unknown sections and keys only warn, as picotron
 * ignores keys it does not read. */
static int check_sections(json_t *root, const char *path, Error *err)
{
    const char *name, *key;
    json_t *section, *v;
    json_object_foreach(root, name, section) {
        if (!is_section(name)) {
            warn("%s: unknown section \"%s\" (ignored)", path, name);
            continue;
        }
        if (json_is_null(section))
            continue;
        if (!json_is_object(section)) {
            char got[128];
            describe(section, got, sizeof got);
            return err_set(err, PT_EINPUT, "%s: expected an object, got %s", name, got);
        }
        json_object_foreach(section, key, v) {
            if (!find_key(name, key))
                warn("%s: unknown key \"%s.%s\" (ignored)", path, name, key);
        }
    }
    return PT_OK;
}

/* Keys are applied in table order, so model.name is resolved before the dimensions that
 * override it. A null value is an absent key: picotron writes nulls for keys it leaves unset. */
static int parse_root(Config *cfg, json_t *root, const char *path, Error *err)
{
    config_defaults(cfg);
    int rc = check_sections(root, path, err);
    for (const Key *k = KEYS; !rc && k->path; k++) {
        json_t *v = lookup(root, k);
        if (!v || json_is_null(v))
            continue;
        rc = apply(cfg, k, v, err);
        if (!rc && IS(k, model.name))
            rc = resolve_model(cfg, err);
    }
    fill_derived(cfg);
    return rc;
}

/* picotron picks its backend and dtype from use_cpu alone (gloo and float32 on the CPU); we
 * pick the device by environment.device and compute in float32 over MPI on either: only a
 * config that asks for picotron's GPU setup is told, in one line. */
static void warn_cpu(const Config *cfg)
{
    if (!cfg->distributed.use_cpu)
        warn("distributed.use_cpu is false (backend \"%s\", dtype \"%s\"): picotron-train "
             "computes in float32 over MPI, on the device environment.device picks (\"%s\")",
             cfg->distributed.backend, cfg->model.dtype, cfg->environment.device);
}

int config_parse(Config *cfg, const char *json_text, const char *path, Error *err)
{
    path = path ? path : "<config>";
    json_t *root;
    int rc = jsonin_loads(json_text, path, &root, err);
    if (rc)
        return rc;
    rc = json_is_object(root)
                 ? parse_root(cfg, root, path, err)
                 : err_set(err, PT_EINPUT, "%s: expected a JSON object of sections", path);
    json_decref(root);
    if (!rc)
        rc = config_validate(cfg, err);
    if (!rc)
        warn_cpu(cfg);
    return rc;
}

/* logging.run_dir defaults to the config file's directory ("." for stdin). */
static int default_run_dir(Config *cfg, const char *path, Error *err)
{
    const char *slash = strcmp(path, "-") ? strrchr(path, '/') : NULL;
    int n = slash ? (slash == path ? 1 : (int)(slash - path)) : 1;
    const char *dir = slash ? path : ".";
    if (n >= (int)sizeof cfg->logging.run_dir)
        return err_set(err, PT_EINPUT, "%s: path too long for logging.run_dir", path);
    snprintf(cfg->logging.run_dir, sizeof cfg->logging.run_dir, "%.*s", n, dir);
    return PT_OK;
}

int config_read_text(const char *path, char **text, Error *err)
{
    int is_stdin = strcmp(path, "-") == 0;
    *text = NULL;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f)
        return err_set(err, PT_EINPUT, "%s: cannot open config: %s", path, strerror(errno));
    if (!is_stdin && jsonin_open_error(path, f, "a config.json file", err)) {
        fclose(f);
        return PT_EINPUT;
    }
    char *t = jsonin_read_all(f);
    int failed = ferror(f);
    if (!is_stdin)
        fclose(f);
    if (!t || failed) {
        free(t);
        return err_set(err, PT_EINPUT, "%s: cannot read config", path);
    }
    *text = t;
    return PT_OK;
}

int config_load_text(Config *cfg, const char *text, const char *path, Error *err)
{
    int is_stdin = strcmp(path, "-") == 0;
    int rc = config_parse(cfg, text, is_stdin ? "<stdin>" : path, err);
    if (!rc && !cfg->logging.run_dir[0])
        rc = default_run_dir(cfg, path, err);
    return rc;
}

int config_load(Config *cfg, const char *path, Error *err)
{
    char *text;
    int rc = config_read_text(path, &text, err);
    if (!rc)
        rc = config_load_text(cfg, text, path, err);
    free(text);
    return rc;
}

/* ---- --set ---- */

/* A --set value is JSON when it parses as JSON, else text; a string key takes the text as it
 * is unless it is a quoted JSON string or null, so run_name=2024 is the string "2024". */
static json_t *set_value(const Key *k, const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (v && (k->type != T_STR || json_is_string(v) || json_is_null(v)))
        return v;
    json_decref(v);
    return json_string(text);
}

int config_set(Config *cfg, const char *assignment, Error *err)
{
    const char *eq = strchr(assignment, '=');
    const char *dot = strchr(assignment, '.');
    if (!eq || !dot || dot > eq)
        return err_set(err, PT_EINPUT, "--set \"%s\": expected section.key=value", assignment);
    char section[64], name[128];
    snprintf(section, sizeof section, "%.*s", (int)(dot - assignment), assignment);
    snprintf(name, sizeof name, "%.*s", (int)(eq - dot - 1), dot + 1);
    const Key *k = find_key(section, name);
    if (!k)
        return err_set(err, PT_EINPUT, "--set: unknown key \"%.*s\"", (int)(eq - assignment),
                       assignment);
    json_t *v = set_value(k, eq + 1);
    if (!v)
        return err_set(err, PT_EINPUT, "%s: value is not valid UTF-8", k->path);
    int old_seq = cfg->training.seq_length;
    int rc = apply(cfg, k, v, err);
    json_decref(v);
    if (!rc && IS(k, model.name))
        rc = resolve_model(cfg, err);
    /* max_position_embeddings that followed seq_length keeps following it */
    if (!rc && IS(k, training.seq_length) && cfg->model.dims.max_position_embeddings == old_seq)
        cfg->model.dims.max_position_embeddings = 0;
    fill_derived(cfg);
    return rc;
}

/* ---- validate ---- */

/* With no model.name there is no preset to start from: the five sizes must all be given. */
static int check_model_given(const Config *cfg, Error *err)
{
    const ModelDims *d = &cfg->model.dims;
    const char *missing = !d->num_hidden_layers     ? "num_hidden_layers"
                          : !d->hidden_size         ? "hidden_size"
                          : !d->num_attention_heads ? "num_attention_heads"
                          : !d->intermediate_size   ? "intermediate_size"
                          : !d->vocab_size          ? "vocab_size"
                                                    : NULL;
    if (cfg->model.name[0] || !missing)
        return PT_OK;
    return err_set(err, PT_EINPUT,
                   "model.%s: missing; give model.name (a preset, hub name or HF directory) or "
                   "all of hidden_size, intermediate_size, num_hidden_layers, num_attention_heads "
                   "and vocab_size",
                   missing);
}

static int check_value(const Config *cfg, const Key *k, Error *err)
{
    if (k->type == T_STR)
        return check_choice(k, cfield(cfg, k), err);
    if (k->type == T_BOOL)
        return PT_OK;
    return check_range(k, load_num(cfg, k), err);
}

/* Upper bounds far above any published Llama (Llama-3-405B: L 126, C 16384, F 53248,
 * V 128256) that keep every size product of the library inside int64 and memory sizes
 * sane: a typo such as hidden_size 1073741824 is refused here, not by a crash. */
#define MAX_SEQ_LENGTH (1 << 24) /* training.seq_length, and max_position_embeddings with it */

static const struct { const char *key; size_t off; int max; } dim_limits[] = {
    {"model.num_hidden_layers", offsetof(ModelDims, num_hidden_layers), 4096},
    {"model.hidden_size", offsetof(ModelDims, hidden_size), 1 << 17},
    {"model.intermediate_size", offsetof(ModelDims, intermediate_size), 1 << 19},
    {"model.num_attention_heads", offsetof(ModelDims, num_attention_heads), 1 << 12},
    {"model.num_key_value_heads", offsetof(ModelDims, num_key_value_heads), 1 << 12},
    {"model.vocab_size", offsetof(ModelDims, vocab_size), 1 << 24},
    {"model.max_position_embeddings", offsetof(ModelDims, max_position_embeddings), MAX_SEQ_LENGTH},
};

static int check_model(const ModelDims *d, Error *err)
{
    for (size_t i = 0; i < sizeof dim_limits / sizeof dim_limits[0]; i++) {
        int v = *(const int *)((const char *)d + dim_limits[i].off);
        if (v > dim_limits[i].max)
            return err_set(err, PT_EINPUT, "%s: %d is larger than the supported %d",
                           dim_limits[i].key, v, dim_limits[i].max);
    }
    int C = d->hidden_size, H = d->num_attention_heads, K = d->num_key_value_heads;
    if (C / H > 1024)
        return err_set(err, PT_EINPUT,
                       "model.hidden_size: head dim %d / %d = %d is larger than the supported 1024",
                       C, H, C / H);
    if (C % H)
        return err_set(err, PT_EINPUT,
                       "model.hidden_size: %d is not divisible by num_attention_heads %d", C, H);
    if ((C / H) % 2)
        return err_set(err, PT_EINPUT,
                       "model.hidden_size: head dim %d / %d = %d must be even for RoPE", C, H,
                       C / H);
    if (H % K)
        return err_set(err, PT_EINPUT,
                       "model.num_key_value_heads: %d does not divide num_attention_heads %d", K,
                       H);
    return PT_OK;
}

int config_check_mesh(const Config *cfg, Error *err)
{
    const ModelDims *d = &cfg->model.dims;
    int tp = cfg->distributed.tp_size, pp = cfg->distributed.pp_size;
    int cp = cfg->distributed.cp_size, T = cfg->training.seq_length;
    if (d->num_attention_heads % tp)
        return err_set(err, PT_EINPUT,
                       "distributed.tp_size: %d does not divide model.num_attention_heads %d", tp,
                       d->num_attention_heads);
    if (d->num_key_value_heads % tp)
        return err_set(err, PT_EINPUT,
                       "distributed.tp_size: %d does not divide model.num_key_value_heads %d", tp,
                       d->num_key_value_heads);
    if (d->intermediate_size % tp)
        return err_set(err, PT_EINPUT,
                       "distributed.tp_size: %d does not divide model.intermediate_size %d", tp,
                       d->intermediate_size);
    if (d->num_hidden_layers < pp)
        return err_set(err, PT_EINPUT,
                       "distributed.pp_size: %d stages but model.num_hidden_layers is %d", pp,
                       d->num_hidden_layers);
    if (cp > 1 && T % (2 * cp))
        return err_set(err, PT_EINPUT,
                       "training.seq_length: %d is not divisible by 2 * distributed.cp_size = %d "
                       "(context parallelism splits it into 2*cp chunks)",
                       T, 2 * cp);
    return PT_OK;
}

static int check_training(const Config *cfg, Error *err)
{
    const char *load = cfg->checkpoint.load_path, *init = cfg->checkpoint.init_from;
    if (!cfg->dataset.name[0])
        return err_set(err, PT_EINPUT,
                       "dataset.name: missing; give a shard path/glob or \"synthetic\"");
    if (cfg->optimizer.min_lr > cfg->training.learning_rate)
        return err_set(err, PT_EINPUT,
                       "optimizer.min_lr: must be <= training.learning_rate %.15g, got %.15g",
                       cfg->training.learning_rate, cfg->optimizer.min_lr);
    if (cfg->optimizer.warmup_steps > cfg->training.total_train_steps)
        return err_set(err, PT_EINPUT,
                       "optimizer.warmup_steps: must be <= training.total_train_steps %d, got %d",
                       cfg->training.total_train_steps, cfg->optimizer.warmup_steps);
    if (load[0] && init[0])
        return err_set(err, PT_EINPUT,
                       "checkpoint.init_from: give either load_path (resume) or init_from "
                       "(weights only), not both");
    if (cfg->checkpoint.resume[0] && !cfg->checkpoint.save_dir[0])
        return err_set(err, PT_EINPUT, "checkpoint.resume: \"auto\" needs checkpoint.save_dir");
    return PT_OK;
}

int config_validate(const Config *cfg, Error *err)
{
    int rc = check_model_given(cfg, err);
    for (const Key *k = KEYS; !rc && k->path; k++)
        rc = check_value(cfg, k, err);
    /* seq_length first: max_position_embeddings usually follows it, and the message should
     * name the key the user set, not the one derived from it */
    if (!rc && cfg->training.seq_length > MAX_SEQ_LENGTH)
        rc = err_set(err, PT_EINPUT, "training.seq_length: %d is larger than the supported %d",
                     cfg->training.seq_length, MAX_SEQ_LENGTH);
    if (!rc)
        rc = check_model(&cfg->model.dims, err);
    if (!rc)
        rc = config_check_mesh(cfg, err);
    if (!rc)
        rc = check_training(cfg, err);
    int64_t from, to;
    if (!rc && cfg->logging.trace_steps[0])
        rc = trace_parse_steps("logging.trace_steps", cfg->logging.trace_steps, &from, &to, err);
    return rc;
}

/* ---- to JSON ---- */

/* Whether a key holds its unset value (0 or ""), which picotron writes as null. */
static int is_unset(const Config *cfg, const Key *k)
{
    return k->type == T_STR ? !*(const char *)cfield(cfg, k) : load_int(cfg, k) == 0;
}

static json_t *to_value(const Config *cfg, const Key *k)
{
    char digits[24];
    if (k->null_unset && is_unset(cfg, k))
        return json_null();
    switch (k->type) {
    case T_DBL: return json_real(load_num(cfg, k));
    case T_BOOL: return json_boolean(*(const int *)cfield(cfg, k));
    case T_STR: return json_string(cfield(cfg, k));
    case T_INTSTR:
        snprintf(digits, sizeof digits, "%lld", (long long)load_int(cfg, k));
        return json_string(digits);
    default: return json_integer(load_int(cfg, k));
    }
}

json_t *config_key_value(const Config *cfg, const char *key)
{
    const char *dot = strchr(key, '.');
    char section[64];
    if (!dot || (size_t)(dot - key) >= sizeof section)
        return NULL;
    snprintf(section, sizeof section, "%.*s", (int)(dot - key), key);
    const Key *k = find_key(section, dot + 1);
    return k ? to_value(cfg, k) : NULL;
}

/* The fewest of 15..17 significant digits that write every real back exactly, so the file
 * says 0.0003 rather than 0.00029999999999999997. */
static int real_precision(const Config *cfg)
{
    for (int p = 15; p < 17; p++) {
        int exact = 1;
        for (const Key *k = KEYS; k->path; k++) {
            char buf[40];
            if (k->type != T_DBL)
                continue;
            snprintf(buf, sizeof buf, "%.*g", p, load_num(cfg, k));
            exact &= strtod(buf, NULL) == load_num(cfg, k);
        }
        if (exact)
            return p;
    }
    return 17;
}

char *config_to_json(const Config *cfg)
{
    json_t *root = json_object();
    for (const Key *k = KEYS; k->path; k++) {
        char section[32];
        snprintf(section, sizeof section, "%.*s", (int)section_len(k), k->path);
        json_t *s = json_object_get(root, section);
        if (!s) {
            s = json_object();
            json_object_set_new(root, section, s);
        }
        json_object_set_new(s, leaf(k), to_value(cfg, k));
    }
    char *text = json_dumps(root, JSON_INDENT(4) | JSON_REAL_PRECISION(real_precision(cfg)));
    json_decref(root);
    return text;
}

int config_world_size(const Config *cfg)
{
    return cfg->distributed.dp_size * cfg->distributed.pp_size * cfg->distributed.cp_size *
           cfg->distributed.tp_size;
}

int64_t config_global_batch(const Config *cfg)
{
    return (int64_t)cfg->training.micro_batch_size * cfg->training.gradient_accumulation_steps *
           cfg->distributed.dp_size;
}
