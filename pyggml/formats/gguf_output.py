"""Write a GGUF file tensor by tensor, all or nothing.

The file is written under a temporary name in the target directory and renamed over the
target only when every tensor is in; an error or Ctrl-C removes the temporary file, so no
partial model is ever left under the target name. Tensor infos are declared first (names,
shapes, types), then the data of each tensor is streamed in the same order, so only one
tensor needs to be in memory at a time.
"""

from __future__ import annotations

import os
import struct
import tempfile

import gguf
import numpy as np

from .types import GGMLType


_ARRAY_DTYPES = {
    gguf.GGUFValueType.UINT8: "<u1", gguf.GGUFValueType.INT8: "<i1", gguf.GGUFValueType.UINT16: "<u2",
    gguf.GGUFValueType.INT16: "<i2", gguf.GGUFValueType.UINT32: "<u4", gguf.GGUFValueType.INT32: "<i4",
    gguf.GGUFValueType.FLOAT32: "<f4", gguf.GGUFValueType.UINT64: "<u8", gguf.GGUFValueType.INT64: "<i8",
    gguf.GGUFValueType.FLOAT64: "<f8", gguf.GGUFValueType.BOOL: "<u1",
}


class _Writer(gguf.GGUFWriter):
    """GGUFWriter packing big metadata arrays (vocabularies) in bulk rather than item by item."""

    def _pack_val(self, val, vtype, add_vtype, sub_type=None):
        if vtype != gguf.GGUFValueType.ARRAY or isinstance(val, (bytes, bytearray)) or len(val) < 64 \
                or self.endianess != gguf.GGUFEndian.LITTLE:
            return super()._pack_val(val, vtype, add_vtype, sub_type)
        if sub_type is None:
            sub_type = gguf.GGUFValueType.get_type(val[0])
        head = struct.pack("<I", vtype) if add_vtype else b""
        head += struct.pack("<IQ", sub_type, len(val))
        if sub_type == gguf.GGUFValueType.STRING:
            parts = [x.encode("utf-8") if isinstance(x, str) else bytes(x) for x in val]
            pack = struct.Struct("<Q").pack
            return head + b"".join(pack(len(p)) + p for p in parts)
        dtype = _ARRAY_DTYPES.get(sub_type)
        if dtype is None:
            return super()._pack_val(val, vtype, add_vtype, sub_type)
        return head + np.asarray(val).astype(dtype).tobytes()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class GGUFOutput:
    """Use as a context manager: declare() every tensor, begin(), then write() each in order."""

    def __init__(self, path, arch: str):
        self.path = os.path.abspath(os.fspath(path))
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"{directory}: output directory does not exist")
        fd, self.tmp = tempfile.mkstemp(prefix="." + os.path.basename(self.path) + ".", suffix=".part", dir=directory)
        os.close(fd)
        self.writer = _Writer(self.tmp, arch)
        self._expected: list = []
        self._n_written = 0

    def declare(self, name: str, shape, qtype: GGMLType) -> int:
        """Announce tensor `name` of numpy `shape` (row last) stored as `qtype`; returns its byte size."""
        qtype = GGMLType(qtype)
        shape = tuple(int(s) for s in shape)
        n_rows = int(np.prod(shape[:-1], dtype=np.int64)) if len(shape) > 1 else 1
        n_bytes = n_rows * qtype.row_size(shape[-1])
        self.writer.add_tensor_info(name, shape, np.dtype(np.float32), n_bytes,
                                    raw_dtype=gguf.GGMLQuantizationType(int(qtype)))
        self._expected.append((name, n_bytes))
        return n_bytes

    def begin(self) -> None:
        """Write the header, metadata and tensor table; call after every declare()."""
        self.writer.write_header_to_file()
        self.writer.write_kv_data_to_file()
        self.writer.write_ti_data_to_file()

    def write(self, name: str, data: np.ndarray) -> None:
        """The bytes of the next declared tensor (any dtype; written as raw bytes)."""
        want, n_bytes = self._expected[self._n_written]
        if name != want or data.nbytes != n_bytes:
            raise RuntimeError(f"tensor {name!r} ({data.nbytes} bytes) written where {want!r} ({n_bytes} bytes) was declared")
        self.writer.write_tensor_data(np.ascontiguousarray(data).reshape(-1).view(np.uint8))
        self._n_written += 1

    def __enter__(self) -> "GGUFOutput":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self.writer.close()
        finally:
            if exc_type is None and self._n_written == len(self._expected):
                os.chmod(self.tmp, 0o666 & ~_umask())  # mkstemp made it private
                os.replace(self.tmp, self.path)
            else:
                try:
                    os.unlink(self.tmp)
                except OSError:
                    pass
                if exc_type is None:
                    raise RuntimeError(f"{self.path}: only {self._n_written} of {len(self._expected)} tensors written")
