"""Write a GGUF file tensor by tensor, all or nothing.

The file is written under a temporary name in the target directory and renamed over the
target only when every tensor is in; an error or Ctrl-C removes the temporary file, so no
partial model is ever left under the target name. Tensor infos are declared first (names,
shapes, types), then the data of each tensor is streamed in the same order, so only one
tensor needs to be in memory at a time.
"""

from __future__ import annotations

import os
import tempfile

import gguf
import numpy as np

from .types import GGMLType


class GGUFOutput:
    """Use as a context manager: declare() every tensor, begin(), then write() each in order."""

    def __init__(self, path, arch: str):
        self.path = os.path.abspath(os.fspath(path))
        directory = os.path.dirname(self.path)
        if not os.path.isdir(directory):
            raise FileNotFoundError(f"{directory}: output directory does not exist")
        fd, self.tmp = tempfile.mkstemp(prefix="." + os.path.basename(self.path) + ".", suffix=".part", dir=directory)
        os.close(fd)
        self.writer = gguf.GGUFWriter(self.tmp, arch)
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
                os.replace(self.tmp, self.path)
            else:
                try:
                    os.unlink(self.tmp)
                except OSError:
                    pass
                if exc_type is None:
                    raise RuntimeError(f"{self.path}: only {self._n_written} of {len(self._expected)} tensors written")
