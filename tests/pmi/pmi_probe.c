/* pmi_probe: lib/pmi under a real `srun --mpi=pmi2`, with no MPI. Each rank prints
 *     rank R size S local L of N slurm_localid I blob HEX
 * where HEX is the 128 random bytes (an NCCL id's size) rank 0 put in the PMI2 key-value
 * store, as this rank read them back; every rank also reads its right neighbour's own key and
 * exits 1 when that is not the neighbour's pattern. `pmi_probe --fail R`: rank R exits 3
 * before the fence, the others wait in it (srun must end them). tests/pmi/test_pmi_srun.sh
 * drives it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "pmi.h"

#define BLOB 128

/* rank r's own value: bytes no other rank's equal */
static void pattern(int r, unsigned char *b)
{
    for (int i = 0; i < BLOB; i++) b[i] = (unsigned char)(r * 131 + i * 7 + 1);
}

int main(int argc, char **argv)
{
    int fail = argc == 3 && !strcmp(argv[1], "--fail") ? atoi(argv[2]) : -1;
    if (argc != 1 && fail < 0) {
        fprintf(stderr, "usage: pmi_probe [--fail RANK]\n");
        return 2;
    }
    PmiJob job;
    Error err = {0};
    if (pmi_init(&job, &err) != PT_OK) err_die("pmi_probe", &err);
    if (job.rank == fail) {
        fprintf(stderr, "pmi_probe: rank %d fails before the fence\n", job.rank);
        return 3;
    }

    unsigned char mine[BLOB], root[BLOB], right[BLOB], want[BLOB];
    pattern(job.rank, mine);
    char key[32];
    snprintf(key, sizeof key, "probe.rank%d", job.rank);
    if (pmi_put_hex(key, mine, BLOB, &err) != PT_OK) err_die("pmi_probe", &err);
    if (job.rank == 0) {
        FILE *f = fopen("/dev/urandom", "rb");
        if (!f || fread(root, 1, BLOB, f) != BLOB) {
            fprintf(stderr, "pmi_probe: cannot read /dev/urandom\n");
            return 1;
        }
        fclose(f);
        if (pmi_put_hex("probe.root", root, BLOB, &err) != PT_OK) err_die("pmi_probe", &err);
    }
    if (pmi_fence(&err) != PT_OK) err_die("pmi_probe", &err);

    int r = (job.rank + 1) % job.size;
    snprintf(key, sizeof key, "probe.rank%d", r);
    if (pmi_get_hex(0, "probe.root", root, BLOB, &err) != PT_OK ||
        pmi_get_hex(r, key, right, BLOB, &err) != PT_OK)
        err_die("pmi_probe", &err);
    pattern(r, want);
    if (memcmp(right, want, BLOB) != 0) {
        fprintf(stderr, "pmi_probe: rank %d read another value under %s\n", job.rank, key);
        return 1;
    }
    char hex[2 * BLOB + 1];
    pmi_hex_encode(root, BLOB, hex);
    const char *id = getenv("SLURM_LOCALID");
    printf("rank %d size %d local %d of %d slurm_localid %s blob %s\n", job.rank, job.size,
           job.local_rank, job.local_size, id ? id : "-", hex);
    pmi_finalize();
    return 0;
}
