"""Perplexity of a model over a text, computed the way llama.cpp's perplexity tool does.

llama.cpp's conventions, kept so the numbers compare with llama-perplexity on the same file:
- the whole text is tokenized once, with BOS when the vocabulary adds one;
- it is cut into n_chunk = n_tokens // n_ctx chunks of n_ctx tokens (the tail is dropped),
  and at least 2 * n_ctx tokens are required (pyggml.text.corpus does both);
- each chunk is evaluated from an empty cache; when the vocabulary adds BOS, the chunk's
  first token is replaced by BOS for the evaluation;
- only the second half is scored: the logits at positions first = n_ctx // 2 ... n_ctx - 2
  predict tokens first + 1 ... n_ctx - 1 (n_ctx - 1 - first tokens per chunk);
- PPL = exp(mean NLL), and its uncertainty is PPL * sqrt((E[nll^2] - E[nll]^2) / (count - 1)).

Only what is scored is computed: the first half of a chunk runs without logits, the second
half (minus the last token, whose logits nobody reads) with them, and the softmax of one
chunk runs on a worker thread while the model evaluates the next. A model loaded with
n_seq_max > 1 evaluates that many chunks in one forward pass, each chunk a sequence of its
own (llama.cpp's n_seq = n_batch / n_ctx): their tokens share each matrix product.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import numpy as np

from ..errors import PyggmlError

# A logit source maps one chunk's input tokens (n_ctx,) and `first` to the float32 logits
# (n_ctx - 1 - first, n_vocab) at positions first ... n_ctx - 2.
LogitSource = Callable[[np.ndarray, int], np.ndarray]

_ROWS_PER_BLOCK = 32  # softmax rows per step: bounds the temporaries for 256k-token vocabularies


def chunk_input(chunk: np.ndarray, bos_id: Optional[int]) -> np.ndarray:
    """The tokens evaluated for a chunk: its first token replaced by BOS when the vocabulary adds one."""
    out = np.array(chunk, dtype=np.int32)
    if bos_id is not None and bos_id >= 0:
        out[0] = bos_id
    return out


class ModelLogits:
    """The LogitSource of a pyggml Model: first half without logits, then the scored positions.

    group(inputs, first) does the same for up to n_seq chunks at once (n_seq is the model's
    n_seq_max), each chunk a sequence of its own in one forward pass per half."""

    def __init__(self, model):
        self.model = model
        self.n_seq = int(getattr(model, "n_seq_max", 1))

    def __call__(self, inputs: np.ndarray, first: int) -> np.ndarray:
        self.model.reset()
        self.model.eval(inputs[:first])
        return self.model.eval(inputs[first:-1], all_logits=True)

    def group(self, inputs: "list[np.ndarray]", first: int) -> "list[np.ndarray]":
        if len(inputs) == 1:
            return [self(inputs[0], first)]
        self.model.reset()
        self.model.eval_batch([(s, x[:first]) for s, x in enumerate(inputs)])
        return self.model.eval_batch([(s, x[first:-1]) for s, x in enumerate(inputs)], all_logits=True)


def model_logit_source(model) -> ModelLogits:
    """Logits from a pyggml Model (several chunks per pass when it holds several sequences)."""
    return ModelLogits(model)


def log_softmax_stats(logits: np.ndarray, targets: np.ndarray):
    """Per row: NLL of the target (float64), log-sum-exp (float64) and the argmax (first maximum).

    As llama.cpp: max in float32, exp of (logit - max) in float32, summed in float64.
    """
    n = logits.shape[0]
    nll = np.empty(n, np.float64)
    lse = np.empty(n, np.float64)
    top = np.empty(n, np.int64)
    for r0 in range(0, n, _ROWS_PER_BLOCK):
        block = logits[r0:r0 + _ROWS_PER_BLOCK]
        rows = np.arange(block.shape[0])
        imax = block.argmax(axis=1)
        vmax = block[rows, imax]
        sum_exp = np.exp(block - vmax[:, None]).sum(axis=1, dtype=np.float64)
        lse_block = vmax.astype(np.float64) + np.log(sum_exp)
        lse[r0:r0 + len(rows)] = lse_block
        nll[r0:r0 + len(rows)] = lse_block - block[rows, targets[r0:r0 + len(rows)]]
        top[r0:r0 + len(rows)] = imax
    return nll, lse, top


@dataclass
class NllStats:
    """Running sums of per-token negative log-likelihoods."""

    count: int = 0
    total: float = 0.0
    total2: float = 0.0

    def add(self, nll: np.ndarray) -> None:
        self.count += int(nll.size)
        self.total += float(np.sum(nll, dtype=np.float64))
        self.total2 += float(np.sum(np.square(nll, dtype=np.float64)))

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else float("nan")

    @property
    def mean_uncertainty(self) -> float:
        """Standard error of the mean NLL, as llama.cpp computes it."""
        if self.count < 2:
            return float("nan")
        var = self.total2 / self.count - self.mean ** 2
        return math.sqrt(var / (self.count - 1)) if var > 0 else 0.0

    @property
    def ppl(self) -> float:
        return math.exp(self.mean) if self.count else float("nan")

    @property
    def ppl_uncertainty(self) -> float:
        return self.ppl * self.mean_uncertainty


@dataclass
class ChunkScore:
    """What one evaluated chunk contributes: per scored position NLL, log-sum-exp and argmax,
    plus the logits themselves for whoever needs more (the KL divergence)."""

    index: int
    targets: np.ndarray      # (n_score,) the tokens predicted
    nll: np.ndarray          # (n_score,) float64
    lse: np.ndarray          # (n_score,) float64
    argmax: np.ndarray       # (n_score,) int64
    logits: np.ndarray = field(repr=False)  # (n_score, n_vocab) float32
    extra: object = None     # result of the per-chunk hook, computed on the worker thread


def score_chunks(source: LogitSource, chunks: np.ndarray, bos_id: Optional[int],
                 hook: Optional[Callable[[ChunkScore], object]] = None) -> Iterator[ChunkScore]:
    """Evaluate each chunk and yield its scores in order.

    The softmax (and `hook`, e.g. the KL divergence against saved logits) of chunk i runs on a
    worker thread while the model evaluates chunk i + 1; the model releases the GIL. A source
    with n_seq > 1 and a group method (ModelLogits of a model with several sequences)
    evaluates n_seq chunks per call.
    """
    n_ctx = chunks.shape[1]
    first = n_ctx // 2

    def score(i: int, logits: np.ndarray) -> ChunkScore:
        targets = chunks[i, first + 1:]
        if logits.shape[0] != targets.size:
            raise PyggmlError(f"logit source returned {logits.shape[0]} rows, expected {targets.size}")
        nll, lse, top = log_softmax_stats(logits, targets)
        cs = ChunkScore(i, targets, nll, lse, top, logits)
        if hook is not None:
            cs.extra = hook(cs)
        return cs

    n_seq = max(1, int(getattr(source, "n_seq", 1))) if hasattr(source, "group") else 1
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = []
        for g in range(0, chunks.shape[0], n_seq):
            ids = range(g, min(g + n_seq, chunks.shape[0]))
            inputs = [chunk_input(chunks[i], bos_id) for i in ids]
            group = source.group(inputs, first) if n_seq > 1 else [source(inputs[0], first)]
            for p in pending:
                yield p.result()
            pending = [pool.submit(score, i, logits) for i, logits in zip(ids, group)]
        for p in pending:
            yield p.result()


@dataclass
class PerplexityResult:
    stats: NllStats
    chunk_ppl: list  # running PPL after each chunk, as llama.cpp prints it
    n_tokens: int    # tokens in the text
    n_ctx: int

    @property
    def ppl(self) -> float:
        return self.stats.ppl

    @property
    def ppl_uncertainty(self) -> float:
        return self.stats.ppl_uncertainty


def perplexity(source: LogitSource, chunks: np.ndarray, bos_id: Optional[int], n_tokens: int = 0,
               progress: Optional[Callable[[NllStats], None]] = None) -> PerplexityResult:
    """Perplexity over `chunks` (from make_chunks); `progress` is called after every chunk."""
    stats = NllStats()
    running = []
    for cs in score_chunks(source, chunks, bos_id):
        stats.add(cs.nll)
        running.append(stats.ppl)
        if progress is not None:
            progress(stats)
    return PerplexityResult(stats, running, n_tokens or chunks.size, chunks.shape[1])


def format_running(chunk_ppl: list) -> str:
    """llama.cpp's running estimate line: [1]12.3456,[2]12.0001,..."""
    return "".join(f"[{i + 1}]{p:.4f}," for i, p in enumerate(chunk_ppl))
