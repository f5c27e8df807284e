/* pipeline: runs one step's pipeline schedule (schedule.h) on this rank: the forward and
 * backward of each micro-batch in its activation slot, the stage input received from the
 * previous stage and the output sent to the next (and gradients the other way) by
 * non-blocking point-to-point, and the data-parallel reductions started during the step's
 * last backward. */
#ifndef PICOTRON_PIPELINE_H
#define PICOTRON_PIPELINE_H

#include <stdint.h>

#include "comm.h"
#include "grads.h"
#include "llama.h"
#include "schedule.h"

typedef struct {
    Schedule sched;           /* this stage's actions for m micro-batches */
    const Comm *pp;           /* the pipeline group: ranks pp_rank ± 1 are the neighbours */
    int stage, stages;
    int nslots;               /* activation slots: micro-batches in flight at once */
    int64_t NC;               /* floats of a stage boundary: B·T·C */
    const Backend *be;        /* where grad_send lives */
    float *grad_send;         /* (nslots, NC) gradients on their way to the previous stage */
    CommRequest *act_req, *grad_req;          /* [nslots] pending sends */
    unsigned char *act_pending, *grad_pending;
} Pipeline;

/* engine "afab" | "1f1b", m micro-batches per step, NC floats per stage boundary, buffers
 * on backend be. */
void pipeline_init(Pipeline *p, const char *engine, const Comm *pp, int stage, int stages,
                   int m, int64_t NC, const Backend *be);
void pipeline_free(Pipeline *p);

/* One step over micro-batches ids/targets (m, B·T): forward and backward of each as the
 * schedule says, gradients accumulated into the model's gradient buffer, gr's reductions
 * started during the last backward. grad == 0: forwards only (validation; gr may be NULL),
 * as the forwards of an AFAB schedule of m micro-batches. Returns this rank's sum of token
 * losses (last stage; other stages 0), each scaled by `scale` in the gradient. */
double pipeline_run(Pipeline *p, Llama *model, Grads *gr, const int32_t *ids,
                    const int32_t *targets, int m, float scale, int grad);

#endif
