#!/bin/sh
# test_tokenize: picotron-tokenize end to end. The ids themselves are checked against Hugging
# Face `tokenizers` by tests/unit/test_tokenizer.c; here: the shards hold those ids framed by
# each family's BOS/EOS convention (expected ids from the committed fixtures NAME.ids, made by
# `tokenizers`), every input form (JSONL, text, lines, gzip, zstd, stdin) gives the same
# shards, --decode round-trips, splits and shard sizes, uint32 past 65536 ids, bad inputs
# (one line, exit 2, nothing written), a write failure leaves nothing, and picotron-train
# trains on the output.
# timeout: 180
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "$0")/lib.sh"

TOK=$BIN/picotron-tokenize
FIX=$ROOT/tests/fixtures/tokenizer

# tokens FILE: the tokens of an llm.c shard, one per line (uint16 or uint32 by its magic).
tokens() {
    if [ "$(od -A n -t d4 -N 4 "$1" | tr -d ' ')" = 20240801 ]; then t=u4; else t=u2; fi
    tail -c +1025 "$1" | od -A n -v -t "$t" | tr -s ' ' '\n' | sed '/^$/d'
}
# header FILE: "magic version count"
header() { od -A n -t d4 -N 12 "$1" | tr -s ' ' | sed 's/^ //'; }
# nothing_written DIR: no file at all under DIR (no shard, no temporary file).
nothing_written() {
    if [ -z "$(find "$1" -type f 2>/dev/null)" ]; then pass "nothing written under $1"
    else fail "files left under $1: $(find "$1" -type f | tr '\n' ' ')"; fi
}

# Documents 0, 6 and 7 of the fixture corpus (docs.bin) and their HF ids (NAME.ids line 1, 7, 8).
D0='Hello, world! This is a test.'
D6="I'm sure they'll say it's what we've done, I'd think. DON'T SHOUT, YOU'RE LOUD"
D7='Numbers: 0 7 42 123 1234 12345 1234567890 3.14159 -273.15 1e10 1,000,000'
printf '{"text": "%s", "id": 1}\n\n{"id": 2, "text": "%s"}\n{"text": "%s"}\n' "$D0" "$D6" "$D7" >c.jsonl
hf_ids() { sed -n "$2p" "$FIX/$1.ids" | tr ' ' '\n'; }

# ---- ids and framing per family -------------------------------------------------------------
for fam in gpt2:'':0 smollm:'':0 llama3:0: llama2:1:; do
    name=${fam%%:*}; rest=${fam#*:}; bos=${rest%%:*}; eos=${rest#*:}
    begin "$name: JSONL shards = HF ids with the family's BOS/EOS"
    expect_exit 0 "$TOK" --tokenizer "$FIX/$name.json" --out "$name/c" --threads 2 c.jsonl
    check "header: magic 20240520, version 1" [ "$(header "$name/c_train_000000.bin" | cut -d' ' -f1-2)" = "20240520 1" ]
    for line in 1 7 8; do
        [ -n "$bos" ] && echo "$bos"
        hf_ids "$name" "$line"
        [ -n "$eos" ] && echo "$eos"
    done >want.txt
    tokens "$name/c_train_000000.bin" >got.txt
    assert_same_text got.txt want.txt "$name tokens (BOS '$bos', EOS '$eos')"
    check "header count = $(wc -l <want.txt) tokens" [ "$(header "$name/c_train_000000.bin" | cut -d' ' -f3)" -eq "$(wc -l <want.txt)" ]
    assert_contains "$ERR" "tokenized 3 documents"
done

begin "--append-eos adds the EOS to a BOS family (llama2: </s> = 2)"
expect_exit 0 "$TOK" --tokenizer "$FIX/llama2.json" --out ae/c --append-eos c.jsonl
check "ends with 2" [ "$(tokens ae/c_train_000000.bin | tail -n 1)" = 2 ]

# A template that closes documents too ("$A </s>"): its EOS follows every document unasked.
sed 's|"single":\[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}\]|"single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"</s>","type_id":0}}]|; s|"special_tokens":{"<s>":{"id":"<s>","ids":\[1\],"tokens":\["<s>"\]}}|"special_tokens":{"<s>":{"id":"<s>","ids":[1],"tokens":["<s>"]},"</s>":{"id":"</s>","ids":[2],"tokens":["</s>"]}}|' \
    "$FIX/llama2.json" >closing.json
begin "a template's closing token follows every document (llama2 + \$A </s>)"
check "the variant has the closing token" grep -q '"SpecialToken":{"id":"</s>"' closing.json
expect_exit 0 "$TOK" --tokenizer closing.json --out closing/c c.jsonl
for line in 1 7 8; do echo 1; hf_ids llama2 "$line"; echo 2; done >want.txt
tokens closing/c_train_000000.bin >got.txt
assert_same_text got.txt want.txt "<s> ids </s> per document"

begin "--eos picks the token (smollm: <|im_end|> = 2)"
expect_exit 0 "$TOK" --tokenizer "$FIX/smollm.json" --out eos/c --eos '<|im_end|>' c.jsonl
check "3 documents end with 2" [ "$(tokens eos/c_train_000000.bin | grep -c '^2$')" -eq 3 ]
check "no <|endoftext|>" [ "$(tokens eos/c_train_000000.bin | grep -c '^0$')" -eq 0 ]
rm -rf bad
expect_exit 2 "$TOK" --tokenizer "$FIX/smollm.json" --out bad/c --eos '<nosuch>' c.jsonl
assert_contains "$ERR" "--eos <nosuch>: not a token of"
nothing_written bad

# ---- the same documents in every input form ------------------------------------------------
G="--tokenizer $FIX/gpt2.json -q"
printf '%s' "$D0" >d0.txt; printf '%s' "$D6" >d6.txt; printf '%s' "$D7" >d7.txt
printf '%s\n%s\r\n\n%s\n' "$D0" "$D6" "$D7" >lines.txt
gzip -c c.jsonl >c.jsonl.gz; zstd -q -c c.jsonl >c.jsonl.zst
begin "text files, --lines, gzip, zstd, stdin: identical shards"
# shellcheck disable=SC2086
expect_exit 0 "$TOK" $G --out forms/txt d0.txt d6.txt d7.txt
# shellcheck disable=SC2086
expect_exit 0 "$TOK" $G --out forms/lines --lines lines.txt
# shellcheck disable=SC2086
expect_exit 0 "$TOK" $G --out forms/gz c.jsonl.gz
# shellcheck disable=SC2086
zstd -q -d -c c.jsonl.zst | { expect_exit 0 "$TOK" $G --out forms/pipe -; }
# shellcheck disable=SC2086
expect_exit 0 "$TOK" $G --out forms/cat - <c.jsonl.zst
# several gzip members / zstd frames one after the other (as `cat a.gz b.gz` makes)
{ head -n 2 c.jsonl | gzip -c; tail -n +3 c.jsonl | gzip -c; } >multi.jsonl.gz
{ head -n 2 c.jsonl | zstd -q -c; tail -n +3 c.jsonl | zstd -q -c; } >multi.jsonl.zst
# shellcheck disable=SC2086
expect_exit 0 "$TOK" $G --out forms/mgz multi.jsonl.gz
# shellcheck disable=SC2086
expect_exit 0 "$TOK" $G --out forms/mzst multi.jsonl.zst
for f in txt lines gz pipe cat mgz mzst; do
    check "$f = JSONL" cmp -s "forms/${f}_train_000000.bin" gpt2/c_train_000000.bin
done

begin "--decode round-trips (documents joined by <|endoftext|>)"
# shellcheck disable=SC2086
expect_exit 0 "$TOK" $G --decode gpt2/c_train_000000.bin
printf '%s<|endoftext|>%s<|endoftext|>%s<|endoftext|>' "$D0" "$D6" "$D7" >want.txt
assert_same_text "$OUT" want.txt "decoded text"

begin "a 10 MB text file streams through in pieces of 1 MB: the ids of the whole document"
awk 'BEGIN { for (i = 0; i < 160000; i++) printf "Line %d: the quick brown fox, jumps over %d lazy dogs!\n", i, i * 7 }' >big.txt
# the same text as one JSONL record, which is never cut
awk 'BEGIN { RS = "\001" } { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); gsub(/\n/, "\\n"); printf "{\"text\": \"%s\"}\n", $0 }' big.txt >big1.jsonl
for fam in gpt2 llama2; do
    expect_exit 0 "$TOK" --tokenizer "$FIX/$fam.json" -q --out "bigtxt/$fam" big.txt
    expect_exit 0 "$TOK" --tokenizer "$FIX/$fam.json" -q --out "bigjson/$fam" big1.jsonl
    check "$fam: text file (cut) = one JSONL record (whole)" cmp -s "bigtxt/${fam}_train_000000.bin" "bigjson/${fam}_train_000000.bin"
done
check "one document: one <|endoftext|>" [ "$(tokens bigtxt/gpt2_train_000000.bin | grep -c '^0$')" -eq 1 ]

# ---- splits and shard sizes ----------------------------------------------------------------
awk 'BEGIN { for (i = 0; i < 40; i++) printf "{\"text\": \"document %d: the quick brown fox %d\"}\n", i, i * i }' >many.jsonl
awk 'BEGIN { for (i = 0; i < 3000; i++) printf "{\"text\": \"line %d %d\"}\n", i, i * 7919 % 10007 }' | gzip -c >big.jsonl.gz
# shellcheck disable=SC2086
expect_exit 0 "$TOK" $G --out one/m many.jsonl
begin "--threads 1 and --threads 3 write the same shards"
# shellcheck disable=SC2086
expect_exit 0 "$TOK" $G --threads 1 --out thr1/m many.jsonl big.jsonl.gz
# shellcheck disable=SC2086
expect_exit 0 "$TOK" $G --threads 3 --out thr3/m many.jsonl big.jsonl.gz
check "identical" cmp -s thr1/m_train_000000.bin thr3/m_train_000000.bin

begin "--shard-tokens 100: shards of 100 tokens, the same stream"
# shellcheck disable=SC2086
expect_exit 0 "$TOK" $G --out small/m --shard-tokens 100 many.jsonl
n=$(tokens one/m_train_000000.bin | wc -l)
nshards=$(find small -name "m_train_*.bin" | wc -l)
check "$nshards shards = ceil($n / 100)" [ "$nshards" -eq $(((n + 99) / 100)) ]
check "first shard holds 100" [ "$(header small/m_train_000000.bin | cut -d' ' -f3)" = 100 ]
for f in small/m_train_*.bin; do tokens "$f"; done >cat.txt
tokens one/m_train_000000.bin >one.txt
assert_same_text cat.txt one.txt "concatenated shards = one shard"

begin "--val-fraction 0.25: every 4th document to val"
# shellcheck disable=SC2086
expect_exit 0 "$TOK" $G --out split/m --val-fraction 0.25 many.jsonl
# gpt2 ends each document with <|endoftext|> = 0: count documents by their EOS
check "10 val documents" [ "$(tokens split/m_val_000000.bin | grep -c '^0$')" -eq 10 ]
check "30 train documents" [ "$(tokens split/m_train_000000.bin | grep -c '^0$')" -eq 30 ]

begin "--val-tokens 50: the first whole documents until 50 tokens"
# shellcheck disable=SC2086
expect_exit 0 "$TOK" $G --out vt/m --val-tokens 50 many.jsonl
nv=$(tokens vt/m_val_000000.bin | wc -l)
check "val holds >= 50 tokens ($nv)" [ "$nv" -ge 50 ]
check "val ends a document" [ "$(tokens vt/m_val_000000.bin | tail -n 1)" = 0 ]

# ---- a vocabulary past 65536 ids: uint32 shards --------------------------------------------
sed 's/"added_tokens":\[/"added_tokens":[{"id":70000,"content":"<|big|>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},/' \
    "$FIX/gpt2.json" >big.json
printf 'Hello<|big|>world' >big.txt
begin "vocab of 70001 ids: v7 uint32 shard"
expect_exit 0 "$TOK" --tokenizer big.json --out big/b big.txt
check "magic 20240801, version 7" [ "$(header big/b_train_000000.bin | cut -d' ' -f1-2)" = "20240801 7" ]
check "id 70000 kept whole" grep -q '^70000$' "$(tokens big/b_train_000000.bin >big.ids; echo big.ids)"
assert_contains "$ERR" "uint32"

# ---- output that exists ---------------------------------------------------------------------
begin "existing shards refused without --force"
# shellcheck disable=SC2086
expect_exit 2 "$TOK" $G --out small/m many.jsonl
assert_one_line "$ERR"
assert_contains "$ERR" "small/m_train_000000.bin: exists"
begin "--force replaces them and removes the stale higher-numbered ones"
# shellcheck disable=SC2086
expect_exit 0 "$TOK" $G --out small/m --force many.jsonl
check "one shard left" [ "$(find small -type f | wc -l)" -eq 1 ]
check "= the one-shard run" cmp -s small/m_train_000000.bin one/m_train_000000.bin

# ---- bad input: one line naming it, exit 2, nothing written ---------------------------------
refused() { # refused WHAT TEXT CMD...: exit 2, one line containing TEXT, nothing under bad/
    what=$1; text=$2; shift 2
    begin "$what"
    rm -rf bad
    expect_exit 2 "$@"
    assert_one_line "$ERR"
    assert_contains "$ERR" "$text"
    nothing_written bad
}
printf '{"model": {"type": "WordPiece", "vocab": {}}}' >wp.json
head -c 5000 "$FIX/gpt2.json" >cut.json
mkdir -p nodir
refused "missing tokenizer.json" "nosuch/tokenizer.json" "$TOK" --tokenizer nosuch/tokenizer.json --out bad/x c.jsonl
refused "directory without tokenizer.json" "nodir/tokenizer.json" "$TOK" --tokenizer nodir --out bad/x c.jsonl
refused "truncated tokenizer.json" "cut.json:1:" "$TOK" --tokenizer cut.json --out bad/x c.jsonl
refused "WordPiece refused naming model.type" "model.type" "$TOK" --tokenizer wp.json --out bad/x c.jsonl
# shellcheck disable=SC2086
refused "unreadable input" "nosuch.jsonl: cannot open" "$TOK" $G --out bad/x c.jsonl nosuch.jsonl
printf '{"text": "fine"}\n{"text": "fine too"}\n{"text": broken\n{"text": "after"}\n' >badline.jsonl
# shellcheck disable=SC2086
refused "a line that is not JSON: file:line" "badline.jsonl:3: not JSON" "$TOK" $G --out bad/x badline.jsonl
printf '{"text": "fine"}\n{"body": "no text"}\n' >nofield.jsonl
# shellcheck disable=SC2086
refused "a line without the field" "nofield.jsonl:2: no \"text\" field" "$TOK" $G --out bad/x nofield.jsonl
# shellcheck disable=SC2086
refused "--field names another member" "c.jsonl:1: no \"body\" field" "$TOK" $G --field body --out bad/x c.jsonl
printf '{"text": 42}\n' >num.jsonl
# shellcheck disable=SC2086
refused "a field that is not a string" "num.jsonl:1: \"text\" is not a string" "$TOK" $G --out bad/x num.jsonl
# A gzip stream with its middle overwritten, and a zstd stream cut short.
{ head -c 2000 big.jsonl.gz; head -c 500 /dev/zero; tail -c +2501 big.jsonl.gz; } >corrupt.jsonl.gz
# shellcheck disable=SC2086
refused "corrupt gzip" "corrupt.jsonl.gz: corrupt gzip data" "$TOK" $G --out bad/x corrupt.jsonl.gz
head -c 100 c.jsonl.zst >cut.jsonl.zst
# shellcheck disable=SC2086
refused "truncated zstd" "cut.jsonl.zst: truncated zstd stream" "$TOK" $G --out bad/x cut.jsonl.zst
# shellcheck disable=SC2086
refused "bad --val-fraction" "--val-fraction" "$TOK" $G --val-fraction 1.5 --out bad/x c.jsonl
# shellcheck disable=SC2086
refused "no input" "no input" "$TOK" $G --out bad/x

begin "--skip-bad counts the bad lines and goes on"
# shellcheck disable=SC2086
expect_exit 0 "$TOK" --tokenizer "$FIX/gpt2.json" --skip-bad --out skip/x badline.jsonl nofield.jsonl
assert_contains "$ERR" "tokenized 4 documents (0 empty, 2 bad lines skipped)"

# ---- a write that fails (file size limit, as a full disk would): nothing left ---------------
begin "write failure: exit 1, no shard and no temporary file left"
mkdir -p full
(trap '' XFSZ; ulimit -f 8; exec "$TOK" --tokenizer "$FIX/gpt2.json" -q --out full/x big.jsonl.gz) >"$OUT" 2>"$ERR"
rc=$?
check "exit 1 (got $rc)" [ "$rc" -eq 1 ]
assert_contains "$ERR" "write failed"
nothing_written full

# ---- the trainer accepts the shards ---------------------------------------------------------
begin "picotron-train trains 3 steps on tokenized shards (vocab 1200)"
expect_exit 0 "$TOK" --tokenizer "$FIX/smollm.json" --out data/s --val-fraction 0.1 big.jsonl.gz
expect_exit 0 "$TRAIN" --config "$TINY" --set logging.run_dir="$RUN" --steps 3 \
    --set model.vocab_size=1200 --set dataset.name="$TMP/data/s_train_*.bin" \
    --set logging.log_frequency=1 --no-metrics
check "3 step lines" [ "$(grep -c '^step ' "$OUT")" -eq 3 ]
# The loss of an untrained model is near ln(1200) = 7.09 (uniform guess).
l1=$(step_field "$OUT" 1 loss)
check "step 1 loss $l1 near ln(1200)" awk -v l="$l1" 'BEGIN { exit !(l > 6.5 && l < 7.7) }'

finish
