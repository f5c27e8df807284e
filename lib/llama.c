/* llama: the model's forward and backward, layer by layer, mirroring each other. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "kernels/kernels.h"
#include "llama.h"

LlamaShape llama_shape(const ParamTable *pt, int B, int T)
{
    const ModelDims *d = &pt->dims;
    int tp = pt->shard.tp_size;
    int e = params_find(pt, "model.embed_tokens.weight");
    int hd = params_find(pt, d->tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight");
    const ParamInfo *vocab = &pt->t[e >= 0 ? e : hd];
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
        .pos0 = 0,
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
#define BIND(field, suffix)                                                    \
    snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix);            \
    lw->field = tensor(pt, buf, name)
        BIND(ln1, "input_layernorm.weight");
        BIND(wq, "self_attn.q_proj.weight");
        BIND(wk, "self_attn.k_proj.weight");
        BIND(wv, "self_attn.v_proj.weight");
        BIND(wo, "self_attn.o_proj.weight");
        BIND(ln2, "post_attention_layernorm.weight");
        BIND(wg, "mlp.gate_proj.weight");
        BIND(wu, "mlp.up_proj.weight");
        BIND(wd, "mlp.down_proj.weight");
#undef BIND
    }
}

static float *alloc(size_t *total, int64_t n)
{
    *total += (size_t)n * sizeof(float);
    return xcalloc((size_t)n, sizeof(float));
}

void llama_init(Llama *m, const ParamTable *pt, const LlamaShape *s, float *params, float *grads)
{
    memset(m, 0, sizeof *m);
    m->s = *s;
    bind(&m->w, pt, params, s->nl);
    bind(&m->g, pt, grads, s->nl);
    int64_t N = (int64_t)s->B * s->T, C = s->C, L = s->nl;
    int64_t HD = (int64_t)s->H * s->D, KD = (int64_t)s->K * s->D, F = s->F;
    Activations *a = &m->a;
    a->x = alloc(&m->act_bytes, (L + 1) * N * C);
    a->n1 = alloc(&m->act_bytes, L * N * C);
    a->r1 = alloc(&m->act_bytes, L * N);
    a->q = alloc(&m->act_bytes, L * N * HD);
    a->k = alloc(&m->act_bytes, L * N * KD);
    a->v = alloc(&m->act_bytes, L * N * KD);
    a->att = alloc(&m->act_bytes, L * N * HD);
    a->lse = alloc(&m->act_bytes, L * N * s->H);
    a->h = alloc(&m->act_bytes, L * N * C);
    a->n2 = alloc(&m->act_bytes, L * N * C);
    a->r2 = alloc(&m->act_bytes, L * N);
    a->fa = alloc(&m->act_bytes, L * N * F);
    a->fb = alloc(&m->act_bytes, L * N * F);
    a->fm = alloc(&m->act_bytes, L * N * F);
    a->nf = alloc(&m->act_bytes, N * C);
    a->rf = alloc(&m->act_bytes, N);
    a->logits = alloc(&m->act_bytes, N * s->V_local);
    a->loss = alloc(&m->act_bytes, N);
    a->mx = alloc(&m->act_bytes, N);
    a->z = alloc(&m->act_bytes, N);
    a->zt = alloc(&m->act_bytes, N);
    a->dres = alloc(&m->act_bytes, N * C);
    a->dn = alloc(&m->act_bytes, N * C);
    a->datt = alloc(&m->act_bytes, N * HD);
    a->dq = alloc(&m->act_bytes, N * HD);
    a->dk = alloc(&m->act_bytes, N * KD);
    a->dv = alloc(&m->act_bytes, N * KD);
    a->dfa = alloc(&m->act_bytes, N * F);
    a->dfb = alloc(&m->act_bytes, N * F);
    a->dfm = alloc(&m->act_bytes, N * F);
}

void llama_free(Llama *m)
{
    Activations *a = &m->a;
    float *bufs[] = {a->x, a->n1, a->r1, a->q, a->k, a->v, a->att, a->lse, a->h, a->n2, a->r2,
                     a->fa, a->fb, a->fm, a->nf, a->rf, a->logits, a->loss, a->mx, a->z, a->zt,
                     a->dres, a->dn, a->datt, a->dq, a->dk, a->dv, a->dfa, a->dfb, a->dfm};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        free(bufs[i]);
    free(m->w.layers);
    free(m->g.layers);
    memset(m, 0, sizeof *m);
}

/* Block l: x[l] → x[l+1]. */
static void block_forward(Llama *m, int l)
{
    const LlamaShape *s = &m->s;
    const LayerWeights *w = &m->w.layers[l];
    Activations *a = &m->a;
    int N = s->B * s->T, C = s->C, HD = s->H * s->D, KD = s->K * s->D, F = s->F;
    float *x = a->x + (int64_t)l * N * C, *xo = a->x + (int64_t)(l + 1) * N * C;
    float *n1 = a->n1 + (int64_t)l * N * C, *r1 = a->r1 + (int64_t)l * N;
    float *q = a->q + (int64_t)l * N * HD, *k = a->k + (int64_t)l * N * KD;
    float *v = a->v + (int64_t)l * N * KD, *att = a->att + (int64_t)l * N * HD;
    float *lse = a->lse + (int64_t)l * N * s->H, *h = a->h + (int64_t)l * N * C;
    float *n2 = a->n2 + (int64_t)l * N * C, *r2 = a->r2 + (int64_t)l * N;
    float *fa = a->fa + (int64_t)l * N * F, *fb = a->fb + (int64_t)l * N * F;
    float *fm = a->fm + (int64_t)l * N * F;

    /* h = x + Attn(RMSNorm₁(x)) */
    rmsnorm_forward(n1, r1, x, w->ln1, N, C, s->eps);
    matmul_forward(q, n1, w->wq, N, C, HD);
    matmul_forward(k, n1, w->wk, N, C, KD);
    matmul_forward(v, n1, w->wv, N, C, KD);
    rope_forward(q, s->B, s->T, s->H, s->D, s->pos0, s->theta);
    rope_forward(k, s->B, s->T, s->K, s->D, s->pos0, s->theta);
    attention_forward(att, lse, q, k, v, s->B, s->T, s->H, s->K, s->D);
    matmul_forward(h, att, w->wo, N, HD, C);
    for (int64_t i = 0; i < (int64_t)N * C; i++)
        h[i] += x[i];

    /* out = h + MLP(RMSNorm₂(h)) */
    rmsnorm_forward(n2, r2, h, w->ln2, N, C, s->eps);
    matmul_forward(fa, n2, w->wg, N, C, F);
    matmul_forward(fb, n2, w->wu, N, C, F);
    swiglu_forward(fm, fa, fb, (int64_t)N * F);
    matmul_forward(xo, fm, w->wd, N, F, C);
    for (int64_t i = 0; i < (int64_t)N * C; i++)
        xo[i] += h[i];
}

/* Backward of block l: a->dres holds dL/dx[l+1] on entry and dL/dx[l] on return. */
static void block_backward(Llama *m, int l)
{
    const LlamaShape *s = &m->s;
    const LayerWeights *w = &m->w.layers[l];
    LayerWeights *g = &m->g.layers[l];
    Activations *a = &m->a;
    int N = s->B * s->T, C = s->C, HD = s->H * s->D, KD = s->K * s->D, F = s->F;
    const float *x = a->x + (int64_t)l * N * C;
    const float *n1 = a->n1 + (int64_t)l * N * C, *r1 = a->r1 + (int64_t)l * N;
    const float *q = a->q + (int64_t)l * N * HD, *k = a->k + (int64_t)l * N * KD;
    const float *v = a->v + (int64_t)l * N * KD, *att = a->att + (int64_t)l * N * HD;
    const float *lse = a->lse + (int64_t)l * N * s->H, *h = a->h + (int64_t)l * N * C;
    const float *n2 = a->n2 + (int64_t)l * N * C, *r2 = a->r2 + (int64_t)l * N;
    const float *fa = a->fa + (int64_t)l * N * F, *fb = a->fb + (int64_t)l * N * F;
    const float *fm = a->fm + (int64_t)l * N * F;

    /* out = h + fm·Wdᵀ: the residual passes dres through to h unchanged */
    matmul_backward(a->dfm, g->wd, a->dres, fm, w->wd, N, F, C, 0);
    swiglu_backward(a->dfa, a->dfb, a->dfm, fa, fb, (int64_t)N * F);
    matmul_backward(a->dn, g->wg, a->dfa, n2, w->wg, N, C, F, 0);
    matmul_backward(a->dn, g->wu, a->dfb, n2, w->wu, N, C, F, 1);
    rmsnorm_backward(a->dres, g->ln2, a->dn, h, w->ln2, r2, N, C);

    /* h = x + att·Woᵀ */
    matmul_backward(a->datt, g->wo, a->dres, att, w->wo, N, HD, C, 0);
    attention_backward(a->dq, a->dk, a->dv, a->datt, q, k, v, att, lse, s->B, s->T, s->H, s->K, s->D);
    rope_backward(a->dq, s->B, s->T, s->H, s->D, s->pos0, s->theta);
    rope_backward(a->dk, s->B, s->T, s->K, s->D, s->pos0, s->theta);
    matmul_backward(a->dn, g->wq, a->dq, n1, w->wq, N, C, HD, 0);
    matmul_backward(a->dn, g->wk, a->dk, n1, w->wk, N, C, KD, 1);
    matmul_backward(a->dn, g->wv, a->dv, n1, w->wv, N, C, KD, 1);
    rmsnorm_backward(a->dres, g->ln1, a->dn, x, w->ln1, r1, N, C);
}

static void forward_to_logits(Llama *m, const int32_t *ids)
{
    const LlamaShape *s = &m->s;
    Activations *a = &m->a;
    int N = s->B * s->T, C = s->C;
    embedding_forward(a->x, ids, m->w.embed, N, C, s->v0, s->V_local);
    for (int l = 0; l < s->nl; l++)
        block_forward(m, l);
    /* logits = RMSNorm_f(x_L) · W_headᵀ */
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

/* Cross-entropy of a->logits against targets; leaves scale·dloss/dlogits in a->logits. */
static double cross_entropy(Llama *m, const int32_t *targets, float scale)
{
    const LlamaShape *s = &m->s;
    Activations *a = &m->a;
    int N = s->B * s->T;
    ce_max(a->mx, a->logits, N, s->V_local, s->V_valid);
    ce_sumexp(a->z, a->logits, a->mx, N, s->V_local, s->V_valid);
    ce_target(a->zt, a->logits, targets, N, s->V_local, s->v0);
    ce_backward(a->logits, a->loss, a->mx, a->z, a->zt, targets, N, s->V_local, s->V_valid,
                s->v0, scale);
    return loss_sum(a->loss, N);
}

double llama_forward(Llama *m, const int32_t *ids, const int32_t *targets, float scale)
{
    forward_to_logits(m, ids);
    return cross_entropy(m, targets, scale);
}

double llama_forward_logits(Llama *m, const int32_t *ids, const int32_t *targets, float *logits_out)
{
    forward_to_logits(m, ids);
    memcpy(logits_out, m->a.logits, (size_t)m->s.B * m->s.T * m->s.V_local * sizeof(float));
    return cross_entropy(m, targets, 0.0f);
}

void llama_backward(Llama *m, const int32_t *ids)
{
    const LlamaShape *s = &m->s;
    Activations *a = &m->a;
    int N = s->B * s->T, C = s->C;
    /* logits = nf·W_headᵀ (a->logits holds dlogits) */
    matmul_backward(a->dn, m->g.head, a->logits, a->nf, m->w.head, N, C, s->V_local, 0);
    memset(a->dres, 0, (size_t)N * C * sizeof(float));
    rmsnorm_backward(a->dres, m->g.lnf, a->dn, a->x + (int64_t)s->nl * N * C, m->w.lnf, a->rf, N, C);
    for (int l = s->nl - 1; l >= 0; l--)
        block_backward(m, l);
    embedding_backward(m->g.embed, a->dres, ids, N, C, s->v0, s->V_local);
}
