#!/usr/bin/env python3
"""Time the GPU matrix kernels alone on the matrices of Qwen2.5-Coder-1.5B Q4_K_M and Gemma 3
270M Q4_K_M: microseconds per call with the data on the device, the weight bytes read per second
for one token with the float and the integer matrix-vector kernels (against the device's read
bandwidth), and GFLOP/s for a 512-token prompt. Needs a CUDA build and a GPU
(scripts/gpu_check.sh runs it)."""

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

SHAPES = [  # name, type, rows (outputs), columns (inputs): every matrix of the two models' blocks and heads
    ("qwen attn_q/o", QT.Q4_K, 1536, 1536),
    ("qwen attn_k/v", QT.Q4_K, 256, 1536),
    ("qwen attn_v", QT.Q6_K, 256, 1536),
    ("qwen ffn_up", QT.Q4_K, 8960, 1536),
    ("qwen ffn_down", QT.Q4_K, 1536, 8960),
    ("qwen ffn_down", QT.Q6_K, 1536, 8960),
    ("qwen output", QT.Q6_K, 151936, 1536),
    ("gemma attn_q", QT.Q5_0, 1024, 640),
    ("gemma ffn_up", QT.Q5_0, 2048, 640),
    ("gemma ffn_down", QT.Q4_K, 640, 2048),
    ("gemma output", QT.Q8_0, 262144, 640),
    # the other types of the integer kernels on the ffn_up shape
    ("ffn_up", QT.Q4_0, 8960, 1536),
    ("ffn_up", QT.Q5_K, 8960, 1536),
    ("ffn_up", QT.Q8_0, 8960, 1536),
]
INT8_TYPES = {QT.Q4_0, QT.Q5_0, QT.Q8_0, QT.Q4_K, QT.Q5_K, QT.Q6_K}


def main() -> int:
    import numpy as np

    if not _core.cuda_available():
        print("no usable CUDA GPU:", _core.cuda_info()["reason"])
        return 1
    bw = _core.cuda_read_bandwidth(1 << 30, 5)
    print(f"device read bandwidth: {bw:.0f} GB/s")
    print("one token (T=1): the float kernel (mul_mat_vec, float32 activations) and the integer kernel (int8 "
          "activations, __dp4a, quantization included), each call on weights not in L2; GB/s = weight bytes / time")
    print(f"| {'matrix':<14} | {'type':<5} | {'rows x cols':>13} | {'MB':>6} | {'float us':>8} | {'GB/s':>5} | "
          f"{'int8 us':>8} | {'GB/s':>5} | {'of read':>7} | {'int8 vs float':>13} | {'T=512 ms':>8} | {'GFLOP/s':>7} |")
    rng = np.random.default_rng(0)
    for name, qtype, rows, cols in SHAPES:
        w = synthetic.random_matrix(rng, qtype, rows, cols)
        flat = w.reshape(-1)
        reps = max(5, min(200, int(2e8 // max(w.nbytes, 1))))
        t1 = _core.testing.cuda_time_matmul(int(qtype), flat, rows, cols, 1, 1, reps)
        tp = _core.testing.cuda_time_matmul(int(qtype), flat, rows, cols, 512, 0, 3)
        cells = f"{'-':>8} | {'-':>5} | {'-':>7} | {'-':>13}"
        if qtype in INT8_TYPES:
            t3 = _core.testing.cuda_time_matmul(int(qtype), flat, rows, cols, 1, 3, reps)
            x = rng.standard_normal((1, cols)).astype(np.float32)
            y1 = _core.testing.cuda_matmul(int(qtype), flat, rows, cols, x, 1)
            y3 = _core.testing.cuda_matmul(int(qtype), flat, rows, cols, x, 3)
            err = float(np.max(np.abs(y3 - y1)) / max(float(np.max(np.abs(y1))), 1e-30))
            g3 = w.nbytes / t3 / 1e9
            cells = f"{t3 * 1e6:>8.1f} | {g3:>5.0f} | {100 * g3 / bw:>6.0f}% | {err:>13.1e}"
        print(f"| {name:<14} | {qtype.name:<5} | {rows:>6} x {cols:<5} | {w.nbytes / 1e6:>6.1f} | {t1 * 1e6:>8.1f} | "
              f"{w.nbytes / t1 / 1e9:>5.0f} | {cells} | {tp * 1e3:>8.2f} | {2 * rows * cols * 512 / tp / 1e9:>7.0f} |")
    print("(int8 vs float: max |difference| / max |float result|; int8 activations differ by about 1%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
