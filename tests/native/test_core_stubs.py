"""pyggml/_core.pyi names every entry point of the native module and of its testing submodule."""

import ast
import inspect
from pathlib import Path

from pyggml import _core

STUB = Path(__file__).resolve().parents[2] / "pyggml" / "_core.pyi"


def _public(names):
    return {n for n in names if not n.startswith("_")}


def test_stub_matches_the_module():
    tree = ast.parse(STUB.read_text())
    top, testing = set(), set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            if node.name == "_Testing":
                testing = {f.name for f in node.body if isinstance(f, ast.FunctionDef)}
            else:
                top.add(node.name)
    module = _public(n for n in dir(_core) if not inspect.ismodule(getattr(_core, n)))
    assert top == module
    assert testing == _public(dir(_core.testing))
