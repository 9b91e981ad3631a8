"""SmolLM3: llama's block, except that every fourth layer (3, 7, 11, ...) attends without a
rotary embedding (llama.cpp: n_no_rope_layer_step = 4). Its Hugging Face Q and K rows are
permuted like llama's when converted."""

from __future__ import annotations

import dataclasses

from . import llama
from .base import Architecture
from ..errors import PyggmlError

NO_ROPE_EVERY = 4


def write_metadata(w, cfg: dict, hp) -> None:
    """llama's keys; a checkpoint whose no_rope_layers differ from every fourth layer cannot be
    expressed in GGUF (llama.cpp fixes the pattern)."""
    flags = cfg.get("no_rope_layers")
    want = [int((i + 1) % NO_ROPE_EVERY != 0) for i in range(hp.n_layer)]
    if flags is not None and [int(bool(f)) for f in flags][: hp.n_layer] != want:
        raise PyggmlError(f"smollm3: no_rope_layers {flags} is not every {NO_ROPE_EVERY}th layer without rope, "
                          "the only pattern a smollm3 GGUF file can hold")
    llama.write_metadata(w, cfg, hp)


CONVERSION = dataclasses.replace(llama.CONVERSION, gguf_arch="smollm3", hf_classes=("SmolLM3ForCausalLM",),
                                 hf_model_types=("smollm3",), write_metadata=write_metadata,
                                 defaults=dict(rms_eps=1e-6, rope_theta=5000000.0))

ARCH = Architecture("smollm3", dataclasses.replace(llama.ARCH.runtime, no_rope_every=NO_ROPE_EVERY), CONVERSION)
