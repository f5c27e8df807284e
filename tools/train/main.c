/* picotron-train: train a Llama model from a JSON config (picotron's schema). */
#include <stdio.h>

#include "config.h"
#include "toolrun.h"
#include "trainer.h"

static const char usage[] =
    "usage: picotron-train --config FILE [options]\n"
    "\n"
    "Train a Llama model as the config says; one line per step on stdout:\n"
    "  step N loss X lr X grad_norm X tok/s X mfu X% [val_loss X]\n"
    "(mfu: percent of the measured CPU sgemm peak, on a GPU of its best fp32 cuBLASLt GEMM)\n"
    "and metrics.jsonl + config.resolved.json in the run directory (logging.run_dir, by\n"
    "default the config file's directory); a banner, notes and warnings on stderr.\n"
    "Where it computes: environment.device auto (a GPU of this node when there is one,\n"
    "else the CPU with one line saying why), cuda or cpu (docs/cuda.md).\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     run configuration (JSON); '-' reads it from stdin\n"
    "  -s, --steps N         stop after N steps (the LR schedule still follows\n"
    "                        training.total_train_steps)\n"
    "      --set KEY=VALUE   override one config key, e.g. --set training.seq_length=128\n"
    "                        (repeatable; VALUE is JSON, else a string)\n"
    TOOLRUN_TRACE_USAGE
    "      --no-metrics      do not write metrics.jsonl / config.resolved.json\n"
    "      --signal-grace S  seconds a run has, after SIGTERM/SIGUSR1/SIGINT, to reach a\n"
    "                        step boundary and save; then it ends without saving\n"
    "                        (default 270: 90% of picotron-submit's 300 s signal lead;\n"
    "                        0: wait forever)\n"
    "  -q, --quiet           no banner, notes or closing line on stderr (step lines,\n"
    "                        warnings and errors remain)\n"
    "  -h, --help            this help\n"
    "\n"
    "exit status: 0 done, 1 runtime failure (I/O, full disk, diverged loss), 2 bad input,\n"
    "  75 stopped by SIGTERM/SIGUSR1/SIGINT after saving a checkpoint, or before the first\n"
    "  step with one to resume from (requeue and resume), 128+N a rank killed by signal N\n"
    "\n"
    "example:\n"
    "  picotron-train --config examples/tiny.json --steps 20 --set training.learning_rate=1e-3\n";

int main(int argc, char **argv)
{
    RunArgs args = {.steps = 0};
    int no_metrics = 0, quiet = 0, grace = 270;
    const CliOption options[] = {
        TOOLRUN_OPTIONS(&args, 1, 1000000000),
        OPT_FLAG("no-metrics", 0, &no_metrics),
        OPT_FLAG("quiet", 'q', &quiet),
        OPT_INT("signal-grace", 0, &grace, 0, 1000000),
        OPT_END,
    };
    ToolRun run;
    Config cfg;
    int code;
    toolrun_begin(&run, "picotron-train", usage, &argc, &argv);
    if (toolrun_prepare(&run, &cfg, options, &args, argc, argv, &code))
        return code;
    TrainOptions opt = {.max_steps = args.steps, .quiet = quiet, .step_lines = 1,
                        .write_metrics = !no_metrics, .checkpoints = 1, .out = stdout,
                        .signal_grace = grace};
    toolrun_trace(&run, &args, &cfg, &opt);
    TrainReport rep;
    Error err = {0};
    if (trainer_run(&cfg, toolrun_comm(&run), &opt, &rep, &err))
        toolrun_fail(&run, &err);
    if (!opt.quiet && run.speaker)
        fprintf(stderr, "picotron-train: done: %d steps, loss %.4f -> %.4f, %.0f tok/s\n",
                rep.steps, rep.first_loss, rep.last_loss, rep.tokens_per_s);
    toolrun_exit(0);
}
