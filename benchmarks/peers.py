"""pyggml beside llama.cpp and, optionally, ik_llama.cpp: pp and tg on the same files, same threads.

Each round runs `pyggml bench` on every file (which times llama.cpp through llama-cpp-python
in the same process, in turns, when it is importable) and then, when --ik-bench names the
`llama-bench` binary of an ik_llama.cpp build, that binary on the same file with the same
tests and threads. The rounds alternate the runtimes, so the drift of a shared machine falls
on each; the table gives each runtime's median over rounds and the ratios to llama.cpp.

ik_llama.cpp (the CPU-optimised fork) has no Python package that builds its bench here, so it
runs as its own process; build it from its public source for the CPU at hand, e.g.
`cmake -S ik_llama.cpp -B build -DGGML_NATIVE=ON && cmake --build build --target llama-bench`.

    PYTHONPATH=. python3 benchmarks/peers.py MODEL.gguf [MODEL2.gguf ...] [-t 2] [-p 512] [-n 128]
        [--rounds 3] [--ik-bench PATH/llama-bench [--ik-args "-rtr 1"]] [--tier avx512] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys

ROW = re.compile(r"^\|\s*(?P<model>[^|]+?)\s*\|[^|]*\|[^|]*\|\s*(?P<backend>[^|]+?)\s*\|\s*\d+\s*\|\s*(?P<test>\S+)\s*\|"
                 r"\s*(?P<mean>[\d.]+)\s*±")


def run_pyggml(path: str, args, env) -> dict:
    """{backend: {test: t/s}} from one `pyggml bench` run (pyggml, and llama.cpp when importable)."""
    cmd = [sys.executable, "-m", "pyggml", "bench", "-m", path, "-t", str(args.threads), "-p", str(args.n_prompt),
           "-n", str(args.n_gen), "-r", str(args.repetitions), "--read-seconds", "0.2"]
    # run beside the model, not in the current folder: a source checkout there (no built module)
    # must not shadow the installed package; PYTHONPATH's entries made absolute keep a dev tree
    env = dict(env, PYTHONPATH=os.pathsep.join(os.path.abspath(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p))
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=os.path.dirname(os.path.abspath(path)))
    if out.returncode != 0:
        raise SystemExit(f"pyggml bench failed on {path}:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
    result: dict = {}
    for line in out.stdout.splitlines():
        m = ROW.match(line)
        if m:
            result.setdefault(m["backend"], {})[m["test"]] = float(m["mean"])
    return result


def run_ik(path: str, args) -> dict:
    """{test: t/s} from ik_llama.cpp's llama-bench on the same file and threads."""
    cmd = [args.ik_bench, "-m", path, "-t", str(args.threads), "-p", str(args.n_prompt), "-n", str(args.n_gen),
           "-r", str(args.repetitions), "-o", "json", *args.ik_args.split()]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{args.ik_bench} failed on {path}:\n{out.stderr[-2000:]}")
    start = out.stdout.find("[")
    result = {}
    for row in json.loads(out.stdout[start:]):
        test = f"pp{row['n_prompt']}" if row["n_gen"] == 0 else f"tg{row['n_gen']}"
        result[test] = float(row["avg_ts"])
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-p", "--n-prompt", type=int, default=512)
    ap.add_argument("-n", "--n-gen", type=int, default=128)
    ap.add_argument("-r", "--repetitions", type=int, default=2, help="repetitions per runtime in each round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ik-bench", help="ik_llama.cpp's llama-bench binary")
    ap.add_argument("--ik-args", default="-rtr 1",
                    help="more llama-bench flags for ik_llama.cpp (default: its run-time repacking into "
                         "row-interleaved layouts, its fastest CPU setting)")
    ap.add_argument("--tier", help="PYGGML_CPU_TIER for pyggml (e.g. avxvnni); default: the best this CPU runs")
    ap.add_argument("--json", help="write the per-round figures here")
    args = ap.parse_args(argv)
    env = dict(os.environ)
    if args.tier:
        env["PYGGML_CPU_TIER"] = args.tier
    tests = [f"pp{args.n_prompt}", f"tg{args.n_gen}"]
    rounds: dict = {m: {} for m in args.models}
    for r in range(args.rounds):
        for path in args.models:
            got = run_pyggml(path, args, env)
            if args.ik_bench:
                got["ik_llama.cpp"] = run_ik(path, args)
            for backend, res in got.items():
                for test, v in res.items():
                    rounds[path].setdefault(backend, {}).setdefault(test, []).append(v)
            print(f"round {r + 1}: {os.path.basename(path)}: " + "; ".join(
                f"{b} " + " ".join(f"{t} {v:.1f}" for t, v in res.items()) for b, res in got.items()), flush=True)
    print()
    backends = ["pyggml", "llama.cpp"] + (["ik_llama.cpp"] if args.ik_bench else [])
    head = "| model | test | " + " | ".join(f"{b} t/s" for b in backends) + " | pyggml / llama.cpp |"
    if args.ik_bench:
        head += " ik_llama.cpp / llama.cpp | pyggml / ik_llama.cpp |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for path in args.models:
        for test in tests:
            med = {b: statistics.median(rounds[path][b][test]) for b in backends if test in rounds[path].get(b, {})}
            cells = [f"{med[b]:.1f}" if b in med else "-" for b in backends]
            ratio = lambda a, b: f"{med[a] / med[b]:.2f}" if a in med and b in med else "-"  # noqa: E731
            line = f"| {os.path.basename(path)} | {test} | " + " | ".join(cells) + f" | {ratio('pyggml', 'llama.cpp')} |"
            if args.ik_bench:
                line += f" {ratio('ik_llama.cpp', 'llama.cpp')} | {ratio('pyggml', 'ik_llama.cpp')} |"
            print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "tier": args.tier, "rounds": rounds}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
