#!/usr/bin/python3
# make_golden.py: write the PyTorch golden fixtures tests/fixtures/golden_{untied,tied}.ptfx
# (weights, inputs, logits, loss, gradients and five AdamW steps of a tiny Llama; format and
# contents in docs/fixtures.md). Run from the repository root with Debian's python:
#     /usr/bin/python3 scripts/make_golden.py
# Needs torch and numpy only (no transformers). Made with torch 1.13.0a0, numpy 1.24.2.
# Deterministic: fixed seeds, float64 math, so rerunning gives the same files.
import math
import os
import struct
import sys

import numpy as np
import torch

V, L, C, H, K, F, T, B = 256, 2, 64, 4, 2, 128, 32, 4
D = C // H
ROPE_THETA, RMS_EPS = 10000.0, 1e-5
PEAK_LR, MIN_LR, WARMUP, TOTAL = 1e-2, 1e-3, 2, 5
BETA1, BETA2, ADAM_EPS, WEIGHT_DECAY, GRAD_CLIP = 0.9, 0.95, 1e-8, 0.1, 1.0

DT_F32, DT_I32, DT_F64 = 0, 1, 2
NP_DTYPE = {DT_F32: "<f4", DT_I32: "<i4", DT_F64: "<f8"}


def weight_names(tied):
    """HF names and shapes of every weight, in the order they are stored."""
    names = [("model.embed_tokens.weight", (V, C))]
    for i in range(L):
        p = f"model.layers.{i}."
        names += [
            (p + "input_layernorm.weight", (C,)),
            (p + "self_attn.q_proj.weight", (H * D, C)),
            (p + "self_attn.k_proj.weight", (K * D, C)),
            (p + "self_attn.v_proj.weight", (K * D, C)),
            (p + "self_attn.o_proj.weight", (C, H * D)),
            (p + "post_attention_layernorm.weight", (C,)),
            (p + "mlp.gate_proj.weight", (F, C)),
            (p + "mlp.up_proj.weight", (F, C)),
            (p + "mlp.down_proj.weight", (C, F)),
        ]
    names.append(("model.norm.weight", (C,)))
    if not tied:
        names.append(("lm_head.weight", (V, C)))
    return names


def is_norm(name):
    return name.endswith("layernorm.weight") or name == "model.norm.weight"


def init_weights(tied, gen):
    """float32 draws widened to float64, so the stored fp32 values are exactly the model."""
    params = {}
    for name, shape in weight_names(tied):
        if is_norm(name):
            w = 1.0 + 0.1 * torch.randn(shape, generator=gen, dtype=torch.float32)
        else:
            std = 0.08 if ("q_proj" in name or "k_proj" in name) else 0.02
            w = std * torch.randn(shape, generator=gen, dtype=torch.float32)
        params[name] = w.to(torch.float64).requires_grad_(True)
    return params


def rmsnorm(x, w):
    return w * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + RMS_EPS)


def rotate_half(x):
    return torch.cat((-x[..., D // 2:], x[..., :D // 2]), dim=-1)


def rope_cos_sin():
    inv_freq = 1.0 / ROPE_THETA ** (torch.arange(0, D, 2, dtype=torch.float64) / D)
    angles = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]  # (T, D/2)
    emb = torch.cat((angles, angles), dim=-1)                                     # (T, D)
    return emb.cos(), emb.sin()


def attention(x, p, cos, sin):
    q = (x @ p["self_attn.q_proj.weight"].T).view(B, T, H, D).transpose(1, 2)  # (B, H, T, D)
    k = (x @ p["self_attn.k_proj.weight"].T).view(B, T, K, D).transpose(1, 2)  # (B, K, T, D)
    v = (x @ p["self_attn.v_proj.weight"].T).view(B, T, K, D).transpose(1, 2)  # (B, K, T, D)
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    k = k.repeat_interleave(H // K, dim=1)  # head h uses kv head h // (H/K)
    v = v.repeat_interleave(H // K, dim=1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(D)                           # (B, H, T, T)
    causal = torch.ones(T, T, dtype=torch.bool).triu(1)
    scores = scores.masked_fill(causal, float("-inf"))
    out = scores.softmax(-1) @ v                                              # (B, H, T, D)
    out = out.transpose(1, 2).reshape(B, T, H * D)
    return out @ p["self_attn.o_proj.weight"].T


def forward(params, ids, targets, tied):
    """Returns (logits (B, T, V), mean cross-entropy) in float64."""
    cos, sin = rope_cos_sin()
    x = params["model.embed_tokens.weight"][ids]                              # (B, T, C)
    for i in range(L):
        p = {n[len(f"model.layers.{i}."):]: w for n, w in params.items()
             if n.startswith(f"model.layers.{i}.")}
        h = x + attention(rmsnorm(x, p["input_layernorm.weight"]), p, cos, sin)
        n = rmsnorm(h, p["post_attention_layernorm.weight"])
        gate = n @ p["mlp.gate_proj.weight"].T
        up = n @ p["mlp.up_proj.weight"].T
        x = h + (torch.nn.functional.silu(gate) * up) @ p["mlp.down_proj.weight"].T
    head = params["model.embed_tokens.weight" if tied else "lm_head.weight"]
    logits = rmsnorm(x, params["model.norm.weight"]) @ head.T
    loss = torch.nn.functional.cross_entropy(logits.view(B * T, V), targets.view(B * T))
    return logits, loss


def lr_at(s):
    if s < WARMUP:
        return PEAK_LR * (s + 1) / WARMUP
    frac = (s - WARMUP) / (TOTAL - WARMUP)
    return MIN_LR + 0.5 * (PEAK_LR - MIN_LR) * (1.0 + math.cos(math.pi * frac))


def f32(t):
    return t.detach().to(torch.float32).numpy()


def build(tied):
    """All records of one fixture, as a list of (name, dtype, numpy array)."""
    gen = torch.Generator().manual_seed(1234 + int(tied))
    seq = torch.randint(0, V, (B, T + 1), generator=gen)
    ids, targets = seq[:, :-1].contiguous(), seq[:, 1:].contiguous()
    params = init_weights(tied, gen)
    names = [n for n, _ in weight_names(tied)]

    recs = [
        ("config", DT_I32, np.array([V, L, C, H, K, F, T, B, int(tied)])),
        ("config_f64", DT_F64, np.array([ROPE_THETA, RMS_EPS])),
        ("ids", DT_I32, ids.numpy()),
        ("targets", DT_I32, targets.numpy()),
    ]
    recs += [(n, DT_F32, f32(params[n])) for n in names]

    logits, loss = forward(params, ids, targets, tied)
    loss.backward()
    recs.append(("logits", DT_F32, f32(logits)))
    recs.append(("loss", DT_F64, np.array([loss.item()])))
    recs += [("grad." + n, DT_F32, f32(params[n].grad)) for n in names]

    plist = [params[n] for n in names]
    opt = torch.optim.AdamW(
        [{"params": [params[n] for n in names if not is_norm(n)], "weight_decay": WEIGHT_DECAY},
         {"params": [params[n] for n in names if is_norm(n)], "weight_decay": 0.0}],
        lr=PEAK_LR, betas=(BETA1, BETA2), eps=ADAM_EPS)
    losses, norms, lrs = [], [], []
    for s in range(TOTAL):
        opt.zero_grad(set_to_none=True)
        _, loss = forward(params, ids, targets, tied)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(plist, GRAD_CLIP)
        for g in opt.param_groups:
            g["lr"] = lr_at(s)
        opt.step()
        losses.append(loss.item())
        norms.append(norm.item())
        lrs.append(lr_at(s))
    recs += [
        ("adam.hparams", DT_F64, np.array([PEAK_LR, MIN_LR, WARMUP, TOTAL, BETA1, BETA2,
                                           ADAM_EPS, WEIGHT_DECAY, GRAD_CLIP])),
        ("adam.loss", DT_F64, np.array(losses)),
        ("adam.grad_norm", DT_F64, np.array(norms)),
        ("adam.lr", DT_F64, np.array(lrs)),
    ]
    recs += [("final." + n, DT_F32, f32(params[n])) for n in names]
    return recs


def write_ptfx(path, recs):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"PTFX0001")
        f.write(struct.pack("<I", len(recs)))
        for name, dtype, arr in recs:
            arr = np.ascontiguousarray(arr, dtype=NP_DTYPE[dtype])
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb)
            f.write(struct.pack("<II", dtype, arr.ndim))
            f.write(struct.pack(f"<{arr.ndim}q", *arr.shape))
            f.write(arr.tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    outdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
    os.makedirs(outdir, exist_ok=True)
    for tied in (False, True):
        recs = build(tied)
        losses = dict((n, a) for n, _, a in recs)["adam.loss"]
        if not (abs(losses[0] - math.log(V)) < 0.1 and all(np.diff(losses) < 0)):
            sys.exit(f"make_golden: implausible losses {losses} (want ~ln V, falling)")
        path = os.path.join(outdir, f"golden_{'tied' if tied else 'untied'}.ptfx")
        write_ptfx(path, recs)
        print(f"{os.path.normpath(path)}: {len(recs)} records, {os.path.getsize(path)} bytes, "
              f"losses {' '.join(f'{x:.6f}' for x in losses)}", file=sys.stderr)


if __name__ == "__main__":
    main()
