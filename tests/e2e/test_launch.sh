#!/bin/sh
# test_launch: self-launch through mpirun (lib/launch), driven by build/tests/launch_probe —
# ranks start oversubscribed, exit codes and stdin come through, signals reach the ranks,
# no recursion under an explicit mpirun, a killed rank ends the job.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

PROBE=$ROOT/build/tests/launch_probe
[ -x "$PROBE" ] || { echo "not ok - $PROBE is missing (make build/tests/launch_probe)"; exit 1; }
# The probe must decide for itself: no launcher variables from whoever runs this test.
unset OMPI_COMM_WORLD_SIZE OMPI_COMM_WORLD_LOCAL_SIZE PMIX_RANK PMI_RANK SLURM_STEP_ID \
    SLURM_PROCID PICOTRON_SELF_LAUNCHED

# ranks_reporting FILE: how many "rank R size ..." lines FILE holds.
ranks_reporting() { grep -c '^rank [0-9]* size ' "$1"; }

# count_lines FILE TEXT: lines of FILE holding TEXT (0 while FILE does not exist yet).
count_lines() { if [ -f "$1" ]; then grep -c -F -e "$2" "$1"; else echo 0; fi; }

# wait_for FILE TEXT COUNT: wait up to 10 s until FILE holds COUNT lines with TEXT.
wait_for() {
    i=0
    while [ "$(count_lines "$1" "$2")" -lt "$3" ] && [ "$i" -lt 200 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    [ "$(count_lines "$1" "$2")" -ge "$3" ]
}

# probes_running: the launch_probe processes still alive (zombies aside), one per line.
probes_running() { ps -eo stat=,pid=,comm= | awk '$1 !~ /^Z/ && $3 == "launch_probe"'; }

# now_ms: wall clock in milliseconds.
now_ms() { date +%s%3N; }

# ---------------------------------------------------------------------------------------------
begin "4 ranks on 2 cores"
expect_exit 0 "$PROBE" --ranks 4
check "4 ranks report (got $(ranks_reporting "$OUT"))" [ "$(ranks_reporting "$OUT")" -eq 4 ]
check "every rank sees size 4, local 4, PICOTRON_SELF_LAUNCHED=1" \
    [ "$(grep -c 'size 4 local 4 self_launched 1 ' "$OUT")" -eq 4 ]
for r in 0 1 2 3; do assert_contains "$OUT" "rank $r size 4"; done
check "nothing on stderr" [ ! -s "$ERR" ]
check "every rank yields its core while waiting in MPI" \
    [ "$(grep -c 'self_launched 1 yield 1 ' "$OUT")" -eq 4 ]

begin "a yield setting of the caller's own is kept"
expect_exit 0 env OMPI_MCA_mpi_yield_when_idle=0 "$PROBE" --ranks 2
check "both ranks keep yield 0" [ "$(grep -c 'self_launched 1 yield 0 ' "$OUT")" -eq 2 ]

begin "exit code of a failing rank"
# Rank 2 exits 3 (the others 0): mpirun returns the first non-zero code, 3, and --quiet keeps
# its "Primary job terminated normally, but 1 process returned..." banner off stderr.
expect_exit 3 "$PROBE" --ranks 4 --fail 2:3
assert_not_contains "$ERR" "Primary job"
assert_not_contains "$ERR" "mpirun detected"
# Every rank agrees on 2 (bad input): 2 comes back.
expect_exit 2 "$PROBE" --ranks 3 --fail -1:2

begin "stdin reaches every rank"
printf 'hello from stdin\nsecond line\n' >in.txt
expect_exit 0 "$PROBE" --ranks 3 --stdin <in.txt
check "3 ranks print the first line of stdin" \
    [ "$(grep -c "stdin 'hello from stdin'" "$OUT")" -eq 3 ]

# ---------------------------------------------------------------------------------------------
begin "SIGTERM reaches the ranks"
"$PROBE" --ranks 4 --sleep 30 >term.out 2>term.err &
pid=$!
check "4 ranks started" wait_for term.out " size 4 " 4
t0=$(now_ms)
kill -TERM "$pid"
wait "$pid"
rc=$?
dt=$(($(now_ms) - t0))
check "every rank got SIGTERM" [ "$(grep -c 'got SIGTERM' term.out)" -eq 4 ] ||
    sed 's/^/    | /' term.out term.err
# The ranks handle SIGTERM and exit 143 themselves; their code comes back, not mpirun's 1.
check "exit $rc is the ranks' 143" [ "$rc" -eq 143 ]
check "parent exited ${dt} ms after SIGTERM (< 10000: no hang)" [ "$dt" -lt 10000 ]

begin "SIGTERM: a rank's graceful exit code comes back"
# A rank that saves a checkpoint for 1.5 s after SIGTERM is not killed by mpirun's 1 s grace
# (the first SIGTERM goes to the ranks, not to mpirun) and its exit 0 is the job's.
"$PROBE" --ranks 2 --sleep 30 --linger 1.5 --signal-code 0 >grace.out 2>grace.err &
pid=$!
check "2 ranks started" wait_for grace.out " size 2 " 2
kill -TERM "$pid"
wait "$pid"
rc=$?
check "exit $rc is 0" [ "$rc" -eq 0 ]
check "both ranks finished their work after SIGTERM" [ "$(grep -c ' done$' grace.out)" -eq 2 ]

begin "SIGUSR1 reaches the ranks"
"$PROBE" --ranks 2 --sleep 30 --signal-code 0 >usr1.out 2>usr1.err &
pid=$!
check "2 ranks started" wait_for usr1.out " size 2 " 2
kill -USR1 "$pid"
wait "$pid"
rc=$?
check "exit $rc is 0" [ "$rc" -eq 0 ]
check "both ranks got SIGUSR1" [ "$(grep -c 'got SIGUSR1' usr1.out)" -eq 2 ]

# ---------------------------------------------------------------------------------------------
begin "no recursion under mpirun"
ROOTFLAG=
[ "$(id -u)" -eq 0 ] && ROOTFLAG=--allow-run-as-root
expect_exit 0 mpirun $ROOTFLAG --oversubscribe -np 2 "$PROBE" --ranks 4
check "2 ranks report size 2, not 4 (got $(ranks_reporting "$OUT") lines)" \
    [ "$(grep -c ' size 2 local 2 self_launched 0 ' "$OUT")" -eq 2 ] &&
    [ "$(ranks_reporting "$OUT")" -eq 2 ]

begin "launcher detection"
# Each of these marks a launcher: no self-launch.
for v in OMPI_COMM_WORLD_SIZE=4 PMIX_RANK=0 PMI_RANK=0 PICOTRON_SELF_LAUNCHED=1 \
         "SLURM_STEP_ID=0 SLURM_PROCID=0"; do
    # shellcheck disable=SC2086  # $v is one or two assignments on purpose
    check "$v: under a launcher" [ "$(env $v "$PROBE" --detect | cut -d' ' -f2)" = 1 ]
done
# An sbatch batch script has SLURM_PROCID=0 but no step id (or a special one such as the
# batch step's 4294967291): it must still start its ranks.
for v in "SLURM_PROCID=0 SLURM_JOB_ID=7" "SLURM_PROCID=0 SLURM_STEP_ID=4294967291" \
         "SLURM_PROCID=0 SLURM_STEP_ID=batch" "SLURM_STEP_ID=0"; do
    # shellcheck disable=SC2086
    check "$v: not under a launcher" [ "$(env $v "$PROBE" --detect | cut -d' ' -f2)" = 0 ]
done
check "local ranks from OMPI_COMM_WORLD_LOCAL_SIZE=3" \
    [ "$(env OMPI_COMM_WORLD_LOCAL_SIZE=3 "$PROBE" --detect | cut -d' ' -f4)" = 3 ]
check "local ranks of node 3 in SLURM_STEP_TASKS_PER_NODE=4(x3),2" \
    [ "$(env SLURM_STEP_ID=5 SLURM_PROCID=9 SLURM_NODEID=3 'SLURM_STEP_TASKS_PER_NODE=4(x3),2' \
        "$PROBE" --detect | cut -d' ' -f4)" = 2 ]
check "local ranks from SLURM_NTASKS_PER_NODE=6" \
    [ "$(env SLURM_NTASKS_PER_NODE=6 "$PROBE" --detect | cut -d' ' -f4)" = 6 ]
check "no launcher: 1 local rank" [ "$("$PROBE" --detect | cut -d' ' -f4)" = 1 ]

begin "mpirun missing"
expect_exit 2 env PATH=/nonexistent "$PROBE" --ranks 2
assert_one_line "$ERR"
assert_contains "$ERR" "mpirun not found: install openmpi-bin"

# ---------------------------------------------------------------------------------------------
begin "a rank killed with SIGKILL ends the job"
"$PROBE" --ranks 4 --sleep 60 >kill.out 2>kill.err &
pid=$!
check "4 ranks started" wait_for kill.out " size 4 " 4
victim=$(awk '$1 == "rank" && $2 == 1 && $3 == "size" { print $NF }' kill.out)
t0=$(now_ms)
kill -KILL "$victim"
wait "$pid"
rc=$?
dt=$(($(now_ms) - t0))
# mpirun exits 137 (128 + SIGKILL) and takes the other ranks down.
check "exit $rc is 137" [ "$rc" -eq 137 ]
check "job ended ${dt} ms after the kill (< 10000)" [ "$dt" -lt 10000 ]
i=0
while [ -n "$(probes_running)" ] && [ "$i" -lt 40 ]; do
    sleep 0.05
    i=$((i + 1))
done
check "no rank is left running 2 s later" [ -z "$(probes_running)" ] ||
    probes_running | sed 's/^/    | /'

finish
