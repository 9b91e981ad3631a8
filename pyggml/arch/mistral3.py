"""Mistral 3 (Ministral 3): llama's block, with attention temperature tuning where the file
sets attention.temperature_scale: the queries at position p are multiplied by
1 + scale * log(1 + floor(p / rope.scaling.original_context_length)) (llama.cpp's
llama_model_mistral3, transformers' llama_4_scaling_beta), and YaRN rope scaling where the
checkpoint's rope_parameters say so (its mscale_all_dim becomes
rope.scaling.yarn_log_multiplier). Q and K rows are permuted like llama's when converted."""

from __future__ import annotations

import dataclasses

from . import llama
from .base import Architecture


def write_metadata(w, cfg: dict, hp) -> None:
    llama.write_metadata(w, cfg, hp)
    rp = cfg.get("rope_parameters") or {}
    yarn = rp.get("rope_type", rp.get("type")) == "yarn" and rp.get("factor")
    if yarn and rp.get("mscale_all_dim") is not None:  # llama.cpp's Mistral3Model
        w.add_rope_scaling_yarn_log_mul(float(rp["mscale_all_dim"]))
    if rp.get("llama_4_scaling_beta") is not None:
        w.add_float32("mistral3.attention.temperature_scale", float(rp["llama_4_scaling_beta"]))
        # (a YaRN file has it already: hf_to_gguf.write_metadata writes the scaling's keys)
        if rp.get("original_max_position_embeddings") and not yarn:
            w.add_uint32("mistral3.rope.scaling.original_context_length", int(rp["original_max_position_embeddings"]))


CONVERSION = dataclasses.replace(llama.CONVERSION, gguf_arch="mistral3", hf_classes=("Ministral3ForCausalLM",),
                                 hf_model_types=("ministral3",), write_metadata=write_metadata,
                                 defaults=dict(rms_eps=1e-5, rope_theta=1000000.0))

ARCH = Architecture("mistral3", dataclasses.replace(llama.ARCH.runtime, attn_temperature=True), CONVERSION)
