/* cli: one option loop over a table (getopt_long underneath), usage errors, integers, sizes. */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

/* getopt_long returns OPT_BASE + i for the table's option i given by its long name. */
enum { OPT_BASE = 256 };

void cli_exit(const Cli *cli, int code)
{
    if (cli->before_exit)
        cli->before_exit();
    exit(code);
}

void cli_usage_error(const Cli *cli, const char *fmt, ...)
{
    if (!cli->silent) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "%s: ", cli->prog);
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, " (try '%s --help')\n", cli->prog);
        va_end(ap);
    }
    cli_exit(cli, PT_EINPUT);
}

void cli_die(const Cli *cli, int code, const char *fmt, ...)
{
    if (!cli->silent) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "%s: ", cli->prog);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    }
    cli_exit(cli, code);
}

void cli_fail(const Cli *cli, const Error *err)
{
    if (!cli->silent)
        fprintf(stderr, "%s: %s\n", cli->prog, err->msg);
    cli_exit(cli, err->code == PT_OK ? PT_ERUNTIME : err->code);
}

/* " >= 1", " from 2 to 100000" or "" for a range as wide as int's. */
static void describe_range(long min, long max, char *out, size_t len)
{
    int low = min > INT_MIN, high = max < INT_MAX;
    if (low && high)
        snprintf(out, len, " from %ld to %ld", min, max);
    else if (low)
        snprintf(out, len, " >= %ld", min);
    else if (high)
        snprintf(out, len, " <= %ld", max);
    else
        out[0] = '\0';
}

int cli_parse_long(const char *what, const char *text, long min, long max, long *out,
                   Error *err)
{
    const char *p = text + (text[0] == '+' || text[0] == '-');
    int ok = isdigit((unsigned char)*p);
    while (ok && *p)
        ok = isdigit((unsigned char)*p++);
    long v = 0;
    if (ok) {
        errno = 0;
        v = strtol(text, NULL, 10);
        ok = errno == 0 && v >= min && v <= max;
    }
    if (!ok) {
        char range[64];
        describe_range(min, max, range, sizeof range);
        return err_set(err, PT_EINPUT, "%s: expected an integer%s, got '%s'", what, range, text);
    }
    *out = v;
    return PT_OK;
}

int cli_parse_size(const char *what, const char *text, uint64_t *bytes, Error *err)
{
    static const struct {
        const char *unit;
        uint64_t mult;
    } units[] = {
        {"", 1},           {"B", 1},          {"KB", 1000},        {"MB", 1000000},
        {"GB", 1000000000ull}, {"TB", 1000000000000ull}, {"KiB", 1ull << 10},
        {"MiB", 1ull << 20}, {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
    };
    /* digits with at most one '.', so strtod's "inf", "0x10", "1e3" and spaces stay out */
    size_t n = strspn(text, "0123456789."), dots = 0;
    for (size_t i = 0; i < n; i++)
        dots += text[i] == '.';
    if (n > 0 && dots <= 1 && strspn(text, ".") < n) {
        double v = strtod(text, NULL);
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
            double b = v * (double)units[i].mult;
            if (!strcasecmp(text + n, units[i].unit) && b >= 1 && b < 1.8e19) {
                *bytes = (uint64_t)b;
                return PT_OK;
            }
        }
    }
    return err_set(err, PT_EINPUT, "%s: expected a size such as 5GB, 500MB or 2GiB, got '%s'",
                   what, text);
}

void cli_list_free(CliList *list)
{
    free(list->items);
    list->items = NULL;
    list->n = 0;
}

/* Store one option's value. */
static void take(const Cli *cli, const CliOption *o, const char *arg, int argc)
{
    Error err = {0};
    long v;
    CliList *list;
    switch (o->type) {
    case CLI_FLAG: *(int *)o->value = 1; break;
    case CLI_STRING: *(const char **)o->value = arg; break;
    case CLI_INT: {
        char what[128];
        snprintf(what, sizeof what, "--%s", o->name);
        if (cli_parse_long(what, arg, o->min, o->max, &v, &err))
            cli_usage_error(cli, "%s", err.msg);
        *(int *)o->value = (int)v;
        break;
    }
    case CLI_LIST:
        list = o->value;
        if (!list->items)
            list->items = xcalloc((size_t)argc, sizeof *list->items);
        list->items[list->n++] = arg;
        break;
    }
    if (o->seen)
        ++*o->seen;
}

int cli_parse(const Cli *cli, const CliOption *options, int argc, char **argv)
{
    int n = 0;
    while (options[n].name)
        n++;
    struct option *longopts = xcalloc((size_t)n + 2, sizeof *longopts);
    char *shorts = xcalloc(2 * (size_t)n + 4, 1);
    size_t k = 0;
    shorts[k++] = ':'; /* a missing value returns ':', told apart from an unknown option */
    for (int i = 0; i < n; i++) {
        const CliOption *o = &options[i];
        int has_arg = o->type != CLI_FLAG;
        assert(o->type != CLI_INT || (o->min >= INT_MIN && o->max <= INT_MAX));
        longopts[i] = (struct option){o->name, has_arg ? required_argument : no_argument, NULL,
                                      OPT_BASE + i};
        if (o->short_name) {
            shorts[k++] = (char)o->short_name;
            if (has_arg)
                shorts[k++] = ':';
        }
    }
    longopts[n] = (struct option){"help", no_argument, NULL, 'h'};
    shorts[k] = 'h';
    opterr = 0;
    optind = 0; /* start over: a tool may parse a subcommand's argv after its own */
    int c;
    while ((c = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
        const CliOption *o = NULL;
        if (c == 'h') {
            if (!cli->silent)
                fputs(cli->usage, stdout);
            free(longopts);
            free(shorts);
            cli_exit(cli, 0);
        } else if (c == ':') {
            cli_usage_error(cli, "option needs a value: %s", argv[optind - 1]);
        } else if (c == '?' && optopt >= OPT_BASE) {
            cli_usage_error(cli, "option --%s takes no value", options[optopt - OPT_BASE].name);
        } else if (c == '?' && optopt) {
            cli_usage_error(cli, "unknown option -%c", optopt);
        } else if (c == '?') {
            cli_usage_error(cli, "unknown option %s", argv[optind - 1]);
        } else if (c >= OPT_BASE) {
            o = &options[c - OPT_BASE];
        } else {
            for (int i = 0; i < n && !o; i++)
                if (options[i].short_name == c)
                    o = &options[i];
        }
        take(cli, o, optarg, argc);
    }
    free(longopts);
    free(shorts);
    return optind;
}
