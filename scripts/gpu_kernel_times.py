#!/usr/bin/env python3
"""Time the GPU matrix kernels alone on the matrices of Qwen2.5-Coder-1.5B Q4_K_M (and Gemma 3
270M's Q5_0 ones): microseconds per call with the data on the device, the weight bytes read per
second for one token (against the device's read bandwidth), and GFLOP/s for a 512-token prompt.
Needs a CUDA build and a GPU (scripts/gpu_check.sh runs it)."""

from __future__ import annotations

import importlib.util
import os
import sys

from gguf import GGMLQuantizationType as QT

from pyggml import _core

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("synthetic_bench_model", os.path.join(HERE, "synthetic_bench_model.py"))
synthetic = importlib.util.module_from_spec(spec)
spec.loader.exec_module(synthetic)

SHAPES = [  # name, type, rows (outputs), columns (inputs)
    ("qwen attn_q", QT.Q4_K, 1536, 1536),
    ("qwen attn_k", QT.Q4_K, 256, 1536),
    ("qwen ffn_up", QT.Q4_K, 8960, 1536),
    ("qwen ffn_down", QT.Q6_K, 1536, 8960),
    ("qwen output", QT.Q6_K, 151936, 1536),
    ("gemma ffn_up", QT.Q5_0, 2048, 640),
    ("gemma output", QT.Q8_0, 262144, 640),
]


def main() -> int:
    import numpy as np

    if not _core.cuda_available():
        print("no usable CUDA GPU:", _core.cuda_info()["reason"])
        return 1
    bw = _core.cuda_read_bandwidth(1 << 30, 5)
    print(f"device read bandwidth: {bw:.0f} GB/s")
    print(f"| {'matrix':<14} | {'type':<5} | {'rows x cols':>13} | {'T=1 us':>8} | {'GB/s':>6} | {'of read':>7} | "
          f"{'T=512 ms':>8} | {'GFLOP/s':>8} |")
    rng = np.random.default_rng(0)
    for name, qtype, rows, cols in SHAPES:
        w = synthetic.random_matrix(rng, qtype, rows, cols)
        t1 = _core.testing.cuda_time_matmul(int(qtype), w.reshape(-1), rows, cols, 1, 0, 20)
        tp = _core.testing.cuda_time_matmul(int(qtype), w.reshape(-1), rows, cols, 512, 0, 3)
        gbs = w.nbytes / t1 / 1e9
        print(f"| {name:<14} | {qtype.name:<5} | {rows:>6} x {cols:<5} | {t1 * 1e6:>8.1f} | {gbs:>6.0f} | "
              f"{100 * gbs / bw:>6.0f}% | {tp * 1e3:>8.2f} | {2 * rows * cols * 512 / tp / 1e9:>8.0f} |")
    # The integer matrix-vector kernel (activations quantized to int8 per 32 values, __dp4a on
    # the nibbles; matmul mode 3, Q4_K only, not yet used by the model) against the float one
    print()
    print("integer matrix-vector kernel (Q4_K, activations int8 per 32, __dp4a) against the float one (T=1):")
    print(f"| {'matrix':<14} | {'rows x cols':>13} | {'float us':>8} | {'int8 us':>8} | {'GB/s':>6} | {'of read':>7} | "
          f"{'max |diff| / max |y|':>20} |")
    for name, qtype, rows, cols in SHAPES + [("qwen ffn_down'", QT.Q4_K, 1536, 8960),
                                             ("qwen output'", QT.Q4_K, 151936, 1536)]:
        if qtype != QT.Q4_K:
            continue
        w = synthetic.random_matrix(rng, qtype, rows, cols)
        x = rng.standard_normal((1, cols)).astype(np.float32)
        try:
            y1 = _core.testing.cuda_matmul(int(qtype), w.reshape(-1), rows, cols, x, 1)
            y3 = _core.testing.cuda_matmul(int(qtype), w.reshape(-1), rows, cols, x, 3)
            t1 = _core.testing.cuda_time_matmul(int(qtype), w.reshape(-1), rows, cols, 1, 1, 20)
            t3 = _core.testing.cuda_time_matmul(int(qtype), w.reshape(-1), rows, cols, 1, 3, 20)
        except Exception as e:  # report and go on: the float path is what the model runs
            print(f"| {name:<14} | {rows:>6} x {cols:<5} | error: {e}")
            continue
        err = float(np.max(np.abs(y3 - y1)) / max(float(np.max(np.abs(y1))), 1e-30))
        gbs = w.nbytes / t3 / 1e9
        print(f"| {name:<14} | {rows:>6} x {cols:<5} | {t1 * 1e6:>8.1f} | {t3 * 1e6:>8.1f} | {gbs:>6.0f} | "
              f"{100 * gbs / bw:>6.0f}% | {err:>20.2e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
