#!/usr/bin/env python3
"""Decode 16 tokens one at a time (after an 8-token prompt) and save their logits, to compare
runs under different settings (PYGGML_CUDA_MMVQ, PYGGML_CUDA_GRAPHS) or against the CPU:

    python3 gpu_decode_compare.py MODEL OUT.npy [--cpu]
    python3 gpu_decode_compare.py --compare A.npy B.npy"""

from __future__ import annotations

import sys

import numpy as np


def main(argv) -> int:
    if argv[0] == "--compare":
        a, b = np.load(argv[1]), np.load(argv[2])
        rel = float(np.abs(a - b).max() / (b.max() - b.min()))
        same = float((a.argmax(1) == b.argmax(1)).mean())
        print(f"{argv[1]} against {argv[2]}: max |diff| / range {rel:.2e}, same argmax {100 * same:.0f}%")
        return 0
    from pyggml import Model

    path, out = argv[0], argv[1]
    m = Model.load(path, n_ctx=64, n_gpu_layers=0 if "--cpu" in argv else -1)
    toks = np.random.default_rng(0).integers(0, m.n_vocab, 24).tolist()
    m.eval(toks[:8])
    np.save(out, np.stack([m.eval(toks[i:i + 1]) for i in range(8, 24)]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
