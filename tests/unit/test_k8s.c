/* test_k8s: Kubernetes manifests of a run. Names: what Kubernetes accepts (DNS-1035 labels,
 * DNS-1123 subdomains) is accepted and the rest refused; names derived from any directory name
 * pass the check and stay apart. The pod's config: paths below the working directory become
 * relative (the volume holds them), a save_dir or run_dir off the volume is refused, resume
 * "auto" stays, and hostile text round-trips through JSON exactly. The objects: one pod's Job,
 * the Indexed Job with its headless Service, the MPIJob; exit 75 and disruptions are ignored by
 * podFailurePolicy, exit 2 fails the Job; the claim is mounted at the working directory; CPU,
 * memory and GPU numbers follow the config and the memory plan. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "k8s.h"
#include "memplan.h"

static const char BASE[] =
    "{\"distributed\": {\"dp_size\": 2, \"pp_size\": 2},\n"
    " \"model\": {\"name\": \"tiny\"},\n"
    " \"training\": {\"seq_length\": 64, \"micro_batch_size\": 4},\n"
    " \"dataset\": {\"name\": \"synthetic\"},\n"
    " \"checkpoint\": {\"save_dir\": \"/home/u/w/runs/a/ckpt\", \"resume\": \"auto\"},\n"
    " \"logging\": {\"run_dir\": \"/home/u/w/runs/a\"}}";

static Config base(void)
{
    Config cfg;
    Error err = {0};
    config_warnings(0);
    ck_assert_msg(config_parse(&cfg, BASE, "base.json", &err) == PT_OK, "%s", err.msg);
    return cfg;
}

/* The value at a '/'-separated path of object keys and array indices; NULL when absent. */
static json_t *at(json_t *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *v = root;
    for (char *save, *tok = strtok_r(buf, "/", &save); tok && v; tok = strtok_r(NULL, "/", &save))
        v = json_is_array(v) ? json_array_get(v, strtoul(tok, NULL, 10)) : json_object_get(v, tok);
    return v;
}

static const char *str_at(json_t *root, const char *path)
{
    json_t *v = at(root, path);
    ck_assert_msg(json_is_string(v), "%s: not a string", path);
    return json_string_value(v);
}

static long long int_at(json_t *root, const char *path)
{
    json_t *v = at(root, path);
    ck_assert_msg(json_is_integer(v), "%s: not an integer", path);
    return json_integer_value(v);
}

static K8sSpec spec(int nodes)
{
    return (K8sSpec){.name = "run-a", .image = "reg.example/picotron:1", .pvc = "runs",
                     .ssh_secret = "run-a-ssh", .nodes = nodes, .cpus_per_task = 2,
                     .gpus_per_node = -1, .grace = 300};
}

static json_t *render(const K8sSpec *s, const Config *cfg)
{
    json_t *list;
    Error err = {0};
    ck_assert_msg(k8s_render(s, cfg, "{}", &list, &err) == PT_OK, "%s", err.msg);
    ck_assert_str_eq(str_at(list, "kind"), "List");
    ck_assert_str_eq(str_at(list, "apiVersion"), "v1");
    return list;
}

/* ---- names ---- */

START_TEST(labels_kubernetes_accepts_pass_and_others_are_refused)
{
    Error err = {0};
    const char *good[] = {"a", "run-1", "a0-b1", "abcdefghijklmnopqrstuvwxyz-0123456789abc"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(k8s_check_label("--job-name", good[i], 40, &err) == PT_OK, "%s", good[i]);
    const char *bad[] = {"", "A", "Run", "-a", "a-", "1a", "a_b", "a.b", "a b", "a\nb", "é",
                         "abcdefghijklmnopqrstuvwxyz-0123456789abcd"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err = (Error){0};
        ck_assert_msg(k8s_check_label("--job-name", bad[i], 40, &err) == PT_EINPUT, "%s", bad[i]);
        ck_assert_ptr_null(strchr(err.msg, '\n')); /* "a\nb" is shown as "a?b" */
    }
    ck_assert_msg(strstr(err.msg, "--job-name \""), "%s", err.msg);
}
END_TEST

START_TEST(subdomains_kubernetes_accepts_pass_and_others_are_refused)
{
    Error err = {0};
    char long_ok[254], too_long[255];
    memset(long_ok, 'a', 253);
    long_ok[253] = '\0';
    memset(too_long, 'a', 254);
    too_long[254] = '\0';
    const char *good[] = {"runs", "0runs", "a.b-c", "my-pvc.v2", long_ok};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ck_assert_msg(k8s_check_subdomain("--k8s-pvc", good[i], &err) == PT_OK, "%s", good[i]);
    const char *bad[] = {"", "Runs", ".a", "a.", "-a", "a-", "a b", "a/b", "a_b", too_long};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(k8s_check_subdomain("--k8s-pvc", bad[i], &err) == PT_EINPUT, "%s", bad[i]);
}
END_TEST

START_TEST(derived_names_pass_the_check_and_stay_apart)
{
    const char *texts[] = {"tiny", "a_b", "a.b", "My Run", "123", "", "---", "x\"; rm -rf /",
                           "a\nb", "ünïcode", "0123456789012345678901234567890123456789xyz",
                           "Abcdefghijklmnopqrstuvwxyz_abcdefghijklmnopqrstuvwxyz"};
    size_t n = sizeof texts / sizeof texts[0];
    char names[16][64];
    Error err = {0};
    for (size_t i = 0; i < n; i++) {
        k8s_derive_name(texts[i], names[i], sizeof names[i]);
        ck_assert_msg(k8s_check_label("name", names[i], K8S_NAME_MAX, &err) == PT_OK,
                      "%s -> %s: %s", texts[i], names[i], err.msg);
        for (size_t j = 0; j < i; j++)
            ck_assert_msg(strcmp(names[i], names[j]) != 0, "%s and %s -> %s", texts[i],
                          texts[j], names[i]);
    }
    ck_assert_str_eq(names[0], "tiny"); /* a valid name stays as it is */
    ck_assert_int_eq(strncmp(names[1], "a-b-", 4), 0);
    ck_assert_int_eq(strncmp(names[3], "my-run-", 7), 0);
    ck_assert_int_eq(strncmp(names[4], "run-123-", 8), 0);
    ck_assert_uint_eq(strlen(names[3]), strlen("my-run-") + 6);
}
END_TEST

/* ---- the pod's config ---- */

START_TEST(paths_below_the_working_directory_become_relative)
{
    Config cfg = base();
    Error err = {0};
    snprintf(cfg.dataset.name, sizeof cfg.dataset.name, "/home/u/w/data/train_*.bin");
    snprintf(cfg.dataset.validation, sizeof cfg.dataset.validation, "/data/val.bin");
    snprintf(cfg.checkpoint.init_from, sizeof cfg.checkpoint.init_from, "ckpt0/step_00000010");
    snprintf(cfg.model.name, sizeof cfg.model.name, "tiny");
    char *text;
    ck_assert_int_eq(k8s_pod_config(&cfg, "/home/u/w/", &text, &err), PT_OK);
    Config back;
    ck_assert_msg(config_parse(&back, text, "pod.json", &err) == PT_OK, "%s", err.msg);
    free(text);
    ck_assert_str_eq(back.checkpoint.save_dir, "runs/a/ckpt");
    ck_assert_str_eq(back.logging.run_dir, "runs/a");
    ck_assert_str_eq(back.dataset.name, "data/train_*.bin");
    ck_assert_str_eq(back.dataset.validation, "/data/val.bin"); /* elsewhere: as it is */
    ck_assert_str_eq(back.checkpoint.init_from, "ckpt0/step_00000010");
    ck_assert_str_eq(back.checkpoint.resume, "auto");
    ck_assert_int_eq(back.distributed.dp_size, 2);
    ck_assert_int_eq(back.distributed.pp_size, 2);
    /* the working directory itself is "." */
    snprintf(cfg.logging.run_dir, sizeof cfg.logging.run_dir, "/home/u/w");
    ck_assert_int_eq(k8s_pod_config(&cfg, "/home/u/w", &text, &err), PT_OK);
    ck_assert_int_eq(config_parse(&back, text, "pod.json", &err), PT_OK);
    free(text);
    ck_assert_str_eq(back.logging.run_dir, ".");
}
END_TEST

START_TEST(what_must_persist_is_refused_off_the_volume)
{
    Error err = {0};
    char *text = NULL;
    const char *cases[][2] = {
        {"checkpoint.save_dir", "/home/u/wx/ckpt"}, /* a prefix is not a parent */
        {"checkpoint.save_dir", "/tmp/ckpt"},
        {"checkpoint.save_dir", "../ckpt"},
        {"logging.run_dir", "/home/u"},
        {"logging.run_dir", ".."},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Config cfg = base();
        err = (Error){0};
        char *dst = !strcmp(cases[i][0], "logging.run_dir") ? cfg.logging.run_dir
                                                             : cfg.checkpoint.save_dir;
        snprintf(dst, CFG_STR, "%s", cases[i][1]);
        ck_assert_int_eq(k8s_pod_config(&cfg, "/home/u/w", &text, &err), PT_EINPUT);
        ck_assert_msg(!strncmp(err.msg, cases[i][0], strlen(cases[i][0])) &&
                      strstr(err.msg, cases[i][1]) && !strchr(err.msg, '\n'), "%s", err.msg);
    }
    /* data elsewhere is the image's or another volume's: kept */
    Config cfg = base();
    snprintf(cfg.dataset.name, sizeof cfg.dataset.name, "../shared/x.bin");
    ck_assert_int_eq(k8s_pod_config(&cfg, "/home/u/w", &text, &err), PT_OK);
    free(text);
}
END_TEST

START_TEST(hostile_text_round_trips_through_json)
{
    Config cfg = base();
    Error err = {0};
    const char *hostile = "/home/u/w/d \"q\" \\ $(x) `y` ';\n\t{}.bin";
    snprintf(cfg.dataset.name, sizeof cfg.dataset.name, "%s", hostile);
    char *text;
    ck_assert_int_eq(k8s_pod_config(&cfg, "/home/u/w", &text, &err), PT_OK);
    K8sSpec s = spec(1);
    json_t *list;
    ck_assert_int_eq(k8s_render(&s, &cfg, text, &list, &err), PT_OK);
    char *dumped = json_dumps(list, JSON_INDENT(2));
    json_t *again = json_loads(dumped, 0, NULL);
    ck_assert_ptr_nonnull(again);
    ck_assert_str_eq(str_at(again, "items/0/data/config.json"), text);
    Config back;
    ck_assert_int_eq(config_parse(&back, str_at(again, "items/0/data/config.json"), "p", &err),
                     PT_OK);
    ck_assert_str_eq(back.dataset.name, hostile + strlen("/home/u/w/"));
    free(dumped), free(text);
    json_decref(list), json_decref(again);
}
END_TEST

/* ---- objects ---- */

static const char *JOB = "items/1/spec/template/spec";

START_TEST(one_node_is_a_job_of_one_pod)
{
    Config cfg = base();
    K8sSpec s = spec(1);
    s.steps = 7;
    s.namespace = "ml";
    json_t *l = render(&s, &cfg);
    ck_assert_uint_eq(json_array_size(at(l, "items")), 2);
    ck_assert_str_eq(str_at(l, "items/0/kind"), "ConfigMap");
    ck_assert_str_eq(str_at(l, "items/0/metadata/name"), "run-a-config");
    ck_assert_str_eq(str_at(l, "items/0/metadata/namespace"), "ml");
    ck_assert_str_eq(str_at(l, "items/0/data/config.json"), "{}");
    ck_assert_str_eq(str_at(l, "items/1/kind"), "Job");
    ck_assert_str_eq(str_at(l, "items/1/apiVersion"), "batch/v1");
    ck_assert_str_eq(str_at(l, "items/1/metadata/name"), "run-a");
    ck_assert_str_eq(str_at(l, "items/1/metadata/namespace"), "ml");
    ck_assert_ptr_null(at(l, "items/1/spec/completionMode"));
    char p[256];
    snprintf(p, sizeof p, "%s/restartPolicy", JOB);
    ck_assert_str_eq(str_at(l, p), "Never");
    snprintf(p, sizeof p, "%s/terminationGracePeriodSeconds", JOB);
    ck_assert_int_eq(int_at(l, p), 300);
    snprintf(p, sizeof p, "%s/securityContext/runAsUser", JOB);
    ck_assert_int_eq(int_at(l, p), K8S_UID);
    json_t *c = at(l, "items/1/spec/template/spec/containers/0");
    ck_assert_str_eq(str_at(c, "name"), "trainer");
    ck_assert_str_eq(str_at(c, "image"), "reg.example/picotron:1");
    ck_assert_str_eq(str_at(c, "imagePullPolicy"), "IfNotPresent");
    ck_assert_str_eq(str_at(c, "command/0"), "picotron");
    ck_assert_str_eq(str_at(c, "command/1"), "train");
    ck_assert_str_eq(str_at(c, "args/0"), "--config");
    ck_assert_str_eq(str_at(c, "args/1"), "/etc/picotron/config.json");
    ck_assert_str_eq(str_at(c, "args/2"), "--steps");
    ck_assert_str_eq(str_at(c, "args/3"), "7");
    ck_assert_str_eq(str_at(c, "workingDir"), "/workspace");
    ck_assert_str_eq(str_at(c, "env/0/name"), "OMP_NUM_THREADS");
    ck_assert_str_eq(str_at(c, "env/0/value"), "2");
    /* the claim at the working directory, the config from the ConfigMap */
    ck_assert_str_eq(str_at(c, "volumeMounts/0/name"), "work");
    ck_assert_str_eq(str_at(c, "volumeMounts/0/mountPath"), "/workspace");
    ck_assert_str_eq(str_at(c, "volumeMounts/1/mountPath"), "/etc/picotron");
    snprintf(p, sizeof p, "%s/volumes/0/persistentVolumeClaim/claimName", JOB);
    ck_assert_str_eq(str_at(l, p), "runs");
    snprintf(p, sizeof p, "%s/volumes/1/configMap/name", JOB);
    ck_assert_str_eq(str_at(l, p), "run-a-config");
    snprintf(p, sizeof p, "%s/volumes/3", JOB);
    ck_assert_ptr_null(at(l, p)); /* one pod: no ssh keys */
    json_decref(l);
}
END_TEST

START_TEST(exit_75_and_disruptions_are_retried_and_exit_2_fails_the_job)
{
    Config cfg = base();
    for (int nodes = 1; nodes <= 2; nodes++) {
        K8sSpec s = spec(nodes);
        json_t *l = render(&s, &cfg);
        json_t *job = at(l, nodes == 1 ? "items/1" : "items/2");
        ck_assert_str_eq(str_at(job, "kind"), "Job");
        ck_assert_int_eq(int_at(job, "spec/backoffLimit"), K8S_BACKOFF_LIMIT);
        json_t *r = at(job, "spec/podFailurePolicy/rules");
        ck_assert_uint_eq(json_array_size(r), 3);
        ck_assert_str_eq(str_at(r, "0/action"), "FailJob");
        ck_assert_int_eq(int_at(r, "0/onExitCodes/values/0"), 2);
        ck_assert_str_eq(str_at(r, "1/action"), "Ignore");
        ck_assert_str_eq(str_at(r, "1/onExitCodes/containerName"), "trainer");
        ck_assert_str_eq(str_at(r, "1/onExitCodes/operator"), "In");
        ck_assert_int_eq(int_at(r, "1/onExitCodes/values/0"), 75);
        ck_assert_uint_eq(json_array_size(at(r, "1/onExitCodes/values")), 1);
        ck_assert_str_eq(str_at(r, "2/action"), "Ignore");
        ck_assert_str_eq(str_at(r, "2/onPodConditions/0/type"), "DisruptionTarget");
        /* podFailurePolicy needs restartPolicy Never */
        ck_assert_str_eq(str_at(job, "spec/template/spec/restartPolicy"), "Never");
        json_decref(l);
    }
}
END_TEST

START_TEST(resources_follow_the_config_and_the_memory_plan)
{
    Config cfg = base(); /* dp 2 x pp 2 = 4 ranks */
    Error err = {0};
    ck_assert(config_set(&cfg, "model.hidden_size=512", &err) == PT_OK);
    ck_assert(config_set(&cfg, "model.intermediate_size=2048", &err) == PT_OK);
    ck_assert(config_set(&cfg, "model.num_attention_heads=8", &err) == PT_OK);
    ck_assert(config_set(&cfg, "model.num_key_value_heads=8", &err) == PT_OK);
    ck_assert(config_validate(&cfg, &err) == PT_OK);
    double stage = memplan_peak_bytes(&cfg);
    for (int nodes = 1; nodes <= 2; nodes++) {
        int per_pod = 4 / nodes;
        /* each rank: its largest stage plus 512 MiB, in MiB rounded up */
        long long want = 0;
        while (want * 1048576.0 < per_pod * (stage + 536870912.0))
            want++;
        ck_assert_int_eq(k8s_pod_memory_mib(&cfg, per_pod), want);
        K8sSpec s = spec(nodes);
        json_t *l = render(&s, &cfg);
        json_t *c = at(l, nodes == 1 ? "items/1/spec/template/spec/containers/0"
                                     : "items/2/spec/template/spec/containers/0");
        char mem[32], cpu[16];
        snprintf(mem, sizeof mem, "%lldMi", want);
        snprintf(cpu, sizeof cpu, "%d", 2 * per_pod);
        ck_assert_str_eq(str_at(c, "resources/requests/memory"), mem);
        ck_assert_str_eq(str_at(c, "resources/limits/memory"), mem);
        ck_assert_str_eq(str_at(c, "resources/requests/cpu"), cpu);
        ck_assert_ptr_null(at(c, "resources/limits/cpu"));
        ck_assert_ptr_null(at(c, "resources/limits/nvidia.com~1gpu"));
        ck_assert_ptr_null(json_object_get(at(c, "resources/limits"), "nvidia.com/gpu"));
        /* the trainer's own memory check passes inside that limit, and not in 3/4 of it */
        ck_assert_int_eq(memplan_check(&cfg, per_pod, want * 1048576.0, &err), PT_OK);
        json_decref(l);
    }
    /* the largest stage counts: pp 2 stages differ (embedding vs head), so the max matters */
    MemPlan plan;
    memplan_estimate(&cfg, &plan);
    ck_assert(memplan_stage_total(&plan.stage[0]) != memplan_stage_total(&plan.stage[1]));
    memplan_free(&plan);
}
END_TEST

START_TEST(gpus_are_requested_as_asked_or_from_the_config)
{
    Config cfg = base();
    K8sSpec s = spec(1);
    s.gpus_per_node = 8;
    json_t *l = render(&s, &cfg);
    json_t *res = at(l, "items/1/spec/template/spec/containers/0/resources");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(res, "limits"),
                                                       "nvidia.com/gpu")), "8");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(res, "requests"),
                                                       "nvidia.com/gpu")), "8");
    json_decref(l);
    /* not asked: one per rank when the config runs on CUDA (environment.device, where the
     * schema has it), none on the CPU */
    s.gpus_per_node = -1;
    Error err = {0};
    int cuda = config_set(&cfg, "environment.device=cuda", &err) == PT_OK;
    l = render(&s, &cfg);
    res = at(l, "items/1/spec/template/spec/containers/0/resources/limits");
    if (cuda)
        ck_assert_str_eq(json_string_value(json_object_get(res, "nvidia.com/gpu")), "4");
    else
        ck_assert_ptr_null(json_object_get(res, "nvidia.com/gpu"));
    json_decref(l);
}
END_TEST

START_TEST(several_nodes_are_an_indexed_job_behind_a_headless_service)
{
    Config cfg = base();
    K8sSpec s = spec(2);
    json_t *l = render(&s, &cfg);
    ck_assert_uint_eq(json_array_size(at(l, "items")), 3);
    ck_assert_str_eq(str_at(l, "items/1/kind"), "Service");
    ck_assert_str_eq(str_at(l, "items/1/metadata/name"), "run-a");
    ck_assert_str_eq(str_at(l, "items/1/spec/clusterIP"), "None");
    ck_assert_str_eq(str_at(l, "items/1/spec/selector/picotron.run"), "run-a");
    ck_assert_int_eq(int_at(l, "items/1/spec/ports/0/port"), K8S_SSH_PORT);
    ck_assert_str_eq(str_at(l, "items/2/spec/template/metadata/labels/picotron.run"), "run-a");
    json_t *j = at(l, "items/2/spec");
    ck_assert_str_eq(str_at(j, "completionMode"), "Indexed");
    ck_assert_int_eq(int_at(j, "completions"), 2);
    ck_assert_int_eq(int_at(j, "parallelism"), 2);
    ck_assert_str_eq(str_at(j, "template/spec/subdomain"), "run-a");
    json_t *c = at(j, "template/spec/containers/0");
    ck_assert_str_eq(str_at(c, "command/0"), "picotron-k8s-launch");
    ck_assert_str_eq(str_at(c, "command/1"), "indexed");
    ck_assert_str_eq(str_at(c, "args/1"), "/etc/picotron/config.json");
    ck_assert_str_eq(str_at(c, "env/1/name"), "PICOTRON_NODES");
    ck_assert_str_eq(str_at(c, "env/1/value"), "2");
    ck_assert_str_eq(str_at(c, "env/2/name"), "PICOTRON_RANKS_PER_NODE");
    ck_assert_str_eq(str_at(c, "env/2/value"), "2");
    ck_assert_str_eq(str_at(c, "env/3/value"), "run-a");
    ck_assert_str_eq(str_at(c, "volumeMounts/3/mountPath"), K8S_SSH_DIR);
    ck_assert_str_eq(str_at(j, "template/spec/volumes/3/secret/secretName"), "run-a-ssh");
    ck_assert_str_eq(str_at(j, "template/spec/volumes/0/persistentVolumeClaim/claimName"),
                     "runs");
    json_decref(l);
    /* 4 ranks do not go over 3 nodes */
    s.nodes = 3;
    Error err = {0};
    ck_assert_int_eq(k8s_render(&s, &cfg, "{}", &l, &err), PT_EINPUT);
    ck_assert_msg(strstr(err.msg, "4 ranks") && strstr(err.msg, "3 nodes"), "%s", err.msg);
}
END_TEST

START_TEST(the_mpi_operator_gets_an_mpijob)
{
    Config cfg = base();
    K8sSpec s = spec(2);
    s.mpi_operator = 1;
    s.ssh_secret = NULL;
    json_t *l = render(&s, &cfg);
    ck_assert_uint_eq(json_array_size(at(l, "items")), 2);
    ck_assert_str_eq(str_at(l, "items/1/apiVersion"), "kubeflow.org/v2beta1");
    ck_assert_str_eq(str_at(l, "items/1/kind"), "MPIJob");
    json_t *j = at(l, "items/1/spec");
    ck_assert_int_eq(int_at(j, "slotsPerWorker"), 2);
    ck_assert_str_eq(str_at(j, "mpiImplementation"), "OpenMPI");
    ck_assert_str_eq(str_at(j, "sshAuthMountPath"), K8S_SSH_DIR);
    ck_assert_int_eq(int_at(j, "mpiReplicaSpecs/Launcher/replicas"), 1);
    ck_assert_int_eq(int_at(j, "mpiReplicaSpecs/Worker/replicas"), 2);
    json_t *w = at(j, "mpiReplicaSpecs/Worker/template/spec");
    ck_assert_str_eq(str_at(w, "containers/0/command/1"), "mpijob-worker");
    ck_assert_int_eq(int_at(w, "terminationGracePeriodSeconds"), 300);
    char mem[32];
    snprintf(mem, sizeof mem, "%lldMi", (long long)k8s_pod_memory_mib(&cfg, 2));
    ck_assert_str_eq(str_at(w, "containers/0/resources/limits/memory"), mem);
    ck_assert_str_eq(str_at(w, "volumes/0/persistentVolumeClaim/claimName"), "runs");
    json_t *lc = at(j, "mpiReplicaSpecs/Launcher/template/spec/containers/0");
    ck_assert_str_eq(str_at(lc, "command/1"), "mpijob-launcher");
    ck_assert_str_eq(str_at(lc, "args/1"), "/etc/picotron/config.json");
    json_decref(l);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("k8s");
    TCase *tc = tcase_create("k8s");
    tcase_add_test(tc, labels_kubernetes_accepts_pass_and_others_are_refused);
    tcase_add_test(tc, subdomains_kubernetes_accepts_pass_and_others_are_refused);
    tcase_add_test(tc, derived_names_pass_the_check_and_stay_apart);
    tcase_add_test(tc, paths_below_the_working_directory_become_relative);
    tcase_add_test(tc, what_must_persist_is_refused_off_the_volume);
    tcase_add_test(tc, hostile_text_round_trips_through_json);
    tcase_add_test(tc, one_node_is_a_job_of_one_pod);
    tcase_add_test(tc, exit_75_and_disruptions_are_retried_and_exit_2_fails_the_job);
    tcase_add_test(tc, resources_follow_the_config_and_the_memory_plan);
    tcase_add_test(tc, gpus_are_requested_as_asked_or_from_the_config);
    tcase_add_test(tc, several_nodes_are_an_indexed_job_behind_a_headless_service);
    tcase_add_test(tc, the_mpi_operator_gets_an_mpijob);
    suite_add_tcase(s, tc);
    return check_run(s);
}
