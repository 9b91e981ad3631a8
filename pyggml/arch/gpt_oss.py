"""gpt-oss (OpenAI's open-weight mixture of experts; "gpt-oss" in GGUF, llama.cpp's
LLM_ARCH_OPENAI_MOE): a pre-norm decoder with

- attention with q, k, v and output biases, and a learned sink per head: one more logit in
  each softmax's denominator, with no value (attn_sinks);
- sliding-window attention on every other layer (layer 0, 2, ...: the file's window), full
  attention on the rest (llama.cpp's set_swa_pattern(2)), NeoX rotary embeddings with YaRN
  scaling on every layer;
- a mixture of experts in every layer, after post_attention_norm (which is this block's
  feed-forward norm): a router with a bias picks the num_experts_per_tok largest logits and
  weights those experts by a softmax over the chosen logits alone; each expert is a clamped
  SwiGLU with biases, down(swiglu_oai(gate x + b_g, up x + b_u)) + b_d, where
  swiglu_oai(g, u) = min(g, 7) * sigmoid(1.702 * min(g, 7)) * (clamp(u, -7, 7) + 1).

Hugging Face stores the experts fused and transposed: mlp.experts.gate_up_proj (experts,
hidden, 2 * intermediate) with gate and up interleaved column by column, down_proj (experts,
intermediate, hidden), and their biases; the original release keeps them in MXFP4 blocks and
scales (gate_up_proj_blocks / _scales), which are copied into GGUF MXFP4 bytes without
requantizing, as llama.cpp's converter does.
"""

from __future__ import annotations

import numpy as np

from .base import MOE_SITES, Architecture, ExpertScales, Conversion, LayerTensor, RuntimeSpec, decoder_tensors, expert_tensors
from ..errors import PyggmlError

def tensors(hp) -> dict:
    """decoder_tensors with post_attention_norm as the feed-forward norm, the attention biases
    and sinks, the router's and experts' biases, and output.weight required."""
    spec = decoder_tensors(hp)
    E, NE, Fe, H = hp["n_embd"], hp["n_expert"], hp["n_ff_exp"], hp["n_head"]
    out = spec["output.weight"]
    spec["output.weight"] = (*out[:3], True)  # llama.cpp's gpt-oss has no tied output
    emb, ff = "embedding_length", "expert feed-forward length"
    for i in range(hp["n_layer"]):
        p = f"blk.{i}."
        del spec[p + "ffn_norm.weight"]
        spec[p + "post_attention_norm.weight"] = ((E,), f"({emb})", "vector", True)
        spec[p + "attn_output.bias"] = ((E,), f"({emb})", "vector", True)
        spec[p + "attn_sinks.weight"] = ((H,), "(head_count)", "vector", True)
        spec.update(expert_tensors(hp, p))
        spec[p + "ffn_gate_inp.bias"] = ((NE,), "(expert_count)", "vector", True)
        spec[p + "ffn_gate_exps.bias"] = ((Fe, NE), f"({ff}, expert_count)", "vector", True)
        spec[p + "ffn_up_exps.bias"] = ((Fe, NE), f"({ff}, expert_count)", "vector", True)
        spec[p + "ffn_down_exps.bias"] = ((E, NE), f"({emb}, expert_count)", "vector", True)
    return spec


# --- conversion ------------------------------------------------------------------------------


def _gate(w, hp=None):
    """gate_up_proj (experts, hidden, 2F) -> the gate experts (experts, F, hidden): even columns."""
    return np.ascontiguousarray(w[:, :, 0::2].transpose(0, 2, 1))


def _up(w, hp=None):
    return np.ascontiguousarray(w[:, :, 1::2].transpose(0, 2, 1))


def _transposed(w, hp=None):
    return np.ascontiguousarray(w.transpose(0, 2, 1))


def _even(b, hp=None):
    return np.ascontiguousarray(b[:, 0::2])


def _odd(b, hp=None):
    return np.ascontiguousarray(b[:, 1::2])


LAYER_TENSORS = (
    LayerTensor("input_layernorm.weight", "attn_norm.weight", lambda h: (h.n_embd,)),
    LayerTensor("self_attn.q_proj.weight", "attn_q.weight", lambda h: (h.n_head * h.head_dim, h.n_embd)),
    LayerTensor("self_attn.q_proj.bias", "attn_q.bias", lambda h: (h.n_head * h.head_dim,)),
    LayerTensor("self_attn.k_proj.weight", "attn_k.weight", lambda h: (h.n_head_kv * h.head_dim, h.n_embd)),
    LayerTensor("self_attn.k_proj.bias", "attn_k.bias", lambda h: (h.n_head_kv * h.head_dim,)),
    LayerTensor("self_attn.v_proj.weight", "attn_v.weight", lambda h: (h.n_head_kv * h.head_dim, h.n_embd)),
    LayerTensor("self_attn.v_proj.bias", "attn_v.bias", lambda h: (h.n_head_kv * h.head_dim,)),
    LayerTensor("self_attn.o_proj.weight", "attn_output.weight", lambda h: (h.n_embd, h.n_head * h.head_dim)),
    LayerTensor("self_attn.o_proj.bias", "attn_output.bias", lambda h: (h.n_embd,)),
    LayerTensor("self_attn.sinks", "attn_sinks.weight", lambda h: (h.n_head,)),
    LayerTensor("post_attention_layernorm.weight", "post_attention_norm.weight", lambda h: (h.n_embd,)),
    LayerTensor("mlp.router.weight", "ffn_gate_inp.weight", lambda h: (h.n_expert, h.n_embd)),
    LayerTensor("mlp.router.bias", "ffn_gate_inp.bias", lambda h: (h.n_expert,)),
    # bfloat16 (dequantized) checkpoints: the fused, transposed experts; MXFP4 ones: mxfp4_experts
    LayerTensor("mlp.experts.gate_up_proj", "ffn_gate_exps.weight", lambda h: (h.n_expert, h.n_embd, 2 * h.n_ff_exp),
                _gate, out_shape=lambda h: (h.n_expert, h.n_ff_exp, h.n_embd), mxfp4=True),
    LayerTensor("mlp.experts.gate_up_proj", "ffn_up_exps.weight", lambda h: (h.n_expert, h.n_embd, 2 * h.n_ff_exp),
                _up, out_shape=lambda h: (h.n_expert, h.n_ff_exp, h.n_embd), mxfp4=True),
    LayerTensor("mlp.experts.down_proj", "ffn_down_exps.weight", lambda h: (h.n_expert, h.n_ff_exp, h.n_embd),
                _transposed, out_shape=lambda h: (h.n_expert, h.n_embd, h.n_ff_exp), mxfp4=True),
    LayerTensor("mlp.experts.gate_up_proj_bias", "ffn_gate_exps.bias", lambda h: (h.n_expert, 2 * h.n_ff_exp), _even,
                out_shape=lambda h: (h.n_expert, h.n_ff_exp)),
    LayerTensor("mlp.experts.gate_up_proj_bias", "ffn_up_exps.bias", lambda h: (h.n_expert, 2 * h.n_ff_exp), _odd,
                out_shape=lambda h: (h.n_expert, h.n_ff_exp)),
    LayerTensor("mlp.experts.down_proj_bias", "ffn_down_exps.bias", lambda h: (h.n_expert, h.n_embd)),
)


def hf_mxfp4_to_ggml(blocks: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """Hugging Face MXFP4 (blocks (..., n_blocks, 16) uint8 with element 2j in the low nibble of
    byte j and 2j + 1 in its high nibble; scales (..., n_blocks) E8M0) -> ggml's block_mxfp4
    bytes (..., n_blocks * 17): the scale, then 16 bytes holding element j in the low nibble
    and element j + 16 in the high nibble of byte j."""
    lo, hi = blocks & 0x0F, blocks >> 4
    elems = np.stack([lo, hi], axis=-1).reshape(*blocks.shape[:-1], 32)  # element order
    qs = elems[..., :16] | (elems[..., 16:] << 4)
    out = np.concatenate([scales[..., None], qs.astype(np.uint8)], axis=-1)
    return np.ascontiguousarray(out.reshape(*blocks.shape[:-2], blocks.shape[-2] * 17))


def mxfp4_experts(hf_name: str, gguf_name: str, hp):
    """(HF blocks name, HF scales name, expected blocks shape, (rows, columns) -> GGUF bytes) of an
    expert tensor stored in MXFP4, or None for the tensors that have no MXFP4 form."""
    NE, E, F = hp.n_expert, hp.n_embd, hp.n_ff_exp
    if hf_name == "mlp.experts.gate_up_proj":
        rows, cols = 2 * F, E
        pick = slice(0, None, 2) if gguf_name.startswith("ffn_gate") else slice(1, None, 2)
    elif hf_name == "mlp.experts.down_proj":
        rows, cols, pick = E, F, slice(None)
    else:
        return None
    if cols % 32:
        raise PyggmlError(f"{gguf_name}: MXFP4 rows of {cols} values are not whole 32-value blocks")

    def convert(blocks: np.ndarray, scales: np.ndarray) -> np.ndarray:
        return hf_mxfp4_to_ggml(blocks[:, pick], scales[:, pick])

    return (hf_name + "_blocks", hf_name + "_scales", (NE, rows, cols // 32, 16), (NE, rows, cols // 32), convert)


def write_metadata(w, cfg: dict, hp) -> None:
    """llama.cpp's GptOssModel keys: head size, experts, the sliding window and the expert
    feed-forward length (intermediate_size)."""
    w.add_key_length(hp.head_dim)
    w.add_value_length(hp.head_dim)
    w.add_rope_dimension_count(hp.head_dim)
    w.add_expert_count(hp.n_expert)
    w.add_expert_used_count(hp.n_expert_used)
    w.add_sliding_window(int(cfg.get("sliding_window") or 0))
    w.add_expert_feed_forward_length(hp.n_ff_exp)
    limit = cfg.get("swiglu_limit")
    if limit is not None and float(limit) != 7.0:
        raise PyggmlError(f"gpt-oss: swiglu_limit = {limit}: a gpt-oss GGUF file has no key for it, and llama.cpp "
                          "(and pyggml) clamp at 7")
    types = cfg.get("layer_types")
    if types and any((t == "sliding_attention") != (i % 2 == 0) for i, t in enumerate(types)):
        raise PyggmlError(f"gpt-oss: layer_types {types} are not sliding-window on every other layer from layer 0, "
                          "the only pattern a gpt-oss GGUF file describes")


CONVERSION = Conversion(
    gguf_arch="gpt-oss", hf_classes=("GptOssForCausalLM",), hf_model_types=("gpt_oss",), layer_tensors=LAYER_TENSORS,
    defaults=dict(rms_eps=1e-5, rope_theta=150000.0), write_metadata=write_metadata, mxfp4_experts=mxfp4_experts,
)

ARCH = Architecture(
    "gpt-oss",
    RuntimeSpec(rope_neox=True, activation="swiglu_oai", swa_pattern=2, swa_rope_scaling=True,
                expert_gating="softmax_weight", expert_weights_norm=False),
    CONVERSION, tensors=tensors,
    # the attention output's source, attn_v, has a bias that AWQ's folding would have to scale
    # too, so of the attention's inputs only the q/k/v input is a site
    moe_sites=MOE_SITES[:1],
    # the experts' input comes out of post_attention_norm; their down input does not scale with
    # up (clamp(u, -7, 7) + 1), so the down scales would not fold exactly into ffn_up_exps
    expert_scales=ExpertScales(norm="post_attention_norm", down_folds=False),
    native_names={"post_attention_norm.weight": "ffn_norm.weight"},
)
