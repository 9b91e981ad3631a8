"""Calibrated quantization into standard GGUF: round-to-nearest, importance matrix, GPTQ, AWQ.

`quantize_calibrated(in, out, "Q3_K_M", method)` picks each tensor's type exactly as
`requantize` does (llama.cpp's presets, policies, --pure), then:

* rtn           rounds to nearest (the type's own quantizer, as llama-quantize without imatrix);
* imatrix       runs the calibration text through the model, keeps the mean squared activation
                per input column of every weight, and lets the quantizers weight their error
                by it (llama-imatrix + llama-quantize --imatrix); the matrix can be saved;
* gptq          collects H = 2 X^T X / n per linear input and quantizes every layer weight with
                GPTQ onto its type's grid (pyggml.gptq); gptq+imatrix also steers the block
                scales (and the other tensors) with the importance diag(H) / 2;
* awq           samples each linear input, searches per-channel scales (pyggml.awq), folds them
                into the preceding norm or weight, then rounds to nearest; awq+imatrix rounds
                with the importance matrix, rescaled by the folded scales.

Everything runs on the CPU: the forward pass in C++, the linear algebra in numpy/scipy (BLAS).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from . import awq as awq_mod
from . import calibration as C
from .errors import PyggmlError
from .gguf_file import GGUFFile
from .gptq import GRID_TYPES, gptq_quantize, prepare
from .requantize import plan, requantize
from .types import GGMLType

METHODS = ("rtn", "imatrix", "gptq", "gptq+imatrix", "awq", "awq+imatrix")


@dataclass
class Report:
    """What a calibrated quantization did: per-stage seconds and the per-tensor type table."""

    method: str
    table: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    n_tokens: int = 0
    alphas: dict = field(default_factory=dict)  # AWQ: (layer, site) -> alpha


def quantize_calibrated(in_path, out_path, qtype="Q4_K_M", method: str = "gptq", *, text=None, n_seq: int = 16,
                        seq_len: int = 512, policy=None, pure: bool = False, n_threads: int = 0,
                        progress: bool = True, imatrix_out=None, damp: float = 0.01, act_order: bool = False,
                        awq_rows: int = 512, awq_clip: bool = False, memory: int | None = None) -> Report:
    """Quantize `in_path` into `out_path` with `method` (one of METHODS); see the module docstring.

    text: calibration text file (default: the shipped one). n_seq sequences of seq_len tokens
    are evaluated. memory: bytes allowed for GPTQ's Hessians at once (default: half of the
    available memory); layers are calibrated in as many passes as that requires.
    """
    if method not in METHODS:
        raise PyggmlError(f"unknown method {method!r}; one of {', '.join(METHODS)}")
    rep = Report(method)
    t0 = time.perf_counter()
    if method == "rtn":
        rep.table = requantize(in_path, out_path, qtype, policy=policy, pure=pure, n_threads=n_threads,
                               progress=progress)
        rep.seconds["total"] = time.perf_counter() - t0
        return rep

    from .model import Model

    seqs = C.load_sequences(in_path, text, n_seq, seq_len)
    rep.n_tokens = int(seqs.size)
    model = Model.load(in_path, n_ctx=seq_len, n_batch=seq_len, n_threads=n_threads or None)
    use_imatrix = method.endswith("imatrix")
    with GGUFFile(in_path) as g:
        table, _ = plan(g, qtype, policy=policy, pure=pure, imat={} if use_imatrix else None)
        types = {name: (old, new) for name, _, old, new in table}
        if method == "imatrix":
            col = _imatrix(model, seqs, progress, rep)
            imat = col.importance()
            if imatrix_out is not None:
                _save_imatrix(imatrix_out, col.sums32(), rep.n_tokens, seqs.shape, text)
            encode = replace = None
        elif method.startswith("gptq"):
            imat, done = _gptq(model, g, seqs, types, use_imatrix, damp, act_order, memory, n_threads, progress, rep)
            encode, replace = (lambda name, new: done.pop(name, None)), None
        else:
            imat, done, floats = _awq(model, g, seqs, types, use_imatrix, awq_rows, awq_clip, n_threads, progress, rep)
            encode, replace = (lambda name, new: done.pop(name, None)), floats.get
    del model
    t1 = time.perf_counter()
    rep.table = requantize(in_path, out_path, qtype, policy=policy, pure=pure, imatrix=imat if use_imatrix or
                           method == "imatrix" else None, n_threads=n_threads, progress=progress, replace=replace,
                           encode=encode)
    rep.seconds["write"] = time.perf_counter() - t1
    rep.seconds["total"] = time.perf_counter() - t0
    return rep


def _imatrix(model, seqs, progress, rep) -> C.ImatrixCollector:
    t = time.perf_counter()
    col = C.ImatrixCollector()
    C.run(model, seqs, [col], output=True, progress=progress, desc="imatrix")
    rep.seconds["calibration"] = time.perf_counter() - t
    return col


def _save_imatrix(path, sums: dict, n_tokens: int, shape, text) -> None:
    """Write the sums over n_tokens rows (every tensor saw each calibration token once)."""
    from .imatrix import write_imatrix_gguf, write_imatrix_legacy

    dataset = os.path.basename(os.fspath(text)) if text is not None else C.DEFAULT_TEXT.name
    if os.fspath(path).endswith(".dat"):
        write_imatrix_legacy(path, sums, ncall=n_tokens, dataset=dataset, sums=True)
    else:
        write_imatrix_gguf(path, sums, count=n_tokens, datasets=(dataset,), chunk_count=shape[0],
                           chunk_size=shape[1], sums=True)


def _quantized_here(types: dict, name: str) -> bool:
    old, new = types[name]
    return new != old


def _gptq(model, g, seqs, types, use_imatrix, damp, act_order, memory, n_threads, progress, rep):
    """{name: bytes} for every layer weight GPTQ can place on its type's grid, layer chunk by chunk."""
    from tqdm import tqdm

    budget = memory if memory else C.available_memory() // 2
    chunks = C.layer_chunks(model, budget)
    done, imat = {}, None
    imc = C.ImatrixCollector() if use_imatrix else None
    t_cal = t_q = 0.0
    n_layer = model.hparams["n_layer"]
    bar = tqdm(total=n_layer, desc="GPTQ", unit="layer", disable=not progress or None, file=sys.stderr,
               dynamic_ncols=True, leave=False)
    for k, layers in enumerate(chunks):
        t = time.perf_counter()
        hc = C.HessianCollector()
        last = k == len(chunks) - 1
        collectors = [hc] + ([imc] if imc is not None else [])
        C.run(model, seqs, collectors, layers=layers, output=last and imc is not None, progress=progress,
              desc=f"calibrating layers {layers[0]}-{layers[-1]}")
        t_cal += time.perf_counter() - t
        t = time.perf_counter()
        for layer in layers:
            for site in C.SITE_TENSORS:
                names = [n for n in C.site_tensors(layer, site)
                         if n in types and _quantized_here(types, n) and types[n][1] in GRID_TYPES]
                h = hc.hessian((layer, site))
                if not names:
                    continue
                prep = prepare(h, damp=damp, act_order=act_order)
                del h
                for name in names:
                    bar.set_description(f"GPTQ {name} -> {types[name][1].name}", refresh=False)
                    w = g.array(name, n_threads).reshape(-1, len(prep.u))
                    done[name] = gptq_quantize(w, prep, types[name][1], prep.importance if use_imatrix else None,
                                               n_threads=n_threads)
            bar.update(1)
        t_q += time.perf_counter() - t
    bar.close()
    rep.seconds["calibration"] = t_cal
    rep.seconds["gptq"] = t_q
    if imc is not None:
        imat = imc.importance()
    return imat, done


def _awq(model, g, seqs, types, use_imatrix, rows, clip, n_threads, progress, rep):
    """({name: importance} or None, {name: bytes}, {name: folded float32 1-D tensor})."""
    from tqdm import tqdm

    from .quants import quantize

    t = time.perf_counter()
    sc = C.SampleCollector(rows, len(seqs))
    imc = C.ImatrixCollector() if use_imatrix else None
    C.run(model, seqs, [sc] + ([imc] if imc is not None else []), output=imc is not None, progress=progress,
          desc="calibrating")
    rep.seconds["calibration"] = time.perf_counter() - t
    t = time.perf_counter()
    imat = imc.importance() if imc is not None else None
    hp = model.hparams
    v_to_o = awq_mod.folds_v_into_o(hp)
    done, floats = {}, {}
    for layer in tqdm(range(hp["n_layer"]), desc="AWQ", unit="layer", disable=not progress or None,
                      file=sys.stderr, dynamic_ncols=True, leave=False):
        p = f"blk.{layer}."
        names = [n for site in C.SITE_TENSORS for n in C.site_tensors(layer, site)]
        extra = [p + n for n in ("attn_norm.weight", "ffn_norm.weight", "attn_v.bias")]
        arrays = {n: _matrix(g, n, n_threads) for n in names}
        arrays.update({n: np.array(g.array(n), dtype=np.float32) for n in extra if n in types})
        plan = awq_mod.LayerPlan()
        for site in C.SITE_TENSORS:
            if site == 1 and not v_to_o:
                continue
            members = C.site_tensors(layer, site)
            touched = members + [p + {1: "attn_v.weight", 3: "ffn_up.weight"}[site]] if site in (1, 3) else members
            if not all(_quantized_here(types, n) for n in touched):
                continue  # a tensor the policy keeps as it is cannot absorb the scales
            key = (layer, site)
            imp = None if imat is None else imat.get(C.site_tensors(layer, site)[0])
            s, alpha, _ = awq_mod.search_scales(sc.sample(key), sc.mean_abs(key),
                                                [(arrays[n], types[n][1]) for n in members], imp, n_threads)
            plan.scales[site], plan.alphas[site] = s, alpha
            rep.alphas[key] = alpha
        folded = awq_mod.fold(layer, plan, arrays)
        for n in extra:
            if n in folded:
                floats[n] = folded[n]
        for site in C.SITE_TENSORS:
            s = plan.scales.get(site)
            for n in C.site_tensors(layer, site):
                if not _quantized_here(types, n):
                    continue
                new = types[n][1]
                w = folded[n]
                imp = None
                if imat is not None and new.uses_imatrix:
                    imp = imat.get(n)
                    if imp is not None and s is not None:
                        imp = imp / (s * s)
                if clip and not n.endswith(("attn_q.weight", "attn_k.weight")) and new in GRID_TYPES:
                    w = awq_mod.search_clip(w, sc.sample((layer, site)) / (s if s is not None else 1.0), new, imp,
                                            n_threads)
                done[n] = quantize(w, new, imatrix=imp, n_threads=n_threads)
        for site in C.SITE_TENSORS:
            sc.rows.pop((layer, site), None)
    rep.seconds["awq"] = time.perf_counter() - t
    return imat, done, floats


def _matrix(g, name: str, n_threads: int) -> np.ndarray:
    t = g.tensor(name)
    return np.array(g.array(name, n_threads), dtype=np.float32).reshape(-1, t.shape[-1])
