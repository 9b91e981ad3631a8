"""Gemma 3 (text): NeoX rotary embeddings, GELU (tanh) gating, embeddings scaled by
sqrt(n_embd), q and k RMSNorms, norms after attention and after the feed-forward part too,
and five sliding-window layers (their own rope base) for every global one. Its Hugging Face
RMSNorm weights, applied as x * (1 + w), are stored as 1 + w."""

from __future__ import annotations

from .base import Architecture, Conversion, LayerTensor, RuntimeSpec, plus_one

LAYER_TENSORS = (
    LayerTensor("input_layernorm.weight", "attn_norm.weight", lambda h: (h.n_embd,), plus_one),
    LayerTensor("self_attn.q_proj.weight", "attn_q.weight", lambda h: (h.n_head * h.head_dim, h.n_embd)),
    LayerTensor("self_attn.k_proj.weight", "attn_k.weight", lambda h: (h.n_head_kv * h.head_dim, h.n_embd)),
    LayerTensor("self_attn.v_proj.weight", "attn_v.weight", lambda h: (h.n_head_kv * h.head_dim, h.n_embd)),
    LayerTensor("self_attn.o_proj.weight", "attn_output.weight", lambda h: (h.n_embd, h.n_head * h.head_dim)),
    LayerTensor("self_attn.q_norm.weight", "attn_q_norm.weight", lambda h: (h.head_dim,), plus_one),
    LayerTensor("self_attn.k_norm.weight", "attn_k_norm.weight", lambda h: (h.head_dim,), plus_one),
    LayerTensor("post_attention_layernorm.weight", "post_attention_norm.weight", lambda h: (h.n_embd,), plus_one),
    LayerTensor("pre_feedforward_layernorm.weight", "ffn_norm.weight", lambda h: (h.n_embd,), plus_one),
    LayerTensor("post_feedforward_layernorm.weight", "post_ffw_norm.weight", lambda h: (h.n_embd,), plus_one),
    LayerTensor("mlp.gate_proj.weight", "ffn_gate.weight", lambda h: (h.n_ff, h.n_embd)),
    LayerTensor("mlp.up_proj.weight", "ffn_up.weight", lambda h: (h.n_ff, h.n_embd)),
    LayerTensor("mlp.down_proj.weight", "ffn_down.weight", lambda h: (h.n_embd, h.n_ff)),
)


def write_metadata(w, cfg: dict, hp) -> None:
    w.add_key_length(hp.head_dim)
    w.add_value_length(hp.head_dim)
    if cfg.get("sliding_window"):
        w.add_sliding_window(int(cfg["sliding_window"]))
    if cfg.get("rope_local_base_freq") is not None:
        w.add_float32("gemma3.rope.freq_base_swa", float(cfg["rope_local_base_freq"]))


CONVERSION = Conversion(
    gguf_arch="gemma3", hf_classes=("Gemma3ForCausalLM", "Gemma3ForConditionalGeneration"),
    hf_model_types=("gemma3_text", "gemma3"), layer_tensors=LAYER_TENSORS, norm_transform=plus_one,
    add_space_prefix=False, defaults=dict(rms_eps=1e-6, rope_theta=1000000.0, tied=True, n_ctx=131072),
    write_metadata=write_metadata,
)

ARCH = Architecture(
    "gemma3",
    RuntimeSpec(rope_neox=True, activation="gelu_tanh", embd_scale_sqrt=True, swa_pattern=6, rope_base_swa=10000.0),
    CONVERSION,
)
