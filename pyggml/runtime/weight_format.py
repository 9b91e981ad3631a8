"""Weight formats quantized at load: Model.load(path, weight_format=...) and the CLI's -wf.

The literature's formats beside GGUF's, run by the same forward pass with C++ kernels
(cpp/quant/int8_formats.cpp, bnb4.cpp; cpp/kernels/vec_dot_int8.cpp, vec_dot_bnb4.cpp and their
AVX2 twins). They are made in memory from an F16, BF16 or F32 GGUF when the model loads and
never written to a file (other readers could not load them).

Names (FORMATS): ``int8-absmax`` and ``int8-zeropoint`` (``:row`` the default, ``:tensor``,
``:block64``), ``llm.int8`` (threshold: ``int8_threshold``, 6.0 by default), ``nf4`` and ``fp4``
(double quantization on; ``:nodq`` turns it off).

Which tensors: the matrices of the blocks (attention q/k/v/output, the feed-forward's
gate/up/down, a mixture's router and experts), as bitsandbytes replaces a model's Linear layers.
The token embedding, the norms and the output head stay as the file has them (bitsandbytes and
transformers leave lm_head in 16 bits by default).
Once a matrix is converted, its source pages of the mapped file leave the process's resident set
(_core.release_file_pages), so the model holds the format's bytes, not those and the F16 ones.

A quantized GGUF is refused (WeightFormatError): re-quantizing already quantized values would
measure neither format. `pyggml quantize IN OUT F16` makes an F16 file to start from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _core
from ..errors import ArgumentError, GGUFError

_TYPE_IDS = {row["name"]: row["id"] for row in _core.runtime_type_table()}

# name -> (granularities, default granularity); a granularity of None: the name takes none.
FORMATS = {
    "int8-absmax": (("row", "tensor", "block64"), "row"),
    "int8-zeropoint": (("row", "tensor", "block64"), "row"),
    "llm.int8": ((), None),
    "nf4": (("nodq",), None),
    "fp4": (("nodq",), None),
}

SOURCE_TYPES = ("F32", "F16", "BF16")
DEFAULT_INT8_THRESHOLD = 6.0


class WeightFormatError(GGUFError):
    """The file's matrices cannot be converted to the weight format asked for."""


@dataclass(frozen=True)
class WeightFormat:
    """A parsed weight format: its canonical name, the native type id, and its options."""

    name: str          # e.g. "int8-absmax:row", "nf4" (double quantization), "nf4:nodq"
    type_id: int       # the runtime type id (pyggml._core.runtime_type_table)
    per_tensor: bool = False
    threshold: "float | None" = None  # llm.int8's outlier threshold

    @property
    def type_name(self) -> str:
        return next(n for n, i in _TYPE_IDS.items() if i == self.type_id)


def valid_names() -> str:
    """The accepted names, for messages and --help."""
    out = []
    for name, (options, _) in FORMATS.items():
        out.append(name)
        out += [f"{name}:{o}" for o in options]
    return ", ".join(out)


def parse_weight_format(spec, int8_threshold: float = DEFAULT_INT8_THRESHOLD) -> "WeightFormat | None":
    """A WeightFormat from its name ("nf4", "int8-absmax:tensor", ...); None for None or ""."""
    if spec is None or spec == "":
        return None
    if isinstance(spec, WeightFormat):
        return spec
    if not isinstance(spec, str):
        raise ArgumentError(f"weight_format must be a string, got {type(spec).__name__}")
    base, _, option = spec.strip().lower().partition(":")
    if base not in FORMATS or (option and option not in FORMATS[base][0]):
        raise ArgumentError(f"unknown weight format {spec!r}; valid names: {valid_names()}")
    if base == "llm.int8":
        t = float(int8_threshold)
        if not np.isfinite(t) or t <= 0:
            raise ArgumentError(f"int8_threshold must be a positive number, got {int8_threshold!r}")
        return WeightFormat("llm.int8", _TYPE_IDS["LLM_INT8"], threshold=t)
    if base in ("nf4", "fp4"):
        dq = option != "nodq"
        type_name = base.upper() + ("_DQ" if dq else "")
        return WeightFormat(base if dq else f"{base}:nodq", _TYPE_IDS[type_name])
    gran = option or FORMATS[base][1]
    zp = base == "int8-zeropoint"
    type_name = {"row": "I8Z_ROW" if zp else "I8_ROW", "tensor": "I8Z_ROW" if zp else "I8_ROW",
                 "block64": "I8Z_B64" if zp else "I8_B64"}[gran]
    return WeightFormat(f"{base}:{gran}", _TYPE_IDS[type_name], per_tensor=gran == "tensor")


def converts(name: str, ne) -> bool:
    """Whether the tensor `name` (GGUF shape ne) is one of the matrices a weight format replaces."""
    dims = [n for n in ne if n != 1]  # a norm or bias arrives as (n, 1)
    return name.startswith("blk.") and name.endswith(".weight") and len(dims) >= 2


def convert_tensors(path, tensors: dict, fmt: WeightFormat) -> "tuple[dict, dict]":
    """The native tensor dict (pyggml.runtime.model._native_tensors's) with every matrix of the
    blocks in `fmt`; returns (tensors, report). report: the format, the converted tensors, their
    parameters and bytes, and the bits per weight these take (scales included)."""
    from ..formats.quants import dequantize
    from ..formats.types import GGMLType

    out = dict(tensors)
    params = n_bytes = n_src_bytes = count = 0
    for name, entry in tensors.items():
        ttype, view, ne = entry[:3]
        if not converts(name, ne):
            continue
        src = GGMLType(ttype)
        if src.name not in SOURCE_TYPES:
            raise WeightFormatError(
                path, f"weight format {fmt.name} needs an F16, BF16 or F32 model, but {name} is {src.name}; "
                "make one with `pyggml quantize IN OUT F16` (from a quantized file its values are then the "
                "dequantized ones)")
        n = int(ne[0])
        rows = int(np.prod(ne[1:], dtype=np.int64))
        block = 64 if fmt.type_name in ("I8_B64", "I8Z_B64", "NF4", "FP4", "NF4_DQ", "FP4_DQ") else 32
        if n % block:
            raise WeightFormatError(path, f"{name}: rows of {n} values cannot be stored as {fmt.name} "
                                    f"(a multiple of {block} is needed)")
        x = dequantize(view, src, shape=(rows, n))
        q = _core.quantize_weight(fmt.type_id, x, per_tensor=fmt.per_tensor)
        del x
        # the model reads the converted copy only: the source's pages of the mapped file leave
        # the resident set (they stay in the page cache; nothing is released for other memory)
        _core.release_file_pages(view)
        flat = q.reshape(-1)
        out[name] = (fmt.type_id, flat, tuple(ne)) if fmt.threshold is None else (
            fmt.type_id, flat, tuple(ne), fmt.threshold)
        params += rows * n
        n_bytes += flat.nbytes
        n_src_bytes += view.nbytes
        count += 1
    report = {
        "weight_format": fmt.name,
        "native_type": fmt.type_name,
        "tensors": count,
        "parameters": params,
        "bytes": n_bytes,
        "source_bytes": n_src_bytes,
        "bits_per_weight": n_bytes * 8 / params if params else 0.0,
    }
    if fmt.threshold is not None:
        report["int8_threshold"] = fmt.threshold
    return out, report
