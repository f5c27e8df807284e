#!/bin/sh
# test_tools: the dispatcher, every tool's --help, and text2shard (its output checked against
# the llm.c shard format byte by byte, its usage errors).
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

# ---- the dispatcher ------------------------------------------------------------------------
begin "picotron --help"
expect_exit 0 "$PICOTRON" --help
assert_contains "$OUT" "usage"
check "lists train" grep -E -q '^ +train ' "$OUT"
check "lists text2shard" grep -E -q '^ +text2shard +byte-level' "$OUT"
# It lists exactly the tools installed beside it: each listed name has bin/picotron-NAME.
awk '/^tools:/ { t = 1; next } t && /^$/ { t = 0 } t { print $1 }' "$OUT" >listed.txt
check "lists at least one tool" [ -s listed.txt ]
while read -r tool; do
    check "listed tool '$tool' is bin/picotron-$tool" [ -x "$BIN/picotron-$tool" ]
    expect_exit 0 "$PICOTRON" "$tool" --help
    "$BIN/picotron-$tool" --help >direct.txt 2>&1
    assert_same_text "$OUT" direct.txt "picotron $tool --help = picotron-$tool --help"
done <listed.txt

begin "picotron without a tool"
expect_exit 2 "$PICOTRON"
assert_contains "$ERR" "usage"

begin "picotron nosuch"
expect_exit 2 "$PICOTRON" nosuch
assert_one_line "$ERR"
assert_contains "$ERR" "nosuch"

# ---- every tool's --help -------------------------------------------------------------------
for tool in "$BIN"/*; do
    if [ ! -f "$tool" ] || [ ! -x "$tool" ]; then continue; fi
    begin "$(basename "$tool") --help"
    expect_exit 0 "$tool" --help
    assert_contains "$OUT" "usage"
    check "stderr empty" [ ! -s "$ERR" ]
done

# ---- text2shard: output --------------------------------------------------------------------
# Reference: llm.c's format, a 256 x int32 little-endian header (magic 20240520, version 1,
# token count) then the tokens as uint16 little-endian; byte-level: token = byte value.
awk 'BEGIN { for (i = 0; i < 50; i++) printf "%02d: caf\303\251 na\303\257ve \342\202\254\n", i }' >in.txt
nbytes=$(($(wc -c <in.txt)))
begin "text2shard writes an llm.c shard"
expect_exit 0 "$TEXT2SHARD" in.txt --out t.bin --val-out v.bin --val-fraction 0.25
nval=$(awk -v n="$nbytes" 'BEGIN { printf "%d\n", n * 0.25 + 0.5 }')
ntrain=$((nbytes - nval))
check "train header: magic 20240520, version 1, $ntrain tokens" \
    [ "$(od -A n -t d4 -N 12 t.bin | tr -s ' ')" = " 20240520 1 $ntrain" ]
check "val header: $nval tokens" [ "$(od -A n -t d4 -j 8 -N 4 v.bin | tr -d ' ')" = "$nval" ]
check "train size = 1024 + 2 x $ntrain" [ "$(wc -c <t.bin)" -eq $((1024 + 2 * ntrain)) ]
check "header padding is zero" [ "$(od -A n -v -t u1 -j 12 -N 1012 t.bin | tr -d ' 0\n')" = "" ]
# Tokens = the input bytes, in order, train then val.
{ tail -c +1025 t.bin; tail -c +1025 v.bin; } | od -A n -t u2 -v | tr -s ' ' '\n' | sed '/^$/d' >tok.txt
od -A n -t u1 -v in.txt | tr -s ' ' '\n' | sed '/^$/d' >bytes.txt
assert_same_text tok.txt bytes.txt "train + val tokens = input bytes"

begin "text2shard reads stdin"
expect_exit 0 "$TEXT2SHARD" - --out s.bin <in.txt
check "stdin shard holds $nbytes tokens" [ "$(od -A n -t d4 -j 8 -N 4 s.bin | tr -d ' ')" = "$nbytes" ]

# ---- text2shard: usage errors (exit 2, one line, no output file) ----------------------------
t2s_refused() {
    begin "text2shard $1"
    shift
    rm -f out.bin
    expect_exit 2 "$TEXT2SHARD" "$@"
    assert_one_line "$ERR"
    check "no out.bin" [ ! -e out.bin ]
}
t2s_refused "without arguments"
t2s_refused "without --out" in.txt
t2s_refused "without inputs" --out out.bin
t2s_refused "--out without a value" in.txt --out
t2s_refused "unknown option" --bogus in.txt --out out.bin
assert_contains "$ERR" "--bogus"
t2s_refused "--val-fraction 2" in.txt --out out.bin --val-out val.bin --val-fraction 2
assert_contains "$ERR" "--val-fraction"
t2s_refused "missing input" "$TMP/nosuch.txt" --out out.bin
assert_contains "$ERR" "$TMP/nosuch.txt"
: >empty.txt
t2s_refused "empty input" empty.txt --out out.bin

finish
