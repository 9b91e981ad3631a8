"""llama.cpp's tokenizer test data: the vocabulary-only GGUF files (models/ggml-vocab-*.gguf)
and, for most of them, .inp / .out files of texts and the ids llama.cpp gives them.

The files are public test data of llama.cpp and are not kept in this repository. They are
taken, in this order, from:

- $PYGGML_LLAMA_VOCABS: a folder holding them, or a llama.cpp checkout or an extracted
  llama-cpp-python source distribution that has them under models/ or vendor/llama.cpp/models/;
- the test-data cache, $PYGGML_TEST_DATA or ~/.cache/pyggml/test-data, where the first use
  downloads llama-cpp-python's source distribution with pip
  (`pip download --no-deps --no-binary llama-cpp-python llama-cpp-python==0.3.36`) and keeps
  only the vocabulary files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

LLAMA_CPP_PYTHON = "0.3.36"
_PATTERN = "ggml-vocab-*.gguf"


class VocabDataMissing(Exception):
    """The vocabulary files are neither given nor downloadable; the message says how to give them."""


def _find(root: Path) -> Path | None:
    for d in (root, root / "models", root / "vendor" / "llama.cpp" / "models"):
        if d.is_dir() and any(d.glob(_PATTERN)):
            return d
    return None


def cache_root() -> Path:
    env = os.environ.get("PYGGML_TEST_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "pyggml" / "test-data"


def vocab_dir() -> Path:
    """The folder of ggml-vocab-*.gguf files (downloaded into the cache on first use)."""
    env = os.environ.get("PYGGML_LLAMA_VOCABS")
    if env:
        found = _find(Path(env).expanduser())
        if found is None:
            raise VocabDataMissing(f"$PYGGML_LLAMA_VOCABS={env} holds no {_PATTERN} (looked in it, models/ "
                                   f"and vendor/llama.cpp/models/)")
        return found
    target = cache_root() / f"llama-cpp-python-{LLAMA_CPP_PYTHON}" / "models"
    if target.is_dir() and any(target.glob(_PATTERN)):
        return target
    _download(target)
    return target


def _download(target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        # the source distribution only: its build requirement (for pip's metadata step) may be a wheel
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", "llama-cpp-python",
               f"llama-cpp-python=={LLAMA_CPP_PYTHON}", "-d", tmp]
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=1800)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as e:
            detail = getattr(e, "stderr", None) or str(e)
            raise VocabDataMissing(
                f"could not download llama-cpp-python {LLAMA_CPP_PYTHON}'s source distribution for llama.cpp's "
                f"vocabulary test files ({' '.join(cmd)}: {detail.strip()[-400:]}); set PYGGML_LLAMA_VOCABS to "
                f"a folder that holds {_PATTERN}") from None
        sdists = list(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        if not sdists:
            raise VocabDataMissing(f"pip downloaded no llama_cpp_python-*.tar.gz into {tmp}")
        staging = Path(tmp) / "models"
        staging.mkdir()
        with tarfile.open(sdists[0]) as tar:
            for member in tar:
                name = member.name.replace("\\", "/")
                base = name.rsplit("/", 1)[-1]
                if "/vendor/llama.cpp/models/" in name and base.startswith("ggml-vocab-") and member.isfile():
                    src = tar.extractfile(member)
                    with open(staging / base, "wb") as out:
                        shutil.copyfileobj(src, out)
        if not any(staging.glob(_PATTERN)):
            raise VocabDataMissing(f"{sdists[0].name} holds no vendor/llama.cpp/models/{_PATTERN}")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)


def read_cases(gguf: Path) -> list[tuple[str, list[int]]]:
    """The (text, ids) pairs of gguf's .inp / .out files, read as llama.cpp's
    test-tokenizer-0 reads them (texts separated by a marker line, one line of ids each)."""
    raw = gguf.with_name(gguf.name + ".inp").read_bytes().decode("utf-8")
    sep = "\n__ggml_vocab_test__\n"
    texts, pos = [], 0
    while pos < len(raw):
        nxt = raw.find(sep, pos)
        if nxt < 0:
            texts.append(raw[pos:])
            break
        texts.append(raw[pos:nxt])
        pos = nxt + len(sep)
    lines = gguf.with_name(gguf.name + ".out").read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) != len(texts):
        raise ValueError(f"{gguf.name}: {len(texts)} texts but {len(lines)} lines of ids")
    return [(t, [int(x) for x in line.split()]) for t, line in zip(texts, lines)]
