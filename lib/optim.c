/* optim: AdamW, clipping and the learning-rate schedule. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "optim.h"
#include "range.h"

void optim_init(Optimizer *o, const ParamTable *pt, const Config *cfg)
{
    optim_init_shard(o, pt, cfg, 0, pt->numel, backend_cpu());
}

void optim_init_shard(Optimizer *o, const ParamTable *pt, const Config *cfg, size_t lo, size_t hi,
                      const Backend *be)
{
    memset(o, 0, sizeof *o);
    o->pt = pt;
    o->be = be;
    o->lo = lo;
    o->hi = hi;
    o->m = be->alloc((hi - lo) * sizeof(float));
    o->v = be->alloc((hi - lo) * sizeof(float));
    o->beta1 = cfg->optimizer.beta1;
    o->beta2 = cfg->optimizer.beta2;
    o->eps = cfg->optimizer.eps;
    o->weight_decay = cfg->optimizer.weight_decay;
    o->grad_clip = cfg->optimizer.grad_clip;
    o->decay_norms = cfg->optimizer.decay_norms;
}

void optim_free(Optimizer *o)
{
    if (o->be) {
        o->be->release(o->m);
        o->be->release(o->v);
    }
    memset(o, 0, sizeof *o);
}

double optim_lr(const Config *cfg, int64_t s)
{
    double lr = cfg->training.learning_rate, min_lr = cfg->optimizer.min_lr;
    int64_t w = cfg->optimizer.warmup_steps, total = cfg->training.total_train_steps;
    if (s < w)
        return lr * (double)(s + 1) / (double)w;
    if (strcmp(cfg->optimizer.lr_schedule, "cosine") != 0 || total <= w)
        return lr;
    double progress = (double)(s - w) / (double)(total - w);
    if (progress > 1.0)
        progress = 1.0;
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + cos(M_PI * progress));
}

double optim_sumsq(const Backend *be, const ParamTable *pt, const float *grads, size_t lo,
                   size_t hi, const unsigned char *counted)
{
    double total = 0.0;
    for (int i = 0; i < pt->n; i++) {
        const ParamInfo *p = &pt->t[i];
        int64_t a, b;
        if ((!counted || counted[i]) &&
            range_intersect((int64_t)p->offset, (int64_t)(p->offset + p->numel), (int64_t)lo,
                            (int64_t)hi, &a, &b))
            total += be->sum_squares(grads + a, b - a);
    }
    return total;
}

double optim_grad_norm(const Optimizer *o, const float *grads)
{
    return sqrt(optim_sumsq(o->be, o->pt, grads, o->lo, o->hi, NULL));
}

void optim_step(Optimizer *o, float *params, float *grads, double norm, double lr)
{
    const ParamTable *pt = o->pt;
    if (o->grad_clip > 0.0 && norm > o->grad_clip)
        o->be->scale(grads + o->lo, (float)(o->grad_clip / (norm + 1e-6)),
                     (int64_t)(o->hi - o->lo));
    o->t++;
    float bc1 = (float)(1.0 - pow(o->beta1, (double)o->t));
    float bc2 = (float)(1.0 - pow(o->beta2, (double)o->t));
    for (int i = 0; i < pt->n; i++) {
        const ParamInfo *p = &pt->t[i];
        int64_t a, b;
        if (!range_intersect((int64_t)p->offset, (int64_t)(p->offset + p->numel), (int64_t)o->lo,
                             (int64_t)o->hi, &a, &b))
            continue;
        float wd = (p->is_norm && !o->decay_norms) ? 0.0f : (float)o->weight_decay;
        o->be->adamw_update(params + a, o->m + (a - (int64_t)o->lo),
                            o->v + (a - (int64_t)o->lo), grads + a, b - a, (float)lr,
                            (float)o->beta1, (float)o->beta2, (float)o->eps, wd, bc1, bc2);
    }
}
