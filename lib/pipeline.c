/* pipeline: the schedule executor — slots, stage-boundary sends and receives. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "pipeline.h"
#include "trace.h"

void pipeline_init(Pipeline *p, const char *engine, const Comm *pp, int stage, int stages,
                   int m, int64_t NC, const Backend *be)
{
    memset(p, 0, sizeof *p);
    schedule_build(&p->sched, engine, stages, stage, m);
    p->pp = pp;
    p->stage = stage;
    p->stages = stages;
    p->nslots = p->sched.max_in_flight;
    p->NC = NC;
    p->be = be;
    p->grad_send = be->alloc((size_t)(p->nslots * NC) * sizeof(float));
    p->act_req = xcalloc((size_t)p->nslots, sizeof(CommRequest));
    p->grad_req = xcalloc((size_t)p->nslots, sizeof(CommRequest));
    p->act_pending = xcalloc((size_t)p->nslots, 1);
    p->grad_pending = xcalloc((size_t)p->nslots, 1);
}

void pipeline_free(Pipeline *p)
{
    schedule_free(&p->sched);
    if (p->grad_send)
        p->be->release(p->grad_send);
    free(p->act_req);
    free(p->grad_req);
    free(p->act_pending);
    free(p->grad_pending);
    memset(p, 0, sizeof *p);
}

/* Forward of micro-batch a->mb: receive the stage input, compute, send the output on. */
static double forward(Pipeline *p, Llama *model, const Action *a, const int32_t *ids,
                      const int32_t *targets, float scale)
{
    int slot = a->mb % p->nslots, tag = 2 * a->mb;
    /* waiting on the neighbours before the action is the pipeline's bubble */
    int waits = p->act_pending[slot] || a->recv;
    if (waits)
        TRACE_BEGIN(TRACK_COMPUTE, "bubble", a->mb);
    if (p->act_pending[slot]) { /* the slot's last output must be out before reuse */
        comm_wait(&p->act_req[slot]);
        p->act_pending[slot] = 0;
    }
    if (a->recv) {
        CommRequest r;
        comm_irecv(p->pp, llama_stage_input(model, slot), p->NC, p->stage - 1, tag, &r);
        comm_wait(&r);
    }
    if (waits)
        TRACE_END(TRACK_COMPUTE, -1);
    TRACE_BEGIN(TRACK_COMPUTE, "forward", a->mb);
    double loss = llama_forward(model, slot, ids, targets, scale);
    if (a->send) {
        comm_isend(p->pp, llama_stage_output(model, slot), p->NC, p->stage + 1, tag,
                   &p->act_req[slot]);
        p->act_pending[slot] = 1;
    }
    TRACE_END(TRACK_COMPUTE, -1);
    return loss;
}

/* Backward of micro-batch a->mb: receive the output's gradient, compute, send the input's
 * gradient back. */
static void backward(Pipeline *p, Llama *model, Grads *gr, const Action *a, int last)
{
    int slot = a->mb % p->nslots, tag = 2 * a->mb + 1;
    if (a->recv) {
        CommRequest r;
        TRACE_BEGIN(TRACK_COMPUTE, "bubble", a->mb);
        comm_irecv(p->pp, model->sc.dres, p->NC, p->stage + 1, tag, &r);
        comm_wait(&r);
        TRACE_END(TRACK_COMPUTE, -1);
    }
    TRACE_BEGIN(TRACK_COMPUTE, "backward", a->mb);
    if (last) /* the step's last backward: reduce gradients as they become final */
        grads_begin_reducing(gr);
    llama_backward(model, slot);
    if (last)
        grads_end_reducing(gr);
    if (a->send) {
        if (p->grad_pending[slot])
            comm_wait(&p->grad_req[slot]);
        float *buf = p->grad_send + slot * p->NC;
        p->be->copy(buf, model->sc.dres, (size_t)p->NC * sizeof(float));
        comm_isend(p->pp, buf, p->NC, p->stage - 1, tag, &p->grad_req[slot]);
        p->grad_pending[slot] = 1;
    }
    TRACE_END(TRACK_COMPUTE, -1);
}

double pipeline_run(Pipeline *p, Llama *model, Grads *gr, const int32_t *ids,
                    const int32_t *targets, int m, float scale, int grad)
{
    int64_t BT = (int64_t)model->s.B * model->s.T;
    Schedule fwd_only = {0};
    const Schedule *sch = &p->sched;
    if (!grad) { /* validation: the forwards of an AFAB schedule */
        schedule_build(&fwd_only, "afab", p->stages, p->stage, m);
        sch = &fwd_only;
    }
    double loss = 0.0;
    for (int i = 0; i < sch->n; i++) {
        const Action *a = &sch->a[i];
        if (a->kind == ACT_FORWARD)
            loss += forward(p, model, a, ids + a->mb * BT, targets + a->mb * BT, scale);
        else if (grad)
            backward(p, model, gr, a, i == sch->n - 1);
    }
    int drain = p->stages > 1; /* the last sends reach their stage */
    if (drain)
        TRACE_BEGIN(TRACK_COMPUTE, "pipeline drain", -1);
    for (int s = 0; s < p->nslots; s++) {
        if (p->act_pending[s])
            comm_wait(&p->act_req[s]);
        if (p->grad_pending[s])
            comm_wait(&p->grad_req[s]);
        p->act_pending[s] = p->grad_pending[s] = 0;
    }
    if (drain)
        TRACE_END(TRACK_COMPUTE, -1);
    schedule_free(&fwd_only);
    return loss;
}
