/* toolrun: launcher detection, the config on every rank, self-launch, one exit path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm.h"
#include "launch.h"
#include "toolrun.h"
#include "trace.h"

/* Rank among the launcher's, known before MPI_Init (so usage errors print once). */
static int launcher_rank(void)
{
    const char *vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i]))
            return atoi(getenv(vars[i]));
    return 0;
}

static void finalize(void);

void toolrun_begin(ToolRun *r, const char *prog, const char *usage, int *argc, char ***argv)
{
    memset(r, 0, sizeof *r);
    r->prog = prog;
    r->speaker = 1;
    r->under_launcher = launch_under_launcher();
    if (r->under_launcher) {
        comm_init(argc, argv);
        r->speaker = launcher_rank() == 0;
    }
    r->cli = (Cli){.prog = prog, .usage = usage, .silent = !r->speaker, .before_exit = finalize};
}

static void finalize(void)
{
    comm_finalize();
}

void toolrun_exit(int code)
{
    finalize();
    exit(code);
}

void toolrun_fail(const ToolRun *r, const Error *err)
{
    cli_fail(&r->cli, err);
}

/* Rank 0 reads; everyone gets the text (or rank 0's error). */
static int share_text(ToolRun *r, const char *path, Error *err)
{
    if (!r->under_launcher)
        return config_read_text(path, &r->config_text, err);
    Comm world = comm_world();
    int64_t len = 0;
    if (world.rank == 0)
        len = config_read_text(path, &r->config_text, err) ? -1 : (int64_t)strlen(r->config_text);
    comm_bcast(&world, &len, sizeof len, 0);
    if (len < 0) {
        comm_bcast(&world, err, sizeof *err, 0);
        return err->code;
    }
    if (world.rank != 0)
        r->config_text = xcalloc((size_t)len + 1, 1);
    comm_bcast(&world, r->config_text, len, 0);
    return PT_OK;
}

int toolrun_config(ToolRun *r, Config *cfg, const char *path, const CliList *sets, Error *err)
{
    /* ranks we started ourselves read the config a second time: their starter has warned */
    config_warnings(r->speaker && !launch_self_launched());
    if (share_text(r, path, err) || config_load_text(cfg, r->config_text, path, err))
        return err->code;
    for (int i = 0; i < sets->n; i++)
        if (config_set(cfg, sets->items[i], err))
            return err->code;
    return sets->n ? config_validate(cfg, err) : PT_OK;
}

int toolrun_maybe_launch(ToolRun *r, const Config *cfg, const char *config_path, char **argv,
                         int *exit_code, Error *err)
{
    int world = config_world_size(cfg);
    if (r->under_launcher || world == 1)
        return 0;
    /* the ranks read the config again; a config from stdin reaches rank 0 through mpirun */
    int rc = launch_self(world, argv, strcmp(config_path, "-") == 0 ? r->config_text : NULL, err);
    if (rc < 0)
        toolrun_fail(r, err);
    *exit_code = rc;
    return 1;
}

MPI_Comm toolrun_comm(const ToolRun *r)
{
    return r->under_launcher ? MPI_COMM_WORLD : MPI_COMM_NULL;
}

int toolrun_prepare(ToolRun *r, Config *cfg, const CliOption *options, RunArgs *args, int argc,
                    char **argv, int *exit_code)
{
    int first_arg = cli_parse(&r->cli, options, argc, argv);
    if (first_arg < argc)
        cli_usage_error(&r->cli, "unexpected argument %s", argv[first_arg]);
    if (!args->config_path)
        cli_usage_error(&r->cli, "missing --config FILE");
    Error err = {0};
    int rc = toolrun_config(r, cfg, args->config_path, &args->sets, &err);
    cli_list_free(&args->sets);
    if (rc)
        toolrun_fail(r, &err);
    return toolrun_maybe_launch(r, cfg, args->config_path, argv, exit_code, &err);
}

void toolrun_trace(const ToolRun *r, const RunArgs *args, const Config *cfg, TrainOptions *opt)
{
    const char *path = args->trace ? args->trace : cfg->logging.trace[0] ? cfg->logging.trace
                                                                         : NULL;
    const char *steps = args->trace_steps ? args->trace_steps
                        : cfg->logging.trace_steps[0] ? cfg->logging.trace_steps : NULL;
    const char *steps_what = args->trace_steps ? "--trace-steps" : "logging.trace_steps";
    if (steps && !path)
        cli_usage_error(&r->cli, "%s needs --trace FILE or logging.trace", steps_what);
    if (!path)
        return;
    opt->trace = path;
    opt->trace_from = 1;
    opt->trace_to = 0;
    Error err = {0};
    if (steps && trace_parse_steps(steps_what, steps, &opt->trace_from, &opt->trace_to, &err))
        cli_usage_error(&r->cli, "%s", err.msg);
    /* the file is written at the end: a directory that cannot take it is refused now */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir] = '\0';
    if (access(slash ? dir : ".", W_OK | X_OK))
        cli_usage_error(&r->cli, "%s %s: cannot write in %s",
                        args->trace ? "--trace" : "logging.trace", path,
                        slash ? dir : "the current directory");
}
