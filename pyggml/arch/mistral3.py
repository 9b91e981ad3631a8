"""Mistral 3 (Ministral 3): llama's block, with attention temperature tuning where the file
sets attention.temperature_scale: the queries at position p are multiplied by
1 + scale * log(1 + floor(p / rope.scaling.original_context_length)) (llama.cpp's
llama_model_mistral3, transformers' llama_4_scaling_beta). Q and K rows are permuted like
llama's when converted."""

from __future__ import annotations

import dataclasses

from . import llama
from .base import Architecture


def write_metadata(w, cfg: dict, hp) -> None:
    llama.write_metadata(w, cfg, hp)
    rp = cfg.get("rope_parameters") or {}
    if rp.get("llama_4_scaling_beta") is not None:
        w.add_float32("mistral3.attention.temperature_scale", float(rp["llama_4_scaling_beta"]))
        if rp.get("original_max_position_embeddings"):
            w.add_uint32("mistral3.rope.scaling.original_context_length", int(rp["original_max_position_embeddings"]))


CONVERSION = dataclasses.replace(llama.CONVERSION, gguf_arch="mistral3", hf_classes=("Ministral3ForCausalLM",),
                                 hf_model_types=("ministral3",), write_metadata=write_metadata,
                                 defaults=dict(rms_eps=1e-5, rope_theta=1000000.0))

ARCH = Architecture("mistral3", dataclasses.replace(llama.ARCH.runtime, attn_temperature=True), CONVERSION)
