/* picotron-create-config: write a run config as picotron's create_config.py does (its flags,
 * defaults, keys and values, byte for byte), plus --set for any key, --out -, --force,
 * --check FILE (validate, parameter count, per-rank memory) and --list-models. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomicfile.h"
#include "config.h"
#include "memplan.h"
#include "models.h"

#define PROG "picotron-create-config"
#define MIB (1024.0 * 1024.0)

static const char usage[] =
    "usage: picotron-create-config [flags of picotron's create_config.py] [options]\n"
    "       picotron-create-config --check FILE [--set KEY=VALUE ...] [--json]\n"
    "       picotron-create-config --list-models\n"
    "\n"
    "Write <out_dir>/<exp_name>/config.json in picotron's schema, as picotron's\n"
    "create_config.py does, with the model's layer and head counts from a preset or a local\n"
    "HF directory (offline). The config is validated before anything is written.\n"
    "\n"
    "picotron's flags (same meaning and defaults):\n"
    "  --out_dir DIR               output directory                  (tmp)\n"
    "  --exp_name NAME             run name: DIR/NAME/config.json, logging.run_name,\n"
    "                              checkpoint.save_dir = DIR/NAME     (dummy_exp)\n"
    "  --tp N                      distributed.tp_size                (1)\n"
    "  --cp N                      distributed.cp_size                (1)\n"
    "  --dp N                      distributed.dp_size                (1)\n"
    "  --pp N                      distributed.pp_size                (1)\n"
    "  --pp_engine afab|1f1b       distributed.pp_engine              (1f1b)\n"
    "  --model_name NAME           model.name: preset, hub name or local HF directory\n"
    "                                                   (HuggingFaceTB/SmolLM-360M-Instruct)\n"
    "  --num_hidden_layers N       model.num_hidden_layers            (the model's)\n"
    "  --num_attention_heads N     model.num_attention_heads          (the model's)\n"
    "  --num_key_value_heads N     model.num_key_value_heads          (the model's)\n"
    "  --grad_acc_steps N          training.gradient_accumulation_steps (1)\n"
    "  --mbs N                     training.micro_batch_size          (1)\n"
    "  --seq_len N                 training.seq_length                (1024)\n"
    "  --subset_name NAME          dataset.subset_name                (null)\n"
    "  --use_wandb                 logging.use_wandb = true\n"
    "  --use_cpu                   distributed.use_cpu = true, backend \"gloo\", FLASH_ATTEN \"0\"\n"
    "  --use_fused_adam            model.use_fused_adam = true\n"
    "  --hf_token TOKEN            environment.HF_TOKEN               (null)\n"
    "\n"
    "options (ours):\n"
    "  --set KEY=VALUE             set any key of docs/config.md, e.g. --set\n"
    "                              optimizer.grad_clip=1 (repeatable; VALUE is JSON, else a\n"
    "                              string; KEY=null writes null). The key is added to the file\n"
    "  --out FILE                  write FILE instead of DIR/NAME/config.json; '-': stdout\n"
    "  --force                     replace an existing config.json (other files are kept)\n"
    "  --check FILE                validate FILE ('-': stdin) and print its parameter count,\n"
    "                              global batch, mesh and per-rank memory estimate\n"
    "  --json                      with --check: one JSON object on stdout\n"
    "  --list-models               presets with their dimensions, parameter counts, hub names\n"
    "  -q, --quiet                 no Gbs line and no 'wrote' line on stderr\n"
    "  -h, --help                  this help\n"
    "\n"
    "exit status: 0 done, 1 runtime failure (I/O), 2 bad flag or value (one line naming the key)\n"
    "\n"
    "examples:\n"
    "  picotron-create-config --out_dir runs --exp_name a --model_name smollm-1.7b --dp 2 --tp 2 "
    "--pp 2\n"
    "  picotron-create-config --model_name tiny --seq_len 64 --out - | picotron-train --config - "
    "--set dataset.name=synthetic\n"
    "  picotron-create-config --check runs/a/config.json\n";

/* picotron's template/base_config.json, which create_config.py copies and edits; key order and
 * values as upstream, so the defaults write what picotron writes. */
static const char TEMPLATE[] =
    "{\"distributed\": {\"tp_size\": 1, \"cp_size\": 1, \"pp_size\": 1, \"dp_size\": 1,"
    "  \"pp_engine\": \"1f1b\", \"backend\": \"nccl\", \"use_cpu\": false},"
    " \"model\": {\"name\": \"HuggingFaceTB/SmolLM-360M-Instruct\", \"num_hidden_layers\": 16,"
    "  \"num_attention_heads\": 16, \"num_key_value_heads\": 4, \"dtype\": \"bfloat16\","
    "  \"use_flash_attention\": true, \"use_fused_adam\": true},"
    " \"training\": {\"seed\": 42, \"learning_rate\": 3e-4, \"total_train_steps\": 200,"
    "  \"seq_length\": 1024, \"micro_batch_size\": 32, \"gradient_accumulation_steps\": 1,"
    "  \"num_samples\": 400000, \"max_tokens\": null},"
    " \"dataset\": {\"name\": \"roneneldan/TinyStories\", \"subset_name\": null,"
    "  \"num_workers\": 0, \"num_proc\": 1},"
    " \"checkpoint\": {\"save_dir\": \"ckpt\", \"save_frequency\": 300, \"load_path\": \"\"},"
    " \"logging\": {\"use_wandb\": false, \"project_name\": \"picotron\", \"run_name\": null},"
    " \"environment\": {\"OMP_NUM_THREADS\": \"1\", \"TOKENIZERS_PARALLELISM\": \"false\","
    "  \"FLASH_ATTEN\": \"1\", \"HF_TOKEN\": null}}";

/* An integer flag that defaults to None in create_config.py: the model's value. */
typedef struct {
    int given;
    int v;
} OptInt;

typedef struct {
    const char *out_dir, *exp_name, *pp_engine, *model_name, *subset_name, *hf_token;
    int tp, cp, dp, pp, grad_acc_steps, mbs, seq_len;
    OptInt num_hidden_layers, num_attention_heads, num_key_value_heads;
    int use_wandb, use_cpu, use_fused_adam;
    /* ours */
    char **sets;
    int nsets;
    const char *out, *check;
    int force, json, list_models, quiet;
    int create_flags;         /* picotron flags given (not allowed with --check) */
    char model_buf[CFG_STR];  /* model.name from a --set */
} Args;

static void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputs(" (try '" PROG " --help')\n", stderr);
    va_end(ap);
    exit(PT_EINPUT);
}

static void die(int code, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
static void die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(code);
}

/* argparse's type=int: any integer (range checks belong to the config, which names the key). */
static int parse_int(const char *flag, const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < INT_MIN || v > INT_MAX)
        usage_error("--%s: expected an integer, got \"%s\"", flag, s);
    return (int)v;
}

/* 12345678 -> "12,345,678" (Python's {:,}). */
static const char *thousands(int64_t x, char *buf, size_t n)
{
    char digits[32];
    snprintf(digits, sizeof digits, "%lld", (long long)(x < 0 ? -x : x));
    size_t len = strlen(digits), o = 0;
    if (x < 0 && o + 1 < n)
        buf[o++] = '-';
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
    return buf;
}

/* ---- arguments ---- */

enum {
    O_OUT_DIR = 256, O_EXP_NAME, O_TP, O_CP, O_DP, O_PP, O_PP_ENGINE, O_MODEL_NAME, O_LAYERS,
    O_HEADS, O_KV_HEADS, O_GRAD_ACC, O_MBS, O_SEQ_LEN, O_SUBSET, O_WANDB, O_CPU, O_FUSED_ADAM,
    O_HF_TOKEN, O_OUT, O_SET, O_FORCE, O_CHECK, O_JSON, O_LIST,
};

static void parse_args(Args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out_dir", required_argument, 0, O_OUT_DIR},
        {"exp_name", required_argument, 0, O_EXP_NAME},
        {"tp", required_argument, 0, O_TP},
        {"cp", required_argument, 0, O_CP},
        {"dp", required_argument, 0, O_DP},
        {"pp", required_argument, 0, O_PP},
        {"pp_engine", required_argument, 0, O_PP_ENGINE},
        {"model_name", required_argument, 0, O_MODEL_NAME},
        {"num_hidden_layers", required_argument, 0, O_LAYERS},
        {"num_attention_heads", required_argument, 0, O_HEADS},
        {"num_key_value_heads", required_argument, 0, O_KV_HEADS},
        {"grad_acc_steps", required_argument, 0, O_GRAD_ACC},
        {"mbs", required_argument, 0, O_MBS},
        {"seq_len", required_argument, 0, O_SEQ_LEN},
        {"subset_name", required_argument, 0, O_SUBSET},
        {"use_wandb", no_argument, 0, O_WANDB},
        {"use_cpu", no_argument, 0, O_CPU},
        {"use_fused_adam", no_argument, 0, O_FUSED_ADAM},
        {"hf_token", required_argument, 0, O_HF_TOKEN},
        {"out", required_argument, 0, O_OUT},
        {"set", required_argument, 0, O_SET},
        {"force", no_argument, 0, O_FORCE},
        {"check", required_argument, 0, O_CHECK},
        {"json", no_argument, 0, O_JSON},
        {"list-models", no_argument, 0, O_LIST},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    *a = (Args){
        .out_dir = "tmp", .exp_name = "dummy_exp", .pp_engine = "1f1b",
        .model_name = "HuggingFaceTB/SmolLM-360M-Instruct",
        .tp = 1, .cp = 1, .dp = 1, .pp = 1, .grad_acc_steps = 1, .mbs = 1, .seq_len = 1024,
    };
    a->sets = xcalloc((size_t)argc, sizeof *a->sets);
    opterr = 0;
    int c, idx = -1;
    while ((c = getopt_long(argc, argv, ":qh", longopts, &idx)) != -1) {
        const char *name = idx >= 0 ? longopts[idx].name : "";
        if (c >= O_OUT_DIR && c <= O_HF_TOKEN)
            a->create_flags++;
        switch (c) {
        case O_OUT_DIR: a->out_dir = optarg; break;
        case O_EXP_NAME: a->exp_name = optarg; break;
        case O_TP: a->tp = parse_int(name, optarg); break;
        case O_CP: a->cp = parse_int(name, optarg); break;
        case O_DP: a->dp = parse_int(name, optarg); break;
        case O_PP: a->pp = parse_int(name, optarg); break;
        case O_PP_ENGINE: a->pp_engine = optarg; break;
        case O_MODEL_NAME: a->model_name = optarg; break;
        case O_LAYERS: a->num_hidden_layers = (OptInt){1, parse_int(name, optarg)}; break;
        case O_HEADS: a->num_attention_heads = (OptInt){1, parse_int(name, optarg)}; break;
        case O_KV_HEADS: a->num_key_value_heads = (OptInt){1, parse_int(name, optarg)}; break;
        case O_GRAD_ACC: a->grad_acc_steps = parse_int(name, optarg); break;
        case O_MBS: a->mbs = parse_int(name, optarg); break;
        case O_SEQ_LEN: a->seq_len = parse_int(name, optarg); break;
        case O_SUBSET: a->subset_name = optarg; break;
        case O_WANDB: a->use_wandb = 1; break;
        case O_CPU: a->use_cpu = 1; break;
        case O_FUSED_ADAM: a->use_fused_adam = 1; break;
        case O_HF_TOKEN: a->hf_token = optarg; break;
        case O_OUT: a->out = optarg; break;
        case O_SET: a->sets[a->nsets++] = optarg; break;
        case O_FORCE: a->force = 1; break;
        case O_CHECK: a->check = optarg; break;
        case O_JSON: a->json = 1; break;
        case O_LIST: a->list_models = 1; break;
        case 'q': a->quiet = 1; break;
        case 'h': fputs(usage, stdout); exit(0);
        case ':': usage_error("option needs a value: %s", argv[optind - 1]);
        default: usage_error("unknown option %s", argv[optind - 1]);
        }
        idx = -1;
    }
    if (optind < argc)
        usage_error("unexpected argument %s", argv[optind]);
    if (a->check && (a->create_flags || a->out || a->force))
        usage_error("--check FILE takes only --set, --json and -q");
    if (a->json && !a->check)
        usage_error("--json goes with --check FILE");
    if (!a->exp_name[0])
        usage_error("--exp_name: must not be empty");
}

/* ---- the config, as create_single_config builds it ---- */

static json_t *section(json_t *root, const char *name)
{
    json_t *s = json_object_get(root, name);
    if (!json_is_object(s)) {
        s = json_object();
        json_object_set_new(root, name, s);
    }
    return s;
}

/* A string from the command line (NULL: None, written as null); it must be UTF-8. */
static json_t *str_or_null(const char *what, const char *s)
{
    if (!s)
        return json_null();
    json_t *v = json_string(s);
    if (!v)
        usage_error("%s: not valid UTF-8", what);
    return v;
}

static void put(json_t *root, const char *sec, const char *key, json_t *v)
{
    json_object_set_new(section(root, sec), key, v);
}

/* os.path.join(out_dir, exp_name). */
static char *run_path(const Args *a)
{
    size_t n = strlen(a->out_dir) + strlen(a->exp_name) + 2;
    char *p = xmalloc(n);
    if (a->exp_name[0] == '/' || !a->out_dir[0])
        snprintf(p, n, "%s", a->exp_name);
    else
        snprintf(p, n, "%s%s%s", a->out_dir,
                 a->out_dir[strlen(a->out_dir) - 1] == '/' ? "" : "/", a->exp_name);
    return p;
}

/* A --set of model.name chooses the model as --model_name does (its layer and head counts
 * follow, unless the flags give them); the last one wins. */
static void take_model_sets(Args *a)
{
    for (int i = 0; i < a->nsets; i++) {
        if (strncmp(a->sets[i], "model.name=", 11) != 0)
            continue;
        Config scratch;
        Error err = {0};
        config_defaults(&scratch);
        if (config_set(&scratch, a->sets[i], &err))
            err_die(PROG, &err);
        if (!scratch.model.name[0])
            die(PT_EINPUT, "model.name: create-config needs a model (--model_name)");
        /* the value as config_set reads it: a quoted JSON string is unquoted */
        snprintf(a->model_buf, sizeof a->model_buf, "%s", scratch.model.name);
        a->model_name = a->model_buf;
        a->sets[i] = NULL;
    }
}

/* picotron's create_single_config, in its order. */
static json_t *build(const Args *a, const char *path)
{
    json_error_t jerr;
    json_t *root = json_loads(TEMPLATE, 0, &jerr);
    if (!root)
        die(PT_ERUNTIME, "internal: template: %s", jerr.text);
    put(root, "environment", "HF_TOKEN", str_or_null("--hf_token", a->hf_token));
    put(root, "training", "seq_length", json_integer(a->seq_len));
    put(root, "checkpoint", "save_dir", str_or_null("--out_dir/--exp_name", path));
    put(root, "dataset", "subset_name", str_or_null("--subset_name", a->subset_name));
    put(root, "model", "name", str_or_null("--model_name", a->model_name));

    ModelDims d;
    Error err = {0};
    if (models_resolve(a->model_name, &d, &err))
        err_die(PROG, &err);
    const OptInt *L = &a->num_hidden_layers, *H = &a->num_attention_heads,
                 *K = &a->num_key_value_heads;
    put(root, "model", "num_hidden_layers", json_integer(L->given ? L->v : d.num_hidden_layers));
    put(root, "model", "num_attention_heads",
        json_integer(H->given ? H->v : d.num_attention_heads));
    put(root, "model", "num_key_value_heads",
        json_integer(K->given ? K->v : d.num_key_value_heads));
    put(root, "model", "use_fused_adam", json_boolean(a->use_fused_adam));

    put(root, "distributed", "tp_size", json_integer(a->tp));
    put(root, "distributed", "cp_size", json_integer(a->cp));
    put(root, "distributed", "dp_size", json_integer(a->dp));
    put(root, "distributed", "pp_size", json_integer(a->pp));
    put(root, "distributed", "pp_engine", str_or_null("--pp_engine", a->pp_engine));
    put(root, "distributed", "use_cpu", json_boolean(a->use_cpu));
    if (a->use_cpu) {
        put(root, "environment", "FLASH_ATTEN", json_string("0"));
        put(root, "distributed", "backend", json_string("gloo"));
    }
    put(root, "logging", "use_wandb", json_boolean(a->use_wandb));
    put(root, "logging", "run_name", str_or_null("--exp_name", a->exp_name));
    put(root, "training", "gradient_accumulation_steps", json_integer(a->grad_acc_steps));
    put(root, "training", "micro_batch_size", json_integer(a->mbs));
    return root;
}

/* Apply one --set to the JSON: the value is checked by config_set (the key exists, type and
 * range hold) and written as config_to_json writes that key, at its path. */
static void apply_set(json_t *root, const char *assignment)
{
    Config scratch;
    Error err = {0};
    config_defaults(&scratch);
    if (config_set(&scratch, assignment, &err))
        err_die(PROG, &err);
    const char *eq = strchr(assignment, '='), *dot = strchr(assignment, '.');
    char sec[64], key[128];
    snprintf(sec, sizeof sec, "%.*s", (int)(dot - assignment), assignment);
    snprintf(key, sizeof key, "%.*s", (int)(eq - dot - 1), dot + 1);
    json_t *given = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
    json_t *v;
    if (given && json_is_null(given)) {
        v = json_null();
    } else {
        char *text = config_to_json(&scratch);
        json_t *all = json_loads(text, 0, NULL);
        free(text);
        v = json_deep_copy(json_object_get(json_object_get(all, sec), key));
        json_decref(all);
    }
    json_decref(given);
    if (!v)
        die(PT_ERUNTIME, "internal: --set %s: no value", assignment);
    put(root, sec, key, v);
}

/* Whether every real under v is written back exactly with p significant digits. */
static int reals_exact(json_t *v, int p)
{
    const char *key;
    size_t i;
    json_t *x;
    if (json_is_real(v)) {
        char buf[40];
        snprintf(buf, sizeof buf, "%.*g", p, json_real_value(v));
        return strtod(buf, NULL) == json_real_value(v);
    }
    json_object_foreach(v, key, x) {
        if (!reals_exact(x, p))
            return 0;
    }
    json_array_foreach(v, i, x) {
        if (!reals_exact(x, p))
            return 0;
    }
    return 1;
}

/* json.dump(config, f, indent=4): four-space indent, ", "/": " separators, ASCII escapes,
 * keys in insertion order, no trailing newline; reals with the fewest of 15..17 digits that
 * read back exactly (3e-4 is written 0.0003, as Python writes it). */
static char *dump(json_t *root)
{
    int p = 15;
    while (p < 17 && !reals_exact(root, p))
        p++;
    char *text = json_dumps(root, JSON_INDENT(4) | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(p));
    if (!text)
        die(PT_ERUNTIME, "out of memory writing the config");
    return text;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

static int create(Args *a)
{
    take_model_sets(a);
    char *rp = run_path(a);
    json_t *root = build(a, rp);
    for (int i = 0; i < a->nsets; i++)
        if (a->sets[i])
            apply_set(root, a->sets[i]);
    char *text = dump(root);
    json_decref(root);

    /* what we write must be a config train accepts (hub names and backends warn there) */
    Config cfg;
    Error err = {0};
    config_warnings(0);
    if (config_parse(&cfg, text, "config", &err))
        err_die(PROG, &err);

    int to_stdout = a->out && strcmp(a->out, "-") == 0;
    char *path = NULL, *dir = NULL;
    if (!to_stdout) {
        if (a->out) {
            path = strdup(a->out);
        } else {
            path = xmalloc(strlen(rp) + 16);
            sprintf(path, "%s/config.json", rp);
        }
        dir = dir_of(path);
        if (exists(path) && !a->force)
            die(PT_EINPUT, "%s: exists; --force replaces it (other files in %s are kept)", path,
                dir);
    }

    char b1[32], b2[32];
    int64_t gbs = config_global_batch(&cfg);
    if (!a->quiet)
        fprintf(stderr, "Gbs_token: %s, Gbs: %s, dp: %d, seq_len: %d, grad_acc_steps: %d, mbs: %d\n",
                thousands(gbs * cfg.training.seq_length, b1, sizeof b1),
                thousands(gbs, b2, sizeof b2), cfg.distributed.dp_size,
                cfg.training.seq_length, cfg.training.gradient_accumulation_steps,
                cfg.training.micro_batch_size);

    if (to_stdout) {
        if (printf("%s\n", text) < 0 || fflush(stdout) != 0)
            die(PT_ERUNTIME, "stdout: write failed: %s", strerror(errno));
    } else {
        if (make_dirs(dir, &err) || atomic_write_file(path, text, strlen(text), &err))
            err_die(PROG, &err);
        if (!a->quiet)
            fprintf(stderr, PROG ": wrote %s\n", path);
    }
    free(dir);
    free(path);
    free(text);
    free(rp);
    return 0;
}

/* ---- --check ---- */

/* Parameters outside the embedding and the (untied) lm head. */
static int64_t non_embedding_params(const ModelDims *d)
{
    int64_t VC = (int64_t)d->vocab_size * d->hidden_size;
    return models_num_params(d) - VC * (d->tie_word_embeddings ? 1 : 2);
}

static void check_text(const Config *cfg, const char *path, const MemPlan *plan)
{
    const ModelDims *d = &cfg->model.dims;
    const int dp = cfg->distributed.dp_size, pp = cfg->distributed.pp_size;
    const int cp = cfg->distributed.cp_size, tp = cfg->distributed.tp_size;
    int world = dp * pp * cp * tp;
    int64_t gbs = config_global_batch(cfg);
    char b1[32], b2[32], b3[32];
    printf("%s: ok\n", path);
    printf("model %s: %s params, %s without embeddings (L=%d C=%d H=%d K=%d F=%d V=%d%s)\n",
           cfg->model.name[0] ? cfg->model.name : "custom",
           thousands(models_num_params(d), b1, sizeof b1),
           thousands(non_embedding_params(d), b2, sizeof b2), d->num_hidden_layers,
           d->hidden_size, d->num_attention_heads, d->num_key_value_heads,
           d->intermediate_size, d->vocab_size, d->tie_word_embeddings ? " tied" : "");
    printf("global batch: %s samples x %d tokens = %s tokens (mbs %d x grad_acc %d x dp %d)\n",
           thousands(gbs, b1, sizeof b1), cfg->training.seq_length,
           thousands(gbs * cfg->training.seq_length, b3, sizeof b3),
           cfg->training.micro_batch_size, cfg->training.gradient_accumulation_steps, dp);
    printf("mesh dp=%d pp=%d cp=%d tp=%d (%d rank%s), pp_engine %s, zero_stage %d\n", dp, pp, cp,
           tp, world, world == 1 ? "" : "s", cfg->distributed.pp_engine,
           cfg->distributed.zero_stage);
    printf("memory per rank (fp32 as the CPU trainer allocates it; every rank of a stage the "
           "same):\n");
    for (int s = 0; s < plan->pp; s++) {
        const MemStage *m = &plan->stage[s];
        printf("stage %d memory: params %.1f MiB, grads %.1f MiB, optimizer %.1f MiB, "
               "activations %.1f MiB; total %.1f MiB (layers %d-%d, %d micro-batch%s in "
               "flight)\n",
               s, m->params / MIB, m->grads / MIB, m->optimizer / MIB, m->activations / MIB,
               memplan_stage_total(m) / MIB, m->layer_begin, m->layer_end - 1, m->nslots,
               m->nslots == 1 ? "" : "es");
    }
}

static void check_json(const Config *cfg, const char *path, const MemPlan *plan)
{
    const ModelDims *d = &cfg->model.dims;
    json_t *stages = json_array();
    for (int s = 0; s < plan->pp; s++) {
        const MemStage *m = &plan->stage[s];
        json_array_append_new(
            stages, json_pack("{s:i, s:i, s:i, s:I, s:i, s:f, s:f, s:f, s:f, s:f}", "stage", s,
                              "layer_begin", m->layer_begin, "layer_end", m->layer_end,
                              "param_floats", (json_int_t)m->param_floats, "in_flight",
                              m->nslots, "params_bytes", m->params, "grads_bytes", m->grads,
                              "optimizer_bytes", m->optimizer, "activations_bytes",
                              m->activations, "total_bytes", memplan_stage_total(m)));
    }
    int64_t gbs = config_global_batch(cfg);
    json_t *o = json_pack(
        "{s:s, s:s, s:I, s:I, s:I, s:I, s:{s:i, s:i, s:i, s:i, s:i}, s:o}", "config", path,
        "model", cfg->model.name, "params", (json_int_t)models_num_params(d),
        "params_without_embeddings", (json_int_t)non_embedding_params(d),
        "global_batch_samples", (json_int_t)gbs, "global_batch_tokens",
        (json_int_t)(gbs * cfg->training.seq_length), "mesh", "dp", cfg->distributed.dp_size,
        "pp", cfg->distributed.pp_size, "cp", cfg->distributed.cp_size, "tp",
        cfg->distributed.tp_size, "world",
        cfg->distributed.dp_size * cfg->distributed.pp_size * cfg->distributed.cp_size *
            cfg->distributed.tp_size,
        "stages", stages);
    if (!o)
        die(PT_ERUNTIME, "%s: cannot describe the config as JSON", path);
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    printf("%s\n", text);
    free(text);
    json_decref(o);
}

static int check(const Args *a)
{
    Config cfg;
    Error err = {0};
    if (config_load(&cfg, a->check, &err))
        err_die(PROG, &err);
    for (int i = 0; i < a->nsets; i++)
        if (config_set(&cfg, a->sets[i], &err))
            err_die(PROG, &err);
    if (config_validate(&cfg, &err))
        err_die(PROG, &err);
    MemPlan plan;
    memplan_estimate(&cfg, &plan);
    const char *name = strcmp(a->check, "-") == 0 ? "<stdin>" : a->check;
    if (a->json)
        check_json(&cfg, name, &plan);
    else
        check_text(&cfg, name, &plan);
    memplan_free(&plan);
    if (fflush(stdout) != 0)
        die(PT_ERUNTIME, "stdout: write failed: %s", strerror(errno));
    return 0;
}

/* ---- --list-models ---- */

static int list_models(void)
{
    printf("%-15s %3s %5s %3s %3s %6s %7s %4s %14s  %s\n", "preset", "L", "C", "H", "K", "F",
           "V", "tied", "params", "hub names");
    for (const ModelPreset *p = models_presets(); p->name; p++) {
        const ModelDims *d = &p->dims;
        char b[32];
        printf("%-15s %3d %5d %3d %3d %6d %7d %4s %14s  %s\n", p->name, d->num_hidden_layers,
               d->hidden_size, d->num_attention_heads, d->num_key_value_heads,
               d->intermediate_size, d->vocab_size, d->tie_word_embeddings ? "yes" : "no",
               thousands(models_num_params(d), b, sizeof b),
               p->hub_names && p->hub_names[0] ? p->hub_names : "-");
    }
    printf("\n--model_name takes a preset or hub name (case-insensitive) or a local directory "
           "holding an HF config.json.\n");
    return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    Args a;
    parse_args(&a, argc, argv);
    int rc = a.list_models ? list_models() : a.check ? check(&a) : create(&a);
    free(a.sets);
    return rc;
}
