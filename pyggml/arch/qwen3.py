"""Qwen3: qwen2's block without the q, k and v biases, and with an RMSNorm over each head of
q and k before the rotary embedding (NeoX halves, so its Hugging Face rows are stored as they
are); the output matrix is tied to the embeddings in the small models, separate in the large."""

from __future__ import annotations

import dataclasses

from . import llama
from .base import Architecture, Conversion, LayerTensor, RuntimeSpec, decoder_tensors

LAYER_TENSORS = tuple(dataclasses.replace(t, transform=None) for t in llama.LAYER_TENSORS[:5]) + (
    LayerTensor("self_attn.q_norm.weight", "attn_q_norm.weight", lambda h: (h.head_dim,)),
    LayerTensor("self_attn.k_norm.weight", "attn_k_norm.weight", lambda h: (h.head_dim,)),
) + llama.LAYER_TENSORS[5:]


def tensors(hp) -> dict:
    """decoder_tensors with the per-head q and k norms required."""
    spec = decoder_tensors(hp)
    for name, (ne, dims, kind, _) in spec.items():
        if name.endswith(("attn_q_norm.weight", "attn_k_norm.weight")):
            spec[name] = (ne, dims, kind, True)
    return spec


CONVERSION = Conversion(
    gguf_arch="qwen3", hf_classes=("Qwen3ForCausalLM",), hf_model_types=("qwen3",), layer_tensors=LAYER_TENSORS,
    defaults=dict(rms_eps=1e-6, rope_theta=1000000.0),
)

ARCH = Architecture("qwen3", RuntimeSpec(rope_neox=True), CONVERSION, tensors=tensors)
