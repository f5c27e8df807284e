/* test_ckpt: HDF5 checkpoints in one process. A multi-rank save is simulated by writing every
 * rank's file in a loop with that rank's CkptView, then committing; loads under another mesh
 * must give bitwise the values built directly for that mesh (weights from params_init, AdamW m
 * and v from a pattern of the global element index). Also: bad input → PT_EINPUT naming the
 * file or tensor, `latest`, keep_last, and a killed save leaving the previous checkpoint. */
#include <check.h>
#include <dirent.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_run.h"
#include "ckpt.h"
#include "grads.h"
#include "mesh.h"
#include "metrics.h"
#include "params.h"
#include "range.h"
#include "rng.h"

#define SEED 1234

/* D = 8; heads 8 and kv-heads 4 split over tp ≤ 4; V = 300 pads to 384 (tp 1), 512 (tp 2, 4:
 * rank 3 of 4 holds padding only); 5 layers give uneven pp stages. */
static ModelDims dims(int tied)
{
    ModelDims d = {
        .num_hidden_layers = 5, .hidden_size = 64, .num_attention_heads = 8,
        .num_key_value_heads = 4, .intermediate_size = 128, .vocab_size = 300,
        .max_position_embeddings = 64, .rope_theta = 10000.0, .rms_norm_eps = 1e-5,
        .tie_word_embeddings = tied,
    };
    return d;
}

typedef struct {
    int dp, pp, cp, tp, zero;
} Shape;

/* One rank's state under a mesh: its table, view and buffers. */
typedef struct {
    ParamTable pt;
    CkptView view;
    float *params, *m, *v;
} RankState;

/* AdamW states as a function of (kind, tensor name hash h, global element): mesh-independent. */
static float state_value(int kind, uint64_t h, int64_t gidx)
{
    return (float)(kind + 1) * 1e-3f * (float)((int64_t)(h % 1000) + gidx % 7919) + (float)kind;
}

static void fill_states(RankState *s)
{
    const CkptView *w = &s->view;
    size_t n = w->opt_hi - w->opt_lo;
    memset(s->m, 0, n * sizeof(float));
    memset(s->v, 0, n * sizeof(float));
    for (int i = 0; i < s->pt.n; i++) {
        const ParamInfo *p = &s->pt.t[i];
        uint64_t h = rng_name_hash(p->name);
        for (size_t e = p->offset; e < p->offset + p->numel; e++) {
            if (e < w->opt_lo || e >= w->opt_hi)
                continue;
            int64_t r = (int64_t)(e - p->offset) / p->local_shape[1];
            int64_t c = (int64_t)(e - p->offset) % p->local_shape[1];
            if (r >= p->valid_rows)
                continue;
            int64_t g = (p->local_offset[0] + r) * p->shape[1] + p->local_offset[1] + c;
            s->m[e - w->opt_lo] = state_value(0, h, g);
            s->v[e - w->opt_lo] = state_value(1, h, g);
        }
    }
}

/* Rank `rank` of mesh sh; fill: 1 = expected values, 0 = garbage (a load must overwrite it). */
static void rank_state(RankState *s, const ModelDims *d, Shape sh, int rank, int fill)
{
    int tp_r = rank % sh.tp, cp_r = rank / sh.tp % sh.cp;
    int pp_r = rank / (sh.tp * sh.cp) % sh.pp, dp_r = rank / (sh.tp * sh.cp * sh.pp);
    ParamShard shard = {tp_r, sh.tp, 0, 0, pp_r == 0, pp_r == sh.pp - 1};
    mesh_stage_layers(d->num_hidden_layers, sh.pp, pp_r, &shard.layer_begin, &shard.layer_end);
    params_build(&s->pt, d, &shard);
    CkptView v = {rank, sh.dp * sh.pp * sh.cp * sh.tp, dp_r, pp_r, cp_r, tp_r,
                  sh.dp, sh.pp, sh.cp, sh.tp, sh.zero, 0, 0};
    grads_shard_range(s->pt.numel, sh.dp, dp_r, sh.zero, &v.opt_lo, &v.opt_hi);
    s->view = v;
    size_t n = v.opt_hi - v.opt_lo;
    s->params = malloc(s->pt.numel * sizeof(float));
    s->m = malloc((n ? n : 1) * sizeof(float));
    s->v = malloc((n ? n : 1) * sizeof(float));
    if (fill) {
        params_init(&s->pt, s->params, SEED);
        fill_states(s);
    } else {
        memset(s->params, 0x7f, s->pt.numel * sizeof(float));
        memset(s->m, 0x7f, n * sizeof(float));
        memset(s->v, 0x7f, n * sizeof(float));
    }
}

static void rank_free(RankState *s)
{
    params_free(&s->pt);
    free(s->params);
    free(s->m);
    free(s->v);
}

static CkptMeta *meta_for(Shape sh, int64_t step)
{
    CkptMeta *m = calloc(1, sizeof *m);
    m->format_version = CKPT_FORMAT_VERSION;
    m->step = step;
    m->global_batch = 8;
    m->consumed_samples = 8 * step;
    m->tokens = 8 * 64 * step;
    m->adam_t = step;
    m->seed = SEED;
    m->dp = sh.dp, m->pp = sh.pp, m->cp = sh.cp, m->tp = sh.tp, m->zero_stage = sh.zero;
    snprintf(m->config_json, sizeof m->config_json, "{\"training\": {\"seed\": %d}}", SEED);
    return m;
}

/* Save step under mesh sh: every rank's file in turn, then the commit. */
static void save_mesh(const char *save_dir, const ModelDims *d, Shape sh, int64_t step, int keep)
{
    char tmp[4096];
    Error err = {0};
    ck_assert_int_eq(ckpt_begin(save_dir, step, tmp, sizeof tmp, &err), PT_OK);
    int world = sh.dp * sh.pp * sh.cp * sh.tp, n = 0;
    int *ranks = malloc((size_t)world * sizeof *ranks);
    for (int r = 0; r < world; r++) {
        RankState s;
        rank_state(&s, d, sh, r, 1);
        int wrote;
        ck_assert_msg(ckpt_write_rank(tmp, &s.pt, &s.view, s.params, s.m, s.v, &wrote, &err) == 0,
                      "%s", err.msg);
        if (wrote)
            ranks[n++] = r;
        rank_free(&s);
    }
    CkptMeta *m = meta_for(sh, step);
    ck_assert_msg(ckpt_commit(save_dir, m, ranks, n, keep, &err) == 0, "%s", err.msg);
    free(m);
    free(ranks);
}

/* Load dir under mesh sh on every rank and compare bitwise with the directly built values. */
static void check_load(const char *dir, const ModelDims *d, Shape sh)
{
    int world = sh.dp * sh.pp * sh.cp * sh.tp;
    for (int r = 0; r < world; r++) {
        RankState want, got;
        rank_state(&want, d, sh, r, 1);
        rank_state(&got, d, sh, r, 0);
        Error err = {0};
        ck_assert_msg(ckpt_load(dir, &got.pt, &got.view, got.params, got.m, got.v, &err) == 0,
                      "%s", err.msg);
        size_t n = got.view.opt_hi - got.view.opt_lo;
        ck_assert_msg(memcmp(want.params, got.params, got.pt.numel * sizeof(float)) == 0,
                      "weights differ on rank %d of dp%d pp%d cp%d tp%d", r, sh.dp, sh.pp, sh.cp, sh.tp);
        ck_assert_msg(memcmp(want.m, got.m, n * sizeof(float)) == 0, "adam_m differs on rank %d", r);
        ck_assert_msg(memcmp(want.v, got.v, n * sizeof(float)) == 0, "adam_v differs on rank %d", r);
        rank_free(&want);
        rank_free(&got);
    }
}

static char tmpdir[256];

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/picotron-ckpt.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    Error err = {0};
    ckpt_remove_dir(tmpdir, &err);
}

static const Shape single = {1, 1, 1, 1, 0};
static const Shape meshes[] = {
    {2, 1, 1, 2, 1},   /* dp2·tp2 ZeRO-1 */
    {1, 2, 1, 2, 0},   /* pp2·tp2 */
    {1, 1, 1, 4, 0},   /* tp4: rank 3's vocab piece is all padding */
    {3, 1, 1, 1, 1},   /* dp3 ZeRO-1: the flat buffer padded to a multiple of 3 */
    {2, 3, 2, 1, 0},   /* dp2·pp3·cp2 without ZeRO */
    {2, 2, 1, 2, 1},   /* dp2·pp2·tp2 ZeRO-1 */
};
#define NMESH ((int)(sizeof meshes / sizeof meshes[0]))

static void reshard(int tied)
{
    ModelDims d = dims(tied);
    char save[512], dir[600];
    for (int a = 0; a < NMESH; a++) {
        snprintf(save, sizeof save, "%s/a%d", tmpdir, a);
        save_mesh(save, &d, meshes[a], 10, 0);
        snprintf(dir, sizeof dir, "%s/step_00000010", save);
        if (tied) {   /* tied: the same mesh and a + 3; untied: one rank and a + 1 */
            check_load(dir, &d, meshes[a]);
            check_load(dir, &d, meshes[(a + 3) % NMESH]);
        } else {
            check_load(dir, &d, single);
            check_load(dir, &d, meshes[(a + 1) % NMESH]);
        }
    }
}

START_TEST(load_under_another_mesh_is_bitwise_untied) { reshard(0); }
END_TEST

START_TEST(load_under_another_mesh_is_bitwise_tied) { reshard(1); }
END_TEST

/* Consolidated 1×1×1×1 → every other mesh. */
START_TEST(single_rank_checkpoint_loads_everywhere)
{
    ModelDims d = dims(1);
    char save[512], dir[600];
    snprintf(save, sizeof save, "%s/s", tmpdir);
    save_mesh(save, &d, single, 3, 0);
    snprintf(dir, sizeof dir, "%s/step_00000003", save);
    for (int b = 0; b < NMESH; b++)
        check_load(dir, &d, meshes[b]);
}
END_TEST

/* Replicated pieces are written once: weights only by dp 0 / cp 0, and a rank of only
 * replicas writes no file. */
START_TEST(replicas_write_no_file)
{
    ModelDims d = dims(0);
    char save[512], path[700];
    snprintf(save, sizeof save, "%s/r", tmpdir);
    Shape sh = {2, 1, 2, 1, 0};
    save_mesh(save, &d, sh, 1, 0);
    for (int r = 0; r < 4; r++) {
        snprintf(path, sizeof path, "%s/step_00000001/rank_%05d.h5", save, r);
        ck_assert_int_eq(access(path, F_OK) == 0, r == 0);
    }
}
END_TEST

START_TEST(meta_round_trips)
{
    ModelDims d = dims(0);
    char save[512], dir[600];
    snprintf(save, sizeof save, "%s/m", tmpdir);
    Shape sh = {2, 1, 1, 2, 1};
    save_mesh(save, &d, sh, 7, 0);
    snprintf(dir, sizeof dir, "%s/step_00000007", save);
    CkptMeta *m = malloc(sizeof *m);
    Error err = {0};
    ck_assert_msg(ckpt_read_meta(dir, m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m->format_version, CKPT_FORMAT_VERSION);
    ck_assert_int_eq(m->step, 7);
    ck_assert_int_eq(m->consumed_samples, 56);
    ck_assert_int_eq(m->global_batch, 8);
    ck_assert_int_eq(m->tokens, 8 * 64 * 7);
    ck_assert_int_eq(m->adam_t, 7);
    ck_assert_uint_eq(m->seed, SEED);
    ck_assert_int_eq(m->dp, 2);
    ck_assert_int_eq(m->tp, 2);
    ck_assert_int_eq(m->zero_stage, 1);
    ck_assert_str_eq(m->config_json, "{\"training\": {\"seed\": 1234}}");
    free(m);
}
END_TEST

/* ckpt_save of step on a Comm of one process into tmpdir/name (written into save). */
static void save_single(const ModelDims *d, const char *name, int64_t step, char *save,
                        size_t len)
{
    RankState s;
    rank_state(&s, d, single, 0, 1);
    CkptMeta *m = meta_for(single, step);
    Comm self = comm_self();
    Error err = {0};
    snprintf(save, len, "%s/%s", tmpdir, name);
    ck_assert_msg(ckpt_save(save, m, &s.pt, &s.view, s.params, s.m, s.v, &self, 0, &err) == 0,
                  "%s", err.msg);
    free(m);
    rank_free(&s);
}

START_TEST(save_on_one_process_then_latest_and_load)
{
    ModelDims d = dims(0);
    Error err = {0};
    char save[512], latest[4096];
    save_single(&d, "one", 5, save, sizeof save);
    ck_assert_msg(ckpt_latest(save, latest, sizeof latest, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(strstr(latest, "/step_00000005"));
    check_load(latest, &d, meshes[0]);
}
END_TEST

/* ---- a failing disk: PT_ERUNTIME, one line, no crash ---- */

/* Every file of dir, summed. */
static double dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    double total = 0.0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[1024];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.' && stat(path, &st) == 0)
            total += (double)st.st_size;
    }
    closedir(d);
    return total;
}

/* ckpt_bytes is what the trainer checks free space against before step 1: it must not exceed
 * what a checkpoint takes (a run would be refused that could save), and should not fall far
 * short of it (the check would pass runs that cannot save). The tiny test model is the worst
 * case for the second: HDF5's per-dataset structure is most of its files. */
START_TEST(checkpoint_size_estimate_is_a_close_lower_bound)
{
    ModelDims d = dims(0);
    char save[512], dir[600];
    save_single(&d, "size", 1, save, sizeof save);
    snprintf(dir, sizeof dir, "%s/step_00000001", save);
    RankState s;
    rank_state(&s, &d, single, 0, 0);
    /* the parameter count without the vocabulary padding, as the trainer gives it */
    int64_t n_params = metrics_flops(&d, 16).n_params;
    double actual = dir_bytes(dir), estimate = ckpt_bytes(n_params, s.pt.n);
    ck_assert_msg(estimate <= actual && actual <= 1.25 * estimate,
                  "estimate %.0f bytes, checkpoint %.0f bytes", estimate, actual);
    rank_free(&s);
}
END_TEST

START_TEST(too_little_free_space_names_dir_and_sizes)
{
    Error err = {0};
    ck_assert_int_eq(ckpt_check_free_space(tmpdir, 1.0, &err), PT_OK);
    ck_assert_int_eq(ckpt_check_free_space(tmpdir, 1e18, &err), PT_ERUNTIME);
    ck_assert_ptr_nonnull(strstr(err.msg, tmpdir));
    ck_assert_ptr_nonnull(strstr(err.msg, " MiB free, a checkpoint of this model needs "
                                          "953674316406.2 MiB: free space or choose another "
                                          "directory"));
}
END_TEST

/* A rank file on /dev/full: every write fails with ENOSPC, the first one when HDF5 creates
 * the file. One error naming the file and the reason; nothing written is reported; the HDF5
 * library is left in a state its exit can cope with (this test runs in a child process: a
 * crash at its exit fails it). The failures inside a file HDF5 has created are
 * tests/e2e/test_faults.sh's (a tmpfs that fills up). */
/* LeakSanitizer's switches (present in the ASan build only): HDF5 1.10.8 loses its metadata
 * accumulator (264 bytes) when H5Fcreate fails to write the superblock; that is the library's
 * leak, not ours, and nothing else is allocated while they are off. */
void __lsan_disable(void) __attribute__((weak));
void __lsan_enable(void) __attribute__((weak));

START_TEST(a_full_disk_is_one_error_and_no_crash)
{
    ModelDims d = dims(0);
    RankState s;
    rank_state(&s, &d, single, 0, 1);
    char dir[600], path[700];
    snprintf(dir, sizeof dir, "%s/full", tmpdir);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ckpt_rank_path(dir, 0, path, sizeof path);
    ck_assert_int_eq(symlink("/dev/full", path), 0);
    Error err = {0};
    int wrote = 1;
    if (__lsan_disable)
        __lsan_disable();
    int rc = ckpt_write_rank(dir, &s.pt, &s.view, s.params, s.m, s.v, &wrote, &err);
    if (__lsan_enable)
        __lsan_enable();
    ck_assert_int_eq(rc, PT_ERUNTIME);
    ck_assert_int_eq(wrote, 0);
    ck_assert_msg(strstr(err.msg, "rank_00000.h5: cannot create") != NULL &&
                  strstr(err.msg, "No space left on device") != NULL, "%s", err.msg);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    rank_free(&s);
}
END_TEST

/* ---- bad input: PT_EINPUT, the file or tensor named ---- */

static void expect_load_error(const char *dir, const ModelDims *d, const char *needle)
{
    RankState s;
    rank_state(&s, d, single, 0, 0);
    Error err = {0};
    int rc = ckpt_load(dir, &s.pt, &s.view, s.params, s.m, s.v, &err);
    ck_assert_int_eq(rc, PT_EINPUT);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "'%s' lacks '%s'", err.msg, needle);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    rank_free(&s);
}

static void saved(char *dir, size_t len, const char *name, int tied)
{
    char save[512];
    ModelDims d = dims(tied);
    snprintf(save, sizeof save, "%s/%s", tmpdir, name);
    Shape sh = {2, 1, 1, 2, 1};
    save_mesh(save, &d, sh, 1, 0);
    snprintf(dir, len, "%s/step_00000001", save);
}

START_TEST(missing_rank_file_is_named)
{
    char dir[600], path[700];
    saved(dir, sizeof dir, "x", 0);
    snprintf(path, sizeof path, "%s/rank_00001.h5", dir);
    ck_assert_int_eq(unlink(path), 0);
    ModelDims d = dims(0);
    expect_load_error(dir, &d, "rank_00001.h5");
}
END_TEST

START_TEST(truncated_rank_file_is_named)
{
    char dir[600], path[700];
    saved(dir, sizeof dir, "x", 0);
    snprintf(path, sizeof path, "%s/rank_00002.h5", dir);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(truncate(path, st.st_size / 2), 0);
    ModelDims d = dims(0);
    expect_load_error(dir, &d, "rank_00002.h5");
}
END_TEST

START_TEST(missing_meta_is_named)
{
    char dir[600], path[700];
    saved(dir, sizeof dir, "x", 0);
    snprintf(path, sizeof path, "%s/meta.h5", dir);
    ck_assert_int_eq(unlink(path), 0);
    ModelDims d = dims(0);
    expect_load_error(dir, &d, "meta.h5 missing");
}
END_TEST

START_TEST(wrong_format_version_is_refused)
{
    char dir[600];
    saved(dir, sizeof dir, "x", 0);
    Shape sh = {2, 1, 1, 2, 1};
    CkptMeta *m = meta_for(sh, 1);
    m->format_version = 99;
    int ranks[4] = {0, 1, 2, 3};
    Error err = {0};
    ck_assert_int_eq(ckpt_write_meta(dir, m, ranks, 4, &err), 0);
    ModelDims d = dims(0);
    expect_load_error(dir, &d, "format_version 99");
    ck_assert_int_eq(ckpt_read_meta(dir, m, &err), PT_EINPUT);
    free(m);
}
END_TEST

START_TEST(other_dimensions_name_tensor_and_shapes)
{
    char dir[600];
    saved(dir, sizeof dir, "x", 0);
    ModelDims d = dims(0);
    d.vocab_size = 301;
    expect_load_error(dir, &d, "model.embed_tokens.weight has shape [300, 64] but the model expects [301, 64]");
    d = dims(0);
    d.num_hidden_layers = 4;
    expect_load_error(dir, &d, "model.layers.4.");
    d = dims(1);   /* tied: the checkpoint's lm_head.weight is foreign */
    expect_load_error(dir, &d, "lm_head.weight");
    d = dims(0);
    d.intermediate_size = 256;
    expect_load_error(dir, &d, "mlp.gate_proj.weight");
}
END_TEST

START_TEST(tensor_missing_from_checkpoint_is_named)
{
    char dir[600];
    saved(dir, sizeof dir, "x", 1);   /* tied: no lm_head.weight stored */
    ModelDims d = dims(0);
    expect_load_error(dir, &d, "tensor lm_head.weight (weights) missing from checkpoint");
}
END_TEST

/* Replace attribute name of obj by an n-element int64 (or uint64) attribute holding v. */
static void put_attr(hid_t obj, const char *name, hid_t type, const void *v, hsize_t n)
{
    if (H5Aexists(obj, name) > 0)
        ck_assert_int_ge(H5Adelete(obj, name), 0);
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(a, 0);
    ck_assert_int_ge(H5Awrite(a, type, v), 0);
    H5Aclose(a);
    H5Sclose(sp);
}

static hid_t open_rw(const char *dir, const char *file)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    return f;
}

#define CORRUPT_TENSOR "model.layers.0.mlp.down_proj.weight"

/* Overwrite 64 bytes in the middle of the first chunk of dataset dset (payload, not
 * metadata) of file in dir. */
static void corrupt_payload(const char *dir, const char *file, const char *dset)
{
    hid_t f = open_rw(dir, file);
    hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    hsize_t off[1];
    unsigned mask;
    haddr_t addr;
    hsize_t size;
    hid_t sp = H5Dget_space(d);
    ck_assert_int_ge(H5Dget_chunk_info(d, sp, 0, off, &mask, &addr, &size), 0);
    H5Sclose(sp);
    ck_assert_uint_ge(size, 128);
    H5Dclose(d);
    H5Fclose(f);
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *fp = fopen(path, "r+b");
    ck_assert_ptr_nonnull(fp);
    char junk[64];
    memset(junk, 0x5a, sizeof junk);
    ck_assert_int_eq(fseek(fp, (long)(addr + size / 2), SEEK_SET), 0);
    ck_assert_uint_eq(fwrite(junk, 1, sizeof junk, fp), sizeof junk);
    ck_assert_int_eq(fclose(fp), 0);
}

START_TEST(corrupt_tensor_data_is_named_by_file_and_tensor)
{
    char dir[600];
    saved(dir, sizeof dir, "x", 0);
    corrupt_payload(dir, "rank_00000.h5", "/weights/" CORRUPT_TENSOR);
    ModelDims d = dims(0);
    expect_load_error(dir, &d,
                      "rank_00000.h5: tensor /weights/" CORRUPT_TENSOR
                      ": stored data fails its checksum");
    /* piece by piece (shard-ckpt verify): that piece alone fails, every other one is checked */
    CkptIndex *x;
    Error err = {0};
    ck_assert_int_eq(ckpt_index_open(dir, &x, &err), PT_OK);
    int bad = 0, pieces = 0;
    for (int k = 0; k < CKPT_KINDS; k++)
        for (int i = 0; i < ckpt_index_npieces(x, (CkptKind)k); i++, pieces++) {
            int checksummed = -1;
            Error e = {0};
            if (ckpt_index_check_piece(x, (CkptKind)k, i, &checksummed, &e)) {
                ck_assert_int_eq(e.code, PT_EINPUT);
                ck_assert_msg(strstr(e.msg, "rank_00000.h5: tensor /weights/" CORRUPT_TENSOR),
                              "%s", e.msg);
                bad++;
            } else {
                ck_assert_int_eq(checksummed, 1);
            }
        }
    ck_assert_int_eq(bad, 1);
    ck_assert_int_gt(pieces, 100);
    ckpt_index_close(x);
}
END_TEST

/* Dataset name of group g rewritten as a checkpoint written before checksums stored it: the
 * same values and attributes, contiguous, no filter. */
static void rewrite_unchecked(hid_t g, const char *name)
{
    static const char *attrs[] = {"global_shape", "block_offset", "block_shape", "flat_range"};
    int64_t a[4][2];
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    hid_t sp = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    float *buf = malloc((size_t)(n ? n : 1) * sizeof *buf);
    ck_assert_int_ge(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
    for (int i = 0; i < 4; i++) {
        hid_t at = H5Aopen(d, attrs[i], H5P_DEFAULT);
        ck_assert_int_ge(H5Aread(at, H5T_NATIVE_INT64, a[i]), 0);
        H5Aclose(at);
    }
    H5Dclose(d);
    ck_assert_int_ge(H5Ldelete(g, name, H5P_DEFAULT), 0);
    d = H5Dcreate2(g, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    ck_assert_int_ge(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf), 0);
    for (int i = 0; i < 4; i++)
        put_attr(d, attrs[i], H5T_NATIVE_INT64, a[i], 2);
    H5Dclose(d);
    H5Sclose(sp);
    free(buf);
}

START_TEST(pieces_without_checksums_still_load)
{
    char dir[600];
    saved(dir, sizeof dir, "x", 0);
    hid_t f = open_rw(dir, "rank_00000.h5");
    hid_t g = H5Gopen2(f, "weights", H5P_DEFAULT);
    H5G_info_t info;
    ck_assert_int_ge(H5Gget_info(g, &info), 0);
    for (hsize_t i = 0; i < info.nlinks; i++) {
        char name[256];
        ck_assert_int_gt(H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
                                            sizeof name, H5P_DEFAULT), 0);
        rewrite_unchecked(g, name);
    }
    H5Gclose(g);
    H5Fclose(f);
    ModelDims d = dims(0);
    check_load(dir, &d, single);
    CkptIndex *x;
    Error err = {0};
    ck_assert_int_eq(ckpt_index_open(dir, &x, &err), PT_OK);
    int unchecked = 0;
    for (int i = 0; i < ckpt_index_npieces(x, CKPT_WEIGHTS); i++) {
        int checksummed = -1;
        ck_assert_int_eq(ckpt_index_check_piece(x, CKPT_WEIGHTS, i, &checksummed, &err), PT_OK);
        unchecked += !checksummed;
    }
    ck_assert_int_eq(unchecked, (int)info.nlinks);
    ckpt_index_close(x);
}
END_TEST

START_TEST(seed_attribute_must_hold_one_element)
{
    char dir[600];
    saved(dir, sizeof dir, "x", 0);
    hid_t f = open_rw(dir, "meta.h5");
    uint64_t seeds[3] = {1, 2, 3};
    put_attr(f, "seed", H5T_NATIVE_UINT64, seeds, 3);
    H5Fclose(f);
    CkptMeta *m = calloc(1, sizeof *m);
    Error err = {0};
    ck_assert_int_eq(ckpt_read_meta(dir, m, &err), PT_EINPUT);
    ck_assert_msg(strstr(err.msg, "meta.h5: attribute seed") != NULL, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "3 elements") != NULL, "%s", err.msg);
    free(m);
}
END_TEST

START_TEST(config_dataset_must_hold_one_string)
{
    char dir[600];
    saved(dir, sizeof dir, "x", 0);
    hid_t f = open_rw(dir, "meta.h5");
    ck_assert_int_ge(H5Ldelete(f, "config", H5P_DEFAULT), 0);
    /* 4 strings of 40000 bytes: 160000 bytes through H5S_ALL, config_json holds 65536 */
    size_t len = 40000;
    hsize_t n = 4;
    char *text = malloc(n * len);
    memset(text, '{', n * len);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, len);
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, "config", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    ck_assert_int_ge(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, text), 0);
    H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
    H5Fclose(f);
    free(text);
    CkptMeta *m = calloc(1, sizeof *m);
    Error err = {0};
    ck_assert_int_eq(ckpt_read_meta(dir, m, &err), PT_EINPUT);
    ck_assert_msg(strstr(err.msg, "meta.h5: dataset config holds 4 strings, one expected") != NULL,
                  "%s", err.msg);
    free(m);
}
END_TEST

/* ---- the meta.h5 table ---- */

/* A CkptMeta with a distinct, non-default value in every member (seed above INT64_MAX, counters
 * past 2^32), built member by member: the reference the table's round trip is checked against. */
static CkptMeta *meta_every_field(void)
{
    CkptMeta *m = calloc(1, sizeof *m);
    m->format_version = CKPT_FORMAT_VERSION;
    m->step = 123456789012LL;
    m->consumed_samples = (1LL << 40) + 3;
    m->global_batch = 77;
    m->tokens = (1LL << 50) + 5;
    m->adam_t = 99;
    m->seed = UINT64_MAX - 5;
    m->dp = 3, m->pp = 5, m->cp = 7, m->tp = 2;
    m->zero_stage = 1;
    snprintf(m->config_json, sizeof m->config_json, "{\"model\": {\"name\": \"x\"}}");
    return m;
}

/* meta.h5 with every field of meta_every_field in tmpdir/<name>; the directory in dir. */
static void write_meta_dir(const char *name, char *dir, size_t len)
{
    snprintf(dir, len, "%s/%s", tmpdir, name);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    CkptMeta *m = meta_every_field();
    int ranks[3] = {0, 17, 209};   /* world 3·5·7·2 = 210 */
    Error err = {0};
    ck_assert_msg(ckpt_write_meta(dir, m, ranks, 3, &err) == 0, "%s", err.msg);
    free(m);
}

/* Reading meta.h5 of dir fails with PT_EINPUT and one line holding needle. */
static void expect_meta_error(const char *dir, const char *needle)
{
    CkptMeta *m = calloc(1, sizeof *m);
    Error err = {0};
    ck_assert_int_eq(ckpt_read_meta(dir, m, &err), PT_EINPUT);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "'%s' lacks '%s'", err.msg, needle);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    free(m);
}

START_TEST(meta_table_round_trips_every_field)
{
    char dir[600];
    write_meta_dir("rt", dir, sizeof dir);
    /* both sides zeroed first: a member the table missed would read back 0, not its value */
    CkptMeta *want = meta_every_field(), *got = malloc(sizeof *got);
    memset(got, 0x5a, sizeof *got);
    int *ranks = NULL, n = 0;
    Error err = {0};
    ck_assert_msg(ckpt_meta_read_file(dir, got, &ranks, &n, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(memcmp(got, want, sizeof *got), 0);
    ck_assert_uint_eq(got->seed, UINT64_MAX - 5);
    ck_assert_int_eq(got->step, 123456789012LL);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(ranks[0], 0);
    ck_assert_int_eq(ranks[1], 17);
    ck_assert_int_eq(ranks[2], 209);
    /* the table describes CkptMeta: every field read back through ckpt_meta_get */
    for (int i = 0; i < ckpt_meta_nfields; i++)
        if (ckpt_meta_fields[i].type != CKPT_FIELD_TEXT)
            ck_assert_uint_eq(ckpt_meta_get(got, &ckpt_meta_fields[i]),
                              ckpt_meta_get(want, &ckpt_meta_fields[i]));
    free(ranks);
    free(want);
    free(got);
}
END_TEST

START_TEST(missing_meta_field_is_named)
{
    /* every field of the table, and the derived world */
    for (int i = 0; i <= ckpt_meta_nfields; i++) {
        const char *name = i < ckpt_meta_nfields ? ckpt_meta_fields[i].name : "world";
        int text = i < ckpt_meta_nfields && ckpt_meta_fields[i].type == CKPT_FIELD_TEXT;
        char dir[600], sub[32], want[128];
        snprintf(sub, sizeof sub, "miss%d", i);
        write_meta_dir(sub, dir, sizeof dir);
        hid_t f = open_rw(dir, "meta.h5");
        if (text)
            ck_assert_int_ge(H5Ldelete(f, name, H5P_DEFAULT), 0);
        else
            ck_assert_int_ge(H5Adelete(f, name), 0);
        H5Fclose(f);
        snprintf(want, sizeof want, "meta.h5: %s %s", text ? "dataset" : "attribute", name);
        expect_meta_error(dir, want);
    }
}
END_TEST

/* Replace integer attribute name of dir/meta.h5 by a scalar holding v. */
static void set_meta_attr(const char *dir, const char *name, int64_t v)
{
    hid_t f = open_rw(dir, "meta.h5");
    put_attr(f, name, H5T_NATIVE_INT64, &v, 1);
    H5Fclose(f);
}

START_TEST(out_of_range_meta_field_is_named)
{
    /* the bounds the reader must hold to, spelled out here, not taken from the table */
    static const struct { const char *name; int64_t bad; } cases[] = {
        {"format_version", 0}, {"format_version", CKPT_FORMAT_VERSION + 1}, {"step", -1},
        {"consumed_samples", -1}, {"global_batch", -1}, {"tokens", -1}, {"adam_t", -1},
        {"dp", 0}, {"pp", 0}, {"cp", -3}, {"tp", 0}, {"dp", 65537}, {"tp", 1LL << 40},
        {"zero_stage", -1}, {"zero_stage", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[600], sub[32], want[128];
        snprintf(sub, sizeof sub, "range%zu", i);
        write_meta_dir(sub, dir, sizeof dir);
        set_meta_attr(dir, cases[i].name, cases[i].bad);
        snprintf(want, sizeof want, "meta.h5: attribute %s %lld ", cases[i].name,
                 (long long)cases[i].bad);
        expect_meta_error(dir, want);
    }
    /* the table's bounds are the reader's: one past each integer bound is refused too */
    for (int i = 0; i < ckpt_meta_nfields; i++) {
        const CkptField *fd = &ckpt_meta_fields[i];
        if (fd->type != CKPT_FIELD_INT && fd->type != CKPT_FIELD_I64)
            continue;
        int64_t bad[2] = {fd->min - 1, fd->max == INT64_MAX ? fd->min - 1 : fd->max + 1};
        for (int j = 0; j < 2; j++) {
            char dir[600], sub[32], want[128];
            snprintf(sub, sizeof sub, "bound%d_%d", i, j);
            write_meta_dir(sub, dir, sizeof dir);
            set_meta_attr(dir, fd->name, bad[j]);
            snprintf(want, sizeof want, "meta.h5: attribute %s %lld ", fd->name,
                     (long long)bad[j]);
            expect_meta_error(dir, want);
        }
    }
    /* a config larger than CkptMeta holds: one string of 70000 bytes */
    char big[600];
    write_meta_dir("bigconfig", big, sizeof big);
    hid_t f = open_rw(big, "meta.h5");
    ck_assert_int_ge(H5Ldelete(f, "config", H5P_DEFAULT), 0);
    char *text = malloc(70000);
    memset(text, '{', 69999);
    text[69999] = '\0';
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 70000);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(f, "config", t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, text), 0);
    H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
    H5Fclose(f);
    free(text);
    expect_meta_error(big, "meta.h5: dataset config is 70000 bytes, at most 65535 fit");
    /* a world that is not dp·pp·cp·tp */
    char dir[600];
    write_meta_dir("world", dir, sizeof dir);
    set_meta_attr(dir, "world", 209);
    expect_meta_error(dir, "meta.h5: attribute world 209");
}
END_TEST

/* ckpt_dir_install: the new directory in place of the old, no sibling left behind. */
START_TEST(dir_install_replaces_and_leaves_no_sibling)
{
    char dir[600], tmp[600], path[700];
    snprintf(dir, sizeof dir, "%s/out", tmpdir);
    snprintf(tmp, sizeof tmp, "%s/out.tmp", tmpdir);
    for (int round = 0; round < 2; round++) {   /* into nothing, then over the first */
        ck_assert_int_eq(mkdir(tmp, 0755), 0);
        snprintf(path, sizeof path, "%s/round%d", tmp, round);
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fclose(f);
        Error err = {0};
        ck_assert_msg(ckpt_dir_install(tmp, dir, &err) == 0, "%s", err.msg);
        snprintf(path, sizeof path, "%s/round%d", dir, round);
        ck_assert_int_eq(access(path, F_OK), 0);
        snprintf(path, sizeof path, "%s/round%d", dir, 1 - round);
        ck_assert_int_ne(access(path, F_OK), 0);
        ck_assert_int_ne(access(tmp, F_OK), 0);
        snprintf(path, sizeof path, "%s/out.old", tmpdir);
        ck_assert_int_ne(access(path, F_OK), 0);
    }
}
END_TEST

/* ---- range_intersect ---- */

START_TEST(range_intersect_cuts_half_open_ranges)
{
    static const struct { int64_t a0, a1, b0, b1; int some; int64_t lo, hi; } cases[] = {
        {0, 10, 5, 15, 1, 5, 10},            /* overlap */
        {5, 15, 0, 10, 1, 5, 10},            /* the same, swapped */
        {0, 10, 2, 4, 1, 2, 4},              /* nested */
        {3, 7, 3, 7, 1, 3, 7},               /* equal */
        {0, 5, 5, 9, 0, 5, 5},               /* touching: [0, 5) and [5, 9) share nothing */
        {0, 3, 6, 9, 0, 6, 3},               /* disjoint */
        {4, 4, 0, 9, 0, 4, 4},               /* empty */
        {INT64_MIN, 8, -2, INT64_MAX, 1, -2, 8},   /* unbounded sides */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t lo, hi;
        int some = range_intersect(cases[i].a0, cases[i].a1, cases[i].b0, cases[i].b1, &lo, &hi);
        ck_assert_int_eq(some, cases[i].some);
        ck_assert_int_eq(lo, cases[i].lo);
        ck_assert_int_eq(hi, cases[i].hi);
    }
}
END_TEST

/* ckpt_state_span: a tensor's stored elements cut by the ZeRO range, in flat coordinates. */
START_TEST(state_span_is_tensor_cut_by_zero_range)
{
    ParamInfo p = {.offset = 100, .numel = 60, .valid_rows = 5, .local_shape = {6, 10}};
    CkptView v = {.opt_lo = 120, .opt_hi = 200};
    size_t lo, hi;
    ck_assert(ckpt_state_span(&p, &v, &lo, &hi));
    ck_assert_uint_eq(lo, 120);
    ck_assert_uint_eq(hi, 150);   /* 5 valid rows of 10: the padding row 150..160 is not stored */
    v.opt_lo = 0, v.opt_hi = 100;
    ck_assert(!ckpt_state_span(&p, &v, &lo, &hi));
    v.opt_lo = 150, v.opt_hi = 400;
    ck_assert(!ckpt_state_span(&p, &v, &lo, &hi));
    v.opt_lo = 0, v.opt_hi = 1000;
    ck_assert(ckpt_state_span(&p, &v, &lo, &hi));
    ck_assert_uint_eq(lo, 100);
    ck_assert_uint_eq(hi, 150);
}
END_TEST

/* Set one attribute of the first weights dataset of rank_00000.h5; its name in *name. */
static void corrupt_piece(const char *dir, const char *attr, const int64_t v[2], char *name,
                          size_t len)
{
    hid_t f = open_rw(dir, "rank_00000.h5");
    hid_t g = H5Gopen2(f, "weights", H5P_DEFAULT);
    ck_assert_int_ge(g, 0);
    ck_assert_int_gt(H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, 0, name, len,
                                        H5P_DEFAULT), 0);
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    put_attr(d, attr, H5T_NATIVE_INT64, v, 2);
    H5Dclose(d);
    H5Gclose(g);
    H5Fclose(f);
}

START_TEST(block_attributes_overflowing_int64_are_refused_naming_the_tensor)
{
    static const struct {
        const char *attr;
        int64_t v[2];
    } cases[] = {
        {"block_offset", {INT64_MAX, 0}},               /* off + shape wraps negative */
        {"block_offset", {-1, 0}},
        {"block_shape", {INT64_MAX / 2, 5}},            /* shape[0] * shape[1] wraps */
        {"global_shape", {INT64_MAX / 2, 4}},           /* the global element count wraps */
        {"global_shape", {INT64_MAX / 8, 2}},           /* no buffer of floats that big */
    };
    ModelDims d = dims(0);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char dir[600], name[96], want[200];
        char sub[16];
        snprintf(sub, sizeof sub, "x%zu", i);
        saved(dir, sizeof dir, sub, 0);
        corrupt_piece(dir, cases[i].attr, cases[i].v, name, sizeof name);
        snprintf(want, sizeof want, "rank_00000.h5: /weights/%s: ", name);
        expect_load_error(dir, &d, want);
        expect_load_error(dir, &d, "negative or out of int64 range");
    }
}
END_TEST

/* ---- latest, keep_last, crash safety ---- */

START_TEST(no_checkpoint_is_einput)
{
    char out[4096];
    Error err = {0};
    ck_assert_int_eq(ckpt_latest(tmpdir, out, sizeof out, &err), PT_EINPUT);
    ck_assert_ptr_nonnull(strstr(err.msg, "no checkpoint in"));
    char path[600];
    snprintf(path, sizeof path, "%s/latest", tmpdir);
    FILE *f = fopen(path, "w");
    fputs("step_00000042\n", f);
    fclose(f);
    Error e2 = {0};
    ck_assert_int_eq(ckpt_latest(tmpdir, out, sizeof out, &e2), PT_EINPUT);
    ck_assert_ptr_nonnull(strstr(e2.msg, "latest names"));
    ck_assert_ptr_nonnull(strstr(e2.msg, "step_00000042"));
}
END_TEST

/* step_%08lld grows past 8 digits at step 100,000,000; `latest` must still resolve, and names
 * no writer produces (a leading zero beyond 8 digits, a suffix) are refused. */
static int latest_resolves(const char *name)
{
    char path[600], out[4096];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/latest", tmpdir);
    FILE *f = fopen(path, "w");
    fprintf(f, "%s\n", name);
    fclose(f);
    Error err = {0};
    return ckpt_latest(tmpdir, out, sizeof out, &err) == PT_OK;
}

START_TEST(step_names_past_eight_digits_resolve)
{
    ck_assert(latest_resolves("step_00000007"));
    ck_assert(latest_resolves("step_100000000"));
    ck_assert(!latest_resolves("step_0100000000"));
    ck_assert(!latest_resolves("step_0000007"));
    ck_assert(!latest_resolves("step_00000007.tmp"));
}
END_TEST

START_TEST(keep_last_prunes_oldest)
{
    ModelDims d = dims(0);
    char save[512], out[4096], path[700];
    snprintf(save, sizeof save, "%s/k", tmpdir);
    for (int s = 1; s <= 4; s++)
        save_mesh(save, &d, single, s, 2);
    Error err = {0};
    ck_assert_int_eq(ckpt_latest(save, out, sizeof out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "step_00000004"));
    for (int s = 1; s <= 4; s++) {
        snprintf(path, sizeof path, "%s/step_%08d", save, s);
        ck_assert_int_eq(access(path, F_OK) == 0, s >= 3);
    }
    /* re-saving an existing step replaces it and keeps it */
    save_mesh(save, &d, meshes[0], 4, 2);
    ck_assert_int_eq(ckpt_latest(save, out, sizeof out, &err), 0);
    check_load(out, &d, single);
    snprintf(path, sizeof path, "%s/step_00000004.old", save);
    ck_assert_int_ne(access(path, F_OK), 0);
}
END_TEST

/* A save killed after writing part of step_N.tmp/ leaves `latest` and the previous checkpoint
 * as they were; the next save of that step clears the leftover. */
START_TEST(killed_save_leaves_previous_checkpoint)
{
    ModelDims d = dims(0);
    char save[512], out[4096], tmp[4096], path[4200];
    snprintf(save, sizeof save, "%s/c", tmpdir);
    save_mesh(save, &d, single, 2, 0);
    Error err = {0};
    ck_assert_int_eq(ckpt_begin(save, 3, tmp, sizeof tmp, &err), 0);
    snprintf(path, sizeof path, "%s/rank_00000.h5", tmp);
    FILE *f = fopen(path, "w");
    fputs("\x89HDF\r\n half a file", f);
    fclose(f);
    ck_assert_int_eq(ckpt_latest(save, out, sizeof out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "step_00000002"));
    check_load(out, &d, meshes[1]);
    save_mesh(save, &d, single, 3, 0);
    ck_assert_int_eq(ckpt_latest(save, out, sizeof out, &err), 0);
    ck_assert_ptr_nonnull(strstr(out, "step_00000003"));
    ck_assert_int_ne(access(tmp, F_OK), 0);
    check_load(out, &d, single);
}
END_TEST

/* The pieces: every logical element of every kind stored exactly once. */
START_TEST(pieces_cover_each_element_once)
{
    ModelDims d = dims(1);
    for (int a = 0; a < NMESH; a++) {
        Shape sh = meshes[a];
        ParamShard full_shard = params_shard_single(&d);
        ParamTable full;
        params_build(&full, &d, &full_shard);
        int world = sh.dp * sh.pp * sh.cp * sh.tp;
        int64_t stored[CKPT_KINDS] = {0};
        for (int r = 0; r < world; r++) {
            RankState s;
            rank_state(&s, &d, sh, r, 0);
            CkptPiece *pc;
            int n = ckpt_pieces(&s.pt, &s.view, &pc);
            for (int i = 0; i < n; i++)
                stored[pc[i].kind] += pc[i].flat_hi - pc[i].flat_lo;
            free(pc);
            rank_free(&s);
        }
        int64_t logical = 0;
        for (int i = 0; i < full.n; i++)
            logical += full.t[i].shape[0] * full.t[i].shape[1];
        for (int k = 0; k < CKPT_KINDS; k++)
            ck_assert_int_eq(stored[k], logical);
        params_free(&full);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ckpt");
    TCase *tc = tcase_create("ckpt");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, load_under_another_mesh_is_bitwise_untied);
    tcase_add_test(tc, load_under_another_mesh_is_bitwise_tied);
    tcase_add_test(tc, single_rank_checkpoint_loads_everywhere);
    tcase_add_test(tc, replicas_write_no_file);
    tcase_add_test(tc, meta_round_trips);
    tcase_add_test(tc, checkpoint_size_estimate_is_a_close_lower_bound);
    tcase_add_test(tc, too_little_free_space_names_dir_and_sizes);
    tcase_add_test(tc, a_full_disk_is_one_error_and_no_crash);
    tcase_add_test(tc, save_on_one_process_then_latest_and_load);
    tcase_add_test(tc, missing_rank_file_is_named);
    tcase_add_test(tc, truncated_rank_file_is_named);
    tcase_add_test(tc, corrupt_tensor_data_is_named_by_file_and_tensor);
    tcase_add_test(tc, pieces_without_checksums_still_load);
    tcase_add_test(tc, missing_meta_is_named);
    tcase_add_test(tc, wrong_format_version_is_refused);
    tcase_add_test(tc, other_dimensions_name_tensor_and_shapes);
    tcase_add_test(tc, tensor_missing_from_checkpoint_is_named);
    tcase_add_test(tc, seed_attribute_must_hold_one_element);
    tcase_add_test(tc, config_dataset_must_hold_one_string);
    tcase_add_test(tc, block_attributes_overflowing_int64_are_refused_naming_the_tensor);
    tcase_add_test(tc, no_checkpoint_is_einput);
    tcase_add_test(tc, step_names_past_eight_digits_resolve);
    tcase_add_test(tc, keep_last_prunes_oldest);
    tcase_add_test(tc, killed_save_leaves_previous_checkpoint);
    tcase_add_test(tc, pieces_cover_each_element_once);
    tcase_add_test(tc, meta_table_round_trips_every_field);
    tcase_add_test(tc, missing_meta_field_is_named);
    tcase_add_test(tc, out_of_range_meta_field_is_named);
    tcase_add_test(tc, dir_install_replaces_and_leaves_no_sibling);
    tcase_add_test(tc, range_intersect_cuts_half_open_ranges);
    tcase_add_test(tc, state_span_is_tensor_cut_by_zero_range);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return check_run(suite());
}
