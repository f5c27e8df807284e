/* bpe: vocabulary and merges from JSON, the merge loop over a linked list of symbols driven by
 * a min-heap of candidate pairs (rank, then position), the word cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "bytemap.h"
#include "utf8.h"

#define EMPTY UINT64_MAX
#define CACHE_MAX_WORD 256          /* longer words are not cached (tokenizers' limit too) */
#define CACHE_MAX_ENTRIES (1 << 16) /* then the cache starts over: a few MB at most */

/* ---- the word being merged ---- */

typedef struct {
    int32_t id;
    int32_t prev, next; /* neighbours in the list, −1 at the ends */
    int removed;        /* merged into its left neighbour */
} Symbol;

typedef struct {
    uint32_t rank;
    int32_t pos;
    int32_t id;         /* the merged id when the candidate was queued */
} Cand;

typedef struct BpeWord {
    Symbol *sym;
    size_t nsym, capsym;
    Cand *heap;
    size_t nheap, capheap;
} Word;

/* ---- merge map: (left, right) -> (rank, merged id) ---- */

static size_t pair_slot(const MergeMap *m, uint64_t key)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ULL;
    size_t i = (size_t)(h >> 20) & (m->cap - 1);
    while (m->key[i] != EMPTY && m->key[i] != key)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static void merges_init(MergeMap *m, size_t n)
{
    m->cap = 64;
    while (m->cap < 2 * n)
        m->cap *= 2;
    m->key = vec_realloc(NULL, m->cap * sizeof *m->key);
    m->val = vec_realloc(NULL, m->cap * sizeof *m->val);
    memset(m->key, 0xFF, m->cap * sizeof *m->key);
    m->n = 0;
}

/* The first merge of a pair wins, as in tokenizers. */
static void merges_put(MergeMap *m, int32_t a, int32_t b, uint32_t rank, int32_t id)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t i = pair_slot(m, key);
    if (m->key[i] == EMPTY) {
        m->key[i] = key;
        m->val[i] = (uint64_t)rank << 32 | (uint32_t)id;
        m->n++;
    }
}

/* rank << 32 | merged id of the pair, EMPTY when it does not merge. */
static uint64_t merges_get(const MergeMap *m, int32_t a, int32_t b)
{
    size_t i = pair_slot(m, (uint64_t)(uint32_t)a << 32 | (uint32_t)b);
    return m->key[i] == EMPTY ? EMPTY : m->val[i];
}

/* ---- loading ---- */

int32_t bpe_token_id(const Bpe *b, const char *s, size_t n)
{
    return (int32_t)strmap_get(&b->vocab, s, n);
}

const char *bpe_token_str(const Bpe *b, int32_t id, size_t *n)
{
    if (id < 0 || id >= b->nids || b->id_str[id] == EMPTY)
        return NULL;
    *n = b->id_str[id] & 0xFFFFFF;
    return b->strings.v + (b->id_str[id] >> 24);
}

/* A string member that must be null (or absent) or equal to one of the accepted values. */
static int want_null_or(json_t *model, const char *key, const char *ok, const char *file,
                        Error *err)
{
    json_t *v = json_object_get(model, key);
    if (!v || json_is_null(v) || (ok && json_is_string(v) && !strcmp(json_string_value(v), ok)))
        return PT_OK;
    return err_set(err, PT_EINPUT, "%s: model.%s: not supported (only null%s%s%s)", file, key,
                   ok ? " or \"" : "", ok ? ok : "", ok ? "\"" : "");
}

static int flag(json_t *model, const char *key, int *out, const char *file, Error *err)
{
    json_t *v = json_object_get(model, key);
    if (v && !json_is_boolean(v) && !json_is_null(v))
        return err_set(err, PT_EINPUT, "%s: model.%s: expected true or false", file, key);
    *out = json_is_true(v);
    return PT_OK;
}

static int load_vocab(Bpe *b, json_t *vocab, const char *file, Error *err)
{
    if (!json_is_object(vocab))
        return err_set(err, PT_EINPUT, "%s: model.vocab: expected an object of token: id", file);
    b->nids = 0;
    for (void *it = json_object_iter(vocab); it; it = json_object_iter_next(vocab, it)) {
        json_t *v = json_object_iter_value(it);
        const char *k = json_object_iter_key(it);
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return err_set(err, PT_EINPUT, "%s: model.vocab[\"%s\"]: expected an id >= 0", file,
                           k);
        if (json_integer_value(v) >= INT32_MAX)
            return err_set(err, PT_EINPUT, "%s: model.vocab[\"%s\"]: id %lld is too large for "
                           "the shard format (llm.c tokens: at most %d)", file, k,
                           (long long)json_integer_value(v), INT32_MAX - 1);
        int32_t id = (int32_t)json_integer_value(v);
        b->nids = id + 1 > b->nids ? id + 1 : b->nids;
    }
    b->id_str = vec_realloc(NULL, (size_t)(b->nids ? b->nids : 1) * sizeof *b->id_str);
    memset(b->id_str, 0xFF, (size_t)(b->nids ? b->nids : 1) * sizeof *b->id_str);
    for (void *it = json_object_iter(vocab); it; it = json_object_iter_next(vocab, it)) {
        const char *k = json_object_iter_key(it);
        size_t kn = json_object_iter_key_len(it);
        int32_t id = (int32_t)json_integer_value(json_object_iter_value(it));
        if (b->id_str[id] != EMPTY)
            return err_set(err, PT_EINPUT, "%s: model.vocab[\"%s\"]: id %d is taken twice", file,
                           k, id);
        b->id_str[id] = (uint64_t)b->strings.n << 24 | kn;
        bytevec_append(&b->strings, k, kn);
        strmap_put(&b->vocab, k, kn, id);
    }
    return PT_OK;
}

/* One merge, "a b" (older files) or ["a", "b"], into its two halves. */
static int merge_halves(json_t *m, const char **a, size_t *an, const char **bs, size_t *bn)
{
    if (json_is_string(m)) {
        const char *s = json_string_value(m), *sp = strchr(s, ' ');
        if (!sp || strchr(sp + 1, ' '))
            return -1;
        *a = s, *an = (size_t)(sp - s), *bs = sp + 1, *bn = strlen(sp + 1);
        return 0;
    }
    if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
        json_is_string(json_array_get(m, 1))) {
        *a = json_string_value(json_array_get(m, 0));
        *an = json_string_length(json_array_get(m, 0));
        *bs = json_string_value(json_array_get(m, 1));
        *bn = json_string_length(json_array_get(m, 1));
        return 0;
    }
    return -1;
}

static int load_merges(Bpe *b, json_t *merges, const char *file, Error *err)
{
    if (!json_is_array(merges))
        return err_set(err, PT_EINPUT, "%s: model.merges: expected an array", file);
    merges_init(&b->merges, json_array_size(merges));
    char buf[1024];
    for (size_t i = 0; i < json_array_size(merges); i++) {
        const char *a, *c;
        size_t an, cn;
        if (merge_halves(json_array_get(merges, i), &a, &an, &c, &cn))
            return err_set(err, PT_EINPUT,
                           "%s: model.merges[%zu]: expected \"left right\" or [\"left\", \"right\"]",
                           file, i);
        int32_t ia = bpe_token_id(b, a, an), ic = bpe_token_id(b, c, cn), im = -1;
        if (an + cn <= sizeof buf) {
            memcpy(buf, a, an);
            memcpy(buf + an, c, cn);
            im = bpe_token_id(b, buf, an + cn);
        }
        if (ia < 0 || ic < 0 || im < 0)
            return err_set(err, PT_EINPUT, "%s: model.merges[%zu]: \"%.*s\" + \"%.*s\" %s", file,
                           i, (int)an, a, (int)cn, c,
                           ia < 0 || ic < 0 ? "names a token that is not in model.vocab"
                                            : "merges into a token that is not in model.vocab");
        merges_put(&b->merges, ia, ic, (uint32_t)i, im);
    }
    return PT_OK;
}

int bpe_load(Bpe *b, json_t *model, int byte_level, const char *file, Error *err)
{
    memset(b, 0, sizeof *b);
    strmap_init(&b->vocab);
    strmap_init(&b->cache);
    b->byte_level = byte_level;
    b->unk_id = -1;
    b->scratch = vec_calloc(1, sizeof *b->scratch);
    json_t *type = json_object_get(model, "type");
    if (!json_is_object(model))
        return err_set(err, PT_EINPUT, "%s: model: expected an object", file);
    if (!json_is_string(type) || strcmp(json_string_value(type), "BPE"))
        return err_set(err, PT_EINPUT,
                       "%s: model.type: \"%s\" is not supported (only BPE: GPT-2, SmolLM, "
                       "Llama-2, Llama-3 families)", file,
                       json_is_string(type) ? json_string_value(type) : "(missing)");
    json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout) &&
        !(json_is_number(dropout) && json_number_value(dropout) == 0))
        return err_set(err, PT_EINPUT, "%s: model.dropout: BPE dropout is not supported "
                       "(tokenization for training data must be deterministic)", file);
    if (want_null_or(model, "continuing_subword_prefix", "", file, err) ||
        want_null_or(model, "end_of_word_suffix", "", file, err) ||
        flag(model, "byte_fallback", &b->byte_fallback, file, err) ||
        flag(model, "fuse_unk", &b->fuse_unk, file, err) ||
        flag(model, "ignore_merges", &b->ignore_merges, file, err) ||
        load_vocab(b, json_object_get(model, "vocab"), file, err) ||
        load_merges(b, json_object_get(model, "merges"), file, err))
        return err->code;
    json_t *unk = json_object_get(model, "unk_token");
    if (unk && !json_is_null(unk)) {
        if (!json_is_string(unk) ||
            (b->unk_id = bpe_token_id(b, json_string_value(unk), json_string_length(unk))) < 0)
            return err_set(err, PT_EINPUT, "%s: model.unk_token: not a token of model.vocab",
                           file);
    }
    for (int c = 0; c < 256; c++) {
        char s[8];
        b->byte_id[c] = bpe_token_id(b, s, utf8_encode(bytemap_char((unsigned char)c), s));
        snprintf(s, sizeof s, "<0x%02X>", c);
        b->fallback_id[c] = bpe_token_id(b, s, 6);
    }
    return PT_OK;
}

void bpe_free(Bpe *b)
{
    strmap_free(&b->vocab);
    strmap_free(&b->cache);
    bytevec_free(&b->strings);
    bytevec_free(&b->spelled);
    idvec_free(&b->cache_ids);
    free(b->id_str);
    free(b->merges.key);
    free(b->merges.val);
    if (b->scratch) {
        free(b->scratch->sym);
        free(b->scratch->heap);
        free(b->scratch);
    }
    memset(b, 0, sizeof *b);
}

/* ---- encoding ---- */

static void word_add(Word *w, int32_t id)
{
    if (w->nsym == w->capsym) {
        w->capsym = w->capsym ? 2 * w->capsym : 64;
        w->sym = vec_realloc(w->sym, w->capsym * sizeof *w->sym);
    }
    int32_t i = (int32_t)w->nsym++;
    w->sym[i] = (Symbol){id, i - 1, -1, 0};
    if (i > 0)
        w->sym[i - 1].next = i;
}

static int cand_less(Cand a, Cand b)
{
    return a.rank != b.rank ? a.rank < b.rank : a.pos < b.pos;
}

static void heap_push(Word *w, Cand c)
{
    if (w->nheap == w->capheap) {
        w->capheap = w->capheap ? 2 * w->capheap : 64;
        w->heap = vec_realloc(w->heap, w->capheap * sizeof *w->heap);
    }
    size_t i = w->nheap++;
    while (i > 0 && cand_less(c, w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = c;
}

static Cand heap_pop(Word *w)
{
    Cand top = w->heap[0], last = w->heap[--w->nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->nheap)
            break;
        if (c + 1 < w->nheap && cand_less(w->heap[c + 1], w->heap[c]))
            c++;
        if (!cand_less(w->heap[c], last))
            break;
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (w->nheap)
        w->heap[i] = last;
    return top;
}

static void queue_pair(Word *w, const MergeMap *m, int32_t pos)
{
    int32_t next = w->sym[pos].next;
    if (next < 0)
        return;
    uint64_t v = merges_get(m, w->sym[pos].id, w->sym[next].id);
    if (v != EMPTY)
        heap_push(w, (Cand){(uint32_t)(v >> 32), pos, (int32_t)(uint32_t)v});
}

/* Apply merges until none applies: always the lowest-rank pair, the leftmost among equals. */
static void merge_all(Word *w, const MergeMap *m)
{
    w->nheap = 0;
    for (int32_t i = 0; i + 1 < (int32_t)w->nsym; i++)
        queue_pair(w, m, i);
    while (w->nheap) {
        Cand c = heap_pop(w);
        Symbol *s = &w->sym[c.pos];
        if (s->removed || s->next < 0)
            continue;
        /* A stale candidate: the pair at pos has changed since it was queued. */
        uint64_t v = merges_get(m, s->id, w->sym[s->next].id);
        if (v == EMPTY || (int32_t)(uint32_t)v != c.id)
            continue;
        Symbol *r = &w->sym[s->next];
        s->id = c.id;
        r->removed = 1;
        s->next = r->next;
        if (r->next >= 0)
            w->sym[r->next].prev = c.pos;
        if (s->prev >= 0)
            queue_pair(w, m, s->prev);
        queue_pair(w, m, c.pos);
    }
}

/* The initial symbols: one per character (byte-level: per byte), unknown ones through byte
 * fallback or unk as tokenizers' merge_word does it. */
static void word_symbols(const Bpe *b, const char *s, size_t n, Word *w)
{
    const unsigned char *p = (const unsigned char *)s;
    int32_t unk = -1; /* a pending unk, fused with the next unknown when fuse_unk */
    for (size_t i = 0; i < n;) {
        size_t len = b->byte_level ? 1 : utf8_char_len(p[i]);
        if (i + len > n)
            len = n - i;
        int32_t id = b->byte_level ? b->byte_id[p[i]] : bpe_token_id(b, s + i, len);
        if (id >= 0) {
            if (unk >= 0)
                word_add(w, unk), unk = -1;
            word_add(w, id);
        } else {
            int all = b->byte_fallback;
            for (size_t k = 0; all && k < len; k++)
                all = b->fallback_id[p[i + k]] >= 0;
            if (all) {
                for (size_t k = 0; k < len; k++)
                    word_add(w, b->fallback_id[p[i + k]]);
            } else if (b->unk_id >= 0) {
                if (unk >= 0 && !b->fuse_unk)
                    word_add(w, unk);
                unk = b->unk_id;
            }
        }
        i += len;
    }
    if (unk >= 0)
        word_add(w, unk);
}

/* The word spelled in the vocab's alphabet (byte-level: through bytemap), for ignore_merges. */
static int32_t whole_word_id(Bpe *b, const char *s, size_t n)
{
    if (!b->byte_level)
        return bpe_token_id(b, s, n);
    ByteVec *w = &b->spelled;
    w->n = 0;
    bytevec_reserve(w, 2 * n); /* each byte's character is 1 or 2 bytes of UTF-8 */
    for (size_t i = 0; i < n; i++)
        w->n += utf8_encode(bytemap_char((unsigned char)s[i]), w->v + w->n);
    return bpe_token_id(b, w->v, w->n);
}

void bpe_encode(Bpe *b, const char *s, size_t n, IdVec *out)
{
    if (n == 0)
        return;
    int64_t hit = n <= CACHE_MAX_WORD ? strmap_get(&b->cache, s, n) : -1;
    if (hit >= 0) {
        size_t off = (size_t)(hit >> 16), cnt = (size_t)(hit & 0xFFFF);
        if (!cnt)
            return;
        idvec_reserve(out, cnt);
        memcpy(out->v + out->n, b->cache_ids.v + off, cnt * sizeof *out->v);
        out->n += cnt;
        return;
    }
    size_t first = out->n;
    int32_t whole = b->ignore_merges ? whole_word_id(b, s, n) : -1;
    if (whole >= 0) {
        idvec_push(out, whole);
    } else {
        Word *w = b->scratch;
        w->nsym = 0;
        word_symbols(b, s, n, w);
        merge_all(w, &b->merges);
        for (size_t i = 0; i < w->nsym; i++)
            if (!w->sym[i].removed)
                idvec_push(out, w->sym[i].id);
    }
    size_t cnt = out->n - first;
    if (n <= CACHE_MAX_WORD && cnt > 0 && cnt < 0xFFFF) {
        if (b->cache.n >= CACHE_MAX_ENTRIES) {
            strmap_clear(&b->cache);
            b->cache_ids.n = 0;
        }
        idvec_reserve(&b->cache_ids, cnt);
        strmap_put(&b->cache, s, n, (int64_t)(b->cache_ids.n << 16 | cnt));
        memcpy(b->cache_ids.v + b->cache_ids.n, out->v + first, cnt * sizeof *out->v);
        b->cache_ids.n += cnt;
    }
}
