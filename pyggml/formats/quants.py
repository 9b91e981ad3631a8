"""Quantize float32 arrays into GGUF block formats and back (bit-exact with ggml), and one named
tensor of a model with its imatrix entry (encode_tensor)."""

from __future__ import annotations

import numpy as np

from .. import _core
from ..errors import PyggmlError
from .types import GGMLType


def quantize(data, qtype: "str | int | GGMLType", imatrix=None, n_threads: int = 0) -> np.ndarray:
    """Quantize a float array to the bytes of `qtype`, row by row.

    The last axis is the row; its length must be a multiple of the type's block size.
    Returns a uint8 array shaped like `data` with the last axis replaced by the row's
    byte count. `imatrix` (one weight per column) steers the types whose
    `uses_imatrix` is true. Block-quantized types raise ValueError on NaN or inf;
    F32/F16/BF16 convert them as IEEE does. `n_threads=0` uses every core.
    """
    t = GGMLType.parse(qtype)
    x = np.ascontiguousarray(data, dtype=np.float32)
    if x.ndim == 0:
        raise ValueError("quantize needs at least a 1-D array")
    n_per_row = x.shape[-1]
    if n_per_row % t.block_size:
        raise ValueError(
            f"{t.name}: row length {n_per_row} is not a multiple of the block size {t.block_size}"
        )
    qw = None
    if imatrix is not None:
        qw = np.ascontiguousarray(imatrix, dtype=np.float32)
    out = _core.quantize(int(t), x.reshape(-1, n_per_row), qw, n_threads)
    return out.reshape(*x.shape[:-1], t.row_size(n_per_row))


def dequantize(data, qtype: "str | int | GGMLType", shape=None, n_threads: int = 0) -> np.ndarray:
    """Turn the bytes of a `qtype` tensor back into float32.

    `shape` is the logical shape (last axis = elements per row). Without it, `data`
    must be shaped (..., row_bytes) as quantize() returns it.
    """
    t = GGMLType.parse(qtype)
    buf = np.ascontiguousarray(data)
    if buf.dtype != np.uint8:
        buf = buf.view(np.uint8)
    if shape is None:
        if buf.ndim == 0 or buf.shape[-1] % t.type_size:
            raise ValueError(f"{t.name}: cannot infer the shape; pass shape=")
        shape = (*buf.shape[:-1], buf.shape[-1] // t.type_size * t.block_size)
    shape = tuple(int(s) for s in shape)
    if not shape:
        raise ValueError("shape must have at least one axis")
    n_per_row = shape[-1]
    n_rows = int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1
    out = _core.dequantize(int(t), buf.reshape(-1), n_rows, n_per_row, n_threads)
    return out.reshape(shape)


def encode_tensor(x: np.ndarray, qtype: GGMLType, name: str, imat, n_threads: int) -> np.ndarray:
    """`x` (float32) in `qtype`'s bytes, steered by the imatrix entry for `name` when it has one."""
    if qtype == GGMLType.F32:
        return np.ascontiguousarray(x, dtype=np.float32)
    weights = None
    if imat is not None and qtype.uses_imatrix:
        weights = imat.get(name)
        if weights is not None and x.ndim == 3 and len(weights) == x.shape[0] * x.shape[-1]:
            # stacked experts: llama.cpp's imatrix holds one row of importances per expert
            per = np.asarray(weights, dtype=np.float32).reshape(x.shape[0], x.shape[-1])
            return np.stack([encode_tensor(x[e], qtype, name, {name: per[e]}, n_threads) for e in range(x.shape[0])])
        if weights is not None and len(weights) != x.shape[-1]:
            raise PyggmlError(f"imatrix entry for {name} has {len(weights)} values; the tensor's rows have {x.shape[-1]}"
                              + (f" (or {x.shape[0]} experts x {x.shape[-1]})" if x.ndim == 3 else ""))
    try:
        return quantize(x, qtype, imatrix=weights, n_threads=n_threads)
    except ValueError as e:
        raise PyggmlError(f"tensor {name}: cannot store as {qtype.name}: {e}") from None
