/* sweeprow: a sweep's rows as cells (one formatting shared by the table and the CSV, so the
 * two agree), the bench JSON they are read from, the best row, and the gnuplot bar chart. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomicfile.h"
#include "proc.h"
#include "plot.h"
#include "sweeprow.h"

/* The columns after the axes. */
static const char *const COLUMNS[] = {"ranks", "tokens_per_s", "gflops", "mfu",
                                      "mem_gib_per_rank", "rss_mib", "wait_tp", "wait_cp",
                                      "wait_pp", "wait_dp", "status", "reason"};
enum { NCOLS = sizeof COLUMNS / sizeof COLUMNS[0] };
static const CommKind WAIT_KIND[4] = {COMM_TP, COMM_CP, COMM_PP, COMM_DP};

const char *sweeprow_status_name(SweepStatus st)
{
    static const char *names[] = {"ok", "refused", "unfit", "failed"};
    return names[st];
}

static int number(json_t *obj, const char *key, double *out, Error *err)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_number(v))
        return err_set(err, PT_ERUNTIME, "bench result has no number \"%s\"", key);
    *out = json_number_value(v);
    return PT_OK;
}

int sweeprow_from_json(SweepRow *row, const char *text, Error *err)
{
    /* the last non-empty line: anything a launcher printed before it is not ours */
    const char *end = text + strlen(text);
    while (end > text && (end[-1] == '\n' || end[-1] == '\r'))
        end--;
    const char *line = end;
    while (line > text && line[-1] != '\n')
        line--;
    json_error_t jerr;
    json_t *obj = json_loadb(line, (size_t)(end - line), 0, &jerr);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return err_set(err, PT_ERUNTIME, "bench printed no JSON result");
    }
    double ranks = 0;
    json_t *groups = json_object_get(obj, "comm_by_group");
    int rc = number(obj, "ranks", &ranks, err) ||
             number(obj, "tokens_per_s", &row->tokens_per_s, err) ||
             number(obj, "gflops", &row->gflops, err) ||
             number(obj, "fraction_of_sgemm", &row->mfu, err) ||
             number(obj, "rss_mib", &row->rss_mib, err);
    if (!rc && !json_is_object(groups))
        rc = err_set(err, PT_ERUNTIME, "bench result has no object \"comm_by_group\"");
    for (int k = 0; !rc && k < 4; k++)
        rc = number(groups, comm_kind_name(WAIT_KIND[k]), &row->wait[WAIT_KIND[k]], err);
    json_decref(obj);
    if (rc)
        return err->code;
    row->ranks = (int)ranks;
    row->status = SWEEP_OK;
    row->reason[0] = '\0';
    return PT_OK;
}

/* Column c of point p's row as text; "" where the row has no such figure. */
static void cell(const Sweep *s, const SweepRow *r, int p, int c, char *out, size_t len)
{
    out[0] = '\0';
    if (c < s->naxes) {
        snprintf(out, len, "%s", sweep_value(s, p, c));
        return;
    }
    c -= s->naxes;
    int ok = r->status == SWEEP_OK;
    switch (c) {
    case 0:
        if (r->ranks > 0)
            snprintf(out, len, "%d", r->ranks);
        break;
    case 1:
        if (ok)
            snprintf(out, len, "%.0f", r->tokens_per_s);
        break;
    case 2:
        if (ok)
            snprintf(out, len, "%.2f", r->gflops);
        break;
    case 3:
        if (ok)
            snprintf(out, len, "%.3f", r->mfu);
        break;
    case 4:
        if (r->mem_gib >= 0)
            snprintf(out, len, "%.4g", r->mem_gib);
        break;
    case 5:
        if (ok)
            snprintf(out, len, "%.0f", r->rss_mib);
        break;
    case 6: case 7: case 8: case 9:
        if (ok)
            snprintf(out, len, "%.3f", r->wait[WAIT_KIND[c - 6]]);
        break;
    case 10:
        snprintf(out, len, "%s", sweeprow_status_name(r->status));
        break;
    default:
        snprintf(out, len, "%s", r->reason);
    }
}

static const char *header(const Sweep *s, int c)
{
    return c < s->naxes ? s->axis[c].name : COLUMNS[c - s->naxes];
}

/* The reason, last, is not padded: it is free text. */
static void table_cell(FILE *f, const char *text, int width, int last)
{
    if (last)
        fprintf(f, "%s\n", text);
    else
        fprintf(f, "%-*s  ", width, text);
}

void sweeprow_print_table(FILE *f, const Sweep *s, const SweepRow *rows)
{
    int ncols = s->naxes + NCOLS;
    int *width = xcalloc((size_t)ncols, sizeof *width);
    char text[1100];
    for (int c = 0; c < ncols; c++) {
        width[c] = (int)strlen(header(s, c));
        for (int p = 0; p < s->npoints; p++) {
            cell(s, &rows[p], p, c, text, sizeof text);
            if ((int)strlen(text) > width[c])
                width[c] = (int)strlen(text);
        }
    }
    for (int c = 0; c < ncols; c++)
        table_cell(f, header(s, c), width[c], c + 1 == ncols);
    for (int p = 0; p < s->npoints; p++)
        for (int c = 0; c < ncols; c++) {
            cell(s, &rows[p], p, c, text, sizeof text);
            table_cell(f, text[0] ? text : "-", width[c], c + 1 == ncols);
        }
    free(width);
}

/* Append text to buf (grown as needed), quoted when it holds a comma, quote or line break. */
static void csv_field(char **buf, size_t *len, size_t *cap, const char *text, int last)
{
    size_t need = *len + 2 * strlen(text) + 4;
    if (need > *cap) {
        *cap = need * 2;
        char *grown = realloc(*buf, *cap);
        if (!grown)
            abort();
        *buf = grown;
    }
    char *o = *buf + *len;
    int quote = strpbrk(text, ",\"\r\n") != NULL;
    if (quote)
        *o++ = '"';
    for (const char *t = text; *t; t++) {
        if (*t == '"')
            *o++ = '"';
        *o++ = *t;
    }
    if (quote)
        *o++ = '"';
    *o++ = last ? '\n' : ',';
    *o = '\0';
    *len = (size_t)(o - *buf);
}

char *sweeprow_csv(const Sweep *s, const SweepRow *rows)
{
    int ncols = s->naxes + NCOLS;
    size_t len = 0, cap = 1024;
    char *buf = xmalloc(cap);
    buf[0] = '\0';
    char text[1100];
    for (int c = 0; c < ncols; c++)
        csv_field(&buf, &len, &cap, header(s, c), c + 1 == ncols);
    for (int p = 0; p < s->npoints; p++)
        for (int c = 0; c < ncols; c++) {
            cell(s, &rows[p], p, c, text, sizeof text);
            csv_field(&buf, &len, &cap, text, c + 1 == ncols);
        }
    return buf;
}

int sweeprow_best(const Sweep *s, const SweepRow *rows)
{
    int best = -1;
    for (int p = 0; p < s->npoints; p++)
        if (rows[p].status == SWEEP_OK &&
            (best < 0 || rows[p].tokens_per_s > rows[best].tokens_per_s))
            best = p;
    return best;
}

int sweeprow_plot(const char *path, const Sweep *s, const SweepRow *rows, Error *err)
{
    if (sweeprow_best(s, rows) < 0)
        return err_set(err, PT_ERUNTIME, "no point ran: no plot written to %s", path);
    double *x = xcalloc((size_t)s->npoints, sizeof *x), *y = xcalloc((size_t)s->npoints, sizeof *y);
    char **labels = xcalloc((size_t)s->npoints, sizeof *labels);
    int n = 0;
    for (int p = 0; p < s->npoints; p++) {
        if (rows[p].status != SWEEP_OK)
            continue;
        labels[n] = xmalloc(512);
        sweep_point_label(s, p, labels[n], 512);
        x[n] = n;
        y[n] = rows[p].tokens_per_s;
        n++;
    }
    PlotSeries bars = {.title = "tokens/s", .x = x, .y = y, .n = n, .style = PLOT_BARS,
                       .labels = (const char *const *)labels};
    PlotPanel panel = {.title = "picotron-bench --sweep: tokens/s of the points that ran",
                       .xlabel = "point", .ylabel = "tokens/s", .series = &bars, .nseries = 1};
    int rc = plot_write(path, &panel, 1, err);
    for (int i = 0; i < n; i++)
        free(labels[i]);
    free(labels);
    free(x);
    free(y);
    return rc;
}
