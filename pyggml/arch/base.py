"""What an architecture module declares, and the pieces the llama-family decoders share.

An architecture module (llama.py, qwen2.py, ...) defines ARCH, an Architecture: how its forward
pass differs from plain llama (RuntimeSpec), the GGUF tensors it reads, how llama.cpp's converter
turns its Hugging Face checkpoints into GGUF (Conversion), and the linear-layer inputs
calibration captures (CaptureSite). Hyper-parameters come from the GGUF metadata
(pyggml.runtime.hparams) or from config.json (pyggml.convert.hf_to_gguf); the callables here
take them as those modules make them.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Callable, Mapping, Optional

import numpy as np


@dataclasses.dataclass(frozen=True)
class RuntimeSpec:
    """How an architecture's forward pass differs from plain llama. Defaults come from llama.cpp
    and are used only when the file does not say otherwise."""

    rope_neox: bool = False
    activation: str = "silu"
    embd_scale_sqrt: bool = False  # token embeddings times sqrt(n_embd)
    swa_pattern: int = 0  # every swa_pattern-th layer is global, the others sliding-window
    rope_base_swa: float = 0.0  # rope base of the sliding-window layers (0: same as global)
    no_rope_every: int = 0  # every no_rope_every-th layer has no rotary embedding (smollm3: 4)
    attn_temperature: bool = False  # reads attention.temperature_scale (mistral3)
    expert_weights_norm: bool = True  # MoE files: renormalise the chosen experts' weights, unless the file says
    # "softmax": softmax over all experts, then the largest (the file's expert_gating_func may say
    # so); "softmax_weight" (gpt-oss): the largest logits, weighted by a softmax over those alone,
    # never renormalised
    expert_gating: str = "softmax"
    swa_rope_scaling: bool = False  # sliding-window layers keep the file's rope scaling (gpt-oss), not none


# --- calibration capture sites ---------------------------------------------------------------


class Site(enum.IntEnum):
    """A linear-layer input the forward pass copies out for calibration (Model.capture).
    The values are the native forward pass's capture points."""

    ATTN_QKV = 0  # the normed block input, read by attn_q, attn_k, attn_v
    ATTN_OUTPUT = 1  # the attention's result, read by attn_output
    FFN_GATE_UP = 2  # the normed input of the feed-forward part, read by ffn_gate, ffn_up
    FFN_DOWN = 3  # the gated activation, read by ffn_down
    MOE_EXPERTS = 4  # with experts: each token's chosen experts (n_expert_used ids as floats)
    MOE_DOWN = 5  # with experts: the chosen experts' gated activations, read by ffn_down_exps


@dataclasses.dataclass(frozen=True)
class CaptureSite:
    """One linear-layer input of every block: the weights that read it and the tensor whose
    output it is (where AWQ folds the inverse of its scales)."""

    site: Site
    weights: tuple  # block weights reading it, GGUF names without "blk.N." and ".weight"
    source: str  # the block tensor producing it: a norm (1-D), or a matrix whose rows are its channels
    width: Callable[[Mapping], int]  # its channels, from the model's hyper-parameters

    def tensors(self, layer: int) -> list:
        """GGUF names of the weights reading this input in `layer`."""
        return [f"blk.{layer}.{w}.weight" for w in self.weights]


# the pre-norm decoder block of llama, mistral, qwen2 and gemma3
DECODER_SITES = (
    CaptureSite(Site.ATTN_QKV, ("attn_q", "attn_k", "attn_v"), "attn_norm", lambda hp: hp["n_embd"]),
    CaptureSite(Site.ATTN_OUTPUT, ("attn_output",), "attn_v", lambda hp: hp["n_head"] * hp["head_dim_v"]),
    CaptureSite(Site.FFN_GATE_UP, ("ffn_gate", "ffn_up"), "ffn_norm", lambda hp: hp["n_embd"]),
    CaptureSite(Site.FFN_DOWN, ("ffn_down",), "ffn_up", lambda hp: hp["n_ff"]),
)


# A mixture-of-experts block: the attention's inputs. The feed-forward's normed input feeds the
# router and every expert, and each expert's down matrix reads only its own tokens' activations:
# calibration takes those expert by expert (Site.MOE_EXPERTS / MOE_DOWN) and AWQ scales them as
# ExpertScales describes.
MOE_SITES = DECODER_SITES[:2]


@dataclasses.dataclass(frozen=True)
class ExpertScales:
    """Where AWQ folds the scales of a mixture-of-experts block's inputs. One scale vector over
    the normed feed-forward input is divided out of `norm` and multiplied into the columns of
    every expert's ffn_gate_exps / ffn_up_exps and of the router (ffn_gate_inp; its bias is
    untouched). Per expert, a scale vector over its ffn_down_exps input is divided out of its
    ffn_up_exps rows (and ffn_up_exps.bias) when `down_folds`: exact only when the expert's
    activation is linear in its up projection, as act(gate) * up is."""

    norm: str = "ffn_norm"  # the 1-D norm producing the router's and the experts' input
    down_folds: bool = True


def decoder_params(hp: Mapping) -> int:
    """Weights of a llama-style decoder: the token table and every layer's q, k, v, o,
    gate, up and down matrices, every expert's with experts (what `pyggml bench` prints as params)."""
    n_expert = hp.get("n_expert", 0)
    ffn = (n_expert * 3 * hp["n_ff_exp"] + n_expert) * hp["n_embd"] if n_expert else 3 * hp["n_embd"] * hp["n_ff"]
    return hp["n_vocab"] * hp["n_embd"] + hp["n_layer"] * (
        hp["n_embd"] * (2 * hp["n_head"] * hp["head_dim_k"] + 2 * hp["n_head_kv"] * hp["head_dim_k"]) + ffn
    )


def active_params(hp: Mapping) -> int:
    """The weights one token reads: decoder_params with only n_expert_used experts."""
    if not hp.get("n_expert"):
        return decoder_params(hp)
    return decoder_params({**hp, "n_expert": hp["n_expert_used"]}) + hp["n_layer"] * hp["n_embd"] * (
        hp["n_expert"] - hp["n_expert_used"])


def decoder_tensors(hp: Mapping) -> dict:
    """Every GGUF tensor a llama-family decoder reads (llama, mistral, qwen2, gemma3, ...; the optional
    biases and norms are some architectures', the experts those with expert_count): name -> (ne in ggml order, what the dimensions
    are, kind, required), from the model's hyper-parameters. Kinds: "matrix" (multiplied: a weight type), "table" (token_embd: its
    rows are looked up, and it is multiplied when the output is tied to it), "vector"."""
    E, V, L = hp["n_embd"], hp["n_vocab"], hp["n_layer"]
    q, kv_k = hp["n_head"] * hp["head_dim_k"], hp["n_head_kv"] * hp["head_dim_k"]
    kv_v, o = hp["n_head_kv"] * hp["head_dim_v"], hp["n_head"] * hp["head_dim_v"]
    F, hd = hp["n_ff"], hp["head_dim_k"]
    emb = "embedding_length"
    spec = {
        "token_embd.weight": ((E, V), f"({emb}, vocabulary)", "table", True),
        "output_norm.weight": ((E,), f"({emb})", "vector", True),
        "output.weight": ((E, V), f"({emb}, vocabulary)", "matrix", False),
        "rope_freqs.weight": ((hp["n_rot"] // 2,), "(rope.dimension_count / 2)", "vector", False),
    }
    for i in range(L):
        p = f"blk.{i}."
        spec.update({
            p + "attn_norm.weight": ((E,), f"({emb})", "vector", True),
            p + "attn_q.weight": ((E, q), f"({emb}, head_count * key_length)", "matrix", True),
            p + "attn_k.weight": ((E, kv_k), f"({emb}, head_count_kv * key_length)", "matrix", True),
            p + "attn_v.weight": ((E, kv_v), f"({emb}, head_count_kv * value_length)", "matrix", True),
            p + "attn_output.weight": ((o, E), f"(head_count * value_length, {emb})", "matrix", True),
            p + "attn_q.bias": ((q,), "(head_count * key_length)", "vector", False),
            p + "attn_k.bias": ((kv_k,), "(head_count_kv * key_length)", "vector", False),
            p + "attn_v.bias": ((kv_v,), "(head_count_kv * value_length)", "vector", False),
            p + "attn_q_norm.weight": ((hd,), "(key_length)", "vector", False),
            p + "attn_k_norm.weight": ((hd,), "(key_length)", "vector", False),
            p + "post_attention_norm.weight": ((E,), f"({emb})", "vector", False),
            p + "ffn_norm.weight": ((E,), f"({emb})", "vector", True),
            p + "post_ffw_norm.weight": ((E,), f"({emb})", "vector", False),
        })
        spec.update(expert_tensors(hp, p) if hp.get("n_expert") else {
            p + "ffn_gate.weight": ((E, F), f"({emb}, feed_forward_length)", "matrix", True),
            p + "ffn_up.weight": ((E, F), f"({emb}, feed_forward_length)", "matrix", True),
            p + "ffn_down.weight": ((F, E), f"(feed_forward_length, {emb})", "matrix", True),
        })
    return spec


def expert_tensors(hp: Mapping, p: str) -> dict:
    """A mixture-of-experts layer's tensors as llama.cpp stores them (decoder_tensors'
    format): the router and every expert's matrices stacked in 3-D tensors."""
    E, NE, Fe = hp["n_embd"], hp["n_expert"], hp["n_ff_exp"]
    emb, ff = "embedding_length", "expert feed-forward length"
    return {
        p + "ffn_gate_inp.weight": ((E, NE), f"({emb}, expert_count)", "matrix", True),
        p + "ffn_gate_exps.weight": ((E, Fe, NE), f"({emb}, {ff}, expert_count)", "matrix", True),
        p + "ffn_up_exps.weight": ((E, Fe, NE), f"({emb}, {ff}, expert_count)", "matrix", True),
        p + "ffn_down_exps.weight": ((Fe, E, NE), f"({ff}, {emb}, expert_count)", "matrix", True),
    }


# --- Hugging Face conversion -----------------------------------------------------------------


def permute_rope(w: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder the rows of a Q or K projection from rotate-half pairs (i, i + d/2) to
    interleaved pairs (2i, 2i + 1) within each head, as llama.cpp's converter does."""
    rows = w.shape[0]
    return w.reshape(n_head, 2, rows // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def permute_q(w: np.ndarray, hp) -> np.ndarray:
    return permute_rope(w, hp.n_head)


def permute_k(w: np.ndarray, hp) -> np.ndarray:
    return permute_rope(w, hp.n_head_kv)


def plus_one(w: np.ndarray, hp=None) -> np.ndarray:
    """Gemma's RMSNorm weights, applied as x * (1 + w), stored as 1 + w."""
    return w + np.float32(1.0)


@dataclasses.dataclass(frozen=True)
class LayerTensor:
    """One tensor of every layer: its Hugging Face name (after "layers.N."), its GGUF name
    (after "blk.N."), its shape (numpy order) from the config's hyper-parameters, and the
    transform the converter applies ((array, hyper-parameters) -> array)."""

    hf: str
    gguf: str
    shape: Callable
    transform: Optional[Callable] = None
    optional: bool = False  # may be absent (biases)
    experts: bool = False  # hf holds "{e}": one tensor per expert, stacked into one 3-D GGUF tensor
    out_shape: Optional[Callable] = None  # the shape written when the transform changes it (numpy order)
    mxfp4: bool = False  # may come as MXFP4 blocks and scales instead (Conversion.mxfp4_experts)


def write_head_dims(w, cfg: dict, hp) -> None:
    """key_length and value_length, when the head size is not n_embd / n_head."""
    if hp.head_dim != hp.n_embd // hp.n_head:
        w.add_key_length(hp.head_dim)
        w.add_value_length(hp.head_dim)


@dataclasses.dataclass(frozen=True)
class Conversion:
    """How llama.cpp's converter turns a Hugging Face checkpoint into a GGUF file."""

    gguf_arch: str  # general.architecture written (Mistral checkpoints become "llama" files)
    hf_classes: tuple  # config.json "architectures" entries
    hf_model_types: tuple  # config.json "model_type" values
    layer_tensors: tuple  # LayerTensor, in the order llama.cpp writes them
    norm_transform: Optional[Callable] = None  # applied to model.norm.weight
    add_space_prefix: Optional[bool] = None
    defaults: Mapping = dataclasses.field(default_factory=dict)  # for config.json keys it lacks
    write_metadata: Callable = write_head_dims  # (GGUFWriter, config, hyper-parameters): the keys of its own
    extra_tensors: Optional[Callable] = None  # (config, hyper-parameters) -> {GGUF name: float32 array}
    # (hf name, gguf name, hyper-parameters) -> (blocks name, scales name, blocks shape, scales shape,
    # (blocks, scales) -> GGUF MXFP4 bytes) for LayerTensors with mxfp4 set (gpt-oss)
    mxfp4_experts: Optional[Callable] = None


@dataclasses.dataclass(frozen=True)
class Architecture:
    """Everything pyggml knows about one GGUF architecture."""

    name: str  # general.architecture
    runtime: RuntimeSpec
    conversion: Optional[Conversion] = None  # None: pyggml runs such files but does not make them
    tensors: Callable[[Mapping], dict] = decoder_tensors  # the GGUF tensors the forward pass reads
    capture_sites: tuple = DECODER_SITES  # a dense file's; with experts moe_sites (sites_for)
    n_params: Callable[[Mapping], int] = decoder_params
    moe_sites: tuple = MOE_SITES
    expert_scales: ExpertScales = ExpertScales()  # AWQ's folds in a mixture-of-experts block
    # per-layer GGUF names (after "blk.N.") the forward pass reads under another name: gpt-oss's
    # post_attention_norm is its feed-forward norm (ffn_norm)
    native_names: Mapping = dataclasses.field(default_factory=dict)

    def sites_for(self, hp: Mapping) -> tuple:
        """The capture sites of a model with hyper-parameters hp (experts or not)."""
        return self.moe_sites if hp.get("n_expert") else self.capture_sites
