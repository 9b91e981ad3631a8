"""The load-time weight formats (Model.load(weight_format=...), -wf) beside GGUF's Q8_0 and Q4_0 on
one model: bits per weight of the blocks' matrices, perplexity, KL divergence and same-top rate
against the F16 base, and prompt / generation speed.

The base is the shipped Q4_K_M file dequantized to F16 (benchmarks/quality_table.py's), so every
figure is against the dequantized Q4_K_M, not an original F16. Q8_0 and Q4_0 are files
re-quantized from that base (`pyggml quantize base.gguf out.gguf TYPE`); the -wf formats load the
base with weight_format=. Their output head stays F16 as the base's (bitsandbytes leaves lm_head
in 16 bits); Q8_0 / Q4_0 quantize it as llama.cpp's presets do.

Speed: pp (one eval of --pp tokens) and tg (--tg single-token evals), every method loaded at
once and taking turns round by round (--rounds), the median of each; the machine may be shared,
so the ratios of one run are what to read.

    python3 benchmarks/weight_formats.py                         # gemma3-270m, the README table
    python3 benchmarks/weight_formats.py --chunks 2 --rounds 1   # quicker
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import quality_table as Q  # noqa: E402

from pyggml.eval import perplexity as P  # noqa: E402
from pyggml.formats.gguf_file import GGUFFile  # noqa: E402
from pyggml.models import resolve  # noqa: E402
from pyggml.quantization.requantize import RequantizeWarning, requantize  # noqa: E402
from pyggml.runtime.model import Model  # noqa: E402
from pyggml.runtime.weight_format import converts  # noqa: E402
from pyggml.text import corpus  # noqa: E402
from pyggml.text.tokenizer import Tokenizer  # noqa: E402

FILE_TYPES = ["Q8_0", "Q4_0"]
FORMATS = ["int8-absmax:row", "int8-absmax:tensor", "int8-absmax:block64", "int8-zeropoint:row",
           "int8-zeropoint:block64", "llm.int8", "nf4", "nf4:nodq", "fp4", "fp4:nodq"]


def matrix_bpw(path) -> float:
    """Bits per weight of the blocks' matrices as the file stores them."""
    with GGUFFile(path) as g:
        ts = [t for t in g.tensors if converts(t.name, tuple(int(n) for n in t.ne))]
        return 8.0 * sum(t.n_bytes for t in ts) / sum(t.n_elements for t in ts)


def speed(models: dict, n_pp: int, n_tg: int, rounds: int, vocab: int) -> dict:
    rng = np.random.default_rng(0)
    prompt = [int(t) for t in rng.integers(10, vocab, n_pp)]
    times = {name: {"pp": [], "tg": []} for name in models}
    for r in range(rounds):
        order = list(models) if r % 2 == 0 else list(reversed(models))  # alternate who goes first
        for name in order:
            m = models[name]
            m.reset()
            t0 = time.perf_counter()
            m.eval(prompt)
            times[name]["pp"].append(n_pp / (time.perf_counter() - t0))
            m.reset()
            t0 = time.perf_counter()
            for t in prompt[:n_tg]:
                m.eval([t])
            times[name]["tg"].append(n_tg / (time.perf_counter() - t0))
    return {name: {k: statistics.median(v) for k, v in d.items()} for name, d in times.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--chunks", type=int, default=4)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--pp", type=int, default=128)
    ap.add_argument("--tg", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work-dir", default=str(Path.home() / ".cache" / "pyggml" / "quality"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "weight_formats.json"))
    args = ap.parse_args(argv)

    work = Path(args.work_dir) / args.model
    work.mkdir(parents=True, exist_ok=True)
    base = work / "base-F16.gguf"
    if not base.exists():
        Q.log(f"dequantizing {resolve(args.model).name} to F16")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RequantizeWarning)
            requantize(str(resolve(args.model)), str(base), "F16", n_threads=args.threads, progress=False)
    files = {}
    for qtype in FILE_TYPES:
        files[qtype] = work / f"pyggml-{qtype}.gguf"
        if not files[qtype].exists():
            requantize(str(base), str(files[qtype]), qtype, n_threads=args.threads, progress=False)
    tok = Tokenizer.from_gguf(base)
    bos = corpus.bos_for_chunks(tok)
    chunks = corpus.make_chunks(corpus.tokenize_text(tok, corpus.read_text(Q.TEXT)), args.ctx, args.chunks,
                                source=str(Q.TEXT))
    threads = args.threads or None
    models = {"F16": Model.load(base, n_ctx=args.ctx, n_threads=threads)}
    for qtype, path in files.items():
        models[qtype] = Model.load(path, n_ctx=args.ctx, n_threads=threads)
    for fmt in FORMATS:
        t0 = time.perf_counter()
        models[fmt] = Model.load(base, n_ctx=args.ctx, n_threads=threads, weight_format=fmt)
        Q.log(f"{fmt}: converted at load in {time.perf_counter() - t0:.1f} s")

    base_stats, base_logits = Q.evaluate_base(P.model_logit_source(models["F16"]), chunks, bos, tok.n_vocab,
                                              Q.K.DEFAULT_TOP_K)
    rows = [{"method": "F16 (base)", "bpw": matrix_bpw(base), "ppl": base_stats.ppl, "kld": 0.0, "same_top": 1.0}]
    for name, m in models.items():
        if name == "F16":
            continue
        r = Q.evaluate_against(P.model_logit_source(m), base_logits, bos)
        report = m.weight_format_report()
        bpw = report["bits_per_weight"] if report else matrix_bpw(files[name])
        rows.append({"method": name if report else f"{name} (GGUF)", "bpw": bpw, "ppl": r["ppl"], "kld": r["kld"],
                     "kld_unc": r["kld_unc"], "same_top": r["same_top"]})
        Q.log(f"{name}: {bpw:.3f} bpw, PPL {r['ppl']:.4f}, KLD {r['kld']:.5f}, same top {100 * r['same_top']:.2f}%")
    if "llm.int8" in models:
        models["llm.int8"].reset()
        counts = models["llm.int8"].int8_outliers(chunks[0][: args.ctx // 2].tolist())
        per_site = [sum(c[s] for c in counts.values()) / len(counts) for s in range(4)]
        Q.log(f"llm.int8 outlier features per layer (first chunk's first half), by site: {per_site}")
        rows[[r["method"] for r in rows].index("llm.int8")]["outliers_per_layer_by_site"] = per_site
    speeds = speed(models, args.pp, args.tg, args.rounds, tok.n_vocab)
    for row in rows:
        key = row["method"].split(" ")[0]
        row |= {f"{k}_tps": v for k, v in speeds[key].items()}
    Path(args.out).write_text(json.dumps({"model": args.model, "chunks": int(chunks.shape[0]), "ctx": args.ctx,
                                          "rows": rows}, indent=1))
    print("| method | bpw (block matrices) | PPL | KLD | same top | pp t/s | tg t/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['method']} | {r['bpw']:.3f} | {r['ppl']:.4f} | {r['kld']:.5f} | {100 * r['same_top']:.2f}% | "
              f"{r['pp_tps']:.1f} | {r['tg_tps']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
