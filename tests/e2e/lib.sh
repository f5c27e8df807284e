#!/bin/sh
# lib.sh: helpers shared by the end-to-end tests (POSIX sh). Source it first thing:
#     . "$(dirname "$0")/lib.sh"
# It makes a temp dir ($TMP, removed on exit) and cd's into it, so nothing a test does can
# write into the repository. Checks print "ok - ..." / "not ok - ..." and never stop the test;
# `finish` prints the tally and exits 1 if any check failed.
# shellcheck disable=SC2034  # variables here are used by the scripts that source this file

set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd) || exit 2
BIN=$ROOT/bin
TRAIN=$BIN/picotron-train
PICOTRON=$BIN/picotron
TEXT2SHARD=$BIN/text2shard
TINY=$ROOT/examples/tiny.json

TMP=$(mktemp -d "${TMPDIR:-/tmp}/picotron-e2e.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$TMP" || exit 2

# the CPU peak cache (lib/cpupeak) of the tests' own: a user's cache must not change them
export PICOTRON_PEAK_FILE="$TMP/cpu-peak.json"

OUT=$TMP/stdout   # stdout of the last expect_exit
ERR=$TMP/stderr   # stderr of the last expect_exit
RUN=$TMP/run      # logging.run_dir for every config
CASE="test"       # name of the current check, prefixed to every result line
NCHECKS=0
NFAILS=0

for f in "$TRAIN" "$PICOTRON" "$TEXT2SHARD" "$TINY"; do
    [ -e "$f" ] || { echo "not ok - $f is missing (run 'make all' first)"; exit 1; }
done

# begin NAME: start a new check group.
begin() { CASE=$1; }

# pass WHAT: record a passed check (returns 0).
pass() { NCHECKS=$((NCHECKS + 1)); echo "ok - $CASE: $1"; }

# fail WHAT [FILE]: record a failure (returns 1); FILE (e.g. $ERR) is shown, last 10 lines,
# indented.
fail() {
    NCHECKS=$((NCHECKS + 1))
    NFAILS=$((NFAILS + 1))
    echo "not ok - $CASE: $1"
    echo "not ok - $CASE: $1" >>"$TMP/failures"
    if [ $# -ge 2 ] && [ -s "$2" ]; then
        tail -n 10 "$2" | sed 's/^/    | /'
    fi
    return 1
}

# check WHAT CMD...: pass if CMD succeeds; returns 1 when it failed.
check() {
    what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# finish: the tally (failures repeated last, where a runner's tail shows them); exit status.
finish() {
    if [ -s "$TMP/failures" ]; then
        echo "failed checks:"
        cat "$TMP/failures"
    fi
    echo "$NCHECKS checks, $NFAILS failed"
    [ "$NFAILS" -eq 0 ] || exit 1
    exit 0
}

# expect_exit CODE CMD...: run CMD with stdout in $OUT and stderr in $ERR (stdin passes
# through); the check passes when it exits CODE. Returns 0 when it did.
expect_exit() {
    want=$1
    shift
    "$@" >"$OUT" 2>"$ERR"
    rc=$?
    if [ "$rc" -eq "$want" ]; then
        pass "exit $want"
        return 0
    fi
    fail "exit $rc, expected $want: $*" "$ERR"
    return 1
}

# assert_contains FILE TEXT: FILE holds TEXT (fixed string).
assert_contains() {
    if grep -F -q -e "$2" "$1"; then
        pass "$(basename "$1") contains '$2'"
    else
        fail "$(basename "$1") lacks '$2'" "$1"
    fi
}

# assert_not_contains FILE TEXT
assert_not_contains() {
    if grep -F -q -e "$2" "$1"; then
        fail "$(basename "$1") contains '$2'" "$1"
    else
        pass "$(basename "$1") does not contain '$2'"
    fi
}

# assert_one_line FILE: FILE (a stderr capture) holds exactly one line, not counting
# "picotron: warning:" lines and the line of a CUDA build that finds no GPU here
# (environment.device auto, docs/cuda.md).
assert_one_line() {
    n=$(grep -v -c -e '^picotron: warning:' -e ' — running on the CPU (environment.device auto)$' "$1")
    if [ "$n" -eq 1 ]; then
        pass "one line on $(basename "$1")"
    else
        fail "$n lines on $(basename "$1"), expected 1" "$1"
    fi
}

# assert_no_run_dir: the run directory was not created (a refused input writes nothing).
assert_no_run_dir() {
    if [ -e "$RUN" ]; then
        fail "$RUN was created: $(find "$RUN" | tr '\n' ' ')"
        rm -rf "$RUN"
    else
        pass "nothing written"
    fi
}

# assert_same_text A B WHAT: files A and B are byte-identical.
assert_same_text() {
    if cmp -s "$1" "$2"; then
        pass "$3"
    else
        fail "$3 differ:"
        diff "$1" "$2" | head -n 10 | sed 's/^/    | /'
    fi
}

# step_field FILE N KEY: the value after KEY on the step line "step N ..." of FILE
# (the step-line format: step N loss X lr X grad_norm X tok/s X mfu X [val_loss X]).
# Prints nothing and fails when there is no such line or key.
step_field() {
    awk -v n="$2" -v k="$3" '
        $1 == "step" && $2 == n { for (i = 3; i < NF; i += 2) if ($i == k) { print $(i + 1); f = 1 } }
        END { exit !f }' "$1"
}

# wait_step FILE N: wait up to 30 s until FILE has the step line of step N.
# shellcheck disable=SC2317  # called through check
wait_step() {
    i=0
    while ! step_field "$1" "$2" loss >/dev/null 2>&1 && [ "$i" -lt 3000 ]; do
        sleep 0.01
        i=$((i + 1))
    done
    step_field "$1" "$2" loss >/dev/null 2>&1
}

# loss_at FILE N: the loss of step N.
loss_at() { step_field "$1" "$2" loss; }

# column FILE KEY: "N value" for every step line of FILE.
column() {
    awk -v k="$2" '$1 == "step" { for (i = 3; i < NF; i += 2) if ($i == k) print $2, $(i + 1) }' "$1"
}

# steps FILE: the step numbers printed, one per line.
steps() { awk '$1 == "step" { print $2 }' "$1"; }

# is_number X: X is a finite decimal number (not nan/inf).
is_number() {
    printf '%s\n' "$1" | grep -E -q '^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$'
}

# float_lt A B: A < B.
float_lt() {
    is_number "$1" && is_number "$2" && awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'
}

# float_close A B RTOL: |A - B| <= RTOL * |B|.
float_close() {
    is_number "$1" && is_number "$2" &&
        awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d;
            m = b < 0 ? -b : b; exit !(d <= t * m) }'
}

# columns_close A B KEY RTOL: the KEY columns of step-line files A and B have the same steps
# and values within RTOL relative.
columns_close() {
    column "$1" "$3" >"$TMP/colA"
    column "$2" "$3" >"$TMP/colB"
    [ -s "$TMP/colA" ] || return 1
    [ "$(cut -d' ' -f1 "$TMP/colA")" = "$(cut -d' ' -f1 "$TMP/colB")" ] || return 1
    paste -d' ' "$TMP/colA" "$TMP/colB" | while read -r _ a _ b; do
        float_close "$a" "$b" "$4" || { echo "    | $3 $a vs $b"; exit 1; }
    done
}

# corrupt_tensor FILE DSET: overwrite 64 bytes in the middle of the stored data (the first
# chunk, found with h5ls -va; for a dataset stored without chunks, as checkpoints before
# checksums are, its contiguous storage, found with h5dump) of dataset DSET of HDF5 file FILE.
# Fails when neither finds it (h5ls or h5dump missing, no such dataset).
corrupt_tensor() {
    at=$(h5ls -va "$1/$2" 2>/dev/null |
        awk '$1 ~ /^0x/ && NF >= 4 { print $3 + int($2 / 2); exit }')
    [ -n "$at" ] || at=$(h5dump -p -H -d "$2" "$1" 2>/dev/null |
        awk '$1 == "SIZE" { s = $2 } $1 == "OFFSET" { print $2 + int(s / 2); exit }')
    is_number "$at" && printf '%064d' 0 | dd of="$1" bs=1 seek="$at" conv=notrunc status=none
}

# tiny_json FILE: write an explicit tiny-model config (synthetic data, run_dir $RUN,
# a step line every step) that tests derive variants from with sed.
tiny_json() {
    cat >"$1" <<EOF
{
    "distributed": {"tp_size": 1, "cp_size": 1, "pp_size": 1, "dp_size": 1},
    "model": {"name": "tiny", "dtype": "float32"},
    "training": {"seed": 42, "learning_rate": 3e-3, "total_train_steps": 10,
                 "seq_length": 64, "micro_batch_size": 4, "gradient_accumulation_steps": 1},
    "optimizer": {"grad_clip": 1.0, "lr_schedule": "cosine", "warmup_steps": 2, "min_lr": 1e-4},
    "dataset": {"name": "synthetic"},
    "checkpoint": {"save_frequency": 0},
    "logging": {"run_dir": "$RUN", "log_frequency": 1}
}
EOF
}
