"""AWQ (Lin et al., 2023): activation-aware per-channel scales, folded into the network.

For the weights fed by one input x (q/k/v, gate/up, down, and o when v maps onto it one to one),
AWQ multiplies input channel c of the weights by s_c and divides the operation that produces x
by s_c, which leaves the network unchanged before quantization; channels with large activations
get larger weights and so smaller relative rounding error. s = mean|x|^alpha, normalized so that
max(s) * min(s) = 1, with alpha searched on a grid of 20 values in [0, 1) to minimize the
summed output error sum_W ||Q(W diag(s)) (x / s) - W x||^2 over a sample of calibration rows
(and, for wide weights, a fixed random subset of 1024 output rows),
where Q is round-to-nearest into each weight's target GGUF type. alpha = 0 (s = 1) is plain
round-to-nearest, so the search never does worse than it on that sample.

Each scale is folded (the division by s) into the tensor that produces the input, the capture
site's source in pyggml.arch: a norm's weight, or the rows (and bias) of a matrix. For the
llama-family decoders:
  q/k/v input  -> attn_norm weight      gate/up input -> ffn_norm weight
  down input   -> rows of ffn_up        o input       -> rows (and bias) of attn_v, only when
                                                         n_head == n_head_kv (no GQA), as AutoAWQ

A mixture-of-experts block is scaled as AutoAWQ scales Mixtral's and Qwen-MoE's: one scale
vector over the normed feed-forward input, searched jointly for every expert's ffn_gate_exps and
ffn_up_exps (each expert's error counted over the sampled tokens routed to it), folded into the
norm and multiplied into the columns of every expert and of the router (ffn_gate_inp, kept in
float, so it stays exact); then, expert by expert, a scale vector over its ffn_down_exps input,
searched on its own tokens and folded into its ffn_up_exps rows (and bias), where the
architecture's activation allows (pyggml.arch.ExpertScales: not gpt-oss's clamped SwiGLU).

The optional clipping search (clip=True) then shrinks, per output row and GGUF block, the range
of the weights before rounding (ratios 1, 0.95, ..., 0.5 of the block's max |w|) to minimize the
block's output error on the sample; like AutoAWQ it skips q and k, whose errors the attention
softmax reshapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..formats.quants import dequantize, quantize
from ..formats.types import GGMLType

N_GRID = 20
CLIP_RATIOS = tuple(1.0 - 0.05 * i for i in range(11))


def fake_quantize(w: np.ndarray, qtype: GGMLType, importance=None, n_threads: int = 0) -> np.ndarray:
    """w rounded to nearest into qtype and back to float32."""
    b = quantize(w, qtype, imatrix=importance, n_threads=n_threads)
    return dequantize(b, qtype, shape=w.shape, n_threads=n_threads)


def _scales(mean_abs: np.ndarray, alpha: float) -> np.ndarray:
    s = np.maximum(mean_abs.astype(np.float64), 1e-8) ** alpha
    s = np.maximum(s, 1e-4)
    s = s / np.sqrt(s.max() * s.min())
    return s.astype(np.float32)


def search_scales(x: np.ndarray, mean_abs: np.ndarray, weights: list, importance=None, n_threads: int = 0,
                  max_rows: int = 1024, seed: int = 0):
    """(best scales, best alpha, {alpha: loss}) for the weights [(W (rows, cols), qtype)] fed by x (n, cols).

    Output rows quantize independently, so the loss is estimated on at most max_rows rows of each
    weight (a fixed random subset), which keeps the search cheap for wide layers."""
    rng = np.random.default_rng(seed)
    weights = [(w if len(w) <= max_rows else w[np.sort(rng.choice(len(w), max_rows, replace=False))], t)
               for w, t in weights]
    ref = [x @ w.T for w, _ in weights]
    losses = {}
    best = (np.inf, 0.0, np.ones(x.shape[1], dtype=np.float32))
    for i in range(N_GRID):
        alpha = i / N_GRID
        s = _scales(mean_abs, alpha)
        xs = x / s
        imp = None if importance is None else importance / (s * s)
        loss = 0.0
        for (w, qtype), r in zip(weights, ref):
            wq = fake_quantize(w * s, qtype, imp if qtype.uses_imatrix else None, n_threads)
            d = xs @ wq.T - r
            loss += float(np.mean(d * d, dtype=np.float64))
        losses[alpha] = loss
        if loss < best[0]:
            best = (loss, alpha, s)
    return best[2], best[1], losses


def search_expert_scales(x: np.ndarray, ids: np.ndarray, mean_abs: np.ndarray, weights: list, importance=None,
                         n_threads: int = 0, max_rows: int = 1024, seed: int = 0):
    """(best scales, best alpha, {alpha: loss}) for stacked experts [(W (n_expert, rows, cols),
    qtype)] that share the input x (n, cols): search_scales with each expert's error taken over the
    rows routed to it (ids (n, k): each row's chosen experts). importance: (n_expert, cols) or None.

    Each expert's loss is estimated on at most max(32, max_rows * k // n_expert) of its output rows."""
    n_expert = weights[0][0].shape[0]
    ids = np.asarray(ids, dtype=np.int64)
    routed = {e: np.flatnonzero((ids == e).any(axis=1)) for e in range(n_expert)}
    routed = {e: r for e, r in routed.items() if len(r)}
    per_expert = max(32, max_rows * ids.shape[1] // n_expert)
    rng = np.random.default_rng(seed)
    groups = []  # per weight: [(expert, its sampled rows (r, cols), its reference outputs)]
    for w, qtype in weights:
        group = []
        for e, r in routed.items():
            we = w[e] if len(w[e]) <= per_expert else w[e][np.sort(rng.choice(len(w[e]), per_expert, replace=False))]
            we = np.asarray(we, dtype=np.float32)
            group.append((e, we, x[r] @ we.T))
        groups.append((group, qtype))
    n_terms = sum(ref.size for group, _ in groups for _, _, ref in group)
    losses = {}
    best = (np.inf, 0.0, np.ones(x.shape[1], dtype=np.float32))
    for i in range(N_GRID):
        alpha = i / N_GRID
        s = _scales(mean_abs, alpha)
        xs = x / s
        loss = 0.0
        for group, qtype in groups:
            if importance is not None and qtype.uses_imatrix:
                wqs = [fake_quantize(we * s, qtype, importance[e] / (s * s), n_threads) for e, we, _ in group]
            else:  # rows quantize independently: every expert's rows in one call
                wq = fake_quantize(np.concatenate([we for _, we, _ in group]) * s, qtype, None, n_threads)
                wqs = np.split(wq, np.cumsum([len(we) for _, we, _ in group])[:-1])
            for (e, _, ref), wq in zip(group, wqs):
                d = xs[routed[e]] @ wq.T - ref
                loss += float(np.sum(d * d, dtype=np.float64))
        losses[alpha] = loss / max(n_terms, 1)
        if losses[alpha] < best[0]:
            best = (losses[alpha], alpha, s)
    return best[2], best[1], losses


def search_clip(w: np.ndarray, x: np.ndarray, qtype: GGMLType, importance=None, n_threads: int = 0) -> np.ndarray:
    """w with each (row, GGUF block) range clipped to the ratio of its max |w| that minimizes the
    block's output error ((Q(clip(w)) - w) . x)^2 summed over the sample rows x (n, cols)."""
    rows, cols = w.shape
    bs = qtype.block_size
    nb = cols // bs
    wb = w.reshape(rows, nb, bs)
    xb = x.reshape(len(x), nb, bs)
    amax = np.abs(wb).max(axis=2, keepdims=True)
    best_err = np.full((rows, nb), np.inf)
    best = w.copy().reshape(rows, nb, bs)
    for ratio in CLIP_RATIOS:
        lim = amax * np.float32(ratio)
        wc = np.clip(wb, -lim, lim).reshape(rows, cols)
        dq = (fake_quantize(wc, qtype, importance, n_threads) - w).reshape(rows, nb, bs)
        # output error per (row, block): sum over samples of (dq_block . x_block)^2
        err = np.einsum("rbk,nbk->rbn", dq, xb, optimize=True)
        err = np.einsum("rbn,rbn->rb", err, err)
        better = err < best_err
        best_err[better] = err[better]
        best[better] = wc.reshape(rows, nb, bs)[better]
    return best.reshape(rows, cols)


@dataclass
class LayerPlan:
    """The scales of one layer and where they fold."""

    scales: dict = field(default_factory=dict)   # CaptureSite -> (cols,) float32
    alphas: dict = field(default_factory=dict)   # CaptureSite -> chosen alpha


def folds(site, layer: int, arrays: dict) -> bool:
    """Whether scales for `site`'s input can fold into its source in `layer`: a norm always; a
    matrix when its rows are the input's channels one to one (attn_v into attn_output only without
    grouped-query attention). arrays: the layer's tensors by name, the source's weight among them."""
    source = arrays[f"blk.{layer}.{site.source}.weight"]
    return source.ndim == 1 or source.shape[0] == arrays[site.tensors(layer)[0]].shape[1]


def fold(layer: int, plan: LayerPlan, arrays: dict) -> dict:
    """Apply a layer's scales to its float tensors {name: array}; returns the changed arrays.

    arrays holds the layer's weights as (rows, cols) float32 and its norms and biases as 1-D.
    """
    out = {k: np.array(v, dtype=np.float32) for k, v in arrays.items()}
    for site, s in plan.scales.items():
        source = f"blk.{layer}.{site.source}"
        if out[source + ".weight"].ndim == 1:  # a norm: its output channels are the input's
            out[source + ".weight"] /= s
        else:  # a matrix: its rows are the input's channels
            out[source + ".weight"] /= s[:, None]
            if source + ".bias" in out:
                out[source + ".bias"] /= s
        for name in site.tensors(layer):
            out[name] *= s
    return out


def fold_experts(layer: int, spec, s_in, s_down: dict, arrays: dict) -> dict:
    """Apply a mixture-of-experts block's scales to its float tensors {name: array}; returns the
    changed arrays. spec: the architecture's ExpertScales; s_in: (n_embd,) scales of the normed
    input or None; s_down: {expert: (n_ff_exp,) scales of its ffn_down_exps input}. The stacked
    expert tensors are (n_expert, rows, cols), their biases (n_expert, rows)."""
    p = f"blk.{layer}."
    out = {}

    def changed(name):
        if name not in out:
            out[name] = np.array(arrays[name], dtype=np.float32)
        return out[name]

    if s_in is not None:
        changed(f"{p}{spec.norm}.weight")[:] /= s_in
        for n in ("ffn_gate_exps", "ffn_up_exps", "ffn_gate_inp"):
            changed(f"{p}{n}.weight")[:] *= s_in
    for e, s in s_down.items():
        changed(f"{p}ffn_up_exps.weight")[e] /= s[:, None]
        if f"{p}ffn_up_exps.bias" in arrays:
            changed(f"{p}ffn_up_exps.bias")[e] /= s
        changed(f"{p}ffn_down_exps.weight")[e] *= s
    return out
