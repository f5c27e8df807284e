#!/bin/sh
# test_trace: picotron-train --trace and picotron-trace end to end. One rank: the file is JSON
# that Jansson reads (picotron-trace checks every span nests on its track and every async
# slice is paired), holds the spans the issue lists, only the steps asked for, and each step's
# top-level compute spans add up to the step time metrics.jsonl logs (within 5%). Two pipeline
# stages (1F1B, m = 4): the ranks' files merge into one timeline, and the bubble before each
# action is the wait the schedule predicts from the measured action times. Bad flags and bad
# trace files are one line and exit 2.
# timeout: 300
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

unset OMPI_COMM_WORLD_SIZE OMPI_COMM_WORLD_LOCAL_SIZE OMPI_COMM_WORLD_RANK PMIX_RANK PMI_RANK \
    SLURM_STEP_ID SLURM_PROCID PICOTRON_SELF_LAUNCHED
TR=$BIN/picotron-trace

begin "--trace on one rank"
expect_exit 0 "$TRAIN" --config "$TINY" --steps 4 --set logging.run_dir="$RUN" \
    --set environment.OMP_NUM_THREADS=1 --trace one.json --trace-steps 2:3
check "one file, named as given" [ -s one.json ] && [ ! -e one.rank0.json ]
expect_exit 0 "$TR" summary one.json
assert_contains "$OUT" "nesting checked"
check "steps 2 and 3 only" [ "$(grep -c '^rank 0 step ' "$OUT")" -eq 2 ] &&
    grep -q '^rank 0 step 2: ' "$OUT" && grep -q '^rank 0 step 3: ' "$OUT"
# the step time metrics.jsonl logs (ms) against the top-level compute spans of the same step
for s in 2 3; do
    logged=$(sed -n "s/.*\"step\": $s,.*\"step_time_s\": \([0-9.e-]*\).*/\1/p" "$RUN/metrics.jsonl")
    covered=$(sed -n "s/^rank 0 step $s: .*top-level compute spans \([0-9.]*\) ms.*/\1/p" "$OUT")
    check "step $s: top-level spans $covered ms = logged step time $(awk -v t="$logged" 'BEGIN { print t * 1000 }') ms within 5%" \
        float_close "$covered" "$(awk -v t="$logged" 'BEGIN { print t * 1000 }')" 0.05
done
expect_exit 0 "$TR" spans one.json
cut -f6 "$OUT" | sed 's/ [0-9]*$//' | sort -u >names.txt
for n in data "zero grads" forward backward embedding "block forward" "norm + qkv" attention \
    "o proj" "norm + gate/up" swiglu "down proj" "norm + head" cross-entropy \
    "head + norm backward" "block backward" "attention backward" "embedding backward" \
    "gradient sync" "loss + norm" optimizer log step; do
    check "a '$n' span" grep -qx "$n" names.txt
done

begin "logging.trace and logging.trace_steps, and --trace over them"
expect_exit 0 "$TRAIN" --config "$TINY" --steps 3 --set logging.run_dir="$RUN" \
    --set logging.trace="$TMP/cfg.json" --set logging.trace_steps=3:
expect_exit 0 "$TR" summary cfg.json
check "step 3 only" [ "$(grep -c '^rank 0 step ' "$OUT")" -eq 1 ] && grep -q '^rank 0 step 3: ' "$OUT"
expect_exit 0 "$TRAIN" --config "$TINY" --steps 2 --set logging.run_dir="$RUN" \
    --set logging.trace="$TMP/cfg2.json" --trace flag.json --trace-steps 1:1
check "the flag wins" [ -s flag.json ] && [ ! -e cfg2.json ]
expect_exit 2 "$TRAIN" --config "$TINY" --steps 1 --set logging.run_dir="$RUN.bad" \
    --set logging.trace=t.json --set logging.trace_steps=2:1
assert_one_line "$ERR"
assert_contains "$ERR" "logging.trace_steps"

begin "--trace with recompute and a checkpoint save"
expect_exit 0 "$TRAIN" --config "$TINY" --steps 2 --set logging.run_dir="$RUN" \
    --set checkpoint.save_dir="$TMP/ckpt" --set checkpoint.save_frequency=2 \
    --set training.activation_checkpointing=full --trace save.json
expect_exit 0 "$TR" spans save.json
assert_contains "$OUT" "	checkpoint save"
assert_contains "$OUT" "	recompute"

begin "--trace on two pipeline stages, merged"
# Waiting ranks yield the CPU (2 ranks may share 2 cores with other jobs). The bubble
# comparison is a timing test: a machine that stalls a rank for 100 ms and more (measured at
# load 10-16: most steps match, a stalled one does not; under a neighbour's load every step
# of five attempts once failed) makes it fail without a defect. So it is asserted only when
# PICOTRON_TIMING_TESTS=1 (`make check-trace-timing`, on a quiet machine): steps 2-4 traced
# (step 1 warms up), and it passes when both stages of one of those steps match the schedule,
# in up to five attempts. A bubble put on the wrong action, or waiting the schedule does not
# explain, fails every step of every attempt. Otherwise one run is traced and the comparison
# is printed, and the structure (both ranks, bubbles, waits, bytes) is asserted below.
timing=${PICOTRON_TIMING_TESTS:-0}
attempts=1
[ "$timing" = 1 ] && attempts=5
ok=0
attempt=0
while [ "$attempt" -lt "$attempts" ]; do
    attempt=$((attempt + 1))
    rm -f pp.json pp.rank*.json
    OMPI_MCA_mpi_yield_when_idle=1 "$TRAIN" --config "$ROOT/examples/demo.json" --steps 4 \
        --set dataset.name=synthetic --set dataset.validation= --set distributed.pp_size=2 \
        --set distributed.dp_size=1 --set distributed.tp_size=1 \
        --set training.gradient_accumulation_steps=4 --set logging.run_dir="$RUN" \
        --set environment.OMP_NUM_THREADS=1 --trace pp.json --trace-steps 2:4 >pp.out 2>pp.err ||
        { fail "attempt $attempt: train exit $?" pp.err; continue; }
    { "$TR" merge -o pp.json pp.rank0.json pp.rank1.json && "$TR" summary pp.json >pp.sum; } ||
        { fail "attempt $attempt: merge or summary failed"; continue; }
    for s in 2 3 4; do
        [ "$(grep -c "^step $s stage [01] (1f1b, m=4.*: match\$" pp.sum)" -eq 2 ] && ok=1
    done
    [ "$ok" -eq 1 ] && break
    sed 's/^/    | /' pp.sum
done
if [ "$timing" = 1 ]; then
    check "both stages' bubbles match the schedule in one of steps 2-4 (attempt $attempt)" [ "$ok" -eq 1 ]
else
    echo "    (bubbles against the schedule: $([ "$ok" -eq 1 ] && echo match || echo 'no step matched'); asserted by make check-trace-timing)"
    check "the summary compares both stages of every traced step with the schedule" \
        [ "$(grep -c '^step [234] stage [01] (1f1b, m=4.*: \(match\|MISMATCH\)$' pp.sum)" -eq 6 ]
fi
check "two rank files, one merged timeline" [ -s pp.rank0.json ] && [ -s pp.rank1.json ] &&
    grep -q '^pp.json: [0-9]* spans on 2 ranks of 2' pp.sum
"$TR" spans pp.json >pp.spans
check "bubble spans on both stages" [ "$(awk -F'\t' '$2 == "compute" && $6 ~ /^bubble/ { print $1 }' pp.spans | sort -u | wc -l)" -eq 2 ]
check "pipeline waits on the pp track" grep -q '	pp	0	.*	wait recv$' pp.spans
check "the loss all-reduce with its bytes" grep -q '"name": "all-reduce sum", "ts": [0-9.]*, "dur": [0-9.]*, "args": {"bytes": 8}' pp.rank1.json
check "sends as async slices with bytes" grep -q '"ph": "b", "cat": "comm pp", .*"name": "send", .*"args": {"bytes": 393216' pp.rank0.json

begin "picotron-bench --trace on tp=2: the tensor-parallel all-reduces with their bytes"
expect_exit 0 "$BIN/picotron-bench" --config "$TINY" --steps 2 --set distributed.tp_size=2 \
    --set environment.OMP_NUM_THREADS=1 --trace tp.json
expect_exit 0 "$TR" merge -o tp.json tp.rank0.json tp.rank1.json
expect_exit 0 "$TR" summary tp.json
check "both ranks wait on the tp group" [ "$(grep -c '^rank [01] step [12]: .* tp [0-9.]* ms' "$OUT")" -eq 4 ]
# tiny: C 64, micro-batch 4 x 64 tokens: the attention output and the MLP output are
# all-reduced over tp as (N, C) = 256 x 64 floats = 65536 bytes
check "tp all-reduces of (N, C) floats" \
    grep -q '"tid": 2, "name": "all-reduce sum", "ts": [0-9.]*, "dur": [0-9.]*, "args": {"bytes": 65536}' tp.rank1.json

begin "trace flags: bad input"
for bad in "--trace-steps 3:2" "--trace-steps x" "--trace-steps 2" "--trace-steps 0:1"; do
    # shellcheck disable=SC2086  # $bad is two words on purpose
    expect_exit 2 "$TRAIN" --config "$TINY" --steps 1 --set logging.run_dir="$RUN.bad" \
        --trace bad.json $bad
    assert_one_line "$ERR"
    assert_contains "$ERR" "--trace-steps"
done
expect_exit 2 "$TRAIN" --config "$TINY" --steps 1 --trace-steps 1:2
assert_contains "$ERR" "--trace-steps needs --trace"
expect_exit 2 "$TRAIN" --config "$TINY" --steps 1 --set logging.run_dir="$RUN.bad" \
    --trace "$TMP/no/such/dir/t.json"
assert_one_line "$ERR"
assert_contains "$ERR" "no/such/dir"
check "nothing written" [ ! -e "$RUN.bad" ] && [ ! -e bad.json ]

begin "picotron-trace: bad files"
printf '{"traceEvents": [' >cut.json
expect_exit 2 "$TR" summary cut.json
assert_one_line "$ERR"
assert_contains "$ERR" "cut.json"
# two spans on one track that overlap without nesting
sed 's/"dur": [0-9.]*/"dur": 99999999/' one.json >overlap.json
expect_exit 2 "$TR" summary overlap.json
assert_one_line "$ERR"
assert_contains "$ERR" "without nesting"
echo '{"traceEvents": []}' >foreign.json
expect_exit 2 "$TR" spans foreign.json
assert_contains "$ERR" "not a picotron trace"
expect_exit 2 "$TR" merge -o m.json one.json one.json
assert_contains "$ERR" "rank 0 is already in an earlier file"
check "no merged file" [ ! -e m.json ]
expect_exit 2 "$TR" frobnicate one.json
assert_one_line "$ERR"

finish
