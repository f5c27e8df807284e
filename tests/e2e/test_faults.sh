#!/bin/sh
# test_faults: fault injection (issue #14, "nothing lost, nothing silent"; docs/training.md
# "Signals" and "When the disk fails", docs/checkpoint.md "Commit protocol"). Every case checks
# the exit code, the one line on stderr, and that what was there before is intact: `latest`
# still names the previous checkpoint, which verifies and resumes to the losses of a run that
# saw no fault (text-equal: resume is exact on one process).
#  - a full disk (a small tmpfs): refused before step 1 when one checkpoint does not fit; a save
#    that runs out of space; metrics.jsonl; shard-ckpt and convert-hf export outputs;
#  - read-only directories (a tmpfs remounted read-only): save_dir and run_dir;
#  - a corrupt payload in the checkpoint resumed from;
#  - a second run on a save_dir in use;
#  - SIGTERM during start-up (with and without a checkpoint to resume from) and during a save;
#  - a rank that never reaches the step boundary (SIGSTOP) ended by --signal-grace;
#  - kill -9 of one rank of a self-launched run: the rank named in one line.
# Needs root to mount tmpfs; without it the test is skipped (exit 77).
# timeout: 120
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

unset OMPI_COMM_WORLD_SIZE OMPI_COMM_WORLD_LOCAL_SIZE OMPI_COMM_WORLD_RANK PMIX_RANK PMI_RANK \
    SLURM_STEP_ID SLURM_PROCID PICOTRON_SELF_LAUNCHED
SHARD=$BIN/picotron-shard-ckpt
CONVERT=$BIN/picotron-convert-hf

# Mounts made here, unmounted on exit before $TMP is removed.
MOUNTS=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    for m in $MOUNTS; do umount "$m" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT

# tmpfs DIR KIB: a fresh tmpfs of KIB KiB at DIR.
tmpfs() {
    mkdir -p "$1" && mount -t tmpfs -o "size=${2}k" tmpfs "$1" && MOUNTS="$1 $MOUNTS"
}

if ! tmpfs "$TMP/probe" 64 2>/dev/null; then
    echo "skip - cannot mount a tmpfs here (needs root): the full-disk cases need one"
    exit 77
fi

tiny_json tiny.json
# 0.11M parameters: a checkpoint is 1.42 MiB (weights, AdamW m and v)
T="--config tiny.json --no-metrics -q"

latest_name() { cat "$1/latest" 2>/dev/null; }

# rank_pid PID R: the process of rank R among PID's descendants (a self-launched job).
rank_pid() {
    for p in $(pgrep -P "$1"); do
        if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q "^OMPI_COMM_WORLD_RANK=$2\$"; then
            echo "$p"
            return 0
        fi
        rank_pid "$p" "$2" && return 0
    done
    return 1
}

# wait_for CMD...: poll CMD every 10 ms for up to 30 s.
wait_for() {
    i=0
    until "$@"; do
        [ "$i" -lt 3000 ] || return 1
        sleep 0.01
        i=$((i + 1))
    done
}

# catches_term PID: PID runs picotron-train (not the shell forked to exec it, which inherits
# the shell's TERM trap) and has its SIGTERM handler installed (bit 15 of SigCgt).
# shellcheck disable=SC2317  # called through wait_for
catches_term() {
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = picotron-train ] || return 1
    mask=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null)
    [ -n "$mask" ] && [ $((0x$mask & 0x4000)) -ne 0 ]
}

# refused_before_step_1 CODE LINE ARGS...: the tiny run with ARGS stops with CODE and the one
# line LINE before its first step.
refused_before_step_1() {
    code=$1
    line=$2
    shift 2
    # shellcheck disable=SC2086
    expect_exit "$code" "$TRAIN" $T --steps 2 "$@"
    assert_one_line "$ERR"
    assert_contains "$ERR" "$line"
    check "no step ran" [ ! -s "$OUT" ]
}

# The reference: 4 steps saving at 2 and 4, no fault.
begin "reference run"
# shellcheck disable=SC2086  # $T is a list of words
expect_exit 0 "$TRAIN" $T --steps 4 --set checkpoint.save_dir="$TMP/ref" \
    --set checkpoint.save_frequency=2
cp "$OUT" ref.txt
check "latest names step 4" [ "$(latest_name ref)" = step_00000004 ]

# ---- full disks ---------------------------------------------------------------------------

begin "full disk: less than one checkpoint free, refused before step 1"
tmpfs "$TMP/d1" 1024
refused_before_step_1 1 "checkpoint.save_dir: $TMP/d1/ckpt has 1020 KiB free, a checkpoint of this model needs 1417 KiB: free space or choose another directory" \
    --set checkpoint.save_dir="$TMP/d1/ckpt" --set checkpoint.save_frequency=2

begin "full disk: the second save runs out of space"
tmpfs "$TMP/d2" 1600
sd=$TMP/d2/ckpt
# shellcheck disable=SC2086
expect_exit 1 "$TRAIN" $T --steps 4 --set checkpoint.save_dir="$sd" \
    --set checkpoint.save_frequency=2
assert_one_line "$ERR"
assert_contains "$ERR" "$sd/step_00000004.tmp/rank_00000.h5: cannot write /"
assert_contains "$ERR" ": No space left on device"
check "latest still names step 2" [ "$(latest_name "$sd")" = step_00000002 ]
check "nothing of step 4 is left" [ -z "$(find "$sd" -name 'step_00000004*')" ]
check "step 2 verifies" "$SHARD" verify -q "$sd/step_00000002"
expect_exit 0 "$TRAIN" --config tiny.json --no-metrics --steps 2 --set checkpoint.save_dir="$sd" \
    --set checkpoint.resume=auto
assert_contains "$ERR" "resumed from $sd/step_00000002 at step 2"
check "steps 3-4 after the resume equal the reference's" \
    [ "$(grep -E '^step [34] ' "$OUT" | cut -d' ' -f1-8)" = "$(grep -E '^step [34] ' ref.txt | cut -d' ' -f1-8)" ]

# The first save on a disk just big enough to pass the check before step 1: the space runs out
# in the last writes of the rank file (HDF5's metadata, written when the file is closed: the
# close that crashed HDF5's exit handler) or in meta.h5. Measured on a 2 KiB grid: 1424 KiB →
# the rank file's close, 1428 → creating meta.h5, 1432 → writing it.
for kb in 1424 1428 1432; do
    begin "full disk: the first save, $kb KiB"
    tmpfs "$TMP/e$kb" "$kb"
    # shellcheck disable=SC2086
    expect_exit 1 "$TRAIN" $T --steps 2 --set checkpoint.save_dir="$TMP/e$kb/ckpt" \
        --set checkpoint.save_frequency=2
    assert_one_line "$ERR"
    assert_contains "$ERR" ": No space left on device"
    echo "# $CASE: $(sed 's/.*step_00000002.tmp.//' "$ERR")"
    check "no latest, no step directory" [ -z "$(ls "$TMP/e$kb/ckpt")" ]
done

begin "full disk: metrics.jsonl"
tmpfs "$TMP/d3" 12
expect_exit 1 "$TRAIN" --config tiny.json -q --set logging.run_dir="$TMP/d3/run" \
    --set training.total_train_steps=400
assert_one_line "$ERR"
assert_contains "$ERR" "$TMP/d3/run/metrics.jsonl: cannot write: No space left on device"
check "metrics.jsonl ends with a whole line" [ "$(tail -c 1 "$TMP/d3/run/metrics.jsonl" | od -An -c | tr -d ' ')" = '\n' ]
check "every line of metrics.jsonl is a record" \
    [ "$(grep -c -v '^{"step": [0-9]*, .*}$' "$TMP/d3/run/metrics.jsonl")" = 0 ]

begin "full disk: shard-ckpt output"
tmpfs "$TMP/d4" 1024
expect_exit 1 "$SHARD" -q --in ref/step_00000004 --to tp=2 --out "$TMP/d4/out"
assert_one_line "$ERR"
assert_contains "$ERR" ": No space left on device"
check "no output directory, no out.tmp" [ -z "$(ls -A "$TMP/d4")" ]

begin "full disk: convert-hf export"
tmpfs "$TMP/d5" 256
expect_exit 1 "$CONVERT" export ref --out "$TMP/d5/hf" -q
assert_one_line "$ERR"
assert_contains "$ERR" "No space left on device"
check "no safetensors or config.json left" \
    [ -z "$(find "$TMP/d5" -name '*.safetensors' -o -name 'config.json' -o -name '*.tmp.*')" ]

# ---- read-only directories ----------------------------------------------------------------

tmpfs "$TMP/ro" 1024
mkdir "$TMP/ro/ckpt" "$TMP/ro/run"
mount -o remount,ro "$TMP/ro"

begin "read-only save_dir"
refused_before_step_1 2 "checkpoint.save_dir: $TMP/ro/ckpt is not writable: Read-only file system" \
    --set checkpoint.save_dir="$TMP/ro/ckpt" --set checkpoint.save_frequency=1

begin "read-only run_dir"
expect_exit 2 "$TRAIN" --config tiny.json -q --steps 2 --set logging.run_dir="$TMP/ro/run"
assert_one_line "$ERR"
assert_contains "$ERR" "logging.run_dir: $TMP/ro/run is not writable: Read-only file system"

# ---- a corrupt payload ----------------------------------------------------------------------

begin "corrupt tensor data in the checkpoint resumed from"
cp -R ref corrupt
check "corrupted the weights of lm_head" \
    corrupt_tensor corrupt/step_00000004/rank_00000.h5 /weights/lm_head.weight
# shellcheck disable=SC2086
expect_exit 2 "$TRAIN" $T --steps 1 --set checkpoint.save_dir="$TMP/corrupt" \
    --set checkpoint.resume=auto
assert_one_line "$ERR"
assert_contains "$ERR" "rank_00000.h5: tensor /weights/lm_head.weight: stored data fails its checksum"
check "latest unchanged" [ "$(latest_name corrupt)" = step_00000004 ]

# ---- a save_dir in use --------------------------------------------------------------------

begin "two runs on one save_dir"
sd=$TMP/busy
# shellcheck disable=SC2086
"$TRAIN" $T --set training.total_train_steps=100000 --set checkpoint.save_dir="$sd" \
    --set checkpoint.save_frequency=1000 >busy.out 2>busy.err &
pid=$!
check "the first run is training" wait_step busy.out 1
# shellcheck disable=SC2086
expect_exit 2 "$TRAIN" $T --steps 1 --set checkpoint.save_dir="$sd" \
    --set checkpoint.save_frequency=1
assert_one_line "$ERR"
assert_contains "$ERR" "checkpoint.save_dir: $sd is in use by pid $pid on host $(hostname)"
kill -TERM "$pid"
wait "$pid"
rc=$?
check "the first run, stopped by SIGTERM, exits 75 (exit $rc)" [ "$rc" -eq 75 ]
check "and saved the step it stopped at" "$SHARD" verify -q "$sd/$(latest_name "$sd")"

# ---- signals ------------------------------------------------------------------------------

# A model whose start-up (allocation, initialisation, the sgemm peak) takes about 2 s: the
# signal, sent as soon as the handler is installed, lands in it.
SLOW="--set model.hidden_size=512 --set model.num_hidden_layers=8 --set model.intermediate_size=1024"

# startup_signal SAVE_DIR RESUME: start the slow model, SIGTERM once it catches it; exit in rc.
startup_signal() {
    # shellcheck disable=SC2086
    "$TRAIN" $T $SLOW --set checkpoint.save_dir="$1" --set checkpoint.save_frequency=1 \
        --set checkpoint.resume="$2" >"$OUT" 2>"$ERR" &
    pid=$!
    wait_for catches_term "$pid"
    kill -TERM "$pid"
    wait "$pid"
    rc=$?
}

begin "SIGTERM during start-up, no checkpoint to resume from"
startup_signal "$TMP/su1" ""
check "exit $rc is 1" [ "$rc" -eq 1 ]
assert_one_line "$ERR"
assert_contains "$ERR" "stopped by SIGTERM before the first step: nothing saved; no checkpoint to resume from, exit 1"
check "no step ran" [ ! -s "$OUT" ]
check "nothing saved" [ -z "$(find "$TMP/su1" -name 'step_*' 2>/dev/null)" ]

begin "SIGTERM during start-up, resume auto with a checkpoint"
cp -R ref su2
startup_signal "$TMP/su2" auto
check "exit $rc is 75" [ "$rc" -eq 75 ]
assert_one_line "$ERR"
assert_contains "$ERR" "stopped by SIGTERM before the first step: nothing saved; exit 75: resume from the last checkpoint"
check "latest unchanged" [ "$(latest_name su2)" = step_00000004 ]
check "no new step" [ "$(cd su2 && echo step_*)" = "step_00000002 step_00000004" ]

begin "SIGTERM during a save"
# 3.3M parameters (38 MB a checkpoint) saved every step: the signal lands while step_N.tmp/
# is being written; the save completes, then the run stops.
sd=$TMP/midsave
# shellcheck disable=SC2086
"$TRAIN" $T --set model.hidden_size=256 --set model.intermediate_size=768 \
    --set model.num_hidden_layers=4 --set training.total_train_steps=1000 \
    --set checkpoint.save_frequency=1 --set checkpoint.save_dir="$sd" >ms.out 2>ms.err &
pid=$!
# shellcheck disable=SC2317  # called through wait_for
saving() { [ -f "$sd/latest" ] && [ -n "$(find "$sd" -maxdepth 1 -name 'step_*.tmp')" ]; }
check "a save after the first is in progress" wait_for saving
kill -TERM "$pid"
wait "$pid"
rc=$?
check "exit $rc is 75" [ "$rc" -eq 75 ]
n=$(steps ms.out | tail -n 1)
assert_contains ms.err "stopped by a signal at step $n: checkpoint saved in $sd"
check "latest names the last step printed ($n)" [ "$(latest_name "$sd")" = "$(printf 'step_%08d' "$n")" ]
check "which verifies" "$SHARD" verify -q "$sd/$(latest_name "$sd")"
check "no step_*.tmp left" [ -z "$(find "$sd" -maxdepth 1 -name 'step_*.tmp')" ]

begin "a rank stuck past --signal-grace"
# rank 1 stopped (SIGSTOP): rank 0 waits for it at the next collective forever; 1 s after
# SIGTERM the deadline ends the run.
"$TRAIN" --config tiny.json --no-metrics -q --set distributed.dp_size=2 \
    --set training.total_train_steps=100000 --signal-grace 1 >st.out 2>st.err &
pid=$!
check "training" wait_step st.out 1
r1=$(rank_pid "$pid" 1)
check "rank 1 found (${r1:-none})" [ -n "$r1" ]
kill -STOP "$r1"
t0=$(date +%s)
kill -TERM "$pid"
wait "$pid"
rc=$?
dt=$(($(date +%s) - t0))
check "exit $rc is 1" [ "$rc" -eq 1 ]
check "ended ${dt} s after the signal (< 10)" [ "$dt" -lt 10 ]
assert_contains st.err "picotron-train: no step boundary reached 1 s after the stop signal (--signal-grace): ended without saving; no checkpoint to resume from, exit 1"
check "one line on stderr" [ "$(wc -l <st.err)" -eq 1 ]

begin "kill -9 of one rank"
sd=$TMP/k9
"$TRAIN" --config tiny.json --no-metrics -q --set distributed.dp_size=2 \
    --set training.total_train_steps=100000 --set checkpoint.save_dir="$sd" \
    --set checkpoint.save_frequency=5 >k9.out 2>k9.err &
pid=$!
check "saved once" wait_for test -f "$sd/latest"
r1=$(rank_pid "$pid" 1)
check "rank 1 found (${r1:-none})" [ -n "$r1" ]
kill -KILL "$r1"
wait "$pid"
rc=$?
check "exit $rc is 137" [ "$rc" -eq 137 ]
assert_contains k9.err "picotron-train: rank 1 (pid $r1 on $(hostname)) was killed by SIGKILL; the other ranks were stopped"
check "one line on stderr" [ "$(wc -l <k9.err)" -eq 1 ]
check "latest verifies" "$SHARD" verify -q "$sd/$(latest_name "$sd")"

finish
