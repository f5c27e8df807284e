/* cli: the command line of every tool, git's parse-options in small: an option table next to
 * the usage text, one parse loop, strict integer and size parsing, and the one usage-error line
 * ("prog: what (try 'prog --help')", exit 2). */
#ifndef PICOTRON_CLI_H
#define PICOTRON_CLI_H

#include <stdint.h>

#include "error.h"

/* Who is parsing: the tool's name and usage text, and how it leaves. */
typedef struct {
    const char *prog;          /* "picotron-train" */
    const char *usage;         /* printed on stdout by -h/--help */
    int silent;                /* print nothing (an MPI rank other than 0) */
    void (*before_exit)(void); /* run before every exit the parser takes (MPI_Finalize); NULL */
} Cli;

typedef enum {
    CLI_FLAG,   /* int *: set to 1 */
    CLI_STRING, /* const char **: the value */
    CLI_INT,    /* int *: a decimal integer in [min, max] */
    CLI_LIST,   /* CliList *: the value appended; repeatable */
} CliType;

/* The values of a repeatable option, in order; items is malloc'ed (cli_list_free). */
typedef struct {
    const char **items;
    int n;
} CliList;

typedef struct {
    const char *name;   /* long name without "--"; NULL ends a table */
    int short_name;     /* 'c' for -c; 0: none */
    CliType type;
    void *value;
    long min, max;      /* CLI_INT: the accepted range */
    int *seen;          /* counts the times the option was given; NULL: not counted */
} CliOption;

#define OPT_FLAG(name, s, v)           {name, s, CLI_FLAG, v, 0, 0, NULL}
#define OPT_STRING(name, s, v)         {name, s, CLI_STRING, v, 0, 0, NULL}
#define OPT_INT(name, s, v, min, max)  {name, s, CLI_INT, v, min, max, NULL}
#define OPT_LIST(name, s, v)           {name, s, CLI_LIST, v, 0, 0, NULL}
#define OPT_END                        {NULL, 0, CLI_FLAG, NULL, 0, 0, NULL}

/* Parse argv[1..] against the table (plus -h/--help, which prints the usage and exits 0).
 * Options and arguments may mix (GNU getopt order); returns the index of the first argument
 * left after the options. An unknown option, a missing value or a bad integer is one usage
 * line and exit 2. */
int cli_parse(const Cli *cli, const CliOption *options, int argc, char **argv);

/* "prog: <message> (try 'prog --help')" on stderr, exit 2. */
void cli_usage_error(const Cli *cli, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));

/* "prog: <message>" on stderr, exit with code. */
void cli_die(const Cli *cli, int code, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

/* "prog: <err->msg>" on stderr, exit with the error's code. */
void cli_fail(const Cli *cli, const Error *err) __attribute__((noreturn));

/* Run the exit hook, then exit with code. */
void cli_exit(const Cli *cli, int code) __attribute__((noreturn));

/* text as a decimal integer in [min, max]: an optional sign and digits, nothing else (no
 * spaces, no "1e3", no overflow). PT_EINPUT naming what, the range and the text otherwise. */
int cli_parse_long(const char *what, const char *text, long min, long max, long *out,
                   Error *err);

/* A size in bytes: a positive number with an optional unit, B KB MB GB TB (powers of 1000, as
 * transformers counts) or KiB MiB GiB TiB (powers of 1024), case-insensitive: "5GB", "2GiB",
 * "1000". PT_EINPUT naming what and the text otherwise. */
int cli_parse_size(const char *what, const char *text, uint64_t *bytes, Error *err);

void cli_list_free(CliList *list);

#endif
