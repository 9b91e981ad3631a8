"""Convert a Hugging Face checkpoint (llama, mistral, qwen2, gemma3) into a GGUF file.

Per architecture this module knows the GGUF architecture name, the metadata keys llama.cpp
reads, how Hugging Face tensor names map onto GGUF names, and the weight transforms llama.cpp's
converter applies: llama/mistral Q and K rows are permuted from Hugging Face's rotate-half
RoPE layout to ggml's interleaved pairs, and Gemma's RMSNorm weights (applied as x * (1 + w))
are stored as 1 + w. Everything else is copied.

The conversion streams: the plan (every tensor's GGUF name, shape and type) is made from the
safetensors headers alone, then each tensor is read, transformed, quantized by the native
module and written before the next one is touched. The output appears under its name only
when complete (see gguf_output).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
from typing import Callable, Optional

import gguf
import numpy as np

from ..errors import PyggmlError
from ..formats.gguf_output import GGUFOutput
from ..formats.quants import quantize
from ..formats.types import GGMLType
from ..quantization.policy import ModelShape, Policy, ftype_of, load_policy, policy_for
from .hf_checkpoint import Checkpoint, CheckpointError, SourceTensor
from .hf_vocab import load_vocab, sampling_defaults


class ConvertError(CheckpointError):
    """The checkpoint cannot be converted (unknown architecture, shape mismatch...)."""


# --- hyperparameters -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HParams:
    n_vocab: int
    n_embd: int
    n_ff: int
    n_layer: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ctx: int
    rms_eps: float
    rope_theta: float
    tied: bool

    @classmethod
    def from_config(cls, cfg: dict, where: str, defaults: dict) -> "HParams":
        def get(key, *alts, default=None):
            for k in (key, *alts):
                if cfg.get(k) is not None:
                    return cfg[k]
            if default is not None:
                return default
            raise ConvertError(where, f"config.json lacks {key!r}")

        n_embd = int(get("hidden_size"))
        n_head = int(get("num_attention_heads"))
        return cls(
            n_vocab=int(get("vocab_size")),
            n_embd=n_embd,
            n_ff=int(get("intermediate_size")),
            n_layer=int(get("num_hidden_layers")),
            n_head=n_head,
            n_head_kv=int(get("num_key_value_heads", default=n_head)),
            head_dim=int(get("head_dim", default=n_embd // n_head)),
            n_ctx=int(get("max_position_embeddings", default=defaults.get("n_ctx", 4096))),
            rms_eps=float(get("rms_norm_eps", default=defaults.get("rms_eps", 1e-6))),
            rope_theta=float(get("rope_theta", default=defaults.get("rope_theta", 10000.0))),
            tied=bool(cfg.get("tie_word_embeddings", defaults.get("tied", False))),
        )


# --- tensor maps -----------------------------------------------------------------------------


def permute_rope(w: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder the rows of a Q or K projection from rotate-half pairs (i, i + d/2) to
    interleaved pairs (2i, 2i + 1) within each head, as llama.cpp's converter does."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def plus_one(w: np.ndarray) -> np.ndarray:
    return w + np.float32(1.0)


# (hf regex with (?P<i>) for the layer, gguf name template, transform name, expected shape fn)
_LLAMA_LAYER = [
    (r"input_layernorm\.weight", "attn_norm.weight", None, lambda h: (h.n_embd,)),
    (r"self_attn\.q_proj\.weight", "attn_q.weight", "permute_q", lambda h: (h.n_head * h.head_dim, h.n_embd)),
    (r"self_attn\.k_proj\.weight", "attn_k.weight", "permute_k", lambda h: (h.n_head_kv * h.head_dim, h.n_embd)),
    (r"self_attn\.v_proj\.weight", "attn_v.weight", None, lambda h: (h.n_head_kv * h.head_dim, h.n_embd)),
    (r"self_attn\.o_proj\.weight", "attn_output.weight", None, lambda h: (h.n_embd, h.n_head * h.head_dim)),
    (r"post_attention_layernorm\.weight", "ffn_norm.weight", None, lambda h: (h.n_embd,)),
    (r"mlp\.gate_proj\.weight", "ffn_gate.weight", None, lambda h: (h.n_ff, h.n_embd)),
    (r"mlp\.up_proj\.weight", "ffn_up.weight", None, lambda h: (h.n_ff, h.n_embd)),
    (r"mlp\.down_proj\.weight", "ffn_down.weight", None, lambda h: (h.n_embd, h.n_ff)),
]
_QWEN2_LAYER = [(p, g, None, s) for p, g, _, s in _LLAMA_LAYER] + [
    (r"self_attn\.q_proj\.bias", "attn_q.bias", None, lambda h: (h.n_head * h.head_dim,)),
    (r"self_attn\.k_proj\.bias", "attn_k.bias", None, lambda h: (h.n_head_kv * h.head_dim,)),
    (r"self_attn\.v_proj\.bias", "attn_v.bias", None, lambda h: (h.n_head_kv * h.head_dim,)),
]
_GEMMA3_LAYER = [
    (r"input_layernorm\.weight", "attn_norm.weight", "plus_one", lambda h: (h.n_embd,)),
    (r"self_attn\.q_proj\.weight", "attn_q.weight", None, lambda h: (h.n_head * h.head_dim, h.n_embd)),
    (r"self_attn\.k_proj\.weight", "attn_k.weight", None, lambda h: (h.n_head_kv * h.head_dim, h.n_embd)),
    (r"self_attn\.v_proj\.weight", "attn_v.weight", None, lambda h: (h.n_head_kv * h.head_dim, h.n_embd)),
    (r"self_attn\.o_proj\.weight", "attn_output.weight", None, lambda h: (h.n_embd, h.n_head * h.head_dim)),
    (r"self_attn\.q_norm\.weight", "attn_q_norm.weight", "plus_one", lambda h: (h.head_dim,)),
    (r"self_attn\.k_norm\.weight", "attn_k_norm.weight", "plus_one", lambda h: (h.head_dim,)),
    (r"post_attention_layernorm\.weight", "post_attention_norm.weight", "plus_one", lambda h: (h.n_embd,)),
    (r"pre_feedforward_layernorm\.weight", "ffn_norm.weight", "plus_one", lambda h: (h.n_embd,)),
    (r"post_feedforward_layernorm\.weight", "post_ffw_norm.weight", "plus_one", lambda h: (h.n_embd,)),
    (r"mlp\.gate_proj\.weight", "ffn_gate.weight", None, lambda h: (h.n_ff, h.n_embd)),
    (r"mlp\.up_proj\.weight", "ffn_up.weight", None, lambda h: (h.n_ff, h.n_embd)),
    (r"mlp\.down_proj\.weight", "ffn_down.weight", None, lambda h: (h.n_embd, h.n_ff)),
]


@dataclasses.dataclass(frozen=True)
class Architecture:
    name: str  # GGUF general.architecture
    layer_tensors: list
    norm_transform: Optional[str]  # applied to model.norm.weight
    optional: tuple = ()  # GGUF names that may be absent (biases)
    bpe_pre: str = "default"
    add_space_prefix: Optional[bool] = None
    defaults: dict = dataclasses.field(default_factory=dict)


ARCHITECTURES = {
    "llama": Architecture("llama", _LLAMA_LAYER, None, bpe_pre="llama-bpe",
                          defaults=dict(rms_eps=1e-5, rope_theta=10000.0)),
    "qwen2": Architecture("qwen2", _QWEN2_LAYER, None, optional=("attn_q.bias", "attn_k.bias", "attn_v.bias"),
                          bpe_pre="qwen2", defaults=dict(rms_eps=1e-6, rope_theta=1000000.0)),
    "gemma3": Architecture("gemma3", _GEMMA3_LAYER, "plus_one", add_space_prefix=False,
                           defaults=dict(rms_eps=1e-6, rope_theta=1000000.0, tied=True, n_ctx=131072)),
}

# Hugging Face class / model_type -> GGUF architecture
_HF_ARCHS = {
    "LlamaForCausalLM": "llama", "MistralForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2",
    "Gemma3ForCausalLM": "gemma3", "Gemma3ForConditionalGeneration": "gemma3",
}
_MODEL_TYPES = {"llama": "llama", "mistral": "llama", "qwen2": "qwen2", "gemma3_text": "gemma3", "gemma3": "gemma3"}

# Hugging Face tensors that carry nothing llama.cpp needs
_IGNORED = re.compile(r"rotary_emb\.inv_freq$|^vision_tower\.|^multi_modal_projector\.|^model\.vision_tower\.|"
                      r"^model\.multi_modal_projector\.")
_PREFIXES = ("model.language_model.", "language_model.model.", "model.")


def detect_architecture(cfg: dict, where: str) -> Architecture:
    names = cfg.get("architectures") or []
    for n in names:
        if n in _HF_ARCHS:
            return ARCHITECTURES[_HF_ARCHS[n]]
    mt = cfg.get("model_type")
    if mt in _MODEL_TYPES:
        return ARCHITECTURES[_MODEL_TYPES[mt]]
    raise ConvertError(where, f"unsupported architecture {names or mt!r}; pyggml converts "
                              f"{', '.join(sorted(_HF_ARCHS))}")


@dataclasses.dataclass
class PlannedTensor:
    source: Optional[SourceTensor]
    gguf_name: str
    shape: tuple  # numpy order, as written
    transform: Optional[Callable]
    qtype: GGMLType = GGMLType.F32
    make: Optional[Callable] = None  # for tensors computed rather than read (rope_freqs)


def _text_config(cfg: dict) -> dict:
    """Multimodal Gemma 3 checkpoints nest the language model's config under text_config."""
    if "text_config" in cfg and "hidden_size" not in cfg:
        merged = dict(cfg["text_config"])
        merged.setdefault("architectures", cfg.get("architectures"))
        merged.setdefault("tie_word_embeddings", cfg.get("tie_word_embeddings", True))
        return merged
    return cfg


def _strip(name: str) -> str:
    for p in _PREFIXES:
        if name.startswith(p):
            return name[len(p):]
    return name


def plan_tensors(ckpt: Checkpoint, arch: Architecture, hp: HParams) -> list:
    """Every output tensor in llama.cpp's order, checked against the config; raises on anything off."""
    where = ckpt.dir
    by_role: dict = {}
    for name, t in ckpt.tensors.items():
        if _IGNORED.search(name):
            continue
        by_role[_strip(name)] = t

    transforms = {
        "permute_q": lambda w: permute_rope(w, hp.n_head),
        "permute_k": lambda w: permute_rope(w, hp.n_head_kv),
        "plus_one": plus_one,
        None: None,
    }
    plan, used = [], set()

    def take(role: str, gguf_name: str, transform, shape, optional=False):
        t = by_role.get(role)
        if t is None:
            if optional:
                return
            raise ConvertError(where, f"missing tensor {role!r} (needed for {gguf_name}); "
                                      f"found {len(by_role)} tensors in the safetensors files")
        if tuple(t.shape) != tuple(shape):
            raise ConvertError(t.path, f"tensor {t.name!r} has shape {list(t.shape)}, but config.json implies "
                                       f"{list(shape)} for {gguf_name}")
        used.add(role)
        plan.append(PlannedTensor(t, gguf_name, tuple(shape), transforms[transform]))

    take("embed_tokens.weight", "token_embd.weight", None, (hp.n_vocab, hp.n_embd))
    for i in range(hp.n_layer):
        for pattern, gname, transform, shape_fn in arch.layer_tensors:
            role = f"layers.{i}." + pattern.replace("\\.", ".")
            take(role, f"blk.{i}.{gname}", transform, shape_fn(hp), optional=gname in arch.optional)
    take("norm.weight", "output_norm.weight", arch.norm_transform, (hp.n_embd,))
    if not hp.tied:
        take("lm_head.weight", "output.weight", None, (hp.n_vocab, hp.n_embd))
    else:
        used.add("lm_head.weight")  # tied: an lm_head copy, if stored, duplicates the embeddings

    extra = sorted(set(by_role) - used)
    if extra:
        layer_out = [r for r in extra if re.match(r"layers\.(\d+)\.", r) and int(r.split(".")[1]) >= hp.n_layer]
        hint = f" (layers beyond num_hidden_layers={hp.n_layer}?)" if layer_out else ""
        raise ConvertError(where, f"{len(extra)} tensors pyggml does not know how to map for {arch.name}{hint}, "
                                  f"e.g. {extra[0]!r}")
    return plan


def _llama3_rope_freqs(cfg: dict, hp: HParams) -> Optional[np.ndarray]:
    rs = cfg.get("rope_scaling") or {}
    if rs.get("rope_type", rs.get("type")) != "llama3":
        return None
    factor = float(rs.get("factor", 8.0))
    low, high = float(rs.get("low_freq_factor", 1.0)), float(rs.get("high_freq_factor", 4.0))
    old_ctx = float(rs.get("original_max_position_embeddings", 8192))
    freqs = 1.0 / (hp.rope_theta ** (np.arange(0, hp.head_dim, 2, dtype=np.float64) / hp.head_dim))
    low_wl, high_wl = old_ctx / low, old_ctx / high
    out = []
    for f in freqs:
        wl = 2 * math.pi / f
        if wl < high_wl:
            out.append(1.0)
        elif wl > low_wl:
            out.append(factor)
        else:
            smooth = (old_ctx / wl - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def write_metadata(w: gguf.GGUFWriter, ckpt: Checkpoint, arch: Architecture, cfg: dict, hp: HParams,
                   file_type: int) -> None:
    name = cfg.get("_name_or_path") or os.path.basename(os.path.normpath(ckpt.dir))
    w.add_type("model")
    w.add_name(str(name).rstrip("/").split("/")[-1])
    w.add_context_length(hp.n_ctx)
    w.add_embedding_length(hp.n_embd)
    w.add_block_count(hp.n_layer)
    w.add_feed_forward_length(hp.n_ff)
    w.add_head_count(hp.n_head)
    w.add_head_count_kv(hp.n_head_kv)
    w.add_rope_freq_base(hp.rope_theta)
    w.add_layer_norm_rms_eps(hp.rms_eps)
    if arch.name == "llama":
        w.add_vocab_size(hp.n_vocab)
        w.add_rope_dimension_count(hp.head_dim)
    if arch.name == "gemma3" or hp.head_dim != hp.n_embd // hp.n_head:
        w.add_key_length(hp.head_dim)
        w.add_value_length(hp.head_dim)
    if arch.name == "gemma3":
        if cfg.get("sliding_window"):
            w.add_sliding_window(int(cfg["sliding_window"]))
        if cfg.get("rope_local_base_freq") is not None:
            w.add_float32(f"{arch.name}.rope.freq_base_swa", float(cfg["rope_local_base_freq"]))
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type"))
    if kind in ("linear", "yarn") and rs.get("factor"):
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR if kind == "linear" else gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(float(rs["factor"]))
        if kind == "yarn" and rs.get("original_max_position_embeddings"):
            w.add_rope_scaling_orig_ctx_len(int(rs["original_max_position_embeddings"]))
    w.add_file_type(file_type)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for method, value in sampling_defaults(ckpt).values():
        add = getattr(w, method, None)  # general.sampling.* writers arrived in gguf 0.17
        if add is not None:
            add(value)


def _shape_of(arch: Architecture, hp: HParams, plan: list) -> ModelShape:
    return ModelShape(arch=arch.name, n_layer=hp.n_layer, n_head=hp.n_head, n_head_kv=hp.n_head_kv,
                      tied_embeddings=not any(p.gguf_name == "output.weight" for p in plan))


def convert(hf_dir, out_path, qtype="F16", *, policy=None, pure: bool = False, imatrix=None,
            n_threads: int = 0, progress: bool = True) -> list:
    """Convert the Hugging Face checkpoint in `hf_dir` to the GGUF file `out_path`.

    `qtype`: a preset ("Q4_K_M"), a type ("Q4_K", "F16"...), or use `policy` (a Policy or a
    TOML path) to choose per tensor. `imatrix`: {gguf tensor name: importance per column}, or
    a path to a llama.cpp imatrix file. Returns [(gguf name, shape, type)] as written.
    """
    ckpt = Checkpoint(hf_dir)
    try:
        cfg = _text_config(ckpt.config)
        arch = detect_architecture(cfg, ckpt.path("config.json"))
        hp = HParams.from_config(cfg, ckpt.path("config.json"), arch.defaults)
        plan = plan_tensors(ckpt, arch, hp)
        freqs = _llama3_rope_freqs(cfg, hp) if arch.name == "llama" else None
        if freqs is not None:
            plan.append(PlannedTensor(None, "rope_freqs.weight", freqs.shape, None, make=lambda f=freqs: f))
        vocab = load_vocab(ckpt, hp.n_vocab, arch.bpe_pre, arch.add_space_prefix)
        imat = _load_imatrix(imatrix)
        if policy is not None and not isinstance(policy, Policy):
            policy = load_policy(policy)  # a TOML file, whatever its name
        spec = policy if policy is not None else qtype
        pol = policy_for(spec, _shape_of(arch, hp, plan), has_imatrix=imat is not None, pure=pure)
        for p in plan:
            chosen = pol.choose(p.gguf_name, p.shape)
            p.qtype = GGMLType.F32 if chosen is None else chosen
        file_type = ftype_of(spec, pure) if policy is None else 1
        with GGUFOutput(out_path, arch.name) as out:
            write_metadata(out.writer, ckpt, arch, cfg, hp, file_type)
            vocab.add_to(out.writer)
            for p in plan:
                out.declare(p.gguf_name, p.shape, p.qtype)
            out.begin()
            _write_tensors(ckpt, plan, out, imat, n_threads, progress)
        return [(p.gguf_name, p.shape, p.qtype) for p in plan]
    finally:
        ckpt.close()


def _load_imatrix(imatrix):
    if imatrix is None or isinstance(imatrix, dict):
        return imatrix
    from ..formats.imatrix import read_imatrix

    return read_imatrix(imatrix)


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="tensor", disable=not enabled or None, file=sys.stderr, dynamic_ncols=True,
                leave=False)


def _write_tensors(ckpt: Checkpoint, plan: list, out: GGUFOutput, imat, n_threads: int, progress: bool) -> None:
    with _progress(len(plan), progress) as bar:
        for i, p in enumerate(plan):
            nxt = plan[i + 1].source if i + 1 < len(plan) else None
            if nxt is not None:
                ckpt.prefetch(nxt)
            bar.set_description(f"{p.gguf_name} -> {p.qtype.name}", refresh=False)
            x = p.make() if p.make is not None else ckpt.array(p.source, n_threads)
            if p.transform is not None:
                x = p.transform(x)
            out.write(p.gguf_name, encode_tensor(x, p.qtype, p.gguf_name, imat, n_threads))
            del x
            if p.source is not None:
                ckpt.release(p.source)
            bar.update(1)


def encode_tensor(x: np.ndarray, qtype: GGMLType, name: str, imat, n_threads: int) -> np.ndarray:
    """`x` (float32) in `qtype`'s bytes, steered by the imatrix entry for `name` when it has one."""
    if qtype == GGMLType.F32:
        return np.ascontiguousarray(x, dtype=np.float32)
    weights = None
    if imat is not None and qtype.uses_imatrix:
        weights = imat.get(name)
        if weights is not None and len(weights) != x.shape[-1]:
            raise PyggmlError(f"imatrix entry for {name} has {len(weights)} values; the tensor's rows have {x.shape[-1]}")
    try:
        return quantize(x, qtype, imatrix=weights, n_threads=n_threads)
    except ValueError as e:
        raise PyggmlError(f"tensor {name}: cannot store as {qtype.name}: {e}") from None
