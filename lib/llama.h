/* llama: forward and hand-written backward of this rank's part of a Llama model (embedding,
 * blocks of RMSNorm → GQA attention with RoPE → RMSNorm → SwiGLU MLP, final norm, lm head,
 * cross-entropy), over the kernels of kernels/. Shapes below use local sizes: H, K, F and
 * V_local are this rank's heads, kv-heads, MLP width and vocabulary slice; T is the tokens of
 * each sequence held here (T / cp under context parallelism). Tensor parallelism enters as
 * all-reduces over the tp group (Megatron's f and g), context parallelism as ring attention
 * over the cp group, pipeline parallelism as stages that take their input from, and hand their
 * output to, the caller. Every buffer is the backend's (backend.h) and every computation a
 * call of its table, so one layer sequence serves every backend. */
#ifndef PICOTRON_LLAMA_H
#define PICOTRON_LLAMA_H

#include <stdint.h>

#include "backend.h"
#include "comm.h"
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

/* Activation recompute (training.activation_checkpointing, docs/training.md): which saved
 * activations backward recomputes from the ones kept instead of keeping them per layer. */
typedef enum {
    RECOMPUTE_NONE = 0,      /* keep every layer's activations */
    RECOMPUTE_SELECTIVE = 1, /* recompute attention (out, lse) and the SwiGLU product */
    RECOMPUTE_FULL = 2,      /* keep each layer's input only; re-run the layer in backward */
} Recompute;

/* The mode a config name ("none", "selective", "full") stands for; -1 for any other. */
int llama_recompute_mode(const char *name);

typedef struct {
    int B, T;             /* micro-batch size, tokens per sequence held here */
    int C, D;             /* hidden size, head dim */
    int H, K, F;          /* local query heads, kv-heads, MLP width */
    int V_local;          /* rows of the local vocabulary slice (padded) */
    int V_valid;          /* of which real (not padding) */
    int v0;               /* global id of the slice's first row */
    int nl;               /* layers held here */
    int first_stage;      /* holds the embedding: input is token ids */
    int last_stage;       /* holds final norm + head: output is the loss */
    int pos0;             /* global position of the first token held here */
    int pos1;             /* −1: the T tokens are contiguous from pos0; else (context
                             parallelism) tokens [T/2, T) start at global position pos1 */
    float eps;
    double theta;
    int recompute;        /* Recompute: decides which layer buffers a slot keeps */
} LlamaShape;

/* Saved activations of one micro-batch in flight, N = B·T tokens. Sizes and element types
 * come from one table in llama.c (llama_activation_bytes), which memplan asks too: a void *
 * buffer holds the backend's act_dtype, a float * one is fp32 whatever the backend (the
 * residual stream and the statistics). A per-layer
 * buffer (nl, N, ·) that the recompute mode drops is instead one layer (N, ·) shared by every
 * slot: forward computes into it and backward recomputes it there before use. */
typedef struct {
    int32_t *ids;   /* (N) token ids (first stage) */
    int32_t *targets; /* (N) target ids (last stage) */
    float *x;       /* (nl+1, N, C) residual stream: x[0] stage input, x[l+1] block l out */
    void *n1;       /* (nl, N, C) input_layernorm out */
    float *r1;      /* (nl, N) its 1/rms */
    void *q;        /* (nl, N, H·D) after RoPE */
    void *k;        /* (nl, N, K·D) after RoPE */
    void *v;        /* (nl, N, K·D) */
    void *att;      /* (nl, N, H·D) attention out */
    float *lse;     /* (nl, B, H, T) */
    float *h;       /* (nl, N, C) residual after attention */
    void *n2;       /* (nl, N, C) post_attention_layernorm out */
    float *r2;      /* (nl, N) */
    void *fa;       /* (nl, N, F) gate_proj out */
    void *fb;       /* (nl, N, F) up_proj out */
    void *fm;       /* (nl, N, F) silu(fa) ⊙ fb */
    void *nf;       /* (N, C) final norm out (last stage) */
    float *rf;      /* (N) */
    void *logits;   /* (N, V_local), overwritten by dlogits (last stage) */
    float *loss;    /* (N) per-token loss */
    float *mx, *z, *zt; /* (N) cross-entropy statistics */
} Activations;

/* Backward scratch, shared by all micro-batches (one backward runs at a time). */
typedef struct {
    float *dres;    /* (N, C) gradient of the residual stream; the stage's grad in/out */
    void *dn;       /* (N, C); in forward (where it is dead) the output of a block's o and
                       down projections before the residual add */
    void *datt;     /* (N, H·D) */
    void *dq;       /* (N, H·D) */
    void *dk, *dv;  /* (N, K·D) */
    void *dfa, *dfb, *dfm; /* (N, F) */
    float *ring;    /* context parallelism: two ring buffers of 4·N·K·D and the online-softmax
                       state; NULL without cp */
} Scratch;

/* What the model runs on and talks over. */
typedef struct {
    const Comm *tp;       /* tensor-parallel group (NULL or size 1: no tp) */
    const Comm *cp;       /* context-parallel ring (NULL or size 1: no cp) */
    const Backend *be;    /* NULL: the CPU backend */
} LlamaEnv;

typedef struct Llama {
    LlamaShape s;
    Weights w, g;       /* parameters and their fp32 gradients */
    Activations *act;   /* [nslots] micro-batches that can be in flight at once */
    int nslots;
    Scratch sc;
    const Comm *tp, *cp;
    const Backend *be;
    void *arena;        /* the one allocation every activation and scratch buffer lives in */
    /* Called when a part's weight gradients are final for this backward: part = local block
     * index, nl for the final norm + lm head, −1 for the embedding. The gradient reductions
     * start there, while backward goes on. */
    void (*grads_ready)(void *ctx, int part);
    void *grads_ready_ctx;
    size_t act_bytes;   /* bytes of activations and scratch (the arena) */
} Llama;

/* The shape of this rank's piece for micro-batches of B × T (T = tokens held here). */
LlamaShape llama_shape(const ParamTable *pt, int B, int T);

/* Bind weight and gradient pointers into params/grads (pt->numel floats each, on the
 * backend), allocate nslots activation sets and the scratch. env NULL: one process, CPU. */
void llama_init(struct Llama *m, const ParamTable *pt, const LlamaShape *s, float *params,
                float *grads, int nslots, const LlamaEnv *env);
void llama_free(struct Llama *m);

/* Bytes llama_init allocates for nslots micro-batches in flight on backend be (cp > 1: with
 * the ring-attention scratch): what memplan reports. */
size_t llama_activation_bytes(const LlamaShape *s, int nslots, int cp, const Backend *be);

/* Where a later pipeline stage's input (N, C) goes before llama_forward, and where a stage's
 * output is after it. */
float *llama_stage_input(struct Llama *m, int slot);
float *llama_stage_output(struct Llama *m, int slot);

/* Forward one micro-batch in activation slot `slot`: host ids (B, T) on the first stage (else
 * the input was placed at llama_stage_input), host targets (B, T) on the last stage; both are
 * copied into the slot (backward reads them there). On the last stage
 * leaves scale·dloss/dlogits for the backward and returns the sum of its N token losses
 * (unscaled, double); other stages return 0. */
double llama_forward(struct Llama *m, int slot, const int32_t *ids, const int32_t *targets,
                     float scale);

/* Backward of the micro-batch in `slot`; gradients accumulate (+=) into m->g. On stages other
 * than the last, the gradient of the stage output must be in m->sc.dres first; afterwards
 * m->sc.dres holds the gradient of the stage input (to send to the previous stage). */
void llama_backward(struct Llama *m, int slot);

/* Forward that also copies the logits (N, V_local) out to the host before they are replaced
 * by their gradient (tests, evaluation); returns the loss sum. Last stage only. */
double llama_forward_logits(struct Llama *m, int slot, const int32_t *ids,
                            const int32_t *targets, float *logits_out);

#endif
