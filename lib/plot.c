/* plot: panels of series → a gnuplot script with inline data blocks → gnuplot → the image,
 * renamed into place. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "atomicfile.h"
#include "mapfile.h"
#include "plot.h"
#include "proc.h"

int plot_format(const char *path, PlotFormat *fmt, Error *err)
{
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/') && !strcasecmp(dot, ".svg"))
        *fmt = PLOT_SVG;
    else if (dot && !strchr(dot, '/') && !strcasecmp(dot, ".png"))
        *fmt = PLOT_PNG;
    else
        return err_set(err, PT_EINPUT, "%s: the output must end in .svg or .png", path);
    return PT_OK;
}

/* s as a gnuplot single-quoted string: a quote is doubled, nothing else is special. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

static int series_points(const PlotSeries *s)
{
    int k = 0;
    for (int i = 0; i < s->n; i++)
        k += !isnan(s->y[i]) && !isnan(s->x[i]);
    return k;
}

char *plot_script(const PlotPanel *panels, int npanels, PlotFormat fmt, const char *output)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        err_die("picotron", &(Error){PT_ERUNTIME, "out of memory writing a gnuplot script"});
    /* noenhanced: run names are shown as written, '_' is not a subscript. */
    if (fmt == PLOT_SVG)
        fprintf(f, "set terminal svg size 960,%d dynamic noenhanced font 'sans,12' "
                "background '#ffffff'\n", 120 + 360 * npanels);
    else
        fprintf(f, "set terminal pngcairo size 960,%d noenhanced font 'sans,10' "
                "background '#ffffff'\n", 120 + 360 * npanels);
    fputs("set output ", f);
    put_quoted(f, output);
    fputs("\nset datafile missing 'NaN'\nset grid\nset key outside right top Left reverse\n"
          "set format y '%g'\n", f);
    for (int p = 0; p < npanels; p++)
        for (int s = 0; s < panels[p].nseries; s++) {
            const PlotSeries *ser = &panels[p].series[s];
            fprintf(f, "$p%ds%d << EOD\n", p, s);
            for (int i = 0; i < ser->n; i++) {
                if (isnan(ser->y[i]) || isnan(ser->x[i]))
                    continue;
                fprintf(f, "%.10g %.10g", ser->x[i], ser->y[i]);
                if (ser->style == PLOT_BARS) { /* a data string: no quote, no backslash */
                    fputs(" \"", f);
                    for (const char *c = ser->labels[i]; *c; c++)
                        fputc(*c == '"' || *c == '\\' ? '_' : *c, f);
                    fputc('"', f);
                }
                fputc('\n', f);
            }
            fputs("EOD\n", f);
        }
    fprintf(f, "set multiplot layout %d,1\n", npanels);
    for (int p = 0; p < npanels; p++) {
        const PlotPanel *pn = &panels[p];
        fputs("set title ", f);
        put_quoted(f, pn->title);
        fputs("\nset xlabel ", f);
        put_quoted(f, pn->xlabel);
        fputs("\nset ylabel ", f);
        put_quoted(f, pn->ylabel);
        int bars = 0;
        for (int s = 0; s < pn->nseries; s++)
            bars |= pn->series[s].style == PLOT_BARS;
        fputs(bars ? "\nset boxwidth 0.8\nset yrange [0:*]\nset xtics rotate by -30\n"
                   : "\nset autoscale y\nset xtics norotate\n", f);
        fputs("plot ", f);
        int first = 1;
        for (int s = 0; s < pn->nseries; s++) {
            const PlotSeries *ser = &pn->series[s];
            if (!series_points(ser))
                continue;
            fprintf(f, "%s$p%ds%d using 1:2%s ", first ? "" : ", \\\n     ", p, s,
                    ser->style == PLOT_BARS ? ":xtic(3)" : "");
            if (ser->style == PLOT_BARS)
                fprintf(f, "with boxes fill solid 0.6 lt %d", ser->color + 1);
            else if (ser->style == PLOT_LINE)
                fprintf(f, "with lines lw 2 lt %d", ser->color + 1);
            else
                fprintf(f, "with linespoints lw 1.5 dt 2 pt 7 ps 0.8 lt %d", ser->color + 1);
            fputs(" title ", f);
            put_quoted(f, ser->title);
            first = 0;
        }
        fputc('\n', f);
    }
    fputs("unset multiplot\nset output\n", f);
    fclose(f);
    return text;
}

/* gnuplot draws into a private temporary directory; the image is then written to path
 * atomically, so a reader never sees half a chart. */
static int render(const char *path, const char *script, const char *tmpdir, const char *image,
                  Error *err)
{
    char gp[PATH_MAX + 16];
    snprintf(gp, sizeof gp, "%s/plot.gp", tmpdir);
    FILE *f = fopen(gp, "w");
    int bad = !f || fputs(script, f) < 0;
    if (f && fclose(f) != 0)
        bad = 1;
    if (bad) {
        int e = errno;
        unlink(gp);
        return err_set(err, PT_ERUNTIME, "%s: %s", gp, strerror(e));
    }
    char *argv[] = {"gnuplot", gp, NULL};
    ProcResult res;
    int rc = proc_run(argv, &res, err);
    if (!rc && (res.status != 0 || access(image, R_OK) != 0))
        rc = err_set(err, PT_ERUNTIME, "gnuplot failed (exit %d): %s", res.status,
                     proc_first_line(res.err));
    proc_result_free(&res);
    const unsigned char *data = NULL;
    size_t len = 0;
    if (!rc && mapfile_open(image, &data, &len, err)) {
        err->code = PT_ERUNTIME; /* gnuplot's own output, not the user's input */
        rc = PT_ERUNTIME;
    }
    if (!rc)
        rc = atomic_write_file(path, data, len, err);
    mapfile_close(data, len);
    unlink(gp);
    return rc;
}

int plot_write(const char *path, const PlotPanel *panels, int npanels, Error *err)
{
    PlotFormat fmt = PLOT_SVG;
    if (plot_format(path, &fmt, err))
        return err->code;
    for (int p = 0; p < npanels; p++) {
        int points = 0;
        for (int s = 0; s < panels[p].nseries; s++)
            points += series_points(&panels[p].series[s]);
        if (!points)
            return err_set(err, PT_EINPUT, "nothing to draw in the panel '%s': no logged "
                           "values", panels[p].title);
    }
    if (!proc_on_path("gnuplot"))
        return err_set(err, PT_ERUNTIME, "gnuplot is not on PATH: install it (Debian: "
                       "gnuplot-nox; scripts/install-deps does)");
    const char *base = getenv("TMPDIR");
    char tmpdir[PATH_MAX], image[PATH_MAX + 16];
    snprintf(tmpdir, sizeof tmpdir, "%s/picotron-plot.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir))
        return err_set(err, PT_ERUNTIME, "%s: %s", tmpdir, strerror(errno));
    snprintf(image, sizeof image, "%s/image.%s", tmpdir, fmt == PLOT_SVG ? "svg" : "png");
    char *script = plot_script(panels, npanels, fmt, image);
    int rc = render(path, script, tmpdir, image, err);
    free(script);
    unlink(image);
    rmdir(tmpdir);
    return rc;
}
