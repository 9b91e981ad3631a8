"""A soak run of `pyggml serve`: a bounded loop of mixed requests for a while, then the figures.

    python benchmarks/soak_serve.py -m gemma3-270m --seconds 600 --workers 6 -np 4

Workers send, at random: streamed chat requests of mixed lengths (some dropped after a few
chunks: a client disconnecting), whole completions, embeddings, and bad requests (malformed
JSON, a negative max_tokens, an unknown model, a prompt of the wrong type), which must get a 4xx.
More workers than slots with a short queue also exercises the 503s (the workers then wait
as Retry-After says). The server's resident memory
(/proc/PID/status VmRSS) is sampled throughout. At the end: counts by outcome, any unexpected
error, memory at the start, the peak and the end, and whether the server still answers.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import socket
import subprocess
import sys
import threading
import time

import httpx


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WORDS = "the a cache model token stream batch slot queue server prompt answer list tree graph".split()


def busy(r: httpx.Response, outcomes: collections.Counter) -> bool:
    """A 503 is expected when the slots and the queue are full: count it, wait as told."""
    if r.status_code != 503:
        return False
    outcomes["503"] += 1
    if r.headers.get("retry-after") is None:
        raise AssertionError("a 503 without Retry-After")
    time.sleep(float(r.headers["retry-after"]))
    return True


def one_request(url: str, model: str, rng: random.Random, outcomes: collections.Counter, unexpected: list):
    kind = rng.choices(["stream", "drop", "whole", "embed", "bad"], weights=[4, 2, 2, 1, 2])[0]
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 200)))
    max_tokens = rng.choice([1, 8, 32, 128])
    try:
        if kind in ("stream", "drop"):
            body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": max_tokens,
                    "stream": True, "temperature": rng.choice([0, 0.8])}
            with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=300) as r:
                if r.status_code == 503:
                    r.read()
                    busy(r, outcomes)
                    return
                r.raise_for_status()
                n = 0
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        n += 1
                        if kind == "drop" and n >= 2:
                            break
                        if line == "data: [DONE]":
                            break
            outcomes[kind] += 1
        elif kind == "whole":
            r = httpx.post(url + "/v1/completions", json={"model": model, "prompt": text, "max_tokens": max_tokens},
                           timeout=300)
            if busy(r, outcomes):
                return
            r.raise_for_status()
            assert r.json()["choices"][0]["finish_reason"] in ("stop", "length")
            outcomes[kind] += 1
        elif kind == "embed":
            r = httpx.post(url + "/v1/embeddings", json={"model": model, "input": text}, timeout=300)
            if busy(r, outcomes):
                return
            r.raise_for_status()
            outcomes[kind] += 1
        else:
            bad = rng.choice([
                (b'{"prompt": "x", "max_tokens": ', 400),
                (json.dumps({"prompt": "x", "max_tokens": -1}).encode(), 400),
                (json.dumps({"model": "nope", "prompt": "x"}).encode(), 404),
                (json.dumps({"prompt": 12}).encode(), 400),
            ])
            r = httpx.post(url + "/v1/completions", content=bad[0], headers={"content-type": "application/json"},
                           timeout=60)
            if r.status_code != bad[1] or "error" not in r.json():
                unexpected.append(f"bad request got {r.status_code}: {r.text[:200]}")
            outcomes["bad"] += 1
    except Exception as e:  # noqa: BLE001 - counted and reported
        unexpected.append(f"{kind}: {type(e).__name__}: {e}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-m", "--model", default="gemma3-270m")
    ap.add_argument("-t", "--threads", type=int, default=0)
    ap.add_argument("-np", "--parallel", type=int, default=4)
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from pyggml import models

    path = str(models.resolve(args.model))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "pyggml", "serve", "-m", path, "-np", str(args.parallel), "-c",
           str(1024 * args.parallel), "--port", str(port), "--max-queue", "2"]
    if args.threads:
        cmd += ["-t", str(args.threads)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(1200):
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        model = httpx.get(url + "/v1/models").json()["data"][0]["id"]
        outcomes: collections.Counter = collections.Counter()
        unexpected: list = []
        rss = [rss_mib(proc.pid)]
        deadline = time.time() + args.seconds

        def worker(i):
            rng = random.Random(args.seed * 1000 + i)
            while time.time() < deadline:
                one_request(url, model, rng, outcomes, unexpected)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.workers)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            rss.append(rss_mib(proc.pid))
        health = httpx.get(url + "/health", timeout=10).json()
        final = httpx.post(url + "/v1/completions", json={"prompt": "The end", "max_tokens": 4}, timeout=120)
        rss.append(rss_mib(proc.pid))
        print(f"{args.seconds:.0f} s, {args.workers} workers, {args.parallel} slots: {dict(outcomes)}")
        print(f"unexpected errors: {len(unexpected)}" + "".join(f"\n  {u}" for u in unexpected[:20]))
        print(f"server RSS: start {rss[0]:.0f} MiB, after the first minute {rss[min(60, len(rss) - 1)]:.0f} MiB, "
              f"peak {max(rss):.0f} MiB, end {rss[-1]:.0f} MiB")
        print(f"health at the end: {health}")
        print(f"still answering: {final.status_code == 200} ({final.json()['choices'][0]['finish_reason']})")
        return 1 if unexpected or final.status_code != 200 else 0
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    sys.exit(main())
