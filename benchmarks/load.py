"""Model load time: pyggml's Model.load against llama.cpp's Llama(...) on the same files.

Each load runs in a fresh interpreter (nothing of the previous one is cached but the
operating system's page cache), the runtimes in turns, round after round; the table gives
each one's median and their ratio. Which runtime goes first changes from round to round: the
process that follows a large one can find the memory it freed slower to touch again.
pyggml's load includes regrouping the matrices for this CPU's kernels (docs/speed.md),
llama.cpp's its own repacking where it has one.

    PYTHONPATH=.:/path/to/llama-cpp-python python benchmarks/load.py FILE.gguf [...] [-t 2] [--rounds 6]
    [--baseline DIR]   # also time the pyggml package found in DIR (another build), in the same turns

The first round of each file is read from disk when the file is not in the page cache yet;
the medians take care of it. On a virtual machine whose memory the host hands out on first
touch, a fresh weight buffer can cost far more than on a laptop: compare runs on one machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

PYGGML = """
import sys, time
sys.path.insert(0, sys.argv[1])
import pyggml
t = time.perf_counter()
m = pyggml.Model.load(sys.argv[2], n_threads=int(sys.argv[3]))
print(time.perf_counter() - t)
"""

LLAMA = """
import sys, time
import llama_cpp
t = time.perf_counter()
m = llama_cpp.Llama(sys.argv[2], n_ctx=512, n_threads=int(sys.argv[3]), verbose=False)
print(time.perf_counter() - t)
"""


def timed(code: str, root: str, path: str, threads: int) -> float:
    out = subprocess.run([sys.executable, "-c", code, root, path, str(threads)], check=True,
                         capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--baseline", help="a folder holding another build of the pyggml package")
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        import llama_cpp  # noqa: F401
        have_llama = True
    except ImportError:
        have_llama = False
        print("llama-cpp-python is not importable: timing pyggml only", file=sys.stderr)
    runners = {"pyggml": lambda p: timed(PYGGML, root, p, args.threads)}
    if args.baseline:
        runners["pyggml base"] = lambda p: timed(PYGGML, os.path.abspath(args.baseline), p, args.threads)
    if have_llama:
        runners["llama.cpp"] = lambda p: timed(LLAMA, root, p, args.threads)
    times = {(m, name): [] for m in args.models for name in runners}
    for r in range(args.rounds):
        for m in args.models:
            line = []
            order = list(runners)
            order = order[r % len(order):] + order[:r % len(order)]  # each runtime first in turn
            for name in order:
                times[m, name].append(runners[name](m))
                line.append(f"{name} {times[m, name][-1]:.3f} s")
            print(f"round {r + 1}: {os.path.basename(m)}: " + "; ".join(line), flush=True)
    names = list(runners)
    print()
    print("| file | " + " | ".join(f"{n} s" for n in names) + " | " +
          " | ".join(f"{n} / pyggml" for n in names[1:]) + " |")
    print("|---" * (1 + 2 * len(names) - 1) + "|")
    for m in args.models:
        med = {n: statistics.median(times[m, n]) for n in names}
        print(f"| {os.path.basename(m)} | " + " | ".join(f"{med[n]:.3f}" for n in names) + " | " +
              " | ".join(f"{med[n] / med['pyggml']:.2f}" for n in names[1:]) + " |")


if __name__ == "__main__":
    main()
