"""Calibrated quantization table: round-to-nearest vs importance matrix vs GPTQ vs AWQ.

For each model the shipped Q4_K_M file is dequantized to F16 (the base, shared with
quality_table.py's work directory). Every (type, method) file is made from the base with
pyggml.quantization.methods.quantize_many, which calibrates once on the shipped calibration text
(pyggml/data/devils_dictionary_calib.txt, The Devil's Dictionary G-Z) and shares the passes
between methods and types. Each file is then scored on the held-out evaluation text
(benchmarks/data/devils_dictionary_eval.txt, A-F): perplexity and mean KL divergence against
the base's logits, with pyggml.text.corpus's chunking (llama.cpp's). With llama-cpp-python
installed, each file is also loaded and scored by llama.cpp on the first chunk (the column
"llama.cpp PPL 1st chunk", next to pyggml's on the same chunk), which checks that llama.cpp runs it.

Time per file: the calibration stages it needs (one pass for the importance matrix and AWQ's
samples; the Hessian passes and factorizations for GPTQ) plus its own quantization and writing;
what a standalone `pyggml quantize --method ...` run would take, apart from load time.

    python3 benchmarks/calibrated_table.py                       # the README table
    python3 benchmarks/calibrated_table.py --models gemma3-270m --types Q4_0 --methods rtn,gptq
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import quality_table as Q  # noqa: E402

from pyggml.eval import kld as K  # noqa: E402
from pyggml.eval import perplexity as P  # noqa: E402
from pyggml.models import resolve  # noqa: E402
from pyggml.quantization.methods import Job, quantize_many  # noqa: E402
from pyggml.quantization.requantize import RequantizeWarning, requantize  # noqa: E402
from pyggml.text import corpus  # noqa: E402
from pyggml.text.tokenizer import Tokenizer  # noqa: E402

TYPES = ["Q4_0", "Q3_K_M", "Q2_K"]
METHODS = ["rtn", "imatrix", "gptq", "gptq+imatrix", "awq"]
DEFAULT_CHUNKS = {"gemma3-270m": 4, "qwen2.5-coder-1.5b": 2}
log = Q.log


def llama_cpp_first_chunk(path: Path, chunks: np.ndarray, bos, n_ctx: int, n_threads: int) -> float:
    """llama.cpp's perplexity of the file on the first evaluation chunk."""
    src = Q.LlamaCppSource(path, n_ctx, n_threads or os.cpu_count())
    try:
        stats = P.NllStats()
        for cs in P.score_chunks(src, chunks[:1], bos):
            stats.add(cs.nll)
        return stats.ppl
    finally:
        src.close()


def run_model(name: str, args, results: Q.Results, use_llama: bool) -> None:
    work = Path(args.work_dir) / name
    work.mkdir(parents=True, exist_ok=True)
    base_path = work / "base-F16.gguf"
    if not base_path.exists():
        log(f"{name}: dequantizing the shipped file to F16")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RequantizeWarning)
            requantize(str(resolve(name)), str(base_path), "F16", n_threads=args.threads, progress=False)
    tok = Tokenizer.from_gguf(base_path)
    bos = corpus.bos_for_chunks(tok)
    tokens = corpus.tokenize_text(tok, corpus.read_text(Q.TEXT))
    chunks = corpus.make_chunks(tokens, args.ctx, args.chunks or DEFAULT_CHUNKS.get(name, 4), source=str(Q.TEXT))
    cache = work / "base-pyggml.kld"
    base = K.BaseLogits.load(cache) if cache.exists() else None
    if base is None or base.tokens.shape != chunks.shape or not np.array_equal(base.tokens, chunks):
        log(f"{name}: base logits over {chunks.shape[0]} chunks")
        stats, base = Q.evaluate_base(Q.pyggml_source(base_path, args.ctx, args.threads), chunks, bos, tok.n_vocab,
                                      args.top_k)
        base.save(cache)
        results.add({"model": name, "method": "base", "type": "F16", "ppl": stats.ppl,
                     "ppl_unc": stats.ppl_uncertainty, "kld": 0.0, "chunks": int(chunks.shape[0])})

    todo = [(t, m) for t in args.types for m in args.methods
            if not (args.resume and results.find(model=name, method=m, type=t))]
    if not todo:
        return
    jobs = [Job(work / f"{m.replace('+', '-')}-{t}.gguf", t, m) for t, m in todo]
    log(f"{name}: quantizing {len(jobs)} files ({args.calib_chunks} x {args.ctx} calibration tokens)")
    t0 = time.perf_counter()
    reports = quantize_many(str(base_path), jobs, n_seq=args.calib_chunks, seq_len=args.ctx, n_threads=args.threads,
                            progress=not args.no_progress,
                            memory=int(args.hessian_memory * 2**30) if args.hessian_memory else None)
    log(f"{name}: quantized in {(time.perf_counter() - t0) / 60:.1f} min")
    for job, rep in zip(jobs, reports):
        t1 = time.perf_counter()
        size, bpw = Q.size_and_bpw(job.out_path)
        row = {"model": name, "method": job.method, "type": job.qtype, "size_mib": size, "bpw": bpw,
               "chunks": int(chunks.shape[0]), "calib_tokens": rep.n_tokens,
               "quantize_seconds": rep.seconds["total"], "stages": rep.seconds}
        row |= Q.evaluate_against(Q.pyggml_source(job.out_path, args.ctx, args.threads), base, bos)
        if use_llama:
            row["llama_cpp_ppl_chunk1"] = llama_cpp_first_chunk(job.out_path, chunks, bos, args.ctx, args.threads)
            stats = P.NllStats()
            for cs in P.score_chunks(Q.pyggml_source(job.out_path, args.ctx, args.threads), chunks[:1], bos):
                stats.add(cs.nll)
            row["pyggml_ppl_chunk1"] = stats.ppl
        row["eval_seconds"] = time.perf_counter() - t1
        results.add(row)
        log(f"{name} {job.qtype} {job.method}: {bpw:.3f} bpw, PPL {row['ppl']:.4f}, KLD {row['kld']:.5f}, "
            f"quantize {rep.seconds['total']:.0f} s" +
            (f", chunk 1 PPL pyggml {row['pyggml_ppl_chunk1']:.3f} / llama.cpp {row['llama_cpp_ppl_chunk1']:.3f}"
             if use_llama else ""))
        if not args.keep:
            Path(job.out_path).unlink()


def markdown(rows: list) -> str:
    lines = []
    for name in Q._models(rows):
        mrows = [r for r in rows if r["model"] == name]
        base = next((r for r in mrows if r["method"] == "base"), None)
        some = max((r for r in mrows if r["method"] != "base"), key=lambda r: r.get("calib_tokens", 0), default=None)
        if some is None:
            continue
        lines += [f"**{name}**: base F16 PPL {base['ppl']:.4f}" if base else f"**{name}**",
                  f"({some['chunks']} chunks of 512 of the evaluation text; calibration "
                  f"{some.get('calib_tokens', 0)} tokens of the calibration text)", ""]
        llama = any("llama_cpp_ppl_chunk1" in r for r in mrows)
        head = "| type | method | bpw | PPL | ΔPPL vs RTN | KLD | KLD vs RTN | same top % | quantize s |"
        sep = "|---|---|---:|---:|---:|---:|---:|---:|---:|"
        if llama:
            head += " chunk 1 PPL: pyggml / llama.cpp |"
            sep += "---:|"
        lines += [head, sep]
        for qtype in TYPES + sorted({r["type"] for r in mrows} - set(TYPES) - {"F16"}):
            rtn = next((r for r in mrows if r["type"] == qtype and r["method"] == "rtn"), None)
            for method in METHODS + sorted({r["method"] for r in mrows} - set(METHODS) - {"base"}):
                r = next((x for x in mrows if x["type"] == qtype and x["method"] == method), None)
                if r is None:
                    continue
                dppl = f"{r['ppl'] - rtn['ppl']:+.3f}" if rtn and method != "rtn" else ""
                dkld = f"{100 * (r['kld'] / rtn['kld'] - 1):+.0f}%" if rtn and method != "rtn" and rtn["kld"] else ""
                cells = [qtype, method, f"{r['bpw']:.3f}", f"{r['ppl']:.4f} ± {r['ppl_unc']:.3f}", dppl,
                         f"{r['kld']:.5f}", dkld, f"{100 * r['same_top']:.2f}", f"{r['quantize_seconds']:.0f}"]
                if llama:
                    cells.append(f"{r['pyggml_ppl_chunk1']:.3f} / {r['llama_cpp_ppl_chunk1']:.3f}"
                                 if "llama_cpp_ppl_chunk1" in r else "–")
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(Q.MODELS))
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--chunks", type=int, default=0, help="evaluation chunks per model (default: per-model)")
    ap.add_argument("--calib-chunks", type=int, default=16, help="calibration sequences (default 16)")
    ap.add_argument("--hessian-memory", type=float, default=0, help="GiB for GPTQ's Hessians at once "
                    "(default: half of the available memory)")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--top-k", type=int, default=K.DEFAULT_TOP_K)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--work-dir", default=str(Path.home() / ".cache" / "pyggml" / "quality"))
    ap.add_argument("--json", default=str(HERE / "results" / "calibrated.json"))
    ap.add_argument("--markdown", default=str(HERE / "results" / "calibrated.md"))
    ap.add_argument("--no-llama-cpp", action="store_true")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--resume", action="store_true", help="keep rows already in --json")
    ap.add_argument("--keep", action="store_true", help="keep the quantized files")
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args(argv)
    args.types = [t.strip().upper() for t in args.types.split(",") if t.strip()]
    args.methods = [m.strip().lower() for m in args.methods.split(",") if m.strip()]
    results = Q.Results(Path(args.json), resume=args.resume or args.report_only)
    if not args.report_only:
        use_llama = not args.no_llama_cpp and Q.llama_cpp_available()
        t0 = time.perf_counter()
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            run_model(name, args, results, use_llama)
        log(f"table done in {(time.perf_counter() - t0) / 60:.1f} min")
    Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
    Path(args.markdown).write_text(markdown(results.rows))
    print(markdown(results.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
