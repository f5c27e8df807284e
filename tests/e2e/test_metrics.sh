#!/bin/sh
# test_metrics: picotron metrics and picotron plot over real tiny runs. The table's numbers
# against metrics.jsonl read independently with awk (last loss, last val_loss, median tokens/s
# after the first step), sorting, discovery below a directory, a line being written, errors
# (one line, exit 2); the chart's SVG content (one series per run and value, legend entries,
# axis labels), a PNG's signature, and no file left behind by a failure.
# timeout: 180
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

METRICS=$BIN/picotron-metrics
PLOT=$BIN/picotron-plot

text2=$TMP/text.txt
i=0
while [ $i -lt 400 ]; do echo "the quick brown fox $i jumps over the lazy dog"; i=$((i + 1)); done >"$text2"
"$TEXT2SHARD" "$text2" --val-fraction 0.2 --out train.bin --val-out val.bin >/dev/null 2>&1

# runs/a: synthetic data, mbs 4; runs/b: shards with validation every 2 steps, mbs 2.
mkdir -p runs
begin "two tiny runs"
"$TRAIN" --config "$TINY" --set logging.run_dir=runs/a --set training.total_train_steps=6 \
    >a.out 2>&1
check "run a trained" [ -s runs/a/metrics.jsonl ]
"$TRAIN" --config "$TINY" --set logging.run_dir=runs/b --set training.total_train_steps=6 \
    --set training.micro_batch_size=2 --set dataset.name=train.bin \
    --set dataset.validation=val.bin --set dataset.eval_every=2 --set dataset.eval_samples=4 \
    >b.out 2>&1
check "run b trained with validation" grep -q val_loss runs/b/metrics.jsonl

# jsonl_field FILE KEY: KEY's value on every line of FILE that has it (awk, not our reader).
jsonl_field() {
    awk -v k="\"$2\": " '{ i = index($0, k); if (i) { s = substr($0, i + length(k));
        sub(/[,}].*/, "", s); print s } }' "$1"
}
# median_after_first FILE KEY
median_after_first() {
    jsonl_field "$1" "$2" | sed 1d | sort -g | awk '{ v[NR] = $1 } END {
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.10g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# csv_field FILE RUN KEY: the KEY column of RUN's row.
csv_field() {
    awk -F, -v run="$2" -v key="$3" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        $1 == run { print $(c[key]) }' "$1"
}

begin "metrics --format csv against metrics.jsonl"
expect_exit 0 "$METRICS" runs --format csv
cp "$OUT" table.csv
check "header names the columns" [ "$(head -n 1 table.csv)" = \
    "run,status,step,total_steps,mesh,mbs,grad_acc,seq,tokens,tokens_per_s,tokens_per_s_rank,mfu_pct,mem_mib,loss,val_loss" ]
check "one row per run, in name order" [ "$(cut -d, -f1 table.csv | tr '\n' ' ')" = "run runs/a runs/b " ]
for r in a b; do
    m=runs/$r/metrics.jsonl
    check "$r: step 6 of 6, completed" [ "$(csv_field table.csv runs/$r step),$(csv_field table.csv runs/$r total_steps),$(csv_field table.csv runs/$r status)" = "6,6,completed" ]
    check "$r: last loss (1e-7)" float_close "$(csv_field table.csv runs/$r loss)" "$(jsonl_field $m loss | tail -n 1)" 1e-7
    check "$r: median tokens/s after step 1 (1e-7)" float_close \
        "$(csv_field table.csv runs/$r tokens_per_s)" "$(median_after_first $m tokens_per_s)" 1e-7
    check "$r: tokens/s per rank = tokens/s on one rank" [ \
        "$(csv_field table.csv runs/$r tokens_per_s_rank)" = "$(csv_field table.csv runs/$r tokens_per_s)" ]
    check "$r: tokens of the last step" [ "$(csv_field table.csv runs/$r tokens)" = "$(jsonl_field $m tokens | tail -n 1)" ]
    check "$r: mesh" [ "$(csv_field table.csv runs/$r mesh)" = dp1-tp1-pp1-cp1 ]
done
check "b: mbs 2" [ "$(csv_field table.csv runs/b mbs)" = 2 ]
check "b: last val_loss (1e-7)" float_close "$(csv_field table.csv runs/b val_loss)" \
    "$(jsonl_field runs/b/metrics.jsonl val_loss | tail -n 1)" 1e-7
check "a: no val_loss, empty field" [ -z "$(csv_field table.csv runs/a val_loss)" ]

begin "metrics text and json"
expect_exit 0 "$METRICS" runs/a runs/b
check "three lines" [ "$(wc -l <"$OUT")" -eq 3 ]
check "every line as wide as the header" [ "$(awk '{ print length($0) }' "$OUT" | sort -u | wc -l)" -eq 1 ]
check "a has '-' for val_loss" [ "$(awk '$1 == "runs/a" { print $NF }' "$OUT")" = - ]
expect_exit 0 "$PICOTRON" metrics runs --format json
assert_contains "$OUT" '"run": "runs/b"'
assert_contains "$OUT" '"val_loss": null'
assert_contains "$OUT" '"step": 6,'

begin "metrics --sort"
expect_exit 0 "$METRICS" runs --format csv --sort loss
sed 1d table.csv | sort -t, -k14,14g | cut -d, -f1 >want.txt
sed 1d "$OUT" | cut -d, -f1 >got.txt
assert_same_text got.txt want.txt "rows by loss"
expect_exit 0 "$METRICS" runs --format csv --sort loss --reverse
sed 1d "$OUT" | cut -d, -f1 >got.txt
tac want.txt >want_r.txt
assert_same_text got.txt want_r.txt "rows by loss, descending"
expect_exit 0 "$METRICS" runs --format csv --sort val_loss --reverse
check "a run without the value sorts last" [ "$(sed -n 3p "$OUT" | cut -d, -f1)" = runs/a ]

begin "metrics skips a line being written"
cp -r runs/b partial
printf '{"step": 7, "loss": 1.' >>partial/metrics.jsonl
expect_exit 0 "$METRICS" partial --format csv
check "still step 6" [ "$(csv_field "$OUT" partial step)" = 6 ]

begin "metrics: bad input is one line, exit 2"
expect_exit 2 "$METRICS" nosuch
assert_one_line "$ERR"
assert_contains "$ERR" nosuch
mkdir empty
expect_exit 2 "$METRICS" empty
assert_one_line "$ERR"
assert_contains "$ERR" "empty: no run directory"
cp -r runs/a broken
sed -i '3s/"loss": [0-9.]*/"loss": "high"/' broken/metrics.jsonl
expect_exit 2 "$METRICS" runs broken
assert_one_line "$ERR"
assert_contains "$ERR" "broken/metrics.jsonl:3:"
check "nothing on stdout" [ ! -s "$OUT" ]
expect_exit 2 "$METRICS" runs --format xml
assert_one_line "$ERR"
expect_exit 2 "$METRICS" runs --sort speed
assert_one_line "$ERR"
assert_contains "$ERR" speed

begin "plot svg: a series per run and value, legend, axes"
expect_exit 0 "$PICOTRON" plot runs --out chart.svg
check "chart.svg is SVG" grep -q '<svg' chart.svg
# loss of a and b, b's val_loss; then tokens/s of a and b
check "five series" [ "$(grep -c '<g id="gnuplot_plot_' chart.svg)" -eq 5 ]
for t in '>runs/a<' '>runs/b<' '>runs/b val_loss<' '>loss<' '>step<' '>tokens/s<' '>throughput<'; do
    assert_contains chart.svg "$t"
done
assert_not_contains chart.svg '>runs/a val_loss<'
expect_exit 0 "$PLOT" runs/b --x tokens --y mfu --title "b alone" --out chart2.svg
for t in '>tokens<' '>MFU (%)<' '>b alone<'; do
    assert_contains chart2.svg "$t"
done
check "three series" [ "$(grep -c '<g id="gnuplot_plot_' chart2.svg)" -eq 3 ]

begin "plot png"
expect_exit 0 "$PLOT" runs --out chart.png
check "PNG signature" [ "$(head -c 8 chart.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ]

begin "plot: failures leave no file, the old one whole"
cp chart.svg before.svg
expect_exit 2 "$PLOT" runs broken --out chart.svg
assert_one_line "$ERR"
assert_same_text chart.svg before.svg "chart.svg kept"
expect_exit 2 "$PLOT" runs --out chart.pdf
assert_one_line "$ERR"
assert_contains "$ERR" chart.pdf
expect_exit 2 "$PLOT" runs
assert_one_line "$ERR"
expect_exit 1 env PATH=/nonexistent "$PLOT" runs --out nognuplot.svg
assert_one_line "$ERR"
assert_contains "$ERR" gnuplot
check "no file without gnuplot" [ ! -e nognuplot.svg ]
check "no temporary file left" [ -z "$(ls -A | grep '\.tmp\.')" ]

finish
