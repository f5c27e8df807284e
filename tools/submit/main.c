/* picotron-submit: check each run as picotron-train would, render one sbatch script per run (a
 * sweep of runs that share resources as one job array), submit it with sbatch (optionally as a
 * chain of jobs), keep each run directory's status true from squeue, scontrol and sacct, and
 * cancel what is queued. Reference: docs/submit.md. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "atomicfile.h"
#include "cli.h"
#include "config.h"
#include "error.h"
#include "k8s.h"
#include "preflight.h"
#include "proc.h"
#include "rundir.h"
#include "slurm.h"
#include "slurmjob.h"
#include "submission.h"

static const char usage[] =
    "usage: picotron-submit [options] RUN_DIR|CONFIG|DIR|- ...\n"
    "       picotron-submit status [--json] RUN_DIR|CONFIG|DIR ...\n"
    "       picotron-submit cancel RUN_DIR|CONFIG|DIR ...\n"
    "       picotron-submit --k8s [options] RUN_DIR|CONFIG|DIR|- ...\n"
    "\n"
    "Check each run as picotron-train would (config, --set, data shards and their first\n"
    "step's tokens, the checkpoint it starts from), then render an sbatch script per run\n"
    "(RUN_DIR/config.json, or CONFIG whose directory is the run directory; a DIR without a\n"
    "config.json stands for every run directory below it), submit it with sbatch and record\n"
    "the job ids in RUN_DIR/submit.json. RUN_DIR/status holds one word: init pending running\n"
    "fail oom timeout completed preempted cancelled; RUN_DIR/status.txt the same in upstream\n"
    "picotron's seven words. Runs that need the same resources go as one job array. stdout:\n"
    "one line per submitted run, 'RUN JOBID[,JOBID...]'. Completed, pending and running runs\n"
    "are never submitted again; nothing is submitted when any run fails its checks. The job\n"
    "runs `srun --mpi=pmix --kill-on-bad-exit=1 picotron-train --config CONFIG [--set ...]\n"
    "--set checkpoint.resume=auto`; its stdout (the loss log) and stderr go to\n"
    "RUN_DIR/slurm-JOBID.out and .err. On exit 75 (checkpoint saved after SIGUSR1) the script\n"
    "runs `scontrol requeue`. `cancel` runs scancel on the queued and running jobs of each run.\n"
    "\n"
    "resources:\n"
    "  -N, --nodes N              nodes per run (default 1); the ranks (dp*pp*cp*tp of the\n"
    "                             config) are spread evenly over them\n"
    "      --ntasks-per-node N    ranks per node (default: ranks / nodes; must agree)\n"
    "      --gpus-per-node N      GPUs per node (default 0: no --gpus-per-node line)\n"
    "  -c, --cpus-per-task N      CPUs per rank, also OMP_NUM_THREADS (default 1)\n"
    "  -t, --time T               time limit (minutes, MM:SS, HH:MM:SS, D-HH:MM:SS)\n"
    "  -p, --partition P          Slurm partition\n"
    "      --qos Q                quality of service\n"
    "  -A, --account A            account to charge\n"
    "      --exclusive            whole nodes\n"
    "  -O, --overcommit           more ranks than CPUs (small clusters, tests)\n"
    "      --sbatch-arg ARG       extra '#SBATCH ARG' line, e.g. --sbatch-arg=--mem=0\n"
    "                             (repeatable)\n"
    "behaviour:\n"
    "  -J, --job-name NAME        job name (default: the run directory's name; a sweep: its\n"
    "                             parent's)\n"
    "      --signal-before S      SIGUSR1 to the ranks S seconds before the time limit, so\n"
    "                             they save and exit 75 (default 300, at most half of --time;\n"
    "                             0: no signal)\n"
    "      --set KEY=VALUE        override a config key in the job (picotron-train --set),\n"
    "                             checked before submitting (repeatable)\n"
    "      --max-concurrent K     a job array runs at most K runs at once (--array=0-N%%K)\n"
    "      --chain K              submit K jobs per run, each after the previous ends\n"
    "                             (--dependency=afterany), each resuming the checkpoint\n"
    "      --steps N              each job trains at most N steps (picotron-train --steps)\n"
    "      --only LIST            submit only runs whose status is in LIST, e.g. fail,timeout\n"
    "      --no-array             one job per run even when runs share resources\n"
    "      --run-dir DIR          with '-': write the config read from stdin to\n"
    "                             DIR/config.json (DIR must not hold one yet)\n"
    "      --train PATH           picotron-train to run (default: the one beside this tool)\n"
    "      --dry-run              print the scripts, submit and write nothing\n"
    "      --json                 status: a JSON array instead of the table\n"
    "kubernetes (docs/kubernetes.md):\n"
    "      --k8s                  write RUN_DIR/k8s.json instead of submitting: a v1 List\n"
    "                             of a ConfigMap (the config, resume \"auto\") and a Job of\n"
    "                             one pod (ranks self-launched); with --nodes K > 1 an\n"
    "                             Indexed Job of K pods behind a headless Service (ranks\n"
    "                             through mpirun over ssh); apply with kubectl apply -f.\n"
    "                             Uses --nodes, --ntasks-per-node, --cpus-per-task,\n"
    "                             --gpus-per-node (default: one per rank when the config's\n"
    "                             environment.device is cuda), --job-name, --signal-before\n"
    "                             (the pod's grace period after SIGTERM), --set, --steps,\n"
    "                             --run-dir, --dry-run (print, write nothing)\n"
    "      --k8s-image IMAGE      the container image (default picotron:latest)\n"
    "      --k8s-pvc NAME         PersistentVolumeClaim mounted at /workspace, the pods'\n"
    "                             working directory: it holds this directory's files\n"
    "                             (default picotron)\n"
    "      --k8s-namespace NS     the objects' namespace (default: kubectl's)\n"
    "      --k8s-ssh-secret NAME  several nodes: Secret with the ssh keys (default\n"
    "                             JOB-ssh)\n"
    "      --k8s-mpi-operator     several nodes: a kubeflow MPIJob (v2beta1) instead of\n"
    "                             the Indexed Job and Service\n"
    "  -h, --help                 this help\n"
    "\n"
    "exit status: 0 ok, 1 Slurm refused or failed, 2 bad input or no Slurm on PATH\n"
    "\n"
    "examples:\n"
    "  picotron-submit --nodes 2 --gpus-per-node 8 --time 24:00:00 --chain 3 runs/a\n"
    "  picotron-submit --dry-run --time 1:00:00 runs/*/\n"
    "  picotron-submit --max-concurrent 4 --set training.learning_rate=1e-3 sweep/\n"
    "  picotron-submit status runs/ ; picotron-submit --only fail,timeout runs/\n"
    "  picotron-submit cancel runs/a\n"
    "  picotron-submit --k8s --k8s-image registry.example/picotron:1 --k8s-pvc runs runs/a\n";

static const Cli cli = {.prog = "picotron-submit", .usage = usage};

typedef struct {
    SlurmSpec spec;
    int ntasks_per_node;    /* --ntasks-per-node, 0: derived */
    int signal_given;
    int chain;
    int only_mask;          /* bit per RunStatus; 0: no --only */
    int no_array;
    int dry_run;
    const char *run_dir_for_stdin;
    CliList sets;           /* --set, then checkpoint.resume=auto: the job's overrides */
    int k8s;                /* --k8s: write Kubernetes manifests, submit nothing */
    K8sSpec k8s_spec;
} SubmitOpts;

static void open_run(RunDir *r, const char *arg, const CliList *sets)
{
    Error err = {0};
    if (rundir_open(r, arg, sets ? sets->items : NULL, sets ? sets->n : 0, &err))
        cli_fail(&cli, &err);
}

/* The runs the arguments name (rundir_find_args; '-' stays '-'). */
static char **find_runs(char **args, int nargs, int *n)
{
    char **list;
    Error err = {0};
    if (rundir_find_args(args, nargs, &list, n, &err))
        cli_fail(&cli, &err);
    return list;
}

static void save_run(const RunDir *r)
{
    Error err = {0};
    if (rundir_save(r, &err))
        cli_fail(&cli, &err);
}

/* ---- status ---- */

static void status_row(const RunDir *r, json_t *arr)
{
    if (arr) {
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s}", "run_dir", r->dir,
                                             "status", slurm_status_name(r->status), "job",
                                             r->job, "slurm_state", r->state, "exit_code",
                                             r->exit_code));
        return;
    }
    char slurm[128];
    snprintf(slurm, sizeof slurm, "%s%s%s", r->state, r->exit_code[0] ? " " : "", r->exit_code);
    printf("%-32s %-10s %-12s %s\n", r->arg, slurm_status_name(r->status),
           r->job[0] ? r->job : "-", slurm[0] ? slurm : "-");
}

static int cmd_status(int argc, char **argv)
{
    int json = 0;
    const CliOption options[] = {OPT_FLAG("json", 0, &json), OPT_END};
    int first = cli_parse(&cli, options, argc, argv);
    if (first >= argc)
        cli_usage_error(&cli, "status: give at least one RUN_DIR");
    if (!slurmjob_can_query())
        cli_die(&cli, PT_EINPUT, "no Slurm on PATH (squeue, scontrol, sacct): install slurm-wlm "
                                 "(scripts/install-deps) or run where Slurm is");
    int n;
    char **args = find_runs(argv + first, argc - first, &n);
    RunDir *runs = xcalloc((size_t)n, sizeof *runs);
    for (int i = 0; i < n; i++)
        open_run(&runs[i], args[i], NULL);
    json_t *arr = json ? json_array() : NULL;
    if (!json)
        printf("%-32s %-10s %-12s %s\n", "RUN", "STATUS", "JOB", "SLURM");
    for (int i = 0; i < n; i++) {
        rundir_refresh(&runs[i], 1);
        save_run(&runs[i]);
        status_row(&runs[i], arr);
        rundir_free(&runs[i]);
    }
    if (json) {
        char *text = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        puts(text);
        free(text);
        json_decref(arr);
    }
    free(runs);
    rundir_free_list(args, n);
    return 0;
}

/* ---- cancel ---- */

static int cmd_cancel(int argc, char **argv)
{
    const CliOption options[] = {OPT_END};
    int first = cli_parse(&cli, options, argc, argv);
    if (first >= argc)
        cli_usage_error(&cli, "cancel: give at least one RUN_DIR");
    if (!proc_on_path("scancel"))
        cli_die(&cli, PT_EINPUT, "no Slurm on PATH (scancel not found): install slurm-wlm "
                                 "(scripts/install-deps) or run where Slurm is");
    int n, failed = 0;
    char **args = find_runs(argv + first, argc - first, &n);
    RunDir *runs = xcalloc((size_t)n, sizeof *runs);
    for (int i = 0; i < n; i++)
        open_run(&runs[i], args[i], NULL);
    for (int i = 0; i < n; i++) {
        RunDir *r = &runs[i];
        rundir_refresh(r, 1);
        char done[4096];
        Error err = {0};
        if (submission_cancel(r, done, sizeof done, &err)) {
            fprintf(stderr, "%s: %s\n", cli.prog, err.msg);
            failed = 1;
        }
        if (done[0])
            printf("%s %s\n", r->arg, done);
        else if (!err.code)
            fprintf(stderr, "%s: %s: nothing to cancel, status %s\n", cli.prog, r->arg,
                    slurm_status_name(r->status));
        rundir_refresh(r, 1);
        save_run(r);
        rundir_free(r);
    }
    free(runs);
    rundir_free_list(args, n);
    return failed ? PT_ERUNTIME : 0;
}

/* ---- submit ---- */

/* The config from stdin (rundir_stdin_config), or one line and exit 2. */
static Config *stdin_run_dir(const SubmitOpts *o)
{
    Error err = {0};
    Config *cfg;
    if (!o->run_dir_for_stdin)
        cli_die(&cli, PT_EINPUT, "a config on stdin ('-') needs --run-dir DIR to hold it (the "
                                 "job reads DIR/config.json and writes its logs there)");
    if (rundir_stdin_config(o->run_dir_for_stdin, o->sets.items, o->sets.n, !o->dry_run, &cfg,
                            &err))
        cli_fail(&cli, &err);
    return cfg;
}

/* Render one group of runs (one run: a job; several: an array); print it on a dry run, else
 * submit it. */
static void submit_group(const SubmitOpts *o, RunDir **g, int n, const char *workdir)
{
    Error err = {0};
    char *script;
    if (submission_render(&o->spec, g, n, workdir, &script, &err))
        cli_fail(&cli, &err);
    if (o->dry_run) {
        fputs(script, stdout);
        if (o->chain > 1)
            printf("# picotron-submit: submitted %d times, job k+1 with "
                   "--dependency=afterany:<job k>\n", o->chain);
        printf("\n");
    } else if (submission_submit(g, n, script, o->chain, stdout, &err)) {
        fprintf(stderr, "%s: %s\n", cli.prog, err.msg);
        cli_exit(&cli, PT_ERUNTIME);
    }
    free(script);
}

/* The runs named on the command line ('-': the config on stdin), each once. */
static RunDir *open_runs(SubmitOpts *o, char **args, int n, const char *workdir)
{
    RunDir *runs = xcalloc((size_t)n, sizeof *runs);
    int nstdin = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(args[i], "-") != 0) {
            open_run(&runs[i], args[i], &o->sets);
            continue;
        }
        if (nstdin++)
            cli_usage_error(&cli, "'-' given twice: stdin holds one config");
        Config *cfg = stdin_run_dir(o);
        if (o->dry_run) { /* a dry run writes nothing: the run is the paths it would have */
            rundir_planned(&runs[i], o->run_dir_for_stdin, workdir, cfg);
        } else {
            free(cfg);
            open_run(&runs[i], o->run_dir_for_stdin, &o->sets);
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(runs[i].dir, runs[j].dir))
                cli_die(&cli, PT_EINPUT, "%s and %s are the same run directory: give each run "
                                         "once", runs[j].arg, runs[i].arg);
    if (nstdin == 0 && o->run_dir_for_stdin)
        cli_usage_error(&cli, "--run-dir only goes with '-' (a config on stdin)");
    return runs;
}

/* --ntasks-per-node, when given, must agree with the config's mesh. */
static void check_ntasks(const SubmitOpts *o, const RunDir *r)
{
    if (o->ntasks_per_node && o->ntasks_per_node * o->spec.nodes != r->ntasks)
        cli_die(&cli, PT_EINPUT, "%s: --nodes %d x --ntasks-per-node %d = %d ranks, but the "
                                 "config's mesh dp*pp*cp*tp needs %d", r->arg, o->spec.nodes,
                o->ntasks_per_node, o->spec.nodes * o->ntasks_per_node, r->ntasks);
}

/* Whether run r goes: never a completed, pending or running one; with --only, those listed.
 * A run left out gets one line saying why. */
static int run_goes(const SubmitOpts *o, const RunDir *r)
{
    const char *why = rundir_skip_reason(r, o->only_mask);
    if (why)
        fprintf(stderr, "%s: %s: skipped, status %s%s%s%s: %s\n", cli.prog, r->arg,
                slurm_status_name(r->status), r->job[0] ? " (job " : "", r->job,
                r->job[0] ? ")" : "", why);
    if (!why)
        check_ntasks(o, r);
    return !why;
}

/* ---- kubernetes ---- */

/* Render run r's manifests (lib/k8s) and write them to RUN_DIR/k8s.json (atomically), or print
 * them on a dry run; "RUN RUN_DIR/k8s.json" on stdout. */
static void k8s_run(const SubmitOpts *o, const RunDir *r, const char *workdir)
{
    K8sSpec s = o->k8s_spec;
    char name[K8S_NAME_MAX + 1], secret[K8S_NAME_MAX + 8];
    if (!s.name) {
        const char *base = strrchr(r->dir, '/');
        k8s_derive_name(base && base[1] ? base + 1 : r->dir, name, sizeof name);
        s.name = name;
    }
    if (!s.ssh_secret) {
        snprintf(secret, sizeof secret, "%s-ssh", s.name);
        s.ssh_secret = secret;
    }
    Error err = {0};
    char *pod_config, *text;
    json_t *list;
    if (k8s_pod_config(r->cfg, workdir, &pod_config, &err) ||
        k8s_render(&s, r->cfg, pod_config, &list, &err))
        cli_die(&cli, err.code, "%s: %s", r->arg, err.msg);
    free(pod_config);
    text = json_dumps(list, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(list);
    size_t len = strlen(text);
    text = realloc(text, len + 2);
    memcpy(text + len, "\n", 2);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/k8s.json", r->dir);
    if (o->dry_run)
        fputs(text, stdout);
    else if (atomic_write_file(path, text, len + 1, &err))
        cli_fail(&cli, &err);
    else
        printf("%s %s\n", r->arg, path);
    free(text);
}

/* The options that mean something to Slurm only, refused with --k8s; and the --k8s-* ones
 * refused without it. */
static void check_k8s_options(const SubmitOpts *o, const CliList *sbatch_args, const char *only,
                              const char *train, int k8s_given)
{
    const struct {
        int given;
        const char *name;
    } slurm_only[] = {
        {o->spec.time != NULL, "--time"}, {o->spec.partition != NULL, "--partition"},
        {o->spec.qos != NULL, "--qos"}, {o->spec.account != NULL, "--account"},
        {o->spec.exclusive, "--exclusive"}, {o->spec.overcommit, "--overcommit"},
        {sbatch_args->n > 0, "--sbatch-arg"}, {o->spec.max_concurrent > 0, "--max-concurrent"},
        {o->chain != 1, "--chain"}, {only != NULL, "--only"}, {o->no_array, "--no-array"},
        {train != NULL, "--train"},
    };
    if (o->k8s) {
        for (size_t i = 0; i < sizeof slurm_only / sizeof slurm_only[0]; i++)
            if (slurm_only[i].given)
                cli_usage_error(&cli, "%s is a Slurm option; --k8s writes Kubernetes manifests",
                                slurm_only[i].name);
    } else if (k8s_given) {
        cli_usage_error(&cli, "the --k8s-* options go with --k8s");
    }
    if (!o->k8s)
        return;
    const K8sSpec *s = &o->k8s_spec;
    Error err = {0};
    if ((s->name && k8s_check_label("--job-name", s->name, K8S_NAME_MAX, &err)) ||
        k8s_check_subdomain("--k8s-pvc", s->pvc, &err) ||
        (s->namespace && k8s_check_label("--k8s-namespace", s->namespace, 63, &err)) ||
        (s->ssh_secret && k8s_check_subdomain("--k8s-ssh-secret", s->ssh_secret, &err)))
        cli_usage_error(&cli, "%s", err.msg);
    int bad = !s->image[0];
    for (const char *p = s->image; *p; p++)
        bad |= (unsigned char)*p <= ' ' || *p == 0x7f;
    if (bad)
        cli_usage_error(&cli, "--k8s-image \"%s\": give an image reference without spaces or "
                              "control characters", s->image);
    if (s->nodes == 1 && (s->mpi_operator || s->ssh_secret))
        cli_usage_error(&cli, "%s is for several nodes (--nodes K > 1); one pod needs no ssh",
                        s->mpi_operator ? "--k8s-mpi-operator" : "--k8s-ssh-secret");
    if (s->mpi_operator && s->ssh_secret)
        cli_usage_error(&cli, "--k8s-ssh-secret: the MPI Operator makes the ssh keys itself");
}

/* --k8s: every run checked (config, --set, pre-flight) before any manifest is written. */
static int cmd_k8s(SubmitOpts *o, char **argv, int argc, CliList *user_sets)
{
    char workdir[PATH_MAX];
    if (!getcwd(workdir, sizeof workdir))
        cli_die(&cli, PT_ERUNTIME, "cannot read the working directory: %s", strerror(errno));
    int n;
    char **args = find_runs(argv, argc, &n);
    if (n > 1 && o->k8s_spec.name)
        cli_usage_error(&cli, "--job-name names one run's objects; %d runs would share it", n);
    RunDir *runs = open_runs(o, args, n, workdir);
    Error err = {0};
    for (int i = 0; i < n; i++) {
        check_ntasks(o, &runs[i]);
        if (rundir_preflight(&runs[i], &err))
            cli_fail(&cli, &err);
    }
    for (int i = 0; i < n; i++)
        k8s_run(o, &runs[i], workdir);
    for (int i = 0; i < n; i++)
        rundir_free(&runs[i]);
    free(runs);
    rundir_free_list(args, n);
    free(o->sets.items);
    cli_list_free(user_sets);
    return 0;
}

static int cmd_submit(int argc, char **argv)
{
    SubmitOpts o = {.spec = {.nodes = 1, .cpus_per_task = 1, .signal_before = 300}, .chain = 1};
    CliList sbatch_args = {0}, user_sets = {0};
    const char *only = NULL, *train = NULL;
    int gpus_given = 0, k8s_given = 0;
    o.k8s_spec = (K8sSpec){.image = "picotron:latest", .pvc = "picotron"};
    const CliOption options[] = {
        OPT_INT("nodes", 'N', &o.spec.nodes, 1, 1000000),
        OPT_INT("ntasks-per-node", 0, &o.ntasks_per_node, 1, 1000000),
        {"gpus-per-node", 0, CLI_INT, &o.spec.gpus_per_node, 0, 1000000, &gpus_given},
        OPT_INT("cpus-per-task", 'c', &o.spec.cpus_per_task, 1, 1000000),
        OPT_STRING("time", 't', &o.spec.time),
        OPT_STRING("partition", 'p', &o.spec.partition),
        OPT_STRING("qos", 0, &o.spec.qos),
        OPT_STRING("account", 'A', &o.spec.account),
        OPT_FLAG("exclusive", 0, &o.spec.exclusive),
        OPT_FLAG("overcommit", 'O', &o.spec.overcommit),
        OPT_LIST("sbatch-arg", 0, &sbatch_args),
        OPT_STRING("job-name", 'J', &o.spec.job_name),
        {"signal-before", 0, CLI_INT, &o.spec.signal_before, 0, 1000000, &o.signal_given},
        OPT_LIST("set", 0, &user_sets),
        OPT_INT("max-concurrent", 0, &o.spec.max_concurrent, 1, 1000000),
        OPT_INT("chain", 0, &o.chain, 1, 1000000),
        OPT_INT("steps", 0, &o.spec.steps, 1, 1000000),
        OPT_STRING("only", 0, &only),
        OPT_FLAG("no-array", 0, &o.no_array),
        OPT_STRING("run-dir", 0, &o.run_dir_for_stdin),
        OPT_STRING("train", 0, &train),
        OPT_FLAG("dry-run", 0, &o.dry_run),
        OPT_FLAG("k8s", 0, &o.k8s),
        {"k8s-image", 0, CLI_STRING, &o.k8s_spec.image, 0, 0, &k8s_given},
        {"k8s-pvc", 0, CLI_STRING, &o.k8s_spec.pvc, 0, 0, &k8s_given},
        {"k8s-namespace", 0, CLI_STRING, &o.k8s_spec.namespace, 0, 0, &k8s_given},
        {"k8s-ssh-secret", 0, CLI_STRING, &o.k8s_spec.ssh_secret, 0, 0, &k8s_given},
        {"k8s-mpi-operator", 0, CLI_FLAG, &o.k8s_spec.mpi_operator, 0, 0, &k8s_given},
        OPT_END,
    };
    int first = cli_parse(&cli, options, argc, argv);
    Error err = {0};
    o.k8s_spec.name = o.spec.job_name;
    o.k8s_spec.nodes = o.spec.nodes;
    o.k8s_spec.cpus_per_task = o.spec.cpus_per_task;
    o.k8s_spec.gpus_per_node = gpus_given ? o.spec.gpus_per_node : -1;
    o.k8s_spec.grace = o.spec.signal_before;
    o.k8s_spec.steps = o.spec.steps;
    check_k8s_options(&o, &sbatch_args, only, train, k8s_given);
    if (only && slurm_parse_status_list("--only", only, &o.only_mask, &err))
        cli_fail(&cli, &err);
    o.spec.sbatch_args = sbatch_args.items;
    o.spec.nsbatch_args = sbatch_args.n;
    o.spec.sets = user_sets.items;
    o.spec.nsets = user_sets.n;
    /* the config the job runs: the file, the --set list, then the script's resume "auto" */
    o.sets.items = xcalloc((size_t)user_sets.n + 1, sizeof *o.sets.items);
    for (int i = 0; i < user_sets.n; i++)
        o.sets.items[o.sets.n++] = user_sets.items[i];
    o.sets.items[o.sets.n++] = "checkpoint.resume=auto";
    if (o.spec.max_concurrent && o.no_array)
        cli_usage_error(&cli, "--max-concurrent throttles a job array; --no-array submits none");
    if (first >= argc)
        cli_usage_error(&cli, "give at least one RUN_DIR, CONFIG or '-'");
    if (o.k8s)
        return cmd_k8s(&o, argv + first, argc - first, &user_sets);
    if (!o.dry_run && !proc_on_path("sbatch"))
        cli_die(&cli, PT_EINPUT, "no Slurm on PATH (sbatch not found): install slurm-wlm "
                                 "(scripts/install-deps), or use --dry-run to print the script");
    long limit = 0;
    if (o.spec.time && slurm_parse_time(o.spec.time, &limit, &err))
        cli_fail(&cli, &err);
    if (!o.signal_given && limit > 0 && o.spec.signal_before > limit / 2)
        o.spec.signal_before = (int)(limit / 2);

    char train_path[PATH_MAX];
    if (train && (!realpath(train, train_path) || access(train_path, X_OK) != 0))
        cli_die(&cli, PT_EINPUT, "--train %s: not an executable file", train);
    if (!train && !proc_find("picotron-train", train_path, sizeof train_path))
        cli_die(&cli, PT_EINPUT, "picotron-train not found beside %s or on PATH; give --train "
                                 "PATH", cli.prog);
    o.spec.train = train_path;
    char workdir[PATH_MAX];
    if (!getcwd(workdir, sizeof workdir))
        cli_die(&cli, PT_ERUNTIME, "cannot read the working directory: %s", strerror(errno));

    int n;
    char **args = find_runs(argv + first, argc - first, &n);
    RunDir *runs = open_runs(&o, args, n, workdir);
    int ask = slurmjob_can_query(), ngo = 0;
    RunDir **go = xcalloc((size_t)n, sizeof *go);
    for (int i = 0; i < n; i++) {
        rundir_refresh(&runs[i], ask);
        if (!o.dry_run && rundir_submissions(&runs[i]) > 0)
            save_run(&runs[i]);
        if (run_goes(&o, &runs[i]))
            go[ngo++] = &runs[i];
    }
    /* every run that goes passes picotron-train's checks before any is submitted */
    for (int i = 0; i < ngo; i++)
        if (rundir_preflight(go[i], &err))
            cli_fail(&cli, &err);
    /* groups: runs with the same rank count share every resource -> one job array */
    RunDir **group = xcalloc((size_t)(ngo ? ngo : 1), sizeof *group);
    for (int i = 0; i < ngo; i++) {
        if (!go[i])
            continue;
        int k = 0;
        group[k++] = go[i];
        for (int j = i + 1; j < ngo && !o.no_array; j++)
            if (go[j] && go[j]->ntasks == go[i]->ntasks) {
                group[k++] = go[j];
                go[j] = NULL;
            }
        submit_group(&o, group, k, workdir);
    }
    for (int i = 0; i < n; i++)
        rundir_free(&runs[i]);
    free(group), free(go), free(runs);
    rundir_free_list(args, n);
    free(o.sets.items);
    cli_list_free(&user_sets);
    cli_list_free(&sbatch_args);
    return 0;
}

int main(int argc, char **argv)
{
    config_warnings(1);
    if (argc > 1 && !strcmp(argv[1], "status"))
        return cmd_status(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "cancel"))
        return cmd_cancel(argc - 1, argv + 1);
    return cmd_submit(argc, argv);
}
