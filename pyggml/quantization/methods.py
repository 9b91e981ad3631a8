"""Calibrated quantization into standard GGUF: round-to-nearest, importance matrix, GPTQ, AWQ.

`quantize_calibrated(in, out, "Q3_K_M", method)` picks each tensor's type exactly as
`requantize` does (llama.cpp's presets, policies, --pure), then:

* rtn           rounds to nearest (the type's own quantizer, as llama-quantize without imatrix);
* imatrix       runs the calibration text through the model, keeps the mean squared activation
                per input column of every weight, and lets the quantizers weight their error
                by it (llama-imatrix + llama-quantize --imatrix); the matrix can be saved;
* gptq          collects H = 2 X^T X / n per linear input and quantizes every layer weight with
                GPTQ onto its type's grid (gptq.py); gptq+imatrix also steers the block
                scales (and the other tensors) with the importance diag(H) / 2;
* awq           samples each linear input, searches per-channel scales (awq.py), folds them
                into the preceding norm or weight, then rounds to nearest (with experts: one
                scale vector for the router's and every expert's input, one per expert for its
                down input); awq+imatrix rounds with the importance matrix, rescaled by the
                folded scales.

Everything runs on the CPU: the forward pass in C++, the linear algebra in numpy/scipy (BLAS).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from .. import arch as architectures
from ..errors import PyggmlError
from ..formats.gguf_file import GGUFFile
from ..progress import progress_bar
from . import awq as awq_mod
from . import calibration as C
from .gptq import GRID_TYPES, gptq_quantize, prepare
from .requantize import plan, requantize

METHODS = ("rtn", "imatrix", "gptq", "gptq+imatrix", "awq", "awq+imatrix")


@dataclass
class Report:
    """What a calibrated quantization did: per-stage seconds and the per-tensor type table."""

    method: str
    table: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    n_tokens: int = 0
    alphas: dict = field(default_factory=dict)  # AWQ: (layer, site) -> alpha


@dataclass
class Job:
    """One output of quantize_many: write `out_path` as `qtype` with `method`."""

    out_path: object
    qtype: object = "Q4_K_M"
    method: str = "gptq"


def quantize_calibrated(in_path, out_path, qtype="Q4_K_M", method: str = "gptq", **options) -> Report:
    """Quantize `in_path` into `out_path` with `method` (one of METHODS); see the module docstring.

    Options (all keyword): text (calibration text file, default the shipped one), n_seq
    sequences of seq_len tokens (16 x 512), n_parallel (sequences per forward pass, default
    1; the same results, as llama-imatrix with -b a multiple of -c), policy, pure, n_threads, progress, imatrix_out
    (save the importance matrix of method "imatrix"), damp and act_order (GPTQ), awq_rows and
    awq_clip (AWQ), memory (bytes allowed for GPTQ's Hessians at once; default half of the
    available memory: layers are calibrated in as many passes as that requires).
    """
    return quantize_many(in_path, [Job(out_path, qtype, method)], **options)[0]


def quantize_many(in_path, jobs, *, text=None, n_seq: int = 16, seq_len: int = 512, n_parallel: int = 1,
                  policy=None, pure: bool = False,
                  n_threads: int = 0, progress: bool = True, imatrix_out=None, damp: float = 0.01,
                  act_order: bool = False, awq_rows: int = 512, awq_clip: bool = False,
                  memory: int | None = None) -> list:
    """Several outputs from one calibration: [Report] in the order of `jobs`.

    The calibration passes are shared: one pass gathers the importance matrix and AWQ's
    samples, one set of passes the Hessians (each factored once for every GPTQ job). Each
    report's seconds give the shared stages it used ("calibration", "hessians") and its own.
    """
    for job in jobs:
        if job.method not in METHODS:
            raise PyggmlError(f"unknown method {job.method!r}; one of {', '.join(METHODS)}")
    reports = [Report(job.method) for job in jobs]
    calibrated = [i for i, job in enumerate(jobs) if job.method != "rtn"]
    outputs = [dict(encode=None, replace=None, imat=None) for _ in jobs]
    if calibrated:
        from ..runtime.model import Model

        seqs = C.load_sequences(in_path, text, n_seq, seq_len)
        if not isinstance(n_parallel, int) or n_parallel < 1:
            raise PyggmlError(f"sequences per pass must be a positive integer, not {n_parallel!r}")
        n_parallel = min(n_parallel, len(seqs))
        model = Model.load(in_path, n_ctx=seq_len, n_batch=seq_len * n_parallel, n_threads=n_threads or None,
                           n_seq_max=n_parallel)
        with GGUFFile(in_path) as g:
            types = {}
            for i in calibrated:
                uses = jobs[i].method != "gptq" and jobs[i].method != "awq"
                table, _ = plan(g, jobs[i].qtype, policy=policy, pure=pure, imat={} if uses else None)
                types[i] = {name: (old, new) for name, _, old, new in table}
            methods = {jobs[i].method for i in calibrated}
            shared = {}
            imc = sc = None
            if methods & {"imatrix", "awq", "awq+imatrix", "gptq+imatrix"}:
                t = time.perf_counter()
                imc = C.ImatrixCollector()
                sc = C.SampleCollector(awq_rows, len(seqs)) if methods & {"awq", "awq+imatrix"} else None
                C.run(model, seqs, [imc] + ([sc] if sc is not None else []), output=True, progress=progress)
                shared["calibration"] = time.perf_counter() - t
                imat_all = imc.importance()
                if imatrix_out is not None:
                    _save_imatrix(imatrix_out, imc, int(seqs.size), seqs.shape, text)
            gptq_jobs = [i for i in calibrated if jobs[i].method.startswith("gptq")]
            if gptq_jobs:
                done = _gptq(model, g, seqs, {i: types[i] for i in gptq_jobs},
                             {i: jobs[i].method == "gptq+imatrix" for i in gptq_jobs}, damp, act_order, memory,
                             n_threads, progress, reports, shared)
                for i in gptq_jobs:
                    outputs[i]["encode"] = _pop_from(done[i])
            for i in calibrated:
                job, rep = jobs[i], reports[i]
                rep.n_tokens = int(seqs.size)
                if job.method.endswith("imatrix"):
                    outputs[i]["imat"] = imat_all
                    rep.seconds["calibration"] = shared["calibration"]
                if job.method.startswith("awq"):
                    rep.seconds["calibration"] = shared["calibration"]
                    t = time.perf_counter()
                    done_i, floats = _awq(model, g, sc, types[i], imat_all if job.method == "awq+imatrix" else None,
                                          awq_clip, n_threads, progress, rep)
                    rep.seconds["awq"] = time.perf_counter() - t
                    outputs[i]["encode"], outputs[i]["replace"] = _pop_from(done_i), floats.get
        del model
    for job, rep, out in zip(jobs, reports, outputs):
        t = time.perf_counter()
        rep.table = requantize(in_path, job.out_path, job.qtype, policy=policy, pure=pure, imatrix=out["imat"],
                               n_threads=n_threads, progress=progress, replace=out["replace"], encode=out["encode"])
        rep.seconds["write"] = time.perf_counter() - t
        rep.seconds["total"] = sum(v for k, v in rep.seconds.items() if k != "total")
    return reports


def _pop_from(done: dict):
    return lambda name, new: done.pop(name, None)


def _save_imatrix(path, imc, n_tokens: int, shape, text) -> None:
    """Write the collector's sums over n_tokens rows (every matrix saw each calibration token
    once; each expert the tokens routed to it, counted per expert)."""
    from ..formats.imatrix import write_imatrix_gguf, write_imatrix_legacy

    dataset = os.path.basename(os.fspath(text)) if text is not None else C.DEFAULT_TEXT.name
    sums = imc.sums32()
    counts = {n: c for n, c in imc.counts_per_matrix().items() if sums[n].ndim == 2}
    if os.fspath(path).endswith(".dat"):
        # one call count per entry there: experts' means scaled back to n_tokens rows
        imp = imc.importance()
        legacy = {n: (imp[n].reshape(s.shape) * np.float32(n_tokens) if n in counts else s) for n, s in sums.items()}
        write_imatrix_legacy(path, legacy, ncall=n_tokens, dataset=dataset, sums=True)
    else:
        write_imatrix_gguf(path, sums, count=n_tokens, datasets=(dataset,), chunk_count=shape[0],
                           chunk_size=shape[1], sums=True, counts=counts)


def _quantized_here(types: dict, name: str) -> bool:
    old, new = types[name]
    return new != old


def _gptq(model, g, seqs, types: dict, with_imatrix: dict, damp, act_order, memory, n_threads, progress,
          reports, shared) -> dict:
    """{job: {name: bytes}} for every layer weight GPTQ can place on its type's grid.

    Layers are calibrated in chunks whose Hessians fit in `memory`; each Hessian is factored
    once and used by every job."""
    budget = memory if memory else C.available_memory() // 2
    chunks = C.layer_chunks(model, budget)
    done = {i: {} for i in types}
    t_h = 0.0  # calibration passes and factorizations, shared by the jobs
    t_q = {i: 0.0 for i in types}
    bar = progress_bar(total=model.hparams["n_layer"], desc="GPTQ", unit="layer", enabled=progress)
    for layers in chunks:
        t = time.perf_counter()
        hc = C.HessianCollector()
        C.run(model, seqs, [hc], layers=layers, progress=progress, desc=f"Hessians of layers {layers[0]}-{layers[-1]}")
        t_h += time.perf_counter() - t
        for layer in layers:
            for site in C.capture_sites(model):
                h = hc.hessian((layer, site.site))
                work = [(i, n) for i in types for n in site.tensors(layer)
                        if n in types[i] and _quantized_here(types[i], n) and types[i][n][1] in GRID_TYPES]
                if not work:
                    continue
                t = time.perf_counter()
                prep = prepare(h, damp=damp, act_order=act_order)
                del h
                t_h += time.perf_counter() - t
                weights = {}
                for i, name in work:
                    t = time.perf_counter()
                    if name not in weights:
                        weights[name] = g.array(name, n_threads).reshape(-1, len(prep.u))
                    new = types[i][name][1]
                    bar.set_description(f"GPTQ {name} -> {new.name}", refresh=False)
                    done[i][name] = gptq_quantize(weights[name], prep, new,
                                                  prep.importance if with_imatrix[i] else None, n_threads=n_threads)
                    t_q[i] += time.perf_counter() - t
            if model.hparams.get("n_expert"):
                t_h += _gptq_experts(model, g, hc, layer, types, with_imatrix, damp, act_order, n_threads, done, t_q, bar)
            bar.update(1)
    bar.close()
    shared["hessians"] = t_h
    for i in types:
        reports[i].seconds["hessians"] = t_h
        reports[i].seconds["gptq"] = t_q[i]
    return done


def _gptq_experts(model, g, hc, layer, types, with_imatrix, damp, act_order, n_threads, done, t_q, bar) -> float:
    """GPTQ of one layer's stacked experts, expert by expert: each expert's slice of ffn_gate_exps /
    ffn_up_exps with the Hessian of the tokens routed to it, of ffn_down_exps with that of its
    own down inputs. An expert no calibration token reached is rounded to nearest (its type's
    quantizer). Returns the seconds spent factoring."""
    from ..formats.quants import quantize

    n_expert = model.hparams["n_expert"]
    t_h = 0.0
    for kind, names in (("experts_in", ("ffn_gate_exps", "ffn_up_exps")), ("experts_down", ("ffn_down_exps",))):
        names = [f"blk.{layer}.{n}.weight" for n in names]
        work = [(i, n) for i in types for n in names
                if n in types[i] and _quantized_here(types[i], n) and types[i][n][1] in GRID_TYPES]
        if not work:
            continue
        weights = {n: g.array(n, n_threads) for _, n in work}
        parts = {(i, n): [] for i, n in work}
        for e in range(n_expert):
            key = (layer, kind, e)
            prep = None
            if key in hc.h:
                t = time.perf_counter()
                prep = prepare(hc.hessian(key), damp=damp, act_order=act_order)
                t_h += time.perf_counter() - t
            for i, name in work:
                t = time.perf_counter()
                new = types[i][name][1]
                bar.set_description(f"GPTQ {name}[{e}] -> {new.name}", refresh=False)
                w = np.ascontiguousarray(weights[name][e], dtype=np.float32)
                if prep is None:
                    parts[(i, name)].append(np.asarray(quantize(w, new, n_threads=n_threads)).reshape(-1))
                else:
                    parts[(i, name)].append(np.asarray(gptq_quantize(
                        w, prep, new, prep.importance if with_imatrix[i] else None, n_threads=n_threads)).reshape(-1))
                t_q[i] += time.perf_counter() - t
        for (i, name), p in parts.items():
            done[i][name] = np.concatenate(p)
    return t_h


def _awq(model, g, sc, types, imat, clip, n_threads, progress, rep):
    """({name: bytes}, {name: folded float32 1-D tensor}) for one AWQ job, from the samples in sc."""
    from ..formats.quants import quantize

    hp = model.hparams
    sites = C.capture_sites(model)
    done, floats = {}, {}
    for layer in progress_bar(range(hp["n_layer"]), desc="AWQ", unit="layer", enabled=progress):
        p = f"blk.{layer}."
        names = [n for site in sites for n in site.tensors(layer)]
        extra = []  # 1-D tensors taking the inverse scales: norms, biases of the matrices that do
        for site in sites:
            for n in (f"{p}{site.source}.weight", f"{p}{site.source}.bias"):
                if n in types and n not in names and n not in extra:
                    (names if len(g.tensor(n).shape) > 1 else extra).append(n)
        arrays = {n: _matrix(g, n, n_threads) for n in names}
        arrays.update({n: np.array(g.array(n), dtype=np.float32) for n in extra})
        plan_ = awq_mod.LayerPlan()
        for site in sites:
            if not awq_mod.folds(site, layer, arrays):
                continue
            members = site.tensors(layer)
            source = f"{p}{site.source}.weight"
            touched = members + [source] if arrays[source].ndim > 1 else members
            if not all(_quantized_here(types, n) for n in touched):
                continue  # a tensor the policy keeps as it is cannot absorb the scales
            key = (layer, site.site)
            imp = None if imat is None else imat.get(members[0])
            s, alpha, _ = awq_mod.search_scales(sc.sample(key), sc.mean_abs(key),
                                                [(arrays[n], types[n][1]) for n in members], imp, n_threads)
            plan_.scales[site], plan_.alphas[site] = s, alpha
            rep.alphas[key] = alpha
        folded = awq_mod.fold(layer, plan_, arrays)
        for n in extra:
            floats[n] = folded[n]
        for site in sites:
            s = plan_.scales.get(site)
            for n in site.tensors(layer):
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
                    x = sc.sample((layer, site.site))
                    w = awq_mod.search_clip(w, x / s if s is not None else x, new, imp, n_threads)
                done[n] = quantize(w, new, imatrix=imp, n_threads=n_threads)
        if hp.get("n_expert"):
            _awq_experts(g, sc, layer, architectures.get(model.arch).expert_scales, types, imat, clip, n_threads,
                         rep, done, floats)
    return done, floats


def _awq_experts(g, sc, layer, spec, types, imat, clip, n_threads, rep, done, floats) -> None:
    """AWQ of one layer's experts (awq.py): the scales over the feed-forward input, searched for
    every expert's gate and up, folded into the norm, the router and the experts; then each
    expert's scales over its down input, folded into its up rows (spec.down_folds). Adds the
    experts' bytes to `done` and the folded norm and router to `floats`."""
    from ..formats.quants import quantize

    p = f"blk.{layer}."
    gate, up, down = (f"{p}{n}.weight" for n in ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"))
    norm, router = f"{p}{spec.norm}.weight", f"{p}ffn_gate_inp.weight"
    if (layer, "experts_in") not in sc.rows:
        return
    x, ids, down_x = sc.expert_sample(layer)
    arrays = {n: np.array(g.array(n, n_threads), dtype=np.float32) for n in (gate, up, down, norm, router)}
    n_expert, k = len(arrays[gate]), ids.shape[1]
    if f"{p}ffn_up_exps.bias" in types:
        arrays[f"{p}ffn_up_exps.bias"] = np.array(g.array(f"{p}ffn_up_exps.bias"), dtype=np.float32)

    def importance(name, scales):  # (n_expert, cols) rescaled by each expert's scales, or None
        if imat is None or not types[name][1].uses_imatrix or name not in imat:
            return None
        imp = np.asarray(imat[name], dtype=np.float32).reshape(n_expert, -1)
        return np.stack([imp[e] / (scales(e) * scales(e)) for e in range(n_expert)])

    s_in = None
    if _quantized_here(types, gate) and _quantized_here(types, up):
        key = (layer, "experts_in")
        imp = importance(gate, lambda e: np.float32(1))
        s_in, alpha, _ = awq_mod.search_expert_scales(x, ids, sc.mean_abs(key),
                                                      [(arrays[n], types[n][1]) for n in (gate, up)], imp, n_threads)
        rep.alphas[key] = alpha
    s_down = {}
    if spec.down_folds and _quantized_here(types, up) and _quantized_here(types, down):
        imp = importance(down, lambda e: np.float32(1))
        flat, slots = ids.reshape(-1), down_x.reshape(len(ids) * k, -1)
        per_expert = max(32, 1024 * k // n_expert)
        for e in np.unique(flat):
            e = int(e)
            key = (layer, "experts_down", e)
            s_down[e], rep.alphas[key], _ = awq_mod.search_scales(
                slots[flat == e], sc.mean_abs(key), [(arrays[down][e], types[down][1])],
                None if imp is None else imp[e], n_threads, max_rows=per_expert)
    folded = awq_mod.fold_experts(layer, spec, s_in, s_down, arrays)
    ones = np.ones(1, dtype=np.float32)
    col_in = ones if s_in is None else s_in  # the scales of gate's and up's columns (s_down scales up's rows)
    for n, scales_of, rows_of in (
            (gate, lambda e: col_in, lambda e: x[(ids == e).any(axis=1)]),
            (up, lambda e: col_in, lambda e: x[(ids == e).any(axis=1)]),
            (down, lambda e: s_down.get(e, ones), lambda e: down_x.reshape(len(ids) * k, -1)[ids.reshape(-1) == e])):
        if n not in folded:
            continue
        new = types[n][1]
        w = folded[n]
        imp = importance(n, scales_of)
        if imp is None and not clip:
            done[n] = quantize(w.reshape(-1, w.shape[-1]), new, n_threads=n_threads).reshape(-1)
            continue
        parts = []
        for e in range(n_expert):
            we, ie = w[e], None if imp is None else imp[e]
            rows = rows_of(e)
            if clip and new in GRID_TYPES and len(rows):
                we = awq_mod.search_clip(we, rows / scales_of(e), new, ie, n_threads)
            parts.append(np.asarray(quantize(we, new, imatrix=ie, n_threads=n_threads)).reshape(-1))
        done[n] = np.concatenate(parts)
    for n in (norm, router, f"{p}ffn_up_exps.bias"):
        if n in folded:
            floats[n] = folded[n]


def _matrix(g, name: str, n_threads: int) -> np.ndarray:
    t = g.tensor(name)
    return np.array(g.array(name, n_threads), dtype=np.float32).reshape(-1, t.shape[-1])
