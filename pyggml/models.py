"""The real models pyggml knows, assembled on first use from their pip packages into a cache.

The registry is data: one TOML file per model (the repository's `models/` folder, installed
into the package as `pyggml/model_registry/`) giving its name and aliases, the pip packages
that carry the GGUF file in parts and in which order, its size and sha256, architecture,
license and chat format. Adding a model is adding a file there (see models/README.md).

model_path() joins the parts into `$PYGGML_CACHE` (default ~/.cache/pyggml/models/), writing
to a temporary file that is renamed into place only after its sha256 matches. A small
`<file>.sha256` marker next to the model records the verified checksum, size and mtime, so
later calls cost one stat(); a file that is already there with the right size is checksummed
once instead of being rebuilt.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Tuple

from .errors import PyggmlError
from .progress import progress_bar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python < 3.11
    import tomli as tomllib

_INSTALL_HINT = 'pip install "pyggml[models]"'
_CHUNK = 4 << 20


class ModelPackagesMissing(PyggmlError, ImportError):
    """A model's pip packages are not installed (and the model is not in the cache yet)."""


@dataclasses.dataclass(frozen=True)
class ModelPart:
    """One part of a model's GGUF file: a file inside an installed pip package."""

    package: str  # the PyPI name, what pip installs
    module: str  # its import name
    file: str  # the part, relative to the module's folder


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str
    file_name: str
    sha256: str
    size: int  # bytes of the assembled file
    description: str
    part_paths: Callable[[], List[Path]]  # the part files, in order (imports the packages)
    aliases: Tuple[str, ...] = ()
    architecture: str = ""
    quantization: str = ""
    license: str = ""
    chat_format: str = ""
    parts: Tuple[ModelPart, ...] = ()
    default: bool = False

    @property
    def packages(self) -> List[str]:
        """The pip packages that carry the model, in order."""
        return [p.package for p in self.parts]


def registry_dir() -> Path:
    """Where the model files are: inside the installed package, or the source tree's models/."""
    installed = Path(__file__).resolve().parent / "model_registry"
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parent.parent / "models"


def _import(part: ModelPart, model: str):
    try:
        return importlib.import_module(part.module)
    except ImportError:
        raise ModelPackagesMissing(
            f"model {model!r} needs the package {part.module!r} ({part.package} on PyPI), which is not "
            f"installed; install the model packages with: {_INSTALL_HINT}"
        ) from None


def _part_paths(model: str, parts: Tuple[ModelPart, ...]) -> List[Path]:
    return [Path(_import(p, model).__file__).parent / p.file for p in parts]


_FIELDS = {"name": str, "file_name": str, "sha256": str, "size": int, "description": str}
_OPTIONAL = {"aliases": list, "architecture": str, "quantization": str, "license": str, "chat_format": str,
             "default": bool}


def read_spec(path: Path) -> ModelSpec:
    """One registry file as a ModelSpec; PyggmlError naming the file when it is not one."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise PyggmlError(f"{path}: not a readable model file: {e}") from None

    def field(key, kind, required):
        if key not in data:
            if required:
                raise PyggmlError(f"{path}: missing {key!r}")
            return kind()
        value = data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise PyggmlError(f"{path}: {key!r} must be a {kind.__name__}, not {value!r}")
        return value

    values = {k: field(k, kind, True) for k, kind in _FIELDS.items()}
    values.update({k: field(k, kind, False) for k, kind in _OPTIONAL.items()})
    if len(values["sha256"]) != 64:
        raise PyggmlError(f"{path}: 'sha256' must be 64 hex digits")
    raw_parts = data.get("parts")
    if not isinstance(raw_parts, list) or not raw_parts:
        raise PyggmlError(f"{path}: needs at least one [[parts]] entry (package, module, file)")
    parts = []
    for i, p in enumerate(raw_parts):
        if not isinstance(p, dict) or not all(isinstance(p.get(k), str) for k in ("package", "module", "file")):
            raise PyggmlError(f"{path}: parts[{i}] needs the strings package, module and file")
        parts.append(ModelPart(p["package"], p["module"], p["file"]))
    parts = tuple(parts)
    values["aliases"] = tuple(str(a) for a in values["aliases"])
    return ModelSpec(part_paths=functools.partial(_part_paths, values["name"], parts), parts=parts, **values)


def read_registry(directory: Path) -> Dict[str, ModelSpec]:
    """Every *.toml file of a registry folder, by model name."""
    specs: Dict[str, ModelSpec] = {}
    for path in sorted(directory.glob("*.toml")):
        spec = read_spec(path)
        if spec.name in specs:
            raise PyggmlError(f"{path}: a second model named {spec.name!r}")
        specs[spec.name] = spec
    return specs


MODELS = read_registry(registry_dir())
_defaults = [s.name for s in MODELS.values() if s.default]
DEFAULT_MODEL = _defaults[0] if _defaults else (next(iter(MODELS)) if MODELS else "")


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
    if find(text) is not None and not os.path.exists(text):
        return model_path(text)
    return Path(text)


def model_path(name: str = DEFAULT_MODEL) -> Path:
    """Path of a ready, checksummed model file, assembling it into the cache if needed.
    name: a model's name or one of its aliases."""
    spec = _spec(name)
    target = cache_dir() / spec.file_name
    if _marker_matches(target, spec):
        return target
    if _size_of(target) == spec.size and _sha256_file(target, spec.file_name) == spec.sha256:
        _write_marker(target, spec)
        return target
    _assemble(spec, target)
    return target


def find(name: str) -> "ModelSpec | None":
    """The model a name or alias stands for, or None."""
    if name in MODELS:
        return MODELS[name]
    return next((s for s in MODELS.values() if name in s.aliases), None)


def _spec(name: str) -> ModelSpec:
    spec = find(name)
    if spec is None:
        raise PyggmlError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    return spec


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


def _progress(total: int, desc: str):
    return progress_bar(total=total, unit="B", desc=desc, leave=True, unit_scale=True, unit_divisor=1024)


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
