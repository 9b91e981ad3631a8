"""Choose per-tensor types that meet an average bits-per-weight budget at the least error.

For every quantizable tensor and every candidate type (the k-quants and Q8_0; with an importance
matrix the codebook types IQ1_S .. IQ4_XS too) the error is measured on a sample of its rows: the squared difference between the weights and their quantize-dequantize round trip,
each column weighted by its importance (the imatrix entry when there is one, else 1), relative
to the weighted energy of the weights, times the tensor's element count (so big tensors count
for what they hold). The choice minimises the summed error subject to the file's average bits
per weight (every tensor counted, the ones left in float too) staying at or under the target:
a Lagrangian sweep, then greedy upgrades that still fit.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import PyggmlError
from ..formats.quants import dequantize, quantize
from ..formats.types import GGMLType
from .policy import Policy, Rule, fallback_type

CANDIDATES = (GGMLType.Q2_K, GGMLType.Q3_K, GGMLType.Q4_K, GGMLType.Q5_K, GGMLType.Q6_K, GGMLType.Q8_0)
# With an importance matrix the codebook types join (those pyggml can write): the 1.5-3.4 bit
# types are only worth having with one, and three of them refuse to run without.
CODEBOOK = (GGMLType.IQ1_S, GGMLType.IQ1_M, GGMLType.IQ2_XXS, GGMLType.IQ2_XS, GGMLType.IQ2_S,
            GGMLType.IQ3_XXS, GGMLType.IQ3_S, GGMLType.IQ4_XS)


def candidates(with_imatrix: bool) -> tuple:
    """The types --target-bpw chooses among: the k-quants and Q8_0, and with an importance
    matrix the codebook types that have a quantizer."""
    if not with_imatrix:
        return CANDIDATES
    return CANDIDATES + tuple(t for t in CODEBOOK if t.can_quantize)
SAMPLE_ROWS = 64


@dataclasses.dataclass
class TensorCost:
    name: str
    n_elements: int
    options: list  # [(type, bits, error)] sorted by bits


def _sample_rows(x: np.ndarray, n: int) -> np.ndarray:
    x = x.reshape(-1, x.shape[-1])
    if x.shape[0] <= n:
        return x
    idx = np.linspace(0, x.shape[0] - 1, n).round().astype(np.int64)
    return x[idx]


def tensor_costs(name: str, x: np.ndarray, importance=None, candidates=CANDIDATES, n_threads: int = 0) -> TensorCost:
    """Error of each candidate type (after row-length fallbacks) on a sample of `x`'s rows."""
    rows = np.ascontiguousarray(_sample_rows(x, SAMPLE_ROWS), dtype=np.float32)
    n_per_row = rows.shape[-1]
    imp = np.ones(n_per_row, np.float32) if importance is None else np.asarray(importance, np.float32)[:n_per_row]
    energy = float(np.sum(imp * np.sum(rows.astype(np.float64) ** 2, axis=0))) or 1.0
    seen, options = set(), []
    for c in candidates:
        t = fallback_type(c, n_per_row)
        if t in seen:
            continue
        seen.add(t)
        if t.requires_imatrix and importance is None:
            continue
        try:
            q = quantize(rows, t, imatrix=importance if t.uses_imatrix else None, n_threads=n_threads)
        except ValueError:  # rows a codebook grid cannot take (ggml aborts on them): not an option
            continue
        back = dequantize(q, t, rows.shape, n_threads=n_threads)
        err = float(np.sum(imp * np.sum((rows.astype(np.float64) - back) ** 2, axis=0))) / energy
        options.append((t, t.type_size * 8 / t.block_size, err * x.size))
    options.sort(key=lambda o: o[1])
    return TensorCost(name, int(x.size), options)


def choose_types(costs: list, fixed_bits: float, n_total: int, target_bpw: float) -> dict:
    """{tensor name: type} with sum of bits <= target_bpw * n_total, least summed error."""
    budget = target_bpw * n_total - fixed_bits
    lowest = sum(c.options[0][1] * c.n_elements for c in costs)
    if lowest > budget + 1e-6:
        floor = (lowest + fixed_bits) / n_total
        raise PyggmlError(f"--target-bpw {target_bpw:g} is below the smallest reachable average, {floor:.3f} bits per weight")

    def pick(lam: float) -> list:
        return [min(range(len(c.options)), key=lambda i: c.options[i][2] + lam * c.options[i][1] * c.n_elements)
                for c in costs]

    def bits(choice) -> float:
        return sum(c.options[i][1] * c.n_elements for c, i in zip(costs, choice))

    lo, hi = 0.0, 1.0
    while bits(pick(hi)) > budget and hi < 1e12:
        hi *= 4
    if bits(pick(lo)) <= budget:
        choice = pick(lo)
    else:
        for _ in range(60):
            mid = (lo + hi) / 2
            if bits(pick(mid)) > budget:
                lo = mid
            else:
                hi = mid
        choice = pick(hi)
    # spend what is left on the upgrades with the best error drop per bit
    used = bits(choice)
    while True:
        best = None
        for k, (c, i) in enumerate(zip(costs, choice)):
            for j in range(i + 1, len(c.options)):
                extra = (c.options[j][1] - c.options[i][1]) * c.n_elements
                gain = c.options[i][2] - c.options[j][2]
                if extra > 0 and used + extra <= budget and gain > 0:
                    score = gain / extra
                    if best is None or score > best[0]:
                        best = (score, k, j, extra)
        if best is None:
            break
        _, k, j, extra = best
        choice[k] = j
        used += extra
    return {c.name: c.options[i][0] for c, i in zip(costs, choice)}


def policy_from_types(types: dict, name: str = "target-bpw") -> Policy:
    """A policy that gives each named tensor its type (exact-name rules)."""
    import re

    return Policy(tuple(Rule("^" + re.escape(n) + "$", t) for n, t in types.items()), GGMLType.Q8_0, name)
