/* picotron-tokenize: text, JSONL and their gzip/zstd forms into llm.c token shards with a
 * model's own Hugging Face tokenizer.json; --decode turns shards back into text. */
#include <glob.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "data.h"
#include "docin.h"
#include "shardout.h"
#include "tokenizer.h"

#define PROG "picotron-tokenize"
#define BATCH_DOCS 1024          /* documents encoded in parallel at a time */
#define BATCH_BYTES (8u << 20)   /* ... or this much text, whichever comes first */
#define TEXT_CHUNK (1u << 20)    /* a plain-text file larger than this streams in pieces */

static const char usage[] =
    "usage: picotron-tokenize --tokenizer DIR|tokenizer.json --out PREFIX [options] INPUT...\n"
    "       picotron-tokenize --tokenizer DIR|tokenizer.json --decode SHARD...\n"
    "\n"
    "Tokenize documents with a model's Hugging Face tokenizer.json and write llm.c shards\n"
    "PREFIX_train_000000.bin, PREFIX_train_000001.bin, ... (and PREFIX_val_000000.bin ... with\n"
    "a validation split): uint16 tokens when the vocabulary fits, else uint32. INPUT is a file\n"
    "or - (standard input); gzip and zstd input is decompressed whatever its name. An input\n"
    "whose first non-blank byte is '{' is JSONL (one JSON object per line, the text in --field),\n"
    "any other is one plain-text document per file. Reference: docs/tokenize.md.\n"
    "\n"
    "Supported tokenizers: byte-level BPE with the GPT-2 regex (GPT-2, SmolLM), byte-level BPE\n"
    "with a Split regex (Llama-3), SentencePiece-style BPE with byte fallback (Llama-2,\n"
    "TinyLlama). Documents are framed as the model was trained: the special tokens of the\n"
    "tokenizer's template before and after each (Llama-2 <s>, Llama-3 <|begin_of_text|>); an\n"
    "EOS after each with --append-eos when the template has none there, and always when the\n"
    "template adds nothing at all (GPT-2, SmolLM: <|endoftext|>).\n"
    "\n"
    "options:\n"
    "  --tokenizer PATH      tokenizer.json, or a model directory holding one (required)\n"
    "  --out PREFIX          shard name prefix; directories are created (required)\n"
    "  --field NAME          JSONL: the string member holding the text (default text)\n"
    "  --jsonl               read every input as JSONL\n"
    "  --text                read every input as one plain-text document\n"
    "  --lines               read every input as plain text, one document per line\n"
    "  --append-eos          end every document with the EOS token\n"
    "  --eos TOKEN           the EOS token, in place of the template's closing tokens\n"
    "                        (default: the first of <|endoftext|> <|end_of_text|> </s> the\n"
    "                        vocabulary has)\n"
    "  --val-fraction F      send this fraction of the documents (0 < F < 1, evenly spread:\n"
    "                        document i when floor((i+1)F) > floor(iF)) to the val shards\n"
    "  --val-tokens N        send the first documents to the val shards until they hold N\n"
    "  --shard-tokens N      tokens per shard at most (default 100000000)\n"
    "  --threads N           documents encoded in parallel (default: all cores)\n"
    "  --skip-bad            skip JSONL lines that are not JSON or lack the field, count them\n"
    "  --force               replace existing shards with this PREFIX\n"
    "  --decode              write the text of the SHARD files' tokens to stdout\n"
    "  -q, --quiet           no progress line and no summary\n"
    "  -h, --help            this help\n"
    "\n"
    "exit status: 0 done, 1 I/O failure (nothing half-written is left), 2 bad option,\n"
    "tokenizer, input line or existing output (one line naming it)\n"
    "\n"
    "examples:\n"
    "  picotron-tokenize --tokenizer models/smollm-135m --out data/fw fineweb.jsonl.zst\n"
    "  zstdcat corpus.jsonl.zst | picotron tokenize --tokenizer smollm/ - --out data/x\n"
    "  picotron-tokenize --tokenizer tinyllama/ --lines --val-fraction 0.01 --out data/t a.txt\n";

typedef struct {
    const char *tokenizer, *out, *field, *eos_name, *val_fraction_s, *val_tokens_s;
    int jsonl, text, lines, append_eos, shard_tokens, threads, skip_bad, force, decode, quiet;
    double val_fraction;
    int64_t val_tokens;
} Opts;

/* What the run has done so far, for the progress line and the summary. */
typedef struct {
    int64_t docs, skipped, empty, tokens;
    uint64_t bytes;      /* read from the inputs (decompressed) */
    uint64_t text;       /* in the documents' text: what MB/s counts */
    double t0, last_note;
    int tty;
    int shown;           /* a progress line is on the terminal, not yet ended */
} Stats;

static const Cli cli = {.prog = PROG, .usage = usage};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The progress line: rewritten in place on a terminal, else one line every 10 s. */
static void note(Stats *st, const Opts *o)
{
    double t = now();
    if (o->quiet || t - st->last_note < (st->tty ? 0.5 : 10.0))
        return;
    st->last_note = t;
    double dt = t - st->t0 > 1e-9 ? t - st->t0 : 1e-9;
    fprintf(stderr, "%s%lld documents, %lld tokens, %.1f MB read, %.2f MB/s of text%s",
            st->tty ? "\r" : "", (long long)st->docs, (long long)st->tokens,
            (double)st->bytes / 1e6, (double)st->text / 1e6 / dt, st->tty ? "   " : "\n");
    st->shown = st->tty;
}

/* The id of a token string given on the command line or looked up by name. */
static int32_t find_eos(const Tokenizer *t, const char *name)
{
    if (name)
        return tokenizer_token_id(t, name);
    if (t->neos)
        return t->eos[0];
    static const char *const names[] = {"<|endoftext|>", "<|end_of_text|>", "</s>"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        int32_t id = tokenizer_token_id(t, names[i]);
        if (id >= 0)
            return id;
    }
    return -1;
}

/* An input's name in messages. */
static const char *path_name(const char *path)
{
    return strcmp(path, "-") ? path : "stdin";
}

/* Refuse to overwrite shards of this prefix unless --force. */
static void check_output(const Opts *o)
{
    static const char *const splits[] = {"train", "val"};
    for (int s = 0; s < 2; s++) {
        char path[4096];
        shardout_name(o->out, splits[s], 0, path, sizeof path);
        if (!o->force && access(path, F_OK) == 0)
            cli_die(&cli, PT_EINPUT, "%s: exists (give --force to replace the shards of %s)", path,
                    o->out);
    }
}

/* After --force: shards of an earlier run numbered past this run's last are removed, so a
 * glob over the prefix sees this run only. */
static void remove_stale(const char *prefix, const char *split, int written)
{
    char pattern[4096];
    snprintf(pattern, sizeof pattern, "%s_%s_[0-9][0-9][0-9][0-9][0-9][0-9].bin", prefix, split);
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0)
        return;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *p = g.gl_pathv[i] + strlen(g.gl_pathv[i]) - 10; /* "NNNNNN.bin" */
        if (atoi(p) >= written)
            unlink(g.gl_pathv[i]);
    }
    globfree(&g);
}

/* The records of one batch, their documents and ids. */
typedef struct {
    ByteVec *rec;        /* (BATCH_DOCS) a document, or a JSONL line holding one */
    ByteVec *text;       /* (BATCH_DOCS) a JSONL line's document, parsed by the workers */
    IdVec *ids;          /* (BATCH_DOCS) */
    Error *err;          /* (BATCH_DOCS) why a JSONL line holds no document */
    const char **file;   /* (BATCH_DOCS) NULL: rec is the document; else its JSONL file ... */
    int64_t *line;       /* (BATCH_DOCS) ... and line */
    char *first, *last;  /* (BATCH_DOCS) rec begins / ends its document (a large text file
                            comes in several records) */
    int n;
    size_t bytes;
} Batch;

static void batch_init(Batch *b)
{
    b->rec = xcalloc(BATCH_DOCS, sizeof *b->rec);
    b->text = xcalloc(BATCH_DOCS, sizeof *b->text);
    b->ids = xcalloc(BATCH_DOCS, sizeof *b->ids);
    b->err = xcalloc(BATCH_DOCS, sizeof *b->err);
    b->file = xcalloc(BATCH_DOCS, sizeof *b->file);
    b->line = xcalloc(BATCH_DOCS, sizeof *b->line);
    b->first = xcalloc(BATCH_DOCS, 1);
    b->last = xcalloc(BATCH_DOCS, 1);
    b->n = 0;
    b->bytes = 0;
}

static void batch_free(Batch *b)
{
    for (int i = 0; i < BATCH_DOCS; i++) {
        bytevec_free(&b->rec[i]);
        bytevec_free(&b->text[i]);
        idvec_free(&b->ids[i]);
    }
    free(b->rec);
    free(b->text);
    free(b->ids);
    free(b->err);
    free(b->file);
    free(b->line);
    free(b->first);
    free(b->last);
}

typedef struct {
    Tokenizer *tok;      /* (threads) one per thread: each holds its own caches */
    int nthreads;
    int32_t bos[4];
    int nbos;
    int32_t eos[4];      /* after every document */
    int neos;
    ShardOut train, val;
    int to_val;          /* the document being written goes to val */
    Stats st;
} Run;

static void fail_run(Run *r, const Error *err)
{
    shardout_abort(&r->train);
    shardout_abort(&r->val);
    cli_fail(&cli, err);
}

/* Parse and encode the batch in parallel, then write it in order: a bad JSONL line stops the
 * run (or is skipped) where it stands in the input, whatever the thread count. */
static void flush_batch(Run *r, Batch *b, const Opts *o)
{
#pragma omp parallel for num_threads(r->nthreads) schedule(dynamic, 1)
    for (int i = 0; i < b->n; i++) {
        const ByteVec *doc = &b->rec[i];
        IdVec *ids = &b->ids[i];
        ids->n = 0;
        b->err[i].code = PT_OK;
        if (b->file[i]) {
            if (docin_jsonl_text(b->file[i], b->line[i], o->field, b->rec[i].v, b->rec[i].n,
                                 &b->text[i], &b->err[i]))
                continue;
            doc = &b->text[i];
        }
        if (doc->n == 0) /* an empty document adds nothing, not even BOS/EOS */
            continue;
        for (int k = 0; b->first[i] && k < r->nbos; k++)
            idvec_push(ids, r->bos[k]);
        tokenizer_encode_piece(&r->tok[omp_get_thread_num()], doc->v, doc->n, !b->first[i], ids);
        for (int k = 0; b->last[i] && k < r->neos; k++)
            idvec_push(ids, r->eos[k]);
    }
    for (int i = 0; i < b->n; i++) {
        if (b->err[i].code) {
            if (!o->skip_bad)
                fail_run(r, &b->err[i]);
            r->st.skipped++;
            continue;
        }
        if (b->ids[i].n == 0) {
            r->st.empty++;
            continue;
        }
        r->st.text += b->file[i] ? b->text[i].n : b->rec[i].n;
        if (b->first[i]) {
            int64_t d = r->st.docs++;
            r->to_val = o->val_tokens ? r->val.total < o->val_tokens
                      : o->val_fraction > 0 && floor((double)(d + 1) * o->val_fraction) >
                                                   floor((double)d * o->val_fraction);
        }
        Error err = {0};
        if (shardout_write(r->to_val ? &r->val : &r->train, b->ids[i].v, b->ids[i].n, &err))
            fail_run(r, &err);
        r->st.tokens += (int64_t)b->ids[i].n;
    }
    b->n = 0;
    b->bytes = 0;
    note(&r->st, o);
}

static size_t cut_at(void *tok, const char *s, size_t n)
{
    return tokenizer_cut(tok, s, n);
}

static void tokenize_input(Run *r, Batch *b, const char *path, const Opts *o)
{
    DocInMode mode = o->jsonl ? DOCIN_JSONL : o->lines ? DOCIN_LINES : o->text ? DOCIN_FILE
                                                                              : DOCIN_AUTO;
    DocIn in;
    Error err = {0};
    if (docin_open(&in, path, mode, o->field, cut_at, &r->tok[0], TEXT_CHUNK, &err))
        fail_run(r, &err);
    uint64_t before = r->st.bytes;
    for (;;) {
        int got = docin_next(&in, &b->rec[b->n], &err);
        r->st.bytes = before + docin_bytes(&in);
        if (got < 0)
            fail_run(r, &err);
        if (got == 0)
            break;
        b->file[b->n] = in.mode == DOCIN_JSONL ? path_name(path) : NULL;
        b->line[b->n] = in.line;
        b->first[b->n] = (char)in.first;
        b->last[b->n] = (char)in.last;
        b->bytes += b->rec[b->n].n;
        if (++b->n == BATCH_DOCS || b->bytes >= BATCH_BYTES)
            flush_batch(r, b, o);
    }
    docin_close(&in);
}

static void summary(Run *r, const Opts *o)
{
    if (o->quiet)
        return;
    if (r->st.shown)
        fputc('\n', stderr);
    double dt = now() - r->st.t0;
    const Tokenizer *t = &r->tok[0];
    fprintf(stderr, "tokenized %lld documents (%lld empty, %lld bad lines skipped), %.1f MB of "
            "text (%.1f MB read), into %lld tokens in %.2f s: %.2f MB/s of text, %.0f tokens/s, "
            "%d thread%s\n", (long long)r->st.docs, (long long)r->st.empty,
            (long long)r->st.skipped, (double)r->st.text / 1e6, (double)r->st.bytes / 1e6,
            (long long)r->st.tokens, dt, (double)r->st.text / 1e6 / dt,
            (double)r->st.tokens / dt, r->nthreads, r->nthreads == 1 ? "" : "s");
    fprintf(stderr, "train: %lld tokens in %d shard%s %s_train_*.bin; val: %lld tokens in %d "
            "shard%s\n", (long long)r->train.total, r->train.nfiles,
            r->train.nfiles == 1 ? "" : "s", o->out, (long long)r->val.total, r->val.nfiles,
            r->val.nfiles == 1 ? "" : "s");
    fprintf(stderr, "tokenizer %s (%s): %d ids, %s shards; train with model.vocab_size >= %d\n",
            t->path, t->family, t->vocab_size, r->train.u32 ? "uint32" : "uint16",
            t->vocab_size);
}

/* Read an llm.c shard's tokens (either width). */
static int32_t *read_shard(const char *path, int64_t *n, Error *err)
{
    FILE *f = fopen(path, "rb");
    unsigned char h[SHARD_HEADER_INTS * 4];
    if (!f) {
        err_set(err, PT_EINPUT, "%s: cannot open", path);
        return NULL;
    }
    if (fread(h, 1, sizeof h, f) != sizeof h) {
        fclose(f);
        err_set(err, PT_EINPUT, "%s: too short for an llm.c shard", path);
        return NULL;
    }
    uint32_t magic = h[0] | h[1] << 8 | h[2] << 16 | (uint32_t)h[3] << 24;
    *n = h[8] | h[9] << 8 | h[10] << 16 | (int64_t)h[11] << 24;
    int w = magic == SHARD_MAGIC_U16 ? 2 : magic == SHARD_MAGIC_U32 ? 4 : 0;
    if (!w) {
        fclose(f);
        err_set(err, PT_EINPUT, "%s: bad magic %u: not an llm.c shard", path, magic);
        return NULL;
    }
    unsigned char *raw = xmalloc((size_t)*n * (size_t)w);
    int32_t *ids = xmalloc((size_t)*n * sizeof *ids);
    size_t got = fread(raw, (size_t)w, (size_t)*n, f);
    fclose(f);
    if (got != (size_t)*n) {
        free(raw);
        free(ids);
        err_set(err, PT_EINPUT, "%s: header says %lld tokens, the file holds %zu", path,
                (long long)*n, got);
        return NULL;
    }
    for (int64_t i = 0; i < *n; i++) {
        const unsigned char *p = raw + i * w;
        ids[i] = w == 2 ? p[0] | p[1] << 8 : (int32_t)(p[0] | p[1] << 8 | p[2] << 16 |
                                                        (uint32_t)p[3] << 24);
    }
    free(raw);
    return ids;
}

static int decode_shards(Tokenizer *t, char **paths, int n)
{
    for (int i = 0; i < n; i++) {
        Error err = {0};
        int64_t ntok;
        int32_t *ids = read_shard(paths[i], &ntok, &err);
        if (!ids)
            cli_fail(&cli, &err);
        ByteVec text = {0};
        if (tokenizer_decode(t, ids, (size_t)ntok, &text, &err))
            cli_fail(&cli, &err);
        if (fwrite(text.v, 1, text.n, stdout) != text.n)
            cli_die(&cli, PT_ERUNTIME, "stdout: write failed");
        bytevec_free(&text);
        free(ids);
    }
    if (fflush(stdout) != 0)
        cli_die(&cli, PT_ERUNTIME, "stdout: write failed");
    return 0;
}

static void parse_split(Opts *o)
{
    Error err = {0};
    if (o->val_fraction_s && o->val_tokens_s)
        cli_usage_error(&cli, "give --val-fraction or --val-tokens, not both");
    if (o->val_fraction_s) {
        char *end;
        o->val_fraction = strtod(o->val_fraction_s, &end);
        if (end == o->val_fraction_s || *end || !(o->val_fraction > 0 && o->val_fraction < 1))
            cli_usage_error(&cli, "--val-fraction: expected a number between 0 and 1, got '%s'",
                            o->val_fraction_s);
    }
    long v;
    if (o->val_tokens_s) {
        if (cli_parse_long("--val-tokens", o->val_tokens_s, 1, INT64_MAX, &v, &err))
            cli_usage_error(&cli, "%s", err.msg);
        o->val_tokens = v;
    }
}

int main(int argc, char **argv)
{
    Opts o = {.field = "text", .shard_tokens = 100000000, .threads = 0};
    CliOption options[] = {
        OPT_STRING("tokenizer", 0, &o.tokenizer),
        OPT_STRING("out", 'o', &o.out),
        OPT_STRING("field", 0, &o.field),
        OPT_FLAG("jsonl", 0, &o.jsonl),
        OPT_FLAG("text", 0, &o.text),
        OPT_FLAG("lines", 0, &o.lines),
        OPT_FLAG("append-eos", 0, &o.append_eos),
        OPT_STRING("eos", 0, &o.eos_name),
        OPT_STRING("val-fraction", 0, &o.val_fraction_s),
        OPT_STRING("val-tokens", 0, &o.val_tokens_s),
        OPT_INT("shard-tokens", 0, &o.shard_tokens, 1, 2147483647L),
        OPT_INT("threads", 0, &o.threads, 1, 1024),
        OPT_FLAG("skip-bad", 0, &o.skip_bad),
        OPT_FLAG("force", 0, &o.force),
        OPT_FLAG("decode", 0, &o.decode),
        OPT_FLAG("quiet", 'q', &o.quiet),
        OPT_END,
    };
    int first = cli_parse(&cli, options, argc, argv);
    if (!o.tokenizer)
        cli_usage_error(&cli, "--tokenizer is required");
    if (first >= argc)
        cli_usage_error(&cli, o.decode ? "no shard to decode" : "no input (give files or -)");
    if (o.jsonl + o.text + o.lines > 1)
        cli_usage_error(&cli, "give at most one of --jsonl, --text, --lines");
    if (!o.decode && !o.out)
        cli_usage_error(&cli, "--out PREFIX is required");
    parse_split(&o);

    Run r = {0};
    r.nthreads = o.decode ? 1 : o.threads ? o.threads : omp_get_num_procs();
    r.tok = xcalloc((size_t)r.nthreads, sizeof *r.tok);
    Error err = {0};
    for (int i = 0; i < r.nthreads; i++)
        if (tokenizer_load(&r.tok[i], o.tokenizer, &err))
            cli_fail(&cli, &err);
    if (o.decode)
        return decode_shards(&r.tok[0], argv + first, argc - first);

    const Tokenizer *t = &r.tok[0];
    r.nbos = t->nbos;
    memcpy(r.bos, t->bos, sizeof r.bos);
    /* The template's closing tokens always; else one EOS when asked for or when nothing
     * else separates the documents (docs/tokenize.md). */
    r.neos = t->neos;
    memcpy(r.eos, t->eos, sizeof r.eos);
    if (o.eos_name || (!t->neos && (o.append_eos || !t->nbos))) {
        r.eos[0] = find_eos(t, o.eos_name);
        r.neos = 1;
        if (r.eos[0] < 0 && o.eos_name)
            cli_die(&cli, PT_EINPUT, "--eos %s: not a token of %s", o.eos_name, t->path);
        if (r.eos[0] < 0)
            cli_die(&cli, PT_EINPUT, "%s: no end-of-document token found (give --eos TOKEN)",
                    t->path);
    }
    check_output(&o);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", o.out);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (make_dirs(dir, &err))
            cli_fail(&cli, &err);
    }
    int u32 = t->vocab_size > 65536;
    shardout_init(&r.train, o.out, "train", u32, o.shard_tokens);
    shardout_init(&r.val, o.out, "val", u32, o.shard_tokens);
    r.st.t0 = r.st.last_note = now();
    r.st.tty = isatty(STDERR_FILENO);

    Batch b;
    batch_init(&b);
    for (int i = first; i < argc; i++)
        tokenize_input(&r, &b, argv[i], &o);
    flush_batch(&r, &b, &o);
    if (r.train.total == 0 && r.val.total == 0) {
        Error none = {0};
        err_set(&none, PT_EINPUT, "no tokens: the input holds no documents (nothing written)");
        fail_run(&r, &none);
    }
    if (shardout_commit(&r.train, &err) || shardout_commit(&r.val, &err))
        fail_run(&r, &err);
    if (o.force) {
        remove_stale(o.out, "train", r.train.nfiles);
        remove_stale(o.out, "val", r.val.nfiles);
    }
    summary(&r, &o);
    batch_free(&b);
    for (int i = 0; i < r.nthreads; i++)
        tokenizer_free(&r.tok[i]);
    free(r.tok);
    return 0;
}
