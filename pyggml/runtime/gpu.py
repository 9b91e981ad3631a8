"""The CUDA back end seen from Python: what the build and the machine offer, and where a
model's blocks go.

pyggml runs on the CPU; a build with CUDA (``CMAKE_ARGS="-DPYGGML_CUDA=ON" pip install .``,
or automatically where ``nvcc`` is on the PATH) can run chosen blocks of a model on an NVIDIA
GPU instead. ``n_gpu_layers=N`` (``-ngl N``) places the last N blocks there, as llama.cpp
does, and the output head too when N exceeds the block count (``-1``, or any N above it, puts
everything there; the token embedding is always looked up on the CPU). A placement can also
name the blocks: ``gpu_layers="12-27,output"``, or a TOML file holding ``layers = "12-27"``
(or a list) and ``output = true``.

Everything here works without a GPU: ``device_info()`` says why there is none, and
``plan()`` computes what a placement would take on one.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Iterable, Optional, Union

from .. import _core
from ..errors import GPUError

# Bytes kept free on the GPU beyond what the model takes (the CUDA context, launches).
RESERVE_BYTES = int(_core.cuda_reserve_bytes())


@dataclasses.dataclass(frozen=True)
class Placement:
    """Which blocks (by index) and whether the output head run on the GPU."""

    layers: tuple = ()
    output: bool = False

    @property
    def any(self) -> bool:
        return bool(self.layers) or self.output

    def describe(self, n_layer: int) -> str:
        """'blocks 14-27 (14 of 28) and the output head', 'nothing', ..."""
        parts = []
        if self.layers:
            parts.append(f"block{'s' if len(self.layers) > 1 else ''} {format_ranges(self.layers)} "
                         f"({len(self.layers)} of {n_layer})")
        if self.output:
            parts.append("the output head")
        return " and ".join(parts) if parts else "nothing"


def format_ranges(indices: Iterable[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5'."""
    out, run = [], []
    for i in sorted(set(indices)):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [i]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def compiled() -> bool:
    """Whether this pyggml was built with the CUDA back end."""
    return bool(_core.cuda_compiled())


def device_info(device: int = 0) -> dict:
    """The CUDA build and device, as _core.cuda_info gives them: compiled, available, reason
    (why not), name, compute_capability, multiprocessors, total_bytes, free_bytes,
    driver_version, runtime_version, architectures. Loads the CUDA driver on first use."""
    return dict(_core.cuda_info(device))


def available(device: int = 0) -> bool:
    """Whether a CUDA GPU can run layers here."""
    return bool(device_info(device)["available"])


def _parse_spec(spec: str, n_layer: int) -> Placement:
    layers, output = set(), False
    for item in (s.strip() for s in spec.replace(";", ",").split(",")):
        if not item:
            continue
        low = item.lower()
        if low in ("output", "head"):
            output = True
        elif low == "all":
            layers.update(range(n_layer))
            output = True
        elif "-" in item[1:]:
            a, b = item.split("-", 1) if not item.startswith("-") else (item, "")
            try:
                lo, hi = int(a), int(b)
            except ValueError:
                raise ValueError(f"GPU layers: {item!r} is not a range like 12-27") from None
            if lo > hi:
                raise ValueError(f"GPU layers: range {item!r} runs backwards")
            layers.update(range(lo, hi + 1))
        else:
            try:
                layers.add(int(item))
            except ValueError:
                raise ValueError(f"GPU layers: {item!r} is neither a block index, a range nor 'output'") from None
    return _checked(layers, output, n_layer)


def _checked(layers, output, n_layer) -> Placement:
    bad = [i for i in layers if not 0 <= i < n_layer]
    if bad:
        raise ValueError(f"GPU layers: block {bad[0]} does not exist (the model has blocks 0-{n_layer - 1})")
    return Placement(tuple(sorted(layers)), bool(output))


def _read_file(path: str, n_layer: int) -> Placement:
    """A placement file: TOML with `layers` (a spec string or a list of indices) and
    `output` (bool), or a plain spec on one line."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    with open(path, "rb") as f:
        raw = f.read()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return _parse_spec(raw.decode("utf-8", "replace").strip(), n_layer)
    unknown = set(data) - {"layers", "output"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)} (a GPU placement has `layers` and `output`)")
    layers = data.get("layers", [])
    if isinstance(layers, str):
        p = _parse_spec(layers, n_layer)
        return Placement(p.layers, p.output or bool(data.get("output", False)))
    if not isinstance(layers, list) or not all(isinstance(i, int) for i in layers):
        raise ValueError(f"{path}: `layers` must be a string like \"12-27\" or a list of block indices")
    return _checked(set(layers), data.get("output", False), n_layer)


def placement(n_layer: int, n_gpu_layers: int = 0, gpu_layers: Union[None, str, Iterable] = None) -> Placement:
    """Where a model of n_layer blocks runs.

    n_gpu_layers: the last N blocks on the GPU, and the output head when N > n_layer (llama.cpp's
    rule); -1 (any negative): everything. gpu_layers instead names them: an iterable of block
    indices (and "output"), a spec string "12-27,output" ("all": everything), or the path of a
    placement file (see the module docstring). Not both."""
    if gpu_layers is not None:
        if n_gpu_layers:
            raise ValueError("give n_gpu_layers or gpu_layers, not both")
        if isinstance(gpu_layers, (str, os.PathLike)):
            spec = os.fspath(gpu_layers)
            if os.path.isfile(spec):
                return _read_file(spec, n_layer)
            return _parse_spec(spec, n_layer)
        layers, output = set(), False
        for item in gpu_layers:
            if isinstance(item, str) and item.lower() in ("output", "head"):
                output = True
            else:
                layers.add(int(item))
        return _checked(layers, output, n_layer)
    n = int(n_gpu_layers)
    if n < 0 or n > n_layer:
        return Placement(tuple(range(n_layer)), True)
    return Placement(tuple(range(n_layer - n, n_layer)), False)


def plan(hparams: dict, tensors: dict, where: Placement, n_ctx: int, n_batch: int) -> dict:
    """GPU bytes {weights, kv, scratch, total} of a placement, as the model would allocate
    them; hparams and tensors as pyggml.runtime.model passes them to the native model. Raises
    GPUError for a tensor or head size the GPU kernels do not handle."""
    native_hp = _core.ModelHParams(**{k: v for k, v in hparams.items() if k not in ("arch", "n_ctx_train", "n_ctx_orig")})
    try:
        return dict(_core.Model.gpu_plan(native_hp, tensors, list(where.layers), bool(where.output), int(n_ctx),
                                         int(n_batch)))
    except ValueError as e:
        raise GPUError(str(e)) from e


def largest_fit(hparams: dict, tensors: dict, n_ctx: int, n_batch: int, free_bytes: int) -> int:
    """The largest n_gpu_layers (counting n_layer + 1 for everything) whose plan fits in
    free_bytes with RESERVE_BYTES to spare; 0 when not even one block fits."""
    n_layer = hparams["n_layer"]
    best = 0
    for n in range(1, n_layer + 2):
        where = placement(n_layer, n)
        if plan(hparams, tensors, where, n_ctx, n_batch)["total"] + RESERVE_BYTES > free_bytes:
            break
        best = n
    return best


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


def describe_plan(p: dict) -> str:
    """'1.1 GiB (weights 1.0 GiB, KV cache 112.0 MiB, scratch 64.2 MiB)'."""
    return (f"{size(p['total'])} (weights {size(p['weights'])}, KV cache {size(p['kv'])}, "
            f"scratch {size(p['scratch'])})")


def describe_device(info: Optional[dict] = None) -> str:
    """One line about the GPU, or why there is none."""
    info = device_info() if info is None else info
    if not info["available"]:
        return f"none: {info['reason']}"
    cc = ".".join(str(v) for v in info["compute_capability"])

    def version(v):
        return f"{v // 1000}.{v % 1000 // 10}"

    return (f"{info['name']} (compute {cc}, {info['multiprocessors']} multiprocessors; "
            f"{size(info['free_bytes'])} free of {size(info['total_bytes'])}; "
            f"driver {version(info['driver_version'])}, runtime {version(info['runtime_version'])})")


def check(hparams: dict, tensors: dict, where: Placement, n_ctx: int, n_batch: int, what: str) -> dict:
    """Before loading: raises GPUError when the placement cannot run here (no GPU, a tensor
    the kernels do not handle, not enough free memory: the message says how many layers
    would fit); returns the plan. `what` names the request in messages ('n_gpu_layers=28')."""
    info = device_info()
    if not info["available"]:
        raise GPUError(f"{what} needs a CUDA GPU, and there is none: {info['reason']}")
    p = plan(hparams, tensors, where, n_ctx, n_batch)
    if p["total"] + RESERVE_BYTES > info["free_bytes"]:
        fit = largest_fit(hparams, tensors, n_ctx, n_batch, info["free_bytes"])
        hint = (f"n_gpu_layers={fit} fits" if fit else "not even one block fits") + f" with n_ctx={n_ctx}"
        raise GPUError(f"{what} places {where.describe(hparams['n_layer'])} on {info['name']}: that needs "
                       f"{describe_plan(p)} and {size(RESERVE_BYTES)} kept free, but {size(info['free_bytes'])} "
                       f"is free ({hint})")
    return p
