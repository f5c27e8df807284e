/* picotron-plot: the loss (and validation loss) of several runs on one chart, above their
 * throughput or MFU, against step or tokens; drawn by gnuplot into an SVG or PNG file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "plot.h"
#include "runinfo.h"

#define PROG "picotron-plot"

static const char usage[] =
    "usage: picotron-plot RUN_DIR... --out FILE.svg|FILE.png [--x step|tokens]\n"
    "                     [--y tokens_per_s|mfu] [--title TEXT]\n"
    "\n"
    "Two panels, one above the other: every run's loss (a line) and validation loss (dots on a\n"
    "dashed line, in the run's colour), then its tokens/s or MFU at every logged step. Run\n"
    "directories are found as picotron-metrics finds them. gnuplot draws the chart; the file\n"
    "is replaced whole. Definitions: docs/metrics.md.\n"
    "\n"
    "options:\n"
    "  --out FILE         the chart: SVG or PNG by the extension (required)\n"
    "  --x step|tokens    the horizontal axis (step)\n"
    "  --y tokens_per_s|mfu  the lower panel: throughput per step, or MFU in percent\n"
    "                     (tokens_per_s)\n"
    "  --title TEXT       the upper panel's title (loss)\n"
    "  -h, --help         this help\n"
    "\n"
    "exit status: 0 done, 1 gnuplot missing or failing, or I/O error, 2 bad option, run\n"
    "directory or metrics line (one line naming it)\n"
    "\n"
    "example:\n"
    "  picotron-plot runs/ --x tokens --out loss.svg\n";

/* The x, loss, validation loss and lower-panel values of one run, per logged step. */
typedef struct {
    double *x, *loss, *val, *lower;
} RunSeries;

static void series_fill(RunSeries *s, const RunInfo *r, int by_tokens, int mfu)
{
    size_t n = (size_t)(r->nsteps ? r->nsteps : 1);
    s->x = xmalloc(n * sizeof *s->x);
    s->loss = xmalloc(n * sizeof *s->loss);
    s->val = xmalloc(n * sizeof *s->val);
    s->lower = xmalloc(n * sizeof *s->lower);
    for (int i = 0; i < r->nsteps; i++) {
        const RunStep *st = &r->steps[i];
        s->x[i] = by_tokens ? (double)st->tokens : (double)st->step;
        s->loss[i] = st->loss;
        s->val[i] = st->val_loss;
        s->lower[i] = mfu ? 100.0 * st->mfu : st->tokens_per_s;
    }
}

static void series_free(RunSeries *s)
{
    free(s->x);
    free(s->loss);
    free(s->val);
    free(s->lower);
}

int main(int argc, char **argv)
{
    const Cli cli = {.prog = PROG, .usage = usage};
    const char *out = NULL, *xaxis = "step", *yaxis = "tokens_per_s", *title = "loss";
    const CliOption options[] = {
        OPT_STRING("out", 'o', &out),
        OPT_STRING("x", 0, &xaxis),
        OPT_STRING("y", 0, &yaxis),
        OPT_STRING("title", 0, &title),
        OPT_END,
    };
    int first = cli_parse(&cli, options, argc, argv);
    if (first >= argc)
        cli_usage_error(&cli, "no run directory given");
    if (!out)
        cli_usage_error(&cli, "--out FILE.svg or FILE.png is required");
    if (strcmp(xaxis, "step") && strcmp(xaxis, "tokens"))
        cli_usage_error(&cli, "--x: '%s' is not step or tokens", xaxis);
    if (strcmp(yaxis, "tokens_per_s") && strcmp(yaxis, "mfu"))
        cli_usage_error(&cli, "--y: '%s' is not tokens_per_s or mfu", yaxis);
    Error err = {0};
    PlotFormat fmt;
    if (plot_format(out, &fmt, &err))
        cli_usage_error(&cli, "--out %s", err.msg);

    char **dirs = NULL;
    int n = 0;
    for (int i = first; i < argc; i++)
        if (runinfo_find(argv[i], &dirs, &n, &err))
            cli_fail(&cli, &err);
    RunInfo *runs = xcalloc((size_t)n, sizeof *runs);
    RunSeries *data = xcalloc((size_t)n, sizeof *data);
    PlotSeries *upper = xcalloc(2 * (size_t)n, sizeof *upper);
    PlotSeries *lower = xcalloc((size_t)n, sizeof *lower);
    char (*names)[PATH_MAX + 16] = xcalloc((size_t)n, sizeof *names);
    int by_tokens = !strcmp(xaxis, "tokens"), mfu = !strcmp(yaxis, "mfu");
    for (int i = 0; i < n; i++) {
        if (runinfo_read(&runs[i], dirs[i], &err))
            cli_fail(&cli, &err);
        series_fill(&data[i], &runs[i], by_tokens, mfu);
        snprintf(names[i], sizeof names[i], "%s val_loss", dirs[i]);
        int m = runs[i].nsteps;
        upper[2 * i] = (PlotSeries){dirs[i], data[i].x, data[i].loss, m, PLOT_LINE, i, NULL};
        upper[2 * i + 1] = (PlotSeries){names[i], data[i].x, data[i].val, m, PLOT_POINTS, i, NULL};
        lower[i] = (PlotSeries){dirs[i], data[i].x, data[i].lower, m, PLOT_LINE, i, NULL};
    }
    const PlotPanel panels[] = {
        {title, xaxis, "loss", upper, 2 * n},
        {mfu ? "MFU" : "throughput", xaxis, mfu ? "MFU (%)" : "tokens/s", lower, n},
    };
    int rc = plot_write(out, panels, 2, &err);
    for (int i = 0; i < n; i++) {
        runinfo_free(&runs[i]);
        series_free(&data[i]);
        free(dirs[i]);
    }
    free(dirs);
    free(runs);
    free(data);
    free(upper);
    free(lower);
    free(names);
    if (rc)
        cli_fail(&cli, &err);
    return 0;
}
