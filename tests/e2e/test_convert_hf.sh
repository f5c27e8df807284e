#!/bin/sh
# test_convert_hf: picotron-convert-hf end to end on the models transformers saved
# (tests/fixtures/hf, scripts/make_hf_fixture.py): HF -> picotron -> HF gives byte-identical
# tensors (fp32, bf16, fp16, sharded), malformed inputs are refused with one line and exit 2
# and nothing written, and training from an import starts at transformers' loss on one process
# and on tp2 x pp2. Tensors are compared with the tool's own `compare` command (names, dtypes,
# shapes and bytes of every tensor, plus the config.json dimensions).
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

CONVERT=$BIN/picotron-convert-hf
FIX=$ROOT/tests/fixtures/hf
[ -x "$CONVERT" ] || { echo "not ok - $CONVERT is missing (run 'make all' first)"; exit 1; }

# u64le N: N as 8 little-endian bytes.
u64le() {
    n=$1 i=0 s=""
    while [ $i -lt 8 ]; do
        s="$s\\$(printf '%03o' $((n % 256)))"
        n=$((n / 256)) i=$((i + 1))
    done
    # shellcheck disable=SC2059  # the octal escapes are the format on purpose
    printf "$s"
}

# st_edit IN OUT SED: OUT is safetensors file IN with its JSON header passed through sed and
# the header length rewritten to match.
st_edit() {
    n=$(od -An -t u8 -N8 "$1" | tr -d ' ')
    dd if="$1" bs=1 skip=8 count="$n" 2>/dev/null | sed "$3" >"$TMP/hdr"
    { u64le "$(wc -c <"$TMP/hdr")"; cat "$TMP/hdr"; tail -c +$((9 + n)) "$1"; } >"$2"
}

# bad_model NAME SED: a copy of the gqa_untied fixture in NAME/ with its header edited.
bad_model() {
    mkdir -p "$1"
    cp "$FIX/gqa_untied/config.json" "$1/"
    st_edit "$FIX/gqa_untied/model.safetensors" "$1/model.safetensors" "$2"
}

# refused DIR TEXT: importing DIR fails with exit 2, one line naming TEXT, nothing written.
refused() {
    expect_exit 2 "$CONVERT" import "$1" --out "$TMP/never"
    assert_one_line "$ERR"
    assert_contains "$ERR" "$2"
    check "nothing written" [ ! -e "$TMP/never" ]
}

# ---------------------------------------------------------------------------------------------
begin "round trip fp32"
expect_exit 0 "$CONVERT" import "$FIX/gqa_untied" --out imp
check "stdout names the config" [ "$(cat "$OUT")" = "$TMP/imp/config.json" ]
check "one weights checkpoint" [ -f imp/weights/step_00000000/meta.h5 ] && [ -f imp/weights/latest ]
expect_exit 0 "$CONVERT" export imp/weights --out hf
check "single file, no index" [ -f hf/model.safetensors ] && [ ! -e hf/model.safetensors.index.json ]
expect_exit 0 "$CONVERT" compare "$FIX/gqa_untied" hf
assert_contains "$OUT" "identical: config.json dimensions and 21 tensors"
assert_contains hf/config.json '"architectures": ['
assert_contains hf/config.json '"torch_dtype": "float32"'
# compare itself notices a changed byte
mkdir hf_bad && cp hf/config.json hf_bad/ && cp hf/model.safetensors hf_bad/
printf '\001' | dd of=hf_bad/model.safetensors bs=1 seek=5000 conv=notrunc 2>/dev/null
expect_exit 1 "$CONVERT" compare hf hf_bad
assert_contains "$OUT" "bytes differ"

begin "--progress: a line per tensor read and written"
# gqa_untied holds 21 tensors (compare above): import reads 21 and writes 21 pieces of the
# weights checkpoint, export reads 21 and writes 21; each line names a tensor of the model.
expect_exit 0 "$CONVERT" import "$FIX/gqa_untied" --out imp_p --progress
check "import: 21 reading lines" [ "$(grep -c '^reading [0-9]*/21 ' "$ERR")" -eq 21 ]
check "import: 21 writing lines" [ "$(grep -c '^writing [0-9]*/21 ' "$ERR")" -eq 21 ]
expect_exit 0 "$CONVERT" export imp_p/weights --out hf_p --progress
check "export: 21 reading lines" [ "$(grep -c '^reading [0-9]*/21 ' "$ERR")" -eq 21 ]
check "export: 21 writing lines" [ "$(grep -c '^writing [0-9]*/21 ' "$ERR")" -eq 21 ]
check "export: the embedding is among them" grep -q '^writing [0-9]*/21 model.embed_tokens.weight$' "$ERR"
expect_exit 0 "$CONVERT" export imp_p/weights --out hf_q
check "without --progress: no progress lines" [ "$(grep -c '^\(reading\|writing\) ' "$ERR")" -eq 0 ]

begin "round trip tied"
expect_exit 0 "$CONVERT" import "$FIX/tied" --out imp_tied
expect_exit 0 "$CONVERT" export imp_tied/weights/step_00000000 --out hf_tied
expect_exit 0 "$CONVERT" compare "$FIX/tied" hf_tied
assert_contains hf_tied/config.json '"tie_word_embeddings": true'

begin "bf16 -> fp32 -> bf16 is exact"
expect_exit 0 "$CONVERT" import "$FIX/tied_bf16" --out imp_bf16
assert_contains "$ERR" "BF16"
expect_exit 0 "$CONVERT" export imp_bf16/weights --out hf_bf16 --dtype bf16
expect_exit 0 "$CONVERT" compare "$FIX/tied_bf16" hf_bf16
assert_contains hf_bf16/config.json '"torch_dtype": "bfloat16"'

begin "fp16 -> fp32 -> fp16 is exact"
expect_exit 0 "$CONVERT" export imp/weights --out hf16 --dtype fp16
expect_exit 0 "$CONVERT" import hf16 --out imp16
expect_exit 0 "$CONVERT" export imp16/weights --out hf16b --dtype fp16
expect_exit 0 "$CONVERT" compare hf16 hf16b

begin "sharded"
expect_exit 0 "$CONVERT" export imp/weights --out shards --max-shard-size 100KB
check "index and several shards" [ -f shards/model.safetensors.index.json ] &&
    [ -f shards/model-00002-of-00005.safetensors ]
assert_contains shards/model.safetensors.index.json '"total_size": 449792'
expect_exit 0 "$CONVERT" import shards --out imp_sh
expect_exit 0 "$CONVERT" export imp_sh/weights --out hf_sh
expect_exit 0 "$CONVERT" compare "$FIX/gqa_untied" hf_sh

# ---------------------------------------------------------------------------------------------
begin "malformed safetensors"
mkdir past_eof && cp "$FIX/gqa_untied/config.json" past_eof/
{ u64le 99999999; tail -c +9 "$FIX/gqa_untied/model.safetensors"; } >past_eof/model.safetensors
refused past_eof "header length 99999999 (byte offset 0) runs past the end of the file"
bad_model not_json 's/^{/x/'
refused not_json "header is not valid JSON at byte offset 8"
bad_model overlap 's/"data_offsets":\[76800,153600\]/"data_offsets":[76000,152800]/'
refused overlap "tensor model.embed_tokens.weight: data_offsets [76000, 152800] overlap tensor lm_head.weight"
bad_model out_of_range 's/"data_offsets":\[76800,153600\]/"data_offsets":[9976800,10053600]/'
refused out_of_range "tensor model.embed_tokens.weight: data_offsets [9976800, 10053600] run past the end"
bad_model shape 's/"shape":\[300,64\],"data_offsets":\[0,76800\]/"shape":[301,64],"data_offsets":[0,76800]/'
refused shape "tensor lm_head.weight: shape × F32 size is 77056 bytes but data_offsets [0, 76800] hold 76800"
bad_model dtype 's/"dtype":"F32"/"dtype":"Q4K"/'
refused dtype "tensor lm_head.weight: dtype \"Q4K\" is not supported"
bad_model missing 's/model.layers.0.mlp.up_proj.weight/model.layers.0.mlp.up_prxj.weight/'
refused missing "tensor model.layers.0.mlp.up_proj.weight [128, 64] is missing"

# A value that is not finite would train as a loss of nan that looks like a learning-rate
# problem: the import names the file, the tensor and the element. Element 650 (row 10,
# column 10) of the embedding (data from byte 2144 + 76800) becomes a NaN in fp32; element 200
# (row 3, column 8) of a bf16 up_proj (data from byte 2072 + 147840) becomes +Inf.
begin "non-finite weights"
mkdir nan && cp "$FIX/gqa_untied/config.json" "$FIX/gqa_untied/model.safetensors" nan/
printf '\000\000\300\177' | dd of=nan/model.safetensors bs=1 seek=$((2144 + 76800 + 4 * 650)) \
    conv=notrunc 2>/dev/null
refused nan "nan/model.safetensors: tensor model.embed_tokens.weight: element 650 (row 10, column 10) is nan"
mkdir inf && cp "$FIX/tied_bf16/config.json" "$FIX/tied_bf16/model.safetensors" inf/
printf '\200\177' | dd of=inf/model.safetensors bs=1 seek=$((2072 + 147840 + 2 * 200)) \
    conv=notrunc 2>/dev/null
refused inf "inf/model.safetensors: tensor model.layers.1.mlp.up_proj.weight: element 200 (row 3, column 8) is inf"

begin "malformed model directories"
cp -r shards shard_gone && rm shard_gone/model-00003-of-00005.safetensors
refused shard_gone "names shard shard_gone/model-00003-of-00005.safetensors, which does not exist"
mkdir arch && cp "$FIX/gqa_untied/model.safetensors" arch/
sed 's/"model_type": "llama"/"model_type": "mistral"/' "$FIX/gqa_untied/config.json" >arch/config.json
refused arch "model_type \"mistral\": only \"llama\""
mkdir scaling && cp "$FIX/gqa_untied/model.safetensors" scaling/
sed 's/"rope_scaling": null/"rope_scaling": {"type": "linear", "factor": 2.0}/' \
    "$FIX/gqa_untied/config.json" >scaling/config.json
refused scaling "rope_scaling"
# The index goes through the reader of every user-given JSON file (jsonin): a directory in its
# place says so (it was "1:0: invalid JSON: ... near end of file"), a key given twice is named.
mkdir -p idx_dir/model.safetensors.index.json && cp "$FIX/gqa_untied/config.json" idx_dir/
refused idx_dir "idx_dir/model.safetensors.index.json: is a directory (give a JSON file)"
cp -r shards idx_dup
sed 's/^{/{"metadata": {}, /' shards/model.safetensors.index.json >idx_dup/model.safetensors.index.json
refused idx_dup 'duplicate key "metadata"'
mkdir nothing && cp "$FIX/gqa_untied/config.json" nothing/
refused nothing "no model.safetensors or model.safetensors.index.json"

begin "bad arguments and outputs"
expect_exit 2 "$CONVERT" import "$FIX/gqa_untied" --out imp
assert_contains "$ERR" "exists and is not empty"
expect_exit 2 "$CONVERT" export imp/weights --out never --dtype fp8
assert_one_line "$ERR"
expect_exit 2 "$CONVERT" export imp/weights --out never --max-shard-size lots
expect_exit 2 "$CONVERT" export "$TMP/nothing" --out never
assert_one_line "$ERR"
check "nothing written" [ ! -e never ]
expect_exit 2 "$CONVERT" frobnicate x
expect_exit 0 "$CONVERT" --help
assert_contains "$OUT" "rounds to nearest, ties to even"

# ---------------------------------------------------------------------------------------------
# The fixture's tokens as data (stream.bin holds the two windows transformers scored); the
# config's seq_length is edited in the file, as a user would, because --set would move
# max_position_embeddings along with it (docs/config.md).
begin "training from an import"
LOSS_TRANSFORMERS=5.74613714   # gqa_untied/expected.ptfx "loss" (scripts/make_hf_fixture.py)
sed 's/"seq_length": 64/"seq_length": 32/' imp/config.json >imp/train.json
TR="--config imp/train.json --steps 1 --no-metrics --set dataset.name=$FIX/gqa_untied/stream.bin
    --set training.micro_batch_size=2 --set logging.run_dir=$RUN"
# shellcheck disable=SC2086  # $TR is a list of words on purpose
expect_exit 0 "$TRAIN" $TR
single=$(loss_at "$OUT" 1)
assert_contains "$ERR" "picotron-train: weights from "
assert_contains "$ERR" "(checkpoint.init_from, written at step 0); fresh optimizer, step 0"
# %.6f print + fp32 sums: 1e-5 relative (measured: equal to the printed digits)
check "one process: step-1 loss $single = transformers' $LOSS_TRANSFORMERS (rtol 1e-5)" \
    float_close "$single" "$LOSS_TRANSFORMERS" 1e-5
# shellcheck disable=SC2086
expect_exit 0 "$TRAIN" $TR --set distributed.tp_size=2 --set distributed.pp_size=2
assert_contains "$ERR" "mesh dp=1 pp=2 cp=1 tp=2"
mesh=$(loss_at "$OUT" 1)
check "tp2 x pp2: step-1 loss $mesh = one process $single (rtol 1e-5)" float_close "$mesh" "$single" 1e-5
# shellcheck disable=SC2086
expect_exit 0 "$TRAIN" $TR --set checkpoint.init_from=
fresh=$(loss_at "$OUT" 1)
check "without init_from the loss ($fresh) is another" [ "$fresh" != "$single" ]
assert_not_contains "$ERR" "weights from"

begin "export from a tp2 x pp2 checkpoint"
# lr 1e-30 leaves every weight's bits unchanged, so the 4-rank checkpoint must export to the
# fixture's exact bytes.
# shellcheck disable=SC2086
expect_exit 0 "$TRAIN" $TR --set distributed.tp_size=2 --set distributed.pp_size=2 \
    --set training.learning_rate=1e-30 --set checkpoint.save_dir="$TMP/ck" \
    --set checkpoint.save_frequency=1
expect_exit 0 "$CONVERT" export ck --out hf_mesh
assert_contains "$ERR" "mesh dp=1 pp=2 cp=1 tp=2"
expect_exit 0 "$CONVERT" compare "$FIX/gqa_untied" hf_mesh

finish
