"""Mistral: llama's forward pass. llama.cpp converts Mistral checkpoints into "llama" GGUF files;
files that say "mistral" run the same way."""

from __future__ import annotations

import dataclasses

from . import llama
from .base import Architecture

CONVERSION = dataclasses.replace(llama.CONVERSION, hf_classes=("MistralForCausalLM",), hf_model_types=("mistral",))

ARCH = Architecture("mistral", llama.ARCH.runtime, CONVERSION)
