/* llama: forward and hand-written backward of this rank's part of a Llama model (embedding,
 * blocks of RMSNorm → GQA attention with RoPE → RMSNorm → SwiGLU MLP, final norm, lm head,
 * cross-entropy), over the kernels of kernels/. Shapes below use local sizes: H, K, F and
 * V_local are this rank's heads, kv-heads, MLP width and vocabulary slice. */
#ifndef PICOTRON_LLAMA_H
#define PICOTRON_LLAMA_H

#include <stdint.h>

#include "params.h"

typedef struct {
    float *ln1;  /* (C) */
    float *wq;   /* (H·D, C) */
    float *wk;   /* (K·D, C) */
    float *wv;   /* (K·D, C) */
    float *wo;   /* (C, H·D) */
    float *ln2;  /* (C) */
    float *wg;   /* (F, C) */
    float *wu;   /* (F, C) */
    float *wd;   /* (C, F) */
} LayerWeights;

/* Pointers into one flat buffer laid out by the parameter table (weights or gradients). */
typedef struct {
    float *embed;          /* (V_local, C), NULL when this rank holds no embedding */
    LayerWeights *layers;  /* [nl] */
    float *lnf;            /* (C), NULL when this rank holds no head */
    float *head;           /* (V_local, C); == embed when tied */
} Weights;

typedef struct {
    int B, T;             /* micro-batch size, tokens per sequence held here */
    int C, D;             /* hidden size, head dim */
    int H, K, F;          /* local query heads, kv-heads, MLP width */
    int V_local;          /* rows of the local vocabulary slice (padded) */
    int V_valid;          /* of which real (not padding) */
    int v0;               /* global id of the slice's first row */
    int nl;               /* layers held here */
    int pos0;             /* global position of the first token held here */
    float eps;
    double theta;
} LlamaShape;

/* Saved activations of one micro-batch, N = B·T tokens. */
typedef struct {
    float *x;       /* (nl+1, N, C) residual stream: x[0] embedding out, x[l+1] block l out */
    float *n1;      /* (nl, N, C) input_layernorm out */
    float *r1;      /* (nl, N) its 1/rms */
    float *q;       /* (nl, N, H·D) after RoPE */
    float *k;       /* (nl, N, K·D) after RoPE */
    float *v;       /* (nl, N, K·D) */
    float *att;     /* (nl, N, H·D) attention out */
    float *lse;     /* (nl, B, H, T) */
    float *h;       /* (nl, N, C) residual after attention */
    float *n2;      /* (nl, N, C) post_attention_layernorm out */
    float *r2;      /* (nl, N) */
    float *fa;      /* (nl, N, F) gate_proj out */
    float *fb;      /* (nl, N, F) up_proj out */
    float *fm;      /* (nl, N, F) silu(fa) ⊙ fb */
    float *nf;      /* (N, C) final norm out */
    float *rf;      /* (N) */
    float *logits;  /* (N, V_local), overwritten by dlogits */
    float *loss;    /* (N) per-token loss */
    float *mx, *z, *zt; /* (N) cross-entropy statistics */
    /* backward scratch */
    float *dres;    /* (N, C) gradient of the residual stream */
    float *dn;      /* (N, C) */
    float *datt;    /* (N, H·D) */
    float *dq;      /* (N, H·D) */
    float *dk, *dv; /* (N, K·D) */
    float *dfa, *dfb, *dfm; /* (N, F) */
} Activations;

typedef struct {
    LlamaShape s;
    Weights w, g;     /* parameters and their fp32 gradients */
    Activations a;
    size_t act_bytes;  /* bytes of activations and backward scratch */
} Llama;

/* The shape of the whole model on one rank for micro-batches of B × T. */
LlamaShape llama_shape(const ParamTable *pt, int B, int T);

/* Bind weight and gradient pointers into params/grads (pt->numel floats each) and allocate
 * activations for shape s. */
void llama_init(Llama *m, const ParamTable *pt, const LlamaShape *s, float *params, float *grads);
void llama_free(Llama *m);

/* Forward one micro-batch: ids, targets (B, T). Leaves scale·dloss/dlogits in a.logits and
 * returns the sum of the N token losses (unscaled, in double). */
double llama_forward(Llama *m, const int32_t *ids, const int32_t *targets, float scale);

/* Backward of the micro-batch last forwarded: gradients accumulate (+=) into m->g. */
void llama_backward(Llama *m, const int32_t *ids);

/* Forward that also copies the logits (N, V_local) out before they are replaced by their
 * gradient (tests, evaluation); returns the loss sum. */
double llama_forward_logits(Llama *m, const int32_t *ids, const int32_t *targets, float *logits_out);

#endif
