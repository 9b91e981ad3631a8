"""`pyggml bench`: llama-bench-style prompt (ppN) and generation (tgN) throughput.

pp: one eval of N random tokens on an empty cache. tg: N single-token evals, one after
another, starting from an empty cache. Each test runs `repetitions` times after a
warm-up; the table shows mean +- standard deviation of tokens/s. When llama-cpp-python
is importable the same tests run on llama.cpp with the same file and thread count,
and the ratio pyggml / llama.cpp is printed.

tgN is also set against the memory-bandwidth roofline: the weight bytes one token reads
(every tensor but the token embedding, which is looked up, unless it doubles as the
output matrix) divided into the machine's memory read bandwidth, measured beside the
runs (a streaming read of 512 MiB on as many threads, before and after each backend's
tests; the best of them, so that noise from other work on the machine raises the bar).
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

from . import models


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="measure prompt and generation speed (like llama-bench)",
        description="Prompt processing (ppN) and token generation (tgN) tokens/s, "
        "compared with llama.cpp when llama-cpp-python is installed.",
    )
    add_arguments(p)
    p.set_defaults(func=_run)


def add_arguments(p) -> None:
    p.add_argument("-m", "--model", default=None, help="a .gguf file or a model name")
    p.add_argument("-p", "--n-prompt", type=int, default=512, help="prompt tokens (default 512)")
    p.add_argument("-n", "--n-gen", type=int, default=128, help="generated tokens (default 128)")
    p.add_argument("-t", "--threads", type=int, default=0, help="threads (default: physical cores)")
    p.add_argument("-b", "--batch-size", type=int, default=512, help="tokens per native call (default 512)")
    p.add_argument("-r", "--repetitions", type=int, default=3, help="runs per test (default 3)")
    p.add_argument("--kv-type", default="f16", choices=["f16", "q8_0", "f32"], help="KV cache type")
    p.add_argument("--no-llama-cpp", action="store_true", help="do not run llama.cpp for comparison")


def _stats(rates):
    mean = statistics.fmean(rates)
    sd = statistics.stdev(rates) if len(rates) > 1 else 0.0
    return mean, sd


def _time_tests(reset, eval_tokens, n_prompt, n_gen, n_vocab, reps):
    """Returns {test name: [tokens/s per repetition]} for ppN and tgN."""
    rng = np.random.default_rng(0)
    results = {}
    reset()
    eval_tokens(rng.integers(0, n_vocab, size=min(8, max(n_prompt, 1))).tolist())  # warm-up
    if n_prompt > 0:
        rates = []
        for _ in range(reps):
            toks = rng.integers(0, n_vocab, size=n_prompt).tolist()
            reset()
            t0 = time.perf_counter()
            eval_tokens(toks)
            rates.append(n_prompt / (time.perf_counter() - t0))
        results[f"pp{n_prompt}"] = rates
    if n_gen > 0:
        rates = []
        for _ in range(reps):
            toks = rng.integers(0, n_vocab, size=n_gen).tolist()
            reset()
            t0 = time.perf_counter()
            for t in toks:
                eval_tokens([t])
            rates.append(n_gen / (time.perf_counter() - t0))
        results[f"tg{n_gen}"] = rates
    return results


def memory_read_bandwidth(n_threads, nbytes=512 << 20, reps=3):
    """GB/s of the fastest streaming read of nbytes on n_threads threads (each thread
    reading its part as 1, 2 or 4 streams side by side; best of reps per count)."""
    from . import _core

    pool = _core.ThreadPool(n_threads)
    buf = np.ones(nbytes, dtype=np.uint8)
    _core.memory_read(pool, buf)  # fault the pages in
    best = 0.0
    for _ in range(reps):
        for streams in (1, 2, 4):
            t0 = time.perf_counter()
            _core.memory_read(pool, buf, streams)
            best = max(best, nbytes / (time.perf_counter() - t0) / 1e9)
    return best


def weight_bytes_per_token(path):
    """Bytes of weights one generated token reads: every tensor but token_embd, which is
    only looked up (a few rows), unless there is no output.weight and it is the output."""
    from gguf import GGUFReader

    tensors = GGUFReader(path).tensors
    names = {t.name for t in tensors}
    tied = "output.weight" not in names
    return sum(int(t.n_bytes) for t in tensors if t.name != "token_embd.weight" or tied)


def bench_pyggml(path, n_prompt, n_gen, n_threads, n_batch, reps, kv_type="f16"):
    from .model import Model

    m = Model.load(path, n_ctx=max(n_prompt, n_gen, 16), n_threads=n_threads or None, n_batch=n_batch,
                   kv_type=kv_type)
    res = _time_tests(m.reset, m.eval, n_prompt, n_gen, m.n_vocab, reps)
    return m, res


def bench_llama_cpp(path, n_prompt, n_gen, n_threads, n_batch, reps):
    """The same tests on llama.cpp through llama-cpp-python; None when it is not installed."""
    try:
        import llama_cpp
    except ImportError:
        return None
    llm = llama_cpp.Llama(
        model_path=str(path), n_ctx=max(n_prompt, n_gen, 16), n_batch=n_batch, n_ubatch=n_batch,
        n_threads=n_threads, n_threads_batch=n_threads, verbose=False,
    )
    return _time_tests(llm.reset, llm.eval, n_prompt, n_gen, llm.n_vocab(), reps)


def run(args) -> int:
    path = models.resolve(args.model)
    size_gib = os.path.getsize(path) / 2**30
    n_threads = args.threads or None
    if n_threads is None:
        from . import _core

        n_threads = _core.ThreadPool.default_threads()
    bandwidth = [memory_read_bandwidth(n_threads)] if args.n_gen > 0 else []
    m, ours = bench_pyggml(path, args.n_prompt, args.n_gen, args.threads, args.batch_size, args.repetitions,
                           args.kv_type)
    n_threads = m.n_threads
    hp = m.hparams
    n_params = hp["n_vocab"] * hp["n_embd"] + hp["n_layer"] * (
        hp["n_embd"] * (2 * hp["n_head"] * hp["head_dim_k"] + 2 * hp["n_head_kv"] * hp["head_dim_k"])
        + 3 * hp["n_embd"] * hp["n_ff"]
    )
    del m
    if bandwidth:
        bandwidth.append(memory_read_bandwidth(n_threads))
    theirs = None if args.no_llama_cpp else bench_llama_cpp(
        path, args.n_prompt, args.n_gen, n_threads, args.batch_size, args.repetitions
    )
    if bandwidth and theirs:
        bandwidth.append(memory_read_bandwidth(n_threads))
    name = f"{hp['arch']} {os.path.basename(path)}"
    header = f"| {'model':<48} | {'size':>10} | {'params':>8} | {'backend':<9} | {'threads':>7} | {'test':>6} | {'t/s':>20} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    rows = [("pyggml", ours)] + ([("llama.cpp", theirs)] if theirs else [])
    for backend, res in rows:
        for test, rates in res.items():
            mean, sd = _stats(rates)
            print(f"| {name[:48]:<48} | {size_gib:>6.2f} GiB | {n_params / 1e9:>6.2f} B | {backend:<9} | "
                  f"{n_threads:>7} | {test:>6} | {mean:>11.2f} ± {sd:>6.2f} |")
    print()
    if theirs:
        for test in ours:
            r = _stats(ours[test])[0] / _stats(theirs[test])[0]
            print(f"{test}: pyggml / llama.cpp = {r:.3f}")
    elif not args.no_llama_cpp:
        print("llama-cpp-python is not installed: no llama.cpp comparison")
    if bandwidth:
        per_token = weight_bytes_per_token(path)
        bw = max(bandwidth)
        roof = bw * 1e9 / per_token
        test = f"tg{args.n_gen}"
        shares = [f"{backend} {100 * _stats(res[test])[0] / roof:.0f}%" for backend, res in rows]
        print(f"{test} roofline: {per_token / 1e6:.0f} MB of weights per token, memory read bandwidth "
              f"{bw:.1f} GB/s (best of {len(bandwidth)} measurements beside the runs: "
              f"{', '.join(f'{b:.1f}' for b in bandwidth)}) -> {roof:.1f} t/s; " + ", ".join(shares))
    return 0


_run = run
