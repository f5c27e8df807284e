/* nccl_probe: lib/ncclboot on both launch paths, one binary. Under `srun --mpi=pmi2` (PMI_FD
 * and PMI_RANK set) the id goes through the PMI2 store and no MPI starts; otherwise (mpirun)
 * through MPI_Bcast. Each rank prints
 *     rank R size S path pmi|mpi id HEX
 * then joins the communicator on the GPU of its local rank: without one, one line
 *     rank R init: NCCL's error
 * and exit 0 (the refusal is what is checked); with one, an all-reduce of rank+1 over device
 * memory must give size·(size+1)/2 ("rank R allreduce S(S+1)/2 ok", else exit 1).
 * tests/pmi/test_nccl_boot.sh drives it. */
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>

#include "comm.h"
#include "error.h"
#include "ncclboot.h"
#include "pmi.h"

static void die(const Error *err) { err_die("nccl_probe", err); }

int main(int argc, char **argv)
{
    Error err = {0};
    ncclUniqueId id;
    int rank, size, local;
    const char *path = pmi_present() ? "pmi" : "mpi";
    if (pmi_present()) {
        PmiJob job;
        if (pmi_init(&job, &err) != PT_OK || ncclboot_id_pmi(&job, "nccl.world", &id, &err) != PT_OK)
            die(&err);
        rank = job.rank, size = job.size, local = job.local_rank;
    } else {
        comm_init(&argc, &argv);
        Comm w = comm_world();
        if (ncclboot_id_mpi(&w, &id, &err) != PT_OK) die(&err);
        rank = w.rank, size = w.size;
        const char *l = getenv("OMPI_COMM_WORLD_LOCAL_RANK");
        local = l ? atoi(l) : 0;
    }
    char hex[2 * sizeof id + 1];
    pmi_hex_encode(&id, sizeof id, hex);
    printf("rank %d size %d path %s id %s\n", rank, size, path, hex);
    fflush(stdout);

    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) == cudaSuccess && ndev > 0 &&
        cudaSetDevice(local % ndev) != cudaSuccess) {
        fprintf(stderr, "nccl_probe: cudaSetDevice(%d) failed\n", local % ndev);
        return 1;
    }
    ncclComm_t nc;
    if (ncclboot_init(&nc, &id, rank, size, &err) != PT_OK) {
        printf("rank %d init: %s\n", rank, err.msg);
        if (!pmi_present()) comm_finalize();
        return 0;
    }
    float one = (float)(rank + 1), sum = 0, *d;
    if (cudaMalloc((void **)&d, sizeof *d) != cudaSuccess ||
        cudaMemcpy(d, &one, sizeof one, cudaMemcpyHostToDevice) != cudaSuccess ||
        ncclAllReduce(d, d, 1, ncclFloat, ncclSum, nc, 0) != ncclSuccess ||
        cudaMemcpy(&sum, d, sizeof sum, cudaMemcpyDeviceToHost) != cudaSuccess) {
        fprintf(stderr, "nccl_probe: rank %d: the all-reduce failed\n", rank);
        return 1;
    }
    if (sum != (float)(size * (size + 1) / 2)) {
        fprintf(stderr, "nccl_probe: rank %d: all-reduce gave %g, want %d\n", rank, sum,
                size * (size + 1) / 2);
        return 1;
    }
    printf("rank %d allreduce %d ok\n", rank, size * (size + 1) / 2);
    cudaFree(d);
    ncclCommDestroy(nc);
    if (pmi_present()) pmi_finalize();
    else comm_finalize();
    return 0;
}
