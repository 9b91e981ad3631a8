"""Hugging Face checkpoints to GGUF: `pyggml.convert.convert(hf_dir, out_path, qtype)`."""

from .hf_to_gguf import ConvertError, convert

__all__ = ["ConvertError", "convert"]
