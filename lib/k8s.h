/* k8s: a run as Kubernetes objects, as pure functions: names Kubernetes accepts, the pod's
 * memory from the config's memory plan, the config as the pod reads it (paths on the volume,
 * resume "auto") and the manifests: a ConfigMap plus a Job of one pod (ranks self-launched), an
 * Indexed Job of one pod per node behind a headless Service (ranks started by Open MPI over ssh)
 * or a kubeflow MPIJob. Writing them into the run directory is picotron-submit's part.
 * Reference: docs/kubernetes.md. */
#ifndef PICOTRON_K8S_H
#define PICOTRON_K8S_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"

/* Where the pod sees things: the volume (working directory), the ConfigMap, the ssh keys. */
#define K8S_WORKDIR "/workspace"
#define K8S_CONFIG_DIR "/etc/picotron"
#define K8S_SSH_DIR "/home/picotron/.ssh"
#define K8S_SSH_PORT 2222
#define K8S_UID 1000
/* The longest job name: room for what Kubernetes and the MPI Operator append to it
 * ("-worker-NNNN", "-config", "-launcher", a pod's "-INDEX-xxxxx") inside a 63-byte label. */
#define K8S_NAME_MAX 40
/* Memory a rank needs beyond its memory plan: Open MPI, OpenBLAS buffers, the binary. */
#define K8S_RANK_OVERHEAD (512.0 * 1024 * 1024)
/* Failed pods, other than exit 75 and disruptions, before the Job fails. */
#define K8S_BACKOFF_LIMIT 3

typedef struct {
    const char *name;       /* job name, a DNS-1035 label of at most K8S_NAME_MAX bytes */
    const char *namespace;  /* NULL: kubectl's current namespace */
    const char *image;
    const char *pvc;        /* the PersistentVolumeClaim mounted at K8S_WORKDIR */
    const char *ssh_secret; /* several nodes without the operator: Secret with the ssh keys */
    int nodes;              /* pods that run ranks */
    int cpus_per_task;      /* CPUs per rank, also OMP_NUM_THREADS */
    int gpus_per_node;      /* nvidia.com/gpu per pod; -1: one per rank when the config's
                               environment.device is "cuda", else none */
    int grace;              /* terminationGracePeriodSeconds: SIGTERM to SIGKILL */
    int steps;              /* > 0: picotron-train --steps */
    int mpi_operator;       /* several nodes: an MPIJob instead of Indexed Job + Service */
} K8sSpec;

/* A name for the run's objects from free text (a run directory's name): lower case, every run
 * of other characters than [a-z0-9] one '-', a letter first ("run-" prepended when needed),
 * at most K8S_NAME_MAX bytes; when that changed the text, a '-' and 6 hex digits of its hash
 * follow, so that "a_b" and "a.b" stay apart. */
void k8s_derive_name(const char *text, char *out, size_t len);

/* PT_EINPUT naming what unless s is a DNS-1035 label (a-z first, then a-z 0-9 '-', not ending
 * in '-') of at most max bytes: what Services and Jobs accept as names. */
int k8s_check_label(const char *what, const char *s, size_t max, Error *err);

/* PT_EINPUT naming what unless s is a DNS-1123 subdomain (a-z 0-9 '-' '.', alphanumeric at
 * both ends, at most 253 bytes): the names of claims, Secrets and namespaces' objects. */
int k8s_check_subdomain(const char *what, const char *s, Error *err);

/* Memory of one pod holding ranks_per_pod ranks, in MiB, rounded up: each rank the largest
 * pipeline stage of the memory plan (lib/memplan) plus K8S_RANK_OVERHEAD. */
int64_t k8s_pod_memory_mib(const Config *cfg, int ranks_per_pod);

/* The config as the pod reads it (*text malloc'ed JSON): cfg with every path key
 * (dataset.name, dataset.validation, checkpoint.save_dir, load_path, init_from,
 * logging.run_dir, an absolute model.name) that lies below workdir made relative to it, since
 * the volume holds workdir's files at K8S_WORKDIR, the pod's working directory; relative paths
 * stay. environment.HF_TOKEN is left out (ConfigMaps are not secret). checkpoint.save_dir and logging.run_dir outside workdir would be lost with the pod:
 * PT_EINPUT naming the key. */
int k8s_pod_config(const Config *cfg, const char *workdir, char **text, Error *err);

/* The manifests of one run as a v1 List (*list: a new reference): its ConfigMap (pod_config as
 * config.json), then the Job; for several nodes the headless Service and the Indexed Job, or
 * with mpi_operator the MPIJob. PT_EINPUT naming the number when the config's ranks do not
 * divide over the nodes. */
int k8s_render(const K8sSpec *spec, const Config *cfg, const char *pod_config, json_t **list,
               Error *err);

#endif
