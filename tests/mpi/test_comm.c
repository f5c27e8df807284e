/* mpi-np: 8 */
/* test_comm: comm.h against plain reference arithmetic and mesh.h against the rank layout
 * formula, on MPI_COMM_WORLD and on sub-communicators of it. A plain MPI program, not a Check
 * suite: Check forks, which is unsafe under MPI. Every rank runs every check; the failure
 * count is agreed at the end so that all ranks exit 1 together. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "config.h"
#include "mesh.h"
#include "mpi_check.h"

/* Small integers: every sum below is exact in fp32, so results compare with ==. */
static float val(int rank, int64_t i) { return (float)((rank + 1) * (int)(i % 7 + 1)); }

/* ---- collectives, each on the communicator given ---- */

static void allreduce_sum_is_sum_of_rank_values(const Comm *c, int64_t n)
{
    float *buf = xmalloc((size_t)n * sizeof *buf);
    for (int64_t i = 0; i < n; i++)
        buf[i] = val(c->rank, i);
    comm_allreduce_sum(c, buf, n);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        float want = 0;
        for (int r = 0; r < c->size; r++)
            want += val(r, i);
        bad += buf[i] != want;
    }
    CHECK(bad == 0, "%lld of %lld elements wrong, size %d", (long long)bad, (long long)n, c->size);
    free(buf);
}

static void allreduce_max_is_max_of_rank_values(const Comm *c)
{
    enum { n = 513 };
    float buf[n];
    int ibuf[n];
    for (int i = 0; i < n; i++) {
        buf[i] = (float)((c->rank * 13 + i * 5) % 11) - 5.0f;
        ibuf[i] = (c->rank * 7 + i * 3) % 9 - 4;
    }
    comm_allreduce_max(c, buf, n);
    comm_allreduce_max_int(c, ibuf, n);
    int bad = 0, ibad = 0;
    for (int i = 0; i < n; i++) {
        float want = -1e30f;
        int iwant = -1000;
        for (int r = 0; r < c->size; r++) {
            float v = (float)((r * 13 + i * 5) % 11) - 5.0f;
            int iv = (r * 7 + i * 3) % 9 - 4;
            want = v > want ? v : want;
            iwant = iv > iwant ? iv : iwant;
        }
        bad += buf[i] != want;
        ibad += ibuf[i] != iwant;
    }
    CHECK(bad == 0, "allreduce_max: %d wrong, size %d", bad, c->size);
    CHECK(ibad == 0, "allreduce_max_int: %d wrong, size %d", ibad, c->size);
}

static void allreduce_sum_f64_is_sum(const Comm *c)
{
    enum { n = 100 };
    double buf[n];
    for (int i = 0; i < n; i++)
        buf[i] = c->rank + 0.25 * i;
    comm_allreduce_sum_f64(c, buf, n);
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad += buf[i] != c->size * (c->size - 1) / 2.0 + c->size * 0.25 * i;
    CHECK(bad == 0, "%d wrong, size %d", bad, c->size);
}

/* send block b of rank r holds r·100 + b·10 + i % 10; this rank receives block `rank` summed. */
static void reduce_scatter_sums_own_block(const Comm *c, int64_t n)
{
    int P = c->size;
    float *send = xmalloc((size_t)(P * n) * sizeof *send), *recv = xmalloc((size_t)n * sizeof *recv);
    for (int b = 0; b < P; b++)
        for (int64_t i = 0; i < n; i++)
            send[b * n + i] = (float)(c->rank * 100 + b * 10 + i % 10);
    comm_reduce_scatter(c, send, recv, n);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        float want = 0;
        for (int r = 0; r < P; r++)
            want += (float)(r * 100 + c->rank * 10 + i % 10);
        bad += recv[i] != want;
    }
    CHECK(bad == 0, "%lld of %lld wrong, size %d", (long long)bad, (long long)n, P);
    free(send);
    free(recv);
}

static void allgather_fills_every_block(const Comm *c, int64_t n)
{
    int P = c->size;
    float *buf = xmalloc((size_t)(P * n) * sizeof *buf);
    for (int b = 0; b < P; b++)
        for (int64_t i = 0; i < n; i++)
            buf[b * n + i] = b == c->rank ? (float)(b * 1000 + i) : -1.0f;
    comm_allgather_inplace(c, buf, n);
    int64_t bad = 0;
    for (int b = 0; b < P; b++)
        for (int64_t i = 0; i < n; i++)
            bad += buf[b * n + i] != (float)(b * 1000 + i);
    CHECK(bad == 0, "%lld wrong, size %d", (long long)bad, P);
    free(buf);
}

static void bcast_copies_root_bytes(const Comm *c)
{
    enum { n = 1001 };
    unsigned char buf[n];
    for (int root = 0; root < c->size; root++) {
        for (int i = 0; i < n; i++)
            buf[i] = c->rank == root ? (unsigned char)(i * 7 + root) : 0;
        comm_bcast(c, buf, n, root);
        int bad = 0;
        for (int i = 0; i < n; i++)
            bad += buf[i] != (unsigned char)(i * 7 + root);
        CHECK(bad == 0, "root %d: %d bytes wrong, size %d", root, bad, c->size);
    }
    comm_barrier(c);
}

static void iallreduce_completes_by_polling(const Comm *c)
{
    enum { n = 100000 };
    float *a = xmalloc(n * sizeof *a), *b = xmalloc(n * sizeof *b);
    for (int i = 0; i < n; i++)
        a[i] = b[i] = val(c->rank, i);
    CommRequest ra, rb;
    comm_iallreduce_sum(c, a, n, &ra);
    comm_iallreduce_sum(c, b, n, &rb);
    long polls = 0;
    while (!comm_test(&ra))
        polls++;
    comm_wait(&rb);
    CHECK(comm_test(&ra) == 1, "a completed request stays complete");
    int bad = 0;
    for (int i = 0; i < n; i++) {
        float want = 0;
        for (int r = 0; r < c->size; r++)
            want += val(r, i);
        bad += (a[i] != want) + (b[i] != want);
    }
    CHECK(bad == 0, "%d wrong after %ld polls, size %d", bad, polls, c->size);
    free(a);
    free(b);
}

/* 1 MiB per message, far above the eager limit: the ring only completes because both sides
 * are posted before anyone waits. */
static void ring_of_large_messages_does_not_deadlock(const Comm *c)
{
    if (c->size == 1)
        return;
    enum { n = (1 << 20) / sizeof(float) };
    int right = (c->rank + 1) % c->size, left = (c->rank + c->size - 1) % c->size;
    float *out = xmalloc(n * sizeof *out), *in = xmalloc(n * sizeof *in);
    for (int i = 0; i < (int)n; i++)
        out[i] = (float)(c->rank * 1000 + i % 1000), in[i] = -1;
    CommRequest req[2];
    comm_isend(c, out, n, right, 7, &req[0]);
    comm_irecv(c, in, n, left, 7, &req[1]);
    comm_waitall(req, 2);
    int bad = 0;
    for (int i = 0; i < (int)n; i++)
        bad += in[i] != (float)(left * 1000 + i % 1000);
    CHECK(bad == 0, "%d wrong from rank %d, size %d", bad, left, c->size);
    free(out);
    free(in);
}

static void agree_gives_everyone_the_lowest_failure(const Comm *c)
{
    Error e = { 0 };
    CHECK(comm_agree(c, &e) == PT_OK && e.code == PT_OK, "no failure: got %d", e.code);

    int who = c->size / 2;
    e = (Error){ 0 };
    if (c->rank == who)
        err_set(&e, PT_EINPUT, "rank %d alone failed", who);
    char want[64];
    snprintf(want, sizeof want, "rank %d alone failed", who);
    int code = comm_agree(c, &e);
    CHECK(code == PT_EINPUT && e.code == PT_EINPUT && strcmp(e.msg, want) == 0,
          "one failure: got %d \"%s\"", code, e.msg);

    /* Odd ranks fail with various codes and messages (rank 0 too when it is alone): the
     * lowest failing rank is 1, or 0 in a communicator of one. */
    e = (Error){ 0 };
    if (c->rank % 2 == 1 || c->size == 1)
        err_set(&e, c->rank % 4 == 1 ? PT_ERUNTIME : PT_EINPUT, "rank %d: disk %d full",
                c->rank, c->rank * 3);
    int low = c->size == 1 ? 0 : 1;
    snprintf(want, sizeof want, "rank %d: disk %d full", low, low * 3);
    int want_code = low % 4 == 1 ? PT_ERUNTIME : PT_EINPUT;
    code = comm_agree(c, &e);
    CHECK(code == want_code && e.code == want_code && strcmp(e.msg, want) == 0,
          "several failures: got %d \"%s\", want %d \"%s\"", code, e.msg, want_code, want);

    /* Every rank failing: rank 0's message. */
    e = (Error){ 0 };
    err_set(&e, PT_ERUNTIME, "rank %d: NaN loss", c->rank);
    code = comm_agree(c, &e);
    CHECK(code == PT_ERUNTIME && strcmp(e.msg, "rank 0: NaN loss") == 0, "all failed: \"%s\"",
          e.msg);
}

static void test_collectives(const Comm *c)
{
    allreduce_sum_is_sum_of_rank_values(c, 1000);
    allreduce_sum_is_sum_of_rank_values(c, 1 << 20);   /* large-message algorithms */
    allreduce_max_is_max_of_rank_values(c);
    allreduce_sum_f64_is_sum(c);
    reduce_scatter_sums_own_block(c, 1000);
    reduce_scatter_sums_own_block(c, 37);
    allgather_fills_every_block(c, 1000);
    allgather_fills_every_block(c, 37);
    bcast_copies_root_bytes(c);
    iallreduce_completes_by_polling(c);
    ring_of_large_messages_does_not_deadlock(c);
    agree_gives_everyone_the_lowest_failure(c);
}

static void test_on_split(MPI_Comm world, int color, int key, int want_size)
{
    MPI_Comm sub;
    MPI_Comm_split(world, color, key, &sub);
    Comm c = comm_from_mpi(sub);
    CHECK(c.size == want_size, "split color %d: size %d, want %d", color, c.size, want_size);
    test_collectives(&c);
    comm_free(&c);
    CHECK(c.comm == MPI_COMM_NULL && c.size == 1, "comm_free leaves a comm_self()");
}

/* A Comm of one rank, from comm_self() or from MPI, changes nothing and never blocks. */
static void size_one_comm_is_a_noop(Comm c)
{
    float buf[4] = { 1, 2, 3, 4 }, send[4] = { 5, 6, 7, 8 };
    comm_allreduce_sum(&c, buf, 4);
    comm_allreduce_max(&c, buf, 4);
    CHECK(buf[0] == 1 && buf[3] == 4, "allreduce changed the buffer");
    comm_reduce_scatter(&c, send, buf, 4);
    CHECK(memcmp(buf, send, sizeof buf) == 0, "reduce_scatter copies send to recv");
    comm_allgather_inplace(&c, buf, 4);
    comm_bcast(&c, buf, sizeof buf, 0);
    comm_barrier(&c);
    CHECK(buf[0] == 5 && buf[3] == 8, "allgather/bcast changed the buffer");
    CommRequest r;
    comm_iallreduce_sum(&c, buf, 4, &r);
    CHECK(comm_test(&r) == 1, "a size-1 request is complete at once");
    comm_wait(&r);
    comm_waitall(&r, 1);
    Error e = { 0 };
    CHECK(comm_agree(&c, &e) == PT_OK, "agree without failure");
    err_set(&e, PT_EINPUT, "mine");
    CHECK(comm_agree(&c, &e) == PT_EINPUT && strcmp(e.msg, "mine") == 0, "agree keeps own error");
}

/* ---- mesh ---- */

static void test_stage_layers_cover_contiguously(void)
{
    int bad = 0;
    for (int L = 1; L <= 40; L++)
        for (int pp = 1; pp <= L; pp++) {
            int prev_end = 0, lo = L, hi = 0;
            for (int s = 0; s < pp; s++) {
                int b, e;
                mesh_stage_layers(L, pp, s, &b, &e);
                bad += b != prev_end || e <= b;
                bad += (e - b) != L / pp + (s < L % pp);   /* the first L % pp get one more */
                lo = e - b < lo ? e - b : lo;
                hi = e - b > hi ? e - b : hi;
                prev_end = e;
            }
            bad += prev_end != L || hi - lo > 1;
        }
    CHECK(bad == 0, "%d stage ranges wrong", bad);
}

static Config model_config(void)
{
    Config cfg;
    config_defaults(&cfg);
    ModelDims *d = &cfg.model.dims;
    d->num_hidden_layers = 5, d->hidden_size = 64, d->num_attention_heads = 8;
    d->num_key_value_heads = 4, d->intermediate_size = 128, d->vocab_size = 300;
    d->max_position_embeddings = 64, d->tie_word_embeddings = 1;
    cfg.training.seq_length = 32;
    return cfg;
}

static void set_mesh(Config *cfg, int dp, int pp, int cp, int tp)
{
    cfg->distributed.dp_size = dp, cfg->distributed.pp_size = pp;
    cfg->distributed.cp_size = cp, cfg->distributed.tp_size = tp;
}

/* The global ranks of a group, in group-rank order, must be `want`. */
static void check_group(const Comm *c, int rank, const int *want, int n, const char *what)
{
    CHECK(c->size == n, "%s: size %d, want %d", what, c->size, n);
    CHECK((n == 1) == (c->comm == MPI_COMM_NULL), "%s: size %d with comm %s", what, c->size,
          c->comm == MPI_COMM_NULL ? "null" : "set");
    if (c->size != n)
        return;
    float got[8];
    got[c->rank] = (float)rank;
    comm_allgather_inplace(c, got, 1);
    float sum = (float)rank;
    comm_allreduce_sum(c, &sum, 1);
    int bad = 0;
    float want_sum = 0;
    for (int i = 0; i < n; i++)
        bad += got[i] != (float)want[i], want_sum += (float)want[i];
    CHECK(bad == 0 && sum == want_sum, "%s: group ranks or sum (%g vs %g) wrong", what, sum,
          want_sum);
}

static void check_layout(const Mesh *m, const Config *cfg, int rank, int N)
{
    int DP = m->dp, PP = m->pp, CP = m->cp, TP = m->tp;
    int d = m->dp_rank, p = m->pp_rank, c = m->cp_rank, t = m->tp_rank;
#define AT(d_, p_, c_, t_) ((((d_) * PP + (p_)) * CP + (c_)) * TP + (t_))
    CHECK(m->rank == rank && m->world == N, "rank %d world %d", m->rank, m->world);
    CHECK(d >= 0 && d < DP && p >= 0 && p < PP && c >= 0 && c < CP && t >= 0 && t < TP &&
              AT(d, p, c, t) == rank,
          "coordinates (%d,%d,%d,%d) of rank %d", d, p, c, t, rank);
    CHECK(m->all.size == N && m->all.rank == rank, "all: %d of %d", m->all.rank, m->all.size);
    CHECK(m->tp_comm.rank == t && m->cp_comm.rank == c && m->pp_comm.rank == p &&
              m->dp_comm.rank == d && m->dpcp_comm.rank == d * CP + c,
          "group ranks are not the coordinates");
    int want[8], n;
    for (n = 0; n < TP; n++) want[n] = AT(d, p, c, n);
    check_group(&m->tp_comm, rank, want, TP, "tp_comm");
    for (n = 0; n < CP; n++) want[n] = AT(d, p, n, t);
    check_group(&m->cp_comm, rank, want, CP, "cp_comm");
    for (n = 0; n < PP; n++) want[n] = AT(d, n, c, t);
    check_group(&m->pp_comm, rank, want, PP, "pp_comm");
    for (n = 0; n < DP; n++) want[n] = AT(n, p, c, t);
    check_group(&m->dp_comm, rank, want, DP, "dp_comm");
    for (n = 0; n < DP * CP; n++) want[n] = AT(n / CP, p, n % CP, t);
    check_group(&m->dpcp_comm, rank, want, DP * CP, "dpcp_comm");
    if (PP > 1 && cfg->model.dims.tie_word_embeddings && (p == 0 || p == PP - 1)) {
        want[0] = AT(d, 0, c, t), want[1] = AT(d, PP - 1, c, t);
        check_group(&m->embed_comm, rank, want, 2, "embed_comm");
        CHECK(m->embed_comm.rank == (p == 0 ? 0 : 1), "embed_comm rank %d", m->embed_comm.rank);
    } else {
        want[0] = rank;
        check_group(&m->embed_comm, rank, want, 1, "embed_comm");
    }
#undef AT
    int b, e;
    mesh_stage_layers(cfg->model.dims.num_hidden_layers, PP, p, &b, &e);
    CHECK(m->layer_begin == b && m->layer_end == e, "layers [%d, %d)", m->layer_begin,
          m->layer_end);
    /* The stages of one pp group hold [0, L) between them. */
    float layers = (float)(m->layer_end - m->layer_begin);
    comm_allreduce_sum(&m->pp_comm, &layers, 1);
    CHECK(layers == (float)cfg->model.dims.num_hidden_layers, "pp group holds %g layers", layers);
    char desc[64], want_desc[64];
    mesh_describe(m, desc, sizeof desc);
    snprintf(want_desc, sizeof want_desc, "dp=%d pp=%d cp=%d tp=%d (%d rank%s)", DP, PP, CP, TP, N,
             N == 1 ? "" : "s");
    CHECK(strcmp(desc, want_desc) == 0, "describe: \"%s\"", desc);
}

/* The key an invalid mesh must name, or NULL when the mesh is valid (the test's own reading of
 * the rules, independent of mesh.c). */
static const char *expected_error(const Config *cfg, int N)
{
    const ModelDims *d = &cfg->model.dims;
    int dp = cfg->distributed.dp_size, pp = cfg->distributed.pp_size;
    int cp = cfg->distributed.cp_size, tp = cfg->distributed.tp_size;
    if (dp * pp * cp * tp != N) return "world size";
    if (d->num_attention_heads % tp) return "model.num_attention_heads";
    if (d->num_key_value_heads % tp) return "model.num_key_value_heads";
    if (pp > d->num_hidden_layers) return "model.num_hidden_layers";
    if (cp > 1 && cfg->training.seq_length % (2 * cp)) return "training.seq_length";
    return NULL;
}

/* What the trainer does: the config's mesh rules, then the mesh of that shape. On an error
 * m holds no communicator (mesh_free is still safe). */
static int init_mesh(Mesh *m, MPI_Comm world, const Config *cfg, Error *e)
{
    int rc = config_check_mesh(cfg, e);
    if (rc) {
        mesh_init(m, MPI_COMM_NULL, &(MeshShape){ 1, 1, 1, 1, 1, 0 }, &(Error){ 0 });
        return rc;
    }
    MeshShape sh = { cfg->distributed.dp_size, cfg->distributed.pp_size, cfg->distributed.cp_size,
                     cfg->distributed.tp_size, cfg->model.dims.num_hidden_layers,
                     cfg->model.dims.tie_word_embeddings };
    return mesh_init(m, world, &sh, e);
}

/* Every rank of `world` must give the same verdict: PT_EINPUT naming `key`, or PT_OK. */
static void check_init(MPI_Comm world, const Config *cfg, int rank, int N, const char *label)
{
    const char *key = expected_error(cfg, N);
    Mesh m;
    Error e = { 0 };
    int rc = init_mesh(&m, world, cfg, &e);
    int lo = rc, hi = rc;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_INT, MPI_MIN, world);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_INT, MPI_MAX, world);
    CHECK(lo == hi, "%s: ranks disagree (codes %d..%d)", label, lo, hi);
    if (key) {
        CHECK(rc == PT_EINPUT && strstr(e.msg, key) && strstr(e.msg, "distributed"),
              "%s: want PT_EINPUT naming %s, got %d \"%s\"", label, key, rc, e.msg);
    } else {
        CHECK(rc == PT_OK, "%s: %s", label, e.msg);
        if (rc == PT_OK)
            check_layout(&m, cfg, rank, N);
    }
    mesh_free(&m);
}

static void every_mesh_of_n_ranks_is_laid_out_or_refused(MPI_Comm world, int rank, int N)
{
    Config cfg = model_config();
    char label[96];
    for (int dp = 1; dp <= N; dp++)
        for (int pp = 1; pp <= N; pp++)
            for (int cp = 1; cp <= N; cp++)
                for (int tp = 1; tp <= N; tp++) {
                    if (dp * pp * cp * tp != N)
                        continue;
                    for (int tied = pp > 1 ? 0 : 1; tied <= 1; tied++) {
                        set_mesh(&cfg, dp, pp, cp, tp);
                        cfg.model.dims.tie_word_embeddings = tied;
                        snprintf(label, sizeof label, "N=%d dp=%d pp=%d cp=%d tp=%d tied=%d", N,
                                 dp, pp, cp, tp, tied);
                        check_init(world, &cfg, rank, N, label);
                    }
                }
}

static void bad_meshes_are_refused_on_every_rank(MPI_Comm world, int rank, int N)
{
    Config cfg = model_config();
    Mesh m;
    Error e = { 0 };

    set_mesh(&cfg, 2, 1, 1, 4);
    int rc = init_mesh(&m, world, &cfg, &e);
    CHECK(rc == PT_EINPUT && strcmp(e.msg, "distributed: world size 4 does not match "
                                           "dp_size·pp_size·cp_size·tp_size = 2·1·1·4 = 8") == 0,
          "world mismatch: %d \"%s\"", rc, e.msg);
    mesh_free(&m);

    set_mesh(&cfg, 1, 1, 1, 4);
    cfg.model.dims.num_attention_heads = 6, cfg.model.dims.num_key_value_heads = 2;
    e = (Error){ 0 };
    rc = init_mesh(&m, world, &cfg, &e);
    CHECK(rc == PT_EINPUT && strcmp(e.msg, "distributed.tp_size: 4 does not divide "
                                           "model.num_attention_heads 6") == 0,
          "heads: %d \"%s\"", rc, e.msg);
    mesh_free(&m);

    cfg.model.dims.num_attention_heads = 8;
    e = (Error){ 0 };
    rc = init_mesh(&m, world, &cfg, &e);
    CHECK(rc == PT_EINPUT && strcmp(e.msg, "distributed.tp_size: 4 does not divide "
                                           "model.num_key_value_heads 2") == 0,
          "kv-heads: %d \"%s\"", rc, e.msg);
    mesh_free(&m);

    cfg = model_config();
    set_mesh(&cfg, 1, 4, 1, 1);
    cfg.model.dims.num_hidden_layers = 3;
    e = (Error){ 0 };
    rc = init_mesh(&m, world, &cfg, &e);
    CHECK(rc == PT_EINPUT && strcmp(e.msg, "distributed.pp_size: 4 stages but "
                                           "model.num_hidden_layers is 3") == 0,
          "layers: %d \"%s\"", rc, e.msg);
    mesh_free(&m);

    cfg = model_config();
    set_mesh(&cfg, 1, 1, 4, 1);
    cfg.training.seq_length = 30;
    e = (Error){ 0 };
    rc = init_mesh(&m, world, &cfg, &e);
    CHECK(rc == PT_EINPUT && strcmp(e.msg, "training.seq_length: 30 is not divisible by 2 * "
                                           "distributed.cp_size = 8 (context parallelism "
                                           "splits it into 2*cp chunks)") == 0,
          "seq: %d \"%s\"", rc, e.msg);
    mesh_free(&m);

    /* Whatever the error, no rank is left waiting in a collective: this one completes. */
    int one = 1;
    MPI_Allreduce(MPI_IN_PLACE, &one, 1, MPI_INT, MPI_SUM, world);
    CHECK(one == N && rank < N, "after refusals: %d", one);
}

static void test_meshes(int rank)
{
    test_stage_layers_cover_contiguously();
    for (int N = 8; N >= 1; N /= 2) {
        MPI_Comm sub;
        MPI_Comm_split(MPI_COMM_WORLD, rank < N ? 0 : MPI_UNDEFINED, rank, &sub);
        if (sub == MPI_COMM_NULL)
            continue;
        every_mesh_of_n_ranks_is_laid_out_or_refused(sub, rank, N);
        if (N == 4)
            bad_meshes_are_refused_on_every_rank(sub, rank, N);
        MPI_Comm_free(&sub);
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int size;
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    size_one_comm_is_a_noop(comm_self());
    size_one_comm_is_a_noop(comm_from_mpi(MPI_COMM_SELF));

    MPI_Comm dup;
    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    Comm world = comm_from_mpi(dup);
    CHECK(world.size == size && world.rank == world_rank, "comm_from_mpi: %d of %d", world.rank,
          world.size);
    test_collectives(&world);
    comm_free(&world);
    /* Halves in reverse rank order; thirds (3, 3, 2 ranks); single ranks. */
    test_on_split(MPI_COMM_WORLD, world_rank < size / 2, size - world_rank,
                  world_rank < size / 2 ? size / 2 : size - size / 2);
    test_on_split(MPI_COMM_WORLD, world_rank % 3, world_rank,
                  (size - world_rank % 3 + 2) / 3);
    test_on_split(MPI_COMM_WORLD, world_rank, 0, 1);

    if (size >= 8)
        test_meshes(world_rank);
    else
        CHECK(0, "the mesh tests need 8 ranks, got %d", size);

    int failed = failures;
    MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (world_rank == 0)
        printf("test_comm: %d checks passed%s\n", checks - failures,
               failed ? ", some checks FAILED" : "");
    MPI_Finalize();
    return failed ? 1 : 0;
}
