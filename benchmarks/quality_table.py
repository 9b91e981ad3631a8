"""Quantization quality table: size, bits per weight, perplexity, KL divergence and same-top-token
rate of each quantization type, for pyggml's quantizer and (where llama-cpp-python is installed)
llama.cpp's, on the shipped evaluation text.

For each model the shipped Q4_K_M file is dequantized to F16; that file is the base. Each type is
then made from the base twice:
  pyggml     `pyggml quantize base.gguf out.gguf TYPE`, evaluated by pyggml against pyggml's
             base logits; the same file is also evaluated by llama.cpp (column "llama.cpp PPL"),
             which checks the two runtimes agree on one file;
  llama.cpp  llama_model_quantize(base, out, TYPE), evaluated by llama.cpp against llama.cpp's
             base logits.
Perplexity uses pyggml.text.corpus's chunking (llama.cpp's) for both runtimes.

With --imatrix FILE (an importance matrix of the one model named by --models, as `pyggml quantize
... --method imatrix --imatrix-out FILE` writes it) both quantizers take the same importance
vectors: pyggml through requantize(imatrix=...), llama.cpp through its params.imatrix entries. The
1- and 2-bit codebook presets (IQ2_XXS .. IQ1_M) need one, in both.

A preset the installed llama.cpp cannot write (NVFP4 in llama-cpp-python 0.3.36: its
llama_model_quantize refuses file type 39) gets pyggml's row only, with llama.cpp's evaluation of
the same file beside it.

Rows go to a JSON file as they finish (--resume skips rows already there), then to a Markdown
table and a plot of bits per weight against mean KLD, one curve per method.

    python3 benchmarks/quality_table.py                       # the README table (defaults)
    python3 benchmarks/quality_table.py --models gemma3-270m --types Q8_0,Q4_K_M --chunks 4
    python3 benchmarks/quality_table.py --models gemma3-270m --types IQ2_XXS,IQ1_M --imatrix gemma.imatrix.gguf \
        --json quality_iq.json --markdown quality_iq.md --plot ''
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pyggml.eval import kld as K  # noqa: E402
from pyggml.eval import perplexity as P  # noqa: E402
from pyggml.formats.gguf_file import GGUFFile  # noqa: E402
from pyggml.formats.imatrix import load_imatrix  # noqa: E402
from pyggml.models import resolve  # noqa: E402
from pyggml.quantization.requantize import RequantizeWarning, requantize  # noqa: E402
from pyggml.runtime.model import Model  # noqa: E402
from pyggml.text import corpus  # noqa: E402
from pyggml.text.tokenizer import Tokenizer  # noqa: E402

TYPES = ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "IQ4_NL", "Q3_K_M", "Q2_K"]
MODELS = ["gemma3-270m", "qwen2.5-coder-1.5b"]
# chunks of 512 scored per model by default: sized so the whole table stays under 45 minutes on
# the 2-core reference machine when it is not shared (an estimate from partial runs)
DEFAULT_CHUNKS = {"gemma3-270m": 8, "qwen2.5-coder-1.5b": 2}
TEXT = ROOT / "benchmarks" / "data" / "devils_dictionary_eval.txt"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ llama.cpp as a logit source

def llama_cpp_available() -> bool:
    try:
        import llama_cpp  # noqa: F401
    except Exception:
        return False
    return True


class LlamaCppSource:
    """Logits from llama.cpp through llama-cpp-python's C API: one sequence, an empty cache per
    chunk, logits requested only for the scored positions (as llama-perplexity does)."""

    def __init__(self, path, n_ctx: int, n_threads: int):
        import llama_cpp

        self.L = llama_cpp
        self.llm = llama_cpp.Llama(str(path), n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx, logits_all=False,
                                   verbose=False, n_threads=n_threads, n_threads_batch=n_threads)
        self.ctx = self.llm._ctx.ctx
        self.n_vocab = self.llm.n_vocab()
        self.batch = llama_cpp.llama_batch_init(n_ctx, 0, 1)

    def __call__(self, inputs: np.ndarray, first: int) -> np.ndarray:
        L, b = self.L, self.batch
        L.llama_memory_clear(L.llama_get_memory(self.ctx), True)
        n = len(inputs) - 1  # the last token's logits are never read
        b.n_tokens = n
        for i in range(n):
            b.token[i] = int(inputs[i])
            b.pos[i] = i
            b.n_seq_id[i] = 1
            b.seq_id[i][0] = 0
            b.logits[i] = 1 if i >= first else 0
        if L.llama_decode(self.ctx, b) != 0:
            raise RuntimeError("llama_decode failed")
        ptr = L.llama_get_logits(self.ctx)
        return np.ctypeslib.as_array(ptr, shape=(n - first, self.n_vocab)).copy()

    def close(self) -> None:
        self.L.llama_batch_free(self.batch)
        self.llm.close()


def llama_cpp_quantize(src: Path, dst: Path, qtype: str, n_threads: int, imatrix=None) -> None:
    """llama_model_quantize(src, dst) to the preset qtype; imatrix: {tensor name: weights} or None."""
    import ctypes

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{qtype}", None)
    if ftype is None:
        raise RuntimeError(f"llama.cpp has no file type {qtype}")
    params.ftype = ftype
    params.nthread = n_threads
    if imatrix is not None:  # a null-terminated array of (name, data, size)
        entries = (llama_cpp.llama_model_imatrix_data * (len(imatrix) + 1))()
        keep = [np.ascontiguousarray(w, dtype=np.float32) for w in imatrix.values()]
        for e, name, w in zip(entries, imatrix, keep):
            e.name, e.data, e.size = name.encode(), w.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), w.size
        params.imatrix = ctypes.cast(entries, ctypes.POINTER(llama_cpp.llama_model_imatrix_data))
    if llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params) != 0:
        raise RuntimeError(f"llama.cpp could not quantize {src} to {qtype}")


# ------------------------------------------------------------------ evaluation

def size_and_bpw(path: Path):
    """File size in MiB and bits per weight over every tensor (llama.cpp's 'BPW')."""
    with GGUFFile(path) as g:
        n_bytes = sum(t.n_bytes for t in g.tensors)
        n_el = sum(t.n_elements for t in g.tensors)
    return os.path.getsize(path) / 2**20, 8.0 * n_bytes / n_el


def evaluate_base(source, chunks, bos, n_vocab, top_k: int):
    """PPL of the base and its top-k logits."""
    stats = P.NllStats()

    def each(cs):
        stats.add(cs.nll)

    base = K.collect_base(P.score_chunks(source, chunks, bos, hook=K.base_hook(top_k)), chunks, n_vocab,
                          on_chunk=each)
    return stats, base


def evaluate_against(source, base: K.BaseLogits, bos) -> dict:
    ks = K.KldStats()
    for cs in P.score_chunks(source, base.tokens, bos, hook=K.compare_hook(base)):
        kld, same = cs.extra
        ks.add(cs.nll, base.nll[cs.index], kld, same)
    s = ks.summary()
    return {k: s[k] for k in ("ppl", "ppl_unc", "ppl_ratio", "kld", "kld_unc", "same_top", "count")} | {
        "kld_99": s["kld_percentiles"].get(99.0, 0.0)}


def pyggml_source(path, n_ctx, n_threads):
    return P.model_logit_source(Model.load(path, n_ctx=n_ctx, n_threads=n_threads or None))


class Results:
    """Rows in a JSON file, written after every row."""

    def __init__(self, path: Path, resume: bool):
        self.path = path
        self.rows = json.loads(path.read_text()) if resume and path.exists() else []

    def find(self, **key):
        return next((r for r in self.rows if all(r.get(k) == v for k, v in key.items())), None)

    def add(self, row: dict) -> None:
        self.rows = [r for r in self.rows if not all(r.get(k) == row[k] for k in ("model", "method", "type"))]
        self.rows.append(row)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.rows, indent=1))


def run_model(name: str, args, results: Results, use_llama: bool) -> None:
    src = resolve(name)
    work = Path(args.work_dir) / name
    work.mkdir(parents=True, exist_ok=True)
    base_path = work / "base-F16.gguf"
    if not base_path.exists():
        log(f"{name}: dequantizing {src.name} to F16")
        with warnings.catch_warnings():  # dequantizing the shipped file is the point here
            warnings.simplefilter("ignore", RequantizeWarning)
            requantize(str(src), str(base_path), "F16", n_threads=args.threads, progress=False)
    tok = Tokenizer.from_gguf(base_path)
    bos = corpus.bos_for_chunks(tok)
    tokens = corpus.tokenize_text(tok, corpus.read_text(TEXT))
    n_chunks = args.chunks or DEFAULT_CHUNKS.get(name, 4)
    chunks = corpus.make_chunks(tokens, args.ctx, n_chunks, source=str(TEXT))
    log(f"{name}: {len(tokens)} tokens, {chunks.shape[0]} chunks of {args.ctx}")
    imat = load_imatrix(args.imatrix) if args.imatrix else None
    imat_tag = {"imatrix": Path(args.imatrix).name} if args.imatrix else {}
    size, bpw = size_and_bpw(base_path)

    bases = {}
    methods = ["pyggml"] + (["llama.cpp"] if use_llama else [])
    for method in methods:
        cache = work / f"base-{method}.kld"
        t0 = time.perf_counter()
        if cache.exists() and args.resume:
            bases[method] = K.BaseLogits.load(cache)
            if bases[method].tokens.shape == chunks.shape and np.array_equal(bases[method].tokens, chunks):
                continue
        source = pyggml_source(base_path, args.ctx, args.threads) if method == "pyggml" else \
            LlamaCppSource(base_path, args.ctx, args.threads or os.cpu_count())
        stats, bases[method] = evaluate_base(source, chunks, bos, tok.n_vocab, args.top_k)
        bases[method].save(cache)
        dt = time.perf_counter() - t0
        log(f"{name}: base F16 under {method}: PPL {stats.ppl:.4f} ± {stats.ppl_uncertainty:.4f} ({dt:.0f} s)")
        results.add({"model": name, "method": method, "type": "F16", "size_mib": size, "bpw": bpw,
                     "ppl": stats.ppl, "ppl_unc": stats.ppl_uncertainty, "kld": 0.0, "same_top": 1.0,
                     "chunks": int(chunks.shape[0]), "seconds": dt})

    for qtype in args.types:
        if args.resume and _done(results, name, qtype, use_llama):
            continue
        files, t_quant, quantizers = {}, {}, list(methods)
        for method in methods:  # both files first: identical tensors make the cross-check free
            files[method] = work / f"{method}-{qtype}.gguf"
            t0 = time.perf_counter()
            if method == "pyggml":
                requantize(str(base_path), str(files[method]), qtype, imatrix=imat, n_threads=args.threads,
                           progress=False)
            else:
                try:
                    llama_cpp_quantize(base_path, files[method], qtype, args.threads or os.cpu_count(), imat)
                except RuntimeError as e:  # a preset this llama.cpp build cannot write: pyggml's file only
                    log(f"{name} {qtype}: {e}; llama.cpp evaluates pyggml's file only")
                    quantizers.remove(method)
                    files.pop(method).unlink(missing_ok=True)
                    continue
            t_quant[method] = time.perf_counter() - t0
        same = identical_tensors(files["pyggml"], files["llama.cpp"]) if "llama.cpp" in quantizers else None
        rows = {}
        for method in quantizers:
            t0 = time.perf_counter()
            size, bpw = size_and_bpw(files[method])
            source = pyggml_source(files[method], args.ctx, args.threads) if method == "pyggml" else \
                LlamaCppSource(files[method], args.ctx, args.threads or os.cpu_count())
            row = {"model": name, "method": method, "type": qtype, "size_mib": size, "bpw": bpw,
                   "chunks": int(chunks.shape[0]), "quantize_seconds": t_quant[method]} | imat_tag
            row |= evaluate_against(source, bases[method], bos)
            row["seconds"] = time.perf_counter() - t0 + t_quant[method]
            rows[method] = row
        if use_llama:
            ours = rows["pyggml"]
            if same:
                ours["identical_tensors"] = same
            n_same, n_all = map(int, same.split("/")) if same else (0, 1)
            if n_same == n_all:  # the same tensors: llama.cpp's numbers for its own file apply
                cross = rows["llama.cpp"]
            elif not args.no_cross_check:
                cross = evaluate_against(LlamaCppSource(files["pyggml"], args.ctx, args.threads or os.cpu_count()),
                                         bases["llama.cpp"], bos)
            else:
                cross = None
            if cross is not None:
                ours["llama_cpp_ppl"] = cross["ppl"]
                ours["llama_cpp_kld"] = cross["kld"]
        for method, row in rows.items():
            results.add(row)
            log(f"{name} {method} {qtype}: {row['size_mib']:.1f} MiB, {row['bpw']:.3f} bpw, PPL {row['ppl']:.4f}, "
                f"KLD {row['kld']:.5f}, same top {100 * row['same_top']:.2f}% ({row['seconds']:.0f} s)"
                + (f", tensors identical to llama.cpp's: {row['identical_tensors']}" if "identical_tensors" in row else ""))
        if not args.keep:
            for out in files.values():
                out.unlink()


def _done(results, name: str, qtype: str, use_llama: bool) -> bool:
    """Whether --resume may skip qtype: its rows are there (for a preset llama.cpp cannot write,
    pyggml's row with llama.cpp's figures for the same file)."""
    ours = results.find(model=name, method="pyggml", type=qtype)
    if ours is None or not use_llama:
        return ours is not None
    return results.find(model=name, method="llama.cpp", type=qtype) is not None or "llama_cpp_kld" in ours


def identical_tensors(a: Path, b: Path) -> str:
    """'k/n': how many of the tensors of file a have the same type and bytes in file b."""
    with GGUFFile(a) as fa, GGUFFile(b) as fb:
        same = 0
        for t in fa.tensors:
            if t.name in fb and fb.tensor(t.name).type == t.type and np.array_equal(fa.raw(t.name), fb.raw(t.name)):
                same += 1
        return f"{same}/{len(fa.tensors)}"


# ------------------------------------------------------------------ reporting

def markdown(rows: list) -> str:
    lines = []
    for name in _models(rows):
        mrows = [r for r in rows if r["model"] == name]
        chunks = mrows[0]["chunks"]
        lines += [f"**{name}** ({chunks} chunks of 512, {chunks * 255} scored tokens; base: F16)", ""]
        has_llama = any(r["method"] == "llama.cpp" for r in mrows)
        head = "| type | size MiB | bpw | PPL | KLD | same top % |"
        sep = "|---|---:|---:|---:|---:|---:|"
        if has_llama:
            head += (" identical | PPL, same file in llama.cpp |"
                     " llama.cpp quantizer: size MiB | bpw | PPL | KLD | same top % |")
            sep += "---:|---:|---:|---:|---:|---:|---:|"
        lines += [head, sep]
        for qtype in ["F16"] + TYPES + [t for t in dict.fromkeys(r["type"] for r in mrows) if t not in TYPES + ["F16"]]:
            ours = next((r for r in mrows if r["method"] == "pyggml" and r["type"] == qtype), None)
            theirs = next((r for r in mrows if r["method"] == "llama.cpp" and r["type"] == qtype), None)
            if ours is None and theirs is None:
                continue
            cells = [qtype]
            cells += _cells(ours)
            if has_llama:
                cells.append(ours.get("identical_tensors", "–") if ours else "–")
                cells.append(f"{ours['llama_cpp_ppl']:.4f}" if ours and "llama_cpp_ppl" in ours else
                             (f"{theirs['ppl']:.4f}" if theirs and qtype == "F16" else "–"))
                cells += _cells(theirs)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _models(rows: list) -> list:
    """Model names in the rows, the known ones in MODELS order."""
    names = list(dict.fromkeys(r["model"] for r in rows))
    return sorted(names, key=lambda n: (MODELS.index(n) if n in MODELS else len(MODELS), names.index(n)))


def _cells(r) -> list:
    if r is None:
        return ["–"] * 5
    return [f"{r['size_mib']:.1f}", f"{r['bpw']:.3f}", f"{r['ppl']:.4f} ± {r['ppl_unc']:.3f}",
            f"{r['kld']:.5f}", f"{100 * r['same_top']:.2f}"]


def plot(rows: list, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = _models([r for r in rows if r["type"] != "F16"])
    if not models:
        return
    fig, axes = plt.subplots(1, len(models), figsize=(6 * len(models), 4.5), squeeze=False)
    for ax, name in zip(axes[0], models):
        for method, style, marker in (("pyggml", "o-", dict(markersize=9, markerfacecolor="none")),
                                      ("llama.cpp", "s--", dict(markersize=4))):
            pts = sorted((r["bpw"], r["kld"], r["type"]) for r in rows
                         if r["model"] == name and r["method"] == method and r["type"] != "F16")
            if not pts:
                continue
            x, y, labels = zip(*pts)
            ax.plot(x, y, style, label=method, **marker)
            if method == "pyggml":
                for xi, yi, t in pts:
                    ax.annotate(t, (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_yscale("log")
        ax.set_xlabel("bits per weight")
        ax.set_ylabel("mean KL divergence vs F16 (log)")
        ax.set_title(name)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--chunks", type=int, default=0, help="chunks per model (default: per-model defaults)")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--top-k", type=int, default=K.DEFAULT_TOP_K)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--work-dir", default=str(Path.home() / ".cache" / "pyggml" / "quality"))
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "quality.json"))
    ap.add_argument("--markdown", default=str(ROOT / "benchmarks" / "results" / "quality.md"))
    ap.add_argument("--plot", default=str(ROOT / "docs" / "quality.png"), help="'' for none")
    ap.add_argument("--imatrix", help="importance matrix for both quantizers (one model only)")
    ap.add_argument("--no-llama-cpp", action="store_true", help="only pyggml's rows")
    ap.add_argument("--no-cross-check", action="store_true", help="skip llama.cpp's PPL of pyggml's files")
    ap.add_argument("--resume", action="store_true", help="keep rows already in --json")
    ap.add_argument("--keep", action="store_true", help="keep the quantized files")
    ap.add_argument("--report-only", action="store_true", help="only redraw the table and plot from --json")
    args = ap.parse_args(argv)
    args.types = [t.strip().upper() for t in args.types.split(",") if t.strip()]
    if args.imatrix and len([m for m in args.models.split(",") if m.strip()]) != 1:
        ap.error("--imatrix belongs to one model: name just that one with --models")
    results = Results(Path(args.json), resume=args.resume or args.report_only)
    if not args.report_only:
        use_llama = not args.no_llama_cpp and llama_cpp_available()
        if not use_llama:
            log("llama-cpp-python not available: pyggml rows only")
        t0 = time.perf_counter()
        for name in [m.strip() for m in args.models.split(",") if m.strip()]:
            run_model(name, args, results, use_llama)
        log(f"table done in {(time.perf_counter() - t0) / 60:.1f} min")
    Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
    Path(args.markdown).write_text(markdown(results.rows))
    if args.plot:
        plot(results.rows, Path(args.plot))
    print(markdown(results.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
