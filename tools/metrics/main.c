/* picotron-metrics: one table over many runs (status, mesh, batch shape, throughput, MFU,
 * memory, losses) as aligned text, CSV or JSON, sorted by any column. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "runinfo.h"

#define PROG "picotron-metrics"

static const char usage[] =
    "usage: picotron-metrics RUN_DIR... [--format text|csv|json] [--sort KEY] [--reverse]\n"
    "\n"
    "One row per run directory (a directory holding metrics.jsonl; a directory above run\n"
    "directories stands for every run below it). Definitions: docs/metrics.md.\n"
    "\n"
    "columns (also the --sort keys and the CSV/JSON keys):\n"
    "  run                the run directory as given or found\n"
    "  status             picotron-submit's status word, else completed / incomplete\n"
    "  step, total_steps  the last step logged, training.total_train_steps\n"
    "  mesh               dpN-tpN-ppN-cpN\n"
    "  mbs, grad_acc, seq micro-batch size, gradient accumulation steps, sequence length\n"
    "  tokens             tokens trained on by the last step logged\n"
    "  tokens_per_s       median over the steps logged after the first\n"
    "  tokens_per_s_rank  tokens_per_s / ranks\n"
    "  mfu_pct            median MFU over the same steps, in percent\n"
    "  mem_mib            the largest resident memory logged (rank 0), MiB\n"
    "  loss, val_loss     the last loss and the last validation loss logged\n"
    "\n"
    "options:\n"
    "  --format FMT       text (aligned, '-' where a run has no value), csv, json\n"
    "  --sort KEY         sort the rows by a column (numbers numerically; no value last)\n"
    "  --reverse          descending\n"
    "  -h, --help         this help\n"
    "\n"
    "exit status: 0 done, 2 bad option, run directory or metrics line (one line naming it)\n"
    "\n"
    "examples:\n"
    "  picotron-metrics runs/ --sort tokens_per_s --reverse\n"
    "  picotron-metrics runs/* --format csv > runs.csv\n";

typedef enum { COL_STR, COL_INT, COL_REAL } ColType;

typedef struct {
    const char *key;
    ColType type;
    int decimals; /* reals in the text table */
} Column;

static const Column COLUMNS[] = {
    {"run", COL_STR, 0},          {"status", COL_STR, 0},        {"step", COL_INT, 0},
    {"total_steps", COL_INT, 0},  {"mesh", COL_STR, 0},          {"mbs", COL_INT, 0},
    {"grad_acc", COL_INT, 0},     {"seq", COL_INT, 0},           {"tokens", COL_INT, 0},
    {"tokens_per_s", COL_REAL, 0}, {"tokens_per_s_rank", COL_REAL, 0},
    {"mfu_pct", COL_REAL, 2},     {"mem_mib", COL_REAL, 1},      {"loss", COL_REAL, 4},
    {"val_loss", COL_REAL, 4},
};
#define NCOLS ((int)(sizeof COLUMNS / sizeof COLUMNS[0]))

/* One value of the table: text for COL_STR, num for the others; missing when the run has none. */
typedef struct {
    char text[PATH_MAX];
    double num;
    int missing;
} Cell;

static void cell_of(const RunInfo *r, int col, Cell *c)
{
    const Config *cfg = &r->cfg;
    const char *key = COLUMNS[col].key;
    c->text[0] = '\0';
    c->num = NAN;
    if (!strcmp(key, "run"))
        snprintf(c->text, sizeof c->text, "%s", r->dir);
    else if (!strcmp(key, "status"))
        snprintf(c->text, sizeof c->text, "%s", r->status);
    else if (!strcmp(key, "mesh"))
        snprintf(c->text, sizeof c->text, "dp%d-tp%d-pp%d-cp%d", cfg->distributed.dp_size,
                 cfg->distributed.tp_size, cfg->distributed.pp_size, cfg->distributed.cp_size);
    else if (!strcmp(key, "step"))
        c->num = r->nsteps ? (double)r->last_step : NAN;
    else if (!strcmp(key, "total_steps"))
        c->num = cfg->training.total_train_steps;
    else if (!strcmp(key, "mbs"))
        c->num = cfg->training.micro_batch_size;
    else if (!strcmp(key, "grad_acc"))
        c->num = cfg->training.gradient_accumulation_steps;
    else if (!strcmp(key, "seq"))
        c->num = cfg->training.seq_length;
    else if (!strcmp(key, "tokens"))
        c->num = r->nsteps ? (double)r->tokens : NAN;
    else if (!strcmp(key, "tokens_per_s"))
        c->num = r->tokens_per_s;
    else if (!strcmp(key, "tokens_per_s_rank"))
        c->num = runinfo_tokens_per_s_rank(r);
    else if (!strcmp(key, "mfu_pct"))
        c->num = 100.0 * r->mfu;
    else if (!strcmp(key, "mem_mib"))
        c->num = r->peak_mem_mib;
    else if (!strcmp(key, "loss"))
        c->num = r->loss;
    else if (!strcmp(key, "val_loss"))
        c->num = r->val_loss;
    c->missing = COLUMNS[col].type == COL_STR ? !c->text[0] : isnan(c->num);
}

/* The cell as the text table (fixed decimals) or CSV (full precision) shows it. */
static const char *cell_text(int col, Cell *c, int full, char *buf, size_t len)
{
    if (COLUMNS[col].type == COL_STR)
        return c->text;
    if (c->missing)
        return full ? "" : "-";
    if (COLUMNS[col].type == COL_INT)
        snprintf(buf, len, "%.0f", c->num);
    else if (full)
        snprintf(buf, len, "%.8g", c->num);
    else
        snprintf(buf, len, "%.*f", COLUMNS[col].decimals, c->num);
    return buf;
}

static void print_text(RunInfo *runs, const int *order, int n)
{
    int width[NCOLS];
    char buf[64];
    Cell c;
    for (int k = 0; k < NCOLS; k++)
        width[k] = (int)strlen(COLUMNS[k].key);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < NCOLS; k++) {
            cell_of(&runs[order[i]], k, &c);
            int w = (int)strlen(cell_text(k, &c, 0, buf, sizeof buf));
            width[k] = w > width[k] ? w : width[k];
        }
    /* Text left-aligned, numbers right-aligned; the last column is a number, so no line
     * ends in padding. */
    for (int k = 0; k < NCOLS; k++)
        printf("%s%*s", k ? "  " : "", COLUMNS[k].type == COL_STR ? -width[k] : width[k],
               COLUMNS[k].key);
    putchar('\n');
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < NCOLS; k++) {
            cell_of(&runs[order[i]], k, &c);
            printf("%s%*s", k ? "  " : "", COLUMNS[k].type == COL_STR ? -width[k] : width[k],
                   cell_text(k, &c, 0, buf, sizeof buf));
        }
        putchar('\n');
    }
}

/* A CSV field (RFC 4180): quoted when it holds a comma, quote or line break. */
static void put_csv(const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void print_csv(RunInfo *runs, const int *order, int n)
{
    char buf[64];
    Cell c;
    for (int k = 0; k < NCOLS; k++)
        printf("%s%s", k ? "," : "", COLUMNS[k].key);
    putchar('\n');
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < NCOLS; k++) {
            cell_of(&runs[order[i]], k, &c);
            if (k)
                putchar(',');
            put_csv(cell_text(k, &c, 1, buf, sizeof buf));
        }
        putchar('\n');
    }
}

static void print_json(RunInfo *runs, const int *order, int n)
{
    json_t *rows = json_array();
    Cell c;
    for (int i = 0; i < n; i++) {
        json_t *row = json_object();
        for (int k = 0; k < NCOLS; k++) {
            cell_of(&runs[order[i]], k, &c);
            json_t *v = c.missing                     ? json_null()
                        : COLUMNS[k].type == COL_STR ? json_string(c.text)
                        : COLUMNS[k].type == COL_INT ? json_integer((json_int_t)c.num)
                                                     : json_real(c.num);
            json_object_set_new(row, COLUMNS[k].key, v);
        }
        json_array_append_new(rows, row);
    }
    char *text = json_dumps(rows, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(8));
    puts(text);
    free(text);
    json_decref(rows);
}

/* The sort: by one column, no value last whatever the direction, ties in the given order. */
static const RunInfo *sort_runs;
static int sort_col, sort_desc;

static int compare_rows(const void *pa, const void *pb)
{
    int a = *(const int *)pa, b = *(const int *)pb;
    Cell ca, cb;
    cell_of(&sort_runs[a], sort_col, &ca);
    cell_of(&sort_runs[b], sort_col, &cb);
    int d;
    if (ca.missing || cb.missing)
        return ca.missing != cb.missing ? ca.missing - cb.missing : a - b;
    if (COLUMNS[sort_col].type == COL_STR)
        d = strcmp(ca.text, cb.text);
    else
        d = (ca.num > cb.num) - (ca.num < cb.num);
    return d ? (sort_desc ? -d : d) : a - b;
}

static int column_index(const char *key)
{
    for (int k = 0; k < NCOLS; k++)
        if (!strcmp(COLUMNS[k].key, key))
            return k;
    return -1;
}

int main(int argc, char **argv)
{
    const Cli cli = {.prog = PROG, .usage = usage};
    const char *format = "text", *sort = NULL;
    int reverse = 0;
    const CliOption options[] = {
        OPT_STRING("format", 0, &format),
        OPT_STRING("sort", 0, &sort),
        OPT_FLAG("reverse", 0, &reverse),
        OPT_END,
    };
    int first = cli_parse(&cli, options, argc, argv);
    if (first >= argc)
        cli_usage_error(&cli, "no run directory given");
    if (strcmp(format, "text") && strcmp(format, "csv") && strcmp(format, "json"))
        cli_usage_error(&cli, "--format: '%s' is not text, csv or json", format);
    sort_col = sort ? column_index(sort) : -1;
    if (sort && sort_col < 0)
        cli_usage_error(&cli, "--sort: no column '%s' (the columns are listed in --help)", sort);

    Error err = {0};
    char **dirs = NULL;
    int ndirs = 0;
    for (int i = first; i < argc; i++)
        if (runinfo_find(argv[i], &dirs, &ndirs, &err))
            cli_fail(&cli, &err);
    RunInfo *runs = xcalloc((size_t)ndirs, sizeof *runs);
    int *order = xmalloc((size_t)ndirs * sizeof *order);
    for (int i = 0; i < ndirs; i++) {
        if (runinfo_read(&runs[i], dirs[i], &err))
            cli_fail(&cli, &err);
        order[i] = i;
    }
    if (sort_col >= 0) {
        sort_runs = runs;
        sort_desc = reverse;
        qsort(order, (size_t)ndirs, sizeof *order, compare_rows);
    } else if (reverse) {
        for (int i = 0; i < ndirs / 2; i++) {
            int t = order[i];
            order[i] = order[ndirs - 1 - i];
            order[ndirs - 1 - i] = t;
        }
    }
    if (!strcmp(format, "csv"))
        print_csv(runs, order, ndirs);
    else if (!strcmp(format, "json"))
        print_json(runs, order, ndirs);
    else
        print_text(runs, order, ndirs);
    for (int i = 0; i < ndirs; i++) {
        runinfo_free(&runs[i]);
        free(dirs[i]);
    }
    free(dirs);
    free(runs);
    free(order);
    return fflush(stdout) == 0 ? 0 : 1;
}
