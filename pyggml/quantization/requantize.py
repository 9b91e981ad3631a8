"""Re-quantize a GGUF file: every tensor dequantized and quantized again under a policy.

Metadata is copied with its GGUF value types (llama.cpp checks them), except the file type and
quantization version, which describe the new file. Tensors the policy leaves alone (norms, 1-D)
and tensors already in their chosen type are copied byte for byte. Quantizing an already
quantized source compounds the rounding of both formats, so it is allowed but warned about.
Output goes through gguf_output: written under a temporary name, renamed when complete.
"""

from __future__ import annotations

import sys
import warnings

import gguf
import numpy as np

from ..errors import GGUFError, PyggmlError
from ..formats.gguf_file import GGUFFile
from ..formats.gguf_output import GGUFOutput
from ..formats.imatrix import load_imatrix
from ..formats.quants import encode_tensor
from ..formats.types import GGMLType
from ..progress import progress_bar
from .bpw_target import candidates, choose_types, policy_from_types, tensor_costs
from .policy import IMATRIX_TYPES, ModelShape, choose_policy, is_quantizable

_FLOAT_TYPES = (GGMLType.F32, GGMLType.F16, GGMLType.BF16)
_V = gguf.GGUFValueType


class RequantizeWarning(UserWarning):
    """The source is already quantized: its rounding error carries into the new file."""


def _copy_metadata(src: GGUFFile, w: gguf.GGUFWriter) -> None:
    types = src.value_types
    skip = {"general.architecture", "general.file_type", "general.quantization_version", "general.alignment"}
    for key, value in src.metadata.items():
        if key in skip or key.startswith("split."):
            continue
        vt, sub = types[key]
        if sub == _V.ARRAY:
            raise GGUFError(src.path, f"metadata key {key!r}: nested arrays are not copied")
        if vt == _V.STRING:
            value = _encodable(value)
        elif vt == _V.ARRAY and sub == _V.STRING:
            value = [_encodable(v) for v in value]
        w.add_key_value(key, value, vt, sub_type=sub)


def _encodable(s: str):
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:  # bytes that were not UTF-8 in the source, kept as they were
        return s.encode("utf-8", "surrogateescape")


def model_shape(g: GGUFFile) -> ModelShape:
    return ModelShape.from_gguf_metadata(g.metadata, [t.name for t in g.tensors])


def measure_costs(g: GGUFFile, imat=None, n_threads: int = 0, progress: bool = False):
    """(costs of the quantizable tensors, bits of the others, total weights) for choose_types."""
    costs, fixed_bits, n_total = [], 0.0, 0
    with progress_bar(total=len(g.tensors), unit="tensor", enabled=progress) as bar:
        for t in g.tensors:
            bar.set_description(f"measuring {t.name}", refresh=False)
            n_total += t.n_elements
            if not is_quantizable(t.name, len(t.shape)):
                fixed_bits += t.n_bytes * 8
            else:
                imp = None if imat is None else imat.get(t.name)
                costs.append(tensor_costs(t.name, g.array(t.name, n_threads), imp, candidates(imat is not None),
                                          n_threads=n_threads))
            bar.update(1)
    return costs, fixed_bits, n_total


def plan_target_bpw(g: GGUFFile, target_bpw: float, imat=None, n_threads: int = 0, progress: bool = False):
    """A policy giving each tensor its type for an average of `target_bpw` bits per weight."""
    costs, fixed_bits, n_total = measure_costs(g, imat, n_threads, progress)
    types = choose_types(costs, fixed_bits, n_total, target_bpw)
    return policy_from_types(types, f"target {target_bpw:g} bpw")


def plan(g: GGUFFile, qtype="Q4_K_M", *, policy=None, pure: bool = False, imat=None, target_bpw=None,
         n_threads: int = 0, progress: bool = False):
    """([(name, shape, old type, new type)], file type) for re-quantizing the open file `g`."""
    if g.architecture is None:
        raise GGUFError(g.path, "has no general.architecture")
    if target_bpw is not None:
        pol, file_type = plan_target_bpw(g, target_bpw, imat, n_threads, progress), 1
    else:
        pol, file_type = choose_policy(qtype, policy, model_shape(g), has_imatrix=imat is not None, pure=pure)
    table = []
    for t in g.tensors:
        new = pol.choose(t.name, t.shape)
        table.append((t.name, t.shape, t.type, t.type if new is None else new))
    check_plan(table, imat)
    return table, file_type


def check_plan(table: list, imat) -> None:
    """Refuse, before anything is written, a plan pyggml cannot carry out: a type it cannot
    write, or (as llama.cpp's quantize tool does) a 1- or 2-bit codebook type without an
    importance matrix, outside the token table and the output."""
    needy = [(name, new) for name, _, old, new in table
             if new != old and new in IMATRIX_TYPES and name not in ("token_embd.weight", "output.weight")]
    if needy and imat is None:
        name, t = needy[0]
        raise PyggmlError(
            f"{t.name} needs an importance matrix (tensor {name} and {len(needy) - 1} more); llama.cpp refuses "
            "these types without one too. Make one from calibration text with `pyggml quantize IN OUT Q4_K_M "
            "--method imatrix --imatrix-out imatrix.gguf` (or llama.cpp's `llama-imatrix -m IN -f text.txt -o "
            "imatrix.gguf`), then pass `--imatrix imatrix.gguf`")
    missing = [(name, new) for name, _, old, new in table if new != old and not new.can_quantize]
    if missing:
        name, t = missing[0]
        raise PyggmlError(f"type {t.name} has no quantizer in pyggml (tensor {name} and {len(missing) - 1} more); "
                          "pyggml reads and runs it but cannot write it: choose another type or preset")


def requantize(in_path, out_path, qtype="Q4_K_M", *, policy=None, pure: bool = False, imatrix=None,
               target_bpw: float | None = None, n_threads: int = 0, progress: bool = True,
               replace=None, encode=None) -> list:
    """Write `in_path` re-quantized to `out_path`; returns [(name, shape, old type, new type)].

    Choose the types with `qtype` (a preset or type), `policy` (Policy or TOML path), or
    `target_bpw` (average bits per weight over the whole file). `imatrix`: a llama.cpp imatrix
    file or {tensor name: importance}. For calibrated methods: `replace(name)` may return a
    float32 array that stands in for the tensor's values (AWQ's folded scales), and
    `encode(name, new type)` the finished bytes of a tensor (GPTQ); None keeps the default.
    """
    imat = load_imatrix(imatrix)
    with GGUFFile(in_path) as g:
        table, file_type = plan(g, qtype, policy=policy, pure=pure, imat=imat, target_bpw=target_bpw,
                                n_threads=n_threads, progress=progress)
        requant = [name for name, _, old, new in table if old != new and old not in _FLOAT_TYPES]
        if requant:
            warnings.warn(RequantizeWarning(
                f"{g.path}: {len(requant)} tensors are already quantized (e.g. {requant[0]}); re-quantizing "
                "adds a second rounding error -- convert from the F16/BF16/F32 original when you can"),
                stacklevel=2)
        with GGUFOutput(out_path, g.architecture) as out:
            _copy_metadata(g, out.writer)
            out.writer.add_file_type(file_type)
            out.writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
            for name, shape, _, new in table:
                out.declare(name, shape, new)
            out.begin()
            with progress_bar(total=len(table), unit="tensor", enabled=progress) as bar:
                for name, shape, old, new in table:
                    bar.set_description(f"{name} {old.name} -> {new.name}", refresh=False)
                    done = None if encode is None else encode(name, new)
                    x = None if replace is None or done is not None else replace(name)
                    if done is not None:
                        out.write(name, done)
                    elif new == old and x is None:
                        out.write(name, g.raw(name))
                    else:
                        if x is None:
                            if not old.can_dequantize and old != GGMLType.F32:
                                raise PyggmlError(f"{g.path}: tensor {name} is {old.name}, which pyggml cannot dequantize")
                            x = g.array(name, n_threads)
                        out.write(name, encode_tensor(x, new, name, imat, n_threads))
                    bar.update(1)
    return table


def format_table(table: list) -> str:
    """A printable per-tensor type table with the resulting bits per weight."""
    lines, bits, n = [], 0, 0
    for name, shape, old, new in table:
        n_el = int(np.prod(shape))
        bits += n_el * new.type_size * 8 / new.block_size
        n += n_el
        lines.append(f"{name:40s} {'x'.join(str(s) for s in reversed(shape)):>16s} {old.name:>7s} -> {new.name}")
    lines.append(f"{len(table)} tensors, {n} weights, {bits / max(n, 1):.3f} bits per weight")
    return "\n".join(lines)


def print_table(table: list, file=None) -> None:
    print(format_table(table), file=file or sys.stdout)
