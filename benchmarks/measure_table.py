"""Measured bit allocation against --target-bpw and llama.cpp's presets, at equal size.

For each model the shipped Q4_K_M is dequantized to F16 (the base, shared with quality_table.py's
work directory). One measurement (`pyggml.quantization.measure.measure`: calibration on the
shipped calibration text, each tensor's KL divergence measured in the forward pass) is made and
saved; its importance matrix serves every file below, so all calibrated files see the same data.
For each preset:

* preset            llama.cpp's per-tensor rules, round to nearest, no importance matrix
* preset+imatrix    the same rules, the quantizers steered by the importance matrix
* target-bpw        `--target-bpw` at the preset+imatrix file's bits per weight (weight error
                    weighted by the importance matrix), the same importance matrix
* measure           `--target-bpw --measure` at that same bits per weight

pyggml's preset files are byte-identical to llama.cpp's quantize from the same importance matrix
(quality_table.py checks it; with llama-cpp-python installed this script checks it again for
each preset+imatrix file). Every file is scored on the held-out evaluation text (A-F) against the
base's logits: mean KLD, same top token, PPL.

    python3 benchmarks/measure_table.py                            # both models, the default presets
    python3 benchmarks/measure_table.py --models gemma3-270m --presets Q3_K_M --chunks 4
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
from pyggml.models import resolve  # noqa: E402
from pyggml.quantization.bpw_target import policy_from_types  # noqa: E402
from pyggml.quantization.measure import load_measurement, measure, quantize_measured, save_measurement  # noqa: E402
from pyggml.quantization.requantize import RequantizeWarning, plan_target_bpw, requantize  # noqa: E402
from pyggml.formats.gguf_file import GGUFFile  # noqa: E402
from pyggml.text import corpus  # noqa: E402
from pyggml.text.tokenizer import Tokenizer  # noqa: E402

PRESETS = {"gemma3-270m": ["Q2_K", "Q3_K_M", "IQ3_XXS"], "qwen2.5-coder-1.5b": ["Q2_K", "Q3_K_M", "IQ3_XXS"]}
DEFAULT_CHUNKS = {"gemma3-270m": 4, "qwen2.5-coder-1.5b": 2}
MEASURE_TOKENS = {"gemma3-270m": 256, "qwen2.5-coder-1.5b": 256}
log = Q.log


def base_file(name: str, work: Path, n_threads: int) -> Path:
    base = work / "base-F16.gguf"
    if not base.exists():
        log(f"{name}: dequantizing the shipped file to F16")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RequantizeWarning)
            requantize(str(resolve(name)), str(base), "F16", n_threads=n_threads, progress=False)
    return base


# the sub-block whose values share one step, per type of the shipped files
_SUB_BLOCK = {"Q4_K": 32, "Q5_K": 32, "Q5_0": 32, "Q5_1": 32, "Q4_0": 32, "Q4_1": 32, "Q8_0": 32, "Q6_K": 16,
              "Q3_K": 16, "Q2_K": 16}


def dither(x: np.ndarray, sub: int, rng) -> np.ndarray:
    """x (on a quantization grid, `sub` values per step) plus uniform noise of one step: a
    plausible float parent of the quantized values (a float model's weights lie anywhere between
    the grid points they round to). The step of a group is the smallest gap between its distinct
    values (one step, or a few where neighbouring levels are unused)."""
    g = x.reshape(-1, sub)
    srt = np.sort(g, axis=1)
    gaps = np.diff(srt, axis=1)
    gaps[gaps <= 0] = np.inf
    step = gaps.min(axis=1)
    step[~np.isfinite(step)] = 0.0
    noise = rng.uniform(-0.5, 0.5, size=g.shape).astype(np.float32) * step[:, None]
    return (g + noise).reshape(x.shape)


def dithered_base_file(name: str, work: Path, n_threads: int) -> Path:
    """The shipped file's values dithered within their grid steps, as F16 (see dither)."""
    out = work / "base-dithered-F16.gguf"
    if out.exists():
        return out
    src = resolve(name)
    log(f"{name}: dithering {src.name} into a float base off every grid")
    with GGUFFile(str(src)) as g:
        types = {t.name: t.type.name for t in g.tensors}

        def replace(tensor):
            sub = _SUB_BLOCK.get(types[tensor])
            if sub is None:
                return None
            rng = np.random.default_rng(sum(map(ord, tensor)))
            return dither(g.array(tensor, n_threads), sub, rng)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RequantizeWarning)
            requantize(str(src), str(out), "F16", replace=replace, n_threads=n_threads, progress=False)
    return out


def run_model(name: str, args, results: Q.Results) -> None:
    work = Path(args.work_dir) / name
    work.mkdir(parents=True, exist_ok=True)
    if args.base == "dithered":
        base = dithered_base_file(name, work, args.threads)
        work = work / "dithered"
        work.mkdir(exist_ok=True)
    else:
        base = base_file(name, work, args.threads)
    mfile = work / "measurement.json"
    if mfile.exists():
        m = load_measurement(mfile)
        log(f"{name}: measurement read from {mfile}")
    else:
        t0 = time.perf_counter()
        m = measure(str(base), n_seq=args.calib_chunks, seq_len=512,
                    measure_tokens=args.measure_tokens or MEASURE_TOKENS[name],
                    n_threads=args.threads, progress=False)
        save_measurement(m, mfile)
        log(f"{name}: measured {len(m.costs)} tensors on {m.n_tokens} calibration tokens, KLD over "
            f"{m.measure_tokens} tokens each, in {time.perf_counter() - t0:.0f} s")
        results.add({"model": name, "method": "measurement", "type": "-", "seconds": time.perf_counter() - t0,
                     "n_tokens": m.n_tokens, "measure_tokens": m.measure_tokens})

    tok = Tokenizer.from_gguf(base)
    bos = corpus.bos_for_chunks(tok)
    chunks = corpus.make_chunks(corpus.tokenize_text(tok, corpus.read_text(Q.TEXT)), 512,
                                args.chunks or DEFAULT_CHUNKS[name], source=str(Q.TEXT))
    cache = work / "base-pyggml.kld"
    base_logits = K.BaseLogits.load(cache) if cache.exists() else None
    if base_logits is None or base_logits.tokens.shape != chunks.shape or not (base_logits.tokens == chunks).all():
        _, base_logits = Q.evaluate_base(Q.pyggml_source(base, 512, args.threads), chunks, bos, tok.n_vocab, args.top_k)
        base_logits.save(cache)

    def score(path: Path, method: str, preset: str, seconds: float, **extra) -> dict:
        size, bpw = Q.size_and_bpw(path)
        row = {"model": name, "base": args.base, "method": method, "type": preset, "size_mib": size, "bpw": bpw,
               "chunks": int(chunks.shape[0]), "quantize_seconds": seconds} | extra
        row |= Q.evaluate_against(Q.pyggml_source(path, 512, args.threads), base_logits, bos)
        results.add(row)
        log(f"{name} {preset} {method}: {size:.1f} MiB, {bpw:.4f} bpw, KLD {row['kld']:.5f} ± {row['kld_unc']:.5f}, "
            f"same top {100 * row['same_top']:.2f}%, PPL {row['ppl']:.3f}")
        if not args.keep:
            path.unlink()
        return row

    points = [(p, None) for p in (args.presets or PRESETS[name])] + [(f"{b:g} bpw", b) for b in args.targets]
    for preset, fixed in points:
        target = fixed
        for method in ("preset+imatrix", "preset", "target-bpw", "measure"):
            if fixed is not None and method.startswith("preset"):
                continue  # a size of its own: the two allocations only
            done = results.find(model=name, method=method, type=preset) if args.resume else None
            if done is not None:
                target = target or (done["bpw"] if method == "preset+imatrix" else None)
                continue
            out = work / f"{preset}-{method}.gguf"
            t0 = time.perf_counter()
            extra = {}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RequantizeWarning)
                if method.startswith("preset"):
                    needs = method == "preset+imatrix"
                    try:
                        requantize(str(base), str(out), preset, imatrix=m.imatrix if needs else None,
                                   n_threads=args.threads, progress=False)
                    except Exception as e:  # IQ presets refuse to run without an importance matrix
                        log(f"{name} {preset} {method}: {e}")
                        continue
                    if needs and Q.llama_cpp_available() and not args.no_llama_cpp:
                        ref = work / f"{preset}-llama.cpp.gguf"
                        Q.llama_cpp_quantize(base, ref, preset, args.threads or os.cpu_count(), m.imatrix)
                        extra["identical_to_llama_cpp"] = Q.identical_tensors(out, ref)
                        ref.unlink()
                elif method == "target-bpw":
                    with GGUFFile(str(base)) as g:
                        pol = plan_target_bpw(g, target, m.imatrix, args.threads)
                    requantize(str(base), str(out), policy=pol, imatrix=m.imatrix, n_threads=args.threads,
                               progress=False)
                else:
                    table, _ = quantize_measured(str(base), str(out), target, measurement=m, n_threads=args.threads,
                                                 progress=False)
                    extra["predicted_kld"] = m.predicted_kld({r[0]: r[3] for r in table})
            if target is None and method == "preset+imatrix":
                target = Q.size_and_bpw(out)[1]
            row = score(out, method, preset, time.perf_counter() - t0, target_bpw=target, **extra)
            if method == "preset+imatrix":
                target = row["bpw"]


def markdown(rows: list) -> str:
    out = []
    for model in dict.fromkeys(r["model"] for r in rows if r["method"] != "measurement"):
        out += [f"**{model}**", "",
                "| preset | method | size MiB | bpw | KLD | same top % | PPL |",
                "|---|---|---:|---:|---:|---:|---:|"]
        for r in rows:
            if r["model"] != model or r["method"] == "measurement":
                continue
            out.append(f"| {r['type']} | {r['method']} | {r['size_mib']:.1f} | {r['bpw']:.3f} | "
                       f"{r['kld']:.5f} ± {r['kld_unc']:.5f} | {100 * r['same_top']:.2f} | {r['ppl']:.3f} |")
        out.append("")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(PRESETS))
    ap.add_argument("--presets", type=lambda s: s.split(","), help="presets to compare at (default per model)")
    ap.add_argument("--targets", type=lambda s: [float(x) for x in s.split(",")], default=[],
                    help="further sizes in bits per weight, compared between --target-bpw and --measure only")
    ap.add_argument("--chunks", type=int, help="evaluation chunks of 512 (default 4 Gemma, 2 Qwen)")
    ap.add_argument("--calib-chunks", type=int, default=8, help="calibration sequences of 512 (default 8)")
    ap.add_argument("--measure-tokens", type=int, help="tokens each tensor's KLD is measured over (default 256)")
    ap.add_argument("--top-k", type=int, default=K.DEFAULT_TOP_K)
    ap.add_argument("-t", "--threads", type=int, default=0)
    ap.add_argument("--work-dir", default=str(Path.home() / ".cache" / "pyggml" / "quality"))
    ap.add_argument("--base", choices=["dithered", "dequantized"], default="dithered",
                    help="the float base: the shipped file's values dithered within their grid steps (default; off "
                         "every grid, as a float model's weights are) or the shipped file dequantized as it is")
    ap.add_argument("--results", default=str(HERE / "results" / "measure.json"))
    ap.add_argument("--resume", action="store_true", help="keep the rows already in --results")
    ap.add_argument("--keep", action="store_true", help="keep the quantized files")
    ap.add_argument("--no-llama-cpp", action="store_true", help="skip the byte-identity check against llama.cpp")
    args = ap.parse_args(argv)
    results = Q.Results(Path(args.results), args.resume)
    for name in args.models.split(","):
        run_model(name, args, results)
    text = markdown(results.rows)
    Path(args.results).with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
