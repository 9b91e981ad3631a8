"""Quantize / dequantize throughput per block type: pyggml (C++) beside gguf.quants (numpy).

    python benchmarks/formats.py [--rows 1024] [--cols 4096] [--threads 0] [--types IQ2_XXS,TQ1_0] [--markdown]

Throughput is float32 megabytes per second (input for quantize, output for dequantize),
best of a few runs on the same data for both implementations. The IQ1/IQ2/IQ3 codebook types
are dequantized from random valid blocks, and quantized with an importance vector of ones where
they need one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import gguf.quants as gq
from gguf.constants import GGMLQuantizationType as GT

import pyggml
from pyggml import GGMLType

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "native"))
from test_kernels import random_weights  # noqa: E402


def best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def numpy_supports(kind: str, t: GGMLType) -> bool:
    if t.name not in GT.__members__ or t == GGMLType.Q8_1:
        return False
    probe = np.zeros((1, max(t.block_size, 256)), np.float32)
    try:
        if kind == "quantize":
            gq.quantize(probe, GT[t.name])
        else:
            gq.dequantize(np.zeros((1, probe.shape[1] // t.block_size * t.type_size), np.uint8), GT[t.name])
        return True
    except NotImplementedError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1024)
    ap.add_argument("--cols", type=int, default=4096)
    ap.add_argument("-t", "--threads", type=int, default=0, help="pyggml threads (0 = all cores)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--types", help="comma-separated type names (default: all)")
    args = ap.parse_args()
    wanted = None if args.types is None else {GGMLType.parse(n) for n in args.types.split(",")}

    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.rows, args.cols)).astype(np.float32)
    mb = x.nbytes / 1e6
    rows = []
    for t in GGMLType:
        if not t.can_dequantize or (wanted is not None and t not in wanted):
            continue
        ours_q = None
        if t.can_quantize:
            qw = np.ones(args.cols, np.float32) if t.requires_imatrix else None  # else without one
            q = pyggml.quantize(x, t, imatrix=qw, n_threads=args.threads)
            ours_q = mb / best_time(lambda: pyggml.quantize(x, t, imatrix=qw, n_threads=args.threads), args.repeat)
        elif t.is_quantized:
            q = random_weights(rng, t.name, args.rows, args.cols)
        else:
            continue
        ours_d = mb / best_time(lambda: pyggml.dequantize(q, t, x.shape, n_threads=args.threads), args.repeat)
        ref_q = ref_d = None
        if ours_q is not None and numpy_supports("quantize", t):
            ref_q = mb / best_time(lambda: gq.quantize(x, GT[t.name]), 1)
        if numpy_supports("dequantize", t):
            ref_d = mb / best_time(lambda: gq.dequantize(q, GT[t.name]), 1)
        rows.append((t.name, ours_q, ref_q, ours_d, ref_d))

    def fmt(v):
        return "-" if v is None else f"{v:,.0f}"

    def ratio(a, b):
        return "-" if a is None or b is None else f"{a / b:,.0f}x"

    header = ["type", "quantize MB/s", "numpy", "ratio", "dequantize MB/s", "numpy", "ratio"]
    lines = [(n, fmt(q), fmt(rq), ratio(q, rq), fmt(d), fmt(rd), ratio(d, rd)) for n, q, rq, d, rd in rows]
    print(f"# {args.rows}x{args.cols} float32 ({mb:.0f} MB), pyggml threads={args.threads or 'all'}")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
        print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
        for line in lines:
            print("  ".join(c.rjust(w) for c, w in zip(line, widths)))


if __name__ == "__main__":
    main()
