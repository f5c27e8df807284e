#!/bin/sh
# test_bad_input: picotron-train refuses bad configs, data and flags the way docs/design.md
# (Invariants) says: exit 2, exactly one stderr line (warnings aside) that names the key or
# file, nothing on stdout, and nothing written (the run directory is never created).
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

tiny_json base.json

# variant DST SED-SCRIPT: base.json edited by sed into DST; an edit that changes nothing is a
# test bug, reported as a failure (otherwise the case below would test nothing).
variant() {
    sed "$2" base.json >"$1"
    if cmp -s base.json "$1"; then
        fail "test bug: sed '$2' did not change base.json"
    fi
}

# refused CASE TEXT CMD...: CMD exits 2 with one stderr line containing TEXT, prints nothing
# on stdout and writes nothing.
refused() {
    begin "$1"
    text=$2
    shift 2
    expect_exit 2 "$@"
    assert_one_line "$ERR"
    assert_contains "$ERR" "$text"
    check "stdout empty" [ ! -s "$OUT" ]
    assert_no_run_dir
}

# The base config itself is fine (else every case below would pass for the wrong reason).
begin "base config runs"
expect_exit 0 "$TRAIN" --config base.json --steps 1 --no-metrics -q
assert_no_run_dir

# ---- the environment -----------------------------------------------------------------------
refused "unknown PICOTRON_SIMD" "PICOTRON_SIMD=avx9: unknown vector path" \
    env PICOTRON_SIMD=avx9 "$TRAIN" --config base.json --steps 1
begin "PICOTRON_SIMD=scalar runs and the banner names it"
expect_exit 0 env PICOTRON_SIMD=scalar "$TRAIN" --config base.json --steps 1 --no-metrics
assert_contains "$ERR" ", scalar vectors"

# ---- the config file ---------------------------------------------------------------------
cat >badjson.json <<'EOF'
{
    "model": {"name": "tiny"},
    "training": {"seq_length": 64,,}
}
EOF
refused "invalid JSON" "badjson.json:3:" "$TRAIN" --config badjson.json
check "message is file:line:col: invalid JSON" \
    grep -E -q 'badjson\.json:3:[0-9]+: invalid JSON' "$ERR"

# A second "training" section would replace the first (seq_length 32 silently 1024): refused,
# naming the key and where the second one is.
variant dup.json 's/"dataset": {"name": "synthetic"},/"dataset": {"name": "synthetic"},\
    "training": {"seq_length": 1024},/'
refused "duplicate section" 'duplicate key "training"' "$TRAIN" --config dup.json
check "message is file:line:col: duplicate key" \
    grep -E -q 'dup\.json:8:[0-9]+: duplicate key "training"' "$ERR"

variant dupkey.json 's/"seq_length": 64,/"seq_length": 64, "seq_length": 32,/'
refused "duplicate key in a section" 'duplicate key "seq_length"' "$TRAIN" --config dupkey.json

variant neg.json 's/"seq_length": 64/"seq_length": -3/'
refused "negative seq_length" "training.seq_length" "$TRAIN" --config neg.json
assert_contains "$ERR" "-3"

variant str.json 's/"micro_batch_size": 4/"micro_batch_size": "four"/'
refused "string for a number" "training.micro_batch_size" "$TRAIN" --config str.json
assert_contains "$ERR" "four"

variant model.json 's/"name": "tiny"/"name": "llama-99b"/'
refused "unknown model" "llama-99b" "$TRAIN" --config model.json
assert_contains "$ERR" "model.name"

variant kv.json 's/"name": "tiny",/"name": "tiny", "num_key_value_heads": 3,/'
refused "heads not divisible by kv heads" "num_key_value_heads" "$TRAIN" --config kv.json

variant load.json 's/"save_frequency": 0/"save_frequency": 0, "load_path": "ckpt\/step_00000010"/'
refused "checkpoint.load_path naming no checkpoint" "checkpoint.load_path" "$TRAIN" --config load.json

refused "config file does not exist" "$TMP/nosuch.json" "$TRAIN" --config "$TMP/nosuch.json"

# A directory given as --config opens but cannot be read: the line says why (it used to say
# only "cannot read config").
mkdir cfgdir
refused "config is a directory" "$TMP/cfgdir: is a directory (give a config.json file)" \
    "$TRAIN" --config "$TMP/cfgdir"

# A UTF-8 byte-order mark before the JSON (some Windows editors write one) is skipped: the
# config trains, as without it (it was refused, printing the invisible character).
{ printf '\357\273\277'; cat base.json; } >bom.json
begin "config starting with a UTF-8 byte-order mark trains"
expect_exit 0 "$TRAIN" --config bom.json --steps 1 --no-metrics -q
check "stderr empty" [ ! -s "$ERR" ]
assert_no_run_dir
# ... and is skipped only at the very start: a second one is still invalid JSON, at 1:1.
{ printf '\357\273\277\357\273\277'; cat base.json; } >bom2.json
refused "config with two byte-order marks" "bom2.json:1:1: invalid JSON" \
    "$TRAIN" --config bom2.json

# ---- the data ----------------------------------------------------------------------------
variant hub.json 's|"synthetic"|"roneneldan/TinyStories"|'
refused "hub dataset name" "dataset.name" "$TRAIN" --config hub.json
assert_contains "$ERR" "shard"    # the hint: make shards (text2shard)

refused "missing shard" "$TMP/nosuch.bin" \
    "$TRAIN" --config base.json --set dataset.name="$TMP/nosuch.bin"

refused "glob matching nothing" "$TMP/shards_*.bin" \
    "$TRAIN" --config base.json --set dataset.name="$TMP/shards_*.bin"

# Only regular files are shards: a FIFO would block the open until a writer came (so the
# command runs under timeout: a regression fails instead of hanging), a device never ends.
mkfifo fifo.bin
refused "FIFO as dataset.name" "$TMP/fifo.bin" \
    timeout 20 "$TRAIN" --config base.json --set dataset.name="$TMP/fifo.bin"
assert_contains "$ERR" "not a regular file"
mkdir globbed
mkfifo globbed/shard_1.bin
refused "FIFO matched by the glob" "$TMP/globbed/shard_1.bin" \
    timeout 20 "$TRAIN" --config base.json --set dataset.name="$TMP/globbed/shard_*.bin"
refused "device as dataset.name" "/dev/zero" \
    timeout 20 "$TRAIN" --config base.json --set dataset.name=/dev/zero
assert_contains "$ERR" "not a regular file"

# Good shards to spoil: 20 kB of text, byte-level.
awk 'BEGIN { for (i = 0; i < 400; i++) printf "%d bottles of beer on the wall.\n", i }' >text.txt
"$TEXT2SHARD" text.txt --out good.bin 2>/dev/null
begin "good shard trains"
expect_exit 0 "$TRAIN" --config base.json --steps 1 --no-metrics -q --set dataset.name="$TMP/good.bin"
assert_no_run_dir

{ printf 'XXXX'; tail -c +5 good.bin; } >magic.bin
refused "shard with bad magic" "$TMP/magic.bin" \
    "$TRAIN" --config base.json --set dataset.name="$TMP/magic.bin"
assert_contains "$ERR" "magic"

head -c 5000 good.bin >trunc.bin
refused "truncated shard" "$TMP/trunc.bin" \
    "$TRAIN" --config base.json --set dataset.name="$TMP/trunc.bin"
assert_contains "$ERR" "truncated"

# 100 ASCII bytes, byte 200 (token 200) at offset 100, more ASCII: with vocab_size 128 the
# first step's samples (tokens 0..256) reach it.
{ head -c 100 text.txt; printf '\310'; head -c 2000 text.txt; } >high.txt
"$TEXT2SHARD" high.txt --out high.bin 2>/dev/null
refused "token >= vocab_size" "$TMP/high.bin" "$TRAIN" --config base.json \
    --set model.vocab_size=128 --set dataset.name="$TMP/high.bin"
assert_contains "$ERR" "offset 100"

# The last token of the last of two shards is 200: far beyond the first step's samples
# (256 tokens of 4200). Under dataset.validate "all" (the default) every token is checked
# before step 1; under "lazy" a shard is checked when a sample first reaches it (step 9 here).
mkdir late
head -c 2100 text.txt >late/a.txt
{ head -c 2099 text.txt; printf '\310'; } >late/b.txt
"$TEXT2SHARD" late/a.txt --out late/shard_a.bin 2>/dev/null
"$TEXT2SHARD" late/b.txt --out late/shard_b.bin 2>/dev/null
refused "token >= vocab_size at the end of the last shard" "$TMP/late/shard_b.bin" \
    "$TRAIN" --config base.json --set model.vocab_size=128 \
    --set dataset.name="$TMP/late/shard_*.bin"
assert_contains "$ERR" "token 200 at offset 2099 is >= vocab_size 128"
check "no step ran" [ ! -s "$OUT" ]

begin "dataset.validate lazy: the bad token stops the run when reached"
expect_exit 2 "$TRAIN" --config base.json --set model.vocab_size=128 --no-metrics \
    --set dataset.name="$TMP/late/shard_*.bin" --set dataset.validate=lazy --steps 20
assert_contains "$ERR" "$TMP/late/shard_b.bin: token 200 at offset 2099 is >= vocab_size 128"
check "steps 1..8 ran first: $(steps "$OUT" | tr '\n' ' ')" \
    [ "$(steps "$OUT" | tr '\n' ' ')" = "1 2 3 4 5 6 7 8 " ]

refused "dataset.validate neither all nor lazy" "dataset.validate" \
    "$TRAIN" --config base.json --set dataset.validate=some

# ---- model.name as a local HF directory ----------------------------------------------------
# train reads config.json through the same reader as convert-hf and create-config: everything
# our Llama does not compute is refused, never trained as a plain SiLU Llama. The base is the
# config.json transformers wrote for the gqa_untied fixture (V = 300, K = 2: not the tiny preset).
HFCONFIG=$ROOT/tests/fixtures/hf/gqa_untied/config.json

# hf_dir NAME SED: NAME/config.json is the fixture's edited by sed (an edit that changes
# nothing is a test bug, reported as a failure).
hf_dir() {
    mkdir -p "$1"
    sed "$2" "$HFCONFIG" >"$1/config.json"
    if cmp -s "$HFCONFIG" "$1/config.json"; then
        fail "test bug: sed '$2' did not change $HFCONFIG"
    fi
}

# A valid directory trains, in newer transformers' spelling (plain RoPE as rope_parameters).
begin "HF directory trains"
hf_dir hf_ok 's/"rope_scaling": null/"rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}/'
expect_exit 0 "$TRAIN" --config base.json --set model.name="$TMP/hf_ok" --steps 3 --no-metrics
assert_contains "$ERR" "model $TMP/hf_ok: 0.11M params (L=2 C=64 H=4 K=2 F=128 V=300)"
check "3 step lines" [ "$(steps "$OUT" | tr '\n' ' ')" = "1 2 3 " ]
# a fresh model predicts near-uniformly: step-1 loss within 2% of ln 300 = 5.7038 (ln 256, the
# tiny preset's, is 2.8% below)
check "step-1 loss $(loss_at "$OUT" 1) near ln 300 (rtol 0.02)" float_close "$(loss_at "$OUT" 1)" 5.7038 0.02
assert_no_run_dir

# hf_refused NAME KEYTEXT SED: train with model.name = NAME (the fixture edited by SED) exits 2
# with one line naming NAME/config.json and the key.
hf_refused() {
    hf_dir "$1" "$3"
    refused "model.name = HF directory, $1" "$TMP/$1/config.json: $2" \
        "$TRAIN" --config base.json --set model.name="$TMP/$1"
}
hf_refused hf_type 'model_type "mistral"' 's/"model_type": "llama"/"model_type": "mistral"/'
hf_refused hf_arch 'architectures ["LlamaForSequenceClassification"]' \
    's/"LlamaForCausalLM"/"LlamaForSequenceClassification"/'
hf_refused hf_act 'hidden_act "gelu"' 's/"hidden_act": "silu"/"hidden_act": "gelu"/'
hf_refused hf_quant 'quantization_config' \
    's/"use_cache": true/"quantization_config": {"quant_method": "gptq", "bits": 4}, "use_cache": true/'
hf_refused hf_torch_dtype 'torch_dtype' 's/"torch_dtype": "float32"/"torch_dtype": "int8"/'
hf_refused hf_dtype 'dtype' 's/"use_cache": true/"dtype": "float8_e4m3fn", "use_cache": true/'
hf_refused hf_scaling 'rope_scaling' 's/"rope_scaling": null/"rope_scaling": {"type": "linear", "factor": 2.0}/'
hf_refused hf_llama3 'rope_scaling' \
    's/"rope_scaling": null/"rope_scaling": {"rope_type": "llama3", "factor": 8.0, "original_max_position_embeddings": 8192}/'
hf_refused hf_rope_type 'rope_parameters' \
    's/"rope_scaling": null/"rope_parameters": {"rope_type": "yarn", "factor": 4.0}/'
hf_refused hf_theta 'rope_theta 10000 and rope_parameters.rope_theta 500000 disagree' \
    's/"rope_scaling": null/"rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}/'
hf_refused hf_bias 'attention_bias' 's/"attention_bias": false/"attention_bias": true/'
hf_refused hf_head_dim 'head_dim' 's/"use_cache": true/"head_dim": 32, "use_cache": true/'
hf_refused hf_missing 'hidden_size: missing' '/"hidden_size"/d'

# the same through the config file's model.name
variant hfname.json "s|\"name\": \"tiny\"|\"name\": \"$TMP/hf_act\"|"
# A directory without config.json: one line naming the file once (Jansson's own text named it
# twice: "D/config.json: unable to open D/config.json: ...").
mkdir hf_none
refused "model.name = HF directory without config.json" \
    "$TMP/hf_none/config.json: cannot open: No such file or directory" \
    "$TRAIN" --config base.json --set model.name="$TMP/hf_none"
check "the path appears once" [ "$(grep -o 'hf_none/config.json' "$ERR" | wc -l)" -eq 1 ]
refused "model.name = HF directory, in the config file" "$TMP/hf_act/config.json: hidden_act" \
    "$TRAIN" --config hfname.json

# ---- the checkpoint directory --------------------------------------------------------------
# A save_dir that takes no new files is found before step 1, not at the first save after
# training ran (docs/training.md, One run per directory). Root writes through chmod 555, so as
# root the directory is a read-only bind mount in a private mount namespace (unshare -m); as
# another user, chmod 555 is the real thing.
mkdir rodir
: >rodir/.lock # a previous run's lock file: opening it is not what must fail
ro_train() {
    if [ "$(id -u)" -ne 0 ]; then
        chmod 555 rodir
        "$TRAIN" "$@"
    else
        unshare -m sh -c 'mount --bind rodir rodir && mount -o remount,bind,ro rodir &&
            exec "$0" "$@"' "$TRAIN" "$@"
    fi
}
if [ "$(id -u)" -ne 0 ] || unshare -m true 2>/dev/null; then
    refused "read-only save_dir" "checkpoint.save_dir: $TMP/rodir is not writable" \
        ro_train --config base.json --set checkpoint.save_dir="$TMP/rodir" \
        --set checkpoint.save_frequency=5
    check "nothing written in it" [ "$(ls -A rodir)" = .lock ]
    chmod 755 rodir
else
    echo "# skipped: read-only save_dir (root without unshare -m: no way to make a directory read-only)"
fi

# ---- flags and --set ---------------------------------------------------------------------
refused "--set unknown key" "nosuch.key" "$TRAIN" --config base.json --set nosuch.key=1
refused "--set bad value" "training.seq_length" "$TRAIN" --config base.json --set training.seq_length=abc
refused "unknown flag" "--bogus" "$TRAIN" --config base.json --bogus
refused "--steps 0" "--steps" "$TRAIN" --config base.json --steps 0
refused "missing --config" "--config" "$TRAIN" --steps 1
refused "picotron train passes errors through" "--bogus" "$PICOTRON" train --config base.json --bogus

# ---- a model larger than the node's memory ------------------------------------------------
# Llama-3-8B on one rank needs about 200 GB: refused before any sample is read or any weight
# allocated (this used to spend the sample checks, then die "out of memory allocating").
ONE_RANK="--set distributed.tp_size=1 --set distributed.cp_size=1 --set distributed.dp_size=1"
# shellcheck disable=SC2086
refused "a model larger than the node's memory" "but this node has" \
    "$TRAIN" --config "$ROOT/examples/llama-3-8b.json" $ONE_RANK --steps 1 --no-metrics \
    --set logging.run_dir="$RUN"
check "the line names the estimate and its terms" \
    grep -q 'the model needs [0-9.]* GB per rank (params [0-9.]* GB, grads [0-9.]* GB, AdamW [0-9.]* GB, activations [0-9.]* GB)' "$ERR"
check "the line names the opt-out" grep -q 'training.skip_memory_check' "$ERR"
# with the opt-out the run goes on to the next check (a missing shard), which stops it before
# anything is allocated
# shellcheck disable=SC2086
refused "training.skip_memory_check skips the memory check" "$TMP/none.bin" \
    "$TRAIN" --config "$ROOT/examples/llama-3-8b.json" $ONE_RANK --steps 1 --no-metrics \
    --set logging.run_dir="$RUN" --set training.skip_memory_check=true \
    --set dataset.name="$TMP/none.bin"

# ---- an unknown key is only a warning ----------------------------------------------------
begin "unknown config key"
variant unknown.json 's/"name": "tiny",/"name": "tiny", "flavour": "vanilla",/'
expect_exit 0 "$TRAIN" --config unknown.json --steps 2 --no-metrics
check "one warning line naming model.flavour" \
    [ "$(grep -c '^picotron: warning: .*"model.flavour"' "$ERR")" -eq 1 ]
check "the run went on: 2 step lines" [ "$(steps "$OUT" | tr '\n' ' ')" = "1 2 " ]

begin "each warning once per job, with two ranks too"
variant gpu2.json 's/"dp_size": 1}/"dp_size": 2, "use_cpu": false, "backend": "nccl"}/; s/"name": "tiny",/"name": "tiny", "flavour": "vanilla",/'
expect_exit 0 "$TRAIN" --config gpu2.json --steps 1 --no-metrics
check "one line for model.flavour" [ "$(grep -c '^picotron: warning: .*"model.flavour"' "$ERR")" -eq 1 ]
check "one line for use_cpu false" [ "$(grep -c '^picotron: warning: distributed.use_cpu is false' "$ERR")" -eq 1 ]
check "no other warning" [ "$(grep -c '^picotron: warning:' "$ERR")" -eq 2 ]

begin "a CPU config (gloo or mpi, any dtype) trains without a warning"
variant cpu.json 's/"dp_size": 1}/"dp_size": 1, "use_cpu": true, "backend": "gloo"}/; s/"float32"/"bfloat16"/'
expect_exit 0 "$TRAIN" --config cpu.json --steps 1 --no-metrics
check "no warning" [ "$(grep -c '^picotron: warning:' "$ERR")" -eq 0 ]

finish
