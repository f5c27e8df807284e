#!/usr/bin/env python3
# make_hf_fixture.py: write tests/fixtures/hf/{gqa_untied,tied,tied_bf16}/ — tiny random
# LlamaForCausalLM models saved by transformers' own save_pretrained (config.json +
# model.safetensors), plus expected.ptfx with the logits and loss transformers computes on fixed
# tokens (format: docs/fixtures.md; contents: docs/convert-hf.md) and those tokens as an llm.c
# shard, stream.bin. CI never runs this; the output is committed. Run from the repository root in a venv that sees Debian's torch:
#     /usr/bin/python3 -m venv --system-site-packages /tmp/hfenv
#     /tmp/hfenv/bin/pip install 'transformers==4.36.2' 'safetensors==0.8.0'
#     /tmp/hfenv/bin/python scripts/make_hf_fixture.py
# Made with torch 1.13.0a0 (Debian python3-torch), transformers 4.36.2, safetensors 0.8.0,
# numpy 1.24.2. Deterministic (fixed seeds).
import math
import os
import shutil
import struct
import sys

import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

B, T = 2, 32
DT_F32, DT_I32, DT_F64 = 0, 1, 2
NP_DTYPE = {DT_F32: "<f4", DT_I32: "<i4", DT_F64: "<f8"}

MODELS = {
    # name: (vocab, kv heads, tied, save dtype)
    "gqa_untied": (300, 2, False, torch.float32),
    "tied": (256, 4, True, torch.float32),
    "tied_bf16": (256, 4, True, torch.bfloat16),
}


def make_model(V, K, tied, seed):
    cfg = LlamaConfig(vocab_size=V, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=K, max_position_embeddings=64,
                      rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=tied)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg).eval()
    # HF's init leaves every RMSNorm weight at 1 and attention nearly uniform: perturb both so a
    # misplaced norm weight or a wrong RoPE half shows in the logits.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            elif "q_proj" in name or "k_proj" in name:
                p.copy_(0.08 * torch.randn_like(p))
    return model


def write_ptfx(path, recs):
    with open(path, "wb") as f:
        f.write(b"PTFX0001")
        f.write(struct.pack("<I", len(recs)))
        for name, dtype, arr in recs:
            arr = np.ascontiguousarray(arr, dtype=NP_DTYPE[dtype])
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb)
            f.write(struct.pack("<II", dtype, arr.ndim))
            f.write(struct.pack(f"<{arr.ndim}q", *arr.shape))
            f.write(arr.tobytes())


def write_shard(path, tokens):
    """llm.c token shard: 256 × int32 header (magic 20240520, version 1, count), uint16 tokens."""
    header = np.zeros(256, dtype="<i4")
    header[:3] = (20240520, 1, len(tokens))
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(tokens.astype("<u2").tobytes())


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "hf")
    for i, (name, (V, K, tied, dtype)) in enumerate(MODELS.items()):
        model = make_model(V, K, tied, 1000 + (i if dtype == torch.float32 else i - 1))
        model = model.to(dtype)
        out = os.path.join(root, name)
        shutil.rmtree(out, ignore_errors=True)
        model.save_pretrained(out, safe_serialization=True)
        # One token stream of B·T + 1 tokens cut into B overlapping windows of T + 1, so the
        # same batch is picotron's samples 0 … B−1 of stream.bin (an llm.c shard).
        gen = torch.Generator().manual_seed(77 + i)
        stream = torch.randint(0, V, (B * T + 1,), generator=gen)
        seq = torch.stack([stream[b * T:b * T + T + 1] for b in range(B)])
        write_shard(os.path.join(out, "stream.bin"), stream.numpy())
        # Reference: transformers' own forward in float64 on the saved weights (bf16 ones
        # widened exactly), loss from its labels path (shifted inside the model).
        # (torch 1.13 builds the causal mask in the default dtype: make that float64 too.)
        torch.set_default_dtype(torch.float64)
        ref = LlamaForCausalLM.from_pretrained(out, torch_dtype=torch.float64).eval()
        with torch.no_grad():
            res = ref(seq, labels=seq)
        torch.set_default_dtype(torch.float32)
        logits = res.logits[:, :T].to(torch.float32).numpy()
        loss = float(res.loss)
        if abs(loss - math.log(V)) > 0.5:
            sys.exit(f"make_hf_fixture: {name}: implausible loss {loss} (want ~ln {V})")
        write_ptfx(os.path.join(out, "expected.ptfx"), [
            ("ids", DT_I32, seq[:, :-1].numpy()),
            ("targets", DT_I32, seq[:, 1:].numpy()),
            ("logits", DT_F32, logits),
            ("loss", DT_F64, np.array([loss])),
        ])
        for f in os.listdir(out):  # safetensors writes 0600
            os.chmod(os.path.join(out, f), 0o644)
        # The same forward in float32, to size the C tolerance against.
        ref32 = LlamaForCausalLM.from_pretrained(out, torch_dtype=torch.float32).eval()
        with torch.no_grad():
            r32 = ref32(seq, labels=seq)
        l32 = r32.logits[:, :T].numpy()
        rel = np.linalg.norm(l32 - logits) / np.linalg.norm(logits)
        print(f"{name}: V={V} K={K} tied={tied} {dtype}: loss {loss:.8f}; torch fp32 vs fp64: "
              f"logits rel {rel:.3g}, loss abs {abs(float(r32.loss) - loss):.3g}", file=sys.stderr)


if __name__ == "__main__":
    main()
