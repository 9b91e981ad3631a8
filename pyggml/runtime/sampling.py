"""Next-token sampling from a logits vector, in llama.cpp's default order.

The chain is: logit bias, repetition/frequency/presence penalties over the last
`penalty_last_n` tokens, top-k, typical-p, top-p, min-p, temperature, then a draw
from the softmax with a seeded numpy generator (temperature <= 0: greedy argmax).
Filters work on the untempered logits, as llama.cpp's default sampler order does.
Everything is vectorised: top-k uses np.argpartition, and the sorts needed by
top-p / typical-p only ever see the surviving candidates.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Iterable, Mapping, Sequence

import numpy as np


@dataclasses.dataclass
class SamplingParams:
    """Sampling settings; the defaults are llama.cpp's."""

    temperature: float = 0.8
    top_k: int = 40             # <= 0: off
    top_p: float = 0.95         # >= 1: off
    min_p: float = 0.05         # <= 0: off
    typical_p: float = 1.0      # >= 1: off
    repeat_penalty: float = 1.0     # 1: off; divides positive logits, multiplies negative ones
    frequency_penalty: float = 0.0  # subtracted once per occurrence in the window
    presence_penalty: float = 0.0   # subtracted once if the token is in the window
    penalty_last_n: int = 64        # window of recent tokens the penalties look at; 0: off, -1: all
    logit_bias: Mapping[int, float] | None = None  # token id -> added to its logit (-inf bans it)
    min_keep: int = 0           # filters keep at least this many candidates (and always one)
    seed: int | None = None     # None: nondeterministic

    @classmethod
    def greedy(cls) -> "SamplingParams":
        return cls(temperature=0.0, top_k=0, top_p=1.0, min_p=0.0)


def apply_penalties(logits: np.ndarray, recent: Sequence[int] | np.ndarray, params: SamplingParams) -> None:
    """llama.cpp's penalties sampler, in place, on the tokens seen in `recent`."""
    if len(recent) == 0 or (params.repeat_penalty == 1.0 and params.frequency_penalty == 0.0
                            and params.presence_penalty == 0.0):
        return
    ids, counts = np.unique(np.asarray(recent, dtype=np.int64), return_counts=True)
    ok = (ids >= 0) & (ids < logits.shape[0])
    ids, counts = ids[ok], counts[ok]
    vals = logits[ids]
    rp = np.float32(params.repeat_penalty)
    vals = np.where(vals <= 0, vals * rp, vals / rp)
    vals -= (counts * np.float32(params.frequency_penalty) + np.float32(params.presence_penalty)).astype(np.float32)
    logits[ids] = vals


def _probs(vals: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax in float32 (fast on a 262k vocabulary); sums are taken in float64."""
    e = np.exp((vals - vals.max()) * np.float32(1.0 / temperature), dtype=np.float32)
    return e / e.sum(dtype=np.float64)


def _keep_count(n_needed: int, min_keep: int, n: int) -> int:
    return min(n, max(n_needed, min_keep, 1))


def _smallest_covering(key: np.ndarray, probs: np.ndarray, mass: float) -> np.ndarray:
    """Indices of the entries with the smallest `key`, in key order, enough of them
    that their probability exceeds `mass` (all of them if it never does).

    The answer is a prefix of the full key order; a threshold found with one
    np.partition bounds it, so only the entries under the threshold get sorted."""
    n = key.shape[0]
    p_max = float(probs.max())
    for k in (1024, 16384):
        if k >= n:
            break
        if k * p_max <= mass:  # k entries cannot hold the mass: a flat distribution
            continue
        threshold = np.partition(key, k)[k]
        idx = np.flatnonzero(key <= threshold)
        if probs[idx].sum(dtype=np.float64) > mass:
            return idx[np.argsort(key[idx], kind="stable")]
    return np.argsort(key, kind="stable")


def _take(ids: np.ndarray | None, vals: np.ndarray, sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Select candidates by index array or mask; ids None means candidate i is token i."""
    if ids is None:
        ids = np.flatnonzero(sel) if sel.dtype == bool else sel
    else:
        ids = ids[sel]
    return ids, vals[sel]


def filter_candidates(logits: np.ndarray, params: SamplingParams) -> tuple[np.ndarray, np.ndarray]:
    """(token ids, logits) of the candidates left by top-k, typical-p, top-p and min-p."""
    n = logits.shape[0]
    k = params.top_k
    if 0 < k < n:
        k = max(k, params.min_keep)
        ids = np.argpartition(logits, n - k)[n - k:]
        ids = ids[np.argsort(-logits[ids], kind="stable")]  # sorted, largest first
        vals = logits[ids]
        is_sorted = True
    else:
        ids = None  # identity: candidate i is token i (saves gathers on the full vocabulary)
        vals = logits
        is_sorted = False
    min_keep = params.min_keep

    if params.typical_p < 1.0 and len(vals) > 1:
        p = _probs(vals)
        logp = np.log(np.maximum(p, 1e-30))
        entropy = -(p * logp).sum(dtype=np.float64)
        order = _smallest_covering(np.abs(-logp - entropy), p, params.typical_p)
        cum = np.cumsum(p[order], dtype=np.float64)
        last = int(np.searchsorted(cum, params.typical_p, side="right")) + 1
        order = order[:_keep_count(last, min_keep, len(order))]
        ids, vals = _take(ids, vals, order)
        is_sorted = False

    if params.top_p < 1.0 and len(vals) > 1:
        p = _probs(vals)
        if is_sorted:
            order = np.arange(len(vals))
        else:  # the most probable tokens first, just enough of them
            order = _smallest_covering(-vals, p, params.top_p)
        cum = np.cumsum(p[order], dtype=np.float64)
        last = int(np.searchsorted(cum, params.top_p, side="left")) + 1
        order = order[:_keep_count(last, min_keep, len(order))]
        ids, vals = _take(ids, vals, order)
        is_sorted = True

    if params.min_p > 0.0 and len(vals) > 1:
        threshold = vals.max() + np.float32(np.log(params.min_p))
        mask = vals >= threshold
        if mask.sum() < max(min_keep, 1):
            mask = np.zeros_like(mask)
            mask[np.argsort(-vals, kind="stable")[:max(min_keep, 1)]] = True
        ids, vals = _take(ids, vals, mask)
    return (np.arange(n) if ids is None else ids), vals


def sample(logits: np.ndarray, params: SamplingParams, rng: np.random.Generator | None = None,
           recent: Sequence[int] | np.ndarray = ()) -> int:
    """One token id drawn from `logits` (shape (n_vocab,)); `recent` feeds the penalties."""
    logits = np.array(logits, dtype=np.float32, copy=True).reshape(-1)
    if params.logit_bias:
        bias_ids = np.fromiter(params.logit_bias.keys(), dtype=np.int64)
        bias = np.fromiter(params.logit_bias.values(), dtype=np.float32)
        if bias_ids.size and (bias_ids.min() < 0 or bias_ids.max() >= logits.shape[0]):
            raise ValueError("logit_bias has a token id outside the vocabulary")
        np.add.at(logits, bias_ids, bias)
    if params.penalty_last_n != 0 and len(recent):
        window = recent if params.penalty_last_n < 0 else recent[-params.penalty_last_n:]
        apply_penalties(logits, window, params)
    if params.temperature <= 0.0:
        return int(np.argmax(logits))
    ids, vals = filter_candidates(logits, params)
    if len(ids) == 1:
        return int(ids[0])
    if not np.isfinite(vals.max()):
        raise ValueError("logits are not finite")
    weights = np.exp((vals - vals.max()) * np.float32(1.0 / params.temperature), dtype=np.float32)
    if rng is None:
        rng = np.random.default_rng(params.seed)
    return int(ids[_draw(weights, rng.random())])


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities of a logits row, float32."""
    x = np.asarray(logits, dtype=np.float32)
    x = x - x.max()
    return x - np.log(np.exp(x, dtype=np.float32).sum(dtype=np.float64)).astype(np.float32)


def _draw(weights: np.ndarray, u: float) -> int:
    """Index i with probability weights[i] / sum, by inverse CDF at u in [0, 1).

    Two levels (block sums, then one block) keep the float64 prefix sums short."""
    n = weights.shape[0]
    block = 512
    if n <= 4 * block:
        cum = np.cumsum(weights, dtype=np.float64)
        return min(int(np.searchsorted(cum, u * cum[-1], side="right")), n - 1)
    n_full = n - n % block
    sums = weights[:n_full].reshape(-1, block).sum(axis=1, dtype=np.float64)  # (n_full / block)
    if n_full < n:
        sums = np.append(sums, weights[n_full:].sum(dtype=np.float64))
    cum_blocks = np.cumsum(sums)
    target = u * cum_blocks[-1]
    b = min(int(np.searchsorted(cum_blocks, target, side="right")), len(sums) - 1)
    inner = np.cumsum(weights[b * block:(b + 1) * block], dtype=np.float64)
    inner += cum_blocks[b - 1] if b > 0 else 0.0
    return b * block + min(int(np.searchsorted(inner, target, side="right")), len(inner) - 1)


class Sampler:
    """Stateful sampler: a seeded generator plus the window of recent tokens."""

    def __init__(self, params: SamplingParams | None = None, **overrides):
        params = params or SamplingParams()
        self.params = dataclasses.replace(params, **overrides) if overrides else params
        self.rng = np.random.default_rng(self.params.seed)
        maxlen = None if self.params.penalty_last_n < 0 else max(self.params.penalty_last_n, 0)
        self.recent: collections.deque[int] = collections.deque(maxlen=maxlen)

    def accept(self, tokens: int | Iterable[int]) -> None:
        """Record tokens (prompt or generated) for the penalties window."""
        if isinstance(tokens, (int, np.integer)):
            self.recent.append(int(tokens))
        else:
            self.recent.extend(int(t) for t in tokens)

    def sample(self, logits: np.ndarray) -> int:
        """Draw the next token and record it."""
        token = sample(logits, self.params, self.rng, np.fromiter(self.recent, np.int64, len(self.recent)))
        self.accept(token)
        return token

    def reset(self) -> None:
        self.rng = np.random.default_rng(self.params.seed)
        self.recent.clear()
