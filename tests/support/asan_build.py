"""The native module built in Debug mode under AddressSanitizer, for tests/native/test_sanitizers.py.

Its build takes minutes on a small machine; when a run selects the sanitizer test, the build
starts in the background as soon as collection ends (tests/conftest.py), at a low CPU
priority so that it takes the cores the other tests leave idle, and the sanitizer test (run
last) waits for it. Run alone, the test starts the build and waits at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "asan"
OUTPUT = BUILD / "module"          # where the sanitized _core lands (PYGGML_OUTPUT_DIR)
LOG = BUILD / "build.log"

_build: subprocess.Popen | None = None


def _script() -> str:
    import pybind11

    configure = ["cmake", "-S", str(ROOT), "-B", str(BUILD), "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Debug",
                 "-DPYGGML_ASAN=ON", "-DPYGGML_CUDA=OFF",  # the CPU code is what runs under ASan here
                 f"-DPYGGML_OUTPUT_DIR={OUTPUT}", f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
                 f"-DPython_EXECUTABLE={sys.executable}"]
    build = ["cmake", "--build", str(BUILD), "-j", str(os.cpu_count() or 2)]
    return f"{subprocess.list2cmdline(configure)} && {subprocess.list2cmdline(build)}"


def start() -> None:
    """Starts the build in the background (once per process)."""
    global _build
    if _build is not None:
        return
    BUILD.mkdir(parents=True, exist_ok=True)
    with open(LOG, "w") as log:
        _build = subprocess.Popen(["sh", "-c", _script()], stdout=log, stderr=subprocess.STDOUT,
                                  preexec_fn=lambda: os.nice(10))


def wait(timeout: float = 1800) -> Path:
    """Waits for the build (starting it if needed); the folder holding the sanitized module.
    A failed build raises AssertionError with the end of its log."""
    start()
    try:
        code = _build.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _build.kill()
        raise AssertionError(f"the AddressSanitizer build took more than {timeout:.0f} s (log: {LOG})") from None
    if code != 0:
        raise AssertionError(f"the AddressSanitizer build failed ({code}):\n{LOG.read_text()[-6000:]}")
    return OUTPUT


def stop() -> None:
    """Ends a build still running (the test run ended without waiting for it)."""
    if _build is not None and _build.poll() is None:
        _build.kill()
        _build.wait()
