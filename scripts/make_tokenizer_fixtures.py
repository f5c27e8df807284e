#!/usr/bin/env python3
# make_tokenizer_fixtures.py: write tests/fixtures/tokenizer/ — one small tokenizer.json per
# family picotron-tokenize supports, trained here by Hugging Face `tokenizers` on the English
# text of Debian's fortunes-min package plus the multilingual lines below, a deliberately nasty
# test corpus (docs.bin), and for each tokenizer the ids and the decoded text `tokenizers`
# gives for every document (NAME.ids, NAME.decoded). llama2ms is llama2's model in the
# Metaspace layout of newer conversions; gpt2nfkc and gpt2nfd are gpt2's behind a Unicode
# normalizer. tests/unit/test_tokenizer.c compares
# picotron's C tokenizer with them byte for byte. CI never runs this; the output is committed.
#     pip install 'tokenizers==0.23.3'
#     python3 scripts/make_tokenizer_fixtures.py
# Training may break ties between equally frequent pairs differently from run to run, so a
# rerun can change a tokenizer; each run writes one consistent set (JSON, ids, decoded text).
# Formats (all written by this script, read by tests/unit/test_tokenizer.c):
#   docs.bin      per document: its byte length in decimal, "\n", the raw bytes, "\n"
#   NAME.ids      one line per document: the ids of encode(text, add_special_tokens=False)
#   NAME.decoded  docs.bin's framing: decode(ids, skip_special_tokens=False) as UTF-8
# A document's bytes go to `tokenizers` as bytes.decode("utf-8", errors="replace"): invalid
# UTF-8 becomes U+FFFD by maximal subparts, the rule picotron applies too (docs/tokenize.md).
import json
import os
import sys

import tokenizers
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

OUT = "tests/fixtures/tokenizer"
FORTUNES = "/usr/share/games/fortunes"
GPT2_REGEX = (r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
LLAMA3_REGEX = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"""
                r""" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")

# Extra training text so merges exist beyond English (each line a document).
MULTILINGUAL = [
    "Le café est très bon, n'est-ce pas ? Où est la bibliothèque ?",
    "Größere Straßen führen über die Brücke; Übermäßig schön.",
    "Привет, как дела? Москва — столица России.",
    "東京は日本の首都です。今日は良い天気ですね。",
    "北京是中国的首都。我们今天去公园散步。",
    "서울은 대한민국의 수도입니다.",
    "مرحبا بالعالم، كيف حالك اليوم؟",
    "नमस्ते दुनिया, आप कैसे हैं?",
    "Καλημέρα κόσμε, τι κάνεις;",
    "def main(argc, argv):\n    return 0  # exit code\n\tif x == 42: print(x)",
    "for (int i = 0; i < n; i++) { sum += a[i] * 3.14159; }",
    "2024-05-20 12:34:56 1234567890 3,141.59 0xDEADBEEF",
]

# The conformance corpus: bytes, so invalid UTF-8 can be in it.
DOCS = [
    b"Hello, world! This is a test.",
    b"",
    b" ",
    b"   leading and trailing spaces   ",
    b"tabs\tand\t\tmore\ttabs\t",
    b"newlines\n\nand\r\nwindows\r\n\n\n  indented\n",
    b"I'm sure they'll say it's what we've done, I'd think. DON'T SHOUT, YOU'RE LOUD",
    b"Numbers: 0 7 42 123 1234 12345 1234567890 3.14159 -273.15 1e10 1,000,000",
    "Unicode: café naïve résumé Zürich São Paulo Ελληνικά Русский".encode(),
    "CJK: 東京は日本の首都です。北京是中国的首都。서울은 수도입니다.".encode(),
    "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🇫🇷 and text 🤖🤖🤖".encode(),
    "Combining: e\u0301 a\u0308 n\u0303 \u0915\u093f \u05e9\u05c1\u05b8 Z\u0351\u0361\u0300".encode(),
    "Arabic: مرحبا بالعالم Hindi: नमस्ते Thai: สวัสดีครับ".encode(),
    b"code:\n    def f(x):\n        return x**2  # square\n\tint main(void) { return 0; }\n",
    b"special <|endoftext|> tokens <s> and </s> in <|begin_of_text|> text<|end_of_text|>!",
    b"<|endoftext|>",
    b"a" * 3000,
    b"Supercalifragilisticexpialidocious" * 40 + b" pneumonoultramicroscopicsilicovolcanoconiosis",
    b"invalid utf8: \xff\xfe bytes \xc3\x28 overlong \xc0\xaf surrogate \xed\xa0\x80 trunc \xe2\x82",
    b"\xf0\x9f\x98",
    b"mixed\x00nul\x01control\x7f bytes",
    "Spaces\u00a0non-breaking\u2003em\u3000ideographic\u200bzero-width".encode(),
    b"punctuation!!! ??? ... --- *** ((())) [[]] {{}} @#$%^&*",
    "   \n   \n\t \u00a0 ".encode(),
    b"URL: https://example.com/path?query=1&x=y#frag user@example.org",
    "Mathematical: ∑ᵢ xᵢ² ≤ ∞, ∀ε>0 ∃δ, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟘𝟙𝟚".encode(),
    "ﬁ ligature, Ⅻ roman, ① circled, ｆｕｌｌｗｉｄｔｈ".encode(),
]


def training_text():
    docs = []
    for name in ("fortunes", "literature", "riddles"):
        with open(os.path.join(FORTUNES, name), encoding="utf-8") as f:
            docs.extend(d.strip() for d in f.read().split("\n%\n") if d.strip())
    return docs + MULTILINGUAL * 20


def byte_level(regex, individual_digits, vocab_size, specials):
    """GPT-2 / SmolLM (ByteLevel with its built-in GPT-2 regex, Digits first when
    individual_digits) or Llama-3 (a Split with LLAMA3_REGEX, then ByteLevel without regex)."""
    tok = Tokenizer(models.BPE())
    if regex is None:
        pre = [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
        if individual_digits:
            pre.insert(0, pre_tokenizers.Digits(individual_digits=True))
    else:
        pre = [pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
               pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    tok.pre_tokenizer = pre[0] if len(pre) == 1 else pre_tokenizers.Sequence(pre)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(training_text(), trainer)
    return tok


def sentencepiece_bpe(vocab_size):
    """Llama-2 / TinyLlama: <unk> <s> </s>, the 256 <0xXX> byte tokens, then pieces; the
    Prepend + Replace normaliser, no pre-tokenizer, byte fallback. Trained with a Metaspace
    pre-tokenizer (a BPE trainer needs words), then rewritten into the Llama-2 layout."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    specials = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  limit_alphabet=200, show_progress=False)
    tok.train_from_iterator(training_text(), trainer)
    j = json.loads(tok.to_str())
    j["added_tokens"] = [t for t in j["added_tokens"] if t["content"] in ("<unk>", "<s>", "</s>")]
    for t in j["added_tokens"]:
        t["normalized"] = False
    j["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
    j["pre_tokenizer"] = None
    j["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    # Llama-2's template: <s> before the text.
    j["post_processor"] = template("<s>", 1, None, None)
    # Llama-2's tokenizer.json keeps merges as "a b" strings (older format): test that form.
    j["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m
                            for m in j["model"]["merges"]]
    return Tokenizer.from_str(json.dumps(j, ensure_ascii=False))


def metaspace_layout(tok):
    """The same Llama-2-style model as converted by newer transformers (legacy=False): no
    normalizer, a Metaspace pre-tokenizer that prepends "▁" to the first segment only."""
    j = json.loads(tok.to_str())
    j["normalizer"] = None
    j["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581",
                          "prepend_scheme": "first", "split": False}
    return Tokenizer.from_str(json.dumps(j, ensure_ascii=False))


def with_normalizer(tok, normalizer):
    """The same model behind a Unicode normalizer (NFKC, NFD): the utf8proc path."""
    j = json.loads(tok.to_str())
    j["normalizer"] = {"type": normalizer}
    return Tokenizer.from_str(json.dumps(j, ensure_ascii=False))


def template(bos, bos_id, eos, eos_id):
    single = [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]
    special = {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}}
    if eos:
        single.append({"SpecialToken": {"id": eos, "type_id": 0}})
        special[eos] = {"id": eos, "ids": [eos_id], "tokens": [eos]}
    return {"type": "TemplateProcessing", "single": single,
            "pair": single + [{"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": special}


def llama3_layout(tok):
    """Llama-3's model settings: ignore_merges (a word found whole in the vocab is one token)
    and the <|begin_of_text|> template. (Real Llama-3 has 128256 ids, so its shards are
    uint32; tests/e2e/test_tokenize.sh covers a vocab past 65536 without a large fixture.)"""
    j = json.loads(tok.to_str())
    j["model"]["ignore_merges"] = True
    bos = tok.token_to_id("<|begin_of_text|>")
    j["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        template("<|begin_of_text|>", bos, None, None)]}
    return Tokenizer.from_str(json.dumps(j, ensure_ascii=False))


def write_framed(path, items):
    with open(path, "wb") as f:
        for b in items:
            f.write(b"%d\n" % len(b) + b + b"\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    toks = {
        "gpt2": byte_level(None, False, 1200, ["<|endoftext|>"]),
        "smollm": byte_level(None, True, 1200, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]),
        "llama3": llama3_layout(byte_level(LLAMA3_REGEX, False, 1200,
                                           ["<|begin_of_text|>", "<|end_of_text|>"])),
        "llama2": sentencepiece_bpe(1200),
    }
    toks["llama2ms"] = metaspace_layout(toks["llama2"])
    toks["gpt2nfkc"] = with_normalizer(toks["gpt2"], "NFKC")
    toks["gpt2nfd"] = with_normalizer(toks["gpt2"], "NFD")
    write_framed(os.path.join(OUT, "docs.bin"), DOCS)
    for name, tok in toks.items():
        tok.save(os.path.join(OUT, name + ".json"), pretty=False)
        # Reload from the file: the ids must be those of the committed JSON.
        tok = Tokenizer.from_file(os.path.join(OUT, name + ".json"))
        lines, decoded = [], []
        for d in DOCS:
            ids = tok.encode(d.decode("utf-8", errors="replace"), add_special_tokens=False).ids
            lines.append(" ".join(map(str, ids)))
            decoded.append(tok.decode(ids, skip_special_tokens=False).encode("utf-8"))
        with open(os.path.join(OUT, name + ".ids"), "w") as f:
            f.write("\n".join(lines) + "\n")
        write_framed(os.path.join(OUT, name + ".decoded"), decoded)
        print("%s: vocab %d, %d ids" % (name, tok.get_vocab_size(),
                                         sum(len(x.split()) for x in lines)), file=sys.stderr)
    print("tokenizers %s" % tokenizers.__version__, file=sys.stderr)


if __name__ == "__main__":
    main()
