"""Calibration: run text through the C++ forward pass and keep what calibrated quantizers need.

A calibration set is n_seq sequences of seq_len tokens cut from a text (by default the shipped
calibration text, pyggml/data/devils_dictionary_calib.txt, which never overlaps the evaluation
text in benchmarks/data). Each sequence runs from an empty cache; when the vocabulary adds BOS,
its first token is replaced by BOS, as llama.cpp's imatrix tool does. The model copies the inputs
of its linear layers out of the forward pass (Model.capture), and collectors reduce them:

* ImatrixCollector: per-column sums of squared activations per weight tensor (an imatrix);
* HessianCollector: X^T X per linear input, for GPTQ;
* SampleCollector: mean |x| per input channel and a random sample of input rows, for AWQ (with
  experts: each sampled token's chosen experts and their down inputs too).

A linear input (a capture site) feeds one or more weight tensors; the model's architecture
names them (pyggml.arch: CaptureSite), e.g. Site.ATTN_QKV feeds attn_q, attn_k and attn_v.
Collectors key what they gather by (layer, site); add(key, x, tensors) also gets the names of
the weights reading x.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .. import arch as architectures
from ..arch.base import Site
from ..errors import PyggmlError
from ..progress import progress_bar
from ..text.corpus import bos_for_chunks, read_text, tokenize_text

DEFAULT_TEXT = Path(__file__).resolve().parents[1] / "data" / "devils_dictionary_calib.txt"


def capture_sites(model) -> tuple:
    """The CaptureSites of the model's architecture (with experts: the attention's only)."""
    return architectures.get(model.arch).sites_for(model.hparams)


def calibration_sequences(tokenizer, text: str, n_seq: int, seq_len: int, source: str = "the calibration text"):
    """(n_seq, seq_len) int32 token sequences spread evenly over the text."""
    if n_seq < 1 or seq_len < 2:
        raise PyggmlError("calibration needs at least one sequence of at least 2 tokens")
    tokens = tokenize_text(tokenizer, text)
    n_avail = len(tokens) // seq_len
    if n_avail < n_seq:
        raise PyggmlError(f"{source} has {len(tokens)} tokens: {n_avail} sequences of {seq_len}, "
                          f"fewer than the {n_seq} asked for (use a longer text or fewer/shorter sequences)")
    starts = (np.arange(n_seq) * n_avail // n_seq) * seq_len
    seqs = np.stack([tokens[s:s + seq_len] for s in starts]).astype(np.int32)
    bos = bos_for_chunks(tokenizer)
    if bos is not None:
        seqs[:, 0] = bos
    return seqs


def load_sequences(model_path, text_path=None, n_seq: int = 16, seq_len: int = 512):
    """Calibration sequences for the model at `model_path` from `text_path` (default: the shipped text)."""
    from ..text.tokenizer import Tokenizer

    path = DEFAULT_TEXT if text_path is None else Path(text_path)
    return calibration_sequences(Tokenizer.from_gguf(os.fspath(model_path)), read_text(path), n_seq, seq_len,
                                 source=os.fspath(path))


def run(model, sequences, collectors, layers=None, output: bool = False, progress: bool = True,
        desc: str = "calibrating") -> None:
    """Evaluate each sequence from an empty cache and hand every captured input to the collectors.

    layers: the layers whose inputs are captured (default all); the pass stops after the last
    of them unless `output` (the output matrix's input) is wanted too. A model loaded with
    n_seq_max = N > 1 runs N sequences in each pass (Model.capture_batch); the collectors get
    the same arrays, sequence by sequence, as one pass per sequence gives (to float rounding
    with float weights).
    """
    n_layer = model.hparams["n_layer"]
    layers = list(range(n_layer)) if layers is None else sorted(layers)
    # experts, for the collectors that take them (add_experts): the feed-forward input, the
    # tokens' chosen experts and their ffn_down_exps inputs, expert by expert
    expert_sites = (Site.FFN_GATE_UP, Site.MOE_EXPERTS, Site.MOE_DOWN)
    experts = model.hparams.get("n_expert", 0) > 0 and any(hasattr(c, "add_experts") for c in collectors)
    by_site = {cs.site: cs for cs in capture_sites(model)}
    sites = [(layer, site) for layer in layers for site in by_site]
    if experts:
        sites += [(layer, int(site)) for layer in layers for site in expert_sites if (layer, site) not in sites]
    last = -1 if output or not layers else layers[-1]
    per_pass = max(1, model.n_seq_max)
    with progress_bar(total=len(sequences), desc=desc, unit="seq", enabled=progress) as bar:
        for i0 in range(0, len(sequences), per_pass):
            group = sequences[i0:i0 + per_pass]
            model.reset()
            if per_pass == 1:
                captures = [model.capture(group[0], sites, output=output, last_layer=last)]
            else:
                captures = model.capture_batch(list(enumerate(group)), sites, output=output, last_layer=last)
            for captured in captures:
                if experts:
                    for layer in layers:
                        x, ids, down = (captured.pop((layer, int(site))) for site in expert_sites)
                        for c in collectors:
                            if hasattr(c, "add_experts"):
                                c.add_experts(layer, x, ids, down, model.hparams["n_expert"])
                for key, x in captured.items():
                    tensors = ["output.weight"] if key == "output" else by_site[key[1]].tensors(key[0])
                    for c in collectors:
                        c.add(key, x, tensors)
            bar.update(len(group))
    model.reset()


class ImatrixCollector:
    """Sum of x^2 per input column and the row count, per weight tensor (llama.cpp's imatrix)."""

    def __init__(self):
        self.sums, self.counts = {}, {}

    def add(self, key, x: np.ndarray, tensors: list) -> None:
        s = np.einsum("ij,ij->j", x, x, dtype=np.float64)
        for name in tensors:
            if name in self.sums:
                self.sums[name] += s
                self.counts[name] += len(x)
            else:
                self.sums[name] = s.copy()
                self.counts[name] = len(x)

    def add_experts(self, layer: int, x: np.ndarray, ids: np.ndarray, down: np.ndarray, n_expert: int) -> None:
        """Expert by expert, as llama.cpp's imatrix: each expert's ffn_gate_exps / ffn_up_exps
        sums over the tokens routed to it (x: the feed-forward input, ids: (tokens, k) chosen
        experts) and its ffn_down_exps over its slots' inputs (down: (tokens, k * n_ff_exp))."""
        ids = ids.astype(np.int64)
        k = ids.shape[1]
        slots = down.reshape(len(down) * k, -1)
        flat = ids.reshape(-1)
        for names, rows_of, src in (((f"blk.{layer}.ffn_gate_exps.weight", f"blk.{layer}.ffn_up_exps.weight"),
                                     lambda e: (ids == e).any(axis=1), x),
                                    ((f"blk.{layer}.ffn_down_exps.weight",), lambda e: flat == e, slots)):
            s = np.zeros((n_expert, src.shape[1]), np.float64)
            n = np.zeros(n_expert, np.int64)
            for e in np.unique(flat):
                rows = src[rows_of(e)]
                s[e] = np.einsum("ij,ij->j", rows, rows, dtype=np.float64)
                n[e] = len(rows)
            for name in names:
                if name in self.sums:
                    self.sums[name] += s
                    self.counts[name] += n
                else:
                    self.sums[name] = s.copy()
                    self.counts[name] = n.copy()

    def sums32(self) -> dict:
        """{tensor name: float32 sums}, as an imatrix file stores them (experts: one row each)."""
        return {n: s.astype(np.float32) for n, s in self.sums.items()}

    def counts_per_matrix(self) -> dict:
        """{tensor name: (n_matrices,) float32 row counts}: one for a matrix, one per expert."""
        return {n: np.atleast_1d(np.asarray(c, np.float32)) for n, c in self.counts.items()}

    def importance(self) -> dict:
        """{tensor name: float32 mean squared activation per input column (experts: one row of
        them per expert, flattened)}, computed from the float32 sums exactly as a reader of the
        saved file computes it; an expert no token reached gets ones, as there."""
        out, counts = {}, self.counts_per_matrix()
        for n, s in self.sums32().items():
            c = counts[n] if s.ndim == 2 else None
            if c is None:
                out[n] = s / np.float32(max(self.counts[n], 1))
            else:
                v = np.ones_like(s)
                seen = c > 0
                v[seen] = s[seen] / c[seen, None]
                out[n] = v.reshape(-1)
        return out


class HessianCollector:
    """X^T X (float32, upper triangle filled symmetric on read) and the row count per site."""

    def __init__(self):
        self.h, self.n = {}, {}

    def add(self, key, x: np.ndarray, tensors: list) -> None:
        if key == "output":
            return
        from scipy.linalg.blas import ssyrk

        x = np.asarray(x, dtype=np.float32)
        if key in self.h:
            self.h[key] = ssyrk(1.0, x, beta=1.0, c=self.h[key], trans=1, lower=0, overwrite_c=1)
            self.n[key] += len(x)
        else:
            self.h[key] = ssyrk(1.0, x, trans=1, lower=0)
            self.n[key] = len(x)

    def add_experts(self, layer: int, x: np.ndarray, ids: np.ndarray, down: np.ndarray, n_expert: int) -> None:
        """Expert by expert (see ImatrixCollector.add_experts): keys (layer, "experts_in", e) for
        ffn_gate_exps / ffn_up_exps and (layer, "experts_down", e) for ffn_down_exps."""
        ids = ids.astype(np.int64)
        flat = ids.reshape(-1)
        slots = down.reshape(len(flat), -1)
        for e in np.unique(flat):
            self.add((layer, "experts_in", int(e)), x[(ids == e).any(axis=1)], [])
            self.add((layer, "experts_down", int(e)), slots[flat == e], [])

    def hessian(self, key) -> np.ndarray:
        """GPTQ's H = 2 X^T X / n for a site, symmetric float32 (consumes the stored matrix)."""
        h = self.h.pop(key)
        n = self.n.pop(key)
        h = np.triu(h)  # ssyrk filled the upper triangle only
        h += np.triu(h, 1).T
        h *= np.float32(2.0 / max(n, 1))
        return h

    @staticmethod
    def bytes_for(width: int) -> int:
        return 4 * width * width


class SampleCollector:
    """Mean |x| per channel and up to n_rows randomly chosen input rows per site (for AWQ)."""

    def __init__(self, n_rows: int, n_seq: int, seed: int = 0):
        self.per_seq = max(1, math.ceil(n_rows / max(n_seq, 1)))
        self.rng = np.random.default_rng(seed)
        self.abs_sum, self.count, self.rows = {}, {}, {}

    def add(self, key, x: np.ndarray, tensors: list) -> None:
        if key == "output":
            return
        a = np.abs(x).sum(axis=0, dtype=np.float64)
        pick = self.rng.choice(len(x), size=min(self.per_seq, len(x)), replace=False)
        rows = x[np.sort(pick)]
        if key in self.abs_sum:
            self.abs_sum[key] += a
            self.count[key] += len(x)
            self.rows[key].append(rows)
        else:
            self.abs_sum[key], self.count[key], self.rows[key] = a, len(x), [rows]

    def add_experts(self, layer: int, x: np.ndarray, ids: np.ndarray, down: np.ndarray, n_expert: int) -> None:
        """Expert by expert (see ImatrixCollector.add_experts): under (layer, "experts_in") mean |x| of
        the feed-forward input over every token, and a sample of tokens, each with its input row,
        its chosen experts and their down inputs (expert_sample); under (layer, "experts_down", e)
        mean |x| of expert e's down input over the tokens routed to it."""
        ids = ids.astype(np.int64)
        pick = np.sort(self.rng.choice(len(x), size=min(self.per_seq, len(x)), replace=False))
        key = (layer, "experts_in")
        a = np.abs(x).sum(axis=0, dtype=np.float64)
        if key in self.abs_sum:
            self.abs_sum[key] += a
            self.count[key] += len(x)
            self.rows[key].append((x[pick], ids[pick], down[pick]))
        else:
            self.abs_sum[key], self.count[key], self.rows[key] = a, len(x), [(x[pick], ids[pick], down[pick])]
        flat = ids.reshape(-1)
        slots = down.reshape(len(flat), -1)
        for e in np.unique(flat):
            rows = slots[flat == e]
            key = (layer, "experts_down", int(e))
            a = np.abs(rows).sum(axis=0, dtype=np.float64)
            if key in self.abs_sum:
                self.abs_sum[key] += a
                self.count[key] += len(rows)
            else:
                self.abs_sum[key], self.count[key] = a, len(rows)

    def mean_abs(self, key) -> np.ndarray:
        return (self.abs_sum[key] / self.count[key]).astype(np.float32)

    def sample(self, key) -> np.ndarray:
        return np.concatenate(self.rows[key])

    def expert_sample(self, layer: int):
        """(x (n, n_embd), ids (n, k), down (n, k, n_ff_exp)) of the sampled tokens of `layer`'s
        experts: the feed-forward input, the chosen experts and, slot by slot, their down inputs."""
        parts = self.rows[(layer, "experts_in")]
        x, ids = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        down = np.concatenate([p[2] for p in parts]).reshape(len(x), ids.shape[1], -1)
        return x, ids, down


def layer_chunks(model, budget_bytes: int) -> list:
    """Consecutive layer groups whose Hessians fit in budget_bytes together (at least one layer each)."""
    hp = model.hparams
    per_layer = sum(HessianCollector.bytes_for(cs.width(hp)) for cs in capture_sites(model))
    if hp.get("n_expert"):  # one Hessian per expert for its gate/up input and one for its down input
        per_layer += hp["n_expert"] * (HessianCollector.bytes_for(hp["n_embd"]) + HessianCollector.bytes_for(hp["n_ff_exp"]))
    step = max(1, budget_bytes // per_layer)
    return [list(range(i, min(i + step, hp["n_layer"]))) for i in range(0, hp["n_layer"], step)]


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable), or 8 GiB when that cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30
