#!/bin/sh
# test_shard_ckpt: picotron-shard-ckpt on a checkpoint that picotron-train writes under
# dp=2·tp=2 ZeRO-1: A → B → A is identical in every tensor (weights, AdamW m, v), the
# consolidated 1×1×1×1 layout, info (its --json escaping names), --in/--out with trailing
# slashes, h5dump reading a rank file without picotron, and bad
# inputs (missing or truncated rank file, corrupt tensor data, impossible target mesh, existing
# OUTDIR) → exit 2 with one line; `verify DIR` on good and corrupt checkpoints. (A wrong
# format_version is tested in tests/unit/test_ckpt.c, which can write one.)
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

SHARD=$BIN/picotron-shard-ckpt

# ---- a checkpoint from training ------------------------------------------------------------
tiny_json base.json
sed -e 's/"name": "tiny"/"name": "tiny-mesh"/' \
    -e 's/"tp_size": 1/"tp_size": 2/' -e 's/"dp_size": 1/"dp_size": 2, "zero_stage": 1/' \
    -e 's/"micro_batch_size": 4/"micro_batch_size": 2/' \
    -e 's/"total_train_steps": 10/"total_train_steps": 4/' \
    -e 's/"warmup_steps": 2/"warmup_steps": 1/' \
    -e "s|\"save_frequency\": 0|\"save_dir\": \"$TMP/ckpt\", \"save_frequency\": 2|" \
    base.json >a.json

begin "picotron-train writes a checkpoint"
expect_exit 0 "$TRAIN" --config a.json -q
if [ ! -f "$TMP/ckpt/latest" ]; then
    fail "no $TMP/ckpt/latest after training with checkpoint.save_frequency 2" "$ERR"
    finish
fi
A=$TMP/ckpt/$(cat "$TMP/ckpt/latest")
check "latest names step_00000004" [ "$A" = "$TMP/ckpt/step_00000004" ]
check "meta.h5 and rank files" [ -f "$A/meta.h5" ] && [ -f "$A/rank_00000.h5" ]

# ---- info ----------------------------------------------------------------------------------
begin "info"
expect_exit 0 "$SHARD" info "$A"
assert_contains "$OUT" "step 4"
assert_contains "$OUT" "mesh dp=2 pp=1 cp=1 tp=2 zero=1"
assert_contains "$OUT" "format_version 1"
check "lists the embedding with its shape and dtype" \
    grep -E -q '^ +model\.embed_tokens\.weight +\[300, 64\] +float32 +weights adam_m adam_v' "$OUT"
check "lists a norm as a vector" grep -E -q '^ +model\.norm\.weight +\[64\] +float32' "$OUT"
check "48 tensors" grep -q '^tensors 48$' "$OUT"
expect_exit 0 "$SHARD" info "$A" --json
assert_contains "$OUT" '"mesh": {"dp": 2, "pp": 1, "cp": 1, "tp": 2, "zero_stage": 1}'
assert_contains "$OUT" '{"name": "lm_head.weight", "shape": [300, 64], "dtype": "float32"'

begin "info --json escapes a directory name holding a quote and a backslash"
cp -r "$A" 'q"x\y'
expect_exit 0 "$SHARD" info 'q"x\y' --json
assert_contains "$OUT" '"dir": "q\"x\\y"'
assert_contains "$OUT" '"mesh": {"dp": 2, "pp": 1, "cp": 1, "tp": 2, "zero_stage": 1}'
assert_contains "$OUT" '"kinds": ["weights", "adam_m", "adam_v"]}'
check "one line of output" [ "$(wc -l <"$OUT")" -eq 1 ]
if command -v python3 >/dev/null 2>&1; then
    check "python3 parses it" python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$OUT"
fi

# ---- h5dump reads the files without picotron ------------------------------------------------
if command -v h5dump >/dev/null 2>&1; then
    begin "h5dump"
    expect_exit 0 h5dump -H "$A/rank_00000.h5"
    assert_contains "$OUT" 'DATASET "model.layers.0.self_attn.q_proj.weight"'
    assert_contains "$OUT" 'ATTRIBUTE "block_offset"'
    expect_exit 0 h5dump -a /format_version "$A/meta.h5"
    assert_contains "$OUT" '(0): 1'
fi

# ---- A → B → A -----------------------------------------------------------------------------
begin "reshard A (dp2 tp2 zero1) to B (pp2 tp4 cp2)"
expect_exit 0 "$SHARD" --in "$A" --to dp=1,tp=4,pp=2,cp=2,zero=0 --out B -q
expect_exit 0 "$SHARD" info B
assert_contains "$OUT" "mesh dp=1 pp=2 cp=2 tp=4 zero=0"
assert_contains "$OUT" "step 4"

begin "--progress: a line per tensor piece written"
# Reference: the consolidated layout writes one rank file holding each of the 48 tensors (info
# above) as weights, adam_m and adam_v pieces: 144 lines, numbered 1..144, each naming a
# tensor that info lists; without --progress (and not on a terminal) stderr stays empty.
expect_exit 0 "$SHARD" --in "$A" --to dp=1,tp=1,pp=1,cp=1,zero=0 --out P --progress
check "144 progress lines on stderr" [ "$(grep -c '^rank_00000.h5 [0-9]*/144 ' "$ERR")" -eq 144 ]
check "numbered 1..144" [ "$(sed -n 's|^rank_00000.h5 \([0-9]*\)/144 .*|\1|p' "$ERR" | tr '\n' ' ')" = "$(seq 1 144 | tr '\n' ' ')" ]
sed -n 's|^rank_00000.h5 [0-9]*/144 ||p' "$ERR" | sort -u >progress_names.txt
"$SHARD" info "$A" | sed -n 's/^ *\(model[^ ]*\|lm_head[^ ]*\) .*/\1/p' | sort -u >info_names.txt
check "48 names listed by info" [ "$(wc -l <info_names.txt)" -eq 48 ]
assert_same_text progress_names.txt info_names.txt "the names are the checkpoint's 48 tensors"
expect_exit 0 "$SHARD" --in "$A" --to dp=1,tp=1,pp=1,cp=1,zero=0 --out Q
check "no progress when stderr is not a terminal" [ ! -s "$ERR" ]

begin "B back to A's mesh, verified"
expect_exit 0 "$SHARD" --in B --to dp=2,tp=2,pp=1,cp=1,zero=1 --out A2 -q --verify
assert_contains "$OUT" "0 differ"
expect_exit 0 "$SHARD" --verify --in "$A" --out A2
assert_contains "$OUT" "144 tensors compared, 0 differ"

begin "consolidated 1x1x1x1"
expect_exit 0 "$SHARD" --in "$A" --to dp=1,tp=1,pp=1,cp=1,zero=0 --out ONE -q --verify
check "one rank file" [ "$(ls ONE | grep -c '^rank_')" -eq 1 ]
expect_exit 0 "$SHARD" --verify --in ONE --out B

begin "--verify finds a difference"
"$TRAIN" --config a.json -q --set training.seed=7 --set checkpoint.save_dir="$TMP/other" \
    >/dev/null 2>&1
expect_exit 1 "$SHARD" --verify --in "$A" --out "$TMP/other/step_00000004"
check "one line per mismatch" grep -q '^mismatch: weights model.embed_tokens.weight' "$OUT"
assert_contains "$OUT" "differ"

# Steps 2 and 4 of one run: every tensor differs and so do the run fields of meta.h5 (step,
# samples, tokens, adam_t). Those are counted apart: the summary used to add them to the
# tensors ("144 tensors compared, 148 differ").
begin "--verify counts tensors and meta fields apart"
expect_exit 1 "$SHARD" --verify --in "$TMP/ckpt/step_00000002" --out "$A"
check "a meta field is reported" grep -q '^mismatch: meta: step differs' "$OUT"
summary=$(tail -n 1 "$OUT")
compared=$(echo "$summary" | sed -n 's/^verify: \([0-9]*\) tensors compared, \([0-9]*\) differ.*/\1/p')
differ=$(echo "$summary" | sed -n 's/^verify: \([0-9]*\) tensors compared, \([0-9]*\) differ.*/\2/p')
tensor_lines=$(grep '^mismatch: ' "$OUT" | grep -vc '^mismatch: meta:')
meta_lines=$(grep -c '^mismatch: meta:' "$OUT")
check "summary '$summary': $differ differ <= $compared compared" \
    [ "${differ:-none}" -le "${compared:-0}" ]
check "differ ($differ) is the number of tensor mismatch lines ($tensor_lines)" \
    [ "$differ" = "$tensor_lines" ]
assert_contains "$OUT" "; $meta_lines meta.h5 run fields differ"

begin "--in and --out with trailing slashes"
expect_exit 0 "$SHARD" --in "$A/" --to dp=1 --out o1/ -q
check "o1 holds the checkpoint, no temp dir left inside or beside it" \
    [ -f o1/meta.h5 ] && [ ! -e o1/.tmp ] && [ ! -e o1.tmp ] && [ ! -e o1/.old ]
expect_exit 0 "$SHARD" --in "$A//" --to dp=1 --out o1// --force -q
check "replaced, nothing left beside it" [ -f o1/meta.h5 ] && [ ! -e o1.tmp ] && [ ! -e o1.old ]
expect_exit 0 "$SHARD" --verify --in "$A/" --out o1/
assert_contains "$OUT" "0 differ"

begin "verify DIR: the checksums of training's and reshard's files hold"
expect_exit 0 "$SHARD" verify "$A"
assert_contains "$OUT" "checksums hold"
assert_not_contains "$OUT" "without checksums"
expect_exit 0 "$SHARD" verify -q B
assert_contains "$OUT" "checksums hold"
assert_not_contains "$OUT" "without checksums"

# ---- bad input: exit 2, one line -----------------------------------------------------------
begin "corrupt tensor data"
# docs/checkpoint.md "Checksums": the reshard stops at the bad piece, writes nothing
cp -r "$A" C
check "overwrote bytes of /adam_m/model.layers.0.mlp.gate_proj.weight in rank_00001.h5" \
    corrupt_tensor C/rank_00001.h5 /adam_m/model.layers.0.mlp.gate_proj.weight
expect_exit 2 "$SHARD" --in C --to dp=1 --out bad5 -q
assert_one_line "$ERR"
assert_contains "$ERR" \
    "C/rank_00001.h5: tensor /adam_m/model.layers.0.mlp.gate_proj.weight: stored data fails its"
check "nothing written" [ ! -e bad5 ] && [ ! -e bad5.tmp ]
expect_exit 2 "$SHARD" verify -q C
assert_one_line "$ERR"
assert_contains "$ERR" "C/rank_00001.h5: tensor /adam_m/model.layers.0.mlp.gate_proj.weight"

begin "existing OUTDIR"
expect_exit 2 "$SHARD" --in "$A" --to dp=1 --out B
assert_one_line "$ERR"
assert_contains "$ERR" "--force"
expect_exit 0 "$SHARD" --in "$A" --to dp=1 --out B --force -q

begin "target mesh the model cannot use"
expect_exit 2 "$SHARD" --in "$A" --to tp=3 --out bad1
assert_one_line "$ERR"
assert_contains "$ERR" "distributed.tp_size"
expect_exit 2 "$SHARD" --in "$A" --to pp=6 --out bad2
assert_one_line "$ERR"
assert_contains "$ERR" "num_hidden_layers"
check "nothing written" [ ! -e bad1 ] && [ ! -e bad1.tmp ] && [ ! -e bad2 ]

begin "missing rank file"
cp -r "$A" M
rm M/rank_00001.h5
expect_exit 2 "$SHARD" --in M --to dp=1 --out bad3
assert_one_line "$ERR"
assert_contains "$ERR" "rank_00001.h5"
expect_exit 2 "$SHARD" info M
assert_one_line "$ERR"

begin "truncated rank file"
cp -r "$A" T
truncate -s 2000 T/rank_00002.h5
expect_exit 2 "$SHARD" --in T --to dp=1 --out bad4
assert_one_line "$ERR"
assert_contains "$ERR" "rank_00002.h5"
check "nothing written" [ ! -e bad4 ] && [ ! -e bad4.tmp ]

begin "not a checkpoint"
mkdir empty
expect_exit 2 "$SHARD" info empty
assert_one_line "$ERR"
assert_contains "$ERR" "meta.h5 missing"

begin "usage"
expect_exit 2 "$SHARD" --in "$A" --out x --nosuch
assert_one_line "$ERR"
expect_exit 2 "$SHARD" --in "$A" --to dp=x --out x
assert_one_line "$ERR"
expect_exit 2 "$SHARD" --in "$A"
assert_one_line "$ERR"
expect_exit 2 "$SHARD" verify
assert_one_line "$ERR"
assert_contains "$ERR" "verify: missing DIR"
expect_exit 2 "$SHARD" verify "$A" extra
assert_one_line "$ERR"

finish
