#!/bin/sh
# test_submit: picotron-submit as a user drives it. Without Slurm: --help, bad input, the
# trainer's own refusal of a hub dataset name (pre-flight), the no-Slurm-on-PATH line, and the
# content of --dry-run scripts (--set, --max-concurrent, runs found below a directory). Then
# against a real one-node Slurm (scripts/slurm-local: munged, slurmctld, slurmd in $TMP,
# stopped on every exit): a sweep holding a run the trainer would refuse queues nothing; a
# 2-rank tiny run completes with its loss log, a run that breaks at its first save is 'fail'
# (the two go as one job array), a run past its 1-minute limit is 'timeout', a chain of 2 jobs
# (with a --set) resumes from the first one's checkpoint, a throttled held array shows its throttle and is cancelled,
# status.txt holds upstream's words, and --only fail resubmits the failed run alone.
# timeout: 240
# shellcheck disable=SC2012,SC2016  # ls of our own log names; '$' kept literal in script text
. "$(dirname "$0")/lib.sh"

SUBMIT=$BIN/picotron-submit
SLURM_LOCAL=$ROOT/scripts/slurm-local
[ -x "$SUBMIT" ] || { echo "not ok - $SUBMIT is missing (run 'make all' first)"; exit 1; }

# run_config DIR STEPS: a run directory holding a 2-rank (dp=2) tiny config on synthetic data
# that trains STEPS steps, saves every 2 steps into DIR/ckpt and logs into DIR.
run_config() {
    mkdir -p "$1"
    cat >"$1/config.json" <<EOF
{
    "distributed": {"tp_size": 1, "cp_size": 1, "pp_size": 1, "dp_size": 2},
    "model": {"name": "tiny", "dtype": "float32"},
    "training": {"seed": 42, "learning_rate": 3e-3, "total_train_steps": $2,
                 "seq_length": 64, "micro_batch_size": 4, "gradient_accumulation_steps": 1},
    "dataset": {"name": "synthetic"},
    "checkpoint": {"save_dir": "$1/ckpt", "save_frequency": 2},
    "logging": {"run_dir": "$1", "log_frequency": 1}
}
EOF
}

# status_of DIR: the one word in DIR/status
status_of() { cat "$1/status" 2>/dev/null || echo none; }

# wait_final SECONDS DIR...: refresh with `picotron-submit status` until every DIR's status
# has ended (or SECONDS pass); 1 on timeout.
wait_final() {
    limit=$(($(date +%s) + $1))
    shift
    while :; do
        "$SUBMIT" status "$@" >/dev/null 2>&1
        left=0
        for d in "$@"; do
            case $(status_of "$d") in
            completed | fail | oom | timeout | preempted | cancelled) ;;
            *) left=1 ;;
            esac
        done
        [ "$left" -eq 0 ] && return 0
        [ "$(date +%s)" -ge "$limit" ] && return 1
        sleep 1
    done
}

# count_in FILE TEXT: lines of FILE holding TEXT
count_in() { grep -c -F -e "$2" "$1" 2>/dev/null || true; }

run_config "$TMP/runs/ok" 6
# fails in the job, past pre-flight: its save_dir is a file, found when step 2 saves
run_config "$TMP/runs/fail" 6
touch "$TMP/runs/fail/ckpt"
run_config "$TMP/runs/timeout" 1000000
run_config "$TMP/runs/chain" 6

# ---------------------------------------------------------------- without a cluster ----

begin help
expect_exit 0 "$SUBMIT" --help
for opt in --nodes --ntasks-per-node --gpus-per-node --cpus-per-task --time --partition --qos \
    --account --exclusive --overcommit --sbatch-arg --job-name --signal-before --chain --steps \
    --only --no-array --run-dir --train --dry-run --json --set --max-concurrent cancel \
    status.txt example; do
    assert_contains "$OUT" "$opt"
done

begin bad_input
expect_exit 2 "$SUBMIT" --frobnicate runs/ok && assert_one_line "$ERR"
expect_exit 2 "$SUBMIT" --dry-run runs/nothing-here && assert_one_line "$ERR"
assert_contains "$ERR" "runs/nothing-here"
expect_exit 2 "$SUBMIT" --dry-run --time 1h runs/ok && assert_one_line "$ERR"
assert_contains "$ERR" "--time"
expect_exit 2 "$SUBMIT" --dry-run --nodes 3 runs/ok && assert_one_line "$ERR"
assert_contains "$ERR" "3 nodes"
expect_exit 2 "$SUBMIT" --dry-run --only fial runs/ok && assert_one_line "$ERR"
expect_exit 2 "$SUBMIT" --dry-run runs/ok runs/ok/config.json && assert_one_line "$ERR"
assert_contains "$ERR" "same run directory"
expect_exit 2 "$SUBMIT" --dry-run - <runs/ok/config.json && assert_one_line "$ERR"
assert_contains "$ERR" "--run-dir"
expect_exit 2 "$SUBMIT" --dry-run --run-dir runs/ok - <runs/ok/config.json &&
    assert_one_line "$ERR"
assert_contains "$ERR" "already exists"

begin preflight
# upstream's default dataset, a hub name: picotron-train refuses it, so submit does, with the
# trainer's own words after the run's name, before anything is written
run_config "$TMP/runs/hub" 6
sed 's#"synthetic"#"roneneldan/TinyStories"#' runs/ok/config.json >runs/hub/config.json
expect_exit 2 "$TRAIN" --config runs/hub/config.json --set distributed.dp_size=1
train_line=$(sed -n 's/^picotron-train: //p' "$ERR" | tail -n 1)
check "the trainer refuses dataset.name ($train_line)" \
    sh -c 'case "$1" in "dataset.name: "*) ;; *) exit 1 ;; esac' - "$train_line"
expect_exit 2 "$SUBMIT" --dry-run runs/ok runs/hub && assert_one_line "$ERR"
check "submit's line is the trainer's, naming the run" \
    test "$(cat "$ERR")" = "picotron-submit: runs/hub: $train_line"
expect_exit 2 "$SUBMIT" --dry-run --set checkpoint.load_path=runs/nockpt runs/ok &&
    assert_one_line "$ERR"
assert_contains "$ERR" "runs/ok: checkpoint.load_path: runs/nockpt"
expect_exit 2 "$SUBMIT" --dry-run --set training.nosuchkey=1 runs/ok && assert_one_line "$ERR"
assert_contains "$ERR" "training.nosuchkey"
expect_exit 2 "$SUBMIT" --dry-run --set distributed.tp_size=3 runs/ok && assert_one_line "$ERR"
assert_contains "$ERR" "distributed.tp_size"
expect_exit 2 "$SUBMIT" --dry-run --max-concurrent 2 --no-array runs/ok && assert_one_line "$ERR"
assert_contains "$ERR" "--max-concurrent"
# a config on stdin that the trainer would refuse is not written
expect_exit 2 "$SUBMIT" --run-dir runs/piped_hub - <runs/hub/config.json && assert_one_line "$ERR"
assert_contains "$ERR" "dataset.name"
check "nothing written" test ! -e runs/piped_hub -a ! -e runs/hub/status

begin no_slurm_on_path
mkdir -p "$TMP/empty"
expect_exit 2 env PATH="$TMP/empty" "$SUBMIT" runs/ok && assert_one_line "$ERR"
assert_contains "$ERR" "no Slurm on PATH"
expect_exit 2 env PATH="$TMP/empty" "$SUBMIT" status runs/ok && assert_one_line "$ERR"
assert_contains "$ERR" "no Slurm on PATH"
check "nothing written" test ! -e runs/ok/submit.json -a ! -e runs/ok/status

begin dry_run
expect_exit 0 env PATH="$TMP/empty" "$SUBMIT" --dry-run --overcommit --time 2:00:00 \
    --partition debug --qos normal --account proj --exclusive --cpus-per-task 1 runs/ok
for line in '#!/bin/bash' '#SBATCH --job-name=ok' '#SBATCH --nodes=1' \
    '#SBATCH --ntasks-per-node=2' '#SBATCH --cpus-per-task=1' '#SBATCH --time=2:00:00' \
    '#SBATCH --partition=debug' '#SBATCH --qos=normal' '#SBATCH --account=proj' \
    '#SBATCH --exclusive' '#SBATCH --overcommit' '#SBATCH --signal=USR1@300' \
    '#SBATCH --requeue' "#SBATCH --output=$TMP/runs/ok/slurm-%j.out" \
    "#SBATCH --error=$TMP/runs/ok/slurm-%j.err" "#SBATCH --chdir=$TMP" \
    'export OMP_NUM_THREADS=1' \
    "srun --mpi=pmix --kill-on-bad-exit=1 '$BIN/picotron-train' --config \"\$CONFIG\" --set checkpoint.resume=auto" \
    "CONFIG='$TMP/runs/ok/config.json'" 'if [ "$rc" -eq 75 ]; then' \
    'scontrol requeue "$SLURM_JOB_ID"' 'exit "$rc"'; do
    assert_contains "$OUT" "$line"
done
assert_not_contains "$OUT" "--gpus-per-node"
assert_not_contains "$OUT" "--array"
check "the script is valid shell" bash -n "$OUT"
check "nothing written" test ! -e runs/ok/submit.sbatch -a ! -e runs/ok/status
# a 1-minute limit gets the signal 30 s before its end, never 300
expect_exit 0 "$SUBMIT" --dry-run --time 1 --gpus-per-node 8 --steps 3 runs/ok
assert_contains "$OUT" '#SBATCH --signal=USR1@30'
assert_contains "$OUT" '#SBATCH --gpus-per-node=8'
assert_contains "$OUT" '--set checkpoint.resume=auto --steps 3 --signal-grace 27'
expect_exit 0 "$SUBMIT" --dry-run --signal-before 0 runs/ok
assert_not_contains "$OUT" '#SBATCH --signal'
assert_not_contains "$OUT" '--signal-grace'
# two runs with the same resources: one job array; a chain says how it is linked
expect_exit 0 "$SUBMIT" --dry-run --chain 2 runs/ok runs/chain/config.json
assert_contains "$OUT" '#SBATCH --array=0-1'
assert_contains "$OUT" "0) RUN='$TMP/runs/ok' CONFIG='$TMP/runs/ok/config.json' ;;"
assert_contains "$OUT" "1) RUN='$TMP/runs/chain' CONFIG='$TMP/runs/chain/config.json' ;;"
assert_contains "$OUT" '--dependency=afterany'
check "one script" test "$(count_in "$OUT" '#!/bin/bash')" -eq 1
expect_exit 0 "$SUBMIT" --dry-run --no-array runs/ok runs/chain
check "--no-array: two scripts" test "$(count_in "$OUT" '#!/bin/bash')" -eq 2
# --max-concurrent throttles the array; --set goes to picotron-train, quoted, before resume
expect_exit 0 "$SUBMIT" --dry-run --max-concurrent 1 --set training.learning_rate=0.001 \
    --set "logging.run_name=it's" runs/ok runs/chain
assert_contains "$OUT" '#SBATCH --array=0-1%1'
assert_contains "$OUT" "--config \"\$CONFIG\" --set 'training.learning_rate=0.001' --set 'logging.run_name=it'\\''s' --set checkpoint.resume=auto"
check "the script is valid shell" bash -n "$OUT"
# a config on stdin names the directory it would be written to; a dry run writes nothing
expect_exit 0 "$SUBMIT" --dry-run --run-dir runs/piped - <runs/ok/config.json
assert_contains "$OUT" "CONFIG='$TMP/runs/piped/config.json'"
check "nothing written" test ! -e runs/piped

begin dry_run_quotes_shell_metacharacters
run_config "$TMP/sw/a(1)" 6
run_config "$TMP/sw/b;id" 6
expect_exit 0 "$SUBMIT" --dry-run 'sw/a(1)'
assert_contains "$OUT" "RUN='$TMP/sw/a(1)'"
assert_contains "$OUT" "CONFIG='$TMP/sw/a(1)/config.json'"
check "the script is valid shell" bash -n "$OUT"
expect_exit 0 "$SUBMIT" --dry-run 'sw/a(1)' 'sw/b;id'
assert_contains "$OUT" "1) RUN='$TMP/sw/b;id' CONFIG='$TMP/sw/b;id/config.json' ;;"
check "the array script is valid shell" bash -n "$OUT"
# run task 1 with stand-ins for srun and id: srun gets the config path whole, id never runs
mkdir -p fakebin
printf '#!/bin/sh\nprintf "%%s\\n" "$@" >"%s/srun.args"\n' "$TMP" >fakebin/srun
printf '#!/bin/sh\ntouch "%s/id.ran"\n' "$TMP" >fakebin/id
chmod +x fakebin/srun fakebin/id
cp "$OUT" sw.sbatch
expect_exit 0 env PATH="$TMP/fakebin:$PATH" SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_JOB_ID=9 \
    bash sw.sbatch
check "id did not run" test ! -e id.ran
assert_contains srun.args "$TMP/sw/b;id/config.json"
# a directory without a config.json stands for the run directories below it, in path order
expect_exit 0 "$SUBMIT" --dry-run sw/
assert_contains "$OUT" "0) RUN='$TMP/sw/a(1)'"
assert_contains "$OUT" "1) RUN='$TMP/sw/b;id'"
expect_exit 2 "$SUBMIT" --dry-run empty && assert_one_line "$ERR"
assert_contains "$ERR" "empty: no config.json"
expect_exit 2 "$SUBMIT" --dry-run --partition "$(printf 'gpu\nid')" runs/ok &&
    assert_one_line "$ERR"
assert_contains "$ERR" "--partition"
expect_exit 2 "$SUBMIT" --dry-run --sbatch-arg "$(printf -- '--mem=0\nid')" runs/ok &&
    assert_one_line "$ERR"
assert_contains "$ERR" "--sbatch-arg"

# ------------------------------------------------------------------ a real cluster ----

if ! command -v slurmctld >/dev/null 2>&1; then
    fail "slurmctld not on PATH: install slurm-wlm and munge (scripts/install-deps)"
    finish
fi
CLUSTER=$TMP/slurm
PORT=$((17000 + ($$ % 2000) * 2))
trap '"$SLURM_LOCAL" stop "$CLUSTER" >/dev/null 2>&1; rm -rf "$TMP"' EXIT
t0=$(date +%s)
begin cluster
# 8 CPUs announced: the four jobs below (2 ranks each, --overcommit) run side by side
if env="$("$SLURM_LOCAL" start "$CLUSTER" "$PORT" 8 2>"$ERR")"; then
    eval "$env"
    pass "slurm-local start ($(($(date +%s) - t0)) s)"
else
    fail "slurm-local start" "$ERR"
    for f in "$CLUSTER"/log/*.log; do [ -f "$f" ] && tail -n 5 "$f" | sed 's/^/    | /'; done
    finish
fi

# The time-limit run goes first: it is the long one. No signal, so it runs into the limit.
begin submit
expect_exit 0 "$SUBMIT" --overcommit --time 1 --signal-before 0 runs/timeout
# a sweep holding one run the trainer would refuse queues nothing at all
run_config "$TMP/runs/good" 6
expect_exit 2 "$SUBMIT" --overcommit runs/good runs/hub && assert_one_line "$ERR"
assert_contains "$ERR" "runs/hub: dataset.name"
check "nothing recorded" test ! -e runs/good/submit.json -a ! -e runs/hub/submit.json
check "nothing queued besides the timeout run" \
    test "$(squeue -h -o %j | grep -c -v -x timeout)" -eq 0
expect_exit 0 "$SUBMIT" --overcommit runs/ok runs/fail
assert_contains "$OUT" "runs/ok "
assert_contains "$OUT" "runs/fail "
check "ok and fail went as one job array" grep -q '^runs/ok [0-9]*_0$' "$OUT"
expect_exit 0 "$SUBMIT" --overcommit --chain 2 --steps 3 --set training.learning_rate=0.001 \
    runs/chain
check "a chain of 2 records 2 jobs" grep -q '^runs/chain [0-9]*,[0-9]*$' "$OUT"
check "status pending or running after submit" \
    grep -q -E '^(pending|running)$' runs/ok/status
check "the script is kept in the run directory" test -s runs/ok/submit.sbatch

begin throttle_and_cancel
# two held runs found below held/: one array of 2 tasks, at most 1 running at once
run_config "$TMP/held/a" 6
run_config "$TMP/held/b" 6
expect_exit 0 "$SUBMIT" --overcommit --max-concurrent 1 --sbatch-arg=--begin=now+1hour held
check "both runs went as one array" test "$(grep -c '^held/[ab] [0-9]*_[01]$' "$OUT")" -eq 2
array=$(sed -n 's/^held\/a \([0-9]*\)_0$/\1/p' "$OUT")
scontrol show job -o "$array" >scontrol.txt 2>&1
assert_contains scontrol.txt "ArrayTaskThrottle=1"
check "status.txt says pending, no newline" test "$(cat held/a/status.txt)" = pending -a \
    "$(wc -c <held/a/status.txt)" -eq 7
expect_exit 0 "$SUBMIT" cancel held
check "both tasks cancelled" test "$(grep -c '^held/[ab] [0-9]*_[01]$' "$OUT")" -eq 2
wait_final 20 held/a held/b || fail "the cancelled runs did not end in 20 s"
for r in a b; do
    check "held/$r: status cancelled ($(status_of held/$r))" test "$(status_of held/$r)" = cancelled
    check "held/$r: status.txt fail (upstream has no cancelled)" \
        test "$(cat held/$r/status.txt)" = fail
done
check "nothing of the array left in the queue" test -z "$(squeue -h -j "$array" 2>/dev/null)"
expect_exit 0 "$SUBMIT" cancel held/a
assert_contains "$ERR" "nothing to cancel, status cancelled"

begin sbatch_refuses
run_config "$TMP/runs/refused" 6
expect_exit 1 "$SUBMIT" --overcommit --partition nosuch runs/refused && assert_one_line "$ERR"
assert_contains "$ERR" "sbatch"
check "no job recorded" test ! -e runs/refused/submit.json

begin completed
wait_final 60 runs/ok runs/fail runs/chain || fail "runs did not end in 60 s"
check "status completed ($(status_of runs/ok))" test "$(status_of runs/ok)" = completed
log=$(ls runs/ok/slurm-*.out 2>/dev/null | head -n 1)
check "loss log in the run directory" test -n "$log"
[ -n "$log" ] && check "6 step lines with a loss in $(basename "$log")" \
    test "$(steps "$log" | wc -l)" -eq 6
[ -n "$log" ] && check "loss of step 6 is a number" is_number "$(loss_at "$log" 6)"
check "metrics.jsonl has 6 lines" test "$(wc -l <runs/ok/metrics.jsonl)" -eq 6
check "status.txt is upstream's word, no newline" test "$(cat runs/ok/status.txt)" = completed -a \
    "$(wc -c <runs/ok/status.txt)" -eq 9
expect_exit 0 "$SUBMIT" status runs/ok
assert_contains "$OUT" "completed"
expect_exit 0 "$SUBMIT" status --json runs/ok
assert_contains "$OUT" '"status": "completed"'
assert_contains "$OUT" '"slurm_state": "COMPLETED"'

begin fail
check "status fail ($(status_of runs/fail))" test "$(status_of runs/fail)" = fail
check "status.txt fail" test "$(cat runs/fail/status.txt)" = fail
assert_contains "$(ls runs/fail/slurm-*.err | head -n 1)" "ckpt: not a directory"

begin chain
check "status completed ($(status_of runs/chain))" test "$(status_of runs/chain)" = completed
check "two job logs" test "$(ls runs/chain/slurm-*.out | wc -l)" -eq 2
first=$(ls runs/chain/slurm-*.out | sort -t- -k2 -n | head -n 1)
second=$(ls runs/chain/slurm-*.out | sort -t- -k2 -n | tail -n 1)
check "the first job trained steps 1-3" test "$(steps "$first" | tr '\n' ' ')" = "1 2 3 "
check "the second job trained steps 4-6" test "$(steps "$second" | tr '\n' ' ')" = "4 5 6 "
assert_contains "${second%.out}.err" "resumed from $TMP/runs/chain/ckpt/step_00000003 at step 3"
check "metrics.jsonl continues over both jobs" test "$(wc -l <runs/chain/metrics.jsonl)" -eq 6
assert_contains runs/chain/config.resolved.json '"learning_rate": 0.001'
assert_contains runs/chain/submit.sbatch "--set 'training.learning_rate=0.001'"

begin timeout
wait_final 150 runs/timeout || fail "the 1-minute run did not end in time"
check "status timeout ($(status_of runs/timeout))" test "$(status_of runs/timeout)" = timeout
check "status.txt timeout" test "$(cat runs/timeout/status.txt)" = timeout
check "it trained before the limit" test "$(steps "$(ls runs/timeout/slurm-*.out)" | wc -l)" -gt 1

begin only_fail
expect_exit 0 "$SUBMIT" --overcommit --only fail runs/ok runs/fail runs/timeout runs/chain
check "one run resubmitted" test "$(wc -l <"$OUT")" -eq 1
check "it is the failed one" grep -q '^runs/fail [0-9]*$' "$OUT"
assert_contains "$ERR" "runs/ok: skipped, status completed"
assert_contains "$ERR" "runs/timeout: skipped, status timeout"
check "fail has 2 submissions" test "$(count_in runs/fail/submit.json '"submitted"')" -eq 2
for r in ok timeout chain; do
    check "$r has 1 submission" test "$(count_in runs/$r/submit.json '"submitted"')" -eq 1
done
# completed is never resubmitted, even when asked for by name
expect_exit 0 "$SUBMIT" --overcommit --only completed runs/ok
check "nothing submitted" test ! -s "$OUT"
assert_contains "$ERR" "never submitted again"

begin cluster
t1=$(date +%s)
if [ "$NFAILS" -gt 0 ]; then # the daemons' view of what went wrong, before stop
    for f in "$CLUSTER"/log/slurmd-localhost.log "$CLUSTER"/log/slurmctld.log; do
        echo "    | --- $(basename "$f"), errors:"
        grep -i -E 'error|fail' "$f" | tail -n 15 | sed 's/^/    | /'
    done
fi
pids=$(cat "$CLUSTER/state/slurmctld.pid" "$CLUSTER/spool/slurmd-localhost.pid" \
    "$CLUSTER/munge/munged.pid" 2>/dev/null | tr '\n' ' ')
check "three daemon PIDs recorded ($pids)" test "$(echo "$pids" | wc -w)" -eq 3
check "slurm-local stop" "$SLURM_LOCAL" stop "$CLUSTER"
for p in $pids; do
    check "daemon $p is gone" sh -c "! kill -0 $p 2>/dev/null"
done
pass "Slurm part took $((t1 - t0)) s"
finish
