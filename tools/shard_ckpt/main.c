/* picotron-shard-ckpt: rewrite a checkpoint for another mesh offline (optimizer states
 * included, tensor piece by tensor piece), compare two checkpoints tensor by tensor, list
 * what one holds, or check its stored checksums. One process, no MPI. Format:
 * docs/checkpoint.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "ckpt.h"
#include "config.h"
#include "params.h"
#include "progress.h"
#include "reshard.h"

static const char usage[] =
    "usage: picotron-shard-ckpt --in DIR --to dp=N,tp=N,pp=N,cp=N,zero=Z --out OUTDIR [options]\n"
    "       picotron-shard-ckpt --verify --in A --out B\n"
    "       picotron-shard-ckpt info DIR [--json]\n"
    "       picotron-shard-ckpt verify DIR [-q] [--progress]\n"
    "\n"
    "Rewrite checkpoint DIR (a step_NNNNNNNN directory) for another mesh: weights and AdamW m,\n"
    "v, bit-identical, written piece by piece (memory stays near one tensor). Keys left out of\n"
    "--to keep the source's value; dp=1,tp=1,pp=1,cp=1 is the consolidated layout. The global\n"
    "batch is kept: gradient_accumulation_steps (else micro_batch_size) is adjusted to the new\n"
    "dp. OUTDIR is written as OUTDIR.tmp and renamed into place. With --verify alone, compare\n"
    "every tensor of A and B (exit 1 when any differs). verify DIR reads every stored piece\n"
    "of DIR whole and checks its checksums: a line per bad piece on stderr, then exit 2.\n"
    "\n"
    "options:\n"
    "  -i, --in DIR        checkpoint to read\n"
    "  -t, --to MESH       target mesh: dp=,tp=,pp=,cp=,zero= (comma-separated)\n"
    "  -o, --out OUTDIR    checkpoint directory to write (compared with --in under --verify)\n"
    "      --verify        after writing (or alone), compare every tensor of --in and --out\n"
    "  -f, --force         replace an existing OUTDIR\n"
    "      --progress      a line per tensor on stderr even when it is not a terminal\n"
    "  -q, --quiet         no progress on stderr (on a terminal it is shown by default)\n"
    "      --json          (info) one JSON object\n"
    "  -h, --help          this help\n"
    "\n"
    "examples:\n"
    "  picotron-shard-ckpt --in runs/a/ckpt/step_00001000 --to dp=4,tp=1,pp=2,cp=1 --out ckpt_b\n"
    "  picotron-shard-ckpt --in ckpt_b --to dp=1,tp=1,pp=1,cp=1,zero=0 --out ckpt_one --verify\n"
    "  picotron-shard-ckpt info runs/a/ckpt/step_00001000\n"
    "  picotron-shard-ckpt verify runs/a/ckpt/step_00001000\n";

static const Cli cli = {.prog = "picotron-shard-ckpt", .usage = usage};

/* A copy of a directory argument without trailing slashes ("o1/" -> "o1", "/" stays), so that
 * the OUTDIR.tmp and OUTDIR.old names built from it are siblings, not children. */
static char *dir_arg(const char *arg)
{
    size_t len = strlen(arg);
    char *s = xmalloc(len + 1);
    memcpy(s, arg, len + 1);
    for (size_t n = strlen(s); n > 1 && s[n - 1] == '/'; n--)
        s[n - 1] = '\0';
    return s;
}

/* ---- the target mesh ---- */

static void parse_to(const char *text, ReshardMesh *t)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            cli_usage_error(&cli, "--to: expected key=value, got %s", kv);
        *eq = '\0';
        int *slot = !strcmp(kv, "dp") ? &t->dp : !strcmp(kv, "pp") ? &t->pp
                  : !strcmp(kv, "cp") ? &t->cp : !strcmp(kv, "tp") ? &t->tp
                  : !strcmp(kv, "zero") ? &t->zero : NULL;
        if (!slot)
            cli_usage_error(&cli, "--to: unknown key (dp, tp, pp, cp, zero): %s", kv);
        char what[64];
        snprintf(what, sizeof what, "--to %s", kv);
        long v;
        Error e = {0};
        if (cli_parse_long(what, eq + 1, 0, 65536, &v, &e))
            cli_usage_error(&cli, "%s", e.msg);
        *slot = (int)v;
    }
}

static int cmd_reshard(const char *in, const char *out, const ReshardMesh *to, int force,
                       Error *err)
{
    ReshardResult r;
    if (reshard_checkpoint(in, out, to, force, &r, err))
        return err->code;
    printf("%s: step %lld, dp=%d pp=%d cp=%d tp=%d zero=%d, %d rank files\n", out,
           (long long)r.step, r.mesh.dp, r.mesh.pp, r.mesh.cp, r.mesh.tp, r.mesh.zero, r.nfiles);
    return PT_OK;
}

/* ---- --verify ---- */

static int cmd_verify(const char *a_dir, const char *b_dir, Error *err)
{
    CkptIndex *a, *b;
    if (ckpt_index_open(a_dir, &a, err))
        return err->code;
    if (ckpt_index_open(b_dir, &b, err)) {
        ckpt_index_close(a);
        return err->code;
    }
    /* tensors: every name in A or B once (one only B has counts as compared and differing);
     * the run fields of meta.h5 are counted apart, so "differ" never exceeds "compared" */
    int compared = 0, differ = 0, meta_differ = 0, rc = PT_OK;
    for (int k = 0; !rc && k < CKPT_KINDS; k++) {
        const char *kind = ckpt_kind_name((CkptKind)k);
        for (int i = 0; !rc && i < ckpt_index_count(a, (CkptKind)k); i++) {
            int64_t shape[2], zero[2] = {0, 0};
            const char *name = ckpt_index_tensor(a, (CkptKind)k, i, shape);
            int64_t n = shape[0] * shape[1];
            float *x = xmalloc((size_t)n * sizeof *x), *y = xmalloc((size_t)n * sizeof *y);
            rc = ckpt_index_read(a, (CkptKind)k, name, shape, zero, shape, 0, n, x, err);
            Error eb = {0};
            compared++;
            if (!rc && ckpt_index_read(b, (CkptKind)k, name, shape, zero, shape, 0, n, y, &eb)) {
                printf("mismatch: %s %s: %s\n", kind, name, eb.msg);
                differ++;
            } else if (!rc && memcmp(x, y, (size_t)n * sizeof *x) != 0) {
                int64_t bad = 0;
                for (int64_t e = 0; e < n; e++)
                    bad += memcmp(&x[e], &y[e], sizeof *x) != 0;
                printf("mismatch: %s %s [%lld, %lld]: %lld of %lld elements differ\n", kind, name,
                       (long long)shape[0], (long long)shape[1], (long long)bad, (long long)n);
                differ++;
            }
            free(x);
            free(y);
        }
        /* tensors only B has */
        for (int i = 0; !rc && i < ckpt_index_count(b, (CkptKind)k); i++) {
            int64_t shape[2], sa[2];
            const char *name = ckpt_index_tensor(b, (CkptKind)k, i, shape);
            int found = 0;
            for (int j = 0; !found && j < ckpt_index_count(a, (CkptKind)k); j++)
                found = strcmp(ckpt_index_tensor(a, (CkptKind)k, j, sa), name) == 0;
            if (!found) {
                printf("mismatch: %s %s: only in %s\n", kind, name, b_dir);
                compared++;
                differ++;
            }
        }
    }
    /* where each run stands: the run fields of the meta.h5 table */
    const CkptMeta *ma = ckpt_index_meta(a), *mb = ckpt_index_meta(b);
    for (int i = 0; !rc && i < ckpt_meta_nfields; i++) {
        const CkptField *f = &ckpt_meta_fields[i];
        if (f->role == CKPT_ROLE_RUN && ckpt_meta_get(ma, f) != ckpt_meta_get(mb, f)) {
            printf("mismatch: meta: %s differs\n", f->name);
            meta_differ++;
        }
    }
    if (!rc) {
        printf("verify: %d tensors compared, %d differ", compared, differ);
        if (meta_differ)
            printf("; %d meta.h5 run field%s differ%s", meta_differ, meta_differ == 1 ? "" : "s",
                   meta_differ == 1 ? "s" : "");
        printf("%s\n", differ || meta_differ ? "" : " (identical)");
    }
    ckpt_index_close(a);
    ckpt_index_close(b);
    return rc ? rc : differ || meta_differ ? PT_ERUNTIME : PT_OK;
}

/* ---- verify DIR ---- */

/* Every piece read whole (HDF5 checks each chunk's Fletcher32 on the way): one line on stderr
 * per bad piece, *bad their number; the count on stdout when none is. */
static int cmd_check(const char *dir, int *bad, Error *err)
{
    CkptIndex *x;
    if (ckpt_index_open(dir, &x, err))
        return err->code;
    int pieces = 0, unchecked = 0, total = 0;
    *bad = 0;
    for (int k = 0; k < CKPT_KINDS; k++)
        total += ckpt_index_npieces(x, (CkptKind)k);
    for (int k = 0; k < CKPT_KINDS; k++)
        for (int i = 0; i < ckpt_index_npieces(x, (CkptKind)k); i++) {
            int checksummed;
            Error e = {0};
            progress_note("checking", pieces++, total, ckpt_index_piece_name(x, (CkptKind)k, i));
            if (ckpt_index_check_piece(x, (CkptKind)k, i, &checksummed, &e)) {
                fprintf(stderr, "picotron-shard-ckpt: %s\n", e.msg);
                (*bad)++;
            } else if (!checksummed) {
                unchecked++;
            }
        }
    progress_done();
    ckpt_index_close(x);
    if (*bad)
        return PT_OK;
    printf("%s: %d stored pieces read, checksums hold", dir, pieces);
    if (unchecked)
        printf(" (%d written without checksums, by a picotron before they were added)",
               unchecked);
    printf("\n");
    return PT_OK;
}

/* ---- info ---- */

static int cmd_info(const char *dir, int json, Error *err)
{
    CkptIndex *x;
    if (ckpt_index_open(dir, &x, err))
        return err->code;
    const CkptMeta *m = ckpt_index_meta(x);
    /* 1-D tensors are stored as [n, 1]: the model's table says which are vectors */
    Config *cfg = xmalloc(sizeof *cfg);
    Error ignore = {0};
    ParamTable full = {0};
    config_warnings(0);
    if (config_parse(cfg, m->config_json, dir, &ignore) == PT_OK) {
        ParamShard all = params_shard_single(&cfg->model.dims);
        params_build(&full, &cfg->model.dims, &all);
    }
    free(cfg);
    int n = ckpt_index_count(x, CKPT_WEIGHTS), rc = PT_OK;
    /* built with jansson, not printf: a directory or tensor name may hold '"' or '\\' */
    json_t *root = NULL, *tensors = NULL;
    if (json) {
        root = json_object();
        json_t *mesh = json_object();
        json_object_set_new(mesh, "dp", json_integer(m->dp));
        json_object_set_new(mesh, "pp", json_integer(m->pp));
        json_object_set_new(mesh, "cp", json_integer(m->cp));
        json_object_set_new(mesh, "tp", json_integer(m->tp));
        json_object_set_new(mesh, "zero_stage", json_integer(m->zero_stage));
        tensors = json_array();
        json_t *jdir = json_string(dir);
        if (!jdir)
            rc = err_set(err, PT_EINPUT, "%s: the directory name is not valid UTF-8, which --json "
                         "cannot carry", dir);
        json_object_set_new(root, "dir", jdir ? jdir : json_null());
        for (int i = 0; i < ckpt_meta_nfields; i++) {
            const CkptField *f = &ckpt_meta_fields[i];
            uint64_t v = ckpt_meta_get(m, f);
            /* json_int_t is signed 64-bit: a seed above INT64_MAX would read back negative */
            if (f->role == CKPT_ROLE_FORMAT || f->role == CKPT_ROLE_RUN)
                json_object_set_new(root, f->name,
                                    f->type == CKPT_FIELD_U64 && v > INT64_MAX
                                        ? json_real((double)v) : json_integer((json_int_t)v));
        }
        json_object_set_new(root, "mesh", mesh);
        json_object_set_new(root, "tensors", tensors);
    } else {
        printf("checkpoint %s\n", dir);
        for (int i = 0; i < ckpt_meta_nfields; i++) {
            const CkptField *f = &ckpt_meta_fields[i];
            uint64_t v = ckpt_meta_get(m, f);
            if (f->role != CKPT_ROLE_FORMAT && f->role != CKPT_ROLE_RUN)
                continue;
            if (f->type == CKPT_FIELD_U64)
                printf("%s %llu\n", f->name, (unsigned long long)v);
            else
                printf("%s %lld\n", f->name, (long long)v);
        }
        printf("mesh dp=%d pp=%d cp=%d tp=%d zero=%d\ntensors %d\n", m->dp, m->pp, m->cp, m->tp,
               m->zero_stage, n);
    }
    /* in the model's order when the stored config gives the table, else as stored */
    int *order = xmalloc((size_t)(n ? n : 1) * sizeof *order), m_ = 0;
    for (int t = 0; t < full.n; t++)
        for (int i = 0; i < n; i++) {
            int64_t s[2];
            if (!strcmp(ckpt_index_tensor(x, CKPT_WEIGHTS, i, s), full.t[t].name))
                order[m_++] = i;
        }
    for (int i = 0; i < n; i++) {
        int64_t s[2];
        if (params_find(&full, ckpt_index_tensor(x, CKPT_WEIGHTS, i, s)) < 0)
            order[m_++] = i;
    }
    for (int o = 0; !rc && o < n; o++) {
        int64_t shape[2], s2[2];
        int i = order[o];
        const char *name = ckpt_index_tensor(x, CKPT_WEIGHTS, i, shape);
        int t = params_find(&full, name);
        int ndim = t >= 0 ? full.t[t].ndim : 2;
        char dims[64], kinds[64] = "weights";
        json_t *jshape = json ? json_array() : NULL, *jkinds = json ? json_array() : NULL;
        if (ndim == 1)
            snprintf(dims, sizeof dims, "%lld", (long long)shape[0]);
        else
            snprintf(dims, sizeof dims, "%lld, %lld", (long long)shape[0], (long long)shape[1]);
        for (int d = 0; json && d < ndim; d++)
            json_array_append_new(jshape, json_integer(shape[d]));
        if (json)
            json_array_append_new(jkinds, json_string("weights"));
        for (int k = CKPT_ADAM_M; k <= CKPT_ADAM_V; k++)
            for (int j = 0; j < ckpt_index_count(x, (CkptKind)k); j++)
                if (!strcmp(ckpt_index_tensor(x, (CkptKind)k, j, s2), name)) {
                    if (json)
                        json_array_append_new(jkinds, json_string(ckpt_kind_name((CkptKind)k)));
                    strcat(kinds, " ");
                    strcat(kinds, ckpt_kind_name((CkptKind)k));
                    break;
                }
        if (json) {
            json_t *e = json_object(), *jname = json_string(name);
            if (!jname)
                rc = err_set(err, PT_EINPUT, "%s: tensor name %s is not valid UTF-8, which --json "
                             "cannot carry", dir, name);
            json_object_set_new(e, "name", jname ? jname : json_null());
            json_object_set_new(e, "shape", jshape);
            json_object_set_new(e, "dtype", json_string("float32"));
            json_object_set_new(e, "kinds", jkinds);
            json_array_append_new(tensors, e);
        } else
            printf("  %-48s [%s]  float32  %s\n", name, dims, kinds);
    }
    if (json && !rc) {
        char *text = json_dumps(root, JSON_PRESERVE_ORDER);
        printf("%s\n", text);
        free(text);
    }
    json_decref(root);
    free(order);
    params_free(&full);
    ckpt_index_close(x);
    return rc;
}

int main(int argc, char **argv)
{
    Error err = {0};
    if (argc >= 2 && strcmp(argv[1], "info") == 0) {
        int json = 0;
        const CliOption info_options[] = {OPT_FLAG("json", 0, &json), OPT_END};
        int first = cli_parse(&cli, info_options, argc - 1, argv + 1) + 1;
        if (first >= argc)
            cli_usage_error(&cli, "info: missing DIR");
        if (first + 1 < argc)
            cli_usage_error(&cli, "unexpected argument %s", argv[first + 1]);
        if (cmd_info(argv[first], json, &err))
            cli_fail(&cli, &err);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "verify") == 0) {
        int quiet = 0, progress = 0;
        const CliOption verify_options[] = {OPT_FLAG("quiet", 'q', &quiet),
                                            OPT_FLAG("progress", 0, &progress), OPT_END};
        int first = cli_parse(&cli, verify_options, argc - 1, argv + 1) + 1;
        if (first >= argc)
            cli_usage_error(&cli, "verify: missing DIR");
        if (first + 1 < argc)
            cli_usage_error(&cli, "unexpected argument %s", argv[first + 1]);
        progress_enable(!quiet && (progress || isatty(2)));
        int bad = 0;
        if (cmd_check(argv[first], &bad, &err))
            cli_fail(&cli, &err);
        return bad ? PT_EINPUT : 0;
    }
    const char *in_arg = NULL, *out_arg = NULL, *to = NULL;
    int verify = 0, force = 0, quiet = 0, progress = 0;
    const CliOption options[] = {
        OPT_STRING("in", 'i', &in_arg),   OPT_STRING("to", 't', &to),
        OPT_STRING("out", 'o', &out_arg), OPT_FLAG("verify", 0, &verify),
        OPT_FLAG("force", 'f', &force),   OPT_FLAG("quiet", 'q', &quiet),
        OPT_FLAG("progress", 0, &progress),
        OPT_END,
    };
    int first = cli_parse(&cli, options, argc, argv);
    if (first < argc)
        cli_usage_error(&cli, "unexpected argument %s", argv[first]);
    if (!in_arg)
        cli_usage_error(&cli, "missing --in DIR");
    if (!out_arg)
        cli_usage_error(&cli, "missing --out OUTDIR");
    if (!to && !verify)
        cli_usage_error(&cli, "missing --to MESH (or --verify to compare --in with --out)");
    progress_enable(!quiet && (progress || isatty(2)));
    char *in = dir_arg(in_arg), *out = dir_arg(out_arg);
    ReshardMesh t = {-1, -1, -1, -1, -1};
    if (to)
        parse_to(to, &t);
    if (to && cmd_reshard(in, out, &t, force, &err))
        cli_fail(&cli, &err);
    int rc = verify ? cmd_verify(in, out, &err) : PT_OK;
    free(in);
    free(out);
    if (rc == PT_ERUNTIME && !err.code)
        return 1;   /* the checkpoints differ: each difference is on stdout */
    if (rc)
        cli_fail(&cli, &err);
    return 0;
}
