"""One table of the quantization methods on the real models: every method at its bits per weight,
with perplexity, KL divergence and same-top rate against the F16 base, prompt and generation
speed and resident memory; the load-time weight formats (Model.load(weight_format=...), -wf)
beside the GGUF types of similar size, with and without calibration.

The base is the shipped Q4_K_M file dequantized to F16 (benchmarks/quality_table.py's, in its
work directory), so every figure is against the dequantized Q4_K_M, not an original F16. The
methods of each model:

  GGUF types (--types)     `pyggml quantize base.gguf out.gguf TYPE`: round to nearest, llama.cpp's
                           presets (their output head and embedding quantized as the preset says);
  + imatrix (--imatrix-types)  the same with the importance matrix of the shipped calibration text
                           (--calib-chunks x --ctx tokens; pyggml.quantization.methods.quantize_many);
  + GPTQ, + AWQ at Q4_0    rows of benchmarks/results/calibrated.json (calibrated_table.py) reused
                           for their quality where that file scored the same model on the same
                           chunks against the same base; their files hold the RTN Q4_0 file's tensor
                           types, so that file's speed and memory are theirs (marked "= Q4_0").
                           --measure-calibrated makes and measures them here instead (GPTQ on
                           Qwen2.5 1.5B: about 15 minutes on 2 cores);
  -wf formats (--formats)  the base loaded with weight_format=; the output head stays F16;
  extra result files (--extra; benchmarks/results/measure*.json, those present): rows other
                           scripts wrote, shown as methods of their own (merge_extra).

Columns:
  bpw       bits per weight of the blocks' matrices as held (scales included): the tensors -wf
            converts. The embedding and output head are outside it (F16 under -wf, the preset's
            types in the GGUF files): the RSS column holds everything;
  PPL, KLD, same top   quality_table's evaluation over --chunks chunks of 512 tokens of the
            held-out text (the second half of each chunk scored);
  pp, tg    tokens/s of one eval of --pp tokens and of --tg single-token evals, the median of
            --rounds rounds in which the method and a Q8_0 reference loaded throughout take turns;
            "tg / Q8_0" is the ratio of the two over the same rounds (the machine may be shared:
            read the ratios; "pp / Q8_0" likewise). The Q8_0 row against the reference (a second
            copy) shows the noise;
  RSS       growth of the process's VmRSS (/proc/self/status) from before the load (malloc_trim
            first) to after the load and a 16-token eval: the weights as the model holds them
            (repacked copies, converted formats) plus its KV cache (n_ctx 512, F16) and buffers.

Rows go to --json as they finish (--resume keeps those there), then to a Markdown table
(--markdown) and a plot of KLD against bits per weight, one marker per method family (--plot;
matplotlib, of the `bench` extra).

    python3 benchmarks/weight_formats.py                                # the README table, both models
    python3 benchmarks/weight_formats.py --models gemma3-270m --formats nf4,llm.int8 --imatrix-types ''
    python3 benchmarks/weight_formats.py --report-only                  # redraw table and plot
"""

from __future__ import annotations

import argparse
import ctypes
import gc
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

from pyggml.eval import kld as K  # noqa: E402
from pyggml.eval import perplexity as P  # noqa: E402
from pyggml.formats.gguf_file import GGUFFile  # noqa: E402
from pyggml.models import resolve  # noqa: E402
from pyggml.quantization.methods import Job, quantize_many  # noqa: E402
from pyggml.quantization.requantize import RequantizeWarning, requantize  # noqa: E402
from pyggml.runtime.model import Model  # noqa: E402
from pyggml.runtime.weight_format import converts  # noqa: E402
from pyggml.text import corpus  # noqa: E402
from pyggml.text.tokenizer import Tokenizer  # noqa: E402

MODELS = Q.MODELS
DEFAULT_CHUNKS = {"gemma3-270m": 4, "qwen2.5-coder-1.5b": 2}  # as calibrated_table.py's
DEFAULT_ROUNDS = {"gemma3-270m": 3, "qwen2.5-coder-1.5b": 1}
REFERENCE = "Q8_0"
FILE_TYPES = ["Q8_0", "Q4_K_M", "IQ4_NL", "Q4_0"]
IMATRIX_TYPES = ["IQ4_NL", "Q4_0"]
CALIBRATED_TYPE = "Q4_0"
CALIBRATED = {"imatrix": "imatrix", "gptq": "GPTQ", "awq": "AWQ"}  # method -> label
FORMATS = ["int8-absmax:row", "int8-absmax:tensor", "int8-absmax:block64", "int8-zeropoint:row",
           "int8-zeropoint:tensor", "int8-zeropoint:block64", "llm.int8", "nf4", "nf4:nodq", "fp4", "fp4:nodq"]
RESULTS = ROOT / "benchmarks" / "results"  # measure*.json there: rows of measure_table.py, when present

# the plot's families: (marker, colour); others (extra files) take the next of EXTRA_STYLES
FAMILIES = {
    "GGUF (round to nearest)": ("o", "tab:blue"),
    "GGUF + imatrix": ("s", "tab:cyan"),
    "GGUF + GPTQ": ("D", "tab:olive"),
    "GGUF + AWQ": ("^", "tab:brown"),
    "int8 absmax / zeropoint": ("x", "tab:orange"),
    "LLM.int8()": ("*", "tab:red"),
    "NF4": ("P", "tab:green"),
    "FP4": ("v", "tab:purple"),
}
EXTRA_STYLES = [("h", "tab:pink"), ("p", "tab:gray"), ("<", "black"), (">", "gold")]
log = Q.log


def family(method: str) -> str:
    """The plot family of a method of this script's table ("Q4_0 + AWQ", "nf4:nodq", ...)."""
    if method.startswith("int8-"):
        return "int8 absmax / zeropoint"
    if method == "llm.int8":
        return "LLM.int8()"
    if method.startswith(("nf4", "fp4")):
        return method[:3].upper()
    if " + " in method:
        return "GGUF + " + method.split(" + ", 1)[1]
    return "GGUF (round to nearest)"


def matrix_bpw(path) -> float:
    """Bits per weight of the blocks' matrices (those -wf converts) as the file stores them."""
    with GGUFFile(path) as g:
        ts = [t for t in g.tensors if converts(t.name, tuple(int(n) for n in t.ne))]
        return 8.0 * sum(t.n_bytes for t in ts) / sum(t.n_elements for t in ts)


# ------------------------------------------------------------------ memory and speed

def rss_bytes() -> "int | None":
    """This process's resident set (VmRSS), or None where /proc/self/status does not say."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def trim() -> None:
    """Free what the last model left: garbage, and the allocator's free pages (glibc)."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass


def load(path, args, weight_format=None):
    """(model, RSS growth in MiB or None, load seconds): the load and a 16-token eval."""
    trim()
    before = rss_bytes()
    t0 = time.perf_counter()
    m = Model.load(path, n_ctx=args.ctx, n_threads=args.threads or None, weight_format=weight_format)
    seconds = time.perf_counter() - t0
    m.eval(list(range(10, 26)))
    m.reset()
    after = rss_bytes()
    return m, (after - before) / 2**20 if before is not None and after is not None else None, seconds


def one_round(m, prompt: list, n_tg: int) -> tuple:
    m.reset()
    t0 = time.perf_counter()
    m.eval(prompt)
    pp = len(prompt) / (time.perf_counter() - t0)
    m.reset()
    t0 = time.perf_counter()
    for t in prompt[:n_tg]:
        m.eval([t])
    tg = n_tg / (time.perf_counter() - t0)
    m.reset()
    return pp, tg


def speed(m, ref, prompt: list, n_tg: int, rounds: int) -> dict:
    """pp/tg medians of the model and of the reference, taking turns (the first alternates)."""
    got = {"m": ([], []), "ref": ([], [])}
    for r in range(rounds):
        for key in (("m", "ref") if r % 2 == 0 else ("ref", "m")):
            pp, tg = one_round(m if key == "m" else ref, prompt, n_tg)
            got[key][0].append(pp)
            got[key][1].append(tg)
    med = {k: (statistics.median(pp), statistics.median(tg)) for k, (pp, tg) in got.items()}
    return {"pp_tps": med["m"][0], "tg_tps": med["m"][1], "ref_pp_tps": med["ref"][0], "ref_tg_tps": med["ref"][1]}


# ------------------------------------------------------------------ the methods of one model

def base_file(name: str, work: Path, threads: int) -> Path:
    base = work / "base-F16.gguf"
    if not base.exists():
        log(f"{name}: dequantizing {resolve(name).name} to F16")
        with warnings.catch_warnings():  # dequantizing the shipped file is the point here
            warnings.simplefilter("ignore", RequantizeWarning)
            requantize(str(resolve(name)), str(base), "F16", n_threads=threads, progress=False)
    return base


def make_files(base: Path, work: Path, args, calibrated: list) -> dict:
    """{method label: GGUF path}: the round-to-nearest types, then the calibrated ones (one
    calibration shared by all), each made unless its file is already there."""
    files = {}
    for qtype in args.types:
        files[qtype] = work / f"pyggml-{qtype}.gguf"
        if not files[qtype].exists():
            t0 = time.perf_counter()
            requantize(str(base), str(files[qtype]), qtype, n_threads=args.threads, progress=False)
            log(f"{base.parent.name}: {qtype} written in {time.perf_counter() - t0:.0f} s")
    jobs = [(qtype, "imatrix") for qtype in args.imatrix_types] + [(CALIBRATED_TYPE, m) for m in calibrated]
    todo = []
    for qtype, method in jobs:
        label = f"{qtype} + {CALIBRATED[method]}"
        files[label] = work / f"{method}-{qtype}.gguf"
        if not files[label].exists():
            todo.append(Job(files[label], qtype, method))
    if todo:
        t0 = time.perf_counter()
        quantize_many(str(base), todo, n_seq=args.calib_chunks, seq_len=args.ctx, n_threads=args.threads,
                      progress=False)
        log(f"{base.parent.name}: {len(todo)} calibrated files in {(time.perf_counter() - t0) / 60:.1f} min")
    return files


def run_model(name: str, args, results: Q.Results) -> list:
    """Measure the model's methods into results; returns the quantized files it used."""
    work = Path(args.work_dir) / name
    work.mkdir(parents=True, exist_ok=True)
    base = base_file(name, work, args.threads)
    tok = Tokenizer.from_gguf(base)
    bos = corpus.bos_for_chunks(tok)
    chunks = corpus.make_chunks(corpus.tokenize_text(tok, corpus.read_text(Q.TEXT)), args.ctx,
                                args.chunks or DEFAULT_CHUNKS.get(name, 4), source=str(Q.TEXT))
    n_chunks = int(chunks.shape[0])
    rounds = args.rounds or DEFAULT_ROUNDS.get(name, 1)
    reused = reusable_calibrated(name, n_chunks, Path(args.calibrated)) if not args.measure_calibrated else {}
    measured = [m for m in CALIBRATED if m != "imatrix" and m not in reused] if args.measure_calibrated else []
    files = make_files(base, work, args, measured)
    plan = [("F16 (base)", base, None)] + [(label, path, None) for label, path in files.items()] + \
           [(fmt, base, fmt) for fmt in args.formats]
    key = {"model": name, "chunks": n_chunks}
    done = {r["method"] for r in results.rows if r["model"] == name and r.get("chunks") == n_chunks}
    rng = np.random.default_rng(0)
    prompt = [int(t) for t in rng.integers(10, tok.n_vocab, args.pp)]
    ref = None
    if REFERENCE in files:
        ref, _, _ = load(files[REFERENCE], args)
    base_logits = None
    cache = work / "base-pyggml.kld"  # shared with quality_table.py and calibrated_table.py
    if args.resume and "F16 (base)" in done and cache.exists():
        cached = K.BaseLogits.load(cache)
        if cached.tokens.shape == chunks.shape and np.array_equal(cached.tokens, chunks):
            base_logits = cached
    for label, path, fmt in plan:
        if args.resume and label in done and base_logits is not None:
            continue
        m, rss, load_s = load(path, args, fmt)
        t0 = time.perf_counter()
        source = P.model_logit_source(m)
        if base_logits is None:  # the first row: every other is scored against its logits
            stats, base_logits = Q.evaluate_base(source, chunks, bos, tok.n_vocab, K.DEFAULT_TOP_K)
            base_logits.save(cache)
            quality = {"ppl": stats.ppl, "ppl_unc": stats.ppl_uncertainty, "kld": 0.0, "same_top": 1.0}
        else:
            quality = Q.evaluate_against(source, base_logits, bos)
        eval_s = time.perf_counter() - t0
        report = m.weight_format_report()
        row = key | {"method": label, "type": fmt or (path.stem.split("-", 1)[1] if label != "F16 (base)" else "F16"),
                     "family": "F16" if label == "F16 (base)" else family(label),
                     "bpw": report["bits_per_weight"] if report else matrix_bpw(path),
                     "rss_mib": rss, "load_seconds": load_s, "eval_seconds": eval_s, "rounds": rounds} | quality
        if fmt == "llm.int8":
            m.reset()
            counts = m.int8_outliers(chunks[0][: args.ctx // 2].tolist())
            row["outliers_per_layer_by_site"] = [sum(c[s] for c in counts.values()) / len(counts) for s in range(4)]
            row["features_by_site"] = outlier_widths(m)
        if ref is not None:
            row |= speed(m, ref, prompt, args.tg, rounds)
        del source, m
        results.add(row)
        log(f"{name} {label}: {row['bpw']:.3f} bpw, PPL {row['ppl']:.4f}, KLD {row['kld']:.5f}, "
            f"same top {100 * row['same_top']:.2f}%, RSS {fmt_num(rss, '.0f')} MiB, "
            f"tg {fmt_num(row.get('tg_tps'), '.1f')} t/s (Q8_0 {fmt_num(row.get('ref_tg_tps'), '.1f')}), "
            f"load {load_s:.0f} s, eval {eval_s:.0f} s")
    del ref
    trim()
    rtn = next((r for r in results.rows if r["model"] == name and r["method"] == CALIBRATED_TYPE
                and r.get("chunks") == n_chunks), None)
    for method, src in reused.items():
        label = f"{CALIBRATED_TYPE} + {CALIBRATED[method]}"
        if method == "imatrix" and CALIBRATED_TYPE in args.imatrix_types:
            ours = next((r for r in results.rows if r["model"] == name and r["method"] == label), None)
            if ours:
                log(f"{name} {label}: KLD here {ours['kld']:.5f}, in {Path(args.calibrated).name} {src['kld']:.5f}")
            continue
        if rtn is None:
            continue
        row = key | {"method": label, "type": CALIBRATED_TYPE, "family": family(label), "bpw": rtn["bpw"],
                     "source": Path(args.calibrated).name, "speed_from": CALIBRATED_TYPE}
        row |= {k: src[k] for k in ("ppl", "ppl_unc", "kld", "kld_unc", "same_top", "kld_99") if k in src}
        row |= {k: rtn[k] for k in ("rss_mib", "pp_tps", "tg_tps", "ref_pp_tps", "ref_tg_tps") if k in rtn}
        results.add(row)
    return list(files.values())


def outlier_widths(m) -> list:
    """The width of the inputs of the four llm.int8 sites (q/k/v, attention output, gate/up, down)."""
    hp = m.hparams
    return [hp["n_embd"], hp["n_head"] * hp["head_dim_v"], hp["n_embd"], hp["n_ff"]]


def reusable_calibrated(name: str, n_chunks: int, path: Path) -> dict:
    """{method: row} of calibrated_table.py's rows at CALIBRATED_TYPE for this model scored on the
    same chunks (that script's base and evaluation are this one's)."""
    if not path.exists():
        return {}
    rows = json.loads(path.read_text())
    return {r["method"]: r for r in rows if r.get("model") == name and r.get("type") == CALIBRATED_TYPE
            and r.get("method") in CALIBRATED and r.get("chunks") == n_chunks}


# ------------------------------------------------------------------ other scripts' rows

def merge_extra(rows: list, paths) -> list:
    """The table's rows followed by the rows of other result files (each a JSON list of rows, or
    {"rows": [...]}) for the models in the table. A row needs "model", "bpw" and "kld"; it may give
    "matrix_bpw" (the blocks' matrices' bits per weight, this table's x; without it "bpw" is taken
    and the label says so), "ppl", "same_top", "pp_tps", "tg_tps", "rss_mib", "chunks", and
    "method" / "type" / "label" for its name; its family is its "family" or the file's name. Rows
    scored on other chunks than the table's, or against another base ("base" other than
    "dequantized", the shipped Q4_K_M dequantized as here), are left out: their KLD measures
    another thing."""
    out = list(rows)
    chunks = {r["model"]: r.get("chunks") for r in rows if r.get("family") == "F16"}
    for path in paths:
        path = Path(path)
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        extra = data.get("rows", []) if isinstance(data, dict) else data
        kept = 0
        for r in extra:
            if not isinstance(r, dict) or not all(k in r for k in ("model", "bpw", "kld")):
                continue
            if r["model"] not in chunks or r.get("chunks", chunks[r["model"]]) != chunks[r["model"]] or r["kld"] <= 0 \
                    or r.get("base", "dequantized") != "dequantized":
                continue
            label = r.get("label") or " ".join(str(r[k]) for k in ("method", "type") if r.get(k)) or path.stem
            if "matrix_bpw" not in r:
                label += " (bpw: every tensor)"
            out.append(dict(r) | {"method": label, "family": r.get("family") or path.stem, "source": path.name,
                                  "bpw": r.get("matrix_bpw", r["bpw"])})
            kept += 1
        log(f"{path.name}: {kept} of {len(extra)} rows joined the table")
    return out


# ------------------------------------------------------------------ reporting

ORDER = ["F16 (base)", "Q8_0", "int8-absmax:row", "int8-absmax:tensor", "int8-absmax:block64", "int8-zeropoint:row",
         "int8-zeropoint:tensor", "int8-zeropoint:block64", "llm.int8", "Q4_K_M", "Q4_K_M + imatrix", "IQ4_NL",
         "IQ4_NL + imatrix", "Q4_0", "Q4_0 + imatrix", "Q4_0 + GPTQ", "Q4_0 + AWQ", "nf4", "nf4:nodq", "fp4",
         "fp4:nodq"]


def ordered(rows: list) -> list:
    out = []
    for name in Q._models(rows):
        mrows = [r for r in rows if r["model"] == name]
        out += sorted(mrows, key=lambda r: (ORDER.index(r["method"]) if r["method"] in ORDER else len(ORDER),
                                            -r["bpw"]))
    return out


def fmt_num(v, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def markdown(rows: list) -> str:
    lines = ["| model | method | bpw | PPL | KLD | same top % | pp t/s | tg t/s | pp / Q8_0 | tg / Q8_0 | RSS MiB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    short = {"gemma3-270m": "Gemma 3 270M", "qwen2.5-coder-1.5b": "Qwen2.5-Coder 1.5B"}
    for r in ordered(rows):
        same = " (= Q4_0)" if r.get("speed_from") else ""
        ratio = r["tg_tps"] / r["ref_tg_tps"] if r.get("tg_tps") and r.get("ref_tg_tps") else None
        pp_ratio = r["pp_tps"] / r["ref_pp_tps"] if r.get("pp_tps") and r.get("ref_pp_tps") else None
        note = " ¹" if r.get("source") == "calibrated.json" else (" ²" if r.get("source") else "")
        ppl = f"{r['ppl']:.3f}" + (f" ± {r['ppl_unc']:.2f}" if r.get("ppl_unc") else "") if "ppl" in r else "–"
        lines.append("| " + " | ".join([
            short.get(r["model"], r["model"]), f"{r['method']}{note}", f"{r['bpw']:.3f}", ppl, f"{r['kld']:.5f}",
            fmt_num(100 * r["same_top"] if "same_top" in r else None, ".1f"),
            fmt_num(r.get("pp_tps"), ".1f") + (same if r.get("pp_tps") else ""),
            fmt_num(r.get("tg_tps"), ".1f") + (same if r.get("tg_tps") else ""), fmt_num(pp_ratio, ".2f"),
            fmt_num(ratio, ".2f"),
            fmt_num(r.get("rss_mib"), ".0f") + (same if r.get("rss_mib") is not None else "")]) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list, path: Path) -> None:
    """KLD (log) against bits per weight, a panel per model, a marker and colour per family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["kld"] > 0]
    models = Q._models(rows)
    if not models:
        return
    styles = dict(FAMILIES)
    for fam in dict.fromkeys(r["family"] for r in rows):
        if fam not in styles:
            styles[fam] = EXTRA_STYLES[(len(styles) - len(FAMILIES)) % len(EXTRA_STYLES)]
    fig, axes = plt.subplots(1, len(models), figsize=(6.5 * len(models), 5), squeeze=False)
    for ax, name in zip(axes[0], models):
        for fam, (marker, colour) in styles.items():
            pts = [r for r in rows if r["model"] == name and r["family"] == fam]
            if not pts:
                continue
            ax.scatter([r["bpw"] for r in pts], [r["kld"] for r in pts], marker=marker, color=colour, s=55, label=fam,
                       zorder=3)
        ax.set_yscale("log")
        _labels(ax, [(r["bpw"], r["kld"], r["method"].removeprefix("int8-"), styles[r["family"]][1])
                     for r in rows if r["model"] == name])
        ax.set_xlabel("bits per weight of the blocks' matrices")
        ax.set_ylabel("mean KL divergence vs the F16 base (log)")
        ax.set_title(name)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _labels(ax, pts: list, fontsize: float = 6.5) -> None:
    """A label right of each point (x, y, text, colour), moved up or down past those placed."""
    ax.autoscale_view()
    px_per_pt = ax.figure.dpi / 72
    boxes = []  # the markers', then the labels'
    for x, y, _, _ in pts:
        px, py = ax.transData.transform((x, y))
        boxes.append((px - 4 * px_per_pt, py - 4 * px_per_pt, px + 4 * px_per_pt, py + 4 * px_per_pt))
    for x, y, text, colour in sorted(pts, key=lambda p: (p[0], -p[1])):
        px, py = ax.transData.transform((x, y))
        w, h = 0.6 * fontsize * len(text) * px_per_pt, fontsize * px_per_pt
        for dy in (-3, 6, -12, 15, -21, 24, -30, 33, -39):
            bx, by = px + 5 * px_per_pt, py + dy * px_per_pt
            if not any(bx < b[2] and b[0] < bx + w and by < b[3] and b[1] < by + h for b in boxes):
                break
        boxes.append((bx, by, bx + w, by + h))
        ax.annotate(text, (x, y), textcoords="offset points", xytext=(5, dy), fontsize=fontsize, color=colour)


def _names(text: str) -> list:
    return [t.strip() for t in text.split(",") if t.strip()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--chunks", type=int, default=0, help="evaluation chunks per model (default: 4 Gemma, 2 Qwen)")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--types", default=",".join(FILE_TYPES), help="GGUF types rounded to nearest (Q8_0: the "
                    "speed reference, needed for the speed columns)")
    ap.add_argument("--imatrix-types", default=",".join(IMATRIX_TYPES), help="GGUF types with the importance matrix")
    ap.add_argument("--formats", default=",".join(FORMATS), help="-wf weight formats")
    ap.add_argument("--calib-chunks", type=int, default=16, help="calibration sequences of --ctx tokens (default 16)")
    ap.add_argument("--calibrated", default=str(ROOT / "benchmarks" / "results" / "calibrated.json"),
                    help="calibrated_table.py's rows, reused for GPTQ and AWQ at Q4_0")
    ap.add_argument("--measure-calibrated", action="store_true", help="make and measure GPTQ and AWQ Q4_0 here")
    ap.add_argument("--extra", action="append", default=None,
                    help="another result file whose rows join the table (repeatable; default: "
                         "benchmarks/results/measure*.json, those present)")
    ap.add_argument("--pp", type=int, default=128)
    ap.add_argument("--tg", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=0, help="speed rounds (default: 3 Gemma, 1 Qwen)")
    ap.add_argument("--work-dir", default=str(Path.home() / ".cache" / "pyggml" / "quality"))
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "methods.json"))
    ap.add_argument("--markdown", default=str(ROOT / "benchmarks" / "results" / "methods.md"))
    ap.add_argument("--plot", default=str(ROOT / "docs" / "methods.png"), help="'' for none")
    ap.add_argument("--resume", action="store_true", help="keep rows already in --json")
    ap.add_argument("--keep", action="store_true", help="keep the quantized files (they are remade otherwise)")
    ap.add_argument("--report-only", action="store_true", help="only redraw the table and plot from --json")
    args = ap.parse_args(argv)
    args.types = [t.upper() for t in _names(args.types)]
    args.imatrix_types = [t.upper() for t in _names(args.imatrix_types)]
    args.formats = _names(args.formats)
    results = Q.Results(Path(args.json), resume=args.resume or args.report_only)
    if not args.report_only:
        t0 = time.perf_counter()
        for name in _names(args.models):
            made = run_model(name, args, results)
            if not args.keep:
                for f in made:
                    f.unlink(missing_ok=True)
        log(f"table done in {(time.perf_counter() - t0) / 60:.1f} min")
    rows = merge_extra(results.rows, args.extra if args.extra is not None else sorted(RESULTS.glob("measure*.json")))
    Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
    Path(args.markdown).write_text(markdown(rows))
    if args.plot:
        plot(rows, Path(args.plot))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
