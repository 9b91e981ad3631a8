"""Single-thread quantize throughput of the k-quant, IQ4 and IQ1/IQ2/IQ3 codebook types: pyggml beside ggml.

    python benchmarks/quantize_kquants.py [--rows 256] [--cols 4096] [--repeat 5] [--types Q4_K,Q6_K|all]
                                          [--clock wall|cpu] [--reference]

Prints float32 input megabytes per second, one thread, without and with an importance
vector (only with one for IQ2_XXS, IQ2_XS and IQ1_S, which need it), for pyggml and (when llama-cpp-python is installed) for ggml's
ggml_quantize_chunk called through ctypes, with the ratio pyggml / ggml. Each figure is
the best of --repeat runs on the same gaussian data. On a shared machine, --clock cpu
(this process's CPU time; both libraries run on the calling thread) is steadier than
wall time. --reference times pyggml's scalar reference path instead of its fastest one.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import time

import numpy as np

from pyggml import GGMLType, _core

TYPES = ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"]
CODEBOOK_TYPES = ["IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ1_S", "IQ1_M"]  # --types all: these too


def load_ggml():
    """ggml_quantize_chunk from llama_cpp's bundled libggml-base, or None."""
    try:
        import llama_cpp

        lib = ctypes.CDLL(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so"))
    except (ImportError, OSError):
        return None
    fn = lib.ggml_quantize_chunk
    fn.restype = ctypes.c_size_t
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                   ctypes.c_int64, ctypes.c_void_p]
    return fn


def best_time(fn, repeat: int, clock=time.perf_counter) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = clock()
        fn()
        best = min(best, clock() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--cols", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--types", default=",".join(TYPES), help="comma-separated, or 'all'")
    ap.add_argument("--reference", action="store_true", help="time pyggml's scalar reference path")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = ap.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.rows, args.cols)).astype(np.float32)
    imatrix = (rng.uniform(0, 3, args.cols) ** 2).astype(np.float32)
    mb = x.nbytes / 1e6
    ggml = load_ggml()

    path = "scalar reference" if args.reference else "fastest path"
    print(f"{args.rows}x{args.cols} float32, 1 thread, best of {args.repeat}, {args.clock} clock; "
          f"MB/s of input; pyggml {path}")
    print(f"{'type':8} {'imatrix':7} {'pyggml':>8} {'ggml':>8} {'ratio':>6}")
    names = TYPES + CODEBOOK_TYPES if args.types == "all" else args.types.split(",")
    for name in names:
        t = GGMLType[name]
        for qw in ((imatrix,) if t.requires_imatrix else (None, imatrix)):  # ggml aborts without one
            ours = mb / best_time(lambda: _core.quantize(int(t), x, qw, 1, reference=args.reference), args.repeat, clock)
            line = f"{name:8} {'yes' if qw is not None else 'no':7} {ours:8.1f}"
            if ggml is not None:
                dst = np.empty((args.rows, t.row_size(args.cols)), np.uint8)
                qp = None if qw is None else qw.ctypes.data
                theirs = mb / best_time(
                    lambda: ggml(int(t), x.ctypes.data, dst.ctypes.data, 0, args.rows, args.cols, qp), args.repeat, clock
                )
                line += f" {theirs:8.1f} {ours / theirs:6.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
