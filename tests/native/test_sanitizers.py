"""The test suite passes with the native module built in Debug mode under AddressSanitizer.

The module is rebuilt with -DPYGGML_ASAN=ON (support/asan_build.py: in the background from the
start of the run, this test running last), copied into a scratch package, and the fast tests
(no real models) run against it in a subprocess with libasan preloaded. Any heap overflow,
use-after-free or bad read in the C++ core fails this test with ASan's report.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import asan_build

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.sanitizer

# The test files that drive the native code (everything crossing the binding layer).
# The GGUF fuzz test runs fewer mutants there (PYGGML_UNDER_ASAN: 100, within a time budget).
NATIVE_TESTS = [
    "formats/test_quants.py", "formats/test_quants_k.py", "native/test_quants_simd.py", "formats/test_bad_input.py",
    "formats/test_gguf_file.py", "native/test_kernels.py", "native/test_matmul.py", "native/test_repack.py",
    "runtime/test_model.py", "native/test_ops.py", "text/test_tokenizer.py", "runtime/test_generate.py",
    "runtime/test_bad_models.py", "formats/test_fuzz_gguf.py",
]


def _runtime(name: str) -> str:
    out = subprocess.run(["g++", f"-print-file-name={name}"], capture_output=True, text=True)
    path = out.stdout.strip()
    if out.returncode != 0 or not os.path.isabs(path) or not os.path.exists(path):
        pytest.fail(f"{name} not found: install g++ (with libasan) to run this test")
    return path


def test_suite_passes_under_address_sanitizer(tmp_path):
    # libstdc++ is preloaded too: python itself does not link it, and ASan must see its
    # __cxa_throw at start-up to intercept C++ exceptions.
    preload = f"{_runtime('libasan.so')} {_runtime('libstdc++.so')}"
    module_dir = asan_build.wait()  # built in the background since collection (support/asan_build.py)
    pkg = tmp_path / "pkg"
    shutil.copytree(ROOT / "pyggml", pkg / "pyggml", ignore=shutil.ignore_patterns("_core*", "__pycache__"))
    for built in module_dir.glob("_core*"):
        shutil.copy2(built, pkg / "pyggml" / built.name)
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(pkg),
        LD_PRELOAD=preload,
        ASAN_OPTIONS=f"detect_leaks=0:abort_on_error=0:halt_on_error=1:log_path={tmp_path / 'asan'}",
        PYGGML_UNDER_ASAN="1",
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
         "-m", "not real_model and not slow and not sanitizer and not llama_cpp and not fuzz_long",
         *[str(ROOT / "tests" / name) for name in NATIVE_TESTS]],
        env=env, capture_output=True, text=True, cwd=tmp_path,
    )
    reports = "".join(p.read_text() for p in tmp_path.glob("asan*"))
    tail = (reports + result.stdout + result.stderr)[-8000:]
    assert not reports, tail
    assert result.returncode == 0, tail
    # The subprocess really used the sanitized module, not an installed one.
    probe = subprocess.run(
        [sys.executable, "-c", "import pyggml._core as c; print(c.__file__)"],
        env=env, capture_output=True, text=True, cwd=tmp_path,
    )
    assert str(pkg) in probe.stdout, probe.stdout + probe.stderr
