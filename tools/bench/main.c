/* picotron-bench: throughput and MFU of a config on this machine, against the best OpenBLAS
 * sgemm rate measured in the same run (the CPU's attainable peak). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comm.h"
#include "config.h"
#include "kernels/kernels.h"
#include "launch.h"
#include "metrics.h"
#include "toolrun.h"
#include "trainer.h"

static const char usage[] =
    "usage: picotron-bench --config FILE [options]\n"
    "\n"
    "Train the config for a few steps (nothing written) and report tokens/s, achieved GFLOP/s\n"
    "(tokens/s x flops_per_token; docs/math.md, MFU) and its ratio to the best sgemm rate measured in\n"
    "the same run with the same threads (times the number of ranks), and the share of step\n"
    "time rank 0 spent waiting on each parallel group (tp, cp, pp, dp). Meshes with several\n"
    "ranks start them through mpirun as picotron-train does. The first step is not timed.\n"
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

int main(int argc, char **argv)
{
    RunArgs args = {.steps = 10};
    const char *label = NULL;
    int json = 0;
    const CliOption options[] = {
        TOOLRUN_OPTIONS(&args, 2, 100000),
        OPT_STRING("label", 0, &label),
        OPT_FLAG("json", 0, &json),
        OPT_END,
    };
    ToolRun run;
    Config cfg;
    Error err = {0};
    int code;
    toolrun_begin(&run, "picotron-bench", usage, &argc, &argv);
    if (toolrun_prepare(&run, &cfg, options, &args, argc, argv, &code))
        return code;

    /* a benchmark writes nothing: no metrics, no checkpoints read or written */
    TrainOptions opt = {.max_steps = args.steps, .quiet = 1, .write_metrics = 0, .checkpoints = 0,
                        .out = stdout};
    TrainReport rep;
    /* The peak is taken before and after the run and the better figure kept: a neighbour
     * stealing the CPU during one measurement must not inflate the ratio. */
    kernels_set_threads(trainer_threads(&cfg, run.under_launcher ? launch_local_ranks() : 1));
    double peak_before = run.speaker ? kernels_sgemm_peak_gflops(1024, 5) : 0.0;
    if (trainer_run(&cfg, toolrun_comm(&run), &opt, &rep, &err))
        toolrun_fail(&run, &err);
    if (!run.speaker)
        toolrun_exit(0);
    double peak_after = kernels_sgemm_peak_gflops(1024, 5);
    double peak = peak_after > peak_before ? peak_after : peak_before;
    int ranks = config_world_size(&cfg);
    FlopCount fc = metrics_flops(&cfg.model.dims, cfg.training.seq_length);
    double gflops = rep.tokens_per_s * fc.flops_per_token / 1e9;
    double gflops_causal = rep.tokens_per_s * fc.flops_per_token_causal / 1e9;
    /* the ratio compares all ranks' work with one rank's sgemm rate at its thread count */
    double ratio = gflops / (peak * ranks);
    char comm[256];
    int len = 0;
    for (int k = 0; k < COMM_KINDS; k++)
        if (rep.comm_fraction_by_kind[k] > 0.0)
            len += snprintf(comm + len, sizeof comm - (size_t)len, "%s%s %.1f%%", len ? ", " : "",
                            comm_kind_name((CommKind)k), 100.0 * rep.comm_fraction_by_kind[k]);
    if (!len)
        snprintf(comm, sizeof comm, "none");
    if (!label)
        label = args.config_path;
    if (json) {
        json_t *js = json_string(label);
        char *quoted = json_dumps(js, JSON_ENCODE_ANY); /* escaped, with its quotes */
        json_decref(js);
        printf("{\"label\": %s, \"ranks\": %d, \"params\": %lld, \"params_no_embed\": %lld, "
               "\"threads\": %d, \"steps\": %d, \"tokens_per_s\": %.2f, \"flops_per_token\": %.6g, "
               "\"gflops\": %.3f, \"gflops_causal\": %.3f, \"sgemm_peak_gflops\": %.3f, "
               "\"fraction_of_sgemm\": %.4f, \"comm_fraction\": %.4f, \"final_loss\": %.6f, "
               "\"blas\": \"%s\"}\n",
               quoted, ranks, (long long)fc.n_params, (long long)fc.n_params_no_embed, rep.threads,
               rep.steps, rep.tokens_per_s, fc.flops_per_token, gflops, gflops_causal, peak, ratio,
               rep.comm_fraction, rep.last_loss, kernels_blas_path());
        free(quoted);
    } else {
        printf("%-26s %d rank%s x %d thr  tok/s %8.0f  GFLOP/s %7.2f (causal %7.2f)  sgemm %7.2f/rank"
               "  ratio %.3f  comm wait: %s\n",
               label, ranks, ranks == 1 ? " " : "s", rep.threads, rep.tokens_per_s, gflops,
               gflops_causal, peak, ratio, comm);
    }
    toolrun_exit(0);
}
