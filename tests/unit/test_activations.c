/* test_activations: the model's activation table (lib/llama.c). One allocation is carved into
 * every saved buffer of every micro-batch slot and the backward scratch; memplan and the
 * banner report its size. Checked here against the test's own count of what a slot and the
 * scratch hold (the layer shapes of llama.h), and the carve against overlap: every buffer is
 * filled whole with its own value, then every buffer must still hold its own. */
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

/* Bytes of one slot and of the scratch, by the layer shapes: N = B·T tokens, L layers. */
static int64_t expected_floats(const LlamaShape *s, int nslots, int cp, int64_t *ints)
{
    int64_t N = (int64_t)s->B * s->T, C = s->C, L = s->nl, F = s->F;
    int64_t HD = (int64_t)s->H * s->D, KD = (int64_t)s->K * s->D;
    int64_t V = s->last_stage ? s->V_local : 0;
    int64_t slot = (L + 1) * N * C      /* residual stream x[0..L] */
                   + 3 * L * N * C      /* n1, h, n2 */
                   + 2 * L * N          /* 1/rms of both norms */
                   + 2 * L * N * HD     /* q, attention out */
                   + 2 * L * N * KD     /* k, v */
                   + L * N * s->H       /* log-sum-exp */
                   + 3 * L * N * F      /* gate, up, silu·up */
                   + N * C + N          /* final norm, its 1/rms */
                   + N * V + 4 * N;     /* logits; loss, max, sum-exp, target logit */
    int64_t scratch = 2 * N * C + 2 * N * HD + 2 * N * KD + 3 * N * F;
    if (cp > 1)
        scratch += (int64_t)ring_attention_scratch_floats(s->B, s->T, s->H, s->K, s->D);
    *ints = nslots * 2 * N; /* ids and targets */
    return nslots * slot + scratch;
}

START_TEST(activation_bytes_are_the_layer_shapes)
{
    ModelDims d = dims();
    ParamShard shards[3] = {{0, 1, 0, 3, 1, 1}, {0, 1, 0, 2, 1, 0}, {0, 1, 2, 3, 0, 1}};
    for (int k = 0; k < 3; k++)
        for (int cp = 1; cp <= 2; cp++)
            for (int nslots = 1; nslots <= 3; nslots++) {
                ParamTable pt;
                params_build(&pt, &d, &shards[k]);
                LlamaShape s = llama_shape(&pt, 2, 16);
                int64_t ints, floats = expected_floats(&s, nslots, cp, &ints);
                size_t want = (size_t)(floats + ints) * 4;
                size_t got = llama_activation_bytes(&s, nslots, cp, backend_cpu());
                /* each of the 33 buffers (per slot) is rounded up to 64 bytes */
                ck_assert_msg(got >= want && got < want + (size_t)(33 * nslots) * 64,
                              "stage %d cp %d slots %d: %zu bytes, want %zu + rounding", k, cp,
                              nslots, got, want);
                params_free(&pt);
            }
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

int main(void)
{
    Suite *s = suite_create("activations");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, activation_bytes_are_the_layer_shapes);
    tcase_add_test(tc, buffers_do_not_overlap);
    suite_add_tcase(s, tc);
    return check_run(s);
}
