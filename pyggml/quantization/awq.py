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
