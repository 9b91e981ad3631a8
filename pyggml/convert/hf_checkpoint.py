"""Read a Hugging Face checkpoint directory: config.json and (sharded) *.safetensors, lazily.

Tensors stay in memory maps until asked for, one at a time, so a conversion holds one tensor
in memory, not the model. The safetensors header is parsed here (it is a length and a JSON
table) because the `safetensors` package's numpy loader cannot return bfloat16, the usual
dtype of released checkpoints; every entry is checked against the file before use.
"""

from __future__ import annotations

import dataclasses
import json
import mmap
import os
import struct

import numpy as np

from ..errors import PyggmlError
from ..formats.quants import dequantize

# safetensors dtype -> (numpy dtype of the stored bytes, element size)
_DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"), "F64": np.dtype("<f8"),
           "U8": np.dtype("u1")}  # U8: MXFP4 blocks and scales (gpt-oss), copied as bytes
_MAX_HEADER = 100 * 1024 * 1024


class CheckpointError(PyggmlError, ValueError):
    """A Hugging Face checkpoint is missing a file, malformed, or uses something unsupported."""

    def __init__(self, path, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


@dataclasses.dataclass(frozen=True)
class SourceTensor:
    """One tensor of a safetensors file: where its bytes are and what they hold."""

    name: str
    path: str
    dtype: str  # safetensors dtype name: F32, F16, BF16, F64, U8
    shape: tuple
    start: int  # absolute byte offsets in the file
    end: int


def _read_header(path: str) -> list:
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(path, "truncated: no safetensors header length")
            (n,) = struct.unpack("<Q", head)
            if n > min(size - 8, _MAX_HEADER):
                raise CheckpointError(path, f"safetensors header length {n} exceeds the file ({size} bytes)")
            raw = f.read(n)
    except OSError as e:
        raise CheckpointError(path, f"cannot read: {e.strerror}") from None
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(path, f"safetensors header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise CheckpointError(path, "safetensors header is not a JSON object")
    base = 8 + n
    out = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (a, b) = entry["dtype"], tuple(int(s) for s in entry["shape"]), entry["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(path, f"tensor {name!r}: malformed header entry {entry!r}") from None
        if dtype not in _DTYPES:
            raise CheckpointError(path, f"tensor {name!r} has dtype {dtype}, which pyggml cannot convert "
                                        f"(supported: {', '.join(_DTYPES)})")
        n_bytes = int(np.prod(shape, dtype=np.int64)) * _DTYPES[dtype].itemsize
        if not (0 <= a <= b and b - a == n_bytes and base + b <= size):
            raise CheckpointError(path, f"tensor {name!r}: data offsets {a}..{b} do not hold shape {list(shape)} "
                                        f"of {dtype} inside the file ({size} bytes)")
        out.append(SourceTensor(name, path, dtype, shape, base + a, base + b))
    return out


class Checkpoint:
    """A Hugging Face model directory opened for conversion."""

    def __init__(self, directory):
        self.dir = os.fspath(directory)
        if not os.path.isdir(self.dir):
            raise CheckpointError(self.dir, "not a directory (expected a Hugging Face model directory)")
        self.config = self.read_json("config.json", required=True)
        self.tensors = self._index()
        self._maps: dict = {}

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def has(self, name: str) -> bool:
        return os.path.isfile(self.path(name))

    def read_json(self, name: str, required: bool = False):
        p = self.path(name)
        if not os.path.isfile(p):
            if required:
                raise CheckpointError(p, "missing (every Hugging Face checkpoint has one)")
            return None
        try:
            with open(p, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CheckpointError(p, f"cannot read JSON: {e}") from None

    def _index(self) -> dict:
        index = self.read_json("model.safetensors.index.json")
        if index is not None:
            weight_map = index.get("weight_map")
            if not isinstance(weight_map, dict) or not weight_map:
                raise CheckpointError(self.path("model.safetensors.index.json"), "has no weight_map")
            files = sorted(set(weight_map.values()))
            for f in files:
                if not self.has(f):
                    raise CheckpointError(self.path(f), "missing: listed in model.safetensors.index.json")
        else:
            files = sorted(f for f in os.listdir(self.dir) if f.endswith(".safetensors"))
            if not files:
                if any(f.endswith((".bin", ".pt", ".pth")) for f in os.listdir(self.dir)):
                    raise CheckpointError(self.dir, "has only PyTorch pickle weights; pyggml reads *.safetensors")
                raise CheckpointError(self.dir, "no *.safetensors files")
        tensors = {}
        for f in files:
            for t in _read_header(self.path(f)):
                if t.name in tensors:
                    raise CheckpointError(t.path, f"tensor {t.name!r} also appears in {tensors[t.name].path}")
                tensors[t.name] = t
        if index is not None:
            missing = [n for n in index["weight_map"] if n not in tensors]
            if missing:
                raise CheckpointError(self.path("model.safetensors.index.json"),
                                      f"lists {len(missing)} tensors the shards lack, e.g. {missing[0]!r}")
        return tensors

    def _map(self, path: str) -> mmap.mmap:
        m = self._maps.get(path)
        if m is None:
            with open(path, "rb") as f:
                m = self._maps[path] = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        return m

    def raw(self, t: SourceTensor) -> np.ndarray:
        """The stored elements of `t` (a view of the memory map; BF16 as uint16)."""
        buf = np.frombuffer(self._map(t.path), dtype=np.uint8, count=t.end - t.start, offset=t.start)
        return buf.view(_DTYPES[t.dtype]).reshape(t.shape)

    def _advise(self, t: SourceTensor, name: str, inner: bool) -> None:
        advice = getattr(mmap, name, None)
        if advice is None or t.end <= t.start:
            return
        g = mmap.ALLOCATIONGRANULARITY
        if inner:  # only whole pages inside the tensor (its neighbours may still be wanted)
            start, end = -(-t.start // g) * g, t.end // g * g
        else:
            start, end = t.start - t.start % g, t.end
        if end > start:
            try:
                self._map(t.path).madvise(advice, start, end - start)
            except (OSError, ValueError):
                pass

    def prefetch(self, t: SourceTensor) -> None:
        """Ask the kernel to start reading `t` from disk now (overlaps I/O with other work)."""
        self._advise(t, "MADV_WILLNEED", inner=False)

    def release(self, t: SourceTensor) -> None:
        """Unmap `t`'s pages from this process once it is converted, so the resident set stays
        at about one tensor (the pages stay in the page cache; touching them again re-reads)."""
        self._advise(t, "MADV_DONTNEED", inner=True)

    def array(self, t: SourceTensor, n_threads: int = 0) -> np.ndarray:
        """`t` as a new float32 array (F16 and BF16 widened by the threaded native converter)."""
        if t.dtype == "U8":
            raise CheckpointError(t.path, f"tensor {t.name!r} holds bytes (U8), not numbers: pyggml reads U8 tensors "
                                          "only as the MXFP4 blocks and scales of gpt-oss's experts")
        x = self.raw(t)
        if t.dtype in ("F16", "BF16") and x.ndim >= 1 and x.size:
            return dequantize(x.reshape(-1).view(np.uint8), t.dtype, (x.size,), n_threads).reshape(t.shape)
        return x.astype(np.float32)

    def close(self) -> None:
        """Drop this object's maps (views handed out keep theirs alive)."""
        self._maps.clear()
