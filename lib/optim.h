/* optim: AdamW over the parameter table (fp32 weights, m and v), global-norm gradient
 * clipping, and the learning-rate schedule (constant, or linear warmup then cosine). */
#ifndef PICOTRON_OPTIM_H
#define PICOTRON_OPTIM_H

#include <stdint.h>

#include "backend.h"
#include "config.h"
#include "params.h"

typedef struct {
    const ParamTable *pt;
    const Backend *be;      /* where params, grads, m and v live and the update runs */
    size_t lo, hi;          /* the range of the flat buffer this rank updates: all of it, or
                               its ZeRO-1 shard */
    float *m, *v;           /* (hi − lo) AdamW moments */
    int64_t t;              /* updates done (PyTorch's step count) */
    double beta1, beta2, eps, weight_decay, grad_clip;
    int decay_norms;
} Optimizer;

/* On the CPU backend, over the whole flat buffer. */
void optim_init(Optimizer *o, const ParamTable *pt, const Config *cfg);
/* For the elements [lo, hi) of the flat buffer only (ZeRO-1 shard), with m and v on be. */
void optim_init_shard(Optimizer *o, const ParamTable *pt, const Config *cfg, size_t lo, size_t hi,
                      const Backend *be);
void optim_free(Optimizer *o);

/* Learning rate of step s (0-based): lr·(s+1)/w during warmup, then cosine from lr to min_lr
 * over the remaining total − w steps (docs/math.md); constant schedule: lr (after warmup). */
double optim_lr(const Config *cfg, int64_t s);

/* √(Σ g²) over every element of the flat gradient buffer. */
double optim_grad_norm(const Optimizer *o, const float *grads);

/* Σ g² (in double, fixed order) over the elements [lo, hi) of the flat buffer grads on be,
 * restricted to tensors i with counted[i] != 0 (NULL: all): a rank's part of the global
 * norm², where replicated copies are counted on one rank only. */
double optim_sumsq(const Backend *be, const ParamTable *pt, const float *grads, size_t lo,
                   size_t hi, const unsigned char *counted);

/* Clip (when grad_clip > 0 and norm > grad_clip: g ← g·clip/(norm + 1e-6)), then one AdamW
 * update of params[lo, hi) with learning rate lr. */
void optim_step(Optimizer *o, float *params, float *grads, double norm, double lr);

#endif
