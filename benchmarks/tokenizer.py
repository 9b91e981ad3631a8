"""Benchmark tokenizer encode/decode throughput and sampling cost on the real models.

    python3 benchmarks/tokenizer.py [--mb 1.0] [--repeat 3]

Throughput is bytes / best-of-N CPU time, so a shared machine's load disturbs it less.
The text mixes source code, prose, several scripts and emoji.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from pyggml import models
from pyggml.runtime.sampling import Sampler, SamplingParams
from pyggml.text.tokenizer import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bench_text(n_bytes: int) -> str:
    src = []
    for name in sorted(os.listdir(os.path.dirname(json.__file__)))[:80]:
        if name.endswith(".py"):
            with open(os.path.join(os.path.dirname(json.__file__), name), encoding="utf-8", errors="ignore") as f:
                src.append(f.read())
    code = "".join(src)
    prose = ("The quick brown fox jumps over the lazy dog, again and again. Numbers: 3.14159, 2026. "
             "Ünïcödé café naïve. 你好，世界！今天天气很好。こんにちは世界。Здравствуй, мир! 😀👍🏽🦙\n")
    corpus = json.load(open(os.path.join(ROOT, "tests/data/tokenizer_corpus.json"), encoding="utf-8"))
    text = code + prose * (n_bytes // len(prose.encode()) // 3) + "\n".join(corpus)
    while len(text.encode()) < n_bytes:
        text += text
    return text.encode()[:n_bytes].decode("utf-8", "ignore")


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    text = bench_text(int(args.mb * 1e6))
    n = len(text.encode())
    for name in ("gemma3-270m", "qwen2.5-coder-1.5b"):
        t0 = time.process_time()
        tok = Tokenizer.from_gguf(models.model_path(name))
        tok.encode("warm up the native vocabulary")
        load = time.process_time() - t0
        cold = best(lambda: tok.encode(text), 1)  # BPE word cache still empty
        enc = best(lambda: tok.encode(text), args.repeat)
        ids = tok.encode(text)
        dec = best(lambda: tok.decode(ids), args.repeat)
        print(f"{name}: load {load:.2f} s, encode {n / cold / 1e6:.2f} MB/s first pass, "
              f"{n / enc / 1e6:.2f} MB/s repeated; decode {n / dec / 1e6:.2f} MB/s "
              f"({len(ids)} tokens from {n} bytes)")
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal(262_144) * 2).astype(np.float32)
    off = dict(top_k=0, top_p=1.0, min_p=0.0)
    for label, params in [("greedy", SamplingParams.greedy()),
                          ("defaults (top-k 40, top-p .95, min-p .05, T .8)", SamplingParams()),
                          ("defaults + penalties", SamplingParams(repeat_penalty=1.1, frequency_penalty=0.1,
                                                                   presence_penalty=0.1)),
                          ("no top-k, top-p .95 (full-vocab sort)", SamplingParams(**{**off, "top_p": 0.95})),
                          ("no top-k, typical .95", SamplingParams(**{**off, "typical_p": 0.95})),
                          ("temperature only", SamplingParams(**off))]:
        s = Sampler(params, seed=0)
        s.accept(rng.integers(0, 262_144, 64).tolist())
        t = best(lambda: [s.sample(logits) for _ in range(20)], args.repeat) / 20
        print(f"sampling, 262144 vocab, {label}: {t * 1e3:.3f} ms")


if __name__ == "__main__":
    main()
