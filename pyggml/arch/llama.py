"""Llama: the plain pre-norm decoder the others are described against (RMSNorm, rotary
position embeddings on interleaved pairs, SiLU-gated feed-forward, grouped-query attention).
Its Hugging Face Q and K rows are permuted from rotate-half pairs when converted; Llama 3
rope scaling becomes a rope_freqs tensor."""

from __future__ import annotations

import math

import numpy as np

from .base import Architecture, Conversion, LayerTensor, RuntimeSpec, permute_k, permute_q, write_head_dims

LAYER_TENSORS = (
    LayerTensor("input_layernorm.weight", "attn_norm.weight", lambda h: (h.n_embd,)),
    LayerTensor("self_attn.q_proj.weight", "attn_q.weight", lambda h: (h.n_head * h.head_dim, h.n_embd), permute_q),
    LayerTensor("self_attn.k_proj.weight", "attn_k.weight", lambda h: (h.n_head_kv * h.head_dim, h.n_embd),
                permute_k),
    LayerTensor("self_attn.v_proj.weight", "attn_v.weight", lambda h: (h.n_head_kv * h.head_dim, h.n_embd)),
    LayerTensor("self_attn.o_proj.weight", "attn_output.weight", lambda h: (h.n_embd, h.n_head * h.head_dim)),
    LayerTensor("post_attention_layernorm.weight", "ffn_norm.weight", lambda h: (h.n_embd,)),
    LayerTensor("mlp.gate_proj.weight", "ffn_gate.weight", lambda h: (h.n_ff, h.n_embd)),
    LayerTensor("mlp.up_proj.weight", "ffn_up.weight", lambda h: (h.n_ff, h.n_embd)),
    LayerTensor("mlp.down_proj.weight", "ffn_down.weight", lambda h: (h.n_embd, h.n_ff)),
)


def write_metadata(w, cfg: dict, hp) -> None:
    w.add_vocab_size(hp.n_vocab)
    w.add_rope_dimension_count(hp.head_dim)
    write_head_dims(w, cfg, hp)


def rope_freqs(cfg: dict, hp) -> dict:
    """Llama 3 rope scaling as llama.cpp stores it: a rope_freqs tensor of frequency factors."""
    rs = cfg.get("rope_scaling") or {}
    if rs.get("rope_type", rs.get("type")) != "llama3":
        return {}
    factor = float(rs.get("factor", 8.0))
    low, high = float(rs.get("low_freq_factor", 1.0)), float(rs.get("high_freq_factor", 4.0))
    old_ctx = float(rs.get("original_max_position_embeddings", 8192))
    freqs = 1.0 / (hp.rope_theta ** (np.arange(0, hp.head_dim, 2, dtype=np.float64) / hp.head_dim))
    low_wl, high_wl = old_ctx / low, old_ctx / high
    out = []
    for f in freqs:
        wl = 2 * math.pi / f
        if wl < high_wl:
            out.append(1.0)
        elif wl > low_wl:
            out.append(factor)
        else:
            smooth = (old_ctx / wl - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return {"rope_freqs.weight": np.array(out, dtype=np.float32)}


CONVERSION = Conversion(
    gguf_arch="llama", hf_classes=("LlamaForCausalLM",), hf_model_types=("llama",), layer_tensors=LAYER_TENSORS,
    defaults=dict(rms_eps=1e-5, rope_theta=10000.0), write_metadata=write_metadata,
    extra_tensors=rope_freqs,
)

ARCH = Architecture("llama", RuntimeSpec(), CONVERSION)
