/* picotron-bench: throughput and MFU of a config on this machine, against the best OpenBLAS
 * sgemm rate measured in the same run (the CPU's attainable peak); --sweep runs a grid of
 * configs, one child bench per point, and picks the fastest that fits (lib/sweep, sweeprow). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomicfile.h"
#include "attntune.h"
#include "backend.h"
#include "comm.h"
#include "config.h"
#include "cpupeak.h"
#include "device.h"
#include "kernels/kernels.h"
#include "launch.h"
#include "metrics.h"
#include "proc.h"
#include "sweep.h"
#include "sweeprow.h"
#include "toolrun.h"
#include "trainer.h"

static const char usage[] =
    "usage: picotron-bench --config FILE [options]\n"
    "\n"
    "Train the config for a few steps (nothing written) and report tokens/s, achieved GFLOP/s\n"
    "(tokens/s x flops_per_token; docs/math.md, MFU) and its ratio to the best sgemm rate measured in\n"
    "the same run with the same threads (times the number of ranks), and the share of step\n"
    "time rank 0 spent waiting on each parallel group (tp, cp, pp, dp); a config's\n"
    "logging.peak_gflops replaces the measured rate. Meshes with several ranks start them\n"
    "through mpirun as picotron-train does. The first step is not timed.\n"
    "On environment.device cuda (docs/cuda.md) the rate is the best 8192^3 fp32 cuBLASLt GEMM\n"
    "and \"blas\" in --json names the card.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     run configuration (JSON); '-' reads stdin\n"
    "  -s, --steps N         steps to run (default 10)\n"
    "      --set KEY=VALUE   override one config key (repeatable)\n"
    TOOLRUN_TRACE_USAGE
    "      --label TEXT      name of this row in the output (default: the config path)\n"
    "      --json            one JSON object instead of the text table row\n"
    "  -h, --help            this help\n"
    "\n"
    "the peak MFU divides by (docs/benchmarks.md):\n"
    "      --peak            measure the best 1024^3 sgemm rate for every thread count from 1\n"
    "                        to the usable cores (or --peak-threads N only) and cache it for\n"
    "                        picotron-train's MFU, in $PICOTRON_PEAK_FILE, else\n"
    "                        $XDG_CACHE_HOME/picotron/cpu-peak.json, else\n"
    "                        ~/.cache/picotron/cpu-peak.json; no --config. Run it on a quiet machine\n"
    "      --peak-seconds S  whole seconds spent per thread count (default 3)\n"
    "      --peak-threads N  only this thread count\n"
    "      --tune-kernels    with --config: time attention's tile sizes (query tile x key\n"
    "                        block) on the config's attention shape for --peak-seconds (default\n"
    "                        3) and store the fastest in the same cache; picotron-train uses\n"
    "                        them for every run of that shape (T, heads per kv-head, head dim)\n"
    "                        and says so in its banner. Tuned tiles change attention's bits\n"
    "                        (within the golden tolerances), as another kernel path does\n"
    "\n"
    "sweep (a parallel-layout tuner; docs/benchmarks.md):\n"
    "      --sweep SPEC      run every point of a grid, e.g. 'dp=1,2 tp=1,2 mbs=1,2,4': short\n"
    "                        names dp tp pp cp zero pp_engine mbs grad_acc seq threads, or any\n"
    "                        key path; one bench run per point, then the table on stdout. A\n"
    "                        point the config refuses, that does not fit memory or that fails\n"
    "                        is a row with its reason\n"
    "      --mem-limit SIZE  memory the ranks of one point share (default: MemAvailable);\n"
    "                        a point whose planned bytes per rank exceed SIZE / ranks is not run\n"
    "      --keep-global-batch  set grad_acc so that dp x mbs x grad_acc stays the config's\n"
    "      --csv FILE        the table as CSV\n"
    "      --plot FILE.svg   tokens/s per point, drawn by gnuplot\n"
    "      --best            pick the fastest point that ran; with --out FILE, write the\n"
    "                        config with its values\n"
    "      --out FILE        where --best writes the config\n"
    "\n"
    "examples:\n"
    "  picotron-bench --peak\n"
    "  picotron-bench --tune-kernels --config examples/small.json\n"
    "  picotron-bench --config examples/bench-10m.json --steps 10 --set environment.OMP_NUM_THREADS=1\n"
    "  picotron-bench --config examples/tiny.json --steps 3 --sweep 'dp=1,2 mbs=2,4' --best --out best.json\n";

/* The options only a sweep takes. */
typedef struct {
    const char *spec, *mem_limit, *csv, *plot, *out;
    int best, keep_global_batch;
} SweepArgs;

/* The first line of a failed run's stderr that is not a config warning; "" when none. */
static const char *failure_line(char *text)
{
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        const char *ours = "picotron-bench: "; /* the child's own prefix: the row says who */
        if (!strncmp(line, ours, strlen(ours)))
            line += strlen(ours);
        size_t n = strlen(line), note = strlen(DEVICE_FALLBACK_NOTE);
        int fallback = n >= note && !strcmp(line + n - note, DEVICE_FALLBACK_NOTE);
        if (!strstr(line, "warning:") && !fallback && *line)
            return line;
        if (!nl)
            break;
        line = nl + 1;
    }
    return "";
}

/* The keys a point's config differs from the input file in: the --set keys, the sweep's,
 * and grad_acc when --keep-global-batch chose it. malloc'ed strings in a malloc'ed array. */
static char **point_keys(const RunArgs *args, const Sweep *s, int keep_global_batch, int *n)
{
    char **keys = xcalloc((size_t)(args->sets.n + s->naxes + 1), sizeof *keys);
    *n = 0;
    for (int i = 0; i < args->sets.n; i++) {
        const char *set = args->sets.items[i], *eq = strchr(set, '='); /* validated: has '=' */
        keys[(*n)++] = strndup(set, (size_t)(eq - set));
    }
    for (int a = 0; a < s->naxes; a++)
        keys[(*n)++] = strdup(s->axis[a].key);
    if (keep_global_batch)
        keys[(*n)++] = strdup("training.gradient_accumulation_steps");
    for (int i = 0; i < *n; i++)
        if (!keys[i])
            err_die("picotron-bench", &(Error){PT_ERUNTIME, "out of memory"});
    return keys;
}

static void free_keys(char **keys, int n)
{
    for (int i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
}

/* Run point p as a child picotron-bench --json and fill its row from the result. The child
 * gets the point's keys as the parent resolved them, so it runs exactly the config that was
 * sized. */
static void run_point(const char *self, const RunArgs *args, char **keys, int nkeys,
                      const Sweep *s, int p, const Config *cfg, SweepRow *row)
{
    char steps[16], label[512];
    snprintf(steps, sizeof steps, "%d", args->steps);
    sweep_point_label(s, p, label, sizeof label);
    char **sets = xcalloc((size_t)nkeys, sizeof *sets);
    const char **argv = xcalloc((size_t)(9 + 2 * nkeys), sizeof *argv);
    int n = 0;
    argv[n++] = self;
    argv[n++] = "--config";
    argv[n++] = args->config_path;
    argv[n++] = "--steps";
    argv[n++] = steps;
    argv[n++] = "--label";
    argv[n++] = label;
    argv[n++] = "--json";
    for (int k = 0; k < nkeys; k++) {
        json_t *v = config_key_value(cfg, keys[k]);
        char *text = json_dumps(v, JSON_ENCODE_ANY);
        json_decref(v);
        size_t len = strlen(keys[k]) + strlen(text) + 2;
        sets[k] = xmalloc(len);
        snprintf(sets[k], len, "%s=%s", keys[k], text);
        free(text);
        argv[n++] = "--set";
        argv[n++] = sets[k];
    }
    ProcResult res;
    Error err = {0};
    if (proc_run((char *const *)argv, &res, &err)) {
        row->status = SWEEP_FAILED;
        snprintf(row->reason, sizeof row->reason, "%s", err.msg);
    } else if (res.status != 0) {
        const char *line = failure_line(res.err);
        row->status = SWEEP_FAILED;
        if (*line)
            snprintf(row->reason, sizeof row->reason, "%s", line);
        else
            snprintf(row->reason, sizeof row->reason, "bench exited %d", res.status);
    } else if (sweeprow_from_json(row, res.out, &err)) {
        row->status = SWEEP_FAILED;
        snprintf(row->reason, sizeof row->reason, "%s", err.msg);
    }
    proc_result_free(&res);
    for (int k = 0; k < nkeys; k++)
        free(sets[k]);
    free(sets);
    free(argv);
}

/* The sweep's options: only with --sweep, in combinations that mean something. */
static void check_sweep_args(const ToolRun *run, const SweepArgs *sw, const char *label, int json,
                             const char *config_path)
{
    const Cli *cli = &run->cli;
    if (!sw->spec) {
        if (sw->mem_limit || sw->keep_global_batch || sw->csv || sw->plot || sw->best || sw->out)
            cli_usage_error(cli, "--mem-limit, --keep-global-batch, --csv, --plot, --best and "
                                 "--out go with --sweep");
        return;
    }
    if (run->under_launcher)
        cli_usage_error(cli, "--sweep starts its points itself: run it without a launcher");
    if (!strcmp(config_path, "-"))
        cli_usage_error(cli, "--sweep reads --config from a file (each point reads it again)");
    if (label || json)
        cli_usage_error(cli, "--label and --json are for one run; a sweep writes --csv FILE");
    if (sw->best != (sw->out != NULL))
        cli_usage_error(cli, "--best and --out FILE go together");
    if (sw->plot && !proc_on_path("gnuplot"))
        cli_usage_error(cli, "--plot needs gnuplot on PATH (Debian: apt-get install gnuplot-nox)");
}

/* Size, then run, every point; the table, CSV, plot and best config. Exits. */
static void bench_sweep(ToolRun *run, RunArgs *args, const SweepArgs *sw, const Config *base)
{
    const Cli *cli = &run->cli;
    Error err = {0};
    Sweep s;
    if (sweep_parse(&s, sw->spec, base, &err))
        cli_fail(cli, &err);
    for (int a = 0; a < s.naxes; a++)
        if (sw->keep_global_batch && !strcmp(s.axis[a].key, "training.gradient_accumulation_steps"))
            cli_usage_error(cli, "--keep-global-batch sets grad_acc itself: do not sweep it");
    uint64_t limit = 0;
    if (sw->mem_limit ? cli_parse_size("--mem-limit", sw->mem_limit, &limit, &err)
                      : sweep_mem_available(&limit, &err))
        cli_fail(cli, &err);
    char self[4096];
    if (!proc_beside_self("picotron-bench", self, sizeof self))
        cli_die(cli, 1, "cannot find picotron-bench beside this executable");
    int64_t global_batch = sw->keep_global_batch ? config_global_batch(base) : 0;
    int nkeys;
    char **keys = point_keys(args, &s, sw->keep_global_batch, &nkeys);

    SweepRow *rows = xcalloc((size_t)s.npoints, sizeof *rows);
    Config *best_cfg = xmalloc(sizeof *best_cfg);
    char label[512];
    for (int p = 0; p < s.npoints; p++) {
        SweepRow *row = &rows[p];
        Config cfg;
        Error perr = {0};
        row->mem_gib = -1.0;
        sweep_point_label(&s, p, label, sizeof label);
        if (sweep_point_config(&s, p, base, global_batch, &cfg, &perr)) {
            row->status = SWEEP_REFUSED;
            snprintf(row->reason, sizeof row->reason, "%s", perr.msg);
        } else {
            row->ranks = config_world_size(&cfg);
            double bytes = sweep_rank_bytes(&cfg), per_rank = (double)limit / row->ranks;
            row->mem_gib = bytes / (1024.0 * 1024 * 1024);
            if (bytes > per_rank) {
                row->status = SWEEP_UNFIT;
                snprintf(row->reason, sizeof row->reason,
                         "does not fit: %.3g GiB per rank > %.3g GiB (%.3g GiB / %d ranks)",
                         row->mem_gib, per_rank / (1024.0 * 1024 * 1024),
                         (double)limit / (1024.0 * 1024 * 1024), row->ranks);
            } else {
                run_point(self, args, keys, nkeys, &s, p, &cfg, row);
            }
        }
        fprintf(stderr, "picotron-bench: [%d/%d] %s: %s%s%s\n", p + 1, s.npoints, label,
                sweeprow_status_name(row->status), row->reason[0] ? ": " : "", row->reason);
    }

    sweeprow_print_table(stdout, &s, rows);
    fflush(stdout);
    int code = 0;
    if (sw->csv) {
        char *csv = sweeprow_csv(&s, rows);
        if (atomic_write_file(sw->csv, csv, strlen(csv), &err)) {
            fprintf(stderr, "picotron-bench: %s\n", err.msg);
            code = err.code;
        }
        free(csv);
    }
    Error plot_err = {0};
    if (sw->plot && sweeprow_plot(sw->plot, &s, rows, &plot_err)) {
        fprintf(stderr, "picotron-bench: %s\n", plot_err.msg);
        code = code ? code : plot_err.code;
    }
    if (sw->best) {
        int b = sweeprow_best(&s, rows);
        if (b < 0) {
            fprintf(stderr, "picotron-bench: --best: no point ran; nothing written to %s\n",
                    sw->out);
            code = code ? code : 1;
        } else {
            Error berr = {0};
            if (sweep_point_config(&s, b, base, global_batch, best_cfg, &berr) ||
                sweep_write_config(sw->out, run->config_text, (const char *const *)keys, nkeys,
                                   best_cfg, &berr)) {
                fprintf(stderr, "picotron-bench: %s\n", berr.msg);
                code = code ? code : berr.code;
            } else {
                sweep_point_label(&s, b, label, sizeof label);
                printf("best: %s (%.0f tokens/s); config written to %s\n", label,
                       rows[b].tokens_per_s, sw->out);
            }
        }
    }
    free(best_cfg);
    free(rows);
    free_keys(keys, nkeys);
    sweep_free(&s);
    cli_list_free(&args->sets);
    cli_exit(cli, code);
}

/* The rate this run's ratio divides by, measured now, never the cached peak (lib/cpupeak): the
 * ratio compares two rates taken under the same load. The CPU's is the 1024³ sgemm over the
 * current threads; a device's is its own GEMM ceiling (backend peak_gflops). */
static double same_run_peak(const Backend *be)
{
    return be->host_memory ? kernels_sgemm_peak_gflops(1024, 5) : be->peak_gflops(5);
}

/* --peak: measure and cache the peak per thread count (lib/cpupeak). Exits. */
static void bench_peak(ToolRun *run, int seconds, int only_threads)
{
    const Backend *be = backend_cpu();
    int cores = trainer_threads(&(Config){0}, 1);
    int from = only_threads ? only_threads : 1, to = only_threads ? only_threads : cores;
    char path[4096];
    if (!cpupeak_file(path, sizeof path))
        cli_die(&run->cli, PT_EINPUT, "no place for the peak cache: set PICOTRON_PEAK_FILE, "
                "XDG_CACHE_HOME or HOME");
    for (int t = from; t <= to; t++) {
        Error err = {0};
        be->set_threads(t);
        double g = cpupeak_measure(seconds), kept;
        if (cpupeak_store(t, g, &kept, &err))
            cli_fail(&run->cli, &err);
        printf("peak %d thread%s: %.1f GFLOP/s (best 1024^3 sgemm over %d s, %s)", t,
               t == 1 ? " " : "s", g, seconds, be->describe());
        if (kept > g)
            printf("; the cache keeps its earlier %.1f", kept);
        printf("\n");
    }
    printf("cached in %s\n", path);
    toolrun_exit(0);
}

/* --tune-kernels: time the attention tiles on the config's shape and cache the fastest
 * (lib/attntune). Exits. */
static void bench_tune(ToolRun *run, const Config *cfg, int seconds)
{
    const ModelDims *d = &cfg->model.dims;
    int tp = cfg->distributed.tp_size, T = cfg->training.seq_length;
    int H = d->num_attention_heads / tp, K = d->num_key_value_heads / tp;
    int D = d->hidden_size / d->num_attention_heads, B = cfg->training.micro_batch_size;
    int threads = trainer_threads(cfg, 1);
    backend_cpu()->set_threads(threads);
    AttnTiles res[32];
    int n = attntune_measure(B, T, H, K, D, seconds, res, 32);
    char key[64], path[4096];
    attntune_key(key, sizeof key, T, H / K, D);
    printf("attention %s (B=%d H=%d K=%d, %d thread%s): CPU ms of forward + backward, best "
           "of rounds over %d s\n", key, B, H, K, threads, threads == 1 ? "" : "s", seconds);
    for (int i = 0; i < n; i++)
        printf("  q_tile %4d  k_block %4d  %8.2f ms%s\n", res[i].q_tile, res[i].k_block,
               res[i].ms, res[i].q_tile == ATTENTION_Q_TILE && res[i].k_block ==
               ATTENTION_K_BLOCK ? "  (default)" : "");
    Error err = {0};
    if (attntune_store(T, H / K, D, &res[0], &err))
        cli_fail(&run->cli, &err);
    cpupeak_file(path, sizeof path);
    printf("cached %s: %d query x %d keys in %s\n", key, res[0].q_tile, res[0].k_block, path);
    toolrun_exit(0);
}

int main(int argc, char **argv)
{
    RunArgs args = {.steps = 10};
    const char *label = NULL;
    int json = 0;
    SweepArgs sw = {0};
    int peak_mode = 0, peak_threads = 0, tune = 0;
    int peak_seconds = 0; /* 0: not given (3) */
    const CliOption options[] = {
        OPT_FLAG("peak", 0, &peak_mode),
        OPT_FLAG("tune-kernels", 0, &tune),
        OPT_INT("peak-seconds", 0, &peak_seconds, 1, 600),
        OPT_INT("peak-threads", 0, &peak_threads, 1, CPUPEAK_MAX_THREADS),
        TOOLRUN_OPTIONS(&args, 2, 100000),
        OPT_STRING("label", 0, &label),
        OPT_FLAG("json", 0, &json),
        OPT_STRING("sweep", 0, &sw.spec),
        OPT_STRING("mem-limit", 0, &sw.mem_limit),
        OPT_FLAG("keep-global-batch", 0, &sw.keep_global_batch),
        OPT_STRING("csv", 0, &sw.csv),
        OPT_STRING("plot", 0, &sw.plot),
        OPT_FLAG("best", 0, &sw.best),
        OPT_STRING("out", 0, &sw.out),
        OPT_END,
    };
    ToolRun run;
    Config cfg;
    Error err = {0};
    int code;
    toolrun_begin(&run, "picotron-bench", usage, &argc, &argv);
    /* toolrun_prepare's steps, with the sweep branching off before any launch */
    int first_arg = cli_parse(&run.cli, options, argc, argv);
    if (first_arg < argc)
        cli_usage_error(&run.cli, "unexpected argument %s", argv[first_arg]);
    if (peak_mode) {
        if (args.config_path || sw.spec || label || json || args.sets.n)
            cli_usage_error(&run.cli, "--peak measures the machine: no --config, --set, --sweep, "
                                      "--label or --json with it");
        if (run.under_launcher)
            cli_usage_error(&run.cli, "--peak runs alone: start it without a launcher");
        bench_peak(&run, peak_seconds ? peak_seconds : 3, peak_threads);
    } else if (peak_threads || (peak_seconds && !tune)) {
        cli_usage_error(&run.cli, "--peak-seconds and --peak-threads go with --peak");
    }
    if (tune && (sw.spec || label || json || run.under_launcher))
        cli_usage_error(&run.cli, "--tune-kernels runs alone on one process: no --sweep, "
                                  "--label or --json with it, no launcher");
    if (!args.config_path)
        cli_usage_error(&run.cli, "missing --config FILE");
    check_sweep_args(&run, &sw, label, json, args.config_path);
    if (toolrun_config(&run, &cfg, args.config_path, &args.sets, &err))
        toolrun_fail(&run, &err);
    if (tune)
        bench_tune(&run, &cfg, peak_seconds ? peak_seconds : 3);
    if (sw.spec)
        bench_sweep(&run, &args, &sw, &cfg);
    cli_list_free(&args.sets);
    if (toolrun_maybe_launch(&run, &cfg, args.config_path, argv, &code, &err))
        return code;

    /* a benchmark writes nothing: no metrics, no checkpoints read or written */
    TrainOptions opt = {.max_steps = args.steps, .quiet = 1, .write_metrics = 0, .checkpoints = 0,
                        .out = stdout};
    toolrun_trace(&run, &args, &cfg, &opt);
    TrainReport rep;
    /* The peak is taken before and after the run and the better figure kept: a neighbour
     * stealing the CPU during one measurement must not inflate the ratio. A peak given in
     * logging.peak_gflops is used as it is. */
    const Backend *be;
    if (device_select(&cfg, config_world_size(&cfg), run.speaker, &be, &err))
        toolrun_fail(&run, &err);
    be->set_threads(trainer_threads(&cfg, run.under_launcher ? launch_local_ranks() : 1));
    double given = cfg.logging.peak_gflops;
    double peak_before = run.speaker && given <= 0.0 ? same_run_peak(be) : given;
    if (trainer_run(&cfg, toolrun_comm(&run), &opt, &rep, &err))
        toolrun_fail(&run, &err);
    if (!run.speaker)
        toolrun_exit(0);
    double peak_after = given <= 0.0 ? same_run_peak(be) : given;
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
               "\"comm_by_group\": {\"tp\": %.4f, \"cp\": %.4f, \"pp\": %.4f, \"dp\": %.4f}, "
               "\"rss_mib\": %.1f, \"blas\": \"%s\", \"backend\": \"%s\"}\n",
               quoted, ranks, (long long)fc.n_params, (long long)fc.n_params_no_embed, rep.threads,
               rep.steps, rep.tokens_per_s, fc.flops_per_token, gflops, gflops_causal, peak, ratio,
               rep.comm_fraction, rep.last_loss, rep.comm_fraction_by_kind[COMM_TP],
               rep.comm_fraction_by_kind[COMM_CP], rep.comm_fraction_by_kind[COMM_PP],
               rep.comm_fraction_by_kind[COMM_DP], metrics_rss_mib(), be->describe(), be->name);
        free(quoted);
    } else {
        printf("%-26s %d rank%s x %d thr  tok/s %8.0f  GFLOP/s %7.2f (causal %7.2f)  sgemm %7.2f/rank"
               "  ratio %.3f  comm wait: %s\n",
               label, ranks, ranks == 1 ? " " : "s", rep.threads, rep.tokens_per_s, gflops,
               gflops_causal, peak, ratio, comm);
    }
    toolrun_exit(0);
}
