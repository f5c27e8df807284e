/* picotron-create-config: write a run config as picotron's create_config.py does (its flags,
 * defaults, keys and values, byte for byte), plus --set for any key, --out -, --force,
 * --check FILE (validate, parameter count, per-rank memory) and --list-models. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atomicfile.h"
#include "cfgreport.h"
#include "cli.h"
#include "config.h"
#include "memplan.h"
#include "models.h"
#include "pyjson.h"

#define PROG "picotron-create-config"

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

static const Cli cli = {.prog = PROG, .usage = usage};

typedef struct {
    const char *out_dir, *exp_name, *pp_engine, *model_name, *subset_name, *hf_token;
    int tp, cp, dp, pp, grad_acc_steps, mbs, seq_len;
    /* None in create_config.py unless given (*_given): the model's value */
    int num_hidden_layers, num_attention_heads, num_key_value_heads;
    int layers_given, heads_given, kv_heads_given;
    int use_wandb, use_cpu, use_fused_adam;
    /* ours */
    CliList sets;
    const char *out, *check;
    int force, json, list_models, quiet;
    int create_flags;         /* picotron flags given (not allowed with --check) */
    char model_buf[CFG_STR];  /* model.name from a --set */
} Args;

/* ---- arguments ---- */

/* picotron's flags are counted (--check takes none of them); an integer is argparse's
 * type=int, any integer: range checks belong to the config, which names the key. */
#define PY_STRING(name, v)      {name, 0, CLI_STRING, v, 0, 0, &a->create_flags}
#define PY_FLAG(name, v)        {name, 0, CLI_FLAG, v, 0, 0, &a->create_flags}
#define PY_INT(name, v)         {name, 0, CLI_INT, v, INT_MIN, INT_MAX, &a->create_flags}
#define PY_MODEL_INT(name, v, given) {name, 0, CLI_INT, v, INT_MIN, INT_MAX, given}

static void parse_args(Args *a, int argc, char **argv)
{
    *a = (Args){
        .out_dir = "tmp", .exp_name = "dummy_exp", .pp_engine = "1f1b",
        .model_name = "HuggingFaceTB/SmolLM-360M-Instruct",
        .tp = 1, .cp = 1, .dp = 1, .pp = 1, .grad_acc_steps = 1, .mbs = 1, .seq_len = 1024,
    };
    const CliOption options[] = {
        PY_STRING("out_dir", &a->out_dir),
        PY_STRING("exp_name", &a->exp_name),
        PY_INT("tp", &a->tp),
        PY_INT("cp", &a->cp),
        PY_INT("dp", &a->dp),
        PY_INT("pp", &a->pp),
        PY_STRING("pp_engine", &a->pp_engine),
        PY_STRING("model_name", &a->model_name),
        PY_MODEL_INT("num_hidden_layers", &a->num_hidden_layers, &a->layers_given),
        PY_MODEL_INT("num_attention_heads", &a->num_attention_heads, &a->heads_given),
        PY_MODEL_INT("num_key_value_heads", &a->num_key_value_heads, &a->kv_heads_given),
        PY_INT("grad_acc_steps", &a->grad_acc_steps),
        PY_INT("mbs", &a->mbs),
        PY_INT("seq_len", &a->seq_len),
        PY_STRING("subset_name", &a->subset_name),
        PY_FLAG("use_wandb", &a->use_wandb),
        PY_FLAG("use_cpu", &a->use_cpu),
        PY_FLAG("use_fused_adam", &a->use_fused_adam),
        PY_STRING("hf_token", &a->hf_token),
        OPT_STRING("out", 0, &a->out),
        OPT_LIST("set", 0, &a->sets),
        OPT_FLAG("force", 0, &a->force),
        OPT_STRING("check", 0, &a->check),
        OPT_FLAG("json", 0, &a->json),
        OPT_FLAG("list-models", 0, &a->list_models),
        OPT_FLAG("quiet", 'q', &a->quiet),
        OPT_END,
    };
    int first = cli_parse(&cli, options, argc, argv);
    int picotron_flags = a->create_flags + a->layers_given + a->heads_given + a->kv_heads_given;
    if (first < argc)
        cli_usage_error(&cli, "unexpected argument %s", argv[first]);
    if (a->check && (picotron_flags || a->out || a->force))
        cli_usage_error(&cli, "--check FILE takes only --set, --json and -q");
    if (a->json && !a->check)
        cli_usage_error(&cli, "--json goes with --check FILE");
    if (!a->exp_name[0])
        cli_usage_error(&cli, "--exp_name: must not be empty");
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
        cli_usage_error(&cli, "%s: not valid UTF-8", what);
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
    for (int i = 0; i < a->sets.n; i++) {
        if (strncmp(a->sets.items[i], "model.name=", 11) != 0)
            continue;
        Config scratch;
        Error err = {0};
        config_defaults(&scratch);
        if (config_set(&scratch, a->sets.items[i], &err))
            cli_fail(&cli, &err);
        if (!scratch.model.name[0])
            cli_die(&cli, PT_EINPUT, "model.name: create-config needs a model (--model_name)");
        /* the value as config_set reads it: a quoted JSON string is unquoted */
        snprintf(a->model_buf, sizeof a->model_buf, "%s", scratch.model.name);
        a->model_name = a->model_buf;
        a->sets.items[i] = NULL;
    }
}

/* picotron's create_single_config, in its order. */
static json_t *build(const Args *a, const char *path)
{
    json_error_t jerr;
    json_t *root = json_loads(TEMPLATE, 0, &jerr);
    if (!root)
        cli_die(&cli, PT_ERUNTIME, "internal: template: %s", jerr.text);
    put(root, "environment", "HF_TOKEN", str_or_null("--hf_token", a->hf_token));
    put(root, "training", "seq_length", json_integer(a->seq_len));
    put(root, "checkpoint", "save_dir", str_or_null("--out_dir/--exp_name", path));
    put(root, "dataset", "subset_name", str_or_null("--subset_name", a->subset_name));
    put(root, "model", "name", str_or_null("--model_name", a->model_name));

    ModelDims d;
    Error err = {0};
    if (models_resolve(a->model_name, &d, &err))
        cli_fail(&cli, &err);
    put(root, "model", "num_hidden_layers",
        json_integer(a->layers_given ? a->num_hidden_layers : d.num_hidden_layers));
    put(root, "model", "num_attention_heads",
        json_integer(a->heads_given ? a->num_attention_heads : d.num_attention_heads));
    put(root, "model", "num_key_value_heads",
        json_integer(a->kv_heads_given ? a->num_key_value_heads : d.num_key_value_heads));
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

/* Apply one --set to the JSON: config_set checks the value (the key exists, type and range
 * hold) and the key is written as config_to_json writes it; KEY=null writes null. */
static void apply_set(json_t *root, const char *assignment)
{
    Config scratch;
    Error err = {0};
    config_defaults(&scratch);
    if (config_set(&scratch, assignment, &err))
        cli_fail(&cli, &err);
    const char *eq = strchr(assignment, '='), *dot = strchr(assignment, '.');
    char sec[64], key[192];
    snprintf(sec, sizeof sec, "%.*s", (int)(dot - assignment), assignment);
    snprintf(key, sizeof key, "%.*s", (int)(eq - assignment), assignment);
    json_t *given = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
    json_t *v = given && json_is_null(given) ? json_null() : config_key_value(&scratch, key);
    json_decref(given);
    if (!v)
        cli_die(&cli, PT_ERUNTIME, "internal: --set %s: no value", assignment);
    put(root, sec, key + strlen(sec) + 1, v);
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
    for (int i = 0; i < a->sets.n; i++)
        if (a->sets.items[i])
            apply_set(root, a->sets.items[i]);
    char *text = pyjson_dump(root, 4);
    if (!text)
        cli_die(&cli, PT_ERUNTIME, "out of memory writing the config");
    json_decref(root);

    /* what we write must be a config train accepts (hub names and backends warn there) */
    Config cfg;
    Error err = {0};
    config_warnings(0);
    if (config_parse(&cfg, text, "config", &err))
        cli_fail(&cli, &err);

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
            cli_die(&cli, PT_EINPUT, "%s: exists; --force replaces it (other files in %s are kept)", path,
                dir);
    }

    char b1[32], b2[32];
    int64_t gbs = config_global_batch(&cfg);
    if (!a->quiet)
        fprintf(stderr, "Gbs_token: %s, Gbs: %s, dp: %d, seq_len: %d, grad_acc_steps: %d, mbs: %d\n",
                cfgreport_thousands(gbs * cfg.training.seq_length, b1, sizeof b1),
                cfgreport_thousands(gbs, b2, sizeof b2), cfg.distributed.dp_size,
                cfg.training.seq_length, cfg.training.gradient_accumulation_steps,
                cfg.training.micro_batch_size);

    if (to_stdout) {
        if (printf("%s\n", text) < 0 || fflush(stdout) != 0)
            cli_die(&cli, PT_ERUNTIME, "stdout: write failed: %s", strerror(errno));
    } else {
        if (make_dirs(dir, &err) || atomic_write_file(path, text, strlen(text), &err))
            cli_fail(&cli, &err);
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

static int check(const Args *a)
{
    Config cfg;
    Error err = {0};
    if (config_load(&cfg, a->check, &err))
        cli_fail(&cli, &err);
    for (int i = 0; i < a->sets.n; i++)
        if (config_set(&cfg, a->sets.items[i], &err))
            cli_fail(&cli, &err);
    if (config_validate(&cfg, &err))
        cli_fail(&cli, &err);
    MemPlan plan;
    memplan_estimate(&cfg, &plan);
    const char *name = strcmp(a->check, "-") == 0 ? "<stdin>" : a->check;
    if (a->json && cfgreport_json(stdout, &cfg, name, &plan, &err))
        cli_fail(&cli, &err);
    if (!a->json)
        cfgreport_text(stdout, &cfg, name, &plan);
    memplan_free(&plan);
    if (fflush(stdout) != 0)
        cli_die(&cli, PT_ERUNTIME, "stdout: write failed: %s", strerror(errno));
    return 0;
}

int main(int argc, char **argv)
{
    Args a;
    parse_args(&a, argc, argv);
    int rc;
    if (a.list_models) {
        cfgreport_models(stdout);
        rc = fflush(stdout) == 0 ? 0 : PT_ERUNTIME;
    } else {
        rc = a.check ? check(&a) : create(&a);
    }
    cli_list_free(&a.sets);
    return rc;
}
