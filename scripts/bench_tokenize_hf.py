#!/usr/bin/env python3
# bench_tokenize_hf.py TOKENIZER_JSON CORPUS_JSONL THREADS: the peer measurement for
# scripts/bench-tokenize — Hugging Face `tokenizers` (Rust) encoding the same documents with
# encode_batch (add_special_tokens=False) on THREADS threads (RAYON_NUM_THREADS, set before
# the import). Times the encoding only (JSON parsing and file writing excluded, which
# picotron-tokenize's own time includes), best of 3. Prints "MB/s tokens/s tokens". Never part of make check.
import json
import os
import sys
import time

os.environ["RAYON_NUM_THREADS"] = sys.argv[3]
from tokenizers import Tokenizer  # noqa: E402

tok = Tokenizer.from_file(sys.argv[1])
with open(sys.argv[2], encoding="utf-8") as f:
    docs = [json.loads(line)["text"] for line in f if line.strip()]
nbytes = sum(len(d.encode("utf-8")) for d in docs)
best = None
for _ in range(3):
    t0 = time.perf_counter()
    ntok = 0
    for i in range(0, len(docs), 1024):
        ntok += sum(len(e.ids) for e in tok.encode_batch(docs[i:i + 1024], add_special_tokens=False))
    dt = time.perf_counter() - t0
    best = dt if best is None or dt < best else best
print("%.2f %.0f %d" % (nbytes / 1e6 / best, ntok / best, ntok))
