/* mesh_equiv: the mesh-equivalence harness shared by tests/mpi/test_mesh_*.c (included by each,
 * one launch per file). docs/design.md, Invariants: at the same global batch G = mbs × grad_acc × dp
 * a mesh run gives the single-process run's loss after every step and its weights after the
 * last one, to fp32 reduction-order tolerance.
 *
 * A launch is 8 ranks and a list of cases (a mesh with its zero stage, tied or untied, grad_acc,
 * seq_length). It runs in four phases; a rank with nothing left to do sleeps (idle_barrier)
 * instead of spinning in MPI:
 *   0. references: the distinct single-process runs the cases need (keyed by tied, G, T; each
 *      trainer_open(MPI_COMM_NULL) with dp = tp = pp = cp = 1 and grad_acc × dp micro-batches)
 *      are dealt out over the ranks, computed once, and broadcast (5 losses + the flat weights;
 *      the single-process table is rebuilt locally with params_build);
 *   1. the 8-rank cases on the whole world;
 *   2. the 4-rank cases on two halves of the world, each half with its own queue;
 *   3. the 2-rank cases on four pairs, each pair with its own queue.
 * Queues are balanced by estimated cost (longest first onto the least loaded group).
 *
 * What a case asserts, on every rank of its mesh:
 *   - the loss of each of the STEPS steps against the reference: |a − b| / |b| ≤ LOSS_TOL;
 *   - each tensor piece this rank holds against the matching slice of the reference tensor
 *     (local_offset / local_shape; vocab pieces only over valid_rows): ‖a − b‖ / ‖b‖ ≤
 *     WEIGHT_TOL apart from a few AdamW flips (below); the vocab padding rows exactly 0;
 *   - coverage: the elements compared over the whole mesh equal the reference's, counted with
 *     their replication (dp·cp copies, tp copies of RMSNorm weights, two copies of a tied
 *     embedding when pp > 1), so a missing tensor or layer cannot pass;
 *   - replicas are bitwise identical: the whole flat buffer over each dp group and each cp group
 *     (under ZeRO-1 this is the all-gathered weights), RMSNorm weights over each tp group, and
 *     the tied embedding's copies on the first and last pipeline stage;
 *   - activation recompute changes no bit: the same mesh run for one step with
 *     training.activation_checkpointing "selective" and "full" gives the step-1 loss and this
 *     rank's whole gradient buffer of the run without recompute, compared with == and memcmp
 *     (the cp ring and the tp all-reduce of the attention output are re-run in the recompute;
 *     1F1B and AFAB backwards each recompute their own micro-batch).
 * Each rank counts its failures (and prints them); the per-case verdicts and the largest
 * deviations are reduced to rank 0, which prints one line per case and a summary; every rank
 * exits 1 if anything failed.
 *
 * Tolerances, measured over seeds 1-6 and 1234 on every case (scratch builds with
 * -DMESH_EQUIV_SEED=n):
 *   - loss: |a − b| / |b| ≤ 1e-5 (measured ≤ 9.2e-7). The loss after step k depends on k − 1
 *     AdamW updates computed with sums in another order (tp partial matmuls and vocab-parallel
 *     softmax, the cp ring's online softmax, dp/cp all-reduces, another micro-batch split): fp32
 *     rounding (6e-8 per operation) grows to ~1e-7 over 5 steps. A wrong batch (one micro-batch
 *     too many in the reference) moves the step-1 loss by ≥ 1.5e-4 and later steps by ~1e-2.
 *   - weights: AdamW divides by sqrt(v) + eps, so an element whose gradient is ~0 in both runs
 *     can take a step of up to ±lr with either sign depending on rounding; a single such element
 *     dominates ‖a − b‖ of a small piece (tp4: 512 elements, ‖b‖ ≈ 0.45). So elements with
 *     |a − b| > FLIP_ABS (1e-4, half a percent of a typical weight) count as flips, at most
 *     MAX_FLIPS (4; measured ≤ 1) per piece, each ≤ FLIP_MAX (measured ≤ 8.8e-4); the rest must
 *     satisfy ‖a − b‖ / ‖b‖ ≤ WEIGHT_TOL = 5e-4 (measured ≤ 1.9e-4, typically 1e-5..5e-5). A real
 *     error is far above: a wrong batch gives 0.15..0.27, a tensor scaled by 1.002 gives 1.9e-3
 *     and 34 flips.
 * Scratch builds with -DMESH_EQUIV_SABOTAGE=1 (one reference tensor scaled by 1.002), 2 (the
 * reference one micro-batch off) and 3 (a non-zero vocab padding element; one weight changed on
 * one replica; the tied embedding changed on the last stage) must fail. */
#ifndef PICOTRON_TEST_MESH_EQUIV_H
#define PICOTRON_TEST_MESH_EQUIV_H

#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "mesh.h"
#include "models.h"
#include "params.h"
#include "trainer.h"

#define STEPS 5
#define LOSS_TOL 1e-5
#ifndef WEIGHT_TOL
#define WEIGHT_TOL 5e-4
#endif
/* AdamW sign flips (see the header comment): elements whose difference exceeds FLIP_ABS are
 * left out of the relative norm and counted instead; a piece may hold at most MAX_FLIPS of
 * them, none further off than FLIP_MAX (a full-lr step of the wrong sign in every step,
 * 2·3e-3·5). MESH_EQUIV_VERBOSE=1 in the environment prints each rank's per-case figures. */
#ifndef FLIP_ABS
#define FLIP_ABS 1e-4
#endif
#define MAX_FLIPS 4
/* Where the meshes run; the references always run on the CPU backend. The stand-in build
 * (mk/cuda.mk) compiles these suites with "cuda": the meshes on the CUDA backend's host code
 * against the CPU's single process. */
#ifndef MESH_EQUIV_DEVICE
#define MESH_EQUIV_DEVICE "cpu"
#endif
#define FLIP_MAX 3e-2
#define WORLD 8
#ifndef MESH_EQUIV_SEED
#define MESH_EQUIV_SEED 1234 /* scratch builds measure the tolerances over other seeds */
#endif
#ifndef MESH_EQUIV_SABOTAGE
#define MESH_EQUIV_SABOTAGE 0 /* scratch builds only: 1, 2, 3 break the test on purpose */
#endif
#define MAX_CASES 64
#define MAX_REFS 32

typedef struct {
    int dp, tp, pp, cp;
    const char *engine;  /* pp engine: "1f1b" or "afab" */
    int zero;            /* distributed.zero_stage */
    int tied;
    int acc;             /* gradient_accumulation_steps on the mesh */
    int T, mbs;          /* 0: 32 and 2 */
    const char *note;    /* appended to the label (e.g. message sizes); may be NULL */
} Case;

typedef struct {
    int tied, G, T, mbs;
    int owner;           /* world rank that computes it */
    double loss[STEPS];
    float *w;            /* single-process flat weights */
    ParamTable pt;       /* single-process table */
} Ref;

static int me_rank, me_fail;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            me_fail++;                                                                         \
            printf("FAIL %s:%d: %s (world rank %d: ", __FILE__, __LINE__, #cond, me_rank);     \
            printf(__VA_ARGS__);                                                               \
            printf(")\n");                                                                     \
            fflush(stdout);                                                                    \
        }                                                                                      \
    } while (0)

static int case_T(const Case *c) { return c->T ? c->T : 32; }
static int case_mbs(const Case *c) { return c->mbs ? c->mbs : 2; }
static int case_size(const Case *c) { return c->dp * c->tp * c->pp * c->cp; }
static int case_G(const Case *c) { return case_mbs(c) * c->acc * c->dp; }

static void case_label(const Case *c, char *buf, size_t n)
{
    char mesh[64] = "";
    const int sz[4] = {c->dp, c->tp, c->pp, c->cp};
    const char *nm[4] = {"dp", "tp", "pp", "cp"};
    for (int i = 0; i < 4; i++)
        if (sz[i] > 1)
            snprintf(mesh + strlen(mesh), sizeof mesh - strlen(mesh), "%s%s%d",
                     mesh[0] ? "·" : "", nm[i], sz[i]);
    snprintf(buf, n, "%s%s%s%s %s acc%d T%d mbs%d%s%s", mesh[0] ? mesh : "single",
             c->pp > 1 ? " " : "", c->pp > 1 ? c->engine : "", c->zero ? " zero1" : "",
             c->tied ? "tied" : "untied", c->acc, case_T(c), case_mbs(c), c->note ? " " : "",
             c->note ? c->note : "");
}

/* The configuration of the issue: tiny-mesh (L5 C64 H8 K4 F128 V300), synthetic data, AdamW
 * lr 3e-3 with 2 warm-up steps then cosine over 5, clipping at 1.0, weight decay 0.1 (not on
 * norms), one OpenMP thread, no output files. */
static void make_config(Config *cfg, int dp, int tp, int pp, int cp, const char *engine,
                        int zero, int tied, int acc, int T, int mbs, const char *recompute)
{
    Error err = {0};
    config_defaults(cfg);
    snprintf(cfg->model.name, sizeof cfg->model.name, "tiny-mesh");
    if (models_resolve("tiny-mesh", &cfg->model.dims, &err))
        CHECK(0, "models_resolve: %s", err.msg);
    cfg->model.dims.tie_word_embeddings = tied;
    cfg->distributed.dp_size = dp;
    cfg->distributed.tp_size = tp;
    cfg->distributed.pp_size = pp;
    cfg->distributed.cp_size = cp;
    snprintf(cfg->distributed.pp_engine, sizeof cfg->distributed.pp_engine, "%s", engine);
    cfg->distributed.zero_stage = zero;
    snprintf(cfg->training.activation_checkpointing, sizeof cfg->training.activation_checkpointing,
             "%s", recompute);
    cfg->training.seed = MESH_EQUIV_SEED;
    cfg->training.learning_rate = 3e-3;
    cfg->training.total_train_steps = STEPS;
    cfg->training.seq_length = T;
    cfg->training.micro_batch_size = mbs;
    cfg->training.gradient_accumulation_steps = acc;
    snprintf(cfg->optimizer.lr_schedule, sizeof cfg->optimizer.lr_schedule, "cosine");
    cfg->optimizer.warmup_steps = 2;
    cfg->optimizer.grad_clip = 1.0;
    cfg->optimizer.weight_decay = 0.1;
    cfg->optimizer.decay_norms = 0;
    snprintf(cfg->dataset.name, sizeof cfg->dataset.name, "synthetic");
    cfg->environment.omp_num_threads = 1;
    snprintf(cfg->environment.device, sizeof cfg->environment.device, "%s",
             dp * tp * pp * cp == 1 ? "cpu" : MESH_EQUIV_DEVICE);
    snprintf(cfg->logging.run_dir, sizeof cfg->logging.run_dir, "/nonexistent-unused");
    if (config_validate(cfg, &err))
        CHECK(0, "config_validate: %s", err.msg);
}

/* A barrier that sleeps instead of spinning: under --oversubscribe (8 ranks on 2 cores) a rank
 * that waits in MPI_Barrier polls and takes CPU time from the ranks still computing. */
static void idle_barrier(MPI_Comm comm)
{
    MPI_Request r;
    int done = 0;
    MPI_Ibarrier(comm, &r);
    for (;;) {
        MPI_Test(&r, &done, MPI_STATUS_IGNORE);
        if (done)
            break;
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
}

/* ---- phase 0: references ---- */

static int ref_find(Ref *refs, int nref, int tied, int G, int T, int mbs)
{
    for (int i = 0; i < nref; i++)
        if (refs[i].tied == tied && refs[i].G == G && refs[i].T == T && refs[i].mbs == mbs)
            return i;
    return -1;
}

static void ref_compute(Ref *r)
{
    Config cfg;
#if MESH_EQUIV_SABOTAGE == 2 /* scratch check that the test can fail: a wrong global batch */
    make_config(&cfg, 1, 1, 1, 1, "1f1b", 0, r->tied, r->G / r->mbs + 1, r->T, r->mbs,
                "none");
#else
    make_config(&cfg, 1, 1, 1, 1, "1f1b", 0, r->tied, r->G / r->mbs, r->T, r->mbs,
                "none");
#endif
    TrainOptions opt = {.quiet = 1, .write_metrics = 0, .out = stdout};
    Trainer *t = NULL;
    Error err = {0};
    int rc = trainer_open(&t, &cfg, MPI_COMM_NULL, &opt, &err);
    CHECK(rc == 0, "reference trainer_open: %s", err.msg);
    for (int s = 0; s < STEPS && !rc; s++) {
        StepStats st;
        rc = trainer_step(t, &st, &err);
        CHECK(rc == 0, "reference step %d: %s", s + 1, err.msg);
        r->loss[s] = st.loss;
    }
    const float *w = NULL;
    const ParamTable *pt = rc ? NULL : trainer_params(t, &w);
    if (pt)
        memcpy(r->w, w, pt->numel * sizeof(float));
    trainer_close(t);
}

/* Every rank gets every reference: the owners compute theirs, then each is broadcast. */
static void refs_build(Ref *refs, int nref)
{
    double load[WORLD] = {0};
    for (int i = 0; i < nref; i++) { /* deal out, heaviest first: refs are few, O(n²) is fine */
        int best = -1;
        for (int j = 0; j < nref; j++)
            if (refs[j].owner < 0 &&
                (best < 0 || refs[j].G * refs[j].T > refs[best].G * refs[best].T))
                best = j;
        int r = 0;
        for (int k = 1; k < WORLD; k++)
            if (load[k] < load[r])
                r = k;
        refs[best].owner = r;
        load[r] += (double)refs[best].G * refs[best].T;
    }
    for (int i = 0; i < nref; i++) {
        Ref *r = &refs[i];
        ModelDims d;
        Error err = {0};
        models_resolve("tiny-mesh", &d, &err);
        d.tie_word_embeddings = r->tied;
        ParamShard sh = params_shard_single(&d);
        params_build(&r->pt, &d, &sh);
        r->w = calloc(r->pt.numel, sizeof(float));
        if (r->owner == me_rank)
            ref_compute(r);
    }
    idle_barrier(MPI_COMM_WORLD);
    for (int i = 0; i < nref; i++) {
        MPI_Bcast(refs[i].loss, STEPS, MPI_DOUBLE, refs[i].owner, MPI_COMM_WORLD);
        MPI_Bcast(refs[i].w, (int)refs[i].pt.numel, MPI_FLOAT, refs[i].owner, MPI_COMM_WORLD);
#if MESH_EQUIV_SABOTAGE == 1 /* scratch check: one reference tensor scaled by 1 + 2e-3 */
        const ParamInfo *q =
            &refs[i].pt.t[params_find(&refs[i].pt, "model.layers.3.self_attn.q_proj.weight")];
        for (size_t k = 0; k < q->numel; k++)
            refs[i].w[q->offset + k] *= 1.002f;
#endif
    }
}

/* ---- one case on one group ---- */

typedef struct {
    double loss_d, weight_d; /* largest relative deviations seen on this rank */
    int fails;
    int ran;
    double seconds;
    char worst[96];          /* the tensor of weight_d */
    int64_t flips;           /* most flipped elements in one piece */
    double flip_max;         /* largest |a − b| of a flipped element */
} CaseResult;

static int bitwise_same_over(const Comm *c, const float *buf, size_t n)
{
    if (c->size <= 1 || n == 0)
        return 1;
    float *root = malloc(n * sizeof(float));
    memcpy(root, buf, n * sizeof(float));
    MPI_Bcast(root, (int)n, MPI_FLOAT, 0, c->comm);
    int same = memcmp(root, buf, n * sizeof(float)) == 0;
    free(root);
    return same;
}

typedef struct {
    double rel;       /* ‖a − b‖ / ‖b‖ over the elements that are not flips */
    int64_t flips;    /* elements with |a − b| > FLIP_ABS */
    double flip_max;  /* the largest of those |a − b| */
    int64_t n;        /* valid elements compared */
} PieceDiff;

/* Compare this rank's piece of tensor p with the reference slice (rows local_offset[0] +
 * [0, valid_rows), columns local_offset[1] + [0, local_shape[1])). Padding rows must be
 * exactly 0. */
static PieceDiff compare_piece(const char *label, const ParamInfo *p, const float *w,
                               const Ref *ref)
{
    PieceDiff pd = {INFINITY, 0, 0.0, 0};
    int j = params_find(&ref->pt, p->name);
    CHECK(j >= 0, "%s: tensor %s not in the reference table", label, p->name);
    if (j < 0)
        return pd;
    const ParamInfo *q = &ref->pt.t[j];
    CHECK(q->ndim == p->ndim && q->shape[0] == p->shape[0] &&
              (p->ndim == 1 || q->shape[1] == p->shape[1]),
          "%s: %s: global shape differs from the reference", label, p->name);
    int64_t rows = p->ndim == 2 ? p->local_shape[0] : 1;
    int64_t cols = p->ndim == 2 ? p->local_shape[1] : p->local_shape[0];
    int64_t valid = p->split == SPLIT_VOCAB ? p->valid_rows : rows;
    int64_t r0 = p->ndim == 2 ? p->local_offset[0] : 0;
    int64_t c0 = p->ndim == 2 ? p->local_offset[1] : p->local_offset[0];
    int64_t qcols = p->ndim == 2 ? q->local_shape[1] : q->local_shape[0];
    CHECK(valid == 0 || p->ndim == 1 || r0 + valid <= q->shape[0],
          "%s: %s: valid rows [%lld, %lld) beyond %lld", label, p->name, (long long)r0,
          (long long)(r0 + valid), (long long)q->shape[0]);
    double dd = 0.0, bb = 0.0;
    int64_t nonzero_pad = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *a = w + p->offset + (size_t)(r * cols);
        if (r >= valid) {
            for (int64_t c = 0; c < cols; c++)
                nonzero_pad += a[c] != 0.0f;
            continue;
        }
        const float *b = ref->w + q->offset + (size_t)((r0 + r) * qcols + c0);
        for (int64_t c = 0; c < cols; c++) {
            double e = fabs((double)a[c] - (double)b[c]);
            bb += (double)b[c] * b[c];
            if (e > FLIP_ABS || e != e) {
                pd.flips++;
                pd.flip_max = e > pd.flip_max || e != e ? e : pd.flip_max;
            } else {
                dd += e * e;
            }
        }
    }
    CHECK(nonzero_pad == 0, "%s: %s: %lld non-zero padding elements (rows %lld..%lld)", label,
          p->name, (long long)nonzero_pad, (long long)valid, (long long)rows);
    pd.n = valid * cols;
    pd.rel = sqrt(dd) / (sqrt(bb) + 1e-30);
    return pd;
}

/* Elements the whole mesh should compare: each reference tensor's valid elements times its
 * number of copies on the mesh. */
static long long expected_count(const Case *c, const Ref *ref)
{
    long long n = 0;
    for (int i = 0; i < ref->pt.n; i++) {
        const ParamInfo *q = &ref->pt.t[i];
        long long e = q->ndim == 2 ? (long long)q->shape[0] * q->shape[1] : (long long)q->shape[0];
        int copies = c->dp * c->cp * (q->split == SPLIT_NONE ? c->tp : 1);
        if (c->tied && c->pp > 1 && !strcmp(q->name, "model.embed_tokens.weight"))
            copies *= 2;
        n += e * copies;
    }
    return n;
}

/* One step of case c with recompute mode `mode`: its loss must equal loss1 and its gradient
 * buffer grads1 (the run without recompute), bit for bit. */
static void check_recompute(const Case *c, MPI_Comm comm, const char *label, const char *mode,
                            double loss1, const float *grads1, size_t n)
{
    Config cfg;
    make_config(&cfg, c->dp, c->tp, c->pp, c->cp, c->engine, c->zero, c->tied, c->acc, case_T(c),
                case_mbs(c), mode);
    TrainOptions opt = {.quiet = 1, .write_metrics = 0, .out = stdout};
    Trainer *t = NULL;
    Error err = {0};
    int rc = trainer_open(&t, &cfg, comm, &opt, &err);
    CHECK(rc == 0, "%s recompute %s: trainer_open: %s", label, mode, err.msg);
    StepStats st;
    if (!rc) {
        rc = trainer_step(t, &st, &err);
        CHECK(rc == 0, "%s recompute %s: step 1: %s", label, mode, err.msg);
    }
    if (!rc) {
        CHECK(st.loss == loss1, "%s recompute %s: step 1 loss %.17g, without recompute %.17g",
              label, mode, st.loss, loss1);
        CHECK(!memcmp(trainer_grads(t), grads1, n * sizeof(float)),
              "%s recompute %s: gradients differ from the run without recompute", label, mode);
    }
    trainer_close(t);
}

static void run_case(const Case *c, MPI_Comm comm, const Ref *ref, CaseResult *res)
{
    char label[160];
    case_label(c, label, sizeof label);
    int f0 = me_fail;
    double t0 = MPI_Wtime();
    res->ran = 1;
    Config cfg;
    make_config(&cfg, c->dp, c->tp, c->pp, c->cp, c->engine, c->zero, c->tied, c->acc, case_T(c),
                case_mbs(c), "none");
    TrainOptions opt = {.quiet = 1, .write_metrics = 0, .out = stdout};
    Trainer *t = NULL;
    Error err = {0};
    int rc = trainer_open(&t, &cfg, comm, &opt, &err);
    CHECK(rc == 0, "%s: trainer_open: %s", label, err.msg);
    float *grads1 = NULL;
    size_t ngrads = 0;
    double loss1 = 0;
    for (int s = 0; s < STEPS && !rc; s++) {
        StepStats st;
        rc = trainer_step(t, &st, &err);
        CHECK(rc == 0, "%s: step %d: %s", label, s + 1, err.msg);
        if (rc)
            break;
        if (s == 0) { /* for the recompute runs */
            ngrads = trainer_params(t, NULL)->numel;
            grads1 = malloc(ngrads * sizeof(float));
            memcpy(grads1, trainer_grads(t), ngrads * sizeof(float));
            loss1 = st.loss;
        }
        double d = fabs(st.loss - ref->loss[s]) / fabs(ref->loss[s]);
        if (d > res->loss_d)
            res->loss_d = d;
        CHECK(d <= LOSS_TOL, "%s: step %d loss %.9g, reference %.9g (rel %.2e)", label, s + 1,
              st.loss, ref->loss[s], d);
    }
    if (!rc) {
        const float *w = NULL;
        const ParamTable *pt = trainer_params(t, &w);
        const Mesh *m = trainer_mesh(t);
#if MESH_EQUIV_SABOTAGE == 3 /* scratch check: a vocab padding element, and one weight on one
                              * replica only */
        {
            int e = params_find(pt, "model.embed_tokens.weight");
            float *ww = (float *)w;
            if (e >= 0 && pt->t[e].valid_rows < pt->t[e].local_shape[0])
                ww[pt->t[e].offset + pt->t[e].numel - 1] = 1e-9f;
            if (m->rank == m->world - 1)
                ww[pt->t[pt->n - 1].offset] += 1e-7f;
            if (e >= 0 && m->pp > 1 && m->pp_rank == m->pp - 1)
                ww[pt->t[e].offset] += 1e-7f;
        }
#endif
        long long count = 0;
        for (int i = 0; i < pt->n; i++) {
            const ParamInfo *p = &pt->t[i];
            PieceDiff pd = compare_piece(label, p, w, ref);
            count += pd.n;
            if (pd.rel > res->weight_d) {
                res->weight_d = pd.rel;
                snprintf(res->worst, sizeof res->worst, "%s", p->name);
            }
            if (pd.flips > res->flips)
                res->flips = pd.flips;
            if (pd.flip_max > res->flip_max)
                res->flip_max = pd.flip_max;
            CHECK(pd.rel <= WEIGHT_TOL, "%s: %s (tp %d pp %d dp %d cp %d): rel diff %.2e", label,
                  p->name, m->tp_rank, m->pp_rank, m->dp_rank, m->cp_rank, pd.rel);
            CHECK(pd.flips <= MAX_FLIPS && pd.flip_max <= FLIP_MAX,
                  "%s: %s (tp %d pp %d dp %d cp %d): %lld of %lld elements differ by more than "
                  "%g (the largest by %.2e)", label, p->name, m->tp_rank, m->pp_rank, m->dp_rank,
                  m->cp_rank, (long long)pd.flips, (long long)pd.n, FLIP_ABS, pd.flip_max);
        }
        MPI_Allreduce(MPI_IN_PLACE, &count, 1, MPI_LONG_LONG, MPI_SUM, comm);
        long long want = expected_count(c, ref);
        CHECK(count == want, "%s: the mesh compared %lld elements, the reference has %lld "
              "(counted with replication)", label, count, want);

        /* replicas: whole buffer over dp (ZeRO-1: after the all-gather) and over cp */
        CHECK(bitwise_same_over(&m->dp_comm, w, pt->numel),
              "%s: weights differ across the dp group (pp %d tp %d cp %d)", label, m->pp_rank,
              m->tp_rank, m->cp_rank);
        CHECK(bitwise_same_over(&m->cp_comm, w, pt->numel),
              "%s: weights differ across the cp group (pp %d tp %d dp %d)", label, m->pp_rank,
              m->tp_rank, m->dp_rank);
        /* RMSNorm weights over tp (the table order is the same on every tp rank) */
        for (int i = 0; i < pt->n; i++)
            if (pt->t[i].split == SPLIT_NONE)
                CHECK(bitwise_same_over(&m->tp_comm, w + pt->t[i].offset, pt->t[i].numel),
                      "%s: %s differs across the tp group", label, pt->t[i].name);
        /* the tied embedding's two copies */
        if (c->tied && c->pp > 1) {
            int e = params_find(pt, "model.embed_tokens.weight");
            int here = e >= 0 && (m->pp_rank == 0 || m->pp_rank == m->pp - 1);
            CHECK(here == (m->pp_rank == 0 || m->pp_rank == m->pp - 1),
                  "%s: pp stage %d: tied embedding %s", label, m->pp_rank,
                  e >= 0 ? "on a middle stage" : "missing");
            if (here) {
                CHECK(m->embed_comm.size == 2, "%s: embed_comm size %d", label, m->embed_comm.size);
                if (m->embed_comm.size == 2)
                    CHECK(bitwise_same_over(&m->embed_comm, w + pt->t[e].offset, pt->t[e].numel),
                          "%s: tied embedding copies on the first and last stage differ (tp %d "
                          "dp %d cp %d)", label, m->tp_rank, m->dp_rank, m->cp_rank);
            }
        }
    }
    trainer_close(t);
    if (grads1) {
        check_recompute(c, comm, label, "selective", loss1, grads1, ngrads);
        check_recompute(c, comm, label, "full", loss1, grads1, ngrads);
    }
    free(grads1);
    res->fails += me_fail - f0;
    res->seconds = MPI_Wtime() - t0;
    if (getenv("MESH_EQUIV_VERBOSE"))
        printf("  rank %d: %s %.2fs, loss Δ %.1e, weights Δ %.1e (%s), flips %lld (max %.1e)\n",
               me_rank, label, res->seconds, res->loss_d, res->weight_d, res->worst,
               (long long)res->flips, res->flip_max);
}

/* ---- scheduling over the 8 ranks ---- */

static double case_cost(const Case *c)
{
    return (double)case_G(c) * case_T(c) / case_size(c) + 8.0 * case_size(c);
}

/* Assign every 4-rank case to a half (0, 1) and every 2-rank case to a pair (0..3), balancing
 * the pairs' total load (a pair also carries its half's 4-rank cases). */
static void schedule_cases(const Case *cs, int n, int *group)
{
    double pair[4] = {0};
    int done[MAX_CASES] = {0};
    for (int size = 4; size >= 2; size /= 2)
        for (;;) {
            int best = -1;
            for (int i = 0; i < n; i++)
                if (!done[i] && case_size(&cs[i]) == size &&
                    (best < 0 || case_cost(&cs[i]) > case_cost(&cs[best])))
                    best = i;
            if (best < 0)
                break;
            done[best] = 1;
            double cost = case_cost(&cs[best]);
            if (size == 4) {
                int h = fmax(pair[0], pair[1]) <= fmax(pair[2], pair[3]) ? 0 : 1;
                group[best] = h;
                pair[2 * h] += cost;
                pair[2 * h + 1] += cost;
            } else {
                int p = 0;
                for (int k = 1; k < 4; k++)
                    if (pair[k] < pair[p])
                        p = k;
                group[best] = p;
                pair[p] += cost;
            }
        }
}

static int mesh_equiv_main(int argc, char **argv, const char *name, const Case *cs, int n)
{
    MPI_Init(&argc, &argv);
    int size;
    MPI_Comm_rank(MPI_COMM_WORLD, &me_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    config_warnings(0);
    double t0 = MPI_Wtime();
    if (size != WORLD || n > MAX_CASES) {
        if (me_rank == 0)
            printf("FAIL %s: needs %d ranks (got %d) and at most %d cases (got %d)\n", name,
                   WORLD, size, MAX_CASES, n);
        MPI_Finalize();
        return 1;
    }
    for (int i = 0; i < n; i++) {
        int s = case_size(&cs[i]);
        CHECK(s == 8 || s == 4 || s == 2, "case %d: mesh of %d ranks (want 2, 4 or 8)", i, s);
    }

    Ref refs[MAX_REFS];
    int nref = 0, ref_of[MAX_CASES];
    for (int i = 0; i < n; i++) {
        int G = case_G(&cs[i]), T = case_T(&cs[i]), mbs = case_mbs(&cs[i]);
        int k = ref_find(refs, nref, cs[i].tied, G, T, mbs);
        if (k < 0 && nref < MAX_REFS) {
            k = nref++;
            memset(&refs[k], 0, sizeof refs[k]);
            refs[k].tied = cs[i].tied;
            refs[k].G = G;
            refs[k].T = T;
            refs[k].mbs = mbs;
            refs[k].owner = -1;
        }
        ref_of[i] = k;
    }
    refs_build(refs, nref);
    double t_ref = MPI_Wtime() - t0;

    CaseResult res[MAX_CASES];
    memset(res, 0, sizeof res);
    int group[MAX_CASES];
    for (int i = 0; i < n; i++)
        group[i] = -1;
    schedule_cases(cs, n, group);

    for (int i = 0; i < n; i++) /* phase 1: whole world */
        if (case_size(&cs[i]) == 8)
            run_case(&cs[i], MPI_COMM_WORLD, &refs[ref_of[i]], &res[i]);
    MPI_Comm half, pair;
    MPI_Comm_split(MPI_COMM_WORLD, me_rank / 4, me_rank, &half);
    MPI_Comm_split(MPI_COMM_WORLD, me_rank / 2, me_rank, &pair);
    for (int i = 0; i < n; i++) /* phase 2: my half's queue */
        if (case_size(&cs[i]) == 4 && group[i] == me_rank / 4)
            run_case(&cs[i], half, &refs[ref_of[i]], &res[i]);
    for (int i = 0; i < n; i++) /* phase 3: my pair's queue */
        if (case_size(&cs[i]) == 2 && group[i] == me_rank / 2)
            run_case(&cs[i], pair, &refs[ref_of[i]], &res[i]);
    idle_barrier(MPI_COMM_WORLD);
    MPI_Comm_free(&half);
    MPI_Comm_free(&pair);

    /* verdicts to rank 0 */
    enum { NV = 5 };
    double v[NV * MAX_CASES];
    for (int i = 0; i < n; i++) {
        v[NV * i] = res[i].loss_d;
        v[NV * i + 1] = res[i].weight_d;
        v[NV * i + 2] = (double)res[i].flips;
        v[NV * i + 3] = res[i].flip_max;
        v[NV * i + 4] = res[i].fails;
    }
    int ran[MAX_CASES];
    for (int i = 0; i < n; i++)
        ran[i] = res[i].ran;
    MPI_Allreduce(MPI_IN_PLACE, v, NV * n, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, ran, n, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    int failed = me_fail;
    MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (me_rank == 0) {
        double lmax = 0, wmax = 0, fmax_ = 0, famax = 0;
        int bad_cases = 0;
        for (int i = 0; i < n; i++) {
            char label[160];
            case_label(&cs[i], label, sizeof label);
            const double *x = v + NV * i;
            int all_ran = ran[i] == case_size(&cs[i]);
            int ok = x[4] == 0 && all_ran;
            bad_cases += !ok;
            failed += !all_ran;
            printf("%s %s loss Δ=%.1e weights Δ=%.1e flips %d%s\n", ok ? "ok" : "FAILED", label,
                   x[0], x[1], (int)x[2], all_ran ? "" : " (not run on every rank)");
            lmax = fmax(lmax, x[0]);
            wmax = fmax(wmax, x[1]);
            fmax_ = fmax(fmax_, x[2]);
            famax = fmax(famax, x[3]);
        }
        printf("%s: %d cases, %d failed; max loss Δ %.1e (tol %.0e), max weights Δ %.1e (tol "
               "%.0e), max flips per tensor %d (tol %d, largest %.1e); references %.2fs, total "
               "%.2fs\n", name, n, bad_cases, lmax, LOSS_TOL, wmax, (double)WEIGHT_TOL, (int)fmax_,
               MAX_FLIPS, famax, t_ref, MPI_Wtime() - t0);
        fflush(stdout);
    }
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    for (int i = 0; i < nref; i++) {
        free(refs[i].w);
        params_free(&refs[i].pt);
    }
    MPI_Finalize();
    return failed ? 1 : 0;
}

#endif
