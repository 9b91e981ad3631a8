"""Load a llama-family GGUF model and run it: pyggml.Model.

Python reads the metadata and decides what each architecture needs; the weights stay
in the memory-mapped file and the whole forward pass runs in C++ (pyggml._core.Model)
with the GIL released, one native call per batch of tokens.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from . import _core
from .errors import GGUFError, PyggmlError
from .types import GGMLType


class ContextFullError(PyggmlError):
    """The tokens do not fit in the model's context (n_ctx) and context shift is off."""


@dataclass(frozen=True)
class ArchSpec:
    """How an architecture differs from plain llama. Defaults come from llama.cpp and
    are used only when the file does not say otherwise."""

    rope_neox: bool = False
    activation: str = "silu"
    embd_scale_sqrt: bool = False  # token embeddings times sqrt(n_embd)
    swa_pattern: int = 0  # every swa_pattern-th layer is global, the others sliding-window
    rope_base_swa: float = 0.0  # rope base of the sliding-window layers (0: same as global)


ARCHITECTURES = {
    "llama": ArchSpec(),
    "mistral": ArchSpec(),
    "qwen2": ArchSpec(rope_neox=True),
    "gemma3": ArchSpec(
        rope_neox=True, activation="gelu_tanh", embd_scale_sqrt=True, swa_pattern=6, rope_base_swa=10000.0
    ),
}

KV_TYPES = {"f32": GGMLType.F32, "f16": GGMLType.F16, "q8_0": GGMLType.Q8_0}


def _open_gguf(path):
    """Map a GGUF file; returns (metadata dict, {name: (type, uint8 view, ne)}).

    The one place that knows the GGUF reader. The views point into the mapping and keep
    it alive; the tokenizer's metadata (tens of MB of Python objects for a large
    vocabulary) is dropped here since the forward pass does not need it.
    """
    from .gguf_file import GGUFFile

    with GGUFFile(path) as f:
        tensors = {t.name: (int(t.type), f.raw(t.name), tuple(int(n) for n in t.ne)) for t in f.tensors}
        meta = {k: v for k, v in f.metadata.items() if not k.startswith("tokenizer.")}
    return meta, tensors


def _hparams(path, meta, tensors):
    arch = meta.get("general.architecture")
    if arch not in ARCHITECTURES:
        supported = ", ".join(sorted(ARCHITECTURES))
        raise GGUFError(path, f"unsupported architecture {arch!r}; supported: {supported}")
    spec = ARCHITECTURES[arch]

    def key(name, default=None):
        full = f"{arch}.{name}"
        if full in meta:
            return meta[full]
        if default is None:
            raise GGUFError(path, f"missing metadata key {full}")
        return default

    if "token_embd.weight" not in tensors:
        raise GGUFError(path, "missing tensor token_embd.weight")
    n_embd = int(key("embedding_length"))
    n_layer = int(key("block_count"))
    n_head = int(key("attention.head_count"))
    n_head_kv = key("attention.head_count_kv", n_head)
    if isinstance(n_head_kv, list):
        if len(set(n_head_kv)) != 1:
            raise GGUFError(path, "per-layer KV head counts are not supported")
        n_head_kv = n_head_kv[0]
    n_ff = key("feed_forward_length")
    if isinstance(n_ff, list):
        raise GGUFError(path, "per-layer feed-forward sizes are not supported")
    head_dim_k = int(key("attention.key_length", n_embd // n_head))
    head_dim_v = int(key("attention.value_length", head_dim_k))
    n_rot = int(key("rope.dimension_count", head_dim_k))
    rope_base = float(key("rope.freq_base", 10000.0))
    rope_scale = 1.0
    scaling = key("rope.scaling.type", "none")
    if scaling == "linear":
        factor = float(key("rope.scaling.factor", 1.0) or 1.0)
        rope_scale = 1.0 / factor if factor > 0 else 1.0
    elif scaling not in ("none", ""):
        raise GGUFError(path, f"rope scaling {scaling!r} is not supported")
    n_swa = int(key("attention.sliding_window", 0)) if spec.swa_pattern else 0
    base_swa = float(key("rope.freq_base_swa", spec.rope_base_swa or rope_base))
    layer_swa = [0] * n_layer
    if n_swa:
        pattern = key("attention.sliding_window_pattern", spec.swa_pattern)
        if isinstance(pattern, list):  # one flag per layer, true = sliding window
            if len(pattern) < n_layer:
                raise GGUFError(path, f"{arch}.attention.sliding_window_pattern has fewer than {n_layer} flags")
            layer_swa = [1 if p else 0 for p in pattern[:n_layer]]
        else:  # llama.cpp's set_swa_pattern(n): every n-th layer is global; 0: all sliding
            n = int(pattern)
            layer_swa = [1 if n == 0 or il % n < n - 1 else 0 for il in range(n_layer)]
    return {
        "arch": arch,
        "n_vocab": int(tensors["token_embd.weight"][2][1]),
        "n_embd": n_embd,
        "n_layer": n_layer,
        "n_head": n_head,
        "n_head_kv": int(n_head_kv),
        "head_dim_k": head_dim_k,
        "head_dim_v": head_dim_v,
        "n_ff": int(n_ff),
        "n_rot": n_rot,
        "rope_neox": spec.rope_neox,
        "rms_eps": float(key("attention.layer_norm_rms_epsilon", 1e-5)),
        "attn_scale": float(key("attention.scale", 1.0 / math.sqrt(head_dim_k))),
        "embd_scale": math.sqrt(n_embd) if spec.embd_scale_sqrt else 1.0,
        "final_logit_softcap": float(key("final_logit_softcapping", 0.0)),
        "attn_logit_softcap": float(key("attn_logit_softcapping", 0.0)),
        "n_swa": n_swa,
        "activation": spec.activation,
        "layer_swa": layer_swa,
        "layer_rope_base": [base_swa if s else rope_base for s in layer_swa],
        "layer_rope_scale": [1.0 if s else rope_scale for s in layer_swa],
        "n_ctx_train": int(key("context_length", 0) or 0),
    }


def _native_tensors(path, tensors):
    """Weights pass through as views; 1-D tensors (norms, biases) go to C++ as float32."""
    out = {}
    for name, (ttype, view, ne) in tensors.items():
        if len(ne) == 1:
            if ttype != GGMLType.F32:
                from .quants import dequantize

                view = dequantize(view, ttype, shape=ne).view(np.uint8)
                ttype = int(GGMLType.F32)
            out[name] = (ttype, view, (ne[0], 1))
        elif len(ne) == 2:
            out[name] = (ttype, view, ne)
        elif all(n == 1 for n in ne[2:]):
            out[name] = (ttype, view, ne[:2])
        else:
            raise GGUFError(path, f"tensor {name} has shape {ne}, which a decoder layer does not use")
    return out


class Model:
    """A loaded GGUF decoder with its KV cache. Create with Model.load(path)."""

    def __init__(self, native, hparams, path, context_shift, n_keep):
        self._native = native
        self.hparams = hparams
        self.path = path
        self.context_shift = context_shift
        self.n_keep = n_keep

    @classmethod
    def load(
        cls,
        path,
        n_ctx: int = 4096,
        n_threads: "int | None" = None,
        n_batch: int = 512,
        kv_type: str = "f16",
        context_shift: bool = False,
        n_keep: int = 0,
        precise: bool = False,
        repack: bool = True,
    ) -> "Model":
        """Map `path` (no copy) and build the model.

        kv_type: "f16" (default), "q8_0" or "f32". n_threads: None uses every physical
        core. context_shift: when the context is full, drop the older half of the
        tokens after the first n_keep instead of raising ContextFullError.
        precise: keep activations in float32 in every matrix product (slower; for
        checking against a float reference) instead of converting them to the
        weights' dot types (Q8_0, Q8_K, F16) as llama.cpp does.
        repack: on CPUs with kernels for it (AVX2), hold Q4_K, Q6_K, Q4_0, Q5_0 and Q8_0
        matrices regrouped 8 rows at a time (a copy in memory, built here, the file's
        pages of those tensors released; faster matrix products). On Linux with
        transparent huge pages the copies take huge pages, and the other matrices are
        copied there too, as they are. False: every matrix is read from the mapped file.
        Ignored with precise.
        """
        if kv_type not in KV_TYPES:
            raise ValueError(f"kv_type must be one of {', '.join(KV_TYPES)}")
        meta, tensors = _open_gguf(path)
        hp = _hparams(path, meta, tensors)
        native_tensors = _native_tensors(path, tensors)
        if not 0 <= n_keep < n_ctx:
            raise ValueError("n_keep must be in [0, n_ctx)")
        try:
            native = _core.Model(
                {k: v for k, v in hp.items() if k not in ("arch", "n_ctx_train")},
                native_tensors,
                int(n_ctx),
                int(n_batch),
                int(n_threads or 0),
                int(KV_TYPES[kv_type]),
                bool(precise),
                repack=bool(repack),
            )
        except ValueError as e:
            raise GGUFError(path, str(e)) from e
        return cls(native, hp, os.fspath(path), context_shift, n_keep)

    @property
    def arch(self) -> str:
        return self.hparams["arch"]

    @property
    def n_vocab(self) -> int:
        return self.hparams["n_vocab"]

    @property
    def n_ctx(self) -> int:
        return self._native.n_ctx

    @property
    def n_past(self) -> int:
        """Tokens currently held in the KV cache."""
        return self._native.n_past

    @property
    def n_threads(self) -> int:
        return self._native.n_threads

    @property
    def kv_bytes(self) -> int:
        return self._native.kv_bytes

    def eval(self, tokens, all_logits: bool = False) -> np.ndarray:
        """Run `tokens` after those already cached and return float32 logits:
        (n_vocab,) for the last token, or (len(tokens), n_vocab) with all_logits."""
        toks = self._checked_tokens(tokens, "eval")
        if self.n_past + toks.size > self.n_ctx:
            self._make_room(toks.size)
        out = self._native.eval(toks.astype(np.int32), all_logits)
        return out if all_logits else out[0]

    def embed(self, tokens) -> np.ndarray:
        """Run `tokens` after those already cached, like eval, and return the hidden
        states after the final norm, (len(tokens), n_embd) float32, instead of logits."""
        toks = self._checked_tokens(tokens, "embed")
        if self.n_past + toks.size > self.n_ctx:
            self._make_room(toks.size)
        return self._native.embed(toks.astype(np.int32))

    def capture(self, tokens, sites, output: bool = False, last_layer: int = -1) -> dict:
        """Run `tokens` after those already cached and return the inputs of the linear layers,
        for calibration: {(layer, site): (len(tokens), width) float32}. Sites: 0 the normed
        input of attn_q/k/v, 1 the input of attn_output, 2 the normed input of ffn_gate/up,
        3 the input of ffn_down. output: also {"output": input of the output matrix}.
        last_layer >= 0 stops the pass after that layer. No context shift happens here."""
        toks = self._checked_tokens(tokens, "capture")
        if self.n_past + toks.size > self.n_ctx:
            raise ContextFullError(f"context is full: {self.n_past} cached + {toks.size} new tokens > n_ctx {self.n_ctx}")
        sites = [(int(layer), int(site)) for layer, site in sites]
        arrays = self._native.eval_capture(toks.astype(np.int32), sites, bool(output), int(last_layer))
        out = dict(zip(sites, arrays))
        if output:
            out["output"] = arrays[-1]
        return out

    def _checked_tokens(self, tokens, what: str) -> np.ndarray:
        """tokens as a flat int64 array, refused when empty or outside the vocabulary."""
        toks = np.ascontiguousarray(tokens, dtype=np.int64).reshape(-1)
        if toks.size == 0:
            raise ValueError(f"{what} needs at least one token")
        if toks.min() < 0 or toks.max() >= self.n_vocab:
            raise ValueError(f"token ids must be in [0, {self.n_vocab})")
        return toks

    def _make_room(self, n_new: int) -> None:
        free = self.n_ctx - self.n_past
        if not self.context_shift or n_new > self.n_ctx - self.n_keep:
            raise ContextFullError(
                f"context is full: {self.n_past} cached + {n_new} new tokens > n_ctx {self.n_ctx}"
                + ("" if self.context_shift else " (reset(), a larger n_ctx, or context_shift=True)")
            )
        n_discard = max(n_new - free, (self.n_past - self.n_keep) // 2)
        self._native.shift_context(self.n_keep, n_discard)

    def reset(self) -> None:
        """Forget every cached token."""
        self._native.reset()

    def truncate(self, n_past: int) -> None:
        """Keep the first n_past cached tokens and forget the rest (0 <= n_past <= self.n_past),
        so that a new prompt sharing that prefix only evaluates what differs."""
        if not 0 <= n_past <= self.n_past:
            raise ValueError(f"n_past must be in [0, {self.n_past}], got {n_past}")
        self._native.truncate(int(n_past))

    def __repr__(self) -> str:
        return f"Model({self.path!r}, arch={self.arch}, n_ctx={self.n_ctx}, n_past={self.n_past})"
