/* pmi: Slurm PMI2 bootstrap (lib/pmi.h). The libpmi2 calls are built only when the build found
 * slurm/pmi2.h (PICOTRON_PMI2); the parsing helpers always are. */
#include "pmi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef PICOTRON_PMI2
#include <slurm/pmi2.h>
#endif

int pmi_present(void) { return getenv("PMI_FD") != NULL && getenv("PMI_RANK") != NULL; }

int pmi_available(void)
{
#ifdef PICOTRON_PMI2
    return 1;
#else
    return 0;
#endif
}

/* One "(a,b,c)" triple at *p; advances *p past it. */
static int parse_triple(const char **p, long v[3])
{
    const char *s = *p;
    if (*s++ != '(') return -1;
    for (int i = 0; i < 3; i++) {
        char *end;
        if (*s < '0' || *s > '9') return -1;
        v[i] = strtol(s, &end, 10);
        s = end;
        if (*s++ != (i < 2 ? ',' : ')')) return -1;
    }
    *p = s;
    return 0;
}

int pmi_mapping_local(const char *map, int rank, int size, int *local_rank, int *local_size,
                      Error *err)
{
    enum { MAX_TRIPLES = 256 };
    long t[MAX_TRIPLES][3];
    int nt = 0;
    const char *p = map;
    if (strncmp(p, "(vector", 7) != 0) goto bad;
    p += 7;
    while (*p == ',') {
        p++;
        if (nt == MAX_TRIPLES || parse_triple(&p, t[nt]) != 0) goto bad;
        nt++;
    }
    if (strcmp(p, ")") != 0 || nt == 0 || rank < 0 || rank >= size) goto bad;

    /* Place ranks 0..size-1 in order; note rank's node, then count who shares it. */
    int *node = xmalloc((size_t)size * sizeof *node);
    int placed = 0;
    while (placed < size) {
        int before = placed;
        for (int i = 0; i < nt && placed < size; i++)
            for (long n = t[i][0]; n < t[i][0] + t[i][1] && placed < size; n++)
                for (long k = 0; k < t[i][2] && placed < size; k++) node[placed++] = (int)n;
        if (placed == before) {
            free(node);
            goto bad;
        }
    }
    int lr = 0, ls = 0;
    for (int r = 0; r < size; r++)
        if (node[r] == node[rank]) {
            if (r < rank) lr++;
            ls++;
        }
    free(node);
    *local_rank = lr;
    *local_size = ls;
    return PT_OK;
bad:
    return err_set(err, PT_EINPUT, "PMI_process_mapping \"%.200s\": not a mapping that places "
                   "rank %d of %d", map, rank, size);
}

void pmi_hex_encode(const void *buf, size_t n, char *out)
{
    static const char digit[] = "0123456789abcdef";
    const unsigned char *b = buf;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digit[b[i] >> 4];
        out[2 * i + 1] = digit[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int pmi_hex_decode(const char *hex, void *buf, size_t n)
{
    unsigned char *b = buf;
    if (strlen(hex) != 2 * n) return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return -1;
        b[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

#ifdef PICOTRON_PMI2

static char job_id[PMI2_MAX_VALLEN];

int pmi_init(PmiJob *job, Error *err)
{
    if (!pmi_present())
        return err_set(err, PT_ERUNTIME, "PMI2: PMI_FD/PMI_RANK not set (start the job with "
                       "srun --mpi=pmi2)");
    int spawned, appnum;
    if (PMI2_Init(&spawned, &job->size, &job->rank, &appnum) != PMI2_SUCCESS)
        return err_set(err, PT_ERUNTIME, "PMI2_Init failed (PMI_FD=%s)", getenv("PMI_FD"));
    if (PMI2_Job_GetId(job_id, sizeof job_id) != PMI2_SUCCESS)
        return err_set(err, PT_ERUNTIME, "PMI2_Job_GetId failed");

    char map[PMI2_MAX_ATTRVALUE];
    int found = 0;
    if (PMI2_Info_GetJobAttr("PMI_process_mapping", map, sizeof map, &found) == PMI2_SUCCESS &&
        found)
        return pmi_mapping_local(map, job->rank, job->size, &job->local_rank,
                                 &job->local_size, err);
    /* No mapping: Slurm's own variable gives the local rank; the node's count is unknown. */
    const char *id = getenv("SLURM_LOCALID");
    char *end;
    long lr = id ? strtol(id, &end, 10) : -1;
    if (!id || *end != '\0' || lr < 0 || lr >= job->size)
        return err_set(err, PT_ERUNTIME, "PMI2: no PMI_process_mapping and SLURM_LOCALID "
                       "\"%s\" is not a local rank", id ? id : "(unset)");
    job->local_rank = (int)lr;
    job->local_size = 0;
    return PT_OK;
}

int pmi_put_hex(const char *key, const void *buf, size_t n, Error *err)
{
    char hex[2 * PMI_BLOB_MAX + 1];
    if (strlen(key) >= PMI2_MAX_KEYLEN || n > PMI_BLOB_MAX)
        return err_set(err, PT_ERUNTIME, "PMI2 key \"%.64s\": key or %zu-byte value too long",
                       key, n);
    pmi_hex_encode(buf, n, hex);
    if (PMI2_KVS_Put(key, hex) != PMI2_SUCCESS)
        return err_set(err, PT_ERUNTIME, "PMI2_KVS_Put of \"%s\" failed", key);
    return PT_OK;
}

int pmi_fence(Error *err)
{
    if (PMI2_KVS_Fence() != PMI2_SUCCESS)
        return err_set(err, PT_ERUNTIME, "PMI2_KVS_Fence failed");
    return PT_OK;
}

int pmi_get_hex(int src, const char *key, void *buf, size_t n, Error *err)
{
    char hex[PMI2_MAX_VALLEN + 1];
    int len = 0;
    if (PMI2_KVS_Get(job_id, src, key, hex, sizeof hex, &len) != PMI2_SUCCESS)
        return err_set(err, PT_ERUNTIME, "PMI2_KVS_Get of \"%s\" from rank %d failed", key, src);
    hex[sizeof hex - 1] = '\0';
    if (pmi_hex_decode(hex, buf, n) != 0)
        return err_set(err, PT_ERUNTIME, "PMI2 key \"%s\" from rank %d: not %zu hex bytes", key,
                       src, n);
    return PT_OK;
}

void pmi_finalize(void) { PMI2_Finalize(); }

void pmi_abort(const char *msg)
{
    PMI2_Abort(1, msg);
    exit(1); /* the server did not end us */
}

#else

int pmi_init(PmiJob *job, Error *err)
{
    (void)job;
    return err_set(err, PT_EINPUT, "PMI2: this build lacks it (install libpmi2-0-dev, rebuild)");
}

int pmi_put_hex(const char *key, const void *buf, size_t n, Error *err)
{
    (void)key, (void)buf, (void)n;
    return err_set(err, PT_EINPUT, "PMI2: this build lacks it");
}

int pmi_fence(Error *err) { return err_set(err, PT_EINPUT, "PMI2: this build lacks it"); }

int pmi_get_hex(int src, const char *key, void *buf, size_t n, Error *err)
{
    (void)src, (void)key, (void)buf, (void)n;
    return err_set(err, PT_EINPUT, "PMI2: this build lacks it");
}

void pmi_finalize(void) {}

void pmi_abort(const char *msg)
{
    fprintf(stderr, "%s\n", msg);
    exit(1);
}

#endif
