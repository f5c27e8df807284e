/* picotron-convert-hf: Hugging Face Llama directories (config.json + safetensors) to picotron
 * checkpoints and back, and a tensor-by-tensor comparison of two HF directories. */
#include <dirent.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "ckpt.h"
#include "cli.h"
#include "comm.h"
#include "config.h"
#include "hfconfig.h"
#include "hfconvert.h"
#include "models.h"
#include "params.h"
#include "progress.h"
#include "safetensors.h"

static const char *prog = "picotron-convert-hf";

static const char usage[] =
    "usage: picotron-convert-hf import HF_DIR --out DIR [-q]\n"
    "       picotron-convert-hf export CKPT --out HF_DIR [--dtype bf16|fp16|fp32]\n"
    "                                  [--max-shard-size SIZE] [-q]\n"
    "       picotron-convert-hf compare HF_DIR_A HF_DIR_B\n"
    "\n"
    "import  reads an HF LlamaForCausalLM directory (config.json, model.safetensors or\n"
    "        model.safetensors.index.json + shards; F32, F16 or BF16, widened to fp32 exactly)\n"
    "        and writes DIR/weights/step_00000000 (a consolidated picotron checkpoint, weights\n"
    "        only, loadable under any mesh) and DIR/config.json (a run config with the model's\n"
    "        dimensions and checkpoint.init_from pointing at the weights; set dataset.name).\n"
    "        Prints the config's path on stdout.\n"
    "export  writes HF_DIR/config.json and model.safetensors (or shards + index) from a\n"
    "        checkpoint written under any mesh (a step_NNNNNNNN directory, or a save_dir: its\n"
    "        latest). fp32 -> bf16 / fp16 rounds to nearest, ties to even. Prints HF_DIR.\n"
    "compare checks that two HF directories describe the same model (config.json dimensions)\n"
    "        with byte-identical tensors (names, dtypes, shapes, bytes); exit 1 when they differ.\n"
    "\n"
    "options:\n"
    "  -o, --out DIR             output directory; must not exist or be empty\n"
    "      --dtype D             export dtype: fp32 (default), bf16 or fp16\n"
    "      --max-shard-size SIZE largest shard, e.g. 5GB (default), 500MB, 2GiB, 1000000 (bytes);\n"
    "                            GB = 10^9 bytes as in transformers, GiB = 2^30\n"
    "  -q, --quiet               no summary and no progress on stderr\n"
    "      --progress            a line per tensor read and written on stderr even when it is\n"
    "                            not a terminal (on a terminal it is shown by default)\n"
    "  -h, --help                this help\n"
    "\n"
    "exit status: 0 done (compare: identical), 1 runtime failure (compare: different),\n"
    "2 bad input (nothing written)\n"
    "\n"
    "examples:\n"
    "  picotron-convert-hf import ~/models/SmolLM-135M --out runs/smollm\n"
    "  picotron-train --config runs/smollm/config.json --set dataset.name='data/*.bin'\n"
    "  picotron-convert-hf export ckpt --out hf/smollm --dtype bf16   # the run's save_dir\n";

/* ---- helpers ---- */

/* The output directory must not exist or be empty: a refused or finished conversion never
 * mixes with files already there. */
static int check_out_dir(const char *dir, Error *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        struct stat st;
        if (stat(dir, &st) == 0)
            return err_set(err, PT_EINPUT, "%s: exists and is not a directory", dir);
        return PT_OK;
    }
    struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d)))
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty ? PT_OK
                 : err_set(err, PT_EINPUT, "%s: exists and is not empty (remove it or choose "
                           "another --out)", dir);
}

/* path made absolute against the working directory; error when it does not fit len (the
 * config stores it in CFG_STR bytes). */
static int absolute_path(const char *path, char *out, size_t len, Error *err)
{
    char cwd[PATH_MAX] = "";
    if (path[0] != '/' && !getcwd(cwd, sizeof cwd))
        cwd[0] = '\0';
    size_t a = strlen(cwd), b = strlen(path);
    if (a + b + 2 > len)
        return err_set(err, PT_EINPUT, "%s: path too long", path);
    memcpy(out, cwd, a);
    out[a] = '/';
    memcpy(out + (a ? a + 1 : 0), path, b + 1);
    return PT_OK;
}

/* The whole model on one process: the consolidated view of a checkpoint. */
static CkptView consolidated_view(size_t opt_hi)
{
    CkptView v = {.rank = 0, .world = 1, .dp = 1, .pp = 1, .cp = 1, .tp = 1, .zero_stage = 0,
                  .opt_lo = 0, .opt_hi = opt_hi};
    return v;
}

/* ---- import ---- */

/* The run config written beside the weights: the model's dimensions, init_from, and defaults
 * for the rest (synthetic data until the user names a dataset). */
static int import_config(const ModelDims *d, const char *init_from, Config *cfg, Error *err)
{
    config_defaults(cfg);
    cfg->model.name[0] = '\0';
    cfg->model.dims = *d;
    if (cfg->training.seq_length > d->max_position_embeddings)
        cfg->training.seq_length = d->max_position_embeddings;
    snprintf(cfg->dataset.name, sizeof cfg->dataset.name, "synthetic");
    memcpy(cfg->checkpoint.init_from, init_from, strlen(init_from) + 1); /* fits: see cmd_import */
    return config_validate(cfg, err);
}

static int cmd_import(const char *hf_dir, const char *out, int quiet, Error *err)
{
    ModelDims d;
    if (hfconfig_read(hf_dir, &d, err))
        return err->code;
    /* DIR/weights/step_00000000 must fit checkpoint.init_from */
    char abs_out[CFG_STR - 32], save_dir[CFG_STR - 16], init_from[CFG_STR];
    if (absolute_path(out, abs_out, sizeof abs_out, err))
        return err->code;
    snprintf(save_dir, sizeof save_dir, "%s/weights", abs_out);
    ckpt_step_path(save_dir, 0, "", init_from, sizeof init_from);
    static Config cfg;
    if (import_config(&d, init_from, &cfg, err))
        return err_set(err, PT_EINPUT, "%s/config.json: the model is not one picotron trains: %s",
                       hf_dir, err->msg);
    ParamShard shard = params_shard_single(&d);
    ParamTable pt;
    params_build(&pt, &d, &shard);
    float *params = xmalloc(pt.numel * sizeof *params);
    StDtype src = ST_F32;
    int rc = hf_load_weights(hf_dir, &pt, params, &src, err);
    if (!rc)
        rc = check_out_dir(out, err);
    if (!rc)
        rc = make_dirs(out, err);
    static CkptMeta meta;
    char *json = rc ? NULL : config_to_json(&cfg);
    if (!rc) {
        memset(&meta, 0, sizeof meta);
        meta.format_version = CKPT_FORMAT_VERSION;
        meta.global_batch = config_global_batch(&cfg);
        meta.seed = cfg.training.seed;
        meta.dp = meta.pp = meta.cp = meta.tp = 1;
        snprintf(meta.config_json, sizeof meta.config_json, "%s", json);
        /* weights only: an empty optimizer range stores no AdamW state */
        CkptView view = consolidated_view(0);
        Comm self = comm_self();
        rc = ckpt_save(save_dir, &meta, &pt, &view, params, NULL, NULL, &self, 0, err);
    }
    char config_path[PATH_MAX + 16];
    snprintf(config_path, sizeof config_path, "%s/config.json", abs_out);
    if (!rc) {
        size_t n = strlen(json);
        char *text = xmalloc(n + 2);
        memcpy(text, json, n);
        memcpy(text + n, "\n", 2);
        rc = atomic_write_file(config_path, text, n + 1, err);
        free(text);
    }
    if (!rc) {
        printf("%s\n", config_path);
        if (!quiet)
            fprintf(stderr, "%s: imported %s (%d tensors, %zu parameters, %s) into %s\n", prog,
                    hf_dir, pt.n, (size_t)models_num_params(&d), st_dtype_name(src), init_from);
    }
    free(json);
    free(params);
    params_free(&pt);
    return rc;
}

/* ---- export ---- */

/* The model dimensions of a checkpoint, from the config stored in its metadata. model.name is
 * dropped: the stored config has every dimension, and the name may be a directory that is gone. */
static int ckpt_dims(const char *dir, const CkptMeta *meta, ModelDims *d, Error *err)
{
    char where[PATH_MAX + 16];
    ckpt_meta_path(dir, where, sizeof where);
    json_error_t jerr;
    json_t *root = json_loads(meta->config_json, 0, &jerr);
    json_t *model = root ? json_object_get(root, "model") : NULL;
    if (!json_is_object(model)) {
        json_decref(root);
        return err_set(err, PT_EINPUT, "%s: the stored config has no model section", where);
    }
    json_object_del(model, "name");
    char *text = json_dumps(root, 0);
    json_decref(root);
    static Config cfg;
    config_warnings(0);
    int rc = config_parse(&cfg, text, where, err);
    free(text);
    if (!rc)
        *d = cfg.model.dims;
    return rc;
}

static int cmd_export(const char *ckpt, const char *out, StDtype dtype, uint64_t max_shard,
                      int quiet, Error *err)
{
    char dir[PATH_MAX];
    Error probe = {0};
    if (ckpt_latest(ckpt, dir, sizeof dir, &probe) != PT_OK) /* not a save_dir: a step directory */
        snprintf(dir, sizeof dir, "%s", ckpt);
    static CkptMeta meta;
    ModelDims d;
    if (ckpt_read_meta(dir, &meta, err) || ckpt_dims(dir, &meta, &d, err))
        return err->code;
    ParamShard shard = params_shard_single(&d);
    ParamTable pt;
    params_build(&pt, &d, &shard);
    float *params = xmalloc(pt.numel * sizeof *params);
    CkptView view = consolidated_view(pt.numel);
    int rc = ckpt_load(dir, &pt, &view, params, NULL, NULL, err);
    if (!rc)
        rc = check_out_dir(out, err);
    if (!rc)
        rc = make_dirs(out, err);
    if (!rc)
        rc = hf_save(out, &pt, params, dtype, max_shard, err);
    if (!rc) {
        printf("%s\n", out);
        if (!quiet)
            fprintf(stderr, "%s: exported %s (step %lld, mesh dp=%d pp=%d cp=%d tp=%d, %zu "
                    "parameters) to %s as %s\n", prog, dir, (long long)meta.step, meta.dp, meta.pp,
                    meta.cp, meta.tp, (size_t)models_num_params(&d), out, st_dtype_name(dtype));
    }
    free(params);
    params_free(&pt);
    return rc;
}

/* ---- compare ---- */

static int dims_differ(const ModelDims *a, const ModelDims *b, char *what, size_t n)
{
#define DIFF_INT(f) if (a->f != b->f) return snprintf(what, n, #f " %d vs %d", a->f, b->f), 1
#define DIFF_DBL(f) if (a->f != b->f) return snprintf(what, n, #f " %.17g vs %.17g", a->f, b->f), 1
    DIFF_INT(num_hidden_layers);
    DIFF_INT(hidden_size);
    DIFF_INT(num_attention_heads);
    DIFF_INT(num_key_value_heads);
    DIFF_INT(intermediate_size);
    DIFF_INT(vocab_size);
    DIFF_INT(max_position_embeddings);
    DIFF_INT(tie_word_embeddings);
    DIFF_DBL(rope_theta);
    DIFF_DBL(rms_norm_eps);
#undef DIFF_INT
#undef DIFF_DBL
    return 0;
}

/* Why tensor a (of A) and b (of B, may be NULL) differ, or "" when they are identical. */
static void tensor_diff(const StTensor *a, const StTensor *b, char *why, size_t n)
{
    why[0] = '\0';
    if (!b) {
        snprintf(why, n, "missing from B");
    } else if (a->dtype != b->dtype) {
        snprintf(why, n, "dtype %s vs %s", st_dtype_name(a->dtype), st_dtype_name(b->dtype));
    } else if (a->ndim != b->ndim || memcmp(a->shape, b->shape, sizeof a->shape)) {
        snprintf(why, n, "shapes differ");
    } else if (memcmp(a->data, b->data, (size_t)a->numel * st_dtype_size(a->dtype))) {
        size_t es = st_dtype_size(a->dtype), i = 0;
        while (!memcmp((const char *)a->data + i * es, (const char *)b->data + i * es, es))
            i++;
        snprintf(why, n, "bytes differ from element %zu on", i);
    }
}

static int cmd_compare(const char *a_dir, const char *b_dir, Error *err)
{
    ModelDims da, db;
    if (hfconfig_read(a_dir, &da, err) || hfconfig_read(b_dir, &db, err))
        return err->code;
    char what[256];
    if (dims_differ(&da, &db, what, sizeof what)) {
        printf("config.json differs: %s\n", what);
        return PT_ERUNTIME;
    }
    StModel a, b;
    if (st_model_open(&a, a_dir, err))
        return err->code;
    if (st_model_open(&b, b_dir, err)) {
        st_model_close(&a);
        return err->code;
    }
    int na = 0, nb = 0, ndiff = 0;
    for (int k = 0; k < a.nfiles; k++)
        for (int i = 0; i < a.files[k].n; i++, na++) {
            const StTensor *ta = &a.files[k].t[i];
            char why[128];
            tensor_diff(ta, st_model_find(&b, ta->name, NULL), why, sizeof why);
            if (why[0] && ndiff++ < 10)
                printf("%s: %s\n", ta->name, why);
        }
    for (int k = 0; k < b.nfiles; k++)
        for (int i = 0; i < b.files[k].n; i++, nb++)
            if (!st_model_find(&a, b.files[k].t[i].name, NULL) && ndiff++ < 10)
                printf("%s: missing from A\n", b.files[k].t[i].name);
    if (!ndiff)
        printf("identical: config.json dimensions and %d tensors\n", na);
    else
        printf("%d difference%s (A %d tensors, B %d)\n", ndiff, ndiff == 1 ? "" : "s", na, nb);
    st_model_close(&a);
    st_model_close(&b);
    return ndiff ? PT_ERUNTIME : PT_OK;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    const char *out = NULL, *dtype_flag = NULL, *shard_flag = NULL;
    int quiet = 0, progress = 0;
    const CliOption options[] = {
        OPT_STRING("out", 'o', &out),
        OPT_STRING("dtype", 0, &dtype_flag),
        OPT_STRING("max-shard-size", 0, &shard_flag),
        OPT_FLAG("quiet", 'q', &quiet),
        OPT_FLAG("progress", 0, &progress),
        OPT_END,
    };
    const Cli cli = {.prog = prog, .usage = usage};
    int first = cli_parse(&cli, options, argc, argv);
    if (first >= argc)
        cli_usage_error(&cli, "missing command: import, export or compare");
    const char *cmd = argv[first];
    int nargs = argc - first - 1;
    char **args = argv + first + 1;
    int is_import = !strcmp(cmd, "import"), is_export = !strcmp(cmd, "export");
    int is_compare = !strcmp(cmd, "compare");
    if (!is_import && !is_export && !is_compare)
        cli_usage_error(&cli, "unknown command %s", cmd);
    if (nargs != (is_compare ? 2 : 1))
        cli_usage_error(&cli, is_compare ? "compare takes two directories"
                                         : "expected one input path");
    if (!is_compare && !out)
        cli_usage_error(&cli, "missing --out");
    if (is_compare && (out || dtype_flag || shard_flag))
        cli_usage_error(&cli, "compare takes no options");
    if (is_import && (dtype_flag || shard_flag))
        cli_usage_error(&cli, "--dtype and --max-shard-size are export options");
    StDtype dtype = ST_F32;
    if (dtype_flag && (st_dtype_parse(dtype_flag, &dtype) || !strcmp(dtype_flag, "F32") ||
                       !strcmp(dtype_flag, "F16") || !strcmp(dtype_flag, "BF16")))
        cli_usage_error(&cli, "--dtype: expected bf16, fp16 or fp32, got '%s'", dtype_flag);
    uint64_t max_shard = 5000000000ull;
    Error err = {0};
    if (shard_flag && cli_parse_size("--max-shard-size", shard_flag, &max_shard, &err))
        cli_usage_error(&cli, "%s", err.msg);

    progress_enable(!is_compare && !quiet && (progress || isatty(2)));
    int rc = is_import   ? cmd_import(args[0], out, quiet, &err)
             : is_export ? cmd_export(args[0], out, dtype, max_shard, quiet, &err)
                         : cmd_compare(args[0], args[1], &err);
    if (rc && err.code)
        cli_fail(&cli, &err);
    return rc;
}
