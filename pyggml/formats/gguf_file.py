"""Read GGUF files: metadata as plain Python values, tensors as zero-copy views of a memory map.

Shape order
-----------
GGUF stores a tensor's dimensions in ggml order, ``ne[0]`` first, where ``ne[0]`` is the row
length (the fastest-varying axis, along which quantization blocks run). pyggml reports shapes in
numpy order: ``TensorInfo.shape`` is ``ne`` reversed, so ``shape[-1] == ne[0]`` is the number of
elements per row. A (vocab, embedding) token table is stored as ne = (embedding, vocab) and
reported as shape (vocab, embedding). ``TensorInfo.ne`` keeps the file's order.

Why not gguf.GGUFReader
-----------------------
The layout constants (value types, block sizes, type names) come from the ``gguf`` package, but
the header is parsed here: GGUFReader decodes every array element through numpy views (about
half a minute to open a model with a 262144-entry vocabulary) and trusts the counts and lengths
in the file, so a forged count can make it loop for a very long time. This parser checks every
count, length, type and offset against the file before using it, raises GGUFError naming the
file and the problem, and turns scalar arrays into lists in one numpy call.

Tensor data
-----------
GGUF writers (gguf-py, llama.cpp) lay the tensors' data out back to back in the order of the
tensor table, each padded to the alignment, and llama.cpp refuses any other layout. The parser
checks the same: every tensor's data lies inside the data section, starts on the alignment,
overlaps no other tensor, and follows the previous one with no gap; and the data section ends
with the last tensor's padding. So a tensor-info entry too few or too many, a wrong type or
shape (a wrong byte size), or a wrong offset is a GGUFError rather than weights read from the
wrong bytes. GGUFFile.check_tensors() also scans the data itself for NaN and infinity.
"""

from __future__ import annotations

import dataclasses
import os
import struct

import numpy as np
from gguf.constants import GGMLQuantizationType, GGUFValueType

from .. import _core
from ..errors import GGUFError, PyggmlError
from .quants import dequantize
from .types import GGMLType

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # GGML_MAX_DIMS
_HEADER_BYTES = 24  # magic, version u32, tensor_count u64, kv_count u64
_MIN_KV_BYTES = 8 + 4 + 1  # key length, value type, smallest value
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 8 + 4 + 8  # name length, n_dims, one dim, type, offset
_MAX_ARRAY_NESTING = 8
_INT64_MAX = 2**63 - 1

_V = GGUFValueType
_SCALAR_FORMATS = {
    _V.UINT8: "<B", _V.INT8: "<b", _V.UINT16: "<H", _V.INT16: "<h", _V.UINT32: "<I",
    _V.INT32: "<i", _V.FLOAT32: "<f", _V.BOOL: "<B", _V.UINT64: "<Q", _V.INT64: "<q",
    _V.FLOAT64: "<d",
}
_ARRAY_DTYPES = {t: np.dtype(f) for t, f in _SCALAR_FORMATS.items()}
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One entry of a GGUF tensor table.

    shape: numpy order (shape[-1] is the row length); ne: the file's ggml order (ne[0] is the
    row length). offset: absolute byte offset of the tensor's data in the file.
    """

    name: str
    type: GGMLType
    shape: tuple
    ne: tuple
    n_elements: int
    n_bytes: int
    offset: int

    @property
    def n_rows(self) -> int:
        """Rows of shape[-1] elements (the product of the other axes)."""
        return self.n_elements // self.shape[-1]

    @property
    def row_bytes(self) -> int:
        """Bytes of one row in this tensor's type."""
        return self.type.row_size(self.shape[-1])


class _HeaderParser:
    """A bounds-checked cursor over the mapped file that reads the GGUF header."""

    def __init__(self, buf: memoryview, path: str):
        self.buf = buf
        self.size = len(buf)
        self.pos = 0
        self.path = path

    def fail(self, problem: str) -> GGUFError:
        return GGUFError(self.path, problem)

    def need(self, n: int, what: str) -> None:
        if n > self.size - self.pos:
            raise self.fail(
                f"truncated: {what} at offset {self.pos} needs {n} bytes but the file ends at {self.size}"
            )

    def u32(self, what: str) -> int:
        self.need(4, what)
        (v,) = _U32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return v

    def u64(self, what: str) -> int:
        self.need(8, what)
        (v,) = _U64.unpack_from(self.buf, self.pos)
        self.pos += 8
        return v

    def raw_string(self, what: str) -> bytes:
        n = self.u64(f"length of {what}")
        self.need(n, f"{what} ({n} bytes)")
        s = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return s

    def name(self, what: str) -> str:
        raw = self.raw_string(what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not valid UTF-8: {raw[:64]!r}") from None

    def value(self, vtype: int, key: str, depth: int = 0):
        if vtype == _V.STRING:
            return self.raw_string(f"string value of {key!r}").decode("utf-8", "surrogateescape")
        fmt = _SCALAR_FORMATS.get(vtype)
        if fmt is not None:
            size = struct.calcsize(fmt)
            self.need(size, f"value of {key!r}")
            (v,) = struct.unpack_from(fmt, self.buf, self.pos)
            self.pos += size
            return bool(v) if vtype == _V.BOOL else v
        if vtype == _V.ARRAY:
            return self.array(key, depth)
        raise self.fail(f"metadata key {key!r} has unknown value type id {vtype}")

    def array(self, key: str, depth: int) -> list:
        if depth >= _MAX_ARRAY_NESTING:
            raise self.fail(f"metadata key {key!r} nests arrays more than {_MAX_ARRAY_NESTING} deep")
        itype = self.u32(f"array item type of {key!r}")
        count = self.u64(f"array length of {key!r}")
        if itype == _V.STRING:
            return self.strings(count, key)
        dtype = _ARRAY_DTYPES.get(itype)
        if dtype is not None:
            self.need_items(count, dtype.itemsize, key)
            arr = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos)
            self.pos += count * dtype.itemsize
            return (arr != 0).tolist() if itype == _V.BOOL else arr.tolist()
        if itype == _V.ARRAY:
            self.need_items(count, 12, key)
            return [self.value(_V.ARRAY, key, depth + 1) for _ in range(count)]
        raise self.fail(f"metadata key {key!r} is an array of unknown value type id {itype}")

    def need_items(self, count: int, min_item_bytes: int, key: str) -> None:
        """Fail fast when `count` items cannot possibly fit in what is left of the file."""
        left = self.size - self.pos
        if count * min_item_bytes > left:
            raise self.fail(
                f"array {key!r} claims {count} items (at least {count * min_item_bytes} bytes) "
                f"but only {left} bytes are left in the file"
            )

    def strings(self, count: int, key: str) -> list:
        self.need_items(count, 8, key)
        # one native call decodes them (a vocabulary has 10^5 strings and more); it stops before
        # the first string that does not fit, which the loop below then reports
        out, pos = _core.gguf_strings(self.buf, self.pos, count)
        buf, size, unpack = self.buf, self.size, _U64.unpack_from
        append = out.append
        for i in range(len(out), count):
            if pos + 8 > size:
                self.pos = pos
                self.need(8, f"length of string {i} of {key!r}")
            (n,) = unpack(buf, pos)
            pos += 8
            if n > size - pos:
                self.pos = pos
                self.need(n, f"string {i} of {key!r} ({n} bytes)")
            append(str(buf[pos : pos + n], "utf-8", "surrogateescape"))
            pos += n
        self.pos = pos
        return out


def _check_version(p: _HeaderParser, version: int) -> None:
    if version in SUPPORTED_VERSIONS:
        return
    swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
    if swapped in SUPPORTED_VERSIONS:
        raise p.fail("big-endian GGUF files are not supported")
    raise p.fail(
        f"unsupported GGUF version {version} (pyggml reads versions "
        f"{', '.join(map(str, SUPPORTED_VERSIONS))})"
    )


def _tensor_type(p: _HeaderParser, name: str, type_id: int) -> GGMLType:
    try:
        return GGMLType(type_id)
    except ValueError:
        pass
    supported = ", ".join(t.name for t in GGMLType)
    try:
        known = GGMLQuantizationType(type_id).name
    except ValueError:
        raise p.fail(f"tensor {name!r} has unknown type id {type_id}; supported types: {supported}") from None
    raise p.fail(
        f"tensor {name!r} has type {known} (id {type_id}), which pyggml does not support; "
        f"supported types: {supported}"
    )


def _tensor_info(p: _HeaderParser, index: int):
    """Read one tensor-table entry; returns (name, ne, type, relative offset)."""
    name = p.name(f"name of tensor {index}")
    n_dims = p.u32(f"dimension count of tensor {name!r}")
    if not 1 <= n_dims <= MAX_DIMS:
        raise p.fail(f"tensor {name!r} has {n_dims} dimensions (GGUF allows 1 to {MAX_DIMS})")
    ne = tuple(p.u64(f"dimension {d} of tensor {name!r}") for d in range(n_dims))
    type_id = p.u32(f"type of tensor {name!r}")
    rel_offset = p.u64(f"data offset of tensor {name!r}")
    for d, n in enumerate(ne):
        if n == 0 or n > _INT64_MAX:
            shown = n - 2**64 if n > _INT64_MAX else n
            raise p.fail(f"tensor {name!r} has dimension ne[{d}] = {shown}; every dimension must be positive")
    return name, ne, _tensor_type(p, name, type_id), rel_offset


def _make_tensor(p: _HeaderParser, name, ne, gtype: GGMLType, offset: int) -> TensorInfo:
    n_elements = 1
    for n in ne:
        n_elements *= n
    if n_elements > _INT64_MAX:
        raise p.fail(f"tensor {name!r} with ne = {list(ne)} has more than 2^63 elements")
    if ne[0] % gtype.block_size:
        raise p.fail(
            f"tensor {name!r} is {gtype.name} with rows of ne[0] = {ne[0]} elements, "
            f"not a multiple of the block size {gtype.block_size}"
        )
    n_bytes = n_elements // gtype.block_size * gtype.type_size
    if offset + n_bytes > p.size:
        raise p.fail(
            f"tensor {name!r} data (bytes {offset} to {offset + n_bytes}) runs past the end of the "
            f"file ({p.size} bytes): the file is truncated or corrupt"
        )
    return TensorInfo(name, gtype, tuple(reversed(ne)), ne, n_elements, n_bytes, offset)


def _parse(buf: memoryview, path: str):
    """Parse and validate the whole header.

    Returns (version, metadata, value_types, tensors, alignment, data_offset).
    """
    p = _HeaderParser(buf, path)
    if p.size < _HEADER_BYTES:
        raise p.fail(
            "empty file" if p.size == 0 else
            f"truncated: {p.size} bytes is too short for a GGUF header ({_HEADER_BYTES} bytes)"
        )
    magic = bytes(buf[:4])
    if magic != GGUF_MAGIC:
        raise p.fail(f"not a GGUF file (starts with {magic!r}, expected {GGUF_MAGIC!r})")
    p.pos = 4
    version = p.u32("version")
    _check_version(p, version)
    tensor_count = p.u64("tensor count")
    kv_count = p.u64("metadata count")
    left = p.size - p.pos
    if kv_count * _MIN_KV_BYTES > left:
        raise p.fail(f"metadata count {kv_count} cannot fit in the {left} bytes after the header "
                     "(corrupt count or truncated file)")
    if tensor_count * _MIN_TENSOR_INFO_BYTES > left:
        raise p.fail(f"tensor count {tensor_count} cannot fit in the {left} bytes after the header "
                     "(corrupt count or truncated file)")

    metadata: dict = {}
    value_types: dict = {}  # key -> (value type, array item type or None), as stored
    for i in range(kv_count):
        key = p.name(f"metadata key {i}")
        if key in metadata:
            raise p.fail(f"metadata key {key!r} appears twice")
        vtype = p.u32(f"value type of {key!r}")
        item = None
        if vtype == _V.ARRAY:
            p.need(4, f"array item type of {key!r}")
            (item,) = _U32.unpack_from(p.buf, p.pos)
        metadata[key] = p.value(vtype, key)
        value_types[key] = (_V(vtype), _V(item) if item is not None else None)

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if type(alignment) is not int or alignment <= 0 or alignment & (alignment - 1):
        raise p.fail(f"general.alignment = {alignment!r} is not a positive power of two")

    infos = []
    seen = set()
    for i in range(tensor_count):
        info = _tensor_info(p, i)
        if info[0] in seen:
            raise p.fail(f"tensor {info[0]!r} appears twice")
        seen.add(info[0])
        if info[3] % alignment:
            raise p.fail(f"tensor {info[0]!r} data offset {info[3]} is not a multiple of the alignment {alignment}")
        infos.append(info)

    data_offset = -(-p.pos // alignment) * alignment
    tensors = [_make_tensor(p, name, ne, t, data_offset + rel) for name, ne, t, rel in infos]
    _check_data_section(p, tensors, alignment, data_offset)
    return version, metadata, value_types, tensors, alignment, data_offset


def _check_data_section(p: _HeaderParser, tensors: list, alignment: int, data_offset: int) -> None:
    """The tensors tile the data section as GGUF writers lay it out (see the module docstring)."""
    pos, prev = data_offset, None  # where the next tensor's data starts: the previous one's padded end
    for t in sorted(tensors, key=lambda t: t.offset):
        rel = t.offset - data_offset
        if prev is not None and t.offset < prev.offset + prev.n_bytes:
            raise p.fail(
                f"tensors {prev.name!r} (data offset {prev.offset - data_offset}, {prev.n_bytes} bytes) and "
                f"{t.name!r} (data offset {rel}, {t.n_bytes} bytes) overlap: a wrong offset, type or shape"
            )
        if t.offset != pos:
            after = f"the end of tensor {prev.name!r}" if prev is not None else "the start of the data section"
            raise p.fail(
                f"tensor {t.name!r} starts at data offset {rel}, {t.offset - pos} bytes after {after} (expected "
                f"data offset {pos - data_offset}): a wrong offset, type or shape, or a missing tensor-info entry"
            )
        pos = t.offset + -(-t.n_bytes // alignment) * alignment
        prev = t
    if p.size > pos:
        what = f"the data of its last tensor {prev.name!r}" if prev is not None else "its header (it has no tensors)"
        raise p.fail(
            f"the file has {p.size - pos} bytes after {what}: a missing tensor-info entry (the tensor count "
            f"says {len(tensors)}), or a wrong type or shape"
        )


def _data_problem(t: TensorInfo, index: int, field: str, value: float) -> str:
    """What check_tensor_data found, in words: where in the tensor, and the value."""
    row_len = t.shape[-1]
    if not t.type.is_quantized:
        row, col = divmod(index, row_len)
        return f"tensor {t.name!r} ({t.type.name}) holds {value} at row {row}, column {col} (element {index})"
    per_row = row_len // t.type.block_size
    row, block = divmod(index, per_row)
    c0 = block * t.type.block_size
    return (f"tensor {t.name!r} ({t.type.name}) has a block with scale {field} = {value} at row {row}, "
            f"columns {c0} to {c0 + t.type.block_size - 1} (block {index}): the weights there decode to NaN or infinity")


def _map(path: str, copy_on_write: bool = False) -> np.memmap | None:
    """Memory-map the file read-only (copy_on_write: writable, the writes private to this
    mapping and never reaching the file); None for an empty file (which cannot be mapped)."""
    try:
        if os.path.isdir(path):
            raise GGUFError(path, "is a directory, not a GGUF file")
        if os.path.getsize(path) == 0:
            open(path, "rb").close()  # still report a missing or unreadable file as such
            return None
        return np.memmap(path, dtype=np.uint8, mode="c" if copy_on_write else "r")
    except FileNotFoundError:
        raise GGUFError(path, "no such file") from None
    except PermissionError:
        raise GGUFError(path, "permission denied") from None
    except OSError as e:
        raise GGUFError(path, f"cannot read: {e.strerror or e}") from None


class GGUFFile:
    """A GGUF file opened for reading.

    Attributes: path, version, metadata (key -> str/int/float/bool/list), value_types (key ->
    (GGUFValueType, array item GGUFValueType or None), as the file stores them), tensors (TensorInfo in
    file order), alignment, data_offset. Tensor data stays in the memory map: raw() and F32
    array() return views of it. Use as a context manager or call close(); views handed out keep
    the mapping alive until they are dropped.

    copy_on_write: map the file privately and writable; raw() views can then be written, the
    changes seen by whatever reads the mapping (a Model loaded from this GGUFFile with
    repack=False) and never by the file (quantization's --measure swaps tensors this way).
    """

    def __init__(self, path: str | os.PathLike, copy_on_write: bool = False):
        self.path = os.fspath(path)
        self._data = _map(self.path, copy_on_write)
        buf = memoryview(self._data) if self._data is not None else memoryview(b"")
        (self.version, self.metadata, self.value_types, self.tensors, self.alignment,
         self.data_offset) = _parse(buf, self.path)
        self._by_name = {t.name: t for t in self.tensors}

    @property
    def architecture(self) -> str | None:
        """general.architecture ("gemma3", "qwen2", ...), or None when the file does not say."""
        return self.metadata.get("general.architecture")

    def get(self, key: str, default=None):
        """A metadata value, or `default` when the key is absent."""
        return self.metadata.get(key, default)

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def tensor(self, name: str) -> TensorInfo:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"{self.path}: no tensor named {name!r}") from None

    def raw(self, name: str) -> np.ndarray:
        """The tensor's bytes as a flat uint8 view of the file (no copy; read-only unless the
        file was opened copy_on_write)."""
        t = self.tensor(name)
        if self._data is None:
            raise ValueError(f"{self.path}: file is closed")
        return self._data[t.offset : t.offset + t.n_bytes]

    def array(self, name: str, n_threads: int = 0) -> np.ndarray:
        """The tensor as float32 in numpy shape order; F32 tensors are a read-only view (no copy)."""
        t = self.tensor(name)
        data = self.raw(name)
        if t.type == GGMLType.F32:
            return data.view(np.float32).reshape(t.shape)
        if not t.type.can_dequantize:
            raise PyggmlError(f"{self.path}: tensor {name!r} is {t.type.name}, which pyggml cannot dequantize yet")
        return dequantize(data, t.type, t.shape, n_threads=n_threads)

    def check_tensors(self, names=None, progress: "bool | None" = False, n_threads: int = 0) -> None:
        """Scan tensor data for values no correct file holds, as llama.cpp's --check-tensors:
        NaN or infinity among the values of F32, F16 and BF16 tensors and in the block scales
        of quantized ones (a corrupt block decodes to non-finite weights). Raises GGUFError
        naming the first bad tensor, the row and the value.

        names: the tensors to scan (default: all). progress: a progress bar on stderr when it is
        a terminal (None or True; False: none). n_threads: 0 uses every core.
        """
        from ..progress import progress_bar

        tensors = self.tensors if names is None else [self.tensor(n) for n in names]
        with progress_bar(total=sum(t.n_bytes for t in tensors), unit="B", desc="checking tensors",
                          enabled=progress is not False, unit_scale=True) as bar:
            for t in tensors:
                found = _core.check_tensor_data(int(t.type), self.raw(t.name), int(n_threads))
                if found is not None:
                    raise GGUFError(self.path, _data_problem(t, *found))
                bar.update(t.n_bytes)

    def close(self) -> None:
        """Drop this object's reference to the memory map (outstanding views stay valid)."""
        self._data = None

    def __enter__(self) -> "GGUFFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GGUFFile({self.path!r}, architecture={self.architecture!r}, tensors={len(self.tensors)})"
