"""Concurrent streaming chat against `pyggml serve`, and llama.cpp's server in the same run when
it is installed: aggregate generated tokens/s of N streams against one stream, and the time to
first token of a short request on an idle server and while N-1 long generations run.

    python benchmarks/serve.py -m qwen2.5-coder-1.5b -t 2 --streams 8 --max-tokens 64

Each server runs as its own process with the same model and threads, one after the other.
The peers, when llama-cpp-python is importable (PYTHONPATH may point at it):
- llama.cpp batched in-process: what `llama-server -np N` does per step, through
  llama-cpp-python's low-level API: the N prompts and then one token of every sequence per
  llama_decode, greedy. No HTTP, so it flatters llama.cpp a little; no time to first token.
- `llama_cpp.server` over HTTP when its server extras are installed (it serves one request at
  a time), or a llama-server you started yourself (--peer-url).
Without a peer, pyggml's figures are printed alone.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

import httpx

LONG_PROMPT = "Write a long, detailed Python module implementing a priority queue, with docstrings and tests."
SHORT_PROMPT = "Say hi to visitor number {}."  # a new number each time: no request reuses another's cache


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd, url, env=None, timeout=600):
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[:4]} exited: {proc.stderr.read()[-2000:]}")
        try:
            if httpx.get(url + "/v1/models", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"{cmd[:4]} did not start in {timeout} s")


class Stream:
    """One streaming chat request: times of the first and last content chunk, and the tokens."""

    def __init__(self, url, model, prompt, max_tokens, stop_event=None):
        self.url, self.model, self.prompt, self.max_tokens = url, model, prompt, max_tokens
        self.stop_event = stop_event
        self.t_start = self.t_first = self.t_end = None
        self.chunks = 0
        self.usage = None
        self.first = threading.Event()

    def run(self):
        body = {"model": self.model, "messages": [{"role": "user", "content": self.prompt}],
                "max_tokens": self.max_tokens, "temperature": 0, "stream": True,
                "stream_options": {"include_usage": True}}
        self.t_start = time.perf_counter()
        with httpx.stream("POST", self.url + "/v1/chat/completions", json=body, timeout=600) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                chunk = json.loads(line[6:])
                if chunk.get("usage"):
                    self.usage = chunk["usage"]
                choices = chunk.get("choices") or []
                if choices and choices[0].get("delta", {}).get("content"):
                    self.chunks += 1
                    if self.t_first is None:
                        self.t_first = time.perf_counter()
                        self.first.set()
                if self.stop_event is not None and self.stop_event.is_set():
                    break
        self.t_end = time.perf_counter()
        self.first.set()
        return self

    @property
    def tokens(self) -> int:
        return self.usage["completion_tokens"] if self.usage else self.chunks

    @property
    def ttft(self) -> float:
        return self.t_first - self.t_start


def in_threads(streams):
    threads = [threading.Thread(target=s.run) for s in streams]
    for t in threads:
        t.start()
    return threads


def measure(url, model, n_streams, max_tokens, repeats):
    visitor = iter(range(10**6))
    Stream(url, model, SHORT_PROMPT.format(next(visitor)), 4).run()  # warm up
    idle_ttft = statistics.median(Stream(url, model, SHORT_PROMPT.format(next(visitor)), 4).run().ttft
                                  for _ in range(repeats))
    one = Stream(url, model, LONG_PROMPT, max_tokens).run()
    single = one.tokens / (one.t_end - one.t_start)
    many = [Stream(url, model, LONG_PROMPT + f" (variant {i})", max_tokens) for i in range(n_streams)]
    t0 = time.perf_counter()
    for t in in_threads(many):
        t.join()
    aggregate = sum(s.tokens for s in many) / (time.perf_counter() - t0)
    # time to first token of a short request while n_streams - 1 long generations run
    stop = threading.Event()
    loads = [Stream(url, model, LONG_PROMPT + f" (load {i})", 100000, stop) for i in range(n_streams - 1)]
    threads = in_threads(loads)
    for s in loads:
        s.first.wait(600)
    loaded = []
    for _ in range(repeats):
        loaded.append(Stream(url, model, SHORT_PROMPT.format(next(visitor)), 4).run().ttft)
    stop.set()
    for t in threads:
        t.join()
    return {"single_tps": single, "aggregate_tps": aggregate, "idle_ttft": idle_ttft,
            "loaded_ttft": statistics.median(loaded), "tokens": [s.tokens for s in many]}


def chat_prompts(path, n_streams):
    """The token ids of the benchmark's chat prompts, as pyggml serve builds them."""
    from pyggml.formats.gguf_file import GGUFFile
    from pyggml.serve.engine import text_side

    with GGUFFile(path) as f:
        tokenizer, template = text_side(f)
    return [tokenizer.encode(template.render([{"role": "user", "content": LONG_PROMPT + f" (variant {i})"}]),
                             add_special=False, parse_special=True) for i in range(n_streams)]


def llama_cpp_batched(path, prompts, max_tokens, threads, n_ctx_seq):
    """llama.cpp decoding len(prompts) sequences together, as llama-server's slots: returns
    (one sequence's generated t/s, all sequences' generated t/s), prompts included."""
    import llama_cpp as L
    import numpy as np

    L.llama_backend_init()
    model = L.llama_model_load_from_file(path.encode(), L.llama_model_default_params())
    n_vocab = L.llama_vocab_n_tokens(L.llama_model_get_vocab(model))
    cp = L.llama_context_default_params()
    n = len(prompts)
    cp.n_ctx, cp.n_batch, cp.n_ubatch, cp.n_seq_max = n_ctx_seq * n, 512, 512, n
    cp.n_threads = cp.n_threads_batch = threads
    ctx = L.llama_init_from_model(model, cp)
    batch = L.llama_batch_init(512, 0, n)

    def run(seqs):
        L.llama_memory_clear(L.llama_get_memory(ctx), True)
        pos = {s: 0 for s in seqs}
        pending = {s: list(prompts[s]) for s in seqs}
        last, made = {}, {s: 0 for s in seqs}
        t0 = time.perf_counter()
        while any(made[s] < max_tokens for s in seqs):
            batch.n_tokens, rows = 0, {}
            for s in seqs:  # the decoding sequences' tokens, then prompt slices
                if s in last and made[s] < max_tokens:
                    entries = [last[s]]
                elif s not in last:
                    room = 512 - batch.n_tokens - sum(1 for x in seqs if x in last and made[x] < max_tokens)
                    entries = pending[s][:max(room, 0)]
                    pending[s] = pending[s][len(entries):]
                else:
                    continue
                for k, tok in enumerate(entries):
                    i = batch.n_tokens
                    batch.token[i], batch.pos[i], batch.n_seq_id[i] = tok, pos[s], 1
                    batch.seq_id[i][0] = s
                    batch.logits[i] = 1 if (k == len(entries) - 1 and (s in last or not pending[s])) else 0
                    pos[s] += 1
                    batch.n_tokens += 1
                if entries and batch.logits[batch.n_tokens - 1]:
                    rows[s] = batch.n_tokens - 1
            if L.llama_decode(ctx, batch) != 0:
                raise RuntimeError("llama_decode failed")
            for s, i in rows.items():
                logits = np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, i), shape=(n_vocab,))
                last[s] = int(np.argmax(logits))
                made[s] += 1
        return sum(made.values()) / (time.perf_counter() - t0)

    try:
        run([0])  # warm up
        return run([0]), run(list(range(n)))
    finally:
        L.llama_batch_free(batch)
        L.llama_free(ctx)
        L.llama_model_free(model)


def report(name, r, n_streams):
    print(f"{name}: 1 stream {r['single_tps']:.2f} t/s; {n_streams} streams {r['aggregate_tps']:.2f} t/s in all "
          f"({r['aggregate_tps'] / r['single_tps']:.2f}x); TTFT idle {r['idle_ttft'] * 1000:.0f} ms, "
          f"with {n_streams - 1} generating {r['loaded_ttft'] * 1000:.0f} ms "
          f"({r['loaded_ttft'] / r['idle_ttft']:.2f}x); tokens per stream {r['tokens']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", "--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("-t", "--threads", type=int, default=os.cpu_count())
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--ctx-per-stream", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-peer", action="store_true", help="measure pyggml only")
    ap.add_argument("--peer-url", default=None, help="a llama.cpp server already running (its /v1 API)")
    args = ap.parse_args(argv)

    from pyggml import models

    path = str(models.resolve(args.model))
    n_ctx = args.streams * args.ctx_per_stream
    print(f"model {os.path.basename(path)}, {args.threads} threads, {args.streams} streams of {args.max_tokens} "
          f"tokens, greedy chat requests")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start([sys.executable, "-m", "pyggml", "serve", "-m", path, "-np", str(args.streams), "-c", str(n_ctx),
                  "-t", str(args.threads), "--port", str(port)], url)
    try:
        ours = measure(url, os.path.basename(path), args.streams, args.max_tokens, args.repeats)
    finally:
        proc.terminate()
        proc.wait(30)
    report("pyggml serve", ours, args.streams)

    peer = None
    if not args.no_peer:
        try:
            import llama_cpp  # noqa: F401
        except ImportError:
            print("llama.cpp peer: llama_cpp is not importable; pyggml's figures alone")
        else:
            single, together = llama_cpp_batched(path, chat_prompts(path, args.streams), args.max_tokens,
                                                 args.threads, args.ctx_per_stream)
            print(f"llama.cpp batched in-process: 1 stream {single:.2f} t/s; {args.streams} streams {together:.2f} "
                  f"t/s in all ({together / single:.2f}x)")
            print(f"pyggml serve / llama.cpp batched: {args.streams} streams "
                  f"{ours['aggregate_tps'] / together:.2f}x, 1 stream {ours['single_tps'] / single:.2f}x")
    if args.peer_url:
        peer = measure(args.peer_url.rstrip("/"), "default", args.streams, args.max_tokens, args.repeats)
        report("llama.cpp (--peer-url)", peer, args.streams)
    elif not args.no_peer:
        try:
            import llama_cpp.server.app  # noqa: F401 - its extras (starlette_context, pydantic_settings...)
        except ImportError as e:
            print(f"llama_cpp.server peer: not importable ({e})")
        else:
            port = free_port()
            purl = f"http://127.0.0.1:{port}"
            proc = start([sys.executable, "-m", "llama_cpp.server", "--model", path, "--n_ctx", str(n_ctx),
                          "--n_threads", str(args.threads), "--n_threads_batch", str(args.threads),
                          "--port", str(port)], purl)
            try:
                peer = measure(purl, path, args.streams, args.max_tokens, args.repeats)
            finally:
                proc.terminate()
                proc.wait(30)
            report("llama_cpp.server (one request at a time)", peer, args.streams)
    if peer:
        print(f"pyggml / HTTP peer: {args.streams} streams {ours['aggregate_tps'] / peer['aggregate_tps']:.2f}x, "
              f"1 stream {ours['single_tps'] / peer['single_tps']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
