"""Matmul throughput per weight type, next to memory bandwidth and llama.cpp.

Reports, for each weight type and shape (rows x cols = out x in features, the real
models' 1536x8960, 8960x1536 and 151936x1536):
  * matvec (1 token): GB/s of weights streamed, at each thread count;
  * matmul (512 tokens by default): GFLOP/s (2 * rows * cols * tokens / time);
and the machine's memory read bandwidth (the fastest streaming read of a buffer far
larger than the last-level cache on as many threads, as `pyggml bench` measures it;
mv_%bw: matvecs and reads of 256 MiB take turns, as the bandwidth of a shared machine
drifts within seconds; each matvec is set against the faster of the reads right before
and after it, and mv_GBs and mv_%bw are medians over 5 such rounds), and, when
llama-cpp-python and
the Qwen2.5-Coder 1.5B Q4_K_M model are present, llama.cpp's prompt processing and
generation speed on that model expressed in the same units.

Q4_K, Q6_K, Q4_0, Q5_0 and Q8_0 are timed both in the file layout and repacked in 8-row groups
(rows "Q4_K/x8" etc., the layout models use on AVX2 CPUs; --no-repack leaves them out).
Weights are random blocks with finite scales (speed does not depend on the values), copied
to a 2 MiB boundary as the model holds its matrices.
Timings take the best of several runs; the machine may be shared, so expect noise.

    PYTHONPATH=. python3 benchmarks/matmul.py [--types Q4_K,Q6_K] [--threads 1,2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

# numpy's BLAS threads spin after use and would steal the cores we measure.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from gguf import GGMLQuantizationType as QT  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "native"))
from test_kernels import random_weights  # noqa: E402

from pyggml import _core  # noqa: E402
from pyggml.cli.bench import aligned_copy, median_share, memory_read_bandwidth  # noqa: E402

SHAPES = [(1536, 8960), (8960, 1536), (151936, 1536)]
DEFAULT_TYPES = ("Q4_0,Q5_0,Q8_0,Q4_K,Q6_K,F32,F16,BF16,Q4_1,Q5_1,IQ4_NL,Q2_K,Q3_K,Q5_K,IQ4_XS,"
                 "TQ1_0,TQ2_0,MXFP4,NVFP4,Q1_0,IQ2_XXS,IQ2_XS,IQ2_S,IQ3_XXS,IQ3_S,IQ1_S,IQ1_M")
QWEN = os.path.expanduser("~/.cache/pyggml/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")


CLOCK = {"name": "wall"}  # set from --clock
MV_ROUNDS = 5  # matvec / read turns per matvec figure


def elapsed(fn, n_threads):
    """Seconds fn takes: wall time, or with --clock cpu the process CPU time divided by
    the thread count (what the wall time would be on otherwise idle cores; spinning
    waits count, so this errs on the slow side)."""
    if CLOCK["name"] == "cpu":
        t0 = time.process_time()
        fn()
        return (time.process_time() - t0) / n_threads
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def best_time(fn, n_threads=1, min_runs=3, min_seconds=0.5, max_runs=50):
    best, runs, start = float("inf"), 0, time.perf_counter()
    while runs < min_runs or (time.perf_counter() - start < min_seconds and runs < max_runs):
        best = min(best, elapsed(fn, n_threads))
        runs += 1
    return best


def matvec_in_turns(fn, nbytes, n_threads, rounds=MV_ROUNDS):
    """(GB/s, % of read bandwidth) of the matvec fn: reads of 256 MiB and matvecs take
    turns (read, matvec, read, matvec, ..., read), since a shared machine's bandwidth
    drifts within seconds; each round's matvec (best of 3 runs) is set against the
    faster of the reads right before and after it. Medians over the rounds."""
    reads = [memory_read_bandwidth(n_threads, 256 << 20, reps=1)]
    rates = []
    for _ in range(rounds):
        rates.append(nbytes / best_time(fn, n_threads, min_runs=3, min_seconds=0.0) / 1e9)
        reads.append(memory_read_bandwidth(n_threads, 256 << 20, reps=1))
    return statistics.median(rates), 100.0 * median_share(rates, reads)


def layouts_of(name, repack):
    """The weight layouts to time for a type: the file's, and for a type that models
    repack on this CPU (Q4_K, Q4_0, Q8_0 on AVX2; see _core.testing.repack) the 8-row groups
    too ("Q4_K/x8")."""
    layout = _core.testing.repacked_layout(int(QT[name])) if repack else 0
    if layout:
        return [(name, 0), (name + "/x8", layout)]
    return [(name, 0)]


def bench_type(name, shapes, threads, n_tokens, big_matmul, repack=True):
    rng = np.random.default_rng(0)
    rows = []
    for n_rows, n_cols in shapes:
        plain = random_weights(rng, name, n_rows, n_cols)
        x1 = rng.standard_normal((1, n_cols)).astype(np.float32)
        xn = rng.standard_normal((n_tokens, n_cols)).astype(np.float32)
        for label, layout in layouts_of(name, repack):
            w = aligned_copy(_core.testing.repack(plain, int(QT[name]), n_cols) if layout else plain)
            row = {"type": label, "shape": f"{n_rows}x{n_cols}", "MB": w.nbytes / 1e6}
            for nt in threads:
                pool = _core.ThreadPool(nt)
                gbs, share = matvec_in_turns(lambda: _core.testing.matmul(pool, int(QT[name]), w, n_cols, x1, layout=layout),
                                             w.nbytes, nt)
                row[f"mv_GBs_{nt}t"], row[f"mv_%bw_{nt}t"] = gbs, share
                if n_rows * n_cols <= 20_000_000 or big_matmul:
                    t = best_time(lambda: _core.testing.matmul(pool, int(QT[name]), w, n_cols, xn, layout=layout), nt,
                                  min_runs=1, min_seconds=0.0)
                    row[f"mm_GFLOPs_{nt}t"] = 2.0 * n_rows * n_cols * n_tokens / t / 1e9
            rows.append(row)
            del w
        del plain
    return rows


def qwen_matmuls():
    """The Qwen model's weight matrices as {(type, n_rows, n_cols): (count, one tensor)},
    leaving out token_embd (a row lookup) and output (one token per prompt)."""
    from gguf import GGUFReader

    reader = GGUFReader(QWEN)
    groups = {}
    for t in reader.tensors:
        if len(t.shape) != 2 or t.name in ("token_embd.weight", "output.weight"):
            continue
        key = (t.tensor_type.name, int(t.shape[1]), int(t.shape[0]))
        count, first = groups.get(key, (0, t))
        groups[key] = (count + 1, first)
    output = next(t for t in reader.tensors if t.name == "output.weight")
    weight_bytes = sum(int(t.n_bytes) for t in reader.tensors if t.name != "token_embd.weight")
    return groups, output, weight_bytes


def pyggml_model_prompt(threads, n_tokens, repack=True):
    """Time pyggml's matmuls of a whole n_tokens prompt of the Qwen model (each distinct
    weight shape once, times its count, plus the output row for the last token) with the
    real weights; None when the model is missing."""
    if not os.path.exists(QWEN):
        return None
    groups, output, _ = qwen_matmuls()
    rng = np.random.default_rng(0)
    out = {}
    for nt in threads:
        pool = _core.ThreadPool(nt)
        total, flops = 0.0, 0.0
        for (tname, n_rows, n_cols), (count, t) in groups.items():
            w = np.ascontiguousarray(t.data)
            layout = layouts_of(tname, repack)[-1][1]  # as the model lays it out
            if layout:
                w = _core.testing.repack(w, int(QT[tname]), n_cols)
            x = rng.standard_normal((n_tokens, n_cols)).astype(np.float32)
            total += count * best_time(lambda: _core.testing.matmul(pool, int(QT[tname]), w, n_cols, x, layout=layout), nt,
                                       min_runs=2, min_seconds=0.0)
            flops += count * 2.0 * n_rows * n_cols * n_tokens
        ow = np.asarray(output.data)
        ox = rng.standard_normal((1, int(output.shape[0]))).astype(np.float32)
        total += best_time(lambda: _core.testing.matmul(pool, int(output.tensor_type), ow, int(output.shape[0]), ox), nt)
        out[nt] = {"tok_s": n_tokens / total, "GFLOPs": flops / total / 1e9}
    return out


def llama_cpp_reference(threads, n_tokens):
    """llama.cpp prompt processing (GFLOP/s over the weight matmuls, the output row for
    the last token only) and generation (GB/s of weights per token) on the Qwen model;
    None when unavailable."""
    try:
        import llama_cpp
    except ImportError:
        return None
    if not os.path.exists(QWEN):
        return None
    groups, output, weight_bytes = qwen_matmuls()
    pp_flops = sum(c * 2.0 * r * k * n_tokens for (_, r, k), (c, _) in groups.items())
    out = {}
    for nt in threads:
        llm = llama_cpp.Llama(QWEN, n_ctx=n_tokens + 64, n_batch=n_tokens, n_ubatch=n_tokens,
                              n_threads=nt, n_threads_batch=nt, verbose=False)
        toks = [int(t) for t in np.random.default_rng(0).integers(100, 20000, n_tokens)]
        pp = []
        for _ in range(2):
            llm.reset()
            pp.append(elapsed(lambda: llm.eval(toks), nt))
        gen = [elapsed(lambda: llm.eval([toks[i]]), nt) for i in range(8)]
        best_pp, tg = min(pp), min(gen)
        out[nt] = {"pp_tok_s": n_tokens / best_pp, "pp_GFLOPs": pp_flops / best_pp / 1e9,
                   "tg_tok_s": 1.0 / tg, "tg_GBs": weight_bytes / tg / 1e9}
        del llm
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--types", default=DEFAULT_TYPES)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--shapes", default=",".join(f"{r}x{c}" for r, c in SHAPES))
    ap.add_argument("--big-matmul", action="store_true", help="also time 512-token matmul on 151936x1536")
    ap.add_argument("--no-llama", action="store_true")
    ap.add_argument("--no-repack", action="store_true",
                    help="time Q4_K in the file layout only (default: also repacked in 8-row groups)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: CPU time / threads, for a machine shared with other work")
    args = ap.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",")]
    shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    CLOCK["name"] = args.clock

    print(f"pyggml kernels: {_core.cpu_isa()}; threads {threads}; matmul tokens {args.tokens}; clock {args.clock}")
    bw = {nt: memory_read_bandwidth(nt, 1 << 30) for nt in threads}
    print("memory read bandwidth (1 GiB streaming read): " + ", ".join(f"{nt}t {v:.1f} GB/s" for nt, v in bw.items())
          + f"; mv_%bw: matvecs and 256 MiB reads in turns, median of {MV_ROUNDS} rounds")

    cols = ["type", "shape", "MB"] + [f"mv_GBs_{nt}t" for nt in threads] + \
           [f"mv_%bw_{nt}t" for nt in threads] + [f"mm_GFLOPs_{nt}t" for nt in threads]
    print("  ".join(f"{c:>13}" for c in cols))
    for name in args.types.split(","):
        for row in bench_type(name, shapes, threads, args.tokens, args.big_matmul, not args.no_repack):
            cells = []
            for c in cols:
                v = row.get(c, "-")
                cells.append(f"{v:>13.1f}" if isinstance(v, float) else f"{v:>13}")
            print("  ".join(cells), flush=True)

    if not args.no_llama:
        mine = pyggml_model_prompt(threads, args.tokens, not args.no_repack)
        if mine is None:
            print("Qwen2.5-Coder-1.5B model not found: no model-level comparison")
        else:
            for nt, r in mine.items():
                print(f"pyggml matmuls of a Qwen2.5-Coder-1.5B Q4_K_M prompt, {nt}t: pp{args.tokens} "
                      f"{r['tok_s']:.1f} tok/s = {r['GFLOPs']:.1f} GFLOP/s (matmuls only)", flush=True)
        ref = llama_cpp_reference(threads, args.tokens)
        if ref is None:
            print("llama.cpp: not available (needs llama_cpp and the Qwen 1.5B model)")
        else:
            for nt, r in ref.items():
                print(f"llama.cpp Qwen2.5-Coder-1.5B Q4_K_M, {nt}t: pp{args.tokens} {r['pp_tok_s']:.1f} tok/s "
                      f"= {r['pp_GFLOPs']:.1f} GFLOP/s (whole forward); "
                      f"tg {r['tg_tok_s']:.1f} tok/s = {r['tg_GBs']:.1f} GB/s of weights")


if __name__ == "__main__":
    main()
