"""Qwen2: llama's block with biases on q, k and v, and rotary embeddings on NeoX halves
(so its Hugging Face Q and K rows are stored as they are)."""

from __future__ import annotations

import dataclasses

from . import llama
from .base import Architecture, Conversion, LayerTensor, RuntimeSpec

LAYER_TENSORS = tuple(dataclasses.replace(t, transform=None) for t in llama.LAYER_TENSORS) + (
    LayerTensor("self_attn.q_proj.bias", "attn_q.bias", lambda h: (h.n_head * h.head_dim,), optional=True),
    LayerTensor("self_attn.k_proj.bias", "attn_k.bias", lambda h: (h.n_head_kv * h.head_dim,), optional=True),
    LayerTensor("self_attn.v_proj.bias", "attn_v.bias", lambda h: (h.n_head_kv * h.head_dim,), optional=True),
)

CONVERSION = Conversion(
    gguf_arch="qwen2", hf_classes=("Qwen2ForCausalLM",), hf_model_types=("qwen2",), layer_tensors=LAYER_TENSORS,
    defaults=dict(rms_eps=1e-6, rope_theta=1000000.0),
)

ARCH = Architecture("qwen2", RuntimeSpec(rope_neox=True), CONVERSION)
