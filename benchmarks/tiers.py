"""Prompt-sized matrix products under each CPU kernel tier this machine runs (avx2, avxvnni,
avx512; pyggml/runtime/cpu_tier.py), taking turns, as GMAC/s (multiply-adds per second).

Each tier runs in its own interpreter (PYGGML_CPU_TIER is read when the module loads); the
interpreters stay up and are asked for one timing each in turn, round after round, so that
the drift of a shared machine falls on every tier alike; the table gives each tier's median
and its ratio to the first tier's. Weights are random blocks of each type in the real
models' shapes (Qwen2.5-1.5B's 1536 -> 8960 and 8960 -> 1536), repacked as models hold them.

    PYTHONPATH=. python3 benchmarks/tiers.py [--types Q4_K,Q6_K] [--tokens 512] [--threads 2]

--baseline DIR times every tier a second time with the pyggml package found in DIR (another
build, e.g. `pip install --target DIR` of the commit before a change), in the same turns, and
gives each tier's ratio to its own baseline instead of to the first tier.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

WORKER = r"""
import json, os, sys, time
import numpy as np
sys.path.insert(0, os.path.join(sys.argv[1], "tests", "native"))
from test_kernels import random_weights
from gguf import GGMLQuantizationType as QT
from pyggml import _core
types, shapes, n_tokens, n_threads = json.loads(sys.argv[2])
pool = _core.ThreadPool(n_threads)
rng = np.random.default_rng(0)
cases = []
for name in types:
    for n_rows, n_cols in shapes:
        typ = int(QT[name])
        w = random_weights(rng, name, n_rows, n_cols)
        layout = _core.testing.repacked_layout(typ)
        if layout:
            w = _core.testing.repack(w, typ, n_cols)
        x = rng.standard_normal((n_tokens, n_cols)).astype(np.float32)
        cases.append((name, n_rows, n_cols, typ, w, layout, x))
print(json.dumps([_core.cpu_isa(), _core.__file__]), flush=True)
for line in sys.stdin:
    out = []
    for name, n_rows, n_cols, typ, w, layout, x in cases:
        t0 = time.perf_counter()
        _core.testing.matmul(pool, typ, w, n_cols, x, layout=layout)
        out.append(n_rows * n_cols * n_tokens / (time.perf_counter() - t0) / 1e9)
    print(json.dumps(out), flush=True)
"""


def start_worker(tier: str, build: str | None, root: str, spec: str) -> subprocess.Popen:
    """A worker timing `tier` with this build of pyggml, or with the one in the folder `build`."""
    import pyggml

    # `python -c` puts its current folder first on the path: each worker runs in the folder its
    # pyggml is to come from (a source checkout without a built module must not shadow either),
    # with the entries of PYTHONPATH made absolute (PYTHONPATH=. still names the dev tree)
    here = build or os.path.dirname(os.path.dirname(os.path.abspath(pyggml.__file__)))
    paths = [os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {**os.environ, "PYGGML_CPU_TIER": tier, "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([here, *paths])}
    w = subprocess.Popen([sys.executable, "-c", WORKER, root, spec], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True, env=env, cwd=here)
    line = w.stdout.readline()
    problem = None
    if not line:
        problem = f"the {tier} worker stopped before timing" + (f" (--baseline {build}): is pyggml built there?"
                                                                if build else "")
    else:
        got, module = json.loads(line)
        if got != tier:
            problem = f"asked for tier {tier}, the module runs {got}"
        elif build and not os.path.abspath(module).startswith(build + os.sep):
            problem = f"--baseline {build}: the worker imported {module} instead; is pyggml built there?"
    if problem:
        w.kill()
        raise SystemExit(problem)
    return w


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--types", default="Q4_K,Q6_K,Q4_0,Q8_0")
    p.add_argument("--tokens", type=int, default=512)
    p.add_argument("--shapes", default="8960x1536,1536x8960", help="rows x cols of each matrix, comma-separated")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--tiers", default=None, help="comma-separated (default: every tier above scalar this CPU runs)")
    p.add_argument("--baseline", default=None, metavar="DIR", help="a folder holding another build of pyggml to time beside this one")
    args = p.parse_args(argv)
    from pyggml import _core

    tiers = args.tiers.split(",") if args.tiers else [t for t in _core.cpu_tier()["available"] if t != "scalar"]
    types = args.types.split(",")
    shapes = [tuple(int(v) for v in shape.split("x")) for shape in args.shapes.split(",")]
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    spec = json.dumps([types, shapes, args.tokens, args.threads])
    # columns: each tier, and with --baseline each tier's baseline after it
    columns = [(t, None) for t in tiers]
    if args.baseline:
        columns = [c for t in tiers for c in ((t, None), (t, os.path.abspath(args.baseline)))]
    workers = {}
    try:
        for tier, build in columns:
            workers[tier if build is None else tier + " base"] = start_worker(tier, build, root, spec)
    except SystemExit:
        for w in workers.values():
            w.kill()
        raise
    rates = {t: [] for t in workers}
    for _ in range(args.rounds + 1):  # the first round warms up
        for tier, w in workers.items():
            w.stdin.write("\n")
            w.stdin.flush()
            rates[tier].append(json.loads(w.stdout.readline()))
    for w in workers.values():
        w.stdin.close()
        w.wait()
    print(f"matmul of {args.tokens} tokens, {args.threads} threads, median of {args.rounds} rounds (GMAC/s)")
    names = list(workers)
    ratios = [(t, t + " base") for t in tiers] if args.baseline else [(t, tiers[0]) for t in tiers[1:]]
    print(f"{'type':6} {'rows x cols':>12} " + " ".join(f"{t:>11}" for t in names) + "  " +
          " ".join(f"{a + '/' + b:>16}" for a, b in ratios))
    i = 0
    for name in types:
        for n_rows, n_cols in shapes:
            med = {t: statistics.median(r[i] for r in rates[t][1:]) for t in names}
            print(f"{name:6} {f'{n_rows}x{n_cols}':>12} " + " ".join(f"{med[t]:11.1f}" for t in names) + "  " +
                  " ".join(f"{med[a] / med[b]:16.2f}" for a, b in ratios))
            i += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
