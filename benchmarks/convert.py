"""Conversion speed: `pyggml convert` (Hugging Face F16 -> Q4_K_M) against llama.cpp's quantize tool.

The source is made from a real GGUF (scripts/gguf_to_hf.py dequantizes it into a Hugging Face
directory of F16 safetensors, cached under ~/.cache/pyggml/bench/), so no download is needed.
llama.cpp is timed quantizing the same weights from an F16 GGUF (its quantize tool's input),
through the libllama bundled with llama-cpp-python, in a child process, with the same thread
count. Both runs are timed wall-clock end to end (reading, quantizing, writing).

    python3 benchmarks/convert.py [--model qwen2.5-coder-1.5b|gemma3-270m] [--type Q4_K_M] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "scripts"))

MODELS = {
    "qwen2.5-coder-1.5b": "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    "gemma3-270m": "gemma-3-270m-q4_k_m.gguf",
}
FTYPES = {"Q4_0": 2, "Q8_0": 7, "Q3_K_M": 12, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_M": 17, "Q6_K": 18}
CACHE = os.path.expanduser("~/.cache/pyggml/bench")

_LLAMA_CPP_CHILD = r"""
import ctypes, sys, time, llama_cpp
quiet = llama_cpp.llama_log_callback(lambda *a: None)  # kept referenced while llama.cpp may call it
llama_cpp.llama_log_set(quiet, ctypes.c_void_p())
p = llama_cpp.llama_model_quantize_default_params()
p.ftype = int(sys.argv[3]); p.nthread = int(sys.argv[4])
t = time.perf_counter()
rc = llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(p))
print(time.perf_counter() - t if rc == 0 else -1)
"""


def model_source(name: str) -> str:
    try:
        from pyggml.models import model_path

        return str(model_path(name))
    except ImportError:
        return os.path.join(os.path.expanduser("~/.cache/pyggml/models"), MODELS[name])


def prepare(name: str):
    """(Hugging Face F16 directory, F16 GGUF of the same weights), made once and cached."""
    from gguf_to_hf import gguf_to_hf

    from pyggml.convert import convert

    hf = os.path.join(CACHE, f"{name}-hf-f16")
    f16 = os.path.join(CACHE, f"{name}-f16.gguf")
    if not os.path.exists(os.path.join(hf, "model.safetensors")):
        print(f"making {hf} from {model_source(name)} ...", file=sys.stderr)
        gguf_to_hf(model_source(name), hf, "F16")
    if not os.path.exists(f16):
        print(f"making {f16} ...", file=sys.stderr)
        convert(hf, f16, "F16", progress=False)
    return hf, f16


def time_pyggml(hf: str, qtype: str, threads: int, out: str) -> float:
    from pyggml.convert import convert

    t = time.perf_counter()
    convert(hf, out, qtype, n_threads=threads, progress=False)
    return time.perf_counter() - t


def time_llama_cpp(f16: str, qtype: str, threads: int, out: str):
    try:
        r = subprocess.run([sys.executable, "-c", _LLAMA_CPP_CHILD, f16, out, str(FTYPES[qtype]), str(threads)],
                           capture_output=True, text=True, check=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        print(f"llama.cpp run failed: {getattr(e, 'stderr', e)}", file=sys.stderr)
        return None
    v = float(r.stdout.strip().splitlines()[-1])
    return None if v < 0 else v


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="qwen2.5-coder-1.5b", choices=sorted(MODELS))
    ap.add_argument("--type", default="Q4_K_M", choices=sorted(FTYPES))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()
    os.makedirs(CACHE, exist_ok=True)
    hf, f16 = prepare(a.model)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        for _ in range(a.repeat):
            ours = time_pyggml(hf, a.type, a.threads, os.path.join(tmp, "pyggml.gguf"))
            print(f"pyggml convert: {ours:.2f} s", file=sys.stderr, flush=True)
            theirs = time_llama_cpp(f16, a.type, a.threads, os.path.join(tmp, "llama.gguf"))
            line = f"{a.model} F16 -> {a.type}, {a.threads} threads: pyggml convert {ours:.2f} s"
            if theirs is not None:
                line += f", llama.cpp quantize {theirs:.2f} s, ratio {ours / theirs:.2f}"
            print(line)


if __name__ == "__main__":
    main()
