"""Convert a Hugging Face checkpoint (llama, mistral, qwen2, gemma3, qwen3, smollm3, mistral3,
phi3, qwen3moe, mixtral, gpt-oss) into a GGUF file.

What differs per architecture (the GGUF architecture name, its own metadata keys, how Hugging
Face tensor names map onto GGUF names, and the weight transforms llama.cpp's converter applies,
such as llama's Q and K row permutation and Gemma's 1 + w norms) is its Conversion in
pyggml/arch; this module applies it. Everything else is copied.

The conversion streams: the plan (every tensor's GGUF name, shape and type) is made from the
safetensors headers alone, then each tensor is read, transformed, quantized by the native
module and written before the next one is touched. The output appears under its name only
when complete (see gguf_output).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from typing import Callable, Optional

import gguf
import numpy as np

from .. import arch
from ..arch import Conversion
from ..formats.gguf_output import GGUFOutput
from ..formats.imatrix import load_imatrix
from ..formats.quants import encode_tensor
from ..formats.types import GGMLType
from ..progress import progress_bar
from ..quantization.policy import ModelShape, choose_policy
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
    n_expert: int = 0  # mixture of experts: experts per layer (0: dense)
    n_expert_used: int = 0
    n_ff_exp: int = 0

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
        n_expert = int(get("num_experts", "num_local_experts", default=0) or 0)
        n_ff = int(get("intermediate_size"))
        moe = {}
        if n_expert:
            moe = dict(n_expert=n_expert, n_expert_used=int(get("num_experts_per_tok")),
                       n_ff_exp=int(get("moe_intermediate_size", default=n_ff)))
            if not 1 <= moe["n_expert_used"] <= n_expert:
                raise ConvertError(where, f"num_experts_per_tok = {moe['n_expert_used']}: expected 1 to {n_expert}")
        return cls(**moe,
            n_vocab=int(get("vocab_size")),
            n_embd=n_embd,
            n_ff=n_ff,
            n_layer=int(get("num_hidden_layers")),
            n_head=n_head,
            n_head_kv=int(get("num_key_value_heads", default=n_head)),
            head_dim=int(get("head_dim", default=n_embd // n_head)),
            n_ctx=int(get("max_position_embeddings", default=defaults.get("n_ctx", 4096))),
            rms_eps=float(get("rms_norm_eps", default=defaults.get("rms_eps", 1e-6))),
            rope_theta=float(get("rope_theta", default=(cfg.get("rope_parameters") or {}).get("rope_theta")
                                 or defaults.get("rope_theta", 10000.0))),
            tied=bool(cfg.get("tie_word_embeddings", defaults.get("tied", False))),
        )


# --- tensor maps -----------------------------------------------------------------------------

# Hugging Face tensors that carry nothing llama.cpp needs
_IGNORED = re.compile(r"rotary_emb\.inv_freq$|^vision_tower\.|^multi_modal_projector\.|^model\.vision_tower\.|"
                      r"^model\.multi_modal_projector\.")
_PREFIXES = ("model.language_model.", "language_model.model.", "model.")


def detect_architecture(cfg: dict, where: str) -> Conversion:
    conv = arch.for_hf_config(cfg)
    if conv is None:
        names = cfg.get("architectures") or []
        classes = sorted(c for conv in arch.conversions() for c in conv.hf_classes)
        raise ConvertError(where, f"unsupported architecture {names or cfg.get('model_type')!r}; pyggml converts "
                                  f"{', '.join(classes)}")
    return conv


@dataclasses.dataclass
class PlannedTensor:
    source: Optional[SourceTensor]
    gguf_name: str
    shape: tuple  # numpy order, as written
    transform: Optional[Callable]
    qtype: GGMLType = GGMLType.F32
    make: Optional[Callable] = None  # for tensors computed rather than read (rope_freqs)
    encoded: Optional[GGMLType] = None  # make() returns this type's bytes as they are written (MXFP4 experts)


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


def plan_tensors(ckpt: Checkpoint, conv: Conversion, hp: HParams) -> list:
    """Every output tensor in llama.cpp's order, checked against the config; raises on anything off."""
    where = ckpt.dir
    by_role: dict = {}
    for name, t in ckpt.tensors.items():
        if _IGNORED.search(name):
            continue
        by_role[_strip(name)] = t

    plan, used = [], set()

    def take_experts(role: str, gguf_name: str, transform, shape):
        """The experts' tensors of one layer (role holds "{e}"), stacked: (n_expert, *shape)."""
        parts = []
        for e in range(hp.n_expert):
            name = role.format(e=e)
            t = by_role.get(name)
            if t is None:
                raise ConvertError(where, f"missing tensor {name!r} (expert {e} of {hp.n_expert}, needed for {gguf_name})")
            if tuple(t.shape) != tuple(shape):
                raise ConvertError(t.path, f"tensor {t.name!r} has shape {list(t.shape)}, but config.json implies "
                                           f"{list(shape)} for expert {e} of {gguf_name}")
            used.add(name)
            parts.append(t)

        def make(parts=parts):
            x = np.stack([ckpt.array(t) for t in parts])
            for t in parts:
                ckpt.release(t)
            return x if transform is None else np.stack([transform(m, hp=hp) for m in x])
        plan.append(PlannedTensor(None, gguf_name, (hp.n_expert, *shape), None, make=make))

    def check(t: SourceTensor, shape, gguf_name: str, dtype=None):
        if tuple(t.shape) != tuple(shape):
            raise ConvertError(t.path, f"tensor {t.name!r} has shape {list(t.shape)}, but config.json implies "
                                       f"{list(shape)} for {gguf_name}")
        if (dtype is None) != (t.dtype != "U8") or (dtype is not None and t.dtype != dtype):
            raise ConvertError(t.path, f"tensor {t.name!r} has dtype {t.dtype}, which {gguf_name} cannot be made of")

    def take(role: str, gguf_name: str, transform, shape, optional=False, out_shape=None):
        t = by_role.get(role)
        if t is None:
            if optional:
                return
            raise ConvertError(where, f"missing tensor {role!r} (needed for {gguf_name}); "
                                      f"found {len(by_role)} tensors in the safetensors files")
        check(t, shape, gguf_name)
        used.add(role)
        plan.append(PlannedTensor(t, gguf_name, tuple(out_shape or shape),
                                  None if transform is None else functools.partial(transform, hp=hp)))

    def take_mxfp4(layer: str, lt) -> bool:
        """An expert tensor from MXFP4 blocks and scales, when the checkpoint stores it so."""
        form = conv.mxfp4_experts(lt.hf, lt.gguf, hp) if conv.mxfp4_experts is not None else None
        if form is None or layer + form[0] not in by_role:
            return False
        blocks_name, scales_name, blocks_shape, scales_shape, to_ggml = form
        gguf_name = f"blk.{layer.split('.')[1]}.{lt.gguf}"
        blocks, scales = by_role[layer + blocks_name], by_role.get(layer + scales_name)
        if scales is None:
            raise ConvertError(where, f"missing tensor {layer + scales_name!r} (the scales of {layer + blocks_name})")
        check(blocks, blocks_shape, gguf_name, "U8")
        check(scales, scales_shape, gguf_name, "U8")
        used.update((layer + blocks_name, layer + scales_name))

        def make():
            out = to_ggml(ckpt.raw(blocks), ckpt.raw(scales))
            ckpt.release(blocks)
            ckpt.release(scales)
            return out
        plan.append(PlannedTensor(None, gguf_name, tuple(lt.out_shape(hp)), None, make=make,
                                  encoded=GGMLType.MXFP4))
        return True

    take("embed_tokens.weight", "token_embd.weight", None, (hp.n_vocab, hp.n_embd))
    for i in range(hp.n_layer):
        for lt in conv.layer_tensors:
            if lt.experts:
                take_experts(f"layers.{i}.{lt.hf}", f"blk.{i}.{lt.gguf}", lt.transform, lt.shape(hp))
            elif not (lt.mxfp4 and take_mxfp4(f"layers.{i}.", lt)):
                take(f"layers.{i}.{lt.hf}", f"blk.{i}.{lt.gguf}", lt.transform, lt.shape(hp), optional=lt.optional,
                     out_shape=lt.out_shape(hp) if lt.out_shape else None)
    take("norm.weight", "output_norm.weight", conv.norm_transform, (hp.n_embd,))
    if not hp.tied:
        take("lm_head.weight", "output.weight", None, (hp.n_vocab, hp.n_embd))
    else:
        used.add("lm_head.weight")  # tied: an lm_head copy, if stored, duplicates the embeddings

    extra = sorted(set(by_role) - used)
    if extra:
        layer_out = [r for r in extra if re.match(r"layers\.(\d+)\.", r) and int(r.split(".")[1]) >= hp.n_layer]
        hint = f" (layers beyond num_hidden_layers={hp.n_layer}?)" if layer_out else ""
        raise ConvertError(where, f"{len(extra)} tensors pyggml does not know how to map for {conv.gguf_arch}{hint}, "
                                  f"e.g. {extra[0]!r}")
    return plan


def write_metadata(w: gguf.GGUFWriter, ckpt: Checkpoint, conv: Conversion, cfg: dict, hp: HParams,
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
    conv.write_metadata(w, cfg, hp)
    rs = cfg.get("rope_scaling") or cfg.get("rope_parameters") or {}  # transformers 5 names it rope_parameters
    kind = rs.get("rope_type", rs.get("type"))
    if kind in ("linear", "yarn") and rs.get("factor"):
        w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR if kind == "linear" else gguf.RopeScalingType.YARN)
        w.add_rope_scaling_factor(float(rs["factor"]))
        if kind == "yarn" and rs.get("original_max_position_embeddings"):
            w.add_rope_scaling_orig_ctx_len(int(rs["original_max_position_embeddings"]))
        if kind == "yarn":  # as llama.cpp's converter: the betas where config.json sets them
            for key, add in (("beta_fast", w.add_rope_scaling_yarn_beta_fast), ("beta_slow", w.add_rope_scaling_yarn_beta_slow)):
                if rs.get(key) is not None:
                    add(float(rs[key]))
    w.add_file_type(file_type)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    for method, value in sampling_defaults(ckpt).values():
        add = getattr(w, method, None)  # general.sampling.* writers arrived in gguf 0.17
        if add is not None:
            add(value)


def _shape_of(conv: Conversion, hp: HParams, plan: list) -> ModelShape:
    return ModelShape(arch=conv.gguf_arch, n_layer=hp.n_layer, n_head=hp.n_head, n_head_kv=hp.n_head_kv,
                      tied_embeddings=not any(p.gguf_name == "output.weight" for p in plan), n_expert=hp.n_expert)


def convert(hf_dir, out_path, qtype="F16", *, policy=None, pure: bool = False, imatrix=None,
            n_threads: int = 0, progress: bool = True, tokenizer_pre: str | None = None) -> list:
    """Convert the Hugging Face checkpoint in `hf_dir` to the GGUF file `out_path`.

    `qtype`: a preset ("Q4_K_M"), a type ("Q4_K", "F16"...), or use `policy` (a Policy or a
    TOML path) to choose per tensor. `imatrix`: {gguf tensor name: importance per column}, or
    a path to a llama.cpp imatrix file. `tokenizer_pre`: the pre-tokenizer of a BPE tokenizer
    (tokenizer.ggml.pre), instead of finding it by the hash of the tokenizer's ids for
    llama.cpp's reference text. Returns [(gguf name, shape, type)] as written.
    """
    ckpt = Checkpoint(hf_dir)
    try:
        cfg = _text_config(ckpt.config)
        conv = detect_architecture(cfg, ckpt.path("config.json"))
        hp = HParams.from_config(cfg, ckpt.path("config.json"), conv.defaults)
        plan = plan_tensors(ckpt, conv, hp)
        extra = conv.extra_tensors(cfg, hp) if conv.extra_tensors is not None else {}
        for name, x in extra.items():
            plan.append(PlannedTensor(None, name, x.shape, None, make=lambda x=x: x))
        vocab = load_vocab(ckpt, hp.n_vocab, conv.add_space_prefix, tokenizer_pre)
        imat = load_imatrix(imatrix)
        pol, file_type = choose_policy(qtype, policy, _shape_of(conv, hp, plan), has_imatrix=imat is not None,
                                       pure=pure)
        for p in plan:
            if p.encoded is not None:  # already quantized (MXFP4 experts): copied as they are
                p.qtype = p.encoded
                continue
            chosen = pol.choose(p.gguf_name, p.shape)
            p.qtype = GGMLType.F32 if chosen is None else chosen
        with GGUFOutput(out_path, conv.gguf_arch) as out:
            write_metadata(out.writer, ckpt, conv, cfg, hp, file_type)
            vocab.add_to(out.writer)
            for p in plan:
                out.declare(p.gguf_name, p.shape, p.qtype)
            out.begin()
            _write_tensors(ckpt, plan, out, imat, n_threads, progress)
        return [(p.gguf_name, p.shape, p.qtype) for p in plan]
    finally:
        ckpt.close()


def _write_tensors(ckpt: Checkpoint, plan: list, out: GGUFOutput, imat, n_threads: int, progress: bool) -> None:
    with progress_bar(total=len(plan), unit="tensor", enabled=progress) as bar:
        for i, p in enumerate(plan):
            nxt = plan[i + 1].source if i + 1 < len(plan) else None
            if nxt is not None:
                ckpt.prefetch(nxt)
            bar.set_description(f"{p.gguf_name} -> {p.qtype.name}", refresh=False)
            x = p.make() if p.make is not None else ckpt.array(p.source, n_threads)
            if p.transform is not None:
                x = p.transform(x)
            out.write(p.gguf_name, x if p.encoded is not None else encode_tensor(x, p.qtype, p.gguf_name, imat, n_threads))
            del x
            if p.source is not None:
                ckpt.release(p.source)
            bar.update(1)

