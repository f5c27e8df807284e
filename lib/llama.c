/* llama: the model's forward and backward, layer by layer, mirroring each other. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "kernels/kernels.h"
#include "llama.h"
#include "ring_attention.h"

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

static float *alloc(size_t *total, int64_t n)
{
    *total += (size_t)n * sizeof(float);
    return xcalloc((size_t)n, sizeof(float));
}

static void alloc_slot(Activations *a, const LlamaShape *s, size_t *total)
{
    int64_t N = (int64_t)s->B * s->T, C = s->C, L = s->nl;
    int64_t HD = (int64_t)s->H * s->D, KD = (int64_t)s->K * s->D, F = s->F;
    int64_t V = s->last_stage ? s->V_local : 0;
    a->x = alloc(total, (L + 1) * N * C);
    a->n1 = alloc(total, L * N * C);
    a->r1 = alloc(total, L * N);
    a->q = alloc(total, L * N * HD);
    a->k = alloc(total, L * N * KD);
    a->v = alloc(total, L * N * KD);
    a->att = alloc(total, L * N * HD);
    a->lse = alloc(total, L * N * s->H);
    a->h = alloc(total, L * N * C);
    a->n2 = alloc(total, L * N * C);
    a->r2 = alloc(total, L * N);
    a->fa = alloc(total, L * N * F);
    a->fb = alloc(total, L * N * F);
    a->fm = alloc(total, L * N * F);
    a->nf = alloc(total, N * C);
    a->rf = alloc(total, N);
    a->logits = alloc(total, N * V);
    a->loss = alloc(total, N);
    a->mx = alloc(total, N);
    a->z = alloc(total, N);
    a->zt = alloc(total, N);
}

static void free_slot(Activations *a)
{
    float *bufs[] = {a->x, a->n1, a->r1, a->q, a->k, a->v, a->att, a->lse, a->h, a->n2, a->r2,
                     a->fa, a->fb, a->fm, a->nf, a->rf, a->logits, a->loss, a->mx, a->z, a->zt};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
}

static const Comm solo = {MPI_COMM_NULL, 0, 1, COMM_OTHER};

void llama_init(Llama *m, const ParamTable *pt, const LlamaShape *s, float *params, float *grads,
                int nslots, const LlamaComms *comms)
{
    memset(m, 0, sizeof *m);
    m->s = *s;
    m->c.tp = comms && comms->tp ? comms->tp : &solo;
    m->c.cp = comms && comms->cp ? comms->cp : &solo;
    bind(&m->w, pt, params, s->nl);
    bind(&m->g, pt, grads, s->nl);
    m->nslots = nslots;
    m->act = xcalloc((size_t)nslots, sizeof *m->act);
    for (int i = 0; i < nslots; i++)
        alloc_slot(&m->act[i], s, &m->act_bytes);
    int64_t N = (int64_t)s->B * s->T, C = s->C;
    int64_t HD = (int64_t)s->H * s->D, KD = (int64_t)s->K * s->D, F = s->F;
    Scratch *sc = &m->sc;
    sc->dres = alloc(&m->act_bytes, N * C);
    sc->dn = alloc(&m->act_bytes, N * C);
    sc->datt = alloc(&m->act_bytes, N * HD);
    sc->dq = alloc(&m->act_bytes, N * HD);
    sc->dk = alloc(&m->act_bytes, N * KD);
    sc->dv = alloc(&m->act_bytes, N * KD);
    sc->dfa = alloc(&m->act_bytes, N * F);
    sc->dfb = alloc(&m->act_bytes, N * F);
    sc->dfm = alloc(&m->act_bytes, N * F);
    if (m->c.cp->size > 1)
        sc->ring = alloc(&m->act_bytes,
                         (int64_t)ring_attention_scratch_floats(s->B, s->T, s->H, s->K, s->D));
}

void llama_free(Llama *m)
{
    for (int i = 0; i < m->nslots; i++)
        free_slot(&m->act[i]);
    free(m->act);
    Scratch *sc = &m->sc;
    float *bufs[] = {sc->dres, sc->dn, sc->datt, sc->dq, sc->dk, sc->dv, sc->dfa, sc->dfb,
                     sc->dfm, sc->ring};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
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

/* RoPE (sign +1) or its backward (−1) on x (B, T, nh, D) at the tokens' global positions:
 * one contiguous run, or two halves under context parallelism. */
static void rope(const LlamaShape *s, float *x, int nh, int backward)
{
    void (*f)(float *, int, int, int, int, int, double) = backward ? rope_backward : rope_forward;
    if (s->pos1 < 0) {
        f(x, s->B, s->T, nh, s->D, s->pos0, s->theta);
        return;
    }
    int half = s->T / 2;
    for (int b = 0; b < s->B; b++) {
        float *row = x + (int64_t)b * s->T * nh * s->D;
        f(row, 1, half, nh, s->D, s->pos0, s->theta);
        f(row + (int64_t)half * nh * s->D, 1, half, nh, s->D, s->pos1, s->theta);
    }
}

/* Attention of this rank's tokens: one chunk, or the ring when the sequence is split. */
static void attention(Llama *m, float *att, float *lse, const float *q, const float *k,
                      const float *v)
{
    const LlamaShape *s = &m->s;
    if (m->c.cp->size > 1)
        ring_attention_forward(att, lse, q, k, v, s->B, s->T, s->H, s->K, s->D, m->c.cp, m->sc.ring);
    else
        attention_forward(att, lse, q, k, v, s->B, s->T, s->H, s->K, s->D);
}

static void attention_grad(Llama *m, const float *q, const float *k, const float *v,
                           const float *att, const float *lse)
{
    const LlamaShape *s = &m->s;
    Scratch *sc = &m->sc;
    if (m->c.cp->size > 1)
        ring_attention_backward(sc->dq, sc->dk, sc->dv, sc->datt, q, k, v, att, lse, s->B, s->T,
                                s->H, s->K, s->D, m->c.cp, sc->ring);
    else
        attention_backward(sc->dq, sc->dk, sc->dv, sc->datt, q, k, v, att, lse, s->B, s->T, s->H,
                           s->K, s->D);
}

/* Block l of slot a: x[l] → x[l+1]. */
static void block_forward(Llama *m, Activations *a, int l)
{
    const LlamaShape *s = &m->s;
    const LayerWeights *w = &m->w.layers[l];
    int N = s->B * s->T, C = s->C, HD = s->H * s->D, KD = s->K * s->D, F = s->F;
    float *x = a->x + (int64_t)l * N * C, *xo = a->x + (int64_t)(l + 1) * N * C;
    float *n1 = a->n1 + (int64_t)l * N * C, *r1 = a->r1 + (int64_t)l * N;
    float *q = a->q + (int64_t)l * N * HD, *k = a->k + (int64_t)l * N * KD;
    float *v = a->v + (int64_t)l * N * KD, *att = a->att + (int64_t)l * N * HD;
    float *lse = a->lse + (int64_t)l * N * s->H, *h = a->h + (int64_t)l * N * C;
    float *n2 = a->n2 + (int64_t)l * N * C, *r2 = a->r2 + (int64_t)l * N;
    float *fa = a->fa + (int64_t)l * N * F, *fb = a->fb + (int64_t)l * N * F;
    float *fm = a->fm + (int64_t)l * N * F;

    /* h = x + Attn(RMSNorm₁(x)); q, k, v column-parallel, o row-parallel (all-reduce) */
    rmsnorm_forward(n1, r1, x, w->ln1, N, C, s->eps);
    matmul_forward(q, n1, w->wq, N, C, HD);
    matmul_forward(k, n1, w->wk, N, C, KD);
    matmul_forward(v, n1, w->wv, N, C, KD);
    rope(s, q, s->H, 0);
    rope(s, k, s->K, 0);
    attention(m, att, lse, q, k, v);
    matmul_forward(h, att, w->wo, N, HD, C);
    comm_allreduce_sum(m->c.tp, h, (int64_t)N * C);
    for (int64_t i = 0; i < (int64_t)N * C; i++)
        h[i] += x[i];

    /* out = h + MLP(RMSNorm₂(h)); gate, up column-parallel, down row-parallel */
    rmsnorm_forward(n2, r2, h, w->ln2, N, C, s->eps);
    matmul_forward(fa, n2, w->wg, N, C, F);
    matmul_forward(fb, n2, w->wu, N, C, F);
    swiglu_forward(fm, fa, fb, (int64_t)N * F);
    matmul_forward(xo, fm, w->wd, N, F, C);
    comm_allreduce_sum(m->c.tp, xo, (int64_t)N * C);
    for (int64_t i = 0; i < (int64_t)N * C; i++)
        xo[i] += h[i];
}

static void progress(Llama *m)
{
    if (m->progress)
        m->progress(m->grads_ready_ctx);
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
    const float *n1 = a->n1 + (int64_t)l * N * C, *r1 = a->r1 + (int64_t)l * N;
    const float *q = a->q + (int64_t)l * N * HD, *k = a->k + (int64_t)l * N * KD;
    const float *v = a->v + (int64_t)l * N * KD, *att = a->att + (int64_t)l * N * HD;
    const float *lse = a->lse + (int64_t)l * N * s->H, *h = a->h + (int64_t)l * N * C;
    const float *n2 = a->n2 + (int64_t)l * N * C, *r2 = a->r2 + (int64_t)l * N;
    const float *fa = a->fa + (int64_t)l * N * F, *fb = a->fb + (int64_t)l * N * F;
    const float *fm = a->fm + (int64_t)l * N * F;

    /* out = h + fm·Wdᵀ: the residual passes dres through to h unchanged; the row-parallel
     * down_proj takes dres as it is, the column-parallel gate/up all-reduce their dx */
    matmul_backward(sc->dfm, g->wd, sc->dres, fm, w->wd, N, F, C, 0);
    progress(m);
    swiglu_backward(sc->dfa, sc->dfb, sc->dfm, fa, fb, (int64_t)N * F);
    matmul_backward(sc->dn, g->wg, sc->dfa, n2, w->wg, N, C, F, 0);
    progress(m);
    matmul_backward(sc->dn, g->wu, sc->dfb, n2, w->wu, N, C, F, 1);
    progress(m);
    comm_allreduce_sum(m->c.tp, sc->dn, (int64_t)N * C);
    rmsnorm_backward(sc->dres, g->ln2, sc->dn, h, w->ln2, r2, N, C);

    /* h = x + att·Woᵀ */
    matmul_backward(sc->datt, g->wo, sc->dres, att, w->wo, N, HD, C, 0);
    progress(m);
    attention_grad(m, q, k, v, att, lse);
    progress(m);
    rope(s, sc->dq, s->H, 1);
    rope(s, sc->dk, s->K, 1);
    matmul_backward(sc->dn, g->wq, sc->dq, n1, w->wq, N, C, HD, 0);
    progress(m);
    matmul_backward(sc->dn, g->wk, sc->dk, n1, w->wk, N, C, KD, 1);
    matmul_backward(sc->dn, g->wv, sc->dv, n1, w->wv, N, C, KD, 1);
    comm_allreduce_sum(m->c.tp, sc->dn, (int64_t)N * C);
    rmsnorm_backward(sc->dres, g->ln1, sc->dn, x, w->ln1, r1, N, C);
}

static void forward_to_logits(Llama *m, Activations *a, const int32_t *ids)
{
    const LlamaShape *s = &m->s;
    int N = s->B * s->T, C = s->C;
    if (s->first_stage) { /* vocab-parallel lookup: each tp rank fills its slice's rows */
        embedding_forward(a->x, ids, m->w.embed, N, C, s->v0, s->V_local);
        comm_allreduce_sum(m->c.tp, a->x, (int64_t)N * C);
    }
    for (int l = 0; l < s->nl; l++)
        block_forward(m, a, l);
    if (!s->last_stage)
        return;
    /* logits = RMSNorm_f(x_L) · W_headᵀ, this rank's vocabulary slice */
    rmsnorm_forward(a->nf, a->rf, a->x + (int64_t)s->nl * N * C, m->w.lnf, N, C, s->eps);
    matmul_forward(a->logits, a->nf, m->w.head, N, C, s->V_local);
}

static double loss_sum(const float *loss, int N)
{
    double total = 0.0;
    for (int i = 0; i < N; i++)
        total += loss[i];
    return total;
}

/* Vocab-parallel cross-entropy of a->logits against targets (docs/math.md): max, sum of exps and
 * target logit are all-reduced over tp; leaves scale·dloss/dlogits in a->logits. */
static double cross_entropy(Llama *m, Activations *a, const int32_t *targets, float scale)
{
    const LlamaShape *s = &m->s;
    int N = s->B * s->T;
    ce_max(a->mx, a->logits, N, s->V_local, s->V_valid);
    comm_allreduce_max(m->c.tp, a->mx, N);
    ce_sumexp(a->z, a->logits, a->mx, N, s->V_local, s->V_valid);
    comm_allreduce_sum(m->c.tp, a->z, N);
    ce_target(a->zt, a->logits, targets, N, s->V_local, s->v0);
    comm_allreduce_sum(m->c.tp, a->zt, N);
    ce_backward(a->logits, a->loss, a->mx, a->z, a->zt, targets, N, s->V_local, s->V_valid,
                s->v0, scale);
    return loss_sum(a->loss, N);
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
    memcpy(logits_out, a->logits, (size_t)m->s.B * m->s.T * m->s.V_local * sizeof(float));
    return cross_entropy(m, a, targets, 0.0f);
}

static void grads_ready(Llama *m, int layer)
{
    if (m->grads_ready)
        m->grads_ready(m->grads_ready_ctx, layer);
}

void llama_backward(Llama *m, int slot, const int32_t *ids)
{
    const LlamaShape *s = &m->s;
    const Activations *a = &m->act[slot];
    Scratch *sc = &m->sc;
    int N = s->B * s->T, C = s->C;
    if (s->last_stage) {
        /* logits = nf·W_headᵀ (a->logits holds dlogits); the head is vocab-parallel, so the
         * partial dnf of each slice is all-reduced */
        matmul_backward(sc->dn, m->g.head, a->logits, a->nf, m->w.head, N, C, s->V_local, 0);
        comm_allreduce_sum(m->c.tp, sc->dn, (int64_t)N * C);
        memset(sc->dres, 0, (size_t)N * C * sizeof(float));
        rmsnorm_backward(sc->dres, m->g.lnf, sc->dn, a->x + (int64_t)s->nl * N * C, m->w.lnf,
                         a->rf, N, C);
        grads_ready(m, s->nl);
    }
    for (int l = s->nl - 1; l >= 0; l--) {
        block_backward(m, a, l);
        grads_ready(m, l);
    }
    if (s->first_stage) {
        embedding_backward(m->g.embed, sc->dres, ids, N, C, s->v0, s->V_local);
        grads_ready(m, -1);
    }
}
