"""`pyggml quantize`: re-quantize a GGUF file under a preset, a policy, or a bits-per-weight target."""

from __future__ import annotations

import argparse
import sys
import warnings


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "quantize", help="re-quantize a GGUF file (presets, TOML policies, --target-bpw)",
        description="Dequantize every tensor of a GGUF file and quantize it again. TYPE is a llama.cpp preset "
                    "(Q4_K_M, ...) or a tensor type; or choose types with --policy or --target-bpw.")
    p.add_argument("input", help="GGUF file to read")
    p.add_argument("output", help="GGUF file to write")
    p.add_argument("type", nargs="?", help="preset or tensor type (e.g. Q4_K_M)")
    p.add_argument("--policy", help="TOML layer policy")
    p.add_argument("--target-bpw", type=float, help="choose per-tensor types for this average bits per weight")
    p.add_argument("--pure", action="store_true", help="give every quantizable tensor TYPE (no preset rules)")
    p.add_argument("--imatrix", help="importance matrix from llama-imatrix (.dat or .gguf)")
    p.add_argument("--threads", type=int, default=0, help="worker threads (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--print-table", action="store_true", help="print the per-tensor type table (always with --target-bpw)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from .errors import PyggmlError
    from .requantize import RequantizeWarning, print_table, requantize

    chosen = [x for x in (args.type, args.policy, args.target_bpw) if x is not None]
    if len(chosen) != 1:
        raise PyggmlError("give exactly one of TYPE, --policy or --target-bpw")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RequantizeWarning)
        table = requantize(args.input, args.output, args.type or "Q4_K_M", policy=args.policy, pure=args.pure,
                           imatrix=args.imatrix, target_bpw=args.target_bpw, n_threads=args.threads,
                           progress=not args.no_progress)
    for w in caught:
        print(f"pyggml: warning: {w.message}", file=sys.stderr)
    if args.print_table or args.target_bpw is not None:
        print_table(table)
    print(f"wrote {args.output} ({len(table)} tensors)", file=sys.stderr)
    return 0
