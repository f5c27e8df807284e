#!/bin/sh
# test_sweep: picotron-bench --sweep on the tiny model: one row per point in spec order, refused,
# unfit and failed points as rows with their reason (never an abort), the CSV equal to the
# table cell for cell, --best writing the fastest row's values into a config picotron-train
# accepts, --keep-global-batch, and bad sweep input as one line, exit 2, nothing written.
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

BENCH=$BIN/picotron-bench
tiny_json base.json

# table_cells FILE: the table's lines (up to the "best:" line) as cells joined by '|'; columns
# are two or more spaces apart, and only the last (the reason) holds single spaces.
table_cells() {
    awk '/^best: / { exit } { gsub(/  +/, "|"); print }' "$1"
}

# csv_cells FILE: the CSV's records as cells joined by '|', quotes undone, empty cells as '-'.
csv_cells() {
    awk '{
        out = ""; cell = ""; q = 0; n = length($0)
        for (i = 1; i <= n; i++) {
            c = substr($0, i, 1)
            if (q && c == "\"" && substr($0, i + 1, 1) == "\"") { cell = cell c; i++ }
            else if (c == "\"") q = !q
            else if (!q && c == ",") { out = out (cell == "" ? "-" : cell) "|"; cell = "" }
            else cell = cell c
        }
        print out (cell == "" ? "-" : cell)
    }' "$1"
}

# ---- a sweep with refused and failed points ------------------------------------------------
begin "sweep dp x tp x mbs"
expect_exit 0 "$BENCH" --config base.json --steps 2 --set "logging.run_dir=$RUN" \
    --sweep 'dp=1,2 tp=1,3 mbs=1,2' --csv sweep.csv --best --out best.json
table_cells "$OUT" >table.txt
check "a header and 8 rows" [ "$(wc -l <table.txt)" -eq 9 ]
check "header names the axes, then the figures" \
    [ "$(head -n 1 table.txt)" = "dp|tp|mbs|ranks|tokens_per_s|gflops|mfu|mem_gib_per_rank|rss_mib|wait_tp|wait_cp|wait_pp|wait_dp|status|reason" ]
printf '%s\n' 1\|1\|1 1\|1\|2 1\|3\|1 1\|3\|2 2\|1\|1 2\|1\|2 2\|3\|1 2\|3\|2 >order.want
tail -n +2 table.txt | cut -d'|' -f1-3 >order.got
assert_same_text order.got order.want "rows in spec order, last axis fastest"
check "tp=3 rows are refused with the config's reason" \
    [ "$(awk -F'|' '$2 == 3 && $14 == "refused" && $15 ~ /tp_size: 3 does not divide/' table.txt | wc -l)" -eq 4 ]
check "tp=1 rows ran on dp ranks" \
    [ "$(awk -F'|' '$2 == 1 && $14 == "ok" && $4 == $1 && $5 > 0' table.txt | wc -l)" -eq 4 ]
check "dp=1 rows wait on no group, dp=2 rows on dp only" \
    [ "$(awk -F'|' '$14 == "ok" && $10 + $11 + $12 == 0 && ($1 == 2 || $13 == 0)' table.txt | wc -l)" -eq 4 ]
csv_cells sweep.csv >csv.txt
assert_same_text csv.txt table.txt "the CSV, cell for cell, is the table"
check "no temporary left beside the CSV" [ "$(find . -name 'sweep.csv*' | wc -l)" -eq 1 ]
# The fastest ok row, from the table, against best.json.
fastest=$(awk -F'|' 'NR > 1 && $14 == "ok" && $5 + 0 > best { best = $5 + 0; row = $1 " " $3 }
                     END { print row }' table.txt)
# shellcheck disable=SC2086  # "dp mbs" split into $1 $2
set -- $fastest
assert_contains "$OUT" "best: dp=$1 tp=1 mbs=$2 ("
# best_has KEY VALUE: best.json (one key a line, as json.dump writes) sets KEY to VALUE
best_has() { check "best.json: $1 = $2" grep -E -q "^ *\"$1\": $2,?\$" best.json; }
best_has dp_size "$1"
best_has micro_batch_size "$2"
best_has tp_size 1
assert_contains best.json "\"run_dir\": \"$RUN\""
begin "picotron-train accepts the best config"
expect_exit 0 "$TRAIN" --config best.json --steps 1
check "it trained on dp=$1" grep -q '^step 1 ' "$OUT"

# ---- memory: a point over the limit is a row, not a run ------------------------------------
begin "sweep under --mem-limit"
m1=$(awk -F'|' '$1 == 1 && $2 == 1 && $3 == 1 { print $8 }' table.txt)
m2=$(awk -F'|' '$1 == 1 && $2 == 1 && $3 == 2 { print $8 }' table.txt)
# 2 ranks share m1 + m2 GiB: (m1 + m2) / 2 per rank holds mbs=1 (m1 < m2) but not mbs=2
limit=$(awk -v a="$m1" -v b="$m2" 'BEGIN { printf "%d\n", (a + b) * 1073741824 }')
check "mbs=2 plans more memory than mbs=1 ($m1 < $m2 GiB)" float_lt "$m1" "$m2"
expect_exit 0 "$BENCH" --config base.json --steps 2 --set "logging.run_dir=$RUN" \
    --sweep 'dp=2 mbs=1,2' --mem-limit "$limit" --keep-global-batch --csv mem.csv \
    --best --out best2.json
table_cells "$OUT" >table2.txt
check "dp=2 mbs=1 ran" [ "$(awk -F'|' '$2 == 1 { print $13 }' table2.txt)" = ok ]
check "dp=2 mbs=2 does not fit, with both sizes in GiB" \
    awk -F'|' '$2 == 2 && $13 == "unfit" && $14 ~ /^does not fit: [0-9.e-]+ GiB per rank > [0-9.e-]+ GiB/ { f = 1 } END { exit !f }' table2.txt
assert_contains "$OUT" "best: dp=2 mbs=1 ("
# --keep-global-batch: base 1 x 4 x 1 = 4 samples, so dp=2 mbs=1 trains with grad_acc 2
assert_contains best2.json '"gradient_accumulation_steps": 2'

begin "a point that fails at run time is a row"
expect_exit 0 "$BENCH" --config base.json --steps 2 --set "logging.run_dir=$RUN" \
    --sweep 'dataset.name=synthetic,missing.bin'
table_cells "$OUT" >table3.txt
check "the missing shard's row failed with bench's reason" \
    awk -F'|' '$1 == "missing.bin" && $12 == "failed" && $13 ~ /^dataset.name: missing.bin: No such file/ { f = 1 } END { exit !f }' table3.txt
check "the synthetic row ran" [ "$(awk -F'|' '$1 == "synthetic" { print $12 }' table3.txt)" = ok ]

begin "--best when no point runs"
expect_exit 1 "$BENCH" --config base.json --steps 2 --sweep 'tp=3' --best --out none.json
assert_contains "$ERR" "no point ran"
check "nothing written" [ ! -e none.json ]

# ---- the plot ------------------------------------------------------------------------------
begin "--plot"
if command -v gnuplot >/dev/null 2>&1; then
    expect_exit 0 "$BENCH" --config base.json --steps 2 --set "logging.run_dir=$RUN" \
        --sweep 'mbs=1,2' --plot sweep.svg
    check "an SVG" grep -q '<svg' sweep.svg
    check "one bar label per point" [ "$(grep -c 'mbs=[12]' sweep.svg)" -ge 2 ]
fi
expect_exit 2 env PATH=/nonexistent "$BENCH" --config base.json --sweep 'mbs=1' --plot p.svg
assert_one_line "$ERR"
assert_contains "$ERR" "--plot needs gnuplot"

# ---- bad sweep input: one line, exit 2, nothing written -------------------------------------
for args in "--sweep nosuch=1,2|unknown key 'nosuch'" \
    "--sweep dp=1,,2|empty value" \
    "--sweep dp=1 --mem-limit lots|--mem-limit" \
    "--sweep grad_acc=1,2 --keep-global-batch|--keep-global-batch" \
    "--sweep dp=1 --best|--best and --out" \
    "--csv x.csv|go with --sweep" \
    "--sweep dp=1 --json|--json"; do
    flags=${args%%|*}
    what=${args#*|}
    begin "bad input: $flags"
    # shellcheck disable=SC2086  # the flags split on purpose
    expect_exit 2 "$BENCH" --config base.json --csv bad.csv $flags
    assert_one_line "$ERR"
    assert_contains "$ERR" "$what"
    check "no CSV written" [ ! -e bad.csv ]
done
begin "bad input: --sweep with the config on stdin"
expect_exit 2 "$BENCH" --config - --sweep 'dp=1' <base.json
assert_one_line "$ERR"
assert_contains "$ERR" "--config from a file"

finish
