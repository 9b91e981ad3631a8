"""Importance matrices in llama.cpp's file formats: read both, write both.

An importance matrix gives, per weight tensor, the mean squared activation seen by each input
column during calibration; quantizers use it to weight their rounding error. llama.cpp's
llama-imatrix writes two formats, and its quantize tool reads both:

* legacy ".dat": int32 entry count; per entry int32 name length, name bytes, int32 ncall,
  int32 nval, nval float32 sums; optionally int32 last chunk, int32 length, dataset name.
  The importance is sum / ncall.
* GGUF (general.type = "imatrix"): per weight tensor NAME, an F32 tensor NAME.in_sum2 shaped
  (n_matrices, n_columns) and NAME.counts shaped (n_matrices, 1); importance = in_sum2 / count
  (1 where a matrix never saw input), keys imatrix.datasets / chunk_count / chunk_size.

`read_imatrix` returns {tensor name: float32 importance, matrices concatenated}; `load_imatrix`
takes what the quantizers accept as an imatrix (a path, such a dict, or None).
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile

import gguf
import numpy as np

from ..errors import PyggmlError

_MAX_NAME = 1 << 16


class ImatrixError(PyggmlError, ValueError):
    def __init__(self, path, problem: str):
        self.path = os.fspath(path)
        super().__init__(f"{self.path}: {problem}")


def read_imatrix(path) -> dict:
    """{tensor name: float32 per-column importance} from a legacy .dat or GGUF imatrix file."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise ImatrixError(path, f"cannot read imatrix: {e.strerror}") from None
    if magic == b"GGUF":
        return _read_gguf(path)
    return _read_legacy(path)


def load_imatrix(imatrix):
    """An imatrix given as a file path (read with read_imatrix), a {name: importance} dict or None,
    as the dict or None."""
    if imatrix is None or isinstance(imatrix, dict):
        return imatrix
    return read_imatrix(imatrix)


def _read_legacy(path: str) -> dict:
    with open(path, "rb") as f:
        data = f.read()
    pos = 0

    def take(n: int, what: str) -> bytes:
        nonlocal pos
        if n < 0 or pos + n > len(data):
            raise ImatrixError(path, f"truncated legacy imatrix: {what} at offset {pos} needs {n} bytes")
        b = data[pos:pos + n]
        pos += n
        return b

    (n_entries,) = struct.unpack("<i", take(4, "entry count"))
    if n_entries < 1:
        raise ImatrixError(path, "no entries (not an imatrix file?)")
    out = {}
    for i in range(n_entries):
        (n,) = struct.unpack("<i", take(4, f"name length of entry {i}"))
        if not 0 < n <= _MAX_NAME:
            raise ImatrixError(path, f"entry {i}: bad name length {n} (not an imatrix file?)")
        name = take(n, f"name of entry {i}").decode("utf-8", "replace")
        ncall, nval = struct.unpack("<ii", take(8, f"counts of {name}"))
        if nval < 1:
            raise ImatrixError(path, f"entry {name!r}: bad value count {nval}")
        values = np.frombuffer(take(4 * nval, f"values of {name}"), dtype="<f4").astype(np.float32)
        if ncall > 0:
            values = values / np.float32(ncall)
        out[name] = values
    return out


def _read_gguf(path: str) -> dict:
    from .gguf_file import GGUFFile

    with GGUFFile(path) as g:
        sums, counts = {}, {}
        for t in g.tensors:
            if t.name.endswith(".in_sum2"):
                sums[t.name[: -len(".in_sum2")]] = t
            elif t.name.endswith(".counts"):
                counts[t.name[: -len(".counts")]] = t
        if not sums:
            raise ImatrixError(path, "GGUF file holds no *.in_sum2 tensors (not an imatrix?)")
        out = {}
        for name, st in sorted(sums.items()):
            if name not in counts:
                raise ImatrixError(path, f"{name}.in_sum2 has no matching {name}.counts")
            s = np.array(g.array(st.name), dtype=np.float32)
            s = s.reshape(-1, st.shape[-1])
            c = np.array(g.array(counts[name].name), dtype=np.float32).reshape(-1)
            if c.shape[0] != s.shape[0]:
                raise ImatrixError(path, f"{name}: {s.shape[0]} matrices of sums but {c.shape[0]} counts")
            vals = np.ones_like(s)
            seen = c > 0
            vals[seen] = s[seen] / c[seen, None]
            out[name] = vals.reshape(-1)
        return out


@contextlib.contextmanager
def _replacing(path):
    """A temporary name next to `path` that becomes `path` only when the block completes."""
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp",
                               dir=os.path.dirname(os.path.abspath(path)))
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_imatrix_legacy(path, entries: dict, ncall: int = 1, dataset: str = "", sums: bool = False) -> None:
    """Write {name: importance} as a legacy .dat file (stores importance * ncall as the sums).

    sums: the entries already are the sums over ncall activation rows, stored unchanged."""
    with _replacing(path) as tmp, open(tmp, "wb") as f:
        f.write(struct.pack("<i", len(entries)))
        for name, v in entries.items():
            v = np.asarray(v, dtype=np.float32).reshape(-1)
            b = name.encode()
            f.write(struct.pack("<i", len(b)) + b + struct.pack("<ii", ncall, v.size))
            f.write((v if sums else v * np.float32(ncall)).astype("<f4").tobytes())
        f.write(struct.pack("<i", ncall))
        d = dataset.encode()
        f.write(struct.pack("<i", len(d)) + d)


def write_imatrix_gguf(path, entries: dict, count: int = 1, datasets=("pyggml",), chunk_size: int = 512,
                       chunk_count: int | None = None, sums: bool = False, counts: dict | None = None) -> None:
    """Write {name: importance (n_columns,) or (n_matrices, n_columns)} in llama.cpp's GGUF format.

    count: the activation rows each importance averages (stored sums are importance * count);
    chunk_count defaults to count; sums: the entries already are those sums, stored unchanged;
    counts: {name: (n_matrices,) rows per matrix} where they differ from count (experts reached
    by different tokens)."""
    with _replacing(path) as tmp:
        _write_gguf(tmp, entries, count, datasets, chunk_size, chunk_count, sums, counts or {})


def _write_gguf(path, entries, count, datasets, chunk_size, chunk_count, sums, counts) -> None:
    w = gguf.GGUFWriter(path, arch="")
    w.kv_data[0].pop("general.architecture", None)
    w.add_type("imatrix")
    w.add_array("imatrix.datasets", list(datasets))
    w.add_uint32("imatrix.chunk_count", count if chunk_count is None else chunk_count)
    w.add_uint32("imatrix.chunk_size", chunk_size)
    for name, v in entries.items():
        v = np.asarray(v, dtype=np.float32)
        v = v.reshape(1, -1) if v.ndim == 1 else v
        c = np.asarray(counts[name], np.float32).reshape(-1, 1) if name in counts else \
            np.full((v.shape[0], 1), count, dtype=np.float32)
        w.add_tensor(name + ".in_sum2", (v if sums else v * c).astype(np.float32))
        w.add_tensor(name + ".counts", c)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
