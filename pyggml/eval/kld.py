"""KL divergence of a model's next-token distributions against a base model's saved ones.

The statistics are llama.cpp's (perplexity --kl-divergence): per scored token the KL divergence
KL(base || model), the change of the target token's probability (delta p), whether both pick the
same top token, and the perplexities of both with their correlated uncertainties; reported as
means with standard errors and KLD / delta-p percentiles.

The base file is our own compact format, not llama.cpp's (which stores every log-probability of
every scored token, uint16-compressed: ~5 GB for 10k tokens of a 262k vocabulary). We keep, per
scored token, the base's NLL of the target, its top-k log-probabilities, and m tokens drawn from
the rest of its distribution (each with probability p_i / p_rest, a fixed seed per chunk):
    KLD = sum_{i in top k} p_i (log p_i - log q_i)  +  p_rest * mean_{s drawn} (log p_s - log q_s)
The second term is an unbiased estimate of the tail's exact contribution, so the mean KLD is
unbiased; single tokens can come out slightly below 0. With m = 0 the tail is one bucket,
p_rest log(p_rest / q_rest), a lower bound (on Gemma 3 at KLD 0.005, top-32 alone gives 70 % of
the exact value: a 262k-token tail carries much of a small KLD). llama.cpp instead drops base
tokens with log p < -16.

File layout (little-endian):
    8 bytes  magic b"PYGKLD01"
    6 x u32  n_ctx, n_vocab, n_chunk, top_k, first, n_tail
    i32      tokens      (n_chunk, n_ctx)       the chunked text, so the comparison needs no text
    f32      nll         (n_chunk, n_score)     base NLL of each scored target
    i32      top_ids     (n_chunk, n_score, k)  base top-k token ids, most probable first
    f32      top_logp    (n_chunk, n_score, k)  their log-probabilities
    i32      tail_ids    (n_chunk, n_score, m)  tokens drawn from the rest (m = n_tail)
    f32      tail_logp   (n_chunk, n_score, m)  their log-probabilities
with n_score = n_ctx - 1 - first.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from ..errors import PyggmlError

MAGIC = b"PYGKLD01"
_HEADER = struct.Struct("<8s6I")
_DTYPES = ("<i4", "<f4", "<i4", "<f4", "<i4", "<f4")
DEFAULT_TOP_K = 32
DEFAULT_TAIL = 32


@dataclass
class BaseLogits:
    """A base model's scored distributions over the chunks of a text."""

    tokens: np.ndarray    # (n_chunk, n_ctx) int32
    nll: np.ndarray       # (n_chunk, n_score) float32
    top_ids: np.ndarray   # (n_chunk, n_score, k) int32
    top_logp: np.ndarray  # (n_chunk, n_score, k) float32
    n_vocab: int
    tail_ids: Optional[np.ndarray] = None   # (n_chunk, n_score, m) int32
    tail_logp: Optional[np.ndarray] = None  # (n_chunk, n_score, m) float32

    def __post_init__(self):
        if self.tail_ids is None:
            shape = self.top_ids.shape[:2] + (0,)
            self.tail_ids = np.zeros(shape, np.int32)
            self.tail_logp = np.zeros(shape, np.float32)

    @property
    def n_ctx(self) -> int:
        return self.tokens.shape[1]

    @property
    def first(self) -> int:
        return self.n_ctx // 2

    @property
    def n_chunk(self) -> int:
        return self.tokens.shape[0]

    @property
    def top_k(self) -> int:
        return self.top_ids.shape[2]

    @property
    def n_tail(self) -> int:
        return self.tail_ids.shape[2]

    def _arrays(self):
        return self.tokens, self.nll, self.top_ids, self.top_logp, self.tail_ids, self.tail_logp

    def save(self, path) -> None:
        """Write atomically (temporary name, then rename)."""
        path = os.fspath(path)
        tmp = path + ".tmp"
        header = _HEADER.pack(MAGIC, self.n_ctx, self.n_vocab, self.n_chunk, self.top_k, self.first, self.n_tail)
        try:
            with open(tmp, "wb") as f:
                f.write(header)
                for a, dt in zip(self._arrays(), _DTYPES):
                    f.write(np.ascontiguousarray(a, dtype=dt).tobytes())
            os.replace(tmp, path)
        except OSError as e:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise PyggmlError(f"{path}: cannot write the base logits ({e.strerror})") from None

    @classmethod
    def load(cls, path) -> "BaseLogits":
        path = os.fspath(path)
        try:
            data = open(path, "rb").read()
        except FileNotFoundError:
            raise PyggmlError(f"{path}: no such base logits file") from None
        except OSError as e:
            raise PyggmlError(f"{path}: cannot read the base logits ({e.strerror})") from None
        if len(data) < _HEADER.size or data[:8] != MAGIC:
            raise PyggmlError(f"{path}: not a pyggml base-logits file (expected magic {MAGIC.decode()})")
        _, n_ctx, n_vocab, n_chunk, k, first, m = _HEADER.unpack_from(data)
        if n_ctx < 4 or first != n_ctx // 2 or n_chunk < 1 or k < 1 or n_vocab < 1 or k > n_vocab or m > 1 << 16:
            raise PyggmlError(f"{path}: inconsistent header (n_ctx {n_ctx}, first {first}, n_chunk {n_chunk}, "
                              f"top_k {k}, n_vocab {n_vocab})")
        n_score = n_ctx - 1 - first
        shapes = [(n_chunk, n_ctx), (n_chunk, n_score)] + [(n_chunk, n_score, k)] * 2 + [(n_chunk, n_score, m)] * 2
        need = _HEADER.size + 4 * sum(math.prod(s) for s in shapes)
        if len(data) != need:
            raise PyggmlError(f"{path}: {len(data)} bytes, but its header describes {need} (truncated or corrupt)")
        arrays, off = [], _HEADER.size
        for shape, dt in zip(shapes, _DTYPES):
            count = math.prod(shape)
            arrays.append(np.frombuffer(data, dtype=dt, count=count, offset=off).reshape(shape))
            off += 4 * count
        tokens, nll, top_ids, top_logp, tail_ids, tail_logp = arrays
        for ids in (tokens, top_ids, tail_ids):
            if ids.size and (ids.min() < 0 or ids.max() >= n_vocab):
                raise PyggmlError(f"{path}: token ids outside the vocabulary of {n_vocab}")
        return cls(tokens, nll, top_ids, top_logp, n_vocab, tail_ids, tail_logp)


def top_k_logprobs(logits: np.ndarray, lse: np.ndarray, k: int):
    """(ids, log-probs) of the k most probable tokens per row, most probable first (lowest id on ties)."""
    n_vocab = logits.shape[1]
    k = min(k, n_vocab)
    if k < n_vocab:
        ids = np.sort(np.argpartition(-logits, k - 1, axis=1)[:, :k], axis=1)
    else:
        ids = np.broadcast_to(np.arange(n_vocab), logits.shape).copy()
    vals = np.take_along_axis(logits, ids, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")  # ids ascending within equal values
    ids = np.take_along_axis(ids, order, axis=1).astype(np.int32)
    logp = (np.take_along_axis(vals, order, axis=1).astype(np.float64) - lse[:, None]).astype(np.float32)
    return ids, logp


def sample_tail(logits: np.ndarray, lse: np.ndarray, top_ids: np.ndarray, m: int, seed: int):
    """m token ids per row drawn from the distribution outside top_ids (probability p_i / p_rest),
    and their log-probabilities; ids 0 and log p = 0 where the top k hold all the mass."""
    n, n_vocab = logits.shape
    ids = np.zeros((n, m), np.int32)
    rng = np.random.default_rng(seed)
    for r in range(n):
        p = np.exp(logits[r].astype(np.float64) - lse[r])
        p[top_ids[r]] = 0.0
        cdf = np.cumsum(p)
        if m and cdf[-1] > 0:
            ids[r] = np.minimum(np.searchsorted(cdf, rng.random(m) * cdf[-1], side="right"), n_vocab - 1)
    logp = (logits[np.arange(n)[:, None], ids].astype(np.float64) - lse[:, None]).astype(np.float32)
    return ids, logp


def kld_rows(logits: np.ndarray, lse: np.ndarray, top_ids: np.ndarray, top_logp: np.ndarray,
             tail_ids: Optional[np.ndarray] = None, tail_logp: Optional[np.ndarray] = None) -> np.ndarray:
    """KL(base || model) per row (float64) from the base's top-k and tail sample and the model's logits."""
    rows = np.arange(logits.shape[0])[:, None]
    q_logp = logits[rows, top_ids].astype(np.float64) - lse[:, None]
    p_logp = top_logp.astype(np.float64)
    p = np.exp(p_logp)
    kl = np.sum(p * (p_logp - q_logp), axis=1)
    p_rest = np.maximum(1.0 - p.sum(axis=1), 0.0)
    if tail_ids is not None and tail_ids.shape[1] > 0:
        tq = logits[rows, tail_ids].astype(np.float64) - lse[:, None]
        return kl + p_rest * np.mean(tail_logp.astype(np.float64) - tq, axis=1)
    q_rest = 1.0 - np.exp(q_logp).sum(axis=1)
    tail = (p_rest > 0) & (q_rest > 0)
    kl[tail] += p_rest[tail] * (np.log(p_rest[tail]) - np.log(q_rest[tail]))
    # a model that puts (almost) no mass where the base still has some: bounded by the float floor
    hole = (p_rest > 1e-6) & (q_rest <= 0)
    kl[hole] += p_rest[hole] * (np.log(p_rest[hole]) - np.log(1e-30))
    return kl


def _mean_and_uncertainty(total: float, total2: float, count: int):
    """llama.cpp's mean and standard error (0 below 11 values)."""
    if count < 1:
        return 0.0, 0.0
    f = total / count
    df = total2 / count - f * f
    return f, (math.sqrt(df / (count - 1)) if df > 0 and count > 10 else 0.0)


def _covariance(sa: float, sb: float, sab: float, count: int) -> float:
    if count < 10:
        return 0.0
    return (sab / count - (sa / count) * (sb / count)) / (count - 1)


@dataclass
class KldStats:
    """Running sums of llama.cpp's kl_divergence_result, plus the per-token values for percentiles."""

    sum_nll: float = 0.0
    sum_nll2: float = 0.0
    sum_nll_base: float = 0.0
    sum_nll_base2: float = 0.0
    sum_nll_nll_base: float = 0.0
    sum_kld: float = 0.0
    sum_kld2: float = 0.0
    sum_p_diff: float = 0.0
    sum_p_diff2: float = 0.0
    sum_p_diff4: float = 0.0
    max_p_diff: float = 0.0
    n_same_top: int = 0
    count: int = 0
    kld_values: list = field(default_factory=list, repr=False)
    p_diff_values: list = field(default_factory=list, repr=False)

    def add(self, nll, nll_base, kld, same_top) -> None:
        nll = np.asarray(nll, np.float64)
        nll_base = np.asarray(nll_base, np.float64)
        kld = np.asarray(kld, np.float64)
        self.sum_nll += nll.sum()
        self.sum_nll2 += (nll * nll).sum()
        self.sum_nll_base += nll_base.sum()
        self.sum_nll_base2 += (nll_base * nll_base).sum()
        self.sum_nll_nll_base += (nll * nll_base).sum()
        self.sum_kld += kld.sum()
        self.sum_kld2 += (kld * kld).sum()
        p_diff = np.exp(-nll) - np.exp(-nll_base)
        p_diff2 = p_diff * p_diff
        self.sum_p_diff += p_diff.sum()
        self.sum_p_diff2 += p_diff2.sum()
        self.sum_p_diff4 += (p_diff2 * p_diff2).sum()
        if p_diff.size:
            self.max_p_diff = max(self.max_p_diff, float(np.abs(p_diff).max()))
        self.n_same_top += int(np.count_nonzero(same_top))
        self.count += int(nll.size)
        self.kld_values.append(kld.astype(np.float32))
        self.p_diff_values.append(p_diff.astype(np.float32))

    # -- the numbers llama.cpp reports ----------------------------------------------------

    def ppl(self):
        m, u = _mean_and_uncertainty(self.sum_nll, self.sum_nll2, self.count)
        return math.exp(m), math.exp(m) * u

    def ppl_base(self):
        m, u = _mean_and_uncertainty(self.sum_nll_base, self.sum_nll_base2, self.count)
        return math.exp(m), math.exp(m) * u

    def log_ppl_ratio(self):
        m, u = _mean_and_uncertainty(self.sum_nll, self.sum_nll2, self.count)
        mb, ub = _mean_and_uncertainty(self.sum_nll_base, self.sum_nll_base2, self.count)
        cov = _covariance(self.sum_nll, self.sum_nll_base, self.sum_nll_nll_base, self.count)
        return m - mb, math.sqrt(max(u * u + ub * ub - 2.0 * cov, 0.0))

    def ppl_ratio(self):
        v, u = self.log_ppl_ratio()
        return math.exp(v), math.exp(v) * u

    def kld(self):
        return _mean_and_uncertainty(self.sum_kld, self.sum_kld2, self.count)

    def p_diff_rms(self):
        mse, mse_u = _mean_and_uncertainty(self.sum_p_diff2, self.sum_p_diff4, self.count)
        rms = math.sqrt(mse)
        return rms, (0.5 / rms * mse_u if rms > 0 else 0.0)

    def same_top(self):
        p = self.n_same_top / self.count if self.count else 0.0
        return p, (math.sqrt(p * (1 - p) / (self.count - 1)) if self.count > 1 else 0.0)

    def summary(self) -> dict:
        """The headline numbers, as plain floats (for tables and JSON)."""
        kld = np.concatenate(self.kld_values) if self.kld_values else np.zeros(0, np.float32)
        pct = {q: float(np.percentile(kld, q)) for q in (99.9, 99.0, 95.0, 90.0, 50.0, 10.0, 5.0, 1.0, 0.1)} \
            if kld.size else {}
        return {
            "count": self.count,
            "ppl": self.ppl()[0], "ppl_unc": self.ppl()[1],
            "ppl_base": self.ppl_base()[0], "ppl_base_unc": self.ppl_base()[1],
            "ppl_ratio": self.ppl_ratio()[0], "ppl_ratio_unc": self.ppl_ratio()[1],
            "kld": self.kld()[0], "kld_unc": self.kld()[1],
            "kld_max": float(kld.max()) if kld.size else 0.0,
            "kld_percentiles": pct,
            "p_diff_rms": self.p_diff_rms()[0], "p_diff_rms_unc": self.p_diff_rms()[1],
            "same_top": self.same_top()[0], "same_top_unc": self.same_top()[1],
        }

    def format_chunk_line(self, chunk: int) -> str:
        """One row of llama.cpp's per-chunk table (see CHUNK_HEADER)."""
        ppl, ppl_u = self.ppl()
        lr, lr_u = self.log_ppl_ratio()
        k, k_u = self.kld()
        rms, rms_u = self.p_diff_rms()
        top, top_u = self.same_top()
        return (f"{chunk:4d}    {ppl:9.4f} ± {ppl_u:9.4f}    {lr:10.5f} ± {lr_u:10.5f}    {k:10.5f} ± {k_u:10.5f}"
                f"    {100 * rms:6.3f} ± {100 * rms_u:6.3f} %    {100 * top:6.3f} ± {100 * top_u:6.3f} %")

    def format_report(self) -> str:
        """The closing statistics, in llama.cpp's layout."""
        kld = np.sort(np.concatenate(self.kld_values)) if self.kld_values else np.zeros(1, np.float32)
        pdf = np.sort(np.concatenate(self.p_diff_values)) if self.p_diff_values else np.zeros(1, np.float32)
        ppl, ppl_u = self.ppl()
        pb, pb_u = self.ppl_base()
        m_u = _mean_and_uncertainty(self.sum_nll, self.sum_nll2, self.count)[1]
        mb_u = _mean_and_uncertainty(self.sum_nll_base, self.sum_nll_base2, self.count)[1]
        cov = _covariance(self.sum_nll, self.sum_nll_base, self.sum_nll_nll_base, self.count)
        cor = cov / (m_u * mb_u) if m_u > 0 and mb_u > 0 else 0.0
        lr, lr_u = self.log_ppl_ratio()
        r, r_u = self.ppl_ratio()
        d_u = math.sqrt(max(ppl_u ** 2 + pb_u ** 2 - 2.0 * ppl * pb * cov, 0.0))
        k, k_u = self.kld()
        pd_mean, pd_u = _mean_and_uncertainty(self.sum_p_diff, self.sum_p_diff2, self.count)
        rms, rms_u = self.p_diff_rms()
        top, top_u = self.same_top()

        def pc(v, q):
            return float(np.percentile(v, q))

        lines = [
            "====== Perplexity statistics ======",
            f"Mean PPL(Q)                   : {ppl:10.6f} ± {ppl_u:10.6f}",
            f"Mean PPL(base)                : {pb:10.6f} ± {pb_u:10.6f}",
            f"Cor(ln(PPL(Q)), ln(PPL(base))): {100 * cor:6.2f}%",
            f"Mean ln(PPL(Q)/PPL(base))     : {lr:10.6f} ± {lr_u:10.6f}",
            f"Mean PPL(Q)/PPL(base)         : {r:10.6f} ± {r_u:10.6f}",
            f"Mean PPL(Q)-PPL(base)         : {ppl - pb:10.6f} ± {d_u:10.6f}",
            "",
            "====== KL divergence statistics ======",
            f"Mean    KLD: {k:10.6f} ± {k_u:10.6f}",
            f"Maximum KLD: {kld[-1]:10.6f}",
        ]
        for q, label in ((99.9, "99.9%"), (99.0, "99.0%"), (95.0, "95.0%"), (90.0, "90.0%")):
            lines.append(f"{label}   KLD: {pc(kld, q):10.6f}")
        lines.append(f"Median  KLD: {pc(kld, 50):10.6f}")
        for q, label in ((10.0, "10.0%"), (5.0, " 5.0%"), (1.0, " 1.0%"), (0.1, " 0.1%")):
            lines.append(f"{label}   KLD: {pc(kld, q):10.6f}")
        lines += [
            f"Minimum KLD: {kld[0]:10.6f}",
            "",
            "====== Token probability statistics ======",
            f"Mean    Δp: {100 * pd_mean:6.3f} ± {100 * pd_u:5.3f} %",
            f"Maximum Δp: {100 * pdf[-1]:6.3f}%",
        ]
        for q, label in ((99.9, "99.9%"), (99.0, "99.0%"), (95.0, "95.0%"), (90.0, "90.0%"), (75.0, "75.0%")):
            lines.append(f"{label}   Δp: {100 * pc(pdf, q):6.3f}%")
        lines.append(f"Median  Δp: {100 * pc(pdf, 50):6.3f}%")
        for q, label in ((25.0, "25.0%"), (10.0, "10.0%"), (5.0, " 5.0%"), (1.0, " 1.0%"), (0.1, " 0.1%")):
            lines.append(f"{label}   Δp: {100 * pc(pdf, q):6.3f}%")
        lines += [
            f"Minimum Δp: {100 * pdf[0]:6.3f}%",
            f"RMS Δp    : {100 * rms:6.3f} ± {100 * rms_u:5.3f} %",
            f"Same top p: {100 * top:6.3f} ± {100 * top_u:5.3f} %",
        ]
        return "\n".join(lines)


CHUNK_HEADER = ("chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence"
                "              Δp RMS            Same top p")


def collect_base(chunk_scores, tokens: np.ndarray, n_vocab: int, on_chunk=None) -> BaseLogits:
    """Gather a BaseLogits from score_chunks(..., hook=base_hook(top_k, n_tail)) results."""
    cols = [[], [], [], [], []]
    for cs in chunk_scores:
        cols[0].append(cs.nll.astype(np.float32))
        for c, a in zip(cols[1:], cs.extra):
            c.append(a)
        cs.logits = None  # the (n_score, n_vocab) block is no longer needed
        if on_chunk is not None:
            on_chunk(cs)
    nll, top_ids, top_logp, tail_ids, tail_logp = (np.stack(c) for c in cols)
    return BaseLogits(np.asarray(tokens, np.int32), nll, top_ids, top_logp, n_vocab, tail_ids, tail_logp)


def base_hook(top_k: int = DEFAULT_TOP_K, n_tail: int = DEFAULT_TAIL):
    """Per-chunk work for saving a base: the top-k log-probabilities and a tail sample."""

    def hook(cs):
        ids, logp = top_k_logprobs(cs.logits, cs.lse, top_k)
        t_ids, t_logp = sample_tail(cs.logits, cs.lse, ids, n_tail, seed=cs.index)
        return ids, logp, t_ids, t_logp

    return hook


def compare_hook(base: BaseLogits):
    """Per-chunk work for comparing against a base: (KLD per token, same-top mask)."""

    def hook(cs):
        i = cs.index
        kld = kld_rows(cs.logits, cs.lse, base.top_ids[i], base.top_logp[i], base.tail_ids[i], base.tail_logp[i])
        same = cs.argmax == base.top_ids[i, :, 0]
        return kld, same

    return hook


def check_compatible(base: BaseLogits, n_vocab: int, path: Optional[str] = None) -> None:
    if base.n_vocab != n_vocab:
        where = f"{path}: " if path else ""
        raise PyggmlError(f"{where}the base logits have a vocabulary of {base.n_vocab}, the model {n_vocab}")
