/* text2shard: text files into byte-level llm.c shards (vocab 256, token = byte value), the data
 * picotron can train on without a tokenizer. Optionally splits the tail off as validation. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data.h"

static const char usage[] =
    "usage: text2shard [--val-fraction F] INPUT... --out TRAIN.bin [--val-out VAL.bin]\n"
    "\n"
    "Concatenate the bytes of the INPUT files (\"-\" for stdin) and write them as a byte-level\n"
    "llm.c shard (vocab_size 256, token = byte value, uint16 format).\n"
    "\n"
    "  --out PATH           training shard to write\n"
    "  --val-out PATH       also write a validation shard from the last bytes\n"
    "  --val-fraction F     fraction of the bytes for --val-out, 0 < F < 1 (default 0.1)\n"
    "  --help               this text\n"
    "\n"
    "example:\n"
    "  bin/text2shard book1.txt book2.txt --out data/train.bin --val-out data/val.bin\n"
    "then train with dataset.name \"data/train.bin\", dataset.validation \"data/val.bin\"\n"
    "and model.vocab_size 256.\n";

typedef struct {
    unsigned char *buf;
    size_t len, cap;
} Bytes;

/* A usage error: one line on stderr, exit 2. */
static void __attribute__((noreturn, format(printf, 1, 2))) die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("text2shard: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see text2shard --help)\n", stderr);
    exit(PT_EINPUT);
}

/* Append the whole of f to b. */
static int read_all(FILE *f, Bytes *b)
{
    for (;;) {
        if (b->len == b->cap) {
            b->cap = b->cap ? 2 * b->cap : 1 << 20;
            unsigned char *p = realloc(b->buf, b->cap);
            if (!p) {
                fprintf(stderr, "text2shard: out of memory reading input\n");
                exit(PT_ERUNTIME);
            }
            b->buf = p;
        }
        size_t got = fread(b->buf + b->len, 1, b->cap - b->len, f);
        b->len += got;
        if (got == 0)
            return ferror(f) ? -1 : 0;
    }
}

static void read_input(const char *path, Bytes *b)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "text2shard: %s: %s\n", path, strerror(errno));
        exit(PT_EINPUT);
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "text2shard: %s: is a directory, not a text file\n", path);
        exit(PT_EINPUT);
    }
    if (read_all(f, b) != 0) {
        fprintf(stderr, "text2shard: %s: read failed: %s\n", path, strerror(errno));
        exit(PT_ERUNTIME);
    }
    if (f != stdin)
        fclose(f);
}

/* Bytes [from, to) of the text as tokens, written to path. */
static void write_part(const Bytes *b, size_t from, size_t to, const char *path)
{
    int64_t n = (int64_t)(to - from);
    int32_t *tokens = xmalloc((size_t)n * sizeof *tokens);
    for (int64_t i = 0; i < n; i++)
        tokens[i] = b->buf[from + (size_t)i];
    Error err = {0};
    if (data_write_shard(path, tokens, n, 0, &err) != PT_OK)
        err_die("text2shard", &err);
    free(tokens);
    fprintf(stderr, "wrote %lld tokens to %s\n", (long long)n, path);
}

static double parse_fraction(const char *s)
{
    char *end;
    double f = strtod(s, &end);
    if (end == s || *end != '\0' || !(f > 0 && f < 1))
        die_usage("--val-fraction: \"%s\" is not a number between 0 and 1", s);
    return f;
}

/* The value after option argv[*i]. */
static const char *option_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        die_usage("%s needs a value", argv[*i]);
    return argv[++*i];
}

int main(int argc, char **argv)
{
    const char *out = NULL, *val_out = NULL;
    double val_fraction = 0.1;
    const char **inputs = xcalloc((size_t)argc, sizeof *inputs);
    int ninputs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            free(inputs);
            return 0;
        } else if (strcmp(a, "--out") == 0) {
            out = option_value(argc, argv, &i);
        } else if (strcmp(a, "--val-out") == 0) {
            val_out = option_value(argc, argv, &i);
        } else if (strcmp(a, "--val-fraction") == 0) {
            val_fraction = parse_fraction(option_value(argc, argv, &i));
        } else if (a[0] == '-' && a[1] != '\0') {
            die_usage("unknown option %s", a);
        } else {
            inputs[ninputs++] = a;
        }
    }
    if (!out)
        die_usage("--out TRAIN.bin is required");
    if (ninputs == 0)
        die_usage("no input files");

    Bytes text = {0};
    for (int i = 0; i < ninputs; i++)
        read_input(inputs[i], &text);
    free(inputs);
    size_t nval = val_out ? (size_t)llround((double)text.len * val_fraction) : 0;
    if (text.len == 0 || nval >= text.len || (val_out && nval == 0)) {
        fprintf(stderr, "text2shard: %zu input bytes are too few to write %s\n", text.len,
                val_out ? "both a training and a validation shard" : "a shard");
        exit(PT_EINPUT);
    }
    write_part(&text, 0, text.len - nval, out);
    if (val_out)
        write_part(&text, text.len - nval, text.len, val_out);
    free(text.buf);
    return 0;
}
