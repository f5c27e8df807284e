/* picotron-train: train a Llama model from a JSON config (picotron's schema). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "toolrun.h"
#include "trainer.h"

static const char usage[] =
    "usage: picotron-train --config FILE [options]\n"
    "\n"
    "Train a Llama model as the config says; one line per step on stdout:\n"
    "  step N loss X lr X grad_norm X tok/s X mfu X [val_loss X]\n"
    "and metrics.jsonl + config.resolved.json in the run directory (logging.run_dir,\n"
    "by default the config file's directory).\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     run configuration (JSON); '-' reads it from stdin\n"
    "  -s, --steps N         stop after N steps (the LR schedule still follows\n"
    "                        training.total_train_steps)\n"
    "      --set KEY=VALUE   override one config key, e.g. --set training.seq_length=128\n"
    "                        (repeatable; VALUE is JSON, else a string)\n"
    "      --no-metrics      do not write metrics.jsonl / config.resolved.json\n"
    "  -q, --quiet           no banner and no step lines\n"
    "  -h, --help            this help\n"
    "\n"
    "exit status: 0 done, 1 runtime failure (I/O, diverged loss), 2 bad input\n"
    "\n"
    "example:\n"
    "  picotron-train --config examples/tiny.json --steps 20 --set training.learning_rate=1e-3\n";

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, 0, 'c'}, {"steps", required_argument, 0, 's'},
        {"set", required_argument, 0, 'S'},    {"no-metrics", no_argument, 0, 'M'},
        {"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    ToolRun run;
    toolrun_begin(&run, "picotron-train", &argc, &argv);
    const char *config_path = NULL;
    char **sets = calloc((size_t)argc, sizeof *sets);
    int nsets = 0;
    TrainOptions opt = {.max_steps = 0, .quiet = 0, .write_metrics = 1, .checkpoints = 1,
                        .out = stdout};
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":c:s:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 's': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n <= 0 || n > 1000000000)
                toolrun_usage_error(&run, "--steps: expected a positive integer, got", optarg);
            opt.max_steps = (int)n;
            break;
        }
        case 'S': sets[nsets++] = optarg; break;
        case 'M': opt.write_metrics = 0; break;
        case 'q': opt.quiet = 1; break;
        case 'h':
            if (run.speaker)
                fputs(usage, stdout);
            toolrun_exit(0);
        case ':': toolrun_usage_error(&run, "option needs a value:", argv[optind - 1]);
        default: toolrun_usage_error(&run, "unknown option", argv[optind - 1]);
        }
    }

    Config cfg;
    Error err = {0};
    int code;
    if (toolrun_prepare(&run, &cfg, argc, argv, optind, config_path, sets, nsets, &code))
        return code;
    free(sets);
    TrainReport rep;
    if (trainer_run(&cfg, toolrun_comm(&run), &opt, &rep, &err))
        toolrun_fail(&run, &err);
    if (!opt.quiet && run.speaker)
        fprintf(stderr, "picotron-train: done: %d steps, loss %.4f -> %.4f, %.0f tok/s\n",
                rep.steps, rep.first_loss, rep.last_loss, rep.tokens_per_s);
    toolrun_exit(0);
}
