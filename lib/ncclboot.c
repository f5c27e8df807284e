/* ncclboot: NCCL unique id over the control plane, and the join (lib/ncclboot.h). */
#include "ncclboot.h"

static int nccl_error(Error *err, const char *what, ncclResult_t r)
{
    return err_set(err, PT_ERUNTIME, "NCCL %s: %s", what, ncclGetErrorString(r));
}

int ncclboot_id_mpi(const Comm *c, ncclUniqueId *id, Error *err)
{
    Error mine = {0};
    if (c->rank == 0) {
        ncclResult_t r = ncclGetUniqueId(id);
        if (r != ncclSuccess) nccl_error(&mine, "ncclGetUniqueId", r);
    }
    /* a rank 0 without an id must not leave the others waiting for one */
    if (comm_agree(c, &mine) != PT_OK) return err_set(err, mine.code, "%s", mine.msg);
    comm_bcast(c, id, (int64_t)sizeof *id, 0);
    return PT_OK;
}

int ncclboot_id_pmi(const PmiJob *job, const char *key, ncclUniqueId *id, Error *err)
{
    int rc;
    if (job->rank == 0) {
        ncclResult_t r = ncclGetUniqueId(id);
        /* the others wait in the fence: srun --kill-on-bad-exit ends them when we exit */
        if (r != ncclSuccess) return nccl_error(err, "ncclGetUniqueId", r);
        if ((rc = pmi_put_hex(key, id, sizeof *id, err)) != PT_OK) return rc;
    }
    if ((rc = pmi_fence(err)) != PT_OK) return rc;
    if (job->rank != 0 && (rc = pmi_get_hex(0, key, id, sizeof *id, err)) != PT_OK) return rc;
    return PT_OK;
}

int ncclboot_init(ncclComm_t *out, const ncclUniqueId *id, int rank, int size, Error *err)
{
    ncclResult_t r = ncclCommInitRank(out, size, *id, rank);
    if (r != ncclSuccess) {
        *out = NULL;
        return err_set(err, PT_ERUNTIME, "NCCL ncclCommInitRank (rank %d of %d): %s", rank, size,
                       ncclGetErrorString(r));
    }
    return PT_OK;
}
