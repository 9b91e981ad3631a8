"""Phi-3 and Phi-4-mini: llama's block with q, k and v fused into one attn_qkv matrix (rows q,
then k, then v) and gate and up fused into ffn_up (2 * feed_forward_length rows: gate, then
up), rotary embeddings on NeoX halves of the first rope.dimension_count dimensions (Phi-4-mini
rotates 3/4 of each head), and LongRoPE: two sets of frequency factors, rope_factors_short and
rope_factors_long (used when the context exceeds rope.scaling.original_context_length), and
rope.scaling.attn_factor multiplying the rotated dimensions. llama.cpp ignores Phi-3's sliding
window (its loader turns it off), and so does pyggml, to give the same logits."""

from __future__ import annotations

import math

import numpy as np

from .base import (DECODER_SITES, Architecture, CaptureSite, Conversion, LayerTensor, RuntimeSpec, Site,
                   decoder_tensors)
from ..errors import PyggmlError

LAYER_TENSORS = (
    LayerTensor("input_layernorm.weight", "attn_norm.weight", lambda h: (h.n_embd,)),
    LayerTensor("self_attn.qkv_proj.weight", "attn_qkv.weight",
                lambda h: ((h.n_head + 2 * h.n_head_kv) * h.head_dim, h.n_embd)),
    LayerTensor("self_attn.o_proj.weight", "attn_output.weight", lambda h: (h.n_embd, h.n_head * h.head_dim)),
    LayerTensor("post_attention_layernorm.weight", "ffn_norm.weight", lambda h: (h.n_embd,)),
    LayerTensor("mlp.gate_up_proj.weight", "ffn_up.weight", lambda h: (2 * h.n_ff, h.n_embd)),
    LayerTensor("mlp.down_proj.weight", "ffn_down.weight", lambda h: (h.n_embd, h.n_ff)),
)


def tensors(hp) -> dict:
    """decoder_tensors with the fused attn_qkv and ffn_up (gate, up) and the LongRoPE factors."""
    spec = decoder_tensors(hp)
    E, F, half = hp["n_embd"], hp["n_ff"], hp["n_rot"] // 2
    qkv = (hp["n_head"] + 2 * hp["n_head_kv"]) * hp["head_dim_k"]
    emb = "embedding_length"
    for i in range(hp["n_layer"]):
        p = f"blk.{i}."
        for name in ("attn_q.weight", "attn_k.weight", "attn_v.weight", "ffn_gate.weight"):
            del spec[p + name]
        spec[p + "attn_qkv.weight"] = ((E, qkv), f"({emb}, (head_count + 2 * head_count_kv) * key_length)",
                                       "matrix", True)
        spec[p + "ffn_up.weight"] = ((E, 2 * F), f"({emb}, 2 * feed_forward_length)", "matrix", True)
    for which in ("long", "short"):
        spec[f"rope_factors_{which}.weight"] = ((half,), "(rope.dimension_count / 2)", "vector", False)
    return spec


# The fused inputs' readers; the attention output's and ffn_down's sources are slices of fused
# matrices (v of attn_qkv, up of ffn_up), which AWQ's folding does not address yet.
CAPTURE_SITES = (
    CaptureSite(Site.ATTN_QKV, ("attn_qkv",), "attn_norm", lambda hp: hp["n_embd"]),
    CaptureSite(Site.FFN_GATE_UP, ("ffn_up",), "ffn_norm", lambda hp: hp["n_embd"]),
)
assert {s.site for s in CAPTURE_SITES} <= {s.site for s in DECODER_SITES}


def _rope(cfg: dict) -> dict:
    return cfg.get("rope_scaling") or cfg.get("rope_parameters") or {}


def _rope_dims(cfg: dict, hp) -> int:
    rot = _rope(cfg).get("partial_rotary_factor", cfg.get("partial_rotary_factor", 1.0))
    return int(rot * hp.n_embd) // hp.n_head


def write_metadata(w, cfg: dict, hp) -> None:
    """llama.cpp's Phi3MiniModel keys: rope dimensions from partial_rotary_factor, the original
    context and, for LongRoPE, the attention factor; sliding_window (0 when unset)."""
    w.add_rope_dimension_count(_rope_dims(cfg, hp))
    orig = int(_rope(cfg).get("original_max_position_embeddings", cfg.get("original_max_position_embeddings", hp.n_ctx)))
    w.add_rope_scaling_orig_ctx_len(orig)
    w.add_sliding_window(int(cfg.get("sliding_window") or 0))
    if _rope(cfg).get("long_factor"):
        kind = str(_rope(cfg).get("rope_type", _rope(cfg).get("type", ""))).lower()
        if kind not in ("su", "longrope"):
            raise PyggmlError(f"phi3: rope scaling {kind!r} with long_factor is not supported (longrope only)")
        scale = hp.n_ctx / orig
        w.add_rope_scaling_attn_factors(math.sqrt(1 + math.log(scale) / math.log(orig)) if scale > 1.0 else 1.0)


def rope_factors(cfg: dict, hp) -> dict:
    rs = _rope(cfg)
    if not rs.get("long_factor"):
        return {}
    long, short = (np.asarray(rs[k], dtype=np.float32) for k in ("long_factor", "short_factor"))
    half = _rope_dims(cfg, hp) // 2
    if long.shape != (half,) or short.shape != (half,):
        raise PyggmlError(f"phi3: long_factor and short_factor need {half} values each (rope dimensions / 2), "
                          f"got {long.size} and {short.size}")
    return {"rope_factors_long.weight": long, "rope_factors_short.weight": short}


CONVERSION = Conversion(
    gguf_arch="phi3", hf_classes=("Phi3ForCausalLM",), hf_model_types=("phi3",), layer_tensors=LAYER_TENSORS,
    defaults=dict(rms_eps=1e-5, rope_theta=10000.0), write_metadata=write_metadata, extra_tensors=rope_factors,
)

ARCH = Architecture("phi3", RuntimeSpec(rope_neox=True), CONVERSION, tensors=tensors, capture_sites=CAPTURE_SITES)
