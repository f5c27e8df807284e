/* picotron-train: train a Llama model from a JSON config (picotron's schema). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "config.h"
#include "launch.h"
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

/* Rank of this process among the launcher's, known before MPI_Init: only rank 0 speaks. */
static int launcher_rank(void)
{
    const char *vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return atoi(getenv(vars[i]));
    return 0;
}

static int speaker = 1; /* this process prints usage errors and failures */

static void __attribute__((noreturn)) finish(int code)
{
    int init = 0, done = 0;
    MPI_Initialized(&init);
    if (init) {
        MPI_Finalized(&done);
        if (!done)
            MPI_Finalize();
    }
    exit(code);
}

static void __attribute__((noreturn)) usage_error(const char *msg, const char *arg)
{
    if (speaker)
        fprintf(stderr, "picotron-train: %s%s%s (try 'picotron-train --help')\n", msg,
                arg ? " " : "", arg ? arg : "");
    finish(2);
}

static void __attribute__((noreturn)) fail(const Error *err)
{
    if (speaker)
        fprintf(stderr, "picotron-train: %s\n", err->msg);
    finish(err->code ? err->code : 1);
}

/* Under a launcher rank 0 reads the config (a file, or stdin which only it has) and every
 * rank gets the same text. */
static int read_config(const char *path, int under_launcher, char **text, Error *err)
{
    if (!under_launcher)
        return config_read_text(path, text, err);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    long len = 0;
    int rc = PT_OK;
    if (rank == 0) {
        rc = config_read_text(path, text, err);
        len = rc ? -1 : (long)strlen(*text);
    }
    MPI_Bcast(&len, 1, MPI_LONG, 0, MPI_COMM_WORLD);
    if (len < 0) {
        MPI_Bcast(err, (int)sizeof *err, MPI_BYTE, 0, MPI_COMM_WORLD);
        return err->code;
    }
    if (rank != 0)
        *text = calloc((size_t)len + 1, 1);
    MPI_Bcast(*text, (int)len, MPI_CHAR, 0, MPI_COMM_WORLD);
    return PT_OK;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, 0, 'c'}, {"steps", required_argument, 0, 's'},
        {"set", required_argument, 0, 'S'},    {"no-metrics", no_argument, 0, 'M'},
        {"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int under_launcher = launch_under_launcher();
    if (under_launcher) {
        MPI_Init(&argc, &argv);
        speaker = launcher_rank() == 0;
    }
    const char *config_path = NULL;
    char **sets = calloc((size_t)argc, sizeof *sets);
    int nsets = 0;
    TrainOptions opt = {.max_steps = 0, .quiet = 0, .write_metrics = 1, .out = stdout};
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":c:s:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 's': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n <= 0 || n > 1000000000)
                usage_error("--steps: expected a positive integer, got", optarg);
            opt.max_steps = (int)n;
            break;
        }
        case 'S': sets[nsets++] = optarg; break;
        case 'M': opt.write_metrics = 0; break;
        case 'q': opt.quiet = 1; break;
        case 'h':
            if (speaker)
                fputs(usage, stdout);
            finish(0);
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
    char *text = NULL;
    config_warnings(speaker);
    if (read_config(config_path, under_launcher, &text, &err) ||
        config_load_text(&cfg, text, config_path, &err))
        fail(&err);
    for (int i = 0; i < nsets; i++)
        if (config_set(&cfg, sets[i], &err))
            fail(&err);
    if (nsets && config_validate(&cfg, &err))
        fail(&err);
    free(sets);

    int world = cfg.distributed.dp_size * cfg.distributed.pp_size * cfg.distributed.cp_size *
                cfg.distributed.tp_size;
    if (!under_launcher && world > 1) {
        /* no launcher: start our own ranks; they read the config text again (stdin is
         * handed to rank 0 through mpirun) */
        int rc = launch_self(world, argv, strcmp(config_path, "-") == 0 ? text : NULL, &err);
        free(text);
        if (rc < 0)
            fail(&err);
        return rc;
    }
    free(text);
    TrainReport rep;
    if (trainer_run(&cfg, under_launcher ? MPI_COMM_WORLD : MPI_COMM_NULL, &opt, &rep, &err))
        fail(&err);
    if (!opt.quiet && speaker)
        fprintf(stderr, "picotron-train: done: %d steps, loss %.4f -> %.4f, %.0f tok/s\n",
                rep.steps, rep.first_loss, rep.last_loss, rep.tokens_per_s);
    finish(0);
}
