#!/bin/sh
# test_recompute: training.activation_checkpointing end to end on examples/bench-10m.json (the
# smallest example whose activations dominate its memory): the three modes train the same
# numbers, and the peak resident memory each one saves against "none" is what memplan
# (create-config --check) says it saves. A bad mode name is one error line, exit 2.
# timeout: 180
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

CC=$BIN/picotron-create-config
CFG=$ROOT/examples/bench-10m.json
MODES="none selective full"

begin "activation_checkpointing: same step lines, peak RSS per mode"
for m in $MODES; do
    # one thread: the run is short and other suites share the machine
    /usr/bin/time -f %M -o "rss.$m" "$TRAIN" --config "$CFG" --steps 1 \
        --set training.activation_checkpointing="$m" --set logging.run_dir="$RUN.$m" \
        --set environment.OMP_NUM_THREADS=1 >"out.$m" 2>"err.$m"
    check "$m: exit 0" [ $? -eq 0 ]
    "$CC" --check "$CFG" --json 2>/dev/null |
        sed -n "s/^ *\"$m\": \([0-9.]*\),*$/\1/p" >"plan.$m"
    check "$m: --check reports it" is_number "$(cat "plan.$m")"
    # what the line prints apart from the rate: loss, lr and grad_norm as text
    awk '$1 == "step" { print $2, $4, $6, $8 }' "out.$m" >"line.$m"
done
for m in selective full; do
    assert_same_text line.none "line.$m" "$m: step line = none's"
done
# Peak RSS (GNU time, KiB) against the plan (bytes): everything but the activations is the
# same in every mode, so the RSS a mode saves against none must be the activation bytes the
# plan says it saves. Tolerance 2% of none's activations (6.2 MiB here): allocator and page
# rounding measure < 1 MiB; a layer's shared buffer missing from the plan would be ~34 MiB.
for m in selective full; do
    got=$(awk -v a="$(cat rss.none)" -v b="$(cat "rss.$m")" 'BEGIN { print (a - b) / 1024 }')
    want=$(awk -v a="$(cat plan.none)" -v b="$(cat "plan.$m")" 'BEGIN { print (a - b) / 1048576 }')
    tol=$(awk -v a="$(cat plan.none)" 'BEGIN { print 0.02 * a / 1048576 }')
    check "$m saves $got MiB of peak RSS, plan $want MiB (± $tol)" \
        awk -v a="$got" -v b="$want" -v t="$tol" 'BEGIN { d = a - b; exit !(d <= t && -d <= t) }'
done
# full keeps one layer input per layer instead of every layer buffer: the plan's factor
full_factor=$(awk -v a="$(cat plan.none)" -v b="$(cat plan.full)" 'BEGIN { print a / b }')
check "full recompute cuts activations by $full_factor (>= 2.5 on this model)" \
    float_lt 2.5 "$full_factor"

begin "activation_checkpointing: a bad mode"
expect_exit 2 "$TRAIN" --config "$CFG" --steps 1 --set training.activation_checkpointing=partial \
    --set logging.run_dir="$RUN"
assert_one_line "$ERR"
assert_contains "$ERR" "training.activation_checkpointing"
assert_no_run_dir

finish
