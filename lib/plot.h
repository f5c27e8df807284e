/* plot: line charts drawn by gnuplot: panels of named series, one above the other, turned into
 * a gnuplot script with the data inline, rendered to SVG or PNG and written atomically. */
#ifndef PICOTRON_PLOT_H
#define PICOTRON_PLOT_H

#include "error.h"

typedef enum {
    PLOT_LINE,   /* a solid line */
    PLOT_POINTS, /* dots joined by a dashed line: sparse values such as validation losses */
    PLOT_BARS,   /* one bar per point, labelled on the x axis by labels[i] */
} PlotStyle;

typedef struct {
    const char *title;       /* the legend entry */
    const double *x, *y;     /* n points; a NAN y is left out */
    int n;
    PlotStyle style;
    int color;               /* 0, 1, ...: series with the same index share a colour */
    const char *const *labels; /* PLOT_BARS: n x-axis labels; otherwise NULL */
} PlotSeries;

typedef struct {
    const char *title, *xlabel, *ylabel;
    const PlotSeries *series;
    int nseries;
} PlotPanel;

typedef enum { PLOT_SVG, PLOT_PNG } PlotFormat;

/* The format path's extension asks for (.svg or .png, any case); PT_EINPUT naming path
 * otherwise. */
int plot_format(const char *path, PlotFormat *fmt, Error *err);

/* The gnuplot script drawing the panels into `output` (malloc'ed text). */
char *plot_script(const PlotPanel *panels, int npanels, PlotFormat fmt, const char *output);

/* Draw the panels into path (format from its extension) with the gnuplot on PATH; the file
 * appears whole or not at all. PT_EINPUT for a bad extension or a panel with no point;
 * PT_ERUNTIME when gnuplot is missing or fails (its first error line) or on I/O errors. */
int plot_write(const char *path, const PlotPanel *panels, int npanels, Error *err);

#endif
