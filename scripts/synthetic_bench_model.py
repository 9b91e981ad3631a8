#!/usr/bin/env python3
"""Write a GGUF file with the shapes and tensor types of a known model and random weights,
for speed figures where the real file is not at hand (scripts/gpu_check.sh).

    python3 scripts/synthetic_bench_model.py qwen2.5-1.5b-q4_k_m /tmp/qwen.gguf
    python3 scripts/synthetic_bench_model.py gemma3-270m-q4_k_m /tmp/gemma.gguf

The blocks are random bytes in each type's layout with their scales set so that weights
come out around 0.02 (the activations stay finite through every layer); every tensor has
the type llama.cpp's Q4_K_M gives it in the real file (Q6_K for attn_v and ffn_down in the
layers llama.cpp's use_more_bits picks, and so on), so a token reads the same bytes as
with the real model. No tokenizer: `pyggml bench` needs none. Takes a few seconds and
about twice the file's size in memory.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from gguf import GGMLQuantizationType as QT
from gguf import GGUFWriter

# bytes per block, values per block, and where the float16 scales sit with their magnitude
BLOCKS = {
    QT.Q4_K: (144, 256, [(0, 1e-4), (2, 1e-4)]),   # d, dmin: d * sc * q - dmin * m, sc, m, q < 64, 64, 16
    QT.Q6_K: (210, 256, [(208, 1e-5)]),             # d: d * sc * (q - 32), sc int8
    QT.Q5_0: (22, 32, [(0, 1.5e-3)]),               # d: d * (q - 16)
    QT.Q8_0: (34, 32, [(0, 2e-4)]),                 # d: d * q, q int8
    QT.Q4_0: (18, 32, [(0, 3e-3)]),                 # d: d * (q - 8)
    QT.Q5_K: (176, 256, [(0, 5e-5), (2, 5e-5)]),    # d, dmin: d * sc * q - dmin * m, q < 32
}

MODELS = {
    # Qwen2.5-Coder-1.5B-Instruct Q4_K_M: 28 blocks, 12 heads of 128 (2 kv), biases on q/k/v,
    # a separate Q6_K output matrix, a Q4_K token embedding
    "qwen2.5-1.5b-q4_k_m": dict(
        arch="qwen2", n_layer=28, n_embd=1536, n_head=12, n_head_kv=2, head_dim=128, n_ff=8960, n_vocab=151936,
        rope_base=1_000_000.0, eps=1e-6, ctx=32768, embd=QT.Q4_K, output=QT.Q6_K,
        q=QT.Q4_K, k=QT.Q4_K, v=(QT.Q4_K, QT.Q6_K), o=QT.Q4_K, gate=QT.Q4_K, up=QT.Q4_K, down=(QT.Q4_K, QT.Q6_K),
    ),
    # Gemma 3 270M Q4_K_M: 18 blocks, 4 heads of 256 (1 kv), q/k norms and post norms, a
    # sliding window of 512 on five of every six blocks, the Q8_0 token embedding as the head
    "gemma3-270m-q4_k_m": dict(
        arch="gemma3", n_layer=18, n_embd=640, n_head=4, n_head_kv=1, head_dim=256, n_ff=2048, n_vocab=262144,
        rope_base=1_000_000.0, eps=1e-6, ctx=32768, embd=QT.Q8_0, output=None,
        q=QT.Q5_0, k=QT.Q5_0, v=(QT.Q5_0, QT.Q8_0), o=QT.Q4_K, gate=QT.Q5_0, up=QT.Q5_0, down=(QT.Q4_K, QT.Q6_K),
    ),
}


def use_more_bits(il: int, n_layer: int) -> bool:
    """llama.cpp's choice of the blocks whose attn_v and ffn_down get the larger type."""
    return il < n_layer // 8 or il >= 7 * n_layer // 8 or (il - n_layer // 8) % 3 == 2


def random_matrix(rng, qtype, n_rows, n_cols):
    block_bytes, block_values, scales = BLOCKS[qtype]
    if n_cols % block_values:
        raise ValueError(f"{qtype.name}: {n_cols} columns are not whole blocks")
    n_blocks = n_rows * n_cols // block_values
    raw = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    for offset, magnitude in scales:
        d = (magnitude * (0.5 + rng.random(n_blocks))).astype(np.float16)
        raw[:, offset:offset + 2] = d.view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(n_rows, n_cols // block_values * block_bytes)


def write(name: str, path: str, seed: int = 0) -> None:
    s = MODELS[name]
    rng = np.random.default_rng(seed)
    arch, L, E, hd = s["arch"], s["n_layer"], s["n_embd"], s["head_dim"]
    q_dim, kv_dim = s["n_head"] * hd, s["n_head_kv"] * hd
    w = GGUFWriter(path, arch)
    w.add_name(f"synthetic {name}")
    w.add_context_length(s["ctx"])
    w.add_embedding_length(E)
    w.add_block_count(L)
    w.add_feed_forward_length(s["n_ff"])
    w.add_head_count(s["n_head"])
    w.add_head_count_kv(s["n_head_kv"])
    w.add_key_length(hd)
    w.add_value_length(hd)
    w.add_rope_freq_base(s["rope_base"])
    w.add_layer_norm_rms_eps(s["eps"])
    w.add_vocab_size(s["n_vocab"])
    if arch == "gemma3":
        w.add_sliding_window(512)

    def mat(tname, qtype, n_in, n_out):
        w.add_tensor(tname, random_matrix(rng, qtype, n_out, n_in), raw_dtype=qtype)

    def vec(tname, n, center=1.0, spread=0.05):
        w.add_tensor(tname, (center + spread * rng.standard_normal(n)).astype(np.float32))

    def pick(t, il):
        return t[1] if isinstance(t, tuple) and use_more_bits(il, L) else (t[0] if isinstance(t, tuple) else t)

    mat("token_embd.weight", s["embd"], E, s["n_vocab"])
    for il in range(L):
        p = f"blk.{il}."
        vec(p + "attn_norm.weight", E)
        mat(p + "attn_q.weight", pick(s["q"], il), E, q_dim)
        mat(p + "attn_k.weight", pick(s["k"], il), E, kv_dim)
        mat(p + "attn_v.weight", pick(s["v"], il), E, kv_dim)
        mat(p + "attn_output.weight", pick(s["o"], il), q_dim, E)
        if arch == "qwen2":
            vec(p + "attn_q.bias", q_dim, 0.0, 0.1)
            vec(p + "attn_k.bias", kv_dim, 0.0, 0.1)
            vec(p + "attn_v.bias", kv_dim, 0.0, 0.1)
        if arch == "gemma3":
            vec(p + "attn_q_norm.weight", hd)
            vec(p + "attn_k_norm.weight", hd)
            vec(p + "post_attention_norm.weight", E)
            vec(p + "post_ffw_norm.weight", E)
        vec(p + "ffn_norm.weight", E)
        mat(p + "ffn_gate.weight", pick(s["gate"], il), E, s["n_ff"])
        mat(p + "ffn_up.weight", pick(s["up"], il), E, s["n_ff"])
        mat(p + "ffn_down.weight", pick(s["down"], il), s["n_ff"], E)
    vec("output_norm.weight", E)
    if s["output"] is not None:
        mat("output.weight", s["output"], E, s["n_vocab"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", choices=sorted(MODELS))
    ap.add_argument("path")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    write(args.model, args.path, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
