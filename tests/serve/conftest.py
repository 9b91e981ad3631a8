"""`pyggml serve` tests: a server on a tiny synthetic model (support/serving.py)."""

from __future__ import annotations

import pytest

from support.serving import running_server
from support.synthetic_models import make_model


@pytest.fixture(scope="package")
def tiny_model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("serve") / "tiny-qwen2.gguf")
    make_model("qwen2", path, tie_output=False)
    return path


@pytest.fixture(scope="package")
def server(tiny_model):
    with running_server(tiny_model, max_queue=8) as s:
        yield s
