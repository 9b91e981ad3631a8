"""Whole-model speed of the ternary, 4-bit float, 1-bit and codebook types beside llama.cpp.

For each type, a random llama-architecture model (4 layers, 1024 wide, 2816 feed-forward; every
matrix in that type) is written with tests/support/synthetic_models.py and measured with
`pyggml bench`, which runs llama.cpp on the same file in turns when llama-cpp-python is
importable. tg is one token at a time: almost all of its time is the matrix-vector products, so
its ratio is the matvec kernels' ratio; pp the batched kernels'. Codebook types that pyggml does
not write (IQ1_S .. IQ3_S) hold random valid blocks.

    PYTHONPATH=.:tests python3 benchmarks/lowbit_models.py [--types TQ1_0,IQ2_XXS] [-t 1] [-p 64] [-n 32]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from support.synthetic_models import make_model  # noqa: E402

TYPES = "TQ1_0,TQ2_0,MXFP4,NVFP4,Q1_0,IQ2_XXS,IQ2_XS,IQ2_S,IQ3_XXS,IQ3_S,IQ1_S,IQ1_M,Q4_K"
SIZES = dict(n_layer=4, n_embd=1024, n_head=16, n_head_kv=4, head_dim=64, n_ff=2816)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--types", default=TYPES)
    ap.add_argument("-t", "--threads", type=int, default=1)
    ap.add_argument("-p", "--n-prompt", type=int, default=64)
    ap.add_argument("-n", "--n-gen", type=int, default=32)
    ap.add_argument("-r", "--repetitions", type=int, default=2)
    args = ap.parse_args()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.types.split(","):
            path = os.path.join(tmp, f"{name}.gguf")
            make_model("llama", path, wtype=name, seed=1, **SIZES)
            print(f"## {name} ({os.path.getsize(path) / 1e6:.1f} MB)", flush=True)
            cmd = [sys.executable, "-m", "pyggml", "bench", "-m", path, "-p", str(args.n_prompt), "-n",
                   str(args.n_gen), "-t", str(args.threads), "-r", str(args.repetitions), "--read-seconds", "0.5"]
            subprocess.run(cmd, check=False, cwd=root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
