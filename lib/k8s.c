/* k8s: names, memory, the pod's config and the manifests of a run on Kubernetes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "k8s.h"
#include "memplan.h"

/* ---- names ---- */

static int is_lower_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

void k8s_derive_name(const char *text, char *out, size_t len)
{
    char s[K8S_NAME_MAX + 1] = "";
    size_t n = 0;
    int any = 0; /* an alphanumeric seen */
    for (const char *p = text; *p && n < K8S_NAME_MAX; p++) {
        int c = *p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p;
        if (is_lower_alnum(c)) {
            if (n == 0 && !(c >= 'a' && c <= 'z')) {
                memcpy(s, "run-", 4);
                n = 4;
            }
            s[n++] = (char)c;
            any = 1;
        } else if (n > 0 && s[n - 1] != '-') {
            s[n++] = '-';
        }
    }
    while (n > 0 && s[n - 1] == '-')
        n--;
    s[n] = '\0';
    if (!any)
        snprintf(s, sizeof s, "run");
    if (strcmp(s, text) != 0) { /* lossy: keep different texts apart (FNV-1a) */
        uint32_t h = 2166136261u;
        for (const unsigned char *p = (const unsigned char *)text; *p; p++)
            h = (h ^ *p) * 16777619u;
        size_t keep = strlen(s) > K8S_NAME_MAX - 7 ? K8S_NAME_MAX - 7 : strlen(s);
        while (keep > 0 && s[keep - 1] == '-')
            keep--;
        snprintf(out, len, "%.*s-%06x", (int)keep, s, (unsigned)(h & 0xffffff));
        return;
    }
    snprintf(out, len, "%s", s);
}

/* s for a one-line message: control and non-ASCII bytes as '?', at most 80 of them. */
static const char *printable(const char *s, char *buf, size_t len)
{
    size_t n = 0;
    for (; *s && n + 1 < len && n < 80; s++)
        buf[n++] = *s >= ' ' && *s < 0x7f ? *s : '?';
    buf[n] = '\0';
    return buf;
}

int k8s_check_label(const char *what, const char *s, size_t max, Error *err)
{
    char shown[96];
    size_t n = strlen(s);
    int ok = n > 0 && n <= max && s[0] >= 'a' && s[0] <= 'z' && s[n - 1] != '-';
    for (size_t i = 0; ok && i < n; i++)
        ok = is_lower_alnum(s[i]) || s[i] == '-';
    if (!ok)
        return err_set(err, PT_EINPUT, "%s \"%s\": not a Kubernetes name (a lower-case letter, "
                       "then a-z, 0-9 or '-', not ending in '-', at most %zu characters)", what,
                       printable(s, shown, sizeof shown), max);
    return PT_OK;
}

int k8s_check_subdomain(const char *what, const char *s, Error *err)
{
    char shown[96];
    size_t n = strlen(s);
    int ok = n > 0 && n <= 253 && is_lower_alnum(s[0]) && is_lower_alnum(s[n - 1]);
    for (size_t i = 0; ok && i < n; i++)
        ok = is_lower_alnum(s[i]) || s[i] == '-' || s[i] == '.';
    if (!ok)
        return err_set(err, PT_EINPUT, "%s \"%s\": not a Kubernetes name (a-z, 0-9, '-' or '.', "
                       "a letter or digit at both ends, at most 253 characters)", what,
                       printable(s, shown, sizeof shown));
    return PT_OK;
}

/* ---- resources ---- */

int64_t k8s_pod_memory_mib(const Config *cfg, int ranks_per_pod)
{
    double per_rank = memplan_peak_bytes(cfg) + K8S_RANK_OVERHEAD;
    return (int64_t)ceil(ranks_per_pod * per_rank / (1024.0 * 1024.0));
}

/* nvidia.com/gpu per pod: as asked, else one per rank when the config runs on CUDA. The key is
 * environment.device; a config schema without it runs on the CPU. */
static int pod_gpus(const K8sSpec *s, const Config *cfg, int ranks_per_pod)
{
    if (s->gpus_per_node >= 0)
        return s->gpus_per_node;
    json_t *dev = config_key_value(cfg, "environment.device");
    int cuda = json_is_string(dev) && !strcasecmp(json_string_value(dev), "cuda");
    json_decref(dev);
    return cuda ? ranks_per_pod : 0;
}

/* ---- the pod's config ---- */

/* path as the pod sees it (in place): below workdir made relative to it. Returns 1 when path
 * is outside workdir (absolute elsewhere, or relative starting with ".."). */
static int pod_path(char *path, size_t len, const char *workdir)
{
    if (path[0] != '/') /* relative: as it is, unless it climbs out of workdir */
        return !strcmp(path, "..") || !strncmp(path, "../", 3);
    size_t w = strlen(workdir);
    while (w > 1 && workdir[w - 1] == '/')
        w--;
    if (w == 1) /* workdir is / */
        w = 0;
    if (strncmp(path, workdir, w) != 0 || (path[w] != '/' && path[w] != '\0'))
        return 1;
    const char *rest = path + w;
    while (*rest == '/')
        rest++;
    char tmp[CFG_STR];
    snprintf(tmp, sizeof tmp, "%s", *rest ? rest : ".");
    snprintf(path, len, "%s", tmp);
    return 0;
}

int k8s_pod_config(const Config *cfg, const char *workdir, char **text, Error *err)
{
    Config *c = xmalloc(sizeof *c);
    *c = *cfg;
    struct {
        const char *key;
        char *path;
        int persist; /* must be on the volume */
    } keys[] = {
        {"checkpoint.save_dir", c->checkpoint.save_dir, 1},
        {"logging.run_dir", c->logging.run_dir, 1},
        {"dataset.name", c->dataset.name, 0},
        {"dataset.validation", c->dataset.validation, 0},
        {"checkpoint.load_path", c->checkpoint.load_path, 0},
        {"checkpoint.init_from", c->checkpoint.init_from, 0},
        {"model.name", c->model.name, 0},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (pod_path(keys[i].path, CFG_STR, workdir) && keys[i].persist) {
            err_set(err, PT_EINPUT, "%s: %s is outside %s, the directory the volume holds: the "
                    "pod would write it into its own file system, lost when it ends; give a "
                    "path below %s", keys[i].key, keys[i].path, workdir, workdir);
            free(c);
            return err->code;
        }
    c->environment.hf_token[0] = '\0'; /* a ConfigMap is no place for a secret */
    *text = config_to_json(c);
    free(c);
    return PT_OK;
}

/* ---- manifests ---- */

static json_t *metadata(const K8sSpec *s, const char *name)
{
    json_t *m = json_pack("{s:s, s:{s:s, s:s}}", "name", name, "labels",
                          "app.kubernetes.io/name", "picotron", "picotron.run", s->name);
    if (s->namespace)
        json_object_set_new(m, "namespace", json_string(s->namespace));
    return m;
}

static json_t *quantity(long long v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    return json_string(b);
}

/* requests = limits for memory (the trainer's memory check reads the cgroup's limit), CPU
 * requested but not capped (a cap throttles the ranks' OpenMP threads), GPUs as limits. */
static json_t *resources(int cpus, int64_t mem_mib, int gpus)
{
    char mem[32];
    snprintf(mem, sizeof mem, "%lldMi", (long long)mem_mib);
    json_t *r = json_pack("{s:{s:o, s:s}, s:{s:s}}", "requests", "cpu", quantity(cpus),
                          "memory", mem, "limits", "memory", mem);
    if (gpus > 0) {
        json_object_set_new(json_object_get(r, "requests"), "nvidia.com/gpu", quantity(gpus));
        json_object_set_new(json_object_get(r, "limits"), "nvidia.com/gpu", quantity(gpus));
    }
    return r;
}

/* picotron-train's arguments in the pod. */
static json_t *train_args(const K8sSpec *s)
{
    json_t *a = json_pack("[s, s]", "--config", K8S_CONFIG_DIR "/config.json");
    if (s->steps > 0) {
        json_array_append_new(a, json_string("--steps"));
        json_array_append_new(a, quantity(s->steps));
    }
    return a;
}

static json_t *env_var(const char *name, long long v)
{
    return json_pack("{s:s, s:o}", "name", name, "value", quantity(v));
}

/* The trainer container (command, args, env and resources taken) with its mounts: the volume,
 * the config, /dev/shm for Open MPI's shared-memory transport, and the ssh keys when ssh. */
static json_t *container(const K8sSpec *s, json_t *command, json_t *args, json_t *env,
                         json_t *res, int ssh)
{
    json_array_insert_new(env, 0, env_var("OMP_NUM_THREADS", s->cpus_per_task));
    json_t *mounts = json_pack("[{s:s, s:s}, {s:s, s:s, s:b}, {s:s, s:s}]", "name", "work",
                               "mountPath", K8S_WORKDIR, "name", "config", "mountPath",
                               K8S_CONFIG_DIR, "readOnly", 1, "name", "shm", "mountPath",
                               "/dev/shm");
    if (ssh)
        json_array_append_new(mounts, json_pack("{s:s, s:s, s:b}", "name", "ssh", "mountPath",
                                                K8S_SSH_DIR, "readOnly", 1));
    /* IfNotPresent even for a :latest tag (whose default is Always): an image imported into
     * the node (K3s) has no registry to be pulled from */
    return json_pack("{s:s, s:s, s:s, s:o, s:o, s:s, s:o, s:o, s:o}", "name", "trainer", "image",
                     s->image, "imagePullPolicy", "IfNotPresent", "command", command, "args",
                     args, "workingDir", K8S_WORKDIR, "env", env, "resources", res,
                     "volumeMounts", mounts);
}

/* A pod spec around container c: non-root (the image's user), the grace period, the volumes. */
static json_t *pod_spec(const K8sSpec *s, json_t *c, const char *restart, int ssh)
{
    char cm[K8S_NAME_MAX + 16];
    snprintf(cm, sizeof cm, "%s-config", s->name);
    json_t *vols = json_pack("[{s:s, s:{s:s}}, {s:s, s:{s:s, s:i}}, {s:s, s:{s:s}}]", "name",
                             "work", "persistentVolumeClaim", "claimName", s->pvc, "name",
                             "config", "configMap", "name", cm, "defaultMode", 0444, "name",
                             "shm", "emptyDir", "medium", "Memory");
    if (ssh)
        json_array_append_new(vols, json_pack("{s:s, s:{s:s, s:i}}", "name", "ssh", "secret",
                                               "secretName", s->ssh_secret, "defaultMode",
                                               0440));
    json_t *spec = json_pack("{s:s, s:i, s:{s:b, s:i, s:i, s:i}, s:[o], s:o}", "restartPolicy",
                             restart, "terminationGracePeriodSeconds", s->grace,
                             "securityContext", "runAsNonRoot", 1, "runAsUser", K8S_UID,
                             "runAsGroup", K8S_UID, "fsGroup", K8S_UID, "containers", c,
                             "volumes", vols);
    return spec;
}

static json_t *template(const K8sSpec *s, json_t *spec)
{
    json_t *m = metadata(s, s->name);
    json_object_del(m, "name");
    json_object_del(m, "namespace");
    return json_pack("{s:o, s:o}", "metadata", m, "spec", spec);
}

/* Exit 75 (saved after SIGTERM, resume me) and a disruption (preemption, eviction, node
 * drain) retry the pod without counting against backoffLimit; exit 2 (the trainer refused its
 * input) fails the Job at once: a retry would be refused the same way. */
static json_t *pod_failure_policy(void)
{
    return json_pack("{s:[{s:s, s:{s:s, s:s, s:[i]}}, {s:s, s:{s:s, s:s, s:[i]}},"
                     " {s:s, s:[{s:s, s:s}]}]}", "rules",
                     "action", "FailJob", "onExitCodes", "containerName", "trainer", "operator",
                     "In", "values", 2,
                     "action", "Ignore", "onExitCodes", "containerName", "trainer", "operator",
                     "In", "values", 75,
                     "action", "Ignore", "onPodConditions", "type", "DisruptionTarget",
                     "status", "True");
}

static json_t *job(const K8sSpec *s, json_t *pod)
{
    json_t *spec = json_pack("{s:i, s:o, s:o}", "backoffLimit", K8S_BACKOFF_LIMIT,
                             "podFailurePolicy", pod_failure_policy(), "template",
                             template(s, pod));
    return json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "batch/v1", "kind", "Job",
                     "metadata", metadata(s, s->name), "spec", spec);
}

/* One pod: picotron train self-launches its ranks with mpirun inside it. */
static json_t *single_job(const K8sSpec *s, json_t *res)
{
    json_t *c = container(s, json_pack("[s, s]", "picotron", "train"), train_args(s),
                          json_array(), res, 0);
    return job(s, pod_spec(s, c, "Never", 0));
}

/* The environment of picotron-k8s-launch: how many pods, ranks and where they are. */
static json_t *launch_env(const K8sSpec *s, int ranks_per_pod)
{
    return json_pack("[o, o, {s:s, s:s}]", env_var("PICOTRON_NODES", s->nodes),
                     env_var("PICOTRON_RANKS_PER_NODE", ranks_per_pod), "name",
                     "PICOTRON_SERVICE", "value", s->name);
}

/* Several pods: pod i is NAME-i.NAME (the Service's DNS); pod 0 starts every rank through
 * mpirun over ssh, the others serve ssh and exit with the code pod 0 sends them. */
static void indexed_job(const K8sSpec *s, json_t *res, int ranks_per_pod, json_t *items)
{
    json_array_append_new(items, json_pack("{s:s, s:s, s:o, s:{s:s, s:b, s:{s:s}, s:[{s:s, "
                                           "s:i}]}}", "apiVersion", "v1", "kind", "Service",
                                           "metadata", metadata(s, s->name), "spec",
                                           "clusterIP", "None", "publishNotReadyAddresses", 1,
                                           "selector", "picotron.run", s->name, "ports",
                                           "name", "ssh", "port", K8S_SSH_PORT));
    json_t *c = container(s, json_pack("[s, s, s]", "picotron-k8s-launch", "indexed", "--"),
                          train_args(s), launch_env(s, ranks_per_pod), res, 1);
    json_t *pod = pod_spec(s, c, "Never", 1);
    json_object_set_new(pod, "subdomain", json_string(s->name));
    json_t *j = job(s, pod);
    json_t *spec = json_object_get(j, "spec");
    json_object_set_new(spec, "completionMode", json_string("Indexed"));
    json_object_set_new(spec, "completions", json_integer(s->nodes));
    json_object_set_new(spec, "parallelism", json_integer(s->nodes));
    json_array_append_new(items, j);
}

/* The MPI Operator's MPIJob (kubeflow.org/v2beta1): the operator makes the ssh keys, the
 * hostfile and the workers' Service; the launcher runs mpirun, the workers the ranks. */
static json_t *mpi_job(const K8sSpec *s, json_t *res, int ranks_per_pod)
{
    json_t *lc = container(s, json_pack("[s, s, s]", "picotron-k8s-launch", "mpijob-launcher",
                                        "--"), train_args(s), launch_env(s, ranks_per_pod),
                           resources(1, 1024, 0), 0);
    json_t *wc = container(s, json_pack("[s, s]", "picotron-k8s-launch", "mpijob-worker"),
                           json_array(), launch_env(s, ranks_per_pod), res, 0);
    json_t *spec = json_pack("{s:i, s:{s:s, s:i}, s:s, s:s, s:{s:{s:i, s:s, s:o}, s:{s:i, "
                             "s:s, s:o}}}", "slotsPerWorker", ranks_per_pod, "runPolicy",
                             "cleanPodPolicy", "Running", "backoffLimit", K8S_BACKOFF_LIMIT,
                             "sshAuthMountPath", K8S_SSH_DIR, "mpiImplementation", "OpenMPI",
                             "mpiReplicaSpecs", "Launcher", "replicas", 1, "restartPolicy",
                             "OnFailure", "template", template(s, pod_spec(s, lc, "OnFailure",
                                                                           0)),
                             "Worker", "replicas", s->nodes, "restartPolicy", "OnFailure",
                             "template", template(s, pod_spec(s, wc, "OnFailure", 0)));
    return json_pack("{s:s, s:s, s:o, s:o}", "apiVersion", "kubeflow.org/v2beta1", "kind",
                     "MPIJob", "metadata", metadata(s, s->name), "spec", spec);
}

int k8s_render(const K8sSpec *s, const Config *cfg, const char *pod_config, json_t **list,
               Error *err)
{
    int ntasks = config_world_size(cfg);
    if (ntasks % s->nodes != 0)
        return err_set(err, PT_EINPUT, "%d ranks (dp*pp*cp*tp) do not divide evenly over %d "
                       "nodes", ntasks, s->nodes);
    int per_pod = ntasks / s->nodes;
    char cm[K8S_NAME_MAX + 16];
    snprintf(cm, sizeof cm, "%s-config", s->name);
    json_t *items = json_array();
    json_array_append_new(items, json_pack("{s:s, s:s, s:o, s:{s:s}}", "apiVersion", "v1",
                                           "kind", "ConfigMap", "metadata", metadata(s, cm),
                                           "data", "config.json", pod_config));
    json_t *res = resources(s->cpus_per_task * per_pod, k8s_pod_memory_mib(cfg, per_pod),
                            pod_gpus(s, cfg, per_pod));
    if (s->nodes == 1)
        json_array_append_new(items, single_job(s, res));
    else if (s->mpi_operator)
        json_array_append_new(items, mpi_job(s, res, per_pod));
    else
        indexed_job(s, res, per_pod, items);
    *list = json_pack("{s:s, s:s, s:o}", "apiVersion", "v1", "kind", "List", "items", items);
    return PT_OK;
}
