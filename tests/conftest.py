"""Shared test fixtures: the real models and a writer for small synthetic GGUF files."""

from __future__ import annotations

import gguf
import numpy as np
import pytest

from pyggml import models


def _real_model(name: str) -> str:
    try:
        return str(models.model_path(name))
    except models.ModelPackagesMissing as e:
        pytest.skip(f"real model {name} not available: {e}")


@pytest.fixture(scope="session")
def gemma_path() -> str:
    """Path of the Gemma 3 270M Q4_K_M GGUF (assembled into the cache on first use)."""
    return _real_model("gemma3-270m")


@pytest.fixture(scope="session")
def qwen_path() -> str:
    """Path of the Qwen2.5-Coder 1.5B Instruct Q4_K_M GGUF (assembled into the cache on first use)."""
    return _real_model("qwen2.5-coder-1.5b")


def write_gguf(path, tensors=None, metadata=None, arch: str = "test") -> str:
    """Write a small valid GGUF with gguf.GGUFWriter.

    tensors: name -> float32 array (stored F32) or (GGMLQuantizationType, uint8 bytes shaped
    (..., row_bytes)). metadata: key -> value, or key -> (value, GGUFValueType[, item GGUFValueType]) to force types.
    """
    w = gguf.GGUFWriter(str(path), arch)
    for key, value in (metadata or {}).items():
        if isinstance(value, tuple):
            w.add_key_value(key, *value)
        elif isinstance(value, list):
            w.add_array(key, value)
        elif isinstance(value, bool):
            w.add_bool(key, value)
        elif isinstance(value, int):
            w.add_uint32(key, value)
        elif isinstance(value, float):
            w.add_float32(key, value)
        else:
            w.add_string(key, value)
    for name, value in (tensors or {}).items():
        if isinstance(value, tuple):
            qtype, raw = value
            w.add_tensor(name, np.ascontiguousarray(raw, dtype=np.uint8), raw_dtype=qtype)
        else:
            w.add_tensor(name, np.ascontiguousarray(value, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return str(path)


@pytest.fixture
def make_gguf(tmp_path):
    """Returns write_gguf bound to a fresh file in tmp_path: make_gguf(tensors=..., metadata=...)."""
    counter = iter(range(1_000_000))

    def make(tensors=None, metadata=None, arch: str = "test", name: str | None = None) -> str:
        return write_gguf(tmp_path / (name or f"model{next(counter)}.gguf"), tensors, metadata, arch)

    return make


@pytest.fixture(scope="session")
def gemma_tok(gemma_path):
    from pyggml.tokenizer import Tokenizer

    return Tokenizer.from_gguf(gemma_path)


@pytest.fixture(scope="session")
def qwen_tok(qwen_path):
    from pyggml.tokenizer import Tokenizer

    return Tokenizer.from_gguf(qwen_path)
