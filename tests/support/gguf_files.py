"""Small valid GGUF files written with gguf.GGUFWriter, for tests that need a file of their own."""

from __future__ import annotations

import gguf
import numpy as np


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
