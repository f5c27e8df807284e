/* picotron-bench: throughput and MFU of a config on this machine, against the best OpenBLAS
 * sgemm rate measured in the same run (the CPU's attainable peak). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "metrics.h"
#include "trainer.h"

static const char usage[] =
    "usage: picotron-bench --config FILE [options]\n"
    "\n"
    "Train the config for a few steps (nothing written) and report tokens/s, achieved GFLOP/s\n"
    "(tokens/s x flops_per_token, DESIGN §7) and its ratio to the best sgemm rate measured in\n"
    "the same run with the same threads. The first step is warm-up and not timed.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     run configuration (JSON); '-' reads stdin\n"
    "  -s, --steps N         steps to run (default 10)\n"
    "      --set KEY=VALUE   override one config key (repeatable)\n"
    "      --label TEXT      name of this row in the output (default: the config path)\n"
    "      --json            one JSON object instead of the text table row\n"
    "  -h, --help            this help\n"
    "\n"
    "example:\n"
    "  picotron-bench --config examples/bench-10m.json --steps 10 --set environment.OMP_NUM_THREADS=1\n";

static void __attribute__((noreturn)) usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "picotron-bench: %s%s%s (try 'picotron-bench --help')\n", msg, arg ? " " : "",
            arg ? arg : "");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, 0, 'c'}, {"steps", required_argument, 0, 's'},
        {"set", required_argument, 0, 'S'},    {"label", required_argument, 0, 'L'},
        {"json", no_argument, 0, 'J'},         {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *config_path = NULL, *label = NULL;
    char **sets = calloc((size_t)argc, sizeof *sets);
    int nsets = 0, steps = 10, json = 0, c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 's': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 2 || n > 100000)
                usage_error("--steps: expected an integer >= 2, got", optarg);
            steps = (int)n;
            break;
        }
        case 'S': sets[nsets++] = optarg; break;
        case 'L': label = optarg; break;
        case 'J': json = 1; break;
        case 'h': fputs(usage, stdout); return 0;
        case ':': usage_error("option needs a value:", argv[optind - 1]);
        default: usage_error("unknown option", argv[optind - 1]);
        }
    }
    if (optind < argc)
        usage_error("unexpected argument", argv[optind]);
    if (!config_path)
        usage_error("missing --config FILE", NULL);

    Config cfg;
    Error err = {0};
    if (config_load(&cfg, config_path, &err))
        err_die("picotron-bench", &err);
    for (int i = 0; i < nsets; i++)
        if (config_set(&cfg, sets[i], &err))
            err_die("picotron-bench", &err);
    if (config_validate(&cfg, &err))
        err_die("picotron-bench", &err);
    free(sets);

    TrainOptions opt = {.max_steps = steps, .quiet = 1, .write_metrics = 0, .out = stdout};
    TrainReport rep;
    /* The peak is taken before and after the run and the better figure kept: a neighbour
     * stealing the CPU during one measurement must not inflate the ratio. */
    double peak_before = metrics_sgemm_gflops(1024, 5);
    if (trainer_run(&cfg, MPI_COMM_NULL, &opt, &rep, &err))
        err_die("picotron-bench", &err);
    double peak_after = metrics_sgemm_gflops(1024, 5);
    rep.peak_gflops = peak_after > peak_before ? peak_after : peak_before;
    FlopCount fc = metrics_flops(&cfg.model.dims, cfg.training.seq_length);
    double gflops = rep.tokens_per_s * fc.flops_per_token / 1e9;
    double gflops_causal = rep.tokens_per_s * fc.flops_per_token_causal / 1e9;
    if (!label)
        label = config_path;
    if (json) {
        printf("{\"label\": \"%s\", \"params\": %lld, \"params_no_embed\": %lld, \"threads\": %d, "
               "\"steps\": %d, \"tokens_per_s\": %.2f, \"flops_per_token\": %.6g, "
               "\"gflops\": %.3f, \"gflops_causal\": %.3f, \"sgemm_peak_gflops\": %.3f, "
               "\"fraction_of_sgemm\": %.4f, \"final_loss\": %.6f}\n",
               label, (long long)fc.n_params, (long long)fc.n_params_no_embed, rep.threads,
               rep.steps, rep.tokens_per_s, fc.flops_per_token, gflops, gflops_causal,
               rep.peak_gflops, gflops / rep.peak_gflops, rep.last_loss);
    } else {
        printf("%-28s params %6.2fM threads %d tok/s %9.0f GFLOP/s %7.2f (causal %7.2f) "
               "sgemm peak %7.2f ratio %.3f\n",
               label, (double)fc.n_params / 1e6, rep.threads, rep.tokens_per_s, gflops,
               gflops_causal, rep.peak_gflops, gflops / rep.peak_gflops);
    }
    return 0;
}
