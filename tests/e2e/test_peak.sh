#!/bin/sh
# test_peak: the CPU peak MFU divides by (lib/cpupeak, docs/benchmarks.md): picotron-bench
# --peak measures and caches it; picotron-train uses the cache of this CPU and path, keeps the
# best figure ever stored, ignores another CPU's, survives a corrupt one with a warning, and
# never prints an MFU above 100% even against a peak that is far too low. --tune-kernels
# caches the fastest attention tiles in the same file, and train says it uses them.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"
BENCH=$BIN/picotron-bench

begin "bench --peak"
expect_exit 0 "$BENCH" --peak --peak-threads 1 --peak-seconds 1
assert_contains "$OUT" "peak 1 thread : "
assert_contains "$OUT" "cached in $PICOTRON_PEAK_FILE"
g=$(sed -n 's/^ *"1": \([0-9.e+]*\),*$/\1/p' "$PICOTRON_PEAK_FILE")
check "the cache holds a positive peak for 1 thread ($g)" float_lt 0 "$g"
cp "$PICOTRON_PEAK_FILE" measured.json

begin "a higher cached figure stays"
sed 's/^\( *"1": \).*/\11000000000.0/' measured.json >"$PICOTRON_PEAK_FILE"
expect_exit 0 "$BENCH" --peak --peak-threads 1 --peak-seconds 1
assert_contains "$OUT" "the cache keeps its earlier 1000000000.0"
assert_contains "$PICOTRON_PEAK_FILE" '"1": 1000000000.0'

tiny_json tiny.json
train1() { expect_exit 0 "$TRAIN" --config tiny.json --steps 3 --set environment.OMP_NUM_THREADS=1; }

begin "train uses the cached peak"
rm -rf "$RUN"
train1
assert_contains "$ERR" "cached in $PICOTRON_PEAK_FILE by picotron-bench --peak): 1000000000.0 GFLOP/s"
check "MFU against 1e9 GFLOP/s is 0.00%" [ "$(step_field "$OUT" 3 mfu)" = "0.00%" ]

begin "bench's ratio divides by the sgemm it measures, not the cache"
expect_exit 0 "$BENCH" --config tiny.json --steps 2 --json --set environment.OMP_NUM_THREADS=1
p=$(sed -n 's/.*"sgemm_peak_gflops": \([0-9.]*\).*/\1/p' "$OUT")
check "measured sgemm ($p) is not the cached 1e9" float_lt "$p" 1000000

begin "MFU never above 100% against a peak far too low"
sed 's/^\( *"1": \).*/\10.001/' measured.json >"$PICOTRON_PEAK_FILE"
rm -rf "$RUN"
train1
assert_contains "$ERR" "above the peak of 0.0; MFU is taken against"
column "$OUT" mfu | tr -d '%' >mfu.txt
check "every step has an MFU" [ "$(wc -l <mfu.txt)" -eq 3 ]
# shellcheck disable=SC2016  # $2 is awk's
check "every MFU <= 100%" awk '$2 > 100 { bad = 1 } END { exit bad }' mfu.txt

begin "bench --tune-kernels: the fastest attention tiles, cached beside the peak, used by train"
expect_exit 0 "$BENCH" --tune-kernels --config tiny.json --peak-seconds 1 \
    --set environment.OMP_NUM_THREADS=1
# T = 64: query tiles 16, 32, 64 against one key block (64; larger ones are the same)
check "three candidates timed" [ "$(grep -c '^  q_tile' "$OUT")" -eq 3 ]
tiles=$(sed -n 's/^cached T[0-9]* G[0-9]* D[0-9]*: \([0-9]*\) query x \([0-9]*\) keys in .*/\1 \2/p' "$OUT")
check "the tuner names the tiles it cached ($tiles)" [ -n "$tiles" ]
# the fastest is the first row of the table
check "the first row is the cached one" [ "$(sed -n 2p "$OUT" | awk '{ print $2, $4 }')" = "$tiles" ]
assert_contains "$PICOTRON_PEAK_FILE" '"attention_tiles"'
assert_contains "$PICOTRON_PEAK_FILE" '"1": 0.001' # the peak entry kept
rm -rf "$RUN"
train1
assert_contains "$ERR" "attention tiles ${tiles% *} query x ${tiles#* } keys (tuned, cached in $PICOTRON_PEAK_FILE"
expect_exit 2 "$BENCH" --tune-kernels --config tiny.json --json
assert_one_line "$ERR"
assert_contains "$ERR" "--tune-kernels runs alone"

begin "another CPU's cache is not used"
sed 's/^\( *"cpu": \).*/\1"Some Other CPU",/' measured.json >"$PICOTRON_PEAK_FILE"
rm -rf "$RUN"
train1
assert_contains "$ERR" "at start-up; picotron-bench --peak caches a steadier one"
assert_contains "$ERR" "(defaults; picotron-bench --tune-kernels tunes them)"

begin "a corrupt cache: a warning, then the peak is measured"
echo '{"cpu": 3}' >"$PICOTRON_PEAK_FILE"
rm -rf "$RUN"
train1
assert_contains "$ERR" "picotron: warning: $PICOTRON_PEAK_FILE: not a peak cache"
expect_exit 2 "$BENCH" --peak --peak-threads 1 --peak-seconds 1
assert_one_line "$ERR"
assert_contains "$ERR" "not a peak cache"
expect_exit 2 "$BENCH" --tune-kernels --config tiny.json --peak-seconds 1
assert_one_line "$ERR"
assert_contains "$ERR" "not a peak cache"

begin "bench --peak usage errors"
expect_exit 2 "$BENCH" --peak --config tiny.json
assert_one_line "$ERR"
assert_contains "$ERR" "--peak measures the machine"
expect_exit 2 "$BENCH" --config tiny.json --peak-seconds 2
assert_contains "$ERR" "go with --peak"

finish
