"""`pyggml convert`: a Hugging Face checkpoint directory to a GGUF file."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "convert", help="convert a Hugging Face checkpoint (llama, mistral, qwen2, gemma3) to GGUF",
        description="Convert a Hugging Face model directory (config.json, *.safetensors, tokenizer) to GGUF. "
                    "TYPE is a llama.cpp preset (Q4_K_M, Q5_K_S, Q8_0, ...) or a tensor type (F16, Q4_K, IQ4_XS, ...).")
    p.add_argument("hf_dir", help="Hugging Face model directory")
    p.add_argument("-o", "--output", required=True, help="GGUF file to write")
    p.add_argument("-t", "--type", default="F16", help="preset or tensor type (default: F16)")
    p.add_argument("--policy", help="TOML layer policy (overrides --type)")
    p.add_argument("--pure", action="store_true", help="give every quantizable tensor TYPE; without it, names of llama.cpp file types "
                        "(Q4_0, Q8_0, Q6_K, IQ4_XS, ...) follow llama.cpp's per-tensor rules")
    p.add_argument("--imatrix", help="importance matrix from llama-imatrix (.dat or .gguf)")
    p.add_argument("--tokenizer-pre", metavar="NAME",
                   help="pre-tokenizer of a BPE tokenizer (tokenizer.ggml.pre, one of llama.cpp's names); by default "
                        "it is found as llama.cpp's converter finds it, by the hash of the tokenizer's ids for a "
                        "reference text")
    p.add_argument("--threads", type=int, default=0, help="worker threads (default: all cores)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--print-table", action="store_true", help="print the per-tensor type table")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ..convert.hf_to_gguf import convert

    table = convert(args.hf_dir, args.output, args.type, policy=args.policy, pure=args.pure, imatrix=args.imatrix,
                    n_threads=args.threads, progress=not args.no_progress, tokenizer_pre=args.tokenizer_pre)
    if args.print_table:
        for name, shape, qtype in table:
            print(f"{name:40s} {'x'.join(str(s) for s in reversed(shape)):>16s} {qtype.name}")
    print(f"wrote {args.output} ({len(table)} tensors)", file=sys.stderr)
    return 0
