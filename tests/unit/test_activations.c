/* test_activations: the model's activation table (lib/llama.c). One allocation is carved into
 * every saved buffer of every micro-batch slot and the backward scratch; memplan and the
 * banner report its size. Checked here against the test's own count of what a slot and the
 * scratch hold (the layer shapes of llama.h) in each recompute mode, and the carve against
 * overlap: every buffer is filled whole with its own value, then every buffer must still hold
 * its own. Recompute must change no bit: the gradients of micro-batches in flight together
 * (forwards of all slots, then the backwards) are compared with memcmp across the modes. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "llama.h"
#include "params.h"
#include "ring_attention.h"

static ModelDims dims(void)
{
    ModelDims d = {
        .num_hidden_layers = 3, .hidden_size = 32, .num_attention_heads = 4,
        .num_key_value_heads = 2, .intermediate_size = 48, .vocab_size = 200,
        .max_position_embeddings = 64, .rope_theta = 10000.0, .rms_norm_eps = 1e-5,
        .tie_word_embeddings = 0,
    };
    return d;
}

/* Bytes of the slots and the scratch, by the layer shapes: N = B·T tokens, L layers. A
 * layer's buffers that the mode recomputes are kept once (one layer, shared by the slots). */
static int64_t expected_floats(const LlamaShape *s, int nslots, int cp, int64_t *ints)
{
    int64_t N = (int64_t)s->B * s->T, C = s->C, L = s->nl, F = s->F;
    int64_t HD = (int64_t)s->H * s->D, KD = (int64_t)s->K * s->D;
    int64_t V = s->last_stage ? s->V_local : 0;
    int64_t full = 3 * N * C            /* n1, h, n2 */
                   + 2 * N              /* 1/rms of both norms */
                   + N * HD + 2 * N * KD /* q, k, v */
                   + 2 * N * F;         /* gate, up */
    int64_t sel = N * HD + N * s->H     /* attention out, log-sum-exp */
                  + N * F;              /* silu·up */
    int64_t kept = s->recompute == RECOMPUTE_FULL ? 0
                   : s->recompute == RECOMPUTE_SELECTIVE ? full : full + sel;
    int64_t shared = s->recompute == RECOMPUTE_FULL ? full + sel
                     : s->recompute == RECOMPUTE_SELECTIVE ? sel : 0;
    int64_t slot = (L + 1) * N * C      /* residual stream x[0..L] */
                   + L * kept           /* the layers' saved buffers */
                   + N * C + N          /* final norm, its 1/rms */
                   + N * V + 4 * N;     /* logits; loss, max, sum-exp, target logit */
    int64_t scratch = shared + 2 * N * C + 2 * N * HD + 2 * N * KD + 3 * N * F;
    if (cp > 1)
        scratch += (int64_t)ring_attention_scratch_floats(s->B, s->T, s->H, s->K, s->D);
    *ints = nslots * 2 * N; /* ids and targets */
    return nslots * slot + scratch;
}

START_TEST(activation_bytes_are_the_layer_shapes)
{
    ModelDims d = dims();
    ParamShard shards[3] = {{0, 1, 0, 3, 1, 1}, {0, 1, 0, 2, 1, 0}, {0, 1, 2, 3, 0, 1}};
    for (int mode = RECOMPUTE_NONE; mode <= RECOMPUTE_FULL; mode++)
        for (int k = 0; k < 3; k++)
            for (int cp = 1; cp <= 2; cp++)
                for (int nslots = 1; nslots <= 3; nslots++) {
                    ParamTable pt;
                    params_build(&pt, &d, &shards[k]);
                    LlamaShape s = llama_shape(&pt, 2, 16);
                    s.recompute = mode;
                    int64_t ints, floats = expected_floats(&s, nslots, cp, &ints);
                    size_t want = (size_t)(floats + ints) * 4;
                    size_t got = llama_activation_bytes(&s, nslots, cp, backend_cpu());
                    /* each of the 33 buffers (per slot) is rounded up to 64 bytes */
                    ck_assert_msg(got >= want && got < want + (size_t)(33 * nslots) * 64,
                                  "mode %d stage %d cp %d slots %d: %zu bytes, want %zu + "
                                  "rounding", mode, k, cp, nslots, got, want);
                    params_free(&pt);
                }
}
END_TEST

START_TEST(recompute_mode_names)
{
    ck_assert_int_eq(llama_recompute_mode("none"), RECOMPUTE_NONE);
    ck_assert_int_eq(llama_recompute_mode("selective"), RECOMPUTE_SELECTIVE);
    ck_assert_int_eq(llama_recompute_mode("full"), RECOMPUTE_FULL);
    ck_assert_int_eq(llama_recompute_mode("Full"), -1);
    ck_assert_int_eq(llama_recompute_mode(""), -1);
}
END_TEST

/* Every float buffer of a slot and of the scratch, with its element count. */
typedef struct {
    float *p;
    int64_t n;
} Buf;

static int buffers(Llama *m, Buf *out)
{
    const LlamaShape *s = &m->s;
    int64_t N = (int64_t)s->B * s->T, C = s->C, L = s->nl, F = s->F;
    int64_t HD = (int64_t)s->H * s->D, KD = (int64_t)s->K * s->D, V = s->V_local;
    int k = 0;
    for (int i = 0; i < m->nslots; i++) {
        Activations *a = &m->act[i];
        Buf slot[] = {{a->x, (L + 1) * N * C}, {a->n1, L * N * C}, {a->r1, L * N},
                      {a->q, L * N * HD},      {a->k, L * N * KD}, {a->v, L * N * KD},
                      {a->att, L * N * HD},    {a->lse, L * N * s->H}, {a->h, L * N * C},
                      {a->n2, L * N * C},      {a->r2, L * N},     {a->fa, L * N * F},
                      {a->fb, L * N * F},      {a->fm, L * N * F}, {a->nf, N * C},
                      {a->rf, N},              {a->logits, N * V}, {a->loss, N},
                      {a->mx, N},              {a->z, N},          {a->zt, N}};
        for (size_t j = 0; j < sizeof slot / sizeof slot[0]; j++)
            out[k++] = slot[j];
    }
    Scratch *c = &m->sc;
    Buf scr[] = {{c->dres, N * C}, {c->dn, N * C},  {c->datt, N * HD}, {c->dq, N * HD},
                 {c->dk, N * KD},  {c->dv, N * KD}, {c->dfa, N * F},   {c->dfb, N * F},
                 {c->dfm, N * F}};
    for (size_t j = 0; j < sizeof scr / sizeof scr[0]; j++)
        out[k++] = scr[j];
    return k;
}

START_TEST(buffers_do_not_overlap)
{
    ModelDims d = dims();
    ParamShard sh = params_shard_single(&d);
    ParamTable pt;
    params_build(&pt, &d, &sh);
    float *w = calloc(pt.numel, sizeof(float)), *g = calloc(pt.numel, sizeof(float));
    LlamaShape s = llama_shape(&pt, 2, 16);
    Llama m;
    llama_init(&m, &pt, &s, w, g, 3, NULL);
    Buf b[3 * 21 + 9];
    int n = buffers(&m, b);
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < b[i].n; j++)
            b[i].p[j] = (float)i;
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < b[i].n; j++)
            ck_assert_msg(b[i].p[j] == (float)i, "buffer %d element %lld overwritten", i,
                          (long long)j);
    llama_free(&m);
    free(w);
    free(g);
    params_free(&pt);
}
END_TEST

/* Gradients (and the loss) of NSLOT micro-batches run as a pipeline stage holds them: every
 * forward first, then the backwards in reverse, so shared recompute buffers are overwritten by
 * later forwards before each backward. */
#define NSLOT 3
static void run_slots(int mode, const ParamTable *pt, const float *w, float *g, double *loss)
{
    LlamaShape s = llama_shape(pt, 2, 16);
    s.recompute = mode;
    Llama m;
    float *wc = malloc(pt->numel * sizeof(float));
    memcpy(wc, w, pt->numel * sizeof(float));
    memset(g, 0, pt->numel * sizeof(float));
    llama_init(&m, pt, &s, wc, g, NSLOT, NULL);
    int32_t ids[NSLOT][32], tg[NSLOT][32];
    for (int a = 0; a < NSLOT; a++)
        for (int i = 0; i < 32; i++) {
            ids[a][i] = (a * 37 + i * 11) % pt->dims.vocab_size;
            tg[a][i] = (a * 53 + i * 7 + 1) % pt->dims.vocab_size;
        }
    *loss = 0;
    for (int a = 0; a < NSLOT; a++)
        *loss += llama_forward(&m, a, ids[a], tg[a], 1.0f / (NSLOT * 32));
    for (int a = NSLOT - 1; a >= 0; a--)
        llama_backward(&m, a);
    llama_free(&m);
    free(wc);
}

START_TEST(recompute_gradients_are_bitwise_equal)
{
    ModelDims d = dims();
    ParamShard sh = params_shard_single(&d);
    ParamTable pt;
    params_build(&pt, &d, &sh);
    float *w = calloc(pt.numel, sizeof(float));
    params_init(&pt, w, 7);
    float *g[3];
    double loss[3];
    for (int mode = 0; mode < 3; mode++) {
        g[mode] = calloc(pt.numel, sizeof(float));
        run_slots(mode, &pt, w, g[mode], &loss[mode]);
    }
    double norm = 0;
    for (size_t i = 0; i < pt.numel; i++)
        norm += (double)g[0][i] * g[0][i];
    ck_assert_msg(norm > 0 && loss[0] > 0, "the reference run computed nothing");
    for (int mode = 1; mode < 3; mode++) {
        ck_assert_msg(loss[mode] == loss[0], "mode %d loss %.17g, none %.17g", mode, loss[mode],
                      loss[0]);
        ck_assert_msg(!memcmp(g[mode], g[0], pt.numel * sizeof(float)),
                      "mode %d gradients differ from none", mode);
    }
    for (int mode = 0; mode < 3; mode++)
        free(g[mode]);
    free(w);
    params_free(&pt);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("activations");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, activation_bytes_are_the_layer_shapes);
    tcase_add_test(tc, recompute_mode_names);
    tcase_add_test(tc, buffers_do_not_overlap);
    tcase_add_test(tc, recompute_gradients_are_bitwise_equal);
    suite_add_tcase(s, tc);
    return check_run(s);
}
