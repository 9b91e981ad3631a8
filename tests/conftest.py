"""Shared test fixtures: the real models and a writer for small synthetic GGUF files
(support/gguf_files.py)."""

from __future__ import annotations

import os

# The tests' matrices are small: BLAS threads cost more than they give (on a loaded 2-core
# machine calibration tests ran ~10x slower with OpenBLAS's default threads). Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest  # noqa: E402
from support.gguf_files import write_gguf  # noqa: E402

from pyggml import models  # noqa: E402


def _real_model(name: str) -> str:
    try:
        return str(models.model_path(name))
    except models.ModelPackagesMissing as e:
        pytest.skip(f"real model {name} not available: {e}")


def pytest_collection_modifyitems(config, items):
    # The sanitizer test last: its module builds in the background while the others run.
    items.sort(key=lambda item: item.get_closest_marker("sanitizer") is not None)


def pytest_collection_finish(session):
    if not session.config.option.collectonly and any(item.get_closest_marker("sanitizer") for item in session.items):
        from support import asan_build

        asan_build.start()


def pytest_sessionfinish(session):
    from support import asan_build

    asan_build.stop()  # a run cut short (-x, Ctrl-C) leaves no build behind


@pytest.fixture(scope="session")
def gemma_path() -> str:
    """Path of the Gemma 3 270M Q4_K_M GGUF (assembled into the cache on first use)."""
    return _real_model("gemma3-270m")


@pytest.fixture(scope="session")
def qwen_path() -> str:
    """Path of the Qwen2.5-Coder 1.5B Instruct Q4_K_M GGUF (assembled into the cache on first use)."""
    return _real_model("qwen2.5-coder-1.5b")


@pytest.fixture
def make_gguf(tmp_path):
    """Returns write_gguf bound to a fresh file in tmp_path: make_gguf(tensors=..., metadata=...)."""
    counter = iter(range(1_000_000))

    def make(tensors=None, metadata=None, arch: str = "test", name: str | None = None) -> str:
        return write_gguf(tmp_path / (name or f"model{next(counter)}.gguf"), tensors, metadata, arch)

    return make


@pytest.fixture(scope="session")
def gemma_tok(gemma_path):
    from pyggml.text.tokenizer import Tokenizer

    return Tokenizer.from_gguf(gemma_path)


@pytest.fixture(scope="session")
def qwen_tok(qwen_path):
    from pyggml.text.tokenizer import Tokenizer

    return Tokenizer.from_gguf(qwen_path)
