#!/bin/sh
# test_pmi_srun: lib/pmi under a real one-node Slurm (scripts/slurm-local), started with
# `srun --mpi=pmi2 -n 3` and no MPI at all (build/tests/pmi_probe, make check-pmi). Checks:
#   1. ranks 0, 1, 2 of 3, each once; local rank = Slurm's SLURM_LOCALID and 3 on the node
#      (from PMI_process_mapping);
#   2. the 128 random bytes rank 0 put in the PMI2 store read back the same on every rank, and
#      each rank's own key reads back on its neighbour (the probe checks that one itself);
#   3. a rank that dies before the fence ends the job step (srun --kill-on-bad-exit) with an
#      error status, in seconds: the others waiting in the fence do not hang it;
#   4. the probe outside srun --mpi=pmi2 (no PMI_FD) refuses in one line instead of quietly
#      being rank 0 of 1;
#   5. with NCCL built (build/tests/nccl_probe, lib/ncclboot): one binary, two launch paths —
#      under mpirun -np 2 the NCCL id goes by MPI_Bcast, under srun --mpi=pmi2 -n 3 through the
#      PMI2 store with no MPI; every rank holds the same id, each run a new one; then every rank
#      joins: without a GPU NCCL refuses in one line per rank (no hang), with GPUs an all-reduce
#      over device memory gives 1+2+...+size.
# Skips (exit 77) when slurmctld is missing, the build lacks PMI2, or the cluster cannot start.
# timeout: 120
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/../e2e/lib.sh"

PROBE=$ROOT/build/tests/pmi_probe
SLURM_LOCAL=$ROOT/scripts/slurm-local
[ -x "$PROBE" ] || { echo "not ok - $PROBE is missing (make build/tests/pmi_probe)"; exit 1; }

begin outside
expect_exit 1 env -u PMI_FD -u PMI_RANK "$PROBE" && assert_one_line "$ERR"
assert_contains "$ERR" "srun --mpi=pmi2"
if grep -q "this build lacks it" "$ERR"; then
    echo "skip: built without PMI2 (install libpmi2-0-dev)"
    exit 77
fi

command -v slurmctld >/dev/null 2>&1 || { echo "skip: slurmctld not on PATH (scripts/install-deps)"; exit 77; }
CLUSTER=$TMP/slurm
PORT=$((19000 + ($$ % 1000) * 2))
trap '"$SLURM_LOCAL" stop "$CLUSTER" >/dev/null 2>&1; rm -rf "$TMP"' EXIT
if ! env="$("$SLURM_LOCAL" start "$CLUSTER" "$PORT" 4 2>"$ERR")"; then
    echo "skip: the local Slurm did not start: $(tail -n 1 "$ERR")"
    exit 77
fi
eval "$env"

begin ranks
expect_exit 0 srun --mpi=pmi2 -N 1 -n 3 --overcommit --time 1 "$PROBE"
check "three lines" test "$(wc -l <"$OUT")" -eq 3
for r in 0 1 2; do
    check "rank $r of 3 once, local = SLURM_LOCALID, 3 on the node" \
        test "$(grep -c "^rank $r size 3 local $r of 3 slurm_localid $r blob " "$OUT")" -eq 1
done

begin kvs
check "every rank read rank 0's blob alike" test "$(awk '{ print $NF }' "$OUT" | sort -u | wc -l)" -eq 1
check "the blob is 128 bytes of hex" grep -qE ' blob [0-9a-f]{256}$' "$OUT"

NCCL_PROBE=$ROOT/build/tests/nccl_probe
# nccl_lines FILE PATH SIZE: the checks of item 5 on the probe's output in FILE
nccl_lines() {
    check "$3 ranks on the $2 path" test "$(grep -c "^rank [0-9] size $3 path $2 id [0-9a-f]\{256\}\$" "$1")" -eq "$3"
    check "one id on every rank" test "$(sed -n 's/.* id //p' "$1" | sort -u | wc -l)" -eq 1
    joined=$(grep -c -e "^rank [0-9] init: NCCL ncclCommInitRank (rank [0-9] of $3): " \
        -e "^rank [0-9] allreduce $(($3 * ($3 + 1) / 2)) ok\$" "$1")
    check "every rank joined or NCCL refused it in one line" test "$joined" -eq "$3"
}
if [ -x "$NCCL_PROBE" ]; then
    begin nccl-mpi
    expect_exit 0 timeout 60 mpirun --allow-run-as-root --oversubscribe -np 2 "$NCCL_PROBE"
    nccl_lines "$OUT" mpi 2
    sed -n 's/.* id //p' "$OUT" | sort -u >mpi.id
    begin nccl-pmi2
    expect_exit 0 timeout 60 srun --mpi=pmi2 -N 1 -n 3 --overcommit --time 1 "$NCCL_PROBE"
    nccl_lines "$OUT" pmi 3
    check "a new id, not the MPI run's" test "$(sed -n 's/.* id //p' "$OUT" | sort -u)" != "$(cat mpi.id)"
    assert_not_contains "$OUT" "path mpi"
else
    echo "# nccl: skipped, built without NCCL (no build/tests/nccl_probe)"
fi

begin killed
t0=$(date +%s)
# srun's status is the worst of its tasks': 143 for the two it ended with SIGTERM
timeout 60 srun --mpi=pmi2 -N 1 -n 3 --overcommit --time 1 --kill-on-bad-exit=1 \
    "$PROBE" --fail 1 >"$OUT" 2>"$ERR"
rc=$?
check "srun failed (exit $rc), not the timeout" test "$rc" -ne 0 -a "$rc" -ne 124
assert_contains "$ERR" "rank 1 fails before the fence"
assert_contains "$ERR" "task 1: Exited with exit code 3"
check "the step ended in under 30 s ($(($(date +%s) - t0)) s)" test $(($(date +%s) - t0)) -lt 30
check "no rank printed past the fence" test ! -s "$OUT"

finish
