/* picotron: the dispatcher. `picotron X args...` runs picotron-X from the directory holding
 * this executable (then PATH), as git runs git-X. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "proc.h"

static const char *const tools[][2] = {
    {"train", "train a Llama model from a JSON config"},
    {"create-config", "write a run config (picotron's create_config.py flags)"},
    {"submit", "render, submit and track Slurm jobs"},
    {"shard-ckpt", "reshard checkpoints between mesh shapes"},
    {"convert-hf", "Hugging Face safetensors <-> picotron checkpoints"},
    {"bench", "throughput and MFU measurement"},
    {"metrics", "one table over many runs: status, mesh, tokens/s, MFU, memory, losses"},
    {"plot", "loss and throughput of runs against step or tokens (SVG/PNG, gnuplot)"},
    {"trace", "timelines of --trace: merge ranks, summarise steps, bubbles, waits"},
    {"tokenize", "text/JSONL (gzip, zstd) to token shards with a model's tokenizer.json"},
};
#define NTOOLS (sizeof tools / sizeof tools[0])

/* Path of picotron-<name> beside this executable, if it exists. */
static int sibling(char *out, size_t len, const char *name)
{
    char tool[128];
    snprintf(tool, sizeof tool, "picotron-%s", name);
    return proc_beside_self(tool, out, len);
}

static void help(FILE *f)
{
    fprintf(f, "usage: picotron <tool> [args...]   (picotron <tool> --help for its options)\n\ntools:\n");
    for (size_t i = 0; i < NTOOLS; i++) {
        char path[PATH_MAX + 256];
        if (sibling(path, sizeof path, tools[i][0]))
            fprintf(f, "  %-14s %s\n", tools[i][0], tools[i][1]);
    }
    char path[PATH_MAX + 256];
    if (proc_beside_self("text2shard", path, sizeof path))
        fprintf(f, "\nalso built (run it directly):\n  %-14s %s\n", "text2shard",
                "byte-level (vocab 256) token shards from text files");
    fprintf(f, "\nexample:\n  picotron train --config examples/tiny.json\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        help(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        help(stdout);
        return 0;
    }
    int known = 0;
    for (size_t i = 0; i < NTOOLS; i++)
        known |= !strcmp(argv[1], tools[i][0]);
    if (!known) {
        const Cli cli = {.prog = "picotron"};
        cli_usage_error(&cli, "unknown tool %s", argv[1]);
    }
    char path[PATH_MAX + 256], name[128];
    snprintf(name, sizeof name, "picotron-%s", argv[1]);
    argv[1] = name;
    if (sibling(path, sizeof path, argv[1] + strlen("picotron-")))
        execv(path, argv + 1);
    execvp(name, argv + 1);
    fprintf(stderr, "picotron: cannot run %s: %s\n", name, strerror(errno));
    return errno == ENOENT ? 2 : 1;
}
