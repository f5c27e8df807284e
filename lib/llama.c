/* llama: the model's forward and backward, layer by layer, mirroring each other. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "llama.h"
#include "ring_attention.h"
#include "safetensors.h"
#include "trace.h"

LlamaShape llama_shape(const ParamTable *pt, int B, int T)
{
    const ModelDims *d = &pt->dims;
    int tp = pt->shard.tp_size;
    int e = params_find(pt, "model.embed_tokens.weight");
    int hd = params_find(pt, d->tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight");
    ParamInfo none = {.local_shape = {0, 0}};
    const ParamInfo *vocab = e >= 0 ? &pt->t[e] : (hd >= 0 ? &pt->t[hd] : &none);
    LlamaShape s = {
        .B = B, .T = T,
        .C = d->hidden_size,
        .D = d->hidden_size / d->num_attention_heads,
        .H = d->num_attention_heads / tp,
        .K = d->num_key_value_heads / tp,
        .F = d->intermediate_size / tp,
        .V_local = (int)vocab->local_shape[0],
        .V_valid = (int)vocab->valid_rows,
        .v0 = (int)vocab->local_offset[0],
        .nl = pt->shard.layer_end - pt->shard.layer_begin,
        .first_stage = pt->shard.has_embed,
        .last_stage = pt->shard.has_head,
        .pos0 = 0,
        .pos1 = -1,
        .eps = (float)d->rms_norm_eps,
        .theta = d->rope_theta,
    };
    return s;
}

static float *tensor(const ParamTable *pt, float *buf, const char *name)
{
    int i = params_find(pt, name);
    return i < 0 ? NULL : buf + pt->t[i].offset;
}

static void bind(Weights *w, const ParamTable *pt, float *buf, int nl)
{
    char name[96];
    w->embed = tensor(pt, buf, "model.embed_tokens.weight");
    w->lnf = tensor(pt, buf, "model.norm.weight");
    w->head = pt->dims.tie_word_embeddings ? w->embed : tensor(pt, buf, "lm_head.weight");
    if (!w->lnf)
        w->head = NULL;
    w->layers = xcalloc((size_t)nl, sizeof *w->layers);
    for (int i = 0; i < nl; i++) {
        LayerWeights *lw = &w->layers[i];
        int l = pt->shard.layer_begin + i;
        /* the fields in params_layer_suffix order */
        float **field[PARAMS_PER_LAYER] = {&lw->ln1, &lw->wq, &lw->wk, &lw->wv, &lw->wo,
                                           &lw->ln2, &lw->wg, &lw->wu, &lw->wd};
        for (int j = 0; j < PARAMS_PER_LAYER; j++) {
            snprintf(name, sizeof name, "model.layers.%d.%s", l, params_layer_suffix[j]);
            *field[j] = tensor(pt, buf, name);
        }
    }
}

/* ---- the activation table: every buffer of a slot, of a slot's layers and of the scratch,
 * with its element count for a shape and its type; llama_init carves them all out of one
 * allocation, memplan asks llama_activation_bytes for the same sum ---- */

enum { ACT_SLOT, ACT_LAYER, ACT_SCRATCH }; /* one per micro-batch in flight, one per layer of
                                              one, or one shared */
enum { T_ACT, T_F32, T_I32 };     /* the backend's activation type, fp32 statistics, ids */

/* One layer's saved buffers of a slot (the ACT_LAYER fields of Activations at layer l). */
typedef struct {
    void *n1, *q, *k, *v, *att, *n2, *fa, *fb, *fm;
    float *r1, *lse, *h, *r2;
} LayerActs;

typedef struct {
    int where;    /* ACT_SLOT | ACT_LAYER | ACT_SCRATCH */
    int type;     /* T_ACT | T_F32 | T_I32 */
    size_t field; /* offsetof the pointer in Activations or Scratch */
    size_t lfield;/* ACT_LAYER: offsetof the pointer in LayerActs */
    int drop;     /* ACT_LAYER: the recompute mode from which backward recomputes it, so a
                     slot keeps one layer of it shared, not nl */
} ActEntry;

#define SLOT(f, t) {ACT_SLOT, t, offsetof(Activations, f), 0, 0}
#define LAYER(f, t, drop) {ACT_LAYER, t, offsetof(Activations, f), offsetof(LayerActs, f), drop}
#define SCR(f, t) {ACT_SCRATCH, t, offsetof(Scratch, f), 0, 0}
#define SEL RECOMPUTE_SELECTIVE
#define FULL RECOMPUTE_FULL
static const ActEntry ACT_TABLE[] = {
    SLOT(ids, T_I32), SLOT(targets, T_I32), SLOT(x, T_F32),
    LAYER(n1, T_ACT, FULL), LAYER(r1, T_F32, FULL), LAYER(q, T_ACT, FULL),
    LAYER(k, T_ACT, FULL), LAYER(v, T_ACT, FULL), LAYER(att, T_ACT, SEL),
    LAYER(lse, T_F32, SEL), LAYER(h, T_F32, FULL), LAYER(n2, T_ACT, FULL),
    LAYER(r2, T_F32, FULL), LAYER(fa, T_ACT, FULL), LAYER(fb, T_ACT, FULL),
    LAYER(fm, T_ACT, SEL),
    SLOT(nf, T_ACT), SLOT(rf, T_F32), SLOT(logits, T_ACT), SLOT(loss, T_F32), SLOT(mx, T_F32),
    SLOT(z, T_F32), SLOT(zt, T_F32),
    SCR(dres, T_F32), SCR(dn, T_ACT), SCR(datt, T_ACT), SCR(dq, T_ACT), SCR(dk, T_ACT),
    SCR(dv, T_ACT), SCR(dfa, T_ACT), SCR(dfb, T_ACT), SCR(dfm, T_ACT), SCR(ring, T_F32),
};
#undef SLOT
#undef LAYER
#undef SCR
#undef SEL
#undef FULL
#define ACT_ENTRIES ((int)(sizeof ACT_TABLE / sizeof ACT_TABLE[0]))

int llama_recompute_mode(const char *name)
{
    static const char *const names[] = {"none", "selective", "full"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(name, names[i]))
            return i;
    return -1;
}

/* Elements of entry i for shape s (in table order; shapes as in llama.h); an ACT_LAYER entry's
 * count is one layer's. */
static void act_numel(const LlamaShape *s, int cp, int64_t n[ACT_ENTRIES])
{
    int64_t N = (int64_t)s->B * s->T, C = s->C, L = s->nl;
    int64_t HD = (int64_t)s->H * s->D, KD = (int64_t)s->K * s->D, F = s->F;
    int64_t V = s->last_stage ? s->V_local : 0;
    int64_t ring = cp > 1 ? (int64_t)ring_attention_scratch_floats(s->B, s->T, s->H, s->K, s->D)
                          : 0;
    int64_t sizes[] = {
        N, N, (L + 1) * N * C,                  /* ids, targets, x */
        N * C, N, N * HD, N * KD, N * KD,       /* n1 r1 q k v (one layer) */
        N * HD, N * s->H, N * C, N * C, N,      /* att lse h n2 r2 */
        N * F, N * F, N * F,                    /* fa fb fm */
        N * C, N, N * V, N, N, N, N,            /* nf rf logits loss mx z zt */
        N * C, N * C, N * HD, N * HD, N * KD,   /* dres dn datt dq dk */
        N * KD, N * F, N * F, N * F, ring,      /* dv dfa dfb dfm ring */
    };
    _Static_assert(sizeof sizes / sizeof sizes[0] == ACT_ENTRIES, "one size per table entry");
    for (int i = 0; i < ACT_ENTRIES; i++)
        n[i] = sizes[i];
}

/* Whether each slot keeps all nl layers of entry e (else one layer shared by the slots). */
static int layer_kept(const ActEntry *e, const LlamaShape *s)
{
    return e->where == ACT_LAYER && s->recompute < e->drop;
}

/* Elements of one buffer of entry e, whose per-layer (or whole) count is n. */
static int64_t buf_numel(const ActEntry *e, int64_t n, const LlamaShape *s)
{
    return layer_kept(e, s) ? n * s->nl : n;
}

/* How many buffers of entry e the arena holds: one per slot, or one. */
static int buf_copies(const ActEntry *e, const LlamaShape *s, int nslots)
{
    return e->where == ACT_SLOT || layer_kept(e, s) ? nslots : 1;
}

/* Bytes of one element of entry e on backend be. */
static size_t elem_bytes(const ActEntry *e, const Backend *be)
{
    return dtype_size(e->type == T_ACT ? be->act_dtype : e->type == T_I32 ? DTYPE_I32
                                                                          : DTYPE_F32);
}

/* Bytes of a buffer, rounded up to 64 so every buffer starts cache-line aligned. */
static size_t act_bytes(const ActEntry *e, int64_t numel, const Backend *be)
{
    return ((size_t)numel * elem_bytes(e, be) + 63) / 64 * 64;
}

size_t llama_activation_bytes(const LlamaShape *s, int nslots, int cp, const Backend *be)
{
    int64_t n[ACT_ENTRIES];
    act_numel(s, cp, n);
    size_t total = 0;
    for (int i = 0; i < ACT_ENTRIES; i++) {
        const ActEntry *e = &ACT_TABLE[i];
        total += act_bytes(e, buf_numel(e, n[i], s), be) * (size_t)buf_copies(e, s, nslots);
    }
    return total;
}

/* Layer l's buffers of slot a: its slice of a kept buffer, or the shared one. */
static LayerActs layer_acts(const Llama *m, const Activations *a, int l)
{
    LayerActs la;
    int64_t n[ACT_ENTRIES];
    act_numel(&m->s, m->cp->size, n);
    for (int i = 0; i < ACT_ENTRIES; i++) {
        const ActEntry *e = &ACT_TABLE[i];
        if (e->where != ACT_LAYER)
            continue;
        char *base = *(void *const *)((const char *)a + e->field);
        int64_t at = layer_kept(e, &m->s) ? l * n[i] : 0;
        *(void **)((char *)&la + e->lfield) = base + (size_t)at * elem_bytes(e, m->be);
    }
    return la;
}

static const Comm solo = {MPI_COMM_NULL, 0, 1, COMM_OTHER};

void llama_init(Llama *m, const ParamTable *pt, const LlamaShape *s, float *params, float *grads,
                int nslots, const LlamaEnv *env)
{
    memset(m, 0, sizeof *m);
    m->s = *s;
    m->tp = env && env->tp ? env->tp : &solo;
    m->cp = env && env->cp ? env->cp : &solo;
    m->be = env && env->be ? env->be : backend_cpu();
    if (m->be->act_dtype != DTYPE_F32 && (m->tp->size > 1 || m->cp->size > 1)) {
        /* a caller's bug: the comm's all-reduces and the attention ring carry fp32 only */
        fprintf(stderr, "picotron: llama_init: %s activations need tp = cp = 1\n",
                dtype_name(m->be->act_dtype));
        exit(1);
    }
    bind(&m->w, pt, params, s->nl);
    bind(&m->g, pt, grads, s->nl);
    m->nslots = nslots;
    m->act = xcalloc((size_t)nslots, sizeof *m->act);
    int64_t n[ACT_ENTRIES];
    act_numel(s, m->cp->size, n);
    m->act_bytes = llama_activation_bytes(s, nslots, m->cp->size, m->be);
    char *p = m->arena = m->be->alloc(m->act_bytes);
    for (int i = 0; i < ACT_ENTRIES; i++) {
        const ActEntry *e = &ACT_TABLE[i];
        int64_t numel = buf_numel(e, n[i], s);
        size_t bytes = act_bytes(e, numel, m->be);
        int copies = buf_copies(e, s, nslots);
        for (int slot = 0; slot < (e->where == ACT_SCRATCH ? 1 : nslots); slot++) {
            char *base = e->where == ACT_SCRATCH ? (char *)&m->sc : (char *)&m->act[slot];
            *(void **)(base + e->field) = numel > 0 ? p + (copies > 1 ? slot * bytes : 0) : NULL;
        }
        p += (size_t)copies * bytes;
    }
}

void llama_free(Llama *m)
{
    if (m->arena)
        m->be->release(m->arena);
    free(m->act);
    free(m->w.layers);
    free(m->g.layers);
    memset(m, 0, sizeof *m);
}

float *llama_stage_input(Llama *m, int slot)
{
    return m->act[slot].x;
}

float *llama_stage_output(Llama *m, int slot)
{
    return m->act[slot].x + (int64_t)m->s.nl * m->s.B * m->s.T * m->s.C;
}

/* Activation element i of buffer p (in the backend's act_dtype). */
static void *act_at(const Llama *m, void *p, int64_t i)
{
    return (char *)p + (size_t)i * dtype_size(m->be->act_dtype);
}

/* x as an activation operand: x itself when activations are fp32, else its cast into tmp. */
static const void *as_act(const Llama *m, const float *x, void *tmp, int64_t n)
{
    if (m->be->act_dtype == DTYPE_F32)
        return x;
    m->be->to_act(tmp, x, n);
    return tmp;
}

/* RoPE (sign +1) or its backward (−1) on x (B, T, nh, D) at the tokens' global positions:
 * one contiguous run, or two halves under context parallelism. */
static void rope(const Llama *m, void *x, int nh, int backward)
{
    const LlamaShape *s = &m->s;
    void (*f)(void *, int, int, int, int, int, double) =
        backward ? m->be->rope_backward : m->be->rope_forward;
    if (s->pos1 < 0) {
        f(x, s->B, s->T, nh, s->D, s->pos0, s->theta);
        return;
    }
    int half = s->T / 2;
    for (int b = 0; b < s->B; b++) {
        void *row = act_at(m, x, (int64_t)b * s->T * nh * s->D);
        f(row, 1, half, nh, s->D, s->pos0, s->theta);
        f(act_at(m, row, (int64_t)half * nh * s->D), 1, half, nh, s->D, s->pos1, s->theta);
    }
}

/* Attention of this rank's tokens: one chunk, or the ring when the sequence is split. */
static void attention(Llama *m, void *att, float *lse, const void *q, const void *k,
                      const void *v)
{
    const LlamaShape *s = &m->s;
    if (m->cp->size > 1)
        ring_attention_forward(m->be, att, lse, q, k, v, s->B, s->T, s->H, s->K, s->D, m->cp,
                               m->sc.ring);
    else
        m->be->attention_forward(att, lse, q, k, v, s->B, s->T, s->H, s->K, s->D);
}

static void attention_grad(Llama *m, const void *q, const void *k, const void *v,
                           const void *att, const float *lse)
{
    const LlamaShape *s = &m->s;
    Scratch *sc = &m->sc;
    if (m->cp->size > 1)
        ring_attention_backward(m->be, sc->dq, sc->dk, sc->dv, sc->datt, q, k, v, att, lse, s->B,
                                s->T, s->H, s->K, s->D, m->cp, sc->ring);
    else
        m->be->attention_backward(sc->dq, sc->dk, sc->dv, sc->datt, q, k, v, att, lse, s->B, s->T, s->H,
                           s->K, s->D);
}

/* The pieces of block l's forward, in order, each filling buffers of L = layer_acts(l). The
 * recompute of backward re-runs a prefix (full) or the two middle pieces (selective) of the
 * same functions, so the recomputed buffers hold the forward's bits. */

/* n1 = RMSNorm₁(x); q, k, v = n1·W{q,k,v}ᵀ (column-parallel), RoPE on q and k */
static void attn_in(Llama *m, const LayerActs *L, const LayerWeights *w, const float *x)
{
    const LlamaShape *s = &m->s;
    int N = s->B * s->T, C = s->C, HD = s->H * s->D, KD = s->K * s->D;
    m->be->rmsnorm_forward(L->n1, L->r1, x, w->ln1, N, C, s->eps);
    m->be->matmul_forward(L->q, L->n1, w->wq, N, C, HD);
    m->be->matmul_forward(L->k, L->n1, w->wk, N, C, KD);
    m->be->matmul_forward(L->v, L->n1, w->wv, N, C, KD);
    rope(m, L->q, s->H, 0);
    rope(m, L->k, s->K, 0);
}

/* att, lse = Attention(q, k, v) (the cp ring under context parallelism) */
static void attn_core(Llama *m, const LayerActs *L)
{
    attention(m, L->att, L->lse, L->q, L->k, L->v);
}

/* out = x + in·Wᵀ for a row-parallel projection W (C, Cin) whose partial sums are all-reduced
 * over tp (g), the sum in the fp32 residual stream. With fp32 activations the product lands in
 * out itself; otherwise in the activation type (in dn), then x is copied to out and it added. */
static void residual_branch(Llama *m, float *out, const float *x, const void *in, const float *W,
                            int Cin)
{
    int N = m->s.B * m->s.T, C = m->s.C;
    int64_t NC = (int64_t)N * C;
    if (m->be->act_dtype == DTYPE_F32) {
        m->be->matmul_forward(out, in, W, N, Cin, C);
        comm_allreduce_sum(m->tp, out, NC);
        m->be->add_inplace(out, x, NC);
        return;
    }
    m->be->matmul_forward(m->sc.dn, in, W, N, Cin, C);
    comm_allreduce_sum(m->tp, m->sc.dn, NC);
    m->be->copy(out, x, (size_t)NC * sizeof(float));
    m->be->add_inplace(out, m->sc.dn, NC);
}

/* h = x + att·Woᵀ (o row-parallel) */
static void attn_out(Llama *m, const LayerActs *L, const LayerWeights *w, const float *x)
{
    residual_branch(m, L->h, x, L->att, w->wo, m->s.H * m->s.D);
}

/* n2 = RMSNorm₂(h); fa, fb = n2·W{g,u}ᵀ (column-parallel) */
static void mlp_in(Llama *m, const LayerActs *L, const LayerWeights *w)
{
    const LlamaShape *s = &m->s;
    int N = s->B * s->T, C = s->C, F = s->F;
    m->be->rmsnorm_forward(L->n2, L->r2, L->h, w->ln2, N, C, s->eps);
    m->be->matmul_forward(L->fa, L->n2, w->wg, N, C, F);
    m->be->matmul_forward(L->fb, L->n2, w->wu, N, C, F);
}

/* fm = silu(fa) ⊙ fb */
static void mlp_act(Llama *m, const LayerActs *L)
{
    m->be->swiglu_forward(L->fm, L->fa, L->fb, (int64_t)m->s.B * m->s.T * m->s.F);
}

/* out = h + fm·Wdᵀ (down row-parallel) */
static void mlp_out(Llama *m, const LayerActs *L, const LayerWeights *w, float *xo)
{
    residual_branch(m, xo, L->h, L->fm, w->wd, m->s.F);
}

/* Block l of slot a: x[l] → x[l+1]. */
static void block_forward(Llama *m, Activations *a, int l)
{
    int64_t NC = (int64_t)m->s.B * m->s.T * m->s.C;
    const LayerWeights *w = &m->w.layers[l];
    LayerActs L = layer_acts(m, a, l);
    const float *x = a->x + l * NC;
    TRACE_BEGIN(TRACK_COMPUTE, "block forward", l);
    TRACE_COMPUTE("norm + qkv", attn_in(m, &L, w, x));
    TRACE_COMPUTE("attention", attn_core(m, &L));
    TRACE_COMPUTE("o proj", attn_out(m, &L, w, x));
    TRACE_COMPUTE("norm + gate/up", mlp_in(m, &L, w));
    TRACE_COMPUTE("swiglu", mlp_act(m, &L));
    TRACE_COMPUTE("down proj", mlp_out(m, &L, w, a->x + (l + 1) * NC));
    TRACE_END(TRACK_COMPUTE, -1);
}

/* What block l's backward needs and the mode did not keep, recomputed from what it kept: full
 * re-runs the block from its input x[l] up to the SwiGLU product (the tp all-reduce of h and
 * the cp ring with it; the down projection's output is not needed); selective re-runs
 * attention from the kept q, k, v and SwiGLU from the kept fa, fb. */
static void block_recompute(Llama *m, const LayerActs *L, int l, const float *x)
{
    const LayerWeights *w = &m->w.layers[l];
    if (m->s.recompute == RECOMPUTE_FULL) {
        attn_in(m, L, w, x);
        attn_core(m, L);
        attn_out(m, L, w, x);
        mlp_in(m, L, w);
        mlp_act(m, L);
    } else if (m->s.recompute == RECOMPUTE_SELECTIVE) {
        attn_core(m, L);
        mlp_act(m, L);
    }
}

/* Backward of block l: sc->dres holds dL/dx[l+1] on entry and dL/dx[l] on return. */
static void block_backward(Llama *m, const Activations *a, int l)
{
    const LlamaShape *s = &m->s;
    const LayerWeights *w = &m->w.layers[l];
    LayerWeights *g = &m->g.layers[l];
    Scratch *sc = &m->sc;
    int N = s->B * s->T, C = s->C, HD = s->H * s->D, KD = s->K * s->D, F = s->F;
    const float *x = a->x + (int64_t)l * N * C;
    LayerActs L = layer_acts(m, a, l);
    TRACE_BEGIN(TRACK_COMPUTE, "block backward", l);
    if (s->recompute != RECOMPUTE_NONE)
        TRACE_COMPUTE("recompute", block_recompute(m, &L, l, x));

    /* out = h + fm·Wdᵀ: the residual passes dres through to h unchanged; the row-parallel
     * down_proj takes dres as it is (as an activation: dn is free until gate/up write it),
     * the column-parallel gate/up all-reduce their dx */
    const void *dy = as_act(m, sc->dres, sc->dn, (int64_t)N * C);
    TRACE_COMPUTE("down proj backward",
                  m->be->matmul_backward(sc->dfm, g->wd, dy, L.fm, w->wd, N, F, C, 0));
    TRACE_COMPUTE("swiglu backward",
                  m->be->swiglu_backward(sc->dfa, sc->dfb, sc->dfm, L.fa, L.fb, (int64_t)N * F));
    TRACE_BEGIN(TRACK_COMPUTE, "gate/up + norm backward", -1);
    m->be->matmul_backward(sc->dn, g->wg, sc->dfa, L.n2, w->wg, N, C, F, 0);
    m->be->matmul_backward(sc->dn, g->wu, sc->dfb, L.n2, w->wu, N, C, F, 1);
    comm_allreduce_sum(m->tp, sc->dn, (int64_t)N * C);
    m->be->rmsnorm_backward(sc->dres, g->ln2, sc->dn, L.h, w->ln2, L.r2, N, C);
    TRACE_END(TRACK_COMPUTE, -1);

    /* h = x + att·Woᵀ (dn consumed: free again for dres as an activation) */
    dy = as_act(m, sc->dres, sc->dn, (int64_t)N * C);
    TRACE_COMPUTE("o proj backward",
                  m->be->matmul_backward(sc->datt, g->wo, dy, L.att, w->wo, N, HD, C, 0));
    TRACE_COMPUTE("attention backward", attention_grad(m, L.q, L.k, L.v, L.att, L.lse));
    TRACE_BEGIN(TRACK_COMPUTE, "qkv + norm backward", -1);
    rope(m, sc->dq, s->H, 1);
    rope(m, sc->dk, s->K, 1);
    m->be->matmul_backward(sc->dn, g->wq, sc->dq, L.n1, w->wq, N, C, HD, 0);
    m->be->matmul_backward(sc->dn, g->wk, sc->dk, L.n1, w->wk, N, C, KD, 1);
    m->be->matmul_backward(sc->dn, g->wv, sc->dv, L.n1, w->wv, N, C, KD, 1);
    comm_allreduce_sum(m->tp, sc->dn, (int64_t)N * C);
    m->be->rmsnorm_backward(sc->dres, g->ln1, sc->dn, x, w->ln1, L.r1, N, C);
    TRACE_END(TRACK_COMPUTE, -1);
    TRACE_END(TRACK_COMPUTE, -1);
}

/* ids into the slot, then the stage's layers up to the logits. */
static void forward_to_logits(Llama *m, Activations *a, const int32_t *ids)
{
    const LlamaShape *s = &m->s;
    int N = s->B * s->T, C = s->C;
    if (s->first_stage) { /* vocab-parallel lookup: each tp rank fills its slice's rows */
        TRACE_BEGIN(TRACK_COMPUTE, "embedding", -1);
        m->be->upload(a->ids, ids, (size_t)N * sizeof(int32_t));
        m->be->embedding_forward(a->x, a->ids, m->w.embed, N, C, s->v0, s->V_local);
        comm_allreduce_sum(m->tp, a->x, (int64_t)N * C);
        TRACE_END(TRACK_COMPUTE, -1);
    }
    for (int l = 0; l < s->nl; l++)
        block_forward(m, a, l);
    if (!s->last_stage)
        return;
    /* logits = RMSNorm_f(x_L) · W_headᵀ, this rank's vocabulary slice */
    TRACE_BEGIN(TRACK_COMPUTE, "norm + head", -1);
    m->be->rmsnorm_forward(a->nf, a->rf, a->x + (int64_t)s->nl * N * C, m->w.lnf, N, C, s->eps);
    m->be->matmul_forward(a->logits, a->nf, m->w.head, N, C, s->V_local);
    TRACE_END(TRACK_COMPUTE, -1);
}

/* Vocab-parallel cross-entropy of a->logits against targets (docs/math.md): max, sum of exps and
 * target logit are all-reduced over tp; leaves scale·dloss/dlogits in a->logits. */
static double cross_entropy(Llama *m, Activations *a, const int32_t *targets, float scale)
{
    const LlamaShape *s = &m->s;
    const Backend *be = m->be;
    int N = s->B * s->T;
    TRACE_BEGIN(TRACK_COMPUTE, "cross-entropy", -1);
    be->upload(a->targets, targets, (size_t)N * sizeof(int32_t));
    be->ce_max(a->mx, a->logits, N, s->V_local, s->V_valid);
    comm_allreduce_max(m->tp, a->mx, N);
    be->ce_sumexp(a->z, a->logits, a->mx, N, s->V_local, s->V_valid);
    comm_allreduce_sum(m->tp, a->z, N);
    be->ce_target(a->zt, a->logits, a->targets, N, s->V_local, s->v0);
    comm_allreduce_sum(m->tp, a->zt, N);
    be->ce_backward(a->logits, a->loss, a->mx, a->z, a->zt, a->targets, N, s->V_local,
                    s->V_valid, s->v0, scale);
    double sum = be->sum(a->loss, N);
    TRACE_END(TRACK_COMPUTE, -1);
    return sum;
}

double llama_forward(Llama *m, int slot, const int32_t *ids, const int32_t *targets, float scale)
{
    Activations *a = &m->act[slot];
    forward_to_logits(m, a, ids);
    return m->s.last_stage ? cross_entropy(m, a, targets, scale) : 0.0;
}

double llama_forward_logits(Llama *m, int slot, const int32_t *ids, const int32_t *targets,
                            float *logits_out)
{
    Activations *a = &m->act[slot];
    forward_to_logits(m, a, ids);
    int64_t n = (int64_t)m->s.B * m->s.T * m->s.V_local;
    if (m->be->act_dtype == DTYPE_F32) {
        m->be->download(logits_out, a->logits, (size_t)n * sizeof(float));
    } else { /* bf16 widens exactly */
        uint16_t *bits = xmalloc((size_t)n * sizeof *bits);
        m->be->download(bits, a->logits, (size_t)n * sizeof *bits);
        for (int64_t i = 0; i < n; i++)
            logits_out[i] = st_bf16_to_f32(bits[i]);
        free(bits);
    }
    return cross_entropy(m, a, targets, 0.0f);
}

static void grads_ready(Llama *m, int layer)
{
    if (m->grads_ready)
        m->grads_ready(m->grads_ready_ctx, layer);
}

void llama_backward(Llama *m, int slot)
{
    const LlamaShape *s = &m->s;
    const Activations *a = &m->act[slot];
    Scratch *sc = &m->sc;
    int N = s->B * s->T, C = s->C;
    if (s->last_stage) {
        TRACE_BEGIN(TRACK_COMPUTE, "head + norm backward", -1);
        /* logits = nf·W_headᵀ (a->logits holds dlogits); the head is vocab-parallel, so the
         * partial dnf of each slice is all-reduced */
        m->be->matmul_backward(sc->dn, m->g.head, a->logits, a->nf, m->w.head, N, C, s->V_local,
                               0);
        comm_allreduce_sum(m->tp, sc->dn, (int64_t)N * C);
        m->be->zero(sc->dres, (size_t)N * C * sizeof(float));
        m->be->rmsnorm_backward(sc->dres, m->g.lnf, sc->dn, a->x + (int64_t)s->nl * N * C,
                                m->w.lnf, a->rf, N, C);
        TRACE_END(TRACK_COMPUTE, -1);
        grads_ready(m, s->nl);
    }
    for (int l = s->nl - 1; l >= 0; l--) {
        block_backward(m, a, l);
        grads_ready(m, l);
    }
    if (s->first_stage) {
        TRACE_COMPUTE("embedding backward", m->be->embedding_backward(m->g.embed, sc->dres,
                                                                      a->ids, N, C, s->v0,
                                                                      s->V_local));
        grads_ready(m, -1);
    }
}
