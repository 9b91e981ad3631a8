"""`pyggml bench`: llama-bench-style prompt (ppN) and generation (tgN) throughput.

pp: one eval of N random tokens on an empty cache. tg: N single-token evals, one after
another, starting from an empty cache. Each test runs `repetitions` times after a
warm-up; the table shows mean +- standard deviation of tokens/s. When llama-cpp-python
is importable the same tests run on llama.cpp with the same file, tokens and thread
count, both runtimes loaded at once and taking turns repetition by repetition, and the
ratio pyggml / llama.cpp is printed.

-d/--depth (llama-bench's -d) adds ppN and tgN after D tokens in the cache, for each depth D
given (ppN@dD, tgN@dD): the D tokens are evaluated first, untimed, so that every timed token
attends over D + its own position; prompt and decode speed as the context grows. Each runtime
fills its cache once, depth by depth in ascending order (the tokens of a deeper test extend
those of the shallower one), and every repetition cuts the cache back to exactly D tokens
before it is timed: the cache each timed run sees is the one llama-bench's refill would leave,
and a 16384-token context is evaluated once per runtime instead of once per repetition.

tgN is also set against the memory-bandwidth roofline: the weight bytes one token reads
(every tensor but the token embedding, which is looked up, unless it doubles as the
output matrix) divided into the machine's memory read bandwidth, measured beside the
runs (a streaming read of 512 MiB on as many threads, before and after the tests; the
best of them, so that noise from other work on the machine raises the bar). As that
bandwidth drifts within seconds on a shared machine, and single reads of a few
milliseconds catch its peaks, a second figure sets each tgN repetition against the
sustained read bandwidth right before and right after it (256 MiB read over and over
for --read-seconds, 2 by default, a third each with 1, 2 and 4 streams per thread, the
fastest third counting; the faster of the two windows) and gives the median of those
shares.

llama.cpp runs with the same KV cache type as pyggml (--kv-type) and, by default, with flash
attention on: llama.cpp's own default (-fa auto) turns it on for layers on a CPU, while
llama-cpp-python's turns it off. -fa 0 times llama.cpp without it, -fa 0,1 both ways (two
llama.cpp rows, each with its ratio); a quantized V cache needs it in llama.cpp. pyggml's
attention has one form (tiles over the cache with an online softmax), so -fa changes llama.cpp only.

-ngl N runs the last N blocks on the GPU (a CUDA build; as `pyggml run -ngl`); a comma-separated
list (-ngl 0,14,99) runs every test once for each, as llama-bench does. With blocks on the
GPU, the roofline counts the weight bytes on each side against its own bandwidth: the CPU's
as above, the GPU's from a streaming read of 1 GiB of device memory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

from .. import arch as architectures
from .. import models
from ..errors import PyggmlError
from .common import KV_TYPE_NAMES, add_weight_format_arguments, describe_weight_format, int_at_least


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
    p.add_argument("-p", "--n-prompt", type=int_at_least(0), default=512, help="prompt tokens (default 512)")
    p.add_argument("-n", "--n-gen", type=int_at_least(0), default=128, help="generated tokens (default 128)")
    p.add_argument("-t", "--threads", type=int_at_least(0), default=0, help="threads (default: physical cores)")
    p.add_argument("-b", "--batch-size", type=int_at_least(1), default=512, help="tokens per native call (default 512)")
    p.add_argument("-r", "--repetitions", type=int_at_least(1), default=3, help="runs per test (default 3)")
    p.add_argument("-d", "--depth", type=_depths, default=(),
                   help="comma-separated context depths: also time ppN and tgN after that many tokens in the cache "
                   "(as llama-bench -d; e.g. 512,4096,16384)")
    p.add_argument("--kv-type", default="f16", choices=KV_TYPE_NAMES, help="KV cache type")
    p.add_argument("--no-llama-cpp", action="store_true", help="do not run llama.cpp for comparison")
    p.add_argument("-fa", "--flash-attn", type=_flash_attn, default=(True,), metavar="0|1[,...]",
                   help="llama.cpp's flash attention: 1 (default; what llama.cpp's own -fa auto picks on a CPU), "
                   "0 (llama-cpp-python's default), or 0,1 to time llama.cpp both ways")
    p.add_argument("-ngl", "--n-gpu-layers", default="0", metavar="N[,N...]",
                   help="blocks on the GPU (as in `pyggml run`); a comma-separated list runs the tests for each")
    add_weight_format_arguments(p)
    p.add_argument("--read-seconds", type=float, default=2.0,
                   help="length of the sustained bandwidth reads beside each tg repetition (default 2)")


def _depths(text: str) -> tuple:
    try:
        depths = tuple(int(d) for d in text.split(",") if d.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"depths must be comma-separated integers, not {text!r}") from None
    if any(d < 0 for d in depths):
        raise argparse.ArgumentTypeError(f"depths must be >= 0, not {text!r}")
    return depths


def _flash_attn(text: str) -> tuple:
    words = {"1": True, "on": True, "0": False, "off": False}
    values = [w.strip().lower() for w in text.split(",") if w.strip()]
    if not values or any(v not in words for v in values):
        raise argparse.ArgumentTypeError(f"-fa takes 0, 1 or a list of them (0,1), not {text!r}")
    return tuple(dict.fromkeys(words[v] for v in values))


def _stats(rates):
    mean = statistics.fmean(rates)
    sd = statistics.stdev(rates) if len(rates) > 1 else 0.0
    return mean, sd


_PAUSE = 0.05  # seconds before each timed run (see _time_tests)


class _Backend:
    """One runtime under test: reset() empties its cache, eval(tokens) runs a batch,
    truncate(n) keeps the first n cached tokens and forgets the rest."""

    def __init__(self, name, reset, eval_tokens, n_vocab, truncate):
        self.name, self.reset, self.eval, self.n_vocab = name, reset, eval_tokens, n_vocab
        self.truncate = truncate
        self.results = {}


def _time_tests(backends, n_prompt, n_gen, reps, after_tg=None, depths=(), say=None):
    """Fills each backend's results {test name: [tokens/s per repetition]} for ppN and
    tgN. The backends take turns, repetition by repetition, so that when the machine's
    speed drifts (other work, shared memory bandwidth) every backend sees the same drift.
    A short pause before each timed run lets the other backend's worker threads, which
    spin for a while after their work, go to sleep first. after_tg(), when given, is
    called after every repetition of tgN (the bandwidth reads beside each repetition).
    depths: ppN@dD and tgN@dD after D tokens evaluated untimed (in batches, as a prompt): the depths in
    ascending order, each backend's cache extended once to D and cut back to D before every
    timed repetition. say(text), when given, hears about each untimed fill (they take minutes
    at 16384 tokens)."""
    rng = np.random.default_rng(0)
    for b in backends:
        b.reset()
        b.eval(rng.integers(0, b.n_vocab, size=min(8, max(n_prompt, 1))).tolist())  # warm-up

    def timed(test, toks, run, prepare):  # every backend times run(backend, toks) once, in turn
        for b in backends:
            prepare(b)
            time.sleep(_PAUSE)
            t0 = time.perf_counter()
            run(b, toks)
            b.results.setdefault(test, []).append(len(toks) / (time.perf_counter() - t0))

    def one_by_one(b, toks):
        for t in toks:
            b.eval([t])

    def at_once(b, toks):
        b.eval(toks)

    def empty(b):
        b.reset()

    n_vocab = min(b.n_vocab for b in backends)
    for _ in range(reps):
        if n_prompt > 0:
            timed(f"pp{n_prompt}", rng.integers(0, n_vocab, size=n_prompt).tolist(), at_once, empty)
        if n_gen > 0:
            timed(f"tg{n_gen}", rng.integers(0, n_vocab, size=n_gen).tolist(), one_by_one, empty)
            if after_tg:
                after_tg()
    depths = sorted({d for d in depths if d > 0}) if n_gen > 0 or n_prompt > 0 else []
    if not depths:
        return
    context = rng.integers(0, n_vocab, size=depths[-1]).tolist()
    filled = 0  # truncate(0) empties each cache first
    for depth in depths:
        for b in backends:
            if say:
                say(f"{b.name}: filling the cache to {depth} tokens (untimed)")
            b.truncate(filled)
            b.eval(context[filled:depth])
        filled = depth

        def cut(b):  # back to exactly this depth before each timed run
            b.truncate(depth)

        for _ in range(reps):
            if n_prompt > 0:
                timed(f"pp{n_prompt}@d{depth}", rng.integers(0, n_vocab, size=n_prompt).tolist(), at_once, cut)
            if n_gen > 0:
                timed(f"tg{n_gen}@d{depth}", rng.integers(0, n_vocab, size=n_gen).tolist(), one_by_one, cut)


def aligned_empty(nbytes, align=2 << 20):
    """An uninitialised uint8 buffer of nbytes starting on an `align` boundary (2 MiB: as the
    model's weight buffer does; numpy's own large buffers start 16 bytes past a page)."""
    raw = np.empty(nbytes + align, np.uint8)
    off = (-raw.ctypes.data) % align
    return raw[off:off + nbytes]


def aligned_copy(a, align=2 << 20):
    """a copied into an aligned_empty buffer, same shape and dtype."""
    out = aligned_empty(a.nbytes, align).view(a.dtype).reshape(a.shape)
    out[...] = a
    return out


def memory_read_bandwidth(n_threads, nbytes=512 << 20, reps=3):
    """GB/s of the fastest streaming read of nbytes on n_threads threads (each thread
    reading its part as 1, 2 or 4 streams side by side; best of reps per count)."""
    from .. import _core

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


def sustained_read_bandwidth(n_threads, seconds, nbytes=256 << 20):
    """GB/s that streaming reads of nbytes on n_threads threads sustain: the window of
    `seconds` is cut in three, read with 1, 2 and 4 streams per thread side by side (as
    memory_read_bandwidth), each part read over and over (at least once); the fastest
    part's mean. What a run as long as that can count on."""
    from .. import _core

    pool = _core.ThreadPool(n_threads)
    buf = np.ones(nbytes, dtype=np.uint8)
    _core.memory_read(pool, buf)  # fault the pages in
    best = 0.0
    for streams in (1, 2, 4):
        done, t0 = 0, time.perf_counter()
        while True:
            _core.memory_read(pool, buf, streams)
            done += nbytes
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds / 3:
                break
        best = max(best, done / elapsed / 1e9)
    return best


def median_share(rates, reads):
    """Median over runs of rates[i] / max(reads[i], reads[i + 1]): each run (GB/s) against
    the faster of the bandwidth reads taken right before and right after it."""
    return statistics.median(r / max(a, b) for r, a, b in zip(rates, reads, reads[1:]))


def weight_bytes_per_token(path, placement=None):
    """Bytes of weights one generated token reads: every tensor but token_embd, which is
    only looked up (a few rows), unless there is no output.weight and it is the output; of
    a mixture of experts' 3-D expert tensors, expert_used_count / expert_count.
    With a GPU placement (pyggml.runtime.gpu.Placement): (bytes read on the CPU, bytes on the GPU)."""
    from gguf import GGUFReader

    r = GGUFReader(path)
    arch = r.fields["general.architecture"].contents()
    field = {k: r.fields.get(f"{arch}.{k}") for k in ("expert_count", "expert_used_count")}
    n_expert, n_used = (int(f.contents()) if f is not None else 0 for f in field.values())
    names = {t.name for t in r.tensors}
    tied = "output.weight" not in names

    def share(t):
        return int(t.n_bytes) * n_used // n_expert if n_expert and t.name.endswith("_exps.weight") else int(t.n_bytes)

    read = [t for t in r.tensors if t.name != "token_embd.weight" or tied]
    if placement is None:
        return sum(share(t) for t in read)
    on_gpu = set(placement.layers)

    def gpu_side(name):
        if name.startswith("blk."):
            return int(name.split(".")[1]) in on_gpu
        return placement.output and name in ("output.weight", "output_norm.weight", "token_embd.weight")

    gpu = sum(share(t) for t in read if gpu_side(t.name))
    return sum(share(t) for t in read) - gpu, gpu


def pyggml_backend(path, n_ctx, n_threads, n_batch, kv_type="f16", n_gpu_layers=0, weight_format=None,
                   int8_threshold=6.0):
    from ..runtime.model import Model

    m = Model.load(path, n_ctx=n_ctx, n_threads=n_threads or None, n_batch=n_batch,
                   kv_type=kv_type, n_gpu_layers=n_gpu_layers, weight_format=weight_format,
                   int8_threshold=int8_threshold)
    name = _name("pyggml", n_gpu_layers) + (f" -wf {m.weight_format}" if m.weight_format else "")
    return m, _Backend(name, m.reset, m.eval, m.n_vocab, m.truncate)


def _name(backend, n_gpu_layers):
    return backend if not n_gpu_layers else f"{backend} ngl={n_gpu_layers}"


def _ngl_list(text):
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise PyggmlError(f"-ngl takes block counts separated by commas, not {text!r}") from None
    return values or [0]


def llama_cpp_backend(path, n_ctx, n_threads, n_batch, n_gpu_layers=0, flash_attn=True, kv_type="f16",
                      name="llama.cpp"):
    """llama.cpp through llama-cpp-python on the same file; None when it is not installed.
    kv_type is the cache type of keys and values both (a KV_TYPE_NAMES name)."""
    try:
        import llama_cpp
    except ImportError:
        return None
    from ..formats.types import GGMLType

    if kv_type != "f16" and not flash_attn:
        raise PyggmlError(f"llama.cpp needs flash attention for a {kv_type} V cache: use -fa 1")
    cache = int(GGMLType[kv_type.upper()])
    try:
        llm = llama_cpp.Llama(
            model_path=str(path), n_ctx=n_ctx, n_batch=n_batch, n_ubatch=n_batch,
            n_threads=n_threads, n_threads_batch=n_threads, verbose=False, n_gpu_layers=n_gpu_layers,
            flash_attn=flash_attn, type_k=cache, type_v=cache,
        )
    except ValueError as e:  # llama-cpp-python's word for a model or context llama.cpp refused
        raise PyggmlError(f"llama.cpp did not load {path} with a {kv_type} cache and flash attention "
                          f"{'on' if flash_attn else 'off'}: {e}") from None

    def truncate(n):  # llama-cpp-python's eval drops the cached positions from n_tokens on
        llm.n_tokens = n

    backend = _Backend(_name(name, n_gpu_layers), llm.reset, llm.eval, llm.n_vocab(), truncate)
    backend.flash_attn = flash_attn
    return backend


def run(args) -> int:
    path = models.resolve(args.model)
    failed = 0
    for i, ngl in enumerate(_ngl_list(args.n_gpu_layers)):
        if i:
            print()
        try:
            _bench(args, path, ngl)
        except (PyggmlError, RuntimeError) as e:  # say so, and go on with the next -ngl
            print(f"pyggml: error at -ngl {ngl}: {e}")
            failed += 1
    return 1 if failed else 0


def _bench(args, path, ngl) -> None:
    size_gib = os.path.getsize(path) / 2**30
    n_ctx = max(args.n_prompt, max(args.depth, default=0) + max(args.n_gen, args.n_prompt), 16)
    m, ours = pyggml_backend(path, n_ctx, args.threads, args.batch_size, args.kv_type, ngl,
                             getattr(args, "weight_format", None), getattr(args, "int8_threshold", 6.0))
    where = m.gpu_placement
    if where.any:
        print(f"pyggml: {m.placement_summary()}")
    report = m.weight_format_report()
    if report:
        print(describe_weight_format(report))
    n_threads = m.n_threads
    # the bandwidth of each side that holds weights a token reads
    per_token_cpu, per_token_gpu = weight_bytes_per_token(path, where) if args.n_gen > 0 else (0, 0)
    if report and per_token_cpu:  # the converted matrices are read instead of the file's
        per_token_cpu += report["bytes"] - report["source_bytes"]
    bandwidth = [memory_read_bandwidth(n_threads)] if per_token_cpu else []
    gpu_bandwidth = 0.0
    if per_token_gpu:
        from .. import _core

        gpu_bandwidth = _core.cuda_read_bandwidth(1 << 30, 5)
    hp = m.hparams
    n_params = architectures.get(m.arch).n_params(hp)
    theirs, missing = [], False
    for fa in () if args.no_llama_cpp else args.flash_attn:
        label = "llama.cpp" if len(args.flash_attn) == 1 else f"llama.cpp fa={int(fa)}"
        try:
            b = llama_cpp_backend(path, n_ctx, n_threads, args.batch_size, ngl, fa, args.kv_type, label)
        except PyggmlError as e:  # a form llama.cpp cannot run: the others still go on
            print(f"pyggml bench: {label}: {e}", file=sys.stderr)
            continue
        if b is None:
            missing = True
            break
        theirs.append(b)
    backends = [ours] + theirs
    if theirs:  # what the llama.cpp rows ran with: flash attention is not the same by default everywhere
        import llama_cpp

        settings = ", ".join(f"{b.name} flash attention {'on' if b.flash_attn else 'off'}" for b in theirs)
        print(f"llama.cpp: llama-cpp-python {llama_cpp.__version__}, {args.kv_type} KV cache; {settings}")
    # sustained reads after every tg repetition, so each repetition has a bar measured
    # right before and right after it (the CPU alone: the GPU's bandwidth holds still)
    def window():
        return sustained_read_bandwidth(n_threads, args.read_seconds)

    per_rep = args.n_gen > 0 and not where.any
    beside = [window()] if per_rep else []
    _time_tests(backends, args.n_prompt, args.n_gen, args.repetitions,
                after_tg=(lambda: beside.append(window())) if per_rep else None, depths=args.depth,
                say=lambda text: print(f"pyggml bench: {text}", file=sys.stderr, flush=True))
    if bandwidth:
        bandwidth.append(memory_read_bandwidth(n_threads))
    name = f"{hp['arch']} {os.path.basename(path)}"
    width = max(9, max(len(b.name) for b in backends))
    header = (f"| {'model':<48} | {'size':>10} | {'params':>8} | {'backend':<{width}} | {'threads':>7} | {'test':>6} "
              f"| {'t/s':>20} |")
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    rows = [(b.name, b.results) for b in backends]
    for backend, res in rows:
        for test, rates in res.items():
            mean, sd = _stats(rates)
            print(f"| {name[:48]:<48} | {size_gib:>6.2f} GiB | {n_params / 1e9:>6.2f} B | {backend:<{width}} | "
                  f"{n_threads:>7} | {test:>6} | {mean:>11.2f} ± {sd:>6.2f} |")
    print()
    for b in theirs:
        for test in ours.results:
            r = _stats(ours.results[test])[0] / _stats(b.results[test])[0]
            print(f"{test}: pyggml / {b.name} = {r:.3f}")
    if missing:
        print("llama-cpp-python is not installed: no llama.cpp comparison")
    if where.any and args.n_gen > 0:
        # each side reads its own weights at its own bandwidth, one after the other
        seconds = per_token_gpu / (gpu_bandwidth * 1e9)
        if per_token_cpu:
            seconds += per_token_cpu / (max(bandwidth) * 1e9)
        roof = 1.0 / seconds
        test = f"tg{args.n_gen}"
        shares = [f"{backend} {100 * _stats(res[test])[0] / roof:.0f}%" for backend, res in rows]
        cpu = (f", {per_token_cpu / 1e6:.0f} MB on the CPU at {max(bandwidth):.1f} GB/s" if per_token_cpu else "")
        print(f"{test} roofline: {per_token_gpu / 1e6:.0f} MB of weights per token on the GPU at "
              f"{gpu_bandwidth:.0f} GB/s{cpu} -> {roof:.1f} t/s; " + ", ".join(shares))
    elif bandwidth:
        per_token = per_token_cpu
        bw = max(bandwidth)
        roof = bw * 1e9 / per_token
        test = f"tg{args.n_gen}"
        shares = [f"{backend} {100 * _stats(res[test])[0] / roof:.0f}%" for backend, res in rows]
        print(f"{test} roofline: {per_token / 1e6:.0f} MB of weights per token, memory read bandwidth "
              f"{bw:.1f} GB/s (best of {len(bandwidth)} measurements beside the runs: "
              f"{', '.join(f'{b:.1f}' for b in bandwidth)}) -> {roof:.1f} t/s; " + ", ".join(shares))
        # repetition by repetition: the weight GB/s of repetition i against the faster of
        # the reads right before and after it; the median over repetitions
        shares = [f"{backend} {100 * median_share([r * per_token / 1e9 for r in res[test]], beside):.0f}%"
                  for backend, res in rows]
        print(f"{test} roofline per repetition ({args.read_seconds:g} s of reads beside each: "
              f"{', '.join(f'{b:.1f}' for b in beside)} GB/s), median share: " + ", ".join(shares))


_run = run
