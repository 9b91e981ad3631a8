"""Prompt and generation speed of real models in the codebook presets beside llama.cpp.

From an F16 base (as benchmarks/quality_table.py makes it: the shipped file dequantized), an
importance matrix is computed once (`pyggml quantize --method imatrix --imatrix-out`, a few
calibration chunks), each preset (IQ2_XXS .. IQ1_M, with llama.cpp's per-tensor rules) is written
with it, and `pyggml bench` measures every file, running llama.cpp on the same file in turns when
llama-cpp-python is importable. Files stay in --out, so a second run only measures.

    PYTHONPATH=. python3 benchmarks/codebook_models.py --base ~/.cache/pyggml/quality/gemma3-270m/base-F16.gguf \\
        --out /tmp/gemma-iq [--types IQ2_XXS,IQ3_S] [-t 1] [-p 512] [-n 32] [-r 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

TYPES = "IQ2_XXS,IQ2_XS,IQ2_S,IQ3_XXS,IQ3_S,IQ1_S,IQ1_M"


def pyggml(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pyggml", *args], check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="F16 (or other high-precision) GGUF file")
    ap.add_argument("--out", required=True, help="folder for the importance matrix and the quantized files")
    ap.add_argument("--types", default=TYPES)
    ap.add_argument("--chunks", type=int, default=4, help="calibration sequences for the importance matrix")
    ap.add_argument("-t", "--threads", type=int, default=1)
    ap.add_argument("-p", "--n-prompt", type=int, default=512)
    ap.add_argument("-n", "--n-gen", type=int, default=32)
    ap.add_argument("-r", "--repetitions", type=int, default=3)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    imatrix = os.path.join(args.out, "imatrix.gguf")
    types = args.types.split(",")
    for name in types:
        path = os.path.join(args.out, f"{name}.gguf")
        if os.path.exists(path):
            continue
        if not os.path.exists(imatrix):
            pyggml("quantize", args.base, path, name, "--method", "imatrix", "--imatrix-out", imatrix,
                   "--chunks", str(args.chunks), "--no-progress")
        else:
            pyggml("quantize", args.base, path, name, "--imatrix", imatrix, "--no-progress")
    for name in types:
        path = os.path.join(args.out, f"{name}.gguf")
        print(f"## {name} ({os.path.getsize(path) / 1e6:.1f} MB)", flush=True)
        pyggml("bench", "-m", path, "-p", str(args.n_prompt), "-n", str(args.n_gen), "-t", str(args.threads),
               "-r", str(args.repetitions), "--read-seconds", "0.5")
    return 0


if __name__ == "__main__":
    sys.exit(main())
