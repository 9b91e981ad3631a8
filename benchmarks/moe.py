"""Mixture-of-experts speed: a synthetic qwen3moe model (32 experts, 4 per token) against a
dense qwen3 model whose feed-forward has the same active size (n_ff = 4 x n_ff_exp), and both
against llama.cpp on the same files, pp512 and tg128, the four runs taking turns repetition by
repetition (pyggml.cli.bench) so that drift on a shared machine hits each alike.

The files (random weights, Q4_K_M-like: every matrix Q4_K) are written once under
~/.cache/pyggml/bench/. Prints the usual table, then tg(MoE) / tg(dense) for each runtime
(1.0: the experts cost what the same active parameters cost densely) and pyggml / llama.cpp.

    python3 benchmarks/moe.py [--threads N] [--repetitions R] [--all-archs]

--all-archs adds a synthetic smollm3, mistral3, phi3, Mixtral (8 experts, 2 per token) and
gpt-oss (32 experts, 4 per token, MXFP4 experts and Q8_0 elsewhere as llama.cpp's MXFP4_MOE
writes it) of the same size, each timed beside llama.cpp.
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

CACHE = os.path.expanduser("~/.cache/pyggml/bench")
SHAPE = dict(n_layer=8, n_embd=1024, n_head=16, n_head_kv=4, head_dim=64, tie_output=True)
MODELS = {
    "moe-32x4": ("qwen3moe", dict(SHAPE, n_expert=32, n_expert_used=4, n_ff_exp=512, n_ff=2048)),
    "dense": ("qwen3", dict(SHAPE, n_ff=2048)),
}
# --all-archs: one synthetic model of each other newer architecture, the same size
OTHER_ARCHS = {
    "smollm3": ("smollm3", dict(SHAPE, n_ff=2048)),
    "mistral3": ("mistral3", dict(SHAPE, n_ff=2048, temperature_floor=64)),
    "phi3": ("phi3", dict(SHAPE, n_ff=2048, n_rot=48, n_ctx_orig=256)),
    "mixtral-8x2": ("mixtral", dict(SHAPE, n_expert=8, n_expert_used=2, n_ff=1024)),
    # gpt-oss as released: MXFP4 experts, the other matrices Q8_0 (MXFP4_MOE), sinks, window 128, YaRN
    "gpt-oss-32x4": ("gpt-oss", dict(SHAPE, n_expert=32, n_expert_used=4, n_ff_exp=512, n_ff=512, sliding_window=128,
                                     expert_wtype="MXFP4", wtype="Q8_0", tie_output=False)),
}


def model_path(name: str) -> str:
    from support.synthetic_models import make_model

    arch, hp = {**MODELS, **OTHER_ARCHS}[name]
    hp = dict(hp)
    wtype = hp.pop("wtype", "Q4_K")
    path = os.path.join(CACHE, f"synthetic-{name}-{wtype.lower()}.gguf")
    if not os.path.exists(path):
        os.makedirs(CACHE, exist_ok=True)
        make_model(arch, path + ".part", wtype=wtype, seed=0, **hp)
        os.replace(path + ".part", path)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-t", "--threads", type=int, default=0)
    ap.add_argument("-r", "--repetitions", type=int, default=3)
    ap.add_argument("-p", "--n-prompt", type=int, default=512)
    ap.add_argument("-n", "--n-gen", type=int, default=128)
    ap.add_argument("--all-archs", action="store_true", help="also smollm3, mistral3, phi3, mixtral and gpt-oss models")
    ap.add_argument("--only", nargs="*", default=None, help="time only these models (names as in MODELS / OTHER_ARCHS)")
    args = ap.parse_args()
    names = list(MODELS) + (list(OTHER_ARCHS) if args.all_archs else [])
    if args.only:
        names = [n for n in {**MODELS, **OTHER_ARCHS} if n in args.only]
    from pyggml.cli.bench import _stats, _time_tests, llama_cpp_backend, pyggml_backend

    backends, keep = [], []
    for name in names:
        path = model_path(name)
        n_ctx = max(args.n_prompt, args.n_gen, 16)
        m, ours = pyggml_backend(path, n_ctx, args.threads, 512)
        ours.name = f"pyggml {name}"
        theirs = llama_cpp_backend(path, n_ctx, m.n_threads, 512)
        keep.append(m)
        backends.append(ours)
        if theirs is not None:
            theirs.name = f"llama.cpp {name}"
            backends.append(theirs)
    _time_tests(backends, args.n_prompt, args.n_gen, args.repetitions)
    rate = {}
    for b in backends:
        for test, rates in b.results.items():
            mean, sd = _stats(rates)
            rate[(b.name, test)] = mean
            print(f"| {b.name:<20} | {test:>6} | {mean:9.2f} ± {sd:6.2f} t/s |")
    tg, pp = f"tg{args.n_gen}", f"pp{args.n_prompt}"
    for runtime in ("pyggml", "llama.cpp"):
        if (f"{runtime} dense", tg) in rate and (f"{runtime} moe-32x4", tg) in rate:
            print(f"{runtime}: {tg} moe / dense = {rate[(f'{runtime} moe-32x4', tg)] / rate[(f'{runtime} dense', tg)]:.3f}, "
                  f"{pp} moe / dense = {rate[(f'{runtime} moe-32x4', pp)] / rate[(f'{runtime} dense', pp)]:.3f}")
    for name in names:
        if (f"llama.cpp {name}", tg) in rate:
            print(f"{name}: pyggml / llama.cpp  {tg} {rate[(f'pyggml {name}', tg)] / rate[(f'llama.cpp {name}', tg)]:.3f}, "
                  f"{pp} {rate[(f'pyggml {name}', pp)] / rate[(f'llama.cpp {name}', pp)]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
